/*
 * presflood: presence publishes from many device keys, one hop session
 * each, to one ring node, for the presence-store attack test.  Each key
 * opens a real session from SRC_IP, publishes a signed record and waits
 * for the node's answer.
 *
 *   presflood RING NODE_INDEX N [--src IP] [--ttl SECONDS] [--replicas R]
 *             [--home yes|no] [--attached] [--key FILE] [--save FILE]
 *
 * Fresh throwaway keys unless --key (one device, N publishes with rising
 * sequence numbers; --save FILE keeps the first fresh key there, for
 * publishing again with --key).  --home no picks keys whose home set (the first R of
 * the ranking over every node) leaves the node out, --home yes keys whose
 * set holds it; --attached names the node as attached in the record.
 * --ttl is how far ahead the record expires (default 600).  Prints one line
 * per publish, "ID ack" or "ID error CODE MESSAGE" or "ID timeout", then
 * "presflood: acked A refused E timeouts T".  Exit 0, or 1 on a setup
 * failure.
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
#include "cr/ring.h"
#include "cr/session.h"
#include "cr/udp.h"
#include "cr/util.h"

struct flood {
	int fd;
	int up;
	int done; /* 1 ack, 2 error */
	char msg[300];
};

static void fl_send(void *ctx, struct cr_sess *s, const struct cr_addr *to,
		    const uint8_t *buf, size_t len)
{
	struct flood *f = ctx;

	(void)s;
	cr_udp_send(f->fd, to, buf, len);
}

static int fl_accept(void *ctx, const struct cr_id *peer,
		     const uint8_t pk[CR_PKLEN], const struct cr_addr *from,
		     const uint8_t *hello, size_t hello_len, uint8_t *reply,
		     size_t *reply_len, void **user)
{
	return -1;
}

static void fl_up(void *ctx, struct cr_sess *s, const uint8_t *reply,
		  size_t reply_len, int rekey)
{
	((struct flood *)ctx)->up = 1;
}

static void fl_recv(void *ctx, struct cr_sess *s, const uint8_t *msg,
		    size_t len)
{
	struct flood *f = ctx;
	Carrier__Hop *m = cp_hop_unpack(msg, len);

	if (m == NULL)
		return;
	if (m->msg_case == CARRIER__HOP__MSG_ACK && m->req_id == 1) {
		f->done = 1;
	} else if (m->msg_case == CARRIER__HOP__MSG_ERROR && m->req_id == 1) {
		f->done = 2;
		snprintf(f->msg, sizeof(f->msg), "%d %s", (int)m->error->code,
			 m->error->message != NULL ? m->error->message : "");
	}
	cp_hop_free(m);
}

static const struct cr_sess_ops fl_ops = {
	.send = fl_send,
	.accept = fl_accept,
	.up = fl_up,
	.recv = fl_recv,
};

/* Runs the host until cond is set or ms pass. */
static void pump(struct flood *f, struct cr_sess_host *h,
		 struct cr_udp_batch *b, const int *cond, uint64_t ms)
{
	uint64_t end = cr_now_ms() + ms;

	while (!*cond && cr_now_ms() < end) {
		struct pollfd pfd = { .fd = f->fd, .events = POLLIN };
		int got;

		poll(&pfd, 1, 20);
		while ((got = cr_udp_recv(f->fd, b)) > 0)
			for (size_t i = 0; i < b->n; i++)
				cr_sess_host_input(h, &b->from[i], b->buf[i],
						   b->len[i], cr_now_ms());
		cr_sess_host_tick(h, cr_now_ms());
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

int main(int argc, char **argv)
{
	struct cr_error *err = NULL;
	struct flood f = { .fd = -1 };
	struct cr_ring *ring = NULL;
	struct cr_udp_batch *batch;
	struct cr_addr to, src;
	uint64_t node, n, ttl = 600, replicas = 0, acked = 0, refused = 0,
			  timeouts = 0;
	const char *src_ip = "127.0.0.1", *home = NULL, *key = NULL, *save = NULL;
	int attached = 0;
	char src_s[80];

	if (argc < 4 || cr_parse_u64(argv[2], 0, 1000, &node) < 0 ||
	    cr_parse_u64(argv[3], 1, 1000000, &n) < 0)
		goto usage;
	for (int i = 4; i < argc; i++) {
		if (strcmp(argv[i], "--attached") == 0)
			attached = 1;
		else if (i + 1 >= argc)
			goto usage;
		else if (strcmp(argv[i], "--src") == 0)
			src_ip = argv[++i];
		else if (strcmp(argv[i], "--ttl") == 0) {
			if (cr_parse_u64(argv[++i], 1, UINT64_MAX / 2, &ttl) < 0)
				goto usage;
		} else if (strcmp(argv[i], "--replicas") == 0) {
			if (cr_parse_u64(argv[++i], 1, 64, &replicas) < 0)
				goto usage;
		} else if (strcmp(argv[i], "--home") == 0)
			home = argv[++i];
		else if (strcmp(argv[i], "--key") == 0)
			key = argv[++i];
		else if (strcmp(argv[i], "--save") == 0)
			save = argv[++i];
		else
			goto usage;
	}
	snprintf(src_s, sizeof(src_s), "%s:0", src_ip);
	if (sodium_init() < 0 || cr_ring_load(argv[1], NULL, &ring, &err) < 0 ||
	    cr_addr_parse(src_s, &src, &err) < 0 ||
	    (f.fd = cr_udp_open(&src, &err)) < 0) {
		fprintf(stderr, "presflood: %s\n", cr_error_msg(err));
		return 1;
	}
	if (node >= ring->n_nodes ||
	    cr_addr_parse(ring->nodes[node].addr, &to, &err) < 0) {
		fprintf(stderr, "presflood: no node %llu in the ring\n",
			(unsigned long long)node);
		return 1;
	}
	if (replicas == 0)
		replicas = ring->replicas ? ring->replicas : CR_RING_DEFAULT_REPLICAS;
	batch = calloc(1, sizeof(*batch));
	if (batch == NULL)
		return 1;
	for (uint64_t k = 0; k < n; k++) {
		uint8_t blob[CP_PRESENCE_MAX], buf[CP_MSG_MAX];
		Carrier__PresencePublish pub = CARRIER__PRESENCE_PUBLISH__INIT;
		Carrier__Hop m = CARRIER__HOP__INIT;
		Carrier__SignedPresence *rec;
		struct cr_sess_host *host;
		struct cr_sess *s;
		struct cr_keypair kp;
		struct cr_presence p;
		struct cr_id id;
		char ids[CR_ID_STRMAX];
		size_t len;
		long hl;

		if (key != NULL) {
			if (cr_keypair_load(key, &kp, &err) < 0) {
				fprintf(stderr, "presflood: %s\n", cr_error_msg(err));
				return 1;
			}
		} else {
			do {
				cr_keypair_generate(CR_ID_DEVICE, &kp);
				cr_id_from_pk(CR_ID_DEVICE, kp.pk, &id);
			} while (home != NULL &&
				 in_home(ring, &id, (int)node, replicas) !=
					 (strcmp(home, "yes") == 0));
			if (save != NULL && k == 0 &&
			    cr_keypair_save(&kp, save, &err) < 0) {
				fprintf(stderr, "presflood: %s\n", cr_error_msg(err));
				return 1;
			}
		}
		cr_id_from_pk(CR_ID_DEVICE, kp.pk, &id);
		f.up = f.done = 0;
		host = cr_sess_host_new(&kp, NULL, &fl_ops, &f, &err);
		if (host == NULL ||
		    (s = cr_sess_connect(host, ring->nodes[node].pk, CR_ID_NODE,
					 &to, NULL, 0, cr_now_ms(), &err)) == NULL) {
			fprintf(stderr, "presflood: %s\n", cr_error_msg(err));
			return 1;
		}
		pump(&f, host, batch, &f.up, 5000);
		memset(&p, 0, sizeof(p));
		memcpy(p.device_pk, kp.pk, CR_PKLEN);
		p.seq = (uint64_t)time(NULL) * 1000000 + k;
		p.issued_unix = cr_now_unix();
		p.expires_unix = p.issued_unix + ttl;
		if (attached) {
			memcpy(p.attached[0], ring->nodes[node].pk, CR_PKLEN);
			p.n_attached = 1;
		}
		if (!f.up ||
		    cr_presence_sign(&kp, &p, blob, sizeof(blob), &len, &err) < 0 ||
		    (rec = carrier__signed_presence__unpack(NULL, len, blob)) == NULL) {
			printf("%s timeout\n", cr_id_format(&id, ids));
			timeouts++;
			cr_error_free(err);
			err = NULL;
			cr_sess_host_free(host);
			continue;
		}
		pub.record = rec;
		m.msg_case = CARRIER__HOP__MSG_PUBLISH;
		m.publish = &pub;
		m.req_id = 1;
		hl = cp_hop_pack(&m, buf, sizeof(buf));
		carrier__signed_presence__free_unpacked(rec, NULL);
		if (hl > 0)
			cr_sess_send(s, buf, (size_t)hl, cr_now_ms());
		pump(&f, host, batch, &f.done, 5000);
		if (f.done == 1) {
			printf("%s ack\n", cr_id_format(&id, ids));
			acked++;
		} else if (f.done == 2) {
			printf("%s error %s\n", cr_id_format(&id, ids), f.msg);
			refused++;
		} else {
			printf("%s timeout\n", cr_id_format(&id, ids));
			timeouts++;
		}
		fflush(stdout);
		cr_sess_close(s);
		cr_sess_host_free(host);
		cr_keypair_wipe(&kp);
	}
	printf("presflood: acked %llu refused %llu timeouts %llu\n",
	       (unsigned long long)acked, (unsigned long long)refused,
	       (unsigned long long)timeouts);
	cr_ring_free(ring);
	free(batch);
	return 0;
usage:
	fprintf(stderr, "usage: presflood RING NODE_INDEX N [--src IP] [--ttl S] "
			"[--replicas R] [--home yes|no] [--attached] [--key FILE] "
			"[--save FILE]\n");
	return 2;
}
