/*
 * Identities and key files.
 *
 * Every device, vendor, ring node and operator is an Ed25519 key pair.  Its
 * identity is BLAKE2b-256 of the public key, printed as
 *
 *     <prefix>_<base32(hash || check)>
 *
 * where prefix is dev, ven, node or op, base32 is RFC 4648 lowercase without
 * padding, and check is the first 4 bytes of BLAKE2b-256(prefix || hash).  A
 * mistyped identity fails the check instead of naming another device.
 *
 * Key files are text: the secret file (mode 0600, refused when group- or
 * world-readable, as ssh refuses) holds the 32-byte seed; FILE.pub holds the
 * public key.  X25519 keys for Noise are derived from the Ed25519 ones.
 */
#ifndef CR_IDENTITY_H
#define CR_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "cr/error.h"

enum {
	CR_ID_HASHLEN = 32,
	CR_PKLEN = 32,
	CR_SKLEN = 64,
	CR_SIGLEN = 64,
	CR_ID_STRMAX = 72, /* longest printed identity plus NUL */
};

enum cr_id_type {
	CR_ID_DEVICE = 1,
	CR_ID_VENDOR = 2,
	CR_ID_NODE = 3,
	CR_ID_OPERATOR = 4,
};

struct cr_id {
	enum cr_id_type type;
	uint8_t hash[CR_ID_HASHLEN];
};

struct cr_keypair {
	enum cr_id_type type;
	uint8_t pk[CR_PKLEN];
	uint8_t sk[CR_SKLEN]; /* libsodium's seed || pk form */
};

/* "device", "vendor", "node", "operator"; NULL for an unknown type. */
const char *cr_id_type_name(enum cr_id_type type);
/* Parses one of those names; 0, or -EINVAL for anything else. */
int cr_id_type_parse(const char *name, enum cr_id_type *type);

/* Computes the identity of a public key. */
void cr_id_from_pk(enum cr_id_type type, const uint8_t pk[CR_PKLEN],
		   struct cr_id *id);

/* Writes the printed form into out (CR_ID_STRMAX bytes); returns out.  An
 * invalid type prints as "invalid_identity". */
char *cr_id_format(const struct cr_id *id, char out[CR_ID_STRMAX]);

/* Parses a printed identity; rejects bad prefix, length, alphabet, checksum.
 * The printed form is canonical: uppercase letters are invalid characters.
 * Positions in messages count from 1 over the whole string. */
int cr_id_parse(const char *s, struct cr_id *id, struct cr_error **err);
/* cr_id_parse, and the id must be of this type ("X is not an operator
 * identity" otherwise). */
int cr_id_parse_as(const char *s, enum cr_id_type type, struct cr_id *id,
		   struct cr_error **err);

/* 1 when type and hash are equal, else 0. */
int cr_id_equal(const struct cr_id *a, const struct cr_id *b);

/* A fresh random key pair; 0, -EINVAL for an unknown type, -EIO when
 * libsodium cannot initialise. */
int cr_keypair_generate(enum cr_id_type type, struct cr_keypair *kp);

/* Writes path (0600, refuses to overwrite) and path.pub (0644).  The secret
 * file is "korhal-secret TYPE BASE64(seed)\n".  When path.pub exists too, the
 * call fails and leaves neither file behind. */
int cr_keypair_save(const struct cr_keypair *kp, const char *path,
		    struct cr_error **err);

/* Loads a secret key file; refuses one readable by group or others, or one
 * that is not a regular file or is larger than 4 KiB. */
int cr_keypair_load(const char *path, struct cr_keypair *kp,
		    struct cr_error **err);

/* cr_keypair_load() of a key that must be of type want: another type is
 * refused with "PATH is a vendor key, not a node key", the message every
 * program gives for a wrong key (kp is then wiped). */
int cr_keypair_load_as(const char *path, enum cr_id_type want,
		       struct cr_keypair *kp, struct cr_error **err);

/* Loads a public key from FILE.pub or from a secret key file (whose
 * permissions are not checked: only the public half is returned). */
int cr_pubkey_load(const char *path, enum cr_id_type *type,
		   uint8_t pk[CR_PKLEN], struct cr_error **err);

/* Parses the one-line public key text ("korhal-pub TYPE BASE64", trailing
 * whitespace allowed); refuses a key with no X25519 form. */
int cr_pubkey_parse(const char *line, enum cr_id_type *type,
		    uint8_t pk[CR_PKLEN], struct cr_error **err);
/* Formats it (no newline) into out of out_cap bytes.  Returns the length
 * written (without the NUL), -ENOSPC when out is too small, -EINVAL for an
 * unknown type. */
int cr_pubkey_format(enum cr_id_type type, const uint8_t pk[CR_PKLEN],
		     char *out, size_t out_cap);

/* X25519 keys derived from the Ed25519 ones; -1 for an invalid point. */
int cr_keypair_x25519(const struct cr_keypair *kp, uint8_t xsk[32],
		      uint8_t xpk[32]);
int cr_pk_x25519(const uint8_t pk[CR_PKLEN], uint8_t xpk[32]);
/*
 * 1 when xpk is the X25519 form of the Ed25519 key pk (xpk = (1 + y) /
 * (1 - y) for pk's y coordinate, both encodings canonical), else 0.  It
 * checks the equation by multiplying (about 1 us) instead of converting
 * pk (about 33 us: libsodium also proves pk is in the prime-order
 * subgroup, a full scalar multiplication).  For a responder that has just
 * authenticated xpk by Diffie-Hellman: its owner holds the key whatever
 * the subgroup, so the binding of identity and key is what is left to
 * check.  Not for keys that were not authenticated otherwise.
 */
int cr_pk_x25519_matches(const uint8_t pk[CR_PKLEN], const uint8_t xpk[32]);

void cr_keypair_wipe(struct cr_keypair *kp);

#endif
