/* crier-node-item.c: one node of the cluster with notifying properties.
 *
 * The members are those of docs/admin-protocol.md (list_nodes).  Reading
 * is lenient about members a newer server may add and strict about the
 * id, which keys the row. */
#include "config.h"

#include "crier-node-item.h"

#include <math.h>

struct _CrierNodeItem
{
  GObject  parent_instance;

  char    *id;
  char    *name;
  char    *address;
  char    *version;
  gboolean is_self;
  gint64   uptime;          /* s */
  gint64   updated_at;      /* Unix ms, 0 unknown */
  double   heartbeat_age;   /* s, -1 unknown */
  guint64  connections;
  guint64  sessions;
  guint64  channels;
  double   publications_per_s;
};

G_DEFINE_FINAL_TYPE (CrierNodeItem, crier_node_item, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ID,
  PROP_NAME,
  PROP_ADDRESS,
  PROP_VERSION,
  PROP_IS_SELF,
  PROP_UPTIME,
  PROP_UPDATED_AT,
  PROP_HEARTBEAT_AGE,
  PROP_CONNECTIONS,
  PROP_SESSIONS,
  PROP_CHANNELS,
  PROP_PUBLICATIONS_PER_S,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
crier_node_item_finalize (GObject *object)
{
  CrierNodeItem *self = CRIER_NODE_ITEM (object);

  g_clear_pointer (&self->id, g_free);
  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->address, g_free);
  g_clear_pointer (&self->version, g_free);

  G_OBJECT_CLASS (crier_node_item_parent_class)->finalize (object);
}

static void
crier_node_item_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  CrierNodeItem *self = CRIER_NODE_ITEM (object);

  switch (prop_id)
    {
    case PROP_ID: g_value_set_string (value, self->id); break;
    case PROP_NAME: g_value_set_string (value, self->name); break;
    case PROP_ADDRESS: g_value_set_string (value, self->address); break;
    case PROP_VERSION: g_value_set_string (value, self->version); break;
    case PROP_IS_SELF: g_value_set_boolean (value, self->is_self); break;
    case PROP_UPTIME: g_value_set_int64 (value, self->uptime); break;
    case PROP_UPDATED_AT: g_value_set_int64 (value, self->updated_at); break;
    case PROP_HEARTBEAT_AGE: g_value_set_double (value, self->heartbeat_age); break;
    case PROP_CONNECTIONS: g_value_set_uint64 (value, self->connections); break;
    case PROP_SESSIONS: g_value_set_uint64 (value, self->sessions); break;
    case PROP_CHANNELS: g_value_set_uint64 (value, self->channels); break;
    case PROP_PUBLICATIONS_PER_S: g_value_set_double (value, self->publications_per_s); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
crier_node_item_class_init (CrierNodeItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->finalize = crier_node_item_finalize;
  object_class->get_property = crier_node_item_get_property;

  properties[PROP_ID] = g_param_spec_string ("id", NULL, NULL, NULL, flags);
  properties[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL, flags);
  properties[PROP_ADDRESS] = g_param_spec_string ("address", NULL, NULL, NULL, flags);
  properties[PROP_VERSION] = g_param_spec_string ("version", NULL, NULL, NULL, flags);
  properties[PROP_IS_SELF] = g_param_spec_boolean ("is-self", NULL, NULL, FALSE, flags);
  properties[PROP_UPTIME] =
    g_param_spec_int64 ("uptime", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_UPDATED_AT] =
    g_param_spec_int64 ("updated-at", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_HEARTBEAT_AGE] =
    g_param_spec_double ("heartbeat-age", NULL, NULL, -1, G_MAXDOUBLE, -1, flags);
  properties[PROP_CONNECTIONS] =
    g_param_spec_uint64 ("connections", NULL, NULL, 0, G_MAXUINT64, 0, flags);
  properties[PROP_SESSIONS] =
    g_param_spec_uint64 ("sessions", NULL, NULL, 0, G_MAXUINT64, 0, flags);
  properties[PROP_CHANNELS] =
    g_param_spec_uint64 ("channels", NULL, NULL, 0, G_MAXUINT64, 0, flags);
  properties[PROP_PUBLICATIONS_PER_S] =
    g_param_spec_double ("publications-per-s", NULL, NULL, -G_MAXDOUBLE, G_MAXDOUBLE, 0, flags);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
crier_node_item_init (CrierNodeItem *self)
{
  self->heartbeat_age = -1;
  self->publications_per_s = NAN;
}

static void
set_string (CrierNodeItem  *self,
            char          **field,
            JsonObject     *o,
            const char     *member,
            guint           prop)
{
  const char *value = json_object_get_string_member_with_default (o, member, "");

  if (g_strcmp0 (*field, value) == 0)
    return;
  g_free (*field);
  *field = g_strdup (value);
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

static void
set_count (CrierNodeItem *self,
           guint64       *field,
           JsonObject    *o,
           const char    *member,
           guint          prop)
{
  gint64 value = json_object_get_int_member_with_default (o, member, 0);
  guint64 count = value > 0 ? (guint64) value : 0;

  if (*field == count)
    return;
  *field = count;
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

static void
set_double (CrierNodeItem *self,
            double        *field,
            double         value,
            guint          prop)
{
  if (*field == value || (isnan (*field) && isnan (value)))
    return;
  *field = value;
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

static void
set_int64 (CrierNodeItem *self,
           gint64        *field,
           gint64         value,
           guint          prop)
{
  if (*field == value)
    return;
  *field = value;
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

static JsonObject *
node_object (JsonNode  *node,
             GError   **error)
{
  JsonObject *o;
  JsonNode *id;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "a node is not an object");
      return NULL;
    }
  o = json_node_get_object (node);
  id = json_object_get_member (o, "id");
  if (id == NULL || !JSON_NODE_HOLDS_VALUE (id) ||
      json_node_get_value_type (id) != G_TYPE_STRING ||
      json_node_get_string (id)[0] == '\0')
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "a node has no string \"id\"");
      return NULL;
    }
  return o;
}

gboolean
crier_node_item_update (CrierNodeItem  *self,
                        JsonNode       *node,
                        gint64          now_ms,
                        GError        **error)
{
  JsonObject *o;
  JsonNode *rate;
  gint64 updated_at;
  double age = -1;

  g_return_val_if_fail (CRIER_IS_NODE_ITEM (self), FALSE);

  o = node_object (node, error);
  if (o == NULL)
    return FALSE;

  g_object_freeze_notify (G_OBJECT (self));

  set_string (self, &self->name, o, "name", PROP_NAME);
  set_string (self, &self->address, o, "address", PROP_ADDRESS);
  set_string (self, &self->version, o, "version", PROP_VERSION);
  if (self->is_self != json_object_get_boolean_member_with_default (o, "self", FALSE))
    {
      self->is_self = !self->is_self;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_IS_SELF]);
    }
  set_int64 (self, &self->uptime, MAX (0, json_object_get_int_member_with_default (o, "uptime", 0)),
             PROP_UPTIME);
  updated_at = MAX (0, json_object_get_int_member_with_default (o, "updated_at", 0));
  set_int64 (self, &self->updated_at, updated_at, PROP_UPDATED_AT);
  /* A clock a little ahead of ours is not a heartbeat from the future. */
  if (updated_at > 0)
    age = MAX (0.0, (double) (now_ms - updated_at) / 1000.0);
  set_double (self, &self->heartbeat_age, age, PROP_HEARTBEAT_AGE);
  set_count (self, &self->connections, o, "connections", PROP_CONNECTIONS);
  set_count (self, &self->sessions, o, "sessions", PROP_SESSIONS);
  set_count (self, &self->channels, o, "channels", PROP_CHANNELS);
  rate = json_object_get_member (o, "publications_per_s");
  set_double (self, &self->publications_per_s,
              rate != NULL && JSON_NODE_HOLDS_VALUE (rate) ? json_node_get_double (rate) : NAN,
              PROP_PUBLICATIONS_PER_S);

  g_object_thaw_notify (G_OBJECT (self));

  return TRUE;
}

CrierNodeItem *
crier_node_item_new_from_json (JsonNode  *node,
                               gint64     now_ms,
                               GError   **error)
{
  g_autoptr(CrierNodeItem) self = NULL;
  JsonObject *o = node_object (node, error);

  if (o == NULL)
    return NULL;

  self = g_object_new (CRIER_TYPE_NODE_ITEM, NULL);
  self->id = g_strdup (json_object_get_string_member (o, "id"));
  if (!crier_node_item_update (self, node, now_ms, error))
    return NULL;

  return g_steal_pointer (&self);
}

const char *
crier_node_item_get_id (CrierNodeItem *self)
{
  g_return_val_if_fail (CRIER_IS_NODE_ITEM (self), NULL);
  return self->id;
}

const char *
crier_node_item_get_name (CrierNodeItem *self)
{
  g_return_val_if_fail (CRIER_IS_NODE_ITEM (self), NULL);
  return self->name;
}

gboolean
crier_node_item_get_is_self (CrierNodeItem *self)
{
  g_return_val_if_fail (CRIER_IS_NODE_ITEM (self), FALSE);
  return self->is_self;
}

guint64
crier_node_item_get_connections (CrierNodeItem *self)
{
  g_return_val_if_fail (CRIER_IS_NODE_ITEM (self), 0);
  return self->connections;
}

double
crier_node_item_get_heartbeat_age (CrierNodeItem *self)
{
  g_return_val_if_fail (CRIER_IS_NODE_ITEM (self), -1);
  return self->heartbeat_age;
}
