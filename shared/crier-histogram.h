/* crier-histogram.h: a fixed-bucket histogram for latencies.
 *
 * Plain counters in a fixed-size struct (no allocation), so that a hot
 * path can embed one by value and count into it with one shift and one
 * increment, and a reader can take the difference of two copies to get
 * the distribution of an interval (Prometheus style).  Buckets are
 * log-linear: four per power of two from 4 µs up, so a quantile read from
 * them is within 12.5 % of the true value; values below 4 µs are exact
 * and values from about 33 hours on share the last bucket.
 *
 * Meant for publish -> deliver latency: the hub records each delivery
 * (crier_histogram_record (&stats->latency, now_us - pub->mono_us)) and
 * crier-metrics.c reads p50/p99 per second from the difference.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define CRIER_HISTOGRAM_N_BUCKETS 144

typedef struct
{
  guint64 buckets[CRIER_HISTOGRAM_N_BUCKETS];
  guint64 count;
  guint64 sum;        /* of the recorded values (µs) */
} CrierHistogram;

/* Bucket of @value. */
guint    crier_histogram_bucket_of    (guint64               value);
/* Values in bucket @bucket are in [lower, upper). */
guint64  crier_histogram_bucket_lower (guint                 bucket);
guint64  crier_histogram_bucket_upper (guint                 bucket);

static inline void
crier_histogram_record (CrierHistogram *h,
                        guint64         value)
{
  h->buckets[crier_histogram_bucket_of (value)]++;
  h->count++;
  h->sum += value;
}

/* @out = @now - @before (counts only grow; a reset gives @now). */
void     crier_histogram_delta        (const CrierHistogram *now,
                                       const CrierHistogram *before,
                                       CrierHistogram       *out);
/* The @q quantile (0..1) by linear interpolation inside its bucket; NaN
 * when empty. */
double   crier_histogram_quantile     (const CrierHistogram *h,
                                       double                q);

G_END_DECLS
