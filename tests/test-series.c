/* test-series.c: CrierSeries ring buffers. */
#include "config.h"

#include "crier-series.h"

#include <math.h>

static void
test_series_empty (void)
{
  g_autoptr(CrierSeries) s = crier_series_new (4);
  CrierSeriesStats stats = { 1, 1.0, 1.0, 1.0 };
  gint64 ts = -1;
  double v = -1.0;

  g_assert_cmpuint (crier_series_get_capacity (s), ==, 4);
  g_assert_cmpuint (crier_series_get_length (s), ==, 0);
  g_assert_false (crier_series_get (s, 0, &ts, &v));
  g_assert_cmpint (ts, ==, -1);
  g_assert_false (crier_series_get_stats (s, 0, &stats));
  g_assert_cmpuint (stats.n, ==, 0);
  g_assert_cmpfloat (stats.mean, ==, 0.0);
  g_assert_cmpuint (crier_series_copy (s, 10, NULL, NULL), ==, 0);
  g_assert_cmpuint (crier_series_count_since (s, 0), ==, 0);
}

static void
test_series_push_get (void)
{
  g_autoptr(CrierSeries) s = crier_series_new (3);
  gint64 ts;
  double v;

  crier_series_push (s, 1000, 1.0);
  crier_series_push (s, 2000, 2.0);
  g_assert_cmpuint (crier_series_get_length (s), ==, 2);
  g_assert_true (crier_series_get (s, 0, &ts, &v));
  g_assert_cmpint (ts, ==, 2000);
  g_assert_cmpfloat (v, ==, 2.0);
  g_assert_true (crier_series_get (s, 1, &ts, NULL));
  g_assert_cmpint (ts, ==, 1000);
  g_assert_false (crier_series_get (s, 2, NULL, NULL));

  /* Wrap around: the oldest sample is overwritten. */
  crier_series_push (s, 3000, 3.0);
  crier_series_push (s, 4000, 4.0);
  crier_series_push (s, 5000, 5.0);
  g_assert_cmpuint (crier_series_get_length (s), ==, 3);
  for (guint age = 0; age < 3; age++)
    {
      g_assert_true (crier_series_get (s, age, &ts, &v));
      g_assert_cmpint (ts, ==, 5000 - 1000 * (gint64) age);
      g_assert_cmpfloat (v, ==, 5.0 - age);
    }

  crier_series_clear (s);
  g_assert_cmpuint (crier_series_get_length (s), ==, 0);
  g_assert_false (crier_series_get (s, 0, NULL, NULL));
  crier_series_push (s, 6000, 6.0);
  g_assert_true (crier_series_get (s, 0, &ts, &v));
  g_assert_cmpint (ts, ==, 6000);
}

static void
test_series_stats (void)
{
  g_autoptr(CrierSeries) s = crier_series_new (5);
  CrierSeriesStats st;

  /* 1..7 into 5 slots: 3 4 5 6 7 remain. */
  for (int i = 1; i <= 7; i++)
    crier_series_push (s, i, i);

  g_assert_true (crier_series_get_stats (s, 0, &st));
  g_assert_cmpuint (st.n, ==, 5);
  g_assert_cmpfloat (st.min, ==, 3.0);
  g_assert_cmpfloat (st.max, ==, 7.0);
  g_assert_cmpfloat_with_epsilon (st.mean, 5.0, 1e-12);

  g_assert_true (crier_series_get_stats (s, 2, &st));
  g_assert_cmpuint (st.n, ==, 2);
  g_assert_cmpfloat (st.min, ==, 6.0);
  g_assert_cmpfloat (st.max, ==, 7.0);
  g_assert_cmpfloat_with_epsilon (st.mean, 6.5, 1e-12);

  /* A window larger than the length is the whole series. */
  g_assert_true (crier_series_get_stats (s, 100, &st));
  g_assert_cmpuint (st.n, ==, 5);

  /* Missing samples take a slot but are skipped. */
  crier_series_push (s, 8, NAN);
  crier_series_push (s, 9, -2.0);
  g_assert_true (crier_series_get_stats (s, 3, &st));
  g_assert_cmpuint (st.n, ==, 2);
  g_assert_cmpfloat (st.min, ==, -2.0);
  g_assert_cmpfloat (st.max, ==, 7.0);
  g_assert_cmpfloat_with_epsilon (st.mean, 2.5, 1e-12);

  crier_series_push (s, 10, NAN);
  g_assert_false (crier_series_get_stats (s, 1, &st));
  g_assert_cmpuint (st.n, ==, 0);
}

static void
test_series_copy (void)
{
  g_autoptr(CrierSeries) s = crier_series_new (4);
  gint64 ts[8];
  double v[8];
  guint n;

  crier_series_push (s, 10, 1.0);
  crier_series_push (s, 20, 2.0);
  n = crier_series_copy (s, 8, ts, v);
  g_assert_cmpuint (n, ==, 2);
  g_assert_cmpint (ts[0], ==, 10);
  g_assert_cmpint (ts[1], ==, 20);
  g_assert_cmpfloat (v[0], ==, 1.0);

  for (int i = 3; i <= 6; i++)
    crier_series_push (s, i * 10, i);

  /* Chronological order across the wrap point. */
  n = crier_series_copy (s, 8, ts, v);
  g_assert_cmpuint (n, ==, 4);
  for (guint i = 0; i < n; i++)
    {
      g_assert_cmpint (ts[i], ==, 30 + 10 * (gint64) i);
      g_assert_cmpfloat (v[i], ==, 3.0 + i);
    }

  /* The newest two only, values only. */
  n = crier_series_copy (s, 2, NULL, v);
  g_assert_cmpuint (n, ==, 2);
  g_assert_cmpfloat (v[0], ==, 5.0);
  g_assert_cmpfloat (v[1], ==, 6.0);

  g_assert_cmpuint (crier_series_count_since (s, 40), ==, 2);
  g_assert_cmpuint (crier_series_count_since (s, 0), ==, 4);
  g_assert_cmpuint (crier_series_count_since (s, 60), ==, 0);
}

static void
test_series_normalized (void)
{
  g_autoptr(CrierSeries) s = crier_series_new (8);
  float out[8];
  guint n;

  crier_series_push (s, 1, -5.0);
  crier_series_push (s, 2, 0.0);
  crier_series_push (s, 3, 50.0);
  crier_series_push (s, 4, NAN);
  crier_series_push (s, 5, 100.0);
  crier_series_push (s, 6, 250.0);

  n = crier_series_copy_normalized (s, 8, 0.0, 100.0, out);
  g_assert_cmpuint (n, ==, 6);
  g_assert_cmpfloat (out[0], ==, 0.0f);
  g_assert_cmpfloat (out[1], ==, 0.0f);
  g_assert_cmpfloat_with_epsilon (out[2], 0.5f, 1e-6);
  g_assert_true (isnan (out[3]));
  g_assert_cmpfloat (out[4], ==, 1.0f);
  g_assert_cmpfloat (out[5], ==, 1.0f);
}

static void
test_series_capacity_one (void)
{
  g_autoptr(CrierSeries) s = crier_series_new (1);
  CrierSeriesStats st;
  double v;

  for (int i = 0; i < 10; i++)
    crier_series_push (s, i, i);

  g_assert_cmpuint (crier_series_get_length (s), ==, 1);
  g_assert_true (crier_series_get (s, 0, NULL, &v));
  g_assert_cmpfloat (v, ==, 9.0);
  g_assert_true (crier_series_get_stats (s, 0, &st));
  g_assert_cmpfloat (st.mean, ==, 9.0);
}

/* A 15-minute history at 1 Hz, as crierd keeps it, against a naive
 * reference built from a plain array. */
static void
test_series_reference (void)
{
  g_autoptr(CrierSeries) s = crier_series_new (900);
  g_autoptr(GRand) rand = g_rand_new_with_seed (42);
  g_autofree double *all = g_new (double, 2500);
  g_autofree double *copy = g_new (double, 900);
  guint n;

  for (guint i = 0; i < 2500; i++)
    {
      all[i] = g_rand_double_range (rand, -100.0, 100.0);
      crier_series_push (s, 1700000000000 + 1000 * (gint64) i, all[i]);

      if (i % 97 == 0)
        {
          guint window = 1 + g_rand_int_range (rand, 0, 900);
          guint len = MIN (i + 1, 900);
          guint w = MIN (window, len);
          CrierSeriesStats st;
          double min = G_MAXDOUBLE, max = -G_MAXDOUBLE, sum = 0.0;

          for (guint j = i + 1 - w; j <= i; j++)
            {
              min = MIN (min, all[j]);
              max = MAX (max, all[j]);
              sum += all[j];
            }
          g_assert_true (crier_series_get_stats (s, window, &st));
          g_assert_cmpuint (st.n, ==, w);
          g_assert_cmpfloat (st.min, ==, min);
          g_assert_cmpfloat (st.max, ==, max);
          g_assert_cmpfloat_with_epsilon (st.mean, sum / w, 1e-9);
        }
    }

  n = crier_series_copy (s, 900, NULL, copy);
  g_assert_cmpuint (n, ==, 900);
  for (guint i = 0; i < 900; i++)
    g_assert_cmpfloat (copy[i], ==, all[1600 + i]);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/series/empty", test_series_empty);
  g_test_add_func ("/series/push-get", test_series_push_get);
  g_test_add_func ("/series/stats", test_series_stats);
  g_test_add_func ("/series/copy", test_series_copy);
  g_test_add_func ("/series/normalized", test_series_normalized);
  g_test_add_func ("/series/capacity-one", test_series_capacity_one);
  g_test_add_func ("/series/reference", test_series_reference);

  return g_test_run ();
}
