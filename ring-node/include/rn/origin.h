/*
 * The shard cache's origins (--cache-origins) and the addresses it may
 * connect to.  A request names its origin; the node fetches only from an
 * origin the operator named (same scheme, host and port, a path at or
 * below the named one), and connects only to public addresses, or to the
 * very address the operator named as an IP literal: so the cache is no
 * open fetcher into the node's network (server-side request forgery), and
 * a name that resolves inside (or rebinds there) is refused at connect.
 */
#ifndef RN_ORIGIN_H
#define RN_ORIGIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ar/cachereq.h"
#include "cr/error.h"

/* One origin, split. */
struct rn_origin_rule {
	char scheme[6];		/* "http" or "https" */
	char host[256];		/* lowercase; an IPv6 literal without [] */
	unsigned port;
	char path[AR_CACHEREQ_ORIGIN_MAX + 1]; /* no trailing '/'; may be "" */
	int literal;		/* host is an IP address: ip holds it */
	uint8_t ip[16];		/* IPv4 as ::ffff:a.b.c.d */
};

struct rn_origins {
	struct rn_origin_rule *v;
	size_t n;
};

/* Splits an origin URL (scheme://host[:port][/path]; trailing '/' ignored)
 * into r; 0, or -1 when it is not one the node would fetch from: no user
 * info, no percent-escapes, backslashes, empty or dot segments in the path
 * (each could make the URL libcurl fetches differ from the one matched). */
int rn_origin_split(const char *url, struct rn_origin_rule *r);

/* Parses a comma-separated list (NULL or empty: none) into o; 0, or -1
 * with *err naming the bad entry (o is then empty). */
int rn_origins_parse(const char *list, struct rn_origins *o,
		     struct cr_error **err);
void rn_origins_free(struct rn_origins *o);

/* The rule allowing origin, or NULL (always NULL with no rules). */
const struct rn_origin_rule *rn_origins_match(const struct rn_origins *o,
					      const char *origin);

/* 1 when ip (16 bytes, IPv4 mapped as ::ffff:a.b.c.d) is not an address
 * of the public internet: loopback, private, shared (CGN), link-local,
 * unspecified, multicast, reserved, benchmarking, or one of those inside
 * IPv4-mapped, NAT64 or 6to4 forms. */
int rn_addr_internal(const uint8_t ip[16]);

/* 1 when a fetch under rule r may connect to sa: a public address, or the
 * one r names as its IP literal. */
int rn_origin_addr_ok(const struct rn_origin_rule *r,
		      const struct sockaddr *sa);

#endif
