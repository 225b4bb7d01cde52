/* crier-metrics.c: the 1 Hz metrics sample (see the header).
 *
 * Key functions: crier_metrics_tick (loop lag, once-per-second sampling),
 * take_sample (every counter into one CrierAdminStats, rates from the
 * deltas since the previous sample), feed_anomaly (the detectors and rules
 * of [anomaly]), crier_metrics_to_prometheus (text exposition).
 *
 * Sources: the engine's counters (connections by transport, connects,
 * disconnects by reason, bytes, evictions), the listener budget
 * (refusals, accept errors), the hub (publications, deliveries, latency,
 * channels, subscriptions, sessions), the broker (health, history memory),
 * the client protocol (bad frames, token and error replies), the server
 * API (rejections by reason) and /proc/self (RSS, CPU).  Admin connections
 * run on the same engine; their share is subtracted so the figures describe
 * clients only.
 */
#include "config.h"

#include "crier-metrics.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "crier-api.h"
#include "crier-histogram.h"
#include "crier-hub.h"
#include "crier-listener.h"
#include "crier-log.h"
#include "crier-series.h"
#include "crier-server.h"

#define TICK_INTERVAL_US   (100 * 1000)   /* the server tick */
#define SAMPLE_INTERVAL_US G_USEC_PER_SEC
/* Memory per connection means little with a handful of connections. */
#define RSS_PER_CONN_MIN_CONNECTIONS 100

/* Centrifugo's error replies (code - 100), as rejection reasons. */
static const char * const reply_error_names[] = {
  "internal", "unauthorized", "unknown_channel", "permission_denied",
  "method_not_found", "already_subscribed", "limit_exceeded", "bad_request",
  "not_available", "token_expired", "expired", "too_many_requests",
  "unrecoverable",
};

/* The counters a sample is a difference of. */
typedef struct
{
  guint64 adopted;
  guint64 closed[CRIER_CLOSE_N_REASONS];
  guint64 bytes_in;
  guint64 bytes_out;
  guint64 publishes;
  guint64 deliveries;
  guint64 latency_sum_us;
  guint64 latency_count;
  guint64 bad_frames;
  guint64 refused_cap;
  guint64 accept_errors;
  guint64 invalid_tokens;
  guint64 expired_tokens;
  guint64 reply_errors[G_N_ELEMENTS (reply_error_names)];
  guint64 api_rejected[CRIER_API_REJECT_N];
  guint64 limits[CRIER_LIMIT_N];
  double  cpu_seconds;
  CrierHistogram latency;
} Counters;

/* Metrics names in the anomaly engine: the series names, so that alerts
 * and graphs match. */
typedef enum
{
  A_CONNECTS,
  A_DISCONNECTS,
  A_PUBLISHES,
  A_DELIVERIES,
  A_LATENCY,
  A_REJECTIONS,
  A_PROTOCOL_ERRORS,
  A_RSS_PER_CONN,
  A_BROKER,
  A_BROKER_RTT,
  A_EVICTIONS,
  A_REFUSALS,
  A_N
} AnomalyMetric;

struct _CrierMetrics
{
  CrierServer        *server;
  const CrierCfStats *cf;

  gint64              last_tick_us;
  gint64              worst_lag_us;     /* since the previous sample */
  gint64              next_sample_us;
  gint64              last_sample_us;   /* 0 before the first */
  gint64              started_wall_ms;

  Counters            prev;
  CrierAdminStats    *last;
  CrierSeries       **series;           /* one per crier_admin_stats_get_series() */
  guint               n_series;

  CrierAnomalyEngine *anomaly;
  guint               anomaly_index[A_N];
  CrierAlertFunc      alert_func;
  gpointer            alert_data;
};

/* ---- /proc/self ---------------------------------------------------------- */

gboolean
crier_metrics_read_process (gint64 *rss_bytes,
                            double *cpu_seconds)
{
  g_autofree char *statm = NULL;
  g_autofree char *stat = NULL;
  gboolean ok = TRUE;

  if (rss_bytes != NULL)
    {
      *rss_bytes = 0;
      if (g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL))
        {
          char *p = strchr (statm, ' ');

          if (p != NULL)
            *rss_bytes = g_ascii_strtoll (p + 1, NULL, 10) * (gint64) sysconf (_SC_PAGESIZE);
          else
            ok = FALSE;
        }
      else
        ok = FALSE;
    }

  if (cpu_seconds != NULL)
    {
      *cpu_seconds = 0;
      /* Fields after "(comm)": state is field 3, utime 14, stime 15. */
      if (g_file_get_contents ("/proc/self/stat", &stat, NULL, NULL) && strrchr (stat, ')') != NULL)
        {
          g_auto(GStrv) fields = g_strsplit (strrchr (stat, ')') + 2, " ", 16);
          long ticks = sysconf (_SC_CLK_TCK);

          if (g_strv_length (fields) >= 13 && ticks > 0)
            *cpu_seconds = (double) (g_ascii_strtoull (fields[11], NULL, 10) +
                                     g_ascii_strtoull (fields[12], NULL, 10)) / (double) ticks;
          else
            ok = FALSE;
        }
      else
        ok = FALSE;
    }

  return ok;
}

/* ---- anomaly ------------------------------------------------------------- */

static void
on_alert (CrierAlertEvent   event,
          const CrierAlert *alert,
          gpointer          user_data)
{
  CrierMetrics *self = user_data;

  switch (event)
    {
    case CRIER_ALERT_RAISED:
      g_warning ("alert #%" G_GUINT64_FORMAT " raised (%s): %s", alert->id,
                 crier_alert_severity_to_string (alert->severity), alert->explanation);
      break;
    case CRIER_ALERT_UPDATED:
      g_warning ("alert #%" G_GUINT64_FORMAT " escalated (%s): %s", alert->id,
                 crier_alert_severity_to_string (alert->severity), alert->explanation);
      break;
    case CRIER_ALERT_RESOLVED:
      g_message ("alert #%" G_GUINT64_FORMAT " resolved after %" G_GINT64_FORMAT " s: %s",
                 alert->id, (alert->end_time - alert->start_time) / 1000, alert->explanation);
      break;
    }

  if (self->alert_func != NULL)
    self->alert_func (event, alert, self->alert_data);
}

static void
tune (CrierDetectorConfig *dc,
      const CrierConfig   *config,
      guint                warmup)
{
  double scale = 100.0 / (double) config->anomaly_sensitivity;

  dc->warmup = warmup;
  dc->spike_sigma = (double) config->anomaly_spike_sigma * scale;
  dc->drop_sigma *= scale;
  dc->drift_sigma *= scale;
  dc->burst_sigma *= scale;
  dc->burst_min_count = (double) config->anomaly_burst_min_count;
  dc->drop_ratio = (double) config->anomaly_drop_percent / 100.0;
  dc->drift_rel = (double) config->anomaly_drift_percent / 100.0;
}

static void
setup_anomaly (CrierMetrics      *self,
               const CrierConfig *config)
{
  static const struct
  {
    AnomalyMetric      metric;
    const char        *name;
    CrierMetricProfile profile;
  } detectors[] = {
    { A_CONNECTS, "connects_per_s", CRIER_METRIC_RATE },
    { A_DISCONNECTS, "disconnects_per_s", CRIER_METRIC_RATE },
    { A_PUBLISHES, "publishes_per_s", CRIER_METRIC_RATE },
    { A_DELIVERIES, "deliveries_per_s", CRIER_METRIC_RATE },
    { A_LATENCY, "latency_p99_ms", CRIER_METRIC_LATENCY },
    { A_REJECTIONS, "rejections_per_s", CRIER_METRIC_ERRORS },
    { A_PROTOCOL_ERRORS, "protocol_errors_per_s", CRIER_METRIC_ERRORS },
    { A_RSS_PER_CONN, "rss_per_connection", CRIER_METRIC_GAUGE },
    /* The Redis probe: spikes and drift of the broker round trip. */
    { A_BROKER_RTT, "broker_rtt_ms", CRIER_METRIC_LATENCY },
  };
  /* Always-bad states: no learning, at once. */
  static const CrierRuleConfig broker_down = { CRIER_RULE_LT, 1, CRIER_SEVERITY_CRITICAL, 1, 5 };
  static const CrierRuleConfig evictions = { CRIER_RULE_GT, 0, CRIER_SEVERITY_WARNING, 1, 10 };
  static const CrierRuleConfig refusals = { CRIER_RULE_GT, 0, CRIER_SEVERITY_WARNING, 1, 10 };
  guint warmup = (guint) (config->anomaly_warmup / 1000);

  if (!config->anomaly_enabled)
    return;

  self->anomaly = crier_anomaly_engine_new ();
  for (guint i = 0; i < G_N_ELEMENTS (detectors); i++)
    {
      CrierDetectorConfig dc;

      crier_detector_config_init (&dc, detectors[i].profile);
      tune (&dc, config, detectors[i].profile == CRIER_METRIC_GAUGE ? 2 * warmup : warmup);
      self->anomaly_index[detectors[i].metric] =
        crier_anomaly_engine_add_metric (self->anomaly, detectors[i].name, &dc);
    }
  self->anomaly_index[A_BROKER] = crier_anomaly_engine_add_metric (self->anomaly, "broker_up", NULL);
  self->anomaly_index[A_EVICTIONS] = crier_anomaly_engine_add_metric (self->anomaly, "evictions_per_s", NULL);
  self->anomaly_index[A_REFUSALS] = crier_anomaly_engine_add_metric (self->anomaly, "refusals_per_s", NULL);
  crier_anomaly_engine_set_rule (self->anomaly, self->anomaly_index[A_BROKER], &broker_down);
  crier_anomaly_engine_set_rule (self->anomaly, self->anomaly_index[A_EVICTIONS], &evictions);
  crier_anomaly_engine_set_rule (self->anomaly, self->anomaly_index[A_REFUSALS], &refusals);
  if (config->anomaly_latency_limit > 0)
    {
      CrierRuleConfig latency = {
        CRIER_RULE_GT, (double) config->anomaly_latency_limit, CRIER_SEVERITY_CRITICAL, 3, 10
      };

      crier_anomaly_engine_set_rule (self->anomaly, self->anomaly_index[A_LATENCY], &latency);
    }

  crier_alert_tracker_set_func (crier_anomaly_engine_get_tracker (self->anomaly), on_alert, self, NULL);
}

static void
feed_anomaly (CrierMetrics    *self,
              CrierAdminStats *s)
{
  const double values[A_N] = {
    [A_CONNECTS] = s->connects_per_s,
    [A_DISCONNECTS] = s->disconnects_per_s,
    [A_PUBLISHES] = s->publishes_per_s,
    [A_DELIVERIES] = s->deliveries_per_s,
    [A_LATENCY] = isfinite (s->latency_p99_ms) ? s->latency_p99_ms : s->latency_mean_ms,
    [A_REJECTIONS] = s->rejections_per_s,
    [A_PROTOCOL_ERRORS] = s->protocol_errors_per_s,
    [A_RSS_PER_CONN] = s->connections >= RSS_PER_CONN_MIN_CONNECTIONS ? s->rss_per_connection : NAN,
    [A_BROKER] = s->broker_up,
    [A_BROKER_RTT] = s->broker_rtt_ms,
    [A_EVICTIONS] = s->evictions_per_s,
    [A_REFUSALS] = s->refusals_per_s,
  };

  if (self->anomaly == NULL)
    return;

  for (guint i = 0; i < A_N; i++)
    crier_anomaly_engine_push (self->anomaly, self->anomaly_index[i], s->timestamp, values[i]);
  s->alerts_active = crier_alert_tracker_get_n_active (crier_anomaly_engine_get_tracker (self->anomaly));
}

CrierAnomalyEngine *
crier_metrics_get_anomaly (CrierMetrics *self)
{
  return self->anomaly;
}

void
crier_metrics_set_alert_func (CrierMetrics  *self,
                              CrierAlertFunc func,
                              gpointer       user_data)
{
  self->alert_func = func;
  self->alert_data = user_data;
}

/* ---- sampling ------------------------------------------------------------ */

CrierMetrics *
crier_metrics_new (CrierServer        *server,
                   const CrierCfStats *cf_stats)
{
  CrierMetrics *self = g_new0 (CrierMetrics, 1);

  self->server = server;
  self->cf = cf_stats;
  self->started_wall_ms = g_get_real_time () / 1000;
  self->last = crier_admin_stats_new ();

  crier_admin_stats_get_series (&self->n_series);
  self->series = g_new0 (CrierSeries *, self->n_series);
  for (guint i = 0; i < self->n_series; i++)
    self->series[i] = crier_series_new (CRIER_ADMIN_HISTORY_SAMPLES);

  setup_anomaly (self, crier_server_get_config (server));
  return self;
}

void
crier_metrics_free (CrierMetrics *self)
{
  if (self == NULL)
    return;

  for (guint i = 0; i < self->n_series; i++)
    crier_series_free (self->series[i]);
  g_free (self->series);
  g_clear_pointer (&self->anomaly, crier_anomaly_engine_free);
  crier_admin_stats_free (self->last);
  g_free (self);
}

typedef struct
{
  GHashTable *by_name;   /* const char* (class name) -> count */
  guint       total;
} ConnCount;

static void
count_conn (CrierConn *conn,
            gpointer   user_data)
{
  ConnCount *c = user_data;
  const char *name = conn->klass->name != NULL ? conn->klass->name : "other";

  g_hash_table_insert (c->by_name, (gpointer) name,
                       GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (c->by_name, name)) + 1));
  c->total++;
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return g_strcmp0 (*(const char * const *) a, *(const char * const *) b);
}

static guint64
delta (guint64 now,
       guint64 before)
{
  /* Counters only grow; a reset starts again from the value now. */
  return now >= before ? now - before : now;
}

static double
per_s (guint64 d,
       double  interval)
{
  return interval > 0 ? (double) d / interval : 0;
}

static const CrierHistogram *
hub_latency_histogram (const CrierHubStats *stats)
{
  return &stats->latency;
}

static void
read_counters (CrierMetrics                 *self,
               const CrierMetricsAdminUsage *admin,
               Counters                     *c)
{
  CrierEngine *engine = crier_server_get_engine (self->server);
  const CrierEngineStats *es = crier_engine_get_stats (engine);
  const CrierHubStats *hs = crier_hub_get_stats (crier_server_get_hub (self->server));
  CrierConnBudget *budget = crier_server_get_budget (self->server);
  const CrierApiStats *api = crier_api_get_stats (self->server);
  const CrierHistogram *latency = hub_latency_histogram (hs);

  memset (c, 0, sizeof *c);
  c->adopted = es->adopted - MIN (admin->adopted, es->adopted);
  for (guint i = 0; i < CRIER_CLOSE_N_REASONS; i++)
    c->closed[i] = es->closed[i] - MIN (admin->closed[i], es->closed[i]);
  c->bytes_in = es->bytes_in - MIN (admin->bytes_in, es->bytes_in);
  c->bytes_out = es->bytes_out - MIN (admin->bytes_out, es->bytes_out);
  c->publishes = hs->publishes;
  c->deliveries = hs->deliveries;
  c->latency_sum_us = hs->latency_sum_us;
  c->latency_count = hs->latency_count;
  if (latency != NULL)
    c->latency = *latency;
  if (self->cf != NULL)
    {
      c->bad_frames = self->cf->bad_frames;
      c->invalid_tokens = self->cf->invalid_tokens;
      c->expired_tokens = self->cf->expired_tokens;
      for (guint i = 0; i < G_N_ELEMENTS (reply_error_names); i++)
        c->reply_errors[i] = self->cf->replies_error[i];
    }
  if (budget != NULL)
    {
      c->refused_cap = budget->refused_cap;
      c->accept_errors = budget->accept_errors;
    }
  if (api != NULL)
    for (guint i = 0; i < CRIER_API_REJECT_N; i++)
      c->api_rejected[i] = api->rejected[i];
  for (guint i = 0; i < CRIER_LIMIT_N; i++)
    c->limits[i] = crier_server_get_limit_stats (self->server)->refused[i];
  crier_metrics_read_process (NULL, &c->cpu_seconds);
}

static void
take_sample (CrierMetrics                 *self,
             gint64                        now_us,
             const CrierMetricsAdminUsage *admin)
{
  static const CrierMetricsAdminUsage no_admin = { 0 };
  g_autoptr(CrierAdminStats) s = crier_admin_stats_new ();
  g_autoptr(GHashTable) by_name = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  CrierServer *server = self->server;
  CrierEngine *engine = crier_server_get_engine (server);
  const CrierHubStats *hs = crier_hub_get_stats (crier_server_get_hub (server));
  CrierBroker *broker = crier_hub_get_broker (crier_server_get_hub (server));
  ConnCount count = { by_name, 0 };
  Counters now;
  Counters *prev = &self->prev;
  CrierHistogram window;
  gboolean first = self->last_sample_us == 0;
  double interval;
  gint64 rss = 0;
  guint64 d;
  guint64 closed_total = 0;
  guint64 closed_delta = 0;
  guint64 rejections_delta = 0;
  guint64 rejections_total = 0;

  if (admin == NULL)
    admin = &no_admin;

  read_counters (self, admin, &now);
  interval = first ? 0 : (double) (now_us - self->last_sample_us) / G_USEC_PER_SEC;

  s->timestamp = g_get_real_time () / 1000;
  s->interval = interval;
  s->uptime = crier_server_get_uptime (server);

  /* Connections by transport, admin ones left out. */
  crier_engine_foreach (engine, count_conn, &count);
  if (admin->connections > 0)
    {
      guint ws = GPOINTER_TO_UINT (g_hash_table_lookup (by_name, "websocket"));

      ws -= MIN (ws, admin->connections);
      if (ws > 0)
        g_hash_table_insert (by_name, (gpointer) "websocket", GUINT_TO_POINTER (ws));
      else
        g_hash_table_remove (by_name, "websocket");
    }
  {
    GHashTableIter iter;
    gpointer key;

    g_hash_table_iter_init (&iter, by_name);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      g_ptr_array_add (names, key);
    g_ptr_array_sort (names, compare_names);
    for (guint i = 0; i < names->len; i++)
      {
        guint n = GPOINTER_TO_UINT (g_hash_table_lookup (by_name, names->pdata[i]));

        crier_admin_labelled_set (s->transports, names->pdata[i], n, n);
      }
  }
  s->connections = count.total - MIN (count.total, admin->connections);
  s->admin_connections = admin->connections;
  s->sessions = hs->sessions;
  s->channels = hs->channels;
  s->subscriptions = hs->subscriptions;

  /* Broker. */
  s->broker_up = (broker->vtable->is_healthy == NULL || broker->vtable->is_healthy (broker)) ? 1 : 0;
  /* Down includes a failed probe (is_healthy), so broker_up raises the
   * critical alert for both; the round trip feeds a latency detector. */
  if (g_strcmp0 (broker->vtable->name, "redis") == 0)
    {
      gint64 rtt = crier_broker_redis_get_rtt_us (broker);

      s->broker_rtt_ms = rtt >= 0 ? (double) rtt / 1000.0 : NAN;
    }
  if (broker->vtable->memory_bytes != NULL)
    {
      gint64 bytes = broker->vtable->memory_bytes (broker);

      s->history_bytes = bytes >= 0 ? (double) bytes : NAN;
    }

  /* Process. */
  crier_metrics_read_process (&rss, NULL);
  s->rss_bytes = (double) rss;
  s->rss_per_connection = (double) rss / MAX (s->connections, 1);
  s->cpu_seconds_total = now.cpu_seconds;
  s->cpu_percent = interval > 0 ? 100.0 * (now.cpu_seconds - prev->cpu_seconds) / interval : 0;
  s->cpu_percent = MAX (s->cpu_percent, 0);
  s->loop_lag_ms = (double) self->worst_lag_us / 1000.0;

  /* Connects and disconnects by reason. */
  d = first ? 0 : delta (now.adopted, prev->adopted);
  s->connects_per_s = per_s (d, interval);
  s->connects_total = now.adopted;
  for (guint i = 0; i < CRIER_CLOSE_N_REASONS; i++)
    {
      guint64 di = first ? 0 : delta (now.closed[i], prev->closed[i]);

      crier_admin_labelled_set (s->disconnect_reasons, crier_close_reason_to_string ((CrierCloseReason) i),
                                per_s (di, interval), now.closed[i]);
      closed_total += now.closed[i];
      closed_delta += di;
    }
  s->disconnects_per_s = per_s (closed_delta, interval);
  s->disconnects_total = closed_total;
  d = first ? 0 : delta (now.closed[CRIER_CLOSE_SLOW], prev->closed[CRIER_CLOSE_SLOW]);
  s->evictions_per_s = per_s (d, interval);
  s->evictions_total = now.closed[CRIER_CLOSE_SLOW];

  /* Traffic. */
  d = first ? 0 : delta (now.publishes, prev->publishes);
  s->publishes_per_s = per_s (d, interval);
  s->publications_total = now.publishes;
  d = first ? 0 : delta (now.deliveries, prev->deliveries);
  s->deliveries_per_s = per_s (d, interval);
  s->deliveries_total = now.deliveries;
  d = first ? 0 : delta (now.bytes_in, prev->bytes_in);
  s->bytes_in_per_s = per_s (d, interval);
  s->bytes_in_total = now.bytes_in;
  d = first ? 0 : delta (now.bytes_out, prev->bytes_out);
  s->bytes_out_per_s = per_s (d, interval);
  s->bytes_out_total = now.bytes_out;

  /* Latency over the interval. */
  d = first ? 0 : delta (now.latency_count, prev->latency_count);
  if (d > 0)
    s->latency_mean_ms = (double) delta (now.latency_sum_us, prev->latency_sum_us) / (double) d / 1000.0;
  crier_histogram_delta (&now.latency, first ? NULL : &prev->latency, &window);
  s->latency_p50_ms = crier_histogram_quantile (&window, 0.50) / 1000.0;
  s->latency_p99_ms = crier_histogram_quantile (&window, 0.99) / 1000.0;
  s->latency_sum_seconds = (double) now.latency_sum_us / G_USEC_PER_SEC;
  s->latency_count = now.latency_count;

  /* Rejections by reason; protocol errors. */
#define REJECTION(name, field)                                             \
  G_STMT_START {                                                           \
    guint64 _d = first ? 0 : delta (now.field, prev->field);               \
    crier_admin_labelled_set (s->rejection_reasons, (name),                \
                              per_s (_d, interval), now.field);            \
    rejections_delta += _d;                                                \
    rejections_total += now.field;                                         \
  } G_STMT_END
  REJECTION ("listener_cap", refused_cap);
  REJECTION ("accept_error", accept_errors);
  REJECTION ("bad_frame", bad_frames);
  REJECTION ("invalid_token", invalid_tokens);
  REJECTION ("expired_token", expired_tokens);
  for (guint i = 0; i < G_N_ELEMENTS (reply_error_names); i++)
    {
      g_autofree char *name = g_strconcat ("reply_", reply_error_names[i], NULL);

      REJECTION (name, reply_errors[i]);
    }
  for (guint i = 0; i < CRIER_API_REJECT_N; i++)
    {
      g_autofree char *name = g_strconcat ("api_", crier_api_reject_to_string ((CrierApiReject) i), NULL);

      REJECTION (name, api_rejected[i]);
    }
  /* [limits]: crier-limits.h */
  for (guint i = 0; i < CRIER_LIMIT_N; i++)
    {
      g_autofree char *name = g_strconcat ("limit_", crier_limit_reason_to_string ((CrierLimitReason) i), NULL);

      REJECTION (name, limits[i]);
    }
#undef REJECTION
  s->rejections_per_s = per_s (rejections_delta, interval);
  s->rejections_total = rejections_total;

  /* Connections closed for a protocol violation (bad framing, bad UTF-8,
   * oversized messages, a client protocol error that disconnects);
   * refused commands are rejections. */
  d = first ? 0 : delta (now.closed[CRIER_CLOSE_PROTOCOL], prev->closed[CRIER_CLOSE_PROTOCOL]);
  s->protocol_errors_per_s = per_s (d, interval);
  s->protocol_errors_total = now.closed[CRIER_CLOSE_PROTOCOL];

  d = first ? 0 : delta (now.refused_cap, prev->refused_cap);
  s->refusals_per_s = per_s (d, interval);
  s->refusals_total = now.refused_cap;

  /* The first sample has no interval: nothing to learn from it. */
  if (!first)
    feed_anomaly (self, s);
  else if (self->anomaly != NULL)
    s->alerts_active = crier_alert_tracker_get_n_active (crier_anomaly_engine_get_tracker (self->anomaly));

  for (guint i = 0; i < self->n_series; i++)
    crier_series_push (self->series[i], s->timestamp, crier_admin_stats_get_value (s, i));

  self->prev = now;
  self->last_sample_us = now_us;
  self->worst_lag_us = 0;
  crier_admin_stats_free (self->last);
  self->last = g_steal_pointer (&s);
}

void
crier_metrics_sample (CrierMetrics                 *self,
                      gint64                        now_us,
                      const CrierMetricsAdminUsage *admin)
{
  g_return_if_fail (self != NULL);

  take_sample (self, now_us, admin);
  self->next_sample_us = now_us + SAMPLE_INTERVAL_US;
}

gboolean
crier_metrics_tick (CrierMetrics                 *self,
                    gint64                        now_us,
                    const CrierMetricsAdminUsage *admin)
{
  g_return_val_if_fail (self != NULL, FALSE);

  if (self->last_tick_us > 0)
    {
      gint64 late = now_us - self->last_tick_us - TICK_INTERVAL_US;

      self->worst_lag_us = MAX (self->worst_lag_us, late);
    }
  self->last_tick_us = now_us;

  if (self->next_sample_us == 0)
    {
      crier_metrics_sample (self, now_us, admin);
      return TRUE;
    }
  if (now_us < self->next_sample_us)
    return FALSE;

  take_sample (self, now_us, admin);
  /* Keep a steady 1 Hz grid; after a stall start a fresh one. */
  self->next_sample_us += SAMPLE_INTERVAL_US;
  if (self->next_sample_us <= now_us)
    self->next_sample_us = now_us + SAMPLE_INTERVAL_US;
  return TRUE;
}

const CrierAdminStats *
crier_metrics_get_last (CrierMetrics *self)
{
  return self->last;
}

CrierAdminHistory *
crier_metrics_get_history (CrierMetrics *self,
                           char        **names,
                           gint64        since)
{
  const CrierAdminSeriesInfo *info;
  CrierAdminHistory *history;
  g_autofree double *values = NULL;
  guint n_series;
  guint n;

  info = crier_admin_stats_get_series (&n_series);
  n = since > 0 ? crier_series_count_since (self->series[0], since)
                : crier_series_get_length (self->series[0]);
  history = crier_admin_history_new (n);
  crier_series_copy (self->series[0], n, history->timestamps, NULL);
  values = g_new (double, MAX (n, 1));
  for (guint i = 0; i < n_series; i++)
    {
      if (names != NULL && !g_strv_contains ((const char * const *) names, info[i].name))
        continue;
      crier_series_copy (self->series[i], n, NULL, values);
      crier_admin_history_add (history, info[i].name, values);
    }
  return history;
}

/* ---- Prometheus ---------------------------------------------------------- */

static void
append_value (GString *out,
              double   v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (isnan (v))
    g_string_append (out, "NaN");
  else if (isinf (v))
    g_string_append (out, v > 0 ? "+Inf" : "-Inf");
  else if (v == floor (v) && fabs (v) < 1e15)
    g_string_append_printf (out, "%" G_GINT64_FORMAT, (gint64) v);
  else
    g_string_append (out, g_ascii_dtostr (buf, sizeof buf, v));
}

static void
append_label_value (GString    *out,
                    const char *value)
{
  for (const char *p = value; *p != '\0'; p++)
    {
      if (*p == '\\')
        g_string_append (out, "\\\\");
      else if (*p == '"')
        g_string_append (out, "\\\"");
      else if (*p == '\n')
        g_string_append (out, "\\n");
      else
        g_string_append_c (out, *p);
    }
}

static void
family (GString    *out,
        const char *name,
        const char *type,
        const char *help)
{
  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
sample (GString    *out,
        const char *name,
        const char *label,
        const char *label_value,
        double      v)
{
  g_string_append (out, name);
  if (label != NULL)
    {
      g_string_append_printf (out, "{%s=\"", label);
      append_label_value (out, label_value);
      g_string_append (out, "\"}");
    }
  g_string_append_c (out, ' ');
  append_value (out, v);
  g_string_append_c (out, '\n');
}

static void
counter_u64 (GString    *out,
             const char *name,
             const char *help,
             guint64     v)
{
  family (out, name, "counter", help);
  g_string_append_printf (out, "%s %" G_GUINT64_FORMAT "\n", name, v);
}

static void
gauge (GString    *out,
       const char *name,
       const char *help,
       double      v)
{
  family (out, name, "gauge", help);
  sample (out, name, NULL, NULL, v);
}

static void
labelled_counter (GString      *out,
                  const char   *name,
                  const char   *help,
                  const char   *label,
                  const GArray *array)
{
  family (out, name, "counter", help);
  for (guint i = 0; i < array->len; i++)
    {
      const CrierAdminLabelled *l = &g_array_index (array, CrierAdminLabelled, i);

      g_string_append (out, name);
      g_string_append_printf (out, "{%s=\"", label);
      append_label_value (out, l->name);
      g_string_append_printf (out, "\"} %" G_GUINT64_FORMAT "\n", l->total);
    }
}

char *
crier_metrics_to_prometheus (CrierMetrics *self)
{
  const CrierAdminStats *s = self->last;
  GString *out = g_string_sized_new (8192);

  family (out, "crier_info", "gauge", "Version and node name of this crierd.");
  g_string_append (out, "crier_info{version=\"");
  append_label_value (out, PACKAGE_VERSION);
  g_string_append (out, "\",node=\"");
  append_label_value (out, crier_server_get_node_name (self->server));
  g_string_append (out, "\"} 1\n");
  gauge (out, "crier_uptime_seconds", "Seconds since crierd started listening.", (double) s->uptime);

  family (out, "crier_connections", "gauge", "Client connections open now, by transport.");
  for (guint i = 0; i < s->transports->len; i++)
    {
      const CrierAdminLabelled *l = &g_array_index (s->transports, CrierAdminLabelled, i);

      sample (out, "crier_connections", "transport", l->name, (double) l->total);
    }
  gauge (out, "crier_sessions", "Connected client sessions (after the protocol's connect).", s->sessions);
  gauge (out, "crier_admin_connections", "Admin protocol connections open now.", s->admin_connections);
  counter_u64 (out, "crier_connects_total", "Client connections opened.", s->connects_total);
  labelled_counter (out, "crier_disconnects_total", "Client connections closed, by reason.",
                    "reason", s->disconnect_reasons);
  counter_u64 (out, "crier_publications_total", "Publications accepted.", s->publications_total);
  counter_u64 (out, "crier_deliveries_total", "Publications handed to subscribers' connections.",
               s->deliveries_total);
  counter_u64 (out, "crier_bytes_received_total", "Bytes received from clients.", s->bytes_in_total);
  counter_u64 (out, "crier_bytes_sent_total", "Bytes sent to clients.", s->bytes_out_total);

  family (out, "crier_delivery_latency_seconds", "summary",
          "Publish to delivery latency; quantiles over the last second.");
  g_string_append (out, "crier_delivery_latency_seconds{quantile=\"0.5\"} ");
  append_value (out, s->latency_p50_ms / 1000.0);
  g_string_append (out, "\ncrier_delivery_latency_seconds{quantile=\"0.99\"} ");
  append_value (out, s->latency_p99_ms / 1000.0);
  g_string_append (out, "\ncrier_delivery_latency_seconds_sum ");
  append_value (out, s->latency_sum_seconds);
  g_string_append_printf (out, "\ncrier_delivery_latency_seconds_count %" G_GUINT64_FORMAT "\n",
                          s->latency_count);

  counter_u64 (out, "crier_evictions_total", "Slow consumers disconnected (outbound limits).",
               s->evictions_total);
  labelled_counter (out, "crier_rejections_total", "Requests and connections refused, by reason.",
                    "reason", s->rejection_reasons);
  counter_u64 (out, "crier_protocol_errors_total", "Client connections closed for a protocol violation.",
               s->protocol_errors_total);
  counter_u64 (out, "crier_log_lines_dropped_total",
               "Log lines dropped because stderr could not take them (stalled pipe, full disk).",
               crier_log_get_dropped ());
  gauge (out, "crier_channels", "Channels with subscribers on this node.", s->channels);
  gauge (out, "crier_subscriptions", "Subscriptions on this node.", s->subscriptions);
  gauge (out, "crier_history_bytes", "Memory held by channel history in the broker.", s->history_bytes);
  gauge (out, "crier_loop_lag_seconds", "Worst lateness of the 100 ms server tick in the last second.",
         s->loop_lag_ms / 1000.0);
  gauge (out, "crier_broker_up", "Whether the broker is healthy (1) or not (0).", s->broker_up);
  gauge (out, "crier_broker_rtt_seconds", "Round trip of the Redis broker probe.",
         s->broker_rtt_ms / 1000.0);
  gauge (out, "crier_alerts_active", "Anomaly alerts active now.", s->alerts_active);

  gauge (out, "process_resident_memory_bytes", "Resident memory size in bytes.", s->rss_bytes);
  family (out, "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.");
  sample (out, "process_cpu_seconds_total", NULL, NULL, s->cpu_seconds_total);
  gauge (out, "process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.",
         (double) (self->started_wall_ms / 1000));

  return g_string_free (out, FALSE);
}
