/*
 * Fuzzes archon's HTTP/1.1 response parser (device-agent/archon/src/
 * origin.c: reply_parse), what an origin or anyone on the path of a plain
 * http:// pull sends.  The first input byte is the body bound's exponent
 * and the size of the pieces the rest arrives in (a response split across
 * reads); the connection then ends.  A response taken whole must keep
 * within the bound, carry its Content-Length's bytes exactly, and leave
 * the parser done.
 */
#include <stdlib.h>
#include <string.h>

#define AR_WITH_HTTP 1
#include "../../device-agent/archon/src/origin.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ar_origin o;
	struct reply r;
	struct evbuffer *in;
	size_t piece, at;

	if (size < 1)
		return 0;
	memset(&o, 0, sizeof(o));
	memset(&r, 0, sizeof(r));
	o.evb = event_base_new();
	in = evbuffer_new();
	r.body = evbuffer_new();
	if (o.evb == NULL || in == NULL || r.body == NULL)
		abort();
	r.evb = o.evb;
	r.max = (size_t)1 << (data[0] & 15);
	r.length = -1;
	o.cur = &r;
	piece = 1 + (data[0] >> 4) * 7;
	for (at = 1; at < size && !r.done; at += piece) {
		size_t n = size - at < piece ? size - at : piece;

		evbuffer_add(in, data + at, n);
		reply_parse(&o, &r, in);
	}
	if (!r.done)
		reply_eof(&o, &r, BEV_EVENT_EOF);
	if (!r.done)
		abort();
	if (r.fail == FAIL_NONE && r.status == 200) {
		size_t got = evbuffer_get_length(r.body);

		if (got > r.max || (r.length >= 0 && got != (size_t)r.length))
			abort();
	}
	evbuffer_free(r.body);
	evbuffer_free(in);
	event_base_free(o.evb);
	return 0;
}
