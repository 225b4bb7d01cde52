/* crier-alerts-page.c: current and recent alerts.
 *
 * Key functions:
 *   list_cb ()           initial contents (active and recently resolved)
 *   alert_raised_cb ()   new item on top, toast, desktop notification
 *   alert_changed_cb ()  updated and resolved alerts in place
 *   count_active ()      the n-active property (the view switcher's badge)
 */
#include "config.h"

#include "crier-alerts-page.h"
#include "crier-json.h"
#include "crier-alert-item.h"
#include "crier-format.h"

#include <glib/gi18n.h>

struct _CrierAlertsPage
{
  AdwBin            parent_instance;

  CrierAdminClient *client;
  GCancellable     *cancellable;
  guint             n_active;

  /* Template children */
  GListStore       *alerts;
  GtkStack         *stack;
};

G_DEFINE_FINAL_TYPE (CrierAlertsPage, crier_alerts_page, ADW_TYPE_BIN)

enum {
  PROP_0,
  PROP_N_ACTIVE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static char *
crier_alerts_page_format_value (gpointer unused,
                                double   value)
{
  return crier_format_value (value, "1");
}

static char *
crier_alerts_page_format_time (gpointer unused,
                               gint64   unix_ms)
{
  return crier_format_time (unix_ms);
}

static char *
crier_alerts_page_format_state (gpointer unused,
                                gboolean active)
{
  return g_strdup (active ? _("Active") : _("Resolved"));
}

static char *
crier_alerts_page_format_severity (gpointer    unused,
                                   const char *severity)
{
  if (g_strcmp0 (severity, "critical") == 0)
    return g_strdup (_("Critical"));
  if (g_strcmp0 (severity, "warning") == 0)
    return g_strdup (_("Warning"));
  if (g_strcmp0 (severity, "info") == 0)
    return g_strdup (_("Info"));
  return g_strdup (severity);
}

static void
count_active (CrierAlertsPage *self)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->alerts));
  guint active = 0;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(CrierAlertItem) item = g_list_model_get_item (G_LIST_MODEL (self->alerts), i);

      if (crier_alert_item_get_active (item))
        active++;
    }

  gtk_stack_set_visible_child_name (self->stack, n > 0 ? "alerts" : "empty");
  if (active != self->n_active)
    {
      self->n_active = active;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ACTIVE]);
    }
}

static CrierAlertItem *
lookup (CrierAlertsPage *self,
        guint64          id)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->alerts));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(CrierAlertItem) item = g_list_model_get_item (G_LIST_MODEL (self->alerts), i);

      if (crier_alert_item_get_id (item) == id)
        return item;
    }

  return NULL;
}

static void
alert_changed_cb (CrierAlertsPage  *self,
                  const CrierAlert *alert)
{
  CrierAlertItem *item = lookup (self, alert->id);

  if (item == NULL)
    {
      g_autoptr(CrierAlertItem) added = crier_alert_item_new (alert);

      g_list_store_insert (self->alerts, 0, added);
    }
  else
    crier_alert_item_update (item, alert);

  count_active (self);
}

static void
alert_raised_cb (CrierAlertsPage  *self,
                 const CrierAlert *alert)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  GtkWidget *overlay = gtk_widget_get_ancestor (GTK_WIDGET (self), ADW_TYPE_TOAST_OVERLAY);
  g_autofree char *escaped = NULL;
  g_autofree char *title = NULL;

  alert_changed_cb (self, alert);

  /* libadwaita 1.2 toasts always parse markup: escape the server's text. */
  escaped = g_markup_escape_text (alert->explanation != NULL ? alert->explanation : alert->metric, -1);
  /* Translators: %s is the alert's explanation from the server. */
  title = g_strdup_printf (_("Alert: %s"), escaped);
  if (overlay != NULL)
    {
      AdwToast *toast = adw_toast_new (title);

      adw_toast_set_button_label (toast, _("_Show"));
      adw_toast_set_action_name (toast, "win.show-page");
      adw_toast_set_action_target_value (toast, g_variant_new_string ("alerts"));
      adw_toast_set_priority (toast, ADW_TOAST_PRIORITY_HIGH);
      adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay), toast);
    }

  /* Desktop notifications need the session bus (not there in tests). */
  if (GTK_IS_WINDOW (root) && !gtk_window_is_active (GTK_WINDOW (root)) &&
      gtk_window_get_application (GTK_WINDOW (root)) != NULL &&
      g_application_get_dbus_connection (G_APPLICATION (gtk_window_get_application (GTK_WINDOW (root)))) != NULL)
    {
      g_autoptr(GNotification) notification = NULL;
      g_autofree char *id = g_strdup_printf ("alert-%" G_GUINT64_FORMAT, alert->id);

      notification = g_notification_new (_("Crier Alert"));
      g_notification_set_body (notification, alert->explanation);
      g_notification_set_priority (notification,
                                   alert->severity == CRIER_SEVERITY_CRITICAL
                                     ? G_NOTIFICATION_PRIORITY_URGENT
                                     : G_NOTIFICATION_PRIORITY_HIGH);
      g_notification_set_default_action_and_target (notification, "app.show-alerts", NULL);
      g_application_send_notification (G_APPLICATION (gtk_window_get_application (GTK_WINDOW (root))),
                                       id, notification);
    }
}

static void
add_alerts (CrierAlertsPage *self,
            JsonArray       *alerts)
{
  for (guint i = 0; alerts != NULL && i < json_array_get_length (alerts); i++)
    {
      g_autoptr(CrierAlert) alert = NULL;
      g_autoptr(GError) error = NULL;

      alert = crier_admin_alert_from_json (json_array_get_element (alerts, i), &error);
      if (alert != NULL && lookup (self, alert->id) == NULL)
        {
          g_autoptr(CrierAlertItem) item = crier_alert_item_new (alert);

          /* The server lists newest first. */
          g_list_store_append (self->alerts, item);
        }
    }
}

static void
list_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(CrierAlertsPage) self = user_data;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *reply;

  node = crier_admin_client_call_finish (CRIER_ADMIN_CLIENT (object), result, &error);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return;

  reply = json_node_get_object (node);
  g_list_store_remove_all (self->alerts);
  add_alerts (self, crier_json_get_array (reply, "active"));
  add_alerts (self, crier_json_get_array (reply, "recent"));
  count_active (self);
}

static void
watch_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(CrierAlertsPage) self = user_data;
  g_autoptr(JsonNode) node = crier_admin_client_call_finish (CRIER_ADMIN_CLIENT (object), result, NULL);

  /* Then the list, so that nothing raised in between is missed. */
  crier_admin_client_call_async (self->client,
                                 crier_admin_request_new (CRIER_ADMIN_REQUEST_LIST_ALERTS),
                                 self->cancellable, list_cb, g_object_ref (self));
}

static void
client_state_cb (CrierAlertsPage *self)
{
  if (crier_admin_client_get_state (self->client) != CRIER_ADMIN_CLIENT_CONNECTED)
    return;

  crier_admin_client_call_async (self->client,
                                 crier_admin_request_new (CRIER_ADMIN_REQUEST_WATCH_ALERTS),
                                 self->cancellable, watch_cb, g_object_ref (self));
}

void
crier_alerts_page_set_client (CrierAlertsPage  *self,
                              CrierAdminClient *client)
{
  g_return_if_fail (CRIER_IS_ALERTS_PAGE (self));
  g_return_if_fail (CRIER_IS_ADMIN_CLIENT (client));

  g_set_object (&self->client, client);
  g_signal_connect_object (client, "notify::state",
                           G_CALLBACK (client_state_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (client, "alert-raised",
                           G_CALLBACK (alert_raised_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (client, "alert-updated",
                           G_CALLBACK (alert_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (client, "alert-resolved",
                           G_CALLBACK (alert_changed_cb), self, G_CONNECT_SWAPPED);
  client_state_cb (self);
}

GListModel *
crier_alerts_page_get_model (CrierAlertsPage *self)
{
  g_return_val_if_fail (CRIER_IS_ALERTS_PAGE (self), NULL);
  return G_LIST_MODEL (self->alerts);
}

guint
crier_alerts_page_get_n_active (CrierAlertsPage *self)
{
  g_return_val_if_fail (CRIER_IS_ALERTS_PAGE (self), 0);
  return self->n_active;
}

static void
crier_alerts_page_dispose (GObject *object)
{
  CrierAlertsPage *self = CRIER_ALERTS_PAGE (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->client);
  gtk_widget_dispose_template (GTK_WIDGET (self), CRIER_TYPE_ALERTS_PAGE);

  G_OBJECT_CLASS (crier_alerts_page_parent_class)->dispose (object);
}

static void
crier_alerts_page_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  CrierAlertsPage *self = CRIER_ALERTS_PAGE (object);

  switch (prop_id)
    {
    case PROP_N_ACTIVE:
      g_value_set_uint (value, self->n_active);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
crier_alerts_page_class_init (CrierAlertsPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = crier_alerts_page_dispose;
  object_class->get_property = crier_alerts_page_get_property;

  /**
   * CrierAlertsPage:n-active:
   *
   * How many alerts are active (the view switcher shows it as a badge).
   */
  properties[PROP_N_ACTIVE] =
    g_param_spec_uint ("n-active", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/crier-alerts-page.ui");
  gtk_widget_class_bind_template_child (widget_class, CrierAlertsPage, alerts);
  gtk_widget_class_bind_template_child (widget_class, CrierAlertsPage, stack);
  gtk_widget_class_bind_template_callback (widget_class, crier_alerts_page_format_value);
  gtk_widget_class_bind_template_callback (widget_class, crier_alerts_page_format_time);
  gtk_widget_class_bind_template_callback (widget_class, crier_alerts_page_format_state);
  gtk_widget_class_bind_template_callback (widget_class, crier_alerts_page_format_severity);
}

static void
crier_alerts_page_init (CrierAlertsPage *self)
{
  g_type_ensure (CRIER_TYPE_ALERT_ITEM);
  gtk_widget_init_template (GTK_WIDGET (self));

  self->cancellable = g_cancellable_new ();
}
