/* bench-floor.c: the kernel floor of one-write-per-delivery fan-out.
 *
 * The foundation issue measures crierd's CPU per delivery against "a bare
 * epoll server doing one write() per delivery".  This is that server, so
 * the ratio can be taken in the same session as crierd's figure instead of
 * against a number measured on another day: crier-bench drives it exactly
 * as it drives crierd's raw engine (tests/bench/run-suite.sh, --floor).
 *
 * What it does and nothing more: a GET with Sec-WebSocket-Key becomes a
 * subscriber (101, RFC 6455 accept key); a POST's body is framed once as an
 * unmasked text frame and written to every subscriber with one write(),
 * no queue and no coalescing (a short write closes that subscriber, which
 * the benchmark reports as loss), then the POST gets 204.  Whatever a
 * subscriber sends is read and dropped.  No routing, limits, pings or
 * timers: everything crierd does beyond this is what the ratio shows.
 *
 * Listens on 127.0.0.1 only; stops on SIGTERM or SIGINT, or after
 * --max-seconds (default 600).
 */
#include "config.h"

#include <glib.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS   1024
#define FLOOR_MAX_INPUT    (1024 * 1024)   /* a request head and body, at most */
#define WS_GUID      "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

typedef enum
{
  CONN_HTTP,        /* reading requests */
  CONN_SUBSCRIBER,  /* upgraded: gets every publication */
} ConnKind;

typedef struct
{
  int         fd;
  ConnKind    kind;
  GByteArray *in;
} Conn;

typedef struct
{
  int         epfd;
  int         listen_fd;
  GPtrArray  *subscribers;   /* Conn* */
  GPtrArray  *closed;        /* Conn*, freed after the current epoll batch */
  guint64     publications;
  guint64     deliveries;
  guint64     dropped;       /* subscribers closed on a short write */
} Floor;

static volatile sig_atomic_t stop_requested;

static void
on_signal (int signum)
{
  stop_requested = 1;
}

static void
conn_free (gpointer data)
{
  Conn *c = data;

  g_byte_array_unref (c->in);
  g_free (c);
}

/* Closes the socket now; the struct lives until the end of the epoll
 * batch, which may still hold an event for it (fd -1: skipped). */
static void
conn_close (Floor *f,
            Conn  *c)
{
  if (c->kind == CONN_SUBSCRIBER)
    g_ptr_array_remove_fast (f->subscribers, c);
  epoll_ctl (f->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close (c->fd);
  c->fd = -1;
  g_ptr_array_add (f->closed, c);
}

/* Writes all of @data or fails; only for short replies on a fresh socket. */
static gboolean
write_all (int         fd,
           const void *data,
           gsize       len)
{
  const guint8 *p = data;

  while (len > 0)
    {
      gssize n = send (fd, p, len, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      p += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* The value of header @name in @head (NUL-terminated), or NULL. */
static char *
header_value (const char *head,
              const char *name)
{
  gsize name_len = strlen (name);

  for (const char *line = strstr (head, "\r\n"); line != NULL; line = strstr (line + 2, "\r\n"))
    {
      const char *p = line + 2;

      if (g_ascii_strncasecmp (p, name, name_len) == 0 && p[name_len] == ':')
        {
          const char *v = p + name_len + 1;
          const char *end = strstr (v, "\r\n");

          while (*v == ' ' || *v == '\t')
            v++;
          return g_strndup (v, end != NULL ? (gsize) (end - v) : strlen (v));
        }
    }
  return NULL;
}

static gboolean
upgrade (Floor      *f,
         Conn       *c,
         const char *key)
{
  g_autoptr(GChecksum) sha = g_checksum_new (G_CHECKSUM_SHA1);
  guint8 digest[20];
  gsize digest_len = sizeof digest;
  g_autofree char *accept = NULL;
  g_autofree char *reply = NULL;

  g_checksum_update (sha, (const guchar *) key, (gssize) strlen (key));
  g_checksum_update (sha, (const guchar *) WS_GUID, (gssize) strlen (WS_GUID));
  g_checksum_get_digest (sha, digest, &digest_len);
  accept = g_base64_encode (digest, digest_len);
  reply = g_strdup_printf ("HTTP/1.1 101 Switching Protocols\r\n"
                           "Upgrade: websocket\r\n"
                           "Connection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
  if (!write_all (c->fd, reply, strlen (reply)))
    return FALSE;
  c->kind = CONN_SUBSCRIBER;
  g_ptr_array_add (f->subscribers, c);
  return TRUE;
}

/* One frame for everyone, one write() per subscriber. */
static void
publish (Floor        *f,
         const guint8 *body,
         gsize         len)
{
  g_autofree guint8 *frame = g_malloc (len + 10);
  gsize hlen;

  frame[0] = 0x81;  /* FIN, text */
  if (len < 126)
    {
      frame[1] = (guint8) len;
      hlen = 2;
    }
  else if (len < 65536)
    {
      frame[1] = 126;
      frame[2] = (guint8) (len >> 8);
      frame[3] = (guint8) len;
      hlen = 4;
    }
  else
    {
      frame[1] = 127;
      for (int i = 0; i < 8; i++)
        frame[2 + i] = (guint8) ((guint64) len >> (56 - 8 * i));
      hlen = 10;
    }
  memcpy (frame + hlen, body, len);

  f->publications++;
  for (guint i = 0; i < f->subscribers->len;)
    {
      Conn *s = g_ptr_array_index (f->subscribers, i);
      gssize n = send (s->fd, frame, hlen + len, MSG_NOSIGNAL | MSG_DONTWAIT);

      if (n == (gssize) (hlen + len))
        {
          f->deliveries++;
          i++;
          continue;
        }
      f->dropped++;
      conn_close (f, s);   /* moves the last subscriber to i */
    }
}

/* Handles every complete request in c->in; FALSE: close the connection. */
static gboolean
handle_requests (Floor *f,
                 Conn  *c)
{
  for (;;)
    {
      guint8 *data = c->in->data;
      guint8 *end_of_head = c->in->len >= 4 ? memmem (data, c->in->len, "\r\n\r\n", 4) : NULL;
      g_autofree char *head = NULL;
      g_autofree char *key = NULL;
      g_autofree char *length = NULL;
      gsize head_len, body_len = 0;
      guint64 value = 0;

      if (end_of_head == NULL)
        return c->in->len < 65536;
      head_len = (gsize) (end_of_head - data) + 4;
      head = g_strndup ((const char *) data, head_len - 2);

      if (g_str_has_prefix (head, "GET ") && (key = header_value (head, "Sec-WebSocket-Key")) != NULL)
        {
          g_byte_array_remove_range (c->in, 0, (guint) head_len);
          return upgrade (f, c, key);
        }
      if (!g_str_has_prefix (head, "POST "))
        {
          static const char reply[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

          if (!write_all (c->fd, reply, sizeof reply - 1))
            return FALSE;
          g_byte_array_remove_range (c->in, 0, (guint) head_len);
          continue;
        }

      length = header_value (head, "Content-Length");
      if (length == NULL || !g_ascii_string_to_unsigned (length, 10, 0, FLOOR_MAX_INPUT, &value, NULL))
        return FALSE;
      body_len = (gsize) value;
      if (c->in->len < head_len + body_len)
        return TRUE;

      publish (f, data + head_len, body_len);
      {
        static const char reply[] = "HTTP/1.1 204 No Content\r\n\r\n";

        if (!write_all (c->fd, reply, sizeof reply - 1))
          return FALSE;
      }
      g_byte_array_remove_range (c->in, 0, (guint) (head_len + body_len));
    }
}

static void
conn_readable (Floor *f,
               Conn  *c)
{
  guint8 buf[65536];

  if (c->fd < 0)
    return;
  for (;;)
    {
      gssize n = recv (c->fd, buf, sizeof buf, 0);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
      if (n <= 0)
        {
          conn_close (f, c);
          return;
        }
      if (c->kind == CONN_SUBSCRIBER)
        continue;  /* close frames and the like: dropped */
      if (c->in->len + (gsize) n > FLOOR_MAX_INPUT)
        {
          conn_close (f, c);
          return;
        }
      g_byte_array_append (c->in, buf, (guint) n);
      if (!handle_requests (f, c))
        {
          conn_close (f, c);
          return;
        }
      if (c->kind == CONN_SUBSCRIBER)
        g_byte_array_set_size (c->in, 0);
    }
}

static void
accept_all (Floor *f)
{
  for (;;)
    {
      int fd = accept4 (f->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      struct epoll_event ev = { .events = EPOLLIN };
      int one = 1;
      Conn *c;

      if (fd < 0)
        {
          if (errno == EINTR || errno == ECONNABORTED)
            continue;
          return;  /* EAGAIN, or EMFILE: the backlog waits */
        }
      setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      c = g_new0 (Conn, 1);
      c->fd = fd;
      c->kind = CONN_HTTP;
      c->in = g_byte_array_new ();
      ev.data.ptr = c;
      if (epoll_ctl (f->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        {
          close (fd);
          g_byte_array_unref (c->in);
          g_free (c);
        }
    }
}

int
main (int    argc,
      char **argv)
{
  int port = 0, max_seconds = 600;
  g_autofree char *port_file = NULL;
  GOptionEntry entries[] = {
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "Port on 127.0.0.1 (default 0: any free one)", "PORT" },
    { "port-file", 0, 0, G_OPTION_ARG_FILENAME, &port_file, "Write the port to this file", "FILE" },
    { "max-seconds", 0, 0, G_OPTION_ARG_INT, &max_seconds, "Stop after this long (default 600)", "S" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- one write() per delivery, the fan-out floor");
  g_autoptr(GError) error = NULL;
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t addr_len = sizeof addr;
  struct epoll_event ev = { .events = EPOLLIN };
  struct rlimit rl;
  Floor f = { 0 };
  int one = 1;
  gint64 deadline;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("bench-floor: %s\n", error->message);
      return 2;
    }
  if (port < 0 || port > 65535 || max_seconds < 1 || max_seconds > 3600)
    {
      g_printerr ("bench-floor: --port must be 0..65535 and --max-seconds 1..3600\n");
      return 2;
    }

  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
  signal (SIGPIPE, SIG_IGN);
  signal (SIGTERM, on_signal);
  signal (SIGINT, on_signal);

  f.listen_fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  addr.sin_port = htons ((guint16) port);
  if (f.listen_fd < 0 ||
      setsockopt (f.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      bind (f.listen_fd, (struct sockaddr *) &addr, sizeof addr) < 0 ||
      listen (f.listen_fd, 4096) < 0 ||
      getsockname (f.listen_fd, (struct sockaddr *) &addr, &addr_len) < 0)
    {
      g_printerr ("bench-floor: cannot listen on 127.0.0.1:%d: %s\n", port, g_strerror (errno));
      return 1;
    }
  port = ntohs (addr.sin_port);
  if (port_file != NULL)
    {
      g_autofree char *text = g_strdup_printf ("%d\n", port);

      if (!g_file_set_contents (port_file, text, -1, &error))
        {
          g_printerr ("bench-floor: %s\n", error->message);
          return 1;
        }
    }

  f.epfd = epoll_create1 (EPOLL_CLOEXEC);
  f.subscribers = g_ptr_array_new ();
  f.closed = g_ptr_array_new_with_free_func (conn_free);
  ev.data.ptr = NULL;  /* the listening socket */
  if (f.epfd < 0 || epoll_ctl (f.epfd, EPOLL_CTL_ADD, f.listen_fd, &ev) < 0)
    {
      g_printerr ("bench-floor: epoll: %s\n", g_strerror (errno));
      return 1;
    }

  deadline = g_get_monotonic_time () + (gint64) max_seconds * G_USEC_PER_SEC;
  while (!stop_requested && g_get_monotonic_time () < deadline)
    {
      struct epoll_event events[MAX_EVENTS];
      int n = epoll_wait (f.epfd, events, MAX_EVENTS, 200);

      for (int i = 0; i < n; i++)
        {
          if (events[i].data.ptr == NULL)
            accept_all (&f);
          else
            conn_readable (&f, events[i].data.ptr);
        }
      g_ptr_array_set_size (f.closed, 0);
    }

  g_printerr ("bench-floor: %" G_GUINT64_FORMAT " publications, %" G_GUINT64_FORMAT
              " deliveries, %" G_GUINT64_FORMAT " subscribers dropped on a short write\n",
              f.publications, f.deliveries, f.dropped);
  /* Connections still open are closed by exit. */
  g_ptr_array_unref (f.subscribers);
  g_ptr_array_unref (f.closed);
  close (f.epfd);
  close (f.listen_fd);
  return 0;
}
