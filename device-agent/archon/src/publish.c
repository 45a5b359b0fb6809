/*
 * archon publish: writes a version as static files any web server can
 * serve (layout in docs/archon.md):
 *
 *   chunks/ab/<id>            each chunk, zstd-compressed
 *   indexes/<id>              the index
 *   deltas/<from>-<to>        binary deltas from files of earlier versions
 *   refs/REPO/TAG             the (signed) manifest
 *
 * Every file is written under a temporary name and renamed into place, and
 * the manifest last, so a server never serves a manifest naming files
 * that are not there yet.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ar/chunk.h"
#include "cr/cleanup.h"
#include "cr/map.h"
#include "cr/util.h"
#include "progress.h"
#include "store-internal.h"

enum { CHUNK_LEVEL_DEFAULT = 19 };

/* Writes data to dir/rel through a temporary name; 0 when written, 1 when
 * the file already existed. */
static int put_file(const char *dir, const char *rel, const void *data,
		    size_t len, struct cr_error **err)
{
	char path[PATH_MAX], tmp[PATH_MAX + 32], *slash;
	struct stat sb;
	int fd, n;

	n = snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (n < 0 || (size_t)n >= sizeof(path))
		return cr_error_set(err, ENAMETOOLONG, "path too long: %s", rel);
	if (stat(path, &sb) == 0 && (size_t)sb.st_size == len)
		return 1;
	slash = strrchr(path, '/');
	*slash = '\0';
	if (cr_mkdir_p(path, 0755, err) < 0)
		return -1;
	*slash = '/';
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return cr_error_errno(err, errno, "cannot create %s", tmp);
	if (write(fd, data, len) != (ssize_t)len) {
		int e = errno;

		close(fd);
		unlink(tmp);
		return cr_error_errno(err, e, "writing %s", tmp);
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		int e = errno;

		unlink(tmp);
		return cr_error_errno(err, e, "rename to %s", path);
	}
	return 0;
}

/* A whole file object mapped read-only. */
struct mapped {
	uint8_t *p;
	size_t len;
};

static int map_content(struct ar_store *st, const struct ar_id *content,
		       struct mapped *m, struct cr_error **err)
{
	uint64_t size;
	int fd = ar_store_open_content(st, content, &size);
	char hex[AR_ID_HEX];

	if (fd < 0)
		return cr_error_set(err, -fd, "file object %s is missing",
				    ar_id_hex(content, hex));
	m->len = (size_t)size;
	m->p = NULL;
	if (size > 0) {
		void *p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);

		if (p == MAP_FAILED) {
			close(fd);
			return cr_error_errno(err, errno, "mmap");
		}
		m->p = p;
	}
	close(fd);
	return 0;
}

static void unmap(struct mapped *m)
{
	if (m->p != NULL)
		munmap(m->p, m->len);
	m->p = NULL;
}

struct pub {
	struct ar_store *st;
	const char *to;
	int level;
	struct cr_map *done;	/* chunk id -> compressed size + 1 */
	/* Chunks written: plain is their bytes before compression, packed
	 * after (the two differ: say which one a size is). */
	uint64_t chunks, new_chunks, plain, new_plain, packed, new_packed;
};

/* Writes the chunks of one file; adds their compressed sizes to *cost. */
static int publish_file(struct pub *p, const struct ar_entry *e,
			uint64_t *cost, struct cr_error **err)
{
	struct mapped m = { NULL, 0 };
	uint64_t off = 0;
	void *z = NULL;
	size_t zcap = 0;
	int ret = 0;

	*cost = 0;
	if (map_content(p->st, &e->content, &m, err) < 0)
		return -1;
	if (m.len != e->size) {
		unmap(&m);
		return cr_error_set(err, EBADMSG, "%s: object has the wrong size", e->path);
	}
	for (uint32_t i = 0; i < e->nchunks && ret == 0; i++) {
		const struct ar_chunk_ref *c = &e->chunks[i];
		uintptr_t have = (uintptr_t)cr_map_get(p->done, c->id.b);
		char hex[AR_ID_HEX], rel[AR_ID_HEX + 16];
		long zn;

		if (have != 0) {
			*cost += have - 1;
			off += c->len;
			continue;
		}
		if (ar_chunk_wire_bound(c->len) > zcap) {
			zcap = ar_chunk_wire_bound(c->len);
			free(z);
			z = malloc(zcap);
			if (z == NULL) {
				ret = cr_error_set(err, ENOMEM, "out of memory");
				break;
			}
		}
		zn = ar_chunk_pack(z, zcap, m.p + off, c->len, p->level);
		if (zn < 0) {
			ret = cr_error_set(err, EIO, "zstd: cannot compress a chunk");
			break;
		}
		ar_id_hex(&c->id, hex);
		snprintf(rel, sizeof(rel), "chunks/%.2s/%s", hex, hex);
		ret = put_file(p->to, rel, z, zn, err);
		if (ret < 0)
			break;
		p->chunks++;
		p->plain += c->len;
		p->packed += zn;
		if (ret == 0) {
			p->new_chunks++;
			p->new_plain += c->len;
			p->new_packed += zn;
		}
		ret = 0;
		*cost += zn;
		if (cr_map_put(p->done, c->id.b, (void *)(uintptr_t)(zn + 1)) < 0)
			ret = cr_error_set(err, ENOMEM, "out of memory");
		off += c->len;
	}
	free(z);
	unmap(&m);
	return ret;
}

struct deltas {
	struct ar_delta_ref *d;
	size_t n, cap;
	uint64_t bytes;
};

static int __attribute__((unused)) add_delta(struct deltas *ds, const struct ar_id *from,
		     const struct ar_id *to, uint64_t size)
{
	for (size_t i = 0; i < ds->n; i++)
		if (ar_id_equal(&ds->d[i].from, from) && ar_id_equal(&ds->d[i].to, to))
			return 0;
	if (ds->n == ds->cap) {
		size_t cap = ds->cap ? ds->cap * 2 : 16;
		struct ar_delta_ref *nd = realloc(ds->d, cap * sizeof(*nd));

		if (nd == NULL)
			return -1;
		ds->d = nd;
		ds->cap = cap;
	}
	ds->d[ds->n].from = *from;
	ds->d[ds->n].to = *to;
	ds->d[ds->n].size = size;
	ds->n++;
	ds->bytes += size;
	return 0;
}

#ifdef AR_WITH_DELTA_MAKE
/* A delta from the index named from (held in the store) to the new
 * index (ibuf), written when smaller than the new index. */
static int index_delta(struct pub *p, const struct ar_id *from,
		       const struct ar_id *to, const uint8_t *ibuf, size_t ilen,
		       struct deltas *ds, struct cr_error **err)
{
	char path[PATH_MAX], rel[2 * AR_ID_HEX + 16], h1[AR_ID_HEX], h2[AR_ID_HEX];
	char *old;
	size_t olen, dlen;
	uint8_t *d;
	int ret = 0;

	ar_id_hex(from, h1);
	ar_id_hex(to, h2);
	snprintf(path, sizeof(path), "%s/indexes/%s", p->st->dir, h1);
	if (cr_read_file(path, AR_INDEX_MAX_BYTES, &old, &olen, err) < 0)
		return -1;
	if (ar_delta_make((const uint8_t *)old, olen, ibuf, ilen, &d, &dlen, err) < 0) {
		free(old);
		return -1;
	}
	free(old);
	snprintf(rel, sizeof(rel), "deltas/%s-%s", h1, h2);
	if (dlen < ilen && (put_file(p->to, rel, d, dlen, err) < 0 ||
			    add_delta(ds, from, to, dlen) < 0))
		ret = cr_error_set(err, EIO, "index delta %s", rel);
	free(d);
	return ret;
}

/* Deltas from the files of one earlier version to the changed files of
 * this one: same path, other content, and a delta smaller than the chunks
 * a device holding the base would otherwise fetch. */
static int deltas_from(struct pub *p, const struct ar_index *idx,
		       const uint8_t *ibuf, size_t ilen, const uint64_t *costs,
		       const char *base, struct deltas *ds, struct cr_error **err)
{
	struct ar_id new_index;

	struct ar_manifest *bm = NULL;
	struct ar_index *bi = NULL;
	struct cr_map *have = cr_map_new(AR_ID_LEN);
	int ret = -1;

	ar_id_of(ibuf, ilen, &new_index);
	if (have == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	if (ar_store_get_manifest(p->st, base, &bm, err) < 0 ||
	    ar_store_get_index(p->st, &bm->index, &bi, err) < 0)
		goto out;
	for (size_t i = 0; i < bi->n; i++)
		if (bi->e[i].type == AR_REG)
			cr_map_put(have, bi->e[i].content.b, (void *)1);
	/* The index itself: a device holding the base's index fetches a
	 * delta of a few KB instead of the whole new index. */
	if (!ar_id_equal(&bm->index, &new_index) &&
	    index_delta(p, &bm->index, &new_index, ibuf, ilen, ds, err) < 0)
		goto out;
	for (size_t i = 0; i < idx->n; i++) {
		const struct ar_entry *e = &idx->e[i], *b;
		struct mapped mo = { NULL, 0 }, mn = { NULL, 0 };
		uint8_t *d;
		size_t dlen;
		char rel[2 * AR_ID_HEX + 16], h1[AR_ID_HEX], h2[AR_ID_HEX];

		if (e->type != AR_REG || e->size == 0 ||
		    cr_map_get(have, e->content.b) != NULL)
			continue;
		b = ar_index_find(bi, e->path);
		if (b == NULL || b->type != AR_REG || b->size == 0)
			continue;
		snprintf(rel, sizeof(rel), "deltas/%s-%s", ar_id_hex(&b->content, h1),
			 ar_id_hex(&e->content, h2));
		if (map_content(p->st, &b->content, &mo, err) < 0)
			goto out;
		if (map_content(p->st, &e->content, &mn, err) < 0) {
			unmap(&mo);
			goto out;
		}
		ret = ar_delta_make(mo.p, mo.len, mn.p, mn.len, &d, &dlen, err);
		unmap(&mo);
		unmap(&mn);
		if (ret < 0)
			goto out;
		ret = -1;
		if (dlen < costs[i]) {
			if (put_file(p->to, rel, d, dlen, err) < 0 ||
			    add_delta(ds, &b->content, &e->content, dlen) < 0) {
				free(d);
				cr_error_set(err, ENOMEM, "out of memory");
				goto out;
			}
		}
		free(d);
	}
	ret = 0;
out:
	cr_map_free(have);
	ar_index_free(bi);
	ar_manifest_free(bm);
	return ret;
}
#endif

int ar_publish(struct ar_store *st, const char *name, const char *to,
	       const char *keyfile, int bases, int progress, struct cr_error **err)
{
	struct pub p = { .st = st, .to = to, .level = CHUNK_LEVEL_DEFAULT,
			 .done = cr_map_new(AR_ID_LEN) };
	struct ar_progress prog = { 0 };
	uint64_t total = 0;
	struct ar_manifest *m = NULL;
	struct ar_index *idx = NULL;
	struct deltas ds = { 0 };
	struct cr_keypair kp;
	uint8_t *ibuf = NULL, *mbuf = NULL;
	uint64_t *costs = NULL;
	size_t ilen, mlen, nbases = 0;
	char rel[AR_NAME_MAX + 16], hex[AR_ID_HEX], sz1[32], sz2[32], sz3[32], sz4[32];
	char (*tags)[AR_NAME_MAX + 1] = NULL;
	const char *lvl = getenv("ARCHON_ZSTD_LEVEL");
	int ret = -1, have_key = 0;

	if (p.done == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	if (lvl != NULL && lvl[0] != '\0') {
		uint64_t v;

		if (cr_parse_u64(lvl, 1, 22, &v) < 0) {
			cr_error_set(err, EINVAL, "ARCHON_ZSTD_LEVEL wants 1..22");
			goto out;
		}
		p.level = (int)v;
	}
	if (keyfile != NULL) {
		if (cr_keypair_load(keyfile, &kp, err) < 0)
			goto out;
		have_key = 1;
	}
	if (ar_store_get_manifest(st, name, &m, err) < 0 ||
	    ar_store_get_index(st, &m->index, &idx, err) < 0 ||
	    cr_mkdir_p(to, 0755, err) < 0)
		goto out;
	costs = calloc(idx->n ? idx->n : 1, sizeof(*costs));
	if (costs == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < idx->n; i++)
		if (idx->e[i].type == AR_REG)
			total += idx->e[i].size;
	ar_progress_start(&prog, progress, "publish: compressing chunks", total);
	for (size_t i = 0; i < idx->n; i++) {
		if (idx->e[i].type != AR_REG)
			continue;
		if (publish_file(&p, &idx->e[i], &costs[i], err) < 0)
			goto out;
		ar_progress_add(&prog, idx->e[i].size);
	}
	ar_progress_end(&prog);
	if (ar_index_encode(idx, &ibuf, &ilen, err) < 0)
		goto out;
	snprintf(rel, sizeof(rel), "indexes/%s", ar_id_hex(&m->index, hex));
	if (put_file(to, rel, ibuf, ilen, err) < 0)
		goto out;
	/* Deltas from the `bases` versions of this repository published
	 * before this one. */
	if (bases > 0 && ar_store_tags(st, name, &tags, &nbases, err) < 0)
		goto out;
	for (size_t i = 0, used = 0; i < nbases && (int)used < bases; i++) {
		struct ar_manifest *bm;

		if (strcmp(tags[i], name) == 0 ||
		    ar_store_get_manifest(st, tags[i], &bm, NULL) < 0)
			continue;
		if (bm->created > m->created ||
		    (bm->created == m->created && strcmp(tags[i], name) > 0)) {
			ar_manifest_free(bm);
			continue;
		}
		ar_manifest_free(bm);
		used++;
		if (progress)
			fprintf(stderr, "publish: deltas from %s\n", tags[i]);
#ifdef AR_WITH_DELTA_MAKE
		if (deltas_from(&p, idx, ibuf, ilen, costs, tags[i], &ds, err) < 0)
			goto out;
#else
		fprintf(stderr, "archon: this build makes no deltas (no libdivsufsort)\n");
		break;
#endif
	}
	free(m->deltas);
	m->deltas = ds.d;
	m->ndeltas = ds.n;
	ds.d = NULL;
	{
		char *colon;

		snprintf(rel, sizeof(rel), "refs/%s", name);
		colon = strrchr(rel, ':');
		*colon = '/';
	}
	/* Devices refuse a manifest older than the one they hold (a replay):
	 * the signed creation time of a tag only grows at this origin. */
	{
		char path[PATH_MAX];
		char *old = NULL;
		size_t olen;
		struct ar_manifest *om = NULL;

		snprintf(path, sizeof(path), "%s/%s", to, rel);
		if (cr_read_file(path, AR_MANIFEST_MAX_BYTES, &old, &olen, NULL) == 0 &&
		    ar_manifest_decode((const uint8_t *)old, olen, &om, NULL) == 0 &&
		    om->created >= m->created)
			m->created = om->created + 1;
		ar_manifest_free(om);
		free(old);
	}
	if (ar_manifest_encode(m, have_key ? &kp : NULL, &mbuf, &mlen, err) < 0)
		goto out;
	/* The manifest last: it names everything above. */
	{
		int fd = open(to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd >= 0) {
			syncfs(fd);
			close(fd);
		}
	}
	if (put_file(to, rel, mbuf, mlen, err) < 0)
		goto out;
	/* The store keeps what it published, deltas included (for diff). */
	if (ar_store_put_ref(st, name, mbuf, mlen, err) < 0 ||
	    ar_store_commit(st, err) < 0)
		goto out;
	ar_human(p.plain, sz1, sizeof(sz1));
	ar_human(p.packed, sz2, sizeof(sz2));
	ar_human(p.new_packed, sz3, sizeof(sz3));
	ar_human(ds.bytes, sz4, sizeof(sz4));
	printf("published %s to %s: %" PRIu64 " chunks holding %s (%s compressed), "
	       "%" PRIu64 " new (%s compressed), %zu deltas with %s, %s manifest\n",
	       name, to, p.chunks, sz1, sz2, p.new_chunks, sz3, m->ndeltas, sz4,
	       have_key ? "signed" : "unsigned");
	ret = 0;
out:
	if (have_key)
		cr_keypair_wipe(&kp);
	free(ds.d);
	free(tags);
	free(costs);
	free(ibuf);
	free(mbuf);
	ar_index_free(idx);
	ar_manifest_free(m);
	cr_map_free(p.done);
	return ret;
}
