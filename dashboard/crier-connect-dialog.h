/* crier-connect-dialog.h: choose the server to watch.
 *
 * An admin socket path or host:port (saved in the server-address setting;
 * empty means the local crierd's default socket) and, for TCP, the admin
 * token (saved by crier-credentials.c), whether to use TLS (wss://) and the
 * certificate authority file to trust (empty: the system's), saved in the
 * server-tls and server-ca-file settings.  A certificate trusted by
 * fingerprint (server-certificate-pin) is forgotten when any of these
 * change.  Actions: connect.apply, connect.use-local, connect.choose-ca,
 * connect.clear-ca.
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define CRIER_TYPE_CONNECT_DIALOG (crier_connect_dialog_get_type ())

G_DECLARE_FINAL_TYPE (CrierConnectDialog, crier_connect_dialog, CRIER, CONNECT_DIALOG, AdwWindow)

CrierConnectDialog *crier_connect_dialog_new  (GtkWindow          *parent);
/* Fills the form as a user would (tests). */
void                crier_connect_dialog_fill (CrierConnectDialog *self,
                                               const char         *address,
                                               const char         *token,
                                               gboolean            tls,
                                               const char         *ca_file);

G_END_DECLS
