/* crierctl.c: command-line client of crierd's admin protocol.
 *
 *   crierctl [--socket PATH | --host [wss://]HOST:PORT --token T [--tls]
 *            [--ca-file PEM]] [--json] COMMAND [ARGS]
 *
 * Connects (libsoup WebSocket client; over the Unix socket with
 * "remote-connectable"), sends hello, then the command's request, prints
 * the reply as aligned text (or JSON with --json) and exits:
 * 0 ok, 1 the server answered with an error, 2 usage, 3 cannot connect
 * (or the connection broke, or timed out), 4 authentication refused.
 * `detect` runs offline (crier_anomaly_detect_csv) and needs no server.
 *
 * Key functions: main (options, command table), ctl_connect and
 * on_connected (the handshake, exit codes 3 and 4), on_message (hello,
 * then the command's reply or the watch events), print_* (human output).
 */
#include "config.h"

#include <glib-unix.h>
#include <libsoup/soup.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "crier-admin-protocol.h"
#include "crier-anomaly.h"
#include "crier-util.h"

enum
{
  EXIT_OK = 0,
  EXIT_SERVER_ERROR = 1,
  EXIT_USAGE = 2,
  EXIT_CONNECT = 3,
  EXIT_AUTH = 4,
};

/* ---- options -------------------------------------------------------------- */

static char *opt_socket;
static char *opt_host;
static char *opt_token;
static gboolean opt_tls;
static char *opt_ca_file;
static gboolean opt_json;
static int opt_timeout = 10;
static char *opt_user;
static char *opt_channel;
static char *opt_transport;
static char *opt_remote;
static char *opt_filter;
static int opt_page = 1;
static int opt_page_size = CRIER_ADMIN_DEFAULT_PAGE_SIZE;
static char *opt_sort;
static gboolean opt_desc;
static int opt_code;
static char *opt_reason;
static gboolean opt_no_reconnect;
static int opt_count;
static int opt_seconds;
static gboolean opt_sessions;
static gboolean opt_follow;
static char *opt_profile;
static gboolean opt_all;

static const GOptionEntry connection_entries[] = {
  { "socket", 's', 0, G_OPTION_ARG_FILENAME, &opt_socket,
    "Admin Unix socket (default: $XDG_RUNTIME_DIR/crier/admin.sock, else /run/crier/admin.sock)", "PATH" },
  { "host", 'H', 0, G_OPTION_ARG_STRING, &opt_host,
    "Admin TCP listener instead of the socket ([admin] listen); wss:// or https:// for TLS",
    "[SCHEME://]HOST:PORT" },
  { "token", 't', 0, G_OPTION_ARG_STRING, &opt_token,
    "Bearer token for --host ([admin] token); default $CRIER_ADMIN_TOKEN", "TOKEN" },
  { "tls", 0, 0, G_OPTION_ARG_NONE, &opt_tls,
    "Speak TLS to --host ([tls] admin = true); same as a wss:// host", NULL },
  { "ca-file", 0, 0, G_OPTION_ARG_FILENAME, &opt_ca_file,
    "Trust only the certificates in this PEM file for --host (implies --tls; "
    "default: the system's trust store)", "FILE" },
  { "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json,
    "Print the server's JSON (watch: one event per line) instead of text", NULL },
  { "timeout", 0, 0, G_OPTION_ARG_INT, &opt_timeout,
    "Give up after this many seconds without an answer (default 10)", "SECONDS" },
  { NULL }
};

static const GOptionEntry command_entries[] = {
  { "user", 'u', 0, G_OPTION_ARG_STRING, &opt_user,
    "sessions: users containing TEXT; kick: every session of this user", "TEXT" },
  { "channel", 'c', 0, G_OPTION_ARG_STRING, &opt_channel,
    "sessions: subscribed to a channel containing TEXT", "TEXT" },
  { "transport", 0, 0, G_OPTION_ARG_STRING, &opt_transport,
    "sessions: transport containing TEXT", "TEXT" },
  { "remote", 0, 0, G_OPTION_ARG_STRING, &opt_remote,
    "sessions: remote address containing TEXT", "TEXT" },
  { "filter", 0, 0, G_OPTION_ARG_STRING, &opt_filter,
    "channels: names containing TEXT", "TEXT" },
  { "page", 'p', 0, G_OPTION_ARG_INT, &opt_page,
    "sessions, channels: page number, from 1", "N" },
  { "page-size", 0, 0, G_OPTION_ARG_INT, &opt_page_size,
    "sessions, channels: entries per page, at most 1000 (default 100)", "N" },
  { "sort", 0, 0, G_OPTION_ARG_STRING, &opt_sort,
    "sessions: connected_at, user, bytes or transport; channels: name or subscribers", "KEY" },
  { "desc", 'd', 0, G_OPTION_ARG_NONE, &opt_desc,
    "sessions, channels: sort in descending order", NULL },
  { "code", 0, 0, G_OPTION_ARG_INT, &opt_code,
    "kick: close code (3000-3499, 4000-4499 reconnect; 3500-3999, 4500-4999 terminal)", "N" },
  { "reason", 'r', 0, G_OPTION_ARG_STRING, &opt_reason,
    "kick: close reason (at most 123 bytes)", "TEXT" },
  { "no-reconnect", 0, 0, G_OPTION_ARG_NONE, &opt_no_reconnect,
    "kick: tell the client not to reconnect (default code 3503 instead of 3011)", NULL },
  { "count", 'n', 0, G_OPTION_ARG_INT, &opt_count,
    "watch, alerts --follow: stop after N samples or events (default: until Ctrl+C)", "N" },
  { "seconds", 0, 0, G_OPTION_ARG_INT, &opt_seconds,
    "watch, alerts --follow: stop after S seconds (default: until Ctrl+C)", "S" },
  { "sessions", 0, 0, G_OPTION_ARG_NONE, &opt_sessions,
    "watch: session opened/closed events instead of metrics", NULL },
  { "all", 'a', 0, G_OPTION_ARG_NONE, &opt_all,
    "alerts: include recently resolved alerts", NULL },
  { "follow", 'f', 0, G_OPTION_ARG_NONE, &opt_follow,
    "alerts: the active alerts, then raised/updated/resolved events as they come", NULL },
  { "profile", 0, 0, G_OPTION_ARG_STRING, &opt_profile,
    "detect: rate (default), latency, gauge or errors", "PROFILE" },
  { NULL }
};

static const char summary[] =
  "Inspect and control a running crierd through its admin socket.\n"
  "\n"
  "Commands:\n"
  "  stats                        Current metrics of the node\n"
  "  watch                        Live metrics, one line per second (--count N, --seconds S)\n"
  "  watch --sessions             Session opened/closed events as they come (--count, --seconds)\n"
  "  sessions                     Connected sessions, a page at a time (--user, --channel,\n"
  "                               --transport, --remote, --page, --page-size, --sort, --desc)\n"
  "  inspect SESSION              One session: identity, traffic, subscriptions\n"
  "  kick SESSION | --user USER   Disconnect (--code, --reason, --no-reconnect)\n"
  "  unsubscribe SESSION CHANNEL  Remove one subscription (server unsubscribe, 2000)\n"
  "  publish CHANNEL... JSON      Broadcast the JSON value to the channels\n"
  "  channels                     Active channels (--filter, --sort, --desc, --page)\n"
  "  channel NAME                 One channel: subscribers, history, presence\n"
  "  alerts                       Active anomaly alerts (--all: recent ones too)\n"
  "  alerts --follow              Active alerts, then raised/resolved events (--count, --seconds)\n"
  "  nodes                        The nodes sharing the broker, their figures and totals\n"
  "  history [METRIC...]          The last 15 minutes of metrics as CSV\n"
  "  detect FILE.csv              Offline anomaly detection on timestamp,value rows\n"
  "                               (--profile); needs no server\n"
  "  version                      Versions of crierctl and of the server";

static const char description[] =
  "Without --socket or --host, crierctl connects to the default admin socket.\n"
  "Over TCP the token may come from $CRIER_ADMIN_TOKEN instead of --token, which\n"
  "keeps it out of the process list.  A TCP listener with [tls] admin = true needs\n"
  "--tls (or a wss:// or https:// --host); its certificate is checked against the\n"
  "system's trust store, or only against --ca-file when given.\n"
  "\n"
  "Exit status:\n"
  "  0  success\n"
  "  1  the server answered with an error (unknown session, bad channel, ...),\n"
  "     or a detect input that is not timestamp,value CSV\n"
  "  2  usage error\n"
  "  3  cannot connect, the connection broke, or no answer within --timeout\n"
  "  4  authentication refused (wrong token, or a socket peer of another user)\n"
  "\n"
  "Examples:\n"
  "  crierctl stats\n"
  "  crierctl watch --count 10\n"
  "  crierctl watch --sessions --json --seconds 60 > sessions.jsonl\n"
  "  crierctl alerts --follow\n"
  "  crierctl sessions --user alice --sort bytes --desc\n"
  "  crierctl kick 3f2a9c... --no-reconnect --reason banned\n"
  "  crierctl publish news '{\"text\":\"hello\"}'\n"
  "  crierctl --host 127.0.0.1:9001 channels --json\n"
  "  crierctl --host wss://admin.example.net:9001 --ca-file ca.pem stats\n"
  "  crierctl history connects_per_s > connects.csv && crierctl detect connects.csv\n"
  "\n"
  "The protocol is documented in docs/admin-protocol.md.";

/* ---- state ---------------------------------------------------------------- */

typedef struct _Ctl Ctl;
typedef gboolean (*BuildFunc) (Ctl                *ctl,
                               CrierAdminRequest **out,
                               GError           **error);
typedef void     (*PrintFunc) (Ctl                *ctl,
                               JsonNode           *result);

typedef struct
{
  const char *name;
  guint       min_args;
  guint       max_args;   /* G_MAXUINT: any */
  BuildFunc   build;
  PrintFunc   print;
} Command;

struct _Ctl
{
  GMainLoop               *loop;
  GCancellable            *cancellable;
  SoupSession             *session;
  SoupMessage             *msg;
  SoupWebsocketConnection *ws;
  char                    *target;      /* for messages */
  const Command           *command;
  char                   **args;        /* the command's arguments */
  CrierAdminHello         *hello;
  gint64                   next_id;
  gint64                   waiting_id;  /* reply we wait for, -1 none */
  gboolean                 watching;
  CrierAdminRequestType    watch_type;  /* WATCH_STATS, _SESSIONS or _ALERTS */
  int                      watched;
  guint                    seconds_id;
  guint                    timeout_id;
  int                      exit_code;
  gboolean                 done;
};

static void
finish (Ctl *ctl,
        int  exit_code)
{
  if (ctl->done)
    return;
  ctl->done = TRUE;
  ctl->exit_code = exit_code;
  g_clear_handle_id (&ctl->timeout_id, g_source_remove);
  g_main_loop_quit (ctl->loop);
}

static void G_GNUC_PRINTF (3, 4)
fail (Ctl        *ctl,
      int         exit_code,
      const char *format,
      ...)
{
  g_autofree char *text = NULL;
  va_list args;

  if (ctl->done)
    return;
  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("crierctl: %s\n", text);
  finish (ctl, exit_code);
}

static gboolean
on_timeout (gpointer data)
{
  Ctl *ctl = data;

  ctl->timeout_id = 0;
  fail (ctl, EXIT_CONNECT, "%s: no answer within %d s", ctl->target, opt_timeout);
  return G_SOURCE_REMOVE;
}

static void
arm_timeout (Ctl *ctl)
{
  g_clear_handle_id (&ctl->timeout_id, g_source_remove);
  ctl->timeout_id = g_timeout_add_seconds ((guint) opt_timeout, on_timeout, ctl);
}

/* ---- output helpers ------------------------------------------------------- */

typedef struct
{
  guint      n_cols;
  const char *align;   /* 'l' or 'r' per column */
  GPtrArray *rows;     /* GStrv */
} Table;

static Table *
table_new (const char *align,
           ...)
{
  Table *t = g_new0 (Table, 1);
  GPtrArray *header = g_ptr_array_new ();
  va_list args;
  const char *s;

  t->align = align;
  t->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  va_start (args, align);
  while ((s = va_arg (args, const char *)) != NULL)
    g_ptr_array_add (header, g_strdup (s));
  va_end (args);
  t->n_cols = header->len;
  g_ptr_array_add (header, NULL);
  g_ptr_array_add (t->rows, g_ptr_array_free (header, FALSE));
  return t;
}

/* Takes ownership of the strings. */
static void
table_add (Table *t,
           ...)
{
  char **row = g_new0 (char *, t->n_cols + 1);
  va_list args;

  va_start (args, t);
  for (guint i = 0; i < t->n_cols; i++)
    {
      char *s = va_arg (args, char *);

      row[i] = s != NULL ? s : g_strdup ("-");
    }
  va_end (args);
  g_ptr_array_add (t->rows, row);
}

static void
table_print_free (Table *t)
{
  g_autofree glong *widths = g_new0 (glong, t->n_cols);

  for (guint r = 0; r < t->rows->len; r++)
    {
      char **row = g_ptr_array_index (t->rows, r);

      for (guint c = 0; c < t->n_cols; c++)
        widths[c] = MAX (widths[c], g_utf8_strlen (row[c], -1));
    }
  for (guint r = 0; r < t->rows->len; r++)
    {
      char **row = g_ptr_array_index (t->rows, r);
      GString *line = g_string_new (NULL);

      for (guint c = 0; c < t->n_cols; c++)
        {
          glong pad = widths[c] - g_utf8_strlen (row[c], -1);
          gboolean right = t->align[c] == 'r';

          if (c > 0)
            g_string_append (line, "  ");
          if (right)
            for (glong i = 0; i < pad; i++)
              g_string_append_c (line, ' ');
          g_string_append (line, row[c]);
          if (!right && c + 1 < t->n_cols)
            for (glong i = 0; i < pad; i++)
              g_string_append_c (line, ' ');
        }
      g_print ("%s\n", line->str);
      g_string_free (line, TRUE);
    }
  g_ptr_array_unref (t->rows);
  g_free (t);
}

static char *
fmt_num (double v)
{
  if (!isfinite (v))
    return g_strdup ("-");
  if (v == floor (v) && fabs (v) < 1e15)
    return g_strdup_printf ("%.0f", v);
  if (fabs (v) >= 100)
    return g_strdup_printf ("%.0f", v);
  return g_strdup_printf ("%.2f", v);
}

static char *
fmt_size (double bytes)
{
  if (!isfinite (bytes) || bytes < 0)
    return g_strdup ("-");
  return crier_format_size ((gint64) bytes);
}

static char *
fmt_ms (double ms)
{
  if (!isfinite (ms))
    return g_strdup ("-");
  return g_strdup_printf ("%.2f ms", ms);
}

static char *
fmt_age (gint64 seconds)
{
  if (seconds < 0)
    seconds = 0;
  if (seconds < 60)
    return g_strdup_printf ("%" G_GINT64_FORMAT "s", seconds);
  if (seconds < 3600)
    return g_strdup_printf ("%" G_GINT64_FORMAT "m%02" G_GINT64_FORMAT "s", seconds / 60, seconds % 60);
  if (seconds < 86400)
    return g_strdup_printf ("%" G_GINT64_FORMAT "h%02" G_GINT64_FORMAT "m", seconds / 3600, seconds / 60 % 60);
  return g_strdup_printf ("%" G_GINT64_FORMAT "d%02" G_GINT64_FORMAT "h", seconds / 86400, seconds / 3600 % 24);
}

static char *
fmt_time_ms (gint64 ms)
{
  g_autoptr(GDateTime) dt = NULL;

  if (ms <= 0)
    return g_strdup ("-");
  dt = g_date_time_new_from_unix_local (ms / 1000);
  return dt != NULL ? g_date_time_format (dt, "%Y-%m-%d %H:%M:%S") : g_strdup ("-");
}

static void
print_json (JsonNode *node)
{
  g_autofree char *text = json_to_string (node, TRUE);

  g_print ("%s\n", text);
}

static const char *
member_string (JsonObject *o,
               const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, name) : NULL;

  return n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
         ? json_node_get_string (n) : NULL;
}

static double
member_number (JsonObject *o,
               const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, name) : NULL;

  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n))
    return NAN;
  if (json_node_get_value_type (n) == G_TYPE_INT64 || json_node_get_value_type (n) == G_TYPE_DOUBLE)
    return json_node_get_double (n);
  if (json_node_get_value_type (n) == G_TYPE_BOOLEAN)
    return json_node_get_boolean (n);
  return NAN;
}

static JsonObject *
result_object (JsonNode *result)
{
  return result != NULL && JSON_NODE_HOLDS_OBJECT (result) ? json_node_get_object (result) : NULL;
}

/* ---- requests ------------------------------------------------------------- */

static gboolean
build_simple (CrierAdminRequestType type,
              CrierAdminRequest   **out)
{
  *out = crier_admin_request_new (type);
  return TRUE;
}

static gboolean
build_stats (Ctl                *ctl,
             CrierAdminRequest **out,
             GError            **error)
{
  return build_simple (CRIER_ADMIN_REQUEST_GET_STATS, out);
}

static gboolean
build_watch (Ctl                *ctl,
             CrierAdminRequest **out,
             GError            **error)
{
  ctl->watching = TRUE;
  ctl->watch_type = opt_sessions ? CRIER_ADMIN_REQUEST_WATCH_SESSIONS : CRIER_ADMIN_REQUEST_WATCH_STATS;
  return build_simple (ctl->watch_type, out);
}

static gboolean
set_paging (CrierAdminRequest  *req,
            gboolean            sessions,
            GError            **error)
{
  if (opt_page < 1 || opt_page_size < 1 || opt_page_size > CRIER_ADMIN_MAX_PAGE_SIZE)
    {
      g_set_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_INVALID_PARAMS,
                   "--page must be at least 1 and --page-size 1 to %d", CRIER_ADMIN_MAX_PAGE_SIZE);
      return FALSE;
    }
  req->page = (guint) opt_page;
  req->page_size = (guint) opt_page_size;
  req->descending = opt_desc;
  if (opt_sort != NULL)
    {
      static const struct
      {
        const char    *name;
        CrierAdminSort sort;
        gboolean       for_sessions;
      } sorts[] = {
        { "connected_at", CRIER_ADMIN_SORT_CONNECTED_AT, TRUE },
        { "user", CRIER_ADMIN_SORT_USER, TRUE },
        { "bytes", CRIER_ADMIN_SORT_BYTES, TRUE },
        { "transport", CRIER_ADMIN_SORT_TRANSPORT, TRUE },
        { "name", CRIER_ADMIN_SORT_NAME, FALSE },
        { "subscribers", CRIER_ADMIN_SORT_SUBSCRIBERS, FALSE },
      };

      for (guint i = 0; i < G_N_ELEMENTS (sorts); i++)
        if (sorts[i].for_sessions == sessions && g_str_equal (opt_sort, sorts[i].name))
          {
            req->sort = sorts[i].sort;
            return TRUE;
          }
      g_set_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_INVALID_PARAMS,
                   "--sort %s: use %s", opt_sort,
                   sessions ? "connected_at, user, bytes or transport" : "name or subscribers");
      return FALSE;
    }
  return TRUE;
}

static gboolean
build_sessions (Ctl                *ctl,
                CrierAdminRequest **out,
                GError            **error)
{
  g_autoptr(CrierAdminRequest) req = crier_admin_request_new (CRIER_ADMIN_REQUEST_LIST_SESSIONS);

  if (!set_paging (req, TRUE, error))
    return FALSE;
  req->user = g_strdup (opt_user);
  req->channel = g_strdup (opt_channel);
  req->transport = g_strdup (opt_transport);
  req->remote = g_strdup (opt_remote);
  *out = g_steal_pointer (&req);
  return TRUE;
}

static gboolean
build_inspect (Ctl                *ctl,
               CrierAdminRequest **out,
               GError            **error)
{
  *out = crier_admin_request_new (CRIER_ADMIN_REQUEST_INSPECT_SESSION);
  (*out)->session = g_strdup (ctl->args[0]);
  return TRUE;
}

static gboolean
build_kick (Ctl                *ctl,
            CrierAdminRequest **out,
            GError            **error)
{
  g_autoptr(CrierAdminRequest) req = crier_admin_request_new (CRIER_ADMIN_REQUEST_KICK);

  if ((ctl->args[0] != NULL) == (opt_user != NULL))
    {
      g_set_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_INVALID_PARAMS,
                   "kick: give a SESSION or --user USER");
      return FALSE;
    }
  req->session = g_strdup (ctl->args[0]);
  req->user = g_strdup (opt_user);
  req->reason = g_strdup (opt_reason);
  if (opt_code != 0)
    {
      if (opt_code < 3000 || opt_code > 4999)
        {
          g_set_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_INVALID_PARAMS,
                       "--code %d: use 3000 to 4999", opt_code);
          return FALSE;
        }
      req->code = (guint) opt_code;
      req->reconnect = crier_admin_code_reconnects (req->code);
      if (opt_no_reconnect && req->reconnect)
        {
          g_set_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_INVALID_PARAMS,
                       "--code %d lets the client reconnect; terminal codes are 3500-3999 "
                       "and 4500-4999", opt_code);
          return FALSE;
        }
    }
  else
    req->reconnect = !opt_no_reconnect;
  *out = g_steal_pointer (&req);
  return TRUE;
}

static gboolean
build_unsubscribe (Ctl                *ctl,
                   CrierAdminRequest **out,
                   GError            **error)
{
  *out = crier_admin_request_new (CRIER_ADMIN_REQUEST_UNSUBSCRIBE);
  (*out)->session = g_strdup (ctl->args[0]);
  (*out)->channel = g_strdup (ctl->args[1]);
  return TRUE;
}

static gboolean
build_publish (Ctl                *ctl,
               CrierAdminRequest **out,
               GError            **error)
{
  guint n = g_strv_length (ctl->args);

  *out = crier_admin_request_new (CRIER_ADMIN_REQUEST_BROADCAST);
  (*out)->channels = g_new0 (char *, n);
  for (guint i = 0; i + 1 < n; i++)
    (*out)->channels[i] = g_strdup (ctl->args[i]);
  (*out)->data = g_strdup (ctl->args[n - 1]);
  return TRUE;
}

static gboolean
build_channels (Ctl                *ctl,
                CrierAdminRequest **out,
                GError            **error)
{
  g_autoptr(CrierAdminRequest) req = crier_admin_request_new (CRIER_ADMIN_REQUEST_LIST_CHANNELS);

  if (!set_paging (req, FALSE, error))
    return FALSE;
  req->filter = g_strdup (opt_filter);
  *out = g_steal_pointer (&req);
  return TRUE;
}

static gboolean
build_channel (Ctl                *ctl,
               CrierAdminRequest **out,
               GError            **error)
{
  *out = crier_admin_request_new (CRIER_ADMIN_REQUEST_INSPECT_CHANNEL);
  (*out)->channel = g_strdup (ctl->args[0]);
  return TRUE;
}

static gboolean
build_alerts (Ctl                *ctl,
              CrierAdminRequest **out,
              GError            **error)
{
  if (opt_follow)
    {
      if (opt_all)
        {
          g_set_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_INVALID_PARAMS,
                       "alerts: --follow shows the active alerts, not --all");
          return FALSE;
        }
      ctl->watching = TRUE;
      ctl->watch_type = CRIER_ADMIN_REQUEST_WATCH_ALERTS;
      return build_simple (CRIER_ADMIN_REQUEST_WATCH_ALERTS, out);
    }
  *out = crier_admin_request_new (CRIER_ADMIN_REQUEST_LIST_ALERTS);
  (*out)->include_resolved = opt_all;
  return TRUE;
}

static gboolean
build_nodes (Ctl                *ctl,
             CrierAdminRequest **out,
             GError            **error)
{
  return build_simple (CRIER_ADMIN_REQUEST_LIST_NODES, out);
}

static gboolean
build_history (Ctl                *ctl,
               CrierAdminRequest **out,
               GError            **error)
{
  *out = crier_admin_request_new (CRIER_ADMIN_REQUEST_GET_HISTORY);
  if (ctl->args[0] != NULL)
    (*out)->metrics = g_strdupv (ctl->args);
  return TRUE;
}

/* version: hello is enough. */
static gboolean
build_none (Ctl                *ctl,
            CrierAdminRequest **out,
            GError            **error)
{
  *out = NULL;
  return TRUE;
}

/* ---- printing ------------------------------------------------------------- */

static char *
join_labelled (const GArray *array,
               gboolean      counts)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < array->len; i++)
    {
      const CrierAdminLabelled *l = &g_array_index (array, CrierAdminLabelled, i);

      if (!counts && l->total == 0)
        continue;
      if (s->len > 0)
        g_string_append (s, ", ");
      if (counts)
        g_string_append_printf (s, "%s %" G_GUINT64_FORMAT, l->name, l->total);
      else
        g_string_append_printf (s, "%s %" G_GUINT64_FORMAT, l->name, l->total);
    }
  if (s->len == 0)
    g_string_append (s, "none");
  return g_string_free (s, FALSE);
}

static void
print_stats (Ctl      *ctl,
             JsonNode *result)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CrierAdminStats) s = crier_admin_stats_from_json (result, &error);
  g_autofree char *transports = NULL;
  g_autofree char *reasons = NULL;
  g_autofree char *rejections = NULL;
  g_autofree char *uptime = NULL;
  g_autofree char *in = NULL, *out = NULL, *rss = NULL, *per_conn = NULL, *history = NULL;
  g_autofree char *mean = NULL, *p50 = NULL, *p99 = NULL;

  if (s == NULL)
    {
      fail (ctl, EXIT_SERVER_ERROR, "%s", error->message);
      return;
    }
  transports = join_labelled (s->transports, TRUE);
  reasons = join_labelled (s->disconnect_reasons, FALSE);
  rejections = join_labelled (s->rejection_reasons, FALSE);
  uptime = fmt_age (s->uptime);
  in = fmt_size (s->bytes_in_per_s);
  out = fmt_size (s->bytes_out_per_s);
  rss = fmt_size (s->rss_bytes);
  per_conn = fmt_size (s->rss_per_connection);
  history = fmt_size (s->history_bytes);
  mean = fmt_ms (s->latency_mean_ms);
  p50 = fmt_ms (s->latency_p50_ms);
  p99 = fmt_ms (s->latency_p99_ms);

  g_print ("node           %s (crierd %s, up %s)\n",
           ctl->hello->node, ctl->hello->version, uptime);
  g_print ("connections    %.0f (%s), %.0f sessions, %.0f admin\n",
           s->connections, transports, s->sessions, s->admin_connections);
  g_print ("channels       %.0f, %.0f subscriptions\n", s->channels, s->subscriptions);
  g_print ("per second     %.1f connects, %.1f disconnects, %.1f publishes, %.1f deliveries\n",
           s->connects_per_s, s->disconnects_per_s, s->publishes_per_s, s->deliveries_per_s);
  g_print ("traffic        %s/s in, %s/s out\n", in, out);
  g_print ("latency        mean %s, p50 %s, p99 %s\n", mean, p50, p99);
  g_print ("problems/s     %.1f evictions, %.1f rejections, %.1f protocol errors, %.1f refusals\n",
           s->evictions_per_s, s->rejections_per_s, s->protocol_errors_per_s, s->refusals_per_s);
  g_print ("totals         %" G_GUINT64_FORMAT " connects, %" G_GUINT64_FORMAT " publications, %"
           G_GUINT64_FORMAT " deliveries, %" G_GUINT64_FORMAT " evictions\n",
           s->connects_total, s->publications_total, s->deliveries_total, s->evictions_total);
  g_print ("disconnects    %s\n", reasons);
  g_print ("rejections     %s\n", rejections);
  g_print ("process        rss %s (%s per connection), cpu %.1f %%, loop lag %.1f ms\n",
           rss, per_conn, s->cpu_percent, s->loop_lag_ms);
  g_print ("broker         %s, history %s\n", s->broker_up >= 1 ? "up" : "DOWN", history);
  g_print ("alerts         %.0f active\n", s->alerts_active);
}

static void
print_watch_header (void)
{
  g_print ("%-8s %7s %7s %7s %8s %9s %10s %8s %10s %6s %6s\n",
           "TIME", "CONNS", "CONN/S", "DISC/S", "PUB/S", "DELIV/S", "OUT/S", "P99", "RSS", "LAG", "ALERTS");
}

static void
print_watch_line (CrierAdminStats *s)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local (s->timestamp / 1000);
  g_autofree char *time = g_date_time_format (dt, "%H:%M:%S");
  g_autofree char *out = fmt_size (s->bytes_out_per_s);
  g_autofree char *rss = fmt_size (s->rss_bytes);
  double p99 = isfinite (s->latency_p99_ms) ? s->latency_p99_ms : s->latency_mean_ms;
  /* Deliveries on one node take microseconds: three decimals below 1 ms. */
  g_autofree char *p99s = !isfinite (p99) ? g_strdup ("-") :
                          p99 < 1 ? g_strdup_printf ("%.3fms", p99) : g_strdup_printf ("%.2fms", p99);

  g_print ("%-8s %7.0f %7.1f %7.1f %8.1f %9.1f %10s %8s %10s %4.1fms %6.0f\n",
           time, s->connections, s->connects_per_s, s->disconnects_per_s, s->publishes_per_s,
           s->deliveries_per_s, out, p99s, rss, s->loop_lag_ms, s->alerts_active);
}

static void
print_session_list (Ctl      *ctl,
                    JsonNode *result)
{
  JsonObject *o = result_object (result);
  JsonArray *list = o != NULL && json_object_has_member (o, "sessions")
                    ? json_object_get_array_member (o, "sessions") : NULL;
  gint64 now_ms = g_get_real_time () / 1000;
  Table *t;

  if (list == NULL)
    {
      fail (ctl, EXIT_SERVER_ERROR, "list_sessions: no sessions in the reply");
      return;
    }
  t = table_new ("llllrrrr", "SESSION", "USER", "TRANSPORT", "REMOTE", "AGE", "SUBS", "PUBS", "SENT", NULL);
  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(CrierAdminSessionInfo) info =
        crier_admin_session_info_from_json (json_array_get_element (list, i), &error);

      if (info == NULL)
        {
          g_printerr ("crierctl: %s\n", error->message);
          continue;
        }
      table_add (t, g_strdup (info->id),
                 g_strdup (info->user[0] != '\0' ? info->user : "(anonymous)"),
                 g_strdup (info->transport), g_strdup (info->remote),
                 fmt_age ((now_ms - info->connected_at) / 1000),
                 g_strdup_printf ("%u", info->subscriptions),
                 g_strdup_printf ("%" G_GUINT64_FORMAT, info->pubs_out),
                 info->bytes_out >= 0 ? crier_format_size (info->bytes_out) : NULL);
    }
  table_print_free (t);
  g_print ("page %.0f of %.0f, %.0f session(s)\n", member_number (o, "page"),
           MAX (member_number (o, "pages"), 1), member_number (o, "total"));
}

static void
print_pairs (JsonObject         *o,
             const char * const *names)
{
  Table *t = table_new ("ll", "FIELD", "VALUE", NULL);

  for (guint i = 0; names[i] != NULL; i++)
    {
      JsonNode *n = json_object_get_member (o, names[i]);
      char *value;

      if (n == NULL || JSON_NODE_HOLDS_NULL (n))
        value = NULL;
      else if (g_str_equal (names[i], "last_activity_at") && JSON_NODE_HOLDS_VALUE (n))
        {
          gint64 at = json_node_get_int (n);
          g_autofree char *when = fmt_time_ms (at);
          g_autofree char *ago = fmt_age ((g_get_real_time () / 1000 - at) / 1000);

          value = g_strdup_printf ("%s (%s ago)", when, ago);
        }
      else if (g_str_equal (names[i], "ping_rtt_ms") && JSON_NODE_HOLDS_VALUE (n))
        value = fmt_ms (json_node_get_double (n));
      else if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING)
        value = g_strdup (json_node_get_string (n));
      else
        value = json_to_string (n, FALSE);
      table_add (t, g_strdup (names[i]), value);
    }
  table_print_free (t);
}

static void
print_session (Ctl      *ctl,
               JsonNode *result)
{
  static const char * const fields[] = {
    "id", "user", "transport", "remote", "user_agent", "connected_at", "expire_at",
    "subscriptions", "pubs_out", "commands_in", "bytes_in", "bytes_out", "queued_bytes",
    "last_activity_at", "ping_rtt_ms", "conn_info", NULL
  };
  JsonObject *o = result_object (result);
  JsonArray *channels;
  Table *t;

  if (o == NULL)
    return;
  print_pairs (o, fields);
  channels = json_object_has_member (o, "channels") ? json_object_get_array_member (o, "channels") : NULL;
  if (channels == NULL || json_array_get_length (channels) == 0)
    return;
  g_print ("\n");
  t = table_new ("lrll", "CHANNEL", "OFFSET", "EPOCH", "FLAGS", NULL);
  for (guint i = 0; i < json_array_get_length (channels); i++)
    {
      JsonObject *c = json_array_get_object_element (channels, i);
      GString *flags = g_string_new (NULL);
      static const char * const names[] = { "positioned", "recoverable", "join_leave", "server_side",
                                            "recovering", NULL };

      for (guint f = 0; names[f] != NULL; f++)
        if (member_number (c, names[f]) > 0)
          g_string_append_printf (flags, "%s%s", flags->len > 0 ? "," : "", names[f]);
      table_add (t, g_strdup (member_string (c, "channel")),
                 fmt_num (member_number (c, "offset")),
                 g_strdup (member_string (c, "epoch")),
                 g_string_free (flags, FALSE));
    }
  table_print_free (t);
}

static void
print_kick (Ctl      *ctl,
            JsonNode *result)
{
  JsonObject *o = result_object (result);
  double kicked = member_number (o, "kicked");

  g_print ("kicked %.0f session%s (code %.0f \"%s\", %s)\n", kicked, kicked == 1 ? "" : "s",
           member_number (o, "code"), member_string (o, "reason"),
           member_number (o, "reconnect") > 0 ? "clients reconnect" : "clients stay disconnected");
}

static void
print_unsubscribe (Ctl      *ctl,
                   JsonNode *result)
{
  g_print ("unsubscribed %s from %s\n", ctl->args[0], ctl->args[1]);
}

static void
print_publish (Ctl      *ctl,
               JsonNode *result)
{
  JsonObject *o = result_object (result);
  JsonArray *pubs = o != NULL && json_object_has_member (o, "publications")
                    ? json_object_get_array_member (o, "publications") : NULL;
  Table *t = table_new ("lrlr", "CHANNEL", "OFFSET", "EPOCH", "REACHED", NULL);

  for (guint i = 0; pubs != NULL && i < json_array_get_length (pubs); i++)
    {
      JsonObject *p = json_array_get_object_element (pubs, i);

      if (json_object_has_member (p, "error"))
        {
          JsonObject *e = json_object_get_object_member (p, "error");

          table_add (t, g_strdup (member_string (p, "channel")),
                     g_strdup_printf ("error %.0f", member_number (e, "code")),
                     g_strdup (member_string (e, "message")), NULL);
        }
      else
        table_add (t, g_strdup (member_string (p, "channel")), fmt_num (member_number (p, "offset")),
                   g_strdup (member_string (p, "epoch")), fmt_num (member_number (p, "reached")));
    }
  table_print_free (t);
  if (member_number (o, "failed") > 0)
    finish (ctl, EXIT_SERVER_ERROR);
}

static void
print_channels (Ctl      *ctl,
                JsonNode *result)
{
  JsonObject *o = result_object (result);
  JsonArray *list = o != NULL && json_object_has_member (o, "channels")
                    ? json_object_get_array_member (o, "channels") : NULL;
  Table *t = table_new ("lrrrl", "CHANNEL", "SUBSCRIBERS", "PUB/S", "OFFSET", "EPOCH", NULL);

  for (guint i = 0; list != NULL && i < json_array_get_length (list); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(CrierAdminChannelInfo) info =
        crier_admin_channel_info_from_json (json_array_get_element (list, i), &error);

      if (info == NULL)
        {
          g_printerr ("crierctl: %s\n", error->message);
          continue;
        }
      table_add (t, g_strdup (info->name), g_strdup_printf ("%u", info->subscribers),
                 fmt_num (info->publish_rate),
                 g_strdup_printf ("%" G_GUINT64_FORMAT, info->offset), g_strdup (info->epoch));
    }
  table_print_free (t);
  g_print ("page %.0f of %.0f, %.0f channel(s)\n", member_number (o, "page"),
           MAX (member_number (o, "pages"), 1), member_number (o, "total"));
}

static void
print_channel (Ctl      *ctl,
               JsonNode *result)
{
  static const char * const fields[] = {
    "channel", "subscribers", "publish_rate", "offset", "epoch", "namespace", "history", NULL
  };
  JsonObject *o = result_object (result);
  JsonObject *presence;
  JsonArray *sessions;

  if (o == NULL)
    return;
  print_pairs (o, fields);
  presence = json_object_has_member (o, "presence") && !json_object_get_null_member (o, "presence")
             ? json_object_get_object_member (o, "presence") : NULL;
  if (presence != NULL)
    g_print ("presence: %.0f clients, %.0f users\n", member_number (presence, "num_clients"),
             member_number (presence, "num_users"));
  sessions = json_object_has_member (o, "sessions") ? json_object_get_array_member (o, "sessions") : NULL;
  if (sessions != NULL && json_array_get_length (sessions) > 0)
    {
      g_print ("sessions on this node:\n");
      for (guint i = 0; i < json_array_get_length (sessions); i++)
        g_print ("  %s\n", json_array_get_string_element (sessions, i));
    }
}

static void
add_alert_rows (Table      *t,
                JsonObject *o,
                const char *member)
{
  JsonArray *list = json_object_has_member (o, member) ? json_object_get_array_member (o, member) : NULL;

  for (guint i = 0; list != NULL && i < json_array_get_length (list); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(CrierAlert) a = crier_admin_alert_from_json (json_array_get_element (list, i), &error);

      if (a == NULL)
        {
          g_printerr ("crierctl: %s\n", error->message);
          continue;
        }
      table_add (t, g_strdup_printf ("%" G_GUINT64_FORMAT, a->id),
                 g_strdup (a->end_time > 0 ? "resolved" : "active"),
                 g_strdup (crier_alert_severity_to_string (a->severity)),
                 g_strdup (crier_alert_kind_to_string (a->kind)),
                 fmt_time_ms (a->start_time),
                 g_strdup (a->explanation));
    }
}

static void
print_alerts (Ctl      *ctl,
              JsonNode *result)
{
  JsonObject *o = result_object (result);
  Table *t;

  if (o == NULL)
    return;
  if (member_number (o, "enabled") == 0)
    g_print ("anomaly detection is off ([anomaly] enabled = false)\n");
  t = table_new ("rlllll", "ID", "STATE", "SEVERITY", "KIND", "SINCE", "EXPLANATION", NULL);
  add_alert_rows (t, o, "active");
  add_alert_rows (t, o, "recent");
  if (t->rows->len == 1)
    {
      /* Only the header. */
      g_ptr_array_unref (t->rows);
      g_free (t);
      g_print ("no alerts\n");
      return;
    }
  table_print_free (t);
}

static void
print_nodes (Ctl      *ctl,
             JsonNode *result)
{
  JsonObject *o = result_object (result);
  JsonArray *list = o != NULL && json_object_has_member (o, "nodes")
                    ? json_object_get_array_member (o, "nodes") : NULL;
  JsonObject *totals = o != NULL && json_object_has_member (o, "totals")
                       ? json_object_get_object_member (o, "totals") : NULL;
  g_autofree char *rate = NULL;
  Table *t;

  if (list == NULL || totals == NULL)
    {
      fail (ctl, EXIT_SERVER_ERROR, "list_nodes: no nodes in the reply");
      return;
    }
  t = table_new ("llllrrrrrl", "NODE", "NAME", "ADDRESS", "VERSION", "UPTIME", "CONNS", "SESSIONS",
                 "CHANNELS", "PUB/S", "NOTE", NULL);
  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      JsonObject *n = json_array_get_object_element (list, i);

      if (n == NULL)
        continue;
      table_add (t, g_strdup (member_string (n, "id")), g_strdup (member_string (n, "name")),
                 g_strdup (member_string (n, "address")), g_strdup (member_string (n, "version")),
                 fmt_age ((gint64) member_number (n, "uptime")),
                 fmt_num (member_number (n, "connections")), fmt_num (member_number (n, "sessions")),
                 fmt_num (member_number (n, "channels")), fmt_num (member_number (n, "publications_per_s")),
                 g_strdup (member_number (n, "self") > 0 ? "(this node)" : ""));
    }
  table_print_free (t);
  rate = fmt_num (member_number (totals, "publications_per_s"));
  g_print ("%.0f node(s)%s: %.0f connections, %.0f sessions, %s publications/s\n",
           member_number (totals, "nodes"),
           member_number (o, "shared") > 0 ? " sharing the broker" : " (memory broker: this node alone)",
           member_number (totals, "connections"), member_number (totals, "sessions"),
           rate);
}

static void
print_history (Ctl      *ctl,
               JsonNode *result)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CrierAdminHistory) h = crier_admin_history_from_json (result, &error);
  GString *line;

  if (h == NULL)
    {
      fail (ctl, EXIT_SERVER_ERROR, "%s", error->message);
      return;
    }
  /* timestamp,value rows (Unix seconds): what `crierctl detect` reads. */
  line = g_string_new ("timestamp");
  for (guint s = 0; s < h->names->len; s++)
    g_string_append_printf (line, ",%s", (char *) g_ptr_array_index (h->names, s));
  g_print ("%s\n", line->str);
  for (guint i = 0; i < h->n_samples; i++)
    {
      g_string_printf (line, "%" G_GINT64_FORMAT ".%03d", h->timestamps[i] / 1000,
                       (int) (h->timestamps[i] % 1000));
      for (guint s = 0; s < h->names->len; s++)
        {
          double v = ((double *) g_ptr_array_index (h->values, s))[i];
          char buf[G_ASCII_DTOSTR_BUF_SIZE];

          g_string_append_c (line, ',');
          if (isfinite (v))
            g_string_append (line, g_ascii_formatd (buf, sizeof buf, "%.6g", v));
        }
      g_print ("%s\n", line->str);
    }
  g_string_free (line, TRUE);
}

static void
print_version (Ctl      *ctl,
               JsonNode *result)
{
  g_autofree char *uptime = fmt_age (ctl->hello->uptime);

  /* The crierctl line was printed before connecting. */
  g_print ("crierd %s on node %s (admin protocol %" G_GINT64_FORMAT ", pid %" G_GINT64_FORMAT ", up %s)\n",
           ctl->hello->version, ctl->hello->node, ctl->hello->protocol, ctl->hello->pid, uptime);
}

static const Command commands[] = {
  { "stats", 0, 0, build_stats, print_stats },
  { "watch", 0, 0, build_watch, NULL },
  { "sessions", 0, 0, build_sessions, print_session_list },
  { "inspect", 1, 1, build_inspect, print_session },
  { "kick", 0, 1, build_kick, print_kick },
  { "unsubscribe", 2, 2, build_unsubscribe, print_unsubscribe },
  { "publish", 2, G_MAXUINT, build_publish, print_publish },
  { "channels", 0, 0, build_channels, print_channels },
  { "channel", 1, 1, build_channel, print_channel },
  { "alerts", 0, 0, build_alerts, print_alerts },
  { "nodes", 0, 0, build_nodes, print_nodes },
  { "history", 0, G_MAXUINT, build_history, print_history },
  { "version", 0, 0, build_none, print_version },
};

/* ---- the conversation ----------------------------------------------------- */

static gboolean
send_request (Ctl                *ctl,
              CrierAdminRequest  *req,
              GError            **error)
{
  g_autofree char *text = NULL;

  req->id = ctl->next_id++;
  text = crier_admin_request_encode (req, error);
  if (text == NULL)
    return FALSE;
  ctl->waiting_id = req->id;
  soup_websocket_connection_send_text (ctl->ws, text);
  return TRUE;
}

static char *
now_hms (void)
{
  g_autoptr(GDateTime) dt = g_date_time_new_now_local ();

  return g_date_time_format (dt, "%H:%M:%S");
}

static void
print_session_event_header (void)
{
  g_print ("%-8s %-7s %-32s %-16s %-14s %s\n", "TIME", "EVENT", "SESSION", "USER", "TRANSPORT", "REMOTE");
}

static void
print_session_event (CrierAdminMessage *msg)
{
  g_autofree char *time = now_hms ();
  JsonObject *session = json_object_has_member (msg->body, "session")
                        ? json_object_get_object_member (msg->body, "session") : NULL;
  const char *user;

  if (g_str_equal (msg->event, "sessions_resync"))
    {
      g_print ("%-8s %-7s %.0f opened, %.0f closed, %.0f sessions now (too many to list: run sessions)\n",
               time, "resync", member_number (msg->body, "opened"), member_number (msg->body, "closed"),
               member_number (msg->body, "sessions"));
      return;
    }
  user = member_string (session, "user");
  g_print ("%-8s %-7s %-32s %-16s %-14s %s\n", time,
           g_str_equal (msg->event, "session_opened") ? "opened" : "closed",
           member_string (session, "id") != NULL ? member_string (session, "id") : "-",
           user == NULL ? "-" : user[0] != '\0' ? user : "(anonymous)",
           member_string (session, "transport") != NULL ? member_string (session, "transport") : "-",
           member_string (session, "remote") != NULL ? member_string (session, "remote") : "-");
}

static void
print_alert_event_header (void)
{
  g_print ("%-8s %-8s %5s %-8s %-8s %s\n", "TIME", "EVENT", "ID", "SEVERITY", "KIND", "EXPLANATION");
}

static gboolean
print_alert_event (CrierAdminMessage *msg,
                   GError           **error)
{
  g_autofree char *time = now_hms ();
  g_autoptr(CrierAlert) a = crier_admin_alert_from_json (json_object_get_member (msg->body, "alert"), error);

  if (a == NULL)
    return FALSE;
  g_print ("%-8s %-8s %5" G_GUINT64_FORMAT " %-8s %-8s %s\n", time, msg->event + strlen ("alert_"), a->id,
           crier_alert_severity_to_string (a->severity), crier_alert_kind_to_string (a->kind),
           a->explanation);
  return TRUE;
}

static gboolean
event_wanted (Ctl        *ctl,
              const char *event)
{
  switch (ctl->watch_type)
    {
    case CRIER_ADMIN_REQUEST_WATCH_SESSIONS:
      return g_str_equal (event, "session_opened") || g_str_equal (event, "session_closed") ||
             g_str_equal (event, "sessions_resync");
    case CRIER_ADMIN_REQUEST_WATCH_ALERTS:
      return g_str_has_prefix (event, "alert_");
    case CRIER_ADMIN_REQUEST_WATCH_STATS:
    default:
      return g_str_equal (event, "stats");
    }
}

static void
on_event (Ctl               *ctl,
          CrierAdminMessage *msg)
{
  JsonNode *stats_node;
  g_autoptr(GError) error = NULL;
  g_autoptr(CrierAdminStats) stats = NULL;

  if (!ctl->watching || !event_wanted (ctl, msg->event))
    return;
  if (ctl->watch_type == CRIER_ADMIN_REQUEST_WATCH_STATS)
    arm_timeout (ctl);   /* a silent server is a broken one */

  stats_node = json_object_get_member (msg->body, "stats");
  if (opt_json)
    {
      g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), msg->body);
      g_autofree char *text = json_to_string (node, FALSE);

      g_print ("%s\n", text);
    }
  else if (ctl->watch_type == CRIER_ADMIN_REQUEST_WATCH_SESSIONS)
    print_session_event (msg);
  else if (ctl->watch_type == CRIER_ADMIN_REQUEST_WATCH_ALERTS)
    {
      if (!print_alert_event (msg, &error))
        {
          fail (ctl, EXIT_SERVER_ERROR, "%s", error->message);
          return;
        }
    }
  else
    {
      stats = crier_admin_stats_from_json (stats_node, &error);
      if (stats == NULL)
        {
          fail (ctl, EXIT_SERVER_ERROR, "%s", error->message);
          return;
        }
      print_watch_line (stats);
    }
  fflush (stdout);
  if (opt_count > 0 && ++ctl->watched >= opt_count)
    finish (ctl, EXIT_OK);
}

static void
on_hello (Ctl               *ctl,
          CrierAdminMessage *msg)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CrierAdminRequest) req = NULL;

  ctl->hello = crier_admin_hello_from_json (msg->result, &error);
  if (ctl->hello == NULL)
    {
      fail (ctl, EXIT_SERVER_ERROR, "%s", error->message);
      return;
    }
  if (ctl->hello->protocol != CRIER_ADMIN_PROTOCOL_VERSION)
    {
      fail (ctl, EXIT_SERVER_ERROR, "the server speaks admin protocol %" G_GINT64_FORMAT ", not %d",
            ctl->hello->protocol, CRIER_ADMIN_PROTOCOL_VERSION);
      return;
    }

  if (!ctl->command->build (ctl, &req, &error))
    {
      fail (ctl, EXIT_USAGE, "%s", error->message);
      return;
    }
  if (req == NULL)
    {
      /* version: answered by hello itself. */
      if (opt_json)
        print_json (msg->result);
      else
        ctl->command->print (ctl, msg->result);
      finish (ctl, EXIT_OK);
      return;
    }
  if (!send_request (ctl, req, &error))
    fail (ctl, EXIT_USAGE, "%s", error->message);
}

static gboolean
on_seconds (gpointer user_data)
{
  Ctl *ctl = user_data;

  ctl->seconds_id = 0;
  finish (ctl, EXIT_OK);
  return G_SOURCE_REMOVE;
}

static void
on_reply (Ctl               *ctl,
          CrierAdminMessage *msg)
{
  ctl->waiting_id = -1;

  if (ctl->watching)
    {
      if (opt_seconds > 0 && ctl->seconds_id == 0)
        ctl->seconds_id = g_timeout_add_seconds ((guint) opt_seconds, on_seconds, ctl);
      switch (ctl->watch_type)
        {
        case CRIER_ADMIN_REQUEST_WATCH_SESSIONS:
          /* Session and alert events may be rare: no answer timeout from
           * now on (a dead server still closes the WebSocket). */
          g_clear_handle_id (&ctl->timeout_id, g_source_remove);
          if (!opt_json)
            print_session_event_header ();
          break;
        case CRIER_ADMIN_REQUEST_WATCH_ALERTS:
          g_clear_handle_id (&ctl->timeout_id, g_source_remove);
          if (!opt_json)
            {
              /* The reply carries the active alerts. */
              print_alerts (ctl, msg->result);
              g_print ("\n");
              print_alert_event_header ();
            }
          break;
        case CRIER_ADMIN_REQUEST_WATCH_STATS:
        default:
          /* The reply to watch_stats carries the current sample. */
          if (!opt_json)
            print_watch_header ();
          break;
        }
      fflush (stdout);
      return;
    }
  if (opt_json)
    print_json (msg->result);
  else if (ctl->command->print != NULL)
    ctl->command->print (ctl, msg->result);
  finish (ctl, ctl->done ? ctl->exit_code : EXIT_OK);
}

static void
on_message (SoupWebsocketConnection *ws,
            SoupWebsocketDataType    type,
            GBytes                  *data,
            gpointer                 user_data)
{
  Ctl *ctl = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CrierAdminMessage) msg = NULL;
  gsize len;
  const char *text = g_bytes_get_data (data, &len);

  if (ctl->done)
    return;
  msg = crier_admin_message_decode (text, len, &error);
  if (msg == NULL)
    {
      fail (ctl, EXIT_SERVER_ERROR, "bad message from the server: %s", error->message);
      return;
    }

  switch (msg->kind)
    {
    case CRIER_ADMIN_MESSAGE_EVENT:
      on_event (ctl, msg);
      return;

    case CRIER_ADMIN_MESSAGE_ERROR:
      if (opt_json)
        {
          g_autoptr(JsonNode) node = NULL;
          JsonObject *o = json_object_new ();
          JsonObject *e = json_object_new ();

          json_object_set_string_member (e, "code", msg->error_name);
          json_object_set_string_member (e, "message", msg->error_message);
          json_object_set_object_member (o, "error", e);
          node = json_node_init_object (json_node_alloc (), o);
          json_object_unref (o);
          print_json (node);
        }
      fail (ctl, EXIT_SERVER_ERROR, "%s: %s", msg->error_name, msg->error_message);
      return;

    case CRIER_ADMIN_MESSAGE_REPLY:
      if (msg->id != ctl->waiting_id)
        return;
      arm_timeout (ctl);
      if (ctl->hello == NULL)
        on_hello (ctl, msg);
      else
        on_reply (ctl, msg);
      return;
    }
}

static void
on_closed (SoupWebsocketConnection *ws,
           gpointer                 user_data)
{
  Ctl *ctl = user_data;
  const char *reason = soup_websocket_connection_get_close_data (ws);

  fail (ctl, EXIT_CONNECT, "%s closed the connection (%u%s%s)", ctl->target,
        soup_websocket_connection_get_close_code (ws),
        reason != NULL && reason[0] != '\0' ? " " : "", reason != NULL ? reason : "");
}

static void
on_connected (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Ctl *ctl = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CrierAdminRequest) hello = NULL;
  g_autofree char *client = NULL;
  guint status;

  ctl->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  if (ctl->ws == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      status = soup_message_get_status (ctl->msg);
      if (status == SOUP_STATUS_UNAUTHORIZED || status == SOUP_STATUS_FORBIDDEN)
        fail (ctl, EXIT_AUTH, "%s refused the connection (%u %s)%s", ctl->target, status,
              soup_status_get_phrase (status),
              status == SOUP_STATUS_UNAUTHORIZED ? ": check --token" : ": run as the server's user or root");
      else if (status == SOUP_STATUS_SERVICE_UNAVAILABLE)
        fail (ctl, EXIT_CONNECT, "%s: the server is shutting down", ctl->target);
      else if (error->domain == G_TLS_ERROR)
        fail (ctl, EXIT_CONNECT, "cannot connect to %s: TLS: %s%s", ctl->target, error->message,
              opt_ca_file == NULL ? " (give the server's CA with --ca-file)" : "");
      else
        fail (ctl, EXIT_CONNECT, "cannot connect to %s: %s", ctl->target, error->message);
      return;
    }

  /* Pages of sessions and the history are larger than libsoup's 128 KiB. */
  soup_websocket_connection_set_max_incoming_payload_size (ctl->ws, CRIER_ADMIN_MAX_REPLY_SIZE);
  g_signal_connect (ctl->ws, "message", G_CALLBACK (on_message), ctl);
  g_signal_connect (ctl->ws, "closed", G_CALLBACK (on_closed), ctl);

  hello = crier_admin_request_new (CRIER_ADMIN_REQUEST_HELLO);
  client = g_strdup_printf ("crierctl %s", PACKAGE_VERSION);
  hello->client = g_steal_pointer (&client);
  if (!send_request (ctl, hello, &error))
    fail (ctl, EXIT_USAGE, "%s", error->message);
}

static gboolean
on_sigint (gpointer user_data)
{
  Ctl *ctl = user_data;

  finish (ctl, ctl->watching ? EXIT_OK : 130);
  return G_SOURCE_CONTINUE;
}

/* --host [SCHEME://]HOST:PORT[/admin]: the HOST:PORT part, and whether
 * the scheme asks for TLS (-1: no scheme).  NULL when malformed. */
static char *
parse_host (const char *host,
            int        *scheme_tls)
{
  static const struct
  {
    const char *prefix;
    gboolean    tls;
  } schemes[] = {
    { "wss://", TRUE }, { "https://", TRUE }, { "ws://", FALSE }, { "http://", FALSE },
  };
  const char *rest = host;
  const char *slash;
  g_autofree char *hostport = NULL;

  *scheme_tls = -1;
  for (guint i = 0; i < G_N_ELEMENTS (schemes); i++)
    if (g_ascii_strncasecmp (host, schemes[i].prefix, strlen (schemes[i].prefix)) == 0)
      {
        rest = host + strlen (schemes[i].prefix);
        *scheme_tls = schemes[i].tls;
        break;
      }
  if (*scheme_tls == -1 && strstr (host, "://") != NULL)
    return NULL;   /* some other scheme */
  slash = strchr (rest, '/');
  if (slash != NULL && !g_str_equal (slash, "/") && !g_str_equal (slash, CRIER_ADMIN_PATH))
    return NULL;   /* the admin endpoint is always /admin */
  hostport = slash != NULL ? g_strndup (rest, slash - rest) : g_strdup (rest);
  if (hostport[0] == '\0' || hostport[0] == ':' || strchr (hostport, '@') != NULL ||
      strpbrk (hostport, " \t?#") != NULL)
    return NULL;
  return g_steal_pointer (&hostport);
}

static void
ctl_connect (Ctl *ctl)
{
  g_autofree char *url = NULL;
  g_autoptr(GError) error = NULL;

  if (opt_host != NULL)
    {
      const char *token = opt_token != NULL ? opt_token : g_getenv ("CRIER_ADMIN_TOKEN");
      int scheme_tls;
      g_autofree char *hostport = parse_host (opt_host, &scheme_tls);
      gboolean tls = opt_tls || opt_ca_file != NULL || scheme_tls == TRUE;

      /* main() has checked the host and the TLS options. */
      g_assert (hostport != NULL);
      if (opt_ca_file != NULL)
        {
          g_autoptr(GTlsDatabase) db = g_tls_file_database_new (opt_ca_file, &error);

          if (db == NULL)
            {
              fail (ctl, EXIT_USAGE, "--ca-file %s: %s", opt_ca_file, error->message);
              return;
            }
          ctl->session = soup_session_new_with_options ("timeout", (guint) opt_timeout,
                                                        "tls-database", db, NULL);
        }
      else
        ctl->session = soup_session_new_with_options ("timeout", (guint) opt_timeout, NULL);
      url = g_strdup_printf ("%s://%s%s", tls ? "wss" : "ws", hostport, CRIER_ADMIN_PATH);
      ctl->target = g_strdup_printf ("%s://%s", tls ? "wss" : "ws", hostport);
      ctl->msg = soup_message_new (SOUP_METHOD_GET, url);
      if (ctl->msg == NULL)
        {
          fail (ctl, EXIT_USAGE, "--host %s: not HOST:PORT", opt_host);
          return;
        }
      if (token != NULL && token[0] != '\0')
        {
          g_autofree char *header = g_strdup_printf ("Bearer %s", token);

          soup_message_headers_replace (soup_message_get_request_headers (ctl->msg), "Authorization", header);
        }
    }
  else
    {
      g_autofree char *path = opt_socket != NULL ? g_strdup (opt_socket) : crier_admin_default_socket_path ();
      g_autoptr(GSocketAddress) address = g_unix_socket_address_new (path);

      ctl->session = soup_session_new_with_options ("remote-connectable", address,
                                                    "timeout", (guint) opt_timeout, NULL);
      ctl->target = g_steal_pointer (&path);
      /* The host part is ignored over a Unix socket. */
      ctl->msg = soup_message_new (SOUP_METHOD_GET, "ws://localhost" CRIER_ADMIN_PATH);
    }

  arm_timeout (ctl);
  soup_session_websocket_connect_async (ctl->session, ctl->msg, NULL, NULL, G_PRIORITY_DEFAULT,
                                        ctl->cancellable, on_connected, ctl);
}

/* ---- detect (offline) ----------------------------------------------------- */

static int
run_detect (const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  CrierDetectorConfig config;
  CrierMetricProfile profile = CRIER_METRIC_RATE;

  if (opt_profile != NULL)
    {
      static const struct
      {
        const char        *name;
        CrierMetricProfile profile;
      } profiles[] = {
        { "rate", CRIER_METRIC_RATE },
        { "latency", CRIER_METRIC_LATENCY },
        { "gauge", CRIER_METRIC_GAUGE },
        { "errors", CRIER_METRIC_ERRORS },
      };
      gboolean found = FALSE;

      for (guint i = 0; i < G_N_ELEMENTS (profiles); i++)
        if (g_str_equal (opt_profile, profiles[i].name))
          {
            profile = profiles[i].profile;
            found = TRUE;
          }
      if (!found)
        {
          g_printerr ("crierctl: --profile %s: use rate, latency, gauge or errors\n", opt_profile);
          return EXIT_USAGE;
        }
    }

  if (!g_file_get_contents (path, &text, NULL, &error))
    {
      g_printerr ("crierctl: %s\n", error->message);
      return EXIT_USAGE;
    }
  crier_detector_config_init (&config, profile);
  if (!crier_anomaly_detect_csv (text, &config, out, &error))
    {
      g_printerr ("crierctl: %s: %s\n", path, error->message);
      return EXIT_SERVER_ERROR;
    }
  fwrite (out->str, 1, out->len, stdout);
  return EXIT_OK;
}

/* ---- main ----------------------------------------------------------------- */

static int
usage_error (GOptionContext *context,
             const char     *format,
             ...) G_GNUC_PRINTF (2, 3);

static int
usage_error (GOptionContext *context,
             const char     *format,
             ...)
{
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("crierctl: %s\nTry 'crierctl --help'.\n", text);
  return EXIT_USAGE;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) args = NULL;
  const Command *command = NULL;
  Ctl ctl = { 0 };
  guint n_args;
  int exit_code;

  setlocale (LC_ALL, "");

  context = g_option_context_new ("COMMAND [ARGUMENTS…]");
  g_option_context_set_summary (context, summary);
  g_option_context_set_description (context, description);
  /* One group, so that --help shows every option. */
  g_option_context_add_main_entries (context, connection_entries, NULL);
  g_option_context_add_main_entries (context, command_entries, NULL);

  if (!g_option_context_parse (context, &argc, &argv, &error))
    return usage_error (context, "%s", error->message);

  if (argc < 2)
    return usage_error (context, "no command");
  if (g_str_equal (argv[1], "help"))
    {
      g_autofree char *help = g_option_context_get_help (context, FALSE, NULL);

      g_print ("%s", help);
      return EXIT_OK;
    }
  if (opt_timeout < 1 || opt_timeout > 3600)
    return usage_error (context, "--timeout must be 1 to 3600 seconds");
  if (opt_socket != NULL && opt_host != NULL)
    return usage_error (context, "give --socket or --host, not both");
  if ((opt_tls || opt_ca_file != NULL) && opt_host == NULL)
    return usage_error (context, "--tls and --ca-file go with --host (the Unix socket has no TLS)");
  if (opt_host != NULL)
    {
      int scheme_tls;
      g_autofree char *hostport = parse_host (opt_host, &scheme_tls);

      if (hostport == NULL)
        return usage_error (context, "--host %s: use HOST:PORT, wss://HOST:PORT or https://HOST:PORT",
                            opt_host);
      if (scheme_tls == FALSE && (opt_tls || opt_ca_file != NULL))
        return usage_error (context, "--host %s is plain, but --tls or --ca-file asks for TLS", opt_host);
      if (opt_ca_file != NULL && !g_file_test (opt_ca_file, G_FILE_TEST_IS_REGULAR))
        return usage_error (context, "--ca-file %s: no such file", opt_ca_file);
    }
  if (opt_host != NULL && opt_token == NULL &&
      (g_getenv ("CRIER_ADMIN_TOKEN") == NULL || g_getenv ("CRIER_ADMIN_TOKEN")[0] == '\0'))
    return usage_error (context, "--host needs --token (or $CRIER_ADMIN_TOKEN)");
  if (opt_count < 0)
    return usage_error (context, "--count must not be negative");
  if (opt_seconds < 0 || opt_seconds > 365 * 86400)
    return usage_error (context, "--seconds must be 0 (no limit) to 31536000");
  if (opt_sessions && !g_str_equal (argv[1], "watch"))
    return usage_error (context, "--sessions goes with watch");
  if (opt_follow && !g_str_equal (argv[1], "alerts"))
    return usage_error (context, "--follow goes with alerts");

  n_args = (guint) argc - 2;
  if (g_str_equal (argv[1], "detect"))
    {
      if (n_args != 1)
        return usage_error (context, "detect takes one FILE.csv");
      return run_detect (argv[2]);
    }

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (argv[1], commands[i].name))
      command = &commands[i];
  if (command == NULL)
    return usage_error (context, "unknown command '%s'", argv[1]);
  if (n_args < command->min_args || n_args > command->max_args)
    return usage_error (context, "%s takes %s", command->name,
                        command->max_args == 0 ? "no arguments" :
                        command->max_args == G_MAXUINT ? "more arguments" :
                        command->min_args == command->max_args ? "exactly the arguments shown in --help" :
                        "at most one argument");

  /* Check what can be checked before connecting. */
  {
    g_autoptr(CrierAdminRequest) req = NULL;
    g_autofree char *text = NULL;

    args = g_new0 (char *, n_args + 1);
    for (guint i = 0; i < n_args; i++)
      args[i] = g_strdup (argv[2 + i]);
    ctl.args = args;
    if (!command->build (&ctl, &req, &error))
      return usage_error (context, "%s", error->message);
    if (req != NULL && (text = crier_admin_request_encode (req, &error)) == NULL)
      return usage_error (context, "%s", error->message);
    ctl.watching = FALSE;
    ctl.watch_type = CRIER_ADMIN_REQUEST_WATCH_STATS;
  }

  ctl.loop = g_main_loop_new (NULL, FALSE);
  ctl.cancellable = g_cancellable_new ();
  ctl.command = command;
  ctl.next_id = 1;
  ctl.waiting_id = -1;
  g_unix_signal_add (SIGINT, on_sigint, &ctl);
  g_unix_signal_add (SIGTERM, on_sigint, &ctl);

  if (command->print == print_version && !opt_json)
    {
      g_print ("crierctl %s (admin protocol %d)\n", PACKAGE_VERSION, CRIER_ADMIN_PROTOCOL_VERSION);
      fflush (stdout);
    }
  ctl_connect (&ctl);
  if (!ctl.done)
    g_main_loop_run (ctl.loop);
  exit_code = ctl.exit_code;

  /* Tidy up: close politely, then drop everything. */
  g_cancellable_cancel (ctl.cancellable);
  if (ctl.ws != NULL)
    {
      g_signal_handlers_disconnect_by_data (ctl.ws, &ctl);
      if (soup_websocket_connection_get_state (ctl.ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (ctl.ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
      g_clear_object (&ctl.ws);
    }
  g_clear_handle_id (&ctl.timeout_id, g_source_remove);
  g_clear_handle_id (&ctl.seconds_id, g_source_remove);
  g_clear_object (&ctl.msg);
  g_clear_object (&ctl.session);
  g_clear_object (&ctl.cancellable);
  g_clear_pointer (&ctl.hello, crier_admin_hello_free);
  g_clear_pointer (&ctl.loop, g_main_loop_unref);
  g_free (ctl.target);
  return exit_code;
}
