/* crier-transport-ws.c: WebSocket on the engine (see the header).
 *
 * Key functions: crier_ws_handle_upgrade (handshake + steal on
 * wrote-informational), ws_on_data (decoder loop: messages, ping/pong,
 * close handshake, protocol errors), ws_on_timer (native pings, pong
 * timeout, the protocol's deadline).
 */
#include "config.h"

#include "crier-transport-ws.h"

#include <string.h>

typedef struct
{
  CrierEngine          *engine;
  CrierWsOptions        options;
  const CrierWsHandler *handler;
  gpointer              user_data;
  GDestroyNotify        destroy;
  char                 *remote;
  char                 *user_agent;
  char                 *origin;
} PendingUpgrade;

/* The public CrierWs and what only this file needs; conn->data points at
 * ws, the first member, so a CrierWs * is also a WsPrivate *. */
typedef struct
{
  CrierWs          ws;
  CrierLimitStats *limits;      /* counts oversized messages, or NULL */
} WsPrivate;

static void
pending_upgrade_free (PendingUpgrade *p)
{
  g_free (p->remote);
  g_free (p->user_agent);
  g_free (p->origin);
  g_free (p);
}

gboolean
crier_origin_allowed (const char *origin,
                      char      **allowed)
{
  if (allowed == NULL || allowed[0] == NULL)
    return TRUE;
  for (guint i = 0; allowed[i] != NULL; i++)
    {
      if (g_str_equal (allowed[i], "*"))
        return TRUE;
      if (origin != NULL && g_ascii_strcasecmp (allowed[i], origin) == 0)
        return TRUE;
    }
  return FALSE;
}

static void
ws_schedule (CrierWs *ws)
{
  gint64 deadline = 0;

  if (ws->pong_deadline > 0)
    deadline = ws->pong_deadline;
  else if (ws->next_ping > 0)
    deadline = ws->next_ping;
  if (ws->app_deadline > 0 && (deadline == 0 || ws->app_deadline < deadline))
    deadline = ws->app_deadline;

  crier_conn_set_timer (ws->conn, deadline);
}

gint64
crier_ws_now_ms (CrierWs *ws)
{
  return crier_engine_now_ms (ws->conn->engine);
}

void
crier_ws_set_deadline (CrierWs *ws,
                       gint64   deadline_ms)
{
  ws->app_deadline = deadline_ms;
  ws_schedule (ws);
}

gboolean
crier_ws_send_frame (CrierWs *ws,
                     GBytes  *frame)
{
  if (ws->close_sent)
    return FALSE;
  return crier_conn_send (ws->conn, frame);
}

gboolean
crier_ws_send_text (CrierWs    *ws,
                    const char *text,
                    gsize       len)
{
  g_autoptr(GBytes) frame = crier_ws_frame_new (CRIER_WS_OP_TEXT, text, len);

  return crier_ws_send_frame (ws, frame);
}

void
crier_ws_close (CrierWs         *ws,
                guint16          code,
                const char      *reason,
                CrierCloseReason why)
{
  g_autoptr(GBytes) frame = NULL;

  if (ws->close_sent || ws->conn->closed)
    return;

  frame = crier_ws_close_frame_new (code, reason);
  crier_conn_send (ws->conn, frame);
  ws->close_sent = TRUE;
  ws->close_code = code;
  crier_conn_close_after_flush (ws->conn, why);
}

static void
ws_on_data (CrierConn    *conn,
            const guint8 *data,
            gsize         len)
{
  CrierWs *ws = conn->data;

  while (len > 0 && !conn->closed)
    {
      CrierWsEvent ev;
      gsize used = 0;

      crier_ws_decoder_feed (&ws->decoder, data, len, &used, &ev);
      data += used;
      len -= used;

      switch (ev.type)
        {
        case CRIER_WS_EVENT_NEED_MORE:
          break;

        case CRIER_WS_EVENT_MESSAGE:
          ws->messages_in++;
          if (!ws->close_sent && ws->handler->on_message != NULL)
            ws->handler->on_message (ws, ev.data, ev.len, ev.opcode == CRIER_WS_OP_TEXT, ws->user_data);
          break;

        case CRIER_WS_EVENT_PING:
          if (!ws->close_sent)
            {
              g_autoptr(GBytes) pong = crier_ws_frame_new (CRIER_WS_OP_PONG, ev.data, ev.len);

              crier_conn_send (conn, pong);
            }
          break;

        case CRIER_WS_EVENT_PONG:
          if (ws->pong_deadline > 0)
            {
              ws->rtt_us = g_get_monotonic_time () - ws->ping_sent_us;
              ws->pong_deadline = 0;
              ws_schedule (ws);
            }
          break;

        case CRIER_WS_EVENT_CLOSE:
          /* Echo the peer's code (RFC 6455 §5.5.1), then close. */
          if (!ws->close_sent)
            {
              guint16 echo = ev.code == CRIER_WS_CLOSE_NO_STATUS ? 0 : ev.code;

              crier_ws_close (ws, echo, NULL, CRIER_CLOSE_PEER);
              ws->close_code = ev.code;
            }
          else
            crier_conn_close (conn, (CrierCloseReason) conn->close_reason);
          return;

        case CRIER_WS_EVENT_ERROR:
        default:
          /* An oversized frame or message is a rejection of its own
           * (limit_message_size), not only a protocol close. */
          if (ev.code == CRIER_WS_CLOSE_TOO_BIG && ((WsPrivate *) ws)->limits != NULL)
            ((WsPrivate *) ws)->limits->refused[CRIER_LIMIT_MESSAGE_SIZE]++;
          g_debug ("websocket %" G_GUINT64_FORMAT " from %s: %s (close %u)",
                   conn->id, conn->remote ? conn->remote : "?", ev.reason ? ev.reason : "error", ev.code);
          crier_ws_close (ws, ev.code, ev.reason, CRIER_CLOSE_PROTOCOL);
          return;
        }

      if (ev.type == CRIER_WS_EVENT_NEED_MORE)
        break;
    }
}

static void
ws_on_eof (CrierConn *conn)
{
  crier_conn_close (conn, CRIER_CLOSE_PEER);
}

static void
ws_on_timer (CrierConn *conn,
             gint64     now_ms)
{
  CrierWs *ws = conn->data;

  if (ws->close_sent)
    return;

  if (ws->pong_deadline > 0 && now_ms >= ws->pong_deadline)
    {
      crier_ws_close (ws, 1011, "no pong", CRIER_CLOSE_TIMEOUT);
      return;
    }

  if (ws->pong_deadline == 0 && ws->next_ping > 0 && now_ms >= ws->next_ping)
    {
      static const guint8 ping_frame[] = { 0x89, 0x00 };
      g_autoptr(GBytes) ping = g_bytes_new_static (ping_frame, sizeof ping_frame);

      crier_conn_send (conn, ping);
      ws->ping_sent_us = g_get_monotonic_time ();
      ws->pong_deadline = now_ms + ws->pong_timeout_ms;
      ws->next_ping = now_ms + ws->ping_interval_ms;
    }

  if (ws->app_deadline > 0 && now_ms >= ws->app_deadline)
    {
      ws->app_deadline = 0;
      if (ws->handler->on_deadline != NULL)
        ws->handler->on_deadline (ws, now_ms, ws->user_data);
      if (conn->closed)
        return;
    }

  ws_schedule (ws);
}

static void
ws_on_shutdown (CrierConn *conn)
{
  CrierWs *ws = conn->data;

  if (ws->handler->on_shutdown != NULL)
    ws->handler->on_shutdown (ws, ws->user_data);
  else
    crier_ws_close (ws, CRIER_WS_CLOSE_GOING_AWAY, "server shutting down", CRIER_CLOSE_SHUTDOWN);
}

static void
ws_on_closed (CrierConn       *conn,
              CrierCloseReason reason)
{
  CrierWs *ws = conn->data;

  if (ws->handler->on_closed != NULL)
    ws->handler->on_closed (ws, reason, ws->close_code, ws->user_data);

  crier_ws_decoder_clear (&ws->decoder);
  g_free (ws->user_agent);
  g_free (ws->origin);
  g_free (ws);
}

static const CrierConnClass ws_conn_class = {
  .name = "websocket",
  .on_data = ws_on_data,
  .on_eof = ws_on_eof,
  .on_timer = ws_on_timer,
  .on_shutdown = ws_on_shutdown,
  .on_closed = ws_on_closed,
};

CrierWs *
crier_ws_from_conn (CrierConn *conn)
{
  g_return_val_if_fail (conn != NULL, NULL);

  return conn->klass == &ws_conn_class ? conn->data : NULL;
}

static void upgrade_abandoned (SoupServerMessage *msg,
                               gpointer           data);

static void
upgrade_written (SoupServerMessage *msg,
                 gpointer           data)
{
  PendingUpgrade *p = data;
  g_autoptr(GError) error = NULL;
  GIOStream *stream;
  WsPrivate *priv;
  CrierWs *ws;
  CrierConn *conn;

  g_signal_handlers_disconnect_by_func (msg, upgrade_written, data);
  g_signal_handlers_disconnect_by_func (msg, upgrade_abandoned, data);
  stream = soup_server_message_steal_connection (msg);
  if (stream == NULL)
    {
      pending_upgrade_free (p);
      return;
    }

  priv = g_new0 (WsPrivate, 1);
  priv->limits = p->options.limits;
  ws = &priv->ws;
  conn = crier_engine_adopt (p->engine, stream, p->remote, &ws_conn_class, ws, &error);
  if (conn == NULL)
    {
      g_warning ("cannot take over websocket from %s: %s", p->remote, error->message);
      g_free (ws);
      if (p->destroy != NULL)
        p->destroy (p->user_data);
      pending_upgrade_free (p);
      return;
    }

  ws->conn = conn;
  ws->handler = p->handler;
  ws->user_data = p->user_data;
  ws->rtt_us = -1;
  ws->ping_interval_ms = p->options.ping_interval_ms;
  ws->pong_timeout_ms = p->options.pong_timeout_ms;
  ws->user_agent = g_steal_pointer (&p->user_agent);
  ws->origin = g_steal_pointer (&p->origin);
  crier_ws_decoder_init (&ws->decoder, TRUE, p->options.max_frame_size, p->options.max_message_size);
  if (ws->ping_interval_ms > 0)
    {
      /* Spread the first pings over [interval/2, interval). */
      gint64 half = ws->ping_interval_ms / 2;

      ws->next_ping = crier_engine_now_ms (p->engine) + half + g_random_int_range (0, MAX (half, 1));
    }
  pending_upgrade_free (p);

  ws_schedule (ws);
  if (ws->handler->on_open != NULL)
    ws->handler->on_open (ws, ws->user_data);
  crier_conn_start (conn);
}

static void
upgrade_abandoned (SoupServerMessage *msg,
                   gpointer           data)
{
  /* "finished" without a 101 written (client went away): clean up. */
  PendingUpgrade *p = data;

  g_signal_handlers_disconnect_by_func (msg, upgrade_written, data);
  g_signal_handlers_disconnect_by_func (msg, upgrade_abandoned, data);
  if (p->destroy != NULL)
    p->destroy (p->user_data);
  pending_upgrade_free (p);
}

static char *
remote_string (SoupServerMessage *msg)
{
  GSocketAddress *addr = soup_server_message_get_remote_address (msg);

  if (G_IS_INET_SOCKET_ADDRESS (addr))
    {
      GInetSocketAddress *inet = G_INET_SOCKET_ADDRESS (addr);
      g_autofree char *ip = g_inet_address_to_string (g_inet_socket_address_get_address (inet));
      guint16 port = g_inet_socket_address_get_port (inet);

      if (g_inet_socket_address_get_address (inet) != NULL &&
          g_inet_address_get_family (g_inet_socket_address_get_address (inet)) == G_SOCKET_FAMILY_IPV6)
        return g_strdup_printf ("[%s]:%u", ip, port);
      return g_strdup_printf ("%s:%u", ip, port);
    }
  return g_strdup ("unix");
}

gboolean
crier_ws_handle_upgrade (CrierEngine          *engine,
                         SoupServerMessage    *msg,
                         const CrierWsOptions *options,
                         const CrierWsHandler *handler,
                         gpointer              user_data)
{
  return crier_ws_handle_upgrade_full (engine, msg, options, handler, user_data, NULL);
}

gboolean
crier_ws_handle_upgrade_full (CrierEngine          *engine,
                              SoupServerMessage    *msg,
                              const CrierWsOptions *options,
                              const CrierWsHandler *handler,
                              gpointer              user_data,
                              GDestroyNotify        destroy)
{
  g_autoptr(GError) error = NULL;
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  const char *origin = soup_message_headers_get_one (req, "Origin");
  PendingUpgrade *p;

  if (!crier_origin_allowed (origin, options->allowed_origins))
    {
      /* Cross-site WebSocket hijacking: a page of another origin using the
       * browser's cookies.  Refused and counted. */
      if (options->limits != NULL)
        options->limits->refused[CRIER_LIMIT_ORIGIN]++;
      g_debug ("WebSocket upgrade refused: origin %s not allowed", origin ? origin : "(none)");
      soup_server_message_set_status (msg, SOUP_STATUS_FORBIDDEN, NULL);
      soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC,
                                        "origin not allowed\n", 19);
      goto refused;
    }

  if (!soup_websocket_server_check_handshake (msg, NULL, options->protocols, NULL, &error))
    {
      g_autofree char *body = g_strdup_printf ("%s\n", error->message);

      soup_server_message_set_status (msg, SOUP_STATUS_BAD_REQUEST, NULL);
      soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_COPY, body, strlen (body));
      goto refused;
    }

  /* No extensions offered: permessage-deflate costs ~100 KB per connection
   * and defeats encoding each frame once. */
  if (!soup_websocket_server_process_handshake (msg, NULL, options->protocols, NULL, NULL))
    goto refused;

  p = g_new0 (PendingUpgrade, 1);
  p->engine = engine;
  p->options = *options;
  p->options.allowed_origins = NULL;
  p->options.protocols = NULL;
  p->handler = handler;
  p->user_data = user_data;
  p->destroy = destroy;
  p->remote = remote_string (msg);
  p->user_agent = g_strdup (soup_message_headers_get_one (req, "User-Agent"));
  p->origin = g_strdup (origin);

  g_signal_connect (msg, "wrote-informational", G_CALLBACK (upgrade_written), p);
  g_signal_connect (msg, "finished", G_CALLBACK (upgrade_abandoned), p);
  return TRUE;

refused:
  if (destroy != NULL)
    destroy (user_data);
  return FALSE;
}
