/* crier-nodes-page.c: the cluster's nodes and totals.
 *
 * Key functions:
 *   refresh ()   list_nodes when connected, on every stats tick (1 Hz),
 *                one request at a time
 *   list_cb ()   updates the rows in place (keyed by node id), appends new
 *                nodes, removes gone ones; fills the totals tiles
 */
#include "config.h"

#include "crier-nodes-page.h"
#include "crier-format.h"
#include "crier-json.h"
#include "crier-node-item.h"

#include <glib/gi18n.h>
#include <math.h>

/* Two missed heartbeats (docs/cluster.md: every 2 s, dropped after 10 s). */
#define STALE_HEARTBEAT_SECONDS 4.5

struct _CrierNodesPage
{
  AdwBin            parent_instance;

  CrierAdminClient *client;
  GCancellable     *cancellable;
  gboolean          in_flight;
  gboolean          shared;
  guint             n_updates;

  /* Template children */
  GListStore       *nodes;
  GtkSortListModel *sorted;
  GtkLabel         *nodes_value;
  GtkLabel         *nodes_detail;
  GtkLabel         *connections_value;
  GtkLabel         *sessions_value;
  GtkLabel         *publications_value;
  GtkLabel         *error_label;
};

G_DEFINE_FINAL_TYPE (CrierNodesPage, crier_nodes_page, ADW_TYPE_BIN)

static char *
crier_nodes_page_format_count (gpointer unused,
                               guint64  count)
{
  return crier_format_value ((double) count, "1");
}

static char *
crier_nodes_page_format_rate (gpointer unused,
                              double   rate)
{
  return crier_format_value (rate, "1/s");
}

static char *
crier_nodes_page_format_uptime (gpointer unused,
                                gint64   seconds)
{
  return crier_format_duration (seconds);
}

static char *
crier_nodes_page_format_heartbeat (gpointer unused,
                                   double   age)
{
  if (age < 0 || isnan (age))
    return g_strdup ("—");
  if (age < 1)
    return g_strdup (_("Just now"));

  /* Translators: the age of a node's last heartbeat. */
  return g_strdup_printf (_("%.0f s ago"), floor (age));
}

static char **
crier_nodes_page_heartbeat_classes (gpointer unused,
                                    double   age)
{
  const char *stale[] = { "numeric", "warning", NULL };
  const char *fresh[] = { "numeric", NULL };

  return g_strdupv ((char **) (age > STALE_HEARTBEAT_SECONDS ? stale : fresh));
}

static char *
crier_nodes_page_format_name (gpointer    unused,
                              const char *name,
                              const char *id)
{
  return g_strdup (name != NULL && name[0] != '\0' ? name : id);
}

static void
set_label (GtkLabel   *label,
           const char *text)
{
  if (g_strcmp0 (gtk_label_get_text (label), text) != 0)
    gtk_label_set_text (label, text);
}

static void
set_value (GtkLabel   *label,
           double      value,
           const char *unit)
{
  g_autofree char *text = crier_format_value (value, unit);

  set_label (label, text);
}

static double
total_member (JsonObject *totals,
              const char *member,
              double      fallback)
{
  JsonNode *node = totals != NULL ? json_object_get_member (totals, member) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return fallback;
  return json_node_get_double (node);
}

static void
update_rows (CrierNodesPage *self,
             JsonArray      *array,
             gint64          now_ms)
{
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GPtrArray) added = g_ptr_array_new_with_free_func (g_object_unref);
  GListModel *model = G_LIST_MODEL (self->nodes);
  guint n;

  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      g_autoptr(CrierNodeItem) fresh = NULL;
      g_autoptr(GError) error = NULL;
      gboolean found = FALSE;

      fresh = crier_node_item_new_from_json (node, now_ms, &error);
      if (fresh == NULL)
        {
          g_debug ("list_nodes: skipping a node: %s", error->message);
          continue;
        }
      if (!g_hash_table_add (seen, g_strdup (crier_node_item_get_id (fresh))))
        continue;   /* listed twice: the first one counts */

      n = g_list_model_get_n_items (model);
      for (guint j = 0; j < n && !found; j++)
        {
          g_autoptr(CrierNodeItem) item = g_list_model_get_item (model, j);

          if (g_str_equal (crier_node_item_get_id (item), crier_node_item_get_id (fresh)))
            {
              crier_node_item_update (item, node, now_ms, NULL);
              found = TRUE;
            }
        }
      if (!found)
        g_ptr_array_add (added, g_steal_pointer (&fresh));
    }

  /* Removals one by one, additions in one splice. */
  n = g_list_model_get_n_items (model);
  for (guint j = n; j > 0; j--)
    {
      g_autoptr(CrierNodeItem) item = g_list_model_get_item (model, j - 1);

      if (!g_hash_table_contains (seen, crier_node_item_get_id (item)))
        g_list_store_remove (self->nodes, j - 1);
    }
  if (added->len > 0)
    g_list_store_splice (self->nodes, g_list_model_get_n_items (model), 0,
                         added->pdata, added->len);
}

static void
update_totals (CrierNodesPage *self,
               JsonObject     *totals)
{
  GListModel *model = G_LIST_MODEL (self->nodes);
  guint n = g_list_model_get_n_items (model);
  double connections = 0;
  double sessions = 0;
  double publications = 0;
  guint n_stale = 0;

  /* The server's totals when it sends them, else the sum of the rows. */
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(CrierNodeItem) item = g_list_model_get_item (model, i);
      guint64 s;
      double rate;

      g_object_get (item, "sessions", &s, "publications-per-s", &rate, NULL);
      connections += (double) crier_node_item_get_connections (item);
      sessions += (double) s;
      if (!isnan (rate))
        publications += rate;
      if (crier_node_item_get_heartbeat_age (item) > STALE_HEARTBEAT_SECONDS)
        n_stale++;
    }

  set_value (self->nodes_value, total_member (totals, "nodes", n), "1");
  set_value (self->connections_value, total_member (totals, "connections", connections), "1");
  set_value (self->sessions_value, total_member (totals, "sessions", sessions), "1");
  set_value (self->publications_value, total_member (totals, "publications_per_s", publications), "1/s");

  if (!self->shared)
    set_label (self->nodes_detail, _("Memory broker: one node"));
  else if (n_stale > 0)
    {
      /* Translators: nodes whose heartbeat is late. */
      g_autofree char *text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                                            "%u node is late",
                                                            "%u nodes are late",
                                                            n_stale),
                                               n_stale);

      set_label (self->nodes_detail, text);
    }
  else
    set_label (self->nodes_detail, _("Sharing a Redis broker"));
}

static void
list_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(CrierNodesPage) self = user_data;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *reply;

  node = crier_admin_client_call_finish (CRIER_ADMIN_CLIENT (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self->in_flight = FALSE;
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      /* Closed meanwhile: the window shows why.  A server error (an older
       * crierd without list_nodes) is said on the page. */
      if (error != NULL && error->domain == CRIER_ADMIN_ERROR)
        {
          gtk_label_set_text (self->error_label, error->message);
          gtk_widget_set_visible (GTK_WIDGET (self->error_label), TRUE);
        }
      return;
    }

  gtk_widget_set_visible (GTK_WIDGET (self->error_label), FALSE);
  reply = json_node_get_object (node);
  self->shared = json_object_get_boolean_member_with_default (reply, "shared", FALSE);
  update_rows (self, crier_json_get_array (reply, "nodes"), g_get_real_time () / 1000);
  update_totals (self, crier_json_get_object (reply, "totals"));
  self->n_updates++;
}

static void
refresh (CrierNodesPage *self)
{
  if (self->client == NULL || self->in_flight ||
      crier_admin_client_get_state (self->client) != CRIER_ADMIN_CLIENT_CONNECTED)
    return;

  self->in_flight = TRUE;
  crier_admin_client_call_async (self->client,
                                 crier_admin_request_new (CRIER_ADMIN_REQUEST_LIST_NODES),
                                 self->cancellable, list_cb, g_object_ref (self));
}

static void
client_state_cb (CrierNodesPage *self)
{
  if (crier_admin_client_get_state (self->client) != CRIER_ADMIN_CLIENT_CONNECTED)
    {
      /* Another server may come next: start from an empty table. */
      self->in_flight = FALSE;
      g_cancellable_cancel (self->cancellable);
      g_clear_object (&self->cancellable);
      self->cancellable = g_cancellable_new ();
      g_list_store_remove_all (self->nodes);
      return;
    }
  refresh (self);
}

void
crier_nodes_page_set_client (CrierNodesPage   *self,
                             CrierAdminClient *client)
{
  g_return_if_fail (CRIER_IS_NODES_PAGE (self));
  g_return_if_fail (CRIER_IS_ADMIN_CLIENT (client));

  g_set_object (&self->client, client);
  g_signal_connect_object (client, "notify::state",
                           G_CALLBACK (client_state_cb), self, G_CONNECT_SWAPPED);
  /* The stats tick (watch_stats, which the Overview starts) paces the
   * refresh at 1 Hz. */
  g_signal_connect_object (client, "stats",
                           G_CALLBACK (refresh), self, G_CONNECT_SWAPPED);
  client_state_cb (self);
}

GListModel *
crier_nodes_page_get_model (CrierNodesPage *self)
{
  g_return_val_if_fail (CRIER_IS_NODES_PAGE (self), NULL);
  return G_LIST_MODEL (self->sorted);
}

const char *
crier_nodes_page_get_total_nodes_text (CrierNodesPage *self)
{
  g_return_val_if_fail (CRIER_IS_NODES_PAGE (self), NULL);
  return gtk_label_get_text (self->nodes_value);
}

const char *
crier_nodes_page_get_total_connections_text (CrierNodesPage *self)
{
  g_return_val_if_fail (CRIER_IS_NODES_PAGE (self), NULL);
  return gtk_label_get_text (self->connections_value);
}

gboolean
crier_nodes_page_get_shared (CrierNodesPage *self)
{
  g_return_val_if_fail (CRIER_IS_NODES_PAGE (self), FALSE);
  return self->shared;
}

guint
crier_nodes_page_get_n_updates (CrierNodesPage *self)
{
  g_return_val_if_fail (CRIER_IS_NODES_PAGE (self), 0);
  return self->n_updates;
}

static void
crier_nodes_page_dispose (GObject *object)
{
  CrierNodesPage *self = CRIER_NODES_PAGE (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->client);
  gtk_widget_dispose_template (GTK_WIDGET (self), CRIER_TYPE_NODES_PAGE);

  G_OBJECT_CLASS (crier_nodes_page_parent_class)->dispose (object);
}

static void
crier_nodes_page_class_init (CrierNodesPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = crier_nodes_page_dispose;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/crier-nodes-page.ui");
  gtk_widget_class_bind_template_child (widget_class, CrierNodesPage, nodes);
  gtk_widget_class_bind_template_child (widget_class, CrierNodesPage, sorted);
  gtk_widget_class_bind_template_child (widget_class, CrierNodesPage, nodes_value);
  gtk_widget_class_bind_template_child (widget_class, CrierNodesPage, nodes_detail);
  gtk_widget_class_bind_template_child (widget_class, CrierNodesPage, connections_value);
  gtk_widget_class_bind_template_child (widget_class, CrierNodesPage, sessions_value);
  gtk_widget_class_bind_template_child (widget_class, CrierNodesPage, publications_value);
  gtk_widget_class_bind_template_child (widget_class, CrierNodesPage, error_label);
  gtk_widget_class_bind_template_callback (widget_class, crier_nodes_page_format_count);
  gtk_widget_class_bind_template_callback (widget_class, crier_nodes_page_format_rate);
  gtk_widget_class_bind_template_callback (widget_class, crier_nodes_page_format_uptime);
  gtk_widget_class_bind_template_callback (widget_class, crier_nodes_page_format_heartbeat);
  gtk_widget_class_bind_template_callback (widget_class, crier_nodes_page_heartbeat_classes);
  gtk_widget_class_bind_template_callback (widget_class, crier_nodes_page_format_name);
}

static void
crier_nodes_page_init (CrierNodesPage *self)
{
  g_type_ensure (CRIER_TYPE_NODE_ITEM);
  gtk_widget_init_template (GTK_WIDGET (self));

  self->cancellable = g_cancellable_new ();
}
