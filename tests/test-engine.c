/* test-engine.c: the connection engine, the WebSocket transport on it and
 * the listener, driven through a real CrierServer and real clients
 * (libsoup's WebSocket client and raw sockets). */
#include "config.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crier-engine.h"
#include "crier-ws-codec.h"
#include "test-utils.h"

/* ---- engine unit tests over a socketpair -------------------------------- */

typedef struct
{
  GByteArray      *received;
  gboolean         eof;
  gboolean         closed;
  CrierCloseReason reason;
  guint            timer_fired;
} Sink;

static void
sink_data (CrierConn    *conn,
           const guint8 *data,
           gsize         len)
{
  Sink *s = conn->data;

  g_byte_array_append (s->received, data, len);
}

static void
sink_eof (CrierConn *conn)
{
  Sink *s = conn->data;

  s->eof = TRUE;
  crier_conn_close (conn, CRIER_CLOSE_PEER);
}

static void
sink_timer (CrierConn *conn,
            gint64     now)
{
  Sink *s = conn->data;

  s->timer_fired++;
}

static void
sink_closed (CrierConn       *conn,
             CrierCloseReason reason)
{
  Sink *s = conn->data;

  s->closed = TRUE;
  s->reason = reason;
}

static const CrierConnClass sink_class = {
  .name = "sink",
  .on_data = sink_data,
  .on_eof = sink_eof,
  .on_timer = sink_timer,
  .on_closed = sink_closed,
};

static CrierConn *
adopt_pair (CrierEngine *engine,
            Sink        *sink,
            int         *peer_fd,
            int          sndbuf)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = NULL;
  GSocketConnection *sconn;
  CrierConn *conn;
  int sv[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
  if (sndbuf > 0)
    {
      setsockopt (sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
      setsockopt (sv[1], SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof sndbuf);
    }
  socket = g_socket_new_from_fd (sv[0], &error);
  g_assert_no_error (error);
  sconn = g_socket_connection_factory_create_connection (socket);
  sink->received = g_byte_array_new ();
  conn = crier_engine_adopt (engine, G_IO_STREAM (sconn), "pair", &sink_class, sink, &error);
  g_assert_no_error (error);
  g_assert_nonnull (conn);
  crier_conn_start (conn);
  *peer_fd = sv[1];
  return conn;
}

static void
iterate (guint n)
{
  for (guint i = 0; i < n; i++)
    g_main_context_iteration (NULL, FALSE);
}

static void
test_engine_coalesced_writev (void)
{
  CrierEngine *engine = crier_engine_new (NULL);
  const CrierEngineStats *stats = crier_engine_get_stats (engine);
  Sink sink = { 0 };
  int peer;
  CrierConn *conn = adopt_pair (engine, &sink, &peer, 0);
  GString *expect = g_string_new (NULL);
  char buf[65536];
  gsize got = 0;
  guint64 calls_before = stats->writev_calls;

  /* 50 sends in one loop iteration leave in one writev. */
  for (guint i = 0; i < 50; i++)
    {
      g_autofree char *msg = g_strdup_printf ("message %u;", i);
      g_autoptr(GBytes) b = g_bytes_new (msg, strlen (msg));

      g_string_append (expect, msg);
      g_assert_true (crier_conn_send (conn, b));
    }
  g_assert_cmpuint (conn->queued_bytes, ==, expect->len);
  iterate (3);
  g_assert_cmpuint (stats->writev_calls - calls_before, ==, 1);
  g_assert_cmpuint (conn->queued_bytes, ==, 0);

  while (got < expect->len)
    {
      ssize_t n = recv (peer, buf + got, sizeof buf - got, 0);

      g_assert_cmpint (n, >, 0);
      got += n;
    }
  g_assert_cmpmem (buf, got, expect->str, expect->len);

  /* Reading: bytes from the peer reach on_data. */
  g_assert_cmpint (send (peer, "hello", 5, 0), ==, 5);
  WAIT_UNTIL (sink.received->len == 5);
  g_assert_cmpmem (sink.received->data, 5, "hello", 5);

  /* EOF is noticed without any write. */
  close (peer);
  WAIT_UNTIL (sink.closed);
  g_assert_true (sink.eof);
  g_assert_cmpint (sink.reason, ==, CRIER_CLOSE_PEER);
  g_assert_cmpuint (crier_engine_get_n_conns (engine), ==, 0);

  g_string_free (expect, TRUE);
  g_byte_array_unref (sink.received);
  crier_engine_free (engine);
}

static void
test_engine_hard_limit_evicts (void)
{
  CrierEngine *engine = crier_engine_new (NULL);
  CrierEngineLimits limits = { .soft_limit = 64 * 1024, .hard_limit = 256 * 1024,
                               .soft_grace_ms = 60000, .close_timeout_ms = 1000 };
  Sink sink = { 0 };
  int peer;
  CrierConn *conn;
  g_autofree guint8 *chunk = g_malloc0 (16 * 1024);
  g_autoptr(GBytes) b = g_bytes_new_static (chunk, 16 * 1024);
  guint sent = 0;

  crier_engine_set_limits (engine, &limits);
  conn = adopt_pair (engine, &sink, &peer, 16 * 1024);

  /* The peer never reads: the kernel buffers fill, then our queue, and the
   * send that crosses the hard limit evicts at once. */
  while (sent < 10000 && crier_conn_send (conn, b))
    {
      sent++;
      iterate (1);
    }
  g_assert_cmpuint (sent, <, 10000);
  g_assert_true (conn->closed);
  g_assert_cmpint (conn->fd, ==, -1);           /* socket freed at once */
  g_assert_cmpuint (conn->queued_bytes, ==, 0); /* queue freed at once */
  iterate (2);
  g_assert_true (sink.closed);
  g_assert_cmpint (sink.reason, ==, CRIER_CLOSE_SLOW);
  g_assert_cmpuint (crier_engine_get_stats (engine)->closed[CRIER_CLOSE_SLOW], ==, 1);
  g_assert_true (test_fd_wait_eof (peer, 2000));

  close (peer);
  g_byte_array_unref (sink.received);
  crier_engine_free (engine);
}

static void
test_engine_soft_limit_grace (void)
{
  CrierEngine *engine = crier_engine_new (NULL);
  CrierEngineLimits limits = { .soft_limit = 32 * 1024, .hard_limit = 64 * 1024 * 1024,
                               .soft_grace_ms = 200, .close_timeout_ms = 1000 };
  Sink sink = { 0 };
  int peer;
  CrierConn *conn;
  g_autofree guint8 *chunk = g_malloc0 (8 * 1024);
  g_autoptr(GBytes) b = g_bytes_new_static (chunk, 8 * 1024);
  gint64 start = g_get_monotonic_time ();

  crier_engine_set_limits (engine, &limits);
  conn = adopt_pair (engine, &sink, &peer, 8 * 1024);

  /* Stay above the soft limit: tolerated for the grace period only. */
  while (crier_conn_send (conn, b) && g_get_monotonic_time () - start < 5 * G_USEC_PER_SEC)
    {
      g_usleep (5000);
      iterate (1);
    }
  g_assert_true (conn->closed);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 200 * 1000);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_USEC_PER_SEC);
  iterate (2);
  g_assert_cmpint (sink.reason, ==, CRIER_CLOSE_SLOW);

  close (peer);
  g_byte_array_unref (sink.received);
  crier_engine_free (engine);
}

static void
test_engine_timer_and_close_after_flush (void)
{
  CrierEngine *engine = crier_engine_new (NULL);
  Sink sink = { 0 };
  int peer;
  CrierConn *conn = adopt_pair (engine, &sink, &peer, 0);
  char buf[64];
  ssize_t n;

  crier_conn_set_timer (conn, crier_engine_now_ms (engine) + 120);
  WAIT_UNTIL_TIMEOUT (sink.timer_fired == 1, 2000);

  /* Goodbye bytes arrive, then EOF from our side; we close when the peer
   * closes its side (lingering close). */
  crier_conn_send_copy (conn, "bye", 3);
  crier_conn_close_after_flush (conn, CRIER_CLOSE_SERVER);
  g_assert_false (crier_conn_send_copy (conn, "late", 4));
  iterate (3);
  n = recv (peer, buf, sizeof buf, 0);
  g_assert_cmpint (n, ==, 3);
  g_assert_cmpint (recv (peer, buf, sizeof buf, 0), ==, 0);
  g_assert_false (sink.closed);
  close (peer);
  WAIT_UNTIL (sink.closed);
  g_assert_cmpint (sink.reason, ==, CRIER_CLOSE_SERVER);

  g_byte_array_unref (sink.received);
  crier_engine_free (engine);
}

/* ---- WebSocket through the server: libsoup's client ---------------------- */

typedef struct
{
  SoupWebsocketConnection *ws;
  GError                  *error;
  GPtrArray               *messages;
  gboolean                 closed;
  gushort                  close_code;
} SoupClient;

static void
soup_client_message (SoupWebsocketConnection *ws,
                     gint                     type,
                     GBytes                  *message,
                     gpointer                 data)
{
  SoupClient *c = data;
  gsize len;
  const char *p = g_bytes_get_data (message, &len);

  g_ptr_array_add (c->messages, g_strndup (p, len));
}

static void
soup_client_closed (SoupWebsocketConnection *ws,
                    gpointer                 data)
{
  SoupClient *c = data;

  c->closed = TRUE;
  c->close_code = soup_websocket_connection_get_close_code (ws);
}

static void
soup_client_connected (GObject      *source,
                       GAsyncResult *result,
                       gpointer      data)
{
  SoupClient *c = data;

  c->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &c->error);
  if (c->ws != NULL)
    {
      g_signal_connect (c->ws, "message", G_CALLBACK (soup_client_message), c);
      g_signal_connect (c->ws, "closed", G_CALLBACK (soup_client_closed), c);
    }
}

static void
test_ws_libsoup_client (void)
{
  CrierServer *server = test_server_new (NULL);
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autofree char *url = test_server_url (server, "ws", "/debug/ws");
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  SoupClient c = { .messages = g_ptr_array_new_with_free_func (g_free) };
  g_autofree char *body = NULL;
  g_autofree char *big = g_strnfill (100000, 'x');

  soup_session_websocket_connect_async (session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        soup_client_connected, &c);
  WAIT_UNTIL (c.ws != NULL || c.error != NULL);
  g_assert_no_error (c.error);
  WAIT_UNTIL (crier_engine_get_n_conns (crier_server_get_engine (server)) == 1);

  /* Broadcast: a POST reaches the client as one text message. */
  g_assert_cmpuint (test_http_request (crier_server_get_port (server), "POST", "/debug/publish",
                                       "{\"hello\":\"world\"}", &body), ==, 200);
  g_assert_cmpstr (body, ==, "{\"reached\":1}\n");
  WAIT_UNTIL (c.messages->len == 1);
  g_assert_cmpstr (g_ptr_array_index (c.messages, 0), ==, "{\"hello\":\"world\"}");

  /* The debug endpoint echoes: a short message and one that libsoup's
   * client sends as a single 100 KB frame (over the 64 KiB default cap:
   * the server closes with 1009). */
  soup_websocket_connection_send_text (c.ws, "echo me");
  WAIT_UNTIL (c.messages->len == 2);
  g_assert_cmpstr (g_ptr_array_index (c.messages, 1), ==, "echo me");

  soup_websocket_connection_send_text (c.ws, big);
  WAIT_UNTIL (c.closed);
  g_assert_cmpuint (c.close_code, ==, CRIER_WS_CLOSE_TOO_BIG);
  WAIT_UNTIL (crier_engine_get_n_conns (crier_server_get_engine (server)) == 0);

  g_clear_object (&c.ws);
  g_ptr_array_unref (c.messages);
  test_server_quit_unref (server);
}

static void
test_ws_client_close (void)
{
  CrierServer *server = test_server_new (NULL);
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autofree char *url = test_server_url (server, "ws", "/debug/ws");
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  SoupClient c = { .messages = g_ptr_array_new_with_free_func (g_free) };
  const CrierEngineStats *stats = crier_engine_get_stats (crier_server_get_engine (server));

  soup_session_websocket_connect_async (session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        soup_client_connected, &c);
  WAIT_UNTIL (c.ws != NULL || c.error != NULL);
  g_assert_no_error (c.error);

  /* A clean close handshake: the server echoes the code. */
  soup_websocket_connection_close (c.ws, 4321, "see you");
  WAIT_UNTIL (c.closed);
  g_assert_cmpuint (c.close_code, ==, 4321);
  WAIT_UNTIL (crier_engine_get_n_conns (crier_server_get_engine (server)) == 0);
  g_assert_cmpuint (stats->closed[CRIER_CLOSE_PEER], ==, 1);

  g_clear_object (&c.ws);
  g_ptr_array_unref (c.messages);
  test_server_quit_unref (server);
}

/* ---- WebSocket through the server: raw frames ---------------------------- */

static int
raw_ws (CrierServer *server)
{
  int fd = test_tcp_connect (crier_server_get_port (server));

  g_assert_true (test_ws_handshake (fd, "/debug/ws", NULL));
  return fd;
}

static void
expect_close (int     fd,
              guint16 code)
{
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  guint8 op = 0;

  g_assert_true (test_ws_read_frame (fd, &op, payload, 5000));
  g_assert_cmpuint (op, ==, CRIER_WS_OP_CLOSE);
  g_assert_cmpuint (payload->len, >=, 2);
  g_assert_cmpuint ((payload->data[0] << 8) | payload->data[1], ==, code);
  g_assert_true (test_fd_wait_eof (fd, 7000));
}

static void
test_ws_raw_broadcast_order (void)
{
  CrierServer *server = test_server_new (NULL);
  int fds[5];
  g_autoptr(GByteArray) payload = g_byte_array_new ();

  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    fds[i] = raw_ws (server);
  WAIT_UNTIL (crier_engine_get_n_conns (crier_server_get_engine (server)) == G_N_ELEMENTS (fds));

  for (guint m = 0; m < 100; m++)
    {
      g_autofree char *body = g_strdup_printf ("{\"seq\":%u}", m);

      g_assert_cmpuint (test_http_request (crier_server_get_port (server), "POST", "/debug/publish",
                                           body, NULL), ==, 200);
    }

  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    {
      for (guint m = 0; m < 100; m++)
        {
          g_autofree char *expect = g_strdup_printf ("{\"seq\":%u}", m);
          guint8 op = 0;

          g_assert_true (test_ws_read_frame (fds[i], &op, payload, 5000));
          g_assert_cmpuint (op, ==, CRIER_WS_OP_TEXT);
          g_assert_cmpmem (payload->data, payload->len, expect, strlen (expect));
        }
      close (fds[i]);
    }
  WAIT_UNTIL (crier_engine_get_n_conns (crier_server_get_engine (server)) == 0);
  test_server_quit_unref (server);
}

static void
test_ws_fragments_and_interleaved_ping (void)
{
  CrierServer *server = test_server_new (NULL);
  int fd = raw_ws (server);
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  guint8 op = 0;

  /* "héllo wörld" split inside multi-byte characters, ping in between. */
  test_ws_send (fd, CRIER_WS_OP_TEXT, FALSE, "h\xc3", 2);
  test_ws_send (fd, CRIER_WS_OP_PING, TRUE, "p1", 2);
  test_ws_send (fd, CRIER_WS_OP_CONTINUATION, FALSE, "\xa9llo w\xc3", 7);
  test_ws_send (fd, CRIER_WS_OP_CONTINUATION, TRUE, "\xb6rld", 4);

  g_assert_true (test_ws_read_frame (fd, &op, payload, 5000));
  g_assert_cmpuint (op, ==, CRIER_WS_OP_PONG);
  g_assert_cmpmem (payload->data, payload->len, "p1", 2);
  g_assert_true (test_ws_read_frame (fd, &op, payload, 5000));
  g_assert_cmpuint (op, ==, CRIER_WS_OP_TEXT);
  g_assert_cmpmem (payload->data, payload->len, "h\xc3\xa9llo w\xc3\xb6rld", 13);

  close (fd);
  test_server_quit_unref (server);
}

static void
test_ws_protocol_errors (void)
{
  const char * const overrides[] = { "websocket.max_frame_size=1KiB", "websocket.max_message_size=1KiB", NULL };
  CrierServer *server = test_server_new (overrides);
  const CrierEngineStats *stats = crier_engine_get_stats (crier_server_get_engine (server));
  g_autofree char *big = g_strnfill (600, 'a');
  int fd;

  /* Unmasked client frame: 1002. */
  fd = raw_ws (server);
  g_assert_cmpint (send (fd, "\x81\x02hi", 4, 0), ==, 4);
  expect_close (fd, CRIER_WS_CLOSE_PROTOCOL_ERROR);
  close (fd);

  /* Invalid UTF-8 in a text message: 1007. */
  fd = raw_ws (server);
  test_ws_send (fd, CRIER_WS_OP_TEXT, TRUE, "\xc3\x28", 2);
  expect_close (fd, CRIER_WS_CLOSE_BAD_DATA);
  close (fd);

  /* A message over the cap, in fragments that are each under it: 1009. */
  fd = raw_ws (server);
  test_ws_send (fd, CRIER_WS_OP_TEXT, FALSE, big, 600);
  test_ws_send (fd, CRIER_WS_OP_CONTINUATION, TRUE, big, 600);
  expect_close (fd, CRIER_WS_CLOSE_TOO_BIG);
  close (fd);

  WAIT_UNTIL (crier_engine_get_n_conns (crier_server_get_engine (server)) == 0);
  g_assert_cmpuint (stats->closed[CRIER_CLOSE_PROTOCOL], ==, 3);
  test_server_quit_unref (server);
}

static void
test_ws_ping_pong_timeout (void)
{
  const char * const overrides[] = { "websocket.pong_timeout=300ms", "websocket.ping_interval=400ms", NULL };
  CrierServer *server = test_server_new (overrides);
  const CrierEngineStats *stats = crier_engine_get_stats (crier_server_get_engine (server));
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  int good = raw_ws (server);
  int silent = raw_ws (server);
  guint8 op = 0;

  /* The good client answers three pings and stays. */
  for (guint i = 0; i < 3; i++)
    {
      g_assert_true (test_ws_read_frame (good, &op, payload, 3000));
      g_assert_cmpuint (op, ==, CRIER_WS_OP_PING);
      test_ws_send (good, CRIER_WS_OP_PONG, TRUE, payload->data, payload->len);
    }

  /* The silent one is closed after its pong timeout. */
  g_assert_true (test_ws_read_frame (silent, &op, payload, 3000));
  g_assert_cmpuint (op, ==, CRIER_WS_OP_PING);
  expect_close (silent, 1011);
  close (silent);

  WAIT_UNTIL (stats->closed[CRIER_CLOSE_TIMEOUT] == 1);
  g_assert_cmpuint (crier_engine_get_n_conns (crier_server_get_engine (server)), ==, 1);
  close (good);
  test_server_quit_unref (server);
}

static void
test_ws_slow_reader_evicted (void)
{
  const char * const overrides[] = { "limits.outbound_soft_limit=64KiB", "limits.outbound_hard_limit=256KiB",
                                     "limits.max_request_body=64KiB", NULL };
  CrierServer *server = test_server_new (overrides);
  const CrierEngineStats *stats = crier_engine_get_stats (crier_server_get_engine (server));
  g_autofree char *body = g_strnfill (60000, 'z');
  int slow = raw_ws (server);
  int rcvbuf = 4096;
  guint posts = 0;

  setsockopt (slow, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  /* The client never reads: once the kernel buffers are full the server's
   * queue grows to the hard limit and the client is evicted. */
  while (stats->closed[CRIER_CLOSE_SLOW] == 0 && posts < 2000)
    {
      g_assert_cmpuint (test_http_request (crier_server_get_port (server), "POST", "/debug/publish",
                                           body, NULL), ==, 200);
      posts++;
    }
  g_assert_cmpuint (stats->closed[CRIER_CLOSE_SLOW], ==, 1);
  g_assert_cmpuint (crier_engine_get_n_conns (crier_server_get_engine (server)), ==, 0);
  g_test_message ("evicted after %u publishes of 60 KB", posts);
  close (slow);
  test_server_quit_unref (server);
}

/* ---- listener ------------------------------------------------------------ */

static void
test_listener_cap (void)
{
  const char * const overrides[] = { "server.max_connections=3", NULL };
  CrierServer *server = test_server_new (overrides);
  CrierConnBudget *budget = crier_server_get_budget (server);
  int fds[3];
  int extra;
  char buf[256] = { 0 };

  for (guint i = 0; i < 3; i++)
    fds[i] = raw_ws (server);
  WAIT_UNTIL (crier_engine_get_n_conns (crier_server_get_engine (server)) == 3);

  /* The fourth gets a 503 and is closed; the refusal is counted. */
  extra = test_tcp_connect (crier_server_get_port (server));
  WAIT_UNTIL (budget->refused_cap == 1);
  g_assert_cmpint (recv (extra, buf, sizeof buf - 1, 0), >, 0);
  g_assert_true (g_str_has_prefix (buf, "HTTP/1.1 503"));
  g_assert_nonnull (strstr (buf, "Retry-After:"));
  close (extra);

  /* Room again once one leaves. */
  close (fds[0]);
  WAIT_UNTIL (crier_engine_get_n_conns (crier_server_get_engine (server)) == 2);
  fds[0] = raw_ws (server);
  for (guint i = 0; i < 3; i++)
    close (fds[i]);
  test_server_quit_unref (server);
}

static void
test_listener_survives_emfile (void)
{
  CrierServer *server = test_server_new (NULL);
  CrierConnBudget *budget = crier_server_get_budget (server);
  struct rlimit saved, low;
  int clients[4];
  int probe;
  guint64 errors;

  for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
    clients[i] = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  probe = dup (0);
  close (probe);

  /* No descriptor above the current ones may be opened from now on. */
  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &saved), ==, 0);
  low = saved;
  low.rlim_cur = probe;
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &low), ==, 0);

  for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
    {
      struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (crier_server_get_port (server)),
                                  .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };

      g_assert_cmpint (connect (clients[i], (struct sockaddr *) &addr, sizeof addr), ==, 0);
    }

  WAIT_UNTIL (budget->accept_errors > 0);
  /* Paused, not spinning: a few errors in 300 ms, not thousands. */
  {
    gint64 until = g_get_monotonic_time () + 300 * 1000;

    while (g_get_monotonic_time () < until)
      iterate (10);
  }
  errors = budget->accept_errors;
  g_assert_cmpuint (errors, <, 20);

  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &saved), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
    {
      struct timeval tv = { .tv_sec = 10 };

      setsockopt (clients[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      g_assert_true (test_ws_handshake (clients[i], "/debug/ws", NULL));
    }
  WAIT_UNTIL (crier_engine_get_n_conns (crier_server_get_engine (server)) == G_N_ELEMENTS (clients));
  for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
    close (clients[i]);
  test_server_quit_unref (server);
}

static void
test_listener_refuses_taken_port (void)
{
  g_autoptr(GError) error = NULL;
  CrierServer *first = test_server_new (NULL);
  CrierConfig *config = crier_config_new ();
  g_autofree char *listen = g_strdup_printf ("server.listen=127.0.0.1:%u", crier_server_get_port (first));
  CrierServer *second;

  /* SO_REUSEPORT must not let a second crierd share a port by mistake. */
  g_assert_true (crier_config_set (config, listen, NULL));
  second = crier_server_new (config);
  g_assert_false (crier_server_start (second, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  test_server_quit_unref (second);
  test_server_quit_unref (first);
}

static void
test_health_endpoints (void)
{
  CrierServer *server = test_server_new (NULL);
  guint16 port = crier_server_get_port (server);
  g_autofree char *body = NULL;
  g_autofree char *body2 = NULL;

  g_assert_cmpuint (test_http_request (port, "GET", "/healthz", NULL, &body), ==, 200);
  g_assert_nonnull (strstr (body, "ok"));
  g_assert_cmpuint (test_http_request (port, "GET", "/readyz", NULL, NULL), ==, 200);
  g_assert_cmpuint (test_http_request (port, "GET", "/nope", NULL, &body2), ==, 404);
  g_assert_cmpuint (test_http_request (port, "GET", "/debug/publish", NULL, NULL), ==, 405);
  test_server_quit_unref (server);
}

static void
test_http_keepalive (void)
{
  CrierServer *server = test_server_new (NULL);
  int fd = test_tcp_connect (crier_server_get_port (server));
  const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  GString *got = g_string_new (NULL);
  char *p;
  guint n_responses = 0;

  /* Publishers reuse their connection: two requests, two responses, and
   * the connection stays open (libsoup needs an anchored listener). */
  for (guint i = 0; i < 2; i++)
    g_assert_cmpint (send (fd, req, sizeof req - 1, 0), ==, (gssize) (sizeof req - 1));
  for (gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
       n_responses < 2 && g_get_monotonic_time () < deadline;)
    {
      char buf[1024];
      ssize_t n;

      iterate (5);
      n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0)
        g_string_append_len (got, buf, n);
      g_assert_cmpint (n, !=, 0);
      n_responses = 0;
      for (p = got->str; (p = strstr (p, "HTTP/1.1 200")) != NULL; p++)
        n_responses++;
    }
  g_assert_cmpuint (n_responses, ==, 2);
  g_assert_false (test_fd_wait_eof (fd, 300));
  close (fd);
  g_string_free (got, TRUE);
  test_server_quit_unref (server);
}

int
main (int   argc,
      char *argv[])
{
  test_init (&argc, &argv);

  g_test_add_func ("/engine/coalesced-writev", test_engine_coalesced_writev);
  g_test_add_func ("/engine/hard-limit-evicts", test_engine_hard_limit_evicts);
  g_test_add_func ("/engine/soft-limit-grace", test_engine_soft_limit_grace);
  g_test_add_func ("/engine/timer-and-close-after-flush", test_engine_timer_and_close_after_flush);
  g_test_add_func ("/server/ws/libsoup-client", test_ws_libsoup_client);
  g_test_add_func ("/server/ws/client-close", test_ws_client_close);
  g_test_add_func ("/server/ws/broadcast-order", test_ws_raw_broadcast_order);
  g_test_add_func ("/server/ws/fragments-interleaved-ping", test_ws_fragments_and_interleaved_ping);
  g_test_add_func ("/server/ws/protocol-errors", test_ws_protocol_errors);
  g_test_add_func ("/server/ws/ping-pong-timeout", test_ws_ping_pong_timeout);
  g_test_add_func ("/server/ws/slow-reader-evicted", test_ws_slow_reader_evicted);
  g_test_add_func ("/server/listener/cap", test_listener_cap);
  g_test_add_func ("/server/listener/survives-emfile", test_listener_survives_emfile);
  g_test_add_func ("/server/listener/refuses-taken-port", test_listener_refuses_taken_port);
  g_test_add_func ("/server/health", test_health_endpoints);
  g_test_add_func ("/server/http-keepalive", test_http_keepalive);

  return g_test_run ();
}
