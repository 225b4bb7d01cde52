/* test-dashboard-tls.c: the dashboard on a TLS admin listener (wss://).
 *
 * Runs under xvfb-run.  The test makes a self-signed certificate (GnuTLS),
 * starts crierd with [tls] admin = true, an admin token and a TCP admin
 * listener on 127.0.0.1, and drives crier-dashboard --test-driver through
 * its connection dialog (no --admin-socket):
 *   /dashboard/tls/ca-file     TLS trusting the certificate as the CA
 *                              file: connected, over the token
 *   /dashboard/tls/plain       the same listener without TLS: not
 *                              connected
 *   /dashboard/tls/untrusted   TLS with the system's trust store: stopped
 *                              as "untrusted certificate"; the trust
 *                              dialog shows the certificate's SHA-256
 *                              fingerprint (checked against the file)
 *                              and, once trusted, the dashboard connects
 *   /dashboard/tls/other-server the pinned certificate is forgotten when
 *                              the address changes
 * Every process is stopped by its PID, every wait is bounded.
 */
#include "config.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <glib/gstdio.h>
#include <string.h>
#include <time.h>

#include "crier-admin-client.h"
#include "dashboard-test-utils.h"
#include "../test-cert.h"

#define TOKEN "admin-secret"

static struct
{
  char          *dir;
  char          *cert;
  char          *key;
  DashCrierd     crierd;
  DashDashboard  dash;
  char          *address;
} t;

/* The SHA-256 fingerprint of the certificate file, computed here with
 * GnuTLS (independently of the dashboard's code). */
static char *
file_fingerprint (const char *path)
{
  g_autofree char *pem = NULL;
  gsize len;
  gnutls_x509_crt_t crt;
  gnutls_datum_t d;
  guint8 digest[32];
  size_t size = sizeof digest;
  GString *out = g_string_new (NULL);

  g_assert_true (g_file_get_contents (path, &pem, &len, NULL));
  d.data = (unsigned char *) pem;
  d.size = len;
  g_assert_cmpint (gnutls_x509_crt_init (&crt), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_import (crt, &d, GNUTLS_X509_FMT_PEM), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_get_fingerprint (crt, GNUTLS_DIG_SHA256, digest, &size), ==, 0);
  gnutls_x509_crt_deinit (crt);
  for (gsize i = 0; i < size; i++)
    g_string_append_printf (out, "%s%02X", i > 0 ? ":" : "", digest[i]);
  return g_string_free (out, FALSE);
}

static void
pause_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
}

/* Iterates the main context for @ms between two polls. */
static void
pause_ms (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add_once (ms, pause_cb, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static char *
state_of (const char *key)
{
  g_auto(GStrv) lines = dash_command (&t.dash, "state");

  return dash_value_of (lines, NULL, key);
}

static void
test_ca_file (void)
{
  g_autofree char *state = NULL;

  g_strfreev (dash_command (&t.dash, "connect %s %s tls %s", t.address, TOKEN, t.cert));
  g_strfreev (dash_command (&t.dash, "wait-connected"));
  state = state_of ("state");
  g_assert_cmpstr (state, ==, "connected");

  /* The dialog shows what was chosen. */
  {
    const char *dir = g_getenv ("CRIER_ARTIFACTS_DIR");

    if (dir != NULL && g_mkdir_with_parents (dir, 0755) == 0)
      {
        g_autofree char *path = g_build_filename (dir, "connect-tls.png", NULL);

        g_strfreev (dash_command (&t.dash, "screenshot-connect %s", path));
        g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
      }
  }
}

static void
test_plain (void)
{
  g_autofree char *state = NULL;
  gint64 deadline = g_get_monotonic_time () + DASH_TIMEOUT_SECONDS * G_USEC_PER_SEC;

  /* ws:// to a TLS listener: never connected (the client retries). */
  g_strfreev (dash_command (&t.dash, "connect %s %s plain", t.address, TOKEN));
  for (;;)
    {
      g_clear_pointer (&state, g_free);
      state = state_of ("state");
      if (g_str_equal (state, "error"))
        break;
      g_assert_cmpstr (state, !=, "connected");
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      pause_ms (100);
    }
}

static void
test_untrusted (void)
{
  g_auto(GStrv) lines = NULL;
  g_autofree char *shown = NULL;
  g_autofree char *expected = file_fingerprint (t.cert);
  g_autofree char *state = NULL;

  /* The system's trust store does not know the test's certificate. */
  g_strfreev (dash_command (&t.dash, "connect %s %s tls", t.address, TOKEN));
  g_strfreev (dash_command (&t.dash, "wait-reason untrusted-certificate"));
  {
    const char *dir = g_getenv ("CRIER_ARTIFACTS_DIR");

    if (dir != NULL && g_mkdir_with_parents (dir, 0755) == 0)
      {
        g_autofree char *path = g_build_filename (dir, "untrusted-certificate.png", NULL);

        g_strfreev (dash_command (&t.dash, "screenshot %s", path));
      }
  }

  lines = dash_command (&t.dash, "trust-certificate");
  shown = dash_value_of (lines, NULL, "fingerprint");
  g_test_message ("fingerprint %s, expected %s", shown, expected);
  g_assert_cmpstr (shown, ==, expected);

  g_strfreev (dash_command (&t.dash, "wait-connected"));
  state = state_of ("state");
  g_assert_cmpstr (state, ==, "connected");
}

static void
test_other_server (void)
{
  g_autofree char *localhost = g_strdup_printf ("localhost:%u", t.crierd.admin_port);

  /* Another address (the same server under another name): the pin made
   * for 127.0.0.1 is forgotten, so the certificate is asked about again. */
  g_strfreev (dash_command (&t.dash, "connect %s %s tls", localhost, TOKEN));
  g_strfreev (dash_command (&t.dash, "wait-reason untrusted-certificate"));
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);

  t.dir = g_dir_make_tmp ("crier-dashboard-tls-XXXXXX", &error);
  g_assert_no_error (error);
  t.cert = g_build_filename (t.dir, "cert.pem", NULL);
  t.key = g_build_filename (t.dir, "key.pem", NULL);
  test_make_certificate (t.cert, t.key, "crier dashboard test", 7, FALSE);
  {
    g_autofree char *key_set = g_strdup_printf ("tls.admin_key_file=%s", t.key);
    g_autofree char *cert_set = g_strdup_printf ("tls.admin_cert_file=%s", t.cert);
    const char * const overrides[] = {
      key_set, cert_set, "tls.admin=true", "admin.token=" TOKEN,
      "admin.listen=127.0.0.1:0", NULL
    };

    dash_crierd_start (&t.crierd, overrides);
  }
  t.address = g_strdup_printf ("127.0.0.1:%u", t.crierd.admin_port);
  dash_dashboard_start (&t.dash, t.dir, NULL);

  g_test_add_func ("/dashboard/tls/ca-file", test_ca_file);
  g_test_add_func ("/dashboard/tls/plain", test_plain);
  g_test_add_func ("/dashboard/tls/untrusted", test_untrusted);
  g_test_add_func ("/dashboard/tls/other-server", test_other_server);

  status = g_test_run ();

  dash_dashboard_quit (&t.dash);
  dash_crierd_stop (&t.crierd);
  {
    g_autofree char *token_dir = g_build_filename (t.dir, "crier", NULL);
    g_autofree char *token = g_build_filename (token_dir, "admin-token", NULL);

    g_unlink (token);
    g_rmdir (token_dir);
  }
  g_unlink (t.cert);
  g_unlink (t.key);
  g_rmdir (t.dir);
  g_free (t.dir);
  g_free (t.cert);
  g_free (t.key);
  g_free (t.address);

  return status;
}
