/*
 * Replay driver for the fuzz harnesses, linked into each one in ordinary
 * (non-libFuzzer) builds so that ctest exercises the harness on every run
 * (the casync fuzz-main.c pattern).
 *
 *     fuzz_NAME [-n ITERATIONS] [-s SEED] PATH...
 *
 * Every PATH that is a file is run once; every PATH that is a folder has each
 * regular file in it run once (not recursively; hidden files are skipped).
 * Then ITERATIONS further inputs (default 4000, or $CR_FUZZ_REPLAY_ITERS)
 * are made by a seeded pseudo-random generator: mutations of the corpus
 * inputs (bit flips, byte changes, insertions, deletions, truncations,
 * splices, repeated chunks) and, one time in eight, fresh random bytes.  The
 * sequence depends only on the seed and the corpus, so a failure reproduces.
 *
 * Each input is copied into a buffer of exactly its size, so AddressSanitizer
 * builds catch reads past the end.  A crash or abort fails the test; before
 * each generated input the driver records it in $CR_FUZZ_LAST (if set) so a
 * crashing one can be kept.  Exit status: 0 after all inputs ran, 1 when an
 * argument could not be read, 2 on a usage error.
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum {
	FUZZ_DEFAULT_ITERS = 4000,
	FUZZ_MAX_INPUT = 64 * 1024, /* generated inputs stay below this */
	FUZZ_MAX_FILE = 16 * 1024 * 1024,
};

struct input {
	uint8_t *data;
	size_t size;
};

struct corpus {
	struct input *v;
	size_t n, cap;
};

/* Harnesses may define LLVMFuzzerInitialize(); weak makes it optional. */
#pragma weak LLVMFuzzerInitialize

static uint64_t rng_state;

/* splitmix64: small, fast and the same everywhere. */
static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t rng_below(size_t n)
{
	return n == 0 ? 0 : (size_t)(rng() % n);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);

	if (p == NULL) {
		fprintf(stderr, "fuzz_main: out of memory\n");
		exit(1);
	}
	return p;
}

/* Runs the harness on an exact-size heap copy of data. */
static void run_one(const uint8_t *data, size_t size)
{
	uint8_t *copy = xmalloc(size);

	if (size > 0)
		memcpy(copy, data, size);
	LLVMFuzzerTestOneInput(copy, size);
	free(copy);
}

static void save_last(const uint8_t *data, size_t size)
{
	const char *path = getenv("CR_FUZZ_LAST");
	FILE *f;

	if (path == NULL || *path == '\0')
		return;
	f = fopen(path, "wb");
	if (f == NULL)
		return;
	if (size > 0)
		fwrite(data, 1, size, f);
	fclose(f);
}

static void corpus_add(struct corpus *c, uint8_t *data, size_t size)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
		if (c->v == NULL) {
			fprintf(stderr, "fuzz_main: out of memory\n");
			exit(1);
		}
	}
	c->v[c->n].data = data;
	c->v[c->n].size = size;
	c->n++;
}

static int read_file(const char *path, struct corpus *c)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n = 0, cap = 4096;

	if (f == NULL) {
		fprintf(stderr, "fuzz_main: %s: %s\n", path, strerror(errno));
		return -1;
	}
	buf = xmalloc(cap);
	for (;;) {
		size_t got;

		if (n == cap) {
			if (cap >= FUZZ_MAX_FILE) {
				fprintf(stderr, "fuzz_main: %s: too big\n", path);
				free(buf);
				fclose(f);
				return -1;
			}
			cap *= 2;
			buf = realloc(buf, cap);
			if (buf == NULL) {
				fprintf(stderr, "fuzz_main: out of memory\n");
				exit(1);
			}
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "fuzz_main: %s: read error\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	corpus_add(c, buf, n);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads the regular files of a folder in name order, so the generated
 * sequence does not depend on readdir's order. */
static int read_dir(const char *path, struct corpus *c)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (d == NULL) {
		fprintf(stderr, "fuzz_main: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			names = realloc(names, cap * sizeof(*names));
			if (names == NULL) {
				fprintf(stderr, "fuzz_main: out of memory\n");
				exit(1);
			}
		}
		names[n] = xmalloc(strlen(path) + strlen(e->d_name) + 2);
		snprintf(names[n], strlen(path) + strlen(e->d_name) + 2, "%s/%s",
			 path, e->d_name);
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode) &&
		    read_file(names[i], c) < 0)
			rc = -1;
		free(names[i]);
	}
	free(names);
	return rc;
}

/* Builds one mutated input into buf (FUZZ_MAX_INPUT bytes); returns its
 * size. */
static size_t mutate(const struct corpus *c, uint8_t *buf)
{
	size_t size, rounds;

	if (c->n == 0 || rng_below(8) == 0) {
		size = rng_below(rng_below(4) == 0 ? 4096 : 128);
		for (size_t i = 0; i < size; i++)
			buf[i] = (uint8_t)rng();
		return size;
	}
	const struct input *in = &c->v[rng_below(c->n)];

	size = in->size < FUZZ_MAX_INPUT ? in->size : FUZZ_MAX_INPUT;
	if (size > 0)
		memcpy(buf, in->data, size);
	rounds = 1 + rng_below(4);
	for (size_t r = 0; r < rounds; r++) {
		switch (rng_below(8)) {
		case 0: /* flip one bit */
			if (size > 0)
				buf[rng_below(size)] ^= (uint8_t)(1u << rng_below(8));
			break;
		case 1: /* set a byte to an interesting value */
			if (size > 0) {
				static const uint8_t special[] = {
					0x00, 0x01, 0x7f, 0x80, 0xff, ' ',
					'\n', '_', '=', '/', '+', 'a', 'Z', '9'
				};
				buf[rng_below(size)] =
					special[rng_below(sizeof(special))];
			}
			break;
		case 2: /* random byte */
			if (size > 0)
				buf[rng_below(size)] = (uint8_t)rng();
			break;
		case 3: /* insert a random byte */
			if (size < FUZZ_MAX_INPUT) {
				size_t at = rng_below(size + 1);

				memmove(buf + at + 1, buf + at, size - at);
				buf[at] = (uint8_t)rng();
				size++;
			}
			break;
		case 4: /* delete a range */
			if (size > 0) {
				size_t at = rng_below(size);
				size_t len = 1 + rng_below(size - at);

				memmove(buf + at, buf + at + len, size - at - len);
				size -= len;
			}
			break;
		case 5: /* truncate */
			size = rng_below(size + 1);
			break;
		case 6: { /* splice the tail of another input */
			const struct input *o = &c->v[rng_below(c->n)];
			size_t at = rng_below(size + 1);
			size_t from = rng_below(o->size + 1);
			size_t len = o->size - from;

			if (at + len > FUZZ_MAX_INPUT)
				len = FUZZ_MAX_INPUT - at;
			if (len > 0)
				memcpy(buf + at, o->data + from, len);
			size = at + len;
			break;
		}
		default: { /* repeat a chunk */
			if (size == 0)
				break;
			size_t from = rng_below(size);
			size_t len = 1 + rng_below(size - from);
			size_t times = 1 + rng_below(16);

			for (size_t t = 0; t < times; t++) {
				if (size + len > FUZZ_MAX_INPUT)
					break;
				memmove(buf + from + len, buf + from, size - from);
				size += len;
			}
			break;
		}
		}
	}
	return size;
}

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-n ITERATIONS] [-s SEED] PATH...\n", argv0);
}

int main(int argc, char **argv)
{
	struct corpus c = { 0 };
	const char *env = getenv("CR_FUZZ_REPLAY_ITERS");
	unsigned long iters = env != NULL ? strtoul(env, NULL, 10)
					  : FUZZ_DEFAULT_ITERS;
	unsigned long long seed = 0x6b6f7268616cULL; /* "korhal" */
	uint8_t *buf;
	int i, bad = 0;

	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		struct stat st;

		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			iters = strtoul(argv[++i], NULL, 10);
			continue;
		}
		if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
			seed = strtoull(argv[++i], NULL, 0);
			continue;
		}
		if (argv[i][0] == '-') {
			usage(argv[0]);
			return 2;
		}
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "fuzz_main: %s: %s\n", argv[i],
				strerror(errno));
			bad = 1;
		} else if (S_ISDIR(st.st_mode)) {
			bad |= read_dir(argv[i], &c) < 0;
		} else {
			bad |= read_file(argv[i], &c) < 0;
		}
	}

	for (size_t k = 0; k < c.n; k++)
		run_one(c.v[k].data, c.v[k].size);
	printf("%s: replayed %zu corpus inputs\n", argv[0], c.n);

	rng_state = seed;
	buf = xmalloc(FUZZ_MAX_INPUT);
	for (unsigned long k = 0; k < iters; k++) {
		size_t size = mutate(&c, buf);

		save_last(buf, size);
		run_one(buf, size);
	}
	printf("%s: ran %lu generated inputs (seed %#llx)\n", argv[0], iters,
	       seed);
	free(buf);
	for (size_t k = 0; k < c.n; k++)
		free(c.v[k].data);
	free(c.v);
	return bad ? 1 : 0;
}
