/*
 * Ring links: what every client of the ring (the vendor CLI, the device
 * agent) needs to talk to ring nodes, written once.  It owns the UDP
 * socket's reading, the session host and its callbacks (the session-ops
 * thunks), the UDP -> TCP fallback policy and its constants, the request
 * ids, pings with our ring epoch, and the adoption of newer ring
 * configurations that nodes send in chunks.  The program keeps its role:
 * which nodes it links to and when (struct cr_rl_link, embedded in its own
 * per-node state), what it does with the nodes' other messages, and the
 * end-to-end sessions with peers, through struct cr_rl_ops.
 *
 * The TCP transport (cr/tlsdgram.h) lives in another library, absent from
 * some device builds: the program creates it, hands its receive side
 * cr_rl_tls_input() and its send side to cr_rl_set_tcp().
 */
#ifndef CR_RINGLINK_H
#define CR_RINGLINK_H

#include <event2/event.h>
#include <limits.h>
#include <stdint.h>

#include "carrier.pb-c.h"
#include "cr/addr.h"
#include "cr/error.h"
#include "cr/identity.h"
#include "cr/ring.h"
#include "cr/ringsync.h"
#include "cr/session.h"

/* ---- The UDP -> TCP fallback policy (no sockets) ----------------------- */

/* Who runs the link: the timings of the one fallback policy differ. */
enum cr_rl_role {
	CR_RL_VENDOR, /* a command a person waits for */
	CR_RL_DEVICE, /* a daemon that stays */
};

enum {
	/* No node answered since the first datagram this long: UDP is
	 * blocked, probably, and TCP is tried (or back to UDP when TCP
	 * does not answer either).  A command gives up sooner; the agent
	 * waits past its handshake timeout (2.5 s) and a retry. */
	CR_RL_VENDOR_UDP_GIVEUP_MS = 1500,
	CR_RL_DEVICE_UDP_GIVEUP_MS = 3000,
	/* Once a transport worked, an outage is an outage (a node
	 * restarting, a rekey under load), not a blocked network: the
	 * sessions get this long to come back the same way, past a
	 * handshake retry or two (the agent: past its reconnect backoff). */
	CR_RL_VENDOR_MODE_KEEP_MS = 12000,
	CR_RL_DEVICE_MODE_KEEP_MS = 15000,
};

struct cr_rl_fallback {
	uint64_t giveup_ms, keep_ms; /* from the role */
	int use_tcp;                 /* datagrams to nodes go over TCP */
	int forced;                  /* --tcp: never back to UDP */
	int worked;                  /* a node answered this way once */
	uint64_t mode_ms;            /* the transport last worked, or was
				      * picked; 0 before the first datagram */
};

void cr_rl_fallback_init(struct cr_rl_fallback *f, enum cr_rl_role role,
			 int force_tcp);
/* A datagram goes to a node: the clock starts at the first one. */
void cr_rl_fallback_sent(struct cr_rl_fallback *f, uint64_t now);
/* Called now and then with whether any node link is up; returns 1 when
 * the transport switched (f->use_tcp tells which way). */
int cr_rl_fallback_tick(struct cr_rl_fallback *f, int any_up, uint64_t now);

/* ---- Adopting a newer ring configuration (no sockets) ------------------- */

struct cr_rl_adopt {
	char pin_path[PATH_MAX + 32];  /* the operator pin, moved up */
	char save_path[PATH_MAX + 32]; /* where an accepted ring is saved */
	uint64_t accepted;             /* newest epoch accepted */
	uint64_t refused;              /* configurations refused */
};

/*
 * One chunk of a ring configuration a node sends, assembled in asm_ (one
 * per node).  Kept only when complete, signed by the pinned operator and
 * newer than both cur and what was accepted before; then it is saved to
 * save_path and the pin moves up.  Returns 1 with *out (the caller's), 0
 * when more chunks are due or the epoch is not newer, -1 with *err when
 * the configuration was refused (ad->refused counts them).
 */
int cr_rl_adopt_chunk(struct cr_rl_adopt *ad, struct cr_ring_asm *asm_,
		      const struct cr_ring *cur, uint64_t epoch, uint32_t total,
		      uint32_t offset, const uint8_t *data, size_t len,
		      struct cr_ring **out, struct cr_error **err);

/* ---- Node links --------------------------------------------------------- */

/* A hop session with one ring node, embedded in the program's own state. */
struct cr_rl_link {
	struct cr_sess *sess;    /* NULL while disconnected */
	int up;                  /* handshake done */
	uint64_t dial_ms;        /* when the handshake started */
	uint64_t ping_ms;        /* when we last pinged the node */
	struct cr_ring_asm asm_; /* a newer ring configuration arriving */
};

struct cr_ringlink;

/* What the program does; link_of and the link callbacks are required,
 * the others may be NULL. */
struct cr_rl_ops {
	/* The link whose session s is, or NULL for a peer session. */
	struct cr_rl_link *(*link_of)(void *arg, struct cr_sess *s);
	/* l came up (not on rekeys); the link was pinged with our epoch. */
	void (*link_up)(void *arg, struct cr_rl_link *l);
	/* A message from the node other than a ring chunk; the callee owns
	 * m (cp_hop_free). */
	void (*link_msg)(void *arg, struct cr_rl_link *l, Carrier__Hop *m);
	/* l's session ended; l->sess and l->up are cleared already. */
	void (*link_down)(void *arg, struct cr_rl_link *l, int was_up);
	/* A newer ring configuration was accepted and saved; the callee
	 * owns r (and calls cr_rl_set_ring() if it moves to it). */
	void (*ring_adopted)(void *arg, struct cr_rl_link *l, struct cr_ring *r);
	/* One was refused (n_refused so far, to log sparingly). */
	void (*ring_refused)(void *arg, struct cr_rl_link *l, uint64_t epoch,
			     uint64_t n_refused, const struct cr_error *err);
	/* Sessions with peers (end to end), as in struct cr_sess_ops. */
	int (*peer_accept)(void *arg, const struct cr_id *peer,
			   const uint8_t pk[CR_PKLEN], const struct cr_addr *from,
			   const uint8_t *hello, size_t hello_len,
			   uint8_t *reply, size_t *reply_len, void **user);
	void (*peer_up)(void *arg, struct cr_sess *s, const uint8_t *reply,
			size_t reply_len, int rekey);
	void (*peer_recv)(void *arg, struct cr_sess *s, const uint8_t *msg,
			  size_t len);
	void (*peer_down)(void *arg, struct cr_sess *s);
	/* A datagram before it goes to the sessions; 1: consumed (STUN). */
	int (*datagram)(void *arg, const struct cr_addr *from,
			const uint8_t *buf, size_t len);
	/* After a batch of datagrams was handled. */
	void (*flush)(void *arg);
};

struct cr_rl_cfg {
	enum cr_rl_role role;
	const struct cr_keypair *kp;
	const struct cr_sess_cfg *sess;
	int fd;                 /* the UDP socket, taken over (even on
				 * failure) */
	int force_tcp;          /* --tcp */
	uint32_t keepalive_ms;  /* told the nodes in pings; 0: none */
	const struct cr_ring *ring; /* borrowed; see cr_rl_set_ring() */
	const char *pin_path;   /* the operator pin of the ring */
	const char *save_path;  /* where newer rings are saved */
};

struct cr_ringlink *cr_rl_new(struct event_base *base,
			      const struct cr_rl_cfg *cfg,
			      const struct cr_rl_ops *ops, void *arg,
			      struct cr_error **err);
/* Frees the session host (its sessions end) and closes the socket; free
 * the TCP transport after. */
struct cr_ringlink *cr_rl_free(struct cr_ringlink *rl);

/* The TCP transport's send side; cr_rl_tls_input() is its receive side
 * (a cr_tls_recv_fn, with rl as its argument). */
void cr_rl_set_tcp(struct cr_ringlink *rl,
		   void (*send)(void *arg, const struct cr_addr *to,
				const uint8_t *buf, size_t len),
		   void *arg);
void cr_rl_tls_input(void *rl, const struct cr_addr *from, uint8_t *buf,
		     size_t len);

/* Dials the node (pk at addr) on l; l must be disconnected. */
int cr_rl_dial(struct cr_ringlink *rl, struct cr_rl_link *l,
	       const uint8_t pk[CR_PKLEN], const struct cr_addr *addr,
	       uint64_t now, struct cr_error **err);
/* A ping with our ring epoch and keepalive: the node answers with a pong
 * (and with its ring configuration when it has a newer one). */
void cr_rl_ping(struct cr_ringlink *rl, struct cr_rl_link *l, uint64_t now);
/* Frees l's assembly buffer (l's session is the host's). */
void cr_rl_link_reset(struct cr_rl_link *l);

/* Runs the fallback policy (any_up: a node link is up) and the session
 * timers; returns 1 when the transport switched. */
int cr_rl_tick(struct cr_ringlink *rl, int any_up, uint64_t now);
/* A node link was up at now (it just went down): for a program that does
 * not run cr_rl_tick() while all is quiet, so that the fallback policy
 * counts the time without a node from then, not from its last tick. */
void cr_rl_note_up(struct cr_ringlink *rl, uint64_t now);

/* A fresh request id (pings use them too: replies never mix up). */
uint64_t cr_rl_next_req(struct cr_ringlink *rl);
void cr_rl_set_ring(struct cr_ringlink *rl, const struct cr_ring *ring);
void cr_rl_set_keepalive(struct cr_ringlink *rl, uint32_t keepalive_ms);
/* 1 when datagrams to nodes go over TCP (forced or fallen back to). */
int cr_rl_uses_tcp(const struct cr_ringlink *rl);
/* --tcp given (TCP from now on, never back to UDP) or taken back (a
 * reload: the fallback policy decides again). */
void cr_rl_set_force_tcp(struct cr_ringlink *rl, int on);
struct cr_sess_host *cr_rl_host(const struct cr_ringlink *rl);
struct cr_udp_out *cr_rl_out(const struct cr_ringlink *rl);
int cr_rl_fd(const struct cr_ringlink *rl);

#endif
