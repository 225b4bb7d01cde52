/* crier-dialect-plain.c: /sub over SSE, WebSocket and long polling, the
 * browser client at /crier.js and the debug test pages (see the header).
 *
 * Key functions: plain_serve (auth, channel rules, picks the transport),
 * plain_subscribe_all / plain_subscribed (resume: exactly the missed
 * publications or a reset per channel), plain_emit_id (the compound SSE
 * id), poll_request / poll_hold / poll_conn_send_answer (long-poll sessions
 * with a bounded buffer that polls acknowledge), poll_conn_process (the
 * next polls of a keep-alive connection, parsed on the engine) and
 * CrierReplayConnection (any other request goes back to libsoup with the
 * bytes already read), plain_tick (idle expiry, drain, reaping).
 *
 * Every subscriber is a hub session (transport "plain-sse", "plain-ws" or
 * "plain-poll") with server-side subscriptions: an offset gap ends the
 * connection (3010) and the client resumes from its id.
 */
#include "config.h"

#include "crier-dialect-plain.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/socket.h>

#include "crier-jwt.h"
#include "crier-transport-stream.h"
#include "crier-transport-ws.h"
#include "crierd-resources.h"

#define PLAIN_KEY        "crier-plain"
#define CACHE_CONTROL    "private, no-cache, no-store, must-revalidate, max-age=0"
#define CURSOR_MAX       (32 * 1024)
#define TICK_MS          250
#define DEBUG_PAGE_MAX   (16 * 1024 * 1024)

typedef enum
{
  PLAIN_SSE,
  PLAIN_WS,
  PLAIN_POLL,
} PlainKind;

typedef struct _PlainState PlainState;
typedef struct _PlainSub   PlainSub;

typedef struct
{
  char    *channel;
  char    *name_json;     /* the channel as a JSON string literal */
  gboolean subscribed;    /* the hub answered */
  /* Long polling: the position the client has, as of what it was sent. */
  gboolean has_pos;
  char    *pos_epoch;
  guint64  pos_offset;
} PlainChan;

typedef struct
{
  guint64    seq;
  GBytes    *element;     /* one element of the response array */
  PlainChan *chan;        /* whose position moves, or NULL */
  char      *epoch;
  guint64    offset;
  gboolean   reset;       /* moves the position even backwards */
} PollEntry;

/* A long-poll connection on the engine. Once a poll had to wait, its
 * connection stays here: the engine notices a client that leaves at once
 * (libsoup never reads a paused message's socket) and costs nothing per
 * loop iteration, and the client's next polls on the same keep-alive
 * connection are parsed here too. Any other request on it goes back to
 * libsoup, with the bytes already read (see CrierReplayConnection). */
typedef struct
{
  PlainState     *st;
  PlainSub       *sub;          /* the session whose poll waits here, or NULL */
  CrierConn      *conn;
  GSocketAddress *local;
  GSocketAddress *remote;
  GByteArray     *inbuf;        /* what the client sent and we did not handle yet */
  gint64          idle_since;   /* monotonic ms: answered, no new request yet */
  gint64          partial_since;/* monotonic ms: a request head is arriving */
  /* the waiting request */
  char           *origin;       /* allowed Origin to echo, or NULL */
  guint64         acked;        /* what it acknowledged */
  gboolean        keep_alive;
  gboolean        fresh;        /* it started the session: answer once subscribed */
} PollConn;

/* One /sub request, parsed by libsoup or (a follow-up poll) by us. */
typedef struct
{
  SoupServerMessage  *msg;      /* libsoup's, or NULL */
  PollConn           *pc;       /* the engine connection it came on, or NULL */
  SoupMessageHeaders *headers;
  GHashTable         *query;    /* NULL when there is none */
  const char         *path;     /* %-encoded */
  gboolean            keep_alive;
} PlainRequest;

struct _PlainSub
{
  PlainState        *st;
  PlainKind          kind;
  gboolean           meta;          /* Centrifugo uni pushes, not bare payloads */
  gboolean           resuming;      /* the client gave a cursor */
  gboolean           closed;
  CrierSession      *session;
  GPtrArray         *chans;         /* PlainChan*, in request order */
  guint              unanswered;    /* subscribes in flight */
  CrierPlainCursor  *cursor;        /* resume positions, until subscribed */
  char              *last_id;       /* SSE: the last id event sent */
  PlainChan         *override_chan; /* SSE recovery: position in progress */
  guint64            override_offset;

  CrierStream       *stream;        /* PLAIN_SSE */
  CrierWs           *ws;            /* PLAIN_WS */

  /* PLAIN_POLL */
  GQueue             entries;       /* PollEntry*, seq ascending */
  guint64            seq;           /* last seq given out */
  gsize              buffered;      /* bytes of elements */
  PollConn          *held;
  gint64             idle_deadline; /* monotonic ms */
};

struct _PlainState
{
  CrierServer       *server;
  CrierCfContext    *cf;
  CrierHub          *hub;
  CrierEngine       *engine;
  GHashTable        *polls;         /* session id -> PlainSub* (PLAIN_POLL) */
  GPtrArray         *dead;          /* closed poll subs, freed by the tick */
  GSource           *tick;
  /* The last publication frame turned into a poll element: fan-out hands
   * one frame to every poll session in a row, so this builds it once. */
  GBytes            *elem_frame;
  GBytes            *elem;
  char              *elem_channel;  /* JSON literal, as in the frame */
  char              *elem_epoch;    /* NULL when not positioned */
  guint64            elem_offset;
  guint64            polls_timed_out;
  guint64            polls_abandoned;
};

typedef struct
{
  char     *user;
  char     *info;
  gint64    exp;
} PlainAuth;

static void plain_disconnect  (PlainSub   *sub,
                               guint       code,
                               const char *reason);
static void poll_maybe_respond (PlainSub  *sub);
static void plain_ensure_tick (PlainState *st);
static void plain_serve       (PlainState   *st,
                               PlainRequest *req);

static gint64
mono_ms (void)
{
  return g_get_monotonic_time () / 1000;
}

static gint64
wall_s (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

/* ---- cursors -------------------------------------------------------------- */

static void
position_free (gpointer data)
{
  CrierPlainPosition *pos = data;

  g_free (pos->channel);
  g_free (pos->epoch);
  g_free (pos);
}

void
crier_plain_cursor_free (CrierPlainCursor *cursor)
{
  if (cursor == NULL)
    return;
  g_ptr_array_unref (cursor->positions);
  g_free (cursor->session);
  g_free (cursor);
}

static gboolean
parse_u64 (const char *s,
           const char *end,
           guint64    *out)
{
  guint64 v = 0;

  if (s == end)
    return FALSE;
  for (; s < end; s++)
    {
      if (!g_ascii_isdigit (*s) || v > (G_MAXUINT64 - 9) / 10)
        return FALSE;
      v = v * 10 + (*s - '0');
    }
  *out = v;
  return TRUE;
}

/* "EPOCH:OFFSET" or "CH=EPOCH:OFFSET" (the channel before the last '=',
 * the offset after the last ':'). */
static CrierPlainPosition *
parse_position (const char *item,
                const char *end)
{
  const char *eq = NULL;
  const char *colon = NULL;
  const char *epoch;
  CrierPlainPosition *pos;
  guint64 offset;

  for (const char *p = item; p < end; p++)
    if (*p == '=')
      eq = p;
  epoch = eq != NULL ? eq + 1 : item;
  for (const char *p = epoch; p < end; p++)
    if (*p == ':')
      colon = p;
  if (colon == NULL || (eq != NULL && eq == item) || !parse_u64 (colon + 1, end, &offset))
    return NULL;
  for (const char *p = epoch; p < colon; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return NULL;

  pos = g_new0 (CrierPlainPosition, 1);
  pos->channel = eq != NULL ? g_strndup (item, eq - item) : NULL;
  pos->epoch = g_strndup (epoch, colon - epoch);
  pos->offset = offset;
  return pos;
}

CrierPlainCursor *
crier_plain_cursor_parse (const char *text)
{
  g_autoptr(CrierPlainCursor) cursor = NULL;
  const char *p;
  const char *end;

  if (text == NULL)
    return NULL;
  end = text + strlen (text);
  if (end - text > CURSOR_MAX)
    return NULL;

  cursor = g_new0 (CrierPlainCursor, 1);
  cursor->positions = g_ptr_array_new_with_free_func (position_free);

  /* "SESSION.SEQ/": hex, a dot, digits, a slash. */
  p = text;
  while (p < end && g_ascii_isxdigit (*p))
    p++;
  if (p > text && p < end && *p == '.')
    {
      const char *dot = p;
      const char *digits = ++p;

      while (p < end && g_ascii_isdigit (*p))
        p++;
      if (p < end && *p == '/' && parse_u64 (digits, p, &cursor->seq))
        {
          cursor->session = g_strndup (text, dot - text);
          text = p + 1;
        }
    }

  for (p = text; p < end;)
    {
      const char *comma = memchr (p, ',', end - p);
      const char *stop = comma != NULL ? comma : end;
      CrierPlainPosition *pos = parse_position (p, stop);

      if (pos == NULL)
        return NULL;
      if (pos->channel == NULL && (p != text || comma != NULL))
        {
          /* The unnamed form stands alone. */
          position_free (pos);
          return NULL;
        }
      g_ptr_array_add (cursor->positions, pos);
      p = comma != NULL ? comma + 1 : end;
      if (comma != NULL && p == end)
        return NULL;
    }
  return g_steal_pointer (&cursor);
}

const CrierPlainPosition *
crier_plain_cursor_find (const CrierPlainCursor *cursor,
                         const char             *channel)
{
  const CrierPlainPosition *unnamed = NULL;

  if (cursor == NULL)
    return NULL;
  for (guint i = 0; i < cursor->positions->len; i++)
    {
      const CrierPlainPosition *pos = g_ptr_array_index (cursor->positions, i);

      if (pos->channel == NULL)
        unnamed = pos;
      else if (g_str_equal (pos->channel, channel))
        return pos;
    }
  return unnamed;
}

/* ---- subscribers ------------------------------------------------------------ */

static void
plain_chan_free (gpointer data)
{
  PlainChan *chan = data;

  g_free (chan->channel);
  g_free (chan->name_json);
  g_free (chan->pos_epoch);
  g_free (chan);
}

static void
poll_entry_free (gpointer data)
{
  PollEntry *entry = data;

  g_bytes_unref (entry->element);
  g_free (entry->epoch);
  g_free (entry);
}

static PlainSub *
plain_sub_new (PlainState *st,
               PlainKind   kind,
               gboolean    meta,
               char      **channels,
               CrierPlainCursor *cursor)
{
  PlainSub *sub = g_new0 (PlainSub, 1);

  sub->st = st;
  sub->kind = kind;
  sub->meta = meta;
  sub->cursor = cursor;
  /* An empty cursor is no position at all: nothing to resume. */
  sub->resuming = cursor != NULL && (cursor->positions->len > 0 || cursor->session != NULL);
  sub->chans = g_ptr_array_new_with_free_func (plain_chan_free);
  for (guint i = 0; channels[i] != NULL; i++)
    {
      PlainChan *chan = g_new0 (PlainChan, 1);
      GString *json = g_string_new (NULL);

      chan->channel = g_strdup (channels[i]);
      crier_json_append_string (json, channels[i]);
      chan->name_json = g_string_free (json, FALSE);
      g_ptr_array_add (sub->chans, chan);
    }
  g_queue_init (&sub->entries);
  return sub;
}

static void
plain_sub_free (PlainSub *sub)
{
  if (sub->session != NULL)
    {
      if (sub->session->registered)
        crier_hub_remove_session (sub->st->hub, sub->session);
      crier_session_free (sub->session);
    }
  g_queue_clear_full (&sub->entries, poll_entry_free);
  g_ptr_array_unref (sub->chans);
  crier_plain_cursor_free (sub->cursor);
  g_free (sub->last_id);
  g_free (sub);
}

static PlainChan *
plain_chan_by_name (PlainSub   *sub,
                    const char *channel)
{
  for (guint i = 0; i < sub->chans->len; i++)
    {
      PlainChan *chan = g_ptr_array_index (sub->chans, i);

      if (g_str_equal (chan->channel, channel))
        return chan;
    }
  return NULL;
}

/* The hub's view of @chan when it has a stream position. */
static CrierSubscription *
positioned_sub (PlainSub  *sub,
                PlainChan *chan)
{
  CrierSubscription *s;

  if (!chan->subscribed || sub->session == NULL)
    return NULL;
  s = g_hash_table_lookup (sub->session->subscriptions, chan->channel);
  return s != NULL && s->positioned ? s : NULL;
}

/* Positions as the SSE id / cursor text: EPOCH:OFFSET for one channel,
 * CH=EPOCH:OFFSET,... for several; "" when nothing is positioned.
 * @delivered: the long-poll positions (what the client was sent) instead
 * of the hub's (what was queued). */
static char *
plain_positions (PlainSub *sub,
                 gboolean  delivered)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < sub->chans->len; i++)
    {
      PlainChan *chan = g_ptr_array_index (sub->chans, i);
      const char *epoch;
      guint64 offset;

      if (delivered)
        {
          if (!chan->has_pos)
            continue;
          epoch = chan->pos_epoch;
          offset = chan->pos_offset;
        }
      else
        {
          CrierSubscription *s = positioned_sub (sub, chan);

          if (s == NULL)
            continue;
          epoch = s->epoch;
          offset = chan == sub->override_chan ? sub->override_offset : s->offset;
        }
      if (out->len > 0)
        g_string_append_c (out, ',');
      if (sub->chans->len > 1)
        g_string_append_printf (out, "%s=", chan->channel);
      g_string_append_printf (out, "%s:%" G_GUINT64_FORMAT, epoch != NULL ? epoch : "", offset);
    }
  return g_string_free (out, FALSE);
}

/* SSE: an id-only event (a browser updates its Last-Event-ID and
 * dispatches nothing) whenever the positions changed. Single-channel
 * publications carry their own id; several channels need the compound
 * id after each one. */
static void
plain_emit_id (PlainSub *sub)
{
  g_autofree char *id = NULL;
  g_autofree char *event = NULL;

  if (sub->kind != PLAIN_SSE || sub->meta || sub->closed)
    return;
  id = plain_positions (sub, FALSE);
  if (id[0] == '\0' || g_strcmp0 (id, sub->last_id) == 0)
    return;
  event = g_strdup_printf ("id: %s\n\n", id);
  if (crier_stream_send_data (sub->stream, event, strlen (event)))
    {
      g_free (sub->last_id);
      sub->last_id = g_steal_pointer (&id);
    }
}

/* A bare line or event for this subscriber only (not publications). */
static gboolean
plain_send_text (PlainSub   *sub,
                 const char *text)
{
  gsize len = strlen (text);

  if (sub->closed)
    return FALSE;
  switch (sub->kind)
    {
    case PLAIN_SSE:
      return crier_stream_send_data (sub->stream, text, len);
    case PLAIN_WS:
      return crier_ws_send_text (sub->ws, text, len);
    case PLAIN_POLL:
    default:
      return FALSE;
    }
}

/* ---- long polling: the buffer ---------------------------------------------- */

/* End of the JSON value at @p (compact JSON), or NULL. */
static const char *
json_value_end (const char *p,
                const char *end)
{
  gboolean in_string = FALSE;
  int depth = 0;

  if (p >= end)
    return NULL;
  if (*p != '{' && *p != '[' && *p != '"')
    {
      while (p < end && *p != ',' && *p != '}' && *p != ']')
        p++;
      return p;
    }
  for (; p < end; p++)
    {
      if (in_string)
        {
          if (*p == '\\')
            p++;
          else if (*p == '"')
            {
              in_string = FALSE;
              if (depth == 0)
                return p + 1;
            }
        }
      else if (*p == '"')
        in_string = TRUE;
      else if (*p == '{' || *p == '[')
        depth++;
      else if ((*p == '}' || *p == ']') && --depth == 0)
        return p + 1;
    }
  return NULL;
}

static PlainChan *
plain_chan_by_json (PlainSub   *sub,
                    const char *name_json)
{
  if (name_json == NULL)
    return NULL;
  for (guint i = 0; i < sub->chans->len; i++)
    {
      PlainChan *chan = g_ptr_array_index (sub->chans, i);

      if (g_str_equal (chan->name_json, name_json))
        return chan;
    }
  return NULL;
}

/* Turns a unidirectional HTTP-stream chunk ({"channel":C,"pub":{"data":D,
 * "offset":N,...}}) into the long-poll element {"channel":C,"epoch":E,
 * "data":D,"offset":N,...}. Fan-out hands the same frame to every poll
 * session in a row, so the element is built once and cached with the
 * frame (the epoch is the channel stream's, the same for everyone).
 * Anything else (join, leave) goes into the array as the push itself.
 * Sets *@chan_out (NULL for a channel @sub did not ask for), *@epoch_out
 * and *@offset_out (0 when the publication has no position). */
static GBytes *
poll_element (PlainSub   *sub,
              GBytes     *frame,
              PlainChan **chan_out,
              const char **epoch_out,
              guint64    *offset_out)
{
  static const char chan_key[] = "{\"channel\":";
  static const char pub_key[] = ",\"pub\":{\"data\":";
  static const char offset_key[] = ",\"offset\":";
  PlainState *st = sub->st;
  gsize size;
  const char *raw = g_bytes_get_data (frame, &size);
  const char *end = raw + size;
  const char *body;
  const char *body_end;
  const char *chan_end;
  const char *data = NULL;
  const char *data_end = NULL;
  GString *out;

  if (st->elem_frame != frame)
    {
      g_clear_pointer (&st->elem_frame, g_bytes_unref);
      g_clear_pointer (&st->elem, g_bytes_unref);
      g_clear_pointer (&st->elem_channel, g_free);
      g_clear_pointer (&st->elem_epoch, g_free);
      st->elem_offset = 0;

      /* Strip the chunk framing: "<hex>\r\n" BODY "\n\r\n". */
      body = memchr (raw, '\n', size);
      body = body != NULL ? body + 1 : end;
      body_end = end;
      while (body_end > body && (body_end[-1] == '\n' || body_end[-1] == '\r'))
        body_end--;

      out = g_string_sized_new (body_end - body + 48);
      if (body_end - body > (gssize) sizeof chan_key &&
          memcmp (body, chan_key, sizeof chan_key - 1) == 0 &&
          (chan_end = json_value_end (body + sizeof chan_key - 1, body_end)) != NULL &&
          body_end - chan_end > (gssize) sizeof pub_key &&
          memcmp (chan_end, pub_key, sizeof pub_key - 1) == 0 &&
          (data_end = json_value_end (data = chan_end + sizeof pub_key - 1, body_end)) != NULL &&
          body_end - data_end >= 2 && memcmp (body_end - 2, "}}", 2) == 0)
        {
          const char *rest = data_end;
          const char *rest_end = body_end - 2;
          PlainChan *chan;

          st->elem_channel = g_strndup (body + sizeof chan_key - 1, chan_end - (body + sizeof chan_key - 1));
          if (rest_end - rest >= (gssize) sizeof offset_key &&
              memcmp (rest, offset_key, sizeof offset_key - 1) == 0)
            {
              const char *digits = rest + sizeof offset_key - 1;
              const char *q = digits;

              while (q < rest_end && g_ascii_isdigit (*q))
                q++;
              if (!parse_u64 (digits, q, &st->elem_offset))
                st->elem_offset = 0;
            }
          chan = plain_chan_by_json (sub, st->elem_channel);
          if (st->elem_offset > 0 && chan != NULL && sub->session != NULL)
            {
              CrierSubscription *s = g_hash_table_lookup (sub->session->subscriptions, chan->channel);

              st->elem_epoch = g_strdup (s != NULL && s->epoch != NULL ? s->epoch : "");
            }
          g_string_append_len (out, body, chan_end - body);
          if (st->elem_epoch != NULL)
            {
              g_string_append (out, ",\"epoch\":");
              crier_json_append_string (out, st->elem_epoch);
            }
          g_string_append (out, ",\"data\":");
          g_string_append_len (out, data, data_end - data);
          g_string_append_len (out, rest, rest_end - rest);
          g_string_append_c (out, '}');
        }
      else
        g_string_append_len (out, body, body_end - body);

      st->elem_frame = g_bytes_ref (frame);
      st->elem = g_string_free_to_bytes (out);
    }

  *chan_out = st->elem_offset > 0 ? plain_chan_by_json (sub, st->elem_channel) : NULL;
  *epoch_out = st->elem_epoch;
  *offset_out = st->elem_offset;
  return st->elem;
}

/* Appends an entry; a session over the outbound hard limit is slow. */
static gboolean
poll_buffer (PlainSub   *sub,
             GBytes     *element,
             PlainChan  *chan,
             const char *epoch,
             guint64     offset,
             gboolean    reset)
{
  const CrierConfig *config = crier_server_get_config (sub->st->server);
  PollEntry *entry;

  if (sub->closed)
    return FALSE;
  entry = g_new0 (PollEntry, 1);
  entry->seq = ++sub->seq;
  entry->element = g_bytes_ref (element);
  entry->chan = chan;
  entry->epoch = g_strdup (epoch);
  entry->offset = offset;
  entry->reset = reset;
  g_queue_push_tail (&sub->entries, entry);
  sub->buffered += g_bytes_get_size (element) + 1;

  if (config->outbound_hard_limit > 0 && sub->buffered > (gsize) config->outbound_hard_limit)
    {
      g_debug ("long poll %s: %" G_GSIZE_FORMAT " bytes waiting, over the hard limit: evicted",
               sub->session->id, sub->buffered);
      crier_engine_count_close (sub->st->engine, CRIER_CLOSE_SLOW);
      plain_disconnect (sub, 3008, "slow");
      return FALSE;
    }
  poll_maybe_respond (sub);
  return TRUE;
}

static void
poll_buffer_text (PlainSub   *sub,
                  const char *json,
                  PlainChan  *chan,
                  const char *epoch,
                  guint64     offset,
                  gboolean    reset)
{
  g_autoptr(GBytes) element = g_bytes_new (json, strlen (json));

  poll_buffer (sub, element, chan, epoch, offset, reset);
}

/* Drops what the client acknowledged with @seq. */
static void
poll_ack (PlainSub *sub,
          guint64   seq)
{
  PollEntry *entry;

  while ((entry = g_queue_peek_head (&sub->entries)) != NULL && entry->seq <= seq)
    {
      g_queue_pop_head (&sub->entries);
      sub->buffered -= g_bytes_get_size (entry->element) + 1;
      poll_entry_free (entry);
    }
}

static char *
poll_cursor (PlainSub *sub,
             guint64   seq)
{
  g_autofree char *positions = plain_positions (sub, TRUE);

  return g_strdup_printf ("%s.%" G_GUINT64_FORMAT "/%s", sub->session->id, seq, positions);
}

/* The answer to a poll: 200 with every unacknowledged entry (the
 * positions move with them), or 304 with the same cursor. */
static guint
poll_answer_build (PlainSub *sub,
                   guint64   acked,
                   char    **cursor_out,
                   GString **body_out)
{
  guint64 last = acked;
  GString *body;

  *body_out = NULL;
  if (g_queue_is_empty (&sub->entries))
    {
      *cursor_out = poll_cursor (sub, acked);
      return SOUP_STATUS_NOT_MODIFIED;
    }

  body = g_string_sized_new (sub->buffered + 2);
  g_string_append_c (body, '[');
  for (GList *l = sub->entries.head; l != NULL; l = l->next)
    {
      PollEntry *entry = l->data;
      gsize len;
      const char *el = g_bytes_get_data (entry->element, &len);
      PlainChan *chan = entry->chan;

      if (l != sub->entries.head)
        g_string_append_c (body, ',');
      g_string_append_len (body, el, len);
      last = entry->seq;
      if (chan != NULL && (entry->reset || entry->offset > 0) &&
          (entry->reset || !chan->has_pos || entry->offset > chan->pos_offset ||
           g_strcmp0 (entry->epoch, chan->pos_epoch) != 0))
        {
          chan->has_pos = TRUE;
          g_free (chan->pos_epoch);
          chan->pos_epoch = g_strdup (entry->epoch);
          chan->pos_offset = entry->offset;
        }
    }
  g_string_append_c (body, ']');
  *cursor_out = poll_cursor (sub, last);
  *body_out = body;
  return SOUP_STATUS_OK;
}

/* Answers a poll that was not held, through libsoup. */
static void
poll_answer (PlainSub          *sub,
             SoupServerMessage *msg,
             guint64            acked)
{
  const CrierConfig *config = crier_server_get_config (sub->st->server);
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  g_autofree char *cursor = NULL;
  g_autofree char *etag = NULL;
  GString *body = NULL;
  guint status = poll_answer_build (sub, acked, &cursor, &body);

  etag = g_strdup_printf ("\"%s\"", cursor);
  soup_message_headers_replace (h, "Cache-Control", CACHE_CONTROL);
  soup_message_headers_replace (h, "Pragma", "no-cache");
  soup_message_headers_replace (h, "Expires", "0");
  soup_message_headers_replace (h, "ETag", etag);
  crier_cors_apply (msg, config->allowed_origins, "ETag");
  if (body == NULL)
    {
      crier_http_no_body (msg, status);
      return;
    }
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, body->str, body->len);
  g_string_free (body, FALSE);
}

/* ---- handing a connection back to libsoup --------------------------------- */

/* A pollable input stream that yields the bytes we already read from the
 * socket first, then the socket's own stream. */
#define CRIER_TYPE_REPLAY_INPUT (crier_replay_input_get_type ())
G_DECLARE_FINAL_TYPE (CrierReplayInput, crier_replay_input, CRIER, REPLAY_INPUT, GInputStream)

struct _CrierReplayInput
{
  GInputStream  parent_instance;
  GInputStream *base;
  GBytes       *prefix;
  gsize         pos;
};

static void crier_replay_input_pollable_init (GPollableInputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (CrierReplayInput, crier_replay_input, G_TYPE_INPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM,
                                                      crier_replay_input_pollable_init))

static gssize
replay_take (CrierReplayInput *self,
             void             *buffer,
             gsize             count)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (self->prefix, &size);
  gsize n = MIN (count, size - self->pos);

  memcpy (buffer, data + self->pos, n);
  self->pos += n;
  if (self->pos == size)
    g_clear_pointer (&self->prefix, g_bytes_unref);
  return n;
}

static gssize
crier_replay_input_read (GInputStream  *stream,
                         void          *buffer,
                         gsize          count,
                         GCancellable  *cancellable,
                         GError       **error)
{
  CrierReplayInput *self = CRIER_REPLAY_INPUT (stream);

  if (self->prefix != NULL)
    return replay_take (self, buffer, count);
  return g_input_stream_read (self->base, buffer, count, cancellable, error);
}

static gboolean
crier_replay_input_close (GInputStream  *stream,
                          GCancellable  *cancellable,
                          GError       **error)
{
  return g_input_stream_close (CRIER_REPLAY_INPUT (stream)->base, cancellable, error);
}

static gboolean
crier_replay_input_can_poll (GPollableInputStream *stream)
{
  return TRUE;
}

static gboolean
crier_replay_input_is_readable (GPollableInputStream *stream)
{
  CrierReplayInput *self = CRIER_REPLAY_INPUT (stream);

  return self->prefix != NULL ||
         g_pollable_input_stream_is_readable (G_POLLABLE_INPUT_STREAM (self->base));
}

static GSource *
crier_replay_input_create_source (GPollableInputStream *stream,
                                  GCancellable         *cancellable)
{
  CrierReplayInput *self = CRIER_REPLAY_INPUT (stream);
  g_autoptr(GSource) child = NULL;

  if (self->prefix != NULL)
    child = g_idle_source_new ();  /* readable now */
  else
    child = g_pollable_input_stream_create_source (G_POLLABLE_INPUT_STREAM (self->base), cancellable);
  return g_pollable_source_new_full (stream, child, cancellable);
}

static gssize
crier_replay_input_read_nonblocking (GPollableInputStream *stream,
                                     void                 *buffer,
                                     gsize                 count,
                                     GError              **error)
{
  CrierReplayInput *self = CRIER_REPLAY_INPUT (stream);

  if (self->prefix != NULL)
    return replay_take (self, buffer, count);
  return g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (self->base), buffer, count,
                                                   NULL, error);
}

static void
crier_replay_input_pollable_init (GPollableInputStreamInterface *iface)
{
  iface->can_poll = crier_replay_input_can_poll;
  iface->is_readable = crier_replay_input_is_readable;
  iface->create_source = crier_replay_input_create_source;
  iface->read_nonblocking = crier_replay_input_read_nonblocking;
}

static void
crier_replay_input_finalize (GObject *object)
{
  CrierReplayInput *self = CRIER_REPLAY_INPUT (object);

  g_clear_object (&self->base);
  g_clear_pointer (&self->prefix, g_bytes_unref);
  G_OBJECT_CLASS (crier_replay_input_parent_class)->finalize (object);
}

static void
crier_replay_input_class_init (CrierReplayInputClass *klass)
{
  GInputStreamClass *stream_class = G_INPUT_STREAM_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = crier_replay_input_finalize;
  stream_class->read_fn = crier_replay_input_read;
  stream_class->close_fn = crier_replay_input_close;
}

static void
crier_replay_input_init (CrierReplayInput *self)
{
}

/* A TCP connection whose input starts with bytes read before: what
 * libsoup gets back, so it parses a request we already took in. Still a
 * GSocketConnection, so a stream can take it over again later. */
#define CRIER_TYPE_REPLAY_CONNECTION (crier_replay_connection_get_type ())
G_DECLARE_FINAL_TYPE (CrierReplayConnection, crier_replay_connection, CRIER, REPLAY_CONNECTION, GTcpConnection)

struct _CrierReplayConnection
{
  GTcpConnection  parent_instance;
  GBytes         *prefix;
  GInputStream   *input;
};

G_DEFINE_FINAL_TYPE (CrierReplayConnection, crier_replay_connection, G_TYPE_TCP_CONNECTION)

static GInputStream *
crier_replay_connection_get_input_stream (GIOStream *stream)
{
  CrierReplayConnection *self = CRIER_REPLAY_CONNECTION (stream);

  if (self->input == NULL)
    {
      GInputStream *base = G_IO_STREAM_CLASS (crier_replay_connection_parent_class)->get_input_stream (stream);
      CrierReplayInput *input = g_object_new (CRIER_TYPE_REPLAY_INPUT, NULL);

      input->base = g_object_ref (base);
      input->prefix = g_steal_pointer (&self->prefix);
      self->input = G_INPUT_STREAM (input);
    }
  return self->input;
}

static void
crier_replay_connection_finalize (GObject *object)
{
  CrierReplayConnection *self = CRIER_REPLAY_CONNECTION (object);

  g_clear_object (&self->input);
  g_clear_pointer (&self->prefix, g_bytes_unref);
  G_OBJECT_CLASS (crier_replay_connection_parent_class)->finalize (object);
}

static void
crier_replay_connection_class_init (CrierReplayConnectionClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = crier_replay_connection_finalize;
  G_IO_STREAM_CLASS (klass)->get_input_stream = crier_replay_connection_get_input_stream;
}

static void
crier_replay_connection_init (CrierReplayConnection *self)
{
}

/* Gives the connection back to libsoup, which parses what the client sent
 * (the bytes in pc->inbuf first) as it does on a fresh connection. */
static void
poll_conn_hand_back (PollConn *pc)
{
  PlainState *st = pc->st;
  CrierConn *conn = pc->conn;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(CrierReplayConnection) sconn = NULL;
  CrierConnToken *token;
  int fd;

  if (conn->stream != NULL)
    {
      /* TLS records cannot be replayed this way: the client asks again. */
      crier_conn_close (conn, CRIER_CLOSE_SERVER);
      return;
    }
  /* The listener's token (per-address count) follows the connection. */
  token = g_steal_pointer (&conn->token);
  fd = dup (conn->fd);
  crier_conn_close (conn, CRIER_CLOSE_SERVER);
  if (fd < 0)
    {
      if (token != NULL)
        token->release (token);
      return;
    }
  socket = g_socket_new_from_fd (fd, &error);
  if (socket == NULL)
    {
      close (fd);
      if (token != NULL)
        token->release (token);
      return;
    }
  sconn = g_object_new (CRIER_TYPE_REPLAY_CONNECTION, "socket", socket, NULL);
  if (pc->inbuf->len > 0)
    sconn->prefix = g_bytes_new (pc->inbuf->data, pc->inbuf->len);
  g_byte_array_set_size (pc->inbuf, 0);
  if (token != NULL)
    g_object_set_data_full (G_OBJECT (sconn), CRIER_CONN_TOKEN_KEY, token, (GDestroyNotify) token->release);
  if (!soup_server_accept_iostream (crier_server_get_soup (st->server), G_IO_STREAM (sconn),
                                    pc->local, pc->remote, &error))
    g_debug ("long poll: libsoup refused the connection back: %s", error->message);
}

/* ---- long polling on the engine --------------------------------------------- */

#define POLL_HEAD_MAX (16 * 1024)

/* Between polls a keep-alive connection obeys the HTTP phase's limits:
 * [limits] http_idle_timeout without a request, request_timeout for a
 * request that is slow to arrive. Returns FALSE when it was closed. */
static gboolean
poll_conn_schedule_idle (PollConn *pc)
{
  const CrierConfig *config = crier_server_get_config (pc->st->server);
  CrierConn *conn = pc->conn;
  gint64 now = crier_engine_now_ms (conn->engine);
  gint64 deadline = 0;

  if (pc->partial_since > 0 && config->request_timeout > 0)
    deadline = pc->partial_since + config->request_timeout;
  else if (pc->inbuf->len == 0 && config->http_idle_timeout > 0)
    deadline = pc->idle_since + config->http_idle_timeout;
  if (deadline > 0 && now >= deadline)
    {
      crier_conn_close (conn, CRIER_CLOSE_TIMEOUT);
      return FALSE;
    }
  crier_conn_set_timer (conn, deadline);
  return TRUE;
}

/* Writes a whole response; then the connection waits for the next
 * request (keep-alive) or closes. */
static void
poll_conn_respond (PollConn   *pc,
                   guint       status,
                   const char *headers,
                   const char *content_type,
                   const char *body,
                   gsize       len,
                   gboolean    keep_alive)
{
  CrierConn *conn = pc->conn;
  GString *out = g_string_sized_new (256 + len);

  keep_alive = keep_alive && conn->stream == NULL && !crier_server_is_draining (pc->st->server);
  g_string_append_printf (out, "HTTP/1.1 %u %s\r\n", status, soup_status_get_phrase (status));
  if (headers != NULL)
    g_string_append (out, headers);
  if (!keep_alive)
    g_string_append (out, "Connection: close\r\n");
  if (content_type != NULL)
    {
      g_string_append_printf (out, "Content-Type: %s\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n\r\n",
                              content_type, len);
      g_string_append_len (out, body, len);
    }
  else if (status == SOUP_STATUS_NOT_MODIFIED || status == SOUP_STATUS_NO_CONTENT)
    g_string_append (out, "\r\n");
  else
    g_string_append (out, "Content-Length: 0\r\n\r\n");

  {
    g_autoptr(GBytes) bytes = g_string_free_to_bytes (out);

    if (!crier_conn_send (conn, bytes))
      return;
  }
  if (!keep_alive)
    {
      crier_conn_close_after_flush (conn, CRIER_CLOSE_SERVER);
      return;
    }
  pc->idle_since = crier_engine_now_ms (conn->engine);
  /* A pipelined request waits in inbuf: handle it from the timer. */
  if (pc->inbuf->len > 0)
    crier_conn_set_timer (conn, pc->idle_since);
  else
    poll_conn_schedule_idle (pc);
}

/* "Access-Control-Allow-Origin: ...\r\n..." for an allowed @origin. */
static void
append_cors (GString    *out,
             const char *origin,
             const char *expose)
{
  if (origin == NULL)
    return;
  g_string_append_printf (out,
                          "Access-Control-Allow-Origin: %s\r\n"
                          "Access-Control-Allow-Credentials: true\r\n"
                          "Vary: Origin\r\n",
                          origin);
  if (expose != NULL)
    g_string_append_printf (out, "Access-Control-Expose-Headers: %s\r\n", expose);
}

static void
poll_conn_send_answer (PollConn   *pc,
                       PlainSub   *sub,
                       guint64     acked,
                       const char *origin,
                       gboolean    keep_alive)
{
  g_autofree char *cursor = NULL;
  GString *body = NULL;
  guint status = poll_answer_build (sub, acked, &cursor, &body);
  g_autoptr(GString) headers = g_string_new ("Cache-Control: " CACHE_CONTROL "\r\nPragma: no-cache\r\nExpires: 0\r\n");

  g_string_append_printf (headers, "ETag: \"%s\"\r\n", cursor);
  append_cors (headers, origin, "ETag");
  if (body != NULL)
    {
      poll_conn_respond (pc, status, headers->str, "application/json", body->str, body->len, keep_alive);
      g_string_free (body, TRUE);
    }
  else
    poll_conn_respond (pc, status, headers->str, NULL, NULL, 0, keep_alive);
}

/* Answers the held poll; its connection waits for the next request. */
static void
poll_release (PlainSub *sub)
{
  PollConn *pc = sub->held;
  const CrierConfig *config = crier_server_get_config (sub->st->server);
  g_autofree char *origin = NULL;

  if (pc == NULL)
    return;
  sub->held = NULL;
  pc->sub = NULL;
  sub->idle_deadline = mono_ms () + config->long_poll_idle_timeout;
  origin = g_steal_pointer (&pc->origin);
  poll_conn_send_answer (pc, sub, pc->acked, origin, pc->keep_alive);
}

static void
poll_maybe_respond (PlainSub *sub)
{
  if (sub->held != NULL && sub->unanswered == 0 &&
      (sub->held->fresh || !g_queue_is_empty (&sub->entries)))
    poll_release (sub);
}

/* The client left while its poll waited. */
static void
poll_abandon (PollConn        *pc,
              CrierCloseReason reason)
{
  PlainSub *sub = pc->sub;

  if (sub != NULL)
    {
      const CrierConfig *config = crier_server_get_config (sub->st->server);

      sub->held = NULL;
      pc->sub = NULL;
      sub->st->polls_abandoned++;
      sub->idle_deadline = mono_ms () + config->long_poll_idle_timeout;
    }
  crier_conn_close (pc->conn, reason);
}

/* Handles what the client sent while no poll of its waits: follow-up polls
 * are served here; anything else goes back to libsoup. */
static void
poll_conn_process (PollConn *pc)
{
  CrierConn *conn = pc->conn;

  for (guint i = 0; i < 64 && pc->sub == NULL && !conn->closed && !conn->closing && pc->inbuf->len > 0; i++)
    {
      const char *data = (const char *) pc->inbuf->data;
      const char *end = g_strstr_len (data, MIN (pc->inbuf->len, POLL_HEAD_MAX), "\r\n\r\n");
      g_autoptr(SoupMessageHeaders) headers = NULL;
      g_autoptr(GHashTable) query = NULL;
      g_autofree char *method = NULL;
      g_autofree char *target = NULL;
      g_autofree char *path = NULL;
      SoupHTTPVersion version;
      gsize head_len;
      const char *qmark;
      gboolean ours;

      if (end == NULL)
        {
          if (pc->inbuf->len >= POLL_HEAD_MAX)
            poll_conn_hand_back (pc);  /* libsoup answers it */
          return;
        }
      head_len = end + 4 - data;
      headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
      if (soup_headers_parse_request (data, head_len, headers, &method, &target, &version) != SOUP_STATUS_OK)
        {
          poll_conn_hand_back (pc);
          return;
        }

      /* Only a plain long poll stays: GET /sub/..., HTTP/1.1, no body, not
       * a WebSocket or event-stream request. */
      {
        const char *accept = soup_message_headers_get_one (headers, "Accept");

        ours = g_str_equal (method, "GET") && version == SOUP_HTTP_1_1 &&
               g_str_has_prefix (target, "/sub/") &&
               soup_message_headers_get_encoding (headers) == SOUP_ENCODING_NONE &&
               !soup_message_headers_header_contains (headers, "Upgrade", "websocket") &&
               (accept == NULL || strstr (accept, "text/event-stream") == NULL);
      }
      if (!ours)
        {
          poll_conn_hand_back (pc);
          return;
        }
      g_byte_array_remove_range (pc->inbuf, 0, head_len);
      pc->partial_since = pc->inbuf->len > 0 ? crier_engine_now_ms (conn->engine) : 0;

      qmark = strchr (target, '?');
      path = qmark != NULL ? g_strndup (target, qmark - target) : g_strdup (target);
      if (qmark != NULL && qmark[1] != '\0')
        query = soup_form_decode (qmark + 1);
      {
        PlainRequest req = {
          .pc = pc,
          .headers = headers,
          .query = query,
          .path = path,
          .keep_alive = !soup_message_headers_header_contains (headers, "Connection", "close"),
        };

        plain_serve (pc->st, &req);
      }
    }
}

static void
poll_conn_on_data (CrierConn    *conn,
                   const guint8 *data,
                   gsize         len)
{
  PollConn *pc = conn->data;

  if (pc->inbuf->len + len > 2 * POLL_HEAD_MAX)
    {
      /* More than one request's head while one waits: not a poller. */
      poll_abandon (pc, CRIER_CLOSE_PROTOCOL);
      return;
    }
  if (pc->inbuf->len == 0)
    pc->partial_since = crier_engine_now_ms (conn->engine);
  g_byte_array_append (pc->inbuf, data, len);
  /* Pipelined behind a waiting poll: handled after its answer. */
  if (pc->sub == NULL)
    {
      poll_conn_process (pc);
      if (!conn->closed && !conn->closing && pc->sub == NULL)
        poll_conn_schedule_idle (pc);
    }
}

static void
poll_conn_on_eof (CrierConn *conn)
{
  poll_abandon (conn->data, CRIER_CLOSE_PEER);
}

static void
poll_conn_on_timer (CrierConn *conn,
                    gint64     now_ms)
{
  PollConn *pc = conn->data;

  if (pc->sub != NULL)
    {
      /* long_poll_timeout: 304 with the same cursor. */
      pc->st->polls_timed_out++;
      poll_release (pc->sub);
      return;
    }
  if (pc->inbuf->len > 0)
    {
      poll_conn_process (pc);
      if (conn->closed || conn->closing || pc->sub != NULL)
        return;
    }
  poll_conn_schedule_idle (pc);
}

static void
poll_conn_on_shutdown (CrierConn *conn)
{
  PollConn *pc = conn->data;

  if (pc->sub != NULL)
    plain_disconnect (pc->sub, 3001, "shutdown");
  else
    crier_conn_close (conn, CRIER_CLOSE_SHUTDOWN);
}

static void
poll_conn_free (PollConn *pc)
{
  if (pc->sub != NULL && pc->sub->held == pc)
    pc->sub->held = NULL;
  g_clear_object (&pc->local);
  g_clear_object (&pc->remote);
  g_byte_array_unref (pc->inbuf);
  g_free (pc->origin);
  g_free (pc);
}

static void
poll_conn_on_closed (CrierConn       *conn,
                     CrierCloseReason reason)
{
  poll_conn_free (conn->data);
}

static const CrierConnClass poll_conn_class = {
  .name = "longpoll",
  .on_data = poll_conn_on_data,
  .on_eof = poll_conn_on_eof,
  .on_timer = poll_conn_on_timer,
  .on_shutdown = poll_conn_on_shutdown,
  .on_closed = poll_conn_on_closed,
};

/* The request's Origin when it is allowed (and safe to echo), else NULL. */
static const char *
request_origin (PlainState   *st,
                PlainRequest *req)
{
  const CrierConfig *config = crier_server_get_config (st->server);
  const char *origin = soup_message_headers_get_one (req->headers, "Origin");

  if (origin == NULL || !crier_origin_allowed (origin, config->allowed_origins) ||
      strpbrk (origin, "\r\n") != NULL)
    return NULL;
  return origin;
}

/* Holds a poll until there is something to answer or long_poll_timeout.
 * A request libsoup parsed moves its connection to the engine. */
static void
poll_hold (PlainSub     *sub,
           PlainRequest *req,
           guint64       acked,
           gboolean      fresh)
{
  PlainState *st = sub->st;
  const CrierConfig *config = crier_server_get_config (st->server);
  PollConn *pc = req->pc;

  /* A newer request of the same session wins: the old one is answered. */
  if (sub->held != NULL)
    poll_release (sub);

  if (pc == NULL)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *remote = crier_stream_remote_string (req->msg);
      GIOStream *io;

      pc = g_new0 (PollConn, 1);
      pc->st = st;
      pc->inbuf = g_byte_array_new ();
      pc->local = g_object_ref (soup_server_message_get_local_address (req->msg));
      pc->remote = g_object_ref (soup_server_message_get_remote_address (req->msg));
      io = soup_server_message_steal_connection (req->msg);
      if (io == NULL)
        {
          poll_conn_free (pc);
          return;
        }
      pc->conn = crier_engine_adopt (st->engine, io, remote, &poll_conn_class, pc, &error);
      if (pc->conn == NULL)
        {
          g_debug ("long poll from %s: %s", remote, error->message);
          poll_conn_free (pc);
          return;
        }
    }

  g_free (pc->origin);
  pc->origin = g_strdup (request_origin (st, req));
  pc->acked = acked;
  pc->fresh = fresh;
  pc->keep_alive = req->keep_alive;
  pc->sub = sub;
  sub->held = pc;
  crier_conn_set_timer (pc->conn, crier_engine_now_ms (st->engine) + config->long_poll_timeout);
  /* Bytes libsoup had read beyond the request arrive now, as pipelined. */
  if (req->pc == NULL)
    crier_conn_start (pc->conn);
}

/* Closes a poll session: its held request learns why, the hub forgets it
 * from the tick (not from inside a hub callback). */
static void
poll_close (PlainSub   *sub,
            const char *goodbye)
{
  PlainState *st = sub->st;

  if (goodbye != NULL)
    {
      g_autoptr(GBytes) element = g_bytes_new (goodbye, strlen (goodbye));
      PollEntry *entry = g_new0 (PollEntry, 1);

      entry->seq = ++sub->seq;
      entry->element = g_bytes_ref (element);
      g_queue_push_tail (&sub->entries, entry);
      sub->buffered += g_bytes_get_size (element) + 1;
    }
  sub->closed = TRUE;
  poll_release (sub);
  g_hash_table_remove (st->polls, sub->session->id);
  g_ptr_array_add (st->dead, sub);
  plain_ensure_tick (st);
}

/* ---- the session vtable ------------------------------------------------------ */

static void
plain_disconnect (PlainSub   *sub,
                  guint       code,
                  const char *reason)
{
  g_autoptr(GString) body = g_string_new (NULL);

  if (sub->closed)
    return;

  g_string_append_printf (body, "{\"code\":%u,\"reason\":", code);
  crier_json_append_string (body, reason != NULL ? reason : "");
  g_string_append_c (body, '}');
  g_debug ("plain %s: disconnect %u %s", sub->session != NULL ? sub->session->id : "?", code, reason);

  switch (sub->kind)
    {
    case PLAIN_SSE:
      {
        g_autofree char *event = sub->meta
          ? g_strdup_printf ("data: {\"disconnect\":%s}\n\n", body->str)
          : g_strdup_printf ("event: disconnect\ndata: %s\n\n", body->str);

        sub->closed = TRUE;
        crier_stream_end_with_data (sub->stream, event, strlen (event), crier_close_reason_for_code (code));
      }
      break;

    case PLAIN_WS:
      if (sub->meta)
        {
          g_autofree char *push = g_strdup_printf ("{\"disconnect\":%s}", body->str);

          crier_ws_send_text (sub->ws, push, strlen (push));
        }
      sub->closed = TRUE;
      crier_ws_close (sub->ws, code, reason, crier_close_reason_for_code (code));
      break;

    case PLAIN_POLL:
    default:
      {
        g_autofree char *element = g_strdup_printf ("{\"disconnect\":%s}", body->str);

        poll_close (sub, element);
      }
      break;
    }
}

static gboolean
plain_send_encoded (CrierSession *session,
                    GBytes       *frame)
{
  PlainSub *sub = session->transport;
  gboolean ok = FALSE;

  if (sub->closed)
    return FALSE;

  switch (sub->kind)
    {
    case PLAIN_SSE:
      ok = crier_stream_send_chunk (sub->stream, frame);
      if (ok && sub->chans->len > 1)
        plain_emit_id (sub);
      break;

    case PLAIN_WS:
      ok = crier_ws_send_frame (sub->ws, frame);
      break;

    case PLAIN_POLL:
    default:
      {
        PlainChan *chan = NULL;
        const char *epoch = NULL;
        guint64 offset = 0;
        GBytes *element = poll_element (sub, frame, &chan, &epoch, &offset);

        ok = poll_buffer (sub, element, chan, epoch, offset, FALSE);
      }
      break;
    }

  if (ok)
    session->pubs_out++;
  return ok;
}

static gboolean
plain_send_push (CrierSession *session,
                 const char   *push_json)
{
  PlainSub *sub = session->transport;
  g_autoptr(JsonParser) parser = NULL;
  JsonNode *root;
  JsonObject *push;

  if (sub->closed)
    return FALSE;
  if (sub->kind == PLAIN_POLL)
    {
      poll_buffer_text (sub, push_json, NULL, NULL, 0, FALSE);
      return !sub->closed;
    }
  if (sub->meta)
    {
      if (sub->kind == PLAIN_SSE)
        {
          g_autofree char *event = g_strdup_printf ("data: %s\n\n", push_json);

          return plain_send_text (sub, event);
        }
      return plain_send_text (sub, push_json);
    }

  /* Plain SSE names the push in an event; a plain WebSocket carries
   * payloads only, so it says nothing. */
  if (sub->kind != PLAIN_SSE)
    return TRUE;
  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, push_json, -1, NULL) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return TRUE;
  push = json_node_get_object (root);
  if (json_object_has_member (push, "unsubscribe") &&
      JSON_NODE_HOLDS_OBJECT (json_object_get_member (push, "unsubscribe")))
    {
      JsonObject *u = json_object_get_object_member (push, "unsubscribe");
      g_autoptr(GString) event = g_string_new ("event: unsubscribe\ndata: {\"channel\":");

      crier_json_append_string (event, json_object_get_string_member_with_default (push, "channel", ""));
      g_string_append_printf (event, ",\"code\":%" G_GINT64_FORMAT ",\"reason\":",
                              json_object_get_int_member_with_default (u, "code", 0));
      crier_json_append_string (event, json_object_get_string_member_with_default (u, "reason", ""));
      g_string_append (event, "}\n\n");
      return plain_send_text (sub, event->str);
    }
  return TRUE;
}

static void
plain_session_disconnect (CrierSession *session,
                          guint         code,
                          const char   *reason)
{
  plain_disconnect (session->transport, code, reason);
}

static const CrierSessionClass plain_sse_class = {
  .transport = "plain-sse",
  .send_encoded = plain_send_encoded,
  .send_push = plain_send_push,
  .disconnect = plain_session_disconnect,
};

static const CrierSessionClass plain_ws_class = {
  .transport = "plain-ws",
  .send_encoded = plain_send_encoded,
  .send_push = plain_send_push,
  .disconnect = plain_session_disconnect,
};

static const CrierSessionClass plain_poll_class = {
  .transport = "plain-poll",
  .send_encoded = plain_send_encoded,
  .send_push = plain_send_push,
  .disconnect = plain_session_disconnect,
};

/* ---- subscribing ------------------------------------------------------------ */

static void
plain_subscribed (CrierSession               *session,
                  const CrierSubscribeResult *result,
                  const GError               *error,
                  gpointer                    user_data)
{
  PlainSub *sub = session->transport;
  PlainChan *chan = user_data;
  GPtrArray *pubs;
  gboolean reset;
  g_autoptr(GString) info = NULL;

  sub->unanswered--;
  if (error != NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || sub->closed)
        return;
      g_debug ("plain %s: subscribe %s: %s", session->id, chan->channel, error->message);
      if (g_error_matches (error, CRIER_PROTO_ERROR, CRIER_PROTO_ERROR_LIMIT_EXCEEDED))
        plain_disconnect (sub, 3505, "channel limit");
      else if (g_error_matches (error, CRIER_PROTO_ERROR, CRIER_PROTO_ERROR_PERMISSION_DENIED))
        plain_disconnect (sub, 3507, "permission denied");
      else
        plain_disconnect (sub, 3004, "internal server error");
      return;
    }
  if (sub->closed)
    return;

  chan->subscribed = TRUE;
  pubs = result->publications;
  /* Asked to resume and could not: say so (no silent gaps). */
  reset = sub->resuming && !result->recovered;

  /* What the client should know of the channel's stream now. */
  info = g_string_new ("{\"channel\":");
  crier_json_append_string (info, chan->channel);
  if (result->positioned)
    {
      g_string_append (info, ",\"epoch\":");
      crier_json_append_string (info, result->epoch != NULL ? result->epoch : "");
      g_string_append_printf (info, ",\"offset\":%" G_GUINT64_FORMAT, result->offset);
    }

  switch (sub->kind)
    {
    case PLAIN_SSE:
    case PLAIN_WS:
      if (sub->meta)
        {
          g_autoptr(GString) push = g_string_new ("{\"channel\":");

          crier_json_append_string (push, chan->channel);
          g_string_append (push, ",\"subscribe\":{");
          if (result->positioned)
            {
              g_string_append (push, "\"positioned\":true,\"recoverable\":true,\"epoch\":");
              crier_json_append_string (push, result->epoch != NULL ? result->epoch : "");
              g_string_append_printf (push, ",\"offset\":%" G_GUINT64_FORMAT ",", result->offset);
            }
          g_string_append_printf (push, "\"was_recovering\":%s,\"recovered\":%s}}",
                                  sub->resuming ? "true" : "false",
                                  result->recovered ? "true" : "false");
          if (sub->kind == PLAIN_SSE)
            {
              g_string_prepend (push, "data: ");
              g_string_append (push, "\n\n");
            }
          if (!plain_send_text (sub, push->str))
            return;
        }
      else if (reset && sub->kind == PLAIN_SSE)
        {
          g_autofree char *event = g_strdup_printf ("event: reset\ndata: %s}\n\n", info->str);

          if (!plain_send_text (sub, event))
            return;
        }
      /* The hub already counts this channel at its top: while the missed
       * publications go out, the compound id must say how far they got. */
      for (guint i = 0; result->recovered && pubs != NULL && i < pubs->len && !sub->closed; i++)
        {
          CrierPublication *pub = g_ptr_array_index (pubs, i);

          sub->override_chan = chan;
          sub->override_offset = pub->offset;
          plain_send_encoded (session, crier_publication_encode (pub, session->encoding));
        }
      sub->override_chan = NULL;
      plain_emit_id (sub);
      break;

    case PLAIN_POLL:
    default:
      if (result->positioned)
        {
          chan->has_pos = TRUE;
          g_free (chan->pos_epoch);
          chan->pos_epoch = g_strdup (result->epoch != NULL ? result->epoch : "");
          chan->pos_offset = result->offset;
        }
      if (reset)
        {
          g_autofree char *element = g_strdup_printf ("%s,\"reset\":true}", info->str);

          poll_buffer_text (sub, element, result->positioned ? chan : NULL,
                            result->epoch != NULL ? result->epoch : "", result->offset, TRUE);
        }
      for (guint i = 0; result->recovered && pubs != NULL && i < pubs->len && !sub->closed; i++)
        plain_send_encoded (session, crier_publication_encode (g_ptr_array_index (pubs, i), session->encoding));
      poll_maybe_respond (sub);
      break;
    }
}

static void
plain_subscribe_all (PlainSub *sub)
{
  /* Answers may come right away (memory broker): count them all first. */
  sub->unanswered = sub->chans->len;
  for (guint i = 0; i < sub->chans->len; i++)
    {
      PlainChan *chan = g_ptr_array_index (sub->chans, i);
      const CrierPlainPosition *pos = crier_plain_cursor_find (sub->cursor, chan->channel);
      CrierSubscribeRequest request = {
        .channel = chan->channel,
        .recover = pos != NULL,
        .offset = pos != NULL ? pos->offset : 0,
        .epoch = pos != NULL ? pos->epoch : NULL,
        .want_positioned = TRUE,
        .want_recoverable = TRUE,
        .server_side = TRUE,
      };

      if (sub->closed)
        {
          sub->unanswered -= sub->chans->len - i;
          break;
        }
      crier_hub_subscribe (sub->st->hub, sub->session, &request, plain_subscribed, chan);
    }
  g_clear_pointer (&sub->cursor, crier_plain_cursor_free);
}

static void
plain_start_session (PlainSub                *sub,
                     const CrierSessionClass *klass,
                     CrierEncoding            encoding,
                     const PlainAuth         *auth,
                     const char              *remote,
                     const char              *user_agent)
{
  CrierSession *session = crier_session_new (klass, sub, encoding);

  crier_session_set_identity (session, auth->user, auth->info);
  session->remote = g_strdup (remote);
  session->user_agent = g_strdup (user_agent);
  session->expire_at = auth->exp;
  sub->session = session;
  crier_hub_add_session (sub->st->hub, session);
}

/* ---- requests: channels and authentication ---------------------------------- */

static void
plain_auth_clear (PlainAuth *auth)
{
  g_free (auth->user);
  g_free (auth->info);
}

/* An error document {"error":"..."}, with CORS, for either kind of
 * request; @header/@value: one more response header, or NULL. */
static void
plain_reply_error (PlainState   *st,
                   PlainRequest *req,
                   guint         status,
                   const char   *message,
                   const char   *header,
                   const char   *value)
{
  const CrierConfig *config = crier_server_get_config (st->server);
  g_autoptr(GString) body = g_string_new ("{\"error\":");

  crier_json_append_string (body, message);
  g_string_append (body, "}\n");
  if (req->msg != NULL)
    {
      SoupMessageHeaders *h = soup_server_message_get_response_headers (req->msg);

      crier_cors_apply (req->msg, config->allowed_origins, NULL);
      soup_message_headers_replace (h, "Cache-Control", "no-store");
      if (header != NULL)
        soup_message_headers_replace (h, header, value);
      soup_server_message_set_status (req->msg, status, NULL);
      soup_server_message_set_response (req->msg, "application/json", SOUP_MEMORY_COPY, body->str, body->len);
    }
  else
    {
      g_autoptr(GString) headers = g_string_new ("Cache-Control: no-store\r\n");

      append_cors (headers, request_origin (st, req), NULL);
      if (header != NULL)
        g_string_append_printf (headers, "%s: %s\r\n", header, value);
      poll_conn_respond (req->pc, status, headers->str, "application/json", body->str, body->len,
                         req->keep_alive);
    }
}

/* "chat#42,43": only users 42 and 43 (as for the Centrifugo protocol). */
static gboolean
user_allowed_by_name (const char *channel,
                      const char *user)
{
  const char *hash = strchr (channel, '#');
  g_auto(GStrv) users = NULL;

  if (hash == NULL)
    return TRUE;
  users = g_strsplit (hash + 1, ",", -1);
  return user[0] != '\0' && g_strv_contains ((const char * const *) users, user);
}

/* The channels of the path, deduplicated, in order; NULL after answering. */
static char **
parse_channels (PlainState   *st,
                PlainRequest *req)
{
  const char *path = req->path;
  const CrierConfig *config = crier_server_get_config (st->server);
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) parts = NULL;

  if (!g_str_has_prefix (path, "/sub/") || path[5] == '\0')
    {
      plain_reply_error (st, req, SOUP_STATUS_NOT_FOUND,
                         "name the channels in the path: GET /sub/CHANNEL[,CHANNEL...]", NULL, NULL);
      return NULL;
    }
  /* Split first, then decode: "%2C" stays inside a name. */
  parts = g_strsplit (path + 5, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *name = g_uri_unescape_string (parts[i], NULL);

      if (name == NULL || name[0] == '\0' || !g_utf8_validate (name, -1, NULL))
        {
          plain_reply_error (st, req, SOUP_STATUS_BAD_REQUEST, "empty or malformed channel name", NULL, NULL);
          return NULL;
        }
      if (g_ptr_array_find_with_equal_func (out, name, g_str_equal, NULL))
        continue;
      if (crier_hub_check_channel (st->hub, name, &error) == NULL)
        {
          g_autoptr(GString) m = g_string_new (NULL);

          crier_json_append_string (m, name);
          g_string_append_printf (m, ": %s", error->message);
          plain_reply_error (st, req,
                             error->code == CRIER_PROTO_ERROR_UNKNOWN_CHANNEL ? SOUP_STATUS_NOT_FOUND
                                                                              : SOUP_STATUS_BAD_REQUEST,
                             m->str, NULL, NULL);
          return NULL;
        }
      g_ptr_array_add (out, g_steal_pointer (&name));
    }
  if ((gint64) out->len > config->max_subscriptions)
    {
      plain_reply_error (st, req, SOUP_STATUS_BAD_REQUEST,
                         "too many channels ([limits] max_subscriptions)", NULL, NULL);
      return NULL;
    }
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&out), FALSE);
}

/* Anonymous when [auth] allow_anonymous, else a connection JWT from
 * "Authorization: Bearer" or ?token=. Every channel must be allowed: by
 * the token's "channels" claim, or by its namespace without a token.
 * FALSE after answering 401/403. */
static gboolean
plain_authenticate (PlainState   *st,
                    PlainRequest *req,
                    char        **channels,
                    PlainAuth    *auth)
{
  const CrierConfig *config = crier_server_get_config (st->server);
  const char *header = soup_message_headers_get_one (req->headers, "Authorization");
  GHashTable *query = req->query;
  const char *token = NULL;
  g_auto(GStrv) granted = NULL;
  g_autoptr(JsonObject) claims = NULL;

  memset (auth, 0, sizeof *auth);
  if (header != NULL && g_ascii_strncasecmp (header, "Bearer ", 7) == 0)
    token = header + 7;
  else if (query != NULL)
    token = g_hash_table_lookup (query, "token");
  if (token != NULL && token[0] == '\0')
    token = NULL;

  if (token != NULL)
    {
      g_autoptr(GError) error = NULL;
      CrierJwtOptions jwt_options;
      gint64 leeway;

      crier_cf_jwt_options (st->cf->config, &jwt_options, &leeway);
      if (!crier_jwt_verify (st->cf->keys, token, wall_s (), leeway, &jwt_options, &claims, &error) ||
          crier_jwt_claims_get_channel (claims) != NULL)
        {
          gboolean expired = g_error_matches (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_EXPIRED) ||
                             g_error_matches (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_NOT_YET_VALID);

          plain_reply_error (st, req, SOUP_STATUS_UNAUTHORIZED,
                             expired ? "token expired" : "invalid token", "WWW-Authenticate", "Bearer");
          return FALSE;
        }
      auth->user = g_strdup (crier_jwt_claims_get_sub (claims));
      if (crier_jwt_claims_get_info (claims) != NULL)
        auth->info = json_to_string (crier_jwt_claims_get_info (claims), FALSE);
      auth->exp = crier_jwt_claims_get_exp (claims);
      {
        gint64 expire_at;

        if (crier_jwt_claims_get_expire_at (claims, &expire_at))
          auth->exp = expire_at;
      }
      granted = crier_jwt_claims_dup_channels (claims);
    }
  else if (!config->allow_anonymous)
    {
      plain_reply_error (st, req, SOUP_STATUS_UNAUTHORIZED,
                         "a token is required: Authorization: Bearer TOKEN or ?token=TOKEN",
                         "WWW-Authenticate", "Bearer");
      return FALSE;
    }
  else
    auth->user = g_strdup ("");

  for (guint i = 0; channels[i] != NULL; i++)
    {
      const CrierNamespaceConfig *ns = crier_config_lookup_namespace (config, channels[i]);
      gboolean by_token = granted != NULL && g_strv_contains ((const char * const *) granted, channels[i]);
      gboolean by_namespace = ns != NULL && ns->allow_subscribe && !ns->require_sub_token &&
                              user_allowed_by_name (channels[i], auth->user);

      if (!by_token && !by_namespace)
        {
          g_autofree char *m = g_strdup_printf ("%s: permission denied", channels[i]);

          plain_reply_error (st, req, SOUP_STATUS_FORBIDDEN, m, NULL, NULL);
          plain_auth_clear (auth);
          return FALSE;
        }
    }

  if (config->max_connections_per_user > 0 && auth->user[0] != '\0' &&
      crier_hub_count_user_sessions (st->hub, auth->user) >= (guint) config->max_connections_per_user)
    {
      plain_reply_error (st, req, 429 /* too many requests */, "connection limit", NULL, NULL);
      plain_auth_clear (auth);
      return FALSE;
    }
  return TRUE;
}

static const char *
query_get (GHashTable *query,
           const char *name)
{
  return query != NULL ? g_hash_table_lookup (query, name) : NULL;
}

static gboolean
query_true (GHashTable *query,
            const char *name)
{
  const char *v = query_get (query, name);

  return v != NULL && (g_str_equal (v, "1") || g_ascii_strcasecmp (v, "true") == 0);
}

/* The resume cursor of a request; *bad when one was given but unreadable. */
static CrierPlainCursor *
request_cursor (PlainRequest *req,
                gboolean      poll,
                gboolean     *bad)
{
  SoupMessageHeaders *h = req->headers;
  GHashTable *query = req->query;
  const char *text = NULL;
  g_autofree char *etag = NULL;
  CrierPlainCursor *cursor;

  *bad = FALSE;
  if (poll)
    {
      const char *inm = soup_message_headers_get_one (h, "If-None-Match");

      text = query_get (query, "cursor");
      if (text == NULL && inm != NULL)
        {
          const char *q1;
          const char *q2;

          /* The first entity tag: [W/]"..." */
          q1 = strchr (inm, '"');
          q2 = q1 != NULL ? strchr (q1 + 1, '"') : NULL;
          if (q2 != NULL)
            text = etag = g_strndup (q1 + 1, q2 - q1 - 1);
        }
    }
  if (text == NULL)
    text = soup_message_headers_get_one (h, "Last-Event-ID");
  if (text == NULL)
    text = query_get (query, "last_event_id");
  if (text == NULL)
    text = query_get (query, "lastEventID");
  if (text == NULL)
    return NULL;

  cursor = crier_plain_cursor_parse (text);
  if (cursor == NULL)
    *bad = TRUE;
  return cursor;
}

/* ---- SSE ------------------------------------------------------------------- */

static void
plain_stream_deadline (CrierStream *stream,
                       gint64       now_ms,
                       gpointer     user_data)
{
  plain_disconnect (user_data, 3005, "connection expired");
}

static void
plain_stream_shutdown (CrierStream *stream,
                       gpointer     user_data)
{
  plain_disconnect (user_data, 3001, "shutdown");
}

static void
plain_stream_closed (CrierStream     *stream,
                     CrierCloseReason reason,
                     gpointer         user_data)
{
  PlainSub *sub = user_data;

  sub->closed = TRUE;
  sub->stream = NULL;
  plain_sub_free (sub);
}

static const CrierStreamHandler plain_stream_handler = {
  .on_deadline = plain_stream_deadline,
  .on_shutdown = plain_stream_shutdown,
  .on_closed = plain_stream_closed,
};

static gint64
expiry_deadline (gint64 exp)
{
  return exp > 0 ? mono_ms () + MAX (exp - wall_s (), 0) * 1000 : 0;
}

static void
plain_open_sse (PlainState        *st,
                SoupServerMessage *msg,
                char             **channels,
                CrierPlainCursor  *cursor,
                gboolean           meta,
                const PlainAuth   *auth)
{
  const CrierConfig *config = crier_server_get_config (st->server);
  static GBytes *comment;
  g_autofree char *remote = crier_stream_remote_string (msg);
  g_autofree char *user_agent = g_strdup (soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                                         "User-Agent"));
  PlainSub *sub;

  if (g_once_init_enter (&comment))
    g_once_init_leave (&comment, crier_stream_chunk_new (NULL, ":\n\n", 3, NULL));

  sub = plain_sub_new (st, PLAIN_SSE, meta, channels, cursor);
  sub->stream = crier_stream_accept (st->engine, msg, CRIER_STREAM_SSE, config->allowed_origins, "\r\n",
                                     &plain_stream_handler, sub);
  if (sub->stream == NULL)
    {
      plain_sub_free (sub);
      return;
    }
  plain_start_session (sub, &plain_sse_class, meta ? CRIER_ENC_UNI_SSE : CRIER_ENC_PLAIN_SSE,
                       auth, remote, user_agent);
  crier_stream_set_heartbeat (sub->stream, comment, config->ping_interval);
  crier_stream_set_deadline (sub->stream, expiry_deadline (auth->exp));
  plain_subscribe_all (sub);
  crier_stream_start (sub->stream);
}

/* ---- WebSocket ---------------------------------------------------------------- */

typedef struct
{
  PlainState       *st;
  char            **channels;
  CrierPlainCursor *cursor;
  gboolean          meta;
  PlainAuth         auth;
} PlainWsRequest;

/* Data of the upgrade message, freed with it: crier_ws_handle_upgrade()
 * does not tell when a client leaves before the 101, so on_open takes the
 * contents and the message always frees the rest. */
static void
plain_ws_request_free (gpointer data)
{
  PlainWsRequest *req = data;

  g_strfreev (req->channels);
  crier_plain_cursor_free (req->cursor);
  plain_auth_clear (&req->auth);
  g_free (req);
}

static void
plain_ws_open (CrierWs *ws,
               gpointer user_data)
{
  PlainWsRequest *req = user_data;
  PlainSub *sub;

  /* Runs while libsoup still holds the message, so @req is alive. */
  sub = plain_sub_new (req->st, PLAIN_WS, req->meta, req->channels, g_steal_pointer (&req->cursor));
  sub->ws = ws;
  ws->user_data = sub;
  plain_start_session (sub, &plain_ws_class, req->meta ? CRIER_ENC_UNI_WS : CRIER_ENC_PLAIN_WS,
                       &req->auth, ws->conn->remote, ws->user_agent);
  crier_ws_set_deadline (ws, expiry_deadline (req->auth.exp));
  plain_subscribe_all (sub);
}

static void
plain_ws_message (CrierWs      *ws,
                  const guint8 *data,
                  gsize         len,
                  gboolean      is_text,
                  gpointer      user_data)
{
  /* Receive-only: what a client sends is ignored. */
}

static void
plain_ws_deadline (CrierWs *ws,
                   gint64   now_ms,
                   gpointer user_data)
{
  plain_disconnect (user_data, 3005, "connection expired");
}

static void
plain_ws_closed (CrierWs         *ws,
                 CrierCloseReason reason,
                 guint16          code,
                 gpointer         user_data)
{
  PlainSub *sub = user_data;

  sub->closed = TRUE;
  sub->ws = NULL;
  plain_sub_free (sub);
}

static const CrierWsHandler plain_ws_handler = {
  .on_open = plain_ws_open,
  .on_message = plain_ws_message,
  .on_deadline = plain_ws_deadline,
  .on_closed = plain_ws_closed,
};

static void
plain_open_ws (PlainState        *st,
               SoupServerMessage *msg,
               char             **channels,
               CrierPlainCursor  *cursor,
               gboolean           meta,
               PlainAuth         *auth)
{
  const CrierConfig *config = crier_server_get_config (st->server);
  CrierWsOptions options = {
    .max_frame_size = config->ws_max_frame_size,
    .max_message_size = config->ws_max_message_size,
    .ping_interval_ms = config->ping_interval,
    .pong_timeout_ms = config->pong_timeout,
    .allowed_origins = config->allowed_origins,
    .limits = crier_server_get_limit_stats (st->server),
  };
  PlainWsRequest *req = g_new0 (PlainWsRequest, 1);

  req->st = st;
  req->channels = g_strdupv (channels);
  req->cursor = cursor;
  req->meta = meta;
  req->auth = *auth;
  memset (auth, 0, sizeof *auth);
  g_object_set_data_full (G_OBJECT (msg), "crier-plain-ws", req, plain_ws_request_free);
  crier_ws_handle_upgrade (st->engine, msg, &options, &plain_ws_handler, req);
}

/* ---- long polling ------------------------------------------------------------- */

static gboolean
same_channels (PlainSub *sub,
               char    **channels)
{
  if (g_strv_length (channels) != sub->chans->len)
    return FALSE;
  for (guint i = 0; channels[i] != NULL; i++)
    if (plain_chan_by_name (sub, channels[i]) == NULL)
      return FALSE;
  return TRUE;
}

static void
poll_request (PlainState       *st,
              PlainRequest     *req,
              char            **channels,
              CrierPlainCursor *cursor,
              const PlainAuth  *auth)
{
  const CrierConfig *config = crier_server_get_config (st->server);
  PlainSub *sub = NULL;
  guint64 acked = 0;
  gboolean fresh = FALSE;

  if (cursor != NULL && cursor->session != NULL)
    sub = g_hash_table_lookup (st->polls, cursor->session);
  if (sub != NULL && !sub->closed && same_channels (sub, channels) &&
      g_strcmp0 (sub->session->user, auth->user) == 0)
    {
      /* The client's session: drop what it has, answer or wait. */
      acked = MIN (cursor->seq, sub->seq);
      poll_ack (sub, acked);
      crier_plain_cursor_free (cursor);
    }
  else
    {
      g_autofree char *remote = NULL;
      const char *user_agent = soup_message_headers_get_one (req->headers, "User-Agent");

      if (req->msg != NULL)
        remote = crier_stream_remote_string (req->msg);
      else
        remote = g_strdup (req->pc->conn->remote);
      /* A new session; a cursor without one (gone, expired, another node)
       * resumes from its positions. */
      sub = plain_sub_new (st, PLAIN_POLL, TRUE, channels, cursor);
      plain_start_session (sub, &plain_poll_class, CRIER_ENC_UNI_STREAM, auth, remote, user_agent);
      sub->idle_deadline = mono_ms () + config->long_poll_idle_timeout;
      g_hash_table_insert (st->polls, sub->session->id, sub);
      plain_ensure_tick (st);
      plain_subscribe_all (sub);
      /* A request that starts a session is answered as soon as it is
       * subscribed, with what was missed or 304: either way the client
       * holds a cursor from then on, so nothing falls between polls. */
      fresh = TRUE;
    }

  if (sub->unanswered == 0 && (fresh || !g_queue_is_empty (&sub->entries)))
    {
      if (sub->held != NULL)
        poll_release (sub);
      if (req->msg != NULL)
        poll_answer (sub, req->msg, acked);
      else
        poll_conn_send_answer (req->pc, sub, acked, request_origin (st, req), req->keep_alive);
      sub->idle_deadline = mono_ms () + config->long_poll_idle_timeout;
      return;
    }
  poll_hold (sub, req, acked, fresh);
}

/* ---- the tick: poll timeouts, idle expiry, drain, reaping -------------------- */

static gboolean
plain_tick (gpointer data)
{
  PlainState *st = data;
  gint64 now = mono_ms ();
  gboolean draining = crier_server_is_draining (st->server);
  g_autoptr(GPtrArray) to_close = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  /* 1. Sessions without a poll for long_poll_idle_timeout: gone (a held
   *    poll times out on the engine's timer, see poll_conn_on_timer).
   * 2. Drain: every session says goodbye (3001, reconnect elsewhere). */
  g_hash_table_iter_init (&iter, st->polls);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      PlainSub *sub = value;

      if (draining || (sub->held == NULL && now >= sub->idle_deadline))
        g_ptr_array_add (to_close, sub);
    }
  for (guint i = 0; i < to_close->len; i++)
    {
      PlainSub *sub = g_ptr_array_index (to_close, i);

      if (draining)
        plain_disconnect (sub, 3001, "shutdown");
      else
        {
          g_debug ("long poll %s: no request for %" G_GINT64_FORMAT " ms: expired",
                   sub->session != NULL ? sub->session->id : "?",
                   crier_server_get_config (st->server)->long_poll_idle_timeout);
          crier_engine_count_close (st->engine, CRIER_CLOSE_TIMEOUT);
          poll_close (sub, NULL);
        }
    }

  /* 3. Closed sessions leave the hub here, outside any hub callback. */
  while (st->dead->len > 0)
    {
      g_autoptr(GPtrArray) dead = st->dead;

      st->dead = g_ptr_array_new ();
      for (guint i = 0; i < dead->len; i++)
        plain_sub_free (g_ptr_array_index (dead, i));
    }

  if (g_hash_table_size (st->polls) == 0)
    {
      g_clear_pointer (&st->tick, g_source_unref);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
plain_ensure_tick (PlainState *st)
{
  if (st->tick != NULL)
    return;
  st->tick = g_timeout_source_new (TICK_MS);
  g_source_set_name (st->tick, "crier-plain-tick");
  g_source_set_callback (st->tick, plain_tick, st, NULL);
  g_source_attach (st->tick, crier_engine_get_context (st->engine));
}

/* ---- handlers ----------------------------------------------------------------- */

/* A GET /sub request: checks, channels, cursor, authentication, then the
 * transport. Follow-up polls parsed on the engine come here too. */
static void
plain_serve (PlainState   *st,
             PlainRequest *req)
{
  const CrierConfig *config = crier_server_get_config (st->server);
  SoupMessageHeaders *h = req->headers;
  const char *accept = soup_message_headers_get_one (h, "Accept");
  gboolean websocket = req->msg != NULL && soup_message_headers_header_contains (h, "Upgrade", "websocket");
  gboolean sse = req->msg != NULL && !websocket && accept != NULL && strstr (accept, "text/event-stream") != NULL;
  const char *transport = websocket ? "websocket" : sse ? "sse" : "longpoll";
  const char *origin = soup_message_headers_get_one (h, "Origin");
  g_auto(GStrv) channels = NULL;
  g_autoptr(CrierPlainCursor) cursor = NULL;
  PlainAuth auth;
  gboolean bad_cursor;

  if (crier_server_is_draining (st->server))
    {
      plain_reply_error (st, req, SOUP_STATUS_SERVICE_UNAVAILABLE, "draining", NULL, NULL);
      return;
    }
  if (crier_transport_disabled (config, transport))
    {
      plain_reply_error (st, req, SOUP_STATUS_SERVICE_UNAVAILABLE,
                         "transport disabled (debug_disable_transports)", NULL, NULL);
      return;
    }
  /* WebSocket checks its origin itself (403 before the handshake). */
  if (!websocket && origin != NULL && !crier_origin_allowed (origin, config->allowed_origins))
    {
      crier_cors_refused (req->path, origin, crier_server_get_limit_stats (st->server));
      plain_reply_error (st, req, SOUP_STATUS_FORBIDDEN, "origin not allowed", NULL, NULL);
      return;
    }

  channels = parse_channels (st, req);
  if (channels == NULL)
    return;
  cursor = request_cursor (req, !websocket && !sse, &bad_cursor);
  if (bad_cursor)
    {
      plain_reply_error (st, req, SOUP_STATUS_BAD_REQUEST,
                         "unreadable cursor: expect EPOCH:OFFSET or CHANNEL=EPOCH:OFFSET,...", NULL, NULL);
      return;
    }
  if (!plain_authenticate (st, req, channels, &auth))
    return;

  if (websocket)
    plain_open_ws (st, req->msg, channels, g_steal_pointer (&cursor), query_true (req->query, "meta"), &auth);
  else if (sse)
    {
      if (crier_stream_check_request (req->msg, config->allowed_origins,
                                      crier_server_get_limit_stats (st->server)))
        plain_open_sse (st, req->msg, channels, g_steal_pointer (&cursor), query_true (req->query, "meta"), &auth);
    }
  else
    poll_request (st, req, channels, g_steal_pointer (&cursor), &auth);
  plain_auth_clear (&auth);
}

static void
handle_sub (SoupServer        *soup,
            SoupServerMessage *msg,
            const char        *path,
            GHashTable        *query,
            gpointer           user_data)
{
  PlainState *st = user_data;
  const CrierConfig *config = crier_server_get_config (st->server);
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  const char *method = soup_server_message_get_method (msg);
  PlainRequest req = {
    .msg = msg,
    .headers = h,
    .query = query,
    .path = path,
    .keep_alive = !soup_message_headers_header_contains (h, "Connection", "close"),
  };

  if (method == SOUP_METHOD_OPTIONS)
    {
      crier_cors_preflight (msg, config->allowed_origins, "GET, OPTIONS",
                            crier_server_get_limit_stats (st->server));
      return;
    }
  if (method != SOUP_METHOD_GET)
    {
      plain_reply_error (st, &req, SOUP_STATUS_METHOD_NOT_ALLOWED,
                         "subscribe with GET (publish with POST /pub/CHANNEL)", "Allow", "GET, OPTIONS");
      return;
    }
  plain_serve (st, &req);
}

static GBytes *
crier_js_bytes (void)
{
  static GBytes *js;

  if (g_once_init_enter (&js))
    {
      GBytes *bytes = g_resource_lookup_data (crierd_get_resource (), "/io/github/crier/crierd/crier.js",
                                              G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);

      g_once_init_leave (&js, bytes != NULL ? bytes : g_bytes_new_static ("", 0));
    }
  return js;
}

static void
handle_crier_js (SoupServer        *soup,
                 SoupServerMessage *msg,
                 const char        *path,
                 GHashTable        *query,
                 gpointer           user_data)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);

  if (soup_server_message_get_method (msg) != SOUP_METHOD_GET &&
      soup_server_message_get_method (msg) != SOUP_METHOD_HEAD)
    {
      soup_message_headers_replace (h, "Allow", "GET, HEAD");
      crier_http_no_body (msg, SOUP_STATUS_METHOD_NOT_ALLOWED);
      return;
    }
  soup_message_headers_replace (h, "Cache-Control", "public, max-age=300");
  soup_message_headers_replace (h, "Access-Control-Allow-Origin", "*");
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "application/javascript; charset=utf-8", SOUP_MEMORY_COPY,
                                    g_bytes_get_data (crier_js_bytes (), NULL),
                                    g_bytes_get_size (crier_js_bytes ()));
}

/* Test pages: files of [server] debug_pages_dir, one path component. */
static void
handle_debug_page (SoupServer        *soup,
                   SoupServerMessage *msg,
                   const char        *path,
                   GHashTable        *query,
                   gpointer           user_data)
{
  PlainState *st = user_data;
  const CrierConfig *config = crier_server_get_config (st->server);
  const char *name = path + strlen ("/debug/page/");
  g_autofree char *file = NULL;
  g_autofree char *contents = NULL;
  const char *type = "application/octet-stream";
  gsize len;

  if (!g_str_has_prefix (path, "/debug/page/") || name[0] == '\0' || name[0] == '.' ||
      strchr (name, '/') != NULL || config->debug_pages_dir == NULL || config->debug_pages_dir[0] == '\0')
    {
      crier_http_no_body (msg, SOUP_STATUS_NOT_FOUND);
      return;
    }
  file = g_build_filename (config->debug_pages_dir, name, NULL);
  if (!g_file_get_contents (file, &contents, &len, NULL) || len > DEBUG_PAGE_MAX)
    {
      crier_http_no_body (msg, SOUP_STATUS_NOT_FOUND);
      return;
    }
  if (g_str_has_suffix (name, ".html"))
    type = "text/html; charset=utf-8";
  else if (g_str_has_suffix (name, ".js") || g_str_has_suffix (name, ".mjs"))
    type = "application/javascript; charset=utf-8";
  else if (g_str_has_suffix (name, ".json"))
    type = "application/json";
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control", "no-store");
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, type, SOUP_MEMORY_TAKE, g_steal_pointer (&contents), len);
}

/* ---- registration -------------------------------------------------------------- */

static void
plain_state_free (gpointer data)
{
  PlainState *st = data;
  GHashTableIter iter;
  gpointer value;

  /* The server is finalizing: the engine (with the held polls) and the
   * hub are gone, so sessions are only freed. */
  if (st->tick != NULL)
    {
      g_source_destroy (st->tick);
      g_source_unref (st->tick);
    }
  g_hash_table_iter_init (&iter, st->polls);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (st->dead, value);
  g_hash_table_steal_all (st->polls);
  for (guint i = 0; i < st->dead->len; i++)
    {
      PlainSub *sub = g_ptr_array_index (st->dead, i);

      /* Held polls were engine connections, closed before this. */
      g_assert (sub->held == NULL);
      if (sub->session != NULL)
        sub->session->registered = FALSE;
      plain_sub_free (sub);
    }
  g_ptr_array_unref (st->dead);
  g_hash_table_unref (st->polls);
  g_clear_pointer (&st->elem_frame, g_bytes_unref);
  g_clear_pointer (&st->elem, g_bytes_unref);
  g_free (st->elem_channel);
  g_free (st->elem_epoch);
  g_free (st);
}

void
crier_plain_register (CrierServer    *server,
                      SoupServer     *soup,
                      CrierCfContext *cf)
{
  const CrierConfig *config = crier_server_get_config (server);
  PlainState *st;

  g_return_if_fail (CRIER_IS_SERVER (server));

  st = g_new0 (PlainState, 1);
  st->server = server;
  st->cf = cf;
  st->hub = crier_server_get_hub (server);
  st->engine = crier_server_get_engine (server);
  st->polls = g_hash_table_new (g_str_hash, g_str_equal);
  st->dead = g_ptr_array_new ();
  g_object_set_data_full (G_OBJECT (server), PLAIN_KEY, st, plain_state_free);

  soup_server_add_handler (soup, "/sub", handle_sub, st, NULL);
  soup_server_add_handler (soup, "/crier.js", handle_crier_js, st, NULL);
  if (config->debug_endpoints)
    soup_server_add_handler (soup, "/debug/page", handle_debug_page, st, NULL);
}
