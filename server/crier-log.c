/* crier-log.c: a GLogWriterFunc with a level threshold (see the header).
 *
 * Logging must never stop the server: a line is written only when stderr
 * can take it at once (poll for POLLOUT, then one write(2) of at most
 * PIPE_BUF bytes, which a pipe with room accepts whole without blocking).
 * A pipe whose reader stalled, a full disk (ENOSPC) or a closed reader
 * (EPIPE; SIGPIPE is ignored) drops the line and counts it; the next line
 * that gets through is preceded by a note of how many were lost.
 */
#include "config.h"

#include "crier-log.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static GLogLevelFlags threshold = G_LOG_LEVEL_INFO;
static gboolean to_journal;
static char *program_name;
static guint64 dropped;            /* lines lost, since start */
static guint64 dropped_reported;   /* ... of which a note was written */

guint64
crier_log_get_dropped (void)
{
  return dropped;
}

/* One write, never blocking on a pipe or terminal; FALSE when dropped. */
static gboolean
write_line (const char *line,
            gsize       len)
{
  struct pollfd p = { .fd = STDERR_FILENO, .events = POLLOUT };
  ssize_t n;

  if (len > PIPE_BUF)
    len = PIPE_BUF;
  if (poll (&p, 1, 0) != 1 || (p.revents & (POLLERR | POLLNVAL | POLLHUP)) != 0 ||
      (p.revents & POLLOUT) == 0)
    return FALSE;
  do
    n = write (STDERR_FILENO, line, len);
  while (n < 0 && errno == EINTR);
  return n > 0;
}

gboolean
crier_log_set_level (const char *level)
{
  if (g_strcmp0 (level, "debug") == 0)
    threshold = G_LOG_LEVEL_DEBUG;
  else if (g_strcmp0 (level, "info") == 0)
    threshold = G_LOG_LEVEL_INFO;
  else if (g_strcmp0 (level, "message") == 0)
    threshold = G_LOG_LEVEL_MESSAGE;
  else if (g_strcmp0 (level, "warning") == 0)
    threshold = G_LOG_LEVEL_WARNING;
  else
    return FALSE;
  return TRUE;
}

static const char *
level_name (GLogLevelFlags level)
{
  if (level & G_LOG_LEVEL_ERROR)
    return "error";
  if (level & G_LOG_LEVEL_CRITICAL)
    return "critical";
  if (level & G_LOG_LEVEL_WARNING)
    return "warning";
  if (level & G_LOG_LEVEL_MESSAGE)
    return "notice";
  if (level & G_LOG_LEVEL_INFO)
    return "info";
  return "debug";
}

static GLogWriterOutput
crier_log_writer (GLogLevelFlags   log_level,
                  const GLogField *fields,
                  gsize            n_fields,
                  gpointer         user_data)
{
  const char *message = NULL;
  const char *domain = NULL;
  GLogLevelFlags level = log_level & G_LOG_LEVEL_MASK;
  g_autoptr(GDateTime) now = NULL;
  g_autofree char *stamp = NULL;

  /* GLib's levels run from ERROR (1<<2) up to DEBUG (1<<7): higher bit,
   * less important. */
  if (level > threshold)
    return G_LOG_WRITER_HANDLED;

  if (to_journal && g_log_writer_journald (log_level, fields, n_fields, user_data) == G_LOG_WRITER_HANDLED)
    return G_LOG_WRITER_HANDLED;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
        message = fields[i].value;
      else if (g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0)
        domain = fields[i].value;
    }

  now = g_date_time_new_now_utc ();
  stamp = g_date_time_format (now, "%Y-%m-%dT%H:%M:%S");
  if (dropped > dropped_reported)
    {
      g_autofree char *note = g_strdup_printf ("%s.%03dZ %s[%d] <warning> %" G_GUINT64_FORMAT
                                               " log lines dropped (stderr full or not read)\n",
                                               stamp, g_date_time_get_microsecond (now) / 1000,
                                               program_name ? program_name : "crierd", (int) getpid (),
                                               dropped - dropped_reported);

      if (!write_line (note, strlen (note)))
        {
          dropped++;
          return G_LOG_WRITER_HANDLED;
        }
      dropped_reported = dropped;
    }
  {
    g_autofree char *line = g_strdup_printf ("%s.%03dZ %s[%d] <%s>%s%s%s %s\n",
                                             stamp, g_date_time_get_microsecond (now) / 1000,
                                             program_name ? program_name : "crierd", (int) getpid (),
                                             level_name (level),
                                             domain ? " " : "", domain ? domain : "", domain ? ":" : "",
                                             message ? message : "");

    if (!write_line (line, strlen (line)))
      dropped++;
  }

  return G_LOG_WRITER_HANDLED;
}

void
crier_log_init (const char *program)
{
  g_free (program_name);
  program_name = g_strdup (program);
  to_journal = g_log_writer_is_journald (fileno (stderr));
  /* A log reader that went away must not kill the server. */
  signal (SIGPIPE, SIG_IGN);
  g_log_set_writer_func (crier_log_writer, NULL, NULL);
}
