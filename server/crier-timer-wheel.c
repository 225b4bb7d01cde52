/* crier-timer-wheel.c: hashed timing wheel (see the header). */
#include "config.h"

#include "crier-timer-wheel.h"

static inline gint64
tick_of (const CrierTimerWheel *wheel,
         gint64                 ms)
{
  /* Round up so that a node never fires before its deadline. */
  return (ms + wheel->resolution - 1) / wheel->resolution;
}

void
crier_timer_wheel_init (CrierTimerWheel *wheel,
                        guint            n_slots,
                        gint64           resolution_ms,
                        gint64           now_ms)
{
  guint n = 1;

  g_return_if_fail (resolution_ms > 0);

  while (n < n_slots)
    n <<= 1;

  wheel->n_slots = n;
  wheel->resolution = resolution_ms;
  wheel->slots = g_new0 (CrierTimerNode, n);
  for (guint i = 0; i < n; i++)
    wheel->slots[i].next = wheel->slots[i].prev = &wheel->slots[i];
  wheel->current = now_ms / resolution_ms;
  wheel->n_nodes = 0;
}

void
crier_timer_wheel_clear (CrierTimerWheel *wheel)
{
  if (wheel->slots == NULL)
    return;

  for (guint i = 0; i < wheel->n_slots; i++)
    {
      CrierTimerNode *head = &wheel->slots[i];

      while (head->next != head)
        crier_timer_wheel_cancel (wheel, head->next);
    }

  g_clear_pointer (&wheel->slots, g_free);
}

void
crier_timer_wheel_cancel (CrierTimerWheel *wheel,
                          CrierTimerNode  *node)
{
  if (node->next == NULL)
    return;

  node->prev->next = node->next;
  node->next->prev = node->prev;
  node->next = node->prev = NULL;
  node->deadline = 0;
  wheel->n_nodes--;
}

void
crier_timer_wheel_schedule (CrierTimerWheel *wheel,
                            CrierTimerNode  *node,
                            gint64           deadline_ms)
{
  gint64 tick;
  CrierTimerNode *head;

  crier_timer_wheel_cancel (wheel, node);

  tick = tick_of (wheel, deadline_ms);
  if (tick <= wheel->current)
    tick = wheel->current + 1;

  head = &wheel->slots[tick & (wheel->n_slots - 1)];
  node->deadline = MAX (deadline_ms, 1);
  node->prev = head->prev;
  node->next = head;
  head->prev->next = node;
  head->prev = node;
  wheel->n_nodes++;
}

guint
crier_timer_wheel_advance (CrierTimerWheel *wheel,
                           gint64           now_ms,
                           CrierTimerFunc   func,
                           gpointer         user_data)
{
  gint64 target = now_ms / wheel->resolution;
  guint fired = 0;

  /* After a long stall, one full turn visits every slot once. */
  if (target - wheel->current > wheel->n_slots)
    wheel->current = target - wheel->n_slots;

  while (wheel->current < target && wheel->n_nodes > 0)
    {
      CrierTimerNode *head;
      CrierTimerNode pending;

      wheel->current++;
      head = &wheel->slots[wheel->current & (wheel->n_slots - 1)];
      if (head->next == head)
        continue;

      /* Move due nodes to a private list first: callbacks may reschedule
       * into this very slot. */
      pending.next = pending.prev = &pending;
      for (CrierTimerNode *n = head->next, *next; n != head; n = next)
        {
          next = n->next;
          if (n->deadline > now_ms)
            continue;
          n->prev->next = n->next;
          n->next->prev = n->prev;
          n->prev = pending.prev;
          n->next = &pending;
          pending.prev->next = n;
          pending.prev = n;
        }

      while (pending.next != &pending)
        {
          CrierTimerNode *n = pending.next;

          n->prev->next = n->next;
          n->next->prev = n->prev;
          n->next = n->prev = NULL;
          n->deadline = 0;
          wheel->n_nodes--;
          fired++;
          func (n, now_ms, user_data);
        }
    }

  wheel->current = MAX (wheel->current, target);
  return fired;
}

gint64
crier_timer_wheel_next_wakeup (const CrierTimerWheel *wheel)
{
  if (wheel->n_nodes == 0)
    return -1;
  return (wheel->current + 1) * wheel->resolution;
}
