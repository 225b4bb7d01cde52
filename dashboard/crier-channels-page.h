/* crier-channels-page.h: active channels with subscribers and publish
 * rates (list_channels every 2 s) and a view of the selected channel
 * (inspect_channel: namespace, presence, history window, epoch, offset). */
#pragma once

#include <adwaita.h>

#include "crier-admin-client.h"

G_BEGIN_DECLS

#define CRIER_TYPE_CHANNELS_PAGE (crier_channels_page_get_type ())

G_DECLARE_FINAL_TYPE (CrierChannelsPage, crier_channels_page, CRIER, CHANNELS_PAGE, AdwBin)

void        crier_channels_page_set_client (CrierChannelsPage *self,
                                            CrierAdminClient  *client);
GListModel *crier_channels_page_get_model  (CrierChannelsPage *self);
void        crier_channels_page_select     (CrierChannelsPage *self,
                                            guint              position);

G_END_DECLS
