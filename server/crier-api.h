/* crier-api.h: the server HTTP API (Centrifugo's) and the plain publish.
 *
 *   POST /api/<method>      publish, broadcast, subscribe, unsubscribe,
 *                           disconnect, presence, presence_stats, history,
 *                           history_remove, channels, info, batch
 *   POST /pub/<channel>     the plain dialect's publish: the body is the
 *                           payload (JSON, or a form field data=...)
 *
 * Both need one of [auth] api_keys, sent as "X-API-Key: KEY" or
 * "Authorization: apikey KEY"; with no key configured both answer 403.
 *
 * HTTP status carries what is wrong with the request itself (405, 403,
 * 401, 413, 400 for a body that is not a JSON object or lacks a field,
 * 404 for an unknown method); a well-formed request that the protocol
 * refuses (unknown namespace 102, not available 108, ...) gets 200 with
 * {"error":{"code":N,"message":"..."}}, as Centrifugo answers. Inside a
 * batch every command gets its own reply, errors included.
 */
#pragma once

#include <libsoup/soup.h>

#include "crier-server.h"

G_BEGIN_DECLS

/* Why a request was refused before any method ran. */
typedef enum
{
  CRIER_API_REJECT_DISABLED,       /* 403: no [auth] api_keys configured */
  CRIER_API_REJECT_UNAUTHORIZED,   /* 401: key missing or wrong */
  CRIER_API_REJECT_METHOD,         /* 405: not POST */
  CRIER_API_REJECT_TOO_LARGE,      /* 413: body above [limits] max_request_body */
  CRIER_API_REJECT_BAD_JSON,       /* 400: body not JSON, or not an object */
  CRIER_API_REJECT_BAD_REQUEST,    /* 400: a field missing or of the wrong type */
  CRIER_API_REJECT_UNKNOWN_METHOD, /* 404: no such /api/<method> */
  CRIER_API_REJECT_N
} CrierApiReject;

/* Counters since start. Kept in a struct stored on the server with
 * g_object_set_data() under "crier-api" by crier_api_register(). */
typedef struct
{
  guint64 requests;                      /* HTTP requests to /api and /pub */
  guint64 commands;                      /* methods run; each batch command counts */
  guint64 command_errors;                /* methods answered {"error":...}, batch
                                          * commands and broadcast channels included */
  guint64 publications;                  /* accepted: publish, each broadcast
                                          * channel, /pub */
  guint64 rejected[CRIER_API_REJECT_N];  /* requests refused, by reason */
} CrierApiStats;

/* Adds the /api and /pub handlers to @soup; call once, from
 * crier_server_start(). */
void                 crier_api_register          (CrierServer    *server,
                                                  SoupServer     *soup);
/* NULL until crier_api_register() ran on @server. */
const CrierApiStats *crier_api_get_stats         (CrierServer    *server);
/* "disabled", "unauthorized", ...: stable names for metrics labels. */
const char          *crier_api_reject_to_string  (CrierApiReject  reason);

G_END_DECLS
