/* test-security.c: access control.  Cross-site WebSocket hijacking
 * refused (Origin allow-list, 403, counted); the admin endpoints are not
 * on the client listeners; JWT audience, issuer and clock-skew leeway; and
 * no secret in crierd's log at debug level nor unmasked in the admin
 * hello (crierd as a subprocess). */
#include "config.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crier-util.h"
#include "crier-ws-codec.h"
#include "test-utils.h"

#define HMAC_SECRET "S3cr3t-HMAC-7f1d0c"
#define API_KEY     "S3cr3t-APIKEY-91be44"
#define ADMIN_TOKEN "S3cr3t-ADMIN-5aa2e9"

/* An HS256 token over @claims (JSON). */
static char *
hs256_token (const char *secret,
             const char *claims)
{
  static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  g_autofree char *h = crier_base64url_encode ((const guint8 *) header, strlen (header));
  g_autofree char *c = crier_base64url_encode ((const guint8 *) claims, strlen (claims));
  g_autofree char *input = g_strconcat (h, ".", c, NULL);
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, (const guchar *) secret, strlen (secret));
  guint8 digest[32];
  gsize len = sizeof digest;
  g_autofree char *sig = NULL;

  g_hmac_update (hmac, (const guchar *) input, strlen (input));
  g_hmac_get_digest (hmac, digest, &len);
  sig = crier_base64url_encode (digest, len);
  return g_strconcat (input, ".", sig, NULL);
}

/* Everything until EOF or a pause of @idle_ms. */
static char *
read_some (int fd,
           int idle_ms)
{
  GString *s = g_string_new (NULL);

  for (;;)
    {
      gint64 deadline = g_get_monotonic_time () + (gint64) idle_ms * 1000;
      gboolean got = FALSE;

      while (!got && g_get_monotonic_time () < deadline)
        {
          struct pollfd p = { .fd = fd, .events = POLLIN };

          while (g_main_context_iteration (NULL, FALSE))
            ;
          got = poll (&p, 1, 2) > 0;
        }
      if (!got)
        break;
      {
        char buf[4096];
        ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);

        if (n <= 0)
          break;
        g_string_append_len (s, buf, n);
      }
    }
  return g_string_free (s, FALSE);
}

/* The status of a WebSocket upgrade of @path with @headers. */
static guint
upgrade_status (guint16     port,
                const char *path,
                const char *headers)
{
  int fd = test_tcp_connect (port);
  g_autofree char *req = g_strdup_printf ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                                          "Connection: Upgrade\r\n"
                                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                          "Sec-WebSocket-Version: 13\r\n%s\r\n",
                                          path, headers ? headers : "");
  g_autofree char *reply = NULL;
  guint status = 0;

  g_assert_cmpint (send (fd, req, strlen (req), MSG_NOSIGNAL), ==, (gssize) strlen (req));
  reply = read_some (fd, 300);
  close (fd);
  if (sscanf (reply, "HTTP/1.1 %u", &status) != 1)
    status = 0;
  return status;
}

static void
test_origin_hijack (void)
{
  const char *overrides[] = {
    "auth.allow_anonymous=true", "server.allowed_origins=https://good.example", NULL
  };
  CrierServer *server = test_server_new (overrides);
  guint16 port = crier_server_get_port (server);
  const guint64 *refused = crier_server_get_limit_stats (server)->refused;

  /* A page on another site opening a socket with the user's cookies. */
  g_assert_cmpuint (upgrade_status (port, "/connection/websocket", "Origin: https://evil.example\r\n"), ==, 403);
  g_assert_cmpuint (refused[CRIER_LIMIT_ORIGIN], ==, 1);
  g_assert_cmpuint (upgrade_status (port, "/connection/uni_websocket", "Origin: https://evil.example\r\n"), ==, 403);
  g_assert_cmpuint (upgrade_status (port, "/sub/news", "Origin: http://good.example\r\n"), ==, 403);
  g_assert_cmpuint (refused[CRIER_LIMIT_ORIGIN], ==, 3);
  /* With an allow-list, a missing Origin is refused too... */
  g_assert_cmpuint (upgrade_status (port, "/connection/websocket", NULL), ==, 403);
  g_assert_cmpuint (refused[CRIER_LIMIT_ORIGIN], ==, 4);
  /* ... and the allowed origin gets in. */
  g_assert_cmpuint (upgrade_status (port, "/connection/websocket", "Origin: https://good.example\r\n"), ==, 101);
  g_assert_cmpuint (refused[CRIER_LIMIT_ORIGIN], ==, 4);
  test_server_quit_unref (server);
}

static void
test_admin_not_on_client_port (void)
{
  CrierServer *server = test_server_new (NULL);
  guint16 port = crier_server_get_port (server);

  g_assert_cmpuint (test_http_request (port, "GET", "/admin", NULL, NULL), ==, 404);
  g_assert_cmpuint (upgrade_status (port, "/admin", NULL), ==, 404);
  g_assert_cmpuint (test_http_request (port, "GET", "/metrics", NULL, NULL), ==, 404);
  test_server_quit_unref (server);
}

/* Connects on /connection/websocket with @token; returns the first reply
 * frame's text, or "close:CODE". */
static char *
connect_with_token (CrierServer *server,
                    const char  *token)
{
  int fd = test_tcp_connect (crier_server_get_port (server));
  g_autofree char *cmd = g_strdup_printf ("{\"id\":1,\"connect\":{\"token\":\"%s\"}}", token);
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  guint8 opcode;
  char *result;

  g_assert_true (test_ws_handshake (fd, "/connection/websocket", NULL));
  test_ws_send (fd, CRIER_WS_OP_TEXT, TRUE, cmd, strlen (cmd));
  g_assert_true (test_ws_read_frame (fd, &opcode, payload, 5000));
  if (opcode == CRIER_WS_OP_CLOSE)
    result = g_strdup_printf ("close:%u", (payload->data[0] << 8) | payload->data[1]);
  else
    result = g_strndup ((const char *) payload->data, payload->len);
  close (fd);
  return result;
}

static void
test_jwt_claims (void)
{
  const char *overrides[] = {
    "auth.hmac_secret=" HMAC_SECRET, "auth.audience=crier-test", "auth.issuer=https://issuer.example",
    NULL
  };
  CrierServer *server = test_server_new (overrides);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  struct
  {
    const char *claims;
    const char *expect;
  } cases[] = {
    { "{\"sub\":\"u\",\"aud\":\"crier-test\",\"iss\":\"https://issuer.example\"}", "\"connect\"" },
    { "{\"sub\":\"u\",\"aud\":[\"other\",\"crier-test\"],\"iss\":\"https://issuer.example\"}", "\"connect\"" },
    { "{\"sub\":\"u\",\"aud\":\"other\",\"iss\":\"https://issuer.example\"}", "close:3500" },
    { "{\"sub\":\"u\",\"iss\":\"https://issuer.example\"}", "close:3500" },
    { "{\"sub\":\"u\",\"aud\":\"crier-test\",\"iss\":\"https://evil.example\"}", "close:3500" },
    { "{\"sub\":\"u\",\"aud\":\"crier-test\"}", "close:3500" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *token = hs256_token (HMAC_SECRET, cases[i].claims);
      g_autofree char *reply = connect_with_token (server, token);

      g_test_message ("%s -> %s", cases[i].claims, reply);
      g_assert_nonnull (strstr (reply, cases[i].expect));
    }

  /* Clock skew: a token that expired 20 s ago is refused (109)... */
  {
    g_autofree char *claims = g_strdup_printf ("{\"sub\":\"u\",\"aud\":\"crier-test\",\"iss\":\"https://issuer.example\","
                                               "\"exp\":%" G_GINT64_FORMAT "}", now - 20);
    g_autofree char *token = hs256_token (HMAC_SECRET, claims);
    g_autofree char *reply = connect_with_token (server, token);
    g_autoptr(CrierConfig) fresh = NULL;
    g_autofree char *again = NULL;

    g_assert_nonnull (strstr (reply, "\"code\":109"));
    /* ... and accepted with leeway = 1m (reloadable). */
    fresh = crier_config_copy (crier_server_get_config (server));
    g_assert_true (crier_config_set (fresh, "auth.leeway=1m", NULL));
    crier_server_reload (server, fresh);
    again = connect_with_token (server, token);
    g_assert_nonnull (strstr (again, "\"connect\""));
  }
  {
    /* Not before, 20 s in the future: within the leeway too. */
    g_autofree char *claims = g_strdup_printf ("{\"sub\":\"u\",\"aud\":\"crier-test\",\"iss\":\"https://issuer.example\","
                                               "\"nbf\":%" G_GINT64_FORMAT "}", now + 20);
    g_autofree char *token = hs256_token (HMAC_SECRET, claims);
    g_autofree char *reply = connect_with_token (server, token);

    g_assert_nonnull (strstr (reply, "\"connect\""));
  }
  test_server_quit_unref (server);
}

/* ---- crierd as a subprocess -------------------------------------------------- */

typedef struct
{
  GPid     pid;
  char    *dir;
  char    *log;
  char    *socket;
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
              const char * const *extra)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *port_file = NULL;
  g_autofree char *ports = NULL;
  const char *crierd = g_getenv ("CRIERD");
  int log_fd;

  g_assert_nonnull (crierd);
  d->dir = g_dir_make_tmp ("crier-sec-XXXXXX", &error);
  g_assert_no_error (error);
  port_file = g_build_filename (d->dir, "ports", NULL);
  d->socket = g_build_filename (d->dir, "admin.sock", NULL);
  d->log = g_build_filename (d->dir, "log", NULL);
  g_ptr_array_add (argv, g_strdup (crierd));
  g_ptr_array_add (argv, g_strdup ("--port-file"));
  g_ptr_array_add (argv, g_strdup (port_file));
  g_ptr_array_add (argv, g_strdup ("--set"));
  g_ptr_array_add (argv, g_strdup ("server.listen=127.0.0.1:0"));
  g_ptr_array_add (argv, g_strdup ("--set"));
  g_ptr_array_add (argv, g_strdup_printf ("admin.socket=%s", d->socket));
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    {
      g_ptr_array_add (argv, g_strdup ("--set"));
      g_ptr_array_add (argv, g_strdup (extra[i]));
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
  g_assert_true (g_file_get_contents (port_file, &ports, NULL, NULL));
  d->port = (guint16) g_ascii_strtoull (ports, NULL, 10);
  g_assert_cmpuint (d->port, >, 0);
  g_unlink (port_file);
}

/* The admin hello over the Unix socket; returns the reply text. */
static char *
admin_hello (const char *socket_path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const char *hello = "{\"id\":1,\"type\":\"hello\",\"params\":{\"protocol\":1,\"client\":\"test-security\"}}";
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  guint8 opcode;
  struct timeval tv = { .tv_sec = 10 };

  g_strlcpy (addr.sun_path, socket_path, sizeof addr.sun_path);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  g_assert_true (test_ws_handshake (fd, "/admin", NULL));
  test_ws_send (fd, CRIER_WS_OP_TEXT, TRUE, hello, strlen (hello));
  for (guint i = 0; i < 20; i++)
    {
      g_assert_true (test_ws_read_frame (fd, &opcode, payload, 10000));
      g_byte_array_append (payload, (const guint8 *) "", 1);
      if (strstr ((const char *) payload->data, "\"id\":1") != NULL)
        break;
    }
  close (fd);
  return g_strdup ((const char *) payload->data);
}

static guint
raw_status (guint16     port,
            const char *request)
{
  return test_http_raw (port, request, strlen (request), NULL, NULL);
}

static void
test_secrets_not_logged (void)
{
  const char * const extra[] = {
    "server.log_level=debug",
    "auth.hmac_secret=" HMAC_SECRET,
    "auth.api_keys=" API_KEY,
    "admin.token=" ADMIN_TOKEN,
    "admin.listen=127.0.0.1:0",
    NULL
  };
  Crierd d = { 0 };
  g_autofree char *good_token = hs256_token (HMAC_SECRET, "{\"sub\":\"alice\"}");
  g_autofree char *forged = hs256_token ("not-the-secret", "{\"sub\":\"mallory\"}");
  g_autofree char *log = NULL;
  g_autofree char *hello = NULL;

  crierd_start (&d, extra);

  /* Connections with a good and a forged token. */
  for (guint i = 0; i < 2; i++)
    {
      int fd = test_tcp_connect (d.port);
      g_autofree char *cmd = g_strdup_printf ("{\"id\":1,\"connect\":{\"token\":\"%s\"}}",
                                              i == 0 ? good_token : forged);
      g_autoptr(GByteArray) payload = g_byte_array_new ();
      guint8 opcode;

      g_assert_true (test_ws_handshake (fd, "/connection/websocket", NULL));
      test_ws_send (fd, CRIER_WS_OP_TEXT, TRUE, cmd, strlen (cmd));
      g_assert_true (test_ws_read_frame (fd, &opcode, payload, 5000));
      g_assert_cmpuint (opcode, ==, i == 0 ? CRIER_WS_OP_TEXT : CRIER_WS_OP_CLOSE);
      close (fd);
    }
  /* Server API calls with the right and a wrong key. */
  g_assert_cmpuint (raw_status (d.port, "POST /api/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                        "X-API-Key: " API_KEY "\r\nContent-Length: 2\r\n\r\n{}"), ==, 200);
  g_assert_cmpuint (raw_status (d.port, "POST /api/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                        "X-API-Key: wrong\r\nContent-Length: 2\r\n\r\n{}"), ==, 401);
  g_assert_cmpuint (raw_status (d.port, "POST /pub/news HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                        "Authorization: apikey " API_KEY "\r\nContent-Length: 2\r\n\r\n{}"), <, 300);
  /* The plain dialect with a bearer token. */
  {
    g_autofree char *req = g_strdup_printf ("GET /sub/news HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                            "Authorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n",
                                            forged);

    g_assert_cmpuint (raw_status (d.port, req), ==, 401);
  }

  /* The admin hello masks every secret. */
  hello = admin_hello (d.socket);
  g_assert_nonnull (strstr (hello, "hmac_secret = ********"));
  g_assert_nonnull (strstr (hello, "api_keys = ********"));
  g_assert_nonnull (strstr (hello, "token = ********"));
  g_assert_null (strstr (hello, HMAC_SECRET));
  g_assert_null (strstr (hello, API_KEY));
  g_assert_null (strstr (hello, ADMIN_TOKEN));

  /* A reload logs what changed, never the values. */
  g_assert_cmpint (kill (d.pid, SIGHUP), ==, 0);
  g_usleep (300 * 1000);

  {
    int status = 0;

    g_assert_cmpint (kill (d.pid, SIGTERM), ==, 0);
    waitpid (d.pid, &status, 0);
    d.pid = 0;
  }
  g_assert_true (g_file_get_contents (d.log, &log, NULL, NULL));
  g_test_message ("crierd wrote %zu bytes of log at debug level", strlen (log));
  g_assert_nonnull (strstr (log, "<debug>"));
  g_assert_null (strstr (log, HMAC_SECRET));
  g_assert_null (strstr (log, API_KEY));
  g_assert_null (strstr (log, ADMIN_TOKEN));
  g_assert_null (strstr (log, good_token));
  g_assert_null (strstr (log, forged));
  {
    /* Not even the signature part of a token. */
    const char *sig = strrchr (good_token, '.') + 1;

    g_assert_null (strstr (log, sig));
  }
  g_unlink (d.log);
  g_unlink (d.socket);
  g_rmdir (d.dir);
  g_free (d.dir);
  g_free (d.socket);
  g_free (d.log);
}

int
main (int   argc,
      char *argv[])
{
  test_init (&argc, &argv);

  g_test_add_func ("/security/origin-hijack", test_origin_hijack);
  g_test_add_func ("/security/admin-not-on-client-port", test_admin_not_on_client_port);
  g_test_add_func ("/security/jwt-claims", test_jwt_claims);
  g_test_add_func ("/security/secrets-not-logged", test_secrets_not_logged);
  return g_test_run ();
}
