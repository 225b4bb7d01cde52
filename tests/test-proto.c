/* test-proto.c: the Centrifugo client protocol against hostile and broken
 * input (raw WebSocket frames): every rejection has the reference's code
 * and is counted by reason; nothing crashes or leaks (ASan run). */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "crier-limits.h"
#include "crier-proto-centrifuge.h"
#include "crier-util.h"
#include "crier-ws-codec.h"
#include "test-utils.h"

static const char * const anonymous[] = {
  "auth.allow_anonymous=true",
  "auth.hmac_secret=secret",
  "channels.history_size=10",
  "channels.force_recovery=true",
  NULL
};

static int
open_cf (CrierServer *server,
         const char  *path)
{
  int fd = test_tcp_connect (crier_server_get_port (server));

  g_assert_true (test_ws_handshake (fd, path, NULL));
  return fd;
}

static void
send_text (int         fd,
           const char *text)
{
  test_ws_send (fd, CRIER_WS_OP_TEXT, TRUE, text, strlen (text));
}

/* Next text frame as a string (NULL on close/EOF; *close_code set). */
static char *
read_text (int      fd,
           guint16 *close_code)
{
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  guint8 op = 0;

  for (;;)
    {
      if (!test_ws_read_frame (fd, &op, payload, 5000))
        return NULL;
      if (op == CRIER_WS_OP_TEXT)
        return g_strndup ((const char *) payload->data, payload->len);
      if (op == CRIER_WS_OP_CLOSE)
        {
          if (close_code != NULL)
            *close_code = payload->len >= 2 ? (payload->data[0] << 8) | payload->data[1] : 1005;
          return NULL;
        }
    }
}

static void
expect_close (int     fd,
              guint16 code)
{
  guint16 got = 0;
  g_autofree char *text = NULL;

  /* Replies before the close are fine; the close must carry @code. */
  while ((text = read_text (fd, &got)) != NULL)
    g_clear_pointer (&text, g_free);
  g_assert_cmpuint (got, ==, code);
  close (fd);
}

/* An HS256 token over @claims (JSON), signed with "secret". */
static char *
sign_hs256 (const char *claims)
{
  return test_hs256_token ("secret", claims);
}

static gint64
now_s (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

/* POST /api/@method with API key "k"; returns the status, body in @out. */
static guint
api_post (CrierServer *server,
          const char  *method,
          const char  *body,
          char       **out)
{
  g_autofree char *req = g_strdup_printf ("POST /api/%s HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\n"
                                          "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
                                          method, strlen (body), body);

  return test_http_raw (crier_server_get_port (server), req, strlen (req), NULL, out);
}

/* TRUE once GET /metrics (on the client listener) contains @needle. */
static gboolean
metrics_contain (CrierServer *server,
                 const char  *needle)
{
  g_autofree char *body = NULL;

  if (test_http_request (crier_server_get_port (server), "GET", "/metrics", NULL, &body) != 200)
    return FALSE;
  return body != NULL && strstr (body, needle) != NULL;
}

static void
connect_anon (int fd)
{
  g_autofree char *reply = NULL;

  send_text (fd, "{\"id\":1,\"connect\":{}}");
  reply = read_text (fd, NULL);
  g_assert_nonnull (reply);
  g_assert_nonnull (strstr (reply, "\"client\":"));
}

static void
test_bad_frames (void)
{
  CrierServer *server = test_server_new (anonymous);
  CrierCfStats *stats = &crier_server_get_cf_context (server)->stats;
  const char *bad[] = {
    "{not json",                              /* malformed */
    "[1,2,3]",                                /* not an object */
    "{\"id\":1,\"subscribe\":{\"channel\":\"a\"}}", /* before connect */
    "{\"id\":1,\"frobnicate\":{}}",           /* unknown method */
    "{\"connect\":{}}",                       /* no id */
    "{\"id\":-4,\"connect\":{}}",             /* bad id */
    "{\"id\":1,\"connect\":\"x\"}",           /* body not an object */
    "{\"id\":1,\"connect\":{\"data\":[1e400]}}",          /* json-glib: "inf.0" */
    "{\"id\":1,\"connect\":{\"data\":12345678901234567890}}", /* json-glib wraps it */
    "{\"id\":1,\"connect\":{\"name\":\"\\200\"}}",        /* C escape, not JSON */
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      int fd = open_cf (server, "/connection/websocket");

      send_text (fd, bad[i]);
      expect_close (fd, 3501);
    }
  WAIT_UNTIL (stats->bad_frames >= G_N_ELEMENTS (bad));
  g_assert_cmpuint (stats->disconnects[1], ==, G_N_ELEMENTS (bad));
  test_server_quit_unref (server);
}

static void
test_bad_tokens (void)
{
  CrierServer *server = test_server_new (anonymous);
  CrierCfStats *stats = &crier_server_get_cf_context (server)->stats;
  const char *tokens[] = {
    "garbage",
    "a.b.c",
    "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiI0MiJ9.",   /* alg none */
    /* signed with "secret" but one payload character changed */
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MyIsImV4cCI6NDEwMjQ0NDgwMCwiaW5mbyI6eyJuYW1lIjoiQWxpY2UifX0.E1L7LumGehBw9ztjyg2t8yOUpuaHeLOxJnwAZZMCmg0",
    /* a subscription token (has "channel") used to connect */
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsImNoYW5uZWwiOiJuZXdzIiwiZXhwIjo0MTAyNDQ0ODAwfQ.nYgiIMMl3ODDk1Bm1ER_OVDxH1Qv-CUp04V1xljR5gQ",
  };

  for (guint i = 0; i < G_N_ELEMENTS (tokens); i++)
    {
      int fd = open_cf (server, "/connection/websocket");
      g_autofree char *cmd = g_strdup_printf ("{\"id\":1,\"connect\":{\"token\":\"%s\"}}", tokens[i]);

      send_text (fd, cmd);
      expect_close (fd, 3500);
    }
  WAIT_UNTIL (stats->invalid_tokens == G_N_ELEMENTS (tokens));

  /* The valid example token of protocols.md A10.1 connects. */
  {
    int fd = open_cf (server, "/connection/websocket");
    g_autofree char *reply = NULL;

    send_text (fd, "{\"id\":1,\"connect\":{\"token\":\"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
                   "eyJzdWIiOiI0MiIsImV4cCI6NDEwMjQ0NDgwMCwiaW5mbyI6eyJuYW1lIjoiQWxpY2UifX0."
                   "E1L7LumGehBw9ztjyg2t8yOUpuaHeLOxJnwAZZMCmg0\"}}");
    reply = read_text (fd, NULL);
    g_assert_nonnull (strstr (reply, "\"expires\":true"));
    close (fd);
  }
  test_server_quit_unref (server);
}

static void
test_anonymous_refused (void)
{
  const char * const strict[] = { "auth.hmac_secret=secret", NULL };
  CrierServer *server = test_server_new (strict);
  int fd = open_cf (server, "/connection/websocket");
  g_autofree char *reply = NULL;

  send_text (fd, "{\"id\":7,\"connect\":{}}");
  reply = read_text (fd, NULL);
  g_assert_cmpstr (reply, ==, "{\"id\":7,\"error\":{\"code\":101,\"message\":\"unauthorized\"}}");
  close (fd);
  test_server_quit_unref (server);
}

static void
test_stale_connection (void)
{
  const char * const overrides[] = { "auth.allow_anonymous=true", "websocket.stale_timeout=300ms", NULL };
  CrierServer *server = test_server_new (overrides);
  int fd = open_cf (server, "/connection/websocket");

  expect_close (fd, 3502);
  g_assert_cmpuint (crier_server_get_cf_context (server)->stats.stale, ==, 1);
  test_server_quit_unref (server);
}

static void
test_flood_and_oversize (void)
{
  const char * const overrides[] = {
    "auth.allow_anonymous=true", "admin.metrics_on_client_listener=true", NULL
  };
  CrierServer *server = test_server_new (overrides);
  CrierLimitStats *limits = crier_server_get_limit_stats (server);
  CrierCfStats *stats = &crier_server_get_cf_context (server)->stats;
  GString *flood = g_string_new (NULL);
  g_autofree char *big = g_strnfill (70 * 1024, 'x');
  int fd;

  /* 1,200 pipelined commands in one frame: bounded, answered with 3013. */
  fd = open_cf (server, "/connection/websocket");
  connect_anon (fd);
  for (guint i = 0; i < 1200; i++)
    g_string_append_printf (flood, "{\"id\":%u,\"rpc\":{}}\n", i + 2);
  send_text (fd, flood->str);
  expect_close (fd, 3013);
  WAIT_UNTIL (limits->refused[CRIER_LIMIT_COMMAND_QUEUE] == 1);

  /* A command over the message cap never reaches the JSON parser. */
  fd = open_cf (server, "/connection/websocket");
  send_text (fd, big);
  expect_close (fd, CRIER_WS_CLOSE_TOO_BIG);
  WAIT_UNTIL (limits->refused[CRIER_LIMIT_MESSAGE_SIZE] == 1);

  /* Binary frames are not this protocol. */
  fd = open_cf (server, "/connection/websocket");
  test_ws_send (fd, CRIER_WS_OP_BINARY, TRUE, "\x01\x02", 2);
  expect_close (fd, 3506);
  WAIT_UNTIL (limits->refused[CRIER_LIMIT_BINARY_FRAME] == 1);

  /* Each by its own reason, not as a malformed command, and exported as
   * rejection reasons (the admin stats' rejection_reasons feed /metrics). */
  g_assert_cmpuint (limits->refused[CRIER_LIMIT_COMMAND_QUEUE], ==, 1);
  g_assert_cmpuint (limits->refused[CRIER_LIMIT_MESSAGE_SIZE], ==, 1);
  g_assert_cmpuint (stats->bad_frames, ==, 0);
  WAIT_UNTIL (metrics_contain (server, "crier_rejections_total{reason=\"limit_command_queue\"} 1\n") &&
              metrics_contain (server, "crier_rejections_total{reason=\"limit_message_size\"} 1\n") &&
              metrics_contain (server, "crier_rejections_total{reason=\"limit_binary_frame\"} 1\n"));

  g_string_free (flood, TRUE);
  test_server_quit_unref (server);
}

static void
test_rpc_send_and_errors (void)
{
  CrierServer *server = test_server_new (anonymous);
  int fd = open_cf (server, "/connection/websocket");
  g_autofree char *r1 = NULL;
  g_autofree char *r2 = NULL;
  g_autofree char *r3 = NULL;
  g_autofree char *r4 = NULL;

  connect_anon (fd);
  /* Two commands in one frame are answered in order. */
  send_text (fd, "{\"id\":2,\"rpc\":{\"method\":\"x\"}}\n{\"id\":3,\"subscribe\":{\"channel\":\"unknown:ns\"}}");
  r1 = read_text (fd, NULL);
  r2 = read_text (fd, NULL);
  g_assert_cmpstr (r1, ==, "{\"id\":2,\"error\":{\"code\":108,\"message\":\"not available\"}}");
  g_assert_cmpstr (r2, ==, "{\"id\":3,\"error\":{\"code\":102,\"message\":\"unknown channel\"}}");

  send_text (fd, "{\"id\":4,\"subscribe\":{}}");
  r3 = read_text (fd, NULL);
  g_assert_nonnull (strstr (r3, "\"code\":107"));

  /* Unknown fields are ignored (SDK 5.7+ sends "flag"). */
  send_text (fd, "{\"id\":5,\"subscribe\":{\"channel\":\"news\",\"flag\":1,\"future\":[1]},\"extra\":true}");
  r4 = read_text (fd, NULL);
  g_assert_true (g_str_has_prefix (r4, "{\"id\":5,\"subscribe\":{"));

  /* send without a handler: terminal "not available". */
  send_text (fd, "{\"send\":{\"data\":{}}}");
  expect_close (fd, 3508);
  test_server_quit_unref (server);
}

static void
test_uni_websocket (void)
{
  const char * const overrides[] = {
    "auth.hmac_secret=secret", "auth.api_keys=k", "channels.history_size=10", NULL
  };
  CrierServer *server = test_server_new (overrides);
  /* Token with "channels":["news"] and sub "42" (HS256, secret "secret"). */
  const char *token =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsImNoYW5uZWxzIjpbIm5ld3MiXX0."
    "ZafOFPt1R1v0nvXHeZCus-EUEu1xWq9RpD8iMxlSua4";
  g_autofree char *path = g_strdup_printf ("/connection/uni_websocket?cf_connect=%%7B%%22token%%22%%3A%%22%s%%22%%7D", token);
  int fd = open_cf (server, path);
  g_autofree char *connect = read_text (fd, NULL);
  g_autofree char *pub = NULL;
  g_autofree char *body = NULL;
  g_autofree char *req = NULL;
  guint status;

  g_assert_nonnull (connect);
  g_assert_true (g_str_has_prefix (connect, "{\"connect\":{\"client\":"));
  g_assert_nonnull (strstr (connect, "\"subs\":{\"news\":"));

  req = g_strdup ("POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\nConnection: close\r\n"
                  "Content-Length: 33\r\n\r\n{\"channel\":\"news\",\"data\":{\"n\":1}}");
  status = test_http_raw (crier_server_get_port (server), req, strlen (req), NULL, &body);
  g_assert_cmpuint (status, ==, 200);

  pub = read_text (fd, NULL);
  g_assert_cmpstr (pub, ==, "{\"channel\":\"news\",\"pub\":{\"data\":{\"n\":1},\"offset\":1}}");
  close (fd);
  test_server_quit_unref (server);
}

static void
test_per_user_limit (void)
{
  const char * const overrides[] = { "auth.hmac_secret=secret", "auth.max_connections_per_user=1", NULL };
  CrierServer *server = test_server_new (overrides);
  /* The example token of protocols.md A10.1: sub "42". */
  const char *connect = "{\"id\":1,\"connect\":{\"token\":\"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
                        "eyJzdWIiOiI0MiIsImV4cCI6NDEwMjQ0NDgwMCwiaW5mbyI6eyJuYW1lIjoiQWxpY2UifX0."
                        "E1L7LumGehBw9ztjyg2t8yOUpuaHeLOxJnwAZZMCmg0\"}}";
  int first = open_cf (server, "/connection/websocket");
  int second = open_cf (server, "/connection/websocket");
  g_autofree char *reply = NULL;

  send_text (first, connect);
  reply = read_text (first, NULL);
  g_assert_nonnull (strstr (reply, "\"client\":"));

  /* The same user again: over the per-user limit, terminal 3504. */
  send_text (second, connect);
  expect_close (second, 3504);
  close (first);
  test_server_quit_unref (server);
}

/* The "subs" claim of a connection token: each key a server-side
 * subscription with the claim's info as chan_info and data returned in
 * the connect reply; "channels" is ignored next to it (as in Centrifugo);
 * a channel no namespace allows fails the connect with 102. */
static void
test_subs_claim (void)
{
  const char * const overrides[] = {
    "auth.hmac_secret=secret", "auth.api_keys=k", "channels.history_size=10",
    "channels.presence=true", NULL
  };
  CrierServer *server = test_server_new (overrides);
  g_autofree char *token = sign_hs256 ("{\"sub\":\"42\",\"info\":{\"name\":\"Alice\"},"
                                       "\"channels\":[\"ignored\"],"
                                       "\"subs\":{\"room\":{\"info\":{\"role\":\"admin\"},\"data\":{\"welcome\":1}},"
                                       "\"news\":{}}}");
  g_autofree char *cmd = g_strdup_printf ("{\"id\":1,\"connect\":{\"token\":\"%s\"}}", token);
  g_autofree char *reply = NULL;
  g_autofree char *body = NULL;
  g_autofree char *pub = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *subs;
  JsonObject *room;
  int fd = open_cf (server, "/connection/websocket");

  send_text (fd, cmd);
  reply = read_text (fd, NULL);
  g_assert_nonnull (reply);
  root = json_from_string (reply, NULL);
  g_assert_nonnull (root);
  subs = json_object_get_object_member (json_object_get_object_member (json_node_get_object (root), "connect"), "subs");
  g_assert_nonnull (subs);
  g_assert_cmpuint (json_object_get_size (subs), ==, 2);
  g_assert_false (json_object_has_member (subs, "ignored"));
  room = json_object_get_object_member (subs, "room");
  /* History exists: positioned and recoverable with the stream's epoch. */
  g_assert_true (json_object_get_boolean_member (room, "recoverable"));
  g_assert_true (json_object_get_boolean_member (room, "positioned"));
  g_assert_cmpstr (json_object_get_string_member (room, "epoch"), !=, "");
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (room, "data"), "welcome"), ==, 1);
  g_assert_false (json_object_has_member (json_object_get_object_member (subs, "news"), "data"));

  /* The claim's info is this subscriber's chan_info in presence. */
  g_assert_cmpuint (api_post (server, "presence", "{\"channel\":\"room\"}", &body), ==, 200);
  g_assert_nonnull (strstr (body, "\"chan_info\":{\"role\":\"admin\"}"));
  g_assert_nonnull (strstr (body, "\"conn_info\":{\"name\":\"Alice\"}"));
  g_clear_pointer (&body, g_free);

  /* Publications reach the server-side subscription. */
  g_assert_cmpuint (api_post (server, "publish", "{\"channel\":\"room\",\"data\":{\"n\":1}}", &body), ==, 200);
  pub = read_text (fd, NULL);
  g_assert_cmpstr (pub, ==, "{\"push\":{\"channel\":\"room\",\"pub\":{\"data\":{\"n\":1},\"offset\":1}}}");
  close (fd);

  /* A channel of an unknown namespace in the claim: connect error 102. */
  {
    g_autofree char *bad = sign_hs256 ("{\"sub\":\"42\",\"subs\":{\"nowhere:x\":{}}}");
    g_autofree char *bad_cmd = g_strdup_printf ("{\"id\":3,\"connect\":{\"token\":\"%s\"}}", bad);
    g_autofree char *bad_reply = NULL;

    fd = open_cf (server, "/connection/websocket");
    send_text (fd, bad_cmd);
    bad_reply = read_text (fd, NULL);
    g_assert_cmpstr (bad_reply, ==, "{\"id\":3,\"error\":{\"code\":102,\"message\":\"unknown channel\"}}");
    close (fd);
  }
  test_server_quit_unref (server);
}

/* A connection token that expires and is never refreshed: closed with
 * 3005 once [auth] expired_close_delay has passed. */
static void
test_connection_expiry (void)
{
  const char * const overrides[] = { "auth.hmac_secret=secret", "auth.expired_close_delay=300ms", NULL };
  CrierServer *server = test_server_new (overrides);
  CrierCfStats *stats = &crier_server_get_cf_context (server)->stats;
  g_autofree char *claims = g_strdup_printf ("{\"sub\":\"42\",\"exp\":%" G_GINT64_FORMAT "}", now_s () + 1);
  g_autofree char *token = sign_hs256 (claims);
  g_autofree char *cmd = g_strdup_printf ("{\"id\":1,\"connect\":{\"token\":\"%s\"}}", token);
  g_autofree char *reply = NULL;
  int fd = open_cf (server, "/connection/websocket");
  gint64 start = g_get_monotonic_time ();

  send_text (fd, cmd);
  reply = read_text (fd, NULL);
  g_assert_nonnull (strstr (reply, "\"expires\":true"));
  /* Within exp (at most 1 s away) + 300 ms, far below the 25 s default. */
  expect_close (fd, 3005);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 4 * G_USEC_PER_SEC);
  g_assert_cmpuint (stats->expired, ==, 1);
  test_server_quit_unref (server);
}

/* Subscription tokens: expired -> 109; unrefreshed -> unsubscribe 2501;
 * sub_refresh with a valid token extends, with a bad one -> 3500. */
static void
test_sub_token_expiry (void)
{
  const char * const overrides[] = {
    "auth.hmac_secret=secret", "auth.expired_close_delay=0s",
    "namespace.private.require_sub_token=true", NULL
  };
  CrierServer *server = test_server_new (overrides);
  g_autofree char *conn_token = sign_hs256 ("{\"sub\":\"42\"}");
  g_autofree char *connect = g_strdup_printf ("{\"id\":1,\"connect\":{\"token\":\"%s\"}}", conn_token);
  int fd = open_cf (server, "/connection/websocket");
  g_autofree char *reply = NULL;

  send_text (fd, connect);
  reply = read_text (fd, NULL);
  g_assert_nonnull (strstr (reply, "\"client\":"));

  /* Expired subscription token: error 109 (the SDK fetches a new one). */
  {
    g_autofree char *claims = g_strdup_printf ("{\"sub\":\"42\",\"channel\":\"private:a\",\"exp\":%" G_GINT64_FORMAT "}",
                                               now_s () - 60);
    g_autofree char *t = sign_hs256 (claims);
    g_autofree char *cmd = g_strdup_printf ("{\"id\":2,\"subscribe\":{\"channel\":\"private:a\",\"token\":\"%s\"}}", t);
    g_autofree char *r = NULL;

    send_text (fd, cmd);
    r = read_text (fd, NULL);
    g_assert_cmpstr (r, ==, "{\"id\":2,\"error\":{\"code\":109,\"message\":\"token expired\"}}");
  }

  /* Expiring in a second and never refreshed: unsubscribe push 2501. */
  {
    g_autofree char *claims = g_strdup_printf ("{\"sub\":\"42\",\"channel\":\"private:a\",\"exp\":%" G_GINT64_FORMAT "}",
                                               now_s () + 1);
    g_autofree char *t = sign_hs256 (claims);
    g_autofree char *cmd = g_strdup_printf ("{\"id\":3,\"subscribe\":{\"channel\":\"private:a\",\"token\":\"%s\"}}", t);
    g_autofree char *r = NULL;
    g_autofree char *push = NULL;

    send_text (fd, cmd);
    r = read_text (fd, NULL);
    g_assert_true (g_str_has_prefix (r, "{\"id\":3,\"subscribe\":{\"expires\":true,\"ttl\":"));
    push = read_text (fd, NULL);
    g_assert_nonnull (push);
    g_assert_true (g_str_has_prefix (push, "{\"push\":{\"channel\":\"private:a\",\"unsubscribe\":{\"code\":2501"));
  }

  /* Refreshed in time: the reply carries the new ttl; no unsubscribe. */
  {
    g_autofree char *c1 = g_strdup_printf ("{\"sub\":\"42\",\"channel\":\"private:b\",\"exp\":%" G_GINT64_FORMAT "}",
                                           now_s () + 2);
    g_autofree char *c2 = g_strdup_printf ("{\"sub\":\"42\",\"channel\":\"private:b\",\"exp\":%" G_GINT64_FORMAT "}",
                                           now_s () + 3600);
    g_autofree char *t1 = sign_hs256 (c1);
    g_autofree char *t2 = sign_hs256 (c2);
    g_autofree char *sub = g_strdup_printf ("{\"id\":4,\"subscribe\":{\"channel\":\"private:b\",\"token\":\"%s\"}}", t1);
    g_autofree char *refresh = g_strdup_printf ("{\"id\":5,\"sub_refresh\":{\"channel\":\"private:b\",\"token\":\"%s\"}}", t2);
    g_autofree char *r1 = NULL;
    g_autofree char *r2 = NULL;
    g_autofree char *r3 = NULL;

    send_text (fd, sub);
    r1 = read_text (fd, NULL);
    g_assert_true (g_str_has_prefix (r1, "{\"id\":4,\"subscribe\":{\"expires\":true"));
    send_text (fd, refresh);
    r2 = read_text (fd, NULL);
    g_assert_true (g_str_has_prefix (r2, "{\"id\":5,\"sub_refresh\":{\"expires\":true,\"ttl\":"));
    /* Past the first token's expiry the subscription is still there: a
     * second subscribe is "already subscribed". */
    {
      gint64 until = g_get_monotonic_time () + 3 * G_USEC_PER_SEC;

      while (g_get_monotonic_time () < until)
        if (!g_main_context_iteration (NULL, FALSE))
          g_usleep (1000);
    }
    {
      g_autofree char *again = g_strdup_printf ("{\"id\":6,\"subscribe\":{\"channel\":\"private:b\",\"token\":\"%s\"}}", t2);

      send_text (fd, again);
    }
    r3 = read_text (fd, NULL);
    g_assert_cmpstr (r3, ==, "{\"id\":6,\"error\":{\"code\":105,\"message\":\"already subscribed\"}}");
  }

  /* A10.2: the token's "data" comes back in the subscribe result. */
  {
    g_autofree char *claims = g_strdup_printf ("{\"sub\":\"42\",\"channel\":\"private:c\",\"exp\":%" G_GINT64_FORMAT ","
                                               "\"data\":{\"seat\":7}}", now_s () + 3600);
    g_autofree char *t = sign_hs256 (claims);
    g_autofree char *cmd = g_strdup_printf ("{\"id\":8,\"subscribe\":{\"channel\":\"private:c\",\"token\":\"%s\"}}", t);
    g_autofree char *r = NULL;

    send_text (fd, cmd);
    r = read_text (fd, NULL);
    g_assert_true (g_str_has_prefix (r, "{\"id\":8,\"subscribe\":{\"expires\":true,\"ttl\":"));
    g_assert_true (g_str_has_suffix (r, ",\"data\":{\"seat\":7}}}"));
  }

  /* sub_refresh with a token that does not verify: disconnect 3500. */
  send_text (fd, "{\"id\":7,\"sub_refresh\":{\"channel\":\"private:b\",\"token\":\"a.b.c\"}}");
  expect_close (fd, 3500);
  test_server_quit_unref (server);
}

int
main (int   argc,
      char *argv[])
{
  test_init (&argc, &argv);

  g_test_add_func ("/proto/bad-frames", test_bad_frames);
  g_test_add_func ("/proto/bad-tokens", test_bad_tokens);
  g_test_add_func ("/proto/anonymous-refused", test_anonymous_refused);
  g_test_add_func ("/proto/stale", test_stale_connection);
  g_test_add_func ("/proto/flood-and-oversize", test_flood_and_oversize);
  g_test_add_func ("/proto/rpc-send-errors", test_rpc_send_and_errors);
  g_test_add_func ("/proto/uni-websocket", test_uni_websocket);
  g_test_add_func ("/proto/per-user-limit", test_per_user_limit);
  g_test_add_func ("/proto/subs-claim", test_subs_claim);
  g_test_add_func ("/proto/connection-expiry", test_connection_expiry);
  g_test_add_func ("/proto/sub-token-expiry", test_sub_token_expiry);

  return g_test_run ();
}
