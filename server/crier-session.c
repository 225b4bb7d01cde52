/* crier-session.c: one connected client, whatever its transport (see the
 * header).  The hub owns the subscriptions; this file only builds the
 * session and its ClientInfo JSON. */
#include "config.h"

#include "crier-session.h"

#include "crier-util.h"

CrierSession *
crier_session_new (const CrierSessionClass *klass,
                   gpointer                 transport,
                   CrierEncoding            encoding)
{
  CrierSession *session;

  g_return_val_if_fail (klass != NULL, NULL);
  g_return_val_if_fail (encoding < CRIER_ENC_N, NULL);

  session = g_new0 (CrierSession, 1);
  session->klass = klass;
  session->transport = transport;
  session->transport_name = klass->transport;
  session->encoding = encoding;
  session->id = crier_random_id (16);
  session->user = g_strdup ("");
  session->client_info = crier_client_info_json (session->user, session->id, NULL, NULL);
  /* Keys are the subscriptions' own channel strings; the hub frees them. */
  session->subscriptions = g_hash_table_new (g_str_hash, g_str_equal);
  session->connected_at = g_get_real_time ();
  return session;
}

void
crier_session_free (CrierSession *session)
{
  if (session == NULL)
    return;

  /* Freeing a session the hub still knows would leave dangling pointers in
   * its channels: remove it (crier_hub_remove_session) first. */
  if (session->registered || g_hash_table_size (session->subscriptions) > 0)
    g_critical ("session %s freed while still registered with the hub", session->id);

  g_hash_table_unref (session->subscriptions);
  g_free (session->id);
  g_free (session->user);
  g_free (session->conn_info);
  g_free (session->client_info);
  g_free (session->remote);
  g_free (session->user_agent);
  g_free (session);
}

/* @json re-serialized compactly (no raw newline can reach a push or a
 * presence reply), NULL when it is NULL or not JSON. */
static char *
compact_or_null (const char *json)
{
  g_autoptr(GBytes) compact = NULL;
  g_autoptr(GError) error = NULL;
  gsize len;
  const char *data;

  if (json == NULL)
    return NULL;

  compact = crier_json_compact (json, -1, &error);
  if (compact == NULL)
    {
      g_debug ("raw JSON value left out: %s", error->message);
      return NULL;
    }
  data = g_bytes_get_data (compact, &len);
  return g_strndup (data, len);
}

void
crier_session_set_identity (CrierSession *session,
                            const char   *user,
                            const char   *conn_info)
{
  g_return_if_fail (session != NULL);

  g_free (session->user);
  session->user = g_strdup (user != NULL ? user : "");
  g_free (session->conn_info);
  session->conn_info = compact_or_null (conn_info);
  g_free (session->client_info);
  session->client_info = crier_client_info_json (session->user, session->id,
                                                 session->conn_info, NULL);
}

static void
append_raw_member (GString    *out,
                   const char *name,
                   const char *json)
{
  g_autofree char *compact = compact_or_null (json);

  if (compact == NULL)
    return;
  g_string_append_printf (out, ",\"%s\":", name);
  g_string_append (out, compact);
}

char *
crier_client_info_json (const char *user,
                        const char *client,
                        const char *conn_info,
                        const char *chan_info)
{
  GString *out = g_string_sized_new (64);

  g_string_append (out, "{\"user\":");
  crier_json_append_string (out, user != NULL ? user : "");
  g_string_append (out, ",\"client\":");
  crier_json_append_string (out, client != NULL ? client : "");
  append_raw_member (out, "conn_info", conn_info);
  append_raw_member (out, "chan_info", chan_info);
  g_string_append_c (out, '}');
  return g_string_free (out, FALSE);
}
