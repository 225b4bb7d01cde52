/* crier-admin.h: the admin listeners and the admin protocol's server side.
 *
 * A SoupServer of its own (never the client one) with:
 *
 *  - a Unix socket ([admin] socket, default crier_admin_default_socket_path ()):
 *    its directory is created 0700 when missing, the socket is 0600, a
 *    live socket of another process is never taken over, and a peer whose
 *    uid is neither ours nor root is refused (403);
 *  - optionally TCP ([admin] listen): every request needs
 *    "Authorization: Bearer <[admin] token>", compared in constant time
 *    (401 otherwise); [admin] max_connections caps its connections and
 *    [admin] request_timeout bounds the time to send a request (both
 *    counted in crier_admin_get_tcp_stats() and logged);
 *
 * serving GET /admin (the WebSocket of docs/admin-protocol.md, run on the
 * server's connection engine with its outbound limits, so a watcher that
 * falls behind is evicted like any slow consumer) and GET /metrics
 * (Prometheus).  It owns the node's CrierMetrics; crier_admin_tick() runs
 * from the server tick, and every 1 Hz sample is encoded once and sent to
 * every stats watcher.  Admin connections never appear among the client
 * sessions or in the client metrics.
 */
#pragma once

#include <sys/types.h>

#include "crier-metrics.h"
#include "crier-proto-centrifuge.h"
#include "crier-types.h"

G_BEGIN_DECLS

typedef struct _CrierAdmin CrierAdmin;

/* The admin TCP listener's connections ([admin] max_connections and
 * request_timeout). */
typedef struct
{
  guint   open;              /* now: HTTP, TLS handshakes and WebSockets */
  guint64 accepted;
  guint64 refused_cap;       /* closed at accept: over max_connections */
  guint64 request_timeouts;  /* closed: no whole request within request_timeout */
} CrierAdminTcpStats;

/* @cf_stats: the server's client-protocol counters (borrowed). */
CrierAdmin   *crier_admin_new              (CrierServer        *server,
                                            const CrierCfStats *cf_stats);
/* Opens the listeners.  An explicitly configured socket that cannot be
 * used is an error; the default one only a warning (crierd then runs
 * without it). */
gboolean      crier_admin_start            (CrierAdmin         *admin,
                                            GError            **error);
/* Closes the admin connections and listeners, removes our socket file. */
void          crier_admin_free             (CrierAdmin         *admin);
/* From the server tick (every 100 ms), monotonic µs. */
void          crier_admin_tick             (CrierAdmin         *admin,
                                            gint64              now_us);

/* Path of the Unix socket we listen on, or NULL. */
const char   *crier_admin_get_socket_path  (CrierAdmin         *admin);
/* Port of the TCP listener, or 0. */
guint16       crier_admin_get_tcp_port     (CrierAdmin         *admin);
CrierMetrics *crier_admin_get_metrics      (CrierAdmin         *admin);
guint         crier_admin_get_n_clients    (CrierAdmin         *admin);
/* Admin WebSockets open on the engine (what client counts leave out). */
guint         crier_admin_get_n_connections (CrierAdmin        *admin);
const CrierAdminTcpStats *
              crier_admin_get_tcp_stats    (CrierAdmin         *admin);
/* [tls] admin: the certificate of the TCP listener; new connections use
 * the new one (SIGHUP reload), open ones keep theirs. */
void          crier_admin_set_tls_certificate (CrierAdmin      *admin,
                                               GTlsCertificate *certificate);

/* The Unix socket's peer check: TRUE for our own uid and for root. */
gboolean      crier_admin_peer_uid_allowed (uid_t               peer,
                                            uid_t               self);
/* TRUE when @authorization is "Bearer <token>" with @token (the scheme
 * case-insensitive), compared in constant time; FALSE for an empty token. */
gboolean      crier_admin_check_bearer     (const char         *authorization,
                                            const char         *token);

G_END_DECLS
