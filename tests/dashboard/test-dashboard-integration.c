/* test-dashboard-integration.c: the dashboard against a real crierd.
 *
 * Runs under xvfb-run.  Starts $CRIERD on a temporary admin socket with a
 * small connection cap, opens real Centrifugo WebSocket clients from this
 * process (libsoup), and starts $CRIER_DASHBOARD with --admin-socket and
 * --test-driver, which reads commands on stdin and answers on stdout
 * (dashboard/crier-test-driver.h).  The cases run in order on one server:
 *   /dashboard/integration/connections  the Overview's connection count is
 *                                       the number of real clients
 *   /dashboard/integration/sessions     their sessions are listed
 *   /dashboard/integration/broadcast    the broadcast dialog reaches every
 *                                       subscriber (push frames read here)
 *   /dashboard/integration/kick         the kick action closes one client
 *                                       with code 3011
 *   /dashboard/integration/alert        connections beyond the cap raise
 *                                       the "listener at cap" alert
 *                                       (refusals_per_s), listed on Alerts
 *   /dashboard/integration/screenshots  overview, sessions, channels,
 *                                       alerts, broadcast: PNG, > 300x200,
 *                                       not blank
 *   /dashboard/integration/bench        10,000 sessions: insertion,
 *                                       scrolling and filtering frame times
 *   /dashboard/integration/quit         clean exit, nothing logged at
 *                                       warning level
 * Every wait is bounded; crierd and the dashboard are stopped by PID.
 */
#include "config.h"

#include <gtk/gtk.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#define COMMAND_TIMEOUT_SECONDS 40
#define N_CLIENTS 3
#define MAX_CONNECTIONS 8

typedef struct
{
  SoupWebsocketConnection *connection;
  gboolean                 connected;   /* connect reply seen */
  gboolean                 subscribed;  /* subscribe reply seen */
  gboolean                 closed;
  gushort                  close_code;
  guint                    pushes;
  char                    *last_push;
} Client;

static struct
{
  char             *dir;
  GSubprocess      *crierd;
  guint16           port;
  char             *socket;
  GSubprocess      *dashboard;
  GOutputStream    *to_dashboard;
  GDataInputStream *from_dashboard;
  GPtrArray        *lines;        /* everything the dashboard printed */
  gboolean          eof;
  SoupSession      *session;
  Client            clients[N_CLIENTS];
  gboolean          timed_out;
} t;

#define WAIT_UNTIL(cond)                                                      \
  G_STMT_START {                                                              \
    guint wait_timeout_id_ = g_timeout_add_seconds (COMMAND_TIMEOUT_SECONDS,  \
                                                    timeout_cb, NULL);        \
    t.timed_out = FALSE;                                                      \
    while (!(cond) && !t.timed_out)                                           \
      g_main_context_iteration (NULL, TRUE);                                  \
    if (!t.timed_out)                                                         \
      g_source_remove (wait_timeout_id_);                                     \
    g_assert_true (cond);                                                     \
  } G_STMT_END

static gboolean
timeout_cb (gpointer user_data)
{
  t.timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
poll_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static const char *
artifacts_dir (void)
{
  const char *dir = g_getenv ("CRIER_ARTIFACTS_DIR");

  g_assert_nonnull (dir);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  return dir;
}

/* ---- crierd --------------------------------------------------------------- */

static void
crierd_start (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *port_file = NULL;
  g_autofree char *ports = NULL;
  g_autofree char *log = NULL;
  g_autofree char *socket_set = NULL;
  g_autofree char *cap_set = g_strdup_printf ("server.max_connections=%d", MAX_CONNECTIONS);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  const char *crierd = g_getenv ("CRIERD");

  g_assert_nonnull (crierd);
  t.dir = g_dir_make_tmp ("crier-dashboard-XXXXXX", &error);
  g_assert_no_error (error);
  port_file = g_build_filename (t.dir, "ports", NULL);
  log = g_build_filename (t.dir, "crierd.log", NULL);
  t.socket = g_build_filename (t.dir, "admin.sock", NULL);
  socket_set = g_strdup_printf ("admin.socket=%s", t.socket);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_set_stdout_file_path (launcher, log);
  g_subprocess_launcher_set_stderr_file_path (launcher, log);
  {
    const char *argv[] = {
      crierd, "--port-file", port_file,
      "--set", "server.listen=127.0.0.1:0",
      "--set", socket_set,
      "--set", "auth.allow_anonymous=true",
      "--set", "auth.api_keys=k",
      "--set", "channels.history_size=10",
      "--set", cap_set,
      NULL
    };

    t.crierd = g_subprocess_launcher_spawnv (launcher, argv, &error);
    g_assert_no_error (error);
  }

  {
    guint poll_id = g_timeout_add (20, poll_cb, NULL);

    WAIT_UNTIL (g_file_test (port_file, G_FILE_TEST_EXISTS) &&
                g_file_test (t.socket, G_FILE_TEST_EXISTS));
    g_source_remove (poll_id);
  }
  g_assert_true (g_file_get_contents (port_file, &ports, NULL, NULL));
  t.port = (guint16) g_ascii_strtoull (ports, NULL, 10);
  g_assert_cmpuint (t.port, >, 0);
  g_test_message ("crierd pid %s on port %u, admin socket %s",
                  g_subprocess_get_identifier (t.crierd), t.port, t.socket);
}

static void
crierd_wait_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  gboolean *exited = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (object), result, NULL);
  *exited = TRUE;
}

static void
crierd_stop (void)
{
  gboolean exited = FALSE;
  guint timeout_id;

  if (t.crierd == NULL)
    return;

  /* SIGTERM drains and exits; at most 10 s, then SIGKILL. */
  g_subprocess_send_signal (t.crierd, SIGTERM);
  g_subprocess_wait_async (t.crierd, NULL, crierd_wait_cb, &exited);
  t.timed_out = FALSE;
  timeout_id = g_timeout_add_seconds (10, timeout_cb, NULL);
  while (!exited && !t.timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!exited)
    {
      g_subprocess_force_exit (t.crierd);
      while (!exited)
        g_main_context_iteration (NULL, TRUE);
    }
  else
    g_source_remove (timeout_id);
  g_clear_object (&t.crierd);
}

/* ---- WebSocket clients ---------------------------------------------------- */

static void
client_message_cb (SoupWebsocketConnection *connection,
                   SoupWebsocketDataType    type,
                   GBytes                  *bytes,
                   Client                  *client)
{
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);
  g_autofree char *text = g_strndup (data, len);
  g_auto(GStrv) frames = g_strsplit (text, "\n", -1);

  /* Centrifugo JSON: replies and pushes, possibly several per frame. */
  for (guint i = 0; frames[i] != NULL; i++)
    {
      if (strstr (frames[i], "\"push\"") != NULL && strstr (frames[i], "\"pub\"") != NULL)
        {
          client->pushes++;
          g_free (client->last_push);
          client->last_push = g_strdup (frames[i]);
        }
      else if (strstr (frames[i], "\"id\":1") != NULL)
        client->connected = TRUE;
      else if (strstr (frames[i], "\"id\":2") != NULL)
        client->subscribed = TRUE;
    }
}

static void
client_closed_cb (SoupWebsocketConnection *connection,
                  Client                  *client)
{
  client->closed = TRUE;
  client->close_code = soup_websocket_connection_get_close_code (connection);
}

static void
client_connect_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  Client *client = user_data;
  g_autoptr(GError) error = NULL;

  client->connection = soup_session_websocket_connect_finish (SOUP_SESSION (object), result, &error);
  g_assert_no_error (error);
  g_signal_connect (client->connection, "message", G_CALLBACK (client_message_cb), client);
  g_signal_connect (client->connection, "closed", G_CALLBACK (client_closed_cb), client);
  soup_websocket_connection_send_text (client->connection, "{\"id\":1,\"connect\":{}}");
  soup_websocket_connection_send_text (client->connection,
                                       "{\"id\":2,\"subscribe\":{\"channel\":\"news\"}}");
}

static void
clients_open (void)
{
  g_autofree char *uri = g_strdup_printf ("ws://127.0.0.1:%u/connection/websocket", t.port);

  t.session = soup_session_new ();
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      SoupMessage *msg = soup_message_new ("GET", uri);

      soup_session_websocket_connect_async (t.session, msg, NULL, NULL, G_PRIORITY_DEFAULT,
                                            NULL, client_connect_cb, &t.clients[i]);
      g_object_unref (msg);
    }

  WAIT_UNTIL (t.clients[0].subscribed && t.clients[1].subscribed && t.clients[2].subscribed);
}

static void
clients_close (void)
{
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      if (t.clients[i].connection != NULL &&
          soup_websocket_connection_get_state (t.clients[i].connection) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (t.clients[i].connection, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
      g_clear_object (&t.clients[i].connection);
      g_clear_pointer (&t.clients[i].last_push, g_free);
    }
  g_clear_object (&t.session);
}

static guint
clients_open_now (void)
{
  guint n = 0;

  for (guint i = 0; i < N_CLIENTS; i++)
    if (!t.clients[i].closed)
      n++;
  return n;
}

/* ---- the dashboard -------------------------------------------------------- */

static void
dashboard_line_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (object), result, NULL, &error);

  if (line == NULL)
    {
      t.eof = TRUE;
      return;
    }

  g_ptr_array_add (t.lines, line);
  g_data_input_stream_read_line_async (t.from_dashboard, G_PRIORITY_DEFAULT, NULL,
                                       dashboard_line_cb, NULL);
}

static void
dashboard_start (void)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  const char *dashboard = g_getenv ("CRIER_DASHBOARD");

  g_assert_nonnull (dashboard);
  g_assert_nonnull (g_getenv ("DISPLAY"));

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                        G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_unsetenv (launcher, "DBUS_SESSION_BUS_ADDRESS");
  g_subprocess_launcher_setenv (launcher, "XDG_CONFIG_HOME", t.dir, TRUE);
  {
    const char *argv[] = { dashboard, "--admin-socket", t.socket, "--test-driver", NULL };

    t.dashboard = g_subprocess_launcher_spawnv (launcher, argv, &error);
    g_assert_no_error (error);
  }
  t.to_dashboard = g_object_ref (g_subprocess_get_stdin_pipe (t.dashboard));
  t.from_dashboard = g_data_input_stream_new (g_subprocess_get_stdout_pipe (t.dashboard));
  t.lines = g_ptr_array_new_with_free_func (g_free);
  g_data_input_stream_read_line_async (t.from_dashboard, G_PRIORITY_DEFAULT, NULL,
                                       dashboard_line_cb, NULL);
}

static gboolean
has_line_from (guint       from,
               const char *prefix)
{
  for (guint i = from; i < t.lines->len; i++)
    if (g_str_has_prefix (g_ptr_array_index (t.lines, i), prefix))
      return TRUE;
  return FALSE;
}

/* Sends @command and waits for its "ok"; returns the lines in between
 * (NULL-terminated, owned by the caller). */
static GStrv
command (const char *format,
         ...) G_GNUC_PRINTF (1, 2);

static GStrv
command (const char *format,
         ...)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autofree char *line = NULL;
  g_autofree char *name = NULL;
  g_autofree char *ok = NULL;
  g_autofree char *failed = NULL;
  guint from = t.lines->len;
  va_list args;

  va_start (args, format);
  line = g_strdup_vprintf (format, args);
  va_end (args);
  name = g_strndup (line, strcspn (line, " "));
  ok = g_strdup_printf ("ok %s", name);
  failed = g_strdup_printf ("error %s", name);

  g_test_message ("> %s", line);
  g_output_stream_printf (t.to_dashboard, NULL, NULL, &error, "%s\n", line);
  g_assert_no_error (error);

  WAIT_UNTIL (has_line_from (from, ok) || has_line_from (from, failed) || t.eof);
  for (guint i = from; i < t.lines->len; i++)
    {
      const char *l = g_ptr_array_index (t.lines, i);

      g_test_message ("< %s", l);
      g_assert_false (g_str_has_prefix (l, failed));
      if (g_str_has_prefix (l, ok))
        break;
      g_strv_builder_add (builder, l);
    }
  g_assert_true (has_line_from (from, ok));

  return g_strv_builder_end (builder);
}

static const char *
value_of (GStrv       lines,
          const char *key)
{
  gsize len = strlen (key);

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], key) && lines[i][len] == '=')
      return lines[i] + len + 1;
  return NULL;
}

static void
dashboard_quit (void)
{
  g_auto(GStrv) lines = NULL;
  g_autoptr(GError) error = NULL;

  if (t.dashboard == NULL)
    return;

  g_output_stream_printf (t.to_dashboard, NULL, NULL, &error, "quit\n");
  WAIT_UNTIL (t.eof);
  g_subprocess_wait (t.dashboard, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (t.dashboard));
  g_assert_cmpint (g_subprocess_get_exit_status (t.dashboard), ==, 0);

  /* Nothing logged at warning level or above, all run long. */
  for (guint i = 0; i < t.lines->len; i++)
    {
      const char *l = g_ptr_array_index (t.lines, i);

      if (strstr (l, "WARNING **") != NULL || strstr (l, "CRITICAL **") != NULL)
        g_test_fail_printf ("the dashboard logged: %s", l);
    }

  g_clear_object (&t.to_dashboard);
  g_clear_object (&t.from_dashboard);
  g_clear_object (&t.dashboard);
}

/* ---- the cases ------------------------------------------------------------ */

static gboolean pause_done;

static void
pause_cb (gpointer user_data)
{
  pause_done = TRUE;
}

/* Iterates the main context for @ms (polling a value, not a sleep). */
static void
pause_ms (guint ms)
{
  pause_done = FALSE;
  g_timeout_add_once (ms, pause_cb, NULL);
  while (!pause_done)
    g_main_context_iteration (NULL, TRUE);
}

static void
wait_for_value (const char *cmd,
                const char *key,
                const char *expected)
{
  gint64 deadline = g_get_monotonic_time () + COMMAND_TIMEOUT_SECONDS * G_USEC_PER_SEC;

  for (;;)
    {
      g_auto(GStrv) lines = command ("%s", cmd);
      const char *value = value_of (lines, key);

      if (g_strcmp0 (value, expected) == 0)
        return;
      if (g_get_monotonic_time () > deadline)
        g_error ("%s: %s=%s, expected %s", cmd, key, value, expected);

      pause_ms (250);
    }
}

static void
test_connections (void)
{
  g_auto(GStrv) lines = NULL;
  g_autofree char *expected = g_strdup_printf ("%u", clients_open_now ());

  lines = command ("wait-connected");
  /* The stats stream says how many client connections crierd has: the
   * three opened here (the dashboard's admin connection is not one). */
  wait_for_value ("connections", "connections", expected);
}

static void
test_sessions (void)
{
  g_auto(GStrv) lines = NULL;

  lines = command ("wait-sessions %u", clients_open_now ());
  g_strfreev (lines);
  lines = command ("sessions");
  g_assert_cmpstr (value_of (lines, "sessions"), ==, "3");
  g_assert_cmpstr (value_of (lines, "sessions-shown"), ==, "3");
}

static void
test_broadcast (void)
{
  g_auto(GStrv) lines = NULL;
  g_autofree char *marker = g_strdup_printf ("dashboard-%" G_GINT64_FORMAT, g_get_real_time ());

  lines = command ("broadcast news {\"text\":\"%s\"}", marker);
  g_assert_cmpstr (value_of (lines, "reached"), ==, "3");
  g_assert_nonnull (strstr (value_of (lines, "result"), "news: offset"));

  /* Every real subscriber reads the push frame. */
  WAIT_UNTIL (t.clients[0].last_push != NULL && t.clients[1].last_push != NULL &&
              t.clients[2].last_push != NULL &&
              strstr (t.clients[0].last_push, marker) != NULL &&
              strstr (t.clients[1].last_push, marker) != NULL &&
              strstr (t.clients[2].last_push, marker) != NULL);
  g_test_message ("push: %s", t.clients[0].last_push);
  g_strfreev (command ("close-broadcast"));

  /* Some more traffic for the graphs. */
  for (guint i = 0; i < 3; i++)
    {
      g_strfreev (command ("broadcast news {\"n\":%u}", i));
      g_strfreev (command ("close-broadcast"));
    }
}

static void
test_kick (void)
{
  g_auto(GStrv) lines = NULL;
  Client *kicked = NULL;

  lines = command ("kick-first");
  g_assert_nonnull (value_of (lines, "kicked"));

  WAIT_UNTIL (clients_open_now () == N_CLIENTS - 1);
  for (guint i = 0; i < N_CLIENTS; i++)
    if (t.clients[i].closed)
      kicked = &t.clients[i];
  g_assert_nonnull (kicked);
  g_test_message ("close code %u", kicked->close_code);
  g_assert_cmpuint (kicked->close_code, ==, 3011);

  /* The session stream removes it from the list. */
  g_strfreev (command ("wait-sessions %u", N_CLIENTS - 1));
  wait_for_value ("connections", "connections", "2");
}

static void
test_alert (void)
{
  g_autoptr(GSocketClient) socket_client = g_socket_client_new ();
  g_autoptr(GPtrArray) storm = g_ptr_array_new_with_free_func (g_object_unref);
  g_auto(GStrv) lines = NULL;

  /* More connections than [server] max_connections: the ones beyond the
   * cap are refused, refusals_per_s > 0 raises the rule alert. */
  for (guint i = 0; i < MAX_CONNECTIONS * 2; i++)
    {
      g_autoptr(GError) error = NULL;
      GSocketConnection *connection;

      connection = g_socket_client_connect_to_host (socket_client, "127.0.0.1", t.port, NULL, &error);
      if (connection != NULL)
        g_ptr_array_add (storm, connection);
    }

  lines = command ("wait-alert refusals_per_s");
  g_assert_nonnull (value_of (lines, "alert"));
  g_strfreev (lines);

  g_ptr_array_set_size (storm, 0);
  lines = command ("alerts");
  g_assert_cmpuint (g_ascii_strtoull (value_of (lines, "alerts"), NULL, 10), >=, 1);
}

static void
assert_png_is_a_window (const char *path)
{
  g_autoptr(GdkTexture) texture = NULL;
  g_autoptr(GHashTable) colours = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree guint32 *pixels = NULL;
  int width;
  int height;

  texture = gdk_texture_new_from_filename (path, &error);
  g_assert_no_error (error);

  width = gdk_texture_get_width (texture);
  height = gdk_texture_get_height (texture);
  g_assert_cmpint (width, >, 300);
  g_assert_cmpint (height, >, 200);

  pixels = g_new (guint32, (gsize) width * height);
  gdk_texture_download (texture, (guchar *) pixels, (gsize) width * 4);
  colours = g_hash_table_new (NULL, NULL);
  for (gsize i = 0; i < (gsize) width * height; i++)
    g_hash_table_add (colours, GUINT_TO_POINTER (pixels[i]));
  g_test_message ("%s: %dx%d, %u colours", path, width, height, g_hash_table_size (colours));
  g_assert_cmpuint (g_hash_table_size (colours), >=, 16);
}

static void
screenshot (const char *what,
            const char *page,
            const char *cmd)
{
  g_autofree char *path = g_strdup_printf ("%s/%s.png", artifacts_dir (), what);

  g_unlink (path);
  if (page != NULL)
    g_strfreev (command ("page %s", page));
  g_strfreev (command ("%s %s", cmd, path));
  assert_png_is_a_window (path);
}

static void
test_screenshots (void)
{
  screenshot ("overview", "overview", "screenshot");
  g_strfreev (command ("select-session 0"));
  screenshot ("sessions", "sessions", "screenshot");
  g_strfreev (command ("select-channel 0"));
  screenshot ("channels", "channels", "screenshot");
  screenshot ("alerts", "alerts", "screenshot");
  g_strfreev (command ("broadcast news {\"text\":\"maintenance at 22:00\"}"));
  screenshot ("broadcast", NULL, "screenshot-broadcast");
  g_strfreev (command ("close-broadcast"));
  g_strfreev (command ("page overview"));
}

static void
test_bench (void)
{
  g_auto(GStrv) lines = command ("bench 10000");
  const char *scroll = value_of (lines, "bench-scroll-smooth frames");

  g_assert_nonnull (scroll);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "bench-"))
      g_test_message ("%s", lines[i]);
}

static void
test_quit (void)
{
  /* Exit status 0, nothing logged at warning level in the whole run. */
  dashboard_quit ();
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);
  gtk_init ();

  g_test_add_func ("/dashboard/integration/connections", test_connections);
  g_test_add_func ("/dashboard/integration/sessions", test_sessions);
  g_test_add_func ("/dashboard/integration/broadcast", test_broadcast);
  g_test_add_func ("/dashboard/integration/kick", test_kick);
  g_test_add_func ("/dashboard/integration/alert", test_alert);
  g_test_add_func ("/dashboard/integration/screenshots", test_screenshots);
  g_test_add_func ("/dashboard/integration/bench", test_bench);
  g_test_add_func ("/dashboard/integration/quit", test_quit);

  crierd_start ();
  clients_open ();
  dashboard_start ();

  status = g_test_run ();

  dashboard_quit ();
  clients_close ();
  crierd_stop ();
  if (t.dir != NULL)
    {
      g_autofree char *log = g_build_filename (t.dir, "crierd.log", NULL);
      g_autofree char *ports = g_build_filename (t.dir, "ports", NULL);
      g_autofree char *token_dir = g_build_filename (t.dir, "crier", NULL);

      g_unlink (log);
      g_unlink (ports);
      g_rmdir (token_dir);
      g_rmdir (t.dir);
    }
  g_clear_pointer (&t.lines, g_ptr_array_unref);
  g_clear_pointer (&t.dir, g_free);
  g_clear_pointer (&t.socket, g_free);

  return status;
}
