/* crier-engine.c: epoll-backed connection engine (see the header).
 *
 * Key functions: crier_engine_new (the GSource), engine_dispatch (one loop
 * iteration: ready sockets, timers, coalesced flushes, reaping),
 * crier_engine_adopt (take a connection from libsoup), crier_conn_send /
 * conn_flush (the write queue), crier_conn_close (eviction).
 */
#include "config.h"

#include "crier-engine.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS       256
#define READ_CHUNK       (64 * 1024)
#define READS_PER_WAKEUP 4
#define MAX_IOV          64
#define WQ_INLINE_CAP    G_N_ELEMENTS (((CrierConn *) NULL)->wq_inline)

typedef struct
{
  GSource      source;
  CrierEngine *engine;
} EngineSource;

struct _CrierEngine
{
  GMainContext     *context;
  GSource          *source;
  gpointer          epoll_tag;
  int               epfd;

  GHashTable       *conns;        /* CrierConn* set, for foreach/shutdown */
  CrierConn        *dirty;        /* conns with unflushed sends */
  GPtrArray        *dead;         /* closed conns awaiting on_closed + free */
  CrierTimerWheel   wheel;
  gint64            now_ms;
  guint64           next_id;

  CrierEngineLimits limits;
  CrierEngineStats  stats;
  guint8           *scratch;      /* READ_CHUNK bytes shared by all reads */
};

static const char *close_reason_names[CRIER_CLOSE_N_REASONS] = {
  [CRIER_CLOSE_PEER] = "peer",
  [CRIER_CLOSE_PROTOCOL] = "protocol",
  [CRIER_CLOSE_SLOW] = "slow",
  [CRIER_CLOSE_TIMEOUT] = "timeout",
  [CRIER_CLOSE_SERVER] = "server",
  [CRIER_CLOSE_SHUTDOWN] = "shutdown",
  [CRIER_CLOSE_IO_ERROR] = "io-error",
};

const char *
crier_close_reason_to_string (CrierCloseReason reason)
{
  g_return_val_if_fail (reason < CRIER_CLOSE_N_REASONS, "unknown");
  return close_reason_names[reason];
}

static void conn_flush (CrierConn *conn);
static void conn_finish_closing (CrierConn *conn);
static void conn_ready (CrierEpollItem *item,
                        guint32         events);

gint64
crier_engine_now_ms (CrierEngine *engine)
{
  return g_get_monotonic_time () / 1000;
}

/* ---- timers ------------------------------------------------------------ */

static void
timer_fired (CrierTimerNode *node,
             gint64          now_ms,
             gpointer        user_data)
{
  CrierConn *conn = (CrierConn *) ((guint8 *) node - G_STRUCT_OFFSET (CrierConn, timer));

  if (conn->closed)
    return;

  if (conn->closing && conn->close_deadline > 0 && now_ms >= conn->close_deadline)
    {
      /* The peer never drained our last bytes, or never closed its side. */
      crier_conn_close (conn, (CrierCloseReason) conn->close_reason);
      return;
    }

  if (conn->klass->on_timer != NULL)
    conn->klass->on_timer (conn, now_ms);
}

void
crier_conn_set_timer (CrierConn *conn,
                      gint64     deadline_ms)
{
  if (conn->closed)
    return;

  /* While closing, the close deadline wins over anything earlier the
   * transport wants: it has nothing left to do but wait. */
  if (conn->closing && conn->close_deadline > 0)
    deadline_ms = deadline_ms > 0 ? MIN (deadline_ms, conn->close_deadline) : conn->close_deadline;

  if (deadline_ms <= 0)
    crier_timer_wheel_cancel (&conn->engine->wheel, &conn->timer);
  else
    crier_timer_wheel_schedule (&conn->engine->wheel, &conn->timer, deadline_ms);
}

/* ---- the GSource ------------------------------------------------------- */

static gboolean
engine_has_work (CrierEngine *engine)
{
  return engine->dirty != NULL || engine->dead->len > 0;
}

static gboolean
engine_prepare (GSource *source,
                gint    *timeout)
{
  CrierEngine *engine = ((EngineSource *) source)->engine;
  gint64 wake;

  if (engine_has_work (engine))
    {
      *timeout = 0;
      return TRUE;
    }

  wake = crier_timer_wheel_next_wakeup (&engine->wheel);
  if (wake < 0)
    *timeout = -1;
  else
    {
      gint64 now = g_source_get_time (source) / 1000;

      if (wake <= now)
        {
          *timeout = 0;
          return TRUE;
        }
      *timeout = (gint) MIN (wake - now, G_MAXINT);
    }

  return FALSE;
}

static gboolean
engine_check (GSource *source)
{
  CrierEngine *engine = ((EngineSource *) source)->engine;
  gint64 wake;

  if (engine_has_work (engine))
    return TRUE;
  if (g_source_query_unix_fd (source, engine->epoll_tag) & G_IO_IN)
    return TRUE;

  wake = crier_timer_wheel_next_wakeup (&engine->wheel);
  return wake >= 0 && wake <= g_source_get_time (source) / 1000;
}

static void
engine_flush_dirty (CrierEngine *engine)
{
  while (engine->dirty != NULL)
    {
      CrierConn *conn = engine->dirty;

      engine->dirty = conn->dirty_next;
      conn->dirty_next = NULL;
      conn->dirty = FALSE;
      if (!conn->closed)
        conn_flush (conn);
    }
}

static void
conn_free (CrierConn *conn)
{
  if (conn->wq != conn->wq_inline)
    g_free (conn->wq);
  g_free (conn->remote);
  if (conn->pending_input != NULL)
    g_byte_array_unref (conn->pending_input);
  if (conn->token != NULL)
    conn->token->release (conn->token);
  g_free (conn);
}

static void
engine_reap (CrierEngine *engine)
{
  /* on_closed runs here, outside any iteration over subscribers, so that
   * transports and the hub may unlink the connection freely. */
  while (engine->dead->len > 0)
    {
      g_autoptr(GPtrArray) dead = engine->dead;

      engine->dead = g_ptr_array_new ();
      for (guint i = 0; i < dead->len; i++)
        {
          CrierConn *conn = g_ptr_array_index (dead, i);

          if (conn->klass->on_closed != NULL)
            conn->klass->on_closed (conn, (CrierCloseReason) conn->close_reason);
          conn_free (conn);
        }
    }
}

static gboolean
engine_dispatch (GSource    *source,
                 GSourceFunc callback,
                 gpointer    user_data)
{
  CrierEngine *engine = ((EngineSource *) source)->engine;
  struct epoll_event events[MAX_EVENTS];
  int n;

  engine->now_ms = g_source_get_time (source) / 1000;

  n = epoll_wait (engine->epfd, events, MAX_EVENTS, 0);
  for (int i = 0; i < n; i++)
    {
      CrierEpollItem *item = events[i].data.ptr;

      item->ready (item, events[i].events);
    }

  crier_timer_wheel_advance (&engine->wheel, engine->now_ms, timer_fired, engine);
  engine_flush_dirty (engine);
  engine_reap (engine);

  return G_SOURCE_CONTINUE;
}

static GSourceFuncs engine_source_funcs = {
  engine_prepare,
  engine_check,
  engine_dispatch,
  NULL,
  NULL,
  NULL,
};

CrierEngine *
crier_engine_new (GMainContext *context)
{
  CrierEngine *engine = g_new0 (CrierEngine, 1);
  EngineSource *es;

  engine->epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (engine->epfd < 0)
    g_error ("epoll_create1: %s", g_strerror (errno));

  engine->context = context ? g_main_context_ref (context) : g_main_context_ref_thread_default ();
  engine->conns = g_hash_table_new (NULL, NULL);
  engine->dead = g_ptr_array_new ();
  engine->scratch = g_malloc (READ_CHUNK);
  engine->now_ms = crier_engine_now_ms (engine);
  crier_timer_wheel_init (&engine->wheel, 1024, 50, engine->now_ms);

  engine->limits.soft_limit = 256 * 1024;
  engine->limits.hard_limit = 1024 * 1024;
  engine->limits.soft_grace_ms = 10 * 1000;
  engine->limits.close_timeout_ms = 5 * 1000;

  engine->source = g_source_new (&engine_source_funcs, sizeof (EngineSource));
  es = (EngineSource *) engine->source;
  es->engine = engine;
  g_source_set_name (engine->source, "crier-engine");
  g_source_set_priority (engine->source, G_PRIORITY_DEFAULT);
  engine->epoll_tag = g_source_add_unix_fd (engine->source, engine->epfd, G_IO_IN);
  g_source_attach (engine->source, engine->context);

  return engine;
}

static void
close_for_free (gpointer key,
                gpointer value,
                gpointer user_data)
{
  crier_conn_close (key, CRIER_CLOSE_SHUTDOWN);
}

void
crier_engine_free (CrierEngine *engine)
{
  if (engine == NULL)
    return;

  /* Closing removes from the table: iterate over a copy of the keys. */
  {
    g_autoptr(GList) keys = g_hash_table_get_keys (engine->conns);

    for (GList *l = keys; l != NULL; l = l->next)
      close_for_free (l->data, NULL, NULL);
  }
  engine_reap (engine);

  g_source_destroy (engine->source);
  g_source_unref (engine->source);
  crier_timer_wheel_clear (&engine->wheel);
  g_hash_table_unref (engine->conns);
  g_ptr_array_unref (engine->dead);
  g_main_context_unref (engine->context);
  close (engine->epfd);
  g_free (engine->scratch);
  g_free (engine);
}

void
crier_engine_set_limits (CrierEngine             *engine,
                         const CrierEngineLimits *limits)
{
  engine->limits = *limits;
}

const CrierEngineStats *
crier_engine_get_stats (CrierEngine *engine)
{
  return &engine->stats;
}

void
crier_engine_count_close (CrierEngine     *engine,
                          CrierCloseReason reason)
{
  g_return_if_fail (reason < CRIER_CLOSE_N_REASONS);
  engine->stats.closed[reason]++;
}

guint
crier_engine_get_n_conns (CrierEngine *engine)
{
  return g_hash_table_size (engine->conns);
}

GMainContext *
crier_engine_get_context (CrierEngine *engine)
{
  return engine->context;
}

gboolean
crier_engine_watch_fd (CrierEngine    *engine,
                       int             fd,
                       CrierEpollItem *item,
                       gboolean        watch)
{
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = item };

  if (watch)
    return epoll_ctl (engine->epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
  return epoll_ctl (engine->epfd, EPOLL_CTL_DEL, fd, NULL) == 0;
}

void
crier_engine_foreach (CrierEngine  *engine,
                      CrierConnFunc func,
                      gpointer      user_data)
{
  GHashTableIter iter;
  gpointer key;
  g_autoptr(GPtrArray) all = g_ptr_array_sized_new (g_hash_table_size (engine->conns));

  g_hash_table_iter_init (&iter, engine->conns);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (all, key);

  for (guint i = 0; i < all->len; i++)
    {
      CrierConn *conn = g_ptr_array_index (all, i);

      if (!conn->closed)
        func (conn, user_data);
    }
}

static void
shutdown_one (CrierConn *conn,
              gpointer   user_data)
{
  if (conn->closing)
    return;
  if (conn->klass->on_shutdown != NULL)
    conn->klass->on_shutdown (conn);
  else
    crier_conn_close (conn, CRIER_CLOSE_SHUTDOWN);
}

void
crier_engine_shutdown_all (CrierEngine *engine)
{
  crier_engine_foreach (engine, shutdown_one, NULL);
}

/* ---- adopting a connection from libsoup -------------------------------- */

static GIOStream *
base_iostream_of (GIOStream *stream)
{
  GIOStream *base = NULL;

  /* libsoup wraps the connection in a SoupIOStream; its "base-iostream"
   * property is the stream we gave soup_server_accept_iostream(). */
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (stream), "base-iostream") != NULL)
    g_object_get (stream, "base-iostream", &base, NULL);
  else
    base = g_object_ref (stream);

  return base;
}

static GByteArray *
drain_buffered (GIOStream *stream)
{
  GInputStream *in = g_io_stream_get_input_stream (stream);
  GByteArray *buf = NULL;
  guint8 tmp[4096];

  if (!G_IS_POLLABLE_INPUT_STREAM (in))
    return NULL;

  for (guint i = 0; i < 64; i++)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (in),
                                                           tmp, sizeof tmp, NULL, &error);

      if (n <= 0)
        break;
      if (buf == NULL)
        buf = g_byte_array_new ();
      g_byte_array_append (buf, tmp, n);
    }

  return buf;
}

CrierConn *
crier_engine_adopt (CrierEngine          *engine,
                    GIOStream            *stream,
                    const char           *remote,
                    const CrierConnClass *klass,
                    gpointer              data,
                    GError              **error)
{
  g_autoptr(GIOStream) owned = stream;
  g_autoptr(GIOStream) base = NULL;
  GSocketConnection *sconn = NULL;
  GSocket *socket;
  CrierConn *conn;
  gboolean tls;
  int fd;
  struct epoll_event ev;

  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);
  g_return_val_if_fail (klass != NULL && klass->on_data != NULL, NULL);

  base = base_iostream_of (stream);
  tls = G_IS_TLS_CONNECTION (base);
  if (tls)
    {
      GIOStream *under = NULL;

      g_object_get (base, "base-io-stream", &under, NULL);
      if (G_IS_SOCKET_CONNECTION (under))
        sconn = G_SOCKET_CONNECTION (under);
      g_clear_object (&under); /* still referenced by the TLS connection */
    }
  else if (G_IS_SOCKET_CONNECTION (base))
    sconn = G_SOCKET_CONNECTION (base);

  if (sconn == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "cannot adopt a %s without a socket", G_OBJECT_TYPE_NAME (base));
      return NULL;
    }
  socket = g_socket_connection_get_socket (sconn);

  conn = g_new0 (CrierConn, 1);
  conn->item.ready = conn_ready;
  conn->engine = engine;
  conn->klass = klass;
  conn->data = data;
  conn->id = ++engine->next_id;
  conn->remote = g_strdup (remote);
  conn->connected_at = g_get_real_time ();
  conn->last_read_ms = engine->now_ms;
  conn->pending_input = drain_buffered (stream);
  /* The listener's bookkeeping follows the connection out of libsoup. */
  conn->token = g_object_steal_data (G_OBJECT (sconn), CRIER_CONN_TOKEN_KEY);
  if (conn->token != NULL)
    conn->token->adopted (conn->token);

  if (tls)
    {
      /* TLS records are decoded by GIO: keep the stream, watch its fd. */
      conn->fd = g_socket_get_fd (socket);
      conn->stream = g_steal_pointer (&owned);
    }
  else
    {
      /* Keep only a file descriptor: every GObject of the HTTP phase is
       * released, so an idle connection costs a few hundred bytes. */
      fd = dup (g_socket_get_fd (socket));
      if (fd < 0)
        {
          int saved = errno;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                       "dup: %s", g_strerror (saved));
          conn_free (conn);
          return NULL;
        }
      conn->fd = fd;
      g_socket_close (socket, NULL);
    }

  ev.events = 0; /* reading starts with crier_conn_start() */
  ev.data.ptr = &conn->item;
  if (epoll_ctl (engine->epfd, EPOLL_CTL_ADD, conn->fd, &ev) < 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "epoll_ctl: %s", g_strerror (saved));
      if (conn->stream == NULL)
        close (conn->fd);
      g_clear_object (&conn->stream);
      conn_free (conn);
      return NULL;
    }
  conn->read_paused = TRUE; /* until crier_conn_start() */

  g_hash_table_add (engine->conns, conn);
  engine->stats.adopted++;

  return conn;
}

/* ---- reading ----------------------------------------------------------- */

static gssize
conn_read (CrierConn *conn,
           guint8    *buf,
           gsize      len)
{
  if (conn->stream != NULL)
    {
      g_autoptr(GError) error = NULL;
      GInputStream *in = g_io_stream_get_input_stream (conn->stream);
      gssize n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (in),
                                                           buf, len, NULL, &error);

      if (n < 0)
        errno = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK) ? EAGAIN : EIO;
      return n;
    }

  return recv (conn->fd, buf, len, 0);
}

static void
deliver (CrierConn    *conn,
         const guint8 *data,
         gsize         len)
{
  conn->bytes_in += len;
  conn->engine->stats.bytes_in += len;
  conn->last_read_ms = conn->engine->now_ms;
  conn->klass->on_data (conn, data, len);
}

static void
conn_read_ready (CrierConn *conn)
{
  CrierEngine *engine = conn->engine;

  for (guint i = 0; i < READS_PER_WAKEUP && !conn->closed && !conn->read_paused; i++)
    {
      gssize n = conn_read (conn, engine->scratch, READ_CHUNK);

      if (n > 0)
        {
          if (conn->closing)
            continue; /* only waiting for the queue to drain or for EOF */
          deliver (conn, engine->scratch, n);
          if ((gsize) n < READ_CHUNK)
            break;
        }
      else if (n == 0)
        {
          if (conn->closing || conn->klass->on_eof == NULL)
            crier_conn_close (conn, CRIER_CLOSE_PEER);
          else
            conn->klass->on_eof (conn);
          break;
        }
      else
        {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            break;
          crier_conn_close (conn, errno == ECONNRESET ? CRIER_CLOSE_PEER : CRIER_CLOSE_IO_ERROR);
          break;
        }
    }
}

static void
conn_update_events (CrierConn *conn)
{
  struct epoll_event ev;

  ev.events = (conn->read_paused ? 0 : (EPOLLIN | EPOLLRDHUP)) | (conn->want_write ? EPOLLOUT : 0);
  ev.data.ptr = &conn->item;
  epoll_ctl (conn->engine->epfd, EPOLL_CTL_MOD, conn->fd, &ev);
}

static void
conn_ready (CrierEpollItem *item,
            guint32         events)
{
  CrierConn *conn = (CrierConn *) item;

  if (conn->closed)
    return;

  if (events & EPOLLOUT)
    conn_flush (conn);

  if (!conn->closed && (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
    {
      if (conn->read_paused)
        {
          /* Reading is paused but the peer hung up: nothing will ever be
           * read again, so say goodbye now. */
          if (events & (EPOLLHUP | EPOLLERR))
            crier_conn_close (conn, CRIER_CLOSE_PEER);
        }
      else
        conn_read_ready (conn);
    }
}

void
crier_conn_start (CrierConn *conn)
{
  g_autoptr(GByteArray) pending = g_steal_pointer (&conn->pending_input);

  if (conn->closed)
    return;

  conn->read_paused = FALSE;
  conn_update_events (conn);

  if (pending != NULL && pending->len > 0)
    deliver (conn, pending->data, pending->len);
}

void
crier_conn_pause_reading (CrierConn *conn,
                          gboolean   paused)
{
  if (conn->closed || conn->read_paused == !!paused)
    return;
  conn->read_paused = !!paused;
  conn_update_events (conn);
}

/* ---- writing ----------------------------------------------------------- */

static void
wq_push (CrierConn *conn,
         GBytes    *bytes)
{
  if (conn->wq_len == conn->wq_cap)
    {
      guint new_cap = conn->wq_cap ? conn->wq_cap * 2 : WQ_INLINE_CAP;
      CrierWriteItem *items = new_cap == WQ_INLINE_CAP ? conn->wq_inline
                                                       : g_new (CrierWriteItem, new_cap);

      for (guint i = 0; i < conn->wq_len; i++)
        items[i] = conn->wq[(conn->wq_head + i) % conn->wq_cap];
      if (conn->wq != conn->wq_inline)
        g_free (conn->wq);
      conn->wq = items;
      conn->wq_cap = new_cap;
      conn->wq_head = 0;
    }

  conn->wq[(conn->wq_head + conn->wq_len) % conn->wq_cap] = (CrierWriteItem) { bytes, 0 };
  conn->wq_len++;
}

static void
wq_clear (CrierConn *conn)
{
  for (guint i = 0; i < conn->wq_len; i++)
    g_bytes_unref (conn->wq[(conn->wq_head + i) % conn->wq_cap].bytes);
  conn->wq_len = 0;
  conn->wq_head = 0;
  conn->queued_bytes = 0;
  /* Back to the inline ring: an idle connection keeps no queue memory. */
  if (conn->wq != conn->wq_inline)
    {
      g_free (conn->wq);
      conn->wq = conn->wq_inline;
      conn->wq_cap = WQ_INLINE_CAP;
    }
}

static void
mark_dirty (CrierConn *conn)
{
  if (conn->dirty || conn->want_write)
    return;
  conn->dirty = TRUE;
  conn->dirty_next = conn->engine->dirty;
  conn->engine->dirty = conn;
  /* No wakeup needed: everything runs on the engine's own context, whose
   * prepare() sees the flush list before the loop sleeps. */
}

static gboolean
check_limits (CrierConn *conn)
{
  CrierEngine *engine = conn->engine;
  const CrierEngineLimits *l = &engine->limits;

  if (l->hard_limit > 0 && conn->queued_bytes > (gsize) l->hard_limit)
    {
      g_debug ("conn %" G_GUINT64_FORMAT " (%s): %" G_GSIZE_FORMAT " bytes queued, over the hard limit: evicted",
               conn->id, conn->remote ? conn->remote : "?", conn->queued_bytes);
      crier_conn_close (conn, CRIER_CLOSE_SLOW);
      return FALSE;
    }

  if (l->soft_limit > 0 && conn->queued_bytes > (gsize) l->soft_limit)
    {
      gint64 now = crier_engine_now_ms (engine);

      if (conn->soft_limit_since == 0)
        conn->soft_limit_since = MAX (now, 1);
      else if (now - conn->soft_limit_since > l->soft_grace_ms)
        {
          g_debug ("conn %" G_GUINT64_FORMAT ": over the soft limit for too long: evicted", conn->id);
          crier_conn_close (conn, CRIER_CLOSE_SLOW);
          return FALSE;
        }
    }

  return TRUE;
}

gboolean
crier_conn_send (CrierConn *conn,
                 GBytes    *bytes)
{
  gsize size = g_bytes_get_size (bytes);

  if (conn->closed || conn->closing)
    return FALSE;
  if (size == 0)
    return TRUE;

  wq_push (conn, g_bytes_ref (bytes));
  conn->queued_bytes += size;
  conn->frames_out++;
  conn->engine->stats.frames_out++;

  if (!check_limits (conn))
    return FALSE;

  mark_dirty (conn);
  return TRUE;
}

gboolean
crier_conn_send_copy (CrierConn  *conn,
                      const void *data,
                      gsize       len)
{
  g_autoptr(GBytes) bytes = g_bytes_new (data, len);

  return crier_conn_send (conn, bytes);
}

static gssize
conn_writev (CrierConn    *conn,
             struct iovec *iov,
             int           n_iov)
{
  if (conn->stream != NULL)
    {
      g_autoptr(GError) error = NULL;
      GOutputStream *out = g_io_stream_get_output_stream (conn->stream);
      GOutputVector vecs[MAX_IOV];
      gsize written = 0;
      GPollableReturn ret;

      for (int i = 0; i < n_iov; i++)
        {
          vecs[i].buffer = iov[i].iov_base;
          vecs[i].size = iov[i].iov_len;
        }
      ret = g_pollable_output_stream_writev_nonblocking (G_POLLABLE_OUTPUT_STREAM (out),
                                                         vecs, n_iov, &written, NULL, &error);
      if (ret == G_POLLABLE_RETURN_OK)
        return written;
      errno = ret == G_POLLABLE_RETURN_WOULD_BLOCK ? EAGAIN : EIO;
      return -1;
    }

  /* send()/sendmsg() rather than writev(): the socket path skips the VFS
   * layer (file position lock, iov_iter setup), which at one call per
   * delivery is measurable (docs/benchmarks.md). */
  if (n_iov == 1)
    return send (conn->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL | MSG_DONTWAIT);
  else
    {
      struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t) n_iov };

      return sendmsg (conn->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
}

static void
conn_flush (CrierConn *conn)
{
  CrierEngine *engine = conn->engine;

  while (conn->wq_len > 0 && !conn->closed)
    {
      struct iovec iov[MAX_IOV];
      int n_iov = 0;
      gssize n;

      for (guint i = 0; i < conn->wq_len && n_iov < MAX_IOV; i++)
        {
          CrierWriteItem *it = &conn->wq[(conn->wq_head + i) % conn->wq_cap];
          gsize size;
          const guint8 *data = g_bytes_get_data (it->bytes, &size);

          iov[n_iov].iov_base = (void *) (data + it->offset);
          iov[n_iov].iov_len = size - it->offset;
          n_iov++;
        }

      n = conn_writev (conn, iov, n_iov);
      engine->stats.writev_calls++;
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK)
            {
              if (!conn->want_write)
                {
                  conn->want_write = TRUE;
                  conn_update_events (conn);
                }
              return;
            }
          crier_conn_close (conn, errno == EPIPE || errno == ECONNRESET ? CRIER_CLOSE_PEER : CRIER_CLOSE_IO_ERROR);
          return;
        }

      conn->bytes_out += n;
      engine->stats.bytes_out += n;
      conn->queued_bytes -= n;

      while (n > 0)
        {
          CrierWriteItem *it = &conn->wq[conn->wq_head];
          gsize left = g_bytes_get_size (it->bytes) - it->offset;

          if ((gsize) n < left)
            {
              it->offset += n;
              n = 0;
            }
          else
            {
              n -= left;
              g_bytes_unref (it->bytes);
              conn->wq_head = (conn->wq_head + 1) % conn->wq_cap;
              conn->wq_len--;
            }
        }
    }

  if (conn->closed)
    return;

  if (conn->wq_len == 0)
    {
      wq_clear (conn);
      conn->soft_limit_since = 0;
      if (conn->want_write)
        {
          conn->want_write = FALSE;
          conn_update_events (conn);
        }
      if (conn->closing)
        conn_finish_closing (conn);
    }
  else if (engine->limits.soft_limit > 0 && conn->queued_bytes <= (gsize) engine->limits.soft_limit)
    conn->soft_limit_since = 0;
}

void
crier_conn_flush (CrierConn *conn)
{
  if (!conn->closed && !conn->want_write)
    conn_flush (conn);
}

/* ---- closing ----------------------------------------------------------- */

void
crier_conn_close (CrierConn       *conn,
                  CrierCloseReason reason)
{
  CrierEngine *engine = conn->engine;

  if (conn->closed)
    return;

  /* The peer's EOF after our goodbye keeps the reason given then. */
  if (conn->closing && reason == CRIER_CLOSE_PEER)
    reason = (CrierCloseReason) conn->close_reason;

  conn->closed = TRUE;
  crier_timer_wheel_cancel (&engine->wheel, &conn->timer);
  epoll_ctl (engine->epfd, EPOLL_CTL_DEL, conn->fd, NULL);

  /* Free the socket and the queue at once: an evicted slow reader must not
   * hold memory until the end of the iteration. */
  if (conn->stream != NULL)
    {
      GIOStream *base = base_iostream_of (conn->stream);
      GIOStream *under = NULL;

      if (G_IS_TLS_CONNECTION (base))
        g_object_get (base, "base-io-stream", &under, NULL);
      if (G_IS_SOCKET_CONNECTION (under))
        g_socket_close (g_socket_connection_get_socket (G_SOCKET_CONNECTION (under)), NULL);
      g_clear_object (&under);
      g_object_unref (base);
      g_clear_object (&conn->stream);
    }
  else
    close (conn->fd);
  conn->fd = -1;
  wq_clear (conn);

  engine->stats.closed[reason]++;
  g_hash_table_remove (engine->conns, conn);

  conn->close_reason = reason;
  g_ptr_array_add (engine->dead, conn);
}

/* Everything queued is out: half-close, then wait (bounded by the close
 * deadline) for the peer's EOF before closing, so that our last bytes are
 * not destroyed by a reset (a lingering close). */
static void
conn_finish_closing (CrierConn *conn)
{
  if (conn->stream != NULL || shutdown (conn->fd, SHUT_WR) < 0)
    {
      crier_conn_close (conn, (CrierCloseReason) conn->close_reason);
      return;
    }
  if (conn->read_paused)
    crier_conn_pause_reading (conn, FALSE);
}

void
crier_conn_close_after_flush (CrierConn       *conn,
                              CrierCloseReason reason)
{
  CrierEngine *engine = conn->engine;

  if (conn->closed || conn->closing)
    return;

  conn->closing = TRUE;
  conn->close_deadline = engine->now_ms + engine->limits.close_timeout_ms;
  crier_timer_wheel_schedule (&engine->wheel, &conn->timer, conn->close_deadline);
  conn->close_reason = reason;
  /* Reading goes on (and discards) to notice the peer's EOF. */

  if (conn->wq_len == 0)
    conn_finish_closing (conn);
  else
    mark_dirty (conn);
}
