/* crier-alert-item.c: one anomaly alert with notifying properties. */
#include "config.h"

#include "crier-alert-item.h"

struct _CrierAlertItem
{
  GObject  parent_instance;

  guint64  id;
  char    *metric;
  char    *kind;
  char    *severity;
  char    *explanation;
  double   observed;
  double   expected;
  gint64   start_time;
  gint64   end_time;
};

G_DEFINE_FINAL_TYPE (CrierAlertItem, crier_alert_item, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ID,
  PROP_METRIC,
  PROP_KIND,
  PROP_SEVERITY,
  PROP_EXPLANATION,
  PROP_OBSERVED,
  PROP_EXPECTED,
  PROP_START_TIME,
  PROP_END_TIME,
  PROP_ACTIVE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
crier_alert_item_finalize (GObject *object)
{
  CrierAlertItem *self = CRIER_ALERT_ITEM (object);

  g_clear_pointer (&self->metric, g_free);
  g_clear_pointer (&self->kind, g_free);
  g_clear_pointer (&self->severity, g_free);
  g_clear_pointer (&self->explanation, g_free);

  G_OBJECT_CLASS (crier_alert_item_parent_class)->finalize (object);
}

static void
crier_alert_item_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  CrierAlertItem *self = CRIER_ALERT_ITEM (object);

  switch (prop_id)
    {
    case PROP_ID: g_value_set_uint64 (value, self->id); break;
    case PROP_METRIC: g_value_set_string (value, self->metric); break;
    case PROP_KIND: g_value_set_string (value, self->kind); break;
    case PROP_SEVERITY: g_value_set_string (value, self->severity); break;
    case PROP_EXPLANATION: g_value_set_string (value, self->explanation); break;
    case PROP_OBSERVED: g_value_set_double (value, self->observed); break;
    case PROP_EXPECTED: g_value_set_double (value, self->expected); break;
    case PROP_START_TIME: g_value_set_int64 (value, self->start_time); break;
    case PROP_END_TIME: g_value_set_int64 (value, self->end_time); break;
    case PROP_ACTIVE: g_value_set_boolean (value, self->end_time == 0); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
crier_alert_item_class_init (CrierAlertItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->finalize = crier_alert_item_finalize;
  object_class->get_property = crier_alert_item_get_property;

  properties[PROP_ID] = g_param_spec_uint64 ("id", NULL, NULL, 0, G_MAXUINT64, 0, flags);
  properties[PROP_METRIC] = g_param_spec_string ("metric", NULL, NULL, NULL, flags);
  properties[PROP_KIND] = g_param_spec_string ("kind", NULL, NULL, NULL, flags);
  properties[PROP_SEVERITY] = g_param_spec_string ("severity", NULL, NULL, NULL, flags);
  properties[PROP_EXPLANATION] = g_param_spec_string ("explanation", NULL, NULL, NULL, flags);
  properties[PROP_OBSERVED] =
    g_param_spec_double ("observed", NULL, NULL, -G_MAXDOUBLE, G_MAXDOUBLE, 0, flags);
  properties[PROP_EXPECTED] =
    g_param_spec_double ("expected", NULL, NULL, -G_MAXDOUBLE, G_MAXDOUBLE, 0, flags);
  properties[PROP_START_TIME] =
    g_param_spec_int64 ("start-time", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_END_TIME] =
    g_param_spec_int64 ("end-time", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_ACTIVE] = g_param_spec_boolean ("active", NULL, NULL, TRUE, flags);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
crier_alert_item_init (CrierAlertItem *self)
{
}

CrierAlertItem *
crier_alert_item_new (const CrierAlert *alert)
{
  CrierAlertItem *self;

  g_return_val_if_fail (alert != NULL, NULL);

  self = g_object_new (CRIER_TYPE_ALERT_ITEM, NULL);
  self->id = alert->id;
  crier_alert_item_update (self, alert);

  return self;
}

static void
set_string (CrierAlertItem *self,
            char          **field,
            const char     *value,
            guint           prop)
{
  if (g_strcmp0 (*field, value) == 0)
    return;

  g_free (*field);
  *field = g_strdup (value);
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

void
crier_alert_item_update (CrierAlertItem   *self,
                         const CrierAlert *alert)
{
  g_return_if_fail (CRIER_IS_ALERT_ITEM (self));
  g_return_if_fail (alert != NULL);

  g_object_freeze_notify (G_OBJECT (self));

  set_string (self, &self->metric, alert->metric, PROP_METRIC);
  set_string (self, &self->kind, crier_alert_kind_to_string (alert->kind), PROP_KIND);
  set_string (self, &self->severity, crier_alert_severity_to_string (alert->severity), PROP_SEVERITY);
  set_string (self, &self->explanation, alert->explanation, PROP_EXPLANATION);
  if (self->observed != alert->observed)
    {
      self->observed = alert->observed;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_OBSERVED]);
    }
  if (self->expected != alert->expected)
    {
      self->expected = alert->expected;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_EXPECTED]);
    }
  if (self->start_time != alert->start_time)
    {
      self->start_time = alert->start_time;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_START_TIME]);
    }
  if (self->end_time != alert->end_time)
    {
      self->end_time = alert->end_time;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_END_TIME]);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ACTIVE]);
    }

  g_object_thaw_notify (G_OBJECT (self));
}

guint64
crier_alert_item_get_id (CrierAlertItem *self)
{
  g_return_val_if_fail (CRIER_IS_ALERT_ITEM (self), 0);
  return self->id;
}

const char *
crier_alert_item_get_explanation (CrierAlertItem *self)
{
  g_return_val_if_fail (CRIER_IS_ALERT_ITEM (self), NULL);
  return self->explanation;
}

const char *
crier_alert_item_get_metric (CrierAlertItem *self)
{
  g_return_val_if_fail (CRIER_IS_ALERT_ITEM (self), NULL);
  return self->metric;
}

gboolean
crier_alert_item_get_active (CrierAlertItem *self)
{
  g_return_val_if_fail (CRIER_IS_ALERT_ITEM (self), FALSE);
  return self->end_time == 0;
}
