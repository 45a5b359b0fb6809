/*
 * toolsess: the client side of a hop session for the hostile test tools
 * (attack, hsflood): a UDP socket, a session host with a key, one session
 * to a ring node, and a poll loop that feeds the host.  The tools differ
 * only in what they send and in two hooks: what arrives (each decoded Hop
 * message) and what leaves (each datagram, before it is sent).  The tools
 * never accept a session.
 */
#ifndef TOOLSESS_H
#define TOOLSESS_H

#include <stddef.h>
#include <stdint.h>

#include "cp/hop.h"
#include "cr/addr.h"
#include "cr/error.h"
#include "cr/identity.h"
#include "cr/session.h"
#include "cr/udp.h"

struct ts_peer;

/* Each Hop message of the session (m is freed after the call). */
typedef void (*ts_msg_fn)(struct ts_peer *p, const Carrier__Hop *m);
/* Each datagram the host sends, before it leaves. */
typedef void (*ts_sent_fn)(struct ts_peer *p, const uint8_t *buf, size_t len);

struct ts_peer {
	int fd;     /* the socket datagrams are read from */
	int out_fd; /* the socket they leave from; -1: fd */
	struct cr_udp_batch *rx; /* borrowed: one serves every peer */
	struct cr_sess_host *host;
	struct cr_sess *sess; /* NULL once down */
	int up;
	ts_msg_fn on_msg;   /* optional */
	ts_sent_fn on_sent; /* optional */
	void *user;
};

/* Clears p and opens its socket on ip (any port); rx is the receive
 * buffer it borrows.  Hooks are set by the caller afterwards. */
int ts_peer_open(struct ts_peer *p, const char *ip, struct cr_udp_batch *rx,
		 struct cr_error **err);
/* A host with kp on p's socket and a session to the peer pk (of type
 * type) at `to`; p->up once the handshake completes. */
int ts_peer_connect(struct ts_peer *p, const struct cr_keypair *kp,
		    const uint8_t pk[CR_PKLEN], enum cr_id_type type,
		    const struct cr_addr *to, struct cr_error **err);
/* Closes the session and frees the host; the socket stays for the next
 * ts_peer_connect(). */
void ts_peer_end(struct ts_peer *p);
/* ts_peer_end() and closes the socket. */
void ts_peer_free(struct ts_peer *p);

/* One turn for n peers: waits up to ms for a datagram (on the first 256),
 * feeds every peer's host what arrived and runs its timers. */
void ts_pump(struct ts_peer *peers, size_t n, int ms);
/* Pumps p until *cond is set or ms pass. */
void ts_pump_until(struct ts_peer *p, const int *cond, uint64_t ms);
/* Pumps until all n peers are up or ms pass; returns how many are. */
int ts_wait_up(struct ts_peer *peers, size_t n, uint64_t ms);

/* Packs m and sends it on p's session: 0, or negative (no session, too
 * big, not up yet: cr_sess_send()). */
int ts_send(struct ts_peer *p, const Carrier__Hop *m);
/* A PING with req_id and nonce `nonce`. */
int ts_ping(struct ts_peer *p, uint64_t nonce);

#endif
