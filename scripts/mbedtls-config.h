/*
 * mbedTLS 2.28's configuration for Korhal's device builds, where mbedTLS
 * is built from source (scripts/cross-sysroot.sh mips; any sysroot that
 * builds its own): it replaces include/mbedtls/config.h before the build,
 * and is installed as that header, so that the library and its users agree.
 *
 * Only what the TLS client of common/carrier/tls/src/tlsclient_mbedtls.c
 * uses (docs/tls.md): a TLS 1.2 client, ECDHE with ECDSA or RSA
 * certificates, AES-GCM and ChaCha20-Poly1305, P-256, P-384 and X25519,
 * X.509 certificates read from PEM files (CA bundles), SHA-256 and SHA-384.
 * No server side, no TLS 1.0/1.1, no CBC, no DES, Camellia, ARIA or RC4,
 * no self-tests or test certificates, no error strings, no entropy or
 * DRBG modules (randomness comes from libsodium).
 */
#ifndef MBEDTLS_CONFIG_H
#define MBEDTLS_CONFIG_H

/* System support */
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE

/* Elliptic curves: the nodes' P-256, and what https servers use */
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM
/* Blinding uses the caller's RNG (TLS always passes libsodium's) */
#define MBEDTLS_ECP_NO_INTERNAL_RNG

/* Key exchanges: forward secrecy only */
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED

/* RSA signatures in certificates and the key exchange */
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_PKCS1_V21

/* TLS */
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE
#define MBEDTLS_X509_CHECK_KEY_USAGE
#define MBEDTLS_X509_CHECK_EXTENDED_KEY_USAGE

/* Modules */
#define MBEDTLS_AES_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_CHACHAPOLY_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ECP_C
#define MBEDTLS_FS_IO
#define MBEDTLS_GCM_C
#define MBEDTLS_MD_C
#define MBEDTLS_OID_C
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_RSA_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA512_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_USE_C

#include "mbedtls/check_config.h"

#endif
