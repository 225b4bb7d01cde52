/* crier-log.h: structured logging for crierd.
 *
 * Under systemd (stderr connected to the journal) records go to journald
 * with their fields; otherwise one line each on stderr:
 *   2026-11-28T10:58:40.123Z crierd[1234] <info> listening on 0.0.0.0:8000
 * The level threshold comes from [server] log_level and can be reloaded.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* "debug", "info", "message", "warning"; FALSE for anything else. */
gboolean crier_log_set_level    (const char *level);
void     crier_log_init         (const char *program);
/* Lines dropped because stderr could not take them at once (a stalled
 * pipe, a full disk): logging never blocks the server. */
guint64  crier_log_get_dropped  (void);

G_END_DECLS
