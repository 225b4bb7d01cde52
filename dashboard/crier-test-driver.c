/* crier-test-driver.c: drives the dashboard from a test (--test-driver).
 *
 * Key functions:
 *   read_line_cb ()   one command at a time; the next line is read when
 *                     the command is done
 *   run_command ()    the command table
 *   wait_tick_cb ()   bounded waits (20 s) for a condition
 *   bench_tick_cb ()  frame-clock timings while scrolling and filtering
 */
#include "config.h"

#include "crier-test-driver.h"
#include "crier-connect-dialog.h"
#include "crier-dashboard-enums.h"
#include "crier-node-item.h"
#include "crier-session-list.h"

#include <gio/gunixinputstream.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAIT_TIMEOUT_US  (20 * G_USEC_PER_SEC)
#define BENCH_FRAMES     300

typedef gboolean (*CheckFunc) (CrierTestDriver *self);

typedef enum
{
  BENCH_NONE,
  BENCH_SETTLE,
  BENCH_SCROLL,
  BENCH_SMOOTH,
  BENCH_FILTER,
  BENCH_DONE,
} BenchPhase;

struct _CrierTestDriver
{
  CrierWindow      *window;
  GDataInputStream *input;
  GCancellable     *cancellable;
  char             *command;      /* the one running */
  char             *argument;

  /* wait-* */
  CheckFunc         check;
  gint64            deadline;
  guint             wait_id;
  guint             nodes_updates; /* list_nodes replies when wait-nodes began */

  /* screenshots: ticks left before saving */
  GtkWidget        *shot_widget;
  guint             shot_ticks;

  /* bench */
  BenchPhase        phase;
  guint             bench_frames;
  gint64            last_frame;
  GArray           *intervals;    /* double, ms */
};

static void read_next (CrierTestDriver *self);

static void
reply (const char *format,
       ...) G_GNUC_PRINTF (1, 2);

static void
reply (const char *format,
       ...)
{
  va_list args;

  va_start (args, format);
  vprintf (format, args);
  va_end (args);
  putchar ('\n');
  fflush (stdout);
}

static void
done (CrierTestDriver *self,
      const char      *error)
{
  if (error != NULL)
    reply ("error %s: %s", self->command, error);
  else
    reply ("ok %s", self->command);

  g_clear_pointer (&self->command, g_free);
  g_clear_pointer (&self->argument, g_free);
  read_next (self);
}

static CrierSessionsPage *
sessions_page (CrierTestDriver *self)
{
  return crier_window_get_sessions_page (self->window);
}

/* ---- bounded waits -------------------------------------------------------- */

static gboolean
wait_tick_cb (gpointer user_data)
{
  CrierTestDriver *self = user_data;

  if (self->check (self))
    {
      self->wait_id = 0;
      done (self, NULL);
      return G_SOURCE_REMOVE;
    }
  if (g_get_monotonic_time () > self->deadline)
    {
      self->wait_id = 0;
      done (self, "timed out");
      return G_SOURCE_REMOVE;
    }

  return G_SOURCE_CONTINUE;
}

static void
wait_for (CrierTestDriver *self,
          CheckFunc        check)
{
  self->check = check;
  self->deadline = g_get_monotonic_time () + WAIT_TIMEOUT_US;
  self->wait_id = g_timeout_add (50, wait_tick_cb, self);
}

static gboolean
check_connected (CrierTestDriver *self)
{
  return crier_admin_client_get_state (crier_window_get_client (self->window)) ==
         CRIER_ADMIN_CLIENT_CONNECTED;
}

static const char *
reason_nick (CrierAdminClient *client)
{
  /* Enum classes of static types live as long as the program. */
  GEnumClass *klass = g_type_class_ref (CRIER_TYPE_ADMIN_CLIENT_REASON);
  GEnumValue *value = g_enum_get_value (klass, crier_admin_client_get_reason (client));
  const char *nick = value != NULL ? value->value_nick : "?";

  g_type_class_unref (klass);
  return nick;
}

static gboolean
check_reason (CrierTestDriver *self)
{
  CrierAdminClient *client = crier_window_get_client (self->window);

  return crier_admin_client_get_state (client) == CRIER_ADMIN_CLIENT_ERROR &&
         g_strcmp0 (reason_nick (client), self->argument) == 0;
}

/* connect ADDRESS TOKEN tls|plain [CA_FILE]: the connection dialog, filled
 * in and applied. */
static void
connect_dialog (CrierTestDriver *self)
{
  g_auto(GStrv) words = g_strsplit (self->argument, " ", 4);
  CrierConnectDialog *dialog;

  if (g_strv_length (words) < 3)
    {
      done (self, "usage: connect ADDRESS TOKEN tls|plain [CA_FILE]");
      return;
    }
  dialog = crier_connect_dialog_new (GTK_WINDOW (self->window));
  gtk_window_present (GTK_WINDOW (dialog));
  crier_connect_dialog_fill (dialog, words[0], g_str_equal (words[1], "-") ? "" : words[1],
                             g_str_equal (words[2], "tls"), words[3]);
  if (!gtk_widget_activate_action (GTK_WIDGET (dialog), "connect.apply", NULL))
    {
      gtk_window_destroy (GTK_WINDOW (dialog));
      done (self, "connect.apply is disabled");
      return;
    }
  done (self, NULL);
}

static void
trust_certificate (CrierTestDriver *self)
{
  AdwMessageDialog *dialog;

  gtk_widget_activate_action (GTK_WIDGET (self->window), "win.trust-certificate", NULL);
  dialog = crier_window_get_trust_dialog (self->window);
  if (dialog == NULL)
    {
      done (self, "no certificate to trust");
      return;
    }
  reply ("fingerprint=%s", (const char *) g_object_get_data (G_OBJECT (dialog), "fingerprint"));
  adw_message_dialog_response (dialog, "trust");
  gtk_window_destroy (GTK_WINDOW (dialog));
  done (self, NULL);
}

static gboolean
check_sessions (CrierTestDriver *self)
{
  CrierSessionList *list = crier_sessions_page_get_list (sessions_page (self));

  return g_list_model_get_n_items (G_LIST_MODEL (list)) ==
         (guint) g_ascii_strtoull (self->argument, NULL, 10);
}

/* wait-nodes N: N nodes listed, and a reply newer than the command. */
static gboolean
check_nodes (CrierTestDriver *self)
{
  CrierNodesPage *page = crier_window_get_nodes_page (self->window);

  return crier_nodes_page_get_n_updates (page) > self->nodes_updates &&
         (self->argument == NULL ||
          g_list_model_get_n_items (crier_nodes_page_get_model (page)) ==
          (guint) g_ascii_strtoull (self->argument, NULL, 10));
}

static void
report_nodes (CrierTestDriver *self)
{
  CrierNodesPage *page = crier_window_get_nodes_page (self->window);
  GListModel *nodes = crier_nodes_page_get_model (page);

  reply ("nodes=%u shared=%s total-nodes=%s total-connections=%s",
         g_list_model_get_n_items (nodes),
         crier_nodes_page_get_shared (page) ? "true" : "false",
         crier_nodes_page_get_total_nodes_text (page),
         crier_nodes_page_get_total_connections_text (page));
  for (guint i = 0; i < g_list_model_get_n_items (nodes); i++)
    {
      g_autoptr(CrierNodeItem) item = g_list_model_get_item (nodes, i);

      reply ("node=%s self=%d connections=%" G_GUINT64_FORMAT " age=%.1f name=%s",
             crier_node_item_get_id (item),
             crier_node_item_get_is_self (item),
             crier_node_item_get_connections (item),
             crier_node_item_get_heartbeat_age (item),
             crier_node_item_get_name (item));
    }
}

static gboolean
check_broadcast (CrierTestDriver *self)
{
  CrierBroadcastDialog *dialog = crier_window_get_broadcast_dialog (self->window);

  if (dialog == NULL || crier_broadcast_dialog_get_result (dialog) == NULL)
    return FALSE;

  reply ("reached=%u", crier_broadcast_dialog_get_reached (dialog));
  {
    g_autofree char *flat = g_strdup (crier_broadcast_dialog_get_result (dialog));

    g_strdelimit (flat, "\n", '|');
    reply ("result=%s", flat);
  }
  return TRUE;
}

static gboolean
check_alert (CrierTestDriver *self)
{
  GListModel *alerts = crier_alerts_page_get_model (crier_window_get_alerts_page (self->window));

  for (guint i = 0; i < g_list_model_get_n_items (alerts); i++)
    {
      g_autoptr(GObject) item = g_list_model_get_item (alerts, i);
      g_autofree char *metric = NULL;
      g_autofree char *explanation = NULL;

      g_object_get (item, "metric", &metric, "explanation", &explanation, NULL);
      if (g_strcmp0 (metric, self->argument) == 0)
        {
          reply ("alert=%s %s", metric, explanation);
          return TRUE;
        }
    }

  return FALSE;
}

/* ---- screenshots ---------------------------------------------------------- */

static gboolean
shot_save_cb (gpointer user_data)
{
  CrierTestDriver *self = user_data;
  g_autoptr(GError) error = NULL;

  if (!crier_window_save_native_screenshot (self->shot_widget, self->argument, &error))
    done (self, error->message);
  else
    {
      reply ("screenshot=%s", self->argument);
      done (self, NULL);
    }
  /* screenshot-connect opened it for the picture only. */
  if (CRIER_IS_CONNECT_DIALOG (self->shot_widget))
    gtk_window_destroy (GTK_WINDOW (self->shot_widget));
  g_clear_object (&self->shot_widget);

  return G_SOURCE_REMOVE;
}

static gboolean
shot_tick_cb (GtkWidget     *widget,
              GdkFrameClock *clock,
              gpointer       user_data)
{
  CrierTestDriver *self = user_data;

  if (self->shot_ticks-- > 0)
    return G_SOURCE_CONTINUE;

  g_idle_add (shot_save_cb, self);
  return G_SOURCE_REMOVE;
}

static void
screenshot (CrierTestDriver *self,
            GtkWidget       *native)
{
  if (native == NULL || self->argument == NULL)
    {
      done (self, "nothing to take");
      return;
    }

  g_set_object (&self->shot_widget, native);
  self->shot_ticks = 3;
  gtk_widget_queue_draw (native);
  gtk_widget_add_tick_callback (native, shot_tick_cb, self, NULL);
}

/* ---- bench ----------------------------------------------------------------- */

static int
compare_doubles (gconstpointer a,
                 gconstpointer b)
{
  double x = *(const double *) a;
  double y = *(const double *) b;

  return (x > y) - (x < y);
}

static void
report_intervals (CrierTestDriver *self,
                  const char      *name)
{
  GArray *v = self->intervals;
  double sum = 0;
  guint over = 0;

  if (v->len == 0)
    return;

  g_array_sort (v, compare_doubles);
  for (guint i = 0; i < v->len; i++)
    {
      sum += g_array_index (v, double, i);
      if (g_array_index (v, double, i) > 33.4)
        over++;
    }

  reply ("bench-%s frames=%u mean_ms=%.1f p50_ms=%.1f p95_ms=%.1f max_ms=%.1f over_33ms=%u",
         name, v->len, sum / v->len,
         g_array_index (v, double, v->len / 2),
         g_array_index (v, double, MIN (v->len - 1, (guint) ceil (v->len * 0.95) - 1)),
         g_array_index (v, double, v->len - 1),
         over);
  g_array_set_size (v, 0);
}

static GtkAdjustment *
session_vadjustment (CrierTestDriver *self)
{
  return gtk_scrollable_get_vadjustment (GTK_SCROLLABLE (crier_sessions_page_get_column_view (sessions_page (self))));
}

static gboolean
bench_tick_cb (GtkWidget     *widget,
               GdkFrameClock *clock,
               gpointer       user_data)
{
  CrierTestDriver *self = user_data;
  GtkAdjustment *adjustment = session_vadjustment (self);
  gint64 now = gdk_frame_clock_get_frame_time (clock);
  double range = gtk_adjustment_get_upper (adjustment) - gtk_adjustment_get_page_size (adjustment);

  if (self->last_frame != 0 && self->phase != BENCH_SETTLE)
    {
      double interval = (now - self->last_frame) / 1000.0;

      g_array_append_val (self->intervals, interval);
    }
  self->last_frame = now;
  self->bench_frames++;

  switch (self->phase)
    {
    case BENCH_SETTLE:
      if (self->bench_frames >= 10)
        {
          self->phase = BENCH_SCROLL;
          self->bench_frames = 0;
        }
      break;

    case BENCH_SCROLL:
      /* Jumps: through the whole list in BENCH_FRAMES frames, every frame
       * shows other rows. */
      gtk_adjustment_set_value (adjustment, range * self->bench_frames / BENCH_FRAMES);
      if (self->bench_frames >= BENCH_FRAMES)
        {
          report_intervals (self, "scroll-jump");
          self->phase = BENCH_SMOOTH;
          self->bench_frames = 0;
          gtk_adjustment_set_value (adjustment, 0);
        }
      break;

    case BENCH_SMOOTH:
      /* Smooth: 40 px per frame, as a fast touchpad scroll. */
      gtk_adjustment_set_value (adjustment, MIN (range, 40.0 * self->bench_frames));
      if (self->bench_frames >= BENCH_FRAMES)
        {
          GtkEditable *search = crier_sessions_page_get_search (sessions_page (self));
          GListModel *shown = crier_sessions_page_get_view_model (sessions_page (self));
          gint64 start;

          report_intervals (self, "scroll-smooth");
          gtk_adjustment_set_value (adjustment, 0);

          /* What the debounced search-changed does, timed: the whole
           * filter pass and the rebinding of the visible rows (the
           * cells' layout follows in the next frame, which BENCH_FILTER
           * measures). */
          start = g_get_monotonic_time ();
          gtk_editable_set_text (search, "user-42");
          g_signal_emit_by_name (search, "search-changed");
          reply ("bench-filter apply_ms=%.1f shown=%u",
                 (g_get_monotonic_time () - start) / 1000.0, g_list_model_get_n_items (shown));

          start = g_get_monotonic_time ();
          gtk_editable_set_text (search, "");
          g_signal_emit_by_name (search, "search-changed");
          reply ("bench-unfilter apply_ms=%.1f shown=%u",
                 (g_get_monotonic_time () - start) / 1000.0, g_list_model_get_n_items (shown));

          gtk_editable_set_text (search, "10.0.1");
          g_signal_emit_by_name (search, "search-changed");
          self->phase = BENCH_FILTER;
          self->bench_frames = 0;
        }
      break;

    case BENCH_FILTER:
      /* Scrolling the filtered view. */
      gtk_adjustment_set_value (adjustment, MIN (range, 40.0 * self->bench_frames));
      if (self->bench_frames >= 120)
        {
          report_intervals (self, "filtered-scroll");
          gtk_editable_set_text (crier_sessions_page_get_search (sessions_page (self)), "");
          g_signal_emit_by_name (crier_sessions_page_get_search (sessions_page (self)), "search-changed");
          self->phase = BENCH_DONE;
          done (self, NULL);
          return G_SOURCE_REMOVE;
        }
      break;

    case BENCH_NONE:
    case BENCH_DONE:
    default:
      return G_SOURCE_REMOVE;
    }

  return G_SOURCE_CONTINUE;
}

static void
bench (CrierTestDriver *self,
       guint            n)
{
  CrierSessionList *list = crier_sessions_page_get_list (sessions_page (self));
  gint64 now_ms = g_get_real_time () / 1000;
  double max_batch = 0;
  double total = 0;
  guint batches = 0;

  /* Fake sessions in pages of 1000, as list_sessions delivers them. */
  for (guint first = 0; first < n; first += CRIER_ADMIN_MAX_PAGE_SIZE)
    {
      g_autoptr(GPtrArray) infos = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_admin_session_info_free);
      guint last = MIN (n, first + CRIER_ADMIN_MAX_PAGE_SIZE);
      gint64 start;
      double ms;

      for (guint i = first; i < last; i++)
        {
          CrierAdminSessionInfo *info = g_new0 (CrierAdminSessionInfo, 1);

          info->id = g_strdup_printf ("bench%027u", i);
          info->user = g_strdup_printf ("user-%u", i % 1000);
          info->transport = g_strdup (i % 7 == 0 ? "sse" : "websocket");
          info->remote = g_strdup_printf ("10.0.%u.%u:%u", (i / 250) % 256, i % 250, 40000 + i % 20000);
          info->user_agent = g_strdup ("bench");
          info->connected_at = now_ms - (gint64) i * 1000;
          info->subscriptions = i % 5;
          info->bytes_in = i * 3;
          info->bytes_out = i * 17;
          info->queued_bytes = 0;
          g_ptr_array_add (infos, info);
        }

      start = g_get_monotonic_time ();
      crier_session_list_add_batch (list, (CrierAdminSessionInfo * const *) infos->pdata, infos->len);
      ms = (g_get_monotonic_time () - start) / 1000.0;
      max_batch = MAX (max_batch, ms);
      total += ms;
      batches++;
    }
  reply ("bench-insert sessions=%u batches=%u max_batch_ms=%.1f total_ms=%.1f",
         g_list_model_get_n_items (G_LIST_MODEL (list)), batches, max_batch, total);

  adw_view_stack_set_visible_child_name (ADW_VIEW_STACK (gtk_widget_get_ancestor (GTK_WIDGET (sessions_page (self)), ADW_TYPE_VIEW_STACK)),
                                         "sessions");
  self->phase = BENCH_SETTLE;
  self->bench_frames = 0;
  self->last_frame = 0;
  g_array_set_size (self->intervals, 0);
  gtk_widget_add_tick_callback (GTK_WIDGET (crier_sessions_page_get_column_view (sessions_page (self))),
                                bench_tick_cb, self, NULL);
}

/* ---- commands ------------------------------------------------------------- */

static void
run_command (CrierTestDriver *self)
{
  const char *cmd = self->command;
  const char *arg = self->argument;
  CrierAdminClient *client = crier_window_get_client (self->window);

  if (g_str_equal (cmd, "wait-connected"))
    wait_for (self, check_connected);
  else if (g_str_equal (cmd, "state"))
    {
      static const char *names[] = { "disconnected", "connecting", "connected", "error" };

      reply ("state=%s", names[crier_admin_client_get_state (client)]);
      reply ("reason=%s", reason_nick (client));
      done (self, NULL);
    }
  else if (g_str_equal (cmd, "connections"))
    {
      reply ("connections=%s",
             crier_overview_page_get_connections_text (crier_window_get_overview_page (self->window)));
      done (self, NULL);
    }
  else if (g_str_equal (cmd, "samples"))
    {
      reply ("samples=%u", crier_overview_page_get_n_samples (crier_window_get_overview_page (self->window)));
      done (self, NULL);
    }
  else if (g_str_equal (cmd, "sessions"))
    {
      reply ("sessions=%u", g_list_model_get_n_items (G_LIST_MODEL (crier_sessions_page_get_list (sessions_page (self)))));
      reply ("sessions-shown=%u", g_list_model_get_n_items (crier_sessions_page_get_view_model (sessions_page (self))));
      done (self, NULL);
    }
  else if (g_str_equal (cmd, "wait-sessions") && arg != NULL)
    wait_for (self, check_sessions);
  else if (g_str_equal (cmd, "page") && arg != NULL)
    {
      gtk_widget_activate_action (GTK_WIDGET (self->window), "win.show-page", "s", arg);
      done (self, NULL);
    }
  else if (g_str_equal (cmd, "kick-first"))
    {
      CrierKickDialog *dialog;

      crier_sessions_page_select (sessions_page (self), 0);
      gtk_widget_activate_action (GTK_WIDGET (sessions_page (self)), "sessions.kick", NULL);
      dialog = crier_sessions_page_get_kick_dialog (sessions_page (self));
      if (dialog == NULL)
        {
          done (self, "no session to kick");
          return;
        }
      reply ("kicked=%s", crier_kick_dialog_get_session_id (dialog));
      adw_message_dialog_response (ADW_MESSAGE_DIALOG (dialog), "kick");
      gtk_window_destroy (GTK_WINDOW (dialog));
      done (self, NULL);
    }
  else if (g_str_equal (cmd, "broadcast") && arg != NULL && strchr (arg, ' ') != NULL)
    {
      g_autofree char *channel = g_strndup (arg, strchr (arg, ' ') - arg);
      CrierBroadcastDialog *dialog;

      gtk_widget_activate_action (GTK_WIDGET (self->window), "win.broadcast", NULL);
      dialog = crier_window_get_broadcast_dialog (self->window);
      if (dialog == NULL)
        {
          done (self, "the broadcast dialog did not open");
          return;
        }
      crier_broadcast_dialog_set_channels (dialog, channel);
      crier_broadcast_dialog_set_data (dialog, strchr (arg, ' ') + 1);
      if (!gtk_widget_activate_action (GTK_WIDGET (dialog), "broadcast.send", NULL))
        {
          done (self, "broadcast.send is disabled");
          return;
        }
      wait_for (self, check_broadcast);
    }
  else if (g_str_equal (cmd, "close-broadcast"))
    {
      CrierBroadcastDialog *dialog = crier_window_get_broadcast_dialog (self->window);

      if (dialog != NULL)
        gtk_window_close (GTK_WINDOW (dialog));
      done (self, NULL);
    }
  else if (g_str_equal (cmd, "channels"))
    {
      reply ("channels=%u", g_list_model_get_n_items (crier_channels_page_get_model (crier_window_get_channels_page (self->window))));
      done (self, NULL);
    }
  else if (g_str_equal (cmd, "select-channel") && arg != NULL)
    {
      crier_channels_page_select (crier_window_get_channels_page (self->window),
                                  (guint) g_ascii_strtoull (arg, NULL, 10));
      done (self, NULL);
    }
  else if (g_str_equal (cmd, "select-session") && arg != NULL)
    {
      crier_sessions_page_select (sessions_page (self), (guint) g_ascii_strtoull (arg, NULL, 10));
      done (self, NULL);
    }
  else if (g_str_equal (cmd, "alerts"))
    {
      CrierAlertsPage *page = crier_window_get_alerts_page (self->window);
      GListModel *alerts = crier_alerts_page_get_model (page);

      reply ("alerts=%u active=%u", g_list_model_get_n_items (alerts), crier_alerts_page_get_n_active (page));
      for (guint i = 0; i < g_list_model_get_n_items (alerts); i++)
        {
          g_autoptr(GObject) item = g_list_model_get_item (alerts, i);
          g_autofree char *metric = NULL;
          g_autofree char *explanation = NULL;

          g_object_get (item, "metric", &metric, "explanation", &explanation, NULL);
          reply ("alert=%s %s", metric, explanation);
        }
      done (self, NULL);
    }
  else if (g_str_equal (cmd, "wait-reason") && arg != NULL)
    wait_for (self, check_reason);
  else if (g_str_equal (cmd, "connect") && arg != NULL)
    connect_dialog (self);
  else if (g_str_equal (cmd, "trust-certificate"))
    trust_certificate (self);
  else if (g_str_equal (cmd, "nodes"))
    {
      report_nodes (self);
      done (self, NULL);
    }
  else if (g_str_equal (cmd, "wait-nodes"))
    {
      self->nodes_updates = crier_nodes_page_get_n_updates (crier_window_get_nodes_page (self->window));
      wait_for (self, check_nodes);
    }
  else if (g_str_equal (cmd, "wait-alert") && arg != NULL)
    wait_for (self, check_alert);
  else if (g_str_equal (cmd, "screenshot"))
    screenshot (self, GTK_WIDGET (self->window));
  else if (g_str_equal (cmd, "screenshot-connect"))
    {
      CrierConnectDialog *dialog = crier_connect_dialog_new (GTK_WINDOW (self->window));

      gtk_window_present (GTK_WINDOW (dialog));
      screenshot (self, GTK_WIDGET (dialog));
    }
  else if (g_str_equal (cmd, "screenshot-broadcast"))
    screenshot (self, (GtkWidget *) crier_window_get_broadcast_dialog (self->window));
  else if (g_str_equal (cmd, "bench") && arg != NULL)
    bench (self, (guint) g_ascii_strtoull (arg, NULL, 10));
  else if (g_str_equal (cmd, "quit"))
    {
      reply ("ok quit");
      g_clear_pointer (&self->command, g_free);
      g_action_group_activate_action (G_ACTION_GROUP (gtk_window_get_application (GTK_WINDOW (self->window))),
                                      "quit", NULL);
    }
  else
    done (self, "unknown command");
}

static void
read_line_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  CrierTestDriver *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  char *space;

  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (object), result, NULL, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (line == NULL)
    return;   /* EOF: the test is gone; SIGTERM or quit ends the app */

  g_strstrip (line);
  if (line[0] == '\0')
    {
      read_next (self);
      return;
    }

  space = strchr (line, ' ');
  if (space != NULL)
    {
      *space = '\0';
      self->argument = g_strdup (space + 1);
    }
  self->command = g_strdup (line);
  run_command (self);
}

static void
read_next (CrierTestDriver *self)
{
  g_data_input_stream_read_line_async (self->input, G_PRIORITY_DEFAULT,
                                       self->cancellable, read_line_cb, self);
}

CrierTestDriver *
crier_test_driver_new (CrierWindow *window)
{
  CrierTestDriver *self = g_new0 (CrierTestDriver, 1);
  g_autoptr(GInputStream) stdin_stream = g_unix_input_stream_new (STDIN_FILENO, FALSE);

  self->window = g_object_ref (window);
  self->input = g_data_input_stream_new (stdin_stream);
  self->cancellable = g_cancellable_new ();
  self->intervals = g_array_new (FALSE, FALSE, sizeof (double));

  reply ("ready");
  read_next (self);

  return self;
}

void
crier_test_driver_free (CrierTestDriver *self)
{
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->wait_id, g_source_remove);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->input);
  g_clear_object (&self->shot_widget);
  g_clear_object (&self->window);
  g_clear_pointer (&self->intervals, g_array_unref);
  g_clear_pointer (&self->command, g_free);
  g_clear_pointer (&self->argument, g_free);
  g_free (self);
}
