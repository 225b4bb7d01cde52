/* crier-broadcast-dialog.h: send a test message to channels.
 *
 * Channels (recent ones from the recent-channels setting), a JSON editor
 * validated with json-glib as one types, and the result: the offset and
 * the subscribers reached per channel.  Action: broadcast.send.
 */
#pragma once

#include <adwaita.h>

#include "crier-admin-client.h"

G_BEGIN_DECLS

#define CRIER_TYPE_BROADCAST_DIALOG (crier_broadcast_dialog_get_type ())

G_DECLARE_FINAL_TYPE (CrierBroadcastDialog, crier_broadcast_dialog, CRIER, BROADCAST_DIALOG, AdwWindow)

CrierBroadcastDialog *crier_broadcast_dialog_new          (GtkWindow            *parent,
                                                           CrierAdminClient     *client);
void                  crier_broadcast_dialog_set_channels (CrierBroadcastDialog *self,
                                                           const char           *channels);
void                  crier_broadcast_dialog_set_data     (CrierBroadcastDialog *self,
                                                           const char           *json);
/* NULL until a broadcast has been answered. */
const char           *crier_broadcast_dialog_get_result   (CrierBroadcastDialog *self);
/* Subscribers reached by the last broadcast. */
guint                 crier_broadcast_dialog_get_reached  (CrierBroadcastDialog *self);

G_END_DECLS
