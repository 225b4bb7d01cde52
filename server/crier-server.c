/* crier-server.c: the owning object of a node (see the header).
 *
 * Key functions: crier_server_start (RLIMIT, cap, listeners, routes),
 * server_tick (the periodic duties, listed there), crier_server_drain,
 * the HTTP handlers for /healthz, /readyz and the debug broadcast.
 */
#include "config.h"

#include "crier-server.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/resource.h>

#include "crier-admin.h"
#include "crier-api.h"
#include "crier-cluster.h"
#include "crier-jwt.h"
#include "crier-proto-centrifuge.h"
#include "crier-transport-stream.h"
#include "crier-transport-ws.h"
#include "crier-ws-codec.h"

#define FD_RESERVE 128   /* descriptors kept for logs, admin, broker, files */

struct _CrierServer
{
  GObject          parent_instance;

  CrierConfig     *config;
  GMainContext    *context;
  SoupServer      *soup;
  CrierEngine     *engine;
  CrierConnBudget *budget;
  GPtrArray       *listeners;       /* CrierListener* */
  char            *node_name;
  gint64           started_at;      /* monotonic µs */

  GSource         *tick;
  gboolean         draining;
  gint64           drain_deadline;  /* monotonic µs */
  gboolean         drained;

  GPtrArray       *debug_subscribers; /* CrierWs* on /debug/ws */
  CrierWsOptions   ws_options;

  CrierHub        *hub;
  CrierJwtKeys    *keys;
  CrierCfContext   cf;
  guint            ticks;

  CrierAdmin      *admin;           /* admin listeners, metrics, alerts */
  CrierCluster    *cluster;         /* node registry, node messages */

  CrierLimitStats  limit_stats;     /* what [limits] refused (metrics) */
  GTlsCertificate *tls_certificate;       /* [tls] client listeners, or NULL */
  GTlsCertificate *admin_tls_certificate; /* [tls] admin, or NULL */
};

enum {
  DRAINED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (CrierServer, crier_server, G_TYPE_OBJECT)

static void
crier_server_dispose (GObject *object)
{
  CrierServer *self = CRIER_SERVER (object);

  if (self->tick != NULL)
    {
      g_source_destroy (self->tick);
      g_clear_pointer (&self->tick, g_source_unref);
    }
  g_clear_pointer (&self->listeners, g_ptr_array_unref);
  if (self->budget != NULL)
    {
      /* Connections still in flight may outlive us with the budget. */
      if (self->soup != NULL)
        g_signal_handlers_disconnect_by_data (self->soup, self->budget);
      self->budget->config = NULL;
      self->budget->limits = NULL;
    }
  /* Before the engine and the hub it reads. */
  g_clear_pointer (&self->admin, crier_admin_free);
  if (self->soup != NULL)
    soup_server_disconnect (self->soup);
  /* Connections leave the hub as the engine closes them. */
  g_clear_pointer (&self->engine, crier_engine_free);
  g_clear_pointer (&self->hub, crier_hub_free);
  /* After the hub: its broker answers pending calls when freed. */
  g_clear_pointer (&self->cluster, crier_cluster_free);
  g_clear_object (&self->soup);

  G_OBJECT_CLASS (crier_server_parent_class)->dispose (object);
}

static void
crier_server_finalize (GObject *object)
{
  CrierServer *self = CRIER_SERVER (object);

  g_clear_pointer (&self->debug_subscribers, g_ptr_array_unref);
  g_clear_pointer (&self->budget, crier_conn_budget_unref);
  g_clear_pointer (&self->keys, crier_jwt_keys_unref);
  g_clear_object (&self->tls_certificate);
  g_clear_object (&self->admin_tls_certificate);
  g_clear_pointer (&self->config, crier_config_free);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_free (self->node_name);

  G_OBJECT_CLASS (crier_server_parent_class)->finalize (object);
}

static void
crier_server_class_init (CrierServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = crier_server_dispose;
  object_class->finalize = crier_server_finalize;

  /**
   * CrierServer::drained:
   *
   * Emitted once after crier_server_drain() when every connection is gone
   * or the drain timeout has passed; the process may exit then.
   */
  signals[DRAINED] = g_signal_new ("drained",
                                   G_TYPE_FROM_CLASS (klass),
                                   G_SIGNAL_RUN_LAST,
                                   0, NULL, NULL, NULL,
                                   G_TYPE_NONE, 0);
}

static void
crier_server_init (CrierServer *self)
{
  self->listeners = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_listener_free);
  self->debug_subscribers = g_ptr_array_new ();
}

static void
apply_limits (CrierServer *self)
{
  CrierEngineLimits limits = {
    .soft_limit = self->config->outbound_soft_limit,
    .hard_limit = self->config->outbound_hard_limit,
    .soft_grace_ms = self->config->outbound_soft_grace,
    .close_timeout_ms = 5000,
  };

  crier_engine_set_limits (self->engine, &limits);

  self->ws_options.max_frame_size = self->config->ws_max_frame_size;
  self->ws_options.max_message_size = self->config->ws_max_message_size;
  self->ws_options.ping_interval_ms = self->config->ping_interval;
  self->ws_options.pong_timeout_ms = self->config->pong_timeout;
  self->ws_options.allowed_origins = self->config->allowed_origins;
  self->ws_options.limits = &self->limit_stats;
}

static void reply_json (SoupServerMessage *msg,
                        guint              status,
                        const char        *json);

CrierServer *
crier_server_new (CrierConfig *config)
{
  CrierServer *self = g_object_new (CRIER_TYPE_SERVER, NULL);

  self->config = config;
  self->context = g_main_context_ref_thread_default ();
  self->engine = crier_engine_new (self->context);
  /* No "server-header": do not advertise versions to the internet. */
  self->soup = soup_server_new (NULL, NULL);
  /* Deflate would cost ~100 KB per connection and defeat encode-once. */
  soup_server_remove_websocket_extension (self->soup, SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);

  if (config->node_name != NULL && config->node_name[0] != '\0')
    self->node_name = g_strdup (config->node_name);
  else
    self->node_name = g_strdup (g_get_host_name ());

  self->hub = crier_hub_new (config);
  self->cluster = crier_cluster_new (self);
  self->keys = crier_jwt_keys_new ();
  self->cf.hub = self->hub;
  self->cf.config = config;
  self->cf.keys = self->keys;
  self->cf.node = self->node_name;
  self->cf.limits = &self->limit_stats;
  crier_hub_set_limit_stats (self->hub, &self->limit_stats);

  apply_limits (self);
  return self;
}

/* [broker]: Redis when configured, else the hub's memory broker. */
static gboolean
start_broker (CrierServer *self,
              GError     **error)
{
  const CrierConfig *c = self->config;
  CrierRedisOptions options = { 0 };
  CrierBroker *broker;

  if ((c->redis == NULL || c->redis[0] == '\0') &&
      (c->redis_sentinels == NULL || c->redis_sentinels[0] == NULL))
    return TRUE;

  options.address = c->redis;
  options.user = c->redis_user != NULL && c->redis_user[0] != '\0' ? c->redis_user : NULL;
  options.password = c->redis_password;
  options.db = (gint) c->redis_db;
  options.prefix = c->redis_prefix;
  options.sentinels = (const char * const *) c->redis_sentinels;
  options.master_name = c->redis_master_name;
  options.sentinel_password = c->redis_sentinel_password != NULL && c->redis_sentinel_password[0] != '\0'
                                ? c->redis_sentinel_password : NULL;
  options.tls = c->redis_tls;
  options.node_name = self->node_name;
  options.connect_timeout_ms = c->redis_connect_timeout;
  options.command_timeout_ms = c->redis_command_timeout;
  options.presence_ttl_ms = c->redis_presence_ttl;

  broker = crier_broker_redis_new (&options, NULL, NULL, error);
  if (broker == NULL)
    return FALSE;
  crier_hub_set_broker (self->hub, broker);
  g_message ("broker: redis %s", c->redis_sentinels != NULL && c->redis_sentinels[0] != NULL
                                   ? c->redis_master_name : c->redis);
  return TRUE;
}

/* [tls] priority.  glib-networking 2.74 builds its one GnuTLS priority
 * cache from G_TLS_GNUTLS_PRIORITY when the first TLS connection of the
 * process is created (GTlsConnectionGnutls class_init), and otherwise
 * uses "%COMPAT" appended to the system default, which on Debian 12 still
 * allows TLS 1.0, RSA key exchange and CBC-SHA1.  So this must run before
 * any TLS object exists; later changes need a restart, which the class
 * being initialised already tells us. */
static void
apply_tls_priority (const char *priority)
{
  const char *current = g_getenv ("G_TLS_GNUTLS_PRIORITY");
  GType gnutls_type;

  if (g_strcmp0 (current, priority) == 0)
    return;

  gnutls_type = g_type_from_name ("GTlsConnectionGnutls");
  if (gnutls_type != 0 && g_type_class_peek (gnutls_type) != NULL)
    {
      g_warning ("[tls] priority: TLS is already in use in this process with "
                 "another priority; the new one applies after a restart");
      return;
    }
  if (current != NULL)
    g_message ("[tls] priority replaces G_TLS_GNUTLS_PRIORITY from the environment");
  g_setenv ("G_TLS_GNUTLS_PRIORITY", priority, TRUE);
}

/* One certificate and key pair of [tls]; errors name both files. */
static GTlsCertificate *
load_certificate (const char *what,
                  const char *cert_file,
                  const char *key_file,
                  GError    **error)
{
  g_autoptr(GError) local_error = NULL;
  GTlsCertificate *cert = g_tls_certificate_new_from_files (cert_file, key_file, &local_error);

  if (cert == NULL)
    {
      g_set_error (error, CRIER_CONFIG_ERROR, CRIER_CONFIG_ERROR_BAD_VALUE,
                   "[tls] %s: cannot load certificate %s with key %s: %s",
                   what, cert_file, key_file, local_error->message);
      return NULL;
    }
  return cert;
}

/* [tls]: the client listeners' certificate and the admin listener's
 * (NULL when not configured).  Both or nothing: on error none changes. */
static gboolean
load_tls (const CrierConfig *config,
          GTlsCertificate  **client_out,
          GTlsCertificate  **admin_out,
          GError           **error)
{
  g_autoptr(GTlsCertificate) client = NULL;
  g_autoptr(GTlsCertificate) admin = NULL;

  if (config->tls_cert_file[0] != '\0')
    {
      client = load_certificate ("cert_file", config->tls_cert_file, config->tls_key_file, error);
      if (client == NULL)
        return FALSE;
    }
  if (config->tls_admin)
    {
      if (config->tls_admin_cert_file[0] != '\0')
        admin = load_certificate ("admin_cert_file", config->tls_admin_cert_file,
                                  config->tls_admin_key_file, error);
      else if (client != NULL)
        admin = g_object_ref (client);
      if (admin == NULL)
        return FALSE;
    }
  *client_out = g_steal_pointer (&client);
  *admin_out = g_steal_pointer (&admin);
  return TRUE;
}

/* Keys for connection and subscription tokens, from [auth]. */
static CrierJwtKeys *
load_keys (const CrierConfig *config,
           GError           **error)
{
  g_autoptr(CrierJwtKeys) keys = crier_jwt_keys_new ();

  if (config->hmac_secret != NULL && config->hmac_secret[0] != '\0')
    crier_jwt_keys_set_hmac_secret (keys, (const guint8 *) config->hmac_secret, strlen (config->hmac_secret));
  if (config->rsa_public_key != NULL && config->rsa_public_key[0] != '\0' &&
      !crier_jwt_keys_load_rsa_public_key (keys, config->rsa_public_key, error))
    return NULL;
  if (config->ecdsa_public_key != NULL && config->ecdsa_public_key[0] != '\0' &&
      !crier_jwt_keys_load_ec_public_key (keys, config->ecdsa_public_key, error))
    return NULL;
  return g_steal_pointer (&keys);
}

static void
handle_cf_websocket (SoupServer        *soup,
                     SoupServerMessage *msg,
                     const char        *path,
                     GHashTable        *query,
                     gpointer           user_data)
{
  CrierServer *self = user_data;

  if (self->draining)
    {
      reply_json (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "{\"error\":\"draining\"}\n");
      return;
    }
  /* Test switch ([server] debug_disable_transports): the SDKs' fallback. */
  if (crier_transport_disabled (self->config, "websocket"))
    {
      reply_json (msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
                  "{\"error\":\"transport disabled (debug_disable_transports)\"}\n");
      return;
    }
  crier_cf_handle_websocket (&self->cf, self->engine, msg,
                             g_str_equal (path, "/connection/uni_websocket"));
}

/* ---- HTTP handlers ------------------------------------------------------ */

static void
reply_json (SoupServerMessage *msg,
            guint              status,
            const char        *json)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);

  soup_message_headers_replace (h, "Cache-Control", "no-store");
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, json, strlen (json));
}

static gboolean
broker_healthy (CrierServer *self)
{
  CrierBroker *broker = crier_hub_get_broker (self->hub);

  return broker->vtable->is_healthy == NULL || broker->vtable->is_healthy (broker);
}

static void
handle_healthz (SoupServer        *soup,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  CrierServer *self = user_data;

  /* Health tells the truth: red while the broker link (Redis) is broken,
   * so a load balancer stops sending clients that would miss messages. */
  if (!broker_healthy (self))
    reply_json (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "{\"status\":\"broker unavailable\"}\n");
  else
    reply_json (msg, SOUP_STATUS_OK, "{\"status\":\"ok\"}\n");
}

static void
handle_readyz (SoupServer        *soup,
               SoupServerMessage *msg,
               const char        *path,
               GHashTable        *query,
               gpointer           user_data)
{
  CrierServer *self = user_data;

  if (self->draining)
    reply_json (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "{\"status\":\"draining\"}\n");
  else if (!broker_healthy (self))
    reply_json (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "{\"status\":\"broker unavailable\"}\n");
  else
    reply_json (msg, SOUP_STATUS_OK, "{\"status\":\"ready\"}\n");
}

static void
handle_not_found (SoupServer        *soup,
                  SoupServerMessage *msg,
                  const char        *path,
                  GHashTable        *query,
                  gpointer           user_data)
{
  reply_json (msg, SOUP_STATUS_NOT_FOUND, "{\"error\":\"not found\"}\n");
}

/* The debug broadcast: /debug/ws subscribers receive every body POSTed to
 * /debug/publish as one text frame, built once. Enabled by
 * [server] debug_endpoints for benchmarks of the raw engine. */

static void
debug_ws_open (CrierWs *ws,
               gpointer user_data)
{
  CrierServer *self = user_data;

  g_ptr_array_add (self->debug_subscribers, ws);
}

static void
debug_ws_closed (CrierWs         *ws,
                 CrierCloseReason reason,
                 guint16          code,
                 gpointer         user_data)
{
  CrierServer *self = user_data;

  g_ptr_array_remove_fast (self->debug_subscribers, ws);
}

static void
debug_ws_message (CrierWs      *ws,
                  const guint8 *data,
                  gsize         len,
                  gboolean      is_text,
                  gpointer      user_data)
{
  g_autoptr(GBytes) frame = crier_ws_frame_new (is_text ? CRIER_WS_OP_TEXT : CRIER_WS_OP_BINARY, data, len);

  /* Echo, so that tests can see reassembled messages. */
  crier_ws_send_frame (ws, frame);
}

static const CrierWsHandler debug_ws_handler = {
  .on_open = debug_ws_open,
  .on_message = debug_ws_message,
  .on_closed = debug_ws_closed,
};

static void
handle_debug_ws (SoupServer        *soup,
                 SoupServerMessage *msg,
                 const char        *path,
                 GHashTable        *query,
                 gpointer           user_data)
{
  CrierServer *self = user_data;

  if (self->draining)
    {
      reply_json (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "{\"error\":\"draining\"}\n");
      return;
    }
  crier_ws_handle_upgrade (self->engine, msg, &self->ws_options, &debug_ws_handler, self);
}

static void
handle_debug_publish (SoupServer        *soup,
                      SoupServerMessage *msg,
                      const char        *path,
                      GHashTable        *query,
                      gpointer           user_data)
{
  CrierServer *self = user_data;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GBytes) frame = NULL;
  g_autofree char *reply = NULL;
  const guint8 *data;
  gsize len;
  guint reached = 0;

  if (soup_server_message_get_method (msg) != SOUP_METHOD_POST)
    {
      reply_json (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "{\"error\":\"POST only\"}\n");
      return;
    }

  body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  data = g_bytes_get_data (body, &len);
  if ((gint64) len > self->config->max_request_body)
    {
      reply_json (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "{\"error\":\"body too large\"}\n");
      return;
    }
  if (!crier_ws_utf8_validate (data, len))
    {
      reply_json (msg, SOUP_STATUS_BAD_REQUEST, "{\"error\":\"body is not UTF-8\"}\n");
      return;
    }

  /* One frame for everybody. Closed connections leave the array only when
   * reaped, after this loop. */
  frame = crier_ws_frame_new (CRIER_WS_OP_TEXT, data, len);
  for (guint i = 0; i < self->debug_subscribers->len; i++)
    if (crier_ws_send_frame (g_ptr_array_index (self->debug_subscribers, i), frame))
      reached++;

  reply = g_strdup_printf ("{\"reached\":%u}\n", reached);
  reply_json (msg, SOUP_STATUS_OK, reply);
}

/* ---- tick and drain ----------------------------------------------------- */

static gboolean
server_tick (gpointer data)
{
  CrierServer *self = data;
  gint64 now = g_get_monotonic_time ();

  /* Duties, once per tick (100 ms):
   *  1. every second: hub housekeeping (history TTL, subscription
   *     expiry);
   *  2. drain: emit "drained" when the last connection left or the
   *     deadline passed;
   *  3. admin: main-loop lag every tick; every second the metrics
   *     sample, anomaly detection and the admin watchers' events;
   *  4. every second: close HTTP-phase connections past [limits]
   *     request_timeout or http_idle_timeout (libsoup has no timeouts). */
  if (++self->ticks % 10 == 0)
    {
      crier_hub_tick (self->hub, g_get_real_time () / 1000);
      /* The node heartbeat and registry read (every 2 s). */
      crier_cluster_tick (self->cluster, now);
      crier_conn_budget_sweep (self->budget, now);
    }
  if (self->admin != NULL)
    crier_admin_tick (self->admin, now);

  if (self->draining && !self->drained)
    {
      guint left = crier_engine_get_n_conns (self->engine);

      if (left == 0 || now >= self->drain_deadline)
        {
          if (left > 0)
            g_warning ("drain timeout: %u connections still open, closing them", left);
          self->drained = TRUE;
          g_signal_emit (self, signals[DRAINED], 0);
        }
    }

  return G_SOURCE_CONTINUE;
}

void
crier_server_drain (CrierServer *self)
{
  g_return_if_fail (CRIER_IS_SERVER (self));

  if (self->draining)
    return;

  self->draining = TRUE;
  self->drain_deadline = g_get_monotonic_time () + self->config->drain_timeout * 1000;
  g_message ("draining: %u connections, at most %" G_GINT64_FORMAT " ms",
             crier_engine_get_n_conns (self->engine), self->config->drain_timeout);

  for (guint i = 0; i < self->listeners->len; i++)
    crier_listener_stop (g_ptr_array_index (self->listeners, i));
  crier_engine_shutdown_all (self->engine);
}

gboolean
crier_server_is_draining (CrierServer *self)
{
  return self->draining;
}

/* ---- start -------------------------------------------------------------- */

static gint64
raise_fd_limit (void)
{
  struct rlimit rl;

  if (getrlimit (RLIMIT_NOFILE, &rl) != 0)
    return 1024;
  if (rl.rlim_cur < rl.rlim_max)
    {
      rlim_t before = rl.rlim_cur;

      rl.rlim_cur = rl.rlim_max;
      if (setrlimit (RLIMIT_NOFILE, &rl) != 0)
        rl.rlim_cur = before;
    }
  return rl.rlim_cur == RLIM_INFINITY ? G_MAXINT32 : (gint64) rl.rlim_cur;
}

gboolean
crier_server_start (CrierServer *self,
                    GError     **error)
{
  gint64 fd_limit;
  gint64 cap;

  g_return_val_if_fail (CRIER_IS_SERVER (self), FALSE);
  g_return_val_if_fail (self->listeners->len == 0, FALSE);

  fd_limit = raise_fd_limit ();
  cap = fd_limit - FD_RESERVE;
  if (self->config->max_connections > 0 && self->config->max_connections < cap)
    cap = self->config->max_connections;
  else if (self->config->max_connections > cap)
    g_warning ("[server] max_connections %" G_GINT64_FORMAT " is above what %" G_GINT64_FORMAT
               " file descriptors allow; using %" G_GINT64_FORMAT,
               self->config->max_connections, fd_limit, cap);
  cap = MAX (cap, 1);
  self->budget = crier_conn_budget_new (cap);
  self->budget->config = self->config;
  self->budget->limits = &self->limit_stats;
  crier_conn_budget_watch_soup (self->budget, self->soup);

  apply_tls_priority (crier_tls_priority_string (self->config->tls_priority));
  if (!load_tls (self->config, &self->tls_certificate, &self->admin_tls_certificate, error))
    return FALSE;
  crier_conn_budget_set_tls_certificate (self->budget, self->tls_certificate);

  if (!crier_soup_anchor_keepalive (self->soup, error))
    return FALSE;

  {
    CrierJwtKeys *keys = load_keys (self->config, error);

    if (keys == NULL)
      return FALSE;
    crier_jwt_keys_unref (self->keys);
    self->keys = self->cf.keys = keys;
  }

  if (!start_broker (self, error))
    return FALSE;
  crier_cluster_start (self->cluster);

  soup_server_add_handler (self->soup, NULL, handle_not_found, self, NULL);
  soup_server_add_handler (self->soup, "/healthz", handle_healthz, self, NULL);
  soup_server_add_handler (self->soup, "/readyz", handle_readyz, self, NULL);
  soup_server_add_handler (self->soup, "/connection/websocket", handle_cf_websocket, self, NULL);
  soup_server_add_handler (self->soup, "/connection/uni_websocket", handle_cf_websocket, self, NULL);
  crier_api_register (self, self->soup);
  crier_stream_register (self, self->soup, &self->cf);
  if (self->config->debug_endpoints)
    {
      g_warning ("debug endpoints are enabled: never do this in production");
      soup_server_add_handler (self->soup, "/debug/ws", handle_debug_ws, self, NULL);
      soup_server_add_handler (self->soup, "/debug/publish", handle_debug_publish, self, NULL);
    }

  for (guint i = 0; self->config->listen[i] != NULL; i++)
    {
      g_autoptr(GError) local_error = NULL;
      CrierListener *l = crier_listener_new (self->engine, self->soup, self->budget,
                                             self->config->listen[i],
                                             (int) self->config->backlog,
                                             self->config->tcp_nodelay, &local_error);

      if (l == NULL)
        {
          /* The default listens on IPv6 too; a host without IPv6 should
           * still start on IPv4 alone. */
          if (self->config->listen[i][0] == '[' &&
              (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED) ||
               g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_FAILED)) &&
              self->listeners->len > 0)
            {
              g_warning ("%s (continuing without it)", local_error->message);
              continue;
            }
          g_propagate_error (error, g_steal_pointer (&local_error));
          g_ptr_array_set_size (self->listeners, 0);
          return FALSE;
        }
      g_ptr_array_add (self->listeners, l);
      g_message ("listening on %s%s", crier_listener_get_address (l),
                 self->tls_certificate != NULL ? " (TLS)" : "");
    }

  g_message ("node %s: up to %" G_GINT64_FORMAT " connections (%" G_GINT64_FORMAT " file descriptors)",
             self->node_name, cap, fd_limit);

  /* Admin listeners (Unix socket, optional TCP) and /metrics. */
  self->admin = crier_admin_new (self, &self->cf.stats);
  if (!crier_admin_start (self->admin, error))
    {
      g_clear_pointer (&self->admin, crier_admin_free);
      g_ptr_array_set_size (self->listeners, 0);
      return FALSE;
    }

  self->started_at = g_get_monotonic_time ();
  self->tick = g_timeout_source_new (100);
  g_source_set_name (self->tick, "crier-tick");
  g_source_set_callback (self->tick, server_tick, self, NULL);
  g_source_attach (self->tick, self->context);

  return TRUE;
}

void
crier_server_reload (CrierServer       *self,
                     const CrierConfig *fresh)
{
  g_autoptr(GPtrArray) not_reloaded = NULL;

  g_autoptr(GError) error = NULL;
  CrierJwtKeys *keys;

  crier_config_apply_reload (self->config, fresh, &not_reloaded);
  apply_limits (self);
  keys = load_keys (self->config, &error);
  if (keys == NULL)
    g_warning ("reload: keeping the previous token keys: %s", error->message);
  else
    {
      crier_jwt_keys_unref (self->keys);
      self->keys = self->cf.keys = keys;
    }
  g_clear_error (&error);
  {
    /* New connections get the new certificates; open ones keep theirs. */
    g_autoptr(GTlsCertificate) client = NULL;
    g_autoptr(GTlsCertificate) admin = NULL;

    if (!load_tls (self->config, &client, &admin, &error))
      g_warning ("reload: keeping the previous TLS certificates: %s", error->message);
    else
      {
        g_set_object (&self->tls_certificate, client);
        if (self->budget != NULL)
          crier_conn_budget_set_tls_certificate (self->budget, client);
        if (self->admin_tls_certificate != NULL && admin != NULL)
          {
            g_set_object (&self->admin_tls_certificate, admin);
            if (self->admin != NULL)
              crier_admin_set_tls_certificate (self->admin, admin);
          }
        if (client != NULL)
          g_message ("reload: TLS certificate %s loaded", self->config->tls_cert_file);
      }
  }
  if (not_reloaded != NULL)
    for (guint i = 0; i < not_reloaded->len; i++)
      g_warning ("reload: %s changed but needs a restart", (char *) g_ptr_array_index (not_reloaded, i));
  g_message ("configuration reloaded");
}

const CrierConfig *
crier_server_get_config (CrierServer *self)
{
  return self->config;
}

CrierEngine *
crier_server_get_engine (CrierServer *self)
{
  return self->engine;
}

SoupServer *
crier_server_get_soup (CrierServer *self)
{
  return self->soup;
}

CrierConnBudget *
crier_server_get_budget (CrierServer *self)
{
  return self->budget;
}

GPtrArray *
crier_server_get_listeners (CrierServer *self)
{
  return self->listeners;
}

guint16
crier_server_get_port (CrierServer *self)
{
  if (self->listeners->len == 0)
    return 0;
  return crier_listener_get_port (g_ptr_array_index (self->listeners, 0));
}

const char *
crier_server_get_node_name (CrierServer *self)
{
  return self->node_name;
}

CrierHub *
crier_server_get_hub (CrierServer *self)
{
  return self->hub;
}

CrierCfContext *
crier_server_get_cf_context (CrierServer *self)
{
  return &self->cf;
}

gint64
crier_server_get_uptime (CrierServer *self)
{
  if (self->started_at == 0)
    return 0;
  return (g_get_monotonic_time () - self->started_at) / G_USEC_PER_SEC;
}

CrierAdmin *
crier_server_get_admin (CrierServer *self)
{
  return self->admin;
}

CrierCluster *
crier_server_get_cluster (CrierServer *self)
{
  return self->cluster;
}

CrierLimitStats *
crier_server_get_limit_stats (CrierServer *self)
{
  return &self->limit_stats;
}

GTlsCertificate *
crier_server_get_tls_certificate (CrierServer *self)
{
  return self->tls_certificate;
}

GTlsCertificate *
crier_server_get_admin_tls_certificate (CrierServer *self)
{
  return self->admin_tls_certificate;
}
