/* fuzz-cf-commands.c: the Centrifugo command decoder and everything behind
 * it (crier-proto-centrifuge.c, the hub, the memory broker).
 *
 * Input: byte 0 is a set of flags (below), the rest is newline-separated
 * commands fed to a CrierCfClient whose transport only records what it is
 * asked to do.  Each run builds a fresh hub on one shared configuration
 * (anonymous connections allowed, an HMAC secret, history, presence and
 * client publishing in [channels], and two namespaces) and frees it all at
 * the end, so LeakSanitizer sees anything a command path leaks.
 *
 * The flags (FLAG_* below) let the fuzzer start deeper than the connect
 * command: after a valid connect, with a token, with a subscription
 * token, next to a second subscribed client, with ticks in between, as a
 * unidirectional or HTTP-stream client.
 *
 * What must hold: every line the client sends is one line of valid JSON,
 * every WebSocket publication frame is one complete text frame of JSON,
 * nothing is sent after a disconnect, a disconnect happens at most once
 * and with a code in 3000..4999, and no sanitizer complains.
 */
#include "config.h"

#include "fuzz-common.h"

#include "crier-config.h"
#include "crier-hub.h"
#include "crier-jwt.h"
#include "crier-proto-centrifuge.h"
#include "crier-ws-codec.h"

#include <json-glib/json-glib.h>

#define FLAG_CONNECT      (1 << 0)  /* a valid connect command comes first */
#define FLAG_TOKEN        (1 << 1)  /* ... with a connection token (user "u1",
                                     * server-side channels) */
#define FLAG_SUB_TOKEN    (1 << 2)  /* then a subscribe to "ns:room" with a
                                     * subscription token for this client */
#define FLAG_WATCHER      (1 << 3)  /* another client, subscribed to "chat"
                                     * and "pos:a", receives what is published */
#define FLAG_LINE_BY_LINE (1 << 4)  /* one feed call per line, not one for all */
#define FLAG_TICK         (1 << 5)  /* tick clients and hub between feeds, with
                                     * the clock jumping ahead */
#define FLAG_UNI          (1 << 6)  /* unidirectional client: the first line is
                                     * its ConnectRequest */
#define FLAG_STREAM       (1 << 7)  /* publications in the HTTP-stream form */

#define SECRET "fuzz-secret"

typedef struct
{
  CrierEncoding encoding;
  gboolean      disconnected;
  guint         code;
  guint         lines;
  guint         frames;
  guint         pings;
  gint64        deadline;
} FakeTransport;

static CrierConfig *config;
static CrierJwtKeys *keys;
static char *connect_token;

/* ---- the fake transport -------------------------------------------------- */

static void
check_json (const char *json,
            gsize       len)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) error = NULL;

  FUZZ_CHECK (memchr (json, '\n', len) == NULL);
  if (!json_parser_load_from_data (parser, json, (gssize) len, &error))
    {
      g_printerr ("not JSON (%s): %.*s\n", error->message, (int) MIN (len, 2000), json);
      FUZZ_CHECK (!"the client sent a line that is not JSON");
    }
}

static gboolean
fake_send_line (gpointer    td,
                const char *json,
                gsize       len)
{
  FakeTransport *t = td;

  FUZZ_CHECK (!t->disconnected);
  FUZZ_CHECK (json != NULL && len > 0);
  check_json (json, len);
  t->lines++;
  return TRUE;
}

static gboolean
fake_send_encoded (gpointer  td,
                   GBytes   *frame)
{
  FakeTransport *t = td;
  gsize size;
  const guint8 *p = g_bytes_get_data (frame, &size);

  FUZZ_CHECK (!t->disconnected);
  FUZZ_CHECK (size > 0);
  t->frames++;

  if (t->encoding == CRIER_ENC_CF_WS || t->encoding == CRIER_ENC_UNI_WS)
    {
      CrierWsDecoder decoder;
      CrierWsEvent ev;
      gsize consumed;

      crier_ws_decoder_init (&decoder, FALSE, 0, 0);
      FUZZ_CHECK (crier_ws_decoder_feed (&decoder, p, size, &consumed, &ev) == CRIER_WS_EVENT_MESSAGE);
      FUZZ_CHECK (consumed == size);
      FUZZ_CHECK (ev.opcode == CRIER_WS_OP_TEXT);
      check_json ((const char *) ev.data, ev.len);
      crier_ws_decoder_clear (&decoder);
    }
  else
    {
      /* One HTTP/1.1 chunk: hex size, CRLF, data, CRLF. */
      const char *s = (const char *) p;
      char *end = NULL;
      guint64 n = g_ascii_strtoull (s, &end, 16);

      FUZZ_CHECK (end != s && end + 2 <= s + size && end[0] == '\r' && end[1] == '\n');
      FUZZ_CHECK ((gsize) (end - s) + 2 + n + 2 == size);
      FUZZ_CHECK (p[size - 2] == '\r' && p[size - 1] == '\n');
    }
  return TRUE;
}

static void
fake_send_ping (gpointer td)
{
  FakeTransport *t = td;

  FUZZ_CHECK (!t->disconnected);
  t->pings++;
}

static void
fake_disconnect (gpointer    td,
                 guint       code,
                 const char *reason)
{
  FakeTransport *t = td;

  FUZZ_CHECK (!t->disconnected);
  FUZZ_CHECK (code >= 3000 && code <= 4999);
  FUZZ_CHECK (reason != NULL);
  t->disconnected = TRUE;
  t->code = code;
}

static void
fake_set_deadline (gpointer td,
                   gint64   deadline_ms)
{
  FakeTransport *t = td;

  t->deadline = deadline_ms;
}

static const CrierCfTransport ws_vtable = {
  .name = "websocket",
  .encoding = CRIER_ENC_CF_WS,
  .send_line = fake_send_line,
  .send_encoded = fake_send_encoded,
  .send_ping = fake_send_ping,
  .disconnect = fake_disconnect,
  .set_deadline = fake_set_deadline,
};

static const CrierCfTransport stream_vtable = {
  .name = "http_stream",
  .encoding = CRIER_ENC_CF_STREAM,
  .send_line = fake_send_line,
  .send_encoded = fake_send_encoded,
  .send_ping = fake_send_ping,
  .disconnect = fake_disconnect,
  .set_deadline = fake_set_deadline,
};

static const CrierCfTransport uni_vtable = {
  .name = "uni_websocket",
  .encoding = CRIER_ENC_UNI_WS,
  .send_line = fake_send_line,
  .send_encoded = fake_send_encoded,
  .send_ping = fake_send_ping,
  .disconnect = fake_disconnect,
  .set_deadline = fake_set_deadline,
};

/* ---- set-up -------------------------------------------------------------- */

static const char * const settings[] = {
  "auth.allow_anonymous=true",
  ("auth.hmac_secret=" SECRET),
  "auth.max_connections_per_user=3",
  "limits.max_subscriptions=8",
  "websocket.pong_timeout=500ms",
  "websocket.ping_interval=1s",
  "websocket.stale_timeout=2s",
  "channels.history_size=5",
  "channels.history_ttl=10s",
  "channels.presence=true",
  "channels.join_leave=true",
  "channels.allow_publish=true",
  "channels.allow_history=true",
  "channels.allow_presence=true",
  /* ns: subscription tokens only, no history */
  "namespace.ns.require_sub_token=true",
  "namespace.ns.allow_publish=true",
  /* pos: everything forced */
  "namespace.pos.history_size=3",
  "namespace.pos.history_max_bytes=1KiB",
  "namespace.pos.force_recovery=true",
  "namespace.pos.force_positioning=true",
  "namespace.pos.force_join_leave=true",
  "namespace.pos.presence=true",
  "namespace.pos.allow_history=true",
  "namespace.pos.max_channel_length=16",
  "namespace.pos.channel_chars=a-z",
};

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  static const char claims[] =
    "{\"sub\":\"u1\",\"info\":{\"name\":\"fuzz\"},\"channels\":[\"chat\",\"pos:srv\"],"
    "\"expire_at\":4102444800}";

  fuzz_init ();

  config = crier_config_new ();
  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    {
      g_autoptr(GError) error = NULL;

      if (!crier_config_set (config, settings[i], &error))
        g_error ("%s: %s", settings[i], error->message);
    }

  keys = crier_jwt_keys_new ();
  crier_jwt_keys_set_hmac_secret (keys, (const guint8 *) SECRET, strlen (SECRET));
  connect_token = fuzz_jwt_hs (256, SECRET, header, strlen (header), claims, strlen (claims));
  return 0;
}

/* ---- one run ------------------------------------------------------------- */

typedef struct
{
  FakeTransport  t;
  CrierCfClient *client;
} Client;

static void
client_start (Client          *c,
              CrierCfContext  *ctx,
              const CrierCfTransport *vtable,
              gboolean         uni)
{
  memset (&c->t, 0, sizeof c->t);
  c->t.encoding = vtable->encoding;
  c->client = crier_cf_client_new (ctx, vtable, &c->t, uni, TRUE);
  crier_cf_client_set_peer (c->client, "127.0.0.1:9", "fuzz");
}

static void
client_feed (Client     *c,
             const char *text)
{
  crier_cf_client_feed (c->client, text, strlen (text));
}

static void
tick (CrierHub *hub,
      Client   *clients,
      guint     n_clients,
      gint64    step_ms)
{
  gint64 now = g_get_monotonic_time () / 1000 + step_ms;

  for (guint i = 0; i < n_clients; i++)
    if (clients[i].client != NULL)
      crier_cf_client_tick (clients[i].client, now);
  crier_hub_tick (hub, g_get_real_time () / 1000 + step_ms);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  CrierCfContext ctx = { 0 };
  Client clients[2] = { 0 };
  Client *c = &clients[0];
  Client *watcher = &clients[1];
  g_autofree char *text = NULL;
  const char *rest;
  guint8 flags;
  gint64 step = 0;

  if (size == 0)
    return 0;
  flags = data[0];
  text = fuzz_strndup (data + 1, size - 1);
  rest = text;

  ctx.hub = crier_hub_new (config);
  ctx.config = config;
  ctx.keys = keys;
  ctx.node = "fuzz";

  if (flags & FLAG_WATCHER)
    {
      client_start (watcher, &ctx, &ws_vtable, FALSE);
      client_feed (watcher,
                   "{\"id\":1,\"connect\":{}}\n"
                   "{\"id\":2,\"subscribe\":{\"channel\":\"chat\",\"join_leave\":true,"
                   "\"recoverable\":true,\"positioned\":true}}\n"
                   "{\"id\":3,\"subscribe\":{\"channel\":\"pos:a\"}}");
      FUZZ_CHECK (!watcher->t.disconnected);
    }

  if (flags & FLAG_UNI)
    {
      /* A unidirectional client takes one ConnectRequest and no command. */
      const char *nl = strchr (rest, '\n');
      gsize len = nl != NULL ? (gsize) (nl - rest) : strlen (rest);

      client_start (c, &ctx, &uni_vtable, TRUE);
      crier_cf_client_uni_connect (c->client, rest, len);
    }
  else
    {
      client_start (c, &ctx, (flags & FLAG_STREAM) ? &stream_vtable : &ws_vtable, FALSE);

      if (flags & FLAG_CONNECT)
        {
          g_autofree char *cmd = NULL;

          if (flags & FLAG_TOKEN)
            cmd = g_strdup_printf ("{\"id\":1,\"connect\":{\"token\":\"%s\",\"name\":\"fuzz\"}}", connect_token);
          else
            cmd = g_strdup ("{\"id\":1,\"connect\":{\"name\":\"fuzz\"}}");
          client_feed (c, cmd);
          FUZZ_CHECK (!c->t.disconnected);
        }

      if ((flags & (FLAG_CONNECT | FLAG_SUB_TOKEN)) == (FLAG_CONNECT | FLAG_SUB_TOKEN))
        {
          static const char header[] = "{\"alg\":\"HS256\"}";
          CrierSession *session = crier_cf_client_get_session (c->client);
          g_autofree char *claims = NULL;
          g_autofree char *token = NULL;
          g_autofree char *cmd = NULL;

          claims = g_strdup_printf ("{\"sub\":\"%s\",\"channel\":\"ns:room\",\"client\":\"%s\","
                                    "\"info\":{\"role\":\"fuzz\"}}",
                                    (flags & FLAG_TOKEN) ? "u1" : "", session->id);
          token = fuzz_jwt_hs (256, SECRET, header, strlen (header), claims, strlen (claims));
          cmd = g_strdup_printf ("{\"id\":2,\"subscribe\":{\"channel\":\"ns:room\",\"token\":\"%s\"}}", token);
          client_feed (c, cmd);
          FUZZ_CHECK (!c->t.disconnected);
        }

      if (flags & FLAG_LINE_BY_LINE)
        {
          while (*rest != '\0')
            {
              const char *nl = strchr (rest, '\n');
              gsize len = nl != NULL ? (gsize) (nl - rest) : strlen (rest);

              crier_cf_client_feed (c->client, rest, len);
              rest += len + (nl != NULL ? 1 : 0);
              if (flags & FLAG_TICK)
                tick (ctx.hub, clients, G_N_ELEMENTS (clients), step += 700);
            }
        }
      else
        {
          /* All of it, embedded NULs included (they end the text here). */
          crier_cf_client_feed (c->client, text, size - 1);
        }
    }

  if (flags & FLAG_TICK)
    {
      tick (ctx.hub, clients, G_N_ELEMENTS (clients), step += 1500);
      tick (ctx.hub, clients, G_N_ELEMENTS (clients), step += 60000);
    }

  {
    const CrierHubStats *stats = crier_hub_get_stats (ctx.hub);
    guint n = 0;

    for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
      if (clients[i].client != NULL && crier_cf_client_get_session (clients[i].client)->registered)
        n++;
    FUZZ_CHECK (stats->sessions == n);
  }

  for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
    g_clear_pointer (&clients[i].client, crier_cf_client_free);
  crier_hub_free (ctx.hub);
  return 0;
}
