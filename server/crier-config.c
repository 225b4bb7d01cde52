/* crier-config.c: crierd's configuration from one declarative table.
 *
 * config_options[] (the process-wide keys) and namespace_options[] (the
 * keys of [channels] and of every [namespace.NAME]) are the only places
 * where an option is described.  Everything else walks them: defaults,
 * parsing and bounds, validation, copy/equal/free, reload, the dump that
 * data/crierd.conf is generated from, and --help-config.
 *
 * Loading a file goes in three steps: scan_text() reads the text line by
 * line (GKeyFile keeps no line numbers) to report syntax errors, unknown or
 * repeated sections and keys with their line; GKeyFile then parses it and
 * gives the raw values; each value is parsed and checked into a staged copy
 * of the config, the cross-field rules run on that copy, and only then is
 * it swapped in, so a failed load changes nothing.
 */
#include "config.h"

#include "crier-config.h"

#include "crier-util.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <string.h>

typedef enum
{
  OPTION_BOOL,
  OPTION_INT,
  OPTION_SIZE,        /* bytes */
  OPTION_DURATION,    /* milliseconds */
  OPTION_STRING,
  OPTION_STRING_LIST, /* comma separated, NULL-terminated char ** */
  OPTION_ENUM,        /* char *, one of ConfigOption.choices */
} OptionType;

typedef enum
{
  OPTION_RELOADABLE = 1 << 0, /* crier_config_apply_reload() copies it */
  OPTION_SECRET     = 1 << 1, /* masked by CRIER_CONFIG_DUMP_MASK_SECRETS */
} OptionFlags;

/* A parsed value before it is stored; only the member of the type is set. */
typedef struct
{
  gboolean b;
  gint64   i;
  char    *s;
  char   **strv;
} OptionValue;

/* Checks beyond type and bounds; sets @message on failure. */
typedef gboolean (*OptionCheck) (const OptionValue *value,
                                 char             **message);

typedef struct
{
  const char         *section;       /* NULL in namespace_options[] */
  const char         *key;
  OptionType          type;
  const char         *default_value; /* as written in the file */
  gint64              min;           /* INT, SIZE, DURATION: inclusive bounds */
  gint64              max;
  OptionFlags         flags;
  gsize               offset;        /* into CrierConfig or CrierNamespaceConfig */
  const char         *help;          /* first sentence = the --help-config line */
  const char * const *choices;       /* ENUM only */
  OptionCheck         check;         /* or NULL */
} ConfigOption;

typedef struct
{
  const char *name;
  const char *help;
} ConfigSection;

#define KiB(n)     ((gint64) (n) * 1024)
#define MiB(n)     ((gint64) (n) * 1024 * 1024)
#define GiB(n)     ((gint64) (n) * 1024 * 1024 * 1024)
#define MSEC(n)    ((gint64) (n))
#define SECONDS(n) ((gint64) (n) * 1000)
#define MINUTES(n) ((gint64) (n) * 60 * 1000)
#define HOURS(n)   ((gint64) (n) * 3600 * 1000)
#define DAYS(n)    ((gint64) (n) * 24 * 3600 * 1000)

#define CONFIG_FIELD(f) G_STRUCT_OFFSET (CrierConfig, f)
#define NS_FIELD(f)     G_STRUCT_OFFSET (CrierNamespaceConfig, f)
#define FIELD(type, base, opt) G_STRUCT_MEMBER (type, (base), (opt)->offset)

#define CHANNELS_SECTION "channels"
#define NAMESPACE_PREFIX "namespace."
#define MASK             "********"

static gboolean check_listen           (const OptionValue *value,
                                        char             **message);
static gboolean check_optional_address (const OptionValue *value,
                                        char             **message);
static gboolean check_node_name        (const OptionValue *value,
                                        char             **message);
static gboolean check_channel_chars    (const OptionValue *value,
                                        char             **message);
static gboolean check_redis_address    (const OptionValue *value,
                                        char             **message);
static gboolean check_redis_prefix     (const OptionValue *value,
                                        char             **message);
static gboolean check_redis_sentinels  (const OptionValue *value,
                                        char             **message);
static gboolean check_redis_tls        (const OptionValue *value,
                                        char             **message);
static gboolean check_tls_priority     (const OptionValue *value,
                                        char             **message);

static const char * const log_levels[] = { "debug", "info", "message", "warning", NULL };

/* Sections of config_options[], in the order of the dump. */
static const ConfigSection config_sections[] = {
  { "server", "Listeners and process-wide settings." },
  { "tls", "TLS for the client listeners (https:// and wss://) and optionally "
          "the admin TCP listener.  Encryption comes from GnuTLS through "
          "glib-networking; versions and ciphers are set by priority, by "
          "default TLS 1.2 and 1.3 with forward-secret key exchange and AEAD "
          "ciphers only.  Certificates are read at start and again on SIGHUP: "
          "new connections use the new certificate, open ones keep theirs." },
  { "websocket", "WebSocket framing and keepalive, for every WebSocket endpoint." },
  { "limits", "Per-connection limits.  A client over a limit is disconnected "
              "and the disconnect is counted in the metrics." },
  { "auth", "Client authentication (connection and subscription tokens) and "
            "the keys of the server HTTP API." },
  { "broker", "Where offsets, history and presence live: in this process (the "
              "default), or in Redis, shared by every crierd node that uses the "
              "same server and redis_prefix." },
  { "admin", "The admin protocol used by crier-dashboard and crierctl." },
  { "anomaly", "Alerts on crierd's own metrics: learning detectors for storms, "
               "spikes, collapses, latency creep, error bursts and memory drift, "
               "and rules for broker down, evictions and the connection cap.  "
               "Alerts are logged and sent to admin watchers." },
};

/* Reloadable: what a component reads again when it is used (log level,
 * limits, auth, origins, keepalive, namespaces).  Not reloadable: what is
 * set up once at start (sockets, node name, routes, the admin listeners). */
static const ConfigOption config_options[] = {
  /* section, key, type, default, min, max, flags, offset, help, [choices, check] */
  { "server", "listen", OPTION_STRING_LIST, "0.0.0.0:8000, [::]:8000", 0, 0,
    0, CONFIG_FIELD (listen),
    "Addresses the client endpoints listen on, as host:port.  IPv6 addresses "
    "go in brackets, as in [::1]:8000, and port 0 picks a free port.  At "
    "least one address is required.",
    NULL, check_listen },
  { "server", "node_name", OPTION_STRING, "", 0, 0,
    0, CONFIG_FIELD (node_name),
    "Name of this node in logs, metrics and cluster views.  Empty means the "
    "host name.",
    NULL, check_node_name },
  { "server", "backlog", OPTION_INT, "4096", 1, 65535,
    0, CONFIG_FIELD (backlog),
    "Length of the queue of connections that the kernel has accepted and "
    "crierd has not yet picked up (the listen(2) backlog, capped by "
    "net.core.somaxconn)." },
  { "server", "max_connections", OPTION_INT, "0", 0, 10000000,
    0, CONFIG_FIELD (max_connections),
    "Most client connections at once, all listeners together; connections "
    "beyond it are closed at once.  0 means the open-file limit "
    "(RLIMIT_NOFILE, raised at start) minus a reserve." },
  { "server", "tcp_nodelay", OPTION_BOOL, "true", 0, 0,
    0, CONFIG_FIELD (tcp_nodelay),
    "Disable Nagle's algorithm on client sockets.  Crier coalesces its own "
    "writes, so this lowers latency without sending many small packets." },
  { "server", "drain_timeout", OPTION_DURATION, "10s", 0, MINUTES (10),
    OPTION_RELOADABLE, CONFIG_FIELD (drain_timeout),
    "On shutdown, the longest crierd waits for connections to close after it "
    "stops accepting new ones.  Connections still open then are closed." },
  { "server", "log_level", OPTION_ENUM, "info", 0, 0,
    OPTION_RELOADABLE, CONFIG_FIELD (log_level),
    "Least severe log messages that are printed.",
    log_levels },
  { "server", "debug_endpoints", OPTION_BOOL, "false", 0, 0,
    0, CONFIG_FIELD (debug_endpoints),
    "Serve the /debug test endpoints.  Never enable this in production." },
  { "server", "allowed_origins", OPTION_STRING_LIST, "", 0, 0,
    OPTION_RELOADABLE, CONFIG_FIELD (allowed_origins),
    "Origins (scheme://host[:port]) allowed to open WebSocket connections and "
    "to make cross-origin (CORS) requests.  Empty allows every origin." },
  { "server", "debug_disable_transports", OPTION_STRING_LIST, "", 0, 0,
    0, CONFIG_FIELD (debug_disable_transports),
    "Test switch: transports that refuse every request with 503 (websocket, "
    "sse, http_stream, longpoll), to exercise client fallbacks.  Honoured "
    "only with debug_endpoints." },
  { "server", "debug_pages_dir", OPTION_STRING, "", 0, 0,
    0, CONFIG_FIELD (debug_pages_dir),
    "Test switch: directory whose files GET /debug/page/NAME serves, so that "
    "browser tests run pages from crierd's own origin.  Honoured only with "
    "debug_endpoints." },

  { "tls", "cert_file", OPTION_STRING, "", 0, 0,
    OPTION_RELOADABLE, CONFIG_FIELD (tls_cert_file),
    "PEM file with the server certificate (and its chain) for the client "
    "listeners.  When set, every client listener speaks TLS only.  Empty "
    "means plain TCP.  Requires key_file (with --set, give key_file "
    "first).  On reload the files are read again and new connections use "
    "them; open connections keep their certificate." },
  { "tls", "key_file", OPTION_STRING, "", 0, 0,
    OPTION_RELOADABLE, CONFIG_FIELD (tls_key_file),
    "PEM file with the private key of cert_file (PKCS#1, PKCS#8 or SEC1, "
    "not encrypted).  Keep it readable by crierd only." },
  { "tls", "admin", OPTION_BOOL, "false", 0, 0,
    0, CONFIG_FIELD (tls_admin),
    "Serve the admin TCP listener ([admin] listen) over TLS too, with "
    "admin_cert_file or else cert_file.  The admin Unix socket never uses "
    "TLS." },
  { "tls", "admin_cert_file", OPTION_STRING, "", 0, 0,
    OPTION_RELOADABLE, CONFIG_FIELD (tls_admin_cert_file),
    "PEM certificate for the admin TCP listener.  Empty means cert_file." },
  { "tls", "admin_key_file", OPTION_STRING, "", 0, 0,
    OPTION_RELOADABLE, CONFIG_FIELD (tls_admin_key_file),
    "PEM private key of admin_cert_file.  Empty means key_file." },
  { "tls", "priority", OPTION_STRING, "modern", 0, 0,
    0, CONFIG_FIELD (tls_priority),
    "Protocol versions, key exchanges and ciphers of every TLS listener "
    "(client and admin): modern, or a GnuTLS priority string.  modern "
    "allows TLS 1.2 and 1.3 only, ECDHE or DHE key exchange (no RSA key "
    "exchange), AEAD ciphers (AES-GCM, ChaCha20-Poly1305; no CBC) and no "
    "SHA-1 signatures, in the server's order.  gnutls-cli --priority STRING "
    "--list shows what a string allows.  crierd hands it to glib-networking "
    "as G_TLS_GNUTLS_PRIORITY (which it replaces); that is read once per "
    "process, so a change needs a restart.",
    NULL, check_tls_priority },

  { "websocket", "max_frame_size", OPTION_SIZE, "64KiB", KiB (1), MiB (64),
    OPTION_RELOADABLE, CONFIG_FIELD (ws_max_frame_size),
    "Largest WebSocket frame a client may send.  A larger frame closes the "
    "connection with code 1009.  At most max_message_size." },
  { "websocket", "max_message_size", OPTION_SIZE, "64KiB", KiB (1), MiB (64),
    OPTION_RELOADABLE, CONFIG_FIELD (ws_max_message_size),
    "Largest WebSocket message a client may send, the frames of a fragmented "
    "message together.  A larger message closes the connection with code "
    "1009." },
  { "websocket", "ping_interval", OPTION_DURATION, "25s", MSEC (100), HOURS (1),
    OPTION_RELOADABLE, CONFIG_FIELD (ping_interval),
    "How often the server pings each client, to keep the connection alive "
    "through proxies and to find dead peers." },
  { "websocket", "pong_timeout", OPTION_DURATION, "8s", MSEC (100), HOURS (1),
    OPTION_RELOADABLE, CONFIG_FIELD (pong_timeout),
    "How long a client has to answer a ping before it is disconnected.  Must "
    "be shorter than ping_interval." },
  { "websocket", "stale_timeout", OPTION_DURATION, "10s", MSEC (100), HOURS (1),
    OPTION_RELOADABLE, CONFIG_FIELD (stale_timeout),
    "How long a new connection may stay open without sending its connect "
    "command." },

  { "limits", "outbound_soft_limit", OPTION_SIZE, "256KiB", KiB (1), GiB (1),
    OPTION_RELOADABLE, CONFIG_FIELD (outbound_soft_limit),
    "Bytes queued for one client above which its grace period starts.  A "
    "client that stays above it for outbound_soft_grace is disconnected "
    "(code 3008, slow).  At most outbound_hard_limit." },
  { "limits", "outbound_hard_limit", OPTION_SIZE, "1MiB", KiB (1), GiB (1),
    OPTION_RELOADABLE, CONFIG_FIELD (outbound_hard_limit),
    "Bytes queued for one client above which it is disconnected at once "
    "(code 3008, slow)." },
  { "limits", "outbound_soft_grace", OPTION_DURATION, "10s", 0, HOURS (1),
    OPTION_RELOADABLE, CONFIG_FIELD (outbound_soft_grace),
    "How long a client may stay above outbound_soft_limit." },
  { "limits", "max_request_body", OPTION_SIZE, "64KiB", KiB (1), MiB (64),
    OPTION_RELOADABLE, CONFIG_FIELD (max_request_body),
    "Largest body of an HTTP request (server API, publish, emulation); a "
    "larger one is refused with 413." },
  { "limits", "max_request_head", OPTION_SIZE, "64KiB", KiB (1), KiB (64),
    OPTION_RELOADABLE, CONFIG_FIELD (max_request_head),
    "Largest request head (request line and header fields) on the client "
    "listeners; a larger one is answered 431 and the connection closed.  "
    "libsoup itself drops a head over 64 KiB without an answer, so that is "
    "the most this can be." },
  { "limits", "max_subscriptions", OPTION_INT, "128", 1, 100000,
    OPTION_RELOADABLE, CONFIG_FIELD (max_subscriptions),
    "Most channels one connection may subscribe to." },
  { "limits", "long_poll_timeout", OPTION_DURATION, "25s", SECONDS (1), MINUTES (10),
    OPTION_RELOADABLE, CONFIG_FIELD (long_poll_timeout),
    "How long a long poll of the plain dialect (GET /sub/CHANNEL) waits for "
    "a publication before it is answered 304 with the same cursor." },
  { "limits", "long_poll_idle_timeout", OPTION_DURATION, "30s", SECONDS (1), HOURS (1),
    OPTION_RELOADABLE, CONFIG_FIELD (long_poll_idle_timeout),
    "How long a long-poll session keeps buffering publications for a client "
    "that has no poll waiting.  A client that comes back later resumes from "
    "history, or is told that it cannot." },
  { "limits", "max_connections_per_address", OPTION_INT, "0", 0, 10000000,
    OPTION_RELOADABLE, CONFIG_FIELD (max_connections_per_address),
    "Most connections one remote IP address may hold at once, all phases "
    "and listeners together; more are closed at once with 503.  0 means no "
    "limit (the default, since many clients may share one address behind "
    "NAT or a proxy)." },
  { "limits", "connect_rate", OPTION_INT, "0", 0, 10000000,
    OPTION_RELOADABLE, CONFIG_FIELD (connect_rate),
    "New connections per second this node accepts (a token bucket of "
    "connect_burst).  Connections over it are answered 503 with "
    "Retry-After before libsoup sees them, which spreads reconnect storms "
    "out.  0 means no limit." },
  { "limits", "connect_burst", OPTION_INT, "1000", 1, 10000000,
    OPTION_RELOADABLE, CONFIG_FIELD (connect_burst),
    "Connections accepted at once above connect_rate." },
  { "limits", "connect_rate_per_address", OPTION_INT, "0", 0, 10000000,
    OPTION_RELOADABLE, CONFIG_FIELD (connect_rate_per_address),
    "New connections per second from one remote IP address (a token bucket "
    "of connect_burst_per_address); over it: 503 with Retry-After.  0 means "
    "no limit." },
  { "limits", "connect_burst_per_address", OPTION_INT, "20", 1, 10000000,
    OPTION_RELOADABLE, CONFIG_FIELD (connect_burst_per_address),
    "Connections one address may open at once above "
    "connect_rate_per_address." },
  { "limits", "request_timeout", OPTION_DURATION, "10s", 0, HOURS (1),
    OPTION_RELOADABLE, CONFIG_FIELD (request_timeout),
    "Longest a client may take to send one whole HTTP request, head and "
    "body, counted from the connection (or from its first byte on a "
    "keep-alive connection).  Slower connections are closed (slowloris "
    "defence).  0s disables the check." },
  { "limits", "http_idle_timeout", OPTION_DURATION, "60s", 0, HOURS (24),
    OPTION_RELOADABLE, CONFIG_FIELD (http_idle_timeout),
    "How long an HTTP keep-alive connection may wait for its next request "
    "before it is closed.  0s disables the check." },
  { "limits", "command_rate", OPTION_INT, "0", 0, 1000000,
    OPTION_RELOADABLE, CONFIG_FIELD (command_rate),
    "Client protocol commands per second one connection may send (a token "
    "bucket of command_burst).  A command over it is refused with error "
    "111 (too many requests, temporary).  0 means no limit." },
  { "limits", "command_burst", OPTION_INT, "50", 1, 1000000,
    OPTION_RELOADABLE, CONFIG_FIELD (command_burst),
    "Commands a connection may send at once above command_rate." },
  { "limits", "command_max_rejections", OPTION_INT, "20", 1, 1000000,
    OPTION_RELOADABLE, CONFIG_FIELD (command_max_rejections),
    "Commands refused with error 111 in a row after which the connection "
    "is closed with code 3013 (too many requests)." },
  { "limits", "max_channel_subscribers", OPTION_INT, "0", 0, 100000000,
    OPTION_RELOADABLE, CONFIG_FIELD (max_channel_subscribers),
    "Most subscribers one channel may have on this node; one more is "
    "refused with error 106 (limit exceeded).  0 means no limit." },

  { "auth", "hmac_secret", OPTION_STRING, "", 0, 0,
    OPTION_RELOADABLE | OPTION_SECRET, CONFIG_FIELD (hmac_secret),
    "Secret for HS256, HS384 and HS512 connection and subscription tokens "
    "(JWT).  Empty disables HMAC tokens." },
  { "auth", "rsa_public_key", OPTION_STRING, "", 0, 0,
    OPTION_RELOADABLE, CONFIG_FIELD (rsa_public_key),
    "Path of a PEM file with the RSA public key for RS256, RS384 and RS512 "
    "tokens.  Empty disables RSA tokens." },
  { "auth", "ecdsa_public_key", OPTION_STRING, "", 0, 0,
    OPTION_RELOADABLE, CONFIG_FIELD (ecdsa_public_key),
    "Path of a PEM file with the ECDSA public key for ES256, ES384 and ES512 "
    "tokens.  Empty disables ECDSA tokens." },
  { "auth", "api_keys", OPTION_STRING_LIST, "", 0, 0,
    OPTION_RELOADABLE | OPTION_SECRET, CONFIG_FIELD (api_keys),
    "Keys accepted in the X-API-Key header of the server HTTP API and of "
    "POST /pub.  A request without one of them is refused." },
  { "auth", "allow_anonymous", OPTION_BOOL, "false", 0, 0,
    OPTION_RELOADABLE, CONFIG_FIELD (allow_anonymous),
    "Accept client connections without a connection token, as anonymous "
    "users (empty user ID)." },
  { "auth", "max_connections_per_user", OPTION_INT, "0", 0, 1000000,
    OPTION_RELOADABLE, CONFIG_FIELD (max_connections_per_user),
    "Most connections one user may hold at once on this node.  0 means no "
    "limit." },
  { "auth", "audience", OPTION_STRING, "", 0, 0,
    OPTION_RELOADABLE, CONFIG_FIELD (jwt_audience),
    "Required \"aud\" claim of connection and subscription tokens (the "
    "claim may be a list that contains it).  Empty does not check aud." },
  { "auth", "issuer", OPTION_STRING, "", 0, 0,
    OPTION_RELOADABLE, CONFIG_FIELD (jwt_issuer),
    "Required \"iss\" claim of connection and subscription tokens.  Empty "
    "does not check iss." },
  { "auth", "leeway", OPTION_DURATION, "0s", 0, MINUTES (10),
    OPTION_RELOADABLE, CONFIG_FIELD (jwt_leeway),
    "Clock skew tolerated when checking the exp and nbf claims of tokens." },
  { "auth", "expired_close_delay", OPTION_DURATION, "25s", 0, HOURS (1),
    OPTION_RELOADABLE, CONFIG_FIELD (expired_close_delay),
    "Grace after a token expires before the server acts on it: a client "
    "connection whose token was not refreshed is closed with code 3005 "
    "(connection expired), and a subscription whose subscription token was "
    "not refreshed is ended with unsubscribe code 2501, this long after the "
    "exp claim.  The SDKs refresh when the ttl of the reply runs out, so "
    "keep several seconds for the refresh round trip; 0s acts at expiry "
    "exactly." },

  { "broker", "redis", OPTION_STRING, "", 0, 0,
    0, CONFIG_FIELD (redis),
    "Redis server for offsets, history, presence and the fan-out between "
    "nodes: host:port, [ipv6]:port or unix:/path/to/socket.  Empty (and no "
    "redis_sentinels) keeps everything in this process.  TLS is not "
    "supported (hiredis 0.14 has none): use a Unix socket or a local TLS "
    "tunnel such as stunnel.",
    NULL, check_redis_address },
  { "broker", "redis_user", OPTION_STRING, "", 0, 0,
    0, CONFIG_FIELD (redis_user),
    "ACL user for AUTH (Redis 6 and later).  Empty means the default user." },
  { "broker", "redis_password", OPTION_STRING, "", 0, 0,
    OPTION_SECRET, CONFIG_FIELD (redis_password),
    "Password sent with AUTH.  Empty sends no AUTH." },
  { "broker", "redis_db", OPTION_INT, "0", 0, 65535,
    0, CONFIG_FIELD (redis_db),
    "Database number (SELECT) of the keys.  PUB/SUB channels are shared by "
    "all databases of a server, so deployments that share a server need "
    "different redis_prefix values too." },
  { "broker", "redis_prefix", OPTION_STRING, "crier", 0, 0,
    0, CONFIG_FIELD (redis_prefix),
    "Prefix of every Redis key and PUB/SUB channel.  The nodes that use the "
    "same server and prefix form one cluster.",
    NULL, check_redis_prefix },
  { "broker", "redis_sentinels", OPTION_STRING_LIST, "", 0, 0,
    0, CONFIG_FIELD (redis_sentinels),
    "Redis Sentinel addresses (host:port), instead of redis: crierd asks "
    "them for the address of redis_master_name and follows failovers.",
    NULL, check_redis_sentinels },
  { "broker", "redis_master_name", OPTION_STRING, "", 0, 0,
    0, CONFIG_FIELD (redis_master_name),
    "Name of the master that the sentinels monitor.  Required with "
    "redis_sentinels." },
  { "broker", "redis_sentinel_password", OPTION_STRING, "", 0, 0,
    OPTION_SECRET, CONFIG_FIELD (redis_sentinel_password),
    "Password sent with AUTH to the sentinels.  Empty sends no AUTH." },
  { "broker", "redis_connect_timeout", OPTION_DURATION, "2s", MSEC (100), MINUTES (1),
    0, CONFIG_FIELD (redis_connect_timeout),
    "Longest a Redis connection attempt may take, the sentinel query and "
    "the handshake included; then crierd retries with a growing delay." },
  { "broker", "redis_command_timeout", OPTION_DURATION, "5s", MSEC (100), MINUTES (10),
    0, CONFIG_FIELD (redis_command_timeout),
    "Longest Redis may leave a command unanswered; then crierd drops the "
    "connection, fails the calls that wait on it and reconnects." },
  { "broker", "redis_presence_ttl", OPTION_DURATION, "60s", SECONDS (2), MINUTES (60),
    0, CONFIG_FIELD (redis_presence_ttl),
    "How long the presence entries of a node stay in Redis without being "
    "refreshed (a node refreshes its own well before): after a crash, its "
    "clients leave presence at most this late." },
  { "broker", "redis_tls", OPTION_BOOL, "false", 0, 0,
    0, CONFIG_FIELD (redis_tls),
    "TLS to Redis.  Not available: hiredis 0.14 (Debian 12) has no TLS, so "
    "true is refused.",
    NULL, check_redis_tls },

  { "admin", "socket", OPTION_STRING, "", 0, 0,
    0, CONFIG_FIELD (admin_socket),
    "Path of the admin Unix socket (mode 0600).  Empty means "
    "$XDG_RUNTIME_DIR/crier/admin.sock, or /run/crier/admin.sock when "
    "XDG_RUNTIME_DIR is not set or empty.  The directory is created with "
    "mode 0700 when missing, and only the same user (or root) may "
    "connect." },
  { "admin", "listen", OPTION_STRING, "", 0, 0,
    0, CONFIG_FIELD (admin_listen),
    "Optional TCP address (host:port) for the admin protocol, for a "
    "dashboard on another machine.  Needs token.  Empty means no TCP "
    "listener.",
    NULL, check_optional_address },
  { "admin", "token", OPTION_STRING, "", 0, 0,
    OPTION_RELOADABLE | OPTION_SECRET, CONFIG_FIELD (admin_token),
    "Token that admin clients on the TCP listener must present.  Required "
    "when listen is set." },
  { "admin", "metrics_on_client_listener", OPTION_BOOL, "false", 0, 0,
    0, CONFIG_FIELD (admin_metrics_on_client_listener),
    "Also serve the Prometheus metrics (GET /metrics) on the client "
    "listeners, without authentication.  The admin listeners always serve "
    "them." },
  { "admin", "max_connections", OPTION_INT, "64", 0, 100000,
    OPTION_RELOADABLE, CONFIG_FIELD (admin_max_connections),
    "Most connections at once on the admin TCP listener (open WebSockets, "
    "HTTP requests and TLS handshakes together); more are closed at once, "
    "counted and logged.  0 means no cap.  The Unix socket has none." },
  { "admin", "request_timeout", OPTION_DURATION, "10s", 0, HOURS (1),
    OPTION_RELOADABLE, CONFIG_FIELD (admin_request_timeout),
    "Longest a connection to the admin TCP listener may take to send one "
    "whole request (its head: the WebSocket upgrade or GET /metrics), "
    "counted from the connection or from the end of the previous request "
    "on a keep-alive connection.  Slower ones are closed, counted and "
    "logged (slowloris defence).  0s disables the check." },

  { "anomaly", "enabled", OPTION_BOOL, "true", 0, 0,
    0, CONFIG_FIELD (anomaly_enabled),
    "Watch the 1 Hz metrics for anomalies and raise alerts." },
  { "anomaly", "sensitivity", OPTION_INT, "100", 10, 1000,
    0, CONFIG_FIELD (anomaly_sensitivity),
    "Sensitivity of the learning detectors in percent: their thresholds in "
    "standard deviations are multiplied by 100 / sensitivity, so 200 "
    "alerts on deviations half as large and 50 only on ones twice as "
    "large." },
  { "anomaly", "warmup", OPTION_DURATION, "5m", SECONDS (10), HOURS (1),
    0, CONFIG_FIELD (anomaly_warmup),
    "How long the learning detectors watch a metric before they may alert "
    "(memory per connection: twice as long).  Rules alert at once." },
  { "anomaly", "spike_sigma", OPTION_INT, "6", 2, 100,
    0, CONFIG_FIELD (anomaly_spike_sigma),
    "How many standard deviations above its learnt level a rate or latency "
    "must rise, three seconds in a row, to raise a spike alert (before "
    "sensitivity is applied)." },
  { "anomaly", "burst_min_count", OPTION_INT, "3", 1, 1000000,
    0, CONFIG_FIELD (anomaly_burst_min_count),
    "Fewest rejections or protocol errors in one second that can count as a "
    "burst, however quiet the metric usually is." },
  { "anomaly", "drop_percent", OPTION_INT, "25", 1, 95,
    0, CONFIG_FIELD (anomaly_drop_percent),
    "A rate counts as collapsed when it falls to at most this percent of "
    "its learnt level (and far enough below it in standard deviations), "
    "three seconds in a row." },
  { "anomaly", "drift_percent", OPTION_INT, "10", 1, 1000,
    0, CONFIG_FIELD (anomaly_drift_percent),
    "A slow drift is flagged when the recent average of a metric moves at "
    "least this percent away from its long-run average (plus a margin for "
    "its noise), as latency creeping up or memory per connection climbing." },
  { "anomaly", "latency_limit", OPTION_DURATION, "0s", 0, HOURS (1),
    0, CONFIG_FIELD (anomaly_latency_limit),
    "Raise a critical alert whenever the publish-to-delivery latency (99th "
    "percentile) stays above this for three seconds.  0s disables the rule." },
};

/* The keys of [channels] (the default namespace) and of every
 * [namespace.NAME].  All reload: history settings apply to channels
 * created after the reload. */
static const ConfigOption namespace_options[] = {
  /* section, key, type, default, min, max, flags, offset, help, [choices, check] */
  { NULL, "history_size", OPTION_INT, "0", 0, 1000000,
    OPTION_RELOADABLE, NS_FIELD (history_size),
    "Publications kept per channel for history and recovery.  0 keeps no "
    "history." },
  { NULL, "history_ttl", OPTION_DURATION, "5m", SECONDS (1), DAYS (30),
    OPTION_RELOADABLE, NS_FIELD (history_ttl),
    "How long a publication stays in history." },
  { NULL, "history_max_bytes", OPTION_SIZE, "1MiB", KiB (1), GiB (1),
    OPTION_RELOADABLE, NS_FIELD (history_max_bytes),
    "Payload bytes kept in history per channel.  The oldest publications "
    "are dropped first." },
  { NULL, "presence", OPTION_BOOL, "false", 0, 0,
    OPTION_RELOADABLE, NS_FIELD (presence),
    "Track which clients are subscribed, for presence and presence_stats." },
  { NULL, "join_leave", OPTION_BOOL, "false", 0, 0,
    OPTION_RELOADABLE, NS_FIELD (join_leave),
    "Send join and leave pushes to subscribers that ask for them." },
  { NULL, "force_join_leave", OPTION_BOOL, "false", 0, 0,
    OPTION_RELOADABLE, NS_FIELD (force_join_leave),
    "Send join and leave pushes to every subscriber, whether it asked for "
    "them or not." },
  { NULL, "allow_subscribe", OPTION_BOOL, "true", 0, 0,
    OPTION_RELOADABLE, NS_FIELD (allow_subscribe),
    "Clients may subscribe without a subscription token.  require_sub_token "
    "takes precedence." },
  { NULL, "allow_publish", OPTION_BOOL, "false", 0, 0,
    OPTION_RELOADABLE, NS_FIELD (allow_publish),
    "Subscribed clients may publish into the channel." },
  { NULL, "allow_history", OPTION_BOOL, "false", 0, 0,
    OPTION_RELOADABLE, NS_FIELD (allow_history),
    "Subscribed clients may call history.  Needs history_size above 0." },
  { NULL, "allow_presence", OPTION_BOOL, "false", 0, 0,
    OPTION_RELOADABLE, NS_FIELD (allow_presence),
    "Subscribed clients may call presence and presence_stats.  Needs "
    "presence." },
  { NULL, "require_sub_token", OPTION_BOOL, "false", 0, 0,
    OPTION_RELOADABLE, NS_FIELD (require_sub_token),
    "Subscribing needs a subscription token (JWT), whatever allow_subscribe "
    "says." },
  { NULL, "force_recovery", OPTION_BOOL, "false", 0, 0,
    OPTION_RELOADABLE, NS_FIELD (force_recovery),
    "Make every subscription recoverable: a client that reconnects gets the "
    "publications it missed.  Needs history_size above 0." },
  { NULL, "force_positioning", OPTION_BOOL, "false", 0, 0,
    OPTION_RELOADABLE, NS_FIELD (force_positioning),
    "Tell every subscriber when it may have missed publications (offset and "
    "epoch checks).  Needs history_size above 0." },
  { NULL, "max_channel_length", OPTION_INT, "255", 1, 4096,
    OPTION_RELOADABLE, NS_FIELD (max_channel_length),
    "Longest channel name in bytes, the namespace prefix included." },
  { NULL, "channel_chars", OPTION_STRING, "A-Za-z0-9_.:@-", 0, 0,
    OPTION_RELOADABLE, NS_FIELD (channel_chars),
    "Characters allowed in channel names after the \"namespace:\" prefix: "
    "single ASCII characters and ranges such as a-z.  A '-' at the start or "
    "the end stands for itself.",
    NULL, check_channel_chars },
};

static const char dump_header[] =
  "# crierd.conf: configuration of the Crier real-time server (crierd).\n"
  "#\n"
  "# Every option is listed below with its help text, type, default and\n"
  "# range.  Each option still at its default is commented out, so this file\n"
  "# as shipped changes nothing: remove the '#' in front of a key and edit\n"
  "# its value to change a setting.  Keys missing from the file keep their\n"
  "# defaults.\n"
  "#\n"
  "# Syntax (a GLib key file): '[section]' headers, 'key = value' lines and\n"
  "# whole-line comments starting with '#'; a '#' after a value is part of\n"
  "# the value.  Unknown sections and keys, repeated keys and repeated\n"
  "# sections are errors that name the file and line.  Strings may use the\n"
  "# escapes \\s (space), \\t, \\n, \\r and \\\\.\n"
  "#\n"
  "# Value types:\n"
  "#   bool      true or false (yes/no, on/off and 1/0 work too)\n"
  "#   integer   a whole decimal number\n"
  "#   size      bytes, optionally with a suffix: k or KiB, M or MiB, G or\n"
  "#             GiB (powers of 1024), for example 64KiB\n"
  "#   duration  a number with a unit: ms, s, m (minutes), h or d; a bare\n"
  "#             number means seconds, for example 250ms or 5m\n"
  "#   string    the rest of the line, without surrounding spaces\n"
  "#   list      comma-separated strings; an empty value is an empty list\n"
  "#   enum      one of the listed words\n"
  "#\n"
  "# Options marked 'reloadable: yes' take effect when crierd reloads its\n"
  "# configuration (for what is set up per connection or per channel: on\n"
  "# new connections and channels); the others need a restart.  Options\n"
  "# marked 'secret: yes' are masked in logs and on the admin socket.\n"
  "#\n"
  "# Any option can be set on the command line with --set section.key=value,\n"
  "# for example --set server.backlog=1024 or\n"
  "# --set namespace.chat.history_size=10.  `crierd --help-config` lists all\n"
  "# options in short form and `crierd --dump-config` prints the values in\n"
  "# use.\n";

static const char dump_namespace_help[] =
  "Channel namespaces: a channel named \"NAME:rest\" uses the options of "
  "[namespace.NAME] instead of those of [channels], and a channel whose "
  "namespace is not configured is refused.  A [namespace.NAME] section "
  "takes the same keys as [channels]; a key left out has the default "
  "listed above, not the value set in [channels].  NAME may use A-Z, a-z, "
  "0-9, _ and -.  For example:";

static const char dump_namespace_example[] =
  "#[namespace.chat]\n"
  "#history_size = 100\n"
  "#history_ttl = 10m\n"
  "#presence = true\n"
  "#join_leave = true\n"
  "#allow_publish = true\n"
  "#allow_history = true\n"
  "#allow_presence = true\n"
  "#force_recovery = true\n";

G_DEFINE_QUARK (crier-config-error-quark, crier_config_error)

/* ---------------------------------------------------------------------- */
/* Values                                                                 */

static void
option_value_clear (OptionValue *value)
{
  g_clear_pointer (&value->s, g_free);
  g_clear_pointer (&value->strv, g_strfreev);
}

static gboolean
parse_bool (const char *text,
            gboolean   *out)
{
  static const char * const yes[] = { "true", "yes", "on", "1", NULL };
  static const char * const no[] = { "false", "no", "off", "0", NULL };

  for (guint i = 0; yes[i] != NULL; i++)
    {
      if (g_ascii_strcasecmp (text, yes[i]) == 0)
        {
          *out = TRUE;
          return TRUE;
        }
      if (g_ascii_strcasecmp (text, no[i]) == 0)
        {
          *out = FALSE;
          return TRUE;
        }
    }

  return FALSE;
}

static gboolean
parse_int (const char *text,
           gint64     *out)
{
  const char *p = text;
  char *end = NULL;
  gint64 v;

  if (*p == '+' || *p == '-')
    p++;
  if (!g_ascii_isdigit (*p))
    return FALSE;

  errno = 0;
  v = g_ascii_strtoll (text, &end, 10);
  if (errno != 0 || *end != '\0')
    return FALSE;

  *out = v;
  return TRUE;
}

static char *
format_size (gint64 bytes)
{
  static const struct
  {
    gint64      unit;
    const char *suffix;
  } units[] = {
    { GiB (1), "GiB" },
    { MiB (1), "MiB" },
    { KiB (1), "KiB" },
  };

  if (bytes != 0)
    {
      for (guint i = 0; i < G_N_ELEMENTS (units); i++)
        {
          if (bytes % units[i].unit == 0)
            return g_strdup_printf ("%" G_GINT64_FORMAT "%s",
                                    bytes / units[i].unit, units[i].suffix);
        }
    }

  return g_strdup_printf ("%" G_GINT64_FORMAT, bytes);
}

static char *
format_duration (gint64 ms)
{
  static const struct
  {
    gint64      unit;
    const char *suffix;
  } units[] = {
    { DAYS (1), "d" },
    { HOURS (1), "h" },
    { MINUTES (1), "m" },
    { SECONDS (1), "s" },
  };

  if (ms == 0)
    return g_strdup ("0s");

  for (guint i = 0; i < G_N_ELEMENTS (units); i++)
    {
      if (ms % units[i].unit == 0)
        return g_strdup_printf ("%" G_GINT64_FORMAT "%s", ms / units[i].unit, units[i].suffix);
    }

  return g_strdup_printf ("%" G_GINT64_FORMAT "ms", ms);
}

static char *
format_number (const ConfigOption *opt,
               gint64              v)
{
  if (opt->type == OPTION_SIZE)
    return format_size (v);
  if (opt->type == OPTION_DURATION)
    return format_duration (v);
  return g_strdup_printf ("%" G_GINT64_FORMAT, v);
}

static const char *
type_name (const ConfigOption *opt)
{
  switch (opt->type)
    {
    case OPTION_BOOL:
      return "bool";
    case OPTION_INT:
      return "integer";
    case OPTION_SIZE:
      return "size";
    case OPTION_DURATION:
      return "duration";
    case OPTION_STRING:
      return "string";
    case OPTION_STRING_LIST:
      return "list";
    case OPTION_ENUM:
      return "enum";
    }

  return "?";
}

static char **
split_list (const char *text)
{
  g_auto(GStrv) parts = g_strsplit (text, ",", -1);
  GPtrArray *items = g_ptr_array_new ();

  for (guint i = 0; parts[i] != NULL; i++)
    {
      g_strstrip (parts[i]);
      if (parts[i][0] != '\0')
        g_ptr_array_add (items, g_strdup (parts[i]));
    }
  g_ptr_array_add (items, NULL);

  return (char **) g_ptr_array_free (items, FALSE);
}

/* Parses @text (unescaped) as a value of @opt's type, without bounds. */
static gboolean
option_parse (const ConfigOption *opt,
              const char         *text,
              OptionValue        *out,
              char              **message)
{
  g_autofree char *stripped = g_strstrip (g_strdup (text));

  switch (opt->type)
    {
    case OPTION_BOOL:
      if (parse_bool (stripped, &out->b))
        return TRUE;
      *message = g_strdup_printf ("'%s' is not a boolean (true or false)", stripped);
      return FALSE;

    case OPTION_INT:
      if (parse_int (stripped, &out->i))
        return TRUE;
      *message = g_strdup_printf ("'%s' is not an integer", stripped);
      return FALSE;

    case OPTION_SIZE:
      if (crier_parse_size (stripped, &out->i))
        return TRUE;
      *message = g_strdup_printf ("'%s' is not a size (bytes, optionally with "
                                  "k, KiB, M, MiB, G or GiB)", stripped);
      return FALSE;

    case OPTION_DURATION:
      if (crier_parse_duration_ms (stripped, &out->i))
        return TRUE;
      *message = g_strdup_printf ("'%s' is not a duration (a number with ms, "
                                  "s, m, h or d)", stripped);
      return FALSE;

    case OPTION_STRING:
      out->s = g_strdup (text);
      return TRUE;

    case OPTION_STRING_LIST:
      out->strv = split_list (text);
      return TRUE;

    case OPTION_ENUM:
      for (guint i = 0; opt->choices[i] != NULL; i++)
        {
          if (g_ascii_strcasecmp (stripped, opt->choices[i]) == 0)
            {
              out->s = g_strdup (opt->choices[i]);
              return TRUE;
            }
        }
      {
        g_autofree char *choices = g_strjoinv (", ", (char **) opt->choices);

        *message = g_strdup_printf ("'%s' is not one of %s", stripped, choices);
      }
      return FALSE;
    }

  return FALSE;
}

/* Bounds and the option's own check. */
static gboolean
option_check (const ConfigOption *opt,
              const OptionValue  *value,
              char              **message)
{
  if (opt->type == OPTION_INT || opt->type == OPTION_SIZE || opt->type == OPTION_DURATION)
    {
      if (value->i < opt->min || value->i > opt->max)
        {
          g_autofree char *v = format_number (opt, value->i);
          g_autofree char *bound = format_number (opt, value->i < opt->min ? opt->min : opt->max);

          *message = g_strdup_printf ("%s is %s the %s %s", v,
                                      value->i < opt->min ? "below" : "above",
                                      value->i < opt->min ? "minimum" : "maximum",
                                      bound);
          return FALSE;
        }
    }

  if (opt->check != NULL)
    return opt->check (value, message);

  return TRUE;
}

/* Fills @value with borrowed pointers to the field of @base. */
static void
option_peek (const ConfigOption *opt,
             gconstpointer       base,
             OptionValue        *value)
{
  memset (value, 0, sizeof *value);

  switch (opt->type)
    {
    case OPTION_BOOL:
      value->b = FIELD (gboolean, base, opt);
      break;
    case OPTION_INT:
    case OPTION_SIZE:
    case OPTION_DURATION:
      value->i = FIELD (gint64, base, opt);
      break;
    case OPTION_STRING:
    case OPTION_ENUM:
      value->s = FIELD (char *, base, opt);
      break;
    case OPTION_STRING_LIST:
      value->strv = FIELD (char **, base, opt);
      break;
    }
}

/* Moves @value into the field of @base. */
static void
option_store (const ConfigOption *opt,
              gpointer            base,
              OptionValue        *value)
{
  switch (opt->type)
    {
    case OPTION_BOOL:
      FIELD (gboolean, base, opt) = value->b;
      break;
    case OPTION_INT:
    case OPTION_SIZE:
    case OPTION_DURATION:
      FIELD (gint64, base, opt) = value->i;
      break;
    case OPTION_STRING:
    case OPTION_ENUM:
      g_free (FIELD (char *, base, opt));
      FIELD (char *, base, opt) = g_steal_pointer (&value->s);
      break;
    case OPTION_STRING_LIST:
      g_strfreev (FIELD (char **, base, opt));
      FIELD (char **, base, opt) = g_steal_pointer (&value->strv);
      break;
    }
}

static void
option_free_field (const ConfigOption *opt,
                   gpointer            base)
{
  if (opt->type == OPTION_STRING || opt->type == OPTION_ENUM)
    g_clear_pointer (&FIELD (char *, base, opt), g_free);
  else if (opt->type == OPTION_STRING_LIST)
    g_clear_pointer (&FIELD (char **, base, opt), g_strfreev);
}

static void
option_copy (const ConfigOption *opt,
             gpointer            dst,
             gconstpointer       src)
{
  OptionValue value;

  option_peek (opt, src, &value);
  value.s = g_strdup (value.s);
  value.strv = g_strdupv (value.strv);
  option_store (opt, dst, &value);
  option_value_clear (&value);
}

static gboolean
strv_equal0 (char **a,
             char **b)
{
  static const char * const empty[] = { NULL };

  return g_strv_equal ((const char * const *) (a != NULL ? a : (char **) empty),
                       (const char * const *) (b != NULL ? b : (char **) empty));
}

static gboolean
option_equal (const ConfigOption *opt,
              gconstpointer       a,
              gconstpointer       b)
{
  OptionValue va, vb;

  option_peek (opt, a, &va);
  option_peek (opt, b, &vb);

  switch (opt->type)
    {
    case OPTION_BOOL:
      return !va.b == !vb.b;
    case OPTION_INT:
    case OPTION_SIZE:
    case OPTION_DURATION:
      return va.i == vb.i;
    case OPTION_STRING:
    case OPTION_ENUM:
      return g_strcmp0 (va.s, vb.s) == 0;
    case OPTION_STRING_LIST:
      return strv_equal0 (va.strv, vb.strv);
    }

  return FALSE;
}

/* The value of the field as text (unescaped), the way the file writes it. */
static char *
option_format (const ConfigOption *opt,
               gconstpointer       base,
               gboolean            mask)
{
  OptionValue value;

  option_peek (opt, base, &value);

  if (mask && (opt->flags & OPTION_SECRET) != 0)
    {
      if ((value.s != NULL && value.s[0] != '\0') ||
          (value.strv != NULL && value.strv[0] != NULL))
        return g_strdup (MASK);
    }

  switch (opt->type)
    {
    case OPTION_BOOL:
      return g_strdup (value.b ? "true" : "false");
    case OPTION_INT:
    case OPTION_SIZE:
    case OPTION_DURATION:
      return format_number (opt, value.i);
    case OPTION_STRING:
    case OPTION_ENUM:
      return g_strdup (value.s != NULL ? value.s : "");
    case OPTION_STRING_LIST:
      return value.strv != NULL ? g_strjoinv (", ", value.strv) : g_strdup ("");
    }

  return g_strdup ("");
}

/* Parses, checks and stores @text into @base. */
static gboolean
option_set_text (const ConfigOption *opt,
                 gpointer            base,
                 const char         *text,
                 char              **message)
{
  OptionValue value = { 0, };
  gboolean ok;

  ok = option_parse (opt, text, &value, message) &&
       option_check (opt, &value, message);
  if (ok)
    option_store (opt, base, &value);
  option_value_clear (&value);

  return ok;
}

static void
options_reset (const ConfigOption *options,
               gsize               n_options,
               gpointer            base)
{
  for (gsize i = 0; i < n_options; i++)
    {
      g_autofree char *message = NULL;

      if (!option_set_text (&options[i], base, options[i].default_value, &message))
        g_error ("crier-config: bad default for %s: %s", options[i].key, message);
    }
}

/* Key-file escapes, as GKeyFile reads them in strings: \s \t \n \r \\.
 * Leading and trailing spaces are escaped too, since they are stripped. */
static char *
escape_value (const char *text)
{
  GString *out = g_string_new (NULL);
  gsize len = strlen (text);

  for (gsize i = 0; i < len; i++)
    {
      char c = text[i];

      if (c == ' ' && (i == 0 || strspn (text + i, " ") == len - i))
        g_string_append (out, "\\s");
      else if (c == '\t')
        g_string_append (out, "\\t");
      else if (c == '\n')
        g_string_append (out, "\\n");
      else if (c == '\r')
        g_string_append (out, "\\r");
      else if (c == '\\')
        g_string_append (out, "\\\\");
      else
        g_string_append_c (out, c);
    }

  return g_string_free (out, FALSE);
}

/* @raw is a value as it stands in the file (GKeyFile strips the leading
 * whitespace); trailing whitespace is dropped, then the escapes resolved. */
static char *
unescape_value (const char *raw,
                char      **message)
{
  g_autofree char *text = g_strchomp (g_strdup (raw));
  GString *out = g_string_new (NULL);

  for (const char *p = text; *p != '\0'; p++)
    {
      if (*p != '\\')
        {
          g_string_append_c (out, *p);
          continue;
        }

      p++;
      switch (*p)
        {
        case 's':
          g_string_append_c (out, ' ');
          break;
        case 't':
          g_string_append_c (out, '\t');
          break;
        case 'n':
          g_string_append_c (out, '\n');
          break;
        case 'r':
          g_string_append_c (out, '\r');
          break;
        case '\\':
          g_string_append_c (out, '\\');
          break;
        case '\0':
          *message = g_strdup ("the value ends with a lone '\\'");
          g_string_free (out, TRUE);
          return NULL;
        default:
          *message = g_strdup_printf ("'\\%c' is not an escape "
                                      "(use \\s, \\t, \\n, \\r or \\\\)", *p);
          g_string_free (out, TRUE);
          return NULL;
        }
    }

  return g_string_free (out, FALSE);
}

/* ---------------------------------------------------------------------- */
/* Checks of single values                                                */

static gboolean
is_host_name (const char *host)
{
  gsize len = strlen (host);
  gboolean only_digits_and_dots = TRUE;

  if (len == 0 || len > 253)
    return FALSE;

  for (const char *p = host; *p != '\0'; p++)
    {
      if (!g_ascii_isalnum (*p) && *p != '-' && *p != '.')
        return FALSE;
      if (!g_ascii_isdigit (*p) && *p != '.')
        only_digits_and_dots = FALSE;
    }

  /* "999.1.1.1" looks like an address, so it must be one. */
  if (only_digits_and_dots)
    return g_hostname_is_ip_address (host);

  return TRUE;
}

gboolean
crier_config_parse_address (const char  *address,
                            char       **out_host,
                            guint16     *out_port,
                            GError     **error)
{
  g_autofree char *host = NULL;
  const char *port_text;
  gint64 port = 0;

  g_return_val_if_fail (address != NULL, FALSE);

  if (address[0] == '[')
    {
      const char *close = strchr (address, ']');

      if (close == NULL || close[1] != ':')
        {
          g_set_error (error, CRIER_CONFIG_ERROR, CRIER_CONFIG_ERROR_BAD_VALUE,
                       "'%s' is not [ipv6]:port", address);
          return FALSE;
        }
      host = g_strndup (address + 1, close - address - 1);
      if (strchr (host, ':') == NULL || !g_hostname_is_ip_address (host))
        {
          g_set_error (error, CRIER_CONFIG_ERROR, CRIER_CONFIG_ERROR_BAD_VALUE,
                       "'%s': '%s' is not an IPv6 address", address, host);
          return FALSE;
        }
      port_text = close + 2;
    }
  else
    {
      const char *colon = strrchr (address, ':');

      if (colon == NULL)
        {
          g_set_error (error, CRIER_CONFIG_ERROR, CRIER_CONFIG_ERROR_BAD_VALUE,
                       "'%s' has no port (use host:port)", address);
          return FALSE;
        }
      host = g_strndup (address, colon - address);
      if (strchr (host, ':') != NULL)
        {
          g_set_error (error, CRIER_CONFIG_ERROR, CRIER_CONFIG_ERROR_BAD_VALUE,
                       "'%s': IPv6 addresses need brackets, as in [::1]:8000", address);
          return FALSE;
        }
      if (!is_host_name (host))
        {
          g_set_error (error, CRIER_CONFIG_ERROR, CRIER_CONFIG_ERROR_BAD_VALUE,
                       "'%s': '%s' is not a host name or address", address, host);
          return FALSE;
        }
      port_text = colon + 1;
    }

  if (port_text[0] == '\0' || strlen (port_text) > 5 ||
      strspn (port_text, "0123456789") != strlen (port_text) ||
      !parse_int (port_text, &port) || port > 65535)
    {
      g_set_error (error, CRIER_CONFIG_ERROR, CRIER_CONFIG_ERROR_BAD_VALUE,
                   "'%s': '%s' is not a port (0 to 65535)", address, port_text);
      return FALSE;
    }

  if (out_host != NULL)
    *out_host = g_steal_pointer (&host);
  if (out_port != NULL)
    *out_port = (guint16) port;

  return TRUE;
}

static gboolean
check_listen (const OptionValue *value,
              char             **message)
{
  if (value->strv == NULL || value->strv[0] == NULL)
    {
      *message = g_strdup ("at least one address is required");
      return FALSE;
    }

  for (guint i = 0; value->strv[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;

      if (!crier_config_parse_address (value->strv[i], NULL, NULL, &error))
        {
          *message = g_strdup (error->message);
          return FALSE;
        }
      for (guint j = 0; j < i; j++)
        {
          if (strcmp (value->strv[i], value->strv[j]) == 0)
            {
              *message = g_strdup_printf ("'%s' is listed twice", value->strv[i]);
              return FALSE;
            }
        }
    }

  return TRUE;
}

static gboolean
check_optional_address (const OptionValue *value,
                        char             **message)
{
  g_autoptr(GError) error = NULL;

  if (value->s == NULL || value->s[0] == '\0')
    return TRUE;

  if (!crier_config_parse_address (value->s, NULL, NULL, &error))
    {
      *message = g_strdup (error->message);
      return FALSE;
    }

  return TRUE;
}

const char *
crier_tls_priority_string (const char *priority)
{
  if (g_strcmp0 (priority, "modern") == 0)
    return CRIER_TLS_MODERN_PRIORITY;
  return priority;
}

/* [tls] priority: what GnuTLS would refuse at the first handshake is a
 * configuration error now, with the position GnuTLS points at. */
static gboolean
check_tls_priority (const OptionValue *value,
                    char             **message)
{
  gnutls_priority_t priority = NULL;
  const char *error_pos = NULL;
  int ret;

  if (value->s == NULL || value->s[0] == '\0')
    {
      *message = g_strdup ("modern or a GnuTLS priority string is required "
                           "(NORMAL is GnuTLS's own default)");
      return FALSE;
    }
  ret = gnutls_priority_init2 (&priority, crier_tls_priority_string (value->s), &error_pos, 0);
  if (ret != GNUTLS_E_SUCCESS)
    {
      if (error_pos != NULL)
        *message = g_strdup_printf ("not a GnuTLS priority string: %s at '%s'",
                                    gnutls_strerror (ret), error_pos);
      else
        *message = g_strdup_printf ("not a GnuTLS priority string: %s", gnutls_strerror (ret));
      return FALSE;
    }
  gnutls_priority_deinit (priority);
  return TRUE;
}

/* As the Redis broker reads them: host:port, [ipv6]:port, unix:/path or
 * /path; URLs are refused, rediss:// with the reason. */
static gboolean
check_redis_address (const OptionValue *value,
                     char             **message)
{
  g_autoptr(GError) error = NULL;
  const char *text = value->s;
  guint16 port = 0;

  if (text == NULL || text[0] == '\0')
    return TRUE;

  if (g_str_has_prefix (text, "rediss://"))
    {
      *message = g_strdup ("TLS is not supported (hiredis 0.14 has none); use a Unix "
                           "socket or a local TLS tunnel such as stunnel");
      return FALSE;
    }
  if (strstr (text, "://") != NULL)
    {
      *message = g_strdup_printf ("'%s' is a URL; use host:port or unix:/path", text);
      return FALSE;
    }
  if (g_str_has_prefix (text, "unix:") || text[0] == '/')
    {
      if ((g_str_has_prefix (text, "unix:") ? text[5] : text[0]) != '/')
        {
          *message = g_strdup_printf ("'%s': the socket path must be absolute", text);
          return FALSE;
        }
      return TRUE;
    }
  if (!crier_config_parse_address (text, NULL, &port, &error))
    {
      *message = g_strdup (error->message);
      return FALSE;
    }
  if (port == 0)
    {
      *message = g_strdup_printf ("'%s': the port cannot be 0", text);
      return FALSE;
    }

  return TRUE;
}

static gboolean
check_redis_prefix (const OptionValue *value,
                    char             **message)
{
  if (value->s[0] == '\0')
    {
      *message = g_strdup ("the prefix cannot be empty");
      return FALSE;
    }
  for (const char *p = value->s; *p != '\0'; p++)
    {
      if ((guchar) *p <= ' ' || (guchar) *p >= 0x7f)
        {
          *message = g_strdup_printf ("'%s': only printable ASCII without spaces is "
                                      "allowed", value->s);
          return FALSE;
        }
    }

  return TRUE;
}

static gboolean
check_redis_sentinels (const OptionValue *value,
                       char             **message)
{
  for (guint i = 0; value->strv != NULL && value->strv[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;
      guint16 port = 0;

      if (!crier_config_parse_address (value->strv[i], NULL, &port, &error))
        {
          *message = g_strdup (error->message);
          return FALSE;
        }
      if (port == 0)
        {
          *message = g_strdup_printf ("'%s': the port cannot be 0", value->strv[i]);
          return FALSE;
        }
    }

  return TRUE;
}

static gboolean
check_redis_tls (const OptionValue *value,
                 char             **message)
{
  if (!value->b)
    return TRUE;

  *message = g_strdup ("TLS to Redis is not supported: hiredis 0.14 (Debian 12) has no "
                       "TLS; use a Unix socket or a local TLS tunnel such as stunnel");
  return FALSE;
}

static gboolean
check_node_name (const OptionValue *value,
                 char             **message)
{
  for (const char *p = value->s; *p != '\0'; p++)
    {
      if ((guchar) *p < 0x80 && !g_ascii_isgraph (*p))
        {
          *message = g_strdup_printf ("'%s' contains spaces or control characters", value->s);
          return FALSE;
        }
    }

  return TRUE;
}

/* "A-Za-z0-9_.:@-" -> a bitmap of ASCII characters. */
static gboolean
parse_char_class (const char *chars,
                  guint64     bits[2],
                  char      **message)
{
  bits[0] = bits[1] = 0;

  if (chars == NULL || chars[0] == '\0')
    {
      if (message != NULL)
        *message = g_strdup ("no characters are allowed (empty)");
      return FALSE;
    }

  for (const char *p = chars; *p != '\0'; p++)
    {
      if (*p < 0x21 || *p > 0x7e)
        {
          if (message != NULL)
            *message = g_strdup_printf ("'%s': only printable ASCII characters "
                                        "without spaces are allowed", chars);
          return FALSE;
        }
    }

  for (const char *p = chars; *p != '\0';)
    {
      guchar lo = p[0];
      guchar hi = p[0];

      if (p[1] == '-' && p[2] != '\0')
        {
          hi = p[2];
          p += 3;
          if (lo > hi)
            {
              if (message != NULL)
                *message = g_strdup_printf ("'%s': the range %c-%c is backwards",
                                            chars, lo, hi);
              return FALSE;
            }
        }
      else
        p++;

      for (guint c = lo; c <= hi; c++)
        bits[c / 64] |= G_GUINT64_CONSTANT (1) << (c % 64);
    }

  return TRUE;
}

static gboolean
check_channel_chars (const OptionValue *value,
                     char             **message)
{
  guint64 bits[2];

  return parse_char_class (value->s, bits, message);
}

gboolean
crier_config_channel_is_valid (const CrierNamespaceConfig *ns,
                               const char                 *channel)
{
  guint64 bits[2];
  const char *rest = channel;
  gsize len;

  g_return_val_if_fail (ns != NULL, FALSE);
  g_return_val_if_fail (channel != NULL, FALSE);

  len = strlen (channel);
  if (len == 0 || (gint64) len > ns->max_channel_length)
    return FALSE;

  if (ns->name != NULL && ns->name[0] != '\0')
    {
      gsize name_len = strlen (ns->name);

      if (strncmp (channel, ns->name, name_len) != 0 || channel[name_len] != ':')
        return FALSE;
      rest = channel + name_len + 1;
    }

  if (rest[0] == '\0' || !parse_char_class (ns->channel_chars, bits, NULL))
    return FALSE;

  for (const char *p = rest; *p != '\0'; p++)
    {
      guchar c = *p;

      if (c >= 128 || (bits[c / 64] & (G_GUINT64_CONSTANT (1) << (c % 64))) == 0)
        return FALSE;
    }

  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* Tables and namespaces                                                  */

static const ConfigOption *
find_config_option (const char *section,
                    const char *key)
{
  for (gsize i = 0; i < G_N_ELEMENTS (config_options); i++)
    {
      if (strcmp (config_options[i].section, section) == 0 &&
          strcmp (config_options[i].key, key) == 0)
        return &config_options[i];
    }

  return NULL;
}

static const ConfigOption *
find_namespace_option (const char *key)
{
  for (gsize i = 0; i < G_N_ELEMENTS (namespace_options); i++)
    {
      if (strcmp (namespace_options[i].key, key) == 0)
        return &namespace_options[i];
    }

  return NULL;
}

static gboolean
is_config_section (const char *section)
{
  for (gsize i = 0; i < G_N_ELEMENTS (config_sections); i++)
    {
      if (strcmp (config_sections[i].name, section) == 0)
        return TRUE;
    }

  return FALSE;
}

static gboolean
is_namespace_name (const char *name)
{
  if (name[0] == '\0')
    return FALSE;

  for (const char *p = name; *p != '\0'; p++)
    {
      if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-')
        return FALSE;
    }

  return TRUE;
}

/* "namespace.chat" -> "chat"; NULL for other sections. */
static const char *
namespace_of_section (const char *section)
{
  if (g_str_has_prefix (section, NAMESPACE_PREFIX))
    return section + strlen (NAMESPACE_PREFIX);
  return NULL;
}

static gboolean
is_namespace_section (const char *section)
{
  return strcmp (section, CHANNELS_SECTION) == 0 || namespace_of_section (section) != NULL;
}

/* The option for @key in @section, which must be a known section. */
static const ConfigOption *
find_option (const char *section,
             const char *key)
{
  if (is_namespace_section (section))
    return find_namespace_option (key);
  return find_config_option (section, key);
}

static CrierNamespaceConfig *
namespace_new (const char *name)
{
  CrierNamespaceConfig *ns = g_new0 (CrierNamespaceConfig, 1);

  ns->name = g_strdup (name);
  options_reset (namespace_options, G_N_ELEMENTS (namespace_options), ns);

  return ns;
}

static void
namespace_free (gpointer data)
{
  CrierNamespaceConfig *ns = data;

  if (ns == NULL)
    return;

  for (gsize i = 0; i < G_N_ELEMENTS (namespace_options); i++)
    option_free_field (&namespace_options[i], ns);
  g_free (ns->name);
  g_free (ns);
}

static CrierNamespaceConfig *
namespace_copy (const CrierNamespaceConfig *ns)
{
  CrierNamespaceConfig *copy = g_new0 (CrierNamespaceConfig, 1);

  copy->name = g_strdup (ns->name);
  for (gsize i = 0; i < G_N_ELEMENTS (namespace_options); i++)
    option_copy (&namespace_options[i], copy, ns);

  return copy;
}

static int
compare_name (const char *ns_name,
              const char *name,
              gsize       len)
{
  int c = strncmp (ns_name, name, len);

  if (c != 0)
    return c;
  return ns_name[len] != '\0' ? 1 : 0;
}

/* Binary search in config->namespaces (sorted by name); @index is where
 * the namespace is or would be inserted. */
static CrierNamespaceConfig *
find_namespace (const CrierConfig *config,
                const char        *name,
                gsize              len,
                guint             *index)
{
  guint lo = 0;
  guint hi = config->namespaces->len;

  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;
      CrierNamespaceConfig *ns = g_ptr_array_index (config->namespaces, mid);
      int c = compare_name (ns->name, name, len);

      if (c == 0)
        {
          if (index != NULL)
            *index = mid;
          return ns;
        }
      if (c < 0)
        lo = mid + 1;
      else
        hi = mid;
    }

  if (index != NULL)
    *index = lo;
  return NULL;
}

static CrierNamespaceConfig *
ensure_namespace (CrierConfig *config,
                  const char  *name)
{
  CrierNamespaceConfig *ns;
  guint index;

  ns = find_namespace (config, name, strlen (name), &index);
  if (ns == NULL)
    {
      ns = namespace_new (name);
      g_ptr_array_insert (config->namespaces, index, ns);
    }

  return ns;
}

/* The struct that holds the keys of @section (a known section). */
static gpointer
section_base (CrierConfig *config,
              const char  *section)
{
  const char *ns_name = namespace_of_section (section);

  if (ns_name != NULL)
    return ensure_namespace (config, ns_name);
  if (strcmp (section, CHANNELS_SECTION) == 0)
    return config->default_namespace;
  return config;
}

/* ---------------------------------------------------------------------- */
/* Errors with file and line                                              */

/* Where values come from, to name them in errors. */
typedef struct
{
  const char *filename;  /* "crierd.conf", "--set" or NULL (no prefix) */
  GHashTable *lines;     /* "section\nkey" and "section\n" -> line (0: no line) */
} Origin;

static char *
line_key (const char *section,
          const char *key)
{
  return g_strconcat (section, "\n", key != NULL ? key : "", NULL);
}

static gboolean
origin_find (const Origin *origin,
             const char   *section,
             const char   *key,
             guint        *line)
{
  g_autofree char *lk = NULL;
  gpointer value;

  if (origin == NULL || origin->lines == NULL)
    return FALSE;

  lk = line_key (section, key);
  if (!g_hash_table_lookup_extended (origin->lines, lk, NULL, &value))
    return FALSE;

  *line = GPOINTER_TO_UINT (value);
  return TRUE;
}

static gboolean set_error (GError            **error,
                           CrierConfigError    code,
                           const Origin       *origin,
                           guint               line,
                           const char         *section,
                           const char         *key,
                           const char         *format,
                           ...) G_GNUC_PRINTF (7, 8);

/* "FILE:LINE: [section] key: message"; returns FALSE. */
static gboolean
set_error (GError           **error,
           CrierConfigError   code,
           const Origin      *origin,
           guint              line,
           const char        *section,
           const char        *key,
           const char        *format,
           ...)
{
  GString *text = g_string_new (NULL);
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  if (origin != NULL && origin->filename != NULL)
    {
      if (line > 0)
        g_string_append_printf (text, "%s:%u: ", origin->filename, line);
      else
        g_string_append_printf (text, "%s: ", origin->filename);
    }
  if (section != NULL && key != NULL)
    g_string_append_printf (text, "[%s] %s: ", section, key);
  else if (section != NULL)
    g_string_append_printf (text, "[%s]: ", section);
  g_string_append (text, message);

  g_set_error_literal (error, CRIER_CONFIG_ERROR, code, text->str);
  g_string_free (text, TRUE);

  return FALSE;
}

static guint
edit_distance (const char *a,
               const char *b)
{
  gsize la = strlen (a);
  gsize lb = strlen (b);
  g_autofree guint *row = g_new (guint, lb + 1);
  guint result;

  for (gsize j = 0; j <= lb; j++)
    row[j] = j;

  for (gsize i = 1; i <= la; i++)
    {
      guint diagonal = row[0];

      row[0] = i;
      for (gsize j = 1; j <= lb; j++)
        {
          guint above = row[j];
          guint cost = g_ascii_tolower (a[i - 1]) != g_ascii_tolower (b[j - 1]);

          row[j] = MIN (MIN (row[j] + 1, row[j - 1] + 1), diagonal + cost);
          diagonal = above;
        }
    }

  result = row[lb];
  return result;
}

/* Keeps the closest candidate within a small edit distance of @word. */
static void
suggest (const char  *word,
         const char  *candidate,
         const char **best,
         guint       *best_distance)
{
  guint d = edit_distance (word, candidate);
  guint limit = MIN (2, strlen (word) / 2);

  if (d > 0 && d <= limit && d < *best_distance)
    {
      *best = candidate;
      *best_distance = d;
    }
}

static gboolean
check_section (const Origin *origin,
               guint         line,
               const char   *section,
               GError      **error)
{
  const char *ns_name = namespace_of_section (section);
  const char *best = NULL;
  guint best_distance = G_MAXUINT;
  const char *dot;

  if (ns_name != NULL)
    {
      if (is_namespace_name (ns_name))
        return TRUE;
      return set_error (error, CRIER_CONFIG_ERROR_UNKNOWN_KEY, origin, line, section, NULL,
                        "namespace names may only use A-Z, a-z, 0-9, _ and -");
    }

  if (is_config_section (section) || strcmp (section, CHANNELS_SECTION) == 0)
    return TRUE;

  /* [namespaces.chat] -> [namespace.chat] */
  dot = strchr (section, '.');
  if (dot != NULL)
    {
      g_autofree char *prefix = g_strndup (section, dot - section);

      if (edit_distance (prefix, "namespace") <= 2)
        return set_error (error, CRIER_CONFIG_ERROR_UNKNOWN_KEY, origin, line, section, NULL,
                          "unknown section (did you mean [namespace%s]?)", dot);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (config_sections); i++)
    suggest (section, config_sections[i].name, &best, &best_distance);
  suggest (section, CHANNELS_SECTION, &best, &best_distance);

  if (best != NULL)
    return set_error (error, CRIER_CONFIG_ERROR_UNKNOWN_KEY, origin, line, section, NULL,
                      "unknown section (did you mean [%s]?)", best);
  return set_error (error, CRIER_CONFIG_ERROR_UNKNOWN_KEY, origin, line, section, NULL,
                    "unknown section");
}

/* @section is known; is @key one of its keys? */
static gboolean
check_key (const Origin *origin,
           guint         line,
           const char   *section,
           const char   *key,
           GError      **error)
{
  const char *best = NULL;
  guint best_distance = G_MAXUINT;
  const char *elsewhere = NULL;

  if (find_option (section, key) != NULL)
    return TRUE;

  if (is_namespace_section (section))
    {
      for (gsize i = 0; i < G_N_ELEMENTS (namespace_options); i++)
        suggest (key, namespace_options[i].key, &best, &best_distance);
    }
  else
    {
      for (gsize i = 0; i < G_N_ELEMENTS (config_options); i++)
        {
          if (strcmp (config_options[i].section, section) == 0)
            suggest (key, config_options[i].key, &best, &best_distance);
        }
    }

  if (best != NULL)
    return set_error (error, CRIER_CONFIG_ERROR_UNKNOWN_KEY, origin, line, section, key,
                      "unknown key (did you mean '%s'?)", best);

  /* The right key in the wrong section. */
  for (gsize i = 0; i < G_N_ELEMENTS (config_options) && elsewhere == NULL; i++)
    {
      if (strcmp (config_options[i].key, key) == 0)
        elsewhere = config_options[i].section;
    }
  if (elsewhere == NULL && find_namespace_option (key) != NULL)
    elsewhere = CHANNELS_SECTION;

  if (elsewhere != NULL)
    return set_error (error, CRIER_CONFIG_ERROR_UNKNOWN_KEY, origin, line, section, key,
                      "unknown key (did you mean [%s] %s?)", elsewhere, key);
  return set_error (error, CRIER_CONFIG_ERROR_UNKNOWN_KEY, origin, line, section, key,
                    "unknown key");
}

/* ---------------------------------------------------------------------- */
/* Scanning the text for line numbers                                     */

typedef struct
{
  guint  line;
  char  *section;
  char  *key;      /* NULL for a section header */
} ScanEntry;

static void
scan_entry_clear (gpointer data)
{
  ScanEntry *entry = data;

  g_free (entry->section);
  g_free (entry->key);
}

/* Reads @data line by line as GKeyFile does, recording every section and
 * key with its line in @entries and @origin->lines, and rejecting what
 * GKeyFile would reject or silently accept: bad lines, unknown or repeated
 * sections and keys. */
static gboolean
scan_text (Origin      *origin,
           GArray      *entries,
           const char  *data,
           gsize        len,
           GError     **error)
{
  const char *p = data;
  const char *end = data + len;
  g_autofree char *section = NULL;
  guint line = 0;

  while (p < end)
    {
      const char *newline = memchr (p, '\n', end - p);
      const char *eol = newline != NULL ? newline : end;
      g_autofree char *text = NULL;
      g_autofree char *key = NULL;
      ScanEntry entry;
      guint first = 0;
      const char *eq;

      line++;
      if (!g_utf8_validate_len (p, eol - p, NULL))
        return set_error (error, CRIER_CONFIG_ERROR_PARSE, origin, line, NULL, NULL,
                          "not valid UTF-8 text");

      text = g_strstrip (g_strndup (p, eol - p));
      p = newline != NULL ? newline + 1 : end;

      if (text[0] == '\0' || text[0] == '#')
        continue;

      if (text[0] == '[')
        {
          char *close = strchr (text, ']');

          if (close == NULL || close[1] != '\0' || close == text + 1)
            return set_error (error, CRIER_CONFIG_ERROR_PARSE, origin, line, NULL, NULL,
                              "'%s' is not a [section] header", text);

          g_free (section);
          section = g_strndup (text + 1, close - text - 1);
          if (!check_section (origin, line, section, error))
            return FALSE;

          if (origin_find (origin, section, NULL, &first))
            return set_error (error, CRIER_CONFIG_ERROR_PARSE, origin, line, section, NULL,
                              "repeated section (first on line %u)", first);
          g_hash_table_insert (origin->lines, line_key (section, NULL), GUINT_TO_POINTER (line));

          entry.line = line;
          entry.section = g_strdup (section);
          entry.key = NULL;
          g_array_append_val (entries, entry);
          continue;
        }

      eq = strchr (text, '=');
      if (eq == NULL || eq == text)
        return set_error (error, CRIER_CONFIG_ERROR_PARSE, origin, line, NULL, NULL,
                          "'%s' is not a [section] header, a 'key = value' line or a "
                          "# comment", text);

      key = g_strchomp (g_strndup (text, eq - text));
      if (section == NULL)
        return set_error (error, CRIER_CONFIG_ERROR_PARSE, origin, line, NULL, NULL,
                          "'%s' comes before the first [section]", key);

      if (!check_key (origin, line, section, key, error))
        return FALSE;

      if (origin_find (origin, section, key, &first))
        return set_error (error, CRIER_CONFIG_ERROR_PARSE, origin, line, section, key,
                          "repeated key (first set on line %u)", first);
      g_hash_table_insert (origin->lines, line_key (section, key), GUINT_TO_POINTER (line));

      entry.line = line;
      entry.section = g_strdup (section);
      entry.key = g_steal_pointer (&key);
      g_array_append_val (entries, entry);
    }

  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* Validation                                                             */

static gboolean
check_fields (const ConfigOption *options,
              gsize               n_options,
              gconstpointer       base,
              const char         *section,
              const Origin       *origin,
              GError            **error)
{
  for (gsize i = 0; i < n_options; i++)
    {
      const ConfigOption *opt = &options[i];
      const char *sec = section != NULL ? section : opt->section;
      g_autofree char *message = NULL;
      OptionValue value;
      guint line = 0;

      option_peek (opt, base, &value);
      if (!option_check (opt, &value, &message))
        {
          origin_find (origin, sec, opt->key, &line);
          return set_error (error, CRIER_CONFIG_ERROR_BAD_VALUE, origin, line, sec, opt->key,
                            "%s", message);
        }
    }

  return TRUE;
}

/* Reports a rule between two keys at the line of @key_a if the file sets
 * it, else at the line of @key_b, each with its own message. */
static gboolean
fail_pair (const Origin *origin,
           GError      **error,
           const char   *section,
           const char   *key_a,
           const char   *message_a,
           const char   *key_b,
           const char   *message_b)
{
  guint line = 0;

  if (origin_find (origin, section, key_a, &line) ||
      !origin_find (origin, section, key_b, &line))
    return set_error (error, CRIER_CONFIG_ERROR_BAD_VALUE, origin, line, section, key_a,
                      "%s", message_a);

  return set_error (error, CRIER_CONFIG_ERROR_BAD_VALUE, origin, line, section, key_b,
                    "%s", message_b);
}

/* key_a <= key_b (or < with @strict), both numbers of @section. */
static gboolean
check_order (gconstpointer  base,
             const char    *section,
             const char    *key_a,
             const char    *key_b,
             gboolean       strict,
             const Origin  *origin,
             GError       **error)
{
  const ConfigOption *a = find_option (section, key_a);
  const ConfigOption *b = find_option (section, key_b);
  gint64 va = FIELD (gint64, base, a);
  gint64 vb = FIELD (gint64, base, b);
  g_autofree char *ta = NULL;
  g_autofree char *tb = NULL;
  g_autofree char *message_a = NULL;
  g_autofree char *message_b = NULL;

  if (strict ? va < vb : va <= vb)
    return TRUE;

  ta = format_number (a, va);
  tb = format_number (b, vb);
  message_a = g_strdup_printf ("%s %s [%s] %s (%s)", ta,
                               strict ? "must be below" : "is above", section, key_b, tb);
  message_b = g_strdup_printf ("%s %s [%s] %s (%s)", tb,
                               strict ? "must be above" : "is below", section, key_a, ta);

  return fail_pair (origin, error, section, key_a, message_a, key_b, message_b);
}

static gboolean
check_namespace_rules (const CrierNamespaceConfig *ns,
                       const char                 *section,
                       const Origin               *origin,
                       GError                    **error)
{
  static const char * const need_history[] = {
    "allow_history", "force_recovery", "force_positioning",
  };

  for (guint i = 0; i < G_N_ELEMENTS (need_history); i++)
    {
      const ConfigOption *opt = find_namespace_option (need_history[i]);

      if (FIELD (gboolean, ns, opt) && ns->history_size == 0)
        {
          g_autofree char *message_b = g_strdup_printf ("must be above 0 for %s = true",
                                                        need_history[i]);

          return fail_pair (origin, error, section,
                            need_history[i], "needs history_size above 0",
                            "history_size", message_b);
        }
    }

  if (ns->allow_presence && !ns->presence)
    return fail_pair (origin, error, section,
                      "allow_presence", "needs presence = true",
                      "presence", "must be true for allow_presence = true");

  return TRUE;
}

static gboolean
validate_config (const CrierConfig *config,
                 const Origin      *origin,
                 GError           **error)
{
  if (!check_fields (config_options, G_N_ELEMENTS (config_options), config, NULL, origin, error) ||
      !check_fields (namespace_options, G_N_ELEMENTS (namespace_options),
                     config->default_namespace, CHANNELS_SECTION, origin, error) ||
      !check_namespace_rules (config->default_namespace, CHANNELS_SECTION, origin, error))
    return FALSE;

  for (guint i = 0; i < config->namespaces->len; i++)
    {
      const CrierNamespaceConfig *ns = g_ptr_array_index (config->namespaces, i);
      g_autofree char *section = g_strconcat (NAMESPACE_PREFIX, ns->name, NULL);

      if (!is_namespace_name (ns->name))
        return set_error (error, CRIER_CONFIG_ERROR_BAD_VALUE, origin, 0, section, NULL,
                          "namespace names may only use A-Z, a-z, 0-9, _ and -");
      if (!check_fields (namespace_options, G_N_ELEMENTS (namespace_options),
                         ns, section, origin, error) ||
          !check_namespace_rules (ns, section, origin, error))
        return FALSE;
    }

  if (!check_order (config, "websocket", "max_frame_size", "max_message_size", FALSE,
                    origin, error) ||
      !check_order (config, "websocket", "pong_timeout", "ping_interval", TRUE,
                    origin, error) ||
      !check_order (config, "limits", "outbound_soft_limit", "outbound_hard_limit", FALSE,
                    origin, error))
    return FALSE;

  /* key_file alone is harmless (and lets --set give key_file first). */
  if (config->tls_cert_file[0] != '\0' && config->tls_key_file[0] == '\0')
    return fail_pair (origin, error, "tls",
                      "cert_file", "needs key_file",
                      "key_file", "must be set with cert_file");
  if (config->tls_admin_cert_file[0] != '\0' && config->tls_admin_key_file[0] == '\0')
    return fail_pair (origin, error, "tls",
                      "admin_cert_file", "needs admin_key_file",
                      "admin_key_file", "must be set with admin_cert_file");
  if (config->tls_admin && config->tls_cert_file[0] == '\0' && config->tls_admin_cert_file[0] == '\0')
    return fail_pair (origin, error, "tls",
                      "admin", "needs admin_cert_file or cert_file",
                      "admin_cert_file", "must be set (or cert_file) when admin is true");

  if (config->admin_listen[0] != '\0' && config->admin_token[0] == '\0')
    return fail_pair (origin, error, "admin",
                      "listen", "a TCP admin listener needs a token",
                      "token", "must be set when listen is set");

  if (config->redis[0] != '\0' && config->redis_sentinels[0] != NULL)
    return fail_pair (origin, error, "broker",
                      "redis", "give either redis or redis_sentinels, not both",
                      "redis_sentinels", "give either redis or redis_sentinels, not both");
  /* redis_master_name alone is harmless (and lets --set give it first). */
  if (config->redis_sentinels[0] != NULL && config->redis_master_name[0] == '\0')
    return fail_pair (origin, error, "broker",
                      "redis_master_name", "must be set with redis_sentinels",
                      "redis_sentinels", "need redis_master_name");

  return TRUE;
}

gboolean
crier_config_validate (const CrierConfig  *config,
                       GError            **error)
{
  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return validate_config (config, NULL, error);
}

/* ---------------------------------------------------------------------- */
/* Public API                                                             */

CrierConfig *
crier_config_new (void)
{
  CrierConfig *config = g_new0 (CrierConfig, 1);

  options_reset (config_options, G_N_ELEMENTS (config_options), config);
  config->default_namespace = namespace_new ("");
  config->namespaces = g_ptr_array_new_with_free_func (namespace_free);

  return config;
}

void
crier_config_free (CrierConfig *config)
{
  if (config == NULL)
    return;

  for (gsize i = 0; i < G_N_ELEMENTS (config_options); i++)
    option_free_field (&config_options[i], config);
  g_clear_pointer (&config->default_namespace, namespace_free);
  g_clear_pointer (&config->namespaces, g_ptr_array_unref);
  g_free (config);
}

CrierConfig *
crier_config_copy (const CrierConfig *config)
{
  CrierConfig *copy;

  g_return_val_if_fail (config != NULL, NULL);

  copy = g_new0 (CrierConfig, 1);
  for (gsize i = 0; i < G_N_ELEMENTS (config_options); i++)
    option_copy (&config_options[i], copy, config);
  copy->default_namespace = namespace_copy (config->default_namespace);
  copy->namespaces = g_ptr_array_new_full (config->namespaces->len, namespace_free);
  for (guint i = 0; i < config->namespaces->len; i++)
    g_ptr_array_add (copy->namespaces, namespace_copy (g_ptr_array_index (config->namespaces, i)));

  return copy;
}

static gboolean
namespace_equal (const CrierNamespaceConfig *a,
                 const CrierNamespaceConfig *b)
{
  if (g_strcmp0 (a->name, b->name) != 0)
    return FALSE;

  for (gsize i = 0; i < G_N_ELEMENTS (namespace_options); i++)
    {
      if (!option_equal (&namespace_options[i], a, b))
        return FALSE;
    }

  return TRUE;
}

gboolean
crier_config_equal (const CrierConfig *a,
                    const CrierConfig *b)
{
  g_return_val_if_fail (a != NULL, FALSE);
  g_return_val_if_fail (b != NULL, FALSE);

  for (gsize i = 0; i < G_N_ELEMENTS (config_options); i++)
    {
      if (!option_equal (&config_options[i], a, b))
        return FALSE;
    }

  if (!namespace_equal (a->default_namespace, b->default_namespace) ||
      a->namespaces->len != b->namespaces->len)
    return FALSE;

  for (guint i = 0; i < a->namespaces->len; i++)
    {
      if (!namespace_equal (g_ptr_array_index (a->namespaces, i),
                            g_ptr_array_index (b->namespaces, i)))
        return FALSE;
    }

  return TRUE;
}

/* Swaps the contents, so that @config gets @staged's values and @staged
 * (freed by the caller) the old ones. */
static void
config_swap (CrierConfig *config,
             CrierConfig *staged)
{
  CrierConfig tmp = *config;

  *config = *staged;
  *staged = tmp;
}

gboolean
crier_config_load_data (CrierConfig  *config,
                        const char   *data,
                        gssize        len,
                        const char   *filename,
                        GError      **error)
{
  g_autoptr(GHashTable) lines = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GArray) entries = g_array_new (FALSE, FALSE, sizeof (ScanEntry));
  g_autoptr(GKeyFile) keyfile = g_key_file_new ();
  g_autoptr(CrierConfig) staged = NULL;
  g_autoptr(GError) local_error = NULL;
  Origin origin = { filename != NULL ? filename : "<config>", lines };

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (data == NULL)
    data = "";
  if (len < 0)
    len = strlen (data);

  g_array_set_clear_func (entries, scan_entry_clear);
  if (!scan_text (&origin, entries, data, len, error))
    return FALSE;

  if (!g_key_file_load_from_data (keyfile, data, len, G_KEY_FILE_NONE, &local_error))
    return set_error (error, CRIER_CONFIG_ERROR_PARSE, &origin, 0, NULL, NULL,
                      "%s", local_error->message);

  staged = crier_config_copy (config);

  for (guint i = 0; i < entries->len; i++)
    {
      const ScanEntry *entry = &g_array_index (entries, ScanEntry, i);
      /* Also for a section header: [namespace.x] alone creates x. */
      gpointer base = section_base (staged, entry->section);
      const ConfigOption *opt;
      g_autofree char *raw = NULL;
      g_autofree char *text = NULL;
      g_autofree char *message = NULL;

      if (entry->key == NULL)
        continue;

      opt = find_option (entry->section, entry->key);
      g_assert (opt != NULL);

      raw = g_key_file_get_value (keyfile, entry->section, entry->key, &local_error);
      if (raw == NULL)
        return set_error (error, CRIER_CONFIG_ERROR_PARSE, &origin, entry->line,
                          entry->section, entry->key, "%s", local_error->message);

      text = unescape_value (raw, &message);
      if (text == NULL || !option_set_text (opt, base, text, &message))
        return set_error (error, CRIER_CONFIG_ERROR_BAD_VALUE, &origin, entry->line,
                          entry->section, entry->key, "%s", message);
    }

  if (!validate_config (staged, &origin, error))
    return FALSE;

  config_swap (config, staged);
  return TRUE;
}

gboolean
crier_config_load_file (CrierConfig  *config,
                        const char   *path,
                        GError      **error)
{
  g_autofree char *contents = NULL;
  gsize len = 0;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  if (!g_file_get_contents (path, &contents, &len, error))
    return FALSE;

  return crier_config_load_data (config, contents, len, path, error);
}

gboolean
crier_config_set (CrierConfig  *config,
                  const char   *assignment,
                  GError      **error)
{
  g_autoptr(GHashTable) lines = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(CrierConfig) staged = NULL;
  g_autofree char *name = NULL;
  g_autofree char *section = NULL;
  g_autofree char *value = NULL;
  g_autofree char *message = NULL;
  Origin origin = { "--set", lines };
  const char *eq;
  const char *key;
  char *dot = NULL;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (assignment != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* As in a file: a value that is not UTF-8 would make the dump (and so
   * --dump-config and the admin hello) unreadable.  Found by
   * tests/fuzz/fuzz-config. */
  if (!g_utf8_validate (assignment, -1, NULL))
    return set_error (error, CRIER_CONFIG_ERROR_PARSE, &origin, 0, NULL, NULL,
                      "not valid UTF-8 text");

  eq = strchr (assignment, '=');
  if (eq != NULL)
    {
      name = g_strstrip (g_strndup (assignment, eq - assignment));
      dot = strrchr (name, '.');
    }
  if (eq == NULL || dot == NULL || dot == name || dot[1] == '\0')
    return set_error (error, CRIER_CONFIG_ERROR_PARSE, &origin, 0, NULL, NULL,
                      "'%s' is not section.key=value", assignment);

  section = g_strndup (name, dot - name);
  key = dot + 1;

  if (!check_section (&origin, 0, section, error) ||
      !check_key (&origin, 0, section, key, error))
    return FALSE;

  g_hash_table_insert (lines, line_key (section, key), GUINT_TO_POINTER (0));

  value = g_strstrip (g_strdup (eq + 1));
  staged = crier_config_copy (config);
  if (!option_set_text (find_option (section, key), section_base (staged, section),
                        value, &message))
    return set_error (error, CRIER_CONFIG_ERROR_BAD_VALUE, &origin, 0, section, key,
                      "%s", message);

  if (!validate_config (staged, &origin, error))
    return FALSE;

  config_swap (config, staged);
  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* Dump and help                                                          */

/* Writes @text as '# ' lines of at most @width columns. */
static void
append_comment (GString    *out,
                const char *text,
                guint       width)
{
  g_auto(GStrv) words = g_strsplit (text, " ", -1);
  gsize line_len = 0;

  for (guint i = 0; words[i] != NULL; i++)
    {
      gsize word_len = strlen (words[i]);

      if (word_len == 0)
        continue;

      if (line_len > 0 && line_len + 1 + word_len > width)
        {
          g_string_append_c (out, '\n');
          line_len = 0;
        }

      if (line_len == 0)
        {
          g_string_append (out, "# ");
          line_len = 2;
        }
      else
        {
          g_string_append_c (out, ' ');
          line_len++;
        }

      g_string_append (out, words[i]);
      line_len += word_len;
    }

  if (line_len > 0)
    g_string_append_c (out, '\n');
}

/* The default as shown in comments and --help-config. */
static char *
default_text (const ConfigOption *opt,
              gconstpointer       defaults)
{
  g_autofree char *text = option_format (opt, defaults, FALSE);

  if (text[0] == '\0')
    return g_strdup ("(empty)");
  return g_steal_pointer (&text);
}

static void
append_option (GString            *out,
               const ConfigOption *opt,
               gconstpointer       base,
               gconstpointer       defaults,
               CrierConfigDumpFlags flags)
{
  gboolean comments = (flags & CRIER_CONFIG_DUMP_COMMENTS) != 0;
  gboolean mask = (flags & CRIER_CONFIG_DUMP_MASK_SECRETS) != 0;
  g_autofree char *value = option_format (opt, base, mask);
  g_autofree char *escaped = escape_value (value);

  if (comments)
    {
      g_autofree char *def = default_text (opt, defaults);

      g_string_append_c (out, '\n');
      append_comment (out, opt->help, 78);
      g_string_append_printf (out, "# type: %s", type_name (opt));
      if (opt->type == OPTION_ENUM)
        {
          g_autofree char *choices = g_strjoinv ("|", (char **) opt->choices);

          g_string_append_printf (out, " %s", choices);
        }
      g_string_append_printf (out, ", default: %s", def);
      if (opt->type == OPTION_INT || opt->type == OPTION_SIZE || opt->type == OPTION_DURATION)
        {
          g_autofree char *min = format_number (opt, opt->min);
          g_autofree char *max = format_number (opt, opt->max);

          g_string_append_printf (out, ", range: %s..%s", min, max);
        }
      g_string_append_printf (out, ", reloadable: %s",
                              (opt->flags & OPTION_RELOADABLE) != 0 ? "yes" : "no");
      if ((opt->flags & OPTION_SECRET) != 0)
        g_string_append (out, ", secret: yes");
      g_string_append_c (out, '\n');

      if (option_equal (opt, base, defaults))
        g_string_append_c (out, '#');
    }

  if (escaped[0] == '\0')
    g_string_append_printf (out, "%s =\n", opt->key);
  else
    g_string_append_printf (out, "%s = %s\n", opt->key, escaped);
}

static void
append_section (GString             *out,
                const char          *section,
                const char          *help,
                const ConfigOption  *options,
                gsize                n_options,
                gconstpointer        base,
                gconstpointer        defaults,
                CrierConfigDumpFlags flags)
{
  gboolean comments = (flags & CRIER_CONFIG_DUMP_COMMENTS) != 0;

  if (out->len > 0)
    g_string_append_c (out, '\n');
  if (comments && help != NULL)
    append_comment (out, help, 78);
  g_string_append_printf (out, "[%s]\n", section);

  for (gsize i = 0; i < n_options; i++)
    {
      if (options[i].section == NULL || strcmp (options[i].section, section) == 0)
        append_option (out, &options[i], base, defaults, flags);
    }
}

char *
crier_config_dump_with_flags (const CrierConfig    *config,
                              CrierConfigDumpFlags  flags)
{
  g_autoptr(CrierConfig) defaults = NULL;
  gboolean comments = (flags & CRIER_CONFIG_DUMP_COMMENTS) != 0;
  GString *out;

  g_return_val_if_fail (config != NULL, NULL);

  defaults = crier_config_new ();
  out = g_string_new (NULL);
  if (comments)
    g_string_append (out, dump_header);

  for (gsize i = 0; i < G_N_ELEMENTS (config_sections); i++)
    append_section (out, config_sections[i].name, config_sections[i].help,
                    config_options, G_N_ELEMENTS (config_options),
                    config, defaults, flags);

  append_section (out, CHANNELS_SECTION,
                  "Channels without a namespace (no ':' in their name).",
                  namespace_options, G_N_ELEMENTS (namespace_options),
                  config->default_namespace, defaults->default_namespace, flags);

  if (comments)
    {
      g_string_append_c (out, '\n');
      append_comment (out, dump_namespace_help, 78);
      g_string_append (out, "#\n");
      g_string_append (out, dump_namespace_example);
    }

  for (guint i = 0; i < config->namespaces->len; i++)
    {
      const CrierNamespaceConfig *ns = g_ptr_array_index (config->namespaces, i);
      g_autofree char *section = g_strconcat (NAMESPACE_PREFIX, ns->name, NULL);

      append_section (out, section, NULL,
                      namespace_options, G_N_ELEMENTS (namespace_options),
                      ns, defaults->default_namespace, flags);
    }

  return g_string_free (out, FALSE);
}

char *
crier_config_dump (const CrierConfig *config,
                   gboolean           comments)
{
  return crier_config_dump_with_flags (config, comments ? CRIER_CONFIG_DUMP_COMMENTS : 0);
}

static void
append_help_line (GString            *out,
                  const char         *section,
                  const ConfigOption *opt,
                  gconstpointer       defaults)
{
  g_autofree char *def = default_text (opt, defaults);
  const char *help_end = strstr (opt->help, ".  ");
  int help_len = help_end != NULL ? (int) (help_end - opt->help + 1) : (int) strlen (opt->help);

  g_string_append_printf (out, "  [%s] %s (%s, default %s): %.*s\n",
                          section, opt->key, type_name (opt), def, help_len, opt->help);
}

char *
crier_config_help (void)
{
  g_autoptr(CrierConfig) defaults = crier_config_new ();
  GString *out = g_string_new (NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (config_options); i++)
    append_help_line (out, config_options[i].section, &config_options[i], defaults);
  for (gsize i = 0; i < G_N_ELEMENTS (namespace_options); i++)
    append_help_line (out, CHANNELS_SECTION, &namespace_options[i], defaults->default_namespace);
  g_string_append (out, "  [namespace.NAME] sections take the keys of [channels], for "
                        "channels named NAME:...\n");

  return g_string_free (out, FALSE);
}

/* ---------------------------------------------------------------------- */
/* Lookup and reload                                                      */

const CrierNamespaceConfig *
crier_config_lookup_namespace (const CrierConfig *config,
                               const char        *channel)
{
  const char *colon;

  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (channel != NULL, NULL);

  colon = strchr (channel, ':');
  if (colon == NULL)
    return config->default_namespace;

  return find_namespace (config, channel, colon - channel, NULL);
}

static void
reload_options (const ConfigOption *options,
                gsize               n_options,
                gpointer            running,
                gconstpointer       fresh,
                const char         *section,
                GPtrArray          *skipped)
{
  for (gsize i = 0; i < n_options; i++)
    {
      const ConfigOption *opt = &options[i];

      if (option_equal (opt, running, fresh))
        continue;

      if ((opt->flags & OPTION_RELOADABLE) != 0)
        option_copy (opt, running, fresh);
      else
        g_ptr_array_add (skipped, g_strdup_printf ("%s.%s",
                                                   section != NULL ? section : opt->section,
                                                   opt->key));
    }
}

void
crier_config_apply_reload (CrierConfig        *running,
                           const CrierConfig  *fresh,
                           GPtrArray         **not_reloaded)
{
  g_autoptr(GPtrArray) skipped = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) old = NULL;

  g_return_if_fail (running != NULL);
  g_return_if_fail (fresh != NULL);

  reload_options (config_options, G_N_ELEMENTS (config_options),
                  running, fresh, NULL, skipped);
  reload_options (namespace_options, G_N_ELEMENTS (namespace_options),
                  running->default_namespace, fresh->default_namespace,
                  CHANNELS_SECTION, skipped);

  /* Namespaces that stay keep their struct, so pointers from
   * crier_config_lookup_namespace() stay valid. */
  old = g_steal_pointer (&running->namespaces);
  running->namespaces = g_ptr_array_new_full (fresh->namespaces->len, namespace_free);

  for (guint i = 0; i < fresh->namespaces->len; i++)
    {
      const CrierNamespaceConfig *ns = g_ptr_array_index (fresh->namespaces, i);
      CrierNamespaceConfig *kept = NULL;

      for (guint j = 0; j < old->len && kept == NULL; j++)
        {
          CrierNamespaceConfig *candidate = g_ptr_array_index (old, j);

          if (candidate != NULL && strcmp (candidate->name, ns->name) == 0)
            {
              kept = candidate;
              g_ptr_array_index (old, j) = NULL;
            }
        }

      if (kept != NULL)
        {
          g_autofree char *section = g_strconcat (NAMESPACE_PREFIX, ns->name, NULL);

          reload_options (namespace_options, G_N_ELEMENTS (namespace_options),
                          kept, ns, section, skipped);
          g_ptr_array_add (running->namespaces, kept);
        }
      else
        g_ptr_array_add (running->namespaces, namespace_copy (ns));
    }

  if (not_reloaded != NULL)
    *not_reloaded = g_steal_pointer (&skipped);
}
