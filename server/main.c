/* main.c: crierd's command line, signals and main loop. */
#include "config.h"

#include <glib-unix.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

#include "crier-admin.h"
#include "crier-config.h"
#include "crier-log.h"
#include "crier-server.h"

typedef struct
{
  GMainLoop   *loop;
  CrierServer *server;
  char        *config_path;
  char       **overrides;
  int          exit_code;
} Crierd;

static CrierConfig *
load_config (const char *path,
             char      **overrides,
             GError    **error)
{
  g_autoptr(CrierConfig) config = crier_config_new ();

  if (path != NULL && !crier_config_load_file (config, path, error))
    return NULL;
  for (guint i = 0; overrides != NULL && overrides[i] != NULL; i++)
    if (!crier_config_set (config, overrides[i], error))
      return NULL;
  return g_steal_pointer (&config);
}

static gboolean
on_terminate (gpointer data)
{
  Crierd *d = data;

  /* Signal handlers only request the shutdown; the drain does the work. */
  if (crier_server_is_draining (d->server))
    {
      g_message ("second termination signal: exiting now");
      g_main_loop_quit (d->loop);
      return G_SOURCE_CONTINUE;
    }
  crier_server_drain (d->server);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_hangup (gpointer data)
{
  Crierd *d = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CrierConfig) fresh = load_config (d->config_path, d->overrides, &error);

  if (fresh == NULL)
    {
      g_warning ("reload failed, keeping the running configuration: %s", error->message);
      return G_SOURCE_CONTINUE;
    }
  crier_server_reload (d->server, fresh);
  crier_log_set_level (crier_server_get_config (d->server)->log_level);
  return G_SOURCE_CONTINUE;
}

static void
on_drained (CrierServer *server,
            gpointer     data)
{
  Crierd *d = data;

  g_message ("drained, exiting");
  g_main_loop_quit (d->loop);
}

static gboolean
write_port_file (const char  *path,
                 CrierServer *server,
                 GError     **error)
{
  g_autoptr(GString) s = g_string_new (NULL);
  GPtrArray *listeners = crier_server_get_listeners (server);

  CrierAdmin *admin = crier_server_get_admin (server);

  for (guint i = 0; i < listeners->len; i++)
    g_string_append_printf (s, "%u\n", crier_listener_get_port (g_ptr_array_index (listeners, i)));
  /* After the client ports, which readers take from the first line. */
  if (admin != NULL && crier_admin_get_tcp_port (admin) != 0)
    g_string_append_printf (s, "admin %u\n", crier_admin_get_tcp_port (admin));
  return g_file_set_contents (path, s->str, s->len, error);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) ctx = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CrierConfig) config = NULL;
  g_autofree char *port_file = NULL;
  gboolean version = FALSE;
  gboolean dump = FALSE;
  gboolean comments = FALSE;
  gboolean help_config = FALSE;
  gboolean check = FALSE;
  Crierd d = { 0 };
  GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &d.config_path,
      "Read the configuration from FILE (default: the embedded defaults)", "FILE" },
    { "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &d.overrides,
      "Override one setting, e.g. --set server.listen=127.0.0.1:9000 (repeatable)", "SECTION.KEY=VALUE" },
    { "dump-config", 0, 0, G_OPTION_ARG_NONE, &dump,
      "Print the effective configuration and exit", NULL },
    { "comments", 0, 0, G_OPTION_ARG_NONE, &comments,
      "With --dump-config: explain every key (this is data/crierd.conf)", NULL },
    { "help-config", 0, 0, G_OPTION_ARG_NONE, &help_config,
      "List every configuration key with its type, default and meaning", NULL },
    { "check-config", 0, 0, G_OPTION_ARG_NONE, &check,
      "Validate the configuration and exit", NULL },
    { "port-file", 0, 0, G_OPTION_ARG_FILENAME, &port_file,
      "Write the listening ports to FILE once listening, one client port a line, then "
      "'admin PORT' for the admin TCP listener (for scripts and tests)", "FILE" },
    { "version", 'V', 0, G_OPTION_ARG_NONE, &version,
      "Print the version and exit", NULL },
    { NULL }
  };

  setlocale (LC_ALL, "");
  crier_log_init ("crierd");

  ctx = g_option_context_new ("- Crier real-time live-updates server");
  g_option_context_set_summary (ctx,
                                "Serves WebSocket, SSE and long-poll clients, with channels, history\n"
                                "and recovery, presence and JWT auth. Runs on embedded defaults when\n"
                                "no configuration file is given; see --help-config.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("crierd: %s\nTry 'crierd --help'.\n", error->message);
      return 2;
    }

  if (version)
    {
      g_print ("crierd %s\n", PACKAGE_VERSION);
      return 0;
    }
  if (help_config)
    {
      g_autofree char *help = crier_config_help ();

      g_print ("%s", help);
      return 0;
    }

  config = load_config (d.config_path, d.overrides, &error);
  if (config == NULL)
    {
      g_printerr ("crierd: %s\n", error->message);
      return 2;
    }

  if (dump)
    {
      g_autofree char *text = crier_config_dump (config, comments);

      g_print ("%s", text);
      return 0;
    }
  if (check)
    {
      g_print ("configuration OK\n");
      return 0;
    }

  if (!crier_log_set_level (config->log_level))
    g_warning ("unknown log level '%s'", config->log_level);

  d.loop = g_main_loop_new (NULL, FALSE);
  d.server = crier_server_new (g_steal_pointer (&config));
  g_signal_connect (d.server, "drained", G_CALLBACK (on_drained), &d);

  if (!crier_server_start (d.server, &error))
    {
      g_printerr ("crierd: %s\n", error->message);
      d.exit_code = 1;
      goto out;
    }
  if (port_file != NULL && !write_port_file (port_file, d.server, &error))
    {
      g_printerr ("crierd: %s\n", error->message);
      d.exit_code = 1;
      goto out;
    }

  g_unix_signal_add (SIGTERM, on_terminate, &d);
  g_unix_signal_add (SIGINT, on_terminate, &d);
  g_unix_signal_add (SIGHUP, on_hangup, &d);

  g_message ("crierd %s started", PACKAGE_VERSION);
  g_main_loop_run (d.loop);

out:
  g_clear_object (&d.server);
  g_clear_pointer (&d.loop, g_main_loop_unref);
  g_free (d.config_path);
  g_strfreev (d.overrides);
  return d.exit_code;
}
