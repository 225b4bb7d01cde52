/* crier-histogram.c: see the header.
 *
 * Bucket b < 4 holds the value b.  From 4 on, a value v with top bit p
 * (2^p <= v < 2^(p+1), p >= 2) goes to 4 (p - 1) + the two bits below the
 * top one, so each power of two is split into four equal parts.
 */
#include "config.h"

#include "crier-histogram.h"

#include <math.h>

guint
crier_histogram_bucket_of (guint64 value)
{
  guint p;
  guint b;

  if (value < 4)
    return (guint) value;
  p = 63 - (guint) __builtin_clzll (value);
  b = 4 * (p - 1) + (guint) ((value >> (p - 2)) & 3);
  return MIN (b, CRIER_HISTOGRAM_N_BUCKETS - 1);
}

guint64
crier_histogram_bucket_lower (guint bucket)
{
  guint p;

  g_return_val_if_fail (bucket < CRIER_HISTOGRAM_N_BUCKETS, 0);

  if (bucket < 4)
    return bucket;
  p = bucket / 4 + 1;
  return (guint64) (4 + bucket % 4) << (p - 2);
}

guint64
crier_histogram_bucket_upper (guint bucket)
{
  g_return_val_if_fail (bucket < CRIER_HISTOGRAM_N_BUCKETS, 0);

  if (bucket == CRIER_HISTOGRAM_N_BUCKETS - 1)
    return G_MAXUINT64;
  return crier_histogram_bucket_lower (bucket + 1);
}

void
crier_histogram_delta (const CrierHistogram *now,
                       const CrierHistogram *before,
                       CrierHistogram       *out)
{
  if (before == NULL || now->count < before->count)
    {
      *out = *now;
      return;
    }
  for (guint i = 0; i < CRIER_HISTOGRAM_N_BUCKETS; i++)
    out->buckets[i] = now->buckets[i] >= before->buckets[i] ? now->buckets[i] - before->buckets[i] : 0;
  out->count = now->count - before->count;
  out->sum = now->sum >= before->sum ? now->sum - before->sum : 0;
}

double
crier_histogram_quantile (const CrierHistogram *h,
                          double                q)
{
  double rank;
  guint64 seen = 0;

  if (h->count == 0 || isnan (q))
    return NAN;
  q = CLAMP (q, 0.0, 1.0);
  /* The rank of the wanted value among count values, 1-based. */
  rank = MAX (q * (double) h->count, 1.0);

  for (guint i = 0; i < CRIER_HISTOGRAM_N_BUCKETS; i++)
    {
      guint64 n = h->buckets[i];

      if (n > 0 && (double) (seen + n) >= rank)
        {
          double lower = (double) crier_histogram_bucket_lower (i);
          double upper;
          double fraction = (rank - (double) seen) / (double) n;

          if (i < 4)
            return lower;   /* exact buckets */
          if (i == CRIER_HISTOGRAM_N_BUCKETS - 1)
            return lower;
          upper = (double) crier_histogram_bucket_upper (i);
          return lower + (upper - lower) * fraction;
        }
      seen += n;
    }
  return (double) crier_histogram_bucket_lower (CRIER_HISTOGRAM_N_BUCKETS - 1);
}
