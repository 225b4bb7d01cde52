/* crier-broker.h: where offsets, history and presence live.
 *
 * The hub talks to one broker through this interface. The memory broker
 * (crier-broker-memory.c, the default) keeps everything in this process;
 * the Redis broker (crier-broker-redis.c) shares it between nodes. Calls are
 * asynchronous (callbacks) so that Redis fits; the memory broker answers
 * before the call returns.
 *
 * Publish: the broker assigns the channel's next offset and epoch in one
 * place, appends to the bounded history (count, bytes, TTL) and then hands
 * the publication to the deliver function (on every node that subscribed
 * to the channel, this one included) before calling the publish callback.
 */
#pragma once

#include <glib.h>

#include "crier-publication.h"

G_BEGIN_DECLS

#define CRIER_BROKER_ERROR (crier_broker_error_quark ())

typedef enum
{
  CRIER_BROKER_ERROR_UNAVAILABLE,   /* broker down: fail fast */
  CRIER_BROKER_ERROR_FAILED,
} CrierBrokerError;

typedef struct _CrierBroker CrierBroker;

typedef struct
{
  gint64 size;        /* publications kept; 0 = no history, no offsets */
  gint64 ttl_ms;      /* history entries expire after this */
  gint64 max_bytes;   /* bytes of history per channel */
  gint64 meta_ttl_ms; /* the stream position (offset+epoch) outlives history this long */
} CrierHistoryOptions;

/* As Centrifuge reads a stream: without since, the oldest @limit kept
 * publications (reverse: the newest @limit, newest first); with since,
 * those with offset > since_offset, oldest first (reverse: offset <
 * since_offset, newest first; the protocol answers 107 to reverse with
 * since offset 0). */
typedef struct
{
  gboolean has_since;
  guint64  since_offset;    /* publications with offset > since_offset */
  gint64   limit;           /* 0 = position only, -1 = all (callers cap) */
  gboolean reverse;         /* newest first */
} CrierHistoryQuery;

typedef struct
{
  GPtrArray  *publications; /* CrierPublication*, transfer none */
  guint64     offset;       /* current top offset */
  const char *epoch;        /* current epoch ("" when the channel never had one) */
} CrierHistoryResult;

typedef struct
{
  char *client;
  char *user;
  char *conn_info;          /* JSON or NULL */
  char *chan_info;          /* JSON or NULL */
} CrierPresenceEntry;

CrierPresenceEntry *crier_presence_entry_copy (const CrierPresenceEntry *entry);
void                crier_presence_entry_free (CrierPresenceEntry       *entry);

/* @pub has its offset and epoch set; NULL with @error on failure. */
typedef void (*CrierBrokerPublishFunc)  (CrierPublication         *pub,
                                         const GError             *error,
                                         gpointer                  user_data);
typedef void (*CrierBrokerHistoryFunc)  (const CrierHistoryResult *result,
                                         const GError             *error,
                                         gpointer                  user_data);
/* @entries: CrierPresenceEntry*, transfer none */
typedef void (*CrierBrokerPresenceFunc) (GPtrArray                *entries,
                                         const GError             *error,
                                         gpointer                  user_data);
typedef void (*CrierBrokerStatsFunc)    (guint                     num_clients,
                                         guint                     num_users,
                                         const GError             *error,
                                         gpointer                  user_data);
/* Every publication (and join/leave event) of a channel this node
 * subscribed to, from this node or another. */
typedef void (*CrierBrokerDeliverFunc)  (CrierPublication         *pub,
                                         gpointer                  user_data);
/* Publications of @channel may have been missed on this node: the
 * broker's subscription was lost and restored (Redis reconnect), or a
 * publication arrived whose offset is not the last one + 1 or whose epoch
 * changed.  The owner closes the gap from history or tells the clients. */
typedef void (*CrierBrokerGapFunc)      (CrierBroker              *broker,
                                         const char               *channel,
                                         gpointer                  user_data);

/* ---- cluster: node registry and node messages (optional) -----------------
 *
 * Brokers shared by several nodes (Redis) let each node publish a
 * heartbeat with its stats into a registry that expires when the node
 * stops, and send messages to one node or to all of them.  The memory
 * broker leaves these vtable entries NULL: one node, nothing to reach. */
typedef struct
{
  char    *id;                  /* the broker's node id (random per start) */
  char    *name;                /* [server] node_name */
  char    *address;             /* first listener, "host:port" */
  char    *version;
  gint64   uptime;              /* s */
  gint64   updated_at;          /* Unix ms of the heartbeat */
  guint64  connections;
  guint64  sessions;
  guint64  channels;
  double   publications_per_s;
} CrierNodeInfo;

CrierNodeInfo *crier_node_info_copy (const CrierNodeInfo *info);
void           crier_node_info_free (CrierNodeInfo       *info);

/* @nodes: CrierNodeInfo*, transfer none, this node included when it
 * registered. */
typedef void (*CrierBrokerNodesFunc)       (GPtrArray                *nodes,
                                            const GError             *error,
                                            gpointer                  user_data);
/* A message sent to this node (or to every node) by node @from. */
typedef void (*CrierBrokerNodeMessageFunc) (CrierBroker              *broker,
                                            const char               *from,
                                            const char               *kind,
                                            const char               *data,
                                            gsize                     len,
                                            gpointer                  user_data);

typedef struct
{
  const char *name;
  void (*free)            (CrierBroker               *broker);
  void (*publish)         (CrierBroker               *broker,
                           CrierPublication          *pub,
                           const CrierHistoryOptions *history,
                           CrierBrokerPublishFunc     func,
                           gpointer                   user_data);
  /* Join/leave events: delivered to subscribers, never stored. */
  void (*publish_event)   (CrierBroker               *broker,
                           CrierPublication          *event);
  void (*history)         (CrierBroker               *broker,
                           const char                *channel,
                           const CrierHistoryOptions *history,
                           const CrierHistoryQuery   *query,
                           CrierBrokerHistoryFunc     func,
                           gpointer                   user_data);
  /* Drops the publications; the stream keeps its position and epoch. */
  void (*remove_history)  (CrierBroker               *broker,
                           const char                *channel);
  void (*subscribe)       (CrierBroker               *broker,
                           const char                *channel);
  void (*unsubscribe)     (CrierBroker               *broker,
                           const char                *channel);
  void (*presence_add)    (CrierBroker               *broker,
                           const char                *channel,
                           const CrierPresenceEntry  *entry);
  void (*presence_remove) (CrierBroker               *broker,
                           const char                *channel,
                           const char                *client);
  void (*presence)        (CrierBroker               *broker,
                           const char                *channel,
                           CrierBrokerPresenceFunc    func,
                           gpointer                   user_data);
  void (*presence_stats)  (CrierBroker               *broker,
                           const char                *channel,
                           CrierBrokerStatsFunc       func,
                           gpointer                   user_data);
  /* Periodic housekeeping (TTL expiry), called from the server tick with
   * the wall clock in milliseconds. */
  void (*tick)            (CrierBroker               *broker,
                           gint64                     now_ms);
  /* History bytes held (memory broker) for metrics; -1 if unknown. */
  gint64 (*memory_bytes)  (CrierBroker               *broker);
  gboolean (*is_healthy)  (CrierBroker               *broker);
  /* Optional: the owner could not close a gap reported through the gap
   * function (its history read failed): report @channel again later. */
  void (*note_gap)        (CrierBroker               *broker,
                           const char                *channel);

  /* Cluster (optional, NULL in the memory broker). */
  /* This node's id in the registry and for node messages. */
  const char *(*node_id)  (CrierBroker               *broker);
  /* @kind: a word without spaces; @to NULL sends to every other node.
   * FALSE when it cannot be sent now (broker down). Delivery is at most
   * once, in order between two nodes. */
  gboolean (*node_send)   (CrierBroker               *broker,
                           const char                *to,
                           const char                *kind,
                           const char                *data,
                           gsize                      len);
  /* Writes @info (its id is ignored: the broker's own) into the registry,
   * to expire after @ttl_ms unless written again. */
  void (*node_heartbeat)  (CrierBroker               *broker,
                           const CrierNodeInfo       *info,
                           gint64                     ttl_ms);
  void (*list_nodes)      (CrierBroker               *broker,
                           CrierBrokerNodesFunc       func,
                           gpointer                   user_data);
} CrierBrokerVTable;

struct _CrierBroker
{
  const CrierBrokerVTable *vtable;
  CrierBrokerDeliverFunc   deliver;
  gpointer                 deliver_data;
  /* Optional, set by the owner (NULL: not told).  Brokers that cannot lose
   * publications (memory) never call it. */
  CrierBrokerGapFunc       gap;
  gpointer                 gap_data;
  /* Optional, set by the owner: messages from other nodes. */
  CrierBrokerNodeMessageFunc node_message;
  gpointer                 node_message_data;
};

GQuark       crier_broker_error_quark  (void);

/* The in-process broker. @deliver receives every publication. */
CrierBroker *crier_broker_memory_new   (CrierBrokerDeliverFunc deliver,
                                        gpointer               deliver_data);
void         crier_broker_free         (CrierBroker           *broker);

/* Test hook (memory broker only): forget a channel's stream so the next
 * publish starts a new epoch, as after a restart. */
void         crier_broker_memory_reset_stream (CrierBroker    *broker,
                                               const char     *channel);

/* The memory broker's clock for history and stream TTLs: wall clock
 * milliseconds (the same clock as the now_ms given to tick).  Tests inject
 * their own; NULL restores g_get_real_time () / 1000. */
typedef gint64 (*CrierBrokerClockFunc) (gpointer user_data);

void         crier_broker_memory_set_clock    (CrierBroker         *broker,
                                               CrierBrokerClockFunc func,
                                               gpointer             user_data);

/* ---- Redis broker (crier-broker-redis.c) ----------------------------------
 *
 * Offsets, history and presence in Redis, shared by every node that uses
 * the same server and key prefix; fan-out between nodes over PUB/SUB.
 * Two connections (commands; PUB/SUB) driven by hiredis 0.14's async API on
 * the thread-default main context, reconnecting with backoff and jitter.
 * Publish runs one Lua script (offset, epoch, history, TTLs and PUBLISH at
 * once); the deliver function runs when the message comes back over
 * PUB/SUB, on every node, this one included, so it may run before or after
 * the publish callback.  While the command connection is down, or too many
 * commands are in flight, calls fail at once with
 * CRIER_BROKER_ERROR_UNAVAILABLE.  tick() drives the command timeout, the
 * round-trip probe and the presence refresh: call it about once a second.
 * Callbacks still pending when the broker is freed run from
 * crier_broker_free() with CRIER_BROKER_ERROR_UNAVAILABLE.
 *
 * TLS is not available: hiredis 0.14 (Debian 12) has none.  Reach a remote
 * Redis through a Unix socket or a local TLS tunnel (stunnel, spiped). */
typedef struct
{
  const char         *address;           /* "host:port", "[ipv6]:port",
                                          * "unix:/path" or "/path"; NULL or
                                          * "" when @sentinels is set */
  const char         *user;              /* ACL user (AUTH user password); NULL = default */
  const char         *password;          /* NULL or "" = no AUTH */
  gint                db;                /* SELECT; 0 = default */
  const char         *prefix;            /* key and channel prefix; NULL = "crier" */
  const char * const *sentinels;         /* NULL-terminated "host:port" list, or NULL */
  const char         *master_name;       /* required with @sentinels */
  const char         *sentinel_password; /* AUTH for the sentinels; NULL = none */
  gboolean            tls;               /* must be FALSE (refused with an error) */
  const char         *node_name;         /* for logs; NULL = none */
  gint64              connect_timeout_ms; /* connect + handshake; 0 = 2 s */
  gint64              command_timeout_ms; /* oldest unanswered command; 0 = 5 s */
  gint64              reconnect_min_ms;  /* backoff; 0 = 100 ms */
  gint64              reconnect_max_ms;  /* 0 = 5 s */
  gint64              presence_ttl_ms;   /* entries of a dead node go after this; 0 = 60 s */
  gint64              probe_interval_ms; /* self-publish probe; 0 = 2 s */
  gint64              probe_timeout_ms;  /* probe counted as failed; 0 = 2 s */
  guint               max_in_flight;     /* commands awaiting replies; 0 = 10000 */
} CrierRedisOptions;

typedef struct
{
  gboolean command_connected;  /* command connection ready */
  gboolean pubsub_connected;   /* PUB/SUB connection ready, subscriptions confirmed */
  gint64   rtt_us;             /* as crier_broker_redis_get_rtt_us */
  guint64  probes;             /* probes that came back */
  guint64  probe_failures;     /* probes not back within probe_timeout_ms */
  guint64  connects;           /* successful connects, every connection */
  guint64  disconnects;        /* lost or dropped connections */
  guint64  gaps;               /* gap notifications */
  guint64  rejected;           /* calls refused: down or too many in flight */
  guint64  dropped;            /* fire-and-forget commands not sent */
  guint    in_flight;          /* commands awaiting replies */
  guint    channels;           /* channels subscribed on this node */
} CrierRedisStats;

/* Starts connecting and returns at once; NULL with @error only for bad
 * options (address syntax, TLS, sentinels without a master name). */
CrierBroker *crier_broker_redis_new        (const CrierRedisOptions *options,
                                            CrierBrokerDeliverFunc   deliver,
                                            gpointer                 deliver_data,
                                            GError                 **error);
/* Round trip of the self-publish probe (command connection -> Redis ->
 * PUB/SUB connection) in µs: the last one measured, or how long the
 * outstanding probe has waited when that is longer; -1 before the first. */
gint64       crier_broker_redis_get_rtt_us (CrierBroker             *broker);
guint64      crier_broker_redis_get_probe_failures (CrierBroker     *broker);
void         crier_broker_redis_get_stats  (CrierBroker             *broker,
                                            CrierRedisStats         *stats);
/* "host:port" or the socket path of the server the command connection
 * uses (or last used); NULL before the first connect.  Owned by the
 * broker, valid until the next connection attempt. */
const char  *crier_broker_redis_get_server (CrierBroker             *broker);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierPresenceEntry, crier_presence_entry_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierNodeInfo, crier_node_info_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierBroker, crier_broker_free)

G_END_DECLS
