/*
 * mqttload: N idle MQTT 3.1.1 clients against one or more brokers, for
 * bench/ring-scale.sh (mosquitto beside carrier-node).  A process may hold
 * at most 20,000 open files here, so the clients are spread over worker
 * processes, each an epoll loop with at most --per-proc connections.
 * Client j binds to its own loopback source address (127.32.0.0 + 1 + j)
 * so no ephemeral port range runs out, and connects to the next port of
 * --ports in turn.
 *
 *   mqttload --ports P1[,P2...] -n N [--per-proc M] [--window W]
 *            [--keepalive SECONDS]
 *
 * Prints `mqttload: phase=connect clients=N wall_ms=T rate_per_s=R` when
 * every client has its CONNACK, then keeps them connected (PINGREQ every
 * keepalive) until SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
	MQ_PORTS_MAX = 64,
	MQ_SRC_BASE = (127u << 24) | (32u << 16),
	MQ_EVENTS = 256,
};

enum mq_state { MQ_IDLE, MQ_CONNECTING, MQ_WAIT_CONNACK, MQ_UP };

struct mq_client {
	int fd;
	uint8_t state;
	uint8_t got; /* CONNACK bytes read */
};

struct mq {
	uint16_t ports[MQ_PORTS_MAX];
	size_t n_ports;
	unsigned keepalive;
	size_t window;
};

static volatile sig_atomic_t mq_stop;

static void mq_on_term(int sig)
{
	mq_stop = 1;
}

static uint64_t mq_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* An MQTT 3.1.1 CONNECT with a clean session and client id "c<j>". */
static size_t mq_connect_packet(uint8_t *p, size_t j, unsigned keepalive)
{
	char id[24];
	int idlen = snprintf(id, sizeof(id), "c%zu", j);
	size_t rem = 10 + 2 + (size_t)idlen, n = 0;

	p[n++] = 0x10;
	p[n++] = (uint8_t)rem; /* under 128: one length byte */
	memcpy(p + n, "\0\4MQTT\4\2", 8);
	n += 8;
	p[n++] = (uint8_t)(keepalive >> 8);
	p[n++] = (uint8_t)keepalive;
	p[n++] = 0;
	p[n++] = (uint8_t)idlen;
	memcpy(p + n, id, (size_t)idlen);
	return n + (size_t)idlen;
}

static int mq_start(struct mq *mq, int ep, struct mq_client *c, size_t j)
{
	struct sockaddr_in src = { .sin_family = AF_INET };
	struct sockaddr_in dst = { .sin_family = AF_INET };
	struct epoll_event ev = { .events = EPOLLOUT };
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	src.sin_addr.s_addr = htonl(MQ_SRC_BASE + 1u + (uint32_t)j);
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	dst.sin_port = htons(mq->ports[j % mq->n_ports]);
	if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0)
		return -1;
	if (connect(c->fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 &&
	    errno != EINPROGRESS)
		return -1;
	c->state = MQ_CONNECTING;
	ev.data.u64 = j;
	return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* One worker: clients [first, first + n).  Writes 'c' to `report` once all
 * are connected, then keeps them alive until SIGTERM. */
static int mq_worker(struct mq *mq, size_t first, size_t n, int report)
{
	struct epoll_event evs[MQ_EVENTS];
	struct mq_client *cl = calloc(n, sizeof(*cl));
	size_t next = 0, inflight = 0, up = 0;
	uint64_t last_ping = 0;
	uint8_t pkt[64];
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (cl == NULL || ep < 0)
		return 1;
	while (!mq_stop) {
		int got;

		while (next < n && inflight < mq->window) {
			if (mq_start(mq, ep, &cl[next], first + next) < 0) {
				fprintf(stderr, "mqttload: client %zu: %s\n",
					first + next, strerror(errno));
				return 1;
			}
			next++;
			inflight++;
		}
		got = epoll_wait(ep, evs, MQ_EVENTS, 1000);
		for (int i = 0; i < got; i++) {
			size_t j = (size_t)evs[i].data.u64 - first;
			struct mq_client *c = &cl[j];
			struct epoll_event ev = { .events = EPOLLIN,
						  .data.u64 = first + j };
			int err = 0;
			socklen_t el = sizeof(err);
			ssize_t r;

			if (c->state == MQ_CONNECTING) {
				size_t len = mq_connect_packet(pkt, first + j,
							       mq->keepalive);

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err != 0 ||
				    write(c->fd, pkt, len) != (ssize_t)len) {
					fprintf(stderr, "mqttload: connect %zu: %s\n",
						first + j, strerror(err ? err : errno));
					return 1;
				}
				c->state = MQ_WAIT_CONNACK;
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				continue;
			}
			r = read(c->fd, pkt, sizeof(pkt));
			if (r == 0 || (r < 0 && errno != EAGAIN)) {
				fprintf(stderr, "mqttload: client %zu closed by "
						"the broker\n", first + j);
				return 1;
			}
			if (r > 0 && c->state == MQ_WAIT_CONNACK) {
				c->got = (uint8_t)(c->got + r);
				if (c->got >= 4) {
					c->state = MQ_UP;
					inflight--;
					if (++up == n && write(report, "c", 1) != 1)
						return 1;
				}
			}
		}
		/* PINGREQ for every client once per keepalive interval (the
		 * broker drops a client silent for 1.5 times that). */
		if (up == n && mq->keepalive != 0 &&
		    mq_now_ms() - last_ping >= mq->keepalive * 1000u) {
			static const uint8_t ping[2] = { 0xc0, 0 };

			for (size_t j = 0; j < n; j++)
				if (write(cl[j].fd, ping, 2) != 2)
					return 1;
			last_ping = mq_now_ms();
		}
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: mqttload --ports P1[,P2...] -n N [--per-proc M]\n"
		   "                [--window W] [--keepalive SECONDS]\n"
		   "N idle MQTT 3.1.1 clients, spread over worker processes of at\n"
		   "most M connections (default 18000) and over the ports.\n");
}

static int mq_parse(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno != 0 || end == s || *end != '\0' || *out == 0 ||
			       *out > max ?
		       -1 :
		       0;
}

int main(int argc, char **argv)
{
	struct mq mq = { .keepalive = 60, .window = 512 };
	unsigned long n = 0, per = 18000, v;
	struct sigaction sa;
	struct rlimit rl;
	size_t procs;
	pid_t *pids;
	int pipefd[2], status = 0;
	uint64_t t0;
	size_t done = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (val == NULL)
			goto bad;
		i++;
		if (strcmp(a, "-n") == 0) {
			if (mq_parse(val, 1000000, &n) < 0)
				goto bad;
		} else if (strcmp(a, "--per-proc") == 0) {
			if (mq_parse(val, 19000, &per) < 0)
				goto bad;
		} else if (strcmp(a, "--window") == 0) {
			if (mq_parse(val, 65536, &v) < 0)
				goto bad;
			mq.window = v;
		} else if (strcmp(a, "--keepalive") == 0) {
			if (mq_parse(val, 65535, &v) < 0)
				goto bad;
			mq.keepalive = (unsigned)v;
		} else if (strcmp(a, "--ports") == 0) {
			char *copy = strdup(val), *save = NULL, *tok;

			for (tok = strtok_r(copy, ",", &save); tok != NULL;
			     tok = strtok_r(NULL, ",", &save)) {
				if (mq.n_ports == MQ_PORTS_MAX ||
				    mq_parse(tok, 65535, &v) < 0) {
					free(copy);
					goto bad;
				}
				mq.ports[mq.n_ports++] = (uint16_t)v;
			}
			free(copy);
		} else {
			goto bad;
		}
	}
	if (n == 0 || mq.n_ports == 0)
		goto bad;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = mq_on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	procs = (n + per - 1) / per;
	pids = calloc(procs, sizeof(*pids));
	if (pids == NULL || pipe2(pipefd, O_CLOEXEC) < 0)
		return 1;
	t0 = mq_now_ms();
	for (size_t p = 0; p < procs; p++) {
		size_t first = p * per;
		size_t cnt = first + per > n ? n - first : per;

		pids[p] = fork();
		if (pids[p] < 0)
			return 1;
		if (pids[p] == 0) {
			close(pipefd[0]);
			_exit(mq_worker(&mq, first, cnt, pipefd[1]));
		}
	}
	close(pipefd[1]);
	while (done < procs && !mq_stop) {
		char c;
		ssize_t r = read(pipefd[0], &c, 1);

		if (r == 1)
			done++;
		else if (r == 0 || errno != EINTR)
			break;
	}
	if (done == procs) {
		uint64_t wall = mq_now_ms() - t0;

		printf("mqttload: phase=connect clients=%lu processes=%zu "
		       "wall_ms=%llu rate_per_s=%llu\n",
		       n, procs, (unsigned long long)wall,
		       (unsigned long long)(wall ? n * 1000u / wall : 0));
		fflush(stdout);
		while (!mq_stop)
			pause();
	} else {
		fprintf(stderr, "mqttload: a worker failed\n");
		status = 1;
	}
	for (size_t p = 0; p < procs; p++)
		kill(pids[p], SIGTERM);
	for (size_t p = 0; p < procs; p++) {
		int st;

		if (waitpid(pids[p], &st, 0) > 0 && (!WIFEXITED(st) ||
						     WEXITSTATUS(st) != 0))
			status = 1;
	}
	free(pids);
	return status;
bad:
	usage(stderr);
	return 2;
}
