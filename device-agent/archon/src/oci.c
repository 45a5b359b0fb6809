/*
 * OCI and Docker image JSON (oci.h), on json-c.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci.h"

int ar_oci_digest_valid(const char *s)
{
	if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
		return 0;
	for (const char *p = s + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

int ar_oci_is_index(const char *media)
{
	return strcmp(media, "application/vnd.oci.image.index.v1+json") == 0 ||
	       strcmp(media,
		      "application/vnd.docker.distribution.manifest.list.v2+json") == 0;
}

const char *ar_oci_host_platform(void)
{
	const char *env = getenv("ARCHON_PLATFORM");

	if (env != NULL && env[0] != '\0')
		return env;
#if defined(__x86_64__)
	return "linux/amd64";
#elif defined(__aarch64__)
	return "linux/arm64";
#elif defined(__arm__) && defined(__ARM_ARCH_7A__)
	return "linux/arm/v7";
#elif defined(__arm__)
	return "linux/arm/v5";
#elif defined(__mips__)
	return "linux/mipsle";
#elif defined(__i386__)
	return "linux/386";
#else
	return "linux/unknown";
#endif
}

static struct json_object *parse(const char *json, size_t len,
				 struct cr_error **err)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (len > AR_OCI_JSON_MAX) {
		cr_error_set(err, EFBIG, "JSON document too large");
		return NULL;
	}
	tok = json_tokener_new_ex(32);
	if (tok == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		cr_error_set(err, EBADMSG, "not a JSON object");
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int desc_from(struct json_object *d, struct ar_oci_desc *out,
		     struct cr_error **err)
{
	const char *dg = get_str(d, "digest"), *mt = get_str(d, "mediaType");

	if (dg == NULL || !ar_oci_digest_valid(dg))
		return cr_error_set(err, EBADMSG,
				    "descriptor without a sha256 digest");
	memcpy(out->digest, dg, strlen(dg) + 1);
	out->media[0] = '\0';
	if (mt != NULL) {
		if (strlen(mt) >= AR_MEDIA_MAX)
			return cr_error_set(err, EBADMSG, "media type too long");
		memcpy(out->media, mt, strlen(mt) + 1);
	}
	return 0;
}

static int platform_matches(struct json_object *d, const char *want)
{
	struct json_object *p;
	const char *os, *arch, *var;
	char have[160];

	if (!json_object_object_get_ex(d, "platform", &p) ||
	    !json_object_is_type(p, json_type_object))
		return 0;
	os = get_str(p, "os");
	arch = get_str(p, "architecture");
	var = get_str(p, "variant");
	if (os == NULL || arch == NULL)
		return 0;
	snprintf(have, sizeof(have), "%s/%s", os, arch);
	if (strcmp(have, want) == 0)
		return 1;
	if (var != NULL) {
		snprintf(have, sizeof(have), "%s/%s/%s", os, arch, var);
		return strcmp(have, want) == 0;
	}
	return 0;
}

int ar_oci_pick(const char *json, size_t len, const char *tag,
		const char *platform, struct ar_oci_desc *out,
		struct cr_error **err)
{
	struct json_object *o = parse(json, len, err), *ms, *d, *ann;
	int found = -1, n, ret = -1;

	if (o == NULL)
		return cr_error_wrap(err, "image index");
	if (!json_object_object_get_ex(o, "manifests", &ms) ||
	    !json_object_is_type(ms, json_type_array)) {
		cr_error_set(err, EBADMSG, "image index without manifests");
		goto out;
	}
	n = (int)json_object_array_length(ms);
	for (int i = 0; i < n && found < 0 && tag != NULL; i++) {
		const char *ref;

		d = json_object_array_get_idx(ms, (size_t)i);
		if (!json_object_is_type(d, json_type_object) ||
		    !json_object_object_get_ex(d, "annotations", &ann) ||
		    !json_object_is_type(ann, json_type_object))
			continue;
		ref = get_str(ann, "org.opencontainers.image.ref.name");
		if (ref != NULL && strcmp(ref, tag) == 0)
			found = i;
	}
	if (tag != NULL && found < 0) {
		cr_error_set(err, ENOENT, "no image tagged '%s'", tag);
		goto out;
	}
	for (int i = 0; i < n && found < 0; i++) {
		d = json_object_array_get_idx(ms, (size_t)i);
		if (json_object_is_type(d, json_type_object) &&
		    platform_matches(d, platform))
			found = i;
	}
	if (found < 0 && n == 1)
		found = 0;
	if (found < 0) {
		cr_error_set(err, ENOENT, "no image for platform %s among %d",
			     platform, n);
		goto out;
	}
	d = json_object_array_get_idx(ms, (size_t)found);
	if (!json_object_is_type(d, json_type_object)) {
		cr_error_set(err, EBADMSG, "image index: bad descriptor");
		goto out;
	}
	ret = desc_from(d, out, err);
out:
	json_object_put(o);
	return ret;
}

int ar_oci_manifest_parse(const char *json, size_t len,
			  struct ar_oci_manifest *out, struct cr_error **err)
{
	struct json_object *o = parse(json, len, err), *cfg, *ls;
	int ret = -1;
	size_t n;

	if (o == NULL)
		return cr_error_wrap(err, "image manifest");
	memset(out, 0, sizeof(*out));
	if (!json_object_object_get_ex(o, "config", &cfg) ||
	    !json_object_is_type(cfg, json_type_object) ||
	    desc_from(cfg, &out->config, err) < 0) {
		cr_error_set(err, EBADMSG, "image manifest: no config");
		goto out;
	}
	if (!json_object_object_get_ex(o, "layers", &ls) ||
	    !json_object_is_type(ls, json_type_array)) {
		cr_error_set(err, EBADMSG, "image manifest: no layers");
		goto out;
	}
	n = json_object_array_length(ls);
	if (n > AR_OCI_MAX_LAYERS) {
		cr_error_set(err, E2BIG, "image manifest: %zu layers", n);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *d = json_object_array_get_idx(ls, i);

		if (!json_object_is_type(d, json_type_object) ||
		    desc_from(d, &out->layers[i], err) < 0) {
			cr_error_wrap(err, "image manifest: layer %zu", i);
			goto out;
		}
	}
	out->nlayers = (unsigned)n;
	ret = 0;
out:
	json_object_put(o);
	return ret;
}

static int copy_path(const char *s, char *out, struct cr_error **err)
{
	if (s == NULL || strlen(s) == 0 ||
	    strlen(s) >= AR_OCI_DOCKER_PATH_MAX)
		return cr_error_set(err, EBADMSG,
				    "docker manifest.json: bad path");
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

int ar_oci_docker_parse(const char *json, size_t len, char *cfg,
			char layers[][AR_OCI_DOCKER_PATH_MAX], unsigned *n,
			struct cr_error **err)
{
	struct json_tokener *tok;
	struct json_object *o, *img, *ls;
	int ret = -1;
	size_t nl;

	if (len > AR_OCI_JSON_MAX)
		return cr_error_set(err, EFBIG, "manifest.json too large");
	tok = json_tokener_new_ex(32);
	if (tok == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success)
		o = (json_object_put(o), NULL);
	json_tokener_free(tok);
	if (o == NULL || !json_object_is_type(o, json_type_array) ||
	    json_object_array_length(o) < 1) {
		json_object_put(o);
		return cr_error_set(err, EBADMSG,
				    "docker manifest.json: not a list of images");
	}
	img = json_object_array_get_idx(o, 0);
	if (!json_object_is_type(img, json_type_object) ||
	    copy_path(get_str(img, "Config"), cfg, err) < 0)
		goto out;
	if (!json_object_object_get_ex(img, "Layers", &ls) ||
	    !json_object_is_type(ls, json_type_array)) {
		cr_error_set(err, EBADMSG, "docker manifest.json: no Layers");
		goto out;
	}
	nl = json_object_array_length(ls);
	if (nl > AR_OCI_MAX_LAYERS) {
		cr_error_set(err, E2BIG, "docker manifest.json: %zu layers", nl);
		goto out;
	}
	for (size_t i = 0; i < nl; i++) {
		struct json_object *l = json_object_array_get_idx(ls, i);

		if (!json_object_is_type(l, json_type_string) ||
		    copy_path(json_object_get_string(l), layers[i], err) < 0)
			goto out;
	}
	*n = (unsigned)nl;
	ret = 0;
out:
	json_object_put(o);
	return ret;
}
