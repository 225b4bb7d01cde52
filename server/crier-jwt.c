/* crier-jwt.c: JWT verification with GHmac (HS*) and GnuTLS (RS*, ES*).
 *
 * Key functions: crier_jwt_verify() (the pipeline documented in the
 * header), verify_signature() (dispatch by algorithm family),
 * check_claims() (time and type checks), import_public_key() (PEM loading).
 */
#include "config.h"

#include "crier-jwt.h"

#include "crier-util.h"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <math.h>
#include <string.h>

#define MIN_RSA_BITS 2048

G_DEFINE_QUARK (crier-jwt-error-quark, crier_jwt_error)

struct _CrierJwtKeys
{
  gatomicrefcount     ref_count;
  GBytes             *hmac_secret;  /* NULL = no HMAC key */
  gnutls_pubkey_t     rsa_key;      /* NULL = no RSA key */
  guint               rsa_bits;
  gnutls_pubkey_t     ec_key;       /* NULL = no EC key */
  gnutls_ecc_curve_t  ec_curve;
};

typedef enum
{
  ALG_FAMILY_HMAC,
  ALG_FAMILY_RSA,
  ALG_FAMILY_EC,
} AlgFamily;

typedef struct
{
  const char              *name;
  AlgFamily                family;
  GChecksumType            checksum;  /* HMAC only */
  gnutls_sign_algorithm_t  sign;      /* RSA and EC */
  gnutls_ecc_curve_t       curve;     /* EC only */
  gsize                    ec_size;   /* EC only: bytes of r and of s */
  const char              *curve_name;
} JwtAlg;

/* RFC 7518 §3.1. */
static const JwtAlg jwt_algs[] = {
  { "HS256", ALG_FAMILY_HMAC, G_CHECKSUM_SHA256, 0, 0, 0 },
  { "HS384", ALG_FAMILY_HMAC, G_CHECKSUM_SHA384, 0, 0, 0 },
  { "HS512", ALG_FAMILY_HMAC, G_CHECKSUM_SHA512, 0, 0, 0 },
  { "RS256", ALG_FAMILY_RSA, 0, GNUTLS_SIGN_RSA_SHA256, 0, 0 },
  { "RS384", ALG_FAMILY_RSA, 0, GNUTLS_SIGN_RSA_SHA384, 0, 0 },
  { "RS512", ALG_FAMILY_RSA, 0, GNUTLS_SIGN_RSA_SHA512, 0, 0 },
  { "ES256", ALG_FAMILY_EC, 0, GNUTLS_SIGN_ECDSA_SHA256, GNUTLS_ECC_CURVE_SECP256R1, 32, "P-256" },
  { "ES384", ALG_FAMILY_EC, 0, GNUTLS_SIGN_ECDSA_SHA384, GNUTLS_ECC_CURVE_SECP384R1, 48, "P-384" },
  { "ES512", ALG_FAMILY_EC, 0, GNUTLS_SIGN_ECDSA_SHA512, GNUTLS_ECC_CURVE_SECP521R1, 66, "P-521" },
};

/* Keys */

CrierJwtKeys *
crier_jwt_keys_new (void)
{
  CrierJwtKeys *keys = g_new0 (CrierJwtKeys, 1);

  g_atomic_ref_count_init (&keys->ref_count);
  return keys;
}

CrierJwtKeys *
crier_jwt_keys_ref (CrierJwtKeys *keys)
{
  g_return_val_if_fail (keys != NULL, NULL);

  g_atomic_ref_count_inc (&keys->ref_count);
  return keys;
}

static void
clear_pubkey (gnutls_pubkey_t *key)
{
  if (*key != NULL)
    {
      gnutls_pubkey_deinit (*key);
      *key = NULL;
    }
}

void
crier_jwt_keys_unref (CrierJwtKeys *keys)
{
  g_return_if_fail (keys != NULL);

  if (!g_atomic_ref_count_dec (&keys->ref_count))
    return;

  g_clear_pointer (&keys->hmac_secret, g_bytes_unref);
  clear_pubkey (&keys->rsa_key);
  clear_pubkey (&keys->ec_key);
  g_free (keys);
}

void
crier_jwt_keys_set_hmac_secret (CrierJwtKeys *keys,
                                const guint8 *secret,
                                gsize         len)
{
  g_return_if_fail (keys != NULL);
  g_return_if_fail (secret != NULL || len == 0);

  g_clear_pointer (&keys->hmac_secret, g_bytes_unref);
  if (len > 0)
    keys->hmac_secret = g_bytes_new (secret, len);
}

gboolean
crier_jwt_keys_has_hmac (CrierJwtKeys *keys)
{
  g_return_val_if_fail (keys != NULL, FALSE);

  return keys->hmac_secret != NULL;
}

gboolean
crier_jwt_keys_has_rsa (CrierJwtKeys *keys)
{
  g_return_val_if_fail (keys != NULL, FALSE);

  return keys->rsa_key != NULL;
}

gboolean
crier_jwt_keys_has_ec (CrierJwtKeys *keys)
{
  g_return_val_if_fail (keys != NULL, FALSE);

  return keys->ec_key != NULL;
}

static gboolean
contains (const char *haystack,
          gsize       len,
          const char *needle)
{
  return memmem (haystack, len, needle, strlen (needle)) != NULL;
}

/* Imports the first "PUBLIC KEY" or "CERTIFICATE" PEM block of @pem. */
static gnutls_pubkey_t
import_public_key (const char  *pem,
                   gsize        len,
                   const char  *what,
                   const char  *source,
                   GError     **error)
{
  gnutls_pubkey_t key = NULL;
  gnutls_datum_t datum;
  int rc;

  if (len > G_MAXUINT)
    {
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_BAD_KEY,
                   "%s “%s” is too large", what, source);
      return NULL;
    }

  datum.data = (unsigned char *) pem;
  datum.size = (unsigned int) len;

  if ((rc = gnutls_pubkey_init (&key)) < 0)
    {
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_BAD_KEY,
                   "%s “%s”: %s", what, source, gnutls_strerror (rc));
      return NULL;
    }

  if (contains (pem, len, "-----BEGIN PUBLIC KEY-----"))
    {
      rc = gnutls_pubkey_import (key, &datum, GNUTLS_X509_FMT_PEM);
    }
  else if (contains (pem, len, "-----BEGIN CERTIFICATE-----"))
    {
      gnutls_x509_crt_t crt = NULL;

      if ((rc = gnutls_x509_crt_init (&crt)) >= 0)
        {
          rc = gnutls_x509_crt_import (crt, &datum, GNUTLS_X509_FMT_PEM);
          if (rc >= 0)
            rc = gnutls_pubkey_import_x509 (key, crt, 0);
          gnutls_x509_crt_deinit (crt);
        }
    }
  else
    {
      const char *hint;

      if (contains (pem, len, "PRIVATE KEY-----"))
        hint = "it holds a private key; configure the matching public key instead";
      else if (contains (pem, len, "-----BEGIN RSA PUBLIC KEY-----"))
        hint = "PKCS#1 “RSA PUBLIC KEY” is not supported; convert it with "
               "“openssl rsa -RSAPublicKey_in -pubout”";
      else
        hint = "no “BEGIN PUBLIC KEY” or “BEGIN CERTIFICATE” PEM block found";

      gnutls_pubkey_deinit (key);
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_BAD_KEY,
                   "%s “%s” is not usable: %s", what, source, hint);
      return NULL;
    }

  if (rc < 0)
    {
      gnutls_pubkey_deinit (key);
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_BAD_KEY,
                   "%s “%s” could not be parsed: %s",
                   what, source, gnutls_strerror (rc));
      return NULL;
    }

  return key;
}

gboolean
crier_jwt_keys_set_rsa_public_key_pem (CrierJwtKeys  *keys,
                                       const char    *pem,
                                       gsize          len,
                                       const char    *source,
                                       GError       **error)
{
  gnutls_pubkey_t key;
  unsigned int bits = 0;
  int pk;

  g_return_val_if_fail (keys != NULL, FALSE);
  g_return_val_if_fail (pem != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (source == NULL)
    source = "(memory)";

  if ((key = import_public_key (pem, len, "RSA public key", source, error)) == NULL)
    return FALSE;

  pk = gnutls_pubkey_get_pk_algorithm (key, &bits);
  if (pk != GNUTLS_PK_RSA)
    {
      gnutls_pubkey_deinit (key);
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_BAD_KEY,
                   "RSA public key “%s” is a %s key, not an RSA key",
                   source, pk < 0 ? "unknown" : gnutls_pk_get_name (pk));
      return FALSE;
    }
  if (bits < MIN_RSA_BITS)
    {
      gnutls_pubkey_deinit (key);
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_BAD_KEY,
                   "RSA public key “%s” has %u bits; at least %u are required",
                   source, bits, MIN_RSA_BITS);
      return FALSE;
    }

  clear_pubkey (&keys->rsa_key);
  keys->rsa_key = key;
  keys->rsa_bits = bits;
  return TRUE;
}

gboolean
crier_jwt_keys_set_ec_public_key_pem (CrierJwtKeys  *keys,
                                      const char    *pem,
                                      gsize          len,
                                      const char    *source,
                                      GError       **error)
{
  gnutls_pubkey_t key;
  gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
  gnutls_datum_t x = { NULL, 0 };
  gnutls_datum_t y = { NULL, 0 };
  int pk;

  g_return_val_if_fail (keys != NULL, FALSE);
  g_return_val_if_fail (pem != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (source == NULL)
    source = "(memory)";

  if ((key = import_public_key (pem, len, "EC public key", source, error)) == NULL)
    return FALSE;

  pk = gnutls_pubkey_get_pk_algorithm (key, NULL);
  if (pk != GNUTLS_PK_ECDSA)
    {
      gnutls_pubkey_deinit (key);
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_BAD_KEY,
                   "EC public key “%s” is a %s key, not an ECDSA key",
                   source, pk < 0 ? "unknown" : gnutls_pk_get_name (pk));
      return FALSE;
    }

  if (gnutls_pubkey_export_ecc_raw2 (key, &curve, &x, &y, 0) < 0)
    curve = GNUTLS_ECC_CURVE_INVALID;
  gnutls_free (x.data);
  gnutls_free (y.data);

  if (curve != GNUTLS_ECC_CURVE_SECP256R1 &&
      curve != GNUTLS_ECC_CURVE_SECP384R1 &&
      curve != GNUTLS_ECC_CURVE_SECP521R1)
    {
      const char *name = gnutls_ecc_curve_get_name (curve);

      gnutls_pubkey_deinit (key);
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_BAD_KEY,
                   "EC public key “%s” uses curve %s; "
                   "only P-256, P-384 and P-521 are supported",
                   source, name != NULL ? name : "(unknown)");
      return FALSE;
    }

  clear_pubkey (&keys->ec_key);
  keys->ec_key = key;
  keys->ec_curve = curve;
  return TRUE;
}

static gboolean
load_pem_file (CrierJwtKeys  *keys,
               const char    *path,
               gboolean       rsa,
               GError       **error)
{
  g_autofree char *contents = NULL;
  gsize len = 0;

  g_return_val_if_fail (keys != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* GLib's message names the file already. */
  if (!g_file_get_contents (path, &contents, &len, error))
    {
      g_prefix_error (error, rsa ? "RSA public key: " : "EC public key: ");
      return FALSE;
    }

  if (rsa)
    return crier_jwt_keys_set_rsa_public_key_pem (keys, contents, len, path, error);
  else
    return crier_jwt_keys_set_ec_public_key_pem (keys, contents, len, path, error);
}

gboolean
crier_jwt_keys_load_rsa_public_key (CrierJwtKeys  *keys,
                                    const char    *path,
                                    GError       **error)
{
  return load_pem_file (keys, path, TRUE, error);
}

gboolean
crier_jwt_keys_load_ec_public_key (CrierJwtKeys  *keys,
                                   const char    *path,
                                   GError       **error)
{
  return load_pem_file (keys, path, FALSE, error);
}

/* Decoding */

static guint8 *
decode_segment (const char  *text,
                gsize        len,
                const char  *what,
                gsize       *out_len,
                GError     **error)
{
  guint8 *data;

  if (len == 0)
    {
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_MALFORMED,
                   "JWT %s is empty", what);
      return NULL;
    }

  if ((data = crier_base64url_decode (text, len, out_len)) == NULL)
    {
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_MALFORMED,
                   "JWT %s is not valid unpadded base64url", what);
      return NULL;
    }

  return data;
}

/* Strict RFC 8259 syntax check.  json-glib 1.6 is lenient: it takes
 * "{}{}", single quotes, comments, leading zeros and ".5", and wraps
 * integers beyond 64 bits (so a huge "nbf" would turn into a small one).
 * Anything it might read differently from other JWT libraries is refused
 * here first.  Also refused: "\u0000" (json-glib truncates the string
 * there), unpaired surrogates, nesting deeper than MAX_JSON_DEPTH.  UTF-8
 * validity is checked by the caller. */

#define MAX_JSON_DEPTH 64

typedef struct
{
  const guint8 *p;
  const guint8 *end;
  guint         depth;
} JsonCheck;

static gboolean check_value (JsonCheck *c);

static void
skip_ws (JsonCheck *c)
{
  while (c->p < c->end &&
         (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
    c->p++;
}

static gboolean
expect_char (JsonCheck *c,
             guint8     ch)
{
  if (c->p >= c->end || *c->p != ch)
    return FALSE;
  c->p++;
  return TRUE;
}

static gboolean
check_string (JsonCheck *c)
{
  if (!expect_char (c, '"'))
    return FALSE;

  while (c->p < c->end)
    {
      guint8 ch = *c->p++;
      gunichar cp;

      if (ch == '"')
        return TRUE;
      if (ch < 0x20)
        return FALSE;
      if (ch != '\\')
        continue;
      if (c->p >= c->end)
        return FALSE;

      switch (*c->p++)
        {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
          break;

        case 'u':
          {
            gsize n = crier_json_unicode_escape_len ((const char *) c->p - 2, (const char *) c->end, &cp);

            /* \u0000 too: claims are C strings. */
            if (n == 0 || cp == 0)
              return FALSE;
            c->p += n - 2;
          }
          break;

        default:
          return FALSE;
        }
    }

  return FALSE;
}

static gboolean
check_number (JsonCheck *c)
{
  gboolean negative = FALSE;
  gboolean integer = TRUE;
  guint64 limit;
  guint64 v = 0;

  if (c->p < c->end && *c->p == '-')
    {
      negative = TRUE;
      c->p++;
    }
  limit = negative ? (guint64) G_MAXINT64 + 1 : (guint64) G_MAXINT64;

  if (c->p >= c->end || !g_ascii_isdigit (*c->p))
    return FALSE;
  if (*c->p == '0')
    c->p++;
  else
    while (c->p < c->end && g_ascii_isdigit (*c->p))
      {
        guint d = *c->p++ - '0';

        /* Saturate; only reported if this stays an integer. */
        v = v > (limit - d) / 10 ? limit + 1 : v * 10 + d;
      }

  if (c->p < c->end && *c->p == '.')
    {
      integer = FALSE;
      c->p++;
      if (c->p >= c->end || !g_ascii_isdigit (*c->p))
        return FALSE;
      while (c->p < c->end && g_ascii_isdigit (*c->p))
        c->p++;
    }

  if (c->p < c->end && (*c->p == 'e' || *c->p == 'E'))
    {
      integer = FALSE;
      c->p++;
      if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
        c->p++;
      if (c->p >= c->end || !g_ascii_isdigit (*c->p))
        return FALSE;
      while (c->p < c->end && g_ascii_isdigit (*c->p))
        c->p++;
    }

  /* json-glib would wrap an integer that does not fit in gint64. */
  return !integer || v <= limit;
}

static gboolean
check_literal (JsonCheck  *c,
               const char *word)
{
  gsize n = strlen (word);

  if ((gsize) (c->end - c->p) < n || memcmp (c->p, word, n) != 0)
    return FALSE;
  c->p += n;
  return TRUE;
}

static gboolean
check_container (JsonCheck *c,
                 gboolean   object)
{
  guint8 close = object ? '}' : ']';

  if (++c->depth > MAX_JSON_DEPTH)
    return FALSE;
  c->p++;  /* '{' or '[' */

  skip_ws (c);
  if (expect_char (c, close))
    {
      c->depth--;
      return TRUE;
    }

  for (;;)
    {
      if (object)
        {
          if (!check_string (c))
            return FALSE;
          skip_ws (c);
          if (!expect_char (c, ':'))
            return FALSE;
        }
      if (!check_value (c))
        return FALSE;
      skip_ws (c);
      if (expect_char (c, close))
        break;
      if (!expect_char (c, ','))
        return FALSE;
      skip_ws (c);
    }

  c->depth--;
  return TRUE;
}

static gboolean
check_value (JsonCheck *c)
{
  skip_ws (c);
  if (c->p >= c->end)
    return FALSE;

  switch (*c->p)
    {
    case '{':
      return check_container (c, TRUE);
    case '[':
      return check_container (c, FALSE);
    case '"':
      return check_string (c);
    case 't':
      return check_literal (c, "true");
    case 'f':
      return check_literal (c, "false");
    case 'n':
      return check_literal (c, "null");
    default:
      return check_number (c);
    }
}

static gboolean
json_is_strict (const guint8 *data,
                gsize         len)
{
  JsonCheck c = { data, data + len, 0 };

  if (!check_value (&c))
    return FALSE;
  skip_ws (&c);
  return c.p == c.end;
}

/* Parses @data as a JSON object; embedded NULs and bad UTF-8 are errors. */
static JsonObject *
parse_json_object (const guint8  *data,
                   gsize          len,
                   const char    *what,
                   GError       **error)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) local_error = NULL;
  JsonNode *root;

  if (len > G_MAXSSIZE ||
      memchr (data, '\0', len) != NULL ||
      !g_utf8_validate_len ((const char *) data, len, NULL))
    {
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_MALFORMED,
                   "JWT %s is not valid UTF-8 JSON", what);
      return NULL;
    }

  if (!json_is_strict (data, len))
    {
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_MALFORMED,
                   "JWT %s is not valid JSON", what);
      return NULL;
    }

  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, (const char *) data, (gssize) len, &local_error))
    {
      /* The parser's message may quote the input: keep it out. */
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_MALFORMED,
                   "JWT %s is not valid JSON", what);
      return NULL;
    }

  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_MALFORMED,
                   "JWT %s is not a JSON object", what);
      return NULL;
    }

  return json_object_ref (json_node_get_object (root));
}

/* The member @name, or NULL if absent or JSON null. */
static JsonNode *
get_member (JsonObject *object,
            const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;
  return node;
}

static gboolean
node_is_string (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) &&
         json_node_get_value_type (node) == G_TYPE_STRING;
}

static gboolean
node_is_number (JsonNode *node)
{
  GType type;

  if (!JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  type = json_node_get_value_type (node);
  return type == G_TYPE_INT64 || type == G_TYPE_DOUBLE;
}

/* A number node as whole seconds, rounded down and clamped to gint64. */
static gint64
node_get_seconds (JsonNode *node)
{
  double d;

  if (json_node_get_value_type (node) == G_TYPE_INT64)
    return json_node_get_int (node);

  d = floor (json_node_get_double (node));
  if (isnan (d))
    return 0;
  if (d >= 9223372036854775807.0)
    return G_MAXINT64;
  if (d <= -9223372036854775808.0)
    return G_MININT64;
  return (gint64) d;
}

static gboolean
is_short_name (const char *s)
{
  gsize n = 0;

  for (; *s != '\0'; s++, n++)
    if (!g_ascii_isalnum (*s) || n >= 16)
      return FALSE;
  return n > 0;
}

static const JwtAlg *
parse_header (JsonObject  *header,
              GError     **error)
{
  JsonNode *alg_node;
  JsonNode *typ_node;
  const char *alg;

  if (json_object_has_member (header, "crit"))
    {
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_MALFORMED,
                   "JWT header has a “crit” member; no extensions are supported");
      return NULL;
    }

  typ_node = get_member (header, "typ");
  if (typ_node != NULL &&
      (!node_is_string (typ_node) ||
       g_ascii_strcasecmp (json_node_get_string (typ_node), "JWT") != 0))
    {
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_MALFORMED,
                   "JWT header “typ” is not “JWT”");
      return NULL;
    }

  alg_node = get_member (header, "alg");
  if (alg_node == NULL || !node_is_string (alg_node))
    {
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_UNSUPPORTED_ALG,
                   "JWT header has no “alg” string");
      return NULL;
    }
  alg = json_node_get_string (alg_node);

  /* Exact (case-sensitive) names, as RFC 7518 defines them. */
  for (guint i = 0; i < G_N_ELEMENTS (jwt_algs); i++)
    if (strcmp (jwt_algs[i].name, alg) == 0)
      return &jwt_algs[i];

  if (g_ascii_strcasecmp (alg, "none") == 0)
    g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_UNSUPPORTED_ALG,
                 "JWT algorithm “none” (unsigned token) is never accepted");
  else if (is_short_name (alg))
    g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_UNSUPPORTED_ALG,
                 "JWT algorithm “%s” is not supported", alg);
  else
    g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_UNSUPPORTED_ALG,
                 "JWT algorithm is not supported");
  return NULL;
}

/* Signatures */

static gboolean
check_key (CrierJwtKeys  *keys,
           const JwtAlg  *alg,
           GError       **error)
{
  switch (alg->family)
    {
    case ALG_FAMILY_HMAC:
      if (keys->hmac_secret != NULL)
        return TRUE;
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_NO_KEY,
                   "JWT uses %s but no HMAC secret is configured", alg->name);
      return FALSE;

    case ALG_FAMILY_RSA:
      if (keys->rsa_key != NULL)
        return TRUE;
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_NO_KEY,
                   "JWT uses %s but no RSA public key is configured", alg->name);
      return FALSE;

    case ALG_FAMILY_EC:
      if (keys->ec_key != NULL && keys->ec_curve == alg->curve)
        return TRUE;
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_NO_KEY,
                   "JWT uses %s but no %s public key is configured",
                   alg->name, alg->curve_name);
      return FALSE;

    default:
      g_assert_not_reached ();
    }
}

static gboolean
verify_hmac (CrierJwtKeys *keys,
             const JwtAlg *alg,
             const char   *input,
             gsize         input_len,
             const guint8 *sig,
             gsize         sig_len)
{
  g_autoptr(GHmac) hmac = NULL;
  const guint8 *secret;
  gsize secret_len;
  guint8 digest[64];
  gsize digest_len = sizeof digest;

  secret = g_bytes_get_data (keys->hmac_secret, &secret_len);
  hmac = g_hmac_new (alg->checksum, secret, secret_len);
  g_hmac_update (hmac, (const guchar *) input, input_len);
  g_hmac_get_digest (hmac, digest, &digest_len);

  return crier_const_time_equal (digest, digest_len, sig, sig_len);
}

/* Raw big-endian unsigned integer without leading zero bytes (keeps one). */
static gnutls_datum_t
trim_integer (const guint8 *data,
              gsize         len)
{
  gnutls_datum_t d;

  while (len > 1 && data[0] == 0)
    {
      data++;
      len--;
    }
  d.data = (unsigned char *) data;
  d.size = (unsigned int) len;
  return d;
}

static gboolean
verify_pubkey (CrierJwtKeys *keys,
               const JwtAlg *alg,
               const char   *input,
               gsize         input_len,
               const guint8 *sig,
               gsize         sig_len)
{
  gnutls_datum_t data = { (unsigned char *) input, (unsigned int) input_len };
  gnutls_datum_t signature = { NULL, 0 };
  gnutls_pubkey_t key;
  int rc;

  if (alg->family == ALG_FAMILY_RSA)
    {
      /* RFC 8017 §8.2.2: the signature is exactly as long as the modulus. */
      if (sig_len != (keys->rsa_bits + 7) / 8)
        return FALSE;
      key = keys->rsa_key;
      signature.data = (unsigned char *) sig;
      signature.size = (unsigned int) sig_len;
      return gnutls_pubkey_verify_data2 (key, alg->sign, 0, &data, &signature) >= 0;
    }
  else
    {
      gnutls_datum_t r;
      gnutls_datum_t s;

      /* RFC 7518 §3.4: JWS carries R || S, each padded to the curve size;
       * GnuTLS wants a DER Ecdsa-Sig-Value. */
      if (sig_len != 2 * alg->ec_size)
        return FALSE;
      r = trim_integer (sig, alg->ec_size);
      s = trim_integer (sig + alg->ec_size, alg->ec_size);
      if (gnutls_encode_rs_value (&signature, &r, &s) < 0)
        return FALSE;
      key = keys->ec_key;
      rc = gnutls_pubkey_verify_data2 (key, alg->sign, 0, &data, &signature);
      gnutls_free (signature.data);
      return rc >= 0;
    }
}

static gboolean
verify_signature (CrierJwtKeys  *keys,
                  const JwtAlg  *alg,
                  const char    *input,
                  gsize          input_len,
                  const guint8  *sig,
                  gsize          sig_len,
                  GError       **error)
{
  gboolean ok;

  if (alg->family == ALG_FAMILY_HMAC)
    ok = verify_hmac (keys, alg, input, input_len, sig, sig_len);
  else
    ok = verify_pubkey (keys, alg, input, input_len, sig, sig_len);

  if (!ok)
    g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_BAD_SIGNATURE,
                 "JWT signature (%s) does not verify", alg->name);
  return ok;
}

/* Claims */

static gboolean
bad_claim (GError     **error,
           const char  *name,
           const char  *problem)
{
  g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_BAD_CLAIM,
               "JWT claim “%s” %s", name, problem);
  return FALSE;
}

static gboolean
check_string_array (JsonNode *node)
{
  JsonArray *array;
  guint n;

  if (!JSON_NODE_HOLDS_ARRAY (node))
    return FALSE;
  array = json_node_get_array (node);
  n = json_array_get_length (array);
  for (guint i = 0; i < n; i++)
    if (!node_is_string (json_array_get_element (array, i)))
      return FALSE;
  return TRUE;
}

static gboolean
check_types (JsonObject  *claims,
             GError     **error)
{
  static const char *const numbers[] = { "exp", "nbf", "iat", "expire_at" };
  static const char *const strings[] = {
    "sub", "iss", "jti", "channel", "client", "b64info", "b64data",
  };
  JsonNode *node;

  for (guint i = 0; i < G_N_ELEMENTS (numbers); i++)
    if ((node = get_member (claims, numbers[i])) != NULL && !node_is_number (node))
      return bad_claim (error, numbers[i], "is not a number");

  for (guint i = 0; i < G_N_ELEMENTS (strings); i++)
    if ((node = get_member (claims, strings[i])) != NULL && !node_is_string (node))
      return bad_claim (error, strings[i], "is not a string");

  if ((node = get_member (claims, "aud")) != NULL &&
      !node_is_string (node) && !check_string_array (node))
    return bad_claim (error, "aud", "is neither a string nor an array of strings");

  if ((node = get_member (claims, "channels")) != NULL && !check_string_array (node))
    return bad_claim (error, "channels", "is not an array of strings");

  if ((node = get_member (claims, "subs")) != NULL)
    {
      g_autoptr(GList) values = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        return bad_claim (error, "subs", "is not an object");
      values = json_object_get_values (json_node_get_object (node));
      for (const GList *l = values; l != NULL; l = l->next)
        if (!JSON_NODE_HOLDS_OBJECT ((JsonNode *) l->data))
          return bad_claim (error, "subs", "has a value that is not an object");
    }

  return TRUE;
}

static gboolean
check_audience (JsonObject  *claims,
                const char  *expected,
                GError     **error)
{
  JsonNode *node = get_member (claims, "aud");

  if (node == NULL)
    return bad_claim (error, "aud", "is missing");

  if (node_is_string (node))
    {
      if (strcmp (json_node_get_string (node), expected) == 0)
        return TRUE;
    }
  else
    {
      JsonArray *array = json_node_get_array (node);
      guint n = json_array_get_length (array);

      for (guint i = 0; i < n; i++)
        if (strcmp (json_array_get_string_element (array, i), expected) == 0)
          return TRUE;
    }

  return bad_claim (error, "aud", "does not name this server");
}

static gboolean
check_claims (JsonObject             *claims,
              gint64                  now,
              gint64                  leeway,
              const CrierJwtOptions  *options,
              GError                **error)
{
  JsonNode *node;

  if (!check_types (claims, error))
    return FALSE;

  /* Written as subtractions: exp and nbf may be anything up to G_MAXINT64,
   * while now and leeway are sane. */
  if ((node = get_member (claims, "exp")) != NULL &&
      now - leeway > node_get_seconds (node))
    {
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_EXPIRED,
                   "JWT has expired");
      return FALSE;
    }

  if ((node = get_member (claims, "nbf")) != NULL &&
      now + leeway < node_get_seconds (node))
    {
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_NOT_YET_VALID,
                   "JWT is not valid yet (nbf)");
      return FALSE;
    }

  if (options != NULL && options->audience != NULL &&
      !check_audience (claims, options->audience, error))
    return FALSE;

  if (options != NULL && options->issuer != NULL)
    {
      node = get_member (claims, "iss");
      if (node == NULL)
        return bad_claim (error, "iss", "is missing");
      if (strcmp (json_node_get_string (node), options->issuer) != 0)
        return bad_claim (error, "iss", "does not match the expected issuer");
    }

  return TRUE;
}

gboolean
crier_jwt_verify (CrierJwtKeys           *keys,
                  const char             *token,
                  gint64                  now_seconds,
                  gint64                  leeway_seconds,
                  const CrierJwtOptions  *options,
                  JsonObject            **claims_out,
                  GError                **error)
{
  g_autofree guint8 *header_bytes = NULL;
  g_autofree guint8 *payload_bytes = NULL;
  g_autofree guint8 *sig_bytes = NULL;
  g_autoptr(JsonObject) header = NULL;
  g_autoptr(JsonObject) claims = NULL;
  gsize header_len, payload_len, sig_len;
  const char *dot1, *dot2;
  const JwtAlg *alg;
  gsize len;

  g_return_val_if_fail (keys != NULL, FALSE);
  g_return_val_if_fail (token != NULL, FALSE);
  g_return_val_if_fail (leeway_seconds >= 0, FALSE);
  g_return_val_if_fail (claims_out == NULL || *claims_out == NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  len = strnlen (token, CRIER_JWT_MAX_TOKEN_SIZE + 1);
  if (len > CRIER_JWT_MAX_TOKEN_SIZE)
    {
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_MALFORMED,
                   "JWT is larger than %u bytes", (guint) CRIER_JWT_MAX_TOKEN_SIZE);
      return FALSE;
    }

  dot1 = memchr (token, '.', len);
  dot2 = dot1 != NULL ? memchr (dot1 + 1, '.', len - (gsize) (dot1 + 1 - token)) : NULL;
  if (dot2 == NULL || memchr (dot2 + 1, '.', len - (gsize) (dot2 + 1 - token)) != NULL)
    {
      g_set_error (error, CRIER_JWT_ERROR, CRIER_JWT_ERROR_MALFORMED,
                   "JWT does not have exactly three segments");
      return FALSE;
    }

  /* The header only picks the algorithm; nothing else is trusted yet. */
  header_bytes = decode_segment (token, (gsize) (dot1 - token), "header", &header_len, error);
  if (header_bytes == NULL)
    return FALSE;
  if ((header = parse_json_object (header_bytes, header_len, "header", error)) == NULL)
    return FALSE;
  if ((alg = parse_header (header, error)) == NULL)
    return FALSE;
  if (!check_key (keys, alg, error))
    return FALSE;

  payload_bytes = decode_segment (dot1 + 1, (gsize) (dot2 - dot1 - 1), "payload",
                                  &payload_len, error);
  if (payload_bytes == NULL)
    return FALSE;
  sig_bytes = decode_segment (dot2 + 1, len - (gsize) (dot2 + 1 - token), "signature",
                              &sig_len, error);
  if (sig_bytes == NULL)
    return FALSE;

  if (!verify_signature (keys, alg, token, (gsize) (dot2 - token), sig_bytes, sig_len, error))
    return FALSE;

  /* Authentic from here on. */
  if ((claims = parse_json_object (payload_bytes, payload_len, "payload", error)) == NULL)
    return FALSE;
  if (!check_claims (claims, now_seconds, leeway_seconds, options, error))
    return FALSE;

  if (claims_out != NULL)
    *claims_out = g_steal_pointer (&claims);
  return TRUE;
}

/* Accessors */

const char *
crier_jwt_claims_get_sub (JsonObject *claims)
{
  JsonNode *node;

  g_return_val_if_fail (claims != NULL, "");

  node = get_member (claims, "sub");
  return node != NULL && node_is_string (node) ? json_node_get_string (node) : "";
}

gint64
crier_jwt_claims_get_exp (JsonObject *claims)
{
  JsonNode *node;

  g_return_val_if_fail (claims != NULL, 0);

  node = get_member (claims, "exp");
  return node != NULL && node_is_number (node) ? node_get_seconds (node) : 0;
}

gboolean
crier_jwt_claims_get_expire_at (JsonObject *claims,
                                gint64     *out_value)
{
  JsonNode *node;

  g_return_val_if_fail (claims != NULL, FALSE);

  node = get_member (claims, "expire_at");
  if (node == NULL || !node_is_number (node))
    return FALSE;
  if (out_value != NULL)
    *out_value = node_get_seconds (node);
  return TRUE;
}

JsonNode *
crier_jwt_claims_get_info (JsonObject *claims)
{
  g_return_val_if_fail (claims != NULL, NULL);

  return get_member (claims, "info");
}

JsonNode *
crier_jwt_claims_get_data (JsonObject *claims)
{
  g_return_val_if_fail (claims != NULL, NULL);

  return get_member (claims, "data");
}

static const char *
get_string_or_null (JsonObject *claims,
                    const char *name)
{
  JsonNode *node = get_member (claims, name);

  return node != NULL && node_is_string (node) ? json_node_get_string (node) : NULL;
}

const char *
crier_jwt_claims_get_b64info (JsonObject *claims)
{
  g_return_val_if_fail (claims != NULL, NULL);

  return get_string_or_null (claims, "b64info");
}

const char *
crier_jwt_claims_get_channel (JsonObject *claims)
{
  g_return_val_if_fail (claims != NULL, NULL);

  return get_string_or_null (claims, "channel");
}

const char *
crier_jwt_claims_get_client (JsonObject *claims)
{
  g_return_val_if_fail (claims != NULL, NULL);

  return get_string_or_null (claims, "client");
}

char **
crier_jwt_claims_dup_channels (JsonObject *claims)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  JsonNode *node;

  g_return_val_if_fail (claims != NULL, NULL);

  node = get_member (claims, "channels");
  if (node != NULL && JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);
      guint n = json_array_get_length (array);

      for (guint i = 0; i < n; i++)
        {
          JsonNode *element = json_array_get_element (array, i);

          if (node_is_string (element))
            g_strv_builder_add (builder, json_node_get_string (element));
        }
    }

  return g_strv_builder_end (builder);
}

JsonObject *
crier_jwt_claims_get_subs (JsonObject *claims)
{
  JsonNode *node;

  g_return_val_if_fail (claims != NULL, NULL);

  node = get_member (claims, "subs");
  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}
