/* crier-admin-client.h: the dashboard's connection to crierd's admin protocol.
 *
 * A GObject free of GTK around libsoup's client WebSocket: it connects to an
 * admin Unix socket (the local crierd's default one unless told otherwise)
 * or to host:port with a bearer token (over TLS, wss://, when asked:
 * trusting the system's CAs, a given CA file, or one certificate pinned
 * by its SHA-256 fingerprint), says hello, and then offers
 * requests as GTask-based async calls and events as signals.  It reconnects
 * on its own with exponential backoff and jitter, and tells in #CrierAdminClient:state
 * and #CrierAdminClient:reason why it is not connected.
 *
 * Every message goes through the shared codec (shared/crier-admin-protocol.h).
 */
#pragma once

#include <gio/gio.h>

#include "crier-admin-protocol.h"

G_BEGIN_DECLS

typedef enum
{
  CRIER_ADMIN_CLIENT_DISCONNECTED,
  CRIER_ADMIN_CLIENT_CONNECTING,
  CRIER_ADMIN_CLIENT_CONNECTED,
  CRIER_ADMIN_CLIENT_ERROR,
} CrierAdminClientState;

/* Why the client is in the error state. */
typedef enum
{
  CRIER_ADMIN_CLIENT_REASON_NONE,
  CRIER_ADMIN_CLIENT_REASON_NO_SERVER,          /* no socket, connection refused */
  CRIER_ADMIN_CLIENT_REASON_PERMISSION_DENIED,  /* socket of another user, 403 */
  CRIER_ADMIN_CLIENT_REASON_WRONG_TOKEN,        /* 401 */
  CRIER_ADMIN_CLIENT_REASON_VERSION_MISMATCH,   /* hello: unsupported_version */
  CRIER_ADMIN_CLIENT_REASON_BAD_ADDRESS,        /* neither a path nor host:port */
  CRIER_ADMIN_CLIENT_REASON_LOST,               /* the connection broke */
  CRIER_ADMIN_CLIENT_REASON_UNTRUSTED_CERTIFICATE, /* TLS: not trusted, not pinned */
  CRIER_ADMIN_CLIENT_REASON_OTHER,
} CrierAdminClientReason;

#define CRIER_TYPE_ADMIN_CLIENT (crier_admin_client_get_type ())

G_DECLARE_FINAL_TYPE (CrierAdminClient, crier_admin_client, CRIER, ADMIN_CLIENT, GObject)

CrierAdminClient       *crier_admin_client_new             (void);

/* @address: an absolute path (Unix socket), host:port, or NULL/"" for the
 * local default socket.  @token is sent as "Authorization: Bearer" over TCP.
 * (Re)connects at once. */
void                    crier_admin_client_connect_to      (CrierAdminClient     *self,
                                                            const char           *address,
                                                            const char           *token);
/* TLS for host:port targets, from the next crier_admin_client_connect_to ():
 * @tls FALSE is ws://; TRUE is wss:// trusting @ca_file (PEM) or, when
 * NULL/"", the system's trust store, and also the one certificate whose
 * SHA-256 fingerprint is @pinned (as crier_admin_client_certificate_fingerprint ()
 * gives it; NULL/"" none) despite an unknown CA or a name mismatch.  A
 * certificate trusted by neither stops the client in the error state with
 * CRIER_ADMIN_CLIENT_REASON_UNTRUSTED_CERTIFICATE (no retry). */
void                    crier_admin_client_set_tls         (CrierAdminClient     *self,
                                                            gboolean              tls,
                                                            const char           *ca_file,
                                                            const char           *pinned);
/* The certificate the server presented on the last TLS attempt, and why
 * it was not trusted (0 when it was); NULL before any. */
GTlsCertificate        *crier_admin_client_get_peer_certificate (CrierAdminClient *self);
GTlsCertificateFlags    crier_admin_client_get_peer_certificate_errors (CrierAdminClient *self);
/* "AB:CD:...": the SHA-256 of the DER certificate in upper-case hex pairs,
 * as `openssl x509 -noout -fingerprint -sha256` prints it. */
char                   *crier_admin_client_certificate_fingerprint (GTlsCertificate *certificate);
/* "unknown authority, wrong name" ... for the error message. */
char                   *crier_admin_client_describe_certificate_errors (GTlsCertificateFlags errors);
void                    crier_admin_client_disconnect      (CrierAdminClient     *self);
/* Skips the pending backoff delay. */
void                    crier_admin_client_reconnect_now   (CrierAdminClient     *self);

const char             *crier_admin_client_get_address     (CrierAdminClient     *self);
CrierAdminClientState   crier_admin_client_get_state       (CrierAdminClient     *self);
CrierAdminClientReason  crier_admin_client_get_reason      (CrierAdminClient     *self);
const char             *crier_admin_client_get_error_message (CrierAdminClient   *self);
/* From hello, while connected. */
const char             *crier_admin_client_get_node        (CrierAdminClient     *self);
const char             *crier_admin_client_get_server_version (CrierAdminClient  *self);
/* Milliseconds until the next attempt, 0 when none is scheduled. */
guint                   crier_admin_client_get_retry_delay (CrierAdminClient     *self);

/* Sends @request (transfer full; its id is assigned here).  The result is
 * the reply's "result" node, or an error: CRIER_ADMIN_ERROR with the
 * server's code, G_IO_ERROR_NOT_CONNECTED, or G_IO_ERROR_CLOSED when the
 * connection broke before the reply. */
void                    crier_admin_client_call_async      (CrierAdminClient     *self,
                                                            CrierAdminRequest    *request,
                                                            GCancellable         *cancellable,
                                                            GAsyncReadyCallback   callback,
                                                            gpointer              user_data);
JsonNode               *crier_admin_client_call_finish     (CrierAdminClient     *self,
                                                            GAsyncResult         *result,
                                                            GError              **error);

/* The backoff before attempt @attempt (from 0), with jitter from @jitter in
 * [0, 1): 500 ms doubling to at most 30 s, then +-25 %. */
guint                   crier_admin_client_backoff_ms      (guint                 attempt,
                                                            double                jitter);
/* Classifies a connect or hello error (HTTP @status, 0 when none). */
CrierAdminClientReason  crier_admin_client_classify_error  (const GError         *error,
                                                            guint                 status);

G_END_DECLS
