/* test-crierctl.c: crierctl as a program against a crierd subprocess (the
 * Unix socket) and against an in-process server (TCP and its token, TLS
 * with a certificate the test makes, alerts raised and resolved live):
 * every command including the followed event streams (watch --sessions,
 * alerts --follow) and nodes, human and --json output, exit codes 0-4,
 * and the offline `detect` on tests/fixtures/connects-storm.csv. */
#include "config.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <poll.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crier-admin.h"
#include "crier-hub.h"
#include "crier-util.h"
#include "crier-ws-codec.h"
#include "test-cert.h"
#include "test-utils.h"

static char *
crierctl_path (void)
{
  const char *env = g_getenv ("CRIERCTL");

  if (env != NULL && env[0] != '\0')
    return g_strdup (env);
  return g_test_build_filename (G_TEST_BUILT, "..", "server", "crierctl", NULL);
}

/* A crierctl process and what it printed so far. */
typedef struct
{
  GPid     pid;
  int      fds[2];     /* stdout, stderr; -1 once at their end */
  GString *buf[2];
  char    *name;
} CtlRun;

/* Starts crierctl with the arguments and @env ("NAME=value" strings added
 * to ours). */
static void
ctl_spawnv (CtlRun             *r,
            const char * const *env,
            const char         *first,
            va_list             ap)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) envp = g_get_environ ();
  g_autoptr(GError) error = NULL;
  const char *arg;

  g_ptr_array_add (argv, crierctl_path ());
  for (arg = first; arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (argv, g_strdup (arg));
  g_ptr_array_add (argv, NULL);

  envp = g_environ_unsetenv (envp, "CRIER_ADMIN_TOKEN");
  envp = g_environ_unsetenv (envp, "XDG_RUNTIME_DIR");
  for (guint i = 0; env != NULL && env[i] != NULL; i++)
    {
      g_auto(GStrv) kv = g_strsplit (env[i], "=", 2);

      envp = g_environ_setenv (envp, kv[0], kv[1], TRUE);
    }
  r->fds[0] = r->fds[1] = -1;
  r->buf[0] = g_string_new (NULL);
  r->buf[1] = g_string_new (NULL);
  r->name = g_strdup (first != NULL ? first : "");
  g_spawn_async_with_pipes (NULL, (char **) argv->pdata, envp, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                            &r->pid, NULL, &r->fds[0], &r->fds[1], &error);
  g_assert_no_error (error);
}

static void
ctl_spawn (CtlRun     *r,
           const char *first,
           ...)
{
  va_list ap;

  va_start (ap, first);
  ctl_spawnv (r, NULL, first, ap);
  va_end (ap);
}

/* Reads both pipes, iterating the main context meanwhile (the server may
 * be in this process), until @fragment is in stdout (NULL: until both
 * pipes end) or @timeout_ms; TRUE when found (or ended). */
static gboolean
ctl_read (CtlRun     *r,
          const char *fragment,
          int         timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  while ((r->fds[0] >= 0 || r->fds[1] >= 0) && g_get_monotonic_time () < deadline)
    {
      struct pollfd p[2] = { { r->fds[0], POLLIN, 0 }, { r->fds[1], POLLIN, 0 } };

      if (fragment != NULL && strstr (r->buf[0]->str, fragment) != NULL)
        return TRUE;
      if (poll (p, 2, 1) <= 0)
        {
          while (g_main_context_iteration (NULL, FALSE))
            ;
          continue;
        }
      for (guint i = 0; i < 2; i++)
        {
          char chunk[4096];
          ssize_t n;

          if (r->fds[i] < 0 || p[i].revents == 0)
            continue;
          n = read (r->fds[i], chunk, sizeof chunk);
          if (n > 0)
            g_string_append_len (r->buf[i], chunk, n);
          else
            {
              close (r->fds[i]);
              r->fds[i] = -1;
            }
        }
    }
  if (fragment != NULL)
    return strstr (r->buf[0]->str, fragment) != NULL;
  return r->fds[0] < 0 && r->fds[1] < 0;
}

/* Waits (30 s at most) for crierctl to end; returns its exit code. */
static int
ctl_collect (CtlRun  *r,
             char   **out,
             char   **err)
{
  int status = 0;

  g_assert_true (ctl_read (r, NULL, 30000));
  g_assert_cmpint (waitpid (r->pid, &status, 0), ==, r->pid);
  g_spawn_close_pid (r->pid);
  g_assert_true (WIFEXITED (status));

  g_test_message ("crierctl %s ... -> %d\n%s%s", r->name, WEXITSTATUS (status), r->buf[0]->str, r->buf[1]->str);
  if (out != NULL)
    *out = g_string_free (r->buf[0], FALSE);
  else
    g_string_free (r->buf[0], TRUE);
  if (err != NULL)
    *err = g_string_free (r->buf[1], FALSE);
  else
    g_string_free (r->buf[1], TRUE);
  g_free (r->name);
  return WEXITSTATUS (status);
}

/* Runs crierctl to its end; returns the exit code. */
static int
ctl_env (const char * const *env,
         char              **out,
         char              **err,
         const char         *first,
         ...)
{
  CtlRun r = { 0 };
  va_list ap;

  va_start (ap, first);
  ctl_spawnv (&r, env, first, ap);
  va_end (ap);
  return ctl_collect (&r, out, err);
}

#define ctl(out, err, ...) ctl_env (NULL, out, err, __VA_ARGS__, NULL)

static JsonObject *
parse_object (const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = json_from_string (text, &error);

  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  return json_object_ref (json_node_get_object (node));
}

/* ---- crierd as a subprocess ----------------------------------------------- */

typedef struct
{
  GPid     pid;
  guint16  port;
  char    *dir;
  char    *socket;
  char    *log;
} Crierd;

static void
crierd_start (Crierd *d)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *port_file = NULL;
  g_autofree char *ports = NULL;
  g_autofree char *socket_set = NULL;
  const char *crierd = g_getenv ("CRIERD");
  int log_fd;

  g_assert_nonnull (crierd);
  d->dir = g_dir_make_tmp ("crierctl-test-XXXXXX", &error);
  g_assert_no_error (error);
  port_file = g_build_filename (d->dir, "ports", NULL);
  d->socket = g_build_filename (d->dir, "admin.sock", NULL);
  d->log = g_build_filename (d->dir, "log", NULL);
  socket_set = g_strdup_printf ("admin.socket=%s", d->socket);
  {
    const char *argv[] = {
      crierd, "--port-file", port_file,
      "--set", "server.listen=127.0.0.1:0",
      "--set", socket_set,
      "--set", "auth.allow_anonymous=true",
      "--set", "channels.history_size=10",
      NULL
    };

    log_fd = g_open (d->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    g_assert_cmpint (log_fd, >=, 0);
    g_spawn_async_with_fds (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                            &d->pid, -1, log_fd, log_fd, &error);
    g_assert_no_error (error);
    close (log_fd);
  }
  for (guint i = 0; i < 500 && !g_file_test (port_file, G_FILE_TEST_EXISTS); i++)
    g_usleep (10000);
  g_assert_true (g_file_get_contents (port_file, &ports, NULL, NULL));
  d->port = (guint16) g_ascii_strtoull (ports, NULL, 10);
  g_assert_cmpuint (d->port, >, 0);
  g_assert_true (g_file_test (d->socket, G_FILE_TEST_EXISTS));
  g_unlink (port_file);
}

static void
crierd_stop (Crierd *d)
{
  int status = 0;

  /* SIGTERM drains and exits; the socket file goes with it. */
  g_assert_cmpint (kill (d->pid, SIGTERM), ==, 0);
  for (guint i = 0; i < 1000; i++)
    {
      if (waitpid (d->pid, &status, WNOHANG) == d->pid)
        {
          d->pid = 0;
          break;
        }
      g_usleep (10000);
    }
  if (d->pid != 0)
    {
      kill (d->pid, SIGKILL);
      waitpid (d->pid, NULL, 0);
      g_error ("crierd did not exit on SIGTERM");
    }
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  g_assert_false (g_file_test (d->socket, G_FILE_TEST_EXISTS));
  g_unlink (d->log);
  g_rmdir (d->dir);
  g_free (d->dir);
  g_free (d->socket);
  g_free (d->log);
}

/* A raw Centrifugo client: connect, subscribe to @channel; returns the fd,
 * the client id in @client. */
static int
client_open (guint16      port,
             const char  *channel,
             char       **client)
{
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  g_autofree char *sub = g_strdup_printf ("{\"id\":2,\"subscribe\":{\"channel\":\"%s\"}}", channel);
  g_autoptr(JsonObject) reply = NULL;
  g_autofree char *text = NULL;
  guint8 op;
  int fd = test_tcp_connect (port);

  g_assert_true (test_ws_handshake (fd, "/connection/websocket", NULL));
  test_ws_send (fd, CRIER_WS_OP_TEXT, TRUE, "{\"id\":1,\"connect\":{}}", 21);
  g_assert_true (test_ws_read_frame (fd, &op, payload, 5000));
  text = g_strndup ((const char *) payload->data, payload->len);
  reply = parse_object (text);
  *client = g_strdup (json_object_get_string_member (json_object_get_object_member (reply, "connect"), "client"));
  test_ws_send (fd, CRIER_WS_OP_TEXT, TRUE, sub, strlen (sub));
  g_assert_true (test_ws_read_frame (fd, &op, payload, 5000));
  g_assert_nonnull (g_strstr_len ((const char *) payload->data, payload->len, "\"subscribe\""));
  return fd;
}

/* Reads frames until one contains @fragment (pings skipped); returns the
 * close code when the server closes first (0 otherwise). */
static guint
client_wait (int         fd,
             const char *fragment)
{
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  guint8 op;

  while (test_ws_read_frame (fd, &op, payload, 5000))
    {
      if (op == CRIER_WS_OP_CLOSE)
        return payload->len >= 2 ? (payload->data[0] << 8) | payload->data[1] : 1005;
      if (fragment != NULL && g_strstr_len ((const char *) payload->data, payload->len, fragment) != NULL)
        return 0;
    }
  g_error ("client: nothing with %s", fragment != NULL ? fragment : "a close frame");
  return 0;
}

/* ---- tests ---------------------------------------------------------------- */

static void
test_usage (void)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  static const char * const commands[] = {
    "stats", "watch", "sessions", "inspect", "kick", "unsubscribe", "publish", "channels",
    "channel", "alerts", "history", "detect", "version", "--no-reconnect", "--page-size",
    "Exit status", "nodes", "--sessions", "--follow", "--seconds", "--tls", "--ca-file", NULL
  };

  g_assert_cmpint (ctl (&out, NULL, "--help"), ==, 0);
  for (guint i = 0; commands[i] != NULL; i++)
    if (strstr (out, commands[i]) == NULL)
      g_error ("--help lacks %s", commands[i]);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "help"), ==, 0);

  g_assert_cmpint (ctl_env (NULL, NULL, &err, NULL, NULL), ==, 2);
  g_assert_nonnull (strstr (err, "no command"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (NULL, &err, "frobnicate"), ==, 2);
  g_assert_nonnull (strstr (err, "unknown command 'frobnicate'"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (NULL, &err, "--bogus", "stats"), ==, 2);
  g_assert_nonnull (strstr (err, "--bogus"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (NULL, NULL, "inspect"), ==, 2);
  g_assert_cmpint (ctl (NULL, NULL, "stats", "extra"), ==, 2);
  g_assert_cmpint (ctl (NULL, NULL, "kick"), ==, 2);
  g_assert_cmpint (ctl (NULL, NULL, "kick", "abc", "--user", "bob"), ==, 2);
  g_assert_cmpint (ctl (NULL, NULL, "kick", "abc", "--code", "3011", "--no-reconnect"), ==, 2);
  g_assert_cmpint (ctl (NULL, NULL, "kick", "abc", "--code", "99"), ==, 2);
  g_assert_cmpint (ctl (NULL, NULL, "sessions", "--page-size", "5000"), ==, 2);
  g_assert_cmpint (ctl (NULL, NULL, "sessions", "--sort", "subscribers"), ==, 2);
  g_assert_cmpint (ctl (NULL, &err, "publish", "news", "{bad"), ==, 2);
  g_assert_nonnull (strstr (err, "params.data"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (NULL, NULL, "publish", "news"), ==, 2);
  g_assert_cmpint (ctl (NULL, &err, "--host", "127.0.0.1:1", "stats"), ==, 2);
  g_assert_nonnull (strstr (err, "--token"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (NULL, NULL, "--socket", "/x", "--host", "h:1", "--token", "t", "stats"), ==, 2);
  g_assert_cmpint (ctl (NULL, NULL, "--timeout", "0", "stats"), ==, 2);
  g_assert_cmpint (ctl (NULL, &err, "stats", "--sessions"), ==, 2);
  g_assert_nonnull (strstr (err, "--sessions goes with watch"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (NULL, &err, "sessions", "--follow"), ==, 2);
  g_assert_nonnull (strstr (err, "--follow goes with alerts"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (NULL, NULL, "alerts", "--follow", "--all"), ==, 2);
  g_assert_cmpint (ctl (NULL, NULL, "watch", "--seconds", "-1"), ==, 2);
  g_assert_cmpint (ctl (NULL, NULL, "nodes", "extra"), ==, 2);
}

static void
test_cannot_connect (void)
{
  g_autofree char *dir = g_dir_make_tmp ("crierctl-test-XXXXXX", NULL);
  g_autofree char *missing = g_build_filename (dir, "none.sock", NULL);
  g_autofree char *err = NULL;
  g_autofree char *out = NULL;

  g_assert_cmpint (ctl (NULL, &err, "--socket", missing, "stats"), ==, 3);
  g_assert_nonnull (strstr (err, "cannot connect"));
  g_clear_pointer (&err, g_free);
  /* version still names the client. */
  g_assert_cmpint (ctl (&out, NULL, "--socket", missing, "version"), ==, 3);
  g_assert_true (g_str_has_prefix (out, "crierctl " PACKAGE_VERSION));
  /* The default socket comes from XDG_RUNTIME_DIR. */
  {
    g_autofree char *xdg = g_strdup_printf ("XDG_RUNTIME_DIR=%s", dir);
    const char * const env[] = { xdg, NULL };
    g_autofree char *expected = g_build_filename (dir, "crier", "admin.sock", NULL);

    g_assert_cmpint (ctl_env (env, NULL, &err, "stats", NULL), ==, 3);
    g_assert_nonnull (strstr (err, expected));
  }
  g_rmdir (dir);
}

static void
test_detect (void)
{
  g_autofree char *fixture = g_test_build_filename (G_TEST_DIST, "fixtures", "connects-storm.csv", NULL);
  g_autofree char *dir = g_dir_make_tmp ("crierctl-test-XXXXXX", NULL);
  g_autofree char *bad = g_build_filename (dir, "bad.csv", NULL);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  g_assert_cmpint (ctl (&out, NULL, "detect", fixture), ==, 0);
  g_assert_true (g_str_has_prefix (out, "timestamp,value,expected,sigma,score,event\n"));
  g_assert_nonnull (strstr (out, "raised spike #1"));
  g_assert_nonnull (strstr (out, "resolved spike #1"));
  g_assert_nonnull (strstr (out, "# 720 rows, 720 samples, 1 alerts"));
  g_clear_pointer (&out, g_free);

  g_assert_cmpint (ctl (&out, NULL, "detect", "--profile", "errors", fixture), ==, 0);
  g_assert_cmpint (ctl (NULL, NULL, "detect", "--profile", "bogus", fixture), ==, 2);
  g_assert_cmpint (ctl (NULL, NULL, "detect"), ==, 2);
  g_assert_cmpint (ctl (NULL, NULL, "detect", "/nonexistent/file.csv"), ==, 2);

  g_assert_true (g_file_set_contents (bad, "timestamp,value\n1,2\nthree,four\n", -1, NULL));
  g_assert_cmpint (ctl (NULL, &err, "detect", bad), ==, 1);
  g_assert_nonnull (strstr (err, "bad.csv"));
  g_unlink (bad);
  g_rmdir (dir);
}

static void
test_against_crierd (void)
{
  Crierd d = { 0 };
  g_autofree char *client = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int fd;

  crierd_start (&d);

  g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "stats"), ==, 0);
  g_assert_nonnull (strstr (out, "connections"));
  g_assert_nonnull (strstr (out, "broker         up"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "--json", "stats"), ==, 0);
  {
    g_autoptr(JsonObject) o = parse_object (out);

    g_assert_true (json_object_has_member (o, "connections"));
    g_assert_true (json_object_has_member (o, "totals"));
  }
  g_clear_pointer (&out, g_free);

  g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "version"), ==, 0);
  g_assert_nonnull (strstr (out, "crierctl " PACKAGE_VERSION));
  g_assert_nonnull (strstr (out, "crierd " PACKAGE_VERSION " on node"));
  g_clear_pointer (&out, g_free);

  fd = client_open (d.port, "news", &client);

  /* sessions, human and JSON */
  g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "sessions"), ==, 0);
  g_assert_nonnull (strstr (out, client));
  g_assert_nonnull (strstr (out, "SESSION"));
  g_assert_nonnull (strstr (out, "1 session(s)"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "--json", "sessions", "--channel", "news",
                        "--sort", "bytes", "--desc"), ==, 0);
  {
    g_autoptr(JsonObject) o = parse_object (out);

    g_assert_cmpint (json_object_get_int_member (o, "total"), ==, 1);
  }
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "sessions", "--user", "nobody-here"), ==, 0);
  g_assert_nonnull (strstr (out, "0 session(s)"));
  g_clear_pointer (&out, g_free);

  /* inspect */
  g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "inspect", client), ==, 0);
  g_assert_nonnull (strstr (out, "news"));
  /* Last activity as a time and an age; no ping answered yet. */
  g_assert_nonnull (strstr (out, "last_activity_at"));
  g_assert_nonnull (strstr (out, " ago)"));
  g_assert_nonnull (strstr (out, "ping_rtt_ms"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "--json", "inspect", client), ==, 0);
  {
    g_autoptr(JsonObject) o = parse_object (out);

    g_assert_cmpint (json_object_get_int_member (o, "last_activity_at"), >, 0);
    g_assert_true (json_object_has_member (o, "ping_rtt_ms"));
  }
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (NULL, &err, "--socket", d.socket, "inspect", "nope"), ==, 1);
  g_assert_nonnull (strstr (err, "not_found"));
  g_clear_pointer (&err, g_free);

  /* publish reaches the client */
  g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "publish", "news", "{\"x\":1}"), ==, 0);
  g_assert_nonnull (strstr (out, "news"));
  g_assert_cmpuint (client_wait (fd, "{\"x\":1}"), ==, 0);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "--json", "publish", "news", "2"), ==, 0);
  {
    g_autoptr(JsonObject) o = parse_object (out);
    JsonObject *p = json_array_get_object_element (json_object_get_array_member (o, "publications"), 0);

    g_assert_cmpint (json_object_get_int_member (p, "offset"), ==, 2);
    g_assert_cmpint (json_object_get_int_member (o, "reached"), ==, 1);
  }
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (NULL, NULL, "--socket", d.socket, "publish", "nons:x", "1"), ==, 1);

  /* channels, channel, alerts, history, watch */
  g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "channels"), ==, 0);
  g_assert_nonnull (strstr (out, "news"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "channel", "news"), ==, 0);
  g_assert_nonnull (strstr (out, "subscribers"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "alerts", "--all"), ==, 0);
  g_assert_nonnull (strstr (out, "no alerts"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "history", "connections", "publishes_per_s"), ==, 0);
  g_assert_true (g_str_has_prefix (out, "timestamp,connections,publishes_per_s\n"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (NULL, NULL, "--socket", d.socket, "history", "bogus"), ==, 2);
  g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "watch", "--count", "2"), ==, 0);
  {
    g_auto(GStrv) lines = g_strsplit (out, "\n", -1);

    g_assert_cmpuint (g_strv_length (lines), ==, 4);   /* header, 2 samples, "" */
    g_assert_true (g_str_has_prefix (lines[0], "TIME"));
  }
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "--json", "watch", "--count", "1"), ==, 0);
  {
    g_autoptr(JsonObject) o = parse_object (out);

    g_assert_cmpstr (json_object_get_string_member (o, "event"), ==, "stats");
  }
  g_clear_pointer (&out, g_free);

  /* nodes: the memory broker's node list is this node alone */
  g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "nodes"), ==, 0);
  g_assert_nonnull (strstr (out, "NODE"));
  g_assert_nonnull (strstr (out, "(this node)"));
  g_assert_nonnull (strstr (out, "1 node(s) (memory broker: this node alone): "));
  g_assert_nonnull (strstr (out, " connections, 1 sessions, "));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "--json", "nodes"), ==, 0);
  {
    g_autoptr(JsonObject) o = parse_object (out);
    JsonArray *nodes = json_object_get_array_member (o, "nodes");

    g_assert_cmpuint (json_array_get_length (nodes), ==, 1);
    g_assert_true (json_object_get_boolean_member (json_array_get_object_element (nodes, 0), "self"));
    g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (o, "totals"), "sessions"), ==, 1);
  }
  g_clear_pointer (&out, g_free);

  /* watch --sessions: a second client's session opens and closes. */
  {
    CtlRun w = { 0 };
    g_autofree char *other = NULL;
    g_auto(GStrv) lines = NULL;
    int fd2;

    ctl_spawn (&w, "--socket", d.socket, "watch", "--sessions", "--count", "2", NULL);
    g_assert_true (ctl_read (&w, "TRANSPORT", 10000));   /* the header: watching */
    fd2 = client_open (d.port, "news", &other);
    g_assert_true (ctl_read (&w, other, 5000));
    close (fd2);
    g_assert_cmpint (ctl_collect (&w, &out, NULL), ==, 0);
    lines = g_strsplit (out, "\n", -1);
    g_assert_cmpuint (g_strv_length (lines), ==, 4);   /* header, opened, closed, "" */
    g_assert_nonnull (strstr (lines[1], "opened"));
    g_assert_nonnull (strstr (lines[1], other));
    g_assert_nonnull (strstr (lines[1], "websocket"));
    g_assert_nonnull (strstr (lines[2], "closed"));
    g_assert_nonnull (strstr (lines[2], other));
    g_clear_pointer (&out, g_free);
  }
  /* ... and as JSON, one event per line.  Without a header to wait for,
   * the session is opened and then closed: whichever comes after the
   * watch started is the event. */
  {
    CtlRun w = { 0 };
    g_autofree char *other = NULL;
    g_autoptr(JsonObject) ev = NULL;
    int fd2;

    ctl_spawn (&w, "--socket", d.socket, "--json", "watch", "--sessions", "--count", "1", NULL);
    fd2 = client_open (d.port, "news", &other);
    ctl_read (&w, other, 3000);   /* opened, if the watch was quick */
    close (fd2);
    g_assert_cmpint (ctl_collect (&w, &out, NULL), ==, 0);
    ev = parse_object (out);
    g_assert_true (g_str_has_prefix (json_object_get_string_member (ev, "event"), "session_"));
    g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (ev, "session"), "id"), ==, other);
    g_clear_pointer (&out, g_free);
  }
  /* --seconds bounds a watch. */
  {
    gint64 start = g_get_monotonic_time ();

    g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "watch", "--sessions", "--seconds", "1"), ==, 0);
    g_assert_cmpint (g_get_monotonic_time () - start, <, 10 * G_USEC_PER_SEC);
    g_assert_true (g_str_has_prefix (out, "TIME"));
    g_clear_pointer (&out, g_free);
  }

  /* unsubscribe, then kick */
  g_assert_cmpint (ctl (NULL, NULL, "--socket", d.socket, "unsubscribe", client, "news"), ==, 0);
  g_assert_cmpuint (client_wait (fd, "\"unsubscribe\""), ==, 0);
  g_assert_cmpint (ctl (NULL, NULL, "--socket", d.socket, "unsubscribe", client, "news"), ==, 1);
  g_assert_cmpint (ctl (NULL, NULL, "--socket", d.socket, "kick", "nope"), ==, 1);
  g_assert_cmpint (ctl (&out, NULL, "--socket", d.socket, "kick", client, "--no-reconnect", "--reason", "bye"), ==, 0);
  g_assert_nonnull (strstr (out, "kicked 1 session"));
  g_assert_cmpuint (client_wait (fd, NULL), ==, 3503);
  close (fd);

  crierd_stop (&d);
}

/* TCP: the token decides (exit 4 when refused). */
static void
test_tcp_token (void)
{
  g_autofree char *dir = g_dir_make_tmp ("crierctl-test-XXXXXX", NULL);
  g_autofree char *socket = g_build_filename (dir, "admin.sock", NULL);
  g_autofree char *socket_set = g_strdup_printf ("admin.socket=%s", socket);
  const char * const overrides[] = { socket_set, "admin.token=sekret", "admin.listen=127.0.0.1:0", NULL };
  CrierServer *server = test_server_new (overrides);
  g_autofree char *host = g_strdup_printf ("127.0.0.1:%u", crier_admin_get_tcp_port (crier_server_get_admin (server)));
  const char * const good_env[] = { "CRIER_ADMIN_TOKEN=sekret", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  g_assert_cmpint (ctl (NULL, &err, "--host", host, "--token", "wrong", "stats"), ==, 4);
  g_assert_nonnull (strstr (err, "401"));
  g_assert_cmpint (ctl (&out, NULL, "--host", host, "--token", "sekret", "stats"), ==, 0);
  g_assert_nonnull (strstr (out, "connections"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl_env (good_env, &out, NULL, "--host", host, "version", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "crierd"));

  test_server_quit_unref (server);
  g_rmdir (dir);
}

/* alerts --follow: the listener-cap rule raises an alert while connections
 * are refused and resolves it 10 s later; both show up live, as text and
 * as JSON. */
static void
test_alerts_follow (void)
{
  g_autofree char *dir = g_dir_make_tmp ("crierctl-test-XXXXXX", NULL);
  g_autofree char *socket = g_build_filename (dir, "admin.sock", NULL);
  g_autofree char *socket_set = g_strdup_printf ("admin.socket=%s", socket);
  /* The admin connections count against the cap too. */
  const char * const overrides[] = { socket_set, "server.max_connections=3", NULL };
  CrierServer *server = test_server_new (overrides);
  CtlRun text = { 0 };
  CtlRun json = { 0 };
  g_autofree char *out = NULL;
  g_auto(GStrv) lines = NULL;
  int fds[3];

  ctl_spawn (&text, "--socket", socket, "alerts", "--follow", "--count", "2", NULL);
  g_assert_true (ctl_read (&text, "EXPLANATION", 10000));
  g_assert_true (g_str_has_prefix (text.buf[0]->str, "no alerts\n"));
  ctl_spawn (&json, "--socket", socket, "--json", "alerts", "--follow", "--count", "2", NULL);
  WAIT_UNTIL (crier_admin_get_n_clients (crier_server_get_admin (server)) == 2);
  /* Let the JSON follower's watch_alerts be answered before the alert. */
  {
    gint64 end = g_get_monotonic_time () + 500 * 1000;

    while (g_get_monotonic_time () < end)
      g_main_context_iteration (NULL, FALSE);
  }

  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    fds[i] = test_tcp_connect (crier_server_get_port (server));
  WAIT_UNTIL (crier_server_get_budget (server)->refused_cap > 0);
  g_assert_true (ctl_read (&text, " raised ", 5000));
  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    close (fds[i]);

  g_assert_cmpint (ctl_collect (&text, &out, NULL), ==, 0);
  lines = g_strsplit (out, "\n", -1);
  /* no alerts, blank, header, raised, resolved, "" */
  g_assert_cmpuint (g_strv_length (lines), ==, 6);
  g_assert_nonnull (strstr (lines[3], "raised"));
  g_assert_nonnull (strstr (lines[3], "warning"));
  g_assert_nonnull (strstr (lines[3], "refusals_per_s"));
  g_assert_nonnull (strstr (lines[4], "resolved"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&lines, g_strfreev);

  g_assert_cmpint (ctl_collect (&json, &out, NULL), ==, 0);
  lines = g_strsplit (out, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 3);
  {
    g_autoptr(JsonObject) raised = parse_object (lines[0]);
    g_autoptr(JsonObject) resolved = parse_object (lines[1]);

    g_assert_cmpstr (json_object_get_string_member (raised, "event"), ==, "alert_raised");
    g_assert_cmpstr (json_object_get_string_member (resolved, "event"), ==, "alert_resolved");
    g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (resolved, "alert"), "metric"),
                     ==, "refusals_per_s");
    g_assert_false (json_object_get_null_member (json_object_get_object_member (resolved, "alert"), "end_time"));
  }

  test_server_quit_unref (server);
  g_rmdir (dir);
}

/* An HS256 token for @user, signed with "test-secret". */
static char *
make_token (const char *user)
{
  g_autofree char *claims = g_strdup_printf ("{\"sub\":\"%s\"}", user);

  return test_hs256_token ("test-secret", claims);
}

/* A client of @user subscribed to "room"; returns the fd. */
static int
user_client_open (guint16     port,
                  const char *user)
{
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  g_autofree char *token = make_token (user);
  g_autofree char *connect = g_strdup_printf ("{\"id\":1,\"connect\":{\"token\":\"%s\"}}", token);
  static const char subscribe[] = "{\"id\":2,\"subscribe\":{\"channel\":\"room\"}}";
  guint8 op;
  int fd = test_tcp_connect (port);

  g_assert_true (test_ws_handshake (fd, "/connection/websocket", NULL));
  test_ws_send (fd, CRIER_WS_OP_TEXT, TRUE, connect, strlen (connect));
  g_assert_true (test_ws_read_frame (fd, &op, payload, 5000));
  g_assert_nonnull (g_strstr_len ((const char *) payload->data, payload->len, "\"connect\""));
  test_ws_send (fd, CRIER_WS_OP_TEXT, TRUE, subscribe, strlen (subscribe));
  g_assert_true (test_ws_read_frame (fd, &op, payload, 5000));
  g_assert_nonnull (g_strstr_len ((const char *) payload->data, payload->len, "\"subscribe\""));
  return fd;
}

/* channel NAME with presence on, and kick --user: every session of the
 * user goes with the code, the others stay. */
static void
test_presence_and_kick_user (void)
{
  g_autofree char *dir = g_dir_make_tmp ("crierctl-test-XXXXXX", NULL);
  g_autofree char *socket = g_build_filename (dir, "admin.sock", NULL);
  g_autofree char *socket_set = g_strdup_printf ("admin.socket=%s", socket);
  const char * const overrides[] = {
    socket_set, "auth.hmac_secret=test-secret", "channels.presence=true", NULL
  };
  CrierServer *server = test_server_new (overrides);
  guint16 port = crier_server_get_port (server);
  int alice1 = user_client_open (port, "alice");
  int alice2 = user_client_open (port, "alice");
  int bob = user_client_open (port, "bob");
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  g_assert_cmpint (ctl (&out, NULL, "--socket", socket, "channel", "room"), ==, 0);
  g_assert_nonnull (strstr (out, "presence: 3 clients, 2 users"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "--socket", socket, "--json", "channel", "room"), ==, 0);
  {
    g_autoptr(JsonObject) o = parse_object (out);
    JsonObject *presence = json_object_get_object_member (o, "presence");
    JsonArray *clients = json_object_get_array_member (presence, "clients");
    guint alices = 0;

    g_assert_cmpint (json_object_get_int_member (presence, "num_clients"), ==, 3);
    g_assert_cmpint (json_object_get_int_member (presence, "num_users"), ==, 2);
    g_assert_cmpuint (json_array_get_length (clients), ==, 3);
    for (guint i = 0; i < 3; i++)
      alices += g_str_equal (json_object_get_string_member (json_array_get_object_element (clients, i), "user"),
                             "alice");
    g_assert_cmpuint (alices, ==, 2);
  }
  g_clear_pointer (&out, g_free);

  g_assert_cmpint (ctl (&out, NULL, "--socket", socket, "kick", "--user", "carol"), ==, 0);
  g_assert_nonnull (strstr (out, "kicked 0 sessions"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "--socket", socket, "kick", "--user", "alice", "--code", "4011",
                        "--reason", "rotate"), ==, 0);
  g_assert_nonnull (strstr (out, "kicked 2 sessions (code 4011 \"rotate\", clients reconnect)"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpuint (client_wait (alice1, NULL), ==, 4011);
  g_assert_cmpuint (client_wait (alice2, NULL), ==, 4011);
  WAIT_UNTIL (crier_hub_get_stats (crier_server_get_hub (server))->sessions == 1);
  g_assert_cmpint (ctl (&out, NULL, "--socket", socket, "--json", "sessions"), ==, 0);
  {
    g_autoptr(JsonObject) o = parse_object (out);
    JsonArray *list = json_object_get_array_member (o, "sessions");

    g_assert_cmpuint (json_array_get_length (list), ==, 1);
    g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (list, 0), "user"), ==, "bob");
  }

  close (alice1);
  close (alice2);
  close (bob);
  test_server_quit_unref (server);
  g_rmdir (dir);
}

/* ---- TLS on the admin listener ------------------------------------------ */

/* crierctl over TLS: --tls/--ca-file and wss:// or https:// hosts; an
 * untrusted certificate and plain WebSocket to a TLS port both fail to
 * connect (exit 3), bad TLS options are usage errors (exit 2). */
static void
test_tls (void)
{
  g_autofree char *dir = g_dir_make_tmp ("crierctl-test-XXXXXX", NULL);
  g_autofree char *socket = g_build_filename (dir, "admin.sock", NULL);
  g_autofree char *cert = g_build_filename (dir, "cert.pem", NULL);
  g_autofree char *key = g_build_filename (dir, "key.pem", NULL);
  g_autofree char *other_cert = g_build_filename (dir, "other.pem", NULL);
  g_autofree char *other_key = g_build_filename (dir, "other-key.pem", NULL);
  g_autofree char *socket_set = g_strdup_printf ("admin.socket=%s", socket);
  g_autofree char *cert_set = g_strdup_printf ("tls.admin_cert_file=%s", cert);
  g_autofree char *key_set = g_strdup_printf ("tls.admin_key_file=%s", key);
  CrierServer *server;
  guint16 port;
  g_autofree char *host = NULL;
  g_autofree char *wss = NULL;
  g_autofree char *https = NULL;
  g_autofree char *ws = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  test_make_certificate (cert, key, "crierctl test", 7, FALSE);
  test_make_certificate (other_cert, other_key, "crierctl test", 7, FALSE);
  {
    const char * const overrides[] = {
      socket_set, key_set, cert_set, "tls.admin=true", "admin.token=sekret", "admin.listen=127.0.0.1:0", NULL
    };

    server = test_server_new (overrides);
  }
  port = crier_admin_get_tcp_port (crier_server_get_admin (server));
  host = g_strdup_printf ("127.0.0.1:%u", port);
  wss = g_strdup_printf ("wss://127.0.0.1:%u", port);
  https = g_strdup_printf ("https://localhost:%u/admin", port);
  ws = g_strdup_printf ("ws://127.0.0.1:%u", port);

  /* Trusting the server's certificate: every spelling works. */
  g_assert_cmpint (ctl (&out, NULL, "--host", host, "--tls", "--ca-file", cert, "--token", "sekret", "stats"), ==, 0);
  g_assert_nonnull (strstr (out, "connections"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "--host", host, "--ca-file", cert, "--token", "sekret", "--json", "stats"), ==, 0);
  {
    g_autoptr(JsonObject) o = parse_object (out);

    g_assert_true (json_object_has_member (o, "connections"));
  }
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "--host", wss, "--ca-file", cert, "--token", "sekret", "version"), ==, 0);
  g_assert_nonnull (strstr (out, "crierd " PACKAGE_VERSION));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "--host", https, "--ca-file", cert, "--token", "sekret", "alerts"), ==, 0);
  g_clear_pointer (&out, g_free);

  /* The token is still checked over TLS. */
  g_assert_cmpint (ctl (NULL, &err, "--host", wss, "--ca-file", cert, "--token", "wrong", "stats"), ==, 4);
  g_assert_nonnull (strstr (err, "401"));
  g_clear_pointer (&err, g_free);

  /* Another certificate as the only trust anchor, or the system store
   * (which does not know ours): the handshake is refused. */
  g_assert_cmpint (ctl (NULL, &err, "--host", wss, "--ca-file", other_cert, "--token", "sekret", "stats"), ==, 3);
  g_assert_nonnull (strstr (err, "TLS"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (NULL, &err, "--host", host, "--tls", "--token", "sekret", "stats"), ==, 3);
  g_assert_nonnull (strstr (err, "--ca-file"));
  g_clear_pointer (&err, g_free);

  /* Plain WebSocket to the TLS port gets no answer it understands. */
  g_assert_cmpint (ctl (NULL, &err, "--host", host, "--timeout", "5", "--token", "sekret", "stats"), ==, 3);
  g_clear_pointer (&err, g_free);

  /* Usage errors, before connecting. */
  g_assert_cmpint (ctl (NULL, &err, "--host", ws, "--tls", "--token", "sekret", "stats"), ==, 2);
  g_assert_nonnull (strstr (err, "plain"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (NULL, &err, "--tls", "--socket", socket, "stats"), ==, 2);
  g_assert_nonnull (strstr (err, "--host"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (NULL, &err, "--host", host, "--ca-file", "/nonexistent.pem", "--token", "sekret", "stats"), ==, 2);
  g_assert_nonnull (strstr (err, "/nonexistent.pem"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (NULL, &err, "--host", key, "--token", "sekret", "stats"), ==, 2);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (NULL, &err, "--host", "ftp://127.0.0.1:1", "--token", "sekret", "stats"), ==, 2);
  g_assert_nonnull (strstr (err, "wss://"));
  g_clear_pointer (&err, g_free);
  /* A file that is not PEM. */
  g_assert_true (g_file_set_contents (other_key, "not a certificate\n", -1, NULL));
  g_assert_cmpint (ctl (NULL, &err, "--host", wss, "--ca-file", other_key, "--token", "sekret", "stats"), !=, 0);
  g_clear_pointer (&err, g_free);

  test_server_quit_unref (server);
  g_unlink (cert);
  g_unlink (key);
  g_unlink (other_cert);
  g_unlink (other_key);
  g_rmdir (dir);
}

int
main (int   argc,
      char *argv[])
{
  test_init (&argc, &argv);

  g_test_add_func ("/crierctl/usage", test_usage);
  g_test_add_func ("/crierctl/cannot-connect", test_cannot_connect);
  g_test_add_func ("/crierctl/detect", test_detect);
  g_test_add_func ("/crierctl/against-crierd", test_against_crierd);
  g_test_add_func ("/crierctl/tcp-token", test_tcp_token);
  g_test_add_func ("/crierctl/tls", test_tls);
  g_test_add_func ("/crierctl/alerts-follow", test_alerts_follow);
  g_test_add_func ("/crierctl/presence-and-kick-user", test_presence_and_kick_user);

  return g_test_run ();
}
