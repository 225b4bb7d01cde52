/* test-limits.c: [limits] against abuse: the node's connection cap,
 * connections per address, the connection-rate limit (503 + Retry-After),
 * the client command rate (111 then 3013), channels per connection and
 * subscribers per channel (106), slowloris and idle keep-alive timeouts of
 * the HTTP phase, request sizes (413, oversized heads), WebSocket frame and
 * message sizes (1009) and the origin allow-list (403).
 *
 * Every refusal is counted in the server's CrierLimitStats, and each test
 * then reads the same count where operators see it: GET /metrics
 * (crier_rejections_total{reason=...}) and the admin socket's stats sample
 * (rejection_reasons), both over the server's admin Unix socket. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <json-glib/json-glib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "crier-admin-protocol.h"
#include "crier-ws-codec.h"
#include "test-utils.h"

#define LIMITS(server) (crier_server_get_limit_stats (server)->refused)

/* A TCP connection to 127.0.0.1:@port from @source (127.0.0.x). */
static int
connect_from (const char *source,
              guint16     port)
{
  struct sockaddr_in addr = { 0 };
  struct sockaddr_in local = { 0 };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  local.sin_family = AF_INET;
  g_assert_cmpint (inet_pton (AF_INET, source, &local.sin_addr), ==, 1);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &local, sizeof local), ==, 0);
  addr.sin_family = AF_INET;
  addr.sin_port = htons (port);
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  return fd;
}

/* Everything the server sends until it closes (or @timeout_ms). */
static char *
read_until_eof (int fd,
                int timeout_ms)
{
  GString *s = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  while (g_get_monotonic_time () < deadline)
    {
      struct pollfd p = { .fd = fd, .events = POLLIN };
      char buf[4096];
      ssize_t n;

      while (g_main_context_iteration (NULL, FALSE))
        ;
      if (poll (&p, 1, 5) <= 0)
        continue;
      n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        break;
      if (n > 0)
        g_string_append_len (s, buf, n);
    }
  return g_string_free (s, FALSE);
}

/* Iterate the server for @ms. */
static void
spin (int ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;

  while (g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
}

/* TRUE when the server has not closed @fd (no EOF pending). */
static gboolean
still_open (int fd)
{
  struct pollfd p = { .fd = fd, .events = POLLIN };
  char c;

  while (g_main_context_iteration (NULL, FALSE))
    ;
  if (poll (&p, 1, 0) <= 0)
    return TRUE;
  return recv (fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}


/* ---- what operators see: /metrics and the admin socket ------------------ */

static int
admin_connect (CrierServer *server)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  g_strlcpy (addr.sun_path, crier_server_get_config (server)->admin_socket, sizeof addr.sun_path);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  return fd;
}

/* GET /metrics on the admin socket: the Prometheus text. */
static char *
admin_metrics (CrierServer *server)
{
  const char *req = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  int fd = admin_connect (server);
  g_autofree char *all = NULL;
  const char *body;

  g_assert_cmpint (send (fd, req, strlen (req), MSG_NOSIGNAL), ==, (gssize) strlen (req));
  all = read_until_eof (fd, 5000);
  close (fd);
  g_assert_true (g_str_has_prefix (all, "HTTP/1.1 200"));
  body = strstr (all, "\r\n\r\n");
  g_assert_nonnull (body);
  return g_strdup (body + 4);
}

/* The value of the sample line starting with @series, or -1 without one. */
static gint64
prom_value (const char *text,
            const char *series)
{
  g_autofree char *needle = g_strdup_printf ("\n%s ", series);
  const char *line = strstr (text, needle);

  if (line == NULL)
    return -1;
  return g_ascii_strtoll (line + strlen (needle), NULL, 10);
}

/* The admin protocol's get_stats over the admin socket's WebSocket: the
 * newest stats sample (docs/admin-protocol.md). */
static JsonObject *
admin_stats (CrierServer *server)
{
  const char *call = "{\"id\":7,\"type\":\"get_stats\"}";
  int fd = admin_connect (server);
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  JsonObject *stats = NULL;
  guint8 opcode;

  g_assert_true (test_ws_handshake (fd, CRIER_ADMIN_PATH, NULL));
  test_ws_send (fd, CRIER_WS_OP_TEXT, TRUE, call, strlen (call));
  for (guint i = 0; i < 20 && stats == NULL; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      g_autoptr(GError) error = NULL;
      JsonObject *o;

      g_assert_true (test_ws_read_frame (fd, &opcode, payload, 5000));
      if (opcode != CRIER_WS_OP_TEXT)
        continue;
      g_assert_true (json_parser_load_from_data (parser, (const char *) payload->data,
                                                 payload->len, &error));
      g_assert_no_error (error);
      o = json_node_get_object (json_parser_get_root (parser));
      /* Events (the hello) come first; the reply carries our id. */
      if (json_object_has_member (o, "id") && !json_object_get_null_member (o, "id") &&
          json_object_get_int_member (o, "id") == 7)
        stats = json_object_ref (json_object_get_object_member (o, "result"));
    }
  close (fd);
  g_assert_nonnull (stats);
  return stats;
}

/* stats.@map.@name.total (rejection_reasons, disconnect_reasons), or -1. */
static gint64
labelled_total (JsonObject *stats,
                const char *map,
                const char *name)
{
  JsonObject *m = json_object_get_object_member (stats, map);
  JsonObject *entry = m != NULL && json_object_has_member (m, name) ? json_object_get_object_member (m, name) : NULL;

  return entry != NULL ? json_object_get_int_member (entry, "total") : -1;
}

/* Asserts that @name of the admin sample's @map (and the Prometheus line
 * @family{reason="@name"}) reached @expected.  Samples are taken once a
 * second by the server tick: wait for one that has the count, then
 * compare the last ones read, so that a wrong count fails with its value. */
static void
assert_counted_as (CrierServer *server,
                   const char  *map,
                   const char  *family,
                   const char  *name,
                   gint64       expected)
{
  g_autofree char *series = g_strdup_printf ("%s{reason=\"%s\"}", family, name);
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  gint64 admin = -1, prom = -1;

  for (;;)
    {
      g_autoptr(JsonObject) stats = admin_stats (server);
      g_autofree char *metrics = admin_metrics (server);

      admin = labelled_total (stats, map, name);
      prom = prom_value (metrics, series);
      if ((admin == expected && prom == expected) || g_get_monotonic_time () > deadline)
        break;
      spin (200);
    }
  g_test_message ("%s: admin %s %" G_GINT64_FORMAT ", /metrics %" G_GINT64_FORMAT,
                  name, map, admin, prom);
  g_assert_cmpint (admin, ==, expected);
  g_assert_cmpint (prom, ==, expected);
}

/* A rejection reason: crier_rejections_total and rejection_reasons. */
static void
assert_rejected (CrierServer *server,
                 const char  *reason,
                 gint64       expected)
{
  assert_counted_as (server, "rejection_reasons", "crier_rejections_total", reason, expected);
}

static void
test_per_address_cap (void)
{
  const char *overrides[] = { "limits.max_connections_per_address=2", NULL };
  CrierServer *server = test_server_new (overrides);
  guint16 port = crier_server_get_port (server);
  int a = connect_from ("127.0.0.1", port);
  int b = connect_from ("127.0.0.1", port);
  int c, other;
  g_autofree char *reply = NULL;

  WAIT_UNTIL (crier_conn_budget_get_address_count (crier_server_get_budget (server), "127.0.0.1") == 2);

  /* The third from the same address is refused at once... */
  c = connect_from ("127.0.0.1", port);
  reply = read_until_eof (c, 5000);
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 503"));
  g_assert_nonnull (strstr (reply, "Retry-After:"));
  g_assert_cmpuint (LIMITS (server)[CRIER_LIMIT_PER_ADDRESS], ==, 1);
  close (c);

  /* ... another address is not affected. */
  other = connect_from ("127.0.0.2", port);
  g_clear_pointer (&reply, g_free);
  {
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

    g_assert_cmpint (send (other, req, strlen (req), MSG_NOSIGNAL), ==, (gssize) strlen (req));
  }
  reply = read_until_eof (other, 5000);
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 200"));
  close (other);

  /* Closing one frees a slot. */
  close (a);
  WAIT_UNTIL (crier_conn_budget_get_address_count (crier_server_get_budget (server), "127.0.0.1") == 1);
  g_assert_cmpuint (test_http_request (port, "GET", "/healthz", NULL, NULL), ==, 200);

  close (b);
  WAIT_UNTIL (crier_server_get_budget (server)->http_open == 0);
  assert_rejected (server, "limit_per_address", 1);
  test_server_quit_unref (server);
}

static void
test_connect_rate (void)
{
  const char *overrides[] = { "limits.connect_rate=1", "limits.connect_burst=3", NULL };
  CrierServer *server = test_server_new (overrides);
  guint16 port = crier_server_get_port (server);
  guint ok = 0, refused = 0;

  /* A reconnect storm: 8 connections at once; the bucket lets 3 through. */
  for (guint i = 0; i < 8; i++)
    {
      g_autofree char *reply = NULL;
      const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
      int fd = connect_from ("127.0.0.1", port);

      send (fd, req, strlen (req), MSG_NOSIGNAL);
      reply = read_until_eof (fd, 5000);
      close (fd);
      if (g_str_has_prefix (reply, "HTTP/1.1 200"))
        ok++;
      else
        {
          g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 503"));
          g_assert_nonnull (strstr (reply, "Retry-After: 1"));
          refused++;
        }
    }
  g_assert_cmpuint (ok, >=, 3);
  g_assert_cmpuint (ok, <=, 4);  /* one token may have refilled meanwhile */
  g_assert_cmpuint (refused, ==, 8 - ok);
  g_assert_cmpuint (LIMITS (server)[CRIER_LIMIT_CONNECT_RATE], ==, refused);

  /* After a second there is room again. */
  spin (1100);
  g_assert_cmpuint (test_http_request (port, "GET", "/healthz", NULL, NULL), ==, 200);
  /* (The admin socket is not a client listener: not rate limited.) */
  assert_rejected (server, "limit_connect_rate", refused);
  test_server_quit_unref (server);
}

static void
test_connect_rate_per_address (void)
{
  const char *overrides[] = {
    "limits.connect_rate_per_address=1", "limits.connect_burst_per_address=2", NULL
  };
  CrierServer *server = test_server_new (overrides);
  guint16 port = crier_server_get_port (server);
  guint refused = 0;

  for (guint i = 0; i < 5; i++)
    {
      int fd = connect_from ("127.0.0.3", port);
      g_autofree char *reply = NULL;

      shutdown (fd, SHUT_WR);
      reply = read_until_eof (fd, 3000);
      close (fd);
      if (g_str_has_prefix (reply, "HTTP/1.1 503"))
        refused++;
    }
  g_assert_cmpuint (refused, >=, 2);
  g_assert_cmpuint (LIMITS (server)[CRIER_LIMIT_CONNECT_RATE_ADDR], ==, refused);
  /* Another address still gets in. */
  {
    int fd = connect_from ("127.0.0.4", port);
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    g_autofree char *reply = NULL;

    send (fd, req, strlen (req), MSG_NOSIGNAL);
    reply = read_until_eof (fd, 5000);
    close (fd);
    g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 200"));
  }
  assert_rejected (server, "limit_connect_rate_address", refused);
  test_server_quit_unref (server);
}

/* ---- the client protocol ---------------------------------------------------- */

static int
cf_connect (CrierServer *server)
{
  int fd = test_tcp_connect (crier_server_get_port (server));
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  const char *connect = "{\"id\":1,\"connect\":{}}";
  guint8 opcode;

  g_assert_true (test_ws_handshake (fd, "/connection/websocket", NULL));
  test_ws_send (fd, CRIER_WS_OP_TEXT, TRUE, connect, strlen (connect));
  g_assert_true (test_ws_read_frame (fd, &opcode, payload, 10000));
  g_byte_array_append (payload, (const guint8 *) "", 1);
  g_assert_nonnull (strstr ((const char *) payload->data, "\"connect\""));
  return fd;
}

static void
test_command_rate (void)
{
  const char *overrides[] = {
    "auth.allow_anonymous=true",
    "limits.command_rate=1", "limits.command_burst=3", "limits.command_max_rejections=3",
    NULL
  };
  CrierServer *server = test_server_new (overrides);
  int fd = cf_connect (server);  /* the connect took one token */
  g_autoptr(GString) batch = g_string_new (NULL);
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  GString *seen = g_string_new (NULL);
  guint8 opcode = 0;
  guint close_code = 0;

  /* Eight pipelined commands: two fit the burst, then 111 twice, and the
   * third refusal in a row closes with 3013. */
  for (guint id = 2; id < 10; id++)
    g_string_append_printf (batch, "%s{\"id\":%u,\"rpc\":{\"method\":\"m\"}}", id > 2 ? "\n" : "", id);
  test_ws_send (fd, CRIER_WS_OP_TEXT, TRUE, batch->str, batch->len);
  while (test_ws_read_frame (fd, &opcode, payload, 5000))
    {
      if (opcode == CRIER_WS_OP_CLOSE)
        {
          g_assert_cmpuint (payload->len, >=, 2);
          close_code = (payload->data[0] << 8) | payload->data[1];
          break;
        }
      g_string_append_len (seen, (const char *) payload->data, payload->len);
      g_string_append_c (seen, '\n');
    }
  g_test_message ("replies: %s", seen->str);
  g_assert_cmpuint (close_code, ==, 3013);
  g_assert_nonnull (strstr (seen->str, "{\"id\":4,\"error\":{\"code\":111"));
  g_assert_nonnull (strstr (seen->str, "\"temporary\":true"));
  g_assert_null (strstr (seen->str, "\"id\":7"));
  g_assert_cmpuint (LIMITS (server)[CRIER_LIMIT_COMMAND_RATE], ==, 2);
  g_assert_cmpuint (LIMITS (server)[CRIER_LIMIT_COMMAND_ABUSE], ==, 1);
  g_string_free (seen, TRUE);
  close (fd);
  assert_rejected (server, "limit_command_rate", 2);
  assert_rejected (server, "limit_command_abuse", 1);
  /* The refusals are error replies of the protocol as well. */
  assert_rejected (server, "reply_too_many_requests", 2);
  test_server_quit_unref (server);
}

static void
test_command_rate_recovers (void)
{
  const char *overrides[] = {
    "auth.allow_anonymous=true",
    "limits.command_rate=5", "limits.command_burst=1", "limits.command_max_rejections=5",
    NULL
  };
  CrierServer *server = test_server_new (overrides);
  int fd = cf_connect (server);
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  guint8 opcode;
  const char *two = "{\"id\":2,\"rpc\":{}}\n{\"id\":3,\"rpc\":{}}";

  /* Over the limit: 111 for the second, but a polite client goes on. */
  spin (300);
  test_ws_send (fd, CRIER_WS_OP_TEXT, TRUE, two, strlen (two));
  g_assert_true (test_ws_read_frame (fd, &opcode, payload, 5000));
  g_byte_array_append (payload, (const guint8 *) "", 1);
  if (strstr ((const char *) payload->data, "\"id\":2") != NULL)
    {
      g_assert_true (test_ws_read_frame (fd, &opcode, payload, 5000));
      g_byte_array_append (payload, (const guint8 *) "", 1);
    }
  g_assert_nonnull (strstr ((const char *) payload->data, "{\"id\":3,\"error\":{\"code\":111"));
  spin (300);
  {
    const char *one = "{\"id\":4,\"rpc\":{}}";

    test_ws_send (fd, CRIER_WS_OP_TEXT, TRUE, one, strlen (one));
  }
  g_assert_true (test_ws_read_frame (fd, &opcode, payload, 5000));
  g_byte_array_append (payload, (const guint8 *) "", 1);
  g_assert_cmpuint (opcode, ==, CRIER_WS_OP_TEXT);
  g_assert_nonnull (strstr ((const char *) payload->data, "\"id\":4"));
  g_assert_null (strstr ((const char *) payload->data, "111"));
  close (fd);
  test_server_quit_unref (server);
}

static void
test_channel_subscribers (void)
{
  const char *overrides[] = { "auth.allow_anonymous=true", "limits.max_channel_subscribers=1", NULL };
  CrierServer *server = test_server_new (overrides);
  int a = cf_connect (server);
  int b = cf_connect (server);
  const char *sub = "{\"id\":2,\"subscribe\":{\"channel\":\"crowded\"}}";
  const char *other = "{\"id\":3,\"subscribe\":{\"channel\":\"quiet\"}}";
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  guint8 opcode;

  test_ws_send (a, CRIER_WS_OP_TEXT, TRUE, sub, strlen (sub));
  g_assert_true (test_ws_read_frame (a, &opcode, payload, 5000));
  g_byte_array_append (payload, (const guint8 *) "", 1);
  g_assert_nonnull (strstr ((const char *) payload->data, "{\"id\":2,\"subscribe\""));

  test_ws_send (b, CRIER_WS_OP_TEXT, TRUE, sub, strlen (sub));
  g_assert_true (test_ws_read_frame (b, &opcode, payload, 5000));
  g_byte_array_append (payload, (const guint8 *) "", 1);
  g_assert_nonnull (strstr ((const char *) payload->data, "{\"id\":2,\"error\":{\"code\":106"));
  g_assert_cmpuint (LIMITS (server)[CRIER_LIMIT_CHANNEL_FULL], ==, 1);

  /* Other channels are not affected. */
  test_ws_send (b, CRIER_WS_OP_TEXT, TRUE, other, strlen (other));
  g_assert_true (test_ws_read_frame (b, &opcode, payload, 5000));
  g_byte_array_append (payload, (const guint8 *) "", 1);
  g_assert_nonnull (strstr ((const char *) payload->data, "{\"id\":3,\"subscribe\""));

  close (a);
  close (b);
  assert_rejected (server, "limit_channel_full", 1);
  assert_rejected (server, "reply_limit_exceeded", 1);
  test_server_quit_unref (server);
}

/* ---- the HTTP phase ------------------------------------------------------- */

static void
test_slowloris (void)
{
  const char *overrides[] = { "limits.request_timeout=1s", NULL };
  CrierServer *server = test_server_new (overrides);
  guint16 port = crier_server_get_port (server);
  const char *half = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
  int fd = test_tcp_connect (port);
  int silent = test_tcp_connect (port);
  gint64 start = g_get_monotonic_time ();
  g_autofree char *reply = NULL;
  gint64 elapsed_ms;

  g_assert_cmpint (send (fd, half, strlen (half), MSG_NOSIGNAL), ==, (gssize) strlen (half));
  spin (400);
  send (fd, "a", 1, MSG_NOSIGNAL);   /* trickling does not help */
  reply = read_until_eof (fd, 5000);
  elapsed_ms = (g_get_monotonic_time () - start) / 1000;
  g_test_message ("closed after %" G_GINT64_FORMAT " ms", elapsed_ms);
  g_assert_cmpint (elapsed_ms, >=, 900);
  g_assert_cmpint (elapsed_ms, <, 4000);
  g_assert_false (g_str_has_prefix (reply, "HTTP/1.1 200"));
  /* A connection that sends nothing at all goes the same way. */
  g_assert_true (test_fd_wait_eof (silent, 3000));
  g_assert_cmpuint (LIMITS (server)[CRIER_LIMIT_REQUEST_TIMEOUT], ==, 2);
  close (fd);
  close (silent);
  WAIT_UNTIL (crier_server_get_budget (server)->http_open == 0);

  /* A normal request is unaffected. */
  g_assert_cmpuint (test_http_request (port, "GET", "/healthz", NULL, NULL), ==, 200);
  assert_rejected (server, "limit_request_timeout", 2);
  test_server_quit_unref (server);
}

/* A slow body is a slow request too. */
static void
test_slow_body (void)
{
  const char *overrides[] = { "limits.request_timeout=1s", "auth.api_keys=k", NULL };
  CrierServer *server = test_server_new (overrides);
  const char *head = "POST /api/info HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\nContent-Length: 100\r\n\r\n{";
  int fd = test_tcp_connect (crier_server_get_port (server));

  g_assert_cmpint (send (fd, head, strlen (head), MSG_NOSIGNAL), ==, (gssize) strlen (head));
  g_assert_true (test_fd_wait_eof (fd, 4000));
  g_assert_cmpuint (LIMITS (server)[CRIER_LIMIT_REQUEST_TIMEOUT], ==, 1);
  close (fd);
  assert_rejected (server, "limit_request_timeout", 1);
  test_server_quit_unref (server);
}

static void
test_idle_keepalive (void)
{
  const char *overrides[] = { "limits.request_timeout=1s", "limits.http_idle_timeout=3s", NULL };
  CrierServer *server = test_server_new (overrides);
  const char *req = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  int fd = test_tcp_connect (crier_server_get_port (server));
  g_autofree char *reply = NULL;
  gint64 served;
  gint64 closed_ms;

  g_assert_cmpint (send (fd, req, strlen (req), MSG_NOSIGNAL), ==, (gssize) strlen (req));
  /* The response, kept alive. */
  {
    GString *in = g_string_new (NULL);

    while (strstr (in->str, "\"ok\"") == NULL)
      {
        char buf[1024];
        ssize_t n;

        spin (5);
        n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
        g_assert_true (n != 0);
        if (n > 0)
          g_string_append_len (in, buf, n);
      }
    g_assert_true (g_str_has_prefix (in->str, "HTTP/1.1 200"));
    g_string_free (in, TRUE);
  }
  served = g_get_monotonic_time ();

  /* Idle is not slow: past request_timeout the connection is still open. */
  spin (2000);
  g_assert_true (still_open (fd));
  g_assert_cmpuint (LIMITS (server)[CRIER_LIMIT_REQUEST_TIMEOUT], ==, 0);

  /* ... and past http_idle_timeout it is closed. */
  reply = read_until_eof (fd, 5000);
  closed_ms = (g_get_monotonic_time () - served) / 1000;
  g_test_message ("idle connection closed after %" G_GINT64_FORMAT " ms", closed_ms);
  g_assert_cmpint (closed_ms, >=, 2900);
  g_assert_cmpint (closed_ms, <, 5500);
  g_assert_cmpuint (LIMITS (server)[CRIER_LIMIT_IDLE_TIMEOUT], ==, 1);
  close (fd);
  assert_rejected (server, "limit_idle_timeout", 1);
  test_server_quit_unref (server);
}

static void
test_sizes (void)
{
  const char *overrides[] = { "auth.api_keys=k", "limits.max_request_body=1KiB", NULL };
  CrierServer *server = test_server_new (overrides);
  guint16 port = crier_server_get_port (server);
  g_autofree char *big = g_strnfill (4096, 'x');
  g_autofree char *body = g_strdup_printf ("{\"channel\":\"c\",\"data\":\"%s\"}", big);
  g_autofree char *request = g_strdup_printf ("POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\n"
                                              "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
                                              strlen (body), body);
  g_autofree char *huge = g_strnfill (200 * 1024, 'h');
  g_autofree char *head = g_strdup_printf ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Huge: %s\r\n"
                                           "Connection: close\r\n\r\n", huge);
  guint status;

  /* A body over max_request_body: 413. */
  g_assert_cmpuint (test_http_raw (port, request, strlen (request), NULL, NULL), ==, 413);

  /* A request head over libsoup's 100 KiB: refused, and the server goes on. */
  status = test_http_raw (port, head, strlen (head), NULL, NULL);
  g_test_message ("200 KiB header: status %u", status);
  g_assert_cmpuint (status, !=, 200);
  g_assert_cmpuint (test_http_request (port, "GET", "/healthz", NULL, NULL), ==, 200);
  assert_rejected (server, "api_too_large", 1);
  test_server_quit_unref (server);
}

/* ---- limits that only had their own counters --------------------------------- */

/* [server] max_connections: the one over the cap gets a 503. */
static void
test_listener_cap (void)
{
  const char *overrides[] = { "auth.allow_anonymous=true", "server.max_connections=2", NULL };
  CrierServer *server = test_server_new (overrides);
  int a = cf_connect (server);
  int b = cf_connect (server);
  int c = test_tcp_connect (crier_server_get_port (server));
  g_autofree char *reply = read_until_eof (c, 5000);

  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 503"));
  close (c);
  g_assert_cmpuint (crier_server_get_budget (server)->refused_cap, ==, 1);
  assert_rejected (server, "listener_cap", 1);
  close (a);
  close (b);
  test_server_quit_unref (server);
}

/* [limits] max_subscriptions: channels per connection, error 106. */
static void
test_channels_per_connection (void)
{
  const char *overrides[] = { "auth.allow_anonymous=true", "limits.max_subscriptions=2", NULL };
  CrierServer *server = test_server_new (overrides);
  int fd = cf_connect (server);
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  guint8 opcode;

  for (guint i = 0; i < 4; i++)
    {
      g_autofree char *sub = g_strdup_printf ("{\"id\":%u,\"subscribe\":{\"channel\":\"c%u\"}}", 10 + i, i);
      g_autofree char *expect = g_strdup_printf (i < 2 ? "{\"id\":%u,\"subscribe\"" : "{\"id\":%u,\"error\":{\"code\":106",
                                                 10 + i);

      test_ws_send (fd, CRIER_WS_OP_TEXT, TRUE, sub, strlen (sub));
      g_assert_true (test_ws_read_frame (fd, &opcode, payload, 5000));
      g_byte_array_append (payload, (const guint8 *) "", 1);
      g_assert_nonnull (strstr ((const char *) payload->data, expect));
    }
  close (fd);
  assert_rejected (server, "reply_limit_exceeded", 2);
  test_server_quit_unref (server);
}

/* [websocket] max_frame_size and max_message_size: close 1009, counted as
 * protocol errors (a disconnect reason, not a refused request). */
static void
test_ws_sizes (void)
{
  const char *overrides[] = {
    "auth.allow_anonymous=true", "websocket.max_frame_size=1KiB", "websocket.max_message_size=2KiB", NULL
  };
  CrierServer *server = test_server_new (overrides);
  int frame = cf_connect (server);
  int message = cf_connect (server);
  g_autofree char *big = g_strnfill (1500, 'x');
  g_autofree char *part = g_strnfill (1000, 'y');
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  g_autofree char *metrics = NULL;
  guint8 opcode = 0;

  /* One frame over max_frame_size. */
  test_ws_send (frame, CRIER_WS_OP_TEXT, TRUE, big, strlen (big));
  g_assert_true (test_ws_read_frame (frame, &opcode, payload, 5000));
  g_assert_cmpuint (opcode, ==, CRIER_WS_OP_CLOSE);
  g_assert_cmpuint ((payload->data[0] << 8) | payload->data[1], ==, 1009);

  /* Frames within the limit making a message over max_message_size. */
  test_ws_send (message, CRIER_WS_OP_TEXT, FALSE, part, strlen (part));
  test_ws_send (message, CRIER_WS_OP_CONTINUATION, FALSE, part, strlen (part));
  test_ws_send (message, CRIER_WS_OP_CONTINUATION, TRUE, part, strlen (part));
  g_assert_true (test_ws_read_frame (message, &opcode, payload, 5000));
  g_assert_cmpuint (opcode, ==, CRIER_WS_OP_CLOSE);
  g_assert_cmpuint ((payload->data[0] << 8) | payload->data[1], ==, 1009);

  /* The close handshake ends when the client closes too. */
  close (frame);
  close (message);
  assert_counted_as (server, "disconnect_reasons", "crier_disconnects_total", "protocol", 2);
  metrics = admin_metrics (server);
  g_assert_cmpint (prom_value (metrics, "crier_protocol_errors_total"), ==, 2);
  test_server_quit_unref (server);
}

/* [server] allowed_origins: a WebSocket upgrade and a stream from another
 * origin are refused with 403, and counted alike. */
static void
test_origin (void)
{
  const char *overrides[] = { "auth.allow_anonymous=true", "server.allowed_origins=http://good.example", NULL };
  CrierServer *server = test_server_new (overrides);
  guint16 port = crier_server_get_port (server);
  int ws = test_tcp_connect (port);
  const char *sse = "GET /sub/news HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n"
                    "Accept: text/event-stream\r\nConnection: close\r\n\r\n";

  g_assert_false (test_ws_handshake (ws, "/connection/websocket", "Origin: http://evil.example\r\n"));
  close (ws);
  g_assert_cmpuint (test_http_raw (port, sse, strlen (sse), NULL, NULL), ==, 403);
  g_assert_cmpuint (LIMITS (server)[CRIER_LIMIT_ORIGIN], ==, 2);
  assert_rejected (server, "limit_origin", 2);
  test_server_quit_unref (server);
}

int
main (int   argc,
      char *argv[])
{
  test_init (&argc, &argv);

  g_test_add_func ("/limits/per-address", test_per_address_cap);
  g_test_add_func ("/limits/connect-rate", test_connect_rate);
  g_test_add_func ("/limits/connect-rate-per-address", test_connect_rate_per_address);
  g_test_add_func ("/limits/command-rate", test_command_rate);
  g_test_add_func ("/limits/command-rate-recovers", test_command_rate_recovers);
  g_test_add_func ("/limits/channel-subscribers", test_channel_subscribers);
  g_test_add_func ("/limits/slowloris", test_slowloris);
  g_test_add_func ("/limits/slow-body", test_slow_body);
  g_test_add_func ("/limits/idle-keepalive", test_idle_keepalive);
  g_test_add_func ("/limits/sizes", test_sizes);
  g_test_add_func ("/limits/listener-cap", test_listener_cap);
  g_test_add_func ("/limits/channels-per-connection", test_channels_per_connection);
  g_test_add_func ("/limits/ws-sizes", test_ws_sizes);
  g_test_add_func ("/limits/origin", test_origin);

  return g_test_run ();
}
