/* crier-format.c: numbers with units as the dashboard shows them.
 *
 * Key functions:
 *   crier_format_value ()     a series value with its unit
 *   crier_format_nice_max ()  graph axis tops
 */
#include "config.h"

#include "crier-format.h"

#include <math.h>

static char *
format_si (double      value,
           const char *suffix)
{
  static const char *prefixes[] = { "", " k", " M", " G", " T" };
  guint i = 0;

  while (fabs (value) >= 1000.0 && i + 1 < G_N_ELEMENTS (prefixes))
    {
      value /= 1000.0;
      i++;
    }

  if (i == 0 && value == floor (value))
    return g_strdup_printf ("%.0f%s%s", value, *suffix != '\0' ? " " : "", suffix);
  if (fabs (value) >= 100.0)
    return g_strdup_printf ("%.0f%s%s", value, prefixes[i], suffix);
  if (fabs (value) >= 10.0)
    return g_strdup_printf ("%.1f%s%s", value, prefixes[i], suffix);

  return g_strdup_printf ("%.2f%s%s", value, prefixes[i], suffix);
}

char *
crier_format_value (double      value,
                    const char *unit)
{
  if (isnan (value))
    return g_strdup ("—");
  if (unit == NULL)
    unit = "1";

  if (g_str_equal (unit, "B"))
    return g_format_size_full ((guint64) MAX (value, 0), G_FORMAT_SIZE_IEC_UNITS);
  if (g_str_equal (unit, "B/s"))
    {
      g_autofree char *size = g_format_size_full ((guint64) MAX (value, 0), G_FORMAT_SIZE_IEC_UNITS);

      return g_strdup_printf ("%s/s", size);
    }
  if (g_str_equal (unit, "ms"))
    {
      if (value >= 100.0)
        return g_strdup_printf ("%.0f ms", value);
      if (value >= 10.0)
        return g_strdup_printf ("%.1f ms", value);
      return g_strdup_printf ("%.2f ms", value);
    }
  if (g_str_equal (unit, "%"))
    return g_strdup_printf ("%.1f %%", value);
  if (g_str_equal (unit, "1/s"))
    return format_si (value, "/s");

  return format_si (value, "");
}

char *
crier_format_bytes (gint64 bytes)
{
  if (bytes < 0)
    return g_strdup ("—");

  return g_format_size_full ((guint64) bytes, G_FORMAT_SIZE_IEC_UNITS);
}

char *
crier_format_duration (gint64 seconds)
{
  seconds = MAX (seconds, 0);

  if (seconds < 60)
    return g_strdup_printf ("%" G_GINT64_FORMAT " s", seconds);
  if (seconds < 3600)
    return g_strdup_printf ("%" G_GINT64_FORMAT " min", seconds / 60);
  if (seconds < 86400)
    return g_strdup_printf ("%" G_GINT64_FORMAT " h %02" G_GINT64_FORMAT " min",
                            seconds / 3600, (seconds / 60) % 60);

  return g_strdup_printf ("%" G_GINT64_FORMAT " d %" G_GINT64_FORMAT " h",
                          seconds / 86400, (seconds / 3600) % 24);
}

char *
crier_format_time (gint64 unix_ms)
{
  g_autoptr(GDateTime) then = NULL;
  g_autoptr(GDateTime) now = NULL;

  if (unix_ms <= 0)
    return g_strdup ("—");

  then = g_date_time_new_from_unix_local (unix_ms / 1000);
  now = g_date_time_new_now_local ();
  if (then == NULL)
    return g_strdup ("—");

  if (g_date_time_get_year (then) == g_date_time_get_year (now) &&
      g_date_time_get_day_of_year (then) == g_date_time_get_day_of_year (now))
    return g_date_time_format (then, "%H:%M:%S");

  return g_date_time_format (then, "%Y-%m-%d %H:%M");
}

double
crier_format_nice_max (double max)
{
  double magnitude;

  if (isnan (max) || max <= 0.0)
    return 1.0;

  magnitude = pow (10.0, floor (log10 (max)));
  /* Tolerate rounding: 100 must stay 100. */
  if (max <= magnitude * 1.000001)
    return magnitude;
  if (max <= 2.0 * magnitude)
    return 2.0 * magnitude;
  if (max <= 5.0 * magnitude)
    return 5.0 * magnitude;

  return 10.0 * magnitude;
}
