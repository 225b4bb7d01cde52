/* crier-publication.h: one immutable, refcounted publication (or join /
 * leave event) per publish, whatever the number of receivers.
 *
 * Every wire form a receiver may need (a Centrifugo push in a WebSocket
 * frame, the same as an HTTP-stream line or an SSE event, the plain
 * dialect's forms) is encoded at most once, on first use, and cached here:
 * fan-out hands each subscriber the cached GBytes (encode once, no
 * per-subscriber JSON building, no payload copy).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  CRIER_PUSH_PUBLICATION,
  CRIER_PUSH_JOIN,
  CRIER_PUSH_LEAVE,
} CrierPushKind;

/* Wire forms. Streams use HTTP/1.1 chunked encoding, so a chunk (size
 * line + data + CRLF) is the same bytes for every receiver too. */
typedef enum
{
  CRIER_ENC_CF_WS,          /* WS text frame: {"push":{"channel":C,"pub":P}} */
  CRIER_ENC_CF_STREAM,      /* chunk: {"push":{...}}\n            (http_stream) */
  CRIER_ENC_CF_SSE,         /* chunk: data: {"push":{...}}\n\n     (sse) */
  CRIER_ENC_UNI_WS,         /* WS text frame: {"channel":C,"pub":P} */
  CRIER_ENC_UNI_STREAM,     /* chunk: {"channel":C,"pub":P}\n */
  CRIER_ENC_UNI_SSE,        /* chunk: data: {"channel":C,"pub":P}\n\n */
  CRIER_ENC_PLAIN_WS,       /* WS text frame: the data itself */
  CRIER_ENC_PLAIN_SSE,      /* chunk: id: EPOCH:OFFSET\ndata: D\n\n (no id line
                             * when the offset is 0) */
  CRIER_ENC_N
} CrierEncoding;

/* The plain dialect carries publications only: join and leave events
 * encode as an empty GBytes in both PLAIN forms, and senders skip empty
 * frames. */

typedef struct _CrierPublication CrierPublication;

struct _CrierPublication
{
  CrierPushKind kind;
  char         *channel;
  guint64       offset;     /* 1, 2, ...; 0 when the channel keeps no history */
  char         *epoch;      /* stream epoch; NULL when no history */
  GBytes       *data;       /* compact JSON value (no raw newline); NULL for join/leave */
  char         *info;       /* ClientInfo JSON object or NULL */
  gint64        time_ms;    /* wall clock at publish */
  gint64        mono_us;    /* monotonic at publish, for publish->deliver latency */
  gsize         size;       /* approximate bytes held, for history accounting */

  /*< private >*/
  gint          ref_count;
  GBytes       *encoded[CRIER_ENC_N];
};

/* @data must be a valid, compact JSON value (see crier_json_compact). */
CrierPublication *crier_publication_new        (const char       *channel,
                                                GBytes           *data,
                                                const char       *info);
/* A join or leave event carrying ClientInfo @info. */
CrierPublication *crier_publication_new_event  (CrierPushKind     kind,
                                                const char       *channel,
                                                const char       *info);
CrierPublication *crier_publication_ref        (CrierPublication *pub);
void              crier_publication_unref      (CrierPublication *pub);

/* The wire form @enc, built on first use and cached (transfer none). */
GBytes           *crier_publication_encode     (CrierPublication *pub,
                                                CrierEncoding     enc);

/* Appends the protocol's Publication object ({"data":..,"offset":N,
 * "info":{..}}, offset omitted when 0, info when NULL) for history replies
 * and recovery.  For a join or leave event: {"info":{..}}. */
void              crier_publication_append_json (CrierPublication *pub,
                                                 GString          *out);

/* Validates @text as one JSON value (strict RFC 8259, UTF-8, a leading BOM
 * is dropped, nesting up to 256) and returns it without insignificant
 * whitespace, every token kept verbatim (no raw newline, so replies can be
 * newline-batched); NULL + JSON_PARSER_ERROR when it is not JSON. */
GBytes           *crier_json_compact           (const char       *text,
                                                gssize            len,
                                                GError          **error);

/* Appends @s as a JSON string literal (with quotes). */
void              crier_json_append_string     (GString          *out,
                                                const char       *s);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierPublication, crier_publication_unref)

G_END_DECLS
