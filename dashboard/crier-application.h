/* crier-application.h: the dashboard's AdwApplication.
 *
 * Owns the app.* actions (about, quit), the style manager's colour scheme,
 * Unix signal handling and the hidden test options --screenshot=PATH and
 * --quit-after=MS.
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define CRIER_TYPE_APPLICATION (crier_application_get_type ())

G_DECLARE_FINAL_TYPE (CrierApplication, crier_application, CRIER, APPLICATION, AdwApplication)

CrierApplication *crier_application_new                     (void);

/* The admin socket crierd listens on when its [admin] socket is empty:
 * $XDG_RUNTIME_DIR/crier/admin.sock when XDG_RUNTIME_DIR is set and not
 * empty, else /run/crier/admin.sock. */
char             *crier_application_dup_default_socket_path (void);

G_END_DECLS
