/*
 * Archon manifest: names one version of an image, REPO:TAG.  It holds the
 * id and size of the version's index, the image's OCI config (JSON, kept
 * verbatim), the binary deltas the publisher wrote towards this version
 * (each named by the pair of content ids it links), and optionally an
 * Ed25519 signature by the publisher's key over everything before it.
 *
 * ar_manifest_decode() is a bounded parser for untrusted bytes and checks
 * the signature when there is one; the format is in docs/archon.md.
 */
#ifndef AR_MANIFEST_H
#define AR_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "ar/chunk.h"
#include "cr/error.h"
#include "cr/identity.h"

enum {
	AR_MANIFEST_VERSION = 1,
	AR_NAME_MAX = 255,
	AR_CONFIG_MAX = 1 << 20,
	AR_MANIFEST_MAX_BYTES = 64 << 20,
	AR_SIG_LEN = 64,
};

/* A binary delta from file content `from` to file content `to`. */
struct ar_delta_ref {
	struct ar_id from, to;
	uint64_t size; /* bytes of the delta file */
};

struct ar_manifest {
	char *name; /* REPO:TAG */
	struct ar_id index;
	uint64_t index_size;
	uint64_t created; /* Unix seconds */
	char *config;	  /* OCI image config JSON, NUL-terminated; may be "" */
	size_t config_len;
	size_t ndeltas;
	struct ar_delta_ref *deltas;
	int is_signed;
	uint8_t pk[CR_PKLEN]; /* publisher's Ed25519 key when signed */
};

struct ar_manifest *ar_manifest_free(struct ar_manifest *m);

/* Encodes m, signed with kp when kp is not NULL, into a buffer the caller
 * frees.  Returns 0 or -1 with *err. */
int ar_manifest_encode(const struct ar_manifest *m,
		       const struct cr_keypair *kp, uint8_t **out,
		       size_t *len, struct cr_error **err);

/* Parses untrusted bytes; a present signature must verify.  Returns 0 with a
 * new manifest the caller frees, or -1 with *err. */
int ar_manifest_decode(const uint8_t *buf, size_t len,
		       struct ar_manifest **out, struct cr_error **err);

/* 1 when name is REPO:TAG: REPO is one or more '/'-separated components of
 * [A-Za-z0-9._-] (not "." or ".."), TAG is 1..128 of [A-Za-z0-9._-] not
 * starting with '.', the whole at most AR_NAME_MAX bytes. */
int ar_name_valid(const char *name);

#endif
