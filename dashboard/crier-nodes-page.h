/* crier-nodes-page.h: the cluster: every node sharing this node's broker
 * with its figures and heartbeat age, and the cluster totals (list_nodes,
 * refreshed on every stats tick).  With the memory broker the cluster is
 * the connected node alone. */
#pragma once

#include <adwaita.h>

#include "crier-admin-client.h"

G_BEGIN_DECLS

#define CRIER_TYPE_NODES_PAGE (crier_nodes_page_get_type ())

G_DECLARE_FINAL_TYPE (CrierNodesPage, crier_nodes_page, CRIER, NODES_PAGE, AdwBin)

void        crier_nodes_page_set_client  (CrierNodesPage   *self,
                                          CrierAdminClient *client);
/* CrierNodeItem, as the table shows them (sorted). */
GListModel *crier_nodes_page_get_model   (CrierNodesPage   *self);
/* The totals as the tiles show them. */
const char *crier_nodes_page_get_total_nodes_text       (CrierNodesPage *self);
const char *crier_nodes_page_get_total_connections_text (CrierNodesPage *self);
/* Whether the server said its broker is shared (Redis). */
gboolean    crier_nodes_page_get_shared  (CrierNodesPage   *self);
/* How many list_nodes replies arrived (for tests). */
guint       crier_nodes_page_get_n_updates (CrierNodesPage *self);

G_END_DECLS
