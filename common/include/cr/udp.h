/*
 * The one UDP socket of a process: open, batched receive, send.  Datagrams
 * are at most CP_DATAGRAM_MAX bytes; a larger one received is truncated and
 * reported with its real length so the caller drops it.
 */
#ifndef CR_UDP_H
#define CR_UDP_H

#include <stddef.h>
#include <stdint.h>

#include "cr/addr.h"
#include "cr/error.h"

enum { CR_UDP_BATCH = 32, CR_UDP_BUF = 2048 };

/* Opens a non-blocking UDP socket bound to addr (port 0: any), with large
 * kernel buffers.  Returns the fd or -1 with *err. */
int cr_udp_open(const struct cr_addr *bind_addr, struct cr_error **err);
/* Opens one bound to the wildcard address of family (AF_INET, AF_INET6). */
int cr_udp_open_any(int family, struct cr_error **err);

struct cr_udp_batch {
	size_t n;
	struct cr_addr from[CR_UDP_BATCH];
	size_t len[CR_UDP_BATCH];
	uint8_t buf[CR_UDP_BATCH][CR_UDP_BUF];
};

/* Receives up to CR_UDP_BATCH datagrams; returns how many (0 when none
 * waits), or -errno. */
int cr_udp_recv(int fd, struct cr_udp_batch *b);
/* Sends one datagram; returns 0 or -errno (EAGAIN counts as a drop). */
int cr_udp_send(int fd, const struct cr_addr *to, const uint8_t *buf,
		size_t len);
/* The local address the socket is bound to. */
int cr_udp_local(int fd, struct cr_addr *out);

#endif
