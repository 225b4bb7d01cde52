/* crier-config.h: crierd's configuration, driven by one declarative table.
 *
 * The table in crier-config.c (name, type, default, bounds, help, reloadable)
 * is the single source for the GKeyFile parser, `crierd --help-config`,
 * `crierd --dump-config` and the fully commented data/crierd.conf (a test
 * checks that the shipped file equals the generated one).
 *
 * Sizes accept the suffixes k, K, KiB, M, MiB, G, GiB (powers of 1024);
 * durations accept ms, s, m, h, d (a bare number means seconds) and are stored
 * in milliseconds.  String lists are comma separated.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* [tls] priority "modern" (the default): TLS 1.2 and 1.3 only,
 * forward-secret key exchange (ECDHE, DHE), AEAD ciphers, no SHA-1
 * signatures, the server's order. */
#define CRIER_TLS_MODERN_PRIORITY                                             \
  "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:"                                \
  "-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:+DHE-RSA:"                                  \
  "-CIPHER-ALL:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM:-MAC-ALL:+AEAD:"   \
  "-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1:%SERVER_PRECEDENCE"


#define CRIER_CONFIG_ERROR (crier_config_error_quark ())

typedef enum
{
  CRIER_CONFIG_ERROR_PARSE,         /* not a key file / bad syntax */
  CRIER_CONFIG_ERROR_UNKNOWN_KEY,   /* unknown section or key */
  CRIER_CONFIG_ERROR_BAD_VALUE,     /* wrong type, out of bounds */
  CRIER_CONFIG_ERROR_NOT_RELOADABLE,
} CrierConfigError;

/* Options of one channel namespace: [channels] for channels without a
 * namespace, [namespace.NAME] for channels named "NAME:...". */
typedef struct
{
  char    *name;               /* "" for the default namespace */
  gint64   history_size;       /* publications kept; 0 = no history */
  gint64   history_ttl;        /* ms */
  gint64   history_max_bytes;  /* payload bytes kept per channel */
  gboolean presence;
  gboolean join_leave;         /* join/leave pushes when the client asks */
  gboolean force_join_leave;   /* join/leave pushes always */
  gboolean allow_subscribe;    /* clients may subscribe without a sub token */
  gboolean allow_publish;      /* subscribers may publish */
  gboolean allow_history;      /* subscribers may call history */
  gboolean allow_presence;     /* subscribers may call presence */
  gboolean require_sub_token;  /* subscribing needs a subscription JWT */
  gboolean force_recovery;     /* every subscription is recoverable */
  gboolean force_positioning;
  gint64   max_channel_length;
  char    *channel_chars;      /* allowed characters in the part after "ns:" */
} CrierNamespaceConfig;

typedef struct
{
  /* [server] */
  char   **listen;              /* "host:port" list; IPv6 as "[::]:8000" */
  char    *node_name;           /* "" = hostname */
  gint64   backlog;
  gint64   max_connections;     /* 0 = RLIMIT_NOFILE minus a reserve */
  gboolean tcp_nodelay;
  gint64   drain_timeout;       /* ms */
  char    *log_level;           /* debug, info, message, warning */
  gboolean debug_endpoints;     /* /debug/... test endpoints (never in production) */
  char   **allowed_origins;     /* WebSocket/CORS origins; empty = any */
  char   **debug_disable_transports; /* test switch: transports that refuse requests */
  char    *debug_pages_dir;     /* test switch: files served at /debug/page/NAME */

  /* [tls] */
  char    *tls_cert_file;       /* PEM; "" = plain TCP on the client listeners */
  char    *tls_key_file;        /* PEM */
  gboolean tls_admin;           /* TLS on the [admin] listen TCP listener too */
  char    *tls_admin_cert_file; /* "" = cert_file */
  char    *tls_admin_key_file;  /* "" = key_file */
  char    *tls_priority;        /* "modern" or a GnuTLS priority string */

  /* [websocket] */
  gint64   ws_max_frame_size;
  gint64   ws_max_message_size;
  gint64   ping_interval;       /* ms */
  gint64   pong_timeout;        /* ms */
  gint64   stale_timeout;       /* ms: no connect command by then = close */

  /* [limits] */
  gint64   outbound_soft_limit; /* bytes queued to one client */
  gint64   outbound_hard_limit;
  gint64   outbound_soft_grace; /* ms above the soft limit before eviction */
  gint64   max_request_body;
  gint64   max_request_head;    /* request line + header fields, bytes */
  gint64   max_subscriptions;   /* per connection */
  gint64   long_poll_timeout;   /* ms a long poll is held */
  gint64   long_poll_idle_timeout; /* ms a long-poll session lives between polls */
  gint64   max_connections_per_address; /* 0 = no limit */
  gint64   connect_rate;        /* new connections per second per node; 0 = off */
  gint64   connect_burst;
  gint64   connect_rate_per_address; /* per remote address; 0 = off */
  gint64   connect_burst_per_address;
  gint64   request_timeout;     /* ms to send a whole request (head + body); 0 = off */
  gint64   http_idle_timeout;   /* ms an idle keep-alive connection is kept; 0 = off */
  gint64   command_rate;        /* client commands per second; 0 = off */
  gint64   command_burst;
  gint64   command_max_rejections; /* refused in a row before 3013 */
  gint64   max_channel_subscribers; /* per channel on this node; 0 = no limit */

  /* [auth] */
  char    *hmac_secret;
  char    *rsa_public_key;      /* PEM file path */
  char    *ecdsa_public_key;    /* PEM file path */
  char   **api_keys;
  gboolean allow_anonymous;
  gint64   max_connections_per_user;
  char    *jwt_audience;        /* "" = "aud" not checked */
  char    *jwt_issuer;          /* "" = "iss" not checked */
  gint64   jwt_leeway;          /* ms of clock skew allowed for exp/nbf */
  gint64   expired_close_delay; /* ms after token expiry before 3005 / unsubscribe 2501 */

  /* [broker] */
  char    *redis;               /* "" = memory broker (unless redis_sentinels) */
  char    *redis_user;          /* ACL user; "" = default */
  char    *redis_password;      /* "" = no AUTH */
  gint64   redis_db;            /* SELECT */
  char    *redis_prefix;        /* of every key and PUB/SUB channel */
  char   **redis_sentinels;     /* "host:port" list; empty = no Sentinel */
  char    *redis_master_name;   /* required with redis_sentinels */
  char    *redis_sentinel_password;
  gint64   redis_connect_timeout; /* ms */
  gint64   redis_command_timeout; /* ms */
  gint64   redis_presence_ttl;  /* ms */
  gboolean redis_tls;           /* refused: hiredis 0.14 has no TLS */

  /* [admin] */
  char    *admin_socket;        /* "" = $XDG_RUNTIME_DIR/crier/admin.sock or /run/crier/admin.sock */
  char    *admin_listen;        /* optional "host:port" for TCP */
  char    *admin_token;
  gboolean admin_metrics_on_client_listener; /* GET /metrics on the client listeners too */
  gint64   admin_max_connections; /* TCP admin connections at once; 0 = no cap */
  gint64   admin_request_timeout; /* ms for a whole request on the TCP listener; 0 = off */

  /* [anomaly] */
  gboolean anomaly_enabled;
  gint64   anomaly_sensitivity;   /* percent: 200 halves the thresholds in σ */
  gint64   anomaly_warmup;        /* ms learnt before the detectors alert */
  gint64   anomaly_spike_sigma;
  gint64   anomaly_burst_min_count;
  gint64   anomaly_drop_percent;  /* a collapse: at most this % of the level */
  gint64   anomaly_drift_percent; /* a drift: the recent mean this % off the long one */
  gint64   anomaly_latency_limit; /* ms: p99 above it is critical; 0 = off */

  /* [channels] and [namespace.NAME] */
  CrierNamespaceConfig *default_namespace;
  GPtrArray            *namespaces;   /* of CrierNamespaceConfig*, sorted by name */
} CrierConfig;

GQuark        crier_config_error_quark      (void);

CrierConfig  *crier_config_new              (void);   /* embedded defaults */
void          crier_config_free             (CrierConfig    *config);
CrierConfig  *crier_config_copy             (const CrierConfig *config);

/* Load a file over the current values.  Errors name the file, line and key:
 * "crierd.conf:12: [server] backlog: 'x' is not an integer".  On error
 * @config is left unchanged.  crier_config_load_file() returns G_FILE_ERROR
 * when the file cannot be read.  @filename only names the data in errors
 * (NULL: "<config>"). */
gboolean      crier_config_load_file        (CrierConfig    *config,
                                             const char     *path,
                                             GError        **error);
gboolean      crier_config_load_data        (CrierConfig    *config,
                                             const char     *data,
                                             gssize          len,
                                             const char     *filename,
                                             GError        **error);
/* "section.key=value", for `crierd --set`; namespace keys as
 * "namespace.chat.history_size=10" (creating the namespace) or
 * "channels.history_size=10".  The value is taken literally (no key-file
 * escapes).  Cross-field rules are checked too, so when raising a pair such
 * as outbound_soft_limit and outbound_hard_limit set the upper one first.
 * Errors read "--set: [server] backlog: 'x' is not an integer". */
gboolean      crier_config_set              (CrierConfig    *config,
                                             const char     *assignment,
                                             GError        **error);

/* Every key with its current value; with @comments, the help text, type,
 * bounds and default above each key (that is what data/crierd.conf is).
 * crier_config_load_data() reads the result back to an equal config. */
char         *crier_config_dump             (const CrierConfig *config,
                                             gboolean        comments);

typedef enum
{
  CRIER_CONFIG_DUMP_COMMENTS     = 1 << 0,  /* as crier_config_dump (config, TRUE) */
  CRIER_CONFIG_DUMP_MASK_SECRETS = 1 << 1,  /* non-empty secrets as "********" */
} CrierConfigDumpFlags;

/* crier_config_dump() with flags; use MASK_SECRETS for logs and the admin
 * socket (a masked dump does not read back to the same secrets). */
char         *crier_config_dump_with_flags  (const CrierConfig   *config,
                                             CrierConfigDumpFlags flags);
/* One line per key for --help-config. */
char         *crier_config_help             (void);

/* The GnuTLS priority string of a [tls] priority value ("modern" expanded). */
const char   *crier_tls_priority_string     (const char *priority);

/* Namespace of a channel name ("chat:room" -> "chat"); NULL when the
 * channel names a namespace that is not configured.  A name without ':'
 * is in the default namespace ([channels]).  The result stays valid across
 * crier_config_apply_reload() as long as the namespace is still configured,
 * but its string fields may be replaced: read them, do not keep them. */
const CrierNamespaceConfig *
              crier_config_lookup_namespace (const CrierConfig *config,
                                             const char     *channel);

/* TRUE when @channel (the full name, "ns:rest", of a channel in @ns) is at
 * most max_channel_length bytes and the part after "ns:" is non-empty and
 * only uses channel_chars.  channel_chars is a character class: single
 * ASCII characters and ranges such as a-z; a '-' at the start or the end
 * stands for itself. */
gboolean      crier_config_channel_is_valid (const CrierNamespaceConfig *ns,
                                             const char     *channel);

/* Parses "host:port" or "[ipv6]:port" as [server] listen and [admin]
 * listen accept them (port 0..65535, 0 = any free port). */
gboolean      crier_config_parse_address    (const char     *address,
                                             char          **out_host,
                                             guint16        *out_port,
                                             GError        **error);

/* The checks crier_config_load_data() and crier_config_set() run after
 * parsing: bounds, formats and cross-field rules such as
 * outbound_soft_limit <= outbound_hard_limit. */
gboolean      crier_config_validate         (const CrierConfig *config,
                                             GError        **error);

/* TRUE when every key of both configs, namespaces included, is equal. */
gboolean      crier_config_equal            (const CrierConfig *a,
                                             const CrierConfig *b);

/* Copy into @running what can change at run time from @fresh; returns in
 * @not_reloaded (if not NULL) a list of "section.key" whose change needs a
 * restart (an empty array when there is none; free with
 * g_ptr_array_unref).  Which keys reload is the "reloadable" column of the
 * table (see data/crierd.conf); namespaces can be added and removed.
 * Namespace keys are named "channels.key" and "namespace.NAME.key".
 * Strings of @running that change are freed: read them when needed rather
 * than keeping pointers to them. */
void          crier_config_apply_reload     (CrierConfig    *running,
                                             const CrierConfig *fresh,
                                             GPtrArray     **not_reloaded);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierConfig, crier_config_free)

G_END_DECLS
