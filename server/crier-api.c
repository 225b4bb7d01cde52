/* crier-api.c: the server HTTP API and the plain publish (see the header).
 *
 * Key functions: api_early_cb (method, key and size checks on the headers,
 * before any body is buffered), api_cb (parse, dispatch a method or a
 * batch), pub_cb (POST /pub/<channel>), the method_* functions, and
 * batch_pump (runs batch commands in order, or all at once with
 * "parallel").
 *
 * Hub calls answer through callbacks. The memory broker calls back before
 * returning, a remote one later: a method "answers" its ApiCall exactly
 * once, whenever that happens, and a request whose answer is not there
 * when the handler returns is paused until it is.
 *
 * Payloads ("data") are not round-tripped through json-glib, which would
 * rewrite numbers (0.1 -> 0.10000000000000001) and wrap integers beyond
 * 64 bits: json-glib checks the body and reads the small fields, and the
 * payload's own text is cut out of the body (JsonSpan) and compacted with
 * crier_json_compact().
 */
#include "config.h"

#include "crier-api.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "crier-cluster.h"
#include "crier-hub.h"
#include "crier-publication.h"
#include "crier-session.h"
#include "crier-util.h"

#define API_DATA_KEY  "crier-api"
#define BODY_DATA_KEY "crier-api-body"

#define UNSUBSCRIBE_CODE    2000
#define UNSUBSCRIBE_REASON  "server unsubscribe"
#define DISCONNECT_CODE     3503
#define DISCONNECT_REASON   "force disconnect"
#define CLOSE_REASON_MAX    123   /* bytes of a WebSocket close reason */

typedef struct
{
  CrierServer   *server;   /* owns us (object data) */
  CrierApiStats  stats;
  char          *uid;      /* this node in "info", new per process */
} Api;

/* The request body, collected by us so that a body above the limit is
 * counted, not buffered. */
typedef struct
{
  GByteArray *data;
  gint64      limit;
  gboolean    too_large;
} ApiBody;

/* The text of one JSON value inside the request body. */
typedef struct
{
  const char *start;
  const char *end;
} JsonSpan;

typedef struct
{
  gint               ref_count;
  Api               *api;
  CrierServer       *server;          /* strong while in flight */
  SoupServerMessage *msg;             /* strong */
  gulong             disconnected_id;
  gboolean           paused;
  gboolean           answered;
  gboolean           gone;            /* the client closed the connection */
  GBytes            *body;            /* spans point into it */
  JsonParser        *parser;          /* owns the params objects */
} ApiRequest;

typedef struct _ApiCall ApiCall;
typedef void (*ApiCallDone) (ApiCall *call);
typedef void (*ApiMethodFunc) (ApiCall *call);

typedef struct
{
  const char    *name;
  ApiMethodFunc  func;
} ApiMethod;

/* One method run: the top-level one, or one command of a batch. */
struct _ApiCall
{
  ApiRequest      *request;          /* strong */
  const ApiMethod *method;
  JsonObject      *params;
  JsonSpan         raw;              /* text of params */

  /* outcome */
  int              code;             /* 0 = success */
  gboolean         bad_request;      /* a field check failed (107) */
  char            *message;
  GString         *result;           /* the result object, on success */

  ApiCallDone      done;             /* called once; frees the call */
  gpointer         done_data;
  guint            index;
};

/* ---- JSON helpers ------------------------------------------------------- */

static void
append_error (GString    *out,
              int         code,
              const char *message)
{
  g_string_append_printf (out, "{\"code\":%d,\"message\":", code);
  crier_json_append_string (out, message);
  g_string_append_c (out, '}');
}

/* {"error":{"code":N,"message":"..."}} */
static GString *
error_document (int         code,
                const char *message)
{
  GString *out = g_string_new ("{\"error\":");

  append_error (out, code, message);
  g_string_append_c (out, '}');
  return out;
}

static const char *
span_skip_ws (const char *p,
              const char *end)
{
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  return p;
}

/* @p at '"'; returns the position after the closing quote, or NULL. */
static const char *
span_skip_string (const char *p,
                  const char *end)
{
  for (p++; p < end; p++)
    {
      if (*p == '\\')
        p++;
      else if (*p == '"')
        return p + 1;
    }
  return NULL;
}

/* Skips the value at @p, text that json-glib already accepted; NULL when
 * it does not look like strict JSON after all. */
static const char *
span_skip_value (const char *p,
                 const char *end)
{
  gsize depth = 0;

  if (p >= end)
    return NULL;
  if (*p == '"')
    return span_skip_string (p, end);
  if (*p != '{' && *p != '[')
    {
      const char *start = p;

      /* A number, true, false or null. */
      while (p < end && (g_ascii_isalnum (*p) || *p == '-' || *p == '+' || *p == '.'))
        p++;
      return p > start ? p : NULL;
    }

  while (p < end)
    {
      switch (*p)
        {
        case '"':
          p = span_skip_string (p, end);
          if (p == NULL)
            return NULL;
          continue;
        case '{':
        case '[':
          depth++;
          break;
        case '}':
        case ']':
          if (--depth == 0)
            return p + 1;
          break;
        default:
          break;
        }
      p++;
    }
  return NULL;
}

static gboolean
span_key_equal (const char *start,
                const char *end,
                const char *key)
{
  gsize len = end - start - 2;
  g_autofree char *text = NULL;
  g_autoptr(JsonNode) node = NULL;

  if (memchr (start + 1, '\\', len) == NULL)
    return len == strlen (key) && memcmp (start + 1, key, len) == 0;

  /* An escaped member name: let json-glib decode it. */
  text = g_strndup (start, end - start);
  node = json_from_string (text, NULL);
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
         json_node_get_value_type (node) == G_TYPE_STRING &&
         g_strcmp0 (json_node_get_string (node), key) == 0;
}

/* The value of member @key of the object @obj; the last one when the name
 * repeats, as json-glib keeps the last one. */
static gboolean
span_member (const JsonSpan *obj,
             const char     *key,
             JsonSpan       *out)
{
  const char *end = obj->end;
  const char *p = span_skip_ws (obj->start, end);
  gboolean found = FALSE;

  if (p >= end || *p != '{')
    return FALSE;
  p = span_skip_ws (p + 1, end);
  while (p < end && *p == '"')
    {
      const char *key_start = p;
      const char *key_end = span_skip_string (p, end);
      const char *value_start;
      const char *value_end;

      if (key_end == NULL)
        return FALSE;
      p = span_skip_ws (key_end, end);
      if (p >= end || *p != ':')
        return FALSE;
      value_start = span_skip_ws (p + 1, end);
      value_end = span_skip_value (value_start, end);
      if (value_end == NULL)
        return FALSE;
      if (span_key_equal (key_start, key_end, key))
        {
          out->start = value_start;
          out->end = value_end;
          found = TRUE;
        }
      p = span_skip_ws (value_end, end);
      if (p >= end || *p != ',')
        break;
      p = span_skip_ws (p + 1, end);
    }
  return found;
}

/* Every element of the array @arr, in order; FALSE if it cannot be read. */
static gboolean
span_elements (const JsonSpan *arr,
               GArray         *out)
{
  const char *end = arr->end;
  const char *p = span_skip_ws (arr->start, end);

  if (p >= end || *p != '[')
    return FALSE;
  p = span_skip_ws (p + 1, end);
  if (p < end && *p == ']')
    return TRUE;
  while (p < end)
    {
      JsonSpan element = { p, span_skip_value (p, end) };

      if (element.end == NULL)
        return FALSE;
      g_array_append_val (out, element);
      p = span_skip_ws (element.end, end);
      if (p < end && *p == ']')
        return TRUE;
      if (p >= end || *p != ',')
        return FALSE;
      p = span_skip_ws (p + 1, end);
    }
  return FALSE;
}

/* ---- requests ----------------------------------------------------------- */

static const char *
reject_names[CRIER_API_REJECT_N] = {
  [CRIER_API_REJECT_DISABLED] = "disabled",
  [CRIER_API_REJECT_UNAUTHORIZED] = "unauthorized",
  [CRIER_API_REJECT_METHOD] = "method_not_allowed",
  [CRIER_API_REJECT_TOO_LARGE] = "too_large",
  [CRIER_API_REJECT_BAD_JSON] = "bad_json",
  [CRIER_API_REJECT_BAD_REQUEST] = "bad_request",
  [CRIER_API_REJECT_UNKNOWN_METHOD] = "unknown_method",
};

const char *
crier_api_reject_to_string (CrierApiReject reason)
{
  g_return_val_if_fail (reason < CRIER_API_REJECT_N, NULL);
  return reject_names[reason];
}

static void
message_respond (SoupServerMessage *msg,
                 guint              status,
                 GString           *json)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  gsize len;
  char *text;

  g_string_append_c (json, '\n');
  len = json->len;
  text = g_string_free (json, FALSE);
  soup_message_headers_replace (headers, "Cache-Control", "no-store");
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, text, len);
}

/* Refuses @msg: counts the reason, logs it (never keys or bodies) and
 * answers {"error":{...}}. */
static void G_GNUC_PRINTF (6, 7)
reject (Api               *api,
        SoupServerMessage *msg,
        CrierApiReject     reason,
        guint              status,
        int                code,
        const char        *format,
        ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  api->stats.rejected[reason]++;
  g_debug ("api: %s %s from %s refused (%s): %s",
           soup_server_message_get_method (msg),
           g_uri_get_path (soup_server_message_get_uri (msg)),
           soup_server_message_get_remote_host (msg),
           reject_names[reason], message);
  message_respond (msg, status, error_document (code, message));
}

static void
request_disconnected_cb (SoupServerMessage *msg,
                         gpointer           user_data)
{
  ApiRequest *request = user_data;

  if (!request->answered)
    g_debug ("api: %s from %s left before the answer",
             g_uri_get_path (soup_server_message_get_uri (msg)),
             soup_server_message_get_remote_host (msg));
  request->gone = TRUE;
}

static ApiRequest *
api_request_new (Api               *api,
                 SoupServerMessage *msg,
                 GBytes            *body)
{
  ApiRequest *request = g_new0 (ApiRequest, 1);

  request->ref_count = 1;
  request->api = api;
  request->server = g_object_ref (api->server);
  request->msg = g_object_ref (msg);
  request->body = body != NULL ? g_bytes_ref (body) : NULL;
  request->disconnected_id = g_signal_connect (msg, "disconnected",
                                               G_CALLBACK (request_disconnected_cb), request);
  return request;
}

static ApiRequest *
api_request_ref (ApiRequest *request)
{
  request->ref_count++;
  return request;
}

static void
api_request_unref (ApiRequest *request)
{
  if (--request->ref_count > 0)
    return;

  g_assert (request->answered);
  g_signal_handler_disconnect (request->msg, request->disconnected_id);
  g_clear_object (&request->parser);
  g_clear_pointer (&request->body, g_bytes_unref);
  g_object_unref (request->msg);
  g_object_unref (request->server);
  g_free (request);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ApiRequest, api_request_unref)

/* Takes @json. Resumes the message when the handler paused it. */
static void
api_request_respond (ApiRequest *request,
                     guint       status,
                     GString    *json)
{
  g_assert (!request->answered);
  request->answered = TRUE;

  if (request->gone)
    {
      g_string_free (json, TRUE);
      return;
    }
  message_respond (request->msg, status, json);
  if (request->paused)
    soup_server_message_unpause (request->msg);
}

/* Called by the handler once the method or batch is dispatched. */
static void
api_request_wait (ApiRequest *request)
{
  if (!request->answered)
    {
      request->paused = TRUE;
      soup_server_message_pause (request->msg);
    }
}

/* ---- calls -------------------------------------------------------------- */

static ApiCall *
api_call_new (ApiRequest      *request,
              const ApiMethod *method,
              JsonObject      *params,
              const JsonSpan  *raw,
              ApiCallDone      done,
              gpointer         done_data)
{
  ApiCall *call = g_new0 (ApiCall, 1);

  call->request = api_request_ref (request);
  call->method = method;
  call->params = json_object_ref (params);
  call->raw = *raw;
  call->done = done;
  call->done_data = done_data;
  return call;
}

static void
api_call_free (ApiCall *call)
{
  if (call->result != NULL)
    g_string_free (call->result, TRUE);
  g_free (call->message);
  json_object_unref (call->params);
  api_request_unref (call->request);
  g_free (call);
}

static Api *
call_api (ApiCall *call)
{
  return call->request->api;
}

static CrierHub *
call_hub (ApiCall *call)
{
  return crier_server_get_hub (call->request->server);
}

static void
api_call_run (ApiCall *call)
{
  call_api (call)->stats.commands++;
  call->method->func (call);
}

/* Takes @result (a JSON object). The call is gone afterwards. */
static void
api_call_ok (ApiCall *call,
             GString *result)
{
  call->result = result;
  call->done (call);
}

static void
api_call_error (ApiCall    *call,
                int         code,
                const char *message)
{
  call->code = code;
  call->message = g_strdup (message != NULL ? message : crier_proto_error_message (code));
  call->done (call);
}

static void
api_call_gerror (ApiCall      *call,
                 const GError *error)
{
  if (error->domain == CRIER_PROTO_ERROR)
    {
      api_call_error (call, error->code, error->message);
      return;
    }
  g_warning ("api: %s failed: %s", call->method->name, error->message);
  api_call_error (call, CRIER_PROTO_ERROR_INTERNAL, NULL);
}

static void G_GNUC_PRINTF (2, 3)
api_call_bad_request (ApiCall    *call,
                      const char *format,
                      ...)
{
  g_autofree char *detail = NULL;
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  detail = g_strdup_vprintf (format, args);
  va_end (args);
  message = g_strdup_printf ("bad request: %s", detail);
  call->bad_request = TRUE;
  api_call_error (call, CRIER_PROTO_ERROR_BAD_REQUEST, message);
}

/* The call's error as {"code":..,"message":..} or its result, wrapped. */
static void
append_outcome (GString    *out,
                ApiCall    *call,
                const char *result_key)
{
  if (call->code != 0)
    {
      g_string_append (out, "{\"error\":");
      append_error (out, call->code, call->message);
    }
  else
    {
      g_string_append_c (out, '{');
      crier_json_append_string (out, result_key);
      g_string_append_c (out, ':');
      g_string_append_len (out, call->result->str, call->result->len);
    }
  g_string_append_c (out, '}');
}

/* ---- parameters --------------------------------------------------------- */

typedef enum
{
  PARAM_OPTIONAL,
  PARAM_REQUIRED,     /* present and not null */
  PARAM_NON_EMPTY,    /* and, for strings, not "" */
} ParamFlags;

/* The member @name, or NULL when absent or null (null counts as absent,
 * as with the Go encoder behind Centrifugo). */
static JsonNode *
param_node (ApiCall    *call,
            const char *name)
{
  JsonNode *node = json_object_get_member (call->params, name);

  return node == NULL || JSON_NODE_HOLDS_NULL (node) ? NULL : node;
}

/* FALSE when the call has been answered with a bad request. */
static gboolean
param_string (ApiCall     *call,
              const char  *name,
              ParamFlags   flags,
              const char **out)
{
  JsonNode *node = param_node (call, name);

  *out = NULL;
  if (node == NULL)
    {
      if (flags == PARAM_OPTIONAL)
        return TRUE;
      api_call_bad_request (call, "'%s' is required", name);
      return FALSE;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      api_call_bad_request (call, "'%s' must be a string", name);
      return FALSE;
    }
  *out = json_node_get_string (node);
  if (flags == PARAM_NON_EMPTY && (*out)[0] == '\0')
    {
      api_call_bad_request (call, "'%s' must not be empty", name);
      return FALSE;
    }
  return TRUE;
}

static gboolean
param_int (ApiCall    *call,
           JsonObject *object,
           const char *prefix,
           const char *name,
           gint64     *out)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    {
      api_call_bad_request (call, "'%s%s' must be an integer", prefix, name);
      return FALSE;
    }
  *out = json_node_get_int (node);
  return TRUE;
}

static gboolean
param_bool (ApiCall    *call,
            const char *name,
            gboolean   *out)
{
  JsonNode *node = param_node (call, name);

  *out = FALSE;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    {
      api_call_bad_request (call, "'%s' must be true or false", name);
      return FALSE;
    }
  *out = json_node_get_boolean (node);
  return TRUE;
}

/* @out: the object, or NULL when absent. */
static gboolean
param_object (ApiCall     *call,
              const char  *name,
              JsonObject **out)
{
  JsonNode *node = param_node (call, name);

  *out = NULL;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      api_call_bad_request (call, "'%s' must be an object", name);
      return FALSE;
    }
  *out = json_node_get_object (node);
  return TRUE;
}

/* @out: the array, or NULL when absent; every element a string. */
static gboolean
param_string_array (ApiCall     *call,
                    const char  *name,
                    JsonArray  **out)
{
  JsonNode *node = param_node (call, name);

  *out = NULL;
  if (node == NULL)
    return TRUE;
  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);
      guint n = json_array_get_length (array);
      guint i;

      for (i = 0; i < n; i++)
        {
          JsonNode *element = json_array_get_element (array, i);

          if (!JSON_NODE_HOLDS_VALUE (element) || json_node_get_value_type (element) != G_TYPE_STRING)
            break;
        }
      if (i == n)
        {
          *out = array;
          return TRUE;
        }
    }
  api_call_bad_request (call, "'%s' must be an array of strings", name);
  return FALSE;
}

/* The raw text of member @name (any JSON value), compacted; NULL with
 * @out_ok TRUE when absent. */
static GBytes *
param_raw_json (ApiCall    *call,
                const char *name,
                gboolean   *out_ok)
{
  g_autoptr(GError) error = NULL;
  JsonSpan span;
  GBytes *bytes;

  *out_ok = TRUE;
  if (param_node (call, name) == NULL)
    return NULL;
  if (!span_member (&call->raw, name, &span))
    {
      *out_ok = FALSE;
      api_call_bad_request (call, "'%s' could not be read: the body is not strict JSON", name);
      return NULL;
    }
  bytes = crier_json_compact (span.start, span.end - span.start, &error);
  if (bytes == NULL)
    {
      *out_ok = FALSE;
      api_call_bad_request (call, "'%s' is not valid JSON: %s", name, error->message);
    }
  return bytes;
}

static char *
bytes_to_string (GBytes *bytes)
{
  gsize len;
  const char *data;

  if (bytes == NULL)
    return NULL;
  data = g_bytes_get_data (bytes, &len);
  return g_strndup (data, len);
}

/* Standard base64 with padding, as Go's StdEncoding reads it. */
static gboolean
base64_is_valid (const char *text)
{
  gsize len = strlen (text);
  gsize pad = 0;

  if (len % 4 != 0)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      char c = text[i];

      if (c == '=')
        pad++;
      else if (pad > 0 || !(g_ascii_isalnum (c) || c == '+' || c == '/'))
        return FALSE;
    }
  return pad <= 2;
}

/* The publication payload: "b64data" when given, else "data". NULL when
 * the call has been answered with a bad request. */
static GBytes *
call_payload (ApiCall *call)
{
  g_autoptr(GError) error = NULL;
  const char *b64;
  GBytes *data;
  gboolean ok;

  if (!param_string (call, "b64data", PARAM_OPTIONAL, &b64))
    return NULL;
  if (b64 != NULL && b64[0] != '\0')
    {
      g_autofree guchar *decoded = NULL;
      gsize len;

      if (!base64_is_valid (b64))
        {
          api_call_bad_request (call, "'b64data' is not valid base64");
          return NULL;
        }
      decoded = g_base64_decode (b64, &len);
      data = crier_json_compact ((const char *) decoded, len, &error);
      if (data == NULL)
        api_call_bad_request (call, "'b64data' must decode to a JSON value, as JSON clients "
                              "cannot receive binary: %s", error->message);
      return data;
    }

  data = param_raw_json (call, "data", &ok);
  if (data == NULL && ok)
    api_call_bad_request (call, "'data' is required");
  return data;
}

/* "skip_history" and "tags" are accepted for compatibility with
 * Centrifugo clients but not applied: the hub keeps every publication in
 * history and publications carry no tags yet. */
static gboolean
check_publish_options (ApiCall *call)
{
  JsonObject *tags;
  gboolean skip_history;

  if (!param_bool (call, "skip_history", &skip_history) ||
      !param_object (call, "tags", &tags))
    return FALSE;
  if (tags != NULL)
    {
      g_autoptr(GList) members = json_object_get_values (tags);

      for (GList *l = members; l != NULL; l = l->next)
        if (!JSON_NODE_HOLDS_VALUE (l->data) || json_node_get_value_type (l->data) != G_TYPE_STRING)
          {
            api_call_bad_request (call, "'tags' must map strings to strings");
            return FALSE;
          }
    }
  return TRUE;
}

/* The namespace of @channel; NULL when the call was answered (102/107). */
static const CrierNamespaceConfig *
call_check_channel (ApiCall    *call,
                    const char *channel)
{
  g_autoptr(GError) error = NULL;
  const CrierNamespaceConfig *ns = crier_hub_check_channel (call_hub (call), channel, &error);

  if (ns == NULL)
    api_call_gerror (call, error);
  return ns;
}

/* ---- publish, broadcast ------------------------------------------------- */

typedef void (*PublishDoneFunc) (CrierPublication *pub,
                                 const GError     *error,
                                 gpointer          user_data);

typedef struct
{
  Api             *api;
  PublishDoneFunc  func;
  gpointer         user_data;
} PublishClosure;

static void
publish_cb (CrierPublication *pub,
            const GError     *error,
            gpointer          user_data)
{
  PublishClosure *closure = user_data;

  if (error == NULL)
    closure->api->stats.publications++;
  closure->func (pub, error, closure->user_data);
  g_free (closure);
}

/* Publishes @data in @channel after checking its name; @func gets the
 * publication (offset and epoch set) or the error, once. */
static void
publish_one (Api             *api,
             const char      *channel,
             GBytes          *data,
             PublishDoneFunc  func,
             gpointer         user_data)
{
  g_autoptr(GError) error = NULL;
  CrierHub *hub = crier_server_get_hub (api->server);
  PublishClosure *closure;

  if (crier_hub_check_channel (hub, channel, &error) == NULL)
    {
      func (NULL, error, user_data);
      return;
    }
  closure = g_new0 (PublishClosure, 1);
  closure->api = api;
  closure->func = func;
  closure->user_data = user_data;
  crier_hub_publish (hub, channel, data, NULL, publish_cb, closure);
}

/* {"offset":N,"epoch":"E"}, or {} when the channel keeps no history. */
static GString *
publish_result (CrierPublication *pub)
{
  GString *out = g_string_new ("{");

  if (pub->epoch != NULL && pub->offset > 0)
    {
      g_string_append_printf (out, "\"offset\":%" G_GUINT64_FORMAT ",\"epoch\":", pub->offset);
      crier_json_append_string (out, pub->epoch);
    }
  g_string_append_c (out, '}');
  return out;
}

static void
method_publish_cb (CrierPublication *pub,
                   const GError     *error,
                   gpointer          user_data)
{
  ApiCall *call = user_data;

  if (error != NULL)
    api_call_gerror (call, error);
  else
    api_call_ok (call, publish_result (pub));
}

static void
method_publish (ApiCall *call)
{
  g_autoptr(GBytes) data = NULL;
  const char *channel;

  if (!param_string (call, "channel", PARAM_NON_EMPTY, &channel) ||
      !check_publish_options (call))
    return;
  data = call_payload (call);
  if (data == NULL)
    return;
  publish_one (call_api (call), channel, data, method_publish_cb, call);
}

typedef struct
{
  ApiCall  *call;
  guint     n;
  guint     pending;
  GString **responses;   /* {"result":..} or {"error":..} per channel */
} Broadcast;

typedef struct
{
  Broadcast *broadcast;
  guint      index;
} BroadcastSlot;

static void
broadcast_release (Broadcast *broadcast)
{
  GString *out;

  if (--broadcast->pending > 0)
    return;

  out = g_string_new ("{\"responses\":[");
  for (guint i = 0; i < broadcast->n; i++)
    {
      if (i > 0)
        g_string_append_c (out, ',');
      g_string_append_len (out, broadcast->responses[i]->str, broadcast->responses[i]->len);
      g_string_free (broadcast->responses[i], TRUE);
    }
  g_string_append (out, "]}");
  g_free (broadcast->responses);
  api_call_ok (broadcast->call, out);
  g_free (broadcast);
}

static void
broadcast_slot_cb (CrierPublication *pub,
                   const GError     *error,
                   gpointer          user_data)
{
  BroadcastSlot *slot = user_data;
  Broadcast *broadcast = slot->broadcast;
  GString *out;

  if (error != NULL)
    {
      int code = error->domain == CRIER_PROTO_ERROR ? error->code : CRIER_PROTO_ERROR_INTERNAL;

      if (error->domain != CRIER_PROTO_ERROR)
        g_warning ("api: broadcast failed: %s", error->message);
      call_api (broadcast->call)->stats.command_errors++;
      out = error_document (code, error->domain == CRIER_PROTO_ERROR
                                  ? error->message : crier_proto_error_message (code));
    }
  else
    {
      g_autoptr(GString) result = publish_result (pub);

      out = g_string_new ("{\"result\":");
      g_string_append_len (out, result->str, result->len);
      g_string_append_c (out, '}');
    }
  broadcast->responses[slot->index] = out;
  g_free (slot);
  broadcast_release (broadcast);
}

static void
method_broadcast (ApiCall *call)
{
  g_autoptr(GBytes) data = NULL;
  JsonArray *channels;
  Broadcast *broadcast;

  if (!param_string_array (call, "channels", &channels))
    return;
  if (channels == NULL || json_array_get_length (channels) == 0)
    {
      api_call_bad_request (call, "'channels' must list at least one channel");
      return;
    }
  if (!check_publish_options (call))
    return;
  data = call_payload (call);
  if (data == NULL)
    return;

  /* Every channel at once; the responses keep the request's order. The
   * extra pending count is ours, so that synchronous answers cannot
   * finish the broadcast before the loop is done. */
  broadcast = g_new0 (Broadcast, 1);
  broadcast->call = call;
  broadcast->n = json_array_get_length (channels);
  broadcast->pending = broadcast->n + 1;
  broadcast->responses = g_new0 (GString *, broadcast->n);
  for (guint i = 0; i < broadcast->n; i++)
    {
      const char *channel = json_array_get_string_element (channels, i);
      BroadcastSlot *slot = g_new0 (BroadcastSlot, 1);

      slot->broadcast = broadcast;
      slot->index = i;
      if (channel[0] == '\0')
        {
          g_autoptr(GError) error = g_error_new (CRIER_PROTO_ERROR, CRIER_PROTO_ERROR_BAD_REQUEST,
                                                 "bad request: empty channel name");

          broadcast_slot_cb (NULL, error, slot);
          continue;
        }
      publish_one (call_api (call), channel, data, broadcast_slot_cb, slot);
    }
  broadcast_release (broadcast);
}

/* ---- presence ----------------------------------------------------------- */

/* The namespace of the call's "channel" if it has presence; NULL when the
 * call was answered. */
static gboolean
presence_channel (ApiCall     *call,
                  const char **channel)
{
  const CrierNamespaceConfig *ns;

  if (!param_string (call, "channel", PARAM_NON_EMPTY, channel))
    return FALSE;
  ns = call_check_channel (call, *channel);
  if (ns == NULL)
    return FALSE;
  if (!ns->presence)
    {
      api_call_error (call, CRIER_PROTO_ERROR_NOT_AVAILABLE, NULL);
      return FALSE;
    }
  return TRUE;
}

static void
method_presence_cb (GPtrArray    *entries,
                    const GError *error,
                    gpointer      user_data)
{
  ApiCall *call = user_data;
  GString *out;

  if (error != NULL)
    {
      api_call_gerror (call, error);
      return;
    }

  out = g_string_new ("{\"presence\":{");
  for (guint i = 0; entries != NULL && i < entries->len; i++)
    {
      CrierPresenceEntry *entry = g_ptr_array_index (entries, i);

      if (i > 0)
        g_string_append_c (out, ',');
      crier_json_append_string (out, entry->client);
      g_string_append (out, ":{\"client\":");
      crier_json_append_string (out, entry->client);
      g_string_append (out, ",\"user\":");
      crier_json_append_string (out, entry->user != NULL ? entry->user : "");
      if (entry->conn_info != NULL)
        g_string_append_printf (out, ",\"conn_info\":%s", entry->conn_info);
      if (entry->chan_info != NULL)
        g_string_append_printf (out, ",\"chan_info\":%s", entry->chan_info);
      g_string_append_c (out, '}');
    }
  g_string_append (out, "}}");
  api_call_ok (call, out);
}

static void
method_presence (ApiCall *call)
{
  const char *channel;

  if (presence_channel (call, &channel))
    crier_hub_presence (call_hub (call), channel, method_presence_cb, call);
}

static void
method_presence_stats_cb (guint         num_clients,
                          guint         num_users,
                          const GError *error,
                          gpointer      user_data)
{
  ApiCall *call = user_data;

  if (error != NULL)
    api_call_gerror (call, error);
  else
    {
      GString *out = g_string_new (NULL);

      g_string_append_printf (out, "{\"num_clients\":%u,\"num_users\":%u}", num_clients, num_users);
      api_call_ok (call, out);
    }
}

static void
method_presence_stats (ApiCall *call)
{
  const char *channel;

  if (presence_channel (call, &channel))
    crier_hub_presence_stats (call_hub (call), channel, method_presence_stats_cb, call);
}

/* ---- history ------------------------------------------------------------ */

typedef struct
{
  ApiCall *call;
  char    *since_epoch;   /* NULL = not checked */
} HistoryClosure;

static void
method_history_cb (const CrierHistoryResult *result,
                   const GError             *error,
                   gpointer                  user_data)
{
  HistoryClosure *closure = user_data;
  ApiCall *call = closure->call;
  g_autofree char *since_epoch = closure->since_epoch;
  const char *epoch;
  GString *out;

  g_free (closure);
  if (error != NULL)
    {
      api_call_gerror (call, error);
      return;
    }

  epoch = result->epoch != NULL ? result->epoch : "";
  if (since_epoch != NULL && strcmp (since_epoch, epoch) != 0)
    {
      api_call_error (call, CRIER_PROTO_ERROR_UNRECOVERABLE, NULL);
      return;
    }

  out = g_string_new ("{\"publications\":[");
  for (guint i = 0; result->publications != NULL && i < result->publications->len; i++)
    {
      if (i > 0)
        g_string_append_c (out, ',');
      crier_publication_append_json (g_ptr_array_index (result->publications, i), out);
    }
  g_string_append_printf (out, "],\"offset\":%" G_GUINT64_FORMAT ",\"epoch\":", result->offset);
  crier_json_append_string (out, epoch);
  g_string_append_c (out, '}');
  api_call_ok (call, out);
}

static void
method_history (ApiCall *call)
{
  CrierHistoryQuery query = { 0 };
  const CrierNamespaceConfig *ns;
  JsonObject *since;
  const char *channel;
  HistoryClosure *closure;
  const char *since_epoch = NULL;

  if (!param_string (call, "channel", PARAM_NON_EMPTY, &channel) ||
      !param_int (call, call->params, "", "limit", &query.limit) ||
      !param_bool (call, "reverse", &query.reverse) ||
      !param_object (call, "since", &since))
    return;
  if (query.limit < -1)
    {
      api_call_bad_request (call, "'limit' must be -1 (all), 0 (position only) or above");
      return;
    }
  if (since != NULL)
    {
      gint64 offset = 0;
      JsonNode *epoch = json_object_get_member (since, "epoch");

      if (!param_int (call, since, "since.", "offset", &offset))
        return;
      if (offset < 0)
        {
          api_call_bad_request (call, "'since.offset' must not be negative");
          return;
        }
      if (epoch != NULL && !JSON_NODE_HOLDS_NULL (epoch))
        {
          if (!JSON_NODE_HOLDS_VALUE (epoch) || json_node_get_value_type (epoch) != G_TYPE_STRING)
            {
              api_call_bad_request (call, "'since.epoch' must be a string");
              return;
            }
          since_epoch = json_node_get_string (epoch);
        }
      query.has_since = TRUE;
      query.since_offset = (guint64) offset;
    }

  ns = call_check_channel (call, channel);
  if (ns == NULL)
    return;
  if (ns->history_size <= 0)
    {
      api_call_error (call, CRIER_PROTO_ERROR_NOT_AVAILABLE, NULL);
      return;
    }

  closure = g_new0 (HistoryClosure, 1);
  closure->call = call;
  closure->since_epoch = since_epoch != NULL && since_epoch[0] != '\0' ? g_strdup (since_epoch) : NULL;
  crier_hub_history (call_hub (call), channel, &query, method_history_cb, closure);
}

static void
method_history_remove (ApiCall *call)
{
  g_autoptr(GError) error = NULL;
  const CrierNamespaceConfig *ns;
  const char *channel;

  if (!param_string (call, "channel", PARAM_NON_EMPTY, &channel))
    return;
  ns = call_check_channel (call, channel);
  if (ns == NULL)
    return;
  if (ns->history_size <= 0)
    api_call_error (call, CRIER_PROTO_ERROR_NOT_AVAILABLE, NULL);
  else if (!crier_hub_remove_history (call_hub (call), channel, &error))
    api_call_gerror (call, error);
  else
    api_call_ok (call, g_string_new ("{}"));
}

/* ---- sessions: disconnect, unsubscribe, subscribe ----------------------- */

/* The sessions of @user, or only the one with id @client if it is one of
 * them (transfer container). */
static GPtrArray *
target_sessions (CrierHub   *hub,
                 const char *user,
                 const char *client)
{
  GPtrArray *sessions;
  CrierSession *session;

  if (client == NULL || client[0] == '\0')
    return crier_hub_sessions_of_user (hub, user);

  sessions = g_ptr_array_new ();
  session = crier_hub_lookup_session (hub, client);
  if (session != NULL && g_strcmp0 (session->user, user) == 0)
    g_ptr_array_add (sessions, session);
  return sessions;
}

static gboolean
string_array_contains (JsonArray  *array,
                       const char *s)
{
  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    if (strcmp (json_array_get_string_element (array, i), s) == 0)
      return TRUE;
  return FALSE;
}

static void
method_disconnect (ApiCall *call)
{
  g_autoptr(GPtrArray) sessions = NULL;
  g_autoptr(GPtrArray) chosen = g_ptr_array_new ();
  const char *user;
  const char *client;
  const char *reason = DISCONNECT_REASON;
  gint64 code = DISCONNECT_CODE;
  JsonArray *whitelist;
  JsonObject *disconnect;

  if (!param_string (call, "user", PARAM_REQUIRED, &user) ||
      !param_string (call, "client", PARAM_OPTIONAL, &client) ||
      !param_string_array (call, "whitelist", &whitelist) ||
      !param_object (call, "disconnect", &disconnect))
    return;
  if (disconnect != NULL)
    {
      JsonNode *node = json_object_get_member (disconnect, "reason");

      if (!param_int (call, disconnect, "disconnect.", "code", &code))
        return;
      if (code < 3000 || code > 4999)
        {
          api_call_bad_request (call, "'disconnect.code' must be within 3000..4999");
          return;
        }
      reason = "";
      if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
        {
          if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
            {
              api_call_bad_request (call, "'disconnect.reason' must be a string");
              return;
            }
          reason = json_node_get_string (node);
        }
      if (strlen (reason) > CLOSE_REASON_MAX)
        {
          api_call_bad_request (call, "'disconnect.reason' must fit in %d bytes", CLOSE_REASON_MAX);
          return;
        }
    }

  /* Choose first, then act: a disconnect may free its session. */
  sessions = target_sessions (call_hub (call), user, client);
  for (guint i = 0; i < sessions->len; i++)
    {
      CrierSession *session = g_ptr_array_index (sessions, i);

      if (!string_array_contains (whitelist, session->id))
        g_ptr_array_add (chosen, session);
    }
  for (guint i = 0; i < chosen->len; i++)
    {
      CrierSession *session = g_ptr_array_index (chosen, i);

      session->klass->disconnect (session, (guint) code, reason);
    }
  g_debug ("api: disconnected %u connection(s) with %u", chosen->len, (guint) code);

  /* The user's sessions on the other nodes too (a no-op without Redis). */
  {
    g_autoptr(GPtrArray) wl = g_ptr_array_new ();

    for (guint i = 0; whitelist != NULL && i < json_array_get_length (whitelist); i++)
      g_ptr_array_add (wl, (gpointer) json_array_get_string_element (whitelist, i));
    g_ptr_array_add (wl, NULL);
    if (!crier_cluster_disconnect_remote (crier_server_get_cluster (call->request->server),
                                          user, client, (const char * const *) wl->pdata,
                                          (guint) code, reason))
      {
        api_call_error (call, CRIER_PROTO_ERROR_INTERNAL,
                        "broker unavailable: other nodes were not reached");
        return;
      }
  }
  api_call_ok (call, g_string_new ("{}"));
}

static void
method_unsubscribe (ApiCall *call)
{
  g_autoptr(GPtrArray) sessions = NULL;
  const char *user;
  const char *channel;
  const char *client;

  if (!param_string (call, "user", PARAM_REQUIRED, &user) ||
      !param_string (call, "channel", PARAM_NON_EMPTY, &channel) ||
      !param_string (call, "client", PARAM_OPTIONAL, &client))
    return;
  if (call_check_channel (call, channel) == NULL)
    return;

  sessions = target_sessions (call_hub (call), user, client);
  for (guint i = 0; i < sessions->len; i++)
    crier_hub_unsubscribe_push (call_hub (call), g_ptr_array_index (sessions, i), channel,
                                UNSUBSCRIBE_CODE, UNSUBSCRIBE_REASON);
  api_call_ok (call, g_string_new ("{}"));
}

typedef struct
{
  ApiCall *call;
  char    *channel;
  char    *data;          /* push "data" (JSON) or NULL */
  guint    pending;
  GError  *error;         /* the first failure */
} SubscribeGather;

static void
subscribe_release (SubscribeGather *gather)
{
  if (--gather->pending > 0)
    return;

  if (gather->error != NULL)
    api_call_gerror (gather->call, gather->error);
  else
    api_call_ok (gather->call, g_string_new ("{}"));
  g_clear_error (&gather->error);
  g_free (gather->channel);
  g_free (gather->data);
  g_free (gather);
}

/* The subscribe push tells the client about its new server-side
 * subscription; the hub then delivers what was buffered meanwhile. */
static void
subscribe_cb (CrierSession               *session,
              const CrierSubscribeResult *result,
              const GError               *error,
              gpointer                    user_data)
{
  SubscribeGather *gather = user_data;
  g_autoptr(GString) push = NULL;

  if (error != NULL)
    {
      /* Already subscribed: nothing to do for this one. */
      if (!g_error_matches (error, CRIER_PROTO_ERROR, CRIER_PROTO_ERROR_ALREADY_SUBSCRIBED) &&
          gather->error == NULL)
        gather->error = g_error_copy (error);
      subscribe_release (gather);
      return;
    }

  push = g_string_new ("{\"channel\":");
  crier_json_append_string (push, gather->channel);
  g_string_append (push, ",\"subscribe\":{");
  if (result->recoverable)
    g_string_append (push, "\"recoverable\":true,");
  if (result->positioned)
    g_string_append (push, "\"positioned\":true,");
  if (result->epoch != NULL && result->epoch[0] != '\0')
    {
      g_string_append (push, "\"epoch\":");
      crier_json_append_string (push, result->epoch);
      g_string_append_c (push, ',');
    }
  if (result->offset > 0)
    g_string_append_printf (push, "\"offset\":%" G_GUINT64_FORMAT ",", result->offset);
  if (gather->data != NULL)
    g_string_append_printf (push, "\"data\":%s,", gather->data);
  if (push->str[push->len - 1] == ',')
    g_string_truncate (push, push->len - 1);
  g_string_append (push, "}}");

  if (session->klass->send_push (session, push->str))
    {
      /* Recovered publications (recover_since) follow, oldest first. */
      for (guint i = 0; result->publications != NULL && i < result->publications->len; i++)
        {
          CrierPublication *pub = g_ptr_array_index (result->publications, i);

          if (!session->klass->send_encoded (session, crier_publication_encode (pub, session->encoding)))
            break;
        }
    }
  subscribe_release (gather);
}

static void
method_subscribe (ApiCall *call)
{
  g_autoptr(GPtrArray) sessions = NULL;
  g_autoptr(GBytes) info = NULL;
  g_autoptr(GBytes) data = NULL;
  g_autofree char *chan_info = NULL;
  CrierSubscribeRequest request = { 0 };
  SubscribeGather *gather;
  JsonObject *since;
  const char *user;
  const char *channel;
  const char *client;
  gboolean ok;

  if (!param_string (call, "user", PARAM_REQUIRED, &user) ||
      !param_string (call, "channel", PARAM_NON_EMPTY, &channel) ||
      !param_string (call, "client", PARAM_OPTIONAL, &client) ||
      !param_int (call, call->params, "", "expire_at", &request.expire_at) ||
      !param_object (call, "recover_since", &since))
    return;
  info = param_raw_json (call, "info", &ok);
  if (!ok)
    return;
  data = param_raw_json (call, "data", &ok);
  if (!ok)
    return;
  if (since != NULL)
    {
      gint64 offset = 0;
      JsonNode *epoch = json_object_get_member (since, "epoch");

      if (!param_int (call, since, "recover_since.", "offset", &offset))
        return;
      if (offset < 0 ||
          (epoch != NULL && !JSON_NODE_HOLDS_NULL (epoch) &&
           (!JSON_NODE_HOLDS_VALUE (epoch) || json_node_get_value_type (epoch) != G_TYPE_STRING)))
        {
          api_call_bad_request (call, "'recover_since' must be {\"offset\":N,\"epoch\":\"E\"}");
          return;
        }
      request.recover = TRUE;
      request.want_recoverable = TRUE;
      request.want_positioned = TRUE;
      request.offset = (guint64) offset;
      request.epoch = epoch != NULL && !JSON_NODE_HOLDS_NULL (epoch) ? json_node_get_string (epoch) : NULL;
    }
  if (call_check_channel (call, channel) == NULL)
    return;

  chan_info = bytes_to_string (info);
  request.channel = channel;
  request.server_side = TRUE;
  request.chan_info = chan_info;

  gather = g_new0 (SubscribeGather, 1);
  gather->call = call;
  gather->channel = g_strdup (channel);
  gather->data = bytes_to_string (data);
  sessions = target_sessions (call_hub (call), user, client);
  gather->pending = sessions->len + 1;
  for (guint i = 0; i < sessions->len; i++)
    crier_hub_subscribe (call_hub (call), g_ptr_array_index (sessions, i), &request,
                         subscribe_cb, gather);
  subscribe_release (gather);
}

/* ---- channels, info ----------------------------------------------------- */

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static void
method_channels (ApiCall *call)
{
  g_autoptr(GPtrArray) channels = NULL;
  g_autoptr(GPatternSpec) spec = NULL;
  const char *pattern;
  GString *out;
  gboolean first = TRUE;

  if (!param_string (call, "pattern", PARAM_OPTIONAL, &pattern))
    return;
  if (pattern != NULL && pattern[0] != '\0')
    spec = g_pattern_spec_new (pattern);

  channels = crier_hub_list_channels (call_hub (call));
  g_ptr_array_sort (channels, compare_strings);
  out = g_string_new ("{\"channels\":{");
  for (guint i = 0; i < channels->len; i++)
    {
      const char *name = g_ptr_array_index (channels, i);

      if (spec != NULL && !g_pattern_spec_match_string (spec, name))
        continue;
      if (!first)
        g_string_append_c (out, ',');
      first = FALSE;
      crier_json_append_string (out, name);
      g_string_append_printf (out, ":{\"num_clients\":%u}",
                              crier_hub_count_subscribers (call_hub (call), name));
    }
  g_string_append (out, "}}");
  api_call_ok (call, out);
}

static void
count_user (gpointer key,
            gpointer value,
            gpointer user_data)
{
  CrierSession *session = value;
  GHashTable *users = user_data;

  g_hash_table_add (users, session->user != NULL ? session->user : (char *) "");
}

static void
method_info (ApiCall *call)
{
  CrierHub *hub = call_hub (call);
  const CrierHubStats *stats = crier_hub_get_stats (hub);
  g_autoptr(GHashTable) users = g_hash_table_new (g_str_hash, g_str_equal);
  Api *api = call_api (call);
  GString *out;

  crier_hub_foreach_session (hub, count_user, users);

  out = g_string_new ("{\"nodes\":[{\"uid\":");
  crier_json_append_string (out, api->uid);
  g_string_append (out, ",\"name\":");
  crier_json_append_string (out, crier_server_get_node_name (api->server));
  g_string_append (out, ",\"version\":");
  crier_json_append_string (out, PACKAGE_VERSION);
  g_string_append_printf (out, ",\"num_clients\":%u,\"num_users\":%u,\"num_channels\":%u,"
                          "\"num_subs\":%u,\"uptime\":%" G_GINT64_FORMAT "}]}",
                          stats->sessions, g_hash_table_size (users), stats->channels,
                          stats->subscriptions, crier_server_get_uptime (api->server));
  api_call_ok (call, out);
}

static const ApiMethod methods[] = {
  { "publish", method_publish },
  { "broadcast", method_broadcast },
  { "subscribe", method_subscribe },
  { "unsubscribe", method_unsubscribe },
  { "disconnect", method_disconnect },
  { "presence", method_presence },
  { "presence_stats", method_presence_stats },
  { "history", method_history },
  { "history_remove", method_history_remove },
  { "channels", method_channels },
  { "info", method_info },
};

static const ApiMethod *
lookup_method (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (methods); i++)
    if (strcmp (methods[i].name, name) == 0)
      return &methods[i];
  return NULL;
}

/* ---- batch -------------------------------------------------------------- */

typedef struct
{
  ApiRequest *request;
  JsonArray  *commands;
  GArray     *spans;        /* JsonSpan per command */
  GString   **replies;
  guint       n;
  guint       next;         /* next command to start */
  guint       in_flight;
  guint       completed;
  gboolean    parallel;
  gboolean    pumping;
} Batch;

static void batch_pump (Batch *batch);

static void
batch_reply (Batch   *batch,
             guint    index,
             GString *reply)
{
  batch->replies[index] = reply;
  batch->in_flight--;
  batch->completed++;
  batch_pump (batch);
}

static void
batch_call_done (ApiCall *call)
{
  Batch *batch = call->done_data;
  GString *reply = g_string_new (NULL);

  if (call->code != 0)
    batch->request->api->stats.command_errors++;
  append_outcome (reply, call, call->method->name);
  batch_reply (batch, call->index, reply);
  api_call_free (call);
}

/* A command that could not run: counted, and answered in its slot. */
static void
batch_refuse (Batch      *batch,
              guint       index,
              int         code,
              const char *message)
{
  batch->request->api->stats.commands++;
  batch->request->api->stats.command_errors++;
  batch_reply (batch, index, error_document (code, message));
}

static void
batch_start (Batch *batch,
             guint  index)
{
  static const char empty_object[] = "{}";
  JsonNode *node = json_array_get_element (batch->commands, index);
  const JsonSpan *span = &g_array_index (batch->spans, JsonSpan, index);
  g_autoptr(JsonObject) params = NULL;
  JsonSpan raw = { empty_object, empty_object + 2 };
  const ApiMethod *method = NULL;
  JsonObject *command;
  JsonNode *member;
  ApiCall *call;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      batch_refuse (batch, index, CRIER_PROTO_ERROR_BAD_REQUEST,
                    "bad request: a command must be an object");
      return;
    }

  /* The command's method is its first member that names one. */
  command = json_node_get_object (node);
  {
    g_autoptr(GList) names = json_object_get_members (command);

    for (GList *l = names; l != NULL && method == NULL; l = l->next)
      method = lookup_method (l->data);
  }
  if (method == NULL)
    {
      batch_refuse (batch, index, CRIER_PROTO_ERROR_METHOD_NOT_FOUND,
                    crier_proto_error_message (CRIER_PROTO_ERROR_METHOD_NOT_FOUND));
      return;
    }

  member = json_object_get_member (command, method->name);
  if (JSON_NODE_HOLDS_NULL (member))
    params = json_object_new ();
  else if (!JSON_NODE_HOLDS_OBJECT (member))
    {
      g_autofree char *message = g_strdup_printf ("bad request: '%s' must hold an object",
                                                  method->name);

      batch_refuse (batch, index, CRIER_PROTO_ERROR_BAD_REQUEST, message);
      return;
    }
  else if (!span_member (span, method->name, &raw))
    {
      batch_refuse (batch, index, CRIER_PROTO_ERROR_BAD_REQUEST,
                    "bad request: the body is not strict JSON");
      return;
    }
  else
    params = json_object_ref (json_node_get_object (member));

  call = api_call_new (batch->request, method, params, &raw, batch_call_done, batch);
  call->index = index;
  api_call_run (call);
}

static void
batch_finish (Batch *batch)
{
  ApiRequest *request = batch->request;
  GString *out = g_string_new ("{\"replies\":[");

  for (guint i = 0; i < batch->n; i++)
    {
      if (i > 0)
        g_string_append_c (out, ',');
      g_string_append_len (out, batch->replies[i]->str, batch->replies[i]->len);
      g_string_free (batch->replies[i], TRUE);
    }
  g_string_append (out, "]}");
  api_request_respond (request, SOUP_STATUS_OK, out);

  g_free (batch->replies);
  g_array_unref (batch->spans);
  json_array_unref (batch->commands);
  g_free (batch);
  api_request_unref (request);
}

/* Starts commands: one at a time (the next when the previous answered),
 * or all of them with "parallel". A loop, not recursion, so that a long
 * batch answered synchronously does not grow the stack. */
static void
batch_pump (Batch *batch)
{
  if (batch->pumping)
    return;

  batch->pumping = TRUE;
  while (batch->next < batch->n && (batch->parallel || batch->in_flight == 0))
    {
      guint index = batch->next++;

      batch->in_flight++;
      batch_start (batch, index);
    }
  batch->pumping = FALSE;

  if (batch->completed == batch->n)
    batch_finish (batch);
}

/* ---- handlers ----------------------------------------------------------- */

static gboolean
api_keys_configured (const CrierConfig *config)
{
  for (guint i = 0; config->api_keys != NULL && config->api_keys[i] != NULL; i++)
    if (config->api_keys[i][0] != '\0')
      return TRUE;
  return FALSE;
}

/* The key from "X-API-Key: KEY" or "Authorization: apikey KEY". */
static char *
request_api_key (SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *value = soup_message_headers_get_one (headers, "X-API-Key");

  if (value == NULL)
    {
      value = soup_message_headers_get_one (headers, "Authorization");
      if (value == NULL || g_ascii_strncasecmp (value, "apikey ", 7) != 0)
        return NULL;
      value += 7;
    }
  return g_strstrip (g_strdup (value));
}

/* Compares with every configured key, in time that does not depend on
 * which one (if any) matches. */
static gboolean
api_key_is_valid (const CrierConfig *config,
                  const char        *key)
{
  gsize len = strlen (key);
  gboolean valid = FALSE;

  for (guint i = 0; config->api_keys != NULL && config->api_keys[i] != NULL; i++)
    {
      const char *k = config->api_keys[i];

      if (k[0] != '\0')
        valid |= crier_const_time_equal (key, len, k, strlen (k));
    }
  return valid && len > 0;
}

static void
body_got_chunk_cb (SoupServerMessage *msg,
                   GBytes            *chunk,
                   gpointer           user_data)
{
  ApiBody *body = user_data;
  gsize size = g_bytes_get_size (chunk);

  if (body->too_large)
    return;
  if ((gint64) (body->data->len + size) > body->limit)
    {
      body->too_large = TRUE;
      g_byte_array_set_size (body->data, 0);
      return;
    }
  g_byte_array_append (body->data, g_bytes_get_data (chunk, NULL), size);
}

static void
api_body_free (gpointer data)
{
  ApiBody *body = data;

  g_byte_array_unref (body->data);
  g_free (body);
}

/* On the headers, before the body is read: refuse what can be refused
 * without it, and collect the body ourselves (bounded) otherwise. */
static void
api_early_cb (SoupServer        *soup,
              SoupServerMessage *msg,
              const char        *path,
              GHashTable        *query,
              gpointer           user_data)
{
  Api *api = user_data;
  const CrierConfig *config = crier_server_get_config (api->server);
  SoupMessageHeaders *request_headers = soup_server_message_get_request_headers (msg);
  SoupMessageHeaders *response_headers = soup_server_message_get_response_headers (msg);
  g_autofree char *key = NULL;
  ApiBody *body;

  api->stats.requests++;
  /* Whatever happens, the body is not buffered by libsoup. */
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);

  if (soup_server_message_get_method (msg) != SOUP_METHOD_POST)
    {
      soup_message_headers_replace (response_headers, "Allow", "POST");
      reject (api, msg, CRIER_API_REJECT_METHOD, SOUP_STATUS_METHOD_NOT_ALLOWED,
              CRIER_PROTO_ERROR_BAD_REQUEST, "method %s not allowed: use POST",
              soup_server_message_get_method (msg));
      return;
    }
  if (!api_keys_configured (config))
    {
      reject (api, msg, CRIER_API_REJECT_DISABLED, SOUP_STATUS_FORBIDDEN,
              CRIER_PROTO_ERROR_UNAUTHORIZED,
              "server API disabled: no API key is configured (set [auth] api_keys)");
      return;
    }
  key = request_api_key (msg);
  if (key == NULL)
    {
      soup_message_headers_replace (response_headers, "WWW-Authenticate", "apikey");
      reject (api, msg, CRIER_API_REJECT_UNAUTHORIZED, SOUP_STATUS_UNAUTHORIZED,
              CRIER_PROTO_ERROR_UNAUTHORIZED,
              "unauthorized: send the API key as 'X-API-Key: KEY' or 'Authorization: apikey KEY'");
      return;
    }
  if (!api_key_is_valid (config, key))
    {
      soup_message_headers_replace (response_headers, "WWW-Authenticate", "apikey");
      reject (api, msg, CRIER_API_REJECT_UNAUTHORIZED, SOUP_STATUS_UNAUTHORIZED,
              CRIER_PROTO_ERROR_UNAUTHORIZED, "unauthorized: wrong API key");
      return;
    }
  if (soup_message_headers_get_encoding (request_headers) == SOUP_ENCODING_CONTENT_LENGTH &&
      soup_message_headers_get_content_length (request_headers) > config->max_request_body)
    {
      soup_message_headers_replace (response_headers, "Connection", "close");
      reject (api, msg, CRIER_API_REJECT_TOO_LARGE, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
              CRIER_PROTO_ERROR_BAD_REQUEST,
              "request body too large: the limit is %" G_GINT64_FORMAT " bytes ([limits] max_request_body)",
              config->max_request_body);
      return;
    }
  if (g_str_has_prefix (path, "/api") &&
      (!g_str_has_prefix (path, "/api/") ||
       (lookup_method (path + 5) == NULL && strcmp (path + 5, "batch") != 0)))
    {
      reject (api, msg, CRIER_API_REJECT_UNKNOWN_METHOD, SOUP_STATUS_NOT_FOUND,
              CRIER_PROTO_ERROR_METHOD_NOT_FOUND,
              "unknown method: use POST /api/<method> with one of publish, broadcast, subscribe, "
              "unsubscribe, disconnect, presence, presence_stats, history, history_remove, "
              "channels, info, batch");
      return;
    }

  body = g_new0 (ApiBody, 1);
  body->data = g_byte_array_new ();
  body->limit = config->max_request_body;
  g_object_set_data_full (G_OBJECT (msg), BODY_DATA_KEY, body, api_body_free);
  g_signal_connect (msg, "got-chunk", G_CALLBACK (body_got_chunk_cb), body);
}

/* The collected body; NULL when the message was refused for its size. */
static GBytes *
take_body (Api               *api,
           SoupServerMessage *msg)
{
  ApiBody *body = g_object_get_data (G_OBJECT (msg), BODY_DATA_KEY);

  g_assert (body != NULL);
  if (body->too_large)
    {
      reject (api, msg, CRIER_API_REJECT_TOO_LARGE, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
              CRIER_PROTO_ERROR_BAD_REQUEST,
              "request body too large: the limit is %" G_GINT64_FORMAT " bytes ([limits] max_request_body)",
              body->limit);
      return NULL;
    }
  return g_bytes_new (body->data->data, body->data->len);
}

static void
single_call_done (ApiCall *call)
{
  ApiRequest *request = call->request;
  GString *out = g_string_new (NULL);
  guint status = SOUP_STATUS_OK;

  if (call->bad_request)
    {
      /* A malformed request, not a protocol refusal: 400, counted as a
       * rejection rather than as a command error. */
      status = SOUP_STATUS_BAD_REQUEST;
      request->api->stats.rejected[CRIER_API_REJECT_BAD_REQUEST]++;
      g_debug ("api: %s from %s refused (bad_request): %s", call->method->name,
               soup_server_message_get_remote_host (request->msg), call->message);
    }
  else if (call->code != 0)
    request->api->stats.command_errors++;
  append_outcome (out, call, "result");
  api_request_respond (request, status, out);
  api_call_free (call);
}

static void
run_batch (ApiRequest *request,
           JsonObject *root,
           JsonSpan   *raw)
{
  JsonNode *commands = json_object_get_member (root, "commands");
  JsonNode *parallel = json_object_get_member (root, "parallel");
  JsonSpan commands_span;
  Batch *batch;

  if (commands == NULL || !JSON_NODE_HOLDS_ARRAY (commands))
    {
      reject (request->api, request->msg, CRIER_API_REJECT_BAD_REQUEST, SOUP_STATUS_BAD_REQUEST,
              CRIER_PROTO_ERROR_BAD_REQUEST, "bad request: 'commands' must be an array of commands");
      request->answered = TRUE;
      return;
    }
  if (parallel != NULL && !JSON_NODE_HOLDS_NULL (parallel) &&
      (!JSON_NODE_HOLDS_VALUE (parallel) || json_node_get_value_type (parallel) != G_TYPE_BOOLEAN))
    {
      reject (request->api, request->msg, CRIER_API_REJECT_BAD_REQUEST, SOUP_STATUS_BAD_REQUEST,
              CRIER_PROTO_ERROR_BAD_REQUEST, "bad request: 'parallel' must be true or false");
      request->answered = TRUE;
      return;
    }

  batch = g_new0 (Batch, 1);
  batch->commands = json_array_ref (json_node_get_array (commands));
  batch->n = json_array_get_length (batch->commands);
  batch->spans = g_array_sized_new (FALSE, FALSE, sizeof (JsonSpan), batch->n);
  if (!span_member (raw, "commands", &commands_span) ||
      !span_elements (&commands_span, batch->spans) ||
      batch->spans->len != batch->n)
    {
      g_array_unref (batch->spans);
      json_array_unref (batch->commands);
      g_free (batch);
      reject (request->api, request->msg, CRIER_API_REJECT_BAD_JSON, SOUP_STATUS_BAD_REQUEST,
              CRIER_PROTO_ERROR_BAD_REQUEST, "bad request: the body is not strict JSON");
      request->answered = TRUE;
      return;
    }
  batch->request = api_request_ref (request);
  batch->replies = g_new0 (GString *, MAX (batch->n, 1));
  batch->parallel = parallel != NULL && JSON_NODE_HOLDS_VALUE (parallel) && json_node_get_boolean (parallel);
  batch_pump (batch);
}

/* "an array", "a string", ... for error messages. */
static const char *
describe_node (JsonNode *node)
{
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return "null";
  if (JSON_NODE_HOLDS_ARRAY (node))
    return "an array";
  if (JSON_NODE_HOLDS_OBJECT (node))
    return "an object";
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_STRING:
      return "a string";
    case G_TYPE_BOOLEAN:
      return "a boolean";
    default:
      return "a number";
    }
}

static void
api_cb (SoupServer        *soup,
        SoupServerMessage *msg,
        const char        *path,
        GHashTable        *query,
        gpointer           user_data)
{
  Api *api = user_data;
  g_autoptr(GBytes) body = take_body (api, msg);
  g_autoptr(GError) error = NULL;
  g_autoptr(ApiRequest) request = NULL;
  const char *name = path + strlen ("/api/");
  const ApiMethod *method = lookup_method (name);
  JsonNode *root;
  JsonSpan raw;
  gsize len;

  if (body == NULL)
    return;

  request = api_request_new (api, msg, body);
  request->parser = json_parser_new_immutable ();
  raw.start = g_bytes_get_data (body, &len);
  raw.end = raw.start + len;
  /* An empty body is an empty object: `curl -X POST .../api/info`. */
  if (span_skip_ws (raw.start, raw.end) == raw.end)
    {
      static const char empty_object[] = "{}";

      raw.start = empty_object;
      raw.end = empty_object + 2;
    }
  if (!crier_json_single_value (raw.start, raw.end - raw.start))
    {
      reject (api, msg, CRIER_API_REJECT_BAD_JSON, SOUP_STATUS_BAD_REQUEST,
              CRIER_PROTO_ERROR_BAD_REQUEST, "bad request: body is not JSON: it must be exactly one JSON value, with JSON's string escapes only");
      request->answered = TRUE;
      return;
    }
  if (!json_parser_load_from_data (request->parser, raw.start, raw.end - raw.start, &error))
    {
      reject (api, msg, CRIER_API_REJECT_BAD_JSON, SOUP_STATUS_BAD_REQUEST,
              CRIER_PROTO_ERROR_BAD_REQUEST, "bad request: body is not JSON: %s", error->message);
      request->answered = TRUE;
      return;
    }
  root = json_parser_get_root (request->parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      reject (api, msg, CRIER_API_REJECT_BAD_JSON, SOUP_STATUS_BAD_REQUEST,
              CRIER_PROTO_ERROR_BAD_REQUEST, "bad request: body must be a JSON object, not %s",
              describe_node (root));
      request->answered = TRUE;
      return;
    }

  if (method == NULL)
    run_batch (request, json_node_get_object (root), &raw);
  else
    api_call_run (api_call_new (request, method, json_node_get_object (root), &raw,
                                single_call_done, NULL));
  api_request_wait (request);
}

/* ---- POST /pub/<channel> ------------------------------------------------ */

static guint
pub_status_for (const GError *error)
{
  if (error->domain == CRIER_PROTO_ERROR)
    switch (error->code)
      {
      case CRIER_PROTO_ERROR_UNKNOWN_CHANNEL:
        return SOUP_STATUS_NOT_FOUND;
      case CRIER_PROTO_ERROR_PERMISSION_DENIED:
        return SOUP_STATUS_FORBIDDEN;
      case CRIER_PROTO_ERROR_TOO_MANY_REQUESTS:
        return 429;  /* Too Many Requests: no libsoup constant */
      case CRIER_PROTO_ERROR_INTERNAL:
        return SOUP_STATUS_SERVICE_UNAVAILABLE;
      default:
        return SOUP_STATUS_BAD_REQUEST;
      }
  /* Broker failures are temporary: ask the caller to retry. */
  return SOUP_STATUS_SERVICE_UNAVAILABLE;
}

static void
pub_done_cb (CrierPublication *pub,
             const GError     *error,
             gpointer          user_data)
{
  ApiRequest *request = user_data;
  GString *out;

  if (error != NULL)
    {
      int code = error->domain == CRIER_PROTO_ERROR ? error->code : CRIER_PROTO_ERROR_INTERNAL;

      if (error->domain != CRIER_PROTO_ERROR)
        g_warning ("api: /pub failed: %s", error->message);
      request->api->stats.command_errors++;
      out = error_document (code, error->domain == CRIER_PROTO_ERROR
                                  ? error->message : crier_proto_error_message (code));
      api_request_respond (request, pub_status_for (error), out);
      api_request_unref (request);
      return;
    }

  /* {"offset":N,"epoch":"E","id":"E:N"}, the id as the plain dialect's SSE
   * streams use it; {} without history. */
  out = publish_result (pub);
  if (pub->epoch != NULL && pub->offset > 0)
    {
      g_autofree char *id = g_strdup_printf ("%s:%" G_GUINT64_FORMAT, pub->epoch, pub->offset);

      g_string_truncate (out, out->len - 1);
      g_string_append (out, ",\"id\":");
      crier_json_append_string (out, id);
      g_string_append_c (out, '}');
    }
  api_request_respond (request, SOUP_STATUS_OK, out);
  api_request_unref (request);
}

/* The payload of a /pub request: the body as JSON, or the form field
 * "data" (JSON if it parses, else taken as a string). */
static GBytes *
pub_payload (Api               *api,
             SoupServerMessage *msg,
             GBytes            *body)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *type = soup_message_headers_get_content_type (headers, NULL);
  g_autoptr(GError) error = NULL;
  gsize len;
  const char *text = g_bytes_get_data (body, &len);
  GBytes *data;

  if (type != NULL && g_ascii_strcasecmp (type, "application/x-www-form-urlencoded") == 0)
    {
      g_autofree char *form_text = g_strndup (text, len);
      g_autoptr(GHashTable) form = soup_form_decode (form_text);
      const char *value = g_hash_table_lookup (form, "data");
      GString *quoted;

      if (value == NULL)
        {
          reject (api, msg, CRIER_API_REJECT_BAD_REQUEST, SOUP_STATUS_BAD_REQUEST,
                  CRIER_PROTO_ERROR_BAD_REQUEST, "bad request: the form has no 'data' field");
          return NULL;
        }
      data = crier_json_compact (value, -1, NULL);
      if (data != NULL)
        return data;
      if (!g_utf8_validate (value, -1, NULL))
        {
          reject (api, msg, CRIER_API_REJECT_BAD_REQUEST, SOUP_STATUS_BAD_REQUEST,
                  CRIER_PROTO_ERROR_BAD_REQUEST, "bad request: 'data' is not UTF-8");
          return NULL;
        }
      quoted = g_string_new (NULL);
      crier_json_append_string (quoted, value);
      return g_string_free_to_bytes (quoted);
    }

  if (span_skip_ws (text, text + len) == text + len)
    {
      reject (api, msg, CRIER_API_REJECT_BAD_JSON, SOUP_STATUS_BAD_REQUEST,
              CRIER_PROTO_ERROR_BAD_REQUEST, "bad request: the body is empty: send the payload as JSON");
      return NULL;
    }
  data = crier_json_compact (text, len, &error);
  if (data == NULL)
    reject (api, msg, CRIER_API_REJECT_BAD_JSON, SOUP_STATUS_BAD_REQUEST,
            CRIER_PROTO_ERROR_BAD_REQUEST, "bad request: body is not JSON: %s", error->message);
  return data;
}

static void
pub_cb (SoupServer        *soup,
        SoupServerMessage *msg,
        const char        *path,
        GHashTable        *query,
        gpointer           user_data)
{
  Api *api = user_data;
  g_autoptr(GBytes) body = take_body (api, msg);
  g_autoptr(GBytes) data = NULL;
  g_autoptr(ApiRequest) request = NULL;
  const char *channel;

  if (body == NULL)
    return;
  if (!g_str_has_prefix (path, "/pub/") || path[5] == '\0')
    {
      reject (api, msg, CRIER_API_REJECT_BAD_REQUEST, SOUP_STATUS_BAD_REQUEST,
              CRIER_PROTO_ERROR_BAD_REQUEST, "bad request: name the channel in the path: POST /pub/<channel>");
      return;
    }
  channel = path + 5;
  data = pub_payload (api, msg, body);
  if (data == NULL)
    return;

  api->stats.commands++;
  request = api_request_new (api, msg, NULL);
  publish_one (api, channel, data, pub_done_cb, api_request_ref (request));
  api_request_wait (request);
}

/* ---- registration ------------------------------------------------------- */

static void
api_free (gpointer data)
{
  Api *api = data;

  g_free (api->uid);
  g_free (api);
}

void
crier_api_register (CrierServer *server,
                    SoupServer  *soup)
{
  Api *api;

  g_return_if_fail (CRIER_IS_SERVER (server));
  g_return_if_fail (SOUP_IS_SERVER (soup));
  g_return_if_fail (g_object_get_data (G_OBJECT (server), API_DATA_KEY) == NULL);

  api = g_new0 (Api, 1);
  api->server = server;
  api->uid = crier_random_id (16);
  g_object_set_data_full (G_OBJECT (server), API_DATA_KEY, api, api_free);

  soup_server_add_early_handler (soup, "/api", api_early_cb, api, NULL);
  soup_server_add_handler (soup, "/api", api_cb, api, NULL);
  soup_server_add_early_handler (soup, "/pub", api_early_cb, api, NULL);
  soup_server_add_handler (soup, "/pub", pub_cb, api, NULL);

  if (!api_keys_configured (crier_server_get_config (server)))
    g_message ("server API (/api, /pub) disabled: no [auth] api_keys");
}

const CrierApiStats *
crier_api_get_stats (CrierServer *server)
{
  Api *api;

  g_return_val_if_fail (CRIER_IS_SERVER (server), NULL);

  api = g_object_get_data (G_OBJECT (server), API_DATA_KEY);
  return api != NULL ? &api->stats : NULL;
}
