/*
 * Fuzzes bo_imagespec_build (bo/imagespec.h) with an image's OCI config,
 * which comes from whoever built the image: any input either fails with a
 * message, or gives a config.json that bolter's own parser (bo/spec.h)
 * accepts, with the args the image or the caller named.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bo/imagespec.h"
#include "bo/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *img = malloc(size + 1), *json = NULL;
	char *const env[] = { (char *)"MODE=fuzz" };
	struct bo_imagespec o = { .name = "fuzz", .env = env, .n_env = 1 };
	struct cr_error *err = NULL;
	struct bo_spec *s;

	if (img == NULL)
		return 0;
	memcpy(img, data, size);
	img[size] = '\0';
	if (bo_imagespec_build(img, &o, &json, &err) < 0) {
		if (err == NULL || err->msg == NULL || err->msg[0] == '\0' || json != NULL)
			abort();
		cr_error_free(err);
		free(img);
		return 0;
	}
	s = bo_spec_parse(json, strlen(json), &err);
	if (s == NULL || !s->has_process || s->process.args == NULL ||
	    s->process.args[0] == NULL)
		abort();
	bo_spec_free(s);
	free(json);
	free(img);
	return 0;
}
