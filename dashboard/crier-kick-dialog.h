/* crier-kick-dialog.h: "Kick Session?" confirmation with a reason and an
 * "Allow Reconnect" switch (3011 force reconnect / 3503 force disconnect).
 * Responses: "cancel", "kick".
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define CRIER_TYPE_KICK_DIALOG (crier_kick_dialog_get_type ())

G_DECLARE_FINAL_TYPE (CrierKickDialog, crier_kick_dialog, CRIER, KICK_DIALOG, AdwMessageDialog)

CrierKickDialog *crier_kick_dialog_new                 (GtkWindow       *parent,
                                                        const char      *session_id,
                                                        const char      *user);
const char      *crier_kick_dialog_get_session_id      (CrierKickDialog *self);
/* The reason as typed, NULL when empty (the server's default is used). */
const char      *crier_kick_dialog_get_reason          (CrierKickDialog *self);
gboolean         crier_kick_dialog_get_allow_reconnect (CrierKickDialog *self);

G_END_DECLS
