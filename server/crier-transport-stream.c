/* crier-transport-stream.c: SSE and HTTP streaming (see the header).
 *
 * Key functions: crier_stream_accept (steal, head, adopt), the stream's
 * CrierConnClass (stream_on_timer: heartbeats and the owner's deadline),
 * the Centrifugo bindings (cf_stream_open for sse, http_stream and their
 * unidirectional forms; handle_emulation), body_early_cb (bounded request
 * bodies) and crier_stream_register.
 */
#include "config.h"

#include "crier-transport-stream.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "crier-cluster.h"
#include "crier-dialect-plain.h"
#include "crier-transport-ws.h"
#include "crier-util.h"

#define STATE_KEY      "crier-stream"
#define BODY_KEY       "crier-stream-body"
#define CACHE_CONTROL  "private, no-cache, no-store, must-revalidate, max-age=0"
#define ALLOW_HEADERS  "Content-Type, Authorization, Last-Event-ID, If-None-Match, Cache-Control, X-Requested-With"

/* ---- the writer ----------------------------------------------------------- */

GBytes *
crier_stream_chunk_new (const char *prefix,
                        const char *data,
                        gsize       len,
                        const char *suffix)
{
  gsize plen = prefix != NULL ? strlen (prefix) : 0;
  gsize slen = suffix != NULL ? strlen (suffix) : 0;
  GString *out = g_string_sized_new (plen + len + slen + 16);

  g_string_append_printf (out, "%" G_GSIZE_MODIFIER "x\r\n", plen + len + slen);
  if (plen > 0)
    g_string_append_len (out, prefix, plen);
  if (len > 0)
    g_string_append_len (out, data, len);
  if (slen > 0)
    g_string_append_len (out, suffix, slen);
  g_string_append (out, "\r\n");
  return g_string_free_to_bytes (out);
}

static GBytes *
last_chunk (void)
{
  static GBytes *last;

  if (g_once_init_enter (&last))
    g_once_init_leave (&last, g_bytes_new_static ("0\r\n\r\n", 5));
  return last;
}

gint64
crier_stream_now_ms (CrierStream *stream)
{
  return crier_engine_now_ms (stream->conn->engine);
}

static void
stream_schedule (CrierStream *stream)
{
  gint64 deadline = stream->next_heartbeat;

  if (stream->app_deadline > 0 && (deadline == 0 || stream->app_deadline < deadline))
    deadline = stream->app_deadline;
  crier_conn_set_timer (stream->conn, deadline);
}

void
crier_stream_set_deadline (CrierStream *stream,
                           gint64       deadline_ms)
{
  stream->app_deadline = deadline_ms;
  stream_schedule (stream);
}

void
crier_stream_set_heartbeat (CrierStream *stream,
                            GBytes      *chunk,
                            gint64       interval_ms)
{
  g_clear_pointer (&stream->heartbeat, g_bytes_unref);
  stream->next_heartbeat = 0;
  if (chunk != NULL && interval_ms > 0)
    {
      stream->heartbeat = g_bytes_ref (chunk);
      stream->heartbeat_interval = interval_ms;
      stream->next_heartbeat = crier_stream_now_ms (stream) + interval_ms;
    }
  stream_schedule (stream);
}

gboolean
crier_stream_send_chunk (CrierStream *stream,
                         GBytes      *chunk)
{
  if (stream->ended)
    return FALSE;
  return crier_conn_send (stream->conn, chunk);
}

gboolean
crier_stream_send_data (CrierStream *stream,
                        const char  *data,
                        gsize        len)
{
  g_autoptr(GBytes) chunk = NULL;

  if (stream->ended || stream->conn->closed)
    return FALSE;
  chunk = crier_stream_chunk_new (NULL, data, len, NULL);
  return crier_conn_send (stream->conn, chunk);
}

gboolean
crier_stream_send_line (CrierStream *stream,
                        const char  *line,
                        gsize        len)
{
  g_autoptr(GBytes) chunk = NULL;

  if (stream->ended || stream->conn->closed)
    return FALSE;
  if (stream->kind == CRIER_STREAM_SSE)
    chunk = crier_stream_chunk_new ("data: ", line, len, "\n\n");
  else
    chunk = crier_stream_chunk_new (NULL, line, len, "\n");
  return crier_conn_send (stream->conn, chunk);
}

void
crier_stream_end_with_data (CrierStream     *stream,
                            const char      *last,
                            gsize            len,
                            CrierCloseReason why)
{
  if (stream->ended || stream->conn->closed || stream->conn->closing)
    return;
  if (last != NULL && len > 0)
    crier_stream_send_data (stream, last, len);
  stream->ended = TRUE;
  if (stream->conn->closed)
    return;  /* that last send went over the hard limit */
  crier_conn_send (stream->conn, last_chunk ());
  crier_conn_close_after_flush (stream->conn, why);
}

void
crier_stream_end (CrierStream     *stream,
                  const char      *last_line,
                  CrierCloseReason why)
{
  if (stream->ended || stream->conn->closed || stream->conn->closing)
    return;
  if (last_line != NULL)
    crier_stream_send_line (stream, last_line, strlen (last_line));
  crier_stream_end_with_data (stream, NULL, 0, why);
}

static void
stream_on_data (CrierConn    *conn,
                const guint8 *data,
                gsize         len)
{
  /* A streamed response reads nothing more from the client: the engine
   * reads only to notice EOF; whatever arrives is dropped. */
}

static void
stream_on_eof (CrierConn *conn)
{
  crier_conn_close (conn, CRIER_CLOSE_PEER);
}

static void
stream_on_timer (CrierConn *conn,
                 gint64     now_ms)
{
  CrierStream *stream = conn->data;

  if (stream->ended)
    return;

  if (stream->next_heartbeat > 0 && now_ms >= stream->next_heartbeat)
    {
      stream->next_heartbeat = now_ms + stream->heartbeat_interval;
      if (!crier_conn_send (conn, stream->heartbeat))
        return;
    }

  if (stream->app_deadline > 0 && now_ms >= stream->app_deadline)
    {
      stream->app_deadline = 0;
      if (stream->handler->on_deadline != NULL)
        stream->handler->on_deadline (stream, now_ms, stream->user_data);
      if (conn->closed || stream->ended)
        return;
    }

  stream_schedule (stream);
}

static void
stream_on_shutdown (CrierConn *conn)
{
  CrierStream *stream = conn->data;

  if (stream->handler->on_shutdown != NULL)
    stream->handler->on_shutdown (stream, stream->user_data);
  else
    crier_stream_end (stream, NULL, CRIER_CLOSE_SHUTDOWN);
}

static void
stream_on_closed (CrierConn       *conn,
                  CrierCloseReason reason)
{
  CrierStream *stream = conn->data;

  if (stream->handler->on_closed != NULL)
    stream->handler->on_closed (stream, reason, stream->user_data);
  g_clear_pointer (&stream->heartbeat, g_bytes_unref);
  g_free (stream);
}

static const CrierConnClass sse_conn_class = {
  .name = "sse",
  .on_data = stream_on_data,
  .on_eof = stream_on_eof,
  .on_timer = stream_on_timer,
  .on_shutdown = stream_on_shutdown,
  .on_closed = stream_on_closed,
};

static const CrierConnClass json_conn_class = {
  .name = "http_stream",
  .on_data = stream_on_data,
  .on_eof = stream_on_eof,
  .on_timer = stream_on_timer,
  .on_shutdown = stream_on_shutdown,
  .on_closed = stream_on_closed,
};

char *
crier_stream_remote_string (SoupServerMessage *msg)
{
  GSocketAddress *addr = soup_server_message_get_remote_address (msg);

  if (G_IS_INET_SOCKET_ADDRESS (addr))
    {
      GInetSocketAddress *inet = G_INET_SOCKET_ADDRESS (addr);
      GInetAddress *ia = g_inet_socket_address_get_address (inet);
      g_autofree char *ip = g_inet_address_to_string (ia);
      guint16 port = g_inet_socket_address_get_port (inet);

      if (g_inet_address_get_family (ia) == G_SOCKET_FAMILY_IPV6)
        return g_strdup_printf ("[%s]:%u", ip, port);
      return g_strdup_printf ("%s:%u", ip, port);
    }
  return g_strdup ("unix");
}

/* The request's Origin when it may see the response, else NULL. */
void
crier_cors_refused (const char      *path,
                    const char      *origin,
                    CrierLimitStats *limits)
{
  /* The Origin is the client's: never log it raw. */
  g_autofree char *printable = g_strescape (origin != NULL ? origin : "(none)", NULL);

  if (limits != NULL)
    limits->refused[CRIER_LIMIT_ORIGIN]++;
  g_debug ("%s refused: origin %s not allowed", path, printable);
}

/* crier_cors_refused() for a libsoup request. */
static void
cors_refused_msg (SoupServerMessage *msg,
                  CrierLimitStats   *limits)
{
  const char *origin = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                     "Origin");

  crier_cors_refused (g_uri_get_path (soup_server_message_get_uri (msg)), origin, limits);
}

static const char *
allowed_origin (SoupServerMessage *msg,
                char             **allowed_origins)
{
  const char *origin = soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Origin");

  if (origin == NULL || !crier_origin_allowed (origin, allowed_origins))
    return NULL;
  /* Never echo anything that could split the head. */
  if (strpbrk (origin, "\r\n") != NULL)
    return NULL;
  return origin;
}

gboolean
crier_stream_check_request (SoupServerMessage *msg,
                            char             **allowed_origins,
                            CrierLimitStats   *limits)
{
  const char *origin = soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Origin");

  if (soup_server_message_get_http_version (msg) != SOUP_HTTP_1_1)
    {
      soup_server_message_set_status (msg, SOUP_STATUS_HTTP_VERSION_NOT_SUPPORTED, NULL);
      soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC,
                                        "streams need HTTP/1.1\n", 22);
      return FALSE;
    }
  if (origin != NULL && !crier_origin_allowed (origin, allowed_origins))
    {
      cors_refused_msg (msg, limits);
      soup_server_message_set_status (msg, SOUP_STATUS_FORBIDDEN, NULL);
      soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC,
                                        "origin not allowed\n", 19);
      return FALSE;
    }
  return TRUE;
}

CrierStream *
crier_stream_accept (CrierEngine              *engine,
                     SoupServerMessage        *msg,
                     CrierStreamKind           kind,
                     char                    **allowed_origins,
                     const char               *initial,
                     const CrierStreamHandler *handler,
                     gpointer                  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *remote = crier_stream_remote_string (msg);
  const char *origin = allowed_origin (msg, allowed_origins);
  GString *head = g_string_new ("HTTP/1.1 200 OK\r\n");
  GIOStream *io;
  CrierStream *stream;
  CrierConn *conn;

  g_string_append (head, kind == CRIER_STREAM_SSE
                         ? "Content-Type: text/event-stream; charset=utf-8\r\n"
                         : "Content-Type: application/json\r\n");
  g_string_append (head,
                   "Cache-Control: " CACHE_CONTROL "\r\n"
                   "Pragma: no-cache\r\n"
                   "Expires: 0\r\n"
                   "X-Accel-Buffering: no\r\n"
                   "Transfer-Encoding: chunked\r\n"
                   "Connection: close\r\n");
  if (origin != NULL)
    g_string_append_printf (head,
                            "Access-Control-Allow-Origin: %s\r\n"
                            "Access-Control-Allow-Credentials: true\r\n"
                            "Vary: Origin\r\n",
                            origin);
  g_string_append (head, "\r\n");
  if (initial != NULL && initial[0] != '\0')
    g_string_append_printf (head, "%" G_GSIZE_MODIFIER "x\r\n%s\r\n", strlen (initial), initial);

  /* From here on the response is ours: libsoup writes nothing. */
  io = soup_server_message_steal_connection (msg);
  if (io == NULL)
    {
      g_string_free (head, TRUE);
      return NULL;
    }

  stream = g_new0 (CrierStream, 1);
  conn = crier_engine_adopt (engine, io, remote,
                             kind == CRIER_STREAM_SSE ? &sse_conn_class : &json_conn_class,
                             stream, &error);
  if (conn == NULL)
    {
      g_debug ("cannot take over a stream from %s: %s", remote, error->message);
      g_string_free (head, TRUE);
      g_free (stream);
      return NULL;
    }

  stream->conn = conn;
  stream->kind = kind;
  stream->handler = handler;
  stream->user_data = user_data;
  {
    g_autoptr(GBytes) bytes = g_string_free_to_bytes (head);

    crier_conn_send (conn, bytes);
  }
  return stream;
}

void
crier_stream_start (CrierStream *stream)
{
  crier_conn_start (stream->conn);
}

/* ---- CORS ----------------------------------------------------------------- */

gboolean
crier_cors_apply (SoupServerMessage *msg,
                  char             **allowed_origins,
                  const char        *expose_headers)
{
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  SoupMessageHeaders *resp = soup_server_message_get_response_headers (msg);
  const char *origin = soup_message_headers_get_one (req, "Origin");

  if (origin == NULL)
    return TRUE;
  if (!crier_origin_allowed (origin, allowed_origins))
    return FALSE;
  soup_message_headers_replace (resp, "Access-Control-Allow-Origin", origin);
  soup_message_headers_replace (resp, "Access-Control-Allow-Credentials", "true");
  soup_message_headers_append (resp, "Vary", "Origin");
  if (expose_headers != NULL)
    soup_message_headers_replace (resp, "Access-Control-Expose-Headers", expose_headers);
  return TRUE;
}

void
crier_cors_preflight (SoupServerMessage *msg,
                      char             **allowed_origins,
                      const char        *methods,
                      CrierLimitStats   *limits)
{
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  SoupMessageHeaders *resp = soup_server_message_get_response_headers (msg);
  const char *wanted = soup_message_headers_get_one (req, "Access-Control-Request-Headers");

  if (!crier_cors_apply (msg, allowed_origins, NULL))
    {
      cors_refused_msg (msg, limits);
      soup_server_message_set_status (msg, SOUP_STATUS_FORBIDDEN, NULL);
      soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC,
                                        "origin not allowed\n", 19);
      return;
    }
  soup_message_headers_replace (resp, "Access-Control-Allow-Methods", methods);
  /* Echo what the browser asks for (bounded), like Centrifuge. */
  if (wanted != NULL && strlen (wanted) < 1024)
    soup_message_headers_replace (resp, "Access-Control-Allow-Headers", wanted);
  else
    soup_message_headers_replace (resp, "Access-Control-Allow-Headers", ALLOW_HEADERS);
  soup_message_headers_replace (resp, "Access-Control-Max-Age", "300");
  soup_message_headers_replace (resp, "Cache-Control", CACHE_CONTROL);
  crier_http_no_body (msg, SOUP_STATUS_NO_CONTENT);
}

void
crier_http_no_body (SoupServerMessage *msg,
                    guint              status)
{
  /* Without a body libsoup takes the response as ended by EOF and closes
   * the connection; say there is none, so keep-alive works. */
  soup_message_headers_set_encoding (soup_server_message_get_response_headers (msg), SOUP_ENCODING_NONE);
  soup_server_message_set_status (msg, status, NULL);
}

gboolean
crier_transport_disabled (const CrierConfig *config,
                          const char        *transport)
{
  if (!config->debug_endpoints || config->debug_disable_transports == NULL)
    return FALSE;
  return g_strv_contains ((const char * const *) config->debug_disable_transports, transport);
}

/* ---- module state and small replies ---------------------------------------- */

typedef struct
{
  CrierServer    *server;       /* owns this state (object data) */
  CrierCfContext *cf;
  GHashTable     *emulatable;   /* CrierCfClient* on a bidirectional stream */
} StreamState;

static void
stream_state_free (gpointer data)
{
  StreamState *st = data;

  g_hash_table_unref (st->emulatable);
  g_free (st);
}

static void
reply_text (SoupServerMessage *msg,
            guint              status,
            const char        *text)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control", "no-store");
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY, text, strlen (text));
}

/* ---- bounded request bodies ------------------------------------------------ */

typedef struct
{
  GByteArray *data;
  gint64      limit;
  gboolean    too_large;
} Body;

static void
body_free (gpointer data)
{
  Body *body = data;

  g_byte_array_unref (body->data);
  g_free (body);
}

static void
body_got_chunk_cb (SoupServerMessage *msg,
                   GBytes            *chunk,
                   gpointer           user_data)
{
  Body *body = user_data;
  gsize len;
  const guint8 *p = g_bytes_get_data (chunk, &len);

  if (body->too_large)
    return;
  if ((gint64) (body->data->len + len) > body->limit)
    {
      body->too_large = TRUE;
      g_byte_array_set_size (body->data, 0);
      return;
    }
  g_byte_array_append (body->data, p, len);
}

/* A POST body over [limits] max_request_body: counted and logged. */
static void
body_refused (SoupServerMessage *msg,
              CrierLimitStats   *limits)
{
  g_autofree char *who = crier_stream_remote_string (msg);

  limits->refused[CRIER_LIMIT_BODY_SIZE]++;
  g_debug ("%s %s: request body over max_request_body: 413",
           who, g_uri_get_path (soup_server_message_get_uri (msg)));
}

/* POST bodies are collected here, up to [limits] max_request_body; a
 * larger declared length is refused before it is read. */
static void
body_early_cb (SoupServer        *soup,
               SoupServerMessage *msg,
               const char        *path,
               GHashTable        *query,
               gpointer           user_data)
{
  StreamState *st = user_data;
  const CrierConfig *config = crier_server_get_config (st->server);
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  Body *body;

  if (soup_server_message_get_method (msg) != SOUP_METHOD_POST)
    return;
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  if (soup_message_headers_get_encoding (req) == SOUP_ENCODING_CONTENT_LENGTH &&
      soup_message_headers_get_content_length (req) > config->max_request_body)
    {
      body_refused (msg, crier_server_get_limit_stats (st->server));
      crier_cors_apply (msg, config->allowed_origins, NULL);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection", "close");
      reply_text (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "request body too large\n");
      return;
    }
  body = g_new0 (Body, 1);
  body->data = g_byte_array_new ();
  body->limit = config->max_request_body;
  g_object_set_data_full (G_OBJECT (msg), BODY_KEY, body, body_free);
  g_signal_connect (msg, "got-chunk", G_CALLBACK (body_got_chunk_cb), body);
}

/* The POST body, or NULL after answering 413. */
static GBytes *
take_body (SoupServerMessage *msg,
           CrierLimitStats   *limits)
{
  Body *body = g_object_get_data (G_OBJECT (msg), BODY_KEY);

  if (body == NULL)
    return g_bytes_new (NULL, 0);
  if (body->too_large)
    {
      body_refused (msg, limits);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection", "close");
      reply_text (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "request body too large\n");
      return NULL;
    }
  return g_bytes_new (body->data->data, body->data->len);
}

/* ---- Centrifugo over streams ------------------------------------------------ */

typedef struct
{
  StreamState   *st;
  CrierCfClient *client;
  CrierStream   *stream;
  gboolean       uni;
} CfStream;

static gboolean
cf_send_line (gpointer    td,
              const char *json,
              gsize       len)
{
  CfStream *c = td;

  return crier_stream_send_line (c->stream, json, len);
}

static gboolean
cf_send_encoded (gpointer td,
                 GBytes  *frame)
{
  CfStream *c = td;

  return crier_stream_send_chunk (c->stream, frame);
}

static void
cf_send_ping (gpointer td)
{
  static GBytes *sse_ping;
  static GBytes *json_ping;
  CfStream *c = td;

  if (g_once_init_enter (&sse_ping))
    g_once_init_leave (&sse_ping, crier_stream_chunk_new (NULL, "data: {}\n\n", 10, NULL));
  if (g_once_init_enter (&json_ping))
    g_once_init_leave (&json_ping, crier_stream_chunk_new (NULL, "{}\n", 3, NULL));
  crier_stream_send_chunk (c->stream, c->stream->kind == CRIER_STREAM_SSE ? sse_ping : json_ping);
}

static void
cf_disconnect (gpointer    td,
               guint       code,
               const char *reason)
{
  CfStream *c = td;
  g_autoptr(GString) line = g_string_new (NULL);

  /* Streams have no close frame: the disconnect push says goodbye
   * (protocols.md A5), then the response ends. */
  g_string_append_printf (line, "%s{\"disconnect\":{\"code\":%u,\"reason\":", c->uni ? "" : "{\"push\":", code);
  crier_json_append_string (line, reason != NULL ? reason : "");
  g_string_append (line, c->uni ? "}}" : "}}}");
  crier_stream_end (c->stream, line->str, crier_close_reason_for_code (code));
}

static void
cf_set_deadline (gpointer td,
                 gint64   deadline_ms)
{
  CfStream *c = td;

  crier_stream_set_deadline (c->stream, deadline_ms);
}

static const CrierCfTransport cf_sse_transport = {
  .name = "sse",
  .encoding = CRIER_ENC_CF_SSE,
  .send_line = cf_send_line,
  .send_encoded = cf_send_encoded,
  .send_ping = cf_send_ping,
  .disconnect = cf_disconnect,
  .set_deadline = cf_set_deadline,
};

static const CrierCfTransport cf_http_stream_transport = {
  .name = "http_stream",
  .encoding = CRIER_ENC_CF_STREAM,
  .send_line = cf_send_line,
  .send_encoded = cf_send_encoded,
  .send_ping = cf_send_ping,
  .disconnect = cf_disconnect,
  .set_deadline = cf_set_deadline,
};

static const CrierCfTransport cf_uni_sse_transport = {
  .name = "uni_sse",
  .encoding = CRIER_ENC_UNI_SSE,
  .send_line = cf_send_line,
  .send_encoded = cf_send_encoded,
  .send_ping = cf_send_ping,
  .disconnect = cf_disconnect,
  .set_deadline = cf_set_deadline,
};

static const CrierCfTransport cf_uni_http_stream_transport = {
  .name = "uni_http_stream",
  .encoding = CRIER_ENC_UNI_STREAM,
  .send_line = cf_send_line,
  .send_encoded = cf_send_encoded,
  .send_ping = cf_send_ping,
  .disconnect = cf_disconnect,
  .set_deadline = cf_set_deadline,
};

static void
cf_stream_deadline (CrierStream *stream,
                    gint64       now_ms,
                    gpointer     user_data)
{
  CfStream *c = user_data;

  crier_cf_client_tick (c->client, now_ms);
}

static void
cf_stream_shutdown (CrierStream *stream,
                    gpointer     user_data)
{
  CfStream *c = user_data;

  crier_cf_client_shutdown (c->client);
}

static void
cf_stream_closed (CrierStream     *stream,
                  CrierCloseReason reason,
                  gpointer         user_data)
{
  CfStream *c = user_data;

  g_hash_table_remove (c->st->emulatable, c->client);
  crier_cf_client_free (c->client);
  g_free (c);
}

static const CrierStreamHandler cf_stream_handler = {
  .on_deadline = cf_stream_deadline,
  .on_shutdown = cf_stream_shutdown,
  .on_closed = cf_stream_closed,
};

/* Takes the connection and starts a Centrifugo client on it with the
 * initial commands (or, unidirectional, the ConnectRequest) in @input. */
static void
cf_stream_open (StreamState       *st,
                SoupServerMessage *msg,
                CrierStreamKind    kind,
                gboolean           uni,
                const char        *input,
                gsize              input_len)
{
  const CrierConfig *config = crier_server_get_config (st->server);
  const CrierCfTransport *transport;
  g_autofree char *remote = crier_stream_remote_string (msg);
  g_autofree char *user_agent = g_strdup (soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                                         "User-Agent"));
  CfStream *c = g_new0 (CfStream, 1);

  if (kind == CRIER_STREAM_SSE)
    transport = uni ? &cf_uni_sse_transport : &cf_sse_transport;
  else
    transport = uni ? &cf_uni_http_stream_transport : &cf_http_stream_transport;

  c->st = st;
  c->uni = uni;
  /* Centrifuge writes "\r\n" first on SSE to get the head through. */
  c->stream = crier_stream_accept (crier_server_get_engine (st->server), msg, kind, config->allowed_origins,
                                   kind == CRIER_STREAM_SSE ? "\r\n" : NULL, &cf_stream_handler, c);
  if (c->stream == NULL)
    {
      g_free (c);
      return;
    }

  /* Bidirectional streams answer pings over /emulation, like Centrifuge. */
  c->client = crier_cf_client_new (st->cf, transport, c, uni, !uni);
  crier_cf_client_set_peer (c->client, remote, user_agent);
  if (!uni)
    g_hash_table_add (st->emulatable, c->client);

  if (uni)
    crier_cf_client_uni_connect (c->client, input, input_len);
  else
    crier_cf_client_feed (c->client, input, input_len);
  crier_stream_start (c->stream);
}

/* Common checks of a stream endpoint; FALSE after answering. */
static gboolean
stream_request_ok (StreamState       *st,
                   SoupServerMessage *msg,
                   const char        *transport,
                   const char        *methods)
{
  const CrierConfig *config = crier_server_get_config (st->server);
  const char *method = soup_server_message_get_method (msg);

  if (method == SOUP_METHOD_OPTIONS)
    {
      crier_cors_preflight (msg, config->allowed_origins, methods,
                            crier_server_get_limit_stats (st->server));
      return FALSE;
    }
  if (strstr (methods, method) == NULL)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", methods);
      reply_text (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method not allowed\n");
      return FALSE;
    }
  if (crier_server_is_draining (st->server))
    {
      reply_text (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "draining\n");
      return FALSE;
    }
  if (crier_transport_disabled (config, transport))
    {
      reply_text (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "transport disabled (debug_disable_transports)\n");
      return FALSE;
    }
  return crier_stream_check_request (msg, config->allowed_origins,
                                     crier_server_get_limit_stats (st->server));
}

static void
handle_http_stream (SoupServer        *soup,
                    SoupServerMessage *msg,
                    const char        *path,
                    GHashTable        *query,
                    gpointer           user_data)
{
  StreamState *st = user_data;
  gboolean uni = g_str_equal (path, "/connection/uni_http_stream");
  g_autoptr(GBytes) body = NULL;
  const char *data;
  gsize len;

  if (!stream_request_ok (st, msg, "http_stream", "POST, OPTIONS"))
    return;
  body = take_body (msg, crier_server_get_limit_stats (st->server));
  if (body == NULL)
    return;
  data = g_bytes_get_data (body, &len);
  cf_stream_open (st, msg, CRIER_STREAM_JSON, uni, data != NULL ? data : "", len);
}

static void
handle_sse (SoupServer        *soup,
            SoupServerMessage *msg,
            const char        *path,
            GHashTable        *query,
            gpointer           user_data)
{
  StreamState *st = user_data;
  gboolean uni = g_str_equal (path, "/connection/uni_sse");
  g_autoptr(GBytes) body = NULL;
  const char *data = NULL;
  gsize len = 0;

  if (!stream_request_ok (st, msg, "sse", "GET, POST, OPTIONS"))
    return;

  if (soup_server_message_get_method (msg) == SOUP_METHOD_POST)
    {
      body = take_body (msg, crier_server_get_limit_stats (st->server));
      if (body == NULL)
        return;
      data = g_bytes_get_data (body, &len);
    }
  else
    {
      data = query != NULL ? g_hash_table_lookup (query, "cf_connect") : NULL;
      /* Bidirectional SSE cannot do anything without its connect command
       * (Centrifuge answers 400 too); uni_sse may connect with nothing. */
      if (data == NULL && !uni)
        {
          crier_cors_apply (msg, crier_server_get_config (st->server)->allowed_origins, NULL);
          reply_text (msg, SOUP_STATUS_BAD_REQUEST, "cf_connect query parameter required\n");
          return;
        }
      len = data != NULL ? strlen (data) : 0;
    }
  cf_stream_open (st, msg, CRIER_STREAM_SSE, uni, data != NULL ? data : "", len);
}

/* Feeds emulated commands to a local bidirectional stream session; FALSE
 * when there is none of that id (also the cluster's emulation func). */
static gboolean
emulation_feed (const char *session_id,
                const char *commands,
                gsize       len,
                gpointer    user_data)
{
  StreamState *st = user_data;
  CrierSession *session = crier_hub_lookup_session (st->cf->hub, session_id);
  CrierCfClient *client = session != NULL ? crier_cf_client_from_session (session) : NULL;

  /* Only sessions on a bidirectional stream take emulated commands: a
   * WebSocket or unidirectional client's id is no emulation session. */
  if (client == NULL || !g_hash_table_contains (st->emulatable, client))
    return FALSE;
  crier_cf_client_feed (client, commands, len);
  return TRUE;
}

/* An /emulation POST for a session on another node, waiting for the
 * cluster to find that node. */
typedef struct
{
  SoupServerMessage *msg;
  gboolean           in_call;    /* inside crier_cluster_forward_emulation */
  gboolean           answered;
  gboolean           paused;
  gboolean           gone;       /* the client left meanwhile */
  gulong             handler;
} EmulationForward;

static void
emulation_forward_free (EmulationForward *fw)
{
  g_signal_handler_disconnect (fw->msg, fw->handler);
  g_object_unref (fw->msg);
  g_free (fw);
}

static void
emulation_forward_gone (SoupServerMessage *msg,
                        gpointer           user_data)
{
  ((EmulationForward *) user_data)->gone = TRUE;
}

static void
emulation_forwarded (gboolean found,
                     gpointer user_data)
{
  EmulationForward *fw = user_data;

  if (!fw->gone)
    {
      if (found)
        {
          soup_message_headers_replace (soup_server_message_get_response_headers (fw->msg),
                                        "Cache-Control", "no-store");
          crier_http_no_body (fw->msg, SOUP_STATUS_NO_CONTENT);
        }
      else
        reply_text (fw->msg, SOUP_STATUS_NOT_FOUND, "unknown node\n");
      if (fw->paused)
        soup_server_message_unpause (fw->msg);
    }
  fw->answered = TRUE;
  if (!fw->in_call)
    emulation_forward_free (fw);
}

/* POST /emulation {"session":S,"node":N,"data":"<commands>"}: the
 * commands of an SSE or http_stream client, whose replies travel down
 * its stream.  For a session on another node (N names it) the commands
 * travel there as a node message (crier-cluster.h): 204 once sent, 404
 * when no node of that name is alive. */
static void
handle_emulation (SoupServer        *soup,
                  SoupServerMessage *msg,
                  const char        *path,
                  GHashTable        *query,
                  gpointer           user_data)
{
  StreamState *st = user_data;
  const CrierConfig *config = crier_server_get_config (st->server);
  const char *method = soup_server_message_get_method (msg);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *obj;
  JsonNode *root;
  JsonNode *session_node;
  JsonNode *node_node;
  JsonNode *data_node;
  const char *data;
  gsize len;

  if (method == SOUP_METHOD_OPTIONS)
    {
      crier_cors_preflight (msg, config->allowed_origins, "POST, OPTIONS",
                            crier_server_get_limit_stats (st->server));
      return;
    }
  if (!crier_cors_apply (msg, config->allowed_origins, NULL))
    {
      cors_refused_msg (msg, crier_server_get_limit_stats (st->server));
      reply_text (msg, SOUP_STATUS_FORBIDDEN, "origin not allowed\n");
      return;
    }
  if (method != SOUP_METHOD_POST)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", "POST, OPTIONS");
      reply_text (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method not allowed\n");
      return;
    }
  body = take_body (msg, crier_server_get_limit_stats (st->server));
  if (body == NULL)
    return;

  data = g_bytes_get_data (body, &len);
  parser = json_parser_new ();
  if (len == 0 || !crier_json_single_value (data, len) ||
      !json_parser_load_from_data (parser, data, len, &error) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      reply_text (msg, SOUP_STATUS_BAD_REQUEST, "body must be a JSON object\n");
      return;
    }
  obj = json_node_get_object (root);
  session_node = json_object_get_member (obj, "session");
  node_node = json_object_get_member (obj, "node");
  data_node = json_object_get_member (obj, "data");
  if (session_node == NULL || !JSON_NODE_HOLDS_VALUE (session_node) ||
      json_node_get_value_type (session_node) != G_TYPE_STRING ||
      data_node == NULL || !JSON_NODE_HOLDS_VALUE (data_node) ||
      json_node_get_value_type (data_node) != G_TYPE_STRING ||
      (node_node != NULL && (!JSON_NODE_HOLDS_VALUE (node_node) ||
                             json_node_get_value_type (node_node) != G_TYPE_STRING)))
    {
      reply_text (msg, SOUP_STATUS_BAD_REQUEST, "session and data must be strings\n");
      return;
    }

  if (node_node != NULL && !g_str_equal (json_node_get_string (node_node), st->cf->node))
    {
      EmulationForward *fw = g_new0 (EmulationForward, 1);
      CrierCluster *cluster = crier_server_get_cluster (st->server);

      fw->msg = g_object_ref (msg);
      fw->handler = g_signal_connect (msg, "disconnected", G_CALLBACK (emulation_forward_gone), fw);
      /* Answered at once when the node is known, else after a registry
       * read: then the message waits, paused. */
      fw->in_call = TRUE;
      crier_cluster_forward_emulation (cluster, json_node_get_string (node_node),
                                       json_node_get_string (session_node),
                                       json_node_get_string (data_node),
                                       emulation_forwarded, fw);
      fw->in_call = FALSE;
      if (fw->answered)
        emulation_forward_free (fw);
      else
        {
          fw->paused = TRUE;
          soup_server_message_pause (msg);
        }
      return;
    }
  {
    const char *commands = json_node_get_string (data_node);

    if (!emulation_feed (json_node_get_string (session_node), commands, strlen (commands), st))
      {
        reply_text (msg, SOUP_STATUS_NOT_FOUND, "unknown session\n");
        return;
      }
  }
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control", "no-store");
  crier_http_no_body (msg, SOUP_STATUS_NO_CONTENT);
}

/* ---- registration ----------------------------------------------------------- */

void
crier_stream_register (CrierServer    *server,
                       SoupServer     *soup,
                       CrierCfContext *cf)
{
  static const char * const post_paths[] = {
    "/connection/http_stream",
    "/connection/uni_http_stream",
    "/connection/sse",
    "/connection/uni_sse",
    "/emulation",
  };
  StreamState *st;

  g_return_if_fail (CRIER_IS_SERVER (server));
  g_return_if_fail (g_object_get_data (G_OBJECT (server), STATE_KEY) == NULL);

  st = g_new0 (StreamState, 1);
  st->server = server;
  st->cf = cf;
  st->emulatable = g_hash_table_new (NULL, NULL);
  g_object_set_data_full (G_OBJECT (server), STATE_KEY, st, stream_state_free);

  for (guint i = 0; i < G_N_ELEMENTS (post_paths); i++)
    soup_server_add_early_handler (soup, post_paths[i], body_early_cb, st, NULL);
  soup_server_add_handler (soup, "/connection/http_stream", handle_http_stream, st, NULL);
  soup_server_add_handler (soup, "/connection/uni_http_stream", handle_http_stream, st, NULL);
  soup_server_add_handler (soup, "/connection/sse", handle_sse, st, NULL);
  soup_server_add_handler (soup, "/connection/uni_sse", handle_sse, st, NULL);
  soup_server_add_handler (soup, "/emulation", handle_emulation, st, NULL);
  crier_cluster_set_emulation_func (crier_server_get_cluster (server), emulation_feed, st);

  crier_plain_register (server, soup, cf);
}
