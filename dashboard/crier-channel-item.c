/* crier-channel-item.c: one active channel with notifying properties. */
#include "config.h"

#include "crier-channel-item.h"

#include <math.h>

struct _CrierChannelItem
{
  GObject  parent_instance;

  char    *name;
  guint    subscribers;
  double   publish_rate;   /* NaN: unknown */
  guint64  offset;
  char    *epoch;
};

G_DEFINE_FINAL_TYPE (CrierChannelItem, crier_channel_item, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_NAME,
  PROP_SUBSCRIBERS,
  PROP_PUBLISH_RATE,
  PROP_OFFSET,
  PROP_EPOCH,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
crier_channel_item_finalize (GObject *object)
{
  CrierChannelItem *self = CRIER_CHANNEL_ITEM (object);

  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->epoch, g_free);

  G_OBJECT_CLASS (crier_channel_item_parent_class)->finalize (object);
}

static void
crier_channel_item_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  CrierChannelItem *self = CRIER_CHANNEL_ITEM (object);

  switch (prop_id)
    {
    case PROP_NAME: g_value_set_string (value, self->name); break;
    case PROP_SUBSCRIBERS: g_value_set_uint (value, self->subscribers); break;
    case PROP_PUBLISH_RATE: g_value_set_double (value, self->publish_rate); break;
    case PROP_OFFSET: g_value_set_uint64 (value, self->offset); break;
    case PROP_EPOCH: g_value_set_string (value, self->epoch); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
crier_channel_item_class_init (CrierChannelItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->finalize = crier_channel_item_finalize;
  object_class->get_property = crier_channel_item_get_property;

  properties[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL, flags);
  properties[PROP_SUBSCRIBERS] =
    g_param_spec_uint ("subscribers", NULL, NULL, 0, G_MAXUINT, 0, flags);
  properties[PROP_PUBLISH_RATE] =
    g_param_spec_double ("publish-rate", NULL, NULL, -G_MAXDOUBLE, G_MAXDOUBLE, 0, flags);
  properties[PROP_OFFSET] =
    g_param_spec_uint64 ("offset", NULL, NULL, 0, G_MAXUINT64, 0, flags);
  properties[PROP_EPOCH] = g_param_spec_string ("epoch", NULL, NULL, NULL, flags);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
crier_channel_item_init (CrierChannelItem *self)
{
  self->publish_rate = NAN;
}

CrierChannelItem *
crier_channel_item_new (const CrierAdminChannelInfo *info)
{
  CrierChannelItem *self;

  g_return_val_if_fail (info != NULL && info->name != NULL, NULL);

  self = g_object_new (CRIER_TYPE_CHANNEL_ITEM, NULL);
  self->name = g_strdup (info->name);
  crier_channel_item_update (self, info);

  return self;
}

void
crier_channel_item_update (CrierChannelItem            *self,
                           const CrierAdminChannelInfo *info)
{
  g_return_if_fail (CRIER_IS_CHANNEL_ITEM (self));
  g_return_if_fail (info != NULL);

  g_object_freeze_notify (G_OBJECT (self));

  if (self->subscribers != info->subscribers)
    {
      self->subscribers = info->subscribers;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SUBSCRIBERS]);
    }
  if (!(isnan (self->publish_rate) && isnan (info->publish_rate)) &&
      self->publish_rate != info->publish_rate)
    {
      self->publish_rate = info->publish_rate;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PUBLISH_RATE]);
    }
  if (self->offset != info->offset)
    {
      self->offset = info->offset;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_OFFSET]);
    }
  if (g_strcmp0 (self->epoch, info->epoch) != 0)
    {
      g_free (self->epoch);
      self->epoch = g_strdup (info->epoch);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_EPOCH]);
    }

  g_object_thaw_notify (G_OBJECT (self));
}

const char *
crier_channel_item_get_name (CrierChannelItem *self)
{
  g_return_val_if_fail (CRIER_IS_CHANNEL_ITEM (self), NULL);
  return self->name;
}
