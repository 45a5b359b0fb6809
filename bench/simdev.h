/*
 * simdev: what bench/ringload.c and bench/ringfail.c share to simulate many
 * devices from one process: a few UDP sockets bound to 0.0.0.0, device i
 * speaking from its own loopback address (ADDR_BASE + 1 + i / S, socket
 * i % S, with IP_PKTINFO), and a received datagram going to the device its
 * destination address and socket name.  Bench-only; not a library.
 */
#ifndef KORHAL_BENCH_SIMDEV_H
#define KORHAL_BENCH_SIMDEV_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cr/addr.h"

/* A count option: the decimal in s, from min to max, into *out; -1 if
 * it is not one. */
int simdev_parse_size(const char *s, uint64_t min, uint64_t max, size_t *out);

/* Device i's source address (host order) with n_socks sockets. */
static inline uint32_t simdev_addr(uint32_t addr_base, size_t n_socks,
				   size_t i)
{
	return addr_base + 1u + (uint32_t)(i / n_socks);
}

/* Fills the first control message of mh (msg_control and msg_controllen
 * set, room for an in_pktinfo) so that the datagram leaves from src. */
void simdev_set_src(struct msghdr *mh, uint32_t src);

/* Opens n sockets (IP_PKTINFO, bound to 0.0.0.0 on a free port, large
 * receive queues) and a persistent read event for each calling cb(arg).
 * On failure prints "PROG: socket: ..." and returns -1. */
int simdev_open_sockets(const char *prog, struct event_base *base, size_t n,
			int *fds, uint16_t *ports, struct event **ev_read,
			event_callback_fn cb, void *arg);

/* Called for each datagram read, with the device it is for (< n_devs). */
typedef void (*simdev_deliver_fn)(void *ctx, size_t dev,
				  const struct cr_addr *src,
				  const uint8_t *buf, size_t len);

/* Reads what socket fd (one of fds[0 .. n_socks - 1]) holds, in batches
 * (at most 16), and hands each datagram to deliver. */
void simdev_read(int fd, const int *fds, size_t n_socks, uint32_t addr_base,
		 size_t n_devs, simdev_deliver_fn deliver, void *ctx);

#endif
