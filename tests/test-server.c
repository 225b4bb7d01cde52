/* test-server.c: crierd as a process: command line, configuration errors,
 * signals (drain on SIGTERM, reload on SIGHUP), /healthz and /readyz. */
#include "config.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crier-ws-codec.h"
#include "test-utils.h"

typedef struct
{
  GPid     pid;
  guint16  port;
  char    *dir;
  char    *log_path;
} Crierd;

static const char *
crierd_path (void)
{
  const char *p = g_getenv ("CRIERD");

  g_assert_nonnull (p);
  return p;
}

static char *
run_sync (const char * const *args,
          int                *status)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  char *out = NULL;
  g_autofree char *err = NULL;

  g_ptr_array_add (argv, (char *) crierd_path ());
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);

  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, status, &error);
  g_assert_no_error (error);
  {
    char *both = g_strconcat (out, err, NULL);

    g_free (out);
    return both;
  }
}

static void
crierd_start (Crierd     *d,
              const char *config_text)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *port_file = NULL;
  g_autofree char *config_path = NULL;
  g_autofree char *ports = NULL;
  g_autofree char *admin_set = NULL;
  int log_fd;
  const char *argv[12];
  guint n = 0;

  d->dir = g_dir_make_tmp ("crierd-test-XXXXXX", &error);
  g_assert_no_error (error);
  port_file = g_build_filename (d->dir, "ports", NULL);
  config_path = g_build_filename (d->dir, "crierd.conf", NULL);
  d->log_path = g_build_filename (d->dir, "log", NULL);
  admin_set = g_strdup_printf ("admin.socket=%s/admin.sock", d->dir);
  g_assert_true (g_file_set_contents (config_path, config_text, -1, NULL));

  argv[n++] = crierd_path ();
  argv[n++] = "--config";
  argv[n++] = config_path;
  argv[n++] = "--port-file";
  argv[n++] = port_file;
  argv[n++] = "--set";
  argv[n++] = admin_set;
  argv[n++] = NULL;

  log_fd = g_open (d->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  g_assert_cmpint (log_fd, >=, 0);
  g_spawn_async_with_fds (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                          &d->pid, -1, log_fd, log_fd, &error);
  g_assert_no_error (error);
  close (log_fd);

  for (guint i = 0; i < 400 && !g_file_test (port_file, G_FILE_TEST_EXISTS); i++)
    g_usleep (10000);
  g_assert_true (g_file_get_contents (port_file, &ports, NULL, NULL));
  d->port = (guint16) g_ascii_strtoull (ports, NULL, 10);
  g_assert_cmpuint (d->port, >, 0);
}

static char *
crierd_log (Crierd *d)
{
  char *text = NULL;

  g_file_get_contents (d->log_path, &text, NULL, NULL);
  return text ? text : g_strdup ("");
}

/* Wait for exit; returns the wait status or -1 on timeout. */
static int
crierd_wait (Crierd *d,
             int     timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  while (g_get_monotonic_time () < deadline)
    {
      int status;
      pid_t r = waitpid (d->pid, &status, WNOHANG);

      if (r == d->pid)
        {
          d->pid = 0;
          return status;
        }
      g_usleep (10000);
    }
  return -1;
}

static void
crierd_cleanup (Crierd *d)
{
  if (d->pid > 0)
    {
      kill (d->pid, SIGKILL);
      waitpid (d->pid, NULL, 0);
      d->pid = 0;
    }
  if (d->dir != NULL)
    {
      g_autofree char *ports = g_build_filename (d->dir, "ports", NULL);
      g_autofree char *conf = g_build_filename (d->dir, "crierd.conf", NULL);

      g_autofree char *sock = g_build_filename (d->dir, "admin.sock", NULL);

      g_unlink (ports);
      g_unlink (conf);
      g_unlink (sock);
      g_unlink (d->log_path);
      g_rmdir (d->dir);
    }
  g_clear_pointer (&d->dir, g_free);
  g_clear_pointer (&d->log_path, g_free);
}

static void
test_version_and_help (void)
{
  const char *version[] = { "--version", NULL };
  const char *help_config[] = { "--help-config", NULL };
  const char *help[] = { "--help", NULL };
  int status;
  g_autofree char *out = run_sync (version, &status);
  g_autofree char *out2 = NULL;
  g_autofree char *out3 = NULL;

  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_cmpstr (out, ==, "crierd " PACKAGE_VERSION "\n");

  out2 = run_sync (help_config, &status);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (out2, "listen"));
  g_assert_nonnull (strstr (out2, "outbound_hard_limit"));

  out3 = run_sync (help, &status);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (out3, "--dump-config"));
}

static void
test_dump_config_matches_shipped (void)
{
  const char *args[] = { "--dump-config", "--comments", NULL };
  g_autofree char *shipped_path = g_test_build_filename (G_TEST_DIST, "..", "data", "crierd.conf", NULL);
  g_autofree char *shipped = NULL;
  int status;
  g_autofree char *out = run_sync (args, &status);

  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_true (g_file_get_contents (shipped_path, &shipped, NULL, NULL));
  if (g_strcmp0 (out, shipped) != 0)
    g_error ("data/crierd.conf is out of date: regenerate it with "
             "`crierd --dump-config --comments > data/crierd.conf`");
}

static void
test_bad_config_names_file_line_key (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("crierd-conf-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "bad.conf", NULL);
  const char *args[] = { "--check-config", "--config", path, NULL };
  const char *set_args[] = { "--check-config", "--set", "server.backlog=lots", NULL };
  int status;
  g_autofree char *out = NULL;
  g_autofree char *out2 = NULL;

  g_assert_true (g_file_set_contents (path, "[server]\nbacklog = 128\n\n[websocket]\nping_intervall = 5s\n", -1, NULL));
  out = run_sync (args, &status);
  g_assert_false (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (out, "bad.conf:5"));
  g_assert_nonnull (strstr (out, "ping_intervall"));

  out2 = run_sync (set_args, &status);
  g_assert_false (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (out2, "backlog"));

  g_unlink (path);
  g_rmdir (dir);
}

static void
test_sigterm_drains (void)
{
  Crierd d = { 0 };
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  g_autofree char *log = NULL;
  int fds[3];
  int status;
  guint8 op = 0;

  crierd_start (&d, "[server]\nlisten = 127.0.0.1:0\ndebug_endpoints = true\ndrain_timeout = 3s\n");
  g_assert_cmpuint (test_http_request (d.port, "GET", "/healthz", NULL, NULL), ==, 200);
  g_assert_cmpuint (test_http_request (d.port, "GET", "/readyz", NULL, NULL), ==, 200);
  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    {
      fds[i] = test_tcp_connect (d.port);
      g_assert_true (test_ws_handshake (fds[i], "/debug/ws", NULL));
    }

  g_assert_cmpint (kill (d.pid, SIGTERM), ==, 0);

  /* Every client is told to go away with a reconnectable code, and once
   * they have closed their side crierd exits cleanly. */
  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    {
      g_assert_true (test_ws_read_frame (fds[i], &op, payload, 5000));
      g_assert_cmpuint (op, ==, CRIER_WS_OP_CLOSE);
      g_assert_cmpuint ((payload->data[0] << 8) | payload->data[1], ==, CRIER_WS_CLOSE_GOING_AWAY);
      close (fds[i]);
    }
  status = crierd_wait (&d, 5000);
  g_assert_cmpint (status, !=, -1);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);

  log = crierd_log (&d);
  g_assert_nonnull (strstr (log, "draining"));
  g_assert_nonnull (strstr (log, "drained, exiting"));
  crierd_cleanup (&d);
}

static void
test_drain_is_bounded (void)
{
  Crierd d = { 0 };
  gint64 start;
  int status;
  int fd;

  crierd_start (&d, "[server]\nlisten = 127.0.0.1:0\ndebug_endpoints = true\ndrain_timeout = 1s\n");
  fd = test_tcp_connect (d.port);
  g_assert_true (test_ws_handshake (fd, "/debug/ws", NULL));

  /* This client never answers the close: crierd still exits in time. */
  start = g_get_monotonic_time ();
  kill (d.pid, SIGTERM);
  status = crierd_wait (&d, 5000);
  g_assert_cmpint (status, !=, -1);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_USEC_PER_SEC);
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  close (fd);
  crierd_cleanup (&d);
}

static void
test_sighup_reloads (void)
{
  Crierd d = { 0 };
  g_autofree char *conf = NULL;
  g_autofree char *log = NULL;

  crierd_start (&d, "[server]\nlisten = 127.0.0.1:0\nlog_level = info\n");
  conf = g_build_filename (d.dir, "crierd.conf", NULL);

  /* A broken file is refused and the running configuration stays. */
  g_assert_true (g_file_set_contents (conf, "[server]\nlisten = 127.0.0.1:0\nlog_level = loud\n", -1, NULL));
  kill (d.pid, SIGHUP);
  for (guint i = 0; i < 300; i++)
    {
      g_free (log);
      log = crierd_log (&d);
      if (strstr (log, "reload failed") != NULL)
        break;
      g_usleep (10000);
    }
  g_assert_nonnull (strstr (log, "reload failed"));
  g_assert_cmpuint (test_http_request (d.port, "GET", "/healthz", NULL, NULL), ==, 200);

  /* A good one is applied; keys that need a restart are named. */
  g_assert_true (g_file_set_contents (conf, "[server]\nlisten = 127.0.0.1:0\nbacklog = 100\nlog_level = info\n"
                                            "[limits]\noutbound_hard_limit = 2MiB\n", -1, NULL));
  kill (d.pid, SIGHUP);
  for (guint i = 0; i < 300; i++)
    {
      g_free (log);
      log = crierd_log (&d);
      if (strstr (log, "configuration reloaded") != NULL)
        break;
      g_usleep (10000);
    }
  g_assert_nonnull (strstr (log, "configuration reloaded"));
  g_assert_nonnull (strstr (log, "backlog"));
  g_assert_cmpuint (test_http_request (d.port, "GET", "/healthz", NULL, NULL), ==, 200);

  kill (d.pid, SIGTERM);
  g_assert_cmpint (crierd_wait (&d, 5000), !=, -1);
  crierd_cleanup (&d);
}

int
main (int   argc,
      char *argv[])
{
  test_init (&argc, &argv);

  g_test_add_func ("/crierd/version-and-help", test_version_and_help);
  g_test_add_func ("/crierd/dump-config-matches-shipped", test_dump_config_matches_shipped);
  g_test_add_func ("/crierd/bad-config", test_bad_config_names_file_line_key);
  g_test_add_func ("/crierd/sigterm-drains", test_sigterm_drains);
  g_test_add_func ("/crierd/drain-is-bounded", test_drain_is_bounded);
  g_test_add_func ("/crierd/sighup-reloads", test_sighup_reloads);

  return g_test_run ();
}
