/*
 * ringload: N simulated idle devices against one carrier-node, for
 * bench/ring-scale.sh.  Every device is its own Ed25519 identity with its
 * own cr_sess host doing real Noise IK handshakes; devices share a few UDP
 * sockets.  Each socket is bound to 0.0.0.0 on its own port and sends with
 * IP_PKTINFO, so device i speaks from its own loopback address
 * 127.16.0.0 + 1 + i / S (S sockets) and the node sees N distinct source
 * endpoints while this process holds only S file descriptors.  A received
 * datagram goes to the device its destination address and port name.
 * In the handshake phase (unless --no-burst), what the devices send is
 * queued and leaves once per turn of the event loop, one sendmmsg per
 * socket: the node sees bursts, as from a fleet reconnecting at once,
 * rather than one datagram each time this process finishes one device's
 * step (this one process, slower than the node, would otherwise have the
 * node wake for about every datagram, which no real reconnect storm
 * does).
 *
 *   ringload --node HOST:PORT --node-pub NODE.pub -n N [--sockets S]
 *            [--window W] [--publish] [--node-pid PID] [--hold SECONDS]
 *
 * Phases, each reported on stdout as one `key=value` line:
 *   handshake  every device completes a handshake and confirms it with one
 *              keepalive (the node's session is up from then on);
 *   publish    (with --publish) every device publishes a signed presence
 *              record and waits for the node's acknowledgement (none in
 *              5 s: a new handshake and the publish again, 4 tries);
 *   idle       then devices stay attached (keepalives every 15 s, rekeys
 *              every 2 minutes, as carrier-agent does) until SIGTERM or
 *              --hold seconds.
 * With --node-pid, each phase line carries the node's CPU time (utime +
 * stime from /proc/PID/stat) spent in the phase.
 * First of all, one line `x25519_per_cpu_s=R`: this CPU's X25519 speed
 * (crypto_scalarmult, libsodium: the best of three runs of 0.4 s of this
 * process's CPU, so that other work on a shared machine lowers it least),
 * which bounds a Noise IK responder (4 DH and one key generation: R / 5
 * handshakes per CPU-second).  The handshake phase's line carries it again,
 * measured after the phase (x25519_after_per_cpu_s): the bench takes the
 * higher.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cp/hop.h"
#include "cp/limits.h"
#include "cr/addr.h"
#include "cr/error.h"
#include "cr/identity.h"
#include "cr/log.h"
#include "cr/presence.h"
#include "cr/session.h"
#include "cr/util.h"
#include "simdev.h"

enum {
	RL_SOCKETS_MAX = 64,
	RL_TICK_MS = 50,
	RL_TICK_SLICES = 20, /* every host is ticked once per second */
	RL_BASE_ADDR = (127u << 24) | (16u << 16),
	RL_DEVICES_MAX = 1000000,
	RL_PUBLISH_RETRY_MS = 5000, /* no acknowledgement: publish again */
	RL_PUBLISH_TRIES = 4,       /* then count the device as failed */
	RL_SEND_BATCH = 256,        /* datagrams queued before a flush */
	RL_DGRAM_MAX = CP_DATAGRAM_MAX,
};

/* A datagram waiting in the send queue, with the device's source address. */
struct rl_out {
	size_t sock;
	uint32_t src;
	struct sockaddr_storage to;
	socklen_t to_len;
	size_t len;
	uint8_t buf[RL_DGRAM_MAX];
};

enum rl_state {
	RL_NEW,
	RL_HANDSHAKE, /* INIT sent, waiting for the RESP */
	RL_UP,        /* confirmed with a keepalive */
	RL_PUBLISHING,
	RL_PUBLISHED,
	RL_REATTACH, /* a publish went unanswered: handshaking again */
};

struct rl;

struct rl_dev {
	struct rl *rl;
	struct cr_sess_host *host;
	struct cr_sess *sess;
	uint32_t index;
	uint32_t publish_ms; /* last publish sent, ms since start */
	uint8_t state;
	uint8_t tries;
};

struct rl {
	struct event_base *base;
	struct cr_addr node;
	uint8_t node_pk[CR_PKLEN];
	int fds[RL_SOCKETS_MAX];
	uint16_t ports[RL_SOCKETS_MAX];
	struct event *ev_read[RL_SOCKETS_MAX];
	struct event *ev_tick;
	size_t n_socks;
	struct rl_dev *devs;
	size_t n, window, next, inflight, done, slice;
	int publish, phase; /* 0 handshake, 1 publish, 2 idle */
	int burst;          /* 0 with --no-burst */
	int node_pid;
	uint64_t phase_start_ms, phase_cpu_start, hold_ms, idle_start_ms;
	uint64_t start_ms, retries, send_errors, publish_failed, reattached;
	struct cr_sess_stats agg; /* summed over hosts at phase ends */
	struct rl_out *out; /* RL_SEND_BATCH entries, n_out in use */
	size_t n_out;
	struct event *ev_flush; /* made active by the first datagram queued */
};

/* The node's user + system CPU time in milliseconds; 0 when unknown. */
static uint64_t rl_node_cpu_ms(const struct rl *rl)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;

	if (rl->node_pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", rl->node_pid);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces: fields count from its ')'. */
	p = strrchr(buf, ')');
	if (p == NULL || hz <= 0)
		return 0;
	/* After ')': state(3) ... utime is field 14, stime 15. */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
		   &ut, &st) != 2)
		return 0;
	return (ut + st) * 1000u / (unsigned long long)hz;
}

static uint32_t rl_dev_addr(const struct rl *rl, size_t i)
{
	return simdev_addr(RL_BASE_ADDR, rl->n_socks, i);
}

/*
 * Sends the queued datagrams, one sendmmsg per socket.  Devices queue what
 * they send while this process works through what its sockets received and
 * its timers; the queue leaves once the event loop has run those callbacks
 * (or when full), as a reconnecting fleet's datagrams reach a node in
 * bursts, not one at a time, and with one system call per socket instead of
 * one per datagram.
 */
static void rl_flush(struct rl *rl)
{
	struct mmsghdr msgs[RL_SEND_BATCH];
	struct iovec iov[RL_SEND_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
		struct cmsghdr align;
	} cm[RL_SEND_BATCH];

	for (size_t sock = 0; sock < rl->n_socks && rl->n_out > 0; sock++) {
		unsigned n = 0, done = 0;

		for (size_t i = 0; i < rl->n_out; i++) {
			struct rl_out *o = &rl->out[i];
			struct msghdr *mh = &msgs[n].msg_hdr;

			if (o->sock != sock)
				continue;
			memset(&msgs[n], 0, sizeof(msgs[n]));
			memset(&cm[n], 0, sizeof(cm[n]));
			iov[n].iov_base = o->buf;
			iov[n].iov_len = o->len;
			mh->msg_name = &o->to;
			mh->msg_namelen = o->to_len;
			mh->msg_iov = &iov[n];
			mh->msg_iovlen = 1;
			mh->msg_control = cm[n].buf;
			mh->msg_controllen = sizeof(cm[n].buf);
			simdev_set_src(mh, o->src);
			n++;
		}
		while (done < n) {
			int r = sendmmsg(rl->fds[sock], msgs + done, n - done,
					 MSG_DONTWAIT);

			if (r <= 0) {
				/* The first one failed: count it, go on. */
				rl->send_errors++;
				done++;
				continue;
			}
			done += (unsigned)r;
		}
	}
	rl->n_out = 0;
}

static void rl_send(void *ctx, struct cr_sess *s, const struct cr_addr *to,
		    const uint8_t *buf, size_t len)
{
	struct rl_dev *d = ctx;
	struct rl *rl = d->rl;
	struct rl_out *o;

	if (len > RL_DGRAM_MAX) {
		rl->send_errors++;
		return;
	}
	if (rl->n_out == RL_SEND_BATCH)
		rl_flush(rl);
	if (rl->n_out == 0 && rl->ev_flush != NULL)
		/* Runs after the callbacks already active in this turn. */
		event_active(rl->ev_flush, EV_TIMEOUT, 0);
	o = &rl->out[rl->n_out++];
	o->sock = d->index % rl->n_socks;
	o->src = rl_dev_addr(rl, d->index);
	o->to_len = cr_addr_len(to);
	memcpy(&o->to, &to->u.sa, o->to_len);
	o->len = len;
	memcpy(o->buf, buf, len);
	/* Bursts for the handshakes only (the default; --no-burst sends
	 * every datagram at once): the later phases measure publishes and
	 * idling, not a reconnecting fleet. */
	if (!rl->burst || rl->phase != 0)
		rl_flush(rl);
}

static int rl_accept(void *ctx, const struct cr_id *peer,
		     const uint8_t pk[CR_PKLEN], const struct cr_addr *from,
		     const uint8_t *hello, size_t hello_len, uint8_t *reply,
		     size_t *reply_len, void **user)
{
	return -1; /* devices only initiate */
}

static void rl_start_more(struct rl *rl);
static unsigned long long rl_x25519_rate(void);
static void rl_phase_end(struct rl *rl);

static void rl_publish(struct rl_dev *d)
{
	uint8_t blob[CP_PRESENCE_MAX], buf[CP_MSG_MAX];
	Carrier__SignedPresence *rec;
	Carrier__PresencePublish pub = CARRIER__PRESENCE_PUBLISH__INIT;
	Carrier__Hop m = CARRIER__HOP__INIT;
	struct cr_error *err = NULL;
	struct cr_presence p;
	uint64_t now = cr_now_unix();
	struct in_addr a;
	size_t len;
	long n;

	memset(&p, 0, sizeof(p));
	memcpy(p.device_pk, cr_sess_host_keypair(d->host)->pk, CR_PKLEN);
	p.seq = 1;
	p.issued_unix = now;
	p.expires_unix = now + 3600;
	a.s_addr = htonl(rl_dev_addr(d->rl, d->index));
	snprintf(p.addrs[0], CP_ADDR_STR_MAX, "%s:%u", inet_ntoa(a),
		 (unsigned)d->rl->ports[d->index % d->rl->n_socks]);
	p.n_addrs = 1;
	memcpy(p.attached[0], d->rl->node_pk, CR_PKLEN);
	p.n_attached = 1;
	if (cr_presence_sign(cr_sess_host_keypair(d->host), &p, blob,
			     sizeof(blob), &len, &err) < 0) {
		fprintf(stderr, "ringload: %s\n", cr_error_msg(err));
		exit(1);
	}
	rec = carrier__signed_presence__unpack(NULL, len, blob);
	if (rec == NULL)
		exit(1);
	pub.record = rec;
	m.req_id = 1;
	m.msg_case = CARRIER__HOP__MSG_PUBLISH;
	m.publish = &pub;
	n = cp_hop_pack(&m, buf, sizeof(buf));
	carrier__signed_presence__free_unpacked(rec, NULL);
	if (n <= 0 || cr_sess_send(d->sess, buf, (size_t)n, cr_now_ms()) < 0) {
		fprintf(stderr, "ringload: cannot send a publish\n");
		exit(1);
	}
	d->state = RL_PUBLISHING;
	d->publish_ms = (uint32_t)(cr_now_ms() - d->rl->start_ms);
	d->tries++;
}

static void rl_finished_one(struct rl *rl)
{
	rl->inflight--;
	rl->done++;
	if (rl->done == rl->n)
		rl_phase_end(rl);
	else
		rl_start_more(rl);
}

static void rl_up(void *ctx, struct cr_sess *s, const uint8_t *reply,
		  size_t reply_len, int rekey)
{
	struct rl_dev *d = ctx;

	if (!rekey && d->state == RL_REATTACH) {
		rl_publish(d);
		return;
	}
	if (rekey || d->state != RL_HANDSHAKE)
		return;
	/* The responder's session is up once our first DATA arrives: the
	 * session sent it already (a keepalive, before this callback); a
	 * second one here cost the node a datagram per handshake that no
	 * device sends. */
	d->state = RL_UP;
	rl_finished_one(d->rl);
}

static void rl_recv(void *ctx, struct cr_sess *s, const uint8_t *msg,
		    size_t len)
{
	struct rl_dev *d = ctx;
	Carrier__Hop *m;

	if (d->state != RL_PUBLISHING)
		return;
	m = cp_hop_unpack(msg, len);
	if (m == NULL)
		return;
	if (m->msg_case == CARRIER__HOP__MSG_ACK) {
		d->state = RL_PUBLISHED;
		rl_finished_one(d->rl);
	} else if (m->msg_case == CARRIER__HOP__MSG_ERROR) {
		fprintf(stderr, "ringload: device %u: publish refused: %s\n",
			d->index, m->error->message);
		d->state = RL_PUBLISHED;
		rl_finished_one(d->rl);
	}
	cp_hop_free(m);
}

static void rl_down(void *ctx, struct cr_sess *s, enum cr_sess_down why)
{
	struct rl_dev *d = ctx;
	struct rl *rl = d->rl;

	d->sess = NULL;
	if (d->state == RL_HANDSHAKE) {
		/* Timed out: try again from the back of the queue. */
		rl->retries++;
		rl->inflight--;
		d->state = RL_NEW;
		rl_start_more(rl);
	} else if (d->state == RL_REATTACH) {
		/* That handshake failed too: the tick tries again. */
		d->state = RL_PUBLISHING;
		d->publish_ms = (uint32_t)(cr_now_ms() - rl->start_ms);
		d->tries++;
	} else if (rl->phase == 2) {
		fprintf(stderr, "ringload: device %u lost its session (%d)\n",
			d->index, (int)why);
	}
}

static const struct cr_sess_ops rl_ops = {
	.send = rl_send,
	.accept = rl_accept,
	.up = rl_up,
	.recv = rl_recv,
	.down = rl_down,
};

static void rl_connect(struct rl *rl, struct rl_dev *d)
{
	struct cr_error *err = NULL;

	d->sess = cr_sess_connect(d->host, rl->node_pk, CR_ID_NODE, &rl->node,
				  NULL, 0, cr_now_ms(), &err);
	if (d->sess == NULL) {
		fprintf(stderr, "ringload: %s\n", cr_error_msg(err));
		exit(1);
	}
	d->state = RL_HANDSHAKE;
}

/* Keeps `window` handshakes or publishes in flight. */
static void rl_start_more(struct rl *rl)
{
	while (rl->inflight < rl->window && rl->done + rl->inflight < rl->n) {
		struct rl_dev *d;
		size_t tries = 0;

		/* Devices whose handshake timed out went back to NEW. */
		do {
			d = &rl->devs[rl->next];
			rl->next = (rl->next + 1) % rl->n;
		} while (tries++ < rl->n &&
			 d->state != (rl->phase == 0 ? RL_NEW : RL_UP));
		if (d->state != (rl->phase == 0 ? RL_NEW : RL_UP))
			return;
		rl->inflight++;
		if (rl->phase == 0)
			rl_connect(rl, d);
		else if (d->sess != NULL)
			rl_publish(d);
		else
			rl_finished_one(rl); /* lost meanwhile: nothing to do */
	}
}

static void rl_sum_stats(struct rl *rl)
{
	memset(&rl->agg, 0, sizeof(rl->agg));
	for (size_t i = 0; i < rl->n; i++) {
		const struct cr_sess_stats *s = cr_sess_host_stats(rl->devs[i].host);

		rl->agg.handshakes_completed += s->handshakes_completed;
		rl->agg.handshakes_initiated += s->handshakes_initiated;
		rl->agg.tx_datagrams += s->tx_datagrams;
		rl->agg.rx_datagrams += s->rx_datagrams;
		rl->agg.drops[CR_SESS_DROP_COOKIE] += s->drops[CR_SESS_DROP_COOKIE];
	}
}

static void rl_phase_end(struct rl *rl)
{
	static const char *const names[] = { "handshake", "publish" };
	uint64_t now = cr_now_ms(), cpu = rl_node_cpu_ms(rl);
	uint64_t wall = now - rl->phase_start_ms;
	uint64_t ncpu = cpu - rl->phase_cpu_start;
	unsigned long long x25519;

	/* What the last devices queued (their confirming keepalives) leaves
	 * before the X25519 runs below, which take over a second of this
	 * process's CPU (several of wall time on a loaded machine): held
	 * that long, the keepalives came after the node had given up those
	 * handshakes (2 s unconfirmed), their devices believed themselves
	 * attached, and the node dropped their publishes (never
	 * acknowledged, 24 to 118 of 30,000 in loaded runs). */
	rl_flush(rl);
	x25519 = rl->phase == 0 ? rl_x25519_rate() : 0;

	rl_sum_stats(rl);
	printf("ringload: phase=%s devices=%zu wall_ms=%llu rate_per_s=%llu "
	       "node_cpu_ms=%llu per_core_per_s=%llu retries=%llu "
	       "handshakes=%llu send_errors=%llu failed=%llu "
	       "reattached=%llu",
	       names[rl->phase], rl->n, (unsigned long long)wall,
	       (unsigned long long)(wall ? rl->n * 1000u / wall : 0),
	       (unsigned long long)ncpu,
	       (unsigned long long)(ncpu ? rl->n * 1000u / ncpu : 0),
	       (unsigned long long)rl->retries,
	       (unsigned long long)rl->agg.handshakes_completed,
	       (unsigned long long)rl->send_errors,
	       (unsigned long long)rl->publish_failed,
	       (unsigned long long)rl->reattached);
	if (x25519 != 0)
		printf(" x25519_after_per_cpu_s=%llu", x25519);
	printf("\n");
	fflush(stdout);
	rl->phase++;
	rl->done = rl->inflight = 0;
	rl->next = 0;
	rl->retries = 0;
	rl->reattached = 0;
	if (rl->phase == 1 && !rl->publish)
		rl->phase = 2;
	rl->phase_start_ms = cr_now_ms();
	rl->phase_cpu_start = rl_node_cpu_ms(rl);
	if (rl->phase == 1) {
		rl_start_more(rl);
	} else {
		rl->idle_start_ms = rl->phase_start_ms;
		printf("ringload: phase=idle devices=%zu\n", rl->n);
		fflush(stdout);
	}
}

static void rl_deliver(void *ctx, size_t dev, const struct cr_addr *src,
		       const uint8_t *buf, size_t len)
{
	struct rl *rl = ctx;

	cr_sess_host_input(rl->devs[dev].host, src, buf, len, cr_now_ms());
}

static void rl_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct rl *rl = arg;

	simdev_read(fd, rl->fds, rl->n_socks, RL_BASE_ADDR, rl->n, rl_deliver,
		    rl);
}

static void rl_on_flush(evutil_socket_t fd, short what, void *arg)
{
	rl_flush(arg);
}

static void rl_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct rl *rl = arg;
	uint64_t now = cr_now_ms();
	size_t per = (rl->n + RL_TICK_SLICES - 1) / RL_TICK_SLICES;
	size_t from = rl->slice * per;

	for (size_t i = from; i < from + per && i < rl->n; i++) {
		struct rl_dev *d = &rl->devs[i];

		cr_sess_host_tick(d->host, now);
		/* A publish the node never acknowledged: as carrier-agent does
		 * when its node stops answering, a fresh handshake, then the
		 * publish again; a few times, then give up.  Publishing again
		 * on the same session is not enough: a node gives up a
		 * handshake unconfirmed for 2 s, and on a starved machine
		 * (load 13 on 2 cores) this process took that long to read
		 * some RESPs; those devices' sessions were half open, every
		 * datagram they sent dropped (reason "index"). */
		if (d->state != RL_PUBLISHING ||
		    now - rl->start_ms - d->publish_ms < RL_PUBLISH_RETRY_MS)
			continue;
		if (d->tries < RL_PUBLISH_TRIES) {
			struct cr_error *err = NULL;

			if (d->sess != NULL)
				cr_sess_close(d->sess);
			d->sess = cr_sess_connect(d->host, rl->node_pk,
						  CR_ID_NODE, &rl->node, NULL,
						  0, now, &err);
			if (d->sess == NULL) {
				fprintf(stderr, "ringload: %s\n",
					cr_error_msg(err));
				exit(1);
			}
			d->state = RL_REATTACH;
			rl->reattached++;
			continue;
		}
		rl->publish_failed++;
		d->state = RL_PUBLISHED;
		rl_finished_one(rl);
	}
	rl->slice = (rl->slice + 1) % RL_TICK_SLICES;
	if (rl->phase == 2 && rl->hold_ms != 0 &&
	    now - rl->idle_start_ms >= rl->hold_ms)
		event_base_loopexit(rl->base, NULL);
}

static void rl_on_term(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

/* crypto_scalarmult per second of this process's CPU, over about 0.4 s. */
static unsigned long long rl_x25519_run(void)
{
	uint8_t sk[crypto_scalarmult_SCALARBYTES], pk[crypto_scalarmult_BYTES];
	uint8_t out[crypto_scalarmult_BYTES];
	struct timespec t0, t1;
	unsigned long long n = 0;
	double dt;

	randombytes_buf(sk, sizeof(sk));
	crypto_scalarmult_base(pk, sk);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	do {
		for (int i = 0; i < 256; i++, n++) {
			/* Each result feeds the next: nothing to optimise away. */
			if (crypto_scalarmult(out, sk, pk) != 0)
				return 0;
			memcpy(pk, out, sizeof(pk));
		}
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
		dt = (double)(t1.tv_sec - t0.tv_sec) +
		     (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	} while (dt < 0.4);
	return (unsigned long long)((double)n / dt);
}

/* The best of three runs. */
static unsigned long long rl_x25519_rate(void)
{
	unsigned long long best = 0;

	for (int i = 0; i < 3; i++) {
		unsigned long long r = rl_x25519_run();

		if (r > best)
			best = r;
	}
	return best;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ringload --node HOST:PORT --node-pub NODE.pub -n N\n"
		"                [--sockets S] [--window W] [--publish]\n"
		"                [--node-pid PID] [--hold SECONDS] [--rekey SECONDS]\n"
		"                [--no-burst]\n"
		"N simulated devices (real Noise IK handshakes, one identity\n"
		"each, source addresses 127.16.0.1 and up) attach to one node,\n"
		"optionally publish presence, then stay idle.  Prints one\n"
		"key=value line per phase.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "node", required_argument, NULL, 'a' },
		{ "node-pub", required_argument, NULL, 'k' },
		{ "sockets", required_argument, NULL, 's' },
		{ "window", required_argument, NULL, 'w' },
		{ "publish", no_argument, NULL, 'p' },
		{ "node-pid", required_argument, NULL, 'P' },
		{ "hold", required_argument, NULL, 'H' },
		{ "rekey", required_argument, NULL, 'R' },
		{ "burst", no_argument, NULL, 'B' },
		{ "no-burst", no_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rl rl = { .n_socks = 16, .window = 256, .burst = 1 };
	const char *node = NULL, *pub = NULL;
	struct cr_error *err = NULL;
	struct cr_sess_cfg cfg;
	struct event *ev_term, *ev_int;
	enum cr_id_type type;
	uint64_t v, rekey_s = 0;
	int c;

	while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': node = optarg; break;
		case 'k': pub = optarg; break;
		case 'p': rl.publish = 1; break;
		case 'B': rl.burst = 1; break;
		case 'b': rl.burst = 0; break;
		case 'n':
			if (simdev_parse_size(optarg, 1, RL_DEVICES_MAX, &rl.n) < 0)
				goto bad;
			break;
		case 's':
			if (simdev_parse_size(optarg, 1, RL_SOCKETS_MAX, &rl.n_socks) < 0)
				goto bad;
			break;
		case 'w':
			if (simdev_parse_size(optarg, 1, 65536, &rl.window) < 0)
				goto bad;
			break;
		case 'P':
			if (cr_parse_u64(optarg, 1, 1u << 22, &v) < 0)
				goto bad;
			rl.node_pid = (int)v;
			break;
		case 'H':
			if (cr_parse_u64(optarg, 1, 86400, &v) < 0)
				goto bad;
			rl.hold_ms = v * 1000;
			break;
		case 'R':
			if (cr_parse_u64(optarg, 1, 86400, &rekey_s) < 0)
				goto bad;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (node == NULL || pub == NULL || rl.n == 0 || optind != argc)
		goto bad;
	if (sodium_init() < 0)
		return 1;
	cr_log_init("ringload", CR_LOG_ERROR, 0);
	if (cr_addr_parse(node, &rl.node, &err) < 0 ||
	    cr_pubkey_load(pub, &type, rl.node_pk, &err) < 0) {
		fprintf(stderr, "ringload: %s\n", cr_error_msg(err));
		return 1;
	}
	if (rl.node.u.sa.sa_family != AF_INET) {
		fprintf(stderr, "ringload: --node must be an IPv4 address\n");
		return 1;
	}
	printf("ringload: x25519_per_cpu_s=%llu\n", rl_x25519_rate());
	fflush(stdout);
	rl.base = event_base_new();
	rl.devs = calloc(rl.n, sizeof(*rl.devs));
	rl.out = calloc(RL_SEND_BATCH, sizeof(*rl.out));
	if (rl.base == NULL || rl.devs == NULL || rl.out == NULL ||
	    simdev_open_sockets("ringload", rl.base, rl.n_socks, rl.fds, rl.ports,
				rl.ev_read, rl_on_read, &rl) < 0)
		return 1;
	/* As carrier-agent: keepalives every 15 s and the default rekeys;
	 * the node sends nothing to an idle device, so never call it dead. */
	cr_sess_cfg_default(&cfg);
	cfg.dead_after_ms = 0;
	cfg.handshake_timeout_ms = 20000;
	if (rekey_s != 0) {
		cfg.rekey_after_ms = (uint32_t)(rekey_s * 1000);
		cfg.reject_after_ms = cfg.rekey_after_ms * 3 / 2;
	}
	for (size_t i = 0; i < rl.n; i++) {
		struct cr_keypair kp;

		cr_keypair_generate(CR_ID_DEVICE, &kp);
		rl.devs[i].rl = &rl;
		rl.devs[i].index = (uint32_t)i;
		rl.devs[i].host = cr_sess_host_new(&kp, &cfg, &rl_ops,
						   &rl.devs[i], &err);
		cr_keypair_wipe(&kp);
		if (rl.devs[i].host == NULL) {
			fprintf(stderr, "ringload: %s\n", cr_error_msg(err));
			return 1;
		}
	}
	printf("ringload: keys=%zu sockets=%zu addresses=%u\n", rl.n,
	       rl.n_socks, (unsigned)((rl.n + rl.n_socks - 1) / rl.n_socks));
	fflush(stdout);
	rl.ev_tick = event_new(rl.base, -1, EV_PERSIST, rl_on_tick, &rl);
	rl.ev_flush = event_new(rl.base, -1, 0, rl_on_flush, &rl);
	ev_term = evsignal_new(rl.base, SIGTERM, rl_on_term, rl.base);
	ev_int = evsignal_new(rl.base, SIGINT, rl_on_term, rl.base);
	if (rl.ev_tick == NULL || rl.ev_flush == NULL || ev_term == NULL ||
	    ev_int == NULL)
		return 1;
	event_add(rl.ev_tick, &(struct timeval){ 0, RL_TICK_MS * 1000 });
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	rl.start_ms = rl.phase_start_ms = cr_now_ms();
	rl.phase_cpu_start = rl_node_cpu_ms(&rl);
	rl_start_more(&rl);
	rl_flush(&rl);
	event_base_dispatch(rl.base);

	rl_sum_stats(&rl);
	printf("ringload: exit handshakes=%llu cookies=%llu\n",
	       (unsigned long long)rl.agg.handshakes_completed,
	       (unsigned long long)rl.agg.drops[CR_SESS_DROP_COOKIE]);
	for (size_t i = 0; i < rl.n; i++)
		cr_sess_host_free(rl.devs[i].host);
	for (size_t i = 0; i < rl.n_socks; i++) {
		event_free(rl.ev_read[i]);
		close(rl.fds[i]);
	}
	event_free(rl.ev_tick);
	event_free(rl.ev_flush);
	event_free(ev_term);
	event_free(ev_int);
	event_base_free(rl.base);
	free(rl.devs);
	free(rl.out);
	return 0;
bad:
	usage(stderr);
	return 2;
}
