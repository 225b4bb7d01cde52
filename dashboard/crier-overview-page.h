/* crier-overview-page.h: live tiles and 15-minute graphs of the stats stream.
 *
 * On connect: get_history fills the graphs (so they are never empty), then
 * watch_stats appends one sample per second and refreshes the tiles
 * (connections by transport, messages in and out per second, latency
 * p50/p99, memory, evictions).
 */
#pragma once

#include <adwaita.h>

#include "crier-admin-client.h"

G_BEGIN_DECLS

#define CRIER_TYPE_OVERVIEW_PAGE (crier_overview_page_get_type ())

G_DECLARE_FINAL_TYPE (CrierOverviewPage, crier_overview_page, CRIER, OVERVIEW_PAGE, AdwBin)

void        crier_overview_page_set_client          (CrierOverviewPage *self,
                                                     CrierAdminClient  *client);
/* The connection count as the tile shows it ("" before the first sample). */
const char *crier_overview_page_get_connections_text (CrierOverviewPage *self);
/* Samples the connections graph holds. */
guint       crier_overview_page_get_n_samples        (CrierOverviewPage *self);

G_END_DECLS
