/* test-dashboard-smoke.c: crier-dashboard starts, draws and quits cleanly.
 *
 * Runs under xvfb-run (see meson.build) and spawns $CRIER_DASHBOARD with the
 * hidden options --screenshot and --quit-after:
 *   /dashboard/smoke/screenshot  exit status 0 after --quit-after, nothing
 *                                logged at warning level, a PNG that looks
 *                                like a drawn window (size, many colours)
 *   /dashboard/smoke/sigterm     SIGTERM once the window is drawn ends the
 *                                app through its main loop with status 0
 * Screenshots are kept in $CRIER_ARTIFACTS_DIR for people to look at.
 */
#include "config.h"

#include <gtk/gtk.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#define RUN_TIMEOUT_SECONDS 120

/* Iterate the main context until @cond holds; callers add a timeout. */
#define WAIT_UNTIL(cond)                     \
  G_STMT_START {                             \
    while (!(cond))                          \
      g_main_context_iteration (NULL, TRUE); \
  } G_STMT_END

typedef struct
{
  GSubprocess *process;
  char        *output;
  GError      *error;
  gboolean     done;
  gboolean     timed_out;
  guint        timeout_id;
} DashboardRun;

static const char *
artifacts_dir (void)
{
  const char *dir = g_getenv ("CRIER_ARTIFACTS_DIR");

  g_assert_nonnull (dir);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);

  return dir;
}

static gboolean
run_timeout_cb (gpointer user_data)
{
  DashboardRun *run = user_data;

  run->timed_out = TRUE;
  run->timeout_id = 0;

  return G_SOURCE_REMOVE;
}

static void
run_communicate_cb (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  DashboardRun *run = user_data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (object), result,
                                        &run->output, NULL, &run->error);
  run->done = TRUE;
}

static void
run_start (DashboardRun       *run,
           const char * const *options)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  const char *dashboard = g_getenv ("CRIER_DASHBOARD");

  g_assert_nonnull (dashboard);
  g_assert_nonnull (g_getenv ("DISPLAY"));

  g_ptr_array_add (argv, (char *) dashboard);
  for (guint i = 0; options[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) options[i]);
  g_ptr_array_add (argv, NULL);

  /* stdout and stderr together: the app must not print anything noisy,
   * and what it prints must not end up in the TAP stream. */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_MERGE);
  /* Never talk to the session of whoever runs the tests. */
  g_subprocess_launcher_unsetenv (launcher, "DBUS_SESSION_BUS_ADDRESS");

  memset (run, 0, sizeof *run);
  run->process = g_subprocess_launcher_spawnv (launcher,
                                               (const char * const *) argv->pdata,
                                               &error);
  g_assert_no_error (error);

  g_subprocess_communicate_utf8_async (run->process, NULL, NULL,
                                       run_communicate_cb, run);
  run->timeout_id = g_timeout_add_seconds (RUN_TIMEOUT_SECONDS, run_timeout_cb, run);
}

static void
run_finish (DashboardRun *run)
{
  g_auto(GStrv) lines = NULL;

  WAIT_UNTIL (run->done || run->timed_out);
  if (!run->done)
    {
      g_subprocess_force_exit (run->process);
      WAIT_UNTIL (run->done);
      g_test_fail_printf ("crier-dashboard did not exit within %d s", RUN_TIMEOUT_SECONDS);
    }
  g_clear_handle_id (&run->timeout_id, g_source_remove);
  g_assert_no_error (run->error);

  /* Show what the app printed as TAP comments. */
  lines = g_strsplit (run->output != NULL ? run->output : "", "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (lines[i][0] != '\0')
      g_test_message ("crier-dashboard: %s", lines[i]);
}

static void
run_clear (DashboardRun *run)
{
  g_clear_object (&run->process);
  g_clear_pointer (&run->output, g_free);
  g_clear_error (&run->error);
}

static void
assert_clean_exit (DashboardRun *run)
{
  g_assert_true (g_subprocess_get_if_exited (run->process));
  g_assert_cmpint (g_subprocess_get_exit_status (run->process), ==, 0);

  /* GLib's log format: "(prog:pid): Domain-WARNING **: ..." */
  g_assert_null (strstr (run->output, "WARNING **"));
  g_assert_null (strstr (run->output, "CRITICAL **"));
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
  g_test_message ("%s: %dx%d", path, width, height);
  g_assert_cmpint (width, >, 300);
  g_assert_cmpint (height, >, 200);

  /* Text, icons and the header bar give many colours; a blank or
   * single-colour window gives one or two. */
  pixels = g_new (guint32, (gsize) width * height);
  gdk_texture_download (texture, (guchar *) pixels, (gsize) width * 4);
  colours = g_hash_table_new (NULL, NULL);
  for (gsize i = 0; i < (gsize) width * height; i++)
    g_hash_table_add (colours, GUINT_TO_POINTER (pixels[i]));
  g_test_message ("%u distinct colours", g_hash_table_size (colours));
  g_assert_cmpuint (g_hash_table_size (colours), >=, 16);
}

static void
test_screenshot (void)
{
  g_autofree char *png = g_build_filename (artifacts_dir (), "smoke.png", NULL);
  const char *options[] = { "--screenshot", png, "--quit-after", "2500", NULL };
  DashboardRun run;

  g_unlink (png);

  run_start (&run, options);
  run_finish (&run);
  assert_clean_exit (&run);
  assert_png_is_a_window (png);

  run_clear (&run);
}

static gboolean
poll_cb (gpointer user_data)
{
  /* Only wakes the main context so that WAIT_UNTIL re-checks. */
  return G_SOURCE_CONTINUE;
}

static void
test_sigterm (void)
{
  g_autofree char *png = g_build_filename (artifacts_dir (), "sigterm.png", NULL);
  const char *options[] = { "--screenshot", png, NULL };
  DashboardRun run;
  gint64 signalled;
  guint poll_id;

  g_unlink (png);

  /* Without --quit-after the screenshot is taken after the first frame;
   * once it exists the window is up and the signal handlers installed. */
  run_start (&run, options);
  poll_id = g_timeout_add (20, poll_cb, NULL);
  WAIT_UNTIL (g_file_test (png, G_FILE_TEST_EXISTS) || run.done || run.timed_out);
  g_source_remove (poll_id);
  g_assert_false (run.done);
  g_assert_false (run.timed_out);

  signalled = g_get_monotonic_time ();
  g_subprocess_send_signal (run.process, SIGTERM);
  run_finish (&run);
  g_test_message ("exited %.0f ms after SIGTERM",
                  (g_get_monotonic_time () - signalled) / 1000.0);
  assert_clean_exit (&run);

  run_clear (&run);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/dashboard/smoke/screenshot", test_screenshot);
  g_test_add_func ("/dashboard/smoke/sigterm", test_sigterm);

  return g_test_run ();
}
