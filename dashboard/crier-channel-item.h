/* crier-channel-item.h: one active channel (list_channels), with notifying
 * properties.  Free of GTK. */
#pragma once

#include <glib-object.h>

#include "crier-admin-protocol.h"

G_BEGIN_DECLS

#define CRIER_TYPE_CHANNEL_ITEM (crier_channel_item_get_type ())

G_DECLARE_FINAL_TYPE (CrierChannelItem, crier_channel_item, CRIER, CHANNEL_ITEM, GObject)

CrierChannelItem *crier_channel_item_new      (const CrierAdminChannelInfo *info);
void              crier_channel_item_update   (CrierChannelItem            *self,
                                               const CrierAdminChannelInfo *info);
const char       *crier_channel_item_get_name (CrierChannelItem            *self);

G_END_DECLS
