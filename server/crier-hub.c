/* crier-hub.c: channels, subscriptions, fan-out, presence, sessions.
 *
 * Key functions: crier_hub_subscribe + subscribe_finish (register first,
 * ask the broker, reply, then merge what arrived meanwhile), hub_deliver +
 * fan_out + deliver_one (the hot path: one cached frame per wire form,
 * offset checks for positioned subscriptions), remove_subscription (the
 * one way a subscription ends: presence, leave event, channel lifetime).
 *
 * Re-entrancy rules, because any send may evict its session and the
 * transport may call crier_hub_remove_session from inside the send:
 *  - all bookkeeping for a delivery happens before the send, and nothing
 *    touches the subscription or the session after it;
 *  - while a channel fans out, removed subscriptions leave a NULL hole in
 *    its array (compacted afterwards) and publications delivered to it
 *    meanwhile (a send that publishes) queue up behind the current one, so
 *    every subscriber sees the channel's publications in order;
 *  - a subscribe operation outlives its subscription: removal only marks
 *    it cancelled.
 */
#include "config.h"

#include "crier-hub.h"

#include <gio/gio.h>
#include <string.h>

/* How long a stream's position outlives its last publication. */
#define HISTORY_META_TTL_MS (30 * 24 * 3600 * G_GINT64_CONSTANT (1000))

/* Publications buffered per subscription while its subscribe is answered;
 * beyond this the subscription is in insufficient state. */
#define PENDING_MAX 4096

struct _CrierHub
{
  const CrierConfig *config;
  CrierBroker       *broker;
  GHashTable        *sessions;   /* client id -> CrierSession* */
  GHashTable        *users;      /* user -> GPtrArray of CrierSession* */
  GHashTable        *channels;   /* name -> HubChannel* */
  guint              n_subscriptions;
  CrierHubStats      stats;
  CrierHubSessionFunc session_func;
  gpointer           session_data;
  CrierLimitStats   *limits;     /* the server's, or NULL */
};

typedef struct
{
  char      *name;
  GPtrArray *subs;        /* CrierSubscription*, NULL holes while fanning out */
  guint      n_subs;
  gboolean   fanning_out;
  gboolean   holes;
  GQueue     backlog;     /* CrierPublication* delivered while fanning out */
} HubChannel;

typedef struct
{
  CrierHub              *hub;
  CrierSession          *session;
  CrierSubscription     *sub;        /* NULL once the subscription is gone */
  CrierHubSubscribeFunc  func;
  gpointer               user_data;
  gboolean               func_called;
  gboolean               recover;    /* a recovery attempt */
  guint64                offset;
  char                  *epoch;
  gboolean               reject_unrecovered;
  gboolean               overflow;   /* pending hit PENDING_MAX */
} SubscribeOp;

static void history_options (const CrierNamespaceConfig *ns,
                             CrierHistoryOptions        *options);

/* ---- errors --------------------------------------------------------------- */

G_DEFINE_QUARK (crier-proto-error-quark, crier_proto_error)

const char *
crier_proto_error_message (int code)
{
  switch (code)
    {
    case 100: return "internal server error";
    case 101: return "unauthorized";
    case 102: return "unknown channel";
    case 103: return "permission denied";
    case 104: return "method not found";
    case 105: return "already subscribed";
    case 106: return "limit exceeded";
    case 107: return "bad request";
    case 108: return "not available";
    case 109: return "token expired";
    case 110: return "expired";
    case 111: return "too many requests";
    case 112: return "unrecoverable position";
    case 113: return "concurrent pagination";
    default: return "unknown error";
    }
}

static GError *
proto_error_new (CrierProtoError code)
{
  return g_error_new_literal (CRIER_PROTO_ERROR, code, crier_proto_error_message (code));
}

static void
set_proto_error (GError          **error,
                 CrierProtoError   code)
{
  g_set_error_literal (error, CRIER_PROTO_ERROR, code, crier_proto_error_message (code));
}

/* ---- channels ------------------------------------------------------------- */

static void
hub_channel_free (gpointer data)
{
  HubChannel *ch = data;

  g_queue_clear_full (&ch->backlog, (GDestroyNotify) crier_publication_unref);
  g_ptr_array_unref (ch->subs);
  g_free (ch->name);
  g_free (ch);
}

static HubChannel *
channel_ensure (CrierHub   *hub,
                const char *name)
{
  HubChannel *ch = g_hash_table_lookup (hub->channels, name);

  if (ch != NULL)
    return ch;

  ch = g_new0 (HubChannel, 1);
  ch->name = g_strdup (name);
  ch->subs = g_ptr_array_new ();
  g_queue_init (&ch->backlog);
  g_hash_table_insert (hub->channels, ch->name, ch);
  hub->broker->vtable->subscribe (hub->broker, name);
  return ch;
}

static void
channel_drop (CrierHub   *hub,
              HubChannel *ch)
{
  g_autofree char *name = g_strdup (ch->name);

  g_hash_table_remove (hub->channels, name);
  hub->broker->vtable->unsubscribe (hub->broker, name);
}

static void
channel_add_sub (HubChannel        *ch,
                 CrierSubscription *sub)
{
  sub->hub_channel = ch;
  sub->hub_index = ch->subs->len;
  g_ptr_array_add (ch->subs, sub);
  ch->n_subs++;
}

static void
channel_remove_sub (CrierHub          *hub,
                    HubChannel        *ch,
                    CrierSubscription *sub)
{
  g_assert (sub->hub_index < ch->subs->len);
  g_assert (g_ptr_array_index (ch->subs, sub->hub_index) == sub);

  if (ch->fanning_out)
    {
      g_ptr_array_index (ch->subs, sub->hub_index) = NULL;
      ch->holes = TRUE;
    }
  else
    {
      g_ptr_array_remove_index_fast (ch->subs, sub->hub_index);
      if (sub->hub_index < ch->subs->len)
        {
          CrierSubscription *moved = g_ptr_array_index (ch->subs, sub->hub_index);

          moved->hub_index = sub->hub_index;
        }
    }
  sub->hub_channel = NULL;
  ch->n_subs--;

  if (ch->n_subs == 0 && !ch->fanning_out)
    channel_drop (hub, ch);
}

static void
channel_compact (HubChannel *ch)
{
  guint j = 0;

  for (guint i = 0; i < ch->subs->len; i++)
    {
      CrierSubscription *sub = g_ptr_array_index (ch->subs, i);

      if (sub == NULL)
        continue;
      sub->hub_index = j;
      g_ptr_array_index (ch->subs, j++) = sub;
    }
  g_ptr_array_set_size (ch->subs, j);
  ch->holes = FALSE;
}

/* ---- subscriptions -------------------------------------------------------- */

static void
subscription_free (CrierSubscription *sub)
{
  g_clear_pointer (&sub->pending, g_ptr_array_unref);
  g_free (sub->channel);
  g_free (sub->chan_info);
  g_free (sub->info);
  g_free (sub->epoch);
  g_free (sub);
}

static gboolean
join_leave_enabled (const CrierNamespaceConfig *ns)
{
  return ns != NULL && (ns->join_leave || ns->force_join_leave);
}

static void
publish_event (CrierHub          *hub,
               CrierPushKind      kind,
               CrierSubscription *sub)
{
  g_autoptr(CrierPublication) event = crier_publication_new_event (kind, sub->channel, sub->info);

  hub->stats.join_leave_events++;
  hub->broker->vtable->publish_event (hub->broker, event);
}

/* The one way a subscription ends.  @joined subscriptions (the subscribe
 * reply went out) leave presence and, if enabled, publish a leave event.
 * A subscribe still waiting for the broker is cancelled: its callback
 * gets G_IO_ERROR_CANCELLED, last, once the hub is consistent again. */
static void
remove_subscription (CrierHub          *hub,
                     CrierSubscription *sub,
                     gboolean           leave)
{
  CrierSession *session = sub->session;
  SubscribeOp *op = sub->hub_pending;
  gboolean joined = !sub->recovering;
  g_autoptr(CrierPublication) event = NULL;

  if (op != NULL)
    {
      op->sub = NULL;
      sub->hub_pending = NULL;
    }

  if (g_hash_table_lookup (session->subscriptions, sub->channel) == sub)
    g_hash_table_remove (session->subscriptions, sub->channel);
  if (sub->hub_channel != NULL)
    channel_remove_sub (hub, sub->hub_channel, sub);
  hub->n_subscriptions--;

  if (joined)
    {
      const CrierNamespaceConfig *ns = crier_config_lookup_namespace (hub->config, sub->channel);

      /* Unconditionally: presence may have been switched off by a reload
       * since this subscription joined. */
      hub->broker->vtable->presence_remove (hub->broker, sub->channel, session->id);
      if (leave && join_leave_enabled (ns))
        event = crier_publication_new_event (CRIER_PUSH_LEAVE, sub->channel, sub->info);
    }

  subscription_free (sub);

  if (event != NULL)
    {
      hub->stats.join_leave_events++;
      hub->broker->vtable->publish_event (hub->broker, event);
    }

  if (op != NULL && !op->func_called)
    {
      g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                     "subscription cancelled");

      op->func_called = TRUE;
      op->func (op->session, NULL, error, op->user_data);
    }
}

static char *
unsubscribe_push_json (const char *channel,
                       guint       code,
                       const char *reason)
{
  GString *push = g_string_new ("{\"channel\":");

  crier_json_append_string (push, channel);
  g_string_append_printf (push, ",\"unsubscribe\":{\"code\":%u,\"reason\":", code);
  crier_json_append_string (push, reason != NULL ? reason : "");
  g_string_append (push, "}}");
  return g_string_free (push, FALSE);
}

/* Server-side end of @sub: the subscription goes first (so nothing else is
 * delivered to it), then the push (or, for server-side subscriptions,
 * @disconnect_code) goes out: the session may be gone after that. */
static void
end_subscription (CrierHub          *hub,
                  CrierSubscription *sub,
                  guint              code,
                  const char        *reason,
                  guint              disconnect_code,
                  const char        *disconnect_reason)
{
  CrierSession *session = sub->session;
  g_autofree char *push = NULL;

  if (sub->server_side && disconnect_code != 0)
    {
      remove_subscription (hub, sub, TRUE);
      session->klass->disconnect (session, disconnect_code, disconnect_reason);
      return;
    }

  push = unsubscribe_push_json (sub->channel, code, reason);
  remove_subscription (hub, sub, TRUE);
  session->klass->send_push (session, push);
}

static void
insufficient_state (CrierHub          *hub,
                    CrierSubscription *sub)
{
  hub->stats.insufficient_state++;
  g_debug ("client %s: insufficient state in %s", sub->session->id, sub->channel);
  end_subscription (hub, sub, 2500, "insufficient state", 3010, "insufficient state");
}

/* ---- fan-out -------------------------------------------------------------- */

/* Sends @pub to @sub (not recovering).  @sub and its session may be gone
 * when this returns. */
static void
deliver_one (CrierHub          *hub,
             CrierSubscription *sub,
             CrierPublication  *pub,
             gint64             now_us)
{
  CrierSession *session = sub->session;
  GBytes *frame;

  if (pub->kind != CRIER_PUSH_PUBLICATION)
    {
      if (!sub->join_leave)
        return;
    }
  else if (pub->offset > 0)
    {
      gboolean epoch_known = sub->epoch != NULL && sub->epoch[0] != '\0';

      if (sub->positioned)
        {
          if (epoch_known && g_strcmp0 (pub->epoch, sub->epoch) != 0)
            {
              insufficient_state (hub, sub);
              return;
            }
          if (pub->offset <= sub->offset)
            return;  /* already delivered (history, recovery, buffer) */
          if (pub->offset != sub->offset + 1)
            {
              insufficient_state (hub, sub);
              return;
            }
        }
      sub->offset = pub->offset;
      /* Subscribed before the stream existed: its first publication
       * fixes the epoch. */
      if (!epoch_known && pub->epoch != NULL)
        {
          g_free (sub->epoch);
          sub->epoch = g_strdup (pub->epoch);
        }
    }

  frame = crier_publication_encode (pub, session->encoding);
  if (g_bytes_get_size (frame) == 0)
    return;  /* no such push in this dialect */

  {
    /* The clock is read once per fan-out, not per subscriber. */
    gint64 latency = MAX (now_us - pub->mono_us, 0);

    hub->stats.latency_sum_us += latency;
    hub->stats.latency_count++;
    crier_histogram_record (&hub->stats.latency, latency);
  }

  if (session->klass->send_encoded (session, frame))
    hub->stats.deliveries++;
  else
    hub->stats.dropped_deliveries++;
}

static void
buffer_pending (CrierSubscription *sub,
                CrierPublication  *pub)
{
  SubscribeOp *op = sub->hub_pending;

  if (sub->pending == NULL)
    sub->pending = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_publication_unref);
  if (sub->pending->len >= PENDING_MAX)
    {
      if (op != NULL)
        op->overflow = TRUE;
      return;
    }
  g_ptr_array_add (sub->pending, crier_publication_ref (pub));
}

static void
fan_out (CrierHub         *hub,
         HubChannel       *ch,
         CrierPublication *pub)
{
  /* Subscriptions added meanwhile are recovering and catch up from their
   * own buffer; the length is read once. */
  guint n = ch->subs->len;
  gint64 now_us = g_get_monotonic_time ();

  for (guint i = 0; i < n; i++)
    {
      CrierSubscription *sub = g_ptr_array_index (ch->subs, i);

      if (sub == NULL)
        continue;
      if (sub->recovering)
        buffer_pending (sub, pub);
      else
        deliver_one (hub, sub, pub, now_us);
    }
}

static void
hub_deliver (CrierPublication *pub,
             gpointer          user_data)
{
  CrierHub *hub = user_data;
  HubChannel *ch = g_hash_table_lookup (hub->channels, pub->channel);
  CrierPublication *next;

  if (ch == NULL)
    return;

  if (ch->fanning_out)
    {
      g_queue_push_tail (&ch->backlog, crier_publication_ref (pub));
      return;
    }

  ch->fanning_out = TRUE;
  fan_out (hub, ch, pub);
  while ((next = g_queue_pop_head (&ch->backlog)) != NULL)
    {
      fan_out (hub, ch, next);
      crier_publication_unref (next);
    }
  ch->fanning_out = FALSE;

  if (ch->holes)
    channel_compact (ch);
  if (ch->n_subs == 0)
    channel_drop (hub, ch);
}

/* ---- hub ------------------------------------------------------------------ */

CrierHub *
crier_hub_new (const CrierConfig *config)
{
  CrierHub *hub;

  g_return_val_if_fail (config != NULL, NULL);

  hub = g_new0 (CrierHub, 1);
  hub->config = config;
  hub->broker = crier_broker_memory_new (hub_deliver, hub);
  hub->sessions = g_hash_table_new (g_str_hash, g_str_equal);
  hub->users = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify) g_ptr_array_unref);
  hub->channels = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, hub_channel_free);
  return hub;
}

void
crier_hub_free (CrierHub *hub)
{
  GHashTableIter iter;
  gpointer value;

  if (hub == NULL)
    return;

  /* Sessions belong to their transports: forget them and their
   * subscriptions without sends, leave events or callbacks. */
  g_hash_table_iter_init (&iter, hub->channels);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      HubChannel *ch = value;

      for (guint i = 0; i < ch->subs->len; i++)
        {
          CrierSubscription *sub = g_ptr_array_index (ch->subs, i);
          SubscribeOp *op;

          if (sub == NULL)
            continue;
          op = sub->hub_pending;
          if (op != NULL)
            op->sub = NULL;
          g_hash_table_remove (sub->session->subscriptions, sub->channel);
          subscription_free (sub);
        }
    }
  g_hash_table_iter_init (&iter, hub->sessions);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    ((CrierSession *) value)->registered = FALSE;

  g_hash_table_unref (hub->channels);
  g_hash_table_unref (hub->sessions);
  g_hash_table_unref (hub->users);
  crier_broker_free (hub->broker);
  g_free (hub);
}

CrierBroker *
crier_hub_get_broker (CrierHub *hub)
{
  g_return_val_if_fail (hub != NULL, NULL);

  return hub->broker;
}

void
crier_hub_set_session_observer (CrierHub           *hub,
                                CrierHubSessionFunc func,
                                gpointer            user_data)
{
  hub->session_func = func;
  hub->session_data = user_data;
}

typedef struct
{
  CrierHub *hub;
  char     *channel;
} GapCheck;

static void
gap_position (const CrierHistoryResult *result,
              const GError             *error,
              gpointer                  user_data)
{
  GapCheck *gc = user_data;
  HubChannel *ch = error == NULL ? g_hash_table_lookup (gc->hub->channels, gc->channel) : NULL;
  CrierBroker *broker = gc->hub->broker;

  /* The position could not be read (Redis went away again, too many
   * commands in flight): the gap is still open.  The broker reports it
   * again later, when it can be read. */
  if (error != NULL)
    {
      g_debug ("gap check of %s failed: %s; retried later", gc->channel, error->message);
      /* Not hub->channels: this also runs from crier_hub_free, after the
       * channels are gone (the broker ignores it then). */
      if (broker->vtable->note_gap != NULL)
        broker->vtable->note_gap (broker, gc->channel);
    }

  /* Positioned subscribers behind the stream's top (or on another epoch)
   * missed something while the broker link was down: they resubscribe
   * with recovery (2500) and get exactly the missed publications, or are
   * told recovered:false. Never a silent gap. */
  if (ch != NULL)
    {
      gboolean was_fanning = ch->fanning_out;
      guint n = ch->subs->len;

      ch->fanning_out = TRUE;
      for (guint i = 0; i < n; i++)
        {
          CrierSubscription *sub = g_ptr_array_index (ch->subs, i);

          if (sub == NULL || sub->recovering || !sub->positioned)
            continue;
          if (result->offset > sub->offset ||
              (result->epoch != NULL && result->epoch[0] != '\0' && sub->epoch != NULL &&
               sub->epoch[0] != '\0' && g_strcmp0 (result->epoch, sub->epoch) != 0))
            insufficient_state (gc->hub, sub);
        }
      ch->fanning_out = was_fanning;
      if (!was_fanning)
        {
          if (ch->holes)
            channel_compact (ch);
          if (ch->n_subs == 0)
            channel_drop (gc->hub, ch);
        }
    }
  g_free (gc->channel);
  g_free (gc);
}

static void
hub_gap (CrierBroker *broker,
         const char  *channel,
         gpointer     user_data)
{
  CrierHub *hub = user_data;
  const CrierNamespaceConfig *ns = crier_config_lookup_namespace (hub->config, channel);
  CrierHistoryOptions opts = { 0 };
  CrierHistoryQuery q = { 0 };
  GapCheck *gc;

  hub->stats.gaps++;
  if (ns == NULL || ns->history_size <= 0 || !g_hash_table_contains (hub->channels, channel))
    return;
  history_options (ns, &opts);
  gc = g_new0 (GapCheck, 1);
  gc->hub = hub;
  gc->channel = g_strdup (channel);
  broker->vtable->history (broker, channel, &opts, &q, gap_position, gc);
}

void
crier_hub_set_broker (CrierHub    *hub,
                      CrierBroker *broker)
{
  GHashTableIter iter;
  gpointer key;

  g_return_if_fail (hub != NULL);
  g_return_if_fail (broker != NULL && broker != hub->broker);

  g_hash_table_iter_init (&iter, hub->channels);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    hub->broker->vtable->unsubscribe (hub->broker, key);
  crier_broker_free (hub->broker);

  hub->broker = broker;
  broker->deliver = hub_deliver;
  broker->deliver_data = hub;
  broker->gap = hub_gap;
  broker->gap_data = hub;
  g_hash_table_iter_init (&iter, hub->channels);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    broker->vtable->subscribe (broker, key);
}

const CrierHubStats *
crier_hub_get_stats (CrierHub *hub)
{
  g_return_val_if_fail (hub != NULL, NULL);

  hub->stats.channels = g_hash_table_size (hub->channels);
  hub->stats.sessions = g_hash_table_size (hub->sessions);
  hub->stats.subscriptions = hub->n_subscriptions;
  return &hub->stats;
}

/* ---- sessions ------------------------------------------------------------- */

void
crier_hub_add_session (CrierHub     *hub,
                       CrierSession *session)
{
  GPtrArray *of_user;

  g_return_if_fail (hub != NULL);
  g_return_if_fail (session != NULL);
  g_return_if_fail (!session->registered);
  g_return_if_fail (!g_hash_table_contains (hub->sessions, session->id));

  g_hash_table_insert (hub->sessions, session->id, session);
  of_user = g_hash_table_lookup (hub->users, session->user);
  if (of_user == NULL)
    {
      of_user = g_ptr_array_new ();
      g_hash_table_insert (hub->users, g_strdup (session->user), of_user);
    }
  g_ptr_array_add (of_user, session);
  session->registered = TRUE;
  if (hub->session_func != NULL)
    hub->session_func (session, TRUE, hub->session_data);
}

void
crier_hub_remove_session (CrierHub     *hub,
                          CrierSession *session)
{
  GPtrArray *of_user;
  g_autoptr(GPtrArray) subs = NULL;
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (hub != NULL);
  g_return_if_fail (session != NULL);

  /* Also guards against re-entry from the sends below. */
  if (!session->registered)
    return;
  session->registered = FALSE;

  g_hash_table_remove (hub->sessions, session->id);
  of_user = g_hash_table_lookup (hub->users, session->user);
  if (of_user != NULL && g_ptr_array_remove_fast (of_user, session))
    {
      if (of_user->len == 0)
        g_hash_table_remove (hub->users, session->user);
    }
  else
    {
      /* The user changed after registration: find it the slow way. */
      g_hash_table_iter_init (&iter, hub->users);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        if (g_ptr_array_remove_fast (value, session))
          {
            if (((GPtrArray *) value)->len == 0)
              g_hash_table_iter_remove (&iter);
            break;
          }
    }

  subs = g_ptr_array_new ();
  g_hash_table_iter_init (&iter, session->subscriptions);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (subs, value);
  g_hash_table_remove_all (session->subscriptions);

  for (guint i = 0; i < subs->len; i++)
    remove_subscription (hub, g_ptr_array_index (subs, i), TRUE);

  if (hub->session_func != NULL)
    hub->session_func (session, FALSE, hub->session_data);
}

CrierSession *
crier_hub_lookup_session (CrierHub   *hub,
                          const char *client_id)
{
  g_return_val_if_fail (hub != NULL, NULL);
  g_return_val_if_fail (client_id != NULL, NULL);

  return g_hash_table_lookup (hub->sessions, client_id);
}

GPtrArray *
crier_hub_sessions_of_user (CrierHub   *hub,
                            const char *user)
{
  GPtrArray *of_user;
  GPtrArray *copy;

  g_return_val_if_fail (hub != NULL, NULL);
  g_return_val_if_fail (user != NULL, NULL);

  of_user = g_hash_table_lookup (hub->users, user);
  copy = g_ptr_array_sized_new (of_user != NULL ? of_user->len : 0);
  for (guint i = 0; of_user != NULL && i < of_user->len; i++)
    g_ptr_array_add (copy, g_ptr_array_index (of_user, i));
  return copy;
}

guint
crier_hub_count_user_sessions (CrierHub   *hub,
                               const char *user)
{
  GPtrArray *of_user;

  g_return_val_if_fail (hub != NULL, 0);
  g_return_val_if_fail (user != NULL, 0);

  of_user = g_hash_table_lookup (hub->users, user);
  return of_user != NULL ? of_user->len : 0;
}

void
crier_hub_foreach_session (CrierHub *hub,
                           GHFunc    func,
                           gpointer  user_data)
{
  g_return_if_fail (hub != NULL);
  g_return_if_fail (func != NULL);

  g_hash_table_foreach (hub->sessions, func, user_data);
}

/* ---- channels ------------------------------------------------------------- */

const CrierNamespaceConfig *
crier_hub_check_channel (CrierHub    *hub,
                         const char  *channel,
                         GError     **error)
{
  const CrierNamespaceConfig *ns;

  g_return_val_if_fail (hub != NULL, NULL);
  g_return_val_if_fail (channel != NULL, NULL);

  ns = crier_config_lookup_namespace (hub->config, channel);
  if (ns == NULL)
    {
      set_proto_error (error, CRIER_PROTO_ERROR_UNKNOWN_CHANNEL);
      return NULL;
    }
  if (!crier_config_channel_is_valid (ns, channel))
    {
      set_proto_error (error, CRIER_PROTO_ERROR_BAD_REQUEST);
      return NULL;
    }
  return ns;
}

static void
history_options (const CrierNamespaceConfig *ns,
                 CrierHistoryOptions        *options)
{
  options->size = ns->history_size;
  options->ttl_ms = ns->history_ttl;
  options->max_bytes = ns->history_max_bytes;
  options->meta_ttl_ms = HISTORY_META_TTL_MS;
}

guint
crier_hub_count_subscribers (CrierHub   *hub,
                             const char *channel)
{
  HubChannel *ch;

  g_return_val_if_fail (hub != NULL, 0);
  g_return_val_if_fail (channel != NULL, 0);

  ch = g_hash_table_lookup (hub->channels, channel);
  return ch != NULL ? ch->n_subs : 0;
}

GPtrArray *
crier_hub_list_channels (CrierHub *hub)
{
  GPtrArray *names;
  GHashTableIter iter;
  gpointer key;

  g_return_val_if_fail (hub != NULL, NULL);

  names = g_ptr_array_sized_new (g_hash_table_size (hub->channels));
  g_hash_table_iter_init (&iter, hub->channels);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (names, key);
  return names;
}

/* ---- subscribe ------------------------------------------------------------ */

/* Raw JSON kept compact (presence replies embed it), NULL if not JSON. */
static char *
compact_or_null (const char *json)
{
  g_autoptr(GBytes) compact = NULL;
  gsize len;
  const char *data;

  if (json == NULL)
    return NULL;
  compact = crier_json_compact (json, -1, NULL);
  if (compact == NULL)
    return NULL;
  data = g_bytes_get_data (compact, &len);
  return g_strndup (data, len);
}

static void
subscribe_op_free (SubscribeOp *op)
{
  g_free (op->epoch);
  g_free (op);
}

/* Ends a subscribe that failed after its subscription was registered. */
static void
subscribe_fail (SubscribeOp *op,
                GError      *error)
{
  CrierSubscription *sub = op->sub;

  op->func_called = TRUE;
  if (sub != NULL)
    remove_subscription (op->hub, sub, FALSE);
  op->func (op->session, NULL, error, op->user_data);
}

static gboolean
recovery_succeeds (const SubscribeOp        *op,
                   const CrierHistoryResult *result)
{
  GPtrArray *pubs = result->publications;
  CrierPublication *first;
  CrierPublication *last;

  if (op->epoch != NULL && op->epoch[0] != '\0' && g_strcmp0 (op->epoch, result->epoch) != 0)
    return FALSE;
  if (op->offset == result->offset)
    return TRUE;
  if (pubs == NULL || pubs->len == 0 || pubs->len > CRIER_RECOVERY_MAX_PUBLICATIONS)
    return FALSE;
  first = g_ptr_array_index (pubs, 0);
  last = g_ptr_array_index (pubs, pubs->len - 1);
  return first->offset == op->offset + 1 && last->offset == result->offset;
}

/* The broker answered (or no broker call was needed: @result NULL).
 * Replies through op->func, then sends what was buffered meanwhile, then
 * joins (presence, join event).  The subscription may vanish at any send:
 * op->sub turns NULL then. */
static void
subscribe_finish (SubscribeOp              *op,
                  const CrierHistoryResult *result,
                  const GError             *error)
{
  CrierHub *hub = op->hub;
  CrierSubscription *sub = op->sub;
  CrierSubscribeResult res = { 0 };
  g_autoptr(GPtrArray) none = g_ptr_array_new ();
  const CrierNamespaceConfig *ns;
  guint64 top = result != NULL ? result->offset : 0;

  if (sub == NULL)
    return;  /* cancelled: the callback already ran */

  if (error != NULL)
    {
      g_autoptr(GError) internal = proto_error_new (CRIER_PROTO_ERROR_INTERNAL);

      g_debug ("subscribe %s: broker: %s", sub->channel, error->message);
      subscribe_fail (op, internal);
      return;
    }

  res.subscription = sub;
  res.positioned = sub->positioned;
  res.recoverable = sub->recoverable;
  res.publications = none;
  res.epoch = result != NULL ? result->epoch : NULL;

  if (op->recover)
    {
      res.was_recovering = TRUE;
      if (recovery_succeeds (op, result))
        {
          res.recovered = TRUE;
          res.offset = op->offset;
          res.publications = result->publications != NULL ? result->publications : none;
        }
      else if (op->reject_unrecovered)
        {
          g_autoptr(GError) unrecoverable = proto_error_new (CRIER_PROTO_ERROR_UNRECOVERABLE);

          subscribe_fail (op, unrecoverable);
          return;
        }
      else
        res.offset = top;
    }
  else if (sub->positioned)
    res.offset = top;

  /* Whatever the reply, the client is at the top now (recovered ones are
   * in the reply); later publications continue from there. */
  if (result != NULL)
    {
      sub->offset = top;
      sub->epoch = g_strdup (result->epoch);
    }

  op->func_called = TRUE;
  op->func (op->session, &res, NULL, op->user_data);

  /* Publications that arrived meanwhile, in order, each once.  Sending may
   * buffer more (a send that publishes): loop until none are left. */
  while (op->sub != NULL && sub->pending != NULL)
    {
      g_autoptr(GPtrArray) pending = g_steal_pointer (&sub->pending);

      for (guint i = 0; i < pending->len && op->sub != NULL; i++)
        deliver_one (hub, sub, g_ptr_array_index (pending, i), g_get_monotonic_time ());
    }
  if (op->sub == NULL)
    return;

  sub->hub_pending = NULL;
  op->sub = NULL;
  if (op->overflow)
    {
      /* Still "recovering": it never joined, so no leave either. */
      insufficient_state (hub, sub);
      return;
    }
  sub->recovering = FALSE;

  ns = crier_config_lookup_namespace (hub->config, sub->channel);
  if (ns != NULL && ns->presence)
    {
      CrierSession *session = sub->session;
      CrierPresenceEntry entry = {
        .client = session->id,
        .user = session->user,
        .conn_info = session->conn_info,
        .chan_info = sub->chan_info,
      };

      hub->broker->vtable->presence_add (hub->broker, sub->channel, &entry);
    }
  if (join_leave_enabled (ns))
    publish_event (hub, CRIER_PUSH_JOIN, sub);
}

static void
subscribe_history_cb (const CrierHistoryResult *result,
                      const GError             *error,
                      gpointer                  user_data)
{
  SubscribeOp *op = user_data;

  subscribe_finish (op, result, error);
  subscribe_op_free (op);
}

void
crier_hub_subscribe (CrierHub                    *hub,
                     CrierSession                *session,
                     const CrierSubscribeRequest *request,
                     CrierHubSubscribeFunc        func,
                     gpointer                     user_data)
{
  g_autoptr(GError) error = NULL;
  const CrierNamespaceConfig *ns;
  CrierSubscription *sub;
  SubscribeOp *op;
  gboolean has_history;
  CrierHistoryOptions options;
  CrierHistoryQuery query = { 0 };

  g_return_if_fail (hub != NULL);
  g_return_if_fail (session != NULL);
  g_return_if_fail (session->registered);
  g_return_if_fail (request != NULL && request->channel != NULL);
  g_return_if_fail (func != NULL);

  ns = crier_hub_check_channel (hub, request->channel, &error);
  if (ns == NULL)
    {
      func (session, NULL, error, user_data);
      return;
    }
  if (g_hash_table_contains (session->subscriptions, request->channel))
    {
      error = proto_error_new (CRIER_PROTO_ERROR_ALREADY_SUBSCRIBED);
      func (session, NULL, error, user_data);
      return;
    }
  if ((gint64) g_hash_table_size (session->subscriptions) >= hub->config->max_subscriptions)
    {
      error = proto_error_new (CRIER_PROTO_ERROR_LIMIT_EXCEEDED);
      func (session, NULL, error, user_data);
      return;
    }
  if (hub->config->max_channel_subscribers > 0)
    {
      HubChannel *full = g_hash_table_lookup (hub->channels, request->channel);

      if (full != NULL && (gint64) full->n_subs >= hub->config->max_channel_subscribers)
        {
          if (hub->limits != NULL)
            hub->limits->refused[CRIER_LIMIT_CHANNEL_FULL]++;
          error = proto_error_new (CRIER_PROTO_ERROR_LIMIT_EXCEEDED);
          func (session, NULL, error, user_data);
          return;
        }
    }

  has_history = ns->history_size > 0;
  sub = g_new0 (CrierSubscription, 1);
  sub->session = session;
  sub->channel = g_strdup (request->channel);
  sub->positioned = ns->force_positioning || ns->force_recovery ||
                    (request->want_positioned && has_history);
  sub->recoverable = ns->force_recovery || (request->want_recoverable && has_history);
  sub->join_leave = ns->force_join_leave || (ns->join_leave && request->want_join_leave);
  sub->server_side = request->server_side;
  sub->chan_info = compact_or_null (request->chan_info);
  sub->info = crier_client_info_json (session->user, session->id, session->conn_info,
                                      sub->chan_info);
  sub->expire_at = request->expire_at;
  sub->recovering = TRUE;

  op = g_new0 (SubscribeOp, 1);
  op->hub = hub;
  op->session = session;
  op->sub = sub;
  op->func = func;
  op->user_data = user_data;
  op->recover = sub->recoverable && request->recover;
  op->offset = request->offset;
  op->epoch = g_strdup (request->epoch);
  op->reject_unrecovered = request->reject_unrecovered;
  sub->hub_pending = op;

  /* Registered before the broker is asked, so that publications arriving
   * meanwhile are buffered rather than missed. */
  g_hash_table_insert (session->subscriptions, sub->channel, sub);
  channel_add_sub (channel_ensure (hub, sub->channel), sub);
  hub->n_subscriptions++;

  if (!op->recover && !sub->positioned)
    {
      subscribe_finish (op, NULL, NULL);
      subscribe_op_free (op);
      return;
    }

  history_options (ns, &options);
  if (op->recover)
    {
      query.has_since = TRUE;
      query.since_offset = request->offset;
      query.limit = CRIER_RECOVERY_MAX_PUBLICATIONS + 1;
    }
  hub->broker->vtable->history (hub->broker, sub->channel, &options, &query,
                                subscribe_history_cb, op);
}

gboolean
crier_hub_unsubscribe (CrierHub     *hub,
                       CrierSession *session,
                       const char   *channel)
{
  CrierSubscription *sub;

  g_return_val_if_fail (hub != NULL, FALSE);
  g_return_val_if_fail (session != NULL, FALSE);
  g_return_val_if_fail (channel != NULL, FALSE);

  sub = g_hash_table_lookup (session->subscriptions, channel);
  if (sub == NULL)
    return FALSE;

  remove_subscription (hub, sub, TRUE);
  return TRUE;
}

gboolean
crier_hub_unsubscribe_push (CrierHub     *hub,
                            CrierSession *session,
                            const char   *channel,
                            guint         code,
                            const char   *reason)
{
  CrierSubscription *sub;

  g_return_val_if_fail (hub != NULL, FALSE);
  g_return_val_if_fail (session != NULL, FALSE);
  g_return_val_if_fail (channel != NULL, FALSE);

  sub = g_hash_table_lookup (session->subscriptions, channel);
  if (sub == NULL)
    return FALSE;

  end_subscription (hub, sub, code, reason, 0, NULL);
  return TRUE;
}

/* ---- publish, history, presence ------------------------------------------- */

void
crier_hub_publish (CrierHub               *hub,
                   const char             *channel,
                   GBytes                 *data,
                   const char             *info,
                   CrierBrokerPublishFunc  func,
                   gpointer                user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CrierPublication) pub = NULL;
  const CrierNamespaceConfig *ns;
  CrierHistoryOptions options;

  g_return_if_fail (hub != NULL);
  g_return_if_fail (channel != NULL);
  g_return_if_fail (data != NULL);

  ns = crier_hub_check_channel (hub, channel, &error);
  if (ns == NULL)
    {
      if (func != NULL)
        func (NULL, error, user_data);
      return;
    }

  pub = crier_publication_new (channel, data, info);
  if (pub == NULL)
    {
      error = proto_error_new (CRIER_PROTO_ERROR_BAD_REQUEST);
      if (func != NULL)
        func (NULL, error, user_data);
      return;
    }

  history_options (ns, &options);
  hub->stats.publishes++;
  hub->broker->vtable->publish (hub->broker, pub, &options, func, user_data);
}

void
crier_hub_history (CrierHub                *hub,
                   const char              *channel,
                   const CrierHistoryQuery *query,
                   CrierBrokerHistoryFunc   func,
                   gpointer                 user_data)
{
  g_autoptr(GError) error = NULL;
  const CrierNamespaceConfig *ns;
  CrierHistoryOptions options;

  g_return_if_fail (hub != NULL);
  g_return_if_fail (channel != NULL);
  g_return_if_fail (query != NULL);
  g_return_if_fail (func != NULL);

  ns = crier_hub_check_channel (hub, channel, &error);
  if (ns != NULL && ns->history_size <= 0)
    error = proto_error_new (CRIER_PROTO_ERROR_NOT_AVAILABLE);
  else if (ns != NULL && query->reverse && query->has_since && query->since_offset == 0)
    error = proto_error_new (CRIER_PROTO_ERROR_BAD_REQUEST);
  if (error != NULL)
    {
      func (NULL, error, user_data);
      return;
    }

  history_options (ns, &options);
  hub->broker->vtable->history (hub->broker, channel, &options, query, func, user_data);
}

gboolean
crier_hub_remove_history (CrierHub    *hub,
                          const char  *channel,
                          GError     **error)
{
  const CrierNamespaceConfig *ns;

  g_return_val_if_fail (hub != NULL, FALSE);
  g_return_val_if_fail (channel != NULL, FALSE);

  ns = crier_hub_check_channel (hub, channel, error);
  if (ns == NULL)
    return FALSE;
  if (ns->history_size <= 0)
    {
      set_proto_error (error, CRIER_PROTO_ERROR_NOT_AVAILABLE);
      return FALSE;
    }

  hub->broker->vtable->remove_history (hub->broker, channel);
  return TRUE;
}

static const CrierNamespaceConfig *
check_presence (CrierHub    *hub,
                const char  *channel,
                GError     **error)
{
  const CrierNamespaceConfig *ns = crier_hub_check_channel (hub, channel, error);

  if (ns != NULL && !ns->presence)
    {
      set_proto_error (error, CRIER_PROTO_ERROR_NOT_AVAILABLE);
      return NULL;
    }
  return ns;
}

void
crier_hub_presence (CrierHub                *hub,
                    const char              *channel,
                    CrierBrokerPresenceFunc  func,
                    gpointer                 user_data)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (hub != NULL);
  g_return_if_fail (channel != NULL);
  g_return_if_fail (func != NULL);

  if (check_presence (hub, channel, &error) == NULL)
    {
      func (NULL, error, user_data);
      return;
    }
  hub->broker->vtable->presence (hub->broker, channel, func, user_data);
}

void
crier_hub_presence_stats (CrierHub             *hub,
                          const char           *channel,
                          CrierBrokerStatsFunc  func,
                          gpointer              user_data)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (hub != NULL);
  g_return_if_fail (channel != NULL);
  g_return_if_fail (func != NULL);

  if (check_presence (hub, channel, &error) == NULL)
    {
      func (0, 0, error, user_data);
      return;
    }
  hub->broker->vtable->presence_stats (hub->broker, channel, func, user_data);
}

/* ---- tick ----------------------------------------------------------------- */

void
crier_hub_tick (CrierHub *hub,
                gint64    now_ms)
{
  g_autoptr(GPtrArray) expired = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (hub != NULL);

  /* 1. Broker housekeeping: history and stream TTLs. */
  hub->broker->vtable->tick (hub->broker, now_ms);

  /* 2. Subscriptions past their expire_at (a sub token's exp that was not
   *    refreshed): collected as (client, channel) first, because each
   *    unsubscribe push may evict its session. */
  g_hash_table_iter_init (&iter, hub->sessions);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      CrierSession *session = value;
      GHashTableIter subs;
      gpointer sub_value;

      g_hash_table_iter_init (&subs, session->subscriptions);
      while (g_hash_table_iter_next (&subs, NULL, &sub_value))
        {
          CrierSubscription *sub = sub_value;

          if (sub->expire_at > 0 && sub->expire_at * 1000 <= now_ms)
            {
              g_ptr_array_add (expired, g_strdup (session->id));
              g_ptr_array_add (expired, g_strdup (sub->channel));
            }
        }
    }

  for (guint i = 0; i + 1 < expired->len; i += 2)
    {
      CrierSession *session = g_hash_table_lookup (hub->sessions, g_ptr_array_index (expired, i));
      CrierSubscription *sub;

      if (session == NULL)
        continue;
      sub = g_hash_table_lookup (session->subscriptions, g_ptr_array_index (expired, i + 1));
      if (sub == NULL)
        continue;
      /* Server-side subscriptions expire with a disconnect (3006). */
      end_subscription (hub, sub, 2501, "subscription expired", 3006, "subscription expired");
    }
}

void
crier_hub_set_limit_stats (CrierHub        *hub,
                           CrierLimitStats *limits)
{
  g_return_if_fail (hub != NULL);

  hub->limits = limits;
}
