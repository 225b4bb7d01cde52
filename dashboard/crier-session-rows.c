/* crier-session-rows.c: stable row objects over a list of sessions (see the
 * header).
 *
 * source_items_changed () is the whole algorithm: rows before the change
 * keep their sessions; from the change on, each row takes the session now
 * at its position (a notify only where that differs); then rows are added
 * or dropped at the end, and that is the only items-changed emitted.  The
 * "remapped" signal tells the page that rows may now show other sessions
 * (it keeps the selection on the selected session).
 */
#include "config.h"

#include "crier-session-rows.h"

/* ---- CrierSessionRow ------------------------------------------------------ */

struct _CrierSessionRow
{
  GObject           parent_instance;
  CrierSessionItem *session;
};

enum { ROW_PROP_0, ROW_PROP_SESSION, ROW_N_PROPS };
static GParamSpec *row_properties[ROW_N_PROPS];

G_DEFINE_FINAL_TYPE (CrierSessionRow, crier_session_row, G_TYPE_OBJECT)

static void
crier_session_row_finalize (GObject *object)
{
  CrierSessionRow *self = CRIER_SESSION_ROW (object);

  g_clear_object (&self->session);
  G_OBJECT_CLASS (crier_session_row_parent_class)->finalize (object);
}

static void
crier_session_row_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  CrierSessionRow *self = CRIER_SESSION_ROW (object);

  switch (prop_id)
    {
    case ROW_PROP_SESSION:
      g_value_set_object (value, self->session);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
crier_session_row_class_init (CrierSessionRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = crier_session_row_finalize;
  object_class->get_property = crier_session_row_get_property;

  /**
   * CrierSessionRow:session:
   *
   * The session this row shows; changes when the list is filtered or
   * sorted.
   */
  row_properties[ROW_PROP_SESSION] =
    g_param_spec_object ("session", NULL, NULL, CRIER_TYPE_SESSION_ITEM,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, ROW_N_PROPS, row_properties);
}

static void
crier_session_row_init (CrierSessionRow *self)
{
}

CrierSessionItem *
crier_session_row_get_session (CrierSessionRow *self)
{
  g_return_val_if_fail (CRIER_IS_SESSION_ROW (self), NULL);
  return self->session;
}

/* Takes @session (transfer full). */
static void
row_take_session (CrierSessionRow  *self,
                  CrierSessionItem *session)
{
  if (self->session == session)
    {
      g_clear_object (&session);
      return;
    }
  g_clear_object (&self->session);
  self->session = session;
  g_object_notify_by_pspec (G_OBJECT (self), row_properties[ROW_PROP_SESSION]);
}

/* ---- CrierSessionRows ----------------------------------------------------- */

struct _CrierSessionRows
{
  GObject     parent_instance;
  GListModel *model;     /* of CrierSessionItem */
  GPtrArray  *rows;      /* CrierSessionRow*, one per item of model */
  GPtrArray  *spare;     /* rows dropped at the end, kept for reuse */
};

enum { PROP_0, PROP_MODEL, N_PROPS };
static GParamSpec *properties[N_PROPS];

enum { SIGNAL_REMAPPED, N_SIGNALS };
static guint signals[N_SIGNALS];

static GType
crier_session_rows_get_item_type (GListModel *list)
{
  return CRIER_TYPE_SESSION_ROW;
}

static guint
crier_session_rows_get_n_items (GListModel *list)
{
  return CRIER_SESSION_ROWS (list)->rows->len;
}

static gpointer
crier_session_rows_get_item (GListModel *list,
                             guint       position)
{
  CrierSessionRows *self = CRIER_SESSION_ROWS (list);

  if (position >= self->rows->len)
    return NULL;
  return g_object_ref (g_ptr_array_index (self->rows, position));
}

static void
crier_session_rows_list_model_init (GListModelInterface *iface)
{
  iface->get_item_type = crier_session_rows_get_item_type;
  iface->get_n_items = crier_session_rows_get_n_items;
  iface->get_item = crier_session_rows_get_item;
}

G_DEFINE_FINAL_TYPE_WITH_CODE (CrierSessionRows, crier_session_rows, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, crier_session_rows_list_model_init))

/* Rows [from, to) take the sessions now at their positions; then the row
 * count follows the model's. */
static void
sync_rows (CrierSessionRows *self,
           guint             from,
           guint             to)
{
  guint old_n = self->rows->len;
  guint new_n = self->model != NULL ? g_list_model_get_n_items (self->model) : 0;

  to = MIN (to, MIN (old_n, new_n));
  for (guint i = from; i < to; i++)
    row_take_session (g_ptr_array_index (self->rows, i), g_list_model_get_item (self->model, i));

  if (new_n > old_n)
    {
      for (guint i = old_n; i < new_n; i++)
        {
          CrierSessionRow *row = self->spare->len > 0
            ? g_ptr_array_steal_index_fast (self->spare, self->spare->len - 1)
            : g_object_new (CRIER_TYPE_SESSION_ROW, NULL);

          /* Nobody watches a row outside the model: no notify. */
          row->session = g_list_model_get_item (self->model, i);
          g_ptr_array_add (self->rows, row);
        }
      g_list_model_items_changed (G_LIST_MODEL (self), old_n, 0, new_n - old_n);
    }
  else if (new_n < old_n)
    {
      /* Clearing a filter adds them back: keep them (a few hundred KB at
       * 10,000 sessions) rather than finalize and build 10,000 objects. */
      for (guint i = old_n; i > new_n; i--)
        {
          CrierSessionRow *row = g_ptr_array_steal_index (self->rows, i - 1);

          g_clear_object (&row->session);
          g_ptr_array_add (self->spare, row);
        }
      g_list_model_items_changed (G_LIST_MODEL (self), new_n, old_n - new_n, 0);
    }
  g_signal_emit (self, signals[SIGNAL_REMAPPED], 0);
}

static void
source_items_changed (GListModel       *model,
                      guint             position,
                      guint             removed,
                      guint             added,
                      CrierSessionRows *self)
{
  /* A replacement in place leaves the rows after it alone; anything else
   * shifts every later position. */
  sync_rows (self, position, removed == added ? position + added : G_MAXUINT);
}

static void
crier_session_rows_dispose (GObject *object)
{
  CrierSessionRows *self = CRIER_SESSION_ROWS (object);

  if (self->model != NULL)
    g_signal_handlers_disconnect_by_func (self->model, source_items_changed, self);
  g_clear_object (&self->model);
  G_OBJECT_CLASS (crier_session_rows_parent_class)->dispose (object);
}

static void
crier_session_rows_finalize (GObject *object)
{
  CrierSessionRows *self = CRIER_SESSION_ROWS (object);

  g_ptr_array_unref (self->rows);
  g_ptr_array_unref (self->spare);
  G_OBJECT_CLASS (crier_session_rows_parent_class)->finalize (object);
}

static void
crier_session_rows_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  CrierSessionRows *self = CRIER_SESSION_ROWS (object);

  switch (prop_id)
    {
    case PROP_MODEL:
      g_value_set_object (value, self->model);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
crier_session_rows_set_property (GObject      *object,
                                 guint         prop_id,
                                 const GValue *value,
                                 GParamSpec   *pspec)
{
  CrierSessionRows *self = CRIER_SESSION_ROWS (object);

  switch (prop_id)
    {
    case PROP_MODEL:
      crier_session_rows_set_model (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
crier_session_rows_class_init (CrierSessionRowsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = crier_session_rows_dispose;
  object_class->finalize = crier_session_rows_finalize;
  object_class->get_property = crier_session_rows_get_property;
  object_class->set_property = crier_session_rows_set_property;

  /**
   * CrierSessionRows:model:
   *
   * The sessions to show, a GListModel of CrierSessionItem.
   */
  properties[PROP_MODEL] =
    g_param_spec_object ("model", NULL, NULL, G_TYPE_LIST_MODEL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * CrierSessionRows::remapped:
   *
   * Rows may show other sessions than before (after any change of the
   * source model).
   */
  signals[SIGNAL_REMAPPED] =
    g_signal_new ("remapped", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
crier_session_rows_init (CrierSessionRows *self)
{
  self->rows = g_ptr_array_new_with_free_func (g_object_unref);
  self->spare = g_ptr_array_new_with_free_func (g_object_unref);
}

CrierSessionRows *
crier_session_rows_new (GListModel *model)
{
  g_return_val_if_fail (model == NULL || G_IS_LIST_MODEL (model), NULL);
  return g_object_new (CRIER_TYPE_SESSION_ROWS, "model", model, NULL);
}

void
crier_session_rows_set_model (CrierSessionRows *self,
                              GListModel       *model)
{
  g_return_if_fail (CRIER_IS_SESSION_ROWS (self));
  g_return_if_fail (model == NULL || G_IS_LIST_MODEL (model));

  if (self->model == model)
    return;
  if (self->model != NULL)
    g_signal_handlers_disconnect_by_func (self->model, source_items_changed, self);
  g_set_object (&self->model, model);
  if (model != NULL)
    g_signal_connect (model, "items-changed", G_CALLBACK (source_items_changed), self);
  sync_rows (self, 0, G_MAXUINT);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODEL]);
}

GListModel *
crier_session_rows_get_model (CrierSessionRows *self)
{
  g_return_val_if_fail (CRIER_IS_SESSION_ROWS (self), NULL);
  return self->model;
}

guint
crier_session_rows_find (CrierSessionRows *self,
                         CrierSessionItem *session)
{
  g_return_val_if_fail (CRIER_IS_SESSION_ROWS (self), G_MAXUINT);

  for (guint i = 0; session != NULL && i < self->rows->len; i++)
    if (((CrierSessionRow *) g_ptr_array_index (self->rows, i))->session == session)
      return i;
  return G_MAXUINT;
}
