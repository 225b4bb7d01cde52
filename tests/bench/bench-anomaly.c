/* bench-anomaly.c: cost per sample of each detector profile.
 *
 *   bench-anomaly [N_SAMPLES]    (default 10 000 000)
 *
 * Feeds N samples of a pre-generated 1 Hz trace (noise, a daily cycle, a
 * storm, a collapse and a creep every few thousand samples, so every state
 * machine path runs) through one detector per profile, then through a
 * four-metric engine, and prints nanoseconds per sample.  The target is
 * well under 1 µs. */
#include "config.h"

#include "crier-anomaly.h"
#include "crier-series.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define TRACE_LEN (1u << 16)

static volatile double sink;

static double
gaussian (GRand *rand)
{
  double u = 1.0 - g_rand_double (rand);
  double v = g_rand_double (rand);

  return sqrt (-2.0 * log (u)) * cos (2.0 * G_PI * v);
}

static double *
make_trace (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (12345);
  double *trace = g_new (double, TRACE_LEN);

  for (guint t = 0; t < TRACE_LEN; t++)
    {
      double v = 100.0 * (1.0 + 0.5 * sin (2.0 * G_PI * t / 3600.0)) + 10.0 * gaussian (rand);
      guint phase = t % 8192;

      if (phase >= 2000 && phase < 2030)
        v *= 20.0;                                /* storm */
      else if (phase >= 4000 && phase < 4120)
        v = 0.5;                                  /* collapse */
      else if (phase >= 5000 && phase < 7400)
        v *= 1.0 + 0.01 * (phase - 5000) / 60.0;  /* creep */

      trace[t] = MAX (v, 0.0);
    }

  return trace;
}

static double
bench_detector (const char          *label,
                CrierDetectorConfig *config,
                const double        *trace,
                guint64              n)
{
  g_autoptr(CrierDetector) detector = crier_detector_new (config);
  CrierDetectorResult r;
  guint64 alerts = 0;
  double acc = 0.0;
  gint64 begin, end;
  double ns;

  begin = g_get_monotonic_time ();
  for (guint64 i = 0; i < n; i++)
    {
      crier_detector_push (detector, trace[i & (TRACE_LEN - 1)], &r);
      acc += r.score;
      alerts += r.raised != 0;
    }
  end = g_get_monotonic_time ();
  sink = acc;

  ns = (end - begin) * 1000.0 / n;
  printf ("%-28s %8.1f ns/sample  (%" G_GUINT64_FORMAT " samples, %" G_GUINT64_FORMAT " alerts raised)\n",
          label, ns, n, alerts);

  return ns;
}

static void
count_raised_cb (CrierAlertEvent   event,
                 const CrierAlert *alert,
                 gpointer          user_data)
{
  if (event == CRIER_ALERT_RAISED)
    (*(guint64 *) user_data)++;
}

static double
bench_engine (const double *trace,
              guint64       n)
{
  static const CrierMetricProfile profiles[] = {
    CRIER_METRIC_RATE, CRIER_METRIC_LATENCY, CRIER_METRIC_GAUGE, CRIER_METRIC_ERRORS,
  };
  g_autoptr(CrierAnomalyEngine) engine = crier_anomaly_engine_new ();
  CrierRuleConfig rule = { CRIER_RULE_GT, 1000.0, CRIER_SEVERITY_CRITICAL, 1, 5 };
  guint64 alerts = 0;
  gint64 begin, end;
  double ns;

  for (guint i = 0; i < G_N_ELEMENTS (profiles); i++)
    {
      g_autofree char *name = g_strdup_printf ("metric-%u", i);
      CrierDetectorConfig c;

      crier_detector_config_init (&c, profiles[i]);
      crier_anomaly_engine_add_metric (engine, name, &c);
    }
  crier_anomaly_engine_set_rule (engine, 0, &rule);
  crier_alert_tracker_set_func (crier_anomaly_engine_get_tracker (engine),
                                count_raised_cb, &alerts, NULL);

  begin = g_get_monotonic_time ();
  for (guint64 i = 0; i < n; i++)
    crier_anomaly_engine_push (engine, i & 3, 1000 * (gint64) (i >> 2),
                               trace[(i >> 2) & (TRACE_LEN - 1)]);
  end = g_get_monotonic_time ();

  ns = (end - begin) * 1000.0 / n;
  printf ("%-28s %8.1f ns/sample  (%" G_GUINT64_FORMAT " samples, %" G_GUINT64_FORMAT " alerts raised)\n",
          "engine, 4 metrics + rule", ns, n, alerts);

  return ns;
}

static void
bench_series (const double *trace,
              guint64       n)
{
  g_autoptr(CrierSeries) series = crier_series_new (900);
  CrierSeriesStats stats;
  gint64 begin, end;

  begin = g_get_monotonic_time ();
  for (guint64 i = 0; i < n; i++)
    crier_series_push (series, (gint64) i, trace[i & (TRACE_LEN - 1)]);
  end = g_get_monotonic_time ();
  printf ("%-28s %8.1f ns/sample\n", "series push (900 slots)", (end - begin) * 1000.0 / n);

  begin = g_get_monotonic_time ();
  for (guint i = 0; i < 10000; i++)
    {
      crier_series_get_stats (series, 900, &stats);
      sink = stats.mean;
    }
  end = g_get_monotonic_time ();
  printf ("%-28s %8.1f ns/call\n", "series stats (900 window)", (end - begin) * 1000.0 / 10000);
}

int
main (int   argc,
      char *argv[])
{
  static const struct
  {
    const char         *label;
    CrierMetricProfile  profile;
    guint               detect;   /* 0 = the profile's own */
  } cases[] = {
    { "rate (spike+drop)", CRIER_METRIC_RATE, 0 },
    { "latency (spike+drift)", CRIER_METRIC_LATENCY, 0 },
    { "gauge (drift)", CRIER_METRIC_GAUGE, 0 },
    { "errors (burst)", CRIER_METRIC_ERRORS, 0 },
    { "all four detectors", CRIER_METRIC_RATE,
      CRIER_DETECT_SPIKE | CRIER_DETECT_DROP | CRIER_DETECT_DRIFT | CRIER_DETECT_BURST },
  };
  g_autofree double *trace = make_trace ();
  guint64 n = 10000000;
  double worst = 0.0;
  double ns;

  if (argc > 1)
    n = MAX (g_ascii_strtoull (argv[1], NULL, 10), 1);

  printf ("bench-anomaly: %" G_GUINT64_FORMAT " samples per case\n", n);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      CrierDetectorConfig c;

      crier_detector_config_init (&c, cases[i].profile);
      if (cases[i].detect != 0)
        c.detect = cases[i].detect;
      ns = bench_detector (cases[i].label, &c, trace, n);
      worst = MAX (worst, ns);
    }
  ns = bench_engine (trace, n);
  worst = MAX (worst, ns);
  bench_series (trace, n);

  printf ("worst case %.1f ns/sample: %s the 1 µs target\n", worst, worst < 1000.0 ? "within" : "OVER");

  return worst < 1000.0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
