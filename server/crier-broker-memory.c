/* crier-broker-memory.c: offsets, history and presence in this process.
 *
 * Per channel a stream: the top offset, the epoch (8 random hex digits,
 * new whenever the stream is created: first publish or history query,
 * after its meta TTL ran out, after crier_broker_memory_reset_stream) and
 * the history, a ring
 * of the last publications bounded by count, bytes (sum of pub->size) and
 * TTL.  History offsets are contiguous (entries only ever leave from the
 * oldest end), so a "since" query finds its start by arithmetic.  Expiry
 * times never decrease from oldest to newest (a shorter TTL clamps older
 * entries), so expiring is dropping from the oldest end too; it happens
 * lazily on every access and in tick.
 *
 * Presence: channel -> client -> entry, plus user -> count so that
 * presence_stats is O(1).  Every call answers before it returns.
 */
#include "config.h"

#include "crier-broker.h"

#include <string.h>

#include "crier-util.h"

typedef struct
{
  CrierPublication *pub;
  gint64            expire_at;   /* ms, G_MAXINT64 = never */
} HistoryEntry;

typedef struct
{
  char         *epoch;
  guint64       offset;          /* top: offset of the last publication */
  HistoryEntry *ring;
  gsize         capacity;
  gsize         head;            /* ring index of the oldest entry */
  gsize         len;
  gint64        bytes;
  gint64        meta_expire_at;  /* ms, G_MAXINT64 = never */
} Stream;

typedef struct
{
  GHashTable *clients;           /* client id -> CrierPresenceEntry* */
  GHashTable *users;             /* user -> GUINT_TO_POINTER (count) */
} Presence;

typedef struct
{
  CrierBroker           parent;
  GHashTable           *streams;      /* channel -> Stream* */
  GHashTable           *presence;     /* channel -> Presence* */
  GHashTable           *subscribed;   /* channel -> GUINT_TO_POINTER (count) */
  gint64                history_bytes;
  CrierBrokerClockFunc  clock;
  gpointer              clock_data;
} MemoryBroker;

static const CrierBrokerVTable memory_vtable;

static gint64
memory_now (MemoryBroker *self)
{
  if (self->clock != NULL)
    return self->clock (self->clock_data);
  return g_get_real_time () / 1000;
}

static gint64
deadline (gint64 now,
          gint64 ttl_ms)
{
  if (ttl_ms <= 0 || now > G_MAXINT64 - ttl_ms)
    return G_MAXINT64;
  return now + ttl_ms;
}

/* ---- streams -------------------------------------------------------------- */

static HistoryEntry *
stream_entry (Stream *stream,
              gsize   i)
{
  return &stream->ring[(stream->head + i) % stream->capacity];
}

static void
stream_drop_oldest (MemoryBroker *self,
                    Stream       *stream)
{
  HistoryEntry *e = stream_entry (stream, 0);

  stream->bytes -= e->pub->size;
  self->history_bytes -= e->pub->size;
  g_clear_pointer (&e->pub, crier_publication_unref);
  stream->head = (stream->head + 1) % stream->capacity;
  stream->len--;
}

static void
stream_clear_history (MemoryBroker *self,
                      Stream       *stream)
{
  while (stream->len > 0)
    stream_drop_oldest (self, stream);
  stream->head = 0;
}

static void
stream_expire (MemoryBroker *self,
               Stream       *stream,
               gint64        now)
{
  while (stream->len > 0 && stream_entry (stream, 0)->expire_at <= now)
    stream_drop_oldest (self, stream);
}

static void
stream_free (gpointer data)
{
  Stream *stream = data;

  /* Only reached through drop_stream or broker_free, which account bytes. */
  for (gsize i = 0; i < stream->len; i++)
    crier_publication_unref (stream_entry (stream, i)->pub);
  g_free (stream->ring);
  g_free (stream->epoch);
  g_free (stream);
}

static void
drop_stream (MemoryBroker *self,
             const char   *channel,
             Stream       *stream)
{
  self->history_bytes -= stream->bytes;
  g_hash_table_remove (self->streams, channel);
}

static gboolean
is_subscribed (MemoryBroker *self,
               const char   *channel)
{
  return g_hash_table_contains (self->subscribed, channel);
}

/* A stream that never had a publication (made by a history query, so that
 * subscribers learn the epoch at once) lives while this node has
 * subscribers and then only as long as history would: unique channel
 * names cost nothing for 30 days. */
static gboolean
stream_is_expired (MemoryBroker *self,
                   const char   *channel,
                   Stream       *stream,
                   gint64        now)
{
  if (stream->meta_expire_at > now)
    return FALSE;
  return stream->offset > 0 || !is_subscribed (self, channel);
}

static Stream *
stream_new (MemoryBroker *self,
            const char   *channel)
{
  Stream *stream = g_new0 (Stream, 1);

  stream->epoch = crier_random_id (4);
  g_hash_table_insert (self->streams, g_strdup (channel), stream);
  return stream;
}

/* The live stream of @channel, or NULL (an expired one is dropped). */
static Stream *
lookup_stream (MemoryBroker *self,
               const char   *channel,
               gint64        now)
{
  Stream *stream = g_hash_table_lookup (self->streams, channel);

  if (stream == NULL)
    return NULL;
  if (stream_is_expired (self, channel, stream, now))
    {
      drop_stream (self, channel, stream);
      return NULL;
    }
  stream_expire (self, stream, now);
  return stream;
}

static void
stream_append (MemoryBroker              *self,
               Stream                    *stream,
               CrierPublication          *pub,
               const CrierHistoryOptions *options,
               gint64                     now)
{
  gsize size = (gsize) options->size;
  gint64 expire_at = deadline (now, options->ttl_ms);
  HistoryEntry *e;

  while (stream->len > 0 && stream->len >= size)
    stream_drop_oldest (self, stream);

  if (stream->len == stream->capacity)
    {
      gsize capacity = MIN (MAX (stream->capacity * 2, 8), size);
      HistoryEntry *ring = g_new0 (HistoryEntry, capacity);

      for (gsize i = 0; i < stream->len; i++)
        ring[i] = *stream_entry (stream, i);
      g_free (stream->ring);
      stream->ring = ring;
      stream->capacity = capacity;
      stream->head = 0;
    }

  /* A shorter TTL than before: older entries go no later than this one. */
  for (gsize i = stream->len; i > 0; i--)
    {
      HistoryEntry *older = stream_entry (stream, i - 1);

      if (older->expire_at <= expire_at)
        break;
      older->expire_at = expire_at;
    }

  e = &stream->ring[(stream->head + stream->len) % stream->capacity];
  e->pub = crier_publication_ref (pub);
  e->expire_at = expire_at;
  stream->len++;
  stream->bytes += pub->size;
  self->history_bytes += pub->size;

  while (options->max_bytes > 0 && stream->bytes > options->max_bytes && stream->len > 0)
    stream_drop_oldest (self, stream);
}

/* ---- vtable --------------------------------------------------------------- */

static void
memory_publish (CrierBroker               *broker,
                CrierPublication          *pub,
                const CrierHistoryOptions *options,
                CrierBrokerPublishFunc     func,
                gpointer                   user_data)
{
  MemoryBroker *self = (MemoryBroker *) broker;
  g_autoptr(CrierPublication) hold = crier_publication_ref (pub);

  g_return_if_fail (pub->kind == CRIER_PUSH_PUBLICATION);
  g_return_if_fail (pub->offset == 0 && pub->epoch == NULL);

  if (options != NULL && options->size > 0)
    {
      gint64 now = memory_now (self);
      Stream *stream = lookup_stream (self, pub->channel, now);

      if (stream == NULL)
        stream = stream_new (self, pub->channel);
      stream->offset++;
      stream->meta_expire_at = deadline (now, options->meta_ttl_ms);
      pub->offset = stream->offset;
      pub->epoch = g_strdup (stream->epoch);
      stream_append (self, stream, pub, options, now);
    }

  if (broker->deliver != NULL && is_subscribed (self, pub->channel))
    broker->deliver (pub, broker->deliver_data);

  if (func != NULL)
    func (pub, NULL, user_data);
}

static void
memory_publish_event (CrierBroker      *broker,
                      CrierPublication *event)
{
  MemoryBroker *self = (MemoryBroker *) broker;
  g_autoptr(CrierPublication) hold = crier_publication_ref (event);

  if (broker->deliver != NULL && is_subscribed (self, event->channel))
    broker->deliver (event, broker->deliver_data);
}

static void
memory_history (CrierBroker               *broker,
                const char                *channel,
                const CrierHistoryOptions *options,
                const CrierHistoryQuery   *query,
                CrierBrokerHistoryFunc     func,
                gpointer                   user_data)
{
  MemoryBroker *self = (MemoryBroker *) broker;
  g_autoptr(GPtrArray) pubs = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_publication_unref);
  g_autofree char *epoch = NULL;
  CrierHistoryResult result = { 0 };
  gint64 now = memory_now (self);
  Stream *stream = lookup_stream (self, channel, now);

  if (stream == NULL && options != NULL && options->size > 0)
    {
      stream = stream_new (self, channel);
      stream->meta_expire_at = deadline (now, options->ttl_ms > 0 ? options->ttl_ms
                                                                  : options->meta_ttl_ms);
    }

  if (stream != NULL)
    {
      guint64 first = stream->offset - stream->len + 1;   /* offset of entry 0 */
      gint64 limit = query->limit < 0 ? G_MAXINT64 : query->limit;
      gint64 lo = 0;                                       /* entry indexes [lo, hi) */
      gint64 hi = stream->len;

      if (query->has_since && !query->reverse)
        {
          if (query->since_offset >= first)
            lo = MIN (query->since_offset - first + 1, stream->len);
        }
      else if (query->has_since)
        {
          if (query->since_offset <= first)
            hi = 0;
          else if (query->since_offset - first < stream->len)
            hi = query->since_offset - first;
        }

      if (!query->reverse)
        for (gint64 i = lo; i < hi && (gint64) pubs->len < limit; i++)
          g_ptr_array_add (pubs, crier_publication_ref (stream_entry (stream, i)->pub));
      else
        for (gint64 i = hi - 1; i >= lo && (gint64) pubs->len < limit; i--)
          g_ptr_array_add (pubs, crier_publication_ref (stream_entry (stream, i)->pub));

      result.offset = stream->offset;
      epoch = g_strdup (stream->epoch);
    }

  /* A copy: the callback may publish and so change the stream. */
  result.publications = pubs;
  result.epoch = epoch != NULL ? epoch : "";
  func (&result, NULL, user_data);
}

static void
memory_remove_history (CrierBroker *broker,
                       const char  *channel)
{
  MemoryBroker *self = (MemoryBroker *) broker;
  Stream *stream = lookup_stream (self, channel, memory_now (self));

  if (stream != NULL)
    stream_clear_history (self, stream);
}

static void
memory_subscribe (CrierBroker *broker,
                  const char  *channel)
{
  MemoryBroker *self = (MemoryBroker *) broker;
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (self->subscribed, channel));

  g_hash_table_replace (self->subscribed, g_strdup (channel), GUINT_TO_POINTER (count + 1));
}

static void
memory_unsubscribe (CrierBroker *broker,
                    const char  *channel)
{
  MemoryBroker *self = (MemoryBroker *) broker;
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (self->subscribed, channel));

  if (count <= 1)
    g_hash_table_remove (self->subscribed, channel);
  else
    g_hash_table_replace (self->subscribed, g_strdup (channel), GUINT_TO_POINTER (count - 1));
}

static void
presence_free (gpointer data)
{
  Presence *presence = data;

  g_hash_table_unref (presence->clients);
  g_hash_table_unref (presence->users);
  g_free (presence);
}

static void
user_count_add (Presence   *presence,
                const char *user,
                int         delta)
{
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (presence->users, user));

  count += delta;
  if (count == 0)
    g_hash_table_remove (presence->users, user);
  else
    g_hash_table_replace (presence->users, g_strdup (user), GUINT_TO_POINTER (count));
}

static void
memory_presence_add (CrierBroker              *broker,
                     const char               *channel,
                     const CrierPresenceEntry *entry)
{
  MemoryBroker *self = (MemoryBroker *) broker;
  Presence *presence = g_hash_table_lookup (self->presence, channel);
  CrierPresenceEntry *copy;
  CrierPresenceEntry *old;

  g_return_if_fail (entry != NULL && entry->client != NULL);

  if (presence == NULL)
    {
      presence = g_new0 (Presence, 1);
      presence->clients = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                                 (GDestroyNotify) crier_presence_entry_free);
      presence->users = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_insert (self->presence, g_strdup (channel), presence);
    }

  copy = crier_presence_entry_copy (entry);
  if (copy->user == NULL)
    copy->user = g_strdup ("");

  old = g_hash_table_lookup (presence->clients, entry->client);
  if (old != NULL)
    {
      user_count_add (presence, old->user, -1);
      g_hash_table_remove (presence->clients, entry->client);
    }
  g_hash_table_insert (presence->clients, copy->client, copy);
  user_count_add (presence, copy->user, 1);
}

static void
memory_presence_remove (CrierBroker *broker,
                        const char  *channel,
                        const char  *client)
{
  MemoryBroker *self = (MemoryBroker *) broker;
  Presence *presence = g_hash_table_lookup (self->presence, channel);
  CrierPresenceEntry *old;

  if (presence == NULL)
    return;

  old = g_hash_table_lookup (presence->clients, client);
  if (old == NULL)
    return;

  user_count_add (presence, old->user, -1);
  g_hash_table_remove (presence->clients, client);
  if (g_hash_table_size (presence->clients) == 0)
    g_hash_table_remove (self->presence, channel);
}

static void
memory_presence (CrierBroker             *broker,
                 const char              *channel,
                 CrierBrokerPresenceFunc  func,
                 gpointer                 user_data)
{
  MemoryBroker *self = (MemoryBroker *) broker;
  Presence *presence = g_hash_table_lookup (self->presence, channel);
  g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_presence_entry_free);

  /* Copies: the callback may change presence. */
  if (presence != NULL)
    {
      GHashTableIter iter;
      gpointer value;

      g_hash_table_iter_init (&iter, presence->clients);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        g_ptr_array_add (entries, crier_presence_entry_copy (value));
    }
  func (entries, NULL, user_data);
}

static void
memory_presence_stats (CrierBroker          *broker,
                       const char           *channel,
                       CrierBrokerStatsFunc  func,
                       gpointer              user_data)
{
  MemoryBroker *self = (MemoryBroker *) broker;
  Presence *presence = g_hash_table_lookup (self->presence, channel);

  if (presence == NULL)
    func (0, 0, NULL, user_data);
  else
    func (g_hash_table_size (presence->clients), g_hash_table_size (presence->users),
          NULL, user_data);
}

static void
memory_tick (CrierBroker *broker,
             gint64       now_ms)
{
  MemoryBroker *self = (MemoryBroker *) broker;
  GHashTableIter iter;
  gpointer key;
  gpointer value;

  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Stream *stream = value;

      if (stream_is_expired (self, key, stream, now_ms))
        {
          self->history_bytes -= stream->bytes;
          g_hash_table_iter_remove (&iter);
        }
      else
        stream_expire (self, stream, now_ms);
    }
}

static gint64
memory_memory_bytes (CrierBroker *broker)
{
  return ((MemoryBroker *) broker)->history_bytes;
}

static gboolean
memory_is_healthy (CrierBroker *broker)
{
  return TRUE;
}

static void
memory_free (CrierBroker *broker)
{
  MemoryBroker *self = (MemoryBroker *) broker;

  g_hash_table_unref (self->streams);
  g_hash_table_unref (self->presence);
  g_hash_table_unref (self->subscribed);
  g_free (self);
}

static const CrierBrokerVTable memory_vtable = {
  .name = "memory",
  .free = memory_free,
  .publish = memory_publish,
  .publish_event = memory_publish_event,
  .history = memory_history,
  .remove_history = memory_remove_history,
  .subscribe = memory_subscribe,
  .unsubscribe = memory_unsubscribe,
  .presence_add = memory_presence_add,
  .presence_remove = memory_presence_remove,
  .presence = memory_presence,
  .presence_stats = memory_presence_stats,
  .tick = memory_tick,
  .memory_bytes = memory_memory_bytes,
  .is_healthy = memory_is_healthy,
};

/* ---- public --------------------------------------------------------------- */

CrierBroker *
crier_broker_memory_new (CrierBrokerDeliverFunc deliver,
                         gpointer               deliver_data)
{
  MemoryBroker *self = g_new0 (MemoryBroker, 1);

  self->parent.vtable = &memory_vtable;
  self->parent.deliver = deliver;
  self->parent.deliver_data = deliver_data;
  self->streams = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, stream_free);
  self->presence = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, presence_free);
  self->subscribed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return &self->parent;
}

void
crier_broker_memory_reset_stream (CrierBroker *broker,
                                  const char  *channel)
{
  MemoryBroker *self = (MemoryBroker *) broker;
  Stream *stream;

  g_return_if_fail (broker != NULL && broker->vtable == &memory_vtable);
  g_return_if_fail (channel != NULL);

  stream = g_hash_table_lookup (self->streams, channel);
  if (stream != NULL)
    drop_stream (self, channel, stream);
}

void
crier_broker_memory_set_clock (CrierBroker          *broker,
                               CrierBrokerClockFunc  func,
                               gpointer              user_data)
{
  MemoryBroker *self = (MemoryBroker *) broker;

  g_return_if_fail (broker != NULL && broker->vtable == &memory_vtable);

  self->clock = func;
  self->clock_data = user_data;
}
