/* test-dashboard-unit.c: dashboard code that needs no display.
 *
 * The default admin socket path (it must match crierd's), the GSettings
 * schema as the dashboard reads it, and the compiled-in resources.
 */
#include "config.h"

#include "crier-admin-protocol.h"

static void
test_socket_path_runtime_dir (void)
{
  g_autofree char *path = NULL;
  g_autofree char *trailing = NULL;

  g_setenv ("XDG_RUNTIME_DIR", "/run/user/4242", TRUE);
  path = crier_admin_default_socket_path ();
  g_assert_cmpstr (path, ==, "/run/user/4242/crier/admin.sock");

  g_setenv ("XDG_RUNTIME_DIR", "/run/user/4242/", TRUE);
  trailing = crier_admin_default_socket_path ();
  g_assert_cmpstr (trailing, ==, "/run/user/4242/crier/admin.sock");
}

static void
test_socket_path_fallback (void)
{
  g_autofree char *unset = NULL;
  g_autofree char *empty = NULL;

  g_unsetenv ("XDG_RUNTIME_DIR");
  unset = crier_admin_default_socket_path ();
  g_assert_cmpstr (unset, ==, "/run/crier/admin.sock");

  g_setenv ("XDG_RUNTIME_DIR", "", TRUE);
  empty = crier_admin_default_socket_path ();
  g_assert_cmpstr (empty, ==, "/run/crier/admin.sock");
}

static void
test_settings_defaults (void)
{
  g_autoptr(GSettingsSchema) schema = NULL;
  g_autoptr(GSettingsSchemaKey) color_scheme_key = NULL;
  g_autoptr(GSettings) settings = NULL;
  g_autoptr(GVariant) light = g_variant_ref_sink (g_variant_new_string ("light"));
  g_autoptr(GVariant) purple = g_variant_ref_sink (g_variant_new_string ("purple"));
  g_auto(GStrv) recent_channels = NULL;
  g_autofree char *server_address = NULL;
  g_autofree char *color_scheme = NULL;

  /* Look it up first: g_settings_new () aborts on a missing schema. */
  schema = g_settings_schema_source_lookup (g_settings_schema_source_get_default (),
                                            APP_ID, TRUE);
  g_assert_nonnull (schema);
  g_assert_cmpstr (g_settings_schema_get_path (schema), ==, "/io/github/crier/Dashboard/");

  color_scheme_key = g_settings_schema_get_key (schema, "color-scheme");
  g_assert_true (g_settings_schema_key_range_check (color_scheme_key, light));
  g_assert_false (g_settings_schema_key_range_check (color_scheme_key, purple));

  settings = g_settings_new (APP_ID);
  g_assert_cmpint (g_settings_get_int (settings, "window-width"), >=, 360);
  g_assert_cmpint (g_settings_get_int (settings, "window-height"), >=, 294);
  g_assert_false (g_settings_get_boolean (settings, "window-maximized"));

  server_address = g_settings_get_string (settings, "server-address");
  g_assert_cmpstr (server_address, ==, "");

  recent_channels = g_settings_get_strv (settings, "recent-channels");
  g_assert_cmpuint (g_strv_length (recent_channels), ==, 0);

  color_scheme = g_settings_get_string (settings, "color-scheme");
  g_assert_cmpstr (color_scheme, ==, "default");
}

static void
test_resources (void)
{
  static const char *paths[] = {
    RESOURCE_PATH "/ui/crier-window.ui",
    RESOURCE_PATH "/gtk/help-overlay.ui",
    RESOURCE_PATH "/style.css",
    RESOURCE_PATH "/icons/scalable/apps/" APP_ID ".svg",
    RESOURCE_PATH "/icons/symbolic/apps/" APP_ID "-symbolic.svg",
  };

  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autoptr(GError) error = NULL;
      gsize size = 0;

      g_test_message ("resource %s", paths[i]);
      g_resources_get_info (paths[i], G_RESOURCE_LOOKUP_FLAGS_NONE, &size, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (size, >, 0);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/dashboard/socket-path/runtime-dir", test_socket_path_runtime_dir);
  g_test_add_func ("/dashboard/socket-path/fallback", test_socket_path_fallback);
  g_test_add_func ("/dashboard/settings/defaults", test_settings_defaults);
  g_test_add_func ("/dashboard/resources", test_resources);

  return g_test_run ();
}
