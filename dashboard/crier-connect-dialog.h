/* crier-connect-dialog.h: choose the server to watch.
 *
 * An admin socket path or host:port (saved in the server-address setting;
 * empty means the local crierd's default socket) and, for TCP, the admin
 * token (saved by crier-credentials.c).  Actions: connect.apply,
 * connect.use-local.
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define CRIER_TYPE_CONNECT_DIALOG (crier_connect_dialog_get_type ())

G_DECLARE_FINAL_TYPE (CrierConnectDialog, crier_connect_dialog, CRIER, CONNECT_DIALOG, AdwWindow)

CrierConnectDialog *crier_connect_dialog_new (GtkWindow *parent);

G_END_DECLS
