/* test-config.c: crierd.conf parsing, errors, dump, reload. */
#include "config.h"

#include "crier-config.h"

#include <glib/gstdio.h>
#include <string.h>

/* Loads @text (named "crierd.conf") over the defaults; NULL on error. */
static CrierConfig *
load (const char  *text,
      GError     **error)
{
  g_autoptr(CrierConfig) config = crier_config_new ();

  if (!crier_config_load_data (config, text, -1, "crierd.conf", error))
    return NULL;

  return g_steal_pointer (&config);
}

static CrierConfig *
load_ok (const char *text)
{
  g_autoptr(GError) error = NULL;
  CrierConfig *config = load (text, &error);

  g_assert_no_error (error);
  g_assert_nonnull (config);

  return config;
}

static void
assert_load_error (const char       *text,
                   CrierConfigError  code,
                   const char       *message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CrierConfig) config = load (text, &error);

  g_assert_null (config);
  g_assert_error (error, CRIER_CONFIG_ERROR, (int) code);
  g_assert_cmpstr (error->message, ==, message);
}

static void
assert_set_error (CrierConfig      *config,
                  const char       *assignment,
                  CrierConfigError  code,
                  const char       *message)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (crier_config_set (config, assignment, &error));
  g_assert_error (error, CRIER_CONFIG_ERROR, (int) code);
  g_assert_cmpstr (error->message, ==, message);
}

static void
set_ok (CrierConfig *config,
        const char  *assignment)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (crier_config_set (config, assignment, &error));
  g_assert_no_error (error);
}

static void
test_defaults (void)
{
  g_autoptr(CrierConfig) config = crier_config_new ();
  const char * const listen[] = { "0.0.0.0:8000", "[::]:8000", NULL };
  const char * const empty[] = { NULL };
  const CrierNamespaceConfig *ns = config->default_namespace;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_strv_equal ((const char * const *) config->listen, listen));
  g_assert_cmpstr (config->node_name, ==, "");
  g_assert_cmpint (config->backlog, ==, 4096);
  g_assert_cmpint (config->max_connections, ==, 0);
  g_assert_true (config->tcp_nodelay);
  g_assert_cmpint (config->drain_timeout, ==, 10000);
  g_assert_cmpstr (config->log_level, ==, "info");
  g_assert_false (config->debug_endpoints);
  g_assert_cmpstrv (config->allowed_origins, empty);
  g_assert_cmpint (config->ws_max_frame_size, ==, 64 * 1024);
  g_assert_cmpint (config->ws_max_message_size, ==, 64 * 1024);
  g_assert_cmpint (config->ping_interval, ==, 25000);
  g_assert_cmpint (config->pong_timeout, ==, 8000);
  g_assert_cmpint (config->stale_timeout, ==, 10000);
  g_assert_cmpint (config->outbound_soft_limit, ==, 256 * 1024);
  g_assert_cmpint (config->outbound_hard_limit, ==, 1024 * 1024);
  g_assert_cmpint (config->outbound_soft_grace, ==, 10000);
  g_assert_cmpint (config->max_request_body, ==, 64 * 1024);
  g_assert_cmpint (config->max_subscriptions, ==, 128);
  g_assert_cmpstr (config->hmac_secret, ==, "");
  g_assert_cmpstr (config->rsa_public_key, ==, "");
  g_assert_cmpstr (config->ecdsa_public_key, ==, "");
  g_assert_cmpstrv (config->api_keys, empty);
  g_assert_false (config->allow_anonymous);
  g_assert_cmpint (config->max_connections_per_user, ==, 0);
  g_assert_cmpstr (config->admin_socket, ==, "");
  g_assert_cmpstr (config->admin_listen, ==, "");
  g_assert_cmpstr (config->admin_token, ==, "");

  g_assert_nonnull (ns);
  g_assert_cmpstr (ns->name, ==, "");
  g_assert_cmpint (ns->history_size, ==, 0);
  g_assert_cmpint (ns->history_ttl, ==, 5 * 60 * 1000);
  g_assert_cmpint (ns->history_max_bytes, ==, 1024 * 1024);
  g_assert_false (ns->presence);
  g_assert_false (ns->join_leave);
  g_assert_false (ns->force_join_leave);
  g_assert_true (ns->allow_subscribe);
  g_assert_false (ns->allow_publish);
  g_assert_false (ns->allow_history);
  g_assert_false (ns->allow_presence);
  g_assert_false (ns->require_sub_token);
  g_assert_false (ns->force_recovery);
  g_assert_false (ns->force_positioning);
  g_assert_cmpint (ns->max_channel_length, ==, 255);
  g_assert_cmpstr (ns->channel_chars, ==, "A-Za-z0-9_.:@-");
  g_assert_cmpuint (config->namespaces->len, ==, 0);

  g_assert_true (crier_config_validate (config, &error));
  g_assert_no_error (error);

  /* An empty file changes nothing. */
  {
    g_autoptr(CrierConfig) loaded = load_ok ("");
    g_autoptr(CrierConfig) comments_only = load_ok ("# nothing\n\n   # here\n");

    g_assert_true (crier_config_equal (config, loaded));
    g_assert_true (crier_config_equal (config, comments_only));
  }
}

static void
test_bool (void)
{
  static const struct
  {
    const char *text;
    gboolean    value;
  } good[] = {
    { "true", TRUE }, { "yes", TRUE }, { "On", TRUE }, { "1", TRUE },
    { "false", FALSE }, { "no", FALSE }, { "OFF", FALSE }, { "0", FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autofree char *text = g_strdup_printf ("[server]\ntcp_nodelay = %s\n", good[i].text);
      g_autoptr(CrierConfig) config = load_ok (text);

      g_assert_cmpint (config->tcp_nodelay, ==, good[i].value);
    }

  assert_load_error ("[server]\n\ntcp_nodelay = maybe\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:3: [server] tcp_nodelay: 'maybe' is not a boolean "
                     "(true or false)");
  assert_load_error ("[channels]\npresence =\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [channels] presence: '' is not a boolean (true or false)");
}

static void
test_int (void)
{
  g_autoptr(CrierConfig) config = load_ok ("[server]\nbacklog = 100\nmax_connections=+20000\n");

  g_assert_cmpint (config->backlog, ==, 100);
  g_assert_cmpint (config->max_connections, ==, 20000);

  assert_load_error ("# comment\n[server]\nlisten = 127.0.0.1:1\nbacklog = abc\n",
                     CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:4: [server] backlog: 'abc' is not an integer");
  assert_load_error ("[server]\nbacklog = 12x\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] backlog: '12x' is not an integer");
  assert_load_error ("[server]\nbacklog = 1.5\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] backlog: '1.5' is not an integer");
  assert_load_error ("[server]\nbacklog = 99999999999999999999999\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] backlog: '99999999999999999999999' "
                     "is not an integer");
}

static void
test_size (void)
{
  g_autoptr(CrierConfig) config = load_ok ("[websocket]\n"
                                           "max_frame_size = 2048\n"
                                           "max_message_size = 1M\n"
                                           "[limits]\n"
                                           "outbound_soft_limit = 64k\n"
                                           "outbound_hard_limit = 1GiB\n"
                                           "max_request_body = 128 KiB\n");

  g_assert_cmpint (config->ws_max_frame_size, ==, 2048);
  g_assert_cmpint (config->ws_max_message_size, ==, 1024 * 1024);
  g_assert_cmpint (config->outbound_soft_limit, ==, 64 * 1024);
  g_assert_cmpint (config->outbound_hard_limit, ==, 1024 * 1024 * 1024);
  g_assert_cmpint (config->max_request_body, ==, 128 * 1024);

  assert_load_error ("[limits]\nmax_request_body = 12 parsecs\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [limits] max_request_body: '12 parsecs' is not a size "
                     "(bytes, optionally with k, KiB, M, MiB, G or GiB)");
  assert_load_error ("[limits]\nmax_request_body = -4k\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [limits] max_request_body: '-4k' is not a size "
                     "(bytes, optionally with k, KiB, M, MiB, G or GiB)");
}

static void
test_duration (void)
{
  g_autoptr(CrierConfig) config = load_ok ("[server]\n"
                                           "drain_timeout = 30\n"
                                           "[websocket]\n"
                                           "ping_interval = 2m\n"
                                           "pong_timeout = 250ms\n"
                                           "stale_timeout = 1h\n"
                                           "[channels]\n"
                                           "history_ttl = 2d\n");

  g_assert_cmpint (config->drain_timeout, ==, 30000);
  g_assert_cmpint (config->ping_interval, ==, 120000);
  g_assert_cmpint (config->pong_timeout, ==, 250);
  g_assert_cmpint (config->stale_timeout, ==, 3600000);
  g_assert_cmpint (config->default_namespace->history_ttl, ==, 2 * 24 * 3600000);

  assert_load_error ("[server]\ndrain_timeout = soon\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] drain_timeout: 'soon' is not a duration "
                     "(a number with ms, s, m, h or d)");
  assert_load_error ("[server]\ndrain_timeout = 5 weeks\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] drain_timeout: '5 weeks' is not a duration "
                     "(a number with ms, s, m, h or d)");
}

static void
test_string (void)
{
  g_autoptr(CrierConfig) config = load_ok ("[server]\n"
                                           "node_name = node-1   \n"
                                           "[auth]\n"
                                           "hmac_secret =   \\sa # b\\\\c\\s  \n"
                                           "rsa_public_key = /etc/crier/rsa pub.pem\n"
                                           "ecdsa_public_key=\n"
                                           "[admin]\n"
                                           "socket = tab\\there\\nnewline\n");

  g_assert_cmpstr (config->node_name, ==, "node-1");
  g_assert_cmpstr (config->hmac_secret, ==, " a # b\\c ");
  g_assert_cmpstr (config->rsa_public_key, ==, "/etc/crier/rsa pub.pem");
  g_assert_cmpstr (config->ecdsa_public_key, ==, "");
  g_assert_cmpstr (config->admin_socket, ==, "tab\there\nnewline");

  assert_load_error ("[auth]\nhmac_secret = a\\qb\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [auth] hmac_secret: '\\q' is not an escape "
                     "(use \\s, \\t, \\n, \\r or \\\\)");
  assert_load_error ("[auth]\n\nhmac_secret = abc\\\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:3: [auth] hmac_secret: the value ends with a lone '\\'");
  assert_load_error ("[server]\nnode_name = two words\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] node_name: 'two words' contains spaces "
                     "or control characters");
}

static void
test_string_list (void)
{
  const char * const origins[] = { "https://a.example", "https://b.example", "http://c", NULL };
  const char * const keys[] = { "k1", NULL };
  g_autoptr(CrierConfig) config = load_ok ("[server]\n"
                                           "allowed_origins = https://a.example,"
                                           "https://b.example , ,http://c,\n"
                                           "[auth]\n"
                                           "api_keys = k1\n");
  g_autoptr(CrierConfig) emptied = NULL;

  g_assert_cmpstrv (config->allowed_origins, origins);
  g_assert_cmpstrv (config->api_keys, keys);

  /* An empty value is an empty list, also over a non-empty one. */
  emptied = crier_config_copy (config);
  g_assert_true (crier_config_load_data (emptied, "[auth]\napi_keys =\n", -1, "x.conf", NULL));
  g_assert_nonnull (emptied->api_keys);
  g_assert_null (emptied->api_keys[0]);
}

static void
test_enum (void)
{
  g_autoptr(CrierConfig) debug = load_ok ("[server]\nlog_level = debug\n");
  g_autoptr(CrierConfig) upper = load_ok ("[server]\nlog_level = WARNING\n");

  g_assert_cmpstr (debug->log_level, ==, "debug");
  g_assert_cmpstr (upper->log_level, ==, "warning");

  assert_load_error ("[server]\nlog_level = verbose\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] log_level: 'verbose' is not one of "
                     "debug, info, message, warning");
}

static void
test_bounds (void)
{
  g_autoptr(CrierConfig) edges = load_ok ("[server]\nbacklog = 65535\n"
                                          "[websocket]\n"
                                          "ping_interval = 200ms\n"
                                          "pong_timeout=100ms\n");

  g_assert_cmpint (edges->backlog, ==, 65535);

  assert_load_error ("[server]\nbacklog = 70000\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] backlog: 70000 is above the maximum 65535");
  assert_load_error ("[server]\nbacklog = 0\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] backlog: 0 is below the minimum 1");
  assert_load_error ("[server]\nbacklog = -5\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] backlog: -5 is below the minimum 1");
  assert_load_error ("[websocket]\nmax_message_size = 131072k\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [websocket] max_message_size: 128MiB is above "
                     "the maximum 64MiB");
  assert_load_error ("[websocket]\nmax_frame_size = 1000\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [websocket] max_frame_size: 1000 is below the minimum 1KiB");
  assert_load_error ("[websocket]\nping_interval = 50ms\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [websocket] ping_interval: 50ms is below the minimum 100ms");
  assert_load_error ("[namespace.chat]\nhistory_ttl = 31d\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [namespace.chat] history_ttl: 31d is above the maximum 30d");
  assert_load_error ("[channels]\nmax_channel_length = 0\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [channels] max_channel_length: 0 is below the minimum 1");
}

static void
test_unknown (void)
{
  assert_load_error ("[server]\nbacklog = 10\nlisen = 127.0.0.1:80\n",
                     CRIER_CONFIG_ERROR_UNKNOWN_KEY,
                     "crierd.conf:3: [server] lisen: unknown key (did you mean 'listen'?)");
  assert_load_error ("[server]\nhmac_secret = x\n", CRIER_CONFIG_ERROR_UNKNOWN_KEY,
                     "crierd.conf:2: [server] hmac_secret: unknown key "
                     "(did you mean [auth] hmac_secret?)");
  assert_load_error ("[server]\nhistory_size = 1\n", CRIER_CONFIG_ERROR_UNKNOWN_KEY,
                     "crierd.conf:2: [server] history_size: unknown key "
                     "(did you mean [channels] history_size?)");
  assert_load_error ("[channels]\nhistory_sise = 1\n", CRIER_CONFIG_ERROR_UNKNOWN_KEY,
                     "crierd.conf:2: [channels] history_sise: unknown key "
                     "(did you mean 'history_size'?)");
  assert_load_error ("[server]\nfrobnicate = 1\n", CRIER_CONFIG_ERROR_UNKNOWN_KEY,
                     "crierd.conf:2: [server] frobnicate: unknown key");
  assert_load_error ("[server]\nlisten[de] = 1\n", CRIER_CONFIG_ERROR_UNKNOWN_KEY,
                     "crierd.conf:2: [server] listen[de]: unknown key");
  assert_load_error ("[server]\n"
                     "backlog = 1\n"
                     "\n"
                     "[nonsense]\n"
                     "x = 1\n",
                     CRIER_CONFIG_ERROR_UNKNOWN_KEY,
                     "crierd.conf:4: [nonsense]: unknown section");
  assert_load_error ("[sever]\n", CRIER_CONFIG_ERROR_UNKNOWN_KEY,
                     "crierd.conf:1: [sever]: unknown section (did you mean [server]?)");
  assert_load_error ("[namespaces.chat]\n", CRIER_CONFIG_ERROR_UNKNOWN_KEY,
                     "crierd.conf:1: [namespaces.chat]: unknown section "
                     "(did you mean [namespace.chat]?)");
  assert_load_error ("[namespace.bad name]\n", CRIER_CONFIG_ERROR_UNKNOWN_KEY,
                     "crierd.conf:1: [namespace.bad name]: namespace names may only use "
                     "A-Z, a-z, 0-9, _ and -");
  assert_load_error ("[namespace.]\n", CRIER_CONFIG_ERROR_UNKNOWN_KEY,
                     "crierd.conf:1: [namespace.]: namespace names may only use "
                     "A-Z, a-z, 0-9, _ and -");
  assert_load_error ("[namespace.a:b]\n", CRIER_CONFIG_ERROR_UNKNOWN_KEY,
                     "crierd.conf:1: [namespace.a:b]: namespace names may only use "
                     "A-Z, a-z, 0-9, _ and -");
}

static void
test_syntax (void)
{
  g_autoptr(CrierConfig) crlf = load_ok ("[server]\r\nbacklog = 7\r\n");

  g_assert_cmpint (crlf->backlog, ==, 7);

  assert_load_error ("[server]\nbacklog = 1\njunk\n", CRIER_CONFIG_ERROR_PARSE,
                     "crierd.conf:3: 'junk' is not a [section] header, a 'key = value' line "
                     "or a # comment");
  assert_load_error ("[server]\n= 1\n", CRIER_CONFIG_ERROR_PARSE,
                     "crierd.conf:2: '= 1' is not a [section] header, a 'key = value' line "
                     "or a # comment");
  assert_load_error ("# top\nbacklog = 1\n[server]\n", CRIER_CONFIG_ERROR_PARSE,
                     "crierd.conf:2: 'backlog' comes before the first [section]");
  assert_load_error ("[server\nbacklog = 1\n", CRIER_CONFIG_ERROR_PARSE,
                     "crierd.conf:1: '[server' is not a [section] header");
  assert_load_error ("[server] x\n", CRIER_CONFIG_ERROR_PARSE,
                     "crierd.conf:1: '[server] x' is not a [section] header");
  assert_load_error ("[]\n", CRIER_CONFIG_ERROR_PARSE,
                     "crierd.conf:1: '[]' is not a [section] header");
  assert_load_error ("[server]\n\nnode_name = \xff\xfe\n", CRIER_CONFIG_ERROR_PARSE,
                     "crierd.conf:3: not valid UTF-8 text");
}

static void
test_duplicates (void)
{
  assert_load_error ("[server]\nbacklog = 1\n# again\nbacklog = 2\n", CRIER_CONFIG_ERROR_PARSE,
                     "crierd.conf:4: [server] backlog: repeated key (first set on line 2)");
  assert_load_error ("[server]\nbacklog = 1\n[auth]\n[server]\nlisten = 127.0.0.1:1\n",
                     CRIER_CONFIG_ERROR_PARSE,
                     "crierd.conf:4: [server]: repeated section (first on line 1)");
  assert_load_error ("[namespace.chat]\npresence = true\n\n[namespace.chat]\n",
                     CRIER_CONFIG_ERROR_PARSE,
                     "crierd.conf:4: [namespace.chat]: repeated section (first on line 1)");
}

static void
test_failed_load_changes_nothing (void)
{
  g_autoptr(CrierConfig) config = crier_config_new ();
  g_autoptr(CrierConfig) before = NULL;
  g_autoptr(GError) error = NULL;

  set_ok (config, "server.backlog=10");
  before = crier_config_copy (config);

  g_assert_false (crier_config_load_data (config,
                                          "[server]\nbacklog = 20\nnode_name = n\n"
                                          "[namespace.chat]\npresence = true\n"
                                          "[limits]\nmax_subscriptions = x\n",
                                          -1, "crierd.conf", &error));
  g_assert_error (error, CRIER_CONFIG_ERROR, CRIER_CONFIG_ERROR_BAD_VALUE);
  g_assert_true (crier_config_equal (config, before));
  g_assert_cmpint (config->backlog, ==, 10);
  g_assert_cmpuint (config->namespaces->len, ==, 0);
}

static const CrierNamespaceConfig *
namespace_at (const CrierConfig *config,
              guint              index)
{
  g_assert_cmpuint (index, <, config->namespaces->len);
  return g_ptr_array_index (config->namespaces, index);
}

static void
test_namespaces (void)
{
  g_autoptr(CrierConfig) config = load_ok ("[channels]\n"
                                           "history_size = 10\n"
                                           "allow_history = true\n"
                                           "\n"
                                           "[namespace.zeta]\n"
                                           "\n"
                                           "[namespace.chat]\n"
                                           "presence = true\n"
                                           "allow_presence = true\n"
                                           "channel_chars = a-z0-9\n"
                                           "\n"
                                           "[namespace.A-b_1]\n"
                                           "allow_publish = yes\n");
  const CrierNamespaceConfig *chat;
  const CrierNamespaceConfig *zeta;

  g_assert_cmpint (config->default_namespace->history_size, ==, 10);
  g_assert_true (config->default_namespace->allow_history);

  /* Sorted by name; a namespace starts from the defaults, not [channels]. */
  g_assert_cmpuint (config->namespaces->len, ==, 3);
  g_assert_cmpstr (namespace_at (config, 0)->name, ==, "A-b_1");
  g_assert_cmpstr (namespace_at (config, 1)->name, ==, "chat");
  g_assert_cmpstr (namespace_at (config, 2)->name, ==, "zeta");

  chat = g_ptr_array_index (config->namespaces, 1);
  g_assert_true (chat->presence);
  g_assert_true (chat->allow_presence);
  g_assert_cmpstr (chat->channel_chars, ==, "a-z0-9");
  g_assert_cmpint (chat->history_size, ==, 0);
  g_assert_false (chat->allow_history);
  g_assert_true (chat->allow_subscribe);

  zeta = g_ptr_array_index (config->namespaces, 2);
  g_assert_false (zeta->presence);
  g_assert_cmpint (zeta->max_channel_length, ==, 255);
  g_assert_true (namespace_at (config, 0)->allow_publish);

  /* A second file adds to the namespaces and changes existing ones. */
  g_assert_true (crier_config_load_data (config, "[namespace.chat]\nhistory_size = 5\n"
                                                 "[namespace.b]\n", -1, "more.conf", NULL));
  g_assert_cmpuint (config->namespaces->len, ==, 4);
  chat = crier_config_lookup_namespace (config, "chat:x");
  g_assert_cmpint (chat->history_size, ==, 5);
  g_assert_true (chat->presence);
  g_assert_cmpstr (crier_config_lookup_namespace (config, "b:x")->name, ==, "b");
}

static void
test_load_file (void)
{
  g_autofree char *dir = g_dir_make_tmp ("test-config-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "crierd.conf", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing.conf", NULL);
  g_autofree char *expected = NULL;
  g_autoptr(CrierConfig) config = crier_config_new ();
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (dir);
  g_assert_true (g_file_set_contents (path, "[server]\nbacklog = 12\n", -1, NULL));
  g_assert_true (crier_config_load_file (config, path, &error));
  g_assert_no_error (error);
  g_assert_cmpint (config->backlog, ==, 12);

  g_assert_true (g_file_set_contents (path, "[server]\n\nbacklog = x\n", -1, NULL));
  g_assert_false (crier_config_load_file (config, path, &error));
  expected = g_strdup_printf ("%s:3: [server] backlog: 'x' is not an integer", path);
  g_assert_error (error, CRIER_CONFIG_ERROR, CRIER_CONFIG_ERROR_BAD_VALUE);
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);

  g_assert_false (crier_config_load_file (config, missing, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_cmpint (config->backlog, ==, 12);

  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static void
test_lookup_namespace (void)
{
  g_autoptr(CrierConfig) config = load_ok ("[namespace.chat]\n[namespace.chat2]\n[namespace.c]\n");
  const CrierNamespaceConfig *ns;

  ns = crier_config_lookup_namespace (config, "chat:room1");
  g_assert_nonnull (ns);
  g_assert_cmpstr (ns->name, ==, "chat");
  g_assert_cmpstr (crier_config_lookup_namespace (config, "chat2:x")->name, ==, "chat2");
  g_assert_cmpstr (crier_config_lookup_namespace (config, "c:x:y")->name, ==, "c");
  g_assert_cmpstr (crier_config_lookup_namespace (config, "chat:")->name, ==, "chat");
  g_assert_true (crier_config_lookup_namespace (config, "room1") == config->default_namespace);
  g_assert_true (crier_config_lookup_namespace (config, "") == config->default_namespace);
  g_assert_null (crier_config_lookup_namespace (config, "cha:room"));
  g_assert_null (crier_config_lookup_namespace (config, "chat3:room"));
  g_assert_null (crier_config_lookup_namespace (config, ":room"));
}

static void
test_channel_is_valid (void)
{
  g_autoptr(CrierConfig) config = load_ok ("[channels]\nmax_channel_length = 10\n"
                                           "[namespace.chat]\nchannel_chars = -a-c5\n"
                                           "max_channel_length = 9\n");
  const CrierNamespaceConfig *def = config->default_namespace;
  const CrierNamespaceConfig *chat = crier_config_lookup_namespace (config, "chat:x");

  g_assert_true (crier_config_channel_is_valid (def, "news_1.x@y"));
  g_assert_true (crier_config_channel_is_valid (def, "A-Z"));
  g_assert_false (crier_config_channel_is_valid (def, "news_1.x@yz"));  /* 11 bytes */
  g_assert_false (crier_config_channel_is_valid (def, "a b"));
  g_assert_false (crier_config_channel_is_valid (def, "caf\xc3\xa9"));
  g_assert_false (crier_config_channel_is_valid (def, ""));

  g_assert_true (crier_config_channel_is_valid (chat, "chat:ab-5"));
  g_assert_true (crier_config_channel_is_valid (chat, "chat:cccc"));
  g_assert_false (crier_config_channel_is_valid (chat, "chat:ccccc"));  /* 10 bytes */
  g_assert_false (crier_config_channel_is_valid (chat, "chat:d"));
  g_assert_false (crier_config_channel_is_valid (chat, "chat:4"));
  g_assert_false (crier_config_channel_is_valid (chat, "chat:"));
  g_assert_false (crier_config_channel_is_valid (chat, "other:a"));

  assert_load_error ("[channels]\nchannel_chars = z-a\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [channels] channel_chars: 'z-a': the range z-a is backwards");
  assert_load_error ("[channels]\nchannel_chars =\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [channels] channel_chars: no characters are allowed (empty)");
  assert_load_error ("[channels]\nchannel_chars = a-z\\sA\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [channels] channel_chars: 'a-z A': only printable ASCII "
                     "characters without spaces are allowed");
}

static void
test_set (void)
{
  g_autoptr(CrierConfig) config = crier_config_new ();
  const char * const listen[] = { "127.0.0.1:0", "[::1]:9000", NULL };
  const CrierNamespaceConfig *chat;

  set_ok (config, "server.backlog=100");
  set_ok (config, "server.listen = 127.0.0.1:0, [::1]:9000");
  set_ok (config, "websocket.max_frame_size=16KiB");
  set_ok (config, "server.log_level=debug");
  set_ok (config, "auth.api_keys=a,b");
  set_ok (config, "auth.hmac_secret=s3cret");
  set_ok (config, "channels.history_size=10");
  set_ok (config, "namespace.chat.history_size=20");
  set_ok (config, "namespace.chat.allow_history=true");

  g_assert_cmpint (config->backlog, ==, 100);
  g_assert_cmpstrv (config->listen, listen);
  g_assert_cmpint (config->ws_max_frame_size, ==, 16 * 1024);
  g_assert_cmpstr (config->log_level, ==, "debug");
  g_assert_cmpuint (g_strv_length (config->api_keys), ==, 2);
  g_assert_cmpstr (config->hmac_secret, ==, "s3cret");
  g_assert_cmpint (config->default_namespace->history_size, ==, 10);
  chat = crier_config_lookup_namespace (config, "chat:x");
  g_assert_nonnull (chat);
  g_assert_cmpint (chat->history_size, ==, 20);
  g_assert_true (chat->allow_history);

  assert_set_error (config, "server.backlog=abc", CRIER_CONFIG_ERROR_BAD_VALUE,
                    "--set: [server] backlog: 'abc' is not an integer");
  assert_set_error (config, "server.backlog=70000", CRIER_CONFIG_ERROR_BAD_VALUE,
                    "--set: [server] backlog: 70000 is above the maximum 65535");
  assert_set_error (config, "server.lisen=x", CRIER_CONFIG_ERROR_UNKNOWN_KEY,
                    "--set: [server] lisen: unknown key (did you mean 'listen'?)");
  assert_set_error (config, "nonsense.key=1", CRIER_CONFIG_ERROR_UNKNOWN_KEY,
                    "--set: [nonsense]: unknown section");
  assert_set_error (config, "namespace.bad!.presence=true", CRIER_CONFIG_ERROR_UNKNOWN_KEY,
                    "--set: [namespace.bad!]: namespace names may only use A-Z, a-z, 0-9, _ and -");
  assert_set_error (config, "backlog=1", CRIER_CONFIG_ERROR_PARSE,
                    "--set: 'backlog=1' is not section.key=value");
  assert_set_error (config, "server.backlog", CRIER_CONFIG_ERROR_PARSE,
                    "--set: 'server.backlog' is not section.key=value");
  assert_set_error (config, "server.=1", CRIER_CONFIG_ERROR_PARSE,
                    "--set: 'server.=1' is not section.key=value");
  assert_set_error (config, "websocket.max_frame_size=128KiB", CRIER_CONFIG_ERROR_BAD_VALUE,
                    "--set: [websocket] max_frame_size: 128KiB is above "
                    "[websocket] max_message_size (64KiB)");
  assert_set_error (config, "namespace.chat.history_size=0", CRIER_CONFIG_ERROR_BAD_VALUE,
                    "--set: [namespace.chat] history_size: must be above 0 "
                    "for allow_history = true");

  /* Failed sets change nothing; a namespace is not created by a bad value. */
  assert_set_error (config, "namespace.other.history_ttl=forever", CRIER_CONFIG_ERROR_BAD_VALUE,
                    "--set: [namespace.other] history_ttl: 'forever' is not a duration "
                    "(a number with ms, s, m, h or d)");
  g_assert_null (crier_config_lookup_namespace (config, "other:x"));
  g_assert_cmpint (config->backlog, ==, 100);
  g_assert_cmpint (config->ws_max_frame_size, ==, 16 * 1024);
  g_assert_cmpint (chat->history_size, ==, 20);
}

/* A config with a value other than the default for every key. */
static CrierConfig *
make_unusual_config (void)
{
  return load_ok ("[server]\n"
                  "listen = 127.0.0.1:0, [::1]:8080, localhost:9\n"
                  "node_name = node-\xc3\xa9\n"
                  "backlog = 17\n"
                  "max_connections = 5000\n"
                  "tcp_nodelay = false\n"
                  "drain_timeout = 1500ms\n"
                  "log_level = message\n"
                  "debug_endpoints = true\n"
                  "allowed_origins = https://a.example, http://b.example:8080\n"
                  "[websocket]\n"
                  "max_frame_size = 1025\n"
                  "max_message_size = 3MiB\n"
                  "ping_interval = 59m\n"
                  "pong_timeout = 61s\n"
                  "stale_timeout = 100ms\n"
                  "[limits]\n"
                  "outbound_soft_limit = 100MiB\n"
                  "outbound_hard_limit = 1G\n"
                  "outbound_soft_grace = 0\n"
                  "max_request_body = 1000000\n"
                  "max_subscriptions = 1\n"
                  "[auth]\n"
                  "hmac_secret = \\s\\slead, # not a comment \\\\ tab\\there\\s\n"
                  "rsa_public_key = /etc/crier/rsa.pem\n"
                  "ecdsa_public_key = /etc/crier/ec.pem\n"
                  "api_keys = key-1, key-2\n"
                  "allow_anonymous = true\n"
                  "max_connections_per_user = 3\n"
                  "[admin]\n"
                  "socket = /tmp/crier admin.sock\n"
                  "listen = [::1]:9999\n"
                  "token = line1\\nline2\n"
                  "[channels]\n"
                  "history_size = 1\n"
                  "history_ttl = 36h\n"
                  "history_max_bytes = 5000\n"
                  "presence = true\n"
                  "join_leave = true\n"
                  "force_join_leave = true\n"
                  "allow_subscribe = false\n"
                  "allow_publish = true\n"
                  "allow_history = true\n"
                  "allow_presence = true\n"
                  "require_sub_token = true\n"
                  "force_recovery = true\n"
                  "force_positioning = true\n"
                  "max_channel_length = 64\n"
                  "channel_chars = a-z\n"
                  "[namespace.chat]\n"
                  "history_size = 50\n"
                  "allow_history = true\n"
                  "[namespace.empty]\n");
}

static void
test_dump_round_trip (void)
{
  g_autoptr(CrierConfig) defaults = crier_config_new ();
  g_autoptr(CrierConfig) unusual = make_unusual_config ();
  CrierConfig *configs[] = { defaults, unusual };

  g_assert_false (crier_config_equal (defaults, unusual));
  g_assert_cmpstr (unusual->hmac_secret, ==, "  lead, # not a comment \\ tab\there ");

  for (guint i = 0; i < G_N_ELEMENTS (configs); i++)
    {
      for (int comments = 0; comments <= 1; comments++)
        {
          g_autofree char *dump = crier_config_dump (configs[i], comments);
          g_autofree char *again = NULL;
          g_autoptr(CrierConfig) loaded = crier_config_new ();
          g_autoptr(GError) error = NULL;

          g_assert_true (crier_config_load_data (loaded, dump, -1, "dump.conf", &error));
          g_assert_no_error (error);
          g_assert_true (crier_config_equal (loaded, configs[i]));

          again = crier_config_dump (loaded, comments);
          g_assert_cmpstr (again, ==, dump);
        }
    }

  /* Every key is there without comments: one "key = value" line each. */
  {
    g_autofree char *dump = crier_config_dump (unusual, FALSE);

    g_assert_true (g_str_has_prefix (dump, "[server]\n"
                                           "listen = 127.0.0.1:0, [::1]:8080, localhost:9\n"));
    g_assert_nonnull (strstr (dump, "\nbacklog = 17\n"));
    g_assert_nonnull (strstr (dump, "\ndrain_timeout = 1500ms\n"));
    g_assert_nonnull (strstr (dump, "\nmax_request_body = 1000000\n"));
    g_assert_nonnull (strstr (dump, "\noutbound_soft_grace = 0s\n"));
    g_assert_nonnull (strstr (dump, "\nhmac_secret = "
                                    "\\s lead, # not a comment \\\\ tab\\there\\s\n"));
    g_assert_nonnull (strstr (dump, "\n[namespace.chat]\nhistory_size = 50\n"));
    g_assert_nonnull (strstr (dump, "\n[namespace.empty]\nhistory_size = 0\n"));
    g_assert_null (strstr (dump, "\n#"));
  }
}

static void
test_dump_comments (void)
{
  g_autoptr(CrierConfig) config = crier_config_new ();
  g_autoptr(CrierConfig) defaults = crier_config_new ();
  g_autofree char *shipped = crier_config_dump (defaults, TRUE);
  g_autofree char *dump = NULL;
  g_auto(GStrv) lines = NULL;

  /* Shipped as is, the commented dump changes nothing, not even a config
   * that is not at its defaults. */
  set_ok (config, "server.backlog=10");
  set_ok (config, "namespace.chat.presence=true");
  g_assert_true (crier_config_load_data (config, shipped, -1, "crierd.conf", NULL));
  g_assert_cmpint (config->backlog, ==, 10);
  g_assert_true (crier_config_lookup_namespace (config, "chat:x")->presence);

  /* Changed keys are written out; the others stay commented. */
  dump = crier_config_dump (config, TRUE);
  g_assert_nonnull (strstr (dump, "\n# type: integer, default: 4096, range: 1..65535, "
                                  "reloadable: no\n"
                                  "backlog = 10\n"));
  g_assert_nonnull (strstr (dump, "\n#tcp_nodelay = true\n"));
  g_assert_nonnull (strstr (dump, "\n[namespace.chat]\n"));
  g_assert_nonnull (strstr (dump, "\npresence = true\n"));
  g_assert_nonnull (strstr (dump, "\n# type: size, default: 64KiB, range: 1KiB..64MiB, "
                                  "reloadable: yes\n"
                                  "#max_frame_size = 64KiB\n"));
  g_assert_nonnull (strstr (dump, "# type: enum debug|info|message|warning, default: info, "
                                  "reloadable: yes\n#log_level = info\n"));
  g_assert_nonnull (strstr (dump, "# type: string, default: (empty), reloadable: yes, secret: yes\n"
                                  "#hmac_secret =\n"));

  /* Comment lines fit in 78 columns, and no line ends in a space. */
  lines = g_strsplit (shipped, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      gsize len = strlen (lines[i]);

      if (lines[i][0] == '#')
        g_assert_cmpuint (len, <=, 78);
      g_assert_true (len == 0 || lines[i][len - 1] != ' ');
    }
  g_assert_true (g_str_has_suffix (shipped, "\n"));
}

static void
test_dump_example_namespace (void)
{
  g_autoptr(CrierConfig) defaults = crier_config_new ();
  g_autofree char *dump = crier_config_dump (defaults, TRUE);
  const char *start = strstr (dump, "\n#[namespace.chat]\n");
  GString *example = g_string_new (NULL);
  g_autoptr(CrierConfig) config = NULL;
  const CrierNamespaceConfig *chat;

  g_assert_nonnull (start);
  start++;

  /* Uncomment the example block: it must load as it stands. */
  while (*start == '#')
    {
      const char *eol = strchr (start, '\n');

      g_assert_nonnull (eol);
      g_string_append_len (example, start + 1, eol - start);
      start = eol + 1;
    }

  config = load_ok (example->str);
  g_string_free (example, TRUE);

  chat = crier_config_lookup_namespace (config, "chat:lobby");
  g_assert_nonnull (chat);
  g_assert_cmpint (chat->history_size, ==, 100);
  g_assert_true (chat->presence);
}

static void
test_dump_masked (void)
{
  g_autoptr(CrierConfig) config = make_unusual_config ();
  g_autoptr(CrierConfig) defaults = crier_config_new ();
  g_autofree char *masked = crier_config_dump_with_flags (config, CRIER_CONFIG_DUMP_MASK_SECRETS);
  g_autofree char *masked_defaults = crier_config_dump_with_flags (defaults,
                                                                   CRIER_CONFIG_DUMP_MASK_SECRETS |
                                                                   CRIER_CONFIG_DUMP_COMMENTS);
  g_autofree char *plain = crier_config_dump_with_flags (defaults, CRIER_CONFIG_DUMP_COMMENTS);

  g_assert_nonnull (strstr (masked, "\nhmac_secret = ********\n"));
  g_assert_nonnull (strstr (masked, "\napi_keys = ********\n"));
  g_assert_nonnull (strstr (masked, "\ntoken = ********\n"));
  g_assert_null (strstr (masked, "key-1"));
  g_assert_null (strstr (masked, "lead"));
  g_assert_null (strstr (masked, "line1"));
  /* Not secrets. */
  g_assert_nonnull (strstr (masked, "\nrsa_public_key = /etc/crier/rsa.pem\n"));
  g_assert_nonnull (strstr (masked, "\nbacklog = 17\n"));

  /* Empty secrets stay visibly empty. */
  g_assert_cmpstr (masked_defaults, ==, plain);
}

static void
test_shipped_file (void)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "..", "data", "crierd.conf", NULL);
  g_autoptr(CrierConfig) defaults = crier_config_new ();
  g_autofree char *expected = crier_config_dump (defaults, TRUE);
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;

  if (!g_file_get_contents (path, &contents, NULL, &error))
    {
      g_test_fail_printf ("cannot read %s (%s); regenerate it with "
                          "`crierd --dump-config --comments > data/crierd.conf`",
                          path, error->message);
      return;
    }

  if (strcmp (contents, expected) != 0)
    {
      guint line = 1;

      for (gsize i = 0; contents[i] != '\0' && contents[i] == expected[i]; i++)
        {
          if (contents[i] == '\n')
            line++;
        }
      g_test_fail_printf ("data/crierd.conf differs from the config table from line %u on; "
                          "regenerate it with `crierd --dump-config --comments > data/crierd.conf`",
                          line);
    }
}

static void
test_help (void)
{
  g_autofree char *help = crier_config_help ();
  g_autoptr(CrierConfig) defaults = crier_config_new ();
  g_autofree char *dump = crier_config_dump (defaults, FALSE);
  g_auto(GStrv) help_lines = g_strsplit (help, "\n", -1);
  g_auto(GStrv) dump_lines = g_strsplit (dump, "\n", -1);
  guint n_help = 0;
  guint n_keys = 0;

  g_assert_nonnull (strstr (help, "  [server] listen (list, default 0.0.0.0:8000, [::]:8000): "
                                  "Addresses the client endpoints listen on, as host:port.\n"));
  g_assert_nonnull (strstr (help, "  [websocket] max_frame_size (size, default 64KiB): "));
  g_assert_nonnull (strstr (help, "  [admin] token (string, default (empty)): "));
  g_assert_nonnull (strstr (help, "  [channels] history_ttl (duration, default 5m): "));

  /* One line per key: as many as "key = value" lines in a plain dump. */
  for (guint i = 0; help_lines[i] != NULL; i++)
    {
      if (g_str_has_prefix (help_lines[i], "  [") && strstr (help_lines[i], " (") != NULL &&
          !g_str_has_prefix (help_lines[i], "  [namespace.NAME]"))
        n_help++;
    }
  for (guint i = 0; dump_lines[i] != NULL; i++)
    {
      if (strstr (dump_lines[i], " =") != NULL)
        n_keys++;
    }
  g_assert_cmpuint (n_help, >, 40);
  g_assert_cmpuint (n_help, ==, n_keys);
}

static gboolean
ptr_array_has_string (GPtrArray  *array,
                      const char *s)
{
  for (guint i = 0; i < array->len; i++)
    {
      if (strcmp (g_ptr_array_index (array, i), s) == 0)
        return TRUE;
    }
  return FALSE;
}

static void
test_reload (void)
{
  g_autoptr(CrierConfig) running = load_ok ("[namespace.chat]\npresence = true\n"
                                            "[namespace.old]\n");
  g_autoptr(CrierConfig) fresh = load_ok ("[server]\n"
                                          "listen = 127.0.0.1:9000\n"
                                          "backlog = 10\n"
                                          "log_level = debug\n"
                                          "allowed_origins = https://example.com\n"
                                          "[limits]\n"
                                          "outbound_hard_limit = 2MiB\n"
                                          "[auth]\n"
                                          "api_keys = k\n"
                                          "[admin]\n"
                                          "socket = /tmp/other.sock\n"
                                          "token = t\n"
                                          "[channels]\n"
                                          "presence = true\n"
                                          "[namespace.chat]\n"
                                          "history_size = 7\n"
                                          "[namespace.new]\n"
                                          "allow_publish = true\n");
  const CrierNamespaceConfig *chat_before = crier_config_lookup_namespace (running, "chat:x");
  g_autoptr(GPtrArray) not_reloaded = NULL;
  g_autoptr(GPtrArray) nothing = NULL;
  const char * const old_listen[] = { "0.0.0.0:8000", "[::]:8000", NULL };

  crier_config_apply_reload (running, fresh, &not_reloaded);

  g_assert_nonnull (not_reloaded);
  g_assert_cmpuint (not_reloaded->len, ==, 3);
  g_assert_true (ptr_array_has_string (not_reloaded, "server.listen"));
  g_assert_true (ptr_array_has_string (not_reloaded, "server.backlog"));
  g_assert_true (ptr_array_has_string (not_reloaded, "admin.socket"));

  /* Not reloaded: kept. */
  g_assert_cmpstrv (running->listen, old_listen);
  g_assert_cmpint (running->backlog, ==, 4096);
  g_assert_cmpstr (running->admin_socket, ==, "");

  /* Reloaded. */
  g_assert_cmpstr (running->log_level, ==, "debug");
  g_assert_cmpstr (running->allowed_origins[0], ==, "https://example.com");
  g_assert_cmpint (running->outbound_hard_limit, ==, 2 * 1024 * 1024);
  g_assert_cmpstr (running->api_keys[0], ==, "k");
  g_assert_cmpstr (running->admin_token, ==, "t");
  g_assert_true (running->default_namespace->presence);

  /* Namespaces follow the fresh config; one that stays keeps its struct. */
  g_assert_true (crier_config_lookup_namespace (running, "chat:x") == chat_before);
  g_assert_cmpint (chat_before->history_size, ==, 7);
  g_assert_false (chat_before->presence);
  g_assert_null (crier_config_lookup_namespace (running, "old:x"));
  g_assert_true (crier_config_lookup_namespace (running, "new:x")->allow_publish);
  g_assert_cmpuint (running->namespaces->len, ==, 2);

  /* Applying it again still reports what needs a restart... */
  crier_config_apply_reload (running, fresh, &nothing);
  g_assert_cmpuint (nothing->len, ==, 3);
  /* ...and a config equal to the running one reports nothing. */
  {
    g_autoptr(CrierConfig) same = crier_config_copy (running);
    g_autoptr(GPtrArray) none = NULL;

    crier_config_apply_reload (running, same, &none);
    g_assert_cmpuint (none->len, ==, 0);
    g_assert_true (crier_config_equal (running, same));
  }

  /* NULL not_reloaded is allowed. */
  crier_config_apply_reload (running, fresh, NULL);
}

/* [broker]: Redis addresses, Sentinel pairs, no TLS. */
static void
test_broker (void)
{
  g_autoptr(CrierConfig) config = NULL;
  g_autoptr(CrierConfig) sentinel = NULL;

  config = load_ok ("[broker]\nredis = 127.0.0.1:6379\nredis_password = pw\n"
                    "redis_db = 2\nredis_prefix = app1\n");
  g_assert_cmpstr (config->redis, ==, "127.0.0.1:6379");
  g_assert_cmpstr (config->redis_password, ==, "pw");
  g_assert_cmpint (config->redis_db, ==, 2);
  g_assert_cmpstr (config->redis_prefix, ==, "app1");
  g_assert_cmpint (config->redis_connect_timeout, ==, 2000);
  g_assert_false (config->redis_tls);
  g_clear_pointer (&config, crier_config_free);
  config = load_ok ("[broker]\nredis = unix:/run/redis/redis.sock\n");
  g_assert_cmpstr (config->redis, ==, "unix:/run/redis/redis.sock");

  sentinel = load_ok ("[broker]\nredis_sentinels = 10.0.0.1:26379, 10.0.0.2:26379\n"
                      "redis_master_name = main\n");
  g_assert_cmpuint (g_strv_length (sentinel->redis_sentinels), ==, 2);
  g_assert_cmpstr (sentinel->redis_master_name, ==, "main");

  assert_load_error ("[broker]\nredis = rediss://r:6380\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [broker] redis: TLS is not supported (hiredis 0.14 has "
                     "none); use a Unix socket or a local TLS tunnel such as stunnel");
  assert_load_error ("[broker]\nredis_tls = true\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [broker] redis_tls: TLS to Redis is not supported: "
                     "hiredis 0.14 (Debian 12) has no TLS; use a Unix socket or a local TLS "
                     "tunnel such as stunnel");
  assert_load_error ("[broker]\nredis = redis:6379:1\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [broker] redis: 'redis:6379:1': IPv6 addresses need "
                     "brackets, as in [::1]:8000");
  assert_load_error ("[broker]\nredis = 127.0.0.1:0\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [broker] redis: '127.0.0.1:0': the port cannot be 0");
  assert_load_error ("[broker]\nredis = unix:redis.sock\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [broker] redis: 'unix:redis.sock': the socket path must "
                     "be absolute");
  assert_load_error ("[broker]\nredis_prefix = a b\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [broker] redis_prefix: 'a b': only printable ASCII "
                     "without spaces is allowed");
  assert_load_error ("[broker]\nredis_sentinels = 10.0.0.1:26379\n",
                     CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [broker] redis_sentinels: need redis_master_name");
  /* redis_master_name alone is harmless, so that --set may give it
   * before redis_sentinels. */
  assert_load_error ("[broker]\nredis = 127.0.0.1:6379\nredis_sentinels = 10.0.0.1:26379\n"
                     "redis_master_name = main\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [broker] redis: give either redis or redis_sentinels, "
                     "not both");
}

static void
test_cross_field (void)
{
  g_autoptr(CrierConfig) config = crier_config_new ();
  g_autoptr(GError) error = NULL;

  /* Reported at the line of the key the file sets, from its side. */
  assert_load_error ("[limits]\noutbound_soft_limit = 2MiB\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [limits] outbound_soft_limit: 2MiB is above "
                     "[limits] outbound_hard_limit (1MiB)");
  assert_load_error ("[limits]\n\noutbound_hard_limit = 128KiB\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:3: [limits] outbound_hard_limit: 128KiB is below "
                     "[limits] outbound_soft_limit (256KiB)");
  assert_load_error ("[websocket]\nmax_message_size = 2KiB\nmax_frame_size = 4KiB\n",
                     CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:3: [websocket] max_frame_size: 4KiB is above "
                     "[websocket] max_message_size (2KiB)");
  assert_load_error ("[websocket]\npong_timeout = 25s\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [websocket] pong_timeout: 25s must be below "
                     "[websocket] ping_interval (25s)");
  assert_load_error ("[websocket]\nping_interval = 5s\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [websocket] ping_interval: 5s must be above "
                     "[websocket] pong_timeout (8s)");
  assert_load_error ("[admin]\nlisten = 127.0.0.1:9001\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [admin] listen: a TCP admin listener needs a token");
  assert_load_error ("[namespace.chat]\nallow_history = true\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [namespace.chat] allow_history: needs history_size above 0");
  assert_load_error ("[channels]\nforce_recovery = 1\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [channels] force_recovery: needs history_size above 0");
  assert_load_error ("[channels]\nforce_positioning = 1\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [channels] force_positioning: needs history_size above 0");
  assert_load_error ("[channels]\nallow_presence = true\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [channels] allow_presence: needs presence = true");

  /* Listen addresses. */
  assert_load_error ("[server]\nlisten =\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] listen: at least one address is required");
  assert_load_error ("[server]\nlisten = ,\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] listen: at least one address is required");
  assert_load_error ("[server]\nlisten = localhost\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] listen: 'localhost' has no port (use host:port)");
  assert_load_error ("[server]\nlisten = 0.0.0.0:8000, ::1:8000\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] listen: '::1:8000': IPv6 addresses need brackets, "
                     "as in [::1]:8000");
  assert_load_error ("[server]\nlisten = [::1]8000\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] listen: '[::1]8000' is not [ipv6]:port");
  assert_load_error ("[server]\nlisten = [1.2.3.4]:80\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] listen: '[1.2.3.4]:80': '1.2.3.4' "
                     "is not an IPv6 address");
  assert_load_error ("[server]\nlisten = 127.0.0.1:70000\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] listen: '127.0.0.1:70000': '70000' is not a port "
                     "(0 to 65535)");
  assert_load_error ("[server]\nlisten = 127.0.0.1:http\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] listen: '127.0.0.1:http': 'http' is not a port "
                     "(0 to 65535)");
  assert_load_error ("[server]\nlisten = 999.0.0.1:80\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] listen: '999.0.0.1:80': '999.0.0.1' is not a host "
                     "name or address");
  assert_load_error ("[server]\nlisten = :80\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] listen: ':80': '' is not a host name or address");
  assert_load_error ("[server]\nlisten = a:1, b:2, a:1\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [server] listen: 'a:1' is listed twice");
  assert_load_error ("[admin]\nlisten = nowhere\n", CRIER_CONFIG_ERROR_BAD_VALUE,
                     "crierd.conf:2: [admin] listen: 'nowhere' has no port (use host:port)");

  /* Fine when both sides agree. */
  {
    g_autoptr(CrierConfig) ok = load_ok ("[limits]\noutbound_soft_limit = 2MiB\n"
                                         "outbound_hard_limit = 2MiB\n"
                                         "[admin]\nlisten = [::1]:9001\ntoken = x\n"
                                         "[websocket]\nping_interval = 1s\npong_timeout = 999ms\n");

    g_assert_cmpint (ok->outbound_soft_limit, ==, ok->outbound_hard_limit);
  }

  /* crier_config_validate() on a config changed in code. */
  config->outbound_soft_limit = config->outbound_hard_limit + 1;
  g_assert_false (crier_config_validate (config, &error));
  g_assert_error (error, CRIER_CONFIG_ERROR, CRIER_CONFIG_ERROR_BAD_VALUE);
  g_assert_cmpstr (error->message, ==, "[limits] outbound_soft_limit: 1048577 is above "
                                       "[limits] outbound_hard_limit (1MiB)");
  g_clear_error (&error);

  config->outbound_soft_limit = 1024;
  config->backlog = 0;
  g_assert_false (crier_config_validate (config, &error));
  g_assert_cmpstr (error->message, ==, "[server] backlog: 0 is below the minimum 1");
}

static void
test_parse_address (void)
{
  static const struct
  {
    const char *address;
    const char *host;
    guint16     port;
  } good[] = {
    { "0.0.0.0:8000", "0.0.0.0", 8000 },
    { "[::]:8000", "::", 8000 },
    { "[fe80::1]:0", "fe80::1", 0 },
    { "localhost:65535", "localhost", 65535 },
    { "example.com:443", "example.com", 443 },
  };
  static const char * const bad[] = {
    "", "8000", "host:", "host:-1", "host:65536", "host:+80", "[::1]", "[::1]:",
    "[nothost]:80", "::1:80", "bad_host:80", "a b:80",
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autofree char *host = NULL;
      g_autoptr(GError) error = NULL;
      guint16 port = 1;

      g_assert_true (crier_config_parse_address (good[i].address, &host, &port, &error));
      g_assert_no_error (error);
      g_assert_cmpstr (host, ==, good[i].host);
      g_assert_cmpuint (port, ==, good[i].port);
    }

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_false (crier_config_parse_address (bad[i], NULL, NULL, &error));
      g_assert_error (error, CRIER_CONFIG_ERROR, CRIER_CONFIG_ERROR_BAD_VALUE);
    }
}

static void
test_copy_equal (void)
{
  g_autoptr(CrierConfig) unusual = make_unusual_config ();
  g_autoptr(CrierConfig) copy = crier_config_copy (unusual);

  g_assert_true (crier_config_equal (unusual, copy));
  g_assert_true (copy->listen != unusual->listen);
  g_assert_true (copy->default_namespace != unusual->default_namespace);

  set_ok (copy, "namespace.empty.presence=true");
  g_assert_false (crier_config_equal (unusual, copy));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/config/defaults", test_defaults);
  g_test_add_func ("/config/types/bool", test_bool);
  g_test_add_func ("/config/types/int", test_int);
  g_test_add_func ("/config/types/size", test_size);
  g_test_add_func ("/config/types/duration", test_duration);
  g_test_add_func ("/config/types/string", test_string);
  g_test_add_func ("/config/types/string-list", test_string_list);
  g_test_add_func ("/config/types/enum", test_enum);
  g_test_add_func ("/config/bounds", test_bounds);
  g_test_add_func ("/config/unknown", test_unknown);
  g_test_add_func ("/config/syntax", test_syntax);
  g_test_add_func ("/config/duplicates", test_duplicates);
  g_test_add_func ("/config/failed-load-changes-nothing", test_failed_load_changes_nothing);
  g_test_add_func ("/config/namespaces", test_namespaces);
  g_test_add_func ("/config/load-file", test_load_file);
  g_test_add_func ("/config/lookup-namespace", test_lookup_namespace);
  g_test_add_func ("/config/channel-is-valid", test_channel_is_valid);
  g_test_add_func ("/config/set", test_set);
  g_test_add_func ("/config/copy-equal", test_copy_equal);
  g_test_add_func ("/config/dump/round-trip", test_dump_round_trip);
  g_test_add_func ("/config/dump/comments", test_dump_comments);
  g_test_add_func ("/config/dump/example-namespace", test_dump_example_namespace);
  g_test_add_func ("/config/dump/masked", test_dump_masked);
  g_test_add_func ("/config/dump/shipped-file", test_shipped_file);
  g_test_add_func ("/config/help", test_help);
  g_test_add_func ("/config/reload", test_reload);
  g_test_add_func ("/config/cross-field", test_cross_field);
  g_test_add_func ("/config/broker", test_broker);
  g_test_add_func ("/config/parse-address", test_parse_address);

  return g_test_run ();
}
