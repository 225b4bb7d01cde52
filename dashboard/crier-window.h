/* crier-window.h: the dashboard's main window.
 *
 * A composite template (data/ui/crier-window.ui): a header bar with the view
 * switcher, the connection state, Broadcast and the primary menu; a toast
 * overlay around either the view stack (Overview, Sessions, Channels,
 * Alerts, Nodes) or, while not connected, a status page that explains why.  The
 * window owns the CrierAdminClient and hands it to the pages.
 */
#pragma once

#include <adwaita.h>

#include "crier-admin-client.h"
#include "crier-alerts-page.h"
#include "crier-application.h"
#include "crier-broadcast-dialog.h"
#include "crier-channels-page.h"
#include "crier-nodes-page.h"
#include "crier-overview-page.h"
#include "crier-sessions-page.h"

G_BEGIN_DECLS

#define CRIER_TYPE_WINDOW (crier_window_get_type ())

G_DECLARE_FINAL_TYPE (CrierWindow, crier_window, CRIER, WINDOW, AdwApplicationWindow)

CrierWindow          *crier_window_new                  (CrierApplication *application);
const char           *crier_window_get_address          (CrierWindow      *self);
/* Overrides the server-address setting (--admin-socket). */
void                  crier_window_set_address_override (CrierWindow      *self,
                                                         const char       *address);
CrierAdminClient     *crier_window_get_client           (CrierWindow      *self);
CrierOverviewPage    *crier_window_get_overview_page    (CrierWindow      *self);
CrierSessionsPage    *crier_window_get_sessions_page    (CrierWindow      *self);
CrierChannelsPage    *crier_window_get_channels_page    (CrierWindow      *self);
CrierAlertsPage      *crier_window_get_alerts_page      (CrierWindow      *self);
CrierNodesPage       *crier_window_get_nodes_page       (CrierWindow      *self);
/* The open "Trust This Certificate?" dialog, if any. */
AdwMessageDialog     *crier_window_get_trust_dialog     (CrierWindow      *self);
/* The open broadcast dialog, if any. */
CrierBroadcastDialog *crier_window_get_broadcast_dialog (CrierWindow      *self);
/* The toast's title is Pango markup on libadwaita 1.2: escape server text. */
void                  crier_window_add_toast            (CrierWindow      *self,
                                                         AdwToast         *toast);
gboolean              crier_window_save_screenshot      (CrierWindow      *self,
                                                         const char       *path,
                                                         GError          **error);
/* Renders any realized window (a dialog) the same way. */
gboolean              crier_window_save_native_screenshot (GtkWidget      *native,
                                                           const char     *path,
                                                           GError        **error);

G_END_DECLS
