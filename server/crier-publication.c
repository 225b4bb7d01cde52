/* crier-publication.c: the immutable publication and its cached wire forms.
 *
 * Key functions: crier_publication_encode (every CrierEncoding, built once
 * and published with a compare-and-swap so a publication may be shared
 * between loops later), crier_json_compact (a strict RFC 8259 validator
 * that strips insignificant whitespace and keeps every token verbatim) and
 * crier_json_append_string.
 */
#include "config.h"

#include "crier-publication.h"
#include "crier-util.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "crier-ws-codec.h"

/* Deeper nesting is refused: no client needs it and it bounds the work. */
#define JSON_MAX_DEPTH 256

static gsize
publication_size (const CrierPublication *pub)
{
  return sizeof (CrierPublication) +
         strlen (pub->channel) + 1 +
         (pub->data != NULL ? g_bytes_get_size (pub->data) : 0) +
         (pub->info != NULL ? strlen (pub->info) + 1 : 0);
}

static gboolean
has_line_break (GBytes *data)
{
  gsize len;
  const char *p = g_bytes_get_data (data, &len);

  return len > 0 && (memchr (p, '\n', len) != NULL || memchr (p, '\r', len) != NULL);
}

CrierPublication *
crier_publication_new (const char *channel,
                       GBytes     *data,
                       const char *info)
{
  CrierPublication *pub;

  g_return_val_if_fail (channel != NULL, NULL);
  g_return_val_if_fail (data != NULL, NULL);
  /* A raw line break would split a batched reply or inject SSE fields. */
  g_return_val_if_fail (!has_line_break (data), NULL);

  pub = g_new0 (CrierPublication, 1);
  pub->ref_count = 1;
  pub->kind = CRIER_PUSH_PUBLICATION;
  pub->channel = g_strdup (channel);
  pub->data = g_bytes_ref (data);
  pub->info = g_strdup (info);
  pub->time_ms = g_get_real_time () / 1000;
  pub->mono_us = g_get_monotonic_time ();
  pub->size = publication_size (pub);
  return pub;
}

CrierPublication *
crier_publication_new_event (CrierPushKind  kind,
                             const char    *channel,
                             const char    *info)
{
  CrierPublication *pub;

  g_return_val_if_fail (kind == CRIER_PUSH_JOIN || kind == CRIER_PUSH_LEAVE, NULL);
  g_return_val_if_fail (channel != NULL, NULL);

  pub = g_new0 (CrierPublication, 1);
  pub->ref_count = 1;
  pub->kind = kind;
  pub->channel = g_strdup (channel);
  pub->info = g_strdup (info);
  pub->time_ms = g_get_real_time () / 1000;
  pub->mono_us = g_get_monotonic_time ();
  pub->size = publication_size (pub);
  return pub;
}

CrierPublication *
crier_publication_ref (CrierPublication *pub)
{
  g_return_val_if_fail (pub != NULL, NULL);
  g_return_val_if_fail (pub->ref_count > 0, NULL);

  g_atomic_int_inc (&pub->ref_count);
  return pub;
}

void
crier_publication_unref (CrierPublication *pub)
{
  g_return_if_fail (pub != NULL);
  g_return_if_fail (pub->ref_count > 0);

  if (!g_atomic_int_dec_and_test (&pub->ref_count))
    return;

  for (guint i = 0; i < CRIER_ENC_N; i++)
    g_clear_pointer (&pub->encoded[i], g_bytes_unref);
  g_free (pub->channel);
  g_free (pub->epoch);
  g_clear_pointer (&pub->data, g_bytes_unref);
  g_free (pub->info);
  g_free (pub);
}

/* ------------------------------------------------------------------------ */
/* JSON bodies                                                               */
/* ------------------------------------------------------------------------ */

static void
append_info_object (CrierPublication *pub,
                    GString          *out)
{
  if (pub->info != NULL)
    {
      g_string_append (out, "{\"info\":");
      g_string_append (out, pub->info);
      g_string_append_c (out, '}');
    }
  else
    g_string_append (out, "{}");
}

void
crier_publication_append_json (CrierPublication *pub,
                               GString          *out)
{
  gsize len;
  const char *data;

  g_return_if_fail (pub != NULL);
  g_return_if_fail (out != NULL);

  /* Join and leave carry {"info":..}, the body of their push. */
  if (pub->kind != CRIER_PUSH_PUBLICATION)
    {
      append_info_object (pub, out);
      return;
    }

  data = g_bytes_get_data (pub->data, &len);
  g_string_append (out, "{\"data\":");
  g_string_append_len (out, data, len);
  if (pub->offset > 0)
    g_string_append_printf (out, ",\"offset\":%" G_GUINT64_FORMAT, pub->offset);
  if (pub->info != NULL)
    {
      g_string_append (out, ",\"info\":");
      g_string_append (out, pub->info);
    }
  g_string_append_c (out, '}');
}

/* "channel":C,"pub":P (or "join"/"leave"), the members shared by the
 * bidirectional push and the unidirectional one. */
static void
append_push_members (CrierPublication *pub,
                     GString          *out)
{
  static const char * const names[] = {
    [CRIER_PUSH_PUBLICATION] = ",\"pub\":",
    [CRIER_PUSH_JOIN] = ",\"join\":",
    [CRIER_PUSH_LEAVE] = ",\"leave\":",
  };

  g_string_append (out, "\"channel\":");
  crier_json_append_string (out, pub->channel);
  g_string_append (out, names[pub->kind]);
  crier_publication_append_json (pub, out);
}

static GBytes *
chunk_take (GString *payload)
{
  GString *out = g_string_sized_new (payload->len + 20);

  g_string_append_printf (out, "%" G_GSIZE_MODIFIER "x\r\n", payload->len);
  g_string_append_len (out, payload->str, payload->len);
  g_string_append (out, "\r\n");
  g_string_free (payload, TRUE);
  return g_string_free_to_bytes (out);
}

static GBytes *
ws_frame_take (GString *payload)
{
  GBytes *frame = crier_ws_frame_new (CRIER_WS_OP_TEXT, payload->str, payload->len);

  g_string_free (payload, TRUE);
  return frame;
}

static GBytes *
encode (CrierPublication *pub,
        CrierEncoding     enc)
{
  gsize hint = 96 + strlen (pub->channel) +
               (pub->data != NULL ? g_bytes_get_size (pub->data) : 0) +
               (pub->info != NULL ? strlen (pub->info) : 0);
  GString *s = g_string_sized_new (hint);

  switch (enc)
    {
    case CRIER_ENC_CF_WS:
    case CRIER_ENC_CF_STREAM:
    case CRIER_ENC_CF_SSE:
      if (enc == CRIER_ENC_CF_SSE)
        g_string_append (s, "data: ");
      g_string_append (s, "{\"push\":{");
      append_push_members (pub, s);
      g_string_append (s, "}}");
      break;

    case CRIER_ENC_UNI_WS:
    case CRIER_ENC_UNI_STREAM:
    case CRIER_ENC_UNI_SSE:
      if (enc == CRIER_ENC_UNI_SSE)
        g_string_append (s, "data: ");
      g_string_append_c (s, '{');
      append_push_members (pub, s);
      g_string_append_c (s, '}');
      break;

    case CRIER_ENC_PLAIN_WS:
    case CRIER_ENC_PLAIN_SSE:
      /* The plain dialect carries publications only: join and leave
       * encode as an empty GBytes, which senders skip. */
      if (pub->kind != CRIER_PUSH_PUBLICATION)
        {
          g_string_free (s, TRUE);
          return g_bytes_new (NULL, 0);
        }
      if (enc == CRIER_ENC_PLAIN_WS)
        {
          gsize len;
          const char *data = g_bytes_get_data (pub->data, &len);

          g_string_free (s, TRUE);
          return crier_ws_frame_new (CRIER_WS_OP_TEXT, data, len);
        }
      if (pub->offset > 0)
        g_string_append_printf (s, "id: %s:%" G_GUINT64_FORMAT "\n",
                                pub->epoch != NULL ? pub->epoch : "", pub->offset);
      g_string_append (s, "data: ");
      g_string_append_len (s, g_bytes_get_data (pub->data, NULL), g_bytes_get_size (pub->data));
      g_string_append (s, "\n\n");
      return chunk_take (s);

    case CRIER_ENC_N:
    default:
      g_assert_not_reached ();
    }

  switch (enc)
    {
    case CRIER_ENC_CF_WS:
    case CRIER_ENC_UNI_WS:
      return ws_frame_take (s);
    case CRIER_ENC_CF_STREAM:
    case CRIER_ENC_UNI_STREAM:
      g_string_append_c (s, '\n');
      return chunk_take (s);
    case CRIER_ENC_CF_SSE:
    case CRIER_ENC_UNI_SSE:
      g_string_append (s, "\n\n");
      return chunk_take (s);
    case CRIER_ENC_PLAIN_WS:
    case CRIER_ENC_PLAIN_SSE:
    case CRIER_ENC_N:
    default:
      break;
    }
  g_assert_not_reached ();
  return NULL;
}

GBytes *
crier_publication_encode (CrierPublication *pub,
                          CrierEncoding     enc)
{
  GBytes *cached;
  GBytes *built;

  g_return_val_if_fail (pub != NULL, NULL);
  g_return_val_if_fail (enc < CRIER_ENC_N, NULL);

  cached = g_atomic_pointer_get (&pub->encoded[enc]);
  if (G_LIKELY (cached != NULL))
    return cached;

  /* Two loops may race to build the same form: the loser drops its copy. */
  built = encode (pub, enc);
  if (!g_atomic_pointer_compare_and_exchange (&pub->encoded[enc], NULL, built))
    {
      g_bytes_unref (built);
      return g_atomic_pointer_get (&pub->encoded[enc]);
    }
  return built;
}

/* ------------------------------------------------------------------------ */
/* JSON text                                                                 */
/* ------------------------------------------------------------------------ */

void
crier_json_append_string (GString    *out,
                          const char *s)
{
  const char *run;
  const char *p;

  g_return_if_fail (out != NULL);

  if (s == NULL)
    s = "";

  g_string_append_c (out, '"');
  run = p = s;
  while (*p != '\0')
    {
      guchar c = *p;
      const char *escape = NULL;
      char buf[8];
      gsize skip = 1;

      if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80)
        {
          p++;
          continue;
        }

      if (c >= 0x80)
        {
          gunichar ch = g_utf8_get_char_validated (p, -1);

          if (ch != (gunichar) -1 && ch != (gunichar) -2)
            {
              p = g_utf8_next_char (p);
              continue;
            }
          /* Invalid UTF-8 would make the whole document invalid. */
          escape = "\\ufffd";
        }
      else if (c == '"')
        escape = "\\\"";
      else if (c == '\\')
        escape = "\\\\";
      else if (c == '\n')
        escape = "\\n";
      else if (c == '\r')
        escape = "\\r";
      else if (c == '\t')
        escape = "\\t";
      else if (c == '\b')
        escape = "\\b";
      else if (c == '\f')
        escape = "\\f";
      else
        {
          g_snprintf (buf, sizeof buf, "\\u%04x", c);
          escape = buf;
        }

      g_string_append_len (out, run, p - run);
      g_string_append (out, escape);
      p += skip;
      run = p;
    }
  g_string_append_len (out, run, p - run);
  g_string_append_c (out, '"');
}

enum
{
  EXPECT_VALUE,          /* a value (top level, after ':' or ',' in an array) */
  EXPECT_VALUE_OR_END,   /* right after '[' */
  EXPECT_KEY,            /* after ',' in an object */
  EXPECT_KEY_OR_END,     /* right after '{' */
  EXPECT_COLON,
  AFTER_VALUE,           /* ',' or the closing bracket, or the end */
};

static inline gboolean
is_ws (guchar c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline gboolean
is_digit (guchar c)
{
  return c >= '0' && c <= '9';
}

/* Returns the end of the string literal starting at the '"' at @p, or NULL. */
static const guchar *
scan_string (const guchar *p,
             const guchar *end)
{
  for (p++; p < end; p++)
    {
      if (*p == '"')
        return p + 1;
      if (*p < 0x20)
        return NULL;
      if (*p == '\\')
        {
          if (++p >= end)
            return NULL;
          if (*p == 'u')
            {
              /* Surrogate escapes only as a high + low pair: json-glib (so
               * crierd, crierctl and the dashboard) cannot read a lone one.
               * Found by tests/fuzz/fuzz-json-compact. */
              gsize n = crier_json_unicode_escape_len ((const char *) p - 1, (const char *) end, NULL);

              if (n == 0)
                return NULL;
              p += n - 2;
            }
          else if (strchr ("\"\\/bfnrt", *p) == NULL || *p == '\0')
            return NULL;
        }
    }
  return NULL;
}

/* RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static const guchar *
scan_number (const guchar *p,
             const guchar *end)
{
  if (p < end && *p == '-')
    p++;
  if (p >= end)
    return NULL;
  if (*p == '0')
    p++;
  else if (*p >= '1' && *p <= '9')
    while (p < end && is_digit (*p))
      p++;
  else
    return NULL;

  if (p < end && *p == '.')
    {
      p++;
      if (p >= end || !is_digit (*p))
        return NULL;
      while (p < end && is_digit (*p))
        p++;
    }

  if (p < end && (*p == 'e' || *p == 'E'))
    {
      p++;
      if (p < end && (*p == '+' || *p == '-'))
        p++;
      if (p >= end || !is_digit (*p))
        return NULL;
      while (p < end && is_digit (*p))
        p++;
    }
  return p;
}

static const guchar *
scan_literal (const guchar *p,
              const guchar *end)
{
  static const char * const literals[] = { "true", "false", "null" };

  for (guint i = 0; i < G_N_ELEMENTS (literals); i++)
    {
      gsize n = strlen (literals[i]);

      if ((gsize) (end - p) >= n && memcmp (p, literals[i], n) == 0)
        return p + n;
    }
  return NULL;
}

GBytes *
crier_json_compact (const char  *text,
                    gssize       len,
                    GError     **error)
{
  guchar stack[JSON_MAX_DEPTH];
  guint depth = 0;
  int state = EXPECT_VALUE;
  const guchar *p;
  const guchar *end;
  const char *reason = NULL;
  guchar *out;
  gsize n_out = 0;

  g_return_val_if_fail (text != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (len < 0)
    len = strlen (text);

  if (len >= 3 && memcmp (text, "\xEF\xBB\xBF", 3) == 0)
    {
      text += 3;
      len -= 3;
    }

  /* Also refuses NUL bytes. */
  if (len > 0 && !g_utf8_validate (text, len, NULL))
    {
      g_set_error_literal (error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_INVALID_DATA,
                           "JSON text is not valid UTF-8");
      return NULL;
    }

  p = (const guchar *) text;
  end = p + len;
  out = g_malloc (MAX (len, 1));

  while (reason == NULL)
    {
      const guchar *start;
      const guchar *next = NULL;
      guchar c;

      while (p < end && is_ws (*p))
        p++;
      if (p >= end)
        break;

      start = p;
      c = *p;
      switch (state)
        {
        case EXPECT_VALUE_OR_END:
        case EXPECT_VALUE:
          if (c == ']' && state == EXPECT_VALUE_OR_END)
            {
              depth--;
              next = p + 1;
              state = AFTER_VALUE;
            }
          else if (c == '{' || c == '[')
            {
              if (depth == JSON_MAX_DEPTH)
                {
                  reason = "nested too deeply";
                  break;
                }
              stack[depth++] = c;
              next = p + 1;
              state = c == '{' ? EXPECT_KEY_OR_END : EXPECT_VALUE_OR_END;
            }
          else
            {
              if (c == '"')
                next = scan_string (p, end);
              else if (c == '-' || is_digit (c))
                next = scan_number (p, end);
              else
                next = scan_literal (p, end);
              if (next == NULL)
                reason = "invalid value";
              state = AFTER_VALUE;
            }
          break;

        case EXPECT_KEY_OR_END:
        case EXPECT_KEY:
          if (c == '}' && state == EXPECT_KEY_OR_END)
            {
              depth--;
              next = p + 1;
              state = AFTER_VALUE;
            }
          else if (c == '"')
            {
              next = scan_string (p, end);
              if (next == NULL)
                reason = "invalid string";
              state = EXPECT_COLON;
            }
          else
            reason = "expected a member name";
          break;

        case EXPECT_COLON:
          if (c == ':')
            {
              next = p + 1;
              state = EXPECT_VALUE;
            }
          else
            reason = "expected ':'";
          break;

        case AFTER_VALUE:
        default:
          if (depth == 0)
            reason = "unexpected data after the value";
          else if (c == ',')
            {
              next = p + 1;
              state = stack[depth - 1] == '{' ? EXPECT_KEY : EXPECT_VALUE;
            }
          else if ((c == '}' && stack[depth - 1] == '{') ||
                   (c == ']' && stack[depth - 1] == '['))
            {
              depth--;
              next = p + 1;
            }
          else
            reason = "expected ',' or a closing bracket";
          break;
        }

      if (reason != NULL)
        break;

      memcpy (out + n_out, start, next - start);
      n_out += next - start;
      p = next;
    }

  if (reason == NULL && (state != AFTER_VALUE || depth != 0))
    reason = n_out == 0 ? "empty" : "unexpected end of data";

  if (reason != NULL)
    {
      g_set_error (error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_PARSE,
                   "invalid JSON at byte %" G_GSIZE_FORMAT ": %s",
                   (gsize) (p - (const guchar *) text), reason);
      g_free (out);
      return NULL;
    }

  return g_bytes_new_take (out, n_out);
}
