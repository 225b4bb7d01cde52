/* crier-server.h: the one object that owns a crierd node.
 *
 * Config, listeners, the SoupServer that parses HTTP and routes, the
 * connection engine, (later) hub, broker and admin; the periodic tick; and
 * the graceful drain.
 */
#pragma once

#include <libsoup/soup.h>

#include "crier-config.h"
#include "crier-engine.h"
#include "crier-hub.h"
#include "crier-limits.h"
#include "crier-listener.h"

G_BEGIN_DECLS

#define CRIER_TYPE_SERVER (crier_server_get_type ())
G_DECLARE_FINAL_TYPE (CrierServer, crier_server, CRIER, SERVER, GObject)

/* Takes ownership of @config. Uses the thread-default main context. */
CrierServer   *crier_server_new              (CrierConfig   *config);
/* Open the listeners. On error nothing is left listening. */
gboolean       crier_server_start            (CrierServer   *self,
                                              GError       **error);
/* Graceful drain: stop accepting, turn /readyz red, ask every connection
 * to leave with a reconnectable code, and emit "drained" once all are
 * gone or [server] drain_timeout has passed. Idempotent. */
void           crier_server_drain            (CrierServer   *self);
gboolean       crier_server_is_draining      (CrierServer   *self);
/* Apply what can change at run time from @fresh (SIGHUP). */
void           crier_server_reload           (CrierServer   *self,
                                              const CrierConfig *fresh);

const CrierConfig *crier_server_get_config   (CrierServer   *self);
CrierEngine   *crier_server_get_engine       (CrierServer   *self);
SoupServer    *crier_server_get_soup         (CrierServer   *self);
CrierConnBudget *crier_server_get_budget     (CrierServer   *self);
/* Listeners in config order. */
GPtrArray     *crier_server_get_listeners    (CrierServer   *self);
/* Port of the first listener (tests listen on port 0). */
guint16        crier_server_get_port         (CrierServer   *self);
const char    *crier_server_get_node_name    (CrierServer   *self);
CrierHub      *crier_server_get_hub          (CrierServer   *self);
/* What every Centrifugo-protocol client of this server shares (stats). */
struct _CrierCfContext *crier_server_get_cf_context (CrierServer *self);
/* Seconds since crier_server_start(). */
gint64         crier_server_get_uptime       (CrierServer   *self);
/* The admin listeners, metrics and alerts (crier-admin.h); NULL before
 * crier_server_start(). */
struct _CrierAdmin *crier_server_get_admin   (CrierServer   *self);
/* Node registry and node messages (crier-cluster.h); never NULL. */
struct _CrierCluster *crier_server_get_cluster (CrierServer *self);
/* What [limits] refused, for metrics and admin (crier-limits.h). */
CrierLimitStats *crier_server_get_limit_stats (CrierServer  *self);
/* [tls]: the current certificates (NULL when TLS is off). */
GTlsCertificate *crier_server_get_tls_certificate (CrierServer *self);
GTlsCertificate *crier_server_get_admin_tls_certificate (CrierServer *self);

G_END_DECLS
