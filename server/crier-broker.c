/* crier-broker.c: what every broker shares (see crier-broker.h); the
 * memory broker is in crier-broker-memory.c. */
#include "config.h"

#include "crier-broker.h"

G_DEFINE_QUARK (crier-broker-error-quark, crier_broker_error)

void
crier_broker_free (CrierBroker *broker)
{
  if (broker == NULL)
    return;

  g_return_if_fail (broker->vtable != NULL && broker->vtable->free != NULL);

  broker->vtable->free (broker);
}

CrierPresenceEntry *
crier_presence_entry_copy (const CrierPresenceEntry *entry)
{
  CrierPresenceEntry *copy;

  g_return_val_if_fail (entry != NULL, NULL);

  copy = g_new0 (CrierPresenceEntry, 1);
  copy->client = g_strdup (entry->client);
  copy->user = g_strdup (entry->user);
  copy->conn_info = g_strdup (entry->conn_info);
  copy->chan_info = g_strdup (entry->chan_info);
  return copy;
}

void
crier_presence_entry_free (CrierPresenceEntry *entry)
{
  if (entry == NULL)
    return;

  g_free (entry->client);
  g_free (entry->user);
  g_free (entry->conn_info);
  g_free (entry->chan_info);
  g_free (entry);
}

CrierNodeInfo *
crier_node_info_copy (const CrierNodeInfo *info)
{
  CrierNodeInfo *copy;

  g_return_val_if_fail (info != NULL, NULL);

  copy = g_memdup2 (info, sizeof *info);
  copy->id = g_strdup (info->id);
  copy->name = g_strdup (info->name);
  copy->address = g_strdup (info->address);
  copy->version = g_strdup (info->version);
  return copy;
}

void
crier_node_info_free (CrierNodeInfo *info)
{
  if (info == NULL)
    return;

  g_free (info->id);
  g_free (info->name);
  g_free (info->address);
  g_free (info->version);
  g_free (info);
}
