/* crier-listener.c: listening sockets, accept loop, connection cap.
 *
 * Key functions: crier_listener_new (socket, SO_REUSEPORT, bind, listen),
 * listener_ready (batched accept4 with cap and EMFILE handling),
 * admit (per-address cap, connection-rate buckets), hand_to_soup (TLS
 * handshake, soup_server_accept_iostream), crier_conn_budget_sweep
 * (request and idle timeouts of HTTP-phase connections).
 */
#include "config.h"

#include "crier-listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
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

/* Per remote address: open connections and the connect-rate bucket. */
typedef struct
{
  guint            count;
  CrierTokenBucket bucket;
} AddressEntry;

typedef enum
{
  HTTP_READING,     /* a request (or the TLS handshake) is on its way */
  HTTP_HANDLING,    /* the whole request arrived: the handler answers */
  HTTP_IDLE,        /* between keep-alive requests */
  HTTP_DOOMED,      /* shut down by the sweep, not yet gone */
} HttpState;

/* One accepted connection: the CrierConnToken that follows it from the
 * listener through libsoup into the engine. */
typedef struct
{
  CrierConnToken   token;    /* first */
  CrierConnBudget *budget;
  char            *address;  /* key in budget->addresses */
  GSocket         *socket;   /* while in the HTTP phase */
  GSocketConnection *conn;   /* borrowed: we are its object data */
  GSocketAddress  *remote;   /* while in the HTTP phase: key in by_remote */
  HttpState        state;
  gint64           since_us; /* monotonic, start of the state */
  gboolean         in_http;
} HttpConn;

static void
budget_clear (gpointer data)
{
  CrierConnBudget *budget = data;

  g_clear_object (&budget->tls_certificate);
  g_clear_pointer (&budget->addresses, g_hash_table_unref);
  g_clear_pointer (&budget->http_conns, g_hash_table_unref);
  g_clear_pointer (&budget->by_remote, g_hash_table_unref);
}

CrierConnBudget *
crier_conn_budget_new (gint64 max_connections)
{
  CrierConnBudget *budget = g_rc_box_new0 (CrierConnBudget);

  budget->max_connections = max_connections;
  budget->addresses = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  budget->http_conns = g_hash_table_new (NULL, NULL);
  budget->by_remote = g_hash_table_new (NULL, NULL);
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
  g_rc_box_release_full (budget, budget_clear);
}

void
crier_conn_budget_set_tls_certificate (CrierConnBudget *budget,
                                       GTlsCertificate *certificate)
{
  g_set_object (&budget->tls_certificate, certificate);
}

guint
crier_conn_budget_get_address_count (CrierConnBudget *budget,
                                     const char      *address)
{
  AddressEntry *entry = g_hash_table_lookup (budget->addresses, address);

  return entry != NULL ? entry->count : 0;
}

static void
count_limit (CrierConnBudget *budget,
             CrierLimitReason reason)
{
  if (budget->limits != NULL)
    budget->limits->refused[reason]++;
}

static void
http_conn_leave_http (HttpConn *hc)
{
  CrierConnBudget *budget = hc->budget;

  if (!hc->in_http)
    return;
  hc->in_http = FALSE;
  budget->http_open--;
  g_hash_table_remove (budget->http_conns, hc);
  if (g_hash_table_lookup (budget->by_remote, hc->remote) == hc)
    g_hash_table_remove (budget->by_remote, hc->remote);
  g_clear_object (&hc->remote);
  g_clear_object (&hc->socket);
}

static void
http_conn_adopted (CrierConnToken *token)
{
  http_conn_leave_http ((HttpConn *) token);
}

static void
http_conn_release (CrierConnToken *token)
{
  HttpConn *hc = (HttpConn *) token;
  AddressEntry *entry;

  http_conn_leave_http (hc);
  entry = g_hash_table_lookup (hc->budget->addresses, hc->address);
  if (entry != NULL && entry->count > 0)
    entry->count--;
  crier_conn_budget_unref (hc->budget);
  g_free (hc->address);
  g_free (hc);
}

static HttpConn *
http_conn_for_message (CrierConnBudget   *budget,
                       SoupServerMessage *msg)
{
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);

  return remote != NULL ? g_hash_table_lookup (budget->by_remote, remote) : NULL;
}

static void
http_conn_set_state (CrierConnBudget   *budget,
                     SoupServerMessage *msg,
                     HttpState          state)
{
  HttpConn *hc = http_conn_for_message (budget, msg);

  if (hc == NULL || hc->state == HTTP_DOOMED)
    return;
  /* request-started also comes for the first request at accept time,
   * when the connection is already READING since then. */
  if (state == HTTP_READING && hc->state == HTTP_READING)
    return;
  hc->state = state;
  hc->since_us = g_get_monotonic_time ();
}

static gboolean should_log (gint64 *last);

/* libsoup 3.2 refuses a request head over its fixed 64 KiB
 * (HEADER_SIZE_LIMIT in soup-message-io-data.c) without a response or a
 * signal: the read fails with "Header too big", io_run() puts that in the
 * message's reason phrase with status 500, and the connection is closed
 * before any handler sees the request (no method).  That is all there is
 * to tell it from a peer that closed mid-head ("Connection terminated
 * unexpectedly"). */
static void
message_disconnected_cb (SoupServerMessage *msg,
                         gpointer           data)
{
  CrierConnBudget *budget = data;
  const char *reason = soup_server_message_get_reason_phrase (msg);

  if (soup_server_message_get_method (msg) != NULL ||
      soup_server_message_get_status (msg) != SOUP_STATUS_INTERNAL_SERVER_ERROR ||
      reason == NULL ||
      (g_strcmp0 (reason, "Header too big") != 0 &&
       g_strcmp0 (reason, g_dgettext ("libsoup-3.0", "Header too big")) != 0))
    return;

  count_limit (budget, CRIER_LIMIT_HEADER_TOO_LARGE);
  if (should_log (&budget->last_refusal_log))
    g_warning ("closed a connection from %s: request head over 64 KiB (libsoup's limit)",
               soup_server_message_get_remote_host (msg) != NULL
                 ? soup_server_message_get_remote_host (msg) : "a client");
}

static void
add_header_size (const char *name,
                 const char *value,
                 gpointer    data)
{
  *(gsize *) data += strlen (name) + 2 + strlen (value) + 2;
}

/* [limits] max_request_head, once libsoup has parsed the head (it holds at
 * most 64 KiB of it): 431, Connection: close, and no handler runs (libsoup
 * calls none for a message that already has a status). */
static void
message_got_headers_cb (SoupServerMessage *msg,
                        gpointer           data)
{
  CrierConnBudget *budget = data;
  GUri *uri = soup_server_message_get_uri (msg);
  const char *query = uri != NULL ? g_uri_get_query (uri) : NULL;
  SoupMessageHeaders *response;
  gsize size;

  if (budget->config == NULL || soup_server_message_get_status (msg) != 0)
    return;

  /* "METHOD path?query HTTP/1.1\r\n", the fields, the blank line. */
  size = strlen (soup_server_message_get_method (msg)) + 1 +
         (uri != NULL ? strlen (g_uri_get_path (uri)) : 0) +
         (query != NULL ? strlen (query) + 1 : 0) + 11 + 2;
  soup_message_headers_foreach (soup_server_message_get_request_headers (msg), add_header_size, &size);
  if ((gint64) size <= budget->config->max_request_head)
    return;

  count_limit (budget, CRIER_LIMIT_HEADER_TOO_LARGE);
  if (should_log (&budget->last_refusal_log))
    g_warning ("refused a request from %s: head of %zu bytes, over [limits] max_request_head "
               "(%" G_GINT64_FORMAT ")", soup_server_message_get_remote_host (msg), size,
               budget->config->max_request_head);
  response = soup_server_message_get_response_headers (msg);
  soup_message_headers_replace (response, "Connection", "close");
  soup_server_message_set_status (msg, 431, "Request Header Fields Too Large");
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC,
                                    "request head too large\n", 23);
}

static void
budget_unref_notify (gpointer  data,
                     GClosure *closure)
{
  crier_conn_budget_unref (data);
}

static void
request_started_cb (SoupServer        *soup,
                    SoupServerMessage *msg,
                    gpointer           data)
{
  CrierConnBudget *budget = data;

  http_conn_set_state (budget, msg, HTTP_READING);
  /* The message may be disconnected after the server and its listeners
   * are gone: the handler holds the budget. */
  g_signal_connect_data (msg, "disconnected", G_CALLBACK (message_disconnected_cb),
                         crier_conn_budget_ref (budget), budget_unref_notify, 0);
  g_signal_connect_data (msg, "got-headers", G_CALLBACK (message_got_headers_cb),
                         crier_conn_budget_ref (budget), budget_unref_notify, 0);
}

static void
request_read_cb (SoupServer        *soup,
                 SoupServerMessage *msg,
                 gpointer           data)
{
  http_conn_set_state (data, msg, HTTP_HANDLING);
}

static void
request_done_cb (SoupServer        *soup,
                 SoupServerMessage *msg,
                 gpointer           data)
{
  http_conn_set_state (data, msg, HTTP_IDLE);
}

void
crier_conn_budget_watch_soup (CrierConnBudget *budget,
                              SoupServer      *soup)
{
  /* The budget outlives the handlers: the server disconnects its
   * SoupServer's signals when it drops it, before the budget. */
  g_signal_connect (soup, "request-started", G_CALLBACK (request_started_cb), budget);
  g_signal_connect (soup, "request-read", G_CALLBACK (request_read_cb), budget);
  g_signal_connect (soup, "request-finished", G_CALLBACK (request_done_cb), budget);
  g_signal_connect (soup, "request-aborted", G_CALLBACK (request_done_cb), budget);
}

void
crier_conn_budget_sweep (CrierConnBudget *budget,
                         gint64           now_us)
{
  const CrierConfig *config = budget->config;
  g_autoptr(GPtrArray) stuck = NULL;
  GHashTableIter iter;
  gpointer key, value;

  if (config == NULL)
    return;

  g_hash_table_iter_init (&iter, budget->http_conns);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      HttpConn *hc = key;
      gint64 limit_ms = 0;
      CrierLimitReason reason;

      if (hc->state == HTTP_DOOMED)
        {
          /* Shut down a second ago and libsoup still holds it (it does not
           * always look at an idle connection again): close the stream,
           * which frees the descriptor and wakes libsoup with an error. */
          if (now_us - hc->since_us >= G_USEC_PER_SEC)
            {
              if (stuck == NULL)
                stuck = g_ptr_array_new_with_free_func (g_object_unref);
              g_ptr_array_add (stuck, g_object_ref (hc->conn));
            }
          continue;
        }
      if (hc->state == HTTP_READING)
        {
          limit_ms = config->request_timeout;
          reason = CRIER_LIMIT_REQUEST_TIMEOUT;
        }
      else if (hc->state == HTTP_IDLE)
        {
          char c;

          /* libsoup 3.2 does not notice a peer that closes an idle
           * keep-alive connection of ours (it stays in CLOSE-WAIT): look
           * for the end of stream ourselves and let libsoup wake up. */
          if (recv (g_socket_get_fd (hc->socket), &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
            {
              hc->state = HTTP_DOOMED;
              hc->since_us = now_us;
              g_socket_shutdown (hc->socket, TRUE, TRUE, NULL);
              continue;
            }
          limit_ms = config->http_idle_timeout;
          reason = CRIER_LIMIT_IDLE_TIMEOUT;
        }
      else
        continue;
      if (limit_ms <= 0 || now_us - hc->since_us < limit_ms * 1000)
        continue;

      /* libsoup sees end of stream (or the TLS layer an error) on its next
       * read and frees the connection; the descriptor stays valid until
       * then, so nothing can reuse it under libsoup's feet. */
      count_limit (budget, reason);
      g_debug ("closing %s connection from %s after %" G_GINT64_FORMAT " ms",
               reason == CRIER_LIMIT_IDLE_TIMEOUT ? "an idle" : "a slow",
               hc->address, (now_us - hc->since_us) / 1000);
      hc->state = HTTP_DOOMED;
      hc->since_us = now_us;
      g_socket_shutdown (hc->socket, TRUE, TRUE, NULL);
    }

  for (guint i = 0; stuck != NULL && i < stuck->len; i++)
    g_io_stream_close (g_ptr_array_index (stuck, i), NULL, NULL);

  /* Per-address entries without connections whose bucket is full again
   * carry no state worth keeping. */
  g_hash_table_iter_init (&iter, budget->addresses);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      AddressEntry *entry = value;
      double rate = (double) config->connect_rate_per_address;
      double refill_s = rate > 0 ? (double) config->connect_burst_per_address / rate : 0;

      if (entry->count == 0 &&
          (now_us - entry->bucket.last_us) > (gint64) (refill_s * G_USEC_PER_SEC) + G_USEC_PER_SEC)
        g_hash_table_iter_remove (&iter);
    }
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
refuse_fd (int         fd,
           const char *reason,
           guint       retry_after)
{
  g_autofree char *response = NULL;
  int len;

  response = g_strdup_printf ("HTTP/1.1 503 Service Unavailable\r\n"
                              "Content-Type: text/plain\r\n"
                              "Content-Length: %zu\r\n"
                              "Retry-After: %u\r\n"
                              "Connection: close\r\n\r\n"
                              "%s\n",
                              strlen (reason) + 1, retry_after, reason);
  len = strlen (response);
  /* Best effort: a non-blocking send into an empty socket buffer. */
  if (send (fd, response, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
    { /* nothing to do: we close anyway */ }
  close (fd);
}

static void
refuse (CrierListener *self,
        int            fd)
{
  CrierConnBudget *budget = self->budget;

  budget->refused_cap++;
  if (should_log (&budget->last_refusal_log))
    g_warning ("connection cap of %" G_GINT64_FORMAT " reached on %s: refusing "
               "(%" G_GUINT64_FORMAT " refused so far)",
               budget->max_connections, self->address, budget->refused_cap);
  refuse_fd (fd, "connection limit reached", 5);
}

static char *
address_of (const struct sockaddr *peer)
{
  char host[INET6_ADDRSTRLEN] = "";

  if (peer->sa_family == AF_INET6)
    {
      const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) peer;

      /* An IPv4 client on a dual-stack socket is the same client. */
      if (IN6_IS_ADDR_V4MAPPED (&in6->sin6_addr))
        inet_ntop (AF_INET, &in6->sin6_addr.s6_addr[12], host, sizeof host);
      else
        inet_ntop (AF_INET6, &in6->sin6_addr, host, sizeof host);
    }
  else if (peer->sa_family == AF_INET)
    inet_ntop (AF_INET, &((const struct sockaddr_in *) peer)->sin_addr, host, sizeof host);
  return g_strdup (host);
}

/* The per-address cap and the connection-rate buckets; on refusal the
 * descriptor is answered and closed, and NULL returned. */
static AddressEntry *
admit (CrierListener   *self,
       int              fd,
       const char      *address)
{
  CrierConnBudget *budget = self->budget;
  const CrierConfig *config = budget->config;
  gint64 now = g_get_monotonic_time ();
  AddressEntry *entry = g_hash_table_lookup (budget->addresses, address);

  if (entry == NULL)
    {
      entry = g_new0 (AddressEntry, 1);
      g_hash_table_insert (budget->addresses, g_strdup (address), entry);
    }
  if (config == NULL)
    return entry;

  if (config->max_connections_per_address > 0 &&
      (gint64) entry->count >= config->max_connections_per_address)
    {
      count_limit (budget, CRIER_LIMIT_PER_ADDRESS);
      if (should_log (&budget->last_refusal_log))
        g_warning ("%s has %u connections, the most [limits] max_connections_per_address "
                   "allows: refusing", address, entry->count);
      refuse_fd (fd, "too many connections from your address", 5);
      return NULL;
    }
  if (!crier_token_bucket_take (&budget->connect_bucket, (double) config->connect_rate,
                                (double) config->connect_burst, now))
    {
      count_limit (budget, CRIER_LIMIT_CONNECT_RATE);
      if (should_log (&budget->last_refusal_log))
        g_warning ("more than %" G_GINT64_FORMAT " new connections per second "
                   "([limits] connect_rate): refusing with 503", config->connect_rate);
      refuse_fd (fd, "too many new connections, retry later",
                 crier_token_bucket_wait_s (&budget->connect_bucket, (double) config->connect_rate));
      return NULL;
    }
  if (!crier_token_bucket_take (&entry->bucket, (double) config->connect_rate_per_address,
                                (double) config->connect_burst_per_address, now))
    {
      count_limit (budget, CRIER_LIMIT_CONNECT_RATE_ADDR);
      refuse_fd (fd, "too many new connections from your address, retry later",
                 crier_token_bucket_wait_s (&entry->bucket, (double) config->connect_rate_per_address));
      return NULL;
    }
  return entry;
}

typedef struct
{
  SoupServer        *soup;
  GSocketConnection *conn;
  GSocketAddress    *local;
  GSocketAddress    *remote;
  CrierConnBudget   *budget;
} Handshake;

static void
handshake_free (Handshake *hs)
{
  g_clear_object (&hs->soup);
  g_clear_object (&hs->conn);
  g_clear_object (&hs->local);
  g_clear_object (&hs->remote);
  crier_conn_budget_unref (hs->budget);
  g_free (hs);
}

static void
handshake_done (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Handshake *hs = user_data;
  g_autoptr(GError) error = NULL;
  GTlsConnection *tls = G_TLS_CONNECTION (source);

  if (!g_tls_connection_handshake_finish (tls, result, &error) || hs->budget->config == NULL)
    {
      /* (config NULL: the server is gone.) */
      hs->budget->tls_failures++;
      if (hs->budget->limits != NULL)
        hs->budget->limits->refused[CRIER_LIMIT_TLS_HANDSHAKE]++;
      g_debug ("TLS handshake failed: %s", error ? error->message : "server gone");
      /* Drop the socket first: no close_notify to a peer that failed. */
      g_socket_close (g_socket_connection_get_socket (hs->conn), NULL);
      g_object_unref (tls);
      handshake_free (hs);
      return;
    }

  hs->budget->tls_handshakes++;
  /* libsoup 3.2 speaks HTTP/1.1 on a stream it did not wrap itself: no
   * ALPN is advertised, so clients never pick h2 here. */
  soup_server_accept_iostream (hs->soup, G_IO_STREAM (tls), hs->local, hs->remote, NULL);
  g_object_unref (tls);
  handshake_free (hs);
}

static gboolean
hand_to_soup (CrierListener   *self,
              int              fd,
              struct sockaddr *peer,
              socklen_t        peer_len,
              const char      *address)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GSocketAddress) remote = NULL;
  g_autoptr(GSocketAddress) local = NULL;
  CrierConnBudget *budget = self->budget;
  HttpConn *hc;

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

  hc = g_new0 (HttpConn, 1);
  hc->token.adopted = http_conn_adopted;
  hc->token.release = http_conn_release;
  hc->budget = crier_conn_budget_ref (budget);
  hc->address = g_strdup (address);
  hc->socket = g_object_ref (socket);
  hc->conn = conn;
  hc->remote = g_object_ref (remote);
  hc->state = HTTP_READING;
  hc->since_us = g_get_monotonic_time ();
  hc->in_http = TRUE;
  budget->http_open++;
  g_hash_table_add (budget->http_conns, hc);
  g_hash_table_insert (budget->by_remote, remote, hc);
  {
    AddressEntry *entry = g_hash_table_lookup (budget->addresses, address);

    if (entry != NULL)
      entry->count++;
  }
  g_object_set_data_full (G_OBJECT (conn), CRIER_CONN_TOKEN_KEY, hc,
                          (GDestroyNotify) http_conn_release);

  if (budget->tls_certificate != NULL)
    {
      GIOStream *tls = g_tls_server_connection_new (G_IO_STREAM (conn), budget->tls_certificate, &error);
      Handshake *hs;

      if (tls == NULL)
        {
          g_warning ("TLS is not available (is glib-networking installed?): %s", error->message);
          return FALSE;
        }
      g_object_set (tls, "require-close-notify", FALSE, NULL);
      hs = g_new0 (Handshake, 1);
      hs->soup = g_object_ref (self->soup);
      hs->conn = g_object_ref (conn);
      hs->local = g_object_ref (local);
      hs->remote = g_object_ref (remote);
      hs->budget = crier_conn_budget_ref (budget);
      /* The sweep bounds the handshake by request_timeout too. */
      g_tls_connection_handshake_async (G_TLS_CONNECTION (tls), G_PRIORITY_DEFAULT, NULL,
                                        handshake_done, hs);
      return TRUE;
    }

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

      {
        g_autofree char *address = address_of ((struct sockaddr *) &peer);

        if (admit (self, fd, address) == NULL)
          continue;

        if (self->tcp_nodelay)
          {
            int one = 1;

            setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          }

        hand_to_soup (self, fd, (struct sockaddr *) &peer, peer_len, address);
      }
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

/* ---- keep-alive anchor ---------------------------------------------------- */

gboolean
crier_soup_anchor_keepalive (SoupServer  *soup,
                             GError     **error)
{
  g_autofree char *dir = g_dir_make_tmp ("crierd-XXXXXX", error);
  g_autofree char *path = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  gboolean ok;

  if (dir == NULL)
    return FALSE;
  path = g_build_filename (dir, "anchor", NULL);
  socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
  address = g_unix_socket_address_new (path);
  ok = socket != NULL &&
       g_socket_bind (socket, address, FALSE, error) &&
       g_socket_listen (socket, error) &&
       soup_server_listen_socket (soup, socket, 0, error);
  g_unlink (path);
  g_rmdir (dir);
  return ok;
}
