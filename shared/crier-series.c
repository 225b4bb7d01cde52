/* crier-series.c: fixed-capacity time-series ring buffers (see the header). */
#include "config.h"

#include "crier-series.h"

#include <math.h>

typedef struct
{
  gint64 timestamp;
  double value;
} Sample;

struct _CrierSeries
{
  Sample *samples;   /* capacity slots */
  guint   capacity;
  guint   length;
  guint   head;      /* slot the next push writes */
};

CrierSeries *
crier_series_new (guint capacity)
{
  CrierSeries *self;

  g_return_val_if_fail (capacity > 0, NULL);

  self = g_new0 (CrierSeries, 1);
  self->samples = g_new0 (Sample, capacity);
  self->capacity = capacity;

  return self;
}

void
crier_series_free (CrierSeries *self)
{
  if (self == NULL)
    return;

  g_free (self->samples);
  g_free (self);
}

void
crier_series_clear (CrierSeries *self)
{
  g_return_if_fail (self != NULL);

  self->length = 0;
  self->head = 0;
}

guint
crier_series_get_capacity (const CrierSeries *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->capacity;
}

guint
crier_series_get_length (const CrierSeries *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->length;
}

void
crier_series_push (CrierSeries *self,
                   gint64       timestamp,
                   double       value)
{
  g_return_if_fail (self != NULL);

  self->samples[self->head].timestamp = timestamp;
  self->samples[self->head].value = value;
  self->head = self->head + 1 == self->capacity ? 0 : self->head + 1;
  if (self->length < self->capacity)
    self->length++;
}

/* Slot of the sample @age steps back from the newest; @age < length. */
static inline guint
slot_of (const CrierSeries *self,
         guint              age)
{
  guint back = age + 1;

  return self->head >= back ? self->head - back : self->head + self->capacity - back;
}

gboolean
crier_series_get (const CrierSeries *self,
                  guint              age,
                  gint64            *timestamp,
                  double            *value)
{
  const Sample *s;

  g_return_val_if_fail (self != NULL, FALSE);

  if (age >= self->length)
    return FALSE;

  s = &self->samples[slot_of (self, age)];
  if (timestamp != NULL)
    *timestamp = s->timestamp;
  if (value != NULL)
    *value = s->value;

  return TRUE;
}

gboolean
crier_series_get_stats (const CrierSeries *self,
                        guint              window,
                        CrierSeriesStats  *stats)
{
  double sum = 0.0;
  guint n;
  guint slot;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (stats != NULL, FALSE);

  stats->n = 0;
  stats->min = stats->max = stats->mean = 0.0;

  n = window == 0 ? self->length : MIN (window, self->length);
  if (n == 0)
    return FALSE;

  /* Walk oldest to newest over the two contiguous runs of the ring. */
  slot = slot_of (self, n - 1);
  for (guint i = 0; i < n; i++)
    {
      double v = self->samples[slot].value;

      slot = slot + 1 == self->capacity ? 0 : slot + 1;
      if (!isfinite (v))
        continue;

      if (stats->n == 0 || v < stats->min)
        stats->min = v;
      if (stats->n == 0 || v > stats->max)
        stats->max = v;
      sum += v;
      stats->n++;
    }

  if (stats->n == 0)
    return FALSE;

  stats->mean = sum / stats->n;

  return TRUE;
}

guint
crier_series_count_since (const CrierSeries *self,
                          gint64             since)
{
  guint n = 0;

  g_return_val_if_fail (self != NULL, 0);

  while (n < self->length && self->samples[slot_of (self, n)].timestamp > since)
    n++;

  return n;
}

guint
crier_series_copy (const CrierSeries *self,
                   guint              max_samples,
                   gint64            *timestamps,
                   double            *values)
{
  guint n;
  guint slot;

  g_return_val_if_fail (self != NULL, 0);

  n = MIN (max_samples, self->length);
  if (n == 0)
    return 0;

  slot = slot_of (self, n - 1);
  for (guint i = 0; i < n; i++)
    {
      if (timestamps != NULL)
        timestamps[i] = self->samples[slot].timestamp;
      if (values != NULL)
        values[i] = self->samples[slot].value;
      slot = slot + 1 == self->capacity ? 0 : slot + 1;
    }

  return n;
}

guint
crier_series_copy_normalized (const CrierSeries *self,
                              guint              max_samples,
                              double             lo,
                              double             hi,
                              float             *out)
{
  double scale;
  guint n;
  guint slot;

  g_return_val_if_fail (self != NULL, 0);
  g_return_val_if_fail (out != NULL || max_samples == 0, 0);
  g_return_val_if_fail (hi > lo, 0);

  n = MIN (max_samples, self->length);
  if (n == 0)
    return 0;

  scale = 1.0 / (hi - lo);
  slot = slot_of (self, n - 1);
  for (guint i = 0; i < n; i++)
    {
      double v = self->samples[slot].value;

      if (isnan (v))
        out[i] = NAN;
      else
        out[i] = (float) CLAMP ((v - lo) * scale, 0.0, 1.0);
      slot = slot + 1 == self->capacity ? 0 : slot + 1;
    }

  return n;
}
