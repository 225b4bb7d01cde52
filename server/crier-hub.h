/* crier-hub.h: channels, subscriptions, fan-out, presence, sessions.
 *
 * The hub owns no sockets. Publications enter through crier_hub_publish
 * (API, client publish) or from the broker (other nodes); the broker
 * assigns offsets and keeps history; the hub hands the same immutable
 * publication to every subscriber through its session vtable, with the
 * frame for each wire form encoded once.
 *
 * Channels are created on first subscribe and dropped when the last
 * subscriber leaves (the broker keeps their history until its TTL).
 * Subscribing is asynchronous (the broker may be remote): publications
 * that arrive before the subscribe reply are buffered and merged, so a
 * client gets the reply first and then every later publication exactly
 * once, in offset order.
 */
#pragma once

#include <glib.h>

#include "crier-broker.h"
#include "crier-config.h"
#include "crier-histogram.h"
#include "crier-limits.h"
#include "crier-session.h"

G_BEGIN_DECLS

/* Errors in the client protocol's numbering (Centrifugo error codes). */
#define CRIER_PROTO_ERROR (crier_proto_error_quark ())

typedef enum
{
  CRIER_PROTO_ERROR_INTERNAL           = 100,
  CRIER_PROTO_ERROR_UNAUTHORIZED       = 101,
  CRIER_PROTO_ERROR_UNKNOWN_CHANNEL    = 102,
  CRIER_PROTO_ERROR_PERMISSION_DENIED  = 103,
  CRIER_PROTO_ERROR_METHOD_NOT_FOUND   = 104,
  CRIER_PROTO_ERROR_ALREADY_SUBSCRIBED = 105,
  CRIER_PROTO_ERROR_LIMIT_EXCEEDED     = 106,
  CRIER_PROTO_ERROR_BAD_REQUEST        = 107,
  CRIER_PROTO_ERROR_NOT_AVAILABLE      = 108,
  CRIER_PROTO_ERROR_TOKEN_EXPIRED      = 109,
  CRIER_PROTO_ERROR_EXPIRED            = 110,
  CRIER_PROTO_ERROR_TOO_MANY_REQUESTS  = 111,
  CRIER_PROTO_ERROR_UNRECOVERABLE      = 112,
} CrierProtoError;

GQuark      crier_proto_error_quark   (void);
/* "permission denied", ... */
const char *crier_proto_error_message (int code);

typedef struct _CrierHub CrierHub;

typedef struct
{
  const char *channel;
  gboolean    recover;             /* client asks to recover from offset/epoch */
  guint64     offset;
  const char *epoch;
  gboolean    want_positioned;     /* client asks (namespace may force) */
  gboolean    want_recoverable;
  gboolean    want_join_leave;
  gboolean    reject_unrecovered;  /* flag bit 2: error 112 instead of recovered:false */
  gboolean    server_side;
  const char *chan_info;           /* JSON or NULL */
  gint64      expire_at;           /* wall clock s, 0 = never */
} CrierSubscribeRequest;

typedef struct
{
  CrierSubscription *subscription;
  gboolean           positioned;
  gboolean           recoverable;
  gboolean           was_recovering;
  gboolean           recovered;
  guint64            offset;        /* as the protocol wants it in the reply */
  const char        *epoch;
  GPtrArray         *publications;  /* recovered, ascending (transfer none) */
} CrierSubscribeResult;

/* Called once. On success the caller must send the subscribe reply from
 * inside this callback: buffered publications follow right after it.
 * Errors are CRIER_PROTO_ERROR (broker failures arrive as 100), or
 * G_IO_ERROR_CANCELLED when the subscription was removed before the broker
 * answered (unsubscribe, crier_hub_remove_session): the callback then runs
 * from inside that call, while @session is still valid. */
typedef void (*CrierHubSubscribeFunc) (CrierSession               *session,
                                       const CrierSubscribeResult *result,
                                       const GError               *error,
                                       gpointer                    user_data);

typedef struct
{
  guint64 publishes;
  guint64 deliveries;
  guint64 dropped_deliveries;  /* sends to sessions that were gone */
  guint64 join_leave_events;
  guint64 insufficient_state;  /* offset gaps seen on live streams */
  guint   channels;
  guint   subscriptions;
  guint   sessions;
  /* publish -> hand-to-transport latency, µs, of the last publications */
  guint64 latency_sum_us;
  guint64 latency_count;
  CrierHistogram latency;      /* the same, as a histogram (µs) */
  guint64 gaps;                /* broker-reported gaps checked */
} CrierHubStats;

/* Told about every session that joins or leaves the hub (admin events). */
typedef void (*CrierHubSessionFunc) (CrierSession *session,
                                     gboolean      added,
                                     gpointer      user_data);

/* The hub creates the memory broker unless one is given later. The config
 * is borrowed and may be updated in place by a reload. */
CrierHub       *crier_hub_new              (const CrierConfig     *config);
/* Forgets every session and subscription without sends or callbacks
 * (sessions stay the transports' to free). */
void            crier_hub_free             (CrierHub              *hub);
CrierBroker    *crier_hub_get_broker       (CrierHub              *hub);
/* Replaces the broker (taking ownership; the old one is freed), pointing
 * its deliver function at the hub and subscribing the active channels. */
void            crier_hub_set_broker       (CrierHub              *hub,
                                            CrierBroker           *broker);
void            crier_hub_set_session_observer (CrierHub          *hub,
                                            CrierHubSessionFunc    func,
                                            gpointer               user_data);
const CrierHubStats *
                crier_hub_get_stats        (CrierHub              *hub);
/* Where refusals of [limits] max_channel_subscribers are counted
 * (CRIER_LIMIT_CHANNEL_FULL); borrowed, may be NULL. */
void            crier_hub_set_limit_stats  (CrierHub              *hub,
                                            CrierLimitStats       *limits);

/* Sessions: registered after a successful connect (set the identity
 * before), and before any crier_hub_subscribe.  A send may remove its
 * session (crier_hub_remove_session from inside send_encoded, send_push or
 * disconnect is fine); free the session only after the send returned. */
void            crier_hub_add_session      (CrierHub              *hub,
                                            CrierSession          *session);
/* Unsubscribes everything (leave events, presence) and forgets it. */
void            crier_hub_remove_session   (CrierHub              *hub,
                                            CrierSession          *session);
CrierSession   *crier_hub_lookup_session   (CrierHub              *hub,
                                            const char            *client_id);
/* Sessions of @user (transfer container), possibly empty. */
GPtrArray      *crier_hub_sessions_of_user (CrierHub              *hub,
                                            const char            *user);
guint           crier_hub_count_user_sessions (CrierHub           *hub,
                                            const char            *user);
/* @func gets (client id, CrierSession*) and must not add or remove
 * sessions (collect first, act after). */
void            crier_hub_foreach_session  (CrierHub              *hub,
                                            GHFunc                 func,
                                            gpointer               user_data);

/* Namespace of @channel, or NULL with error 102 (unknown namespace) or
 * 107 (bad name: length, characters). */
const CrierNamespaceConfig *
                crier_hub_check_channel    (CrierHub              *hub,
                                            const char            *channel,
                                            GError               **error);

void            crier_hub_subscribe        (CrierHub              *hub,
                                            CrierSession          *session,
                                            const CrierSubscribeRequest *request,
                                            CrierHubSubscribeFunc  func,
                                            gpointer               user_data);
/* Client-initiated: no push. Returns FALSE if not subscribed. */
gboolean        crier_hub_unsubscribe      (CrierHub              *hub,
                                            CrierSession          *session,
                                            const char            *channel);
/* Server-initiated: sends the unsubscribe push with @code/@reason first. */
gboolean        crier_hub_unsubscribe_push (CrierHub              *hub,
                                            CrierSession          *session,
                                            const char            *channel,
                                            guint                  code,
                                            const char            *reason);

/* @data: compact JSON (crier_json_compact). @info: publisher's ClientInfo
 * or NULL. @func may be NULL. Unknown namespace -> error 102. */
void            crier_hub_publish          (CrierHub              *hub,
                                            const char            *channel,
                                            GBytes                *data,
                                            const char            *info,
                                            CrierBrokerPublishFunc func,
                                            gpointer               user_data);
/* Error 108 when the namespace keeps no history, 107 for reverse with
 * since offset 0.  The caller caps limit -1 and checks since's epoch
 * against result->epoch (112). */
void            crier_hub_history          (CrierHub              *hub,
                                            const char            *channel,
                                            const CrierHistoryQuery *query,
                                            CrierBrokerHistoryFunc func,
                                            gpointer               user_data);
gboolean        crier_hub_remove_history   (CrierHub              *hub,
                                            const char            *channel,
                                            GError               **error);
/* Error 108 when the namespace has no presence. */
void            crier_hub_presence         (CrierHub              *hub,
                                            const char            *channel,
                                            CrierBrokerPresenceFunc func,
                                            gpointer               user_data);
void            crier_hub_presence_stats   (CrierHub              *hub,
                                            const char            *channel,
                                            CrierBrokerStatsFunc   func,
                                            gpointer               user_data);

/* Channels with at least one subscriber on this node. */
guint           crier_hub_count_subscribers (CrierHub             *hub,
                                             const char           *channel);
/* Names of active channels (transfer container; strings owned by hub). */
GPtrArray      *crier_hub_list_channels    (CrierHub              *hub);

/* Periodic: broker housekeeping, subscription expiry (unsubscribe push
 * 2501; disconnect 3006 for server-side subscriptions), called from the
 * server tick with the wall clock in ms (g_get_real_time () / 1000). */
void            crier_hub_tick             (CrierHub              *hub,
                                            gint64                 now_ms);

/* Recovery gives up beyond this many missed publications. */
#define CRIER_RECOVERY_MAX_PUBLICATIONS 300

G_END_DECLS
