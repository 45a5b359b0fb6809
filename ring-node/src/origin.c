/*
 * Which origins the shard cache fetches from, and which addresses it
 * connects to (rn/origin.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ar/cachereq.h"
#include "rn/origin.h"

/* Strict on purpose: what is matched here must be what libcurl fetches. */
int rn_origin_split(const char *url, struct rn_origin_rule *r)
{
	const char *p, *host, *hend, *auth_end;
	size_t hn;

	memset(r, 0, sizeof(*r));
	if (strncmp(url, "http://", 7) == 0) {
		memcpy(r->scheme, "http", sizeof("http"));
		r->port = 80;
		p = url + 7;
	} else if (strncmp(url, "https://", 8) == 0) {
		memcpy(r->scheme, "https", sizeof("https"));
		r->port = 443;
		p = url + 8;
	} else {
		return -1;
	}
	auth_end = p + strcspn(p, "/");
	if (memchr(p, '@', (size_t)(auth_end - p)) != NULL)
		return -1;
	host = p;
	if (*host == '[') {
		hend = memchr(host, ']', (size_t)(auth_end - host));
		if (hend == NULL)
			return -1;
		host++;
		p = hend + 1;
	} else {
		hend = host + strcspn(host, ":/");
		if (hend > auth_end)
			hend = auth_end;
		p = hend;
	}
	hn = (size_t)(hend - host);
	if (hn == 0 || hn >= sizeof(r->host))
		return -1;
	for (size_t i = 0; i < hn; i++)
		r->host[i] = (char)tolower((unsigned char)host[i]);
	if (*p == ':') {
		char *e;
		unsigned long port;

		if (!isdigit((unsigned char)p[1]))
			return -1;
		port = strtoul(p + 1, &e, 10);
		if (port == 0 || port > 65535 || e != auth_end)
			return -1;
		r->port = (unsigned)port;
	} else if (p != auth_end) {
		return -1;
	}
	p = auth_end;
	if (strlen(p) >= sizeof(r->path) || strpbrk(p, "%\\?#") != NULL)
		return -1;
	memcpy(r->path, p, strlen(p) + 1);
	for (size_t n = strlen(r->path); n > 0 && r->path[n - 1] == '/'; n--)
		r->path[n - 1] = '\0';
	for (const char *s = r->path; (s = strchr(s, '/')) != NULL; s++)
		if (s[1] == '/' || (s[1] == '.' && (s[2] == '/' || s[2] == '\0' ||
						    (s[2] == '.' &&
						     (s[3] == '/' || s[3] == '\0')))))
			return -1;
	if (inet_pton(AF_INET6, r->host, r->ip) == 1) {
		r->literal = 1;
	} else {
		struct in_addr a4;

		if (inet_pton(AF_INET, r->host, &a4) == 1) {
			memset(r->ip, 0, 10);
			r->ip[10] = r->ip[11] = 0xff;
			memcpy(r->ip + 12, &a4, 4);
			r->literal = 1;
		}
	}
	return 0;
}

int rn_origins_parse(const char *list, struct rn_origins *o,
		     struct cr_error **err)
{
	const char *p = list;

	memset(o, 0, sizeof(*o));
	while (p != NULL && *p != '\0') {
		size_t n = strcspn(p, ",");
		char one[AR_CACHEREQ_ORIGIN_MAX + 1];
		struct rn_origin_rule *nr;

		if (n > 0) {
			if (n >= sizeof(one)) {
				rn_origins_free(o);
				return cr_error_set(err, EINVAL,
						    "--cache-origins: an origin "
						    "longer than %d bytes",
						    AR_CACHEREQ_ORIGIN_MAX);
			}
			memcpy(one, p, n);
			one[n] = '\0';
			nr = realloc(o->v, (o->n + 1) * sizeof(*nr));
			if (nr == NULL) {
				rn_origins_free(o);
				return cr_error_set(err, ENOMEM, "out of memory");
			}
			o->v = nr;
			if (rn_origin_split(one, &o->v[o->n]) < 0) {
				rn_origins_free(o);
				return cr_error_set(err, EINVAL,
						    "--cache-origins: %s is not "
						    "http(s)://HOST[:PORT][/PATH] "
						    "(no user info, %%-escapes "
						    "or dot segments)", one);
			}
			o->n++;
		}
		p += n + (p[n] == ',');
	}
	return 0;
}

void rn_origins_free(struct rn_origins *o)
{
	free(o->v);
	o->v = NULL;
	o->n = 0;
}

const struct rn_origin_rule *rn_origins_match(const struct rn_origins *o,
					      const char *origin)
{
	struct rn_origin_rule u;

	if (o->n == 0 || rn_origin_split(origin, &u) < 0)
		return NULL;
	for (size_t i = 0; i < o->n; i++) {
		const struct rn_origin_rule *r = &o->v[i];
		size_t pn = strlen(r->path);

		if (strcmp(u.scheme, r->scheme) == 0 &&
		    strcmp(u.host, r->host) == 0 && u.port == r->port &&
		    strncmp(u.path, r->path, pn) == 0 &&
		    (u.path[pn] == '\0' || u.path[pn] == '/'))
			return r;
	}
	return NULL;
}

/* 1 when the address (16 bytes, IPv4 mapped) is not one of the public
 * internet: loopback, private, shared, link-local, unspecified,
 * multicast, reserved, or a translation of one of those. */
int rn_addr_internal(const uint8_t a[16])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b };
	static const uint8_t zero[12];
	uint8_t v4[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *v = a + 12;

	if (memcmp(a, zero, 12) == 0)
		return 1; /* ::, ::1 and the deprecated IPv4-compatible ones */
	if (a[0] == 0x20 && a[1] == 0x02) { /* 6to4: the IPv4 inside */
		memcpy(v4 + 12, a + 2, 4);
		return rn_addr_internal(v4);
	}
	if (memcmp(a, mapped, 12) != 0 && memcmp(a, nat64, 12) != 0)
		return (a[0] & 0xfe) == 0xfc ||		     /* unique local */
		       (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) || /* link-local */
		       (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) || /* site-local */
		       a[0] == 0xff;				     /* multicast */
	return v[0] == 0 || v[0] == 10 || v[0] == 127 ||
	       (v[0] == 100 && (v[1] & 0xc0) == 64) ||	/* shared (CGN) */
	       (v[0] == 169 && v[1] == 254) ||		/* link-local */
	       (v[0] == 172 && (v[1] & 0xf0) == 16) ||
	       (v[0] == 192 && v[1] == 0 && v[2] == 0) ||
	       (v[0] == 192 && v[1] == 168) ||
	       (v[0] == 198 && (v[1] & 0xfe) == 18) ||	/* benchmarking */
	       v[0] >= 224;				/* multicast, reserved */
}

int rn_origin_addr_ok(const struct rn_origin_rule *r, const struct sockaddr *sa)
{
	uint8_t ip[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (sa->sa_family == AF_INET)
		memcpy(ip + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	else if (sa->sa_family == AF_INET6)
		memcpy(ip, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	else
		return 0;
	return !rn_addr_internal(ip) ||
	       (r->literal && memcmp(ip, r->ip, 16) == 0);
}
