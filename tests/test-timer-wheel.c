/* test-timer-wheel.c: the hashed timing wheel. */
#include "config.h"

#include "crier-timer-wheel.h"

typedef struct
{
  CrierTimerNode node;
  gint64         fired_at;
  guint          fired;
  gint64         deadline;
} Timer;

static void
record (CrierTimerNode *node,
        gint64          now,
        gpointer        user_data)
{
  Timer *t = (Timer *) node;
  GPtrArray *order = user_data;

  t->fired_at = now;
  t->fired++;
  if (order != NULL)
    g_ptr_array_add (order, t);
}

static void
test_fires_not_before_deadline (void)
{
  CrierTimerWheel w;
  Timer t = { 0 };

  crier_timer_wheel_init (&w, 64, 10, 1000);
  crier_timer_wheel_schedule (&w, &t.node, 1055);
  g_assert_true (crier_timer_node_is_scheduled (&t.node));

  g_assert_cmpuint (crier_timer_wheel_advance (&w, 1050, record, NULL), ==, 0);
  g_assert_cmpuint (t.fired, ==, 0);
  g_assert_cmpuint (crier_timer_wheel_advance (&w, 1054, record, NULL), ==, 0);
  g_assert_cmpuint (crier_timer_wheel_advance (&w, 1060, record, NULL), ==, 1);
  g_assert_cmpuint (t.fired, ==, 1);
  g_assert_cmpint (t.fired_at, >=, 1055);
  g_assert_false (crier_timer_node_is_scheduled (&t.node));
  g_assert_cmpint (crier_timer_wheel_next_wakeup (&w), ==, -1);
  crier_timer_wheel_clear (&w);
}

static void
test_beyond_one_turn (void)
{
  CrierTimerWheel w;
  Timer t = { 0 };

  /* 16 slots of 10 ms = 160 ms per turn; a deadline 1 s out waits for
   * several turns without firing early. */
  crier_timer_wheel_init (&w, 16, 10, 0);
  crier_timer_wheel_schedule (&w, &t.node, 1000);
  for (gint64 now = 10; now < 1000; now += 10)
    {
      crier_timer_wheel_advance (&w, now, record, NULL);
      g_assert_cmpuint (t.fired, ==, 0);
    }
  crier_timer_wheel_advance (&w, 1000, record, NULL);
  g_assert_cmpuint (t.fired, ==, 1);
  crier_timer_wheel_clear (&w);
}

static void
test_long_stall (void)
{
  CrierTimerWheel w;
  Timer t[3] = { 0 };

  crier_timer_wheel_init (&w, 16, 10, 0);
  crier_timer_wheel_schedule (&w, &t[0].node, 20);
  crier_timer_wheel_schedule (&w, &t[1].node, 150);
  crier_timer_wheel_schedule (&w, &t[2].node, 100000);
  /* The loop was blocked for 5 s: everything due fires once, the rest
   * stays. */
  g_assert_cmpuint (crier_timer_wheel_advance (&w, 5000, record, NULL), ==, 2);
  g_assert_cmpuint (t[0].fired, ==, 1);
  g_assert_cmpuint (t[1].fired, ==, 1);
  g_assert_cmpuint (t[2].fired, ==, 0);
  g_assert_true (crier_timer_node_is_scheduled (&t[2].node));
  crier_timer_wheel_clear (&w);
  g_assert_false (crier_timer_node_is_scheduled (&t[2].node));
}

static void
test_cancel_and_reschedule (void)
{
  CrierTimerWheel w;
  Timer a = { 0 }, b = { 0 };

  crier_timer_wheel_init (&w, 64, 10, 0);
  crier_timer_wheel_schedule (&w, &a.node, 50);
  crier_timer_wheel_schedule (&w, &b.node, 50);
  crier_timer_wheel_cancel (&w, &a.node);
  crier_timer_wheel_cancel (&w, &a.node); /* twice is harmless */
  crier_timer_wheel_schedule (&w, &b.node, 200); /* moves, not duplicates */
  g_assert_cmpuint (w.n_nodes, ==, 1);
  crier_timer_wheel_advance (&w, 100, record, NULL);
  g_assert_cmpuint (a.fired + b.fired, ==, 0);
  crier_timer_wheel_advance (&w, 200, record, NULL);
  g_assert_cmpuint (b.fired, ==, 1);
  g_assert_cmpuint (a.fired, ==, 0);
  crier_timer_wheel_clear (&w);
}

static void
resched_cb (CrierTimerNode *node,
            gint64          now,
            gpointer        user_data)
{
  CrierTimerWheel *w = user_data;
  Timer *t = (Timer *) node;

  t->fired++;
  if (t->fired < 5)
    crier_timer_wheel_schedule (w, node, now + 10);
}

static void
test_reschedule_from_callback (void)
{
  CrierTimerWheel w;
  Timer t = { 0 };

  crier_timer_wheel_init (&w, 8, 10, 0);
  crier_timer_wheel_schedule (&w, &t.node, 10);
  for (gint64 now = 10; now <= 200; now += 10)
    crier_timer_wheel_advance (&w, now, resched_cb, &w);
  g_assert_cmpuint (t.fired, ==, 5);
  g_assert_false (crier_timer_node_is_scheduled (&t.node));
  crier_timer_wheel_clear (&w);
}

static void
test_many_random (void)
{
  CrierTimerWheel w;
  g_autofree Timer *timers = g_new0 (Timer, 10000);
  g_autoptr(GRand) rand = g_rand_new_with_seed (42);

  crier_timer_wheel_init (&w, 256, 5, 0);
  for (guint i = 0; i < 10000; i++)
    {
      timers[i].deadline = g_rand_int_range (rand, 1, 30000);
      crier_timer_wheel_schedule (&w, &timers[i].node, timers[i].deadline);
    }
  for (gint64 now = 0; now <= 30000; now += g_rand_int_range (rand, 1, 40))
    crier_timer_wheel_advance (&w, now, record, NULL);
  crier_timer_wheel_advance (&w, 30000, record, NULL);
  for (guint i = 0; i < 10000; i++)
    {
      g_assert_cmpuint (timers[i].fired, ==, 1);
      /* never early; late by at most one advance step (40) plus a slot */
      g_assert_cmpint (timers[i].fired_at, >=, timers[i].deadline);
      g_assert_cmpint (timers[i].fired_at, <=, timers[i].deadline + 45);
    }
  g_assert_cmpuint (w.n_nodes, ==, 0);
  crier_timer_wheel_clear (&w);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/timer-wheel/not-before-deadline", test_fires_not_before_deadline);
  g_test_add_func ("/timer-wheel/beyond-one-turn", test_beyond_one_turn);
  g_test_add_func ("/timer-wheel/long-stall", test_long_stall);
  g_test_add_func ("/timer-wheel/cancel-reschedule", test_cancel_and_reschedule);
  g_test_add_func ("/timer-wheel/reschedule-from-callback", test_reschedule_from_callback);
  g_test_add_func ("/timer-wheel/many-random", test_many_random);
  return g_test_run ();
}
