/* crier-bench.c: fan-out load generator for pub/sub servers.
 *
 * One process, one thread, one epoll set, no GLib main loop on the hot path.
 * N subscribers connect over WebSocket, EventSource or long-poll to a
 * "subscribe" URL; P keep-alive HTTP publishers POST JSON payloads
 *
 *   {"seq":N,"t":<CLOCK_MONOTONIC ns at send>,"p":"xxxx..."}
 *
 * exactly --size bytes long to a "publish" URL.  Subscribers do not parse
 * any protocol envelope: every payload byte they receive (WebSocket frame
 * payloads, the de-chunked SSE stream, long-poll bodies) goes through a
 * scanner that looks for `"seq":` <number> and then `"t":` <number>, so the
 * same tool measures Nchan, crierd and anything that wraps the payload in
 * its own JSON.  Per subscriber a bitmap of seen seqs counts duplicates;
 * latency is now - t on the same clock, kept in a log-linear histogram.
 *
 * Only 127.0.0.0/8 is ever connected to or bound; every loop is bounded by
 * a count or by the --duration deadline.
 *
 * Layout: options and targets, payload scanner + histogram, connections
 * (connect, send, HTTP response reader, WebSocket frame reader), the phase
 * machine (bench_tick), server /proc sampling, the report.
 */
#include "config.h"

#include <glib.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define NS_PER_SEC          G_GINT64_CONSTANT (1000000000)
#define NS_PER_MS           G_GINT64_CONSTANT (1000000)
#define READ_BUF_SIZE       (256 * 1024)
#define HEAD_MAX            16384       /* largest HTTP response head accepted */
#define MAX_EVENTS          1024
#define TICK_NS             (100 * NS_PER_MS)
#define STALL_NS            (2 * NS_PER_SEC)  /* drain ends after 2 s without progress */
#define SLOW_QUIET_NS       (500 * NS_PER_MS)
#define SLOW_DRAIN_NS       (3 * NS_PER_SEC)
#define SLOW_RCVBUF         16384
#define SEEN_WINDOW_MAX     32768       /* bits of seq history per subscriber */
#define PUB_MAX_FAILURES    3
#define T_KEY_BUDGET        48          /* bytes after the seq in which "t": must appear */
#define WS_GUID             "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

typedef enum
{
  BENCH_TRANSPORT_WS,
  BENCH_TRANSPORT_SSE,
  BENCH_TRANSPORT_LONGPOLL,
} BenchTransport;

static const char *const transport_names[] = { "ws", "sse", "longpoll" };

typedef enum
{
  PHASE_CONNECT,     /* subscribers connecting */
  PHASE_HOLD,        /* --idle-only: holding the idle connections */
  PHASE_SETTLE,      /* publishers connecting, subscriptions settling */
  PHASE_PUBLISH,
  PHASE_DRAIN,       /* all published: waiting for the last deliveries */
  PHASE_SLOW_DRAIN,  /* reading the slow clients to see whether they were closed */
  PHASE_DONE,
} BenchPhase;

typedef enum
{
  CONN_SUB,   /* subscriber */
  CONN_SLOW,  /* subscriber that stops reading after the handshake */
  CONN_PUB,   /* publisher */
} ConnKind;

typedef enum
{
  CONN_STATE_IDLE,        /* not started yet */
  CONN_STATE_CONNECTING,  /* TCP connect in progress */
  CONN_STATE_HANDSHAKE,   /* request sent, waiting for the response head */
  CONN_STATE_OPEN,
  CONN_STATE_CLOSED,
} ConnState;

typedef enum
{
  HTTP_HEAD,             /* collecting a response head */
  HTTP_BODY_LENGTH,
  HTTP_BODY_CHUNKED,
  HTTP_BODY_UNTIL_CLOSE,
  HTTP_WS,               /* after 101: WebSocket frames */
  HTTP_IGNORE,           /* slow client: bytes are discarded */
} HttpState;

typedef enum
{
  CHUNK_SIZE,
  CHUNK_EXT,
  CHUNK_SIZE_LF,
  CHUNK_DATA,
  CHUNK_DATA_END,
  CHUNK_TRAILER,
} ChunkState;

typedef enum
{
  SCAN_SEQ_KEY,
  SCAN_SEQ_NUM,
  SCAN_T_KEY,
  SCAN_T_NUM,
} ScanState;

/* Finds `"seq":N` then `"t":T` in any byte stream; backslashes are skipped
 * so that a payload embedded as a JSON string still matches. */
typedef struct
{
  guint8  state;
  guint8  match;
  guint8  digits;
  guint8  budget;
  guint64 seq;
  guint64 t;
} Scanner;

typedef struct
{
  int         fd;
  guint8      kind;
  guint8      state;
  guint8      http_state;
  guint8      chunk_state;
  guint32     events;        /* currently registered epoll events */
  guint       src;           /* index of the source address */
  gint64      started_ns;    /* connect() time, for the handshake timeout */

  GByteArray *out;           /* unsent bytes, only after a partial write */
  gsize       out_off;

  /* HTTP response reader */
  GByteArray *head;
  int         status;
  gint64      body_left;
  guint       trailer_line;
  gboolean    chunk_digit;
  gboolean    conn_close;
  char       *etag;
  char       *last_modified;

  /* WebSocket */
  char        ws_key[25];
  guint8      ws_hdr[14];
  guint8      ws_hdr_len;
  guint8      ws_hdr_need;
  guint8      ws_opcode;
  gboolean    ws_in_payload;
  guint64     ws_left;
  guint8      ws_ctrl[125];
  guint8      ws_ctrl_len;
  gboolean    ws_close_sent;

  Scanner     scan;

  /* subscriber bookkeeping */
  guint64    *seen;
  guint64     seen_base;
  guint64     received;

  /* publisher */
  gboolean    busy;
  guint       failures;
} Conn;

/* Log-linear latency histogram: values < 128 ns exact, then 64 buckets per
 * power of two (<= 1.6 % relative error), up to 2^64 ns. */
#define HIST_N (128 + 57 * 64)

typedef struct
{
  /* options */
  char            *sub_url;
  char            *pub_url;
  BenchTransport   transport;
  guint            clients;
  guint            sources;
  guint            concurrency;
  double           rate;
  guint            inflight;
  guint64          messages;          /* 0: bounded by --duration only */
  double           duration;
  guint            size;
  int              server_pid;
  gboolean         idle_only;
  guint            slow;
  char            *ws_init;
  gsize            ws_init_len;
  char           **headers;
  gboolean         json_only;
  gboolean         quiet;
  guint            settle_ms;
  guint            handshake_timeout_ms;

  /* targets */
  struct sockaddr_in sub_addr;
  struct sockaddr_in pub_addr;
  char            *sub_host;
  char            *sub_path;
  char            *pub_host;
  char            *pub_path;
  GString         *pub_head;
  GString         *sse_request;
  char            *payload;

  /* runtime */
  int              epfd;
  Conn            *subs;               /* clients, then slow clients */
  guint            n_subs;
  Conn            *pubs;
  guint            n_pubs;
  guint64          win_bits;
  BenchPhase       phase;
  guint64          prng;

  gint64           run_start_ns;
  gint64           deadline_ns;
  gint64           connect_start_ns;
  gint64           connect_end_ns;
  gint64           hold_until_ns;
  guint            hold_ms;           /* --idle-only: how long to hold */
  gint64           settle_until_ns;
  gint64           pub_start_ns;
  gint64           pub_stop_ns;
  gint64           pub_end_ns;
  gint64           drain_start_ns;
  gint64           last_progress_ns;
  gint64           last_delivery_ns;
  gint64           slow_drain_start_ns;
  gint64           slow_last_io_ns;
  gint64           next_tick_ns;
  gint64           next_progress_ns;
  gint64           end_ns;

  /* connections */
  guint            next_connect;
  guint            connecting;
  guint            connected;          /* subscribers open now */
  guint            connected_total;    /* subscribers that completed the handshake */
  guint            slow_open;
  guint            connect_errors;
  guint            sub_disconnects;
  guint            slow_evicted;
  guint            subs_at_start;
  guint            pubs_pending;
  guint            pubs_open;
  guint            pubs_dead;

  /* messages */
  guint64          sent;               /* publishes sent, = next seq */
  guint64          published_ok;
  guint64          publish_errors;
  guint64          pub_inflight;
  guint64          deliveries;
  guint64          duplicated;
  guint64          stale;
  guint64          no_timestamp;

  /* latency */
  guint64         *hist;
  guint64          hist_count;
  guint64          lat_max;

  /* server */
  gboolean         measured_end;
  gboolean         have_cpu;
  double           cpu_before;
  double           cpu_after;
  gint64           rss_before;
  gint64           rss_after;
  gint64           rss_peak;

  char            *first_error;
} Bench;

static volatile sig_atomic_t bench_interrupted = 0;
static guint8 read_buf[READ_BUF_SIZE];

static void conn_close_now (Bench *b, Conn *c);
static void sub_handshake_done (Bench *b, Conn *c, gint64 now);
static gboolean lp_send_request (Bench *b, Conn *c);

static void
bench_on_signal (int signum G_GNUC_UNUSED)
{
  bench_interrupted = 1;
}

static inline gint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static guint64
bench_random (Bench *b)
{
  /* xorshift64*: only for WebSocket keys and masks */
  b->prng ^= b->prng >> 12;
  b->prng ^= b->prng << 25;
  b->prng ^= b->prng >> 27;
  return b->prng * G_GUINT64_CONSTANT (2685821657736338717);
}

static void
bench_error (Bench      *b,
             const char *what,
             int         status,
             int         errnum)
{
  if (b->first_error != NULL)
    return;
  if (status > 0)
    b->first_error = g_strdup_printf ("%s: HTTP status %d", what, status);
  else if (errnum != 0)
    b->first_error = g_strdup_printf ("%s: %s", what, g_strerror (errnum));
  else
    b->first_error = g_strdup (what);
}

/* ---------------------------------------------------------------- server */

static gboolean
proc_read_cpu (int     pid,
               double *out_s)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", pid);
  g_autofree char *text = NULL;
  g_auto(GStrv) fields = NULL;
  const char *rp;
  long ticks = sysconf (_SC_CLK_TCK);

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  rp = strrchr (text, ')');
  if (rp == NULL || rp[1] == '\0')
    return FALSE;
  /* after "pid (comm) ": field 3 is state; utime and stime are 14 and 15 */
  fields = g_strsplit (rp + 2, " ", 16);
  if (g_strv_length (fields) < 14 || ticks <= 0)
    return FALSE;
  *out_s = (double) (g_ascii_strtoull (fields[11], NULL, 10) +
                     g_ascii_strtoull (fields[12], NULL, 10)) / (double) ticks;
  return TRUE;
}

static gint64
proc_read_rss_kb (int pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", pid);
  g_autofree char *text = NULL;
  const char *p;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return -1;
  p = strstr (text, "\nVmRSS:");
  if (p == NULL)
    return -1;
  return g_ascii_strtoll (p + 7, NULL, 10);
}

static void
bench_sample_rss (Bench *b)
{
  gint64 kb;

  if (b->server_pid <= 0 || b->measured_end)
    return;
  kb = proc_read_rss_kb (b->server_pid);
  if (kb > b->rss_peak)
    b->rss_peak = kb;
}

/* ------------------------------------------------------------- histogram */

static guint
hist_index (guint64 v)
{
  guint msb;

  if (v < 128)
    return (guint) v;
  msb = 63 - (guint) __builtin_clzll (v);
  return 128 + (msb - 7) * 64 + (guint) ((v >> (msb - 6)) - 64);
}

static guint64
hist_mid (guint idx)
{
  guint e, m;

  if (idx < 128)
    return idx;
  e = (idx - 128) / 64 + 7;
  m = (idx - 128) % 64 + 64;
  return ((guint64) m << (e - 6)) + (((guint64) 1 << (e - 6)) / 2);
}

static double
hist_percentile_ms (Bench  *b,
                    double  q)
{
  guint64 rank, sum = 0;
  guint i;

  if (b->hist_count == 0)
    return -1;
  rank = (guint64) (q * (double) b->hist_count);
  if (rank < 1)
    rank = 1;
  for (i = 0; i < HIST_N; i++)
    {
      sum += b->hist[i];
      if (sum >= rank)
        return (double) MIN (hist_mid (i), b->lat_max) / 1e6;
    }
  return (double) b->lat_max / 1e6;
}

/* -------------------------------------------------------- delivery count */

static gboolean
sub_mark_seen (Bench   *b,
               Conn    *c,
               guint64  seq)
{
  guint64 w = b->win_bits;
  guint64 bit;

  if (c->seen == NULL)
    c->seen = g_new0 (guint64, w / 64);
  if (seq < c->seen_base)
    return FALSE;  /* more than the window late: counted as a duplicate */
  if (seq >= c->seen_base + w)
    {
      guint64 new_base = seq - w + 1;
      guint64 s;

      if (new_base - c->seen_base >= w)
        memset (c->seen, 0, w / 8);
      else
        for (s = c->seen_base; s < new_base; s++)
          c->seen[(s & (w - 1)) >> 6] &= ~(G_GUINT64_CONSTANT (1) << (s & 63));
      c->seen_base = new_base;
    }
  bit = seq & (w - 1);
  if (c->seen[bit >> 6] & (G_GUINT64_CONSTANT (1) << (bit & 63)))
    return FALSE;
  c->seen[bit >> 6] |= G_GUINT64_CONSTANT (1) << (bit & 63);
  return TRUE;
}

static void
bench_record (Bench   *b,
              Conn    *c,
              guint64  seq,
              guint64  t,
              gint64   now)
{
  guint64 lat;

  if (t != 0 && (t < (guint64) b->run_start_ns || t > (guint64) now))
    {
      b->stale++;  /* left over from an earlier run, or not our clock */
      return;
    }
  if (seq >= b->sent)
    {
      b->stale++;
      return;
    }
  if (c->kind != CONN_SUB)
    return;
  if (!sub_mark_seen (b, c, seq))
    {
      b->duplicated++;
      return;
    }
  c->received++;
  b->deliveries++;
  b->last_delivery_ns = now;
  b->last_progress_ns = now;
  if (t == 0)
    {
      b->no_timestamp++;
      return;
    }
  lat = (guint64) now - t;
  b->hist[hist_index (lat)]++;
  b->hist_count++;
  if (lat > b->lat_max)
    b->lat_max = lat;
}

static void
scanner_reset (Scanner *s)
{
  memset (s, 0, sizeof *s);
}

static void
scanner_feed (Bench        *b,
              Conn         *c,
              const guint8 *data,
              gsize         len,
              gint64        now)
{
  static const char seq_key[] = "\"seq\":";
  static const char t_key[] = "\"t\":";
  Scanner *s = &c->scan;
  gsize i;

  for (i = 0; i < len; i++)
    {
      guint8 ch = data[i];

      if (ch == '\\')
        continue;

      switch (s->state)
        {
        case SCAN_SEQ_KEY:
          if (ch == (guint8) seq_key[s->match])
            {
              if (++s->match == sizeof seq_key - 1)
                {
                  s->state = SCAN_SEQ_NUM;
                  s->digits = 0;
                  s->seq = 0;
                }
            }
          else
            s->match = ch == '"' ? 1 : 0;
          break;

        case SCAN_SEQ_NUM:
          if (ch >= '0' && ch <= '9' && s->digits < 19)
            {
              s->seq = s->seq * 10 + (ch - '0');
              s->digits++;
            }
          else if (ch == ' ' && s->digits == 0)
            ;
          else if (s->digits > 0 && !(ch >= '0' && ch <= '9'))
            {
              s->state = SCAN_T_KEY;
              s->match = ch == '"' ? 1 : 0;
              s->budget = T_KEY_BUDGET;
            }
          else
            {
              s->state = SCAN_SEQ_KEY;
              s->match = ch == '"' ? 1 : 0;
            }
          break;

        case SCAN_T_KEY:
          if (ch == (guint8) t_key[s->match])
            {
              if (++s->match == sizeof t_key - 1)
                {
                  s->state = SCAN_T_NUM;
                  s->digits = 0;
                  s->t = 0;
                }
            }
          else
            s->match = ch == '"' ? 1 : 0;
          if (s->state == SCAN_T_KEY && --s->budget == 0)
            {
              bench_record (b, c, s->seq, 0, now);
              s->state = SCAN_SEQ_KEY;
              s->match = 0;
            }
          break;

        case SCAN_T_NUM:
          if (ch >= '0' && ch <= '9' && s->digits < 19)
            {
              s->t = s->t * 10 + (ch - '0');
              s->digits++;
            }
          else if (ch == ' ' && s->digits == 0)
            ;
          else
            {
              if (s->digits > 0)
                bench_record (b, c, s->seq, s->t, now);
              s->state = SCAN_SEQ_KEY;
              s->match = ch == '"' ? 1 : 0;
            }
          break;

        default:
          g_assert_not_reached ();
        }
    }
}

/* ------------------------------------------------------------ connection */

static void
conn_set_events (Bench   *b,
                 Conn    *c,
                 guint32  events)
{
  struct epoll_event ev = { 0 };

  if (c->events == events)
    return;
  ev.events = events;
  ev.data.ptr = c;
  if (epoll_ctl (b->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
    c->events = events;
}

/* Slow clients stop reading once open, until the slow-drain phase. */
static gboolean
conn_paused (Bench *b,
             Conn  *c)
{
  return c->kind == CONN_SLOW && c->state == CONN_STATE_OPEN && b->phase != PHASE_SLOW_DRAIN;
}

static guint32
conn_read_events (Bench *b,
                  Conn  *c)
{
  if (conn_paused (b, c))
    return EPOLLRDHUP;
  return EPOLLIN | EPOLLRDHUP;
}

static void
conn_update_events (Bench *b,
                    Conn  *c)
{
  guint32 ev = conn_read_events (b, c);

  if (c->out != NULL && c->out->len > c->out_off)
    ev |= EPOLLOUT;
  conn_set_events (b, c, ev);
}

static void
conn_reset_reader (Conn *c)
{
  c->http_state = HTTP_HEAD;
  c->status = 0;
  c->body_left = 0;
  c->conn_close = FALSE;
  if (c->head != NULL)
    g_byte_array_set_size (c->head, 0);
}

/* Closes the socket and frees per-connection buffers; the seen bitmap and
 * counters stay for the report. */
static void
conn_close_now (Bench *b,
                Conn  *c)
{
  if (c->state == CONN_STATE_CLOSED || c->state == CONN_STATE_IDLE)
    return;
  if (c->fd >= 0)
    close (c->fd);
  c->fd = -1;
  c->events = 0;
  if (c->state == CONN_STATE_OPEN)
    {
      if (c->kind == CONN_SUB)
        b->connected--;
      else if (c->kind == CONN_SLOW)
        b->slow_open--;
      else
        b->pubs_open--;
    }
  c->state = CONN_STATE_CLOSED;
  g_clear_pointer (&c->out, g_byte_array_unref);
  c->out_off = 0;
  g_clear_pointer (&c->head, g_byte_array_unref);
  g_clear_pointer (&c->etag, g_free);
  g_clear_pointer (&c->last_modified, g_free);
}

/* Returns FALSE when the connection failed (and was handled). */
static gboolean conn_send (Bench        *b,
                           Conn         *c,
                           const void   *data,
                           gsize         len);

static void
sub_failed (Bench      *b,
            Conn       *c,
            const char *what,
            int         status,
            int         errnum)
{
  gboolean was_open = c->state == CONN_STATE_OPEN;

  if (c->state == CONN_STATE_CLOSED)
    return;
  if (!was_open)
    {
      /* never completed the handshake */
      b->connect_errors++;
      b->connecting--;
      b->connect_end_ns = now_ns ();
      bench_error (b, what, status, errnum);
    }
  else if (c->kind == CONN_SLOW)
    b->slow_evicted++;
  else
    {
      b->sub_disconnects++;
      bench_error (b, what, status, errnum);
    }
  conn_close_now (b, c);
}

static gboolean pub_start (Bench *b, Conn *c);

static void
pub_failed (Bench      *b,
            Conn       *c,
            const char *what,
            int         status,
            int         errnum)
{
  gboolean was_connecting = c->state != CONN_STATE_OPEN;

  if (c->state == CONN_STATE_CLOSED)
    return;
  bench_error (b, what, status, errnum);
  if (c->busy)
    {
      c->busy = FALSE;
      b->pub_inflight--;
      b->publish_errors++;
    }
  if (was_connecting && b->phase == PHASE_SETTLE)
    b->pubs_pending--;
  conn_close_now (b, c);
  c->failures++;
  if (c->failures >= PUB_MAX_FAILURES || b->phase >= PHASE_DRAIN)
    {
      b->pubs_dead++;
      return;
    }
  c->state = CONN_STATE_IDLE;
  if (b->phase == PHASE_SETTLE)
    b->pubs_pending++;
  pub_start (b, c);
}

static void
conn_failed (Bench      *b,
             Conn       *c,
             const char *what,
             int         status,
             int         errnum)
{
  if (c->kind == CONN_PUB)
    pub_failed (b, c, what, status, errnum);
  else
    sub_failed (b, c, what, status, errnum);
}

static gboolean
conn_send (Bench      *b,
           Conn       *c,
           const void *data,
           gsize       len)
{
  ssize_t n = 0;

  if (c->out != NULL && c->out->len > c->out_off)
    {
      g_byte_array_append (c->out, data, (guint) len);
      return TRUE;
    }
  n = send (c->fd, data, len, MSG_NOSIGNAL);
  if (n < 0)
    {
      if (errno != EAGAIN && errno != EINTR)
        {
          conn_failed (b, c, "send", 0, errno);
          return FALSE;
        }
      n = 0;
    }
  if ((gsize) n < len)
    {
      if (c->out == NULL)
        c->out = g_byte_array_new ();
      g_byte_array_set_size (c->out, 0);
      c->out_off = 0;
      g_byte_array_append (c->out, (const guint8 *) data + n, (guint) (len - (gsize) n));
      conn_update_events (b, c);
    }
  return TRUE;
}

static void
conn_flush (Bench *b,
            Conn  *c)
{
  ssize_t n;

  if (c->out == NULL || c->out->len <= c->out_off)
    {
      conn_update_events (b, c);
      return;
    }
  n = send (c->fd, c->out->data + c->out_off, c->out->len - c->out_off, MSG_NOSIGNAL);
  if (n < 0)
    {
      if (errno != EAGAIN && errno != EINTR)
        conn_failed (b, c, "send", 0, errno);
      return;
    }
  c->out_off += (gsize) n;
  if (c->out_off >= c->out->len)
    {
      g_byte_array_set_size (c->out, 0);
      c->out_off = 0;
      conn_update_events (b, c);
    }
}

/* Starts a non-blocking connect from 127.0.0.(src+1). */
static gboolean
conn_connect (Bench                    *b,
              Conn                     *c,
              const struct sockaddr_in *dst,
              guint                     src,
              gint64                    now)
{
  struct sockaddr_in local = { 0 };
  struct epoll_event ev = { 0 };
  int one = 1;
  int fd;

  fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      bench_error (b, "socket", 0, errno);
      return FALSE;
    }
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt (fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  if (c->kind == CONN_SLOW)
    {
      int rcvbuf = SLOW_RCVBUF;

      setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl (0x7f000001u + src);
  if (bind (fd, (struct sockaddr *) &local, sizeof local) < 0 ||
      (connect (fd, (const struct sockaddr *) dst, sizeof *dst) < 0 && errno != EINPROGRESS))
    {
      bench_error (b, "connect", 0, errno);
      close (fd);
      return FALSE;
    }
  ev.events = EPOLLOUT | EPOLLRDHUP;
  ev.data.ptr = c;
  if (epoll_ctl (b->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
    {
      bench_error (b, "epoll_ctl", 0, errno);
      close (fd);
      return FALSE;
    }
  c->fd = fd;
  c->events = ev.events;
  c->src = src;
  c->state = CONN_STATE_CONNECTING;
  c->started_ns = now;
  c->head = g_byte_array_sized_new (512);
  conn_reset_reader (c);
  scanner_reset (&c->scan);
  return TRUE;
}

/* ------------------------------------------------------------- WebSocket */

static void
ws_build_frame (Bench        *b,
                GByteArray   *out,
                guint8        opcode,
                const guint8 *payload,
                gsize         len)
{
  guint8 hdr[14];
  guint hlen = 0;
  guint64 r = bench_random (b);
  guint8 mask[4];
  gsize i;
  guint start;

  hdr[hlen++] = 0x80 | opcode;
  if (len < 126)
    hdr[hlen++] = 0x80 | (guint8) len;
  else if (len < 65536)
    {
      hdr[hlen++] = 0x80 | 126;
      hdr[hlen++] = (guint8) (len >> 8);
      hdr[hlen++] = (guint8) len;
    }
  else
    {
      hdr[hlen++] = 0x80 | 127;
      for (i = 0; i < 8; i++)
        hdr[hlen++] = (guint8) ((guint64) len >> (56 - 8 * i));
    }
  for (i = 0; i < 4; i++)
    mask[i] = (guint8) (r >> (8 * i));
  memcpy (hdr + hlen, mask, 4);
  hlen += 4;
  g_byte_array_append (out, hdr, hlen);
  start = out->len;
  g_byte_array_append (out, payload, (guint) len);
  for (i = 0; i < len; i++)
    out->data[start + i] ^= mask[i & 3];
}

static gboolean
ws_send_frame (Bench        *b,
               Conn         *c,
               guint8        opcode,
               const guint8 *payload,
               gsize         len)
{
  g_autoptr(GByteArray) frame = g_byte_array_sized_new ((guint) len + 14);

  ws_build_frame (b, frame, opcode, payload, len);
  return conn_send (b, c, frame->data, frame->len);
}

static gboolean
ws_send_handshake (Bench *b,
                   Conn  *c)
{
  g_autofree char *key = NULL;
  g_autofree char *req = NULL;
  guint8 raw[16];
  guint64 r1 = bench_random (b), r2 = bench_random (b);

  memcpy (raw, &r1, 8);
  memcpy (raw + 8, &r2, 8);
  key = g_base64_encode (raw, sizeof raw);
  g_strlcpy (c->ws_key, key, sizeof c->ws_key);
  req = g_strdup_printf ("GET %s HTTP/1.1\r\n"
                         "Host: %s\r\n"
                         "Upgrade: websocket\r\n"
                         "Connection: Upgrade\r\n"
                         "Sec-WebSocket-Key: %s\r\n"
                         "Sec-WebSocket-Version: 13\r\n"
                         "\r\n",
                         b->sub_path, b->sub_host, key);
  return conn_send (b, c, req, strlen (req));
}

static gboolean
ws_accept_ok (Conn       *c,
              const char *value,
              gsize       value_len)
{
  g_autoptr(GChecksum) sha = g_checksum_new (G_CHECKSUM_SHA1);
  g_autofree char *expected = NULL;
  guint8 digest[20];
  gsize dlen = sizeof digest;

  g_checksum_update (sha, (const guchar *) c->ws_key, (gssize) strlen (c->ws_key));
  g_checksum_update (sha, (const guchar *) WS_GUID, (gssize) strlen (WS_GUID));
  g_checksum_get_digest (sha, digest, &dlen);
  expected = g_base64_encode (digest, dlen);
  return value_len == strlen (expected) && memcmp (expected, value, value_len) == 0;
}

static void
ws_frame_done (Bench  *b,
               Conn   *c)
{
  guint8 op = c->ws_opcode;

  c->ws_in_payload = FALSE;
  c->ws_hdr_len = 0;
  if (op == 0x9)
    ws_send_frame (b, c, 0xA, c->ws_ctrl, c->ws_ctrl_len);
  else if (op == 0x8)
    {
      if (!c->ws_close_sent)
        {
          c->ws_close_sent = TRUE;
          ws_send_frame (b, c, 0x8, c->ws_ctrl, MIN (c->ws_ctrl_len, 2));
        }
      if (c->state != CONN_STATE_CLOSED)
        sub_failed (b, c, "closed by server (WebSocket close)", 0, 0);
    }
}

/* Returns FALSE when the connection was closed. */
static gboolean
ws_feed (Bench        *b,
         Conn         *c,
         const guint8 *data,
         gsize         len,
         gint64        now)
{
  while (len > 0)
    {
      if (!c->ws_in_payload)
        {
          guint64 plen;
          guint i;

          if (c->ws_hdr_len == 0)
            c->ws_hdr_need = 2;
          while (len > 0 && c->ws_hdr_len < c->ws_hdr_need)
            {
              c->ws_hdr[c->ws_hdr_len++] = *data++;
              len--;
              if (c->ws_hdr_len == 2)
                {
                  guint8 l7 = c->ws_hdr[1] & 0x7f;

                  if (c->ws_hdr[1] & 0x80)
                    {
                      sub_failed (b, c, "masked frame from server", 0, 0);
                      return FALSE;
                    }
                  c->ws_hdr_need = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0);
                }
            }
          if (c->ws_hdr_len < c->ws_hdr_need)
            return TRUE;

          plen = c->ws_hdr[1] & 0x7f;
          if (plen == 126)
            plen = ((guint64) c->ws_hdr[2] << 8) | c->ws_hdr[3];
          else if (plen == 127)
            for (i = 0, plen = 0; i < 8; i++)
              plen = (plen << 8) | c->ws_hdr[2 + i];
          c->ws_opcode = c->ws_hdr[0] & 0x0f;
          c->ws_left = plen;
          c->ws_ctrl_len = 0;
          c->ws_in_payload = TRUE;
          if (c->ws_opcode >= 0x8 && (plen > 125 || !(c->ws_hdr[0] & 0x80)))
            {
              sub_failed (b, c, "bad WebSocket control frame", 0, 0);
              return FALSE;
            }
          if (c->ws_opcode == 0x1 || c->ws_opcode == 0x2)
            scanner_reset (&c->scan);
          if (plen == 0)
            {
              ws_frame_done (b, c);
              if (c->state == CONN_STATE_CLOSED)
                return FALSE;
            }
          continue;
        }
      else
        {
          gsize take = (gsize) MIN ((guint64) len, c->ws_left);

          if (c->ws_opcode >= 0x8)
            {
              memcpy (c->ws_ctrl + c->ws_ctrl_len, data, take);
              c->ws_ctrl_len += (guint8) take;
            }
          else
            scanner_feed (b, c, data, take, now);
          data += take;
          len -= take;
          c->ws_left -= take;
          if (c->ws_left == 0)
            {
              ws_frame_done (b, c);
              if (c->state == CONN_STATE_CLOSED)
                return FALSE;
            }
        }
    }
  return TRUE;
}

/* ------------------------------------------------------------------ HTTP */

static gboolean
header_is (const char *name,
           gsize       name_len,
           const char *want)
{
  return name_len == strlen (want) && g_ascii_strncasecmp (name, want, name_len) == 0;
}

static gboolean
value_has_token (const char *value,
                 gsize       len,
                 const char *token)
{
  g_autofree char *v = g_ascii_strdown (value, (gssize) len);

  return strstr (v, token) != NULL;
}

/* Parses c->head (a complete response head).  Fills status, body mode,
 * Etag/Last-Modified; *ws_ok tells whether a 101 carried a valid accept. */
static gboolean
http_parse_head (Conn     *c,
                 gboolean *ws_ok)
{
  const char *p = (const char *) c->head->data;
  const char *end = p + c->head->len;
  const char *eol;
  gint64 content_length = -1;
  gboolean chunked = FALSE;

  *ws_ok = FALSE;
  eol = g_strstr_len (p, end - p, "\r\n");
  if (eol == NULL || eol - p < 12 || strncmp (p, "HTTP/1.", 7) != 0 ||
      !g_ascii_isdigit (p[9]) || !g_ascii_isdigit (p[10]) || !g_ascii_isdigit (p[11]))
    return FALSE;
  c->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
  c->conn_close = p[7] == '0';
  p = eol + 2;

  while (p < end)
    {
      const char *colon, *v;
      gsize vlen;

      eol = g_strstr_len (p, end - p, "\r\n");
      if (eol == NULL || eol == p)
        break;
      colon = memchr (p, ':', (gsize) (eol - p));
      if (colon != NULL)
        {
          gsize nlen = (gsize) (colon - p);

          v = colon + 1;
          while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
          vlen = (gsize) (eol - v);
          while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
            vlen--;
          if (header_is (p, nlen, "content-length"))
            content_length = g_ascii_strtoll (v, NULL, 10);
          else if (header_is (p, nlen, "transfer-encoding"))
            chunked = value_has_token (v, vlen, "chunked");
          else if (header_is (p, nlen, "connection"))
            {
              if (value_has_token (v, vlen, "close"))
                c->conn_close = TRUE;
              else if (value_has_token (v, vlen, "keep-alive"))
                c->conn_close = FALSE;
            }
          else if (header_is (p, nlen, "etag"))
            {
              g_free (c->etag);
              c->etag = g_strndup (v, vlen);
            }
          else if (header_is (p, nlen, "last-modified"))
            {
              g_free (c->last_modified);
              c->last_modified = g_strndup (v, vlen);
            }
          else if (header_is (p, nlen, "sec-websocket-accept"))
            *ws_ok = ws_accept_ok (c, v, vlen);
        }
      p = eol + 2;
    }

  if ((c->status >= 100 && c->status < 200) || c->status == 204 || c->status == 304)
    {
      c->http_state = HTTP_BODY_LENGTH;
      c->body_left = 0;
    }
  else if (chunked)
    {
      c->http_state = HTTP_BODY_CHUNKED;
      c->chunk_state = CHUNK_SIZE;
      c->chunk_digit = FALSE;
      c->body_left = 0;
    }
  else if (content_length >= 0)
    {
      c->http_state = HTTP_BODY_LENGTH;
      c->body_left = content_length;
    }
  else
    c->http_state = HTTP_BODY_UNTIL_CLOSE;
  return TRUE;
}

/* Appends response-head bytes; returns how many were consumed and sets
 * *done when the blank line was seen.  -1 on an oversized head. */
static gssize
http_head_feed (Conn         *c,
                const guint8 *data,
                gsize         len,
                gboolean     *done)
{
  guint old = c->head->len;
  gsize take = MIN (len, (gsize) (HEAD_MAX - old));
  guint from = old >= 3 ? old - 3 : 0;
  const guint8 *hit;

  *done = FALSE;
  g_byte_array_append (c->head, data, (guint) take);
  hit = memmem (c->head->data + from, c->head->len - from, "\r\n\r\n", 4);
  if (hit != NULL)
    {
      guint head_len = (guint) (hit - c->head->data) + 4;

      g_byte_array_set_size (c->head, head_len);
      *done = TRUE;
      return (gssize) (head_len - old);
    }
  if (c->head->len >= HEAD_MAX)
    return -1;
  return (gssize) take;
}

/* A complete HTTP body (or a response without one) was read. */
static gboolean
http_body_done (Bench *b,
                Conn  *c)
{
  int status = c->status;
  gboolean close_after = c->conn_close;

  conn_reset_reader (c);
  if (c->kind == CONN_PUB)
    {
      if (status < 200)
        return TRUE;  /* interim response: the final one follows */
      if (c->busy)
        {
          c->busy = FALSE;
          b->pub_inflight--;
          if (status >= 200 && status < 300)
            {
              b->published_ok++;
              c->failures = 0;
            }
          else
            {
              b->publish_errors++;
              bench_error (b, "publish", status, 0);
            }
        }
      if (close_after)
        {
          pub_failed (b, c, "publisher connection closed by server", 0, 0);
          return FALSE;
        }
      return TRUE;
    }

  if (b->transport == BENCH_TRANSPORT_LONGPOLL && c->kind == CONN_SUB)
    {
      scanner_reset (&c->scan);
      if (close_after)
        {
          sub_failed (b, c, "long-poll connection closed by server", 0, 0);
          return FALSE;
        }
      if (status != 200 && status != 304 && status != 408)
        {
          sub_failed (b, c, "long-poll", status, 0);
          return FALSE;
        }
      return lp_send_request (b, c);
    }

  /* an SSE stream that ended */
  sub_failed (b, c, "event stream ended by server", 0, 0);
  return FALSE;
}

static void
http_body_feed (Bench        *b,
                Conn         *c,
                const guint8 *data,
                gsize         len,
                gint64        now)
{
  if (c->kind != CONN_PUB && c->state == CONN_STATE_OPEN)
    scanner_feed (b, c, data, len, now);
}

/* Reads chunked transfer coding; body bytes go to the scanner. */
static gssize
http_chunked_feed (Bench        *b,
                   Conn         *c,
                   const guint8 *data,
                   gsize         len,
                   gint64        now,
                   gboolean     *done)
{
  gsize i = 0;

  *done = FALSE;
  while (i < len)
    {
      guint8 ch = data[i];

      switch (c->chunk_state)
        {
        case CHUNK_SIZE:
          if (g_ascii_isxdigit (ch))
            {
              if (c->body_left > G_MAXINT64 / 32)
                return -1;
              c->body_left = c->body_left * 16 + g_ascii_xdigit_value (ch);
              c->chunk_digit = TRUE;
              i++;
              break;
            }
          if (ch == ';' || ch == ' ' || ch == '\t')
            c->chunk_state = CHUNK_EXT;
          else if (ch == '\r')
            c->chunk_state = CHUNK_SIZE_LF;
          else if (ch != '\n')
            return -1;
          if (ch != '\n')
            {
              i++;
              break;
            }
          G_GNUC_FALLTHROUGH;
        case CHUNK_EXT:
        case CHUNK_SIZE_LF:
          if (ch != '\n')
            {
              if (c->chunk_state == CHUNK_SIZE_LF)
                return -1;
              i++;
              break;
            }
          i++;
          if (!c->chunk_digit)
            return -1;
          c->chunk_digit = FALSE;
          if (c->body_left == 0)
            {
              c->chunk_state = CHUNK_TRAILER;
              c->trailer_line = 0;
            }
          else
            c->chunk_state = CHUNK_DATA;
          break;

        case CHUNK_DATA:
          {
            gsize take = (gsize) MIN ((gint64) (len - i), c->body_left);

            http_body_feed (b, c, data + i, take, now);
            i += take;
            c->body_left -= (gint64) take;
            if (c->body_left == 0)
              c->chunk_state = CHUNK_DATA_END;
          }
          break;

        case CHUNK_DATA_END:
          i++;
          if (ch == '\n')
            c->chunk_state = CHUNK_SIZE;
          else if (ch != '\r')
            return -1;
          break;

        case CHUNK_TRAILER:
          i++;
          if (ch == '\n')
            {
              if (c->trailer_line == 0)
                {
                  *done = TRUE;
                  return (gssize) i;
                }
              c->trailer_line = 0;
            }
          else if (ch != '\r')
            c->trailer_line++;
          break;

        default:
          g_assert_not_reached ();
        }
    }
  return (gssize) i;
}

/* The response head of a connection was parsed. */
static gboolean
http_on_head (Bench    *b,
              Conn     *c,
              gboolean  ws_ok,
              gint64    now)
{
  if (c->kind == CONN_PUB)
    return TRUE;

  if (c->state == CONN_STATE_HANDSHAKE)
    {
      if (b->transport == BENCH_TRANSPORT_WS)
        {
          if (c->status != 101 || !ws_ok)
            {
              sub_failed (b, c, c->status != 101 ? "WebSocket handshake"
                                                  : "bad Sec-WebSocket-Accept",
                          c->status != 101 ? c->status : 0, 0);
              return FALSE;
            }
          c->http_state = HTTP_WS;
          c->ws_hdr_len = 0;
          c->ws_in_payload = FALSE;
        }
      else if (c->status != 200)
        {
          sub_failed (b, c, "EventSource", c->status, 0);
          return FALSE;
        }
      sub_handshake_done (b, c, now);
      return c->state != CONN_STATE_CLOSED;
    }
  return TRUE;
}

/* Feeds received bytes through the reader state machine.  Returns FALSE
 * when the connection was closed meanwhile. */
static gboolean
conn_input (Bench        *b,
            Conn         *c,
            const guint8 *data,
            gsize         len,
            gint64        now)
{
  gsize max_rounds = len + 16;
  gsize rounds = 0;

  while (len > 0 && c->state != CONN_STATE_CLOSED)
    {
      gboolean done = FALSE;
      gssize used;

      /* each round consumes at least one byte or completes a response */
      if (++rounds > max_rounds)
        break;

      switch (c->http_state)
        {
        case HTTP_HEAD:
          {
            gboolean ws_ok = FALSE;

            used = http_head_feed (c, data, len, &done);
            if (used < 0)
              {
                conn_failed (b, c, "oversized response head", 0, 0);
                return FALSE;
              }
            data += used;
            len -= (gsize) used;
            if (!done)
              break;
            if (!http_parse_head (c, &ws_ok))
              {
                conn_failed (b, c, "malformed response", 0, 0);
                return FALSE;
              }
            if (!http_on_head (b, c, ws_ok, now))
              return FALSE;
            if (c->http_state == HTTP_BODY_LENGTH && c->body_left == 0)
              if (!http_body_done (b, c))
                return FALSE;
          }
          break;

        case HTTP_BODY_LENGTH:
          {
            gsize take = (gsize) MIN ((gint64) len, c->body_left);

            http_body_feed (b, c, data, take, now);
            data += take;
            len -= take;
            c->body_left -= (gint64) take;
            if (c->body_left == 0 && !http_body_done (b, c))
              return FALSE;
          }
          break;

        case HTTP_BODY_CHUNKED:
          used = http_chunked_feed (b, c, data, len, now, &done);
          if (used < 0)
            {
              conn_failed (b, c, "bad chunked encoding", 0, 0);
              return FALSE;
            }
          data += used;
          len -= (gsize) used;
          if (done && !http_body_done (b, c))
            return FALSE;
          break;

        case HTTP_BODY_UNTIL_CLOSE:
          http_body_feed (b, c, data, len, now);
          len = 0;
          break;

        case HTTP_WS:
          return ws_feed (b, c, data, len, now);

        case HTTP_IGNORE:
          len = 0;
          break;

        default:
          g_assert_not_reached ();
        }
    }
  return c->state != CONN_STATE_CLOSED;
}

static void
conn_on_eof (Bench *b,
             Conn  *c,
             int    errnum)
{
  if (c->kind == CONN_PUB)
    pub_failed (b, c, "publisher connection closed", 0, errnum);
  else if (c->kind == CONN_SUB && c->http_state == HTTP_BODY_UNTIL_CLOSE &&
           b->transport == BENCH_TRANSPORT_LONGPOLL && errnum == 0)
    {
      /* the body ran to EOF: it is complete, but the connection is gone */
      sub_failed (b, c, "long-poll connection closed by server", 0, 0);
    }
  else
    sub_failed (b, c, errnum != 0 ? "receive" : "connection closed by server", 0, errnum);
}

static void
conn_read (Bench  *b,
           Conn   *c,
           gint64  now)
{
  ssize_t n = recv (c->fd, read_buf, sizeof read_buf, 0);

  if (n > 0)
    {
      if (c->kind == CONN_SLOW && b->phase == PHASE_SLOW_DRAIN)
        b->slow_last_io_ns = now;
      conn_input (b, c, read_buf, (gsize) n, now);
    }
  else if (n == 0)
    conn_on_eof (b, c, 0);
  else if (errno != EAGAIN && errno != EINTR)
    conn_on_eof (b, c, errno);
}

/* --------------------------------------------------------- subscribers */

static gboolean
lp_send_request (Bench *b,
                 Conn  *c)
{
  g_autoptr(GString) req = g_string_new (NULL);

  g_string_append_printf (req, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n",
                          b->sub_path, b->sub_host);
  if (c->etag != NULL)
    g_string_append_printf (req, "If-None-Match: %s\r\n", c->etag);
  if (c->last_modified != NULL)
    g_string_append_printf (req, "If-Modified-Since: %s\r\n", c->last_modified);
  g_string_append (req, "\r\n");
  return conn_send (b, c, req->str, req->len);
}

static void
sub_handshake_done (Bench  *b,
                    Conn   *c,
                    gint64  now)
{
  b->connecting--;
  b->connect_end_ns = now;
  c->state = CONN_STATE_OPEN;
  if (c->kind == CONN_SLOW)
    {
      b->slow_open++;
      c->http_state = HTTP_IGNORE;
    }
  else
    {
      b->connected++;
      b->connected_total++;
    }
  if (b->ws_init != NULL && b->transport == BENCH_TRANSPORT_WS)
    if (!ws_send_frame (b, c, 0x1, (const guint8 *) b->ws_init, b->ws_init_len))
      return;
  conn_update_events (b, c);
}

/* The TCP connection of a subscriber is up: send the request. */
static void
sub_on_connected (Bench  *b,
                  Conn   *c,
                  gint64  now)
{
  gboolean ok;

  c->state = CONN_STATE_HANDSHAKE;
  conn_set_events (b, c, EPOLLIN | EPOLLRDHUP);
  switch (b->transport)
    {
    case BENCH_TRANSPORT_WS:
      ws_send_handshake (b, c);
      break;
    case BENCH_TRANSPORT_SSE:
      conn_send (b, c, b->sse_request->str, b->sse_request->len);
      break;
    case BENCH_TRANSPORT_LONGPOLL:
      ok = lp_send_request (b, c);
      /* a long-poll subscriber is subscribed once its request is out */
      if (ok && c->state != CONN_STATE_CLOSED)
        {
          sub_handshake_done (b, c, now);
          if (c->kind == CONN_SLOW)
            c->http_state = HTTP_IGNORE;
          else
            c->http_state = HTTP_HEAD;
        }
      break;
    default:
      g_assert_not_reached ();
    }
}

/* ----------------------------------------------------------- publishers */

static gboolean
pub_start (Bench *b,
           Conn  *c)
{
  if (!conn_connect (b, c, &b->pub_addr, 0, now_ns ()))
    {
      c->state = CONN_STATE_CLOSED;
      b->pubs_dead++;
      if (b->phase == PHASE_SETTLE)
        b->pubs_pending--;
      return FALSE;
    }
  return TRUE;
}

static void
pub_on_connected (Bench *b,
                  Conn  *c)
{
  c->state = CONN_STATE_OPEN;
  b->pubs_open++;
  if (b->phase == PHASE_SETTLE)
    b->pubs_pending--;
  conn_update_events (b, c);
}

static gsize
bench_format_payload (Bench   *b,
                      guint64  seq,
                      guint64  t)
{
  int n = g_snprintf (b->payload, b->size, "{\"seq\":%" G_GUINT64_FORMAT ",\"t\":%"
                      G_GUINT64_FORMAT ",\"p\":\"", seq, t);
  gsize pad;

  g_assert (n > 0 && (guint) n + 2 <= b->size);
  pad = b->size - (gsize) n - 2;
  memset (b->payload + n, 'x', pad);
  b->payload[n + pad] = '"';
  b->payload[n + pad + 1] = '}';
  return b->size;
}

static void
pub_send (Bench *b,
          Conn  *c)
{
  g_autoptr(GByteArray) req = g_byte_array_sized_new (b->pub_head->len + b->size);
  guint64 seq = b->sent++;
  gsize len = bench_format_payload (b, seq, (guint64) now_ns ());

  g_byte_array_append (req, (const guint8 *) b->pub_head->str, (guint) b->pub_head->len);
  g_byte_array_append (req, (const guint8 *) b->payload, (guint) len);
  c->busy = TRUE;
  b->pub_inflight++;
  conn_send (b, c, req->data, req->len);
}

static gboolean
bench_publish_more (Bench  *b,
                    gint64  now)
{
  if (b->messages > 0 && b->sent >= b->messages)
    return FALSE;
  if (now >= b->pub_stop_ns)
    return FALSE;
  return b->pubs_dead < b->n_pubs;
}

static void
bench_publish (Bench  *b,
               gint64  now)
{
  guint i;

  for (i = 0; i < b->n_pubs && bench_publish_more (b, now); i++)
    {
      Conn *c = &b->pubs[i];

      if (c->state != CONN_STATE_OPEN || c->busy)
        continue;
      if (b->rate > 0)
        {
          gint64 due = b->pub_start_ns + (gint64) ((double) b->sent * 1e9 / b->rate);

          if (due > now)
            break;
        }
      pub_send (b, c);
    }
}

/* ---------------------------------------------------------- phase logic */

static void
bench_measure_end (Bench *b)
{
  double cpu;

  if (b->measured_end)
    return;
  if (b->server_pid > 0)
    {
      gint64 kb = proc_read_rss_kb (b->server_pid);

      b->rss_after = kb;
      if (kb > b->rss_peak)
        b->rss_peak = kb;
      if (b->have_cpu && proc_read_cpu (b->server_pid, &cpu))
        b->cpu_after = cpu;
      else
        b->have_cpu = FALSE;
    }
  b->measured_end = TRUE;
}

static void
bench_finish (Bench  *b,
              gint64  now)
{
  bench_measure_end (b);
  if (b->pub_end_ns == 0 && b->pub_start_ns != 0)
    b->pub_end_ns = now;
  b->end_ns = now;
  b->phase = PHASE_DONE;
}

static void
bench_start_measure (Bench *b)
{
  double cpu;

  if (b->server_pid > 0 && proc_read_cpu (b->server_pid, &cpu))
    {
      b->cpu_before = cpu;
      b->have_cpu = TRUE;
    }
}

static void
bench_check_timeouts (Bench  *b,
                      gint64  now)
{
  gint64 limit = (gint64) b->handshake_timeout_ms * NS_PER_MS;
  guint i;

  if (b->connecting == 0)
    return;
  for (i = 0; i < b->next_connect; i++)
    {
      Conn *c = &b->subs[i];

      if ((c->state == CONN_STATE_CONNECTING || c->state == CONN_STATE_HANDSHAKE) &&
          now - c->started_ns > limit)
        sub_failed (b, c, "handshake timeout", 0, ETIMEDOUT);
    }
}

static void
bench_progress (Bench  *b,
                gint64  now)
{
  static const char *const names[] = {
    "connect", "hold", "settle", "publish", "drain", "slow-drain", "done"
  };

  if (b->quiet)
    return;
  fprintf (stderr, "[%6.1fs] %-10s subs %u/%u errors %u  published %" G_GUINT64_FORMAT
           "  deliveries %" G_GUINT64_FORMAT "\n",
           (double) (now - b->run_start_ns) / 1e9, names[b->phase],
           b->connected, b->clients, b->connect_errors, b->published_ok, b->deliveries);
}

static void
bench_enter_publish (Bench  *b,
                     gint64  now)
{
  bench_start_measure (b);
  b->subs_at_start = b->connected;
  b->pub_start_ns = now;
  b->last_progress_ns = now;
  b->pub_stop_ns = b->deadline_ns;
  if (b->messages == 0)
    {
      /* time-bound: keep a drain window before the hard deadline */
      gint64 window = MIN (STALL_NS, (b->deadline_ns - now) / 4);

      b->pub_stop_ns = b->deadline_ns - window;
    }
  b->phase = PHASE_PUBLISH;
}

static void
bench_tick (Bench  *b,
            gint64  now)
{
  guint i;

  if (bench_interrupted || now >= b->deadline_ns)
    {
      if (bench_interrupted && !b->quiet)
        fprintf (stderr, "crier-bench: interrupted\n");
      bench_finish (b, now);
      return;
    }

  if (now >= b->next_tick_ns)
    {
      b->next_tick_ns = now + TICK_NS;
      bench_sample_rss (b);
      bench_check_timeouts (b, now);
    }
  if (now >= b->next_progress_ns)
    {
      b->next_progress_ns = now + NS_PER_SEC;
      bench_progress (b, now);
    }

  switch (b->phase)
    {
    case PHASE_CONNECT:
      while (b->next_connect < b->n_subs && b->connecting < b->concurrency)
        {
          Conn *c = &b->subs[b->next_connect];
          guint idx = b->next_connect++;

          b->connecting++;
          if (!conn_connect (b, c, &b->sub_addr, idx % b->sources, now))
            {
              b->connecting--;
              b->connect_errors++;
              b->connect_end_ns = now;
            }
        }
      if (b->next_connect < b->n_subs || b->connecting > 0)
        break;
      if (b->connect_end_ns == 0)
        b->connect_end_ns = now;
      if (b->clients > 0 && b->connected == 0)
        {
          bench_error (b, "no subscriber connected", 0, 0);
          bench_finish (b, now);
          break;
        }
      if (b->idle_only)
        {
          b->hold_until_ns = now + (gint64) b->hold_ms * NS_PER_MS;
          b->phase = PHASE_HOLD;
          break;
        }
      b->settle_until_ns = now + (gint64) b->settle_ms * NS_PER_MS;
      b->phase = PHASE_SETTLE;
      b->pubs_pending = b->n_pubs;
      for (i = 0; i < b->n_pubs; i++)
        pub_start (b, &b->pubs[i]);
      break;

    case PHASE_HOLD:
      if (now >= b->hold_until_ns)
        bench_finish (b, now);
      break;

    case PHASE_SETTLE:
      if (now < b->settle_until_ns || b->pubs_pending > 0)
        break;
      if (b->pubs_open == 0)
        {
          bench_error (b, "no publisher connection", 0, 0);
          bench_finish (b, now);
          break;
        }
      bench_enter_publish (b, now);
      G_GNUC_FALLTHROUGH;

    case PHASE_PUBLISH:
      bench_publish (b, now);
      if (!bench_publish_more (b, now) && b->pub_inflight == 0)
        {
          b->pub_end_ns = now;
          b->drain_start_ns = now;
          b->phase = PHASE_DRAIN;
        }
      break;

    case PHASE_DRAIN:
      if (b->deliveries >= b->published_ok * b->subs_at_start ||
          now - MAX (b->last_progress_ns, b->drain_start_ns) >= STALL_NS)
        {
          bench_measure_end (b);
          if (b->slow_open == 0)
            {
              bench_finish (b, now);
              break;
            }
          b->phase = PHASE_SLOW_DRAIN;
          b->slow_drain_start_ns = now;
          b->slow_last_io_ns = now;
          for (i = b->clients; i < b->n_subs; i++)
            {
              Conn *c = &b->subs[i];

              if (c->state != CONN_STATE_OPEN)
                continue;
              conn_update_events (b, c);
            }
        }
      break;

    case PHASE_SLOW_DRAIN:
      if (b->slow_open == 0 || now - b->slow_last_io_ns >= SLOW_QUIET_NS ||
          now - b->slow_drain_start_ns >= SLOW_DRAIN_NS)
        bench_finish (b, now);
      break;

    case PHASE_DONE:
      break;

    default:
      g_assert_not_reached ();
    }
}

static int
bench_wait_timeout_ms (Bench  *b,
                       gint64  now)
{
  gint64 wake = MIN (b->next_tick_ns, b->next_progress_ns);

  if (b->phase == PHASE_CONNECT && b->next_connect < b->n_subs && b->connecting < b->concurrency)
    return 0;
  if (b->phase == PHASE_PUBLISH && b->rate > 0 && bench_publish_more (b, now))
    wake = MIN (wake, b->pub_start_ns + (gint64) ((double) b->sent * 1e9 / b->rate));
  wake = MIN (wake, b->deadline_ns);
  if (wake <= now)
    return 0;
  return (int) MIN ((wake - now + NS_PER_MS - 1) / NS_PER_MS, 100);
}

static void
conn_on_event (Bench    *b,
               Conn     *c,
               guint32   events,
               gint64    now)
{
  if (c->state == CONN_STATE_CLOSED || c->state == CONN_STATE_IDLE)
    return;

  if (c->state == CONN_STATE_CONNECTING)
    {
      int err = 0;
      socklen_t elen = sizeof err;

      if (getsockopt (c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
        err = errno;
      if (err != 0)
        {
          conn_failed (b, c, "connect", 0, err);
          return;
        }
      if (!(events & EPOLLOUT))
        {
          conn_failed (b, c, "connect", 0, ECONNRESET);
          return;
        }
      if (c->kind == CONN_PUB)
        pub_on_connected (b, c);
      else
        sub_on_connected (b, c, now);
      return;
    }

  if (conn_paused (b, c))
    {
      /* not reading: any hangup means the server dropped it */
      if (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))
        sub_failed (b, c, "evicted", 0, 0);
      else if (events & EPOLLOUT)
        conn_flush (b, c);
      return;
    }

  if (events & EPOLLOUT)
    {
      conn_flush (b, c);
      if (c->state == CONN_STATE_CLOSED)
        return;
    }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
    conn_read (b, c, now);
}

/* -------------------------------------------------------------- targets */

static gboolean
parse_loopback (const char *host,
                guint32    *out_addr)
{
  struct in_addr a;

  if (g_ascii_strcasecmp (host, "localhost") == 0)
    host = "127.0.0.1";
  if (inet_pton (AF_INET, host, &a) != 1)
    return FALSE;
  if ((ntohl (a.s_addr) >> 24) != 127)
    return FALSE;
  *out_addr = a.s_addr;
  return TRUE;
}

static gboolean
parse_target (const char          *url,
              const char          *want_scheme,
              struct sockaddr_in  *addr,
              char               **host_header,
              char               **path,
              GError             **error)
{
  g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_ENCODED, error);
  const char *p, *q;
  guint32 a;
  int port;

  if (uri == NULL)
    return FALSE;
  if (g_strcmp0 (g_uri_get_scheme (uri), want_scheme) != 0)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "%s: expected a %s:// URL", url, want_scheme);
      return FALSE;
    }
  if (g_uri_get_host (uri) == NULL || !parse_loopback (g_uri_get_host (uri), &a))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "%s: only 127.0.0.0/8 targets are allowed", url);
      return FALSE;
    }
  port = g_uri_get_port (uri);
  if (port <= 0)
    port = 80;
  memset (addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = a;
  addr->sin_port = htons ((guint16) port);
  *host_header = g_strdup_printf ("%s:%d", g_uri_get_host (uri), port);
  p = g_uri_get_path (uri);
  q = g_uri_get_query (uri);
  *path = g_strdup_printf ("%s%s%s", (p != NULL && *p != '\0') ? p : "/",
                           q != NULL ? "?" : "", q != NULL ? q : "");
  if (strpbrk (*path, " \r\n") != NULL)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "%s: bad characters in the path", url);
      return FALSE;
    }
  return TRUE;
}

/* --------------------------------------------------------------- report */

static void
json_num (GString    *s,
          const char *key,
          double      v,
          gboolean    valid,
          const char *fmt_is_int)
{
  if (!valid)
    g_string_append_printf (s, ",\"%s\":null", key);
  else if (fmt_is_int != NULL)
    g_string_append_printf (s, ",\"%s\":%.0f", key, v);
  else
    g_string_append_printf (s, ",\"%s\":%.3f", key, v);
}

static void
bench_report (Bench *b)
{
  g_autoptr(GString) s = g_string_new (NULL);
  double connect_s = b->connect_end_ns > b->connect_start_ns
                     ? (double) (b->connect_end_ns - b->connect_start_ns) / 1e9 : 0;
  double pub_s = b->pub_end_ns > b->pub_start_ns
                 ? (double) (b->pub_end_ns - b->pub_start_ns) / 1e9 : 0;
  double deliv_s = b->last_delivery_ns > b->pub_start_ns && b->pub_start_ns > 0
                   ? (double) (b->last_delivery_ns - b->pub_start_ns) / 1e9 : 0;
  guint64 expected = b->published_ok * b->subs_at_start;
  guint64 lost = expected > b->deliveries ? expected - b->deliveries : 0;
  double cpu = b->have_cpu ? b->cpu_after - b->cpu_before : 0;
  gboolean has_server = b->server_pid > 0 && b->rss_before >= 0;
  gboolean publishing = !b->idle_only;
  double p50 = hist_percentile_ms (b, 0.50);
  double p99 = hist_percentile_ms (b, 0.99);
  double p999 = hist_percentile_ms (b, 0.999);
  double lmax = (double) b->lat_max / 1e6;
  gboolean has_lat = b->hist_count > 0;
  double rss_per_conn = 0;
  gboolean has_rss_per_conn = FALSE;
  struct rusage ru;
  double self_cpu = 0;

  if (getrusage (RUSAGE_SELF, &ru) == 0)
    self_cpu = (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 +
               (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
  if (b->idle_only && has_server && b->rss_after >= 0 && b->connected > 0)
    {
      rss_per_conn = (double) (b->rss_after - b->rss_before) * 1024.0 / b->connected;
      has_rss_per_conn = TRUE;
    }

  if (!b->json_only)
    {
      printf ("crier-bench: %u %s subscriber(s) over %u source address(es)",
              b->clients, transport_names[b->transport], b->sources);
      if (b->slow > 0)
        printf (" + %u slow", b->slow);
      printf ("\n");
      printf ("  connect    %u ok, %u errors in %.3f s (%.0f/s)\n",
              b->connected_total, b->connect_errors, connect_s,
              connect_s > 0 ? b->connected_total / connect_s : 0);
      if (publishing)
        {
          printf ("  publish    %" G_GUINT64_FORMAT " ok, %" G_GUINT64_FORMAT
                  " errors, %u bytes, in %.3f s (%.0f/s)\n",
                  b->published_ok, b->publish_errors, b->size, pub_s,
                  pub_s > 0 ? b->published_ok / pub_s : 0);
          printf ("  deliveries %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                  " expected (%.0f/s), %" G_GUINT64_FORMAT " lost, %" G_GUINT64_FORMAT
                  " duplicated, %" G_GUINT64_FORMAT " stale, %u subscriber(s) dropped\n",
                  b->deliveries, expected, deliv_s > 0 ? b->deliveries / deliv_s : 0,
                  lost, b->duplicated, b->stale, b->sub_disconnects);
          if (has_lat)
            printf ("  latency    p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms\n",
                    p50, p99, p999, lmax);
        }
      if (has_server)
        {
          printf ("  server     pid %d: ", b->server_pid);
          if (b->have_cpu)
            {
              printf ("cpu %.2f s", cpu);
              if (publishing && b->deliveries > 0)
                printf (" (%.2f us per delivery)", cpu * 1e6 / b->deliveries);
              printf (", ");
            }
          printf ("rss %" G_GINT64_FORMAT " -> %" G_GINT64_FORMAT " kB (peak %" G_GINT64_FORMAT
                  " kB)", b->rss_before, b->rss_after, b->rss_peak);
          if (has_rss_per_conn)
            printf (", %.0f bytes per idle connection", rss_per_conn);
          printf ("\n");
        }
      if (b->slow > 0)
        printf ("  slow       %u slow client(s), %u evicted by the server\n",
                b->slow, b->slow_evicted);
      printf ("  bench      %.2f s cpu, %.2f s wall\n", self_cpu,
              (double) (b->end_ns - b->run_start_ns) / 1e9);
      if (b->first_error != NULL)
        printf ("  first error: %s\n", b->first_error);
    }

  g_string_append_printf (s, "{\"clients\":%u,\"sources\":%u,\"transport\":\"%s\"",
                          b->clients, b->sources, transport_names[b->transport]);
  json_num (s, "connect_seconds", connect_s, TRUE, NULL);
  json_num (s, "connects_per_sec", connect_s > 0 ? b->connected_total / connect_s : 0, TRUE, "i");
  json_num (s, "connect_errors", b->connect_errors, TRUE, "i");
  json_num (s, "published", (double) b->published_ok, TRUE, "i");
  json_num (s, "publish_errors", (double) b->publish_errors, TRUE, "i");
  json_num (s, "publish_rate", pub_s > 0 ? b->published_ok / pub_s : 0, publishing, "i");
  json_num (s, "deliveries", (double) b->deliveries, TRUE, "i");
  json_num (s, "deliveries_per_sec", deliv_s > 0 ? b->deliveries / deliv_s : 0, publishing, "i");
  json_num (s, "expected_deliveries", (double) expected, TRUE, "i");
  json_num (s, "lost", (double) lost, TRUE, "i");
  json_num (s, "duplicated", (double) b->duplicated, TRUE, "i");
  g_string_append (s, ",\"latency_ms\":");
  if (has_lat)
    g_string_append_printf (s, "{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}",
                            p50, p99, p999, lmax);
  else
    g_string_append (s, "null");
  json_num (s, "server_cpu_s", cpu, b->have_cpu, NULL);
  json_num (s, "server_cpu_us_per_delivery",
            b->deliveries > 0 ? cpu * 1e6 / b->deliveries : 0,
            b->have_cpu && publishing && b->deliveries > 0, NULL);
  json_num (s, "server_rss_before_kb", (double) b->rss_before, has_server, "i");
  json_num (s, "server_rss_after_kb", (double) b->rss_after, has_server && b->rss_after >= 0, "i");
  json_num (s, "rss_per_conn_bytes", rss_per_conn, has_rss_per_conn, "i");
  json_num (s, "slow_clients", b->slow, TRUE, "i");
  json_num (s, "slow_evicted", b->slow_evicted, TRUE, "i");
  json_num (s, "server_rss_peak_kb", (double) b->rss_peak, has_server, "i");
  json_num (s, "duration_s", (double) (b->end_ns - b->run_start_ns) / 1e9, TRUE, NULL);
  json_num (s, "size", b->size, TRUE, "i");
  json_num (s, "rate", b->rate, publishing, NULL);
  json_num (s, "inflight", b->inflight, publishing, "i");
  json_num (s, "subscriber_disconnects", b->sub_disconnects, TRUE, "i");
  json_num (s, "stale", (double) b->stale, TRUE, "i");
  json_num (s, "bench_cpu_s", self_cpu, TRUE, NULL);
  g_string_append_printf (s, ",\"interrupted\":%s", bench_interrupted ? "true" : "false");
  g_string_append (s, ",\"first_error\":");
  if (b->first_error != NULL)
    {
      g_autofree char *esc = g_strescape (b->first_error, NULL);

      g_string_append_printf (s, "\"%s\"", esc);
    }
  else
    g_string_append (s, "null");
  g_string_append (s, "}");
  printf ("%s\n", s->str);
  fflush (stdout);
}

/* --------------------------------------------------------------- main */

static void
bench_close_all (Bench *b)
{
  guint i;

  for (i = 0; i < b->n_subs; i++)
    {
      Conn *c = &b->subs[i];

      if (c->state == CONN_STATE_OPEN && b->transport == BENCH_TRANSPORT_WS &&
          !c->ws_close_sent && (c->out == NULL || c->out->len == c->out_off))
        {
          static const guint8 code[2] = { 0x03, 0xe8 };  /* 1000 */
          g_autoptr(GByteArray) f = g_byte_array_new ();

          ws_build_frame (b, f, 0x8, code, 2);
          (void) !send (c->fd, f->data, f->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
      conn_close_now (b, c);
      g_clear_pointer (&c->seen, g_free);
    }
  for (i = 0; i < b->n_pubs; i++)
    conn_close_now (b, &b->pubs[i]);
}

static gboolean
bench_setup (Bench   *b,
             GError **error)
{
  struct rlimit rl;
  guint need;
  guint i;

  if (b->sub_url != NULL)
    {
      const char *scheme = b->transport == BENCH_TRANSPORT_WS ? "ws" : "http";

      if (!parse_target (b->sub_url, scheme, &b->sub_addr, &b->sub_host, &b->sub_path, error))
        return FALSE;
    }
  if (b->pub_url != NULL &&
      !parse_target (b->pub_url, "http", &b->pub_addr, &b->pub_host, &b->pub_path, error))
    return FALSE;

  b->n_subs = b->clients + b->slow;
  b->n_pubs = b->idle_only ? 0 : b->inflight;
  need = b->n_subs + b->n_pubs + 32;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
      getrlimit (RLIMIT_NOFILE, &rl);
      if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur)
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "%u subscribers + %u publishers need about %u descriptors; "
                       "the limit is %lu", b->n_subs, b->n_pubs, need,
                       (unsigned long) rl.rlim_cur);
          return FALSE;
        }
    }

  b->epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (b->epfd < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                   "epoll_create1: %s", g_strerror (errno));
      return FALSE;
    }

  b->subs = g_new0 (Conn, MAX (b->n_subs, 1));
  for (i = 0; i < b->n_subs; i++)
    {
      b->subs[i].fd = -1;
      b->subs[i].kind = i < b->clients ? CONN_SUB : CONN_SLOW;
    }
  b->pubs = g_new0 (Conn, MAX (b->n_pubs, 1));
  for (i = 0; i < b->n_pubs; i++)
    {
      b->pubs[i].fd = -1;
      b->pubs[i].kind = CONN_PUB;
    }

  b->win_bits = SEEN_WINDOW_MAX;
  if (b->messages > 0)
    {
      b->win_bits = 64;
      while (b->win_bits < b->messages && b->win_bits < SEEN_WINDOW_MAX)
        b->win_bits <<= 1;
    }
  b->hist = g_new0 (guint64, HIST_N);
  b->payload = g_malloc (b->size + 1);

  if (b->pub_url != NULL)
    {
      b->pub_head = g_string_new (NULL);
      g_string_append_printf (b->pub_head,
                              "POST %s HTTP/1.1\r\n"
                              "Host: %s\r\n"
                              "Content-Type: application/json\r\n"
                              "Content-Length: %u\r\n",
                              b->pub_path, b->pub_host, b->size);
      for (i = 0; b->headers != NULL && b->headers[i] != NULL; i++)
        g_string_append_printf (b->pub_head, "%s\r\n", b->headers[i]);
      g_string_append (b->pub_head, "\r\n");
    }
  if (b->sub_url != NULL)
    {
      b->sse_request = g_string_new (NULL);
      g_string_append_printf (b->sse_request,
                              "GET %s HTTP/1.1\r\n"
                              "Host: %s\r\n"
                              "Accept: text/event-stream\r\n"
                              "Cache-Control: no-cache\r\n"
                              "\r\n",
                              b->sub_path, b->sub_host);
    }
  b->prng = (guint64) now_ns () ^ ((guint64) getpid () << 32) ^ G_GUINT64_CONSTANT (0x9e3779b97f4a7c15);
  return TRUE;
}

static void
bench_free (Bench *b)
{
  if (b->epfd >= 0)
    close (b->epfd);
  g_free (b->subs);
  g_free (b->pubs);
  g_free (b->hist);
  g_free (b->payload);
  g_free (b->sub_host);
  g_free (b->sub_path);
  g_free (b->pub_host);
  g_free (b->pub_path);
  g_free (b->sub_url);
  g_free (b->pub_url);
  g_free (b->ws_init);
  g_free (b->first_error);
  g_strfreev (b->headers);
  if (b->pub_head != NULL)
    g_string_free (b->pub_head, TRUE);
  if (b->sse_request != NULL)
    g_string_free (b->sse_request, TRUE);
}

static void
bench_run (Bench *b)
{
  struct epoll_event events[MAX_EVENTS];
  gint64 now = now_ns ();

  b->connect_start_ns = now;
  b->next_tick_ns = now;
  b->next_progress_ns = now + NS_PER_SEC;
  if (b->idle_only)
    bench_start_measure (b);

  /* Bounded by the deadline: every iteration waits at most 100 ms and the
   * deadline ends the run. */
  while (b->phase != PHASE_DONE)
    {
      int n, i;

      bench_tick (b, now);
      if (b->phase == PHASE_DONE)
        break;
      n = epoll_wait (b->epfd, events, MAX_EVENTS, bench_wait_timeout_ms (b, now));
      if (n < 0 && errno != EINTR)
        {
          bench_error (b, "epoll_wait", 0, errno);
          bench_finish (b, now_ns ());
          break;
        }
      now = now_ns ();
      for (i = 0; i < n; i++)
        conn_on_event (b, events[i].data.ptr, events[i].events, now);
    }
  bench_progress (b, now);
}

static gboolean
parse_transport (const char      *name,
                 BenchTransport  *out)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (transport_names); i++)
    if (g_strcmp0 (name, transport_names[i]) == 0)
      {
        *out = (BenchTransport) i;
        return TRUE;
      }
  return FALSE;
}

int
main (int   argc,
      char *argv[])
{
  Bench bench = { 0 };
  Bench *b = &bench;
  g_autoptr(GOptionContext) ctx = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *transport = NULL;
  g_autofree char *ws_init = NULL;
  g_autofree char *sub_url = NULL;
  g_autofree char *pub_url = NULL;
  char **headers = NULL;
  int clients = 0, sources = 0, concurrency = 512, inflight = 4, size = 100;
  int server_pid = 0, slow = 0, settle_ms = 250, handshake_timeout_ms = 10000;
  gint64 messages = 0;
  double rate = 0, duration = 60;
  gboolean idle_only = FALSE, json_only = FALSE, quiet = FALSE;
  int hold_ms = 1000;
  struct sigaction sa = { 0 };
  int status;
  guint i;
  GOptionEntry entries[] = {
    { "sub-url", 0, 0, G_OPTION_ARG_STRING, &sub_url,
      "Subscribe URL: ws://127.0.0.x:PORT/path, or http:// with --transport sse|longpoll", "URL" },
    { "transport", 0, 0, G_OPTION_ARG_STRING, &transport,
      "Subscriber transport: ws (default), sse or longpoll", "NAME" },
    { "pub-url", 0, 0, G_OPTION_ARG_STRING, &pub_url,
      "Publish URL: http://127.0.0.x:PORT/path (HTTP POST)", "URL" },
    { "clients", 'n', 0, G_OPTION_ARG_INT, &clients, "Subscribers (default 1)", "N" },
    { "sources", 0, 0, G_OPTION_ARG_INT, &sources,
      "Spread subscribers over 127.0.0.1..127.0.0.K (default ceil(N/5000))", "K" },
    { "connect-concurrency", 0, 0, G_OPTION_ARG_INT, &concurrency,
      "Handshakes in flight (default 512)", "C" },
    { "rate", 'r', 0, G_OPTION_ARG_DOUBLE, &rate,
      "Publishes per second; 0 = as fast as --inflight allows (default 0)", "R" },
    { "inflight", 0, 0, G_OPTION_ARG_INT, &inflight,
      "Publisher connections, one publish in flight each (default 4)", "P" },
    { "messages", 'm', 0, G_OPTION_ARG_INT64, &messages, "Total publishes", "M" },
    { "duration", 'd', 0, G_OPTION_ARG_DOUBLE, &duration,
      "Hard cap on the whole run in seconds (default 60, max 600)", "S" },
    { "size", 's', 0, G_OPTION_ARG_INT, &size, "Message size in bytes (default 100)", "B" },
    { "server-pid", 0, 0, G_OPTION_ARG_INT, &server_pid,
      "Server process to sample CPU and RSS of (/proc)", "PID" },
    { "idle-only", 0, 0, G_OPTION_ARG_NONE, &idle_only,
      "Connect, hold (--hold-ms), report connect rate and RSS per idle connection", NULL },
    { "hold-ms", 0, 0, G_OPTION_ARG_INT, &hold_ms,
      "With --idle-only: keep the connections open this long (default 1000)", "MS" },
    { "slow", 0, 0, G_OPTION_ARG_INT, &slow,
      "Extra subscribers that never read after the handshake", "K" },
    { "ws-init", 0, 0, G_OPTION_ARG_STRING, &ws_init,
      "Text frame sent after each WebSocket handshake (C escapes such as \\n)", "TEXT" },
    { "http-header", 'H', 0, G_OPTION_ARG_STRING_ARRAY, &headers,
      "Extra header for publish requests (repeatable)", "'NAME: VALUE'" },
    { "settle-ms", 0, 0, G_OPTION_ARG_INT, &settle_ms,
      "Pause between the last subscription and the first publish (default 250)", "MS" },
    { "handshake-timeout-ms", 0, 0, G_OPTION_ARG_INT, &handshake_timeout_ms,
      "Give up on a subscriber handshake after MS (default 10000)", "MS" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json_only,
      "Print only the JSON result line (implies --quiet)", NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress lines on stderr", NULL },
    { NULL }
  };

  b->epfd = -1;
  ctx = g_option_context_new ("- fan-out load generator for pub/sub servers");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_description (ctx,
    "Only 127.0.0.0/8 is ever connected to.  Subscribers + publishers must stay\n"
    "below the per-process descriptor limit (about 20000 here).  The last line of\n"
    "output is always one JSON object with the results.\n");
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("crier-bench: %s\n", error->message);
      return 1;
    }

  b->transport = BENCH_TRANSPORT_WS;
  if (transport != NULL && !parse_transport (transport, &b->transport))
    {
      g_printerr ("crier-bench: unknown transport '%s' (ws, sse, longpoll)\n", transport);
      return 1;
    }
  if (clients == 0 && sub_url != NULL)
    clients = 1;
  if (clients < 0 || clients > 1000000 || slow < 0 || slow > 100000)
    {
      g_printerr ("crier-bench: bad --clients or --slow\n");
      return 1;
    }
  if ((clients > 0 || slow > 0) && sub_url == NULL)
    {
      g_printerr ("crier-bench: --sub-url is required\n");
      return 1;
    }
  if (!idle_only && pub_url == NULL)
    {
      g_printerr ("crier-bench: --pub-url is required (or --idle-only)\n");
      return 1;
    }
  if (idle_only && slow > 0)
    {
      g_printerr ("crier-bench: --slow needs a publishing run, not --idle-only\n");
      return 1;
    }
  /* Past ~10k connections from one source address the kernel's search for a
   * free ephemeral port dominates connect() (measured at 19,500: 4.4k
   * connects/s and 3.9 s of our CPU with one source, 14.5k/s and 0.9 s with
   * four), so keep about 5000 per source. */
  if (sources == 0)
    sources = MAX (1, (clients + slow + 4999) / 5000);
  if (sources < 1 || sources > 254)
    {
      g_printerr ("crier-bench: --sources must be 1..254 (127.0.0.1..127.0.0.254)\n");
      return 1;
    }
  if (concurrency < 1 || concurrency > 65536 || inflight < 1 || inflight > 1024 ||
      rate < 0 || rate > 10e6 || messages < 0 || duration <= 0 || duration > 600 ||
      size < 64 || size > 16 * 1024 * 1024 || settle_ms < 0 || settle_ms > 60000 ||
      handshake_timeout_ms < 1 || handshake_timeout_ms > 600000 ||
      hold_ms < 0 || hold_ms > 600000)
    {
      g_printerr ("crier-bench: option out of range (see --help; --size >= 64, "
                  "--duration <= 600)\n");
      return 1;
    }
  if (ws_init != NULL && b->transport != BENCH_TRANSPORT_WS)
    {
      g_printerr ("crier-bench: --ws-init needs --transport ws\n");
      return 1;
    }
  for (i = 0; headers != NULL && headers[i] != NULL; i++)
    if (strchr (headers[i], ':') == NULL || strpbrk (headers[i], "\r\n") != NULL)
      {
        g_printerr ("crier-bench: bad --http-header '%s' (want 'Name: value')\n", headers[i]);
        g_strfreev (headers);
        return 1;
      }
  if (server_pid != 0)
    {
      g_autofree char *path = g_strdup_printf ("/proc/%d/stat", server_pid);

      if (server_pid < 0 || !g_file_test (path, G_FILE_TEST_EXISTS))
        {
          g_printerr ("crier-bench: no process %d\n", server_pid);
          g_strfreev (headers);
          return 1;
        }
    }

  b->sub_url = g_steal_pointer (&sub_url);
  b->pub_url = g_steal_pointer (&pub_url);
  b->clients = (guint) clients;
  b->slow = (guint) slow;
  b->sources = (guint) sources;
  b->concurrency = (guint) concurrency;
  b->rate = rate;
  b->inflight = (guint) inflight;
  b->messages = (guint64) messages;
  b->duration = duration;
  b->size = (guint) size;
  b->server_pid = server_pid;
  b->idle_only = idle_only;
  b->hold_ms = (guint) hold_ms;
  b->json_only = json_only;
  b->quiet = quiet || json_only;
  b->settle_ms = (guint) settle_ms;
  b->handshake_timeout_ms = (guint) handshake_timeout_ms;
  b->headers = headers;
  if (ws_init != NULL)
    {
      b->ws_init = g_strcompress (ws_init);
      b->ws_init_len = strlen (b->ws_init);
    }

  if (!bench_setup (b, &error))
    {
      g_printerr ("crier-bench: %s\n", error->message);
      bench_free (b);
      return 1;
    }

  sa.sa_handler = bench_on_signal;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  sa.sa_handler = SIG_IGN;
  sigaction (SIGPIPE, &sa, NULL);

  b->run_start_ns = now_ns ();
  b->deadline_ns = b->run_start_ns + (gint64) (duration * 1e9);
  b->rss_before = -1;
  b->rss_after = -1;
  b->rss_peak = -1;
  if (b->server_pid > 0)
    {
      b->rss_before = proc_read_rss_kb (b->server_pid);
      b->rss_peak = b->rss_before;
    }

  bench_run (b);
  bench_report (b);
  /* 2: nothing was measured (no subscriber or no publish got through) */
  status = (b->clients > 0 && b->connected_total == 0) ||
           (!b->idle_only && b->published_ok == 0) ? 2 : 0;
  bench_close_all (b);
  bench_free (b);
  return status;
}
