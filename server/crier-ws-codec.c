/* crier-ws-codec.c: RFC 6455 framing, our own (no libsoup on the hot path).
 *
 * The decoder is a byte-driven state machine with three states: the first
 * two header bytes, the rest of the header (extended length and masking
 * key), and the payload.  Every rule that can be checked from the first two
 * bytes is checked there, the length limits are checked as soon as the
 * length is known, and text is validated while it is being unmasked, so a
 * violation is reported as soon as the offending byte has been seen and
 * nothing past it is buffered.
 *
 * Control frames are unmasked into a fixed 125-byte buffer.  Data frames are
 * unmasked into one reassembly buffer that grows geometrically, so a
 * message costs one copy whatever the fragmentation.  In client mode
 * (unmasked frames) an unfragmented message that arrives whole is delivered
 * straight from the caller's input with no copy at all.
 */
#include "config.h"

#include "crier-ws-codec.h"

#include <string.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* Reassembly buffers bigger than this are freed once their message has been
 * delivered rather than kept around for the next one. */
#define MESSAGE_KEEP_SIZE (64 * 1024)

enum
{
  STATE_HEADER_START,  /* collecting the first two header bytes */
  STATE_HEADER_REST,   /* collecting extended length and masking key */
  STATE_PAYLOAD,       /* collecting payload_len bytes */
};

static const guint8 empty_payload[1] = { 0 };

/* ------------------------------------------------------------------------ */
/* UTF-8                                                                     */
/* ------------------------------------------------------------------------ */

/* The automaton follows Table 3-7 of the Unicode standard ("Well-Formed UTF-8
 * Byte Sequences").  A state is 0 (between characters) or the number of
 * continuation bytes still expected together with the range the next one
 * must fall in; the narrowed ranges after E0, ED, F0 and F4 are what reject
 * overlongs, surrogates and code points above U+10FFFF. */
#define UTF8_ACCEPT 0u
#define UTF8_REJECT 1u
#define UTF8_NEED(n, lo, hi) (((guint32) (n) << 16) | ((guint32) (lo) << 8) | (guint32) (hi))
#define UTF8_CONT(n) UTF8_NEED (n, 0x80, 0xBF)

#define ASCII_MASK G_GUINT64_CONSTANT (0x8080808080808080)

static inline guint32
utf8_lead_state (guint8 b)
{
  if (b < 0x80)
    return UTF8_ACCEPT;
  if (b < 0xC2)
    return UTF8_REJECT;  /* stray continuation byte, or overlong C0/C1 */
  if (b < 0xE0)
    return UTF8_CONT (1);
  if (b == 0xE0)
    return UTF8_NEED (2, 0xA0, 0xBF);  /* no overlongs below U+0800 */
  if (b == 0xED)
    return UTF8_NEED (2, 0x80, 0x9F);  /* no surrogates D800..DFFF */
  if (b < 0xF0)
    return UTF8_CONT (2);
  if (b == 0xF0)
    return UTF8_NEED (3, 0x90, 0xBF);  /* no overlongs below U+10000 */
  if (b < 0xF4)
    return UTF8_CONT (3);
  if (b == 0xF4)
    return UTF8_NEED (3, 0x80, 0x8F);  /* nothing above U+10FFFF */
  return UTF8_REJECT;
}

/* Runs the automaton over @len bytes starting in @state; returns the new
 * state, UTF8_REJECT as soon as an invalid byte is seen. */
static inline guint32
utf8_run (guint32       state,
          const guint8 *p,
          gsize         len)
{
  const guint8 *end = p + len;

  while (p < end)
    {
      if (state == UTF8_ACCEPT)
        {
          /* ASCII fast path, eight bytes at a time. */
          while ((gsize) (end - p) >= 8)
            {
              guint64 w;

              memcpy (&w, p, sizeof w);
              if ((w & ASCII_MASK) != 0)
                break;
              p += 8;
            }
          while (p < end && *p < 0x80)
            p++;
          if (p == end)
            break;

          state = utf8_lead_state (*p++);
          if (state == UTF8_REJECT)
            return UTF8_REJECT;
        }
      else
        {
          guint8 b = *p++;
          guint32 need;

          if (b < ((state >> 8) & 0xFF) || b > (state & 0xFF))
            return UTF8_REJECT;

          need = (state >> 16) - 1;
          state = need == 0 ? UTF8_ACCEPT : UTF8_CONT (need);
        }
    }

  return state;
}

gboolean
crier_ws_utf8_validate (const guint8 *data,
                        gsize         len)
{
  g_return_val_if_fail (data != NULL || len == 0, FALSE);

  return utf8_run (UTF8_ACCEPT, data, len) == UTF8_ACCEPT;
}

/* ------------------------------------------------------------------------ */
/* Masking                                                                   */
/* ------------------------------------------------------------------------ */

/* Copies @len bytes from @src to @dst XOR-ing them with @mask, starting at
 * byte @phase of the mask.  The bulk is done a 64-bit word at a time with
 * @dst aligned; memcpy() keeps the unaligned loads from @src portable and
 * compiles to plain moves. */
static void
unmask_copy (guint8       *dst,
             const guint8 *src,
             gsize         len,
             const guint8  mask[4],
             guint         phase)
{
  gsize i = 0;

  while (i < len && ((guintptr) (dst + i) & 7) != 0)
    {
      dst[i] = src[i] ^ mask[(phase + i) & 3];
      i++;
    }

  if (len - i >= 8)
    {
      guint8 m[8];
      guint64 mw;

      for (guint j = 0; j < 8; j++)
        m[j] = mask[(phase + i + j) & 3];
      memcpy (&mw, m, sizeof mw);

      for (; len - i >= 8; i += 8)
        {
          guint64 w;

          memcpy (&w, src + i, sizeof w);
          w ^= mw;
          memcpy (dst + i, &w, sizeof w);
        }
    }

  for (; i < len; i++)
    dst[i] = src[i] ^ mask[(phase + i) & 3];
}

/* ------------------------------------------------------------------------ */
/* Decoder                                                                   */
/* ------------------------------------------------------------------------ */

static inline gboolean
opcode_is_control (guint8 opcode)
{
  return (opcode & 0x8) != 0;
}

static gboolean
close_code_is_valid (guint16 code)
{
  if (code >= 3000 && code <= 4999)
    return TRUE;  /* libraries and applications */
  if (code < 1000 || code > 1014)
    return FALSE;
  /* 1004 is reserved; 1005 and 1006 must never be sent on the wire. */
  return code != 1004 && code != 1005 && code != 1006;
}

void
crier_ws_decoder_init (CrierWsDecoder *decoder,
                       gboolean        server,
                       gsize           max_frame_size,
                       gsize           max_message_size)
{
  g_return_if_fail (decoder != NULL);

  memset (decoder, 0, sizeof *decoder);
  decoder->server = !!server;
  decoder->max_frame_size = max_frame_size != 0 ? max_frame_size : G_MAXSIZE;
  decoder->max_message_size = max_message_size != 0 ? max_message_size : G_MAXSIZE;
  decoder->state = STATE_HEADER_START;
  decoder->header_need = 2;
  decoder->utf8_state = UTF8_ACCEPT;
}

void
crier_ws_decoder_clear (CrierWsDecoder *decoder)
{
  g_return_if_fail (decoder != NULL);

  g_clear_pointer (&decoder->message, g_byte_array_unref);
  decoder->state = STATE_HEADER_START;
  decoder->header_len = 0;
  decoder->header_need = 2;
  decoder->payload_len = 0;
  decoder->payload_done = 0;
  decoder->msg_opcode = 0;
  decoder->utf8_state = UTF8_ACCEPT;
  decoder->closed = TRUE;
}

gsize
crier_ws_decoder_buffered (const CrierWsDecoder *decoder)
{
  gsize n;

  g_return_val_if_fail (decoder != NULL, 0);

  n = decoder->header_len;
  if (decoder->state == STATE_PAYLOAD && opcode_is_control (decoder->opcode))
    n += decoder->payload_done;
  if (decoder->msg_opcode != 0 && decoder->message != NULL)
    n += decoder->message->len;

  return n;
}

static CrierWsEventType
decoder_fail (CrierWsDecoder *decoder,
              CrierWsEvent   *event,
              guint16         code,
              const char     *reason)
{
  decoder->closed = TRUE;
  event->type = CRIER_WS_EVENT_ERROR;
  event->code = code;
  event->reason = reason;
  event->data = empty_payload;
  event->len = 0;

  return CRIER_WS_EVENT_ERROR;
}

/* Checks the first two header bytes and works out the header's full size.
 * Returns 0 or the close code to fail with (and sets *reason). */
static guint16
decoder_parse_start (CrierWsDecoder  *decoder,
                     const char     **reason)
{
  guint8 b0 = decoder->header[0];
  guint8 b1 = decoder->header[1];
  guint8 len7 = b1 & 0x7F;

  decoder->fin = (b0 & 0x80) != 0;
  decoder->opcode = b0 & 0x0F;
  decoder->masked = (b1 & 0x80) != 0;

  if ((b0 & 0x70) != 0)
    {
      *reason = "reserved bits set without a negotiated extension";
      return CRIER_WS_CLOSE_PROTOCOL_ERROR;
    }

  switch (decoder->opcode)
    {
    case CRIER_WS_OP_CONTINUATION:
      if (decoder->msg_opcode == 0)
        {
          *reason = "continuation frame without a message in progress";
          return CRIER_WS_CLOSE_PROTOCOL_ERROR;
        }
      break;

    case CRIER_WS_OP_TEXT:
    case CRIER_WS_OP_BINARY:
      if (decoder->msg_opcode != 0)
        {
          *reason = "new message while a fragmented message is in progress";
          return CRIER_WS_CLOSE_PROTOCOL_ERROR;
        }
      break;

    case CRIER_WS_OP_CLOSE:
    case CRIER_WS_OP_PING:
    case CRIER_WS_OP_PONG:
      if (!decoder->fin)
        {
          *reason = "fragmented control frame";
          return CRIER_WS_CLOSE_PROTOCOL_ERROR;
        }
      break;

    default:
      *reason = "unknown opcode";
      return CRIER_WS_CLOSE_PROTOCOL_ERROR;
    }

  if (decoder->masked != decoder->server)
    {
      *reason = decoder->server ? "client frame not masked" : "server frame masked";
      return CRIER_WS_CLOSE_PROTOCOL_ERROR;
    }

  decoder->header_need = 2;
  if (len7 == 126)
    decoder->header_need += 2;
  else if (len7 == 127)
    decoder->header_need += 8;
  if (decoder->masked)
    decoder->header_need += 4;

  return 0;
}

/* Decodes the extended length and masking key and checks the limits.
 * Returns 0 or the close code to fail with (and sets *reason). */
static guint16
decoder_parse_rest (CrierWsDecoder  *decoder,
                    const char     **reason)
{
  const guint8 *h = decoder->header;
  guint8 len7 = h[1] & 0x7F;
  guint pos = 2;
  guint64 len;

  if (len7 == 126)
    {
      len = ((guint64) h[2] << 8) | h[3];
      pos = 4;
    }
  else if (len7 == 127)
    {
      len = 0;
      for (guint i = 0; i < 8; i++)
        len = (len << 8) | h[2 + i];
      pos = 10;

      if ((len >> 63) != 0)
        {
          *reason = "64-bit payload length with the most significant bit set";
          return CRIER_WS_CLOSE_PROTOCOL_ERROR;
        }
    }
  else
    {
      len = len7;
    }

  /* Non-minimal length encodings are accepted: they cost nothing. */

  if (decoder->masked)
    memcpy (decoder->mask, h + pos, 4);

  decoder->payload_len = len;
  decoder->payload_done = 0;

  if (opcode_is_control (decoder->opcode))
    {
      if (len > sizeof decoder->control)
        {
          *reason = "control frame payload longer than 125 bytes";
          return CRIER_WS_CLOSE_PROTOCOL_ERROR;
        }
      if (len > decoder->max_frame_size)
        {
          *reason = "frame too big";
          return CRIER_WS_CLOSE_TOO_BIG;
        }
      return 0;
    }

  if (len > decoder->max_frame_size)
    {
      *reason = "frame too big";
      return CRIER_WS_CLOSE_TOO_BIG;
    }

  if (decoder->opcode != CRIER_WS_OP_CONTINUATION)
    {
      decoder->msg_opcode = decoder->opcode;
      decoder->utf8_state = UTF8_ACCEPT;
      if (decoder->message != NULL)
        g_byte_array_set_size (decoder->message, 0);
    }

  /* The reassembly buffer is a GByteArray, whose length is a guint.  Written
   * so that it cannot overflow: buffered <= limit. */
  {
    gsize limit = MIN (decoder->max_message_size, (gsize) G_MAXUINT);
    gsize buffered = decoder->message != NULL ? decoder->message->len : 0;

    if (buffered > limit || len > limit - buffered)
      {
        *reason = "message too big";
        return CRIER_WS_CLOSE_TOO_BIG;
      }
  }

  return 0;
}

/* Completes a control frame whose payload is in decoder->control. */
static CrierWsEventType
decoder_control_event (CrierWsDecoder *decoder,
                       CrierWsEvent   *event)
{
  gsize len = (gsize) decoder->payload_len;

  event->opcode = decoder->opcode;
  event->data = len > 0 ? decoder->control : empty_payload;
  event->len = len;

  switch (decoder->opcode)
    {
    case CRIER_WS_OP_PING:
      event->type = CRIER_WS_EVENT_PING;
      break;

    case CRIER_WS_OP_PONG:
      event->type = CRIER_WS_EVENT_PONG;
      break;

    case CRIER_WS_OP_CLOSE:
      if (len == 0)
        {
          event->code = CRIER_WS_CLOSE_NO_STATUS;
        }
      else if (len == 1)
        {
          return decoder_fail (decoder, event, CRIER_WS_CLOSE_PROTOCOL_ERROR,
                               "close frame with a 1-byte payload");
        }
      else
        {
          guint16 code = (guint16) ((decoder->control[0] << 8) | decoder->control[1]);

          if (!close_code_is_valid (code))
            return decoder_fail (decoder, event, CRIER_WS_CLOSE_PROTOCOL_ERROR,
                                 "invalid close code");
          if (utf8_run (UTF8_ACCEPT, decoder->control + 2, len - 2) != UTF8_ACCEPT)
            return decoder_fail (decoder, event, CRIER_WS_CLOSE_BAD_DATA,
                                 "close reason is not valid UTF-8");

          event->code = code;
          event->data = len > 2 ? decoder->control + 2 : empty_payload;
          event->len = len - 2;
        }
      event->type = CRIER_WS_EVENT_CLOSE;
      decoder->closed = TRUE;
      break;

    default:
      g_assert_not_reached ();
    }

  return event->type;
}

CrierWsEventType
crier_ws_decoder_feed (CrierWsDecoder *decoder,
                       const guint8   *data,
                       gsize           len,
                       gsize          *consumed,
                       CrierWsEvent   *event)
{
  gsize pos = 0;
  const char *reason = NULL;
  guint16 code = 0;

  g_return_val_if_fail (decoder != NULL, CRIER_WS_EVENT_ERROR);
  g_return_val_if_fail (data != NULL || len == 0, CRIER_WS_EVENT_ERROR);
  g_return_val_if_fail (consumed != NULL, CRIER_WS_EVENT_ERROR);
  g_return_val_if_fail (event != NULL, CRIER_WS_EVENT_ERROR);

  memset (event, 0, sizeof *event);
  *consumed = 0;

  if (decoder->closed)
    return decoder_fail (decoder, event, CRIER_WS_CLOSE_PROTOCOL_ERROR,
                         "input after the connection was closed");

  /* The last MESSAGE event pointed into the reassembly buffer; it has been
   * consumed by now, so the buffer can be reused (or dropped if large). */
  if (decoder->msg_opcode == 0 && decoder->message != NULL && decoder->message->len > 0)
    {
      if (decoder->message->len > MESSAGE_KEEP_SIZE)
        g_clear_pointer (&decoder->message, g_byte_array_unref);
      else
        g_byte_array_set_size (decoder->message, 0);
    }

  /* Nothing is ever pending without input (empty frames complete with
   * their header), and @data may be NULL here. */
  if (len == 0)
    goto need_more;

  for (;;)
    {
      switch (decoder->state)
        {
        case STATE_HEADER_START:
        case STATE_HEADER_REST:
          {
            gsize take = MIN (decoder->header_need - decoder->header_len, len - pos);

            memcpy (decoder->header + decoder->header_len, data + pos, take);
            decoder->header_len += (guint) take;
            pos += take;
            if (decoder->header_len < decoder->header_need)
              goto need_more;

            if (decoder->state == STATE_HEADER_START)
              {
                if ((code = decoder_parse_start (decoder, &reason)) != 0)
                  goto fail;
                decoder->state = STATE_HEADER_REST;
                if (decoder->header_len < decoder->header_need)
                  continue;
              }

            if ((code = decoder_parse_rest (decoder, &reason)) != 0)
              goto fail;

            decoder->header_len = 0;
            decoder->header_need = 2;
            decoder->state = STATE_PAYLOAD;
            if (decoder->payload_len == 0)
              goto frame_complete;

            /* Client mode: a whole unfragmented message in the input is
             * delivered from there, without a copy. */
            if (!decoder->masked &&
                decoder->fin &&
                decoder->opcode != CRIER_WS_OP_CONTINUATION &&
                !opcode_is_control (decoder->opcode) &&
                decoder->payload_len <= len - pos)
              {
                gsize n = (gsize) decoder->payload_len;

                if (decoder->opcode == CRIER_WS_OP_TEXT &&
                    utf8_run (UTF8_ACCEPT, data + pos, n) != UTF8_ACCEPT)
                  {
                    pos += n;
                    code = CRIER_WS_CLOSE_BAD_DATA;
                    reason = "text message is not valid UTF-8";
                    goto fail;
                  }

                event->type = CRIER_WS_EVENT_MESSAGE;
                event->opcode = decoder->opcode;
                event->data = data + pos;
                event->len = n;
                pos += n;
                decoder->msg_opcode = 0;
                decoder->state = STATE_HEADER_START;
                goto out;
              }
          }
          continue;

        case STATE_PAYLOAD:
          {
            gsize n = MIN ((guint64) (len - pos), decoder->payload_len - decoder->payload_done);
            guint phase = (guint) (decoder->payload_done & 3);
            guint8 *dst;

            if (n == 0)
              goto need_more;

            if (opcode_is_control (decoder->opcode))
              {
                dst = decoder->control + decoder->payload_done;
              }
            else
              {
                gsize old;

                if (decoder->message == NULL)
                  {
                    guint64 hint = MIN (decoder->payload_len, MESSAGE_KEEP_SIZE);

                    decoder->message = g_byte_array_sized_new ((guint) hint);
                  }
                old = decoder->message->len;
                g_byte_array_set_size (decoder->message, (guint) (old + n));
                dst = decoder->message->data + old;
              }

            if (decoder->masked)
              unmask_copy (dst, data + pos, n, decoder->mask, phase);
            else
              memcpy (dst, data + pos, n);
            pos += n;
            decoder->payload_done += n;

            if (decoder->msg_opcode == CRIER_WS_OP_TEXT && !opcode_is_control (decoder->opcode))
              {
                decoder->utf8_state = utf8_run (decoder->utf8_state, dst, n);
                if (decoder->utf8_state == UTF8_REJECT)
                  {
                    code = CRIER_WS_CLOSE_BAD_DATA;
                    reason = "text message is not valid UTF-8";
                    goto fail;
                  }
              }

            if (decoder->payload_done < decoder->payload_len)
              goto need_more;
          }

        frame_complete:
          decoder->state = STATE_HEADER_START;

          if (opcode_is_control (decoder->opcode))
            {
              decoder_control_event (decoder, event);
              goto out;
            }

          if (!decoder->fin)
            continue;

          if (decoder->msg_opcode == CRIER_WS_OP_TEXT && decoder->utf8_state != UTF8_ACCEPT)
            {
              code = CRIER_WS_CLOSE_BAD_DATA;
              reason = "text message ends inside a UTF-8 sequence";
              goto fail;
            }

          event->type = CRIER_WS_EVENT_MESSAGE;
          event->opcode = decoder->msg_opcode;
          if (decoder->message != NULL && decoder->message->len > 0)
            {
              event->data = decoder->message->data;
              event->len = decoder->message->len;
            }
          else
            {
              event->data = empty_payload;
              event->len = 0;
            }
          decoder->msg_opcode = 0;
          goto out;

        default:
          g_assert_not_reached ();
        }
    }

need_more:
  g_assert (pos == len);
  event->type = CRIER_WS_EVENT_NEED_MORE;
  *consumed = pos;
  return CRIER_WS_EVENT_NEED_MORE;

fail:
  *consumed = pos;
  return decoder_fail (decoder, event, code, reason);

out:
  *consumed = pos;
  return event->type;
}

/* ------------------------------------------------------------------------ */
/* Encoder                                                                   */
/* ------------------------------------------------------------------------ */

gsize
crier_ws_frame_header_len (gsize len)
{
  if (len <= 125)
    return 2;
  if (len <= G_MAXUINT16)
    return 4;
  return 10;
}

/* Writes the header with the mask bit as given; returns its length without
 * the masking key. */
static gsize
write_header (guint8   *out,
              guint8    opcode,
              gboolean  fin,
              gboolean  masked,
              guint64   len)
{
  guint8 mask_bit = masked ? 0x80 : 0;

  out[0] = (fin ? 0x80 : 0) | (opcode & 0x0F);

  if (len <= 125)
    {
      out[1] = mask_bit | (guint8) len;
      return 2;
    }

  if (len <= G_MAXUINT16)
    {
      out[1] = mask_bit | 126;
      out[2] = (guint8) (len >> 8);
      out[3] = (guint8) len;
      return 4;
    }

  out[1] = mask_bit | 127;
  for (guint i = 0; i < 8; i++)
    out[2 + i] = (guint8) (len >> (56 - 8 * i));
  return 10;
}

gsize
crier_ws_frame_write_header (guint8        *out,
                             CrierWsOpcode  opcode,
                             gboolean       fin,
                             gsize          len)
{
  g_return_val_if_fail (out != NULL, 0);

  return write_header (out, opcode, fin, FALSE, len);
}

GBytes *
crier_ws_frame_new (CrierWsOpcode  opcode,
                    const void    *payload,
                    gsize          len)
{
  gsize header_len;
  guint8 *frame;

  g_return_val_if_fail (payload != NULL || len == 0, NULL);
  g_return_val_if_fail (!opcode_is_control (opcode) || len <= 125, NULL);

  header_len = crier_ws_frame_header_len (len);
  frame = g_malloc (header_len + len);
  write_header (frame, opcode, TRUE, FALSE, len);
  if (len > 0)
    memcpy (frame + header_len, payload, len);

  return g_bytes_new_take (frame, header_len + len);
}

GBytes *
crier_ws_close_frame_new (guint16     code,
                          const char *reason)
{
  guint8 payload[125];
  gsize len = 0;

  if (code != 0 && code != CRIER_WS_CLOSE_NO_STATUS)
    {
      payload[0] = (guint8) (code >> 8);
      payload[1] = (guint8) code;
      len = 2;

      if (reason != NULL)
        {
          const char *valid_end;
          gsize reason_len;

          /* Never put invalid UTF-8 on the wire: keep the valid prefix. */
          g_utf8_validate (reason, -1, &valid_end);
          reason_len = valid_end - reason;

          if (reason_len > sizeof payload - 2)
            {
              reason_len = sizeof payload - 2;
              /* Back up to the start of the character that does not fit. */
              while (reason_len > 0 && ((guint8) reason[reason_len] & 0xC0) == 0x80)
                reason_len--;
            }

          memcpy (payload + 2, reason, reason_len);
          len += reason_len;
        }
    }

  return crier_ws_frame_new (CRIER_WS_OP_CLOSE, payload, len);
}

GBytes *
crier_ws_client_frame_new (CrierWsOpcode  opcode,
                           gboolean       fin,
                           const guint8   mask[4],
                           const void    *payload,
                           gsize          len)
{
  gsize header_len;
  guint8 *frame;

  /* No checks on opcode or length: tests build invalid frames with this. */
  g_return_val_if_fail (mask != NULL, NULL);
  g_return_val_if_fail (payload != NULL || len == 0, NULL);

  frame = g_malloc (crier_ws_frame_header_len (len) + 4 + len);
  header_len = write_header (frame, opcode, fin, TRUE, len);
  memcpy (frame + header_len, mask, 4);
  header_len += 4;
  if (len > 0)
    unmask_copy (frame + header_len, payload, len, mask, 0);

  return g_bytes_new_take (frame, header_len + len);
}

char *
crier_ws_accept_key (const char *key)
{
  g_autoptr(GChecksum) sha1 = NULL;
  guint8 digest[20];
  gsize digest_len = sizeof digest;

  g_return_val_if_fail (key != NULL, NULL);

  sha1 = g_checksum_new (G_CHECKSUM_SHA1);
  g_checksum_update (sha1, (const guchar *) key, -1);
  g_checksum_update (sha1, (const guchar *) WS_GUID, -1);
  g_checksum_get_digest (sha1, digest, &digest_len);
  g_assert (digest_len == sizeof digest);

  return g_base64_encode (digest, digest_len);
}
