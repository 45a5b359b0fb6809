/*
 * Fuzzes the STUN codec (cr/stun.h) as a node and a client meet it: any
 * datagram may be a Binding request (parsed; a parsed one must give a
 * response that parses back to the same address) or a response to a fixed
 * transaction id.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cr/stun.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (sodium_init() < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cr_stun_req req;
	struct cr_addr from, got;
	uint8_t out[CR_STUN_MAX], txid[CR_STUN_TXID];
	const char *why = NULL;
	size_t n;

	if (cr_stun_parse_request(data, size, &req, &why) == 0) {
		if (cr_addr_parse("198.18.0.1:3478", &from, NULL) < 0)
			abort();
		n = cr_stun_binding_response(&req, &from, out, sizeof(out));
		if (n == 0 ||
		    cr_stun_parse_response(out, n, req.txid, &got, &why) < 0 ||
		    !cr_addr_equal(&got, &from))
			abort();
	} else if (why == NULL) {
		abort();
	}
	if (size >= 20) {
		/* The input's own id, so the walk past the header runs. */
		memcpy(txid, data + 4, CR_STUN_TXID);
		why = NULL;
		if (cr_stun_parse_response(data, size, txid, &got, &why) < 0 &&
		    why == NULL)
			abort();
	}
	return 0;
}
