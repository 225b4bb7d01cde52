/* crier-admin-protocol.h: the admin protocol's messages and their codec.
 *
 * JSON over WebSocket at /admin on crierd's admin listeners (a Unix socket,
 * mode 0600, and optionally TCP with a bearer token).  crierd, crierctl and
 * crier-dashboard all use this one codec; docs/admin-protocol.md describes
 * every message with examples.
 *
 *   client -> server   {"id":N,"type":"list_sessions","params":{...}}
 *   server -> client   {"id":N,"result":{...}}
 *                      {"id":N,"error":{"code":"invalid_params","message":"..."}}
 *                      {"event":"stats","stats":{...}}    (no id)
 *
 * Decoding is strict: unknown members, wrong types and out-of-range values
 * are errors (CRIER_ADMIN_ERROR) that name the member, so that a client bug
 * shows at once instead of being half-understood.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "crier-anomaly.h"

G_BEGIN_DECLS

#define CRIER_ADMIN_PROTOCOL_VERSION  1
#define CRIER_ADMIN_PATH              "/admin"
#define CRIER_ADMIN_METRICS_PATH      "/metrics"

/* Limits every side agrees on. */
#define CRIER_ADMIN_MAX_PAGE_SIZE     1000
#define CRIER_ADMIN_DEFAULT_PAGE_SIZE 100
#define CRIER_ADMIN_MAX_REQUEST_SIZE  (256 * 1024)  /* one client message */
#define CRIER_ADMIN_MAX_DATA_SIZE     (64 * 1024)   /* broadcast payload */
#define CRIER_ADMIN_MAX_CHANNELS      1000          /* channels per broadcast */
#define CRIER_ADMIN_MAX_STRING        1024          /* ids, names, filters, reasons */
#define CRIER_ADMIN_HISTORY_SAMPLES   900           /* 15 minutes at 1 Hz */
/* Server messages can be large (a page of 1000 sessions, the history):
 * clients must accept at least this much (libsoup's default is 128 KiB). */
#define CRIER_ADMIN_MAX_REPLY_SIZE    (16 * 1024 * 1024)

/* The admin Unix socket when [admin] socket is empty:
 * $XDG_RUNTIME_DIR/crier/admin.sock when XDG_RUNTIME_DIR is set and not
 * empty, else /run/crier/admin.sock. */
char *crier_admin_default_socket_path (void);

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

#define CRIER_ADMIN_ERROR (crier_admin_error_quark ())

/* Also the "code" of error replies, as the strings in the comments. */
typedef enum
{
  CRIER_ADMIN_ERROR_PARSE,               /* "parse_error": not JSON */
  CRIER_ADMIN_ERROR_INVALID_REQUEST,     /* "invalid_request": not a request object */
  CRIER_ADMIN_ERROR_UNKNOWN_TYPE,        /* "unknown_type" */
  CRIER_ADMIN_ERROR_INVALID_PARAMS,      /* "invalid_params" */
  CRIER_ADMIN_ERROR_UNSUPPORTED_VERSION, /* "unsupported_version" */
  CRIER_ADMIN_ERROR_NOT_FOUND,           /* "not_found": no such session, channel, ... */
  CRIER_ADMIN_ERROR_TOO_LARGE,           /* "too_large" */
  CRIER_ADMIN_ERROR_UNAVAILABLE,         /* "unavailable": broker down, draining */
  CRIER_ADMIN_ERROR_FAILED,              /* "failed": the operation itself failed */
  CRIER_ADMIN_ERROR_INVALID_REPLY,       /* "invalid_reply": client side, bad server message */
} CrierAdminError;

#define CRIER_ADMIN_N_ERRORS (CRIER_ADMIN_ERROR_INVALID_REPLY + 1)

GQuark      crier_admin_error_quark          (void);
const char *crier_admin_error_to_string      (CrierAdminError  code);
/* FALSE for an unknown name (@code is then CRIER_ADMIN_ERROR_FAILED). */
gboolean    crier_admin_error_from_string    (const char      *name,
                                              CrierAdminError *code);

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */

typedef enum
{
  CRIER_ADMIN_REQUEST_HELLO,
  CRIER_ADMIN_REQUEST_GET_STATS,
  CRIER_ADMIN_REQUEST_WATCH_STATS,
  CRIER_ADMIN_REQUEST_GET_HISTORY,
  CRIER_ADMIN_REQUEST_LIST_SESSIONS,
  CRIER_ADMIN_REQUEST_WATCH_SESSIONS,
  CRIER_ADMIN_REQUEST_INSPECT_SESSION,
  CRIER_ADMIN_REQUEST_KICK,
  CRIER_ADMIN_REQUEST_UNSUBSCRIBE,
  CRIER_ADMIN_REQUEST_BROADCAST,
  CRIER_ADMIN_REQUEST_LIST_CHANNELS,
  CRIER_ADMIN_REQUEST_INSPECT_CHANNEL,
  CRIER_ADMIN_REQUEST_LIST_ALERTS,
  CRIER_ADMIN_REQUEST_WATCH_ALERTS,
  CRIER_ADMIN_REQUEST_LIST_NODES,
} CrierAdminRequestType;

#define CRIER_ADMIN_N_REQUEST_TYPES (CRIER_ADMIN_REQUEST_LIST_NODES + 1)

const char *crier_admin_request_type_to_string   (CrierAdminRequestType  type);
gboolean    crier_admin_request_type_from_string (const char            *name,
                                                  CrierAdminRequestType *type);

/* Sort keys: sessions sort by connected_at, user, bytes or transport;
 * channels by name or subscribers. */
typedef enum
{
  CRIER_ADMIN_SORT_DEFAULT,      /* sessions: connected_at; channels: name */
  CRIER_ADMIN_SORT_CONNECTED_AT,
  CRIER_ADMIN_SORT_USER,
  CRIER_ADMIN_SORT_BYTES,        /* bytes sent to the client */
  CRIER_ADMIN_SORT_TRANSPORT,
  CRIER_ADMIN_SORT_NAME,
  CRIER_ADMIN_SORT_SUBSCRIBERS,
} CrierAdminSort;

const char *crier_admin_sort_to_string (CrierAdminSort sort);

/* Kick codes when the request gives none (Centrifugo's). */
#define CRIER_ADMIN_KICK_RECONNECT_CODE  3011  /* "force reconnect" */
#define CRIER_ADMIN_KICK_TERMINAL_CODE   3503  /* "force disconnect" */

/* TRUE for the codes after which clients reconnect: 3000-3499 and
 * 4000-4499 (3500-3999 and 4500-4999 are terminal). */
gboolean    crier_admin_code_reconnects (guint code);

/* One request.  Which members count depends on @type (see the comments);
 * the others keep the defaults of crier_admin_request_new(). */
typedef struct
{
  gint64                 id;               /* >= 0 */
  CrierAdminRequestType  type;

  /* hello */
  gint64                 protocol;         /* default CRIER_ADMIN_PROTOCOL_VERSION */
  char                  *client;           /* "crierctl 0.1.0", optional */

  /* watch_stats, watch_sessions, watch_alerts */
  gboolean               enable;           /* default TRUE: start; FALSE: stop */

  /* get_history */
  char                 **metrics;          /* series names; NULL = all */
  gint64                 since;            /* Unix ms; samples newer than it; 0 = all */

  /* list_sessions, list_channels */
  guint                  page;             /* from 1 */
  guint                  page_size;        /* 1..CRIER_ADMIN_MAX_PAGE_SIZE */
  CrierAdminSort         sort;
  gboolean               descending;
  char                  *transport;        /* list_sessions: substring filters */
  char                  *remote;
  char                  *filter;           /* list_channels: substring of the name */

  /* list_sessions (filter), kick (every session of the user) */
  char                  *user;
  /* list_sessions (filter), unsubscribe, inspect_channel */
  char                  *channel;

  /* inspect_session, kick, unsubscribe */
  char                  *session;

  /* kick: code 0 = the default for @reconnect; a code given alone decides
   * @reconnect; both given must agree. */
  guint                  code;
  char                  *reason;           /* default "force reconnect" / "force disconnect" */
  gboolean               reconnect;        /* default TRUE */

  /* broadcast */
  char                 **channels;
  char                  *data;             /* JSON text, validated; <= CRIER_ADMIN_MAX_DATA_SIZE */

  /* list_alerts */
  gboolean               include_resolved; /* default TRUE */
} CrierAdminRequest;

CrierAdminRequest *crier_admin_request_new    (CrierAdminRequestType     type);
void               crier_admin_request_free   (CrierAdminRequest        *request);

/* Parses one client message.  On error returns NULL and, when the message
 * had a usable id, sets *@out_id to it (else -1) so that the error reply
 * can name the request. */
CrierAdminRequest *crier_admin_request_decode (const char               *text,
                                               gsize                     len,
                                               gint64                   *out_id,
                                               GError                  **error);
/* Validates @request as the decoder would and encodes it (compact JSON);
 * NULL with @error when a member is out of range. */
char              *crier_admin_request_encode (const CrierAdminRequest  *request,
                                               GError                  **error);

/* ------------------------------------------------------------------------ */
/* Server messages                                                          */

/* {"id":N,"result":@result}; @result NULL means {}.  Takes no ownership. */
char *crier_admin_reply_encode (gint64           id,
                                JsonNode        *result);
/* {"id":N,"error":{"code":"...","message":"..."}}; @id < 0 gives "id":null. */
char *crier_admin_error_encode (gint64           id,
                                CrierAdminError  code,
                                const char      *message);
/* {"event":@event,@member:@value}; @member NULL gives {"event":@event}. */
char *crier_admin_event_encode (const char      *event,
                                const char      *member,
                                JsonNode        *value);

typedef enum
{
  CRIER_ADMIN_MESSAGE_REPLY,
  CRIER_ADMIN_MESSAGE_ERROR,
  CRIER_ADMIN_MESSAGE_EVENT,
} CrierAdminMessageKind;

typedef struct
{
  CrierAdminMessageKind  kind;
  gint64                 id;             /* reply and error; -1 for "id":null */
  JsonNode              *result;         /* reply */
  CrierAdminError        error_code;     /* error */
  char                  *error_name;     /* error: the code as sent */
  char                  *error_message;  /* error */
  char                  *event;          /* event: its name */
  JsonObject            *body;           /* event: the whole message */
} CrierAdminMessage;

/* Parses one server message (client side). */
CrierAdminMessage *crier_admin_message_decode (const char        *text,
                                               gsize              len,
                                               GError           **error);
void               crier_admin_message_free   (CrierAdminMessage *message);

/* ------------------------------------------------------------------------ */
/* Payloads                                                                 */

/* A labelled counter: connections by transport (@rate is the count),
 * disconnects by reason, rejections by reason. */
typedef struct
{
  char    *name;
  double   rate;    /* per second over the sample's interval */
  guint64  total;   /* since start */
} CrierAdminLabelled;

/* The 1 Hz metrics sample: the "stats" event, get_stats, and the source of
 * the history series and of /metrics. NaN means unknown (null in JSON). */
typedef struct
{
  gint64   timestamp;              /* Unix ms */
  double   interval;               /* seconds the rates cover */
  gint64   uptime;                 /* seconds */

  /* gauges */
  double   connections;            /* client connections on the engine (admin excluded) */
  double   sessions;               /* connected protocol sessions */
  double   admin_connections;
  double   channels;
  double   subscriptions;
  double   history_bytes;          /* broker memory for history */
  double   rss_bytes;
  double   rss_per_connection;     /* rss_bytes / max (connections, 1) */
  double   cpu_percent;            /* of one core */
  double   loop_lag_ms;            /* worst lateness of the 100 ms tick in the interval */
  double   broker_up;              /* 1 or 0 */
  double   broker_rtt_ms;          /* Redis probe round trip; NaN without Redis */
  double   alerts_active;

  /* per second over the interval */
  double   connects_per_s;
  double   disconnects_per_s;
  double   publishes_per_s;
  double   deliveries_per_s;
  double   bytes_in_per_s;
  double   bytes_out_per_s;
  double   evictions_per_s;        /* slow consumers disconnected */
  double   rejections_per_s;       /* requests refused: API, tokens, listener cap */
  double   protocol_errors_per_s;  /* connections closed for a protocol violation */
  double   refusals_per_s;         /* connections refused at the listener cap */

  /* publish -> hand-to-transport latency over the interval */
  double   latency_mean_ms;
  double   latency_p50_ms;
  double   latency_p99_ms;

  /* since start */
  guint64  connects_total;
  guint64  disconnects_total;
  guint64  publications_total;
  guint64  deliveries_total;
  guint64  bytes_in_total;
  guint64  bytes_out_total;
  guint64  evictions_total;
  guint64  rejections_total;
  guint64  protocol_errors_total;
  guint64  refusals_total;
  double   cpu_seconds_total;
  double   latency_sum_seconds;
  guint64  latency_count;

  GArray  *transports;             /* CrierAdminLabelled, sorted by name */
  GArray  *disconnect_reasons;     /* CrierAdminLabelled */
  GArray  *rejection_reasons;      /* CrierAdminLabelled */
} CrierAdminStats;

CrierAdminStats *crier_admin_stats_new          (void);
void             crier_admin_stats_free         (CrierAdminStats       *stats);
CrierAdminStats *crier_admin_stats_copy         (const CrierAdminStats *stats);
/* Appends to (or, for an existing name, updates) one of the arrays. */
void             crier_admin_labelled_set       (GArray                *array,
                                                 const char            *name,
                                                 double                 rate,
                                                 guint64                total);
JsonNode        *crier_admin_stats_to_json      (const CrierAdminStats *stats);
CrierAdminStats *crier_admin_stats_from_json    (JsonNode              *node,
                                                 GError               **error);

/* The scalar series of a sample, in a fixed order: what get_history
 * returns and what graphs plot. */
typedef struct
{
  const char *name;     /* as in JSON, e.g. "connects_per_s" */
  const char *unit;     /* "1", "1/s", "B", "B/s", "ms", "%" */
  const char *help;
  gsize       offset;   /* of a double in CrierAdminStats */
} CrierAdminSeriesInfo;

const CrierAdminSeriesInfo *crier_admin_stats_get_series (guint *n_series);
/* -1 when unknown. */
int                         crier_admin_stats_lookup_series (const char *name);
double                      crier_admin_stats_get_value  (const CrierAdminStats *stats,
                                                          guint                  series);

/* get_history's result: the newest samples, oldest first. */
typedef struct
{
  gint64   interval_ms;
  guint    n_samples;
  gint64  *timestamps;      /* n_samples */
  GPtrArray *names;         /* char*, one per series */
  GPtrArray *values;        /* double[n_samples] per series; NaN = missing */
} CrierAdminHistory;

CrierAdminHistory *crier_admin_history_new       (guint                     n_samples);
void               crier_admin_history_free      (CrierAdminHistory        *history);
/* Adds a series; @values (n_samples doubles) is copied. */
void               crier_admin_history_add       (CrierAdminHistory        *history,
                                                  const char               *name,
                                                  const double             *values);
JsonNode          *crier_admin_history_to_json   (const CrierAdminHistory  *history);
CrierAdminHistory *crier_admin_history_from_json (JsonNode                 *node,
                                                  GError                  **error);

/* One session in list_sessions and the session_* events. */
typedef struct
{
  char    *id;
  char    *user;
  char    *transport;
  char    *remote;
  char    *user_agent;      /* may be NULL */
  gint64   connected_at;    /* Unix ms */
  gint64   expire_at;       /* Unix s, 0 = never */
  guint    subscriptions;
  guint64  pubs_out;
  guint64  commands_in;
  gint64   bytes_in;        /* -1 unknown */
  gint64   bytes_out;       /* -1 unknown */
  gint64   queued_bytes;    /* -1 unknown */
  /* Last bytes read from the client, whatever they were (a command, a
   * pong, a WebSocket control frame). */
  gint64   last_activity_at; /* Unix ms, 0 unknown */
  /* Last ping round trip: the WebSocket ping/pong for the transports that
   * use native pings, the protocol's ping ("{}") and the client's pong
   * for the bidirectional Centrifugo protocol. */
  double   ping_rtt_ms;     /* NaN unknown */
} CrierAdminSessionInfo;

void                   crier_admin_session_info_free      (CrierAdminSessionInfo       *info);
JsonNode              *crier_admin_session_info_to_json   (const CrierAdminSessionInfo *info);
CrierAdminSessionInfo *crier_admin_session_info_from_json (JsonNode                    *node,
                                                           GError                     **error);

/* One channel in list_channels. */
typedef struct
{
  char    *name;
  guint    subscribers;     /* on this node */
  double   publish_rate;    /* publications/s over the last minute; NaN unknown */
  guint64  offset;          /* top offset; 0 without history */
  char    *epoch;           /* NULL without history */
} CrierAdminChannelInfo;

void                   crier_admin_channel_info_free      (CrierAdminChannelInfo       *info);
JsonNode              *crier_admin_channel_info_to_json   (const CrierAdminChannelInfo *info);
CrierAdminChannelInfo *crier_admin_channel_info_from_json (JsonNode                    *node,
                                                           GError                     **error);

/* Alerts (shared/crier-anomaly.h) as list_alerts and alert_* carry them. */
JsonNode   *crier_admin_alert_to_json   (const CrierAlert *alert);
CrierAlert *crier_admin_alert_from_json (JsonNode         *node,
                                         GError          **error);

/* hello's result. */
typedef struct
{
  gint64   protocol;
  char    *node;
  char    *version;
  gint64   uptime;          /* s */
  gint64   started_at;      /* Unix ms */
  gint64   pid;
  char    *config;          /* crierd.conf text, secrets masked */
} CrierAdminHello;

void             crier_admin_hello_free      (CrierAdminHello       *hello);
JsonNode        *crier_admin_hello_to_json   (const CrierAdminHello *hello);
CrierAdminHello *crier_admin_hello_from_json (JsonNode              *node,
                                              GError               **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierAdminRequest, crier_admin_request_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierAdminMessage, crier_admin_message_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierAdminStats, crier_admin_stats_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierAdminHistory, crier_admin_history_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierAdminSessionInfo, crier_admin_session_info_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierAdminChannelInfo, crier_admin_channel_info_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierAdminHello, crier_admin_hello_free)

G_END_DECLS
