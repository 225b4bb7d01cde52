/* crier-jwt.h: JWT (JWS compact form) parsing and verification.
 *
 * Connection and subscription tokens (protocols.md §A10) are verified with
 * one CrierJwtKeys, which holds at most one key of each kind:
 *
 *   - an HMAC secret                    -> HS256, HS384, HS512
 *   - an RSA public key (>= 2048 bits)  -> RS256, RS384, RS512
 *   - an EC public key                  -> ES256 (P-256), ES384 (P-384),
 *                                          ES512 (P-521)
 *
 * The token's "alg" header picks the verifier, and the verifier only ever
 * uses the key of its own kind: an HS* token is checked with the HMAC
 * secret and nothing else, so a public key can never act as an HMAC secret
 * (no "alg confusion").  "none" and every other algorithm (PS*, EdDSA, ...)
 * are rejected.  Headers that would make us fetch or trust other keys
 * ("jku", "jwk", "x5u", "x5c", "kid") are ignored; a "crit" header is
 * rejected because we understand no extensions.
 *
 * crier_jwt_verify() works in this order, and stops at the first failure:
 *   1. size cap (CRIER_JWT_MAX_TOKEN_SIZE) before any decoding;
 *   2. exactly three '.'-separated segments, strict unpadded base64url;
 *   3. header: a JSON object with a supported "alg" (and "typ", if
 *      present, equal to "JWT" ignoring case);
 *   4. a key of the right kind (and curve) must be configured;
 *   5. the signature over "header.payload";
 *   6. only then is the payload parsed: it must be a JSON object, and the
 *      claims are checked (see below).
 *
 * Header and payload must be strict RFC 8259 JSON in UTF-8, stricter than
 * json-glib alone: no trailing data, comments, single quotes or leading
 * zeros; no "\u0000" or unpaired surrogates; integers must fit in gint64
 * (json-glib would silently wrap them); nesting is limited to 64 levels.
 * For duplicate member names the last one wins (RFC 7515 §5.2 allows it).
 *
 * Claims checks.  A member whose value is JSON null counts as absent (as
 * with Go's encoding/json, which Centrifugo uses).
 *   - "exp", "nbf", "iat", "expire_at" must be numbers (fractions are
 *     rounded down);
 *   - expired (CRIER_JWT_ERROR_EXPIRED) when now > exp + leeway;
 *   - not yet valid (CRIER_JWT_ERROR_NOT_YET_VALID) when now + leeway < nbf;
 *   - "aud" must be a string or an array of strings; "iss" a string; each
 *     is compared (exactly) only when CrierJwtOptions asks for a value, and
 *     then a missing claim fails too;
 *   - the Centrifugo claims must have the types the accessors below
 *     return: "sub", "channel", "client", "b64info", "b64data" strings;
 *     "channels" an array of strings; "subs" an object whose values are
 *     objects; "info", "data", "meta" any JSON.
 * Callers map EXPIRED and NOT_YET_VALID to error 109 "token expired" and
 * every other code to "invalid token" (3500 / 103).
 *
 * Error messages name what is wrong but never contain the token, any part
 * of it beyond a short algorithm name, or a key.
 *
 * A CrierJwtKeys is set up once (by the config loader) and then shared
 * read-only; crier_jwt_verify() may be called from several threads with
 * the same keys.  Reloading the configuration builds a new CrierJwtKeys
 * and swaps the reference.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Tokens longer than this are rejected before any decoding. */
#define CRIER_JWT_MAX_TOKEN_SIZE (16 * 1024)

#define CRIER_JWT_ERROR (crier_jwt_error_quark ())

typedef enum
{
  CRIER_JWT_ERROR_MALFORMED,       /* not 3 segments, bad base64url/JSON, too large */
  CRIER_JWT_ERROR_UNSUPPORTED_ALG, /* "none", unknown or missing "alg" */
  CRIER_JWT_ERROR_BAD_SIGNATURE,   /* signature does not verify */
  CRIER_JWT_ERROR_NO_KEY,          /* alg needs a key kind that is not configured */
  CRIER_JWT_ERROR_EXPIRED,         /* "exp" passed (-> 109 token expired) */
  CRIER_JWT_ERROR_NOT_YET_VALID,   /* "nbf" in the future (-> 109 as well) */
  CRIER_JWT_ERROR_BAD_CLAIM,       /* wrong aud/iss, claim of the wrong type */
  CRIER_JWT_ERROR_BAD_KEY,         /* a key file or PEM could not be used */
} CrierJwtError;

GQuark        crier_jwt_error_quark                  (void);

typedef struct _CrierJwtKeys CrierJwtKeys;

/* Expected values; NULL members (or a NULL CrierJwtOptions) skip the check. */
typedef struct
{
  const char *audience;  /* must equal "aud" or be one of its elements */
  const char *issuer;    /* must equal "iss" */
} CrierJwtOptions;

/* Keys: reference counted; a new set holds no key at all. */
CrierJwtKeys *crier_jwt_keys_new                     (void);
CrierJwtKeys *crier_jwt_keys_ref                     (CrierJwtKeys *keys);
void          crier_jwt_keys_unref                   (CrierJwtKeys *keys);

/* Copies @secret.  An empty secret (len 0) removes the HMAC key. */
void          crier_jwt_keys_set_hmac_secret         (CrierJwtKeys *keys,
                                                      const guint8 *secret,
                                                      gsize         len);

/* Load a public key from PEM: a SubjectPublicKeyInfo ("BEGIN PUBLIC KEY")
 * or an X.509 certificate ("BEGIN CERTIFICATE", whose key is used; its
 * validity is not checked).  The RSA loader wants an RSA key of at least
 * 2048 bits; the EC loader a P-256, P-384 or P-521 key.  Errors are
 * G_FILE_ERROR (reading) or CRIER_JWT_ERROR_BAD_KEY, and name the file.
 * On error the previously loaded key of that kind is kept. */
gboolean      crier_jwt_keys_load_rsa_public_key     (CrierJwtKeys  *keys,
                                                      const char    *path,
                                                      GError       **error);
gboolean      crier_jwt_keys_load_ec_public_key      (CrierJwtKeys  *keys,
                                                      const char    *path,
                                                      GError       **error);

/* The same from PEM text in memory; @source names it in error messages. */
gboolean      crier_jwt_keys_set_rsa_public_key_pem  (CrierJwtKeys  *keys,
                                                      const char    *pem,
                                                      gsize          len,
                                                      const char    *source,
                                                      GError       **error);
gboolean      crier_jwt_keys_set_ec_public_key_pem   (CrierJwtKeys  *keys,
                                                      const char    *pem,
                                                      gsize          len,
                                                      const char    *source,
                                                      GError       **error);

gboolean      crier_jwt_keys_has_hmac                (CrierJwtKeys *keys);
gboolean      crier_jwt_keys_has_rsa                 (CrierJwtKeys *keys);
gboolean      crier_jwt_keys_has_ec                  (CrierJwtKeys *keys);

/* Verifies @token (NUL-terminated) at @now_seconds (Unix time) allowing
 * @leeway_seconds (>= 0) of clock skew for "exp" and "nbf".  On success
 * stores a new reference to the claims object in @claims_out (may be
 * NULL); on failure sets a CRIER_JWT_ERROR. */
gboolean      crier_jwt_verify                       (CrierJwtKeys           *keys,
                                                      const char             *token,
                                                      gint64                  now_seconds,
                                                      gint64                  leeway_seconds,
                                                      const CrierJwtOptions  *options,
                                                      JsonObject            **claims_out,
                                                      GError                **error);

/* Accessors for claims returned by crier_jwt_verify(), whose types it has
 * already checked (so these never fail).  Absent (or null) claims give the
 * documented defaults.  Borrowed results live as long as @claims. */
const char   *crier_jwt_claims_get_sub               (JsonObject *claims);  /* "" if absent */
gint64        crier_jwt_claims_get_exp               (JsonObject *claims);  /* 0 if absent */
/* TRUE and *@out_value if "expire_at" is present (0 = never expires). */
gboolean      crier_jwt_claims_get_expire_at         (JsonObject *claims,
                                                      gint64     *out_value);
JsonNode     *crier_jwt_claims_get_info              (JsonObject *claims);  /* borrowed or NULL */
const char   *crier_jwt_claims_get_b64info           (JsonObject *claims);  /* NULL if absent */
JsonNode     *crier_jwt_claims_get_data              (JsonObject *claims);  /* borrowed or NULL */
/* Newly allocated, NULL-terminated; empty (never NULL) if absent. */
char        **crier_jwt_claims_dup_channels          (JsonObject *claims);
JsonObject   *crier_jwt_claims_get_subs              (JsonObject *claims);  /* borrowed or NULL */
const char   *crier_jwt_claims_get_channel           (JsonObject *claims);  /* NULL if absent */
const char   *crier_jwt_claims_get_client            (JsonObject *claims);  /* NULL if absent */

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CrierJwtKeys, crier_jwt_keys_unref)

G_END_DECLS
