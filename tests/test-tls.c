/* test-tls.c: [tls] on the client listeners: wss:// with libsoup's client
 * trusting a certificate made by the test (GnuTLS), an https API call,
 * SSE through a raw GTlsClientConnection, a certificate reload that keeps
 * an open wss connection while new connections see the new certificate,
 * clear errors for bad files, and TLS on the admin TCP listener.
 *
 * [tls] priority: handshakes from a GnuTLS client limited to one version,
 * key exchange or cipher family (refused: TLS 1.0/1.1, RSA key exchange,
 * CBC; served: TLS 1.2 ECDHE AEAD, TLS 1.3), with crierd subprocesses as
 * the control.  Every transport through a TLS listener (Centrifugo over
 * wss, uni_websocket, http_stream, sse, /emulation, long polling, admin
 * WebSocket), and SIGHUP to a real crierd renewing both certificates. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crier-admin.h"
#include "test-cert.h"
#include "test-utils.h"

/* ---- certificates ------------------------------------------------------- */

static void
make_cert (const char *cert_path,
           const char *key_path,
           const char *cn,
           guint8      serial)
{
  test_make_certificate (cert_path, key_path, cn, serial, FALSE);
}

typedef struct
{
  char *dir;
  char *cert;
  char *key;
} Certs;

static void
certs_init (Certs *c)
{
  g_autoptr(GError) error = NULL;

  c->dir = g_dir_make_tmp ("crier-tls-XXXXXX", &error);
  g_assert_no_error (error);
  c->cert = g_build_filename (c->dir, "cert.pem", NULL);
  c->key = g_build_filename (c->dir, "key.pem", NULL);
  make_cert (c->cert, c->key, "crier test 1", 1);
}

static void
certs_clear (Certs *c)
{
  g_unlink (c->cert);
  g_unlink (c->key);
  g_rmdir (c->dir);
  g_free (c->cert);
  g_free (c->key);
  g_free (c->dir);
}

static CrierServer *
tls_server_new (Certs *c)
{
  g_autofree char *cert = g_strdup_printf ("tls.cert_file=%s", c->cert);
  g_autofree char *key = g_strdup_printf ("tls.key_file=%s", c->key);
  const char *overrides[] = {
    key, cert,
    "auth.allow_anonymous=true",
    "auth.api_keys=tls-test-key",
    "auth.hmac_secret=secret",
    "channels.history_size=10",
    NULL
  };

  return test_server_new (overrides);
}

/* A session that trusts only the certificate in @cert_path. */
static SoupSession *
trusting_session (const char *cert_path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GTlsDatabase) db = g_tls_file_database_new (cert_path, &error);

  g_assert_no_error (error);
  return soup_session_new_with_options ("tls-database", db, "timeout", 10, NULL);
}

/* ---- a wss client -------------------------------------------------------- */

typedef struct
{
  SoupWebsocketConnection *ws;
  SoupMessage             *msg;
  GError                  *error;
  GPtrArray               *received;  /* char* */
  gboolean                 done;
} WsClient;

static void
ws_message_cb (SoupWebsocketConnection *ws,
               gint                     type,
               GBytes                  *message,
               gpointer                 data)
{
  WsClient *c = data;
  gsize len;
  const char *p = g_bytes_get_data (message, &len);

  g_ptr_array_add (c->received, g_strndup (p, len));
}

static void
ws_connected_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      data)
{
  WsClient *c = data;

  c->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &c->error);
  if (c->ws != NULL)
    g_signal_connect (c->ws, "message", G_CALLBACK (ws_message_cb), c);
  c->done = TRUE;
}

static void
ws_connect_url (WsClient    *c,
                SoupSession *session,
                const char  *url,
                const char  *authorization)
{
  memset (c, 0, sizeof *c);
  c->received = g_ptr_array_new_with_free_func (g_free);
  c->msg = soup_message_new ("GET", url);
  if (authorization != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (c->msg), "Authorization", authorization);
  soup_session_websocket_connect_async (session, c->msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        ws_connected_cb, c);
  WAIT_UNTIL (c->done);
}

/* Index of the first message received from @from on that contains
 * @needle, or -1. */
static int
ws_find (WsClient   *c,
         guint       from,
         const char *needle)
{
  for (guint i = from; i < c->received->len; i++)
    if (strstr (g_ptr_array_index (c->received, i), needle) != NULL)
      return (int) i;
  return -1;
}

static void
ws_connect (WsClient    *c,
            SoupSession *session,
            CrierServer *server)
{
  g_autofree char *url = test_server_url (server, "wss", "/debug/ws");

  memset (c, 0, sizeof *c);
  c->received = g_ptr_array_new_with_free_func (g_free);
  c->msg = soup_message_new ("GET", url);
  soup_session_websocket_connect_async (session, c->msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        ws_connected_cb, c);
  WAIT_UNTIL (c->done);
}

static void
ws_echo (WsClient   *c,
         const char *text)
{
  guint before = c->received->len;

  soup_websocket_connection_send_text (c->ws, text);
  WAIT_UNTIL (c->received->len > before);
  g_assert_cmpstr (g_ptr_array_index (c->received, before), ==, text);
}

static void
ws_clear (WsClient *c)
{
  if (c->ws != NULL)
    {
      soup_websocket_connection_close (c->ws, 1000, NULL);
      WAIT_UNTIL (soup_websocket_connection_get_state (c->ws) == SOUP_WEBSOCKET_STATE_CLOSED);
    }
  g_clear_object (&c->ws);
  g_clear_object (&c->msg);
  g_clear_error (&c->error);
  g_clear_pointer (&c->received, g_ptr_array_unref);
}

/* ---- tests -------------------------------------------------------------- */

static void
test_wss (void)
{
  Certs certs;
  CrierServer *server;
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(GTlsCertificate) expected = NULL;
  WsClient c;

  certs_init (&certs);
  server = tls_server_new (&certs);
  session = trusting_session (certs.cert);

  ws_connect (&c, session, server);
  g_assert_no_error (c.error);
  ws_echo (&c, "hello over wss");
  expected = g_tls_certificate_new_from_file (certs.cert, NULL);
  g_assert_true (g_tls_certificate_is_same (soup_message_get_tls_peer_certificate (c.msg), expected));
  g_assert_cmpuint (crier_server_get_budget (server)->tls_handshakes, >=, 1);
  ws_clear (&c);

  /* Plain HTTP on the TLS port gets nothing useful. */
  {
    g_autofree char *body = NULL;

    g_assert_cmpuint (test_http_request (crier_server_get_port (server), "GET", "/healthz", NULL, &body), ==, 0);
  }
  WAIT_UNTIL (crier_server_get_limit_stats (server)->refused[CRIER_LIMIT_TLS_HANDSHAKE] >= 1);

  /* A client that does not trust the certificate is refused. */
  {
    g_autoptr(SoupSession) stranger = soup_session_new ();
    WsClient s;

    ws_connect (&s, stranger, server);
    g_assert_nonnull (s.error);
    g_assert_null (s.ws);
    ws_clear (&s);
  }

  test_server_quit_unref (server);
  certs_clear (&certs);
}

typedef struct
{
  GBytes *body;
  guint   status;
  GError *error;
  gboolean done;
} HttpResult;

static void
http_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      data)
{
  HttpResult *r = data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);

  r->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &r->error);
  r->status = soup_message_get_status (msg);
  r->done = TRUE;
}

static void
test_https_api (void)
{
  Certs certs;
  CrierServer *server;
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autofree char *url = NULL;
  static const char publish[] = "{\"channel\":\"news\",\"data\":{\"n\":1}}";
  g_autoptr(GBytes) request = g_bytes_new_static (publish, strlen (publish));
  HttpResult r = { 0 };

  certs_init (&certs);
  server = tls_server_new (&certs);
  session = trusting_session (certs.cert);
  url = test_server_url (server, "https", "/api/publish");
  msg = soup_message_new ("POST", url);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "X-API-Key", "tls-test-key");
  soup_message_set_request_body_from_bytes (msg, "application/json", request);
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, http_done_cb, &r);
  WAIT_UNTIL (r.done);
  g_assert_no_error (r.error);
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_nonnull (strstr (g_bytes_get_data (r.body, NULL), "\"offset\""));
  g_bytes_unref (r.body);

  /* Keep-alive over TLS: a second request on the same session. */
  g_clear_object (&msg);
  g_free (url);
  url = test_server_url (server, "https", "/healthz");
  msg = soup_message_new ("GET", url);
  memset (&r, 0, sizeof r);
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, http_done_cb, &r);
  WAIT_UNTIL (r.done);
  g_assert_no_error (r.error);
  g_assert_cmpuint (r.status, ==, 200);
  g_bytes_unref (r.body);

  g_clear_object (&session);
  test_server_quit_unref (server);
  certs_clear (&certs);
}

/* SSE through a GTlsClientConnection of our own: the plain dialect's
 * GET /sub/CHANNEL, then a publication through the API. */
typedef struct
{
  GIOStream *tls;
  GString   *in;
  gboolean   handshaken;
  gboolean   eof;
  GError    *error;
  guint8     buf[4096];
} RawTls;

static void
raw_handshake_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      data)
{
  RawTls *r = data;

  g_tls_connection_handshake_finish (G_TLS_CONNECTION (source), result, &r->error);
  r->handshaken = TRUE;
}

static void raw_read_more (RawTls *r);

static void
raw_read_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      data)
{
  RawTls *r = data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (n <= 0)
    {
      r->eof = TRUE;
      return;
    }
  g_string_append_len (r->in, (const char *) r->buf, n);
  raw_read_more (r);
}

static void
raw_read_more (RawTls *r)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (r->tls), r->buf, sizeof r->buf,
                             G_PRIORITY_DEFAULT, NULL, raw_read_cb, r);
}

static void
raw_tls_connect (RawTls      *r,
                 guint16      port,
                 const char  *trust)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GTlsDatabase) db = g_tls_file_database_new (trust, &error);
  g_autoptr(GSocketConnectable) identity = g_network_address_new ("127.0.0.1", port);

  g_assert_no_error (error);
  memset (r, 0, sizeof *r);
  r->in = g_string_new (NULL);
  conn = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  g_assert_no_error (error);
  r->tls = g_tls_client_connection_new (G_IO_STREAM (conn), identity, &error);
  g_assert_no_error (error);
  g_tls_connection_set_database (G_TLS_CONNECTION (r->tls), db);
  g_tls_connection_handshake_async (G_TLS_CONNECTION (r->tls), G_PRIORITY_DEFAULT, NULL,
                                    raw_handshake_cb, r);
  WAIT_UNTIL (r->handshaken);
  g_assert_no_error (r->error);
}

static void
raw_tls_clear (RawTls *r)
{
  g_io_stream_close (r->tls, NULL, NULL);
  if (!r->eof)
    WAIT_UNTIL (r->eof);
  g_clear_object (&r->tls);
  g_string_free (r->in, TRUE);
}

static void
test_sse_over_tls (void)
{
  Certs certs;
  CrierServer *server;
  RawTls r;
  const char *request = "GET /sub/news HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autofree char *url = NULL;
  static const char publish[] = "{\"channel\":\"news\",\"data\":{\"sse\":\"yes\"}}";
  g_autoptr(GBytes) body = g_bytes_new_static (publish, strlen (publish));
  HttpResult h = { 0 };

  certs_init (&certs);
  server = tls_server_new (&certs);
  raw_tls_connect (&r, crier_server_get_port (server), certs.cert);
  g_output_stream_write_all (g_io_stream_get_output_stream (r.tls), request, strlen (request),
                             NULL, NULL, &error);
  g_assert_no_error (error);
  raw_read_more (&r);
  WAIT_UNTIL (strstr (r.in->str, "\r\n\r\n") != NULL);
  g_assert_true (g_str_has_prefix (r.in->str, "HTTP/1.1 200"));
  g_assert_nonnull (strstr (r.in->str, "text/event-stream"));
  WAIT_UNTIL (crier_hub_get_stats (crier_server_get_hub (server))->subscriptions == 1);

  session = trusting_session (certs.cert);
  url = test_server_url (server, "https", "/api/publish");
  msg = soup_message_new ("POST", url);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "X-API-Key", "tls-test-key");
  soup_message_set_request_body_from_bytes (msg, "application/json", body);
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, http_done_cb, &h);
  WAIT_UNTIL (h.done);
  g_assert_cmpuint (h.status, ==, 200);
  g_bytes_unref (h.body);

  WAIT_UNTIL (strstr (r.in->str, "{\"sse\":\"yes\"}") != NULL);
  g_assert_nonnull (strstr (r.in->str, "data: {\"sse\":\"yes\"}"));

  raw_tls_clear (&r);
  g_clear_object (&session);
  test_server_quit_unref (server);
  certs_clear (&certs);
}

static void
test_reload_certificate (void)
{
  Certs certs;
  CrierServer *server;
  g_autoptr(SoupSession) old_session = NULL;
  g_autoptr(SoupSession) new_session = NULL;
  g_autoptr(GTlsCertificate) first = NULL;
  g_autoptr(GTlsCertificate) second = NULL;
  g_autoptr(CrierConfig) fresh = NULL;
  WsClient before, after;

  certs_init (&certs);
  server = tls_server_new (&certs);
  first = g_tls_certificate_new_from_file (certs.cert, NULL);
  old_session = trusting_session (certs.cert);
  ws_connect (&before, old_session, server);
  g_assert_no_error (before.error);
  ws_echo (&before, "before reload");

  /* Renew the certificate at the same paths and reload (what SIGHUP does). */
  make_cert (certs.cert, certs.key, "crier test 2", 2);
  second = g_tls_certificate_new_from_file (certs.cert, NULL);
  g_assert_false (g_tls_certificate_is_same (first, second));
  fresh = crier_config_copy (crier_server_get_config (server));
  crier_server_reload (server, fresh);
  g_assert_true (g_tls_certificate_is_same (crier_server_get_tls_certificate (server), second));

  /* The open connection goes on, with the old certificate. */
  ws_echo (&before, "after reload, old connection");
  g_assert_true (g_tls_certificate_is_same (soup_message_get_tls_peer_certificate (before.msg), first));

  /* New connections see the new certificate. */
  new_session = trusting_session (certs.cert);
  ws_connect (&after, new_session, server);
  g_assert_no_error (after.error);
  ws_echo (&after, "new connection");
  g_assert_true (g_tls_certificate_is_same (soup_message_get_tls_peer_certificate (after.msg), second));
  ws_echo (&before, "old still alive");

  /* A broken file on reload keeps the running certificate. */
  g_assert_true (g_file_set_contents (certs.cert, "not a certificate\n", -1, NULL));
  g_clear_pointer (&fresh, crier_config_free);
  fresh = crier_config_copy (crier_server_get_config (server));
  crier_server_reload (server, fresh);
  g_assert_true (g_tls_certificate_is_same (crier_server_get_tls_certificate (server), second));
  ws_echo (&after, "still serving");

  ws_clear (&before);
  ws_clear (&after);
  g_clear_object (&old_session);
  g_clear_object (&new_session);
  test_server_quit_unref (server);
  certs_clear (&certs);
}

static void
test_bad_files (void)
{
  Certs certs;
  g_autoptr(GError) error = NULL;
  g_autofree char *missing = NULL;
  const char *bad[3];
  CrierConfig *config = crier_config_new ();
  g_autoptr(CrierServer) server = NULL;
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;

  certs_init (&certs);
  missing = g_build_filename (certs.dir, "missing.pem", NULL);
  cert = g_strdup_printf ("tls.cert_file=%s", missing);
  key = g_strdup_printf ("tls.key_file=%s", certs.key);
  bad[0] = key;
  bad[1] = cert;
  bad[2] = NULL;
  g_assert_true (crier_config_set (config, "server.listen=127.0.0.1:0", NULL));
  for (guint i = 0; bad[i] != NULL; i++)
    g_assert_true (crier_config_set (config, bad[i], NULL));
  {
    g_autofree char *admin = g_strdup_printf ("admin.socket=%s/admin.sock", certs.dir);

    g_assert_true (crier_config_set (config, admin, NULL));
  }
  server = crier_server_new (config);
  g_assert_false (crier_server_start (server, &error));
  g_assert_nonnull (error);
  g_test_message ("error: %s", error->message);
  g_assert_nonnull (strstr (error->message, missing));
  g_assert_nonnull (strstr (error->message, "[tls]"));

  /* Only one of the pair is a configuration error. */
  {
    g_autoptr(CrierConfig) half = crier_config_new ();
    g_autoptr(GError) e = NULL;
    g_autofree char *set = g_strdup_printf ("tls.cert_file=%s", certs.cert);

    g_assert_false (crier_config_set (half, set, &e));
    g_assert_nonnull (strstr (e->message, "key_file"));
  }
  certs_clear (&certs);
}

/* ---- a GnuTLS client of our own ------------------------------------------ */

/* One handshake from a GnuTLS client restricted to @priority, run in a
 * thread while the test's main context (the server's) goes on. */
typedef struct
{
  guint16                   port;
  char                     *priority;
  int                       result;   /* of gnutls_handshake(): 0 or an error */
  gnutls_protocol_t         version;
  gnutls_kx_algorithm_t     kx;
  gnutls_cipher_algorithm_t cipher;
  gint                      done;
} Probe;

static Probe *probe_run  (guint16     port,
                          const char *priority);
static void   probe_free (Probe      *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Probe, probe_free)
#define ONLY_TLS13 "NORMAL:-VERS-ALL:+VERS-TLS1.3"

static void
test_admin_tls (void)
{
  Certs certs;
  CrierServer *server;
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autofree char *url = NULL;
  HttpResult r = { 0 };

  certs_init (&certs);
  cert = g_strdup_printf ("tls.admin_cert_file=%s", certs.cert);
  key = g_strdup_printf ("tls.admin_key_file=%s", certs.key);
  {
    const char *overrides[] = {
      key, cert, "tls.admin=true", "admin.token=admin-secret", "admin.listen=127.0.0.1:0", NULL
    };

    server = test_server_new (overrides);
  }
  g_assert_null (crier_server_get_tls_certificate (server));
  session = trusting_session (certs.cert);
  url = g_strdup_printf ("https://127.0.0.1:%u/metrics",
                         crier_admin_get_tcp_port (crier_server_get_admin (server)));
  msg = soup_message_new ("GET", url);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", "Bearer admin-secret");
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, http_done_cb, &r);
  WAIT_UNTIL (r.done);
  g_assert_no_error (r.error);
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_nonnull (strstr (g_bytes_get_data (r.body, NULL), "crier_rejections_total"));
  g_bytes_unref (r.body);

  /* Plain HTTP to the TLS port: the handshake fails, the refusal is
   * logged and the connection closed at once, with no HTTP answer. */
  {
    static const char plain[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Authorization: Bearer admin-secret\r\nConnection: close\r\n\r\n";
    g_autofree char *headers = NULL;
    gint64 start = g_get_monotonic_time ();
    guint status = test_http_raw (crier_admin_get_tcp_port (crier_server_get_admin (server)),
                                  plain, sizeof plain - 1, &headers, NULL);

    g_assert_cmpuint (status, ==, 0);
    g_assert_null (strstr (headers, "HTTP/1."));
    g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  }

  /* [tls] priority covers the admin listener too. */
  {
    guint16 admin_port = crier_admin_get_tcp_port (crier_server_get_admin (server));
    g_autoptr(Probe) old = probe_run (admin_port, "NORMAL:-VERS-ALL:+VERS-TLS1.1");
    g_autoptr(Probe) tls13 = probe_run (admin_port, ONLY_TLS13);

    g_assert_cmpint (old->result, <, 0);
    g_assert_cmpint (tls13->result, ==, 0);
    g_assert_cmpint (tls13->version, ==, GNUTLS_TLS1_3);
  }

  /* ... and TLS clients are still served. */
  g_clear_object (&msg);
  memset (&r, 0, sizeof r);
  msg = soup_message_new ("GET", url);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", "Bearer admin-secret");
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, http_done_cb, &r);
  WAIT_UNTIL (r.done);
  g_assert_no_error (r.error);
  g_assert_cmpuint (r.status, ==, 200);
  g_bytes_unref (r.body);

  g_clear_object (&session);
  test_server_quit_unref (server);
  certs_clear (&certs);
}

/* ---- priorities ---------------------------------------------------------- */

static gpointer
probe_thread (gpointer data)
{
  Probe *p = data;
  gnutls_certificate_credentials_t cred = NULL;
  gnutls_session_t session = NULL;
  struct sockaddr_in addr = { 0 };
  struct timeval tv = { .tv_sec = 10 };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int ret;

  addr.sin_family = AF_INET;
  addr.sin_port = htons (p->port);
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  p->result = GNUTLS_E_PUSH_ERROR;
  if (fd < 0 || connect (fd, (struct sockaddr *) &addr, sizeof addr) != 0)
    goto out;
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

  /* The client verifies nothing: only what the server agrees to matters. */
  if (gnutls_certificate_allocate_credentials (&cred) != 0 ||
      gnutls_init (&session, GNUTLS_CLIENT) != 0 ||
      gnutls_priority_set_direct (session, p->priority, NULL) != 0 ||
      gnutls_credentials_set (session, GNUTLS_CRD_CERTIFICATE, cred) != 0)
    {
      p->result = GNUTLS_E_INVALID_REQUEST;
      goto out;
    }
  gnutls_transport_set_int (session, fd);
  gnutls_handshake_set_timeout (session, 10000);
  do
    ret = gnutls_handshake (session);
  while (ret < 0 && !gnutls_error_is_fatal (ret));
  p->result = ret;
  if (ret == 0)
    {
      p->version = gnutls_protocol_get_version (session);
      p->kx = gnutls_kx_get (session);
      p->cipher = gnutls_cipher_get (session);
      gnutls_bye (session, GNUTLS_SHUT_WR);
    }

out:
  if (session != NULL)
    gnutls_deinit (session);
  if (cred != NULL)
    gnutls_certificate_free_credentials (cred);
  if (fd >= 0)
    close (fd);
  g_atomic_int_set (&p->done, 1);
  return NULL;
}

static void
probe_free (Probe *p)
{
  g_free (p->priority);
  g_free (p);
}

static Probe *
probe_run (guint16     port,
           const char *priority)
{
  Probe *p = g_new0 (Probe, 1);
  GThread *thread;

  p->port = port;
  p->priority = g_strdup (priority);
  thread = g_thread_new ("tls-probe", probe_thread, p);
  WAIT_UNTIL (g_atomic_int_get (&p->done));
  g_thread_join (thread);
  if (p->result == 0)
    g_test_message ("%s: %s %s %s", priority, gnutls_protocol_get_name (p->version),
                    gnutls_kx_get_name (p->kx), gnutls_cipher_get_name (p->cipher));
  else
    g_test_message ("%s: refused (%s)", priority, gnutls_strerror (p->result));
  return p;
}

/* What a client may only offer, and what the default must refuse. */
static const char * const weak_offers[] = {
  "NORMAL:-VERS-ALL:+VERS-TLS1.0",
  "NORMAL:-VERS-ALL:+VERS-TLS1.1",
  "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA",
  "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-CBC:+AES-128-CBC:-MAC-ALL:+SHA1:+SHA256",
};
#define ECDHE_AEAD_TLS12 "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+ECDHE-RSA:-CIPHER-ALL:+AES-128-GCM"

static void
certs_init_rsa (Certs *c)
{
  certs_init (c);
  test_make_certificate (c->cert, c->key, "crier test rsa", 3, TRUE);
}

static void
test_priority_default (void)
{
  Certs certs;
  CrierServer *server;
  guint16 port;
  guint64 failed;

  certs_init_rsa (&certs);
  server = tls_server_new (&certs);
  port = crier_server_get_port (server);
  g_assert_cmpstr (crier_server_get_config (server)->tls_priority, ==, "modern");
  g_assert_cmpstr (g_getenv ("G_TLS_GNUTLS_PRIORITY"), ==, CRIER_TLS_MODERN_PRIORITY);

  /* TLS 1.0 and 1.1, RSA key exchange (no forward secrecy) and CBC:
   * refused, and counted as failed handshakes. */
  failed = crier_server_get_limit_stats (server)->refused[CRIER_LIMIT_TLS_HANDSHAKE];
  for (guint i = 0; i < G_N_ELEMENTS (weak_offers); i++)
    {
      g_autoptr(Probe) p = probe_run (port, weak_offers[i]);

      g_assert_cmpint (p->result, <, 0);
    }
  WAIT_UNTIL (crier_server_get_limit_stats (server)->refused[CRIER_LIMIT_TLS_HANDSHAKE] >=
              failed + G_N_ELEMENTS (weak_offers));

  /* TLS 1.2 with ECDHE and AES-GCM, and TLS 1.3: served. */
  {
    g_autoptr(Probe) p = probe_run (port, ECDHE_AEAD_TLS12);

    g_assert_cmpint (p->result, ==, 0);
    g_assert_cmpint (p->version, ==, GNUTLS_TLS1_2);
    g_assert_cmpint (p->kx, ==, GNUTLS_KX_ECDHE_RSA);
    g_assert_cmpint (p->cipher, ==, GNUTLS_CIPHER_AES_128_GCM);
  }
  {
    g_autoptr(Probe) p = probe_run (port, ONLY_TLS13);

    g_assert_cmpint (p->result, ==, 0);
    g_assert_cmpint (p->version, ==, GNUTLS_TLS1_3);
  }
  /* A client offering everything gets TLS 1.3. */
  {
    g_autoptr(Probe) p = probe_run (port, "NORMAL");

    g_assert_cmpint (p->result, ==, 0);
    g_assert_cmpint (p->version, ==, GNUTLS_TLS1_3);
  }

  test_server_quit_unref (server);
  certs_clear (&certs);
}

/* ---- crierd as a subprocess ----------------------------------------------- */

typedef struct
{
  GPid     pid;
  char    *log;
  guint16  port;
  guint16  admin_port;
} Crierd;

/* crierd dies with the test, even when an assertion aborts it. */
static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static void
crierd_start (Crierd             *d,
              const char         *dir,
              const char * const *settings)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *port_file = g_build_filename (dir, "ports", NULL);
  g_autofree char *ports = NULL;
  g_auto(GStrv) lines = NULL;
  const char *crierd = g_getenv ("CRIERD");
  int log_fd;

  g_assert_nonnull (crierd);
  memset (d, 0, sizeof *d);
  d->log = g_build_filename (dir, "log", NULL);
  g_ptr_array_add (argv, g_strdup (crierd));
  g_ptr_array_add (argv, g_strdup ("--port-file"));
  g_ptr_array_add (argv, g_strdup (port_file));
  g_ptr_array_add (argv, g_strdup ("--set"));
  g_ptr_array_add (argv, g_strdup ("server.listen=127.0.0.1:0"));
  g_ptr_array_add (argv, g_strdup ("--set"));
  g_ptr_array_add (argv, g_strdup_printf ("admin.socket=%s/admin.sock", dir));
  for (guint i = 0; settings[i] != NULL; i++)
    {
      g_ptr_array_add (argv, g_strdup ("--set"));
      g_ptr_array_add (argv, g_strdup (settings[i]));
    }
  g_ptr_array_add (argv, NULL);

  log_fd = g_open (d->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  g_assert_cmpint (log_fd, >=, 0);
  g_spawn_async_with_fds (NULL, (char **) argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD, die_with_parent, NULL,
                          &d->pid, -1, log_fd, log_fd, &error);
  g_assert_no_error (error);
  close (log_fd);
  for (guint i = 0; i < 1000 && !g_file_test (port_file, G_FILE_TEST_EXISTS); i++)
    g_usleep (10000);
  if (!g_file_get_contents (port_file, &ports, NULL, NULL))
    {
      g_autofree char *log = NULL;

      g_file_get_contents (d->log, &log, NULL, NULL);
      g_error ("crierd did not start:\n%s", log != NULL ? log : "(no log)");
    }
  g_unlink (port_file);

  /* Client ports one per line, then "admin PORT" for the admin TCP listener. */
  lines = g_strsplit (ports, "\n", -1);
  d->port = (guint16) g_ascii_strtoull (lines[0], NULL, 10);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "admin "))
      d->admin_port = (guint16) g_ascii_strtoull (lines[i] + 6, NULL, 10);
  g_assert_cmpuint (d->port, >, 0);
}

static void
crierd_stop (Crierd *d)
{
  g_autofree char *log = NULL;
  int status = 0;
  gboolean gone = FALSE;

  g_assert_cmpint (kill (d->pid, SIGTERM), ==, 0);
  for (guint i = 0; i < 1000 && !gone; i++)
    {
      gone = waitpid (d->pid, &status, WNOHANG) == d->pid;
      if (!gone)
        g_usleep (10000);
    }
  if (!gone)
    {
      kill (d->pid, SIGKILL);
      waitpid (d->pid, &status, 0);
    }
  g_spawn_close_pid (d->pid);
  if (g_file_get_contents (d->log, &log, NULL, NULL))
    g_test_message ("crierd log:\n%s", log);
  g_assert_true (gone);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  g_unlink (d->log);
  g_free (d->log);
}

static void
test_priority_config (void)
{
  Certs certs;
  Crierd d;
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;

  certs_init_rsa (&certs);
  key = g_strdup_printf ("tls.key_file=%s", certs.key);
  cert = g_strdup_printf ("tls.cert_file=%s", certs.cert);

  /* The control: with GnuTLS's own NORMAL, what the default refuses is
   * served, so the refusals above are the priority's doing. */
  {
    const char * const settings[] = { key, cert, "tls.priority=NORMAL", NULL };

    crierd_start (&d, certs.dir, settings);
    for (guint i = 0; i < G_N_ELEMENTS (weak_offers); i++)
      {
        g_autoptr(Probe) p = probe_run (d.port, weak_offers[i]);

        g_assert_cmpint (p->result, ==, 0);
      }
    crierd_stop (&d);
  }

  /* A stricter string: TLS 1.3 only. */
  {
    const char * const settings[] = { key, cert, "tls.priority=" ONLY_TLS13, NULL };
    g_autoptr(Probe) tls12 = NULL;
    g_autoptr(Probe) tls13 = NULL;

    crierd_start (&d, certs.dir, settings);
    tls12 = probe_run (d.port, ECDHE_AEAD_TLS12);
    g_assert_cmpint (tls12->result, <, 0);
    tls13 = probe_run (d.port, ONLY_TLS13);
    g_assert_cmpint (tls13->result, ==, 0);
    g_assert_cmpint (tls13->version, ==, GNUTLS_TLS1_3);
    crierd_stop (&d);
  }

  /* A string GnuTLS would refuse is a configuration error that says where. */
  {
    g_autoptr(CrierConfig) config = crier_config_new ();
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    int status = 0;
    const char *argv[] = {
      g_getenv ("CRIERD"), "--check-config", "--set", "tls.priority=NORMAL:+NO-SUCH-THING", NULL
    };

    g_assert_false (crier_config_set (config, "tls.priority=NORMAL:+NO-SUCH-THING", &error));
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, "[tls] priority"));
    g_assert_nonnull (strstr (error->message, "NO-SUCH-THING"));
    g_clear_error (&error);
    g_assert_false (crier_config_set (config, "tls.priority=", &error));
    g_clear_error (&error);

    g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                                 &out, &err, &status, &error));
    g_assert_no_error (error);
    g_assert_false (g_spawn_check_wait_status (status, NULL));
    g_assert_nonnull (strstr (err, "NO-SUCH-THING"));
  }
  certs_clear (&certs);
}

/* ---- every transport over TLS --------------------------------------------- */

/* Token with "channels":["news"] and sub "42" (HS256, secret "secret"). */
#define NEWS_TOKEN                                                                   \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsImNoYW5uZWxzIjpbIm5ld3MiXX0." \
  "ZafOFPt1R1v0nvXHeZCus-EUEu1xWq9RpD8iMxlSua4"

/* A request over https with libsoup's client; returns the status. */
static guint
https_request (SoupSession *session,
               CrierServer *server,
               const char  *method,
               const char  *path,
               const char  *body,
               char       **reply)
{
  g_autofree char *url = test_server_url (server, "https", path);
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);
  HttpResult r = { 0 };

  soup_message_headers_replace (soup_message_get_request_headers (msg), "X-API-Key", "tls-test-key");
  if (body != NULL)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));

      soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
    }
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, http_done_cb, &r);
  WAIT_UNTIL (r.done);
  g_assert_no_error (r.error);
  if (reply != NULL)
    *reply = g_strndup (g_bytes_get_data (r.body, NULL), g_bytes_get_size (r.body));
  g_bytes_unref (r.body);
  return r.status;
}

static void
https_publish (SoupSession *session,
               CrierServer *server,
               const char  *data)
{
  g_autofree char *body = g_strdup_printf ("{\"channel\":\"news\",\"data\":%s}", data);

  g_assert_cmpuint (https_request (session, server, "POST", "/api/publish", body, NULL), ==, 200);
}

static void
test_transport_cf_websocket (void)
{
  Certs certs;
  CrierServer *server;
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(GTlsCertificate) expected = NULL;
  g_autofree char *url = NULL;
  WsClient c;

  certs_init (&certs);
  server = tls_server_new (&certs);
  session = trusting_session (certs.cert);
  url = test_server_url (server, "wss", "/connection/websocket");
  ws_connect_url (&c, session, url, NULL);
  g_assert_no_error (c.error);
  expected = g_tls_certificate_new_from_file (certs.cert, NULL);
  g_assert_true (g_tls_certificate_is_same (soup_message_get_tls_peer_certificate (c.msg), expected));

  soup_websocket_connection_send_text (c.ws, "{\"id\":1,\"connect\":{\"name\":\"tls\"}}");
  WAIT_UNTIL (ws_find (&c, 0, "{\"id\":1,\"connect\":{\"client\":") >= 0);
  soup_websocket_connection_send_text (c.ws, "{\"id\":2,\"subscribe\":{\"channel\":\"news\"}}");
  WAIT_UNTIL (ws_find (&c, 0, "{\"id\":2,\"subscribe\":{") >= 0);
  https_publish (session, server, "{\"over\":\"wss\"}");
  WAIT_UNTIL (ws_find (&c, 0, "\"push\":{\"channel\":\"news\",\"pub\":{\"data\":{\"over\":\"wss\"}") >= 0);

  ws_clear (&c);
  g_clear_object (&session);
  test_server_quit_unref (server);
  certs_clear (&certs);
}

static void
test_transport_uni_websocket (void)
{
  Certs certs;
  CrierServer *server;
  g_autoptr(SoupSession) session = NULL;
  g_autofree char *url = NULL;
  WsClient c;

  certs_init (&certs);
  server = tls_server_new (&certs);
  session = trusting_session (certs.cert);
  url = test_server_url (server, "wss", "/connection/uni_websocket?cf_connect="
                                        "%7B%22token%22%3A%22" NEWS_TOKEN "%22%7D");
  ws_connect_url (&c, session, url, NULL);
  g_assert_no_error (c.error);
  WAIT_UNTIL (ws_find (&c, 0, "\"subs\":{\"news\":") >= 0);
  g_assert_cmpint (ws_find (&c, 0, "{\"connect\":{\"client\":"), ==, 0);
  https_publish (session, server, "{\"over\":\"uni\"}");
  WAIT_UNTIL (ws_find (&c, 0, "{\"channel\":\"news\",\"pub\":{\"data\":{\"over\":\"uni\"}") >= 0);

  ws_clear (&c);
  g_clear_object (&session);
  test_server_quit_unref (server);
  certs_clear (&certs);
}

static void
raw_write (RawTls     *r,
           const char *text)
{
  g_autoptr(GError) error = NULL;

  g_output_stream_write_all (g_io_stream_get_output_stream (r->tls), text, strlen (text), NULL, NULL, &error);
  g_assert_no_error (error);
}

/* The value of "@member":"..." in what the stream sent so far, or NULL. */
static char *
raw_find_string (RawTls     *r,
                 const char *member)
{
  g_autofree char *needle = g_strdup_printf ("\"%s\":\"", member);
  const char *p = strstr (r->in->str, needle);
  const char *end;

  if (p == NULL)
    return NULL;
  p += strlen (needle);
  end = strchr (p, '"');
  return end != NULL ? g_strndup (p, end - p) : NULL;
}

/* A Centrifugo stream (SSE or HTTP streaming) over TLS: connect, subscribe
 * through /emulation over https, receive a publication made over https. */
static void
cf_stream_over_tls (const char *request,
                    const char *data)
{
  Certs certs;
  CrierServer *server;
  g_autoptr(SoupSession) session = NULL;
  g_autofree char *client = NULL;
  g_autofree char *body = NULL;
  g_autofree char *expected = g_strdup_printf ("\"pub\":{\"data\":%s", data);
  RawTls r;

  certs_init (&certs);
  server = tls_server_new (&certs);
  session = trusting_session (certs.cert);
  raw_tls_connect (&r, crier_server_get_port (server), certs.cert);
  raw_write (&r, request);
  raw_read_more (&r);
  WAIT_UNTIL (strstr (r.in->str, "\"session\":\"") != NULL && strstr (r.in->str, "}\n") != NULL);
  g_assert_true (g_str_has_prefix (r.in->str, "HTTP/1.1 200"));
  client = raw_find_string (&r, "session");
  g_assert_nonnull (client);

  body = g_strdup_printf ("{\"session\":\"%s\",\"node\":\"%s\",\"data\":"
                          "\"{\\\"id\\\":2,\\\"subscribe\\\":{\\\"channel\\\":\\\"news\\\"}}\"}",
                          client, crier_server_get_node_name (server));
  g_assert_cmpuint (https_request (session, server, "POST", "/emulation", body, NULL), ==, 204);
  WAIT_UNTIL (strstr (r.in->str, "{\"id\":2,\"subscribe\":{") != NULL);
  https_publish (session, server, data);
  WAIT_UNTIL (strstr (r.in->str, expected) != NULL);

  raw_tls_clear (&r);
  g_clear_object (&session);
  test_server_quit_unref (server);
  certs_clear (&certs);
}

static void
test_transport_http_stream (void)
{
  static const char connect[] = "{\"connect\":{\"name\":\"tls\"},\"id\":1}";
  g_autofree char *request = g_strdup_printf ("POST /connection/http_stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                              "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                              strlen (connect), connect);

  cf_stream_over_tls (request, "{\"over\":\"http_stream\"}");
}

static void
test_transport_cf_sse (void)
{
  g_autofree char *connect = g_uri_escape_string ("{\"connect\":{\"name\":\"tls\"},\"id\":1}", NULL, FALSE);
  g_autofree char *request = g_strdup_printf ("GET /connection/sse?cf_connect=%s HTTP/1.1\r\n"
                                              "Host: 127.0.0.1\r\n\r\n", connect);

  cf_stream_over_tls (request, "{\"over\":\"sse\"}");
}

static void
test_transport_longpoll (void)
{
  Certs certs;
  CrierServer *server;
  g_autoptr(SoupSession) session = NULL;
  g_autofree char *etag = NULL;
  g_autofree char *held = NULL;
  const char *first_end;
  gsize second;
  RawTls r;

  certs_init (&certs);
  server = tls_server_new (&certs);
  session = trusting_session (certs.cert);
  raw_tls_connect (&r, crier_server_get_port (server), certs.cert);

  /* The first poll is answered at once with the cursor (304 + ETag). */
  raw_write (&r, "GET /sub/news HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  raw_read_more (&r);
  WAIT_UNTIL ((first_end = strstr (r.in->str, "\r\n\r\n")) != NULL);
  g_assert_true (g_str_has_prefix (r.in->str, "HTTP/1.1 304"));
  {
    const char *p = strstr (r.in->str, "ETag: ");

    g_assert_nonnull (p);
    p += 6;
    etag = g_strndup (p, strcspn (p, "\r\n"));
  }

  /* The next one, on the same TLS connection, is held until a publication. */
  second = r.in->len;
  held = g_strdup_printf ("GET /sub/news HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: %s\r\n\r\n", etag);
  raw_write (&r, held);
  WAIT_UNTIL (crier_hub_get_stats (crier_server_get_hub (server))->subscriptions == 1);
  g_assert_cmpuint (r.in->len, ==, second);
  https_publish (session, server, "{\"over\":\"longpoll\"}");
  WAIT_UNTIL (strstr (r.in->str + second, "{\"over\":\"longpoll\"}") != NULL);
  g_assert_true (g_str_has_prefix (r.in->str + second, "HTTP/1.1 200"));
  g_assert_nonnull (strstr (r.in->str + second, "\"channel\":\"news\""));

  raw_tls_clear (&r);
  g_clear_object (&session);
  test_server_quit_unref (server);
  certs_clear (&certs);
}

static void
test_transport_admin_ws (void)
{
  Certs certs;
  CrierServer *server;
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  g_autofree char *url = NULL;
  g_autoptr(SoupSession) session = NULL;
  WsClient c;

  certs_init (&certs);
  cert = g_strdup_printf ("tls.admin_cert_file=%s", certs.cert);
  key = g_strdup_printf ("tls.admin_key_file=%s", certs.key);
  {
    const char *overrides[] = {
      key, cert, "tls.admin=true", "admin.token=admin-secret", "admin.listen=127.0.0.1:0", NULL
    };

    server = test_server_new (overrides);
  }
  session = trusting_session (certs.cert);
  url = g_strdup_printf ("wss://127.0.0.1:%u/admin", crier_admin_get_tcp_port (crier_server_get_admin (server)));

  /* Without the token: refused. */
  ws_connect_url (&c, session, url, NULL);
  g_assert_nonnull (c.error);
  ws_clear (&c);

  ws_connect_url (&c, session, url, "Bearer admin-secret");
  g_assert_no_error (c.error);
  soup_websocket_connection_send_text (c.ws, "{\"id\":1,\"type\":\"hello\","
                                             "\"params\":{\"protocol\":1,\"client\":\"test-tls\"}}");
  WAIT_UNTIL (ws_find (&c, 0, "{\"id\":1,\"result\":{\"protocol\":1") >= 0);
  g_assert_nonnull (strstr (g_ptr_array_index (c.received, ws_find (&c, 0, "\"id\":1")), "\"node\":"));

  ws_clear (&c);
  g_clear_object (&session);
  test_server_quit_unref (server);
  certs_clear (&certs);
}

/* ---- SIGHUP through a real crierd ----------------------------------------- */

static gboolean
accept_any_cb (GTlsConnection       *conn,
               GTlsCertificate      *cert,
               GTlsCertificateFlags  errors,
               gpointer              data)
{
  return TRUE;
}

/* The certificate a new TLS connection to @port is shown. */
static GTlsCertificate *
peer_certificate (guint16 port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GSocketConnectable) identity = g_network_address_new ("127.0.0.1", port);
  g_autoptr(GIOStream) tls = NULL;
  RawTls r = { 0 };
  GTlsCertificate *peer;

  conn = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  g_assert_no_error (error);
  tls = g_tls_client_connection_new (G_IO_STREAM (conn), identity, &error);
  g_assert_no_error (error);
  g_signal_connect (tls, "accept-certificate", G_CALLBACK (accept_any_cb), NULL);
  g_tls_connection_handshake_async (G_TLS_CONNECTION (tls), G_PRIORITY_DEFAULT, NULL, raw_handshake_cb, &r);
  WAIT_UNTIL (r.handshaken);
  g_assert_no_error (r.error);
  peer = g_object_ref (g_tls_connection_get_peer_certificate (G_TLS_CONNECTION (tls)));
  g_io_stream_close (tls, NULL, NULL);
  return peer;
}

static void
test_sighup_reload (void)
{
  Certs certs;
  Crierd d;
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  g_autofree char *url = NULL;
  g_autoptr(SoupSession) old_session = NULL;
  g_autoptr(GTlsCertificate) first = NULL;
  g_autoptr(GTlsCertificate) second = NULL;
  g_autoptr(GTlsCertificate) seen = NULL;
  WsClient before;

  certs_init (&certs);
  key = g_strdup_printf ("tls.key_file=%s", certs.key);
  cert = g_strdup_printf ("tls.cert_file=%s", certs.cert);
  {
    const char * const settings[] = {
      key, cert, "tls.admin=true", "admin.token=admin-secret", "admin.listen=127.0.0.1:0",
      "server.debug_endpoints=true", NULL
    };

    crierd_start (&d, certs.dir, settings);
  }
  g_assert_cmpuint (d.admin_port, >, 0);
  first = g_tls_certificate_new_from_file (certs.cert, NULL);

  /* A wss connection that stays open across the reload. */
  old_session = trusting_session (certs.cert);
  url = g_strdup_printf ("wss://127.0.0.1:%u/debug/ws", d.port);
  ws_connect_url (&before, old_session, url, NULL);
  g_assert_no_error (before.error);
  ws_echo (&before, "before SIGHUP");
  seen = peer_certificate (d.admin_port);
  g_assert_true (g_tls_certificate_is_same (seen, first));
  g_clear_object (&seen);

  /* Renew the files in place, as certbot does, and send SIGHUP. */
  make_cert (certs.cert, certs.key, "crier test renewed", 9);
  second = g_tls_certificate_new_from_file (certs.cert, NULL);
  g_assert_false (g_tls_certificate_is_same (first, second));
  g_assert_cmpint (kill (d.pid, SIGHUP), ==, 0);

  /* New handshakes on the client port show the new certificate (once
   * crierd has handled the signal), and so do the admin port's. */
  for (guint i = 0; i < 200; i++)
    {
      g_clear_object (&seen);
      seen = peer_certificate (d.port);
      if (g_tls_certificate_is_same (seen, second))
        break;
      g_usleep (25000);
    }
  g_assert_true (g_tls_certificate_is_same (seen, second));
  g_clear_object (&seen);
  seen = peer_certificate (d.admin_port);
  g_assert_true (g_tls_certificate_is_same (seen, second));

  /* The open connection goes on, still on the old certificate. */
  ws_echo (&before, "after SIGHUP");
  g_assert_true (g_tls_certificate_is_same (soup_message_get_tls_peer_certificate (before.msg), first));

  ws_clear (&before);
  g_clear_object (&old_session);
  crierd_stop (&d);
  certs_clear (&certs);
}

/* ---- request heads over libsoup's 64 KiB ---------------------------------- */

static guint64
header_refusals (CrierServer *server)
{
  return crier_server_get_limit_stats (server)->refused[CRIER_LIMIT_HEADER_TOO_LARGE];
}

static char *
head_with_header (gsize size)
{
  g_autofree char *value = g_strnfill (size, 'h');

  return g_strdup_printf ("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: %s\r\n"
                          "Connection: close\r\n\r\n", value);
}

static void
test_header_too_large (void)
{
  Certs certs;
  CrierServer *plain = test_server_new (NULL);
  CrierServer *server;
  guint16 port = crier_server_get_port (plain);
  g_autofree char *under = head_with_header (60 * 1024);
  g_autofree char *over = head_with_header (70 * 1024);
  g_autofree char *headers = NULL;
  RawTls r;

  /* Under the limit: served. */
  g_assert_cmpuint (test_http_raw (port, under, strlen (under), NULL, NULL), ==, 200);
  g_assert_cmpuint (header_refusals (plain), ==, 0);

  /* 70 KiB: no response at all, the connection is closed, and the refusal
   * is counted. */
  g_assert_cmpuint (test_http_raw (port, over, strlen (over), &headers, NULL), ==, 0);
  g_assert_cmpstr (headers, ==, "");
  WAIT_UNTIL (header_refusals (plain) == 1);

  /* A peer that gives up in the middle of a head is not counted. */
  {
    int fd = test_tcp_connect (port);
    g_autofree char *part = g_strndup (under, 10 * 1024);

    g_assert_cmpint (send (fd, part, strlen (part), MSG_NOSIGNAL), ==, (gssize) strlen (part));
    WAIT_UNTIL (crier_server_get_budget (plain)->http_open == 1);
    close (fd);
    WAIT_UNTIL (crier_server_get_budget (plain)->http_open == 0);
    g_assert_cmpuint (header_refusals (plain), ==, 1);
  }
  g_assert_cmpuint (test_http_request (port, "GET", "/healthz", NULL, NULL), ==, 200);
  test_server_quit_unref (plain);

  /* The same through TLS. */
  certs_init (&certs);
  server = tls_server_new (&certs);
  raw_tls_connect (&r, crier_server_get_port (server), certs.cert);
  raw_write (&r, over);
  raw_read_more (&r);
  WAIT_UNTIL (r.eof);
  g_assert_cmpstr (r.in->str, ==, "");
  WAIT_UNTIL (header_refusals (server) == 1);
  raw_tls_clear (&r);
  test_server_quit_unref (server);
  certs_clear (&certs);
}

static void
test_max_request_head (void)
{
  const char *overrides[] = { "limits.max_request_head=4KiB", NULL };
  CrierServer *server = test_server_new (overrides);
  guint16 port = crier_server_get_port (server);
  g_autofree char *small = head_with_header (3 * 1024);
  g_autofree char *big = head_with_header (6 * 1024);
  g_autofree char *value = g_strnfill (6 * 1024, 'w');
  g_autofree char *upgrade = g_strdup_printf ("X-Big: %s\r\n", value);
  g_autofree char *headers = NULL;
  g_autofree char *body = NULL;
  int fd;

  g_assert_cmpuint (test_http_raw (port, small, strlen (small), NULL, NULL), ==, 200);
  g_assert_cmpuint (header_refusals (server), ==, 0);

  /* Over the configured limit (and far under libsoup's): 431, closed. */
  g_assert_cmpuint (test_http_raw (port, big, strlen (big), &headers, &body), ==, 431);
  g_assert_nonnull (strstr (headers, "Connection: close"));
  g_assert_cmpstr (body, ==, "request head too large\n");
  g_assert_cmpuint (header_refusals (server), ==, 1);

  /* A WebSocket upgrade too: no handler runs, no 101. */
  fd = test_tcp_connect (port);
  g_assert_false (test_ws_handshake (fd, "/debug/ws", upgrade));
  close (fd);
  g_assert_cmpuint (header_refusals (server), ==, 2);

  /* Reloadable: raised again, the same head is served. */
  {
    g_autoptr(CrierConfig) fresh = crier_config_copy (crier_server_get_config (server));

    g_assert_true (crier_config_set (fresh, "limits.max_request_head=64KiB", NULL));
    crier_server_reload (server, fresh);
  }
  g_assert_cmpuint (test_http_raw (port, big, strlen (big), NULL, NULL), ==, 200);
  g_assert_cmpuint (header_refusals (server), ==, 2);

  /* Above libsoup's own limit the value is refused. */
  {
    g_autoptr(CrierConfig) config = crier_config_new ();
    g_autoptr(GError) error = NULL;

    g_assert_false (crier_config_set (config, "limits.max_request_head=128KiB", &error));
    g_test_message ("%s", error->message);
  }
  test_server_quit_unref (server);
}

int
main (int   argc,
      char *argv[])
{
  test_init (&argc, &argv);

  {
    /* TLS needs glib-networking's GnuTLS backend at run time. */
    if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
      {
        g_test_skip ("no TLS backend (glib-networking)");
        return g_test_run ();
      }
  }

  g_test_add_func ("/tls/wss", test_wss);
  g_test_add_func ("/tls/https-api", test_https_api);
  g_test_add_func ("/tls/sse", test_sse_over_tls);
  g_test_add_func ("/tls/reload", test_reload_certificate);
  g_test_add_func ("/tls/bad-files", test_bad_files);
  g_test_add_func ("/tls/admin", test_admin_tls);
  g_test_add_func ("/tls/priority/default", test_priority_default);
  g_test_add_func ("/tls/priority/config", test_priority_config);
  g_test_add_func ("/tls/transport/centrifugo-websocket", test_transport_cf_websocket);
  g_test_add_func ("/tls/transport/uni-websocket", test_transport_uni_websocket);
  g_test_add_func ("/tls/transport/http-stream", test_transport_http_stream);
  g_test_add_func ("/tls/transport/sse", test_transport_cf_sse);
  g_test_add_func ("/tls/transport/longpoll", test_transport_longpoll);
  g_test_add_func ("/tls/transport/admin-websocket", test_transport_admin_ws);
  g_test_add_func ("/tls/sighup", test_sighup_reload);
  g_test_add_func ("/tls/header-too-large", test_header_too_large);
  g_test_add_func ("/tls/max-request-head", test_max_request_head);

  return g_test_run ();
}
