/* fuzz-sse-cursor.c: the plain dialect's cursor parser
 * (crier_plain_cursor_parse in server/crier-dialect-plain.c), which reads
 * the SSE Last-Event-ID header and the long-poll cursor (ETag /
 * If-None-Match / ?cursor=) straight from clients.
 *
 * Input: the whole input, as a C string (a header value cannot hold NUL).
 *
 * What must hold for a parsed cursor: epochs use only [A-Za-z0-9_-]; the
 * unnamed EPOCH:OFFSET form stands alone; a session is non-empty hex;
 * crier_plain_cursor_find() finds each named position by its channel; and
 * writing the cursor back in its canonical form parses to the same cursor.
 */
#include "config.h"

#include "fuzz-common.h"

#include "crier-dialect-plain.h"

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  fuzz_init ();
  return 0;
}

static char *
cursor_to_string (const CrierPlainCursor *cursor)
{
  GString *s = g_string_new (NULL);

  if (cursor->session != NULL)
    g_string_append_printf (s, "%s.%" G_GUINT64_FORMAT "/", cursor->session, cursor->seq);
  for (guint i = 0; i < cursor->positions->len; i++)
    {
      const CrierPlainPosition *pos = g_ptr_array_index (cursor->positions, i);

      if (i > 0)
        g_string_append_c (s, ',');
      if (pos->channel != NULL)
        g_string_append_printf (s, "%s=", pos->channel);
      g_string_append_printf (s, "%s:%" G_GUINT64_FORMAT, pos->epoch, pos->offset);
    }
  return g_string_free (s, FALSE);
}

static void
check_cursor (const CrierPlainCursor *cursor)
{
  FUZZ_CHECK (cursor->positions != NULL);

  if (cursor->session != NULL)
    {
      FUZZ_CHECK (cursor->session[0] != '\0');
      for (const char *p = cursor->session; *p != '\0'; p++)
        FUZZ_CHECK (g_ascii_isxdigit (*p));
    }

  for (guint i = 0; i < cursor->positions->len; i++)
    {
      const CrierPlainPosition *pos = g_ptr_array_index (cursor->positions, i);
      const CrierPlainPosition *found;

      FUZZ_CHECK (pos->epoch != NULL);
      for (const char *p = pos->epoch; *p != '\0'; p++)
        FUZZ_CHECK (g_ascii_isalnum (*p) || *p == '-' || *p == '_');

      if (pos->channel == NULL)
        {
          FUZZ_CHECK (cursor->positions->len == 1);
          FUZZ_CHECK (crier_plain_cursor_find (cursor, "any") == pos);
          continue;
        }
      FUZZ_CHECK (pos->channel[0] != '\0');
      FUZZ_CHECK (strchr (pos->channel, ',') == NULL);
      found = crier_plain_cursor_find (cursor, pos->channel);
      FUZZ_CHECK (found != NULL && g_str_equal (found->channel, pos->channel));
    }
}

static gboolean
cursors_equal (const CrierPlainCursor *a,
               const CrierPlainCursor *b)
{
  if (g_strcmp0 (a->session, b->session) != 0 ||
      (a->session != NULL && a->seq != b->seq) ||
      a->positions->len != b->positions->len)
    return FALSE;
  for (guint i = 0; i < a->positions->len; i++)
    {
      const CrierPlainPosition *x = g_ptr_array_index (a->positions, i);
      const CrierPlainPosition *y = g_ptr_array_index (b->positions, i);

      if (g_strcmp0 (x->channel, y->channel) != 0 ||
          g_strcmp0 (x->epoch, y->epoch) != 0 ||
          x->offset != y->offset)
        return FALSE;
    }
  return TRUE;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *text = fuzz_strndup (data, size);
  g_autoptr(CrierPlainCursor) cursor = crier_plain_cursor_parse (text);
  g_autoptr(CrierPlainCursor) again = NULL;
  g_autofree char *canonical = NULL;

  if (cursor == NULL)
    return 0;

  check_cursor (cursor);
  canonical = cursor_to_string (cursor);
  again = crier_plain_cursor_parse (canonical);
  if (again == NULL || !cursors_equal (cursor, again))
    {
      g_printerr ("input:     %s\ncanonical: %s\n", text, canonical);
      FUZZ_CHECK (!"the canonical form parses to the same cursor");
    }
  return 0;
}
