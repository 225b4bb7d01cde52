/* crier-application.h: the dashboard's AdwApplication.
 *
 * Owns the app.* actions (about, quit), the style manager's colour scheme,
 * Unix signal handling and the hidden test options --screenshot=PATH,
 * --quit-after=MS, --admin-socket=PATH and --test-driver.
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define CRIER_TYPE_APPLICATION (crier_application_get_type ())

G_DECLARE_FINAL_TYPE (CrierApplication, crier_application, CRIER, APPLICATION, AdwApplication)

CrierApplication *crier_application_new                     (void);

G_END_DECLS
