/* crier-alert-item.h: one anomaly alert (list_alerts, alert_* events),
 * with notifying properties.  Free of GTK. */
#pragma once

#include <glib-object.h>

#include "crier-anomaly.h"

G_BEGIN_DECLS

#define CRIER_TYPE_ALERT_ITEM (crier_alert_item_get_type ())

G_DECLARE_FINAL_TYPE (CrierAlertItem, crier_alert_item, CRIER, ALERT_ITEM, GObject)

CrierAlertItem *crier_alert_item_new             (const CrierAlert *alert);
void            crier_alert_item_update          (CrierAlertItem   *self,
                                                  const CrierAlert *alert);
guint64         crier_alert_item_get_id          (CrierAlertItem   *self);
const char     *crier_alert_item_get_explanation (CrierAlertItem   *self);
const char     *crier_alert_item_get_metric      (CrierAlertItem   *self);
gboolean        crier_alert_item_get_active      (CrierAlertItem   *self);

G_END_DECLS
