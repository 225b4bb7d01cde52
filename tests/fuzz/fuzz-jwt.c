/* fuzz-jwt.c: crier_jwt_verify() and the public-key loaders.
 *
 * One CrierJwtKeys with all three kinds of key is set up once: an HMAC
 * secret, and the RSA (2048 bits) and EC (P-256) public keys below, whose
 * private halves only signed the seed tokens in corpus/fuzz-jwt and were
 * then thrown away.
 *
 * Input: byte 0 says what the rest is (bits 0-2, MODE_*), which HMAC hash
 * signs in MODE_SIGNED (bits 3-4), whether aud/iss are required (bit 5)
 * and which clock and leeway to verify at (bits 6-7).  The structured
 * modes split the rest at 0xFF bytes (never part of UTF-8 JSON) into
 * header, payload and signature and base64url-encode them, so the fuzzer
 * works on the JSON inside rather than on base64; MODE_SIGNED then signs
 * them properly with the HMAC secret, so that the claims checks are
 * reached too.
 *
 * What must hold: success gives claims whose accessors all work; failure
 * gives a CRIER_JWT_ERROR whose message contains neither the secret nor
 * any long piece of the token.
 */
#include "config.h"

#include "fuzz-common.h"

#include "crier-jwt.h"

enum
{
  MODE_RAW,        /* the rest is the token */
  MODE_PARTS,      /* b64(header).b64(payload).b64(signature) */
  MODE_SIGNED,     /* b64(header).b64(payload).HMAC signature */
  MODE_RAW_SIG,    /* b64(header).b64(payload).signature as given */
  MODE_RSA_PEM,    /* the rest is an RSA public key PEM */
  MODE_EC_PEM,     /* the rest is an EC public key PEM */
  MODE_RAW2,
  MODE_PARTS2,
};

#define SECRET "fuzz-secret-0123456789"

static const char rsa_pem[] =
  "-----BEGIN PUBLIC KEY-----\n"
  "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnp3qvAVNqSfBsWlmwfaV\n"
  "BpP6YUa+4L8qGiK7KaYZF0mOM95oH5+Ti9aE5XeCh0c87WvD34q+u3eGIT3euywI\n"
  "AL8ZWXg85s176yOplCRtkeKb7Qi3IP5xrjRV68V1pxK25bJ1oIZNa9JpABF2EN3F\n"
  "/OFOa+0NbVHkViUcXL2X3NLmc2D0gHelwAei3GW+3/T4u7H7TLztYupUnHN1sRRK\n"
  "oh7cArEVDn/KXjo/RM4zqDhrGhqNRDUxYX9mUPbZKRXMrGp8eQap1gWaOjqYdaDz\n"
  "HtMgURPa06JmN7Tfjg/6O5Dq4o2Tncyn+yZhAwTs18oZkeQHy0mL2ypZb8Ht6744\n"
  "xQIDAQAB\n"
  "-----END PUBLIC KEY-----\n";

static const char ec_pem[] =
  "-----BEGIN PUBLIC KEY-----\n"
  "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEIZX1xoCRkAwFy/irWlTCsSxrrMNY\n"
  "wDLsV4JSPzgFlSxRh2OyGV4Y8LlfMjwy+gNztZzLDV+8rqddV70hSOtmjw==\n"
  "-----END PUBLIC KEY-----\n";

static CrierJwtKeys *keys;

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  g_autoptr(GError) error = NULL;

  fuzz_init ();

  keys = crier_jwt_keys_new ();
  crier_jwt_keys_set_hmac_secret (keys, (const guint8 *) SECRET, strlen (SECRET));
  if (!crier_jwt_keys_set_rsa_public_key_pem (keys, rsa_pem, strlen (rsa_pem), "rsa", &error) ||
      !crier_jwt_keys_set_ec_public_key_pem (keys, ec_pem, strlen (ec_pem), "ec", &error))
    g_error ("%s", error->message);
  g_assert (crier_jwt_keys_has_hmac (keys) && crier_jwt_keys_has_rsa (keys) && crier_jwt_keys_has_ec (keys));
  return 0;
}

/* Splits at 0xFF into at most 3 parts. */
static guint
split_parts (const guint8  *p,
             gsize          len,
             const guint8 **parts,
             gsize         *lens)
{
  guint n = 0;

  parts[0] = p;
  lens[0] = len;
  while (n < 2)
    {
      const guint8 *sep = memchr (parts[n], 0xFF, lens[n]);

      if (sep == NULL)
        break;
      parts[n + 1] = sep + 1;
      lens[n + 1] = lens[n] - (gsize) (sep + 1 - parts[n]);
      lens[n] = (gsize) (sep - parts[n]);
      n++;
    }
  return n + 1;
}

static char *
make_token (guint         mode,
            guint         bits,
            const guint8 *p,
            gsize         len)
{
  const guint8 *parts[3] = { NULL, NULL, NULL };
  gsize lens[3] = { 0, 0, 0 };
  guint n = split_parts (p, len, parts, lens);
  g_autofree char *h = fuzz_base64url (parts[0], lens[0]);
  g_autofree char *b = n > 1 ? fuzz_base64url (parts[1], lens[1]) : g_strdup ("");
  g_autofree char *sig = NULL;

  switch (mode)
    {
    case MODE_SIGNED:
      return fuzz_jwt_hs (bits, SECRET, parts[0], lens[0], parts[1], lens[1]);

    case MODE_RAW_SIG:
      sig = fuzz_strndup (parts[2], lens[2]);
      break;

    default:
      sig = fuzz_base64url (parts[2], lens[2]);
      break;
    }

  return g_strconcat (h, ".", b, ".", sig, NULL);
}

static void
check_claims (JsonObject *claims)
{
  g_auto(GStrv) channels = NULL;
  gint64 expire_at = 0;

  FUZZ_CHECK (crier_jwt_claims_get_sub (claims) != NULL);
  (void) crier_jwt_claims_get_exp (claims);
  (void) crier_jwt_claims_get_expire_at (claims, &expire_at);
  (void) crier_jwt_claims_get_info (claims);
  (void) crier_jwt_claims_get_b64info (claims);
  (void) crier_jwt_claims_get_data (claims);
  (void) crier_jwt_claims_get_subs (claims);
  (void) crier_jwt_claims_get_channel (claims);
  (void) crier_jwt_claims_get_client (claims);
  channels = crier_jwt_claims_dup_channels (claims);
  for (guint i = 0; channels != NULL && channels[i] != NULL; i++)
    FUZZ_CHECK (g_utf8_validate (channels[i], -1, NULL));
}

/* The message names what is wrong, never the token nor the secret. */
static void
check_error (const GError *error,
             const char   *token)
{
  g_auto(GStrv) segments = NULL;

  FUZZ_CHECK (error != NULL && error->domain == CRIER_JWT_ERROR);
  FUZZ_CHECK (strstr (error->message, SECRET) == NULL);
  segments = g_strsplit (token, ".", -1);
  for (guint i = 0; segments[i] != NULL; i++)
    if (strlen (segments[i]) >= 20)
      FUZZ_CHECK (strstr (error->message, segments[i]) == NULL);
}

static void
load_pem (gboolean      rsa,
          const guint8 *p,
          gsize         len)
{
  g_autoptr(CrierJwtKeys) k = crier_jwt_keys_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *pem = fuzz_strndup (p, len);
  gboolean ok;

  if (rsa)
    ok = crier_jwt_keys_set_rsa_public_key_pem (k, pem, len, "fuzz", &error);
  else
    ok = crier_jwt_keys_set_ec_public_key_pem (k, pem, len, "fuzz", &error);
  FUZZ_CHECK (ok == (error == NULL));
  FUZZ_CHECK (ok == (rsa ? crier_jwt_keys_has_rsa (k) : crier_jwt_keys_has_ec (k)));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  static const guint hmac_bits[4] = { 256, 384, 512, 256 };
  static const gint64 clocks[4] = { 1700000000, 0, 4102444800, -1 };
  static const gint64 leeways[4] = { 0, 60, 0, 86400 };
  const CrierJwtOptions options = { .audience = "crier", .issuer = "https://issuer.example" };
  g_autoptr(JsonObject) claims = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *token = NULL;
  guint8 flags;
  guint mode;
  gint64 now;

  if (size == 0)
    return 0;
  flags = data[0];
  data++;
  size--;
  mode = flags & 7;

  switch (mode)
    {
    case MODE_RSA_PEM:
    case MODE_EC_PEM:
      load_pem (mode == MODE_RSA_PEM, data, size);
      return 0;

    case MODE_PARTS:
    case MODE_PARTS2:
    case MODE_SIGNED:
    case MODE_RAW_SIG:
      token = make_token (mode, hmac_bits[(flags >> 3) & 3], data, size);
      break;

    default:
      token = fuzz_strndup (data, size);
      break;
    }

  now = clocks[flags >> 6];
  if (now < 0)
    now = g_get_real_time () / G_USEC_PER_SEC;

  if (crier_jwt_verify (keys, token, now, leeways[flags >> 6],
                        (flags & 0x20) ? &options : NULL, &claims, &error))
    {
      FUZZ_CHECK (error == NULL && claims != NULL);
      check_claims (claims);
    }
  else
    {
      FUZZ_CHECK (claims == NULL);
      check_error (error, token);
    }

  return 0;
}
