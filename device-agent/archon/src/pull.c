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
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cr/cleanup.h"
#include "cr/map.h"
#include "cr/util.h"
#include "progress.h"
#include "sources.h"
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

struct pull {
	struct ar_store *st;
	struct ar_sources *src;
	uint8_t *buf; /* one chunk */
	uint64_t fetched_chunks, fetched_plain;
	uint64_t resumed_chunks; /* found in partial/ from an interrupted pull */
	int partfd;		 /* the store's partial/, or -1 */
	struct ar_progress *prog;
	FILE *out;		 /* what the pull says, or NULL */
	int phases;		 /* the phase lines instead of the summary */
	unsigned said_from;	 /* phases: the sources named so far (bits) */
};

static void say(const struct pull *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(const struct pull *p, const char *fmt, ...)
{
	va_list ap;

	if (p->out == NULL)
		return;
	va_start(ap, fmt);
	vfprintf(p->out, fmt, ap);
	va_end(ap);
	fflush(p->out);
}

/* Phases: "receiving shards from X" the first time X serves one. */
static void came_from(struct pull *p, enum ar_src from)
{
	static const char *const what[AR_SRC_N] = { "peers", "the ring cache",
						    "the origin" };

	if (!p->phases || (unsigned)from >= AR_SRC_N || (p->said_from & (1u << from)))
		return;
	p->said_from |= 1u << from;
	say(p, "receiving shards from %s\n", what[from]);
}

/* Rebuilds a file through a delta from a content we hold.  A delta from
 * the ring that does not give the content is fetched again from the
 * origin (only a holder of the base can check a delta). */
static int by_delta(struct pull *p, const struct ar_delta_ref *d,
		    struct ar_entry *e, struct cr_error **err)
{
	struct ar_store *st = p->st;
	struct ar_sources *src = p->src;
	struct ar_cachereq r = { .kind = AR_OBJ_DELTA, .id = d->from,
				 .to = d->to, .size = d->size };
	char h1[AR_ID_HEX];
	uint8_t *delta = NULL, *old = NULL, *nw = NULL;
	size_t dlen, nlen;
	uint64_t osize;
	struct ar_writer w;
	struct ar_entry tmp = *e;
	enum ar_src first = AR_SRC_PEER, from;
	int fd, ret = -1;

	ar_id_hex(&d->from, h1);
	fd = ar_store_open_content(st, &d->from, &osize);
	if (fd < 0)
		return cr_error_set(err, -fd, "delta base %s is gone", h1);
	old = malloc(osize ? (size_t)osize : 1);
	if (old == NULL || read_all(fd, old, (size_t)osize) < 0) {
		close(fd);
		cr_error_set(err, EIO, "cannot read delta base %s", h1);
		goto out;
	}
	close(fd);
	for (;;) {
		struct cr_error *aerr = NULL;

		if (ar_sources_get(src, &r, (size_t)d->size, first, NULL, NULL,
				   &delta, &dlen, &from, err) < 0)
			goto out;
		came_from(p, from);
		if (ar_delta_apply(old, (size_t)osize, delta, dlen, &nw, &nlen,
				   &aerr) == 0 && nlen == e->size) {
			ar_id_of(nw, nlen, &tmp.content);
			if (ar_id_equal(&tmp.content, &e->content))
				break;
		}
		free(delta);
		free(nw);
		delta = nw = NULL;
		if (from != AR_SRC_ORIGIN) {
			cr_error_free(aerr);
			ar_sources_reject(src, from);
			first = AR_SRC_ORIGIN;
			continue;
		}
		if (aerr != NULL) {
			cr_error_set(err, aerr->code, "%s", aerr->msg);
			cr_error_free(aerr);
		} else {
			cr_error_set(err, EBADMSG, "delta %s does not give content %s",
				     r.rel, h1);
		}
		goto out;
	}
	if (ar_writer_start(st, &w, err) < 0)
		goto out;
	tmp = *e;
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

/*
 * partial/: every chunk fetched is kept there (compressed, as fetched,
 * named by its id) until the pull completes, so a pull that is killed or
 * loses its origin does not fetch it again.  A kept chunk is checked like
 * a fetched one before use; a bad one is fetched again.
 */
static int partial_open(struct ar_store *st)
{
	if (mkdirat(st->dirfd, "partial", 0755) < 0 && errno != EEXIST)
		return -1;
	return openat(st->dirfd, "partial", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static int partial_get(struct pull *p, const struct ar_chunk_ref *c,
		       int (*check)(void *, const uint8_t *, size_t), void *arg)
{
	char hex[AR_ID_HEX];
	uint8_t *z;
	struct stat sb;
	int fd, ok;

	if (p->partfd < 0)
		return -1;
	fd = openat(p->partfd, ar_id_hex(&c->id, hex), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) < 0 || sb.st_size <= 0 ||
	    (size_t)sb.st_size > ar_chunk_wire_bound(c->len) ||
	    (z = malloc((size_t)sb.st_size)) == NULL) {
		close(fd);
		return -1;
	}
	ok = read_all(fd, z, (size_t)sb.st_size) == 0 &&
	     check(arg, z, (size_t)sb.st_size) == 0;
	close(fd);
	free(z);
	if (!ok)
		unlinkat(p->partfd, hex, 0);
	return ok ? 0 : -1;
}

/* Best effort: a chunk not kept is only fetched again. */
static void partial_put(struct pull *p, const struct ar_chunk_ref *c,
			const uint8_t *z, size_t zlen)
{
	char hex[AR_ID_HEX], tmp[AR_ID_HEX + 8];
	int fd;

	if (p->partfd < 0)
		return;
	ar_id_hex(&c->id, hex);
	snprintf(tmp, sizeof(tmp), "%s.tmp", hex);
	fd = openat(p->partfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, z, zlen) != (ssize_t)zlen || renameat(p->partfd, tmp, p->partfd, hex) < 0)
		unlinkat(p->partfd, tmp, 0);
	close(fd);
}

/* Empties partial/ once the version is recorded. */
static void partial_clear(struct pull *p)
{
	if (p->partfd >= 0)
		ar_store_clear_dir(p->partfd);
}

/* A fetched chunk: decompresses into p->buf and checks the id. */
struct chunk_check {
	struct pull *p;
	const struct ar_chunk_ref *c;
};

static int check_chunk(void *arg, const uint8_t *z, size_t zlen)
{
	struct chunk_check *cc = arg;
	long got = ar_chunk_unpack(&cc->c->id, z, zlen, cc->p->buf, cc->c->len);

	return got == (long)cc->c->len ? 0 : -1;
}

static int check_id(void *arg, const uint8_t *b, size_t len)
{
	struct ar_id id;

	ar_id_of(b, len, &id);
	return ar_id_equal(&id, arg) ? 0 : -1;
}

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
			struct ar_cachereq r = { .kind = AR_OBJ_CHUNK, .id = c->id };
			struct chunk_check cc = { p, c };
			enum ar_src from;
			uint8_t *z;
			size_t zlen;

			if (partial_get(p, c, check_chunk, &cc) == 0) {
				p->resumed_chunks++;
			} else {
				if (ar_sources_get(p->src, &r, ar_chunk_wire_bound(c->len),
						   AR_SRC_PEER, check_chunk, &cc, &z,
						   &zlen, &from, err) < 0) {
					ar_writer_discard(&w);
					return cr_error_wrap(err, "%s", e->path);
				}
				came_from(p, from);
				partial_put(p, c, z, zlen);
				free(z);
				p->fetched_chunks++;
				p->fetched_plain += c->len;
			}
			ar_progress_add(p->prog, c->len);
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
static int index_by_delta(struct ar_store *st, struct ar_sources *src,
			  const struct ar_manifest *m, uint8_t **out,
			  size_t *len)
{
	for (size_t j = 0; j < m->ndeltas; j++) {
		const struct ar_delta_ref *d = &m->deltas[j];
		struct ar_cachereq r = { .kind = AR_OBJ_DELTA, .id = d->from,
					 .to = d->to, .size = d->size };
		char path[PATH_MAX], h1[AR_ID_HEX];
		char *old;
		size_t olen;
		uint8_t *delta, *nw;
		size_t dlen, nlen;
		struct ar_id got;
		enum ar_src from;
		int rc;

		if (!ar_id_equal(&d->to, &m->index))
			continue;
		ar_id_hex(&d->from, h1);
		snprintf(path, sizeof(path), "%s/indexes/%s", st->dir, h1);
		if (cr_read_file(path, AR_INDEX_MAX_BYTES, &old, &olen, NULL) < 0)
			continue;
		ar_id_of(old, olen, &got);
		if (!ar_id_equal(&got, &d->from) ||
		    ar_sources_get(src, &r, (size_t)d->size, AR_SRC_PEER, NULL,
				   NULL, &delta, &dlen, &from, NULL) < 0) {
			free(old);
			continue;
		}
		rc = ar_delta_apply((const uint8_t *)old, olen, delta, dlen, &nw, &nlen, NULL);
		free(old);
		free(delta);
		if (rc < 0) {
			ar_sources_reject(src, from);
			continue;
		}
		ar_id_of(nw, nlen, &got);
		if (!ar_id_equal(&got, &m->index)) {
			ar_sources_reject(src, from);
			free(nw);
			continue;
		}
		*out = nw;
		*len = nlen;
		return 0;
	}
	return -1;
}

/* The publisher check: with a key, the manifest must be signed by it;
 * without one, only --insecure or a pinned index (a signed release names
 * it) lets a manifest through. */
static int check_publisher(const struct ar_pull_opts *opt,
			   const struct ar_manifest *m, struct cr_error **err)
{
	enum cr_id_type type;
	uint8_t pk[CR_PKLEN];

	if (opt->publisher_key == NULL) {
		if (opt->insecure || opt->expect_index != NULL)
			return 0;
		return cr_error_set(err, EPERM,
				    "no trusted publisher key: give --publisher-key FILE.pub "
				    "(or $ARCHON_PUBLISHER_KEY), or --insecure to accept "
				    "any manifest");
	}
	if (cr_pubkey_load(opt->publisher_key, &type, pk, err) < 0)
		return -1;
	if (!m->is_signed)
		return cr_error_set(err, EPERM,
				    "manifest is not signed (the publisher key %s is required)",
				    opt->publisher_key);
	if (sodium_memcmp(pk, m->pk, CR_PKLEN) != 0)
		return cr_error_set(err, EPERM,
				    "manifest is not signed by the publisher key %s",
				    opt->publisher_key);
	return 0;
}

/* What a release pins: the index id and the config's digest. */
static int check_pins(const struct ar_pull_opts *opt,
		      const struct ar_manifest *m, struct cr_error **err)
{
	char got[AR_ID_HEX], want[AR_ID_HEX];
	struct ar_id pin, cfg;

	if (opt->expect_index != NULL) {
		memcpy(pin.b, opt->expect_index, AR_ID_LEN);
		if (!ar_id_equal(&pin, &m->index))
			return cr_error_set(err, EPERM,
					    "mix-and-match: the origin's version has index %s, "
					    "the release pins %s",
					    ar_id_hex(&m->index, got), ar_id_hex(&pin, want));
	}
	if (opt->expect_config_digest != NULL) {
		memcpy(pin.b, opt->expect_config_digest, AR_ID_LEN);
		ar_id_of(m->config != NULL ? m->config : "", m->config_len, &cfg);
		if (!ar_id_equal(&pin, &cfg))
			return cr_error_set(err, EPERM,
					    "mix-and-match: the origin's version has config %s, "
					    "the release pins %s",
					    ar_id_hex(&cfg, got), ar_id_hex(&pin, want));
	}
	return 0;
}

/* An origin may replay an older signed manifest: its signed creation time
 * must not be older than the held one's (the same time only for the same
 * index).  Publish keeps the time strictly increasing per tag.  A pinned
 * index is exactly the version asked for: the release's counter guards
 * against a rollback then. */
static int check_not_older(struct ar_store *st, const struct ar_pull_opts *opt,
			   const struct ar_manifest *m, struct cr_error **err)
{
	struct ar_manifest *held = NULL;
	int older;

	if (opt->allow_downgrade || opt->expect_index != NULL ||
	    ar_store_get_manifest(st, m->name, &held, NULL) < 0)
		return 0;
	older = m->created < held->created ||
		(m->created == held->created && !ar_id_equal(&m->index, &held->index));
	if (older)
		cr_error_set(err, EPERM,
			     "the origin's manifest for %s (created %" PRIu64
			     ") is not newer than the one held (created %" PRIu64
			     "): refusing a downgrade (--allow-downgrade to accept it)",
			     m->name, m->created, held->created);
	ar_manifest_free(held);
	return older ? -1 : 0;
}

/* What a pull fetches and writes, from the index, before it starts. */
struct plan {
	size_t nchunks, nmissing, ndelta, nobjects;
	uint64_t plain, missing_plain, delta_bytes;
	uint64_t write_bytes; /* on disk, in whole blocks */
};

static uint64_t blocks_of(uint64_t bytes, uint64_t block)
{
	return (bytes + block - 1) / block * block;
}

/* For each new content: a delta when the manifest has one from a content
 * we hold, else its missing chunks (kept in partial/ until the end, so
 * counted in what is written).  Every object missing under its mode and
 * owner is written, copies of a held content included. */
static int plan_pull(struct ar_store *st, const struct ar_manifest *m,
		     const struct ar_index *idx, uint64_t block,
		     struct plan *pl, struct cr_error **err)
{
	struct cr_map *seen = cr_map_new(AR_ID_LEN), *planned = cr_map_new(AR_ID_LEN);
	struct cr_map *objs = cr_map_new(AR_ID_LEN);
	int ret = -1;

	memset(pl, 0, sizeof(*pl));
	if (seen == NULL || planned == NULL || objs == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < idx->n; i++) {
		const struct ar_entry *e = &idx->e[i];
		struct ar_content_rec rec;
		struct ar_objkey k;
		struct ar_id kid;
		int held, delta = 0;

		if (e->type != AR_REG)
			continue;
		ar_objkey_of(e, &k);
		ar_objkey_id(&k, &kid);
		if (cr_map_get(objs, kid.b) == NULL) {
			cr_map_put(objs, kid.b, (void *)1);
			if (!ar_store_object_exists(st, e)) {
				pl->nobjects++;
				pl->write_bytes += blocks_of(e->size, block);
			}
		}
		if (cr_map_get(seen, e->content.b) != NULL)
			continue;
		cr_map_put(seen, e->content.b, (void *)1);
		held = ar_store_content_get(st, &e->content, &rec) == 0;
		for (size_t j = 0; !held && j < m->ndeltas && !delta; j++)
			if (ar_id_equal(&m->deltas[j].to, &e->content) &&
			    ar_store_content_get(st, &m->deltas[j].from, &rec) == 0) {
				delta = 1;
				pl->ndelta++;
				pl->delta_bytes += m->deltas[j].size;
			}
		for (uint32_t j = 0; j < e->nchunks; j++) {
			struct ar_chunk_loc loc;

			if (cr_map_get(planned, e->chunks[j].id.b) != NULL)
				continue;
			cr_map_put(planned, e->chunks[j].id.b, (void *)1);
			pl->nchunks++;
			pl->plain += e->chunks[j].len;
			if (!held && !delta &&
			    ar_store_chunk_get(st, &e->chunks[j].id, &loc) < 0) {
				pl->nmissing++;
				pl->missing_plain += e->chunks[j].len;
				pl->write_bytes += blocks_of(e->chunks[j].len, block);
			}
		}
	}
	ret = 0;
out:
	cr_map_free(seen);
	cr_map_free(planned);
	cr_map_free(objs);
	return ret;
}

/* Refuses (ENOSPC) when what the pull writes would leave less than
 * reserve free. */
static int check_space(const struct ar_store *st, const struct statvfs *vfs,
		       const struct plan *pl, uint64_t reserve,
		       struct cr_error **err)
{
	uint64_t avail = (uint64_t)vfs->f_bavail * vfs->f_frsize;
	char need[32], keep[32], have[32];

	if (avail >= pl->write_bytes && avail - pl->write_bytes >= reserve)
		return 0;
	ar_human(pl->write_bytes, need, sizeof(need));
	ar_human(reserve, keep, sizeof(keep));
	ar_human(avail, have, sizeof(have));
	return cr_error_set(err, ENOSPC,
			    "not enough space: the pull writes %s (%" PRIu64
			    " bytes: %zu new files and the chunks kept meanwhile) and "
			    "%s (%" PRIu64 " bytes) must stay free, but %s has %s (%" PRIu64
			    " bytes) free; nothing was written",
			    need, pl->write_bytes, pl->nobjects, keep, reserve, st->dir,
			    have, avail);
}

int ar_pull(struct ar_store *st, const char *url, const char *name,
	    const struct ar_pull_opts *opt, FILE *out, struct cr_error **err)
{
	struct ar_progress prog = { 0 };
	struct pull p = { .st = st, .partfd = -1, .prog = &prog, .out = out,
			  .phases = opt->phases };
	struct ar_manifest *m = NULL;
	struct ar_index *idx = NULL;
	struct plan pl;
	struct statvfs vfs;
	uint8_t *mbuf = NULL, *ibuf = NULL;
	size_t mlen, ilen = 0, nfiles = 0, ndelta = 0;
	uint64_t delta_bytes = 0, since_commit = 0;
	uint64_t t0 = cr_now_ms();
	char rel[AR_NAME_MAX + 16], s1[32], s2[32];
	int ret = -1;

	if (!ar_name_valid(name))
		return cr_error_set(err, EINVAL, "'%s' is not a valid name (REPO:TAG)", name);
	if (opt->peers && opt->ring_path == NULL)
		return cr_error_set(err, EINVAL, "pull --peers needs a ring (--ring)");
	if (opt->publisher_key == NULL && !opt->insecure && opt->expect_index == NULL)
		return check_publisher(opt, NULL, err);
	if (ar_sources_open(url, opt->ring_path, &p.src, err) < 0)
		return cr_error_wrap(err, "pull %s from %s", name, url);
	p.buf = malloc(AR_CHUNK_MAX_LIMIT);
	if (p.buf == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	snprintf(rel, sizeof(rel), "refs/%s", name);
	*strrchr(rel, ':') = '/';
	if (ar_sources_origin_get(p.src, rel, AR_MANIFEST_MAX_BYTES, &mbuf, &mlen, err) < 0 ||
	    ar_manifest_decode(mbuf, mlen, &m, err) < 0 ||
	    check_publisher(opt, m, err) < 0)
		goto out;
	if (strcmp(m->name, name) != 0) {
		cr_error_set(err, EBADMSG, "the origin's manifest names %s, not %s",
			     m->name, name);
		goto out;
	}
	if (check_pins(opt, m, err) < 0 || check_not_older(st, opt, m, err) < 0)
		goto out;
	if (opt->peers) {
		size_t announced;
		int n;

		if (opt->credential != NULL)
			ar_sources_set_credential(p.src, opt->credential);
		n = ar_sources_find_peers(p.src, &m->index,
					      opt->carrier != NULL ? opt->carrier : "carrier",
					      opt->key, 3, 10000, &announced);

		if (!p.phases)
			say(&p, "%zu peers hold this version, %d reachable\n", announced, n);
	}
	say(&p, "receiving archon index .. ");
	/* The index stays in memory until the space is checked: a refused
	 * pull writes nothing. */
	if (ar_store_get_index(st, &m->index, &idx, NULL) < 0) {
		struct ar_cachereq r = { .kind = AR_OBJ_INDEX, .id = m->index,
					 .size = m->index_size };
		struct ar_id got = m->index;
		enum ar_src from;

		if (index_by_delta(st, p.src, m, &ibuf, &ilen) < 0 &&
		    ar_sources_get(p.src, &r, (size_t)m->index_size, AR_SRC_PEER,
				   check_id, &got, &ibuf, &ilen, &from, err) < 0)
			goto fail_line;
		if (ar_index_decode(ibuf, ilen, &idx, err) < 0)
			goto fail_line;
	}
	say(&p, "complete\n");
	if (statvfs(st->dir, &vfs) < 0) {
		cr_error_errno(err, errno, "statvfs %s", st->dir);
		goto out;
	}
	if (vfs.f_frsize == 0)
		vfs.f_frsize = 4096;
	if (plan_pull(st, m, idx, vfs.f_frsize, &pl, err) < 0)
		goto out;
	if (ibuf != NULL)
		pl.write_bytes += blocks_of(ilen, vfs.f_frsize);
	if (check_space(st, &vfs, &pl, opt->reserve_bytes, err) < 0)
		goto out;
	if (ibuf != NULL) {
		struct ar_id got;

		if (ar_store_put_index(st, ibuf, ilen, &got, err) < 0)
			goto out;
	}
	/* Chunk sizes here are before compression (what the version holds);
	 * what crosses the network is counted in the last lines. */
	ar_human(pl.plain, s1, sizeof(s1));
	ar_human(pl.missing_plain, s2, sizeof(s2));
	if (p.phases)
		say(&p, "%zu shards with %s (downloading %zu new shards with %s)\n",
		    pl.nchunks, s1, pl.nmissing, s2);
	else
		say(&p, "%zu chunks holding %s (%zu not held, holding %s)\n",
		    pl.nchunks, s1, pl.nmissing, s2);
	if (pl.ndelta > 0) {
		ar_human(pl.delta_bytes, s1, sizeof(s1));
		say(&p, "%zu changed files by delta (downloading %s)\n", pl.ndelta, s1);
	}
	p.partfd = partial_open(st);
	ar_progress_start(&prog, opt->progress, "pull: fetching",
			  pl.missing_plain + pl.delta_bytes);

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

			if (by_delta(&p, d, e, &derr) == 0) {
				ar_progress_add(&prog, d->size);
				ndelta++;
				delta_bytes += d->size;
				since_commit += e->size;
				continue;
			}
			/* A missing or bad delta costs chunks, not the pull. */
			say(&p, "delta for %s unusable (%s); fetching chunks\n", e->path,
			    cr_error_msg(derr));
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
	ar_progress_end(&prog);
	partial_clear(&p);
	if (p.phases) {
		char h1[AR_ID_HEX], h2[AR_ID_HEX];
		struct ar_id vid;

		ar_id_of(mbuf, mlen, &vid);
		say(&p, " %s\n %s\n", ar_id_hex(&m->index, h1), ar_id_hex(&vid, h2));
		ret = 0;
		goto out;
	}
	ar_human(delta_bytes, s1, sizeof(s1));
	say(&p, "%zu files rebuilt: %zu from deltas (%s), %zu from chunks "
		"(%" PRIu64 " chunks fetched",
	    nfiles, ndelta, s1, nfiles - ndelta, p.fetched_chunks);
	if (p.resumed_chunks > 0)
		say(&p, ", %" PRIu64 " kept from an interrupted pull", p.resumed_chunks);
	say(&p, ")\n");
	say(&p, "sources: %" PRIu64 " bytes from peers, %" PRIu64
		" bytes from the ring cache, %" PRIu64 " bytes from the origin",
	    ar_sources_bytes(p.src, AR_SRC_PEER), ar_sources_bytes(p.src, AR_SRC_RING),
	    ar_sources_bytes(p.src, AR_SRC_ORIGIN));
	if (ar_sources_rejected(p.src) > 0)
		say(&p, " (%" PRIu64 " bad copies refused)", ar_sources_rejected(p.src));
	say(&p, "\npulled %s: %" PRIu64 " bytes in %" PRIu64 " requests, %" PRIu64 " ms\n",
	    name, ar_sources_bytes(p.src, AR_SRC_PEER) +
			  ar_sources_bytes(p.src, AR_SRC_RING) +
			  ar_sources_bytes(p.src, AR_SRC_ORIGIN),
	    ar_sources_requests(p.src), cr_now_ms() - t0);
	ret = 0;
	goto out;
fail_line:
	say(&p, "failed\n");
out:
	if (ret < 0 && prog.on && prog.tty)
		fputc('\n', stderr);
	if (p.partfd >= 0)
		close(p.partfd);
	ar_store_abort(st);
	ar_index_free(idx);
	ar_manifest_free(m);
	free(mbuf);
	free(ibuf);
	free(p.buf);
	ar_sources_free(p.src);
	return ret < 0 ? cr_error_wrap(err, "pull %s from %s", name, url) : 0;
}
