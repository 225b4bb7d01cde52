/* crier-broadcast-dialog.c: send a test message to channels.
 *
 * Key functions:
 *   crier_broadcast_dialog_validate ()   channels and JSON as one types
 *   crier_broadcast_dialog_send_action () broadcast, remember the channels
 *   broadcast_cb ()                      offsets and reach per channel
 */
#include "config.h"

#include "crier-broadcast-dialog.h"
#include "crier-json.h"
#include "crier-util.h"

#include <glib/gi18n.h>
#include <string.h>

#define MAX_RECENT_CHANNELS 10

struct _CrierBroadcastDialog
{
  AdwWindow         parent_instance;

  CrierAdminClient *client;
  GCancellable     *cancellable;
  GSettings        *settings;
  char             *result;
  guint             reached;

  /* Template children */
  AdwEntryRow      *channels_row;
  GtkTextBuffer    *json_buffer;
  GtkLabel         *error_label;
  GtkLabel         *result_label;
  GtkStringList    *recent_channels;
};

G_DEFINE_FINAL_TYPE (CrierBroadcastDialog, crier_broadcast_dialog, ADW_TYPE_WINDOW)

enum {
  PROP_0,
  PROP_RESULT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static GStrv
split_channels (const char *text)
{
  g_auto(GStrv) parts = g_strsplit_set (text, " ,\t\n", -1);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; parts[i] != NULL; i++)
    if (parts[i][0] != '\0')
      g_strv_builder_add (builder, parts[i]);

  return g_strv_builder_end (builder);
}

static char *
dup_json_text (CrierBroadcastDialog *self)
{
  GtkTextIter start;
  GtkTextIter end;

  gtk_text_buffer_get_bounds (self->json_buffer, &start, &end);
  return gtk_text_buffer_get_text (self->json_buffer, &start, &end, FALSE);
}

static void
crier_broadcast_dialog_validate (CrierBroadcastDialog *self)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *json = dup_json_text (self);
  g_auto(GStrv) channels = split_channels (gtk_editable_get_text (GTK_EDITABLE (self->channels_row)));
  gboolean valid = FALSE;

  if (strlen (json) > CRIER_ADMIN_MAX_DATA_SIZE)
    gtk_label_set_text (self->error_label, _("The message is larger than 64 KiB."));
  else if (json[strspn (json, " \t\r\n")] != '\0' && !crier_json_single_value (json, -1))
    gtk_label_set_text (self->error_label,
                        _("Not valid JSON: type one value, with \\u escapes of four hex digits and surrogates in pairs."));
  else if (!json_parser_load_from_data (parser, json, -1, &error))
    {
      /* Translators: %s is json-glib's parse error. */
      g_autofree char *text = g_strdup_printf (_("Not valid JSON: %s"), error->message);

      gtk_label_set_text (self->error_label, text);
    }
  else if (json_parser_get_root (parser) == NULL)
    gtk_label_set_text (self->error_label, _("Type a JSON value to send."));
  else if (channels[0] == NULL)
    gtk_label_set_text (self->error_label, _("Name at least one channel."));
  else
    {
      gtk_label_set_text (self->error_label, "");
      valid = TRUE;
    }

  gtk_widget_set_visible (GTK_WIDGET (self->error_label), !valid);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "broadcast.send",
                                 valid && self->client != NULL);
}

static void
crier_broadcast_dialog_recent_activated_cb (CrierBroadcastDialog *self,
                                            guint                 position,
                                            GtkListView          *view)
{
  const char *channel = gtk_string_list_get_string (self->recent_channels, position);
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->channels_row));
  g_auto(GStrv) channels = split_channels (text);
  g_autofree char *joined = NULL;

  if (channel == NULL || g_strv_contains ((const char * const *) channels, channel))
    return;

  joined = text[0] != '\0' ? g_strdup_printf ("%s %s", text, channel) : g_strdup (channel);
  gtk_editable_set_text (GTK_EDITABLE (self->channels_row), joined);
}

static void
remember_channels (CrierBroadcastDialog *self,
                   GStrv                 channels)
{
  g_auto(GStrv) old = g_settings_get_strv (self->settings, "recent-channels");
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) recent = NULL;
  guint n = 0;

  for (guint i = 0; channels[i] != NULL && n < MAX_RECENT_CHANNELS; i++, n++)
    g_strv_builder_add (builder, channels[i]);
  for (guint i = 0; old[i] != NULL && n < MAX_RECENT_CHANNELS; i++)
    if (!g_strv_contains ((const char * const *) channels, old[i]))
      {
        g_strv_builder_add (builder, old[i]);
        n++;
      }

  recent = g_strv_builder_end (builder);
  g_settings_set_strv (self->settings, "recent-channels", (const char * const *) recent);
}

static void
recent_channels_changed_cb (CrierBroadcastDialog *self)
{
  g_auto(GStrv) recent = g_settings_get_strv (self->settings, "recent-channels");

  gtk_string_list_splice (self->recent_channels, 0,
                          g_list_model_get_n_items (G_LIST_MODEL (self->recent_channels)),
                          (const char * const *) recent);
}

static void
set_result (CrierBroadcastDialog *self,
            const char           *result,
            guint                 reached)
{
  self->reached = reached;
  g_free (self->result);
  self->result = g_strdup (result);
  gtk_label_set_text (self->result_label, result);
  gtk_widget_set_visible (GTK_WIDGET (self->result_label), result != NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RESULT]);
}

static void
broadcast_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(CrierBroadcastDialog) self = user_data;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) text = g_string_new (NULL);
  JsonObject *reply;
  JsonArray *publications;
  guint reached;

  node = crier_admin_client_call_finish (CRIER_ADMIN_CLIENT (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "broadcast.send", TRUE);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      /* Translators: %s is the server's error message. */
      g_autofree char *message = g_strdup_printf (_("The broadcast failed: %s"),
                                                  error != NULL ? error->message : "?");

      set_result (self, message, 0);
      return;
    }

  reply = json_node_get_object (node);
  reached = (guint) json_object_get_int_member_with_default (reply, "reached", 0);
  publications = crier_json_get_array (reply, "publications");
  for (guint i = 0; publications != NULL && i < json_array_get_length (publications); i++)
    {
      JsonObject *publication = json_array_get_object_element (publications, i);
      const char *channel;
      JsonObject *failure;

      if (publication == NULL)
        continue;
      channel = json_object_get_string_member_with_default (publication, "channel", "?");
      failure = crier_json_get_object (publication, "error");
      if (failure != NULL)
        /* Translators: a channel and the server's error message. */
        g_string_append_printf (text, _("%s: failed (%s)\n"), channel,
                                json_object_get_string_member_with_default (failure, "message", "?"));
      else
        /* Translators: a channel, the publication's offset and how many
         * subscribers it reached. */
        {
          g_autofree char *offset = g_strdup_printf ("%" G_GINT64_FORMAT,
                                                     json_object_get_int_member_with_default (publication, "offset", 0));
          g_autofree char *count = g_strdup_printf ("%" G_GINT64_FORMAT,
                                                    json_object_get_int_member_with_default (publication, "reached", 0));

          g_string_append_printf (text, _("%s: offset %s, reached %s\n"), channel, offset, count);
        }
    }
  g_string_append_printf (text,
                          g_dngettext (GETTEXT_PACKAGE,
                                       "Reached %u subscriber in all.",
                                       "Reached %u subscribers in all.", reached),
                          reached);
  set_result (self, text->str, reached);
}

static void
crier_broadcast_dialog_send_action (GtkWidget  *widget,
                                    const char *action_name,
                                    GVariant   *parameter)
{
  CrierBroadcastDialog *self = CRIER_BROADCAST_DIALOG (widget);
  g_auto(GStrv) channels = split_channels (gtk_editable_get_text (GTK_EDITABLE (self->channels_row)));
  CrierAdminRequest *request;

  if (channels[0] == NULL || self->client == NULL)
    return;

  remember_channels (self, channels);

  request = crier_admin_request_new (CRIER_ADMIN_REQUEST_BROADCAST);
  request->channels = g_steal_pointer (&channels);
  request->data = dup_json_text (self);
  gtk_widget_action_set_enabled (widget, "broadcast.send", FALSE);
  crier_admin_client_call_async (self->client, request, self->cancellable,
                                 broadcast_cb, g_object_ref (self));
}

static void
crier_broadcast_dialog_dispose (GObject *object)
{
  CrierBroadcastDialog *self = CRIER_BROADCAST_DIALOG (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->client);
  g_clear_object (&self->settings);
  gtk_widget_dispose_template (GTK_WIDGET (self), CRIER_TYPE_BROADCAST_DIALOG);

  G_OBJECT_CLASS (crier_broadcast_dialog_parent_class)->dispose (object);
}

static void
crier_broadcast_dialog_finalize (GObject *object)
{
  CrierBroadcastDialog *self = CRIER_BROADCAST_DIALOG (object);

  g_clear_pointer (&self->result, g_free);

  G_OBJECT_CLASS (crier_broadcast_dialog_parent_class)->finalize (object);
}

static void
crier_broadcast_dialog_get_property (GObject    *object,
                                     guint       prop_id,
                                     GValue     *value,
                                     GParamSpec *pspec)
{
  CrierBroadcastDialog *self = CRIER_BROADCAST_DIALOG (object);

  switch (prop_id)
    {
    case PROP_RESULT:
      g_value_set_string (value, self->result);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
crier_broadcast_dialog_class_init (CrierBroadcastDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = crier_broadcast_dialog_dispose;
  object_class->finalize = crier_broadcast_dialog_finalize;
  object_class->get_property = crier_broadcast_dialog_get_property;

  /**
   * CrierBroadcastDialog:result:
   *
   * What the last broadcast reached, as shown; %NULL before the first.
   */
  properties[PROP_RESULT] =
    g_param_spec_string ("result", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/crier-broadcast-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, CrierBroadcastDialog, channels_row);
  gtk_widget_class_bind_template_child (widget_class, CrierBroadcastDialog, json_buffer);
  gtk_widget_class_bind_template_child (widget_class, CrierBroadcastDialog, error_label);
  gtk_widget_class_bind_template_child (widget_class, CrierBroadcastDialog, result_label);
  gtk_widget_class_bind_template_child (widget_class, CrierBroadcastDialog, recent_channels);
  gtk_widget_class_bind_template_callback (widget_class, crier_broadcast_dialog_validate);
  gtk_widget_class_bind_template_callback (widget_class, crier_broadcast_dialog_recent_activated_cb);

  gtk_widget_class_install_action (widget_class, "broadcast.send", NULL,
                                   crier_broadcast_dialog_send_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Return, GDK_CONTROL_MASK,
                                       "broadcast.send", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
crier_broadcast_dialog_init (CrierBroadcastDialog *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->cancellable = g_cancellable_new ();
  self->settings = g_settings_new (APP_ID);
  g_signal_connect_object (self->settings, "changed::recent-channels",
                           G_CALLBACK (recent_channels_changed_cb), self, G_CONNECT_SWAPPED);
  recent_channels_changed_cb (self);
  crier_broadcast_dialog_validate (self);
}

CrierBroadcastDialog *
crier_broadcast_dialog_new (GtkWindow        *parent,
                            CrierAdminClient *client)
{
  CrierBroadcastDialog *self;

  g_return_val_if_fail (CRIER_IS_ADMIN_CLIENT (client), NULL);

  self = g_object_new (CRIER_TYPE_BROADCAST_DIALOG,
                       "transient-for", parent,
                       "modal", TRUE,
                       NULL);
  self->client = g_object_ref (client);
  crier_broadcast_dialog_validate (self);

  return self;
}

void
crier_broadcast_dialog_set_channels (CrierBroadcastDialog *self,
                                     const char           *channels)
{
  g_return_if_fail (CRIER_IS_BROADCAST_DIALOG (self));
  gtk_editable_set_text (GTK_EDITABLE (self->channels_row), channels != NULL ? channels : "");
}

void
crier_broadcast_dialog_set_data (CrierBroadcastDialog *self,
                                 const char           *json)
{
  g_return_if_fail (CRIER_IS_BROADCAST_DIALOG (self));
  gtk_text_buffer_set_text (self->json_buffer, json != NULL ? json : "", -1);
}

const char *
crier_broadcast_dialog_get_result (CrierBroadcastDialog *self)
{
  g_return_val_if_fail (CRIER_IS_BROADCAST_DIALOG (self), NULL);
  return self->result;
}

guint
crier_broadcast_dialog_get_reached (CrierBroadcastDialog *self)
{
  g_return_val_if_fail (CRIER_IS_BROADCAST_DIALOG (self), 0);
  return self->reached;
}
