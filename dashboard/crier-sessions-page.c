/* crier-sessions-page.c: the live session table with an inspector.
 *
 * Key functions:
 *   crier_sessions_page_search_changed_cb ()  filters on the items' search
 *                                             key, and asks the server which
 *                                             sessions match as a channel
 *   crier_sessions_page_selection_cb ()       shows the inspector, starts
 *                                             the 1 Hz inspect_session poll
 *   inspect_cb ()                             live counters into the item,
 *                                             subscription rows
 *   crier_sessions_page_kick_action ()        CrierKickDialog, then kick
 *   crier_sessions_page_unsubscribe_action ()
 */
#include "config.h"

#include "crier-sessions-page.h"
#include "crier-session-rows.h"
#include "crier-json.h"
#include "crier-format.h"

#include <glib/gi18n.h>
#include <math.h>

#define CHANNEL_SEARCH_PAGES 10

struct _CrierSessionsPage
{
  AdwBin              parent_instance;

  CrierAdminClient   *client;
  GCancellable       *cancellable;
  GCancellable       *search_cancellable;
  GHashTable         *channel_matches;   /* session ids subscribed to a matching channel */
  guint               inspect_id;
  CrierSessionItem   *selected;          /* inspected; follows its row through filtering */
  char               *search_text;       /* casefolded, NULL: no text filter */
  GStrv               inspected_channels;
  CrierKickDialog    *kick_dialog;

  /* Template children */
  CrierSessionList   *session_list;
  GtkSingleSelection *selection;
  CrierSessionRows   *rows;
  GtkFilterListModel *filter_model;
  GtkCustomFilter    *text_filter;
  GtkCustomFilter    *channel_filter;
  GtkColumnView      *column_view;
  GtkColumnViewColumn *user_column;
  GtkColumnViewColumn *transport_column;
  GtkColumnViewColumn *remote_column;
  GtkColumnViewColumn *connected_column;
  GtkColumnViewColumn *subscriptions_column;
  GtkColumnViewColumn *sent_column;
  GtkColumnViewColumn *id_column;
  GtkSearchEntry     *search_entry;
  GtkWidget          *inspector;
  AdwPreferencesGroup *channels_group;
  GtkWidget          *no_channels_row;
};

G_DEFINE_FINAL_TYPE (CrierSessionsPage, crier_sessions_page, ADW_TYPE_BIN)

static void
add_toast (CrierSessionsPage *self,
           const char        *markup)
{
  GtkWidget *overlay = gtk_widget_get_ancestor (GTK_WIDGET (self), ADW_TYPE_TOAST_OVERLAY);

  if (overlay != NULL)
    adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay), adw_toast_new (markup));
}

/* ---- closures of the .ui -------------------------------------------------- */

static char *
crier_sessions_page_format_user (gpointer    unused,
                                 const char *user)
{
  if (user == NULL)
    return NULL;
  if (user[0] == '\0')
    return g_strdup (_("(anonymous)"));
  return g_strdup (user);
}

static char *
crier_sessions_page_format_bytes (gpointer unused,
                                  gint64   bytes)
{
  return crier_format_bytes (bytes);
}

static char *
crier_sessions_page_format_time (gpointer unused,
                                 gint64   unix_ms)
{
  return crier_format_time (unix_ms);
}

/* Unix s of the token's expiry; 0 = the token never expires. */
static char *
crier_sessions_page_format_expiry (gpointer unused,
                                   gint64   unix_s)
{
  if (unix_s <= 0)
    return g_strdup (C_("token expiry", "Never"));
  return crier_format_time (unix_s * 1000);
}

static char *
crier_sessions_page_format_rtt (gpointer unused,
                                double   ms)
{
  return crier_format_value (ms < 0 ? NAN : ms, "ms");  /* -1: unknown, "—" */
}

static char *
crier_sessions_page_format_count (gpointer unused,
                                  guint64  count)
{
  return g_strdup_printf ("%" G_GUINT64_FORMAT, count);
}

static char *
crier_sessions_page_format_n_sessions (gpointer unused,
                                       guint    n_shown,
                                       guint    n_total)
{
  if (n_shown == n_total)
    return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u session", "%u sessions", n_total),
                            n_total);
  /* Translators: sessions shown by the filter, of all sessions. */
  return g_strdup_printf (_("%u of %u"), n_shown, n_total);
}

/* ---- cells ---------------------------------------------------------------- */

/* Every cell is a label bound to one property of the row's item, through
 * a format function or not.  Built in code, not by GtkBuilderListItemFactory:
 * that one parses its XML template for every cell it sets up, and GTK 4.8
 * sets up new cells for all visible rows whenever a filter replaces them,
 * 7 columns x 40 rows at a time (docs/benchmarks.md). */
static void
cell_setup (GtkSignalListItemFactory *factory,
            GtkListItem              *list_item,
            gpointer                  user_data)
{
  GtkExpression *expression = user_data;
  GtkWidget *label = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
  gtk_list_item_set_child (list_item, label);
  /* Lives as long as the label. */
  gtk_expression_bind (gtk_expression_ref (expression), label, "label", list_item);
}

static void
cell_expression_free (gpointer  data,
                      GClosure *closure)
{
  gtk_expression_unref (data);
}

static GtkListItemFactory *
cell_factory_new (const char *property,
                  GCallback   format)
{
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();
  GtkExpression *item = gtk_property_expression_new (GTK_TYPE_LIST_ITEM, NULL, "item");
  GtkExpression *session = gtk_property_expression_new (CRIER_TYPE_SESSION_ROW, item, "session");
  GtkExpression *value = gtk_property_expression_new (CRIER_TYPE_SESSION_ITEM, session, property);
  GtkExpression *label = value;

  if (format != NULL)
    label = gtk_cclosure_expression_new (G_TYPE_STRING, NULL, 1, &value, format, NULL, NULL);
  g_signal_connect_data (factory, "setup", G_CALLBACK (cell_setup), label, cell_expression_free, 0);
  return factory;
}

static void
set_cell_factory (GtkColumnViewColumn *column,
                  const char          *property,
                  GCallback            format)
{
  g_autoptr(GtkListItemFactory) factory = cell_factory_new (property, format);

  gtk_column_view_column_set_factory (column, factory);
}

/* ---- filtering ------------------------------------------------------------ */

static gboolean
text_filter_func (gpointer item,
                  gpointer user_data)
{
  CrierSessionsPage *self = user_data;
  const char *key;

  if (self->search_text == NULL)
    return TRUE;
  key = crier_session_item_get_search_key (item);
  return key != NULL && strstr (key, self->search_text) != NULL;
}

static gboolean
channel_filter_func (gpointer item,
                     gpointer user_data)
{
  CrierSessionsPage *self = user_data;

  return g_hash_table_contains (self->channel_matches, crier_session_item_get_id (item));
}

typedef struct
{
  CrierSessionsPage *self;
  char              *channel;
  guint              page;
} ChannelSearch;

static void
channel_search_free (ChannelSearch *search)
{
  g_object_unref (search->self);
  g_free (search->channel);
  g_free (search);
}

static void channel_search_page (ChannelSearch *search);

static void
channel_search_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  ChannelSearch *search = user_data;
  CrierSessionsPage *self = search->self;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *reply;
  JsonArray *sessions;
  guint pages;

  node = crier_admin_client_call_finish (CRIER_ADMIN_CLIENT (object), result, &error);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      channel_search_free (search);
      return;
    }

  reply = json_node_get_object (node);
  sessions = crier_json_get_array (reply, "sessions");
  for (guint i = 0; sessions != NULL && i < json_array_get_length (sessions); i++)
    {
      JsonObject *session = json_array_get_object_element (sessions, i);
      const char *id = session != NULL ? json_object_get_string_member_with_default (session, "id", NULL) : NULL;

      if (id != NULL)
        g_hash_table_add (self->channel_matches, g_strdup (id));
    }
  gtk_filter_changed (GTK_FILTER (self->channel_filter), GTK_FILTER_CHANGE_LESS_STRICT);

  pages = (guint) json_object_get_int_member_with_default (reply, "pages", 1);
  if (search->page < pages && search->page < CHANNEL_SEARCH_PAGES)
    {
      search->page++;
      channel_search_page (search);
      return;
    }

  channel_search_free (search);
}

static void
channel_search_page (ChannelSearch *search)
{
  CrierAdminRequest *request = crier_admin_request_new (CRIER_ADMIN_REQUEST_LIST_SESSIONS);

  request->channel = g_strdup (search->channel);
  request->page = search->page;
  request->page_size = CRIER_ADMIN_MAX_PAGE_SIZE;
  crier_admin_client_call_async (search->self->client, request,
                                 search->self->search_cancellable,
                                 channel_search_cb, search);
}

static void
crier_sessions_page_search_changed_cb (CrierSessionsPage *self,
                                       GtkSearchEntry    *entry)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (entry));
  g_autofree char *folded = g_utf8_casefold (text, -1);
  ChannelSearch *search;

  /* One refilter per (debounced) search: the items carry a casefolded
   * search key, so matching is a plain substring test, and a longer
   * search only looks at what the shorter one matched. */
  if (g_strcmp0 (folded[0] != '\0' ? folded : NULL, self->search_text) != 0)
    {
      GtkFilterChange change = GTK_FILTER_CHANGE_DIFFERENT;

      if (self->search_text == NULL)
        change = GTK_FILTER_CHANGE_MORE_STRICT;
      else if (folded[0] == '\0')
        change = GTK_FILTER_CHANGE_LESS_STRICT;
      else if (strstr (folded, self->search_text) != NULL)
        change = GTK_FILTER_CHANGE_MORE_STRICT;
      else if (strstr (self->search_text, folded) != NULL)
        change = GTK_FILTER_CHANGE_LESS_STRICT;
      g_free (self->search_text);
      self->search_text = folded[0] != '\0' ? g_strdup (folded) : NULL;
      gtk_filter_changed (GTK_FILTER (self->text_filter), change);
    }

  g_cancellable_cancel (self->search_cancellable);
  g_clear_object (&self->search_cancellable);
  /* A second pass over the rows only when channel matches go away. */
  if (g_hash_table_size (self->channel_matches) > 0)
    {
      g_hash_table_remove_all (self->channel_matches);
      gtk_filter_changed (GTK_FILTER (self->channel_filter), GTK_FILTER_CHANGE_MORE_STRICT);
    }

  if (text[0] == '\0' || self->client == NULL ||
      crier_admin_client_get_state (self->client) != CRIER_ADMIN_CLIENT_CONNECTED)
    return;

  self->search_cancellable = g_cancellable_new ();
  search = g_new0 (ChannelSearch, 1);
  search->self = g_object_ref (self);
  search->channel = g_strdup (text);
  search->page = 1;
  channel_search_page (search);
}

/* ---- inspector ------------------------------------------------------------ */

static CrierSessionItem *
selected_item (CrierSessionsPage *self)
{
  CrierSessionRow *row = gtk_single_selection_get_selected_item (self->selection);

  return row != NULL ? crier_session_row_get_session (row) : NULL;
}

/* Rows now show other sessions: keep the selected one selected where it
 * went, or unselect it when it is filtered out or gone. */
static void
crier_sessions_page_rows_remapped_cb (CrierSessionsPage *self)
{
  if (self->selected == NULL || selected_item (self) == self->selected)
    return;
  gtk_single_selection_set_selected (self->selection,
                                     crier_session_rows_find (self->rows, self->selected));
}

static void
set_channels (CrierSessionsPage *self,
              GStrv              channels)
{
  GtkWidget *child;

  if (self->inspected_channels != NULL && channels != NULL &&
      g_strv_equal ((const char * const *) self->inspected_channels,
                    (const char * const *) channels))
    {
      g_strfreev (channels);
      return;
    }

  /* The rows of the old channels: everything after the placeholder. */
  while ((child = gtk_widget_get_next_sibling (self->no_channels_row)) != NULL)
    adw_preferences_group_remove (self->channels_group, child);

  g_clear_pointer (&self->inspected_channels, g_strfreev);
  self->inspected_channels = channels;
  gtk_widget_set_visible (self->no_channels_row, channels == NULL || channels[0] == NULL);

  for (guint i = 0; channels != NULL && channels[i] != NULL; i++)
    {
      GtkWidget *row = adw_action_row_new ();
      GtkWidget *button = gtk_button_new_from_icon_name ("list-remove-symbolic");
      g_autofree char *escaped = g_markup_escape_text (channels[i], -1);

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), escaped);
      gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
      gtk_widget_add_css_class (button, "flat");
      gtk_widget_set_tooltip_text (button, _("Unsubscribe"));
      gtk_actionable_set_action_name (GTK_ACTIONABLE (button), "sessions.unsubscribe");
      gtk_actionable_set_action_target (GTK_ACTIONABLE (button), "s", channels[i]);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), button);
      adw_preferences_group_add (self->channels_group, row);
    }
}

static void
inspect_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(CrierSessionsPage) self = user_data;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CrierAdminSessionInfo) info = NULL;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  CrierSessionItem *item;
  JsonArray *channels;

  node = crier_admin_client_call_finish (CRIER_ADMIN_CLIENT (object), result, &error);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return;

  /* inspect_session has the list_sessions fields and more. */
  info = crier_admin_session_info_from_json (node, &error);
  item = selected_item (self);
  if (info == NULL || item == NULL || g_strcmp0 (info->id, crier_session_item_get_id (item)) != 0)
    return;

  crier_session_item_update (item, info);

  channels = crier_json_get_array (json_node_get_object (node), "channels");
  for (guint i = 0; channels != NULL && i < json_array_get_length (channels); i++)
    {
      JsonObject *channel = json_array_get_object_element (channels, i);
      const char *name = channel != NULL ? json_object_get_string_member_with_default (channel, "channel", NULL) : NULL;

      if (name != NULL)
        g_strv_builder_add (builder, name);
    }
  set_channels (self, g_strv_builder_end (builder));
}

static gboolean
inspect_tick_cb (gpointer user_data)
{
  CrierSessionsPage *self = user_data;
  CrierAdminRequest *request;

  if (self->selected == NULL || self->client == NULL ||
      crier_admin_client_get_state (self->client) != CRIER_ADMIN_CLIENT_CONNECTED)
    return G_SOURCE_CONTINUE;

  request = crier_admin_request_new (CRIER_ADMIN_REQUEST_INSPECT_SESSION);
  request->session = g_strdup (crier_session_item_get_id (self->selected));
  crier_admin_client_call_async (self->client, request, self->cancellable,
                                 inspect_cb, g_object_ref (self));

  return G_SOURCE_CONTINUE;
}

static void
crier_sessions_page_selection_cb (CrierSessionsPage *self)
{
  CrierSessionItem *item = selected_item (self);
  gboolean same = g_strcmp0 (item != NULL ? crier_session_item_get_id (item) : NULL,
                             self->selected != NULL ? crier_session_item_get_id (self->selected) : NULL) == 0;

  g_set_object (&self->selected, item);
  gtk_widget_set_visible (self->inspector, item != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "sessions.kick", item != NULL);

  if (same)
    return;

  set_channels (self, NULL);
  g_clear_handle_id (&self->inspect_id, g_source_remove);
  if (item != NULL)
    {
      inspect_tick_cb (self);
      self->inspect_id = g_timeout_add_seconds (1, inspect_tick_cb, self);
    }
}

/* ---- actions -------------------------------------------------------------- */

static void
kick_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(CrierSessionsPage) self = user_data;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  JsonObject *reply;

  node = crier_admin_client_call_finish (CRIER_ADMIN_CLIENT (object), result, &error);
  if (node == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          /* Server text: escape it, toasts parse markup on libadwaita 1.2. */
          g_autofree char *escaped = g_markup_escape_text (error->message, -1);
          /* Translators: %s is the server's error message. */
          g_autofree char *message = g_strdup_printf (_("Could not kick the session: %s"), escaped);

          add_toast (self, message);
        }
      return;
    }

  reply = json_node_get_object (node);
  text = g_strdup_printf (_("Session kicked (code %u)"),
                          (guint) json_object_get_int_member_with_default (reply, "code", 0));
  add_toast (self, text);
}

static void
kick_response_cb (CrierSessionsPage *self,
                  const char        *response,
                  CrierKickDialog   *dialog)
{
  CrierAdminRequest *request;
  const char *reason;

  if (self->kick_dialog == dialog)
    self->kick_dialog = NULL;
  if (!g_str_equal (response, "kick") || self->client == NULL)
    return;

  request = crier_admin_request_new (CRIER_ADMIN_REQUEST_KICK);
  request->session = g_strdup (crier_kick_dialog_get_session_id (dialog));
  request->reconnect = crier_kick_dialog_get_allow_reconnect (dialog);
  reason = crier_kick_dialog_get_reason (dialog);
  if (reason != NULL)
    request->reason = g_strdup (reason);
  crier_admin_client_call_async (self->client, request, self->cancellable,
                                 kick_cb, g_object_ref (self));
}

static void
crier_sessions_page_kick_action (GtkWidget  *widget,
                                 const char *action_name,
                                 GVariant   *parameter)
{
  CrierSessionsPage *self = CRIER_SESSIONS_PAGE (widget);
  CrierSessionItem *item = selected_item (self);
  CrierKickDialog *dialog;

  if (item == NULL)
    return;

  dialog = crier_kick_dialog_new (GTK_WINDOW (gtk_widget_get_root (widget)),
                                  crier_session_item_get_id (item),
                                  crier_session_item_get_user (item));
  g_signal_connect_object (dialog, "response",
                           G_CALLBACK (kick_response_cb), self, G_CONNECT_SWAPPED);
  self->kick_dialog = dialog;
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
unsubscribe_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(CrierSessionsPage) self = user_data;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;

  node = crier_admin_client_call_finish (CRIER_ADMIN_CLIENT (object), result, &error);
  if (node == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          /* Server text: escape it, toasts parse markup on libadwaita 1.2. */
          g_autofree char *escaped = g_markup_escape_text (error->message, -1);
          /* Translators: %s is the server's error message. */
          g_autofree char *message = g_strdup_printf (_("Could not unsubscribe: %s"), escaped);

          add_toast (self, message);
        }
      return;
    }

  add_toast (self, _("Unsubscribed"));
  inspect_tick_cb (self);
}

static void
crier_sessions_page_unsubscribe_action (GtkWidget  *widget,
                                        const char *action_name,
                                        GVariant   *parameter)
{
  CrierSessionsPage *self = CRIER_SESSIONS_PAGE (widget);
  CrierAdminRequest *request;

  if (self->selected == NULL || self->client == NULL)
    return;

  request = crier_admin_request_new (CRIER_ADMIN_REQUEST_UNSUBSCRIBE);
  request->session = g_strdup (crier_session_item_get_id (self->selected));
  request->channel = g_variant_dup_string (parameter, NULL);
  crier_admin_client_call_async (self->client, request, self->cancellable,
                                 unsubscribe_cb, g_object_ref (self));
}

/* ---- public --------------------------------------------------------------- */

void
crier_sessions_page_set_client (CrierSessionsPage *self,
                                CrierAdminClient  *client)
{
  g_return_if_fail (CRIER_IS_SESSIONS_PAGE (self));

  g_set_object (&self->client, client);
  crier_session_list_set_client (self->session_list, client);
}

CrierSessionList *
crier_sessions_page_get_list (CrierSessionsPage *self)
{
  g_return_val_if_fail (CRIER_IS_SESSIONS_PAGE (self), NULL);
  return self->session_list;
}

GListModel *
crier_sessions_page_get_view_model (CrierSessionsPage *self)
{
  g_return_val_if_fail (CRIER_IS_SESSIONS_PAGE (self), NULL);
  return G_LIST_MODEL (self->selection);
}

GtkColumnView *
crier_sessions_page_get_column_view (CrierSessionsPage *self)
{
  g_return_val_if_fail (CRIER_IS_SESSIONS_PAGE (self), NULL);
  return self->column_view;
}

GtkEditable *
crier_sessions_page_get_search (CrierSessionsPage *self)
{
  g_return_val_if_fail (CRIER_IS_SESSIONS_PAGE (self), NULL);
  return GTK_EDITABLE (self->search_entry);
}

void
crier_sessions_page_select (CrierSessionsPage *self,
                            guint              position)
{
  g_return_if_fail (CRIER_IS_SESSIONS_PAGE (self));

  gtk_single_selection_set_selected (self->selection, position);
}

CrierKickDialog *
crier_sessions_page_get_kick_dialog (CrierSessionsPage *self)
{
  g_return_val_if_fail (CRIER_IS_SESSIONS_PAGE (self), NULL);
  return self->kick_dialog;
}

/* ---- GObject -------------------------------------------------------------- */

static void
crier_sessions_page_dispose (GObject *object)
{
  CrierSessionsPage *self = CRIER_SESSIONS_PAGE (object);

  g_clear_handle_id (&self->inspect_id, g_source_remove);
  g_cancellable_cancel (self->cancellable);
  g_cancellable_cancel (self->search_cancellable);
  g_clear_object (&self->search_cancellable);
  if (self->session_list != NULL)
    crier_session_list_set_client (self->session_list, NULL);
  g_clear_object (&self->client);
  g_clear_object (&self->selected);
  self->kick_dialog = NULL;

  gtk_widget_dispose_template (GTK_WIDGET (self), CRIER_TYPE_SESSIONS_PAGE);

  G_OBJECT_CLASS (crier_sessions_page_parent_class)->dispose (object);
}

static void
crier_sessions_page_finalize (GObject *object)
{
  CrierSessionsPage *self = CRIER_SESSIONS_PAGE (object);

  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->channel_matches, g_hash_table_unref);
  g_clear_pointer (&self->inspected_channels, g_strfreev);
  g_clear_pointer (&self->search_text, g_free);

  G_OBJECT_CLASS (crier_sessions_page_parent_class)->finalize (object);
}

static void
crier_sessions_page_class_init (CrierSessionsPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = crier_sessions_page_dispose;
  object_class->finalize = crier_sessions_page_finalize;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/crier-sessions-page.ui");
  gtk_widget_class_bind_template_child (widget_class, CrierSessionsPage, session_list);
  gtk_widget_class_bind_template_child (widget_class, CrierSessionsPage, selection);
  gtk_widget_class_bind_template_child (widget_class, CrierSessionsPage, rows);
  gtk_widget_class_bind_template_child (widget_class, CrierSessionsPage, filter_model);
  gtk_widget_class_bind_template_child (widget_class, CrierSessionsPage, text_filter);
  gtk_widget_class_bind_template_child (widget_class, CrierSessionsPage, channel_filter);
  gtk_widget_class_bind_template_child (widget_class, CrierSessionsPage, column_view);
  gtk_widget_class_bind_template_child (widget_class, CrierSessionsPage, user_column);
  gtk_widget_class_bind_template_child (widget_class, CrierSessionsPage, transport_column);
  gtk_widget_class_bind_template_child (widget_class, CrierSessionsPage, remote_column);
  gtk_widget_class_bind_template_child (widget_class, CrierSessionsPage, connected_column);
  gtk_widget_class_bind_template_child (widget_class, CrierSessionsPage, subscriptions_column);
  gtk_widget_class_bind_template_child (widget_class, CrierSessionsPage, sent_column);
  gtk_widget_class_bind_template_child (widget_class, CrierSessionsPage, id_column);
  gtk_widget_class_bind_template_child (widget_class, CrierSessionsPage, search_entry);
  gtk_widget_class_bind_template_child (widget_class, CrierSessionsPage, inspector);
  gtk_widget_class_bind_template_child (widget_class, CrierSessionsPage, channels_group);
  gtk_widget_class_bind_template_child (widget_class, CrierSessionsPage, no_channels_row);
  gtk_widget_class_bind_template_callback (widget_class, crier_sessions_page_search_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, crier_sessions_page_selection_cb);
  gtk_widget_class_bind_template_callback (widget_class, crier_sessions_page_rows_remapped_cb);
  gtk_widget_class_bind_template_callback (widget_class, crier_sessions_page_format_user);
  gtk_widget_class_bind_template_callback (widget_class, crier_sessions_page_format_bytes);
  gtk_widget_class_bind_template_callback (widget_class, crier_sessions_page_format_time);
  gtk_widget_class_bind_template_callback (widget_class, crier_sessions_page_format_expiry);
  gtk_widget_class_bind_template_callback (widget_class, crier_sessions_page_format_rtt);
  gtk_widget_class_bind_template_callback (widget_class, crier_sessions_page_format_count);
  gtk_widget_class_bind_template_callback (widget_class, crier_sessions_page_format_n_sessions);

  gtk_widget_class_install_action (widget_class, "sessions.kick", NULL,
                                   crier_sessions_page_kick_action);
  gtk_widget_class_install_action (widget_class, "sessions.unsubscribe", "s",
                                   crier_sessions_page_unsubscribe_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Delete, 0, "sessions.kick", NULL);
}

static void
crier_sessions_page_init (CrierSessionsPage *self)
{
  g_type_ensure (CRIER_TYPE_SESSION_LIST);
  g_type_ensure (CRIER_TYPE_SESSION_ITEM);
  g_type_ensure (CRIER_TYPE_SESSION_ROW);
  g_type_ensure (CRIER_TYPE_SESSION_ROWS);
  gtk_widget_init_template (GTK_WIDGET (self));

  set_cell_factory (self->user_column, "user", G_CALLBACK (crier_sessions_page_format_user));
  set_cell_factory (self->transport_column, "transport", NULL);
  set_cell_factory (self->remote_column, "remote", NULL);
  set_cell_factory (self->connected_column, "connected-at", G_CALLBACK (crier_sessions_page_format_time));
  set_cell_factory (self->subscriptions_column, "subscriptions", NULL);
  set_cell_factory (self->sent_column, "bytes-out", G_CALLBACK (crier_sessions_page_format_bytes));
  set_cell_factory (self->id_column, "id", NULL);

  self->cancellable = g_cancellable_new ();
  self->channel_matches = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  gtk_custom_filter_set_filter_func (self->text_filter, text_filter_func, self, NULL);
  gtk_custom_filter_set_filter_func (self->channel_filter, channel_filter_func, self, NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "sessions.kick", FALSE);
}
