/* crier-connect-dialog.c: choose the server to watch.
 *
 * Key functions:
 *   crier_connect_dialog_apply_action ()  writes the settings and the token
 *                                         file, forgets a pinned certificate
 *                                         when the target changed, asks the
 *                                         window to reconnect
 *   crier_connect_dialog_choose_ca_action () a PEM file for the CA
 */
#include "config.h"

#include "crier-connect-dialog.h"
#include "crier-credentials.h"
#include "crier-admin-protocol.h"

#include <glib/gi18n.h>

struct _CrierConnectDialog
{
  AdwWindow    parent_instance;

  GSettings   *settings;

  /* Template children */
  AdwEntryRow *address_row;
  AdwEntryRow *token_row;
  GtkSwitch   *tls_switch;
  AdwActionRow *ca_row;
  GtkLabel    *error_label;

  char        *ca_file;       /* NULL: the system's trust store */
  GtkFileChooserNative *chooser;
};

G_DEFINE_FINAL_TYPE (CrierConnectDialog, crier_connect_dialog, ADW_TYPE_WINDOW)

static void
crier_connect_dialog_apply_action (GtkWidget  *widget,
                                   const char *action_name,
                                   GVariant   *parameter)
{
  CrierConnectDialog *self = CRIER_CONNECT_DIALOG (widget);
  g_autofree char *address = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->address_row))));
  const char *token = gtk_editable_get_text (GTK_EDITABLE (self->token_row));
  g_autoptr(GError) error = NULL;
  GtkWindow *parent;

  if (!crier_credentials_save_token (token, &error))
    {
      gtk_label_set_text (self->error_label, error->message);
      gtk_widget_set_visible (GTK_WIDGET (self->error_label), TRUE);
      return;
    }

  {
    g_autofree char *old_address = g_settings_get_string (self->settings, "server-address");
    g_autofree char *old_ca = g_settings_get_string (self->settings, "server-ca-file");
    gboolean tls = gtk_switch_get_active (self->tls_switch);
    const char *ca = self->ca_file != NULL ? self->ca_file : "";

    /* All at once: the window reconnects on each key. */
    g_settings_delay (self->settings);
    /* A certificate trusted by hand belongs to the server it came from
     * and to the way it was reached. */
    if (g_strcmp0 (g_strstrip (old_address), address) != 0 ||
        g_strcmp0 (old_ca, ca) != 0 ||
        g_settings_get_boolean (self->settings, "server-tls") != tls)
      g_settings_set_string (self->settings, "server-certificate-pin", "");
    g_settings_set_string (self->settings, "server-ca-file", ca);
    g_settings_set_boolean (self->settings, "server-tls", tls);
    g_settings_set_string (self->settings, "server-address", address);
    g_settings_apply (self->settings);
  }

  /* Same address with a new token: the window reconnects on request. */
  parent = gtk_window_get_transient_for (GTK_WINDOW (self));
  if (parent != NULL)
    gtk_widget_activate_action (GTK_WIDGET (parent), "win.reconnect", NULL);

  gtk_window_close (GTK_WINDOW (self));
}

static void
update_ca_row (CrierConnectDialog *self)
{
  g_autofree char *escaped = NULL;

  if (self->ca_file == NULL)
    {
      adw_action_row_set_subtitle (self->ca_row, _("The system’s trusted authorities"));
      return;
    }
  /* Subtitles are markup. */
  escaped = g_markup_escape_text (self->ca_file, -1);
  adw_action_row_set_subtitle (self->ca_row, escaped);
}

static void
set_ca_file (CrierConnectDialog *self,
             const char         *path)
{
  g_free (self->ca_file);
  self->ca_file = path != NULL && path[0] != '\0' ? g_strdup (path) : NULL;
  update_ca_row (self);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "connect.clear-ca", self->ca_file != NULL);
}

static void
chooser_response_cb (CrierConnectDialog   *self,
                     int                   response,
                     GtkFileChooserNative *chooser)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

      if (path != NULL)
        set_ca_file (self, path);
    }
  g_clear_object (&self->chooser);
}

static void
crier_connect_dialog_choose_ca_action (GtkWidget  *widget,
                                       const char *action_name,
                                       GVariant   *parameter)
{
  CrierConnectDialog *self = CRIER_CONNECT_DIALOG (widget);
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();

  if (self->chooser != NULL)
    return;

  gtk_file_filter_set_name (filter, _("PEM Certificates"));
  gtk_file_filter_add_pattern (filter, "*.pem");
  gtk_file_filter_add_pattern (filter, "*.crt");
  gtk_file_filter_add_mime_type (filter, "application/x-x509-ca-cert");
  self->chooser = gtk_file_chooser_native_new (_("Choose the Certificate Authority"),
                                               GTK_WINDOW (self),
                                               GTK_FILE_CHOOSER_ACTION_OPEN,
                                               _("_Choose"), _("_Cancel"));
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (self->chooser), filter);
  g_signal_connect_object (self->chooser, "response", G_CALLBACK (chooser_response_cb),
                           self, G_CONNECT_SWAPPED);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (self->chooser));
}

static void
crier_connect_dialog_clear_ca_action (GtkWidget  *widget,
                                      const char *action_name,
                                      GVariant   *parameter)
{
  set_ca_file (CRIER_CONNECT_DIALOG (widget), NULL);
}

static void
crier_connect_dialog_use_local_action (GtkWidget  *widget,
                                       const char *action_name,
                                       GVariant   *parameter)
{
  CrierConnectDialog *self = CRIER_CONNECT_DIALOG (widget);

  gtk_editable_set_text (GTK_EDITABLE (self->address_row), "");
  gtk_editable_set_text (GTK_EDITABLE (self->token_row), "");
  gtk_switch_set_active (self->tls_switch, FALSE);
  set_ca_file (self, NULL);
}

static void
crier_connect_dialog_dispose (GObject *object)
{
  CrierConnectDialog *self = CRIER_CONNECT_DIALOG (object);

  if (self->chooser != NULL)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
  g_clear_object (&self->chooser);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->ca_file, g_free);
  gtk_widget_dispose_template (GTK_WIDGET (self), CRIER_TYPE_CONNECT_DIALOG);

  G_OBJECT_CLASS (crier_connect_dialog_parent_class)->dispose (object);
}

static void
crier_connect_dialog_class_init (CrierConnectDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = crier_connect_dialog_dispose;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/crier-connect-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, CrierConnectDialog, address_row);
  gtk_widget_class_bind_template_child (widget_class, CrierConnectDialog, token_row);
  gtk_widget_class_bind_template_child (widget_class, CrierConnectDialog, tls_switch);
  gtk_widget_class_bind_template_child (widget_class, CrierConnectDialog, ca_row);
  gtk_widget_class_bind_template_child (widget_class, CrierConnectDialog, error_label);

  gtk_widget_class_install_action (widget_class, "connect.apply", NULL,
                                   crier_connect_dialog_apply_action);
  gtk_widget_class_install_action (widget_class, "connect.use-local", NULL,
                                   crier_connect_dialog_use_local_action);
  gtk_widget_class_install_action (widget_class, "connect.choose-ca", NULL,
                                   crier_connect_dialog_choose_ca_action);
  gtk_widget_class_install_action (widget_class, "connect.clear-ca", NULL,
                                   crier_connect_dialog_clear_ca_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
crier_connect_dialog_init (CrierConnectDialog *self)
{
  g_autofree char *address = NULL;
  g_autofree char *token = NULL;
  g_autofree char *local = crier_admin_default_socket_path ();
  g_autofree char *placeholder = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));

  self->settings = g_settings_new (APP_ID);
  address = g_settings_get_string (self->settings, "server-address");
  token = crier_credentials_load_token ();
  gtk_editable_set_text (GTK_EDITABLE (self->address_row), address);
  gtk_editable_set_text (GTK_EDITABLE (self->token_row), token != NULL ? token : "");
  gtk_switch_set_active (self->tls_switch, g_settings_get_boolean (self->settings, "server-tls"));
  {
    g_autofree char *ca = g_settings_get_string (self->settings, "server-ca-file");

    set_ca_file (self, ca);
  }

  /* Translators: %s is the default admin socket path. */
  placeholder = g_strdup_printf (_("Empty: the local server at %s"), local);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->address_row), placeholder);
}

CrierConnectDialog *
crier_connect_dialog_new (GtkWindow *parent)
{
  return g_object_new (CRIER_TYPE_CONNECT_DIALOG,
                       "transient-for", parent,
                       "modal", TRUE,
                       NULL);
}

void
crier_connect_dialog_fill (CrierConnectDialog *self,
                           const char         *address,
                           const char         *token,
                           gboolean            tls,
                           const char         *ca_file)
{
  g_return_if_fail (CRIER_IS_CONNECT_DIALOG (self));

  gtk_editable_set_text (GTK_EDITABLE (self->address_row), address != NULL ? address : "");
  gtk_editable_set_text (GTK_EDITABLE (self->token_row), token != NULL ? token : "");
  gtk_switch_set_active (self->tls_switch, tls);
  set_ca_file (self, ca_file);
}
