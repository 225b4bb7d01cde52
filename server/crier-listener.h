/* crier-listener.h: crierd's own listening sockets.
 *
 * SoupServer's listener has a backlog of 10, accepts one connection per
 * loop iteration and stops for good after one EMFILE.  Ours: backlog from
 * the config (4096), SO_REUSEPORT, IPv4 and IPv6, batches of accepts per
 * wakeup, a connection cap below RLIMIT_NOFILE with a counted and logged
 * refusal (a short 503), and EMFILE/ENFILE handled by pausing accepts
 * briefly instead of spinning.  Accepted sockets go to libsoup with
 * soup_server_accept_iostream(): libsoup still parses HTTP and routes.
 *
 * Before that, in this order: the per-address connection cap, the node's
 * and the address's connection-rate token buckets (503 + Retry-After),
 * then, when a certificate is set, a TLS handshake (GTlsServerConnection;
 * libsoup does no TLS on streams it is given), so every endpoint works
 * over https:// and wss://.
 *
 * libsoup 3.2 has no timeouts: the budget tracks every connection still
 * in its HTTP phase (request-started / request-read / request-finished of
 * the SoupServer) and crier_conn_budget_sweep(), run every second, shuts
 * down those that take longer than [limits] request_timeout to send a
 * request (head and body; the TLS handshake counts too) or that idle
 * between keep-alive requests longer than http_idle_timeout.  A
 * connection leaves the HTTP phase when the engine adopts it (see
 * CrierConnToken) and stops counting for its address when it is freed.
 */
#pragma once

#include <libsoup/soup.h>
#include <sys/socket.h>

#include "crier-config.h"
#include "crier-engine.h"
#include "crier-limits.h"

G_BEGIN_DECLS

/* Shared by all listeners of one server: the cap and what it counted. */
typedef struct
{
  gint64  max_connections;   /* HTTP-phase + engine connections */
  gint64  http_open;         /* connections still with libsoup */
  guint64 accepted;
  guint64 refused_cap;
  guint64 accept_errors;     /* EMFILE, ENFILE, ENOBUFS, ENOMEM */
  gint64  last_refusal_log;  /* µs, for rate-limited logging */
  gint64  last_error_log;

  /* Set by the server before listening; read at every accept, so that a
   * reload applies to new connections. */
  const CrierConfig *config;          /* [limits], borrowed */
  CrierLimitStats   *limits;          /* the server's counters, borrowed */
  GTlsCertificate   *tls_certificate; /* NULL: plain TCP */

  /* private */
  CrierTokenBucket   connect_bucket;
  GHashTable        *addresses;       /* "ip" -> per-address count + bucket */
  GHashTable        *http_conns;      /* connections in their HTTP phase */
  GHashTable        *by_remote;       /* remote GSocketAddress* -> same */
  guint64            tls_handshakes;
  guint64            tls_failures;
} CrierConnBudget;

CrierConnBudget *crier_conn_budget_new      (gint64            max_connections);
CrierConnBudget *crier_conn_budget_ref      (CrierConnBudget  *budget);
void             crier_conn_budget_unref    (CrierConnBudget  *budget);
/* New connections use @certificate (NULL: plain TCP); open ones keep
 * theirs. */
void             crier_conn_budget_set_tls_certificate (CrierConnBudget *budget,
                                                        GTlsCertificate *certificate);
/* Follows @soup's requests to know what each HTTP-phase connection does. */
void             crier_conn_budget_watch_soup (CrierConnBudget *budget,
                                               SoupServer      *soup);
/* Close the HTTP-phase connections past their deadline; forget idle
 * per-address entries.  @now_us: monotonic. */
void             crier_conn_budget_sweep    (CrierConnBudget  *budget,
                                             gint64            now_us);
/* Connections now open from @address (an IP, as "127.0.0.1"). */
guint            crier_conn_budget_get_address_count (CrierConnBudget *budget,
                                                      const char      *address);

/* @address: "host:port", "[v6]:port" or "*:port"; port 0 picks one. */
CrierListener   *crier_listener_new         (CrierEngine      *engine,
                                             SoupServer       *soup,
                                             CrierConnBudget  *budget,
                                             const char       *address,
                                             int               backlog,
                                             gboolean          tcp_nodelay,
                                             GError          **error);
void             crier_listener_free        (CrierListener    *listener);
guint16          crier_listener_get_port    (CrierListener    *listener);
/* "127.0.0.1:8000" or "[::]:8000" */
const char      *crier_listener_get_address (CrierListener    *listener);
/* Close the listening socket (drain): new connections are refused by the
 * kernel from now on. */
void             crier_listener_stop        (CrierListener    *listener);

/* Parses "host:port" / "[v6]:port" / "*:port" into a socket address;
 * names other than "localhost" are not resolved. */
gboolean         crier_parse_listen_address (const char       *address,
                                             struct sockaddr_storage *out,
                                             socklen_t        *out_len,
                                             GError          **error);

/* libsoup 3.2 keeps an HTTP/1.1 connection alive after a response only
 * when the SoupServer has a listener of its own (request_finished() checks
 * priv->listeners), and connections given with soup_server_accept_iostream()
 * do not count.  This gives @soup one that nobody can reach: a Unix socket
 * whose path is removed at once. */
gboolean         crier_soup_anchor_keepalive (SoupServer      *soup,
                                              GError         **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierListener, crier_listener_free)

G_END_DECLS
