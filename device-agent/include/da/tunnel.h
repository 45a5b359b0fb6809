/*
 * The device side of `carrier connect`: end-to-end sessions from vendors
 * the device authorizes, their reliable streams, and a TCP connection to
 * 127.0.0.1:PORT on the device for every stream a vendor opens to an
 * allowed PORT.  Refusals are explicit and authenticated: an unknown vendor
 * gets "not authorized by the device" in the handshake reply, a forbidden
 * port a stream reset with CR_STREAM_RESET_REFUSED.
 *
 * Devices of the same fleet reach it too, with their own device keys: one
 * whose handshake hello (an E2eHello) carries a fleet credential for its
 * identity, signed by a rollout threshold of the agent's trust root
 * (--trust), may open streams to the --serve-port ports only.
 */
#ifndef DA_TUNNEL_H
#define DA_TUNNEL_H

#include <event2/event.h>
#include <stdint.h>

#include "carrier.pb-c.h"
#include "cr/addr.h"
#include "cr/session.h"
#include "da/agent.h"

struct da_tunnel;

/* cfg is borrowed: the agent keeps it alive and calls set_config when it
 * changes. */
struct da_tunnel *da_tunnel_new(struct event_base *base,
				struct cr_sess_host *host,
				const struct da_config *cfg,
				struct cr_error **err);
struct da_tunnel *da_tunnel_free(struct da_tunnel *t);
/* The agent's part of `carrier sysinfo` (da/sysinfo.h): its links and
 * NAT, appended after the host's part. */
struct da_sysinfo_buf;
void da_tunnel_set_sysinfo(struct da_tunnel *t,
			   void (*fn)(void *arg, struct da_sysinfo_buf *b),
			   void *arg);
/* Re-checks every open session against the new allow list (and re-reads
 * the trust root). */
void da_tunnel_set_config(struct da_tunnel *t, const struct da_config *cfg);

/* A node announced a vendor's connect on a relay route. */
void da_tunnel_offer(struct da_tunnel *t, const Carrier__ConnectOffer *offer,
		     const struct cr_addr *node_addr);
/* Session callbacks for vendor sessions (see cr_sess_ops). */
int da_tunnel_accept(struct da_tunnel *t, const struct cr_id *vendor,
		     const struct cr_addr *from, uint8_t *reply,
		     size_t *reply_len);
/* The same for a device of the fleet: checks the fleet credential in its
 * hello.  0 accepts; 1 refuses with an Error in reply. */
int da_tunnel_accept_peer(struct da_tunnel *t, const struct cr_id *device,
			  const uint8_t *hello, size_t hello_len,
			  uint8_t *reply, size_t *reply_len);
void da_tunnel_up(struct da_tunnel *t, struct cr_sess *s);
/* The device's own candidates (reflexive and local addresses, as in its
 * presence record), sent to each vendor for punching a direct path. */
void da_tunnel_set_candidates(struct da_tunnel *t, const char (*addrs)[64],
			      size_t n);
void da_tunnel_recv(struct da_tunnel *t, struct cr_sess *s, const uint8_t *msg,
		    size_t len);
void da_tunnel_down(struct da_tunnel *t, struct cr_sess *s);
/* Sends what the streams have ready; call after a batch of input. */
void da_tunnel_flush(struct da_tunnel *t);

#endif
