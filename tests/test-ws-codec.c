/* test-ws-codec.c: RFC 6455 framing, decoder rules, encoder, UTF-8. */
#include "config.h"

#include "crier-ws-codec.h"

#include <string.h>

static const guint8 test_mask[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* One decoder event, with its payload copied out (event data is only valid
 * until the next feed). */
typedef struct
{
  CrierWsEventType type;
  CrierWsOpcode    opcode;
  guint16          code;
  GBytes          *data;
} TestEvent;

static void
test_event_free (gpointer data)
{
  TestEvent *ev = data;

  g_bytes_unref (ev->data);
  g_free (ev);
}

typedef enum
{
  CHUNK_WHOLE,
  CHUNK_BYTES,
  CHUNK_RANDOM,
} Chunking;

/* Feeds @len bytes of @data to @decoder in pieces chosen by @chunking and
 * returns the events, stopping after ERROR or CLOSE.  Also checks the
 * feed() contract: NEED_MORE consumes everything, the input is never
 * modified, and consumed never exceeds what was given. */
static GPtrArray *
feed_chunked (CrierWsDecoder *decoder,
              const guint8   *data,
              gsize           len,
              Chunking        chunking,
              GRand          *rand)
{
  GPtrArray *events = g_ptr_array_new_with_free_func (test_event_free);
  g_autofree guint8 *copy = g_memdup2 (data, len);
  gsize off = 0;
  gboolean done = FALSE;

  while (off < len && !done)
    {
      gsize chunk;
      gsize left;
      const guint8 *p;

      switch (chunking)
        {
        case CHUNK_WHOLE:
          chunk = len - off;
          break;
        case CHUNK_BYTES:
          chunk = 1;
          break;
        case CHUNK_RANDOM:
        default:
          /* Not inside MIN(): it would draw twice. */
          chunk = (gsize) g_rand_int_range (rand, 1, 300);
          chunk = MIN (len - off, chunk);
          break;
        }

      p = data + off;
      left = chunk;
      while (!done)
        {
          CrierWsEvent ev;
          CrierWsEventType type;
          gsize consumed = G_MAXSIZE;

          type = crier_ws_decoder_feed (decoder, p, left, &consumed, &ev);
          g_assert_cmpint (type, ==, ev.type);
          g_assert_cmpuint (consumed, <=, left);
          p += consumed;
          left -= consumed;

          if (type == CRIER_WS_EVENT_NEED_MORE)
            {
              g_assert_cmpuint (left, ==, 0);
              break;
            }
          else
            {
              TestEvent *tev = g_new0 (TestEvent, 1);

              tev->type = type;
              tev->opcode = ev.opcode;
              tev->code = ev.code;
              if (type == CRIER_WS_EVENT_ERROR)
                {
                  g_assert_nonnull (ev.reason);
                  g_assert_cmpuint (ev.code, !=, 0);
                }
              g_assert_true (ev.data != NULL || ev.len == 0);
              tev->data = g_bytes_new (ev.data, ev.len);
              g_ptr_array_add (events, tev);

              if (type == CRIER_WS_EVENT_ERROR || type == CRIER_WS_EVENT_CLOSE)
                done = TRUE;
              else if (left == 0)
                break;
            }
        }
      off += chunk;
    }

  g_assert_cmpmem (data, len, copy, len);

  return events;
}

static GPtrArray *
decode (gboolean      server,
        gsize         max_frame,
        gsize         max_message,
        const guint8 *data,
        gsize         len,
        Chunking      chunking)
{
  CrierWsDecoder decoder;
  GPtrArray *events;
  g_autoptr(GRand) rand = g_rand_new_with_seed (0xc71e5);

  crier_ws_decoder_init (&decoder, server, max_frame, max_message);
  events = feed_chunked (&decoder, data, len, chunking, rand);
  crier_ws_decoder_clear (&decoder);

  return events;
}

static TestEvent *
event_at (GPtrArray *events,
          guint      i)
{
  g_assert_cmpuint (i, <, events->len);
  return g_ptr_array_index (events, i);
}

static void
assert_event (GPtrArray        *events,
              guint             i,
              CrierWsEventType  type,
              const void       *data,
              gsize             len)
{
  TestEvent *ev = event_at (events, i);
  gsize ev_len;
  const guint8 *ev_data = g_bytes_get_data (ev->data, &ev_len);

  g_assert_cmpint (ev->type, ==, type);
  g_assert_cmpmem (ev_data, ev_len, data, len);
}

static void
assert_message (GPtrArray     *events,
                guint          i,
                CrierWsOpcode  opcode,
                const void    *data,
                gsize          len)
{
  assert_event (events, i, CRIER_WS_EVENT_MESSAGE, data, len);
  g_assert_cmpint (event_at (events, i)->opcode, ==, opcode);
}

/* The stream must end in an ERROR with @code, whatever the chunking. */
static void
assert_error (gboolean      server,
              gsize         max_frame,
              gsize         max_message,
              const guint8 *data,
              gsize         len,
              guint16       code)
{
  for (Chunking c = CHUNK_WHOLE; c <= CHUNK_RANDOM; c++)
    {
      g_autoptr(GPtrArray) events = decode (server, max_frame, max_message, data, len, c);
      TestEvent *last;

      g_assert_cmpuint (events->len, >, 0);
      last = event_at (events, events->len - 1);
      g_assert_cmpint (last->type, ==, CRIER_WS_EVENT_ERROR);
      g_assert_cmpuint (last->code, ==, code);
    }
}

static void
assert_server_error (GByteArray *stream,
                     guint16     code)
{
  assert_error (TRUE, 0, 0, stream->data, stream->len, code);
}

/* Appends a masked client frame to @stream. */
static void
append_client (GByteArray    *stream,
               CrierWsOpcode  opcode,
               gboolean       fin,
               const void    *payload,
               gsize          len)
{
  g_autoptr(GBytes) frame = crier_ws_client_frame_new (opcode, fin, test_mask, payload, len);

  g_byte_array_append (stream,
                       g_bytes_get_data (frame, NULL),
                       (guint) g_bytes_get_size (frame));
}

static void
append_client_str (GByteArray    *stream,
                   CrierWsOpcode  opcode,
                   gboolean       fin,
                   const char    *payload)
{
  append_client (stream, opcode, fin, payload, strlen (payload));
}

/* Builds a masked close frame with raw @payload. */
static void
append_close_raw (GByteArray *stream,
                  const void *payload,
                  gsize       len)
{
  append_client (stream, CRIER_WS_OP_CLOSE, TRUE, payload, len);
}

static void
append_close_code (GByteArray *stream,
                   guint16     code,
                   const char *reason)
{
  guint8 payload[125];
  gsize rlen = reason != NULL ? strlen (reason) : 0;

  g_assert_cmpuint (rlen, <=, 123);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  if (rlen > 0)
    memcpy (payload + 2, reason, rlen);
  append_close_raw (stream, payload, 2 + rlen);
}

static guint8 *
make_payload (gsize len)
{
  guint8 *p = g_malloc (len + 1);

  for (gsize i = 0; i < len; i++)
    p[i] = (guint8) ((i * 7 + i / 251) & 0xff);

  return p;
}

/* ------------------------------------------------------------------------ */
/* RFC examples                                                              */
/* ------------------------------------------------------------------------ */

static void
test_accept_key (void)
{
  g_autofree char *accept = crier_ws_accept_key ("dGhlIHNhbXBsZSBub25jZQ==");
  g_autofree char *other = crier_ws_accept_key ("x3JJHMbDL1EzLkh9GBhXDw==");

  /* RFC 6455 §1.3 (the value is 28 characters: a base64 SHA-1). */
  g_assert_cmpstr (accept, ==, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  /* Second value from the websocket.org / Wikipedia handshake example. */
  g_assert_cmpstr (other, ==, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

static void
test_rfc_masked_hello (void)
{
  static const guint8 frame[] = {
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
  };
  g_autoptr(GBytes) built = crier_ws_client_frame_new (CRIER_WS_OP_TEXT, TRUE, test_mask,
                                                       "Hello", 5);

  for (Chunking c = CHUNK_WHOLE; c <= CHUNK_RANDOM; c++)
    {
      g_autoptr(GPtrArray) events = decode (TRUE, 0, 0, frame, sizeof frame, c);

      g_assert_cmpuint (events->len, ==, 1);
      assert_message (events, 0, CRIER_WS_OP_TEXT, "Hello", 5);
    }

  /* The encoder produces exactly the RFC bytes. */
  g_assert_cmpmem (g_bytes_get_data (built, NULL), g_bytes_get_size (built), frame, sizeof frame);

  /* A client-side decoder must refuse the masked frame. */
  assert_error (FALSE, 0, 0, frame, sizeof frame, CRIER_WS_CLOSE_PROTOCOL_ERROR);
}

static void
test_rfc_unmasked_hello (void)
{
  static const guint8 frame[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
  g_autoptr(GBytes) built = crier_ws_frame_new (CRIER_WS_OP_TEXT, "Hello", 5);
  g_autoptr(GPtrArray) events = decode (FALSE, 0, 0, frame, sizeof frame, CHUNK_WHOLE);

  g_assert_cmpuint (events->len, ==, 1);
  assert_message (events, 0, CRIER_WS_OP_TEXT, "Hello", 5);
  g_assert_cmpmem (g_bytes_get_data (built, NULL), g_bytes_get_size (built), frame, sizeof frame);

  /* A server-side decoder must refuse the unmasked frame. */
  assert_error (TRUE, 0, 0, frame, sizeof frame, CRIER_WS_CLOSE_PROTOCOL_ERROR);
}

static void
test_rfc_fragmented_hello (void)
{
  static const guint8 frames[] = {
    0x01, 0x03, 0x48, 0x65, 0x6c,  /* "Hel", FIN clear */
    0x80, 0x02, 0x6c, 0x6f,        /* "lo", continuation, FIN */
  };

  for (Chunking c = CHUNK_WHOLE; c <= CHUNK_RANDOM; c++)
    {
      g_autoptr(GPtrArray) events = decode (FALSE, 0, 0, frames, sizeof frames, c);

      g_assert_cmpuint (events->len, ==, 1);
      assert_message (events, 0, CRIER_WS_OP_TEXT, "Hello", 5);
    }
}

static void
test_rfc_ping_pong (void)
{
  static const guint8 ping[] = { 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
  static const guint8 pong[] = { 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
  g_autoptr(GPtrArray) ping_events = decode (FALSE, 0, 0, ping, sizeof ping, CHUNK_BYTES);
  g_autoptr(GPtrArray) pong_events = decode (TRUE, 0, 0, pong, sizeof pong, CHUNK_BYTES);
  g_autoptr(GBytes) built = crier_ws_frame_new (CRIER_WS_OP_PING, "Hello", 5);

  g_assert_cmpuint (ping_events->len, ==, 1);
  assert_event (ping_events, 0, CRIER_WS_EVENT_PING, "Hello", 5);
  g_assert_cmpuint (pong_events->len, ==, 1);
  assert_event (pong_events, 0, CRIER_WS_EVENT_PONG, "Hello", 5);
  g_assert_cmpmem (g_bytes_get_data (built, NULL), g_bytes_get_size (built), ping, sizeof ping);
}

static void
test_rfc_long_lengths (void)
{
  g_autofree guint8 *p256 = make_payload (256);
  g_autofree guint8 *p64k = make_payload (65536);
  g_autoptr(GBytes) f256 = crier_ws_frame_new (CRIER_WS_OP_BINARY, p256, 256);
  g_autoptr(GBytes) f64k = crier_ws_frame_new (CRIER_WS_OP_BINARY, p64k, 65536);
  static const guint8 h256[] = { 0x82, 0x7E, 0x01, 0x00 };
  static const guint8 h64k[] = { 0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00 };
  const guint8 *d;
  g_autoptr(GPtrArray) e256 = NULL;
  g_autoptr(GPtrArray) e64k = NULL;

  d = g_bytes_get_data (f256, NULL);
  g_assert_cmpuint (g_bytes_get_size (f256), ==, 4 + 256);
  g_assert_cmpmem (d, 4, h256, 4);
  e256 = decode (FALSE, 0, 0, d, g_bytes_get_size (f256), CHUNK_WHOLE);
  assert_message (e256, 0, CRIER_WS_OP_BINARY, p256, 256);

  d = g_bytes_get_data (f64k, NULL);
  g_assert_cmpuint (g_bytes_get_size (f64k), ==, 10 + 65536);
  g_assert_cmpmem (d, 10, h64k, 10);
  e64k = decode (FALSE, 0, 0, d, g_bytes_get_size (f64k), CHUNK_RANDOM);
  assert_message (e64k, 0, CRIER_WS_OP_BINARY, p64k, 65536);
}

/* ------------------------------------------------------------------------ */
/* Round trips                                                               */
/* ------------------------------------------------------------------------ */

static const gsize roundtrip_lengths[] = { 0, 1, 7, 8, 9, 125, 126, 127, 65535, 65536, 100000 };

static void
test_roundtrip_server_frames (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (roundtrip_lengths); i++)
    {
      gsize len = roundtrip_lengths[i];
      g_autofree guint8 *payload = make_payload (len);
      g_autoptr(GBytes) frame = crier_ws_frame_new (CRIER_WS_OP_BINARY, payload, len);
      gsize hlen = len <= 125 ? 2 : len <= 65535 ? 4 : 10;
      gsize size;
      const guint8 *d = g_bytes_get_data (frame, &size);

      g_assert_cmpuint (crier_ws_frame_header_len (len), ==, hlen);
      g_assert_cmpuint (size, ==, hlen + len);
      g_assert_cmpuint (d[0], ==, 0x82);
      g_assert_cmpuint (d[1] & 0x80, ==, 0);  /* never masked */

      for (Chunking c = CHUNK_WHOLE; c <= CHUNK_RANDOM; c++)
        {
          g_autoptr(GPtrArray) events = NULL;

          if (c == CHUNK_BYTES && len > 70000)
            continue;
          events = decode (FALSE, 0, 0, d, size, c);
          g_assert_cmpuint (events->len, ==, 1);
          assert_message (events, 0, CRIER_WS_OP_BINARY, payload, len);
        }
    }
}

static void
test_roundtrip_client_frames (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (roundtrip_lengths); i++)
    {
      gsize len = roundtrip_lengths[i];
      g_autofree guint8 *payload = g_malloc (len + 1);
      g_autoptr(GBytes) frame = NULL;
      gsize size;
      const guint8 *d;
      gsize hlen = (len <= 125 ? 2 : len <= 65535 ? 4 : 10) + 4;

      /* Text, so the UTF-8 validator sees the unmasked bytes. */
      for (gsize j = 0; j < len; j++)
        payload[j] = 'a' + (j % 26);
      frame = crier_ws_client_frame_new (CRIER_WS_OP_TEXT, TRUE, test_mask, payload, len);
      d = g_bytes_get_data (frame, &size);
      g_assert_cmpuint (size, ==, hlen + len);
      g_assert_cmpuint (d[1] & 0x80, ==, 0x80);
      g_assert_cmpmem (d + hlen - 4, 4, test_mask, 4);
      if (len >= 4)
        g_assert_cmpint (memcmp (d + hlen, payload, 4), !=, 0);  /* really masked */

      for (Chunking c = CHUNK_WHOLE; c <= CHUNK_RANDOM; c++)
        {
          g_autoptr(GPtrArray) events = decode (TRUE, 0, 0, d, size, c);

          g_assert_cmpuint (events->len, ==, 1);
          assert_message (events, 0, CRIER_WS_OP_TEXT, payload, len);
        }
    }
}

/* Unmasking starts at every alignment of the destination and every phase
 * of the mask: feed a frame after a prefix of k bytes so the word loop sees
 * all offsets. */
static void
test_unmask_alignment (void)
{
  for (gsize len = 0; len < 40; len++)
    for (gsize split = 0; split <= len; split++)
      {
        g_autofree guint8 *payload = make_payload (len);
        g_autoptr(GBytes) frame = crier_ws_client_frame_new (CRIER_WS_OP_BINARY, TRUE, test_mask,
                                                             payload, len);
        gsize size;
        const guint8 *d = g_bytes_get_data (frame, &size);
        gsize hlen = size - len;
        CrierWsDecoder decoder;
        CrierWsEvent ev;
        gsize consumed;

        crier_ws_decoder_init (&decoder, TRUE, 0, 0);
        /* Header plus @split payload bytes, then the rest. */
        if (split < len)
          {
            g_assert_cmpint (crier_ws_decoder_feed (&decoder, d, hlen + split, &consumed, &ev), ==,
                             CRIER_WS_EVENT_NEED_MORE);
            g_assert_cmpint (crier_ws_decoder_feed (&decoder, d + hlen + split, len - split,
                                                    &consumed, &ev),
                             ==, CRIER_WS_EVENT_MESSAGE);
          }
        else
          {
            g_assert_cmpint (crier_ws_decoder_feed (&decoder, d, size, &consumed, &ev), ==,
                             CRIER_WS_EVENT_MESSAGE);
          }
        g_assert_cmpmem (ev.data, ev.len, payload, len);
        crier_ws_decoder_clear (&decoder);
      }
}

static void
test_header_encoding (void)
{
  static const struct
  {
    gsize  len;
    gsize  hlen;
    guint8 bytes[10];
  } cases[] = {
    { 0, 2, { 0x81, 0x00 } },
    { 125, 2, { 0x81, 125 } },
    { 126, 4, { 0x81, 126, 0x00, 126 } },
    { 65535, 4, { 0x81, 126, 0xff, 0xff } },
    { 65536, 10, { 0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00 } },
    { 100000, 10, { 0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x86, 0xa0 } },
    { G_MAXUINT32, 10, { 0x81, 127, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff } },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      guint8 out[10];

      g_assert_cmpuint (crier_ws_frame_header_len (cases[i].len), ==, cases[i].hlen);
      g_assert_cmpuint (crier_ws_frame_write_header (out, CRIER_WS_OP_TEXT, TRUE, cases[i].len), ==,
                        cases[i].hlen);
      g_assert_cmpmem (out, cases[i].hlen, cases[i].bytes, cases[i].hlen);
    }

  /* FIN clear and other opcodes. */
  {
    guint8 out[10];

    g_assert_cmpuint (crier_ws_frame_write_header (out, CRIER_WS_OP_BINARY, FALSE, 3), ==, 2);
    g_assert_cmpuint (out[0], ==, 0x02);
    g_assert_cmpuint (out[1], ==, 3);
    g_assert_cmpuint (crier_ws_frame_write_header (out, CRIER_WS_OP_CONTINUATION, TRUE, 3), ==, 2);
    g_assert_cmpuint (out[0], ==, 0x80);
    g_assert_cmpuint (crier_ws_frame_write_header (out, CRIER_WS_OP_PONG, TRUE, 0), ==, 2);
    g_assert_cmpuint (out[0], ==, 0x8a);
  }
}

/* Server control frames are built valid or not at all. */
static void
test_frame_new_control_too_long (void)
{
  if (g_test_subprocess ())
    {
      guint8 payload[126] = { 0 };
      g_autoptr(GBytes) frame = crier_ws_frame_new (CRIER_WS_OP_PING, payload, sizeof payload);

      g_assert_null (frame);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*len <= 125*");
}

/* ------------------------------------------------------------------------ */
/* Fragmentation and chunking                                                */
/* ------------------------------------------------------------------------ */

static void
test_fragmented_interleaved (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();

  append_client_str (s, CRIER_WS_OP_TEXT, FALSE, "Hel");
  append_client_str (s, CRIER_WS_OP_PING, TRUE, "p1");
  append_client_str (s, CRIER_WS_OP_CONTINUATION, FALSE, "lo ");
  append_client_str (s, CRIER_WS_OP_PONG, TRUE, "");
  append_client_str (s, CRIER_WS_OP_CONTINUATION, FALSE, "");
  append_client_str (s, CRIER_WS_OP_PING, TRUE, "p2");
  append_client_str (s, CRIER_WS_OP_CONTINUATION, TRUE, "world");
  append_client_str (s, CRIER_WS_OP_BINARY, TRUE, "next");

  for (Chunking c = CHUNK_WHOLE; c <= CHUNK_RANDOM; c++)
    {
      g_autoptr(GPtrArray) events = decode (TRUE, 0, 0, s->data, s->len, c);

      g_assert_cmpuint (events->len, ==, 5);
      assert_event (events, 0, CRIER_WS_EVENT_PING, "p1", 2);
      assert_event (events, 1, CRIER_WS_EVENT_PONG, "", 0);
      assert_event (events, 2, CRIER_WS_EVENT_PING, "p2", 2);
      assert_message (events, 3, CRIER_WS_OP_TEXT, "Hello world", 11);
      assert_message (events, 4, CRIER_WS_OP_BINARY, "next", 4);
    }
}

static void
test_fragmented_close (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();
  g_autoptr(GPtrArray) events = NULL;

  /* A close in the middle of a fragmented message is delivered at once. */
  append_client_str (s, CRIER_WS_OP_BINARY, FALSE, "part");
  append_close_code (s, 1001, "bye");
  append_client_str (s, CRIER_WS_OP_CONTINUATION, TRUE, "rest");

  events = decode (TRUE, 0, 0, s->data, s->len, CHUNK_WHOLE);
  g_assert_cmpuint (events->len, ==, 1);
  assert_event (events, 0, CRIER_WS_EVENT_CLOSE, "bye", 3);
  g_assert_cmpuint (event_at (events, 0)->code, ==, 1001);
}

/* A stream with every kind of frame, for the chunking tests. */
static GByteArray *
build_mixed_stream (GPtrArray **expected)
{
  GByteArray *s = g_byte_array_new ();
  GPtrArray *exp = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autofree guint8 *big = make_payload (70000);
  static const char euro_text[] = "pr\xe2\x82\xac" "ces \xf0\x9f\x98\x80 ok";

  append_client_str (s, CRIER_WS_OP_TEXT, TRUE, "first");
  g_ptr_array_add (exp, g_bytes_new_static ("first", 5));

  append_client (s, CRIER_WS_OP_BINARY, TRUE, big, 300);
  g_ptr_array_add (exp, g_bytes_new (big, 300));

  append_client (s, CRIER_WS_OP_TEXT, FALSE, euro_text, 4);
  append_client_str (s, CRIER_WS_OP_PING, TRUE, "ping");
  g_ptr_array_add (exp, g_bytes_new_static ("ping", 4));
  append_client (s, CRIER_WS_OP_CONTINUATION, FALSE, euro_text + 4, 7);
  append_client (s, CRIER_WS_OP_CONTINUATION, TRUE, euro_text + 11, strlen (euro_text) - 11);
  g_ptr_array_add (exp, g_bytes_new_static (euro_text, strlen (euro_text)));

  append_client (s, CRIER_WS_OP_BINARY, TRUE, big, 70000);
  g_ptr_array_add (exp, g_bytes_new (big, 70000));

  append_client (s, CRIER_WS_OP_TEXT, TRUE, "", 0);
  g_ptr_array_add (exp, g_bytes_new_static ("", 0));

  append_client (s, CRIER_WS_OP_BINARY, FALSE, big, 1000);
  append_client (s, CRIER_WS_OP_CONTINUATION, FALSE, big + 1000, 200);
  append_client_str (s, CRIER_WS_OP_PONG, TRUE, "pong");
  g_ptr_array_add (exp, g_bytes_new_static ("pong", 4));
  append_client (s, CRIER_WS_OP_CONTINUATION, TRUE, big + 1200, 126);
  g_ptr_array_add (exp, g_bytes_new (big, 1326));

  append_close_code (s, 1000, "done");
  g_ptr_array_add (exp, g_bytes_new_static ("done", 4));

  *expected = exp;
  return s;
}

static void
check_mixed_events (GPtrArray *events,
                    GPtrArray *expected)
{
  static const CrierWsEventType types[] = {
    CRIER_WS_EVENT_MESSAGE, CRIER_WS_EVENT_MESSAGE, CRIER_WS_EVENT_PING,
    CRIER_WS_EVENT_MESSAGE, CRIER_WS_EVENT_MESSAGE, CRIER_WS_EVENT_MESSAGE,
    CRIER_WS_EVENT_PONG, CRIER_WS_EVENT_MESSAGE, CRIER_WS_EVENT_CLOSE,
  };

  g_assert_cmpuint (events->len, ==, G_N_ELEMENTS (types));
  g_assert_cmpuint (expected->len, ==, G_N_ELEMENTS (types));
  for (guint i = 0; i < events->len; i++)
    {
      TestEvent *ev = event_at (events, i);

      g_assert_cmpint (ev->type, ==, types[i]);
      g_assert_true (g_bytes_equal (ev->data, g_ptr_array_index (expected, i)));
    }
  g_assert_cmpint (event_at (events, 0)->opcode, ==, CRIER_WS_OP_TEXT);
  g_assert_cmpint (event_at (events, 1)->opcode, ==, CRIER_WS_OP_BINARY);
  g_assert_cmpint (event_at (events, 3)->opcode, ==, CRIER_WS_OP_TEXT);
  g_assert_cmpint (event_at (events, 7)->opcode, ==, CRIER_WS_OP_BINARY);
  g_assert_cmpuint (event_at (events, 8)->code, ==, 1000);
}

static void
test_byte_by_byte (void)
{
  g_autoptr(GPtrArray) expected = NULL;
  g_autoptr(GByteArray) s = build_mixed_stream (&expected);
  g_autoptr(GPtrArray) whole = decode (TRUE, 0, 0, s->data, s->len, CHUNK_WHOLE);
  g_autoptr(GPtrArray) bytes = decode (TRUE, 0, 0, s->data, s->len, CHUNK_BYTES);

  check_mixed_events (whole, expected);
  check_mixed_events (bytes, expected);
}

static void
test_random_chunking (void)
{
  g_autoptr(GPtrArray) expected = NULL;
  g_autoptr(GByteArray) s = build_mixed_stream (&expected);
  g_autoptr(GRand) rand = g_rand_new_with_seed (20240601);

  for (guint iter = 0; iter < 200; iter++)
    {
      CrierWsDecoder decoder;
      g_autoptr(GPtrArray) events = NULL;

      crier_ws_decoder_init (&decoder, TRUE, 0, 0);
      events = feed_chunked (&decoder, s->data, s->len, CHUNK_RANDOM, rand);
      crier_ws_decoder_clear (&decoder);
      check_mixed_events (events, expected);
    }
}

/* Several frames in one buffer: each call consumes exactly one frame. */
static void
test_consumed_counts (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();
  CrierWsDecoder decoder;
  CrierWsEvent ev;
  gsize consumed;
  gsize off = 0;

  append_client_str (s, CRIER_WS_OP_TEXT, TRUE, "a");   /* 2 + 4 + 1 */
  append_client_str (s, CRIER_WS_OP_PING, TRUE, "bc");  /* 2 + 4 + 2 */
  append_client_str (s, CRIER_WS_OP_TEXT, FALSE, "d");  /* 2 + 4 + 1 */
  append_client_str (s, CRIER_WS_OP_CONTINUATION, TRUE, "e");

  crier_ws_decoder_init (&decoder, TRUE, 0, 0);
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, s->data, s->len, &consumed, &ev), ==,
                   CRIER_WS_EVENT_MESSAGE);
  g_assert_cmpuint (consumed, ==, 7);
  g_assert_cmpmem (ev.data, ev.len, "a", 1);
  off += consumed;
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, s->data + off, s->len - off, &consumed, &ev),
                   ==, CRIER_WS_EVENT_PING);
  g_assert_cmpuint (consumed, ==, 8);
  off += consumed;
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, s->data + off, s->len - off, &consumed, &ev),
                   ==, CRIER_WS_EVENT_MESSAGE);
  g_assert_cmpuint (consumed, ==, 14);
  g_assert_cmpmem (ev.data, ev.len, "de", 2);
  off += consumed;
  g_assert_cmpuint (off, ==, s->len);
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, s->data + off, 0, &consumed, &ev), ==,
                   CRIER_WS_EVENT_NEED_MORE);
  g_assert_cmpuint (consumed, ==, 0);
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, NULL, 0, &consumed, &ev), ==,
                   CRIER_WS_EVENT_NEED_MORE);
  crier_ws_decoder_clear (&decoder);
}

static void
test_empty_messages (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();
  g_autoptr(GPtrArray) events = NULL;

  append_client (s, CRIER_WS_OP_TEXT, TRUE, NULL, 0);
  append_client (s, CRIER_WS_OP_BINARY, TRUE, NULL, 0);
  append_client (s, CRIER_WS_OP_TEXT, FALSE, NULL, 0);
  append_client (s, CRIER_WS_OP_CONTINUATION, FALSE, NULL, 0);
  append_client (s, CRIER_WS_OP_CONTINUATION, TRUE, NULL, 0);
  append_client (s, CRIER_WS_OP_PING, TRUE, NULL, 0);

  events = decode (TRUE, 0, 0, s->data, s->len, CHUNK_BYTES);
  g_assert_cmpuint (events->len, ==, 4);
  assert_message (events, 0, CRIER_WS_OP_TEXT, "", 0);
  assert_message (events, 1, CRIER_WS_OP_BINARY, "", 0);
  assert_message (events, 2, CRIER_WS_OP_TEXT, "", 0);
  assert_event (events, 3, CRIER_WS_EVENT_PING, "", 0);
}

/* Lengths need not use the minimal encoding. */
static void
test_non_minimal_length (void)
{
  static const guint8 frames[] = {
    0x82, 0xfe, 0x00, 0x03, 0, 0, 0, 0, 'a', 'b', 'c',
    0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 'd', 'e',
    0x89, 0xfe, 0x00, 0x01, 0, 0, 0, 0, 'p',
  };

  for (Chunking c = CHUNK_WHOLE; c <= CHUNK_RANDOM; c++)
    {
      g_autoptr(GPtrArray) events = decode (TRUE, 0, 0, frames, sizeof frames, c);

      g_assert_cmpuint (events->len, ==, 3);
      assert_message (events, 0, CRIER_WS_OP_BINARY, "abc", 3);
      assert_message (events, 1, CRIER_WS_OP_BINARY, "de", 2);
      assert_event (events, 2, CRIER_WS_EVENT_PING, "p", 1);
    }
}

static void
test_input_not_modified (void)
{
  g_autofree guint8 *payload = make_payload (5000);
  g_autoptr(GBytes) frame = crier_ws_client_frame_new (CRIER_WS_OP_BINARY, TRUE, test_mask,
                                                       payload, 5000);
  gsize size;
  const guint8 *d = g_bytes_get_data (frame, &size);
  g_autofree guint8 *input = g_memdup2 (d, size);
  CrierWsDecoder decoder;
  CrierWsEvent ev;
  gsize consumed;

  crier_ws_decoder_init (&decoder, TRUE, 0, 0);
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, input, size, &consumed, &ev), ==,
                   CRIER_WS_EVENT_MESSAGE);
  g_assert_cmpmem (ev.data, ev.len, payload, 5000);
  g_assert_cmpmem (input, size, d, size);
  /* The message lives in the decoder's memory, not in the input. */
  g_assert_false (ev.data >= input && ev.data < input + size);
  crier_ws_decoder_clear (&decoder);
}

static void
test_buffered (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();
  g_autofree guint8 *payload = make_payload (1000);
  CrierWsDecoder decoder;
  CrierWsEvent ev;
  gsize consumed;
  gsize off = 0;

  append_client (s, CRIER_WS_OP_BINARY, FALSE, payload, 600);
  append_client (s, CRIER_WS_OP_CONTINUATION, TRUE, payload + 600, 400);
  append_client (s, CRIER_WS_OP_BINARY, TRUE, payload, 10);

  crier_ws_decoder_init (&decoder, TRUE, 0, 0);
  g_assert_cmpuint (crier_ws_decoder_buffered (&decoder), ==, 0);

  /* The first fragment: 600 bytes held. */
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, s->data, 4 + 4 + 600, &consumed, &ev), ==,
                   CRIER_WS_EVENT_NEED_MORE);
  off += consumed;
  g_assert_cmpuint (crier_ws_decoder_buffered (&decoder), ==, 600);

  /* Part of the second header, and then part of its payload. */
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, s->data + off, 3, &consumed, &ev), ==,
                   CRIER_WS_EVENT_NEED_MORE);
  off += consumed;
  g_assert_cmpuint (crier_ws_decoder_buffered (&decoder), ==, 603);
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, s->data + off, 5 + 100, &consumed, &ev), ==,
                   CRIER_WS_EVENT_NEED_MORE);
  off += consumed;
  g_assert_cmpuint (crier_ws_decoder_buffered (&decoder), ==, 700);

  g_assert_cmpint (crier_ws_decoder_feed (&decoder, s->data + off, s->len - off, &consumed, &ev),
                   ==, CRIER_WS_EVENT_MESSAGE);
  off += consumed;
  g_assert_cmpmem (ev.data, ev.len, payload, 1000);
  g_assert_cmpuint (crier_ws_decoder_buffered (&decoder), ==, 0);

  g_assert_cmpint (crier_ws_decoder_feed (&decoder, s->data + off, s->len - off, &consumed, &ev),
                   ==, CRIER_WS_EVENT_MESSAGE);
  g_assert_cmpmem (ev.data, ev.len, payload, 10);
  g_assert_cmpuint (crier_ws_decoder_buffered (&decoder), ==, 0);
  crier_ws_decoder_clear (&decoder);
}

/* ------------------------------------------------------------------------ */
/* Protocol errors                                                           */
/* ------------------------------------------------------------------------ */

static void
test_error_unmasked_client_frame (void)
{
  g_autoptr(GBytes) frame = crier_ws_frame_new (CRIER_WS_OP_BINARY, "abc", 3);
  g_autoptr(GBytes) ping = crier_ws_frame_new (CRIER_WS_OP_PING, "abc", 3);

  assert_error (TRUE, 0, 0, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame),
                CRIER_WS_CLOSE_PROTOCOL_ERROR);
  assert_error (TRUE, 0, 0, g_bytes_get_data (ping, NULL), g_bytes_get_size (ping),
                CRIER_WS_CLOSE_PROTOCOL_ERROR);
  /* And the same bytes are fine for a client. */
  {
    g_autoptr(GPtrArray) events = decode (FALSE, 0, 0, g_bytes_get_data (frame, NULL),
                                          g_bytes_get_size (frame), CHUNK_WHOLE);
    assert_message (events, 0, CRIER_WS_OP_BINARY, "abc", 3);
  }
}

static void
test_error_masked_server_frame (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();

  append_client_str (s, CRIER_WS_OP_TEXT, TRUE, "abc");
  assert_error (FALSE, 0, 0, s->data, s->len, CRIER_WS_CLOSE_PROTOCOL_ERROR);

  g_byte_array_set_size (s, 0);
  append_client_str (s, CRIER_WS_OP_PONG, TRUE, "");
  assert_error (FALSE, 0, 0, s->data, s->len, CRIER_WS_CLOSE_PROTOCOL_ERROR);
}

static void
test_error_rsv_bits (void)
{
  static const guint8 rsv[] = { 0x40, 0x20, 0x10, 0x70 };

  for (guint i = 0; i < G_N_ELEMENTS (rsv); i++)
    {
      g_autoptr(GByteArray) s = g_byte_array_new ();

      append_client_str (s, CRIER_WS_OP_TEXT, TRUE, "abc");
      s->data[0] |= rsv[i];
      assert_server_error (s, CRIER_WS_CLOSE_PROTOCOL_ERROR);

      /* On a control frame too. */
      g_byte_array_set_size (s, 0);
      append_client_str (s, CRIER_WS_OP_PING, TRUE, "abc");
      s->data[0] |= rsv[i];
      assert_server_error (s, CRIER_WS_CLOSE_PROTOCOL_ERROR);
    }
}

static void
test_error_unknown_opcode (void)
{
  static const guint8 opcodes[] = { 0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF };

  for (guint i = 0; i < G_N_ELEMENTS (opcodes); i++)
    {
      g_autoptr(GByteArray) s = g_byte_array_new ();

      append_client_str (s, opcodes[i], TRUE, "abc");
      assert_server_error (s, CRIER_WS_CLOSE_PROTOCOL_ERROR);

      /* Even in the middle of a fragmented message. */
      g_byte_array_set_size (s, 0);
      append_client_str (s, CRIER_WS_OP_TEXT, FALSE, "abc");
      append_client_str (s, opcodes[i], TRUE, "abc");
      assert_server_error (s, CRIER_WS_CLOSE_PROTOCOL_ERROR);
    }
}

static void
test_error_fragmented_control (void)
{
  static const CrierWsOpcode ops[] = { CRIER_WS_OP_PING, CRIER_WS_OP_PONG, CRIER_WS_OP_CLOSE };

  for (guint i = 0; i < G_N_ELEMENTS (ops); i++)
    {
      g_autoptr(GByteArray) s = g_byte_array_new ();

      append_client (s, ops[i], FALSE, "\x03\xe8", 2);
      assert_server_error (s, CRIER_WS_CLOSE_PROTOCOL_ERROR);
    }
}

static void
test_error_control_too_long (void)
{
  static const CrierWsOpcode ops[] = { CRIER_WS_OP_PING, CRIER_WS_OP_PONG, CRIER_WS_OP_CLOSE };
  guint8 payload[126];

  memset (payload, 'a', sizeof payload);
  payload[0] = 0x03;
  payload[1] = 0xe8;

  for (guint i = 0; i < G_N_ELEMENTS (ops); i++)
    {
      g_autoptr(GByteArray) ok = g_byte_array_new ();
      g_autoptr(GByteArray) bad = g_byte_array_new ();
      g_autoptr(GPtrArray) events = NULL;

      append_client (ok, ops[i], TRUE, payload, 125);
      events = decode (TRUE, 0, 0, ok->data, ok->len, CHUNK_BYTES);
      g_assert_cmpuint (events->len, ==, 1);
      g_assert_cmpint (event_at (events, 0)->type, !=, CRIER_WS_EVENT_ERROR);

      append_client (bad, ops[i], TRUE, payload, 126);
      assert_server_error (bad, CRIER_WS_CLOSE_PROTOCOL_ERROR);
    }

  /* A 64-bit length on a ping is refused from its header alone. */
  {
    static const guint8 hdr[] = { 0x89, 0xff, 0, 0, 0, 0, 0, 0, 0x10, 0, 1, 2, 3, 4 };

    assert_error (TRUE, 0, 0, hdr, sizeof hdr, CRIER_WS_CLOSE_PROTOCOL_ERROR);
  }
}

static void
test_error_orphan_continuation (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();

  append_client_str (s, CRIER_WS_OP_CONTINUATION, TRUE, "abc");
  assert_server_error (s, CRIER_WS_CLOSE_PROTOCOL_ERROR);

  /* Also right after a message that was complete. */
  g_byte_array_set_size (s, 0);
  append_client_str (s, CRIER_WS_OP_TEXT, FALSE, "abc");
  append_client_str (s, CRIER_WS_OP_CONTINUATION, TRUE, "def");
  append_client_str (s, CRIER_WS_OP_CONTINUATION, FALSE, "ghi");
  assert_server_error (s, CRIER_WS_CLOSE_PROTOCOL_ERROR);
  {
    g_autoptr(GPtrArray) events = decode (TRUE, 0, 0, s->data, s->len, CHUNK_WHOLE);

    g_assert_cmpuint (events->len, ==, 2);
    assert_message (events, 0, CRIER_WS_OP_TEXT, "abcdef", 6);
  }
}

static void
test_error_nested_message (void)
{
  static const CrierWsOpcode firsts[] = { CRIER_WS_OP_TEXT, CRIER_WS_OP_BINARY };
  static const CrierWsOpcode seconds[] = { CRIER_WS_OP_TEXT, CRIER_WS_OP_BINARY };

  for (guint i = 0; i < G_N_ELEMENTS (firsts); i++)
    for (guint j = 0; j < G_N_ELEMENTS (seconds); j++)
      {
        g_autoptr(GByteArray) s = g_byte_array_new ();

        append_client_str (s, firsts[i], FALSE, "abc");
        append_client_str (s, seconds[j], TRUE, "def");
        assert_server_error (s, CRIER_WS_CLOSE_PROTOCOL_ERROR);
      }
}

static void
test_error_length_msb (void)
{
  static const guint8 hdr[] = { 0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0x01, 1, 2, 3, 4, 'x' };
  CrierWsDecoder decoder;
  CrierWsEvent ev;
  gsize consumed;

  assert_error (TRUE, 0, 0, hdr, sizeof hdr, CRIER_WS_CLOSE_PROTOCOL_ERROR);

  /* Reported as soon as the header is complete, without any payload. */
  crier_ws_decoder_init (&decoder, TRUE, 0, 0);
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, hdr, 13, &consumed, &ev), ==,
                   CRIER_WS_EVENT_NEED_MORE);
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, hdr + 13, 1, &consumed, &ev), ==,
                   CRIER_WS_EVENT_ERROR);
  g_assert_cmpuint (consumed, ==, 1);
  g_assert_cmpuint (ev.code, ==, CRIER_WS_CLOSE_PROTOCOL_ERROR);
  crier_ws_decoder_clear (&decoder);
}

/* After ERROR or CLOSE the decoder refuses everything. */
static void
test_error_after_close (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();
  g_autoptr(GByteArray) more = g_byte_array_new ();
  CrierWsDecoder decoder;
  CrierWsEvent ev;
  gsize consumed;

  append_close_code (s, 1000, NULL);
  append_client_str (more, CRIER_WS_OP_TEXT, TRUE, "late");

  crier_ws_decoder_init (&decoder, TRUE, 0, 0);
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, s->data, s->len, &consumed, &ev), ==,
                   CRIER_WS_EVENT_CLOSE);
  g_assert_cmpuint (consumed, ==, s->len);
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, more->data, more->len, &consumed, &ev), ==,
                   CRIER_WS_EVENT_ERROR);
  g_assert_cmpint (ev.type, ==, CRIER_WS_EVENT_ERROR);
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, more->data, 0, &consumed, &ev), ==,
                   CRIER_WS_EVENT_ERROR);
  crier_ws_decoder_clear (&decoder);

  /* The same after an error, even with valid input. */
  g_byte_array_set_size (s, 0);
  append_client_str (s, CRIER_WS_OP_CONTINUATION, TRUE, "x");
  crier_ws_decoder_init (&decoder, TRUE, 0, 0);
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, s->data, s->len, &consumed, &ev), ==,
                   CRIER_WS_EVENT_ERROR);
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, more->data, more->len, &consumed, &ev), ==,
                   CRIER_WS_EVENT_ERROR);
  crier_ws_decoder_clear (&decoder);

  /* Frames after a close in the same buffer are not decoded. */
  {
    g_autoptr(GByteArray) both = g_byte_array_new ();
    g_autoptr(GPtrArray) events = NULL;

    append_close_code (both, 1000, NULL);
    append_client_str (both, CRIER_WS_OP_TEXT, TRUE, "late");
    crier_ws_decoder_init (&decoder, TRUE, 0, 0);
    g_assert_cmpint (crier_ws_decoder_feed (&decoder, both->data, both->len, &consumed, &ev), ==,
                     CRIER_WS_EVENT_CLOSE);
    g_assert_cmpuint (consumed, <, both->len);
    g_assert_cmpint (crier_ws_decoder_feed (&decoder, both->data + consumed, both->len - consumed,
                                            &consumed, &ev),
                     ==, CRIER_WS_EVENT_ERROR);
    crier_ws_decoder_clear (&decoder);
    events = decode (TRUE, 0, 0, both->data, both->len, CHUNK_WHOLE);
    g_assert_cmpuint (events->len, ==, 1);
  }
}

/* ------------------------------------------------------------------------ */
/* Limits                                                                    */
/* ------------------------------------------------------------------------ */

static void
test_limit_frame (void)
{
  g_autofree guint8 *payload = make_payload (1001);
  g_autoptr(GByteArray) ok = g_byte_array_new ();
  g_autoptr(GByteArray) bad = g_byte_array_new ();
  g_autoptr(GPtrArray) events = NULL;
  CrierWsDecoder decoder;
  CrierWsEvent ev;
  gsize consumed;

  append_client (ok, CRIER_WS_OP_BINARY, TRUE, payload, 1000);
  events = decode (TRUE, 1000, 0, ok->data, ok->len, CHUNK_RANDOM);
  g_assert_cmpuint (events->len, ==, 1);
  assert_message (events, 0, CRIER_WS_OP_BINARY, payload, 1000);

  append_client (bad, CRIER_WS_OP_BINARY, TRUE, payload, 1001);
  assert_error (TRUE, 1000, 0, bad->data, bad->len, CRIER_WS_CLOSE_TOO_BIG);

  /* Continuations obey the frame limit too. */
  g_byte_array_set_size (bad, 0);
  append_client (bad, CRIER_WS_OP_BINARY, FALSE, payload, 10);
  append_client (bad, CRIER_WS_OP_CONTINUATION, TRUE, payload, 1001);
  assert_error (TRUE, 1000, 0, bad->data, bad->len, CRIER_WS_CLOSE_TOO_BIG);

  /* Refused from the header alone, before any payload is buffered. */
  crier_ws_decoder_init (&decoder, TRUE, 1000, 0);
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, bad->data, 16, &consumed, &ev), ==,
                   CRIER_WS_EVENT_NEED_MORE);
  /* The 8-byte header (2 + 2 + mask) of the 1001-byte continuation. */
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, bad->data + 16, 8, &consumed, &ev), ==,
                   CRIER_WS_EVENT_ERROR);
  g_assert_cmpuint (ev.code, ==, CRIER_WS_CLOSE_TOO_BIG);
  crier_ws_decoder_clear (&decoder);

  /* A huge 64-bit length is refused from the header, without allocating. */
  {
    static const guint8 hdr[] = {
      0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4,
    };

    assert_error (TRUE, 1 << 20, 0, hdr, sizeof hdr, CRIER_WS_CLOSE_TOO_BIG);
  }
}

static void
test_limit_message (void)
{
  g_autofree guint8 *payload = make_payload (2000);
  g_autoptr(GByteArray) ok = g_byte_array_new ();
  g_autoptr(GByteArray) bad = g_byte_array_new ();
  g_autoptr(GPtrArray) events = NULL;
  CrierWsDecoder decoder;
  CrierWsEvent ev;
  gsize consumed;
  gsize first_len;

  /* 600 + ping + 400 = 1000: exactly at the limit. */
  append_client (ok, CRIER_WS_OP_BINARY, FALSE, payload, 600);
  append_client_str (ok, CRIER_WS_OP_PING, TRUE, "ping");
  append_client (ok, CRIER_WS_OP_CONTINUATION, TRUE, payload + 600, 400);
  append_client (ok, CRIER_WS_OP_BINARY, TRUE, payload, 1000);  /* the next message starts at 0 */
  events = decode (TRUE, 0, 1000, ok->data, ok->len, CHUNK_RANDOM);
  g_assert_cmpuint (events->len, ==, 3);
  assert_event (events, 0, CRIER_WS_EVENT_PING, "ping", 4);
  assert_message (events, 1, CRIER_WS_OP_BINARY, payload, 1000);
  assert_message (events, 2, CRIER_WS_OP_BINARY, payload, 1000);

  /* 600 + 401 is too much. */
  append_client (bad, CRIER_WS_OP_BINARY, FALSE, payload, 600);
  first_len = bad->len;
  append_client (bad, CRIER_WS_OP_CONTINUATION, TRUE, payload + 600, 401);
  assert_error (TRUE, 0, 1000, bad->data, bad->len, CRIER_WS_CLOSE_TOO_BIG);

  /* ... and refused on the second header, before its payload arrives. */
  crier_ws_decoder_init (&decoder, TRUE, 0, 1000);
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, bad->data, first_len, &consumed, &ev), ==,
                   CRIER_WS_EVENT_NEED_MORE);
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, bad->data + first_len, 8, &consumed, &ev), ==,
                   CRIER_WS_EVENT_ERROR);
  g_assert_cmpuint (ev.code, ==, CRIER_WS_CLOSE_TOO_BIG);
  g_assert_cmpuint (crier_ws_decoder_buffered (&decoder), <=, 600 + 8);
  crier_ws_decoder_clear (&decoder);

  /* A single frame above the message limit fails on its header too. */
  g_byte_array_set_size (bad, 0);
  append_client (bad, CRIER_WS_OP_TEXT, TRUE, payload, 1001);
  assert_error (TRUE, 0, 1000, bad->data, bad->len, CRIER_WS_CLOSE_TOO_BIG);

  /* Control frames do not count towards the message. */
  g_byte_array_set_size (bad, 0);
  append_client (bad, CRIER_WS_OP_BINARY, FALSE, payload, 1000);
  append_client_str (bad, CRIER_WS_OP_PING, TRUE, "ping");
  append_client (bad, CRIER_WS_OP_CONTINUATION, TRUE, payload, 0);
  {
    g_autoptr(GPtrArray) ev2 = decode (TRUE, 0, 1000, bad->data, bad->len, CHUNK_BYTES);

    g_assert_cmpuint (ev2->len, ==, 2);
    assert_message (ev2, 1, CRIER_WS_OP_BINARY, payload, 1000);
  }
}

/* ------------------------------------------------------------------------ */
/* Close frames                                                              */
/* ------------------------------------------------------------------------ */

static void
test_close_codes (void)
{
  static const guint16 valid[] = {
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999,
  };
  static const guint16 invalid[] = {
    0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 6000, 65535,
  };

  for (guint i = 0; i < G_N_ELEMENTS (valid); i++)
    {
      g_autoptr(GByteArray) s = g_byte_array_new ();
      g_autoptr(GPtrArray) events = NULL;

      append_close_code (s, valid[i], "why");
      events = decode (TRUE, 0, 0, s->data, s->len, CHUNK_BYTES);
      g_assert_cmpuint (events->len, ==, 1);
      assert_event (events, 0, CRIER_WS_EVENT_CLOSE, "why", 3);
      g_assert_cmpuint (event_at (events, 0)->code, ==, valid[i]);
    }

  for (guint i = 0; i < G_N_ELEMENTS (invalid); i++)
    {
      g_autoptr(GByteArray) s = g_byte_array_new ();

      append_close_code (s, invalid[i], NULL);
      assert_server_error (s, CRIER_WS_CLOSE_PROTOCOL_ERROR);
    }
}

static void
test_close_empty (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();
  g_autoptr(GPtrArray) events = NULL;

  append_close_raw (s, NULL, 0);
  events = decode (TRUE, 0, 0, s->data, s->len, CHUNK_WHOLE);
  g_assert_cmpuint (events->len, ==, 1);
  assert_event (events, 0, CRIER_WS_EVENT_CLOSE, "", 0);
  g_assert_cmpuint (event_at (events, 0)->code, ==, CRIER_WS_CLOSE_NO_STATUS);
}

static void
test_close_one_byte (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();

  append_close_raw (s, "\x03", 1);
  assert_server_error (s, CRIER_WS_CLOSE_PROTOCOL_ERROR);

  /* After a ping whose second byte would complete a valid code (1000) if
   * the decoder read past the one byte it was given. */
  g_byte_array_set_size (s, 0);
  append_client (s, CRIER_WS_OP_PING, TRUE, "\x03\xe8", 2);
  append_close_raw (s, "\x03", 1);
  assert_server_error (s, CRIER_WS_CLOSE_PROTOCOL_ERROR);
}

static void
test_close_reason_utf8 (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();
  g_autoptr(GPtrArray) events = NULL;

  append_close_code (s, 1000, "caf\xc3\xa9 \xf0\x9f\x98\x80");
  events = decode (TRUE, 0, 0, s->data, s->len, CHUNK_BYTES);
  assert_event (events, 0, CRIER_WS_EVENT_CLOSE, "caf\xc3\xa9 \xf0\x9f\x98\x80", 10);

  /* Invalid, surrogate, and truncated reasons. */
  g_byte_array_set_size (s, 0);
  append_close_code (s, 1000, "bad \xff");
  assert_server_error (s, CRIER_WS_CLOSE_BAD_DATA);

  g_byte_array_set_size (s, 0);
  append_close_code (s, 1000, "\xed\xa0\x80");
  assert_server_error (s, CRIER_WS_CLOSE_BAD_DATA);

  g_byte_array_set_size (s, 0);
  append_close_code (s, 1000, "cut \xe2\x82");
  assert_server_error (s, CRIER_WS_CLOSE_BAD_DATA);
}

static void
test_close_frame_new (void)
{
  g_autoptr(GBytes) normal = crier_ws_close_frame_new (1000, "bye");
  g_autoptr(GBytes) no_reason = crier_ws_close_frame_new (1001, NULL);
  g_autoptr(GBytes) zero = crier_ws_close_frame_new (0, "ignored");
  g_autoptr(GBytes) no_status = crier_ws_close_frame_new (CRIER_WS_CLOSE_NO_STATUS, "ignored");
  static const guint8 normal_bytes[] = { 0x88, 0x05, 0x03, 0xe8, 'b', 'y', 'e' };
  static const guint8 no_reason_bytes[] = { 0x88, 0x02, 0x03, 0xe9 };
  static const guint8 empty_bytes[] = { 0x88, 0x00 };

  g_assert_cmpmem (g_bytes_get_data (normal, NULL), g_bytes_get_size (normal),
                   normal_bytes, sizeof normal_bytes);
  g_assert_cmpmem (g_bytes_get_data (no_reason, NULL), g_bytes_get_size (no_reason),
                   no_reason_bytes, sizeof no_reason_bytes);
  g_assert_cmpmem (g_bytes_get_data (zero, NULL), g_bytes_get_size (zero),
                   empty_bytes, sizeof empty_bytes);
  g_assert_cmpmem (g_bytes_get_data (no_status, NULL), g_bytes_get_size (no_status),
                   empty_bytes, sizeof empty_bytes);

  /* The client decoder reads them back. */
  {
    g_autoptr(GPtrArray) events = decode (FALSE, 0, 0, g_bytes_get_data (normal, NULL),
                                          g_bytes_get_size (normal), CHUNK_WHOLE);

    assert_event (events, 0, CRIER_WS_EVENT_CLOSE, "bye", 3);
    g_assert_cmpuint (event_at (events, 0)->code, ==, 1000);
  }
}

/* The reason is cut at a character boundary so the payload fits 125 bytes. */
static void
test_close_reason_truncation (void)
{
  g_autoptr(GString) reason = g_string_new (NULL);

  /* 122 ASCII bytes + a 3-byte euro sign: 127 bytes of payload, so the euro
   * sign must go entirely. */
  for (guint i = 0; i < 122; i++)
    g_string_append_c (reason, 'a' + (i % 26));
  g_string_append (reason, "\xe2\x82\xac");

  for (guint extra = 0; extra < 4; extra++)
    {
      g_autoptr(GBytes) frame = NULL;
      g_autoptr(GPtrArray) events = NULL;
      g_autoptr(GString) r = g_string_new_len (reason->str + extra, reason->len - extra);
      gsize size;
      const guint8 *d;
      gsize reason_len;

      /* extra = 0: 122 + 3 -> cut to 122; extra = 1: 121 + 3 = 124 > 123
       * -> 121; extra = 2: 120 + 3 = 123 fits. */
      frame = crier_ws_close_frame_new (1000, r->str);
      d = g_bytes_get_data (frame, &size);
      g_assert_cmpuint (d[0], ==, 0x88);
      g_assert_cmpuint (d[1], <=, 125);
      g_assert_cmpuint (size, ==, 2 + d[1]);
      reason_len = d[1] - 2;
      g_assert_true (crier_ws_utf8_validate (d + 4, reason_len));
      g_assert_cmpmem (d + 4, reason_len, r->str, MIN (reason_len, r->len));
      if (extra < 2)
        g_assert_cmpuint (reason_len, ==, 122 - extra);
      else
        g_assert_cmpuint (reason_len, ==, r->len);

      events = decode (FALSE, 0, 0, d, size, CHUNK_BYTES);
      g_assert_cmpuint (events->len, ==, 1);
      g_assert_cmpint (event_at (events, 0)->type, ==, CRIER_WS_EVENT_CLOSE);
    }

  /* 4-byte characters: 41 of them would be 164 bytes; 30 fit (120). */
  {
    g_autoptr(GString) emoji = g_string_new (NULL);
    g_autoptr(GBytes) frame = NULL;
    const guint8 *d;

    for (guint i = 0; i < 41; i++)
      g_string_append (emoji, "\xf0\x9f\x98\x80");
    frame = crier_ws_close_frame_new (4000, emoji->str);
    d = g_bytes_get_data (frame, NULL);
    g_assert_cmpuint (d[1], ==, 2 + 120);
    g_assert_cmpuint ((d[2] << 8) | d[3], ==, 4000);
  }

  /* Exactly 123 bytes of 3-byte characters fit entirely. */
  {
    g_autoptr(GString) euros = g_string_new (NULL);
    g_autoptr(GBytes) frame = NULL;

    for (guint i = 0; i < 41; i++)
      g_string_append (euros, "\xe2\x82\xac");
    frame = crier_ws_close_frame_new (1000, euros->str);
    g_assert_cmpuint (g_bytes_get_size (frame), ==, 2 + 125);
    g_string_append (euros, "\xe2\x82\xac");
    g_clear_pointer (&frame, g_bytes_unref);
    frame = crier_ws_close_frame_new (1000, euros->str);
    g_assert_cmpuint (g_bytes_get_size (frame), ==, 2 + 125);
  }

  /* Invalid UTF-8 never reaches the wire. */
  {
    g_autoptr(GBytes) frame = crier_ws_close_frame_new (1000, "ok\xff\xfe" "after");
    static const guint8 expect[] = { 0x88, 0x04, 0x03, 0xe8, 'o', 'k' };

    g_assert_cmpmem (g_bytes_get_data (frame, NULL), g_bytes_get_size (frame),
                     expect, sizeof expect);
  }
}

/* ------------------------------------------------------------------------ */
/* UTF-8                                                                     */
/* ------------------------------------------------------------------------ */

static const struct
{
  const char *bytes;
  gboolean    valid;
} utf8_cases[] = {
  { "", TRUE },
  { "plain ascii", TRUE },
  { "\xc2\x80", TRUE },                 /* U+0080 */
  { "\xdf\xbf", TRUE },                 /* U+07FF */
  { "\xe0\xa0\x80", TRUE },             /* U+0800 */
  { "\xed\x9f\xbf", TRUE },             /* U+D7FF */
  { "\xee\x80\x80", TRUE },             /* U+E000 */
  { "\xef\xbf\xbf", TRUE },             /* U+FFFF (a noncharacter, but valid) */
  { "\xf0\x90\x80\x80", TRUE },         /* U+10000 */
  { "\xf4\x8f\xbf\xbf", TRUE },         /* U+10FFFF */
  { "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", TRUE },  /* κόσμε */
  { "\x80", FALSE },                    /* lone continuation */
  { "\xbf", FALSE },
  { "\xc0\x80", FALSE },                /* overlong NUL */
  { "\xc1\xbf", FALSE },                /* overlong */
  { "\xe0\x80\x80", FALSE },            /* overlong */
  { "\xe0\x9f\xbf", FALSE },            /* overlong U+07FF */
  { "\xf0\x80\x80\x80", FALSE },        /* overlong */
  { "\xf0\x8f\xbf\xbf", FALSE },        /* overlong U+FFFF */
  { "\xed\xa0\x80", FALSE },            /* U+D800 */
  { "\xed\xbf\xbf", FALSE },            /* U+DFFF */
  { "\xed\xa0\x80\xed\xb0\x80", FALSE },  /* surrogate pair */
  { "\xf4\x90\x80\x80", FALSE },        /* U+110000 */
  { "\xf5\x80\x80\x80", FALSE },
  { "\xf8\x88\x80\x80\x80", FALSE },    /* 5 bytes */
  { "\xfe", FALSE },
  { "\xff", FALSE },
  { "\xc2", FALSE },                    /* truncated */
  { "\xe2\x82", FALSE },
  { "\xf0\x9f\x98", FALSE },
  { "\xc2\x41", FALSE },                /* bad continuation */
  { "\xe2\x28\xa1", FALSE },
  { "abc\xe2\x82\xac" "def\xc3", FALSE },
};

static void
test_utf8_validate (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (utf8_cases); i++)
    {
      const char *b = utf8_cases[i].bytes;

      g_assert_cmpint (crier_ws_utf8_validate ((const guint8 *) b, strlen (b)), ==,
                       utf8_cases[i].valid);
    }

  /* NUL is a character like any other. */
  g_assert_true (crier_ws_utf8_validate ((const guint8 *) "a\0b", 3));
  g_assert_true (crier_ws_utf8_validate (NULL, 0));
}

/* The ASCII fast path must not skip over a bad byte at any offset, and must
 * hand over correctly to the multibyte path. */
static void
test_utf8_fast_path (void)
{
  guint8 buf[64];

  for (gsize len = 1; len <= 40; len++)
    for (gsize at = 0; at < len; at++)
      {
        memset (buf, 'x', len);
        buf[at] = 0x80;
        g_assert_false (crier_ws_utf8_validate (buf, len));
        buf[at] = 0xff;
        g_assert_false (crier_ws_utf8_validate (buf, len));

        if (at + 2 <= len)
          {
            buf[at] = 0xc3;
            buf[at + 1] = 0xa9;
            g_assert_true (crier_ws_utf8_validate (buf, len));
            /* Truncated at the very end. */
            g_assert_false (crier_ws_utf8_validate (buf, at + 1));
          }
      }
}

/* Reference: decode one sequence the slow, obvious way. */
static gboolean
reference_valid (const guint8 *p,
                 gsize         len)
{
  gsize i = 0;

  while (i < len)
    {
      guint32 cp;
      gsize n;

      if (p[i] < 0x80)
        {
          i++;
          continue;
        }
      else if ((p[i] & 0xe0) == 0xc0)
        {
          n = 2;
          cp = p[i] & 0x1f;
        }
      else if ((p[i] & 0xf0) == 0xe0)
        {
          n = 3;
          cp = p[i] & 0x0f;
        }
      else if ((p[i] & 0xf8) == 0xf0)
        {
          n = 4;
          cp = p[i] & 0x07;
        }
      else
        return FALSE;

      if (i + n > len)
        return FALSE;
      for (gsize k = 1; k < n; k++)
        {
          if ((p[i + k] & 0xc0) != 0x80)
            return FALSE;
          cp = (cp << 6) | (p[i + k] & 0x3f);
        }
      if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000))
        return FALSE;
      if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return FALSE;
      i += n;
    }

  return TRUE;
}

/* Every 1-, 2- and 3-byte input, and 4-byte inputs with the interesting
 * continuation values, against the reference and against GLib. */
static void
test_utf8_exhaustive (void)
{
  static const guint8 probes[] = {
    0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff,
  };
  guint8 b[4];

  for (guint a = 0; a < 256; a++)
    {
      b[0] = a;
      g_assert_cmpint (crier_ws_utf8_validate (b, 1), ==, reference_valid (b, 1));
      for (guint c = 0; c < 256; c++)
        {
          b[1] = c;
          g_assert_cmpint (crier_ws_utf8_validate (b, 2), ==, reference_valid (b, 2));
          if (a != 0 && c != 0)
            g_assert_cmpint (crier_ws_utf8_validate (b, 2), ==,
                             g_utf8_validate_len ((const char *) b, 2, NULL));
          for (guint d = 0; d < 256; d++)
            {
              gboolean ours;

              b[2] = d;
              ours = crier_ws_utf8_validate (b, 3);
              if (ours != reference_valid (b, 3))
                g_error ("mismatch on %02x %02x %02x", a, c, d);
              if (a != 0 && c != 0 && d != 0 &&
                  ours != g_utf8_validate_len ((const char *) b, 3, NULL))
                g_error ("GLib disagrees on %02x %02x %02x", a, c, d);
            }
        }
    }

  for (guint a = 0xe0; a < 256; a++)
    for (guint c = 0; c < 256; c++)
      for (guint i = 0; i < G_N_ELEMENTS (probes); i++)
        for (guint j = 0; j < G_N_ELEMENTS (probes); j++)
          {
            b[0] = a;
            b[1] = c;
            b[2] = probes[i];
            b[3] = probes[j];
            if (crier_ws_utf8_validate (b, 4) != reference_valid (b, 4))
              g_error ("mismatch on %02x %02x %02x %02x", a, c, b[2], b[3]);
          }
}

/* A character split across fragments, at every split point. */
static void
test_utf8_split_fragments_valid (void)
{
  static const char *texts[] = {
    "\xe2\x82\xac",
    "\xf0\x9f\x98\x80",
    "a\xc3\xa9z",
    "\xed\x9f\xbf\xf4\x8f\xbf\xbf",
  };

  for (guint t = 0; t < G_N_ELEMENTS (texts); t++)
    {
      gsize len = strlen (texts[t]);

      for (gsize i = 0; i <= len; i++)
        for (gsize j = i; j <= len; j++)
          {
            g_autoptr(GByteArray) s = g_byte_array_new ();

            append_client (s, CRIER_WS_OP_TEXT, FALSE, texts[t], i);
            append_client_str (s, CRIER_WS_OP_PING, TRUE, "");
            append_client (s, CRIER_WS_OP_CONTINUATION, FALSE, texts[t] + i, j - i);
            append_client (s, CRIER_WS_OP_CONTINUATION, TRUE, texts[t] + j, len - j);

            for (Chunking c = CHUNK_WHOLE; c <= CHUNK_RANDOM; c++)
              {
                g_autoptr(GPtrArray) events = decode (TRUE, 0, 0, s->data, s->len, c);

                g_assert_cmpuint (events->len, ==, 2);
                assert_event (events, 0, CRIER_WS_EVENT_PING, "", 0);
                assert_message (events, 1, CRIER_WS_OP_TEXT, texts[t], len);
              }
          }
    }
}

static void
test_utf8_split_fragments_invalid (void)
{
  static const char *texts[] = {
    "\xed\xa0\x80",       /* surrogate */
    "\xf4\x90\x80\x80",   /* > U+10FFFF */
    "\xe0\x80\xaf",       /* overlong */
    "ok\xc3\x28",         /* bad continuation */
    "\xe2\x82\xac\xff",
  };

  for (guint t = 0; t < G_N_ELEMENTS (texts); t++)
    {
      gsize len = strlen (texts[t]);

      for (gsize i = 0; i <= len; i++)
        {
          g_autoptr(GByteArray) s = g_byte_array_new ();

          append_client (s, CRIER_WS_OP_TEXT, FALSE, texts[t], i);
          append_client (s, CRIER_WS_OP_CONTINUATION, TRUE, texts[t] + i, len - i);
          assert_server_error (s, CRIER_WS_CLOSE_BAD_DATA);
        }
    }

  /* A message whose last fragment ends inside a character. */
  {
    g_autoptr(GByteArray) s = g_byte_array_new ();

    append_client (s, CRIER_WS_OP_TEXT, FALSE, "ab\xe2", 3);
    append_client (s, CRIER_WS_OP_CONTINUATION, TRUE, "\x82", 1);
    assert_server_error (s, CRIER_WS_CLOSE_BAD_DATA);

    g_byte_array_set_size (s, 0);
    append_client (s, CRIER_WS_OP_TEXT, TRUE, "ab\xf0\x9f", 4);
    assert_server_error (s, CRIER_WS_CLOSE_BAD_DATA);
  }

  /* Each invalid case from the table, as a single text message. */
  for (guint i = 0; i < G_N_ELEMENTS (utf8_cases); i++)
    {
      g_autoptr(GByteArray) s = g_byte_array_new ();
      g_autoptr(GPtrArray) events = NULL;

      append_client_str (s, CRIER_WS_OP_TEXT, TRUE, utf8_cases[i].bytes);
      events = decode (TRUE, 0, 0, s->data, s->len, CHUNK_BYTES);
      g_assert_cmpuint (events->len, ==, 1);
      if (utf8_cases[i].valid)
        {
          assert_message (events, 0, CRIER_WS_OP_TEXT, utf8_cases[i].bytes,
                          strlen (utf8_cases[i].bytes));
        }
      else
        {
          g_assert_cmpint (event_at (events, 0)->type, ==, CRIER_WS_EVENT_ERROR);
          g_assert_cmpuint (event_at (events, 0)->code, ==, CRIER_WS_CLOSE_BAD_DATA);
        }
    }

  /* The client decoder (unmasked, zero-copy path) validates too. */
  {
    g_autoptr(GBytes) bad = crier_ws_frame_new (CRIER_WS_OP_TEXT, "x\xc0\xafy", 4);
    g_autoptr(GBytes) good = crier_ws_frame_new (CRIER_WS_OP_TEXT, "x\xc2\xafy", 4);
    g_autoptr(GPtrArray) events = NULL;

    assert_error (FALSE, 0, 0, g_bytes_get_data (bad, NULL), g_bytes_get_size (bad),
                  CRIER_WS_CLOSE_BAD_DATA);
    events = decode (FALSE, 0, 0, g_bytes_get_data (good, NULL), g_bytes_get_size (good),
                     CHUNK_WHOLE);
    assert_message (events, 0, CRIER_WS_OP_TEXT, "x\xc2\xafy", 4);
  }
}

/* Invalid text is reported before the frame, let alone the message, ends. */
static void
test_utf8_fail_fast (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();
  guint8 text[1000];
  CrierWsDecoder decoder;
  CrierWsEvent ev;
  gsize consumed;

  memset (text, 'a', sizeof text);
  text[10] = 0xff;
  append_client (s, CRIER_WS_OP_TEXT, FALSE, text, 1000);

  /* Header (4 + 4) and the first 20 payload bytes, which hold the bad one. */
  crier_ws_decoder_init (&decoder, TRUE, 0, 0);
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, s->data, 8 + 20, &consumed, &ev), ==,
                   CRIER_WS_EVENT_ERROR);
  g_assert_cmpuint (ev.code, ==, CRIER_WS_CLOSE_BAD_DATA);
  crier_ws_decoder_clear (&decoder);

  /* Across feeds: a valid prefix, then the bad byte. */
  memset (text, 'a', 1000);
  text[500] = 0xe2;
  text[501] = 0x28;
  g_byte_array_set_size (s, 0);
  append_client (s, CRIER_WS_OP_TEXT, TRUE, text, 1000);
  crier_ws_decoder_init (&decoder, TRUE, 0, 0);
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, s->data, 8 + 501, &consumed, &ev), ==,
                   CRIER_WS_EVENT_NEED_MORE);
  g_assert_cmpint (crier_ws_decoder_feed (&decoder, s->data + 8 + 501, 1, &consumed, &ev), ==,
                   CRIER_WS_EVENT_ERROR);
  g_assert_cmpuint (ev.code, ==, CRIER_WS_CLOSE_BAD_DATA);
  crier_ws_decoder_clear (&decoder);
}

/* Binary messages are not UTF-8 checked. */
static void
test_utf8_binary_unchecked (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();
  g_autoptr(GPtrArray) events = NULL;

  append_client (s, CRIER_WS_OP_BINARY, FALSE, "\xff\xed", 2);
  append_client (s, CRIER_WS_OP_CONTINUATION, TRUE, "\xa0\x80\xc0", 3);
  events = decode (TRUE, 0, 0, s->data, s->len, CHUNK_BYTES);
  g_assert_cmpuint (events->len, ==, 1);
  assert_message (events, 0, CRIER_WS_OP_BINARY, "\xff\xed\xa0\x80\xc0", 5);
}

/* A decoder reused after a large message still works (its buffer may have
 * been dropped), and text state does not leak between messages. */
static void
test_reuse_after_large_message (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();
  g_autoptr(GByteArray) big_array = g_byte_array_new ();
  g_autoptr(GPtrArray) events = NULL;
  const guint8 *big;

  g_byte_array_set_size (big_array, 200000);
  memset (big_array->data, 'z', big_array->len);
  big = big_array->data;
  append_client (s, CRIER_WS_OP_TEXT, FALSE, big, 100000);
  append_client (s, CRIER_WS_OP_CONTINUATION, TRUE, big, 100000);
  append_client (s, CRIER_WS_OP_TEXT, TRUE, "small", 5);
  append_client (s, CRIER_WS_OP_BINARY, FALSE, "\xe2", 1);
  append_client (s, CRIER_WS_OP_CONTINUATION, TRUE, "", 0);
  append_client (s, CRIER_WS_OP_TEXT, TRUE, "\xe2\x82\xac", 3);

  events = decode (TRUE, 0, 0, s->data, s->len, CHUNK_RANDOM);
  g_assert_cmpuint (events->len, ==, 4);
  assert_message (events, 0, CRIER_WS_OP_TEXT, big, 200000);
  assert_message (events, 1, CRIER_WS_OP_TEXT, "small", 5);
  assert_message (events, 2, CRIER_WS_OP_BINARY, "\xe2", 1);
  assert_message (events, 3, CRIER_WS_OP_TEXT, "\xe2\x82\xac", 3);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/ws-codec/rfc/accept-key", test_accept_key);
  g_test_add_func ("/ws-codec/rfc/masked-hello", test_rfc_masked_hello);
  g_test_add_func ("/ws-codec/rfc/unmasked-hello", test_rfc_unmasked_hello);
  g_test_add_func ("/ws-codec/rfc/fragmented-hello", test_rfc_fragmented_hello);
  g_test_add_func ("/ws-codec/rfc/ping-pong", test_rfc_ping_pong);
  g_test_add_func ("/ws-codec/rfc/long-lengths", test_rfc_long_lengths);

  g_test_add_func ("/ws-codec/roundtrip/server-frames", test_roundtrip_server_frames);
  g_test_add_func ("/ws-codec/roundtrip/client-frames", test_roundtrip_client_frames);
  g_test_add_func ("/ws-codec/roundtrip/unmask-alignment", test_unmask_alignment);
  g_test_add_func ("/ws-codec/encode/header", test_header_encoding);
  g_test_add_func ("/ws-codec/encode/control-too-long", test_frame_new_control_too_long);

  g_test_add_func ("/ws-codec/decode/fragmented-interleaved", test_fragmented_interleaved);
  g_test_add_func ("/ws-codec/decode/fragmented-close", test_fragmented_close);
  g_test_add_func ("/ws-codec/decode/byte-by-byte", test_byte_by_byte);
  g_test_add_func ("/ws-codec/decode/random-chunking", test_random_chunking);
  g_test_add_func ("/ws-codec/decode/consumed-counts", test_consumed_counts);
  g_test_add_func ("/ws-codec/decode/empty-messages", test_empty_messages);
  g_test_add_func ("/ws-codec/decode/non-minimal-length", test_non_minimal_length);
  g_test_add_func ("/ws-codec/decode/input-not-modified", test_input_not_modified);
  g_test_add_func ("/ws-codec/decode/buffered", test_buffered);
  g_test_add_func ("/ws-codec/decode/reuse-after-large", test_reuse_after_large_message);

  g_test_add_func ("/ws-codec/error/unmasked-client-frame", test_error_unmasked_client_frame);
  g_test_add_func ("/ws-codec/error/masked-server-frame", test_error_masked_server_frame);
  g_test_add_func ("/ws-codec/error/rsv-bits", test_error_rsv_bits);
  g_test_add_func ("/ws-codec/error/unknown-opcode", test_error_unknown_opcode);
  g_test_add_func ("/ws-codec/error/fragmented-control", test_error_fragmented_control);
  g_test_add_func ("/ws-codec/error/control-too-long", test_error_control_too_long);
  g_test_add_func ("/ws-codec/error/orphan-continuation", test_error_orphan_continuation);
  g_test_add_func ("/ws-codec/error/nested-message", test_error_nested_message);
  g_test_add_func ("/ws-codec/error/length-msb", test_error_length_msb);
  g_test_add_func ("/ws-codec/error/after-close", test_error_after_close);

  g_test_add_func ("/ws-codec/limits/frame", test_limit_frame);
  g_test_add_func ("/ws-codec/limits/message", test_limit_message);

  g_test_add_func ("/ws-codec/close/codes", test_close_codes);
  g_test_add_func ("/ws-codec/close/empty", test_close_empty);
  g_test_add_func ("/ws-codec/close/one-byte", test_close_one_byte);
  g_test_add_func ("/ws-codec/close/reason-utf8", test_close_reason_utf8);
  g_test_add_func ("/ws-codec/close/frame-new", test_close_frame_new);
  g_test_add_func ("/ws-codec/close/reason-truncation", test_close_reason_truncation);

  g_test_add_func ("/ws-codec/utf8/validate", test_utf8_validate);
  g_test_add_func ("/ws-codec/utf8/fast-path", test_utf8_fast_path);
  g_test_add_func ("/ws-codec/utf8/exhaustive", test_utf8_exhaustive);
  g_test_add_func ("/ws-codec/utf8/split-fragments-valid", test_utf8_split_fragments_valid);
  g_test_add_func ("/ws-codec/utf8/split-fragments-invalid", test_utf8_split_fragments_invalid);
  g_test_add_func ("/ws-codec/utf8/fail-fast", test_utf8_fail_fast);
  g_test_add_func ("/ws-codec/utf8/binary-unchecked", test_utf8_binary_unchecked);

  return g_test_run ();
}
