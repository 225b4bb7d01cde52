/* crier-alerts-page.h: current and recent anomaly alerts.
 *
 * list_alerts on connect, then watch_alerts: raised alerts are inserted at
 * the top and announced with a toast (server text escaped) and, when the
 * window is not focused, a desktop notification; updated and resolved
 * ones change in place.
 */
#pragma once

#include <adwaita.h>

#include "crier-admin-client.h"

G_BEGIN_DECLS

#define CRIER_TYPE_ALERTS_PAGE (crier_alerts_page_get_type ())

G_DECLARE_FINAL_TYPE (CrierAlertsPage, crier_alerts_page, CRIER, ALERTS_PAGE, AdwBin)

void        crier_alerts_page_set_client   (CrierAlertsPage  *self,
                                            CrierAdminClient *client);
GListModel *crier_alerts_page_get_model    (CrierAlertsPage  *self);
guint       crier_alerts_page_get_n_active (CrierAlertsPage  *self);

G_END_DECLS
