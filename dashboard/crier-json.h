/* crier-json.h: lenient member access for server replies.
 *
 * json-glib 1.6 warns when json_object_get_{object,array}_member () is
 * asked for a missing member; replies may omit members or set them to
 * null, so the dashboard reads them through these.
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

static inline JsonObject *
crier_json_get_object (JsonObject *object,
                       const char *member)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

static inline JsonArray *
crier_json_get_array (JsonObject *object,
                      const char *member)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  return node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

G_END_DECLS
