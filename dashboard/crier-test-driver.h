/* crier-test-driver.h: drives the dashboard from a test (--test-driver).
 *
 * Reads one command per line from standard input, runs it through the
 * UI's own actions and answers on standard output with machine-readable
 * lines, the last one "ok CMD" or "error CMD: why".  Commands:
 *
 *   wait-connected            until the admin client is connected
 *   state                     state=connected|connecting|error|disconnected
 *                             and reason=NICK (CrierAdminClientReason)
 *   wait-reason NICK          until the client is in error for that reason
 *   connect ADDRESS TOKEN tls|plain [CA_FILE]
 *                             the connection dialog, filled in (TOKEN "-"
 *                             for none) and applied
 *   trust-certificate         win.trust-certificate; fingerprint=FP as the
 *                             dialog shows it, answered "trust"
 *   connections               connections=N as the Overview tile shows it
 *   samples                   samples=N in the connections graph
 *   sessions                  sessions=N in the session list (sessions-shown=N)
 *   wait-sessions N           until the list holds N sessions
 *   page NAME                 win.show-page NAME
 *   kick-first                select the first row, sessions.kick, answer
 *                             the dialog with "kick"; kicked=ID
 *   broadcast CHANNEL JSON    win.broadcast, fill in, broadcast.send;
 *                             reached=N and result=...
 *   close-broadcast           closes the broadcast dialog
 *   channels                  channels=N (select-channel I selects one)
 *   alerts                    alerts=N active=M, then alert=METRIC EXPLANATION
 *   wait-alert METRIC         until an alert of METRIC is listed
 *   nodes                     nodes=N shared=B total-nodes=T
 *                             total-connections=C as the tiles show them,
 *                             then node=ID self=0|1 connections=N age=S
 *                             name=NAME per row
 *   wait-nodes [N]            until a list_nodes reply newer than the
 *                             command (that lists N nodes)
 *   screenshot PATH           the main window, after two more frames
 *   screenshot-broadcast PATH the broadcast dialog
 *   screenshot-connect PATH   the connection dialog as it opens (closed
 *                             after the picture)
 *   bench N                   N fake sessions: insertion, scrolling and
 *                             filtering frame times (bench-* lines)
 *   quit                      app.quit
 */
#pragma once

#include "crier-window.h"

G_BEGIN_DECLS

typedef struct _CrierTestDriver CrierTestDriver;

CrierTestDriver *crier_test_driver_new  (CrierWindow     *window);
void             crier_test_driver_free (CrierTestDriver *self);

G_END_DECLS
