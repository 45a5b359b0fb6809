/*
 * A bridge joins one reliable stream (cr/stream.h) to a local byte pipe (a
 * TCP connection, or stdin and stdout) held in libevent bufferevents, with
 * backpressure both ways: it stops reading the pipe while the stream's send
 * buffer is full and stops reading the stream while the pipe's output is
 * above a high watermark, so memory stays bounded whatever either side does.
 * EOF travels both ways as a half-close; errors become a reset.
 *
 * The owner routes the stream's readable/writable/closed callbacks for sid
 * to the bridge, and supplies `kick`, called when the stream has new data
 * to send (the owner then runs cr_stream_tick() and re-arms its timer).
 */
#ifndef CR_BRIDGE_H
#define CR_BRIDGE_H

#include <event2/bufferevent.h>
#include <stdint.h>

#include "cr/stream.h"

struct cr_bridge;

struct cr_bridge_ops {
	void (*kick)(void *arg);
	/* The bridge is finished (both directions done, or reset); it is
	 * freed when this returns.  code is the stream reset code or 0. */
	void (*done)(void *arg, struct cr_bridge *b, int code);
};

/*
 * in and out may be the same bufferevent (a socket).  The bridge owns both
 * and frees them (closing their fds) when done.  connecting: `in` is a
 * socket whose connect is in progress; data flows once it completes, and a
 * failure resets the stream with CR_STREAM_RESET_UNREACHABLE.
 */
struct cr_bridge *cr_bridge_new(struct cr_stream_conn *conn, uint32_t sid,
				struct bufferevent *in, struct bufferevent *out,
				int connecting, const struct cr_bridge_ops *ops,
				void *arg);

/* Stream callbacks, routed here by the owner. */
void cr_bridge_readable(struct cr_bridge *b);
void cr_bridge_writable(struct cr_bridge *b);
/* The stream is gone: frees the bridge (ops->done is called). */
void cr_bridge_closed(struct cr_bridge *b, int code);

/* Tears down without touching the stream (the connection is gone);
 * ops->done is not called.  Returns NULL. */
struct cr_bridge *cr_bridge_free(struct cr_bridge *b);

uint32_t cr_bridge_sid(const struct cr_bridge *b);

#endif
