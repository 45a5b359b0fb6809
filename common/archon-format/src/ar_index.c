/*
 * Archon index: building, encoding and the bounded parser (ar/index.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ar/index.h"
#include "ar/wire.h"

static const uint8_t index_magic[8] = { 'A', 'R', 'C', 'H', 'I', 'D', 'X', 0 };

/* Smallest encoded entry: type, path length and one byte, mode, uid, gid,
 * mtime.  Bounds the entry count before anything is allocated. */
enum { ENTRY_MIN_BYTES = 1 + 2 + 1 + 4 + 4 + 4 + 8, CHUNK_REF_BYTES = 36 };

int ar_path_valid(const char *s, size_t n)
{
	size_t start = 0;

	if (n == 0 || n > AR_PATH_MAX || s[0] == '/' || s[n - 1] == '/')
		return 0;
	if (memchr(s, '\0', n) != NULL)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '/')
			continue;
		size_t clen = i - start;

		if (clen == 0 || (clen == 1 && s[start] == '.') ||
		    (clen == 2 && s[start] == '.' && s[start + 1] == '.'))
			return 0;
		start = i + 1;
	}
	return 1;
}

struct ar_index *ar_index_new(uint32_t chunk_min, uint32_t chunk_avg,
			      uint32_t chunk_max)
{
	struct ar_index *idx = calloc(1, sizeof(*idx));

	if (idx == NULL)
		return NULL;
	idx->chunk_min = chunk_min;
	idx->chunk_avg = chunk_avg;
	idx->chunk_max = chunk_max;
	return idx;
}

static void entry_clear(struct ar_entry *e)
{
	free(e->path);
	free(e->target);
	free(e->chunks);
}

struct ar_index *ar_index_free(struct ar_index *idx)
{
	if (idx == NULL)
		return NULL;
	for (size_t i = 0; i < idx->n; i++)
		entry_clear(&idx->e[i]);
	free(idx->e);
	free(idx);
	return NULL;
}

static int index_grow(struct ar_index *idx, size_t want,
		      struct cr_error **err)
{
	struct ar_entry *ne;
	size_t cap;

	if (want <= idx->cap)
		return 0;
	if (want > AR_INDEX_MAX_ENTRIES)
		return cr_error_set(err, E2BIG, "index: more than %d entries",
				    AR_INDEX_MAX_ENTRIES);
	cap = idx->cap ? idx->cap : 64;
	while (cap < want)
		cap *= 2;
	ne = realloc(idx->e, cap * sizeof(*ne));
	if (ne == NULL)
		return cr_error_set(err, ENOMEM, "index: out of memory");
	idx->e = ne;
	idx->cap = cap;
	return 0;
}

int ar_index_add(struct ar_index *idx, const struct ar_entry *e,
		 struct cr_error **err)
{
	struct ar_entry copy = *e;

	if (!ar_path_valid(e->path, strlen(e->path)))
		return cr_error_set(err, EINVAL, "index: invalid path '%s'",
				    e->path);
	if (index_grow(idx, idx->n + 1, err) < 0)
		return -1;
	copy.path = strdup(e->path);
	copy.target = e->target ? strdup(e->target) : NULL;
	copy.chunks = NULL;
	if (e->nchunks > 0) {
		copy.chunks = malloc(e->nchunks * sizeof(*copy.chunks));
		if (copy.chunks != NULL)
			memcpy(copy.chunks, e->chunks,
			       e->nchunks * sizeof(*copy.chunks));
	}
	if (copy.path == NULL || (e->target && copy.target == NULL) ||
	    (e->nchunks > 0 && copy.chunks == NULL)) {
		entry_clear(&copy);
		return cr_error_set(err, ENOMEM, "index: out of memory");
	}
	idx->e[idx->n++] = copy;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ar_entry *)a)->path,
		      ((const struct ar_entry *)b)->path);
}

int ar_index_sort(struct ar_index *idx, struct cr_error **err)
{
	if (idx->n > 1)
		qsort(idx->e, idx->n, sizeof(*idx->e), entry_cmp);
	for (size_t i = 1; i < idx->n; i++)
		if (strcmp(idx->e[i - 1].path, idx->e[i].path) == 0)
			return cr_error_set(err, EINVAL,
					    "index: path '%s' twice",
					    idx->e[i].path);
	return 0;
}

const struct ar_entry *ar_index_find(const struct ar_index *idx,
				     const char *path)
{
	size_t lo = 0, hi = idx->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(path, idx->e[mid].path);

		if (c == 0)
			return &idx->e[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int ar_index_encode(struct ar_index *idx, uint8_t **out, size_t *len,
		    struct cr_error **err)
{
	struct ar_wbuf w = { 0 };

	if (ar_index_sort(idx, err) < 0)
		return -1;
	ar_w_bytes(&w, index_magic, sizeof(index_magic));
	ar_w_u32(&w, AR_INDEX_VERSION);
	ar_w_u32(&w, idx->chunk_min);
	ar_w_u32(&w, idx->chunk_avg);
	ar_w_u32(&w, idx->chunk_max);
	ar_w_u32(&w, (uint32_t)idx->n);
	for (size_t i = 0; i < idx->n; i++) {
		const struct ar_entry *e = &idx->e[i];
		size_t plen = strlen(e->path);

		ar_w_u8(&w, (uint8_t)e->type);
		ar_w_u16(&w, (uint16_t)plen);
		ar_w_bytes(&w, e->path, plen);
		ar_w_u32(&w, e->mode & 07777);
		ar_w_u32(&w, e->uid);
		ar_w_u32(&w, e->gid);
		ar_w_u64(&w, (uint64_t)e->mtime);
		switch (e->type) {
		case AR_REG:
			ar_w_u64(&w, e->size);
			ar_w_bytes(&w, e->content.b, AR_ID_LEN);
			ar_w_u32(&w, e->nchunks);
			for (uint32_t k = 0; k < e->nchunks; k++) {
				ar_w_bytes(&w, e->chunks[k].id.b, AR_ID_LEN);
				ar_w_u32(&w, e->chunks[k].len);
			}
			break;
		case AR_SYMLINK: {
			size_t tlen = e->target ? strlen(e->target) : 0;

			ar_w_u16(&w, (uint16_t)tlen);
			ar_w_bytes(&w, e->target, tlen);
			break;
		}
		case AR_CHR:
		case AR_BLK:
			ar_w_u64(&w, e->rdev);
			break;
		default:
			break;
		}
	}
	if (w.failed) {
		free(w.p);
		return cr_error_set(err, ENOMEM, "index: out of memory");
	}
	*out = w.p;
	*len = w.len;
	return 0;
}

/* Copies n bytes into a new NUL-terminated string. */
static char *dup_n(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s != NULL) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

static int decode_entry(struct ar_rbuf *r, const struct ar_index *idx,
			struct ar_entry *e, struct cr_error **err)
{
	uint16_t plen;
	const uint8_t *p;

	e->type = (enum ar_entry_type)ar_r_u8(r);
	plen = ar_r_u16(r);
	p = ar_r_bytes(r, plen);
	if (p == NULL)
		return cr_error_set(err, EBADMSG, "index: truncated entry");
	if (!ar_path_valid((const char *)p, plen))
		return cr_error_set(err, EBADMSG, "index: invalid path");
	e->path = dup_n(p, plen);
	if (e->path == NULL)
		return cr_error_set(err, ENOMEM, "index: out of memory");
	e->mode = ar_r_u32(r);
	e->uid = ar_r_u32(r);
	e->gid = ar_r_u32(r);
	e->mtime = (int64_t)ar_r_u64(r);
	if (e->mode & ~07777U)
		return cr_error_set(err, EBADMSG, "index: '%s': bad mode",
				    e->path);
	switch (e->type) {
	case AR_REG: {
		uint64_t sum = 0;

		e->size = ar_r_u64(r);
		p = ar_r_bytes(r, AR_ID_LEN);
		if (p != NULL)
			memcpy(e->content.b, p, AR_ID_LEN);
		e->nchunks = ar_r_u32(r);
		if (r->short_read)
			break;
		if (e->nchunks > (r->len - r->pos) / CHUNK_REF_BYTES)
			return cr_error_set(err, EBADMSG,
					    "index: '%s': chunk count past the end",
					    e->path);
		if (e->nchunks > 0) {
			e->chunks = malloc(e->nchunks * sizeof(*e->chunks));
			if (e->chunks == NULL)
				return cr_error_set(err, ENOMEM,
						    "index: out of memory");
		}
		for (uint32_t k = 0; k < e->nchunks; k++) {
			p = ar_r_bytes(r, AR_ID_LEN);
			if (p == NULL)
				break;
			memcpy(e->chunks[k].id.b, p, AR_ID_LEN);
			e->chunks[k].len = ar_r_u32(r);
			if (e->chunks[k].len == 0 ||
			    e->chunks[k].len > idx->chunk_max)
				return cr_error_set(err, EBADMSG,
						    "index: '%s': bad chunk length",
						    e->path);
			sum += e->chunks[k].len;
		}
		if (!r->short_read && sum != e->size)
			return cr_error_set(err, EBADMSG,
					    "index: '%s': chunks do not add up to its size",
					    e->path);
		break;
	}
	case AR_SYMLINK: {
		uint16_t tlen = ar_r_u16(r);

		p = ar_r_bytes(r, tlen);
		if (p == NULL)
			break;
		if (tlen == 0 || tlen > AR_PATH_MAX ||
		    memchr(p, '\0', tlen) != NULL)
			return cr_error_set(err, EBADMSG,
					    "index: '%s': bad symlink target",
					    e->path);
		e->target = dup_n(p, tlen);
		if (e->target == NULL)
			return cr_error_set(err, ENOMEM, "index: out of memory");
		break;
	}
	case AR_CHR:
	case AR_BLK:
		e->rdev = ar_r_u64(r);
		break;
	case AR_DIR:
	case AR_FIFO:
		break;
	default:
		return cr_error_set(err, EBADMSG, "index: '%s': unknown type %d",
				    e->path, (int)e->type);
	}
	if (r->short_read)
		return cr_error_set(err, EBADMSG, "index: truncated entry");
	return 0;
}

int ar_index_decode(const uint8_t *buf, size_t len, struct ar_index **out,
		    struct cr_error **err)
{
	struct ar_rbuf r = { .p = buf, .len = len };
	struct ar_index *idx;
	const uint8_t *magic;
	uint32_t version, count;
	struct ar_chunker probe;

	if (len > AR_INDEX_MAX_BYTES)
		return cr_error_set(err, EFBIG, "index: %zu bytes is too large",
				    len);
	magic = ar_r_bytes(&r, sizeof(index_magic));
	if (magic == NULL || memcmp(magic, index_magic, sizeof(index_magic)))
		return cr_error_set(err, EBADMSG, "index: bad magic");
	version = ar_r_u32(&r);
	if (version != AR_INDEX_VERSION)
		return cr_error_set(err, EBADMSG,
				    "index: version %u, this build reads %d",
				    version, AR_INDEX_VERSION);
	idx = ar_index_new(0, 0, 0);
	if (idx == NULL)
		return cr_error_set(err, ENOMEM, "index: out of memory");
	idx->chunk_min = ar_r_u32(&r);
	idx->chunk_avg = ar_r_u32(&r);
	idx->chunk_max = ar_r_u32(&r);
	count = ar_r_u32(&r);
	if (r.short_read) {
		ar_index_free(idx);
		return cr_error_set(err, EBADMSG, "index: truncated header");
	}
	if (ar_chunker_init(&probe, idx->chunk_min, idx->chunk_avg,
			    idx->chunk_max) < 0) {
		ar_index_free(idx);
		return cr_error_set(err, EBADMSG, "index: bad chunk sizes");
	}
	if (count > (len - r.pos) / ENTRY_MIN_BYTES) {
		ar_index_free(idx);
		return cr_error_set(err, EBADMSG,
				    "index: entry count past the end");
	}
	if (index_grow(idx, count, err) < 0) {
		ar_index_free(idx);
		return -1;
	}
	for (uint32_t i = 0; i < count; i++) {
		struct ar_entry *e = &idx->e[idx->n];

		memset(e, 0, sizeof(*e));
		idx->n++;
		if (decode_entry(&r, idx, e, err) < 0) {
			ar_index_free(idx);
			return cr_error_wrap(err, "entry %u", i);
		}
		/* Canonical order: strictly increasing paths. */
		if (i > 0 && strcmp(idx->e[i - 1].path, e->path) >= 0) {
			ar_index_free(idx);
			return cr_error_set(err, EBADMSG,
					    "index: entries out of order at %u", i);
		}
	}
	if (r.pos != len) {
		ar_index_free(idx);
		return cr_error_set(err, EBADMSG,
				    "index: %zu bytes of trailing data",
				    len - r.pos);
	}
	*out = idx;
	return 0;
}
