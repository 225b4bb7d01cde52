/* crier-admin.c: admin listeners and the admin protocol (see the header).
 *
 * Key functions: crier_admin_start (open_unix_socket: 0700 directory,
 * 0600 socket, stale-socket check; open_tcp_socket), authorize (peer uid
 * or bearer token, for every request), handle_admin (WebSocket upgrade
 * onto the engine), on_message -> dispatch (one function per request
 * type), crier_admin_tick (metrics sample, stats fan-out, session diff).
 *
 * Requests that need the broker (broadcast, list_channels, inspect_channel)
 * gather their callbacks in a Pending that replies when the last one has
 * come; the client is refcounted so a reply to a client that left is
 * dropped.  Session events come from a diff of the session registry taken
 * once per second while someone watches them (at most 1000 events of each
 * kind per second, then a sessions_resync event).
 */
#include "config.h"

#include "crier-admin.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "crier-admin-protocol.h"
#include "crier-cluster.h"
#include "crier-hub.h"
#include "crier-listener.h"
#include "crier-proto-centrifuge.h"
#include "crier-server.h"
#include "crier-transport-ws.h"
#include "crier-util.h"

#define ADMIN_PING_INTERVAL_MS   30000
#define ADMIN_PONG_TIMEOUT_MS    10000
#define SESSION_EVENTS_PER_TICK  1000
#define RATE_WINDOW_MS           60000    /* publish rate: publications of the last minute */
#define RATE_SAMPLE_LIMIT        100      /* ... read from at most this many of history */
#define INSPECT_LIST_LIMIT       1000     /* sessions and presence entries in inspect_channel */
#define REFUSAL_LOG_INTERVAL_US  (10 * G_USEC_PER_SEC)
#define TLS_HANDSHAKE_TIMEOUT_S  10
/* On the remote address handed to libsoup for a Unix peer: its uid + 1. */
#define PEER_UID_KEY             "crier-admin-peer-uid"

typedef struct
{
  gint        ref_count;
  CrierAdmin *admin;       /* NULL once the admin is gone */
  CrierWs    *ws;          /* NULL once closed */
  char       *peer;
  gboolean    watch_stats;
  gboolean    watch_sessions;
  gboolean    watch_alerts;
  gboolean    opened;      /* the upgrade completed (on_open ran) */
  gboolean    abandoned;   /* the upgrade never completed */
} AdminClient;

typedef struct
{
  CrierAdmin     *admin;       /* NULL once the admin is gone */
  GIOStream      *tls;         /* GTlsServerConnection over the socket */
  GSocketAddress *local;
  GSocketAddress *remote;
  GCancellable   *cancellable;
  guint           timeout_id;
} AdminHandshake;

typedef struct
{
  char       *user;
  const char *transport;   /* the session class's static string */
  char       *remote;
} KnownSession;

typedef enum
{
  TCP_READING,    /* a request (or the TLS handshake) is on its way */
  TCP_HANDLING,   /* the whole request arrived */
  TCP_IDLE,       /* between keep-alive requests: the next head is due */
  TCP_DOOMED,     /* shut down by the sweep, not yet gone */
} TcpState;

/* One connection accepted on the TCP listener, from accept until it is
 * closed (by libsoup, or by the engine once it is an admin WebSocket):
 * the [admin] max_connections cap counts these, and the sweep in
 * crier_admin_tick bounds their time to send a request. */
typedef struct
{
  CrierConnToken     token;     /* first: crier_engine_adopt() takes it over */
  CrierAdmin        *admin;     /* NULL once the admin is gone */
  GSocketConnection *conn;      /* borrowed (we are its object data); HTTP phase only */
  GSocketAddress    *remote;    /* key in tcp_http while in the HTTP phase */
  char              *host;
  TcpState           state;
  gint64             since_us;  /* monotonic, start of the state */
} TcpConn;

struct _CrierAdmin
{
  CrierServer           *server;
  const CrierConfig     *config;
  CrierEngine           *engine;
  CrierHub              *hub;
  SoupServer            *soup;
  SoupServer            *client_soup;     /* set when /metrics is on the client listeners */
  CrierMetrics          *metrics;
  CrierWsOptions         ws_options;

  GSocketService        *service;         /* accepts on the Unix and TCP sockets */
  GTlsCertificate       *tls;             /* [tls] admin for TCP; NULL: plain */
  GPtrArray             *handshakes;      /* AdminHandshake*, TLS in progress */
  char                  *socket_path;     /* ours, listening; NULL if none */
  dev_t                  socket_dev;
  ino_t                  socket_ino;
  guint16                tcp_port;

  GPtrArray             *clients;         /* AdminClient*, open ones */
  CrierMetricsAdminUsage closed_usage;    /* what closed admin connections did */
  GHashTable            *known_sessions;  /* id -> KnownSession*, while watched */

  gint64                 last_refusal_log;
  guint                  refusals_unlogged;

  GHashTable            *tcp_conns;       /* TcpConn* set: every open TCP connection */
  GHashTable            *tcp_http;        /* remote GSocketAddress -> TcpConn*, HTTP phase */
  CrierAdminTcpStats     tcp_stats;
};

/* ---- small helpers ------------------------------------------------------- */

gboolean
crier_admin_peer_uid_allowed (uid_t peer,
                              uid_t self)
{
  return peer == self || peer == 0;
}

gboolean
crier_admin_check_bearer (const char *authorization,
                          const char *token)
{
  const char *given;

  if (authorization == NULL || token == NULL || token[0] == '\0')
    return FALSE;
  if (g_ascii_strncasecmp (authorization, "Bearer ", 7) != 0)
    return FALSE;
  given = authorization + 7;
  while (*given == ' ')
    given++;
  return crier_const_time_equal (given, strlen (given), token, strlen (token));
}

static AdminClient *
client_ref (AdminClient *client)
{
  client->ref_count++;
  return client;
}

static void
client_unref (AdminClient *client)
{
  if (--client->ref_count > 0)
    return;
  g_free (client->peer);
  g_free (client);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AdminClient, client_unref)

static void
known_session_free (KnownSession *k)
{
  g_free (k->user);
  g_free (k->remote);
  g_free (k);
}

static void
send_text (AdminClient *client,
           char        *text)   /* takes ownership */
{
  if (client->ws != NULL)
    crier_ws_send_text (client->ws, text, strlen (text));
  g_free (text);
}

static void
reply (AdminClient *client,
       gint64       id,
       JsonNode    *result)     /* takes ownership */
{
  send_text (client, crier_admin_reply_encode (id, result));
  if (result != NULL)
    json_node_unref (result);
}

static void G_GNUC_PRINTF (4, 5)
reply_error (AdminClient     *client,
             gint64           id,
             CrierAdminError  code,
             const char      *format,
             ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  send_text (client, crier_admin_error_encode (id, code, message));
}

static JsonNode *
node_take_object (JsonObject *o)
{
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (node, o);
  return node;
}

/* A raw JSON text (conn_info, ...) as a node, or null when it is not JSON. */
static JsonNode *
raw_json_node (const char *text)
{
  g_autoptr(JsonParser) parser = NULL;

  if (text == NULL)
    return json_node_new (JSON_NODE_NULL);
  parser = json_parser_new_immutable ();
  if (!crier_json_single_value (text, -1) ||
      !json_parser_load_from_data (parser, text, -1, NULL) || json_parser_get_root (parser) == NULL)
    return json_node_new (JSON_NODE_NULL);
  return json_node_copy (json_parser_get_root (parser));
}

static gboolean
substring_match (const char *haystack,
                 const char *needle)
{
  return needle == NULL || (haystack != NULL && strstr (haystack, needle) != NULL);
}

/* ---- sessions: snapshots ------------------------------------------------- */

typedef struct
{
  GHashTable *by_remote;   /* remote -> CrierConn* */
  CrierAdmin *admin;
} ConnMap;

static gboolean
conn_is_admin (CrierAdmin *self,
               CrierConn  *conn)
{
  for (guint i = 0; i < self->clients->len; i++)
    {
      AdminClient *c = g_ptr_array_index (self->clients, i);

      if (c->ws != NULL && c->ws->conn == conn)
        return TRUE;
    }
  return FALSE;
}

static void
map_conn (CrierConn *conn,
          gpointer   user_data)
{
  ConnMap *map = user_data;

  if (conn->remote != NULL && !conn_is_admin (map->admin, conn))
    g_hash_table_insert (map->by_remote, conn->remote, conn);
}

/* Engine connections by remote address: sessions carry the address of
 * their connection, which is how their byte counters are found. */
static GHashTable *
conns_by_remote (CrierAdmin *self)
{
  ConnMap map = { g_hash_table_new (g_str_hash, g_str_equal), self };

  crier_engine_foreach (self->engine, map_conn, &map);
  return map.by_remote;
}

static void
fill_session_info (CrierAdminSessionInfo *info,
                   CrierSession          *s,
                   GHashTable            *conns)
{
  CrierConn *conn = conns != NULL && s->remote != NULL ? g_hash_table_lookup (conns, s->remote) : NULL;

  info->id = s->id;
  info->user = s->user;
  info->transport = (char *) s->transport_name;
  info->remote = s->remote;
  info->user_agent = s->user_agent;
  info->connected_at = s->connected_at / 1000;
  info->expire_at = s->expire_at;
  info->subscriptions = g_hash_table_size (s->subscriptions);
  info->pubs_out = s->pubs_out;
  info->commands_in = s->commands_in;
  info->bytes_in = conn != NULL ? (gint64) conn->bytes_in : -1;
  info->bytes_out = conn != NULL ? (gint64) conn->bytes_out : -1;
  info->queued_bytes = conn != NULL ? (gint64) conn->queued_bytes : -1;
  info->last_activity_at = 0;
  info->ping_rtt_ms = NAN;
  if (conn != NULL)
    {
      CrierCfClient *cf = crier_cf_client_from_session (s);
      CrierWs *ws = crier_ws_from_conn (conn);
      gint64 rtt_us = cf != NULL ? crier_cf_client_get_rtt_us (cf) : -1;
      gint64 idle_ms = g_get_monotonic_time () / 1000 - conn->last_read_ms;

      /* last_read_ms is monotonic: carry the idle time over to the wall clock. */
      info->last_activity_at = g_get_real_time () / 1000 - MAX (idle_ms, 0);
      /* The protocol's pong first (bidirectional Centrifugo), else the
       * WebSocket's own pings (unidirectional and plain WebSocket). */
      if (rtt_us < 0 && ws != NULL)
        rtt_us = ws->rtt_us;
      if (rtt_us >= 0)
        info->ping_rtt_ms = rtt_us / 1000.0;
    }
}

static JsonNode *
session_to_json (CrierSession *s,
                 GHashTable   *conns)
{
  CrierAdminSessionInfo info = { 0 };

  fill_session_info (&info, s, conns);
  return crier_admin_session_info_to_json (&info);   /* borrowed strings */
}

typedef struct
{
  const CrierAdminRequest *req;
  GPtrArray               *matches;
  GHashTable              *conns;
} SessionQuery;

static gboolean
subscribed_to_match (CrierSession *s,
                     const char   *channel)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, s->subscriptions);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (strstr (key, channel) != NULL)
      return TRUE;
  return FALSE;
}

static void
collect_session (gpointer key,
                 gpointer value,
                 gpointer user_data)
{
  SessionQuery *q = user_data;
  CrierSession *s = value;

  if (!substring_match (s->user, q->req->user) ||
      !substring_match (s->transport_name, q->req->transport) ||
      !substring_match (s->remote, q->req->remote) ||
      (q->req->channel != NULL && !subscribed_to_match (s, q->req->channel)))
    return;
  g_ptr_array_add (q->matches, s);
}

static gint64
session_bytes (CrierSession *s,
               GHashTable   *conns)
{
  CrierConn *conn = s->remote != NULL ? g_hash_table_lookup (conns, s->remote) : NULL;

  return conn != NULL ? (gint64) conn->bytes_out : -1;
}

typedef struct
{
  CrierAdminSort  key;
  gboolean        descending;
  GHashTable     *conns;   /* sessions */
  CrierHub       *hub;     /* channels */
} SortSpec;

static int
compare_sessions (gconstpointer a,
                  gconstpointer b,
                  gpointer      user_data)
{
  const SortSpec *spec = user_data;
  CrierSession *x = *(CrierSession * const *) a;
  CrierSession *y = *(CrierSession * const *) b;
  int r = 0;

  switch (spec->key)
    {
    case CRIER_ADMIN_SORT_USER:
      r = g_strcmp0 (x->user, y->user);
      break;
    case CRIER_ADMIN_SORT_TRANSPORT:
      r = g_strcmp0 (x->transport_name, y->transport_name);
      break;
    case CRIER_ADMIN_SORT_BYTES:
      {
        gint64 bx = session_bytes (x, spec->conns);
        gint64 by = session_bytes (y, spec->conns);

        r = bx < by ? -1 : bx > by;
      }
      break;
    case CRIER_ADMIN_SORT_DEFAULT:
    case CRIER_ADMIN_SORT_CONNECTED_AT:
    case CRIER_ADMIN_SORT_NAME:
    case CRIER_ADMIN_SORT_SUBSCRIBERS:
    default:
      r = x->connected_at < y->connected_at ? -1 : x->connected_at > y->connected_at;
      break;
    }
  /* Ties by id, so pages never overlap. */
  if (r == 0)
    r = g_strcmp0 (x->id, y->id);
  return spec->descending ? -r : r;
}

static void
do_list_sessions (CrierAdmin              *self,
                  AdminClient             *client,
                  const CrierAdminRequest *req)
{
  g_autoptr(GPtrArray) matches = g_ptr_array_new ();
  g_autoptr(GHashTable) conns = conns_by_remote (self);
  SessionQuery q = { req, matches, conns };
  SortSpec spec = { req->sort, req->descending, conns, NULL };
  JsonObject *o = json_object_new ();
  JsonArray *list = json_array_new ();
  guint64 start = (guint64) (req->page - 1) * req->page_size;

  crier_hub_foreach_session (self->hub, collect_session, &q);

  g_ptr_array_sort_with_data (matches, compare_sessions, &spec);

  for (guint64 i = start; i < matches->len && i < start + req->page_size; i++)
    json_array_add_element (list, session_to_json (g_ptr_array_index (matches, i), conns));

  json_object_set_int_member (o, "total", matches->len);
  json_object_set_int_member (o, "page", req->page);
  json_object_set_int_member (o, "page_size", req->page_size);
  json_object_set_int_member (o, "pages", (matches->len + req->page_size - 1) / req->page_size);
  json_object_set_array_member (o, "sessions", list);
  reply (client, req->id, node_take_object (o));
}

static int
compare_subscriptions (gconstpointer a,
                       gconstpointer b)
{
  const CrierSubscription *x = *(CrierSubscription * const *) a;
  const CrierSubscription *y = *(CrierSubscription * const *) b;

  return g_strcmp0 (x->channel, y->channel);
}

static void
do_inspect_session (CrierAdmin              *self,
                    AdminClient             *client,
                    const CrierAdminRequest *req)
{
  CrierSession *s = crier_hub_lookup_session (self->hub, req->session);
  g_autoptr(GHashTable) conns = NULL;
  g_autoptr(GPtrArray) subs = NULL;
  JsonNode *node;
  JsonObject *o;
  JsonArray *channels;
  GHashTableIter iter;
  gpointer value;

  if (s == NULL)
    {
      reply_error (client, req->id, CRIER_ADMIN_ERROR_NOT_FOUND, "no session %s", req->session);
      return;
    }

  conns = conns_by_remote (self);
  node = session_to_json (s, conns);
  o = json_node_get_object (node);
  json_object_set_member (o, "conn_info", raw_json_node (s->conn_info));

  subs = g_ptr_array_new ();
  g_hash_table_iter_init (&iter, s->subscriptions);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (subs, value);
  g_ptr_array_sort (subs, compare_subscriptions);

  channels = json_array_new ();
  for (guint i = 0; i < subs->len; i++)
    {
      CrierSubscription *sub = g_ptr_array_index (subs, i);
      JsonObject *c = json_object_new ();

      json_object_set_string_member (c, "channel", sub->channel);
      json_object_set_int_member (c, "offset", (gint64) sub->offset);
      if (sub->epoch != NULL && sub->epoch[0] != '\0')
        json_object_set_string_member (c, "epoch", sub->epoch);
      else
        json_object_set_null_member (c, "epoch");
      json_object_set_boolean_member (c, "positioned", sub->positioned);
      json_object_set_boolean_member (c, "recoverable", sub->recoverable);
      json_object_set_boolean_member (c, "join_leave", sub->join_leave);
      json_object_set_boolean_member (c, "server_side", sub->server_side);
      json_object_set_boolean_member (c, "recovering", sub->recovering);
      json_object_set_int_member (c, "expire_at", sub->expire_at);
      json_object_set_member (c, "chan_info", raw_json_node (sub->chan_info));
      json_array_add_object_element (channels, c);
    }
  json_object_set_array_member (o, "channels", channels);
  reply (client, req->id, node);
}

/* ---- kick, unsubscribe ---------------------------------------------------- */

static void
do_kick (CrierAdmin              *self,
         AdminClient             *client,
         const CrierAdminRequest *req)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  guint code = req->code != 0 ? req->code
                              : req->reconnect ? CRIER_ADMIN_KICK_RECONNECT_CODE
                                               : CRIER_ADMIN_KICK_TERMINAL_CODE;
  const char *reason = req->reason != NULL ? req->reason
                                           : req->reconnect ? "force reconnect" : "force disconnect";
  guint kicked = 0;
  JsonObject *o;

  if (req->session != NULL)
    {
      if (crier_hub_lookup_session (self->hub, req->session) == NULL)
        {
          reply_error (client, req->id, CRIER_ADMIN_ERROR_NOT_FOUND, "no session %s", req->session);
          return;
        }
      g_ptr_array_add (ids, g_strdup (req->session));
    }
  else
    {
      g_autoptr(GPtrArray) sessions = crier_hub_sessions_of_user (self->hub, req->user);

      for (guint i = 0; i < sessions->len; i++)
        g_ptr_array_add (ids, g_strdup (((CrierSession *) g_ptr_array_index (sessions, i))->id));
    }

  /* Looked up again one by one: a disconnect may free a session at once. */
  for (guint i = 0; i < ids->len; i++)
    {
      CrierSession *s = crier_hub_lookup_session (self->hub, g_ptr_array_index (ids, i));

      if (s == NULL)
        continue;
      g_message ("admin %s: kick session %s (user '%s') with %u %s", client->peer, s->id, s->user,
                 code, reason);
      s->klass->disconnect (s, code, reason);
      kicked++;
    }

  /* Kick by user reaches the user's sessions on every node. */
  if (req->session == NULL && req->user != NULL &&
      !crier_cluster_disconnect_remote (crier_server_get_cluster (self->server), req->user, NULL,
                                        NULL, code, reason))
    g_warning ("admin %s: kick of user '%s' did not reach the other nodes: broker unavailable",
               client->peer, req->user);

  o = json_object_new ();
  json_object_set_int_member (o, "kicked", kicked);
  json_object_set_int_member (o, "code", code);
  json_object_set_string_member (o, "reason", reason);
  json_object_set_boolean_member (o, "reconnect", crier_admin_code_reconnects (code));
  reply (client, req->id, node_take_object (o));
}

static void
do_unsubscribe (CrierAdmin              *self,
                AdminClient             *client,
                const CrierAdminRequest *req)
{
  CrierSession *s = crier_hub_lookup_session (self->hub, req->session);
  JsonObject *o;

  if (s == NULL)
    {
      reply_error (client, req->id, CRIER_ADMIN_ERROR_NOT_FOUND, "no session %s", req->session);
      return;
    }
  if (!crier_hub_unsubscribe_push (self->hub, s, req->channel, 2000, "server unsubscribe"))
    {
      reply_error (client, req->id, CRIER_ADMIN_ERROR_NOT_FOUND,
                   "session %s is not subscribed to %s", req->session, req->channel);
      return;
    }
  g_message ("admin %s: unsubscribed session %s from %s", client->peer, req->session, req->channel);
  o = json_object_new ();
  json_object_set_boolean_member (o, "unsubscribed", TRUE);
  reply (client, req->id, node_take_object (o));
}

/* ---- requests that wait for the broker ------------------------------------ */

/* Replies once every callback it waits for has come back. */
typedef struct
{
  AdminClient *client;
  gint64       id;
  guint        waiting;   /* outstanding callbacks + 1 while issuing */
  JsonObject  *result;
  void       (*finish) (gpointer pending);
} Pending;

static void
pending_init (Pending     *p,
              AdminClient *client,
              gint64       id)
{
  p->client = client_ref (client);
  p->id = id;
  p->waiting = 1;
  p->result = json_object_new ();
}

static void
pending_done (Pending *p)
{
  if (--p->waiting > 0)
    return;
  if (p->finish != NULL)
    p->finish (p);
  reply (p->client, p->id, node_take_object (g_steal_pointer (&p->result)));
  client_unref (p->client);
  g_free (p);
}

static void
set_error_member (JsonObject   *o,
                  const GError *error)
{
  JsonObject *e = json_object_new ();

  if (error->domain == CRIER_PROTO_ERROR)
    json_object_set_int_member (e, "code", error->code);
  else
    json_object_set_int_member (e, "code", CRIER_PROTO_ERROR_INTERNAL);
  json_object_set_string_member (e, "message", error->message);
  json_object_set_object_member (o, "error", e);
}

/* broadcast */

typedef struct
{
  Pending    p;
  JsonArray *publications;
  guint64    reached;
  guint      failed;
} BroadcastOp;

typedef struct
{
  BroadcastOp *op;
  JsonObject  *entry;    /* owned by op->publications */
  guint        reached;
} BroadcastChannel;

static void
broadcast_finish (gpointer data)
{
  BroadcastOp *op = data;

  json_object_set_array_member (op->p.result, "publications", op->publications);
  json_object_set_int_member (op->p.result, "reached", (gint64) op->reached);
  json_object_set_int_member (op->p.result, "failed", op->failed);
}

static void
broadcast_published (CrierPublication *pub,
                     const GError     *error,
                     gpointer          user_data)
{
  BroadcastChannel *bc = user_data;

  if (pub == NULL)
    {
      set_error_member (bc->entry, error);
      bc->op->failed++;
    }
  else
    {
      json_object_set_int_member (bc->entry, "offset", (gint64) pub->offset);
      if (pub->epoch != NULL)
        json_object_set_string_member (bc->entry, "epoch", pub->epoch);
      else
        json_object_set_null_member (bc->entry, "epoch");
      json_object_set_int_member (bc->entry, "reached", bc->reached);
      bc->op->reached += bc->reached;
    }
  pending_done (&bc->op->p);
  g_free (bc);
}

static void
do_broadcast (CrierAdmin              *self,
              AdminClient             *client,
              const CrierAdminRequest *req)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) data = crier_json_compact (req->data, -1, &error);
  BroadcastOp *op;

  if (data == NULL)
    {
      reply_error (client, req->id, CRIER_ADMIN_ERROR_INVALID_PARAMS, "params.data: %s", error->message);
      return;
    }

  op = g_new0 (BroadcastOp, 1);
  pending_init (&op->p, client, req->id);
  op->p.finish = broadcast_finish;
  op->publications = json_array_new ();

  for (guint i = 0; req->channels[i] != NULL; i++)
    {
      const char *channel = req->channels[i];
      JsonObject *entry = json_object_new ();
      g_autoptr(GError) check_error = NULL;

      json_object_set_string_member (entry, "channel", channel);
      json_array_add_object_element (op->publications, entry);
      if (crier_hub_check_channel (self->hub, channel, &check_error) == NULL)
        {
          set_error_member (entry, check_error);
          op->failed++;
          continue;
        }

      {
        BroadcastChannel *bc = g_new0 (BroadcastChannel, 1);

        bc->op = op;
        bc->entry = entry;
        bc->reached = crier_hub_count_subscribers (self->hub, channel);
        op->p.waiting++;
        crier_hub_publish (self->hub, channel, data, NULL, broadcast_published, bc);
      }
    }
  g_message ("admin %s: broadcast %" G_GSIZE_FORMAT " bytes to %u channel(s)", client->peer,
             g_bytes_get_size (data), g_strv_length (req->channels));
  pending_done (&op->p);
}

/* Publications per second over the last minute from the newest history
 * entries (newest first); NaN without any. */
static double
publish_rate (GPtrArray *newest_first,
              guint      limit)
{
  gint64 now_ms = g_get_real_time () / 1000;
  guint n = 0;
  gint64 oldest = now_ms;

  if (newest_first == NULL)
    return NAN;
  for (guint i = 0; i < newest_first->len; i++)
    {
      CrierPublication *pub = g_ptr_array_index (newest_first, i);

      if (pub->time_ms < now_ms - RATE_WINDOW_MS)
        break;
      n++;
      oldest = pub->time_ms;
    }
  /* Every entry read is recent: the window is what they span. */
  if (n == limit && n > 0)
    return (double) n / MAX ((double) (now_ms - oldest) / 1000.0, 1.0);
  return (double) n / (RATE_WINDOW_MS / 1000.0);
}

/* list_channels */

typedef struct
{
  Pending    p;
  JsonArray *channels;
} ListChannelsOp;

typedef struct
{
  ListChannelsOp        *op;
  CrierAdminChannelInfo  info;
  JsonObject            *slot;   /* filled in when the history arrives */
} ChannelRate;

static void
list_channels_finish (gpointer data)
{
  ListChannelsOp *op = data;

  json_object_set_array_member (op->p.result, "channels", op->channels);
}

static void
fill_channel_object (JsonObject                  *slot,
                     const CrierAdminChannelInfo *info)
{
  g_autoptr(JsonNode) node = crier_admin_channel_info_to_json (info);
  JsonObject *o = json_node_get_object (node);
  g_autoptr(GList) members = json_object_get_members (o);

  for (GList *l = members; l != NULL; l = l->next)
    json_object_set_member (slot, l->data, json_node_copy (json_object_get_member (o, l->data)));
}

static void
channel_rate_done (const CrierHistoryResult *result,
                   const GError             *error,
                   gpointer                  user_data)
{
  ChannelRate *cr = user_data;

  if (result != NULL && error == NULL)
    {
      cr->info.offset = result->offset;
      cr->info.epoch = result->epoch != NULL && result->epoch[0] != '\0' ? g_strdup (result->epoch) : NULL;
      cr->info.publish_rate = publish_rate (result->publications, RATE_SAMPLE_LIMIT);
    }
  fill_channel_object (cr->slot, &cr->info);
  pending_done (&cr->op->p);
  g_free (cr->info.name);
  g_free (cr->info.epoch);
  g_free (cr);
}

static int
compare_channels (gconstpointer a,
                  gconstpointer b,
                  gpointer      user_data)
{
  const SortSpec *spec = user_data;
  const char *x = *(const char * const *) a;
  const char *y = *(const char * const *) b;
  int r = 0;

  if (spec->key == CRIER_ADMIN_SORT_SUBSCRIBERS)
    {
      guint nx = crier_hub_count_subscribers (spec->hub, x);
      guint ny = crier_hub_count_subscribers (spec->hub, y);

      r = nx < ny ? -1 : nx > ny;
    }
  if (r == 0)
    r = strcmp (x, y);
  return spec->descending ? -r : r;
}

static void
do_list_channels (CrierAdmin              *self,
                  AdminClient             *client,
                  const CrierAdminRequest *req)
{
  g_autoptr(GPtrArray) names = crier_hub_list_channels (self->hub);
  g_autoptr(GPtrArray) matches = g_ptr_array_new ();
  guint64 start = (guint64) (req->page - 1) * req->page_size;
  SortSpec spec = { req->sort, req->descending, NULL, self->hub };
  ListChannelsOp *op;

  for (guint i = 0; i < names->len; i++)
    if (substring_match (g_ptr_array_index (names, i), req->filter))
      g_ptr_array_add (matches, g_ptr_array_index (names, i));

  g_ptr_array_sort_with_data (matches, compare_channels, &spec);

  op = g_new0 (ListChannelsOp, 1);
  pending_init (&op->p, client, req->id);
  op->p.finish = list_channels_finish;
  op->channels = json_array_new ();
  json_object_set_int_member (op->p.result, "total", matches->len);
  json_object_set_int_member (op->p.result, "page", req->page);
  json_object_set_int_member (op->p.result, "page_size", req->page_size);
  json_object_set_int_member (op->p.result, "pages", (matches->len + req->page_size - 1) / req->page_size);

  for (guint64 i = start; i < matches->len && i < start + req->page_size; i++)
    {
      const char *channel = g_ptr_array_index (matches, i);
      const CrierNamespaceConfig *ns = crier_hub_check_channel (self->hub, channel, NULL);
      ChannelRate *cr = g_new0 (ChannelRate, 1);
      CrierHistoryQuery query = { FALSE, 0, RATE_SAMPLE_LIMIT, TRUE };

      cr->op = op;
      cr->info.name = g_strdup (channel);
      cr->info.subscribers = crier_hub_count_subscribers (self->hub, channel);
      cr->info.publish_rate = NAN;
      cr->slot = json_object_new ();
      json_array_add_object_element (op->channels, cr->slot);
      op->p.waiting++;
      if (ns != NULL && ns->history_size > 0)
        crier_hub_history (self->hub, channel, &query, channel_rate_done, cr);
      else
        channel_rate_done (NULL, NULL, cr);
    }
  pending_done (&op->p);
}

/* inspect_channel */

typedef struct
{
  Pending  p;
  char    *channel;
} InspectOp;

static void
inspect_finish (gpointer data)
{
  InspectOp *op = data;

  g_free (op->channel);
}

static void
inspect_newest_done (const CrierHistoryResult *result,
                     const GError             *error,
                     gpointer                  user_data)
{
  InspectOp *op = user_data;
  JsonObject *o = op->p.result;
  JsonObject *h = json_object_get_object_member (o, "history");

  if (result != NULL && error == NULL)
    {
      double rate = publish_rate (result->publications, RATE_SAMPLE_LIMIT);

      json_object_set_int_member (o, "offset", (gint64) result->offset);
      if (result->epoch != NULL && result->epoch[0] != '\0')
        json_object_set_string_member (o, "epoch", result->epoch);
      if (isfinite (rate))
        json_object_set_double_member (o, "publish_rate", rate);
      if (h != NULL && result->publications != NULL && result->publications->len > 0)
        {
          CrierPublication *newest = g_ptr_array_index (result->publications, 0);

          json_object_set_int_member (h, "last_offset", (gint64) newest->offset);
          json_object_set_int_member (h, "newest_time", newest->time_ms);
        }
    }
  else if (error != NULL)
    json_object_set_string_member (o, "history_error", error->message);
  pending_done (&op->p);
}

static void
inspect_oldest_done (const CrierHistoryResult *result,
                     const GError             *error,
                     gpointer                  user_data)
{
  InspectOp *op = user_data;
  JsonObject *h = json_object_get_object_member (op->p.result, "history");

  if (h != NULL && result != NULL && error == NULL && result->publications != NULL &&
      result->publications->len > 0)
    {
      CrierPublication *oldest = g_ptr_array_index (result->publications, 0);

      json_object_set_int_member (h, "first_offset", (gint64) oldest->offset);
      json_object_set_int_member (h, "oldest_time", oldest->time_ms);
      if (result->offset >= oldest->offset)
        json_object_set_int_member (h, "count", (gint64) (result->offset - oldest->offset + 1));
    }
  pending_done (&op->p);
}

static void
inspect_presence_done (GPtrArray    *entries,
                       const GError *error,
                       gpointer      user_data)
{
  InspectOp *op = user_data;
  JsonObject *presence = json_object_get_object_member (op->p.result, "presence");

  if (presence != NULL && entries != NULL && error == NULL)
    {
      JsonArray *clients = json_array_new ();

      for (guint i = 0; i < entries->len && i < INSPECT_LIST_LIMIT; i++)
        {
          CrierPresenceEntry *e = g_ptr_array_index (entries, i);
          JsonObject *c = json_object_new ();

          json_object_set_string_member (c, "client", e->client);
          json_object_set_string_member (c, "user", e->user != NULL ? e->user : "");
          json_array_add_object_element (clients, c);
        }
      json_object_set_array_member (presence, "clients", clients);
      json_object_set_int_member (presence, "num_clients", entries->len);
      json_object_set_boolean_member (presence, "truncated", entries->len > INSPECT_LIST_LIMIT);
    }
  else if (presence != NULL && error != NULL)
    json_object_set_string_member (presence, "error", error->message);
  pending_done (&op->p);
}

static void
inspect_presence_stats_done (guint         num_clients,
                             guint         num_users,
                             const GError *error,
                             gpointer      user_data)
{
  InspectOp *op = user_data;
  JsonObject *presence = json_object_get_object_member (op->p.result, "presence");

  if (presence != NULL && error == NULL)
    json_object_set_int_member (presence, "num_users", num_users);
  pending_done (&op->p);
}

typedef struct
{
  const char *channel;
  JsonArray  *ids;
  guint       n;
} ChannelSessions;

static void
collect_channel_session (gpointer key,
                         gpointer value,
                         gpointer user_data)
{
  ChannelSessions *cs = user_data;
  CrierSession *s = value;

  if (!g_hash_table_contains (s->subscriptions, cs->channel))
    return;
  if (cs->n++ < INSPECT_LIST_LIMIT)
    json_array_add_string_element (cs->ids, s->id);
}

static void
do_inspect_channel (CrierAdmin              *self,
                    AdminClient             *client,
                    const CrierAdminRequest *req)
{
  g_autoptr(GError) error = NULL;
  const CrierNamespaceConfig *ns = crier_hub_check_channel (self->hub, req->channel, &error);
  ChannelSessions cs = { req->channel, NULL, 0 };
  InspectOp *op;
  JsonObject *o;
  JsonObject *nso;

  if (ns == NULL)
    {
      reply_error (client, req->id,
                   g_error_matches (error, CRIER_PROTO_ERROR, CRIER_PROTO_ERROR_UNKNOWN_CHANNEL)
                     ? CRIER_ADMIN_ERROR_NOT_FOUND : CRIER_ADMIN_ERROR_INVALID_PARAMS,
                   "channel %s: %s", req->channel, error->message);
      return;
    }

  op = g_new0 (InspectOp, 1);
  pending_init (&op->p, client, req->id);
  op->p.finish = inspect_finish;
  op->channel = g_strdup (req->channel);
  o = op->p.result;

  json_object_set_string_member (o, "channel", req->channel);
  nso = json_object_new ();
  json_object_set_string_member (nso, "name", ns->name);
  json_object_set_boolean_member (nso, "presence", ns->presence);
  json_object_set_boolean_member (nso, "join_leave", ns->join_leave);
  json_object_set_boolean_member (nso, "allow_publish", ns->allow_publish);
  json_object_set_boolean_member (nso, "force_recovery", ns->force_recovery);
  json_object_set_object_member (o, "namespace", nso);
  json_object_set_int_member (o, "subscribers", crier_hub_count_subscribers (self->hub, req->channel));
  json_object_set_int_member (o, "offset", 0);
  json_object_set_null_member (o, "epoch");
  json_object_set_null_member (o, "publish_rate");

  cs.ids = json_array_new ();
  crier_hub_foreach_session (self->hub, collect_channel_session, &cs);
  json_object_set_array_member (o, "sessions", cs.ids);
  json_object_set_boolean_member (o, "sessions_truncated", cs.n > INSPECT_LIST_LIMIT);

  if (ns->history_size > 0)
    {
      JsonObject *h = json_object_new ();
      CrierHistoryQuery newest = { FALSE, 0, RATE_SAMPLE_LIMIT, TRUE };
      CrierHistoryQuery oldest = { FALSE, 0, 1, FALSE };

      json_object_set_int_member (h, "size", ns->history_size);
      json_object_set_int_member (h, "ttl_ms", ns->history_ttl);
      json_object_set_int_member (h, "max_bytes", ns->history_max_bytes);
      json_object_set_int_member (h, "count", 0);
      json_object_set_object_member (o, "history", h);
      op->p.waiting += 2;
      crier_hub_history (self->hub, req->channel, &newest, inspect_newest_done, op);
      crier_hub_history (self->hub, req->channel, &oldest, inspect_oldest_done, op);
    }
  else
    json_object_set_null_member (o, "history");

  if (ns->presence)
    {
      json_object_set_object_member (o, "presence", json_object_new ());
      op->p.waiting += 2;
      crier_hub_presence (self->hub, req->channel, inspect_presence_done, op);
      crier_hub_presence_stats (self->hub, req->channel, inspect_presence_stats_done, op);
    }
  else
    json_object_set_null_member (o, "presence");

  pending_done (&op->p);
}

/* ---- alerts --------------------------------------------------------------- */

static JsonArray *
alerts_array (GPtrArray *alerts,
              gboolean   active)
{
  JsonArray *array = json_array_new ();

  for (guint i = 0; i < alerts->len; i++)
    {
      CrierAlert *a = g_ptr_array_index (alerts, i);

      if ((a->end_time == 0) == active)
        json_array_add_element (array, crier_admin_alert_to_json (a));
    }
  return array;
}

static JsonObject *
alerts_object (CrierAdmin *self,
               gboolean    include_resolved)
{
  CrierAnomalyEngine *engine = crier_metrics_get_anomaly (self->metrics);
  g_autoptr(GPtrArray) alerts = engine != NULL ? crier_anomaly_engine_get_alerts (engine, include_resolved)
                                               : g_ptr_array_new ();
  JsonObject *o = json_object_new ();

  json_object_set_boolean_member (o, "enabled", engine != NULL);
  json_object_set_array_member (o, "active", alerts_array (alerts, TRUE));
  if (include_resolved)
    json_object_set_array_member (o, "recent", alerts_array (alerts, FALSE));
  return o;
}

static void
broadcast_frame (CrierAdmin *self,
                 GBytes     *frame,
                 gsize       watch_offset)
{
  for (guint i = 0; i < self->clients->len; i++)
    {
      AdminClient *c = g_ptr_array_index (self->clients, i);

      if (c->ws != NULL && G_STRUCT_MEMBER (gboolean, c, watch_offset))
        crier_ws_send_frame (c->ws, frame);
    }
}

static void
broadcast_event (CrierAdmin *self,
                 gsize       watch_offset,
                 const char *event,
                 const char *member,
                 JsonNode   *value)
{
  g_autofree char *text = crier_admin_event_encode (event, member, value);
  g_autoptr(GBytes) frame = crier_ws_frame_new (CRIER_WS_OP_TEXT, text, strlen (text));

  /* One frame for every watcher (encode once). */
  broadcast_frame (self, frame, watch_offset);
}

static void
on_alert (CrierAlertEvent   event,
          const CrierAlert *alert,
          gpointer          user_data)
{
  CrierAdmin *self = user_data;
  g_autoptr(JsonNode) node = crier_admin_alert_to_json (alert);
  const char *name = event == CRIER_ALERT_RAISED ? "alert_raised"
                   : event == CRIER_ALERT_UPDATED ? "alert_updated"
                   : "alert_resolved";

  broadcast_event (self, G_STRUCT_OFFSET (AdminClient, watch_alerts), name, "alert", node);
}

/* ---- dispatch ------------------------------------------------------------- */

static guint
count_watchers (CrierAdmin *self,
                gsize       watch_offset)
{
  guint n = 0;

  for (guint i = 0; i < self->clients->len; i++)
    if (G_STRUCT_MEMBER (gboolean, g_ptr_array_index (self->clients, i), watch_offset))
      n++;
  return n;
}

static void
snapshot_session (gpointer key,
                  gpointer value,
                  gpointer user_data)
{
  GHashTable *known = user_data;
  CrierSession *s = value;
  KnownSession *k = g_new0 (KnownSession, 1);

  k->user = g_strdup (s->user);
  k->transport = s->transport_name;
  k->remote = g_strdup (s->remote);
  g_hash_table_insert (known, g_strdup (s->id), k);
}

static void
dispatch (CrierAdmin              *self,
          AdminClient             *client,
          const CrierAdminRequest *req)
{
  JsonObject *o;

  switch (req->type)
    {
    case CRIER_ADMIN_REQUEST_HELLO:
      {
        CrierAdminHello hello = { 0 };
        g_autofree char *config = NULL;

        if (req->protocol != CRIER_ADMIN_PROTOCOL_VERSION)
          {
            reply_error (client, req->id, CRIER_ADMIN_ERROR_UNSUPPORTED_VERSION,
                         "this server speaks admin protocol %d, not %" G_GINT64_FORMAT,
                         CRIER_ADMIN_PROTOCOL_VERSION, req->protocol);
            return;
          }
        config = crier_config_dump_with_flags (self->config, CRIER_CONFIG_DUMP_MASK_SECRETS);
        hello.protocol = CRIER_ADMIN_PROTOCOL_VERSION;
        hello.node = (char *) crier_server_get_node_name (self->server);
        hello.version = (char *) PACKAGE_VERSION;
        hello.uptime = crier_server_get_uptime (self->server);
        hello.started_at = g_get_real_time () / 1000 - hello.uptime * 1000;
        hello.pid = getpid ();
        hello.config = config;
        if (req->client != NULL)
          g_debug ("admin %s: hello from %s", client->peer, req->client);
        reply (client, req->id, crier_admin_hello_to_json (&hello));
      }
      return;

    case CRIER_ADMIN_REQUEST_GET_STATS:
      reply (client, req->id, crier_admin_stats_to_json (crier_metrics_get_last (self->metrics)));
      return;

    case CRIER_ADMIN_REQUEST_WATCH_STATS:
      client->watch_stats = req->enable;
      o = json_object_new ();
      json_object_set_boolean_member (o, "watching", req->enable);
      json_object_set_member (o, "stats", crier_admin_stats_to_json (crier_metrics_get_last (self->metrics)));
      reply (client, req->id, node_take_object (o));
      return;

    case CRIER_ADMIN_REQUEST_GET_HISTORY:
      {
        g_autoptr(CrierAdminHistory) history = crier_metrics_get_history (self->metrics, req->metrics,
                                                                         req->since);

        reply (client, req->id, crier_admin_history_to_json (history));
      }
      return;

    case CRIER_ADMIN_REQUEST_LIST_SESSIONS:
      do_list_sessions (self, client, req);
      return;

    case CRIER_ADMIN_REQUEST_WATCH_SESSIONS:
      if (req->enable && self->known_sessions == NULL)
        {
          self->known_sessions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                        (GDestroyNotify) known_session_free);
          crier_hub_foreach_session (self->hub, snapshot_session, self->known_sessions);
        }
      client->watch_sessions = req->enable;
      if (count_watchers (self, G_STRUCT_OFFSET (AdminClient, watch_sessions)) == 0)
        g_clear_pointer (&self->known_sessions, g_hash_table_unref);
      o = json_object_new ();
      json_object_set_boolean_member (o, "watching", req->enable);
      json_object_set_int_member (o, "sessions", crier_hub_get_stats (self->hub)->sessions);
      reply (client, req->id, node_take_object (o));
      return;

    case CRIER_ADMIN_REQUEST_INSPECT_SESSION:
      do_inspect_session (self, client, req);
      return;

    case CRIER_ADMIN_REQUEST_KICK:
      do_kick (self, client, req);
      return;

    case CRIER_ADMIN_REQUEST_UNSUBSCRIBE:
      do_unsubscribe (self, client, req);
      return;

    case CRIER_ADMIN_REQUEST_BROADCAST:
      do_broadcast (self, client, req);
      return;

    case CRIER_ADMIN_REQUEST_LIST_CHANNELS:
      do_list_channels (self, client, req);
      return;

    case CRIER_ADMIN_REQUEST_INSPECT_CHANNEL:
      do_inspect_channel (self, client, req);
      return;

    case CRIER_ADMIN_REQUEST_LIST_ALERTS:
      reply (client, req->id, node_take_object (alerts_object (self, req->include_resolved)));
      return;

    case CRIER_ADMIN_REQUEST_LIST_NODES:
      /* The registry as last read (every 2 s) plus this node now. */
      reply (client, req->id, crier_cluster_nodes_to_json (crier_server_get_cluster (self->server)));
      return;

    case CRIER_ADMIN_REQUEST_WATCH_ALERTS:
      client->watch_alerts = req->enable;
      o = alerts_object (self, FALSE);
      json_object_set_boolean_member (o, "watching", req->enable);
      reply (client, req->id, node_take_object (o));
      return;
    }
}

/* ---- WebSocket ------------------------------------------------------------ */

static void
admin_ws_open (CrierWs *ws,
               gpointer user_data)
{
  AdminClient *client = user_data;

  client->ws = ws;
  client->opened = TRUE;
  if (client->admin == NULL)
    {
      crier_ws_close (ws, CRIER_WS_CLOSE_GOING_AWAY, "admin shutting down", CRIER_CLOSE_SHUTDOWN);
      return;
    }
  g_ptr_array_add (client->admin->clients, client);
  client->admin->closed_usage.adopted++;
  g_debug ("admin %s: connected", client->peer);
}

static void
admin_ws_message (CrierWs      *ws,
                  const guint8 *data,
                  gsize         len,
                  gboolean      is_text,
                  gpointer      user_data)
{
  AdminClient *client = user_data;
  g_autoptr(AdminClient) hold = client_ref (client);
  g_autoptr(CrierAdminRequest) req = NULL;
  g_autoptr(GError) error = NULL;
  gint64 id = -1;

  if (client->admin == NULL)
    return;
  if (!is_text)
    {
      crier_ws_close (ws, 1003, "the admin protocol is JSON text", CRIER_CLOSE_PROTOCOL);
      return;
    }

  req = crier_admin_request_decode ((const char *) data, len, &id, &error);
  if (req == NULL)
    {
      reply_error (client, id, (CrierAdminError) error->code, "%s", error->message);
      return;
    }
  dispatch (client->admin, client, req);
}

static void
admin_ws_closed (CrierWs         *ws,
                 CrierCloseReason reason,
                 guint16          code,
                 gpointer         user_data)
{
  AdminClient *client = user_data;
  CrierAdmin *self = client->admin;

  if (self != NULL && client->ws != NULL)
    {
      self->closed_usage.closed[reason]++;
      self->closed_usage.bytes_in += ws->conn->bytes_in;
      self->closed_usage.bytes_out += ws->conn->bytes_out;
      g_ptr_array_remove_fast (self->clients, client);
      if (reason == CRIER_CLOSE_SLOW)
        g_message ("admin %s: evicted, it did not read fast enough", client->peer);
      else
        g_debug ("admin %s: closed (%s)", client->peer, crier_close_reason_to_string (reason));
      if (self->known_sessions != NULL &&
          count_watchers (self, G_STRUCT_OFFSET (AdminClient, watch_sessions)) == 0)
        g_clear_pointer (&self->known_sessions, g_hash_table_unref);
    }
  client->ws = NULL;
  client_unref (client);
}

static const CrierWsHandler admin_ws_handler = {
  .on_open = admin_ws_open,
  .on_message = admin_ws_message,
  .on_closed = admin_ws_closed,
};

/* ---- HTTP: authorization, /admin, /metrics -------------------------------- */

static void
reply_http (SoupServerMessage *msg,
            guint              status,
            const char        *content_type,
            const char        *body)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);

  soup_message_headers_replace (h, "Cache-Control", "no-store");
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, content_type, SOUP_MEMORY_COPY, body, strlen (body));
}

static void
log_refusal (CrierAdmin *self,
             const char *what)
{
  gint64 now = g_get_monotonic_time ();

  /* A flood of bad attempts must not flood the log. */
  if (now - self->last_refusal_log < REFUSAL_LOG_INTERVAL_US)
    {
      self->refusals_unlogged++;
      return;
    }
  if (self->refusals_unlogged > 0)
    g_warning ("admin: refused %s (and %u more since the last report)", what, self->refusals_unlogged);
  else
    g_warning ("admin: refused %s", what);
  self->last_refusal_log = now;
  self->refusals_unlogged = 0;
}

/* Unix peers: our uid or root.  TCP peers: the bearer token.  Sets the
 * response and returns FALSE when refused; @peer describes the client. */
static gboolean
authorize (CrierAdmin        *self,
           SoupServerMessage *msg,
           char             **peer)
{
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);

  /* on_incoming() tagged a Unix peer's address with its uid. */
  if (G_IS_UNIX_SOCKET_ADDRESS (remote))
    {
      guint tag = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (remote), PEER_UID_KEY));
      uid_t uid = tag != 0 ? (uid_t) (tag - 1) : (uid_t) -1;

      if (uid == (uid_t) -1 || !crier_admin_peer_uid_allowed (uid, getuid ()))
        {
          g_autofree char *what = uid == (uid_t) -1
            ? g_strdup ("a Unix peer without credentials")
            : g_strdup_printf ("Unix peer uid %u (only uid %u and root may connect)",
                               (guint) uid, (guint) getuid ());

          log_refusal (self, what);
          reply_http (msg, SOUP_STATUS_FORBIDDEN, "application/json", "{\"error\":\"forbidden\"}\n");
          return FALSE;
        }
      *peer = g_strdup_printf ("unix:uid=%u", (guint) uid);
      return TRUE;
    }
  else
    {
      SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
      const char *host = soup_server_message_get_remote_host (msg);

      if (!crier_admin_check_bearer (soup_message_headers_get_one (h, "Authorization"),
                                     self->config->admin_token))
        {
          g_autofree char *what = g_strdup_printf ("TCP peer %s: missing or wrong token",
                                                   host != NULL ? host : "?");

          log_refusal (self, what);
          soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                        "WWW-Authenticate", "Bearer realm=\"crier-admin\"");
          reply_http (msg, SOUP_STATUS_UNAUTHORIZED, "application/json", "{\"error\":\"unauthorized\"}\n");
          return FALSE;
        }
      *peer = g_strdup (host != NULL ? host : "tcp");
      return TRUE;
    }
}

static void
upgrade_finished (SoupServerMessage *msg,
                  gpointer           user_data)
{
  AdminClient *client = user_data;

  if (!client->opened && !client->abandoned)
    {
      client->abandoned = TRUE;
      client_unref (client);
    }
}

static void
client_closure_unref (gpointer  data,
                      GClosure *closure)
{
  client_unref (data);
}

static void
handle_admin (SoupServer        *soup,
              SoupServerMessage *msg,
              const char        *path,
              GHashTable        *query,
              gpointer           user_data)
{
  CrierAdmin *self = user_data;
  g_autofree char *peer = NULL;
  AdminClient *client;

  if (!authorize (self, msg, &peer))
    return;
  if (crier_server_is_draining (self->server))
    {
      reply_http (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "application/json", "{\"error\":\"draining\"}\n");
      return;
    }

  client = g_new0 (AdminClient, 1);
  client->ref_count = 1;
  client->admin = self;
  client->peer = g_steal_pointer (&peer);
  if (!crier_ws_handle_upgrade (self->engine, msg, &self->ws_options, &admin_ws_handler, client))
    {
      client_unref (client);
      return;
    }
  /* The WebSocket owns @client once open; if the peer leaves before the
   * 101 is written, nobody else would release it. */
  g_signal_connect_data (msg, "finished", G_CALLBACK (upgrade_finished), client_ref (client),
                         client_closure_unref, 0);
}

static void
reply_metrics (CrierAdmin        *self,
               SoupServerMessage *msg)
{
  g_autofree char *text = NULL;

  if (soup_server_message_get_method (msg) != SOUP_METHOD_GET &&
      soup_server_message_get_method (msg) != SOUP_METHOD_HEAD)
    {
      reply_http (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "application/json", "{\"error\":\"GET only\"}\n");
      return;
    }
  text = crier_metrics_to_prometheus (self->metrics);
  reply_http (msg, SOUP_STATUS_OK, CRIER_METRICS_CONTENT_TYPE, text);
}

static void
handle_metrics (SoupServer        *soup,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  CrierAdmin *self = user_data;
  g_autofree char *peer = NULL;

  if (authorize (self, msg, &peer))
    reply_metrics (self, msg);
}

static void
handle_public_metrics (SoupServer        *soup,
                       SoupServerMessage *msg,
                       const char        *path,
                       GHashTable        *query,
                       gpointer           user_data)
{
  reply_metrics (user_data, msg);
}

static void
handle_not_found (SoupServer        *soup,
                  SoupServerMessage *msg,
                  const char        *path,
                  GHashTable        *query,
                  gpointer           user_data)
{
  CrierAdmin *self = user_data;
  g_autofree char *peer = NULL;

  if (authorize (self, msg, &peer))
    reply_http (msg, SOUP_STATUS_NOT_FOUND, "application/json", "{\"error\":\"not found\"}\n");
}

/* ---- listeners ------------------------------------------------------------ */

/* TRUE when something accepts connections on @path. */
static gboolean
socket_is_live (const char *path)
{
  g_autoptr(GSocket) probe = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_DEFAULT, NULL);
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new (path);
  g_autoptr(GError) error = NULL;

  if (probe == NULL)
    return FALSE;
  g_socket_set_blocking (probe, FALSE);
  if (g_socket_connect (probe, address, NULL, &error))
    return TRUE;
  /* A full backlog still means a live listener. */
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK) ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PENDING);
}

/* ---- accepting ------------------------------------------------------------ */

/* libsoup 3.2's own listener leaks the GSocket of every connection it
 * accepts (fixed in 3.4), which a Prometheus scrape every 15 s would turn
 * into steady growth; so the admin accepts with a GSocketService and hands
 * each connection to libsoup with soup_server_accept_iostream().  The
 * remote address given to libsoup is where authorize() finds a Unix
 * peer's uid, read here from SO_PEERCRED. */

static void
handshake_free (AdminHandshake *hs)
{
  g_clear_handle_id (&hs->timeout_id, g_source_remove);
  g_clear_object (&hs->tls);
  g_clear_object (&hs->local);
  g_clear_object (&hs->remote);
  g_clear_object (&hs->cancellable);
  g_free (hs);
}

static gboolean
handshake_timeout (gpointer user_data)
{
  AdminHandshake *hs = user_data;

  hs->timeout_id = 0;
  g_cancellable_cancel (hs->cancellable);
  return G_SOURCE_REMOVE;
}

static void
handshake_done (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  AdminHandshake *hs = user_data;
  CrierAdmin *self = hs->admin;
  g_autoptr(GError) error = NULL;
  gboolean ok = g_tls_connection_handshake_finish (G_TLS_CONNECTION (source), result, &error);

  if (self != NULL)
    {
      g_ptr_array_remove_fast (self->handshakes, hs);
      if (!ok)
        {
          g_autofree char *host = g_inet_address_to_string (
            g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (hs->remote)));
          g_autofree char *what = g_strdup_printf ("TCP peer %s: TLS handshake failed (%s)", host,
                                                   hs->timeout_id == 0 ? "timed out" : error->message);

          log_refusal (self, what);
        }
      else if (!soup_server_accept_iostream (self->soup, hs->tls, hs->local, hs->remote, &error))
        g_warning ("admin: cannot serve a connection: %s", error->message);
    }
  /* Unless libsoup took it, the last reference closes the socket. */
  handshake_free (hs);
}

static void
tcp_conn_leave_http (TcpConn *tc)
{
  if (tc->remote == NULL)
    return;
  if (tc->admin != NULL && g_hash_table_lookup (tc->admin->tcp_http, tc->remote) == tc)
    g_hash_table_remove (tc->admin->tcp_http, tc->remote);
  g_clear_object (&tc->remote);
  tc->conn = NULL;
}

/* The connection became an admin WebSocket on the engine: no more HTTP
 * deadlines, but it still counts against the cap until the engine lets
 * it go. */
static void
tcp_conn_adopted (CrierConnToken *token)
{
  tcp_conn_leave_http ((TcpConn *) token);
}

static void
tcp_conn_release (CrierConnToken *token)
{
  TcpConn *tc = (TcpConn *) token;

  tcp_conn_leave_http (tc);
  if (tc->admin != NULL)
    {
      g_hash_table_remove (tc->admin->tcp_conns, tc);
      tc->admin->tcp_stats.open = g_hash_table_size (tc->admin->tcp_conns);
    }
  g_free (tc->host);
  g_free (tc);
}

static void
tcp_conn_destroy (gpointer data)
{
  CrierConnToken *token = data;

  token->release (token);
}

static void
tcp_set_state (CrierAdmin        *self,
               SoupServerMessage *msg,
               TcpState           state)
{
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);
  TcpConn *tc = remote != NULL ? g_hash_table_lookup (self->tcp_http, remote) : NULL;

  if (tc == NULL || tc->state == TCP_DOOMED)
    return;
  /* request-started also comes for the first request, which has been
   * READING since the accept. */
  if (state == TCP_READING && tc->state == TCP_READING)
    return;
  tc->state = state;
  tc->since_us = g_get_monotonic_time ();
}

static void
on_request_started (SoupServer        *soup,
                    SoupServerMessage *msg,
                    gpointer           user_data)
{
  tcp_set_state (user_data, msg, TCP_READING);
}

static void
on_request_read (SoupServer        *soup,
                 SoupServerMessage *msg,
                 gpointer           user_data)
{
  tcp_set_state (user_data, msg, TCP_HANDLING);
}

static void
on_request_done (SoupServer        *soup,
                 SoupServerMessage *msg,
                 gpointer           user_data)
{
  tcp_set_state (user_data, msg, TCP_IDLE);
}

/* From the tick: TCP connections that did not send a whole request within
 * [admin] request_timeout are shut down (libsoup 3.2 has no timeouts); a
 * doomed one that libsoup still holds a second later is closed. */
static void
sweep_tcp (CrierAdmin *self,
           gint64      now_us)
{
  gint64 limit_ms = self->config->admin_request_timeout;
  g_autoptr(GPtrArray) stuck = NULL;
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->tcp_http);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      TcpConn *tc = value;
      g_autofree char *what = NULL;

      if (tc->state == TCP_DOOMED)
        {
          if (now_us - tc->since_us >= G_USEC_PER_SEC && tc->conn != NULL)
            {
              if (stuck == NULL)
                stuck = g_ptr_array_new_with_free_func (g_object_unref);
              g_ptr_array_add (stuck, g_object_ref (tc->conn));
            }
          continue;
        }
      if (tc->state == TCP_HANDLING || limit_ms <= 0 || now_us - tc->since_us < limit_ms * 1000)
        continue;

      self->tcp_stats.request_timeouts++;
      what = g_strdup_printf ("TCP peer %s: no whole request within %" G_GINT64_FORMAT " ms "
                              "([admin] request_timeout)", tc->host, limit_ms);
      log_refusal (self, what);
      tc->state = TCP_DOOMED;
      tc->since_us = now_us;
      /* libsoup sees the end of the stream on its next read and lets the
       * connection go; the descriptor stays valid until then. */
      g_socket_shutdown (g_socket_connection_get_socket (tc->conn), TRUE, TRUE, NULL);
    }
  for (guint i = 0; stuck != NULL && i < stuck->len; i++)
    g_io_stream_close (g_ptr_array_index (stuck, i), NULL, NULL);
}

/* Accounts a new TCP connection; FALSE (counted, logged) when it is over
 * the cap. */
static gboolean
tcp_admit (CrierAdmin        *self,
           GSocketConnection *connection,
           GSocketAddress    *remote)
{
  gint64 cap = self->config->admin_max_connections;
  g_autofree char *host = g_inet_address_to_string (
    g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote)));
  TcpConn *tc;

  if (cap > 0 && g_hash_table_size (self->tcp_conns) >= (guint) cap)
    {
      g_autofree char *what = g_strdup_printf ("TCP peer %s: over [admin] max_connections (%" G_GINT64_FORMAT ")",
                                               host, cap);

      self->tcp_stats.refused_cap++;
      log_refusal (self, what);
      return FALSE;
    }
  tc = g_new0 (TcpConn, 1);
  tc->token.adopted = tcp_conn_adopted;
  tc->token.release = tcp_conn_release;
  tc->admin = self;
  tc->conn = connection;
  tc->remote = g_object_ref (remote);
  tc->host = g_steal_pointer (&host);
  tc->state = TCP_READING;
  tc->since_us = g_get_monotonic_time ();
  g_hash_table_add (self->tcp_conns, tc);
  g_hash_table_insert (self->tcp_http, tc->remote, tc);
  self->tcp_stats.open = g_hash_table_size (self->tcp_conns);
  self->tcp_stats.accepted++;
  g_object_set_data_full (G_OBJECT (connection), CRIER_CONN_TOKEN_KEY, tc, tcp_conn_destroy);
  return TRUE;
}

static gboolean
on_incoming (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             gpointer           user_data)
{
  CrierAdmin *self = user_data;
  GSocket *socket = g_socket_connection_get_socket (connection);
  g_autoptr(GSocketAddress) local = g_socket_connection_get_local_address (connection, NULL);
  g_autoptr(GSocketAddress) remote = NULL;
  g_autoptr(GError) error = NULL;

  if (g_socket_get_family (socket) == G_SOCKET_FAMILY_UNIX)
    {
      g_autoptr(GCredentials) creds = g_socket_get_credentials (socket, NULL);
      uid_t uid = creds != NULL ? g_credentials_get_unix_user (creds, NULL) : (uid_t) -1;

      /* An object of this connection's own, to carry its uid. */
      remote = g_unix_socket_address_new_with_type ("", 0, G_UNIX_SOCKET_ADDRESS_ANONYMOUS);
      if (uid != (uid_t) -1)
        g_object_set_data (G_OBJECT (remote), PEER_UID_KEY, GUINT_TO_POINTER ((guint) uid + 1));
    }
  else
    remote = g_socket_connection_get_remote_address (connection, NULL);

  /* The peer already went away. */
  if (local == NULL || remote == NULL)
    return TRUE;

  if (g_socket_get_family (socket) != G_SOCKET_FAMILY_UNIX && !tcp_admit (self, connection, remote))
    {
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return TRUE;
    }

  if (self->tls != NULL && g_socket_get_family (socket) != G_SOCKET_FAMILY_UNIX)
    {
      AdminHandshake *hs;
      GIOStream *tls = g_tls_server_connection_new (G_IO_STREAM (connection), self->tls, &error);

      if (tls == NULL)
        {
          g_warning ("admin: no TLS for a connection: %s", error->message);
          return TRUE;
        }
      hs = g_new0 (AdminHandshake, 1);
      hs->admin = self;
      hs->tls = tls;
      hs->local = g_steal_pointer (&local);
      hs->remote = g_steal_pointer (&remote);
      hs->cancellable = g_cancellable_new ();
      hs->timeout_id = g_timeout_add_seconds (TLS_HANDSHAKE_TIMEOUT_S, handshake_timeout, hs);
      g_ptr_array_add (self->handshakes, hs);
      g_tls_connection_handshake_async (G_TLS_CONNECTION (tls), G_PRIORITY_DEFAULT,
                                        hs->cancellable, handshake_done, hs);
      return TRUE;
    }

  if (!soup_server_accept_iostream (self->soup, G_IO_STREAM (connection), local, remote, &error))
    g_warning ("admin: cannot serve a connection: %s", error->message);
  return TRUE;
}

static gboolean
open_unix_socket (CrierAdmin  *self,
                  const char  *path,
                  GError     **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  struct stat st;
  mode_t old_umask;
  gboolean bound;

  if (strlen (path) >= sizeof (((struct sockaddr_un *) NULL)->sun_path))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
                   "admin socket %s: the path is too long for a Unix socket", path);
      return FALSE;
    }
  if (g_stat (dir, &st) != 0)
    {
      if (g_mkdir_with_parents (dir, 0700) != 0)
        {
          int saved = errno;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                       "admin socket %s: cannot create %s: %s", path, dir, g_strerror (saved));
          return FALSE;
        }
    }
  else if (!S_ISDIR (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY,
                   "admin socket %s: %s is not a directory", path, dir);
      return FALSE;
    }

  if (g_lstat (path, &st) == 0)
    {
      if (!S_ISSOCK (st.st_mode))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                       "admin socket %s: the path exists and is not a socket", path);
          return FALSE;
        }
      if (socket_is_live (path))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                       "admin socket %s: another process is listening on it", path);
          return FALSE;
        }
      /* Left behind by a crierd that did not exit cleanly. */
      g_unlink (path);
    }

  socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
  if (socket == NULL)
    return FALSE;
  address = g_unix_socket_address_new (path);
  /* Never reachable by anyone else, not even for an instant. */
  old_umask = umask (0177);
  bound = g_socket_bind (socket, address, FALSE, error);
  umask (old_umask);
  if (!bound)
    {
      g_prefix_error (error, "admin socket %s: ", path);
      return FALSE;
    }
  if (chmod (path, 0600) != 0 || g_lstat (path, &st) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "admin socket %s: %s", path, g_strerror (saved));
      g_unlink (path);
      return FALSE;
    }
  g_socket_set_listen_backlog (socket, 64);
  if (!g_socket_listen (socket, error) ||
      !g_socket_listener_add_socket (G_SOCKET_LISTENER (self->service), socket, NULL, error))
    {
      g_prefix_error (error, "admin socket %s: ", path);
      g_unlink (path);
      return FALSE;
    }

  self->socket_path = g_strdup (path);
  self->socket_dev = st.st_dev;
  self->socket_ino = st.st_ino;
  g_message ("admin socket %s", path);
  return TRUE;
}

static gboolean
open_tcp_socket (CrierAdmin  *self,
                 const char  *listen,
                 GError     **error)
{
  struct sockaddr_storage ss;
  socklen_t ss_len = 0;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GSocket) socket = NULL;
  GTlsCertificate *tls;
  GInetAddress *ip;

  if (!crier_parse_listen_address (listen, &ss, &ss_len, error))
    {
      g_prefix_error (error, "[admin] listen: ");
      return FALSE;
    }
  address = g_socket_address_new_from_native (&ss, ss_len);
  if (address == NULL || !G_IS_INET_SOCKET_ADDRESS (address))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "[admin] listen: bad address %s", listen);
      return FALSE;
    }
  ip = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address));
  socket = g_socket_new (g_socket_address_get_family (address), G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_TCP, error);
  /* [tls] admin: on_incoming() does the TLS handshake. */
  tls = crier_server_get_admin_tls_certificate (self->server);
  g_set_object (&self->tls, tls);
  if (socket == NULL ||
      !g_socket_bind (socket, address, TRUE, error) ||
      !g_socket_listen (socket, error) ||
      !g_socket_listener_add_socket (G_SOCKET_LISTENER (self->service), socket, NULL, error))
    {
      g_prefix_error (error, "[admin] listen %s: ", listen);
      return FALSE;
    }
  local = g_socket_get_local_address (socket, error);
  if (local == NULL)
    return FALSE;
  self->tcp_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
  if (!g_inet_address_get_is_loopback (ip) && tls == NULL)
    g_warning ("the admin protocol listens on %s beyond loopback: its token travels in "
               "clear text, so reach it through a tunnel or a TLS proxy", listen);
  g_message ("admin listening on %s (port %u, %stoken required)", listen, self->tcp_port,
             tls != NULL ? "TLS, " : "");
  return TRUE;
}

/* ---- life cycle ----------------------------------------------------------- */

CrierAdmin *
crier_admin_new (CrierServer        *server,
                 const CrierCfStats *cf_stats)
{
  CrierAdmin *self = g_new0 (CrierAdmin, 1);

  self->server = server;
  self->config = crier_server_get_config (server);
  self->engine = crier_server_get_engine (server);
  self->hub = crier_server_get_hub (server);
  self->clients = g_ptr_array_new ();
  self->tcp_conns = g_hash_table_new (NULL, NULL);
  self->tcp_http = g_hash_table_new (NULL, NULL);
  self->metrics = crier_metrics_new (server, cf_stats);
  crier_metrics_set_alert_func (self->metrics, on_alert, self);

  /* Admin requests are small; replies may be large (the client sets its
   * own limit); pings find dead dashboards. */
  self->ws_options.max_frame_size = CRIER_ADMIN_MAX_REQUEST_SIZE;
  self->ws_options.max_message_size = CRIER_ADMIN_MAX_REQUEST_SIZE;
  self->ws_options.ping_interval_ms = ADMIN_PING_INTERVAL_MS;
  self->ws_options.pong_timeout_ms = ADMIN_PONG_TIMEOUT_MS;
  return self;
}

gboolean
crier_admin_start (CrierAdmin  *self,
                   GError     **error)
{
  const CrierConfig *config = self->config;
  g_autofree char *socket_path = NULL;
  gboolean is_default = config->admin_socket == NULL || config->admin_socket[0] == '\0';

  g_return_val_if_fail (self->soup == NULL, FALSE);

  self->soup = soup_server_new (NULL, NULL);
  soup_server_remove_websocket_extension (self->soup, SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
  soup_server_add_handler (self->soup, NULL, handle_not_found, self, NULL);
  soup_server_add_handler (self->soup, CRIER_ADMIN_PATH, handle_admin, self, NULL);
  soup_server_add_handler (self->soup, CRIER_ADMIN_METRICS_PATH, handle_metrics, self, NULL);
  g_signal_connect (self->soup, "request-started", G_CALLBACK (on_request_started), self);
  g_signal_connect (self->soup, "request-read", G_CALLBACK (on_request_read), self);
  g_signal_connect (self->soup, "request-finished", G_CALLBACK (on_request_done), self);
  g_signal_connect (self->soup, "request-aborted", G_CALLBACK (on_request_done), self);
  if (!crier_soup_anchor_keepalive (self->soup, error))
    return FALSE;
  self->service = g_socket_service_new ();
  self->handshakes = g_ptr_array_new ();
  g_signal_connect (self->service, "incoming", G_CALLBACK (on_incoming), self);

  socket_path = is_default ? crier_admin_default_socket_path () : g_strdup (config->admin_socket);
  {
    g_autoptr(GError) local_error = NULL;

    if (!open_unix_socket (self, socket_path, &local_error))
      {
        if (!is_default)
          {
            g_propagate_error (error, g_steal_pointer (&local_error));
            return FALSE;
          }
        g_warning ("%s; running without the admin socket (set [admin] socket)", local_error->message);
      }
  }

  if (config->admin_listen != NULL && config->admin_listen[0] != '\0' &&
      !open_tcp_socket (self, config->admin_listen, error))
    return FALSE;

  if (config->admin_metrics_on_client_listener)
    {
      self->client_soup = g_object_ref (crier_server_get_soup (self->server));
      soup_server_add_handler (self->client_soup, CRIER_ADMIN_METRICS_PATH, handle_public_metrics, self, NULL);
    }

  /* A first sample, so /metrics and get_stats have data at once. */
  crier_admin_tick (self, g_get_monotonic_time ());
  return TRUE;
}

void
crier_admin_free (CrierAdmin *self)
{
  g_autoptr(GPtrArray) clients = NULL;
  struct stat st;

  if (self == NULL)
    return;

  /* The engine outlives us: its connections of ours are told to go and
   * forget us (their handlers check client->admin). */
  clients = g_ptr_array_copy (self->clients, NULL, NULL);
  g_ptr_array_set_size (self->clients, 0);
  for (guint i = 0; i < clients->len; i++)
    {
      AdminClient *c = g_ptr_array_index (clients, i);
      CrierWs *ws = c->ws;

      c->admin = NULL;
      if (ws != NULL)
        crier_ws_close (ws, CRIER_WS_CLOSE_GOING_AWAY, "admin shutting down", CRIER_CLOSE_SHUTDOWN);
    }

  if (self->client_soup != NULL)
    {
      soup_server_remove_handler (self->client_soup, CRIER_ADMIN_METRICS_PATH);
      g_clear_object (&self->client_soup);
    }
  if (self->service != NULL)
    {
      g_socket_service_stop (self->service);
      g_socket_listener_close (G_SOCKET_LISTENER (self->service));
      g_signal_handlers_disconnect_by_func (self->service, on_incoming, self);
      g_clear_object (&self->service);
    }
  /* Their callbacks still come, after this, and only free them. */
  for (guint i = 0; self->handshakes != NULL && i < self->handshakes->len; i++)
    {
      AdminHandshake *hs = g_ptr_array_index (self->handshakes, i);

      hs->admin = NULL;
      g_cancellable_cancel (hs->cancellable);
    }
  g_clear_pointer (&self->handshakes, g_ptr_array_unref);
  g_clear_object (&self->tls);
  if (self->soup != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->soup, self);
      soup_server_disconnect (self->soup);
      g_clear_object (&self->soup);
    }
  /* TCP connections still held by libsoup or the engine forget us. */
  {
    GHashTableIter iter;
    gpointer key;

    g_hash_table_iter_init (&iter, self->tcp_conns);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      {
        TcpConn *tc = key;

        tc->admin = NULL;
        tc->conn = NULL;
        g_clear_object (&tc->remote);
      }
    g_clear_pointer (&self->tcp_conns, g_hash_table_unref);
    g_clear_pointer (&self->tcp_http, g_hash_table_unref);
  }
  /* Remove the socket file only if it is still ours. */
  if (self->socket_path != NULL && g_lstat (self->socket_path, &st) == 0 &&
      st.st_dev == self->socket_dev && st.st_ino == self->socket_ino)
    g_unlink (self->socket_path);

  g_clear_pointer (&self->known_sessions, g_hash_table_unref);
  g_ptr_array_unref (self->clients);
  crier_metrics_free (self->metrics);
  g_free (self->socket_path);
  g_free (self);
}

/* ---- the tick ------------------------------------------------------------- */

static void
admin_usage (CrierAdmin             *self,
             CrierMetricsAdminUsage *usage)
{
  *usage = self->closed_usage;
  for (guint i = 0; i < self->clients->len; i++)
    {
      AdminClient *c = g_ptr_array_index (self->clients, i);

      if (c->ws == NULL)
        continue;
      usage->connections++;
      usage->bytes_in += c->ws->conn->bytes_in;
      usage->bytes_out += c->ws->conn->bytes_out;
    }
}

typedef struct
{
  CrierAdmin *admin;
  GHashTable *old_known;
  GHashTable *new_known;
  guint       opened;
  guint       sent;
} SessionDiff;

static void
send_session_event (CrierAdmin *self,
                    const char *event,
                    JsonNode   *session)
{
  broadcast_event (self, G_STRUCT_OFFSET (AdminClient, watch_sessions), event, "session", session);
}

static void
diff_session (gpointer key,
              gpointer value,
              gpointer user_data)
{
  SessionDiff *d = user_data;
  CrierSession *s = value;
  gpointer old_key = NULL;
  gpointer old_value = NULL;

  if (g_hash_table_steal_extended (d->old_known, s->id, &old_key, &old_value))
    {
      g_hash_table_insert (d->new_known, old_key, old_value);
      return;
    }
  snapshot_session (NULL, s, d->new_known);
  d->opened++;
  if (d->sent < SESSION_EVENTS_PER_TICK)
    {
      g_autoptr(JsonNode) node = session_to_json (s, NULL);

      send_session_event (d->admin, "session_opened", node);
      d->sent++;
    }
}

static void
diff_sessions (CrierAdmin *self)
{
  SessionDiff d = { self, self->known_sessions, NULL, 0, 0 };
  GHashTableIter iter;
  gpointer key;
  gpointer value;
  guint closed = 0;
  guint closed_sent = 0;

  d.new_known = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) known_session_free);
  crier_hub_foreach_session (self->hub, diff_session, &d);

  /* What is left in the old snapshot has gone. */
  g_hash_table_iter_init (&iter, d.old_known);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      KnownSession *k = value;

      closed++;
      if (closed_sent < SESSION_EVENTS_PER_TICK)
        {
          JsonObject *o = json_object_new ();
          g_autoptr(JsonNode) node = NULL;

          json_object_set_string_member (o, "id", key);
          json_object_set_string_member (o, "user", k->user != NULL ? k->user : "");
          if (k->transport != NULL)
            json_object_set_string_member (o, "transport", k->transport);
          else
            json_object_set_null_member (o, "transport");
          if (k->remote != NULL)
            json_object_set_string_member (o, "remote", k->remote);
          else
            json_object_set_null_member (o, "remote");
          node = node_take_object (o);
          send_session_event (self, "session_closed", node);
          closed_sent++;
        }
    }

  if (d.opened > d.sent || closed > closed_sent)
    {
      JsonObject *o = json_object_new ();
      g_autoptr(JsonNode) node = NULL;
      g_autofree char *text = NULL;
      g_autoptr(GBytes) frame = NULL;

      json_object_set_string_member (o, "event", "sessions_resync");
      json_object_set_int_member (o, "opened", d.opened);
      json_object_set_int_member (o, "closed", closed);
      json_object_set_int_member (o, "sessions", g_hash_table_size (d.new_known));
      node = node_take_object (o);
      text = json_to_string (node, FALSE);
      frame = crier_ws_frame_new (CRIER_WS_OP_TEXT, text, strlen (text));
      broadcast_frame (self, frame, G_STRUCT_OFFSET (AdminClient, watch_sessions));
    }

  g_hash_table_unref (self->known_sessions);
  self->known_sessions = d.new_known;
}

void
crier_admin_tick (CrierAdmin *self,
                  gint64      now_us)
{
  CrierMetricsAdminUsage usage;

  g_return_if_fail (self != NULL);

  if (self->tcp_http != NULL && g_hash_table_size (self->tcp_http) > 0)
    sweep_tcp (self, now_us);
  admin_usage (self, &usage);
  if (!crier_metrics_tick (self->metrics, now_us, &usage))
    return;

  /* Once per second: the sample, encoded once, to every stats watcher. */
  if (count_watchers (self, G_STRUCT_OFFSET (AdminClient, watch_stats)) > 0)
    {
      g_autoptr(JsonNode) stats = crier_admin_stats_to_json (crier_metrics_get_last (self->metrics));

      broadcast_event (self, G_STRUCT_OFFSET (AdminClient, watch_stats), "stats", "stats", stats);
    }
  if (self->known_sessions != NULL)
    diff_sessions (self);
}

/* ---- accessors ------------------------------------------------------------ */

const CrierAdminTcpStats *
crier_admin_get_tcp_stats (CrierAdmin *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return &self->tcp_stats;
}

const char *
crier_admin_get_socket_path (CrierAdmin *self)
{
  return self->socket_path;
}

guint16
crier_admin_get_tcp_port (CrierAdmin *self)
{
  return self->tcp_port;
}

CrierMetrics *
crier_admin_get_metrics (CrierAdmin *self)
{
  return self->metrics;
}

guint
crier_admin_get_n_clients (CrierAdmin *self)
{
  return self->clients->len;
}

guint
crier_admin_get_n_connections (CrierAdmin *self)
{
  CrierMetricsAdminUsage usage;

  g_return_val_if_fail (self != NULL, 0);
  admin_usage (self, &usage);
  return usage.connections;
}

void
crier_admin_set_tls_certificate (CrierAdmin      *self,
                                 GTlsCertificate *certificate)
{
  /* New connections use it; open ones keep theirs. */
  if (self->tcp_port != 0 && certificate != NULL)
    g_set_object (&self->tls, certificate);
}
