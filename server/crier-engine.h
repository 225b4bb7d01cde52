/* crier-engine.h: the connection engine for long-lived connections.
 *
 * libsoup parses HTTP and performs the WebSocket handshake; once a
 * connection becomes long-lived (a WebSocket after its 101, a stream after
 * its response head) crierd takes it from libsoup and the engine drives it:
 *
 *  - one GSource per main context wraps an epoll set, so an idle
 *    connection costs nothing per loop iteration;
 *  - a connection is a plain struct with a write queue of shared GBytes
 *    (a frame built once for every receiver), flushed with writev, several
 *    frames per call; sends made during one loop iteration are coalesced
 *    and flushed before the loop sleeps;
 *  - queued bytes are counted exactly, with a soft limit (tolerated for a
 *    grace period) and a hard limit (eviction at once);
 *  - one timer wheel serves every connection's pings and deadlines;
 *  - listening sockets live in the same epoll set (see crier-listener.h).
 */
#pragma once

#include <gio/gio.h>
#include <sys/uio.h>

#include "crier-timer-wheel.h"
#include "crier-types.h"

G_BEGIN_DECLS

/* Why a connection ended; indexes the engine's counters. */
typedef enum
{
  CRIER_CLOSE_PEER,        /* peer closed or reset the connection */
  CRIER_CLOSE_PROTOCOL,    /* protocol violation */
  CRIER_CLOSE_SLOW,        /* outbound hard limit, or soft limit too long */
  CRIER_CLOSE_TIMEOUT,     /* pong, stale or idle timeout */
  CRIER_CLOSE_SERVER,      /* server decision: kick, expiry, ... */
  CRIER_CLOSE_SHUTDOWN,    /* drain */
  CRIER_CLOSE_IO_ERROR,    /* read or write error */
  CRIER_CLOSE_N_REASONS
} CrierCloseReason;

const char *crier_close_reason_to_string (CrierCloseReason reason);

/* What a transport implements. All callbacks are optional but on_data. */
struct _CrierConnClass
{
  const char *name;        /* "websocket", "sse", ... for metrics and admin */
  /* Bytes arrived. The buffer is the engine's and only valid during the
   * call.  The callback may close @conn. */
  void (*on_data)    (CrierConn    *conn,
                      const guint8 *data,
                      gsize         len);
  /* The peer sent end of stream. Default: close with CRIER_CLOSE_PEER. */
  void (*on_eof)     (CrierConn    *conn);
  /* The connection's timer fired. */
  void (*on_timer)   (CrierConn    *conn,
                      gint64        now_ms);
  /* The engine is draining: say goodbye (e.g. a close frame) and call
   * crier_conn_close_after_flush(). Default: close at once. */
  void (*on_shutdown) (CrierConn   *conn);
  /* The connection is gone (socket already closed). Free transport data. */
  void (*on_closed)  (CrierConn    *conn,
                      CrierCloseReason reason);
};

typedef struct
{
  GBytes *bytes;
  gsize   offset;              /* into bytes: first byte to send */
} CrierWriteItem;

/* Something that must live exactly as long as a client connection,
 * whichever phase it is in (HTTP with libsoup, then the engine): the
 * listener's per-address count and HTTP-phase tracking.  The listener
 * attaches one to each accepted GSocketConnection as object data under
 * CRIER_CONN_TOKEN_KEY (destroy notify: release); crier_engine_adopt()
 * takes it over, calls adopted, and calls release when the connection is
 * freed. */
typedef struct _CrierConnToken CrierConnToken;
struct _CrierConnToken
{
  void (*adopted) (CrierConnToken *token);
  void (*release) (CrierConnToken *token);
};
#define CRIER_CONN_TOKEN_KEY "crier-conn-token"

/* Anything the engine's epoll set watches starts with this. */
typedef struct _CrierEpollItem CrierEpollItem;
struct _CrierEpollItem
{
  void (*ready) (CrierEpollItem *item,
                 guint32         events);
};

struct _CrierConn
{
  CrierEpollItem        item;          /* private */
  int                   fd;
  CrierEngine          *engine;
  const CrierConnClass *klass;
  gpointer              data;          /* the transport's */
  GIOStream            *stream;        /* only for TLS: I/O goes through it */

  guint64               id;
  guint                 closed : 1;
  guint                 closing : 1;   /* close once the queue is empty */
  guint                 want_write : 1;/* EPOLLOUT armed */
  guint                 dirty : 1;     /* on the engine's flush list */
  guint                 read_paused : 1;
  guint                 close_reason : 4;   /* CrierCloseReason */

  /* write queue: a ring of items, in wq_inline until it outgrows it */
  CrierWriteItem       *wq;
  guint                 wq_head;
  guint                 wq_len;
  guint                 wq_cap;
  gsize                 queued_bytes;
  gint64                soft_limit_since;   /* ms, 0 when below the soft limit */

  CrierConn            *dirty_next;
  CrierTimerNode        timer;
  gint64                close_deadline;     /* ms: hard close while closing */

  /* counters for admin/inspect */
  gint64                connected_at;       /* wall clock, µs */
  gint64                last_read_ms;       /* monotonic ms */
  guint64               bytes_in;
  guint64               bytes_out;
  guint64               frames_out;
  char                 *remote;             /* "ip:port" */
  GByteArray           *pending_input;      /* libsoup's leftovers, until start */
  CrierConnToken       *token;              /* the listener's, or NULL */

  /* No allocation and no extra cache line for the usual queue of one to
   * four frames (the fan-out writes each as soon as the loop turns). */
  CrierWriteItem        wq_inline[4];
};

typedef struct
{
  guint64 accepted;
  guint64 refused_cap;          /* over the connection cap */
  guint64 accept_errors;        /* EMFILE, ENFILE, ... */
  guint64 adopted;              /* handed over from libsoup */
  guint64 closed[CRIER_CLOSE_N_REASONS];
  guint64 bytes_in;
  guint64 bytes_out;
  guint64 writev_calls;
  guint64 frames_out;
} CrierEngineStats;

typedef struct
{
  gint64 soft_limit;            /* bytes */
  gint64 hard_limit;            /* bytes */
  gint64 soft_grace_ms;
  gint64 close_timeout_ms;      /* closing connections are cut after this */
} CrierEngineLimits;

CrierEngine *crier_engine_new              (GMainContext       *context);
void         crier_engine_free             (CrierEngine        *engine);
void         crier_engine_set_limits       (CrierEngine        *engine,
                                            const CrierEngineLimits *limits);
const CrierEngineStats *
             crier_engine_get_stats        (CrierEngine        *engine);
guint        crier_engine_get_n_conns      (CrierEngine        *engine);
GMainContext *crier_engine_get_context     (CrierEngine        *engine);
gint64       crier_engine_now_ms           (CrierEngine        *engine);
/* Counts the end of a session that holds no connection at that moment (a
 * long-poll client evicted or expired between two requests) under @reason,
 * so that evictions and timeouts are counted whatever the transport. */
void         crier_engine_count_close      (CrierEngine        *engine,
                                            CrierCloseReason    reason);

/* Take over a connection stolen from libsoup: @stream is what
 * soup_server_message_steal_connection() returned (this function takes
 * ownership).  Plain TCP connections are reduced to their file descriptor
 * and every libsoup/GIO object is released; TLS connections keep their
 * stream.  Bytes libsoup had already buffered are delivered to on_data
 * right after the transport attached itself (see crier_conn_start). */
CrierConn   *crier_engine_adopt            (CrierEngine        *engine,
                                            GIOStream          *stream,
                                            const char         *remote,
                                            const CrierConnClass *klass,
                                            gpointer            data,
                                            GError            **error);
/* Deliver buffered bytes and start reading. */
void         crier_conn_start              (CrierConn          *conn);

/* Queue a shared buffer (a reference is taken). Returns FALSE when the
 * connection is closed or was evicted by this very send (hard limit). */
gboolean     crier_conn_send               (CrierConn          *conn,
                                            GBytes             *bytes);
/* Queue a copy of @data (for small per-connection replies). */
gboolean     crier_conn_send_copy          (CrierConn          *conn,
                                            const void         *data,
                                            gsize               len);
/* Flush now instead of at the end of the loop iteration. */
void         crier_conn_flush              (CrierConn          *conn);

void         crier_conn_close              (CrierConn          *conn,
                                            CrierCloseReason    reason);
/* Stop reading, send what is queued, then close (bounded by the close
 * timeout). */
void         crier_conn_close_after_flush  (CrierConn          *conn,
                                            CrierCloseReason    reason);
void         crier_conn_set_timer          (CrierConn          *conn,
                                            gint64              deadline_ms);
void         crier_conn_pause_reading      (CrierConn          *conn,
                                            gboolean            paused);

typedef void (*CrierConnFunc) (CrierConn *conn,
                               gpointer   user_data);
void         crier_engine_foreach          (CrierEngine        *engine,
                                            CrierConnFunc       func,
                                            gpointer            user_data);
/* Ask every connection to leave (on_shutdown). */
void         crier_engine_shutdown_all     (CrierEngine        *engine);

/* Used by crier-listener.c: watch another fd (EPOLLIN) in the epoll set. */
gboolean     crier_engine_watch_fd         (CrierEngine        *engine,
                                            int                 fd,
                                            CrierEpollItem     *item,
                                            gboolean            watch);

G_END_DECLS
