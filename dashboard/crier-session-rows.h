/* crier-session-rows.h: stable row objects over a list of sessions.
 *
 * GTK 4.8's column view builds new cell widgets for every visible row that
 * an items-changed removes and adds, whatever the list's length: with the
 * Sessions view's 7 columns that is 30-70 ms each time a filter or a sort
 * replaces the visible sessions (docs/benchmarks.md).  CrierSessionRows is
 * the view's model instead: a GListModel of CrierSessionRow, where row i
 * shows the i-th session of the source model (sorted and filtered
 * sessions).  When the source changes, rows keep their identity and only
 * their "session" property changes, so the cells rebind in place; the
 * model itself only grows or shrinks at its end.
 */
#pragma once

#include <gio/gio.h>

#include "crier-session-item.h"

G_BEGIN_DECLS

#define CRIER_TYPE_SESSION_ROW (crier_session_row_get_type ())
G_DECLARE_FINAL_TYPE (CrierSessionRow, crier_session_row, CRIER, SESSION_ROW, GObject)

/* The session shown in this row now. */
CrierSessionItem *crier_session_row_get_session (CrierSessionRow *self);

#define CRIER_TYPE_SESSION_ROWS (crier_session_rows_get_type ())
G_DECLARE_FINAL_TYPE (CrierSessionRows, crier_session_rows, CRIER, SESSION_ROWS, GObject)

CrierSessionRows *crier_session_rows_new       (GListModel       *model);
void              crier_session_rows_set_model (CrierSessionRows *self,
                                                GListModel       *model);
GListModel       *crier_session_rows_get_model (CrierSessionRows *self);
/* Where @session is shown, or GTK_INVALID_LIST_POSITION (G_MAXUINT). */
guint             crier_session_rows_find      (CrierSessionRows *self,
                                                CrierSessionItem *session);

G_END_DECLS
