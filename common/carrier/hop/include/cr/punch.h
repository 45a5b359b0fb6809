/*
 * Direct paths for an end-to-end session (NAT hole punching), shared by the
 * CLI and the agent.  The session starts relayed through a ring node; each
 * side knows the other's candidate addresses (local and reflexive: the
 * vendor's ride in the connect request and the node's offer, the device's
 * in its signed presence record and in a CANDIDATES message sent over the
 * session) and sends probes to all of them at once.  Probes are session
 * DATA datagrams (cr_sess_send_to), so only the real peer can produce one
 * that authenticates: an echo of our own probe, or a stranger that happens
 * to sit at the same private address on another site, is dropped by the
 * session layer before it gets here.
 *
 * A probe that arrives is answered at once with an ACK to its source, and
 * its source becomes a candidate (peer-reflexive: the port a symmetric NAT
 * picked toward us), probed in turn.  The first ACK that comes back proves
 * the path both ways and makes it the session's path: traffic moves there
 * without touching keys or streams.  On the direct path a probe every
 * second keeps the NAT mappings open (Linux drops an unreplied one after
 * 30 s) and proves it alive; when nothing arrives from it for 2 s, the
 * session falls back to the relay and punching starts over 10 s later.  A
 * round of probing lasts 10 s (a late side can get a new port when an early
 * probe left state on its router), answering keeps going always.
 *
 * Payload format (e2e channel CP_E2E_PROBE, cp/hop.h):
 *   PROBE | ACK:   3 | kind u8 | nonce u64le
 *   CANDIDATES:    3 | 3 | n u8 | n * (family u8 (4|6) | addr 4|16 | port u16be)
 * The owner disables the session's roaming (cr_sess_set_roaming) and feeds
 * every received payload through cr_punch_input(); the punch owns the path.
 */
#ifndef CR_PUNCH_H
#define CR_PUNCH_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "cr/addr.h"
#include "cr/session.h"

enum {
	CR_PUNCH_CANDS = 16,         /* candidates kept (peer-reflexive too) */
	CR_PUNCH_ROUND_MS = 10000,   /* probing after a start */
	CR_PUNCH_KEEPALIVE_MS = 1000,/* probe on the direct path */
	CR_PUNCH_DEAD_MS = 2000,     /* direct path silent: back to relay */
	CR_PUNCH_RETRY_MS = 10000,   /* next round after a failure */
};

enum cr_punch_kind {
	CR_PUNCH_PROBE = 1,
	CR_PUNCH_ACK = 2,
	CR_PUNCH_CANDIDATES = 3,
};

struct cr_punch;

struct cr_punch_ops {
	/* The session's path changed: direct (route 0) or back to the relay
	 * (direct == NULL). */
	void (*path)(void *arg, const struct cr_addr *direct);
};

/* The session must be up.  Turns its roaming off; its current path is the
 * relay.  enabled = 0 keeps the session relayed (probes are still
 * answered so the peer learns nothing from silence, but never taken). */
struct cr_punch *cr_punch_new(struct event_base *base, struct cr_sess *s,
			      int enabled, const struct cr_punch_ops *ops,
			      void *arg);
struct cr_punch *cr_punch_free(struct cr_punch *p);

/* A candidate of the peer (the address a probe goes to); duplicates and
 * relayed addresses are ignored.  The string form is numeric only
 * ("198.18.1.2:4000", "[2001:db8::1]:4000"): candidates come from the
 * network and must never make us resolve names.  0, or -1 when unusable. */
int cr_punch_add(struct cr_punch *p, const struct cr_addr *cand);
int cr_punch_add_str(struct cr_punch *p, const char *cand);

/* Starts a round of probing now (no-op while one runs or when direct). */
void cr_punch_start(struct cr_punch *p);

/* The relay path changed (the CLI repaired it through another node).
 * Becomes the session's path unless it is direct. */
void cr_punch_set_relay(struct cr_punch *p, const struct cr_addr *relay);

/* Sends our own candidates to the peer over the session (its current
 * path).  n at most CR_PUNCH_CANDS; strings as for cr_punch_add_str. */
int cr_punch_send_candidates(struct cr_punch *p, const char (*addrs)[64],
			     size_t n);

/* Every authenticated payload of the session, with where it came from
 * (cr_sess_host_rx_from()).  Returns 1 when it was a punch message
 * (consumed), 0 for the owner to handle. */
int cr_punch_input(struct cr_punch *p, const struct cr_addr *from,
		   const uint8_t *msg, size_t len);

/* The direct path, or NULL while relayed. */
const struct cr_addr *cr_punch_direct(const struct cr_punch *p);
/* When a datagram last came over the path in use (ms): what tells whether
 * the path works, where the session's own last receive also counts the
 * peer's probes to other addresses. */
uint64_t cr_punch_path_rx_ms(const struct cr_punch *p);
/* The relay path. */
const struct cr_addr *cr_punch_relay(const struct cr_punch *p);

/* Appends our local candidates to out[*n] (at most max in all): every
 * IPv4 interface address that is up and not loopback, with the port of
 * UDP socket fd; skips what is already there (a reflexive address equal to
 * a local one: no NAT). */
void cr_punch_local_candidates(int fd, char (*out)[64], size_t *n,
			       size_t max);

/* Parses a numeric "HOST:PORT" candidate; 0 or -1. */
int cr_punch_parse(const char *s, struct cr_addr *out);

#endif
