/*
 * Fuzzes the TCP fallback's stream deframer (cr/tcpframe.h): any byte
 * stream, fed in two pieces, yields whole datagrams of 1 to CR_TCPF_MAX
 * bytes that re-frame to exactly the bytes consumed, or stops with an
 * error at a bad length.
 */
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "cr/tcpframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer *in = evbuffer_new(), *again = evbuffer_new();
	uint8_t buf[CR_TCPF_MAX];
	size_t len, half = size / 2, consumed = 0;
	int r = 0;

	if (in == NULL || again == NULL)
		abort();
	evbuffer_add(in, data, half);
	for (int piece = 0; piece < 2; piece++) {
		while ((r = cr_tcpf_pull(in, buf, &len)) == 1) {
			if (len == 0 || len > CR_TCPF_MAX)
				abort();
			if (cr_tcpf_put(again, buf, len) < 0)
				abort();
			consumed += CR_TCPF_HDR + len;
		}
		if (r < 0)
			break;
		if (piece == 0)
			evbuffer_add(in, data + half, size - half);
	}
	if (evbuffer_get_length(again) != consumed ||
	    (consumed > 0 &&
	     memcmp(evbuffer_pullup(again, -1), data, consumed) != 0))
		abort();
	evbuffer_free(in);
	evbuffer_free(again);
	return 0;
}
