/*
 * Fuzzes Archon's OCI JSON handling (device-agent/archon/src/oci.c): the
 * image index picker, the image manifest parser and docker-archive's
 * manifest.json parser all get the input.  Whatever parses must hold only
 * valid digests and bounded strings.
 */
#include <stdlib.h>
#include <string.h>

#include "oci.h"

static void check_desc(const struct ar_oci_desc *d)
{
	if (!ar_oci_digest_valid(d->digest) || strlen(d->media) >= AR_MEDIA_MAX)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data;
	struct ar_oci_desc d;
	struct ar_oci_manifest *om = malloc(sizeof(*om));
	char cfg[AR_OCI_DOCKER_PATH_MAX];
	char (*layers)[AR_OCI_DOCKER_PATH_MAX] =
		malloc(AR_OCI_MAX_LAYERS * sizeof(*layers));
	struct cr_error *err = NULL;
	unsigned n;

	if (om == NULL || layers == NULL)
		abort();
	if (ar_oci_pick(json, size, NULL, "linux/amd64", &d, &err) == 0)
		check_desc(&d);
	err = cr_error_free(err);
	if (ar_oci_pick(json, size, "latest", "linux/arm/v5", &d, &err) == 0)
		check_desc(&d);
	err = cr_error_free(err);
	if (ar_oci_manifest_parse(json, size, om, &err) == 0) {
		check_desc(&om->config);
		for (unsigned i = 0; i < om->nlayers; i++)
			check_desc(&om->layers[i]);
	}
	err = cr_error_free(err);
	if (ar_oci_docker_parse(json, size, cfg, layers, &n, &err) == 0) {
		if (n > AR_OCI_MAX_LAYERS || strlen(cfg) == 0)
			abort();
	}
	cr_error_free(err);
	free(layers);
	free(om);
	return 0;
}
