/* crier-admin-protocol.c: the admin protocol's codec (see the header).
 *
 * Key functions: crier_admin_request_decode (strict, table of params per
 * request type), crier_admin_request_encode (encodes, then checks the
 * result with the decoder so both sides agree), crier_admin_message_decode
 * (client side), and the *_to_json / *_from_json pairs of the payloads.
 *
 * Server side decoding is strict: unknown members are errors.  Client side
 * decoding of results and events ignores members it does not know, so a
 * newer server may add some within the same protocol version.
 */
#include "config.h"

#include "crier-admin-protocol.h"
#include "crier-util.h"

#include <math.h>
#include <string.h>

G_DEFINE_QUARK (crier-admin-error-quark, crier_admin_error)

#define MAX_SAFE_INTEGER G_GINT64_CONSTANT (9007199254740991)   /* 2^53 - 1 */
#define MAX_CLOSE_REASON 123                                     /* RFC 6455 */

char *
crier_admin_default_socket_path (void)
{
  const char *runtime_dir = g_getenv ("XDG_RUNTIME_DIR");

  if (runtime_dir != NULL && runtime_dir[0] != '\0')
    return g_build_filename (runtime_dir, "crier", "admin.sock", NULL);

  return g_strdup ("/run/crier/admin.sock");
}

/* ---- names --------------------------------------------------------------- */

static const char * const error_names[CRIER_ADMIN_N_ERRORS] = {
  [CRIER_ADMIN_ERROR_PARSE] = "parse_error",
  [CRIER_ADMIN_ERROR_INVALID_REQUEST] = "invalid_request",
  [CRIER_ADMIN_ERROR_UNKNOWN_TYPE] = "unknown_type",
  [CRIER_ADMIN_ERROR_INVALID_PARAMS] = "invalid_params",
  [CRIER_ADMIN_ERROR_UNSUPPORTED_VERSION] = "unsupported_version",
  [CRIER_ADMIN_ERROR_NOT_FOUND] = "not_found",
  [CRIER_ADMIN_ERROR_TOO_LARGE] = "too_large",
  [CRIER_ADMIN_ERROR_UNAVAILABLE] = "unavailable",
  [CRIER_ADMIN_ERROR_FAILED] = "failed",
  [CRIER_ADMIN_ERROR_INVALID_REPLY] = "invalid_reply",
};

const char *
crier_admin_error_to_string (CrierAdminError code)
{
  if ((guint) code >= CRIER_ADMIN_N_ERRORS)
    return "failed";
  return error_names[code];
}

gboolean
crier_admin_error_from_string (const char      *name,
                               CrierAdminError *code)
{
  for (guint i = 0; i < CRIER_ADMIN_N_ERRORS; i++)
    {
      if (g_strcmp0 (name, error_names[i]) == 0)
        {
          *code = (CrierAdminError) i;
          return TRUE;
        }
    }
  *code = CRIER_ADMIN_ERROR_FAILED;
  return FALSE;
}

static const char * const request_names[CRIER_ADMIN_N_REQUEST_TYPES] = {
  [CRIER_ADMIN_REQUEST_HELLO] = "hello",
  [CRIER_ADMIN_REQUEST_GET_STATS] = "get_stats",
  [CRIER_ADMIN_REQUEST_WATCH_STATS] = "watch_stats",
  [CRIER_ADMIN_REQUEST_GET_HISTORY] = "get_history",
  [CRIER_ADMIN_REQUEST_LIST_SESSIONS] = "list_sessions",
  [CRIER_ADMIN_REQUEST_WATCH_SESSIONS] = "watch_sessions",
  [CRIER_ADMIN_REQUEST_INSPECT_SESSION] = "inspect_session",
  [CRIER_ADMIN_REQUEST_KICK] = "kick",
  [CRIER_ADMIN_REQUEST_UNSUBSCRIBE] = "unsubscribe",
  [CRIER_ADMIN_REQUEST_BROADCAST] = "broadcast",
  [CRIER_ADMIN_REQUEST_LIST_CHANNELS] = "list_channels",
  [CRIER_ADMIN_REQUEST_INSPECT_CHANNEL] = "inspect_channel",
  [CRIER_ADMIN_REQUEST_LIST_ALERTS] = "list_alerts",
  [CRIER_ADMIN_REQUEST_WATCH_ALERTS] = "watch_alerts",
  [CRIER_ADMIN_REQUEST_LIST_NODES] = "list_nodes",
};

const char *
crier_admin_request_type_to_string (CrierAdminRequestType type)
{
  g_return_val_if_fail ((guint) type < CRIER_ADMIN_N_REQUEST_TYPES, NULL);
  return request_names[type];
}

gboolean
crier_admin_request_type_from_string (const char            *name,
                                      CrierAdminRequestType *type)
{
  for (guint i = 0; i < CRIER_ADMIN_N_REQUEST_TYPES; i++)
    {
      if (g_strcmp0 (name, request_names[i]) == 0)
        {
          *type = (CrierAdminRequestType) i;
          return TRUE;
        }
    }
  return FALSE;
}

static const char * const sort_names[] = {
  [CRIER_ADMIN_SORT_DEFAULT] = "default",
  [CRIER_ADMIN_SORT_CONNECTED_AT] = "connected_at",
  [CRIER_ADMIN_SORT_USER] = "user",
  [CRIER_ADMIN_SORT_BYTES] = "bytes",
  [CRIER_ADMIN_SORT_TRANSPORT] = "transport",
  [CRIER_ADMIN_SORT_NAME] = "name",
  [CRIER_ADMIN_SORT_SUBSCRIBERS] = "subscribers",
};

const char *
crier_admin_sort_to_string (CrierAdminSort sort)
{
  if ((guint) sort >= G_N_ELEMENTS (sort_names))
    return "default";
  return sort_names[sort];
}

gboolean
crier_admin_code_reconnects (guint code)
{
  return (code >= 3000 && code < 3500) || (code >= 4000 && code < 4500);
}

/* ---- reading JSON objects ------------------------------------------------ */

/* Reads members of one object; errors name them as "@prefix.member". */
typedef struct
{
  JsonObject      *object;
  const char      *prefix;   /* "params", "result", ... or NULL */
  CrierAdminError  code;
  GError         **error;
} Reader;

static gboolean G_GNUC_PRINTF (3, 4)
reader_fail (Reader     *r,
             const char *member,
             const char *format,
             ...)
{
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);

  if (member == NULL)
    g_set_error (r->error, CRIER_ADMIN_ERROR, r->code, "%s", text);
  else if (r->prefix != NULL)
    g_set_error (r->error, CRIER_ADMIN_ERROR, r->code, "%s.%s: %s", r->prefix, member, text);
  else
    g_set_error (r->error, CRIER_ADMIN_ERROR, r->code, "%s: %s", member, text);
  return FALSE;
}

/* Members outside @allowed (NULL-terminated) are errors. */
static gboolean
reader_only (Reader             *r,
             const char * const *allowed)
{
  g_autoptr(GList) members = json_object_get_members (r->object);

  for (GList *l = members; l != NULL; l = l->next)
    {
      if (allowed == NULL || !g_strv_contains (allowed, l->data))
        return reader_fail (r, l->data, "unknown member");
    }
  return TRUE;
}

static JsonNode *
reader_get (Reader     *r,
            const char *name)
{
  return json_object_get_member (r->object, name);
}

static gboolean
node_is_integer (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64;
}

static gboolean
node_is_number (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) &&
         (json_node_get_value_type (node) == G_TYPE_INT64 ||
          json_node_get_value_type (node) == G_TYPE_DOUBLE);
}

static gboolean
node_is_string (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING;
}

static gboolean
node_is_bool (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_BOOLEAN;
}

/* Absent: TRUE and *@out untouched (or an error when @required). */
static gboolean
reader_int (Reader     *r,
            const char *name,
            gint64      min,
            gint64      max,
            gboolean    required,
            gint64     *out)
{
  JsonNode *node = reader_get (r, name);
  gint64 v;

  if (node == NULL)
    return required ? reader_fail (r, name, "missing") : TRUE;
  if (!node_is_integer (node))
    return reader_fail (r, name, "expected an integer");
  v = json_node_get_int (node);
  if (v < min)
    return reader_fail (r, name, "%" G_GINT64_FORMAT " is below the minimum %" G_GINT64_FORMAT, v, min);
  if (v > max)
    return reader_fail (r, name, "%" G_GINT64_FORMAT " is above the maximum %" G_GINT64_FORMAT, v, max);
  *out = v;
  return TRUE;
}

static gboolean
reader_uint64 (Reader     *r,
               const char *name,
               guint64    *out)
{
  gint64 v = 0;

  if (!reader_int (r, name, 0, G_MAXINT64, FALSE, &v))
    return FALSE;
  *out = (guint64) v;
  return TRUE;
}

/* A number or null (NaN); absent leaves *@out. */
static gboolean
reader_double (Reader     *r,
               const char *name,
               double     *out)
{
  JsonNode *node = reader_get (r, name);

  if (node == NULL)
    return TRUE;
  if (JSON_NODE_HOLDS_NULL (node))
    {
      *out = NAN;
      return TRUE;
    }
  if (!node_is_number (node))
    return reader_fail (r, name, "expected a number or null");
  *out = json_node_get_double (node);
  return TRUE;
}

static gboolean
reader_bool (Reader     *r,
             const char *name,
             gboolean   *out)
{
  JsonNode *node = reader_get (r, name);

  if (node == NULL)
    return TRUE;
  if (!node_is_bool (node))
    return reader_fail (r, name, "expected true or false");
  *out = json_node_get_boolean (node);
  return TRUE;
}

/* A string of at most @max_len bytes, without NUL; empty only when
 * @allow_empty.  null counts as absent when @nullable. */
static gboolean
reader_string_full (Reader     *r,
                    const char *name,
                    gsize       max_len,
                    gboolean    required,
                    gboolean    allow_empty,
                    gboolean    nullable,
                    char      **out)
{
  JsonNode *node = reader_get (r, name);
  const char *s;
  gsize len;

  if (node == NULL || (nullable && JSON_NODE_HOLDS_NULL (node)))
    return required ? reader_fail (r, name, "missing") : TRUE;
  if (!node_is_string (node))
    return reader_fail (r, name, "expected a string");
  s = json_node_get_string (node);
  len = strlen (s);
  if (!allow_empty && len == 0)
    return reader_fail (r, name, "must not be empty");
  if (len > max_len)
    return reader_fail (r, name, "longer than %" G_GSIZE_FORMAT " bytes", max_len);
  g_free (*out);
  *out = g_strdup (s);
  return TRUE;
}

static gboolean
reader_string (Reader     *r,
               const char *name,
               gboolean    required,
               char      **out)
{
  return reader_string_full (r, name, CRIER_ADMIN_MAX_STRING, required, FALSE, FALSE, out);
}

static gboolean
reader_strv (Reader     *r,
             const char *name,
             guint       max_items,
             gboolean    required,
             char     ***out)
{
  JsonNode *node = reader_get (r, name);
  JsonArray *array;
  GPtrArray *items;
  guint n;

  if (node == NULL)
    return required ? reader_fail (r, name, "missing") : TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return reader_fail (r, name, "expected an array of strings");
  array = json_node_get_array (node);
  n = json_array_get_length (array);
  if (n == 0)
    return reader_fail (r, name, "must not be empty");
  if (n > max_items)
    return reader_fail (r, name, "more than %u items", max_items);

  items = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n; i++)
    {
      JsonNode *item = json_array_get_element (array, i);
      const char *s;

      if (!node_is_string (item))
        {
          g_ptr_array_unref (items);
          return reader_fail (r, name, "item %u is not a string", i);
        }
      s = json_node_get_string (item);
      if (s[0] == '\0' || strlen (s) > CRIER_ADMIN_MAX_STRING)
        {
          g_ptr_array_unref (items);
          return reader_fail (r, name, "item %u is empty or longer than %d bytes",
                              i, CRIER_ADMIN_MAX_STRING);
        }
      g_ptr_array_add (items, g_strdup (s));
    }
  g_ptr_array_add (items, NULL);
  g_strfreev (*out);
  *out = (char **) g_ptr_array_free (items, FALSE);
  return TRUE;
}

/* ---- writing ------------------------------------------------------------- */

static void
set_double (JsonObject *o,
            const char *name,
            double      v)
{
  if (isfinite (v))
    json_object_set_double_member (o, name, v);
  else
    json_object_set_null_member (o, name);
}

static void
set_string_or_null (JsonObject *o,
                    const char *name,
                    const char *s)
{
  if (s != NULL)
    json_object_set_string_member (o, name, s);
  else
    json_object_set_null_member (o, name);
}

static void
set_int_or_null (JsonObject *o,
                 const char *name,
                 gint64      v)
{
  if (v >= 0)
    json_object_set_int_member (o, name, v);
  else
    json_object_set_null_member (o, name);
}

static JsonNode *
node_from_object (JsonObject *o)
{
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (node, o);
  return node;
}

static char *
node_to_string (JsonNode *node)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();

  json_generator_set_root (gen, node);
  return json_generator_to_data (gen, NULL);
}

static JsonNode *
parse_text (const char      *text,
            gsize            len,
            CrierAdminError  code,
            GError         **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) local_error = NULL;
  JsonNode *root;

  if (!g_utf8_validate_len (text, len, NULL))
    {
      g_set_error (error, CRIER_ADMIN_ERROR, code, "not valid UTF-8");
      return NULL;
    }
  if (!crier_json_single_value (text, (gssize) len))
    {
      g_set_error (error, CRIER_ADMIN_ERROR, code, "not JSON: not exactly one value");
      return NULL;
    }
  if (!crier_json_numbers_exact (text, (gssize) len))
    {
      g_set_error (error, CRIER_ADMIN_ERROR, code,
                   "a number out of range (finite doubles, 64-bit integers)");
      return NULL;
    }
  if (!json_parser_load_from_data (parser, text, (gssize) len, &local_error))
    {
      g_set_error (error, CRIER_ADMIN_ERROR, code, "not JSON: %s", local_error->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL)
    {
      g_set_error (error, CRIER_ADMIN_ERROR, code, "not JSON: empty");
      return NULL;
    }
  return json_node_ref (root);
}

/* ---- requests ------------------------------------------------------------ */

CrierAdminRequest *
crier_admin_request_new (CrierAdminRequestType type)
{
  CrierAdminRequest *request = g_new0 (CrierAdminRequest, 1);

  request->type = type;
  request->protocol = CRIER_ADMIN_PROTOCOL_VERSION;
  request->enable = TRUE;
  request->page = 1;
  request->page_size = CRIER_ADMIN_DEFAULT_PAGE_SIZE;
  request->sort = CRIER_ADMIN_SORT_DEFAULT;
  request->reconnect = TRUE;
  request->include_resolved = TRUE;
  return request;
}

void
crier_admin_request_free (CrierAdminRequest *request)
{
  if (request == NULL)
    return;

  g_free (request->client);
  g_strfreev (request->metrics);
  g_free (request->transport);
  g_free (request->remote);
  g_free (request->filter);
  g_free (request->user);
  g_free (request->channel);
  g_free (request->session);
  g_free (request->reason);
  g_strfreev (request->channels);
  g_free (request->data);
  g_free (request);
}

static gboolean
read_paging (Reader            *r,
             CrierAdminRequest *req,
             const char * const *sorts)
{
  gint64 page = req->page;
  gint64 page_size = req->page_size;
  g_autofree char *sort = NULL;
  g_autofree char *order = NULL;

  if (!reader_int (r, "page", 1, G_MAXINT32, FALSE, &page) ||
      !reader_int (r, "page_size", 1, CRIER_ADMIN_MAX_PAGE_SIZE, FALSE, &page_size) ||
      !reader_string (r, "sort", FALSE, &sort) ||
      !reader_string (r, "order", FALSE, &order))
    return FALSE;

  req->page = (guint) page;
  req->page_size = (guint) page_size;
  if (sort != NULL)
    {
      gboolean found = FALSE;

      for (guint i = 0; sorts[i] != NULL && !found; i++)
        {
          if (g_str_equal (sort, sorts[i]))
            {
              for (guint s = 0; s < G_N_ELEMENTS (sort_names); s++)
                if (g_str_equal (sort_names[s], sort))
                  req->sort = (CrierAdminSort) s;
              found = TRUE;
            }
        }
      if (!found)
        {
          g_autofree char *list = g_strjoinv (", ", (char **) sorts);

          return reader_fail (r, "sort", "'%s' is not one of %s", sort, list);
        }
    }
  if (order != NULL)
    {
      if (g_str_equal (order, "asc"))
        req->descending = FALSE;
      else if (g_str_equal (order, "desc"))
        req->descending = TRUE;
      else
        return reader_fail (r, "order", "'%s' is not asc or desc", order);
    }
  return TRUE;
}

static gboolean
read_kick (Reader            *r,
           CrierAdminRequest *req)
{
  gint64 code = 0;
  gboolean has_reconnect = json_object_has_member (r->object, "reconnect");

  /* The anonymous user is "", so an empty user is a valid target. */
  if (!reader_string (r, "session", FALSE, &req->session) ||
      !reader_string_full (r, "user", CRIER_ADMIN_MAX_STRING, FALSE, TRUE, FALSE, &req->user) ||
      !reader_int (r, "code", 3000, 4999, FALSE, &code) ||
      !reader_string_full (r, "reason", MAX_CLOSE_REASON, FALSE, TRUE, FALSE, &req->reason) ||
      !reader_bool (r, "reconnect", &req->reconnect))
    return FALSE;

  if ((req->session == NULL) == (req->user == NULL))
    return reader_fail (r, NULL, "%s: give either session or user",
                        r->prefix != NULL ? r->prefix : "params");

  req->code = (guint) code;
  if (req->code != 0)
    {
      gboolean reconnects = crier_admin_code_reconnects (req->code);

      if (has_reconnect && reconnects != req->reconnect)
        return reader_fail (r, "code", "%u %s, but reconnect is %s", req->code,
                            reconnects ? "lets the client reconnect" : "is terminal",
                            req->reconnect ? "true" : "false");
      req->reconnect = reconnects;
    }
  return TRUE;
}

static gboolean
read_broadcast (Reader            *r,
                CrierAdminRequest *req)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(JsonNode) parsed = NULL;
  JsonNode *node;

  if (!reader_strv (r, "channels", CRIER_ADMIN_MAX_CHANNELS, TRUE, &req->channels))
    return FALSE;

  node = reader_get (r, "data");
  if (node == NULL)
    return reader_fail (r, "data", "missing");
  if (!node_is_string (node))
    return reader_fail (r, "data", "expected a string holding the JSON payload");
  if (strlen (json_node_get_string (node)) > CRIER_ADMIN_MAX_DATA_SIZE)
    {
      g_set_error (r->error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_TOO_LARGE,
                   "%s.data: larger than %d bytes", r->prefix, CRIER_ADMIN_MAX_DATA_SIZE);
      return FALSE;
    }
  parsed = parse_text (json_node_get_string (node), strlen (json_node_get_string (node)),
                       r->code, &local_error);
  if (parsed == NULL)
    return reader_fail (r, "data", "%s", local_error->message);
  req->data = g_strdup (json_node_get_string (node));
  return TRUE;
}

static gboolean
read_params (Reader            *r,
             CrierAdminRequest *req)
{
  static const char * const session_sorts[] = { "connected_at", "user", "bytes", "transport", NULL };
  static const char * const channel_sorts[] = { "name", "subscribers", NULL };
  static const char * const p_hello[] = { "protocol", "client", NULL };
  static const char * const p_watch[] = { "enable", NULL };
  static const char * const p_history[] = { "metrics", "since", NULL };
  static const char * const p_sessions[] = { "page", "page_size", "sort", "order", "user",
                                             "channel", "transport", "remote", NULL };
  static const char * const p_session[] = { "session", NULL };
  static const char * const p_kick[] = { "session", "user", "code", "reason", "reconnect", NULL };
  static const char * const p_unsubscribe[] = { "session", "channel", NULL };
  static const char * const p_broadcast[] = { "channels", "data", NULL };
  static const char * const p_channels[] = { "page", "page_size", "sort", "order", "filter", NULL };
  static const char * const p_channel[] = { "channel", NULL };
  static const char * const p_alerts[] = { "include_resolved", NULL };

  switch (req->type)
    {
    case CRIER_ADMIN_REQUEST_HELLO:
      return reader_only (r, p_hello) &&
             reader_int (r, "protocol", 1, G_MAXINT32, FALSE, &req->protocol) &&
             reader_string (r, "client", FALSE, &req->client);

    case CRIER_ADMIN_REQUEST_GET_STATS:
    case CRIER_ADMIN_REQUEST_LIST_NODES:
      return reader_only (r, NULL);

    case CRIER_ADMIN_REQUEST_WATCH_STATS:
    case CRIER_ADMIN_REQUEST_WATCH_SESSIONS:
    case CRIER_ADMIN_REQUEST_WATCH_ALERTS:
      return reader_only (r, p_watch) && reader_bool (r, "enable", &req->enable);

    case CRIER_ADMIN_REQUEST_GET_HISTORY:
      if (!reader_only (r, p_history) ||
          !reader_strv (r, "metrics", 1000, FALSE, &req->metrics) ||
          !reader_int (r, "since", 0, G_MAXINT64, FALSE, &req->since))
        return FALSE;
      for (guint i = 0; req->metrics != NULL && req->metrics[i] != NULL; i++)
        if (crier_admin_stats_lookup_series (req->metrics[i]) < 0)
          return reader_fail (r, "metrics", "unknown metric '%s'", req->metrics[i]);
      return TRUE;

    case CRIER_ADMIN_REQUEST_LIST_SESSIONS:
      return reader_only (r, p_sessions) &&
             read_paging (r, req, session_sorts) &&
             reader_string_full (r, "user", CRIER_ADMIN_MAX_STRING, FALSE, TRUE, FALSE, &req->user) &&
             reader_string (r, "channel", FALSE, &req->channel) &&
             reader_string (r, "transport", FALSE, &req->transport) &&
             reader_string (r, "remote", FALSE, &req->remote);

    case CRIER_ADMIN_REQUEST_INSPECT_SESSION:
      return reader_only (r, p_session) && reader_string (r, "session", TRUE, &req->session);

    case CRIER_ADMIN_REQUEST_KICK:
      return reader_only (r, p_kick) && read_kick (r, req);

    case CRIER_ADMIN_REQUEST_UNSUBSCRIBE:
      return reader_only (r, p_unsubscribe) &&
             reader_string (r, "session", TRUE, &req->session) &&
             reader_string (r, "channel", TRUE, &req->channel);

    case CRIER_ADMIN_REQUEST_BROADCAST:
      return reader_only (r, p_broadcast) && read_broadcast (r, req);

    case CRIER_ADMIN_REQUEST_LIST_CHANNELS:
      return reader_only (r, p_channels) &&
             read_paging (r, req, channel_sorts) &&
             reader_string (r, "filter", FALSE, &req->filter);

    case CRIER_ADMIN_REQUEST_INSPECT_CHANNEL:
      return reader_only (r, p_channel) && reader_string (r, "channel", TRUE, &req->channel);

    case CRIER_ADMIN_REQUEST_LIST_ALERTS:
      return reader_only (r, p_alerts) && reader_bool (r, "include_resolved", &req->include_resolved);
    }

  g_assert_not_reached ();
  return FALSE;
}

CrierAdminRequest *
crier_admin_request_decode (const char  *text,
                            gsize        len,
                            gint64      *out_id,
                            GError     **error)
{
  static const char * const top[] = { "id", "type", "params", NULL };
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(CrierAdminRequest) req = NULL;
  g_autoptr(JsonObject) empty = NULL;
  CrierAdminRequestType type;
  JsonObject *object;
  JsonNode *node;
  gint64 id = -1;
  Reader r = { NULL, NULL, CRIER_ADMIN_ERROR_INVALID_REQUEST, error };

  g_return_val_if_fail (text != NULL, NULL);

  if (out_id != NULL)
    *out_id = -1;

  if (len > CRIER_ADMIN_MAX_REQUEST_SIZE)
    {
      g_set_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_TOO_LARGE,
                   "request larger than %d bytes", CRIER_ADMIN_MAX_REQUEST_SIZE);
      return NULL;
    }
  root = parse_text (text, len, CRIER_ADMIN_ERROR_PARSE, error);
  if (root == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_INVALID_REQUEST,
                   "a request is a JSON object");
      return NULL;
    }
  object = r.object = json_node_get_object (root);

  if (!reader_int (&r, "id", 0, MAX_SAFE_INTEGER, TRUE, &id))
    return NULL;
  if (out_id != NULL)
    *out_id = id;

  node = json_object_get_member (object, "type");
  if (node == NULL || !node_is_string (node))
    {
      reader_fail (&r, "type", node == NULL ? "missing" : "expected a string");
      return NULL;
    }
  if (!crier_admin_request_type_from_string (json_node_get_string (node), &type))
    {
      g_autofree char *valid = g_utf8_make_valid (json_node_get_string (node), -1);
      g_autofree char *shown = g_utf8_strlen (valid, -1) > 64 ? g_utf8_substring (valid, 0, 64) : g_strdup (valid);

      g_set_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_UNKNOWN_TYPE,
                   "unknown request type '%s'", shown);
      return NULL;
    }
  if (!reader_only (&r, top))
    return NULL;

  req = crier_admin_request_new (type);
  req->id = id;

  node = json_object_get_member (object, "params");
  if (node != NULL && !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_INVALID_PARAMS,
                   "params: expected an object");
      return NULL;
    }
  if (node == NULL)
    empty = json_object_new ();

  r.object = node != NULL ? json_node_get_object (node) : empty;
  r.prefix = "params";
  r.code = CRIER_ADMIN_ERROR_INVALID_PARAMS;
  if (!read_params (&r, req))
    return NULL;

  return g_steal_pointer (&req);
}

static void
put_paging (JsonObject              *p,
            const CrierAdminRequest *req)
{
  if (req->page != 1)
    json_object_set_int_member (p, "page", req->page);
  if (req->page_size != CRIER_ADMIN_DEFAULT_PAGE_SIZE)
    json_object_set_int_member (p, "page_size", req->page_size);
  if (req->sort != CRIER_ADMIN_SORT_DEFAULT)
    json_object_set_string_member (p, "sort", crier_admin_sort_to_string (req->sort));
  if (req->descending)
    json_object_set_string_member (p, "order", "desc");
}

static void
put_string (JsonObject *p,
            const char *name,
            const char *value)
{
  if (value != NULL)
    json_object_set_string_member (p, name, value);
}

static void
put_strv (JsonObject *p,
          const char *name,
          char      **strv)
{
  JsonArray *array;

  if (strv == NULL)
    return;
  array = json_array_new ();
  for (guint i = 0; strv[i] != NULL; i++)
    json_array_add_string_element (array, strv[i]);
  json_object_set_array_member (p, name, array);
}

char *
crier_admin_request_encode (const CrierAdminRequest  *req,
                            GError                  **error)
{
  JsonObject *o;
  JsonObject *p;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(CrierAdminRequest) check = NULL;
  char *text;

  g_return_val_if_fail (req != NULL, NULL);
  g_return_val_if_fail ((guint) req->type < CRIER_ADMIN_N_REQUEST_TYPES, NULL);

  o = json_object_new ();
  p = json_object_new ();
  json_object_set_int_member (o, "id", req->id);
  json_object_set_string_member (o, "type", request_names[req->type]);

  switch (req->type)
    {
    case CRIER_ADMIN_REQUEST_HELLO:
      json_object_set_int_member (p, "protocol", req->protocol);
      put_string (p, "client", req->client);
      break;
    case CRIER_ADMIN_REQUEST_GET_STATS:
    case CRIER_ADMIN_REQUEST_LIST_NODES:
      break;
    case CRIER_ADMIN_REQUEST_WATCH_STATS:
    case CRIER_ADMIN_REQUEST_WATCH_SESSIONS:
    case CRIER_ADMIN_REQUEST_WATCH_ALERTS:
      json_object_set_boolean_member (p, "enable", req->enable);
      break;
    case CRIER_ADMIN_REQUEST_GET_HISTORY:
      put_strv (p, "metrics", req->metrics);
      if (req->since > 0)
        json_object_set_int_member (p, "since", req->since);
      break;
    case CRIER_ADMIN_REQUEST_LIST_SESSIONS:
      put_paging (p, req);
      put_string (p, "user", req->user);
      put_string (p, "channel", req->channel);
      put_string (p, "transport", req->transport);
      put_string (p, "remote", req->remote);
      break;
    case CRIER_ADMIN_REQUEST_INSPECT_SESSION:
      put_string (p, "session", req->session);
      break;
    case CRIER_ADMIN_REQUEST_KICK:
      put_string (p, "session", req->session);
      put_string (p, "user", req->user);
      if (req->code != 0)
        json_object_set_int_member (p, "code", req->code);
      put_string (p, "reason", req->reason);
      json_object_set_boolean_member (p, "reconnect", req->reconnect);
      break;
    case CRIER_ADMIN_REQUEST_UNSUBSCRIBE:
      put_string (p, "session", req->session);
      put_string (p, "channel", req->channel);
      break;
    case CRIER_ADMIN_REQUEST_BROADCAST:
      put_strv (p, "channels", req->channels);
      put_string (p, "data", req->data);
      break;
    case CRIER_ADMIN_REQUEST_LIST_CHANNELS:
      put_paging (p, req);
      put_string (p, "filter", req->filter);
      break;
    case CRIER_ADMIN_REQUEST_INSPECT_CHANNEL:
      put_string (p, "channel", req->channel);
      break;
    case CRIER_ADMIN_REQUEST_LIST_ALERTS:
      json_object_set_boolean_member (p, "include_resolved", req->include_resolved);
      break;
    }

  if (json_object_get_size (p) > 0)
    json_object_set_object_member (o, "params", p);
  else
    json_object_unref (p);

  node = node_from_object (o);
  text = node_to_string (node);

  /* Whatever the decoder refuses must not leave this side. */
  check = crier_admin_request_decode (text, strlen (text), NULL, error);
  if (check == NULL)
    {
      g_free (text);
      return NULL;
    }
  return text;
}

/* ---- server messages ----------------------------------------------------- */

char *
crier_admin_reply_encode (gint64    id,
                          JsonNode *result)
{
  JsonObject *o = json_object_new ();
  g_autoptr(JsonNode) node = NULL;

  json_object_set_int_member (o, "id", id);
  if (result != NULL)
    json_object_set_member (o, "result", json_node_copy (result));
  else
    json_object_set_object_member (o, "result", json_object_new ());
  node = node_from_object (o);
  return node_to_string (node);
}

char *
crier_admin_error_encode (gint64           id,
                          CrierAdminError  code,
                          const char      *message)
{
  JsonObject *o = json_object_new ();
  JsonObject *e = json_object_new ();
  g_autoptr(JsonNode) node = NULL;

  set_int_or_null (o, "id", id);
  json_object_set_string_member (e, "code", crier_admin_error_to_string (code));
  json_object_set_string_member (e, "message", message != NULL ? message : "");
  json_object_set_object_member (o, "error", e);
  node = node_from_object (o);
  return node_to_string (node);
}

char *
crier_admin_event_encode (const char *event,
                          const char *member,
                          JsonNode   *value)
{
  JsonObject *o = json_object_new ();
  g_autoptr(JsonNode) node = NULL;

  g_return_val_if_fail (event != NULL, NULL);

  json_object_set_string_member (o, "event", event);
  if (member != NULL && value != NULL)
    json_object_set_member (o, member, json_node_copy (value));
  node = node_from_object (o);
  return node_to_string (node);
}

void
crier_admin_message_free (CrierAdminMessage *message)
{
  if (message == NULL)
    return;

  g_clear_pointer (&message->result, json_node_unref);
  g_free (message->error_name);
  g_free (message->error_message);
  g_free (message->event);
  g_clear_pointer (&message->body, json_object_unref);
  g_free (message);
}

CrierAdminMessage *
crier_admin_message_decode (const char  *text,
                            gsize        len,
                            GError     **error)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(CrierAdminMessage) msg = NULL;
  JsonObject *object;
  JsonNode *node;
  Reader r = { NULL, NULL, CRIER_ADMIN_ERROR_INVALID_REPLY, error };

  g_return_val_if_fail (text != NULL, NULL);

  root = parse_text (text, len, CRIER_ADMIN_ERROR_INVALID_REPLY, error);
  if (root == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_INVALID_REPLY,
                   "a server message is a JSON object");
      return NULL;
    }
  object = r.object = json_node_get_object (root);
  msg = g_new0 (CrierAdminMessage, 1);
  msg->id = -1;

  if (json_object_has_member (object, "event"))
    {
      msg->kind = CRIER_ADMIN_MESSAGE_EVENT;
      if (!reader_string (&r, "event", TRUE, &msg->event))
        return NULL;
      msg->body = json_object_ref (object);
      return g_steal_pointer (&msg);
    }

  node = json_object_get_member (object, "id");
  if (node == NULL)
    {
      reader_fail (&r, "id", "missing (neither a reply nor an event)");
      return NULL;
    }
  if (!JSON_NODE_HOLDS_NULL (node) &&
      !reader_int (&r, "id", 0, MAX_SAFE_INTEGER, TRUE, &msg->id))
    return NULL;

  node = json_object_get_member (object, "error");
  if (node != NULL)
    {
      Reader er = { NULL, "error", CRIER_ADMIN_ERROR_INVALID_REPLY, error };

      if (!JSON_NODE_HOLDS_OBJECT (node))
        {
          reader_fail (&r, "error", "expected an object");
          return NULL;
        }
      er.object = json_node_get_object (node);
      msg->kind = CRIER_ADMIN_MESSAGE_ERROR;
      if (!reader_string (&er, "code", TRUE, &msg->error_name) ||
          !reader_string_full (&er, "message", G_MAXSIZE, FALSE, TRUE, FALSE, &msg->error_message))
        return NULL;
      crier_admin_error_from_string (msg->error_name, &msg->error_code);
      if (msg->error_message == NULL)
        msg->error_message = g_strdup ("");
      return g_steal_pointer (&msg);
    }

  node = json_object_get_member (object, "result");
  if (node == NULL)
    {
      reader_fail (&r, "result", "missing");
      return NULL;
    }
  msg->kind = CRIER_ADMIN_MESSAGE_REPLY;
  msg->result = json_node_ref (node);
  return g_steal_pointer (&msg);
}

/* ---- stats ----------------------------------------------------------------- */

#define SERIES(field, unit, help) { #field, unit, help, G_STRUCT_OFFSET (CrierAdminStats, field) }

static const CrierAdminSeriesInfo series_info[] = {
  SERIES (connections, "1", "client connections"),
  SERIES (sessions, "1", "connected sessions"),
  SERIES (channels, "1", "active channels"),
  SERIES (subscriptions, "1", "subscriptions"),
  SERIES (connects_per_s, "1/s", "connections opened per second"),
  SERIES (disconnects_per_s, "1/s", "connections closed per second"),
  SERIES (publishes_per_s, "1/s", "publications per second"),
  SERIES (deliveries_per_s, "1/s", "deliveries to subscribers per second"),
  SERIES (bytes_in_per_s, "B/s", "bytes received per second"),
  SERIES (bytes_out_per_s, "B/s", "bytes sent per second"),
  SERIES (latency_mean_ms, "ms", "publish to delivery latency, mean"),
  SERIES (latency_p50_ms, "ms", "publish to delivery latency, median"),
  SERIES (latency_p99_ms, "ms", "publish to delivery latency, 99th percentile"),
  SERIES (evictions_per_s, "1/s", "slow consumers evicted per second"),
  SERIES (rejections_per_s, "1/s", "requests rejected per second"),
  SERIES (protocol_errors_per_s, "1/s", "connections closed for protocol errors per second"),
  SERIES (refusals_per_s, "1/s", "connections refused at the cap per second"),
  SERIES (history_bytes, "B", "history memory"),
  SERIES (rss_bytes, "B", "resident memory"),
  SERIES (rss_per_connection, "B", "resident memory per connection"),
  SERIES (cpu_percent, "%", "CPU use, percent of one core"),
  SERIES (loop_lag_ms, "ms", "main loop lag"),
  SERIES (broker_up, "1", "broker healthy (1) or not (0)"),
  SERIES (broker_rtt_ms, "ms", "broker round trip (Redis probe)"),
  SERIES (alerts_active, "1", "active alerts"),
  SERIES (admin_connections, "1", "admin connections"),
};

#undef SERIES

const CrierAdminSeriesInfo *
crier_admin_stats_get_series (guint *n_series)
{
  *n_series = G_N_ELEMENTS (series_info);
  return series_info;
}

int
crier_admin_stats_lookup_series (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (series_info); i++)
    if (g_strcmp0 (series_info[i].name, name) == 0)
      return (int) i;
  return -1;
}

double
crier_admin_stats_get_value (const CrierAdminStats *stats,
                             guint                  series)
{
  g_return_val_if_fail (series < G_N_ELEMENTS (series_info), NAN);

  return G_STRUCT_MEMBER (double, stats, series_info[series].offset);
}

static void
labelled_clear (gpointer data)
{
  CrierAdminLabelled *l = data;

  g_free (l->name);
}

static GArray *
labelled_array_new (void)
{
  GArray *array = g_array_new (FALSE, TRUE, sizeof (CrierAdminLabelled));

  g_array_set_clear_func (array, labelled_clear);
  return array;
}

void
crier_admin_labelled_set (GArray     *array,
                          const char *name,
                          double      rate,
                          guint64     total)
{
  CrierAdminLabelled l;

  g_return_if_fail (array != NULL);
  g_return_if_fail (name != NULL);

  for (guint i = 0; i < array->len; i++)
    {
      CrierAdminLabelled *e = &g_array_index (array, CrierAdminLabelled, i);

      if (g_str_equal (e->name, name))
        {
          e->rate = rate;
          e->total = total;
          return;
        }
    }
  l.name = g_strdup (name);
  l.rate = rate;
  l.total = total;
  g_array_append_val (array, l);
}

CrierAdminStats *
crier_admin_stats_new (void)
{
  CrierAdminStats *stats = g_new0 (CrierAdminStats, 1);

  stats->history_bytes = NAN;
  stats->broker_rtt_ms = NAN;
  stats->latency_mean_ms = NAN;
  stats->latency_p50_ms = NAN;
  stats->latency_p99_ms = NAN;
  stats->transports = labelled_array_new ();
  stats->disconnect_reasons = labelled_array_new ();
  stats->rejection_reasons = labelled_array_new ();
  return stats;
}

void
crier_admin_stats_free (CrierAdminStats *stats)
{
  if (stats == NULL)
    return;

  g_array_unref (stats->transports);
  g_array_unref (stats->disconnect_reasons);
  g_array_unref (stats->rejection_reasons);
  g_free (stats);
}

static void
labelled_copy_into (GArray       *to,
                    const GArray *from)
{
  for (guint i = 0; i < from->len; i++)
    {
      const CrierAdminLabelled *l = &g_array_index (from, CrierAdminLabelled, i);

      crier_admin_labelled_set (to, l->name, l->rate, l->total);
    }
}

CrierAdminStats *
crier_admin_stats_copy (const CrierAdminStats *stats)
{
  CrierAdminStats *copy;

  g_return_val_if_fail (stats != NULL, NULL);

  copy = g_new (CrierAdminStats, 1);
  *copy = *stats;
  copy->transports = labelled_array_new ();
  copy->disconnect_reasons = labelled_array_new ();
  copy->rejection_reasons = labelled_array_new ();
  labelled_copy_into (copy->transports, stats->transports);
  labelled_copy_into (copy->disconnect_reasons, stats->disconnect_reasons);
  labelled_copy_into (copy->rejection_reasons, stats->rejection_reasons);
  return copy;
}

/* Totals: JSON name and offset of a guint64. */
static const struct
{
  const char *name;
  gsize       offset;
} total_fields[] = {
  { "connects", G_STRUCT_OFFSET (CrierAdminStats, connects_total) },
  { "disconnects", G_STRUCT_OFFSET (CrierAdminStats, disconnects_total) },
  { "publications", G_STRUCT_OFFSET (CrierAdminStats, publications_total) },
  { "deliveries", G_STRUCT_OFFSET (CrierAdminStats, deliveries_total) },
  { "bytes_in", G_STRUCT_OFFSET (CrierAdminStats, bytes_in_total) },
  { "bytes_out", G_STRUCT_OFFSET (CrierAdminStats, bytes_out_total) },
  { "evictions", G_STRUCT_OFFSET (CrierAdminStats, evictions_total) },
  { "rejections", G_STRUCT_OFFSET (CrierAdminStats, rejections_total) },
  { "protocol_errors", G_STRUCT_OFFSET (CrierAdminStats, protocol_errors_total) },
  { "refusals", G_STRUCT_OFFSET (CrierAdminStats, refusals_total) },
  { "latency_count", G_STRUCT_OFFSET (CrierAdminStats, latency_count) },
};

static JsonObject *
labelled_to_json (const GArray *array,
                  gboolean      counts)
{
  JsonObject *o = json_object_new ();

  for (guint i = 0; i < array->len; i++)
    {
      const CrierAdminLabelled *l = &g_array_index (array, CrierAdminLabelled, i);

      if (counts)
        json_object_set_int_member (o, l->name, (gint64) l->total);
      else
        {
          JsonObject *e = json_object_new ();

          set_double (e, "per_s", l->rate);
          json_object_set_int_member (e, "total", (gint64) l->total);
          json_object_set_object_member (o, l->name, e);
        }
    }
  return o;
}

JsonNode *
crier_admin_stats_to_json (const CrierAdminStats *stats)
{
  JsonObject *o;
  JsonObject *totals;

  g_return_val_if_fail (stats != NULL, NULL);

  o = json_object_new ();
  json_object_set_int_member (o, "timestamp", stats->timestamp);
  set_double (o, "interval", stats->interval);
  json_object_set_int_member (o, "uptime", stats->uptime);
  for (guint i = 0; i < G_N_ELEMENTS (series_info); i++)
    set_double (o, series_info[i].name, crier_admin_stats_get_value (stats, i));

  totals = json_object_new ();
  for (guint i = 0; i < G_N_ELEMENTS (total_fields); i++)
    json_object_set_int_member (totals, total_fields[i].name,
                                (gint64) G_STRUCT_MEMBER (guint64, stats, total_fields[i].offset));
  set_double (totals, "cpu_seconds", stats->cpu_seconds_total);
  set_double (totals, "latency_sum_seconds", stats->latency_sum_seconds);
  json_object_set_object_member (o, "totals", totals);

  json_object_set_object_member (o, "transports", labelled_to_json (stats->transports, TRUE));
  json_object_set_object_member (o, "disconnect_reasons",
                                 labelled_to_json (stats->disconnect_reasons, FALSE));
  json_object_set_object_member (o, "rejection_reasons",
                                 labelled_to_json (stats->rejection_reasons, FALSE));
  return node_from_object (o);
}

static gboolean
labelled_from_json (Reader     *r,
                    const char *name,
                    gboolean    counts,
                    GArray     *out)
{
  JsonNode *node = reader_get (r, name);
  g_autoptr(GList) members = NULL;
  JsonObject *o;

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return reader_fail (r, name, "expected an object");
  o = json_node_get_object (node);
  members = json_object_get_members (o);
  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonNode *v = json_object_get_member (o, l->data);

      if (counts)
        {
          if (!node_is_number (v))
            return reader_fail (r, name, "%s: expected a number", (char *) l->data);
          crier_admin_labelled_set (out, l->data, json_node_get_double (v),
                                    (guint64) MAX (json_node_get_double (v), 0));
        }
      else
        {
          g_autofree char *prefix = g_strdup_printf ("%s.%s", name, (char *) l->data);
          Reader er = { NULL, prefix, r->code, r->error };
          double rate = 0;
          guint64 total = 0;

          if (!JSON_NODE_HOLDS_OBJECT (v))
            return reader_fail (r, name, "%s: expected an object", (char *) l->data);
          er.object = json_node_get_object (v);
          if (!reader_double (&er, "per_s", &rate) || !reader_uint64 (&er, "total", &total))
            return FALSE;
          crier_admin_labelled_set (out, l->data, rate, total);
        }
    }
  return TRUE;
}

CrierAdminStats *
crier_admin_stats_from_json (JsonNode  *node,
                             GError   **error)
{
  g_autoptr(CrierAdminStats) stats = crier_admin_stats_new ();
  Reader r = { NULL, "stats", CRIER_ADMIN_ERROR_INVALID_REPLY, error };
  JsonNode *totals;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_INVALID_REPLY,
                   "stats: expected an object");
      return NULL;
    }
  r.object = json_node_get_object (node);
  if (!reader_int (&r, "timestamp", 0, G_MAXINT64, TRUE, &stats->timestamp) ||
      !reader_double (&r, "interval", &stats->interval) ||
      !reader_int (&r, "uptime", 0, G_MAXINT64, FALSE, &stats->uptime))
    return NULL;
  for (guint i = 0; i < G_N_ELEMENTS (series_info); i++)
    {
      double *field = &G_STRUCT_MEMBER (double, stats, series_info[i].offset);

      if (!json_object_has_member (r.object, series_info[i].name))
        *field = NAN;
      else if (!reader_double (&r, series_info[i].name, field))
        return NULL;
    }

  totals = reader_get (&r, "totals");
  if (totals != NULL)
    {
      Reader tr = { NULL, "stats.totals", CRIER_ADMIN_ERROR_INVALID_REPLY, error };

      if (!JSON_NODE_HOLDS_OBJECT (totals))
        {
          reader_fail (&r, "totals", "expected an object");
          return NULL;
        }
      tr.object = json_node_get_object (totals);
      for (guint i = 0; i < G_N_ELEMENTS (total_fields); i++)
        if (!reader_uint64 (&tr, total_fields[i].name,
                            &G_STRUCT_MEMBER (guint64, stats, total_fields[i].offset)))
          return NULL;
      if (!reader_double (&tr, "cpu_seconds", &stats->cpu_seconds_total) ||
          !reader_double (&tr, "latency_sum_seconds", &stats->latency_sum_seconds))
        return NULL;
    }

  if (!labelled_from_json (&r, "transports", TRUE, stats->transports) ||
      !labelled_from_json (&r, "disconnect_reasons", FALSE, stats->disconnect_reasons) ||
      !labelled_from_json (&r, "rejection_reasons", FALSE, stats->rejection_reasons))
    return NULL;

  return g_steal_pointer (&stats);
}

/* ---- history --------------------------------------------------------------- */

CrierAdminHistory *
crier_admin_history_new (guint n_samples)
{
  CrierAdminHistory *history = g_new0 (CrierAdminHistory, 1);

  history->interval_ms = 1000;
  history->n_samples = n_samples;
  history->timestamps = g_new0 (gint64, MAX (n_samples, 1));
  history->names = g_ptr_array_new_with_free_func (g_free);
  history->values = g_ptr_array_new_with_free_func (g_free);
  return history;
}

void
crier_admin_history_free (CrierAdminHistory *history)
{
  if (history == NULL)
    return;

  g_free (history->timestamps);
  g_ptr_array_unref (history->names);
  g_ptr_array_unref (history->values);
  g_free (history);
}

void
crier_admin_history_add (CrierAdminHistory *history,
                         const char        *name,
                         const double      *values)
{
  g_return_if_fail (history != NULL);
  g_return_if_fail (name != NULL);

  g_ptr_array_add (history->names, g_strdup (name));
  g_ptr_array_add (history->values, g_memdup2 (values, sizeof (double) * MAX (history->n_samples, 1)));
}

JsonNode *
crier_admin_history_to_json (const CrierAdminHistory *history)
{
  JsonObject *o = json_object_new ();
  JsonObject *series = json_object_new ();
  JsonArray *ts = json_array_sized_new (history->n_samples);

  json_object_set_int_member (o, "interval_ms", history->interval_ms);
  for (guint i = 0; i < history->n_samples; i++)
    json_array_add_int_element (ts, history->timestamps[i]);
  json_object_set_array_member (o, "timestamps", ts);

  for (guint s = 0; s < history->names->len; s++)
    {
      const double *values = g_ptr_array_index (history->values, s);
      JsonArray *array = json_array_sized_new (history->n_samples);

      for (guint i = 0; i < history->n_samples; i++)
        {
          if (isfinite (values[i]))
            json_array_add_double_element (array, values[i]);
          else
            json_array_add_null_element (array);
        }
      json_object_set_array_member (series, g_ptr_array_index (history->names, s), array);
    }
  json_object_set_object_member (o, "series", series);
  return node_from_object (o);
}

CrierAdminHistory *
crier_admin_history_from_json (JsonNode  *node,
                               GError   **error)
{
  g_autoptr(CrierAdminHistory) history = NULL;
  g_autoptr(GList) members = NULL;
  Reader r = { NULL, "history", CRIER_ADMIN_ERROR_INVALID_REPLY, error };
  JsonNode *ts_node;
  JsonNode *series_node;
  JsonArray *ts;
  JsonObject *series;
  guint n;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_INVALID_REPLY,
                   "history: expected an object");
      return NULL;
    }
  r.object = json_node_get_object (node);
  ts_node = reader_get (&r, "timestamps");
  series_node = reader_get (&r, "series");
  if (ts_node == NULL || !JSON_NODE_HOLDS_ARRAY (ts_node))
    {
      reader_fail (&r, "timestamps", "expected an array");
      return NULL;
    }
  if (series_node == NULL || !JSON_NODE_HOLDS_OBJECT (series_node))
    {
      reader_fail (&r, "series", "expected an object");
      return NULL;
    }
  ts = json_node_get_array (ts_node);
  n = json_array_get_length (ts);
  history = crier_admin_history_new (n);
  if (!reader_int (&r, "interval_ms", 1, G_MAXINT32, FALSE, &history->interval_ms))
    return NULL;
  for (guint i = 0; i < n; i++)
    {
      JsonNode *e = json_array_get_element (ts, i);

      if (!node_is_integer (e))
        {
          reader_fail (&r, "timestamps", "item %u is not an integer", i);
          return NULL;
        }
      history->timestamps[i] = json_node_get_int (e);
    }

  series = json_node_get_object (series_node);
  members = json_object_get_members (series);
  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonNode *a = json_object_get_member (series, l->data);
      JsonArray *array;
      g_autofree double *values = NULL;

      if (!JSON_NODE_HOLDS_ARRAY (a) || json_array_get_length (json_node_get_array (a)) != n)
        {
          reader_fail (&r, "series", "%s: expected an array of %u values", (char *) l->data, n);
          return NULL;
        }
      array = json_node_get_array (a);
      values = g_new (double, MAX (n, 1));
      for (guint i = 0; i < n; i++)
        {
          JsonNode *e = json_array_get_element (array, i);

          if (JSON_NODE_HOLDS_NULL (e))
            values[i] = NAN;
          else if (node_is_number (e))
            values[i] = json_node_get_double (e);
          else
            {
              reader_fail (&r, "series", "%s: item %u is not a number", (char *) l->data, i);
              return NULL;
            }
        }
      crier_admin_history_add (history, l->data, values);
    }
  return g_steal_pointer (&history);
}

/* ---- sessions -------------------------------------------------------------- */

void
crier_admin_session_info_free (CrierAdminSessionInfo *info)
{
  if (info == NULL)
    return;

  g_free (info->id);
  g_free (info->user);
  g_free (info->transport);
  g_free (info->remote);
  g_free (info->user_agent);
  g_free (info);
}

JsonNode *
crier_admin_session_info_to_json (const CrierAdminSessionInfo *info)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "id", info->id);
  json_object_set_string_member (o, "user", info->user != NULL ? info->user : "");
  set_string_or_null (o, "transport", info->transport);
  set_string_or_null (o, "remote", info->remote);
  set_string_or_null (o, "user_agent", info->user_agent);
  json_object_set_int_member (o, "connected_at", info->connected_at);
  json_object_set_int_member (o, "expire_at", info->expire_at);
  json_object_set_int_member (o, "subscriptions", info->subscriptions);
  json_object_set_int_member (o, "pubs_out", (gint64) info->pubs_out);
  json_object_set_int_member (o, "commands_in", (gint64) info->commands_in);
  set_int_or_null (o, "bytes_in", info->bytes_in);
  set_int_or_null (o, "bytes_out", info->bytes_out);
  set_int_or_null (o, "queued_bytes", info->queued_bytes);
  /* Unknown is null, like the other optional figures. */
  set_int_or_null (o, "last_activity_at", info->last_activity_at > 0 ? info->last_activity_at : -1);
  set_double (o, "ping_rtt_ms", info->ping_rtt_ms);
  return node_from_object (o);
}

static gboolean
reader_optional_size (Reader     *r,
                      const char *name,
                      gint64     *out)
{
  JsonNode *node = reader_get (r, name);

  *out = -1;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  return reader_int (r, name, 0, G_MAXINT64, FALSE, out);
}

CrierAdminSessionInfo *
crier_admin_session_info_from_json (JsonNode  *node,
                                    GError   **error)
{
  g_autoptr(CrierAdminSessionInfo) info = g_new0 (CrierAdminSessionInfo, 1);
  Reader r = { NULL, "session", CRIER_ADMIN_ERROR_INVALID_REPLY, error };
  gint64 subs = 0;
  gint64 last_activity = -1;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_INVALID_REPLY,
                   "session: expected an object");
      return NULL;
    }
  r.object = json_node_get_object (node);
  if (!reader_string (&r, "id", TRUE, &info->id) ||
      !reader_string_full (&r, "user", G_MAXSIZE, FALSE, TRUE, FALSE, &info->user) ||
      !reader_string_full (&r, "transport", G_MAXSIZE, FALSE, TRUE, TRUE, &info->transport) ||
      !reader_string_full (&r, "remote", G_MAXSIZE, FALSE, TRUE, TRUE, &info->remote) ||
      !reader_string_full (&r, "user_agent", G_MAXSIZE, FALSE, TRUE, TRUE, &info->user_agent) ||
      !reader_int (&r, "connected_at", 0, G_MAXINT64, FALSE, &info->connected_at) ||
      !reader_int (&r, "expire_at", 0, G_MAXINT64, FALSE, &info->expire_at) ||
      !reader_int (&r, "subscriptions", 0, G_MAXUINT32, FALSE, &subs) ||
      !reader_uint64 (&r, "pubs_out", &info->pubs_out) ||
      !reader_uint64 (&r, "commands_in", &info->commands_in) ||
      !reader_optional_size (&r, "bytes_in", &info->bytes_in) ||
      !reader_optional_size (&r, "bytes_out", &info->bytes_out) ||
      !reader_optional_size (&r, "queued_bytes", &info->queued_bytes) ||
      !reader_optional_size (&r, "last_activity_at", &last_activity))
    return NULL;
  /* Absent (an older server) or null: unknown. */
  info->ping_rtt_ms = NAN;
  if (!reader_double (&r, "ping_rtt_ms", &info->ping_rtt_ms))
    return NULL;
  if (!isnan (info->ping_rtt_ms) && !(info->ping_rtt_ms >= 0 && isfinite (info->ping_rtt_ms)))
    {
      reader_fail (&r, "ping_rtt_ms", "%g is not a duration", info->ping_rtt_ms);
      return NULL;
    }
  info->last_activity_at = MAX (last_activity, 0);
  info->subscriptions = (guint) subs;
  if (info->user == NULL)
    info->user = g_strdup ("");
  return g_steal_pointer (&info);
}

/* ---- channels -------------------------------------------------------------- */

void
crier_admin_channel_info_free (CrierAdminChannelInfo *info)
{
  if (info == NULL)
    return;

  g_free (info->name);
  g_free (info->epoch);
  g_free (info);
}

JsonNode *
crier_admin_channel_info_to_json (const CrierAdminChannelInfo *info)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "channel", info->name);
  json_object_set_int_member (o, "subscribers", info->subscribers);
  set_double (o, "publish_rate", info->publish_rate);
  json_object_set_int_member (o, "offset", (gint64) info->offset);
  set_string_or_null (o, "epoch", info->epoch);
  return node_from_object (o);
}

CrierAdminChannelInfo *
crier_admin_channel_info_from_json (JsonNode  *node,
                                    GError   **error)
{
  g_autoptr(CrierAdminChannelInfo) info = g_new0 (CrierAdminChannelInfo, 1);
  Reader r = { NULL, "channel", CRIER_ADMIN_ERROR_INVALID_REPLY, error };
  gint64 subscribers = 0;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_INVALID_REPLY,
                   "channel: expected an object");
      return NULL;
    }
  r.object = json_node_get_object (node);
  info->publish_rate = NAN;
  if (!reader_string_full (&r, "channel", G_MAXSIZE, TRUE, FALSE, FALSE, &info->name) ||
      !reader_int (&r, "subscribers", 0, G_MAXUINT32, FALSE, &subscribers) ||
      !reader_double (&r, "publish_rate", &info->publish_rate) ||
      !reader_uint64 (&r, "offset", &info->offset) ||
      !reader_string_full (&r, "epoch", G_MAXSIZE, FALSE, TRUE, TRUE, &info->epoch))
    return NULL;
  info->subscribers = (guint) subscribers;
  return g_steal_pointer (&info);
}

/* ---- alerts ---------------------------------------------------------------- */

JsonNode *
crier_admin_alert_to_json (const CrierAlert *alert)
{
  JsonObject *o = json_object_new ();

  json_object_set_int_member (o, "id", (gint64) alert->id);
  json_object_set_string_member (o, "metric", alert->metric);
  json_object_set_string_member (o, "kind", crier_alert_kind_to_string (alert->kind));
  json_object_set_string_member (o, "severity", crier_alert_severity_to_string (alert->severity));
  json_object_set_int_member (o, "start_time", alert->start_time);
  if (alert->end_time > 0)
    json_object_set_int_member (o, "end_time", alert->end_time);
  else
    json_object_set_null_member (o, "end_time");
  set_double (o, "observed", alert->observed);
  set_double (o, "expected", alert->expected);
  set_double (o, "score", alert->score);
  json_object_set_string_member (o, "explanation", alert->explanation != NULL ? alert->explanation : "");
  return node_from_object (o);
}

CrierAlert *
crier_admin_alert_from_json (JsonNode  *node,
                             GError   **error)
{
  g_autoptr(CrierAlert) alert = g_new0 (CrierAlert, 1);
  Reader r = { NULL, "alert", CRIER_ADMIN_ERROR_INVALID_REPLY, error };
  g_autofree char *kind = NULL;
  g_autofree char *severity = NULL;
  gboolean kind_ok = FALSE;
  gboolean severity_ok = FALSE;
  JsonNode *end;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_INVALID_REPLY,
                   "alert: expected an object");
      return NULL;
    }
  r.object = json_node_get_object (node);
  alert->observed = alert->expected = alert->score = NAN;
  if (!reader_uint64 (&r, "id", &alert->id) ||
      !reader_string_full (&r, "metric", G_MAXSIZE, TRUE, FALSE, FALSE, &alert->metric) ||
      !reader_string (&r, "kind", TRUE, &kind) ||
      !reader_string (&r, "severity", TRUE, &severity) ||
      !reader_int (&r, "start_time", 0, G_MAXINT64, FALSE, &alert->start_time) ||
      !reader_double (&r, "observed", &alert->observed) ||
      !reader_double (&r, "expected", &alert->expected) ||
      !reader_double (&r, "score", &alert->score) ||
      !reader_string_full (&r, "explanation", G_MAXSIZE, FALSE, TRUE, FALSE, &alert->explanation))
    return NULL;

  end = reader_get (&r, "end_time");
  if (end != NULL && !JSON_NODE_HOLDS_NULL (end) &&
      !reader_int (&r, "end_time", 0, G_MAXINT64, FALSE, &alert->end_time))
    return NULL;

  for (guint k = 0; k < CRIER_N_ALERT_KINDS; k++)
    {
      if (g_str_equal (kind, crier_alert_kind_to_string ((CrierAlertKind) k)))
        {
          alert->kind = (CrierAlertKind) k;
          kind_ok = TRUE;
        }
    }
  for (guint s = CRIER_SEVERITY_INFO; s <= CRIER_SEVERITY_CRITICAL; s++)
    {
      if (g_str_equal (severity, crier_alert_severity_to_string ((CrierAlertSeverity) s)))
        {
          alert->severity = (CrierAlertSeverity) s;
          severity_ok = TRUE;
        }
    }
  if (!kind_ok)
    {
      reader_fail (&r, "kind", "unknown kind '%s'", kind);
      return NULL;
    }
  if (!severity_ok)
    {
      reader_fail (&r, "severity", "unknown severity '%s'", severity);
      return NULL;
    }
  if (alert->explanation == NULL)
    alert->explanation = g_strdup ("");
  return g_steal_pointer (&alert);
}

/* ---- hello ----------------------------------------------------------------- */

void
crier_admin_hello_free (CrierAdminHello *hello)
{
  if (hello == NULL)
    return;

  g_free (hello->node);
  g_free (hello->version);
  g_free (hello->config);
  g_free (hello);
}

JsonNode *
crier_admin_hello_to_json (const CrierAdminHello *hello)
{
  JsonObject *o = json_object_new ();
  JsonObject *limits = json_object_new ();
  JsonArray *metrics = json_array_new ();

  json_object_set_int_member (o, "protocol", hello->protocol);
  json_object_set_string_member (o, "node", hello->node != NULL ? hello->node : "");
  json_object_set_string_member (o, "version", hello->version != NULL ? hello->version : "");
  json_object_set_int_member (o, "uptime", hello->uptime);
  json_object_set_int_member (o, "started_at", hello->started_at);
  json_object_set_int_member (o, "pid", hello->pid);
  json_object_set_string_member (o, "config", hello->config != NULL ? hello->config : "");

  json_object_set_int_member (limits, "max_page_size", CRIER_ADMIN_MAX_PAGE_SIZE);
  json_object_set_int_member (limits, "max_request_size", CRIER_ADMIN_MAX_REQUEST_SIZE);
  json_object_set_int_member (limits, "max_data_size", CRIER_ADMIN_MAX_DATA_SIZE);
  json_object_set_int_member (limits, "max_channels", CRIER_ADMIN_MAX_CHANNELS);
  json_object_set_int_member (limits, "history_samples", CRIER_ADMIN_HISTORY_SAMPLES);
  json_object_set_object_member (o, "limits", limits);

  for (guint i = 0; i < G_N_ELEMENTS (series_info); i++)
    json_array_add_string_element (metrics, series_info[i].name);
  json_object_set_array_member (o, "metrics", metrics);
  return node_from_object (o);
}

CrierAdminHello *
crier_admin_hello_from_json (JsonNode  *node,
                             GError   **error)
{
  g_autoptr(CrierAdminHello) hello = g_new0 (CrierAdminHello, 1);
  Reader r = { NULL, "hello", CRIER_ADMIN_ERROR_INVALID_REPLY, error };

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_INVALID_REPLY,
                   "hello: expected an object");
      return NULL;
    }
  r.object = json_node_get_object (node);
  if (!reader_int (&r, "protocol", 1, G_MAXINT32, TRUE, &hello->protocol) ||
      !reader_string_full (&r, "node", G_MAXSIZE, FALSE, TRUE, FALSE, &hello->node) ||
      !reader_string_full (&r, "version", G_MAXSIZE, FALSE, TRUE, FALSE, &hello->version) ||
      !reader_int (&r, "uptime", 0, G_MAXINT64, FALSE, &hello->uptime) ||
      !reader_int (&r, "started_at", 0, G_MAXINT64, FALSE, &hello->started_at) ||
      !reader_int (&r, "pid", 0, G_MAXINT64, FALSE, &hello->pid) ||
      !reader_string_full (&r, "config", G_MAXSIZE, FALSE, TRUE, FALSE, &hello->config))
    return NULL;
  if (hello->node == NULL)
    hello->node = g_strdup ("");
  if (hello->version == NULL)
    hello->version = g_strdup ("");
  return g_steal_pointer (&hello);
}
