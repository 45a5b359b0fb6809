/*
 * attack: a hostile hop-session client for the attack integration tests.
 * It holds real sessions with a ring node (built on common/, with a key of
 * its own) and abuses what an authenticated peer may ask for.
 *
 *   attack routes KEY NODE.pub HOST:PORT DEVICE_ID SECONDS
 *       one vendor session asks for relay routes to the device for
 *       SECONDS, each request with 16 candidates (some malformed), 64 in
 *       flight and at most 64 every 5 ms; prints "routes: sent S granted G limited L other O"
 *   attack sessions KEY NODE.pub HOST:PORT COUNT
 *       COUNT hosts with the same key (each its own instance and socket)
 *       each bring up a session and ping; prints "sessions: up U of COUNT"
 *   attack reflect KEY DEVICE_KEY NODE.pub HOST:PORT SPOOF_IP COUNT
 *       a device session (DEVICE_KEY) publishes a maximal presence record
 *       (8 long addresses, 8 attached nodes); then a vendor session
 *       (KEY) from 127.0.0.1 sends COUNT lookups of that device from a
 *       socket on SPOOF_IP instead (authentic datagrams of the
 *       session from a second address, as an on-path attacker forwarding
 *       them with a spoofed source would); what arrives on SPOOF_IP is
 *       counted, never answered; prints "reflect: sent S received R"
 *
 * Exit 1 when the node cannot be reached (no session within 10 s).
 */
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cp/hop.h"
#include "cp/limits.h"
#include "cr/presence.h"
#include "cr/session.h"
#include "cr/udp.h"
#include "cr/util.h"

struct peer {
	int fd;       /* the session's own socket */
	int spoof_fd; /* reflect: the second address, or -1 */
	int use_spoof;
	struct cr_sess_host *host;
	struct cr_sess *sess;
	int up;
	uint64_t replies, granted, limited, other, acks, lookups;
};

static void a_send(void *ctx, struct cr_sess *s, const struct cr_addr *to,
		   const uint8_t *buf, size_t len)
{
	struct peer *p = ctx;

	cr_udp_send(p->use_spoof ? p->spoof_fd : p->fd, to, buf, len);
}

static int a_accept(void *ctx, const struct cr_id *peer,
		    const uint8_t pk[CR_PKLEN], const struct cr_addr *from,
		    const uint8_t *hello, size_t hello_len, uint8_t *reply,
		    size_t *reply_len, void **user)
{
	return -1;
}

static void a_up(void *ctx, struct cr_sess *s, const uint8_t *reply,
		 size_t reply_len, int rekey)
{
	((struct peer *)ctx)->up = 1;
}

static void a_recv(void *ctx, struct cr_sess *s, const uint8_t *msg,
		   size_t len)
{
	struct peer *p = ctx;
	Carrier__Hop *m = cp_hop_unpack(msg, len);

	if (m == NULL)
		return;
	p->replies++;
	if (m->msg_case == CARRIER__HOP__MSG_CONNECT_REPLY)
		p->granted++;
	else if (m->msg_case == CARRIER__HOP__MSG_ACK)
		p->acks++;
	else if (m->msg_case == CARRIER__HOP__MSG_LOOKUP_REPLY)
		p->lookups++;
	else if (m->msg_case == CARRIER__HOP__MSG_ERROR &&
		 m->error->code == CARRIER__ERROR__CODE__LIMIT)
		p->limited++;
	else
		p->other++;
	cp_hop_free(m);
}

static void a_down(void *ctx, struct cr_sess *s, enum cr_sess_down why)
{
	struct peer *p = ctx;

	p->up = 0;
	p->sess = NULL;
}

static const struct cr_sess_ops a_ops = {
	.send = a_send,
	.accept = a_accept,
	.up = a_up,
	.recv = a_recv,
	.down = a_down,
};

static struct cr_udp_batch batch;

static void pump(struct peer *peers, size_t n, int ms)
{
	struct pollfd pfd[256];
	size_t k = n < 256 ? n : 256;

	for (size_t i = 0; i < k; i++)
		pfd[i] = (struct pollfd){ .fd = peers[i].fd, .events = POLLIN };
	poll(pfd, k, ms);
	for (size_t i = 0; i < n; i++) {
		int got;

		while ((got = cr_udp_recv(peers[i].fd, &batch)) > 0)
			for (size_t j = 0; j < batch.n; j++)
				cr_sess_host_input(peers[i].host, &batch.from[j],
						   batch.buf[j], batch.len[j],
						   cr_now_ms());
		cr_sess_host_tick(peers[i].host, cr_now_ms());
	}
}

static int hop_send(struct peer *p, Carrier__Hop *m)
{
	uint8_t buf[CP_MSG_MAX];
	long len = cp_hop_pack(m, buf, sizeof(buf));

	if (len < 0 || p->sess == NULL)
		return -1;
	return cr_sess_send(p->sess, buf, (size_t)len, cr_now_ms());
}

static int ping(struct peer *p, uint64_t nonce)
{
	Carrier__Hop m = CARRIER__HOP__INIT;
	Carrier__Ping pi = CARRIER__PING__INIT;

	pi.nonce = nonce;
	m.req_id = nonce;
	m.msg_case = CARRIER__HOP__MSG_PING;
	m.ping = &pi;
	return hop_send(p, &m);
}

/* Opens peer p: a socket on ip, a host with kp, a session to the node. */
static int peer_open(struct peer *p, const struct cr_keypair *kp,
		     const uint8_t node_pk[CR_PKLEN], const struct cr_addr *to,
		     const char *ip)
{
	struct cr_error *err = NULL;
	struct cr_addr src;
	char src_s[64];

	memset(p, 0, sizeof(*p));
	p->spoof_fd = -1;
	snprintf(src_s, sizeof(src_s), "%s:0", ip);
	if (cr_addr_parse(src_s, &src, &err) < 0 ||
	    (p->fd = cr_udp_open(&src, &err)) < 0 ||
	    (p->host = cr_sess_host_new(kp, NULL, &a_ops, p, &err)) == NULL ||
	    (p->sess = cr_sess_connect(p->host, node_pk, CR_ID_NODE, to, NULL,
				       0, cr_now_ms(), &err)) == NULL) {
		fprintf(stderr, "attack: %s\n", cr_error_msg(err));
		return -1;
	}
	return 0;
}

static int wait_up(struct peer *peers, size_t n, uint64_t ms)
{
	uint64_t end = cr_now_ms() + ms;
	size_t up = 0;

	while (cr_now_ms() < end) {
		up = 0;
		for (size_t i = 0; i < n; i++)
			up += peers[i].up;
		if (up == n)
			break;
		pump(peers, n, 20);
	}
	return (int)up;
}

static int do_routes(struct peer *p, const struct cr_id *dev, uint64_t secs)
{
	static const char *const junk[] = {
		"127.0.0.1:1", "127.0.0.2:2", "not an address", "10.0.0.1:3",
		"[::1]:4", "999.1.1.1:5", "127.0.0.3:6", "127.0.0.4:70000",
		"127.0.0.5:7", "127.0.0.6:8", "127.0.0.7:9", "127.0.0.8:10",
		"127.0.0.9:11", "127.0.0.10:12", "127.0.0.11:13", "x:y",
	};
	Carrier__ConnectRequest cr = CARRIER__CONNECT_REQUEST__INIT;
	Carrier__Hop m = CARRIER__HOP__INIT;
	uint64_t sent = 0, end, stop = cr_now_ms() + secs * 1000;

	cr.device_id.data = (uint8_t *)(uintptr_t)dev->hash;
	cr.device_id.len = CR_ID_HASHLEN;
	cr.candidates = (char **)(uintptr_t)junk;
	cr.n_candidates = sizeof(junk) / sizeof(junk[0]);
	m.msg_case = CARRIER__HOP__MSG_CONNECT;
	m.connect = &cr;
	while (cr_now_ms() < stop) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };

		while (sent - p->replies < 64) {
			m.req_id = ++sent;
			if (hop_send(p, &m) < 0)
				return 1;
		}
		pump(p, 1, 50);
		/* At most 64 every 5 ms (some 10^4 a second): a flood that
		 * made the old node hold 10^5 routes in 10 s, without
		 * taking a shared machine's CPU. */
		nanosleep(&ts, NULL);
	}
	/* The replies still on their way. */
	end = cr_now_ms() + 2000;
	while (p->replies < sent && cr_now_ms() < end)
		pump(p, 1, 50);
	printf("routes: sent %llu granted %llu limited %llu other %llu\n",
	       (unsigned long long)sent,
	       (unsigned long long)p->granted, (unsigned long long)p->limited,
	       (unsigned long long)p->other);
	return 0;
}

/* The device's session publishes a record as large as the format allows;
 * 0 once the node acknowledged it. */
static int publish_max(struct peer *d, const struct cr_keypair *dk,
		       const uint8_t node_pk[CR_PKLEN])
{
	Carrier__PresencePublish pp = CARRIER__PRESENCE_PUBLISH__INIT;
	Carrier__Hop m = CARRIER__HOP__INIT;
	struct cr_error *err = NULL;
	struct cr_presence rec;
	Carrier__SignedPresence *sp;
	uint8_t blob[CP_PRESENCE_MAX];
	size_t len;
	uint64_t end;
	int rc;

	memset(&rec, 0, sizeof(rec));
	memcpy(rec.device_pk, dk->pk, CR_PKLEN);
	rec.seq = 1;
	rec.issued_unix = (uint64_t)time(NULL);
	rec.expires_unix = rec.issued_unix + 3600;
	rec.n_addrs = CP_ADDRS_MAX;
	for (size_t i = 0; i < CP_ADDRS_MAX; i++)
		snprintf(rec.addrs[i], sizeof(rec.addrs[i]),
			 "[fd00:1111:2222:3333:4444:5555:6666:%04zx]:65535", i);
	rec.n_attached = CP_ATTACHED_MAX;
	for (size_t i = 0; i < CP_ATTACHED_MAX; i++)
		memcpy(rec.attached[i], node_pk, CR_PKLEN);
	if (cr_presence_sign(dk, &rec, blob, sizeof(blob), &len, &err) < 0) {
		fprintf(stderr, "attack: %s\n", cr_error_msg(err));
		return -1;
	}
	sp = carrier__signed_presence__unpack(NULL, len, blob);
	if (sp == NULL)
		return -1;
	pp.record = sp;
	m.req_id = 1;
	m.msg_case = CARRIER__HOP__MSG_PUBLISH;
	m.publish = &pp;
	rc = hop_send(d, &m);
	carrier__signed_presence__free_unpacked(sp, NULL);
	if (rc < 0)
		return -1;
	end = cr_now_ms() + 5000;
	while (d->replies == 0 && cr_now_ms() < end)
		pump(d, 1, 20);
	return d->acks > 0 ? 0 : -1;
}

static int do_reflect(struct peer *p, const struct cr_id *dev,
		      const char *spoof_ip, uint64_t count)
{
	Carrier__LookupRequest lr = CARRIER__LOOKUP_REQUEST__INIT;
	Carrier__Hop m = CARRIER__HOP__INIT;
	struct cr_error *err = NULL;
	struct cr_udp_batch *b = calloc(1, sizeof(*b));
	struct cr_addr src;
	uint64_t sent_bytes = 0, recv_bytes = 0, end;
	char src_s[64];

	snprintf(src_s, sizeof(src_s), "%s:0", spoof_ip);
	if (b == NULL || cr_addr_parse(src_s, &src, &err) < 0 ||
	    (p->spoof_fd = cr_udp_open(&src, &err)) < 0) {
		fprintf(stderr, "attack: %s\n",
			err != NULL ? cr_error_msg(err) : "out of memory");
		return 1;
	}
	lr.device_id.data = (uint8_t *)(uintptr_t)dev->hash;
	lr.device_id.len = CR_ID_HASHLEN;
	m.msg_case = CARRIER__HOP__MSG_LOOKUP;
	m.lookup = &lr;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t before = cr_sess_host_stats(p->host)->tx_bytes;
		struct pollfd pfd = { .fd = p->spoof_fd, .events = POLLIN };
		int got;

		m.req_id = i + 1;
		p->use_spoof = 1;
		if (hop_send(p, &m) < 0)
			return 1;
		p->use_spoof = 0;
		sent_bytes += cr_sess_host_stats(p->host)->tx_bytes - before;
		/* Paced: one lookup, then what comes back within 20 ms. */
		end = cr_now_ms() + 20;
		while (cr_now_ms() < end) {
			poll(&pfd, 1, 5);
			while ((got = cr_udp_recv(p->spoof_fd, b)) > 0)
				for (size_t j = 0; j < b->n; j++)
					recv_bytes += b->len[j];
		}
	}
	/* Stragglers. */
	end = cr_now_ms() + 500;
	while (cr_now_ms() < end) {
		struct pollfd pfd = { .fd = p->spoof_fd, .events = POLLIN };

		poll(&pfd, 1, 20);
		while (cr_udp_recv(p->spoof_fd, b) > 0)
			for (size_t j = 0; j < b->n; j++)
				recv_bytes += b->len[j];
	}
	printf("reflect: sent %llu received %llu\n",
	       (unsigned long long)sent_bytes, (unsigned long long)recv_bytes);
	fflush(stdout);

	/* Then a real move: the session goes on from SPOOF_IP and takes in
	 * what arrives there (it answers the node's path challenge), as a
	 * peer whose address changed does.  Every lookup is answered. */
	p->lookups = 0;
	p->use_spoof = 1;
	for (uint64_t i = 0; i < 20; i++) {
		m.req_id = count + i + 1;
		if (hop_send(p, &m) < 0)
			return 1;
		end = cr_now_ms() + 100;
		while (cr_now_ms() < end) {
			struct pollfd pfd = { .fd = p->spoof_fd,
					      .events = POLLIN };

			poll(&pfd, 1, 10);
			while (cr_udp_recv(p->spoof_fd, b) > 0)
				for (size_t j = 0; j < b->n; j++)
					cr_sess_host_input(p->host, &b->from[j],
							   b->buf[j], b->len[j],
							   cr_now_ms());
		}
	}
	printf("moved: replies %llu of 20\n", (unsigned long long)p->lookups);
	free(b);
	return 0;
}

int main(int argc, char **argv)
{
	struct cr_error *err = NULL;
	struct cr_keypair kp;
	struct cr_addr to;
	struct cr_id dev;
	uint8_t node_pk[CR_PKLEN];
	enum cr_id_type t;
	uint64_t count = 0;
	const char *mode = argc > 1 ? argv[1] : "";
	int ok_args;

	ok_args = (strcmp(mode, "routes") == 0 && argc == 7 &&
		   cr_parse_u64(argv[6], 1, 3600, &count) == 0) ||
		  (strcmp(mode, "sessions") == 0 && argc == 6 &&
		   cr_parse_u64(argv[5], 1, 256, &count) == 0) ||
		  (strcmp(mode, "reflect") == 0 && argc == 8 &&
		   cr_parse_u64(argv[7], 1, 100000, &count) == 0);
	/* reflect: the device key comes second, the node after it. */
	int off = strcmp(mode, "reflect") == 0;
	if (!ok_args) {
		fprintf(stderr,
			"usage: attack routes KEY NODE.pub HOST:PORT DEVICE_ID SECONDS\n"
			"       attack sessions KEY NODE.pub HOST:PORT COUNT\n"
			"       attack reflect KEY DEVICE_KEY NODE.pub HOST:PORT "
			"SPOOF_IP COUNT\n");
		return 2;
	}
	if (sodium_init() < 0 || cr_keypair_load(argv[2], &kp, &err) < 0 ||
	    cr_pubkey_load(argv[3 + off], &t, node_pk, &err) < 0 ||
	    cr_addr_parse(argv[4 + off], &to, &err) < 0 ||
	    (strcmp(mode, "routes") == 0 &&
	     cr_id_parse(argv[5], &dev, &err) < 0)) {
		fprintf(stderr, "attack: %s\n", cr_error_msg(err));
		return 1;
	}
	if (strcmp(mode, "sessions") == 0) {
		struct peer *peers = calloc(count, sizeof(*peers));
		int up;

		if (peers == NULL)
			return 1;
		for (uint64_t i = 0; i < count; i++)
			if (peer_open(&peers[i], &kp, node_pk, &to,
				      "127.0.0.1") < 0)
				return 1;
		up = wait_up(peers, count, 10000);
		/* The node confirms each session on its first DATA. */
		for (uint64_t i = 0; i < count; i++)
			ping(&peers[i], i + 1);
		for (int i = 0; i < 50; i++)
			pump(peers, count, 20);
		printf("sessions: up %d of %llu\n", up,
		       (unsigned long long)count);
		fflush(stdout);
		/* Held until killed, so that the node's count can be read. */
		for (;;)
			pump(peers, count, 1000);
	}
	{
		struct peer p;

		if (peer_open(&p, &kp, node_pk, &to, "127.0.0.1") < 0)
			return 1;
		if (wait_up(&p, 1, 10000) != 1) {
			fprintf(stderr, "attack: no session with the node in "
					"10 s\n");
			return 1;
		}
		if (strcmp(mode, "routes") == 0) {
			int rc = do_routes(&p, &dev, count);

			cr_sess_host_free(p.host);
			return rc;
		}
		struct peer d = { .fd = -1 };
		int rc;

		{
			struct cr_keypair dk;

			if (cr_keypair_load(argv[3], &dk, &err) < 0 ||
			    dk.type != CR_ID_DEVICE) {
				fprintf(stderr, "attack: %s\n",
					err != NULL ? cr_error_msg(err) :
						      "not a device key");
				return 1;
			}
			cr_id_from_pk(CR_ID_DEVICE, dk.pk, &dev);
			if (peer_open(&d, &dk, node_pk, &to, "127.0.0.1") < 0 ||
			    wait_up(&d, 1, 10000) != 1 ||
			    publish_max(&d, &dk, node_pk) < 0) {
				fprintf(stderr, "attack: the device's record "
						"was not stored\n");
				return 1;
			}
		}
		/* A first datagram from the real address: the node confirms
		 * the session there. */
		ping(&p, 1);
		pump(&p, 1, 200);
		rc = do_reflect(&p, &dev, argv[6], count);
		cr_sess_host_free(p.host);
		cr_sess_host_free(d.host);
		return rc;
	}
}
