/* test-broker-redis.c: the Redis broker against real redis-server processes.
 *
 * Every test starts its own redis-server on 127.0.0.1 (a free port below
 * 32768, no persistence, a temporary --dir) and stops it by PID; the child
 * also dies with the test process (PR_SET_PDEATHSIG).  Two brokers in this
 * process play two nodes.  tick() is driven every 50 ms, as the server
 * tick would.  Tests skip when redis-server is not installed.
 */
#include "config.h"

#include "crier-broker.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-utils.h"

#define MASTER_NAME "crier-test"

/* ---- redis-server processes ----------------------------------------------- */

typedef struct
{
  char    *dir;
  guint16  port;
  GPid     pid;
  gboolean sentinel;
} RedisProc;

static gboolean
port_is_free (guint16 port)
{
  struct sockaddr_in addr = { 0 };
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  int one = 1;
  gboolean ok;

  g_assert_cmpint (fd, >=, 0);
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  addr.sin_family = AF_INET;
  addr.sin_port = htons (port);
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  ok = bind (fd, (struct sockaddr *) &addr, sizeof addr) == 0;
  close (fd);
  return ok;
}

/* A free loopback port in [20000, 32768), not one of @avoid. */
static guint16
pick_port (guint16 avoid)
{
  for (guint i = 0; i < 200; i++)
    {
      guint16 port = (guint16) g_random_int_range (20000, 32768);

      if (port != avoid && port_is_free (port))
        return port;
    }
  g_error ("no free port");
  return 0;
}

static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static gboolean
have_redis (void)
{
  g_autofree char *path = g_find_program_in_path ("redis-server");

  return path != NULL;
}

/* A synchronous client for checks (blocking, short timeouts: test only). */
static redisContext *
sync_connect (guint16 port)
{
  struct timeval tv = { 0, 200 * 1000 };
  redisContext *c = redisConnectWithTimeout ("127.0.0.1", port, tv);

  if (c == NULL)
    return NULL;
  if (c->err != 0)
    {
      redisFree (c);
      return NULL;
    }
  redisSetTimeout (c, tv);
  return c;
}

static redisReply *
sync_command (guint16     port,
              const char *format,
              ...)
{
  redisContext *c = sync_connect (port);
  redisReply *reply;
  va_list ap;

  if (c == NULL)
    return NULL;
  va_start (ap, format);
  reply = redisvCommand (c, format, ap);
  va_end (ap);
  redisFree (c);
  return reply;
}

/* Up: any answer, NOAUTH included. */
static gboolean
redis_answers (guint16 port)
{
  redisReply *reply = sync_command (port, "PING");
  gboolean ok = reply != NULL;

  if (reply != NULL)
    freeReplyObject (reply);
  return ok;
}

/* The "field:value" line of INFO @section, or NULL. */
static char *
redis_info_field (guint16     port,
                  const char *section,
                  const char *field)
{
  redisReply *reply = sync_command (port, "INFO %s", section);
  char *value = NULL;

  if (reply != NULL && reply->type == REDIS_REPLY_STRING)
    {
      g_auto(GStrv) lines = g_strsplit (reply->str, "\r\n", -1);
      g_autofree char *prefix = g_strconcat (field, ":", NULL);

      for (guint i = 0; lines[i] != NULL && value == NULL; i++)
        if (g_str_has_prefix (lines[i], prefix))
          value = g_strdup (lines[i] + strlen (prefix));
    }
  if (reply != NULL)
    freeReplyObject (reply);
  return value;
}

static gboolean
proc_exited (RedisProc *proc)
{
  int status;

  return waitpid (proc->pid, &status, WNOHANG) == proc->pid;
}

static void
redis_spawn (RedisProc          *proc,
             const char * const *extra)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;

  if (proc->sentinel)
    {
      g_autofree char *conf_path = g_build_filename (proc->dir, "sentinel.conf", NULL);

      g_ptr_array_add (argv, g_strdup ("redis-server"));
      g_ptr_array_add (argv, g_steal_pointer (&conf_path));
      g_ptr_array_add (argv, g_strdup ("--sentinel"));
    }
  else
    {
      g_ptr_array_add (argv, g_strdup ("redis-server"));
      g_ptr_array_add (argv, g_strdup ("--port"));
      g_ptr_array_add (argv, g_strdup_printf ("%u", proc->port));
      g_ptr_array_add (argv, g_strdup ("--bind"));
      g_ptr_array_add (argv, g_strdup ("127.0.0.1"));
      g_ptr_array_add (argv, g_strdup ("--save"));
      g_ptr_array_add (argv, g_strdup (""));
      g_ptr_array_add (argv, g_strdup ("--appendonly"));
      g_ptr_array_add (argv, g_strdup ("no"));
      g_ptr_array_add (argv, g_strdup ("--daemonize"));
      g_ptr_array_add (argv, g_strdup ("no"));
      g_ptr_array_add (argv, g_strdup ("--dir"));
      g_ptr_array_add (argv, g_strdup (proc->dir));
      g_ptr_array_add (argv, g_strdup ("--logfile"));
      g_ptr_array_add (argv, g_build_filename (proc->dir, "redis.log", NULL));
      for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
        g_ptr_array_add (argv, g_strdup (extra[i]));
    }
  g_ptr_array_add (argv, NULL);

  g_spawn_async (proc->dir, (char **) argv->pdata, NULL,
                 G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                 G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                 die_with_parent, NULL, &proc->pid, &error);
  g_assert_no_error (error);
  WAIT_UNTIL (redis_answers (proc->port) || proc_exited (proc));
  if (!redis_answers (proc->port))
    g_error ("redis-server exited at start; see %s", proc->dir);
}

static RedisProc *
redis_start (const char * const *extra)
{
  RedisProc *proc = g_new0 (RedisProc, 1);
  g_autoptr(GError) error = NULL;

  proc->dir = g_dir_make_tmp ("crier-redis-XXXXXX", &error);
  g_assert_no_error (error);
  proc->port = pick_port (0);
  redis_spawn (proc, extra);
  return proc;
}

static void
redis_signal (RedisProc *proc,
              int        sig)
{
  g_assert_cmpint (proc->pid, >, 0);
  g_assert_cmpint (kill (proc->pid, sig), ==, 0);
  if (sig == SIGKILL || sig == SIGTERM)
    {
      int status;

      g_assert_cmpint (waitpid (proc->pid, &status, 0), ==, proc->pid);
      proc->pid = 0;
    }
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static void
redis_stop (RedisProc *proc)
{
  if (proc == NULL)
    return;
  if (proc->pid > 0)
    {
      /* A stopped process cannot act on SIGTERM. */
      kill (proc->pid, SIGCONT);
      redis_signal (proc, SIGKILL);
    }
  remove_tree (proc->dir);
  g_free (proc->dir);
  g_free (proc);
}

/* ---- nodes ---------------------------------------------------------------- */

typedef struct
{
  const char  *name;
  CrierBroker *broker;
  GPtrArray   *pubs;    /* CrierPublication* delivered */
  GPtrArray   *gaps;    /* char* channels */
} Node;

static void
node_deliver (CrierPublication *pub,
              gpointer          data)
{
  Node *node = data;

  g_ptr_array_add (node->pubs, crier_publication_ref (pub));
}

static void
node_gap (CrierBroker *broker,
          const char  *channel,
          gpointer     data)
{
  Node *node = data;

  g_assert_true (broker == node->broker);
  g_ptr_array_add (node->gaps, g_strdup (channel));
}

static void
fill_options (CrierRedisOptions *options,
              const char        *address)
{
  memset (options, 0, sizeof *options);
  options->address = address;
  options->prefix = "crier-test";
  options->connect_timeout_ms = 500;
  options->command_timeout_ms = 1000;
  options->reconnect_min_ms = 50;
  options->reconnect_max_ms = 300;
  options->presence_ttl_ms = 1500;
  options->probe_interval_ms = 200;
  options->probe_timeout_ms = 500;
}

static Node *
node_new_with_options (const char              *name,
                       const CrierRedisOptions *options)
{
  Node *node = g_new0 (Node, 1);
  g_autoptr(GError) error = NULL;

  node->name = name;
  node->pubs = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_publication_unref);
  node->gaps = g_ptr_array_new_with_free_func (g_free);
  node->broker = crier_broker_redis_new (options, node_deliver, node, &error);
  g_assert_no_error (error);
  g_assert_nonnull (node->broker);
  node->broker->gap = node_gap;
  node->broker->gap_data = node;
  return node;
}

static Node *
node_new (const char *name,
          RedisProc  *redis)
{
  g_autofree char *address = g_strdup_printf ("127.0.0.1:%u", redis->port);
  CrierRedisOptions options;

  fill_options (&options, address);
  return node_new_with_options (name, &options);
}

static void
node_free (Node *node)
{
  if (node == NULL)
    return;
  crier_broker_free (node->broker);
  g_ptr_array_unref (node->pubs);
  g_ptr_array_unref (node->gaps);
  g_free (node);
}

static gboolean
healthy (Node *node)
{
  return node->broker->vtable->is_healthy (node->broker);
}

static guint
count_gaps (Node       *node,
            const char *channel)
{
  guint n = 0;

  for (guint i = 0; i < node->gaps->len; i++)
    if (g_str_equal (g_ptr_array_index (node->gaps, i), channel))
      n++;
  return n;
}

/* The server's tick, every 50 ms, for every live broker. */
static GPtrArray *ticked;

static gboolean
tick_all (gpointer data)
{
  for (guint i = 0; i < ticked->len; i++)
    {
      CrierBroker *broker = g_ptr_array_index (ticked, i);

      broker->vtable->tick (broker, g_get_real_time () / 1000);
    }
  return G_SOURCE_CONTINUE;
}

static void
tick_add (Node *node)
{
  g_ptr_array_add (ticked, node->broker);
}

static void
tick_remove (Node *node)
{
  g_ptr_array_remove (ticked, node->broker);
}

/* ---- synchronous wrappers ------------------------------------------------- */

typedef struct
{
  gboolean  done;
  GError   *error;
  guint64   offset;
  char     *epoch;
  GArray   *offsets;   /* guint64 */
  GPtrArray *pubs;
  guint     clients;
  guint     users;
  GPtrArray *entries;  /* CrierPresenceEntry* */
} Wait;

static void
wait_clear (Wait *w)
{
  g_clear_error (&w->error);
  g_clear_pointer (&w->epoch, g_free);
  g_clear_pointer (&w->offsets, g_array_unref);
  g_clear_pointer (&w->pubs, g_ptr_array_unref);
  g_clear_pointer (&w->entries, g_ptr_array_unref);
  memset (w, 0, sizeof *w);
}

static void
publish_cb (CrierPublication *pub,
            const GError     *error,
            gpointer          data)
{
  Wait *w = data;

  g_assert_false (w->done);
  w->done = TRUE;
  if (error != NULL)
    {
      g_assert_null (pub);
      w->error = g_error_copy (error);
      return;
    }
  w->offset = pub->offset;
  w->epoch = g_strdup (pub->epoch);
}

static const CrierHistoryOptions history_10 = {
  .size = 10, .ttl_ms = 60000, .max_bytes = 1024 * 1024, .meta_ttl_ms = 3600 * 1000,
};

static void
publish_async (Node                      *node,
               const char                *channel,
               const char                *json,
               const CrierHistoryOptions *options,
               Wait                      *w)
{
  g_autoptr(GBytes) data = g_bytes_new (json, strlen (json));
  g_autoptr(CrierPublication) pub = crier_publication_new (channel, data, "{\"user\":\"u1\"}");

  node->broker->vtable->publish (node->broker, pub, options, publish_cb, w);
}

/* Publishes and waits for the callback; returns the offset. */
static guint64
publish (Node                      *node,
         const char                *channel,
         const char                *json,
         const CrierHistoryOptions *options,
         char                     **epoch)
{
  Wait w = { 0 };
  guint64 offset;

  publish_async (node, channel, json, options, &w);
  WAIT_UNTIL (w.done);
  g_assert_no_error (w.error);
  offset = w.offset;
  if (epoch != NULL)
    *epoch = g_steal_pointer (&w.epoch);
  wait_clear (&w);
  return offset;
}

static void
history_cb (const CrierHistoryResult *result,
            const GError             *error,
            gpointer                  data)
{
  Wait *w = data;

  g_assert_false (w->done);
  w->done = TRUE;
  if (error != NULL)
    {
      w->error = g_error_copy (error);
      return;
    }
  w->offset = result->offset;
  w->epoch = g_strdup (result->epoch);
  w->offsets = g_array_new (FALSE, FALSE, sizeof (guint64));
  w->pubs = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_publication_unref);
  for (guint i = 0; i < result->publications->len; i++)
    {
      CrierPublication *pub = g_ptr_array_index (result->publications, i);

      g_array_append_val (w->offsets, pub->offset);
      g_ptr_array_add (w->pubs, crier_publication_ref (pub));
    }
}

static void
history (CrierBroker             *broker,
         const char              *channel,
         const CrierHistoryQuery *query,
         Wait                    *w)
{
  broker->vtable->history (broker, channel, &history_10, query, history_cb, w);
  WAIT_UNTIL (w->done);
  g_assert_no_error (w->error);
}

/* Subscribes and waits until it is in effect: the broker holds history
 * reads of a channel until Redis confirmed its SUBSCRIBE. */
static void
subscribe (Node       *node,
           const char *channel)
{
  Wait w = { 0 };

  node->broker->vtable->subscribe (node->broker, channel);
  history (node->broker, channel, &(CrierHistoryQuery) { .limit = 0 }, &w);
  wait_clear (&w);
}

static char *
offsets_string (GArray *offsets)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < offsets->len; i++)
    g_string_append_printf (s, "%s%" G_GUINT64_FORMAT, i > 0 ? "," : "",
                            g_array_index (offsets, guint64, i));
  return g_string_free (s, FALSE);
}

static void
presence_cb (GPtrArray    *entries,
             const GError *error,
             gpointer      data)
{
  Wait *w = data;

  w->done = TRUE;
  if (error != NULL)
    {
      w->error = g_error_copy (error);
      return;
    }
  w->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_presence_entry_free);
  for (guint i = 0; i < entries->len; i++)
    g_ptr_array_add (w->entries, crier_presence_entry_copy (g_ptr_array_index (entries, i)));
}

static void
stats_cb (guint         clients,
          guint         users,
          const GError *error,
          gpointer      data)
{
  Wait *w = data;

  w->done = TRUE;
  if (error != NULL)
    w->error = g_error_copy (error);
  w->clients = clients;
  w->users = users;
}

static void
presence_stats (Node       *node,
                const char *channel,
                guint      *clients,
                guint      *users)
{
  Wait w = { 0 };

  node->broker->vtable->presence_stats (node->broker, channel, stats_cb, &w);
  WAIT_UNTIL (w.done);
  g_assert_no_error (w.error);
  *clients = w.clients;
  *users = w.users;
  wait_clear (&w);
}

static guint
presence_clients (Node       *node,
                  const char *channel)
{
  guint clients;
  guint users;

  presence_stats (node, channel, &clients, &users);
  return clients;
}

static void
add_presence (Node       *node,
              const char *channel,
              const char *client,
              const char *user,
              const char *conn_info,
              const char *chan_info)
{
  CrierPresenceEntry entry = {
    .client = (char *) client,
    .user = (char *) user,
    .conn_info = (char *) conn_info,
    .chan_info = (char *) chan_info,
  };

  node->broker->vtable->presence_add (node->broker, channel, &entry);
}

/* ---- fixture -------------------------------------------------------------- */

typedef struct
{
  RedisProc *redis;
  Node      *a;
  Node      *b;
  guint      tick_id;
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  if (!have_redis ())
    return;

  ticked = g_ptr_array_new ();
  f->tick_id = g_timeout_add (50, tick_all, NULL);
  f->redis = redis_start (NULL);
  f->a = node_new ("a", f->redis);
  f->b = node_new ("b", f->redis);
  tick_add (f->a);
  tick_add (f->b);
  WAIT_UNTIL (healthy (f->a) && healthy (f->b));
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  if (f->redis == NULL)
    return;

  g_ptr_array_set_size (ticked, 0);
  node_free (f->a);
  node_free (f->b);
  redis_stop (f->redis);
  g_source_remove (f->tick_id);
  g_clear_pointer (&ticked, g_ptr_array_unref);
  /* Let the brokers' retired sources go. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static gboolean
skip_without_redis (Fixture *f)
{
  if (f->redis != NULL)
    return FALSE;
  g_test_skip ("redis-server is not installed");
  return TRUE;
}

/* ---- tests ---------------------------------------------------------------- */

static void
test_options (void)
{
  CrierRedisOptions options;
  const char * const sentinels[] = { "127.0.0.1:26379", NULL };
  struct
  {
    const char *address;
    gboolean    tls;
    gboolean    sentinels;
    const char *master;
    const char *message;
  } cases[] = {
    { "127.0.0.1:6379", TRUE, FALSE, NULL, "TLS to Redis is not supported" },
    { "rediss://example:6380", FALSE, FALSE, NULL, "TLS to Redis is not supported" },
    { "redis://example:6379", FALSE, FALSE, NULL, "not as a URL" },
    { "example", FALSE, FALSE, NULL, "has no port" },
    { "127.0.0.1:0", FALSE, FALSE, NULL, "cannot be 0" },
    { "unix:relative", FALSE, FALSE, NULL, "must be absolute" },
    { NULL, FALSE, FALSE, NULL, "no Redis address and no sentinels" },
    { "127.0.0.1:6379", FALSE, TRUE, "m", "not both" },
    { NULL, FALSE, TRUE, NULL, "need the name of the master" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      CrierBroker *broker;

      fill_options (&options, cases[i].address);
      options.tls = cases[i].tls;
      options.sentinels = cases[i].sentinels ? sentinels : NULL;
      options.master_name = cases[i].master;
      broker = crier_broker_redis_new (&options, NULL, NULL, &error);
      g_assert_null (broker);
      g_assert_error (error, CRIER_BROKER_ERROR, CRIER_BROKER_ERROR_FAILED);
      if (strstr (error->message, cases[i].message) == NULL)
        g_error ("case %u: '%s' does not say '%s'", i, error->message, cases[i].message);
    }
}

/* Nothing listens: calls fail fast, the broker is unhealthy, freeing it
 * with connection attempts under way is clean. */
static void
test_unreachable (void)
{
  g_autofree char *address = g_strdup_printf ("127.0.0.1:%u", pick_port (0));
  CrierRedisOptions options;
  g_autoptr(CrierBroker) broker = NULL;
  Wait w = { 0 };
  g_autoptr(GError) error = NULL;
  gint64 deadline;

  fill_options (&options, address);
  broker = crier_broker_redis_new (&options, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (broker->vtable->is_healthy (broker));

  /* A few failed attempts and retries. */
  deadline = g_get_monotonic_time () + 300 * 1000;
  WAIT_UNTIL (g_get_monotonic_time () > deadline);
  g_assert_false (broker->vtable->is_healthy (broker));

  {
    g_autoptr(GBytes) data = g_bytes_new_static ("1", 1);
    g_autoptr(CrierPublication) pub = crier_publication_new ("x", data, NULL);

    broker->vtable->publish (broker, pub, &history_10, publish_cb, &w);
    /* Answered before publish returns. */
    g_assert_true (w.done);
    g_assert_error (w.error, CRIER_BROKER_ERROR, CRIER_BROKER_ERROR_UNAVAILABLE);
    wait_clear (&w);
  }
  broker->vtable->history (broker, "x", &history_10, &(CrierHistoryQuery) { .limit = -1 },
                           history_cb, &w);
  g_assert_true (w.done);
  g_assert_error (w.error, CRIER_BROKER_ERROR, CRIER_BROKER_ERROR_UNAVAILABLE);
  wait_clear (&w);
  g_assert_cmpint (crier_broker_redis_get_rtt_us (broker), ==, -1);
  g_clear_pointer (&broker, crier_broker_free);

  /* Freed while the host name is being resolved. */
  g_free (address);
  address = g_strdup_printf ("localhost:%u", pick_port (0));
  fill_options (&options, address);
  broker = crier_broker_redis_new (&options, NULL, NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&broker, crier_broker_free);
  deadline = g_get_monotonic_time () + 100 * 1000;
  WAIT_UNTIL (g_get_monotonic_time () > deadline);
}

static void
test_publish (Fixture       *f,
              gconstpointer  data)
{
  g_autofree char *epoch = NULL;
  g_autoptr(CrierPublication) join = NULL;

  if (skip_without_redis (f))
    return;

  subscribe (f->a, "chat:room");
  subscribe (f->b, "chat:room");
  subscribe (f->b, "plain");

  for (guint64 i = 1; i <= 3; i++)
    {
      g_autofree char *json = g_strdup_printf ("{\"n\":%" G_GUINT64_FORMAT "}", i);
      g_autofree char *e = NULL;

      g_assert_cmpuint (publish (f->a, "chat:room", json, &history_10, &e), ==, i);
      g_assert_cmpuint (strlen (e), ==, 8);
      if (epoch == NULL)
        epoch = g_strdup (e);
      g_assert_cmpstr (e, ==, epoch);
    }

  WAIT_UNTIL (f->a->pubs->len == 3 && f->b->pubs->len == 3);
  for (guint i = 0; i < 3; i++)
    {
      CrierPublication *pa = g_ptr_array_index (f->a->pubs, i);
      CrierPublication *pb = g_ptr_array_index (f->b->pubs, i);
      g_autofree char *json = g_strdup_printf ("{\"n\":%u}", i + 1);

      for (guint k = 0; k < 2; k++)
        {
          CrierPublication *p = k == 0 ? pa : pb;

          g_assert_cmpint (p->kind, ==, CRIER_PUSH_PUBLICATION);
          g_assert_cmpstr (p->channel, ==, "chat:room");
          g_assert_cmpuint (p->offset, ==, i + 1);
          g_assert_cmpstr (p->epoch, ==, epoch);
          g_assert_cmpstr (p->info, ==, "{\"user\":\"u1\"}");
          g_assert_cmpmem (g_bytes_get_data (p->data, NULL), g_bytes_get_size (p->data),
                           json, strlen (json));
        }
    }

  /* No history: offset 0, no epoch, still delivered; only to B. */
  g_assert_cmpuint (publish (f->a, "plain", "\"x\"", NULL, NULL), ==, 0);
  WAIT_UNTIL (f->b->pubs->len == 4);
  g_assert_cmpuint (((CrierPublication *) g_ptr_array_index (f->b->pubs, 3))->offset, ==, 0);
  g_assert_null (((CrierPublication *) g_ptr_array_index (f->b->pubs, 3))->epoch);

  /* Join event from B, seen on A. */
  join = crier_publication_new_event (CRIER_PUSH_JOIN, "chat:room", "{\"client\":\"c9\"}");
  f->b->broker->vtable->publish_event (f->b->broker, join);
  WAIT_UNTIL (f->a->pubs->len == 4);
  {
    CrierPublication *p = g_ptr_array_index (f->a->pubs, 3);

    g_assert_cmpint (p->kind, ==, CRIER_PUSH_JOIN);
    g_assert_cmpstr (p->info, ==, "{\"client\":\"c9\"}");
    g_assert_null (p->data);
  }

  /* Unsubscribed: A no longer gets chat:room (B still does); refcounted. */
  subscribe (f->a, "chat:room");
  f->a->broker->vtable->unsubscribe (f->a->broker, "chat:room");
  f->a->broker->vtable->unsubscribe (f->a->broker, "chat:room");
  g_assert_cmpuint (publish (f->b, "chat:room", "4", &history_10, NULL), ==, 4);
  WAIT_UNTIL (f->b->pubs->len == 6);
  g_assert_cmpuint (publish (f->a, "plain", "5", NULL, NULL), ==, 0);
  WAIT_UNTIL (f->b->pubs->len == 7);
  g_assert_cmpuint (f->a->pubs->len, ==, 4);

  g_assert_cmpuint (f->a->gaps->len, ==, 0);
  g_assert_cmpuint (f->b->gaps->len, ==, 0);

  /* Scripts flushed (a restarted or promoted server): NOSCRIPT, reload,
   * run again. */
  {
    redisReply *reply = sync_command (f->redis->port, "SCRIPT FLUSH");

    g_assert_nonnull (reply);
    freeReplyObject (reply);
  }
  g_assert_cmpuint (publish (f->b, "chat:room", "6", &history_10, NULL), ==, 5);
}

/* The same publications and queries on the memory broker and on Redis
 * give the same offsets. */
static void
test_history (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(CrierBroker) memory = NULL;
  const CrierHistoryOptions small = { .size = 5, .ttl_ms = 60000, .max_bytes = 1 << 20,
                                      .meta_ttl_ms = 3600 * 1000 };
  struct
  {
    gboolean has_since;
    guint64  since;
    gint64   limit;
    gboolean reverse;
    const char *expected;
  } queries[] = {
    { FALSE, 0, 0, FALSE, "" },
    { FALSE, 0, -1, FALSE, "3,4,5,6,7" },
    { FALSE, 0, 2, FALSE, "3,4" },
    { FALSE, 0, 2, TRUE, "7,6" },
    { FALSE, 0, -1, TRUE, "7,6,5,4,3" },
    { TRUE, 4, -1, FALSE, "5,6,7" },
    { TRUE, 4, 1, FALSE, "5" },
    { TRUE, 1, -1, FALSE, "3,4,5,6,7" },
    { TRUE, 7, -1, FALSE, "" },
    { TRUE, 9, -1, FALSE, "" },
    { TRUE, 6, -1, TRUE, "5,4,3" },
    { TRUE, 6, 2, TRUE, "5,4" },
    { TRUE, 3, -1, TRUE, "" },
    { TRUE, 1, -1, TRUE, "" },
    { TRUE, 9, -1, TRUE, "7,6,5,4,3" },
  };
  g_autofree char *epoch = NULL;
  Wait w = { 0 };

  if (skip_without_redis (f))
    return;

  memory = crier_broker_memory_new (NULL, NULL);
  for (guint i = 1; i <= 7; i++)
    {
      g_autofree char *json = g_strdup_printf ("%u", i);
      g_autoptr(GBytes) bytes = g_bytes_new (json, strlen (json));
      g_autoptr(CrierPublication) pub = crier_publication_new ("h", bytes, NULL);

      memory->vtable->publish (memory, pub, &small, NULL, NULL);
      g_clear_pointer (&epoch, g_free);
      g_assert_cmpuint (publish (f->a, "h", json, &small, &epoch), ==, i);
    }

  for (guint i = 0; i < G_N_ELEMENTS (queries); i++)
    {
      CrierHistoryQuery q = {
        .has_since = queries[i].has_since,
        .since_offset = queries[i].since,
        .limit = queries[i].limit,
        .reverse = queries[i].reverse,
      };
      g_autofree char *from_redis = NULL;
      g_autofree char *from_memory = NULL;

      history (f->b->broker, "h", &q, &w);
      g_assert_cmpuint (w.offset, ==, 7);
      g_assert_cmpstr (w.epoch, ==, epoch);
      from_redis = offsets_string (w.offsets);
      for (guint k = 0; k < w.pubs->len; k++)
        {
          CrierPublication *p = g_ptr_array_index (w.pubs, k);
          g_autofree char *json = g_strdup_printf ("%" G_GUINT64_FORMAT, p->offset);

          g_assert_cmpstr (p->epoch, ==, epoch);
          g_assert_cmpstr (p->channel, ==, "h");
          g_assert_cmpstr (p->info, ==, "{\"user\":\"u1\"}");
          g_assert_cmpmem (g_bytes_get_data (p->data, NULL), g_bytes_get_size (p->data),
                           json, strlen (json));
        }
      wait_clear (&w);

      history (memory, "h", &q, &w);
      from_memory = offsets_string (w.offsets);
      wait_clear (&w);

      if (g_strcmp0 (from_redis, queries[i].expected) != 0 ||
          g_strcmp0 (from_memory, queries[i].expected) != 0)
        g_error ("query %u: redis [%s], memory [%s], expected [%s]",
                 i, from_redis, from_memory, queries[i].expected);
    }

  /* A channel never published to. */
  history (f->b->broker, "nothing", &(CrierHistoryQuery) { .limit = -1 }, &w);
  g_assert_cmpuint (w.offset, ==, 0);
  g_assert_cmpstr (w.epoch, ==, "");
  g_assert_cmpuint (w.offsets->len, ==, 0);
  wait_clear (&w);

  /* Remove history: the position and epoch stay. */
  f->a->broker->vtable->remove_history (f->a->broker, "h");
  history (f->b->broker, "h", &(CrierHistoryQuery) { .limit = -1 }, &w);
  g_assert_cmpuint (w.offset, ==, 7);
  g_assert_cmpstr (w.epoch, ==, epoch);
  g_assert_cmpuint (w.offsets->len, ==, 0);
  wait_clear (&w);
  g_assert_cmpuint (publish (f->a, "h", "8", &small, NULL), ==, 8);

  /* Byte limit: sizes as the memory broker counts them (pub->size). */
  {
    g_autoptr(GBytes) bytes = g_bytes_new_static ("1", 1);
    g_autoptr(CrierPublication) probe = crier_publication_new ("b", bytes, "{\"user\":\"u1\"}");
    CrierHistoryOptions two = { .size = 100, .ttl_ms = 60000,
                                .max_bytes = (gint64) probe->size * 2, .meta_ttl_ms = 0 };

    for (guint i = 1; i <= 4; i++)
      g_assert_cmpuint (publish (f->a, "b", "1", &two, NULL), ==, i);
    history (f->b->broker, "b", &(CrierHistoryQuery) { .limit = -1 }, &w);
    {
      g_autofree char *s = offsets_string (w.offsets);

      g_assert_cmpstr (s, ==, "3,4");
    }
    wait_clear (&w);
  }

  /* History TTL: entries expire, the position stays. */
  {
    CrierHistoryOptions brief = { .size = 10, .ttl_ms = 300, .max_bytes = 0,
                                  .meta_ttl_ms = 60000 };

    publish (f->a, "t", "1", &brief, NULL);
    publish (f->a, "t", "2", &brief, NULL);
    history (f->b->broker, "t", &(CrierHistoryQuery) { .limit = -1 }, &w);
    g_assert_cmpuint (w.offsets->len, ==, 2);
    wait_clear (&w);
    for (guint tries = 0; tries < 100; tries++)
      {
        gboolean empty;
        gint64 until = g_get_monotonic_time () + 50 * 1000;

        history (f->b->broker, "t", &(CrierHistoryQuery) { .limit = -1 }, &w);
        empty = w.offsets->len == 0;
        g_assert_cmpuint (w.offset, ==, 2);
        wait_clear (&w);
        if (empty)
          break;
        WAIT_UNTIL (g_get_monotonic_time () > until);
        g_assert_cmpuint (tries, <, 99);
      }
    /* Meta expiry (here: lost meta) starts a new epoch and drops old
     * entries. */
    {
      redisReply *reply = sync_command (f->redis->port, "DEL crier-test.meta.h");

      freeReplyObject (reply);
    }
    {
      g_autofree char *e2 = NULL;

      g_assert_cmpuint (publish (f->a, "h", "1", &small, &e2), ==, 1);
      g_assert_cmpstr (e2, !=, epoch);
      history (f->b->broker, "h", &(CrierHistoryQuery) { .limit = -1 }, &w);
      g_assert_cmpuint (w.offsets->len, ==, 1);
      g_assert_cmpstr (w.epoch, ==, e2);
      wait_clear (&w);
    }
  }
}

static gboolean
has_entry (Wait       *w,
           const char *client,
           const char *user,
           const char *conn_info,
           const char *chan_info)
{
  for (guint i = 0; i < w->entries->len; i++)
    {
      CrierPresenceEntry *e = g_ptr_array_index (w->entries, i);

      if (g_str_equal (e->client, client))
        return g_strcmp0 (e->user, user) == 0 && g_strcmp0 (e->conn_info, conn_info) == 0 &&
               g_strcmp0 (e->chan_info, chan_info) == 0;
    }
  return FALSE;
}

static void
test_presence (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *address = NULL;
  CrierRedisOptions options;
  Node *dead;
  Wait w = { 0 };
  guint clients;
  guint users;
  gint64 freed_at;
  gint64 gone_after;

  if (skip_without_redis (f))
    return;

  add_presence (f->a, "room", "c1", "u1", "{\"name\":\"Ann\"}", NULL);
  add_presence (f->a, "room", "c2", "u1", NULL, "{\"role\":\"x\",\"n\":1.50}");
  add_presence (f->b, "room", "c3", "u2", NULL, NULL);

  f->b->broker->vtable->presence (f->b->broker, "room", presence_cb, &w);
  WAIT_UNTIL (w.done);
  g_assert_no_error (w.error);
  g_assert_cmpuint (w.entries->len, ==, 3);
  g_assert_true (has_entry (&w, "c1", "u1", "{\"name\":\"Ann\"}", NULL));
  g_assert_true (has_entry (&w, "c2", "u1", NULL, "{\"role\":\"x\",\"n\":1.50}"));
  g_assert_true (has_entry (&w, "c3", "u2", NULL, NULL));
  wait_clear (&w);

  presence_stats (f->a, "room", &clients, &users);
  g_assert_cmpuint (clients, ==, 3);
  g_assert_cmpuint (users, ==, 2);

  f->a->broker->vtable->presence_remove (f->a->broker, "room", "c2");
  presence_stats (f->b, "room", &clients, &users);
  g_assert_cmpuint (clients, ==, 2);
  g_assert_cmpuint (users, ==, 2);

  /* A node that dies without cleaning up: its entries go within the
   * presence TTL (1 s here), while A's and B's stay, refreshed by tick. */
  address = g_strdup_printf ("127.0.0.1:%u", f->redis->port);
  fill_options (&options, address);
  options.presence_ttl_ms = 1000;
  dead = node_new_with_options ("dead", &options);
  WAIT_UNTIL (healthy (dead));
  add_presence (dead, "room", "c4", "u3", NULL, NULL);
  WAIT_UNTIL (presence_clients (f->a, "room") == 3);
  presence_stats (f->a, "room", &clients, &users);
  g_assert_cmpuint (users, ==, 3);
  node_free (dead);
  freed_at = g_get_monotonic_time ();

  WAIT_UNTIL_TIMEOUT (presence_clients (f->b, "room") == 2, 5000);
  gone_after = (g_get_monotonic_time () - freed_at) / 1000;
  g_assert_cmpint (gone_after, <=, 1500);

  /* Well past A's and B's own TTL (1.5 s): still there. */
  {
    gint64 until = g_get_monotonic_time () + 2500 * 1000;

    WAIT_UNTIL (g_get_monotonic_time () > until);
  }
  presence_stats (f->b, "room", &clients, &users);
  g_assert_cmpuint (clients, ==, 2);
  g_assert_cmpuint (users, ==, 2);

  /* Nobody in an unknown channel. */
  presence_stats (f->b, "empty", &clients, &users);
  g_assert_cmpuint (clients, ==, 0);
  g_assert_cmpuint (users, ==, 0);
}

/* Redis dies (SIGKILL) and comes back empty on the same port. */
static void
test_restart (Fixture       *f,
              gconstpointer  data)
{
  g_autofree char *epoch = NULL;
  g_autofree char *epoch2 = NULL;
  Wait w = { 0 };
  guint a_pubs;
  guint b_pubs;

  if (skip_without_redis (f))
    return;

  subscribe (f->a, "news");
  subscribe (f->b, "news");
  add_presence (f->a, "news", "c1", "u1", NULL, NULL);
  for (guint i = 1; i <= 3; i++)
    {
      g_clear_pointer (&epoch, g_free);
      g_assert_cmpuint (publish (f->a, "news", "{}", &history_10, &epoch), ==, i);
    }
  WAIT_UNTIL (f->a->pubs->len == 3 && f->b->pubs->len == 3);

  redis_signal (f->redis, SIGKILL);
  WAIT_UNTIL (!healthy (f->a) && !healthy (f->b));

  /* Fails fast: answered before publish returns, nothing queued. */
  publish_async (f->a, "news", "{}", &history_10, &w);
  g_assert_true (w.done);
  g_assert_error (w.error, CRIER_BROKER_ERROR, CRIER_BROKER_ERROR_UNAVAILABLE);
  wait_clear (&w);
  g_assert_cmpuint (count_gaps (f->a, "news"), ==, 0);

  redis_spawn (f->redis, NULL);
  WAIT_UNTIL (healthy (f->a) && healthy (f->b));
  /* Both resubscribed and told their owner about the gap. */
  WAIT_UNTIL (count_gaps (f->a, "news") == 1 && count_gaps (f->b, "news") == 1);

  /* The data is gone: a new epoch, offsets from 1. */
  a_pubs = f->a->pubs->len;
  b_pubs = f->b->pubs->len;
  g_assert_cmpuint (publish (f->b, "news", "{}", &history_10, &epoch2), ==, 1);
  g_assert_cmpstr (epoch2, !=, epoch);
  WAIT_UNTIL (f->a->pubs->len == a_pubs + 1 && f->b->pubs->len == b_pubs + 1);
  g_assert_cmpstr (((CrierPublication *) g_ptr_array_index (f->a->pubs, a_pubs))->epoch,
                   ==, epoch2);
  /* Reported once per incident: the epoch change right after the
   * resubscribe is part of the same gap. */
  g_assert_cmpuint (count_gaps (f->a, "news"), ==, 1);

  /* Presence was re-added on reconnect. */
  WAIT_UNTIL (presence_clients (f->b, "news") == 1);

  {
    CrierRedisStats stats;

    crier_broker_redis_get_stats (f->a->broker, &stats);
    g_assert_true (stats.command_connected && stats.pubsub_connected);
    g_assert_cmpuint (stats.connects, >=, 4);
    g_assert_cmpuint (stats.disconnects, >=, 2);
    g_assert_cmpuint (stats.gaps, ==, 1);
    g_assert_cmpuint (stats.channels, ==, 1);
  }
}

/* A live gap: a publication whose offset is not last + 1. */
static void
test_offset_gap (Fixture       *f,
                 gconstpointer  data)
{
  redisReply *reply;

  if (skip_without_redis (f))
    return;

  subscribe (f->b, "g");
  publish (f->a, "g", "1", &history_10, NULL);
  WAIT_UNTIL (f->b->pubs->len == 1);

  /* As if a PUB/SUB message were lost: bump the stream past offset 2. */
  reply = sync_command (f->redis->port, "HINCRBY crier-test.meta.g o 1");
  freeReplyObject (reply);
  g_assert_cmpuint (publish (f->a, "g", "3", &history_10, NULL), ==, 3);
  WAIT_UNTIL (f->b->pubs->len == 2);
  g_assert_cmpuint (count_gaps (f->b, "g"), ==, 1);
  g_assert_cmpuint (publish (f->a, "g", "4", &history_10, NULL), ==, 4);
  WAIT_UNTIL (f->b->pubs->len == 3);
  g_assert_cmpuint (count_gaps (f->b, "g"), ==, 1);
}

/* A stream written by another server process (what a promoted replica or
 * a server restarted from a snapshot holds: the r field of the meta hash
 * names another run_id) may lack publications the subscribers saw: the
 * first history read or publish starts a new epoch.  A meta hash without r
 * (written before r was kept) is adopted as it is. */
static void
test_other_process (Fixture       *f,
                    gconstpointer  data)
{
  g_autofree char *epoch = NULL;
  g_autofree char *epoch2 = NULL;
  g_autofree char *epoch3 = NULL;
  redisReply *reply;
  Wait w = { 0 };

  if (skip_without_redis (f))
    return;

  for (guint i = 1; i <= 3; i++)
    {
      g_clear_pointer (&epoch, g_free);
      g_assert_cmpuint (publish (f->a, "moved", "{}", &history_10, &epoch), ==, i);
    }
  reply = sync_command (f->redis->port, "HGET crier-test.meta.moved r");
  g_assert_cmpint (reply->type, ==, REDIS_REPLY_STRING);
  g_assert_cmpuint (reply->len, ==, 40);   /* INFO run_id */
  freeReplyObject (reply);

  /* Another process wrote it: the history read starts a new epoch. */
  reply = sync_command (f->redis->port, "HSET crier-test.meta.moved r 0123456789abcdef");
  freeReplyObject (reply);
  history (f->b->broker, "moved", &(CrierHistoryQuery) { .limit = -1 }, &w);
  g_assert_cmpstr (w.epoch, !=, epoch);
  g_assert_cmpstr (w.epoch, !=, "");
  g_assert_cmpuint (w.offset, ==, 0);
  g_assert_cmpuint (w.pubs->len, ==, 0);
  epoch2 = g_strdup (w.epoch);
  wait_clear (&w);
  /* ... which the next publish continues. */
  g_assert_cmpuint (publish (f->a, "moved", "{}", &history_10, &epoch3), ==, 1);
  g_assert_cmpstr (epoch3, ==, epoch2);

  /* The same through a publish. */
  reply = sync_command (f->redis->port, "HSET crier-test.meta.moved r 0123456789abcdef");
  freeReplyObject (reply);
  g_clear_pointer (&epoch, g_free);
  g_assert_cmpuint (publish (f->b, "moved", "{}", &history_10, &epoch), ==, 1);
  g_assert_cmpstr (epoch, !=, epoch3);

  /* No r: adopted, the position stays. */
  reply = sync_command (f->redis->port, "HDEL crier-test.meta.moved r");
  freeReplyObject (reply);
  g_clear_pointer (&epoch2, g_free);
  g_assert_cmpuint (publish (f->a, "moved", "{}", &history_10, &epoch2), ==, 2);
  g_assert_cmpstr (epoch2, ==, epoch);
  reply = sync_command (f->redis->port, "HEXISTS crier-test.meta.moved r");
  g_assert_cmpint (reply->integer, ==, 1);
  freeReplyObject (reply);
}

/* Redis pauses (SIGSTOP): the probe notices, calls time out instead of
 * waiting forever, in-flight commands are bounded, then it recovers. */
static void
test_pause (Fixture       *f,
            gconstpointer  data)
{
  Wait w[3] = { { 0 } };
  Wait t = { 0 };
  CrierRedisOptions options;
  g_autofree char *address = NULL;
  Node *small;

  if (skip_without_redis (f))
    return;

  address = g_strdup_printf ("127.0.0.1:%u", f->redis->port);
  fill_options (&options, address);
  options.max_in_flight = 3;
  options.command_timeout_ms = 30000;   /* keeps its queue while paused */
  small = node_new_with_options ("small", &options);
  tick_add (small);
  WAIT_UNTIL (healthy (small));
  WAIT_UNTIL (crier_broker_redis_get_rtt_us (f->a->broker) > 0 &&
              crier_broker_redis_get_rtt_us (small->broker) > 0);
  g_assert_cmpint (crier_broker_redis_get_rtt_us (f->a->broker), <, 500 * 1000);
  g_assert_cmpuint (crier_broker_redis_get_probe_failures (f->a->broker), ==, 0);

  redis_signal (f->redis, SIGSTOP);

  /* Queued on A's command connection; its command timeout (1 s) answers. */
  publish_async (f->a, "p", "1", &history_10, &t);
  g_assert_false (t.done);

  /* The probe (every 200 ms, 500 ms timeout) notices first. */
  WAIT_UNTIL (crier_broker_redis_get_probe_failures (f->a->broker) >= 1);
  g_assert_false (healthy (f->a));
  g_assert_cmpint (crier_broker_redis_get_rtt_us (f->a->broker), >, 500 * 1000);

  WAIT_UNTIL (t.done);
  g_assert_error (t.error, CRIER_BROKER_ERROR, CRIER_BROKER_ERROR_UNAVAILABLE);
  wait_clear (&t);
  g_assert_cmpint (crier_broker_redis_get_rtt_us (f->a->broker), >, 500 * 1000);

  /* Bounded in flight on the other node: its stuck probe holds one of the
   * three slots, two publishes take the others, the third fails at once. */
  WAIT_UNTIL (crier_broker_redis_get_probe_failures (small->broker) >= 1);
  for (guint i = 0; i < 3; i++)
    publish_async (small, "p", "1", &history_10, &w[i]);
  g_assert_false (w[0].done);
  g_assert_false (w[1].done);
  g_assert_true (w[2].done);
  g_assert_error (w[2].error, CRIER_BROKER_ERROR, CRIER_BROKER_ERROR_UNAVAILABLE);
  g_assert_false (healthy (small));

  redis_signal (f->redis, SIGCONT);
  WAIT_UNTIL (healthy (f->a) && healthy (f->b) && healthy (small));
  WAIT_UNTIL (crier_broker_redis_get_rtt_us (f->a->broker) < 500 * 1000);
  g_assert_cmpuint (publish (f->a, "p", "1", &history_10, NULL), >=, 1);
  /* small kept its queue: both publishes went through. */
  WAIT_UNTIL (w[0].done && w[1].done);
  g_assert_no_error (w[0].error);
  g_assert_no_error (w[1].error);
  g_assert_cmpuint (w[1].offset, ==, w[0].offset + 1);
  for (guint i = 0; i < 3; i++)
    wait_clear (&w[i]);

  tick_remove (small);
  node_free (small);
}

/* Held history (subscribe not yet confirmed) is answered with
 * UNAVAILABLE when the broker is freed; nothing leaks. */
static void
test_free_pending (Fixture       *f,
                   gconstpointer  data)
{
  Wait w[2] = { { 0 } };
  Node *c;

  if (skip_without_redis (f))
    return;

  c = node_new ("c", f->redis);
  WAIT_UNTIL (healthy (c));
  c->broker->vtable->subscribe (c->broker, "z");
  c->broker->vtable->history (c->broker, "z", &history_10, &(CrierHistoryQuery) { .limit = -1 },
                              history_cb, &w[0]);
  publish_async (c, "z", "1", &history_10, &w[1]);
  g_assert_false (w[0].done);
  g_assert_false (w[1].done);
  node_free (c);
  for (guint i = 0; i < 2; i++)
    {
      g_assert_true (w[i].done);
      g_assert_error (w[i].error, CRIER_BROKER_ERROR, CRIER_BROKER_ERROR_UNAVAILABLE);
      wait_clear (&w[i]);
    }
}

/* AUTH with a password or an ACL user, SELECT, a Unix socket. */
static void
test_auth (void)
{
  const char *extra[] = {
    "--requirepass", "topsecret",
    /* The permissions docs/cluster.md lists (ACL section). */
    "--user", "alice", "on", ">alicepw", "~crier-test.*", "&crier-test.*", "+@read", "+@write",
    "+@scripting", "+@pubsub", "+ping", "+select", "+role", "+info",
    "--unixsocket", "redis.sock",
    "--unixsocketperm", "700",
    NULL,
  };
  RedisProc *redis;
  CrierRedisOptions options;
  g_autofree char *tcp = NULL;
  g_autofree char *unix_address = NULL;
  Node *node;
  redisContext *c;
  redisReply *reply;
  gint64 until;

  if (!have_redis ())
    {
      g_test_skip ("redis-server is not installed");
      return;
    }

  ticked = g_ptr_array_new ();
  redis = redis_start (extra);
  tcp = g_strdup_printf ("127.0.0.1:%u", redis->port);
  unix_address = g_strdup_printf ("unix:%s/redis.sock", redis->dir);

  /* Wrong password: never healthy, retried quietly. */
  fill_options (&options, tcp);
  options.password = "wrong";
  node = node_new_with_options ("wrong", &options);
  until = g_get_monotonic_time () + 500 * 1000;
  WAIT_UNTIL (g_get_monotonic_time () > until);
  g_assert_false (healthy (node));
  {
    CrierRedisStats stats;

    crier_broker_redis_get_stats (node->broker, &stats);
    g_assert_cmpuint (stats.connects, ==, 0);
  }
  node_free (node);

  /* The default user's password over TCP, to a host name (resolved
   * without blocking; tried address after address). */
  g_free (tcp);
  tcp = g_strdup_printf ("localhost:%u", redis->port);
  fill_options (&options, tcp);
  options.password = "topsecret";
  node = node_new_with_options ("password", &options);
  WAIT_UNTIL (healthy (node));
  g_assert_cmpuint (publish (node, "x", "1", &history_10, NULL), ==, 1);
  node_free (node);

  /* An ACL user, database 3, through the Unix socket. */
  fill_options (&options, unix_address);
  options.user = "alice";
  options.password = "alicepw";
  options.db = 3;
  node = node_new_with_options ("alice", &options);
  WAIT_UNTIL (healthy (node));
  g_assert_cmpstr (crier_broker_redis_get_server (node->broker), ==, unix_address + 5);
  subscribe (node, "x");
  g_assert_cmpuint (publish (node, "x", "1", &history_10, NULL), ==, 1);
  WAIT_UNTIL (node->pubs->len == 1);
  node_free (node);

  c = sync_connect (redis->port);
  g_assert_nonnull (c);
  reply = redisCommand (c, "AUTH alice alicepw");
  freeReplyObject (reply);
  reply = redisCommand (c, "SELECT 3");
  freeReplyObject (reply);
  reply = redisCommand (c, "HGET crier-test.meta.x o");
  g_assert_cmpint (reply->type, ==, REDIS_REPLY_STRING);
  g_assert_cmpstr (reply->str, ==, "1");
  freeReplyObject (reply);
  redisFree (c);

  redis_stop (redis);
  g_clear_pointer (&ticked, g_ptr_array_unref);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* ---- Sentinel ------------------------------------------------------------- */

static RedisProc *
sentinel_start (guint16 master_port)
{
  RedisProc *proc = g_new0 (RedisProc, 1);
  g_autoptr(GError) error = NULL;
  g_autofree char *conf = NULL;
  g_autofree char *path = NULL;

  proc->dir = g_dir_make_tmp ("crier-sentinel-XXXXXX", &error);
  g_assert_no_error (error);
  proc->port = pick_port (master_port);
  proc->sentinel = TRUE;
  conf = g_strdup_printf ("port %u\n"
                          "bind 127.0.0.1\n"
                          "daemonize no\n"
                          "dir %s\n"
                          "logfile %s/sentinel.log\n"
                          "sentinel monitor " MASTER_NAME " 127.0.0.1 %u 1\n"
                          "sentinel down-after-milliseconds " MASTER_NAME " 1000\n"
                          "sentinel failover-timeout " MASTER_NAME " 10000\n"
                          "sentinel parallel-syncs " MASTER_NAME " 1\n",
                          proc->port, proc->dir, proc->dir, master_port);
  path = g_build_filename (proc->dir, "sentinel.conf", NULL);
  g_file_set_contents (path, conf, -1, &error);
  g_assert_no_error (error);
  redis_spawn (proc, NULL);
  return proc;
}

static gboolean
sentinel_knows_replica (guint16 port)
{
  redisReply *reply = sync_command (port, "SENTINEL replicas %s", MASTER_NAME);
  gboolean ok = reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1;

  if (reply != NULL)
    freeReplyObject (reply);
  return ok;
}

static gboolean
replica_linked (guint16 port)
{
  g_autofree char *status = redis_info_field (port, "replication", "master_link_status");

  return g_strcmp0 (status, "up") == 0;
}

static void
test_sentinel (void)
{
  RedisProc *master;
  RedisProc *replica;
  RedisProc *sentinel;
  g_autofree char *replicaof = NULL;
  g_autofree char *sentinel_address = NULL;
  g_autofree char *expected = NULL;
  const char *sentinels[2] = { NULL, NULL };
  const char *extra[3] = { "--replicaof", NULL, NULL };
  CrierRedisOptions options;
  Node *node;
  guint tick_id;

  if (!have_redis ())
    {
      g_test_skip ("redis-server is not installed");
      return;
    }

  ticked = g_ptr_array_new ();
  tick_id = g_timeout_add (50, tick_all, NULL);

  master = redis_start (NULL);
  replicaof = g_strdup_printf ("127.0.0.1 %u", master->port);
  extra[1] = replicaof;
  replica = redis_start (extra);
  WAIT_UNTIL (replica_linked (replica->port));
  sentinel = sentinel_start (master->port);
  WAIT_UNTIL (sentinel_knows_replica (sentinel->port));

  sentinel_address = g_strdup_printf ("127.0.0.1:%u", sentinel->port);
  sentinels[0] = sentinel_address;
  fill_options (&options, NULL);
  options.sentinels = sentinels;
  options.master_name = MASTER_NAME;
  node = node_new_with_options ("s", &options);
  tick_add (node);
  WAIT_UNTIL (healthy (node));
  subscribe (node, "s");
  expected = g_strdup_printf ("127.0.0.1:%u", master->port);
  g_assert_cmpstr (crier_broker_redis_get_server (node->broker), ==, expected);
  g_assert_cmpuint (publish (node, "s", "1", &history_10, NULL), ==, 1);
  WAIT_UNTIL (replica_linked (replica->port));

  redis_signal (master, SIGKILL);
  WAIT_UNTIL (!healthy (node));

  /* down-after 1 s, then the failover: well within 30 s. */
  g_clear_pointer (&expected, g_free);
  expected = g_strdup_printf ("127.0.0.1:%u", replica->port);
  WAIT_UNTIL_TIMEOUT (healthy (node) &&
                      g_strcmp0 (crier_broker_redis_get_server (node->broker), expected) == 0,
                      30000);
  g_assert_cmpuint (publish (node, "s", "2", &history_10, NULL), >=, 1);
  WAIT_UNTIL (node->pubs->len == 2);
  WAIT_UNTIL (count_gaps (node, "s") >= 1);

  tick_remove (node);
  node_free (node);
  redis_stop (sentinel);
  redis_stop (replica);
  redis_stop (master);
  g_source_remove (tick_id);
  g_clear_pointer (&ticked, g_ptr_array_unref);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

int
main (int   argc,
      char *argv[])
{
  test_init (&argc, &argv);

  g_test_add_func ("/broker/redis/options", test_options);
  g_test_add_func ("/broker/redis/unreachable", test_unreachable);
#define ADD(path, func) \
  g_test_add ("/broker/redis/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("publish", test_publish);
  ADD ("history", test_history);
  ADD ("presence", test_presence);
  ADD ("restart", test_restart);
  ADD ("offset-gap", test_offset_gap);
  ADD ("other-process", test_other_process);
  ADD ("pause", test_pause);
  ADD ("free-pending", test_free_pending);
#undef ADD
  g_test_add_func ("/broker/redis/auth", test_auth);
  g_test_add_func ("/broker/redis/sentinel", test_sentinel);

  return g_test_run ();
}
