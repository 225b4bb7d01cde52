/* crier-channels-page.c: active channels and the channel view.
 *
 * Key functions:
 *   refresh_cb ()   every 2 s while connected: list_channels, then
 *                   inspect_channel for the selected one
 *   list_cb ()      updates items in place, appends new channels, removes
 *                   gone ones
 *   inspect_cb ()   fills the channel view
 */
#include "config.h"

#include "crier-channels-page.h"
#include "crier-json.h"
#include "crier-channel-item.h"
#include "crier-format.h"

#include <glib/gi18n.h>
#include <math.h>

#define REFRESH_SECONDS 2

struct _CrierChannelsPage
{
  AdwBin              parent_instance;

  CrierAdminClient   *client;
  GCancellable       *cancellable;
  guint               refresh_id;

  /* Template children */
  GListStore         *channels;
  GtkSingleSelection *selection;
  GtkWidget          *details;
  AdwPreferencesGroup *details_group;
  AdwActionRow       *namespace_row;
  AdwActionRow       *subscribers_row;
  AdwActionRow       *position_row;
  AdwActionRow       *rate_row;
  AdwActionRow       *history_row;
  AdwActionRow       *presence_row;
};

G_DEFINE_FINAL_TYPE (CrierChannelsPage, crier_channels_page, ADW_TYPE_BIN)

static char *
crier_channels_page_format_rate (gpointer unused,
                                 double   rate)
{
  return crier_format_value (rate, "1/s");
}

static char *
crier_channels_page_format_epoch (gpointer    unused,
                                  const char *epoch)
{
  return g_strdup (epoch != NULL ? epoch : "—");
}

static void
set_subtitle (AdwActionRow *row,
              const char   *text)
{
  /* Subtitles are markup; channel names and epochs come from the server. */
  g_autofree char *escaped = g_markup_escape_text (text, -1);

  adw_action_row_set_subtitle (row, escaped);
}

static void
inspect_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(CrierChannelsPage) self = user_data;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *escaped = NULL;
  JsonObject *reply;
  JsonObject *ns;
  JsonObject *history;
  JsonObject *presence;
  const char *epoch;

  node = crier_admin_client_call_finish (CRIER_ADMIN_CLIENT (object), result, &error);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return;

  reply = json_node_get_object (node);
  escaped = g_markup_escape_text (json_object_get_string_member_with_default (reply, "channel", ""), -1);
  adw_preferences_group_set_title (self->details_group, escaped);

  ns = crier_json_get_object (reply, "namespace");
  if (ns != NULL)
    {
      const char *name = json_object_get_string_member_with_default (ns, "name", "");

      /* Translators: a namespace name, then which features it has on. */
      text = g_strdup_printf (_("“%s”: presence %s, join/leave %s, client publish %s"),
                              name,
                              json_object_get_boolean_member_with_default (ns, "presence", FALSE) ? _("on") : _("off"),
                              json_object_get_boolean_member_with_default (ns, "join_leave", FALSE) ? _("on") : _("off"),
                              json_object_get_boolean_member_with_default (ns, "allow_publish", FALSE) ? _("on") : _("off"));
      set_subtitle (self->namespace_row, text);
      g_clear_pointer (&text, g_free);
    }

  text = g_strdup_printf ("%" G_GINT64_FORMAT,
                          json_object_get_int_member_with_default (reply, "subscribers", 0));
  set_subtitle (self->subscribers_row, text);
  g_clear_pointer (&text, g_free);

  epoch = json_object_get_string_member_with_default (reply, "epoch", NULL);
  /* Translators: a channel's top offset and epoch. */
  {
    g_autofree char *offset = g_strdup_printf ("%" G_GINT64_FORMAT,
                                               json_object_get_int_member_with_default (reply, "offset", 0));

    text = g_strdup_printf (_("offset %s, epoch %s"), offset, epoch != NULL ? epoch : "—");
  }
  set_subtitle (self->position_row, text);
  g_clear_pointer (&text, g_free);

  text = crier_format_value (json_object_get_double_member_with_default (reply, "publish_rate", NAN), "1/s");
  set_subtitle (self->rate_row, text);
  g_clear_pointer (&text, g_free);

  history = crier_json_get_object (reply, "history");
  if (history != NULL)
    {
      g_autofree char *count = g_strdup_printf ("%" G_GINT64_FORMAT, json_object_get_int_member_with_default (history, "count", 0));
      g_autofree char *size = g_strdup_printf ("%" G_GINT64_FORMAT, json_object_get_int_member_with_default (history, "size", 0));
      g_autofree char *first = g_strdup_printf ("%" G_GINT64_FORMAT, json_object_get_int_member_with_default (history, "first_offset", 0));
      g_autofree char *last = g_strdup_printf ("%" G_GINT64_FORMAT, json_object_get_int_member_with_default (history, "last_offset", 0));

      /* Translators: the history window of a channel: count of size
       * publications, first and last offset. */
      text = g_strdup_printf (_("%s of %s publications, offsets %s to %s"), count, size, first, last);
    }
  else
    text = g_strdup (_("No history kept"));
  set_subtitle (self->history_row, text);
  g_clear_pointer (&text, g_free);

  presence = crier_json_get_object (reply, "presence");
  if (presence != NULL)
    {
      g_autofree char *clients = g_strdup_printf ("%" G_GINT64_FORMAT, json_object_get_int_member_with_default (presence, "num_clients", 0));
      g_autofree char *users = g_strdup_printf ("%" G_GINT64_FORMAT, json_object_get_int_member_with_default (presence, "num_users", 0));

      /* Translators: presence of a channel: clients, then users. */
      text = g_strdup_printf (_("%s clients, %s users"), clients, users);
    }
  else
    text = g_strdup (_("Presence is off"));
  set_subtitle (self->presence_row, text);
}

static void
inspect_selected (CrierChannelsPage *self)
{
  CrierChannelItem *item = gtk_single_selection_get_selected_item (self->selection);
  CrierAdminRequest *request;

  gtk_widget_set_visible (self->details, item != NULL);
  if (item == NULL || self->client == NULL ||
      crier_admin_client_get_state (self->client) != CRIER_ADMIN_CLIENT_CONNECTED)
    return;

  request = crier_admin_request_new (CRIER_ADMIN_REQUEST_INSPECT_CHANNEL);
  request->channel = g_strdup (crier_channel_item_get_name (item));
  crier_admin_client_call_async (self->client, request, self->cancellable,
                                 inspect_cb, g_object_ref (self));
}

static void
crier_channels_page_selection_cb (CrierChannelsPage *self)
{
  inspect_selected (self);
}

static void
list_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(CrierChannelsPage) self = user_data;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GPtrArray) added = g_ptr_array_new_with_free_func (g_object_unref);
  JsonArray *channels;
  guint n;

  node = crier_admin_client_call_finish (CRIER_ADMIN_CLIENT (object), result, &error);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return;

  channels = crier_json_get_array (json_node_get_object (node), "channels");
  for (guint i = 0; channels != NULL && i < json_array_get_length (channels); i++)
    {
      g_autoptr(CrierAdminChannelInfo) info = NULL;
      g_autoptr(GError) item_error = NULL;
      gboolean found = FALSE;

      info = crier_admin_channel_info_from_json (json_array_get_element (channels, i), &item_error);
      if (info == NULL)
        continue;

      n = g_list_model_get_n_items (G_LIST_MODEL (self->channels));
      for (guint j = 0; j < n && !found; j++)
        {
          g_autoptr(CrierChannelItem) item = g_list_model_get_item (G_LIST_MODEL (self->channels), j);

          if (g_str_equal (crier_channel_item_get_name (item), info->name))
            {
              crier_channel_item_update (item, info);
              found = TRUE;
            }
        }
      g_hash_table_add (seen, g_strdup (info->name));
      if (!found)
        g_ptr_array_add (added, crier_channel_item_new (info));
    }

  /* Removals one by one, additions in one splice. */
  n = g_list_model_get_n_items (G_LIST_MODEL (self->channels));
  for (guint j = n; j > 0; j--)
    {
      g_autoptr(CrierChannelItem) item = g_list_model_get_item (G_LIST_MODEL (self->channels), j - 1);

      if (!g_hash_table_contains (seen, crier_channel_item_get_name (item)))
        g_list_store_remove (self->channels, j - 1);
    }
  if (added->len > 0)
    g_list_store_splice (self->channels, g_list_model_get_n_items (G_LIST_MODEL (self->channels)),
                         0, added->pdata, added->len);

  inspect_selected (self);
}

static gboolean
refresh_cb (gpointer user_data)
{
  CrierChannelsPage *self = user_data;
  CrierAdminRequest *request;

  if (self->client == NULL ||
      crier_admin_client_get_state (self->client) != CRIER_ADMIN_CLIENT_CONNECTED)
    return G_SOURCE_CONTINUE;

  request = crier_admin_request_new (CRIER_ADMIN_REQUEST_LIST_CHANNELS);
  request->page_size = CRIER_ADMIN_MAX_PAGE_SIZE;
  request->sort = CRIER_ADMIN_SORT_SUBSCRIBERS;
  request->descending = TRUE;
  crier_admin_client_call_async (self->client, request, self->cancellable,
                                 list_cb, g_object_ref (self));

  return G_SOURCE_CONTINUE;
}

static void
client_state_cb (CrierChannelsPage *self)
{
  if (crier_admin_client_get_state (self->client) == CRIER_ADMIN_CLIENT_CONNECTED)
    refresh_cb (self);
}

void
crier_channels_page_set_client (CrierChannelsPage *self,
                                CrierAdminClient  *client)
{
  g_return_if_fail (CRIER_IS_CHANNELS_PAGE (self));
  g_return_if_fail (CRIER_IS_ADMIN_CLIENT (client));

  g_set_object (&self->client, client);
  g_signal_connect_object (client, "notify::state",
                           G_CALLBACK (client_state_cb), self, G_CONNECT_SWAPPED);
  if (self->refresh_id == 0)
    self->refresh_id = g_timeout_add_seconds (REFRESH_SECONDS, refresh_cb, self);
  client_state_cb (self);
}

GListModel *
crier_channels_page_get_model (CrierChannelsPage *self)
{
  g_return_val_if_fail (CRIER_IS_CHANNELS_PAGE (self), NULL);
  return G_LIST_MODEL (self->selection);
}

void
crier_channels_page_select (CrierChannelsPage *self,
                            guint              position)
{
  g_return_if_fail (CRIER_IS_CHANNELS_PAGE (self));
  gtk_single_selection_set_selected (self->selection, position);
}

static void
crier_channels_page_dispose (GObject *object)
{
  CrierChannelsPage *self = CRIER_CHANNELS_PAGE (object);

  g_clear_handle_id (&self->refresh_id, g_source_remove);
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->client);
  gtk_widget_dispose_template (GTK_WIDGET (self), CRIER_TYPE_CHANNELS_PAGE);

  G_OBJECT_CLASS (crier_channels_page_parent_class)->dispose (object);
}

static void
crier_channels_page_class_init (CrierChannelsPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = crier_channels_page_dispose;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/crier-channels-page.ui");
  gtk_widget_class_bind_template_child (widget_class, CrierChannelsPage, channels);
  gtk_widget_class_bind_template_child (widget_class, CrierChannelsPage, selection);
  gtk_widget_class_bind_template_child (widget_class, CrierChannelsPage, details);
  gtk_widget_class_bind_template_child (widget_class, CrierChannelsPage, details_group);
  gtk_widget_class_bind_template_child (widget_class, CrierChannelsPage, namespace_row);
  gtk_widget_class_bind_template_child (widget_class, CrierChannelsPage, subscribers_row);
  gtk_widget_class_bind_template_child (widget_class, CrierChannelsPage, position_row);
  gtk_widget_class_bind_template_child (widget_class, CrierChannelsPage, rate_row);
  gtk_widget_class_bind_template_child (widget_class, CrierChannelsPage, history_row);
  gtk_widget_class_bind_template_child (widget_class, CrierChannelsPage, presence_row);
  gtk_widget_class_bind_template_callback (widget_class, crier_channels_page_selection_cb);
  gtk_widget_class_bind_template_callback (widget_class, crier_channels_page_format_rate);
  gtk_widget_class_bind_template_callback (widget_class, crier_channels_page_format_epoch);
}

static void
crier_channels_page_init (CrierChannelsPage *self)
{
  g_type_ensure (CRIER_TYPE_CHANNEL_ITEM);
  gtk_widget_init_template (GTK_WIDGET (self));

  self->cancellable = g_cancellable_new ();
}
