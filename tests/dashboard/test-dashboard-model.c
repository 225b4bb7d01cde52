/* test-dashboard-model.c: the dashboard's model code, without a display.
 *
 *   /dashboard/model/session-list/...  the GListModel contract of
 *                                    CrierSessionList: items-changed
 *                                    positions and counts for inserts
 *                                    (one per batch), removals and resync,
 *                                    item properties that notify
 *   /dashboard/model/graph/normalize series -> 0..1 over a rounded top
 *   /dashboard/model/format          values with units
 *   /dashboard/model/client/...      backoff with jitter, error kinds,
 *                                    certificate errors in words
 *   /dashboard/model/credentials     the token file is 0600
 *   /dashboard/model/node-item       a list_nodes entry: members, heartbeat
 *                                    age, notifications only on change,
 *                                    malformed entries refused
 */
#include "config.h"

#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <math.h>
#include <sys/stat.h>

#include "crier-admin-client.h"
#include "crier-credentials.h"
#include "crier-format.h"
#include "crier-graph.h"
#include "crier-node-item.h"
#include "crier-session-list.h"
#include "crier-session-rows.h"

typedef struct
{
  guint position;
  guint removed;
  guint added;
} Change;

static void
items_changed_cb (GListModel *model,
                  guint       position,
                  guint       removed,
                  guint       added,
                  GArray     *changes)
{
  Change change = { position, removed, added };

  g_array_append_val (changes, change);
}

static CrierAdminSessionInfo *
info_new (const char *id,
          const char *user,
          gint64      bytes_out)
{
  CrierAdminSessionInfo *info = g_new0 (CrierAdminSessionInfo, 1);

  info->id = g_strdup (id);
  info->user = g_strdup (user);
  info->transport = g_strdup ("websocket");
  info->remote = g_strdup ("127.0.0.1:4000");
  info->connected_at = 1795866700123;
  info->bytes_in = 10;
  info->bytes_out = bytes_out;
  info->queued_bytes = 0;
  info->ping_rtt_ms = NAN;
  return info;
}

static void
assert_change (GArray *changes,
               guint   index,
               guint   position,
               guint   removed,
               guint   added)
{
  Change *c;

  g_assert_cmpuint (index, <, changes->len);
  c = &g_array_index (changes, Change, index);
  g_assert_cmpuint (c->position, ==, position);
  g_assert_cmpuint (c->removed, ==, removed);
  g_assert_cmpuint (c->added, ==, added);
}

static void
assert_ids (GListModel         *model,
            const char * const *ids)
{
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, g_strv_length ((char **) ids));
  for (guint i = 0; ids[i] != NULL; i++)
    {
      g_autoptr(CrierSessionItem) item = g_list_model_get_item (model, i);

      g_assert_cmpstr (crier_session_item_get_id (item), ==, ids[i]);
    }
  g_assert_null (g_list_model_get_item (model, g_strv_length ((char **) ids)));
}

static void
test_session_list_inserts (void)
{
  g_autoptr(CrierSessionList) list = crier_session_list_new ();
  g_autoptr(GArray) changes = g_array_new (FALSE, FALSE, sizeof (Change));
  g_autoptr(GPtrArray) page = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_admin_session_info_free);
  g_autoptr(CrierAdminSessionInfo) single = info_new ("d", "dave", 1);
  const char *ids[] = { "a", "b", "c", "d", NULL };

  g_assert_true (g_list_model_get_item_type (G_LIST_MODEL (list)) == CRIER_TYPE_SESSION_ITEM);
  g_signal_connect (list, "items-changed", G_CALLBACK (items_changed_cb), changes);

  g_ptr_array_add (page, info_new ("a", "alice", 1));
  g_ptr_array_add (page, info_new ("b", "bob", 2));
  g_ptr_array_add (page, info_new ("c", "", 3));
  g_assert_cmpuint (crier_session_list_add_batch (list, (CrierAdminSessionInfo * const *) page->pdata, page->len), ==, 3);
  /* One signal for the whole page. */
  g_assert_cmpuint (changes->len, ==, 1);
  assert_change (changes, 0, 0, 0, 3);

  crier_session_list_add (list, single);
  g_assert_cmpuint (changes->len, ==, 2);
  assert_change (changes, 1, 3, 0, 1);
  assert_ids (G_LIST_MODEL (list), ids);

  /* Known ids are updates, not insertions. */
  g_assert_cmpuint (crier_session_list_add_batch (list, (CrierAdminSessionInfo * const *) page->pdata, page->len), ==, 0);
  g_assert_cmpuint (changes->len, ==, 2);
}

static void
notify_count_cb (GObject    *object,
                 GParamSpec *pspec,
                 GPtrArray  *names)
{
  g_ptr_array_add (names, g_strdup (pspec->name));
}

static void
test_session_list_updates (void)
{
  g_autoptr(CrierSessionList) list = crier_session_list_new ();
  g_autoptr(GArray) changes = g_array_new (FALSE, FALSE, sizeof (Change));
  g_autoptr(GPtrArray) notified = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(CrierAdminSessionInfo) first = info_new ("a", "alice", 1);
  g_autoptr(CrierAdminSessionInfo) newer = info_new ("a", "alice", 500);
  g_autoptr(CrierSessionItem) item = NULL;
  gint64 bytes_out = 0;
  g_autofree char *user = NULL;

  crier_session_list_add (list, first);
  item = g_list_model_get_item (G_LIST_MODEL (list), 0);
  g_object_get (item, "user", &user, "bytes-out", &bytes_out, NULL);
  g_assert_cmpstr (user, ==, "alice");
  g_assert_cmpint (bytes_out, ==, 1);

  g_signal_connect (list, "items-changed", G_CALLBACK (items_changed_cb), changes);
  g_signal_connect (item, "notify", G_CALLBACK (notify_count_cb), notified);
  crier_session_list_add (list, newer);

  /* A value change notifies the item; the model stays silent. */
  g_assert_cmpuint (changes->len, ==, 0);
  g_assert_cmpuint (notified->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (notified, 0), ==, "bytes-out");
  g_assert_cmpint (crier_session_item_get_bytes_out (item), ==, 500);

  /* The same values again: nothing. */
  crier_session_list_add (list, newer);
  g_assert_cmpuint (notified->len, ==, 1);
}

/* inspect_session's last activity and ping RTT reach the item; an
 * unknown RTT (NaN in the protocol) is -1 on the item. */
static void
test_session_item_inspect_fields (void)
{
  g_autoptr(CrierSessionList) list = crier_session_list_new ();
  g_autoptr(GPtrArray) notified = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(CrierAdminSessionInfo) first = info_new ("a", "alice", 1);
  g_autoptr(CrierAdminSessionInfo) inspected = info_new ("a", "alice", 1);
  g_autoptr(CrierSessionItem) item = NULL;
  gint64 last_activity_at = -1;
  double rtt = 0;

  crier_session_list_add (list, first);
  item = g_list_model_get_item (G_LIST_MODEL (list), 0);
  g_object_get (item, "last-activity-at", &last_activity_at, "ping-rtt-ms", &rtt, NULL);
  g_assert_cmpint (last_activity_at, ==, 0);
  g_assert_cmpfloat (rtt, ==, -1);

  g_signal_connect (item, "notify", G_CALLBACK (notify_count_cb), notified);
  crier_session_list_add (list, first);
  g_assert_cmpuint (notified->len, ==, 0);

  inspected->last_activity_at = 1795866701456;
  inspected->ping_rtt_ms = 0.25;
  crier_session_list_add (list, inspected);
  g_assert_cmpuint (notified->len, ==, 2);
  g_object_get (item, "last-activity-at", &last_activity_at, "ping-rtt-ms", &rtt, NULL);
  g_assert_cmpint (last_activity_at, ==, 1795866701456);
  g_assert_cmpfloat (rtt, ==, 0.25);

  /* The RTT becomes unknown again (another transport's view): notified. */
  inspected->ping_rtt_ms = NAN;
  crier_session_list_add (list, inspected);
  g_assert_cmpuint (notified->len, ==, 3);
  g_object_get (item, "ping-rtt-ms", &rtt, NULL);
  g_assert_cmpfloat (rtt, ==, -1);
}

static void
test_session_list_removals (void)
{
  g_autoptr(CrierSessionList) list = crier_session_list_new ();
  g_autoptr(GArray) changes = g_array_new (FALSE, FALSE, sizeof (Change));
  g_autoptr(GPtrArray) page = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_admin_session_info_free);
  const char *left[] = { "a", "c", NULL };

  g_ptr_array_add (page, info_new ("a", "alice", 1));
  g_ptr_array_add (page, info_new ("b", "bob", 2));
  g_ptr_array_add (page, info_new ("c", "carol", 3));
  g_ptr_array_add (page, info_new ("d", "dave", 4));
  crier_session_list_add_batch (list, (CrierAdminSessionInfo * const *) page->pdata, page->len);
  g_signal_connect (list, "items-changed", G_CALLBACK (items_changed_cb), changes);

  g_assert_true (crier_session_list_remove (list, "b"));
  assert_change (changes, 0, 1, 1, 0);
  g_assert_true (crier_session_list_remove (list, "d"));
  assert_change (changes, 1, 2, 1, 0);
  g_assert_false (crier_session_list_remove (list, "zzz"));
  g_assert_cmpuint (changes->len, ==, 2);
  assert_ids (G_LIST_MODEL (list), left);
  g_assert_null (crier_session_list_lookup (list, "b"));
  g_assert_nonnull (crier_session_list_lookup (list, "c"));
}

static void
test_session_list_resync (void)
{
  g_autoptr(CrierSessionList) list = crier_session_list_new ();
  g_autoptr(GArray) changes = g_array_new (FALSE, FALSE, sizeof (Change));
  g_autoptr(GPtrArray) before = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_admin_session_info_free);
  g_autoptr(GPtrArray) after = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_admin_session_info_free);
  g_autoptr(CrierSessionItem) kept_before = NULL;
  g_autoptr(CrierSessionItem) kept_after = NULL;
  const char *ids[] = { "c", "e", "f", NULL };
  guint n_items = 0;

  g_ptr_array_add (before, info_new ("a", "alice", 1));
  g_ptr_array_add (before, info_new ("b", "bob", 2));
  g_ptr_array_add (before, info_new ("c", "carol", 3));
  crier_session_list_add_batch (list, (CrierAdminSessionInfo * const *) before->pdata, before->len);
  kept_before = g_object_ref (crier_session_list_lookup (list, "c"));

  g_ptr_array_add (after, info_new ("c", "carol", 30));
  g_ptr_array_add (after, info_new ("e", "erin", 5));
  g_ptr_array_add (after, info_new ("f", "frank", 6));
  g_ptr_array_add (after, info_new ("e", "erin", 5));  /* duplicates are dropped */
  g_signal_connect (list, "items-changed", G_CALLBACK (items_changed_cb), changes);
  crier_session_list_replace (list, (CrierAdminSessionInfo * const *) after->pdata, after->len);

  /* One signal: everything out, the new contents in. */
  g_assert_cmpuint (changes->len, ==, 1);
  assert_change (changes, 0, 0, 3, 3);
  assert_ids (G_LIST_MODEL (list), ids);
  g_object_get (list, "n-items", &n_items, NULL);
  g_assert_cmpuint (n_items, ==, 3);

  /* Sessions that stayed keep their item (and the view its selection). */
  kept_after = g_list_model_get_item (G_LIST_MODEL (list), 0);
  g_assert_true (kept_before == kept_after);
  g_assert_cmpint (crier_session_item_get_bytes_out (kept_after), ==, 30);

  crier_session_list_clear (list);
  assert_change (changes, 1, 0, 3, 0);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (list)), ==, 0);
}

static void
test_session_list_large_batch (void)
{
  g_autoptr(CrierSessionList) list = crier_session_list_new ();
  g_autoptr(GArray) changes = g_array_new (FALSE, FALSE, sizeof (Change));

  g_signal_connect (list, "items-changed", G_CALLBACK (items_changed_cb), changes);
  for (guint page = 0; page < 10; page++)
    {
      g_autoptr(GPtrArray) infos = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_admin_session_info_free);

      for (guint i = 0; i < 1000; i++)
        {
          g_autofree char *id = g_strdup_printf ("s%05u", page * 1000 + i);

          g_ptr_array_add (infos, info_new (id, "u", i));
        }
      crier_session_list_add_batch (list, (CrierAdminSessionInfo * const *) infos->pdata, infos->len);
    }

  /* 10,000 sessions in 10 pages: 10 signals. */
  g_assert_cmpuint (changes->len, ==, 10);
  for (guint page = 0; page < 10; page++)
    assert_change (changes, page, page * 1000, 0, 1000);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (list)), ==, 10000);
  g_assert_true (crier_session_list_remove (list, "s05000"));
  assert_change (changes, 10, 5000, 1, 0);
}

static void
test_graph_normalize (void)
{
  g_autoptr(CrierSeries) series = crier_series_new (900);
  float out[900];
  double top = 0;
  guint n;

  /* Empty: nothing, top 1. */
  g_assert_cmpuint (crier_graph_normalize (series, 900, out, &top), ==, 0);
  g_assert_cmpfloat (top, ==, 1.0);

  crier_series_push (series, 1000, 0);
  crier_series_push (series, 2000, 30);
  crier_series_push (series, 3000, NAN);
  crier_series_push (series, 4000, 73);
  n = crier_graph_normalize (series, 900, out, &top);
  g_assert_cmpuint (n, ==, 4);
  /* 73 rounds up to 100: the axis reads 0..100. */
  g_assert_cmpfloat (top, ==, 100.0);
  g_assert_cmpfloat_with_epsilon (out[0], 0.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (out[1], 0.3, 1e-6);
  g_assert_true (isnan (out[2]));
  g_assert_cmpfloat_with_epsilon (out[3], 0.73, 1e-6);

  /* Only the newest samples when asked for fewer. */
  n = crier_graph_normalize (series, 2, out, &top);
  g_assert_cmpuint (n, ==, 2);
  g_assert_true (isnan (out[0]));
  g_assert_cmpfloat_with_epsilon (out[1], 0.73, 1e-6);

  /* Every value within 0..1. */
  for (guint i = 0; i < 2000; i++)
    crier_series_push (series, 5000 + i * 1000, (i * 7919) % 1234);
  n = crier_graph_normalize (series, 900, out, &top);
  g_assert_cmpuint (n, ==, 900);
  for (guint i = 0; i < n; i++)
    {
      g_assert_cmpfloat (out[i], >=, 0.0f);
      g_assert_cmpfloat (out[i], <=, 1.0f);
    }
  g_assert_cmpfloat (top, ==, 2000.0);
}

static void
test_format (void)
{
  static const struct { double max; double top; } tops[] = {
    { -1, 1 }, { 0, 1 }, { 0.3, 0.5 }, { 1, 1 }, { 1.1, 2 }, { 2, 2 }, { 3, 5 },
    { 7, 10 }, { 100, 100 }, { 101, 200 }, { 4.2e6, 5e6 },
  };
  g_autofree char *nan_text = crier_format_value (NAN, "1/s");
  g_autofree char *count = crier_format_value (3, "1");
  g_autofree char *rate = crier_format_value (1500, "1/s");
  g_autofree char *bytes = crier_format_value (2048, "B");
  g_autofree char *ms = crier_format_value (0.25, "ms");
  g_autofree char *unknown = crier_format_bytes (-1);

  for (guint i = 0; i < G_N_ELEMENTS (tops); i++)
    g_assert_cmpfloat_with_epsilon (crier_format_nice_max (tops[i].max), tops[i].top, tops[i].top * 1e-9);
  g_assert_cmpfloat (crier_format_nice_max (NAN), ==, 1.0);

  g_assert_cmpstr (nan_text, ==, "—");
  g_assert_cmpstr (count, ==, "3");
  g_assert_cmpstr (rate, ==, "1.50 k/s");
  g_assert_cmpstr (bytes, ==, "2.0\302\240KiB");  /* GLib puts a no-break space */
  g_assert_cmpstr (ms, ==, "0.25 ms");
  g_assert_cmpstr (unknown, ==, "—");
}

static void
test_client_backoff (void)
{
  guint previous = 0;

  for (guint attempt = 0; attempt < 12; attempt++)
    {
      guint low = crier_admin_client_backoff_ms (attempt, 0.0);
      guint high = crier_admin_client_backoff_ms (attempt, 0.999);
      guint middle = crier_admin_client_backoff_ms (attempt, 0.5);

      /* +-25 % jitter around a doubling base, capped at 30 s. */
      g_assert_cmpuint (low, <, middle);
      g_assert_cmpuint (middle, <, high);
      g_assert_cmpuint (middle, >=, previous);
      g_assert_cmpuint (high, <=, 37500);
      previous = middle;
    }
  g_assert_cmpuint (crier_admin_client_backoff_ms (0, 0.5), ==, 500);
  g_assert_cmpuint (crier_admin_client_backoff_ms (1, 0.5), ==, 1000);
  g_assert_cmpuint (crier_admin_client_backoff_ms (30, 0.5), ==, 30000);
}

static void
test_client_classify (void)
{
  g_autoptr(GError) refused = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED, "refused");
  g_autoptr(GError) missing = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no socket");
  g_autoptr(GError) denied = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, "denied");
  g_autoptr(GError) version = g_error_new_literal (CRIER_ADMIN_ERROR, CRIER_ADMIN_ERROR_UNSUPPORTED_VERSION, "v2");
  g_autoptr(GError) handshake = g_error_new_literal (SOUP_WEBSOCKET_ERROR, SOUP_WEBSOCKET_ERROR_NOT_WEBSOCKET, "no");

  g_assert_cmpint (crier_admin_client_classify_error (refused, 0), ==, CRIER_ADMIN_CLIENT_REASON_NO_SERVER);
  g_assert_cmpint (crier_admin_client_classify_error (missing, 0), ==, CRIER_ADMIN_CLIENT_REASON_NO_SERVER);
  g_assert_cmpint (crier_admin_client_classify_error (denied, 0), ==, CRIER_ADMIN_CLIENT_REASON_PERMISSION_DENIED);
  g_assert_cmpint (crier_admin_client_classify_error (handshake, 403), ==, CRIER_ADMIN_CLIENT_REASON_PERMISSION_DENIED);
  g_assert_cmpint (crier_admin_client_classify_error (handshake, 401), ==, CRIER_ADMIN_CLIENT_REASON_WRONG_TOKEN);
  g_assert_cmpint (crier_admin_client_classify_error (version, 0), ==, CRIER_ADMIN_CLIENT_REASON_VERSION_MISMATCH);
  g_assert_cmpint (crier_admin_client_classify_error (handshake, 500), ==, CRIER_ADMIN_CLIENT_REASON_OTHER);
}

static void
state_changed_cb (CrierAdminClient *client,
                  GParamSpec       *pspec,
                  gboolean         *errored)
{
  if (crier_admin_client_get_state (client) == CRIER_ADMIN_CLIENT_ERROR)
    *errored = TRUE;
}

static gboolean
timeout_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
test_client_no_server (void)
{
  g_autoptr(CrierAdminClient) client = crier_admin_client_new ();
  g_autofree char *dir = g_dir_make_tmp ("crier-client-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "admin.sock", NULL);
  gboolean errored = FALSE;
  gboolean timed_out = FALSE;
  guint timeout_id;

  g_signal_connect (client, "notify::state", G_CALLBACK (state_changed_cb), &errored);
  crier_admin_client_connect_to (client, path, NULL);
  g_assert_cmpstr (crier_admin_client_get_address (client), ==, path);

  timeout_id = g_timeout_add_seconds (10, timeout_cb, &timed_out);
  while (!errored && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (timed_out);
  g_source_remove (timeout_id);

  g_assert_cmpint (crier_admin_client_get_reason (client), ==, CRIER_ADMIN_CLIENT_REASON_NO_SERVER);
  /* A retry is scheduled with backoff. */
  g_assert_cmpuint (crier_admin_client_get_retry_delay (client), >=, 375);
  crier_admin_client_disconnect (client);
  g_assert_cmpint (crier_admin_client_get_state (client), ==, CRIER_ADMIN_CLIENT_DISCONNECTED);
  g_rmdir (dir);
}

static void
test_client_bad_address (void)
{
  g_autoptr(CrierAdminClient) client = crier_admin_client_new ();

  crier_admin_client_connect_to (client, "not an address", NULL);
  g_assert_cmpint (crier_admin_client_get_state (client), ==, CRIER_ADMIN_CLIENT_ERROR);
  g_assert_cmpint (crier_admin_client_get_reason (client), ==, CRIER_ADMIN_CLIENT_REASON_BAD_ADDRESS);
  g_assert_cmpuint (crier_admin_client_get_retry_delay (client), ==, 0);
}

static void
test_credentials (void)
{
  g_autofree char *dir = g_dir_make_tmp ("crier-config-XXXXXX", NULL);
  g_autofree char *path = NULL;
  g_autofree char *token = NULL;
  g_autofree char *crier_dir = NULL;
  GStatBuf st;

  g_setenv ("XDG_CONFIG_HOME", dir, TRUE);
  path = crier_credentials_get_token_path ();
  g_assert_true (g_str_has_prefix (path, dir));
  g_assert_null (crier_credentials_load_token ());

  g_assert_true (crier_credentials_save_token ("s3cret", NULL));
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  crier_dir = g_path_get_dirname (path);
  g_assert_cmpint (g_stat (crier_dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  token = crier_credentials_load_token ();
  g_assert_cmpstr (token, ==, "s3cret");

  g_assert_true (crier_credentials_save_token ("", NULL));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_rmdir (crier_dir);
  g_rmdir (dir);
}

static void
count_notify (GObject    *object,
              GParamSpec *pspec,
              guint      *count)
{
  (*count)++;
}

static void
count_signal (gpointer  instance,
              guint    *count)
{
  (*count)++;
}

static CrierSessionItem *
row_session (GListModel *rows,
             guint       position)
{
  g_autoptr(CrierSessionRow) row = g_list_model_get_item (rows, position);

  return crier_session_row_get_session (row);
}

/* The view's rows keep their identity through filtering and sorting: only
 * their session changes, and the model only grows or shrinks at its end. */
static void
test_session_rows (void)
{
  g_autoptr(GListStore) store = g_list_store_new (CRIER_TYPE_SESSION_ITEM);
  g_autoptr(GtkFilterListModel) filtered = NULL;
  g_autoptr(CrierSessionRows) rows = NULL;
  g_autoptr(CrierSessionRow) first = NULL;
  g_autoptr(CrierSessionRow) third = NULL;
  g_autoptr(GArray) changes = g_array_new (FALSE, FALSE, sizeof (Change));
  CrierSessionItem *items[6];
  guint first_notifies = 0, remapped = 0;

  for (guint i = 0; i < G_N_ELEMENTS (items); i++)
    {
      g_autofree char *id = g_strdup_printf ("s%u", i);
      g_autoptr(CrierAdminSessionInfo) info = info_new (id, i % 2 == 0 ? "even" : "odd", i);

      items[i] = crier_session_item_new (info);
      g_list_store_append (store, items[i]);
    }
  filtered = gtk_filter_list_model_new (g_object_ref (G_LIST_MODEL (store)), NULL);
  rows = crier_session_rows_new (G_LIST_MODEL (filtered));
  g_signal_connect (rows, "items-changed", G_CALLBACK (items_changed_cb), changes);
  g_signal_connect (rows, "remapped", G_CALLBACK (count_signal), &remapped);

  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (rows)), ==, 6);
  g_assert_true (g_list_model_get_item_type (G_LIST_MODEL (rows)) == CRIER_TYPE_SESSION_ROW);
  first = g_list_model_get_item (G_LIST_MODEL (rows), 0);
  third = g_list_model_get_item (G_LIST_MODEL (rows), 2);
  g_signal_connect (first, "notify::session", G_CALLBACK (count_notify), &first_notifies);
  g_assert_true (row_session (G_LIST_MODEL (rows), 5) == items[5]);

  /* Only the odd ones: 3 rows left, the first three rows show s1 s3 s5. */
  g_array_set_size (changes, 0);
  {
    g_autoptr(GtkFilter) odd = GTK_FILTER (gtk_string_filter_new (gtk_property_expression_new (CRIER_TYPE_SESSION_ITEM, NULL, "user")));

    gtk_string_filter_set_search (GTK_STRING_FILTER (odd), "odd");
    gtk_string_filter_set_match_mode (GTK_STRING_FILTER (odd), GTK_STRING_FILTER_MATCH_MODE_EXACT);
    gtk_filter_list_model_set_filter (filtered, odd);
  }
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (rows)), ==, 3);
  g_assert_cmpuint (changes->len, ==, 1);
  assert_change (changes, 0, 3, 3, 0);
  g_assert_true (row_session (G_LIST_MODEL (rows), 0) == items[1]);
  g_assert_true (row_session (G_LIST_MODEL (rows), 1) == items[3]);
  g_assert_true (row_session (G_LIST_MODEL (rows), 2) == items[5]);
  g_assert_cmpuint (first_notifies, ==, 1);
  g_assert_cmpuint (crier_session_rows_find (rows, items[3]), ==, 1);
  g_assert_cmpuint (crier_session_rows_find (rows, items[2]), ==, G_MAXUINT);
  g_assert_cmpuint (remapped, >=, 1);

  /* Back to all: the same row objects at the top, three added at the end. */
  g_array_set_size (changes, 0);
  gtk_filter_list_model_set_filter (filtered, NULL);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (rows)), ==, 6);
  g_assert_cmpuint (changes->len, ==, 1);
  assert_change (changes, 0, 3, 0, 3);
  {
    g_autoptr(CrierSessionRow) again = g_list_model_get_item (G_LIST_MODEL (rows), 0);

    g_assert_true (again == first);
  }
  g_assert_true (crier_session_row_get_session (first) == items[0]);
  g_assert_true (crier_session_row_get_session (third) == items[2]);
  for (guint i = 0; i < G_N_ELEMENTS (items); i++)
    g_assert_true (row_session (G_LIST_MODEL (rows), i) == items[i]);
  g_assert_cmpuint (first_notifies, ==, 2);

  /* A removal in the middle shifts the rows after it, not before. */
  first_notifies = 0;
  g_array_set_size (changes, 0);
  g_list_store_remove (store, 2);
  g_assert_cmpuint (first_notifies, ==, 0);
  assert_change (changes, 0, 5, 1, 0);
  g_assert_true (row_session (G_LIST_MODEL (rows), 2) == items[3]);
  g_assert_true (row_session (G_LIST_MODEL (rows), 4) == items[5]);

  /* A replacement in place (a re-sort does this) changes no row count. */
  g_array_set_size (changes, 0);
  g_list_store_splice (store, 0, 2, (gpointer *) (CrierSessionItem *[]) { items[1], items[0] }, 2);
  g_assert_cmpuint (changes->len, ==, 0);
  g_assert_true (row_session (G_LIST_MODEL (rows), 0) == items[1]);
  g_assert_true (row_session (G_LIST_MODEL (rows), 1) == items[0]);

  g_clear_object (&rows);
  for (guint i = 0; i < G_N_ELEMENTS (items); i++)
    g_object_unref (items[i]);
}

static void
count_notify_cb (GObject    *object,
                 GParamSpec *pspec,
                 guint      *count)
{
  (*count)++;
}

static JsonNode *
parse (const char *text)
{
  g_autoptr(GError) error = NULL;
  JsonNode *node = json_from_string (text, &error);

  g_assert_no_error (error);
  return node;
}

static void
test_node_item (void)
{
  g_autoptr(JsonNode) a = parse ("{\"id\":\"n1\",\"name\":\"node-a\",\"address\":\"127.0.0.1:8000\","
                                 "\"version\":\"0.1.0\",\"self\":true,\"uptime\":120,"
                                 "\"updated_at\":1000000,\"connections\":12,\"sessions\":10,"
                                 "\"channels\":3,\"publications_per_s\":48.5,\"future\":1}");
  g_autoptr(JsonNode) b = parse ("{\"id\":\"n1\",\"name\":\"node-a\",\"self\":true,"
                                 "\"updated_at\":1000000,\"connections\":13,\"sessions\":10,"
                                 "\"channels\":3,\"publications_per_s\":null}");
  g_autoptr(JsonNode) no_id = parse ("{\"name\":\"x\"}");
  g_autoptr(JsonNode) number_id = parse ("{\"id\":7}");
  g_autoptr(JsonNode) array = parse ("[]");
  g_autoptr(CrierNodeItem) item = NULL;
  g_autoptr(GError) error = NULL;
  guint64 sessions;
  double rate;
  guint notified = 0;

  item = crier_node_item_new_from_json (a, 1004500, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (crier_node_item_get_id (item), ==, "n1");
  g_assert_cmpstr (crier_node_item_get_name (item), ==, "node-a");
  g_assert_true (crier_node_item_get_is_self (item));
  g_assert_cmpuint (crier_node_item_get_connections (item), ==, 12);
  g_assert_cmpfloat_with_epsilon (crier_node_item_get_heartbeat_age (item), 4.5, 1e-9);
  g_object_get (item, "sessions", &sessions, "publications-per-s", &rate, NULL);
  g_assert_cmpuint (sessions, ==, 10);
  g_assert_cmpfloat_with_epsilon (rate, 48.5, 1e-9);

  /* Same figures: nothing notifies. */
  g_signal_connect (item, "notify", G_CALLBACK (count_notify_cb), &notified);
  g_assert_true (crier_node_item_update (item, a, 1004500, NULL));
  g_assert_cmpuint (notified, ==, 0);

  /* connections, the rate (now unknown), address, version, uptime and the
   * age change; a heartbeat stamped ahead of our clock is age 0. */
  g_assert_true (crier_node_item_update (item, b, 999000, NULL));
  g_assert_cmpuint (crier_node_item_get_connections (item), ==, 13);
  g_assert_cmpfloat (crier_node_item_get_heartbeat_age (item), ==, 0);
  g_object_get (item, "publications-per-s", &rate, NULL);
  g_assert_true (isnan (rate));
  g_assert_cmpuint (notified, ==, 6);

  g_assert_null (crier_node_item_new_from_json (no_id, 0, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);
  g_assert_null (crier_node_item_new_from_json (number_id, 0, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);
  g_assert_false (crier_node_item_update (item, array, 0, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

static void
test_client_certificate_errors (void)
{
  g_autofree char *one = crier_admin_client_describe_certificate_errors (G_TLS_CERTIFICATE_UNKNOWN_CA);
  g_autofree char *two = crier_admin_client_describe_certificate_errors (G_TLS_CERTIFICATE_UNKNOWN_CA |
                                                                         G_TLS_CERTIFICATE_EXPIRED);
  g_autofree char *none = crier_admin_client_describe_certificate_errors (0);

  g_assert_cmpstr (one, ==, "issued by an unknown authority");
  g_assert_cmpstr (two, ==, "issued by an unknown authority, expired");
  g_assert_cmpstr (none, ==, "not trusted");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/dashboard/model/session-list/inserts", test_session_list_inserts);
  g_test_add_func ("/dashboard/model/session-list/updates", test_session_list_updates);
  g_test_add_func ("/dashboard/model/session-item/inspect-fields", test_session_item_inspect_fields);
  g_test_add_func ("/dashboard/model/session-list/removals", test_session_list_removals);
  g_test_add_func ("/dashboard/model/session-list/resync", test_session_list_resync);
  g_test_add_func ("/dashboard/model/session-list/large-batch", test_session_list_large_batch);
  g_test_add_func ("/dashboard/model/session-rows", test_session_rows);
  g_test_add_func ("/dashboard/model/graph/normalize", test_graph_normalize);
  g_test_add_func ("/dashboard/model/format", test_format);
  g_test_add_func ("/dashboard/model/client/backoff", test_client_backoff);
  g_test_add_func ("/dashboard/model/client/classify", test_client_classify);
  g_test_add_func ("/dashboard/model/client/no-server", test_client_no_server);
  g_test_add_func ("/dashboard/model/client/bad-address", test_client_bad_address);
  g_test_add_func ("/dashboard/model/credentials", test_credentials);
  g_test_add_func ("/dashboard/model/node-item", test_node_item);
  g_test_add_func ("/dashboard/model/client/certificate-errors", test_client_certificate_errors);

  return g_test_run ();
}
