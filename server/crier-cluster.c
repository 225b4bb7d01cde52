/* crier-cluster.c: node registry heartbeats, node list, node messages
 * (see crier-cluster.h).
 *
 * Key functions: crier_cluster_tick (heartbeat + registry read),
 * on_node_message (emulation and disconnect from other nodes),
 * crier_cluster_forward_emulation, crier_cluster_disconnect_local/remote.
 */
#include "config.h"

#include "crier-cluster.h"

#include <string.h>

#include "crier-admin.h"
#include "crier-engine.h"
#include "crier-hub.h"
#include "crier-listener.h"
#include "crier-publication.h"
#include "crier-server.h"
#include "crier-util.h"

typedef struct
{
  char                 *node;
  char                 *session;
  char                 *data;
  CrierClusterSentFunc  func;
  gpointer              user_data;
} Forward;

struct _CrierCluster
{
  CrierServer               *server;
  CrierHub                  *hub;
  gboolean                   started;

  GPtrArray                 *nodes;          /* CrierNodeInfo*, last registry read */
  gint64                     next_heartbeat_us;
  gboolean                   listing;        /* registry read in flight */
  GPtrArray                 *waiting;        /* Forward*, until the read is back */
  guint64                    last_publishes;
  gint64                     last_publishes_us;
  double                     publications_per_s;

  CrierClusterEmulationFunc  emulation;
  gpointer                   emulation_data;

  gboolean                  *alive;          /* shared with callbacks in flight */
};

static void
forward_free (Forward *fw)
{
  g_free (fw->node);
  g_free (fw->session);
  g_free (fw->data);
  g_free (fw);
}

static CrierBroker *
cluster_broker (CrierCluster *self)
{
  return crier_hub_get_broker (self->hub);
}

gboolean
crier_cluster_is_shared (CrierCluster *self)
{
  CrierBroker *broker;

  g_return_val_if_fail (self != NULL, FALSE);

  broker = cluster_broker (self);
  return broker->vtable->node_send != NULL && broker->vtable->list_nodes != NULL &&
         broker->vtable->node_id != NULL;
}

/* This node's figures now. */
static CrierNodeInfo *
self_info (CrierCluster *self)
{
  CrierNodeInfo *info = g_new0 (CrierNodeInfo, 1);
  const CrierHubStats *hs = crier_hub_get_stats (self->hub);
  GPtrArray *listeners = crier_server_get_listeners (self->server);
  CrierBroker *broker = cluster_broker (self);

  info->id = g_strdup (broker->vtable->node_id != NULL ? broker->vtable->node_id (broker) : "local");
  info->name = g_strdup (crier_server_get_node_name (self->server));
  info->address = g_strdup (listeners != NULL && listeners->len > 0
                              ? crier_listener_get_address (g_ptr_array_index (listeners, 0)) : "");
  info->version = g_strdup (PACKAGE_VERSION);
  info->uptime = crier_server_get_uptime (self->server);
  info->updated_at = g_get_real_time () / 1000;
  /* Client connections, as the stats sample counts them: the admin
   * socket's own WebSockets (a dashboard watching) are not clients. */
  info->connections = crier_engine_get_n_conns (crier_server_get_engine (self->server));
  if (crier_server_get_admin (self->server) != NULL)
    info->connections -= MIN (info->connections,
                              crier_admin_get_n_connections (crier_server_get_admin (self->server)));
  info->sessions = hs->sessions;
  info->channels = hs->channels;
  info->publications_per_s = self->publications_per_s;
  return info;
}

/* ---- node messages --------------------------------------------------------- */

static gboolean
json_string_member (JsonObject  *o,
                    const char  *name,
                    const char **out)
{
  JsonNode *n = json_object_get_member (o, name);

  *out = NULL;
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return FALSE;
  *out = json_node_get_string (n);
  return TRUE;
}

static void
handle_disconnect (CrierCluster *self,
                   JsonObject   *o)
{
  g_autoptr(GPtrArray) whitelist = g_ptr_array_new ();
  const char *user;
  const char *client;
  const char *reason;
  JsonNode *wl = json_object_get_member (o, "whitelist");
  gint64 code = json_object_get_int_member_with_default (o, "code", 3000);

  if (!json_string_member (o, "user", &user) || user == NULL ||
      !json_string_member (o, "client", &client) ||
      !json_string_member (o, "reason", &reason) || code < 3000 || code > 4999)
    {
      g_warning ("cluster: malformed disconnect message dropped");
      return;
    }
  if (wl != NULL && JSON_NODE_HOLDS_ARRAY (wl))
    {
      JsonArray *a = json_node_get_array (wl);

      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          JsonNode *e = json_array_get_element (a, i);

          if (JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING)
            g_ptr_array_add (whitelist, (gpointer) json_node_get_string (e));
        }
    }
  g_ptr_array_add (whitelist, NULL);
  crier_cluster_disconnect_local (self, user, client, (const char * const *) whitelist->pdata,
                                  (guint) code, reason != NULL ? reason : "");
}

static void
on_node_message (CrierBroker *broker,
                 const char  *from,
                 const char  *kind,
                 const char  *data,
                 gsize        len,
                 gpointer     user_data)
{
  CrierCluster *self = user_data;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;
  JsonObject *o;

  if (!crier_json_single_value (data, len) ||
      !json_parser_load_from_data (parser, data, len, NULL) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_warning ("cluster: node message '%s' from %s is not a JSON object", kind, from);
      return;
    }
  o = json_node_get_object (root);

  if (g_str_equal (kind, "emulation"))
    {
      const char *session;
      const char *commands;

      if (!json_string_member (o, "session", &session) || session == NULL ||
          !json_string_member (o, "data", &commands) || commands == NULL)
        return;
      /* Unknown here (gone meanwhile): dropped, as a local POST would be
       * for a session that just left. */
      if (self->emulation == NULL ||
          !self->emulation (session, commands, strlen (commands), self->emulation_data))
        g_debug ("cluster: emulation for unknown session %s from node %s", session, from);
    }
  else if (g_str_equal (kind, "disconnect"))
    handle_disconnect (self, o);
  else
    g_debug ("cluster: unknown node message '%s' from %s", kind, from);
}

/* ---- registry ---------------------------------------------------------------- */

static void forward_resolve (CrierCluster *self,
                             Forward      *fw,
                             gboolean      final);

typedef struct
{
  CrierCluster *self;
  gboolean     *alive;
} ListCall;

static void
nodes_cb (GPtrArray    *nodes,
          const GError *error,
          gpointer      user_data)
{
  ListCall *call = user_data;
  CrierCluster *self = call->self;
  gboolean alive = *call->alive;
  g_autoptr(GPtrArray) waiting = NULL;

  if (!alive)
    {
      /* The cluster is gone; the last one out frees the flag. */
      g_free (call->alive);
      g_free (call);
      return;
    }
  g_free (call);
  self->listing = FALSE;
  if (error == NULL && nodes != NULL)
    {
      g_ptr_array_set_size (self->nodes, 0);
      for (guint i = 0; i < nodes->len; i++)
        g_ptr_array_add (self->nodes, crier_node_info_copy (g_ptr_array_index (nodes, i)));
    }

  waiting = g_steal_pointer (&self->waiting);
  self->waiting = g_ptr_array_new ();
  for (guint i = 0; i < waiting->len; i++)
    forward_resolve (self, g_ptr_array_index (waiting, i), TRUE);
}

static void
registry_read (CrierCluster *self)
{
  CrierBroker *broker = cluster_broker (self);
  ListCall *call;

  if (self->listing || !crier_cluster_is_shared (self))
    return;
  self->listing = TRUE;
  call = g_new0 (ListCall, 1);
  call->self = self;
  call->alive = self->alive;
  broker->vtable->list_nodes (broker, nodes_cb, call);
}

void
crier_cluster_tick (CrierCluster *self,
                    gint64        now_us)
{
  const CrierHubStats *hs;
  CrierBroker *broker;
  g_autoptr(CrierNodeInfo) info = NULL;

  g_return_if_fail (self != NULL);

  if (!self->started || now_us < self->next_heartbeat_us)
    return;
  self->next_heartbeat_us = now_us + CRIER_CLUSTER_HEARTBEAT_MS * 1000;

  hs = crier_hub_get_stats (self->hub);
  if (self->last_publishes_us != 0 && now_us > self->last_publishes_us)
    self->publications_per_s = (double) (hs->publishes - self->last_publishes) * G_USEC_PER_SEC /
                               (double) (now_us - self->last_publishes_us);
  self->last_publishes = hs->publishes;
  self->last_publishes_us = now_us;

  broker = cluster_broker (self);
  if (!crier_cluster_is_shared (self) || broker->vtable->node_heartbeat == NULL)
    return;
  info = self_info (self);
  broker->vtable->node_heartbeat (broker, info, CRIER_CLUSTER_NODE_TTL_MS);
  registry_read (self);
}

GPtrArray *
crier_cluster_get_nodes (CrierCluster *self)
{
  GPtrArray *nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_node_info_free);
  CrierNodeInfo *me;

  g_return_val_if_fail (self != NULL, nodes);

  me = self_info (self);
  g_ptr_array_add (nodes, me);
  for (guint i = 0; i < self->nodes->len; i++)
    {
      CrierNodeInfo *n = g_ptr_array_index (self->nodes, i);

      if (g_strcmp0 (n->id, me->id) != 0)
        g_ptr_array_add (nodes, crier_node_info_copy (n));
    }
  return nodes;
}

JsonNode *
crier_cluster_nodes_to_json (CrierCluster *self)
{
  g_autoptr(GPtrArray) nodes = crier_cluster_get_nodes (self);
  JsonBuilder *b = json_builder_new ();
  JsonNode *root;
  guint64 connections = 0, sessions = 0;
  double pubs = 0;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "node");
  json_builder_add_string_value (b, ((CrierNodeInfo *) g_ptr_array_index (nodes, 0))->id);
  json_builder_set_member_name (b, "shared");
  json_builder_add_boolean_value (b, crier_cluster_is_shared (self));
  json_builder_set_member_name (b, "nodes");
  json_builder_begin_array (b);
  for (guint i = 0; i < nodes->len; i++)
    {
      CrierNodeInfo *n = g_ptr_array_index (nodes, i);

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "id");
      json_builder_add_string_value (b, n->id);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, n->name != NULL ? n->name : "");
      json_builder_set_member_name (b, "address");
      json_builder_add_string_value (b, n->address != NULL ? n->address : "");
      json_builder_set_member_name (b, "version");
      json_builder_add_string_value (b, n->version != NULL ? n->version : "");
      json_builder_set_member_name (b, "self");
      json_builder_add_boolean_value (b, i == 0);
      json_builder_set_member_name (b, "uptime");
      json_builder_add_int_value (b, n->uptime);
      json_builder_set_member_name (b, "updated_at");
      json_builder_add_int_value (b, n->updated_at);
      json_builder_set_member_name (b, "connections");
      json_builder_add_int_value (b, (gint64) n->connections);
      json_builder_set_member_name (b, "sessions");
      json_builder_add_int_value (b, (gint64) n->sessions);
      json_builder_set_member_name (b, "channels");
      json_builder_add_int_value (b, (gint64) n->channels);
      json_builder_set_member_name (b, "publications_per_s");
      json_builder_add_double_value (b, n->publications_per_s);
      json_builder_end_object (b);
      connections += n->connections;
      sessions += n->sessions;
      pubs += n->publications_per_s;
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "totals");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "nodes");
  json_builder_add_int_value (b, nodes->len);
  json_builder_set_member_name (b, "connections");
  json_builder_add_int_value (b, (gint64) connections);
  json_builder_set_member_name (b, "sessions");
  json_builder_add_int_value (b, (gint64) sessions);
  json_builder_set_member_name (b, "publications_per_s");
  json_builder_add_double_value (b, pubs);
  json_builder_end_object (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  g_object_unref (b);
  return root;
}

/* ---- emulation forwarding ------------------------------------------------------ */

/* Sends @fw to every known node of that name; when none is known, reads
 * the registry once more unless @final. */
static void
forward_resolve (CrierCluster *self,
                 Forward      *fw,
                 gboolean      final)
{
  CrierBroker *broker = cluster_broker (self);
  const char *me = broker->vtable->node_id != NULL ? broker->vtable->node_id (broker) : NULL;
  gboolean found = FALSE;
  g_autoptr(GString) body = NULL;

  for (guint i = 0; i < self->nodes->len; i++)
    {
      CrierNodeInfo *n = g_ptr_array_index (self->nodes, i);

      if (g_strcmp0 (n->name, fw->node) != 0 || g_strcmp0 (n->id, me) == 0)
        continue;
      if (body == NULL)
        {
          body = g_string_new ("{\"session\":");
          crier_json_append_string (body, fw->session);
          g_string_append (body, ",\"data\":");
          crier_json_append_string (body, fw->data);
          g_string_append_c (body, '}');
        }
      found = TRUE;
      if (!broker->vtable->node_send (broker, n->id, "emulation", body->str, body->len))
        g_debug ("cluster: cannot forward emulation to %s: broker down", n->id);
    }

  if (!found && !final && crier_cluster_is_shared (self))
    {
      g_ptr_array_add (self->waiting, fw);
      registry_read (self);
      return;
    }
  fw->func (found, fw->user_data);
  forward_free (fw);
}

void
crier_cluster_forward_emulation (CrierCluster         *self,
                                 const char           *node,
                                 const char           *session,
                                 const char           *data,
                                 CrierClusterSentFunc  func,
                                 gpointer              user_data)
{
  Forward *fw;

  g_return_if_fail (self != NULL && node != NULL && session != NULL && data != NULL);
  g_return_if_fail (func != NULL);

  if (!crier_cluster_is_shared (self))
    {
      func (FALSE, user_data);
      return;
    }
  fw = g_new0 (Forward, 1);
  fw->node = g_strdup (node);
  fw->session = g_strdup (session);
  fw->data = g_strdup (data);
  fw->func = func;
  fw->user_data = user_data;
  forward_resolve (self, fw, FALSE);
}

void
crier_cluster_set_emulation_func (CrierCluster              *self,
                                  CrierClusterEmulationFunc  func,
                                  gpointer                   user_data)
{
  g_return_if_fail (self != NULL);

  self->emulation = func;
  self->emulation_data = user_data;
}

/* ---- disconnect ------------------------------------------------------------------ */

guint
crier_cluster_disconnect_local (CrierCluster       *self,
                                const char         *user,
                                const char         *client,
                                const char * const *whitelist,
                                guint               code,
                                const char         *reason)
{
  g_autoptr(GPtrArray) sessions = NULL;
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  guint n = 0;

  g_return_val_if_fail (self != NULL && user != NULL, 0);

  if (client != NULL && client[0] != '\0')
    {
      CrierSession *s = crier_hub_lookup_session (self->hub, client);

      sessions = g_ptr_array_new ();
      if (s != NULL && g_strcmp0 (s->user, user) == 0)
        g_ptr_array_add (sessions, s);
    }
  else
    sessions = crier_hub_sessions_of_user (self->hub, user);

  for (guint i = 0; i < sessions->len; i++)
    {
      CrierSession *s = g_ptr_array_index (sessions, i);

      if (whitelist == NULL || !g_strv_contains (whitelist, s->id))
        g_ptr_array_add (ids, g_strdup (s->id));
    }
  /* Looked up one by one: a disconnect may free a session at once. */
  for (guint i = 0; i < ids->len; i++)
    {
      CrierSession *s = crier_hub_lookup_session (self->hub, g_ptr_array_index (ids, i));

      if (s == NULL)
        continue;
      s->klass->disconnect (s, code, reason);
      n++;
    }
  return n;
}

gboolean
crier_cluster_disconnect_remote (CrierCluster       *self,
                                 const char         *user,
                                 const char         *client,
                                 const char * const *whitelist,
                                 guint               code,
                                 const char         *reason)
{
  g_autoptr(GString) body = g_string_new ("{\"user\":");
  CrierBroker *broker;

  g_return_val_if_fail (self != NULL && user != NULL, FALSE);

  if (!crier_cluster_is_shared (self))
    return TRUE;
  /* A client id lives on one node; which one is not known here. */
  crier_json_append_string (body, user);
  if (client != NULL && client[0] != '\0')
    {
      g_string_append (body, ",\"client\":");
      crier_json_append_string (body, client);
    }
  g_string_append (body, ",\"whitelist\":[");
  for (guint i = 0; whitelist != NULL && whitelist[i] != NULL; i++)
    {
      if (i > 0)
        g_string_append_c (body, ',');
      crier_json_append_string (body, whitelist[i]);
    }
  g_string_append_printf (body, "],\"code\":%u,\"reason\":", code);
  crier_json_append_string (body, reason != NULL ? reason : "");
  g_string_append_c (body, '}');
  broker = cluster_broker (self);
  return broker->vtable->node_send (broker, NULL, "disconnect", body->str, body->len);
}

/* ---- life ---------------------------------------------------------------------- */

CrierCluster *
crier_cluster_new (CrierServer *server)
{
  CrierCluster *self = g_new0 (CrierCluster, 1);

  self->server = server;
  self->hub = crier_server_get_hub (server);
  self->nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_node_info_free);
  self->waiting = g_ptr_array_new ();
  self->alive = g_new0 (gboolean, 1);
  *self->alive = TRUE;
  return self;
}

void
crier_cluster_start (CrierCluster *self)
{
  CrierBroker *broker;

  g_return_if_fail (self != NULL);

  broker = cluster_broker (self);
  broker->node_message = on_node_message;
  broker->node_message_data = self;
  self->started = TRUE;
}

void
crier_cluster_free (CrierCluster *self)
{
  if (self == NULL)
    return;

  for (guint i = 0; i < self->waiting->len; i++)
    {
      Forward *fw = g_ptr_array_index (self->waiting, i);

      fw->func (FALSE, fw->user_data);
      forward_free (fw);
    }
  g_ptr_array_unref (self->waiting);
  g_ptr_array_unref (self->nodes);
  /* A registry read still in flight frees the flag when it comes back. */
  if (self->listing)
    *self->alive = FALSE;
  else
    g_free (self->alive);
  g_free (self);
}
