/* crier-ws-codec.h: RFC 6455 framing, our own (no libsoup on the hot path).
 *
 * The decoder is an incremental state machine fed with whatever bytes the
 * socket produced; it reassembles fragmented messages, lets control frames
 * interleave with fragments, validates UTF-8 of text messages incrementally
 * across fragments, and reports protocol violations with the close code the
 * RFC asks for.  The encoder builds unmasked server frames once, as GBytes
 * that every receiver shares, and masked client frames for tests and the
 * benchmark tool.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  CRIER_WS_OP_CONTINUATION = 0x0,
  CRIER_WS_OP_TEXT         = 0x1,
  CRIER_WS_OP_BINARY       = 0x2,
  CRIER_WS_OP_CLOSE        = 0x8,
  CRIER_WS_OP_PING         = 0x9,
  CRIER_WS_OP_PONG         = 0xA,
} CrierWsOpcode;

/* Close codes used by the codec (RFC 6455 §7.4.1). */
enum
{
  CRIER_WS_CLOSE_NORMAL          = 1000,
  CRIER_WS_CLOSE_GOING_AWAY      = 1001,
  CRIER_WS_CLOSE_PROTOCOL_ERROR  = 1002,
  CRIER_WS_CLOSE_UNSUPPORTED     = 1003,
  CRIER_WS_CLOSE_NO_STATUS       = 1005,
  CRIER_WS_CLOSE_ABNORMAL        = 1006,
  CRIER_WS_CLOSE_BAD_DATA        = 1007,
  CRIER_WS_CLOSE_POLICY          = 1008,
  CRIER_WS_CLOSE_TOO_BIG         = 1009,
  CRIER_WS_CLOSE_SERVER_ERROR    = 1011,
};

typedef enum
{
  CRIER_WS_EVENT_NEED_MORE,  /* everything given was consumed, no complete event */
  CRIER_WS_EVENT_MESSAGE,    /* a whole text or binary message (reassembled) */
  CRIER_WS_EVENT_PING,
  CRIER_WS_EVENT_PONG,
  CRIER_WS_EVENT_CLOSE,      /* peer sent a close frame; code/reason filled */
  CRIER_WS_EVENT_ERROR,      /* protocol violation; code/reason say which */
} CrierWsEventType;

typedef struct
{
  CrierWsEventType type;
  CrierWsOpcode    opcode;   /* TEXT or BINARY for MESSAGE */
  /* Payload of MESSAGE/PING/PONG/CLOSE-reason.  Points into the decoder's own
   * buffer or into the caller's input: valid only until the next call to
   * crier_ws_decoder_feed() or crier_ws_decoder_clear(). */
  const guint8    *data;
  gsize            len;
  guint16          code;     /* CLOSE: peer's code (1005 when absent); ERROR: code to send */
  const char      *reason;   /* ERROR: static human text; CLOSE: NULL (reason is data/len) */
} CrierWsEvent;

typedef struct
{
  /* settings (0 given to crier_ws_decoder_init() means no limit) */
  gsize    max_frame_size;    /* payload bytes of one frame */
  gsize    max_message_size;  /* payload bytes of a reassembled message */
  gboolean server;            /* TRUE: frames must be masked; FALSE: must not be */

  /* private state: do not touch */
  int        state;
  guint8     header[14];
  guint      header_len;
  guint      header_need;
  gboolean   fin;
  guint8     opcode;
  gboolean   masked;
  guint8     mask[4];
  guint64    payload_len;
  guint64    payload_done;
  guint8     control[125];
  guint8     msg_opcode;      /* opcode of the data message in progress
                               * (fragmented or not), 0 if none */
  GByteArray *message;        /* reassembly buffer */
  guint32    utf8_state;
  guint32    utf8_codepoint;  /* reserved: the automaton needs no code point */
  gboolean   closed;
} CrierWsDecoder;

void          crier_ws_decoder_init        (CrierWsDecoder *decoder,
                                            gboolean        server,
                                            gsize           max_frame_size,
                                            gsize           max_message_size);
void          crier_ws_decoder_clear       (CrierWsDecoder *decoder);

/* Feed bytes.  Consumes as much of @data as needed to produce at most one
 * event, stores the count in @consumed, and returns the event type (also in
 * @event->type).  Call again with the rest while it returns anything but
 * NEED_MORE.  After ERROR or CLOSE the decoder refuses further input (ERROR).
 * Unmasking is done in place on a private copy, never on @data. */
CrierWsEventType crier_ws_decoder_feed     (CrierWsDecoder *decoder,
                                            const guint8   *data,
                                            gsize           len,
                                            gsize          *consumed,
                                            CrierWsEvent   *event);

/* Bytes currently held for an incomplete message (for memory accounting). */
gsize         crier_ws_decoder_buffered    (const CrierWsDecoder *decoder);

/* Server frames (unmasked, FIN set), built once and shared by all receivers. */
GBytes       *crier_ws_frame_new           (CrierWsOpcode   opcode,
                                            const void     *payload,
                                            gsize           len);
/* Close frame: 2-byte code + UTF-8 reason truncated at a character boundary
 * so the payload fits in 125 bytes.  code 1005 or 0 gives an empty payload. */
GBytes       *crier_ws_close_frame_new     (guint16         code,
                                            const char     *reason);

/* Length of the frame header for a payload of @len bytes (server frame). */
gsize         crier_ws_frame_header_len    (gsize           len);
/* Writes a server frame header into @out (at least 10 bytes), returns its length. */
gsize         crier_ws_frame_write_header  (guint8         *out,
                                            CrierWsOpcode   opcode,
                                            gboolean        fin,
                                            gsize           len);

/* Client frames (masked with @mask), for tests and the benchmark client. */
GBytes       *crier_ws_client_frame_new    (CrierWsOpcode   opcode,
                                            gboolean        fin,
                                            const guint8    mask[4],
                                            const void     *payload,
                                            gsize           len);

/* Validate a whole buffer as UTF-8 in the strict RFC 3629 sense (no
 * surrogates, no overlongs, max U+10FFFF).  Same automaton as the decoder. */
gboolean      crier_ws_utf8_validate       (const guint8   *data,
                                            gsize           len);

/* Sec-WebSocket-Accept value for a Sec-WebSocket-Key (caller frees). */
char         *crier_ws_accept_key          (const char     *key);

G_END_DECLS
