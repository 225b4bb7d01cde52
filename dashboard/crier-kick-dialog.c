/* crier-kick-dialog.c: confirmation before kicking a session.
 *
 * Key functions:
 *   crier_kick_dialog_new ()  the body names the session and its user
 */
#include "config.h"

#include "crier-kick-dialog.h"

#include <glib/gi18n.h>

struct _CrierKickDialog
{
  AdwMessageDialog  parent_instance;

  char             *session_id;

  /* Template children */
  AdwEntryRow      *reason_row;
  GtkSwitch        *reconnect_switch;
};

G_DEFINE_FINAL_TYPE (CrierKickDialog, crier_kick_dialog, ADW_TYPE_MESSAGE_DIALOG)

static void
crier_kick_dialog_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), CRIER_TYPE_KICK_DIALOG);

  G_OBJECT_CLASS (crier_kick_dialog_parent_class)->dispose (object);
}

static void
crier_kick_dialog_finalize (GObject *object)
{
  CrierKickDialog *self = CRIER_KICK_DIALOG (object);

  g_clear_pointer (&self->session_id, g_free);

  G_OBJECT_CLASS (crier_kick_dialog_parent_class)->finalize (object);
}

static void
crier_kick_dialog_class_init (CrierKickDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = crier_kick_dialog_dispose;
  object_class->finalize = crier_kick_dialog_finalize;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/crier-kick-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, CrierKickDialog, reason_row);
  gtk_widget_class_bind_template_child (widget_class, CrierKickDialog, reconnect_switch);
}

static void
crier_kick_dialog_init (CrierKickDialog *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

CrierKickDialog *
crier_kick_dialog_new (GtkWindow  *parent,
                       const char *session_id,
                       const char *user)
{
  CrierKickDialog *self;
  g_autofree char *body = NULL;

  g_return_val_if_fail (session_id != NULL, NULL);

  self = g_object_new (CRIER_TYPE_KICK_DIALOG,
                       "transient-for", parent,
                       "modal", TRUE,
                       NULL);
  self->session_id = g_strdup (session_id);

  if (user == NULL || user[0] == '\0')
    /* Translators: %s is a session id. */
    body = g_strdup_printf (_("The anonymous session %s will be disconnected."), session_id);
  else
    /* Translators: the first %s is a session id, the second a user id. */
    body = g_strdup_printf (_("The session %s of user “%s” will be disconnected."),
                            session_id, user);
  adw_message_dialog_set_body (ADW_MESSAGE_DIALOG (self), body);

  return self;
}

const char *
crier_kick_dialog_get_session_id (CrierKickDialog *self)
{
  g_return_val_if_fail (CRIER_IS_KICK_DIALOG (self), NULL);
  return self->session_id;
}

const char *
crier_kick_dialog_get_reason (CrierKickDialog *self)
{
  const char *reason;

  g_return_val_if_fail (CRIER_IS_KICK_DIALOG (self), NULL);

  reason = gtk_editable_get_text (GTK_EDITABLE (self->reason_row));
  return reason != NULL && reason[0] != '\0' ? reason : NULL;
}

gboolean
crier_kick_dialog_get_allow_reconnect (CrierKickDialog *self)
{
  g_return_val_if_fail (CRIER_IS_KICK_DIALOG (self), TRUE);
  return gtk_switch_get_active (self->reconnect_switch);
}
