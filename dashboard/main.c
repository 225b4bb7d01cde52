/* main.c: crier-dashboard entry point.
 *
 * Sets up gettext before anything can translate a string, then runs
 * CrierApplication.  CRIER_LOCALEDIR overrides LOCALEDIR so that tests and
 * uninstalled runs can use the catalogues in the build directory.
 */
#include "config.h"

#include "crier-application.h"

#include <glib/gi18n.h>
#include <locale.h>

int
main (int   argc,
      char *argv[])
{
  g_autoptr(CrierApplication) app = NULL;
  const char *localedir;

  localedir = g_getenv ("CRIER_LOCALEDIR");
  if (localedir == NULL || localedir[0] == '\0')
    localedir = LOCALEDIR;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, localedir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  app = crier_application_new ();

  return g_application_run (G_APPLICATION (app), argc, argv);
}
