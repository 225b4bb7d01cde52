/* crier-proto-centrifuge.h: the Centrifugo JSON client protocol v2.
 *
 * One CrierCfClient per connection, whatever carries it: commands come in
 * as newline-separated JSON (crier_cf_client_feed), replies and pushes go
 * out through a small transport vtable. The WebSocket bindings
 * (/connection/websocket and /connection/uni_websocket) live here too;
 * the HTTP-stream and SSE transports reuse the client with their own
 * vtables.
 *
 * Commands are processed strictly in order: a command whose answer comes
 * later (the broker is asynchronous) holds back the ones after it, so the
 * connect reply always precedes the replies to subscribes pipelined with
 * it, and a subscribe reply precedes the channel's publications.
 */
#pragma once

#include <libsoup/soup.h>

#include "crier-engine.h"
#include "crier-hub.h"
#include "crier-jwt.h"
#include "crier-limits.h"

G_BEGIN_DECLS

typedef struct _CrierCfClient CrierCfClient;

/* What the protocol counts, per server (visible to metrics and admin). */
typedef struct
{
  guint64 connects;
  guint64 commands;
  guint64 replies_error[16];   /* index: code - 100 (100..112) */
  guint64 disconnects[16];     /* index: code - 3500 for 3500..3509, see below */
  guint64 bad_frames;          /* malformed JSON, unknown method, bad fields */
  guint64 no_pong;
  guint64 stale;
  guint64 expired;
  guint64 invalid_tokens;
  guint64 expired_tokens;
  guint64 client_publishes;
} CrierCfStats;

/* Shared by every client of one server. */
typedef struct _CrierCfContext
{
  CrierHub          *hub;
  const CrierConfig *config;
  CrierJwtKeys      *keys;
  const char        *node;
  CrierCfStats       stats;
  CrierLimitStats   *limits;   /* the server's (command rate), or NULL */
} CrierCfContext;

typedef struct
{
  const char *name;          /* "websocket", "sse", ... */
  CrierEncoding encoding;    /* publications for this transport */
  /* Send one reply or push line (JSON, no newline) to the client. */
  gboolean (*send_line)     (gpointer transport,
                             const char *json,
                             gsize       len);
  /* A cached publication frame. */
  gboolean (*send_encoded)  (gpointer transport,
                             GBytes     *frame);
  /* Send a ping ("{}" or the transport's own). */
  void     (*send_ping)     (gpointer transport);
  void     (*disconnect)    (gpointer transport,
                             guint       code,
                             const char *reason);
  /* Wake me (crier_cf_client_tick) at @deadline_ms (monotonic ms). */
  void     (*set_deadline)  (gpointer transport,
                             gint64      deadline_ms);
} CrierCfTransport;

CrierCfClient *crier_cf_client_new        (CrierCfContext         *ctx,
                                           const CrierCfTransport *transport,
                                           gpointer                transport_data,
                                           gboolean                unidirectional,
                                           gboolean                wants_pong);
/* The transport is gone: leaves the hub and frees the client. */
void           crier_cf_client_free       (CrierCfClient          *client);
CrierSession  *crier_cf_client_get_session (CrierCfClient         *client);
/* The client behind a hub session; NULL when it is not a Centrifugo one. */
CrierCfClient *crier_cf_client_from_session (CrierSession         *session);
void           crier_cf_client_set_peer   (CrierCfClient          *client,
                                           const char             *remote,
                                           const char             *user_agent);
/* The last protocol ping -> pong round trip in µs, -1 when unknown (no
 * pong yet, or a transport without protocol pongs). */
gint64         crier_cf_client_get_rtt_us (CrierCfClient          *client);

/* Bidirectional: newline-separated commands. */
void           crier_cf_client_feed       (CrierCfClient          *client,
                                           const char             *data,
                                           gsize                   len);
/* Unidirectional: a bare ConnectRequest JSON object ("" = empty). */
void           crier_cf_client_uni_connect (CrierCfClient         *client,
                                            const char            *json,
                                            gsize                  len);
void           crier_cf_client_tick       (CrierCfClient          *client,
                                           gint64                  now_ms);
/* Server drain: disconnect 3001 "shutdown" (reconnect). */
void           crier_cf_client_shutdown   (CrierCfClient          *client);

/* The token checks of [auth] (audience, issuer, leeway) for
 * crier_jwt_verify(); @options' strings are borrowed from @config. */
void           crier_cf_jwt_options       (const CrierConfig      *config,
                                           CrierJwtOptions        *options,
                                           gint64                 *leeway_s);

/* The engine's close reason (for metrics) of a protocol disconnect code;
 * shared by every transport that carries protocol disconnects. */
CrierCloseReason crier_close_reason_for_code (guint                 code);

/* Upgrade handlers for /connection/websocket and /connection/uni_websocket. */
void           crier_cf_handle_websocket  (CrierCfContext         *ctx,
                                           CrierEngine            *engine,
                                           SoupServerMessage      *msg,
                                           gboolean                unidirectional);

G_END_DECLS
