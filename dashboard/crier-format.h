/* crier-format.h: numbers with units as the dashboard shows them.
 *
 * Free of GTK so that the unit tests can check them.  Units are those of
 * crier_admin_stats_get_series (): "1", "1/s", "B", "B/s", "ms", "%".
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* "—" for NaN; "1.2 k", "3.4 MB/s", "0.25 ms", "12 %" ... */
char   *crier_format_value    (double      value,
                               const char *unit);
/* A byte count, "—" when negative (unknown). */
char   *crier_format_bytes    (gint64      bytes);
/* "45 s", "12 min", "3 h 02 min", "2 d 4 h" for @seconds >= 0. */
char   *crier_format_duration (gint64      seconds);
/* Unix ms as local "HH:MM:SS" (today) or "YYYY-MM-DD HH:MM". */
char   *crier_format_time     (gint64      unix_ms);
/* The smallest 1, 2 or 5 times a power of ten that is >= @max (1 for
 * @max <= 0 or NaN): the top of a graph's value axis. */
double  crier_format_nice_max (double      max);

G_END_DECLS
