/* test-utils.h: helpers shared by the GLib tests.
 *
 * test_init() makes the environment hermetic; test_server_new() runs a
 * CrierServer on 127.0.0.1 port 0 on the test's own main context;
 * test_server_quit_unref() asserts nothing else holds a reference.
 * WAIT_UNTIL(cond) iterates the main context instead of sleeping.
 */
#pragma once

#include <libsoup/soup.h>

#include "crier-server.h"

G_BEGIN_DECLS

void          test_init              (int          *argc,
                                      char       ***argv);

/* @overrides: NULL-terminated "section.key=value" settings applied over
 * the defaults (listen is forced to 127.0.0.1:0, debug endpoints on). */
CrierServer  *test_server_new        (const char * const *overrides);
void          test_server_quit_unref (CrierServer  *server);
char         *test_server_url        (CrierServer  *server,
                                      const char   *scheme,
                                      const char   *path);

/* Iterate the default context until @cond or @timeout_ms; FALSE on timeout. */
#define WAIT_UNTIL_TIMEOUT(cond, timeout_ms)                                   \
  G_STMT_START {                                                               \
    gint64 _deadline = g_get_monotonic_time () + (timeout_ms) * 1000;          \
    while (!(cond) && g_get_monotonic_time () < _deadline)                     \
      if (!g_main_context_iteration (NULL, FALSE))                             \
        g_usleep (500);                                                        \
    if (!(cond))                                                               \
      g_error ("%s:%d: timed out waiting for %s", __FILE__, __LINE__, #cond);   \
  } G_STMT_END
#define WAIT_UNTIL(cond) WAIT_UNTIL_TIMEOUT (cond, 10000)

/* Raw TCP client to 127.0.0.1:@port (blocking fd with a receive timeout). */
int           test_tcp_connect       (guint16       port);
/* Raw WebSocket handshake on @fd; returns TRUE on 101. */
gboolean      test_ws_handshake      (int           fd,
                                      const char   *path,
                                      const char   *extra_headers);
/* Read one whole server frame (blocking, with timeout); opcode and
 * payload out; FALSE on EOF/timeout. */
gboolean      test_ws_read_frame     (int           fd,
                                      guint8       *opcode,
                                      GByteArray   *payload,
                                      int           timeout_ms);
void          test_ws_send           (int           fd,
                                      guint8        opcode,
                                      gboolean      fin,
                                      const void   *data,
                                      gsize         len);
/* TRUE when the peer closed (EOF or reset) within @timeout_ms. */
gboolean      test_fd_wait_eof       (int           fd,
                                      int           timeout_ms);
/* Blocking HTTP/1.0-style request; returns status and body. */
guint         test_http_request      (guint16       port,
                                      const char   *method,
                                      const char   *path,
                                      const char   *body,
                                      char        **response_body);
/* Current RSS of this process in KiB. */
gint64        test_rss_kib           (void);

/* Sends @request (@len bytes: a whole HTTP/1.1 request, headers and body,
 * best with "Connection: close") as is and reads the response until the
 * server closes; returns the status (0 if none) and, when asked, the
 * header block and the body. */
guint         test_http_raw          (guint16       port,
                                      const char   *request,
                                      gsize         len,
                                      char        **response_headers,
                                      char        **response_body);

/* A JWT over @claims (JSON text) signed HS256 with @secret. */
char *test_hs256_token (const char *secret,
                        const char *claims);

G_END_DECLS
