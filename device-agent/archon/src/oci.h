/*
 * The OCI (and Docker) JSON documents an import reads: image indexes,
 * image manifests and docker-archive's manifest.json.  Bounded parsers of
 * untrusted text, fuzzed by tests/fuzz/fuzz_oci.c.
 */
#ifndef AR_OCI_H
#define AR_OCI_H

#include <stddef.h>

#include "cr/error.h"

enum {
	AR_OCI_JSON_MAX = 4 << 20, /* index, manifest */
	AR_OCI_MAX_LAYERS = 256,
	AR_DIGEST_MAX = 7 + 64 + 1, /* "sha256:" + hex + NUL */
	AR_MEDIA_MAX = 128,
	AR_OCI_DOCKER_PATH_MAX = 512,
};

struct ar_oci_desc {
	char digest[AR_DIGEST_MAX];
	char media[AR_MEDIA_MAX];
};

struct ar_oci_manifest {
	struct ar_oci_desc config;
	struct ar_oci_desc layers[AR_OCI_MAX_LAYERS];
	unsigned nlayers;
};

/* 1 when s is "sha256:" and 64 lowercase hex digits. */
int ar_oci_digest_valid(const char *s);

/* 1 when a media type names an image index (OCI or Docker list). */
int ar_oci_is_index(const char *media);

/* Picks one manifest descriptor from an image index: the one whose
 * org.opencontainers.image.ref.name annotation is tag (when tag is not
 * NULL), else for platform ("os/arch[/variant]"), else the only one.
 * Returns 0 or -1 with *err. */
int ar_oci_pick(const char *json, size_t len, const char *tag,
		const char *platform, struct ar_oci_desc *out,
		struct cr_error **err);

/* Parses an image manifest (OCI or Docker schema 2). */
int ar_oci_manifest_parse(const char *json, size_t len,
			  struct ar_oci_manifest *out, struct cr_error **err);

/* Parses docker-archive's manifest.json: the first image's Config and
 * Layers paths (relative to the archive), into cfg (cap bytes each) and
 * layers[AR_OCI_MAX_LAYERS]; *n is the layer count. */
int ar_oci_docker_parse(const char *json, size_t len, char *cfg,
			char layers[][AR_OCI_DOCKER_PATH_MAX], unsigned *n,
			struct cr_error **err);

/* "os/arch[/variant]" of this build (ARCHON_PLATFORM overrides). */
const char *ar_oci_host_platform(void);

#endif
