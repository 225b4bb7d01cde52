/* crier-util.c: ids, base64url, constant-time compare, unit parsing. */
#include "config.h"

#include "crier-util.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/random.h>

char *
crier_random_id (gsize n_bytes)
{
  static const char hex[] = "0123456789abcdef";
  g_autofree guint8 *raw = g_malloc (n_bytes);
  char *out = g_malloc (n_bytes * 2 + 1);
  gsize got = 0;

  /* Session ids are secrets (the emulation endpoint trusts them): use the
   * kernel's CSPRNG, never GLib's Mersenne Twister. */
  while (got < n_bytes)
    {
      ssize_t n = getrandom (raw + got, n_bytes - got, 0);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          g_error ("getrandom: %s", g_strerror (errno));
        }
      got += n;
    }

  for (gsize i = 0; i < n_bytes; i++)
    {
      out[2 * i] = hex[raw[i] >> 4];
      out[2 * i + 1] = hex[raw[i] & 15];
    }
  out[2 * n_bytes] = '\0';
  return out;
}

static const char b64url_alphabet[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *
crier_base64url_encode (const guint8 *data,
                        gsize         len)
{
  GString *s = g_string_sized_new ((len + 2) / 3 * 4 + 1);
  gsize i;

  for (i = 0; i + 2 < len; i += 3)
    {
      guint32 v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];

      g_string_append_c (s, b64url_alphabet[(v >> 18) & 63]);
      g_string_append_c (s, b64url_alphabet[(v >> 12) & 63]);
      g_string_append_c (s, b64url_alphabet[(v >> 6) & 63]);
      g_string_append_c (s, b64url_alphabet[v & 63]);
    }

  if (len - i == 1)
    {
      guint32 v = data[i] << 16;

      g_string_append_c (s, b64url_alphabet[(v >> 18) & 63]);
      g_string_append_c (s, b64url_alphabet[(v >> 12) & 63]);
    }
  else if (len - i == 2)
    {
      guint32 v = (data[i] << 16) | (data[i + 1] << 8);

      g_string_append_c (s, b64url_alphabet[(v >> 18) & 63]);
      g_string_append_c (s, b64url_alphabet[(v >> 12) & 63]);
      g_string_append_c (s, b64url_alphabet[(v >> 6) & 63]);
    }

  return g_string_free (s, FALSE);
}

static int
b64url_value (char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '-')
    return 62;
  if (c == '_')
    return 63;
  return -1;
}

guint8 *
crier_base64url_decode (const char *text,
                        gssize      text_len,
                        gsize      *out_len)
{
  gsize len = text_len < 0 ? strlen (text) : (gsize) text_len;
  g_autofree guint8 *out = NULL;
  gsize o = 0;
  guint32 acc = 0;
  guint bits = 0;

  g_return_val_if_fail (out_len != NULL, NULL);

  /* A single leftover character can never encode a whole byte. */
  if (len % 4 == 1)
    return NULL;

  out = g_malloc (len / 4 * 3 + 3);

  for (gsize i = 0; i < len; i++)
    {
      int v = b64url_value (text[i]);

      if (v < 0)
        return NULL;

      acc = (acc << 6) | (guint32) v;
      bits += 6;
      if (bits >= 8)
        {
          bits -= 8;
          out[o++] = (acc >> bits) & 0xff;
        }
    }

  /* Leftover bits must be zero (canonical encoding). */
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    return NULL;

  *out_len = o;
  return g_steal_pointer (&out);
}

gboolean
crier_const_time_equal (const void *a,
                        gsize       a_len,
                        const void *b,
                        gsize       b_len)
{
  const guint8 *pa = a;
  const guint8 *pb = b;
  guint8 diff = 0;

  if (a_len != b_len)
    return FALSE;

  for (gsize i = 0; i < a_len; i++)
    diff |= pa[i] ^ pb[i];

  return diff == 0;
}

static gboolean
parse_number_and_suffix (const char  *text,
                         gint64      *number,
                         const char **suffix)
{
  const char *p = text;
  char *end = NULL;
  gint64 v;

  while (g_ascii_isspace (*p))
    p++;
  if (!g_ascii_isdigit (*p))
    return FALSE;

  errno = 0;
  v = g_ascii_strtoll (p, &end, 10);
  if (errno != 0 || end == p)
    return FALSE;

  while (g_ascii_isspace (*end))
    end++;

  *number = v;
  *suffix = end;
  return TRUE;
}

static gboolean
suffix_is (const char *suffix,
           const char *want)
{
  gsize n = strlen (want);

  if (g_ascii_strncasecmp (suffix, want, n) != 0)
    return FALSE;
  suffix += n;
  while (g_ascii_isspace (*suffix))
    suffix++;
  return *suffix == '\0';
}

static gboolean
scale (gint64  v,
       gint64  factor,
       gint64 *out)
{
  if (v > G_MAXINT64 / factor)
    return FALSE;
  *out = v * factor;
  return TRUE;
}

gboolean
crier_parse_duration_ms (const char *text,
                         gint64     *out_ms)
{
  const char *suffix;
  gint64 v;

  if (text == NULL || !parse_number_and_suffix (text, &v, &suffix))
    return FALSE;

  if (*suffix == '\0' || suffix_is (suffix, "s"))
    return scale (v, 1000, out_ms);
  if (suffix_is (suffix, "ms"))
    return scale (v, 1, out_ms);
  if (suffix_is (suffix, "m") || suffix_is (suffix, "min"))
    return scale (v, 60 * 1000, out_ms);
  if (suffix_is (suffix, "h"))
    return scale (v, 3600 * 1000, out_ms);
  if (suffix_is (suffix, "d"))
    return scale (v, 24 * 3600 * 1000, out_ms);

  return FALSE;
}

gboolean
crier_parse_size (const char *text,
                  gint64     *out_bytes)
{
  const char *suffix;
  gint64 v;

  if (text == NULL || !parse_number_and_suffix (text, &v, &suffix))
    return FALSE;

  if (*suffix == '\0' || suffix_is (suffix, "b"))
    return scale (v, 1, out_bytes);
  if (suffix_is (suffix, "k") || suffix_is (suffix, "kib") || suffix_is (suffix, "kb"))
    return scale (v, 1024, out_bytes);
  if (suffix_is (suffix, "m") || suffix_is (suffix, "mib") || suffix_is (suffix, "mb"))
    return scale (v, 1024 * 1024, out_bytes);
  if (suffix_is (suffix, "g") || suffix_is (suffix, "gib") || suffix_is (suffix, "gb"))
    return scale (v, 1024 * 1024 * 1024, out_bytes);

  return FALSE;
}

char *
crier_format_size (gint64 bytes)
{
  if (bytes < 1024)
    return g_strdup_printf ("%" G_GINT64_FORMAT " B", bytes);
  if (bytes < 1024 * 1024)
    return g_strdup_printf ("%.1f KiB", bytes / 1024.0);
  if (bytes < G_GINT64_CONSTANT (1024) * 1024 * 1024)
    return g_strdup_printf ("%.1f MiB", bytes / (1024.0 * 1024.0));
  return g_strdup_printf ("%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
}

char *
crier_format_duration_ms (gint64 ms)
{
  if (ms < 1000)
    return g_strdup_printf ("%" G_GINT64_FORMAT " ms", ms);
  if (ms < 60 * 1000)
    return g_strdup_printf ("%.1f s", ms / 1000.0);
  if (ms < 3600 * 1000)
    return g_strdup_printf ("%.1f min", ms / 60000.0);
  return g_strdup_printf ("%.1f h", ms / 3600000.0);
}

static gboolean
read_hex4 (const char *p,
           guint      *out)
{
  guint v = 0;

  for (int i = 0; i < 4; i++)
    {
      int digit = g_ascii_xdigit_value (p[i]);

      if (digit < 0)
        return FALSE;
      v = v << 4 | (guint) digit;
    }
  *out = v;
  return TRUE;
}

gsize
crier_json_unicode_escape_len (const char *p,
                               const char *end,
                               gunichar   *out_char)
{
  guint high, low;

  if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !read_hex4 (p + 2, &high) ||
      (high >= 0xdc00 && high <= 0xdfff))
    return 0;
  if (high < 0xd800 || high > 0xdbff)
    {
      if (out_char != NULL)
        *out_char = high;
      return 6;
    }
  if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || !read_hex4 (p + 8, &low) ||
      low < 0xdc00 || low > 0xdfff)
    return 0;
  if (out_char != NULL)
    *out_char = 0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00);
  return 12;
}

static gboolean
json_number_char (char c)
{
  return g_ascii_isdigit (c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* The number token at @p survives json-glib 1.6: finite as a double (it
 * turns "1e400" into infinity and writes it back as "inf.0", which is no
 * JSON) and, without fraction or exponent, within gint64 (it wraps
 * 12345678901234567890 round to a negative number without a word). */
static gboolean
json_number_survives (const char *p,
                      const char *end)
{
  const char *q = p;
  char buf[64];
  g_autofree char *heap = NULL;
  char *token = buf;
  double value;

  while (q < end && json_number_char (*q))
    q++;
  if ((gsize) (q - p) < sizeof buf)
    {
      memcpy (buf, p, q - p);
      buf[q - p] = '\0';
    }
  else
    token = heap = g_strndup (p, q - p);
  if (strpbrk (token, ".eE") == NULL)
    {
      errno = 0;
      g_ascii_strtoll (token, NULL, 10);
      if (errno == ERANGE)
        return FALSE;
    }
  value = g_ascii_strtod (token, NULL);
  return isfinite (value);
}

gboolean
crier_json_single_value (const char *text,
                         gssize      len)
{
  const char *end;
  int depth = 0;
  gboolean in_string = FALSE;
  gboolean started = FALSE;
  gboolean top_scalar = FALSE;
  gboolean done = FALSE;

  if (text == NULL)
    return FALSE;
  end = text + (len < 0 ? (gssize) strlen (text) : len);

  for (const char *p = text; p < end; p++)
    {
      char c = *p;

      if (done)
        {
          if (!g_ascii_isspace (c))
            return FALSE;
          continue;
        }
      if (in_string)
        {
          if (c == '\\')
            {
              gsize n;

              /* Only JSON's escapes: json-glib 1.6 (GScanner) also takes
               * C's, such as octal "\200", and turns them into bytes
               * that are not UTF-8, which crierd would then send on. */
              if (p + 1 >= end || strchr ("\"\\/bfnrtu", p[1]) == NULL || p[1] == '\0')
                return FALSE;
              n = p[1] == 'u' ? crier_json_unicode_escape_len (p, end, NULL) : 2;
              if (n == 0)
                return FALSE;
              p += n - 1;
            }
          else if (c == '"')
            {
              in_string = FALSE;
              if (depth == 0)
                done = TRUE;
            }
          continue;
        }
      if (g_ascii_isspace (c))
        {
          if (top_scalar)
            done = TRUE;
          continue;
        }
      if (depth == 0 && top_scalar && (c == '{' || c == '[' || c == '"'))
        return FALSE;
      started = TRUE;
      switch (c)
        {
        case '"':
          in_string = TRUE;
          break;
        case '{':
        case '[':
          depth++;
          break;
        case '}':
        case ']':
          if (--depth < 0)
            return FALSE;
          if (depth == 0)
            done = TRUE;
          break;
        default:
          if (depth == 0)
            top_scalar = TRUE;
          break;
        }
    }

  return started && !in_string && depth == 0;
}

gboolean
crier_json_numbers_exact (const char *text,
                          gssize      len)
{
  const char *end;
  gboolean in_string = FALSE;

  if (text == NULL)
    return FALSE;
  end = text + (len < 0 ? (gssize) strlen (text) : len);
  for (const char *p = text; p < end; p++)
    {
      char c = *p;

      if (in_string)
        {
          if (c == '\\' && p + 1 < end)
            p++;
          else if (c == '"')
            in_string = FALSE;
          continue;
        }
      if (c == '"')
        in_string = TRUE;
      else if ((c == '-' || g_ascii_isdigit (c)) &&
               (p == text || !(json_number_char (p[-1]) || g_ascii_isalpha (p[-1]))) &&
               !json_number_survives (p, end))
        return FALSE;
    }
  return TRUE;
}
