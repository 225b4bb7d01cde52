/* crier-overview-page.c: live tiles and graphs.
 *
 * Key functions:
 *   client_state_cb ()  on connect: get_history, then watch_stats
 *   history_cb ()       fills every graph from the history
 *   stats_cb ()         one sample: graphs and tiles
 *   update_tiles ()
 */
#include "config.h"

#include "crier-overview-page.h"
#include "crier-format.h"
#include "crier-graph.h"

#include <glib/gi18n.h>
#include <math.h>

struct _CrierOverviewPage
{
  AdwBin            parent_instance;

  CrierAdminClient *client;
  GCancellable     *cancellable;

  /* Template children */
  GtkLabel         *connections_value;
  GtkLabel         *connections_detail;
  GtkLabel         *messages_in_value;
  GtkLabel         *messages_in_detail;
  GtkLabel         *messages_out_value;
  GtkLabel         *messages_out_detail;
  GtkLabel         *latency_value;
  GtkLabel         *latency_detail;
  GtkLabel         *memory_value;
  GtkLabel         *memory_detail;
  GtkLabel         *evictions_value;
  GtkLabel         *evictions_detail;
  CrierGraph       *connections_graph;
  CrierGraph       *messages_in_graph;
  CrierGraph       *deliveries_graph;
  CrierGraph       *latency_graph;
  CrierGraph       *memory_graph;
  CrierGraph       *evictions_graph;
};

G_DEFINE_FINAL_TYPE (CrierOverviewPage, crier_overview_page, ADW_TYPE_BIN)

/* Which series each graph plots. */
static const struct {
  gsize       offset;   /* of the CrierGraph * in CrierOverviewPage */
  const char *series;
} graph_series[] = {
  { G_STRUCT_OFFSET (CrierOverviewPage, connections_graph), "connections" },
  { G_STRUCT_OFFSET (CrierOverviewPage, messages_in_graph), "publishes_per_s" },
  { G_STRUCT_OFFSET (CrierOverviewPage, deliveries_graph), "deliveries_per_s" },
  { G_STRUCT_OFFSET (CrierOverviewPage, latency_graph), "latency_p99_ms" },
  { G_STRUCT_OFFSET (CrierOverviewPage, memory_graph), "rss_bytes" },
  { G_STRUCT_OFFSET (CrierOverviewPage, evictions_graph), "evictions_per_s" },
};

static CrierGraph *
graph_at (CrierOverviewPage *self,
          guint              i)
{
  return G_STRUCT_MEMBER (CrierGraph *, self, graph_series[i].offset);
}

static void
set_label (GtkLabel   *label,
           const char *text)
{
  if (g_strcmp0 (gtk_label_get_text (label), text) != 0)
    gtk_label_set_text (label, text);
}

static void
set_value_label (GtkLabel   *label,
                 double      value,
                 const char *unit)
{
  g_autofree char *text = crier_format_value (value, unit);

  set_label (label, text);
}

static void
update_tiles (CrierOverviewPage     *self,
              const CrierAdminStats *stats)
{
  g_autoptr(GString) transports = g_string_new (NULL);
  g_autofree char *in_bytes = crier_format_value (stats->bytes_in_per_s, "B/s");
  g_autofree char *out_bytes = crier_format_value (stats->bytes_out_per_s, "B/s");
  g_autofree char *p50 = crier_format_value (stats->latency_p50_ms, "ms");
  g_autofree char *p99 = crier_format_value (stats->latency_p99_ms, "ms");
  g_autofree char *mean = crier_format_value (stats->latency_mean_ms, "ms");
  g_autofree char *per_connection = crier_format_value (stats->rss_per_connection, "B");
  g_autofree char *history = crier_format_value (stats->history_bytes, "B");
  g_autofree char *text = NULL;

  set_value_label (self->connections_value, stats->connections, "1");
  for (guint i = 0; stats->transports != NULL && i < stats->transports->len; i++)
    {
      const CrierAdminLabelled *l = &g_array_index (stats->transports, CrierAdminLabelled, i);

      if (transports->len > 0)
        g_string_append (transports, ", ");
      g_string_append_printf (transports, "%s %.0f", l->name, l->rate);
    }
  if (transports->len == 0)
    g_string_append (transports, _("no clients"));
  set_label (self->connections_detail, transports->str);

  set_value_label (self->messages_in_value, stats->publishes_per_s, "1/s");
  /* Translators: %s is a data rate such as "1.2 KiB/s". */
  text = g_strdup_printf (_("publications, %s from clients"), in_bytes);
  set_label (self->messages_in_detail, text);
  g_clear_pointer (&text, g_free);

  set_value_label (self->messages_out_value, stats->deliveries_per_s, "1/s");
  /* Translators: %s is a data rate such as "1.2 KiB/s". */
  text = g_strdup_printf (_("deliveries, %s to clients"), out_bytes);
  set_label (self->messages_out_detail, text);
  g_clear_pointer (&text, g_free);

  /* Translators: latency quantiles, e.g. "0.21 ms / 1.30 ms". */
  text = g_strdup_printf (_("%s / %s"), p50, p99);
  set_label (self->latency_value, text);
  g_clear_pointer (&text, g_free);
  /* Translators: %s is a latency such as "0.21 ms". */
  text = g_strdup_printf (_("p50 / p99, mean %s"), mean);
  set_label (self->latency_detail, text);
  g_clear_pointer (&text, g_free);

  set_value_label (self->memory_value, stats->rss_bytes, "B");
  /* Translators: the first %s is memory per connection, the second the
   * memory used for channel history. */
  text = g_strdup_printf (_("%s per connection, %s history"), per_connection, history);
  set_label (self->memory_detail, text);
  g_clear_pointer (&text, g_free);

  set_value_label (self->evictions_value, stats->evictions_per_s, "1/s");
  {
    g_autofree char *total = g_strdup_printf ("%" G_GUINT64_FORMAT, stats->evictions_total);

    /* Translators: %s is a number. */
    text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                         "%s slow consumer since start",
                                         "%s slow consumers since start",
                                         (gulong) MIN (stats->evictions_total, G_MAXULONG)),
                            total);
  }
  set_label (self->evictions_detail, text);
}

static void
stats_cb (CrierOverviewPage     *self,
          const CrierAdminStats *stats)
{
  for (guint i = 0; i < G_N_ELEMENTS (graph_series); i++)
    {
      CrierGraph *graph = graph_at (self, i);
      const CrierSeries *series = crier_graph_get_series (graph);
      int index = crier_admin_stats_lookup_series (graph_series[i].series);
      gint64 newest = 0;

      /* The history may already hold this sample. */
      if (crier_series_get (series, 0, &newest, NULL) && newest >= stats->timestamp)
        continue;
      crier_graph_push (graph, stats->timestamp, crier_admin_stats_get_value (stats, index));
    }

  update_tiles (self, stats);
}

static void
watch_stats_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(CrierOverviewPage) self = user_data;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CrierAdminStats) stats = NULL;

  node = crier_admin_client_call_finish (CRIER_ADMIN_CLIENT (object), result, &error);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return;

  stats = crier_admin_stats_from_json (json_object_get_member (json_node_get_object (node), "stats"),
                                       &error);
  if (stats != NULL)
    stats_cb (self, stats);
}

static void
history_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(CrierOverviewPage) self = user_data;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CrierAdminHistory) history = NULL;

  node = crier_admin_client_call_finish (CRIER_ADMIN_CLIENT (object), result, &error);
  if (node != NULL)
    history = crier_admin_history_from_json (node, &error);
  if (history == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
          !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
        g_warning ("Could not read the history: %s", error->message);
      return;
    }

  for (guint i = 0; i < G_N_ELEMENTS (graph_series); i++)
    for (guint j = 0; j < history->names->len; j++)
      if (g_str_equal (g_ptr_array_index (history->names, j), graph_series[i].series))
        crier_graph_set_samples (graph_at (self, i),
                                 history->timestamps,
                                 g_ptr_array_index (history->values, j),
                                 history->n_samples);

  /* Then the stream: its samples follow the history's. */
  crier_admin_client_call_async (self->client,
                                 crier_admin_request_new (CRIER_ADMIN_REQUEST_WATCH_STATS),
                                 self->cancellable, watch_stats_cb, g_object_ref (self));
}

static void
client_state_cb (CrierOverviewPage *self)
{
  CrierAdminRequest *request;

  if (crier_admin_client_get_state (self->client) != CRIER_ADMIN_CLIENT_CONNECTED)
    return;

  request = crier_admin_request_new (CRIER_ADMIN_REQUEST_GET_HISTORY);
  request->metrics = g_new0 (char *, G_N_ELEMENTS (graph_series) + 1);
  for (guint i = 0; i < G_N_ELEMENTS (graph_series); i++)
    request->metrics[i] = g_strdup (graph_series[i].series);
  crier_admin_client_call_async (self->client, request, self->cancellable,
                                 history_cb, g_object_ref (self));
}

void
crier_overview_page_set_client (CrierOverviewPage *self,
                                CrierAdminClient  *client)
{
  g_return_if_fail (CRIER_IS_OVERVIEW_PAGE (self));
  g_return_if_fail (CRIER_IS_ADMIN_CLIENT (client));

  g_set_object (&self->client, client);
  g_signal_connect_object (client, "notify::state",
                           G_CALLBACK (client_state_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (client, "stats",
                           G_CALLBACK (stats_cb), self, G_CONNECT_SWAPPED);
  client_state_cb (self);
}

const char *
crier_overview_page_get_connections_text (CrierOverviewPage *self)
{
  g_return_val_if_fail (CRIER_IS_OVERVIEW_PAGE (self), NULL);
  return gtk_label_get_text (self->connections_value);
}

guint
crier_overview_page_get_n_samples (CrierOverviewPage *self)
{
  g_return_val_if_fail (CRIER_IS_OVERVIEW_PAGE (self), 0);
  return crier_series_get_length (crier_graph_get_series (self->connections_graph));
}

static void
crier_overview_page_dispose (GObject *object)
{
  CrierOverviewPage *self = CRIER_OVERVIEW_PAGE (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->client);
  gtk_widget_dispose_template (GTK_WIDGET (self), CRIER_TYPE_OVERVIEW_PAGE);

  G_OBJECT_CLASS (crier_overview_page_parent_class)->dispose (object);
}

static void
crier_overview_page_class_init (CrierOverviewPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = crier_overview_page_dispose;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/crier-overview-page.ui");
  gtk_widget_class_bind_template_child (widget_class, CrierOverviewPage, connections_value);
  gtk_widget_class_bind_template_child (widget_class, CrierOverviewPage, connections_detail);
  gtk_widget_class_bind_template_child (widget_class, CrierOverviewPage, messages_in_value);
  gtk_widget_class_bind_template_child (widget_class, CrierOverviewPage, messages_in_detail);
  gtk_widget_class_bind_template_child (widget_class, CrierOverviewPage, messages_out_value);
  gtk_widget_class_bind_template_child (widget_class, CrierOverviewPage, messages_out_detail);
  gtk_widget_class_bind_template_child (widget_class, CrierOverviewPage, latency_value);
  gtk_widget_class_bind_template_child (widget_class, CrierOverviewPage, latency_detail);
  gtk_widget_class_bind_template_child (widget_class, CrierOverviewPage, memory_value);
  gtk_widget_class_bind_template_child (widget_class, CrierOverviewPage, memory_detail);
  gtk_widget_class_bind_template_child (widget_class, CrierOverviewPage, evictions_value);
  gtk_widget_class_bind_template_child (widget_class, CrierOverviewPage, evictions_detail);
  gtk_widget_class_bind_template_child (widget_class, CrierOverviewPage, connections_graph);
  gtk_widget_class_bind_template_child (widget_class, CrierOverviewPage, messages_in_graph);
  gtk_widget_class_bind_template_child (widget_class, CrierOverviewPage, deliveries_graph);
  gtk_widget_class_bind_template_child (widget_class, CrierOverviewPage, latency_graph);
  gtk_widget_class_bind_template_child (widget_class, CrierOverviewPage, memory_graph);
  gtk_widget_class_bind_template_child (widget_class, CrierOverviewPage, evictions_graph);
}

static void
crier_overview_page_init (CrierOverviewPage *self)
{
  g_type_ensure (CRIER_TYPE_GRAPH);
  gtk_widget_init_template (GTK_WIDGET (self));

  self->cancellable = g_cancellable_new ();
}
