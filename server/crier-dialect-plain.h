/* crier-dialect-plain.h: the plain dialect, for curl, a bare EventSource
 * and tools without an SDK (docs/transports.md has the full reference).
 *
 *   GET /sub/CH[,CH...]   Accept: text/event-stream -> SSE
 *                         Upgrade: websocket        -> WebSocket
 *                         anything else             -> long polling
 *   GET /crier.js         the browser client (fallback WS -> SSE -> poll)
 *   GET /debug/page/NAME  files of [server] debug_pages_dir (tests only)
 *
 * Publishing is POST /pub/CH in crier-api.c.
 *
 * Positions. A channel's position is EPOCH:OFFSET. One channel: the SSE
 * id is exactly that. Several channels: the id is the compound cursor
 *   CH=EPOCH:OFFSET[,CH=EPOCH:OFFSET...]
 * naming every channel that has a position (a channel without history has
 * none). It is sent after each publication as an id-only SSE event, so a
 * browser's Last-Event-ID always carries every channel. A long-poll cursor
 * (ETag) is SESSION.SEQ/POSITIONS: the poll session and how much of its
 * buffer the client has, then the positions for when that session is
 * gone. Resuming gives exactly the missed publications, or a reset for
 * each channel that cannot be resumed.
 *
 * With ?meta=1 SSE events and WebSocket frames carry Centrifugo
 * unidirectional pushes instead of bare payloads ({"channel":C,"pub":P},
 * {"channel":C,"subscribe":{...}}, {"disconnect":{...}}): that is what
 * crier.js uses to keep the compound cursor itself.
 */
#pragma once

#include <libsoup/soup.h>

#include "crier-proto-centrifuge.h"
#include "crier-server.h"

G_BEGIN_DECLS

/* One channel's position in a cursor. */
typedef struct
{
  char    *channel;   /* NULL in a single-channel EPOCH:OFFSET */
  char    *epoch;
  guint64  offset;
} CrierPlainPosition;

/* A parsed cursor: positions plus, for long polling, the session part. */
typedef struct
{
  GPtrArray *positions;   /* CrierPlainPosition* */
  char      *session;     /* NULL when absent */
  guint64    seq;
} CrierPlainCursor;

/* Parses "EPOCH:OFFSET", "CH=EPOCH:OFFSET,...", optionally prefixed with
 * "SESSION.SEQ/"; NULL when malformed. */
CrierPlainCursor *crier_plain_cursor_parse (const char        *text);
void              crier_plain_cursor_free  (CrierPlainCursor  *cursor);
/* The position of @channel: the named one, else an unnamed one (the
 * single-channel form), else NULL. */
const CrierPlainPosition *
                  crier_plain_cursor_find  (const CrierPlainCursor *cursor,
                                            const char        *channel);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierPlainCursor, crier_plain_cursor_free)

/* Adds the routes above; called by crier_stream_register(). */
void              crier_plain_register     (CrierServer       *server,
                                            SoupServer        *soup,
                                            CrierCfContext    *cf);

G_END_DECLS
