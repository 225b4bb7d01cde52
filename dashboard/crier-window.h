/* crier-window.h: the dashboard's main window.
 *
 * A composite template (data/ui/crier-window.ui): header bar with a view
 * switcher and the primary menu, a toast overlay around the view stack
 * (Overview, Sessions, Channels, Alerts) and a switcher bar for narrow
 * widths.  Until the admin client exists the Overview says "Not Connected"
 * and names the address it would connect to.
 */
#pragma once

#include <adwaita.h>

#include "crier-application.h"

G_BEGIN_DECLS

#define CRIER_TYPE_WINDOW (crier_window_get_type ())

G_DECLARE_FINAL_TYPE (CrierWindow, crier_window, CRIER, WINDOW, AdwApplicationWindow)

CrierWindow *crier_window_new             (CrierApplication *application);
const char  *crier_window_get_address     (CrierWindow      *self);
/* The toast's title is Pango markup on libadwaita 1.2: escape server text. */
void         crier_window_add_toast       (CrierWindow      *self,
                                           AdwToast         *toast);
gboolean     crier_window_save_screenshot (CrierWindow      *self,
                                           const char       *path,
                                           GError          **error);

G_END_DECLS
