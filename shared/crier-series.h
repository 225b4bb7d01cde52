/* crier-series.h: fixed-capacity time-series ring buffers.
 *
 * One CrierSeries holds the newest @capacity samples of one metric (900 is
 * 15 minutes at 1 Hz); pushing into a full series overwrites the oldest
 * sample.  crierd keeps one per metric for the admin protocol's history and
 * the dashboard keeps one per graph.  A NaN value marks a missing sample: it
 * takes a slot (so the time axis stays regular) but statistics skip it.
 *
 * Timestamps are opaque to the series; Crier uses Unix milliseconds.  Ages
 * count backwards from the newest sample (age 0).  Every operation is O(1)
 * except the window statistics and copies, which are O(window).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _CrierSeries CrierSeries;

typedef struct
{
  guint  n;       /* finite samples in the window */
  double min;
  double max;
  double mean;
} CrierSeriesStats;

CrierSeries *crier_series_new             (guint              capacity);
void         crier_series_free            (CrierSeries       *self);
void         crier_series_clear           (CrierSeries       *self);

guint        crier_series_get_capacity    (const CrierSeries *self);
guint        crier_series_get_length      (const CrierSeries *self);

void         crier_series_push            (CrierSeries       *self,
                                           gint64             timestamp,
                                           double             value);

/* Sample @age steps back from the newest one; FALSE when @age >= length.
 * Either out pointer may be NULL. */
gboolean     crier_series_get             (const CrierSeries *self,
                                           guint              age,
                                           gint64            *timestamp,
                                           double            *value);

/* min/max/mean of the finite values among the newest @window samples
 * (0 = all).  FALSE, with @stats zeroed, when there is none. */
gboolean     crier_series_get_stats       (const CrierSeries *self,
                                           guint              window,
                                           CrierSeriesStats  *stats);

/* How many of the newest samples have a timestamp > @since (scanning back
 * from the newest one and stopping at the first older sample), for
 * "history since T" requests. */
guint        crier_series_count_since     (const CrierSeries *self,
                                           gint64             since);

/* Copies the newest min(@max_samples, length) samples, oldest first, into
 * the caller's arrays (either may be NULL).  Returns the count copied. */
guint        crier_series_copy            (const CrierSeries *self,
                                           guint              max_samples,
                                           gint64            *timestamps,
                                           double            *values);

/* Same order, values mapped to 0..1 over [@lo, @hi] and clamped, for graph
 * widgets; missing samples stay NaN.  @hi must be > @lo. */
guint        crier_series_copy_normalized (const CrierSeries *self,
                                           guint              max_samples,
                                           double             lo,
                                           double             hi,
                                           float             *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierSeries, crier_series_free)

G_END_DECLS
