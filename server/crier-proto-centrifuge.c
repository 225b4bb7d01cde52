/* crier-proto-centrifuge.c: the Centrifugo JSON client protocol v2.
 *
 * Key functions: crier_cf_client_feed (split, queue, process in order),
 * handle_command (dispatch by method), handle_connect / handle_subscribe
 * (auth, permissions, recovery through the hub), client_tick (stale
 * connections, pings and pong timeout, connection expiry), and the
 * WebSocket bindings (crier_cf_handle_websocket).
 *
 * Codes and shapes follow ../shared/docs/protocols.md Part A; choices where
 * the reference is ambiguous are noted where they are made.
 */
#include "config.h"

#include "crier-proto-centrifuge.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "crier-transport-ws.h"
#include "crier-util.h"

#define HISTORY_MAX_LIMIT     300

struct _CrierCfClient
{
  gint                    ref_count;
  CrierCfContext         *ctx;
  const CrierCfTransport *t;
  gpointer                td;
  CrierSession           *session;

  gboolean                uni;
  gboolean                wants_pong;
  gboolean                connected;
  gboolean                closed;
  gboolean                connecting;  /* connect reply not sent: hold publications */
  gboolean                processing;
  guint                   busy;        /* commands waiting for an async answer */
  GQueue                  queue;       /* char* command lines */
  GPtrArray              *held;        /* GBytes frames held while connecting */

  gint64                  stale_deadline;
  gint64                  next_ping;
  gint64                  pong_deadline;
  gint64                  ping_sent_us;  /* monotonic, of the ping awaiting its pong */
  gint64                  rtt_us;        /* last ping -> pong round trip, -1 unknown */

  CrierTokenBucket        cmd_bucket;  /* [limits] command_rate */
  guint                   cmd_rejections; /* refused in a row */
};

static void process_queue (CrierCfClient *client);

/* Typed reads of untrusted command fields: a member of the wrong JSON type
 * reads as absent (json-glib's *_with_default would log a critical and the
 * string variant return NULL). */
static const char *
member_string (JsonObject *o,
               const char *name,
               const char *def)
{
  JsonNode *n = json_object_get_member (o, name);

  if (n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING)
    return json_node_get_string (n);
  return def;
}

static gboolean
member_bool (JsonObject *o,
             const char *name)
{
  JsonNode *n = json_object_get_member (o, name);

  return n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_BOOLEAN &&
         json_node_get_boolean (n);
}

static gint64
member_int (JsonObject *o,
            const char *name,
            gint64      def)
{
  JsonNode *n = json_object_get_member (o, name);

  if (n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_INT64)
    return json_node_get_int (n);
  return def;
}

static CrierCfClient *
client_ref (CrierCfClient *client)
{
  g_atomic_int_inc (&client->ref_count);
  return client;
}

static void
client_unref (CrierCfClient *client)
{
  if (!g_atomic_int_dec_and_test (&client->ref_count))
    return;
  g_queue_clear_full (&client->queue, g_free);
  g_clear_pointer (&client->held, g_ptr_array_unref);
  crier_session_free (client->session);
  g_free (client);
}

static gint64
now_ms (void)
{
  return g_get_monotonic_time () / 1000;
}

static gint64
wall_s (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

static gint64
wall_ms (void)
{
  return g_get_real_time () / 1000;
}

/* Wall-clock ms at which an unrefreshed connection is closed (3005):
 * [auth] expired_close_delay after the token's expiry. */
static gint64
expiry_close_ms (CrierCfClient *client)
{
  return client->session->expire_at * 1000 + client->ctx->config->expired_close_delay;
}

/* When the hub ends a subscription whose token expires at @exp (wall s):
 * the same grace, rounded up to whole seconds as expire_at is. */
static gint64
sub_expire_at (CrierCfClient *client,
               gint64         exp)
{
  if (exp <= 0)
    return 0;
  return exp + (client->ctx->config->expired_close_delay + 999) / 1000;
}

/* ---- session vtable: how the hub reaches this client ---------------------- */

static gboolean
session_send_encoded (CrierSession *session,
                      GBytes       *frame)
{
  CrierCfClient *client = session->transport;

  if (client->closed)
    return FALSE;
  if (client->connecting)
    {
      /* Server-side subscriptions deliver before the connect reply is out:
       * keep their frames until it is. */
      g_ptr_array_add (client->held, g_bytes_ref (frame));
      return TRUE;
    }
  if (g_bytes_get_size (frame) == 0)
    return TRUE;
  session->pubs_out++;
  return client->t->send_encoded (client->td, frame);
}

static gboolean
send_line (CrierCfClient *client,
           GString       *line)
{
  if (client->closed)
    return FALSE;
  return client->t->send_line (client->td, line->str, line->len);
}

static gboolean
session_send_push (CrierSession *session,
                   const char   *push_json)
{
  CrierCfClient *client = session->transport;
  g_autoptr(GString) line = g_string_new (NULL);

  if (client->uni)
    g_string_append (line, push_json);
  else
    g_string_append_printf (line, "{\"push\":%s}", push_json);
  return send_line (client, line);
}

static void
disconnect (CrierCfClient *client,
            guint          code,
            const char    *reason)
{
  if (client->closed)
    return;
  client->closed = TRUE;
  if (code >= 3500 && code < 3516)
    client->ctx->stats.disconnects[code - 3500]++;
  g_debug ("client %s: disconnect %u %s", client->session->id, code, reason);
  client->t->disconnect (client->td, code, reason);
}

static void
session_disconnect (CrierSession *session,
                    guint         code,
                    const char   *reason)
{
  disconnect (session->transport, code, reason);
}

static const CrierSessionClass cf_session_class = {
  .transport = "centrifuge",
  .send_encoded = session_send_encoded,
  .send_push = session_send_push,
  .disconnect = session_disconnect,
};

/* ---- replies ------------------------------------------------------------- */

static void
reply_ok (CrierCfClient *client,
          guint32        id,
          const char    *method,
          const char    *result)
{
  g_autoptr(GString) line = g_string_new (NULL);

  g_string_append_printf (line, "{\"id\":%u,\"%s\":%s}", id, method, result ? result : "{}");
  send_line (client, line);
}

static void
reply_error (CrierCfClient *client,
             guint32        id,
             int            code,
             const char    *message)
{
  g_autoptr(GString) line = g_string_new (NULL);

  if (code >= 100 && code < 116)
    client->ctx->stats.replies_error[code - 100]++;
  g_string_append_printf (line, "{\"id\":%u,\"error\":{\"code\":%d,\"message\":", id, code);
  crier_json_append_string (line, message ? message : crier_proto_error_message (code));
  /* 100 internal and 111 too many requests are temporary for the SDK. */
  if (code == CRIER_PROTO_ERROR_INTERNAL || code == CRIER_PROTO_ERROR_TOO_MANY_REQUESTS)
    g_string_append (line, ",\"temporary\":true");
  g_string_append (line, "}}");
  send_line (client, line);
}

static void
reply_gerror (CrierCfClient *client,
              guint32        id,
              const GError  *error)
{
  if (error->domain == CRIER_PROTO_ERROR)
    reply_error (client, id, error->code, crier_proto_error_message (error->code));
  else
    reply_error (client, id, CRIER_PROTO_ERROR_INTERNAL, NULL);
}

static char *
node_to_json (JsonNode *node)
{
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;
  return json_to_string (node, FALSE);
}

/* ---- timers -------------------------------------------------------------- */

static void
schedule (CrierCfClient *client)
{
  gint64 deadline = 0;

  if (client->closed)
    return;
  if (!client->connected)
    deadline = client->stale_deadline;
  else
    {
      deadline = client->pong_deadline > 0 ? client->pong_deadline : client->next_ping;
      if (client->session->expire_at > 0)
        {
          gint64 expire_ms = now_ms () + (expiry_close_ms (client) - wall_ms ());

          if (deadline == 0 || expire_ms < deadline)
            deadline = expire_ms;
        }
    }
  client->t->set_deadline (client->td, deadline);
}

void
crier_cf_client_tick (CrierCfClient *client,
                      gint64         now)
{
  const CrierConfig *config = client->ctx->config;

  if (client->closed)
    return;

  if (!client->connected)
    {
      if (now >= client->stale_deadline)
        {
          client->ctx->stats.stale++;
          disconnect (client, 3502, "stale");
        }
      else
        schedule (client);
      return;
    }

  if (client->pong_deadline > 0 && now >= client->pong_deadline)
    {
      client->ctx->stats.no_pong++;
      disconnect (client, 3012, "no pong");
      return;
    }

  if (client->session->expire_at > 0 && wall_ms () >= expiry_close_ms (client))
    {
      client->ctx->stats.expired++;
      disconnect (client, 3005, "connection expired");
      return;
    }

  if (client->next_ping > 0 && now >= client->next_ping)
    {
      client->t->send_ping (client->td);
      if (client->wants_pong && client->pong_deadline == 0)
        {
          client->pong_deadline = now + config->pong_timeout;
          client->ping_sent_us = g_get_monotonic_time ();
        }
      client->next_ping = now + config->ping_interval;
    }

  schedule (client);
}

/* ---- connect ------------------------------------------------------------- */

typedef struct
{
  CrierCfClient *client;
  guint32        id;
  guint          pending;
  GString       *subs;      /* "name":{SubscribeResult},... */
  gint64         ttl;
  JsonObject    *subs_claim; /* the token's "subs" (for "data"), or NULL */
} ConnectOp;

static void append_subscribe_result (GString                    *out,
                                     const CrierSubscribeResult *res,
                                     gint64                      ttl,
                                     const char                 *data);

static void
connect_finish (ConnectOp *op)
{
  CrierCfClient *client = op->client;
  const CrierConfig *config = client->ctx->config;
  g_autoptr(GString) r = g_string_new ("{\"client\":");

  crier_json_append_string (r, client->session->id);
  g_string_append (r, ",\"version\":");
  crier_json_append_string (r, PACKAGE_VERSION);
  if (op->ttl > 0)
    g_string_append_printf (r, ",\"expires\":true,\"ttl\":%" G_GINT64_FORMAT, op->ttl);
  if (config->ping_interval > 0)
    g_string_append_printf (r, ",\"ping\":%" G_GINT64_FORMAT "%s",
                            MAX ((config->ping_interval + 999) / 1000, 1),
                            client->wants_pong ? ",\"pong\":true" : "");
  if (op->subs->len > 0)
    g_string_append_printf (r, ",\"subs\":{%s}", op->subs->str);
  /* session and node let HTTP-stream and SSE clients address /emulation. */
  g_string_append (r, ",\"session\":");
  crier_json_append_string (r, client->session->id);
  g_string_append (r, ",\"node\":");
  crier_json_append_string (r, client->ctx->node);
  g_string_append (r, "}");

  if (client->uni)
    {
      g_autoptr(GString) push = g_string_new (NULL);

      g_string_append_printf (push, "{\"connect\":%s}", r->str);
      send_line (client, push);
    }
  else
    reply_ok (client, op->id, "connect", r->str);

  client->connecting = FALSE;
  for (guint i = 0; i < client->held->len && !client->closed; i++)
    client->t->send_encoded (client->td, g_ptr_array_index (client->held, i));
  g_ptr_array_set_size (client->held, 0);

  if (config->ping_interval > 0)
    {
      /* Spread the first pings over [interval/2, interval). */
      gint64 half = config->ping_interval / 2;

      client->next_ping = now_ms () + half + g_random_int_range (0, MAX (half, 1));
    }
  schedule (client);

  g_string_free (op->subs, TRUE);
  g_clear_pointer (&op->subs_claim, json_object_unref);
  client->busy--;
  client_unref (client);
  g_free (op);
}

static void
server_sub_done (CrierSession               *session,
                 const CrierSubscribeResult *result,
                 const GError               *error,
                 gpointer                    user_data)
{
  ConnectOp *op = user_data;

  if (error == NULL)
    {
      const char *channel = result->subscription->channel;
      g_autofree char *data = NULL;

      /* subs claim: {"channel":{"data":...}} is returned in the result. */
      if (op->subs_claim != NULL && json_object_has_member (op->subs_claim, channel))
        data = node_to_json (json_object_get_member (json_object_get_object_member (op->subs_claim, channel),
                                                     "data"));
      if (op->subs->len > 0)
        g_string_append_c (op->subs, ',');
      crier_json_append_string (op->subs, channel);
      g_string_append_c (op->subs, ':');
      append_subscribe_result (op->subs, result, 0, data);
    }
  else
    g_message ("client %s: server-side subscription failed: %s", session->id, error->message);

  if (--op->pending == 0)
    connect_finish (op);
}

/* Maps a connect-time protocol error to a disconnect on unidirectional
 * transports, which have no replies (protocols.md A9.5). */
static void
connect_fail (CrierCfClient *client,
              guint32        id,
              int            code)
{
  if (!client->uni)
    {
      reply_error (client, id, code, NULL);
      return;
    }
  switch (code)
    {
    case CRIER_PROTO_ERROR_TOKEN_EXPIRED:
    case CRIER_PROTO_ERROR_EXPIRED:
      disconnect (client, 3005, "connection expired");
      break;
    case CRIER_PROTO_ERROR_PERMISSION_DENIED:
    case CRIER_PROTO_ERROR_UNAUTHORIZED:
      disconnect (client, 3507, "permission denied");
      break;
    case CRIER_PROTO_ERROR_TOO_MANY_REQUESTS:
      disconnect (client, 3013, "too many requests");
      break;
    default:
      disconnect (client, 3004, "internal server error");
      break;
    }
}

/* Verifies a token; on failure answers as the protocol says and returns
 * NULL. @for_refresh: expiry is a disconnect (3005), not error 109. */
static JsonObject *
verify_connection_token (CrierCfClient *client,
                         guint32        id,
                         const char    *token,
                         gboolean       for_refresh)
{
  g_autoptr(GError) error = NULL;
  JsonObject *claims = NULL;

  CrierJwtOptions options;
  gint64 leeway;

  crier_cf_jwt_options (client->ctx->config, &options, &leeway);
  if (!crier_jwt_verify (client->ctx->keys, token, wall_s (), leeway, &options, &claims, &error))
    {
      if (g_error_matches (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_EXPIRED) ||
          g_error_matches (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_NOT_YET_VALID))
        {
          client->ctx->stats.expired_tokens++;
          if (for_refresh)
            disconnect (client, 3005, "connection expired");
          else
            connect_fail (client, id, CRIER_PROTO_ERROR_TOKEN_EXPIRED);
          return NULL;
        }
      client->ctx->stats.invalid_tokens++;
      g_debug ("client %s: invalid connection token: %s", client->session->id, error->message);
      disconnect (client, 3500, "invalid token");
      return NULL;
    }

  /* A subscription token is not a connection token. */
  if (crier_jwt_claims_get_channel (claims) != NULL)
    {
      client->ctx->stats.invalid_tokens++;
      json_object_unref (claims);
      disconnect (client, 3500, "invalid token");
      return NULL;
    }
  return claims;
}

static void
handle_connect (CrierCfClient *client,
                guint32        id,
                JsonObject    *req)
{
  const CrierConfig *config = client->ctx->config;
  CrierHub *hub = client->ctx->hub;
  const char *token = member_string (req, "token", "");
  JsonObject *subs_req = NULL;
  g_autoptr(JsonObject) claims = NULL;
  g_auto(GStrv) channels = NULL;
  g_autofree char *info = NULL;
  JsonObject *subs_claim = NULL;
  const char *user = "";
  gint64 exp = 0;
  ConnectOp *op;

  if (json_object_has_member (req, "subs") && JSON_NODE_HOLDS_OBJECT (json_object_get_member (req, "subs")))
    subs_req = json_object_get_object_member (req, "subs");

  if (token[0] != '\0')
    {
      claims = verify_connection_token (client, id, token, FALSE);
      if (claims == NULL)
        return;
      user = crier_jwt_claims_get_sub (claims);
      info = node_to_json (crier_jwt_claims_get_info (claims));
      /* Server-side subscriptions: "subs" (channel -> {info, data}) wins
       * over "channels" when both are there, as in Centrifugo. */
      subs_claim = crier_jwt_claims_get_subs (claims);
      if (subs_claim != NULL && json_object_get_size (subs_claim) > 0)
        {
          g_autoptr(GList) names = json_object_get_members (subs_claim);
          g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

          for (const GList *l = names; l != NULL; l = l->next)
            g_strv_builder_add (builder, l->data);
          channels = g_strv_builder_end (builder);
        }
      else
        {
          subs_claim = NULL;
          channels = crier_jwt_claims_dup_channels (claims);
        }
      exp = crier_jwt_claims_get_exp (claims);
      {
        gint64 expire_at;

        if (crier_jwt_claims_get_expire_at (claims, &expire_at))
          exp = expire_at;
      }
    }
  else if (!config->allow_anonymous)
    {
      /* Centrifuge answers 3501 here; 101 says what is wrong and is just
       * as terminal for the SDK (protocols.md A17). */
      connect_fail (client, id, CRIER_PROTO_ERROR_UNAUTHORIZED);
      return;
    }

  /* A token that names a channel no namespace allows is refused like a
   * subscribe to it would be (102 unknown channel, 107 bad name):
   * Centrifugo fails the connect too. */
  for (guint i = 0; channels != NULL && channels[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;

      if (crier_hub_check_channel (hub, channels[i], &error) == NULL)
        {
          g_message ("client %s: token subscribes to a refused channel: %s",
                     client->session->id, error->message);
          connect_fail (client, id, error->domain == CRIER_PROTO_ERROR ? error->code
                                                                       : CRIER_PROTO_ERROR_INTERNAL);
          return;
        }
    }

  if (config->max_connections_per_user > 0 && user[0] != '\0' &&
      crier_hub_count_user_sessions (hub, user) >= (guint) config->max_connections_per_user)
    {
      disconnect (client, 3504, "connection limit");
      return;
    }

  crier_session_set_identity (client->session, user, info);
  client->session->expire_at = exp;
  crier_hub_add_session (hub, client->session);
  client->connected = TRUE;
  client->connecting = TRUE;
  client->ctx->stats.connects++;

  op = g_new0 (ConnectOp, 1);
  op->client = client_ref (client);
  op->id = id;
  op->subs = g_string_new (NULL);
  op->ttl = exp > 0 ? MAX (exp - wall_s (), 1) : 0;
  op->pending = 1; /* released below, after every subscribe was started */
  op->subs_claim = subs_claim != NULL ? json_object_ref (subs_claim) : NULL;
  client->busy++;

  for (guint i = 0; channels != NULL && channels[i] != NULL; i++)
    {
      CrierSubscribeRequest sr = { 0 };
      JsonObject *recover = NULL;
      g_autofree char *chan_info = NULL;

      /* subs claim: "info" becomes this subscriber's chan_info (presence,
       * join/leave, its publications). */
      if (subs_claim != NULL)
        chan_info = node_to_json (json_object_get_member (json_object_get_object_member (subs_claim, channels[i]),
                                                          "info"));

      if (subs_req != NULL && json_object_has_member (subs_req, channels[i]) &&
          JSON_NODE_HOLDS_OBJECT (json_object_get_member (subs_req, channels[i])))
        recover = json_object_get_object_member (subs_req, channels[i]);

      sr.channel = channels[i];
      sr.server_side = TRUE;
      sr.chan_info = chan_info;
      sr.want_positioned = TRUE;
      sr.want_recoverable = TRUE;
      if (recover != NULL)
        {
          sr.recover = member_bool (recover, "recover");
          sr.offset = member_int (recover, "offset", 0);
          sr.epoch = member_string (recover, "epoch", NULL);
        }
      op->pending++;
      crier_hub_subscribe (hub, client->session, &sr, server_sub_done, op);
    }

  if (--op->pending == 0)
    connect_finish (op);
}

void
crier_cf_client_uni_connect (CrierCfClient *client,
                             const char    *json,
                             gsize          len)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonNode *root;

  if (client->connected || client->closed)
    return;

  if (len == 0)
    {
      g_autoptr(JsonObject) empty = json_object_new ();

      handle_connect (client, 0, empty);
      return;
    }

  if (!crier_json_single_value (json, len) || !crier_json_numbers_exact (json, len) ||
      !json_parser_load_from_data (parser, json, len, &error) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      client->ctx->stats.bad_frames++;
      disconnect (client, 3501, "bad request");
      return;
    }
  handle_connect (client, 0, json_node_get_object (root));
}

/* ---- subscribe ----------------------------------------------------------- */

static void
append_subscribe_result (GString                    *r,
                         const CrierSubscribeResult *res,
                         gint64                      ttl,
                         const char                 *data)
{
  gboolean first = TRUE;

#define SEP() G_STMT_START { if (!first) g_string_append_c (r, ','); first = FALSE; } G_STMT_END
  g_string_append_c (r, '{');
  if (ttl > 0)
    {
      SEP ();
      g_string_append_printf (r, "\"expires\":true,\"ttl\":%" G_GINT64_FORMAT, ttl);
    }
  if (res->recoverable)
    {
      SEP ();
      g_string_append (r, "\"recoverable\":true");
    }
  if (res->positioned)
    {
      SEP ();
      g_string_append (r, "\"positioned\":true");
    }
  if (res->epoch != NULL && res->epoch[0] != '\0')
    {
      SEP ();
      g_string_append (r, "\"epoch\":");
      crier_json_append_string (r, res->epoch);
    }
  if (res->offset > 0)
    {
      SEP ();
      g_string_append_printf (r, "\"offset\":%" G_GUINT64_FORMAT, res->offset);
    }
  if (res->publications != NULL && res->publications->len > 0)
    {
      SEP ();
      g_string_append (r, "\"publications\":[");
      for (guint i = 0; i < res->publications->len; i++)
        {
          if (i > 0)
            g_string_append_c (r, ',');
          crier_publication_append_json (g_ptr_array_index (res->publications, i), r);
        }
      g_string_append_c (r, ']');
    }
  if (res->recovered)
    {
      SEP ();
      g_string_append (r, "\"recovered\":true");
    }
  if (res->was_recovering)
    {
      SEP ();
      g_string_append (r, "\"was_recovering\":true");
    }
  if (data != NULL)
    {
      SEP ();
      g_string_append_printf (r, "\"data\":%s", data);
    }
  g_string_append_c (r, '}');
#undef SEP
}

typedef struct
{
  CrierCfClient *client;
  guint32        id;
  gint64         ttl;
  char          *data;   /* subscribe: the sub token's "data" (JSON), or NULL */
} CommandOp;

static CommandOp *
command_op_new (CrierCfClient *client,
                guint32        id)
{
  CommandOp *op = g_new0 (CommandOp, 1);

  op->client = client_ref (client);
  op->id = id;
  client->busy++;
  return op;
}

static void
command_op_done (CommandOp *op)
{
  CrierCfClient *client = op->client;

  client->busy--;
  g_free (op->data);
  g_free (op);
  if (!client->closed)
    process_queue (client);
  client_unref (client);
}

static void
subscribe_done (CrierSession               *session,
                const CrierSubscribeResult *result,
                const GError               *error,
                gpointer                    user_data)
{
  CommandOp *op = user_data;

  if (error != NULL)
    reply_gerror (op->client, op->id, error);
  else
    {
      g_autoptr(GString) r = g_string_new (NULL);

      append_subscribe_result (r, result, op->ttl, op->data);
      reply_ok (op->client, op->id, "subscribe", r->str);
    }
  command_op_done (op);
}

/* "chat#42,43": only users 42 and 43 may subscribe. */
static gboolean
user_allowed_by_name (const char *channel,
                      const char *user)
{
  const char *hash = strchr (channel, '#');
  g_auto(GStrv) users = NULL;

  if (hash == NULL)
    return TRUE;
  users = g_strsplit (hash + 1, ",", -1);
  return user[0] != '\0' && g_strv_contains ((const char * const *) users, user);
}

/* Verifies a subscription token for @channel. Returns the claims, or NULL
 * after answering (error 103/109 on subscribe, 3500 on mismatch). */
static JsonObject *
verify_sub_token (CrierCfClient *client,
                  guint32        id,
                  const char    *channel,
                  const char    *token,
                  gboolean       for_refresh)
{
  g_autoptr(GError) error = NULL;
  JsonObject *claims = NULL;
  const char *tclient;

  CrierJwtOptions options;
  gint64 leeway;

  crier_cf_jwt_options (client->ctx->config, &options, &leeway);
  if (!crier_jwt_verify (client->ctx->keys, token, wall_s (), leeway, &options, &claims, &error))
    {
      gboolean expired = g_error_matches (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_EXPIRED) ||
                         g_error_matches (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_NOT_YET_VALID);

      if (expired)
        client->ctx->stats.expired_tokens++;
      else
        client->ctx->stats.invalid_tokens++;
      if (for_refresh)
        disconnect (client, 3500, "invalid token");
      else
        reply_error (client, id, expired ? CRIER_PROTO_ERROR_TOKEN_EXPIRED : CRIER_PROTO_ERROR_PERMISSION_DENIED, NULL);
      return NULL;
    }

  tclient = crier_jwt_claims_get_client (claims);
  if (g_strcmp0 (crier_jwt_claims_get_channel (claims), channel) != 0 ||
      g_strcmp0 (crier_jwt_claims_get_sub (claims), client->session->user) != 0 ||
      (tclient != NULL && g_strcmp0 (tclient, client->session->id) != 0))
    {
      client->ctx->stats.invalid_tokens++;
      json_object_unref (claims);
      disconnect (client, 3500, "invalid token");
      return NULL;
    }
  return claims;
}

static gboolean
get_channel (CrierCfClient *client,
             guint32        id,
             JsonObject    *req,
             const char   **channel)
{
  JsonNode *node = json_object_get_member (req, "channel");

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING ||
      json_node_get_string (node)[0] == '\0')
    {
      client->ctx->stats.bad_frames++;
      reply_error (client, id, CRIER_PROTO_ERROR_BAD_REQUEST, "bad request: channel required");
      return FALSE;
    }
  *channel = json_node_get_string (node);
  return TRUE;
}

static void
handle_subscribe (CrierCfClient *client,
                  guint32        id,
                  JsonObject    *req)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) claims = NULL;
  g_autofree char *chan_info = NULL;
  const CrierNamespaceConfig *ns;
  const char *channel;
  const char *token = member_string (req, "token", "");
  CrierSubscribeRequest sr = { 0 };
  CommandOp *op;
  gint64 exp = 0;

  if (!get_channel (client, id, req, &channel))
    return;
  ns = crier_hub_check_channel (client->ctx->hub, channel, &error);
  if (ns == NULL)
    {
      reply_gerror (client, id, error);
      return;
    }

  if (token[0] != '\0')
    {
      claims = verify_sub_token (client, id, channel, token, FALSE);
      if (claims == NULL)
        return;
      chan_info = node_to_json (crier_jwt_claims_get_info (claims));
      exp = crier_jwt_claims_get_exp (claims);
      {
        gint64 expire_at;

        if (crier_jwt_claims_get_expire_at (claims, &expire_at))
          exp = expire_at;
      }
    }
  else if (ns->require_sub_token || !ns->allow_subscribe ||
           !user_allowed_by_name (channel, client->session->user))
    {
      reply_error (client, id, CRIER_PROTO_ERROR_PERMISSION_DENIED, NULL);
      return;
    }

  sr.channel = channel;
  sr.recover = member_bool (req, "recover");
  sr.offset = member_int (req, "offset", 0);
  sr.epoch = member_string (req, "epoch", NULL);
  sr.want_positioned = member_bool (req, "positioned");
  sr.want_recoverable = member_bool (req, "recoverable");
  sr.want_join_leave = member_bool (req, "join_leave");
  sr.reject_unrecovered = (member_int (req, "flag", 0) & 2) != 0;
  sr.chan_info = chan_info;
  /* The hub ends the subscription (unsubscribe 2501) when the grace after
   * the token's expiry has passed without a sub_refresh. */
  sr.expire_at = sub_expire_at (client, exp);

  op = command_op_new (client, id);
  op->ttl = exp > 0 ? MAX (exp - wall_s (), 1) : 0;
  /* A10.2: the token's "data" is returned in the subscribe result. */
  if (claims != NULL)
    op->data = node_to_json (crier_jwt_claims_get_data (claims));
  crier_hub_subscribe (client->ctx->hub, client->session, &sr, subscribe_done, op);
}

/* ---- the other commands --------------------------------------------------- */

static CrierSubscription *
subscription_for (CrierCfClient *client,
                  const char    *channel)
{
  return g_hash_table_lookup (client->session->subscriptions, channel);
}

/* Namespace and subscription checks shared by publish, presence, history. */
static const CrierNamespaceConfig *
check_subscribed_access (CrierCfClient *client,
                         guint32        id,
                         const char    *channel,
                         gsize          allow_offset)
{
  g_autoptr(GError) error = NULL;
  const CrierNamespaceConfig *ns = crier_hub_check_channel (client->ctx->hub, channel, &error);

  if (ns == NULL)
    {
      reply_gerror (client, id, error);
      return NULL;
    }
  if (!G_STRUCT_MEMBER (gboolean, ns, allow_offset) || subscription_for (client, channel) == NULL)
    {
      reply_error (client, id, CRIER_PROTO_ERROR_PERMISSION_DENIED, NULL);
      return NULL;
    }
  return ns;
}

static void
publish_done (CrierPublication *pub,
              const GError     *error,
              gpointer          user_data)
{
  CommandOp *op = user_data;

  if (error != NULL)
    reply_gerror (op->client, op->id, error);
  else
    reply_ok (op->client, op->id, "publish", "{}");
  command_op_done (op);
}

static void
handle_publish (CrierCfClient *client,
                guint32        id,
                JsonObject    *req)
{
  const char *channel;
  JsonNode *data = json_object_get_member (req, "data");
  g_autofree char *text = NULL;
  g_autoptr(GBytes) bytes = NULL;
  CrierSubscription *sub;

  if (!get_channel (client, id, req, &channel))
    return;
  if (data == NULL)
    {
      client->ctx->stats.bad_frames++;
      reply_error (client, id, CRIER_PROTO_ERROR_BAD_REQUEST, "bad request: data required");
      return;
    }
  if (check_subscribed_access (client, id, channel, G_STRUCT_OFFSET (CrierNamespaceConfig, allow_publish)) == NULL)
    return;

  sub = subscription_for (client, channel);
  /* The compact generator escapes every newline: replies stay one line. */
  text = json_to_string (data, FALSE);
  {
    gsize len = strlen (text);

    bytes = g_bytes_new_take (g_steal_pointer (&text), len);
  }
  client->ctx->stats.client_publishes++;
  crier_hub_publish (client->ctx->hub, channel, bytes, sub->info, publish_done, command_op_new (client, id));
}

static void
presence_done (GPtrArray    *entries,
               const GError *error,
               gpointer      user_data)
{
  CommandOp *op = user_data;

  if (error != NULL)
    reply_gerror (op->client, op->id, error);
  else
    {
      g_autoptr(GString) r = g_string_new ("{\"presence\":{");

      for (guint i = 0; i < entries->len; i++)
        {
          CrierPresenceEntry *e = g_ptr_array_index (entries, i);
          g_autofree char *info = crier_client_info_json (e->user, e->client, e->conn_info, e->chan_info);

          if (i > 0)
            g_string_append_c (r, ',');
          crier_json_append_string (r, e->client);
          g_string_append_printf (r, ":%s", info);
        }
      g_string_append (r, "}}");
      reply_ok (op->client, op->id, "presence", r->str);
    }
  command_op_done (op);
}

static void
presence_stats_done (guint         num_clients,
                     guint         num_users,
                     const GError *error,
                     gpointer      user_data)
{
  CommandOp *op = user_data;

  if (error != NULL)
    reply_gerror (op->client, op->id, error);
  else
    {
      g_autofree char *r = g_strdup_printf ("{\"num_clients\":%u,\"num_users\":%u}", num_clients, num_users);

      reply_ok (op->client, op->id, "presence_stats", r);
    }
  command_op_done (op);
}

static void
handle_presence (CrierCfClient *client,
                 guint32        id,
                 JsonObject    *req,
                 gboolean       stats)
{
  const char *channel;

  if (!get_channel (client, id, req, &channel))
    return;
  if (check_subscribed_access (client, id, channel, G_STRUCT_OFFSET (CrierNamespaceConfig, allow_presence)) == NULL)
    return;
  if (stats)
    crier_hub_presence_stats (client->ctx->hub, channel, presence_stats_done, command_op_new (client, id));
  else
    crier_hub_presence (client->ctx->hub, channel, presence_done, command_op_new (client, id));
}

typedef struct
{
  CommandOp base;
  char     *since_epoch;
} HistoryOp;

static void
history_done (const CrierHistoryResult *result,
              const GError             *error,
              gpointer                  user_data)
{
  HistoryOp *hop = user_data;
  CommandOp *op = &hop->base;
  g_autofree char *since_epoch = hop->since_epoch;

  if (error != NULL)
    reply_gerror (op->client, op->id, error);
  else if (since_epoch != NULL && since_epoch[0] != '\0' && g_strcmp0 (since_epoch, result->epoch) != 0)
    reply_error (op->client, op->id, CRIER_PROTO_ERROR_UNRECOVERABLE, NULL);
  else
    {
      g_autoptr(GString) r = g_string_new ("{\"publications\":[");

      for (guint i = 0; i < result->publications->len; i++)
        {
          if (i > 0)
            g_string_append_c (r, ',');
          crier_publication_append_json (g_ptr_array_index (result->publications, i), r);
        }
      g_string_append (r, "]");
      if (result->epoch != NULL && result->epoch[0] != '\0')
        {
          g_string_append (r, ",\"epoch\":");
          crier_json_append_string (r, result->epoch);
        }
      if (result->offset > 0)
        g_string_append_printf (r, ",\"offset\":%" G_GUINT64_FORMAT, result->offset);
      g_string_append_c (r, '}');
      reply_ok (op->client, op->id, "history", r->str);
    }
  command_op_done (op);
}

static void
handle_history (CrierCfClient *client,
                guint32        id,
                JsonObject    *req)
{
  const char *channel;
  CrierHistoryQuery q = { 0 };
  HistoryOp *hop;
  gint64 limit = member_int (req, "limit", 0);

  if (!get_channel (client, id, req, &channel))
    return;
  if (check_subscribed_access (client, id, channel, G_STRUCT_OFFSET (CrierNamespaceConfig, allow_history)) == NULL)
    return;

  q.limit = limit < 0 || limit > HISTORY_MAX_LIMIT ? HISTORY_MAX_LIMIT : limit;
  q.reverse = member_bool (req, "reverse");
  hop = g_new0 (HistoryOp, 1);
  if (json_object_has_member (req, "since") && JSON_NODE_HOLDS_OBJECT (json_object_get_member (req, "since")))
    {
      JsonObject *since = json_object_get_object_member (req, "since");

      q.has_since = TRUE;
      q.since_offset = member_int (since, "offset", 0);
      hop->since_epoch = g_strdup (member_string (since, "epoch", NULL));
    }
  hop->base.client = client_ref (client);
  hop->base.id = id;
  client->busy++;
  crier_hub_history (client->ctx->hub, channel, &q, history_done, hop);
}

static void
handle_refresh (CrierCfClient *client,
                guint32        id,
                JsonObject    *req)
{
  const char *token = member_string (req, "token", "");
  g_autoptr(JsonObject) claims = NULL;
  g_autoptr(GString) r = g_string_new ("{\"client\":");
  gint64 exp;

  if (token[0] == '\0')
    {
      client->ctx->stats.bad_frames++;
      disconnect (client, 3501, "bad request");
      return;
    }
  claims = verify_connection_token (client, id, token, TRUE);
  if (claims == NULL)
    return;
  if (g_strcmp0 (crier_jwt_claims_get_sub (claims), client->session->user) != 0)
    {
      disconnect (client, 3500, "invalid token");
      return;
    }
  exp = crier_jwt_claims_get_exp (claims);
  client->session->expire_at = exp;

  crier_json_append_string (r, client->session->id);
  g_string_append (r, ",\"version\":");
  crier_json_append_string (r, PACKAGE_VERSION);
  if (exp > 0)
    g_string_append_printf (r, ",\"expires\":true,\"ttl\":%" G_GINT64_FORMAT, MAX (exp - wall_s (), 1));
  g_string_append_c (r, '}');
  reply_ok (client, id, "refresh", r->str);
  schedule (client);
}

static void
handle_sub_refresh (CrierCfClient *client,
                    guint32        id,
                    JsonObject    *req)
{
  const char *channel;
  const char *token = member_string (req, "token", "");
  g_autoptr(JsonObject) claims = NULL;
  CrierSubscription *sub;
  g_autofree char *r = NULL;
  gint64 exp;

  if (!get_channel (client, id, req, &channel))
    return;
  sub = subscription_for (client, channel);
  if (sub == NULL || token[0] == '\0')
    {
      reply_error (client, id, CRIER_PROTO_ERROR_BAD_REQUEST, NULL);
      return;
    }
  claims = verify_sub_token (client, id, channel, token, TRUE);
  if (claims == NULL)
    return;
  exp = crier_jwt_claims_get_exp (claims);
  {
    gint64 expire_at;

    if (crier_jwt_claims_get_expire_at (claims, &expire_at))
      exp = expire_at;
  }
  sub->expire_at = sub_expire_at (client, exp);
  r = exp > 0 ? g_strdup_printf ("{\"expires\":true,\"ttl\":%" G_GINT64_FORMAT "}", MAX (exp - wall_s (), 1))
              : g_strdup ("{}");
  reply_ok (client, id, "sub_refresh", r);
}

/* ---- dispatch ------------------------------------------------------------ */

static const char * const methods[] = {
  "connect", "subscribe", "unsubscribe", "publish", "presence", "presence_stats",
  "history", "send", "rpc", "refresh", "sub_refresh",
};

static void
bad_request (CrierCfClient *client,
             const char    *why)
{
  client->ctx->stats.bad_frames++;
  g_debug ("client %s: bad request: %s", client->session->id, why);
  disconnect (client, 3501, "bad request");
}

void
crier_cf_jwt_options (const CrierConfig *config,
                      CrierJwtOptions   *options,
                      gint64            *leeway_s)
{
  options->audience = config->jwt_audience != NULL && config->jwt_audience[0] != '\0'
                        ? config->jwt_audience : NULL;
  options->issuer = config->jwt_issuer != NULL && config->jwt_issuer[0] != '\0'
                      ? config->jwt_issuer : NULL;
  *leeway_s = config->jwt_leeway / 1000;
}

/* [limits] command_rate: a token bucket per connection.  A command over
 * it is refused with 111 (temporary: the SDK retries later); after
 * command_max_rejections refusals in a row the client is disconnected
 * with 3013.  Returns FALSE when the command must not run. */
static gboolean
command_allowed (CrierCfClient *client,
                 guint32        id,
                 const char    *method)
{
  const CrierConfig *config = client->ctx->config;
  CrierLimitStats *limits = client->ctx->limits;

  if (config->command_rate <= 0 ||
      crier_token_bucket_take (&client->cmd_bucket, (double) config->command_rate,
                               (double) config->command_burst, g_get_monotonic_time ()))
    {
      client->cmd_rejections = 0;
      return TRUE;
    }

  if ((gint64) ++client->cmd_rejections >= config->command_max_rejections)
    {
      if (limits != NULL)
        limits->refused[CRIER_LIMIT_COMMAND_ABUSE]++;
      disconnect (client, 3013, "too many requests");
      return FALSE;
    }
  if (limits != NULL)
    limits->refused[CRIER_LIMIT_COMMAND_RATE]++;
  if (g_str_equal (method, "connect"))
    connect_fail (client, id, CRIER_PROTO_ERROR_TOO_MANY_REQUESTS);
  else if (id != 0)
    reply_error (client, id, CRIER_PROTO_ERROR_TOO_MANY_REQUESTS, NULL);
  return FALSE;
}

static void
handle_command (CrierCfClient *client,
                const char    *line,
                gsize          len)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) error = NULL;
  JsonObject *cmd;
  JsonNode *root;
  JsonNode *id_node;
  const char *method = NULL;
  JsonObject *req = NULL;
  gint64 id = 0;

  if (!crier_json_single_value (line, len))
    {
      bad_request (client, "not one JSON value");
      return;
    }
  /* Command values are regenerated from json-glib's nodes: a number it
   * cannot write back as sent (1e400, 2^64) is refused, not changed. */
  if (!crier_json_numbers_exact (line, len))
    {
      bad_request (client, "a number out of range (finite doubles, 64-bit integers)");
      return;
    }
  if (!json_parser_load_from_data (parser, line, len, &error))
    {
      bad_request (client, error->message);
      return;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      bad_request (client, "command is not an object");
      return;
    }
  cmd = json_node_get_object (root);
  client->session->commands_in++;
  client->ctx->stats.commands++;

  /* An empty command is a pong. Any command counts as "seen", which is
   * what the pong timeout checks; only a pong to a ping in flight gives
   * a round trip (for the admin's inspect). */
  if (json_object_get_size (cmd) == 0 && client->pong_deadline > 0 && client->ping_sent_us > 0)
    client->rtt_us = g_get_monotonic_time () - client->ping_sent_us;
  client->pong_deadline = 0;
  client->ping_sent_us = 0;
  if (json_object_get_size (cmd) == 0)
    return;

  id_node = json_object_get_member (cmd, "id");
  if (id_node != NULL)
    {
      if (!JSON_NODE_HOLDS_VALUE (id_node) || json_node_get_value_type (id_node) != G_TYPE_INT64 ||
          (id = json_node_get_int (id_node)) < 0 || id > G_MAXUINT32)
        {
          bad_request (client, "bad id");
          return;
        }
    }

  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    {
      JsonNode *m = json_object_get_member (cmd, methods[i]);

      if (m == NULL)
        continue;
      if (!JSON_NODE_HOLDS_OBJECT (m))
        {
          bad_request (client, "method body is not an object");
          return;
        }
      method = methods[i];
      req = json_node_get_object (m);
      break;
    }

  if (method == NULL)
    {
      bad_request (client, "unknown method");
      return;
    }
  if (id == 0 && !g_str_equal (method, "send"))
    {
      bad_request (client, "command without id");
      return;
    }
  if (!command_allowed (client, id, method))
    return;
  if (!client->connected && !g_str_equal (method, "connect"))
    {
      bad_request (client, "command before connect");
      return;
    }

  if (g_str_equal (method, "connect"))
    {
      if (client->connected)
        bad_request (client, "already connected");
      else
        handle_connect (client, id, req);
    }
  else if (g_str_equal (method, "subscribe"))
    handle_subscribe (client, id, req);
  else if (g_str_equal (method, "unsubscribe"))
    {
      const char *channel;

      if (get_channel (client, id, req, &channel))
        {
          crier_hub_unsubscribe (client->ctx->hub, client->session, channel);
          reply_ok (client, id, "unsubscribe", "{}");
        }
    }
  else if (g_str_equal (method, "publish"))
    handle_publish (client, id, req);
  else if (g_str_equal (method, "presence"))
    handle_presence (client, id, req, FALSE);
  else if (g_str_equal (method, "presence_stats"))
    handle_presence (client, id, req, TRUE);
  else if (g_str_equal (method, "history"))
    handle_history (client, id, req);
  else if (g_str_equal (method, "send"))
    /* No application handler for async messages: the protocol's answer is
     * a terminal "not available". */
    disconnect (client, 3508, "not available");
  else if (g_str_equal (method, "rpc"))
    reply_error (client, id, CRIER_PROTO_ERROR_NOT_AVAILABLE, NULL);
  else if (g_str_equal (method, "refresh"))
    handle_refresh (client, id, req);
  else if (g_str_equal (method, "sub_refresh"))
    handle_sub_refresh (client, id, req);
}

static void
process_queue (CrierCfClient *client)
{
  if (client->processing)
    return;
  client->processing = TRUE;
  client_ref (client);
  while (!client->closed && client->busy == 0 && !g_queue_is_empty (&client->queue))
    {
      g_autofree char *line = g_queue_pop_head (&client->queue);

      handle_command (client, line, strlen (line));
    }
  client->processing = FALSE;
  client_unref (client);
}

void
crier_cf_client_feed (CrierCfClient *client,
                      const char    *data,
                      gsize          len)
{
  const char *end = data + len;

  if (client->closed)
    return;

  while (data < end)
    {
      const char *nl = memchr (data, '\n', end - data);
      const char *stop = nl ? nl : end;
      const char *a = data;
      const char *b = stop;

      while (a < b && g_ascii_isspace (*a))
        a++;
      while (b > a && g_ascii_isspace (b[-1]))
        b--;
      if (b > a)
        g_queue_push_tail (&client->queue, g_strndup (a, b - a));
      data = nl ? nl + 1 : end;
    }

  /* A flood of pipelined commands while one waits is bounded. */
  if (g_queue_get_length (&client->queue) > 1024)
    {
      if (client->ctx->limits != NULL)
        client->ctx->limits->refused[CRIER_LIMIT_COMMAND_QUEUE]++;
      g_debug ("client %s: over 1024 commands queued", client->session->id);
      disconnect (client, 3013, "too many requests");
      return;
    }
  process_queue (client);
}

/* ---- lifecycle ----------------------------------------------------------- */

CrierCfClient *
crier_cf_client_new (CrierCfContext         *ctx,
                     const CrierCfTransport *transport,
                     gpointer                transport_data,
                     gboolean                unidirectional,
                     gboolean                wants_pong)
{
  CrierCfClient *client = g_new0 (CrierCfClient, 1);

  client->ref_count = 1;
  client->ctx = ctx;
  client->t = transport;
  client->td = transport_data;
  client->uni = unidirectional;
  client->wants_pong = wants_pong;
  client->rtt_us = -1;
  client->held = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_queue_init (&client->queue);
  client->session = crier_session_new (&cf_session_class, client, transport->encoding);
  client->session->transport_name = transport->name;
  client->stale_deadline = now_ms () + ctx->config->stale_timeout;
  schedule (client);
  return client;
}

void
crier_cf_client_set_peer (CrierCfClient *client,
                          const char    *remote,
                          const char    *user_agent)
{
  g_free (client->session->remote);
  g_free (client->session->user_agent);
  client->session->remote = g_strdup (remote);
  client->session->user_agent = g_strdup (user_agent);
}

CrierSession *
crier_cf_client_get_session (CrierCfClient *client)
{
  return client->session;
}

CrierCfClient *
crier_cf_client_from_session (CrierSession *session)
{
  g_return_val_if_fail (session != NULL, NULL);

  return session->klass == &cf_session_class ? session->transport : NULL;
}

gint64
crier_cf_client_get_rtt_us (CrierCfClient *client)
{
  g_return_val_if_fail (client != NULL, -1);

  return client->rtt_us;
}

void
crier_cf_client_shutdown (CrierCfClient *client)
{
  disconnect (client, 3001, "shutdown");
}

void
crier_cf_client_free (CrierCfClient *client)
{
  client->closed = TRUE;
  if (client->session->registered)
    crier_hub_remove_session (client->ctx->hub, client->session);
  client_unref (client);
}

/* ---- WebSocket bindings -------------------------------------------------- */

typedef struct
{
  CrierCfContext *ctx;
  CrierCfClient  *client;
  CrierWs        *ws;
  gboolean        uni;
  char           *cf_connect;   /* uni: ConnectRequest from the query */
} CfWs;

static gboolean
ws_send_line (gpointer    td,
              const char *json,
              gsize       len)
{
  CfWs *c = td;

  return crier_ws_send_text (c->ws, json, len);
}

static gboolean
ws_send_encoded (gpointer td,
                 GBytes  *frame)
{
  CfWs *c = td;

  return crier_ws_send_frame (c->ws, frame);
}

static void
ws_send_ping (gpointer td)
{
  static GBytes *ping;
  CfWs *c = td;

  /* Unidirectional WebSockets get native pings from the WS layer. */
  if (c->uni)
    return;
  if (g_once_init_enter (&ping))
    g_once_init_leave (&ping, crier_ws_frame_new (CRIER_WS_OP_TEXT, "{}", 2));
  crier_ws_send_frame (c->ws, ping);
}

CrierCloseReason
crier_close_reason_for_code (guint code)
{
  switch (code)
    {
    case 3001:
      return CRIER_CLOSE_SHUTDOWN;
    case 3008:
      return CRIER_CLOSE_SLOW;
    case 3012:
    case 3502:
      return CRIER_CLOSE_TIMEOUT;
    case 3501:
    case 3506:
      return CRIER_CLOSE_PROTOCOL;
    default:
      return CRIER_CLOSE_SERVER;
    }
}

static void
ws_disconnect (gpointer    td,
               guint       code,
               const char *reason)
{
  CfWs *c = td;

  crier_ws_close (c->ws, code, reason, crier_close_reason_for_code (code));
}

static void
ws_set_deadline (gpointer td,
                 gint64   deadline_ms)
{
  CfWs *c = td;

  if (c->ws != NULL)
    crier_ws_set_deadline (c->ws, deadline_ms);
}

static const CrierCfTransport ws_transport = {
  .name = "websocket",
  .encoding = CRIER_ENC_CF_WS,
  .send_line = ws_send_line,
  .send_encoded = ws_send_encoded,
  .send_ping = ws_send_ping,
  .disconnect = ws_disconnect,
  .set_deadline = ws_set_deadline,
};

static const CrierCfTransport uni_ws_transport = {
  .name = "uni_websocket",
  .encoding = CRIER_ENC_UNI_WS,
  .send_line = ws_send_line,
  .send_encoded = ws_send_encoded,
  .send_ping = ws_send_ping,
  .disconnect = ws_disconnect,
  .set_deadline = ws_set_deadline,
};

static void
cf_ws_open (CrierWs *ws,
            gpointer user_data)
{
  CfWs *c = user_data;

  c->ws = ws;
  c->client = crier_cf_client_new (c->ctx, c->uni ? &uni_ws_transport : &ws_transport, c, c->uni, !c->uni);
  crier_cf_client_set_peer (c->client, ws->conn->remote, ws->user_agent);
  crier_cf_client_get_session (c->client)->conn = ws->conn;
  if (c->uni && c->cf_connect != NULL)
    crier_cf_client_uni_connect (c->client, c->cf_connect, strlen (c->cf_connect));
}

static void
cf_ws_message (CrierWs      *ws,
               const guint8 *data,
               gsize         len,
               gboolean      is_text,
               gpointer      user_data)
{
  CfWs *c = user_data;

  if (!is_text)
    {
      /* Counted by its own reason (limit_binary_frame). */
      if (c->ctx->limits != NULL)
        c->ctx->limits->refused[CRIER_LIMIT_BINARY_FRAME]++;
      crier_ws_close (ws, 3506, "inappropriate protocol", CRIER_CLOSE_PROTOCOL);
      return;
    }
  if (c->uni)
    {
      /* The first message is the ConnectRequest when the URL had none;
       * anything after connect is ignored. */
      if (c->cf_connect == NULL && !c->client->connected)
        crier_cf_client_uni_connect (c->client, (const char *) data, len);
      return;
    }
  crier_cf_client_feed (c->client, (const char *) data, len);
}

static void
cf_ws_deadline (CrierWs *ws,
                gint64   now,
                gpointer user_data)
{
  CfWs *c = user_data;

  crier_cf_client_tick (c->client, now);
}

static void
cf_ws_shutdown (CrierWs *ws,
                gpointer user_data)
{
  CfWs *c = user_data;

  crier_cf_client_shutdown (c->client);
}

static void
cf_ws_free (gpointer data)
{
  CfWs *c = data;

  g_free (c->cf_connect);
  g_free (c);
}

static void
cf_ws_closed (CrierWs         *ws,
              CrierCloseReason reason,
              guint16          code,
              gpointer         user_data)
{
  CfWs *c = user_data;

  if (c->client != NULL)
    crier_cf_client_free (c->client);
  cf_ws_free (c);
}

static const CrierWsHandler cf_ws_handler = {
  .on_open = cf_ws_open,
  .on_message = cf_ws_message,
  .on_deadline = cf_ws_deadline,
  .on_shutdown = cf_ws_shutdown,
  .on_closed = cf_ws_closed,
};

void
crier_cf_handle_websocket (CrierCfContext    *ctx,
                           CrierEngine       *engine,
                           SoupServerMessage *msg,
                           gboolean           unidirectional)
{
  const CrierConfig *config = ctx->config;
  CrierWsOptions options = {
    .max_frame_size = config->ws_max_frame_size,
    .max_message_size = config->ws_max_message_size,
    /* The bidirectional protocol pings with "{}" and pongs; the
     * unidirectional one relies on native WebSocket pings. */
    .ping_interval_ms = unidirectional ? config->ping_interval : 0,
    .pong_timeout_ms = config->pong_timeout,
    .allowed_origins = config->allowed_origins,
    .limits = ctx->limits,
  };
  CfWs *c = g_new0 (CfWs, 1);

  c->ctx = ctx;
  c->uni = unidirectional;
  if (unidirectional)
    {
      GUri *uri = soup_server_message_get_uri (msg);
      const char *query = g_uri_get_query (uri);

      if (query != NULL)
        {
          g_autoptr(GHashTable) params = g_uri_parse_params (query, -1, "&", G_URI_PARAMS_NONE, NULL);

          if (params != NULL && g_hash_table_contains (params, "cf_connect"))
            c->cf_connect = g_strdup (g_hash_table_lookup (params, "cf_connect"));
        }
    }

  /* On refusal the handshake answered and @c was freed already. */
  crier_ws_handle_upgrade_full (engine, msg, &options, &cf_ws_handler, c, cf_ws_free);
}
