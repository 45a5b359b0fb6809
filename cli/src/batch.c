/*
 * carrier ping --batch FILE: reach many devices from one process, each
 * through the same path as `carrier ping --relay` (verified lookup, a relay route
 * through a node holding the device's session, end-to-end Noise, an
 * end-to-end ping), again and again until every device has answered once
 * or the time is up.  Prints when each device answered, then the p50, p99
 * and largest time to reach.  Made for measuring recovery after nodes die.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "commands.h"
#include "cp/hop.h"
#include "cr/e2e.h"
#include "cr/util.h"

enum {
	BATCH_MAX = 100000,
	/* One attempt: several relays may be tried, 1.5 s each; with half
	 * a 6-node ring lying, three of them before an honest one. */
	BATCH_CONNECT_MS = 9000,
	BATCH_PONG_MS = 1000,
	/* A device not found quickly is tried again after the others, so
	 * that one slow device does not hold up the rest. */
	BATCH_LOOKUP_MS = 800,
};

struct batch_dev {
	struct cr_id id;
	int64_t reached_ms; /* since `since`; -1 not yet */
	size_t node_idx;
};

struct batch_state {
	struct cr_sess *sess;
	struct cr_e2e *e2e;
	uint64_t nonce;
	int pong;
};

static void batch_e2e_recv(void *arg, struct cr_sess *s, const uint8_t *msg,
			   size_t len)
{
	struct batch_state *b = arg;

	if (s == b->sess && b->e2e != NULL)
		cr_e2e_input(b->e2e, msg, len);
}

static void batch_e2e_down(void *arg, struct cr_sess *s)
{
	struct batch_state *b = arg;

	if (s == b->sess)
		b->sess = NULL;
}

static void batch_e2e_flush(void *arg)
{
	struct batch_state *b = arg;

	if (b->e2e != NULL)
		cr_e2e_flush(b->e2e);
}

static void batch_control(void *arg, struct cr_e2e *e, const uint8_t *msg,
			  size_t len)
{
	struct batch_state *b = arg;
	Carrier__E2eControl *m = cp_e2e_control_unpack(msg, len);

	if (m == NULL)
		return;
	if (m->msg_case == CARRIER__E2E_CONTROL__MSG_PONG &&
	    m->pong->nonce == b->nonce)
		b->pong = 1;
	cp_e2e_control_free(m);
}

static int batch_accept(void *arg, struct cr_e2e *e, uint32_t sid,
			const uint8_t *meta, size_t meta_len)
{
	return CR_STREAM_RESET_REFUSED;
}

static void batch_stream_done(void *arg, struct cr_e2e *e, uint32_t sid,
			      int code)
{
}

static const struct cr_e2e_ops batch_e2e_ops = {
	.accept = batch_accept,
	.stream_done = batch_stream_done,
	.control = batch_control,
};

/* One attempt at one device: 1 when it answered an end-to-end ping. */
static int batch_try(struct cl_client *c, struct event_base *base,
		     struct batch_state *b, struct batch_dev *d)
{
	Carrier__E2eControl m = CARRIER__E2E_CONTROL__INIT;
	Carrier__Ping ping = CARRIER__PING__INIT;
	struct cr_error *err = NULL;
	uint8_t buf[64];
	long n;

	b->sess = cl_e2e_connect(c, &d->id, BATCH_CONNECT_MS, &d->node_idx,
				 &err);
	cr_error_free(err);
	if (b->sess == NULL)
		return 0;
	b->e2e = cr_e2e_new(base, b->sess, 1, &batch_e2e_ops, b);
	if (b->e2e == NULL)
		return 0;
	b->pong = 0;
	ping.nonce = ++b->nonce;
	m.msg_case = CARRIER__E2E_CONTROL__MSG_PING;
	m.ping = &ping;
	n = cp_e2e_control_pack(&m, buf, sizeof(buf));
	if (n > 0)
		cr_e2e_control(b->e2e, buf, (size_t)n);
	cl_wait(c, &b->pong, cr_now_ms() + BATCH_PONG_MS);
	if (!b->pong)
		cl_relay_failed(c, d->node_idx);
	b->e2e = cr_e2e_free(b->e2e);
	if (b->sess != NULL) {
		struct cr_sess *s = b->sess;

		b->sess = NULL;
		cr_sess_close(s);
	}
	return b->pong;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int batch_read(const char *path, struct batch_dev **out, size_t *n)
{
	FILE *f = fopen(path, "re");
	char line[256];
	struct batch_dev *d = NULL;
	size_t cap = 0;

	*n = 0;
	if (f == NULL)
		return cl_fail(1, "--batch: cannot open %s: %s", path,
			       strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		struct cr_error *err = NULL;
		size_t len = strcspn(line, " \t\r\n");

		if (len == 0 || line[0] == '#')
			continue;
		line[len] = '\0';
		if (*n == cap) {
			struct batch_dev *nd;

			cap = cap ? cap * 2 : 64;
			nd = cap <= BATCH_MAX ? realloc(d, cap * sizeof(*d)) :
						NULL;
			if (nd == NULL) {
				free(d);
				fclose(f);
				return cl_fail(1, "--batch: more than %d "
						  "devices or out of memory",
					       BATCH_MAX);
			}
			d = nd;
		}
		if (cr_id_parse(line, &d[*n].id, &err) < 0 ||
		    d[*n].id.type != CR_ID_DEVICE) {
			int rc = cl_fail(2, "--batch %s: '%s' is not a device "
					    "identity%s%s",
					 path, line, err ? ": " : "",
					 err ? cr_error_msg(err) : "");

			cr_error_free(err);
			free(d);
			fclose(f);
			return rc;
		}
		d[*n].reached_ms = -1;
		(*n)++;
	}
	fclose(f);
	*out = d;
	return 0;
}

int cl_ping_batch(const struct cl_vendor_opts *vo, const char *path,
		  uint64_t within_ms, uint64_t since_ms)
{
	struct batch_state b;
	struct batch_dev *devs = NULL;
	struct cr_error *err = NULL;
	struct event_base *base;
	struct cl_client *c;
	int64_t *t;
	size_t n, left, got = 0;
	uint64_t deadline;
	char ids[CR_ID_STRMAX];
	int rc;

	rc = batch_read(path, &devs, &n);
	if (rc != 0)
		return rc;
	if (since_ms == 0)
		since_ms = cr_now_unix() * 1000;
	memset(&b, 0, sizeof(b));
	base = event_base_new();
	c = base != NULL ? cl_client_open(base, vo, &err) : NULL;
	if (c == NULL) {
		rc = cl_fail(1, "%s", err ? cr_error_msg(err) : "no event loop");
		cr_error_free(err);
		free(devs);
		if (base != NULL)
			event_base_free(base);
		return rc;
	}
	cl_set_lookup_timeout(c, BATCH_LOOKUP_MS);
	/* Through the ring, as `carrier ping --relay`: what is measured is
	 * how soon the ring reaches the device, not hole punching (this loop
	 * runs no punch state, which carrier ping/connect do). */
	cl_set_relay_only(c, 1);
	cl_set_e2e_handler(c, batch_e2e_recv, batch_e2e_down, batch_e2e_flush,
			   &b);
	deadline = cr_now_ms() + within_ms;
	left = n;
	/* Round after round over the devices not reached yet. */
	while (left > 0 && cr_now_ms() < deadline) {
		for (size_t i = 0; i < n && cr_now_ms() < deadline; i++) {
			struct batch_dev *d = &devs[i];
			struct timespec ts;
			int64_t now;

			if (d->reached_ms >= 0 || !batch_try(c, base, &b, d))
				continue;
			clock_gettime(CLOCK_REALTIME, &ts);
			now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
			d->reached_ms = now - (int64_t)since_ms;
			left--;
			printf("%s reached after %lld ms via %s\n",
			       cr_id_format(&d->id, ids),
			       (long long)d->reached_ms,
			       cl_ring(c)->nodes[d->node_idx].addr);
		}
	}
	t = calloc(n + 1, sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		if (devs[i].reached_ms >= 0) {
			if (t != NULL)
				t[got] = devs[i].reached_ms;
			got++;
		} else {
			printf("%s unreachable\n", cr_id_format(&devs[i].id, ids));
		}
	}
	printf("reached %zu of %zu devices", got, n);
	if (got > 0 && t != NULL) {
		qsort(t, got, sizeof(*t), cmp_i64);
		printf("; time to reach p50 %lld ms, p99 %lld ms, max %lld ms",
		       (long long)t[(got - 1) / 2],
		       (long long)t[(got * 99 + 99) / 100 - 1],
		       (long long)t[got - 1]);
	}
	printf("\n");
	free(t);
	free(devs);
	cl_client_free(c);
	event_base_free(base);
	return got == n ? 0 : CL_EXIT_OFFLINE;
}
