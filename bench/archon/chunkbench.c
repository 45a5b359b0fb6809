/*
 * ar_chunkbench FILE...: the speed of Archon's chunker on one core, alone
 * and with BLAKE2b-256 chunk ids, over the files given (read into memory
 * first, so the disk is not measured).  Times are this thread's CPU time,
 * so a busy machine slows the figures less than wall time would; prints
 * MB/s and chunk statistics.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ar/chunk.h"
#include "cr/util.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	size_t total = 0, cap = 0, nchunks = 0;
	uint8_t *all = NULL;
	struct ar_chunker c;
	double t0, t_chunk, t_hash;
	int rounds = 3;

	if (argc < 2 || sodium_init() < 0) {
		fprintf(stderr, "usage: ar_chunkbench FILE...\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		char *buf;
		size_t len;

		if (cr_read_file(argv[i], 1UL << 30, &buf, &len, NULL) < 0)
			continue;
		if (total + len > cap) {
			cap = (total + len) * 2;
			all = realloc(all, cap);
			if (all == NULL)
				return 1;
		}
		memcpy(all + total, buf, len);
		total += len;
		free(buf);
	}
	if (total == 0) {
		fprintf(stderr, "ar_chunkbench: nothing read\n");
		return 1;
	}
	ar_chunker_init(&c, AR_CHUNK_MIN_DEFAULT, AR_CHUNK_AVG_DEFAULT,
			AR_CHUNK_MAX_DEFAULT);
	t0 = now();
	for (int r = 0; r < rounds; r++) {
		size_t pos = 0;

		nchunks = 0;
		ar_chunker_reset(&c);
		while (pos < total) {
			size_t k = ar_chunker_scan(&c, all + pos, total - pos);

			nchunks++;
			if (k == AR_CHUNKER_MORE)
				break;
			pos += k;
		}
	}
	t_chunk = (now() - t0) / rounds;
	t0 = now();
	{
		size_t pos = 0;
		struct ar_id id;

		ar_chunker_reset(&c);
		while (pos < total) {
			size_t k = ar_chunker_scan(&c, all + pos, total - pos);

			if (k == AR_CHUNKER_MORE)
				k = total - pos;
			ar_id_of(all + pos, k, &id);
			pos += k;
		}
	}
	t_hash = now() - t0;
	printf("bytes %zu chunks %zu avg %zu chunk_MBps %.0f chunk_hash_MBps %.0f\n",
	       total, nchunks, total / nchunks, (double)total / t_chunk / 1e6,
	       (double)total / t_hash / 1e6);
	free(all);
	return 0;
}
