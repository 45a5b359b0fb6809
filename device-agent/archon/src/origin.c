/*
 * Origin access (origin.h): libcurl for http(s)://, the file system for
 * file:// and plain paths.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef AR_WITH_CURL
#include <curl/curl.h>
#endif

#include "cr/util.h"
#include "origin.h"

struct ar_origin {
	char *base;  /* without a trailing '/' */
	int is_file; /* base is a local folder */
	uint64_t bytes, requests;
#ifdef AR_WITH_CURL
	CURL *curl; /* one handle: connections are reused */
#endif
};

int ar_origin_open(const char *url, struct ar_origin **out,
		   struct cr_error **err)
{
	struct ar_origin *o = calloc(1, sizeof(*o));
	size_t n;

	if (o == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	if (strncmp(url, "file://", 7) == 0) {
		o->is_file = 1;
		url += 7;
	} else if (strncmp(url, "http://", 7) != 0 &&
		   strncmp(url, "https://", 8) != 0) {
		o->is_file = 1;
	}
	o->base = strdup(url);
	if (o->base == NULL) {
		free(o);
		return cr_error_set(err, ENOMEM, "out of memory");
	}
	n = strlen(o->base);
	while (n > 1 && o->base[n - 1] == '/')
		o->base[--n] = '\0';
	if (!o->is_file) {
#ifdef AR_WITH_CURL
		o->curl = curl_easy_init();
		if (o->curl == NULL) {
			ar_origin_free(o);
			return cr_error_set(err, EIO, "libcurl failed to start");
		}
#else
		ar_origin_free(o);
		return cr_error_set(err, ENOTSUP,
				    "%s: this build has no HTTP client (libcurl); use a file:// origin",
				    url);
#endif
	}
	*out = o;
	return 0;
}

struct ar_origin *ar_origin_free(struct ar_origin *o)
{
	if (o == NULL)
		return NULL;
#ifdef AR_WITH_CURL
	if (o->curl != NULL)
		curl_easy_cleanup(o->curl);
#endif
	free(o->base);
	free(o);
	return NULL;
}

uint64_t ar_origin_bytes(const struct ar_origin *o)
{
	return o->bytes;
}

uint64_t ar_origin_requests(const struct ar_origin *o)
{
	return o->requests;
}

#ifdef AR_WITH_CURL
struct body {
	uint8_t *p;
	size_t len, max;
	int too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;
	uint8_t *np;

	if (n > b->max - b->len) {
		b->too_big = 1;
		return 0;
	}
	np = realloc(b->p, b->len + n + 1);
	if (np == NULL)
		return 0;
	b->p = np;
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	return n;
}
#endif

int ar_origin_get(struct ar_origin *o, const char *rel, size_t max,
		  uint8_t **out, size_t *len, struct cr_error **err)
{
	char url[PATH_MAX + 64];
	int n = snprintf(url, sizeof(url), "%s/%s", o->base, rel);

	if (n < 0 || (size_t)n >= sizeof(url))
		return cr_error_set(err, ENAMETOOLONG, "URL too long");
	o->requests++;
	if (o->is_file) {
		char *buf;
		int rc = cr_read_file(url, max, &buf, len, err);

		if (rc < 0)
			return (err != NULL && *err != NULL && (*err)->code == ENOENT) ? -ENOENT : -EIO;
		*out = (uint8_t *)buf;
		o->bytes += *len;
		return 0;
	}
#ifdef AR_WITH_CURL
	{
		struct body b = { NULL, 0, max, 0 };
		long status = 0;
		CURLcode cc;

		curl_easy_setopt(o->curl, CURLOPT_URL, url);
		curl_easy_setopt(o->curl, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(o->curl, CURLOPT_WRITEDATA, &b);
		curl_easy_setopt(o->curl, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(o->curl, CURLOPT_MAXREDIRS, 5L);
		curl_easy_setopt(o->curl, CURLOPT_CONNECTTIMEOUT, 15L);
		curl_easy_setopt(o->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(o->curl, CURLOPT_LOW_SPEED_TIME, 60L);
		curl_easy_setopt(o->curl, CURLOPT_PROTOCOLS_STR, "http,https");
		cc = curl_easy_perform(o->curl);
		curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &status);
		o->bytes += b.len;
		if (cc != CURLE_OK || status != 200) {
			free(b.p);
			if (b.too_big)
				return cr_error_set(err, EFBIG, "%s: larger than %zu bytes",
						    url, max);
			if (status == 404) {
				cr_error_set(err, ENOENT, "%s: not found (404)", url);
				return -ENOENT;
			}
			return cr_error_set(err, EIO, "%s: %s (HTTP %ld)", url,
					    curl_easy_strerror(cc), status);
		}
		if (b.p == NULL)
			b.p = malloc(1);
		if (b.p == NULL)
			return cr_error_set(err, ENOMEM, "out of memory");
		*out = b.p;
		*len = b.len;
		return 0;
	}
#else
	return cr_error_set(err, ENOTSUP, "no HTTP client in this build");
#endif
}
