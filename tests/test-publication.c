/* test-publication.c: wire forms of a publication, byte for byte, and the
 * JSON helpers. */
#include "config.h"

#include "crier-publication.h"
#include "crier-util.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "test-utils.h"

#define INFO "{\"user\":\"42\",\"client\":\"c1\"}"

static CrierPublication *
make_pub (const char *data,
          guint64     offset,
          const char *epoch,
          const char *info)
{
  g_autoptr(GBytes) bytes = g_bytes_new (data, strlen (data));
  CrierPublication *pub = crier_publication_new ("news", bytes, info);

  /* What the broker does before anyone encodes. */
  pub->offset = offset;
  pub->epoch = g_strdup (epoch);
  return pub;
}

static void
assert_bytes (GBytes     *bytes,
              const void *expected,
              gsize       expected_len)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);

  g_assert_cmpmem (data, len, expected, expected_len);
}

static void
assert_text (GBytes     *bytes,
             const char *expected)
{
  assert_bytes (bytes, expected, strlen (expected));
}

static void
assert_chunk (GBytes     *bytes,
              const char *payload)
{
  g_autofree char *expected = g_strdup_printf ("%zx\r\n%s\r\n", strlen (payload), payload);

  assert_text (bytes, expected);
}

static void
assert_ws_text (GBytes     *bytes,
                const char *payload)
{
  gsize len = strlen (payload);
  g_autoptr(GByteArray) expected = g_byte_array_new ();
  guint8 head[10];
  gsize head_len;

  head[0] = 0x81;
  if (len < 126)
    {
      head[1] = len;
      head_len = 2;
    }
  else if (len < 65536)
    {
      head[1] = 126;
      head[2] = len >> 8;
      head[3] = len & 0xff;
      head_len = 4;
    }
  else
    {
      head[1] = 127;
      for (int i = 0; i < 8; i++)
        head[2 + i] = (guint64) len >> (56 - 8 * i);
      head_len = 10;
    }
  g_byte_array_append (expected, head, head_len);
  g_byte_array_append (expected, (const guint8 *) payload, len);
  assert_bytes (bytes, expected->data, expected->len);
}

static void
test_encode_publication (void)
{
  g_autoptr(CrierPublication) pub = make_pub ("{\"a\":1}", 3, "ab12cd34", INFO);
  const char *push = "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":{\"a\":1},\"offset\":3,"
                     "\"info\":" INFO "}}}";
  const char *uni = "{\"channel\":\"news\",\"pub\":{\"data\":{\"a\":1},\"offset\":3,"
                    "\"info\":" INFO "}}";
  g_autofree char *stream = g_strconcat (push, "\n", NULL);
  g_autofree char *sse = g_strconcat ("data: ", push, "\n\n", NULL);
  g_autofree char *uni_stream = g_strconcat (uni, "\n", NULL);
  g_autofree char *uni_sse = g_strconcat ("data: ", uni, "\n\n", NULL);

  assert_ws_text (crier_publication_encode (pub, CRIER_ENC_CF_WS), push);
  assert_chunk (crier_publication_encode (pub, CRIER_ENC_CF_STREAM), stream);
  assert_chunk (crier_publication_encode (pub, CRIER_ENC_CF_SSE), sse);
  assert_ws_text (crier_publication_encode (pub, CRIER_ENC_UNI_WS), uni);
  assert_chunk (crier_publication_encode (pub, CRIER_ENC_UNI_STREAM), uni_stream);
  assert_chunk (crier_publication_encode (pub, CRIER_ENC_UNI_SSE), uni_sse);
  assert_ws_text (crier_publication_encode (pub, CRIER_ENC_PLAIN_WS), "{\"a\":1}");
  assert_chunk (crier_publication_encode (pub, CRIER_ENC_PLAIN_SSE),
                "id: ab12cd34:3\ndata: {\"a\":1}\n\n");

  /* Exact chunk framing, spelled out once. */
  assert_text (crier_publication_encode (pub, CRIER_ENC_PLAIN_SSE),
               "1e\r\nid: ab12cd34:3\ndata: {\"a\":1}\n\n\r\n");
}

static void
test_encode_no_offset (void)
{
  g_autoptr(CrierPublication) pub = make_pub ("\"hi\"", 0, NULL, NULL);

  assert_ws_text (crier_publication_encode (pub, CRIER_ENC_CF_WS),
                  "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":\"hi\"}}}");
  assert_chunk (crier_publication_encode (pub, CRIER_ENC_UNI_SSE),
                "data: {\"channel\":\"news\",\"pub\":{\"data\":\"hi\"}}\n\n");
  assert_chunk (crier_publication_encode (pub, CRIER_ENC_PLAIN_SSE), "data: \"hi\"\n\n");
}

static void
test_encode_events (void)
{
  g_autoptr(CrierPublication) join = crier_publication_new_event (CRIER_PUSH_JOIN, "news", INFO);
  g_autoptr(CrierPublication) leave = crier_publication_new_event (CRIER_PUSH_LEAVE, "news", INFO);
  g_autoptr(CrierPublication) bare = crier_publication_new_event (CRIER_PUSH_JOIN, "news", NULL);
  g_autoptr(GString) json = g_string_new (NULL);

  assert_ws_text (crier_publication_encode (join, CRIER_ENC_CF_WS),
                  "{\"push\":{\"channel\":\"news\",\"join\":{\"info\":" INFO "}}}");
  assert_chunk (crier_publication_encode (leave, CRIER_ENC_CF_STREAM),
                "{\"push\":{\"channel\":\"news\",\"leave\":{\"info\":" INFO "}}}\n");
  assert_chunk (crier_publication_encode (leave, CRIER_ENC_UNI_SSE),
                "data: {\"channel\":\"news\",\"leave\":{\"info\":" INFO "}}\n\n");
  assert_ws_text (crier_publication_encode (bare, CRIER_ENC_UNI_WS),
                  "{\"channel\":\"news\",\"join\":{}}");

  /* The plain dialect has no join/leave: empty, and still cached. */
  g_assert_cmpuint (g_bytes_get_size (crier_publication_encode (join, CRIER_ENC_PLAIN_WS)), ==, 0);
  g_assert_cmpuint (g_bytes_get_size (crier_publication_encode (join, CRIER_ENC_PLAIN_SSE)), ==, 0);
  g_assert_true (crier_publication_encode (join, CRIER_ENC_PLAIN_SSE) ==
                 crier_publication_encode (join, CRIER_ENC_PLAIN_SSE));

  crier_publication_append_json (join, json);
  g_assert_cmpstr (json->str, ==, "{\"info\":" INFO "}");
}

static void
test_encode_cached (void)
{
  g_autoptr(CrierPublication) pub = make_pub ("[1,2]", 1, "e", NULL);

  for (CrierEncoding enc = 0; enc < CRIER_ENC_N; enc++)
    {
      GBytes *a = crier_publication_encode (pub, enc);
      GBytes *b = crier_publication_encode (pub, enc);

      g_assert_nonnull (a);
      g_assert_true (a == b);
      g_assert_true (pub->encoded[enc] == a);
    }
  /* Distinct forms are distinct buffers. */
  g_assert_true (crier_publication_encode (pub, CRIER_ENC_CF_WS) !=
                 crier_publication_encode (pub, CRIER_ENC_UNI_WS));
}

static void
test_encode_large (void)
{
  /* Payloads past the 7-bit and 16-bit WebSocket length forms, and a
   * chunk size with several hex digits. */
  gsize sizes[] = { 200, 70000 };

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autoptr(GString) data = g_string_new ("\"");
      g_autoptr(CrierPublication) pub = NULL;
      g_autofree char *uni = NULL;
      g_autofree char *chunk = NULL;

      while (data->len < sizes[i])
        g_string_append_c (data, 'x');
      g_string_append_c (data, '"');
      pub = make_pub (data->str, 7, "e", NULL);
      uni = g_strdup_printf ("{\"channel\":\"news\",\"pub\":{\"data\":%s,\"offset\":7}}", data->str);
      assert_ws_text (crier_publication_encode (pub, CRIER_ENC_UNI_WS), uni);
      assert_ws_text (crier_publication_encode (pub, CRIER_ENC_PLAIN_WS), data->str);
      chunk = g_strconcat (uni, "\n", NULL);
      assert_chunk (crier_publication_encode (pub, CRIER_ENC_UNI_STREAM), chunk);
    }
}

static void
test_append_json (void)
{
  g_autoptr(CrierPublication) full = make_pub ("{\"a\":[1,2]}", 12, "e", INFO);
  g_autoptr(CrierPublication) bare = make_pub ("null", 0, NULL, NULL);
  g_autoptr(GString) out = g_string_new (NULL);

  crier_publication_append_json (full, out);
  g_assert_cmpstr (out->str, ==, "{\"data\":{\"a\":[1,2]},\"offset\":12,\"info\":" INFO "}");
  g_string_truncate (out, 0);
  crier_publication_append_json (bare, out);
  g_assert_cmpstr (out->str, ==, "{\"data\":null}");
}

static void
test_size_and_refs (void)
{
  g_autoptr(CrierPublication) pub = make_pub ("{\"a\":1}", 0, NULL, INFO);
  CrierPublication *ref;

  g_assert_cmpuint (pub->size, >=, strlen ("{\"a\":1}") + strlen (INFO) + strlen ("news"));
  g_assert_cmpint (pub->time_ms, >, 0);
  g_assert_cmpint (pub->mono_us, >, 0);
  ref = crier_publication_ref (pub);
  g_assert_true (ref == pub);
  g_assert_cmpint (pub->ref_count, ==, 2);
  crier_publication_unref (ref);
  g_assert_cmpint (pub->ref_count, ==, 1);
}

/* ---- crier_json_compact --------------------------------------------------- */

static char *
compact (const char *text,
         gssize      len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = crier_json_compact (text, len, &error);
  gsize n;
  const char *data;

  g_assert_no_error (error);
  g_assert_nonnull (bytes);
  data = g_bytes_get_data (bytes, &n);
  g_assert_null (memchr (data, '\n', n));
  g_assert_null (memchr (data, '\r', n));
  return g_strndup (data, n);
}

/* Our output must mean what json-glib reads from the input. */
static void
assert_same_json (const char *a,
                  const char *b)
{
  g_autoptr(JsonParser) pa = json_parser_new ();
  g_autoptr(JsonParser) pb = json_parser_new ();

  g_assert_true (json_parser_load_from_data (pa, a, -1, NULL));
  g_assert_true (json_parser_load_from_data (pb, b, -1, NULL));
  g_assert_true (json_node_equal (json_parser_get_root (pa), json_parser_get_root (pb)));
}

static void
test_compact_pretty (void)
{
  const char *pretty =
    "{\n"
    "  \"name\" : \"a b\\nc\",\r\n"
    "  \"list\" : [ 1, 2.5, -0.1e-3, true, false, null ],\n"
    "\t\"nested\": { \"k\": { } , \"e\" : [ ] }\n"
    "}\n";
  g_autofree char *out = compact (pretty, -1);

  g_assert_cmpstr (out, ==,
                   "{\"name\":\"a b\\nc\",\"list\":[1,2.5,-0.1e-3,true,false,null],"
                   "\"nested\":{\"k\":{},\"e\":[]}}");
  assert_same_json (pretty, out);
}

static void
test_compact_verbatim (void)
{
  struct { const char *in; const char *out; } cases[] = {
    { "0.1", "0.1" },                              /* no %.17g rounding */
    { "12345678901234567890", "12345678901234567890" },
    { "1E+5", "1E+5" },
    { "-0", "-0" },
    { " \"\\u00e9\\ud83d\\ude00 é \\\" \\\\ \\/\" ", "\"\\u00e9\\ud83d\\ude00 é \\\" \\\\ \\/\"" },
    { "\xEF\xBB\xBF{\"bom\":1}", "{\"bom\":1}" },
    { "[ [ [ ] ] , { } ]", "[[[]],{}]" },
    { "\"\\u2028\"", "\"\\u2028\"" },
    { "{\"a\":1,\"a\":2}", "{\"a\":1,\"a\":2}" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *out = compact (cases[i].in, -1);

      g_assert_cmpstr (out, ==, cases[i].out);
    }

  /* Explicit length: only that many bytes are read. */
  {
    g_autofree char *out = compact ("[1, 2]garbage", 6);

    g_assert_cmpstr (out, ==, "[1,2]");
  }
}

/* crier_json_single_value () guards json-glib 1.6, which leaks on inputs
 * holding several values or a malformed surrogate pair. */
static void
test_single_value (void)
{
  const char *good[] = {
    "{}", " [1, {\"a\": \"}\"}] \n", "\"x\"", "42", "true", "\"\\u00e9\"",
    "\"\\uD83D\\uDE00\"", "[\"\\ud83d\\ude00\", \"\\\\u\"]", "\"\\\\uD800\"",
    "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
  };
  const char *bad[] = {
    "", "  ", "{}{}", "{} []", "1 2", "[1]]", "\"open", "[",
    "\"\\uD800\\u0041\"", "{\"\\uD800\\u0041\":1}", "[\"\\uDC00\"]",
    "\"\\uD800\"", "\"\\uD800x\"", "\"\\uDBFF\\uE000\"", "\"\\uDD\"",
    "{\"\\uDD\"\\uDDsmsmsm}", "\"\\u12g4\"", "\"\\u",
    /* C escapes json-glib 1.6 decodes into bytes that are not UTF-8. */
    "[\"\\200e9\"]", "\"\\x41\"", "\"\\v\"", "\"\\'\"", "{\"\\0\":1}", "\"\\",
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    if (!crier_json_single_value (good[i], -1))
      g_error ("refused %s", good[i]);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    if (crier_json_single_value (bad[i], -1))
      g_error ("accepted %s", bad[i]);

  /* Numbers json-glib 1.6 would not write back as read: refused where
   * crierd regenerates values from its nodes. */
  {
    const char *exact[] = {
      "[1e308, -2.5E-3, 0, -0.0, 1e-400, 12345678901234567890.0]", "{\"e1e999\":\"1e999\"}",
      "[9223372036854775807, -9223372036854775808]", "{\"a\\\"1e999\":2}", "{}",
    };
    const char *inexact[] = {
      "[11e400]", "{\"a\":-1e309}", "1e999", "[1, 2, 3e+400]",
      "[12345678901234567890]", "{\"id\":-99999999999999999999}", "9223372036854775808",
      "{\"s\":\"\\\\\",\"n\":1e999}",
    };

    for (guint i = 0; i < G_N_ELEMENTS (exact); i++)
      if (!crier_json_numbers_exact (exact[i], -1))
        g_error ("refused %s", exact[i]);
    for (guint i = 0; i < G_N_ELEMENTS (inexact); i++)
      if (crier_json_numbers_exact (inexact[i], -1))
        g_error ("accepted %s", inexact[i]);
  }

  /* The length given is the end, also inside an escape. */
  g_assert_false (crier_json_single_value ("\"\\uD83D\\uDE00\"", 8));
  g_assert_true (crier_json_single_value ("[1] junk", 3));
}

static void
test_compact_rejects (void)
{
  const char *bad[] = {
    "", "   ", "\n", "\xEF\xBB\xBF", "{", "}", "[1,]", "[,1]", "{\"a\":1,}", "{\"a\" 1}",
    "{a:1}", "{'a':1}", "abc", "tru", "nul", "True", "01", "1.", ".5", "+1", "-", "1e",
    "0x10", "\"unterminated", "\"raw\nnewline\"", "\"tab\tinside\"", "\"bad \\x escape\"",
    "\"\\u12\"", "\"\\u12g4\"", "[1] [2]", "{\"a\":1}x", "1 2", "[1}", "{\"a\":1]", "// c\n1",
    "/* c */ 1", "NaN", "Infinity", "\xff", "\"\xc3\x28\"", "[\"a\"\"b\"]",
    "\"\\uD800\\u0041\"", "[\"\\uDC00\"]",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) bytes = crier_json_compact (bad[i], -1, &error);

      if (bytes != NULL)
        g_error ("accepted %s", bad[i]);
      g_assert_error (error, JSON_PARSER_ERROR, error->code);
    }

  /* An embedded NUL inside the given length. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes = crier_json_compact ("[1,\0 2]", 7, &error);

    g_assert_null (bytes);
    g_assert_nonnull (error);
  }
}

static void
test_compact_depth (void)
{
  g_autoptr(GString) ok = g_string_new (NULL);
  g_autoptr(GString) deep = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autofree char *out = NULL;

  for (int i = 0; i < 256; i++)
    g_string_append_c (ok, '[');
  for (int i = 0; i < 256; i++)
    g_string_append_c (ok, ']');
  out = compact (ok->str, ok->len);
  g_assert_cmpstr (out, ==, ok->str);

  for (int i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  for (int i = 0; i < 100000; i++)
    g_string_append_c (deep, ']');
  bytes = crier_json_compact (deep->str, deep->len, &error);
  g_assert_null (bytes);
  g_assert_nonnull (error);
}

static void
test_append_string (void)
{
  g_autoptr(GString) out = g_string_new (NULL);

  crier_json_append_string (out, "plain é ☃");
  g_assert_cmpstr (out->str, ==, "\"plain é ☃\"");

  g_string_truncate (out, 0);
  crier_json_append_string (out, "q\" b\\ n\n r\r t\t \b \f \x01 \x1f");
  g_assert_cmpstr (out->str, ==, "\"q\\\" b\\\\ n\\n r\\r t\\t \\b \\f \\u0001 \\u001f\"");

  g_string_truncate (out, 0);
  crier_json_append_string (out, "bad \xff\xfe utf8 \xc3");
  g_assert_cmpstr (out->str, ==, "\"bad \\ufffd\\ufffd utf8 \\ufffd\"");
  g_assert_true (g_utf8_validate (out->str, out->len, NULL));

  g_string_truncate (out, 0);
  crier_json_append_string (out, NULL);
  g_assert_cmpstr (out->str, ==, "\"\"");

  /* Whatever goes in, json-glib reads back the same text when valid. */
  {
    const char *s = "a\"\\\n\x02z";
    g_autoptr(JsonParser) parser = json_parser_new ();

    g_string_truncate (out, 0);
    crier_json_append_string (out, s);
    g_assert_true (json_parser_load_from_data (parser, out->str, -1, NULL));
    g_assert_cmpstr (json_node_get_string (json_parser_get_root (parser)), ==, s);
  }
}

int
main (int   argc,
      char *argv[])
{
  test_init (&argc, &argv);

  g_test_add_func ("/publication/encode/publication", test_encode_publication);
  g_test_add_func ("/publication/encode/no-offset", test_encode_no_offset);
  g_test_add_func ("/publication/encode/events", test_encode_events);
  g_test_add_func ("/publication/encode/cached", test_encode_cached);
  g_test_add_func ("/publication/encode/large", test_encode_large);
  g_test_add_func ("/publication/append-json", test_append_json);
  g_test_add_func ("/publication/size-and-refs", test_size_and_refs);
  g_test_add_func ("/json/compact/pretty", test_compact_pretty);
  g_test_add_func ("/json/compact/verbatim", test_compact_verbatim);
  g_test_add_func ("/json/single-value", test_single_value);
  g_test_add_func ("/json/compact/rejects", test_compact_rejects);
  g_test_add_func ("/json/compact/depth", test_compact_depth);
  g_test_add_func ("/json/append-string", test_append_string);

  return g_test_run ();
}
