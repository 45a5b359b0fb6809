/*
 * An end-to-end link: one Noise session between a vendor and a device
 * (relayed or direct), the stream connection over it, its timer, and the
 * bridges of its streams.  Shared by the CLI (the side that opens streams)
 * and the agent (the side that accepts them).  Payload framing: the first
 * byte is CP_E2E_STREAM (a stream packet) or CP_E2E_CONTROL (E2eControl).
 */
#ifndef CR_E2E_H
#define CR_E2E_H

#include <event2/event.h>
#include <stdint.h>

#include "cr/bridge.h"
#include "cr/session.h"
#include "cr/stream.h"

struct cr_e2e;

struct cr_e2e_ops {
	/* The peer opened stream sid with meta: return 0 and attach a bridge
	 * with cr_e2e_attach(), or return a reset code. */
	int (*accept)(void *arg, struct cr_e2e *e, uint32_t sid,
		      const uint8_t *meta, size_t meta_len);
	/* A bridge finished (code: stream reset code or 0). */
	void (*stream_done)(void *arg, struct cr_e2e *e, uint32_t sid, int code);
	/* A control message arrived (ping, pong, error). */
	void (*control)(void *arg, struct cr_e2e *e, const uint8_t *msg,
			size_t len);
};

/* is_client: this side opens odd stream ids (the vendor). */
struct cr_e2e *cr_e2e_new(struct event_base *base, struct cr_sess *sess,
			  int is_client, const struct cr_e2e_ops *ops,
			  void *arg);
/* Frees the link and its bridges (no callbacks); the session is not
 * touched.  Returns NULL. */
struct cr_e2e *cr_e2e_free(struct cr_e2e *e);

/* Feeds a session payload (both channels). */
void cr_e2e_input(struct cr_e2e *e, const uint8_t *msg, size_t len);
/* Runs the stream timers and sends what is ready; re-arms the timer. */
void cr_e2e_flush(struct cr_e2e *e);

/* Opens a stream with meta and bridges it to in/out (see cr_bridge_new). */
int cr_e2e_open(struct cr_e2e *e, const uint8_t *meta, size_t meta_len,
		struct bufferevent *in, struct bufferevent *out,
		uint32_t *sid);
/* Bridges an accepted stream (from ops->accept). */
int cr_e2e_attach(struct cr_e2e *e, uint32_t sid, struct bufferevent *in,
		  struct bufferevent *out, int connecting);
/* Sends a control message. */
int cr_e2e_control(struct cr_e2e *e, const uint8_t *msg, size_t len);

struct cr_sess *cr_e2e_sess(const struct cr_e2e *e);
struct cr_stream_conn *cr_e2e_conn(const struct cr_e2e *e);
size_t cr_e2e_streams(const struct cr_e2e *e);

#endif
