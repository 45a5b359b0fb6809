/*
 * Sources of a pull (sources.h): the ring's shard cache over HTTP to the
 * node's ring address, and the origin.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cr/ring.h"
#include "origin.h"
#include "sources.h"

enum { RING_TRIES = 2 }; /* nodes asked before the origin */

struct ar_sources {
	struct ar_origin *origin;
	char url[AR_CACHEREQ_ORIGIN_MAX + 1]; /* http(s) origin for the nodes */
	struct cr_ring *ring;		       /* NULL: no ring cache */
	struct ar_origin **node;	       /* per ring node, opened on use */
	uint8_t *alive;			       /* per node: 0 once unreachable */
	uint64_t bytes[AR_SRC_N], requests, rejected;
};

int ar_sources_open(const char *url, const char *ring_path,
		    struct ar_sources **out, struct cr_error **err)
{
	struct ar_sources *s = calloc(1, sizeof(*s));
	size_t n;

	if (s == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	if (ar_origin_open(url, &s->origin, err) < 0) {
		free(s);
		return -1;
	}
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	if (ring_path != NULL && ring_path[0] != '\0') {
		if (n > AR_CACHEREQ_ORIGIN_MAX ||
		    !(strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)) {
			ar_sources_free(s);
			return cr_error_set(err, EINVAL,
					    "the ring cache needs an http(s) origin of at most %d bytes",
					    AR_CACHEREQ_ORIGIN_MAX);
		}
		memcpy(s->url, url, n);
		s->url[n] = '\0';
		/* No operator pin: the ring only says where to ask, and
		 * every object is checked against its id before use. */
		if (cr_ring_load(ring_path, NULL, &s->ring, err) < 0) {
			ar_sources_free(s);
			return cr_error_wrap(err, "--ring");
		}
		s->node = calloc(s->ring->n_nodes, sizeof(*s->node));
		s->alive = malloc(s->ring->n_nodes);
		if (s->node == NULL || s->alive == NULL) {
			ar_sources_free(s);
			return cr_error_set(err, ENOMEM, "out of memory");
		}
		memset(s->alive, 1, s->ring->n_nodes);
	}
	*out = s;
	return 0;
}

struct ar_sources *ar_sources_free(struct ar_sources *s)
{
	if (s == NULL)
		return NULL;
	for (size_t i = 0; s->ring != NULL && s->node != NULL &&
			   i < s->ring->n_nodes; i++)
		ar_origin_free(s->node[i]);
	free(s->node);
	free(s->alive);
	cr_ring_free(s->ring);
	ar_origin_free(s->origin);
	free(s);
	return NULL;
}

/* Asks ring node i for r: 0 with a copy, -1 when it has none for us,
 * -2 when the node cannot be reached (try the next one). */
static int from_node(struct ar_sources *s, size_t i, const struct ar_cachereq *r,
		     size_t max, uint8_t **out, size_t *len)
{
	char target[AR_CACHEREQ_TARGET_MAX + 1];

	if (s->node[i] == NULL) {
		char base[CR_RING_ADDR_MAX + 16];

		snprintf(base, sizeof(base), "http://%s", s->ring->nodes[i].addr);
		if (ar_origin_open(base, &s->node[i], NULL) < 0)
			return -2;
	}
	if (ar_cachereq_format(r, target, sizeof(target)) < 0)
		return -1;
	s->requests++;
	if (ar_origin_get(s->node[i], target + 1, max, out, len, NULL) == 0)
		return 0;
	return ar_origin_last_status(s->node[i]) == 0 ? -2 : -1;
}

int ar_sources_get(struct ar_sources *s, struct ar_cachereq *r, size_t max,
		   enum ar_src first, ar_check_fn check, void *arg,
		   uint8_t **out, size_t *len, enum ar_src *from,
		   struct cr_error **err)
{
	int rc;

	memcpy(r->origin, s->url, sizeof(r->origin));
	ar_cachereq_set_rel(r);
	if (first <= AR_SRC_RING && s->ring != NULL) {
		uint8_t place[AR_ID_LEN];
		size_t rank[RING_TRIES], n;

		ar_cachereq_place(r, place);
		n = cr_ring_rank(s->ring, place, s->alive, rank, RING_TRIES);
		for (size_t k = 0; k < n; k++) {
			uint8_t *p;
			size_t l;

			rc = from_node(s, rank[k], r, max, &p, &l);
			if (rc == -2) {
				s->alive[rank[k]] = 0;
				continue;
			}
			if (rc < 0)
				break;
			s->bytes[AR_SRC_RING] += l;
			if (check != NULL && check(arg, p, l) != 0) {
				s->rejected++;
				free(p);
				break;
			}
			*out = p;
			*len = l;
			*from = AR_SRC_RING;
			return 0;
		}
	}
	s->requests++;
	rc = ar_origin_get(s->origin, r->rel, max, out, len, err);
	if (rc < 0)
		return rc;
	s->bytes[AR_SRC_ORIGIN] += *len;
	*from = AR_SRC_ORIGIN;
	if (check != NULL && check(arg, *out, *len) != 0) {
		s->rejected++;
		free(*out);
		*out = NULL;
		return cr_error_set(err, EBADMSG, "%s from the origin does not match its id",
				    r->rel);
	}
	return 0;
}

int ar_sources_origin_get(struct ar_sources *s, const char *rel, size_t max,
			  uint8_t **out, size_t *len, struct cr_error **err)
{
	int rc;

	s->requests++;
	rc = ar_origin_get(s->origin, rel, max, out, len, err);
	if (rc == 0)
		s->bytes[AR_SRC_ORIGIN] += *len;
	return rc;
}

void ar_sources_reject(struct ar_sources *s, enum ar_src src)
{
	(void)src;
	s->rejected++;
}

uint64_t ar_sources_bytes(const struct ar_sources *s, enum ar_src src)
{
	return s->bytes[src];
}

uint64_t ar_sources_requests(const struct ar_sources *s)
{
	return s->requests;
}

uint64_t ar_sources_rejected(const struct ar_sources *s)
{
	return s->rejected;
}
