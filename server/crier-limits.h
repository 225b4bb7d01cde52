/* crier-limits.h: abuse limits shared by the listener, the client
 * protocol and the hub, and what they refused.
 *
 * CrierLimitStats is owned by the CrierServer (one per node) and read by
 * the metrics module once per second: each counter becomes a labelled
 * rejection reason ("limit_<name>") on the admin socket and in
 * crier_rejections_total{reason=...} of GET /metrics.
 *
 * CrierTokenBucket is the rate limiter used for connection storms (per
 * node and per remote address) and for commands of one client.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  CRIER_LIMIT_PER_ADDRESS,       /* [limits] max_connections_per_address */
  CRIER_LIMIT_CONNECT_RATE,      /* node connect_rate: 503 + Retry-After */
  CRIER_LIMIT_CONNECT_RATE_ADDR, /* connect_rate_per_address: 503 */
  CRIER_LIMIT_REQUEST_TIMEOUT,   /* request head/body too slow (slowloris) */
  CRIER_LIMIT_IDLE_TIMEOUT,      /* idle keep-alive connection closed */
  CRIER_LIMIT_HEADER_TOO_LARGE,  /* request head over libsoup's 64 KiB */
  CRIER_LIMIT_COMMAND_RATE,      /* command refused with error 111 */
  CRIER_LIMIT_COMMAND_ABUSE,     /* client disconnected with 3013 */
  CRIER_LIMIT_CHANNEL_FULL,      /* max_channel_subscribers: error 106 */
  CRIER_LIMIT_ORIGIN,            /* Origin not in allowed_origins: 403 */
  CRIER_LIMIT_TLS_HANDSHAKE,     /* TLS handshake failed or timed out */
  CRIER_LIMIT_COMMAND_QUEUE,     /* over 1024 commands pipelined: 3013 */
  CRIER_LIMIT_MESSAGE_SIZE,      /* WebSocket frame/message over the cap: 1009 */
  CRIER_LIMIT_BINARY_FRAME,      /* binary frame to the JSON client protocol: 3506 */
  CRIER_LIMIT_BODY_SIZE,         /* stream/emulation POST body over max_request_body: 413 */
  CRIER_LIMIT_N
} CrierLimitReason;

typedef struct
{
  guint64 refused[CRIER_LIMIT_N];
} CrierLimitStats;

/* "per_address", "connect_rate", ... (the metrics label without "limit_"). */
const char *crier_limit_reason_to_string (CrierLimitReason reason);

/* A token bucket: @rate tokens per second, at most @burst stored.  A rate
 * of 0 means no limit (take always succeeds). */
typedef struct
{
  double tokens;
  gint64 last_us;                /* monotonic */
} CrierTokenBucket;

/* Takes one token; FALSE when the bucket is empty.  The first take on a
 * zeroed bucket starts it full. */
gboolean    crier_token_bucket_take      (CrierTokenBucket *bucket,
                                          double            rate,
                                          double            burst,
                                          gint64            now_us);
/* Seconds until one token is available (at least 1), for Retry-After. */
guint       crier_token_bucket_wait_s    (const CrierTokenBucket *bucket,
                                          double            rate);

G_END_DECLS
