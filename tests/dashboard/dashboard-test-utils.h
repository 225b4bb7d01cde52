/* dashboard-test-utils.h: real processes for the dashboard's end-to-end
 * tests: crierd, redis-server and crier-dashboard --test-driver, each
 * stopped by its PID, and bounded waits that iterate the main context.
 * (test-dashboard-integration.c predates these and keeps its own.) */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define DASH_TIMEOUT_SECONDS 40

typedef struct
{
  GSubprocess *process;
  char        *dir;       /* temporary, removed by dash_crierd_stop () */
  char        *socket;    /* admin socket */
  char        *log;
  guint16      port;      /* first client listener */
  guint16      admin_port; /* admin TCP listener, 0 without one */
} DashCrierd;

typedef struct
{
  GSubprocess      *process;
  GOutputStream    *to;
  GDataInputStream *from;
  GPtrArray        *lines;   /* everything it printed */
  gboolean          eof;
} DashDashboard;

/* Iterates the default main context until @cond or DASH_TIMEOUT_SECONDS,
 * then asserts @cond. */
#define DASH_WAIT_UNTIL(cond)                                                 \
  G_STMT_START {                                                              \
    gint64 dash_deadline_ = g_get_monotonic_time () +                         \
                            DASH_TIMEOUT_SECONDS * G_USEC_PER_SEC;            \
    guint dash_poll_id_ = g_timeout_add (20, dash_poll_cb, NULL);             \
    while (!(cond) && g_get_monotonic_time () < dash_deadline_)               \
      g_main_context_iteration (NULL, TRUE);                                  \
    g_source_remove (dash_poll_id_);                                          \
    g_assert_true (cond);                                                     \
  } G_STMT_END

gboolean dash_poll_cb (gpointer user_data);

/* crierd with an admin socket in a new temporary directory and these
 * extra --set overrides (NULL-terminated); waits for its listeners. */
void     dash_crierd_start   (DashCrierd          *d,
                              const char * const  *overrides);
void     dash_crierd_stop    (DashCrierd          *d);

/* A free loopback port below 32768 (outside the ephemeral range). */
guint16  dash_free_port      (void);
/* redis-server on 127.0.0.1:@port; NULL when it is not installed. */
GSubprocess *dash_redis_start (guint16             port,
                               const char         *dir);
void     dash_process_stop   (GSubprocess         *process);

/* crier-dashboard --test-driver with $XDG_CONFIG_HOME=@config_dir and
 * --admin-socket @address when not NULL. */
void     dash_dashboard_start (DashDashboard      *dash,
                               const char         *config_dir,
                               const char         *address);
/* Sends a command and waits for its "ok"; the lines in between. */
GStrv    dash_command         (DashDashboard      *dash,
                               const char         *format,
                               ...) G_GNUC_PRINTF (2, 3);
/* The value of KEY=VALUE among @lines (the first match), or NULL; a line
 * may hold several space-separated pairs. */
char    *dash_value_of        (GStrv               lines,
                               const char         *prefix,
                               const char         *key);
/* quit, exit status 0, and nothing logged at warning level. */
void     dash_dashboard_quit  (DashDashboard      *dash);

G_END_DECLS
