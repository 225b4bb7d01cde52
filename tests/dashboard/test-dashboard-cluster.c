/* test-dashboard-cluster.c: the Nodes page against real crierd nodes.
 *
 * Runs under xvfb-run; every process is stopped by its PID and every wait
 * is bounded (dashboard-test-utils.h).
 *   /dashboard/cluster/single  one crierd on the memory broker: the page
 *                              lists that node alone, marked as this node,
 *                              with its real connection count (two
 *                              WebSocket clients opened here), a fresh
 *                              heartbeat, "shared" false and the totals
 *   /dashboard/cluster/redis   two crierd nodes on a real redis-server on
 *                              a free loopback port (skipped when
 *                              redis-server is not installed): the
 *                              dashboard on node A lists A (this node) and
 *                              B with B's client, and totals over both
 */
#include "config.h"

#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>

#include "dashboard-test-utils.h"

typedef struct
{
  SoupSession             *session;
  SoupWebsocketConnection *connections[4];
  guint                    n;
  guint                    connected;    /* connect replies seen */
} Clients;

static void
client_message_cb (SoupWebsocketConnection *connection,
                   SoupWebsocketDataType    type,
                   GBytes                  *bytes,
                   Clients                 *clients)
{
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  if (g_strstr_len (data, len, "\"id\":1") != NULL)
    clients->connected++;
}

static void
client_connect_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  Clients *clients = user_data;
  g_autoptr(GError) error = NULL;
  SoupWebsocketConnection *connection;

  connection = soup_session_websocket_connect_finish (SOUP_SESSION (object), result, &error);
  g_assert_no_error (error);
  clients->connections[clients->n++] = connection;
  g_signal_connect (connection, "message", G_CALLBACK (client_message_cb), clients);
  soup_websocket_connection_send_text (connection, "{\"id\":1,\"connect\":{}}");
}

/* @n Centrifugo WebSocket clients on @port, connected. */
static void
clients_open (Clients *clients,
              guint16  port,
              guint    n)
{
  g_autofree char *uri = g_strdup_printf ("ws://127.0.0.1:%u/connection/websocket", port);

  g_assert_cmpuint (n, <=, G_N_ELEMENTS (clients->connections));
  memset (clients, 0, sizeof *clients);
  clients->session = soup_session_new ();
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(SoupMessage) msg = soup_message_new ("GET", uri);

      soup_session_websocket_connect_async (clients->session, msg, NULL, NULL,
                                            G_PRIORITY_DEFAULT, NULL, client_connect_cb, clients);
    }
  DASH_WAIT_UNTIL (clients->connected == n);
}

static void
clients_close (Clients *clients)
{
  for (guint i = 0; i < clients->n; i++)
    {
      if (soup_websocket_connection_get_state (clients->connections[i]) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (clients->connections[i], SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
      g_clear_object (&clients->connections[i]);
    }
  g_clear_object (&clients->session);
}

/* Asks "nodes" until @check holds for its lines (bounded). */
typedef gboolean (*NodesCheck) (GStrv lines, gpointer data);

static GStrv
wait_nodes (DashDashboard *dash,
            NodesCheck     check,
            gpointer       data)
{
  gint64 deadline = g_get_monotonic_time () + DASH_TIMEOUT_SECONDS * G_USEC_PER_SEC;

  for (;;)
    {
      g_auto(GStrv) lines = dash_command (dash, "nodes");

      if (check (lines, data))
        return g_steal_pointer (&lines);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      /* The next list_nodes reply (one per stats tick). */
      g_strfreev (dash_command (dash, "wait-nodes"));
    }
}

static guint64
node_connections (GStrv lines)
{
  g_autofree char *connections = dash_value_of (lines, "node=", "connections");

  return connections != NULL ? g_ascii_strtoull (connections, NULL, 10) : 0;
}

/* The two clients, exactly (the dashboard's own admin connection is no
 * client, as in the stats sample), and the tile's total agrees with the
 * row. */
static gboolean
single_ok (GStrv    lines,
           gpointer data)
{
  g_autofree char *total = dash_value_of (lines, "nodes", "total-connections");
  guint64 connections = node_connections (lines);

  return connections == 2 &&
         g_ascii_strtoull (total, NULL, 10) == connections;
}

static void
test_single (void)
{
  DashCrierd d;
  DashDashboard dash;
  Clients clients;
  g_auto(GStrv) lines = NULL;
  g_autofree char *age = NULL;
  g_autofree char *self_flag = NULL;
  g_autofree char *shared = NULL;
  g_autofree char *total_nodes = NULL;
  guint64 before;

  dash_crierd_start (&d, NULL);
  clients_open (&clients, d.port, 2);
  dash_dashboard_start (&dash, d.dir, d.socket);

  g_strfreev (dash_command (&dash, "wait-connected"));
  g_strfreev (dash_command (&dash, "page nodes"));
  g_strfreev (dash_command (&dash, "wait-nodes 1"));
  lines = wait_nodes (&dash, single_ok, NULL);

  self_flag = dash_value_of (lines, "node=", "self");
  shared = dash_value_of (lines, "nodes", "shared");
  total_nodes = dash_value_of (lines, "nodes", "total-nodes");
  age = dash_value_of (lines, "node=", "age");
  g_assert_cmpstr (self_flag, ==, "1");
  g_assert_cmpstr (shared, ==, "false");
  g_assert_cmpstr (total_nodes, ==, "1");
  g_assert_nonnull (age);
  g_assert_cmpfloat (g_ascii_strtod (age, NULL), >=, 0);
  g_assert_cmpfloat (g_ascii_strtod (age, NULL), <, 5);

  /* One client leaves: the row follows, one less. */
  before = node_connections (lines);
  soup_websocket_connection_close (clients.connections[0], SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  {
    gint64 deadline = g_get_monotonic_time () + DASH_TIMEOUT_SECONDS * G_USEC_PER_SEC;

    for (;;)
      {
        g_auto(GStrv) now = dash_command (&dash, "nodes");

        if (node_connections (now) == before - 1)
          break;
        g_assert_cmpint (g_get_monotonic_time (), <, deadline);
        g_strfreev (dash_command (&dash, "wait-nodes"));
      }
  }

  {
    g_autofree char *path = NULL;
    const char *dir = g_getenv ("CRIER_ARTIFACTS_DIR");

    if (dir != NULL && g_mkdir_with_parents (dir, 0755) == 0)
      {
        path = g_build_filename (dir, "nodes.png", NULL);
        g_strfreev (dash_command (&dash, "screenshot %s", path));
        g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
      }
  }

  dash_dashboard_quit (&dash);
  clients_close (&clients);
  dash_crierd_stop (&d);
}

static gboolean
redis_ok (GStrv    lines,
          gpointer data)
{
  g_autofree char *n = dash_value_of (lines, "nodes", "nodes");
  g_autofree char *total = dash_value_of (lines, "nodes", "total-connections");
  g_autofree char *b_connections = NULL;

  /* Rows: A first (this node), then B. */
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "node=") && strstr (lines[i], " self=0 ") != NULL)
      {
        const char *c = strstr (lines[i], "connections=");

        b_connections = g_strndup (c + strlen ("connections="), strcspn (c + strlen ("connections="), " "));
      }

  /* B: its client; A: none (the dashboard's admin connection is no
   * client); the total: both rows. */
  return g_strcmp0 (n, "2") == 0 && g_strcmp0 (b_connections, "1") == 0 &&
         g_strcmp0 (total, "1") == 0;
}

static void
test_redis (void)
{
  g_autofree char *redis_program = NULL;
  g_autofree char *redis_dir = NULL;
  g_autofree char *redis_set = NULL;
  g_autoptr(GSubprocess) redis = NULL;
  DashCrierd a;
  DashCrierd b;
  DashDashboard dash;
  Clients clients;
  g_auto(GStrv) lines = NULL;
  g_autofree char *shared = NULL;
  g_autofree char *total_nodes = NULL;
  guint16 port;
  guint n_self = 0;
  gboolean a_listed = FALSE;
  gboolean b_listed = FALSE;

  redis_program = g_find_program_in_path ("redis-server");
  if (redis_program == NULL)
    {
      g_test_skip ("redis-server is not installed");
      return;
    }

  redis_dir = g_dir_make_tmp ("crier-redis-XXXXXX", NULL);
  g_assert_nonnull (redis_dir);
  port = dash_free_port ();
  redis = dash_redis_start (port, redis_dir);
  g_assert_nonnull (redis);
  redis_set = g_strdup_printf ("broker.redis=127.0.0.1:%u", port);

  {
    const char * const a_set[] = { redis_set, "server.node_name=node-a", NULL };
    const char * const b_set[] = { redis_set, "server.node_name=node-b", NULL };

    dash_crierd_start (&a, a_set);
    dash_crierd_start (&b, b_set);
  }
  clients_open (&clients, b.port, 1);
  dash_dashboard_start (&dash, a.dir, a.socket);

  g_strfreev (dash_command (&dash, "wait-connected"));
  g_strfreev (dash_command (&dash, "page nodes"));
  lines = wait_nodes (&dash, redis_ok, NULL);

  shared = dash_value_of (lines, "nodes", "shared");
  total_nodes = dash_value_of (lines, "nodes", "total-nodes");
  g_assert_cmpstr (shared, ==, "true");
  g_assert_cmpstr (total_nodes, ==, "2");
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (!g_str_has_prefix (lines[i], "node="))
        continue;
      if (strstr (lines[i], " self=1 ") != NULL)
        {
          n_self++;
          a_listed = g_str_has_suffix (lines[i], "name=node-a");
        }
      else
        b_listed = g_str_has_suffix (lines[i], "name=node-b");
    }
  g_assert_cmpuint (n_self, ==, 1);
  g_assert_true (a_listed);
  g_assert_true (b_listed);

  /* Node B stops: it leaves the registry (5 missed heartbeats, 10 s). */
  clients_close (&clients);
  dash_crierd_stop (&b);
  g_strfreev (dash_command (&dash, "wait-nodes 1"));

  dash_dashboard_quit (&dash);
  dash_crierd_stop (&a);
  dash_process_stop (redis);
  g_rmdir (redis_dir);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/dashboard/cluster/single", test_single);
  g_test_add_func ("/dashboard/cluster/redis", test_redis);

  return g_test_run ();
}
