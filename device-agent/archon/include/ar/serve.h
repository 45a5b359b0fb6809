/*
 * Serving a store to peers (archon serve, and the device agent's serve
 * worker): the store's chunks and indexes over HTTP in the origin's layout
 * (GET /chunks/ab/<id>, zstd-compressed, and GET /indexes/<id>), on a local
 * address that fleet peers reach through `carrier connect DEVICE PORT`.
 * See docs/archon.md, "Peers".
 */
#ifndef AR_SERVE_H
#define AR_SERVE_H

#include <stdio.h>

#include "ar/store.h"

/*
 * Serves st (opened with AR_STORE_READ: its shared lock is dropped once
 * the listener is up and taken per request only, so writers run beside
 * it) on listen (HOST:PORT) until SIGTERM or SIGINT.  With ring_path and
 * key_path (a device key) it announces each index the store holds as a
 * signed provider record to the index's shard nodes: at start, whenever
 * the set of versions held changes (a pull, a gc: looked at every few
 * seconds), and before the records expire.  What it says goes to out.
 * Returns 0 after a signal, or -1 with *err (a listen address taken, a
 * key that is not a device key, a ring that does not load).
 */
int ar_serve(struct ar_store *st, const char *listen, const char *ring_path,
	     const char *key_path, FILE *out, struct cr_error **err);

#endif
