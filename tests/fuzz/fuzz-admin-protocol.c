/* fuzz-admin-protocol.c: the admin protocol's decoders
 * (shared/crier-admin-protocol.h), on the server side (requests) and on the
 * client side (server messages and their payloads).
 *
 * Input: the whole input is one message, given to both decoders; when it
 * is JSON, every payload decoder (stats, history, session, channel,
 * alert, hello) also gets the root and each of its members.
 *
 * What must hold: errors are CRIER_ADMIN_ERROR; a decoded request encodes
 * (the encoder re-checks with the decoder, so a request the decoder built
 * must survive it), and decoding that encoding gives the same encoding
 * again; a decoded payload turns back into JSON that decodes again to the
 * same JSON.
 */
#include "config.h"

#include "fuzz-common.h"

#include "crier-admin-protocol.h"
#include "crier-publication.h"

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  fuzz_init ();
  return 0;
}

static void
check_request (const char *text,
               gsize       len)
{
  g_autoptr(CrierAdminRequest) req = NULL;
  g_autoptr(CrierAdminRequest) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *encoded = NULL;
  g_autofree char *reencoded = NULL;
  gint64 id = -2;

  req = crier_admin_request_decode (text, len, &id, &error);
  FUZZ_CHECK (id >= -1);
  if (req == NULL)
    {
      FUZZ_CHECK (error != NULL && error->domain == CRIER_ADMIN_ERROR);
      FUZZ_CHECK ((guint) error->code < CRIER_ADMIN_N_ERRORS);
      FUZZ_CHECK (crier_admin_error_to_string (error->code) != NULL);
      return;
    }

  FUZZ_CHECK (error == NULL);
  FUZZ_CHECK (req->id == id && id >= 0);
  FUZZ_CHECK ((guint) req->type < CRIER_ADMIN_N_REQUEST_TYPES);
  FUZZ_CHECK (crier_admin_request_type_to_string (req->type) != NULL);

  encoded = crier_admin_request_encode (req, &error);
  if (encoded == NULL)
    {
      g_printerr ("decoded request does not encode: %s\n", error->message);
      FUZZ_CHECK (!"a decoded request encodes");
    }
  again = crier_admin_request_decode (encoded, strlen (encoded), NULL, &error);
  FUZZ_CHECK (again != NULL);
  FUZZ_CHECK (again->type == req->type && again->id == req->id);
  reencoded = crier_admin_request_encode (again, &error);
  FUZZ_CHECK (reencoded != NULL);
  if (strcmp (encoded, reencoded) != 0)
    {
      g_printerr ("%s\n%s\n", encoded, reencoded);
      FUZZ_CHECK (!"request encoding is a fixed point");
    }
}

/* Each from_json / to_json pair: decode, encode, decode, encode: the two
 * encodings must be equal JSON. */
#define CHECK_PAYLOAD(Type, prefix)                                          \
  static void                                                               \
  check_##prefix (JsonNode *node)                                           \
  {                                                                         \
    g_autoptr(GError) error = NULL;                                         \
    Type *a = crier_admin_##prefix##_from_json (node, &error);              \
    Type *b;                                                                \
    JsonNode *ja;                                                           \
    JsonNode *jb;                                                           \
                                                                            \
    if (a == NULL)                                                          \
      {                                                                     \
        FUZZ_CHECK (error != NULL && error->domain == CRIER_ADMIN_ERROR);   \
        return;                                                             \
      }                                                                     \
    ja = crier_admin_##prefix##_to_json (a);                                \
    b = crier_admin_##prefix##_from_json (ja, &error);                      \
    if (b == NULL)                                                          \
      {                                                                     \
        g_printerr (#prefix ": %s\n", error->message);                      \
        FUZZ_CHECK (!#prefix ": to_json output decodes");                   \
      }                                                                     \
    jb = crier_admin_##prefix##_to_json (b);                                \
    if (!json_node_equal (ja, jb))                                          \
      {                                                                     \
        g_autofree char *sa = json_to_string (ja, FALSE);                   \
        g_autofree char *sb = json_to_string (jb, FALSE);                   \
                                                                            \
        g_printerr ("%s\n%s\n", sa, sb);                                    \
        FUZZ_CHECK (!#prefix ": round trip is a fixed point");              \
      }                                                                     \
    json_node_unref (ja);                                                   \
    json_node_unref (jb);                                                   \
    free_##prefix (a);                                                      \
    free_##prefix (b);                                                      \
  }

#define free_stats        crier_admin_stats_free
#define free_history      crier_admin_history_free
#define free_session_info crier_admin_session_info_free
#define free_channel_info crier_admin_channel_info_free
#define free_alert        crier_alert_free
#define free_hello        crier_admin_hello_free

CHECK_PAYLOAD (CrierAdminStats, stats)
CHECK_PAYLOAD (CrierAdminHistory, history)
CHECK_PAYLOAD (CrierAdminSessionInfo, session_info)
CHECK_PAYLOAD (CrierAdminChannelInfo, channel_info)
CHECK_PAYLOAD (CrierAlert, alert)
CHECK_PAYLOAD (CrierAdminHello, hello)

static void
check_payloads (JsonNode *node)
{
  check_stats (node);
  check_history (node);
  check_session_info (node);
  check_channel_info (node);
  check_alert (node);
  check_hello (node);
}

static void
check_message (const char *text,
               gsize       len)
{
  g_autoptr(CrierAdminMessage) msg = NULL;
  g_autoptr(GError) error = NULL;

  msg = crier_admin_message_decode (text, len, &error);
  if (msg == NULL)
    {
      FUZZ_CHECK (error != NULL && error->domain == CRIER_ADMIN_ERROR);
      return;
    }

  switch (msg->kind)
    {
    case CRIER_ADMIN_MESSAGE_REPLY:
      FUZZ_CHECK (msg->result != NULL);
      break;
    case CRIER_ADMIN_MESSAGE_ERROR:
      FUZZ_CHECK (msg->error_name != NULL && msg->error_message != NULL);
      FUZZ_CHECK ((guint) msg->error_code < CRIER_ADMIN_N_ERRORS);
      break;
    case CRIER_ADMIN_MESSAGE_EVENT:
      FUZZ_CHECK (msg->event != NULL && msg->body != NULL);
      break;
    default:
      FUZZ_CHECK (!"known message kind");
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *text = fuzz_strndup (data, size);
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GBytes) compact = NULL;
  JsonNode *root;

  check_request (text, size);
  check_message (text, size);

  /* The payload decoders take trees: feed them whatever the input is.
   * Only single JSON values go to json-glib here: it leaks the first of
   * several top-level values ("{}{}"), which is not what is tested. */
  if ((compact = crier_json_compact (text, (gssize) size, NULL)) != NULL &&
      json_parser_load_from_data (parser, g_bytes_get_data (compact, NULL),
                                  (gssize) g_bytes_get_size (compact), NULL) &&
      (root = json_parser_get_root (parser)) != NULL)
    {
      check_payloads (root);
      if (JSON_NODE_HOLDS_OBJECT (root))
        {
          JsonObjectIter iter;
          JsonNode *member;

          json_object_iter_init (&iter, json_node_get_object (root));
          while (json_object_iter_next (&iter, NULL, &member))
            check_payloads (member);
        }
    }

  {
    guint n_series = 0;
    const CrierAdminSeriesInfo *series = crier_admin_stats_get_series (&n_series);

    for (guint i = 0; i < n_series; i++)
      FUZZ_CHECK (crier_admin_stats_lookup_series (series[i].name) == (int) i);
    (void) crier_admin_stats_lookup_series (text);
  }

  return 0;
}
