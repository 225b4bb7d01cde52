/* crier-transport-stream.h: SSE and HTTP streaming on the engine.
 *
 * Both are one long HTTP/1.1 response with chunked transfer encoding.
 * The libsoup handler validates the request; crier_stream_accept() then
 * steals the connection, writes the response head itself and hands the
 * socket to the engine. From there on everything is a chunk: publications
 * are the cached chunk encodings of crier-publication.h (the same bytes for
 * every receiver), per-client lines are chunked here. The engine reads the
 * socket only to notice the client going away (EOF closes at once) and
 * applies the same outbound limits as to a WebSocket.
 *
 * Routes (crier_stream_register):
 *   POST /connection/http_stream        Centrifugo, body = initial commands
 *   GET  /connection/sse?cf_connect=..  Centrifugo (POST with a body too)
 *   POST /emulation                     commands for an SSE/http_stream session
 *   GET|POST /connection/uni_sse        unidirectional, bare ConnectRequest
 *   POST /connection/uni_http_stream    unidirectional, bare ConnectRequest
 *   OPTIONS on each of them             CORS preflight
 * plus the plain dialect (crier-dialect-plain.h): /sub, /crier.js.
 */
#pragma once

#include <libsoup/soup.h>

#include "crier-engine.h"
#include "crier-limits.h"
#include "crier-proto-centrifuge.h"
#include "crier-server.h"

G_BEGIN_DECLS

typedef struct _CrierStream CrierStream;

typedef enum
{
  CRIER_STREAM_SSE,    /* text/event-stream; charset=utf-8 */
  CRIER_STREAM_JSON,   /* application/json: one JSON value per line */
} CrierStreamKind;

typedef struct
{
  /* The owner's deadline (crier_stream_set_deadline) has come. */
  void (*on_deadline) (CrierStream     *stream,
                       gint64           now_ms,
                       gpointer         user_data);
  /* Server drain: say goodbye and crier_stream_end(). Default: end. */
  void (*on_shutdown) (CrierStream     *stream,
                       gpointer         user_data);
  /* The connection is gone; @stream is freed right after this returns. */
  void (*on_closed)   (CrierStream     *stream,
                       CrierCloseReason reason,
                       gpointer         user_data);
} CrierStreamHandler;

struct _CrierStream
{
  CrierConn                *conn;
  CrierStreamKind           kind;
  const CrierStreamHandler *handler;
  gpointer                  user_data;
  GBytes                   *heartbeat;          /* chunk, or NULL */
  gint64                    heartbeat_interval; /* ms */
  gint64                    next_heartbeat;     /* ms, 0 = none */
  gint64                    app_deadline;       /* ms, 0 = none */
  gboolean                  ended;              /* last chunk queued */
};

/* Answers the request itself and returns FALSE when it cannot become a
 * stream: HTTP/1.0 (505: chunked encoding needs 1.1) or an Origin that
 * [server] allowed_origins does not allow (403, counted in @limits as
 * CRIER_LIMIT_ORIGIN when not NULL). */
gboolean     crier_stream_check_request (SoupServerMessage        *msg,
                                         char                    **allowed_origins,
                                         CrierLimitStats          *limits);

/* Steals the connection of @msg (call it last in the handler: @msg may be
 * gone afterwards), writes `HTTP/1.1 200 OK` with the no-cache headers,
 * the CORS headers when the request's Origin is allowed, then @initial as
 * the first chunk (if not NULL). Reading starts with crier_stream_start(),
 * once the owner is set up. NULL when the connection could not be taken
 * (the client is gone). */
CrierStream *crier_stream_accept        (CrierEngine              *engine,
                                         SoupServerMessage        *msg,
                                         CrierStreamKind           kind,
                                         char                    **allowed_origins,
                                         const char               *initial,
                                         const CrierStreamHandler *handler,
                                         gpointer                  user_data);
void         crier_stream_start         (CrierStream              *stream);

/* A prebuilt chunk, shared between receivers (a reference is taken).
 * FALSE when the stream is closed, ending, or was evicted by this send. */
gboolean     crier_stream_send_chunk    (CrierStream              *stream,
                                         GBytes                   *chunk);
/* @len bytes as one chunk for this receiver only. */
gboolean     crier_stream_send_data     (CrierStream              *stream,
                                         const char               *data,
                                         gsize                     len);
/* One protocol line: `data: LINE\n\n` on SSE, `LINE\n` on JSON streams.
 * @line must not contain a line break. */
gboolean     crier_stream_send_line     (CrierStream              *stream,
                                         const char               *line,
                                         gsize                     len);
/* Optional goodbye line (as crier_stream_send_line, may be NULL), then the
 * last chunk, then close once everything is flushed. Idempotent. */
void         crier_stream_end           (CrierStream              *stream,
                                         const char               *last_line,
                                         CrierCloseReason          why);
/* Same, with @last sent verbatim as one chunk (a whole SSE event). */
void         crier_stream_end_with_data (CrierStream              *stream,
                                         const char               *last,
                                         gsize                     len,
                                         CrierCloseReason          why);
void         crier_stream_set_deadline  (CrierStream              *stream,
                                         gint64                    deadline_ms);
/* Send @chunk every @interval_ms (SSE comments, pings); NULL stops. */
void         crier_stream_set_heartbeat (CrierStream              *stream,
                                         GBytes                   *chunk,
                                         gint64                    interval_ms);
gint64       crier_stream_now_ms        (CrierStream              *stream);

/* "<hex size>\r\n" PREFIX DATA SUFFIX "\r\n" (prefix/suffix may be NULL). */
GBytes      *crier_stream_chunk_new     (const char               *prefix,
                                         const char               *data,
                                         gsize                     len,
                                         const char               *suffix);

/* CORS for the HTTP endpoints. When the request carries an Origin that is
 * allowed, adds Access-Control-Allow-Origin (the origin itself),
 * -Allow-Credentials, Vary and, if not NULL, -Expose-Headers. FALSE when
 * an Origin is present and not allowed. */
gboolean     crier_cors_apply           (SoupServerMessage        *msg,
                                         char                    **allowed_origins,
                                         const char               *expose_headers);
/* Answers an OPTIONS preflight: 204 with -Allow-Methods @methods,
 * -Allow-Headers and -Max-Age 300 when the origin is allowed, else 403
 * (counted and logged by crier_cors_refused()). */
void         crier_cors_preflight       (SoupServerMessage        *msg,
                                         char                    **allowed_origins,
                                         const char               *methods,
                                         CrierLimitStats          *limits);
/* Counts a request refused for its Origin (CRIER_LIMIT_ORIGIN in @limits,
 * when not NULL) and logs it at debug level, like a WebSocket upgrade
 * refused for its origin.  The caller answers 403. */
void         crier_cors_refused         (const char               *path,
                                         const char               *origin,
                                         CrierLimitStats          *limits);

/* Answers @status (204, 304) without a body and keeps the connection
 * alive (libsoup would otherwise close it, taking the end as EOF). */
void         crier_http_no_body         (SoupServerMessage        *msg,
                                         guint                     status);

/* "ip:port" of the peer, "[v6]:port", or "unix". */
char        *crier_stream_remote_string (SoupServerMessage        *msg);

/* TRUE when [server] debug_disable_transports names @transport
 * ("websocket", "sse", "http_stream", "longpoll") and debug_endpoints is
 * on: a test switch to make a transport fail. */
gboolean     crier_transport_disabled   (const CrierConfig        *config,
                                         const char               *transport);

/* Adds the stream routes above and the plain dialect's to @soup; call once
 * from crier_server_start(). @cf is the server's Centrifugo context. */
void         crier_stream_register      (CrierServer              *server,
                                         SoupServer               *soup,
                                         CrierCfContext           *cf);

G_END_DECLS
