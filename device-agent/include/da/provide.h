/*
 * The device serves its apps' store to the peers of its fleet
 * (docs/agent-apps.md, "Serving peers"): with --trust and --serve-port the
 * agent runs Archon's serve (ar/serve.h) over its apps store on
 * 127.0.0.1:PORT in a worker process it forks and supervises, restarted
 * with backoff when it dies.  The worker announces the versions the store
 * holds as provider records signed with the device key, so peers find
 * them; the agent's tunnel lets a fleet peer (a fleet credential its trust
 * root validates) reach that port and nothing else.
 */
#ifndef DA_PROVIDE_H
#define DA_PROVIDE_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "cr/error.h"

struct da_provide;

struct da_provide_cfg {
	const char *store_dir;	/* the apps' Archon store */
	const char *ring_path;	/* the ring the records go to */
	const char *ring_saved; /* a newer epoch the agent saved, if any */
	const char *key_path;	/* the device key: signs the records */
	uint16_t port;		/* serve on 127.0.0.1:port */
};

/* Starts the serve worker; the loop supervises it from then on. */
struct da_provide *da_provide_new(struct event_base *base,
				  const struct da_provide_cfg *cfg,
				  struct cr_error **err);
/* Stops the worker (SIGTERM, SIGKILL after a grace time). */
struct da_provide *da_provide_free(struct da_provide *p);
/* The worker's pid while it runs, else 0. */
int da_provide_pid(const struct da_provide *p);

/*
 * The `carrier` program the agent's pulls run to reach peers: given (the
 * --carrier option) when not empty, else the `carrier` next to this
 * program's own binary when there is one, else "carrier" (looked up in
 * PATH).  Copied into out.
 */
void da_provide_carrier(const char *given, char *out, size_t cap);

#endif
