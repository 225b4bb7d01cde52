/* crier-anomaly.h: streaming anomaly detection on 1 Hz metrics.
 *
 * crierd runs this on its own metrics every tick; the dashboard and
 * `crierctl detect FILE.csv` run the same code.  Three layers:
 *
 *  - CrierDetector: one metric's learned baseline (robust level and
 *    spread) and the detectors enabled for it: spike, drop, drift and
 *    burst.  Constant memory and O(1) work per sample; each detector
 *    raises after k of the last n samples score >= 1 and resolves after N
 *    consecutive samples score below a lower mark (hysteresis).
 *  - CrierAlertTracker: the current alerts (one per metric and kind) and a
 *    bounded list of resolved ones, with raised/updated/resolved events.
 *  - CrierAnomalyEngine: a named set of metrics (a detector and/or an
 *    always-bad rule each) feeding one tracker.
 *
 * The maths, the defaults and the evaluation are in docs/anomaly-detection.md.
 * Timestamps are Unix milliseconds.  A NaN value is a missing sample and is
 * ignored.  Nothing here is thread-safe; use one engine per thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  CRIER_ALERT_SPIKE,   /* sudden rise: connect storms, throughput spikes */
  CRIER_ALERT_DROP,    /* sudden fall from a healthy level: throughput collapse */
  CRIER_ALERT_DRIFT,   /* slow climb (or fall): latency creep, memory per connection */
  CRIER_ALERT_BURST,   /* a count that is normally ~0 is not: error bursts */
  CRIER_ALERT_RULE,    /* an always-bad state: evictions, broker down, listener at cap */
} CrierAlertKind;

#define CRIER_N_ALERT_KINDS 5

typedef enum
{
  CRIER_SEVERITY_INFO,
  CRIER_SEVERITY_WARNING,
  CRIER_SEVERITY_CRITICAL,
} CrierAlertSeverity;

typedef enum
{
  CRIER_ALERT_RAISED,
  CRIER_ALERT_UPDATED,   /* an active alert escalated (severity, value, explanation) */
  CRIER_ALERT_RESOLVED,
} CrierAlertEvent;

typedef struct
{
  guint64             id;           /* > 0, unique within a tracker */
  char               *metric;
  CrierAlertKind      kind;
  CrierAlertSeverity  severity;
  gint64              start_time;   /* ms */
  gint64              end_time;     /* ms; 0 while active */
  double              observed;     /* value when raised (or last escalated) */
  double              expected;     /* baseline at that moment */
  double              score;        /* normalised score: 1.0 = raise threshold */
  /* One line, e.g. "connects/s 950 vs expected 12 ± 4 (spike, 8.1σ)". */
  char               *explanation;
} CrierAlert;

const char *crier_alert_kind_to_string     (CrierAlertKind      kind);
const char *crier_alert_severity_to_string (CrierAlertSeverity  severity);
CrierAlert *crier_alert_copy               (const CrierAlert   *alert);
void        crier_alert_free               (CrierAlert         *alert);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierAlert, crier_alert_free)

/* ------------------------------------------------------------------------ */
/* Detector configuration                                                   */

typedef enum
{
  CRIER_DETECT_SPIKE      = 1 << CRIER_ALERT_SPIKE,
  CRIER_DETECT_DROP       = 1 << CRIER_ALERT_DROP,
  CRIER_DETECT_DRIFT      = 1 << CRIER_ALERT_DRIFT,
  CRIER_DETECT_BURST      = 1 << CRIER_ALERT_BURST,
} CrierDetectFlags;

typedef enum
{
  CRIER_DRIFT_UP   = 1 << 0,
  CRIER_DRIFT_DOWN = 1 << 1,
  CRIER_DRIFT_BOTH = CRIER_DRIFT_UP | CRIER_DRIFT_DOWN,
} CrierDriftDirection;

/* Starting points for crier_detector_config_init(). */
typedef enum
{
  CRIER_METRIC_RATE,     /* connects/s, messages/s, bytes/s: spike + drop */
  CRIER_METRIC_LATENCY,  /* latency percentiles: spike + upward drift */
  CRIER_METRIC_GAUGE,    /* memory per connection, queue depth: upward drift */
  CRIER_METRIC_ERRORS,   /* errors/s, evictions/s that are normally 0: burst */
} CrierMetricProfile;

/* When a detector raises and resolves (all counts are samples). */
typedef struct
{
  guint  raise_count;    /* raise when >= raise_count of the last ... */
  guint  raise_window;   /* ... raise_window samples score >= 1 (window <= 32) */
  guint  clear_samples;  /* resolve after this many consecutive samples ... */
  double clear_score;    /* ... score below this (hysteresis; < 1) */
} CrierHysteresis;

typedef struct
{
  CrierDetectFlags    detect;

  /* Baseline: a winsorised EW mean ("level") and EW mean absolute deviation
   * (σ ≈ 1.2533 × MAD).  Half-lives are in samples. */
  guint               warmup;           /* samples learnt before any alert */
  double              level_halflife;
  double              spread_halflife;
  double              clip_sigma;       /* residuals are winsorised at ±clip σ */
  double              min_sigma;        /* σ floor, absolute (metric units) */
  double              min_sigma_rel;    /* σ floor, relative to |level| */
  gboolean            counts;           /* values are event counts: σ >= √max(level, 1) */
  guint               relearn_after;    /* accept a lasting change after this many held
                                         * samples (0 = never) */
  double              critical_score;   /* severity critical when score >= this */

  /* Spike: (x − level) / σ >= spike_sigma. */
  double              spike_sigma;
  CrierHysteresis     spike;

  /* Drop: x <= drop_ratio × level and (level − x) / σ >= drop_sigma. */
  double              drop_ratio;
  double              drop_sigma;
  CrierHysteresis     drop;

  /* Drift: a fast and a slow EWMA of the winsorised values differ by
   * >= drift_rel × |slow| + drift_sigma × (σ of the fast EWMA's noise). */
  CrierDriftDirection drift_direction;
  double              drift_short_halflife;
  double              drift_long_halflife;
  double              drift_rel;
  double              drift_sigma;
  CrierHysteresis     drift;

  /* Burst: x >= max(burst_min_count, λ + z √λ + (z² − 1) / 6) with
   * z = burst_sigma (a Poisson upper quantile), λ being the winsorised EW
   * mean count. */
  double              burst_halflife;
  double              burst_min_count;
  double              burst_sigma;
  CrierHysteresis     burst;
} CrierDetectorConfig;

void crier_detector_config_init (CrierDetectorConfig *config,
                                 CrierMetricProfile   profile);

/* ------------------------------------------------------------------------ */
/* One metric's detector                                                    */

typedef struct _CrierDetector CrierDetector;

/* What one sample did. */
typedef struct
{
  double score;      /* max normalised score of the enabled detectors (0 in warm-up) */
  double expected;   /* baseline level before this sample */
  double spread;     /* σ of the baseline */
  guint  raised;     /* CrierDetectFlags raised by this sample */
  guint  escalated;  /* active alerts whose score crossed critical_score */
  guint  resolved;   /* CrierDetectFlags resolved by this sample */
} CrierDetectorResult;

CrierDetector *crier_detector_new       (const CrierDetectorConfig *config);
void           crier_detector_free      (CrierDetector             *self);
/* Forgets everything learnt (warm-up starts again); alerts are dropped
 * silently. */
void           crier_detector_reset     (CrierDetector             *self);

const CrierDetectorConfig *crier_detector_get_config (const CrierDetector *self);

/* Feeds one sample; @result may be NULL.  NaN is ignored (result zeroed). */
void           crier_detector_push      (CrierDetector             *self,
                                         double                     value,
                                         CrierDetectorResult       *result);

gboolean       crier_detector_is_warm   (const CrierDetector       *self);
gboolean       crier_detector_is_active (const CrierDetector       *self,
                                         CrierAlertKind             kind);
/* Last normalised score of one detector (0 when disabled or warming up). */
double         crier_detector_get_score (const CrierDetector       *self,
                                         CrierAlertKind             kind);

/* The figures behind the last score of @kind, as an alert shows them:
 * observed (the value, or the fast EWMA for drift), expected, σ, score.
 * Any out pointer may be NULL. */
void           crier_detector_describe  (const CrierDetector       *self,
                                         CrierAlertKind             kind,
                                         double                    *observed,
                                         double                    *expected,
                                         double                    *sigma,
                                         double                    *score);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierDetector, crier_detector_free)

/* ------------------------------------------------------------------------ */
/* Alert tracker                                                            */

typedef struct _CrierAlertTracker CrierAlertTracker;

/* @alert is owned by the tracker and valid during the call only. */
typedef void (*CrierAlertFunc) (CrierAlertEvent   event,
                                const CrierAlert *alert,
                                gpointer          user_data);

CrierAlertTracker *crier_alert_tracker_new          (guint               max_recent);
void               crier_alert_tracker_free         (CrierAlertTracker  *self);
void               crier_alert_tracker_set_func     (CrierAlertTracker  *self,
                                                     CrierAlertFunc      func,
                                                     gpointer            user_data,
                                                     GDestroyNotify      destroy);

/* Raises an alert for @metric + @kind, or, when one is already active,
 * updates it in place (severity never decreases) and emits UPDATED.
 * Returns the alert's id. */
guint64            crier_alert_tracker_raise        (CrierAlertTracker  *self,
                                                     const char         *metric,
                                                     CrierAlertKind      kind,
                                                     CrierAlertSeverity  severity,
                                                     gint64              timestamp,
                                                     double              observed,
                                                     double              expected,
                                                     double              score,
                                                     const char         *explanation);
/* Resolves the active alert of @metric + @kind; FALSE when there is none. */
gboolean           crier_alert_tracker_resolve      (CrierAlertTracker  *self,
                                                     const char         *metric,
                                                     CrierAlertKind      kind,
                                                     gint64              timestamp);

guint              crier_alert_tracker_get_n_active (const CrierAlertTracker *self);
/* Active alert of @metric + @kind, owned by the tracker, or NULL. */
const CrierAlert  *crier_alert_tracker_lookup       (const CrierAlertTracker *self,
                                                     const char              *metric,
                                                     CrierAlertKind           kind);
/* New array (free func set) of copies: the active alerts, newest first,
 * then, if @include_resolved, the recently resolved ones, newest first. */
GPtrArray         *crier_alert_tracker_get_alerts   (const CrierAlertTracker *self,
                                                     gboolean                 include_resolved);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierAlertTracker, crier_alert_tracker_free)

/* ------------------------------------------------------------------------ */
/* Engine: a named set of metrics                                           */

typedef enum
{
  CRIER_RULE_GT,
  CRIER_RULE_GE,
  CRIER_RULE_LT,
  CRIER_RULE_LE,
  CRIER_RULE_EQ,
  CRIER_RULE_NE,
} CrierRuleOp;

/* An always-bad state: value OP threshold (evictions > 0, broker_down != 0,
 * listener_utilisation >= 1).  No learning and no warm-up. */
typedef struct
{
  CrierRuleOp         op;
  double              threshold;
  CrierAlertSeverity  severity;
  guint               raise_samples;  /* consecutive true samples to raise (>= 1) */
  guint               clear_samples;  /* consecutive false samples to resolve (>= 1) */
} CrierRuleConfig;

typedef struct _CrierAnomalyEngine CrierAnomalyEngine;

CrierAnomalyEngine *crier_anomaly_engine_new          (void);
void                crier_anomaly_engine_free         (CrierAnomalyEngine        *self);

/* Adds a metric and returns its index (0, 1, ...).  @config NULL means no
 * learning detector (a rule-only metric).  Names must be unique (a
 * duplicate is a programming error: G_MAXUINT). */
guint               crier_anomaly_engine_add_metric   (CrierAnomalyEngine        *self,
                                                       const char                *name,
                                                       const CrierDetectorConfig *config);
/* Sets (or with NULL removes) the metric's rule; one rule per metric.
 * Removing a rule resolves its alert at the metric's last timestamp. */
void                crier_anomaly_engine_set_rule     (CrierAnomalyEngine        *self,
                                                       guint                      metric,
                                                       const CrierRuleConfig     *rule);
/* Index of @name, or -1. */
int                 crier_anomaly_engine_lookup       (CrierAnomalyEngine        *self,
                                                       const char                *name);
guint               crier_anomaly_engine_get_n_metrics
                                                      (CrierAnomalyEngine        *self);
const char         *crier_anomaly_engine_get_name     (CrierAnomalyEngine        *self,
                                                       guint                      metric);

void                crier_anomaly_engine_push         (CrierAnomalyEngine        *self,
                                                       guint                      metric,
                                                       gint64                     timestamp,
                                                       double                     value);

/* Per-sample accessors for the last pushed sample of @metric: normalised
 * anomaly score (1.0 = a detector's raise threshold; a true rule counts
 * as 1.0) and the learnt baseline (NaN without a detector). */
double              crier_anomaly_engine_get_score    (CrierAnomalyEngine        *self,
                                                       guint                      metric);
double              crier_anomaly_engine_get_expected (CrierAnomalyEngine        *self,
                                                       guint                      metric);
/* The detector of @metric (owned by the engine), or NULL. */
CrierDetector      *crier_anomaly_engine_get_detector (CrierAnomalyEngine        *self,
                                                       guint                      metric);

CrierAlertTracker  *crier_anomaly_engine_get_tracker  (CrierAnomalyEngine        *self);
/* Shorthand for crier_alert_tracker_get_alerts() on the engine's tracker. */
GPtrArray          *crier_anomaly_engine_get_alerts   (CrierAnomalyEngine        *self,
                                                       gboolean                   include_resolved);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierAnomalyEngine, crier_anomaly_engine_free)

/* ------------------------------------------------------------------------ */
/* Offline mode: `crierctl detect FILE.csv`                                 */

#define CRIER_ANOMALY_ERROR (crier_anomaly_error_quark ())

typedef enum
{
  CRIER_ANOMALY_ERROR_PARSE,   /* a row is not "timestamp,value" */
  CRIER_ANOMALY_ERROR_EMPTY,   /* no data rows */
} CrierAnomalyError;

GQuark   crier_anomaly_error_quark (void);

/* Parses `timestamp,value` rows (an optional header names the metric;
 * timestamps are Unix seconds, possibly fractional, or ISO 8601; blank
 * lines and lines starting with '#' are skipped; an empty or "nan" value is
 * a missing sample), runs one detector with @config (NULL = the RATE
 * profile) and appends CSV to @out:
 *
 *   timestamp,value,expected,sigma,score,event
 *
 * where event is empty or "raised spike #1 critical: ...", followed by
 * '#' comment lines listing every alert.  Returns FALSE with @error set on
 * the first malformed row (nothing is appended then). */
gboolean crier_anomaly_detect_csv  (const char                *csv_text,
                                    const CrierDetectorConfig *config,
                                    GString                   *out,
                                    GError                   **error);

G_END_DECLS
