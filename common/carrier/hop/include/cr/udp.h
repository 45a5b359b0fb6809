/*
 * The one UDP socket of a process: open, batched receive, send.  Datagrams
 * are at most CP_DATAGRAM_MAX bytes; a larger one is handed up with its real
 * length so the caller drops it.
 *
 * On Linux the socket uses UDP generic segmentation offload both ways, as
 * fast WireGuard and QUIC implementations do: a run of equal-sized datagrams
 * to one destination leaves in one system call (UDP_SEGMENT), and the kernel
 * hands a run from one source up in one buffer (UDP_GRO) that is split here.
 * A kernel without them gets one datagram per message, transparently.
 */
#ifndef CR_UDP_H
#define CR_UDP_H

#include <stddef.h>
#include <stdint.h>

#include "cr/addr.h"
#include "cr/error.h"

enum {
	CR_UDP_BATCH = 64,      /* datagrams queued for sending */
	CR_UDP_ARENA = 128 * 1024, /* bytes queued for sending */
	CR_UDP_RAW_MSGS = 8,    /* messages per receive call */
	CR_UDP_RAW_BUF = 65536, /* one message: a coalesced run of datagrams */
	CR_UDP_SEGS = 256,      /* datagrams handed up per cr_udp_recv() */
};

/* Opens a non-blocking UDP socket bound to addr (port 0: any), with large
 * kernel buffers.  Returns the fd or -1 with *err. */
int cr_udp_open(const struct cr_addr *bind_addr, struct cr_error **err);
/* Opens one bound to the wildcard address of family (AF_INET, AF_INET6). */
int cr_udp_open_any(int family, struct cr_error **err);

/* Received datagrams: buf[i] points into the batch's own storage, valid
 * until the next cr_udp_recv() on it.  Allocate it on the heap (it is about
 * 600 KiB); zero it before first use. */
struct cr_udp_batch {
	size_t n;
	struct cr_addr from[CR_UDP_SEGS];
	size_t len[CR_UDP_SEGS];
	uint8_t *buf[CR_UDP_SEGS];
	/* Private: the messages being split, resumed by the next call. */
	size_t raw_n, raw_i, raw_off;
	struct cr_addr raw_from[CR_UDP_RAW_MSGS];
	size_t raw_len[CR_UDP_RAW_MSGS];
	size_t raw_seg[CR_UDP_RAW_MSGS];
	uint8_t raw[CR_UDP_RAW_MSGS][CR_UDP_RAW_BUF];
};

/* Receives up to CR_UDP_SEGS datagrams; returns how many (0 when none
 * waits), or -errno. */
int cr_udp_recv(int fd, struct cr_udp_batch *b);
/* The last read took everything the socket held (fewer messages than it
 * asked for, all handed up): another now would most likely find nothing,
 * and the event loop reports what comes later.  Saves a system call per
 * wakeup to a reader that loops until cr_udp_recv() returns 0. */
int cr_udp_drained(const struct cr_udp_batch *b);
/* Sends one datagram; returns 0 or -errno (EAGAIN counts as a drop). */
int cr_udp_send(int fd, const struct cr_addr *to, const uint8_t *buf,
		size_t len);
/*
 * Batched sending: datagrams queued during one turn of the event loop go out
 * together in one sendmmsg() when the turn ends (or when the batch is full),
 * which divides the system calls of a busy relay or tunnel by up to
 * CR_UDP_BATCH.  The queue copies the datagrams.
 */
struct cr_udp_out;
struct event_base;

struct cr_udp_out *cr_udp_out_new(struct event_base *base, int fd);
struct cr_udp_out *cr_udp_out_free(struct cr_udp_out *o);
/* Queues one datagram of at most CP_DATAGRAM_MAX bytes. */
void cr_udp_out_send(struct cr_udp_out *o, const struct cr_addr *to,
		     const uint8_t *buf, size_t len);
/* Queues a session datagram for its path: when to->route is set, wrapped
 * in a RELAY header for that route (the node at `to` forwards it). */
void cr_udp_out_send_path(struct cr_udp_out *o, const struct cr_addr *to,
			  const uint8_t *buf, size_t len);
/* Room for the next datagram (len bytes) of cr_udp_out_send_path(), for
 * the caller to fill before the event loop's turn ends; NULL when len is
 * too big.  cr_udp_out_unreserve() takes back the last room reserved. */
uint8_t *cr_udp_out_reserve_path(struct cr_udp_out *o,
				 const struct cr_addr *to, size_t len);
void cr_udp_out_unreserve(struct cr_udp_out *o, uint8_t *room);
/* The receiving side: a RELAY datagram is unwrapped in place (*buf, *len
 * advance past the header, from->route is set).  Returns -1 for a datagram
 * to drop (empty, oversized, a truncated relay header). */
int cr_udp_unwrap(struct cr_addr *from, uint8_t **buf, size_t *len);

/* Sends what is queued now. */
void cr_udp_out_flush(struct cr_udp_out *o);
/* Datagrams the kernel refused (full buffer, unreachable). */
uint64_t cr_udp_out_dropped(const struct cr_udp_out *o);

/* The local address the socket is bound to. */
int cr_udp_local(int fd, struct cr_addr *out);

#endif
