/* dashboard-test-utils.c: processes and waits for the end-to-end tests. */
#include "config.h"

#include "dashboard-test-utils.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

gboolean
dash_poll_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
log_has (const char *path,
         const char *needle,
         char      **contents)
{
  g_autofree char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL) || strstr (text, needle) == NULL)
    return FALSE;
  if (contents != NULL)
    *contents = g_steal_pointer (&text);
  return TRUE;
}

void
dash_crierd_start (DashCrierd         *d,
                   const char * const *overrides)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *port_file = NULL;
  g_autofree char *ports = NULL;
  const char *crierd = g_getenv ("CRIERD");
  gboolean admin_tcp = FALSE;

  g_assert_nonnull (crierd);
  memset (d, 0, sizeof *d);
  d->dir = g_dir_make_tmp ("crier-dashboard-XXXXXX", &error);
  g_assert_no_error (error);
  port_file = g_build_filename (d->dir, "ports", NULL);
  d->log = g_build_filename (d->dir, "crierd.log", NULL);
  d->socket = g_build_filename (d->dir, "admin.sock", NULL);

  g_ptr_array_add (argv, g_strdup (crierd));
  g_ptr_array_add (argv, g_strdup ("--port-file"));
  g_ptr_array_add (argv, g_strdup (port_file));
  g_ptr_array_add (argv, g_strdup ("--set"));
  g_ptr_array_add (argv, g_strdup ("server.listen=127.0.0.1:0"));
  g_ptr_array_add (argv, g_strdup ("--set"));
  g_ptr_array_add (argv, g_strdup_printf ("admin.socket=%s", d->socket));
  g_ptr_array_add (argv, g_strdup ("--set"));
  g_ptr_array_add (argv, g_strdup ("auth.allow_anonymous=true"));
  for (guint i = 0; overrides != NULL && overrides[i] != NULL; i++)
    {
      g_ptr_array_add (argv, g_strdup ("--set"));
      g_ptr_array_add (argv, g_strdup (overrides[i]));
      if (g_str_has_prefix (overrides[i], "admin.listen="))
        admin_tcp = TRUE;
    }
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_set_stdout_file_path (launcher, d->log);
  g_subprocess_launcher_set_stderr_file_path (launcher, d->log);
  d->process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);

  DASH_WAIT_UNTIL (g_subprocess_get_identifier (d->process) == NULL ||
                   (g_file_test (port_file, G_FILE_TEST_EXISTS) &&
                    g_file_test (d->socket, G_FILE_TEST_EXISTS) &&
                    (!admin_tcp || log_has (d->log, "admin listening on", NULL))));
  g_assert_nonnull (g_subprocess_get_identifier (d->process));
  g_assert_true (g_file_get_contents (port_file, &ports, NULL, NULL));
  d->port = (guint16) g_ascii_strtoull (ports, NULL, 10);
  g_assert_cmpuint (d->port, >, 0);
  if (admin_tcp)
    {
      g_autofree char *log = NULL;
      const char *at;

      g_assert_true (log_has (d->log, "admin listening on", &log));
      at = strstr (strstr (log, "admin listening on"), "(port ");
      g_assert_nonnull (at);
      d->admin_port = (guint16) g_ascii_strtoull (at + strlen ("(port "), NULL, 10);
      g_assert_cmpuint (d->admin_port, >, 0);
    }
  g_test_message ("crierd pid %s on port %u, admin socket %s, admin port %u",
                  g_subprocess_get_identifier (d->process), d->port, d->socket, d->admin_port);
}

static void
wait_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  gboolean *exited = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (object), result, NULL);
  *exited = TRUE;
}

void
dash_process_stop (GSubprocess *process)
{
  gboolean exited = FALSE;
  gint64 deadline;

  if (process == NULL)
    return;

  /* SIGTERM (by PID), at most 10 s, then SIGKILL. */
  g_subprocess_send_signal (process, SIGTERM);
  g_subprocess_wait_async (process, NULL, wait_cb, &exited);
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  {
    guint poll_id = g_timeout_add (20, dash_poll_cb, NULL);

    while (!exited && g_get_monotonic_time () < deadline)
      g_main_context_iteration (NULL, TRUE);
    if (!exited)
      g_subprocess_force_exit (process);
    while (!exited)
      g_main_context_iteration (NULL, TRUE);
    g_source_remove (poll_id);
  }
}

static void
remove_tree (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
        remove_tree (path);
      else
        g_unlink (path);
    }
  g_rmdir (dir);
}

void
dash_crierd_stop (DashCrierd *d)
{
  dash_process_stop (d->process);
  g_clear_object (&d->process);
  if (d->dir != NULL)
    remove_tree (d->dir);
  g_clear_pointer (&d->dir, g_free);
  g_clear_pointer (&d->socket, g_free);
  g_clear_pointer (&d->log, g_free);
}

guint16
dash_free_port (void)
{
  for (guint i = 0; i < 50; i++)
    {
      guint16 port = (guint16) g_random_int_range (20000, 32000);
      g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                                G_SOCKET_PROTOCOL_TCP, NULL);
      g_autoptr(GInetAddress) ip = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
      g_autoptr(GSocketAddress) address = g_inet_socket_address_new (ip, port);

      if (socket != NULL && g_socket_bind (socket, address, FALSE, NULL))
        return port;
    }
  g_error ("no free port below 32768");
  return 0;
}

static gboolean
port_answers (guint16 port)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;

  connection = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, NULL);
  return connection != NULL;
}

GSubprocess *
dash_redis_start (guint16     port,
                  const char *dir)
{
  g_autofree char *redis = g_find_program_in_path ("redis-server");
  g_autofree char *port_text = g_strdup_printf ("%u", port);
  g_autoptr(GError) error = NULL;
  GSubprocess *process;
  const char *argv[] = {
    NULL, "--port", port_text, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
    "--dir", dir, "--daemonize", "no", NULL
  };

  if (redis == NULL)
    return NULL;
  argv[0] = redis;
  process = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error);
  g_assert_no_error (error);
  DASH_WAIT_UNTIL (port_answers (port));
  g_test_message ("redis-server pid %s on port %u", g_subprocess_get_identifier (process), port);
  return process;
}

static void
line_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  DashDashboard *dash = user_data;
  char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (object), result, NULL, NULL);

  if (line == NULL)
    {
      dash->eof = TRUE;
      return;
    }
  g_ptr_array_add (dash->lines, line);
  g_data_input_stream_read_line_async (dash->from, G_PRIORITY_DEFAULT, NULL, line_cb, dash);
}

void
dash_dashboard_start (DashDashboard *dash,
                      const char    *config_dir,
                      const char    *address)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  const char *dashboard = g_getenv ("CRIER_DASHBOARD");

  g_assert_nonnull (dashboard);
  g_assert_nonnull (g_getenv ("DISPLAY"));
  memset (dash, 0, sizeof *dash);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                        G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_unsetenv (launcher, "DBUS_SESSION_BUS_ADDRESS");
  g_subprocess_launcher_setenv (launcher, "XDG_CONFIG_HOME", config_dir, TRUE);
  /* No local default socket: only what the test names. */
  g_subprocess_launcher_setenv (launcher, "XDG_RUNTIME_DIR", config_dir, TRUE);
  {
    const char *argv[] = { dashboard, "--test-driver", NULL, NULL, NULL };

    if (address != NULL)
      {
        argv[2] = "--admin-socket";
        argv[3] = address;
      }
    dash->process = g_subprocess_launcher_spawnv (launcher, argv, &error);
    g_assert_no_error (error);
  }
  dash->to = g_object_ref (g_subprocess_get_stdin_pipe (dash->process));
  dash->from = g_data_input_stream_new (g_subprocess_get_stdout_pipe (dash->process));
  dash->lines = g_ptr_array_new_with_free_func (g_free);
  g_data_input_stream_read_line_async (dash->from, G_PRIORITY_DEFAULT, NULL, line_cb, dash);
}

static gboolean
has_line_from (DashDashboard *dash,
               guint          from,
               const char    *prefix)
{
  for (guint i = from; i < dash->lines->len; i++)
    if (g_str_has_prefix (g_ptr_array_index (dash->lines, i), prefix))
      return TRUE;
  return FALSE;
}

GStrv
dash_command (DashDashboard *dash,
              const char    *format,
              ...)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autofree char *line = NULL;
  g_autofree char *name = NULL;
  g_autofree char *ok = NULL;
  g_autofree char *failed = NULL;
  guint from = dash->lines->len;
  va_list args;

  va_start (args, format);
  line = g_strdup_vprintf (format, args);
  va_end (args);
  name = g_strndup (line, strcspn (line, " "));
  ok = g_strdup_printf ("ok %s", name);
  failed = g_strdup_printf ("error %s", name);

  g_test_message ("> %s", line);
  g_output_stream_printf (dash->to, NULL, NULL, &error, "%s\n", line);
  g_assert_no_error (error);

  DASH_WAIT_UNTIL (has_line_from (dash, from, ok) || has_line_from (dash, from, failed) || dash->eof);
  for (guint i = from; i < dash->lines->len; i++)
    {
      const char *l = g_ptr_array_index (dash->lines, i);

      g_test_message ("< %s", l);
      g_assert_false (g_str_has_prefix (l, failed));
      if (g_str_has_prefix (l, ok))
        break;
      g_strv_builder_add (builder, l);
    }
  g_assert_true (has_line_from (dash, from, ok));

  return g_strv_builder_end (builder);
}

char *
dash_value_of (GStrv       lines,
               const char *prefix,
               const char *key)
{
  g_autofree char *pattern = g_strdup_printf ("%s=", key);
  gsize len = strlen (pattern);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) words = NULL;

      if (prefix != NULL && !g_str_has_prefix (lines[i], prefix))
        continue;
      words = g_strsplit (lines[i], " ", -1);
      for (guint j = 0; words[j] != NULL; j++)
        if (g_str_has_prefix (words[j], pattern))
          return g_strdup (words[j] + len);
    }
  return NULL;
}

void
dash_dashboard_quit (DashDashboard *dash)
{
  g_autoptr(GError) error = NULL;

  if (dash->process == NULL)
    return;

  g_output_stream_printf (dash->to, NULL, NULL, &error, "quit\n");
  DASH_WAIT_UNTIL (dash->eof);
  g_subprocess_wait (dash->process, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (dash->process));
  g_assert_cmpint (g_subprocess_get_exit_status (dash->process), ==, 0);

  for (guint i = 0; i < dash->lines->len; i++)
    {
      const char *l = g_ptr_array_index (dash->lines, i);

      if (strstr (l, "WARNING **") != NULL || strstr (l, "CRITICAL **") != NULL)
        g_test_fail_printf ("the dashboard logged: %s", l);
    }

  g_clear_object (&dash->to);
  g_clear_object (&dash->from);
  g_clear_object (&dash->process);
  g_clear_pointer (&dash->lines, g_ptr_array_unref);
}
