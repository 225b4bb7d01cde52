/* crier-session-list.h: the connected sessions as a GListModel.
 *
 * Free of GTK: a GListModel of CrierSessionItem kept in sync with the
 * admin session stream of a CrierAdminClient.  On connect it sends
 * watch_sessions and lists every page (1000 sessions per request); then
 * session_opened and session_closed insert and remove items, and
 * sessions_resync lists again.  items-changed is emitted for insertions and
 * removals only (one per page or batch); value changes notify the items.
 * Items keep their insertion order; sorting and filtering belong to
 * GtkSortListModel and GtkFilterListModel on top.
 */
#pragma once

#include <gio/gio.h>

#include "crier-admin-client.h"
#include "crier-session-item.h"

G_BEGIN_DECLS

#define CRIER_TYPE_SESSION_LIST (crier_session_list_get_type ())

G_DECLARE_FINAL_TYPE (CrierSessionList, crier_session_list, CRIER, SESSION_LIST, GObject)

CrierSessionList *crier_session_list_new        (void);
void              crier_session_list_set_client (CrierSessionList             *self,
                                                 CrierAdminClient             *client);
CrierAdminClient *crier_session_list_get_client (CrierSessionList             *self);
gboolean          crier_session_list_get_loading (CrierSessionList            *self);

/* Model operations (the stream uses them; so do tests and benchmarks). */
/* Appends the sessions not yet present (one items-changed for all of them)
 * and updates the others.  Returns how many were appended. */
guint             crier_session_list_add_batch  (CrierSessionList             *self,
                                                 CrierAdminSessionInfo * const *infos,
                                                 guint                         n_infos);
void              crier_session_list_add        (CrierSessionList             *self,
                                                 const CrierAdminSessionInfo  *info);
gboolean          crier_session_list_remove     (CrierSessionList             *self,
                                                 const char                   *id);
/* Replaces the whole contents (items of ids still present are kept):
 * one items-changed (0, old, new). */
void              crier_session_list_replace    (CrierSessionList             *self,
                                                 CrierAdminSessionInfo * const *infos,
                                                 guint                         n_infos);
void              crier_session_list_clear      (CrierSessionList             *self);
CrierSessionItem *crier_session_list_lookup     (CrierSessionList             *self,
                                                 const char                   *id);

G_END_DECLS
