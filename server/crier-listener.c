/* crier-listener.c: listening sockets, accept loop, connection cap.
 *
 * Key functions: crier_listener_new (socket, SO_REUSEPORT, bind, listen),
 * listener_ready (batched accept4 with cap and EMFILE handling),
 * hand_to_soup (soup_server_accept_iostream).
 */
#include "config.h"

#include "crier-listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPTS_PER_WAKEUP 128
#define EMFILE_PAUSE_MS    100
#define LOG_INTERVAL_US    (5 * G_USEC_PER_SEC)

struct _CrierListener
{
  CrierEpollItem   item;
  CrierEngine     *engine;
  SoupServer      *soup;
  CrierConnBudget *budget;
  int              fd;
  gboolean         tcp_nodelay;
  gboolean         watching;
  guint            resume_id;
  guint16          port;
  char            *address;
};

CrierConnBudget *
crier_conn_budget_new (gint64 max_connections)
{
  CrierConnBudget *budget = g_rc_box_new0 (CrierConnBudget);

  budget->max_connections = max_connections;
  return budget;
}

CrierConnBudget *
crier_conn_budget_ref (CrierConnBudget *budget)
{
  return g_rc_box_acquire (budget);
}

void
crier_conn_budget_unref (CrierConnBudget *budget)
{
  g_rc_box_release (budget);
}

gboolean
crier_parse_listen_address (const char              *address,
                            struct sockaddr_storage *out,
                            socklen_t               *out_len,
                            GError                 **error)
{
  g_autofree char *host = NULL;
  const char *colon;
  const char *port_text;
  guint64 port;
  char *end = NULL;

  memset (out, 0, sizeof *out);

  if (address == NULL || *address == '\0')
    goto bad;

  if (address[0] == '[')
    {
      const char *close = strchr (address, ']');

      if (close == NULL || close[1] != ':')
        goto bad;
      host = g_strndup (address + 1, close - address - 1);
      port_text = close + 2;
    }
  else
    {
      colon = strrchr (address, ':');
      if (colon == NULL)
        goto bad;
      host = g_strndup (address, colon - address);
      port_text = colon + 1;
    }

  port = g_ascii_strtoull (port_text, &end, 10);
  if (*port_text == '\0' || end == NULL || *end != '\0' || port > 65535)
    goto bad;

  if (g_str_equal (host, "*") || g_str_equal (host, ""))
    {
      g_free (host);
      host = g_strdup ("0.0.0.0");
    }
  else if (g_str_equal (host, "localhost"))
    {
      g_free (host);
      host = g_strdup ("127.0.0.1");
    }

  {
    struct sockaddr_in *in4 = (struct sockaddr_in *) out;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) out;

    if (inet_pton (AF_INET, host, &in4->sin_addr) == 1)
      {
        in4->sin_family = AF_INET;
        in4->sin_port = htons (port);
        *out_len = sizeof *in4;
        return TRUE;
      }
    if (inet_pton (AF_INET6, host, &in6->sin6_addr) == 1)
      {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons (port);
        *out_len = sizeof *in6;
        return TRUE;
      }
  }

bad:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "'%s' is not a listen address (expected host:port, [ipv6]:port or *:port)",
               address ? address : "");
  return FALSE;
}

static void
http_phase_ended (gpointer data)
{
  CrierConnBudget *budget = data;

  budget->http_open--;
  crier_conn_budget_unref (budget);
}

static gboolean
should_log (gint64 *last)
{
  gint64 now = g_get_monotonic_time ();

  if (now - *last < LOG_INTERVAL_US)
    return FALSE;
  *last = now;
  return TRUE;
}

static void
refuse (CrierListener *self,
        int            fd)
{
  static const char response[] =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 25\r\n"
    "Retry-After: 5\r\n"
    "Connection: close\r\n\r\n"
    "connection limit reached\n";
  CrierConnBudget *budget = self->budget;

  budget->refused_cap++;
  if (should_log (&budget->last_refusal_log))
    g_warning ("connection cap of %" G_GINT64_FORMAT " reached on %s: refusing "
               "(%" G_GUINT64_FORMAT " refused so far)",
               budget->max_connections, self->address, budget->refused_cap);

  /* Best effort: a non-blocking send into an empty socket buffer. */
  if (send (fd, response, sizeof response - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
    { /* nothing to do: we close anyway */ }
  close (fd);
}

static gboolean
hand_to_soup (CrierListener   *self,
              int              fd,
              struct sockaddr *peer,
              socklen_t        peer_len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GSocketAddress) remote = NULL;
  g_autoptr(GSocketAddress) local = NULL;

  socket = g_socket_new_from_fd (fd, &error);
  if (socket == NULL)
    {
      g_debug ("accepted socket rejected by GIO: %s", error->message);
      close (fd);
      return FALSE;
    }

  remote = g_socket_address_new_from_native (peer, peer_len);
  local = g_socket_get_local_address (socket, NULL);
  if (remote == NULL || local == NULL)
    return FALSE; /* closed with the socket */

  conn = g_socket_connection_factory_create_connection (socket);
  self->budget->http_open++;
  g_object_set_data_full (G_OBJECT (conn), "crier-budget",
                          crier_conn_budget_ref (self->budget), http_phase_ended);

  if (!soup_server_accept_iostream (self->soup, G_IO_STREAM (conn), local, remote, &error))
    {
      g_debug ("libsoup refused a connection: %s", error->message);
      return FALSE;
    }

  return TRUE;
}

static gboolean resume_accepting (gpointer data);

static gboolean
port_taken (const struct sockaddr_storage *addr,
            socklen_t                      addr_len)
{
  const struct sockaddr_in *in4 = (const struct sockaddr_in *) addr;
  int one = 1;
  int probe;
  gboolean taken;

  if (in4->sin_port == 0)
    return FALSE; /* the kernel picks a free port */

  probe = socket (addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0)
    return FALSE;
  setsockopt (probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (addr->ss_family == AF_INET6)
    setsockopt (probe, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  taken = bind (probe, (const struct sockaddr *) addr, addr_len) < 0 && errno == EADDRINUSE;
  close (probe);
  return taken;
}

static void
listener_ready (CrierEpollItem *item,
                guint32         events)
{
  CrierListener *self = (CrierListener *) item;
  CrierConnBudget *budget = self->budget;

  for (guint i = 0; i < ACCEPTS_PER_WAKEUP; i++)
    {
      struct sockaddr_storage peer;
      socklen_t peer_len = sizeof peer;
      int fd = accept4 (self->fd, (struct sockaddr *) &peer, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);

      if (fd < 0)
        {
          if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
          if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
            continue;

          /* EMFILE, ENFILE, ENOBUFS, ENOMEM: the pending connection stays in
           * the backlog; stop watching for a moment instead of spinning. */
          budget->accept_errors++;
          if (should_log (&budget->last_error_log))
            g_warning ("accept on %s: %s; pausing accepts for %d ms "
                       "(%" G_GUINT64_FORMAT " accept errors so far)",
                       self->address, g_strerror (errno), EMFILE_PAUSE_MS, budget->accept_errors);
          if (self->watching)
            {
              crier_engine_watch_fd (self->engine, self->fd, &self->item, FALSE);
              self->watching = FALSE;
            }
          if (self->resume_id == 0)
            {
              GSource *src = g_timeout_source_new (EMFILE_PAUSE_MS);

              g_source_set_callback (src, resume_accepting, self, NULL);
              self->resume_id = g_source_attach (src, crier_engine_get_context (self->engine));
              g_source_unref (src);
            }
          return;
        }

      budget->accepted++;
      if (budget->max_connections > 0 &&
          budget->http_open + (gint64) crier_engine_get_n_conns (self->engine) >= budget->max_connections)
        {
          refuse (self, fd);
          continue;
        }

      if (self->tcp_nodelay)
        {
          int one = 1;

          setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }

      hand_to_soup (self, fd, (struct sockaddr *) &peer, peer_len);
    }
}

static gboolean
resume_accepting (gpointer data)
{
  CrierListener *self = data;

  self->resume_id = 0;
  if (self->fd >= 0 && !self->watching)
    self->watching = crier_engine_watch_fd (self->engine, self->fd, &self->item, TRUE);
  return G_SOURCE_REMOVE;
}

CrierListener *
crier_listener_new (CrierEngine     *engine,
                    SoupServer      *soup,
                    CrierConnBudget *budget,
                    const char      *address,
                    int              backlog,
                    gboolean         tcp_nodelay,
                    GError         **error)
{
  g_autoptr(CrierListener) self = NULL;
  struct sockaddr_storage addr;
  socklen_t addr_len;
  int one = 1;
  char host[INET6_ADDRSTRLEN];

  if (!crier_parse_listen_address (address, &addr, &addr_len, error))
    return NULL;

  self = g_new0 (CrierListener, 1);
  self->item.ready = listener_ready;
  self->engine = engine;
  self->soup = g_object_ref (soup);
  self->budget = crier_conn_budget_ref (budget);
  self->tcp_nodelay = tcp_nodelay;
  self->fd = socket (addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (self->fd < 0)
    goto fail;

  setsockopt (self->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);

  /* SO_REUSEPORT lets several of our loops share a port (the kernel spreads
   * accepts), but it would also let a second crierd started by mistake
   * take half of the connections silently. Refuse when someone else
   * already listens there: a bind without the option tells. */
  if (port_taken (&addr, addr_len))
    {
      errno = EADDRINUSE;
      goto fail;
    }
  setsockopt (self->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (addr.ss_family == AF_INET6)
    setsockopt (self->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);

  if (bind (self->fd, (struct sockaddr *) &addr, addr_len) < 0 ||
      listen (self->fd, backlog) < 0)
    goto fail;

  addr_len = sizeof addr;
  if (getsockname (self->fd, (struct sockaddr *) &addr, &addr_len) < 0)
    goto fail;

  if (addr.ss_family == AF_INET6)
    {
      struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &addr;

      inet_ntop (AF_INET6, &in6->sin6_addr, host, sizeof host);
      self->port = ntohs (in6->sin6_port);
      self->address = g_strdup_printf ("[%s]:%u", host, self->port);
    }
  else
    {
      struct sockaddr_in *in4 = (struct sockaddr_in *) &addr;

      inet_ntop (AF_INET, &in4->sin_addr, host, sizeof host);
      self->port = ntohs (in4->sin_port);
      self->address = g_strdup_printf ("%s:%u", host, self->port);
    }

  self->watching = crier_engine_watch_fd (engine, self->fd, &self->item, TRUE);
  if (!self->watching)
    goto fail;

  return g_steal_pointer (&self);

fail:
  {
    int saved = errno;

    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                 "cannot listen on %s: %s", address, g_strerror (saved));
    return NULL;
  }
}

void
crier_listener_stop (CrierListener *self)
{
  if (self->fd < 0)
    return;
  if (self->watching)
    crier_engine_watch_fd (self->engine, self->fd, &self->item, FALSE);
  self->watching = FALSE;
  if (self->resume_id != 0)
    {
      GSource *src = g_main_context_find_source_by_id (crier_engine_get_context (self->engine), self->resume_id);

      if (src != NULL)
        g_source_destroy (src);
      self->resume_id = 0;
    }
  close (self->fd);
  self->fd = -1;
}

void
crier_listener_free (CrierListener *self)
{
  if (self == NULL)
    return;
  crier_listener_stop (self);
  g_clear_object (&self->soup);
  g_clear_pointer (&self->budget, crier_conn_budget_unref);
  g_free (self->address);
  g_free (self);
}

guint16
crier_listener_get_port (CrierListener *self)
{
  return self->port;
}

const char *
crier_listener_get_address (CrierListener *self)
{
  return self->address;
}
