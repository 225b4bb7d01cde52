/* fuzz-json-compact.c: crier_json_compact(), the gate every published
 * payload goes through, and the wire forms built from what it accepts.
 *
 * Input: the whole input is the candidate JSON text (NULs included).
 *
 * What must hold when it is accepted: the output has no raw CR or LF (so
 * replies can be newline-batched and SSE "data:" lines cannot be split),
 * is no longer than the input, json-glib parses it, compacting it again
 * changes nothing, and a publication carrying it encodes into every wire
 * form, with the WebSocket forms one complete text frame of JSON.
 * Independently, crier_json_append_string() must turn the input (as a C
 * string) into a JSON string literal that is accepted too.
 */
#include "config.h"

#include "fuzz-common.h"

#include "crier-publication.h"
#include "crier-ws-codec.h"

#include <json-glib/json-glib.h>

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  fuzz_init ();
  return 0;
}

static void
check_json_glib (const char *text,
                 gsize       len)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) error = NULL;

  if (!json_parser_load_from_data (parser, text, (gssize) len, &error))
    {
      g_printerr ("json-glib refuses accepted JSON (%s): %.*s\n",
                  error->message, (int) MIN (len, 2000), text);
      FUZZ_CHECK (!"json-glib parses the compacted text");
    }
}

static void
check_ws_frame (GBytes *frame)
{
  CrierWsDecoder decoder;
  CrierWsEvent ev;
  gsize size;
  const guint8 *p = g_bytes_get_data (frame, &size);
  gsize consumed;

  crier_ws_decoder_init (&decoder, FALSE, 0, 0);
  FUZZ_CHECK (crier_ws_decoder_feed (&decoder, p, size, &consumed, &ev) == CRIER_WS_EVENT_MESSAGE);
  FUZZ_CHECK (consumed == size && ev.opcode == CRIER_WS_OP_TEXT);
  check_json_glib ((const char *) ev.data, ev.len);
  crier_ws_decoder_clear (&decoder);
}

static void
check_publication (GBytes     *json,
                   const char *channel)
{
  g_autoptr(CrierPublication) pub = crier_publication_new (channel, json, "{\"user\":\"u\"}");
  g_autoptr(GString) out = g_string_new (NULL);

  pub->offset = 7;
  pub->epoch = g_strdup ("ep");

  for (CrierEncoding enc = 0; enc < CRIER_ENC_N; enc++)
    {
      GBytes *frame = crier_publication_encode (pub, enc);

      FUZZ_CHECK (frame != NULL && g_bytes_get_size (frame) > 0);
      FUZZ_CHECK (crier_publication_encode (pub, enc) == frame);
      if (enc == CRIER_ENC_CF_WS || enc == CRIER_ENC_UNI_WS || enc == CRIER_ENC_PLAIN_WS)
        check_ws_frame (frame);
    }

  crier_publication_append_json (pub, out);
  check_json_glib (out->str, out->len);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(GBytes) compact = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = fuzz_strndup (data, size);

  compact = crier_json_compact (text, (gssize) size, &error);
  if (compact != NULL)
    {
      gsize len;
      const char *out = g_bytes_get_data (compact, &len);
      g_autoptr(GBytes) again = NULL;

      FUZZ_CHECK (error == NULL);
      FUZZ_CHECK (len > 0 && len <= size);
      FUZZ_CHECK (memchr (out, '\n', len) == NULL);
      FUZZ_CHECK (memchr (out, '\r', len) == NULL);
      check_json_glib (out, len);

      again = crier_json_compact (out, (gssize) len, NULL);
      FUZZ_CHECK (again != NULL && g_bytes_equal (again, compact));

      check_publication (compact, "chat:room");
    }
  else
    {
      FUZZ_CHECK (error != NULL && error->domain == JSON_PARSER_ERROR);
    }

  /* The input as a C string: a JSON string literal, always. */
  {
    g_autoptr(GString) literal = g_string_new (NULL);
    g_autoptr(GBytes) compacted = NULL;
    g_autoptr(GError) literal_error = NULL;

    crier_json_append_string (literal, text);
    compacted = crier_json_compact (literal->str, (gssize) literal->len, &literal_error);
    if (compacted == NULL)
      {
        g_printerr ("%s: %s\n", literal_error->message, literal->str);
        FUZZ_CHECK (!"crier_json_append_string() makes valid JSON");
      }
    FUZZ_CHECK (g_bytes_get_size (compacted) == literal->len);
    check_json_glib (literal->str, literal->len);

    /* A channel name is any string, and must not break the wire forms. */
    {
      g_autoptr(GBytes) empty = g_bytes_new_static ("{}", 2);

      check_publication (compact != NULL ? compact : empty, text);
    }
  }

  return 0;
}
