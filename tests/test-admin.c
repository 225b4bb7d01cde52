/* test-admin.c: the admin protocol, end to end and piece by piece.
 *
 * The codec (every request, strict validation, payload round trips), the
 * latency histogram, the Unix socket (0600, 0700 directory, stale and live
 * sockets, the peer uid check, a peer of another uid refused with 403),
 * the TCP listener's bearer token, connection cap and request deadline,
 * every command against an in-process server with real Centrifugo
 * WebSocket clients (kick seen as a close code, unsubscribe and broadcast
 * seen as pushes, inspect's last activity and ping RTT), the stats stream
 * following real traffic within 2 s with a real latency p99, paging over
 * 10,000 sessions, a slow admin watcher evicted by the engine's limits,
 * alerts from a rule raised and resolved live, and Prometheus /metrics
 * parsed line by line.
 */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crier-admin.h"
#include "crier-admin-protocol.h"
#include "crier-anomaly.h"
#include "crier-metrics.h"
#include "crier-histogram.h"
#include "crier-hub.h"
#include "crier-session.h"
#include "crier-ws-codec.h"
#include "test-utils.h"

/* ---- fixture ------------------------------------------------------------- */

typedef struct
{
  char        *dir;
  char        *socket_path;
  CrierServer *server;
} Fixture;

/* A server whose admin socket lives in a fresh directory; @extra are more
 * "section.key=value" overrides. */
static void
fixture_start (Fixture            *f,
               const char * const *extra)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) overrides = g_ptr_array_new_with_free_func (g_free);

  f->dir = g_dir_make_tmp ("crier-admin-XXXXXX", &error);
  g_assert_no_error (error);
  f->socket_path = g_build_filename (f->dir, "admin.sock", NULL);
  g_ptr_array_add (overrides, g_strdup_printf ("admin.socket=%s", f->socket_path));
  g_ptr_array_add (overrides, g_strdup ("auth.allow_anonymous=true"));
  g_ptr_array_add (overrides, g_strdup ("channels.history_size=10"));
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    g_ptr_array_add (overrides, g_strdup (extra[i]));
  g_ptr_array_add (overrides, NULL);
  f->server = test_server_new ((const char * const *) overrides->pdata);
}

static void
fixture_stop (Fixture *f)
{
  test_server_quit_unref (f->server);
  /* The server removes its socket on the way out. */
  g_assert_false (g_file_test (f->socket_path, G_FILE_TEST_EXISTS));
  g_rmdir (f->dir);
  g_free (f->socket_path);
  g_free (f->dir);
}

static CrierAdmin *
fixture_admin (Fixture *f)
{
  return crier_server_get_admin (f->server);
}

/* ---- raw sockets ---------------------------------------------------------- */

static int
unix_connect (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct timeval tv = { .tv_sec = 10 };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

/* Whole HTTP exchange on @fd (the request should say Connection: close),
 * iterating the main context while waiting; returns the status. */
static guint
http_exchange (int          fd,
               const char  *request,
               char       **headers,
               char       **body)
{
  GString *resp = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  guint status = 0;
  const char *sep;

  g_assert_cmpint (send (fd, request, strlen (request), MSG_NOSIGNAL), ==, (gssize) strlen (request));
  while (g_get_monotonic_time () < deadline)
    {
      struct pollfd p = { .fd = fd, .events = POLLIN };
      char buf[8192];
      ssize_t n;

      if (poll (&p, 1, 1) <= 0)
        {
          while (g_main_context_iteration (NULL, FALSE))
            ;
          continue;
        }
      n = recv (fd, buf, sizeof buf, 0);
      if (n <= 0)
        break;
      g_string_append_len (resp, buf, n);
    }
  close (fd);
  if (sscanf (resp->str, "HTTP/1.%*d %u", &status) != 1)
    status = 0;
  sep = strstr (resp->str, "\r\n\r\n");
  if (headers != NULL)
    *headers = sep != NULL ? g_strndup (resp->str, sep - resp->str + 2) : g_strdup (resp->str);
  if (body != NULL)
    *body = g_strdup (sep != NULL ? sep + 4 : "");
  g_string_free (resp, TRUE);
  return status;
}

/* Runs the main context for @ms milliseconds (the 1 Hz tick). */
static void
iterate_for (int ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;

  while (g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
}

static JsonNode *
parse_json (const char *text,
            gsize       len)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  if (!json_parser_load_from_data (parser, text, (gssize) len, &error))
    g_error ("not JSON (%s): %.*s", error->message, (int) len, text);
  return json_node_copy (json_parser_get_root (parser));
}

/* ---- an admin client over raw frames -------------------------------------- */

typedef struct
{
  int     fd;
  GQueue  events;      /* JsonNode*: events read while waiting for replies */
  gint64  next_id;
  guint   close_code;  /* 0 while open */
} Admin;

static void
admin_init_fd (Admin *a,
               int    fd)
{
  memset (a, 0, sizeof *a);
  a->fd = fd;
  a->next_id = 1;
  g_queue_init (&a->events);
}

static void
admin_open (Admin      *a,
            const char *socket_path)
{
  admin_init_fd (a, unix_connect (socket_path));
  g_assert_true (test_ws_handshake (a->fd, CRIER_ADMIN_PATH, NULL));
}

static void
admin_close (Admin *a)
{
  if (a->fd >= 0)
    close (a->fd);
  a->fd = -1;
  g_queue_clear_full (&a->events, (GDestroyNotify) json_node_unref);
}

static void
admin_send_raw (Admin      *a,
                const char *text)
{
  test_ws_send (a->fd, CRIER_WS_OP_TEXT, TRUE, text, strlen (text));
}

/* The next message (pings skipped); NULL when closed or on timeout. */
static JsonNode *
admin_read (Admin *a,
            int    timeout_ms)
{
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  guint8 opcode = 0;

  for (;;)
    {
      if (a->close_code != 0 || !test_ws_read_frame (a->fd, &opcode, payload, timeout_ms))
        return NULL;
      if (opcode == CRIER_WS_OP_CLOSE)
        {
          a->close_code = payload->len >= 2 ? (payload->data[0] << 8) | payload->data[1] : 1005;
          return NULL;
        }
      if (opcode == CRIER_WS_OP_TEXT)
        return parse_json ((const char *) payload->data, payload->len);
    }
}

/* Reads until the reply with @id; events go to a->events. */
static JsonObject *
admin_wait_reply (Admin  *a,
                  gint64  id)
{
  for (;;)
    {
      JsonNode *node = admin_read (a, 10000);
      JsonObject *o;

      if (node == NULL)
        g_error ("admin connection closed (%u) while waiting for reply %" G_GINT64_FORMAT,
                 a->close_code, id);
      o = json_node_get_object (node);
      if (json_object_has_member (o, "event"))
        {
          g_queue_push_tail (&a->events, node);
          continue;
        }
      if ((id < 0 && json_object_get_null_member (o, "id")) ||
          (id >= 0 && !json_object_get_null_member (o, "id") && json_object_get_int_member (o, "id") == id))
        {
          JsonObject *result = json_object_ref (o);

          json_node_unref (node);
          return result;
        }
      json_node_unref (node);
    }
}

/* Sends {"id":N,"type":@type,"params":@params} and returns the whole reply
 * message ({"id":N,"result":...} or {"id":N,"error":...}). */
static JsonObject *
admin_call_full (Admin      *a,
                 const char *type,
                 const char *params)
{
  gint64 id = a->next_id++;
  g_autofree char *text = NULL;

  if (params != NULL)
    text = g_strdup_printf ("{\"id\":%" G_GINT64_FORMAT ",\"type\":\"%s\",\"params\":%s}", id, type, params);
  else
    text = g_strdup_printf ("{\"id\":%" G_GINT64_FORMAT ",\"type\":\"%s\"}", id, type);
  admin_send_raw (a, text);
  return admin_wait_reply (a, id);
}

/* The result of a successful call (a new reference). */
static JsonObject *
admin_call (Admin      *a,
            const char *type,
            const char *params)
{
  g_autoptr(JsonObject) reply = admin_call_full (a, type, params);

  if (!json_object_has_member (reply, "result"))
    {
      g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), reply);
      g_autofree char *text = json_to_string (node, FALSE);

      g_error ("%s %s failed: %s", type, params != NULL ? params : "", text);
    }
  return json_object_ref (json_object_get_object_member (reply, "result"));
}

/* Asserts the reply to @text is an error with @code; returns the message. */
static char *
admin_expect_error (Admin      *a,
                    const char *text,
                    gint64      id,
                    const char *code)
{
  g_autoptr(JsonObject) reply = NULL;
  JsonObject *error;

  admin_send_raw (a, text);
  reply = admin_wait_reply (a, id);
  g_assert_true (json_object_has_member (reply, "error"));
  error = json_object_get_object_member (reply, "error");
  g_assert_cmpstr (json_object_get_string_member (error, "code"), ==, code);
  return g_strdup (json_object_get_string_member (error, "message"));
}

/* The next event named @name within @timeout_ms (queued ones first). */
static JsonObject *
admin_wait_event (Admin      *a,
                  const char *name,
                  int         timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  for (GList *l = a->events.head; l != NULL; l = l->next)
    {
      JsonObject *o = json_node_get_object (l->data);

      if (g_strcmp0 (json_object_get_string_member (o, "event"), name) == 0)
        {
          JsonObject *found = json_object_ref (o);

          json_node_unref (l->data);
          g_queue_delete_link (&a->events, l);
          return found;
        }
    }
  while (g_get_monotonic_time () < deadline)
    {
      int left = (int) ((deadline - g_get_monotonic_time ()) / 1000);
      g_autoptr(JsonNode) node = admin_read (a, MAX (left, 1));
      JsonObject *o;

      if (node == NULL)
        return NULL;
      o = json_node_get_object (node);
      if (g_strcmp0 (json_object_get_string_member_with_default (o, "event", ""), name) == 0)
        return json_object_ref (o);
    }
  return NULL;
}

/* ---- a Centrifugo client over raw frames ---------------------------------- */

typedef struct
{
  int     fd;
  GQueue  lines;
  char   *client;
  guint   close_code;
  guint   next_id;
} Client;

static char *
client_next (Client *c)
{
  g_autoptr(GByteArray) payload = g_byte_array_new ();

  while (g_queue_is_empty (&c->lines))
    {
      guint8 opcode;

      if (c->close_code != 0 || !test_ws_read_frame (c->fd, &opcode, payload, 10000))
        return NULL;
      if (opcode == CRIER_WS_OP_CLOSE)
        {
          c->close_code = payload->len >= 2 ? (payload->data[0] << 8) | payload->data[1] : 1005;
          return NULL;
        }
      if (opcode == CRIER_WS_OP_TEXT)
        {
          g_autofree char *text = g_strndup ((const char *) payload->data, payload->len);
          g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

          for (guint i = 0; lines[i] != NULL; i++)
            if (lines[i][0] != '\0' && strcmp (lines[i], "{}") != 0)
              g_queue_push_tail (&c->lines, g_strdup (lines[i]));
        }
    }
  return g_queue_pop_head (&c->lines);
}

static char *
client_wait_for (Client     *c,
                 const char *fragment)
{
  for (;;)
    {
      char *line = client_next (c);

      if (line == NULL)
        g_error ("client closed (%u) while waiting for %s", c->close_code, fragment);
      if (strstr (line, fragment) != NULL)
        return line;
      g_free (line);
    }
}

static void
client_command (Client     *c,
                const char *method,
                const char *params)
{
  guint id = ++c->next_id;
  g_autofree char *text = g_strdup_printf ("{\"id\":%u,\"%s\":%s}", id, method, params);
  g_autofree char *fragment = g_strdup_printf ("\"id\":%u,", id);
  g_autofree char *reply = NULL;

  test_ws_send (c->fd, CRIER_WS_OP_TEXT, TRUE, text, strlen (text));
  reply = client_wait_for (c, fragment);
  if (strstr (reply, "\"error\"") != NULL)
    g_error ("%s failed: %s", text, reply);
  if (g_str_equal (method, "connect"))
    {
      g_autoptr(JsonNode) node = parse_json (reply, strlen (reply));
      JsonObject *connect = json_object_get_object_member (json_node_get_object (node), "connect");

      c->client = g_strdup (json_object_get_string_member (connect, "client"));
    }
}

/* Connected anonymously and subscribed to @channel (unless NULL). */
static Client *
client_new (CrierServer *server,
            const char  *channel)
{
  Client *c = g_new0 (Client, 1);

  g_queue_init (&c->lines);
  c->fd = test_tcp_connect (crier_server_get_port (server));
  g_assert_true (test_ws_handshake (c->fd, "/connection/websocket", NULL));
  client_command (c, "connect", "{}");
  g_assert_nonnull (c->client);
  if (channel != NULL)
    {
      g_autofree char *params = g_strdup_printf ("{\"channel\":\"%s\"}", channel);

      client_command (c, "subscribe", params);
    }
  return c;
}

static void
client_free (Client *c)
{
  close (c->fd);
  g_queue_clear_full (&c->lines, g_free);
  g_free (c->client);
  g_free (c);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Client, client_free)

/* ---- codec ---------------------------------------------------------------- */

static CrierAdminRequest *
decode_ok (const char *text)
{
  g_autoptr(GError) error = NULL;
  gint64 id = -2;
  CrierAdminRequest *req = crier_admin_request_decode (text, strlen (text), &id, &error);

  g_assert_no_error (error);
  g_assert_nonnull (req);
  g_assert_cmpint (id, ==, req->id);
  return req;
}

static void
decode_bad (const char     *text,
            CrierAdminError code,
            gint64          expected_id,
            const char     *fragment)
{
  g_autoptr(GError) error = NULL;
  gint64 id = -2;
  g_autoptr(CrierAdminRequest) req = crier_admin_request_decode (text, strlen (text), &id, &error);

  g_assert_null (req);
  g_assert_error (error, CRIER_ADMIN_ERROR, (int) code);
  g_assert_cmpint (id, ==, expected_id);
  if (strstr (error->message, fragment) == NULL)
    g_error ("%s: error \"%s\" lacks \"%s\"", text, error->message, fragment);
}

static void
test_codec_requests (void)
{
  g_autoptr(GError) error = NULL;

  /* Every type round-trips through encode and decode. */
  for (guint t = 0; t < CRIER_ADMIN_N_REQUEST_TYPES; t++)
    {
      g_autoptr(CrierAdminRequest) req = crier_admin_request_new ((CrierAdminRequestType) t);
      g_autoptr(CrierAdminRequest) back = NULL;
      g_autofree char *text = NULL;
      g_autofree char *again = NULL;

      req->id = 40 + t;
      switch ((CrierAdminRequestType) t)
        {
        case CRIER_ADMIN_REQUEST_HELLO:
          req->client = g_strdup ("test");
          break;
        case CRIER_ADMIN_REQUEST_WATCH_STATS:
          req->enable = FALSE;
          break;
        case CRIER_ADMIN_REQUEST_GET_HISTORY:
          req->metrics = g_strsplit ("connections,latency_p99_ms", ",", -1);
          req->since = 1700000000000;
          break;
        case CRIER_ADMIN_REQUEST_LIST_SESSIONS:
          req->page = 3;
          req->page_size = 1000;
          req->sort = CRIER_ADMIN_SORT_BYTES;
          req->descending = TRUE;
          req->user = g_strdup ("al");
          req->channel = g_strdup ("news");
          req->transport = g_strdup ("centrifuge");
          req->remote = g_strdup ("127.0.0.1");
          break;
        case CRIER_ADMIN_REQUEST_INSPECT_SESSION:
          req->session = g_strdup ("abc");
          break;
        case CRIER_ADMIN_REQUEST_KICK:
          req->user = g_strdup ("");
          req->code = 4501;
          req->reconnect = FALSE;
          req->reason = g_strdup ("banned");
          break;
        case CRIER_ADMIN_REQUEST_UNSUBSCRIBE:
          req->session = g_strdup ("abc");
          req->channel = g_strdup ("news");
          break;
        case CRIER_ADMIN_REQUEST_BROADCAST:
          req->channels = g_strsplit ("a,b", ",", -1);
          req->data = g_strdup ("{\"x\": 0.1}");
          break;
        case CRIER_ADMIN_REQUEST_LIST_CHANNELS:
          req->sort = CRIER_ADMIN_SORT_SUBSCRIBERS;
          req->filter = g_strdup ("chat:");
          break;
        case CRIER_ADMIN_REQUEST_INSPECT_CHANNEL:
          req->channel = g_strdup ("news");
          break;
        case CRIER_ADMIN_REQUEST_LIST_ALERTS:
          req->include_resolved = FALSE;
          break;
        case CRIER_ADMIN_REQUEST_GET_STATS:
        case CRIER_ADMIN_REQUEST_WATCH_SESSIONS:
        case CRIER_ADMIN_REQUEST_WATCH_ALERTS:
        case CRIER_ADMIN_REQUEST_LIST_NODES:
          break;
        }
      text = crier_admin_request_encode (req, &error);
      g_assert_no_error (error);
      back = decode_ok (text);
      g_assert_cmpint (back->type, ==, t);
      g_assert_cmpint (back->id, ==, 40 + t);
      again = crier_admin_request_encode (back, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (again, ==, text);
    }

  /* The broadcast payload keeps its bytes (0.1 stays 0.1). */
  {
    g_autoptr(CrierAdminRequest) req =
      decode_ok ("{\"id\":1,\"type\":\"broadcast\",\"params\":{\"channels\":[\"n\"],\"data\":\"{\\\"x\\\": 0.1}\"}}");

    g_assert_cmpstr (req->data, ==, "{\"x\": 0.1}");
  }
  /* Defaults and the kick code rules. */
  {
    g_autoptr(CrierAdminRequest) req = decode_ok ("{\"id\":2,\"type\":\"list_sessions\"}");

    g_assert_cmpuint (req->page, ==, 1);
    g_assert_cmpuint (req->page_size, ==, CRIER_ADMIN_DEFAULT_PAGE_SIZE);
    g_assert_false (req->descending);
  }
  {
    g_autoptr(CrierAdminRequest) req = decode_ok ("{\"id\":3,\"type\":\"kick\",\"params\":{\"session\":\"s\",\"code\":3503}}");

    g_assert_false (req->reconnect);
  }
  {
    g_autoptr(CrierAdminRequest) req = decode_ok ("{\"id\":4,\"type\":\"kick\",\"params\":{\"user\":\"u\"}}");

    g_assert_true (req->reconnect);
    g_assert_cmpuint (req->code, ==, 0);
  }

  /* Bad input: clear errors, with the id when there is one. */
  decode_bad ("not json", CRIER_ADMIN_ERROR_PARSE, -1, "not JSON");
  decode_bad ("[1,2]", CRIER_ADMIN_ERROR_INVALID_REQUEST, -1, "JSON object");
  decode_bad ("{\"type\":\"hello\"}", CRIER_ADMIN_ERROR_INVALID_REQUEST, -1, "id: missing");
  decode_bad ("{\"id\":\"1\",\"type\":\"hello\"}", CRIER_ADMIN_ERROR_INVALID_REQUEST, -1, "id: expected an integer");
  decode_bad ("{\"id\":-1,\"type\":\"hello\"}", CRIER_ADMIN_ERROR_INVALID_REQUEST, -1, "below the minimum");
  decode_bad ("{\"id\":1.5,\"type\":\"hello\"}", CRIER_ADMIN_ERROR_INVALID_REQUEST, -1, "integer");
  decode_bad ("{\"id\":5}", CRIER_ADMIN_ERROR_INVALID_REQUEST, 5, "type: missing");
  decode_bad ("{\"id\":5,\"type\":\"frobnicate\"}", CRIER_ADMIN_ERROR_UNKNOWN_TYPE, 5, "'frobnicate'");
  decode_bad ("{\"id\":5,\"type\":\"hello\",\"extra\":1}", CRIER_ADMIN_ERROR_INVALID_REQUEST, 5, "extra: unknown member");
  decode_bad ("{\"id\":6,\"type\":\"hello\",\"params\":[]}", CRIER_ADMIN_ERROR_INVALID_PARAMS, 6, "expected an object");
  decode_bad ("{\"id\":6,\"type\":\"get_stats\",\"params\":{\"x\":1}}", CRIER_ADMIN_ERROR_INVALID_PARAMS, 6, "params.x: unknown member");
  decode_bad ("{\"id\":7,\"type\":\"list_sessions\",\"params\":{\"page_size\":5000}}",
              CRIER_ADMIN_ERROR_INVALID_PARAMS, 7, "params.page_size: 5000 is above the maximum 1000");
  decode_bad ("{\"id\":7,\"type\":\"list_sessions\",\"params\":{\"page\":0}}",
              CRIER_ADMIN_ERROR_INVALID_PARAMS, 7, "params.page: 0 is below the minimum 1");
  decode_bad ("{\"id\":7,\"type\":\"list_sessions\",\"params\":{\"sort\":\"name\"}}",
              CRIER_ADMIN_ERROR_INVALID_PARAMS, 7, "'name' is not one of connected_at, user, bytes, transport");
  decode_bad ("{\"id\":7,\"type\":\"list_sessions\",\"params\":{\"order\":\"up\"}}",
              CRIER_ADMIN_ERROR_INVALID_PARAMS, 7, "not asc or desc");
  decode_bad ("{\"id\":7,\"type\":\"list_channels\",\"params\":{\"sort\":\"user\"}}",
              CRIER_ADMIN_ERROR_INVALID_PARAMS, 7, "not one of name, subscribers");
  decode_bad ("{\"id\":8,\"type\":\"kick\",\"params\":{}}", CRIER_ADMIN_ERROR_INVALID_PARAMS, 8, "either session or user");
  decode_bad ("{\"id\":8,\"type\":\"kick\",\"params\":{\"session\":\"a\",\"user\":\"b\"}}",
              CRIER_ADMIN_ERROR_INVALID_PARAMS, 8, "either session or user");
  decode_bad ("{\"id\":8,\"type\":\"kick\",\"params\":{\"session\":\"a\",\"code\":3500,\"reconnect\":true}}",
              CRIER_ADMIN_ERROR_INVALID_PARAMS, 8, "3500 is terminal");
  decode_bad ("{\"id\":8,\"type\":\"kick\",\"params\":{\"session\":\"a\",\"code\":1000}}",
              CRIER_ADMIN_ERROR_INVALID_PARAMS, 8, "below the minimum 3000");
  decode_bad ("{\"id\":8,\"type\":\"kick\",\"params\":{\"session\":\"a\",\"reason\":"
              "\"0123456789012345678901234567890123456789012345678901234567890123456789"
              "0123456789012345678901234567890123456789012345678901234\"}}",
              CRIER_ADMIN_ERROR_INVALID_PARAMS, 8, "longer than 123 bytes");
  decode_bad ("{\"id\":9,\"type\":\"broadcast\",\"params\":{\"channels\":[\"a\"],\"data\":\"{\"}}",
              CRIER_ADMIN_ERROR_INVALID_PARAMS, 9, "params.data: not JSON");
  decode_bad ("{\"id\":9,\"type\":\"broadcast\",\"params\":{\"channels\":[\"a\"],\"data\":{\"x\":1}}}",
              CRIER_ADMIN_ERROR_INVALID_PARAMS, 9, "expected a string holding the JSON payload");
  decode_bad ("{\"id\":9,\"type\":\"broadcast\",\"params\":{\"channels\":[],\"data\":\"1\"}}",
              CRIER_ADMIN_ERROR_INVALID_PARAMS, 9, "params.channels: must not be empty");
  decode_bad ("{\"id\":9,\"type\":\"broadcast\",\"params\":{\"channels\":[\"a\",3],\"data\":\"1\"}}",
              CRIER_ADMIN_ERROR_INVALID_PARAMS, 9, "item 1 is not a string");
  decode_bad ("{\"id\":10,\"type\":\"get_history\",\"params\":{\"metrics\":[\"nope\"]}}",
              CRIER_ADMIN_ERROR_INVALID_PARAMS, 10, "unknown metric 'nope'");
  decode_bad ("{\"id\":11,\"type\":\"inspect_session\",\"params\":{}}",
              CRIER_ADMIN_ERROR_INVALID_PARAMS, 11, "params.session: missing");
  decode_bad ("{\"id\":11,\"type\":\"inspect_session\",\"params\":{\"session\":\"\"}}",
              CRIER_ADMIN_ERROR_INVALID_PARAMS, 11, "must not be empty");
  decode_bad ("{\"id\":12,\"type\":\"watch_stats\",\"params\":{\"enable\":1}}",
              CRIER_ADMIN_ERROR_INVALID_PARAMS, 12, "expected true or false");

  /* Too large. */
  {
    GString *big = g_string_new ("{\"id\":13,\"type\":\"broadcast\",\"params\":{\"channels\":[\"a\"],\"data\":\"\\\"");

    for (guint i = 0; i < CRIER_ADMIN_MAX_DATA_SIZE; i++)
      g_string_append_c (big, 'x');
    g_string_append (big, "\\\"\"}}");
    decode_bad (big->str, CRIER_ADMIN_ERROR_TOO_LARGE, 13, "larger than 65536 bytes");
    while (big->len <= CRIER_ADMIN_MAX_REQUEST_SIZE)
      g_string_append_c (big, ' ');
    decode_bad (big->str, CRIER_ADMIN_ERROR_TOO_LARGE, -1, "request larger than");
    g_string_free (big, TRUE);
  }

  /* The encoder refuses what the decoder would. */
  {
    g_autoptr(CrierAdminRequest) req = crier_admin_request_new (CRIER_ADMIN_REQUEST_BROADCAST);
    g_autofree char *text = NULL;

    req->channels = g_strsplit ("a", ",", -1);
    req->data = g_strdup ("{nope");
    text = crier_admin_request_encode (req, &error);
    g_assert_null (text);
    g_assert_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_INVALID_PARAMS);
    g_clear_error (&error);
  }

  /* Error names. */
  for (guint i = 0; i < CRIER_ADMIN_N_ERRORS; i++)
    {
      CrierAdminError code;

      g_assert_true (crier_admin_error_from_string (crier_admin_error_to_string ((CrierAdminError) i), &code));
      g_assert_cmpint (code, ==, i);
    }
  g_assert_true (crier_admin_code_reconnects (3011));
  g_assert_true (crier_admin_code_reconnects (4000));
  g_assert_false (crier_admin_code_reconnects (3503));
  g_assert_false (crier_admin_code_reconnects (4500));
}

static void
test_codec_messages (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CrierAdminStats) stats = crier_admin_stats_new ();
  g_autoptr(CrierAdminStats) back = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *text = NULL;
  g_autoptr(CrierAdminMessage) msg = NULL;

  /* Stats. */
  stats->timestamp = 1700000000123;
  stats->interval = 1.0;
  stats->uptime = 42;
  stats->connections = 7;
  stats->publishes_per_s = 2.5;
  stats->latency_p99_ms = NAN;
  stats->connects_total = G_GUINT64_CONSTANT (9007199254740000);
  crier_admin_labelled_set (stats->transports, "websocket", 7, 7);
  crier_admin_labelled_set (stats->disconnect_reasons, "slow", 0.5, 3);
  crier_admin_labelled_set (stats->disconnect_reasons, "slow", 1.5, 4);
  node = crier_admin_stats_to_json (stats);
  text = crier_admin_event_encode ("stats", "stats", node);
  msg = crier_admin_message_decode (text, strlen (text), &error);
  g_assert_no_error (error);
  g_assert_cmpint (msg->kind, ==, CRIER_ADMIN_MESSAGE_EVENT);
  g_assert_cmpstr (msg->event, ==, "stats");
  back = crier_admin_stats_from_json (json_object_get_member (msg->body, "stats"), &error);
  g_assert_no_error (error);
  g_assert_cmpint (back->timestamp, ==, stats->timestamp);
  g_assert_cmpfloat (back->connections, ==, 7);
  g_assert_cmpfloat (back->publishes_per_s, ==, 2.5);
  g_assert_true (isnan (back->latency_p99_ms));
  g_assert_cmpuint (back->connects_total, ==, stats->connects_total);
  g_assert_cmpuint (back->transports->len, ==, 1);
  g_assert_cmpuint (back->disconnect_reasons->len, ==, 1);
  g_assert_cmpuint (g_array_index (back->disconnect_reasons, CrierAdminLabelled, 0).total, ==, 4);
  g_clear_pointer (&msg, crier_admin_message_free);
  g_clear_pointer (&text, g_free);

  /* Replies and errors. */
  text = crier_admin_reply_encode (5, NULL);
  g_assert_cmpstr (text, ==, "{\"id\":5,\"result\":{}}");
  msg = crier_admin_message_decode (text, strlen (text), &error);
  g_assert_no_error (error);
  g_assert_cmpint (msg->kind, ==, CRIER_ADMIN_MESSAGE_REPLY);
  g_assert_cmpint (msg->id, ==, 5);
  g_clear_pointer (&msg, crier_admin_message_free);
  g_clear_pointer (&text, g_free);

  text = crier_admin_error_encode (-1, CRIER_ADMIN_ERROR_PARSE, "bad \"json\"");
  g_assert_cmpstr (text, ==, "{\"id\":null,\"error\":{\"code\":\"parse_error\",\"message\":\"bad \\\"json\\\"\"}}");
  msg = crier_admin_message_decode (text, strlen (text), &error);
  g_assert_no_error (error);
  g_assert_cmpint (msg->kind, ==, CRIER_ADMIN_MESSAGE_ERROR);
  g_assert_cmpint (msg->id, ==, -1);
  g_assert_cmpint (msg->error_code, ==, CRIER_ADMIN_ERROR_PARSE);
  g_assert_cmpstr (msg->error_message, ==, "bad \"json\"");
  g_clear_pointer (&msg, crier_admin_message_free);

  g_assert_null (crier_admin_message_decode ("{\"nothing\":1}", 13, &error));
  g_assert_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_INVALID_REPLY);
  g_clear_error (&error);

  /* Alerts, sessions, channels, history, hello. */
  {
    CrierAlert alert = { 3, (char *) "connects_per_s", CRIER_ALERT_SPIKE, CRIER_SEVERITY_CRITICAL,
                         1000, 0, 950, 12, 8.1, (char *) "connects_per_s 950 vs expected 12" };
    g_autoptr(JsonNode) a = crier_admin_alert_to_json (&alert);
    g_autoptr(CrierAlert) b = crier_admin_alert_from_json (a, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (b->id, ==, 3);
    g_assert_cmpstr (b->metric, ==, "connects_per_s");
    g_assert_cmpint (b->kind, ==, CRIER_ALERT_SPIKE);
    g_assert_cmpint (b->severity, ==, CRIER_SEVERITY_CRITICAL);
    g_assert_cmpint (b->end_time, ==, 0);
    g_assert_cmpfloat (b->score, ==, 8.1);
  }
  {
    CrierAdminSessionInfo info = { (char *) "id1", (char *) "u", (char *) "centrifuge", (char *) "1.2.3.4:5",
                                   NULL, 1000, 0, 2, 3, 4, -1, 99, -1, 0, NAN };
    g_autoptr(JsonNode) a = crier_admin_session_info_to_json (&info);
    g_autoptr(CrierAdminSessionInfo) b = crier_admin_session_info_from_json (a, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (b->id, ==, "id1");
    g_assert_null (b->user_agent);
    g_assert_cmpint (b->bytes_in, ==, -1);
    g_assert_cmpint (b->bytes_out, ==, 99);
    g_assert_cmpuint (b->subscriptions, ==, 2);
    /* Unknown last activity and RTT travel as null and come back unknown. */
    g_assert_true (json_object_get_null_member (json_node_get_object (a), "last_activity_at"));
    g_assert_true (json_object_get_null_member (json_node_get_object (a), "ping_rtt_ms"));
    g_assert_cmpint (b->last_activity_at, ==, 0);
    g_assert_true (isnan (b->ping_rtt_ms));
  }
  {
    CrierAdminSessionInfo info = { (char *) "id2", (char *) "", (char *) "websocket", NULL,
                                   NULL, 1000, 0, 0, 0, 0, 10, 20, 0, 1700000000123, 2.5 };
    g_autoptr(JsonNode) a = crier_admin_session_info_to_json (&info);
    g_autoptr(CrierAdminSessionInfo) b = crier_admin_session_info_from_json (a, &error);
    JsonObject *o = json_node_get_object (a);

    g_assert_no_error (error);
    g_assert_cmpint (json_object_get_int_member (o, "last_activity_at"), ==, 1700000000123);
    g_assert_cmpfloat (json_object_get_double_member (o, "ping_rtt_ms"), ==, 2.5);
    g_assert_cmpint (b->last_activity_at, ==, 1700000000123);
    g_assert_cmpfloat (b->ping_rtt_ms, ==, 2.5);

    /* An older server leaves both out: unknown, not an error. */
    json_object_remove_member (o, "last_activity_at");
    json_object_remove_member (o, "ping_rtt_ms");
    g_clear_pointer (&b, crier_admin_session_info_free);
    b = crier_admin_session_info_from_json (a, &error);
    g_assert_no_error (error);
    g_assert_cmpint (b->last_activity_at, ==, 0);
    g_assert_true (isnan (b->ping_rtt_ms));

    /* Bad values are named. */
    json_object_set_double_member (o, "ping_rtt_ms", -1);
    g_assert_null (crier_admin_session_info_from_json (a, &error));
    g_assert_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_INVALID_REPLY);
    g_assert_nonnull (strstr (error->message, "ping_rtt_ms"));
    g_clear_error (&error);
    json_object_set_string_member (o, "ping_rtt_ms", "fast");
    g_assert_null (crier_admin_session_info_from_json (a, &error));
    g_assert_nonnull (strstr (error->message, "ping_rtt_ms"));
    g_clear_error (&error);
    json_object_set_null_member (o, "ping_rtt_ms");
    json_object_set_int_member (o, "last_activity_at", -5);
    g_assert_null (crier_admin_session_info_from_json (a, &error));
    g_assert_nonnull (strstr (error->message, "last_activity_at"));
    g_clear_error (&error);
  }
  {
    CrierAdminChannelInfo info = { (char *) "news", 3, NAN, 12, (char *) "ep" };
    g_autoptr(JsonNode) a = crier_admin_channel_info_to_json (&info);
    g_autoptr(CrierAdminChannelInfo) b = crier_admin_channel_info_from_json (a, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (b->name, ==, "news");
    g_assert_true (isnan (b->publish_rate));
    g_assert_cmpuint (b->offset, ==, 12);
  }
  {
    g_autoptr(CrierAdminHistory) h = crier_admin_history_new (3);
    double v[3] = { 1, NAN, 3 };
    g_autoptr(JsonNode) a = NULL;
    g_autoptr(CrierAdminHistory) b = NULL;

    h->timestamps[0] = 1000;
    h->timestamps[1] = 2000;
    h->timestamps[2] = 3000;
    crier_admin_history_add (h, "connections", v);
    a = crier_admin_history_to_json (h);
    b = crier_admin_history_from_json (a, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (b->n_samples, ==, 3);
    g_assert_cmpint (b->timestamps[2], ==, 3000);
    g_assert_cmpstr (g_ptr_array_index (b->names, 0), ==, "connections");
    g_assert_true (isnan (((double *) g_ptr_array_index (b->values, 0))[1]));
  }
  {
    CrierAdminHello hello = { 1, (char *) "n", (char *) "0.1.0", 5, 1000, 42, (char *) "[server]\n" };
    g_autoptr(JsonNode) a = crier_admin_hello_to_json (&hello);
    g_autoptr(CrierAdminHello) b = crier_admin_hello_from_json (a, &error);

    g_assert_no_error (error);
    g_assert_cmpint (b->protocol, ==, 1);
    g_assert_cmpstr (b->node, ==, "n");
    g_assert_cmpint (b->pid, ==, 42);
  }

  /* Every series has a distinct name that looks up to itself. */
  {
    guint n;
    const CrierAdminSeriesInfo *series = crier_admin_stats_get_series (&n);

    g_assert_cmpuint (n, >, 20);
    for (guint i = 0; i < n; i++)
      g_assert_cmpint (crier_admin_stats_lookup_series (series[i].name), ==, i);
  }
}

static void
test_default_socket_path (void)
{
  g_autofree char *with = NULL;
  g_autofree char *empty = NULL;
  g_autofree char *unset = NULL;

  g_setenv ("XDG_RUNTIME_DIR", "/tmp/xdg-test", TRUE);
  with = crier_admin_default_socket_path ();
  g_setenv ("XDG_RUNTIME_DIR", "", TRUE);
  empty = crier_admin_default_socket_path ();
  g_unsetenv ("XDG_RUNTIME_DIR");
  unset = crier_admin_default_socket_path ();

  g_assert_cmpstr (with, ==, "/tmp/xdg-test/crier/admin.sock");
  g_assert_cmpstr (empty, ==, "/run/crier/admin.sock");
  g_assert_cmpstr (unset, ==, "/run/crier/admin.sock");
}

static void
test_histogram (void)
{
  CrierHistogram h = { 0 };
  CrierHistogram before;
  CrierHistogram window;

  g_assert_true (isnan (crier_histogram_quantile (&h, 0.5)));

  /* Bucket bounds are contiguous and contain their values. */
  for (guint b = 0; b + 1 < CRIER_HISTOGRAM_N_BUCKETS; b++)
    {
      g_assert_cmpuint (crier_histogram_bucket_upper (b), ==, crier_histogram_bucket_lower (b + 1));
      g_assert_cmpuint (crier_histogram_bucket_of (crier_histogram_bucket_lower (b)), ==, b);
      g_assert_cmpuint (crier_histogram_bucket_of (crier_histogram_bucket_upper (b) - 1), ==, b);
    }

  /* 1..1000 µs: quantiles within the 12.5 % resolution. */
  for (guint64 v = 1; v <= 1000; v++)
    crier_histogram_record (&h, v);
  g_assert_cmpuint (h.count, ==, 1000);
  g_assert_cmpfloat (fabs (crier_histogram_quantile (&h, 0.5) - 500) / 500, <, 0.125);
  g_assert_cmpfloat (fabs (crier_histogram_quantile (&h, 0.99) - 990) / 990, <, 0.125);
  g_assert_cmpfloat (crier_histogram_quantile (&h, 0.0), >=, 1);

  /* A window: the difference of two snapshots. */
  before = h;
  for (guint i = 0; i < 100; i++)
    crier_histogram_record (&h, 50000);
  crier_histogram_delta (&h, &before, &window);
  g_assert_cmpuint (window.count, ==, 100);
  g_assert_cmpfloat (fabs (crier_histogram_quantile (&window, 0.5) - 50000) / 50000, <, 0.125);
  crier_histogram_record (&h, G_MAXUINT64 / 2);
  g_assert_cmpuint (h.buckets[CRIER_HISTOGRAM_N_BUCKETS - 1], ==, 1);
}

/* ---- the Unix socket ----------------------------------------------------- */

static void
test_socket_permissions (void)
{
  Fixture f = { 0 };
  g_autofree char *dir = g_dir_make_tmp ("crier-admin-XXXXXX", NULL);
  g_autofree char *nested_dir = g_build_filename (dir, "a", "b", NULL);
  g_autofree char *nested = g_build_filename (nested_dir, "admin.sock", NULL);
  g_autofree char *setting = g_strdup_printf ("admin.socket=%s", nested);
  const char * const overrides[] = { setting, NULL };
  CrierServer *server;
  struct stat st;

  fixture_start (&f, NULL);
  g_assert_cmpint (g_lstat (f.socket_path, &st), ==, 0);
  g_assert_true (S_ISSOCK (st.st_mode));
  g_assert_cmpint (st.st_mode & 07777, ==, 0600);
  g_assert_cmpint (st.st_uid, ==, getuid ());
  g_assert_cmpstr (crier_admin_get_socket_path (fixture_admin (&f)), ==, f.socket_path);
  fixture_stop (&f);

  /* Missing directories are created 0700. */
  server = test_server_new (overrides);
  g_assert_cmpint (g_lstat (nested, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0600);
  g_assert_cmpint (g_stat (nested_dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0700);
  test_server_quit_unref (server);
  g_assert_false (g_file_test (nested, G_FILE_TEST_EXISTS));
  g_rmdir (nested_dir);
  {
    g_autofree char *a = g_build_filename (dir, "a", NULL);

    g_rmdir (a);
  }
  g_rmdir (dir);
}

/* The [anomaly] thresholds reach the detectors crierd runs. */
static const CrierDetectorConfig *
detector_config (CrierServer *server,
                 const char  *metric)
{
  CrierAnomalyEngine *engine = crier_metrics_get_anomaly (crier_admin_get_metrics (crier_server_get_admin (server)));
  int index;

  g_assert_nonnull (engine);
  index = crier_anomaly_engine_lookup (engine, metric);
  g_assert_cmpint (index, >=, 0);
  return crier_detector_get_config (crier_anomaly_engine_get_detector (engine, (guint) index));
}

static void
test_anomaly_settings (void)
{
  const char *defaults[] = { NULL };
  const char *tuned[] = {
    "anomaly.sensitivity=200", "anomaly.spike_sigma=9", "anomaly.drop_percent=40",
    "anomaly.drift_percent=30", "anomaly.burst_min_count=7", "anomaly.warmup=20s", NULL,
  };
  CrierServer *server = test_server_new (defaults);
  const CrierDetectorConfig *dc = detector_config (server, "deliveries_per_s");
  double drop_sigma = dc->drop_sigma;
  double drift_sigma = dc->drift_sigma;

  g_assert_cmpfloat (dc->spike_sigma, ==, 6);
  g_assert_cmpfloat (dc->drop_ratio, ==, 0.25);
  g_assert_cmpfloat (dc->drift_rel, ==, 0.10);
  test_server_quit_unref (server);

  server = test_server_new (tuned);
  dc = detector_config (server, "deliveries_per_s");
  /* Sensitivity 200 halves every threshold in standard deviations. */
  g_assert_cmpfloat (dc->spike_sigma, ==, 4.5);
  g_assert_cmpfloat (dc->drop_sigma, ==, drop_sigma / 2);
  g_assert_cmpfloat (dc->drift_sigma, ==, drift_sigma / 2);
  g_assert_cmpfloat (dc->drop_ratio, ==, 0.40);
  g_assert_cmpfloat (dc->drift_rel, ==, 0.30);
  g_assert_cmpuint (dc->warmup, ==, 20);
  dc = detector_config (server, "rejections_per_s");
  g_assert_cmpfloat (dc->burst_min_count, ==, 7);
  /* Memory per connection learns twice as long. */
  g_assert_cmpuint (detector_config (server, "rss_per_connection")->warmup, ==, 40);
  test_server_quit_unref (server);
}

static void
test_socket_default_path (void)
{
  g_autofree char *dir = g_dir_make_tmp ("crier-admin-XXXXXX", NULL);
  g_autofree char *expected = g_build_filename (dir, "crier", "admin.sock", NULL);
  g_autofree char *crier_dir = g_build_filename (dir, "crier", NULL);
  CrierServer *server;
  struct stat st;
  const char * const use_default[] = { "admin.socket=", NULL };

  g_setenv ("XDG_RUNTIME_DIR", dir, TRUE);
  /* test_server_new gives every server its own socket; ask for the default. */
  server = test_server_new (use_default);
  g_unsetenv ("XDG_RUNTIME_DIR");
  g_assert_cmpstr (crier_admin_get_socket_path (crier_server_get_admin (server)), ==, expected);
  g_assert_cmpint (g_stat (crier_dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0700);
  test_server_quit_unref (server);
  g_rmdir (crier_dir);
  g_rmdir (dir);
}

static gboolean
start_fails (const char *socket_setting,
             GQuark      domain,
             int         code)
{
  g_autoptr(GError) error = NULL;
  CrierConfig *config = crier_config_new ();
  CrierServer *server;
  gboolean failed;

  g_assert_true (crier_config_set (config, "server.listen=127.0.0.1:0", NULL));
  g_assert_true (crier_config_set (config, socket_setting, NULL));
  server = crier_server_new (config);
  failed = !crier_server_start (server, &error);
  if (failed)
    {
      g_assert_error (error, domain, code);
      g_test_message ("refused as expected: %s", error->message);
    }
  test_server_quit_unref (server);
  return failed;
}

static void
test_socket_stale_and_live (void)
{
  Fixture f = { 0 };
  g_autofree char *setting = NULL;
  g_autofree char *file = NULL;
  g_autofree char *file_setting = NULL;
  Admin a;

  /* A socket file left behind by a dead process is replaced. */
  {
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp ("crier-admin-XXXXXX", NULL);
    g_autofree char *path = g_build_filename (dir, "admin.sock", NULL);
    g_autofree char *stale_setting = g_strdup_printf ("admin.socket=%s", path);
    const char * const overrides[] = { stale_setting, NULL };
    g_autoptr(GSocket) stale = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                             G_SOCKET_PROTOCOL_DEFAULT, &error);
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new (path);
    CrierServer *server;

    g_assert_true (g_socket_bind (stale, address, FALSE, &error));
    g_socket_close (stale, NULL);
    g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
    server = test_server_new (overrides);
    admin_open (&a, path);
    admin_close (&a);
    test_server_quit_unref (server);
    g_rmdir (dir);
  }

  /* A live one is never taken over. */
  fixture_start (&f, NULL);
  setting = g_strdup_printf ("admin.socket=%s", f.socket_path);
  g_assert_true (start_fails (setting, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE));
  /* ... and still works. */
  admin_open (&a, f.socket_path);
  {
    g_autoptr(JsonObject) hello = admin_call (&a, "hello", NULL);

    g_assert_cmpint (json_object_get_int_member (hello, "protocol"), ==, 1);
  }
  admin_close (&a);

  /* Nor is a file that is not a socket. */
  file = g_build_filename (f.dir, "file", NULL);
  g_assert_true (g_file_set_contents (file, "data", -1, NULL));
  file_setting = g_strdup_printf ("admin.socket=%s", file);
  g_assert_true (start_fails (file_setting, G_IO_ERROR, G_IO_ERROR_EXISTS));
  g_assert_true (g_file_test (file, G_FILE_TEST_IS_REGULAR));
  g_unlink (file);
  fixture_stop (&f);
}

static void
test_peer_uid_check (void)
{
  g_assert_true (crier_admin_peer_uid_allowed (1000, 1000));
  g_assert_true (crier_admin_peer_uid_allowed (0, 1000));
  g_assert_true (crier_admin_peer_uid_allowed (0, 0));
  g_assert_false (crier_admin_peer_uid_allowed (1001, 1000));
  g_assert_false (crier_admin_peer_uid_allowed (1000, 0));
  g_assert_false (crier_admin_peer_uid_allowed (65534, 0));

  g_assert_true (crier_admin_check_bearer ("Bearer sekret", "sekret"));
  g_assert_true (crier_admin_check_bearer ("bearer sekret", "sekret"));
  g_assert_true (crier_admin_check_bearer ("Bearer   sekret", "sekret"));
  g_assert_false (crier_admin_check_bearer ("Bearer sekret2", "sekret"));
  g_assert_false (crier_admin_check_bearer ("Bearer sekre", "sekret"));
  g_assert_false (crier_admin_check_bearer ("Bearer ", "sekret"));
  g_assert_false (crier_admin_check_bearer ("Basic sekret", "sekret"));
  g_assert_false (crier_admin_check_bearer ("sekret", "sekret"));
  g_assert_false (crier_admin_check_bearer (NULL, "sekret"));
  g_assert_false (crier_admin_check_bearer ("Bearer ", ""));
  g_assert_false (crier_admin_check_bearer ("Bearer x", NULL));
}

/* A peer with another uid gets through the file permissions (opened up for
 * the test) but not through the server's credential check. */
static void
test_peer_other_uid_refused (void)
{
  Fixture f = { 0 };
  const char request[] = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  int pipe_fds[2];
  pid_t pid;
  char status_line[64] = { 0 };
  gsize got = 0;
  gint64 deadline;
  int wstatus = 0;

  if (getuid () != 0)
    {
      g_test_skip ("needs root to run a peer with another uid");
      return;
    }

  fixture_start (&f, NULL);
  g_assert_cmpint (chmod (f.socket_path, 0666), ==, 0);
  g_assert_cmpint (chmod (f.dir, 0755), ==, 0);
  g_assert_cmpint (pipe (pipe_fds), ==, 0);

  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      /* Async-signal-safe calls only. */
      struct sockaddr_un addr = { .sun_family = AF_UNIX };
      char buf[64];
      ssize_t n;
      int fd;

      close (pipe_fds[0]);
      if (setgid (65534) != 0 || setuid (65534) != 0)
        _exit (10);
      fd = socket (AF_UNIX, SOCK_STREAM, 0);
      memcpy (addr.sun_path, f.socket_path, strlen (f.socket_path));
      if (fd < 0 || connect (fd, (struct sockaddr *) &addr, sizeof addr) != 0)
        _exit (11);
      if (write (fd, request, sizeof request - 1) != (ssize_t) sizeof request - 1)
        _exit (12);
      n = read (fd, buf, sizeof buf);
      if (n > 0 && write (pipe_fds[1], buf, (size_t) n) != n)
        _exit (13);
      _exit (0);
    }

  close (pipe_fds[1]);
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    {
      struct pollfd p = { .fd = pipe_fds[0], .events = POLLIN };
      ssize_t n;

      if (poll (&p, 1, 1) <= 0)
        {
          while (g_main_context_iteration (NULL, FALSE))
            ;
          continue;
        }
      n = read (pipe_fds[0], status_line + got, sizeof status_line - 1 - got);
      if (n <= 0)
        break;
      got += (gsize) n;
    }
  close (pipe_fds[0]);
  g_assert_cmpint (waitpid (pid, &wstatus, 0), ==, pid);
  g_assert_true (WIFEXITED (wstatus));
  g_assert_cmpint (WEXITSTATUS (wstatus), ==, 0);
  g_assert_true (g_str_has_prefix (status_line, "HTTP/1.1 403"));
  fixture_stop (&f);
}

/* ---- TCP and its token ---------------------------------------------------- */

static void
test_tcp_token (void)
{
  const char * const extra[] = { "admin.token=sekret", "admin.listen=127.0.0.1:0", NULL };
  Fixture f = { 0 };
  guint16 port;
  g_autofree char *headers = NULL;
  g_autofree char *body = NULL;
  Admin a;
  int fd;

  fixture_start (&f, extra);
  port = crier_admin_get_tcp_port (fixture_admin (&f));
  g_assert_cmpuint (port, >, 0);

#define REQ(auth) "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" auth "\r\n"
  g_assert_cmpuint (test_http_raw (port, REQ (""), strlen (REQ ("")), &headers, &body), ==, 401);
  g_assert_nonnull (strstr (headers, "WWW-Authenticate: Bearer"));
  g_assert_cmpuint (test_http_raw (port, REQ ("Authorization: Bearer wrong\r\n"),
                                   strlen (REQ ("Authorization: Bearer wrong\r\n")), NULL, NULL), ==, 401);
  g_assert_cmpuint (test_http_raw (port, REQ ("Authorization: Basic sekret\r\n"),
                                   strlen (REQ ("Authorization: Basic sekret\r\n")), NULL, NULL), ==, 401);
  g_clear_pointer (&body, g_free);
  g_assert_cmpuint (test_http_raw (port, REQ ("Authorization: Bearer sekret\r\n"),
                                   strlen (REQ ("Authorization: Bearer sekret\r\n")), NULL, &body), ==, 200);
  g_assert_nonnull (strstr (body, "# TYPE crier_connections gauge"));
#undef REQ

  /* The WebSocket too. */
  fd = test_tcp_connect (port);
  g_assert_false (test_ws_handshake (fd, CRIER_ADMIN_PATH, NULL));
  close (fd);
  fd = test_tcp_connect (port);
  g_assert_false (test_ws_handshake (fd, CRIER_ADMIN_PATH, "Authorization: Bearer nope\r\n"));
  close (fd);
  fd = test_tcp_connect (port);
  g_assert_true (test_ws_handshake (fd, CRIER_ADMIN_PATH, "Authorization: Bearer sekret\r\n"));
  admin_init_fd (&a, fd);
  {
    g_autoptr(JsonObject) hello = admin_call (&a, "hello", "{\"protocol\":1,\"client\":\"test\"}");
    const char *config = json_object_get_string_member (hello, "config");

    /* The config summary masks secrets. */
    g_assert_nonnull (strstr (config, "token = ********"));
    g_assert_null (strstr (config, "sekret"));
  }
  /* Admin connections are not client connections. */
  {
    g_autoptr(JsonObject) list = admin_call (&a, "list_sessions", NULL);

    g_assert_cmpint (json_object_get_int_member (list, "total"), ==, 0);
  }
  admin_close (&a);
  fixture_stop (&f);
}

/* ---- commands ------------------------------------------------------------- */

/* [admin] request_timeout: a TCP peer that does not send a whole request
 * in time is closed and counted, one that does is served, and an open
 * admin WebSocket is not bound by it. */
static void
test_tcp_request_timeout (void)
{
  const char * const extra[] = {
    "admin.token=sekret", "admin.listen=127.0.0.1:0", "admin.request_timeout=400ms", NULL
  };
  static const char request[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Authorization: Bearer sekret\r\nConnection: close\r\n\r\n";
  Fixture f = { 0 };
  const CrierAdminTcpStats *stats;
  guint16 port;
  int silent, partial;
  gint64 start;
  Admin a;

  fixture_start (&f, extra);
  port = crier_admin_get_tcp_port (fixture_admin (&f));
  stats = crier_admin_get_tcp_stats (fixture_admin (&f));

  /* An admin WebSocket, opened before and used after the deadline. */
  admin_init_fd (&a, test_tcp_connect (port));
  g_assert_true (test_ws_handshake (a.fd, CRIER_ADMIN_PATH, "Authorization: Bearer sekret\r\n"));

  start = g_get_monotonic_time ();
  silent = test_tcp_connect (port);
  partial = test_tcp_connect (port);
  /* Half a request head, then nothing (slowloris). */
  g_assert_cmpint (send (partial, request, 30, MSG_NOSIGNAL), ==, 30);
  /* (accepted, not open: under load the sweep may already have closed
   * them when this looks) */
  WAIT_UNTIL (stats->accepted == 3);
  g_assert_true (test_fd_wait_eof (silent, 5000));
  g_assert_true (test_fd_wait_eof (partial, 5000));
  /* Not before the limit, and not much after (the tick is 100 ms). */
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 390 * 1000);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_USEC_PER_SEC);
  g_assert_cmpuint (stats->request_timeouts, ==, 2);
  WAIT_UNTIL (stats->open == 1);

  /* A whole request in time is served. */
  g_assert_cmpuint (test_http_raw (port, request, strlen (request), NULL, NULL), ==, 200);
  g_assert_cmpuint (stats->request_timeouts, ==, 2);

  {
    g_autoptr(JsonObject) hello = admin_call (&a, "hello", NULL);

    g_assert_true (json_object_has_member (hello, "node"));
  }
  g_assert_cmpuint (stats->request_timeouts, ==, 2);
  close (silent);
  close (partial);
  admin_close (&a);
  WAIT_UNTIL (stats->open == 0);
  fixture_stop (&f);
}

/* [admin] max_connections: connections over the cap are closed at once
 * and counted; a slot frees when a connection goes. */
static void
test_tcp_max_connections (void)
{
  const char * const extra[] = {
    "admin.token=sekret", "admin.listen=127.0.0.1:0", "admin.max_connections=2", NULL
  };
  static const char request[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Authorization: Bearer sekret\r\nConnection: close\r\n\r\n";
  Fixture f = { 0 };
  const CrierAdminTcpStats *stats;
  guint16 port;
  int held, over;
  Admin a;

  fixture_start (&f, extra);
  port = crier_admin_get_tcp_port (fixture_admin (&f));
  stats = crier_admin_get_tcp_stats (fixture_admin (&f));

  /* One admin WebSocket and one idle connection fill the cap. */
  admin_init_fd (&a, test_tcp_connect (port));
  g_assert_true (test_ws_handshake (a.fd, CRIER_ADMIN_PATH, "Authorization: Bearer sekret\r\n"));
  held = test_tcp_connect (port);
  WAIT_UNTIL (stats->open == 2);

  over = test_tcp_connect (port);
  g_assert_true (test_fd_wait_eof (over, 5000));
  close (over);
  g_assert_cmpuint (stats->refused_cap, ==, 1);
  g_assert_cmpuint (test_http_raw (port, request, strlen (request), NULL, NULL), ==, 0);
  g_assert_cmpuint (stats->refused_cap, ==, 2);
  /* The Unix socket has no cap. */
  {
    g_autoptr(JsonObject) hello = NULL;
    Admin local;

    admin_open (&local, f.socket_path);
    hello = admin_call (&local, "hello", NULL);
    g_assert_true (json_object_has_member (hello, "node"));
    admin_close (&local);
  }

  /* A slot frees when a connection goes; the WebSocket still works. */
  close (held);
  WAIT_UNTIL (stats->open == 1);
  g_assert_cmpuint (test_http_raw (port, request, strlen (request), NULL, NULL), ==, 200);
  {
    g_autoptr(JsonObject) hello = admin_call (&a, "hello", NULL);

    g_assert_true (json_object_has_member (hello, "node"));
  }
  admin_close (&a);
  WAIT_UNTIL (stats->open == 0);
  g_assert_cmpuint (stats->refused_cap, ==, 2);
  fixture_stop (&f);
}

static guint
close_code_of (Client *c)
{
  g_autofree char *line = NULL;

  while ((line = client_next (c)) != NULL)
    g_clear_pointer (&line, g_free);
  return c->close_code;
}

static void
test_commands (void)
{
  Fixture f = { 0 };
  Admin a;
  g_autoptr(Client) sub1 = NULL;
  g_autoptr(Client) sub2 = NULL;
  g_autoptr(Client) victim = NULL;
  g_autofree char *message = NULL;
  g_autofree char *params = NULL;

  fixture_start (&f, NULL);
  admin_open (&a, f.socket_path);

  /* hello */
  {
    g_autoptr(JsonObject) hello = admin_call (&a, "hello", "{\"protocol\":1}");

    g_assert_cmpint (json_object_get_int_member (hello, "protocol"), ==, CRIER_ADMIN_PROTOCOL_VERSION);
    g_assert_cmpstr (json_object_get_string_member (hello, "version"), ==, PACKAGE_VERSION);
    g_assert_cmpstr (json_object_get_string_member (hello, "node"), ==, crier_server_get_node_name (f.server));
    g_assert_cmpint (json_object_get_int_member (hello, "pid"), ==, getpid ());
    g_assert_nonnull (strstr (json_object_get_string_member (hello, "config"), "[admin]"));
    g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (hello, "limits"), "max_page_size"),
                     ==, CRIER_ADMIN_MAX_PAGE_SIZE);
  }
  message = admin_expect_error (&a, "{\"id\":100,\"type\":\"hello\",\"params\":{\"protocol\":2}}", 100,
                                "unsupported_version");
  g_assert_nonnull (strstr (message, "protocol 1"));
  g_clear_pointer (&message, g_free);

  /* Bad input: the connection stays usable. */
  g_free (admin_expect_error (&a, "this is not json", -1, "parse_error"));
  g_free (admin_expect_error (&a, "[]", -1, "invalid_request"));
  g_free (admin_expect_error (&a, "{\"id\":101,\"type\":\"nope\"}", 101, "unknown_type"));
  g_free (admin_expect_error (&a, "{\"id\":102,\"type\":\"list_sessions\",\"params\":{\"page_size\":1001}}", 102,
                              "invalid_params"));
  g_free (admin_expect_error (&a, "{\"id\":103,\"type\":\"kick\",\"params\":{\"session\":\"x\",\"bogus\":true}}", 103,
                              "invalid_params"));
  g_free (admin_expect_error (&a, "{\"id\":104,\"type\":\"inspect_session\",\"params\":{\"session\":\"nope\"}}", 104,
                              "not_found"));
  g_free (admin_expect_error (&a, "{\"id\":105,\"type\":\"kick\",\"params\":{\"session\":\"nope\"}}", 105,
                              "not_found"));
  g_free (admin_expect_error (&a, "{\"id\":106,\"type\":\"unsubscribe\",\"params\":{\"session\":\"nope\",\"channel\":\"news\"}}",
                              106, "not_found"));
  g_free (admin_expect_error (&a, "{\"id\":107,\"type\":\"inspect_channel\",\"params\":{\"channel\":\"nons:x\"}}", 107,
                              "not_found"));
  g_free (admin_expect_error (&a, "{\"id\":108,\"type\":\"get_history\",\"params\":{\"metrics\":[\"bogus\"]}}", 108,
                              "invalid_params"));

  /* Real clients. */
  sub1 = client_new (f.server, "news");
  sub2 = client_new (f.server, "news");
  victim = client_new (f.server, NULL);

  /* list_sessions and inspect_session */
  {
    g_autoptr(JsonObject) list = admin_call (&a, "list_sessions", NULL);
    g_autoptr(JsonObject) by_channel = admin_call (&a, "list_sessions", "{\"channel\":\"new\"}");
    g_autoptr(JsonObject) by_bytes = admin_call (&a, "list_sessions", "{\"sort\":\"bytes\",\"order\":\"desc\"}");
    JsonArray *sessions = json_object_get_array_member (list, "sessions");
    JsonObject *first;

    g_assert_cmpint (json_object_get_int_member (list, "total"), ==, 3);
    g_assert_cmpint (json_object_get_int_member (by_channel, "total"), ==, 2);
    g_assert_cmpint (json_object_get_int_member (by_bytes, "total"), ==, 3);
    first = json_array_get_object_element (sessions, 0);
    /* Oldest first by default. */
    g_assert_cmpstr (json_object_get_string_member (first, "id"), ==, sub1->client);
    g_assert_cmpint (json_object_get_int_member (first, "subscriptions"), ==, 1);
    g_assert_cmpint (json_object_get_int_member (first, "bytes_out"), >, 0);
    g_assert_cmpint (json_object_get_int_member (first, "commands_in"), >=, 0);
    g_assert_nonnull (strstr (json_object_get_string_member (first, "remote"), "127.0.0.1:"));
  }
  {
    g_autofree char *p = g_strdup_printf ("{\"session\":\"%s\"}", sub1->client);
    g_autoptr(JsonObject) s = admin_call (&a, "inspect_session", p);
    JsonArray *channels = json_object_get_array_member (s, "channels");

    g_assert_cmpstr (json_object_get_string_member (s, "id"), ==, sub1->client);
    g_assert_cmpuint (json_array_get_length (channels), ==, 1);
    g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (channels, 0), "channel"), ==, "news");
  }

  /* broadcast reaches the real subscribers, with offsets. */
  {
    g_autoptr(JsonObject) r = admin_call (&a, "broadcast",
                                          "{\"channels\":[\"news\",\"bad:chan\"],\"data\":\"{\\\"text\\\":\\\"hi\\\",\\\"n\\\":0.1}\"}");
    JsonArray *pubs = json_object_get_array_member (r, "publications");
    JsonObject *ok = json_array_get_object_element (pubs, 0);
    JsonObject *bad = json_array_get_object_element (pubs, 1);
    g_autofree char *push1 = client_wait_for (sub1, "\"pub\"");
    g_autofree char *push2 = client_wait_for (sub2, "\"pub\"");

    g_assert_cmpint (json_object_get_int_member (r, "reached"), ==, 2);
    g_assert_cmpint (json_object_get_int_member (r, "failed"), ==, 1);
    g_assert_cmpint (json_object_get_int_member (ok, "offset"), ==, 1);
    g_assert_cmpint (json_object_get_int_member (ok, "reached"), ==, 2);
    g_assert_nonnull (json_object_get_string_member (ok, "epoch"));
    g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (bad, "error"), "code"), ==, 102);
    g_assert_nonnull (strstr (push1, "{\"text\":\"hi\",\"n\":0.1}"));
    g_assert_nonnull (strstr (push2, "\"channel\":\"news\""));
  }
  g_free (admin_expect_error (&a, "{\"id\":109,\"type\":\"broadcast\",\"params\":{\"channels\":[\"news\"],\"data\":\"{x\"}}",
                              109, "invalid_params"));

  /* list_channels and inspect_channel */
  {
    g_autoptr(JsonObject) list = admin_call (&a, "list_channels", "{\"sort\":\"subscribers\",\"order\":\"desc\"}");
    JsonObject *news = json_array_get_object_element (json_object_get_array_member (list, "channels"), 0);

    g_assert_cmpint (json_object_get_int_member (list, "total"), ==, 1);
    g_assert_cmpstr (json_object_get_string_member (news, "channel"), ==, "news");
    g_assert_cmpint (json_object_get_int_member (news, "subscribers"), ==, 2);
    g_assert_cmpint (json_object_get_int_member (news, "offset"), ==, 1);
    g_assert_cmpfloat (json_object_get_double_member (news, "publish_rate"), >, 0);
  }
  {
    g_autoptr(JsonObject) ch = admin_call (&a, "inspect_channel", "{\"channel\":\"news\"}");
    JsonObject *history = json_object_get_object_member (ch, "history");

    g_assert_cmpint (json_object_get_int_member (ch, "subscribers"), ==, 2);
    g_assert_cmpint (json_object_get_int_member (ch, "offset"), ==, 1);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (ch, "sessions")), ==, 2);
    g_assert_cmpint (json_object_get_int_member (history, "size"), ==, 10);
    g_assert_cmpint (json_object_get_int_member (history, "count"), ==, 1);
    g_assert_cmpint (json_object_get_int_member (history, "first_offset"), ==, 1);
    g_assert_true (json_object_get_null_member (ch, "presence"));
  }

  /* unsubscribe: the client gets the server's unsubscribe push. */
  params = g_strdup_printf ("{\"session\":\"%s\",\"channel\":\"news\"}", sub2->client);
  {
    g_autoptr(JsonObject) r = admin_call (&a, "unsubscribe", params);
    g_autofree char *push = client_wait_for (sub2, "\"unsubscribe\"");

    g_assert_true (json_object_get_boolean_member (r, "unsubscribed"));
    g_assert_nonnull (strstr (push, "\"code\":2000"));
  }
  {
    g_autofree char *again = g_strdup_printf ("{\"id\":110,\"type\":\"unsubscribe\",\"params\":%s}", params);

    g_free (admin_expect_error (&a, again, 110, "not_found"));
  }

  /* kick: reconnectable by default, terminal when asked, by user too. */
  {
    g_autofree char *p = g_strdup_printf ("{\"session\":\"%s\"}", victim->client);
    g_autoptr(JsonObject) r = admin_call (&a, "kick", p);

    g_assert_cmpint (json_object_get_int_member (r, "kicked"), ==, 1);
    g_assert_cmpint (json_object_get_int_member (r, "code"), ==, CRIER_ADMIN_KICK_RECONNECT_CODE);
    g_assert_cmpuint (close_code_of (victim), ==, CRIER_ADMIN_KICK_RECONNECT_CODE);
  }
  {
    g_autofree char *p = g_strdup_printf ("{\"session\":\"%s\",\"reconnect\":false,\"reason\":\"banned\"}",
                                          sub2->client);
    g_autoptr(JsonObject) r = admin_call (&a, "kick", p);

    g_assert_cmpint (json_object_get_int_member (r, "code"), ==, CRIER_ADMIN_KICK_TERMINAL_CODE);
    g_assert_cmpstr (json_object_get_string_member (r, "reason"), ==, "banned");
    g_assert_cmpuint (close_code_of (sub2), ==, CRIER_ADMIN_KICK_TERMINAL_CODE);
  }
  WAIT_UNTIL (crier_hub_get_stats (crier_server_get_hub (f.server))->sessions == 1);
  {
    /* Anonymous clients have the user "". */
    g_autoptr(JsonObject) r = admin_call (&a, "kick", "{\"user\":\"\",\"code\":4001}");

    g_assert_cmpint (json_object_get_int_member (r, "kicked"), ==, 1);
    g_assert_true (json_object_get_boolean_member (r, "reconnect"));
    g_assert_cmpuint (close_code_of (sub1), ==, 4001);
  }
  WAIT_UNTIL (crier_hub_get_stats (crier_server_get_hub (f.server))->sessions == 0);

  /* alerts, history, stats */
  {
    g_autoptr(JsonObject) alerts = admin_call (&a, "list_alerts", NULL);

    g_assert_true (json_object_get_boolean_member (alerts, "enabled"));
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (alerts, "active")), ==, 0);
    g_assert_true (json_object_has_member (alerts, "recent"));
  }
  {
    g_autoptr(JsonObject) history = admin_call (&a, "get_history", "{\"metrics\":[\"connections\",\"rss_bytes\"]}");
    JsonObject *series = json_object_get_object_member (history, "series");
    guint n = json_array_get_length (json_object_get_array_member (history, "timestamps"));

    g_assert_cmpuint (n, >=, 1);
    g_assert_cmpuint (json_object_get_size (series), ==, 2);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (series, "rss_bytes")), ==, n);
  }
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) stats = admin_call (&a, "get_stats", NULL);
    g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), stats);
    g_autoptr(CrierAdminStats) s = crier_admin_stats_from_json (node, &error);

    g_assert_no_error (error);
    g_assert_cmpfloat (s->rss_bytes, >, 0);
    g_assert_cmpfloat (s->broker_up, ==, 1);
  }

  /* A binary frame is a protocol violation. */
  test_ws_send (a.fd, CRIER_WS_OP_BINARY, TRUE, "x", 1);
  g_assert_null (admin_read (&a, 5000));
  g_assert_cmpuint (a.close_code, ==, 1003);
  admin_close (&a);
  WAIT_UNTIL (crier_admin_get_n_clients (fixture_admin (&f)) == 0);

  fixture_stop (&f);
}

static void
test_watch_sessions (void)
{
  Fixture f = { 0 };
  Admin a;
  Client *c;
  g_autofree char *id = NULL;

  fixture_start (&f, NULL);
  admin_open (&a, f.socket_path);
  {
    g_autoptr(JsonObject) r = admin_call (&a, "watch_sessions", NULL);

    g_assert_true (json_object_get_boolean_member (r, "watching"));
  }

  c = client_new (f.server, NULL);
  id = g_strdup (c->client);
  {
    g_autoptr(JsonObject) ev = admin_wait_event (&a, "session_opened", 3000);

    g_assert_nonnull (ev);
    g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (ev, "session"), "id"), ==, id);
  }
  client_free (c);
  {
    g_autoptr(JsonObject) ev = admin_wait_event (&a, "session_closed", 3000);

    g_assert_nonnull (ev);
    g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (ev, "session"), "id"), ==, id);
  }

  /* Stop watching: no more events. */
  {
    g_autoptr(JsonObject) r = admin_call (&a, "watch_sessions", "{\"enable\":false}");
    g_autoptr(Client) again = client_new (f.server, NULL);
    g_autoptr(JsonObject) ev = admin_wait_event (&a, "session_opened", 1500);

    g_assert_false (json_object_get_boolean_member (r, "watching"));
    g_assert_null (ev);
  }
  admin_close (&a);
  fixture_stop (&f);
}

/* inspect_session's last activity follows what the client sends, and its
 * ping RTT appears once the client has answered a protocol ping. */
static gint64
inspect_last_activity (Admin      *a,
                       const char *id,
                       double     *rtt_ms)
{
  g_autofree char *params = g_strdup_printf ("{\"session\":\"%s\"}", id);
  g_autoptr(JsonObject) r = admin_call (a, "inspect_session", params);
  JsonNode *rtt = json_object_get_member (r, "ping_rtt_ms");
  JsonNode *at = json_object_get_member (r, "last_activity_at");

  g_assert_nonnull (rtt);
  g_assert_nonnull (at);
  *rtt_ms = JSON_NODE_HOLDS_NULL (rtt) ? NAN : json_node_get_double (rtt);
  return JSON_NODE_HOLDS_NULL (at) ? 0 : json_node_get_int (at);
}

static void
test_inspect_activity_rtt (void)
{
  /* Pings every second; a pong is due within 0.9 s. */
  const char * const extra[] = { "websocket.pong_timeout=900ms", "websocket.ping_interval=1s", NULL };
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  Fixture f = { 0 };
  Admin a;
  Client *c;
  gint64 before = g_get_real_time () / 1000;
  gint64 first, second, third = 0;
  double rtt = 0;
  guint8 op = 0;
  gboolean pinged = FALSE;

  fixture_start (&f, extra);
  admin_open (&a, f.socket_path);
  c = client_new (f.server, "news");

  /* No ping answered yet: RTT unknown; activity is the connect/subscribe. */
  first = inspect_last_activity (&a, c->client, &rtt);
  g_assert_true (isnan (rtt));
  g_assert_cmpint (first, >=, before - 1000);
  g_assert_cmpint (first, <=, g_get_real_time () / 1000);

  /* A command moves it. */
  iterate_for (30);
  client_command (c, "subscribe", "{\"channel\":\"other\"}");
  second = inspect_last_activity (&a, c->client, &rtt);
  g_assert_cmpint (second, >, first);

  /* Wait for the server's ping ("{}") and answer it. */
  for (guint i = 0; i < 20 && !pinged; i++)
    {
      g_assert_true (test_ws_read_frame (c->fd, &op, payload, 3000));
      pinged = op == CRIER_WS_OP_TEXT && payload->len == 2 && memcmp (payload->data, "{}", 2) == 0;
    }
  g_assert_true (pinged);
  iterate_for (20);
  test_ws_send (c->fd, CRIER_WS_OP_TEXT, TRUE, "{}", 2);
  for (guint i = 0; i < 100 && isnan (rtt); i++)
    {
      iterate_for (10);
      third = inspect_last_activity (&a, c->client, &rtt);
    }
  g_test_message ("ping rtt %.3f ms", rtt);
  /* The pong came at least 20 ms after the ping, within the pong timeout. */
  g_assert_true (isfinite (rtt));
  g_assert_cmpfloat (rtt, >=, 15);
  g_assert_cmpfloat (rtt, <, 900);
  g_assert_cmpint (third, >, second);

  /* list_sessions carries the same fields. */
  {
    g_autoptr(JsonObject) r = admin_call (&a, "list_sessions", NULL);
    JsonObject *s = json_array_get_object_element (json_object_get_array_member (r, "sessions"), 0);

    g_assert_true (json_object_has_member (s, "last_activity_at"));
    g_assert_false (json_object_get_null_member (s, "ping_rtt_ms"));
  }

  client_free (c);
  admin_close (&a);
  fixture_stop (&f);
}

/* A sample's latency_p99_ms, -inf when null. */
static double
stats_p99 (JsonObject *s)
{
  JsonNode *n = json_object_get_member (s, "latency_p99_ms");

  g_assert_nonnull (n);
  return JSON_NODE_HOLDS_NULL (n) ? -INFINITY : json_node_get_double (n);
}

/* The stats stream shows real traffic within 2 s. */
static void
test_stats_stream (void)
{
  Fixture f = { 0 };
  Admin a;
  Client *clients[3];
  gint64 start;
  gboolean seen = FALSE;
  double p99 = -INFINITY;

  fixture_start (&f, NULL);
  admin_open (&a, f.socket_path);
  {
    g_autoptr(JsonObject) r = admin_call (&a, "watch_stats", NULL);

    g_assert_true (json_object_get_boolean_member (r, "watching"));
    g_assert_true (json_object_has_member (r, "stats"));
  }

  for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
    clients[i] = client_new (f.server, "news");
  for (guint i = 0; i < 5; i++)
    {
      g_autoptr(JsonObject) r = admin_call (&a, "broadcast", "{\"channels\":[\"news\"],\"data\":\"1\"}");
    }
  start = g_get_monotonic_time ();
  /* Drop the stats that arrived before the traffic (a sample taken while
   * the broadcasts went out may hold their latency). */
  while (!g_queue_is_empty (&a.events))
    {
      g_autoptr(JsonNode) node = g_queue_pop_head (&a.events);
      JsonObject *ev = json_node_get_object (node);

      if (json_object_has_member (ev, "stats"))
        p99 = MAX (p99, stats_p99 (json_object_get_object_member (ev, "stats")));
    }

  while (!seen && g_get_monotonic_time () - start < 2 * G_USEC_PER_SEC)
    {
      g_autoptr(JsonObject) ev = admin_wait_event (&a, "stats", 2000);
      JsonObject *s;
      JsonObject *totals;

      if (ev == NULL)
        break;
      s = json_object_get_object_member (ev, "stats");
      totals = json_object_get_object_member (s, "totals");
      p99 = MAX (p99, stats_p99 (s));
      if (json_object_get_double_member (s, "connections") == 3 &&
          json_object_get_int_member (totals, "publications") >= 5 &&
          json_object_get_int_member (totals, "deliveries") >= 15 &&
          json_object_get_double_member (s, "subscriptions") == 3 &&
          json_object_get_int_member (json_object_get_object_member (s, "transports"), "websocket") == 3)
        seen = TRUE;
    }
  g_test_message ("stats reflected the traffic after %" G_GINT64_FORMAT " ms",
                  (g_get_monotonic_time () - start) / 1000);
  g_assert_true (seen);
  /* The hub's histogram gives a real p99 for the interval of the
   * deliveries (publish to hand-over on one loop: well under a second). */
  g_test_message ("latency p99 %.3f ms", p99);
  g_assert_true (isfinite (p99));
  g_assert_cmpfloat (p99, >, 0);
  g_assert_cmpfloat (p99, <, 1000);

  for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
    client_free (clients[i]);
  /* Disconnects show up as well, with their reason. */
  {
    gboolean gone = FALSE;

    for (guint i = 0; i < 5 && !gone; i++)
      {
        g_autoptr(JsonObject) ev = admin_wait_event (&a, "stats", 2000);
        JsonObject *s = ev != NULL ? json_object_get_object_member (ev, "stats") : NULL;

        g_assert_nonnull (s);
        gone = json_object_get_double_member (s, "connections") == 0 &&
               json_object_get_int_member (json_object_get_object_member (s, "totals"), "disconnects") >= 3;
      }
    g_assert_true (gone);
  }
  admin_close (&a);
  fixture_stop (&f);
}

/* ---- paging over 10,000 sessions, and a slow watcher ---------------------- */

static gboolean
dummy_send_encoded (CrierSession *session,
                    GBytes       *frame)
{
  return TRUE;
}

static gboolean
dummy_send_push (CrierSession *session,
                 const char   *push_json)
{
  return TRUE;
}

static void
dummy_disconnect (CrierSession *session,
                  guint         code,
                  const char   *reason)
{
}

static const CrierSessionClass dummy_class = {
  .transport = "dummy",
  .send_encoded = dummy_send_encoded,
  .send_push = dummy_send_push,
  .disconnect = dummy_disconnect,
};

#define N_FAKE 10000

static void
test_paging (void)
{
  Fixture f = { 0 };
  CrierHub *hub;
  g_autoptr(GPtrArray) fakes = g_ptr_array_new ();
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  char previous[32] = "";
  Admin a;
  Admin slow;
  gint64 t0;

  fixture_start (&f, NULL);
  hub = crier_server_get_hub (f.server);
  for (guint i = 0; i < N_FAKE; i++)
    {
      CrierSession *s = crier_session_new (&dummy_class, NULL, CRIER_ENC_CF_WS);
      g_autofree char *user = g_strdup_printf ("user-%05u", (i * 7919) % N_FAKE);

      crier_session_set_identity (s, user, NULL);
      s->remote = g_strdup_printf ("10.%u.%u.%u:%u", i / 65536, (i / 256) % 256, i % 256, 1024 + i % 50000);
      s->connected_at = G_GINT64_CONSTANT (1700000000000000) + i;
      crier_hub_add_session (hub, s);
      g_ptr_array_add (fakes, s);
    }

  admin_open (&a, f.socket_path);
  t0 = g_get_monotonic_time ();
  for (guint page = 1; page <= 10; page++)
    {
      g_autofree char *p = g_strdup_printf ("{\"page\":%u,\"page_size\":1000,\"sort\":\"user\"}", page);
      g_autoptr(JsonObject) r = admin_call (&a, "list_sessions", p);
      JsonArray *sessions = json_object_get_array_member (r, "sessions");

      g_assert_cmpint (json_object_get_int_member (r, "total"), ==, N_FAKE);
      g_assert_cmpint (json_object_get_int_member (r, "pages"), ==, 10);
      g_assert_cmpuint (json_array_get_length (sessions), ==, 1000);
      for (guint i = 0; i < 1000; i++)
        {
          JsonObject *s = json_array_get_object_element (sessions, i);
          const char *user = json_object_get_string_member (s, "user");

          g_assert_cmpstr (json_object_get_string_member (s, "transport"), ==, "dummy");
          g_assert_true (json_object_get_null_member (s, "bytes_out"));
          g_assert_cmpstr (previous, <, user);
          g_strlcpy (previous, user, sizeof previous);
          g_assert_true (g_hash_table_add (seen, g_strdup (json_object_get_string_member (s, "id"))));
        }
    }
  g_test_message ("10 pages of 1000 out of %u sessions in %" G_GINT64_FORMAT " ms", N_FAKE,
                  (g_get_monotonic_time () - t0) / 1000);
  g_assert_cmpuint (g_hash_table_size (seen), ==, N_FAKE);

  /* Past the end, filters, descending order. */
  {
    g_autoptr(JsonObject) r = admin_call (&a, "list_sessions", "{\"page\":11,\"page_size\":1000}");

    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (r, "sessions")), ==, 0);
  }
  {
    g_autoptr(JsonObject) r = admin_call (&a, "list_sessions", "{\"user\":\"user-0999\"}");

    g_assert_cmpint (json_object_get_int_member (r, "total"), ==, 10);
  }
  {
    g_autoptr(JsonObject) r = admin_call (&a, "list_sessions", "{\"remote\":\"10.0.1.\",\"transport\":\"dum\"}");

    g_assert_cmpint (json_object_get_int_member (r, "total"), ==, 256);
  }
  {
    g_autoptr(JsonObject) r = admin_call (&a, "list_sessions", "{\"sort\":\"user\",\"order\":\"desc\",\"page_size\":1}");
    JsonObject *s = json_array_get_object_element (json_object_get_array_member (r, "sessions"), 0);

    g_assert_cmpstr (json_object_get_string_member (s, "user"), ==, "user-09999");
  }
  {
    /* Newest first: connected_at grows with i. */
    g_autoptr(JsonObject) r = admin_call (&a, "list_sessions", "{\"order\":\"desc\",\"page_size\":1}");
    JsonObject *s = json_array_get_object_element (json_object_get_array_member (r, "sessions"), 0);
    CrierSession *last = g_ptr_array_index (fakes, N_FAKE - 1);

    g_assert_cmpstr (json_object_get_string_member (s, "id"), ==, last->id);
  }

  /* A watcher that asks for big pages and never reads is evicted by the
   * engine's outbound limits; the others are not disturbed, and admin
   * evictions do not count as client evictions. */
  admin_open (&slow, f.socket_path);
  for (guint i = 0; i < 12; i++)
    {
      g_autofree char *p = g_strdup_printf ("{\"id\":%u,\"type\":\"list_sessions\",\"params\":{\"page_size\":1000}}", i + 1);

      admin_send_raw (&slow, p);
    }
  WAIT_UNTIL (crier_admin_get_n_clients (fixture_admin (&f)) == 1);
  g_assert_cmpuint (crier_engine_get_stats (crier_server_get_engine (f.server))->closed[CRIER_CLOSE_SLOW], ==, 1);
  {
    g_autoptr(JsonObject) hello = admin_call (&a, "hello", NULL);
    g_autoptr(JsonObject) stats = NULL;

    /* The next sample leaves the admin eviction out. */
    iterate_for (1100);
    stats = admin_call (&a, "get_stats", NULL);
    g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (stats, "totals"), "evictions"), ==, 0);
  }
  admin_close (&slow);
  admin_close (&a);

  for (guint i = 0; i < fakes->len; i++)
    {
      crier_hub_remove_session (hub, g_ptr_array_index (fakes, i));
      crier_session_free (g_ptr_array_index (fakes, i));
    }
  fixture_stop (&f);
}

/* ---- alerts from a rule ----------------------------------------------------- */

static void
test_alert_listener_cap (void)
{
  /* The admin connection counts against the cap too: 2 leaves room for
   * one client connection. */
  const char * const extra[] = { "server.max_connections=2", NULL };
  Fixture f = { 0 };
  Admin a;
  int fds[3];

  fixture_start (&f, extra);
  admin_open (&a, f.socket_path);
  {
    g_autoptr(JsonObject) r = admin_call (&a, "watch_alerts", NULL);

    g_assert_true (json_object_get_boolean_member (r, "watching"));
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (r, "active")), ==, 0);
  }

  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    fds[i] = test_tcp_connect (crier_server_get_port (f.server));
  WAIT_UNTIL (crier_server_get_budget (f.server)->refused_cap > 0);

  {
    g_autoptr(JsonObject) ev = admin_wait_event (&a, "alert_raised", 3000);
    JsonObject *alert;

    g_assert_nonnull (ev);
    alert = json_object_get_object_member (ev, "alert");
    g_assert_cmpstr (json_object_get_string_member (alert, "metric"), ==, "refusals_per_s");
    g_assert_cmpstr (json_object_get_string_member (alert, "kind"), ==, "rule");
    g_assert_cmpstr (json_object_get_string_member (alert, "severity"), ==, "warning");
    g_assert_true (json_object_get_null_member (alert, "end_time"));
  }
  {
    g_autoptr(JsonObject) alerts = admin_call (&a, "list_alerts", NULL);

    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (alerts, "active")), ==, 1);
  }
  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    close (fds[i]);

  /* No more refusals: the rule resolves it after 10 calm samples, live. */
  {
    gint64 start = g_get_monotonic_time ();
    g_autoptr(JsonObject) ev = admin_wait_event (&a, "alert_resolved", 20000);
    JsonObject *alert;

    g_assert_nonnull (ev);
    g_test_message ("resolved after %" G_GINT64_FORMAT " ms", (g_get_monotonic_time () - start) / 1000);
    alert = json_object_get_object_member (ev, "alert");
    g_assert_cmpstr (json_object_get_string_member (alert, "metric"), ==, "refusals_per_s");
    g_assert_cmpint (json_object_get_int_member (alert, "end_time"), >=,
                     json_object_get_int_member (alert, "start_time"));
    /* Hysteresis: not at the first calm sample. */
    g_assert_cmpint (g_get_monotonic_time () - start, >=, 5 * G_USEC_PER_SEC);
  }
  {
    g_autoptr(JsonObject) alerts = admin_call (&a, "list_alerts", NULL);

    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (alerts, "active")), ==, 0);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (alerts, "recent")), ==, 1);
  }
  admin_close (&a);
  fixture_stop (&f);
}

/* ---- Prometheus ------------------------------------------------------------- */

static void
check_exposition (const char *text)
{
  static const char * const required[] = {
    "crier_connections", "crier_connects_total", "crier_disconnects_total",
    "crier_publications_total", "crier_deliveries_total", "crier_bytes_sent_total",
    "crier_bytes_received_total", "crier_delivery_latency_seconds", "crier_evictions_total",
    "crier_rejections_total", "crier_channels", "crier_subscriptions", "crier_history_bytes",
    "process_resident_memory_bytes", "crier_loop_lag_seconds", "crier_broker_up",
    "crier_alerts_active",
  };
  g_autoptr(GRegex) sample_re = g_regex_new ("^([a-zA-Z_:][a-zA-Z0-9_:]*)"
                                             "(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\\n]|\\\\.)*\""
                                             "(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\\n]|\\\\.)*\")*\\})?"
                                             " (\\S+)$", 0, 0, NULL);
  g_autoptr(GHashTable) help = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) type = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  guint n_samples = 0;

  g_assert_true (g_str_has_suffix (text, "\n"));
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];
      g_autoptr(GMatchInfo) match = NULL;
      g_autofree char *name = NULL;
      g_autofree char *value = NULL;
      char *end = NULL;
      const char *family;

      if (line[0] == '\0')
        continue;
      if (g_str_has_prefix (line, "# HELP "))
        {
          g_auto(GStrv) parts = g_strsplit (line + 7, " ", 2);

          g_assert_nonnull (parts[1]);
          g_assert_true (g_hash_table_add (help, g_strdup (parts[0])));
          continue;
        }
      if (g_str_has_prefix (line, "# TYPE "))
        {
          g_auto(GStrv) parts = g_strsplit (line + 7, " ", 2);

          g_assert_nonnull (parts[1]);
          g_assert_true (g_strv_contains ((const char * const[]) { "counter", "gauge", "summary", "histogram",
                                                                  "untyped", NULL }, parts[1]));
          g_hash_table_insert (type, g_strdup (parts[0]), g_strdup (parts[1]));
          continue;
        }
      g_assert_false (line[0] == '#');
      if (!g_regex_match (sample_re, line, 0, &match))
        g_error ("not a sample line: \"%s\"", line);
      name = g_match_info_fetch (match, 1);
      value = g_match_info_fetch (match, 6);
      if (!g_str_equal (value, "NaN") && !g_str_equal (value, "+Inf") && !g_str_equal (value, "-Inf"))
        {
          g_ascii_strtod (value, &end);
          g_assert_true (end != NULL && *end == '\0');
        }
      /* Every sample belongs to a family with HELP and TYPE. */
      family = name;
      if (!g_hash_table_contains (type, family))
        {
          if (g_str_has_suffix (name, "_sum") || g_str_has_suffix (name, "_count"))
            name[strlen (name) - (g_str_has_suffix (name, "_sum") ? 4 : 6)] = '\0';
        }
      g_assert_true (g_hash_table_contains (type, family));
      g_assert_true (g_hash_table_contains (help, family));
      if (g_str_has_suffix (family, "_total"))
        g_assert_cmpstr (g_hash_table_lookup (type, family), ==, "counter");
      n_samples++;
    }
  g_assert_cmpuint (n_samples, >, 20);
  for (guint i = 0; i < G_N_ELEMENTS (required); i++)
    {
      if (!g_hash_table_contains (type, required[i]))
        g_error ("/metrics lacks %s", required[i]);
    }
  g_assert_cmpstr (g_hash_table_lookup (type, "crier_delivery_latency_seconds"), ==, "summary");
}

static void
test_metrics (void)
{
  const char * const extra[] = { "admin.metrics_on_client_listener=true", NULL };
  Fixture f = { 0 };
  Fixture plain = { 0 };
  g_autofree char *headers = NULL;
  g_autofree char *body = NULL;
  g_autoptr(Client) c = NULL;
  guint status;

  fixture_start (&f, extra);
  c = client_new (f.server, "news");
  /* Let a sample see the client. */
  {
    Admin a;
    g_autoptr(JsonObject) r = NULL;
    g_autoptr(JsonObject) ev = NULL;

    admin_open (&a, f.socket_path);
    r = admin_call (&a, "watch_stats", NULL);
    for (guint i = 0; i < 3; i++)
      {
        g_clear_pointer (&ev, json_object_unref);
        ev = admin_wait_event (&a, "stats", 2000);
        g_assert_nonnull (ev);
        if (json_object_get_double_member (json_object_get_object_member (ev, "stats"), "connections") == 1)
          break;
      }
    admin_close (&a);
  }

  status = http_exchange (unix_connect (f.socket_path),
                          "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", &headers, &body);
  g_assert_cmpuint (status, ==, 200);
  g_assert_nonnull (strstr (headers, "text/plain; version=0.0.4"));
  check_exposition (body);
  g_assert_nonnull (strstr (body, "\ncrier_connections{transport=\"websocket\"} 1\n"));
  g_assert_nonnull (strstr (body, "\ncrier_broker_up 1\n"));
  g_assert_nonnull (strstr (body, "crier_disconnects_total{reason=\"slow\"} 0\n"));

  /* Keep-alive on the admin socket (its connections reach libsoup through
   * soup_server_accept_iostream): a scraper's second request, pipelined on
   * the same connection, is answered too. */
  {
    g_autofree char *headers2 = NULL;
    g_autofree char *body2 = NULL;

    status = http_exchange (unix_connect (f.socket_path),
                            "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n"
                            "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                            &headers2, &body2);
    g_assert_cmpuint (status, ==, 200);
    g_assert_null (strstr (headers2, "Connection: close"));
    g_assert_nonnull (strstr (body2, "HTTP/1.1 200 OK\r\n"));
  }

  /* On the client listener only when asked for. */
  g_clear_pointer (&body, g_free);
  g_assert_cmpuint (test_http_request (crier_server_get_port (f.server), "GET", "/metrics", NULL, &body), ==, 200);
  check_exposition (body);
  fixture_start (&plain, NULL);
  g_assert_cmpuint (test_http_request (crier_server_get_port (plain.server), "GET", "/metrics", NULL, NULL), ==, 404);
  fixture_stop (&plain);

  /* Unknown admin paths. */
  g_clear_pointer (&body, g_free);
  status = http_exchange (unix_connect (f.socket_path),
                          "GET /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", NULL, &body);
  g_assert_cmpuint (status, ==, 404);

  g_clear_pointer (&c, client_free);
  fixture_stop (&f);
}

int
main (int   argc,
      char *argv[])
{
  test_init (&argc, &argv);

  g_test_add_func ("/admin/codec/requests", test_codec_requests);
  g_test_add_func ("/admin/codec/messages", test_codec_messages);
  g_test_add_func ("/admin/codec/default-socket-path", test_default_socket_path);
  g_test_add_func ("/admin/histogram", test_histogram);
  g_test_add_func ("/admin/anomaly-settings", test_anomaly_settings);
  g_test_add_func ("/admin/socket/permissions", test_socket_permissions);
  g_test_add_func ("/admin/socket/default-path", test_socket_default_path);
  g_test_add_func ("/admin/socket/stale-and-live", test_socket_stale_and_live);
  g_test_add_func ("/admin/socket/uid-check", test_peer_uid_check);
  g_test_add_func ("/admin/socket/other-uid-refused", test_peer_other_uid_refused);
  g_test_add_func ("/admin/tcp/token", test_tcp_token);
  g_test_add_func ("/admin/tcp/request-timeout", test_tcp_request_timeout);
  g_test_add_func ("/admin/tcp/max-connections", test_tcp_max_connections);
  g_test_add_func ("/admin/commands", test_commands);
  g_test_add_func ("/admin/watch-sessions", test_watch_sessions);
  g_test_add_func ("/admin/stats-stream", test_stats_stream);
  g_test_add_func ("/admin/inspect/activity-rtt", test_inspect_activity_rtt);
  g_test_add_func ("/admin/paging", test_paging);
  g_test_add_func ("/admin/alerts/listener-cap", test_alert_listener_cap);
  g_test_add_func ("/admin/metrics", test_metrics);

  return g_test_run ();
}
