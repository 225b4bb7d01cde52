/* test-api.c: the server HTTP API (/api/<method>) and POST /pub/<channel>,
 * over raw HTTP/1.1, with raw WebSocket clients where a method acts on
 * connections (presence, disconnect, unsubscribe, subscribe). */
#include "config.h"

#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "crier-api.h"
#include "crier-hub.h"
#include "crier-util.h"
#include "crier-ws-codec.h"
#include "test-utils.h"

#define KEY_HEADER "X-API-Key: k1\r\n"

/* The configuration most tests run with: two keys, history and presence in
 * the default namespace, a namespace "plain" without either. */
static const char *const default_overrides[] = {
  "auth.api_keys=k1,k2",
  "auth.allow_anonymous=true",
  "auth.hmac_secret=test-secret",
  "channels.history_size=10",
  "channels.presence=true",
  "namespace.plain.history_size=0",
  NULL
};

/* ---- HTTP --------------------------------------------------------------- */

/* POST @path with @headers (lines ending in \r\n, or NULL) and @body. */
static guint
http_post (CrierServer *server,
           const char  *path,
           const char  *headers,
           const char  *body,
           char       **out_headers,
           char       **out_body)
{
  g_autofree char *request = NULL;

  request = g_strdup_printf ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                             "%sContent-Length: %zu\r\n\r\n%s",
                             path, headers != NULL ? headers : "", strlen (body), body);
  return test_http_raw (crier_server_get_port (server), request, strlen (request),
                        out_headers, out_body);
}

static JsonNode *
parse_json (const char *text)
{
  g_autoptr(GError) error = NULL;
  JsonNode *node = json_from_string (text, &error);

  g_assert_no_error (error);
  g_assert_nonnull (node);
  return node;
}

/* POST /api/@method with key k1; asserts @status and returns the JSON. */
static JsonNode *
api_call_status (CrierServer *server,
                 const char  *method,
                 const char  *body,
                 guint        status)
{
  g_autofree char *path = g_strconcat ("/api/", method, NULL);
  g_autofree char *reply = NULL;

  g_assert_cmpuint (http_post (server, path, KEY_HEADER, body, NULL, &reply), ==, status);
  return parse_json (reply);
}

/* The "result" object of a successful call. */
static JsonNode *
api_call (CrierServer *server,
          const char  *method,
          const char  *body)
{
  JsonNode *node = api_call_status (server, method, body, 200);
  JsonObject *object = json_node_get_object (node);

  if (!json_object_has_member (object, "result"))
    g_error ("%s %s: no result in %s", method, body, json_to_string (node, FALSE));
  return node;
}

static JsonObject *
result_of (JsonNode *node)
{
  return json_object_get_object_member (json_node_get_object (node), "result");
}

/* Asserts {"error":{"code":@code,...}} and returns the message. */
static const char *
error_of (JsonNode *node,
          gint64    code)
{
  JsonObject *error = json_object_get_object_member (json_node_get_object (node), "error");

  g_assert_nonnull (error);
  g_assert_cmpint (json_object_get_int_member (error, "code"), ==, code);
  return json_object_get_string_member (error, "message");
}

/* Asserts an API error reply with HTTP @status, @code and a message
 * containing @fragment. */
static void
assert_api_error (CrierServer *server,
                  const char  *method,
                  const char  *body,
                  guint        status,
                  gint64       code,
                  const char  *fragment)
{
  g_autoptr(JsonNode) node = api_call_status (server, method, body, status);
  const char *message = error_of (node, code);

  if (strstr (message, fragment) == NULL)
    g_error ("%s %s: message \"%s\" lacks \"%s\"", method, body, message, fragment);
}

static guint64
rejected (CrierServer    *server,
          CrierApiReject  reason)
{
  return crier_api_get_stats (server)->rejected[reason];
}

/* ---- WebSocket clients -------------------------------------------------- */

typedef struct
{
  int     fd;
  GQueue  lines;        /* char*: JSON lines not read yet */
  char   *client;       /* id from the connect reply */
  guint   close_code;   /* from the server's close frame */
  guint   next_id;
} WsClient;

static void
ws_send (WsClient   *ws,
         const char *json)
{
  test_ws_send (ws->fd, CRIER_WS_OP_TEXT, TRUE, json, strlen (json));
}

/* The next reply or push (pings skipped); NULL once closed. */
static char *
ws_next (WsClient *ws)
{
  g_autoptr(GByteArray) payload = g_byte_array_new ();

  while (g_queue_is_empty (&ws->lines))
    {
      guint8 opcode;

      if (ws->close_code != 0 || !test_ws_read_frame (ws->fd, &opcode, payload, 10000))
        return NULL;
      if (opcode == CRIER_WS_OP_CLOSE)
        {
          ws->close_code = payload->len >= 2 ? (payload->data[0] << 8) | payload->data[1] : 1005;
          return NULL;
        }
      if (opcode == CRIER_WS_OP_TEXT)
        {
          g_autofree char *text = g_strndup ((const char *) payload->data, payload->len);
          g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

          for (guint i = 0; lines[i] != NULL; i++)
            if (lines[i][0] != '\0' && strcmp (lines[i], "{}") != 0)
              g_queue_push_tail (&ws->lines, g_strdup (lines[i]));
        }
    }
  return g_queue_pop_head (&ws->lines);
}

/* Reads until a line contains @fragment; returns it parsed. */
static JsonNode *
ws_wait_for (WsClient   *ws,
             const char *fragment)
{
  for (;;)
    {
      g_autofree char *line = ws_next (ws);

      if (line == NULL)
        g_error ("connection closed (%u) while waiting for %s", ws->close_code, fragment);
      if (strstr (line, fragment) != NULL)
        return parse_json (line);
    }
}

/* Sends a command with the next id and returns its reply. */
static JsonNode *
ws_command (WsClient   *ws,
            const char *method,
            const char *params)
{
  guint id = ++ws->next_id;
  g_autofree char *command = g_strdup_printf ("{\"id\":%u,\"%s\":%s}", id, method, params);
  g_autofree char *fragment = g_strdup_printf ("\"id\":%u,", id);
  g_autoptr(JsonNode) reply = NULL;
  JsonObject *object;

  ws_send (ws, command);
  reply = ws_wait_for (ws, fragment);
  object = json_node_get_object (reply);
  if (!json_object_has_member (object, method))
    g_error ("%s failed: %s", command, json_to_string (reply, FALSE));
  return g_steal_pointer (&reply);
}

/* An HS256 connection token for @user. */
static char *
make_token (const char *user)
{
  g_autofree char *claims = g_strdup_printf ("{\"sub\":\"%s\"}", user);

  return test_hs256_token ("test-secret", claims);
}

/* Connected (as @user, or anonymous when NULL) and subscribed to @channel
 * unless it is NULL. */
static WsClient *
ws_connect (CrierServer *server,
            const char  *user,
            const char  *channel)
{
  WsClient *ws = g_new0 (WsClient, 1);
  g_autoptr(JsonNode) reply = NULL;
  g_autofree char *params = NULL;

  g_queue_init (&ws->lines);
  ws->fd = test_tcp_connect (crier_server_get_port (server));
  g_assert_true (test_ws_handshake (ws->fd, "/connection/websocket", NULL));
  if (user != NULL)
    {
      g_autofree char *token = make_token (user);

      params = g_strdup_printf ("{\"token\":\"%s\"}", token);
    }
  reply = ws_command (ws, "connect", params != NULL ? params : "{}");
  ws->client = g_strdup (json_object_get_string_member (json_object_get_object_member (json_node_get_object (reply), "connect"), "client"));
  g_assert_nonnull (ws->client);

  if (channel != NULL)
    {
      g_autofree char *sub = g_strdup_printf ("{\"channel\":\"%s\"}", channel);
      g_autoptr(JsonNode) sub_reply = ws_command (ws, "subscribe", sub);
    }
  return ws;
}

static void
ws_free (WsClient *ws)
{
  close (ws->fd);
  g_queue_clear_full (&ws->lines, g_free);
  g_free (ws->client);
  g_free (ws);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WsClient, ws_free)

/* ---- access ------------------------------------------------------------- */

static void
test_disabled (void)
{
  const char *const overrides[] = { "channels.history_size=10", NULL };
  CrierServer *server = test_server_new (overrides);
  g_autofree char *body = NULL;
  g_autoptr(JsonNode) node = NULL;

  g_assert_cmpuint (http_post (server, "/api/info", KEY_HEADER, "{}", NULL, &body), ==, 403);
  node = parse_json (body);
  g_assert_nonnull (strstr (error_of (node, 101), "api_keys"));
  g_clear_pointer (&body, g_free);
  g_assert_cmpuint (http_post (server, "/pub/news", KEY_HEADER, "{}", NULL, &body), ==, 403);
  g_assert_cmpuint (rejected (server, CRIER_API_REJECT_DISABLED), ==, 2);

  test_server_quit_unref (server);
}

static void
test_auth (void)
{
  CrierServer *server = test_server_new (default_overrides);
  g_autofree char *headers = NULL;
  g_autofree char *body = NULL;
  g_autoptr(JsonNode) node = NULL;

  /* Missing, wrong, wrong scheme. */
  g_assert_cmpuint (http_post (server, "/api/info", NULL, "{}", &headers, &body), ==, 401);
  g_assert_nonnull (strstr (headers, "WWW-Authenticate: apikey"));
  node = parse_json (body);
  error_of (node, 101);
  g_assert_cmpuint (http_post (server, "/api/info", "X-API-Key: k3\r\n", "{}", NULL, NULL), ==, 401);
  g_assert_cmpuint (http_post (server, "/api/info", "X-API-Key: k\r\n", "{}", NULL, NULL), ==, 401);
  g_assert_cmpuint (http_post (server, "/api/info", "X-API-Key: k1k1\r\n", "{}", NULL, NULL), ==, 401);
  g_assert_cmpuint (http_post (server, "/api/info", "Authorization: Bearer k1\r\n", "{}", NULL, NULL), ==, 401);
  g_assert_cmpuint (http_post (server, "/pub/news", "X-API-Key: nope\r\n", "{}", NULL, NULL), ==, 401);
  g_assert_cmpuint (rejected (server, CRIER_API_REJECT_UNAUTHORIZED), ==, 6);

  /* Both header forms, both keys. */
  g_assert_cmpuint (http_post (server, "/api/info", "X-API-Key: k1\r\n", "{}", NULL, NULL), ==, 200);
  g_assert_cmpuint (http_post (server, "/api/info", "X-API-Key: k2\r\n", "{}", NULL, NULL), ==, 200);
  g_assert_cmpuint (http_post (server, "/api/info", "Authorization: apikey k1\r\n", "{}", NULL, NULL), ==, 200);
  g_assert_cmpuint (http_post (server, "/api/info", "Authorization: ApiKey k2\r\n", "{}", NULL, NULL), ==, 200);
  g_assert_cmpuint (rejected (server, CRIER_API_REJECT_UNAUTHORIZED), ==, 6);

  test_server_quit_unref (server);
}

static void
test_method_not_allowed (void)
{
  CrierServer *server = test_server_new (default_overrides);
  const char request[] = "GET /api/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" KEY_HEADER "\r\n";
  const char put[] = "PUT /pub/news HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" KEY_HEADER
                     "Content-Length: 2\r\n\r\n{}";
  g_autofree char *headers = NULL;
  g_autofree char *body = NULL;
  g_autoptr(JsonNode) node = NULL;

  g_assert_cmpuint (test_http_raw (crier_server_get_port (server), request, strlen (request),
                                   &headers, &body), ==, 405);
  g_assert_nonnull (strstr (headers, "Allow: POST"));
  node = parse_json (body);
  g_assert_nonnull (strstr (error_of (node, 107), "POST"));
  g_assert_cmpuint (test_http_raw (crier_server_get_port (server), put, strlen (put), NULL, NULL), ==, 405);
  g_assert_cmpuint (rejected (server, CRIER_API_REJECT_METHOD), ==, 2);

  test_server_quit_unref (server);
}

static void
test_too_large (void)
{
  const char *const overrides[] = { "auth.api_keys=k1", "limits.max_request_body=1KiB", NULL };
  CrierServer *server = test_server_new (overrides);
  guint16 port = crier_server_get_port (server);
  g_autofree char *payload = g_strnfill (2000, 'x');
  g_autofree char *big = g_strdup_printf ("{\"channel\":\"news\",\"data\":\"%s\"}", payload);
  g_autofree char *chunked = NULL;
  g_autofree char *body = NULL;
  g_autoptr(JsonNode) node = NULL;

  /* Announced by Content-Length: refused on the headers. */
  g_assert_cmpuint (http_post (server, "/api/publish", KEY_HEADER, big, NULL, &body), ==, 413);
  node = parse_json (body);
  g_assert_nonnull (strstr (error_of (node, 107), "1024"));

  /* Chunked: refused once the chunks pass the limit. */
  chunked = g_strdup_printf ("POST /pub/news HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" KEY_HEADER
                             "Transfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
                             strlen (big), big);
  g_assert_cmpuint (test_http_raw (port, chunked, strlen (chunked), NULL, NULL), ==, 413);
  g_assert_cmpuint (rejected (server, CRIER_API_REJECT_TOO_LARGE), ==, 2);

  /* A chunked body under the limit is fine. */
  g_clear_pointer (&chunked, g_free);
  chunked = g_strdup ("POST /pub/news HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" KEY_HEADER
                      "Transfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n");
  g_assert_cmpuint (test_http_raw (port, chunked, strlen (chunked), NULL, NULL), ==, 200);

  test_server_quit_unref (server);
}

static void
test_bad_body (void)
{
  CrierServer *server = test_server_new (default_overrides);

  assert_api_error (server, "publish", "{\"channel\":", 400, 107, "not JSON");
  assert_api_error (server, "publish", "[1,2]", 400, 107, "must be a JSON object, not an array");
  assert_api_error (server, "info", "\"info\"", 400, 107, "not a string");
  /* json-glib would decode the octal escape into a byte that is not
   * UTF-8 and every subscriber would receive it. */
  assert_api_error (server, "publish", "{\"channel\":\"news\",\"data\":\"\\200\"}", 400, 107,
                    "string escapes only");
  g_assert_cmpuint (rejected (server, CRIER_API_REJECT_BAD_JSON), ==, 4);

  /* An empty body is an empty object. */
  {
    g_autoptr(JsonNode) node = api_call (server, "info", "");
  }

  test_server_quit_unref (server);
}

static void
test_unknown_method (void)
{
  CrierServer *server = test_server_new (default_overrides);

  assert_api_error (server, "nope", "{}", 404, 104, "unknown method");
  assert_api_error (server, "publish/x", "{}", 404, 104, "unknown method");
  g_assert_cmpuint (http_post (server, "/api", KEY_HEADER, "{}", NULL, NULL), ==, 404);
  g_assert_cmpuint (rejected (server, CRIER_API_REJECT_UNKNOWN_METHOD), ==, 3);

  test_server_quit_unref (server);
}

static void
test_bad_request (void)
{
  CrierServer *server = test_server_new (default_overrides);

  assert_api_error (server, "publish", "{\"data\":1}", 400, 107, "bad request: 'channel' is required");
  assert_api_error (server, "publish", "{\"channel\":5,\"data\":1}", 400, 107, "'channel' must be a string");
  assert_api_error (server, "publish", "{\"channel\":\"\",\"data\":1}", 400, 107, "'channel' must not be empty");
  assert_api_error (server, "publish", "{\"channel\":\"news\"}", 400, 107, "'data' is required");
  assert_api_error (server, "publish", "{\"channel\":\"news\",\"b64data\":\"!!\"}", 400, 107, "base64");
  assert_api_error (server, "publish", "{\"channel\":\"news\",\"data\":1,\"tags\":{\"a\":1}}", 400, 107, "'tags'");
  assert_api_error (server, "broadcast", "{\"channels\":[],\"data\":1}", 400, 107, "'channels'");
  assert_api_error (server, "broadcast", "{\"channels\":[\"a\",2],\"data\":1}", 400, 107, "'channels'");
  assert_api_error (server, "history", "{\"channel\":\"news\",\"limit\":\"x\"}", 400, 107, "'limit' must be an integer");
  assert_api_error (server, "history", "{\"channel\":\"news\",\"limit\":-2}", 400, 107, "'limit'");
  assert_api_error (server, "history", "{\"channel\":\"news\",\"since\":{\"offset\":\"1\"}}", 400, 107, "'since.offset'");
  assert_api_error (server, "presence", "{}", 400, 107, "'channel' is required");
  assert_api_error (server, "disconnect", "{}", 400, 107, "'user' is required");
  assert_api_error (server, "disconnect", "{\"user\":\"42\",\"disconnect\":{\"code\":1000}}", 400, 107, "3000..4999");
  assert_api_error (server, "unsubscribe", "{\"user\":\"42\"}", 400, 107, "'channel' is required");
  assert_api_error (server, "channels", "{\"pattern\":[]}", 400, 107, "'pattern' must be a string");
  assert_api_error (server, "batch", "{\"commands\":{}}", 400, 107, "'commands'");
  assert_api_error (server, "subscribe", "{\"channel\":\"news\"}", 400, 107, "'user' is required");
  assert_api_error (server, "subscribe", "{\"user\":\"42\"}", 400, 107, "'channel' is required");
  assert_api_error (server, "subscribe", "{\"user\":\"42\",\"channel\":\"\"}", 400, 107, "'channel' must not be empty");
  assert_api_error (server, "subscribe", "{\"user\":\"42\",\"channel\":\"news\",\"expire_at\":\"soon\"}",
                    400, 107, "'expire_at' must be an integer");
  assert_api_error (server, "subscribe", "{\"user\":\"42\",\"channel\":\"news\",\"recover_since\":{\"offset\":-1}}",
                    400, 107, "'recover_since'");
  assert_api_error (server, "history_remove", "{}", 400, 107, "'channel' is required");
  assert_api_error (server, "history_remove", "{\"channel\":[\"news\"]}", 400, 107, "'channel' must be a string");
  g_assert_cmpuint (rejected (server, CRIER_API_REJECT_BAD_REQUEST), ==, 24);

  test_server_quit_unref (server);
}

/* Two requests on one connection, the second sent before the first is
 * answered: each gets its own body collector and answer. */
static void
test_keep_alive (void)
{
  CrierServer *server = test_server_new (default_overrides);
  const char requests[] =
    "POST /api/publish HTTP/1.1\r\nHost: x\r\n" KEY_HEADER
    "Content-Length: 27\r\n\r\n{\"channel\":\"news\",\"data\":1}"
    "POST /pub/news HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" KEY_HEADER
    "Content-Length: 1\r\n\r\n2";
  g_autofree char *headers = NULL;
  g_autofree char *rest = NULL;

  g_assert_cmpuint (test_http_raw (crier_server_get_port (server), requests, strlen (requests),
                                   &headers, &rest), ==, 200);
  g_assert_nonnull (strstr (rest, "{\"result\":{\"offset\":1,"));
  g_assert_nonnull (strstr (rest, "HTTP/1.1 200 OK"));
  g_assert_nonnull (strstr (rest, "\"id\":"));
  g_assert_cmpuint (crier_api_get_stats (server)->publications, ==, 2);

  test_server_quit_unref (server);
}

/* ---- methods ------------------------------------------------------------ */

static void
test_publish (void)
{
  CrierServer *server = test_server_new (default_overrides);
  g_autoptr(JsonNode) first = api_call (server, "publish", "{\"channel\":\"news\",\"data\":{\"text\":\"hi\"}}");
  g_autoptr(JsonNode) second = api_call (server, "publish",
                                         "{\"channel\":\"news\",\"data\":{\"n\":12345678901234567890,\"f\":0.1},"
                                         "\"skip_history\":false,\"tags\":{\"k\":\"v\"}}");
  g_autoptr(JsonNode) b64 = api_call (server, "publish", "{\"channel\":\"news\",\"b64data\":\"eyJ4IjoxfQ==\"}");
  g_autoptr(JsonNode) plain = api_call (server, "publish", "{\"channel\":\"plain:x\",\"data\":\"text\"}");
  g_autoptr(JsonNode) history = NULL;
  g_autofree char *history_text = NULL;
  JsonObject *r1 = result_of (first);
  JsonObject *r2 = result_of (second);

  g_assert_cmpint (json_object_get_int_member (r1, "offset"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (r2, "offset"), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (r1, "epoch"), !=, "");
  g_assert_cmpstr (json_object_get_string_member (r1, "epoch"), ==, json_object_get_string_member (r2, "epoch"));
  g_assert_cmpint (json_object_get_int_member (result_of (b64), "offset"), ==, 3);
  /* No history: no offset, no epoch. */
  g_assert_cmpuint (json_object_get_size (result_of (plain)), ==, 0);

  /* Payloads travel as sent, numbers included (json-glib would not keep
   * them), compacted. */
  {
    g_autofree char *reply = NULL;

    g_assert_cmpuint (http_post (server, "/api/history", KEY_HEADER,
                                 "{\"channel\":\"news\",\"limit\":-1}", NULL, &reply), ==, 200);
    history_text = g_steal_pointer (&reply);
  }
  g_assert_nonnull (strstr (history_text, "{\"n\":12345678901234567890,\"f\":0.1}"));
  g_assert_nonnull (strstr (history_text, "{\"x\":1}"));

  /* A member name with an escape is still the member. */
  {
    g_autoptr(JsonNode) escaped = api_call (server, "publish",
                                            "{\"channel\":\"news\",\"d\\u0061ta\" : {\"y\": [ 1 ,2 ]} }");
    g_autofree char *reply = NULL;

    g_assert_cmpint (json_object_get_int_member (result_of (escaped), "offset"), ==, 4);
    g_assert_cmpuint (http_post (server, "/api/history", KEY_HEADER,
                                 "{\"channel\":\"news\",\"limit\":1,\"reverse\":true}", NULL, &reply), ==, 200);
    g_assert_nonnull (strstr (reply, "{\"y\":[1,2]}"));
  }

  /* Unknown namespace: a protocol error, HTTP 200. */
  {
    g_autoptr(JsonNode) node = api_call_status (server, "publish", "{\"channel\":\"nowhere:x\",\"data\":1}", 200);

    error_of (node, 102);
  }
  g_assert_cmpuint (crier_api_get_stats (server)->publications, ==, 5);
  g_assert_cmpuint (crier_api_get_stats (server)->command_errors, ==, 1);

  test_server_quit_unref (server);
}

static void
test_broadcast (void)
{
  CrierServer *server = test_server_new (default_overrides);
  g_autoptr(WsClient) a = ws_connect (server, NULL, "a");
  g_autoptr(WsClient) b = ws_connect (server, NULL, "b");
  g_autoptr(JsonNode) node = api_call (server, "broadcast",
                                       "{\"channels\":[\"a\",\"nowhere:x\",\"b\"],\"data\":{\"v\":1}}");
  JsonArray *responses = json_object_get_array_member (result_of (node), "responses");
  g_autoptr(JsonNode) pub_a = NULL;
  g_autoptr(JsonNode) pub_b = NULL;

  g_assert_cmpuint (json_array_get_length (responses), ==, 3);
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (json_array_get_object_element (responses, 0), "result"), "offset"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (json_array_get_object_element (responses, 1), "error"), "code"), ==, 102);
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (json_array_get_object_element (responses, 2), "result"), "offset"), ==, 1);

  pub_a = ws_wait_for (a, "\"pub\"");
  pub_b = ws_wait_for (b, "\"pub\"");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (json_node_get_object (pub_a), "push"), "channel"), ==, "a");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (json_node_get_object (pub_b), "push"), "channel"), ==, "b");

  g_clear_pointer (&a, ws_free);
  g_clear_pointer (&b, ws_free);
  test_server_quit_unref (server);
}

static gint64
pub_offset (JsonArray *publications,
            guint      index)
{
  return json_object_get_int_member (json_array_get_object_element (publications, index), "offset");
}

static void
test_history (void)
{
  CrierServer *server = test_server_new (default_overrides);
  g_autoptr(JsonNode) position = NULL;
  g_autofree char *epoch = NULL;
  g_autofree char *body = NULL;
  JsonArray *pubs;

  for (int i = 1; i <= 5; i++)
    {
      g_autofree char *publish = g_strdup_printf ("{\"channel\":\"news\",\"data\":{\"i\":%d}}", i);
      g_autoptr(JsonNode) node = api_call (server, "publish", publish);
    }

  /* limit 0: the position only. */
  position = api_call (server, "history", "{\"channel\":\"news\"}");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (result_of (position), "publications")), ==, 0);
  g_assert_cmpint (json_object_get_int_member (result_of (position), "offset"), ==, 5);
  epoch = g_strdup (json_object_get_string_member (result_of (position), "epoch"));

  {
    g_autoptr(JsonNode) node = api_call (server, "history", "{\"channel\":\"news\",\"limit\":-1}");

    pubs = json_object_get_array_member (result_of (node), "publications");
    g_assert_cmpuint (json_array_get_length (pubs), ==, 5);
    g_assert_cmpint (pub_offset (pubs, 0), ==, 1);
    g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (json_array_get_object_element (pubs, 4), "data"), "i"), ==, 5);
  }
  {
    g_autoptr(JsonNode) node = api_call (server, "history", "{\"channel\":\"news\",\"limit\":2}");

    pubs = json_object_get_array_member (result_of (node), "publications");
    g_assert_cmpuint (json_array_get_length (pubs), ==, 2);
    g_assert_cmpint (pub_offset (pubs, 0), ==, 1);
    g_assert_cmpint (pub_offset (pubs, 1), ==, 2);
  }
  {
    g_autofree char *request = g_strdup_printf ("{\"channel\":\"news\",\"limit\":2,\"since\":{\"offset\":2,\"epoch\":\"%s\"}}", epoch);
    g_autoptr(JsonNode) node = api_call (server, "history", request);

    pubs = json_object_get_array_member (result_of (node), "publications");
    g_assert_cmpuint (json_array_get_length (pubs), ==, 2);
    g_assert_cmpint (pub_offset (pubs, 0), ==, 3);
    g_assert_cmpint (pub_offset (pubs, 1), ==, 4);
  }
  {
    g_autoptr(JsonNode) node = api_call (server, "history", "{\"channel\":\"news\",\"limit\":2,\"reverse\":true}");

    pubs = json_object_get_array_member (result_of (node), "publications");
    g_assert_cmpuint (json_array_get_length (pubs), ==, 2);
    g_assert_cmpint (pub_offset (pubs, 0), ==, 5);
    g_assert_cmpint (pub_offset (pubs, 1), ==, 4);
  }
  {
    /* Reversed with since: before that offset, newest first. */
    g_autofree char *request = g_strdup_printf ("{\"channel\":\"news\",\"limit\":2,\"reverse\":true,"
                                                "\"since\":{\"offset\":4,\"epoch\":\"%s\"}}", epoch);
    g_autoptr(JsonNode) node = api_call (server, "history", request);

    pubs = json_object_get_array_member (result_of (node), "publications");
    g_assert_cmpuint (json_array_get_length (pubs), ==, 2);
    g_assert_cmpint (pub_offset (pubs, 0), ==, 3);
    g_assert_cmpint (pub_offset (pubs, 1), ==, 2);
  }

  /* A foreign epoch: 112. No history in the namespace: 108. */
  {
    g_autoptr(JsonNode) node = api_call_status (server, "history",
                                                "{\"channel\":\"news\",\"limit\":1,\"since\":{\"offset\":1,\"epoch\":\"other\"}}", 200);

    error_of (node, 112);
  }
  {
    g_autoptr(JsonNode) node = api_call_status (server, "history", "{\"channel\":\"plain:x\"}", 200);

    error_of (node, 108);
  }
  {
    g_autoptr(JsonNode) node = api_call_status (server, "history_remove", "{\"channel\":\"plain:x\"}", 200);

    error_of (node, 108);
  }
  {
    g_autoptr(JsonNode) node = api_call_status (server, "history", "{\"channel\":\"nowhere:x\"}", 200);

    error_of (node, 102);
  }
  {
    g_autoptr(JsonNode) node = api_call_status (server, "history_remove", "{\"channel\":\"nowhere:x\"}", 200);

    error_of (node, 102);
  }

  /* history_remove drops the publications, keeps the position. */
  {
    g_autoptr(JsonNode) removed = api_call (server, "history_remove", "{\"channel\":\"news\"}");
    g_autoptr(JsonNode) node = api_call (server, "history", "{\"channel\":\"news\",\"limit\":-1}");

    g_assert_cmpuint (json_object_get_size (result_of (removed)), ==, 0);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (result_of (node), "publications")), ==, 0);
    g_assert_cmpint (json_object_get_int_member (result_of (node), "offset"), ==, 5);
    g_assert_cmpstr (json_object_get_string_member (result_of (node), "epoch"), ==, epoch);
  }

  test_server_quit_unref (server);
}

static void
test_batch (void)
{
  CrierServer *server = test_server_new (default_overrides);
  const char *parallel[] = { "", ",\"parallel\":true" };

  for (guint round = 0; round < G_N_ELEMENTS (parallel); round++)
    {
      g_autofree char *request = g_strdup_printf (
        "{\"commands\":["
        "{\"publish\":{\"channel\":\"news\",\"data\":{\"round\":%u}}},"
        "{\"bogus\":{}},"
        "{\"publish\":{\"data\":1}},"
        "42,"
        "{\"publish\":{\"channel\":\"nowhere:x\",\"data\":1}},"
        "{\"history\":{\"channel\":\"news\",\"limit\":-1}},"
        "{\"info\":null}"
        "]%s}", round, parallel[round]);
      g_autofree char *reply = NULL;
      g_autoptr(JsonNode) node = NULL;
      JsonArray *replies;
      JsonObject *publish;
      JsonArray *pubs;

      g_assert_cmpuint (http_post (server, "/api/batch", KEY_HEADER, request, NULL, &reply), ==, 200);
      node = parse_json (reply);
      replies = json_object_get_array_member (json_node_get_object (node), "replies");
      g_assert_cmpuint (json_array_get_length (replies), ==, 7);

      publish = json_object_get_object_member (json_array_get_object_element (replies, 0), "publish");
      g_assert_cmpint (json_object_get_int_member (publish, "offset"), ==, round + 1);
      g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (json_array_get_object_element (replies, 1), "error"), "code"), ==, 104);
      g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (json_array_get_object_element (replies, 2), "error"), "code"), ==, 107);
      g_assert_nonnull (strstr (json_object_get_string_member (json_object_get_object_member (json_array_get_object_element (replies, 2), "error"), "message"), "'channel' is required"));
      g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (json_array_get_object_element (replies, 3), "error"), "code"), ==, 107);
      g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (json_array_get_object_element (replies, 4), "error"), "code"), ==, 102);
      /* In order: the history sees the publish made before it. */
      pubs = json_object_get_array_member (json_object_get_object_member (json_array_get_object_element (replies, 5), "history"), "publications");
      g_assert_cmpuint (json_array_get_length (pubs), ==, round + 1);
      g_assert_true (json_object_has_member (json_object_get_object_member (json_array_get_object_element (replies, 6), "info"), "nodes"));
    }
  /* Batch commands are not rejected requests. */
  g_assert_cmpuint (rejected (server, CRIER_API_REJECT_BAD_REQUEST), ==, 0);
  g_assert_cmpuint (crier_api_get_stats (server)->command_errors, ==, 8);

  /* An empty batch. */
  {
    g_autofree char *reply = NULL;

    g_assert_cmpuint (http_post (server, "/api/batch", KEY_HEADER, "{\"commands\":[]}", NULL, &reply), ==, 200);
    g_assert_cmpstr (g_strstrip (reply), ==, "{\"replies\":[]}");
  }

  test_server_quit_unref (server);
}

static void
test_channels_info (void)
{
  CrierServer *server = test_server_new (default_overrides);
  g_autoptr(JsonNode) empty = api_call (server, "channels", "{}");
  g_autoptr(WsClient) a = NULL;
  g_autoptr(WsClient) b = NULL;
  g_autoptr(WsClient) c = NULL;
  JsonObject *channels;
  JsonObject *info;

  g_assert_cmpuint (json_object_get_size (json_object_get_object_member (result_of (empty), "channels")), ==, 0);

  a = ws_connect (server, NULL, "news");
  b = ws_connect (server, "42", "news");
  c = ws_connect (server, "42", "sport");
  {
    g_autoptr(JsonNode) node = api_call (server, "channels", "{}");

    channels = json_object_get_object_member (result_of (node), "channels");
    g_assert_cmpuint (json_object_get_size (channels), ==, 2);
    g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (channels, "news"), "num_clients"), ==, 2);
    g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (channels, "sport"), "num_clients"), ==, 1);
  }
  {
    g_autoptr(JsonNode) node = api_call (server, "channels", "{\"pattern\":\"ne*\"}");

    channels = json_object_get_object_member (result_of (node), "channels");
    g_assert_cmpuint (json_object_get_size (channels), ==, 1);
    g_assert_true (json_object_has_member (channels, "news"));
  }
  {
    g_autoptr(JsonNode) node = api_call (server, "info", "{}");
    JsonArray *nodes = json_object_get_array_member (result_of (node), "nodes");

    g_assert_cmpuint (json_array_get_length (nodes), ==, 1);
    info = json_array_get_object_element (nodes, 0);
    g_assert_cmpstr (json_object_get_string_member (info, "name"), ==, crier_server_get_node_name (server));
    g_assert_cmpstr (json_object_get_string_member (info, "version"), ==, PACKAGE_VERSION);
    g_assert_cmpuint (strlen (json_object_get_string_member (info, "uid")), ==, 32);
    g_assert_cmpint (json_object_get_int_member (info, "num_clients"), ==, 3);
    g_assert_cmpint (json_object_get_int_member (info, "num_users"), ==, 2);   /* "" and "42" */
    g_assert_cmpint (json_object_get_int_member (info, "num_channels"), ==, 2);
    g_assert_cmpint (json_object_get_int_member (info, "num_subs"), ==, 3);
    g_assert_cmpint (json_object_get_int_member (info, "uptime"), >=, 0);
  }

  g_clear_pointer (&a, ws_free);
  g_clear_pointer (&b, ws_free);
  g_clear_pointer (&c, ws_free);
  test_server_quit_unref (server);
}

static void
test_presence (void)
{
  CrierServer *server = test_server_new (default_overrides);
  g_autoptr(WsClient) a = ws_connect (server, "42", "news");
  g_autoptr(WsClient) b = ws_connect (server, "42", "news");
  g_autoptr(WsClient) c = ws_connect (server, NULL, "news");
  g_autoptr(JsonNode) presence = api_call (server, "presence", "{\"channel\":\"news\"}");
  g_autoptr(JsonNode) stats = api_call (server, "presence_stats", "{\"channel\":\"news\"}");
  JsonObject *clients = json_object_get_object_member (result_of (presence), "presence");
  JsonObject *entry;

  g_assert_cmpuint (json_object_get_size (clients), ==, 3);
  entry = json_object_get_object_member (clients, a->client);
  g_assert_nonnull (entry);
  g_assert_cmpstr (json_object_get_string_member (entry, "client"), ==, a->client);
  g_assert_cmpstr (json_object_get_string_member (entry, "user"), ==, "42");
  entry = json_object_get_object_member (clients, c->client);
  g_assert_cmpstr (json_object_get_string_member (entry, "user"), ==, "");

  g_assert_cmpint (json_object_get_int_member (result_of (stats), "num_clients"), ==, 3);
  g_assert_cmpint (json_object_get_int_member (result_of (stats), "num_users"), ==, 2);

  {
    g_autoptr(JsonNode) node = api_call_status (server, "presence", "{\"channel\":\"plain:x\"}", 200);

    error_of (node, 108);
  }
  {
    g_autoptr(JsonNode) node = api_call_status (server, "presence_stats", "{\"channel\":\"plain:x\"}", 200);

    error_of (node, 108);
  }
  {
    g_autoptr(JsonNode) node = api_call_status (server, "presence_stats", "{\"channel\":\"nowhere:x\"}", 200);

    error_of (node, 102);
  }

  /* A client that leaves leaves the presence too. */
  g_clear_pointer (&c, ws_free);
  {
    gint64 n = 3;

    for (int i = 0; i < 200 && n != 2; i++)
      {
        g_autoptr(JsonNode) node = api_call (server, "presence_stats", "{\"channel\":\"news\"}");

        n = json_object_get_int_member (result_of (node), "num_clients");
        if (n != 2)
          g_usleep (10000);
      }
    g_assert_cmpint (n, ==, 2);
  }

  g_clear_pointer (&a, ws_free);
  g_clear_pointer (&b, ws_free);
  test_server_quit_unref (server);
}

static void
test_disconnect (void)
{
  CrierServer *server = test_server_new (default_overrides);
  g_autoptr(WsClient) a = ws_connect (server, "42", NULL);
  g_autoptr(WsClient) b = ws_connect (server, "42", NULL);
  g_autoptr(WsClient) c = ws_connect (server, "42", NULL);
  g_autoptr(WsClient) other = ws_connect (server, "7", NULL);
  g_autofree char *request = NULL;

  /* One client of the user, with a custom code. */
  request = g_strdup_printf ("{\"user\":\"42\",\"client\":\"%s\",\"disconnect\":{\"code\":4501,\"reason\":\"bye\"}}", a->client);
  {
    g_autoptr(JsonNode) node = api_call (server, "disconnect", request);
  }
  g_assert_null (ws_next (a));
  g_assert_cmpuint (a->close_code, ==, 4501);

  /* The others of the user, but the whitelisted one: 3503 by default. */
  g_clear_pointer (&request, g_free);
  request = g_strdup_printf ("{\"user\":\"42\",\"whitelist\":[\"%s\"]}", c->client);
  {
    g_autoptr(JsonNode) node = api_call (server, "disconnect", request);
  }
  g_assert_null (ws_next (b));
  g_assert_cmpuint (b->close_code, ==, 3503);

  /* c and the other user are still there. */
  {
    g_autoptr(JsonNode) node = ws_command (c, "subscribe", "{\"channel\":\"still-here\"}");
  }
  {
    g_autoptr(JsonNode) node = ws_command (other, "subscribe", "{\"channel\":\"still-here\"}");
  }
  /* Nobody: fine. */
  {
    g_autoptr(JsonNode) node = api_call (server, "disconnect", "{\"user\":\"nobody\"}");
  }

  g_clear_pointer (&a, ws_free);
  g_clear_pointer (&b, ws_free);
  g_clear_pointer (&c, ws_free);
  g_clear_pointer (&other, ws_free);
  test_server_quit_unref (server);
}

static void
test_unsubscribe (void)
{
  CrierServer *server = test_server_new (default_overrides);
  g_autoptr(WsClient) a = ws_connect (server, "42", "news");
  g_autoptr(JsonNode) node = api_call (server, "unsubscribe", "{\"user\":\"42\",\"channel\":\"news\"}");
  g_autoptr(JsonNode) push = ws_wait_for (a, "\"unsubscribe\"");
  JsonObject *body = json_object_get_object_member (json_node_get_object (push), "push");
  JsonObject *unsubscribe = json_object_get_object_member (body, "unsubscribe");

  g_assert_cmpstr (json_object_get_string_member (body, "channel"), ==, "news");
  g_assert_cmpint (json_object_get_int_member (unsubscribe, "code"), ==, 2000);
  g_assert_cmpstr (json_object_get_string_member (unsubscribe, "reason"), ==, "server unsubscribe");

  /* Gone from the channel. */
  {
    g_autoptr(JsonNode) channels = api_call (server, "channels", "{}");

    g_assert_cmpuint (json_object_get_size (json_object_get_object_member (result_of (channels), "channels")), ==, 0);
  }
  {
    g_autoptr(JsonNode) unknown = api_call_status (server, "unsubscribe", "{\"user\":\"42\",\"channel\":\"nowhere:x\"}", 200);

    error_of (unknown, 102);
  }

  g_clear_pointer (&a, ws_free);
  test_server_quit_unref (server);
}

static void
test_subscribe (void)
{
  CrierServer *server = test_server_new (default_overrides);
  g_autoptr(WsClient) a = ws_connect (server, "42", NULL);
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(JsonNode) push = NULL;
  g_autoptr(JsonNode) pub = NULL;
  JsonObject *body;

  {
    g_autoptr(JsonNode) first = api_call (server, "publish", "{\"channel\":\"news\",\"data\":1}");
  }
  node = api_call (server, "subscribe", "{\"user\":\"42\",\"channel\":\"news\",\"data\":{\"welcome\":true}}");
  push = ws_wait_for (a, "\"subscribe\"");
  body = json_object_get_object_member (json_node_get_object (push), "push");
  g_assert_cmpstr (json_object_get_string_member (body, "channel"), ==, "news");
  g_assert_true (json_object_get_boolean_member (json_object_get_object_member (json_object_get_object_member (body, "subscribe"), "data"), "welcome"));

  /* Subscribed: publications arrive. Subscribing again changes nothing. */
  {
    g_autoptr(JsonNode) again = api_call (server, "subscribe", "{\"user\":\"42\",\"channel\":\"news\"}");
    g_autoptr(JsonNode) published = api_call (server, "publish", "{\"channel\":\"news\",\"data\":{\"after\":1}}");
  }
  pub = ws_wait_for (a, "\"after\"");
  g_assert_true (json_object_has_member (json_object_get_object_member (json_node_get_object (pub), "push"), "pub"));
  {
    g_autoptr(JsonNode) unknown = api_call_status (server, "subscribe", "{\"user\":\"42\",\"channel\":\"nowhere:x\"}", 200);

    error_of (unknown, 102);
  }

  g_clear_pointer (&a, ws_free);
  test_server_quit_unref (server);
}

/* ---- POST /pub ---------------------------------------------------------- */

static void
test_pub (void)
{
  CrierServer *server = test_server_new (default_overrides);
  g_autoptr(WsClient) a = ws_connect (server, NULL, "news");
  g_autofree char *body = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(JsonNode) push = NULL;
  JsonObject *reply;
  g_autofree char *id = NULL;

  g_assert_cmpuint (http_post (server, "/pub/news", KEY_HEADER "Content-Type: application/json\r\n",
                               "{\"hello\": [1, 2.50]}", NULL, &body), ==, 200);
  node = parse_json (body);
  reply = json_node_get_object (node);
  g_assert_cmpint (json_object_get_int_member (reply, "offset"), ==, 1);
  id = g_strdup_printf ("%s:1", json_object_get_string_member (reply, "epoch"));
  g_assert_cmpstr (json_object_get_string_member (reply, "id"), ==, id);
  push = ws_wait_for (a, "\"pub\"");
  g_clear_pointer (&body, g_free);

  /* Forms: data is JSON when it parses, a string otherwise. */
  g_assert_cmpuint (http_post (server, "/pub/news", KEY_HEADER "Content-Type: application/x-www-form-urlencoded\r\n",
                               "data=hello+world", NULL, NULL), ==, 200);
  g_assert_cmpuint (http_post (server, "/pub/news", "Authorization: apikey k2\r\nContent-Type: application/x-www-form-urlencoded\r\n",
                               "x=1&data=%7B%22a%22%3A1%7D", NULL, NULL), ==, 200);
  g_assert_cmpuint (http_post (server, "/pub/news", KEY_HEADER "Content-Type: application/x-www-form-urlencoded\r\n",
                               "x=1", NULL, NULL), ==, 400);
  {
    g_autofree char *history = NULL;

    g_assert_cmpuint (http_post (server, "/api/history", KEY_HEADER, "{\"channel\":\"news\",\"limit\":-1}", NULL, &history), ==, 200);
    g_assert_nonnull (strstr (history, "{\"hello\":[1,2.50]}"));
    g_assert_nonnull (strstr (history, "\"hello world\""));
    g_assert_nonnull (strstr (history, "{\"a\":1}"));
  }

  /* No history: {}. */
  g_assert_cmpuint (http_post (server, "/pub/plain:x", KEY_HEADER, "1", NULL, &body), ==, 200);
  g_assert_cmpstr (g_strstrip (body), ==, "{}");
  g_clear_pointer (&body, g_free);

  /* Errors. */
  g_assert_cmpuint (http_post (server, "/pub/news", KEY_HEADER, "{nope", NULL, &body), ==, 400);
  g_clear_pointer (&node, json_node_unref);
  node = parse_json (body);
  g_assert_nonnull (strstr (error_of (node, 107), "not JSON"));
  g_clear_pointer (&body, g_free);
  g_assert_cmpuint (http_post (server, "/pub/news", KEY_HEADER, "", NULL, NULL), ==, 400);
  g_assert_cmpuint (http_post (server, "/pub/nowhere:x", KEY_HEADER, "1", NULL, &body), ==, 404);
  g_clear_pointer (&node, json_node_unref);
  node = parse_json (body);
  error_of (node, 102);
  g_assert_cmpuint (http_post (server, "/pub/bad%20name", KEY_HEADER, "1", NULL, NULL), ==, 400);
  g_assert_cmpuint (http_post (server, "/pub/", KEY_HEADER, "1", NULL, NULL), ==, 400);
  g_assert_cmpuint (http_post (server, "/pub", KEY_HEADER, "1", NULL, NULL), ==, 400);
  g_assert_cmpuint (http_post (server, "/pub/news", NULL, "1", NULL, NULL), ==, 401);

  g_clear_pointer (&a, ws_free);
  test_server_quit_unref (server);
}

/* ---- an asynchronous broker --------------------------------------------- */

/* The memory broker answers before returning; a remote one answers later.
 * This wraps the memory broker's vtable so that publish and history answer
 * from a timeout, as a remote broker would. */
static const CrierBrokerVTable *real_vtable;
static CrierBrokerVTable deferred_vtable;
static guint deferred_pending;

typedef struct
{
  CrierBroker              *broker;
  CrierPublication         *pub;
  char                     *channel;
  CrierHistoryOptions       options;
  CrierHistoryQuery         query;
  CrierBrokerPublishFunc    publish_func;
  CrierBrokerHistoryFunc    history_func;
  gpointer                  user_data;
} Deferred;

static gboolean
deferred_run (gpointer data)
{
  Deferred *d = data;

  if (d->pub != NULL)
    {
      real_vtable->publish (d->broker, d->pub, &d->options, d->publish_func, d->user_data);
      crier_publication_unref (d->pub);
    }
  else
    real_vtable->history (d->broker, d->channel, &d->options, &d->query, d->history_func, d->user_data);
  g_free (d->channel);
  g_free (d);
  deferred_pending--;
  return G_SOURCE_REMOVE;
}

static void
deferred_publish (CrierBroker               *broker,
                  CrierPublication          *pub,
                  const CrierHistoryOptions *history,
                  CrierBrokerPublishFunc     func,
                  gpointer                   user_data)
{
  Deferred *d = g_new0 (Deferred, 1);

  d->broker = broker;
  d->pub = crier_publication_ref (pub);
  d->options = *history;
  d->publish_func = func;
  d->user_data = user_data;
  deferred_pending++;
  g_timeout_add (20, deferred_run, d);
}

static void
deferred_history (CrierBroker               *broker,
                  const char                *channel,
                  const CrierHistoryOptions *history,
                  const CrierHistoryQuery   *query,
                  CrierBrokerHistoryFunc     func,
                  gpointer                   user_data)
{
  Deferred *d = g_new0 (Deferred, 1);

  d->broker = broker;
  d->channel = g_strdup (channel);
  d->options = *history;
  d->query = *query;
  d->history_func = func;
  d->user_data = user_data;
  deferred_pending++;
  g_timeout_add (5, deferred_run, d);
}

static void
make_broker_async (CrierServer *server)
{
  CrierBroker *broker = crier_hub_get_broker (crier_server_get_hub (server));

  real_vtable = broker->vtable;
  deferred_vtable = *real_vtable;
  deferred_vtable.publish = deferred_publish;
  deferred_vtable.history = deferred_history;
  broker->vtable = &deferred_vtable;
}

static void
test_async_broker (void)
{
  CrierServer *server = test_server_new (default_overrides);

  make_broker_async (server);

  /* A paused request answers when the broker does. */
  {
    g_autoptr(JsonNode) node = api_call (server, "publish", "{\"channel\":\"news\",\"data\":1}");

    g_assert_cmpint (json_object_get_int_member (result_of (node), "offset"), ==, 1);
  }
  /* A sequential batch: the history (answered after 5 ms) still sees the
   * publish before it (answered after 20 ms). */
  {
    g_autofree char *reply = NULL;
    g_autoptr(JsonNode) node = NULL;
    JsonArray *replies;

    g_assert_cmpuint (http_post (server, "/api/batch", KEY_HEADER,
                                 "{\"commands\":[{\"publish\":{\"channel\":\"news\",\"data\":2}},"
                                 "{\"history\":{\"channel\":\"news\",\"limit\":-1}},"
                                 "{\"broadcast\":{\"channels\":[\"a\",\"b\",\"c\"],\"data\":3}}]}",
                                 NULL, &reply), ==, 200);
    node = parse_json (reply);
    replies = json_object_get_array_member (json_node_get_object (node), "replies");
    g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (json_array_get_object_element (replies, 0), "publish"), "offset"), ==, 2);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (json_object_get_object_member (json_array_get_object_element (replies, 1), "history"), "publications")), ==, 2);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (json_object_get_object_member (json_array_get_object_element (replies, 2), "broadcast"), "responses")), ==, 3);
  }
  /* /pub too. */
  g_assert_cmpuint (http_post (server, "/pub/news", KEY_HEADER, "3", NULL, NULL), ==, 200);

  /* A client that leaves while its request waits. */
  {
    const char request[] = "POST /api/publish HTTP/1.1\r\nHost: x\r\n" KEY_HEADER
                           "Content-Length: 30\r\n\r\n{\"channel\":\"news\",\"data\":true}";
    int fd = test_tcp_connect (crier_server_get_port (server));
    guint64 before = crier_api_get_stats (server)->publications;

    g_assert_cmpint (send (fd, request, strlen (request), MSG_NOSIGNAL), ==, (gssize) strlen (request));
    WAIT_UNTIL (deferred_pending > 0);
    close (fd);
    WAIT_UNTIL (deferred_pending == 0 && crier_api_get_stats (server)->publications == before + 1);
  }

  test_server_quit_unref (server);
}

/* ---- counters ----------------------------------------------------------- */

static void
test_stats (void)
{
  CrierServer *server = test_server_new (default_overrides);
  const CrierApiStats *stats = crier_api_get_stats (server);

  g_assert_nonnull (stats);
  g_assert_cmpuint (stats->requests, ==, 0);
  {
    g_autoptr(JsonNode) node = api_call (server, "info", "{}");
  }
  http_post (server, "/api/info", NULL, "{}", NULL, NULL);
  http_post (server, "/api/info", KEY_HEADER, "{", NULL, NULL);
  g_assert_cmpuint (stats->requests, ==, 3);
  g_assert_cmpuint (stats->commands, ==, 1);
  g_assert_cmpuint (stats->rejected[CRIER_API_REJECT_UNAUTHORIZED], ==, 1);
  g_assert_cmpuint (stats->rejected[CRIER_API_REJECT_BAD_JSON], ==, 1);
  g_assert_cmpstr (crier_api_reject_to_string (CRIER_API_REJECT_TOO_LARGE), ==, "too_large");
  for (guint i = 0; i < CRIER_API_REJECT_N; i++)
    g_assert_nonnull (crier_api_reject_to_string (i));

  test_server_quit_unref (server);
}

int
main (int    argc,
      char **argv)
{
  test_init (&argc, &argv);

  g_test_add_func ("/server/api/disabled", test_disabled);
  g_test_add_func ("/server/api/auth", test_auth);
  g_test_add_func ("/server/api/method-not-allowed", test_method_not_allowed);
  g_test_add_func ("/server/api/too-large", test_too_large);
  g_test_add_func ("/server/api/bad-body", test_bad_body);
  g_test_add_func ("/server/api/unknown-method", test_unknown_method);
  g_test_add_func ("/server/api/bad-request", test_bad_request);
  g_test_add_func ("/server/api/keep-alive", test_keep_alive);
  g_test_add_func ("/server/api/publish", test_publish);
  g_test_add_func ("/server/api/broadcast", test_broadcast);
  g_test_add_func ("/server/api/history", test_history);
  g_test_add_func ("/server/api/batch", test_batch);
  g_test_add_func ("/server/api/channels-info", test_channels_info);
  g_test_add_func ("/server/api/presence", test_presence);
  g_test_add_func ("/server/api/disconnect", test_disconnect);
  g_test_add_func ("/server/api/unsubscribe", test_unsubscribe);
  g_test_add_func ("/server/api/subscribe", test_subscribe);
  g_test_add_func ("/server/api/pub", test_pub);
  g_test_add_func ("/server/api/async-broker", test_async_broker);
  g_test_add_func ("/server/api/stats", test_stats);

  return g_test_run ();
}
