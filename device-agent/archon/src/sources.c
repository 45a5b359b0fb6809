/*
 * Sources of a pull (sources.h): the ring's shard cache over HTTP to the
 * node's ring address, and the origin.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ar/index.h"
#include "ar/provider.h"
#include "cr/ring.h"
#include "cr/util.h"
#include "origin.h"
#include "sources.h"

enum {
	RING_TRIES = 2,	/* nodes asked before the origin */
	PEERS_MAX = 8,
};

/* A device serving its store, through a `carrier connect -L` tunnel. */
struct peer {
	pid_t pid;		/* the carrier process */
	struct ar_origin *o;	/* http://127.0.0.1:LPORT */
	int bad;		/* served a copy that failed its check */
	int dead;		/* the tunnel failed */
};

struct ar_sources {
	struct ar_origin *origin;
	char url[AR_CACHEREQ_ORIGIN_MAX + 1]; /* http(s) origin for the nodes */
	struct cr_ring *ring;		       /* NULL: no ring cache */
	struct ar_origin **node;	       /* per ring node, opened on use */
	uint8_t *alive;			       /* per node: 0 once unreachable */
	const char *ring_path;
	const char *credential; /* carrier connect --credential, or NULL */
	struct peer peers[PEERS_MAX];
	size_t npeers;
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
		s->ring_path = ring_path;
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
	for (size_t i = 0; i < s->npeers; i++) {
		if (s->peers[i].pid > 0) {
			kill(s->peers[i].pid, SIGTERM);
			waitpid(s->peers[i].pid, NULL, 0);
		}
		ar_origin_free(s->peers[i].o);
	}
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

/* The HTTP client for ring node i (its shard cache), opened on first use. */
static struct ar_origin *node_origin(struct ar_sources *s, size_t i)
{
	if (s->node[i] == NULL) {
		char base[CR_RING_ADDR_MAX + 16];

		snprintf(base, sizeof(base), "http://%s", s->ring->nodes[i].addr);
		if (ar_origin_open(base, &s->node[i], NULL) < 0)
			return NULL;
	}
	return s->node[i];
}

/* Asks ring node i for r: 0 with a copy, -1 when it has none for us,
 * -2 when the node cannot be reached (try the next one). */
static int from_node(struct ar_sources *s, size_t i, const struct ar_cachereq *r,
		     size_t max, uint8_t **out, size_t *len)
{
	char target[AR_CACHEREQ_TARGET_MAX + 1];

	if (node_origin(s, i) == NULL)
		return -2;
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
	/* Peers serve what they hold: chunks and indexes, not deltas. */
	for (size_t k = 0; first <= AR_SRC_PEER && r->kind != AR_OBJ_DELTA &&
			   k < s->npeers; k++) {
		struct peer *pe = &s->peers[k];
		uint8_t *p;
		size_t l;

		if (pe->bad || pe->dead)
			continue;
		s->requests++;
		if (ar_origin_get(pe->o, r->rel, max, &p, &l, NULL) < 0) {
			if (ar_origin_last_status(pe->o) == 0)
				pe->dead = 1;
			continue;
		}
		s->bytes[AR_SRC_PEER] += l;
		if (check != NULL && check(arg, p, l) != 0) {
			/* A peer that lies once is not asked again. */
			pe->bad = 1;
			s->rejected++;
			free(p);
			continue;
		}
		*out = p;
		*len = l;
		*from = AR_SRC_PEER;
		return 0;
	}
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
				/* A node that serves a bad copy is not asked
				 * again in this pull. */
				s->alive[rank[k]] = 0;
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

/* A loopback TCP port free right now (carrier connect -L binds it). */
static int free_local_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd < 0)
		return -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

void ar_sources_set_credential(struct ar_sources *s, const char *path)
{
	s->credential = path;
}

/* Starts `carrier connect` to the provider; 0 and pe filled, or -1. */
static int peer_start(struct ar_sources *s, const struct ar_provider *pr,
		      const char *carrier, const char *key, struct peer *pe)
{
	struct cr_id id;
	char ids[CR_ID_STRMAX], port[8], local[32], base[48];
	const char *argv[14];
	int lport = free_local_port(), n = 0, rc;
	posix_spawn_file_actions_t fa;

	if (lport < 0)
		return -1;
	cr_id_from_pk(CR_ID_DEVICE, pr->pk, &id);
	cr_id_format(&id, ids);
	snprintf(port, sizeof(port), "%u", (unsigned)pr->port);
	snprintf(local, sizeof(local), "127.0.0.1:%d", lport);
	argv[n++] = carrier;
	argv[n++] = "connect";
	argv[n++] = ids;
	argv[n++] = port;
	argv[n++] = "-L";
	argv[n++] = local;
	argv[n++] = "--ring";
	argv[n++] = s->ring_path;
	if (key != NULL) {
		argv[n++] = "--key";
		argv[n++] = key;
	}
	if (s->credential != NULL) {
		argv[n++] = "--credential";
		argv[n++] = s->credential;
	}
	argv[n] = NULL;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return -1;
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	rc = posix_spawnp(&pe->pid, carrier, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		pe->pid = 0;
		return -1;
	}
	snprintf(base, sizeof(base), "http://%s", local);
	if (ar_origin_open(base, &pe->o, NULL) < 0) {
		kill(pe->pid, SIGTERM);
		waitpid(pe->pid, NULL, 0);
		pe->pid = 0;
		return -1;
	}
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int ar_sources_find_peers(struct ar_sources *s, const struct ar_id *index,
			  const char *carrier, const char *key, size_t max,
			  uint64_t timeout_ms, size_t *announced)
{
	char rel[64 + AR_ID_HEX], rel_index[16 + AR_ID_HEX], hex[AR_ID_HEX];
	size_t rank[RING_TRIES], n, found = 0, ready = 0;
	struct ar_provider prov[PEERS_MAX];
	int up[PEERS_MAX] = { 0 };
	uint64_t deadline = cr_now_ms() + timeout_ms, now = cr_now_unix();

	*announced = 0;
	if (s->ring == NULL)
		return 0;
	if (max > PEERS_MAX)
		max = PEERS_MAX;
	snprintf(rel, sizeof(rel), "archon/v1/providers/%s", ar_id_hex(index, hex));
	n = cr_ring_rank(s->ring, index->b, s->alive, rank, RING_TRIES);
	for (size_t k = 0; k < n && found < PEERS_MAX; k++) {
		struct ar_origin *o = node_origin(s, rank[k]);
		uint8_t *body;
		size_t len;

		if (o == NULL || ar_origin_get(o, rel, PEERS_MAX * 4 * AR_PROVIDER_LINE_MAX,
					       &body, &len, NULL) < 0)
			continue;
		for (size_t off = 0; off < len && found < PEERS_MAX;) {
			const uint8_t *nl = memchr(body + off, '\n', len - off);
			size_t l = nl != NULL ? (size_t)(nl - (body + off)) + 1 : len - off;
			struct ar_provider p;
			int dup = 0;

			if (ar_provider_parse((const char *)body + off, l, now, &p, NULL) == 0 &&
			    ar_id_equal(&p.index, index)) {
				for (size_t j = 0; j < found; j++)
					dup |= memcmp(prov[j].pk, p.pk, CR_PKLEN) == 0;
				if (!dup)
					prov[found++] = p;
			}
			off += l;
		}
		free(body);
	}
	*announced = found;
	snprintf(rel_index, sizeof(rel_index), "indexes/%s", hex);
	for (size_t k = 0; k < found && s->npeers < max; k++)
		if (peer_start(s, &prov[k], carrier, key, &s->peers[s->npeers]) == 0)
			s->npeers++;
	/* A tunnel is up when the peer answers through it (any HTTP status). */
	while (ready < s->npeers && cr_now_ms() < deadline) {
		for (size_t k = 0; k < s->npeers; k++) {
			struct peer *pe = &s->peers[k];
			uint8_t *b;
			size_t l;

			if (up[k] || pe->dead)
				continue;
			if (waitpid(pe->pid, NULL, WNOHANG) == pe->pid) {
				pe->pid = 0; /* refused, offline: carrier exited */
				pe->dead = 1;
				ready++;
				continue;
			}
			if (ar_origin_get(pe->o, rel_index, AR_INDEX_MAX_BYTES, &b,
					  &l, NULL) == 0)
				free(b);
			if (ar_origin_last_status(pe->o) != 0) {
				up[k] = 1;
				ready++;
			}
		}
		if (ready < s->npeers)
			sleep_ms(100);
	}
	n = 0;
	for (size_t k = 0; k < s->npeers; k++) {
		if (!up[k])
			s->peers[k].dead = 1;
		n += up[k];
	}
	return (int)n;
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
