/*
 * Fuzzes what the agent's control socket (da/control.h) and its journal
 * read: a request line (da_control_parse, bytes from any local client of
 * the socket) and an app record (da_app_rec_decode, the journal's JSON).
 * The first input byte picks the parser.  A parsed request is one of the
 * three commands with a window of at most a day; a decoded record keeps its
 * strings NUL-terminated inside their fields and its kept list bounded.
 */
#include <stdlib.h>
#include <string.h>

#include "da/control.h"
#include "da/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cr_error *err = NULL;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		struct da_control_req q;

		if (da_control_parse((const char *)data + 1, size - 1, &q, &err) == 0) {
			if ((q.cmd != DA_CONTROL_APPS && q.cmd != DA_CONTROL_INSTALL &&
			     q.cmd != DA_CONTROL_CONFIG) ||
			    q.window_ms > 86400000 || (q.wait != 0 && q.wait != 1))
				abort();
		}
	} else {
		struct da_app_rec r;

		if (da_app_rec_decode((const char *)data + 1, size - 1, &r, &err) == 0) {
			if (r.n_kept > DA_KEEP_MAX || r.state >= DA_APP_NSTATES ||
			    memchr(r.app, '\0', sizeof(r.app)) == NULL ||
			    memchr(r.last_error, '\0', sizeof(r.last_error)) == NULL)
				abort();
		}
	}
	cr_error_free(err);
	return 0;
}
