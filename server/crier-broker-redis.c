/* crier-broker-redis.c: offsets, history and presence in Redis; fan-out
 * between nodes over PUB/SUB (see crier-broker.h for the contract).
 *
 * Key functions: redis_publish (one Lua script: offset, epoch, history,
 * TTLs, PUBLISH), on_pubsub_message + deliver_message (decode, gap check,
 * deliver), redis_history (held until the channel's SUBSCRIBE is
 * confirmed), link_start / link_fail / link_ready (one state machine for
 * the three connections), redis_tick (command timeout, probe, presence
 * refresh).
 *
 * Connections (hiredis 0.14 async API, one redis_source_new GSource each,
 * attached to the thread-default main context at construction):
 *  - command: every command, replies in order, at most max_in_flight
 *    waiting.  A command unanswered for command_timeout_ms drops the
 *    connection (a paused or half-open server), so callers never wait
 *    forever;
 *  - pubsub: SUBSCRIBE only (a subscribed hiredis context cannot run
 *    commands, and PING on it never answers: platform-notes section 3);
 *  - watch (only with Sentinel): SUBSCRIBE +switch-master on a sentinel,
 *    so a failover moves both connections at once.
 * Each connects (asking a sentinel for the master first when configured),
 * authenticates, selects the database, checks ROLE is master, then loads
 * the scripts (command) or resubscribes every channel (pubsub).  Failures
 * retry with exponential backoff and jitter.  After a resubscribe every
 * channel is reported to the owner's gap function once the command
 * connection is up, so the hub can close the gap from history.
 *
 * Key layout (P = prefix, default "crier"; C = channel):
 *   P.stream.C         STREAM, one entry per publication, ID "<offset>-0",
 *                      fields d (data), t (time ms), x (expiry ms, 0 =
 *                      never), s (size for the byte limit), i (info, absent
 *                      when none)
 *   P.meta.C           HASH o (top offset), e (epoch), b (bytes in stream);
 *                      TTL = meta TTL (30 days from the hub)
 *   P.presence.C       HASH client -> JSON {"client","user","conn_info",
 *                      "chan_info" (info JSON as strings, byte exact),
 *                      "node","expire_at"}
 *   P.presence-exp.C   ZSET client -> expiry (wall clock ms)
 *   P.ch.C             PUB/SUB channel of C's publications and join/leave
 *   P.node.<node id>   PUB/SUB channel of one node (round-trip probe, node
 *                      messages)
 *   P.broadcast        PUB/SUB channel every node subscribes (node messages
 *                      to all nodes)
 *   P.node-info.<id>   HASH of one node's heartbeat (id, name, address,
 *                      version, uptime, updated_at, connections, sessions,
 *                      channels, pubs); PEXPIRE = the heartbeat TTL
 *   P.nodes            ZSET node id -> expiry (wall clock ms): the registry
 *
 * PUB/SUB message (binary safe: lengths, no escaping):
 *   <kind> <offset> <epoch> <time_ms> <origin> <mono_us> <info_len>\n<info><data>
 * kind is p (publication), j (join) or l (leave); epoch is "-" without
 * history; origin is the publishing broker's node id and mono_us its
 * monotonic clock (the same node uses it for publish -> deliver latency);
 * info_len counts the bytes of the ClientInfo JSON (0 = none) and data is
 * the rest (empty for join/leave).  Probes are "probe <seq>".  Node
 * messages (on P.node.<id> and P.broadcast) are
 *   msg <kind> <origin node id>\n<data>
 *
 * Epochs: 8 random hex digits, chosen by the publisher and used by the
 * script only when the meta hash is absent (first publish, meta TTL ran
 * out, Redis lost its data); the script then also drops any stale stream.
 * Streams are read with the same rules as the memory broker: count, bytes
 * (sum of pub->size) and per-entry expiry, dropped from the oldest end.
 * One difference: after a history TTL is shortened, older entries keep
 * their expiry (the memory broker clamps them), except that the whole
 * stream key expires with its newest entry.
 *
 * Ordering: deliver runs when the PUB/SUB message arrives, so on the
 * publishing node it may come before or after the publish callback.  A
 * history read of a channel whose SUBSCRIBE is not yet confirmed is held
 * until it is (at most command_timeout_ms), so a subscriber that reads
 * history right after subscribing misses nothing: every publication is in
 * the result or delivered, or both (the hub merges by offset).
 *
 * Gaps: the owner's gap function is called (once the command connection
 * works) for every channel resubscribed after the PUB/SUB connection was
 * (re)established, and when a publication arrives whose epoch differs from
 * the last one seen or whose offset is not the last + 1.  The last offset
 * is forgotten on reconnect, so one incident is reported once.
 *
 * Redis Cluster is not supported (a script touches two keys without a
 * common hash tag); use a standalone server or Sentinel.
 */
#include "config.h"

#include "crier-broker.h"

#include "crier-config.h"
#include "crier-util.h"

#include <gio/gio.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/glib.h>
#include <json-glib/json-glib.h>
#include <string.h>

#define DEFAULT_PREFIX             "crier"
#define DEFAULT_CONNECT_TIMEOUT_MS 2000
#define DEFAULT_COMMAND_TIMEOUT_MS 5000
#define DEFAULT_RECONNECT_MIN_MS   100
#define DEFAULT_RECONNECT_MAX_MS   5000
#define DEFAULT_PRESENCE_TTL_MS    60000
#define DEFAULT_PROBE_INTERVAL_MS  2000
#define DEFAULT_PROBE_TIMEOUT_MS   2000
#define DEFAULT_MAX_IN_FLIGHT      10000

/* Channels per SUBSCRIBE command when resubscribing. */
#define SUBSCRIBE_BATCH            512
/* Longest header line of a PUB/SUB message. */
#define WIRE_HEAD_MAX              512

/* ---- Lua ------------------------------------------------------------------ */

/* Shared by the stream scripts: drops entries from the oldest end while
 * there are more than max_len, while their sizes add up to more than
 * max_bytes (0 = no limit) or while the oldest has expired. */
#define LUA_TRIM \
  "local function trim(stream, len, bytes, max_len, max_bytes, now)\n" \
  "  while len > 0 do\n" \
  "    local batch = redis.call('xrange', stream, '-', '+', 'COUNT', 32)\n" \
  "    if #batch == 0 then return 0, 0 end\n" \
  "    for _, e in ipairs(batch) do\n" \
  "      local f, x, s = e[2], 0, 0\n" \
  "      for k = 1, #f, 2 do\n" \
  "        if f[k] == 'x' then x = tonumber(f[k + 1])\n" \
  "        elseif f[k] == 's' then s = tonumber(f[k + 1]) end\n" \
  "      end\n" \
  "      if len > max_len or (max_bytes > 0 and bytes > max_bytes) or (x > 0 and x <= now) then\n" \
  "        redis.call('xdel', stream, e[1])\n" \
  "        len = len - 1\n" \
  "        bytes = bytes - s\n" \
  "      else\n" \
  "        return len, bytes\n" \
  "      end\n" \
  "    end\n" \
  "  end\n" \
  "  return len, bytes\n" \
  "end\n"

/* Shared by the stream scripts: the channel's epoch, after checking that
 * the stream was written by this server process (field r of the meta hash
 * = INFO run_id, ARGV run; "" = unknown, not checked).  A stream written
 * by another process came from a replica promoted by a failover, or from a
 * restart that reloaded a snapshot: the last publications the subscribers
 * saw may be missing here, and this server would hand their offsets out
 * again under the same epoch.  Such a stream gets the new epoch @fresh
 * (its publications and position dropped, as after a data loss), so that
 * every client positioned in it learns it was not recovered.  A meta hash
 * without r (written before r was kept) is adopted.  Returns the epoch and
 * whether it is new; with @create false an absent stream stays absent
 * (epoch false). */
#define LUA_CONTINUITY \
  "local function continuity(stream, meta, run, fresh, create)\n" \
  "  local m = redis.call('hmget', meta, 'e', 'r')\n" \
  "  if m[1] then\n" \
  "    if run == '' or m[2] == run then return m[1], false end\n" \
  "    if not m[2] then redis.call('hset', meta, 'r', run); return m[1], false end\n" \
  "  elseif not create then\n" \
  "    return false, false\n" \
  "  end\n" \
  "  redis.call('del', stream, meta)\n" \
  "  redis.call('hset', meta, 'e', fresh)\n" \
  "  if run ~= '' then redis.call('hset', meta, 'r', run) end\n" \
  "  return fresh, true\n" \
  "end\n"

/* Publish with history.
 * KEYS: stream, meta.
 * ARGV: 1 PUB/SUB channel, 2 history size, 3 history TTL ms (0 = none),
 *       4 max bytes (0 = none), 5 meta TTL ms (0 = none), 6 epoch for a new
 *       stream, 7 time ms (publisher's wall clock, also "now"),
 *       8 pub->size, 9 rest of the message head ("<time> <origin> <mono>
 *       <info_len>"), 10 info ("" = none), 11 data, 12 the server's run_id
 *       ("" = unknown).
 * Returns {offset, epoch}. */
static const char publish_lua[] =
  LUA_TRIM
  LUA_CONTINUITY
  "local stream, meta = KEYS[1], KEYS[2]\n"
  "local max_len, ttl, max_bytes = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])\n"
  "local meta_ttl, now = tonumber(ARGV[5]), tonumber(ARGV[7])\n"
  "local size, info, data = ARGV[8], ARGV[10], ARGV[11]\n"
  "local epoch, fresh = continuity(stream, meta, ARGV[12], ARGV[6], true)\n"
  "local bytes = 0\n"
  "if not fresh and redis.call('exists', stream) == 1 then\n"
  "  bytes = tonumber(redis.call('hget', meta, 'b') or '0')\n"
  "end\n"
  "local offset = redis.call('hincrby', meta, 'o', 1)\n"
  "local expire = 0\n"
  "if ttl > 0 then expire = now + ttl end\n"
  "local entry = {'d', data, 't', ARGV[7], 'x', expire, 's', size}\n"
  "if info ~= '' then entry[9] = 'i'; entry[10] = info end\n"
  "local id = offset .. '-0'\n"
  "local added = redis.pcall('xadd', stream, id, unpack(entry))\n"
  "if type(added) == 'table' and added.err then\n"
  "  redis.call('del', stream)\n"
  "  bytes = 0\n"
  "  redis.call('xadd', stream, id, unpack(entry))\n"
  "end\n"
  "local len\n"
  "len, bytes = trim(stream, redis.call('xlen', stream), bytes + tonumber(size),\n"
  "                  max_len, max_bytes, now)\n"
  "redis.call('hset', meta, 'b', bytes)\n"
  "if ttl > 0 then redis.call('pexpire', stream, ttl) else redis.call('persist', stream) end\n"
  "if meta_ttl > 0 then redis.call('pexpire', meta, meta_ttl) else redis.call('persist', meta) end\n"
  "redis.call('publish', ARGV[1], 'p ' .. offset .. ' ' .. epoch .. ' ' .. ARGV[9] .. '\\n' .. info .. data)\n"
  "return {offset, epoch}\n";

/* History.
 * KEYS: stream, meta.
 * ARGV: 1 limit (-1 all, 0 position only), 2 since offset ("" = none),
 *       3 reverse ("1"/"0"), 4 now (wall clock ms), 5 the server's run_id
 *       ("" = unknown), 6 epoch if the stream must start again (see
 *       continuity), 7 meta TTL ms (0 = none).
 * Returns {top offset, epoch, entries as XRANGE gives them}. */
static const char history_lua[] =
  LUA_TRIM
  LUA_CONTINUITY
  "local stream, meta = KEYS[1], KEYS[2]\n"
  "local limit, reverse, now = tonumber(ARGV[1]), ARGV[3] == '1', tonumber(ARGV[4])\n"
  "local epoch, fresh = continuity(stream, meta, ARGV[5], ARGV[6], false)\n"
  "if not epoch then return {'0', '', {}} end\n"
  "if fresh and tonumber(ARGV[7]) > 0 then redis.call('pexpire', meta, tonumber(ARGV[7])) end\n"
  "local top = redis.call('hget', meta, 'o') or '0'\n"
  "local len = redis.call('xlen', stream)\n"
  "if len > 0 then\n"
  "  local left, bytes = trim(stream, len, tonumber(redis.call('hget', meta, 'b') or '0'),\n"
  "                          len, 0, now)\n"
  "  if left ~= len then redis.call('hset', meta, 'b', bytes) end\n"
  "end\n"
  "if limit == 0 then return {top, epoch, {}} end\n"
  "local count = {}\n"
  "if limit > 0 then count = {'COUNT', limit} end\n"
  "local entries\n"
  "if ARGV[2] == '' then\n"
  "  if reverse then entries = redis.call('xrevrange', stream, '+', '-', unpack(count))\n"
  "  else entries = redis.call('xrange', stream, '-', '+', unpack(count)) end\n"
  "else\n"
  "  local since = tonumber(ARGV[2])\n"
  "  if reverse then\n"
  "    if since <= 1 then return {top, epoch, {}} end\n"
  "    entries = redis.call('xrevrange', stream, (since - 1) .. '-0', '-', unpack(count))\n"
  "  else\n"
  "    entries = redis.call('xrange', stream, (since + 1) .. '-0', '+', unpack(count))\n"
  "  end\n"
  "end\n"
  "return {top, epoch, entries}\n";

/* Remove history: KEYS stream, meta.  The position and epoch stay. */
static const char remove_history_lua[] =
  "if redis.call('exists', KEYS[2]) == 1 then redis.call('hset', KEYS[2], 'b', 0) end\n"
  "redis.call('del', KEYS[1])\n"
  "return 0\n";

/* Presence add or refresh.
 * KEYS: presence hash, expiry zset.
 * ARGV: 1 expiry (wall clock ms), 2 TTL ms, then client, entry pairs. */
static const char presence_add_lua[] =
  "for i = 3, #ARGV, 2 do\n"
  "  redis.call('hset', KEYS[1], ARGV[i], ARGV[i + 1])\n"
  "  redis.call('zadd', KEYS[2], ARGV[1], ARGV[i])\n"
  "end\n"
  "local ttl = tonumber(ARGV[2])\n"
  "for _, k in ipairs(KEYS) do\n"
  "  if redis.call('pttl', k) < ttl then redis.call('pexpire', k, ttl) end\n"
  "end\n"
  "return 0\n";

/* Presence list or stats, dropping expired entries first.
 * KEYS: presence hash, expiry zset.
 * ARGV: 1 now (wall clock ms), 2 "list" or "stats".
 * Returns the entries, or {clients, distinct users}. */
static const char presence_get_lua[] =
  "local expired = redis.call('zrangebyscore', KEYS[2], '-inf', ARGV[1])\n"
  "if #expired > 0 then\n"
  "  redis.call('zremrangebyscore', KEYS[2], '-inf', ARGV[1])\n"
  "  for i = 1, #expired, 1000 do\n"
  "    redis.call('hdel', KEYS[1], unpack(expired, i, math.min(i + 999, #expired)))\n"
  "  end\n"
  "end\n"
  "local values = redis.call('hvals', KEYS[1])\n"
  "if ARGV[2] ~= 'stats' then return values end\n"
  "local users, n = {}, 0\n"
  "for _, v in ipairs(values) do\n"
  "  local ok, e = pcall(cjson.decode, v)\n"
  "  local u = ''\n"
  "  if ok and type(e) == 'table' and type(e.user) == 'string' then u = e.user end\n"
  "  if not users[u] then users[u] = true; n = n + 1 end\n"
  "end\n"
  "return {#values, n}\n";

/* Node heartbeat.
 * KEYS: node info hash, registry zset.
 * ARGV: 1 node id, 2 TTL ms, 3 now (wall clock ms), then field, value
 *       pairs. */
static const char node_heartbeat_lua[] =
  "local ttl, now = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
  "redis.call('del', KEYS[1])\n"
  "redis.call('hset', KEYS[1], unpack(ARGV, 4))\n"
  "redis.call('pexpire', KEYS[1], ttl)\n"
  "redis.call('zadd', KEYS[2], now + ttl, ARGV[1])\n"
  "redis.call('pexpire', KEYS[2], ttl * 10)\n"
  "return 1\n";

/* Node list, dropping expired nodes first.
 * KEYS: registry zset (twice).
 * ARGV: 1 node info key prefix, 2 now (wall clock ms).
 * Returns one HGETALL array per live node. */
static const char node_list_lua[] =
  "redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[2])\n"
  "local out = {}\n"
  "for _, id in ipairs(redis.call('zrange', KEYS[1], 0, -1)) do\n"
  "  local h = redis.call('hgetall', ARGV[1] .. id)\n"
  "  if #h > 0 then out[#out + 1] = h end\n"
  "end\n"
  "return out\n";

typedef enum
{
  SCRIPT_PUBLISH,
  SCRIPT_HISTORY,
  SCRIPT_REMOVE_HISTORY,
  SCRIPT_PRESENCE_ADD,
  SCRIPT_PRESENCE_GET,
  SCRIPT_NODE_HEARTBEAT,
  SCRIPT_NODE_LIST,
  N_SCRIPTS
} ScriptId;

static const char * const script_sources[N_SCRIPTS] = {
  publish_lua, history_lua, remove_history_lua, presence_add_lua, presence_get_lua,
  node_heartbeat_lua, node_list_lua,
};

/* ---- types ---------------------------------------------------------------- */

typedef struct _RedisBroker RedisBroker;

typedef struct
{
  char    *host;             /* TCP, or NULL */
  guint16  port;
  char    *path;             /* Unix socket, or NULL */
} Address;

typedef enum
{
  LINK_COMMAND,
  LINK_PUBSUB,
  LINK_WATCH,                /* sentinel +switch-master */
} LinkRole;

typedef enum
{
  LINK_DOWN,                 /* waiting for the reconnect timer (or stopped) */
  LINK_RESOLVING,            /* asking a sentinel or the DNS for the address */
  LINK_CONNECTING,           /* TCP connect and handshake */
  LINK_SUBSCRIBING,          /* pubsub, watch: SUBSCRIBE sent, not all confirmed */
  LINK_READY,
} LinkState;

typedef enum
{
  ACTION_NONE,
  ACTION_FAIL,               /* drop everything, retry later */
  ACTION_CONNECT,            /* the sentinel answered: connect to link->target */
} LinkAction;

typedef struct
{
  RedisBroker       *self;
  LinkRole           role;
  const char        *name;
  LinkState          state;
  redisAsyncContext *ac;
  GSource           *source;
  redisAsyncContext *sentinel_ac;     /* while asking a sentinel */
  GSource           *sentinel_source;
  guint              sentinel_index;  /* the sentinel to ask next */
  GCancellable      *cancellable;     /* DNS lookup */
  Address            target;          /* where this attempt connects */
  GSource           *deadline;        /* connect + handshake */
  GSource           *retry;           /* backoff timer */
  GSource           *idle;            /* runs @action outside hiredis callbacks */
  LinkAction         action;
  char              *fail_reason;
  guint              handshake_pending;
  guint              attempts;        /* failures since the last READY */
  char              *server;          /* "host:port" or path of the last connect */
} Link;

typedef enum
{
  REQ_HANDSHAKE,
  REQ_PUBLISH,
  REQ_HISTORY,
  REQ_PRESENCE,
  REQ_PRESENCE_STATS,
  REQ_NODES,
  REQ_FIRE,                  /* no answer wanted: events, presence, remove */
  REQ_PROBE,
} RequestKind;

typedef enum
{
  STEP_AUTH,
  STEP_SELECT,
  STEP_ROLE,
  STEP_INFO,                 /* command: the server's run_id */
  STEP_SCRIPT_LOAD,
} HandshakeStep;

typedef struct
{
  RedisBroker       *self;
  Link              *link;           /* handshakes on pubsub and watch */
  RequestKind        kind;
  HandshakeStep      step;
  ScriptId           script;
  gboolean           is_script;      /* EVALSHA: retried once after NOSCRIPT */
  gboolean           retried;
  char              *cmd;            /* formatted command (kept for the retry) */
  gsize              cmd_len;
  gint64             sent_us;
  gint64             queued_us;      /* history held for a SUBSCRIBE */
  CrierPublication  *pub;
  char              *channel;
  gpointer           func;
  gpointer           user_data;
  guint64            probe_seq;
} Request;

typedef struct
{
  char     *name;
  guint     refs;            /* subscribe calls minus unsubscribe calls */
  guint     pending;         /* SUBSCRIBE replies outstanding */
  gboolean  confirmed;
  gboolean  in_batch;        /* part of the (re)connect SUBSCRIBE batch */
  guint64   last_offset;     /* last publication received; 0 = unknown */
  char     *last_epoch;
  GQueue    waiting;         /* history Requests held until confirmed */
} ChannelSub;

struct _RedisBroker
{
  CrierBroker      parent;

  GMainContext    *context;
  Address          address;
  Address         *sentinels;
  guint            n_sentinels;
  char            *master_name;
  char            *user;
  char            *password;
  char            *sentinel_password;
  gint             db;
  char            *prefix;
  char            *node_name;
  gint64           connect_timeout_ms;
  gint64           command_timeout_ms;
  gint64           reconnect_min_ms;
  gint64           reconnect_max_ms;
  gint64           presence_ttl_ms;
  gint64           probe_interval_ms;
  gint64           probe_timeout_ms;
  guint            max_in_flight;

  char            *node_id;
  char            *node_channel;     /* P.node.<id> */
  char            *broadcast_channel; /* P.broadcast */
  char            *channel_prefix;   /* "P.ch." */
  gsize            channel_prefix_len;
  char            *script_sha[N_SCRIPTS];
  /* INFO run_id of the server the command connection uses ("" when INFO
   * is not allowed), and of the one it used before (NULL before the first
   * connect).  Scripts get it to detect a stream another server process
   * wrote (failover, restart): see LUA_CONTINUITY. */
  char            *run_id;
  char            *last_run_id;
  gboolean         info_warned;

  Link             command;
  Link             pubsub;
  Link             watch;

  GQueue           in_flight;        /* Request*, in send order = reply order */
  GHashTable      *subs;             /* channel -> ChannelSub* */
  guint            batch_pending;    /* confirmations of the resubscribe batch */
  guint            n_held;           /* history requests held in subs */
  gboolean         node_confirmed;
  gboolean         broadcast_confirmed;
  GHashTable      *pending_gaps;     /* channels to report once commands work */
  GHashTable      *presence;         /* channel -> (client -> CrierPresenceEntry*), ours */
  gint64           presence_refreshed_us;
  gboolean         presence_dirty;

  guint64          probe_seq;
  gboolean         probe_outstanding;
  gboolean         probe_acked;      /* its PUBLISH was answered */
  gboolean         probe_counted;    /* already counted as a failure */
  gboolean         probe_failed;     /* the last probe timed out */
  gint64           probe_sent_us;
  gint64           probe_last_us;
  gint64           rtt_us;

  GPtrArray       *graveyard;        /* GSource* of freed contexts */
  GSource         *reaper;

  CrierRedisStats  stats;
  gboolean         freeing;
};

static const CrierBrokerVTable redis_vtable;

static void link_start            (Link        *link);
static void link_fail             (Link        *link,
                                   const char  *reason);
static void link_ready            (Link        *link);
static void on_pubsub_message     (redisAsyncContext *ac,
                                   void        *r,
                                   void        *privdata);
static void on_watch_message      (redisAsyncContext *ac,
                                   void        *r,
                                   void        *privdata);
static void history_send          (RedisBroker *self,
                                   Request     *req);
static void presence_refresh      (RedisBroker *self);
static void sentinel_ask          (Link        *link);
static void link_schedule         (Link        *link);
static void link_connect_target   (Link        *link);
static void gaps_flush            (RedisBroker *self);
static gboolean on_deadline       (gpointer     data);

/* ---- small helpers -------------------------------------------------------- */

static void
address_clear (Address *address)
{
  g_clear_pointer (&address->host, g_free);
  g_clear_pointer (&address->path, g_free);
  address->port = 0;
}

static void
address_copy (Address       *dest,
              const Address *src)
{
  address_clear (dest);
  dest->host = g_strdup (src->host);
  dest->path = g_strdup (src->path);
  dest->port = src->port;
}

static char *
address_to_string (const Address *address)
{
  if (address->path != NULL)
    return g_strdup (address->path);
  g_assert (address->host != NULL);
  if (strchr (address->host, ':') != NULL)
    return g_strdup_printf ("[%s]:%u", address->host, address->port);
  return g_strdup_printf ("%s:%u", address->host, address->port);
}

static gboolean
parse_address (const char  *text,
               gboolean     allow_unix,
               Address     *out,
               GError     **error)
{
  g_autofree char *host = NULL;
  g_autoptr(GError) local = NULL;
  guint16 port = 0;

  if (g_str_has_prefix (text, "rediss://"))
    {
      g_set_error (error, CRIER_BROKER_ERROR, CRIER_BROKER_ERROR_FAILED,
                   "'%s': TLS to Redis is not supported (hiredis 0.14 has no TLS); "
                   "use a Unix socket or a local TLS tunnel such as stunnel", text);
      return FALSE;
    }
  if (strstr (text, "://") != NULL)
    {
      g_set_error (error, CRIER_BROKER_ERROR, CRIER_BROKER_ERROR_FAILED,
                   "'%s': give the Redis address as host:port or unix:/path, not as a URL",
                   text);
      return FALSE;
    }

  if (allow_unix && (g_str_has_prefix (text, "unix:") || text[0] == '/'))
    {
      const char *path = g_str_has_prefix (text, "unix:") ? text + 5 : text;

      if (path[0] != '/')
        {
          g_set_error (error, CRIER_BROKER_ERROR, CRIER_BROKER_ERROR_FAILED,
                       "'%s': the Unix socket path must be absolute", text);
          return FALSE;
        }
      address_clear (out);
      out->path = g_strdup (path);
      return TRUE;
    }

  if (!crier_config_parse_address (text, &host, &port, &local))
    {
      g_set_error (error, CRIER_BROKER_ERROR, CRIER_BROKER_ERROR_FAILED,
                   "Redis address: %s", local->message);
      return FALSE;
    }
  if (port == 0)
    {
      g_set_error (error, CRIER_BROKER_ERROR, CRIER_BROKER_ERROR_FAILED,
                   "'%s': the Redis port cannot be 0", text);
      return FALSE;
    }

  address_clear (out);
  out->host = g_steal_pointer (&host);
  out->port = port;
  return TRUE;
}

static gint64
now_ms (void)
{
  return g_get_real_time () / 1000;
}

static GSource *
attach_source (RedisBroker *self,
               GSource     *source,
               GSourceFunc  func,
               gpointer     data)
{
  g_source_set_callback (source, func, data, NULL);
  g_source_attach (source, self->context);
  return source;
}

static void
clear_source (GSource **source)
{
  if (*source == NULL)
    return;
  g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}

static char *
stream_key (RedisBroker *self,
            const char  *kind,
            const char  *channel)
{
  return g_strconcat (self->prefix, ".", kind, ".", channel, NULL);
}

static char *
pubsub_channel (RedisBroker *self,
                const char  *channel)
{
  return g_strconcat (self->channel_prefix, channel, NULL);
}

static const char *
reply_error (const redisReply *reply)
{
  if (reply == NULL)
    return "connection lost";
  if (reply->type == REDIS_REPLY_ERROR)
    return reply->str;
  return NULL;
}

static gboolean
reply_is_string (const redisReply *reply)
{
  return reply != NULL &&
         (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS);
}

static gboolean
parse_uint64 (const char *text,
              gsize       len,
              guint64    *out)
{
  char buf[24];

  if (len == 0 || len >= sizeof buf)
    return FALSE;
  memcpy (buf, text, len);
  buf[len] = '\0';
  return g_ascii_string_to_unsigned (buf, 10, 0, G_MAXUINT64, out, NULL);
}

static gboolean
parse_int64 (const char *text,
             gsize       len,
             gint64     *out)
{
  char buf[24];

  if (len == 0 || len >= sizeof buf)
    return FALSE;
  memcpy (buf, text, len);
  buf[len] = '\0';
  return g_ascii_string_to_signed (buf, 10, G_MININT64, G_MAXINT64, out, NULL);
}

static gboolean
has_line_break (const char *data,
                gsize       len)
{
  return memchr (data, '\n', len) != NULL || memchr (data, '\r', len) != NULL;
}

/* ---- hiredis contexts and their GSources ---------------------------------- */

/* Sources of contexts that hiredis has freed (or is about to free) are
 * destroyed from an idle, outside the source's own dispatch. */
static gboolean
reap_sources (gpointer data)
{
  RedisBroker *self = data;

  g_ptr_array_set_size (self->graveyard, 0);
  g_clear_pointer (&self->reaper, g_source_unref);
  return G_SOURCE_REMOVE;
}

static void
destroy_source (gpointer data)
{
  GSource *source = data;

  g_source_destroy (source);
  g_source_unref (source);
}

/* @source's context is gone or going: make sure the adapter's dispatch
 * does not touch it again (it would read after a write error), and destroy
 * the source later. */
static void
retire_source (RedisBroker *self,
               GSource     *source)
{
  RedisSource *rs = (RedisSource *) source;

  rs->poll_fd.revents = 0;
  g_ptr_array_add (self->graveyard, source);
  if (self->reaper == NULL && !self->freeing)
    self->reaper = attach_source (self, g_idle_source_new (), reap_sources, self);
}

static void
on_connect (const redisAsyncContext *ac,
            int                      status);
static void
on_disconnect (const redisAsyncContext *ac,
               int                      status);

static redisAsyncContext *
context_open (Link          *link,
              const Address *address,
              GSource      **source_out,
              GError       **error)
{
  redisAsyncContext *ac;
  GSource *source;

  if (address->path != NULL)
    ac = redisAsyncConnectUnix (address->path);
  else
    ac = redisAsyncConnect (address->host, address->port);

  if (ac == NULL)
    {
      g_set_error_literal (error, CRIER_BROKER_ERROR, CRIER_BROKER_ERROR_UNAVAILABLE,
                           "out of memory");
      return NULL;
    }
  if (ac->err != 0)
    {
      g_set_error_literal (error, CRIER_BROKER_ERROR, CRIER_BROKER_ERROR_UNAVAILABLE,
                           ac->errstr);
      redisAsyncFree (ac);
      return NULL;
    }

  ac->data = link;
  source = redis_source_new (ac);
  g_source_attach (source, link->self->context);
  redisAsyncSetConnectCallback (ac, on_connect);
  redisAsyncSetDisconnectCallback (ac, on_disconnect);
  *source_out = source;
  return ac;
}

/* Never called from inside a callback of @ac: the context is freed at
 * once (pending reply callbacks run now with NULL), then its source. */
static void
context_close (RedisBroker        *self,
               redisAsyncContext **acp,
               GSource           **sourcep)
{
  redisAsyncContext *ac = g_steal_pointer (acp);
  GSource *source = g_steal_pointer (sourcep);

  if (ac != NULL)
    {
      g_assert ((ac->c.flags & REDIS_IN_CALLBACK) == 0);
      ac->data = NULL;   /* on_disconnect: nothing to do */
      redisAsyncFree (ac);
    }
  if (source != NULL)
    retire_source (self, source);
}

/* ---- requests on the command connection ----------------------------------- */

static Request *
request_new (RedisBroker *self,
             RequestKind  kind)
{
  Request *req = g_new0 (Request, 1);

  req->self = self;
  req->kind = kind;
  return req;
}

static void
request_free (Request *req)
{
  if (req->cmd != NULL)
    redisFreeCommand (req->cmd);
  g_clear_pointer (&req->pub, crier_publication_unref);
  g_free (req->channel);
  g_free (req);
}

static void
request_set_argv (Request     *req,
                  int          argc,
                  const char **argv,
                  const gsize *lens)
{
  char *cmd = NULL;
  int len = redisFormatCommandArgv (&cmd, argc, argv, lens);

  g_assert (len > 0);
  req->cmd = cmd;
  req->cmd_len = len;
}

/* Answers @req's caller with @error and frees it. */
static void
request_fail (Request      *req,
              const GError *error)
{
  switch (req->kind)
    {
    case REQ_PUBLISH:
      if (req->func != NULL)
        ((CrierBrokerPublishFunc) req->func) (NULL, error, req->user_data);
      break;
    case REQ_HISTORY:
      ((CrierBrokerHistoryFunc) req->func) (NULL, error, req->user_data);
      break;
    case REQ_PRESENCE:
      ((CrierBrokerPresenceFunc) req->func) (NULL, error, req->user_data);
      break;
    case REQ_PRESENCE_STATS:
      ((CrierBrokerStatsFunc) req->func) (0, 0, error, req->user_data);
      break;
    case REQ_NODES:
      ((CrierBrokerNodesFunc) req->func) (NULL, error, req->user_data);
      break;
    case REQ_HANDSHAKE:
    case REQ_FIRE:
    case REQ_PROBE:
      break;
    }
  request_free (req);
}

static void
request_fail_literal (Request     *req,
                      int          code,
                      const char  *message)
{
  g_autoptr(GError) error = g_error_new_literal (CRIER_BROKER_ERROR, code, message);

  request_fail (req, error);
}

static gboolean
link_usable (const Link *link)
{
  return link->state == LINK_READY && link->ac != NULL &&
         (link->ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)) == 0;
}

static void on_command_reply (redisAsyncContext *ac,
                              void              *r,
                              void              *privdata);

/* Queues @req on the command connection; FALSE (req still the caller's)
 * when it cannot be sent. */
static gboolean
command_send_raw (RedisBroker *self,
                  Request     *req)
{
  redisAsyncContext *ac = self->command.ac;

  if (ac == NULL || (ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)) != 0)
    return FALSE;
  if (redisAsyncFormattedCommand (ac, on_command_reply, req, req->cmd, req->cmd_len) != REDIS_OK)
    return FALSE;

  req->sent_us = g_get_monotonic_time ();
  g_queue_push_tail (&self->in_flight, req);
  if (!req->is_script)
    g_clear_pointer (&req->cmd, redisFreeCommand);
  return TRUE;
}

/* Why a command cannot be sent now, or NULL. */
static const char *
command_refusal (RedisBroker *self)
{
  if (self->freeing)
    return "the Redis broker is shutting down";
  if (!link_usable (&self->command))
    return "Redis is not connected";
  if (self->in_flight.length >= self->max_in_flight)
    return "too many Redis commands in flight";
  return NULL;
}

/* Sends a request whose caller waits for an answer: on refusal the caller
 * is answered at once with UNAVAILABLE. */
static void
command_send (RedisBroker *self,
              Request     *req)
{
  const char *refusal = command_refusal (self);

  if (refusal == NULL && command_send_raw (self, req))
    return;

  self->stats.rejected++;
  request_fail_literal (req, CRIER_BROKER_ERROR_UNAVAILABLE,
                        refusal != NULL ? refusal : "Redis is not connected");
}

/* Fire and forget: dropped (and counted) when it cannot be sent. */
static void
command_fire (RedisBroker *self,
              Request     *req)
{
  if (command_refusal (self) == NULL && command_send_raw (self, req))
    return;

  self->stats.dropped++;
  request_free (req);
}

static Request *
script_request (RedisBroker  *self,
                RequestKind   kind,
                ScriptId      script,
                GPtrArray    *args,
                GArray       *lens)
{
  Request *req = request_new (self, kind);

  req->is_script = TRUE;
  req->script = script;
  request_set_argv (req, args->len, (const char **) args->pdata, (const gsize *) lens->data);
  return req;
}

/* Argument vectors for scripts: EVALSHA sha 2 key1 key2 args... */
typedef struct
{
  GPtrArray *args;     /* const char*, borrowed or in @owned */
  GArray    *lens;
  GPtrArray *owned;
} Argv;

static void
argv_init (Argv        *argv,
           RedisBroker *self,
           ScriptId     script,
           char        *key1,
           char        *key2)
{
  argv->args = g_ptr_array_new ();
  argv->lens = g_array_new (FALSE, FALSE, sizeof (gsize));
  argv->owned = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (argv->owned, key1);
  g_ptr_array_add (argv->owned, key2);

#define PUSH(s) G_STMT_START { const char *_s = (s); gsize _l = strlen (_s); \
    g_ptr_array_add (argv->args, (gpointer) _s); g_array_append_val (argv->lens, _l); } G_STMT_END
  PUSH ("EVALSHA");
  PUSH (self->script_sha[script]);
  PUSH ("2");
  PUSH (key1);
  PUSH (key2);
#undef PUSH
}

static void
argv_add_len (Argv       *argv,
              const char *s,
              gsize       len)
{
  g_ptr_array_add (argv->args, (gpointer) s);
  g_array_append_val (argv->lens, len);
}

static void
argv_add (Argv       *argv,
          const char *s)
{
  argv_add_len (argv, s, strlen (s));
}

static void
argv_take (Argv *argv,
           char *s)
{
  g_ptr_array_add (argv->owned, s);
  argv_add (argv, s);
}

static void
argv_clear (Argv *argv)
{
  g_ptr_array_unref (argv->args);
  g_array_unref (argv->lens);
  g_ptr_array_unref (argv->owned);
}

static Request *
argv_request (RedisBroker *self,
              RequestKind  kind,
              ScriptId     script,
              Argv        *argv)
{
  Request *req = script_request (self, kind, script, argv->args, argv->lens);

  argv_clear (argv);
  return req;
}

static Request *
plain_request (RedisBroker *self,
               RequestKind  kind,
               int          argc,
               const char **args,
               const gsize *lens)
{
  Request *req = request_new (self, kind);
  gsize computed[8];

  g_assert (argc <= (int) G_N_ELEMENTS (computed));
  if (lens == NULL)
    {
      for (int i = 0; i < argc; i++)
        computed[i] = strlen (args[i]);
      lens = computed;
    }
  request_set_argv (req, argc, args, lens);
  return req;
}

/* ---- wire format ---------------------------------------------------------- */

static char
kind_char (CrierPushKind kind)
{
  switch (kind)
    {
    case CRIER_PUSH_JOIN:
      return 'j';
    case CRIER_PUSH_LEAVE:
      return 'l';
    case CRIER_PUSH_PUBLICATION:
    default:
      return 'p';
    }
}

/* "<time> <origin> <mono> <info_len>": the part of the head after the
 * epoch, also given to the publish script. */
static char *
wire_head_tail (RedisBroker      *self,
                CrierPublication *pub)
{
  return g_strdup_printf ("%" G_GINT64_FORMAT " %s %" G_GINT64_FORMAT " %" G_GSIZE_FORMAT,
                          pub->time_ms, self->node_id, pub->mono_us,
                          pub->info != NULL ? strlen (pub->info) : (gsize) 0);
}

static GString *
wire_encode (RedisBroker      *self,
             CrierPublication *pub)
{
  g_autofree char *tail = wire_head_tail (self, pub);
  GString *msg = g_string_new (NULL);

  g_string_append_printf (msg, "%c %" G_GUINT64_FORMAT " %s %s\n",
                          kind_char (pub->kind), pub->offset,
                          pub->epoch != NULL ? pub->epoch : "-", tail);
  if (pub->info != NULL)
    g_string_append (msg, pub->info);
  if (pub->data != NULL)
    {
      gsize len;
      const char *data = g_bytes_get_data (pub->data, &len);

      g_string_append_len (msg, data, len);
    }
  return msg;
}

/* Splits the head line into its 7 fields; FALSE if malformed. */
static gboolean
wire_split (const char *head,
            gsize       len,
            const char *field[7],
            gsize       field_len[7])
{
  const char *p = head;
  const char *end = head + len;

  for (guint i = 0; i < 7; i++)
    {
      const char *sp = memchr (p, ' ', end - p);
      const char *stop = (i == 6) ? end : sp;

      if (stop == NULL || stop == p || (i == 6 && sp != NULL))
        return FALSE;
      field[i] = p;
      field_len[i] = stop - p;
      p = stop + 1;
    }
  return TRUE;
}

static CrierPublication *
wire_decode (RedisBroker *self,
             const char  *channel,
             const char  *msg,
             gsize        len)
{
  const char *nl = memchr (msg, '\n', MIN (len, WIRE_HEAD_MAX));
  const char *field[7];
  gsize field_len[7];
  const char *body;
  gsize body_len;
  guint64 offset;
  gint64 time_ms;
  gint64 mono_us;
  guint64 info_len;
  CrierPushKind kind;
  g_autofree char *info = NULL;
  CrierPublication *pub;

  if (nl == NULL || !wire_split (msg, nl - msg, field, field_len) || field_len[0] != 1)
    return NULL;

  switch (field[0][0])
    {
    case 'p':
      kind = CRIER_PUSH_PUBLICATION;
      break;
    case 'j':
      kind = CRIER_PUSH_JOIN;
      break;
    case 'l':
      kind = CRIER_PUSH_LEAVE;
      break;
    default:
      return NULL;
    }

  body = nl + 1;
  body_len = len - (body - msg);
  if (!parse_uint64 (field[1], field_len[1], &offset) ||
      !parse_int64 (field[3], field_len[3], &time_ms) ||
      !parse_int64 (field[5], field_len[5], &mono_us) ||
      !parse_uint64 (field[6], field_len[6], &info_len) ||
      info_len > body_len)
    return NULL;

  if (info_len > 0)
    info = g_strndup (body, info_len);

  if (kind == CRIER_PUSH_PUBLICATION)
    {
      g_autoptr(GBytes) data = NULL;
      const char *d = body + info_len;
      gsize d_len = body_len - info_len;

      /* crier_publication_new refuses line breaks: never trust the wire. */
      if (d_len == 0 || has_line_break (d, d_len))
        return NULL;
      data = g_bytes_new (d, d_len);
      pub = crier_publication_new (channel, data, info);
    }
  else
    pub = crier_publication_new_event (kind, channel, info);

  pub->offset = offset;
  if (!(field_len[2] == 1 && field[2][0] == '-'))
    pub->epoch = g_strndup (field[2], field_len[2]);
  pub->time_ms = time_ms;
  /* The same node's monotonic clock: publish -> deliver latency. */
  if (field_len[4] == strlen (self->node_id) &&
      memcmp (field[4], self->node_id, field_len[4]) == 0)
    pub->mono_us = mono_us;
  return pub;
}

/* ---- channel subscriptions ------------------------------------------------ */

static void
channel_sub_free (gpointer data)
{
  ChannelSub *sub = data;

  g_assert (g_queue_is_empty (&sub->waiting));
  g_free (sub->name);
  g_free (sub->last_epoch);
  g_free (sub);
}

/* Sends the history requests held for @sub's confirmation (or fails them
 * when commands cannot run). */
static void
channel_sub_release (RedisBroker *self,
                     ChannelSub  *sub)
{
  GQueue waiting = sub->waiting;

  self->n_held -= waiting.length;
  g_queue_init (&sub->waiting);
  while (!g_queue_is_empty (&waiting))
    history_send (self, g_queue_pop_head (&waiting));
}

static gboolean
pubsub_can_send (RedisBroker *self)
{
  Link *link = &self->pubsub;

  return (link->state == LINK_SUBSCRIBING || link->state == LINK_READY) &&
         link->ac != NULL &&
         (link->ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)) == 0;
}

static gboolean
pubsub_command (RedisBroker  *self,
                const char   *verb,
                const char  **names,
                guint         n)
{
  g_autofree const char **argv = g_new (const char *, n + 1);
  g_autofree size_t *lens = g_new (size_t, n + 1);

  argv[0] = verb;
  lens[0] = strlen (verb);
  for (guint i = 0; i < n; i++)
    {
      argv[i + 1] = names[i];
      lens[i + 1] = strlen (names[i]);
    }
  return redisAsyncCommandArgv (self->pubsub.ac,
                                g_str_equal (verb, "SUBSCRIBE") ? on_pubsub_message : NULL,
                                self, n + 1, argv, lens) == REDIS_OK;
}

static void
channel_sub_send (RedisBroker *self,
                  ChannelSub  *sub,
                  const char  *verb)
{
  g_autofree char *name = pubsub_channel (self, sub->name);
  const char *names[1] = { name };

  if (!pubsub_command (self, verb, names, 1))
    {
      link_fail (&self->pubsub, "cannot send SUBSCRIBE");
      return;
    }
  if (g_str_equal (verb, "SUBSCRIBE"))
    sub->pending++;
}

static void
redis_subscribe (CrierBroker *broker,
                 const char  *channel)
{
  RedisBroker *self = (RedisBroker *) broker;
  ChannelSub *sub;

  g_return_if_fail (channel != NULL);

  sub = g_hash_table_lookup (self->subs, channel);
  if (sub == NULL)
    {
      sub = g_new0 (ChannelSub, 1);
      sub->name = g_strdup (channel);
      g_queue_init (&sub->waiting);
      g_hash_table_insert (self->subs, sub->name, sub);
    }

  if (sub->refs++ > 0)
    return;

  sub->confirmed = FALSE;
  g_clear_pointer (&sub->last_epoch, g_free);
  sub->last_offset = 0;
  if (pubsub_can_send (self))
    channel_sub_send (self, sub, "SUBSCRIBE");
}

static void
redis_unsubscribe (CrierBroker *broker,
                   const char  *channel)
{
  RedisBroker *self = (RedisBroker *) broker;
  ChannelSub *sub;

  g_return_if_fail (channel != NULL);

  sub = g_hash_table_lookup (self->subs, channel);
  if (sub == NULL || sub->refs == 0)
    return;
  if (--sub->refs > 0)
    return;

  sub->confirmed = FALSE;
  g_hash_table_remove (self->pending_gaps, channel);
  channel_sub_release (self, sub);
  /* The entry stays until Redis confirms, so that the replies of a quick
   * unsubscribe + subscribe are counted right. */
  if (pubsub_can_send (self))
    channel_sub_send (self, sub, "UNSUBSCRIBE");
  else if (sub->pending == 0)
    g_hash_table_remove (self->subs, channel);
}

/* The pubsub connection is gone: nothing is subscribed any more. */
static void
subs_reset (RedisBroker *self)
{
  GHashTableIter iter;
  gpointer value;
  g_autoptr(GPtrArray) release = g_ptr_array_new ();

  self->batch_pending = 0;
  self->node_confirmed = FALSE;
  self->broadcast_confirmed = FALSE;
  g_hash_table_iter_init (&iter, self->subs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      ChannelSub *sub = value;

      sub->pending = 0;
      sub->confirmed = FALSE;
      sub->in_batch = FALSE;
      sub->last_offset = 0;
      g_clear_pointer (&sub->last_epoch, g_free);
      if (sub->refs == 0)
        g_hash_table_iter_remove (&iter);
      else if (!g_queue_is_empty (&sub->waiting))
        g_ptr_array_add (release, sub->name);
    }

  /* Held histories run now: the gap report follows the resubscribe. */
  for (guint i = 0; i < release->len; i++)
    {
      ChannelSub *sub = g_hash_table_lookup (self->subs, g_ptr_array_index (release, i));

      if (sub != NULL)
        channel_sub_release (self, sub);
    }
}

static void
gap_note (RedisBroker *self,
          const char  *channel)
{
  g_hash_table_add (self->pending_gaps, g_strdup (channel));
}

/* Reports the noted gaps once the command connection works, so that the
 * owner can read history right away. */
static void
gaps_flush (RedisBroker *self)
{
  g_autoptr(GHashTable) gaps = NULL;
  GHashTableIter iter;
  gpointer key;

  if (g_hash_table_size (self->pending_gaps) == 0 || !link_usable (&self->command) ||
      self->freeing)
    return;

  gaps = g_steal_pointer (&self->pending_gaps);
  self->pending_gaps = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  g_hash_table_iter_init (&iter, gaps);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      ChannelSub *sub = g_hash_table_lookup (self->subs, key);

      if (sub == NULL || sub->refs == 0)
        continue;
      self->stats.gaps++;
      if (self->parent.gap != NULL)
        self->parent.gap (&self->parent, key, self->parent.gap_data);
    }
}

static void
deliver_message (RedisBroker *self,
                 const char  *channel,
                 const char  *msg,
                 gsize        len)
{
  ChannelSub *sub = g_hash_table_lookup (self->subs, channel);
  CrierPublication *pub;
  gboolean gap = FALSE;

  if (sub == NULL || sub->refs == 0)
    return;

  pub = wire_decode (self, channel, msg, len);
  if (pub == NULL)
    {
      g_warning ("redis broker: malformed message on channel %s dropped", channel);
      return;
    }

  if (pub->kind == CRIER_PUSH_PUBLICATION && pub->offset > 0)
    {
      if (sub->last_epoch != NULL &&
          (g_strcmp0 (sub->last_epoch, pub->epoch) != 0 || pub->offset != sub->last_offset + 1))
        gap = TRUE;
      sub->last_offset = pub->offset;
      g_free (sub->last_epoch);
      sub->last_epoch = g_strdup (pub->epoch);
    }

  /* Nothing below touches @sub: the callbacks may unsubscribe. */
  if (gap)
    {
      g_debug ("redis broker: gap on %s before offset %" G_GUINT64_FORMAT,
               channel, pub->offset);
      gap_note (self, channel);
      gaps_flush (self);
    }

  sub = g_hash_table_lookup (self->subs, channel);
  if (sub != NULL && sub->refs > 0 && self->parent.deliver != NULL)
    self->parent.deliver (pub, self->parent.deliver_data);
  crier_publication_unref (pub);
}

/* The outstanding probe cannot come back (its connection is gone): the
 * round trip was at least as long as it waited. */
static void
probe_abandon (RedisBroker *self)
{
  if (!self->probe_outstanding)
    return;
  self->rtt_us = MAX (self->rtt_us, g_get_monotonic_time () - self->probe_sent_us);
  self->probe_outstanding = FALSE;
}

static void
probe_arrived (RedisBroker *self,
               const char  *msg,
               gsize        len)
{
  guint64 seq;

  if (len < 7 || memcmp (msg, "probe ", 6) != 0 ||
      !parse_uint64 (msg + 6, len - 6, &seq))
    return;
  if (!self->probe_outstanding || seq != self->probe_seq)
    return;

  self->rtt_us = g_get_monotonic_time () - self->probe_sent_us;
  self->probe_outstanding = FALSE;
  self->probe_failed = FALSE;
  self->stats.probes++;
}

static void
subscribe_confirmed (RedisBroker *self,
                     const char  *name)
{
  ChannelSub *sub;

  if (g_str_equal (name, self->node_channel))
    {
      if (!self->node_confirmed && self->batch_pending > 0)
        self->batch_pending--;
      self->node_confirmed = TRUE;
    }
  else if (g_str_equal (name, self->broadcast_channel))
    {
      if (!self->broadcast_confirmed && self->batch_pending > 0)
        self->batch_pending--;
      self->broadcast_confirmed = TRUE;
    }
  else if (g_str_has_prefix (name, self->channel_prefix) &&
           (sub = g_hash_table_lookup (self->subs, name + self->channel_prefix_len)) != NULL)
    {
      if (sub->pending > 0)
        sub->pending--;
      if (sub->in_batch)
        {
          sub->in_batch = FALSE;
          if (self->batch_pending > 0)
            self->batch_pending--;
          /* Whatever was published while we were not subscribed. */
          if (sub->refs > 0)
            gap_note (self, sub->name);
        }
      if (sub->pending == 0 && sub->refs > 0 && !sub->confirmed)
        {
          sub->confirmed = TRUE;
          channel_sub_release (self, sub);
        }
    }

  if (self->pubsub.state == LINK_SUBSCRIBING && self->batch_pending == 0 && self->node_confirmed &&
      self->broadcast_confirmed)
    link_ready (&self->pubsub);
  gaps_flush (self);
}

static void
unsubscribe_confirmed (RedisBroker *self,
                       const char  *name)
{
  ChannelSub *sub;

  if (!g_str_has_prefix (name, self->channel_prefix))
    return;
  sub = g_hash_table_lookup (self->subs, name + self->channel_prefix_len);
  if (sub != NULL && sub->refs == 0 && sub->pending == 0)
    g_hash_table_remove (self->subs, sub->name);
}

/* "msg <kind> <origin>\n<data>" on our node channel or the broadcast
 * channel; our own broadcasts come back too and are dropped. */
static void
node_message_arrived (RedisBroker *self,
                      const char  *msg,
                      gsize        len)
{
  const char *nl = memchr (msg, '\n', MIN (len, WIRE_HEAD_MAX));
  g_autofree char *head = NULL;
  g_auto(GStrv) words = NULL;

  if (nl == NULL)
    return;
  head = g_strndup (msg, nl - msg);
  words = g_strsplit (head, " ", 4);
  if (g_strv_length (words) != 3 || words[1][0] == '\0' || words[2][0] == '\0')
    {
      g_warning ("redis broker: malformed node message dropped");
      return;
    }
  if (g_str_equal (words[2], self->node_id))
    return;
  if (self->parent.node_message != NULL)
    self->parent.node_message (&self->parent, words[2], words[1], nl + 1,
                               len - (nl + 1 - msg), self->parent.node_message_data);
}

static void
on_pubsub_message (redisAsyncContext *ac,
                   void              *r,
                   void              *privdata)
{
  RedisBroker *self = privdata;
  redisReply *reply = r;
  const char *type;
  const char *name;

  if (reply == NULL || ac != self->pubsub.ac || reply->type != REDIS_REPLY_ARRAY ||
      reply->elements < 3 || !reply_is_string (reply->element[0]) ||
      !reply_is_string (reply->element[1]))
    return;

  type = reply->element[0]->str;
  name = reply->element[1]->str;

  if (g_str_equal (type, "message") && reply_is_string (reply->element[2]))
    {
      const char *msg = reply->element[2]->str;
      gsize len = reply->element[2]->len;

      if (g_str_equal (name, self->node_channel) || g_str_equal (name, self->broadcast_channel))
        {
          if (len > 4 && memcmp (msg, "msg ", 4) == 0)
            node_message_arrived (self, msg, len);
          else
            probe_arrived (self, msg, len);
        }
      else if (g_str_has_prefix (name, self->channel_prefix))
        deliver_message (self, name + self->channel_prefix_len, msg, len);
    }
  else if (g_str_equal (type, "subscribe"))
    subscribe_confirmed (self, name);
  else if (g_str_equal (type, "unsubscribe"))
    unsubscribe_confirmed (self, name);
}

/* Subscribes the node channel and every channel: one batch whose
 * confirmation makes the pubsub connection ready. */
static void
pubsub_resubscribe (RedisBroker *self)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer value;

  g_ptr_array_add (names, g_strdup (self->node_channel));
  g_ptr_array_add (names, g_strdup (self->broadcast_channel));
  g_hash_table_iter_init (&iter, self->subs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      ChannelSub *sub = value;

      if (sub->refs == 0)
        continue;
      sub->in_batch = TRUE;
      sub->pending++;
      g_ptr_array_add (names, pubsub_channel (self, sub->name));
    }

  self->batch_pending = names->len;
  self->pubsub.state = LINK_SUBSCRIBING;
  /* Many channels may take a while to confirm, but not forever. */
  clear_source (&self->pubsub.deadline);
  self->pubsub.deadline = attach_source (self, g_timeout_source_new (MAX (self->connect_timeout_ms,
                                                                           self->command_timeout_ms)),
                                         on_deadline, &self->pubsub);
  for (guint i = 0; i < names->len; i += SUBSCRIBE_BATCH)
    {
      guint n = MIN (SUBSCRIBE_BATCH, names->len - i);

      if (!pubsub_command (self, "SUBSCRIBE", (const char **) names->pdata + i, n))
        {
          link_fail (&self->pubsub, "cannot send SUBSCRIBE");
          return;
        }
    }
}

/* ---- presence ------------------------------------------------------------- */

static char *
presence_entry_json (RedisBroker              *self,
                     const CrierPresenceEntry *entry,
                     gint64                    expire_at)
{
  GString *s = g_string_new ("{\"client\":");

  crier_json_append_string (s, entry->client);
  g_string_append (s, ",\"user\":");
  crier_json_append_string (s, entry->user != NULL ? entry->user : "");
  if (entry->conn_info != NULL)
    {
      g_string_append (s, ",\"conn_info\":");
      crier_json_append_string (s, entry->conn_info);
    }
  if (entry->chan_info != NULL)
    {
      g_string_append (s, ",\"chan_info\":");
      crier_json_append_string (s, entry->chan_info);
    }
  g_string_append (s, ",\"node\":");
  crier_json_append_string (s, self->node_id);
  g_string_append_printf (s, ",\"expire_at\":%" G_GINT64_FORMAT "}", expire_at);
  return g_string_free (s, FALSE);
}

static CrierPresenceEntry *
presence_entry_parse (const char *json,
                      gsize       len)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;
  JsonObject *object;
  CrierPresenceEntry *entry;
  const char *client;

  if (!crier_json_single_value (json, len) || !json_parser_load_from_data (parser, json, len, NULL))
    return NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  object = json_node_get_object (root);
  client = json_object_get_string_member_with_default (object, "client", NULL);
  if (client == NULL)
    return NULL;

  entry = g_new0 (CrierPresenceEntry, 1);
  entry->client = g_strdup (client);
  entry->user = g_strdup (json_object_get_string_member_with_default (object, "user", ""));
  entry->conn_info = g_strdup (json_object_get_string_member_with_default (object, "conn_info",
                                                                           NULL));
  entry->chan_info = g_strdup (json_object_get_string_member_with_default (object, "chan_info",
                                                                           NULL));
  return entry;
}

/* One script call adding (or refreshing) @clients (client -> entry) of
 * @channel. */
static void
presence_send (RedisBroker *self,
               const char  *channel,
               GHashTable  *clients)
{
  gint64 expire_at = now_ms () + self->presence_ttl_ms;
  GHashTableIter iter;
  gpointer key;
  gpointer value;
  Argv argv;

  argv_init (&argv, self, SCRIPT_PRESENCE_ADD,
             stream_key (self, "presence", channel),
             stream_key (self, "presence-exp", channel));
  argv_take (&argv, g_strdup_printf ("%" G_GINT64_FORMAT, expire_at));
  argv_take (&argv, g_strdup_printf ("%" G_GINT64_FORMAT, self->presence_ttl_ms));
  g_hash_table_iter_init (&iter, clients);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      argv_add (&argv, key);
      argv_take (&argv, presence_entry_json (self, value, expire_at));
    }
  command_fire (self, argv_request (self, REQ_FIRE, SCRIPT_PRESENCE_ADD, &argv));
}

/* Re-adds every entry this node owns, with a new expiry. */
static void
presence_refresh (RedisBroker *self)
{
  GHashTableIter iter;
  gpointer key;
  gpointer value;

  if (command_refusal (self) != NULL)
    {
      self->presence_dirty = TRUE;
      return;
    }

  self->presence_dirty = FALSE;
  self->presence_refreshed_us = g_get_monotonic_time ();
  g_hash_table_iter_init (&iter, self->presence);
  while (g_hash_table_iter_next (&iter, &key, &value))
    presence_send (self, key, value);
}

static void
redis_presence_add (CrierBroker              *broker,
                    const char               *channel,
                    const CrierPresenceEntry *entry)
{
  RedisBroker *self = (RedisBroker *) broker;
  GHashTable *clients;
  g_autoptr(GHashTable) one = NULL;
  CrierPresenceEntry *copy;

  g_return_if_fail (channel != NULL);
  g_return_if_fail (entry != NULL && entry->client != NULL);

  clients = g_hash_table_lookup (self->presence, channel);
  if (clients == NULL)
    {
      clients = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                       (GDestroyNotify) crier_presence_entry_free);
      g_hash_table_insert (self->presence, g_strdup (channel), clients);
    }
  copy = crier_presence_entry_copy (entry);
  if (copy->user == NULL)
    copy->user = g_strdup ("");
  g_hash_table_replace (clients, copy->client, copy);

  if (command_refusal (self) != NULL)
    {
      self->presence_dirty = TRUE;   /* added on reconnect */
      return;
    }
  one = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (one, copy->client, copy);
  presence_send (self, channel, one);
}

static void
redis_presence_remove (CrierBroker *broker,
                       const char  *channel,
                       const char  *client)
{
  RedisBroker *self = (RedisBroker *) broker;
  GHashTable *clients;
  g_autofree char *hash = NULL;
  g_autofree char *zset = NULL;
  const char *hdel[3];
  const char *zrem[3];

  g_return_if_fail (channel != NULL && client != NULL);

  clients = g_hash_table_lookup (self->presence, channel);
  if (clients != NULL)
    {
      g_hash_table_remove (clients, client);
      if (g_hash_table_size (clients) == 0)
        g_hash_table_remove (self->presence, channel);
    }

  /* When Redis is unreachable the entry simply expires. */
  hash = stream_key (self, "presence", channel);
  zset = stream_key (self, "presence-exp", channel);
  hdel[0] = "HDEL";
  hdel[1] = hash;
  hdel[2] = client;
  zrem[0] = "ZREM";
  zrem[1] = zset;
  zrem[2] = client;
  command_fire (self, plain_request (self, REQ_FIRE, 3, hdel, NULL));
  command_fire (self, plain_request (self, REQ_FIRE, 3, zrem, NULL));
}

static void
presence_query (RedisBroker *self,
                const char  *channel,
                RequestKind  kind,
                gpointer     func,
                gpointer     user_data)
{
  Request *req;
  Argv argv;

  argv_init (&argv, self, SCRIPT_PRESENCE_GET,
             stream_key (self, "presence", channel),
             stream_key (self, "presence-exp", channel));
  argv_take (&argv, g_strdup_printf ("%" G_GINT64_FORMAT, now_ms ()));
  argv_add (&argv, kind == REQ_PRESENCE_STATS ? "stats" : "list");
  req = argv_request (self, kind, SCRIPT_PRESENCE_GET, &argv);
  req->channel = g_strdup (channel);
  req->func = func;
  req->user_data = user_data;
  command_send (self, req);
}

static void
redis_presence (CrierBroker             *broker,
                const char              *channel,
                CrierBrokerPresenceFunc  func,
                gpointer                 user_data)
{
  g_return_if_fail (channel != NULL && func != NULL);

  presence_query ((RedisBroker *) broker, channel, REQ_PRESENCE, func, user_data);
}

static void
redis_presence_stats (CrierBroker          *broker,
                      const char           *channel,
                      CrierBrokerStatsFunc  func,
                      gpointer              user_data)
{
  g_return_if_fail (channel != NULL && func != NULL);

  presence_query ((RedisBroker *) broker, channel, REQ_PRESENCE_STATS, func, user_data);
}

/* ---- replies on the command connection ------------------------------------ */

static void
publish_reply (Request          *req,
               const redisReply *reply)
{
  CrierPublication *pub = req->pub;

  if (req->is_script)
    {
      if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
          reply->element[0]->type != REDIS_REPLY_INTEGER ||
          !reply_is_string (reply->element[1]))
        {
          request_fail_literal (req, CRIER_BROKER_ERROR_FAILED,
                                "unexpected reply from the publish script");
          return;
        }
      if (pub->offset == 0)
        {
          pub->offset = (guint64) reply->element[0]->integer;
          g_free (pub->epoch);
          pub->epoch = g_strdup (reply->element[1]->str);
        }
    }

  if (req->func != NULL)
    ((CrierBrokerPublishFunc) req->func) (pub, NULL, req->user_data);
  request_free (req);
}

static CrierPublication *
history_entry (const char       *channel,
               const char       *epoch,
               const redisReply *entry)
{
  const redisReply *fields;
  const redisReply *data = NULL;
  const char *info = NULL;
  gint64 time_ms = 0;
  guint64 offset;
  const char *dash;
  g_autoptr(GBytes) bytes = NULL;
  CrierPublication *pub;

  if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
      !reply_is_string (entry->element[0]) || entry->element[1]->type != REDIS_REPLY_ARRAY)
    return NULL;
  dash = strchr (entry->element[0]->str, '-');
  if (dash == NULL || !parse_uint64 (entry->element[0]->str, dash - entry->element[0]->str,
                                     &offset))
    return NULL;

  fields = entry->element[1];
  for (gsize k = 0; k + 1 < fields->elements; k += 2)
    {
      const redisReply *f = fields->element[k];
      const redisReply *v = fields->element[k + 1];

      if (!reply_is_string (f) || !reply_is_string (v) || f->len != 1)
        continue;
      if (f->str[0] == 'd')
        data = v;
      else if (f->str[0] == 'i')
        info = v->str;
      else if (f->str[0] == 't')
        parse_int64 (v->str, v->len, &time_ms);
    }
  if (data == NULL || data->len == 0 || has_line_break (data->str, data->len))
    return NULL;

  bytes = g_bytes_new (data->str, data->len);
  pub = crier_publication_new (channel, bytes, info);
  pub->offset = offset;
  pub->epoch = g_strdup (epoch);
  if (time_ms != 0)
    pub->time_ms = time_ms;
  return pub;
}

static void
history_reply (Request          *req,
               const redisReply *reply)
{
  g_autoptr(GPtrArray) pubs = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_publication_unref);
  CrierHistoryResult result = { 0 };
  const redisReply *entries;
  const char *epoch;

  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
      !reply_is_string (reply->element[0]) || !reply_is_string (reply->element[1]) ||
      reply->element[2]->type != REDIS_REPLY_ARRAY ||
      !parse_uint64 (reply->element[0]->str, reply->element[0]->len, &result.offset))
    {
      request_fail_literal (req, CRIER_BROKER_ERROR_FAILED,
                            "unexpected reply from the history script");
      return;
    }

  epoch = reply->element[1]->str;
  entries = reply->element[2];
  for (gsize i = 0; i < entries->elements; i++)
    {
      CrierPublication *pub = history_entry (req->channel, epoch, entries->element[i]);

      if (pub == NULL)
        {
          g_warning ("redis broker: malformed history entry of %s skipped", req->channel);
          continue;
        }
      g_ptr_array_add (pubs, pub);
    }

  result.publications = pubs;
  result.epoch = epoch;
  ((CrierBrokerHistoryFunc) req->func) (&result, NULL, req->user_data);
  request_free (req);
}

static void
presence_reply (Request          *req,
                const redisReply *reply)
{
  g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_presence_entry_free);

  if (reply->type != REDIS_REPLY_ARRAY)
    {
      request_fail_literal (req, CRIER_BROKER_ERROR_FAILED,
                            "unexpected reply from the presence script");
      return;
    }
  for (gsize i = 0; i < reply->elements; i++)
    {
      const redisReply *v = reply->element[i];
      CrierPresenceEntry *entry = reply_is_string (v) ? presence_entry_parse (v->str, v->len) : NULL;

      if (entry != NULL)
        g_ptr_array_add (entries, entry);
    }
  ((CrierBrokerPresenceFunc) req->func) (entries, NULL, req->user_data);
  request_free (req);
}

static void
presence_stats_reply (Request          *req,
                      const redisReply *reply)
{
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
      reply->element[0]->type != REDIS_REPLY_INTEGER ||
      reply->element[1]->type != REDIS_REPLY_INTEGER)
    {
      request_fail_literal (req, CRIER_BROKER_ERROR_FAILED,
                            "unexpected reply from the presence script");
      return;
    }
  ((CrierBrokerStatsFunc) req->func) ((guint) reply->element[0]->integer,
                                      (guint) reply->element[1]->integer,
                                      NULL, req->user_data);
  request_free (req);
}

static const char *
hash_field (const redisReply *h,
            const char       *name)
{
  for (gsize i = 0; i + 1 < h->elements; i += 2)
    if (reply_is_string (h->element[i]) && reply_is_string (h->element[i + 1]) &&
        g_str_equal (h->element[i]->str, name))
      return h->element[i + 1]->str;
  return NULL;
}

static guint64
hash_uint (const redisReply *h,
           const char       *name)
{
  const char *v = hash_field (h, name);

  return v != NULL ? g_ascii_strtoull (v, NULL, 10) : 0;
}

static void
nodes_reply (Request          *req,
             const redisReply *reply)
{
  g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_node_info_free);

  if (reply->type != REDIS_REPLY_ARRAY)
    {
      request_fail_literal (req, CRIER_BROKER_ERROR_FAILED, "unexpected reply from the node list");
      return;
    }
  for (gsize i = 0; i < reply->elements; i++)
    {
      const redisReply *h = reply->element[i];
      CrierNodeInfo *info;
      const char *pubs;

      if (h->type != REDIS_REPLY_ARRAY || hash_field (h, "id") == NULL)
        continue;
      info = g_new0 (CrierNodeInfo, 1);
      info->id = g_strdup (hash_field (h, "id"));
      info->name = g_strdup (hash_field (h, "name"));
      info->address = g_strdup (hash_field (h, "address"));
      info->version = g_strdup (hash_field (h, "version"));
      info->uptime = (gint64) hash_uint (h, "uptime");
      info->updated_at = (gint64) hash_uint (h, "updated_at");
      info->connections = hash_uint (h, "connections");
      info->sessions = hash_uint (h, "sessions");
      info->channels = hash_uint (h, "channels");
      pubs = hash_field (h, "pubs");
      info->publications_per_s = pubs != NULL ? g_ascii_strtod (pubs, NULL) : 0;
      g_ptr_array_add (nodes, info);
    }
  ((CrierBrokerNodesFunc) req->func) (nodes, NULL, req->user_data);
  request_free (req);
}

static void
handshake_reply (RedisBroker      *self,
                 Link             *link,
                 Request          *req,
                 const redisReply *reply);

static void
probe_reply (RedisBroker      *self,
             Request          *req,
             const redisReply *reply)
{
  if (req->probe_seq != self->probe_seq || !self->probe_outstanding)
    return;
  if (reply == NULL || reply->type != REDIS_REPLY_INTEGER)
    {
      probe_abandon (self);
      return;
    }
  self->probe_acked = TRUE;
  /* Nobody subscribed to our own node channel: the server that runs our
   * commands is not the one our subscriptions live on. */
  if (reply->integer == 0 && self->pubsub.state == LINK_READY)
    link_fail (&self->pubsub, "the probe found no subscriber");
}

/* A Redis error that means "this server cannot serve us now": reconnect. */
static gboolean
error_means_reconnect (const char *message)
{
  return g_str_has_prefix (message, "READONLY") ||
         g_str_has_prefix (message, "LOADING") ||
         g_str_has_prefix (message, "MASTERDOWN");
}

static void
on_command_reply (redisAsyncContext *ac,
                  void              *r,
                  void              *privdata)
{
  Request *req = privdata;
  RedisBroker *self = req->self;
  redisReply *reply = r;
  const char *error = reply_error (reply);
  Request *head = g_queue_pop_head (&self->in_flight);

  /* hiredis answers in order, with NULL when the context goes. */
  g_assert (head == req);
  (void) head;
  if (reply == NULL && self->freeing)
    error = "the Redis broker is shutting down";

  if (req->kind == REQ_HANDSHAKE)
    {
      handshake_reply (self, &self->command, req, reply);
      request_free (req);
      return;
    }
  if (req->kind == REQ_PROBE)
    {
      probe_reply (self, req, reply);
      request_free (req);
      return;
    }

  if (error != NULL && req->is_script && !req->retried && g_str_has_prefix (error, "NOSCRIPT"))
    {
      /* SCRIPT FLUSH, a restarted or promoted server: load and run again,
       * pipelined, so it costs no extra round trip. */
      const char *load[3] = { "SCRIPT", "LOAD", script_sources[req->script] };
      Request *loader = plain_request (self, REQ_FIRE, 3, load, NULL);

      req->retried = TRUE;
      if (command_send_raw (self, loader))
        {
          if (command_send_raw (self, req))
            return;
        }
      else
        request_free (loader);
      request_fail_literal (req, CRIER_BROKER_ERROR_UNAVAILABLE, "Redis is not connected");
      return;
    }

  if (error != NULL)
    {
      int code = reply == NULL ? CRIER_BROKER_ERROR_UNAVAILABLE : CRIER_BROKER_ERROR_FAILED;

      if (reply != NULL && error_means_reconnect (error))
        {
          code = CRIER_BROKER_ERROR_UNAVAILABLE;
          if (ac == self->command.ac)
            link_fail (&self->command, error);
        }
      if (req->kind == REQ_FIRE && reply != NULL)
        g_warning ("redis broker: %s", error);
      request_fail_literal (req, code, error);
      return;
    }

  switch (req->kind)
    {
    case REQ_PUBLISH:
      publish_reply (req, reply);
      break;
    case REQ_HISTORY:
      history_reply (req, reply);
      break;
    case REQ_PRESENCE:
      presence_reply (req, reply);
      break;
    case REQ_PRESENCE_STATS:
      presence_stats_reply (req, reply);
      break;
    case REQ_NODES:
      nodes_reply (req, reply);
      break;
    case REQ_FIRE:
    case REQ_HANDSHAKE:
    case REQ_PROBE:
      request_free (req);
      break;
    }
}

/* ---- connection state machine --------------------------------------------- */

static void
on_pubsub_handshake_reply (redisAsyncContext *ac,
                           void              *r,
                           void              *privdata)
{
  Request *req = privdata;
  RedisBroker *self = req->self;
  Link *link = req->link;

  if (ac == link->ac)
    handshake_reply (self, link, req, r);
  request_free (req);
}

static gboolean
link_send_handshake (Link        *link,
                     HandshakeStep step,
                     int          argc,
                     const char **argv,
                     const gsize *lens)
{
  RedisBroker *self = link->self;
  Request *req = plain_request (self, REQ_HANDSHAKE, argc, argv, lens);

  req->step = step;
  if (link->role == LINK_COMMAND)
    {
      if (!command_send_raw (self, req))
        {
          request_free (req);
          return FALSE;
        }
    }
  else
    {
      req->link = link;
      if (redisAsyncFormattedCommand (link->ac, on_pubsub_handshake_reply, req,
                                      req->cmd, req->cmd_len) != REDIS_OK)
        {
          request_free (req);
          return FALSE;
        }
      g_clear_pointer (&req->cmd, redisFreeCommand);
    }
  link->handshake_pending++;
  return TRUE;
}

/* TCP is up: authenticate, select, check the role, load the scripts. */
static void
link_handshake (Link *link)
{
  RedisBroker *self = link->self;
  const char *password = link->role == LINK_WATCH ? self->sentinel_password : self->password;
  gboolean ok = TRUE;

  link->handshake_pending = 0;
  if (password != NULL)
    {
      const char *auth[3] = { "AUTH", NULL, NULL };
      int argc = 2;

      if (link->role != LINK_WATCH && self->user != NULL)
        {
          auth[1] = self->user;
          auth[2] = password;
          argc = 3;
        }
      else
        auth[1] = password;
      ok = link_send_handshake (link, STEP_AUTH, argc, auth, NULL);
    }

  if (ok && link->role == LINK_WATCH)
    {
      /* Confirmed through on_watch_message. */
      link->state = LINK_SUBSCRIBING;
      if (redisAsyncCommand (link->ac, on_watch_message, self,
                             "SUBSCRIBE +switch-master") != REDIS_OK)
        ok = FALSE;
    }
  else if (ok)
    {
      if (self->db != 0 && link->role == LINK_COMMAND)
        {
          g_autofree char *db = g_strdup_printf ("%d", self->db);
          const char *select[2] = { "SELECT", db };

          ok = link_send_handshake (link, STEP_SELECT, 2, select, NULL);
        }
      if (ok)
        {
          const char *role[1] = { "ROLE" };

          ok = link_send_handshake (link, STEP_ROLE, 1, role, NULL);
        }
      if (ok && link->role == LINK_COMMAND)
        {
          const char *info[2] = { "INFO", "server" };

          g_clear_pointer (&self->run_id, g_free);
          ok = link_send_handshake (link, STEP_INFO, 2, info, NULL);
        }
      for (guint i = 0; ok && link->role == LINK_COMMAND && i < N_SCRIPTS; i++)
        {
          const char *load[3] = { "SCRIPT", "LOAD", script_sources[i] };

          ok = link_send_handshake (link, STEP_SCRIPT_LOAD, 3, load, NULL);
        }
    }

  if (!ok)
    link_fail (link, "cannot send the handshake");
}

/* The run_id field of an INFO reply, or NULL. */
static char *
info_run_id (const char *info)
{
  const char *p = strstr (info, "run_id:");
  gsize len;

  if (p == NULL || (p != info && p[-1] != '\n'))
    return NULL;
  p += strlen ("run_id:");
  len = strcspn (p, "\r\n");
  return len > 0 && len <= 64 ? g_strndup (p, len) : NULL;
}

/* The command connection is up on a server: if it is another server
 * process than before (a failover, a restart), publications may have
 * been lost with the old one, even with the PUB/SUB connection still up
 * (on a demoted master, which relays the new master's messages): report
 * a gap on every channel, so the hub reads the position again, where the
 * scripts start a new epoch (LUA_CONTINUITY). */
static void
run_id_check (RedisBroker *self)
{
  GHashTableIter iter;
  gpointer value;

  if (self->run_id == NULL || self->run_id[0] == '\0')
    return;
  /* A PUB/SUB connection not ready yet reports every channel itself once
   * it has resubscribed: one report per incident. */
  if (self->last_run_id != NULL && !g_str_equal (self->last_run_id, self->run_id) &&
      self->pubsub.state == LINK_READY)
    {
      g_message ("redis broker: the server changed (run_id %s, was %s): every channel's "
                 "continuity is checked", self->run_id, self->last_run_id);
      g_hash_table_iter_init (&iter, self->subs);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        if (((ChannelSub *) value)->refs > 0)
          gap_note (self, ((ChannelSub *) value)->name);
    }
  g_free (self->last_run_id);
  self->last_run_id = g_strdup (self->run_id);
}

static void
handshake_reply (RedisBroker      *self,
                 Link             *link,
                 Request          *req,
                 const redisReply *reply)
{
  const char *error = reply_error (reply);

  if (reply == NULL || (link->state != LINK_CONNECTING && link->state != LINK_SUBSCRIBING))
    return;   /* the connection is going; on_disconnect or link_fail handle it */

  if (req->step == STEP_ROLE && error == NULL)
    {
      if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
          reply_is_string (reply->element[0]) && !g_str_equal (reply->element[0]->str, "master"))
        {
          link_fail (link, "the server is a replica");
          return;
        }
    }
  else if (req->step == STEP_ROLE && g_str_has_prefix (error, "NOPERM"))
    ;   /* an ACL user without ROLE: assume a master */
  else if (req->step == STEP_INFO)
    {
      g_free (self->run_id);
      self->run_id = error == NULL && reply_is_string (reply) ? info_run_id (reply->str) : NULL;
      if (self->run_id == NULL)
        {
          self->run_id = g_strdup ("");
          if (!self->info_warned)
            g_warning ("redis broker: no run_id from INFO server (%s): a failover or restart "
                       "that loses the last publications cannot be detected; allow INFO to "
                       "the Redis user", error != NULL ? error : "no run_id field");
          self->info_warned = TRUE;
        }
    }
  else if (error != NULL)
    {
      g_autofree char *reason = g_strdup_printf ("%s: %s",
                                                 req->step == STEP_AUTH ? "AUTH" :
                                                 req->step == STEP_SELECT ? "SELECT" :
                                                 req->step == STEP_ROLE ? "ROLE" :
                                                 req->step == STEP_INFO ? "INFO" :
                                                 "SCRIPT LOAD", error);
      link_fail (link, reason);
      return;
    }

  if (--link->handshake_pending > 0 || link->state != LINK_CONNECTING)
    return;

  if (link->role == LINK_COMMAND)
    link_ready (link);
  else if (link->role == LINK_PUBSUB)
    pubsub_resubscribe (self);
}

static void
on_watch_message (redisAsyncContext *ac,
                  void              *r,
                  void              *privdata)
{
  RedisBroker *self = privdata;
  redisReply *reply = r;
  const char *type;

  if (reply == NULL || ac != self->watch.ac || reply->type != REDIS_REPLY_ARRAY ||
      reply->elements < 3 || !reply_is_string (reply->element[0]))
    return;

  type = reply->element[0]->str;
  if (g_str_equal (type, "subscribe"))
    {
      if (self->watch.state == LINK_SUBSCRIBING)
        link_ready (&self->watch);
    }
  else if (g_str_equal (type, "message") && reply_is_string (reply->element[2]))
    {
      /* "<name> <old ip> <old port> <new ip> <new port>" */
      g_auto(GStrv) parts = g_strsplit (reply->element[2]->str, " ", -1);

      if (g_strv_length (parts) == 5 && g_str_equal (parts[0], self->master_name))
        {
          g_autofree char *master = g_strdup_printf ("%s:%s", parts[3], parts[4]);
          Link *links[2] = { &self->command, &self->pubsub };

          g_message ("redis broker: sentinel switched master %s to %s",
                     self->master_name, master);
          for (guint i = 0; i < G_N_ELEMENTS (links); i++)
            {
              /* Those that found the new master already stay. */
              if (links[i]->state != LINK_DOWN &&
                  g_strcmp0 (links[i]->server, master) != 0)
                link_fail (links[i], "the master switched");
              /* Retry at once: the sentinel knows the new master now. */
              links[i]->attempts = 0;
              if (links[i]->state == LINK_DOWN && links[i]->retry != NULL)
                link_start (links[i]);
            }
        }
    }
}

static void
on_sentinel_auth (redisAsyncContext *ac,
                  void              *r,
                  void              *privdata)
{
  Link *link = privdata;
  const char *error = reply_error (r);
  g_autofree char *reason = NULL;

  if (r == NULL || ac != link->sentinel_ac || error == NULL)
    return;

  /* link_fail moves on to the next sentinel. */
  reason = g_strdup_printf ("sentinel AUTH: %s", error);
  link_fail (link, reason);
}

static void
on_sentinel_reply (redisAsyncContext *ac,
                   void              *r,
                   void              *privdata)
{
  Link *link = privdata;
  RedisBroker *self = link->self;
  redisReply *reply = r;
  guint64 port = 0;
  g_autofree char *reason = NULL;

  if (reply == NULL || ac != link->sentinel_ac || link->state != LINK_RESOLVING)
    return;

  if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
      reply_is_string (reply->element[0]) && reply_is_string (reply->element[1]) &&
      parse_uint64 (reply->element[1]->str, reply->element[1]->len, &port) &&
      port > 0 && port <= G_MAXUINT16)
    {
      address_clear (&link->target);
      link->target.host = g_strdup (reply->element[0]->str);
      link->target.port = (guint16) port;
      link->action = ACTION_CONNECT;
      link_schedule (link);
      return;
    }

  if (reply->type == REDIS_REPLY_ERROR)
    reason = g_strdup_printf ("sentinel: %s", reply->str);
  else
    reason = g_strdup_printf ("the sentinel does not know master '%s'", self->master_name);
  link_fail (link, reason);
}

static void
sentinel_ask (Link *link)
{
  RedisBroker *self = link->self;
  gboolean ok = TRUE;

  if (self->sentinel_password != NULL)
    ok = redisAsyncCommand (link->sentinel_ac, on_sentinel_auth, link,
                            "AUTH %s", self->sentinel_password) == REDIS_OK;
  if (ok)
    ok = redisAsyncCommand (link->sentinel_ac, on_sentinel_reply, link,
                            "SENTINEL get-master-addr-by-name %s", self->master_name) == REDIS_OK;
  if (!ok)
    link_fail (link, "cannot ask the sentinel");
}

static void
on_connect (const redisAsyncContext *cac,
            int                      status)
{
  redisAsyncContext *ac = (redisAsyncContext *) cac;
  Link *link = ac->data;

  if (link == NULL)
    return;

  if (status != REDIS_OK)
    {
      g_autofree char *reason = g_strdup (ac->c.errstr);

      /* hiredis frees @ac right after this returns. */
      if (ac == link->ac)
        {
          link->ac = NULL;
          retire_source (link->self, g_steal_pointer (&link->source));
        }
      else if (ac == link->sentinel_ac)
        {
          link->sentinel_ac = NULL;
          retire_source (link->self, g_steal_pointer (&link->sentinel_source));
          link->sentinel_index = (link->sentinel_index + 1) % link->self->n_sentinels;
        }
      else
        return;
      link_fail (link, reason);
      return;
    }

  /* Only send from here: freeing @ac inside this callback is not allowed. */
  if (ac == link->ac)
    link_handshake (link);
  else if (ac == link->sentinel_ac)
    sentinel_ask (link);
}

static void
on_disconnect (const redisAsyncContext *cac,
               int                      status)
{
  redisAsyncContext *ac = (redisAsyncContext *) cac;
  Link *link = ac->data;
  g_autofree char *reason = NULL;

  if (link == NULL)
    return;   /* closed by us */

  reason = g_strdup (status == REDIS_OK || ac->c.errstr[0] == '\0' ?
                     "the server closed the connection" : ac->c.errstr);
  if (ac == link->ac)
    {
      link->ac = NULL;
      retire_source (link->self, g_steal_pointer (&link->source));
    }
  else if (ac == link->sentinel_ac)
    {
      link->sentinel_ac = NULL;
      retire_source (link->self, g_steal_pointer (&link->sentinel_source));
      link->sentinel_index = (link->sentinel_index + 1) % link->self->n_sentinels;
    }
  else
    return;
  link_fail (link, reason);
}

static void
on_resolved (GObject      *object,
             GAsyncResult *result,
             gpointer      data)
{
  g_autoptr(GError) error = NULL;
  GList *addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (object), result, &error);
  Link *link = data;

  /* Cancelled: the link may be gone with its broker. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  g_clear_object (&link->cancellable);
  if (addresses == NULL)
    {
      g_autofree char *reason = g_strdup_printf ("%s: %s", link->target.host, error->message);

      link_fail (link, reason);
      return;
    }

  /* Each failed attempt tries the next address (::1 and 127.0.0.1 for
   * localhost, where the server may listen on one only). */
  g_free (link->target.host);
  link->target.host = g_inet_address_to_string (g_list_nth_data (addresses,
                                                                 link->attempts %
                                                                 g_list_length (addresses)));
  g_resolver_free_addresses (addresses);
  link_connect_target (link);
}

/* Connects to link->target (resolving a host name first: hiredis would
 * block the loop in getaddrinfo). */
static void
link_connect_target (Link *link)
{
  RedisBroker *self = link->self;
  g_autoptr(GError) error = NULL;

  if (link->target.host != NULL && !g_hostname_is_ip_address (link->target.host))
    {
      g_autoptr(GResolver) resolver = g_resolver_get_default ();

      link->state = LINK_RESOLVING;
      link->cancellable = g_cancellable_new ();
      g_main_context_push_thread_default (self->context);
      g_resolver_lookup_by_name_async (resolver, link->target.host, link->cancellable,
                                       on_resolved, link);
      g_main_context_pop_thread_default (self->context);
      return;
    }

  g_free (link->server);
  link->server = address_to_string (&link->target);
  link->state = LINK_CONNECTING;
  link->ac = context_open (link, &link->target, &link->source, &error);
  if (link->ac == NULL)
    link_fail (link, error->message);
}

static gboolean
on_deadline (gpointer data)
{
  Link *link = data;

  g_clear_pointer (&link->deadline, g_source_unref);
  link_fail (link, "connect timed out");
  return G_SOURCE_REMOVE;
}

static gboolean
on_retry (gpointer data)
{
  Link *link = data;

  g_clear_pointer (&link->retry, g_source_unref);
  link_start (link);
  return G_SOURCE_REMOVE;
}

static void
link_start (Link *link)
{
  RedisBroker *self = link->self;
  g_autoptr(GError) error = NULL;

  clear_source (&link->retry);
  clear_source (&link->deadline);
  link->deadline = attach_source (self, g_timeout_source_new (self->connect_timeout_ms),
                                  on_deadline, link);

  if (link->role == LINK_WATCH)
    {
      address_copy (&link->target, &self->sentinels[link->sentinel_index]);
      link_connect_target (link);
    }
  else if (self->n_sentinels > 0)
    {
      link->state = LINK_RESOLVING;
      link->sentinel_ac = context_open (link, &self->sentinels[link->sentinel_index],
                                        &link->sentinel_source, &error);
      if (link->sentinel_ac == NULL)
        {
          link->sentinel_index = (link->sentinel_index + 1) % self->n_sentinels;
          link_fail (link, error->message);
        }
    }
  else
    {
      address_copy (&link->target, &self->address);
      link_connect_target (link);
    }
}

/* Drops the connection attempt or connection, its timers and contexts.
 * Pending command callbacks run now (with "connection lost"). */
static void
link_close (Link *link)
{
  RedisBroker *self = link->self;

  clear_source (&link->deadline);
  clear_source (&link->retry);
  clear_source (&link->idle);
  link->action = ACTION_NONE;
  if (link->cancellable != NULL)
    {
      g_cancellable_cancel (link->cancellable);
      g_clear_object (&link->cancellable);
    }
  link->state = LINK_DOWN;
  context_close (self, &link->sentinel_ac, &link->sentinel_source);
  context_close (self, &link->ac, &link->source);
}

static gint64
backoff_ms (Link *link)
{
  RedisBroker *self = link->self;
  gint64 base = self->reconnect_min_ms;

  for (guint i = 0; i < link->attempts && base < self->reconnect_max_ms; i++)
    base *= 2;
  base = MIN (base, self->reconnect_max_ms);
  /* Equal jitter: between half and all of the exponential delay. */
  return base / 2 + g_random_int_range (0, (gint32) (base / 2) + 1);
}

/* The deferred part of link_fail: outside every hiredis callback. */
static void
link_fail_now (Link *link)
{
  RedisBroker *self = link->self;
  gint64 delay;

  link_close (link);

  if (link->role == LINK_PUBSUB)
    {
      probe_abandon (self);
      subs_reset (self);
    }

  if (link->attempts == 0)
    g_warning ("redis broker: %s connection%s%s: %s; reconnecting",
               link->name, link->server != NULL ? " to " : "",
               link->server != NULL ? link->server : "", link->fail_reason);
  else
    g_debug ("redis broker: %s connection attempt %u failed: %s",
             link->name, link->attempts, link->fail_reason);

  delay = backoff_ms (link);
  link->attempts++;
  link->retry = attach_source (self, g_timeout_source_new (delay), on_retry, link);
}

static gboolean
on_link_idle (gpointer data)
{
  Link *link = data;
  LinkAction action = link->action;

  g_clear_pointer (&link->idle, g_source_unref);
  link->action = ACTION_NONE;

  switch (action)
    {
    case ACTION_FAIL:
      link_fail_now (link);
      break;
    case ACTION_CONNECT:
      context_close (link->self, &link->sentinel_ac, &link->sentinel_source);
      link_connect_target (link);
      break;
    case ACTION_NONE:
      break;
    }
  return G_SOURCE_REMOVE;
}

static void
link_schedule (Link *link)
{
  if (link->idle == NULL)
    link->idle = attach_source (link->self, g_idle_source_new (), on_link_idle, link);
}

/* Marks @link down now (calls fail fast from here on) and drops it, then
 * retries after a backoff, from an idle: hiredis forbids freeing a context
 * inside its own callbacks. */
static void
link_fail (Link       *link,
           const char *reason)
{
  RedisBroker *self = link->self;

  if (self->freeing || link->action == ACTION_FAIL)
    return;
  if (link->state == LINK_DOWN && link->retry != NULL)
    return;   /* already waiting to retry */

  /* A sentinel that failed us: ask the next one next time. */
  if (link->role == LINK_WATCH || link->sentinel_ac != NULL)
    link->sentinel_index = (link->sentinel_index + 1) % MAX (self->n_sentinels, 1);
  if (link->state == LINK_READY || link->state == LINK_SUBSCRIBING)
    self->stats.disconnects++;
  g_free (link->fail_reason);
  link->fail_reason = g_strdup (reason);
  link->state = LINK_DOWN;
  link->action = ACTION_FAIL;
  link_schedule (link);
}

static void
link_ready (Link *link)
{
  RedisBroker *self = link->self;

  clear_source (&link->deadline);
  link->state = LINK_READY;
  if (link->attempts > 0 || link->fail_reason != NULL)
    g_message ("redis broker: %s connection to %s is up again", link->name, link->server);
  link->attempts = 0;
  g_clear_pointer (&link->fail_reason, g_free);
  self->stats.connects++;

  if (link->role == LINK_COMMAND)
    {
      run_id_check (self);
      self->probe_last_us = 0;   /* probe at the next tick */
      presence_refresh (self);
    }
  gaps_flush (self);
}

static void
link_init (RedisBroker *self,
           Link        *link,
           LinkRole     role,
           const char  *name)
{
  link->self = self;
  link->role = role;
  link->name = name;
  link->state = LINK_DOWN;
}

static void
link_clear (Link *link)
{
  link_close (link);
  address_clear (&link->target);
  g_clear_pointer (&link->server, g_free);
  g_clear_pointer (&link->fail_reason, g_free);
}

/* ---- vtable --------------------------------------------------------------- */

static void
redis_publish (CrierBroker               *broker,
               CrierPublication          *pub,
               const CrierHistoryOptions *options,
               CrierBrokerPublishFunc     func,
               gpointer                   user_data)
{
  RedisBroker *self = (RedisBroker *) broker;
  Request *req;

  g_return_if_fail (pub != NULL && pub->kind == CRIER_PUSH_PUBLICATION);
  g_return_if_fail (pub->offset == 0 && pub->epoch == NULL);

  if (options != NULL && options->size > 0)
    {
      gsize len;
      const char *data = g_bytes_get_data (pub->data, &len);
      Argv argv;

      argv_init (&argv, self, SCRIPT_PUBLISH,
                 stream_key (self, "stream", pub->channel),
                 stream_key (self, "meta", pub->channel));
      argv_take (&argv, pubsub_channel (self, pub->channel));
      argv_take (&argv, g_strdup_printf ("%" G_GINT64_FORMAT, options->size));
      argv_take (&argv, g_strdup_printf ("%" G_GINT64_FORMAT, MAX (options->ttl_ms, 0)));
      argv_take (&argv, g_strdup_printf ("%" G_GINT64_FORMAT, MAX (options->max_bytes, 0)));
      argv_take (&argv, g_strdup_printf ("%" G_GINT64_FORMAT, MAX (options->meta_ttl_ms, 0)));
      argv_take (&argv, crier_random_id (4));
      argv_take (&argv, g_strdup_printf ("%" G_GINT64_FORMAT, pub->time_ms));
      argv_take (&argv, g_strdup_printf ("%" G_GSIZE_FORMAT, pub->size));
      argv_take (&argv, wire_head_tail (self, pub));
      argv_add (&argv, pub->info != NULL ? pub->info : "");
      argv_add_len (&argv, data, len);
      argv_add (&argv, self->run_id != NULL ? self->run_id : "");
      req = argv_request (self, REQ_PUBLISH, SCRIPT_PUBLISH, &argv);
    }
  else
    {
      g_autofree char *channel = pubsub_channel (self, pub->channel);
      g_autoptr(GString) msg = wire_encode (self, pub);
      const char *args[3] = { "PUBLISH", channel, msg->str };
      gsize lens[3] = { 7, strlen (channel), msg->len };

      req = plain_request (self, REQ_PUBLISH, 3, args, lens);
    }

  req->pub = crier_publication_ref (pub);
  req->func = func;
  req->user_data = user_data;
  command_send (self, req);
}

static void
redis_publish_event (CrierBroker      *broker,
                     CrierPublication *event)
{
  RedisBroker *self = (RedisBroker *) broker;
  g_autofree char *channel = NULL;
  g_autoptr(GString) msg = NULL;
  const char *args[3];
  gsize lens[3];

  g_return_if_fail (event != NULL && event->kind != CRIER_PUSH_PUBLICATION);

  channel = pubsub_channel (self, event->channel);
  msg = wire_encode (self, event);
  args[0] = "PUBLISH";
  args[1] = channel;
  args[2] = msg->str;
  lens[0] = 7;
  lens[1] = strlen (channel);
  lens[2] = msg->len;
  command_fire (self, plain_request (self, REQ_FIRE, 3, args, lens));
}

static void
history_send (RedisBroker *self,
              Request     *req)
{
  command_send (self, req);
}

static void
redis_history (CrierBroker               *broker,
               const char                *channel,
               const CrierHistoryOptions *options,
               const CrierHistoryQuery   *query,
               CrierBrokerHistoryFunc     func,
               gpointer                   user_data)
{
  RedisBroker *self = (RedisBroker *) broker;
  ChannelSub *sub;
  Request *req;
  Argv argv;

  g_return_if_fail (channel != NULL && query != NULL && func != NULL);

  argv_init (&argv, self, SCRIPT_HISTORY,
             stream_key (self, "stream", channel),
             stream_key (self, "meta", channel));
  argv_take (&argv, g_strdup_printf ("%" G_GINT64_FORMAT, MAX (query->limit, -1)));
  argv_take (&argv, query->has_since ?
                    g_strdup_printf ("%" G_GUINT64_FORMAT, query->since_offset) : g_strdup (""));
  argv_add (&argv, query->reverse ? "1" : "0");
  argv_take (&argv, g_strdup_printf ("%" G_GINT64_FORMAT, now_ms ()));
  argv_add (&argv, self->run_id != NULL ? self->run_id : "");
  argv_take (&argv, crier_random_id (4));
  argv_take (&argv, g_strdup_printf ("%" G_GINT64_FORMAT,
                                     options != NULL ? MAX (options->meta_ttl_ms, 0) : 0));
  req = argv_request (self, REQ_HISTORY, SCRIPT_HISTORY, &argv);
  req->channel = g_strdup (channel);
  req->func = func;
  req->user_data = user_data;

  /* Read after our SUBSCRIBE is in effect, so that every publication is
   * in the result or delivered (or both: the hub merges by offset). */
  sub = g_hash_table_lookup (self->subs, channel);
  if (sub != NULL && sub->refs > 0 && !sub->confirmed && sub->pending > 0 &&
      pubsub_can_send (self))
    {
      req->queued_us = g_get_monotonic_time ();
      g_queue_push_tail (&sub->waiting, req);
      self->n_held++;
      return;
    }
  history_send (self, req);
}

static void
redis_remove_history (CrierBroker *broker,
                      const char  *channel)
{
  RedisBroker *self = (RedisBroker *) broker;
  Argv argv;

  g_return_if_fail (channel != NULL);

  argv_init (&argv, self, SCRIPT_REMOVE_HISTORY,
             stream_key (self, "stream", channel),
             stream_key (self, "meta", channel));
  command_fire (self, argv_request (self, REQ_FIRE, SCRIPT_REMOVE_HISTORY, &argv));
}

static void
probe_tick (RedisBroker *self,
            gint64       mono)
{
  g_autofree char *body = NULL;
  const char *args[3];
  Request *req;

  if (self->probe_outstanding)
    {
      if (mono - self->probe_sent_us <= self->probe_timeout_ms * 1000)
        return;
      if (!self->probe_counted)
        {
          self->probe_counted = TRUE;
          self->probe_failed = TRUE;
          self->stats.probe_failures++;
          g_warning ("redis broker: no probe round trip in %" G_GINT64_FORMAT " ms",
                     self->probe_timeout_ms);
        }
      /* Redis answered the PUBLISH but the message never came: the
       * subscriptions are broken, not Redis. */
      if (self->probe_acked && self->pubsub.state == LINK_READY)
        link_fail (&self->pubsub, "the probe did not come back");
      return;
    }

  if (!link_usable (&self->command) || self->pubsub.state != LINK_READY ||
      command_refusal (self) != NULL)
    return;
  if (self->probe_last_us != 0 && mono - self->probe_last_us < self->probe_interval_ms * 1000)
    return;

  body = g_strdup_printf ("probe %" G_GUINT64_FORMAT, self->probe_seq + 1);
  args[0] = "PUBLISH";
  args[1] = self->node_channel;
  args[2] = body;
  req = plain_request (self, REQ_PROBE, 3, args, NULL);
  req->probe_seq = self->probe_seq + 1;
  if (!command_send_raw (self, req))
    {
      request_free (req);
      return;
    }
  self->probe_seq++;
  self->probe_outstanding = TRUE;
  self->probe_acked = FALSE;
  self->probe_counted = FALSE;
  self->probe_sent_us = mono;
  self->probe_last_us = mono;
}

static void
redis_tick (CrierBroker *broker,
            gint64       now)
{
  RedisBroker *self = (RedisBroker *) broker;
  gint64 mono = g_get_monotonic_time ();
  gint64 timeout_us = self->command_timeout_ms * 1000;
  Request *oldest = g_queue_peek_head (&self->in_flight);
  g_autoptr(GPtrArray) overdue = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer value;

  /* 1. A paused or half-open server: drop the command connection, which
   *    answers every waiting caller, and reconnect. */
  if (oldest != NULL && self->command.state == LINK_READY && mono - oldest->sent_us > timeout_us)
    link_fail (&self->command, "a command timed out");

  /* 2. History held for a SUBSCRIBE that is not confirmed in time runs
   *    anyway (the pubsub checks below deal with the connection). */
  g_hash_table_iter_init (&iter, self->subs);
  while (self->n_held > 0 && g_hash_table_iter_next (&iter, NULL, &value))
    {
      ChannelSub *sub = value;
      Request *first = g_queue_peek_head (&sub->waiting);

      if (first != NULL && mono - first->queued_us > timeout_us)
        g_ptr_array_add (overdue, g_strdup (sub->name));
    }
  for (guint i = 0; i < overdue->len; i++)
    {
      ChannelSub *sub = g_hash_table_lookup (self->subs, g_ptr_array_index (overdue, i));

      if (sub != NULL)
        channel_sub_release (self, sub);
    }

  /* 3. The round-trip probe through our own node channel. */
  probe_tick (self, mono);

  /* 4. Presence: re-add our entries well before they expire. */
  if (self->presence_dirty ||
      mono - self->presence_refreshed_us >= self->presence_ttl_ms * 1000 * 5 / 12)
    presence_refresh (self);

  gaps_flush (self);
}

static const char *
redis_node_id (CrierBroker *broker)
{
  return ((RedisBroker *) broker)->node_id;
}

static gboolean
redis_node_send (CrierBroker *broker,
                 const char  *to,
                 const char  *kind,
                 const char  *data,
                 gsize        len)
{
  RedisBroker *self = (RedisBroker *) broker;
  g_autofree char *channel = NULL;
  g_autoptr(GString) msg = NULL;
  const char *args[3];
  gsize lens[3];
  Request *req;

  g_return_val_if_fail (kind != NULL && kind[0] != '\0' && strchr (kind, ' ') == NULL, FALSE);
  g_return_val_if_fail (!has_line_break (kind, strlen (kind)), FALSE);
  g_return_val_if_fail (to == NULL || (strchr (to, ' ') == NULL && to[0] != '\0'), FALSE);

  if (command_refusal (self) != NULL)
    {
      self->stats.rejected++;
      return FALSE;
    }
  channel = to != NULL ? g_strconcat (self->prefix, ".node.", to, NULL)
                       : g_strdup (self->broadcast_channel);
  msg = g_string_new ("msg ");
  g_string_append (msg, kind);
  g_string_append_c (msg, ' ');
  g_string_append (msg, self->node_id);
  g_string_append_c (msg, '\n');
  g_string_append_len (msg, data, len);
  args[0] = "PUBLISH";
  args[1] = channel;
  args[2] = msg->str;
  lens[0] = 7;
  lens[1] = strlen (channel);
  lens[2] = msg->len;
  req = plain_request (self, REQ_FIRE, 3, args, lens);
  if (!command_send_raw (self, req))
    {
      request_free (req);
      self->stats.dropped++;
      return FALSE;
    }
  return TRUE;
}

static void
redis_node_heartbeat (CrierBroker         *broker,
                      const CrierNodeInfo *info,
                      gint64               ttl_ms)
{
  RedisBroker *self = (RedisBroker *) broker;
  char pubs[G_ASCII_DTOSTR_BUF_SIZE];
  Argv argv;

  g_return_if_fail (info != NULL);

  argv_init (&argv, self, SCRIPT_NODE_HEARTBEAT,
             g_strconcat (self->prefix, ".node-info.", self->node_id, NULL),
             g_strconcat (self->prefix, ".nodes", NULL));
  argv_add (&argv, self->node_id);
  argv_take (&argv, g_strdup_printf ("%" G_GINT64_FORMAT, MAX (ttl_ms, 1000)));
  argv_take (&argv, g_strdup_printf ("%" G_GINT64_FORMAT, now_ms ()));
#define FIELD(name, value) G_STMT_START { argv_add (&argv, name); argv_take (&argv, value); } G_STMT_END
  FIELD ("id", g_strdup (self->node_id));
  FIELD ("name", g_strdup (info->name != NULL ? info->name : ""));
  FIELD ("address", g_strdup (info->address != NULL ? info->address : ""));
  FIELD ("version", g_strdup (info->version != NULL ? info->version : ""));
  FIELD ("uptime", g_strdup_printf ("%" G_GINT64_FORMAT, info->uptime));
  FIELD ("updated_at", g_strdup_printf ("%" G_GINT64_FORMAT, now_ms ()));
  FIELD ("connections", g_strdup_printf ("%" G_GUINT64_FORMAT, info->connections));
  FIELD ("sessions", g_strdup_printf ("%" G_GUINT64_FORMAT, info->sessions));
  FIELD ("channels", g_strdup_printf ("%" G_GUINT64_FORMAT, info->channels));
  FIELD ("pubs", g_strdup (g_ascii_dtostr (pubs, sizeof pubs, info->publications_per_s)));
#undef FIELD
  command_fire (self, argv_request (self, REQ_FIRE, SCRIPT_NODE_HEARTBEAT, &argv));
}

static void
redis_list_nodes (CrierBroker          *broker,
                  CrierBrokerNodesFunc  func,
                  gpointer              user_data)
{
  RedisBroker *self = (RedisBroker *) broker;
  char *index = g_strconcat (self->prefix, ".nodes", NULL);
  Request *req;
  Argv argv;

  g_return_if_fail (func != NULL);

  argv_init (&argv, self, SCRIPT_NODE_LIST, index, g_strdup (index));
  argv_take (&argv, g_strconcat (self->prefix, ".node-info.", NULL));
  argv_take (&argv, g_strdup_printf ("%" G_GINT64_FORMAT, now_ms ()));
  req = argv_request (self, REQ_NODES, SCRIPT_NODE_LIST, &argv);
  req->func = func;
  req->user_data = user_data;
  command_send (self, req);
}

static gint64
redis_memory_bytes (CrierBroker *broker)
{
  return -1;
}

static gboolean
redis_is_healthy (CrierBroker *broker)
{
  RedisBroker *self = (RedisBroker *) broker;

  return link_usable (&self->command) && self->pubsub.state == LINK_READY &&
         self->pubsub.ac != NULL && !self->probe_failed;
}

static void
redis_note_gap (CrierBroker *broker,
                const char  *channel)
{
  RedisBroker *self = (RedisBroker *) broker;

  g_return_if_fail (channel != NULL);

  if (self->freeing)
    return;
  /* Flushed from the next tick (or link_ready), never from here: the
   * history read that failed may fail again at once. */
  gap_note (self, channel);
}

static void
redis_free (CrierBroker *broker)
{
  RedisBroker *self = (RedisBroker *) broker;
  g_autoptr(GPtrArray) held = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  self->freeing = TRUE;

  /* Every pending callback runs now, with UNAVAILABLE. */
  link_clear (&self->watch);
  link_clear (&self->pubsub);
  link_clear (&self->command);
  g_assert (g_queue_is_empty (&self->in_flight));

  g_hash_table_iter_init (&iter, self->subs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      ChannelSub *sub = value;

      while (!g_queue_is_empty (&sub->waiting))
        g_ptr_array_add (held, g_queue_pop_head (&sub->waiting));
    }
  for (guint i = 0; i < held->len; i++)
    request_fail_literal (g_ptr_array_index (held, i), CRIER_BROKER_ERROR_UNAVAILABLE,
                          "the Redis broker is shutting down");

  g_hash_table_unref (self->subs);
  g_hash_table_unref (self->pending_gaps);
  g_hash_table_unref (self->presence);
  clear_source (&self->reaper);
  g_ptr_array_unref (self->graveyard);

  address_clear (&self->address);
  for (guint i = 0; i < self->n_sentinels; i++)
    address_clear (&self->sentinels[i]);
  g_free (self->sentinels);
  g_free (self->master_name);
  g_free (self->user);
  g_free (self->password);
  g_free (self->sentinel_password);
  g_free (self->prefix);
  g_free (self->node_name);
  g_free (self->node_id);
  g_free (self->node_channel);
  g_free (self->broadcast_channel);
  g_free (self->channel_prefix);
  for (guint i = 0; i < N_SCRIPTS; i++)
    g_free (self->script_sha[i]);
  g_free (self->run_id);
  g_free (self->last_run_id);
  g_main_context_unref (self->context);
  g_free (self);
}

static const CrierBrokerVTable redis_vtable = {
  .name = "redis",
  .free = redis_free,
  .publish = redis_publish,
  .publish_event = redis_publish_event,
  .history = redis_history,
  .remove_history = redis_remove_history,
  .subscribe = redis_subscribe,
  .unsubscribe = redis_unsubscribe,
  .presence_add = redis_presence_add,
  .presence_remove = redis_presence_remove,
  .presence = redis_presence,
  .presence_stats = redis_presence_stats,
  .tick = redis_tick,
  .memory_bytes = redis_memory_bytes,
  .is_healthy = redis_is_healthy,
  .note_gap = redis_note_gap,
  .node_id = redis_node_id,
  .node_send = redis_node_send,
  .node_heartbeat = redis_node_heartbeat,
  .list_nodes = redis_list_nodes,
};

/* ---- public --------------------------------------------------------------- */

static char *
nonempty_dup (const char *s)
{
  return s != NULL && s[0] != '\0' ? g_strdup (s) : NULL;
}

static gint64
positive_or (gint64 value,
             gint64 fallback)
{
  return value > 0 ? value : fallback;
}

CrierBroker *
crier_broker_redis_new (const CrierRedisOptions *options,
                        CrierBrokerDeliverFunc   deliver,
                        gpointer                 deliver_data,
                        GError                 **error)
{
  gboolean has_address;
  gboolean has_sentinels;
  Address address = { 0 };
  g_autoptr(GArray) sentinels = NULL;
  RedisBroker *self;

  g_return_val_if_fail (options != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (options->tls)
    {
      g_set_error_literal (error, CRIER_BROKER_ERROR, CRIER_BROKER_ERROR_FAILED,
                           "TLS to Redis is not supported: hiredis 0.14 (Debian 12) has no "
                           "TLS; use a Unix socket or a local TLS tunnel such as stunnel");
      return NULL;
    }

  has_address = options->address != NULL && options->address[0] != '\0';
  has_sentinels = options->sentinels != NULL && options->sentinels[0] != NULL;
  if (has_address == has_sentinels)
    {
      g_set_error_literal (error, CRIER_BROKER_ERROR, CRIER_BROKER_ERROR_FAILED,
                           has_address ? "give either a Redis address or sentinels, not both"
                                       : "no Redis address and no sentinels");
      return NULL;
    }
  if (has_sentinels && (options->master_name == NULL || options->master_name[0] == '\0'))
    {
      g_set_error_literal (error, CRIER_BROKER_ERROR, CRIER_BROKER_ERROR_FAILED,
                           "Redis sentinels need the name of the master");
      return NULL;
    }
  if (options->db < 0)
    {
      g_set_error (error, CRIER_BROKER_ERROR, CRIER_BROKER_ERROR_FAILED,
                   "Redis database %d is not valid", options->db);
      return NULL;
    }

  if (has_address && !parse_address (options->address, TRUE, &address, error))
    return NULL;

  sentinels = g_array_new (FALSE, TRUE, sizeof (Address));
  g_array_set_clear_func (sentinels, (GDestroyNotify) address_clear);
  for (guint i = 0; has_sentinels && options->sentinels[i] != NULL; i++)
    {
      Address sentinel = { 0 };

      if (!parse_address (options->sentinels[i], TRUE, &sentinel, error))
        {
          address_clear (&address);
          return NULL;
        }
      g_array_append_val (sentinels, sentinel);
    }

  self = g_new0 (RedisBroker, 1);
  self->parent.vtable = &redis_vtable;
  self->parent.deliver = deliver;
  self->parent.deliver_data = deliver_data;
  self->context = g_main_context_ref_thread_default ();

  self->address = address;
  self->n_sentinels = sentinels->len;
  if (sentinels->len > 0)
    {
      g_array_set_clear_func (sentinels, NULL);
      self->sentinels = (Address *) g_array_free (g_steal_pointer (&sentinels), FALSE);
    }
  self->master_name = nonempty_dup (options->master_name);
  self->user = nonempty_dup (options->user);
  self->password = nonempty_dup (options->password);
  self->sentinel_password = nonempty_dup (options->sentinel_password);
  self->db = options->db;
  self->prefix = nonempty_dup (options->prefix);
  if (self->prefix == NULL)
    self->prefix = g_strdup (DEFAULT_PREFIX);
  self->node_name = nonempty_dup (options->node_name);
  self->connect_timeout_ms = positive_or (options->connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS);
  self->command_timeout_ms = positive_or (options->command_timeout_ms, DEFAULT_COMMAND_TIMEOUT_MS);
  self->reconnect_min_ms = positive_or (options->reconnect_min_ms, DEFAULT_RECONNECT_MIN_MS);
  self->reconnect_max_ms = MAX (positive_or (options->reconnect_max_ms, DEFAULT_RECONNECT_MAX_MS),
                                self->reconnect_min_ms);
  self->presence_ttl_ms = positive_or (options->presence_ttl_ms, DEFAULT_PRESENCE_TTL_MS);
  self->probe_interval_ms = positive_or (options->probe_interval_ms, DEFAULT_PROBE_INTERVAL_MS);
  self->probe_timeout_ms = positive_or (options->probe_timeout_ms, DEFAULT_PROBE_TIMEOUT_MS);
  self->max_in_flight = options->max_in_flight > 0 ? options->max_in_flight : DEFAULT_MAX_IN_FLIGHT;

  self->node_id = crier_random_id (8);
  self->node_channel = g_strconcat (self->prefix, ".node.", self->node_id, NULL);
  self->broadcast_channel = g_strconcat (self->prefix, ".broadcast", NULL);
  self->channel_prefix = g_strconcat (self->prefix, ".ch.", NULL);
  self->channel_prefix_len = strlen (self->channel_prefix);
  for (guint i = 0; i < N_SCRIPTS; i++)
    self->script_sha[i] = g_compute_checksum_for_string (G_CHECKSUM_SHA1, script_sources[i], -1);

  g_queue_init (&self->in_flight);
  self->subs = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, channel_sub_free);
  self->pending_gaps = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->presence = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify) g_hash_table_unref);
  self->graveyard = g_ptr_array_new_with_free_func (destroy_source);
  self->rtt_us = -1;

  link_init (self, &self->command, LINK_COMMAND, "command");
  link_init (self, &self->pubsub, LINK_PUBSUB, "pub/sub");
  link_init (self, &self->watch, LINK_WATCH, "sentinel watch");

  g_debug ("redis broker: node %s%s%s", self->node_id,
           self->node_name != NULL ? " " : "", self->node_name != NULL ? self->node_name : "");
  link_start (&self->command);
  link_start (&self->pubsub);
  if (self->n_sentinels > 0)
    link_start (&self->watch);

  return &self->parent;
}

static RedisBroker *
redis_broker (CrierBroker *broker)
{
  g_return_val_if_fail (broker != NULL && broker->vtable == &redis_vtable, NULL);

  return (RedisBroker *) broker;
}

gint64
crier_broker_redis_get_rtt_us (CrierBroker *broker)
{
  RedisBroker *self = redis_broker (broker);

  if (self == NULL)
    return -1;
  if (self->probe_outstanding)
    {
      gint64 waited = g_get_monotonic_time () - self->probe_sent_us;

      if (waited > self->rtt_us)
        return waited;
    }
  return self->rtt_us;
}

guint64
crier_broker_redis_get_probe_failures (CrierBroker *broker)
{
  RedisBroker *self = redis_broker (broker);

  return self != NULL ? self->stats.probe_failures : 0;
}

void
crier_broker_redis_get_stats (CrierBroker     *broker,
                              CrierRedisStats *stats)
{
  RedisBroker *self = redis_broker (broker);
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (stats != NULL);
  if (self == NULL)
    return;

  *stats = self->stats;
  stats->command_connected = link_usable (&self->command);
  stats->pubsub_connected = self->pubsub.state == LINK_READY;
  stats->rtt_us = crier_broker_redis_get_rtt_us (broker);
  stats->in_flight = self->in_flight.length;
  stats->channels = 0;
  g_hash_table_iter_init (&iter, self->subs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((ChannelSub *) value)->refs > 0)
      stats->channels++;
}

const char *
crier_broker_redis_get_server (CrierBroker *broker)
{
  RedisBroker *self = redis_broker (broker);

  return self != NULL ? self->command.server : NULL;
}
