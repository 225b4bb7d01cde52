/* test-utils.c: see test-utils.h. */
#include "config.h"

#include "test-utils.h"

#include <arpa/inet.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crier-util.h"
#include "crier-ws-codec.h"

static const char *strict_domains[] = {
  NULL, "GLib", "GLib-GObject", "GLib-GIO", "GLib-Net", "libsoup", "Json", "crier-test",
};

void
test_init (int    *argc,
           char ***argv)
{
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
  g_setenv ("LANG", "C.UTF-8", TRUE);
  g_unsetenv ("XDG_RUNTIME_DIR");
  g_unsetenv ("http_proxy");
  g_unsetenv ("https_proxy");
  g_unsetenv ("no_proxy");
  g_test_init (argc, argv, NULL);
  /* crierd logs operational events (refusals, evictions, drains) as
   * warnings and tests provoke them on purpose; warnings from every other
   * domain stay fatal. */
  g_log_set_always_fatal (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL);
  for (guint i = 0; i < G_N_ELEMENTS (strict_domains); i++)
    g_log_set_fatal_mask (strict_domains[i], G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL);
}

static void
remove_admin_dir (gpointer data)
{
  g_autofree char *dir = data;
  g_autofree char *sock = g_build_filename (dir, "admin.sock", NULL);

  g_unlink (sock);
  g_rmdir (dir);
}

CrierServer *
test_server_new (const char * const *overrides)
{
  g_autoptr(GError) error = NULL;
  char *admin_dir = NULL;
  CrierConfig *config = crier_config_new ();
  CrierServer *server;

  g_assert_true (crier_config_set (config, "server.listen=127.0.0.1:0", &error));
  g_assert_no_error (error);
  g_assert_true (crier_config_set (config, "server.debug_endpoints=true", &error));
  {
    /* Hermetic: never the machine's default admin socket. */
    g_autofree char *dir = g_dir_make_tmp ("crier-test-XXXXXX", &error);
    g_autofree char *set = NULL;

    g_assert_no_error (error);
    set = g_strdup_printf ("admin.socket=%s/admin.sock", dir);
    g_assert_true (crier_config_set (config, set, &error));
    admin_dir = g_steal_pointer (&dir);
  }
  for (guint i = 0; overrides != NULL && overrides[i] != NULL; i++)
    {
      crier_config_set (config, overrides[i], &error);
      g_assert_no_error (error);
    }

  server = crier_server_new (config);
  g_object_set_data_full (G_OBJECT (server), "test-admin-dir", admin_dir, remove_admin_dir);
  crier_server_start (server, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (crier_server_get_port (server), >, 0);
  return server;
}

void
test_server_quit_unref (CrierServer *server)
{
  g_object_add_weak_pointer (G_OBJECT (server), (gpointer *) &server);
  g_object_unref (server);
  g_assert_null (server);
  /* Let libsoup finish closing what it still owned. */
  for (int i = 0; i < 100 && g_main_context_iteration (NULL, FALSE); i++)
    ;
}

char *
test_server_url (CrierServer *server,
                 const char  *scheme,
                 const char  *path)
{
  return g_strdup_printf ("%s://127.0.0.1:%u%s", scheme, crier_server_get_port (server), path);
}

int
test_tcp_connect (guint16 port)
{
  struct sockaddr_in addr = { 0 };
  struct timeval tv = { .tv_sec = 10 };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  addr.sin_family = AF_INET;
  addr.sin_port = htons (port);
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

static gboolean
wait_readable (int fd,
               int timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  /* The server may run on this thread's main context: keep iterating it
   * while we wait for its bytes. */
  while (g_get_monotonic_time () < deadline)
    {
      struct pollfd p = { .fd = fd, .events = POLLIN };

      if (poll (&p, 1, 1) > 0)
        return TRUE;
      while (g_main_context_iteration (NULL, FALSE))
        ;
    }
  return FALSE;
}

static gboolean
read_exact (int    fd,
            void  *buf,
            gsize  len,
            int    timeout_ms)
{
  guint8 *p = buf;

  while (len > 0)
    {
      ssize_t n;

      if (!wait_readable (fd, timeout_ms))
        return FALSE;
      n = recv (fd, p, len, 0);
      if (n <= 0)
        return FALSE;
      p += n;
      len -= n;
    }
  return TRUE;
}

gboolean
test_ws_handshake (int         fd,
                   const char *path,
                   const char *extra_headers)
{
  g_autofree char *req = g_strdup_printf ("GET %s HTTP/1.1\r\n"
                                          "Host: 127.0.0.1\r\n"
                                          "Upgrade: websocket\r\n"
                                          "Connection: Upgrade\r\n"
                                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                          "Sec-WebSocket-Version: 13\r\n"
                                          "%s\r\n",
                                          path, extra_headers ? extra_headers : "");
  GString *head = g_string_new (NULL);
  gboolean ok;

  g_assert_cmpint (send (fd, req, strlen (req), MSG_NOSIGNAL), ==, (gssize) strlen (req));

  /* Read byte by byte up to the blank line so no frame bytes are eaten. */
  while (!g_str_has_suffix (head->str, "\r\n\r\n"))
    {
      char c;

      if (!read_exact (fd, &c, 1, 10000))
        break;
      g_string_append_c (head, c);
    }

  ok = g_str_has_prefix (head->str, "HTTP/1.1 101") &&
       strstr (head->str, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != NULL;
  g_string_free (head, TRUE);
  return ok;
}

gboolean
test_ws_read_frame (int         fd,
                    guint8     *opcode,
                    GByteArray *payload,
                    int         timeout_ms)
{
  guint8 h[2];
  guint64 len;

  g_byte_array_set_size (payload, 0);
  if (!read_exact (fd, h, 2, timeout_ms))
    return FALSE;
  *opcode = h[0] & 0x0f;
  g_assert_false (h[1] & 0x80); /* server frames are never masked */
  len = h[1] & 0x7f;
  if (len == 126)
    {
      guint8 b[2];

      if (!read_exact (fd, b, 2, timeout_ms))
        return FALSE;
      len = (b[0] << 8) | b[1];
    }
  else if (len == 127)
    {
      guint8 b[8];

      if (!read_exact (fd, b, 8, timeout_ms))
        return FALSE;
      len = 0;
      for (int i = 0; i < 8; i++)
        len = (len << 8) | b[i];
    }
  g_byte_array_set_size (payload, len);
  return len == 0 || read_exact (fd, payload->data, len, timeout_ms);
}

void
test_ws_send (int         fd,
              guint8      opcode,
              gboolean    fin,
              const void *data,
              gsize       len)
{
  static const guint8 mask[4] = { 0x12, 0x34, 0x56, 0x78 };
  g_autoptr(GBytes) frame = crier_ws_client_frame_new (opcode, fin, mask, data, len);
  gsize size;
  const guint8 *p = g_bytes_get_data (frame, &size);

  g_assert_cmpint (send (fd, p, size, MSG_NOSIGNAL), ==, (gssize) size);
}

gboolean
test_fd_wait_eof (int fd,
                  int timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  guint8 buf[4096];

  while (g_get_monotonic_time () < deadline)
    {
      ssize_t n;

      if (!wait_readable (fd, 50))
        continue;
      n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        return TRUE;
    }
  return FALSE;
}

guint
test_http_request (guint16     port,
                   const char *method,
                   const char *path,
                   const char *body,
                   char      **response_body)
{
  int fd = test_tcp_connect (port);
  g_autofree char *req = g_strdup_printf ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                          "Content-Length: %zu\r\n\r\n%s",
                                          method, path, body ? strlen (body) : 0, body ? body : "");
  GString *resp = g_string_new (NULL);
  guint status = 0;
  const char *sep;

  g_assert_cmpint (send (fd, req, strlen (req), MSG_NOSIGNAL), ==, (gssize) strlen (req));
  for (;;)
    {
      char buf[4096];
      ssize_t n;

      if (!wait_readable (fd, 10000))
        break;
      n = recv (fd, buf, sizeof buf, 0);
      if (n <= 0)
        break;
      g_string_append_len (resp, buf, n);
    }
  close (fd);

  if (sscanf (resp->str, "HTTP/1.%*d %u", &status) != 1)
    status = 0;
  sep = strstr (resp->str, "\r\n\r\n");
  if (response_body != NULL)
    *response_body = g_strdup (sep ? sep + 4 : "");
  g_string_free (resp, TRUE);
  return status;
}

gint64
test_rss_kib (void)
{
  g_autofree char *status = NULL;
  const char *p;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return -1;
  p = strstr (status, "VmRSS:");
  return p ? g_ascii_strtoll (p + 6, NULL, 10) : -1;
}

guint
test_http_raw (guint16     port,
               const char *request,
               gsize       len,
               char      **response_headers,
               char      **response_body)
{
  int fd = test_tcp_connect (port);
  GString *resp = g_string_new (NULL);
  guint status = 0;
  const char *sep;

  g_assert_cmpint (send (fd, request, len, MSG_NOSIGNAL), ==, (gssize) len);
  for (;;)
    {
      char buf[4096];
      ssize_t n;

      if (!wait_readable (fd, 10000))
        break;
      n = recv (fd, buf, sizeof buf, 0);
      if (n <= 0)
        break;
      g_string_append_len (resp, buf, n);
    }
  close (fd);

  if (sscanf (resp->str, "HTTP/1.%*d %u", &status) != 1)
    status = 0;
  sep = strstr (resp->str, "\r\n\r\n");
  if (response_headers != NULL)
    *response_headers = sep ? g_strndup (resp->str, sep - resp->str + 2) : g_strdup (resp->str);
  if (response_body != NULL)
    *response_body = g_strdup (sep ? sep + 4 : "");
  g_string_free (resp, TRUE);
  return status;
}

char *
test_hs256_token (const char *secret,
                  const char *claims)
{
  static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  g_autofree char *h = crier_base64url_encode ((const guint8 *) header, strlen (header));
  g_autofree char *p = crier_base64url_encode ((const guint8 *) claims, strlen (claims));
  g_autofree char *input = g_strconcat (h, ".", p, NULL);
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, (const guchar *) secret, strlen (secret));
  guint8 digest[32];
  gsize len = sizeof digest;
  g_autofree char *signature = NULL;

  g_hmac_update (hmac, (const guchar *) input, -1);
  g_hmac_get_digest (hmac, digest, &len);
  signature = crier_base64url_encode (digest, len);
  return g_strconcat (input, ".", signature, NULL);
}
