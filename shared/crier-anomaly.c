/* crier-anomaly.c: streaming detectors, alert tracker, engine and the
 * offline CSV mode (see the header and docs/anomaly-detection.md). */
#include "config.h"

#include "crier-anomaly.h"

#include <math.h>
#include <string.h>

#define N_DETECTORS 4   /* spike, drop, drift, burst: the learning kinds */

/* Below this many samples the spread is too young to winsorise with. */
#define MIN_SAMPLES_TO_CLIP 30

/* σ ≈ 1.2533 × mean absolute deviation for normal data (√(π/2)). */
#define MAD_TO_SIGMA 1.2533141373155001

G_DEFINE_QUARK (crier-anomaly-error-quark, crier_anomaly_error)

/* ------------------------------------------------------------------------ */
/* Alerts                                                                   */

const char *
crier_alert_kind_to_string (CrierAlertKind kind)
{
  switch (kind)
    {
    case CRIER_ALERT_SPIKE: return "spike";
    case CRIER_ALERT_DROP:  return "drop";
    case CRIER_ALERT_DRIFT: return "drift";
    case CRIER_ALERT_BURST: return "burst";
    case CRIER_ALERT_RULE:  return "rule";
    default:                return "unknown";
    }
}

const char *
crier_alert_severity_to_string (CrierAlertSeverity severity)
{
  switch (severity)
    {
    case CRIER_SEVERITY_INFO:     return "info";
    case CRIER_SEVERITY_WARNING:  return "warning";
    case CRIER_SEVERITY_CRITICAL: return "critical";
    default:                      return "unknown";
    }
}

CrierAlert *
crier_alert_copy (const CrierAlert *alert)
{
  CrierAlert *copy;

  g_return_val_if_fail (alert != NULL, NULL);

  copy = g_new (CrierAlert, 1);
  *copy = *alert;
  copy->metric = g_strdup (alert->metric);
  copy->explanation = g_strdup (alert->explanation);

  return copy;
}

void
crier_alert_free (CrierAlert *alert)
{
  if (alert == NULL)
    return;

  g_free (alert->metric);
  g_free (alert->explanation);
  g_free (alert);
}

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */

static void
hysteresis_init (CrierHysteresis *h,
                 guint            raise_count,
                 guint            raise_window,
                 guint            clear_samples)
{
  h->raise_count = raise_count;
  h->raise_window = raise_window;
  h->clear_samples = clear_samples;
  h->clear_score = 0.5;
}

void
crier_detector_config_init (CrierDetectorConfig *config,
                            CrierMetricProfile   profile)
{
  g_return_if_fail (config != NULL);

  memset (config, 0, sizeof *config);

  config->warmup = 300;
  config->level_halflife = 60;
  config->spread_halflife = 300;
  config->clip_sigma = 3.0;
  config->min_sigma = 0.0;
  config->min_sigma_rel = 0.05;
  config->counts = FALSE;
  config->relearn_after = 900;
  config->critical_score = 2.0;

  config->spike_sigma = 6.0;
  hysteresis_init (&config->spike, 3, 3, 10);

  config->drop_ratio = 0.25;
  config->drop_sigma = 1.5;
  hysteresis_init (&config->drop, 8, 10, 10);

  config->drift_direction = CRIER_DRIFT_UP;
  config->drift_short_halflife = 120;
  config->drift_long_halflife = 1800;
  config->drift_rel = 0.10;
  config->drift_sigma = 3.0;
  hysteresis_init (&config->drift, 10, 10, 60);

  config->burst_halflife = 600;
  config->burst_min_count = 3.0;
  config->burst_sigma = 4.0;
  hysteresis_init (&config->burst, 3, 5, 10);

  switch (profile)
    {
    case CRIER_METRIC_RATE:
      config->detect = CRIER_DETECT_SPIKE | CRIER_DETECT_DROP;
      config->counts = TRUE;
      break;

    case CRIER_METRIC_LATENCY:
      config->detect = CRIER_DETECT_SPIKE | CRIER_DETECT_DRIFT;
      break;

    case CRIER_METRIC_GAUGE:
      config->detect = CRIER_DETECT_DRIFT;
      config->warmup = 600;
      config->drift_long_halflife = 3600;
      break;

    case CRIER_METRIC_ERRORS:
      config->detect = CRIER_DETECT_BURST;
      config->counts = TRUE;
      break;

    default:
      g_return_if_reached ();
    }
}

/* ------------------------------------------------------------------------ */
/* Detector                                                                 */

typedef struct
{
  guint32  history;   /* bit i: the sample i steps back scored >= 1 */
  guint    calm;      /* consecutive samples below clear_score while active */
  gboolean active;
  gboolean critical;
  double   score;
} KindState;

struct _CrierDetector
{
  CrierDetectorConfig config;

  /* EW weights derived from the half-lives. */
  double    a_level;
  double    a_spread;
  double    a_short;
  double    a_long;
  double    a_burst;
  double    short_noise;   /* std of the fast drift EWMA per unit σ */

  guint64   n;             /* finite samples seen */

  /* Robust baseline, held while a spike or drop is in progress. */
  double    level;
  double    mad;
  guint     held;          /* consecutive samples the baseline was held */

  /* The same, unconditioned, for relearning after a lasting change. */
  double    shadow_level;
  double    shadow_mad;

  /* Drift: fast and slow EWMAs of the winsorised values. */
  double    fast;
  double    slow;

  /* Burst: baseline count λ. */
  double    rate;
  guint     rate_held;

  /* Figures of the last sample, for crier_detector_describe(). */
  double    last_value;
  double    last_expected;
  double    last_sigma;
  double    last_rate;
  double    last_burst_threshold;

  KindState kinds[N_DETECTORS];
};

static double
alpha_of (double halflife)
{
  if (!(halflife > 0.0))
    return 1.0;

  return 1.0 - exp2 (-1.0 / halflife);
}

static inline guint
popcount32 (guint32 v)
{
#if defined(__GNUC__) || defined(__clang__)
  return (guint) __builtin_popcount (v);
#else
  guint n = 0;

  for (; v != 0; v &= v - 1)
    n++;

  return n;
#endif
}

static void
check_hysteresis (CrierHysteresis *h)
{
  h->raise_window = CLAMP (h->raise_window, 1, 32);
  h->raise_count = CLAMP (h->raise_count, 1, h->raise_window);
  h->clear_samples = MAX (h->clear_samples, 1);
}

/* Sets the fields derived from the configuration. */
static void
detector_derive (CrierDetector *self)
{
  const CrierDetectorConfig *c = &self->config;

  self->a_level = alpha_of (c->level_halflife);
  self->a_spread = alpha_of (c->spread_halflife);
  self->a_short = alpha_of (c->drift_short_halflife);
  self->a_long = alpha_of (c->drift_long_halflife);
  self->a_burst = alpha_of (c->burst_halflife);
  /* Std of an EWMA of white noise, per unit of the noise's σ. */
  self->short_noise = sqrt (self->a_short / (2.0 - self->a_short));
}

CrierDetector *
crier_detector_new (const CrierDetectorConfig *config)
{
  CrierDetector *self;

  g_return_val_if_fail (config != NULL, NULL);

  self = g_new0 (CrierDetector, 1);
  self->config = *config;
  check_hysteresis (&self->config.spike);
  check_hysteresis (&self->config.drop);
  check_hysteresis (&self->config.drift);
  check_hysteresis (&self->config.burst);
  detector_derive (self);

  return self;
}

void
crier_detector_free (CrierDetector *self)
{
  g_free (self);
}

void
crier_detector_reset (CrierDetector *self)
{
  CrierDetectorConfig config;

  g_return_if_fail (self != NULL);

  config = self->config;
  memset (self, 0, sizeof *self);
  self->config = config;
  detector_derive (self);
}

const CrierDetectorConfig *
crier_detector_get_config (const CrierDetector *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return &self->config;
}

gboolean
crier_detector_is_warm (const CrierDetector *self)
{
  g_return_val_if_fail (self != NULL, FALSE);

  return self->n > self->config.warmup;
}

gboolean
crier_detector_is_active (const CrierDetector *self,
                          CrierAlertKind       kind)
{
  g_return_val_if_fail (self != NULL, FALSE);

  if ((guint) kind >= N_DETECTORS)
    return FALSE;

  return self->kinds[kind].active;
}

double
crier_detector_get_score (const CrierDetector *self,
                          CrierAlertKind       kind)
{
  g_return_val_if_fail (self != NULL, 0.0);

  if ((guint) kind >= N_DETECTORS)
    return 0.0;

  return self->kinds[kind].score;
}

void
crier_detector_describe (const CrierDetector *self,
                         CrierAlertKind       kind,
                         double              *observed,
                         double              *expected,
                         double              *sigma,
                         double              *score)
{
  double o, e, s;

  g_return_if_fail (self != NULL);

  o = self->last_value;
  e = self->last_expected;
  s = self->last_sigma;

  if (kind == CRIER_ALERT_DRIFT)
    {
      o = self->fast;
      e = self->slow;
      s = self->last_sigma * self->short_noise;
    }
  else if (kind == CRIER_ALERT_BURST)
    {
      e = self->last_rate;
      s = sqrt (MAX (self->last_rate, 0.0));
    }

  if (observed != NULL)
    *observed = o;
  if (expected != NULL)
    *expected = e;
  if (sigma != NULL)
    *sigma = s;
  if (score != NULL)
    *score = (guint) kind < N_DETECTORS ? self->kinds[kind].score : 0.0;
}

static inline const CrierHysteresis *
hysteresis_of (const CrierDetectorConfig *c,
               guint                      kind)
{
  switch (kind)
    {
    case CRIER_ALERT_SPIKE: return &c->spike;
    case CRIER_ALERT_DROP:  return &c->drop;
    case CRIER_ALERT_DRIFT: return &c->drift;
    default:                return &c->burst;
    }
}

/* The baseline's σ with its floors. */
static inline double
sigma_of (const CrierDetector *self)
{
  const CrierDetectorConfig *c = &self->config;
  double sigma = MAD_TO_SIGMA * self->mad;

  sigma = MAX (sigma, c->min_sigma);
  sigma = MAX (sigma, c->min_sigma_rel * fabs (self->level));
  if (c->counts)
    sigma = MAX (sigma, sqrt (MAX (self->level, 1.0)));

  /* A constant series of zeros still needs a finite z. */
  return MAX (sigma, 1e-12);
}

/* One step of a detector's raise/resolve state machine. */
static inline void
kind_step (KindState             *k,
           const CrierHysteresis *h,
           double                 score,
           double                 critical_score,
           guint                  flag,
           CrierDetectorResult   *result)
{
  k->score = score;
  k->history = (k->history << 1) | (score >= 1.0 ? 1u : 0u);

  if (!k->active)
    {
      guint32 mask = h->raise_window >= 32 ? G_MAXUINT32 : (1u << h->raise_window) - 1;

      if (popcount32 (k->history & mask) >= h->raise_count)
        {
          k->active = TRUE;
          k->calm = 0;
          k->critical = score >= critical_score;
          result->raised |= flag;
        }
      return;
    }

  if (score < h->clear_score)
    k->calm++;
  else
    k->calm = 0;

  if (!k->critical && score >= critical_score)
    {
      k->critical = TRUE;
      result->escalated |= flag;
    }

  if (k->calm >= h->clear_samples)
    {
      k->active = FALSE;
      k->critical = FALSE;
      k->history = 0;
      result->resolved |= flag;
    }
}

static void
detector_first_sample (CrierDetector *self,
                       double         x)
{
  self->level = self->shadow_level = x;
  self->mad = self->shadow_mad = 0.0;
  self->fast = self->slow = x;
  self->rate = MAX (x, 0.0);
}

void
crier_detector_push (CrierDetector       *self,
                     double               x,
                     CrierDetectorResult *result)
{
  const CrierDetectorConfig *c;
  CrierDetectorResult dummy;
  double score[N_DETECTORS] = { 0.0, };
  double sigma, level, clip, w;
  double a_level, a_spread;
  double burst_threshold = 0.0;
  gboolean warm, hold;

  g_return_if_fail (self != NULL);

  if (result == NULL)
    result = &dummy;
  memset (result, 0, sizeof *result);

  if (!isfinite (x))
    return;

  c = &self->config;
  self->n++;

  if (self->n == 1)
    detector_first_sample (self, x);

  /* Adaptive weights: a plain mean until 1/n falls below the EW weight, so
   * the warm-up learns quickly without a biased start. */
  w = 1.0 / (double) self->n;
  a_level = MAX (self->a_level, w);
  a_spread = MAX (self->a_spread, w);

  level = self->level;
  sigma = sigma_of (self);
  clip = self->n > MIN_SAMPLES_TO_CLIP ? c->clip_sigma * sigma : G_MAXDOUBLE;
  warm = self->n > c->warmup;

  self->last_value = x;
  self->last_expected = level;
  self->last_sigma = sigma;
  self->last_rate = self->rate;

  /* Scores: 1.0 is each detector's raise threshold. */
  if (c->detect & CRIER_DETECT_SPIKE)
    score[CRIER_ALERT_SPIKE] = (x - level) / (c->spike_sigma * sigma);

  if ((c->detect & CRIER_DETECT_DROP) && level > 0.0)
    {
      double by_sigma = (level - x) / (c->drop_sigma * sigma);
      double by_ratio = (level - x) / ((1.0 - c->drop_ratio) * level);

      score[CRIER_ALERT_DROP] = MIN (by_sigma, by_ratio);
    }

  if (c->detect & CRIER_DETECT_BURST)
    {
      double lambda = self->rate;

      /* The Poisson(λ) quantile at the normal z = burst_sigma, with the
       * Cornish-Fisher skew correction (z² − 1) / 6: the tail probability
       * stays near the normal one (3e-5 at z = 4) even when λ is tiny. */
      burst_threshold = MAX (c->burst_min_count,
                             lambda + c->burst_sigma * sqrt (lambda) +
                             (c->burst_sigma * c->burst_sigma - 1.0) / 6.0);
      score[CRIER_ALERT_BURST] = (x - lambda) / MAX (burst_threshold - lambda, 1e-12);
    }

  /* Baseline.  A sample that a spike or drop detector flags (or that keeps
   * an active one from calming down) does not teach the baseline anything:
   * otherwise a ten-minute collapse would become the new normal and the
   * recovery would look like a spike.  Everything else updates it with
   * its residual winsorised at ±clip σ.  A change that lasts
   * relearn_after samples is accepted from the unconditioned shadow. */
  hold = FALSE;
  if (warm)
    {
      for (guint k = CRIER_ALERT_SPIKE; k <= CRIER_ALERT_DROP; k++)
        {
          if ((c->detect & (1u << k)) &&
              score[k] >= (self->kinds[k].active ? hysteresis_of (c, k)->clear_score : 1.0))
            hold = TRUE;
        }
    }

  if (hold)
    {
      self->held++;
      if (c->relearn_after > 0 && self->held >= c->relearn_after)
        {
          self->level = self->shadow_level;
          self->mad = self->shadow_mad;
          self->held = 0;
        }
    }
  else
    {
      double r = CLAMP (x - level, -clip, clip);

      self->held = 0;
      self->level += a_level * r;
      self->mad += a_spread * (fabs (r) - self->mad);
    }

  {
    double r = x - self->shadow_level;

    self->shadow_level += a_level * r;
    self->shadow_mad += a_spread * (fabs (r) - self->shadow_mad);
  }

  /* Drift: compare a fast and a slow EWMA of the winsorised value. */
  if (c->detect & CRIER_DETECT_DRIFT)
    {
      double xd = CLAMP (x, level - clip, level + clip);
      double noise, denom, d, s = 0.0;

      self->fast += MAX (self->a_short, w) * (xd - self->fast);
      self->slow += MAX (self->a_long, w) * (xd - self->slow);

      noise = sigma * self->short_noise;
      denom = c->drift_rel * fabs (self->slow) + c->drift_sigma * noise;
      denom = MAX (denom, 1e-12);
      d = (self->fast - self->slow) / denom;
      if (c->drift_direction & CRIER_DRIFT_UP)
        s = d;
      if (c->drift_direction & CRIER_DRIFT_DOWN)
        s = MAX (s, -d);
      score[CRIER_ALERT_DRIFT] = s;
    }

  /* Burst baseline: winsorised at the threshold, held while bursting. */
  if (c->detect & CRIER_DETECT_BURST)
    {
      KindState *k = &self->kinds[CRIER_ALERT_BURST];

      if (warm && (k->active || score[CRIER_ALERT_BURST] >= 1.0))
        {
          self->rate_held++;
          if (c->relearn_after > 0 && self->rate_held >= c->relearn_after)
            {
              self->rate = MAX (self->shadow_level, 0.0);
              self->rate_held = 0;
            }
        }
      else
        {
          double xb = CLAMP (x, 0.0, MAX (burst_threshold, self->rate));

          self->rate_held = 0;
          self->rate += MAX (self->a_burst, w) * (xb - self->rate);
        }
      self->last_burst_threshold = burst_threshold;
    }

  result->expected = level;
  result->spread = sigma;

  if (!warm)
    return;

  for (guint k = 0; k < N_DETECTORS; k++)
    {
      if (!(c->detect & (1u << k)))
        continue;

      kind_step (&self->kinds[k], hysteresis_of (c, k), score[k], c->critical_score,
                 1u << k, result);
      result->score = MAX (result->score, score[k]);
    }
}

/* ------------------------------------------------------------------------ */
/* Alert tracker                                                            */

struct _CrierAlertTracker
{
  GPtrArray      *active;      /* CrierAlert*, oldest first */
  GQueue          recent;      /* resolved CrierAlert*, newest first */
  guint           max_recent;
  guint64         next_id;
  CrierAlertFunc  func;
  gpointer        func_data;
  GDestroyNotify  func_destroy;
};

CrierAlertTracker *
crier_alert_tracker_new (guint max_recent)
{
  CrierAlertTracker *self = g_new0 (CrierAlertTracker, 1);

  self->active = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_alert_free);
  g_queue_init (&self->recent);
  self->max_recent = max_recent;
  self->next_id = 1;

  return self;
}

void
crier_alert_tracker_free (CrierAlertTracker *self)
{
  if (self == NULL)
    return;

  if (self->func_destroy != NULL)
    self->func_destroy (self->func_data);
  g_ptr_array_unref (self->active);
  g_queue_clear_full (&self->recent, (GDestroyNotify) crier_alert_free);
  g_free (self);
}

void
crier_alert_tracker_set_func (CrierAlertTracker *self,
                              CrierAlertFunc     func,
                              gpointer           user_data,
                              GDestroyNotify     destroy)
{
  g_return_if_fail (self != NULL);

  if (self->func_destroy != NULL)
    self->func_destroy (self->func_data);

  self->func = func;
  self->func_data = user_data;
  self->func_destroy = destroy;
}

static void
tracker_emit (CrierAlertTracker *self,
              CrierAlertEvent    event,
              const CrierAlert  *alert)
{
  if (self->func != NULL)
    self->func (event, alert, self->func_data);
}

static int
tracker_find (const CrierAlertTracker *self,
              const char              *metric,
              CrierAlertKind           kind)
{
  for (guint i = 0; i < self->active->len; i++)
    {
      const CrierAlert *a = g_ptr_array_index (self->active, i);

      if (a->kind == kind && strcmp (a->metric, metric) == 0)
        return (int) i;
    }

  return -1;
}

guint64
crier_alert_tracker_raise (CrierAlertTracker  *self,
                           const char         *metric,
                           CrierAlertKind      kind,
                           CrierAlertSeverity  severity,
                           gint64              timestamp,
                           double              observed,
                           double              expected,
                           double              score,
                           const char         *explanation)
{
  CrierAlert *alert;
  int i;

  g_return_val_if_fail (self != NULL, 0);
  g_return_val_if_fail (metric != NULL, 0);

  i = tracker_find (self, metric, kind);
  if (i >= 0)
    {
      alert = g_ptr_array_index (self->active, i);
      alert->severity = MAX (alert->severity, severity);
      alert->observed = observed;
      alert->expected = expected;
      alert->score = score;
      g_free (alert->explanation);
      alert->explanation = g_strdup (explanation != NULL ? explanation : "");
      tracker_emit (self, CRIER_ALERT_UPDATED, alert);
      return alert->id;
    }

  alert = g_new0 (CrierAlert, 1);
  alert->id = self->next_id++;
  alert->metric = g_strdup (metric);
  alert->kind = kind;
  alert->severity = severity;
  alert->start_time = timestamp;
  alert->end_time = 0;
  alert->observed = observed;
  alert->expected = expected;
  alert->score = score;
  alert->explanation = g_strdup (explanation != NULL ? explanation : "");
  g_ptr_array_add (self->active, alert);
  tracker_emit (self, CRIER_ALERT_RAISED, alert);

  return alert->id;
}

gboolean
crier_alert_tracker_resolve (CrierAlertTracker *self,
                             const char        *metric,
                             CrierAlertKind     kind,
                             gint64             timestamp)
{
  CrierAlert *alert;
  int i;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (metric != NULL, FALSE);

  i = tracker_find (self, metric, kind);
  if (i < 0)
    return FALSE;

  alert = g_ptr_array_steal_index (self->active, i);
  /* 0 means "active", so a resolution at time 0 is recorded as 1 ms. */
  alert->end_time = MAX (timestamp, alert->start_time);
  if (alert->end_time == 0)
    alert->end_time = 1;
  tracker_emit (self, CRIER_ALERT_RESOLVED, alert);

  g_queue_push_head (&self->recent, alert);
  while (self->recent.length > self->max_recent)
    crier_alert_free (g_queue_pop_tail (&self->recent));

  return TRUE;
}

guint
crier_alert_tracker_get_n_active (const CrierAlertTracker *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->active->len;
}

const CrierAlert *
crier_alert_tracker_lookup (const CrierAlertTracker *self,
                            const char              *metric,
                            CrierAlertKind           kind)
{
  int i;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (metric != NULL, NULL);

  i = tracker_find (self, metric, kind);

  return i >= 0 ? g_ptr_array_index (self->active, i) : NULL;
}

GPtrArray *
crier_alert_tracker_get_alerts (const CrierAlertTracker *self,
                                gboolean                 include_resolved)
{
  GPtrArray *out;

  g_return_val_if_fail (self != NULL, NULL);

  out = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_alert_free);
  for (guint i = self->active->len; i > 0; i--)
    g_ptr_array_add (out, crier_alert_copy (g_ptr_array_index (self->active, i - 1)));

  if (include_resolved)
    for (const GList *l = self->recent.head; l != NULL; l = l->next)
      g_ptr_array_add (out, crier_alert_copy (l->data));

  return out;
}

/* ------------------------------------------------------------------------ */
/* Engine                                                                   */

typedef struct
{
  char            *name;
  CrierDetector   *detector;      /* NULL for a rule-only metric */
  gboolean         has_rule;
  CrierRuleConfig  rule;
  guint            rule_true;     /* consecutive samples the rule held */
  guint            rule_false;
  gboolean         rule_active;
  double           score;
  double           expected;
  gint64           last_timestamp;
} Metric;

struct _CrierAnomalyEngine
{
  GArray            *metrics;   /* Metric */
  CrierAlertTracker *tracker;
};

CrierAnomalyEngine *
crier_anomaly_engine_new (void)
{
  CrierAnomalyEngine *self = g_new0 (CrierAnomalyEngine, 1);

  self->metrics = g_array_new (FALSE, TRUE, sizeof (Metric));
  self->tracker = crier_alert_tracker_new (100);

  return self;
}

void
crier_anomaly_engine_free (CrierAnomalyEngine *self)
{
  if (self == NULL)
    return;

  for (guint i = 0; i < self->metrics->len; i++)
    {
      Metric *m = &g_array_index (self->metrics, Metric, i);

      g_free (m->name);
      crier_detector_free (m->detector);
    }
  g_array_unref (self->metrics);
  crier_alert_tracker_free (self->tracker);
  g_free (self);
}

guint
crier_anomaly_engine_add_metric (CrierAnomalyEngine        *self,
                                 const char                *name,
                                 const CrierDetectorConfig *config)
{
  Metric m = { 0, };

  g_return_val_if_fail (self != NULL, G_MAXUINT);
  g_return_val_if_fail (name != NULL, G_MAXUINT);
  g_return_val_if_fail (crier_anomaly_engine_lookup (self, name) < 0, G_MAXUINT);

  m.name = g_strdup (name);
  m.detector = config != NULL ? crier_detector_new (config) : NULL;
  m.expected = NAN;
  g_array_append_val (self->metrics, m);

  return self->metrics->len - 1;
}

void
crier_anomaly_engine_set_rule (CrierAnomalyEngine    *self,
                               guint                  metric,
                               const CrierRuleConfig *rule)
{
  Metric *m;

  g_return_if_fail (self != NULL);
  g_return_if_fail (metric < self->metrics->len);

  m = &g_array_index (self->metrics, Metric, metric);
  if (m->rule_active)
    {
      crier_alert_tracker_resolve (self->tracker, m->name, CRIER_ALERT_RULE, m->last_timestamp);
      m->rule_active = FALSE;
    }

  m->has_rule = rule != NULL;
  m->rule_true = m->rule_false = 0;
  if (rule != NULL)
    {
      m->rule = *rule;
      m->rule.raise_samples = MAX (m->rule.raise_samples, 1);
      m->rule.clear_samples = MAX (m->rule.clear_samples, 1);
    }
}

int
crier_anomaly_engine_lookup (CrierAnomalyEngine *self,
                             const char         *name)
{
  g_return_val_if_fail (self != NULL, -1);
  g_return_val_if_fail (name != NULL, -1);

  for (guint i = 0; i < self->metrics->len; i++)
    if (strcmp (g_array_index (self->metrics, Metric, i).name, name) == 0)
      return (int) i;

  return -1;
}

guint
crier_anomaly_engine_get_n_metrics (CrierAnomalyEngine *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->metrics->len;
}

const char *
crier_anomaly_engine_get_name (CrierAnomalyEngine *self,
                               guint               metric)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (metric < self->metrics->len, NULL);

  return g_array_index (self->metrics, Metric, metric).name;
}

/* Short human form of a number for explanations: "950", "12", "4.12". */
static const char *
format_number (char   *buf,
               gsize   len,
               double  v)
{
  if (!isfinite (v))
    g_strlcpy (buf, isnan (v) ? "nan" : (v > 0 ? "inf" : "-inf"), len);
  else if (fabs (v) >= 999.5)
    g_ascii_formatd (buf, len, "%.0f", v);
  else
    g_ascii_formatd (buf, len, "%.3g", v);

  return buf;
}

static char *
explain (const char     *name,
         CrierAlertKind  kind,
         double          observed,
         double          expected,
         double          sigma,
         double          extra)
{
  char o[32], e[32], s[32], z[32];

  format_number (o, sizeof o, observed);
  format_number (e, sizeof e, expected);
  format_number (s, sizeof s, sigma);

  switch (kind)
    {
    case CRIER_ALERT_SPIKE:
      g_ascii_formatd (z, sizeof z, "%.1f", (observed - expected) / sigma);
      return g_strdup_printf ("%s %s vs expected %s ± %s (spike, %sσ)", name, o, e, s, z);

    case CRIER_ALERT_DROP:
      g_ascii_formatd (z, sizeof z, "%.1f", (expected - observed) / sigma);
      return g_strdup_printf ("%s %s vs expected %s ± %s (drop, %.0f%% below, %sσ)",
                              name, o, e, s,
                              expected != 0.0 ? 100.0 * (expected - observed) / expected : 0.0,
                              z);

    case CRIER_ALERT_DRIFT:
      {
        double pct = expected != 0.0 ? 100.0 * (observed - expected) / fabs (expected) : 0.0;

        return g_strdup_printf ("%s %s vs expected %s (drift, %+.0f%% from the %s min baseline)",
                                name, o, e, pct, format_number (z, sizeof z, extra / 60.0));
      }

    case CRIER_ALERT_BURST:
      return g_strdup_printf ("%s %s vs expected %s (burst, threshold %s)",
                              name, o, e, format_number (z, sizeof z, extra));

    case CRIER_ALERT_RULE:
    default:
      return g_strdup_printf ("%s %s, limit %s (rule)", name, o, e);
    }
}

static void
engine_raise (CrierAnomalyEngine *self,
              Metric             *m,
              CrierAlertKind      kind,
              gint64              timestamp)
{
  const CrierDetectorConfig *c = crier_detector_get_config (m->detector);
  g_autofree char *text = NULL;
  double observed = NAN, expected = NAN, sigma = NAN, score = 0.0, extra = 0.0;

  crier_detector_describe (m->detector, kind, &observed, &expected, &sigma, &score);
  if (kind == CRIER_ALERT_DRIFT)
    extra = c->drift_long_halflife;
  else if (kind == CRIER_ALERT_BURST)
    extra = m->detector->last_burst_threshold;

  text = explain (m->name, kind, observed, expected, sigma, extra);
  crier_alert_tracker_raise (self->tracker, m->name, kind,
                             score >= c->critical_score ? CRIER_SEVERITY_CRITICAL
                                                        : CRIER_SEVERITY_WARNING,
                             timestamp, observed, expected, score, text);
}

static gboolean
rule_holds (const CrierRuleConfig *rule,
            double                 v)
{
  switch (rule->op)
    {
    case CRIER_RULE_GT: return v > rule->threshold;
    case CRIER_RULE_GE: return v >= rule->threshold;
    case CRIER_RULE_LT: return v < rule->threshold;
    case CRIER_RULE_LE: return v <= rule->threshold;
    case CRIER_RULE_EQ: return v == rule->threshold;
    case CRIER_RULE_NE: return v != rule->threshold;
    default:            return FALSE;
    }
}

static void
engine_rule (CrierAnomalyEngine *self,
             Metric             *m,
             gint64              timestamp,
             double              value)
{
  static const char *const op_names[] = { ">", ">=", "<", "<=", "==", "!=" };

  if (rule_holds (&m->rule, value))
    {
      m->rule_true++;
      m->rule_false = 0;
      m->score = MAX (m->score, 1.0);

      if (!m->rule_active && m->rule_true >= m->rule.raise_samples)
        {
          g_autofree char *text = NULL;
          const char *op = "?";
          char v[32], t[32];

          if ((guint) m->rule.op < G_N_ELEMENTS (op_names))
            op = op_names[m->rule.op];
          format_number (v, sizeof v, value);
          format_number (t, sizeof t, m->rule.threshold);
          text = g_strdup_printf ("%s %s %s %s (rule)", m->name, v, op, t);
          m->rule_active = TRUE;
          crier_alert_tracker_raise (self->tracker, m->name, CRIER_ALERT_RULE,
                                     m->rule.severity, timestamp, value,
                                     m->rule.threshold, 1.0, text);
        }
    }
  else
    {
      m->rule_false++;
      m->rule_true = 0;

      if (m->rule_active && m->rule_false >= m->rule.clear_samples)
        {
          m->rule_active = FALSE;
          crier_alert_tracker_resolve (self->tracker, m->name, CRIER_ALERT_RULE, timestamp);
        }
    }
}

void
crier_anomaly_engine_push (CrierAnomalyEngine *self,
                           guint               metric,
                           gint64              timestamp,
                           double              value)
{
  Metric *m;

  g_return_if_fail (self != NULL);
  g_return_if_fail (metric < self->metrics->len);

  m = &g_array_index (self->metrics, Metric, metric);
  m->last_timestamp = timestamp;
  if (!isfinite (value))
    {
      m->score = NAN;
      return;
    }

  m->score = 0.0;

  if (m->detector != NULL)
    {
      CrierDetectorResult r;

      crier_detector_push (m->detector, value, &r);
      m->score = r.score;
      m->expected = r.expected;

      if (r.raised | r.escalated | r.resolved)
        {
          for (guint k = 0; k < N_DETECTORS; k++)
            {
              guint flag = 1u << k;

              if (r.raised & flag || r.escalated & flag)
                engine_raise (self, m, k, timestamp);
              if (r.resolved & flag)
                crier_alert_tracker_resolve (self->tracker, m->name, k, timestamp);
            }
        }
    }

  if (m->has_rule)
    engine_rule (self, m, timestamp, value);
}

double
crier_anomaly_engine_get_score (CrierAnomalyEngine *self,
                                guint               metric)
{
  g_return_val_if_fail (self != NULL, NAN);
  g_return_val_if_fail (metric < self->metrics->len, NAN);

  return g_array_index (self->metrics, Metric, metric).score;
}

double
crier_anomaly_engine_get_expected (CrierAnomalyEngine *self,
                                   guint               metric)
{
  g_return_val_if_fail (self != NULL, NAN);
  g_return_val_if_fail (metric < self->metrics->len, NAN);

  return g_array_index (self->metrics, Metric, metric).expected;
}

CrierDetector *
crier_anomaly_engine_get_detector (CrierAnomalyEngine *self,
                                   guint               metric)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (metric < self->metrics->len, NULL);

  return g_array_index (self->metrics, Metric, metric).detector;
}

CrierAlertTracker *
crier_anomaly_engine_get_tracker (CrierAnomalyEngine *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->tracker;
}

GPtrArray *
crier_anomaly_engine_get_alerts (CrierAnomalyEngine *self,
                                 gboolean            include_resolved)
{
  g_return_val_if_fail (self != NULL, NULL);

  return crier_alert_tracker_get_alerts (self->tracker, include_resolved);
}

/* ------------------------------------------------------------------------ */
/* Offline CSV mode                                                         */

typedef struct
{
  const char *ts_text;   /* points into the split lines */
  gint64      ms;
  double      value;
} CsvRow;

typedef struct
{
  guint64            id;
  CrierAlertKind     kind;
  CrierAlertSeverity severity;
  guint              start_row;
  int                end_row;   /* -1 while active */
  char              *explanation;
} CsvAlert;

typedef struct
{
  GString *events;    /* this row's events, "; " separated */
  GArray  *alerts;    /* CsvAlert */
  guint    row;
} CsvRun;

static void
csv_alert_clear (gpointer data)
{
  CsvAlert *a = data;

  g_free (a->explanation);
}

static CsvAlert *
csv_run_find (CsvRun  *run,
              guint64  id)
{
  for (guint i = run->alerts->len; i > 0; i--)
    {
      CsvAlert *a = &g_array_index (run->alerts, CsvAlert, i - 1);

      if (a->id == id)
        return a;
    }

  return NULL;
}

static void
csv_alert_cb (CrierAlertEvent   event,
              const CrierAlert *alert,
              gpointer          user_data)
{
  CsvRun *run = user_data;
  CsvAlert *a = csv_run_find (run, alert->id);

  if (run->events->len > 0)
    g_string_append (run->events, "; ");

  switch (event)
    {
    case CRIER_ALERT_RAISED:
      {
        CsvAlert n = { 0, };

        n.id = alert->id;
        n.kind = alert->kind;
        n.severity = alert->severity;
        n.start_row = run->row;
        n.end_row = -1;
        n.explanation = g_strdup (alert->explanation);
        g_array_append_val (run->alerts, n);
        g_string_append_printf (run->events, "raised %s #%" G_GUINT64_FORMAT " %s: %s",
                                crier_alert_kind_to_string (alert->kind), alert->id,
                                crier_alert_severity_to_string (alert->severity),
                                alert->explanation);
      }
      break;

    case CRIER_ALERT_UPDATED:
      if (a != NULL)
        {
          a->severity = alert->severity;
          g_free (a->explanation);
          a->explanation = g_strdup (alert->explanation);
        }
      g_string_append_printf (run->events, "escalated %s #%" G_GUINT64_FORMAT " %s: %s",
                              crier_alert_kind_to_string (alert->kind), alert->id,
                              crier_alert_severity_to_string (alert->severity),
                              alert->explanation);
      break;

    case CRIER_ALERT_RESOLVED:
    default:
      if (a != NULL)
        a->end_row = (int) run->row;
      g_string_append_printf (run->events, "resolved %s #%" G_GUINT64_FORMAT,
                              crier_alert_kind_to_string (alert->kind), alert->id);
      break;
    }
}

/* Strips blanks and one pair of surrounding double quotes, in place. */
static char *
csv_field (char *s)
{
  gsize len;

  g_strstrip (s);
  len = strlen (s);
  if (len >= 2 && s[0] == '"' && s[len - 1] == '"')
    {
      s[len - 1] = '\0';
      s++;
      g_strstrip (s);
    }

  return s;
}

static gboolean
csv_number (const char *s,
            double     *out)
{
  char *end = NULL;
  double v;

  if (*s == '\0')
    return FALSE;

  v = g_ascii_strtod (s, &end);
  if (end == s || *end != '\0')
    return FALSE;

  *out = v;
  return TRUE;
}

static gboolean
csv_timestamp (const char *s,
               gint64     *ms)
{
  g_autoptr(GTimeZone) utc = NULL;
  g_autoptr(GDateTime) dt = NULL;
  double v;

  if (csv_number (s, &v))
    {
      if (!isfinite (v) || fabs (v) > 9.0e15)
        return FALSE;
      *ms = (gint64) llround (v * 1000.0);
      return TRUE;
    }

  if (*s == '\0')
    return FALSE;

  utc = g_time_zone_new_utc ();
  dt = g_date_time_new_from_iso8601 (s, utc);
  if (dt == NULL)
    return FALSE;

  *ms = g_date_time_to_unix (dt) * 1000 + g_date_time_get_microsecond (dt) / 1000;
  return TRUE;
}

/* Empty, "nan" and "NaN" are missing samples. */
static gboolean
csv_value (const char *s,
           double     *out)
{
  if (*s == '\0' || g_ascii_strcasecmp (s, "nan") == 0)
    {
      *out = NAN;
      return TRUE;
    }

  return csv_number (s, out);
}

static void
csv_append_quoted (GString    *out,
                   const char *text)
{
  g_string_append_c (out, '"');
  for (const char *p = text; *p != '\0'; p++)
    {
      if (*p == '"')
        g_string_append_c (out, '"');
      g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
}

static void
csv_append_number (GString    *out,
                   const char *format,
                   double      v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (isfinite (v))
    g_string_append (out, g_ascii_formatd (buf, sizeof buf, format, v));
}

static gboolean
csv_parse (char       **lines,
           GArray      *rows,
           char       **metric_name,
           GError     **error)
{
  gboolean first = TRUE;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *line = lines[i];
      char *comma, *ts, *val;
      CsvRow row;

      if (i == 0 && g_str_has_prefix (line, "\xEF\xBB\xBF"))
        line += 3;
      g_strstrip (line);
      if (*line == '\0' || *line == '#')
        continue;

      comma = strchr (line, ',');
      if (comma == NULL || strchr (comma + 1, ',') != NULL)
        {
          g_set_error (error, CRIER_ANOMALY_ERROR, CRIER_ANOMALY_ERROR_PARSE,
                       "line %u: expected two columns, timestamp,value", i + 1);
          return FALSE;
        }
      *comma = '\0';
      ts = csv_field (line);
      val = csv_field (comma + 1);

      if (!csv_timestamp (ts, &row.ms))
        {
          double ignored;

          if (first && !csv_number (val, &ignored))
            {
              /* A header: its second column names the metric. */
              if (*val != '\0')
                {
                  g_free (*metric_name);
                  *metric_name = g_strdup (val);
                }
              first = FALSE;
              continue;
            }

          g_set_error (error, CRIER_ANOMALY_ERROR, CRIER_ANOMALY_ERROR_PARSE,
                       "line %u: bad timestamp “%s” (Unix seconds or ISO 8601)", i + 1, ts);
          return FALSE;
        }

      first = FALSE;
      if (!csv_value (val, &row.value))
        {
          g_set_error (error, CRIER_ANOMALY_ERROR, CRIER_ANOMALY_ERROR_PARSE,
                       "line %u: bad value “%s”", i + 1, val);
          return FALSE;
        }

      row.ts_text = ts;
      g_array_append_val (rows, row);
    }

  if (rows->len == 0)
    {
      g_set_error_literal (error, CRIER_ANOMALY_ERROR, CRIER_ANOMALY_ERROR_EMPTY,
                           "no timestamp,value rows");
      return FALSE;
    }

  return TRUE;
}

gboolean
crier_anomaly_detect_csv (const char                *csv_text,
                          const CrierDetectorConfig *config,
                          GString                   *out,
                          GError                   **error)
{
  g_auto(GStrv) lines = NULL;
  g_autoptr(GArray) rows = NULL;
  g_autoptr(GArray) alerts = NULL;
  CrierAnomalyEngine *engine;
  g_autoptr(GString) text = NULL;
  g_autoptr(GString) events = NULL;
  g_autofree char *name = NULL;
  CrierDetectorConfig defaults;
  CsvRun run = { 0, };
  guint n_samples = 0;
  guint metric;

  g_return_val_if_fail (csv_text != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  name = g_strdup ("value");
  lines = g_strsplit (csv_text, "\n", -1);
  rows = g_array_new (FALSE, FALSE, sizeof (CsvRow));
  if (!csv_parse (lines, rows, &name, error))
    return FALSE;

  if (config == NULL)
    {
      crier_detector_config_init (&defaults, CRIER_METRIC_RATE);
      config = &defaults;
    }

  engine = crier_anomaly_engine_new ();
  metric = crier_anomaly_engine_add_metric (engine, name, config);
  alerts = g_array_new (FALSE, TRUE, sizeof (CsvAlert));
  g_array_set_clear_func (alerts, csv_alert_clear);
  events = g_string_new (NULL);
  run.events = events;
  run.alerts = alerts;
  crier_alert_tracker_set_func (crier_anomaly_engine_get_tracker (engine),
                                csv_alert_cb, &run, NULL);

  text = g_string_new ("timestamp,value,expected,sigma,score,event\n");
  for (guint i = 0; i < rows->len; i++)
    {
      const CsvRow *row = &g_array_index (rows, CsvRow, i);
      CrierDetector *detector = crier_anomaly_engine_get_detector (engine, metric);

      run.row = i;
      g_string_truncate (events, 0);
      crier_anomaly_engine_push (engine, metric, row->ms, row->value);

      g_string_append (text, row->ts_text);
      g_string_append_c (text, ',');
      if (isfinite (row->value))
        {
          double expected = NAN, sigma = NAN;

          n_samples++;
          crier_detector_describe (detector, CRIER_ALERT_SPIKE, NULL, &expected, &sigma, NULL);
          csv_append_number (text, "%.6g", row->value);
          g_string_append_c (text, ',');
          csv_append_number (text, "%.6g", expected);
          g_string_append_c (text, ',');
          csv_append_number (text, "%.6g", sigma);
          g_string_append_c (text, ',');
          csv_append_number (text, "%.3f",
                             MAX (crier_anomaly_engine_get_score (engine, metric), 0.0));
          g_string_append_c (text, ',');
        }
      else
        g_string_append (text, ",,,,");

      if (events->len > 0)
        csv_append_quoted (text, events->str);
      g_string_append_c (text, '\n');
    }

  g_string_append_printf (text, "# %u rows, %u samples, %u alerts\n",
                          rows->len, n_samples, alerts->len);
  for (guint i = 0; i < alerts->len; i++)
    {
      const CsvAlert *a = &g_array_index (alerts, CsvAlert, i);

      g_string_append_printf (text, "# alert #%" G_GUINT64_FORMAT " %s %s from %s ",
                              a->id, crier_alert_kind_to_string (a->kind),
                              crier_alert_severity_to_string (a->severity),
                              g_array_index (rows, CsvRow, a->start_row).ts_text);
      if (a->end_row >= 0)
        g_string_append_printf (text, "to %s: ",
                                g_array_index (rows, CsvRow, a->end_row).ts_text);
      else
        g_string_append (text, "(still active): ");
      g_string_append (text, a->explanation);
      g_string_append_c (text, '\n');
    }

  /* The callback points at this frame. */
  crier_anomaly_engine_free (engine);
  g_string_append_len (out, text->str, text->len);

  return TRUE;
}
