/* crier-transport-ws.h: WebSocket connections on the engine.
 *
 * libsoup validates the upgrade request and writes the 101; then the
 * connection is stolen and runs on the engine with our own RFC 6455 codec
 * (crier-ws-codec.h).  Protocols on top (the Centrifugo client protocol,
 * the plain dialect, the debug broadcast) see whole messages and send
 * prebuilt frames shared between receivers.
 */
#pragma once

#include <libsoup/soup.h>

#include "crier-engine.h"
#include "crier-limits.h"
#include "crier-ws-codec.h"

G_BEGIN_DECLS

typedef struct
{
  gsize   max_frame_size;
  gsize   max_message_size;
  gint64  ping_interval_ms;   /* native ping frames; 0 = none (the protocol pings) */
  gint64  pong_timeout_ms;    /* close 1011-ish when no pong arrives in time */
  char  **allowed_origins;    /* NULL or empty: any origin */
  char  **protocols;          /* subprotocols we accept, or NULL */
  CrierLimitStats *limits;    /* counts Origin refusals (CRIER_LIMIT_ORIGIN), or NULL */
} CrierWsOptions;

typedef struct
{
  void (*on_open)    (CrierWs      *ws,
                      gpointer      user_data);
  void (*on_message) (CrierWs      *ws,
                      const guint8 *data,
                      gsize         len,
                      gboolean      is_text,
                      gpointer      user_data);
  /* The protocol's deadline (crier_ws_set_deadline) has come. */
  void (*on_deadline) (CrierWs     *ws,
                       gint64       now_ms,
                       gpointer     user_data);
  /* Server drain: default sends close 1001 "server shutting down". */
  void (*on_shutdown) (CrierWs     *ws,
                       gpointer     user_data);
  /* The connection is gone; @ws is freed right after this returns. */
  void (*on_closed)  (CrierWs      *ws,
                      CrierCloseReason reason,
                      guint16       code,
                      gpointer      user_data);
} CrierWsHandler;

struct _CrierWs
{
  CrierConn            *conn;
  CrierWsDecoder        decoder;
  const CrierWsHandler *handler;
  gpointer              user_data;
  gint64                ping_interval_ms;
  gint64                pong_timeout_ms;
  gint64                next_ping;       /* ms */
  gint64                pong_deadline;   /* ms, 0 = no ping outstanding */
  gint64                app_deadline;    /* ms, 0 = none */
  gint64                ping_sent_us;
  gint64                rtt_us;          /* last ping round trip, -1 unknown */
  guint16               close_code;      /* sent or received */
  gboolean              close_sent;
  guint64               messages_in;
  char                 *user_agent;
  char                 *origin;
};

/* Handle an upgrade request on @msg: answers 400/403 itself when the
 * handshake is not acceptable (and returns FALSE), otherwise arranges for
 * the connection to move to @engine once the 101 is written, then calls
 * handler->on_open.  Deflate is never negotiated (encode once). */
gboolean     crier_ws_handle_upgrade  (CrierEngine          *engine,
                                       SoupServerMessage    *msg,
                                       const CrierWsOptions *options,
                                       const CrierWsHandler *handler,
                                       gpointer              user_data);
/* The same; @destroy frees @user_data when the connection never opens
 * (the client left before the 101 was written). */
gboolean     crier_ws_handle_upgrade_full (CrierEngine        *engine,
                                       SoupServerMessage    *msg,
                                       const CrierWsOptions *options,
                                       const CrierWsHandler *handler,
                                       gpointer              user_data,
                                       GDestroyNotify        destroy);

/* Send a frame built with crier_ws_frame_new (shared by receivers). */
gboolean     crier_ws_send_frame      (CrierWs              *ws,
                                       GBytes               *frame);
/* Build and send a text frame for this receiver only. */
gboolean     crier_ws_send_text       (CrierWs              *ws,
                                       const char           *text,
                                       gsize                 len);
/* Send a close frame, then close once it is flushed. */
void         crier_ws_close           (CrierWs              *ws,
                                       guint16               code,
                                       const char           *reason,
                                       CrierCloseReason      why);
void         crier_ws_set_deadline    (CrierWs              *ws,
                                       gint64                deadline_ms);
gint64       crier_ws_now_ms          (CrierWs              *ws);
/* The WebSocket carried by @conn, or NULL for another kind of connection. */
CrierWs     *crier_ws_from_conn       (CrierConn            *conn);

/* Default origin check: exact match against the list, "*" allows all. */
gboolean     crier_origin_allowed     (const char           *origin,
                                       char                **allowed);

G_END_DECLS
