/* crier-util.h: small helpers shared by crierd, crierctl and the dashboard. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Random identifier of @n_bytes (>= 16 for anything a client could guess)
 * as lowercase hex. */
char     *crier_random_id          (gsize        n_bytes);

/* base64url without padding (RFC 4648 §5), as JWT uses it. */
char     *crier_base64url_encode   (const guint8 *data,
                                    gsize        len);
/* Returns NULL on any character outside the alphabet or a bad length. */
guint8   *crier_base64url_decode   (const char  *text,
                                    gssize       text_len,
                                    gsize       *out_len);

/* Compares in time that depends only on the lengths. */
gboolean  crier_const_time_equal   (const void  *a,
                                    gsize        a_len,
                                    const void  *b,
                                    gsize        b_len);

/* Parses "5", "5s", "250ms", "2m", "1h" to milliseconds. */
gboolean  crier_parse_duration_ms  (const char  *text,
                                    gint64      *out_ms);
/* Parses "4096", "64k", "64KiB", "1M", "1MiB", "1G" to bytes. */
gboolean  crier_parse_size         (const char  *text,
                                    gint64      *out_bytes);

/* TRUE when @text holds exactly one JSON value by its shape (brackets
 * balanced outside strings, nothing but white space after it), every
 * escape in its strings is one of JSON's (json-glib 1.6 also decodes C's
 * octal and other escapes into bytes that are not UTF-8), and every \u
 * escape is four hex digits with UTF-16 surrogates only in well-formed
 * pairs.  Not a validator: it guards json-glib 1.6's parser, which leaks
 * every top-level value but the last of an input like "{}{}" and the
 * string it was reading at a malformed surrogate pair; call it on
 * untrusted input, then parse. */
gboolean  crier_json_single_value  (const char  *text,
                                    gssize       len);
/* TRUE when every number in @text (outside strings) is one json-glib 1.6
 * writes back as it read it: finite as a double (it writes "1e400" back as
 * "inf.0", which is no JSON) and, without fraction or exponent, within
 * gint64 (it wraps 12345678901234567890 round without an error).  For
 * input whose values crierd regenerates from json-glib nodes (client
 * commands, admin requests); the server API keeps payloads verbatim. */
gboolean  crier_json_numbers_exact (const char  *text,
                                    gssize       len);

/* Length of the JSON \u escape at @p (its backslash), at most @end: 6,
 * or 12 for a UTF-16 high + low surrogate pair; 0 when the digits are not
 * four hex digits or a surrogate stands outside such a pair (json-glib 1.6
 * leaks on that, and RFC 8259 leaves its meaning open).  @out_char
 * (nullable): the code point. */
gsize     crier_json_unicode_escape_len (const char *p,
                                         const char *end,
                                         gunichar   *out_char);

/* Human forms used in logs and crierctl: "1.5 MiB", "250 ms". */
char     *crier_format_size        (gint64       bytes);
char     *crier_format_duration_ms (gint64       ms);

G_END_DECLS
