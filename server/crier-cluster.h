/* crier-cluster.h: what this node does with the other nodes of its broker.
 *
 * With a shared broker (Redis) every node writes a heartbeat with its
 * stats into the broker's node registry every CRIER_CLUSTER_HEARTBEAT_MS
 * (from the server tick) and reads the list of live nodes back, which the
 * admin protocol shows (list_nodes).  Node messages carry what must reach
 * a session on another node:
 *   emulation   {"session":S,"data":D}: the /emulation commands of an SSE
 *               or http_stream session that lives on the target node;
 *   disconnect  {"user":U,"client":C,"whitelist":[...],"code":N,"reason":R}:
 *               /api/disconnect and admin kick by user, on every node.
 * With the memory broker the cluster is this node alone: nothing is sent.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "crier-broker.h"
#include "crier-types.h"

G_BEGIN_DECLS

#define CRIER_CLUSTER_HEARTBEAT_MS 2000
/* A node missing this many heartbeats leaves the registry. */
#define CRIER_CLUSTER_NODE_TTL_MS  (5 * CRIER_CLUSTER_HEARTBEAT_MS)

typedef struct _CrierCluster CrierCluster;

/* Feeds emulated commands to the local session @session; FALSE when no
 * such session takes them. */
typedef gboolean (*CrierClusterEmulationFunc) (const char *session,
                                               const char *data,
                                               gsize       len,
                                               gpointer    user_data);
/* Whether a node of that name exists (the message was sent to it). */
typedef void     (*CrierClusterSentFunc)      (gboolean    found,
                                               gpointer    user_data);

CrierCluster *crier_cluster_new              (CrierServer              *server);
/* Free after the hub (its broker may still answer pending calls). */
void          crier_cluster_free             (CrierCluster             *cluster);
/* Hooks the hub's broker (call after the broker is set). */
void          crier_cluster_start            (CrierCluster             *cluster);
/* From the server tick, with the monotonic clock in µs. */
void          crier_cluster_tick             (CrierCluster             *cluster,
                                              gint64                    now_us);
/* TRUE when the broker reaches other nodes (Redis). */
gboolean      crier_cluster_is_shared        (CrierCluster             *cluster);

void          crier_cluster_set_emulation_func (CrierCluster           *cluster,
                                              CrierClusterEmulationFunc func,
                                              gpointer                  user_data);
/* Sends emulated commands to the node(s) named @node (not this one).
 * @func runs once, maybe before this returns; the registry is read again
 * when no node of that name is known yet. */
void          crier_cluster_forward_emulation (CrierCluster            *cluster,
                                              const char               *node,
                                              const char               *session,
                                              const char               *data,
                                              CrierClusterSentFunc      func,
                                              gpointer                  user_data);

/* Disconnects the sessions of @user (only @client when not NULL, none in
 * @whitelist) on this node; returns how many. */
guint         crier_cluster_disconnect_local (CrierCluster             *cluster,
                                              const char               *user,
                                              const char               *client,
                                              const char * const       *whitelist,
                                              guint                     code,
                                              const char               *reason);
/* The same on every other node (no-op with the memory broker).  FALSE
 * when the broker could not send it. */
gboolean      crier_cluster_disconnect_remote (CrierCluster            *cluster,
                                              const char               *user,
                                              const char               *client,
                                              const char * const       *whitelist,
                                              guint                     code,
                                              const char               *reason);

/* Nodes as last read from the registry, this node first with fresh
 * figures (transfer full: CrierNodeInfo*, with a free function). */
GPtrArray    *crier_cluster_get_nodes        (CrierCluster             *cluster);
/* {"node":"<this id>","shared":bool,"nodes":[...],"totals":{...}} for
 * the admin protocol's list_nodes. */
JsonNode     *crier_cluster_nodes_to_json    (CrierCluster             *cluster);

G_END_DECLS
