/*
 * Fuzzes the frames of a `carrier shell` stream (da/shell.h), which the
 * agent's shell helper reads from any vendor allowed the shell:
 * da_shell_frame_parse walked over the input as the helper walks its
 * buffer.  A parsed frame lies inside the input, is at most
 * DA_SHELL_FRAME_MAX bytes, and every step consumes bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "da/shell.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		const uint8_t *pl;
		size_t plen, used;
		uint8_t type;
		int k = da_shell_frame_parse(data + off, size - off, &type, &pl,
					     &plen, &used);

		if (k <= 0)
			break;
		if (used != plen + 5 || used > size - off ||
		    plen > DA_SHELL_FRAME_MAX || pl != data + off + 5 ||
		    type != data[off])
			abort();
		off += used;
	}
	return 0;
}
