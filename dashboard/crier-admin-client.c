/* crier-admin-client.c: the admin protocol client.
 *
 * Key functions:
 *   crier_admin_client_connect_to ()   new target; drops the connection and
 *                                      starts again
 *   start_attempt ()                   one WebSocket handshake (Unix socket
 *                                      or TCP + bearer token)
 *   websocket_connect_cb ()            classifies failures, sends hello
 *   hello_cb ()                        protocol check, CONNECTED
 *   message_cb ()                      replies to their GTask, events to
 *                                      signals
 *   fail ()                            ERROR + reason, schedules a retry
 *                                      with crier_admin_client_backoff_ms ()
 */
#include "config.h"

#include "crier-admin-client.h"
#include "crier-dashboard-enums.h"

#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>
#include <string.h>

#define MAX_BACKOFF_MS 30000
#define MIN_BACKOFF_MS 500

struct _CrierAdminClient
{
  GObject                  parent_instance;

  char                    *address;          /* as given */
  char                    *token;
  char                    *socket_path;      /* resolved: Unix socket, or NULL */
  gboolean                 tls;              /* wss:// for host:port */
  char                    *ca_file;          /* NULL: the system's trust store */
  char                    *pinned;           /* SHA-256 fingerprint, or NULL */
  GTlsCertificate         *peer_certificate; /* last TLS attempt */
  GTlsCertificateFlags     peer_errors;

  CrierAdminClientState    state;
  CrierAdminClientReason   reason;
  char                    *error_message;
  char                    *node;
  char                    *server_version;

  SoupSession             *session;
  SoupMessage             *handshake;
  SoupWebsocketConnection *connection;
  GCancellable            *cancellable;      /* of the current attempt */

  GHashTable              *pending;          /* id -> GTask */
  gint64                   next_id;

  guint                    attempt;
  guint                    retry_id;
  guint                    retry_delay;
  gboolean                 running;
};

G_DEFINE_FINAL_TYPE (CrierAdminClient, crier_admin_client, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ADDRESS,
  PROP_STATE,
  PROP_REASON,
  PROP_ERROR_MESSAGE,
  PROP_NODE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum {
  STATS,
  SESSION_OPENED,
  SESSION_CLOSED,
  SESSIONS_RESYNC,
  ALERT_RAISED,
  ALERT_UPDATED,
  ALERT_RESOLVED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void start_attempt (CrierAdminClient *self);

char *
crier_admin_client_certificate_fingerprint (GTlsCertificate *certificate)
{
  g_autoptr(GByteArray) der = NULL;
  g_autofree char *hex = NULL;
  GString *out;

  g_return_val_if_fail (G_IS_TLS_CERTIFICATE (certificate), NULL);

  g_object_get (certificate, "certificate", &der, NULL);
  if (der == NULL)
    return NULL;
  hex = g_compute_checksum_for_data (G_CHECKSUM_SHA256, der->data, der->len);
  out = g_string_sized_new (96);
  for (guint i = 0; hex[i] != '\0' && hex[i + 1] != '\0'; i += 2)
    {
      if (i > 0)
        g_string_append_c (out, ':');
      g_string_append_c (out, g_ascii_toupper (hex[i]));
      g_string_append_c (out, g_ascii_toupper (hex[i + 1]));
    }
  return g_string_free (out, FALSE);
}

char *
crier_admin_client_describe_certificate_errors (GTlsCertificateFlags errors)
{
  static const struct { GTlsCertificateFlags flag; const char *text; } names[] = {
    { G_TLS_CERTIFICATE_UNKNOWN_CA, "issued by an unknown authority" },
    { G_TLS_CERTIFICATE_BAD_IDENTITY, "made out for another name" },
    { G_TLS_CERTIFICATE_NOT_ACTIVATED, "not valid yet" },
    { G_TLS_CERTIFICATE_EXPIRED, "expired" },
    { G_TLS_CERTIFICATE_REVOKED, "revoked" },
    { G_TLS_CERTIFICATE_INSECURE, "using an insecure algorithm" },
    { G_TLS_CERTIFICATE_GENERIC_ERROR, "invalid" },
  };
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (errors & names[i].flag)
      {
        if (out->len > 0)
          g_string_append (out, ", ");
        g_string_append (out, names[i].text);
      }
  if (out->len == 0)
    g_string_append (out, "not trusted");
  return g_string_free (out, FALSE);
}

/* Compares fingerprints ignoring case, colons and spaces. */
static gboolean
fingerprint_equal (const char *a,
                   const char *b)
{
  if (a == NULL || b == NULL)
    return FALSE;
  for (;;)
    {
      while (*a == ':' || *a == ' ')
        a++;
      while (*b == ':' || *b == ' ')
        b++;
      if (*a == '\0' || *b == '\0')
        return *a == *b;
      if (g_ascii_tolower (*a) != g_ascii_tolower (*b))
        return FALSE;
      a++;
      b++;
    }
}

static gboolean
accept_certificate_cb (SoupMessage          *msg,
                       GTlsCertificate      *certificate,
                       GTlsCertificateFlags  errors,
                       CrierAdminClient     *self)
{
  g_autofree char *fingerprint = crier_admin_client_certificate_fingerprint (certificate);
  /* A pinned certificate stands for itself: who issued it and for which
   * name do not matter; expiry, revocation and weak algorithms still do. */
  const GTlsCertificateFlags pinnable = G_TLS_CERTIFICATE_UNKNOWN_CA | G_TLS_CERTIFICATE_BAD_IDENTITY;

  g_set_object (&self->peer_certificate, certificate);
  self->peer_errors = errors;

  if (fingerprint_equal (fingerprint, self->pinned) && (errors & ~pinnable) == 0)
    {
      g_debug ("admin client: accepting the pinned certificate %s", fingerprint);
      self->peer_errors = 0;
      return TRUE;
    }
  return FALSE;
}

guint
crier_admin_client_backoff_ms (guint  attempt,
                               double jitter)
{
  double delay = MIN_BACKOFF_MS;

  for (guint i = 0; i < attempt && delay < MAX_BACKOFF_MS; i++)
    delay *= 2;
  delay = MIN (delay, MAX_BACKOFF_MS);

  return (guint) (delay * (0.75 + 0.5 * CLAMP (jitter, 0.0, 1.0)));
}

CrierAdminClientReason
crier_admin_client_classify_error (const GError *error,
                                   guint         status)
{
  if (status == SOUP_STATUS_UNAUTHORIZED)
    return CRIER_ADMIN_CLIENT_REASON_WRONG_TOKEN;
  if (status == SOUP_STATUS_FORBIDDEN)
    return CRIER_ADMIN_CLIENT_REASON_PERMISSION_DENIED;
  if (error == NULL)
    return status != 0 ? CRIER_ADMIN_CLIENT_REASON_OTHER : CRIER_ADMIN_CLIENT_REASON_NONE;
  if (g_error_matches (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_UNSUPPORTED_VERSION))
    return CRIER_ADMIN_CLIENT_REASON_VERSION_MISMATCH;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
    return CRIER_ADMIN_CLIENT_REASON_PERMISSION_DENIED;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ||
      g_error_matches (error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND))
    return CRIER_ADMIN_CLIENT_REASON_NO_SERVER;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT))
    return CRIER_ADMIN_CLIENT_REASON_BAD_ADDRESS;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE))
    return CRIER_ADMIN_CLIENT_REASON_LOST;

  return CRIER_ADMIN_CLIENT_REASON_OTHER;
}

static void
set_state (CrierAdminClient       *self,
           CrierAdminClientState   state,
           CrierAdminClientReason  reason,
           const char             *message)
{
  g_object_freeze_notify (G_OBJECT (self));

  if (g_strcmp0 (self->error_message, message) != 0)
    {
      g_free (self->error_message);
      self->error_message = g_strdup (message);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR_MESSAGE]);
    }
  if (self->reason != reason)
    {
      self->reason = reason;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_REASON]);
    }
  if (self->state != state)
    {
      self->state = state;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
    }

  g_object_thaw_notify (G_OBJECT (self));
}

static void
fail_pending (CrierAdminClient *self,
              const char       *why)
{
  g_autoptr(GHashTable) pending = NULL;
  GHashTableIter iter;
  gpointer value;

  /* Swap first: a callback may send a new request. */
  pending = g_steal_pointer (&self->pending);
  self->pending = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_object_unref);

  g_hash_table_iter_init (&iter, pending);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_task_return_new_error (G_TASK (value), G_IO_ERROR, G_IO_ERROR_CLOSED, "%s", why);
}

static void
drop_connection (CrierAdminClient *self)
{
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);

  if (self->connection != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->connection, self);
      if (soup_websocket_connection_get_state (self->connection) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (self->connection, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
      g_clear_object (&self->connection);
    }
  if (self->handshake != NULL)
    g_signal_handlers_disconnect_by_data (self->handshake, self);
  g_clear_object (&self->handshake);
  g_clear_object (&self->session);

  fail_pending (self, "The connection to the server was closed");
}

static gboolean
retry_cb (gpointer user_data)
{
  CrierAdminClient *self = user_data;

  self->retry_id = 0;
  self->retry_delay = 0;
  start_attempt (self);

  return G_SOURCE_REMOVE;
}

static void
schedule_retry (CrierAdminClient *self)
{
  g_clear_handle_id (&self->retry_id, g_source_remove);
  if (!self->running)
    return;

  self->retry_delay = crier_admin_client_backoff_ms (self->attempt, g_random_double ());
  self->attempt++;
  self->retry_id = g_timeout_add (self->retry_delay, retry_cb, self);
}

static void
fail (CrierAdminClient       *self,
      CrierAdminClientReason  reason,
      const char             *message)
{
  g_debug ("admin client: %s (reason %d)", message, reason);
  drop_connection (self);
  set_state (self, CRIER_ADMIN_CLIENT_ERROR, reason, message);
  schedule_retry (self);
}

static void
emit_event (CrierAdminClient  *self,
            CrierAdminMessage *message)
{
  g_autoptr(GError) error = NULL;
  JsonObject *body = message->body;
  const char *event = message->event;

  if (g_str_equal (event, "stats"))
    {
      g_autoptr(CrierAdminStats) stats = NULL;

      stats = crier_admin_stats_from_json (json_object_get_member (body, "stats"), &error);
      if (stats != NULL)
        g_signal_emit (self, signals[STATS], 0, stats);
    }
  else if (g_str_equal (event, "session_opened") || g_str_equal (event, "session_closed"))
    {
      g_autoptr(CrierAdminSessionInfo) info = NULL;

      info = crier_admin_session_info_from_json (json_object_get_member (body, "session"), &error);
      if (info != NULL)
        g_signal_emit (self,
                       signals[event[8] == 'o' ? SESSION_OPENED : SESSION_CLOSED], 0,
                       info);
    }
  else if (g_str_equal (event, "sessions_resync"))
    {
      guint sessions = (guint) json_object_get_int_member_with_default (body, "sessions", 0);

      g_signal_emit (self, signals[SESSIONS_RESYNC], 0, sessions);
    }
  else if (g_str_has_prefix (event, "alert_"))
    {
      g_autoptr(CrierAlert) alert = NULL;
      guint signal_id;

      if (g_str_equal (event, "alert_raised"))
        signal_id = signals[ALERT_RAISED];
      else if (g_str_equal (event, "alert_updated"))
        signal_id = signals[ALERT_UPDATED];
      else if (g_str_equal (event, "alert_resolved"))
        signal_id = signals[ALERT_RESOLVED];
      else
        return;

      alert = crier_admin_alert_from_json (json_object_get_member (body, "alert"), &error);
      if (alert != NULL)
        g_signal_emit (self, signal_id, 0, alert);
    }
  /* Events this client does not know are ignored (protocol 1 may add some). */

  if (error != NULL)
    g_warning ("Ignoring a malformed %s event from the server: %s", event, error->message);
}

static void
message_cb (SoupWebsocketConnection *connection,
            SoupWebsocketDataType    type,
            GBytes                  *bytes,
            CrierAdminClient        *self)
{
  g_autoptr(CrierAdminMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;
  gsize len;
  const char *text;

  if (type != SOUP_WEBSOCKET_DATA_TEXT)
    return;

  text = g_bytes_get_data (bytes, &len);
  message = crier_admin_message_decode (text, len, &error);
  if (message == NULL)
    {
      g_warning ("Ignoring a malformed message from the server: %s", error->message);
      return;
    }

  if (message->kind == CRIER_ADMIN_MESSAGE_EVENT)
    {
      emit_event (self, message);
      return;
    }

  if (!g_hash_table_steal_extended (self->pending, &message->id, NULL, (gpointer *) &task))
    {
      if (message->kind == CRIER_ADMIN_MESSAGE_ERROR)
        g_warning ("The server refused a message: %s", message->error_message);
      return;
    }
  if (message->kind == CRIER_ADMIN_MESSAGE_ERROR)
    g_task_return_new_error (task, CRIER_ADMIN_ERROR, message->error_code,
                             "%s", message->error_message);
  else
    g_task_return_pointer (task,
                           g_steal_pointer (&message->result),
                           (GDestroyNotify) json_node_unref);
}

static void
closed_cb (SoupWebsocketConnection *connection,
           CrierAdminClient        *self)
{
  g_autofree char *message = NULL;
  gushort code = soup_websocket_connection_get_close_code (connection);
  const char *data = soup_websocket_connection_get_close_data (connection);

  if (data != NULL && data[0] != '\0')
    message = g_strdup_printf ("The server closed the connection (%u, %s)", code, data);
  else if (code != 0)
    message = g_strdup_printf ("The server closed the connection (%u)", code);
  else
    message = g_strdup ("The connection to the server broke");

  fail (self, CRIER_ADMIN_CLIENT_REASON_LOST, message);
}

static void
hello_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(CrierAdminClient) self = user_data;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(CrierAdminHello) hello = NULL;
  g_autoptr(GError) error = NULL;

  node = crier_admin_client_call_finish (self, result, &error);
  if (node != NULL)
    hello = crier_admin_hello_from_json (node, &error);
  if (hello == NULL)
    {
      /* Closed meanwhile: closed_cb has already failed over. */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
        fail (self, crier_admin_client_classify_error (error, 0), error->message);
      return;
    }
  if (hello->protocol != CRIER_ADMIN_PROTOCOL_VERSION)
    {
      g_autofree char *message = g_strdup_printf ("The server speaks admin protocol %" G_GINT64_FORMAT,
                                                  hello->protocol);

      fail (self, CRIER_ADMIN_CLIENT_REASON_VERSION_MISMATCH, message);
      return;
    }

  g_free (self->server_version);
  self->server_version = g_strdup (hello->version);
  if (g_strcmp0 (self->node, hello->node) != 0)
    {
      g_free (self->node);
      self->node = g_strdup (hello->node);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_NODE]);
    }

  self->attempt = 0;
  set_state (self, CRIER_ADMIN_CLIENT_CONNECTED, CRIER_ADMIN_CLIENT_REASON_NONE, NULL);
}

static void
websocket_connect_cb (GObject      *object,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(CrierAdminClient) self = user_data;
  g_autoptr(SoupWebsocketConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CrierAdminRequest) hello = NULL;
  guint status;

  connection = soup_session_websocket_connect_finish (SOUP_SESSION (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (connection == NULL && self->peer_certificate != NULL && self->peer_errors != 0)
    {
      g_autofree char *why = crier_admin_client_describe_certificate_errors (self->peer_errors);
      g_autofree char *message = g_strdup_printf ("The server's certificate is %s", why);

      /* Retrying cannot help: the user decides whether to trust it. */
      self->running = FALSE;
      fail (self, CRIER_ADMIN_CLIENT_REASON_UNTRUSTED_CERTIFICATE, message);
      return;
    }
  if (connection == NULL)
    {
      status = self->handshake != NULL ? soup_message_get_status (self->handshake) : 0;
      fail (self, crier_admin_client_classify_error (error, status), error->message);
      return;
    }

  self->connection = g_steal_pointer (&connection);
  /* Pages of 1000 sessions and the history are larger than libsoup's
   * default of 128 KiB. */
  soup_websocket_connection_set_max_incoming_payload_size (self->connection,
                                                           CRIER_ADMIN_MAX_REPLY_SIZE);
  g_signal_connect (self->connection, "message", G_CALLBACK (message_cb), self);
  g_signal_connect (self->connection, "closed", G_CALLBACK (closed_cb), self);

  hello = crier_admin_request_new (CRIER_ADMIN_REQUEST_HELLO);
  hello->client = g_strdup ("crier-dashboard " PACKAGE_VERSION);
  crier_admin_client_call_async (self, g_steal_pointer (&hello), NULL,
                                 hello_cb, g_object_ref (self));
}

static void
start_attempt (CrierAdminClient *self)
{
  g_autofree char *uri = NULL;

  g_clear_handle_id (&self->retry_id, g_source_remove);
  self->retry_delay = 0;
  drop_connection (self);
  self->running = TRUE;

  set_state (self, CRIER_ADMIN_CLIENT_CONNECTING, self->reason, self->error_message);

  if (self->socket_path != NULL)
    {
      g_autoptr(GSocketAddress) address = g_unix_socket_address_new (self->socket_path);

      /* timeout 0: the connection lives as long as the dashboard. */
      self->session = soup_session_new_with_options ("remote-connectable", address,
                                                     "timeout", 0,
                                                     NULL);
      uri = g_strdup ("ws://localhost" CRIER_ADMIN_PATH);
    }
  else
    {
      g_autoptr(GTlsDatabase) database = NULL;
      g_autoptr(GError) error = NULL;

      if (self->tls && self->ca_file != NULL)
        {
          database = g_tls_file_database_new (self->ca_file, &error);
          if (database == NULL)
            {
              g_autofree char *message = g_strdup_printf ("Cannot use the CA file %s: %s",
                                                          self->ca_file, error->message);

              self->running = FALSE;
              fail (self, CRIER_ADMIN_CLIENT_REASON_OTHER, message);
              return;
            }
        }
      self->session = soup_session_new_with_options ("timeout", 0, NULL);
      if (database != NULL)
        soup_session_set_tls_database (self->session, database);
      uri = g_strdup_printf ("%s://%s" CRIER_ADMIN_PATH, self->tls ? "wss" : "ws", self->address);
    }

  self->handshake = soup_message_new ("GET", uri);
  if (self->socket_path == NULL &&
      (self->handshake == NULL || strchr (self->address, '/') != NULL ||
       strchr (self->address, ':') == NULL))
    {
      g_autofree char *message = g_strdup_printf ("“%s” is neither a socket path nor host:port",
                                                  self->address);

      /* Retrying cannot help: wait for another address. */
      self->running = FALSE;
      fail (self, CRIER_ADMIN_CLIENT_REASON_BAD_ADDRESS, message);
      return;
    }

  g_clear_object (&self->peer_certificate);
  self->peer_errors = 0;
  if (self->socket_path == NULL && self->tls)
    g_signal_connect (self->handshake, "accept-certificate",
                      G_CALLBACK (accept_certificate_cb), self);

  if (self->socket_path == NULL && self->token != NULL && self->token[0] != '\0')
    {
      g_autofree char *bearer = g_strdup_printf ("Bearer %s", self->token);

      soup_message_headers_replace (soup_message_get_request_headers (self->handshake),
                                    "Authorization", bearer);
    }

  self->cancellable = g_cancellable_new ();
  soup_session_websocket_connect_async (self->session, self->handshake,
                                        NULL, NULL,
                                        G_PRIORITY_DEFAULT,
                                        self->cancellable,
                                        websocket_connect_cb,
                                        g_object_ref (self));
}

static void
crier_admin_client_dispose (GObject *object)
{
  CrierAdminClient *self = CRIER_ADMIN_CLIENT (object);

  self->running = FALSE;
  g_clear_handle_id (&self->retry_id, g_source_remove);
  drop_connection (self);

  G_OBJECT_CLASS (crier_admin_client_parent_class)->dispose (object);
}

static void
crier_admin_client_finalize (GObject *object)
{
  CrierAdminClient *self = CRIER_ADMIN_CLIENT (object);

  g_clear_pointer (&self->pending, g_hash_table_unref);
  g_clear_pointer (&self->address, g_free);
  g_clear_pointer (&self->token, g_free);
  g_clear_pointer (&self->socket_path, g_free);
  g_clear_pointer (&self->ca_file, g_free);
  g_clear_pointer (&self->pinned, g_free);
  g_clear_object (&self->peer_certificate);
  g_clear_pointer (&self->error_message, g_free);
  g_clear_pointer (&self->node, g_free);
  g_clear_pointer (&self->server_version, g_free);

  G_OBJECT_CLASS (crier_admin_client_parent_class)->finalize (object);
}

static void
crier_admin_client_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  CrierAdminClient *self = CRIER_ADMIN_CLIENT (object);

  switch (prop_id)
    {
    case PROP_ADDRESS:
      g_value_set_string (value, self->address);
      break;

    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;

    case PROP_REASON:
      g_value_set_enum (value, self->reason);
      break;

    case PROP_ERROR_MESSAGE:
      g_value_set_string (value, self->error_message);
      break;

    case PROP_NODE:
      g_value_set_string (value, self->node);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
crier_admin_client_class_init (CrierAdminClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = crier_admin_client_dispose;
  object_class->finalize = crier_admin_client_finalize;
  object_class->get_property = crier_admin_client_get_property;

  properties[PROP_ADDRESS] =
    g_param_spec_string ("address", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL,
                       CRIER_TYPE_ADMIN_CLIENT_STATE, CRIER_ADMIN_CLIENT_DISCONNECTED,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_REASON] =
    g_param_spec_enum ("reason", NULL, NULL,
                       CRIER_TYPE_ADMIN_CLIENT_REASON, CRIER_ADMIN_CLIENT_REASON_NONE,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ERROR_MESSAGE] =
    g_param_spec_string ("error-message", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_NODE] =
    g_param_spec_string ("node", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * CrierAdminClient::stats:
   * @stats: (type gpointer): the #CrierAdminStats sample, valid during the emission
   *
   * A "stats" event (once per second after watch_stats).
   */
  signals[STATS] =
    g_signal_new ("stats", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  /**
   * CrierAdminClient::session-opened:
   * @info: (type gpointer): a #CrierAdminSessionInfo, valid during the emission
   */
  signals[SESSION_OPENED] =
    g_signal_new ("session-opened", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  /**
   * CrierAdminClient::session-closed:
   * @info: (type gpointer): a #CrierAdminSessionInfo with id, user,
   *   transport and remote, valid during the emission
   */
  signals[SESSION_CLOSED] =
    g_signal_new ("session-closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  /**
   * CrierAdminClient::sessions-resync:
   * @sessions: how many sessions the server has now
   *
   * Too many sessions came and went to report them one by one: list again.
   */
  signals[SESSIONS_RESYNC] =
    g_signal_new ("sessions-resync", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT);
  /**
   * CrierAdminClient::alert-raised:
   * @alert: (type gpointer): a #CrierAlert, valid during the emission
   */
  signals[ALERT_RAISED] =
    g_signal_new ("alert-raised", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  /**
   * CrierAdminClient::alert-updated:
   * @alert: (type gpointer): a #CrierAlert that escalated
   */
  signals[ALERT_UPDATED] =
    g_signal_new ("alert-updated", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  /**
   * CrierAdminClient::alert-resolved:
   * @alert: (type gpointer): a #CrierAlert with its end time
   */
  signals[ALERT_RESOLVED] =
    g_signal_new ("alert-resolved", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void
crier_admin_client_init (CrierAdminClient *self)
{
  self->pending = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_object_unref);
  self->next_id = 1;
}

CrierAdminClient *
crier_admin_client_new (void)
{
  return g_object_new (CRIER_TYPE_ADMIN_CLIENT, NULL);
}

void
crier_admin_client_connect_to (CrierAdminClient *self,
                               const char       *address,
                               const char       *token)
{
  g_autofree char *resolved = NULL;

  g_return_if_fail (CRIER_IS_ADMIN_CLIENT (self));

  resolved = g_strstrip (g_strdup (address != NULL ? address : ""));
  if (resolved[0] == '\0')
    {
      g_free (resolved);
      resolved = crier_admin_default_socket_path ();
    }

  g_clear_pointer (&self->socket_path, g_free);
  if (g_path_is_absolute (resolved))
    self->socket_path = g_strdup (resolved);

  g_free (self->token);
  self->token = g_strdup (token);

  if (g_strcmp0 (self->address, resolved) != 0)
    {
      g_free (self->address);
      self->address = g_steal_pointer (&resolved);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ADDRESS]);
    }

  self->attempt = 0;
  set_state (self, CRIER_ADMIN_CLIENT_DISCONNECTED, CRIER_ADMIN_CLIENT_REASON_NONE, NULL);
  start_attempt (self);
}

void
crier_admin_client_set_tls (CrierAdminClient *self,
                            gboolean          tls,
                            const char       *ca_file,
                            const char       *pinned)
{
  g_return_if_fail (CRIER_IS_ADMIN_CLIENT (self));

  self->tls = tls;
  g_clear_pointer (&self->ca_file, g_free);
  if (ca_file != NULL && ca_file[0] != '\0')
    self->ca_file = g_strdup (ca_file);
  g_clear_pointer (&self->pinned, g_free);
  if (pinned != NULL && pinned[0] != '\0')
    self->pinned = g_strdup (pinned);
}

GTlsCertificate *
crier_admin_client_get_peer_certificate (CrierAdminClient *self)
{
  g_return_val_if_fail (CRIER_IS_ADMIN_CLIENT (self), NULL);
  return self->peer_certificate;
}

GTlsCertificateFlags
crier_admin_client_get_peer_certificate_errors (CrierAdminClient *self)
{
  g_return_val_if_fail (CRIER_IS_ADMIN_CLIENT (self), 0);
  return self->peer_errors;
}

void
crier_admin_client_disconnect (CrierAdminClient *self)
{
  g_return_if_fail (CRIER_IS_ADMIN_CLIENT (self));

  self->running = FALSE;
  g_clear_handle_id (&self->retry_id, g_source_remove);
  self->retry_delay = 0;
  drop_connection (self);
  set_state (self, CRIER_ADMIN_CLIENT_DISCONNECTED, CRIER_ADMIN_CLIENT_REASON_NONE, NULL);
}

void
crier_admin_client_reconnect_now (CrierAdminClient *self)
{
  g_return_if_fail (CRIER_IS_ADMIN_CLIENT (self));

  if (self->address == NULL || self->state == CRIER_ADMIN_CLIENT_CONNECTED)
    return;

  self->attempt = 0;
  start_attempt (self);
}

const char *
crier_admin_client_get_address (CrierAdminClient *self)
{
  g_return_val_if_fail (CRIER_IS_ADMIN_CLIENT (self), NULL);
  return self->address;
}

CrierAdminClientState
crier_admin_client_get_state (CrierAdminClient *self)
{
  g_return_val_if_fail (CRIER_IS_ADMIN_CLIENT (self), CRIER_ADMIN_CLIENT_DISCONNECTED);
  return self->state;
}

CrierAdminClientReason
crier_admin_client_get_reason (CrierAdminClient *self)
{
  g_return_val_if_fail (CRIER_IS_ADMIN_CLIENT (self), CRIER_ADMIN_CLIENT_REASON_NONE);
  return self->reason;
}

const char *
crier_admin_client_get_error_message (CrierAdminClient *self)
{
  g_return_val_if_fail (CRIER_IS_ADMIN_CLIENT (self), NULL);
  return self->error_message;
}

const char *
crier_admin_client_get_node (CrierAdminClient *self)
{
  g_return_val_if_fail (CRIER_IS_ADMIN_CLIENT (self), NULL);
  return self->node;
}

const char *
crier_admin_client_get_server_version (CrierAdminClient *self)
{
  g_return_val_if_fail (CRIER_IS_ADMIN_CLIENT (self), NULL);
  return self->server_version;
}

guint
crier_admin_client_get_retry_delay (CrierAdminClient *self)
{
  g_return_val_if_fail (CRIER_IS_ADMIN_CLIENT (self), 0);
  return self->retry_delay;
}

void
crier_admin_client_call_async (CrierAdminClient    *self,
                               CrierAdminRequest   *request,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(CrierAdminRequest) owned = request;
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  gint64 *key;

  g_return_if_fail (CRIER_IS_ADMIN_CLIENT (self));
  g_return_if_fail (request != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, crier_admin_client_call_async);
  g_task_set_name (task, crier_admin_request_type_to_string (request->type));

  if (self->connection == NULL ||
      soup_websocket_connection_get_state (self->connection) != SOUP_WEBSOCKET_STATE_OPEN)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                               "Not connected to a Crier server");
      return;
    }

  owned->id = self->next_id++;
  text = crier_admin_request_encode (owned, &error);
  if (text == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  key = g_new (gint64, 1);
  *key = owned->id;
  g_hash_table_insert (self->pending, key, g_steal_pointer (&task));
  soup_websocket_connection_send_text (self->connection, text);
}

JsonNode *
crier_admin_client_call_finish (CrierAdminClient  *self,
                                GAsyncResult      *result,
                                GError           **error)
{
  g_return_val_if_fail (CRIER_IS_ADMIN_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
