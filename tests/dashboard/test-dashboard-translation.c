/* test-dashboard-translation.c: the German catalogue is built and used.
 *
 * Runs with LANG=C.UTF-8 LANGUAGE=de and CRIER_LOCALEDIR=<builddir>/po (see
 * meson.build), looks up strings from each kind of translated source (C,
 * .ui, .ui with a context, schema) and checks the merged desktop entry.
 */
#include "config.h"

#include <glib.h>
#include <glib/gi18n-lib.h>
#include <locale.h>

static void
test_catalogue_built (void)
{
  const char *localedir = g_getenv ("CRIER_LOCALEDIR");
  g_autofree char *mo = NULL;

  g_assert_nonnull (localedir);
  mo = g_build_filename (localedir, "de", "LC_MESSAGES", GETTEXT_PACKAGE ".mo", NULL);
  g_test_message ("catalogue %s", mo);
  g_assert_true (g_file_test (mo, G_FILE_TEST_IS_REGULAR));
}

static void
test_window_strings (void)
{
  /* data/ui/crier-window.ui */
  g_assert_cmpstr (_("Not Connected"), ==, "Nicht verbunden");
  g_assert_cmpstr (_("Sessions"), ==, "Sitzungen");
  g_assert_cmpstr (_("_Keyboard Shortcuts"), ==, "_Tastenkürzel");

  /* dashboard/crier-window.c */
  g_assert_cmpstr (_("Address copied to clipboard"), ==, "Adresse in die Zwischenablage kopiert");

  /* data/ui/help-overlay.ui, with a context */
  g_assert_cmpstr (C_("shortcut window", "Show Shortcuts"), ==, "Tastenkürzel anzeigen");
}

static void
test_schema_strings (void)
{
  g_assert_cmpstr (_("Window width"), ==, "Fensterbreite");
}

static void
test_desktop_entry (void)
{
  const char *path = g_getenv ("CRIER_DESKTOP_FILE");
  g_autoptr(GKeyFile) key_file = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  g_autofree char *comment = NULL;

  g_assert_nonnull (path);
  g_key_file_load_from_file (key_file, path, G_KEY_FILE_NONE, &error);
  g_assert_no_error (error);

  name = g_key_file_get_locale_string (key_file, G_KEY_FILE_DESKTOP_GROUP,
                                       G_KEY_FILE_DESKTOP_KEY_NAME, "de", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (name, ==, "Crier-Dashboard");

  comment = g_key_file_get_locale_string (key_file, G_KEY_FILE_DESKTOP_GROUP,
                                          G_KEY_FILE_DESKTOP_KEY_COMMENT, "de", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (comment, ==, "Einen Crier-Echtzeitserver beobachten und bedienen");
}

int
main (int   argc,
      char *argv[])
{
  const char *localedir = g_getenv ("CRIER_LOCALEDIR");

  setlocale (LC_ALL, "");
  if (localedir != NULL)
    bindtextdomain (GETTEXT_PACKAGE, localedir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");

  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/dashboard/translation/catalogue", test_catalogue_built);
  g_test_add_func ("/dashboard/translation/window", test_window_strings);
  g_test_add_func ("/dashboard/translation/schema", test_schema_strings);
  g_test_add_func ("/dashboard/translation/desktop-entry", test_desktop_entry);

  return g_test_run ();
}
