/* crier-application.c: the dashboard's AdwApplication.
 *
 * Key functions:
 *   crier_application_startup ()               app.* actions and accels, colour
 *                                              scheme binding, SIGINT/SIGTERM
 *   crier_application_activate ()              presents the window and arms the
 *                                              --quit-after/--screenshot timers
 *   crier_application_handle_local_options ()  parses the hidden test options
 *                                              (--screenshot, --quit-after,
 *                                              --admin-socket, --test-driver)
 */
#include "config.h"

#include "crier-application.h"
#include "crier-window.h"
#include "crier-test-driver.h"

#include <glib/gi18n.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdlib.h>

struct _CrierApplication
{
  AdwApplication  parent_instance;

  GSettings      *settings;

  /* --screenshot=PATH and --quit-after=MS, for tests and for the
   * screenshots in the AppStream metainfo. */
  char           *screenshot_path;
  int             quit_after_ms;
  gboolean        screenshot_scheduled;
  guint           screenshot_ticks;
  gint64          screenshot_due;      /* monotonic µs */
  guint           quit_after_id;

  /* --admin-socket=PATH overrides the server-address setting;
   * --test-driver reads commands from stdin (crier-test-driver.h). */
  char           *admin_socket;
  gboolean        test_driver;
  CrierTestDriver *driver;

  guint           sigint_id;
  guint           sigterm_id;
};

G_DEFINE_FINAL_TYPE (CrierApplication, crier_application, ADW_TYPE_APPLICATION)

static const GOptionEntry crier_application_options[] = {
  { "screenshot", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, NULL,
    "Save the main window as PNG once it has been drawn", "PATH" },
  { "quit-after", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, NULL,
    "Quit after MS milliseconds", "MS" },
  { "admin-socket", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, NULL,
    "Connect to this admin socket instead of the configured server", "PATH" },
  { "test-driver", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, NULL,
    "Read test commands from standard input", NULL },
  { NULL }
};

static gboolean
color_scheme_get_mapping (GValue   *value,
                          GVariant *variant,
                          gpointer  user_data)
{
  const char *scheme = g_variant_get_string (variant, NULL);

  if (g_str_equal (scheme, "light"))
    g_value_set_enum (value, ADW_COLOR_SCHEME_FORCE_LIGHT);
  else if (g_str_equal (scheme, "dark"))
    g_value_set_enum (value, ADW_COLOR_SCHEME_FORCE_DARK);
  else
    g_value_set_enum (value, ADW_COLOR_SCHEME_DEFAULT);

  return TRUE;
}

static gboolean
crier_application_unix_signal_cb (gpointer user_data)
{
  /* Only request the shutdown; the main loop ends it cleanly. */
  g_application_quit (G_APPLICATION (user_data));

  return G_SOURCE_CONTINUE;
}

static gboolean
crier_application_quit_after_cb (gpointer user_data)
{
  CrierApplication *self = user_data;

  self->quit_after_id = 0;
  g_action_group_activate_action (G_ACTION_GROUP (self), "quit", NULL);

  return G_SOURCE_REMOVE;
}

static gboolean
crier_application_save_screenshot_cb (gpointer user_data)
{
  CrierApplication *self = user_data;
  g_autoptr(GError) error = NULL;
  GtkWindow *window;

  window = gtk_application_get_active_window (GTK_APPLICATION (self));
  if (window == NULL)
    return G_SOURCE_REMOVE;

  if (!crier_window_save_screenshot (CRIER_WINDOW (window), self->screenshot_path, &error))
    g_warning ("Could not save a screenshot to %s: %s",
               self->screenshot_path, error->message);

  return G_SOURCE_REMOVE;
}

static gboolean
crier_application_screenshot_tick_cb (GtkWidget     *widget,
                                      GdkFrameClock *frame_clock,
                                      gpointer       user_data)
{
  CrierApplication *self = user_data;

  /* The first tick comes before the window's first frame is painted; from
   * the second one on, at least one whole frame has been drawn. */
  self->screenshot_ticks++;
  if (self->screenshot_ticks < 2 ||
      gdk_frame_clock_get_frame_time (frame_clock) < self->screenshot_due)
    return G_SOURCE_CONTINUE;

  /* Render outside of the frame clock's update phase. */
  g_idle_add_full (G_PRIORITY_DEFAULT,
                   crier_application_save_screenshot_cb,
                   g_object_ref (self),
                   g_object_unref);

  return G_SOURCE_REMOVE;
}

static void
crier_application_about_action (GSimpleAction *action,
                                GVariant      *parameter,
                                gpointer       user_data)
{
  static const char *developers[] = { "Crier developers", NULL };
  CrierApplication *self = user_data;
  AdwAboutWindow *about;

  about = ADW_ABOUT_WINDOW (adw_about_window_new ());
  adw_about_window_set_application_name (about, _("Crier Dashboard"));
  adw_about_window_set_application_icon (about, APP_ID);
  adw_about_window_set_developer_name (about, _("Crier developers"));
  adw_about_window_set_version (about, PACKAGE_VERSION);
  adw_about_window_set_website (about, "https://github.com/crier/crier");
  adw_about_window_set_issue_url (about, "https://github.com/crier/crier/issues");
  adw_about_window_set_copyright (about, "© 2026 Crier developers");
  adw_about_window_set_license_type (about, GTK_LICENSE_MIT_X11);
  adw_about_window_set_developers (about, developers);
  /* Translators: Replace "translator-credits" with your name and email,
   * one translator per line. */
  adw_about_window_set_translator_credits (about, _("translator-credits"));

  gtk_window_set_transient_for (GTK_WINDOW (about),
                                gtk_application_get_active_window (GTK_APPLICATION (self)));
  gtk_window_set_modal (GTK_WINDOW (about), TRUE);
  gtk_window_present (GTK_WINDOW (about));
}

static void
crier_application_quit_action (GSimpleAction *action,
                               GVariant      *parameter,
                               gpointer       user_data)
{
  g_application_quit (G_APPLICATION (user_data));
}

static void
crier_application_show_alerts_action (GSimpleAction *action,
                                      GVariant      *parameter,
                                      gpointer      user_data)
{
  CrierApplication *self = user_data;
  GtkWindow *window;

  /* The default action of alert notifications. */
  g_application_activate (G_APPLICATION (self));
  window = gtk_application_get_active_window (GTK_APPLICATION (self));
  if (window != NULL)
    gtk_widget_activate_action (GTK_WIDGET (window), "win.show-page", "s", "alerts");
}

static const GActionEntry crier_application_actions[] = {
  { "about", crier_application_about_action },
  { "quit", crier_application_quit_action },
  { "show-alerts", crier_application_show_alerts_action },
};

static int
crier_application_handle_local_options (GApplication *app,
                                        GVariantDict *options)
{
  CrierApplication *self = CRIER_APPLICATION (app);
  g_autofree char *screenshot_path = NULL;
  int quit_after_ms = 0;

  if (g_variant_dict_lookup (options, "screenshot", "^ay", &screenshot_path))
    {
      g_free (self->screenshot_path);
      self->screenshot_path = g_steal_pointer (&screenshot_path);
    }

  if (g_variant_dict_lookup (options, "quit-after", "i", &quit_after_ms))
    {
      if (quit_after_ms <= 0)
        {
          g_printerr ("%s\n", _("--quit-after needs a positive number of milliseconds"));
          return EXIT_FAILURE;
        }
      self->quit_after_ms = quit_after_ms;
    }

  if (g_variant_dict_lookup (options, "admin-socket", "^ay", &self->admin_socket) &&
      !g_path_is_absolute (self->admin_socket))
    {
      g_printerr ("%s\n", _("--admin-socket needs an absolute path"));
      return EXIT_FAILURE;
    }
  self->test_driver = g_variant_dict_contains (options, "test-driver");

  /* A test run must never hand itself over to a dashboard that is
   * already running in the user's session. */
  if (self->screenshot_path != NULL || self->quit_after_ms > 0 ||
      self->admin_socket != NULL || self->test_driver)
    g_application_set_flags (app, g_application_get_flags (app) | G_APPLICATION_NON_UNIQUE);

  return G_APPLICATION_CLASS (crier_application_parent_class)->handle_local_options (app, options);
}

static void
crier_application_startup (GApplication *app)
{
  static const char *quit_accels[] = { "<Control>q", NULL };
  CrierApplication *self = CRIER_APPLICATION (app);
  AdwStyleManager *style_manager;

  G_APPLICATION_CLASS (crier_application_parent_class)->startup (app);

  g_action_map_add_action_entries (G_ACTION_MAP (self),
                                   crier_application_actions,
                                   G_N_ELEMENTS (crier_application_actions),
                                   self);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.quit", quit_accels);

  /* The settings.color-scheme action of each window writes the key; the
   * style manager follows it. */
  self->settings = g_settings_new (APP_ID);
  style_manager = adw_application_get_style_manager (ADW_APPLICATION (self));
  g_settings_bind_with_mapping (self->settings, "color-scheme",
                                style_manager, "color-scheme",
                                G_SETTINGS_BIND_GET,
                                color_scheme_get_mapping, NULL,
                                NULL, NULL);

  self->sigint_id = g_unix_signal_add (SIGINT, crier_application_unix_signal_cb, self);
  self->sigterm_id = g_unix_signal_add (SIGTERM, crier_application_unix_signal_cb, self);
}

static void
crier_application_activate (GApplication *app)
{
  CrierApplication *self = CRIER_APPLICATION (app);
  GtkWindow *window;

  window = gtk_application_get_active_window (GTK_APPLICATION (self));
  if (window == NULL)
    {
      window = GTK_WINDOW (crier_window_new (self));
      if (self->admin_socket != NULL)
        crier_window_set_address_override (CRIER_WINDOW (window), self->admin_socket);
    }

  gtk_window_present (window);

  if (self->test_driver && self->driver == NULL)
    self->driver = crier_test_driver_new (CRIER_WINDOW (window));

  if (self->quit_after_ms > 0 && self->quit_after_id == 0)
    self->quit_after_id = g_timeout_add (self->quit_after_ms,
                                         crier_application_quit_after_cb,
                                         self);

  if (self->screenshot_path != NULL && !self->screenshot_scheduled)
    {
      /* Once the window has been drawn, and not before half of
       * --quit-after so that it has settled. */
      self->screenshot_scheduled = TRUE;
      self->screenshot_due = g_get_monotonic_time () +
                             (gint64) self->quit_after_ms * 1000 / 2;
      gtk_widget_add_tick_callback (GTK_WIDGET (window),
                                    crier_application_screenshot_tick_cb,
                                    g_object_ref (self),
                                    g_object_unref);
    }
}

static void
crier_application_shutdown (GApplication *app)
{
  CrierApplication *self = CRIER_APPLICATION (app);

  g_clear_handle_id (&self->sigint_id, g_source_remove);
  g_clear_handle_id (&self->sigterm_id, g_source_remove);
  g_clear_handle_id (&self->quit_after_id, g_source_remove);
  g_clear_pointer (&self->driver, crier_test_driver_free);

  if (self->settings != NULL)
    g_settings_unbind (adw_application_get_style_manager (ADW_APPLICATION (self)),
                       "color-scheme");
  g_clear_object (&self->settings);

  G_APPLICATION_CLASS (crier_application_parent_class)->shutdown (app);
}

static void
crier_application_finalize (GObject *object)
{
  CrierApplication *self = CRIER_APPLICATION (object);

  g_clear_pointer (&self->screenshot_path, g_free);
  g_clear_pointer (&self->admin_socket, g_free);

  G_OBJECT_CLASS (crier_application_parent_class)->finalize (object);
}

static void
crier_application_class_init (CrierApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->finalize = crier_application_finalize;

  app_class->handle_local_options = crier_application_handle_local_options;
  app_class->startup = crier_application_startup;
  app_class->activate = crier_application_activate;
  app_class->shutdown = crier_application_shutdown;
}

static void
crier_application_init (CrierApplication *self)
{
  g_application_add_main_option_entries (G_APPLICATION (self), crier_application_options);
}

CrierApplication *
crier_application_new (void)
{
  return g_object_new (CRIER_TYPE_APPLICATION,
                       "application-id", APP_ID,
                       "resource-base-path", RESOURCE_PATH,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       NULL);
}
