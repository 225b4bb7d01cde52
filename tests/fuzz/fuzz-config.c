/* fuzz-config.c: the configuration loader (crier_config_load_data), the
 * --set parser (crier_config_set) and the dump they must agree with.
 *
 * Input: byte 0 holds flags (bit 0: dump with comments), the rest is
 * loaded as a crierd.conf; then each of its lines is applied as a
 * `crierd --set` assignment, used as a channel name and parsed as a listen
 * address.
 *
 * What must hold:
 *   - a failed load or set leaves the configuration unchanged, and its
 *     error is a CRIER_CONFIG_ERROR naming the file ("fuzz.conf:") or
 *     "--set";
 *   - a loaded or set configuration validates; after the load and after
 *     all the lines, its dump loads back into a fresh configuration equal
 *     to it (crier-config.h promises that round trip); a copy is equal.
 */
#include "config.h"

#include "fuzz-common.h"

#include "crier-config.h"

#define MAX_LINES 64

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  fuzz_init ();
  return 0;
}

static void
check_round_trip (const CrierConfig *config,
                  gboolean           comments)
{
  g_autoptr(CrierConfig) copy = crier_config_copy (config);
  g_autoptr(CrierConfig) fresh = crier_config_new ();
  g_autoptr(CrierConfig) running = crier_config_new ();
  g_autoptr(GPtrArray) not_reloaded = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *dump = crier_config_dump (config, comments);
  g_autofree char *masked = crier_config_dump_with_flags (config, CRIER_CONFIG_DUMP_MASK_SECRETS);

  FUZZ_CHECK (crier_config_validate (config, NULL));
  FUZZ_CHECK (crier_config_equal (config, copy));
  FUZZ_CHECK (masked != NULL);

  if (!crier_config_load_data (fresh, dump, -1, "dump", &error))
    {
      g_printerr ("the dump does not load back: %s\n%s\n", error->message, dump);
      FUZZ_CHECK (!"dump loads back");
    }
  if (!crier_config_equal (fresh, config))
    {
      g_autofree char *again = crier_config_dump (fresh, FALSE);

      g_printerr ("the dump loads back to another config:\n%s\n---\n%s\n", dump, again);
      FUZZ_CHECK (!"dump loads back equal");
    }

  crier_config_apply_reload (running, config, &not_reloaded);
  FUZZ_CHECK (not_reloaded != NULL);
  FUZZ_CHECK (crier_config_validate (running, NULL));
}

static void
check_error (const GError *error,
             const char   *prefix)
{
  FUZZ_CHECK (error != NULL);
  FUZZ_CHECK (error->domain == CRIER_CONFIG_ERROR);
  FUZZ_CHECK (g_str_has_prefix (error->message, prefix));
}

/* Returns TRUE when @line was applied. */
static gboolean
check_line (CrierConfig *config,
            const char  *line)
{
  g_autoptr(CrierConfig) before = crier_config_copy (config);
  g_autoptr(GError) error = NULL;
  const CrierNamespaceConfig *ns;
  g_autofree char *host = NULL;
  guint16 port = 0;
  gboolean applied;

  if ((applied = crier_config_set (config, line, &error)))
    {
      FUZZ_CHECK (crier_config_validate (config, NULL));
    }
  else
    {
      check_error (error, "--set");
      FUZZ_CHECK (crier_config_equal (config, before));
    }
  g_clear_error (&error);

  ns = crier_config_lookup_namespace (config, line);
  if (ns != NULL)
    (void) crier_config_channel_is_valid (ns, line);

  if (crier_config_parse_address (line, &host, &port, &error))
    FUZZ_CHECK (host != NULL);
  else
    FUZZ_CHECK (error != NULL);

  return applied;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(CrierConfig) config = crier_config_new ();
  g_autoptr(CrierConfig) before = crier_config_copy (config);
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;
  gboolean comments;
  gboolean changed = FALSE;

  if (size == 0)
    return 0;
  comments = (data[0] & 1) != 0;
  text = fuzz_strndup (data + 1, size - 1);

  /* With the real length: NULs inside must be refused, not cut at. */
  if (crier_config_load_data (config, text, (gssize) (size - 1), "fuzz.conf", &error))
    {
      check_round_trip (config, comments);
      changed = TRUE;
    }
  else
    {
      check_error (error, "fuzz.conf");
      FUZZ_CHECK (crier_config_equal (config, before));
    }

  /* The round trip once at the end (it is the slow part): a value set
   * by any line is still there unless a later line changed it. */
  lines = g_strsplit (text, "\n", MAX_LINES);
  for (guint i = 0; lines[i] != NULL; i++)
    if (check_line (config, lines[i]))
      changed = TRUE;
  if (changed)
    check_round_trip (config, comments);

  return 0;
}
