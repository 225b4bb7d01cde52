/* test-soak.c: a bounded soak of crierd (a subprocess, so that its RSS and
 * descriptors are its own) and fault tests.  Suite 'slow'.
 *
 * /soak/churn: for CRIER_SOAK_SECONDS (default 120) clients connect,
 * subscribe and leave at random (a close frame, an abrupt RST with
 * SO_LINGER 0, or a RST in the middle of a frame), slow readers never
 * read (and are evicted by the outbound limits), while well-behaved
 * subscribers check that every publication arrives in order.  Afterwards
 * crierd's RSS must be back within 12.5 % of its baseline and its
 * descriptor count exactly at baseline.
 *
 * Faults: a log on a full disk (/dev/full: ENOSPC), a log pipe nobody
 * reads, a peer that resets in the middle of a frame, and a peer that
 * vanishes without FIN (it never answers pings: 3012). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crier-ws-codec.h"
#include "test-utils.h"

/* ---- crierd as a subprocess ---------------------------------------------- */

typedef struct
{
  GPid     pid;
  char    *dir;
  char    *socket;
  guint16  port;
} Crierd;

/* crierd dies with the test, even when an assertion aborts it. */
static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* @log_fd: crierd's stderr (-1: a file in the temporary directory). */
static void
crierd_start (Crierd             *d,
              const char * const *extra,
              int                 log_fd)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *port_file = NULL;
  g_autofree char *ports = NULL;
  const char *crierd = g_getenv ("CRIERD");
  int own_log = -1;

  g_assert_nonnull (crierd);
  memset (d, 0, sizeof *d);
  d->dir = g_dir_make_tmp ("crier-soak-XXXXXX", &error);
  g_assert_no_error (error);
  port_file = g_build_filename (d->dir, "ports", NULL);
  d->socket = g_build_filename (d->dir, "admin.sock", NULL);
  g_ptr_array_add (argv, g_strdup (crierd));
  g_ptr_array_add (argv, g_strdup ("--port-file"));
  g_ptr_array_add (argv, g_strdup (port_file));
  g_ptr_array_add (argv, g_strdup ("--set"));
  g_ptr_array_add (argv, g_strdup ("server.listen=127.0.0.1:0"));
  g_ptr_array_add (argv, g_strdup ("--set"));
  g_ptr_array_add (argv, g_strdup_printf ("admin.socket=%s", d->socket));
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    {
      g_ptr_array_add (argv, g_strdup ("--set"));
      g_ptr_array_add (argv, g_strdup (extra[i]));
    }
  g_ptr_array_add (argv, NULL);

  if (log_fd < 0)
    {
      g_autofree char *log = g_build_filename (d->dir, "log", NULL);

      own_log = log_fd = g_open (log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
      g_assert_cmpint (log_fd, >=, 0);
    }
  g_spawn_async_with_fds (NULL, (char **) argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD, die_with_parent, NULL,
                          &d->pid, -1, log_fd, log_fd, &error);
  g_assert_no_error (error);
  if (own_log >= 0)
    close (own_log);
  for (guint i = 0; i < 1000 && !g_file_test (port_file, G_FILE_TEST_EXISTS); i++)
    g_usleep (10000);
  g_assert_true (g_file_get_contents (port_file, &ports, NULL, NULL));
  d->port = (guint16) g_ascii_strtoull (ports, NULL, 10);
  g_assert_cmpuint (d->port, >, 0);
  g_unlink (port_file);
}

static void
crierd_stop (Crierd *d)
{
  int status = 0;
  g_autofree char *log = g_build_filename (d->dir, "log", NULL);

  g_assert_cmpint (kill (d->pid, SIGTERM), ==, 0);
  for (guint i = 0; i < 2000 && d->pid != 0; i++)
    {
      if (waitpid (d->pid, &status, WNOHANG) == d->pid)
        d->pid = 0;
      else
        g_usleep (10000);
    }
  if (d->pid != 0)
    {
      kill (d->pid, SIGKILL);
      waitpid (d->pid, NULL, 0);
      g_error ("crierd did not exit on SIGTERM");
    }
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  g_unlink (log);
  g_unlink (d->socket);
  g_rmdir (d->dir);
  g_free (d->dir);
  g_free (d->socket);
}

static gint64
proc_rss_kib (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *status = NULL;
  const char *p;

  if (!g_file_get_contents (path, &status, NULL, NULL))
    return -1;
  p = strstr (status, "VmRSS:");
  return p ? g_ascii_strtoll (p + 6, NULL, 10) : -1;
}

static guint
proc_fd_count (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/fd", (int) pid);
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

/* GET @path on the admin Unix socket (HTTP); the body. */
static char *
admin_get (Crierd     *d,
           const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_autofree char *req = g_strdup_printf ("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
  struct timeval tv = { .tv_sec = 10 };
  GString *s = g_string_new (NULL);
  char buf[8192];
  ssize_t n;

  g_strlcpy (addr.sun_path, d->socket, sizeof addr.sun_path);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  g_assert_cmpint (send (fd, req, strlen (req), MSG_NOSIGNAL), ==, (gssize) strlen (req));
  while ((n = recv (fd, buf, sizeof buf, 0)) > 0)
    g_string_append_len (s, buf, n);
  close (fd);
  return g_string_free (s, FALSE);
}

/* The value of a Prometheus sample line "@name VALUE". */
static double
metric (const char *text,
        const char *name)
{
  g_autofree char *needle = g_strconcat ("\n", name, " ", NULL);
  const char *p = strstr (text, needle);

  return p ? g_ascii_strtod (p + strlen (needle), NULL) : -1;
}

/* ---- raw clients (blocking connect, then non-blocking) -------------------- */

static int
tcp_connect (guint16 port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (port),
                              .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  return fd;
}

static void
send_all (int         fd,
          const void *data,
          gsize       len)
{
  const guint8 *p = data;

  while (len > 0)
    {
      ssize_t n = send (fd, p, len, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;  /* the peer went away: the caller notices on read */
      p += n;
      len -= n;
    }
}

static void
send_frame (int         fd,
            guint8      opcode,
            const char *text)
{
  static const guint8 mask[4] = { 1, 2, 3, 4 };
  g_autoptr(GBytes) frame = crier_ws_client_frame_new (opcode, TRUE, mask, text, strlen (text));
  gsize len;
  const guint8 *p = g_bytes_get_data (frame, &len);

  send_all (fd, p, len);
}

/* Upgrade, connect and subscribe, pipelined without waiting. */
static int
cf_client (guint16     port,
           const char *channel)
{
  int fd = tcp_connect (port);
  g_autofree char *cmds = g_strdup_printf ("{\"id\":1,\"connect\":{}}\n"
                                           "{\"id\":2,\"subscribe\":{\"channel\":\"%s\"}}", channel);
  const char *req = "GET /connection/websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n";

  send_all (fd, req, strlen (req));
  send_frame (fd, CRIER_WS_OP_TEXT, cmds);
  return fd;
}

static void
close_rst (int fd)
{
  struct linger l = { .l_onoff = 1, .l_linger = 0 };

  setsockopt (fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close (fd);
}

/* A subscriber that reads everything and checks the order of "seq". */
typedef struct
{
  int         fd;
  GByteArray *in;
  gboolean    head_done;
  gint64      next_seq;     /* expected */
  guint64     received;
  gboolean    failed;
} Reader;

static void
reader_parse (Reader *r)
{
  if (!r->head_done)
    {
      guint8 *end = memmem (r->in->data, r->in->len, "\r\n\r\n", 4);

      if (end == NULL)
        return;
      g_assert_true (g_str_has_prefix ((const char *) r->in->data, "HTTP/1.1 101"));
      g_byte_array_remove_range (r->in, 0, end + 4 - r->in->data);
      r->head_done = TRUE;
    }
  for (;;)
    {
      guint64 len;
      gsize hdr = 2;
      const guint8 *d = r->in->data;

      if (r->in->len < 2)
        return;
      len = d[1] & 0x7f;
      if (len == 126)
        {
          if (r->in->len < 4)
            return;
          len = (d[2] << 8) | d[3];
          hdr = 4;
        }
      else if (len == 127)
        {
          if (r->in->len < 10)
            return;
          len = 0;
          for (int i = 0; i < 8; i++)
            len = (len << 8) | d[2 + i];
          hdr = 10;
        }
      if (r->in->len < hdr + len)
        return;
      if ((d[0] & 0x0f) == CRIER_WS_OP_TEXT)
        {
          g_autofree char *text = g_strndup ((const char *) d + hdr, len);
          const char *p = text;

          while ((p = strstr (p, "\"seq\":")) != NULL)
            {
              gint64 seq = g_ascii_strtoll (p + 6, NULL, 10);

              if (r->next_seq >= 0 && seq != r->next_seq)
                {
                  g_test_message ("subscriber %d: expected seq %" G_GINT64_FORMAT ", got %" G_GINT64_FORMAT,
                                  r->fd, r->next_seq, seq);
                  r->failed = TRUE;
                }
              r->next_seq = seq + 1;
              r->received++;
              p += 6;
            }
          /* The protocol's ping: answer it, as a real client does. */
          if (strcmp (text, "{}") == 0)
            send_frame (r->fd, CRIER_WS_OP_TEXT, "{}");
        }
      g_byte_array_remove_range (r->in, 0, hdr + len);
    }
}

static void
reader_poll (Reader *r)
{
  for (;;)
    {
      guint8 buf[16384];
      ssize_t n = recv (r->fd, buf, sizeof buf, MSG_DONTWAIT);

      if (n <= 0)
        break;
      g_byte_array_append (r->in, buf, n);
    }
  reader_parse (r);
}

/* Publisher: keep-alive POST /api/publish, one at a time. */
static void
publish_seq (int    fd,
             gint64 seq)
{
  static char pad[1025];
  g_autofree char *body = NULL;
  g_autofree char *req = NULL;
  GString *in = g_string_new (NULL);
  const char *end;

  /* 1 KiB each: enough that a reader that never reads fills the kernel
   * buffers within seconds and is evicted. */
  if (pad[0] == '\0')
    memset (pad, 'p', sizeof pad - 1);
  body = g_strdup_printf ("{\"channel\":\"soak\",\"data\":{\"seq\":%" G_GINT64_FORMAT ",\"pad\":\"%s\"}}",
                          seq, pad);
  req = g_strdup_printf ("POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: soak\r\n"
                         "Content-Length: %zu\r\n\r\n%s", strlen (body), body);

  send_all (fd, req, strlen (req));
  /* Read the response: head, then Content-Length bytes. */
  for (;;)
    {
      char buf[4096];
      ssize_t n;

      end = strstr (in->str, "\r\n\r\n");
      if (end != NULL)
        {
          const char *cl = g_strstr_len (in->str, end - in->str, "Content-Length: ");
          gsize want = cl ? g_ascii_strtoull (cl + 16, NULL, 10) : 0;

          if (in->len >= (gsize) (end + 4 - in->str) + want)
            break;
        }
      n = recv (fd, buf, sizeof buf, 0);
      g_assert_cmpint (n, >, 0);
      g_string_append_len (in, buf, n);
    }
  g_assert_true (g_str_has_prefix (in->str, "HTTP/1.1 200"));
  g_string_free (in, TRUE);
}

static void
test_soak_churn (void)
{
  const char * const extra[] = {
    "auth.allow_anonymous=true",
    "auth.api_keys=soak",
    "limits.outbound_soft_limit=16KiB",
    "limits.outbound_hard_limit=128KiB",
    "limits.outbound_soft_grace=1s",
    "websocket.pong_timeout=4s",
    "websocket.ping_interval=5s",
    NULL
  };
  const char *env = g_getenv ("CRIER_SOAK_SECONDS");
  gint64 seconds = env != NULL ? g_ascii_strtoll (env, NULL, 10) : 120;
  Crierd d;
  Reader readers[20];
  GPtrArray *churn = g_ptr_array_new ();   /* fds as pointers */
  GArray *slow = g_array_new (FALSE, FALSE, sizeof (int));
  int publisher;
  gint64 seq = 0;
  gint64 rss_base, rss_peak = 0, rss_after;
  guint fd_base, fd_after;
  guint64 churn_opened = 0, closes[3] = { 0, 0, 0 };
  gint64 start, end;
  g_autofree char *metrics = NULL;

  crierd_start (&d, extra, -1);

  /* Warm up once (allocator arenas, hub tables), then measure. */
  for (guint i = 0; i < 50; i++)
    {
      int fd = cf_client (d.port, "warmup");

      g_usleep (2000);
      close_rst (fd);
    }
  g_usleep (1500 * 1000);
  rss_base = proc_rss_kib (d.pid);
  fd_base = proc_fd_count (d.pid);
  g_test_message ("baseline: RSS %" G_GINT64_FORMAT " KiB, %u fds", rss_base, fd_base);

  for (guint i = 0; i < G_N_ELEMENTS (readers); i++)
    {
      readers[i].fd = cf_client (d.port, "soak");
      readers[i].in = g_byte_array_new ();
      readers[i].head_done = FALSE;
      readers[i].next_seq = -1;
      readers[i].received = 0;
      readers[i].failed = FALSE;
    }
  /* Let every subscription settle before the first publication. */
  g_usleep (500 * 1000);
  for (guint i = 0; i < G_N_ELEMENTS (readers); i++)
    {
      reader_poll (&readers[i]);
      readers[i].next_seq = 0;
    }
  publisher = tcp_connect (d.port);

  start = g_get_monotonic_time ();
  end = start + seconds * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < end)
    {
      guint r = g_random_int_range (0, 100);

      publish_seq (publisher, seq++);
      for (guint i = 0; i < G_N_ELEMENTS (readers); i++)
        reader_poll (&readers[i]);

      /* Churn: open, or close one of three ways. */
      if (r < 30 && churn->len < 200)
        {
          g_autofree char *channel = g_strdup_printf ("churn-%u", g_random_int_range (0, 20));

          g_ptr_array_add (churn, GINT_TO_POINTER (cf_client (d.port, r < 10 ? "soak" : channel)));
          churn_opened++;
        }
      else if (r < 60 && churn->len > 0)
        {
          guint k = g_random_int_range (0, churn->len);
          int fd = GPOINTER_TO_INT (g_ptr_array_steal_index_fast (churn, k));
          guint how = g_random_int_range (0, 3);

          if (how == 0)
            {
              send_frame (fd, CRIER_WS_OP_CLOSE, "");
              close (fd);
            }
          else if (how == 1)
            close_rst (fd);
          else
            {
              /* A frame that announces 1000 bytes, then a reset. */
              static const guint8 half[] = { 0x81, 0xfe, 0x03, 0xe8, 1, 2, 3, 4, 'a', 'b', 'c' };

              send_all (fd, half, sizeof half);
              close_rst (fd);
            }
          closes[how]++;
        }
      /* Slow readers: a few that never read, with tiny buffers. */
      if (slow->len < 10 && r == 99 && g_get_monotonic_time () < start + (end - start) / 2)
        {
          int fd = cf_client (d.port, "soak");
          int small = 4096;

          setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
          g_array_append_val (slow, fd);
        }
      /* Drain what churn clients were sent, so that they are not slow. */
      for (guint i = 0; i < churn->len; i++)
        {
          char buf[16384];

          while (recv (GPOINTER_TO_INT (churn->pdata[i]), buf, sizeof buf, MSG_DONTWAIT) > 0)
            ;
        }
      if (seq % 500 == 0)
        rss_peak = MAX (rss_peak, proc_rss_kib (d.pid));
      g_usleep (2000);
    }

  /* Let the readers catch up, then check them. */
  {
    gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
    gboolean all = FALSE;

    while (!all && g_get_monotonic_time () < deadline)
      {
        all = TRUE;
        for (guint i = 0; i < G_N_ELEMENTS (readers); i++)
          {
            reader_poll (&readers[i]);
            all &= readers[i].next_seq == seq;
          }
        g_usleep (5000);
      }
  }
  for (guint i = 0; i < G_N_ELEMENTS (readers); i++)
    {
      g_assert_false (readers[i].failed);
      g_assert_cmpint (readers[i].next_seq, ==, seq);
      g_assert_cmpuint (readers[i].received, ==, (guint64) seq);
    }

  metrics = admin_get (&d, "/metrics");
  g_test_message ("soak: %" G_GINT64_FORMAT " s, %" G_GINT64_FORMAT " publications to %u readers "
                  "(%" G_GINT64_FORMAT " deliveries checked), %" G_GUINT64_FORMAT " churn connections "
                  "(%" G_GUINT64_FORMAT " close frames, %" G_GUINT64_FORMAT " RST, %" G_GUINT64_FORMAT
                  " RST mid-frame), %u slow readers, evictions %.0f",
                  seconds, seq, (guint) G_N_ELEMENTS (readers), seq * (gint64) G_N_ELEMENTS (readers),
                  churn_opened, closes[0], closes[1], closes[2], slow->len,
                  metric (metrics, "crier_evictions_total"));
  /* The slow readers are gone from crierd: evicted for their backlog
   * (3008) or, as they never answer the protocol's pings either, closed
   * with 3012.  (Their sockets may linger in the kernel as orphans while
   * it retries sending what was queued: that is not crierd's memory.) */
  {
    gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
    double open;

    do
      {
        g_usleep (500 * 1000);
        for (guint i = 0; i < G_N_ELEMENTS (readers); i++)
          reader_poll (&readers[i]);
        g_free (metrics);
        metrics = admin_get (&d, "/metrics");
        open = metric (metrics, "crier_connections{transport=\"websocket\"}");
      }
    while (open > G_N_ELEMENTS (readers) + churn->len && g_get_monotonic_time () < deadline);
    g_test_message ("websocket connections: %.0f (readers %u, churn %u, slow %u); "
                    "disconnects: slow %.0f, timeout %.0f",
                    open, (guint) G_N_ELEMENTS (readers), churn->len, slow->len,
                    metric (metrics, "crier_disconnects_total{reason=\"slow\"}"),
                    metric (metrics, "crier_disconnects_total{reason=\"timeout\"}"));
    g_assert_cmpfloat (open, <=, G_N_ELEMENTS (readers) + churn->len);
  }

  /* Everybody leaves. */
  for (guint i = 0; i < G_N_ELEMENTS (readers); i++)
    {
      close (readers[i].fd);
      g_byte_array_unref (readers[i].in);
    }
  for (guint i = 0; i < churn->len; i++)
    close_rst (GPOINTER_TO_INT (churn->pdata[i]));
  for (guint i = 0; i < slow->len; i++)
    close_rst (g_array_index (slow, int, i));
  close (publisher);
  g_ptr_array_free (churn, TRUE);
  g_array_free (slow, TRUE);

  {
    gint64 deadline = g_get_monotonic_time () + 15 * G_USEC_PER_SEC;

    do
      {
        g_usleep (500 * 1000);
        fd_after = proc_fd_count (d.pid);
      }
    while (fd_after != fd_base && g_get_monotonic_time () < deadline);
  }
  rss_after = proc_rss_kib (d.pid);
  g_test_message ("after: RSS %" G_GINT64_FORMAT " KiB (peak %" G_GINT64_FORMAT " KiB), %u fds",
                  rss_after, rss_peak, fd_after);
  if (fd_after != fd_base)
    {
      g_autofree char *cmd = g_strdup_printf ("sh -c 'ls -l /proc/%d/fd; ss -tanp | grep pid=%d'",
                                              (int) d.pid, (int) d.pid);
      g_autofree char *out = NULL;

      g_spawn_command_line_sync (cmd, &out, NULL, NULL, NULL);
      g_test_message ("%s", out);
    }
  g_assert_cmpuint (fd_after, ==, fd_base);
  /* History of 'soak' is off (history_size 0): nothing should stay. */
#if defined(__SANITIZE_ADDRESS__)
  /* ASan's quarantine keeps freed memory on purpose: RSS says nothing. */
  g_test_message ("RSS not checked under AddressSanitizer");
#else
  /* docs/security.md: back within 12.5 % of the baseline (measured: about
   * +3 % after 120 s and 5,000 churn connections). */
  g_test_message ("RSS after - baseline: %+" G_GINT64_FORMAT " KiB (%+.1f %%), allowed +%" G_GINT64_FORMAT " KiB",
                  rss_after - rss_base, 100.0 * (double) (rss_after - rss_base) / (double) rss_base,
                  rss_base / 8);
  g_assert_cmpint (rss_after, <=, rss_base + rss_base / 8);
#endif

  crierd_stop (&d);
}

/* ---- faults -------------------------------------------------------------- */

static void
healthz_ok (guint16 port)
{
  int fd = tcp_connect (port);
  const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  char buf[256] = "";
  struct timeval tv = { .tv_sec = 5 };

  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  send_all (fd, req, strlen (req));
  g_assert_cmpint (recv (fd, buf, sizeof buf - 1, 0), >, 0);
  g_assert_true (g_str_has_prefix (buf, "HTTP/1.1 200"));
  close (fd);
}

/* Traffic that logs at debug level: API calls refused for a bad key. */
static void
log_storm (guint16 port,
           guint   n)
{
  for (guint i = 0; i < n; i++)
    {
      int fd = tcp_connect (port);
      const char *req = "POST /api/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                        "X-API-Key: wrong\r\nContent-Length: 2\r\n\r\n{}";
      char buf[512];

      send_all (fd, req, strlen (req));
      while (recv (fd, buf, sizeof buf, 0) > 0)
        ;
      close (fd);
    }
}

static void
test_log_full_disk (void)
{
  const char * const extra[] = { "server.log_level=debug", "auth.api_keys=right", NULL };
  int full = g_open ("/dev/full", O_WRONLY, 0);
  Crierd d;
  g_autofree char *metrics = NULL;

  if (full < 0)
    {
      g_test_skip ("no /dev/full");
      return;
    }
  crierd_start (&d, extra, full);
  close (full);
  log_storm (d.port, 50);
  healthz_ok (d.port);
  metrics = admin_get (&d, "/metrics");
  g_test_message ("log lines dropped: %.0f", metric (metrics, "crier_log_lines_dropped_total"));
  g_assert_cmpfloat (metric (metrics, "crier_log_lines_dropped_total"), >, 0);
  crierd_stop (&d);
}

static void
test_log_pipe_not_read (void)
{
  const char * const extra[] = { "server.log_level=debug", "auth.api_keys=right", NULL };
  int pipefd[2];
  Crierd d;
  g_autofree char *metrics = NULL;
  gint64 t0;

  g_assert_cmpint (pipe (pipefd), ==, 0);
  crierd_start (&d, extra, pipefd[1]);
  close (pipefd[1]);
  /* Nobody reads pipefd[0]: the 64 KiB pipe fills up. */
  log_storm (d.port, 1500);
  t0 = g_get_monotonic_time ();
  healthz_ok (d.port);
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 2 * G_USEC_PER_SEC);
  metrics = admin_get (&d, "/metrics");
  g_test_message ("log lines dropped: %.0f", metric (metrics, "crier_log_lines_dropped_total"));
  g_assert_cmpfloat (metric (metrics, "crier_log_lines_dropped_total"), >, 0);
  /* Reading again brings the log back, with a note of the loss. */
  {
    char buf[65536];
    GString *all = g_string_new (NULL);
    ssize_t n;

    fcntl (pipefd[0], F_SETFL, O_NONBLOCK);
    while ((n = read (pipefd[0], buf, sizeof buf)) > 0)
      ;
    log_storm (d.port, 5);
    g_usleep (200 * 1000);
    while ((n = read (pipefd[0], buf, sizeof buf)) > 0)
      g_string_append_len (all, buf, n);
    g_assert_nonnull (strstr (all->str, "log lines dropped"));
    g_string_free (all, TRUE);
  }
  crierd_stop (&d);
  close (pipefd[0]);
}

static void
test_reset_mid_frame (void)
{
  const char * const extra[] = { "auth.allow_anonymous=true", NULL };
  Crierd d;
  guint fds_before;

  crierd_start (&d, extra, -1);
  healthz_ok (d.port);
  g_usleep (200 * 1000);
  fds_before = proc_fd_count (d.pid);
  for (guint i = 0; i < 50; i++)
    {
      int fd = cf_client (d.port, "x");
      static const guint8 half[] = { 0x81, 0xfe, 0x10, 0x00, 9, 9, 9, 9, '{', '"' };

      g_usleep (1000);
      send_all (fd, half, sizeof half);
      close_rst (fd);
    }
  healthz_ok (d.port);
  {
    gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

    while (proc_fd_count (d.pid) != fds_before && g_get_monotonic_time () < deadline)
      g_usleep (50 * 1000);
  }
  g_assert_cmpuint (proc_fd_count (d.pid), ==, fds_before);
  crierd_stop (&d);
}

/* A peer that vanished without FIN looks like one that never answers:
 * the protocol's ping goes unanswered and the pong timeout closes it. */
static void
test_half_open (void)
{
  const char *overrides[] = {
    "auth.allow_anonymous=true", "websocket.pong_timeout=500ms", "websocket.ping_interval=1s", NULL
  };
  CrierServer *server = test_server_new (overrides);
  int fd = test_tcp_connect (crier_server_get_port (server));
  const char *connect = "{\"id\":1,\"connect\":{}}";
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  guint8 opcode = 0;
  guint code = 0;
  gint64 start;

  g_assert_true (test_ws_handshake (fd, "/connection/websocket", NULL));
  test_ws_send (fd, CRIER_WS_OP_TEXT, TRUE, connect, strlen (connect));
  start = g_get_monotonic_time ();
  while (test_ws_read_frame (fd, &opcode, payload, 5000))
    if (opcode == CRIER_WS_OP_CLOSE)
      {
        code = (payload->data[0] << 8) | payload->data[1];
        break;
      }
  g_test_message ("closed with %u after %" G_GINT64_FORMAT " ms", code,
                  (g_get_monotonic_time () - start) / 1000);
  g_assert_cmpuint (code, ==, 3012);
  close (fd);
  test_server_quit_unref (server);
}

int
main (int   argc,
      char *argv[])
{
  test_init (&argc, &argv);

  g_test_add_func ("/soak/churn", test_soak_churn);
  g_test_add_func ("/fault/log-full-disk", test_log_full_disk);
  g_test_add_func ("/fault/log-pipe-not-read", test_log_pipe_not_read);
  g_test_add_func ("/fault/reset-mid-frame", test_reset_mid_frame);
  g_test_add_func ("/fault/half-open", test_half_open);

  return g_test_run ();
}
