/* crier-connect-dialog.c: choose the server to watch.
 *
 * Key functions:
 *   crier_connect_dialog_apply_action ()  writes the setting and the token
 *                                         file, asks the window to reconnect
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
  GtkLabel    *error_label;
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

  g_settings_set_string (self->settings, "server-address", address);

  /* Same address with a new token: the window reconnects on request. */
  parent = gtk_window_get_transient_for (GTK_WINDOW (self));
  if (parent != NULL)
    gtk_widget_activate_action (GTK_WIDGET (parent), "win.reconnect", NULL);

  gtk_window_close (GTK_WINDOW (self));
}

static void
crier_connect_dialog_use_local_action (GtkWidget  *widget,
                                       const char *action_name,
                                       GVariant   *parameter)
{
  CrierConnectDialog *self = CRIER_CONNECT_DIALOG (widget);

  gtk_editable_set_text (GTK_EDITABLE (self->address_row), "");
  gtk_editable_set_text (GTK_EDITABLE (self->token_row), "");
}

static void
crier_connect_dialog_dispose (GObject *object)
{
  CrierConnectDialog *self = CRIER_CONNECT_DIALOG (object);

  g_clear_object (&self->settings);
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
  gtk_widget_class_bind_template_child (widget_class, CrierConnectDialog, error_label);

  gtk_widget_class_install_action (widget_class, "connect.apply", NULL,
                                   crier_connect_dialog_apply_action);
  gtk_widget_class_install_action (widget_class, "connect.use-local", NULL,
                                   crier_connect_dialog_use_local_action);
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
