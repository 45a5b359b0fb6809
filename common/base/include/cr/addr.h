/*
 * Peer addresses: an IPv4 or IPv6 UDP endpoint, plus the route id when the
 * peer is reached through a ring node's relay (route 0 means direct).
 * Small on purpose: a node keeps one per device session.
 */
#ifndef CR_ADDR_H
#define CR_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cr/error.h"

enum { CR_ADDR_STRMAX = 64 };

struct cr_addr {
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} u;
	uint64_t route; /* relay route id, 0 for a direct path */
};

socklen_t cr_addr_len(const struct cr_addr *a);
/* Parses "HOST:PORT", "[V6]:PORT"; HOST is numeric or resolved once. */
int cr_addr_parse(const char *s, struct cr_addr *a, struct cr_error **err);
/* Formats "1.2.3.4:5" or "[::1]:5" into out; returns out. */
char *cr_addr_format(const struct cr_addr *a, char out[CR_ADDR_STRMAX]);
/* Compares family, address and port (not route). */
int cr_addr_equal(const struct cr_addr *a, const struct cr_addr *b);
/* Fills a from a sockaddr returned by recvfrom(). */
void cr_addr_from_sockaddr(struct cr_addr *a, const struct sockaddr *sa,
			   socklen_t len);
/* Writes a canonical byte form (family, address, port) for hashing; returns
 * its length (at most 19). */
size_t cr_addr_key(const struct cr_addr *a, uint8_t out[19]);

#endif
