/*
 * Fuzzes what the punch module (cr/punch.h) takes from the network: the
 * CANDIDATES message of a peer (binary) and the candidate strings of a
 * connect offer (numeric HOST:PORT only).  The first input byte picks the
 * parser.  Parsed candidates must be real addresses with a port, never a
 * relayed one, and never more than CR_PUNCH_CANDS.
 */
#include <stdlib.h>
#include <string.h>

#include "../../common/carrier/hop/src/punch.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cr_punch p;
	char s[128];

	if (size < 1)
		return 0;
	memset(&p, 0, sizeof(p));
	if (data[0] & 1) {
		size_t n = size - 1 < sizeof(s) - 1 ? size - 1 : sizeof(s) - 1;
		struct cr_addr a;

		memcpy(s, data + 1, n);
		s[n] = '\0';
		if (cr_punch_parse(s, &a) == 0 && a.u.sa.sa_family != AF_INET &&
		    a.u.sa.sa_family != AF_INET6)
			abort();
		return 0;
	}
	punch_parse_candidates(&p, data, size);
	if (p.n_cands > CR_PUNCH_CANDS)
		abort();
	for (size_t i = 0; i < p.n_cands; i++)
		if (p.cands[i].route != 0 ||
		    (p.cands[i].u.sa.sa_family != AF_INET &&
		     p.cands[i].u.sa.sa_family != AF_INET6))
			abort();
	return 0;
}
