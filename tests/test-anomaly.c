/* test-anomaly.c: detectors, alert tracker, engine, CSV mode, and the
 * labelled-trace evaluation that docs/anomaly-detection.md quotes. */
#include "config.h"

#include "crier-anomaly.h"

#include <math.h>
#include <string.h>

#define T0_MS G_GINT64_CONSTANT (1700000000000)

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

typedef struct
{
  GPtrArray *raised;     /* CrierAlert copies */
  GPtrArray *resolved;
  guint      n_updated;
} Events;

static void
events_cb (CrierAlertEvent   event,
           const CrierAlert *alert,
           gpointer          user_data)
{
  Events *ev = user_data;

  g_assert_nonnull (alert->metric);
  g_assert_nonnull (alert->explanation);

  switch (event)
    {
    case CRIER_ALERT_RAISED:
      g_assert_cmpint (alert->end_time, ==, 0);
      g_ptr_array_add (ev->raised, crier_alert_copy (alert));
      break;
    case CRIER_ALERT_UPDATED:
      ev->n_updated++;
      break;
    case CRIER_ALERT_RESOLVED:
      g_assert_cmpint (alert->end_time, >=, alert->start_time);
      g_assert_cmpint (alert->end_time, !=, 0);
      g_ptr_array_add (ev->resolved, crier_alert_copy (alert));
      break;
    default:
      g_assert_not_reached ();
    }
}

static void
events_init (Events *ev)
{
  ev->raised = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_alert_free);
  ev->resolved = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_alert_free);
  ev->n_updated = 0;
}

static void
events_clear (Events *ev)
{
  g_clear_pointer (&ev->raised, g_ptr_array_unref);
  g_clear_pointer (&ev->resolved, g_ptr_array_unref);
}

static CrierAnomalyEngine *
engine_with_events (Events *ev)
{
  CrierAnomalyEngine *engine = crier_anomaly_engine_new ();

  events_init (ev);
  crier_alert_tracker_set_func (crier_anomaly_engine_get_tracker (engine), events_cb, ev, NULL);

  return engine;
}

static double
gaussian (GRand *rand)
{
  /* Box-Muller; 1 - u keeps the logarithm finite. */
  double u = 1.0 - g_rand_double (rand);
  double v = g_rand_double (rand);

  return sqrt (-2.0 * log (u)) * cos (2.0 * G_PI * v);
}

static double
poisson (GRand  *rand,
         double  lambda)
{
  if (lambda <= 0.0)
    return 0.0;

  if (lambda > 30.0)
    return MAX (0.0, round (lambda + sqrt (lambda) * gaussian (rand)));

  {
    double limit = exp (-lambda);
    double p = g_rand_double (rand);
    double k = 0.0;

    while (p > limit)
      {
        p *= g_rand_double (rand);
        k++;
      }
    return k;
  }
}

/* Pushes @n samples of a stationary Poisson(@lambda) or N(@mean, @sd). */
static void
push_gaussian (CrierAnomalyEngine *engine,
               guint               metric,
               GRand              *rand,
               gint64             *t,
               guint               n,
               double              mean,
               double              sd)
{
  for (guint i = 0; i < n; i++, (*t)++)
    crier_anomaly_engine_push (engine, metric, T0_MS + *t * 1000, mean + sd * gaussian (rand));
}

/* ------------------------------------------------------------------------ */
/* Unit tests                                                               */

static void
test_config_defaults (void)
{
  CrierDetectorConfig c;

  crier_detector_config_init (&c, CRIER_METRIC_RATE);
  g_assert_cmpuint (c.detect, ==, CRIER_DETECT_SPIKE | CRIER_DETECT_DROP);
  g_assert_true (c.counts);
  g_assert_cmpuint (c.warmup, ==, 300);
  g_assert_cmpfloat (c.spike_sigma, ==, 6.0);
  g_assert_cmpuint (c.spike.raise_count, ==, 3);
  g_assert_cmpfloat (c.spike.clear_score, <, 1.0);

  crier_detector_config_init (&c, CRIER_METRIC_LATENCY);
  g_assert_cmpuint (c.detect, ==, CRIER_DETECT_SPIKE | CRIER_DETECT_DRIFT);
  g_assert_cmpuint (c.drift_direction, ==, CRIER_DRIFT_UP);

  crier_detector_config_init (&c, CRIER_METRIC_GAUGE);
  g_assert_cmpuint (c.detect, ==, CRIER_DETECT_DRIFT);

  crier_detector_config_init (&c, CRIER_METRIC_ERRORS);
  g_assert_cmpuint (c.detect, ==, CRIER_DETECT_BURST);

  g_assert_cmpstr (crier_alert_kind_to_string (CRIER_ALERT_SPIKE), ==, "spike");
  g_assert_cmpstr (crier_alert_kind_to_string (CRIER_ALERT_RULE), ==, "rule");
  g_assert_cmpstr (crier_alert_severity_to_string (CRIER_SEVERITY_CRITICAL), ==, "critical");
}

static void
test_warmup_silent (void)
{
  CrierDetectorConfig c;
  g_autoptr(CrierDetector) d = NULL;
  CrierDetectorResult r;

  crier_detector_config_init (&c, CRIER_METRIC_RATE);
  d = crier_detector_new (&c);

  for (guint i = 0; i < c.warmup; i++)
    {
      /* Wild values while learning: no score, no alert. */
      crier_detector_push (d, i % 50 == 49 ? 10000.0 : 10.0, &r);
      g_assert_cmpuint (r.raised, ==, 0);
      g_assert_cmpfloat (r.score, ==, 0.0);
      g_assert_false (crier_detector_is_warm (d));
    }
  crier_detector_push (d, 10.0, &r);
  g_assert_true (crier_detector_is_warm (d));
  g_assert_cmpfloat (r.expected, >, 5.0);
  g_assert_cmpfloat (r.expected, <, 200.0);
}

static void
test_spike_raise_resolve (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (1);
  g_autoptr(CrierAnomalyEngine) engine = NULL;
  CrierAlertTracker *tracker;
  CrierDetectorConfig c;
  const CrierAlert *a;
  Events ev;
  gint64 t = 0;
  guint m;

  engine = engine_with_events (&ev);
  crier_detector_config_init (&c, CRIER_METRIC_RATE);
  m = crier_anomaly_engine_add_metric (engine, "connects/s", &c);
  g_assert_cmpuint (m, ==, 0);
  g_assert_cmpint (crier_anomaly_engine_lookup (engine, "connects/s"), ==, 0);
  g_assert_cmpint (crier_anomaly_engine_lookup (engine, "nope"), ==, -1);
  g_assert_cmpstr (crier_anomaly_engine_get_name (engine, m), ==, "connects/s");

  for (; t < 600; t++)
    crier_anomaly_engine_push (engine, m, T0_MS + t * 1000, poisson (rand, 12.0));

  /* A single-sample blip is not a storm. */
  crier_anomaly_engine_push (engine, m, T0_MS + t++ * 1000, 500.0);
  g_assert_cmpfloat (crier_anomaly_engine_get_score (engine, m), >, 1.0);
  for (guint i = 0; i < 30; i++, t++)
    crier_anomaly_engine_push (engine, m, T0_MS + t * 1000, poisson (rand, 12.0));
  g_assert_cmpuint (ev.raised->len, ==, 0);

  /* A storm: raised on its third sample, once. */
  for (guint i = 0; i < 20; i++, t++)
    {
      crier_anomaly_engine_push (engine, m, T0_MS + t * 1000, 950.0);
      g_assert_cmpuint (ev.raised->len, ==, i >= 2 ? 1 : 0);
    }
  a = g_ptr_array_index (ev.raised, 0);
  g_assert_cmpstr (a->metric, ==, "connects/s");
  g_assert_cmpint (a->kind, ==, CRIER_ALERT_SPIKE);
  g_assert_cmpint (a->severity, ==, CRIER_SEVERITY_CRITICAL);
  g_assert_cmpint (a->start_time, ==, T0_MS + (t - 18) * 1000);
  g_assert_cmpfloat (a->observed, ==, 950.0);
  g_assert_cmpfloat (fabs (a->expected - 12.0), <, 2.0);
  g_assert_cmpfloat (a->score, >=, 2.0);
  g_test_message ("explanation: %s", a->explanation);
  g_assert_true (g_str_has_prefix (a->explanation, "connects/s 950 vs expected 1"));
  g_assert_nonnull (strstr (a->explanation, "(spike, "));
  g_assert_true (g_str_has_suffix (a->explanation, "σ)"));
  tracker = crier_anomaly_engine_get_tracker (engine);
  g_assert_cmpuint (crier_alert_tracker_get_n_active (tracker), ==, 1);
  g_assert_true (crier_detector_is_active (crier_anomaly_engine_get_detector (engine, m),
                                           CRIER_ALERT_SPIKE));

  /* The baseline did not learn the storm. */
  g_assert_cmpfloat (fabs (crier_anomaly_engine_get_expected (engine, m) - 12.0), <, 2.0);

  /* Hysteresis: 9 calm samples are not enough, the 10th resolves. */
  for (guint i = 0; i < 9; i++, t++)
    crier_anomaly_engine_push (engine, m, T0_MS + t * 1000, 12.0);
  g_assert_cmpuint (ev.resolved->len, ==, 0);
  crier_anomaly_engine_push (engine, m, T0_MS + t * 1000, 12.0);
  g_assert_cmpuint (ev.resolved->len, ==, 1);
  a = g_ptr_array_index (ev.resolved, 0);
  g_assert_cmpint (a->end_time, ==, T0_MS + t * 1000);
  g_assert_cmpuint (crier_alert_tracker_get_n_active (tracker), ==, 0);

  events_clear (&ev);
}

static void
test_spike_no_flap (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (2);
  g_autoptr(CrierAnomalyEngine) engine = NULL;
  CrierDetectorConfig c;
  Events ev;
  gint64 t = 0;
  guint m;

  engine = engine_with_events (&ev);
  crier_detector_config_init (&c, CRIER_METRIC_LATENCY);
  c.detect = CRIER_DETECT_SPIKE;
  m = crier_anomaly_engine_add_metric (engine, "latency_ms", &c);
  push_gaussian (engine, m, rand, &t, 600, 100.0, 5.0);

  /* Three samples far above the threshold, then alternating between that
   * and just below it (but above the clear mark): one alert, no flapping. */
  for (guint i = 0; i < 300; i++, t++)
    crier_anomaly_engine_push (engine, m, T0_MS + t * 1000, i < 3 || i % 2 ? 160.0 : 125.0);
  g_assert_cmpuint (ev.raised->len, ==, 1);
  g_assert_cmpuint (ev.resolved->len, ==, 0);

  push_gaussian (engine, m, rand, &t, 60, 100.0, 5.0);
  g_assert_cmpuint (ev.raised->len, ==, 1);
  g_assert_cmpuint (ev.resolved->len, ==, 1);

  events_clear (&ev);
}

static void
test_drop (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (3);
  g_autoptr(CrierAnomalyEngine) engine = NULL;
  CrierDetectorConfig c;
  const CrierAlert *a;
  Events ev;
  gint64 t = 0;
  guint m;

  engine = engine_with_events (&ev);
  crier_detector_config_init (&c, CRIER_METRIC_RATE);
  m = crier_anomaly_engine_add_metric (engine, "messages/s", &c);
  push_gaussian (engine, m, rand, &t, 900, 800.0, 60.0);

  /* Throughput collapses for five minutes, then recovers. */
  push_gaussian (engine, m, rand, &t, 300, 3.0, 1.0);
  g_assert_cmpuint (ev.raised->len, ==, 1);
  a = g_ptr_array_index (ev.raised, 0);
  g_assert_cmpint (a->kind, ==, CRIER_ALERT_DROP);
  g_assert_cmpint (a->start_time, ==, T0_MS + (900 + 7) * 1000);
  g_test_message ("explanation: %s", a->explanation);
  g_assert_nonnull (strstr (a->explanation, "(drop, "));

  /* The recovery is not a spike and resolves the drop. */
  push_gaussian (engine, m, rand, &t, 600, 800.0, 60.0);
  g_assert_cmpuint (ev.raised->len, ==, 1);
  g_assert_cmpuint (ev.resolved->len, ==, 1);

  events_clear (&ev);
}

static void
test_drift (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (4);
  g_autoptr(CrierAnomalyEngine) engine = NULL;
  CrierDetectorConfig c;
  const CrierAlert *a;
  Events ev;
  gint64 t = 0;
  guint m;

  engine = engine_with_events (&ev);
  crier_detector_config_init (&c, CRIER_METRIC_LATENCY);
  m = crier_anomaly_engine_add_metric (engine, "latency_ms", &c);
  push_gaussian (engine, m, rand, &t, 1800, 40.0, 4.0);
  g_assert_cmpuint (ev.raised->len, ==, 0);

  /* +1 %/min: raised within 20 minutes, as a drift only. */
  for (guint i = 0; i < 1200; i++, t++)
    crier_anomaly_engine_push (engine, m, T0_MS + t * 1000,
                               40.0 * (1.0 + 0.01 * i / 60.0) + 4.0 * gaussian (rand));
  g_assert_cmpuint (ev.raised->len, ==, 1);
  a = g_ptr_array_index (ev.raised, 0);
  g_assert_cmpint (a->kind, ==, CRIER_ALERT_DRIFT);
  g_assert_cmpfloat (a->observed, >, a->expected * 1.1);
  g_test_message ("explanation: %s", a->explanation);
  g_assert_nonnull (strstr (a->explanation, "(drift, +"));

  /* Fixed: latency returns to normal and the drift resolves. */
  push_gaussian (engine, m, rand, &t, 1800, 40.0, 4.0);
  g_assert_cmpuint (ev.raised->len, ==, 1);
  g_assert_cmpuint (ev.resolved->len, ==, 1);

  events_clear (&ev);
}

static void
test_burst (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (5);
  g_autoptr(CrierAnomalyEngine) engine = NULL;
  CrierDetectorConfig c;
  const CrierAlert *a;
  Events ev;
  gint64 t = 0;
  guint m;

  engine = engine_with_events (&ev);
  crier_detector_config_init (&c, CRIER_METRIC_ERRORS);
  m = crier_anomaly_engine_add_metric (engine, "errors/s", &c);
  for (; t < 900; t++)
    crier_anomaly_engine_push (engine, m, T0_MS + t * 1000, poisson (rand, 0.05));

  /* Lone blips of many errors are not bursts. */
  crier_anomaly_engine_push (engine, m, T0_MS + t++ * 1000, 40.0);
  crier_anomaly_engine_push (engine, m, T0_MS + t++ * 1000, 0.0);
  crier_anomaly_engine_push (engine, m, T0_MS + t++ * 1000, 0.0);
  crier_anomaly_engine_push (engine, m, T0_MS + t++ * 1000, 25.0);
  for (guint i = 0; i < 30; i++, t++)
    crier_anomaly_engine_push (engine, m, T0_MS + t * 1000, 0.0);
  g_assert_cmpuint (ev.raised->len, ==, 0);

  /* An intermittent burst: 3 of 5 samples above the threshold raise. */
  crier_anomaly_engine_push (engine, m, T0_MS + t++ * 1000, 12.0);
  crier_anomaly_engine_push (engine, m, T0_MS + t++ * 1000, 0.0);
  crier_anomaly_engine_push (engine, m, T0_MS + t++ * 1000, 9.0);
  g_assert_cmpuint (ev.raised->len, ==, 0);
  crier_anomaly_engine_push (engine, m, T0_MS + t++ * 1000, 15.0);
  g_assert_cmpuint (ev.raised->len, ==, 1);
  a = g_ptr_array_index (ev.raised, 0);
  g_assert_cmpint (a->kind, ==, CRIER_ALERT_BURST);
  g_test_message ("explanation: %s", a->explanation);
  g_assert_nonnull (strstr (a->explanation, "(burst, threshold 3.5"));

  for (guint i = 0; i < 30; i++, t++)
    crier_anomaly_engine_push (engine, m, T0_MS + t * 1000, 20.0);
  for (guint i = 0; i < 30; i++, t++)
    crier_anomaly_engine_push (engine, m, T0_MS + t * 1000, 0.0);
  g_assert_cmpuint (ev.raised->len, ==, 1);
  g_assert_cmpuint (ev.resolved->len, ==, 1);

  events_clear (&ev);
}

static void
test_rules (void)
{
  g_autoptr(CrierAnomalyEngine) engine = NULL;
  CrierRuleConfig evictions = { CRIER_RULE_GT, 0.0, CRIER_SEVERITY_WARNING, 1, 3 };
  CrierRuleConfig broker = { CRIER_RULE_NE, 0.0, CRIER_SEVERITY_CRITICAL, 2, 1 };
  CrierRuleConfig cap = { CRIER_RULE_GE, 1.0, CRIER_SEVERITY_INFO, 1, 1 };
  const CrierAlert *a;
  Events ev;
  guint e, b, l;

  engine = engine_with_events (&ev);
  e = crier_anomaly_engine_add_metric (engine, "evictions/s", NULL);
  b = crier_anomaly_engine_add_metric (engine, "broker_down", NULL);
  l = crier_anomaly_engine_add_metric (engine, "listener_utilisation", NULL);
  crier_anomaly_engine_set_rule (engine, e, &evictions);
  crier_anomaly_engine_set_rule (engine, b, &broker);
  crier_anomaly_engine_set_rule (engine, l, &cap);
  g_assert_null (crier_anomaly_engine_get_detector (engine, e));
  g_assert_true (isnan (crier_anomaly_engine_get_expected (engine, e)));

  /* No warm-up: the first eviction raises. */
  crier_anomaly_engine_push (engine, e, T0_MS, 0.0);
  g_assert_cmpfloat (crier_anomaly_engine_get_score (engine, e), ==, 0.0);
  crier_anomaly_engine_push (engine, e, T0_MS + 1000, 3.0);
  g_assert_cmpfloat (crier_anomaly_engine_get_score (engine, e), ==, 1.0);
  g_assert_cmpuint (ev.raised->len, ==, 1);
  a = g_ptr_array_index (ev.raised, 0);
  g_assert_cmpint (a->kind, ==, CRIER_ALERT_RULE);
  g_assert_cmpint (a->severity, ==, CRIER_SEVERITY_WARNING);
  g_assert_cmpstr (a->explanation, ==, "evictions/s 3 > 0 (rule)");

  /* Still evicting: de-duplicated. Two clean samples are not enough. */
  crier_anomaly_engine_push (engine, e, T0_MS + 2000, 1.0);
  crier_anomaly_engine_push (engine, e, T0_MS + 3000, 0.0);
  crier_anomaly_engine_push (engine, e, T0_MS + 4000, 0.0);
  g_assert_cmpuint (ev.raised->len, ==, 1);
  g_assert_cmpuint (ev.resolved->len, ==, 0);
  crier_anomaly_engine_push (engine, e, T0_MS + 5000, 0.0);
  g_assert_cmpuint (ev.resolved->len, ==, 1);

  /* Broker down needs two samples in a row. */
  crier_anomaly_engine_push (engine, b, T0_MS, 1.0);
  crier_anomaly_engine_push (engine, b, T0_MS + 1000, 0.0);
  crier_anomaly_engine_push (engine, b, T0_MS + 2000, 1.0);
  g_assert_cmpuint (ev.raised->len, ==, 1);
  crier_anomaly_engine_push (engine, b, T0_MS + 3000, 1.0);
  g_assert_cmpuint (ev.raised->len, ==, 2);
  a = g_ptr_array_index (ev.raised, 1);
  g_assert_cmpint (a->severity, ==, CRIER_SEVERITY_CRITICAL);
  g_assert_cmpstr (a->explanation, ==, "broker_down 1 != 0 (rule)");

  crier_anomaly_engine_push (engine, l, T0_MS, 0.99);
  crier_anomaly_engine_push (engine, l, T0_MS + 1000, 1.0);
  g_assert_cmpuint (ev.raised->len, ==, 3);
  a = g_ptr_array_index (ev.raised, 2);
  g_assert_cmpint (a->severity, ==, CRIER_SEVERITY_INFO);

  /* Removing a rule resolves its alert. */
  crier_anomaly_engine_set_rule (engine, l, NULL);
  g_assert_cmpuint (ev.resolved->len, ==, 2);
  crier_anomaly_engine_push (engine, l, T0_MS + 2000, 1.0);
  g_assert_cmpuint (ev.raised->len, ==, 3);

  events_clear (&ev);
}

static void
test_rule_and_detector (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (6);
  g_autoptr(CrierAnomalyEngine) engine = NULL;
  CrierRuleConfig slow = { CRIER_RULE_GT, 500.0, CRIER_SEVERITY_CRITICAL, 1, 1 };
  CrierDetectorConfig c;
  Events ev;
  gint64 t = 0;
  guint m;

  engine = engine_with_events (&ev);
  crier_detector_config_init (&c, CRIER_METRIC_LATENCY);
  m = crier_anomaly_engine_add_metric (engine, "latency_ms", &c);
  crier_anomaly_engine_set_rule (engine, m, &slow);
  push_gaussian (engine, m, rand, &t, 400, 40.0, 2.0);
  for (guint i = 0; i < 5; i++, t++)
    crier_anomaly_engine_push (engine, m, T0_MS + t * 1000, 900.0);

  /* One alert per metric and kind: the rule's and the spike's. */
  g_assert_cmpuint (ev.raised->len, ==, 2);
  g_assert_cmpint (((CrierAlert *) g_ptr_array_index (ev.raised, 0))->kind, ==, CRIER_ALERT_RULE);
  g_assert_cmpint (((CrierAlert *) g_ptr_array_index (ev.raised, 1))->kind, ==, CRIER_ALERT_SPIKE);

  events_clear (&ev);
}

static void
test_tracker (void)
{
  g_autoptr(CrierAlertTracker) tracker = crier_alert_tracker_new (3);
  g_autoptr(GPtrArray) all = NULL;
  const CrierAlert *a;
  CrierAlert *c;
  Events ev;
  guint64 id1, id2, id;

  events_init (&ev);
  crier_alert_tracker_set_func (tracker, events_cb, &ev, NULL);

  id1 = crier_alert_tracker_raise (tracker, "a", CRIER_ALERT_SPIKE, CRIER_SEVERITY_CRITICAL,
                                   1000, 10.0, 1.0, 3.0, "first");
  id2 = crier_alert_tracker_raise (tracker, "a", CRIER_ALERT_DROP, CRIER_SEVERITY_WARNING,
                                   2000, 0.0, 1.0, 1.5, "second");
  g_assert_cmpuint (id1, >, 0);
  g_assert_cmpuint (id2, !=, id1);
  g_assert_cmpuint (crier_alert_tracker_get_n_active (tracker), ==, 2);

  /* De-duplicated: same id, updated in place, severity never decreases. */
  id = crier_alert_tracker_raise (tracker, "a", CRIER_ALERT_SPIKE, CRIER_SEVERITY_WARNING,
                                  3000, 20.0, 1.0, 1.2, "again");
  g_assert_cmpuint (id, ==, id1);
  g_assert_cmpuint (ev.raised->len, ==, 2);
  g_assert_cmpuint (ev.n_updated, ==, 1);
  a = crier_alert_tracker_lookup (tracker, "a", CRIER_ALERT_SPIKE);
  g_assert_nonnull (a);
  g_assert_cmpint (a->severity, ==, CRIER_SEVERITY_CRITICAL);
  g_assert_cmpint (a->start_time, ==, 1000);
  g_assert_cmpfloat (a->observed, ==, 20.0);
  g_assert_cmpstr (a->explanation, ==, "again");
  g_assert_null (crier_alert_tracker_lookup (tracker, "b", CRIER_ALERT_SPIKE));

  g_assert_false (crier_alert_tracker_resolve (tracker, "a", CRIER_ALERT_BURST, 4000));
  g_assert_true (crier_alert_tracker_resolve (tracker, "a", CRIER_ALERT_SPIKE, 4000));
  g_assert_false (crier_alert_tracker_resolve (tracker, "a", CRIER_ALERT_SPIKE, 4000));
  g_assert_cmpuint (ev.resolved->len, ==, 1);
  c = g_ptr_array_index (ev.resolved, 0);
  g_assert_cmpint (c->end_time, ==, 4000);

  /* Active first (newest first), then resolved (newest first). */
  all = crier_alert_tracker_get_alerts (tracker, TRUE);
  g_assert_cmpuint (all->len, ==, 2);
  g_assert_cmpuint (((CrierAlert *) all->pdata[0])->id, ==, id2);
  g_assert_cmpuint (((CrierAlert *) all->pdata[1])->id, ==, id1);
  g_clear_pointer (&all, g_ptr_array_unref);
  all = crier_alert_tracker_get_alerts (tracker, FALSE);
  g_assert_cmpuint (all->len, ==, 1);
  g_clear_pointer (&all, g_ptr_array_unref);

  /* The recent list is bounded. */
  for (guint i = 0; i < 10; i++)
    {
      g_autofree char *name = g_strdup_printf ("m%u", i);

      crier_alert_tracker_raise (tracker, name, CRIER_ALERT_RULE, CRIER_SEVERITY_INFO,
                                 5000 + i, 1.0, 0.0, 1.0, NULL);
      crier_alert_tracker_resolve (tracker, name, CRIER_ALERT_RULE, 6000 + i);
    }
  all = crier_alert_tracker_get_alerts (tracker, TRUE);
  g_assert_cmpuint (all->len, ==, 1 + 3);
  g_assert_cmpstr (((CrierAlert *) all->pdata[1])->metric, ==, "m9");
  g_assert_cmpstr (((CrierAlert *) all->pdata[3])->metric, ==, "m7");
  g_assert_cmpstr (((CrierAlert *) all->pdata[3])->explanation, ==, "");

  crier_alert_tracker_set_func (tracker, NULL, NULL, NULL);
  events_clear (&ev);
}

static void
destroy_count (gpointer data)
{
  (*(guint *) data)++;
}

static void
test_tracker_destroy_notify (void)
{
  CrierAlertTracker *tracker = crier_alert_tracker_new (0);
  guint destroyed = 0;

  crier_alert_tracker_set_func (tracker, NULL, &destroyed, destroy_count);
  crier_alert_tracker_set_func (tracker, NULL, &destroyed, destroy_count);
  g_assert_cmpuint (destroyed, ==, 1);

  /* max_recent 0 keeps nothing once resolved. */
  crier_alert_tracker_raise (tracker, "x", CRIER_ALERT_RULE, CRIER_SEVERITY_INFO, 0, 1, 0, 1, "x");
  g_assert_true (crier_alert_tracker_resolve (tracker, "x", CRIER_ALERT_RULE, 0));
  crier_alert_tracker_free (tracker);
  g_assert_cmpuint (destroyed, ==, 2);
}

static void
test_missing_and_constant (void)
{
  g_autoptr(CrierAnomalyEngine) engine = NULL;
  CrierDetectorConfig c;
  Events ev;
  guint m, z;

  engine = engine_with_events (&ev);
  crier_detector_config_init (&c, CRIER_METRIC_LATENCY);
  c.drift_direction = CRIER_DRIFT_BOTH;
  m = crier_anomaly_engine_add_metric (engine, "flat", &c);
  crier_detector_config_init (&c, CRIER_METRIC_RATE);
  z = crier_anomaly_engine_add_metric (engine, "zero", &c);

  for (gint64 t = 0; t < 2000; t++)
    {
      crier_anomaly_engine_push (engine, m, T0_MS + t * 1000, t % 7 == 0 ? NAN : 5.0);
      crier_anomaly_engine_push (engine, z, T0_MS + t * 1000, t % 11 == 0 ? INFINITY : 0.0);
      if (t % 7 == 0)
        g_assert_true (isnan (crier_anomaly_engine_get_score (engine, m)));
      else
        g_assert_true (isfinite (crier_anomaly_engine_get_score (engine, m)));
    }
  g_assert_cmpuint (ev.raised->len, ==, 0);
  g_assert_cmpfloat (crier_anomaly_engine_get_expected (engine, m), ==, 5.0);
  g_assert_cmpfloat (crier_anomaly_engine_get_expected (engine, z), ==, 0.0);

  /* A 1 connect/s trickle after silence is not a storm (counts floor). */
  for (gint64 t = 2000; t < 2010; t++)
    crier_anomaly_engine_push (engine, z, T0_MS + t * 1000, 1.0);
  g_assert_cmpuint (ev.raised->len, ==, 0);

  events_clear (&ev);
}

static void
test_relearn (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  g_autoptr(CrierAnomalyEngine) engine = NULL;
  CrierDetectorConfig c;
  Events ev;
  gint64 t = 0;
  guint m;

  engine = engine_with_events (&ev);
  crier_detector_config_init (&c, CRIER_METRIC_RATE);
  c.relearn_after = 120;
  m = crier_anomaly_engine_add_metric (engine, "messages/s", &c);
  push_gaussian (engine, m, rand, &t, 600, 100.0, 5.0);

  /* Load triples for good: a spike, accepted as the new normal. */
  push_gaussian (engine, m, rand, &t, 600, 300.0, 15.0);
  g_assert_cmpuint (ev.raised->len, ==, 1);
  g_assert_cmpuint (ev.resolved->len, ==, 1);
  g_assert_cmpfloat (fabs (crier_anomaly_engine_get_expected (engine, m) - 300.0), <, 20.0);
  g_assert_cmpint (((CrierAlert *) g_ptr_array_index (ev.resolved, 0))->end_time, <,
                   T0_MS + (600 + 120 + 60) * 1000);

  events_clear (&ev);
}

static void
test_detector_standalone (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (8);
  CrierDetectorConfig c;
  g_autoptr(CrierDetector) d = NULL;
  CrierDetectorResult r;
  double observed, expected, sigma, score;
  guint raised = 0, escalated = 0;

  crier_detector_config_init (&c, CRIER_METRIC_LATENCY);
  c.detect = CRIER_DETECT_SPIKE;
  d = crier_detector_new (&c);
  g_assert_cmpuint (crier_detector_get_config (d)->detect, ==, CRIER_DETECT_SPIKE);

  for (guint i = 0; i < 500; i++)
    crier_detector_push (d, 50.0 + gaussian (rand), NULL);

  /* Rising storm: raised as a warning, escalated to critical once. */
  for (guint i = 0; i < 10; i++)
    {
      crier_detector_push (d, 60.0 + 3.0 * i, &r);
      raised += r.raised != 0;
      escalated += r.escalated != 0;
    }
  g_assert_cmpuint (raised, ==, 1);
  g_assert_cmpuint (escalated, ==, 1);
  g_assert_cmpfloat (crier_detector_get_score (d, CRIER_ALERT_SPIKE), >, 2.0);
  g_assert_cmpfloat (crier_detector_get_score (d, CRIER_ALERT_DROP), ==, 0.0);
  g_assert_cmpfloat (crier_detector_get_score (d, CRIER_ALERT_RULE), ==, 0.0);
  crier_detector_describe (d, CRIER_ALERT_SPIKE, &observed, &expected, &sigma, &score);
  g_assert_cmpfloat (observed, ==, 87.0);
  g_assert_cmpfloat (fabs (expected - 50.0), <, 1.0);
  g_assert_cmpfloat (sigma, >=, 2.5);

  crier_detector_reset (d);
  g_assert_false (crier_detector_is_warm (d));
  g_assert_false (crier_detector_is_active (d, CRIER_ALERT_SPIKE));
}

/* ------------------------------------------------------------------------ */
/* CSV mode                                                                 */

static void
test_csv_detect (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (9);
  g_autoptr(GString) csv = g_string_new ("# exported by crierctl\r\ntimestamp,connects/s\r\n");
  g_autoptr(GString) out = g_string_new ("keep\n");
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) lines = NULL;
  guint n_lines;

  for (guint i = 0; i < 900; i++)
    {
      double v = i >= 600 && i < 620 ? 700.0 : poisson (rand, 10.0);

      if (i == 100)
        g_string_append_printf (csv, "%u,\r\n", 1700000000 + i);
      else
        g_string_append_printf (csv, "%u,%g\r\n", 1700000000 + i, v);
    }

  g_assert_true (crier_anomaly_detect_csv (csv->str, NULL, out, &error));
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (out->str, "keep\ntimestamp,value,expected,sigma,score,event\n"));

  lines = g_strsplit (out->str, "\n", -1);
  n_lines = g_strv_length (lines);
  /* keep + header + 900 rows + summary + 1 alert + trailing "" */
  g_assert_cmpuint (n_lines, ==, 1 + 1 + 900 + 2 + 1);
  g_assert_cmpstr (lines[2 + 100], ==, "1700000100,,,,,");
  g_assert_true (g_str_has_prefix (lines[2 + 602], "1700000602,700,"));
  g_assert_nonnull (strstr (lines[2 + 602], ",\"raised spike #1 critical: connects/s 700 vs expected"));
  g_assert_nonnull (strstr (out->str, "\"resolved spike #1\""));
  g_assert_cmpstr (lines[902], ==, "# 900 rows, 899 samples, 1 alerts");
  g_assert_true (g_str_has_prefix (lines[903], "# alert #1 spike critical from 1700000602 to 17000006"));
  g_test_message ("%s", lines[903]);

  /* Scores: 0 while warming up, > 1 in the storm. */
  g_assert_true (g_str_has_suffix (lines[2 + 10], ",0.000,"));
  {
    g_auto(GStrv) f = g_strsplit (lines[2 + 610], ",", 6);

    g_assert_cmpfloat (g_ascii_strtod (f[4], NULL), >, 1.0);
  }
}

static void
test_csv_formats (void)
{
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  CrierDetectorConfig c;

  crier_detector_config_init (&c, CRIER_METRIC_GAUGE);

  /* No header, ISO 8601 timestamps, blanks, quotes, a BOM. */
  g_assert_true (crier_anomaly_detect_csv ("\xEF\xBB\xBF"
                                           "2024-01-01T00:00:00Z, 1.5\n"
                                           "\n"
                                           "\"2024-01-01T00:00:01.500+00:00\",\"2\"\n"
                                           "1704067203.25,NaN\n",
                                           &c, out, &error));
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (out->str, "timestamp,value,expected,sigma,score,event\n"
                                             "2024-01-01T00:00:00Z,1.5,1.5,"));
  g_assert_nonnull (strstr (out->str, "\n2024-01-01T00:00:01.500+00:00,2,1.5,"));
  g_assert_nonnull (strstr (out->str, "\n1704067203.25,,,,,\n"));
  g_assert_nonnull (strstr (out->str, "# 3 rows, 2 samples, 0 alerts\n"));
}

static void
test_csv_errors (void)
{
  static const struct
  {
    const char *text;
    int         code;
    const char *message;
  } cases[] = {
    { "", CRIER_ANOMALY_ERROR_EMPTY, NULL },
    { "# only a comment\n\n", CRIER_ANOMALY_ERROR_EMPTY, NULL },
    { "timestamp,value\n", CRIER_ANOMALY_ERROR_EMPTY, NULL },
    { "1,2\n2\n", CRIER_ANOMALY_ERROR_PARSE, "line 2: expected two columns, timestamp,value" },
    { "1,2,3\n", CRIER_ANOMALY_ERROR_PARSE, "line 1: expected two columns, timestamp,value" },
    { "1,2\n2,abc\n", CRIER_ANOMALY_ERROR_PARSE, "line 2: bad value “abc”" },
    { "1,2\nyesterday,3\n", CRIER_ANOMALY_ERROR_PARSE,
      "line 2: bad timestamp “yesterday” (Unix seconds or ISO 8601)" },
    { "time,value\nwhen,value\n", CRIER_ANOMALY_ERROR_PARSE, NULL },
    { "x,1\n", CRIER_ANOMALY_ERROR_PARSE, NULL },
    { "1e300,1\n", CRIER_ANOMALY_ERROR_PARSE, NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GString) out = g_string_new ("untouched");
      g_autoptr(GError) error = NULL;

      g_assert_false (crier_anomaly_detect_csv (cases[i].text, NULL, out, &error));
      g_assert_error (error, CRIER_ANOMALY_ERROR, cases[i].code);
      if (cases[i].message != NULL)
        g_assert_cmpstr (error->message, ==, cases[i].message);
      g_assert_cmpstr (out->str, ==, "untouched");
    }
}

/* ------------------------------------------------------------------------ */
/* Evaluation on labelled synthetic traces                                  */

#define N_SEEDS      10
#define GRACE        10     /* samples after a window's end that still count */

typedef struct
{
  guint          start;     /* first anomalous sample */
  guint          end;       /* one past the last */
  CrierAlertKind kind;
} Window;

typedef struct
{
  double *values;
  guint   n;
  GArray *windows;          /* Window */
} Trace;

typedef void (*TraceFunc) (Trace *trace,
                           GRand *rand,
                           guint  seed);

typedef struct
{
  const char        *name;
  const char        *metric;
  CrierMetricProfile profile;
  gboolean           anomalous;
  TraceFunc          make;
} TraceType;

static void
trace_init (Trace *trace,
            guint  n)
{
  trace->n = n;
  trace->values = g_new0 (double, n);
  trace->windows = g_array_new (FALSE, FALSE, sizeof (Window));
}

static void
trace_clear (Trace *trace)
{
  g_clear_pointer (&trace->values, g_free);
  g_clear_pointer (&trace->windows, g_array_unref);
}

static void
trace_label (Trace          *trace,
             guint           start,
             guint           end,
             CrierAlertKind  kind)
{
  Window w = { start, MIN (end, trace->n), kind };

  g_array_append_val (trace->windows, w);
}

/* A slow sinusoid: a day compressed into @period samples. */
static double
daily (guint  t,
       double amplitude,
       double period,
       double phase)
{
  return 1.0 + amplitude * sin (2.0 * G_PI * t / period + phase);
}

/* Lone one-sample blips (labelled normal) with probability 1/@every. */
static double
blip (GRand  *rand,
      double  v,
      guint   every,
      double  lo,
      double  hi)
{
  if (g_rand_int_range (rand, 0, every) != 0)
    return v;

  return v * g_rand_double_range (rand, lo, hi);
}

/* @count non-overlapping windows placed after the warm-up. */
static guint
slot_start (GRand *rand,
            guint  n,
            guint  count,
            guint  i,
            guint  first,
            guint  max_len)
{
  guint slot = (n - first) / count;
  guint room = slot > max_len + 300 ? slot - max_len - 300 : 1;

  return first + i * slot + g_rand_int_range (rand, 0, room);
}

/* Connect storms: ×10-50 for 5-60 s on Poisson traffic, every other seed on
 * a daily cycle, every third with heavy multiplicative noise. */
static void
make_storms (Trace *trace,
             GRand *rand,
             guint  seed)
{
  double base = g_rand_double_range (rand, 5.0, 60.0);
  double amp = seed % 2 ? g_rand_double_range (rand, 0.4, 0.8) : 0.0;
  double phase = g_rand_double_range (rand, 0.0, 2.0 * G_PI);
  double noise = seed % 3 == 2 ? 0.3 : 0.0;

  trace_init (trace, 5400);
  for (guint t = 0; t < trace->n; t++)
    trace->values[t] = blip (rand, poisson (rand, base * daily (t, amp, 3600, phase)) *
                                   exp (noise * gaussian (rand)),
                             400, 3.0, 10.0);

  for (guint i = 0; i < 4; i++)
    {
      guint start = slot_start (rand, trace->n, 4, i, 900, 60);
      guint len = g_rand_int_range (rand, 5, 61);
      double mult = g_rand_double_range (rand, 10.0, 50.0);

      for (guint t = start; t < start + len; t++)
        trace->values[t] = poisson (rand, mult * base * daily (t, amp, 3600, phase));
      trace_label (trace, start, start + len, CRIER_ALERT_SPIKE);
    }
}

/* Throughput collapses to ~0 for 30 s - 5 min; every other seed on a daily
 * cycle, every third with 30 % noise. */
static void
make_drops (Trace *trace,
            GRand *rand,
            guint  seed)
{
  double base = exp (g_rand_double_range (rand, log (50.0), log (5000.0)));
  double amp = seed % 2 ? g_rand_double_range (rand, 0.3, 0.6) : 0.0;
  double phase = g_rand_double_range (rand, 0.0, 2.0 * G_PI);
  double cv = seed % 3 == 2 ? 0.3 : 0.1;

  trace_init (trace, 5400);
  for (guint t = 0; t < trace->n; t++)
    {
      double mean = base * daily (t, amp, 3600, phase);

      trace->values[t] = MAX (0.0, blip (rand, mean * (1.0 + cv * gaussian (rand)), 400, 0.3, 3.0));
    }

  for (guint i = 0; i < 3; i++)
    {
      guint start = slot_start (rand, trace->n, 3, i, 900, 300);
      guint len = g_rand_int_range (rand, 30, 301);

      for (guint t = start; t < start + len; t++)
        trace->values[t] = base * g_rand_double_range (rand, 0.0, 0.03);
      trace_label (trace, start, start + len, CRIER_ALERT_DROP);
    }
}

/* Latency creeping +1 %/min for 40 minutes, then fixed. */
static void
make_latency_creep (Trace *trace,
                    GRand *rand,
                    guint  seed)
{
  double base = g_rand_double_range (rand, 5.0, 200.0);
  guint start = g_rand_int_range (rand, 1200, 1800);
  guint len = 2400;

  trace_init (trace, 5400);
  for (guint t = 0; t < trace->n; t++)
    {
      double creep = t >= start && t < start + len ? 1.0 + 0.01 * (t - start) / 60.0 : 1.0;

      trace->values[t] = blip (rand, base * creep * exp (0.15 * gaussian (rand)), 400, 2.0, 6.0);
    }
  trace_label (trace, start, start + len, CRIER_ALERT_DRIFT);
}

/* Memory per connection climbing +0.5 %/min for an hour (a leak), on a
 * garbage-collection sawtooth. */
static void
make_memory_leak (Trace *trace,
                  GRand *rand,
                  guint  seed)
{
  double base = g_rand_double_range (rand, 8000.0, 64000.0);
  guint start = g_rand_int_range (rand, 1200, 1800);
  guint len = 3600;

  trace_init (trace, 7200);
  for (guint t = 0; t < trace->n; t++)
    {
      double leak = t >= start && t < start + len ? 1.0 + 0.005 * (t - start) / 60.0 : 1.0;
      double saw = 1.0 + 0.04 * ((t % 90) / 90.0 - 0.5);

      trace->values[t] = base * leak * saw * (1.0 + 0.02 * gaussian (rand));
    }
  trace_label (trace, start, start + len, CRIER_ALERT_DRIFT);
}

/* Errors: Poisson trickle with lone blips, and bursts of 5-40/s. */
static void
make_error_bursts (Trace *trace,
                   GRand *rand,
                   guint  seed)
{
  double base = g_rand_double_range (rand, 0.0, 0.3);

  trace_init (trace, 5400);
  for (guint t = 0; t < trace->n; t++)
    trace->values[t] = g_rand_int_range (rand, 0, 500) == 0 ? g_rand_int_range (rand, 5, 31)
                                                            : poisson (rand, base);

  for (guint i = 0; i < 4; i++)
    {
      guint start = slot_start (rand, trace->n, 4, i, 900, 60);
      guint len = g_rand_int_range (rand, 10, 61);
      double rate = g_rand_double_range (rand, 5.0, 40.0);

      for (guint t = start; t < start + len; t++)
        trace->values[t] = poisson (rand, rate);
      trace_label (trace, start, start + len, CRIER_ALERT_BURST);
    }
}

/* Normal: heavy multiplicative noise, blips up and down. */
static void
make_noisy_rate (Trace *trace,
                 GRand *rand,
                 guint  seed)
{
  double base = exp (g_rand_double_range (rand, log (20.0), log (2000.0)));

  trace_init (trace, 5400);
  for (guint t = 0; t < trace->n; t++)
    {
      double v = poisson (rand, base) * exp (0.35 * gaussian (rand));

      v = blip (rand, v, 300, 3.0, 20.0);
      trace->values[t] = blip (rand, v, 300, 0.0, 0.2);
    }
}

/* Normal: two compressed days with deep troughs. */
static void
make_daily_rate (Trace *trace,
                 GRand *rand,
                 guint  seed)
{
  double base = exp (g_rand_double_range (rand, log (20.0), log (2000.0)));
  double amp = g_rand_double_range (rand, 0.5, 0.9);
  double phase = g_rand_double_range (rand, 0.0, 2.0 * G_PI);

  trace_init (trace, 7200);
  for (guint t = 0; t < trace->n; t++)
    {
      double mean = base * daily (t, amp, 3600, phase);

      trace->values[t] = blip (rand, poisson (rand, mean) * (1.0 + 0.1 * gaussian (rand)),
                               600, 3.0, 10.0);
      trace->values[t] = MAX (trace->values[t], 0.0);
    }
}

/* Normal: sparse counts (0.5-5/s) on a daily cycle, where silence and
 * doubling are both ordinary. */
static void
make_sparse_rate (Trace *trace,
                  GRand *rand,
                  guint  seed)
{
  double base = g_rand_double_range (rand, 0.5, 5.0);
  double phase = g_rand_double_range (rand, 0.0, 2.0 * G_PI);

  trace_init (trace, 7200);
  for (guint t = 0; t < trace->n; t++)
    trace->values[t] = poisson (rand, base * daily (t, 0.8, 3600, phase));
}

/* Normal: noisy latency with a mild load cycle and blips. */
static void
make_noisy_latency (Trace *trace,
                    GRand *rand,
                    guint  seed)
{
  double base = g_rand_double_range (rand, 5.0, 200.0);
  double phase = g_rand_double_range (rand, 0.0, 2.0 * G_PI);

  trace_init (trace, 5400);
  for (guint t = 0; t < trace->n; t++)
    trace->values[t] = blip (rand, base * daily (t, 0.05, 3600, phase) * exp (0.3 * gaussian (rand)),
                             300, 2.0, 8.0);
}

/* Normal: a trickle of errors with lone blips. */
static void
make_quiet_errors (Trace *trace,
                   GRand *rand,
                   guint  seed)
{
  double base = g_rand_double_range (rand, 0.0, 0.5);

  trace_init (trace, 5400);
  for (guint t = 0; t < trace->n; t++)
    trace->values[t] = g_rand_int_range (rand, 0, 300) == 0 ? g_rand_int_range (rand, 3, 41)
                                                            : poisson (rand, base);
}

/* Normal: memory per connection with a GC sawtooth, a mild cycle and a
 * slow mean-reverting wander. */
static void
make_steady_memory (Trace *trace,
                    GRand *rand,
                    guint  seed)
{
  double base = g_rand_double_range (rand, 8000.0, 64000.0);
  double phase = g_rand_double_range (rand, 0.0, 2.0 * G_PI);
  double wander = 0.0;

  trace_init (trace, 7200);
  for (guint t = 0; t < trace->n; t++)
    {
      double saw = 1.0 + 0.04 * ((t % 90) / 90.0 - 0.5);

      wander = 0.999 * wander + 0.001 * gaussian (rand);
      trace->values[t] = base * saw * daily (t, 0.03, 3600, phase) * (1.0 + wander)
                         * (1.0 + 0.02 * gaussian (rand));
    }
}

static const TraceType trace_types[] = {
  { "connect storms", "connects/s", CRIER_METRIC_RATE, TRUE, make_storms },
  { "throughput drops", "messages/s", CRIER_METRIC_RATE, TRUE, make_drops },
  { "latency creep", "latency_ms", CRIER_METRIC_LATENCY, TRUE, make_latency_creep },
  { "memory/conn leak", "memory_per_conn", CRIER_METRIC_GAUGE, TRUE, make_memory_leak },
  { "error bursts", "errors/s", CRIER_METRIC_ERRORS, TRUE, make_error_bursts },
  { "noisy rate", "messages/s", CRIER_METRIC_RATE, FALSE, make_noisy_rate },
  { "daily cycle rate", "connects/s", CRIER_METRIC_RATE, FALSE, make_daily_rate },
  { "sparse rate", "connects/s", CRIER_METRIC_RATE, FALSE, make_sparse_rate },
  { "noisy latency", "latency_ms", CRIER_METRIC_LATENCY, FALSE, make_noisy_latency },
  { "quiet errors", "errors/s", CRIER_METRIC_ERRORS, FALSE, make_quiet_errors },
  { "steady memory/conn", "memory_per_conn", CRIER_METRIC_GAUGE, FALSE, make_steady_memory },
};

typedef struct
{
  guint  windows;
  guint  detected;
  guint  alerts;
  guint  true_positives;
  double delay_sum;
} Score;

/* Runs one trace through an engine and scores its alerts: an alert is a
 * true positive when it is the first alert of the window's kind starting
 * in [start, end + GRACE) of a labelled window; anything else (including a
 * second alert in an already detected window) is a false positive. */
static void
evaluate_trace (const TraceType *type,
                const Trace     *trace,
                Score           *score)
{
  g_autoptr(CrierAnomalyEngine) engine = NULL;
  gboolean *hit;
  CrierDetectorConfig c;
  Events ev;
  guint m;

  engine = engine_with_events (&ev);
  crier_detector_config_init (&c, type->profile);
  m = crier_anomaly_engine_add_metric (engine, type->metric, &c);

  for (guint t = 0; t < trace->n; t++)
    crier_anomaly_engine_push (engine, m, T0_MS + (gint64) t * 1000, trace->values[t]);

  score->windows += trace->windows->len;
  score->alerts += ev.raised->len;
  hit = g_new0 (gboolean, trace->windows->len);

  for (guint i = 0; i < ev.raised->len; i++)
    {
      const CrierAlert *a = g_ptr_array_index (ev.raised, i);
      guint t = (guint) ((a->start_time - T0_MS) / 1000);
      gboolean tp = FALSE;

      for (guint j = 0; j < trace->windows->len; j++)
        {
          const Window *w = &g_array_index (trace->windows, Window, j);

          if (!hit[j] && a->kind == w->kind && t >= w->start && t < w->end + GRACE)
            {
              hit[j] = TRUE;
              tp = TRUE;
              score->detected++;
              score->delay_sum += t - w->start;
              break;
            }
        }

      if (tp)
        score->true_positives++;
      else if (g_test_verbose ())
        g_test_message ("  false positive: %s at %u: %s", type->name, t, a->explanation);
    }

  g_free (hit);
  events_clear (&ev);
}

static void
test_evaluation (void)
{
  Score total = { 0, };
  guint normal_alerts = 0, normal_samples = 0;
  gint64 begin = g_get_monotonic_time ();

  g_test_message ("evaluation: %u seeds per trace type, 1 Hz, grace %u s", N_SEEDS, GRACE);
  g_test_message ("%-20s %7s %8s %6s %6s %9s %7s %9s",
                  "trace", "windows", "detected", "alerts", "FP", "precision", "recall", "delay(s)");

  for (guint i = 0; i < G_N_ELEMENTS (trace_types); i++)
    {
      const TraceType *type = &trace_types[i];
      Score s = { 0, };
      guint samples = 0;
      double precision, recall;

      for (guint seed = 0; seed < N_SEEDS; seed++)
        {
          g_autoptr(GRand) rand = g_rand_new_with_seed (1000 * (i + 1) + seed);
          Trace trace;

          type->make (&trace, rand, seed);
          samples += trace.n;
          evaluate_trace (type, &trace, &s);
          trace_clear (&trace);
        }

      precision = s.alerts > 0 ? (double) s.true_positives / s.alerts : 1.0;
      recall = s.windows > 0 ? (double) s.detected / s.windows : 1.0;
      if (type->anomalous)
        g_test_message ("%-20s %7u %8u %6u %6u %9.3f %7.3f %9.1f",
                        type->name, s.windows, s.detected, s.alerts,
                        s.alerts - s.true_positives, precision, recall,
                        s.detected > 0 ? s.delay_sum / s.detected : 0.0);
      else
        g_test_message ("%-20s %7s %8s %6u %6u %9s %7s %9s  (normal only, %u samples)",
                        type->name, "-", "-", s.alerts, s.alerts, "-", "-", "-", samples);

      if (type->anomalous)
        {
          g_assert_cmpuint (s.windows, >, 0);
          g_assert_cmpfloat (precision, >=, 0.9);
          g_assert_cmpfloat (recall, >=, 0.9);
          total.windows += s.windows;
          total.detected += s.detected;
          total.alerts += s.alerts;
          total.true_positives += s.true_positives;
        }
      else
        {
          normal_alerts += s.alerts;
          normal_samples += samples;
        }
    }

  g_test_message ("anomalous traces: precision %.3f (%u/%u), recall %.3f (%u/%u)",
                  (double) total.true_positives / MAX (total.alerts, 1), total.true_positives,
                  total.alerts, (double) total.detected / MAX (total.windows, 1), total.detected,
                  total.windows);
  g_test_message ("normal-only traces: %u alerts in %u samples", normal_alerts, normal_samples);
  g_test_message ("evaluation took %.2f s", (g_get_monotonic_time () - begin) / 1e6);

  g_assert_cmpfloat ((double) total.true_positives / MAX (total.alerts, 1), >=, 0.9);
  g_assert_cmpfloat ((double) total.detected / MAX (total.windows, 1), >=, 0.9);
  g_assert_cmpuint (normal_alerts, ==, 0);
}

/* Sensitivity sweep (only with -m slow): where the defaults stop
 * detecting.  Prints recall, precision and delay per anomaly size; asserts
 * nothing.  docs/anomaly-detection.md quotes it. */
static double sweep_size;
static double sweep_noise;

static void
make_sweep_storms (Trace *trace,
                   GRand *rand,
                   guint  seed)
{
  double base = g_rand_double_range (rand, 5.0, 60.0);

  trace_init (trace, 5400);
  for (guint t = 0; t < trace->n; t++)
    trace->values[t] = poisson (rand, base) * exp (sweep_noise * gaussian (rand));

  for (guint i = 0; i < 4; i++)
    {
      guint start = slot_start (rand, trace->n, 4, i, 900, 60);
      guint len = g_rand_int_range (rand, 5, 61);

      for (guint t = start; t < start + len; t++)
        trace->values[t] = poisson (rand, sweep_size * base) * exp (sweep_noise * gaussian (rand));
      trace_label (trace, start, start + len, CRIER_ALERT_SPIKE);
    }
}

static void
make_sweep_drops (Trace *trace,
                  GRand *rand,
                  guint  seed)
{
  double base = exp (g_rand_double_range (rand, log (50.0), log (5000.0)));

  trace_init (trace, 5400);
  for (guint t = 0; t < trace->n; t++)
    trace->values[t] = MAX (0.0, base * (1.0 + sweep_noise * gaussian (rand)));

  for (guint i = 0; i < 3; i++)
    {
      guint start = slot_start (rand, trace->n, 3, i, 900, 300);
      guint len = g_rand_int_range (rand, 30, 301);

      for (guint t = start; t < start + len; t++)
        trace->values[t] = MAX (0.0, sweep_size * base * (1.0 + sweep_noise * gaussian (rand)));
      trace_label (trace, start, start + len, CRIER_ALERT_DROP);
    }
}

static void
make_sweep_creep (Trace *trace,
                  GRand *rand,
                  guint  seed)
{
  double base = g_rand_double_range (rand, 5.0, 200.0);
  guint start = g_rand_int_range (rand, 1200, 1800);
  guint len = 3600;

  trace_init (trace, 7200);
  for (guint t = 0; t < trace->n; t++)
    {
      double creep = t >= start && t < start + len ? 1.0 + sweep_size * (t - start) / 60.0 : 1.0;

      trace->values[t] = base * creep * exp (sweep_noise * gaussian (rand));
    }
  trace_label (trace, start, start + len, CRIER_ALERT_DRIFT);
}

static void
sweep_one (const char         *label,
           TraceFunc           make,
           CrierMetricProfile  profile)
{
  TraceType type = { label, "m", profile, TRUE, make };
  Score s = { 0, };

  for (guint seed = 0; seed < 20; seed++)
    {
      g_autoptr(GRand) rand = g_rand_new_with_seed (555 + seed);
      Trace trace;

      make (&trace, rand, seed);
      evaluate_trace (&type, &trace, &s);
      trace_clear (&trace);
    }

  g_test_message ("%-36s recall %.2f  precision %.2f  delay %6.0f s", label,
                  (double) s.detected / MAX (s.windows, 1),
                  s.alerts > 0 ? (double) s.true_positives / s.alerts : 1.0,
                  s.detected > 0 ? s.delay_sum / s.detected : 0.0);
}

static void
test_sensitivity (void)
{
  static const double storm_sizes[] = { 1.5, 2.0, 3.0, 5.0 };
  static const double storm_noise[] = { 0.0, 0.3 };
  static const double drop_sizes[] = { 0.5, 0.3, 0.2, 0.1 };
  static const double drop_noise[] = { 0.1, 0.3, 0.5 };
  static const double creep_sizes[] = { 0.0025, 0.005, 0.01, 0.02 };
  static const double creep_noise[] = { 0.05, 0.15, 0.3 };

  if (!g_test_slow ())
    {
      g_test_skip ("sensitivity sweep: run with -m slow");
      return;
    }

  for (guint n = 0; n < G_N_ELEMENTS (storm_noise); n++)
    for (guint i = 0; i < G_N_ELEMENTS (storm_sizes); i++)
      {
        g_autofree char *label = NULL;

        sweep_size = storm_sizes[i];
        sweep_noise = storm_noise[n];
        label = g_strdup_printf ("storm ×%.1f, noise %.1f", sweep_size, sweep_noise);
        sweep_one (label, make_sweep_storms, CRIER_METRIC_RATE);
      }

  for (guint n = 0; n < G_N_ELEMENTS (drop_noise); n++)
    for (guint i = 0; i < G_N_ELEMENTS (drop_sizes); i++)
      {
        g_autofree char *label = NULL;

        sweep_size = drop_sizes[i];
        sweep_noise = drop_noise[n];
        label = g_strdup_printf ("drop to %.0f%%, CV %.1f", 100 * sweep_size, sweep_noise);
        sweep_one (label, make_sweep_drops, CRIER_METRIC_RATE);
      }

  for (guint n = 0; n < G_N_ELEMENTS (creep_noise); n++)
    for (guint i = 0; i < G_N_ELEMENTS (creep_sizes); i++)
      {
        g_autofree char *label = NULL;

        sweep_size = creep_sizes[i];
        sweep_noise = creep_noise[n];
        label = g_strdup_printf ("creep %.2f %%/min, noise %.2f", 100 * sweep_size, sweep_noise);
        sweep_one (label, make_sweep_creep, CRIER_METRIC_LATENCY);
      }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/anomaly/config-defaults", test_config_defaults);
  g_test_add_func ("/anomaly/warmup-silent", test_warmup_silent);
  g_test_add_func ("/anomaly/spike", test_spike_raise_resolve);
  g_test_add_func ("/anomaly/spike-no-flap", test_spike_no_flap);
  g_test_add_func ("/anomaly/drop", test_drop);
  g_test_add_func ("/anomaly/drift", test_drift);
  g_test_add_func ("/anomaly/burst", test_burst);
  g_test_add_func ("/anomaly/rules", test_rules);
  g_test_add_func ("/anomaly/rule-and-detector", test_rule_and_detector);
  g_test_add_func ("/anomaly/tracker", test_tracker);
  g_test_add_func ("/anomaly/tracker-destroy-notify", test_tracker_destroy_notify);
  g_test_add_func ("/anomaly/missing-and-constant", test_missing_and_constant);
  g_test_add_func ("/anomaly/relearn", test_relearn);
  g_test_add_func ("/anomaly/detector-standalone", test_detector_standalone);
  g_test_add_func ("/anomaly/csv/detect", test_csv_detect);
  g_test_add_func ("/anomaly/csv/formats", test_csv_formats);
  g_test_add_func ("/anomaly/csv/errors", test_csv_errors);
  g_test_add_func ("/anomaly/evaluation", test_evaluation);
  g_test_add_func ("/anomaly/sensitivity", test_sensitivity);

  return g_test_run ();
}
