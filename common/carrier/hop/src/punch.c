/* Direct paths by hole punching: see cr/punch.h. */
#include "cr/punch.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp/hop.h"
#include "cp/wire.h"
#include "cr/log.h"
#include "cr/util.h"

enum {
	PUNCH_FAST_MS = 2000,     /* first part of a round: probe often */
	PUNCH_FAST_EVERY_MS = 100,
	PUNCH_SLOW_EVERY_MS = 500,
	PUNCH_PROBE_LEN = 10,
};

struct cr_punch {
	struct event_base *base;
	struct cr_sess *s;
	struct event *timer;
	const struct cr_punch_ops *ops;
	void *arg;
	int enabled;
	int is_direct;
	struct cr_addr relay, direct;
	struct cr_addr cands[CR_PUNCH_CANDS];
	size_t n_cands, next_slot;
	uint64_t round_start_ms; /* 0: no round under way */
	uint64_t next_round_ms;  /* 0: none planned */
	uint64_t last_probe_ms;
	uint64_t direct_rx_ms;
	uint64_t relay_rx_ms;
	uint64_t nonce;
};

static void punch_arm(struct cr_punch *p, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
			      (suseconds_t)(ms % 1000) * 1000 };

	/* Only fails out of memory; the next probe or packet re-arms. */
	if (evtimer_add(p->timer, &tv) < 0)
		cr_log_warnx("hole punching: cannot arm its timer");
}

static void punch_send(struct cr_punch *p, const struct cr_addr *to,
		       enum cr_punch_kind kind, uint64_t nonce, uint64_t now)
{
	uint8_t msg[PUNCH_PROBE_LEN];
	struct cr_addr direct = *to;

	msg[0] = CP_E2E_PROBE;
	msg[1] = (uint8_t)kind;
	cp_put_u64(msg + 2, nonce);
	direct.route = 0;
	cr_sess_send_to(p->s, &direct, msg, sizeof(msg), now);
}

static void punch_probe_all(struct cr_punch *p, uint64_t now)
{
	p->nonce++;
	for (size_t i = 0; i < p->n_cands; i++)
		punch_send(p, &p->cands[i], CR_PUNCH_PROBE, p->nonce, now);
	p->last_probe_ms = now;
}

static void punch_go_direct(struct cr_punch *p, const struct cr_addr *to,
			    uint64_t now)
{
	p->is_direct = 1;
	p->direct = *to;
	p->direct.route = 0;
	p->direct_rx_ms = now;
	p->round_start_ms = 0;
	p->next_round_ms = 0;
	p->last_probe_ms = now;
	cr_sess_set_peer_addr(p->s, &p->direct);
	if (p->ops != NULL && p->ops->path != NULL)
		p->ops->path(p->arg, &p->direct);
}

static void punch_fall_back(struct cr_punch *p, uint64_t now)
{
	p->is_direct = 0;
	p->next_round_ms = now + CR_PUNCH_RETRY_MS;
	cr_sess_set_peer_addr(p->s, &p->relay);
	if (p->ops != NULL && p->ops->path != NULL)
		p->ops->path(p->arg, NULL);
}

static void punch_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct cr_punch *p = arg;
	uint64_t now = cr_now_ms();

	if (!p->enabled)
		return;
	if (p->is_direct) {
		if (now - p->direct_rx_ms > CR_PUNCH_DEAD_MS) {
			punch_fall_back(p, now);
		} else if (now - p->last_probe_ms >= CR_PUNCH_KEEPALIVE_MS) {
			punch_send(p, &p->direct, CR_PUNCH_PROBE, ++p->nonce,
				   now);
			p->last_probe_ms = now;
		}
	} else if (p->round_start_ms != 0) {
		uint64_t age = now - p->round_start_ms;
		uint64_t every = age < PUNCH_FAST_MS ? PUNCH_FAST_EVERY_MS :
						       PUNCH_SLOW_EVERY_MS;

		if (age > CR_PUNCH_ROUND_MS) {
			p->round_start_ms = 0;
			p->next_round_ms = now + CR_PUNCH_RETRY_MS;
		} else if (now - p->last_probe_ms >= every) {
			punch_probe_all(p, now);
		}
	} else if (p->next_round_ms != 0 && now >= p->next_round_ms) {
		p->next_round_ms = 0;
		cr_punch_start(p);
		return;
	}
	punch_arm(p, p->round_start_ms != 0 && now - p->round_start_ms <
							 PUNCH_FAST_MS ?
			     PUNCH_FAST_EVERY_MS :
			     PUNCH_SLOW_EVERY_MS);
}

struct cr_punch *cr_punch_new(struct event_base *base, struct cr_sess *s,
			      int enabled, const struct cr_punch_ops *ops,
			      void *arg)
{
	struct cr_punch *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->base = base;
	p->s = s;
	p->ops = ops;
	p->arg = arg;
	p->enabled = enabled;
	p->relay = *cr_sess_peer_addr(s);
	p->relay_rx_ms = cr_now_ms();
	randombytes_buf(&p->nonce, sizeof(p->nonce));
	p->timer = evtimer_new(base, punch_on_timer, p);
	if (p->timer == NULL) {
		free(p);
		return NULL;
	}
	cr_sess_set_roaming(s, 0);
	return p;
}

struct cr_punch *cr_punch_free(struct cr_punch *p)
{
	if (p != NULL) {
		event_free(p->timer);
		free(p);
	}
	return NULL;
}

int cr_punch_parse(const char *s, struct cr_addr *out)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':');
	uint64_t port;
	size_t hl;

	memset(out, 0, sizeof(*out));
	if (colon == NULL || cr_parse_u64(colon + 1, 1, 65535, &port) < 0)
		return -1;
	hl = (size_t)(colon - s);
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (host[0] == '[') {
		if (hl < 3 || host[hl - 1] != ']')
			return -1;
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &out->u.in6.sin6_addr) != 1)
			return -1;
		out->u.in6.sin6_family = AF_INET6;
		out->u.in6.sin6_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET, host, &out->u.in4.sin_addr) != 1)
		return -1;
	out->u.in4.sin_family = AF_INET;
	out->u.in4.sin_port = htons((uint16_t)port);
	return 0;
}

int cr_punch_add(struct cr_punch *p, const struct cr_addr *cand)
{
	struct cr_addr a = *cand;

	a.route = 0;
	if ((a.u.sa.sa_family != AF_INET && a.u.sa.sa_family != AF_INET6) ||
	    cand->route != 0 || cr_addr_equal(&a, &p->relay))
		return -1;
	if (a.u.sa.sa_family == AF_INET && a.u.in4.sin_port == 0)
		return -1;
	for (size_t i = 0; i < p->n_cands; i++)
		if (cr_addr_equal(&p->cands[i], &a))
			return 0;
	if (p->n_cands < CR_PUNCH_CANDS) {
		p->cands[p->n_cands++] = a;
	} else {
		/* Full: the newest (often peer-reflexive) replaces the
		 * oldest, so what probes teach us is never lost. */
		p->cands[p->next_slot] = a;
		p->next_slot = (p->next_slot + 1) % CR_PUNCH_CANDS;
	}
	return 0;
}

int cr_punch_add_str(struct cr_punch *p, const char *cand)
{
	struct cr_addr a;

	if (cr_punch_parse(cand, &a) < 0)
		return -1;
	return cr_punch_add(p, &a);
}

void cr_punch_start(struct cr_punch *p)
{
	uint64_t now = cr_now_ms();

	if (!p->enabled || p->is_direct || p->round_start_ms != 0)
		return;
	p->round_start_ms = now;
	p->next_round_ms = 0;
	punch_probe_all(p, now);
	punch_arm(p, PUNCH_FAST_EVERY_MS);
}

void cr_punch_set_relay(struct cr_punch *p, const struct cr_addr *relay)
{
	p->relay = *relay;
	cr_sess_set_peer_addr(p->s, p->is_direct ? &p->direct : relay);
}

int cr_punch_send_candidates(struct cr_punch *p, const char (*addrs)[64],
			     size_t n)
{
	uint8_t msg[3 + CR_PUNCH_CANDS * 19];
	size_t off = 3, k = 0;

	msg[0] = CP_E2E_PROBE;
	msg[1] = CR_PUNCH_CANDIDATES;
	for (size_t i = 0; i < n && k < CR_PUNCH_CANDS; i++) {
		struct cr_addr a;

		if (cr_punch_parse(addrs[i], &a) < 0)
			continue;
		if (a.u.sa.sa_family == AF_INET) {
			msg[off] = 4;
			memcpy(msg + off + 1, &a.u.in4.sin_addr, 4);
			memcpy(msg + off + 5, &a.u.in4.sin_port, 2);
			off += 7;
		} else {
			msg[off] = 6;
			memcpy(msg + off + 1, &a.u.in6.sin6_addr, 16);
			memcpy(msg + off + 17, &a.u.in6.sin6_port, 2);
			off += 19;
		}
		k++;
	}
	msg[2] = (uint8_t)k;
	return cr_sess_send(p->s, msg, off, cr_now_ms());
}

/* Adds the candidates of a CANDIDATES message; -1 when malformed. */
static int punch_parse_candidates(struct cr_punch *p, const uint8_t *msg,
				  size_t len)
{
	size_t off = 3, n;

	if (len < 3)
		return -1;
	n = msg[2];
	if (n > CR_PUNCH_CANDS)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct cr_addr a;

		memset(&a, 0, sizeof(a));
		if (off >= len)
			return -1;
		if (msg[off] == 4 && len - off >= 7) {
			a.u.in4.sin_family = AF_INET;
			memcpy(&a.u.in4.sin_addr, msg + off + 1, 4);
			memcpy(&a.u.in4.sin_port, msg + off + 5, 2);
			off += 7;
		} else if (msg[off] == 6 && len - off >= 19) {
			a.u.in6.sin6_family = AF_INET6;
			memcpy(&a.u.in6.sin6_addr, msg + off + 1, 16);
			memcpy(&a.u.in6.sin6_port, msg + off + 17, 2);
			off += 19;
		} else {
			return -1;
		}
		cr_punch_add(p, &a);
	}
	return off == len ? 0 : -1;
}

int cr_punch_input(struct cr_punch *p, const struct cr_addr *from,
		   const uint8_t *msg, size_t len)
{
	uint64_t now = cr_now_ms();
	int direct_src = from != NULL && from->route == 0;

	if (from != NULL && from->route != 0) {
		/* The relay moved (a repaired path): follow it. */
		if (!cr_addr_equal(&p->relay, from) ||
		    p->relay.route != from->route)
			cr_punch_set_relay(p, from);
		p->relay_rx_ms = now;
	} else if (direct_src && p->is_direct &&
		   cr_addr_equal(from, &p->direct)) {
		p->direct_rx_ms = now;
	}
	if (len < 2 || msg[0] != CP_E2E_PROBE)
		return 0;
	if (!p->enabled)
		return 1; /* relay only: never answered, never taken */
	switch (msg[1]) {
	case CR_PUNCH_PROBE:
		if (len != PUNCH_PROBE_LEN || !direct_src)
			break;
		/* Answer at once, from where the peer sees us: a symmetric
		 * NAT's fresh port is only ever learnt this way. */
		punch_send(p, from, CR_PUNCH_ACK, cp_get_u64(msg + 2), now);
		cr_punch_add(p, from);
		if (!p->is_direct) {
			punch_send(p, from, CR_PUNCH_PROBE, ++p->nonce, now);
			cr_punch_start(p);
		}
		break;
	case CR_PUNCH_ACK:
		if (len != PUNCH_PROBE_LEN || !direct_src)
			break;
		if (!p->is_direct)
			punch_go_direct(p, from, now);
		break;
	case CR_PUNCH_CANDIDATES:
		if (punch_parse_candidates(p, msg, len) == 0 && !p->is_direct) {
			if (p->round_start_ms != 0)
				punch_probe_all(p, now);
			else
				cr_punch_start(p);
		}
		break;
	default:
		break;
	}
	return 1;
}

const struct cr_addr *cr_punch_direct(const struct cr_punch *p)
{
	return p->is_direct ? &p->direct : NULL;
}

uint64_t cr_punch_path_rx_ms(const struct cr_punch *p)
{
	return p->is_direct ? p->direct_rx_ms : p->relay_rx_ms;
}

const struct cr_addr *cr_punch_relay(const struct cr_punch *p)
{
	return &p->relay;
}

void cr_punch_local_candidates(int fd, char (*out)[64], size_t *n,
			       size_t max)
{
	struct ifaddrs *ifa, *it;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	uint16_t port;

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    getifaddrs(&ifa) < 0)
		return;
	port = ss.ss_family == AF_INET6 ?
		       ((struct sockaddr_in6 *)(void *)&ss)->sin6_port :
		       ((struct sockaddr_in *)(void *)&ss)->sin_port;
	for (it = ifa; it != NULL && *n < max; it = it->ifa_next) {
		struct cr_addr c;
		char s[CR_ADDR_STRMAX];
		int dup = 0;

		if (it->ifa_addr == NULL || it->ifa_addr->sa_family != AF_INET ||
		    (it->ifa_flags & IFF_LOOPBACK) || !(it->ifa_flags & IFF_UP))
			continue;
		memset(&c, 0, sizeof(c));
		c.u.in4 = *(struct sockaddr_in *)(void *)it->ifa_addr;
		c.u.in4.sin_port = port;
		cr_addr_format(&c, s);
		for (size_t i = 0; i < *n; i++)
			dup |= strcmp(out[i], s) == 0;
		if (!dup)
			snprintf(out[(*n)++], 64, "%s", s);
	}
	freeifaddrs(ifa);
}
