/*
 * Peer addresses: see cr/addr.h.  Parsing goes through getaddrinfo() once,
 * with AI_NUMERICSERV so a port is always a number and never a service name
 * looked up in /etc/services.
 */
#include "cr/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

enum { ADDR_HOST_MAX = 256 };

socklen_t cr_addr_len(const struct cr_addr *a)
{
	switch (a->u.sa.sa_family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	default:
		return 0;
	}
}

/* Parses a decimal port 0..65535: digits only, no sign, no spaces. */
static int parse_port(const char *s, uint16_t *port)
{
	uint32_t v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint32_t)(*s - '0');
	}
	if (v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int cr_addr_parse(const char *s, struct cr_addr *a, struct cr_error **err)
{
	char host[ADDR_HOST_MAX];
	const char *port_str, *colon, *hstart;
	struct addrinfo hints, *res = NULL;
	size_t hlen;
	uint16_t port;
	int bracketed = 0, r;

	if (s[0] == '[') {
		const char *rbracket = strchr(s, ']');

		if (rbracket == NULL)
			return cr_error_set(err, EINVAL,
					    "missing ']' in '%s' (expected "
					    "[V6]:PORT)",
					    s);
		if (rbracket[1] != ':')
			return cr_error_set(err, EINVAL,
					    "missing port in '%s' (expected "
					    "[V6]:PORT)",
					    s);
		hstart = s + 1;
		hlen = (size_t)(rbracket - hstart);
		port_str = rbracket + 2;
		bracketed = 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return cr_error_set(err, EINVAL,
					    "missing port in '%s' (expected "
					    "HOST:PORT or [V6]:PORT)",
					    s);
		hlen = (size_t)(colon - s);
		if (memchr(s, ':', hlen) != NULL)
			return cr_error_set(err, EINVAL,
					    "IPv6 address in '%s' needs "
					    "brackets: [V6]:PORT",
					    s);
		hstart = s;
		port_str = colon + 1;
	}
	if (hlen == 0)
		return cr_error_set(err, EINVAL, "missing host in '%s'", s);
	if (hlen >= sizeof(host))
		return cr_error_set(err, EINVAL, "host name too long in '%s'",
				    s);
	memcpy(host, hstart, hlen);
	host[hlen] = '\0';
	if (parse_port(port_str, &port) < 0)
		return cr_error_set(err, EINVAL,
				    "invalid port '%s' in '%s' (expected "
				    "0..65535)",
				    port_str, s);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = bracketed ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV | (bracketed ? AI_NUMERICHOST : 0);
	r = getaddrinfo(host, port_str, &hints, &res);
	if (r != 0 && bracketed)
		return cr_error_set(err, EINVAL,
				    "'%s' is not an IPv6 address (brackets "
				    "are for IPv6 only)",
				    host);
	if (r != 0)
		return cr_error_set(err, r == EAI_SYSTEM ? errno : EINVAL,
				    "cannot resolve '%s': %s", host,
				    r == EAI_SYSTEM ? strerror(errno)
						    : gai_strerror(r));
	if (res == NULL || res->ai_addrlen > sizeof(a->u)) {
		freeaddrinfo(res);
		return cr_error_set(err, EINVAL, "no usable address for '%s'",
				    host);
	}
	/* The first answer is the one getaddrinfo() ranks best (RFC 6724). */
	cr_addr_from_sockaddr(a, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (cr_addr_len(a) == 0)
		return cr_error_set(err, EAFNOSUPPORT,
				    "'%s' is neither IPv4 nor IPv6", host);
	return 0;
}

char *cr_addr_format(const struct cr_addr *a, char out[CR_ADDR_STRMAX])
{
	char ip[INET6_ADDRSTRLEN];

	switch (a->u.sa.sa_family) {
	case AF_INET:
		inet_ntop(AF_INET, &a->u.in4.sin_addr, ip, sizeof(ip));
		snprintf(out, CR_ADDR_STRMAX, "%s:%u", ip,
			 (unsigned)ntohs(a->u.in4.sin_port));
		break;
	case AF_INET6:
		inet_ntop(AF_INET6, &a->u.in6.sin6_addr, ip, sizeof(ip));
		/* The longest text form with a ten-digit scope id could
		 * overflow CR_ADDR_STRMAX; real interface indexes are short,
		 * and the scope is dropped rather than the port cut. */
		if (a->u.in6.sin6_scope_id == 0 ||
		    snprintf(out, CR_ADDR_STRMAX, "[%s%%%u]:%u", ip,
			     (unsigned)a->u.in6.sin6_scope_id,
			     (unsigned)ntohs(a->u.in6.sin6_port)) >=
			    CR_ADDR_STRMAX)
			snprintf(out, CR_ADDR_STRMAX, "[%s]:%u", ip,
				 (unsigned)ntohs(a->u.in6.sin6_port));
		break;
	default:
		snprintf(out, CR_ADDR_STRMAX, "(no address)");
		break;
	}
	return out;
}

int cr_addr_equal(const struct cr_addr *a, const struct cr_addr *b)
{
	if (a->u.sa.sa_family != b->u.sa.sa_family)
		return 0;
	switch (a->u.sa.sa_family) {
	case AF_INET:
		return a->u.in4.sin_port == b->u.in4.sin_port &&
		       a->u.in4.sin_addr.s_addr == b->u.in4.sin_addr.s_addr;
	case AF_INET6:
		return a->u.in6.sin6_port == b->u.in6.sin6_port &&
		       a->u.in6.sin6_scope_id == b->u.in6.sin6_scope_id &&
		       memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr,
			      sizeof(a->u.in6.sin6_addr)) == 0;
	default:
		/* Two empty addresses are the same (none). */
		return 1;
	}
}

void cr_addr_from_sockaddr(struct cr_addr *a, const struct sockaddr *sa,
			   socklen_t len)
{
	memset(a, 0, sizeof(*a));
	if (sa == NULL || len < sizeof(sa_family_t))
		return;
	if ((sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) ||
	    (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)))
		memcpy(&a->u, sa,
		       sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
						: sizeof(struct sockaddr_in6));
	/* Anything else (or a truncated sockaddr) leaves AF_UNSPEC, which
	 * cr_addr_len() reports as 0. */
}

size_t cr_addr_key(const struct cr_addr *a, uint8_t out[19])
{
	switch (a->u.sa.sa_family) {
	case AF_INET:
		out[0] = 4;
		memcpy(out + 1, &a->u.in4.sin_addr, 4);
		memcpy(out + 5, &a->u.in4.sin_port, 2);
		return 7;
	case AF_INET6:
		out[0] = 6;
		memcpy(out + 1, &a->u.in6.sin6_addr, 16);
		memcpy(out + 17, &a->u.in6.sin6_port, 2);
		return 19;
	default:
		out[0] = 0;
		return 1;
	}
}
