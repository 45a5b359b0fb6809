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
 *   attack presence RING NODE_INDEX N [--src IP] [--ttl SECONDS]
 *                   [--replicas R] [--home yes|no] [--attached]
 *                   [--key FILE] [--save FILE]
 *       fills the presence store of the ring's node NODE_INDEX: N device
 *       keys each open a session from IP (default 127.0.0.1), publish a
 *       signed record and wait for the node's answer.  Fresh throwaway
 *       keys unless --key (one device, N publishes with rising sequence
 *       numbers; --save FILE keeps the first fresh key there, for
 *       publishing again with --key).  --home no picks keys whose home
 *       set (the first R of the ranking over every node) leaves the node
 *       out, --home yes keys whose set holds it; --attached names the
 *       node as attached in the record; --ttl is how far ahead the record
 *       expires (default 600).  Prints one line per publish, "ID ack" or
 *       "ID error CODE MESSAGE" or "ID timeout", then "presence: acked A
 *       refused E timeouts T".
 *
 * The session plumbing is toolsess.h's.  Exit 1 when the node cannot be
 * reached (no session within 10 s; presence counts a timeout instead) or
 * on a setup failure, 2 on a usage error.
 */
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cp/hop.h"
#include "cp/limits.h"
#include "cr/presence.h"
#include "cr/ring.h"
#include "cr/session.h"
#include "cr/udp.h"
#include "cr/util.h"
#include "toolsess.h"

/* What came back on a session, by kind. */
struct counts {
	uint64_t replies, granted, limited, other, acks, lookups;
};

static void count_reply(struct ts_peer *p, const Carrier__Hop *m)
{
	struct counts *c = p->user;

	c->replies++;
	if (m->msg_case == CARRIER__HOP__MSG_CONNECT_REPLY)
		c->granted++;
	else if (m->msg_case == CARRIER__HOP__MSG_ACK)
		c->acks++;
	else if (m->msg_case == CARRIER__HOP__MSG_LOOKUP_REPLY)
		c->lookups++;
	else if (m->msg_case == CARRIER__HOP__MSG_ERROR &&
		 m->error->code == CARRIER__ERROR__CODE__LIMIT)
		c->limited++;
	else
		c->other++;
}

/* Opens peer p: a socket on 127.0.0.1, a host with kp, a session to the
 * node; what comes back is counted in c (NULL: not read). */
static int peer_open(struct ts_peer *p, struct cr_udp_batch *rx,
		     struct counts *c, const struct cr_keypair *kp,
		     const uint8_t node_pk[CR_PKLEN], const struct cr_addr *to)
{
	struct cr_error *err = NULL;

	if (ts_peer_open(p, "127.0.0.1", rx, &err) < 0)
		goto fail;
	if (c != NULL) {
		p->on_msg = count_reply;
		p->user = c;
	}
	if (ts_peer_connect(p, kp, node_pk, CR_ID_NODE, to, &err) < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "attack: %s\n", cr_error_msg(err));
	return -1;
}

static int do_routes(struct ts_peer *p, const struct cr_id *dev,
		     uint64_t secs)
{
	struct counts *c = p->user;
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

		while (sent - c->replies < 64) {
			m.req_id = ++sent;
			if (ts_send(p, &m) < 0)
				return 1;
		}
		ts_pump(p, 1, 50);
		/* At most 64 every 5 ms (some 10^4 a second): a flood that
		 * made the old node hold 10^5 routes in 10 s, without
		 * taking a shared machine's CPU. */
		nanosleep(&ts, NULL);
	}
	/* The replies still on their way. */
	end = cr_now_ms() + 2000;
	while (c->replies < sent && cr_now_ms() < end)
		ts_pump(p, 1, 50);
	printf("routes: sent %llu granted %llu limited %llu other %llu\n",
	       (unsigned long long)sent,
	       (unsigned long long)c->granted, (unsigned long long)c->limited,
	       (unsigned long long)c->other);
	return 0;
}

/* The device's session publishes a record as large as the format allows;
 * 0 once the node acknowledged it. */
static int publish_max(struct ts_peer *d, const struct cr_keypair *dk,
		       const uint8_t node_pk[CR_PKLEN])
{
	struct counts *c = d->user;
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
	rc = ts_send(d, &m);
	carrier__signed_presence__free_unpacked(sp, NULL);
	if (rc < 0)
		return -1;
	end = cr_now_ms() + 5000;
	while (c->replies == 0 && cr_now_ms() < end)
		ts_pump(d, 1, 20);
	return c->acks > 0 ? 0 : -1;
}

/* What arrives on fd within ms, in bytes; never answered. */
static uint64_t drain(int fd, struct cr_udp_batch *b, int ms)
{
	uint64_t bytes = 0, end = cr_now_ms() + (uint64_t)ms;

	while (cr_now_ms() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		poll(&pfd, 1, 5);
		while (cr_udp_recv(fd, b) > 0)
			for (size_t j = 0; j < b->n; j++)
				bytes += b->len[j];
	}
	return bytes;
}

static int do_reflect(struct ts_peer *p, const struct cr_id *dev,
		      const char *spoof_ip, uint64_t count)
{
	Carrier__LookupRequest lr = CARRIER__LOOKUP_REQUEST__INIT;
	Carrier__Hop m = CARRIER__HOP__INIT;
	struct counts *c = p->user;
	struct cr_error *err = NULL;
	struct cr_addr src;
	uint64_t sent_bytes = 0, recv_bytes = 0, end;
	char src_s[CR_ADDR_STRMAX + 8];
	int spoof;

	snprintf(src_s, sizeof(src_s), "%s:0", spoof_ip);
	if (cr_addr_parse(src_s, &src, &err) < 0 ||
	    (spoof = cr_udp_open(&src, &err)) < 0) {
		fprintf(stderr, "attack: %s\n", cr_error_msg(err));
		return 1;
	}
	lr.device_id.data = (uint8_t *)(uintptr_t)dev->hash;
	lr.device_id.len = CR_ID_HASHLEN;
	m.msg_case = CARRIER__HOP__MSG_LOOKUP;
	m.lookup = &lr;
	/* The session's datagrams leave from SPOOF_IP; what the node sends
	 * there is counted, never fed to the session. */
	p->out_fd = spoof;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t before = cr_sess_host_stats(p->host)->tx_bytes;

		m.req_id = i + 1;
		if (ts_send(p, &m) < 0)
			return 1;
		sent_bytes += cr_sess_host_stats(p->host)->tx_bytes - before;
		/* Paced: one lookup, then what comes back within 20 ms. */
		recv_bytes += drain(spoof, p->rx, 20);
	}
	/* Stragglers. */
	recv_bytes += drain(spoof, p->rx, 500);
	printf("reflect: sent %llu received %llu\n",
	       (unsigned long long)sent_bytes, (unsigned long long)recv_bytes);
	fflush(stdout);

	/* Then a real move: the session goes on from SPOOF_IP and takes in
	 * what arrives there (it answers the node's path challenge), as a
	 * peer whose address changed does.  Every lookup is answered. */
	close(p->fd);
	p->fd = spoof;
	p->out_fd = -1;
	c->lookups = 0;
	for (uint64_t i = 0; i < 20; i++) {
		m.req_id = count + i + 1;
		if (ts_send(p, &m) < 0)
			return 1;
		end = cr_now_ms() + 100;
		while (cr_now_ms() < end)
			ts_pump(p, 1, 10);
	}
	printf("moved: replies %llu of 20\n", (unsigned long long)c->lookups);
	return 0;
}

/* attack presence: what to publish, and where from. */
struct pres_opts {
	const char *ring_path, *src_ip, *home, *key, *save;
	uint64_t node, n, ttl, replicas;
	int attached;
};

/* The node's answer to the publish (req_id 1). */
struct pres_reply {
	int done; /* 1 ack, 2 error */
	char msg[300];
};

static void pres_reply(struct ts_peer *p, const Carrier__Hop *m)
{
	struct pres_reply *r = p->user;

	if (m->msg_case == CARRIER__HOP__MSG_ACK && m->req_id == 1) {
		r->done = 1;
	} else if (m->msg_case == CARRIER__HOP__MSG_ERROR && m->req_id == 1) {
		r->done = 2;
		snprintf(r->msg, sizeof(r->msg), "%d %s", (int)m->error->code,
			 m->error->message != NULL ? m->error->message : "");
	}
}

static int in_home(const struct cr_ring *r, const struct cr_id *id, int node,
		   size_t replicas)
{
	size_t rank[64], n = cr_ring_rank(r, id->hash, NULL, rank,
					   replicas < 64 ? replicas : 64);

	for (size_t i = 0; i < n; i++)
		if ((int)rank[i] == node)
			return 1;
	return 0;
}

/* argv[0] is "presence"; 0, or -1 on a usage error. */
static int pres_parse(int argc, char **argv, struct pres_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->src_ip = "127.0.0.1";
	o->ttl = 600;
	if (argc < 4 || cr_parse_u64(argv[2], 0, 1000, &o->node) < 0 ||
	    cr_parse_u64(argv[3], 1, 1000000, &o->n) < 0)
		return -1;
	o->ring_path = argv[1];
	for (int i = 4; i < argc; i++) {
		if (strcmp(argv[i], "--attached") == 0)
			o->attached = 1;
		else if (i + 1 >= argc)
			return -1;
		else if (strcmp(argv[i], "--src") == 0)
			o->src_ip = argv[++i];
		else if (strcmp(argv[i], "--ttl") == 0) {
			if (cr_parse_u64(argv[++i], 1, UINT64_MAX / 2, &o->ttl) < 0)
				return -1;
		} else if (strcmp(argv[i], "--replicas") == 0) {
			if (cr_parse_u64(argv[++i], 1, 64, &o->replicas) < 0)
				return -1;
		} else if (strcmp(argv[i], "--home") == 0)
			o->home = argv[++i];
		else if (strcmp(argv[i], "--key") == 0)
			o->key = argv[++i];
		else if (strcmp(argv[i], "--save") == 0)
			o->save = argv[++i];
		else
			return -1;
	}
	return 0;
}

/* The device key of publish k: --key, or a fresh one (homed as --home
 * asks, the first kept in --save). */
static int pres_key(const struct pres_opts *o, const struct cr_ring *ring,
		    uint64_t replicas, uint64_t k, struct cr_keypair *kp,
		    struct cr_error **err)
{
	struct cr_id id;

	if (o->key != NULL)
		return cr_keypair_load(o->key, kp, err);
	do {
		cr_keypair_generate(CR_ID_DEVICE, kp);
		cr_id_from_pk(CR_ID_DEVICE, kp->pk, &id);
	} while (o->home != NULL &&
		 in_home(ring, &id, (int)o->node, replicas) !=
			 (strcmp(o->home, "yes") == 0));
	if (o->save != NULL && k == 0)
		return cr_keypair_save(kp, o->save, err);
	return 0;
}

/* Publishes a signed record of kp's device on p's session (up); the
 * answer lands in p's pres_reply.  -1 when no record could be made. */
static int pres_publish(struct ts_peer *p, const struct pres_opts *o,
			 const struct cr_ring *ring, const struct cr_keypair *kp,
			 uint64_t k, struct cr_error **err)
{
	uint8_t blob[CP_PRESENCE_MAX];
	Carrier__PresencePublish pub = CARRIER__PRESENCE_PUBLISH__INIT;
	Carrier__Hop m = CARRIER__HOP__INIT;
	Carrier__SignedPresence *rec;
	struct cr_presence rp;
	size_t len;

	memset(&rp, 0, sizeof(rp));
	memcpy(rp.device_pk, kp->pk, CR_PKLEN);
	rp.seq = (uint64_t)time(NULL) * 1000000 + k;
	rp.issued_unix = cr_now_unix();
	rp.expires_unix = rp.issued_unix + o->ttl;
	if (o->attached) {
		memcpy(rp.attached[0], ring->nodes[o->node].pk, CR_PKLEN);
		rp.n_attached = 1;
	}
	if (cr_presence_sign(kp, &rp, blob, sizeof(blob), &len, err) < 0 ||
	    (rec = carrier__signed_presence__unpack(NULL, len, blob)) == NULL)
		return -1;
	pub.record = rec;
	m.msg_case = CARRIER__HOP__MSG_PUBLISH;
	m.publish = &pub;
	m.req_id = 1;
	ts_send(p, &m);
	carrier__signed_presence__free_unpacked(rec, NULL);
	return 0;
}

static int do_presence(const struct pres_opts *o, struct cr_udp_batch *rx)
{
	struct cr_error *err = NULL;
	struct pres_reply r;
	struct ts_peer p;
	struct cr_ring *ring = NULL;
	struct cr_addr to;
	uint64_t replicas = o->replicas, acked = 0, refused = 0, timeouts = 0;

	if (cr_ring_load(o->ring_path, NULL, &ring, &err) < 0 ||
	    ts_peer_open(&p, o->src_ip, rx, &err) < 0) {
		fprintf(stderr, "attack: %s\n", cr_error_msg(err));
		return 1;
	}
	p.on_msg = pres_reply;
	p.user = &r;
	if (o->node >= ring->n_nodes ||
	    cr_addr_parse(ring->nodes[o->node].addr, &to, &err) < 0) {
		fprintf(stderr, "attack: no node %llu in the ring\n",
			(unsigned long long)o->node);
		return 1;
	}
	if (replicas == 0)
		replicas = ring->replicas ? ring->replicas : CR_RING_DEFAULT_REPLICAS;
	for (uint64_t k = 0; k < o->n; k++) {
		struct cr_keypair kp;
		struct cr_id id;
		char ids[CR_ID_STRMAX];

		if (pres_key(o, ring, replicas, k, &kp, &err) < 0 ||
		    ts_peer_connect(&p, &kp, ring->nodes[o->node].pk, CR_ID_NODE,
				    &to, &err) < 0) {
			fprintf(stderr, "attack: %s\n", cr_error_msg(err));
			return 1;
		}
		cr_id_from_pk(CR_ID_DEVICE, kp.pk, &id);
		memset(&r, 0, sizeof(r));
		ts_pump_until(&p, &p.up, 5000);
		if (p.up && pres_publish(&p, o, ring, &kp, k, &err) == 0)
			ts_pump_until(&p, &r.done, 5000);
		cr_error_free(err);
		err = NULL;
		if (r.done == 1) {
			printf("%s ack\n", cr_id_format(&id, ids));
			acked++;
		} else if (r.done == 2) {
			printf("%s error %s\n", cr_id_format(&id, ids), r.msg);
			refused++;
		} else {
			printf("%s timeout\n", cr_id_format(&id, ids));
			timeouts++;
		}
		fflush(stdout);
		ts_peer_end(&p);
		cr_keypair_wipe(&kp);
	}
	printf("presence: acked %llu refused %llu timeouts %llu\n",
	       (unsigned long long)acked, (unsigned long long)refused,
	       (unsigned long long)timeouts);
	ts_peer_free(&p);
	cr_ring_free(ring);
	return 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: attack routes KEY NODE.pub HOST:PORT DEVICE_ID SECONDS\n"
		"       attack sessions KEY NODE.pub HOST:PORT COUNT\n"
		"       attack reflect KEY DEVICE_KEY NODE.pub HOST:PORT "
		"SPOOF_IP COUNT\n"
		"       attack presence RING NODE_INDEX N [--src IP] [--ttl S] "
		"[--replicas R] [--home yes|no] [--attached] [--key FILE] "
		"[--save FILE]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct cr_error *err = NULL;
	struct cr_udp_batch *rx;
	struct pres_opts po;
	struct cr_keypair kp;
	struct cr_addr to;
	struct cr_id dev;
	uint8_t node_pk[CR_PKLEN];
	enum cr_id_type t;
	uint64_t count = 0;
	const char *mode = argc > 1 ? argv[1] : "";
	int ok_args, rc;

	if (strcmp(mode, "presence") == 0) {
		if (pres_parse(argc - 1, argv + 1, &po) < 0)
			return usage();
		rx = calloc(1, sizeof(*rx));
		if (sodium_init() < 0 || rx == NULL)
			return 1;
		rc = do_presence(&po, rx);
		free(rx);
		return rc;
	}
	ok_args = (strcmp(mode, "routes") == 0 && argc == 7 &&
		   cr_parse_u64(argv[6], 1, 3600, &count) == 0) ||
		  (strcmp(mode, "sessions") == 0 && argc == 6 &&
		   cr_parse_u64(argv[5], 1, 256, &count) == 0) ||
		  (strcmp(mode, "reflect") == 0 && argc == 8 &&
		   cr_parse_u64(argv[7], 1, 100000, &count) == 0);
	/* reflect: the device key comes second, the node after it. */
	int off = strcmp(mode, "reflect") == 0;
	if (!ok_args)
		return usage();
	if (sodium_init() < 0 || cr_keypair_load(argv[2], &kp, &err) < 0 ||
	    cr_pubkey_load(argv[3 + off], &t, node_pk, &err) < 0 ||
	    cr_addr_parse(argv[4 + off], &to, &err) < 0 ||
	    (strcmp(mode, "routes") == 0 &&
	     cr_id_parse(argv[5], &dev, &err) < 0)) {
		fprintf(stderr, "attack: %s\n", cr_error_msg(err));
		return 1;
	}
	rx = calloc(1, sizeof(*rx));
	if (rx == NULL)
		return 1;
	if (strcmp(mode, "sessions") == 0) {
		struct ts_peer *peers = calloc(count, sizeof(*peers));
		int up;

		if (peers == NULL)
			return 1;
		for (uint64_t i = 0; i < count; i++)
			if (peer_open(&peers[i], rx, NULL, &kp, node_pk, &to) < 0)
				return 1;
		up = ts_wait_up(peers, count, 10000);
		/* The node confirms each session on its first DATA. */
		for (uint64_t i = 0; i < count; i++)
			ts_ping(&peers[i], i + 1);
		for (int i = 0; i < 50; i++)
			ts_pump(peers, count, 20);
		printf("sessions: up %d of %llu\n", up,
		       (unsigned long long)count);
		fflush(stdout);
		/* Held until killed, so that the node's count can be read. */
		for (;;)
			ts_pump(peers, count, 1000);
	}
	struct counts pc = { 0 };
	struct ts_peer p;

	if (peer_open(&p, rx, &pc, &kp, node_pk, &to) < 0)
		return 1;
	if (ts_wait_up(&p, 1, 10000) != 1) {
		fprintf(stderr, "attack: no session with the node in 10 s\n");
		return 1;
	}
	if (strcmp(mode, "routes") == 0) {
		rc = do_routes(&p, &dev, count);
		ts_peer_free(&p);
		free(rx);
		return rc;
	}
	struct counts dc = { 0 };
	struct cr_keypair dk;
	struct ts_peer d;

	if (cr_keypair_load(argv[3], &dk, &err) < 0 ||
	    dk.type != CR_ID_DEVICE) {
		fprintf(stderr, "attack: %s\n",
			err != NULL ? cr_error_msg(err) : "not a device key");
		return 1;
	}
	cr_id_from_pk(CR_ID_DEVICE, dk.pk, &dev);
	if (peer_open(&d, rx, &dc, &dk, node_pk, &to) < 0 ||
	    ts_wait_up(&d, 1, 10000) != 1 || publish_max(&d, &dk, node_pk) < 0) {
		fprintf(stderr, "attack: the device's record was not stored\n");
		return 1;
	}
	/* A first datagram from the real address: the node confirms the
	 * session there. */
	ts_ping(&p, 1);
	ts_pump(&p, 1, 200);
	rc = do_reflect(&p, &dev, argv[6], count);
	ts_peer_free(&p);
	ts_peer_free(&d);
	free(rx);
	return rc;
}
