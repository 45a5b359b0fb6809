/*
 * archon pull URL NAME: fetches a published version, only what the store
 * lacks.  In order: the manifest (signature checked when present, and the
 * publisher pinned by $ARCHON_PUBLISHER_KEY when set), the index (checked
 * against its id), then for each file content not held: a binary delta
 * when the manifest lists one from a content we hold (applied, and the
 * result checked against the content id), else the chunks we do not hold
 * (each checked against its id after decompression).  Files land as
 * objects; the version's name is recorded last, in the final transaction.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include "cr/cleanup.h"
#include "cr/map.h"
#include "cr/util.h"
#include "origin.h"
#include "store-internal.h"

enum { COMMIT_EVERY = 64 << 20 }; /* bytes of new objects per transaction */

static int read_all(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* Rebuilds a file through a delta from a content we hold. */
static int by_delta(struct ar_store *st, struct ar_origin *o,
		    const struct ar_delta_ref *d, struct ar_entry *e,
		    struct cr_error **err)
{
	char rel[2 * AR_ID_HEX + 16], h1[AR_ID_HEX], h2[AR_ID_HEX];
	uint8_t *delta = NULL, *old = NULL, *nw = NULL;
	size_t dlen, nlen;
	uint64_t osize;
	struct ar_writer w;
	struct ar_entry tmp = *e;
	int fd, ret = -1;

	snprintf(rel, sizeof(rel), "deltas/%s-%s", ar_id_hex(&d->from, h1),
		 ar_id_hex(&d->to, h2));
	if (ar_origin_get(o, rel, (size_t)d->size, &delta, &dlen, err) < 0)
		return -1;
	fd = ar_store_open_content(st, &d->from, &osize);
	if (fd < 0) {
		cr_error_set(err, -fd, "delta base %s is gone", h1);
		goto out;
	}
	old = malloc(osize ? (size_t)osize : 1);
	if (old == NULL || read_all(fd, old, (size_t)osize) < 0) {
		close(fd);
		cr_error_set(err, EIO, "cannot read delta base %s", h1);
		goto out;
	}
	close(fd);
	if (ar_delta_apply(old, (size_t)osize, delta, dlen, &nw, &nlen, err) < 0)
		goto out;
	if (nlen != e->size) {
		cr_error_set(err, EBADMSG, "delta %s gives %zu bytes, want %" PRIu64,
			     rel, nlen, e->size);
		goto out;
	}
	if (ar_writer_start(st, &w, err) < 0)
		goto out;
	tmp.chunks = NULL;
	if (ar_writer_write(&w, nw, nlen, err) < 0) {
		ar_writer_discard(&w);
		goto out;
	}
	/* The result must have the content id the index names. */
	if (ar_writer_finish(&w, &tmp, &e->content, err) < 0)
		goto out;
	free(tmp.chunks);
	ret = 0;
out:
	free(delta);
	free(old);
	free(nw);
	return ret;
}

struct pull {
	struct ar_store *st;
	struct ar_origin *o;
	uint8_t *buf; /* one chunk */
	uint64_t fetched_chunks, fetched_plain;
};

/* Rebuilds a file from chunks, local ones first. */
static int by_chunks(struct pull *p, struct ar_entry *e, struct cr_error **err)
{
	struct ar_writer w;
	struct ar_entry tmp = *e;

	if (ar_writer_start(p->st, &w, err) < 0)
		return -1;
	for (uint32_t i = 0; i < e->nchunks; i++) {
		const struct ar_chunk_ref *c = &e->chunks[i];
		long n = ar_store_read_chunk(p->st, &c->id, p->buf, AR_CHUNK_MAX_LIMIT);

		if (n < 0) {
			char hex[AR_ID_HEX], rel[AR_ID_HEX + 16];
			uint8_t *z;
			size_t zlen, got;
			struct ar_id id;

			ar_id_hex(&c->id, hex);
			snprintf(rel, sizeof(rel), "chunks/%.2s/%s", hex, hex);
			if (ar_origin_get(p->o, rel, ZSTD_compressBound(c->len) + 64,
					  &z, &zlen, err) < 0) {
				ar_writer_discard(&w);
				return cr_error_wrap(err, "%s", e->path);
			}
			got = ZSTD_decompress(p->buf, c->len, z, zlen);
			free(z);
			if (ZSTD_isError(got) || got != c->len) {
				ar_writer_discard(&w);
				return cr_error_set(err, EBADMSG,
						    "chunk %s does not decompress to %u bytes",
						    hex, c->len);
			}
			ar_id_of(p->buf, c->len, &id);
			if (!ar_id_equal(&id, &c->id)) {
				ar_writer_discard(&w);
				return cr_error_set(err, EBADMSG,
						    "chunk %s from the origin does not match its id",
						    hex);
			}
			p->fetched_chunks++;
			p->fetched_plain += c->len;
			n = (long)c->len;
		} else if ((uint32_t)n != c->len) {
			ar_writer_discard(&w);
			return cr_error_set(err, EBADMSG, "local chunk has the wrong length");
		}
		if (ar_writer_write(&w, p->buf, (size_t)n, err) < 0) {
			ar_writer_discard(&w);
			return -1;
		}
	}
	tmp.chunks = NULL;
	if (ar_writer_finish(&w, &tmp, &e->content, err) < 0)
		return -1;
	free(tmp.chunks);
	return 0;
}

/* The new index rebuilt from an index we hold and a delta the manifest
 * lists; -1 (quietly) when there is none or it does not work out, and
 * the caller fetches the whole index. */
static int index_by_delta(struct ar_store *st, struct ar_origin *o,
			  const struct ar_manifest *m, uint8_t **out,
			  size_t *len)
{
	for (size_t j = 0; j < m->ndeltas; j++) {
		const struct ar_delta_ref *d = &m->deltas[j];
		char path[PATH_MAX], rel[2 * AR_ID_HEX + 16], h1[AR_ID_HEX], h2[AR_ID_HEX];
		char *old;
		size_t olen;
		uint8_t *delta, *nw;
		size_t dlen, nlen;
		struct ar_id got;
		int rc;

		if (!ar_id_equal(&d->to, &m->index))
			continue;
		ar_id_hex(&d->from, h1);
		ar_id_hex(&d->to, h2);
		snprintf(path, sizeof(path), "%s/indexes/%s", st->dir, h1);
		if (cr_read_file(path, AR_INDEX_MAX_BYTES, &old, &olen, NULL) < 0)
			continue;
		ar_id_of(old, olen, &got);
		snprintf(rel, sizeof(rel), "deltas/%s-%s", h1, h2);
		if (!ar_id_equal(&got, &d->from) ||
		    ar_origin_get(o, rel, (size_t)d->size, &delta, &dlen, NULL) < 0) {
			free(old);
			continue;
		}
		rc = ar_delta_apply((const uint8_t *)old, olen, delta, dlen, &nw, &nlen, NULL);
		free(old);
		free(delta);
		if (rc < 0)
			continue;
		ar_id_of(nw, nlen, &got);
		if (!ar_id_equal(&got, &m->index)) {
			free(nw);
			continue;
		}
		*out = nw;
		*len = nlen;
		return 0;
	}
	return -1;
}

static int pinned_key(const struct ar_manifest *m, struct cr_error **err)
{
	const char *path = getenv("ARCHON_PUBLISHER_KEY");
	enum cr_id_type type;
	uint8_t pk[CR_PKLEN];

	if (path == NULL || path[0] == '\0')
		return 0;
	if (cr_pubkey_load(path, &type, pk, err) < 0)
		return -1;
	if (!m->is_signed || sodium_memcmp(pk, m->pk, CR_PKLEN) != 0)
		return cr_error_set(err, EPERM,
				    "manifest is not signed by the publisher key %s", path);
	return 0;
}

int ar_pull(struct ar_store *st, const char *url, const char *name,
	    FILE *out, struct cr_error **err)
{
	struct pull p = { st, NULL, NULL, 0, 0 };
	struct ar_manifest *m = NULL;
	struct ar_index *idx = NULL;
	struct cr_map *seen = NULL, *planned = NULL;
	uint8_t *mbuf = NULL, *ibuf = NULL;
	size_t mlen, ilen, nchunks = 0, nmissing = 0, nfiles = 0, ndelta = 0;
	uint64_t plain = 0, missing_plain = 0, delta_bytes = 0, since_commit = 0;
	uint64_t delta_plan = 0;
	size_t ndelta_plan = 0;
	uint64_t t0 = cr_now_ms();
	char rel[AR_NAME_MAX + 16], hex[AR_ID_HEX], s1[32], s2[32];
	int ret = -1;

	if (!ar_name_valid(name))
		return cr_error_set(err, EINVAL, "'%s' is not a valid name (REPO:TAG)", name);
	if (ar_origin_open(url, &p.o, err) < 0)
		return -1;
	p.buf = malloc(AR_CHUNK_MAX_LIMIT);
	seen = cr_map_new(AR_ID_LEN);
	planned = cr_map_new(AR_ID_LEN);
	if (p.buf == NULL || seen == NULL || planned == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	snprintf(rel, sizeof(rel), "refs/%s", name);
	*strrchr(rel, ':') = '/';
	if (ar_origin_get(p.o, rel, AR_MANIFEST_MAX_BYTES, &mbuf, &mlen, err) < 0 ||
	    ar_manifest_decode(mbuf, mlen, &m, err) < 0 || pinned_key(m, err) < 0)
		goto out;
	if (strcmp(m->name, name) != 0) {
		cr_error_set(err, EBADMSG, "the origin's manifest names %s, not %s",
			     m->name, name);
		goto out;
	}
	fprintf(out, "receiving archon index .. ");
	fflush(out);
	if (ar_store_get_index(st, &m->index, &idx, NULL) < 0) {
		struct ar_id got;

		snprintf(rel, sizeof(rel), "indexes/%s", ar_id_hex(&m->index, hex));
		if (index_by_delta(st, p.o, m, &ibuf, &ilen) < 0 &&
		    ar_origin_get(p.o, rel, (size_t)m->index_size, &ibuf, &ilen, err) < 0)
			goto fail_line;
		ar_id_of(ibuf, ilen, &got);
		if (!ar_id_equal(&got, &m->index)) {
			cr_error_set(err, EBADMSG, "index %s does not match its id", hex);
			goto fail_line;
		}
		if (ar_index_decode(ibuf, ilen, &idx, err) < 0 ||
		    ar_store_put_index(st, ibuf, ilen, &got, err) < 0)
			goto fail_line;
	}
	fprintf(out, "complete\n");

	/* What we have, what we will fetch: a delta for each new content
	 * that has one from a content we hold, else its missing chunks. */
	for (size_t i = 0; i < idx->n; i++) {
		const struct ar_entry *e = &idx->e[i];
		struct ar_content_rec rec;
		int held, delta = 0;

		if (e->type != AR_REG || cr_map_get(seen, e->content.b) != NULL)
			continue;
		cr_map_put(seen, e->content.b, (void *)1);
		held = ar_store_content_get(st, &e->content, &rec) == 0;
		for (size_t j = 0; !held && j < m->ndeltas && !delta; j++)
			if (ar_id_equal(&m->deltas[j].to, &e->content) &&
			    ar_store_content_get(st, &m->deltas[j].from, &rec) == 0) {
				delta = 1;
				ndelta_plan++;
				delta_plan += m->deltas[j].size;
			}
		for (uint32_t j = 0; j < e->nchunks; j++) {
			struct ar_chunk_loc loc;

			if (cr_map_get(planned, e->chunks[j].id.b) != NULL)
				continue;
			cr_map_put(planned, e->chunks[j].id.b, (void *)1);
			nchunks++;
			plain += e->chunks[j].len;
			if (!held && !delta &&
			    ar_store_chunk_get(st, &e->chunks[j].id, &loc) < 0) {
				nmissing++;
				missing_plain += e->chunks[j].len;
			}
		}
	}
	ar_human(plain, s1, sizeof(s1));
	ar_human(missing_plain, s2, sizeof(s2));
	fprintf(out, "%zu shards with %s (downloading %zu new shards with %s)\n",
		nchunks, s1, nmissing, s2);
	if (ndelta_plan > 0) {
		ar_human(delta_plan, s1, sizeof(s1));
		fprintf(out, "%zu changed files by delta (downloading %s)\n",
			ndelta_plan, s1);
	}

	if (ar_store_begin(st, err) < 0)
		goto out;
	for (size_t i = 0; i < idx->n; i++) {
		struct ar_entry *e = &idx->e[i];
		const struct ar_delta_ref *d = NULL;
		int rc;

		if (e->type != AR_REG)
			continue;
		rc = ar_store_ensure_object(st, e, err);
		if (rc < 0)
			goto out;
		if (rc == 1)
			continue;
		nfiles++;
		for (size_t j = 0; j < m->ndeltas && d == NULL; j++) {
			struct ar_content_rec rec;

			if (ar_id_equal(&m->deltas[j].to, &e->content) &&
			    ar_store_content_get(st, &m->deltas[j].from, &rec) == 0)
				d = &m->deltas[j];
		}
		if (d != NULL) {
			struct cr_error *derr = NULL;

			if (by_delta(st, p.o, d, e, &derr) == 0) {
				ndelta++;
				delta_bytes += d->size;
				since_commit += e->size;
				continue;
			}
			/* A missing or bad delta costs chunks, not the pull. */
			fprintf(out, "delta for %s unusable (%s); fetching chunks\n",
				e->path, cr_error_msg(derr));
			cr_error_free(derr);
		}
		if (by_chunks(&p, e, err) < 0)
			goto out;
		since_commit += e->size;
		/* Keep progress across a kill on big pulls. */
		if (since_commit >= COMMIT_EVERY) {
			if (ar_store_commit(st, err) < 0 || ar_store_begin(st, err) < 0)
				goto out;
			since_commit = 0;
		}
	}
	if (ar_store_put_ref(st, name, mbuf, mlen, err) < 0 ||
	    ar_store_commit(st, err) < 0)
		goto out;
	ar_human(delta_bytes, s1, sizeof(s1));
	fprintf(out, "%zu files rebuilt: %zu from deltas (%s), %zu from chunks "
		     "(%" PRIu64 " shards fetched)\n",
		nfiles, ndelta, s1, nfiles - ndelta, p.fetched_chunks);
	fprintf(out, "pulled %s: %" PRIu64 " bytes in %" PRIu64 " requests, %" PRIu64 " ms\n",
		name, ar_origin_bytes(p.o), ar_origin_requests(p.o), cr_now_ms() - t0);
	ret = 0;
	goto out;
fail_line:
	fprintf(out, "failed\n");
out:
	ar_store_abort(st);
	ar_index_free(idx);
	ar_manifest_free(m);
	free(mbuf);
	free(ibuf);
	free(p.buf);
	cr_map_free(seen);
	cr_map_free(planned);
	ar_origin_free(p.o);
	return ret < 0 ? cr_error_wrap(err, "pull %s from %s", name, url) : 0;
}
