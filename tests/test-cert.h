/* test-cert.h: self-signed server certificates for the TLS tests. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Writes a self-signed certificate for localhost and 127.0.0.1 (common
 * name @cn, serial @serial, valid from an hour ago for a day; ECDSA P-256,
 * or RSA 2048 usable for RSA key exchange too when @rsa) and its key
 * (PKCS#8 PEM, mode 0600).  It is its own trust anchor: a test trusts the
 * certificate file directly. */
void test_make_certificate (const char *cert_path,
                            const char *key_path,
                            const char *cn,
                            guint8      serial,
                            gboolean    rsa);

G_END_DECLS
