/* crier-timer-wheel.h: one hashed timing wheel for every connection timer.
 *
 * Pings, pong timeouts, stale-connect deadlines and expiry checks of
 * thousands of connections cost one node each here instead of one GSource
 * each.  Deadlines are rounded up to the wheel's resolution; a node whose
 * deadline lies beyond one turn of the wheel simply waits for its turn
 * (its remaining rounds are derived from the deadline).
 */
#pragma once

#include <glib.h>

#include "crier-types.h"

G_BEGIN_DECLS

struct _CrierTimerNode
{
  CrierTimerNode *next;
  CrierTimerNode *prev;
  gint64          deadline;   /* ms, monotonic; 0 when not scheduled */
};

typedef void (*CrierTimerFunc) (CrierTimerNode *node,
                                gint64          now_ms,
                                gpointer        user_data);

struct _CrierTimerWheel
{
  CrierTimerNode *slots;      /* n_slots list heads (sentinels) */
  guint           n_slots;    /* power of two */
  gint64          resolution; /* ms per slot */
  gint64          current;    /* tick number processed up to */
  guint           n_nodes;
};

void      crier_timer_wheel_init      (CrierTimerWheel *wheel,
                                       guint            n_slots,
                                       gint64           resolution_ms,
                                       gint64           now_ms);
void      crier_timer_wheel_clear     (CrierTimerWheel *wheel);

/* (Re)schedule @node at @deadline_ms (a past deadline fires at the next
 * advance). */
void      crier_timer_wheel_schedule  (CrierTimerWheel *wheel,
                                       CrierTimerNode  *node,
                                       gint64           deadline_ms);
void      crier_timer_wheel_cancel    (CrierTimerWheel *wheel,
                                       CrierTimerNode  *node);
static inline gboolean
crier_timer_node_is_scheduled (const CrierTimerNode *node)
{
  return node->next != NULL;
}

/* Fire every node whose deadline is <= @now_ms, in deadline order within a
 * slot; the node is unscheduled before @func runs, so @func may schedule it
 * again or free it. Returns the number fired. */
guint     crier_timer_wheel_advance   (CrierTimerWheel *wheel,
                                       gint64           now_ms,
                                       CrierTimerFunc   func,
                                       gpointer         user_data);

/* Earliest time worth waking up for (a slot boundary), or -1 when empty. */
gint64    crier_timer_wheel_next_wakeup (const CrierTimerWheel *wheel);

G_END_DECLS
