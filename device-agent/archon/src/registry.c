/*
 * docker://HOST/REPO[:TAG]: images from any registry speaking the OCI
 * distribution API (Docker Hub, Debian's docker-registry, ...).  Manifests
 * are asked for with the OCI and Docker media types in Accept; an image
 * index is resolved for this platform (oci.c); bearer-token auth is done
 * when the registry answers 401 with a Bearer challenge: anonymous, or with
 * $ARCHON_REGISTRY_AUTH=USER:PASSWORD sent (HTTP Basic) to the token
 * service only, never over plain HTTP to a host other than this machine
 * unless ARCHON_INSECURE_REGISTRY=1.  HTTPS certificates are checked
 * against $CURL_CA_BUNDLE when set, as for origins (origin.h).  Every
 * manifest, config and layer is checked against its sha256 digest; layers
 * stream to a temporary file, then into the tree like any other layer.
 * Plain HTTP is used for localhost and 127.0.0.1, or everywhere with
 * ARCHON_INSECURE_REGISTRY=1; HTTPS otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cr/cleanup.h"
#include "cr/util.h"
#include "import-internal.h"

#ifndef AR_WITH_CURL
int ar_import_registry(struct ar_importer *imp, const char *ref,
		       struct cr_error **err)
{
	(void)imp;
	return cr_error_set(err, ENOTSUP,
			    "docker://%s: this build has no registry client (libcurl; static device builds leave it out)", ref);
}
#else
#include <curl/curl.h>
#include <json-c/json.h>

enum { TOKEN_MAX = 16384, CHALLENGE_MAX = 1024 };

static const char accept_hdr[] =
	"Accept: application/vnd.oci.image.index.v1+json, "
	"application/vnd.oci.image.manifest.v1+json, "
	"application/vnd.docker.distribution.manifest.list.v2+json, "
	"application/vnd.docker.distribution.manifest.v2+json";

struct reg {
	CURL *curl;
	char base[PATH_MAX];   /* http(s)://HOST/v2/REPO */
	char repo[512];
	char *token;	       /* bearer token, once we have one */
	char challenge[CHALLENGE_MAX];
	char ctype[AR_MEDIA_MAX];
};

/* Where a response body goes: memory (bounded) or a file, hashed. */
struct sink {
	uint8_t *p;
	size_t len, max;
	int fd;
	crypto_hash_sha256_state sha;
	int failed;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if (n > s->max - s->len) {
		s->failed = 1;
		return 0;
	}
	crypto_hash_sha256_update(&s->sha, (const uint8_t *)ptr, n);
	if (s->fd >= 0) {
		if (write(s->fd, ptr, n) != (ssize_t)n) {
			s->failed = 1;
			return 0;
		}
	} else {
		uint8_t *np = realloc(s->p, s->len + n + 1);

		if (np == NULL) {
			s->failed = 1;
			return 0;
		}
		s->p = np;
		memcpy(s->p + s->len, ptr, n);
		s->p[s->len + n] = '\0';
	}
	s->len += n;
	return n;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *arg)
{
	struct reg *r = arg;
	size_t n = size * nitems, k;
	const char *v;

	if (n > 17 && strncasecmp(buf, "www-authenticate:", 17) == 0) {
		v = buf + 17;
		while (*v == ' ')
			v++;
		k = n - (size_t)(v - buf);
		while (k > 0 && (v[k - 1] == '\r' || v[k - 1] == '\n'))
			k--;
		if (k >= sizeof(r->challenge))
			k = sizeof(r->challenge) - 1;
		memcpy(r->challenge, v, k);
		r->challenge[k] = '\0';
	} else if (n > 13 && strncasecmp(buf, "content-type:", 13) == 0) {
		v = buf + 13;
		while (*v == ' ')
			v++;
		k = strcspn(v, ";\r\n");
		if (k >= sizeof(r->ctype))
			k = sizeof(r->ctype) - 1;
		memcpy(r->ctype, v, k);
		r->ctype[k] = '\0';
	}
	return n;
}

/* One GET; returns the HTTP status (or -1 with *err on transport errors).
 * userpwd: "USER:PASSWORD" for HTTP Basic, or NULL. */
static long get(struct reg *r, const char *url, int manifest,
		const char *userpwd, struct sink *s, struct cr_error **err)
{
	const char *bundle = getenv("CURL_CA_BUNDLE");
	struct curl_slist *h = NULL;
	char auth[TOKEN_MAX + 32];
	long status = 0;
	CURLcode cc;

	if (manifest)
		h = curl_slist_append(h, accept_hdr);
	if (r->token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", r->token);
		h = curl_slist_append(h, auth);
	}
	r->challenge[0] = '\0';
	r->ctype[0] = '\0';
	curl_easy_reset(r->curl);
	curl_easy_setopt(r->curl, CURLOPT_URL, url);
	curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(r->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(r->curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(r->curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(r->curl, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(r->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(r->curl, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->curl, CURLOPT_USERAGENT, "archon");
	if (bundle != NULL && bundle[0] != '\0')
		curl_easy_setopt(r->curl, CURLOPT_CAINFO, bundle);
	if (userpwd != NULL) {
		curl_easy_setopt(r->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(r->curl, CURLOPT_USERPWD, userpwd);
		/* The credentials are for the token service, not wherever it
		 * redirects. */
		curl_easy_setopt(r->curl, CURLOPT_FOLLOWLOCATION, 0L);
	}
	cc = curl_easy_perform(r->curl);
	curl_slist_free_all(h);
	if (cc != CURLE_OK && !s->failed)
		return cr_error_set(err, EIO, "%s: %s", url, curl_easy_strerror(cc));
	if (s->failed)
		return cr_error_set(err, EFBIG, "%s: response too large or unwritable", url);
	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* The value of key="..." in a Bearer challenge, into out. */
static int challenge_param(const char *ch, const char *key, char *out,
			   size_t cap)
{
	char pat[32];
	const char *p, *q;

	snprintf(pat, sizeof(pat), "%s=\"", key);
	p = strstr(ch, pat);
	if (p == NULL)
		return -1;
	p += strlen(pat);
	q = strchr(p, '"');
	if (q == NULL || (size_t)(q - p) >= cap)
		return -1;
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
	return 0;
}

/* 1 when credentials may go to url: HTTPS, this machine, or the user said
 * ARCHON_INSECURE_REGISTRY=1. */
static int creds_may_go(const char *url)
{
	const char *env = getenv("ARCHON_INSECURE_REGISTRY");

	return strncmp(url, "https://", 8) == 0 ||
	       strncmp(url, "http://127.", 11) == 0 ||
	       strncmp(url, "http://localhost:", 17) == 0 ||
	       strncmp(url, "http://localhost/", 17) == 0 ||
	       strncmp(url, "http://[::1]", 12) == 0 ||
	       (env != NULL && strcmp(env, "1") == 0);
}

/* A bearer token for the challenge the registry just sent: anonymous, or
 * with $ARCHON_REGISTRY_AUTH. */
static int fetch_token(struct reg *r, struct cr_error **err)
{
	const char *creds = getenv("ARCHON_REGISTRY_AUTH");
	char realm[512], service[256] = "", scope[512] = "", url[2048];
	struct sink s;
	struct json_object *o = NULL, *t;
	char *es, *esc;
	long st;
	int ret = -1;

	if (strncasecmp(r->challenge, "Bearer ", 7) != 0 ||
	    challenge_param(r->challenge, "realm", realm, sizeof(realm)) < 0)
		return cr_error_set(err, EACCES,
				    "registry wants authentication we do not speak: %s",
				    r->challenge);
	challenge_param(r->challenge, "service", service, sizeof(service));
	if (challenge_param(r->challenge, "scope", scope, sizeof(scope)) < 0 &&
	    snprintf(scope, sizeof(scope), "repository:%.400s:pull", r->repo) < 0)
		return cr_error_set(err, EINVAL, "bad repository");
	memset(&s, 0, sizeof(s));
	s.max = TOKEN_MAX * 2;
	s.fd = -1;
	es = curl_easy_escape(r->curl, service, 0);
	esc = curl_easy_escape(r->curl, scope, 0);
	snprintf(url, sizeof(url), "%s%sservice=%s&scope=%s", realm,
		 strchr(realm, '?') ? "&" : "?", es ? es : "", esc ? esc : "");
	curl_free(es);
	curl_free(esc);
	crypto_hash_sha256_init(&s.sha);
	free(r->token);
	r->token = NULL;
	if (creds != NULL && creds[0] == '\0')
		creds = NULL;
	if (creds != NULL && strchr(creds, ':') == NULL) {
		cr_error_set(err, EINVAL, "ARCHON_REGISTRY_AUTH wants USER:PASSWORD");
		goto out;
	}
	if (creds != NULL && !creds_may_go(realm)) {
		cr_error_set(err, EACCES,
			     "token service %s is plain HTTP: not sending ARCHON_REGISTRY_AUTH there "
			     "(ARCHON_INSECURE_REGISTRY=1 allows it)", realm);
		goto out;
	}
	st = get(r, url, 0, creds, &s, err);
	if (st < 0)
		goto out;
	if ((st == 401 || st == 403) && creds == NULL) {
		cr_error_set(err, EACCES,
			     "repository %s: the registry's token service %s wants credentials "
			     "(HTTP %ld): set ARCHON_REGISTRY_AUTH=USER:PASSWORD",
			     r->repo, realm, st);
		goto out;
	}
	if (st == 401 || st == 403) {
		cr_error_set(err, EACCES,
			     "token service %s refused the credentials in ARCHON_REGISTRY_AUTH (HTTP %ld)",
			     realm, st);
		goto out;
	}
	if (st != 200) {
		cr_error_set(err, EACCES, "token service %s answered %ld", realm, st);
		goto out;
	}
	o = json_tokener_parse(s.p ? (const char *)s.p : "");
	if (o == NULL || (!json_object_object_get_ex(o, "token", &t) &&
			  !json_object_object_get_ex(o, "access_token", &t)) ||
	    !json_object_is_type(t, json_type_string) ||
	    strlen(json_object_get_string(t)) >= TOKEN_MAX) {
		cr_error_set(err, EACCES, "token service gave no token");
		goto out;
	}
	r->token = strdup(json_object_get_string(t));
	ret = r->token ? 0 : cr_error_set(err, ENOMEM, "out of memory");
out:
	json_object_put(o);
	free(s.p);
	return ret;
}

/* GETs base/path into s, authenticating once when asked to; checks the
 * body against digest when it is not NULL. */
static int fetch(struct reg *r, const char *path, int manifest,
		 const char *digest, struct sink *s, struct cr_error **err)
{
	char url[PATH_MAX + 256];
	uint8_t h[32];
	char hex[65];
	long st;

	snprintf(url, sizeof(url), "%s/%s", r->base, path);
	for (int attempt = 0; attempt < 2; attempt++) {
		crypto_hash_sha256_init(&s->sha);
		s->len = 0;
		if (s->fd >= 0 && (ftruncate(s->fd, 0) < 0 || lseek(s->fd, 0, SEEK_SET) < 0))
			return cr_error_errno(err, errno, "temporary file");
		st = get(r, url, manifest, NULL, s, err);
		if (st < 0)
			return -1;
		if (st == 401 && attempt == 0 && r->challenge[0] != '\0') {
			if (fetch_token(r, err) < 0)
				return -1;
			continue;
		}
		if (st == 401 || st == 403) {
			const char *creds = getenv("ARCHON_REGISTRY_AUTH");

			return cr_error_set(err, EACCES, "%s: access denied (HTTP %ld) %s", url, st,
					    creds != NULL && creds[0] != '\0' ?
						    "to the user of ARCHON_REGISTRY_AUTH" :
						    "to anonymous pulls: set ARCHON_REGISTRY_AUTH=USER:PASSWORD");
		}
		if (st == 404)
			return cr_error_set(err, ENOENT, "%s: not found", url);
		if (st != 200)
			return cr_error_set(err, EIO, "%s: HTTP %ld", url, st);
		break;
	}
	if (digest != NULL) {
		crypto_hash_sha256_final(&s->sha, h);
		cr_hex(h, 32, hex);
		if (strcmp(hex, digest + 7) != 0)
			return cr_error_set(err, EBADMSG, "%s does not match its digest", url);
	}
	return 0;
}

static int parse_ref(const char *ref, struct reg *r, char *tag, size_t tcap,
		     struct cr_error **err)
{
	const char *slash = strchr(ref, '/'), *colon;
	const char *env = getenv("ARCHON_INSECURE_REGISTRY");
	char host[256];
	size_t hl;
	int plain;

	if (slash == NULL || slash == ref)
		return cr_error_set(err, EINVAL, "docker://%s: want HOST/REPO[:TAG]", ref);
	hl = (size_t)(slash - ref);
	if (hl >= sizeof(host))
		return cr_error_set(err, EINVAL, "registry host too long");
	memcpy(host, ref, hl);
	host[hl] = '\0';
	colon = strrchr(slash, ':');
	if (colon != NULL && strchr(colon, '/') == NULL) {
		snprintf(tag, tcap, "%s", colon + 1);
		snprintf(r->repo, sizeof(r->repo), "%.*s", (int)(colon - slash - 1), slash + 1);
	} else {
		snprintf(tag, tcap, "latest");
		snprintf(r->repo, sizeof(r->repo), "%s", slash + 1);
	}
	if (r->repo[0] == '\0' || strstr(r->repo, "..") != NULL || tag[0] == '\0' ||
	    strchr(tag, '/') != NULL)
		return cr_error_set(err, EINVAL, "docker://%s: bad repository or tag", ref);
	plain = (env != NULL && strcmp(env, "1") == 0) ||
		strncmp(host, "localhost", 9) == 0 || strncmp(host, "127.", 4) == 0 ||
		strncmp(host, "[::1]", 5) == 0;
	snprintf(r->base, sizeof(r->base), "%s://%s/v2/%s", plain ? "http" : "https",
		 host, r->repo);
	return 0;
}

int ar_import_registry(struct ar_importer *imp, const char *ref,
		       struct cr_error **err)
{
	struct reg r;
	struct sink s;
	char tag[256], path[PATH_MAX], digest[AR_DIGEST_MAX] = "";
	struct ar_oci_desc d;
	struct ar_oci_manifest *om = NULL;
	int ret = -1;

	memset(&r, 0, sizeof(r));
	if (parse_ref(ref, &r, tag, sizeof(tag), err) < 0)
		return -1;
	r.curl = curl_easy_init();
	om = malloc(sizeof(*om));
	if (r.curl == NULL || om == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	/* The tag, then through image indexes to this platform's manifest. */
	snprintf(path, sizeof(path), "manifests/%s", tag);
	for (int depth = 0; depth < 4; depth++) {
		struct json_object *o;
		const char *mt = NULL;
		int is_index;

		memset(&s, 0, sizeof(s));
		s.fd = -1;
		s.max = AR_OCI_JSON_MAX;
		if (fetch(&r, path, 1, digest[0] ? digest : NULL, &s, err) < 0) {
			free(s.p);
			goto out;
		}
		o = json_tokener_parse(s.p ? (const char *)s.p : "");
		if (o != NULL && json_object_is_type(o, json_type_object)) {
			struct json_object *v;

			if (json_object_object_get_ex(o, "mediaType", &v))
				mt = json_object_get_string(v);
			is_index = (mt != NULL && ar_oci_is_index(mt)) ||
				   ar_oci_is_index(r.ctype) ||
				   json_object_object_get_ex(o, "manifests", &v);
		} else {
			is_index = 0;
		}
		json_object_put(o);
		if (!is_index) {
			ret = ar_oci_manifest_parse((const char *)s.p, s.len, om, err);
			free(s.p);
			if (ret < 0)
				goto out;
			break;
		}
		ret = ar_oci_pick((const char *)s.p, s.len, NULL, ar_oci_host_platform(),
				  &d, err);
		free(s.p);
		if (ret < 0)
			goto out;
		ret = -1;
		snprintf(digest, sizeof(digest), "%s", d.digest);
		snprintf(path, sizeof(path), "manifests/%s", d.digest);
	}
	if (om->nlayers == 0 && om->config.digest[0] == '\0') {
		cr_error_set(err, EBADMSG, "no image manifest found");
		goto out;
	}
	/* The config, kept verbatim. */
	memset(&s, 0, sizeof(s));
	s.fd = -1;
	s.max = AR_CONFIG_MAX;
	snprintf(path, sizeof(path), "blobs/%s", om->config.digest);
	if (fetch(&r, path, 0, om->config.digest, &s, err) < 0) {
		free(s.p);
		goto out;
	}
	imp->config = (char *)(s.p ? s.p : (uint8_t *)strdup(""));
	imp->config_len = s.len;
	/* Layers: to a temporary file each, then into the tree. */
	for (unsigned i = 0; i < om->nlayers; i++) {
		char tmp[PATH_MAX];
		int fd;

		snprintf(tmp, sizeof(tmp), "%s/tmp/layer.%ld", imp->st->dir, (long)getpid());
		fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			cr_error_errno(err, errno, "cannot create %s", tmp);
			goto out;
		}
		memset(&s, 0, sizeof(s));
		s.fd = fd;
		s.max = (size_t)1 << 40;
		snprintf(path, sizeof(path), "blobs/%s", om->layers[i].digest);
		ret = fetch(&r, path, 0, om->layers[i].digest, &s, err);
		close(fd);
		if (ret == 0)
			ret = ar_apply_layer_file(imp, tmp, err);
		unlink(tmp);
		if (ret < 0)
			goto out;
		ret = -1;
	}
	ret = 0;
out:
	free(om);
	free(r.token);
	if (r.curl != NULL)
		curl_easy_cleanup(r.curl);
	return ret;
}
#endif
