/* fuzz-common.h: what every libFuzzer target in tests/fuzz shares.
 *
 * Each target defines LLVMFuzzerTestOneInput() (and may define
 * LLVMFuzzerInitialize()); fuzz_init() makes GLib fuzzer friendly: plain
 * malloc for slices so AddressSanitizer sees every block, criticals fatal
 * (a g_return_if_fail() tripped by input is a bug), and no log output
 * (warnings about bad input are expected by the thousand).
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

G_BEGIN_DECLS

int  LLVMFuzzerInitialize   (int            *argc,
                             char         ***argv);
int  LLVMFuzzerTestOneInput (const uint8_t  *data,
                             size_t          size);

/* Aborts with a message, also in builds with G_DISABLE_ASSERT. */
#define FUZZ_CHECK(cond) \
  G_STMT_START { \
    if (G_UNLIKELY (!(cond))) \
      fuzz_fail (__FILE__, __LINE__, #cond); \
  } G_STMT_END

G_NORETURN static inline void
fuzz_fail (const char *file,
           int         line,
           const char *what)
{
  g_printerr ("%s:%d: invariant failed: %s\n", file, line, what);
  abort ();
}

static inline GLogWriterOutput
fuzz_log_writer (GLogLevelFlags   log_level,
                 const GLogField *fields,
                 gsize            n_fields,
                 gpointer         user_data)
{
  /* Criticals and errors are bugs: show them and abort here, as GLib
   * would stop with SIGTRAP, which libFuzzer does not catch (no crash
   * input would be saved).  Everything else is noise at thousands of runs
   * a second. */
  if ((log_level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR)) != 0)
    {
      g_log_writer_standard_streams (log_level, fields, n_fields, user_data);
      abort ();
    }
  return G_LOG_WRITER_HANDLED;
}

static inline void
fuzz_init (void)
{
  /* Plain malloc for GSlice (GLib 2.74 still has the magazine allocator,
   * which hides leaks and use-after-free from AddressSanitizer).  GLib
   * reads this on the first slice allocation; run-fuzzer.sh sets it too. */
  g_setenv ("G_SLICE", "always-malloc", TRUE);
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
  g_log_set_writer_func (fuzz_log_writer, NULL, NULL);
}

/* A NUL-terminated copy of @data (which may itself hold NULs). */
static inline char *
fuzz_strndup (const uint8_t *data,
              size_t         size)
{
  char *s = g_malloc (size + 1);

  if (size > 0)
    memcpy (s, data, size);
  s[size] = '\0';
  return s;
}

/* Unpadded base64url (RFC 4648 §5), as JWTs use it. */
static inline char *
fuzz_base64url (const void *data,
                gsize       len)
{
  char *s = g_base64_encode (data, len);
  gsize n = strlen (s);

  while (n > 0 && s[n - 1] == '=')
    s[--n] = '\0';
  for (gsize i = 0; i < n; i++)
    {
      if (s[i] == '+')
        s[i] = '-';
      else if (s[i] == '/')
        s[i] = '_';
    }
  return s;
}

/* A JWS compact token over raw @header and @payload bytes, signed with
 * HMAC-SHA256/384/512 (@bits) and @secret. */
static inline char *
fuzz_jwt_hs (guint       bits,
             const char *secret,
             const void *header,
             gsize       header_len,
             const void *payload,
             gsize       payload_len)
{
  GChecksumType type = bits == 512 ? G_CHECKSUM_SHA512 :
                       bits == 384 ? G_CHECKSUM_SHA384 : G_CHECKSUM_SHA256;
  g_autofree char *h = fuzz_base64url (header, header_len);
  g_autofree char *p = fuzz_base64url (payload, payload_len);
  g_autofree char *signing_input = g_strconcat (h, ".", p, NULL);
  g_autoptr(GHmac) hmac = g_hmac_new (type, (const guchar *) secret, strlen (secret));
  guint8 digest[64];
  gsize digest_len = sizeof digest;
  g_autofree char *sig = NULL;

  g_hmac_update (hmac, (const guchar *) signing_input, -1);
  g_hmac_get_digest (hmac, digest, &digest_len);
  sig = fuzz_base64url (digest, digest_len);
  return g_strconcat (signing_input, ".", sig, NULL);
}

G_END_DECLS
