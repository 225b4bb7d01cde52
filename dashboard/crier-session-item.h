/* crier-session-item.h: one client session in the dashboard's session list.
 *
 * Free of GTK.  Every property notifies on change, so that list cells and
 * the inspector follow updates without items-changed on the model.
 */
#pragma once

#include <glib-object.h>

#include "crier-admin-protocol.h"

G_BEGIN_DECLS

#define CRIER_TYPE_SESSION_ITEM (crier_session_item_get_type ())

G_DECLARE_FINAL_TYPE (CrierSessionItem, crier_session_item, CRIER, SESSION_ITEM, GObject)

CrierSessionItem *crier_session_item_new            (const CrierAdminSessionInfo *info);
/* Copies the fields of @info (same id) and notifies those that changed.
 * A partial @info (session_closed) leaves unknown counters alone. */
void              crier_session_item_update         (CrierSessionItem            *self,
                                                     const CrierAdminSessionInfo *info);
const char       *crier_session_item_get_id         (CrierSessionItem            *self);
const char       *crier_session_item_get_user       (CrierSessionItem            *self);
const char       *crier_session_item_get_transport  (CrierSessionItem            *self);
const char       *crier_session_item_get_remote     (CrierSessionItem            *self);
/* Casefolded user, transport and remote, for substring search. */
const char       *crier_session_item_get_search_key (CrierSessionItem            *self);
const char       *crier_session_item_get_user_agent (CrierSessionItem            *self);
gint64            crier_session_item_get_connected_at (CrierSessionItem          *self);
guint             crier_session_item_get_subscriptions (CrierSessionItem         *self);
gint64            crier_session_item_get_bytes_out  (CrierSessionItem            *self);

G_END_DECLS
