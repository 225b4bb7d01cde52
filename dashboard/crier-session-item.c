/* crier-session-item.c: one client session, with notifying properties.
 *
 * Key functions:
 *   crier_session_item_update ()  copies a newer CrierAdminSessionInfo and
 *                                 notifies only what changed
 */
#include "config.h"

#include "crier-session-item.h"

#include <math.h>

struct _CrierSessionItem
{
  GObject  parent_instance;

  char    *id;
  char    *user;
  char    *transport;
  char    *remote;
  char    *user_agent;
  gint64   connected_at;
  gint64   expire_at;
  guint    subscriptions;
  guint64  pubs_out;
  guint64  commands_in;
  gint64   bytes_in;
  gint64   bytes_out;
  gint64   queued_bytes;
  gint64   last_activity_at;   /* Unix ms, 0 unknown */
  double   ping_rtt_ms;        /* -1 unknown (a NaN cannot be a GParamSpec default) */
  char    *search_key;   /* casefolded user, transport and remote */
};

G_DEFINE_FINAL_TYPE (CrierSessionItem, crier_session_item, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ID,
  PROP_USER,
  PROP_TRANSPORT,
  PROP_REMOTE,
  PROP_USER_AGENT,
  PROP_CONNECTED_AT,
  PROP_EXPIRE_AT,
  PROP_SUBSCRIPTIONS,
  PROP_PUBS_OUT,
  PROP_COMMANDS_IN,
  PROP_BYTES_IN,
  PROP_BYTES_OUT,
  PROP_QUEUED_BYTES,
  PROP_LAST_ACTIVITY_AT,
  PROP_PING_RTT_MS,
  PROP_SEARCH_KEY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
crier_session_item_finalize (GObject *object)
{
  CrierSessionItem *self = CRIER_SESSION_ITEM (object);

  g_clear_pointer (&self->id, g_free);
  g_clear_pointer (&self->user, g_free);
  g_clear_pointer (&self->transport, g_free);
  g_clear_pointer (&self->remote, g_free);
  g_clear_pointer (&self->user_agent, g_free);
  g_clear_pointer (&self->search_key, g_free);

  G_OBJECT_CLASS (crier_session_item_parent_class)->finalize (object);
}

static void
crier_session_item_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  CrierSessionItem *self = CRIER_SESSION_ITEM (object);

  switch (prop_id)
    {
    case PROP_ID: g_value_set_string (value, self->id); break;
    case PROP_USER: g_value_set_string (value, self->user); break;
    case PROP_TRANSPORT: g_value_set_string (value, self->transport); break;
    case PROP_REMOTE: g_value_set_string (value, self->remote); break;
    case PROP_USER_AGENT: g_value_set_string (value, self->user_agent); break;
    case PROP_CONNECTED_AT: g_value_set_int64 (value, self->connected_at); break;
    case PROP_EXPIRE_AT: g_value_set_int64 (value, self->expire_at); break;
    case PROP_SUBSCRIPTIONS: g_value_set_uint (value, self->subscriptions); break;
    case PROP_PUBS_OUT: g_value_set_uint64 (value, self->pubs_out); break;
    case PROP_COMMANDS_IN: g_value_set_uint64 (value, self->commands_in); break;
    case PROP_BYTES_IN: g_value_set_int64 (value, self->bytes_in); break;
    case PROP_BYTES_OUT: g_value_set_int64 (value, self->bytes_out); break;
    case PROP_QUEUED_BYTES: g_value_set_int64 (value, self->queued_bytes); break;
    case PROP_LAST_ACTIVITY_AT: g_value_set_int64 (value, self->last_activity_at); break;
    case PROP_PING_RTT_MS: g_value_set_double (value, self->ping_rtt_ms); break;
    case PROP_SEARCH_KEY: g_value_set_string (value, self->search_key); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
crier_session_item_class_init (CrierSessionItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->finalize = crier_session_item_finalize;
  object_class->get_property = crier_session_item_get_property;

  properties[PROP_ID] = g_param_spec_string ("id", NULL, NULL, NULL, flags);
  properties[PROP_USER] = g_param_spec_string ("user", NULL, NULL, NULL, flags);
  properties[PROP_TRANSPORT] = g_param_spec_string ("transport", NULL, NULL, NULL, flags);
  properties[PROP_REMOTE] = g_param_spec_string ("remote", NULL, NULL, NULL, flags);
  properties[PROP_USER_AGENT] = g_param_spec_string ("user-agent", NULL, NULL, NULL, flags);
  properties[PROP_CONNECTED_AT] =
    g_param_spec_int64 ("connected-at", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_EXPIRE_AT] =
    g_param_spec_int64 ("expire-at", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_SUBSCRIPTIONS] =
    g_param_spec_uint ("subscriptions", NULL, NULL, 0, G_MAXUINT, 0, flags);
  properties[PROP_PUBS_OUT] =
    g_param_spec_uint64 ("pubs-out", NULL, NULL, 0, G_MAXUINT64, 0, flags);
  properties[PROP_COMMANDS_IN] =
    g_param_spec_uint64 ("commands-in", NULL, NULL, 0, G_MAXUINT64, 0, flags);
  properties[PROP_BYTES_IN] =
    g_param_spec_int64 ("bytes-in", NULL, NULL, -1, G_MAXINT64, -1, flags);
  properties[PROP_BYTES_OUT] =
    g_param_spec_int64 ("bytes-out", NULL, NULL, -1, G_MAXINT64, -1, flags);
  properties[PROP_QUEUED_BYTES] =
    g_param_spec_int64 ("queued-bytes", NULL, NULL, -1, G_MAXINT64, -1, flags);
  /* Unix ms of the last bytes read from the client; 0 unknown. */
  properties[PROP_LAST_ACTIVITY_AT] =
    g_param_spec_int64 ("last-activity-at", NULL, NULL, 0, G_MAXINT64, 0, flags);
  /* The last ping's round trip in ms; -1 when the transport has none. */
  properties[PROP_PING_RTT_MS] =
    g_param_spec_double ("ping-rtt-ms", NULL, NULL, -1, G_MAXDOUBLE, -1, flags);

  /**
   * CrierSessionItem:search-key:
   *
   * User, transport and remote address, casefolded and separated by
   * newlines: what the session filter matches (once per item instead of
   * casefolding three strings per item on every keystroke).
   */
  properties[PROP_SEARCH_KEY] = g_param_spec_string ("search-key", NULL, NULL, NULL, flags);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
crier_session_item_init (CrierSessionItem *self)
{
  self->bytes_in = self->bytes_out = self->queued_bytes = -1;
  self->ping_rtt_ms = -1;
}

CrierSessionItem *
crier_session_item_new (const CrierAdminSessionInfo *info)
{
  CrierSessionItem *self;

  g_return_val_if_fail (info != NULL && info->id != NULL, NULL);

  self = g_object_new (CRIER_TYPE_SESSION_ITEM, NULL);
  self->id = g_strdup (info->id);
  crier_session_item_update (self, info);

  return self;
}

static void
set_string (CrierSessionItem *self,
            char            **field,
            const char       *value,
            guint             prop)
{
  if (value == NULL || g_strcmp0 (*field, value) == 0)
    return;

  g_free (*field);
  *field = g_strdup (value);
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

#define SET_NUMBER(self, field, value, prop)                              \
  G_STMT_START {                                                          \
    if ((self)->field != (value))                                         \
      {                                                                   \
        (self)->field = (value);                                          \
        g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);     \
      }                                                                   \
  } G_STMT_END

void
crier_session_item_update (CrierSessionItem            *self,
                           const CrierAdminSessionInfo *info)
{
  g_return_if_fail (CRIER_IS_SESSION_ITEM (self));
  g_return_if_fail (info != NULL);

  g_object_freeze_notify (G_OBJECT (self));

  set_string (self, &self->user, info->user, PROP_USER);
  set_string (self, &self->transport, info->transport, PROP_TRANSPORT);
  set_string (self, &self->remote, info->remote, PROP_REMOTE);
  set_string (self, &self->user_agent, info->user_agent, PROP_USER_AGENT);

  /* session_closed carries only id, user, transport and remote. */
  if (info->connected_at > 0)
    {
      SET_NUMBER (self, connected_at, info->connected_at, PROP_CONNECTED_AT);
      SET_NUMBER (self, expire_at, info->expire_at, PROP_EXPIRE_AT);
      SET_NUMBER (self, subscriptions, info->subscriptions, PROP_SUBSCRIPTIONS);
      SET_NUMBER (self, pubs_out, info->pubs_out, PROP_PUBS_OUT);
      SET_NUMBER (self, commands_in, info->commands_in, PROP_COMMANDS_IN);
      SET_NUMBER (self, bytes_in, info->bytes_in, PROP_BYTES_IN);
      SET_NUMBER (self, bytes_out, info->bytes_out, PROP_BYTES_OUT);
      SET_NUMBER (self, queued_bytes, info->queued_bytes, PROP_QUEUED_BYTES);
      SET_NUMBER (self, last_activity_at, info->last_activity_at, PROP_LAST_ACTIVITY_AT);
      SET_NUMBER (self, ping_rtt_ms,
                  isnan (info->ping_rtt_ms) || info->ping_rtt_ms < 0 ? -1 : info->ping_rtt_ms,
                  PROP_PING_RTT_MS);
    }

  {
    g_autofree char *joined = g_strjoin ("\n",
                                         self->user != NULL ? self->user : "",
                                         self->transport != NULL ? self->transport : "",
                                         self->remote != NULL ? self->remote : "",
                                         NULL);
    g_autofree char *key = g_utf8_casefold (joined, -1);

    if (g_strcmp0 (key, self->search_key) != 0)
      {
        g_free (self->search_key);
        self->search_key = g_steal_pointer (&key);
        g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SEARCH_KEY]);
      }
  }

  g_object_thaw_notify (G_OBJECT (self));
}

const char *
crier_session_item_get_id (CrierSessionItem *self)
{
  g_return_val_if_fail (CRIER_IS_SESSION_ITEM (self), NULL);
  return self->id;
}

const char *
crier_session_item_get_user (CrierSessionItem *self)
{
  g_return_val_if_fail (CRIER_IS_SESSION_ITEM (self), NULL);
  return self->user;
}

const char *
crier_session_item_get_transport (CrierSessionItem *self)
{
  g_return_val_if_fail (CRIER_IS_SESSION_ITEM (self), NULL);
  return self->transport;
}

const char *
crier_session_item_get_search_key (CrierSessionItem *self)
{
  g_return_val_if_fail (CRIER_IS_SESSION_ITEM (self), NULL);
  return self->search_key;
}

const char *
crier_session_item_get_remote (CrierSessionItem *self)
{
  g_return_val_if_fail (CRIER_IS_SESSION_ITEM (self), NULL);
  return self->remote;
}

const char *
crier_session_item_get_user_agent (CrierSessionItem *self)
{
  g_return_val_if_fail (CRIER_IS_SESSION_ITEM (self), NULL);
  return self->user_agent;
}

gint64
crier_session_item_get_connected_at (CrierSessionItem *self)
{
  g_return_val_if_fail (CRIER_IS_SESSION_ITEM (self), 0);
  return self->connected_at;
}

guint
crier_session_item_get_subscriptions (CrierSessionItem *self)
{
  g_return_val_if_fail (CRIER_IS_SESSION_ITEM (self), 0);
  return self->subscriptions;
}

gint64
crier_session_item_get_bytes_out (CrierSessionItem *self)
{
  g_return_val_if_fail (CRIER_IS_SESSION_ITEM (self), -1);
  return self->bytes_out;
}
