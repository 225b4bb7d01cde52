/* test-jwt.c: JWT verification (crier-jwt.[ch]).
 *
 * Tokens are signed here with keys generated at start-up (GnuTLS), so the
 * tests need no fixtures on disk besides the temporary PEM files they
 * write themselves.
 */
#include "config.h"

#include "crier-jwt.h"

#include "crier-util.h"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <glib/gstdio.h>
#include <gnutls/x509.h>
#include <string.h>
#include <time.h>

/* protocols.md §A10.1 and §A10.2, signed with EXAMPLE_SECRET. */
#define EXAMPLE_CONNECTION_TOKEN                                                  \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                          \
  "eyJzdWIiOiI0MiIsImV4cCI6NDEwMjQ0NDgwMCwiaW5mbyI6eyJuYW1lIjoiQWxpY2UifX0."       \
  "E1L7LumGehBw9ztjyg2t8yOUpuaHeLOxJnwAZZMCmg0"
#define EXAMPLE_SUBSCRIPTION_TOKEN                                                \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                          \
  "eyJzdWIiOiI0MiIsImNoYW5uZWwiOiJuZXdzIiwiZXhwIjo0MTAyNDQ0ODAwfQ."                \
  "nYgiIMMl3ODDk1Bm1ER_OVDxH1Qv-CUp04V1xljR5gQ"

#define EXAMPLE_SECRET "secret"
/* Everything else: distinctive, so that messages can be searched for it. */
#define SECRET "correct horse battery staple"
#define NOW    G_GINT64_CONSTANT (1700000000)

typedef struct
{
  gnutls_privkey_t  priv;
  char             *pub_pem;
  char             *cert_pem;
} TestKey;

/* Generated once in main(). */
static TestKey rsa_key;        /* 2048 bits */
static TestKey rsa_other_key;  /* 2048 bits, not configured anywhere */
static TestKey rsa_small_key;  /* 1024 bits: refused by the loader */
static TestKey p256_key;
static TestKey p256_other_key;
static TestKey p384_key;
static TestKey p521_key;

/* Signing (the test's own, independent of crier-jwt.c) */

typedef struct
{
  const char    *alg;
  const guint8  *secret;  /* HS* */
  gsize          secret_len;
  TestKey       *key;     /* RS*, ES* */
} Signer;

static gnutls_sign_algorithm_t
sign_algorithm (const char *alg)
{
  static const struct
  {
    const char              *name;
    gnutls_sign_algorithm_t  sign;
  } table[] = {
    { "RS256", GNUTLS_SIGN_RSA_SHA256 },
    { "RS384", GNUTLS_SIGN_RSA_SHA384 },
    { "RS512", GNUTLS_SIGN_RSA_SHA512 },
    { "ES256", GNUTLS_SIGN_ECDSA_SHA256 },
    { "ES384", GNUTLS_SIGN_ECDSA_SHA384 },
    { "ES512", GNUTLS_SIGN_ECDSA_SHA512 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (table); i++)
    if (strcmp (table[i].name, alg) == 0)
      return table[i].sign;
  g_assert_not_reached ();
}

/* Appends the big-endian integer @d left-padded with zeros to @size bytes. */
static void
append_padded (GByteArray           *out,
               const gnutls_datum_t *d,
               gsize                 size)
{
  const guint8 *data = d->data;
  gsize len = d->size;

  while (len > 0 && data[0] == 0)
    {
      data++;
      len--;
    }
  g_assert_cmpuint (len, <=, size);
  for (gsize i = len; i < size; i++)
    g_byte_array_append (out, (const guint8 *) "", 1);
  g_byte_array_append (out, data, (guint) len);
}

/* Returns the raw JWS signature of @input. */
static GBytes *
sign_input (const Signer *signer,
            const char   *input)
{
  if (g_str_has_prefix (signer->alg, "HS"))
    {
      GChecksumType type = strcmp (signer->alg, "HS256") == 0 ? G_CHECKSUM_SHA256
                           : strcmp (signer->alg, "HS384") == 0 ? G_CHECKSUM_SHA384
                                                                : G_CHECKSUM_SHA512;
      g_autoptr(GHmac) hmac = g_hmac_new (type, signer->secret, signer->secret_len);
      guint8 digest[64];
      gsize len = sizeof digest;

      g_hmac_update (hmac, (const guchar *) input, strlen (input));
      g_hmac_get_digest (hmac, digest, &len);
      return g_bytes_new (digest, len);
    }
  else
    {
      gnutls_datum_t data = { (unsigned char *) input, (unsigned int) strlen (input) };
      gnutls_datum_t sig = { NULL, 0 };
      GByteArray *raw;

      g_assert_nonnull (signer->key);
      g_assert_cmpint (gnutls_privkey_sign_data2 (signer->key->priv, sign_algorithm (signer->alg),
                                                  0, &data, &sig),
                       ==, 0);

      if (signer->alg[0] == 'R')
        {
          GBytes *bytes = g_bytes_new (sig.data, sig.size);

          gnutls_free (sig.data);
          return bytes;
        }

      /* ES*: DER Ecdsa-Sig-Value -> R || S (RFC 7518 §3.4). */
      {
        gnutls_datum_t r = { NULL, 0 };
        gnutls_datum_t s = { NULL, 0 };
        gsize size = strcmp (signer->alg, "ES256") == 0 ? 32
                     : strcmp (signer->alg, "ES384") == 0 ? 48
                                                          : 66;

        g_assert_cmpint (gnutls_decode_rs_value (&sig, &r, &s), ==, 0);
        raw = g_byte_array_new ();
        append_padded (raw, &r, size);
        append_padded (raw, &s, size);
        gnutls_free (r.data);
        gnutls_free (s.data);
        gnutls_free (sig.data);
        return g_byte_array_free_to_bytes (raw);
      }
    }
}

static char *
b64 (const void *data,
     gsize       len)
{
  return crier_base64url_encode (data, len);
}

static char *
b64_str (const char *s)
{
  return b64 (s, strlen (s));
}

/* "header.payload.signature" from already encoded header and payload. */
static char *
sign_encoded (const Signer *signer,
              const char   *header_b64,
              const char   *payload_b64)
{
  g_autofree char *input = g_strconcat (header_b64, ".", payload_b64, NULL);
  g_autoptr(GBytes) sig = sign_input (signer, input);
  g_autofree char *sig_b64 = b64 (g_bytes_get_data (sig, NULL), g_bytes_get_size (sig));

  return g_strconcat (input, ".", sig_b64, NULL);
}

/* Signs arbitrary header and payload bytes. */
static char *
sign_raw (const Signer *signer,
          const void   *header,
          gsize         header_len,
          const void   *payload,
          gsize         payload_len)
{
  g_autofree char *h = b64 (header, header_len);
  g_autofree char *p = b64 (payload, payload_len);

  return sign_encoded (signer, h, p);
}

static char *
sign_with_header (const Signer *signer,
                  const char   *header_json,
                  const char   *payload_json)
{
  return sign_raw (signer, header_json, strlen (header_json),
                   payload_json, strlen (payload_json));
}

/* The usual header {"alg":…,"typ":"JWT"}. */
static char *
sign_token (const Signer *signer,
            const char   *payload_json)
{
  g_autofree char *header = g_strdup_printf ("{\"alg\":\"%s\",\"typ\":\"JWT\"}", signer->alg);

  return sign_with_header (signer, header, payload_json);
}

static const Signer hs256 = { "HS256", (const guint8 *) SECRET, sizeof SECRET - 1, NULL };

/* Keys */

static void
generate_key (TestKey            *key,
              gnutls_pk_algorithm_t pk,
              unsigned int        bits)
{
  gnutls_pubkey_t pub = NULL;
  gnutls_x509_crt_t crt = NULL;
  gnutls_datum_t out = { NULL, 0 };
  time_t now = (time_t) NOW;

  g_assert_cmpint (gnutls_privkey_init (&key->priv), ==, 0);
  g_assert_cmpint (gnutls_privkey_generate (key->priv, pk, bits, 0), ==, 0);

  g_assert_cmpint (gnutls_pubkey_init (&pub), ==, 0);
  g_assert_cmpint (gnutls_pubkey_import_privkey (pub, key->priv, 0, 0), ==, 0);
  g_assert_cmpint (gnutls_pubkey_export2 (pub, GNUTLS_X509_FMT_PEM, &out), ==, 0);
  key->pub_pem = g_strndup ((const char *) out.data, out.size);
  gnutls_free (out.data);

  /* A self-signed certificate carrying the same key. */
  g_assert_cmpint (gnutls_x509_crt_init (&crt), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_version (crt, 3), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_serial (crt, "\x01", 1), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_activation_time (crt, now), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_expiration_time (crt, now + 3600), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_dn (crt, "CN=crier-test", NULL), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_pubkey (crt, pub), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_privkey_sign (crt, crt, key->priv, GNUTLS_DIG_SHA256, 0), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, &out), ==, 0);
  key->cert_pem = g_strndup ((const char *) out.data, out.size);
  gnutls_free (out.data);

  gnutls_x509_crt_deinit (crt);
  gnutls_pubkey_deinit (pub);
}

static void
clear_key (TestKey *key)
{
  gnutls_privkey_deinit (key->priv);
  g_free (key->pub_pem);
  g_free (key->cert_pem);
}

static char *
private_key_pem (TestKey *key)
{
  gnutls_x509_privkey_t x509 = NULL;
  gnutls_datum_t out = { NULL, 0 };
  char *pem;

  g_assert_cmpint (gnutls_privkey_export_x509 (key->priv, &x509), ==, 0);
  g_assert_cmpint (gnutls_x509_privkey_export2_pkcs8 (x509, GNUTLS_X509_FMT_PEM, NULL,
                                                      GNUTLS_PKCS_PLAIN, &out),
                   ==, 0);
  pem = g_strndup ((const char *) out.data, out.size);
  gnutls_free (out.data);
  gnutls_x509_privkey_deinit (x509);
  return pem;
}

static CrierJwtKeys *
keys_hmac (void)
{
  CrierJwtKeys *keys = crier_jwt_keys_new ();

  crier_jwt_keys_set_hmac_secret (keys, (const guint8 *) SECRET, strlen (SECRET));
  return keys;
}

static CrierJwtKeys *
keys_example (void)
{
  CrierJwtKeys *keys = crier_jwt_keys_new ();

  crier_jwt_keys_set_hmac_secret (keys, (const guint8 *) EXAMPLE_SECRET, strlen (EXAMPLE_SECRET));
  return keys;
}

static void
add_rsa (CrierJwtKeys *keys,
         TestKey      *key)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (crier_jwt_keys_set_rsa_public_key_pem (keys, key->pub_pem, strlen (key->pub_pem),
                                                        "test", &error));
  g_assert_no_error (error);
}

static void
add_ec (CrierJwtKeys *keys,
        TestKey      *key)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (crier_jwt_keys_set_ec_public_key_pem (keys, key->pub_pem, strlen (key->pub_pem),
                                                       "test", &error));
  g_assert_no_error (error);
}

/* Verification helpers */

static JsonObject *
verify_ok_full (CrierJwtKeys          *keys,
                const char            *token,
                gint64                 now,
                gint64                 leeway,
                const CrierJwtOptions *options)
{
  g_autoptr(GError) error = NULL;
  JsonObject *claims = NULL;

  if (!crier_jwt_verify (keys, token, now, leeway, options, &claims, &error))
    g_test_message ("unexpected failure: %s", error->message);
  g_assert_no_error (error);
  g_assert_nonnull (claims);
  return claims;
}

static JsonObject *
verify_ok (CrierJwtKeys *keys,
           const char   *token)
{
  return verify_ok_full (keys, token, NOW, 0, NULL);
}

static void
verify_fails_full (CrierJwtKeys          *keys,
                   const char            *token,
                   gint64                 now,
                   gint64                 leeway,
                   const CrierJwtOptions *options,
                   CrierJwtError          code)
{
  g_autoptr(GError) error = NULL;
  JsonObject *claims = NULL;
  g_auto(GStrv) parts = g_strsplit (token, ".", -1);

  g_assert_false (crier_jwt_verify (keys, token, now, leeway, options, &claims, &error));
  g_assert_error (error, CRIER_JWT_ERROR, (gint) code);
  g_assert_null (claims);

  /* Messages never quote the token or the secret. */
  g_assert_null (strstr (error->message, SECRET));
  for (guint i = 0; parts[i] != NULL; i++)
    if (strlen (parts[i]) >= 8)
      g_assert_null (strstr (error->message, parts[i]));
}

static void
verify_fails (CrierJwtKeys  *keys,
              const char    *token,
              CrierJwtError  code)
{
  verify_fails_full (keys, token, NOW, 0, NULL, code);
}

/* Tests: the protocol examples */

static void
test_example_connection (void)
{
  g_autoptr(CrierJwtKeys) keys = keys_example ();
  g_autoptr(JsonObject) claims = verify_ok (keys, EXAMPLE_CONNECTION_TOKEN);
  g_auto(GStrv) channels = crier_jwt_claims_dup_channels (claims);
  gint64 expire_at = -1;
  JsonNode *info;

  g_assert_cmpstr (crier_jwt_claims_get_sub (claims), ==, "42");
  g_assert_cmpint (crier_jwt_claims_get_exp (claims), ==, G_GINT64_CONSTANT (4102444800));
  g_assert_false (crier_jwt_claims_get_expire_at (claims, &expire_at));
  g_assert_cmpint (expire_at, ==, -1);

  info = crier_jwt_claims_get_info (claims);
  g_assert_nonnull (info);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (info));
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (info), "name"),
                   ==, "Alice");

  g_assert_nonnull (channels);
  g_assert_cmpuint (g_strv_length (channels), ==, 0);
  g_assert_null (crier_jwt_claims_get_subs (claims));
  g_assert_null (crier_jwt_claims_get_channel (claims));
  g_assert_null (crier_jwt_claims_get_client (claims));
  g_assert_null (crier_jwt_claims_get_data (claims));
  g_assert_null (crier_jwt_claims_get_b64info (claims));

  /* NULL claims_out is allowed. */
  g_assert_true (crier_jwt_verify (keys, EXAMPLE_CONNECTION_TOKEN, NOW, 0, NULL, NULL, NULL));
}

static void
test_example_subscription (void)
{
  g_autoptr(CrierJwtKeys) keys = keys_example ();
  g_autoptr(JsonObject) claims = verify_ok (keys, EXAMPLE_SUBSCRIPTION_TOKEN);

  g_assert_cmpstr (crier_jwt_claims_get_sub (claims), ==, "42");
  g_assert_cmpstr (crier_jwt_claims_get_channel (claims), ==, "news");
  g_assert_cmpint (crier_jwt_claims_get_exp (claims), ==, G_GINT64_CONSTANT (4102444800));
  g_assert_null (crier_jwt_claims_get_info (claims));
  g_assert_null (crier_jwt_claims_get_client (claims));
}

static void
test_example_wrong_secret (void)
{
  g_autoptr(CrierJwtKeys) keys = crier_jwt_keys_new ();

  crier_jwt_keys_set_hmac_secret (keys, (const guint8 *) "secreT", 6);
  verify_fails (keys, EXAMPLE_CONNECTION_TOKEN, CRIER_JWT_ERROR_BAD_SIGNATURE);
  verify_fails (keys, EXAMPLE_SUBSCRIPTION_TOKEN, CRIER_JWT_ERROR_BAD_SIGNATURE);

  /* Past its exp (2100-01-01) it is expired. */
  g_clear_pointer (&keys, crier_jwt_keys_unref);
  keys = keys_example ();
  verify_fails_full (keys, EXAMPLE_CONNECTION_TOKEN, G_GINT64_CONSTANT (4102444801), 0, NULL,
                     CRIER_JWT_ERROR_EXPIRED);
}

/* Tests: valid tokens of every algorithm */

static const char *const sample_claims =
  "{\"sub\":\"user-1\",\"exp\":1700000100,\"iat\":1699999900,"
  "\"channels\":[\"news\",\"chat:lobby\"]}";

static void
check_sample_claims (JsonObject *claims)
{
  g_auto(GStrv) channels = crier_jwt_claims_dup_channels (claims);

  g_assert_cmpstr (crier_jwt_claims_get_sub (claims), ==, "user-1");
  g_assert_cmpint (crier_jwt_claims_get_exp (claims), ==, 1700000100);
  g_assert_cmpuint (g_strv_length (channels), ==, 2);
  g_assert_cmpstr (channels[0], ==, "news");
  g_assert_cmpstr (channels[1], ==, "chat:lobby");
}

static void
test_valid_hmac (void)
{
  static const char *const algs[] = { "HS256", "HS384", "HS512" };
  g_autoptr(CrierJwtKeys) keys = keys_hmac ();

  for (guint i = 0; i < G_N_ELEMENTS (algs); i++)
    {
      Signer signer = hs256;
      g_autofree char *token = NULL;
      g_autoptr(JsonObject) claims = NULL;

      signer.alg = algs[i];
      token = sign_token (&signer, sample_claims);
      claims = verify_ok (keys, token);
      check_sample_claims (claims);
    }

  /* The secret is binary-safe. */
  {
    static const guint8 binary[] = { 0, 1, 2, 0xff, 0, 0x80 };
    Signer signer = { "HS256", binary, sizeof binary, NULL };
    g_autofree char *token = sign_token (&signer, sample_claims);
    g_autoptr(JsonObject) claims = NULL;

    crier_jwt_keys_set_hmac_secret (keys, binary, sizeof binary);
    claims = verify_ok (keys, token);
    check_sample_claims (claims);

    crier_jwt_keys_set_hmac_secret (keys, binary, sizeof binary - 1);
    verify_fails (keys, token, CRIER_JWT_ERROR_BAD_SIGNATURE);
  }
}

static void
test_valid_rsa (void)
{
  static const char *const algs[] = { "RS256", "RS384", "RS512" };
  g_autoptr(CrierJwtKeys) keys = crier_jwt_keys_new ();

  add_rsa (keys, &rsa_key);
  g_assert_true (crier_jwt_keys_has_rsa (keys));
  g_assert_false (crier_jwt_keys_has_hmac (keys));
  g_assert_false (crier_jwt_keys_has_ec (keys));

  for (guint i = 0; i < G_N_ELEMENTS (algs); i++)
    {
      Signer signer = { algs[i], NULL, 0, &rsa_key };
      g_autofree char *token = sign_token (&signer, sample_claims);
      g_autoptr(JsonObject) claims = verify_ok (keys, token);

      check_sample_claims (claims);
    }
}

static void
test_valid_ec (void)
{
  static const struct
  {
    const char *alg;
    TestKey    *key;
  } cases[] = {
    { "ES256", &p256_key },
    { "ES384", &p384_key },
    { "ES512", &p521_key },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(CrierJwtKeys) keys = crier_jwt_keys_new ();
      Signer signer = { cases[i].alg, NULL, 0, cases[i].key };

      add_ec (keys, cases[i].key);
      g_assert_true (crier_jwt_keys_has_ec (keys));

      /* ECDSA signatures are random: sign often enough to meet r and s
       * with a high bit set and (for P-256) with leading zero bytes. */
      for (guint n = 0; n < (i == 0 ? 300u : 20u); n++)
        {
          g_autofree char *token = sign_token (&signer, sample_claims);
          g_autoptr(JsonObject) claims = verify_ok (keys, token);

          check_sample_claims (claims);
        }
    }
}

static void
test_valid_all_keys (void)
{
  /* One key set with every kind: each alg uses its own key. */
  g_autoptr(CrierJwtKeys) keys = keys_hmac ();
  Signer rs = { "RS256", NULL, 0, &rsa_key };
  Signer es = { "ES256", NULL, 0, &p256_key };
  g_autofree char *t1 = sign_token (&hs256, sample_claims);
  g_autofree char *t2 = sign_token (&rs, sample_claims);
  g_autofree char *t3 = sign_token (&es, sample_claims);
  g_autoptr(JsonObject) c1 = NULL;
  g_autoptr(JsonObject) c2 = NULL;
  g_autoptr(JsonObject) c3 = NULL;
  CrierJwtKeys *ref;

  add_rsa (keys, &rsa_key);
  add_ec (keys, &p256_key);
  c1 = verify_ok (keys, t1);
  c2 = verify_ok (keys, t2);
  c3 = verify_ok (keys, t3);

  ref = crier_jwt_keys_ref (keys);
  g_assert_true (ref == keys);
  crier_jwt_keys_unref (ref);
}

/* Tests: signatures */

/* Flips bit 0 of the first occurrence of @c in the decoded @part
 * (0 header, 1 payload, 2 signature) and re-encodes it. */
static char *
flip_bit (const char *token,
          guint       part,
          char        c,
          gsize       sig_offset)
{
  g_auto(GStrv) parts = g_strsplit (token, ".", -1);
  g_autofree guint8 *data = NULL;
  gsize len = 0;
  gsize at;

  g_assert_cmpuint (g_strv_length (parts), ==, 3);
  data = crier_base64url_decode (parts[part], -1, &len);
  g_assert_nonnull (data);

  if (part == 2)
    {
      at = sig_offset < len ? sig_offset : len - 1;
    }
  else
    {
      const guint8 *p = memchr (data, c, len);

      g_assert_nonnull (p);
      at = (gsize) (p - data);
    }
  data[at] ^= 1;

  g_free (parts[part]);
  parts[part] = b64 (data, len);
  return g_strjoinv (".", parts);
}

static void
check_flipped_bits (CrierJwtKeys *keys,
                    const Signer *signer)
{
  g_autofree char *header = g_strdup_printf ("{\"alg\":\"%s\",\"kid\":\"k1\"}", signer->alg);
  g_autofree char *token = sign_with_header (signer, header, "{\"sub\":\"42\"}");
  g_autoptr(JsonObject) claims = verify_ok (keys, token);
  gsize offsets[] = { 0, 1, 17, 31, G_MAXSIZE };

  /* "k1" -> "k0" keeps the header valid JSON; "42" -> "43" likewise. */
  {
    g_autofree char *bad = flip_bit (token, 0, '1', 0);

    verify_fails (keys, bad, CRIER_JWT_ERROR_BAD_SIGNATURE);
  }
  {
    g_autofree char *bad = flip_bit (token, 1, '2', 0);

    verify_fails (keys, bad, CRIER_JWT_ERROR_BAD_SIGNATURE);
  }
  for (guint i = 0; i < G_N_ELEMENTS (offsets); i++)
    {
      g_autofree char *bad = flip_bit (token, 2, 0, offsets[i]);

      verify_fails (keys, bad, CRIER_JWT_ERROR_BAD_SIGNATURE);
    }

  /* Every single-character change anywhere fails one way or another. */
  for (gsize i = 0; token[i] != '\0'; i++)
    {
      g_autofree char *bad = g_strdup (token);
      g_autoptr(GError) error = NULL;

      if (bad[i] == '.')
        continue;
      bad[i] = bad[i] == 'A' ? 'B' : 'A';
      g_assert_false (crier_jwt_verify (keys, bad, NOW, 0, NULL, NULL, &error));
      g_assert_nonnull (error);
      g_assert_true (error->domain == CRIER_JWT_ERROR);
    }

  /* Signatures one byte shorter or longer (and otherwise intact). */
  {
    const char *dot = strrchr (token, '.');
    g_autofree char *input = g_strndup (token, (gsize) (dot - token));
    gsize len = 0;
    g_autofree guint8 *sig = crier_base64url_decode (dot + 1, -1, &len);
    g_autofree guint8 *longer_sig = g_malloc0 (len + 1);
    g_autofree char *s1 = NULL;
    g_autofree char *s2 = NULL;
    g_autofree char *shorter = NULL;
    g_autofree char *longer = NULL;

    g_assert_nonnull (sig);
    memcpy (longer_sig, sig, len);
    s1 = b64 (sig, len - 1);
    s2 = b64 (longer_sig, len + 1);
    shorter = g_strconcat (input, ".", s1, NULL);
    longer = g_strconcat (input, ".", s2, NULL);
    verify_fails (keys, shorter, CRIER_JWT_ERROR_BAD_SIGNATURE);
    verify_fails (keys, longer, CRIER_JWT_ERROR_BAD_SIGNATURE);
  }
}

static void
test_bad_signature_hmac (void)
{
  g_autoptr(CrierJwtKeys) keys = keys_hmac ();

  check_flipped_bits (keys, &hs256);
}

static void
test_bad_signature_rsa (void)
{
  g_autoptr(CrierJwtKeys) keys = crier_jwt_keys_new ();
  Signer signer = { "RS256", NULL, 0, &rsa_key };
  Signer other = { "RS256", NULL, 0, &rsa_other_key };
  g_autofree char *token = sign_token (&other, sample_claims);

  add_rsa (keys, &rsa_key);
  check_flipped_bits (keys, &signer);

  /* Signed by a different RSA key. */
  verify_fails (keys, token, CRIER_JWT_ERROR_BAD_SIGNATURE);
}

static void
test_bad_signature_ec (void)
{
  g_autoptr(CrierJwtKeys) keys = crier_jwt_keys_new ();
  Signer signer = { "ES256", NULL, 0, &p256_key };
  Signer other = { "ES256", NULL, 0, &p256_other_key };
  g_autofree char *token = sign_token (&other, sample_claims);

  add_ec (keys, &p256_key);
  check_flipped_bits (keys, &signer);

  /* Signed by a different P-256 key. */
  verify_fails (keys, token, CRIER_JWT_ERROR_BAD_SIGNATURE);

  /* r = s = 0 and r = s = all ones are never valid. */
  {
    guint8 zeros[64] = { 0 };
    guint8 ones[64];
    g_autofree char *h = b64_str ("{\"alg\":\"ES256\"}");
    g_autofree char *p = b64_str ("{}");
    g_autofree char *z = b64 (zeros, sizeof zeros);
    g_autofree char *o = NULL;
    g_autofree char *t1 = g_strdup_printf ("%s.%s.%s", h, p, z);
    g_autofree char *t2 = NULL;

    memset (ones, 0xff, sizeof ones);
    o = b64 (ones, sizeof ones);
    t2 = g_strdup_printf ("%s.%s.%s", h, p, o);
    verify_fails (keys, t1, CRIER_JWT_ERROR_BAD_SIGNATURE);
    verify_fails (keys, t2, CRIER_JWT_ERROR_BAD_SIGNATURE);
  }

  /* A DER signature (what OpenSSL produces) is not a JWS signature. */
  {
    g_autofree char *input = NULL;
    g_autofree char *h = b64_str ("{\"alg\":\"ES256\"}");
    g_autofree char *p = b64_str ("{}");
    g_autofree char *s = NULL;
    g_autofree char *t = NULL;
    gnutls_datum_t data;
    gnutls_datum_t sig = { NULL, 0 };

    input = g_strconcat (h, ".", p, NULL);
    data.data = (unsigned char *) input;
    data.size = (unsigned int) strlen (input);
    g_assert_cmpint (gnutls_privkey_sign_data2 (p256_key.priv, GNUTLS_SIGN_ECDSA_SHA256, 0,
                                                &data, &sig),
                     ==, 0);
    s = b64 (sig.data, sig.size);
    gnutls_free (sig.data);
    t = g_strconcat (input, ".", s, NULL);
    verify_fails (keys, t, CRIER_JWT_ERROR_BAD_SIGNATURE);
  }
}

/* Tests: algorithms */

static char *
unsigned_token (const char *header_json,
                const char *signature_b64)
{
  g_autofree char *h = b64_str (header_json);
  g_autofree char *p = b64_str ("{\"sub\":\"42\"}");

  return g_strdup_printf ("%s.%s.%s", h, p, signature_b64);
}

static void
test_alg_none (void)
{
  static const char *const headers[] = {
    "{\"alg\":\"none\"}",
    "{\"alg\":\"none\",\"typ\":\"JWT\"}",
    "{\"alg\":\"None\"}",
    "{\"alg\":\"NONE\"}",
    "{\"alg\":\"nOnE\"}",
  };
  g_autoptr(CrierJwtKeys) keys = keys_hmac ();

  add_rsa (keys, &rsa_key);
  add_ec (keys, &p256_key);

  for (guint i = 0; i < G_N_ELEMENTS (headers); i++)
    {
      g_autofree char *empty = unsigned_token (headers[i], "");
      g_autofree char *junk = unsigned_token (headers[i], "c2lnbmF0dXJl");
      g_autofree char *hmac = NULL;
      g_autoptr(GError) error = NULL;

      verify_fails (keys, empty, CRIER_JWT_ERROR_UNSUPPORTED_ALG);
      verify_fails (keys, junk, CRIER_JWT_ERROR_UNSUPPORTED_ALG);

      /* Even "signed" with the real secret. */
      hmac = sign_with_header (&hs256, headers[i], "{\"sub\":\"42\"}");
      g_assert_false (crier_jwt_verify (keys, hmac, NOW, 0, NULL, NULL, &error));
      g_assert_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_UNSUPPORTED_ALG);
      g_assert_nonnull (strstr (error->message, "none"));
    }

  /* Two segments only (no trailing dot) is simply malformed. */
  {
    g_autofree char *h = b64_str ("{\"alg\":\"none\"}");
    g_autofree char *p = b64_str ("{\"sub\":\"42\"}");
    g_autofree char *t = g_strdup_printf ("%s.%s", h, p);

    verify_fails (keys, t, CRIER_JWT_ERROR_MALFORMED);
  }
}

static void
test_alg_unsupported (void)
{
  static const char *const headers[] = {
    "{\"alg\":\"PS256\"}",
    "{\"alg\":\"EdDSA\"}",
    "{\"alg\":\"ES256K\"}",
    "{\"alg\":\"hs256\"}",
    "{\"alg\":\"HS256 \"}",
    "{\"alg\":\"\"}",
    "{\"alg\":256}",
    "{\"alg\":[\"HS256\"]}",
    "{\"alg\":null}",
    "{\"typ\":\"JWT\"}",
    "{}",
  };
  g_autoptr(CrierJwtKeys) keys = keys_hmac ();

  add_rsa (keys, &rsa_key);
  add_ec (keys, &p256_key);

  for (guint i = 0; i < G_N_ELEMENTS (headers); i++)
    {
      g_autofree char *t = sign_with_header (&hs256, headers[i], "{\"sub\":\"42\"}");

      verify_fails (keys, t, CRIER_JWT_ERROR_UNSUPPORTED_ALG);
    }

  /* A long or odd alg value is not echoed into the message. */
  {
    g_autofree char *t = sign_with_header (&hs256, "{\"alg\":\"<script>alert(1)</script>\"}", "{}");
    g_autoptr(GError) error = NULL;

    g_assert_false (crier_jwt_verify (keys, t, NOW, 0, NULL, NULL, &error));
    g_assert_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_UNSUPPORTED_ALG);
    g_assert_null (strstr (error->message, "script"));
  }
}

static void
test_alg_confusion (void)
{
  /* The classic attack: HS256 with the server's public key as the secret. */
  Signer rsa_as_secret = {
    "HS256", (const guint8 *) rsa_key.pub_pem, strlen (rsa_key.pub_pem), NULL
  };
  Signer ec_as_secret = {
    "HS256", (const guint8 *) p256_key.pub_pem, strlen (p256_key.pub_pem), NULL
  };
  g_autofree char *t1 = sign_token (&rsa_as_secret, sample_claims);
  g_autofree char *t2 = sign_token (&ec_as_secret, sample_claims);

  /* Only public keys configured: no HMAC key at all. */
  {
    g_autoptr(CrierJwtKeys) keys = crier_jwt_keys_new ();

    add_rsa (keys, &rsa_key);
    add_ec (keys, &p256_key);
    verify_fails (keys, t1, CRIER_JWT_ERROR_NO_KEY);
    verify_fails (keys, t2, CRIER_JWT_ERROR_NO_KEY);
  }

  /* With an HMAC secret too: only that secret is used. */
  {
    g_autoptr(CrierJwtKeys) keys = keys_hmac ();

    add_rsa (keys, &rsa_key);
    add_ec (keys, &p256_key);
    verify_fails (keys, t1, CRIER_JWT_ERROR_BAD_SIGNATURE);
    verify_fails (keys, t2, CRIER_JWT_ERROR_BAD_SIGNATURE);
  }

  /* RS256 header over an ECDSA signature and the other way round. */
  {
    g_autoptr(CrierJwtKeys) keys = crier_jwt_keys_new ();
    Signer es = { "ES256", NULL, 0, &p256_key };
    Signer rs = { "RS256", NULL, 0, &rsa_key };
    g_autofree char *h_rs = b64_str ("{\"alg\":\"RS256\"}");
    g_autofree char *h_es = b64_str ("{\"alg\":\"ES256\"}");
    g_autofree char *p = b64_str ("{}");
    g_autofree char *es_sig_token = sign_encoded (&es, h_rs, p);
    g_autofree char *rs_sig_token = sign_encoded (&rs, h_es, p);

    add_rsa (keys, &rsa_key);
    add_ec (keys, &p256_key);
    verify_fails (keys, es_sig_token, CRIER_JWT_ERROR_BAD_SIGNATURE);
    verify_fails (keys, rs_sig_token, CRIER_JWT_ERROR_BAD_SIGNATURE);
  }
}

static void
test_alg_without_key (void)
{
  Signer rs = { "RS256", NULL, 0, &rsa_key };
  Signer es = { "ES256", NULL, 0, &p256_key };
  Signer es384 = { "ES384", NULL, 0, &p384_key };
  g_autofree char *hs_token = sign_token (&hs256, sample_claims);
  g_autofree char *rs_token = sign_token (&rs, sample_claims);
  g_autofree char *es_token = sign_token (&es, sample_claims);
  g_autofree char *es384_token = sign_token (&es384, sample_claims);

  /* No keys at all. */
  {
    g_autoptr(CrierJwtKeys) keys = crier_jwt_keys_new ();

    verify_fails (keys, hs_token, CRIER_JWT_ERROR_NO_KEY);
    verify_fails (keys, rs_token, CRIER_JWT_ERROR_NO_KEY);
    verify_fails (keys, es_token, CRIER_JWT_ERROR_NO_KEY);
  }

  /* Only an HMAC secret. */
  {
    g_autoptr(CrierJwtKeys) keys = keys_hmac ();

    verify_fails (keys, rs_token, CRIER_JWT_ERROR_NO_KEY);
    verify_fails (keys, es_token, CRIER_JWT_ERROR_NO_KEY);
  }

  /* Only RSA. */
  {
    g_autoptr(CrierJwtKeys) keys = crier_jwt_keys_new ();

    add_rsa (keys, &rsa_key);
    verify_fails (keys, hs_token, CRIER_JWT_ERROR_NO_KEY);
    verify_fails (keys, es_token, CRIER_JWT_ERROR_NO_KEY);
  }

  /* Only a P-256 key: ES384 needs P-384. */
  {
    g_autoptr(CrierJwtKeys) keys = crier_jwt_keys_new ();

    add_ec (keys, &p256_key);
    verify_fails (keys, hs_token, CRIER_JWT_ERROR_NO_KEY);
    verify_fails (keys, rs_token, CRIER_JWT_ERROR_NO_KEY);
    verify_fails (keys, es384_token, CRIER_JWT_ERROR_NO_KEY);
  }

  /* An empty secret removes the HMAC key. */
  {
    g_autoptr(CrierJwtKeys) keys = keys_hmac ();

    g_assert_true (crier_jwt_keys_has_hmac (keys));
    crier_jwt_keys_set_hmac_secret (keys, NULL, 0);
    g_assert_false (crier_jwt_keys_has_hmac (keys));
    verify_fails (keys, hs_token, CRIER_JWT_ERROR_NO_KEY);
  }
}

static void
test_header_fields (void)
{
  g_autoptr(CrierJwtKeys) keys = keys_hmac ();
  static const char *const good[] = {
    "{\"alg\":\"HS256\"}",
    "{\"alg\":\"HS256\",\"typ\":\"jwt\"}",
    "{\"alg\":\"HS256\",\"typ\":\"Jwt\"}",
    "{\"alg\":\"HS256\",\"typ\":null}",
    "{\"alg\":\"HS256\",\"kid\":\"whatever\",\"jku\":\"https://evil.example/keys\"}",
    "  {\"typ\":\"JWT\", \"alg\":\"HS256\"}\n",
  };
  static const char *const bad[] = {
    "{\"alg\":\"HS256\",\"typ\":\"JOSE\"}",
    "{\"alg\":\"HS256\",\"typ\":\"\"}",
    "{\"alg\":\"HS256\",\"typ\":1}",
    "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
    "{\"alg\":\"HS256\",\"b64\":false,\"crit\":[\"b64\"]}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autofree char *t = sign_with_header (&hs256, good[i], "{\"sub\":\"42\"}");
      g_autoptr(JsonObject) claims = verify_ok (keys, t);

      g_assert_cmpstr (crier_jwt_claims_get_sub (claims), ==, "42");
    }

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *t = sign_with_header (&hs256, bad[i], "{\"sub\":\"42\"}");

      verify_fails (keys, t, CRIER_JWT_ERROR_MALFORMED);
    }
}

/* Tests: claims */

static char *
hs_token_printf (const char *format,
                 ...) G_GNUC_PRINTF (1, 2);

static char *
hs_token_printf (const char *format,
                 ...)
{
  g_autofree char *payload = NULL;
  va_list args;

  va_start (args, format);
  payload = g_strdup_vprintf (format, args);
  va_end (args);

  return sign_token (&hs256, payload);
}

static void
test_claims_exp (void)
{
  g_autoptr(CrierJwtKeys) keys = keys_hmac ();
  g_autofree char *past = hs_token_printf ("{\"exp\":%" G_GINT64_FORMAT "}", NOW - 1);
  g_autofree char *now = hs_token_printf ("{\"exp\":%" G_GINT64_FORMAT "}", NOW);
  g_autofree char *ten_ago = hs_token_printf ("{\"exp\":%" G_GINT64_FORMAT "}", NOW - 10);
  g_autofree char *fraction = hs_token_printf ("{\"exp\":%" G_GINT64_FORMAT ".75}", NOW - 1);
  g_autofree char *huge = hs_token_printf ("{\"exp\":1e300}");
  g_autofree char *max = hs_token_printf ("{\"exp\":9223372036854775807}");
  g_autofree char *null_exp = hs_token_printf ("{\"exp\":null}");
  g_autofree char *zero = hs_token_printf ("{\"exp\":0}");
  g_autoptr(JsonObject) c1 = NULL;
  g_autoptr(JsonObject) c2 = NULL;
  g_autoptr(JsonObject) c3 = NULL;

  verify_fails (keys, past, CRIER_JWT_ERROR_EXPIRED);
  verify_fails (keys, zero, CRIER_JWT_ERROR_EXPIRED);
  c1 = verify_ok (keys, now);
  g_assert_cmpint (crier_jwt_claims_get_exp (c1), ==, NOW);

  /* Leeway. */
  g_clear_pointer (&c1, json_object_unref);
  c1 = verify_ok_full (keys, ten_ago, NOW, 10, NULL);
  verify_fails_full (keys, ten_ago, NOW, 9, NULL, CRIER_JWT_ERROR_EXPIRED);

  /* Fractions are rounded down. */
  verify_fails (keys, fraction, CRIER_JWT_ERROR_EXPIRED);
  g_clear_pointer (&c1, json_object_unref);
  c1 = verify_ok_full (keys, fraction, NOW - 1, 0, NULL);
  g_assert_cmpint (crier_jwt_claims_get_exp (c1), ==, NOW - 1);

  c2 = verify_ok (keys, huge);
  g_assert_cmpint (crier_jwt_claims_get_exp (c2), ==, G_MAXINT64);
  g_clear_pointer (&c2, json_object_unref);
  c2 = verify_ok_full (keys, max, NOW, 1000, NULL);
  g_assert_cmpint (crier_jwt_claims_get_exp (c2), ==, G_MAXINT64);

  /* null means absent: no expiry. */
  c3 = verify_ok (keys, null_exp);
  g_assert_cmpint (crier_jwt_claims_get_exp (c3), ==, 0);
}

static void
test_claims_nbf (void)
{
  g_autoptr(CrierJwtKeys) keys = keys_hmac ();
  g_autofree char *future = hs_token_printf ("{\"nbf\":%" G_GINT64_FORMAT "}", NOW + 5);
  g_autofree char *now = hs_token_printf ("{\"nbf\":%" G_GINT64_FORMAT "}", NOW);
  g_autofree char *both = hs_token_printf ("{\"nbf\":%" G_GINT64_FORMAT ","
                                           "\"exp\":%" G_GINT64_FORMAT "}",
                                           NOW + 100, NOW + 200);
  g_autoptr(JsonObject) c1 = NULL;
  g_autoptr(JsonObject) c2 = NULL;
  g_autoptr(JsonObject) c3 = NULL;

  verify_fails (keys, future, CRIER_JWT_ERROR_NOT_YET_VALID);
  verify_fails_full (keys, future, NOW, 4, NULL, CRIER_JWT_ERROR_NOT_YET_VALID);
  c1 = verify_ok_full (keys, future, NOW, 5, NULL);
  c2 = verify_ok (keys, now);

  verify_fails (keys, both, CRIER_JWT_ERROR_NOT_YET_VALID);
  c3 = verify_ok_full (keys, both, NOW + 150, 0, NULL);
  verify_fails_full (keys, both, NOW + 201, 0, NULL, CRIER_JWT_ERROR_EXPIRED);
}

static void
test_claims_types (void)
{
  static const char *const bad[] = {
    "{\"exp\":\"1700000100\"}",
    "{\"exp\":true}",
    "{\"exp\":[1]}",
    "{\"nbf\":\"0\"}",
    "{\"iat\":{}}",
    "{\"expire_at\":\"0\"}",
    "{\"sub\":42}",
    "{\"sub\":[\"42\"]}",
    "{\"sub\":{}}",
    "{\"iss\":1}",
    "{\"aud\":1}",
    "{\"aud\":[\"a\",1]}",
    "{\"aud\":{\"a\":1}}",
    "{\"channel\":1}",
    "{\"client\":false}",
    "{\"b64info\":{}}",
    "{\"channels\":\"news\"}",
    "{\"channels\":[\"news\",1]}",
    "{\"channels\":[null]}",
    "{\"subs\":[]}",
    "{\"subs\":{\"news\":1}}",
  };
  static const char *const good[] = {
    "{}",
    "{\"sub\":null,\"exp\":null,\"channels\":null,\"subs\":null}",
    "{\"iat\":1.5,\"jti\":\"x\",\"meta\":[1,2],\"info\":\"text\",\"data\":42}",
    "{\"aud\":[],\"channels\":[],\"subs\":{}}",
    "{\"unknown\":{\"nested\":[true]}}",
  };
  g_autoptr(CrierJwtKeys) keys = keys_hmac ();

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *t = sign_token (&hs256, bad[i]);

      verify_fails (keys, t, CRIER_JWT_ERROR_BAD_CLAIM);
    }

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autofree char *t = sign_token (&hs256, good[i]);
      g_autoptr(JsonObject) claims = verify_ok (keys, t);
      g_auto(GStrv) channels = crier_jwt_claims_dup_channels (claims);

      g_assert_cmpstr (crier_jwt_claims_get_sub (claims), ==, "");
      g_assert_cmpint (crier_jwt_claims_get_exp (claims), ==, 0);
      g_assert_cmpuint (g_strv_length (channels), ==, 0);
    }
}

static void
test_claims_audience (void)
{
  g_autoptr(CrierJwtKeys) keys = keys_hmac ();
  CrierJwtOptions opts = { "crier", NULL };
  CrierJwtOptions other = { "other", NULL };
  g_autofree char *str = sign_token (&hs256, "{\"aud\":\"crier\"}");
  g_autofree char *arr = sign_token (&hs256, "{\"aud\":[\"a\",\"crier\",\"b\"]}");
  g_autofree char *arr_without = sign_token (&hs256, "{\"aud\":[\"a\",\"b\"]}");
  g_autofree char *empty_arr = sign_token (&hs256, "{\"aud\":[]}");
  g_autofree char *prefix = sign_token (&hs256, "{\"aud\":\"crier2\"}");
  g_autofree char *none = sign_token (&hs256, "{\"sub\":\"42\"}");
  JsonObject *c;

  c = verify_ok_full (keys, str, NOW, 0, &opts);
  json_object_unref (c);
  c = verify_ok_full (keys, arr, NOW, 0, &opts);
  json_object_unref (c);

  verify_fails_full (keys, str, NOW, 0, &other, CRIER_JWT_ERROR_BAD_CLAIM);
  verify_fails_full (keys, arr, NOW, 0, &other, CRIER_JWT_ERROR_BAD_CLAIM);
  verify_fails_full (keys, arr_without, NOW, 0, &opts, CRIER_JWT_ERROR_BAD_CLAIM);
  verify_fails_full (keys, empty_arr, NOW, 0, &opts, CRIER_JWT_ERROR_BAD_CLAIM);
  verify_fails_full (keys, prefix, NOW, 0, &opts, CRIER_JWT_ERROR_BAD_CLAIM);
  verify_fails_full (keys, none, NOW, 0, &opts, CRIER_JWT_ERROR_BAD_CLAIM);

  /* Not checked unless asked for. */
  c = verify_ok_full (keys, arr_without, NOW, 0, NULL);
  json_object_unref (c);
  c = verify_ok_full (keys, prefix, NOW, 0, &(CrierJwtOptions) { NULL, NULL });
  json_object_unref (c);
}

static void
test_claims_issuer (void)
{
  g_autoptr(CrierJwtKeys) keys = keys_hmac ();
  CrierJwtOptions opts = { NULL, "https://auth.example" };
  CrierJwtOptions both = { "crier", "https://auth.example" };
  g_autofree char *good = sign_token (&hs256,
                                      "{\"iss\":\"https://auth.example\",\"aud\":\"crier\"}");
  g_autofree char *wrong = sign_token (&hs256,
                                       "{\"iss\":\"https://evil.example\",\"aud\":\"crier\"}");
  g_autofree char *array = sign_token (&hs256, "{\"iss\":[\"https://auth.example\"]}");
  g_autofree char *missing = sign_token (&hs256, "{\"aud\":\"crier\"}");
  g_autofree char *wrong_aud = sign_token (&hs256,
                                           "{\"iss\":\"https://auth.example\",\"aud\":\"x\"}");
  JsonObject *c;

  c = verify_ok_full (keys, good, NOW, 0, &opts);
  json_object_unref (c);
  c = verify_ok_full (keys, good, NOW, 0, &both);
  json_object_unref (c);
  c = verify_ok_full (keys, wrong, NOW, 0, NULL);
  json_object_unref (c);

  verify_fails_full (keys, wrong, NOW, 0, &opts, CRIER_JWT_ERROR_BAD_CLAIM);
  verify_fails_full (keys, missing, NOW, 0, &opts, CRIER_JWT_ERROR_BAD_CLAIM);
  verify_fails_full (keys, array, NOW, 0, &opts, CRIER_JWT_ERROR_BAD_CLAIM);
  verify_fails_full (keys, wrong_aud, NOW, 0, &both, CRIER_JWT_ERROR_BAD_CLAIM);
}

static void
test_claims_accessors (void)
{
  g_autoptr(CrierJwtKeys) keys = keys_hmac ();
  g_autofree char *conn = sign_token (&hs256,
                                      "{\"sub\":\"\",\"expire_at\":0,\"b64info\":\"AQI=\","
                                      "\"info\":[1,2],\"channels\":[\"a\",\"b\",\"c\"],"
                                      "\"subs\":{\"news\":{\"info\":{\"x\":1}},\"chat\":{}}}");
  g_autofree char *sub = sign_token (&hs256,
                                     "{\"sub\":\"7\",\"channel\":\"$private\",\"client\":\"c-1\","
                                     "\"expire_at\":1700000500.9,\"data\":{\"k\":\"v\"}}");
  g_autoptr(JsonObject) c1 = verify_ok (keys, conn);
  g_autoptr(JsonObject) c2 = verify_ok (keys, sub);
  g_auto(GStrv) channels = crier_jwt_claims_dup_channels (c1);
  JsonObject *subs;
  JsonNode *node;
  gint64 expire_at = -1;

  g_assert_cmpstr (crier_jwt_claims_get_sub (c1), ==, "");
  g_assert_true (crier_jwt_claims_get_expire_at (c1, &expire_at));
  g_assert_cmpint (expire_at, ==, 0);
  g_assert_cmpstr (crier_jwt_claims_get_b64info (c1), ==, "AQI=");
  node = crier_jwt_claims_get_info (c1);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (node));
  g_assert_cmpuint (json_array_get_length (json_node_get_array (node)), ==, 2);
  g_assert_cmpuint (g_strv_length (channels), ==, 3);
  g_assert_cmpstr (channels[2], ==, "c");
  subs = crier_jwt_claims_get_subs (c1);
  g_assert_nonnull (subs);
  g_assert_cmpuint (json_object_get_size (subs), ==, 2);
  g_assert_true (json_object_has_member (json_object_get_object_member (subs, "news"), "info"));
  g_assert_null (crier_jwt_claims_get_channel (c1));

  g_assert_cmpstr (crier_jwt_claims_get_sub (c2), ==, "7");
  g_assert_cmpstr (crier_jwt_claims_get_channel (c2), ==, "$private");
  g_assert_cmpstr (crier_jwt_claims_get_client (c2), ==, "c-1");
  g_assert_true (crier_jwt_claims_get_expire_at (c2, NULL));
  g_assert_true (crier_jwt_claims_get_expire_at (c2, &expire_at));
  g_assert_cmpint (expire_at, ==, 1700000500);
  node = crier_jwt_claims_get_data (c2);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (node), "k"), ==, "v");
  g_assert_null (crier_jwt_claims_get_subs (c2));
}

/* Tests: malformed tokens */

static void
test_malformed_segments (void)
{
  g_autoptr(CrierJwtKeys) keys = keys_example ();
  g_auto(GStrv) parts = g_strsplit (EXAMPLE_CONNECTION_TOKEN, ".", -1);
  const char *h = parts[0];
  const char *p = parts[1];
  const char *s = parts[2];
  g_autofree char *one = g_strdup (h);
  g_autofree char *two = g_strdup_printf ("%s.%s", h, p);
  g_autofree char *four = g_strdup_printf ("%s.%s.%s.%s", h, p, s, s);
  g_autofree char *trailing_dot = g_strdup_printf ("%s.%s.%s.", h, p, s);
  g_autofree char *leading_dot = g_strdup_printf (".%s.%s.%s", h, p, s);
  g_autofree char *no_header = g_strdup_printf (".%s.%s", p, s);
  g_autofree char *no_payload = g_strdup_printf ("%s..%s", h, s);
  g_autofree char *no_sig = g_strdup_printf ("%s.%s.", h, p);
  const char *const bad[] = {
    "", ".", "..", "...", "a.b.c", one, two, four, trailing_dot, leading_dot,
    no_header, no_payload, no_sig,
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    verify_fails (keys, bad[i], CRIER_JWT_ERROR_MALFORMED);
}

static void
test_malformed_base64 (void)
{
  g_autoptr(CrierJwtKeys) keys = keys_example ();
  g_auto(GStrv) parts = g_strsplit (EXAMPLE_CONNECTION_TOKEN, ".", -1);
  static const char *const insertions[] = {
    "=", "==", "+", "/", " ", "\n", "%", "*", "\xc3\xa9",
  };

  for (guint part = 0; part < 3; part++)
    for (guint i = 0; i < G_N_ELEMENTS (insertions); i++)
      {
        g_auto(GStrv) copy = g_strdupv (parts);
        g_autofree char *appended = NULL;
        g_autofree char *prepended = NULL;
        char *orig = copy[part];

        copy[part] = g_strconcat (orig, insertions[i], NULL);
        appended = g_strjoinv (".", copy);
        g_free (copy[part]);
        copy[part] = g_strconcat (insertions[i], orig, NULL);
        prepended = g_strjoinv (".", copy);
        g_free (orig);

        verify_fails (keys, appended, CRIER_JWT_ERROR_MALFORMED);
        verify_fails (keys, prepended, CRIER_JWT_ERROR_MALFORMED);
      }

  /* Standard base64 (+ and /) instead of base64url. */
  {
    guint8 sig[32];
    g_autofree char *std = NULL;
    g_autofree char *t = NULL;

    memset (sig, 0xfb, sizeof sig);
    std = g_base64_encode (sig, sizeof sig);
    g_assert_nonnull (strchr (std, '+'));
    t = g_strdup_printf ("%s.%s.%s", parts[0], parts[1], std);
    verify_fails (keys, t, CRIER_JWT_ERROR_MALFORMED);
  }

  /* A properly padded header ("...fQ==") is not accepted either. */
  {
    g_autofree char *h = b64_str ("{\"alg\":\"HS256\" }");
    g_autofree char *padded = g_strconcat (h, "==", NULL);
    g_autofree char *t = NULL;

    g_assert_cmpuint (strlen (h) % 4, ==, 2);
    t = g_strdup_printf ("%s.%s.%s", padded, parts[1], parts[2]);
    verify_fails (keys, t, CRIER_JWT_ERROR_MALFORMED);
  }

  /* Impossible length (4n+1) and non-canonical trailing bits. */
  {
    g_autofree char *t1 = g_strdup_printf ("%s.%sAA.%s", parts[0], parts[1], parts[2]);
    g_autofree char *sig = g_strdup (parts[2]);
    g_autofree char *t2 = NULL;
    gsize n = strlen (sig);

    /* 4n+3 characters: the last one carries 2 unused bits. */
    g_assert_cmpuint (strlen (parts[1]) % 4, ==, 3);
    g_assert_cmpuint (n, ==, 43);
    g_assert_true (sig[n - 1] == '0');
    sig[n - 1] = '1';
    t2 = g_strdup_printf ("%s.%s.%s", parts[0], parts[1], sig);
    verify_fails (keys, t1, CRIER_JWT_ERROR_MALFORMED);
    verify_fails (keys, t2, CRIER_JWT_ERROR_MALFORMED);
  }
}

static void
test_malformed_json (void)
{
  g_autoptr(CrierJwtKeys) keys = keys_hmac ();
  static const char *const bad_headers[] = {
    "{\"alg\":\"HS256\"",
    "alg=HS256",
    "[\"HS256\"]",
    "\"HS256\"",
    "null",
    "42",
    " ",
    "{\"alg\":\"HS256\"}{}",
    "{\"alg\":\"HS256\",}",
  };
  static const char *const bad_payloads[] = {
    "{\"sub\":\"42\"",
    "sub=42",
    "[]",
    "[{\"sub\":\"42\"}]",
    "\"42\"",
    "42",
    "true",
    "null",
    " ",
    "{\"sub\":\"42\"} x",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad_headers); i++)
    {
      g_autofree char *t = sign_with_header (&hs256, bad_headers[i], "{\"sub\":\"42\"}");

      verify_fails (keys, t, CRIER_JWT_ERROR_MALFORMED);
    }

  for (guint i = 0; i < G_N_ELEMENTS (bad_payloads); i++)
    {
      g_autofree char *t = sign_with_header (&hs256, "{\"alg\":\"HS256\"}", bad_payloads[i]);

      verify_fails (keys, t, CRIER_JWT_ERROR_MALFORMED);
    }

  /* Strict JSON: what json-glib alone would let through. */
  {
    static const char *const lenient[] = {
      "{\"sub\":\"42\"}{\"sub\":\"43\"}",
      "{'sub':'42'}",
      "/* c */{\"sub\":\"42\"}",
      "{\"sub\":\"42\"}// c",
      "{\"exp\":01700000100}",
      "{\"exp\":.5}",
      "{\"exp\":1.}",
      "{\"exp\":+1}",
      "{\"exp\":1e}",
      "{\"exp\":-}",
      "{\"nbf\":99999999999999999999}",
      "{\"exp\":9223372036854775808}",
      "{\"exp\":-9223372036854775809}",
      "{\"sub\":\"4\\u00002\"}",
      "{\"sub\":\"\\ud800\"}",
      "{\"sub\":\"\\udc00\\ud800\"}",
      "{\"sub\":\"\\ud800\\u0041\"}",
      "{\"sub\":\"\\x41\"}",
      "{\"sub\":\"\\u12G4\"}",
      "{\"sub\":\"tab\there\"}",
      "{\"sub\":\"42\",}",
      "{\"a\":[1,]}",
      "{\"a\":[1 2]}",
      "{\"a\" 1}",
      "{\"a\":True}",
      "{\"a\":nul}",
      "{\"a\":NaN}",
      "{\"sub\":\"42\"",
    };
    static const char *const strict[] = {
      "{\"sub\":\"\\u00e9\\ud83d\\ude00\\n\\\"\\/\\\\\"}",
      "{\"iat\":-9223372036854775808,\"x\":[0,-0,0.5,1e3,1E+3,2.5e-3,true,false,null]}",
      " \t\r\n{ \"a\" : [ ] , \"b\" : { } } \n",
      "{\"sub\":\"1\",\"sub\":\"2\"}",
    };
    g_autoptr(GString) deep = g_string_new ("{\"info\":");
    g_autofree char *deep_ok = NULL;
    g_autofree char *deep_bad = NULL;

    for (guint i = 0; i < G_N_ELEMENTS (lenient); i++)
      {
        g_autofree char *t = sign_with_header (&hs256, "{\"alg\":\"HS256\"}", lenient[i]);
        g_autofree char *h = sign_with_header (&hs256, lenient[i], "{}");

        verify_fails (keys, t, CRIER_JWT_ERROR_MALFORMED);
        verify_fails (keys, h, CRIER_JWT_ERROR_MALFORMED);
      }

    for (guint i = 0; i < G_N_ELEMENTS (strict); i++)
      {
        g_autofree char *t = sign_with_header (&hs256, "{\"alg\":\"HS256\"}", strict[i]);
        g_autoptr(JsonObject) claims = verify_ok (keys, t);
      }

    /* Duplicates: the last one wins. */
    {
      g_autofree char *t = sign_with_header (&hs256, "{\"alg\":\"HS256\"}", strict[3]);
      g_autoptr(JsonObject) claims = verify_ok (keys, t);

      g_assert_cmpstr (crier_jwt_claims_get_sub (claims), ==, "2");
    }

    /* 64 levels (the object itself and 63 arrays) pass, 65 do not. */
    for (guint i = 0; i < 63; i++)
      g_string_append_c (deep, '[');
    for (guint i = 0; i < 63; i++)
      g_string_append_c (deep, ']');
    g_string_append_c (deep, '}');
    deep_ok = sign_token (&hs256, deep->str);
    g_string_insert_c (deep, 8, '[');
    g_string_insert_c (deep, deep->len - 1, ']');
    deep_bad = sign_token (&hs256, deep->str);
    {
      g_autoptr(JsonObject) claims = verify_ok (keys, deep_ok);
    }
    verify_fails (keys, deep_bad, CRIER_JWT_ERROR_MALFORMED);
  }

  /* Embedded NUL and invalid UTF-8, correctly signed. */
  {
    static const char header[] = "{\"alg\":\"HS256\"}";
    static const char nul[] = "{\"sub\":\"4\0002\"}";
    static const char latin1[] = "{\"sub\":\"\xe9\"}";
    static const char nul_header[] = "{\"alg\":\"HS256\"}\0";
    g_autofree char *t1 = sign_raw (&hs256, header, sizeof header - 1, nul, sizeof nul - 1);
    g_autofree char *t2 = sign_raw (&hs256, header, sizeof header - 1, latin1, sizeof latin1 - 1);
    g_autofree char *t3 = sign_raw (&hs256, nul_header, sizeof nul_header - 1, "{}", 2);

    verify_fails (keys, t1, CRIER_JWT_ERROR_MALFORMED);
    verify_fails (keys, t2, CRIER_JWT_ERROR_MALFORMED);
    verify_fails (keys, t3, CRIER_JWT_ERROR_MALFORMED);
  }

  /* A malformed payload with a bad signature reports the signature:
   * the payload is not looked at before the signature verifies. */
  {
    g_autofree char *h = b64_str ("{\"alg\":\"HS256\"}");
    g_autofree char *p = b64_str ("not json");
    g_autofree char *t = g_strdup_printf ("%s.%s.%s", h, p,
                                          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");

    verify_fails (keys, t, CRIER_JWT_ERROR_BAD_SIGNATURE);
  }
}

static void
test_malformed_huge (void)
{
  g_autoptr(CrierJwtKeys) keys = keys_hmac ();
  g_autoptr(GString) payload = g_string_new ("{\"sub\":\"42\",\"pad\":\"");
  g_autofree char *token = NULL;
  g_autoptr(JsonObject) claims = NULL;
  char *huge;
  gsize len;

  /* Grow the payload until the token is just below the cap: still fine. */
  for (;;)
    {
      g_autofree char *candidate = NULL;

      g_string_append (payload, "xxx");
      g_string_append (payload, "\"}");
      candidate = sign_token (&hs256, payload->str);
      g_string_truncate (payload, payload->len - 2);
      if (strlen (candidate) > CRIER_JWT_MAX_TOKEN_SIZE)
        break;
      g_clear_pointer (&token, g_free);
      token = g_steal_pointer (&candidate);
    }
  g_assert_cmpuint (strlen (token), <=, CRIER_JWT_MAX_TOKEN_SIZE);
  g_assert_cmpuint (strlen (token), >, CRIER_JWT_MAX_TOKEN_SIZE - 8);
  claims = verify_ok (keys, token);
  g_assert_cmpstr (crier_jwt_claims_get_sub (claims), ==, "42");

  /* One byte over the cap, however it looks. */
  {
    g_string_append (payload, "xxxxxx\"}");
    g_clear_pointer (&token, g_free);
    token = sign_token (&hs256, payload->str);
    g_assert_cmpuint (strlen (token), >, CRIER_JWT_MAX_TOKEN_SIZE);
    verify_fails (keys, token, CRIER_JWT_ERROR_MALFORMED);
  }

  /* A megabyte of 'A's. */
  len = 1024 * 1024;
  huge = g_malloc (len + 1);
  memset (huge, 'A', len);
  huge[len] = '\0';
  huge[10] = '.';
  huge[20] = '.';
  verify_fails (keys, huge, CRIER_JWT_ERROR_MALFORMED);
  g_free (huge);
}

/* Tests: key loading */

typedef struct
{
  char *dir;
} TmpDir;

static char *
write_tmp (TmpDir     *tmp,
           const char *name,
           const char *contents)
{
  char *path = g_build_filename (tmp->dir, name, NULL);
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_set_contents (path, contents, -1, &error));
  g_assert_no_error (error);
  return path;
}

static void
tmp_dir_clear (TmpDir *tmp)
{
  g_autoptr(GDir) dir = g_dir_open (tmp->dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (tmp->dir, name, NULL);

      g_unlink (path);
    }
  g_rmdir (tmp->dir);
  g_free (tmp->dir);
}

static void
expect_load_error (gboolean     rsa,
                   const char  *path,
                   GQuark       domain,
                   gint         code)
{
  g_autoptr(CrierJwtKeys) keys = crier_jwt_keys_new ();
  g_autoptr(GError) error = NULL;
  gboolean ok;

  if (rsa)
    ok = crier_jwt_keys_load_rsa_public_key (keys, path, &error);
  else
    ok = crier_jwt_keys_load_ec_public_key (keys, path, &error);

  g_assert_false (ok);
  g_assert_error (error, domain, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_false (crier_jwt_keys_has_rsa (keys));
  g_assert_false (crier_jwt_keys_has_ec (keys));
}

static void
test_keys_load (void)
{
  TmpDir tmp = { g_dir_make_tmp ("crier-jwt-XXXXXX", NULL) };
  g_autofree char *rsa_pub = write_tmp (&tmp, "rsa.pem", rsa_key.pub_pem);
  g_autofree char *rsa_cert = write_tmp (&tmp, "rsa-cert.pem", rsa_key.cert_pem);
  g_autofree char *ec_pub = write_tmp (&tmp, "ec.pem", p256_key.pub_pem);
  g_autofree char *ec_cert = write_tmp (&tmp, "ec-cert.pem", p256_key.cert_pem);
  g_autofree char *ec384_pub = write_tmp (&tmp, "ec384.pem", p384_key.pub_pem);
  Signer rs = { "RS256", NULL, 0, &rsa_key };
  Signer es = { "ES256", NULL, 0, &p256_key };
  Signer es384 = { "ES384", NULL, 0, &p384_key };
  g_autofree char *rs_token = sign_token (&rs, sample_claims);
  g_autofree char *es_token = sign_token (&es, sample_claims);
  g_autofree char *es384_token = sign_token (&es384, sample_claims);

  g_assert_nonnull (tmp.dir);

  /* SubjectPublicKeyInfo and certificate files both work. */
  {
    const char *rsa_paths[] = { rsa_pub, rsa_cert };
    const char *ec_paths[] = { ec_pub, ec_cert };

    for (guint i = 0; i < 2; i++)
      {
        g_autoptr(CrierJwtKeys) keys = crier_jwt_keys_new ();
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) c1 = NULL;
        g_autoptr(JsonObject) c2 = NULL;

        g_assert_true (crier_jwt_keys_load_rsa_public_key (keys, rsa_paths[i], &error));
        g_assert_no_error (error);
        g_assert_true (crier_jwt_keys_load_ec_public_key (keys, ec_paths[i], &error));
        g_assert_no_error (error);
        c1 = verify_ok (keys, rs_token);
        c2 = verify_ok (keys, es_token);
      }
  }

  /* P-384 key: ES384 yes, ES256 no. */
  {
    g_autoptr(CrierJwtKeys) keys = crier_jwt_keys_new ();
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) c = NULL;

    g_assert_true (crier_jwt_keys_load_ec_public_key (keys, ec384_pub, &error));
    g_assert_no_error (error);
    c = verify_ok (keys, es384_token);
    verify_fails (keys, es_token, CRIER_JWT_ERROR_NO_KEY);
  }

  /* A failed load keeps the previous key. */
  {
    g_autoptr(CrierJwtKeys) keys = crier_jwt_keys_new ();
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) c = NULL;

    g_assert_true (crier_jwt_keys_load_rsa_public_key (keys, rsa_pub, &error));
    g_assert_false (crier_jwt_keys_load_rsa_public_key (keys, ec_pub, &error));
    g_assert_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_BAD_KEY);
    c = verify_ok (keys, rs_token);
  }

  tmp_dir_clear (&tmp);
}

static void
test_keys_load_errors (void)
{
  TmpDir tmp = { g_dir_make_tmp ("crier-jwt-XXXXXX", NULL) };
  g_autofree char *missing = g_build_filename (tmp.dir, "missing.pem", NULL);
  g_autofree char *garbage = write_tmp (&tmp, "garbage.pem", "this is not a key\n");
  g_autofree char *empty = write_tmp (&tmp, "empty.pem", "");
  g_autofree char *bad_body = write_tmp (&tmp, "bad-body.pem",
                                         "-----BEGIN PUBLIC KEY-----\n"
                                         "bm90IGEga2V5IGF0IGFsbA==\n"
                                         "-----END PUBLIC KEY-----\n");
  g_autofree char *truncated_pem = g_strndup (rsa_key.pub_pem, strlen (rsa_key.pub_pem) / 2);
  g_autofree char *truncated = write_tmp (&tmp, "truncated.pem", truncated_pem);
  g_autofree char *priv_pem = private_key_pem (&rsa_key);
  g_autofree char *priv = write_tmp (&tmp, "private.pem", priv_pem);
  g_autofree char *pkcs1 = write_tmp (&tmp, "pkcs1.pem",
                                      "-----BEGIN RSA PUBLIC KEY-----\n"
                                      "AAAA\n"
                                      "-----END RSA PUBLIC KEY-----\n");
  g_autofree char *rsa_pub = write_tmp (&tmp, "rsa.pem", rsa_key.pub_pem);
  g_autofree char *ec_pub = write_tmp (&tmp, "ec.pem", p256_key.pub_pem);
  g_autofree char *small = write_tmp (&tmp, "small.pem", rsa_small_key.pub_pem);
  const char *const broken[] = { garbage, empty, bad_body, truncated, priv, pkcs1 };

  g_assert_nonnull (tmp.dir);

  expect_load_error (TRUE, missing, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  expect_load_error (FALSE, missing, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  expect_load_error (TRUE, tmp.dir, G_FILE_ERROR, G_FILE_ERROR_ISDIR);

  for (guint i = 0; i < G_N_ELEMENTS (broken); i++)
    {
      expect_load_error (TRUE, broken[i], CRIER_JWT_ERROR, CRIER_JWT_ERROR_BAD_KEY);
      expect_load_error (FALSE, broken[i], CRIER_JWT_ERROR, CRIER_JWT_ERROR_BAD_KEY);
    }

  /* Wrong kind of key for the loader, and a too-small RSA key. */
  expect_load_error (TRUE, ec_pub, CRIER_JWT_ERROR, CRIER_JWT_ERROR_BAD_KEY);
  expect_load_error (FALSE, rsa_pub, CRIER_JWT_ERROR, CRIER_JWT_ERROR_BAD_KEY);
  expect_load_error (TRUE, small, CRIER_JWT_ERROR, CRIER_JWT_ERROR_BAD_KEY);

  /* The in-memory variants name their source. */
  {
    g_autoptr(CrierJwtKeys) keys = crier_jwt_keys_new ();
    g_autoptr(GError) error = NULL;

    g_assert_false (crier_jwt_keys_set_ec_public_key_pem (keys, "junk", 4,
                                                          "config key ecdsa_public_key", &error));
    g_assert_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_BAD_KEY);
    g_assert_nonnull (strstr (error->message, "config key ecdsa_public_key"));
  }

  tmp_dir_clear (&tmp);
}

int
main (int   argc,
      char *argv[])
{
  int ret;

  g_test_init (&argc, &argv, NULL);

  generate_key (&rsa_key, GNUTLS_PK_RSA, 2048);
  generate_key (&rsa_other_key, GNUTLS_PK_RSA, 2048);
  generate_key (&rsa_small_key, GNUTLS_PK_RSA, 1024);
  generate_key (&p256_key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1));
  generate_key (&p256_other_key, GNUTLS_PK_ECDSA,
                GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1));
  generate_key (&p384_key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP384R1));
  generate_key (&p521_key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP521R1));

  g_test_add_func ("/jwt/example/connection", test_example_connection);
  g_test_add_func ("/jwt/example/subscription", test_example_subscription);
  g_test_add_func ("/jwt/example/wrong-secret", test_example_wrong_secret);
  g_test_add_func ("/jwt/valid/hmac", test_valid_hmac);
  g_test_add_func ("/jwt/valid/rsa", test_valid_rsa);
  g_test_add_func ("/jwt/valid/ec", test_valid_ec);
  g_test_add_func ("/jwt/valid/all-keys", test_valid_all_keys);
  g_test_add_func ("/jwt/signature/hmac", test_bad_signature_hmac);
  g_test_add_func ("/jwt/signature/rsa", test_bad_signature_rsa);
  g_test_add_func ("/jwt/signature/ec", test_bad_signature_ec);
  g_test_add_func ("/jwt/alg/none", test_alg_none);
  g_test_add_func ("/jwt/alg/unsupported", test_alg_unsupported);
  g_test_add_func ("/jwt/alg/confusion", test_alg_confusion);
  g_test_add_func ("/jwt/alg/without-key", test_alg_without_key);
  g_test_add_func ("/jwt/alg/header-fields", test_header_fields);
  g_test_add_func ("/jwt/claims/exp", test_claims_exp);
  g_test_add_func ("/jwt/claims/nbf", test_claims_nbf);
  g_test_add_func ("/jwt/claims/types", test_claims_types);
  g_test_add_func ("/jwt/claims/audience", test_claims_audience);
  g_test_add_func ("/jwt/claims/issuer", test_claims_issuer);
  g_test_add_func ("/jwt/claims/accessors", test_claims_accessors);
  g_test_add_func ("/jwt/malformed/segments", test_malformed_segments);
  g_test_add_func ("/jwt/malformed/base64", test_malformed_base64);
  g_test_add_func ("/jwt/malformed/json", test_malformed_json);
  g_test_add_func ("/jwt/malformed/huge", test_malformed_huge);
  g_test_add_func ("/jwt/keys/load", test_keys_load);
  g_test_add_func ("/jwt/keys/load-errors", test_keys_load_errors);

  ret = g_test_run ();

  clear_key (&rsa_key);
  clear_key (&rsa_other_key);
  clear_key (&rsa_small_key);
  clear_key (&p256_key);
  clear_key (&p256_other_key);
  clear_key (&p384_key);
  clear_key (&p521_key);

  return ret;
}
