/* crier-metrics.h: the node's metrics, sampled once per second.
 *
 * crier_metrics_tick() runs from the server tick (every 100 ms): it notes
 * how late the tick is (main-loop lag) and, once per second, reads every
 * counter (engine, listener budget, hub, broker, protocol, API, /proc/self)
 * into one CrierAdminStats sample that every admin watcher receives as is
 * (computed once, invariant 6).  Each scalar of the sample is kept for 15
 * minutes in a CrierSeries ring (get_history), the sample feeds the
 * anomaly engine ([anomaly]), and the Prometheus text exposition
 * (GET /metrics) is rendered from it.
 */
#pragma once

#include <glib.h>

#include "crier-admin-protocol.h"
#include "crier-anomaly.h"
#include "crier-engine.h"
#include "crier-proto-centrifuge.h"
#include "crier-types.h"

G_BEGIN_DECLS

typedef struct _CrierMetrics CrierMetrics;

/* What the admin connections themselves did, to be left out of the client
 * figures (they run on the same engine and count in its stats). */
typedef struct
{
  guint   connections;
  guint64 adopted;
  guint64 closed[CRIER_CLOSE_N_REASONS];
  guint64 bytes_in;
  guint64 bytes_out;
} CrierMetricsAdminUsage;

/* @cf_stats: the server's client-protocol counters (borrowed). */
CrierMetrics          *crier_metrics_new            (CrierServer            *server,
                                                     const CrierCfStats     *cf_stats);
void                   crier_metrics_free           (CrierMetrics           *metrics);

/* Every server tick, with the monotonic clock in µs.  Returns TRUE when a
 * new sample was taken (about once per second). */
gboolean               crier_metrics_tick           (CrierMetrics           *metrics,
                                                     gint64                  now_us,
                                                     const CrierMetricsAdminUsage *admin);
/* Take a sample now whatever the time (the first one, and tests). */
void                   crier_metrics_sample         (CrierMetrics           *metrics,
                                                     gint64                  now_us,
                                                     const CrierMetricsAdminUsage *admin);

/* The newest sample (never NULL once crier_metrics_sample() ran). */
const CrierAdminStats *crier_metrics_get_last       (CrierMetrics           *metrics);
/* @names NULL = every series; @since (Unix ms) 0 = all 15 minutes. */
CrierAdminHistory     *crier_metrics_get_history    (CrierMetrics           *metrics,
                                                     char                  **names,
                                                     gint64                  since);
/* The Prometheus text exposition format 0.0.4 of the newest sample. */
char                  *crier_metrics_to_prometheus  (CrierMetrics           *metrics);
#define CRIER_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The anomaly engine fed by every sample; NULL when [anomaly] enabled is
 * false.  Alerts are logged; @func (if set) also gets every event. */
CrierAnomalyEngine    *crier_metrics_get_anomaly    (CrierMetrics           *metrics);
void                   crier_metrics_set_alert_func (CrierMetrics           *metrics,
                                                     CrierAlertFunc          func,
                                                     gpointer                user_data);

/* Reads the resident set size (bytes) and CPU time (seconds) of this
 * process from /proc/self; FALSE when /proc is not there. */
gboolean               crier_metrics_read_process   (gint64                 *rss_bytes,
                                                     double                 *cpu_seconds);

G_END_DECLS
