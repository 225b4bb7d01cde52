/* test-stream.c: SSE, HTTP streaming, /emulation, CORS and the plain
 * dialect (/sub over SSE, long polling and WebSocket), with raw sockets
 * against an in-process server. */
#include "config.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "crier-admin-protocol.h"
#include "crier-dialect-plain.h"
#include "crier-util.h"
#include "crier-ws-codec.h"
#include "test-utils.h"

/* ---- a raw HTTP client that keeps the main loop turning ------------------ */

typedef struct
{
  int         fd;
  GByteArray *buf;
} Raw;

static Raw *
raw_new (CrierServer *server)
{
  Raw *raw = g_new0 (Raw, 1);

  raw->fd = test_tcp_connect (crier_server_get_port (server));
  raw->buf = g_byte_array_new ();
  return raw;
}

static void
raw_free (Raw *raw)
{
  if (raw->fd >= 0)
    close (raw->fd);
  g_byte_array_unref (raw->buf);
  g_free (raw);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Raw, raw_free)

static void
raw_send (Raw        *raw,
          const char *text)
{
  g_assert_cmpint (send (raw->fd, text, strlen (text), MSG_NOSIGNAL), ==, (gssize) strlen (text));
}

/* Reads what is there into the buffer; FALSE on EOF or timeout. */
static gboolean
raw_fill (Raw *raw,
          int  timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  while (g_get_monotonic_time () < deadline)
    {
      struct pollfd p = { .fd = raw->fd, .events = POLLIN };

      if (poll (&p, 1, 1) > 0)
        {
          guint8 tmp[65536];
          ssize_t n = recv (raw->fd, tmp, sizeof tmp, MSG_DONTWAIT);

          if (n > 0)
            {
              g_byte_array_append (raw->buf, tmp, n);
              return TRUE;
            }
          if (n == 0 || (errno != EAGAIN && errno != EINTR))
            return FALSE;
        }
      while (g_main_context_iteration (NULL, FALSE))
        ;
    }
  return FALSE;
}

static char *
raw_take (Raw  *raw,
          gsize len,
          gsize skip)
{
  char *out = g_strndup ((const char *) raw->buf->data, len);

  g_byte_array_remove_range (raw->buf, 0, len + skip);
  return out;
}

static const char *
buf_find (Raw        *raw,
          const char *needle)
{
  if (raw->buf->len == 0)
    return NULL;
  return g_strstr_len ((const char *) raw->buf->data, raw->buf->len, needle);
}

/* The response head, with its final blank line removed; NULL on EOF. */
static char *
raw_read_head (Raw *raw)
{
  const char *end;

  while ((end = buf_find (raw, "\r\n\r\n")) == NULL)
    if (!raw_fill (raw, 10000))
      return NULL;
  return raw_take (raw, end - (const char *) raw->buf->data + 2, 2);
}

/* One chunk's data ("" for the last chunk); NULL on EOF or timeout. */
static char *
raw_read_chunk_timeout (Raw *raw,
                        int  timeout_ms)
{
  const char *crlf;
  gsize size;
  gsize header;

  while ((crlf = buf_find (raw, "\r\n")) == NULL)
    if (!raw_fill (raw, timeout_ms))
      return NULL;
  size = g_ascii_strtoull ((const char *) raw->buf->data, NULL, 16);
  header = crlf + 2 - (const char *) raw->buf->data;
  while (raw->buf->len < header + size + 2)
    if (!raw_fill (raw, timeout_ms))
      return NULL;
  g_assert_cmpint (raw->buf->data[header + size], ==, '\r');
  g_assert_cmpint (raw->buf->data[header + size + 1], ==, '\n');
  g_byte_array_remove_range (raw->buf, 0, header);
  return raw_take (raw, size, 2);
}

static char *
raw_read_chunk (Raw *raw)
{
  return raw_read_chunk_timeout (raw, 10000);
}

/* Next chunk that is not an SSE comment or a bare "\r\n". */
static char *
raw_read_event (Raw *raw)
{
  for (guint i = 0; i < 100; i++)
    {
      char *chunk = raw_read_chunk (raw);

      if (chunk == NULL || (chunk[0] != ':' && !g_str_equal (chunk, "\r\n")))
        return chunk;
      g_free (chunk);
    }
  return NULL;
}

static gboolean
raw_wait_eof (Raw *raw,
              int  timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  while (g_get_monotonic_time () < deadline)
    {
      struct pollfd p = { .fd = raw->fd, .events = POLLIN };

      if (poll (&p, 1, 1) > 0)
        {
          guint8 tmp[4096];
          ssize_t n = recv (raw->fd, tmp, sizeof tmp, MSG_DONTWAIT);

          if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return TRUE;
        }
      while (g_main_context_iteration (NULL, FALSE))
        ;
    }
  return FALSE;
}

/* A whole response to a Content-Length or 304 answer (keep-alive safe). */
static guint
raw_read_response (Raw   *raw,
                   char **head_out,
                   char **body_out)
{
  g_autofree char *head = raw_read_head (raw);
  const char *cl;
  gsize len = 0;
  guint status = 0;

  g_assert_nonnull (head);
  g_assert_cmpint (sscanf (head, "HTTP/1.1 %u", &status), ==, 1);
  cl = strstr (head, "Content-Length: ");
  if (cl != NULL)
    len = g_ascii_strtoull (cl + 16, NULL, 10);
  while (raw->buf->len < len)
    g_assert_true (raw_fill (raw, 10000));
  if (body_out != NULL)
    *body_out = raw_take (raw, len, 0);
  else
    g_byte_array_remove_range (raw->buf, 0, len);
  if (head_out != NULL)
    *head_out = g_steal_pointer (&head);
  return status;
}

static char *
header_value (const char *head,
              const char *name)
{
  g_autofree char *needle = g_strdup_printf ("\r\n%s: ", name);
  const char *p = strcasestr (head, needle);
  const char *end;

  if (p == NULL)
    return NULL;
  p += strlen (needle);
  end = strstr (p, "\r\n");
  return end != NULL ? g_strndup (p, end - p) : g_strdup (p);
}

/* ---- server helpers ------------------------------------------------------- */

static char *
poll_request (const char *path,
              const char *etag)
{
  if (etag != NULL)
    return g_strdup_printf ("GET %s HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n\r\n", path, etag);
  return g_strdup_printf ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
}


static CrierServer *
server_new (const char *first,
            ...)
{
  g_autoptr(GPtrArray) settings = g_ptr_array_new ();
  va_list ap;

  g_ptr_array_add (settings, (char *) "auth.allow_anonymous=true");
  va_start (ap, first);
  for (const char *s = first; s != NULL; s = va_arg (ap, const char *))
    g_ptr_array_add (settings, (char *) s);
  va_end (ap);
  g_ptr_array_add (settings, NULL);
  return test_server_new ((const char * const *) settings->pdata);
}

static void
publish (CrierServer *server,
         const char  *channel,
         const char  *json)
{
  g_autoptr(GBytes) data = g_bytes_new (json, strlen (json));

  crier_hub_publish (crier_server_get_hub (server), channel, data, NULL, NULL, NULL);
}

static guint
n_sessions (CrierServer *server)
{
  return crier_hub_get_stats (crier_server_get_hub (server))->sessions;
}

static void
collect_session (gpointer key,
                 gpointer value,
                 gpointer user_data)
{
  g_ptr_array_add (user_data, value);
}

static CrierSession *
find_session (CrierServer *server,
              const char  *transport)
{
  g_autoptr(GPtrArray) all = g_ptr_array_new ();

  crier_hub_foreach_session (crier_server_get_hub (server), collect_session, all);
  for (guint i = 0; i < all->len; i++)
    {
      CrierSession *s = g_ptr_array_index (all, i);

      if (g_str_equal (s->klass->transport, transport))
        return s;
    }
  return NULL;
}

static JsonNode *
parse_json (const char *text)
{
  g_autoptr(GError) error = NULL;
  JsonNode *node = json_from_string (text, &error);

  g_assert_no_error (error);
  return node;
}

/* "data: X\n\n" -> X */
static char *
sse_data (const char *event)
{
  const char *d = strstr (event, "data: ");
  const char *end;

  g_assert_nonnull (d);
  d += 6;
  end = strchr (d, '\n');
  return g_strndup (d, end - d);
}

static char *
sse_field (const char *event,
           const char *field)
{
  g_autofree char *needle = g_strdup_printf ("%s: ", field);
  const char *p = event;

  while (p != NULL && *p != '\0')
    {
      if (g_str_has_prefix (p, needle))
        {
          const char *end = strchr (p, '\n');

          return g_strndup (p + strlen (needle), end - p - strlen (needle));
        }
      p = strchr (p, '\n');
      if (p != NULL)
        p++;
    }
  return NULL;
}

static char *
make_token (const char *claims)
{
  return test_hs256_token ("test-secret", claims);
}

/* Opens a Centrifugo SSE stream, checks the head, returns the connect
 * reply's session. */
static Raw *
open_cf_sse (CrierServer *server,
             char       **session_out)
{
  g_autofree char *connect = g_uri_escape_string ("{\"connect\":{\"name\":\"test\"},\"id\":1}", NULL, FALSE);
  g_autofree char *req = g_strdup_printf ("GET /connection/sse?cf_connect=%s HTTP/1.1\r\nHost: x\r\n\r\n", connect);
  g_autofree char *head = NULL;
  g_autofree char *first = NULL;
  g_autofree char *event = NULL;
  g_autofree char *reply = NULL;
  g_autoptr(JsonNode) node = NULL;
  Raw *raw = raw_new (server);
  JsonObject *result;

  raw_send (raw, req);
  head = raw_read_head (raw);
  g_assert_nonnull (head);
  g_assert_true (g_str_has_prefix (head, "HTTP/1.1 200 OK\r\n"));
  g_assert_nonnull (strstr (head, "\r\nContent-Type: text/event-stream; charset=utf-8\r\n"));
  g_assert_nonnull (strstr (head, "\r\nCache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\n"));
  g_assert_nonnull (strstr (head, "\r\nPragma: no-cache\r\n"));
  g_assert_nonnull (strstr (head, "\r\nExpires: 0\r\n"));
  g_assert_nonnull (strstr (head, "\r\nX-Accel-Buffering: no\r\n"));
  g_assert_nonnull (strstr (head, "\r\nTransfer-Encoding: chunked\r\n"));

  first = raw_read_chunk (raw);
  g_assert_cmpstr (first, ==, "\r\n");
  event = raw_read_chunk (raw);
  g_assert_true (g_str_has_prefix (event, "data: {\"id\":1,\"connect\":{"));
  g_assert_true (g_str_has_suffix (event, "}\n\n"));
  reply = sse_data (event);
  node = parse_json (reply);
  result = json_object_get_object_member (json_node_get_object (node), "connect");
  g_assert_cmpstr (json_object_get_string_member (result, "node"), ==, crier_server_get_node_name (server));
  *session_out = g_strdup (json_object_get_string_member (result, "session"));
  g_assert_cmpstr (*session_out, ==, json_object_get_string_member (result, "client"));
  return raw;
}

static guint
emulate (CrierServer *server,
         const char  *body)
{
  return test_http_request (crier_server_get_port (server), "POST", "/emulation", body, NULL);
}

static char *
emulation_body (const char *session,
                const char *node,
                const char *commands)
{
  g_autoptr(GString) body = g_string_new ("{\"session\":");

  crier_json_append_string (body, session);
  g_string_append (body, ",\"node\":");
  crier_json_append_string (body, node);
  g_string_append (body, ",\"data\":");
  crier_json_append_string (body, commands);
  g_string_append_c (body, '}');
  return g_string_free (g_steal_pointer (&body), FALSE);
}

/* ---- Centrifugo over SSE and HTTP streaming ------------------------------ */

static void
test_cf_sse (void)
{
  CrierServer *server = server_new (NULL);
  g_autofree char *session = NULL;
  g_autofree char *body = NULL;
  g_autofree char *event = NULL;
  g_autofree char *last = NULL;
  g_autoptr(Raw) raw = open_cf_sse (server, &session);
  CrierSession *s;

  /* Commands after connect come through /emulation; replies come down the
   * stream. */
  body = emulation_body (session, crier_server_get_node_name (server),
                         "{\"subscribe\":{\"channel\":\"news\"},\"id\":2}");
  g_assert_cmpuint (emulate (server, body), ==, 204);
  event = raw_read_event (raw);
  g_assert_cmpstr (event, ==, "data: {\"id\":2,\"subscribe\":{}}\n\n");
  g_clear_pointer (&event, g_free);

  /* Publications are the cached SSE chunk. */
  publish (server, "news", "{\"text\":\"hello\"}");
  event = raw_read_event (raw);
  g_assert_cmpstr (event, ==, "data: {\"push\":{\"channel\":\"news\",\"pub\":{\"data\":{\"text\":\"hello\"}}}}\n\n");
  g_clear_pointer (&event, g_free);

  /* Ending: disconnect push, last chunk, close. */
  s = crier_hub_lookup_session (crier_server_get_hub (server), session);
  g_assert_nonnull (s);
  g_assert_cmpstr (s->klass->transport, ==, "centrifuge");
  s->klass->disconnect (s, 3001, "shutdown");
  event = raw_read_event (raw);
  g_assert_cmpstr (event, ==, "data: {\"push\":{\"disconnect\":{\"code\":3001,\"reason\":\"shutdown\"}}}\n\n");
  last = raw_read_chunk (raw);
  g_assert_cmpstr (last, ==, "");
  g_assert_true (raw_wait_eof (raw, 10000));
  WAIT_UNTIL (n_sessions (server) == 0);

  test_server_quit_unref (server);
}

static void
test_cf_sse_bad (void)
{
  CrierServer *server = server_new (NULL);
  guint16 port = crier_server_get_port (server);

  /* No cf_connect: 400, as Centrifuge. */
  g_assert_cmpuint (test_http_request (port, "GET", "/connection/sse", NULL, NULL), ==, 400);
  /* Wrong method. */
  g_assert_cmpuint (test_http_request (port, "PUT", "/connection/sse", "x", NULL), ==, 405);
  g_assert_cmpuint (test_http_request (port, "GET", "/connection/http_stream", NULL, NULL), ==, 405);
  test_server_quit_unref (server);
}

static void
test_cf_http_stream (void)
{
  CrierServer *server = server_new ("websocket.pong_timeout=300ms", "websocket.ping_interval=400ms", NULL);
  static const char body[] = "{\"connect\":{\"name\":\"test\"},\"id\":1}";
  g_autofree char *req = g_strdup_printf ("POST /connection/http_stream HTTP/1.1\r\nHost: x\r\n"
                                          "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                          strlen (body), body);
  g_autoptr(Raw) raw = raw_new (server);
  g_autofree char *head = NULL;
  g_autofree char *reply = NULL;
  g_autofree char *ping = NULL;
  g_autofree char *bye = NULL;
  g_autofree char *last = NULL;

  raw_send (raw, req);
  head = raw_read_head (raw);
  g_assert_true (g_str_has_prefix (head, "HTTP/1.1 200 OK\r\n"));
  g_assert_nonnull (strstr (head, "\r\nContent-Type: application/json\r\n"));
  g_assert_nonnull (strstr (head, "\r\nTransfer-Encoding: chunked\r\n"));
  g_assert_nonnull (strstr (head, "\r\nX-Accel-Buffering: no\r\n"));

  /* One JSON line per chunk. */
  reply = raw_read_chunk (raw);
  g_assert_true (g_str_has_prefix (reply, "{\"id\":1,\"connect\":{\"client\":"));
  g_assert_true (g_str_has_suffix (reply, "}\n"));
  g_assert_nonnull (strstr (reply, "\"ping\":1,\"pong\":true"));
  g_assert_nonnull (strstr (reply, "\"session\":"));

  /* Heartbeats are the protocol's ping; without the pong (which would come
   * over /emulation) the client is told 3012 and the stream ends. */
  ping = raw_read_chunk (raw);
  g_assert_cmpstr (ping, ==, "{}\n");
  bye = raw_read_chunk (raw);
  g_assert_cmpstr (bye, ==, "{\"push\":{\"disconnect\":{\"code\":3012,\"reason\":\"no pong\"}}}\n");
  last = raw_read_chunk (raw);
  g_assert_cmpstr (last, ==, "");
  g_assert_true (raw_wait_eof (raw, 10000));

  test_server_quit_unref (server);
}

static void
test_cf_uni (void)
{
  CrierServer *server = server_new ("auth.hmac_secret=test-secret", NULL);
  g_autofree char *token = make_token ("{\"sub\":\"42\",\"channels\":[\"news\"]}");
  g_autofree char *body = g_strdup_printf ("{\"token\":\"%s\"}", token);
  g_autofree char *req = g_strdup_printf ("POST /connection/uni_http_stream HTTP/1.1\r\nHost: x\r\n"
                                          "Content-Length: %zu\r\n\r\n%s", strlen (body), body);
  g_autoptr(Raw) raw = raw_new (server);
  g_autoptr(Raw) sse = raw_new (server);
  g_autofree char *head = NULL;
  g_autofree char *line = NULL;
  g_autofree char *event = NULL;
  CrierSession *s;

  raw_send (raw, req);
  head = raw_read_head (raw);
  g_assert_true (g_str_has_prefix (head, "HTTP/1.1 200 OK\r\n"));
  line = raw_read_chunk (raw);
  g_assert_true (g_str_has_prefix (line, "{\"connect\":{\"client\":"));
  g_assert_nonnull (strstr (line, "\"subs\":{\"news\":"));
  g_clear_pointer (&line, g_free);

  publish (server, "news", "[1,2]");
  line = raw_read_chunk (raw);
  g_assert_cmpstr (line, ==, "{\"channel\":\"news\",\"pub\":{\"data\":[1,2]}}\n");
  g_clear_pointer (&line, g_free);

  /* The unidirectional goodbye is a bare disconnect. */
  s = find_session (server, "centrifuge");
  s->klass->disconnect (s, 3503, "force disconnect");
  line = raw_read_chunk (raw);
  g_assert_cmpstr (line, ==, "{\"disconnect\":{\"code\":3503,\"reason\":\"force disconnect\"}}\n");
  g_clear_pointer (&line, g_free);
  line = raw_read_chunk (raw);
  g_assert_cmpstr (line, ==, "");

  /* uni_sse with no ConnectRequest at all: an anonymous connect push. */
  raw_send (sse, "GET /connection/uni_sse HTTP/1.1\r\nHost: x\r\n\r\n");
  g_clear_pointer (&head, g_free);
  head = raw_read_head (sse);
  g_assert_true (g_str_has_prefix (head, "HTTP/1.1 200 OK\r\n"));
  event = raw_read_event (sse);
  g_assert_true (g_str_has_prefix (event, "data: {\"connect\":{\"client\":"));

  test_server_quit_unref (server);
}

static void
test_emulation_errors (void)
{
  CrierServer *server = server_new ("limits.max_request_body=1KiB", NULL);
  g_autofree char *session = NULL;
  g_autoptr(Raw) raw = open_cf_sse (server, &session);
  const char *node = crier_server_get_node_name (server);
  g_autofree char *unknown = emulation_body ("0123456789abcdef0123456789abcdef", node, "{}");
  g_autofree char *other_node = emulation_body (session, "elsewhere", "{}");
  g_autofree char *big_commands = g_strnfill (2048, ' ');
  g_autofree char *too_big = emulation_body (session, node, big_commands);
  g_autofree char *pong = emulation_body (session, node, "{}");
  g_autofree char *ws_session = NULL;
  int fd;

  g_assert_cmpuint (emulate (server, unknown), ==, 404);
  g_assert_cmpuint (emulate (server, other_node), ==, 404);
  g_assert_cmpuint (emulate (server, "{\"session\":"), ==, 400);
  g_assert_cmpuint (emulate (server, "[1]"), ==, 400);
  g_assert_cmpuint (emulate (server, "{\"session\":\"x\",\"data\":{}}"), ==, 400);
  g_assert_cmpuint (emulate (server, too_big), ==, 413);
  g_assert_cmpuint (crier_server_get_limit_stats (server)->refused[CRIER_LIMIT_BODY_SIZE], ==, 1);
  g_assert_cmpuint (test_http_request (crier_server_get_port (server), "GET", "/emulation", NULL, NULL), ==, 405);
  g_assert_cmpuint (emulate (server, pong), ==, 204);

  /* A WebSocket client's id is no emulation session. */
  fd = test_tcp_connect (crier_server_get_port (server));
  g_assert_true (test_ws_handshake (fd, "/connection/websocket", NULL));
  test_ws_send (fd, CRIER_WS_OP_TEXT, TRUE, "{\"connect\":{},\"id\":1}", 21);
  {
    g_autoptr(GByteArray) payload = g_byte_array_new ();
    g_autoptr(JsonNode) node_json = NULL;
    g_autofree char *text = NULL;
    g_autofree char *body = NULL;
    guint8 opcode;

    g_assert_true (test_ws_read_frame (fd, &opcode, payload, 10000));
    text = g_strndup ((const char *) payload->data, payload->len);
    node_json = parse_json (text);
    ws_session = g_strdup (json_object_get_string_member (json_object_get_object_member (json_node_get_object (node_json),
                                                                                          "connect"), "client"));
    body = emulation_body (ws_session, node, "{}");
    g_assert_cmpuint (emulate (server, body), ==, 404);
  }
  close (fd);

  test_server_quit_unref (server);
}

static void
test_cors (void)
{
  CrierServer *server = server_new ("server.allowed_origins=http://good.example", NULL);
  g_autoptr(Raw) pre = raw_new (server);
  g_autoptr(Raw) bad = raw_new (server);
  g_autoptr(Raw) stream = raw_new (server);
  g_autofree char *head = NULL;
  g_autofree char *v = NULL;
  g_autofree char *connect = g_uri_escape_string ("{\"connect\":{},\"id\":1}", NULL, FALSE);
  g_autofree char *req = NULL;

  raw_send (pre, "OPTIONS /connection/http_stream HTTP/1.1\r\nHost: x\r\nOrigin: http://good.example\r\n"
                 "Access-Control-Request-Method: POST\r\n"
                 "Access-Control-Request-Headers: content-type\r\n\r\n");
  g_assert_cmpuint (raw_read_response (pre, &head, NULL), ==, 204);
  v = header_value (head, "Access-Control-Allow-Origin");
  g_assert_cmpstr (v, ==, "http://good.example");
  g_clear_pointer (&v, g_free);
  v = header_value (head, "Access-Control-Max-Age");
  g_assert_cmpstr (v, ==, "300");
  g_clear_pointer (&v, g_free);
  v = header_value (head, "Access-Control-Allow-Methods");
  g_assert_cmpstr (v, ==, "POST, OPTIONS");
  g_clear_pointer (&v, g_free);
  v = header_value (head, "Access-Control-Allow-Headers");
  g_assert_cmpstr (v, ==, "content-type");
  g_clear_pointer (&v, g_free);
  g_clear_pointer (&head, g_free);

  /* Same for /emulation and /sub. libsoup 3.2 closes the connection after
   * any 204 (it drops the framing of a body-less answer), so one
   * connection each. */
  g_assert_true (raw_wait_eof (pre, 2000));
  g_clear_pointer (&pre, raw_free);
  pre = raw_new (server);
  raw_send (pre, "OPTIONS /emulation HTTP/1.1\r\nHost: x\r\nOrigin: http://good.example\r\n\r\n");
  g_assert_cmpuint (raw_read_response (pre, NULL, NULL), ==, 204);
  g_clear_pointer (&pre, raw_free);
  pre = raw_new (server);
  raw_send (pre, "OPTIONS /sub/news HTTP/1.1\r\nHost: x\r\nOrigin: http://good.example\r\n\r\n");
  g_assert_cmpuint (raw_read_response (pre, &head, NULL), ==, 204);
  v = header_value (head, "Access-Control-Allow-Methods");
  g_assert_cmpstr (v, ==, "GET, OPTIONS");
  g_clear_pointer (&v, g_free);
  g_clear_pointer (&head, g_free);

  /* Another origin: refused. */
  raw_send (bad, "OPTIONS /connection/sse HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n\r\n");
  g_assert_cmpuint (raw_read_response (bad, NULL, NULL), ==, 403);
  req = g_strdup_printf ("GET /connection/sse?cf_connect=%s HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n\r\n",
                         connect);
  raw_send (bad, req);
  g_assert_cmpuint (raw_read_response (bad, NULL, NULL), ==, 403);
  /* Every refusal is counted as an origin refusal, like a WebSocket's. */
  g_assert_cmpuint (crier_server_get_limit_stats (server)->refused[CRIER_LIMIT_ORIGIN], ==, 2);
  {
    const char * const refused[] = {
      "POST /connection/http_stream HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n"
      "Content-Length: 22\r\n\r\n{\"connect\":{},\"id\":1}\n",
      "POST /emulation HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n"
      "Content-Length: 2\r\n\r\n{}",
      "OPTIONS /sub/news HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n\r\n",
      "GET /sub/news HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n"
      "Accept: text/event-stream\r\n\r\n",
      "GET /sub/news HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n\r\n",
    };

    for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
      {
        g_autoptr(Raw) one = raw_new (server);

        raw_send (one, refused[i]);
        g_assert_cmpuint (raw_read_response (one, NULL, NULL), ==, 403);
        g_assert_cmpuint (crier_server_get_limit_stats (server)->refused[CRIER_LIMIT_ORIGIN], ==, 3 + i);
      }
  }

  /* The allowed origin sees CORS headers in the stream's own head. */
  g_free (req);
  req = g_strdup_printf ("GET /connection/sse?cf_connect=%s HTTP/1.1\r\nHost: x\r\nOrigin: http://good.example\r\n\r\n",
                         connect);
  raw_send (stream, req);
  head = raw_read_head (stream);
  v = header_value (head, "Access-Control-Allow-Origin");
  g_assert_cmpstr (v, ==, "http://good.example");
  g_clear_pointer (&v, g_free);
  v = header_value (head, "Access-Control-Allow-Credentials");
  g_assert_cmpstr (v, ==, "true");
  /* Allowed origins are not counted. */
  g_assert_cmpuint (crier_server_get_limit_stats (server)->refused[CRIER_LIMIT_ORIGIN], ==, 7);

  test_server_quit_unref (server);
}

/* ---- limits and liveness --------------------------------------------------- */

static void
test_slow_reader (void)
{
  CrierServer *server = server_new ("limits.outbound_soft_limit=16KiB", "limits.outbound_hard_limit=64KiB", NULL);
  const CrierEngineStats *stats = crier_engine_get_stats (crier_server_get_engine (server));
  guint64 slow_before = stats->closed[CRIER_CLOSE_SLOW];
  g_autoptr(Raw) raw = raw_new (server);
  g_autofree char *head = NULL;
  g_autofree char *payload = NULL;
  int rcvbuf = 4096;
  guint sent = 0;

  /* A subscriber that never reads (tiny receive buffer). */
  setsockopt (raw->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  raw_send (raw, "GET /sub/flood HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n");
  head = raw_read_head (raw);
  g_assert_true (g_str_has_prefix (head, "HTTP/1.1 200 OK\r\n"));
  WAIT_UNTIL (find_session (server, "plain-sse") != NULL);

  {
    g_autofree char *x = g_strnfill (8000, 'x');

    payload = g_strdup_printf ("\"%s\"", x);
  }
  while (stats->closed[CRIER_CLOSE_SLOW] == slow_before && sent < 10000)
    {
      publish (server, "flood", payload);
      sent++;
      g_main_context_iteration (NULL, FALSE);
    }
  g_assert_cmpuint (stats->closed[CRIER_CLOSE_SLOW], ==, slow_before + 1);
  /* Well before 64 KiB + kernel buffers' worth of messages... bounded. */
  g_assert_cmpuint (sent, <, 2000);
  WAIT_UNTIL (n_sessions (server) == 0);
  test_server_quit_unref (server);
}

static void
test_eof_noticed (void)
{
  CrierServer *server = server_new (NULL);
  CrierConnBudget *budget = crier_server_get_budget (server);
  CrierEngine *engine = crier_server_get_engine (server);
  g_autoptr(Raw) sse = raw_new (server);
  g_autoptr(Raw) poll_client = raw_new (server);
  g_autofree char *head = NULL;

  /* A stream: the engine reads the socket, EOF closes it without any
   * write from the server. */
  raw_send (sse, "GET /sub/quiet HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n");
  head = raw_read_head (sse);
  WAIT_UNTIL (find_session (server, "plain-sse") != NULL);
  close (sse->fd);
  sse->fd = -1;
  WAIT_UNTIL_TIMEOUT (find_session (server, "plain-sse") == NULL, 2000);

  /* A held long poll: the socket is watched, EOF releases the request at
   * once instead of after long_poll_timeout (25 s). */
  raw_send (poll_client, "GET /sub/quiet HTTP/1.1\r\nHost: x\r\n\r\n");
  g_clear_pointer (&head, g_free);
  g_assert_cmpuint (raw_read_response (poll_client, &head, NULL), ==, 304);
  {
    g_autofree char *etag = header_value (head, "ETag");
    g_autofree char *again = poll_request ("/sub/quiet", etag);

    raw_send (poll_client, again);
  }
  WAIT_UNTIL (find_session (server, "plain-poll") != NULL && crier_engine_get_n_conns (engine) == 1);
  g_assert_cmpint (budget->http_open, ==, 0);
  close (poll_client->fd);
  poll_client->fd = -1;
  WAIT_UNTIL_TIMEOUT (crier_engine_get_n_conns (engine) == 0, 2000);
  /* The session stays for long_poll_idle_timeout: the client may poll
   * again with its cursor. */
  g_assert_nonnull (find_session (server, "plain-poll"));

  test_server_quit_unref (server);
}

/* ---- the same on Centrifugo's SSE and HTTP streaming ---------------------- */

/* Iterate the server for @ms. */
static void
spin_ms (int ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;

  while (g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
}

/* A Centrifugo stream (/connection/sse or /connection/http_stream) on a
 * socket with a receive buffer of @rcvbuf bytes (0: the default), its
 * connect reply read; the session id in @session_out. */
static Raw *
open_cf_stream (CrierServer *server,
                gboolean     sse,
                int          rcvbuf,
                char       **session_out)
{
  static const char connect[] = "{\"connect\":{\"name\":\"test\"},\"id\":1}";
  g_autofree char *escaped = g_uri_escape_string (connect, NULL, FALSE);
  g_autofree char *req = sse
    ? g_strdup_printf ("GET /connection/sse?cf_connect=%s HTTP/1.1\r\nHost: x\r\n\r\n", escaped)
    : g_strdup_printf ("POST /connection/http_stream HTTP/1.1\r\nHost: x\r\n"
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                       strlen (connect), connect);
  g_autofree char *head = NULL;
  g_autofree char *reply = NULL;
  g_autoptr(JsonNode) node = NULL;
  Raw *raw = raw_new (server);

  if (rcvbuf > 0)
    setsockopt (raw->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  raw_send (raw, req);
  head = raw_read_head (raw);
  g_assert_true (g_str_has_prefix (head, "HTTP/1.1 200 OK\r\n"));
  if (sse)
    {
      g_autofree char *first = raw_read_chunk (raw);
      g_autofree char *event = raw_read_chunk (raw);

      g_assert_cmpstr (first, ==, "\r\n");
      reply = sse_data (event);
    }
  else
    reply = raw_read_chunk (raw);
  g_assert_true (g_str_has_prefix (reply, "{\"id\":1,\"connect\":{"));
  node = parse_json (reply);
  *session_out = g_strdup (json_object_get_string_member (json_object_get_object_member (json_node_get_object (node),
                                                                                         "connect"),
                                                          "session"));
  g_assert_nonnull (*session_out);
  return raw;
}

/* A Centrifugo stream whose client stops reading is evicted by the same
 * outbound limits as a WebSocket, counted as "slow". */
static void
cf_stream_slow_reader (gboolean sse)
{
  CrierServer *server = server_new ("limits.outbound_soft_limit=16KiB", "limits.outbound_hard_limit=64KiB", NULL);
  const CrierEngineStats *stats = crier_engine_get_stats (crier_server_get_engine (server));
  CrierHub *hub = crier_server_get_hub (server);
  guint64 slow_before = stats->closed[CRIER_CLOSE_SLOW];
  guint64 peer_before = stats->closed[CRIER_CLOSE_PEER];
  g_autofree char *session = NULL;
  g_autoptr(Raw) raw = open_cf_stream (server, sse, 4096, &session);
  g_autofree char *body = emulation_body (session, crier_server_get_node_name (server),
                                          "{\"subscribe\":{\"channel\":\"flood\"},\"id\":2}");
  g_autofree char *reply = NULL;
  g_autofree char *payload = NULL;
  guint sent = 0;

  g_assert_cmpuint (emulate (server, body), ==, 204);
  reply = sse ? raw_read_event (raw) : raw_read_chunk (raw);
  g_assert_nonnull (strstr (reply, "{\"id\":2,\"subscribe\":{"));

  {
    g_autofree char *x = g_strnfill (8000, 'x');

    payload = g_strdup_printf ("\"%s\"", x);
  }
  /* From now on the client reads nothing. */
  while (stats->closed[CRIER_CLOSE_SLOW] == slow_before && sent < 10000)
    {
      publish (server, "flood", payload);
      sent++;
      g_main_context_iteration (NULL, FALSE);
    }
  g_test_message ("%s: evicted after %u publications of 8 KB", sse ? "sse" : "http_stream", sent);
  g_assert_cmpuint (stats->closed[CRIER_CLOSE_SLOW], ==, slow_before + 1);
  g_assert_cmpuint (stats->closed[CRIER_CLOSE_PEER], ==, peer_before);
  g_assert_cmpuint (sent, <, 2000);
  WAIT_UNTIL (crier_hub_lookup_session (hub, session) == NULL);
  g_assert_cmpuint (n_sessions (server), ==, 0);
  test_server_quit_unref (server);
}

static void
test_cf_sse_slow_reader (void)
{
  cf_stream_slow_reader (TRUE);
}

static void
test_cf_http_stream_slow_reader (void)
{
  cf_stream_slow_reader (FALSE);
}

/* A client that closes its socket on an idle stream is noticed at once:
 * the engine watches the socket for end of stream; nothing is written
 * to it (no publication, heartbeats 25 s away). */
static void
cf_stream_eof_noticed (gboolean sse)
{
  CrierServer *server = server_new (NULL);
  const CrierEngineStats *stats = crier_engine_get_stats (crier_server_get_engine (server));
  CrierHub *hub = crier_server_get_hub (server);
  guint64 peer_before = stats->closed[CRIER_CLOSE_PEER];
  g_autofree char *session = NULL;
  g_autoptr(Raw) raw = open_cf_stream (server, sse, 0, &session);
  guint64 bytes_out;
  gint64 closed_at;

  g_assert_nonnull (crier_hub_lookup_session (hub, session));
  spin_ms (100);
  bytes_out = stats->bytes_out;
  close (raw->fd);
  raw->fd = -1;
  closed_at = g_get_monotonic_time ();
  WAIT_UNTIL_TIMEOUT (crier_hub_lookup_session (hub, session) == NULL, 500);
  g_test_message ("%s: session gone %" G_GINT64_FORMAT " ms after the client closed",
                  sse ? "sse" : "http_stream", (g_get_monotonic_time () - closed_at) / 1000);
  g_assert_cmpuint (stats->closed[CRIER_CLOSE_PEER], ==, peer_before + 1);
  g_assert_cmpuint (stats->bytes_out, ==, bytes_out);
  g_assert_cmpuint (crier_engine_get_n_conns (crier_server_get_engine (server)), ==, 0);
  test_server_quit_unref (server);
}

static void
test_cf_sse_eof_noticed (void)
{
  cf_stream_eof_noticed (TRUE);
}

static void
test_cf_http_stream_eof_noticed (void)
{
  cf_stream_eof_noticed (FALSE);
}

/* ---- the plain dialect: SSE ---------------------------------------------------- */

static Raw *
open_plain_sse (CrierServer *server,
                const char  *path,
                const char  *extra)
{
  g_autofree char *req = g_strdup_printf ("GET %s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n%s\r\n",
                                          path, extra != NULL ? extra : "");
  g_autofree char *head = NULL;
  g_autofree char *first = NULL;
  Raw *raw = raw_new (server);

  raw_send (raw, req);
  head = raw_read_head (raw);
  g_assert_nonnull (head);
  if (!g_str_has_prefix (head, "HTTP/1.1 200 OK\r\n"))
    g_error ("%s: %s", path, head);
  g_assert_nonnull (strstr (head, "\r\nContent-Type: text/event-stream; charset=utf-8\r\n"));
  first = raw_read_chunk (raw);
  g_assert_cmpstr (first, ==, "\r\n");
  return raw;
}

static void
test_plain_sse_resume (void)
{
  CrierServer *server = server_new ("channels.history_size=100", NULL);
  g_autoptr(Raw) raw = open_plain_sse (server, "/sub/news", NULL);
  g_autofree char *event = NULL;
  g_autofree char *id = NULL;
  g_autofree char *epoch = NULL;
  g_autofree char *last_id = NULL;
  g_autofree char *extra = NULL;

  /* Right after subscribing: the position, as an id-only event. */
  event = raw_read_event (raw);
  g_assert_true (g_str_has_prefix (event, "id: "));
  g_assert_true (g_str_has_suffix (event, ":0\n\n"));
  g_clear_pointer (&event, g_free);

  for (int i = 1; i <= 3; i++)
    {
      g_autofree char *json = g_strdup_printf ("{\"n\":%d}", i);
      g_autofree char *data = NULL;

      publish (server, "news", json);
      event = raw_read_event (raw);
      id = sse_field (event, "id");
      data = sse_field (event, "data");
      g_assert_cmpstr (data, ==, json);
      g_assert_nonnull (id);
      g_clear_pointer (&last_id, g_free);
      last_id = g_steal_pointer (&id);
      g_clear_pointer (&event, g_free);
    }
  g_assert_true (g_str_has_suffix (last_id, ":3"));
  epoch = g_strndup (last_id, strchr (last_id, ':') - last_id);

  /* Away: two publications are missed. */
  close (raw->fd);
  raw->fd = -1;
  WAIT_UNTIL (n_sessions (server) == 0);
  publish (server, "news", "{\"n\":4}");
  publish (server, "news", "{\"n\":5}");

  /* Back with Last-Event-ID: exactly those two, in order, then the live
   * stream. */
  extra = g_strdup_printf ("Last-Event-ID: %s\r\n", last_id);
  {
    g_autoptr(Raw) back = open_plain_sse (server, "/sub/news", extra);
    g_autofree char *e4 = raw_read_event (back);
    g_autofree char *e5 = raw_read_event (back);
    g_autofree char *pos = raw_read_event (back);
    g_autofree char *expect4 = g_strdup_printf ("id: %s:4\ndata: {\"n\":4}\n\n", epoch);
    g_autofree char *expect5 = g_strdup_printf ("id: %s:5\ndata: {\"n\":5}\n\n", epoch);
    g_autofree char *expect_pos = g_strdup_printf ("id: %s:5\n\n", epoch);
    g_autofree char *e6 = NULL;
    g_autofree char *expect6 = g_strdup_printf ("id: %s:6\ndata: {\"n\":6}\n\n", epoch);

    g_assert_cmpstr (e4, ==, expect4);
    g_assert_cmpstr (e5, ==, expect5);
    g_assert_cmpstr (pos, ==, expect_pos);
    publish (server, "news", "{\"n\":6}");
    e6 = raw_read_event (back);
    g_assert_cmpstr (e6, ==, expect6);
  }

  /* The query parameter works as well (an EventSource's first request). */
  {
    g_autofree char *path = g_strdup_printf ("/sub/news?last_event_id=%s:5", epoch);
    g_autoptr(Raw) q = open_plain_sse (server, path, NULL);
    g_autofree char *e6 = raw_read_event (q);

    g_assert_nonnull (strstr (e6, "data: {\"n\":6}"));
  }

  /* A position from another epoch cannot be resumed: an explicit reset,
   * then the position to continue from. */
  {
    g_autoptr(Raw) r = open_plain_sse (server, "/sub/news", "Last-Event-ID: 0badc0de:2\r\n");
    g_autofree char *reset = raw_read_event (r);
    g_autofree char *pos = raw_read_event (r);
    g_autofree char *expect_reset = g_strdup_printf ("event: reset\ndata: {\"channel\":\"news\",\"epoch\":\"%s\",\"offset\":6}\n\n",
                                                     epoch);
    g_autofree char *expect_pos = g_strdup_printf ("id: %s:6\n\n", epoch);

    g_assert_cmpstr (reset, ==, expect_reset);
    g_assert_cmpstr (pos, ==, expect_pos);
  }

  /* Unreadable ids are refused. */
  g_assert_cmpuint (test_http_request (crier_server_get_port (server), "GET",
                                       "/sub/news?last_event_id=nonsense", NULL, NULL), ==, 400);
  test_server_quit_unref (server);
}

static void
test_plain_sse_multi (void)
{
  CrierServer *server = server_new ("channels.history_size=100", NULL);
  g_autoptr(Raw) raw = open_plain_sse (server, "/sub/a,b", NULL);
  g_autofree char *event = NULL;
  g_autofree char *cursor = NULL;
  g_autoptr(CrierPlainCursor) parsed = NULL;
  const CrierPlainPosition *pa;
  const CrierPlainPosition *pb;

  /* Positions of both channels once subscribed (id events). */
  for (int i = 0; i < 2; i++)
    {
      event = raw_read_event (raw);
      g_assert_true (g_str_has_prefix (event, "id: "));
      g_clear_pointer (&event, g_free);
    }

  publish (server, "a", "\"a1\"");
  publish (server, "b", "\"b1\"");
  publish (server, "a", "\"a2\"");
  for (int i = 0; i < 3; i++)
    {
      g_autofree char *data = NULL;

      event = raw_read_event (raw);
      data = sse_field (event, "data");
      g_assert_nonnull (data);
      g_clear_pointer (&event, g_free);
      /* After each publication: the compound id. */
      event = raw_read_event (raw);
      g_assert_null (sse_field (event, "data"));
      g_clear_pointer (&cursor, g_free);
      cursor = sse_field (event, "id");
      g_clear_pointer (&event, g_free);
    }
  parsed = crier_plain_cursor_parse (cursor);
  g_assert_nonnull (parsed);
  pa = crier_plain_cursor_find (parsed, "a");
  pb = crier_plain_cursor_find (parsed, "b");
  g_assert_cmpuint (pa->offset, ==, 2);
  g_assert_cmpuint (pb->offset, ==, 1);
  g_assert_cmpstr (pa->channel, ==, "a");

  close (raw->fd);
  raw->fd = -1;
  WAIT_UNTIL (n_sessions (server) == 0);
  publish (server, "b", "\"b2\"");
  publish (server, "a", "\"a3\"");

  {
    g_autofree char *extra = g_strdup_printf ("Last-Event-ID: %s\r\n", cursor);
    g_autoptr(Raw) back = open_plain_sse (server, "/sub/a,b", extra);
    g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func (g_free);

    /* a3 and b2, each once; ids in between. */
    for (int i = 0; i < 12 && got->len < 2; i++)
      {
        g_autofree char *e = raw_read_event (back);
        char *data = sse_field (e, "data");

        g_assert_null (strstr (e, "event: reset"));
        if (data != NULL)
          g_ptr_array_add (got, data);
      }
    g_assert_cmpuint (got->len, ==, 2);
    g_assert_true (g_ptr_array_find_with_equal_func (got, "\"a3\"", g_str_equal, NULL));
    g_assert_true (g_ptr_array_find_with_equal_func (got, "\"b2\"", g_str_equal, NULL));
  }

  /* A compound id naming only one channel: the other is reset. */
  {
    g_autofree char *only_a = g_strdup_printf ("Last-Event-ID: a=%s:3\r\n", pa->epoch);
    g_autoptr(Raw) r = open_plain_sse (server, "/sub/a,b", only_a);
    gboolean saw_reset = FALSE;

    for (int i = 0; i < 4 && !saw_reset; i++)
      {
        g_autofree char *e = raw_read_event (r);

        if (strstr (e, "event: reset\ndata: {\"channel\":\"b\"") != NULL)
          saw_reset = TRUE;
        g_assert_null (strstr (e, "data: \"a"));
      }
    g_assert_true (saw_reset);
  }
  test_server_quit_unref (server);
}

static void
test_plain_sse_no_history (void)
{
  CrierServer *server = server_new (NULL);
  g_autoptr(Raw) raw = open_plain_sse (server, "/sub/news", NULL);
  g_autofree char *event = NULL;
  CrierSession *s;

  /* No history: no ids, payloads only. */
  publish (server, "news", "{\"x\":1}");
  event = raw_read_event (raw);
  g_assert_cmpstr (event, ==, "data: {\"x\":1}\n\n");
  g_clear_pointer (&event, g_free);

  /* Pushes and goodbyes are for this client only. */
  s = find_session (server, "plain-sse");
  g_assert_nonnull (s);
  g_assert_true (crier_hub_unsubscribe_push (crier_server_get_hub (server), s, "news", 2000, "server unsubscribe"));
  event = raw_read_event (raw);
  g_assert_cmpstr (event, ==, "event: unsubscribe\ndata: {\"channel\":\"news\",\"code\":2000,\"reason\":\"server unsubscribe\"}\n\n");
  g_clear_pointer (&event, g_free);
  s->klass->disconnect (s, 3001, "shutdown");
  event = raw_read_event (raw);
  g_assert_cmpstr (event, ==, "event: disconnect\ndata: {\"code\":3001,\"reason\":\"shutdown\"}\n\n");
  g_clear_pointer (&event, g_free);
  event = raw_read_chunk (raw);
  g_assert_cmpstr (event, ==, "");
  g_assert_true (raw_wait_eof (raw, 10000));
  test_server_quit_unref (server);
}

static void
test_plain_heartbeat (void)
{
  CrierServer *server = server_new ("websocket.pong_timeout=200ms", "websocket.ping_interval=300ms", NULL);
  g_autoptr(Raw) raw = open_plain_sse (server, "/sub/news", NULL);
  g_autofree char *beat = raw_read_chunk (raw);

  g_assert_cmpstr (beat, ==, ":\n\n");
  test_server_quit_unref (server);
}

/* ---- the plain dialect: long polling --------------------------------------------- */

static void
test_longpoll (void)
{
  CrierServer *server = server_new ("channels.history_size=100", "limits.long_poll_timeout=1s", NULL);
  g_autoptr(Raw) raw = raw_new (server);
  g_autofree char *req = poll_request ("/sub/news", NULL);
  g_autofree char *head = NULL;
  g_autofree char *body = NULL;
  g_autofree char *etag = NULL;
  g_autofree char *etag2 = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonArray *array;
  JsonObject *element;
  gint64 t0;

  /* The request that starts a session is answered at once: 304 with the
   * cursor to poll with. */
  raw_send (raw, req);
  g_assert_cmpuint (raw_read_response (raw, &head, NULL), ==, 304);
  etag = header_value (head, "ETag");
  g_assert_nonnull (etag);
  g_clear_pointer (&head, g_free);

  /* Held: nothing after the cursor yet. */
  g_free (req);
  req = poll_request ("/sub/news", etag);
  raw_send (raw, req);
  g_assert_false (raw_fill (raw, 300));
  publish (server, "news", "{\"n\":1}");
  g_assert_cmpuint (raw_read_response (raw, &head, &body), ==, 200);
  node = parse_json (body);
  array = json_node_get_array (node);
  g_assert_cmpuint (json_array_get_length (array), ==, 1);
  element = json_array_get_object_element (array, 0);
  g_assert_cmpstr (json_object_get_string_member (element, "channel"), ==, "news");
  g_assert_cmpint (json_object_get_int_member (element, "offset"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (element, "data"), "n"), ==, 1);
  g_assert_true (json_object_has_member (element, "epoch"));
  g_clear_pointer (&etag, g_free);
  etag = header_value (head, "ETag");
  g_assert_nonnull (etag);
  g_assert_nonnull (strstr (head, "Content-Type: application/json"));
  g_clear_pointer (&head, g_free);
  g_clear_pointer (&body, g_free);
  g_clear_pointer (&node, json_node_unref);

  /* Nothing new: held until the timeout, then 304 with the same cursor
   * (keep-alive: same connection). */
  g_free (req);
  req = poll_request ("/sub/news", etag);
  t0 = g_get_monotonic_time ();
  raw_send (raw, req);
  g_assert_cmpuint (raw_read_response (raw, &head, NULL), ==, 304);
  g_assert_cmpint (g_get_monotonic_time () - t0, >=, 900 * 1000);
  etag2 = header_value (head, "ETag");
  g_assert_cmpstr (etag2, ==, etag);
  g_clear_pointer (&head, g_free);

  /* Publications while no poll waits are answered at once. */
  publish (server, "news", "{\"n\":2}");
  publish (server, "news", "{\"n\":3}");
  raw_send (raw, req);
  g_assert_cmpuint (raw_read_response (raw, &head, &body), ==, 200);
  node = parse_json (body);
  array = json_node_get_array (node);
  g_assert_cmpuint (json_array_get_length (array), ==, 2);
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (array, 0), "offset"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (array, 1), "offset"), ==, 3);
  g_clear_pointer (&etag, g_free);
  etag = header_value (head, "ETag");
  g_clear_pointer (&head, g_free);
  g_clear_pointer (&body, g_free);
  g_clear_pointer (&node, json_node_unref);

  /* The same poll again (the answer was lost): the same publications. */
  raw_send (raw, req);
  g_assert_cmpuint (raw_read_response (raw, NULL, &body), ==, 200);
  g_assert_nonnull (strstr (body, "{\"n\":2}"));
  g_clear_pointer (&body, g_free);

  /* This keep-alive connection waited on the engine: other requests on it
   * go back to libsoup, bytes already read included (a body too). */
  raw_send (raw, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  g_assert_cmpuint (raw_read_response (raw, NULL, &body), ==, 200);
  g_assert_nonnull (strstr (body, "ok"));
  g_clear_pointer (&body, g_free);
  raw_send (raw, req);
  g_assert_cmpuint (raw_read_response (raw, NULL, &body), ==, 200);
  g_clear_pointer (&body, g_free);
  {
    static const char emulation[] = "{\"session\":\"nope\",\"data\":\"{}\"}";
    g_autofree char *post = g_strdup_printf ("POST /emulation HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
                                             strlen (emulation), emulation);

    raw_send (raw, post);
    g_assert_cmpuint (raw_read_response (raw, NULL, NULL), ==, 404);
  }

  /* A cursor whose session is gone (or from another node) resumes from
   * its positions: the cursor param without the session part. */
  {
    g_autofree char *unquoted = g_strndup (etag + 1, strlen (etag) - 2);
    const char *positions = strchr (unquoted, '/') + 1;
    g_autofree char *epoch = g_strndup (positions, strchr (positions, ':') - positions);
    g_autofree char *path = g_strdup_printf ("/sub/news?cursor=%s:1", epoch);
    g_autoptr(Raw) other = raw_new (server);
    g_autofree char *r = poll_request (path, NULL);

    g_assert_cmpstr (strrchr (positions, ':'), ==, ":3");
    raw_send (other, r);
    g_assert_cmpuint (raw_read_response (other, NULL, &body), ==, 200);
    node = parse_json (body);
    array = json_node_get_array (node);
    g_assert_cmpuint (json_array_get_length (array), ==, 2);
    g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (array, 0), "offset"), ==, 2);
    g_clear_pointer (&body, g_free);
    g_clear_pointer (&node, json_node_unref);

    /* An unrecoverable position: a reset element. */
    g_free (r);
    r = poll_request ("/sub/news?cursor=feedbeef:1", NULL);
    raw_send (other, r);
    g_assert_cmpuint (raw_read_response (other, NULL, &body), ==, 200);
    node = parse_json (body);
    element = json_array_get_object_element (json_node_get_array (node), 0);
    g_assert_true (json_object_get_boolean_member (element, "reset"));
    g_assert_cmpint (json_object_get_int_member (element, "offset"), ==, 3);
    g_clear_pointer (&body, g_free);
    g_clear_pointer (&node, json_node_unref);
  }

  /* Visible as hub sessions; pushes become elements. */
  {
    CrierSession *s;
    g_autofree char *again = NULL;
    g_autofree char *sid = NULL;

    raw_send (raw, req);
    g_assert_cmpuint (raw_read_response (raw, &head, &body), ==, 200);
    g_clear_pointer (&etag, g_free);
    etag = header_value (head, "ETag");
    g_clear_pointer (&head, g_free);
    g_clear_pointer (&body, g_free);
    sid = g_strndup (etag + 1, strchr (etag, '.') - etag - 1);
    s = crier_hub_lookup_session (crier_server_get_hub (server), sid);
    g_assert_nonnull (s);
    g_assert_cmpstr (s->klass->transport, ==, "plain-poll");
    again = poll_request ("/sub/news", etag);
    raw_send (raw, again);
    WAIT_UNTIL (crier_engine_get_n_conns (crier_server_get_engine (server)) == 1);
    crier_hub_unsubscribe_push (crier_server_get_hub (server), s, "news", 2000, "server unsubscribe");
    g_assert_cmpuint (raw_read_response (raw, NULL, &body), ==, 200);
    g_assert_cmpstr (body, ==, "[{\"channel\":\"news\",\"unsubscribe\":{\"code\":2000,\"reason\":\"server unsubscribe\"}}]");
    g_clear_pointer (&body, g_free);
  }
  test_server_quit_unref (server);
}

static void
test_longpoll_idle_expiry (void)
{
  CrierServer *server = server_new ("limits.long_poll_timeout=1s", "limits.long_poll_idle_timeout=1s", NULL);
  const CrierEngineStats *stats = crier_engine_get_stats (crier_server_get_engine (server));
  guint64 timeout_before = stats->closed[CRIER_CLOSE_TIMEOUT];
  g_autoptr(Raw) raw = raw_new (server);
  g_autofree char *req = poll_request ("/sub/news", NULL);

  raw_send (raw, req);
  g_assert_cmpuint (raw_read_response (raw, NULL, NULL), ==, 304);
  g_assert_nonnull (find_session (server, "plain-poll"));
  /* No poll for long_poll_idle_timeout: the session is gone, counted as a
   * timeout (it held no connection: the 304 answered its only request). */
  g_test_expect_message ("crierd", G_LOG_LEVEL_DEBUG, "long poll *: no request for 1000 ms: expired");
  WAIT_UNTIL_TIMEOUT (find_session (server, "plain-poll") == NULL, 3000);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (stats->closed[CRIER_CLOSE_TIMEOUT], ==, timeout_before + 1);
  test_server_quit_unref (server);
}

static void
test_longpoll_keepalive_idle (void)
{
  CrierServer *server = server_new ("limits.long_poll_timeout=1s", "limits.http_idle_timeout=1s", NULL);
  g_autoptr(Raw) raw = raw_new (server);
  g_autofree char *req = poll_request ("/sub/news", NULL);
  g_autofree char *head = NULL;
  g_autofree char *etag = NULL;
  g_autofree char *again = NULL;

  raw_send (raw, req);
  g_assert_cmpuint (raw_read_response (raw, &head, NULL), ==, 304);
  etag = header_value (head, "ETag");
  again = poll_request ("/sub/news", etag);
  raw_send (raw, again);
  g_assert_cmpuint (raw_read_response (raw, NULL, NULL), ==, 304);
  /* Now an idle keep-alive connection on the engine: it obeys
   * [limits] http_idle_timeout like one in libsoup's hands. */
  g_assert_true (raw_wait_eof (raw, 4000));
  WAIT_UNTIL (crier_engine_get_n_conns (crier_server_get_engine (server)) == 0);
  test_server_quit_unref (server);
}

static void
test_longpoll_bounded (void)
{
  CrierServer *server = server_new ("limits.outbound_soft_limit=4KiB", "limits.outbound_hard_limit=16KiB", NULL);
  const CrierEngineStats *stats = crier_engine_get_stats (crier_server_get_engine (server));
  guint64 slow_before = stats->closed[CRIER_CLOSE_SLOW];
  g_autoptr(Raw) raw = raw_new (server);
  g_autofree char *req = poll_request ("/sub/news", NULL);
  g_autofree char *y = g_strnfill (1000, 'y');
  g_autofree char *payload = g_strdup_printf ("\"%s\"", y);
  g_autofree char *head = NULL;
  g_autofree char *etag = NULL;
  g_autofree char *id = NULL;
  int sent = 0;

  raw_send (raw, req);
  g_assert_cmpuint (raw_read_response (raw, &head, NULL), ==, 304);
  etag = header_value (head, "ETag");
  g_assert_nonnull (find_session (server, "plain-poll"));
  id = g_strdup (find_session (server, "plain-poll")->id);
  /* The client does not come back: its buffer is bounded.  Over the hard
   * limit (16 KiB of waiting elements) the session is evicted as slow,
   * 3008, like a WebSocket or a stream, and counted as an eviction
   * although it holds no engine connection between requests. */
  g_test_expect_message ("crierd", G_LOG_LEVEL_DEBUG, "long poll *: * bytes waiting, over the hard limit: evicted");
  g_test_expect_message ("crierd", G_LOG_LEVEL_DEBUG, "plain *: disconnect 3008 slow");
  /* Publish until the session goes (the dialect removes it on its next
   * tick, so one more may go out meanwhile). */
  while (crier_hub_lookup_session (crier_server_get_hub (server), id) != NULL && sent < 40)
    {
      publish (server, "news", payload);
      sent++;
      spin_ms (150);
    }
  g_test_assert_expected_messages ();
  g_test_message ("long poll evicted after %d publications of 1 KB", sent);
  g_assert_cmpint (sent, >=, 14);
  g_assert_cmpint (sent, <=, 18);
  g_assert_null (find_session (server, "plain-poll"));
  g_assert_cmpuint (stats->closed[CRIER_CLOSE_SLOW], ==, slow_before + 1);
  test_server_quit_unref (server);
}

/* ---- long polls on the admin socket ------------------------------------------ */

/* One admin protocol call over a fresh WebSocket on the server's admin
 * Unix socket; the result (a new reference), asserting there is one. */
static JsonObject *
admin_call (CrierServer *server,
            const char  *type,
            const char  *params)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_autofree char *call = g_strdup_printf ("{\"id\":9,\"type\":\"%s\",\"params\":%s}", type, params);
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  JsonObject *result = NULL;
  guint8 opcode;

  g_assert_cmpint (fd, >=, 0);
  g_strlcpy (addr.sun_path, crier_server_get_config (server)->admin_socket, sizeof addr.sun_path);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_true (test_ws_handshake (fd, CRIER_ADMIN_PATH, NULL));
  test_ws_send (fd, CRIER_WS_OP_TEXT, TRUE, call, strlen (call));
  for (guint i = 0; i < 20 && result == NULL; i++)
    {
      g_autofree char *text = NULL;
      g_autoptr(JsonNode) node = NULL;
      JsonObject *o;

      g_assert_true (test_ws_read_frame (fd, &opcode, payload, 5000));
      if (opcode != CRIER_WS_OP_TEXT)
        continue;
      text = g_strndup ((const char *) payload->data, payload->len);
      node = parse_json (text);
      o = json_node_get_object (node);
      /* Events (the hello) come first; the reply carries our id. */
      if (!json_object_has_member (o, "id") || json_object_get_null_member (o, "id"))
        continue;
      g_assert_cmpint (json_object_get_int_member (o, "id"), ==, 9);
      if (!json_object_has_member (o, "result"))
        g_error ("%s %s: %s", type, params, text);
      result = json_object_ref (json_object_get_object_member (o, "result"));
    }
  close (fd);
  g_assert_nonnull (result);
  return result;
}

/* A long-poll session is a session like any other: listed (between polls
 * and while a poll is held), filtered by its transport, inspected. */
static void
test_longpoll_admin (void)
{
  CrierServer *server = server_new ("limits.long_poll_timeout=5s", NULL);
  g_autoptr(Raw) raw = raw_new (server);
  const char *req = "GET /sub/news HTTP/1.1\r\nHost: x\r\nUser-Agent: poller/1.0\r\n\r\n";
  g_autofree char *head = NULL;
  g_autofree char *body = NULL;
  g_autofree char *etag = NULL;
  g_autofree char *again = NULL;
  g_autofree char *id = NULL;

  raw_send (raw, req);
  g_assert_cmpuint (raw_read_response (raw, &head, NULL), ==, 304);
  etag = header_value (head, "ETag");
  g_assert_nonnull (find_session (server, "plain-poll"));
  id = g_strdup (find_session (server, "plain-poll")->id);

  /* Between polls: no request, no engine connection, still a session. */
  {
    g_autoptr(JsonObject) page = admin_call (server, "list_sessions", "{\"transport\":\"plain-poll\"}");
    JsonArray *sessions = json_object_get_array_member (page, "sessions");
    JsonObject *one;

    g_assert_cmpint (json_object_get_int_member (page, "total"), ==, 1);
    one = json_array_get_object_element (sessions, 0);
    g_assert_cmpstr (json_object_get_string_member (one, "id"), ==, id);
    g_assert_cmpstr (json_object_get_string_member (one, "transport"), ==, "plain-poll");
    g_assert_cmpstr (json_object_get_string_member (one, "user_agent"), ==, "poller/1.0");
    g_assert_true (g_str_has_prefix (json_object_get_string_member (one, "remote"), "127.0.0.1"));
    g_assert_cmpint (json_object_get_int_member (one, "subscriptions"), ==, 1);
  }
  /* Another transport's filter does not list it. */
  {
    g_autoptr(JsonObject) page = admin_call (server, "list_sessions", "{\"transport\":\"plain-sse\"}");

    g_assert_cmpint (json_object_get_int_member (page, "total"), ==, 0);
  }

  /* A held poll: the same session; a publication answers it. */
  again = poll_request ("/sub/news", etag);
  raw_send (raw, again);
  g_assert_false (raw_fill (raw, 200));
  {
    g_autoptr(JsonObject) page = admin_call (server, "list_sessions", "{\"transport\":\"poll\"}");
    JsonObject *one = json_array_get_object_element (json_object_get_array_member (page, "sessions"), 0);

    g_assert_cmpint (json_object_get_int_member (page, "total"), ==, 1);
    g_assert_cmpstr (json_object_get_string_member (one, "id"), ==, id);
  }
  publish (server, "news", "{\"n\":1}");
  g_clear_pointer (&head, g_free);
  g_assert_cmpuint (raw_read_response (raw, &head, &body), ==, 200);

  /* Inspected: its subscription and what it was sent. */
  {
    g_autofree char *params = g_strdup_printf ("{\"session\":\"%s\"}", id);
    g_autoptr(JsonObject) s = admin_call (server, "inspect_session", params);
    JsonArray *channels = json_object_get_array_member (s, "channels");

    g_assert_cmpstr (json_object_get_string_member (s, "transport"), ==, "plain-poll");
    g_assert_cmpint (json_object_get_int_member (s, "pubs_out"), ==, 1);
    g_assert_cmpuint (json_array_get_length (channels), ==, 1);
    g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (channels, 0), "channel"),
                     ==, "news");
  }
  test_server_quit_unref (server);
}

/* ---- the plain dialect: WebSocket ---------------------------------------------- */

static char *
ws_read_text (int fd)
{
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  guint8 opcode = 0;

  g_assert_true (test_ws_read_frame (fd, &opcode, payload, 10000));
  g_assert_cmpuint (opcode, ==, CRIER_WS_OP_TEXT);
  return g_strndup ((const char *) payload->data, payload->len);
}

static void
test_plain_ws (void)
{
  CrierServer *server = server_new ("channels.history_size=10", NULL);
  int fd = test_tcp_connect (crier_server_get_port (server));
  int meta = test_tcp_connect (crier_server_get_port (server));
  g_autofree char *text = NULL;
  CrierSession *s;

  g_assert_true (test_ws_handshake (fd, "/sub/news", NULL));
  WAIT_UNTIL (find_session (server, "plain-ws") != NULL);
  publish (server, "news", "{\"hello\":\"world\"}");
  text = ws_read_text (fd);
  g_assert_cmpstr (text, ==, "{\"hello\":\"world\"}");
  g_clear_pointer (&text, g_free);

  /* meta=1: Centrifugo unidirectional pushes, with the position. */
  g_assert_true (test_ws_handshake (meta, "/sub/news?meta=1", NULL));
  text = ws_read_text (meta);
  g_assert_true (g_str_has_prefix (text, "{\"channel\":\"news\",\"subscribe\":{\"positioned\":true,"));
  g_assert_nonnull (strstr (text, "\"offset\":1,"));
  g_clear_pointer (&text, g_free);
  publish (server, "news", "2");
  text = ws_read_text (meta);
  g_assert_cmpstr (text, ==, "{\"channel\":\"news\",\"pub\":{\"data\":2,\"offset\":2}}");
  g_clear_pointer (&text, g_free);
  text = ws_read_text (fd);
  g_assert_cmpstr (text, ==, "2");
  g_clear_pointer (&text, g_free);

  /* A server disconnect is a close frame with the code. */
  close (meta);
  WAIT_UNTIL (n_sessions (server) == 1);
  s = find_session (server, "plain-ws");
  s->klass->disconnect (s, 4000, "bye");
  {
    g_autoptr(GByteArray) payload = g_byte_array_new ();
    guint8 opcode = 0;

    while (test_ws_read_frame (fd, &opcode, payload, 10000) && opcode != CRIER_WS_OP_CLOSE)
      ;
    g_assert_cmpuint (opcode, ==, CRIER_WS_OP_CLOSE);
    g_assert_cmpuint ((payload->data[0] << 8) | payload->data[1], ==, 4000);
  }
  close (fd);
  WAIT_UNTIL (n_sessions (server) == 0);
  test_server_quit_unref (server);
}

/* ---- authentication and the rest --------------------------------------------------- */

static void
test_plain_auth (void)
{
  CrierServer *server = test_server_new ((const char * const[]) {
    "auth.hmac_secret=test-secret",
    "namespace.private.require_sub_token=true",
    NULL,
  });
  guint16 port = crier_server_get_port (server);
  g_autofree char *token = make_token ("{\"sub\":\"7\"}");
  g_autofree char *granted = make_token ("{\"sub\":\"7\",\"channels\":[\"private:x\"]}");
  g_autofree char *expired = make_token ("{\"sub\":\"7\",\"exp\":1000}");
  g_autofree char *path = NULL;
  g_autofree char *header = NULL;
  g_autofree char *body = NULL;
  CrierSession *s;

  g_assert_cmpuint (test_http_request (port, "GET", "/sub/news?cursor=x", NULL, NULL), ==, 400);
  g_assert_cmpuint (test_http_request (port, "GET", "/sub/news", NULL, &body), ==, 401);
  g_assert_nonnull (strstr (body, "token"));
  g_clear_pointer (&body, g_free);
  path = g_strdup_printf ("/sub/news?token=%s", expired);
  g_assert_cmpuint (test_http_request (port, "GET", path, NULL, &body), ==, 401);
  g_assert_nonnull (strstr (body, "expired"));
  g_clear_pointer (&path, g_free);
  path = g_strdup_printf ("/sub/private:x?token=%s", token);
  g_assert_cmpuint (test_http_request (port, "GET", path, NULL, NULL), ==, 403);
  g_clear_pointer (&path, g_free);
  g_assert_cmpuint (test_http_request (port, "GET", "/sub/nowhere:x", NULL, NULL), ==, 404);
  path = g_strdup_printf ("/sub/nowhere:x?token=%s", token);
  g_assert_cmpuint (test_http_request (port, "GET", path, NULL, NULL), ==, 404);
  g_clear_pointer (&path, g_free);

  /* Bearer header and a channel granted by the token. */
  header = g_strdup_printf ("Authorization: Bearer %s\r\n", granted);
  {
    g_autoptr(Raw) raw = open_plain_sse (server, "/sub/private:x,news", header);

    WAIT_UNTIL ((s = find_session (server, "plain-sse")) != NULL && g_hash_table_size (s->subscriptions) == 2);
    g_assert_cmpstr (s->user, ==, "7");
    publish (server, "private:x", "\"secret\"");
    {
      g_autofree char *event = raw_read_event (raw);

      g_assert_cmpstr (event, ==, "data: \"secret\"\n\n");
    }
  }
  test_server_quit_unref (server);
}

static void
test_disabled_transports (void)
{
  CrierServer *server = server_new ("server.debug_disable_transports=websocket,sse,http_stream", NULL);
  guint16 port = crier_server_get_port (server);
  int fd = test_tcp_connect (port);
  g_autoptr(Raw) sse = raw_new (server);

  g_assert_false (test_ws_handshake (fd, "/sub/news", NULL));
  close (fd);
  /* Centrifugo's WebSocket too: the SDK's transport list falls back. */
  {
    g_autoptr(Raw) cf = raw_new (server);
    g_autofree char *head = NULL;

    raw_send (cf, "GET /connection/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n");
    g_assert_cmpuint (raw_read_response (cf, &head, NULL), ==, 503);
  }
  raw_send (sse, "GET /sub/news HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n");
  g_assert_cmpuint (raw_read_response (sse, NULL, NULL), ==, 503);
  g_assert_cmpuint (test_http_request (port, "POST", "/connection/http_stream", "{}", NULL), ==, 503);
  test_server_quit_unref (server);
}

static void
test_crier_js (void)
{
  CrierServer *server = server_new (NULL);
  g_autoptr(Raw) raw = raw_new (server);
  g_autofree char *head = NULL;
  g_autofree char *body = NULL;
  g_autofree char *type = NULL;

  raw_send (raw, "GET /crier.js HTTP/1.1\r\nHost: x\r\n\r\n");
  g_assert_cmpuint (raw_read_response (raw, &head, &body), ==, 200);
  type = header_value (head, "Content-Type");
  g_assert_cmpstr (type, ==, "application/javascript; charset=utf-8");
  g_assert_nonnull (strstr (body, "function Crier(baseUrl, options)"));
  test_server_quit_unref (server);
}

static void
test_drain (void)
{
  CrierServer *server = server_new (NULL);
  g_autoptr(Raw) raw = open_plain_sse (server, "/sub/news", NULL);
  g_autoptr(Raw) poller = raw_new (server);
  g_autofree char *event = NULL;
  g_autofree char *body = NULL;
  g_autofree char *head = NULL;
  g_autofree char *etag = NULL;
  g_autofree char *req = NULL;

  raw_send (poller, "GET /sub/news HTTP/1.1\r\nHost: x\r\n\r\n");
  g_assert_cmpuint (raw_read_response (poller, &head, NULL), ==, 304);
  etag = header_value (head, "ETag");
  req = poll_request ("/sub/news", etag);
  raw_send (poller, req);
  WAIT_UNTIL (crier_engine_get_n_conns (crier_server_get_engine (server)) == 2 &&
              find_session (server, "plain-sse") != NULL);
  crier_server_drain (server);
  event = raw_read_event (raw);
  g_assert_cmpstr (event, ==, "event: disconnect\ndata: {\"code\":3001,\"reason\":\"shutdown\"}\n\n");
  g_assert_cmpuint (raw_read_response (poller, NULL, &body), ==, 200);
  g_assert_cmpstr (body, ==, "[{\"disconnect\":{\"code\":3001,\"reason\":\"shutdown\"}}]");
  WAIT_UNTIL (n_sessions (server) == 0);
  test_server_quit_unref (server);
}

static void
test_cursor_parse (void)
{
  static const char * const bad[] = {
    "", "x", ":", "abc:", "abc:x", "a=", "=e:1", "e:1,f:2", "a=e:1,", "a=e:1,,b=f:2", "a=e f:1",
  };
  g_autoptr(CrierPlainCursor) single = crier_plain_cursor_parse ("0a1b2c3d:42");
  g_autoptr(CrierPlainCursor) multi = crier_plain_cursor_parse ("news=0a1b:7,chat:room=ffff:0,x=:0");
  g_autoptr(CrierPlainCursor) poll = crier_plain_cursor_parse ("0123abcd.17/news=0a1b:7");
  g_autoptr(CrierPlainCursor) poll_only = crier_plain_cursor_parse ("0123abcd.17/");
  const CrierPlainPosition *pos;

  g_assert_nonnull (single);
  pos = crier_plain_cursor_find (single, "anything");
  g_assert_null (pos->channel);
  g_assert_cmpstr (pos->epoch, ==, "0a1b2c3d");
  g_assert_cmpuint (pos->offset, ==, 42);

  g_assert_cmpuint (multi->positions->len, ==, 3);
  pos = crier_plain_cursor_find (multi, "chat:room");
  g_assert_cmpstr (pos->epoch, ==, "ffff");
  g_assert_cmpuint (pos->offset, ==, 0);
  pos = crier_plain_cursor_find (multi, "x");
  g_assert_cmpstr (pos->epoch, ==, "");
  g_assert_null (crier_plain_cursor_find (multi, "other"));

  g_assert_cmpstr (poll->session, ==, "0123abcd");
  g_assert_cmpuint (poll->seq, ==, 17);
  g_assert_cmpuint (crier_plain_cursor_find (poll, "news")->offset, ==, 7);
  g_assert_cmpstr (poll_only->session, ==, "0123abcd");
  g_assert_cmpuint (poll_only->positions->len, ==, 0);

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      CrierPlainCursor *c = crier_plain_cursor_parse (bad[i]);

      if (i == 0)
        {
          /* The empty cursor is valid: no positions. */
          g_assert_nonnull (c);
          g_assert_cmpuint (c->positions->len, ==, 0);
        }
      else if (c != NULL)
        g_error ("'%s' parsed", bad[i]);
      crier_plain_cursor_free (c);
    }
}

int
main (int    argc,
      char **argv)
{
  test_init (&argc, &argv);

  g_test_add_func ("/stream/cursor-parse", test_cursor_parse);
  g_test_add_func ("/stream/centrifuge/sse", test_cf_sse);
  g_test_add_func ("/stream/centrifuge/sse-bad", test_cf_sse_bad);
  g_test_add_func ("/stream/centrifuge/http-stream", test_cf_http_stream);
  g_test_add_func ("/stream/centrifuge/uni", test_cf_uni);
  g_test_add_func ("/stream/emulation/errors", test_emulation_errors);
  g_test_add_func ("/stream/cors", test_cors);
  g_test_add_func ("/stream/slow-reader", test_slow_reader);
  g_test_add_func ("/stream/eof-noticed", test_eof_noticed);
  g_test_add_func ("/stream/centrifuge/sse/slow-reader", test_cf_sse_slow_reader);
  g_test_add_func ("/stream/centrifuge/http-stream/slow-reader", test_cf_http_stream_slow_reader);
  g_test_add_func ("/stream/centrifuge/sse/eof-noticed", test_cf_sse_eof_noticed);
  g_test_add_func ("/stream/centrifuge/http-stream/eof-noticed", test_cf_http_stream_eof_noticed);
  g_test_add_func ("/stream/drain", test_drain);
  g_test_add_func ("/stream/disabled-transports", test_disabled_transports);
  g_test_add_func ("/plain/sse/resume", test_plain_sse_resume);
  g_test_add_func ("/plain/sse/multi", test_plain_sse_multi);
  g_test_add_func ("/plain/sse/no-history", test_plain_sse_no_history);
  g_test_add_func ("/plain/sse/heartbeat", test_plain_heartbeat);
  g_test_add_func ("/plain/longpoll", test_longpoll);
  g_test_add_func ("/plain/longpoll/idle-expiry", test_longpoll_idle_expiry);
  g_test_add_func ("/plain/longpoll/bounded", test_longpoll_bounded);
  g_test_add_func ("/plain/longpoll/admin", test_longpoll_admin);
  g_test_add_func ("/plain/longpoll/keepalive-idle", test_longpoll_keepalive_idle);
  g_test_add_func ("/plain/ws", test_plain_ws);
  g_test_add_func ("/plain/auth", test_plain_auth);
  g_test_add_func ("/plain/crier-js", test_crier_js);

  return g_test_run ();
}
