/* crier-graph.h: a live line graph of one metric over the last 15 minutes.
 *
 * Holds a CrierSeries of 900 samples (1 Hz) and draws it in snapshot ()
 * as a line over a filled area, with a value axis (0 to a rounded maximum,
 * with the unit) and a time axis, and a hover read-out of the sample under
 * the pointer.  The data is normalised to 0..1 before drawing
 * (crier_graph_normalize ()).  CSS name: crier-graph.
 */
#pragma once

#include <gtk/gtk.h>

#include "crier-series.h"

G_BEGIN_DECLS

/* 15 minutes at 1 Hz, as get_history keeps. */
#define CRIER_GRAPH_CAPACITY 900

#define CRIER_TYPE_GRAPH (crier_graph_get_type ())

G_DECLARE_FINAL_TYPE (CrierGraph, crier_graph, CRIER, GRAPH, GtkWidget)

GtkWidget         *crier_graph_new          (void);
void               crier_graph_push         (CrierGraph   *self,
                                             gint64        timestamp,
                                             double        value);
/* Replaces the samples (oldest first), e.g. with get_history. */
void               crier_graph_set_samples  (CrierGraph   *self,
                                             const gint64 *timestamps,
                                             const double *values,
                                             guint         n_samples);
void               crier_graph_clear        (CrierGraph   *self);
const CrierSeries *crier_graph_get_series   (CrierGraph   *self);
const char        *crier_graph_get_unit     (CrierGraph   *self);
void               crier_graph_set_unit     (CrierGraph   *self,
                                             const char   *unit);
const char        *crier_graph_get_title    (CrierGraph   *self);
void               crier_graph_set_title    (CrierGraph   *self,
                                             const char   *title);

/* The newest min(length, @max_samples) samples of @series, oldest first,
 * mapped to 0..1 over [0, *@top], where *@top is crier_format_nice_max ()
 * of their maximum; NaN stays NaN.  Returns the count written to @out. */
guint              crier_graph_normalize    (const CrierSeries *series,
                                             guint              max_samples,
                                             float             *out,
                                             double            *top);

G_END_DECLS
