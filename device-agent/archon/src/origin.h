/*
 * Fetching a published store's files from an origin: any static HTTP(S)
 * server (HTTP/1.1 GETs over libevent, TLS from cr/tlsclient.h;
 * certificates checked against the system's CAs or $CURL_CA_BUNDLE), or a
 * local folder (file:// URLs and plain paths, which also serve builds
 * without HTTP).  Counts requests and bytes.
 */
#ifndef AR_ORIGIN_H
#define AR_ORIGIN_H

#include <stddef.h>
#include <stdint.h>

#include "cr/error.h"

struct ar_origin;

int ar_origin_open(const char *url, struct ar_origin **out,
		   struct cr_error **err);
struct ar_origin *ar_origin_free(struct ar_origin *o);

/* Fetches URL/rel (at most max bytes) into a new buffer the caller frees.
 * Returns 0, -ENOENT (with *err) when the origin has no such file, or
 * another negative value with *err. */
int ar_origin_get(struct ar_origin *o, const char *rel, size_t max,
		  uint8_t **out, size_t *len, struct cr_error **err);

/* HTTP status of the last request: 0 when no answer came (connection
 * refused, timeout), 200 for a local file. */
long ar_origin_last_status(const struct ar_origin *o);

/* Bytes of bodies received and requests made so far. */
uint64_t ar_origin_bytes(const struct ar_origin *o);
uint64_t ar_origin_requests(const struct ar_origin *o);

#endif
