/* test-hub.c: the hub and the memory broker, driven through fake sessions
 * that record what they are sent. */
#include "config.h"

#include "crier-hub.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "test-utils.h"

/* ---- fake sessions -------------------------------------------------------- */

typedef struct _Fake Fake;

struct _Fake
{
  CrierSession *session;
  CrierHub     *hub;
  GPtrArray    *frames;           /* GBytes* exactly as sent */
  GPtrArray    *log;              /* char*: "pub 3 {..}", "join <id>", "push {..}", ... */
  gboolean      gone;             /* removed by its own send */
  gboolean      remove_on_send;   /* evicted by its first send */
  Fake         *remove_other;     /* its first send removes that session */
  char         *publish_channel;  /* its first send publishes "2" here */
  guint         disconnect_code;
};

static char *
frame_payload (GBytes        *frame,
               CrierEncoding  enc)
{
  gsize len;
  const char *data = g_bytes_get_data (frame, &len);
  const char *p;
  const char *end = data + len;

  switch (enc)
    {
    case CRIER_ENC_CF_WS:
    case CRIER_ENC_UNI_WS:
    case CRIER_ENC_PLAIN_WS:
      {
        guint8 b1 = data[1] & 0x7f;
        gsize head = b1 < 126 ? 2 : b1 == 126 ? 4 : 10;

        g_assert_cmpuint ((guint8) data[0], ==, 0x81);
        return g_strndup (data + head, len - head);
      }
    case CRIER_ENC_CF_STREAM:
    case CRIER_ENC_UNI_STREAM:
    case CRIER_ENC_CF_SSE:
    case CRIER_ENC_UNI_SSE:
    case CRIER_ENC_PLAIN_SSE:
    case CRIER_ENC_N:
    default:
      p = memmem (data, len, "\r\n", 2);
      g_assert_nonnull (p);
      p += 2;
      g_assert_true (end[-2] == '\r' && end[-1] == '\n');
      end -= 2;
      if (g_str_has_prefix (p, "data: "))
        p += 6;
      while (end > p && end[-1] == '\n')
        end--;
      return g_strndup (p, end - p);
    }
}

static char *
node_compact (JsonNode *node)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();

  json_generator_set_root (gen, node);
  return json_generator_to_data (gen, NULL);
}

/* "pub OFFSET DATA", "join CLIENT", "leave CLIENT". */
static char *
describe (GBytes        *frame,
          CrierEncoding  enc)
{
  g_autofree char *payload = frame_payload (frame, enc);
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *push;

  g_assert_true (json_parser_load_from_data (parser, payload, -1, NULL));
  push = json_node_get_object (json_parser_get_root (parser));
  if (json_object_has_member (push, "push"))
    push = json_object_get_object_member (push, "push");

  if (json_object_has_member (push, "pub"))
    {
      JsonObject *pub = json_object_get_object_member (push, "pub");
      g_autofree char *data = node_compact (json_object_get_member (pub, "data"));

      return g_strdup_printf ("pub %" G_GINT64_FORMAT " %s",
                              json_object_get_int_member_with_default (pub, "offset", 0), data);
    }
  if (json_object_has_member (push, "join"))
    return g_strdup_printf ("join %s", json_object_get_string_member (
                              json_object_get_object_member (
                                json_object_get_object_member (push, "join"), "info"), "client"));
  if (json_object_has_member (push, "leave"))
    return g_strdup_printf ("leave %s", json_object_get_string_member (
                              json_object_get_object_member (
                                json_object_get_object_member (push, "leave"), "info"), "client"));
  g_assert_not_reached ();
}

static gboolean
fake_send_encoded (CrierSession *session,
                   GBytes       *frame)
{
  Fake *f = session->transport;

  if (f->gone)
    return FALSE;

  g_ptr_array_add (f->frames, g_bytes_ref (frame));
  if (session->encoding != CRIER_ENC_PLAIN_WS)
    g_ptr_array_add (f->log, describe (frame, session->encoding));

  if (f->publish_channel != NULL)
    {
      g_autofree char *channel = g_steal_pointer (&f->publish_channel);
      g_autoptr(GBytes) data = g_bytes_new_static ("2", 1);

      crier_hub_publish (f->hub, channel, data, NULL, NULL, NULL);
    }
  if (f->remove_other != NULL)
    {
      Fake *other = g_steal_pointer (&f->remove_other);

      other->gone = TRUE;
      crier_hub_remove_session (f->hub, other->session);
    }
  if (f->remove_on_send)
    {
      /* As a transport evicting a slow client from inside the send. */
      f->gone = TRUE;
      crier_hub_remove_session (f->hub, session);
      return FALSE;
    }
  return TRUE;
}

static gboolean
fake_send_push (CrierSession *session,
                const char   *push_json)
{
  Fake *f = session->transport;

  if (f->gone)
    return FALSE;
  g_ptr_array_add (f->log, g_strdup_printf ("push %s", push_json));
  return TRUE;
}

static void
fake_disconnect (CrierSession *session,
                 guint         code,
                 const char   *reason)
{
  Fake *f = session->transport;

  f->disconnect_code = code;
  g_ptr_array_add (f->log, g_strdup_printf ("disconnect %u %s", code, reason));
  /* Transports remove the session right away. */
  f->gone = TRUE;
  crier_hub_remove_session (f->hub, session);
}

static const CrierSessionClass fake_class = {
  .transport = "fake",
  .send_encoded = fake_send_encoded,
  .send_push = fake_send_push,
  .disconnect = fake_disconnect,
};

static Fake *
fake_new (CrierHub      *hub,
          const char    *user,
          CrierEncoding  enc)
{
  Fake *f = g_new0 (Fake, 1);

  f->hub = hub;
  f->session = crier_session_new (&fake_class, f, enc);
  crier_session_set_identity (f->session, user, NULL);
  f->frames = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  f->log = g_ptr_array_new_with_free_func (g_free);
  crier_hub_add_session (hub, f->session);
  return f;
}

static void
fake_free (Fake *f)
{
  crier_hub_remove_session (f->hub, f->session);
  crier_session_free (f->session);
  g_ptr_array_unref (f->frames);
  g_ptr_array_unref (f->log);
  g_free (f->publish_channel);
  g_free (f);
}

/* Asserts the log is exactly the given NULL-terminated entries, then
 * clears it. */
static void
assert_log (Fake *f,
            ...)
{
  va_list ap;
  guint i = 0;
  const char *expected;

  va_start (ap, f);
  while ((expected = va_arg (ap, const char *)) != NULL)
    {
      if (i >= f->log->len)
        g_error ("log entry %u: missing, expected '%s'", i, expected);
      if (strcmp (g_ptr_array_index (f->log, i), expected) != 0)
        g_error ("log entry %u: '%s', expected '%s'", i,
                 (char *) g_ptr_array_index (f->log, i), expected);
      i++;
    }
  va_end (ap);
  if (i != f->log->len)
    g_error ("log has %u entries, expected %u; next: '%s'", f->log->len, i,
             (char *) g_ptr_array_index (f->log, i));
  g_ptr_array_set_size (f->log, 0);
}

/* ---- fixture -------------------------------------------------------------- */

typedef struct
{
  CrierConfig *config;
  CrierHub    *hub;
  gint64       now_ms;
  GPtrArray   *fakes;
} Fixture;

static const char * const namespaces[] = {
  "namespace.h.history_size=5",          /* small ring, 60 s TTL */
  "namespace.h.history_ttl=60s",
  "namespace.q.history_size=20",         /* history queries */
  "namespace.r.history_size=1000",       /* recoverable by force */
  "namespace.r.force_recovery=true",
  "namespace.b.history_size=100",        /* byte-bounded */
  "namespace.b.history_max_bytes=1KiB",
  "namespace.pos.history_size=10",       /* positioned by force */
  "namespace.pos.force_positioning=true",
  "namespace.p.presence=true",           /* presence, join/leave on request */
  "namespace.p.join_leave=true",
  "namespace.fj.force_join_leave=true",  /* join/leave for everyone */
  "limits.max_subscriptions=8",
};

static gint64
fixture_clock (gpointer user_data)
{
  return ((Fixture *) user_data)->now_ms;
}

static void
fixture_setup (Fixture       *fx,
               gconstpointer  data)
{
  fx->config = crier_config_new ();
  for (guint i = 0; i < G_N_ELEMENTS (namespaces); i++)
    {
      g_autoptr(GError) error = NULL;

      crier_config_set (fx->config, namespaces[i], &error);
      g_assert_no_error (error);
    }
  fx->hub = crier_hub_new (fx->config);
  fx->now_ms = G_GINT64_CONSTANT (1700000000000);
  crier_broker_memory_set_clock (crier_hub_get_broker (fx->hub), fixture_clock, fx);
  fx->fakes = g_ptr_array_new_with_free_func ((GDestroyNotify) fake_free);
}

static void
fixture_teardown (Fixture       *fx,
                  gconstpointer  data)
{
  const CrierHubStats *stats;

  g_ptr_array_unref (fx->fakes);
  stats = crier_hub_get_stats (fx->hub);
  g_assert_cmpuint (stats->sessions, ==, 0);
  g_assert_cmpuint (stats->subscriptions, ==, 0);
  g_assert_cmpuint (stats->channels, ==, 0);
  crier_hub_free (fx->hub);
  crier_config_free (fx->config);
}

static Fake *
add_fake (Fixture       *fx,
          const char    *user,
          CrierEncoding  enc)
{
  Fake *f = fake_new (fx->hub, user, enc);

  g_ptr_array_add (fx->fakes, f);
  return f;
}

/* ---- helpers -------------------------------------------------------------- */

typedef struct
{
  gboolean  done;
  GError   *error;
  gboolean  positioned;
  gboolean  recoverable;
  gboolean  was_recovering;
  gboolean  recovered;
  guint64   offset;
  char     *epoch;
  GString  *pubs;        /* "3,4,5" */
} Reply;

static void
reply_clear (Reply *r)
{
  g_clear_error (&r->error);
  g_clear_pointer (&r->epoch, g_free);
  if (r->pubs != NULL)
    g_string_free (r->pubs, TRUE);
  memset (r, 0, sizeof *r);
}

static void
subscribe_cb (CrierSession               *session,
              const CrierSubscribeResult *result,
              const GError               *error,
              gpointer                    user_data)
{
  Reply *r = user_data;
  Fake *f = session->transport;

  g_assert_false (r->done);
  r->done = TRUE;
  if (error != NULL)
    {
      r->error = g_error_copy (error);
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_ptr_array_add (f->log, g_strdup ("cancelled"));
      else
        g_ptr_array_add (f->log, g_strdup_printf ("error %d", error->code));
      return;
    }

  g_assert_nonnull (result->publications);
  g_assert_true (result->subscription->session == session);
  r->positioned = result->positioned;
  r->recoverable = result->recoverable;
  r->was_recovering = result->was_recovering;
  r->recovered = result->recovered;
  r->offset = result->offset;
  r->epoch = g_strdup (result->epoch);
  r->pubs = g_string_new (NULL);
  for (guint i = 0; i < result->publications->len; i++)
    {
      CrierPublication *pub = g_ptr_array_index (result->publications, i);

      g_string_append_printf (r->pubs, "%s%" G_GUINT64_FORMAT, i > 0 ? "," : "", pub->offset);
    }
  g_ptr_array_add (f->log, g_strdup_printf ("reply off=%" G_GUINT64_FORMAT " rec=%d pubs=%s",
                                            r->offset, r->recovered, r->pubs->str));
}

static void
subscribe_req (Fake                        *f,
               const CrierSubscribeRequest *req,
               Reply                       *r)
{
  crier_hub_subscribe (f->hub, f->session, req, subscribe_cb, r);
}

/* Subscribes synchronously (memory broker) and clears the reply from the
 * log; returns the error code, 0 on success. */
static int
subscribe_simple (Fake       *f,
                  const char *channel,
                  gboolean    join_leave)
{
  CrierSubscribeRequest req = { .channel = channel, .want_join_leave = join_leave };
  Reply r = { 0 };
  guint at = f->log->len;
  int code;

  subscribe_req (f, &req, &r);
  g_assert_true (r.done);
  code = r.error != NULL ? r.error->code : 0;
  /* The reply is the first thing the session saw (its join may follow). */
  g_assert_cmpuint (f->log->len, >, at);
  g_assert_true (g_str_has_prefix (g_ptr_array_index (f->log, at), "reply") ||
                 g_str_has_prefix (g_ptr_array_index (f->log, at), "error"));
  g_ptr_array_remove_index (f->log, at);
  reply_clear (&r);
  return code;
}

typedef struct
{
  CrierPublication *pub;
  GError           *error;
} Published;

static void
publish_cb (CrierPublication *pub,
            const GError     *error,
            gpointer          user_data)
{
  Published *p = user_data;

  if (pub != NULL)
    p->pub = crier_publication_ref (pub);
  if (error != NULL)
    p->error = g_error_copy (error);
}

/* Publishes @json; returns the publication (caller unrefs). */
static CrierPublication *
publish (CrierHub   *hub,
         const char *channel,
         const char *json)
{
  g_autoptr(GBytes) data = g_bytes_new (json, strlen (json));
  Published p = { 0 };

  crier_hub_publish (hub, channel, data, NULL, publish_cb, &p);
  g_assert_no_error (p.error);
  g_assert_nonnull (p.pub);
  return p.pub;
}

static void
publish_n (CrierHub   *hub,
           const char *channel,
           guint       n)
{
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *json = g_strdup_printf ("%u", i);

      crier_publication_unref (publish (hub, channel, json));
    }
}

typedef struct
{
  gboolean  done;
  GError   *error;
  guint64   offset;
  char     *epoch;
  GString  *offsets;     /* "4,5,6" */
  gsize     bytes;       /* sum of pub->size */
} History;

static void
history_cb (const CrierHistoryResult *result,
            const GError             *error,
            gpointer                  user_data)
{
  History *h = user_data;

  h->done = TRUE;
  h->offsets = g_string_new (NULL);
  if (error != NULL)
    {
      h->error = g_error_copy (error);
      return;
    }
  h->offset = result->offset;
  h->epoch = g_strdup (result->epoch);
  for (guint i = 0; i < result->publications->len; i++)
    {
      CrierPublication *pub = g_ptr_array_index (result->publications, i);

      g_string_append_printf (h->offsets, "%s%" G_GUINT64_FORMAT, i > 0 ? "," : "", pub->offset);
      h->bytes += pub->size;
    }
}

static void
history_clear (History *h)
{
  g_clear_error (&h->error);
  g_clear_pointer (&h->epoch, g_free);
  if (h->offsets != NULL)
    g_string_free (h->offsets, TRUE);
  memset (h, 0, sizeof *h);
}

/* History of @channel as "offsets|top" ("4,5|5"), or "error N". */
static char *
history (CrierHub   *hub,
         const char *channel,
         gboolean    has_since,
         guint64     since,
         gint64      limit,
         gboolean    reverse)
{
  CrierHistoryQuery q = { has_since, since, limit, reverse };
  History h = { 0 };
  char *out;

  crier_hub_history (hub, channel, &q, history_cb, &h);
  g_assert_true (h.done);
  if (h.error != NULL)
    out = g_strdup_printf ("error %d", h.error->code);
  else
    out = g_strdup_printf ("%s|%" G_GUINT64_FORMAT, h.offsets->str, h.offset);
  history_clear (&h);
  return out;
}

#define assert_history(hub, channel, has_since, since, limit, reverse, expected) \
  G_STMT_START {                                                                \
    g_autofree char *_h = history (hub, channel, has_since, since, limit, reverse); \
    g_assert_cmpstr (_h, ==, expected);                                         \
  } G_STMT_END

static char *
current_epoch (CrierHub   *hub,
               const char *channel)
{
  CrierHistoryQuery q = { 0 };
  History h = { 0 };
  char *epoch;

  crier_hub_history (hub, channel, &q, history_cb, &h);
  g_assert_no_error (h.error);
  epoch = g_steal_pointer (&h.epoch);
  history_clear (&h);
  return epoch;
}

/* ---- fan-out -------------------------------------------------------------- */

static void
test_fanout_shared_frame (Fixture       *fx,
                          gconstpointer  data)
{
  g_autoptr(CrierPublication) pub = NULL;
  const CrierHubStats *stats;
  guint n_ws = 100, n_sse = 20;

  for (guint i = 0; i < n_ws + n_sse; i++)
    {
      Fake *f = add_fake (fx, "u", i < n_ws ? CRIER_ENC_CF_WS : CRIER_ENC_UNI_SSE);

      g_assert_cmpint (subscribe_simple (f, "news", FALSE), ==, 0);
    }
  g_assert_cmpuint (crier_hub_count_subscribers (fx->hub, "news"), ==, n_ws + n_sse);

  pub = publish (fx->hub, "news", "{\"text\":\"hello\"}");
  g_assert_cmpuint (pub->offset, ==, 0);
  g_assert_null (pub->epoch);

  for (guint i = 0; i < fx->fakes->len; i++)
    {
      Fake *f = g_ptr_array_index (fx->fakes, i);
      CrierEncoding enc = i < n_ws ? CRIER_ENC_CF_WS : CRIER_ENC_UNI_SSE;

      g_assert_cmpuint (f->frames->len, ==, 1);
      /* One buffer for everyone on this wire form: no per-subscriber copy. */
      g_assert_true (g_ptr_array_index (f->frames, 0) == crier_publication_encode (pub, enc));
      assert_log (f, "pub 0 {\"text\":\"hello\"}", NULL);
    }

  stats = crier_hub_get_stats (fx->hub);
  g_assert_cmpuint (stats->publishes, ==, 1);
  g_assert_cmpuint (stats->deliveries, ==, n_ws + n_sse);
  g_assert_cmpuint (stats->latency_count, ==, n_ws + n_sse);
  g_assert_cmpuint (stats->channels, ==, 1);
  g_assert_cmpuint (stats->subscriptions, ==, n_ws + n_sse);
  g_assert_cmpuint (stats->sessions, ==, n_ws + n_sse);
}

static void
test_fanout_no_subscribers (Fixture       *fx,
                            gconstpointer  data)
{
  g_autoptr(CrierPublication) pub = publish (fx->hub, "q:nobody", "1");
  g_autoptr(GPtrArray) channels = crier_hub_list_channels (fx->hub);

  /* History is kept whether or not anyone listens here. */
  g_assert_cmpuint (pub->offset, ==, 1);
  g_assert_cmpuint (channels->len, ==, 0);
  assert_history (fx->hub, "q:nobody", FALSE, 0, -1, FALSE, "1|1");
}

static void
test_fanout_remove_during_send (Fixture       *fx,
                                gconstpointer  data)
{
  Fake *f[6];
  Fake *solo;
  g_autoptr(GPtrArray) channels = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (f); i++)
    {
      f[i] = add_fake (fx, "u", CRIER_ENC_CF_STREAM);
      g_assert_cmpint (subscribe_simple (f[i], "news", FALSE), ==, 0);
    }
  f[1]->remove_on_send = TRUE;      /* evicted by its own send */
  f[3]->remove_other = f[4];        /* a send that removes someone later in line */
  f[5]->remove_other = f[0];        /* ... and someone already served */

  crier_publication_unref (publish (fx->hub, "news", "1"));

  assert_log (f[0], "pub 0 1", NULL);
  assert_log (f[1], "pub 0 1", NULL);
  assert_log (f[2], "pub 0 1", NULL);
  assert_log (f[3], "pub 0 1", NULL);
  assert_log (f[4], NULL);
  assert_log (f[5], "pub 0 1", NULL);
  g_assert_cmpuint (crier_hub_count_subscribers (fx->hub, "news"), ==, 3);
  g_assert_cmpuint (crier_hub_get_stats (fx->hub)->dropped_deliveries, ==, 1);

  crier_publication_unref (publish (fx->hub, "news", "2"));
  assert_log (f[2], "pub 0 2", NULL);
  assert_log (f[3], "pub 0 2", NULL);
  assert_log (f[5], "pub 0 2", NULL);
  assert_log (f[0], NULL);

  /* The last subscriber leaving during the fan-out drops the channel
   * afterwards. */
  solo = add_fake (fx, "v", CRIER_ENC_CF_WS);
  solo->remove_on_send = TRUE;
  g_assert_cmpint (subscribe_simple (solo, "solo", FALSE), ==, 0);
  crier_publication_unref (publish (fx->hub, "solo", "1"));
  g_assert_cmpuint (crier_hub_count_subscribers (fx->hub, "solo"), ==, 0);
  channels = crier_hub_list_channels (fx->hub);
  g_assert_cmpuint (channels->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (channels, 0), ==, "news");
}

static void
test_fanout_reentrant_publish (Fixture       *fx,
                               gconstpointer  data)
{
  Fake *f[3];

  for (guint i = 0; i < G_N_ELEMENTS (f); i++)
    {
      f[i] = add_fake (fx, "u", CRIER_ENC_CF_WS);
      g_assert_cmpint (subscribe_simple (f[i], "pos:x", FALSE), ==, 0);
    }
  /* The first receiver's send publishes again into the same channel:
   * everybody still sees 1 before 2, and no false gap. */
  f[0]->publish_channel = g_strdup ("pos:x");
  crier_publication_unref (publish (fx->hub, "pos:x", "1"));

  for (guint i = 0; i < G_N_ELEMENTS (f); i++)
    assert_log (f[i], "pub 1 1", "pub 2 2", NULL);
  g_assert_cmpuint (crier_hub_get_stats (fx->hub)->insufficient_state, ==, 0);
}

/* ---- join / leave ----------------------------------------------------------- */

static void
test_join_leave (Fixture       *fx,
                 gconstpointer  data)
{
  Fake *a = add_fake (fx, "a", CRIER_ENC_CF_WS);
  Fake *b = add_fake (fx, "b", CRIER_ENC_CF_WS);
  Fake *c = add_fake (fx, "c", CRIER_ENC_UNI_STREAM);
  Fake *d = add_fake (fx, "d", CRIER_ENC_CF_SSE);
  Fake *e = add_fake (fx, "e", CRIER_ENC_CF_WS);
  Fake *plain = add_fake (fx, "p", CRIER_ENC_PLAIN_WS);
  g_autofree char *join_a = g_strdup_printf ("join %s", a->session->id);
  g_autofree char *join_b = g_strdup_printf ("join %s", b->session->id);
  g_autofree char *join_c = g_strdup_printf ("join %s", c->session->id);
  g_autofree char *leave_b = g_strdup_printf ("leave %s", b->session->id);
  g_autofree char *join_d = g_strdup_printf ("join %s", d->session->id);
  g_autofree char *join_e = g_strdup_printf ("join %s", e->session->id);
  g_autofree char *leave_d = g_strdup_printf ("leave %s", d->session->id);
  g_autofree char *join_plain = g_strdup_printf ("join %s", plain->session->id);

  /* Asked for: the joiner gets its own join too. */
  g_assert_cmpint (subscribe_simple (a, "p:room", TRUE), ==, 0);
  assert_log (a, join_a, NULL);
  g_assert_cmpint (subscribe_simple (b, "p:room", FALSE), ==, 0);
  assert_log (a, join_b, NULL);
  assert_log (b, NULL);
  g_assert_cmpint (subscribe_simple (c, "p:room", TRUE), ==, 0);
  assert_log (a, join_c, NULL);
  assert_log (c, join_c, NULL);
  assert_log (b, NULL);

  g_assert_true (crier_hub_unsubscribe (fx->hub, b->session, "p:room"));
  assert_log (a, leave_b, NULL);
  assert_log (c, leave_b, NULL);
  assert_log (b, NULL);
  g_assert_false (crier_hub_unsubscribe (fx->hub, b->session, "p:room"));

  /* Forced: everybody, asked or not; the plain dialect has no such push. */
  g_assert_cmpint (subscribe_simple (d, "fj:room", FALSE), ==, 0);
  g_assert_cmpint (subscribe_simple (plain, "fj:room", FALSE), ==, 0);
  g_assert_cmpint (subscribe_simple (e, "fj:room", FALSE), ==, 0);
  assert_log (d, join_d, join_plain, join_e, NULL);
  assert_log (e, join_e, NULL);
  g_assert_cmpuint (plain->frames->len, ==, 0);
  g_assert_true (crier_hub_unsubscribe (fx->hub, d->session, "fj:room"));
  assert_log (e, leave_d, NULL);
  g_assert_cmpuint (plain->frames->len, ==, 0);

  /* Off: no events at all. */
  {
    guint64 events = crier_hub_get_stats (fx->hub)->join_leave_events;

    g_assert_cmpint (subscribe_simple (a, "news", TRUE), ==, 0);
    g_assert_cmpint (subscribe_simple (e, "news", TRUE), ==, 0);
    g_assert_true (crier_hub_unsubscribe (fx->hub, a->session, "news"));
    assert_log (a, NULL);
    assert_log (e, NULL);
    g_assert_cmpuint (crier_hub_get_stats (fx->hub)->join_leave_events, ==, events);
  }
}

/* ---- history ---------------------------------------------------------------- */

static void
test_history_ring (Fixture       *fx,
                   gconstpointer  data)
{
  publish_n (fx->hub, "h:ring", 12);

  /* Size 5: the ring wrapped twice, the top went on. */
  assert_history (fx->hub, "h:ring", FALSE, 0, -1, FALSE, "8,9,10,11,12|12");
  assert_history (fx->hub, "h:ring", FALSE, 0, 2, TRUE, "12,11|12");
  assert_history (fx->hub, "h:ring", TRUE, 9, -1, FALSE, "10,11,12|12");
  /* Asking for evicted offsets gives what is left (recovery sees the gap). */
  assert_history (fx->hub, "h:ring", TRUE, 2, -1, FALSE, "8,9,10,11,12|12");
  assert_history (fx->hub, "h:ring", TRUE, 10, -1, TRUE, "9,8|12");
}

static void
test_history_query (Fixture       *fx,
                    gconstpointer  data)
{
  g_autofree char *epoch = NULL;

  publish_n (fx->hub, "q:x", 10);
  epoch = current_epoch (fx->hub, "q:x");
  g_assert_cmpuint (strlen (epoch), ==, 8);

  assert_history (fx->hub, "q:x", FALSE, 0, 0, FALSE, "|10");          /* position only */
  assert_history (fx->hub, "q:x", FALSE, 0, -1, FALSE, "1,2,3,4,5,6,7,8,9,10|10");
  assert_history (fx->hub, "q:x", FALSE, 0, 3, FALSE, "1,2,3|10");
  assert_history (fx->hub, "q:x", FALSE, 0, 3, TRUE, "10,9,8|10");
  assert_history (fx->hub, "q:x", FALSE, 0, -1, TRUE, "10,9,8,7,6,5,4,3,2,1|10");
  assert_history (fx->hub, "q:x", TRUE, 3, 2, FALSE, "4,5|10");
  assert_history (fx->hub, "q:x", TRUE, 3, -1, FALSE, "4,5,6,7,8,9,10|10");
  assert_history (fx->hub, "q:x", TRUE, 0, 2, FALSE, "1,2|10");
  assert_history (fx->hub, "q:x", TRUE, 3, 0, FALSE, "|10");
  assert_history (fx->hub, "q:x", TRUE, 10, -1, FALSE, "|10");
  assert_history (fx->hub, "q:x", TRUE, 15, -1, FALSE, "|10");
  assert_history (fx->hub, "q:x", TRUE, 5, 2, TRUE, "4,3|10");
  assert_history (fx->hub, "q:x", TRUE, 5, -1, TRUE, "4,3,2,1|10");
  assert_history (fx->hub, "q:x", TRUE, 1, -1, TRUE, "|10");
  assert_history (fx->hub, "q:x", TRUE, 50, 2, TRUE, "10,9|10");
  assert_history (fx->hub, "q:x", TRUE, 0, -1, TRUE, "error 107");

  /* A stream that never had a publication: position 0, and an epoch that
   * the first publication keeps. */
  assert_history (fx->hub, "q:empty", FALSE, 0, -1, FALSE, "|0");
  {
    g_autofree char *fresh = current_epoch (fx->hub, "q:empty");
    g_autofree char *again = current_epoch (fx->hub, "q:empty");
    g_autoptr(CrierPublication) pub = publish (fx->hub, "q:empty", "1");

    g_assert_cmpuint (strlen (fresh), ==, 8);
    g_assert_cmpstr (fresh, ==, again);
    g_assert_cmpuint (pub->offset, ==, 1);
    g_assert_cmpstr (pub->epoch, ==, fresh);
  }

  /* Removing history keeps the position. */
  g_assert_true (crier_hub_remove_history (fx->hub, "q:x", NULL));
  assert_history (fx->hub, "q:x", FALSE, 0, -1, FALSE, "|10");
  {
    g_autofree char *kept = current_epoch (fx->hub, "q:x");
    g_autoptr(CrierPublication) pub = publish (fx->hub, "q:x", "11");

    g_assert_cmpstr (kept, ==, epoch);
    g_assert_cmpuint (pub->offset, ==, 11);
    g_assert_cmpstr (pub->epoch, ==, epoch);
  }
}

static void
test_history_ttl (Fixture       *fx,
                  gconstpointer  data)
{
  CrierBroker *broker = crier_hub_get_broker (fx->hub);
  g_autofree char *epoch = NULL;
  g_autofree char *epoch2 = NULL;
  g_autoptr(CrierPublication) pub = NULL;

  publish_n (fx->hub, "h:ttl", 3);
  epoch = current_epoch (fx->hub, "h:ttl");
  fx->now_ms += 30 * 1000;
  publish_n (fx->hub, "h:ttl", 2);
  g_assert_cmpint (broker->vtable->memory_bytes (broker), >, 0);

  /* 61 s after the first three: they expired (lazily, on access). */
  fx->now_ms += 31 * 1000;
  assert_history (fx->hub, "h:ttl", FALSE, 0, -1, FALSE, "4,5|5");
  fx->now_ms += 30 * 1000;
  assert_history (fx->hub, "h:ttl", FALSE, 0, -1, FALSE, "|5");
  g_assert_cmpint (broker->vtable->memory_bytes (broker), ==, 0);
  {
    g_autofree char *same = current_epoch (fx->hub, "h:ttl");

    g_assert_cmpstr (same, ==, epoch);
  }

  /* Expiry in tick, without any access. */
  publish_n (fx->hub, "h:ttl", 1);
  g_assert_cmpint (broker->vtable->memory_bytes (broker), >, 0);
  fx->now_ms += 61 * 1000;
  crier_hub_tick (fx->hub, fx->now_ms);
  g_assert_cmpint (broker->vtable->memory_bytes (broker), ==, 0);

  /* After the stream meta TTL (30 days) the position is forgotten and the
   * next publication starts a new epoch. */
  fx->now_ms += G_GINT64_CONSTANT (31) * 24 * 3600 * 1000;
  crier_hub_tick (fx->hub, fx->now_ms);
  assert_history (fx->hub, "h:ttl", FALSE, 0, -1, FALSE, "|0");
  pub = publish (fx->hub, "h:ttl", "again");
  g_assert_cmpuint (pub->offset, ==, 1);
  epoch2 = current_epoch (fx->hub, "h:ttl");
  g_assert_cmpstr (epoch2, !=, epoch);
}

static void
test_history_empty_stream (Fixture       *fx,
                           gconstpointer  data)
{
  Fake *a = add_fake (fx, "a", CRIER_ENC_CF_WS);
  CrierSubscribeRequest req = { .channel = "h:watched", .want_positioned = TRUE };
  Reply r = { 0 };
  g_autofree char *idle = current_epoch (fx->hub, "h:idle");
  g_autofree char *idle2 = NULL;
  g_autoptr(CrierPublication) pub = NULL;

  /* Nobody here and nothing published: forgotten after the history TTL. */
  fx->now_ms += 61 * 1000;
  crier_hub_tick (fx->hub, fx->now_ms);
  idle2 = current_epoch (fx->hub, "h:idle");
  g_assert_cmpstr (idle2, !=, idle);

  /* Kept while subscribed, so the subscriber's epoch stays right. */
  subscribe_req (a, &req, &r);
  g_assert_true (r.positioned);
  g_assert_cmpuint (strlen (r.epoch), ==, 8);
  fx->now_ms += 3600 * 1000;
  crier_hub_tick (fx->hub, fx->now_ms);
  pub = publish (fx->hub, "h:watched", "1");
  g_assert_cmpstr (pub->epoch, ==, r.epoch);
  assert_log (a, "reply off=0 rec=0 pubs=", "pub 1 1", NULL);
  g_assert_cmpuint (crier_hub_get_stats (fx->hub)->insufficient_state, ==, 0);
  reply_clear (&r);
}

static void
test_history_bytes (Fixture       *fx,
                    gconstpointer  data)
{
  CrierBroker *broker = crier_hub_get_broker (fx->hub);
  g_autoptr(GString) payload = g_string_new ("\"");
  CrierHistoryQuery q = { .limit = -1 };
  History h = { 0 };
  gsize one;

  while (payload->len < 200)
    g_string_append_c (payload, 'x');
  g_string_append_c (payload, '"');
  {
    g_autoptr(CrierPublication) pub = publish (fx->hub, "b:x", payload->str);

    one = pub->size;
  }
  g_assert_cmpuint (one, >, 200);
  for (guint i = 1; i < 10; i++)
    crier_publication_unref (publish (fx->hub, "b:x", payload->str));

  crier_hub_history (fx->hub, "b:x", &q, history_cb, &h);
  g_assert_no_error (h.error);
  /* As many of the newest as fit in 1 KiB, and no more. */
  g_assert_cmpuint (h.bytes, <=, 1024);
  g_assert_cmpuint (h.bytes + one, >, 1024);
  g_assert_cmpuint (h.bytes, ==, (1024 / one) * one);
  g_assert_cmpint (broker->vtable->memory_bytes (broker), ==, (gint64) h.bytes);
  g_assert_true (g_str_has_suffix (h.offsets->str, ",10"));
  g_assert_cmpuint (h.offset, ==, 10);
  history_clear (&h);
}

static void
test_history_epoch_reset (Fixture       *fx,
                          gconstpointer  data)
{
  Fake *a = add_fake (fx, "a", CRIER_ENC_CF_WS);
  CrierSubscribeRequest req = { .channel = "q:reset", .want_positioned = TRUE };
  Reply r = { 0 };
  g_autofree char *epoch = NULL;
  g_autofree char *epoch2 = NULL;
  g_autoptr(CrierPublication) pub = NULL;

  publish_n (fx->hub, "q:reset", 2);
  epoch = current_epoch (fx->hub, "q:reset");
  subscribe_req (a, &req, &r);
  g_assert_true (r.positioned);
  g_assert_false (r.recoverable);
  g_assert_cmpuint (r.offset, ==, 2);
  g_assert_cmpstr (r.epoch, ==, epoch);
  assert_log (a, "reply off=2 rec=0 pubs=", NULL);

  /* As after a restart of the broker: a new epoch, offsets from 1. */
  crier_broker_memory_reset_stream (crier_hub_get_broker (fx->hub), "q:reset");
  pub = publish (fx->hub, "q:reset", "1");
  g_assert_cmpuint (pub->offset, ==, 1);
  epoch2 = current_epoch (fx->hub, "q:reset");
  g_assert_cmpstr (epoch2, !=, epoch);
  g_assert_cmpstr (pub->epoch, ==, epoch2);
  assert_history (fx->hub, "q:reset", FALSE, 0, -1, FALSE, "1|1");

  /* The positioned subscriber must not take offset 1 for a duplicate. */
  assert_log (a, "push {\"channel\":\"q:reset\",\"unsubscribe\":{\"code\":2500,"
                 "\"reason\":\"insufficient state\"}}", NULL);
  g_assert_cmpuint (crier_hub_count_subscribers (fx->hub, "q:reset"), ==, 0);
  reply_clear (&r);
}

/* ---- recovery --------------------------------------------------------------- */

static void
test_recovery_success (Fixture       *fx,
                       gconstpointer  data)
{
  Fake *a = add_fake (fx, "a", CRIER_ENC_CF_WS);
  Fake *b = add_fake (fx, "b", CRIER_ENC_CF_WS);
  Fake *c = add_fake (fx, "c", CRIER_ENC_CF_WS);
  g_autofree char *epoch = NULL;
  CrierSubscribeRequest req = { .channel = "r:x", .recover = TRUE, .offset = 2 };
  Reply r = { 0 };

  publish_n (fx->hub, "r:x", 5);
  epoch = current_epoch (fx->hub, "r:x");
  req.epoch = epoch;

  subscribe_req (a, &req, &r);
  g_assert_no_error (r.error);
  g_assert_true (r.positioned && r.recoverable && r.was_recovering && r.recovered);
  g_assert_cmpuint (r.offset, ==, 2);   /* the client's own offset */
  g_assert_cmpstr (r.epoch, ==, epoch);
  g_assert_cmpstr (r.pubs->str, ==, "3,4,5");
  assert_log (a, "reply off=2 rec=1 pubs=3,4,5", NULL);
  reply_clear (&r);

  /* Nothing missed. */
  req.offset = 5;
  subscribe_req (b, &req, &r);
  g_assert_true (r.recovered);
  g_assert_cmpuint (r.offset, ==, 5);
  g_assert_cmpstr (r.pubs->str, ==, "");
  reply_clear (&r);

  /* No epoch known to the client: accepted. */
  req.offset = 4;
  req.epoch = NULL;
  subscribe_req (c, &req, &r);
  g_assert_true (r.recovered);
  g_assert_cmpstr (r.pubs->str, ==, "5");
  reply_clear (&r);

  crier_publication_unref (publish (fx->hub, "r:x", "6"));
  assert_log (a, "pub 6 6", NULL);
  assert_log (b, "reply off=5 rec=1 pubs=", "pub 6 6", NULL);
  assert_log (c, "reply off=4 rec=1 pubs=5", "pub 6 6", NULL);
}

static void
test_recovery_failure (Fixture       *fx,
                       gconstpointer  data)
{
  Fake *f[4];
  g_autofree char *epoch = NULL;
  CrierSubscribeRequest req = { .recover = TRUE, .want_recoverable = TRUE,
                                .want_positioned = TRUE };
  Reply r = { 0 };

  for (guint i = 0; i < G_N_ELEMENTS (f); i++)
    f[i] = add_fake (fx, "u", CRIER_ENC_CF_WS);

  /* Evicted: the ring of 5 holds 6..10, the client had 2. */
  publish_n (fx->hub, "h:x", 10);
  epoch = current_epoch (fx->hub, "h:x");
  req.channel = "h:x";
  req.offset = 2;
  req.epoch = epoch;
  subscribe_req (f[0], &req, &r);
  g_assert_true (r.was_recovering && r.recoverable);
  g_assert_false (r.recovered);
  g_assert_cmpuint (r.offset, ==, 10);
  g_assert_cmpstr (r.epoch, ==, epoch);
  g_assert_cmpstr (r.pubs->str, ==, "");
  reply_clear (&r);

  /* Another epoch. */
  req.offset = 8;
  req.epoch = "0badc0de";
  subscribe_req (f[1], &req, &r);
  g_assert_true (r.was_recovering);
  g_assert_false (r.recovered);
  g_assert_cmpuint (r.offset, ==, 10);
  reply_clear (&r);

  /* The client claims to be ahead of the stream. */
  req.offset = 11;
  req.epoch = epoch;
  subscribe_req (f[2], &req, &r);
  g_assert_false (r.recovered);
  g_assert_cmpuint (r.offset, ==, 10);
  reply_clear (&r);

  /* Recovery asked where the namespace keeps no history: a plain
   * subscription. */
  req.channel = "news";
  subscribe_req (f[3], &req, &r);
  g_assert_false (r.was_recovering || r.recovered || r.positioned || r.recoverable);
  g_assert_cmpuint (r.offset, ==, 0);
  reply_clear (&r);

  /* They all continue from the top. */
  crier_publication_unref (publish (fx->hub, "h:x", "11"));
  for (guint i = 0; i < 3; i++)
    {
      g_assert_cmpuint (f[i]->log->len, ==, 2);
      g_assert_cmpstr (g_ptr_array_index (f[i]->log, 1), ==, "pub 11 11");
    }
  g_assert_cmpuint (crier_hub_get_stats (fx->hub)->insufficient_state, ==, 0);
}

static void
test_recovery_too_many (Fixture       *fx,
                        gconstpointer  data)
{
  Fake *a = add_fake (fx, "a", CRIER_ENC_CF_WS);
  Fake *b = add_fake (fx, "b", CRIER_ENC_CF_WS);
  g_autofree char *epoch = NULL;
  CrierSubscribeRequest req = { .channel = "r:many", .recover = TRUE };
  Reply r = { 0 };

  publish_n (fx->hub, "r:many", 302);
  epoch = current_epoch (fx->hub, "r:many");
  req.epoch = epoch;

  /* 301 missed: more than recovery gives. */
  req.offset = 1;
  subscribe_req (a, &req, &r);
  g_assert_true (r.was_recovering);
  g_assert_false (r.recovered);
  g_assert_cmpuint (r.offset, ==, 302);
  reply_clear (&r);

  /* Exactly 300: recovered, all of them. */
  req.offset = 2;
  subscribe_req (b, &req, &r);
  g_assert_true (r.recovered);
  g_assert_cmpuint (r.offset, ==, 2);
  g_assert_true (g_str_has_prefix (r.pubs->str, "3,4,5,"));
  g_assert_true (g_str_has_suffix (r.pubs->str, ",301,302"));
  reply_clear (&r);
}

static void
test_recovery_reject_unrecovered (Fixture       *fx,
                                  gconstpointer  data)
{
  Fake *a = add_fake (fx, "a", CRIER_ENC_CF_WS);
  CrierSubscribeRequest req = { .channel = "r:x", .recover = TRUE, .offset = 1,
                                .epoch = "0badc0de", .reject_unrecovered = TRUE };
  Reply r = { 0 };

  publish_n (fx->hub, "r:x", 3);
  subscribe_req (a, &req, &r);
  g_assert_error (r.error, CRIER_PROTO_ERROR, CRIER_PROTO_ERROR_UNRECOVERABLE);
  g_assert_cmpstr (r.error->message, ==, "unrecoverable position");
  g_assert_cmpuint (crier_hub_count_subscribers (fx->hub, "r:x"), ==, 0);
  g_assert_cmpuint (g_hash_table_size (a->session->subscriptions), ==, 0);
  assert_log (a, "error 112", NULL);
  reply_clear (&r);

  /* Recoverable position with the flag: a normal success. */
  req.epoch = NULL;
  subscribe_req (a, &req, &r);
  g_assert_true (r.recovered);
  assert_log (a, "reply off=1 rec=1 pubs=2,3", NULL);
  reply_clear (&r);
}

/* ---- subscribe while the broker thinks ------------------------------------ */

/* Wraps the memory broker and answers history only when told to, as a
 * remote broker would answer after publications went by. */
typedef struct
{
  CrierBroker  parent;
  CrierBroker *inner;
  gboolean     late;     /* read the history when answering, not when asked */
  GQueue       queue;    /* Deferred* */
} DelayBroker;

typedef struct
{
  char                   *channel;
  CrierHistoryOptions     options;
  CrierHistoryQuery       query;
  CrierBrokerHistoryFunc  func;
  gpointer                user_data;
  GPtrArray              *pubs;
  guint64                 offset;
  char                   *epoch;
} Deferred;

static void
deferred_free (Deferred *d)
{
  g_free (d->channel);
  g_clear_pointer (&d->pubs, g_ptr_array_unref);
  g_free (d->epoch);
  g_free (d);
}

static void
delay_deliver (CrierPublication *pub,
               gpointer          user_data)
{
  DelayBroker *self = user_data;

  self->parent.deliver (pub, self->parent.deliver_data);
}

static void
snapshot_cb (const CrierHistoryResult *result,
             const GError             *error,
             gpointer                  user_data)
{
  Deferred *d = user_data;

  g_assert_no_error (error);
  d->pubs = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_publication_unref);
  for (guint i = 0; i < result->publications->len; i++)
    g_ptr_array_add (d->pubs, crier_publication_ref (g_ptr_array_index (result->publications, i)));
  d->offset = result->offset;
  d->epoch = g_strdup (result->epoch);
}

static void
delay_history (CrierBroker               *broker,
               const char                *channel,
               const CrierHistoryOptions *options,
               const CrierHistoryQuery   *query,
               CrierBrokerHistoryFunc     func,
               gpointer                   user_data)
{
  DelayBroker *self = (DelayBroker *) broker;
  Deferred *d = g_new0 (Deferred, 1);

  d->channel = g_strdup (channel);
  d->options = *options;
  d->query = *query;
  d->func = func;
  d->user_data = user_data;
  if (!self->late)
    self->inner->vtable->history (self->inner, channel, options, query, snapshot_cb, d);
  g_queue_push_tail (&self->queue, d);
}

static guint
delay_broker_answer (DelayBroker *self)
{
  Deferred *d;
  guint n = 0;

  while ((d = g_queue_pop_head (&self->queue)) != NULL)
    {
      CrierHistoryResult result = { 0 };

      if (self->late)
        self->inner->vtable->history (self->inner, d->channel, &d->options, &d->query,
                                      snapshot_cb, d);
      result.publications = d->pubs;
      result.offset = d->offset;
      result.epoch = d->epoch;
      d->func (&result, NULL, d->user_data);
      deferred_free (d);
      n++;
    }
  return n;
}

#define FORWARD(name, ...) \
  ((DelayBroker *) broker)->inner->vtable->name (((DelayBroker *) broker)->inner, __VA_ARGS__)

static void
delay_publish (CrierBroker *broker, CrierPublication *pub, const CrierHistoryOptions *options,
               CrierBrokerPublishFunc func, gpointer user_data)
{
  FORWARD (publish, pub, options, func, user_data);
}

static void
delay_publish_event (CrierBroker *broker, CrierPublication *event)
{
  FORWARD (publish_event, event);
}

static void
delay_remove_history (CrierBroker *broker, const char *channel)
{
  FORWARD (remove_history, channel);
}

static void
delay_subscribe (CrierBroker *broker, const char *channel)
{
  FORWARD (subscribe, channel);
}

static void
delay_unsubscribe (CrierBroker *broker, const char *channel)
{
  FORWARD (unsubscribe, channel);
}

static void
delay_presence_add (CrierBroker *broker, const char *channel, const CrierPresenceEntry *entry)
{
  FORWARD (presence_add, channel, entry);
}

static void
delay_presence_remove (CrierBroker *broker, const char *channel, const char *client)
{
  FORWARD (presence_remove, channel, client);
}

static void
delay_presence (CrierBroker *broker, const char *channel, CrierBrokerPresenceFunc func,
                gpointer user_data)
{
  FORWARD (presence, channel, func, user_data);
}

static void
delay_presence_stats (CrierBroker *broker, const char *channel, CrierBrokerStatsFunc func,
                      gpointer user_data)
{
  FORWARD (presence_stats, channel, func, user_data);
}

static void
delay_tick (CrierBroker *broker, gint64 now_ms)
{
  FORWARD (tick, now_ms);
}

static gint64
delay_memory_bytes (CrierBroker *broker)
{
  return ((DelayBroker *) broker)->inner->vtable->memory_bytes (((DelayBroker *) broker)->inner);
}

static gboolean
delay_is_healthy (CrierBroker *broker)
{
  return TRUE;
}

static void
delay_free (CrierBroker *broker)
{
  DelayBroker *self = (DelayBroker *) broker;

  g_assert_true (g_queue_is_empty (&self->queue));
  crier_broker_free (self->inner);
  g_free (self);
}

static const CrierBrokerVTable delay_vtable = {
  .name = "delay",
  .free = delay_free,
  .publish = delay_publish,
  .publish_event = delay_publish_event,
  .history = delay_history,
  .remove_history = delay_remove_history,
  .subscribe = delay_subscribe,
  .unsubscribe = delay_unsubscribe,
  .presence_add = delay_presence_add,
  .presence_remove = delay_presence_remove,
  .presence = delay_presence,
  .presence_stats = delay_presence_stats,
  .tick = delay_tick,
  .memory_bytes = delay_memory_bytes,
  .is_healthy = delay_is_healthy,
};

static DelayBroker *
use_delay_broker (Fixture  *fx,
                  gboolean  late)
{
  DelayBroker *self = g_new0 (DelayBroker, 1);

  self->parent.vtable = &delay_vtable;
  self->inner = crier_broker_memory_new (delay_deliver, self);
  self->late = late;
  g_queue_init (&self->queue);
  crier_hub_set_broker (fx->hub, &self->parent);
  g_assert_true (crier_hub_get_broker (fx->hub) == &self->parent);
  return self;
}

static void
test_subscribe_buffered (Fixture       *fx,
                         gconstpointer  data)
{
  gboolean late = GPOINTER_TO_INT (data);
  DelayBroker *broker;
  Fake *a;
  Fake *live;
  Fake *pos;
  g_autofree char *epoch = NULL;
  CrierSubscribeRequest req = { .channel = "r:x", .recover = TRUE, .offset = 2 };
  CrierSubscribeRequest preq = { .channel = "pos:x" };
  CrierSubscribeRequest lreq = { .channel = "r:x" };
  Reply r = { 0 };
  Reply pr = { 0 };
  Reply lr = { 0 };

  fixture_setup (fx, NULL);
  broker = use_delay_broker (fx, late);
  a = add_fake (fx, "a", CRIER_ENC_CF_WS);
  live = add_fake (fx, "live", CRIER_ENC_CF_WS);
  pos = add_fake (fx, "pos", CRIER_ENC_CF_STREAM);

  publish_n (fx->hub, "r:x", 4);
  publish_n (fx->hub, "pos:x", 4);
  {
    CrierHistoryQuery q = { 0 };
    History h = { 0 };

    crier_hub_history (fx->hub, "r:x", &q, history_cb, &h);
    g_assert_cmpuint (delay_broker_answer (broker), ==, 1);
    epoch = g_strdup (h.epoch);
    history_clear (&h);
  }
  req.epoch = epoch;

  subscribe_req (a, &req, &r);
  subscribe_req (pos, &preq, &pr);
  g_assert_false (r.done);
  g_assert_false (pr.done);
  /* Registered already: counted, and publications wait for the reply. */
  g_assert_cmpuint (crier_hub_count_subscribers (fx->hub, "r:x"), ==, 1);

  crier_publication_unref (publish (fx->hub, "r:x", "\"five\""));
  crier_publication_unref (publish (fx->hub, "pos:x", "\"five\""));
  subscribe_req (live, &lreq, &lr);
  crier_publication_unref (publish (fx->hub, "r:x", "\"six\""));
  assert_log (a, NULL);
  assert_log (pos, NULL);
  assert_log (live, NULL);

  /* Answer all three, in the order asked. */
  g_assert_cmpuint (delay_broker_answer (broker), ==, 3);
  g_assert_true (r.done && r.recovered);
  g_assert_cmpuint (r.offset, ==, 2);
  g_assert_true (pr.done && lr.done);
  if (late)
    {
      /* The broker's answers already hold what was buffered: the buffer
       * adds nothing. */
      assert_log (a, "reply off=2 rec=1 pubs=3,4,5,6", NULL);
      assert_log (pos, "reply off=5 rec=0 pubs=", NULL);
      assert_log (live, "reply off=6 rec=0 pubs=", NULL);
    }
  else
    {
      assert_log (a, "reply off=2 rec=1 pubs=3,4", "pub 5 \"five\"", "pub 6 \"six\"", NULL);
      assert_log (pos, "reply off=4 rec=0 pubs=", "pub 5 \"five\"", NULL);
      assert_log (live, "reply off=5 rec=0 pubs=", "pub 6 \"six\"", NULL);
    }

  /* From now on, live. */
  crier_publication_unref (publish (fx->hub, "r:x", "7"));
  crier_publication_unref (publish (fx->hub, "pos:x", "6"));
  assert_log (a, "pub 7 7", NULL);
  assert_log (live, "pub 7 7", NULL);
  assert_log (pos, "pub 6 6", NULL);
  reply_clear (&lr);
  g_assert_cmpuint (crier_hub_get_stats (fx->hub)->insufficient_state, ==, 0);
  reply_clear (&r);
  reply_clear (&pr);
  fixture_teardown (fx, NULL);
}

static void
test_subscribe_cancelled (Fixture       *fx,
                          gconstpointer  data)
{
  DelayBroker *broker;
  Fake *a;
  Fake *b;
  CrierSubscribeRequest req = { .channel = "p:room", .want_positioned = TRUE,
                                .want_join_leave = TRUE };
  CrierSubscribeRequest rreq = { .channel = "r:x" };
  Reply ra = { 0 };
  Reply rb = { 0 };
  Reply rb2 = { 0 };

  fixture_setup (fx, NULL);
  broker = use_delay_broker (fx, FALSE);
  a = add_fake (fx, "a", CRIER_ENC_CF_WS);
  b = add_fake (fx, "b", CRIER_ENC_CF_WS);

  /* "p" keeps no history: not positioned, answered at once. */
  subscribe_req (a, &req, &ra);
  g_assert_true (ra.done);
  reply_clear (&ra);
  g_ptr_array_set_size (a->log, 0);

  /* Unsubscribed before the broker answered. */
  subscribe_req (b, &rreq, &rb);
  crier_publication_unref (publish (fx->hub, "r:x", "1"));
  g_assert_true (crier_hub_unsubscribe (fx->hub, b->session, "r:x"));
  g_assert_error (rb.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (crier_hub_count_subscribers (fx->hub, "r:x"), ==, 0);

  /* Session gone before the broker answered. */
  subscribe_req (b, &rreq, &rb2);
  crier_hub_remove_session (fx->hub, b->session);
  g_assert_error (rb2.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  g_assert_cmpuint (delay_broker_answer (broker), ==, 2);
  assert_log (b, "cancelled", "cancelled", NULL);
  /* Never joined: no leave for the others. */
  assert_log (a, NULL);
  reply_clear (&rb);
  reply_clear (&rb2);
  fixture_teardown (fx, NULL);
}

/* ---- insufficient state ----------------------------------------------------- */

static void
test_gap (Fixture       *fx,
          gconstpointer  data)
{
  CrierBroker *broker = crier_hub_get_broker (fx->hub);
  Fake *client = add_fake (fx, "a", CRIER_ENC_CF_WS);
  Fake *server = add_fake (fx, "b", CRIER_ENC_CF_WS);
  Fake *late = add_fake (fx, "c", CRIER_ENC_CF_WS);
  CrierSubscribeRequest req = { .channel = "pos:x", .server_side = TRUE };
  Reply r = { 0 };
  g_autoptr(CrierPublication) first = NULL;
  g_autoptr(GBytes) bytes = g_bytes_new_static ("3", 1);
  g_autoptr(CrierPublication) lost = crier_publication_new ("pos:x", bytes, NULL);

  g_assert_cmpint (subscribe_simple (client, "pos:x", FALSE), ==, 0);
  subscribe_req (server, &req, &r);
  g_assert_true (r.positioned);
  g_ptr_array_set_size (server->log, 0);
  first = publish (fx->hub, "pos:x", "1");
  assert_log (client, "pub 1 1", NULL);
  assert_log (server, "pub 1 1", NULL);

  /* A duplicate from the broker is dropped silently. */
  broker->deliver (first, broker->deliver_data);
  assert_log (client, NULL);

  /* Offset 3 after 1: publication 2 was lost on the way. */
  lost->offset = 3;
  lost->epoch = g_strdup (first->epoch);
  broker->deliver (lost, broker->deliver_data);
  assert_log (client, "push {\"channel\":\"pos:x\",\"unsubscribe\":{\"code\":2500,"
                      "\"reason\":\"insufficient state\"}}", NULL);
  assert_log (server, "disconnect 3010 insufficient state", NULL);
  g_assert_cmpuint (crier_hub_get_stats (fx->hub)->insufficient_state, ==, 2);
  g_assert_cmpuint (crier_hub_count_subscribers (fx->hub, "pos:x"), ==, 0);
  g_assert_false (server->session->registered);

  /* A subscriber that joins at the top is not affected. */
  g_assert_cmpint (subscribe_simple (late, "pos:x", FALSE), ==, 0);
  crier_publication_unref (publish (fx->hub, "pos:x", "2"));
  assert_log (late, "pub 2 2", NULL);
  reply_clear (&r);
}

/* ---- presence ----------------------------------------------------------------- */

typedef struct
{
  gboolean   done;
  GError    *error;
  guint      num_clients;
  guint      num_users;
  GPtrArray *entries;
} PresenceReply;

static void
presence_cb (GPtrArray    *entries,
             const GError *error,
             gpointer      user_data)
{
  PresenceReply *p = user_data;

  p->done = TRUE;
  if (error != NULL)
    {
      p->error = g_error_copy (error);
      return;
    }
  p->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_presence_entry_free);
  for (guint i = 0; i < entries->len; i++)
    g_ptr_array_add (p->entries, crier_presence_entry_copy (g_ptr_array_index (entries, i)));
}

static void
stats_cb (guint         num_clients,
          guint         num_users,
          const GError *error,
          gpointer      user_data)
{
  PresenceReply *p = user_data;

  p->done = TRUE;
  if (error != NULL)
    p->error = g_error_copy (error);
  p->num_clients = num_clients;
  p->num_users = num_users;
}

static void
presence_clear (PresenceReply *p)
{
  g_clear_error (&p->error);
  g_clear_pointer (&p->entries, g_ptr_array_unref);
  memset (p, 0, sizeof *p);
}

static void
assert_presence_stats (CrierHub   *hub,
                       const char *channel,
                       guint       clients,
                       guint       users)
{
  PresenceReply p = { 0 };

  crier_hub_presence_stats (hub, channel, stats_cb, &p);
  g_assert_true (p.done);
  g_assert_no_error (p.error);
  g_assert_cmpuint (p.num_clients, ==, clients);
  g_assert_cmpuint (p.num_users, ==, users);
  presence_clear (&p);
}

static void
test_presence (Fixture       *fx,
               gconstpointer  data)
{
  Fake *u1a = add_fake (fx, "u1", CRIER_ENC_CF_WS);
  Fake *u1b = add_fake (fx, "u1", CRIER_ENC_UNI_WS);
  Fake *u2 = add_fake (fx, "u2", CRIER_ENC_CF_WS);
  Fake *anon = add_fake (fx, "", CRIER_ENC_CF_WS);
  CrierSubscribeRequest req = { .channel = "p:room", .chan_info = "{\"role\": \"admin\"}" };
  Reply r = { 0 };
  PresenceReply p = { 0 };
  gboolean seen = FALSE;

  crier_session_set_identity (u2->session, "u2", "{\"name\":\"Bob\"}");
  g_assert_cmpint (subscribe_simple (u1a, "p:room", FALSE), ==, 0);
  g_assert_cmpint (subscribe_simple (u1b, "p:room", FALSE), ==, 0);
  subscribe_req (u2, &req, &r);
  g_assert_no_error (r.error);
  g_assert_cmpint (subscribe_simple (anon, "p:room", FALSE), ==, 0);
  g_assert_cmpuint (crier_hub_count_user_sessions (fx->hub, "u1"), ==, 2);

  /* Several connections of one user count once. */
  assert_presence_stats (fx->hub, "p:room", 4, 3);

  crier_hub_presence (fx->hub, "p:room", presence_cb, &p);
  g_assert_no_error (p.error);
  g_assert_cmpuint (p.entries->len, ==, 4);
  for (guint i = 0; i < p.entries->len; i++)
    {
      CrierPresenceEntry *e = g_ptr_array_index (p.entries, i);

      if (g_strcmp0 (e->client, u2->session->id) != 0)
        continue;
      seen = TRUE;
      g_assert_cmpstr (e->user, ==, "u2");
      g_assert_cmpstr (e->conn_info, ==, "{\"name\":\"Bob\"}");
      g_assert_cmpstr (e->chan_info, ==, "{\"role\":\"admin\"}");
    }
  g_assert_true (seen);
  presence_clear (&p);

  crier_hub_remove_session (fx->hub, u1a->session);
  assert_presence_stats (fx->hub, "p:room", 3, 3);
  g_assert_true (crier_hub_unsubscribe (fx->hub, u1b->session, "p:room"));
  assert_presence_stats (fx->hub, "p:room", 2, 2);
  g_assert_true (crier_hub_unsubscribe (fx->hub, u2->session, "p:room"));
  g_assert_true (crier_hub_unsubscribe (fx->hub, anon->session, "p:room"));
  assert_presence_stats (fx->hub, "p:room", 0, 0);

  /* Not enabled / unknown namespace. */
  crier_hub_presence (fx->hub, "news", presence_cb, &p);
  g_assert_error (p.error, CRIER_PROTO_ERROR, CRIER_PROTO_ERROR_NOT_AVAILABLE);
  presence_clear (&p);
  crier_hub_presence_stats (fx->hub, "news", stats_cb, &p);
  g_assert_error (p.error, CRIER_PROTO_ERROR, CRIER_PROTO_ERROR_NOT_AVAILABLE);
  presence_clear (&p);
  crier_hub_presence (fx->hub, "nope:room", presence_cb, &p);
  g_assert_error (p.error, CRIER_PROTO_ERROR, CRIER_PROTO_ERROR_UNKNOWN_CHANNEL);
  presence_clear (&p);
  reply_clear (&r);
}

static void
test_client_info (void)
{
  g_autofree char *plain = crier_client_info_json ("42", "abc", NULL, NULL);
  g_autofree char *full = crier_client_info_json ("q\"u", "abc", "{\n  \"a\": 1\n}", "[1, 2]");
  g_autofree char *bad = crier_client_info_json (NULL, "abc", "not json", NULL);
  CrierSession *session = crier_session_new (&fake_class, NULL, CRIER_ENC_CF_WS);
  g_autofree char *expected = NULL;

  g_assert_cmpstr (plain, ==, "{\"user\":\"42\",\"client\":\"abc\"}");
  g_assert_cmpstr (full, ==, "{\"user\":\"q\\\"u\",\"client\":\"abc\",\"conn_info\":{\"a\":1},"
                             "\"chan_info\":[1,2]}");
  g_assert_cmpstr (bad, ==, "{\"user\":\"\",\"client\":\"abc\"}");

  g_assert_cmpuint (strlen (session->id), ==, 32);
  g_assert_cmpstr (session->user, ==, "");
  crier_session_set_identity (session, "7", "{ \"x\": true }");
  expected = g_strdup_printf ("{\"user\":\"7\",\"client\":\"%s\",\"conn_info\":{\"x\":true}}",
                              session->id);
  g_assert_cmpstr (session->client_info, ==, expected);
  /* Kept compact for presence replies too. */
  g_assert_cmpstr (session->conn_info, ==, "{\"x\":true}");
  crier_session_free (session);
}

/* ---- unsubscribe, sessions, errors, tick -------------------------------------- */

static void
test_unsubscribe_push (Fixture       *fx,
                       gconstpointer  data)
{
  Fake *a = add_fake (fx, "a", CRIER_ENC_CF_WS);
  g_autoptr(GPtrArray) channels = NULL;

  g_assert_cmpint (subscribe_simple (a, "news", FALSE), ==, 0);
  g_assert_true (crier_hub_unsubscribe_push (fx->hub, a->session, "news", 2000,
                                             "server \"unsubscribe\""));
  assert_log (a, "push {\"channel\":\"news\",\"unsubscribe\":{\"code\":2000,"
                 "\"reason\":\"server \\\"unsubscribe\\\"\"}}", NULL);
  g_assert_false (crier_hub_unsubscribe_push (fx->hub, a->session, "news", 2000, "again"));
  assert_log (a, NULL);
  g_assert_cmpuint (crier_hub_count_subscribers (fx->hub, "news"), ==, 0);
  channels = crier_hub_list_channels (fx->hub);
  g_assert_cmpuint (channels->len, ==, 0);

  /* Nothing is delivered any more. */
  crier_publication_unref (publish (fx->hub, "news", "1"));
  assert_log (a, NULL);
}

static void
count_session (gpointer key,
               gpointer value,
               gpointer user_data)
{
  CrierSession *session = value;

  g_assert_cmpstr (key, ==, session->id);
  (*(guint *) user_data)++;
}

static void
test_remove_session (Fixture       *fx,
                     gconstpointer  data)
{
  Fake *a = add_fake (fx, "u1", CRIER_ENC_CF_WS);
  Fake *b = add_fake (fx, "u2", CRIER_ENC_CF_WS);
  g_autofree char *id = g_strdup (a->session->id);
  g_autofree char *leave_a = g_strdup_printf ("leave %s", id);
  g_autoptr(GPtrArray) channels = NULL;
  g_autoptr(GPtrArray) of_user = NULL;
  const CrierHubStats *stats;

  g_assert_true (crier_hub_lookup_session (fx->hub, id) == a->session);
  g_assert_cmpint (subscribe_simple (a, "p:room", TRUE), ==, 0);
  g_assert_cmpint (subscribe_simple (a, "q:x", FALSE), ==, 0);
  g_assert_cmpint (subscribe_simple (a, "news", FALSE), ==, 0);
  g_assert_cmpint (subscribe_simple (b, "p:room", TRUE), ==, 0);
  g_ptr_array_set_size (a->log, 0);
  g_ptr_array_set_size (b->log, 0);
  of_user = crier_hub_sessions_of_user (fx->hub, "u1");
  g_assert_cmpuint (of_user->len, ==, 1);
  g_assert_true (g_ptr_array_index (of_user, 0) == a->session);

  crier_hub_remove_session (fx->hub, a->session);
  /* Twice is harmless. */
  crier_hub_remove_session (fx->hub, a->session);

  g_assert_false (a->session->registered);
  g_assert_cmpuint (g_hash_table_size (a->session->subscriptions), ==, 0);
  g_assert_null (crier_hub_lookup_session (fx->hub, id));
  g_assert_cmpuint (crier_hub_count_user_sessions (fx->hub, "u1"), ==, 0);
  assert_log (b, leave_a, NULL);
  assert_log (a, NULL);
  assert_presence_stats (fx->hub, "p:room", 1, 1);
  channels = crier_hub_list_channels (fx->hub);
  g_assert_cmpuint (channels->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (channels, 0), ==, "p:room");
  stats = crier_hub_get_stats (fx->hub);
  g_assert_cmpuint (stats->sessions, ==, 1);
  g_assert_cmpuint (stats->subscriptions, ==, 1);
  g_assert_cmpuint (stats->channels, ==, 1);

  /* foreach sees the one left. */
  {
    guint n = 0;

    crier_hub_foreach_session (fx->hub, count_session, &n);
    g_assert_cmpuint (n, ==, 1);
    g_assert_cmpuint (crier_hub_count_user_sessions (fx->hub, "u2"), ==, 1);
  }
}

static void
test_errors (Fixture       *fx,
             gconstpointer  data)
{
  Fake *a = add_fake (fx, "a", CRIER_ENC_CF_WS);
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) longname = g_string_new ("news");
  Published p = { 0 };
  g_autoptr(GBytes) bytes = g_bytes_new_static ("1", 1);

  g_assert_cmpint (subscribe_simple (a, "nope:room", FALSE), ==, 102);
  g_assert_cmpint (subscribe_simple (a, "bad channel", FALSE), ==, 107);
  g_assert_cmpint (subscribe_simple (a, "q:", FALSE), ==, 107);
  while (longname->len <= 255)
    g_string_append_c (longname, 'x');
  g_assert_cmpint (subscribe_simple (a, longname->str, FALSE), ==, 107);

  g_assert_cmpint (subscribe_simple (a, "news", FALSE), ==, 0);
  g_assert_cmpint (subscribe_simple (a, "news", FALSE), ==, 105);
  for (guint i = 1; i < 8; i++)
    {
      g_autofree char *name = g_strdup_printf ("c%u", i);

      g_assert_cmpint (subscribe_simple (a, name, FALSE), ==, 0);
    }
  g_assert_cmpint (subscribe_simple (a, "c8", FALSE), ==, 106);
  g_assert_cmpuint (g_hash_table_size (a->session->subscriptions), ==, 8);

  g_assert_null (crier_hub_check_channel (fx->hub, "nope:x", &error));
  g_assert_error (error, CRIER_PROTO_ERROR, CRIER_PROTO_ERROR_UNKNOWN_CHANNEL);
  g_assert_cmpstr (error->message, ==, "unknown channel");
  g_clear_error (&error);
  g_assert_nonnull (crier_hub_check_channel (fx->hub, "q:ok", &error));
  g_assert_no_error (error);

  crier_hub_publish (fx->hub, "nope:x", bytes, NULL, publish_cb, &p);
  g_assert_error (p.error, CRIER_PROTO_ERROR, CRIER_PROTO_ERROR_UNKNOWN_CHANNEL);
  g_assert_null (p.pub);
  g_clear_error (&p.error);

  assert_history (fx->hub, "news", FALSE, 0, -1, FALSE, "error 108");
  assert_history (fx->hub, "nope:x", FALSE, 0, -1, FALSE, "error 102");
  assert_history (fx->hub, "q:bad name", FALSE, 0, -1, FALSE, "error 107");
  g_assert_false (crier_hub_remove_history (fx->hub, "news", &error));
  g_assert_error (error, CRIER_PROTO_ERROR, CRIER_PROTO_ERROR_NOT_AVAILABLE);
  g_clear_error (&error);

  g_assert_cmpstr (crier_proto_error_message (100), ==, "internal server error");
  g_assert_cmpstr (crier_proto_error_message (103), ==, "permission denied");
  g_assert_cmpstr (crier_proto_error_message (111), ==, "too many requests");
  g_assert_cmpstr (crier_proto_error_message (112), ==, "unrecoverable position");
}

static void
test_tick_expiry (Fixture       *fx,
                  gconstpointer  data)
{
  Fake *a = add_fake (fx, "a", CRIER_ENC_CF_WS);
  Fake *s = add_fake (fx, "s", CRIER_ENC_CF_WS);
  CrierSubscribeRequest req = { .channel = "news", .expire_at = 100 };
  CrierSubscribeRequest sreq = { .channel = "news", .expire_at = 100, .server_side = TRUE };
  Reply r = { 0 };
  Reply sr = { 0 };

  subscribe_req (a, &req, &r);
  subscribe_req (s, &sreq, &sr);
  g_assert_cmpint (subscribe_simple (a, "other", FALSE), ==, 0);
  g_ptr_array_set_size (a->log, 0);
  g_ptr_array_set_size (s->log, 0);

  crier_hub_tick (fx->hub, 99 * 1000);
  assert_log (a, NULL);
  crier_hub_tick (fx->hub, 100 * 1000);
  assert_log (a, "push {\"channel\":\"news\",\"unsubscribe\":{\"code\":2501,"
                 "\"reason\":\"subscription expired\"}}", NULL);
  assert_log (s, "disconnect 3006 subscription expired", NULL);
  g_assert_cmpuint (crier_hub_count_subscribers (fx->hub, "news"), ==, 0);
  g_assert_cmpuint (crier_hub_count_subscribers (fx->hub, "other"), ==, 1);
  reply_clear (&r);
  reply_clear (&sr);
}

int
main (int   argc,
      char *argv[])
{
  test_init (&argc, &argv);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("/hub/fanout/shared-frame", test_fanout_shared_frame);
  ADD ("/hub/fanout/no-subscribers", test_fanout_no_subscribers);
  ADD ("/hub/fanout/remove-during-send", test_fanout_remove_during_send);
  ADD ("/hub/fanout/reentrant-publish", test_fanout_reentrant_publish);
  ADD ("/hub/join-leave", test_join_leave);
  ADD ("/hub/history/ring", test_history_ring);
  ADD ("/hub/history/query", test_history_query);
  ADD ("/hub/history/ttl", test_history_ttl);
  ADD ("/hub/history/empty-stream", test_history_empty_stream);
  ADD ("/hub/history/bytes", test_history_bytes);
  ADD ("/hub/history/epoch-reset", test_history_epoch_reset);
  ADD ("/hub/recovery/success", test_recovery_success);
  ADD ("/hub/recovery/failure", test_recovery_failure);
  ADD ("/hub/recovery/too-many", test_recovery_too_many);
  ADD ("/hub/recovery/reject-unrecovered", test_recovery_reject_unrecovered);
  /* These set up a wrapped broker themselves. */
  g_test_add ("/hub/subscribe/buffered/early", Fixture, GINT_TO_POINTER (FALSE), NULL,
              test_subscribe_buffered, NULL);
  g_test_add ("/hub/subscribe/buffered/late", Fixture, GINT_TO_POINTER (TRUE), NULL,
              test_subscribe_buffered, NULL);
  g_test_add ("/hub/subscribe/cancelled", Fixture, NULL, NULL, test_subscribe_cancelled, NULL);
  ADD ("/hub/gap", test_gap);
  ADD ("/hub/presence", test_presence);
  g_test_add_func ("/hub/client-info", test_client_info);
  ADD ("/hub/unsubscribe-push", test_unsubscribe_push);
  ADD ("/hub/remove-session", test_remove_session);
  ADD ("/hub/errors", test_errors);
  ADD ("/hub/tick/expiry", test_tick_expiry);

  return g_test_run ();
}
