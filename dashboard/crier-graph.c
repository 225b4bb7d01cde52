/* crier-graph.c: a live line graph drawn in snapshot ().
 *
 * Key functions:
 *   crier_graph_normalize ()  series -> 0..1 over a rounded axis top
 *   crier_graph_snapshot ()   grid (append_color), one append_cairo for the
 *                             area and the line, axis labels, hover read-out
 *   crier_graph_motion_cb ()  hover position (wired in crier-graph.ui)
 */
#include "config.h"

#include "crier-graph.h"
#include "crier-format.h"

#include <glib/gi18n.h>
#include <math.h>

#define AXIS_WIDTH    64
#define AXIS_HEIGHT   18
#define TITLE_HEIGHT  22

struct _CrierGraph
{
  GtkWidget    parent_instance;

  CrierSeries *series;
  char        *title;
  char        *unit;
  GdkRGBA      color;
  double       hover_x;     /* widget coordinates; < 0 when not hovering */
};

G_DEFINE_FINAL_TYPE (CrierGraph, crier_graph, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_TITLE,
  PROP_UNIT,
  PROP_COLOR,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

guint
crier_graph_normalize (const CrierSeries *series,
                       guint              max_samples,
                       float             *out,
                       double            *top)
{
  CrierSeriesStats stats;
  guint n;

  g_return_val_if_fail (series != NULL, 0);
  g_return_val_if_fail (top != NULL, 0);

  n = MIN (max_samples, crier_series_get_length (series));
  if (crier_series_get_stats (series, n, &stats))
    *top = crier_format_nice_max (stats.max);
  else
    *top = 1.0;

  return crier_series_copy_normalized (series, n, 0.0, *top, out);
}

static void
plot_area (CrierGraph      *self,
           graphene_rect_t *rect)
{
  int width = gtk_widget_get_width (GTK_WIDGET (self));
  int height = gtk_widget_get_height (GTK_WIDGET (self));

  graphene_rect_init (rect,
                      AXIS_WIDTH, TITLE_HEIGHT,
                      MAX (width - AXIS_WIDTH - 8, 1),
                      MAX (height - TITLE_HEIGHT - AXIS_HEIGHT, 1));
}

static double
sample_x (const graphene_rect_t *plot,
          guint                  n,
          guint                  i)
{
  /* Newest sample at the right edge, one slot per second. */
  return plot->origin.x +
         plot->size.width * (double) (CRIER_GRAPH_CAPACITY - n + i) / (CRIER_GRAPH_CAPACITY - 1);
}

static void
append_text (CrierGraph    *self,
             GtkSnapshot   *snapshot,
             const char    *text,
             double         x,
             double         y,
             float          xalign,
             const GdkRGBA *color)
{
  g_autoptr(PangoLayout) layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), text);
  int width;
  int height;

  pango_layout_get_pixel_size (layout, &width, &height);
  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot,
                          &GRAPHENE_POINT_INIT (x - xalign * width, y - height / 2.0));
  gtk_snapshot_append_layout (snapshot, layout, color);
  gtk_snapshot_restore (snapshot);
}

static void
crier_graph_snapshot (GtkWidget   *widget,
                      GtkSnapshot *snapshot)
{
  CrierGraph *self = CRIER_GRAPH (widget);
  float values[CRIER_GRAPH_CAPACITY];
  g_autofree char *top_text = NULL;
  graphene_rect_t plot;
  GdkRGBA fg;
  GdkRGBA dim;
  GdkRGBA grid;
  GdkRGBA fill;
  cairo_t *cr;
  gboolean started = FALSE;
  double top = 1.0;
  guint n;

  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &fg);
  dim = fg;
  dim.alpha *= 0.55f;
  grid = fg;
  grid.alpha *= 0.12f;

  plot_area (self, &plot);

  if (self->title != NULL)
    append_text (self, snapshot, self->title, 0, TITLE_HEIGHT / 2.0, 0.0f, &fg);

  /* Grid: the zero line and quarters. */
  for (guint i = 0; i <= 4; i++)
    {
      double y = plot.origin.y + plot.size.height * i / 4.0;

      gtk_snapshot_append_color (snapshot, &grid,
                                 &GRAPHENE_RECT_INIT (plot.origin.x, floor (y),
                                                      plot.size.width, 1));
    }

  n = crier_series_get_length (self->series);
  if (n > 0)
    n = crier_graph_normalize (self->series, CRIER_GRAPH_CAPACITY, values, &top);

  /* Axes with units. */
  top_text = crier_format_value (top, self->unit);
  append_text (self, snapshot, top_text, AXIS_WIDTH - 6, plot.origin.y, 1.0f, &dim);
  append_text (self, snapshot, "0", AXIS_WIDTH - 6, plot.origin.y + plot.size.height, 1.0f, &dim);
  /* Translators: the left end of a graph's time axis. */
  append_text (self, snapshot, _("−15 min"), plot.origin.x,
               plot.origin.y + plot.size.height + AXIS_HEIGHT / 2.0, 0.0f, &dim);
  /* Translators: the right end of a graph's time axis. */
  append_text (self, snapshot, _("now"), plot.origin.x + plot.size.width,
               plot.origin.y + plot.size.height + AXIS_HEIGHT / 2.0, 1.0f, &dim);

  if (n == 0)
    return;

  /* One cairo node for the area and the line. */
  cr = gtk_snapshot_append_cairo (snapshot, &plot);
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  for (guint i = 0; i < n; i++)
    {
      double x = sample_x (&plot, n, i);
      double y;

      if (isnan (values[i]))
        {
          started = FALSE;
          continue;
        }
      y = plot.origin.y + plot.size.height * (1.0 - values[i]);
      if (!started)
        cairo_move_to (cr, x, y);
      else
        cairo_line_to (cr, x, y);
      started = TRUE;
    }

  /* The line, then the same path closed down to the axis for the area. */
  gdk_cairo_set_source_rgba (cr, &self->color);
  cairo_set_line_width (cr, 1.5);
  cairo_stroke_preserve (cr);
  cairo_new_path (cr);
  started = FALSE;
  for (guint i = 0; i < n; i++)
    {
      double x = sample_x (&plot, n, i);

      if (isnan (values[i]))
        continue;
      if (!started)
        cairo_move_to (cr, x, plot.origin.y + plot.size.height);
      cairo_line_to (cr, x, plot.origin.y + plot.size.height * (1.0 - values[i]));
      started = TRUE;
    }
  if (started)
    {
      double x_last = sample_x (&plot, n, n - 1);

      cairo_line_to (cr, x_last, plot.origin.y + plot.size.height);
      cairo_close_path (cr);
      fill = self->color;
      fill.alpha *= 0.25f;
      gdk_cairo_set_source_rgba (cr, &fill);
      cairo_fill (cr);
    }
  cairo_destroy (cr);

  /* Hover read-out. */
  if (self->hover_x >= plot.origin.x && self->hover_x <= plot.origin.x + plot.size.width)
    {
      double slot = (self->hover_x - plot.origin.x) / plot.size.width * (CRIER_GRAPH_CAPACITY - 1);
      int index = (int) lround (slot) - (int) (CRIER_GRAPH_CAPACITY - n);
      gint64 timestamp;
      gint64 newest;
      double value;

      if (index >= 0 && index < (int) n &&
          crier_series_get (self->series, n - 1 - index, &timestamp, &value) &&
          crier_series_get (self->series, 0, &newest, NULL))
        {
          g_autofree char *value_text = crier_format_value (value, self->unit);
          g_autofree char *seconds = g_strdup_printf ("%" G_GINT64_FORMAT, (newest - timestamp) / 1000);
          g_autofree char *readout = NULL;
          double x = sample_x (&plot, n, index);

          /* Translators: a graph's hover read-out: a value, then how many
           * seconds before the newest sample it was taken. */
          readout = g_strdup_printf (_("%s, %s s ago"), value_text, seconds);
          gtk_snapshot_append_color (snapshot, &dim,
                                     &GRAPHENE_RECT_INIT (floor (x), plot.origin.y,
                                                          1, plot.size.height));
          append_text (self, snapshot, readout,
                       plot.origin.x + plot.size.width, TITLE_HEIGHT / 2.0, 1.0f, &fg);
        }
    }
}

static void
crier_graph_motion_cb (CrierGraph *self,
                       double      x,
                       double      y)
{
  self->hover_x = x;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
crier_graph_leave_cb (CrierGraph *self)
{
  self->hover_x = -1;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
crier_graph_measure (GtkWidget      *widget,
                     GtkOrientation  orientation,
                     int             for_size,
                     int            *minimum,
                     int            *natural,
                     int            *minimum_baseline,
                     int            *natural_baseline)
{
  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    {
      *minimum = 240;
      *natural = 420;
    }
  else
    {
      *minimum = 120;
      *natural = 150;
    }
}

static void
crier_graph_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), CRIER_TYPE_GRAPH);

  G_OBJECT_CLASS (crier_graph_parent_class)->dispose (object);
}

static void
crier_graph_finalize (GObject *object)
{
  CrierGraph *self = CRIER_GRAPH (object);

  g_clear_pointer (&self->series, crier_series_free);
  g_clear_pointer (&self->title, g_free);
  g_clear_pointer (&self->unit, g_free);

  G_OBJECT_CLASS (crier_graph_parent_class)->finalize (object);
}

static void
crier_graph_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  CrierGraph *self = CRIER_GRAPH (object);

  switch (prop_id)
    {
    case PROP_TITLE:
      g_value_set_string (value, self->title);
      break;

    case PROP_UNIT:
      g_value_set_string (value, self->unit);
      break;

    case PROP_COLOR:
      g_value_set_boxed (value, &self->color);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
crier_graph_set_property (GObject      *object,
                          guint         prop_id,
                          const GValue *value,
                          GParamSpec   *pspec)
{
  CrierGraph *self = CRIER_GRAPH (object);

  switch (prop_id)
    {
    case PROP_TITLE:
      crier_graph_set_title (self, g_value_get_string (value));
      break;

    case PROP_UNIT:
      crier_graph_set_unit (self, g_value_get_string (value));
      break;

    case PROP_COLOR:
      {
        const GdkRGBA *color = g_value_get_boxed (value);

        if (color != NULL && !gdk_rgba_equal (color, &self->color))
          {
            self->color = *color;
            gtk_widget_queue_draw (GTK_WIDGET (self));
            g_object_notify_by_pspec (object, pspec);
          }
      }
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
crier_graph_class_init (CrierGraphClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = crier_graph_dispose;
  object_class->finalize = crier_graph_finalize;
  object_class->get_property = crier_graph_get_property;
  object_class->set_property = crier_graph_set_property;

  widget_class->snapshot = crier_graph_snapshot;
  widget_class->measure = crier_graph_measure;

  properties[PROP_TITLE] =
    g_param_spec_string ("title", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_UNIT] =
    g_param_spec_string ("unit", NULL, NULL, "1",
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_COLOR] =
    g_param_spec_boxed ("color", NULL, NULL, GDK_TYPE_RGBA,
                        G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_css_name (widget_class, "crier-graph");
  gtk_widget_class_set_template_from_resource (widget_class, RESOURCE_PATH "/ui/crier-graph.ui");
  gtk_widget_class_bind_template_callback (widget_class, crier_graph_motion_cb);
  gtk_widget_class_bind_template_callback (widget_class, crier_graph_leave_cb);
}

static void
crier_graph_init (CrierGraph *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->series = crier_series_new (CRIER_GRAPH_CAPACITY);
  self->unit = g_strdup ("1");
  self->hover_x = -1;
  gdk_rgba_parse (&self->color, "#3584e4");
}

GtkWidget *
crier_graph_new (void)
{
  return g_object_new (CRIER_TYPE_GRAPH, NULL);
}

void
crier_graph_push (CrierGraph *self,
                  gint64      timestamp,
                  double      value)
{
  g_return_if_fail (CRIER_IS_GRAPH (self));

  crier_series_push (self->series, timestamp, value);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
crier_graph_set_samples (CrierGraph   *self,
                         const gint64 *timestamps,
                         const double *values,
                         guint         n_samples)
{
  g_return_if_fail (CRIER_IS_GRAPH (self));

  crier_series_clear (self->series);
  for (guint i = 0; i < n_samples; i++)
    crier_series_push (self->series, timestamps[i], values[i]);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
crier_graph_clear (CrierGraph *self)
{
  g_return_if_fail (CRIER_IS_GRAPH (self));

  crier_series_clear (self->series);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

const CrierSeries *
crier_graph_get_series (CrierGraph *self)
{
  g_return_val_if_fail (CRIER_IS_GRAPH (self), NULL);
  return self->series;
}

const char *
crier_graph_get_unit (CrierGraph *self)
{
  g_return_val_if_fail (CRIER_IS_GRAPH (self), NULL);
  return self->unit;
}

void
crier_graph_set_unit (CrierGraph *self,
                      const char *unit)
{
  g_return_if_fail (CRIER_IS_GRAPH (self));

  if (g_strcmp0 (self->unit, unit) == 0)
    return;

  g_free (self->unit);
  self->unit = g_strdup (unit);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_UNIT]);
}

const char *
crier_graph_get_title (CrierGraph *self)
{
  g_return_val_if_fail (CRIER_IS_GRAPH (self), NULL);
  return self->title;
}

void
crier_graph_set_title (CrierGraph *self,
                       const char *title)
{
  g_return_if_fail (CRIER_IS_GRAPH (self));

  if (g_strcmp0 (self->title, title) == 0)
    return;

  g_free (self->title);
  self->title = g_strdup (title);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TITLE]);
}
