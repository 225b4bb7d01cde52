/* fuzz-ws-codec.c: the RFC 6455 decoder, encoder and UTF-8 validator.
 *
 * Input: byte 0 picks the limits (bits 0-2 max_frame_size, bits 3-5
 * max_message_size, from limits[]), bytes 1 and 2 pick two split points,
 * the rest is the byte stream.  The stream is decoded in server mode and
 * in client mode, each three times: in one piece, in three pieces, and
 * byte by byte.  All three must give the same events (the decoder is a
 * state machine: how the bytes arrive must not matter), and every event
 * must respect the limits and the API's promises.  Messages are then
 * re-encoded and decoded back, and the UTF-8 validator is compared with a
 * plain reference implementation.
 */
#include "config.h"

#include "fuzz-common.h"

#include "crier-ws-codec.h"

#define MAX_EVENTS 256

static const gsize limits[8] = { 0, 1, 2, 125, 126, 127, 4096, 65536 };

typedef struct
{
  CrierWsEventType type;
  CrierWsOpcode    opcode;
  guint16          code;
  GBytes          *payload;
} Event;

typedef struct
{
  Event events[MAX_EVENTS];
  guint n_events;
  gsize consumed;
  gboolean finished;   /* got ERROR or CLOSE */
} Run;

/* ---- reference UTF-8 validator (RFC 3629, written the obvious way) ------ */

static gboolean
ref_utf8_validate (const guint8 *p,
                   gsize         n)
{
  gsize i = 0;

  while (i < n)
    {
      guint8 b = p[i];
      guint32 cp;
      guint32 min;
      gsize k;

      if (b < 0x80)
        {
          i++;
          continue;
        }
      if ((b & 0xE0) == 0xC0)
        {
          cp = b & 0x1F;
          k = 1;
          min = 0x80;
        }
      else if ((b & 0xF0) == 0xE0)
        {
          cp = b & 0x0F;
          k = 2;
          min = 0x800;
        }
      else if ((b & 0xF8) == 0xF0)
        {
          cp = b & 0x07;
          k = 3;
          min = 0x10000;
        }
      else
        {
          return FALSE;
        }

      if (n - i - 1 < k)
        return FALSE;
      for (gsize j = 1; j <= k; j++)
        {
          if ((p[i + j] & 0xC0) != 0x80)
            return FALSE;
          cp = (cp << 6) | (p[i + j] & 0x3F);
        }
      if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return FALSE;
      i += k + 1;
    }

  return TRUE;
}

static void
check_utf8 (const guint8 *p,
            gsize         n)
{
  gboolean ours = crier_ws_utf8_validate (p, n);
  g_autofree char *copy = NULL;

  FUZZ_CHECK (ours == ref_utf8_validate (p, n));

  /* GLib agrees too, once NULs (valid UTF-8, refused by GLib) are out. */
  copy = g_malloc (n + 1);
  for (gsize i = 0; i < n; i++)
    copy[i] = p[i] != 0 ? (char) p[i] : 'A';
  FUZZ_CHECK (ours == g_utf8_validate_len (copy, n, NULL));
}

static gboolean
close_code_ok (guint16 code)
{
  if (code >= 3000 && code <= 4999)
    return TRUE;
  return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006;
}

/* ---- decoding ------------------------------------------------------------ */

static void
check_event (const CrierWsDecoder *decoder,
             const CrierWsEvent   *ev,
             gsize                 max_frame,
             gsize                 max_message)
{
  switch (ev->type)
    {
    case CRIER_WS_EVENT_NEED_MORE:
      break;

    case CRIER_WS_EVENT_MESSAGE:
      FUZZ_CHECK (ev->opcode == CRIER_WS_OP_TEXT || ev->opcode == CRIER_WS_OP_BINARY);
      FUZZ_CHECK (ev->data != NULL);
      FUZZ_CHECK (max_message == 0 || ev->len <= max_message);
      if (ev->opcode == CRIER_WS_OP_TEXT)
        FUZZ_CHECK (ref_utf8_validate (ev->data, ev->len));
      break;

    case CRIER_WS_EVENT_PING:
    case CRIER_WS_EVENT_PONG:
      FUZZ_CHECK (ev->data != NULL);
      FUZZ_CHECK (ev->len <= 125);
      FUZZ_CHECK (max_frame == 0 || ev->len <= max_frame);
      break;

    case CRIER_WS_EVENT_CLOSE:
      FUZZ_CHECK (ev->data != NULL);
      FUZZ_CHECK (ev->len <= 123);
      if (ev->code == CRIER_WS_CLOSE_NO_STATUS)
        {
          FUZZ_CHECK (ev->len == 0);
        }
      else
        {
          FUZZ_CHECK (close_code_ok (ev->code));
          FUZZ_CHECK (max_frame == 0 || ev->len + 2 <= max_frame);
        }
      FUZZ_CHECK (ref_utf8_validate (ev->data, ev->len));
      break;

    case CRIER_WS_EVENT_ERROR:
      FUZZ_CHECK (ev->reason != NULL);
      FUZZ_CHECK (ev->code == CRIER_WS_CLOSE_PROTOCOL_ERROR ||
                  ev->code == CRIER_WS_CLOSE_BAD_DATA ||
                  ev->code == CRIER_WS_CLOSE_TOO_BIG);
      break;

    default:
      FUZZ_CHECK (!"unknown event type");
    }

  /* Whatever is held is bounded by the limit plus one header and one
   * control payload. */
  if (max_message != 0)
    FUZZ_CHECK (crier_ws_decoder_buffered (decoder) <= max_message + 14 + 125);
}

/* Feeds one chunk until it is used up or the decoder is done. */
static void
feed_chunk (CrierWsDecoder *decoder,
            Run            *run,
            const guint8   *p,
            gsize           len,
            gsize           max_frame,
            gsize           max_message)
{
  while (!run->finished)
    {
      CrierWsEvent ev;
      gsize consumed = G_MAXSIZE;
      CrierWsEventType type;

      type = crier_ws_decoder_feed (decoder, p, len, &consumed, &ev);
      FUZZ_CHECK (type == ev.type);
      FUZZ_CHECK (consumed <= len);
      check_event (decoder, &ev, max_frame, max_message);
      run->consumed += consumed;

      if (type == CRIER_WS_EVENT_NEED_MORE)
        {
          FUZZ_CHECK (consumed == len);
          return;
        }

      /* Every event but a refusal comes from at least one new byte, or
       * the caller's "call again" loop would never end. */
      if (type != CRIER_WS_EVENT_ERROR)
        FUZZ_CHECK (consumed > 0);

      if (run->n_events < MAX_EVENTS)
        {
          Event *e = &run->events[run->n_events++];

          e->type = type;
          e->opcode = type == CRIER_WS_EVENT_MESSAGE ? ev.opcode : 0;
          e->code = ev.code;
          e->payload = type != CRIER_WS_EVENT_ERROR ? g_bytes_new (ev.data, ev.len) : NULL;
        }

      p += consumed;
      len -= consumed;

      if (type == CRIER_WS_EVENT_ERROR || type == CRIER_WS_EVENT_CLOSE)
        {
          /* Done: the decoder refuses anything more. */
          FUZZ_CHECK (crier_ws_decoder_feed (decoder, p, len, &consumed, &ev) == CRIER_WS_EVENT_ERROR);
          FUZZ_CHECK (consumed == 0);
          run->finished = TRUE;
        }
    }
}

static void
decode (Run          *run,
        gboolean      server,
        gsize         max_frame,
        gsize         max_message,
        const guint8 *stream,
        gsize         len,
        const gsize  *cuts,
        guint         n_cuts)
{
  CrierWsDecoder decoder;
  gsize start = 0;

  memset (run, 0, sizeof *run);
  crier_ws_decoder_init (&decoder, server, max_frame, max_message);

  for (guint i = 0; i <= n_cuts; i++)
    {
      gsize end = i < n_cuts ? cuts[i] : len;

      g_assert (start <= end && end <= len);
      feed_chunk (&decoder, run, stream + start, end - start, max_frame, max_message);
      start = end;
    }
  FUZZ_CHECK (run->finished || run->consumed == len);

  crier_ws_decoder_clear (&decoder);
}

static void
run_clear (Run *run)
{
  for (guint i = 0; i < run->n_events; i++)
    g_clear_pointer (&run->events[i].payload, g_bytes_unref);
}

static void
runs_equal (const Run *a,
            const Run *b)
{
  FUZZ_CHECK (a->n_events == b->n_events);
  FUZZ_CHECK (a->finished == b->finished);
  for (guint i = 0; i < a->n_events; i++)
    {
      const Event *x = &a->events[i];
      const Event *y = &b->events[i];

      FUZZ_CHECK (x->type == y->type);
      FUZZ_CHECK (x->opcode == y->opcode);
      FUZZ_CHECK (x->code == y->code);
      FUZZ_CHECK ((x->payload == NULL) == (y->payload == NULL));
      if (x->payload != NULL)
        FUZZ_CHECK (g_bytes_equal (x->payload, y->payload));
    }
}

/* ---- encoder round trips ------------------------------------------------- */

/* Decodes one whole frame and expects exactly @want back. */
static void
expect_one (gboolean          server,
            GBytes           *frame,
            CrierWsEventType  want,
            CrierWsOpcode     opcode,
            GBytes           *payload)
{
  CrierWsDecoder decoder;
  CrierWsEvent ev;
  gsize size;
  const guint8 *p = g_bytes_get_data (frame, &size);
  gsize consumed;

  crier_ws_decoder_init (&decoder, server, 0, 0);
  FUZZ_CHECK (crier_ws_decoder_feed (&decoder, p, size, &consumed, &ev) == want);
  FUZZ_CHECK (consumed == size);
  if (want == CRIER_WS_EVENT_MESSAGE)
    FUZZ_CHECK (ev.opcode == opcode);
  if (payload != NULL)
    {
      FUZZ_CHECK (ev.len == g_bytes_get_size (payload));
      FUZZ_CHECK (ev.len == 0 || memcmp (ev.data, g_bytes_get_data (payload, NULL), ev.len) == 0);
    }
  crier_ws_decoder_clear (&decoder);
}

static void
round_trip (const Run    *run,
            const guint8  mask[4])
{
  for (guint i = 0; i < run->n_events && i < 8; i++)
    {
      const Event *e = &run->events[i];
      g_autoptr(GBytes) server_frame = NULL;
      g_autoptr(GBytes) client_frame = NULL;
      CrierWsOpcode op;
      gsize len;
      gconstpointer data;

      if (e->type == CRIER_WS_EVENT_MESSAGE)
        op = e->opcode;
      else if (e->type == CRIER_WS_EVENT_PING)
        op = CRIER_WS_OP_PING;
      else if (e->type == CRIER_WS_EVENT_PONG)
        op = CRIER_WS_OP_PONG;
      else
        continue;

      data = g_bytes_get_data (e->payload, &len);
      server_frame = crier_ws_frame_new (op, data, len);
      FUZZ_CHECK (g_bytes_get_size (server_frame) == crier_ws_frame_header_len (len) + len);
      expect_one (FALSE, server_frame, e->type, op, e->payload);

      client_frame = crier_ws_client_frame_new (op, TRUE, mask, data, len);
      FUZZ_CHECK (g_bytes_get_size (client_frame) == crier_ws_frame_header_len (len) + 4 + len);
      expect_one (TRUE, client_frame, e->type, op, e->payload);
    }
}

static void
close_frame (guint16       code,
             const guint8 *reason,
             gsize         len)
{
  g_autofree char *text = fuzz_strndup (reason, len);
  g_autoptr(GBytes) frame = crier_ws_close_frame_new (code, text);
  gsize size = g_bytes_get_size (frame);

  FUZZ_CHECK (size >= 2 && size <= 2 + 125);
  if (code == 0 || code == CRIER_WS_CLOSE_NO_STATUS)
    {
      FUZZ_CHECK (size == 2);
      expect_one (FALSE, frame, CRIER_WS_EVENT_CLOSE, CRIER_WS_OP_CLOSE, NULL);
    }
  else if (close_code_ok (code))
    {
      const guint8 *p = g_bytes_get_data (frame, NULL);
      gsize reason_len = size - 4;

      /* The reason is a prefix of the given text, cut at a character. */
      FUZZ_CHECK (reason_len <= strlen (text));
      FUZZ_CHECK (memcmp (p + 4, text, reason_len) == 0);
      expect_one (FALSE, frame, CRIER_WS_EVENT_CLOSE, CRIER_WS_OP_CLOSE, NULL);
    }
  else
    {
      expect_one (FALSE, frame, CRIER_WS_EVENT_ERROR, 0, NULL);
    }
}

/* ---- entry points -------------------------------------------------------- */

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  fuzz_init ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  const guint8 *stream;
  gsize len;
  guint8 flags = 0;
  gsize cuts[2] = { 0, 0 };
  guint8 mask[4] = { 0x37, 0xfa, 0x21, 0x3d };

  if (size >= 3)
    {
      flags = data[0];
      stream = data + 3;
      len = size - 3;
      cuts[0] = len > 0 ? data[1] % (len + 1) : 0;
      cuts[1] = cuts[0] + (len > cuts[0] ? data[2] % (len - cuts[0] + 1) : 0);
      memcpy (mask, data, 3);
    }
  else
    {
      stream = data;
      len = size;
    }

  check_utf8 (stream, len);
  check_utf8 (stream + cuts[0], len - cuts[0]);

  for (int server = 0; server <= 1; server++)
    {
      gsize max_frame = limits[flags & 7];
      gsize max_message = limits[(flags >> 3) & 7];
      Run whole, thirds, bytes;

      decode (&whole, server, max_frame, max_message, stream, len, NULL, 0);
      decode (&thirds, server, max_frame, max_message, stream, len, cuts, 2);
      runs_equal (&whole, &thirds);

      if (len <= 4096)
        {
          g_autofree gsize *all = g_new (gsize, len + 1);

          for (gsize i = 0; i < len; i++)
            all[i] = i;
          decode (&bytes, server, max_frame, max_message, stream, len, all, (guint) len);
          runs_equal (&whole, &bytes);
          run_clear (&bytes);
        }

      round_trip (&whole, mask);
      run_clear (&whole);
      run_clear (&thirds);
    }

  if (len >= 2)
    close_frame ((guint16) ((stream[0] << 8) | stream[1]), stream + 2, len - 2);

  {
    guint8 header[10];
    guint64 n = 0;

    for (gsize i = 0; i < len && i < 8; i++)
      n = (n << 8) | stream[i];
    FUZZ_CHECK (crier_ws_frame_write_header (header, CRIER_WS_OP_BINARY, TRUE, (gsize) n) ==
                crier_ws_frame_header_len ((gsize) n));
  }

  if (len <= 256)
    {
      g_autofree char *key = fuzz_strndup (stream, len);
      g_autofree char *accept = crier_ws_accept_key (key);

      FUZZ_CHECK (strlen (accept) == 28);
    }

  return 0;
}
