/* crier-node-item.h: one node of the cluster (list_nodes), with notifying
 * properties.  Free of GTK. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define CRIER_TYPE_NODE_ITEM (crier_node_item_get_type ())

G_DECLARE_FINAL_TYPE (CrierNodeItem, crier_node_item, CRIER, NODE_ITEM, GObject)

/* NULL (with @error) when @node is not an object with a string "id". */
CrierNodeItem *crier_node_item_new_from_json (JsonNode       *node,
                                              gint64          now_ms,
                                              GError        **error);
/* Takes the figures of @node (same id) and the heartbeat age at @now_ms
 * (Unix ms); FALSE (with @error) when @node is malformed. */
gboolean       crier_node_item_update        (CrierNodeItem  *self,
                                              JsonNode       *node,
                                              gint64          now_ms,
                                              GError        **error);
const char    *crier_node_item_get_id        (CrierNodeItem  *self);
const char    *crier_node_item_get_name      (CrierNodeItem  *self);
gboolean       crier_node_item_get_is_self   (CrierNodeItem  *self);
guint64        crier_node_item_get_connections (CrierNodeItem *self);
/* Seconds since the node's last heartbeat, -1 unknown. */
double         crier_node_item_get_heartbeat_age (CrierNodeItem *self);

G_END_DECLS
