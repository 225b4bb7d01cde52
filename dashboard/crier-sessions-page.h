/* crier-sessions-page.h: the live session table with an inspector.
 *
 * A GtkColumnView over CrierSessionList, sorted by the clicked column
 * (sorters declared per column in the .ui) and filtered by the search entry
 * (user, transport and address locally; channel through list_sessions'
 * channel filter).  The inspector polls inspect_session at 1 Hz for the
 * selected session and offers Kick (sessions.kick, with CrierKickDialog)
 * and Unsubscribe (sessions.unsubscribe).
 */
#pragma once

#include <adwaita.h>

#include "crier-admin-client.h"
#include "crier-kick-dialog.h"
#include "crier-session-list.h"

G_BEGIN_DECLS

#define CRIER_TYPE_SESSIONS_PAGE (crier_sessions_page_get_type ())

G_DECLARE_FINAL_TYPE (CrierSessionsPage, crier_sessions_page, CRIER, SESSIONS_PAGE, AdwBin)

void              crier_sessions_page_set_client      (CrierSessionsPage *self,
                                                       CrierAdminClient  *client);
CrierSessionList *crier_sessions_page_get_list        (CrierSessionsPage *self);
/* Rows after sorting and filtering. */
GListModel       *crier_sessions_page_get_view_model  (CrierSessionsPage *self);
GtkColumnView    *crier_sessions_page_get_column_view (CrierSessionsPage *self);
GtkEditable      *crier_sessions_page_get_search      (CrierSessionsPage *self);
void              crier_sessions_page_select          (CrierSessionsPage *self,
                                                       guint              position);
/* The open kick dialog, if any. */
CrierKickDialog  *crier_sessions_page_get_kick_dialog (CrierSessionsPage *self);

G_END_DECLS
