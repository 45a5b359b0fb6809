/*
 * The ring node in process (ring-node/src/config.c, node.c): its settings
 * (defaults, units, bounds, unknown keys, the test-only byzantine mode),
 * the start-up checks (each missing setting named, a key of the wrong
 * type, a node that is not in its ring), and a node started on loopback
 * whose metrics endpoint answers in the Prometheus text format with the
 * node's gauges, refusing other paths; a reload that changes the key is
 * refused and keeps the node running.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cr/identity.h"
#include "cr/ring.h"
#include "cr/util.h"
#include "rn/byzantine.h"
#include "rn/node.h"

#include "../check_main.h"

static char dir[64];

static void setup(void)
{
	cr_check_tmpdir(dir, "check_node");
}

static void teardown(void)
{
	/* The folder holds only what the test made (keys, ring, LMDB). */
	cr_check_tmpdir_remove(dir);
}

static int set(struct rn_config *c, const char *k, const char *v,
	       const char *want_err)
{
	struct cr_error *err = NULL;
	int rc = rn_config_set(c, k, v, &err);

	if (want_err == NULL)
		ck_assert_msg(rc == 0, "%s=%s: %s", k, v, cr_error_msg(err));
	else
		ck_assert_msg(rc < 0 && strstr(cr_error_msg(err), want_err),
			      "%s=%s: want '%s', got rc %d '%s'", k, v,
			      want_err, rc, rc < 0 ? cr_error_msg(err) : "");
	cr_error_free(err);
	return rc;
}

START_TEST(test_config_set)
{
	struct rn_config c;
	struct cr_error *err = NULL;
	int rc;

	rn_config_init(&c);
	ck_assert_uint_eq(c.route_idle_ms, 120000);
	ck_assert_uint_eq(c.heartbeat_ms, 250);
	ck_assert_uint_eq(c.cache_size, 1ull << 30);
	ck_assert_int_eq(c.log_level, CR_LOG_INFO);

	set(&c, "listen", "127.0.0.1:7000", NULL);
	ck_assert_str_eq(c.listen, "127.0.0.1:7000");
	set(&c, "cache-size", "2M", NULL);
	ck_assert_uint_eq(c.cache_size, 2u << 20);
	set(&c, "route-idle", "90s", NULL);
	ck_assert_uint_eq(c.route_idle_ms, 90000);
	set(&c, "heartbeat", "100ms", NULL);
	ck_assert_uint_eq(c.heartbeat_ms, 100);
	set(&c, "routes-per-device", "1024", NULL);
	ck_assert_uint_eq(c.routes_per_device, 1024);
	set(&c, "log-level", "debug", NULL);
	ck_assert_int_eq(c.log_level, CR_LOG_DEBUG);

	/* Out of bounds or malformed: refused, saying what is expected, and
	 * the old value stays. */
	set(&c, "routes-per-device", "1025", "up to 1024");
	ck_assert_uint_eq(c.routes_per_device, 1024);
	set(&c, "heartbeat", "5ms", "from 10ms to 60s");
	ck_assert_uint_eq(c.heartbeat_ms, 100);
	set(&c, "replicas", "65", "0-64");
	set(&c, "max-sessions", "many", "");
	set(&c, "log-level", "loud", "");
	ck_assert_int_eq(c.log_level, CR_LOG_DEBUG);
	set(&c, "no-such-setting", "1", "");

	/* byzantine exists only in CR_TEST_MODES builds; otherwise the
	 * refusal says so. */
	rc = rn_config_set(&c, "byzantine", "true", &err);
	if (rc < 0) {
		ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "test-only"));
	} else {
		/* Alone: the classic liar; else roles by name. */
		ck_assert_uint_eq(c.byzantine, RN_BYZ_CLASSIC);
		ck_assert_int_eq(rn_config_set(&c, "byzantine",
					       "misroute,fleet-forge", &err),
				 0);
		ck_assert_uint_eq(c.byzantine,
				  RN_BYZ_MISROUTE | RN_BYZ_FLEET_FORGE);
		ck_assert_int_eq(rn_config_set(&c, "byzantine", "drop,lie",
					       &err),
				 -1);
		ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "'lie'"));
		cr_error_free(err);
		err = NULL;
		ck_assert_int_eq(rn_config_set(&c, "byzantine", "all", &err),
				 0);
		ck_assert_uint_eq(c.byzantine, (1u << RN_BYZ_ROLES) - 1);
	}
	cr_error_free(err);
}
END_TEST

/* Writes a key of type t to dir/name; returns its key pair. */
static struct cr_keypair make_key(const char *name, enum cr_id_type t)
{
	struct cr_keypair kp;
	struct cr_error *err = NULL;
	char path[128];

	ck_assert_int_eq(cr_keypair_generate(t, &kp), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_msg(cr_keypair_save(&kp, path, &err) == 0, "%s",
		      cr_error_msg(err));
	return kp;
}

/* A free loopback port (TCP and UDP), found by binding port 0. */
static unsigned free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* A one-node ring holding node (at 127.0.0.1:port), signed by op. */
static void make_ring(const struct cr_keypair *op,
		      const struct cr_keypair *node, unsigned port)
{
	struct cr_ring_node rn = { .weight = 1 };
	struct cr_ring *ring = NULL;
	struct cr_error *err = NULL;
	char path[128];

	memcpy(rn.pk, node->pk, CR_PKLEN);
	cr_id_from_pk(CR_ID_NODE, node->pk, &rn.id);
	snprintf(rn.addr, sizeof(rn.addr), "127.0.0.1:%u", port);
	ck_assert_msg(cr_ring_build(op, 1, 1, &rn, 1, &ring, &err) == 0, "%s",
		      cr_error_msg(err));
	snprintf(path, sizeof(path), "%s/ring", dir);
	ck_assert_msg(cr_ring_save(ring, path, &err) == 0, "%s",
		      cr_error_msg(err));
	cr_ring_free(ring);
}

static void check_fails(const struct rn_config *c, const char *want)
{
	struct cr_error *err = NULL;
	int rc = rn_config_check(c, &err);

	ck_assert_msg(rc < 0 && strstr(cr_error_msg(err), want),
		      "want '%s', got rc %d '%s'", want, rc,
		      rc < 0 ? cr_error_msg(err) : "");
	cr_error_free(err);
}

/* A valid configuration in dir: node key, ring, data folder. */
static void valid_config(struct rn_config *c, unsigned port)
{
	struct cr_keypair op = make_key("op", CR_ID_OPERATOR);
	struct cr_keypair node = make_key("node", CR_ID_NODE);
	char v[128];

	make_ring(&op, &node, port);
	rn_config_init(c);
	snprintf(v, sizeof(v), "%s/node", dir);
	set(c, "key", v, NULL);
	snprintf(v, sizeof(v), "%s/ring", dir);
	set(c, "ring", v, NULL);
	snprintf(v, sizeof(v), "127.0.0.1:%u", port);
	set(c, "listen", v, NULL);
	set(c, "data", dir, NULL);
	set(c, "cache-size", "0", NULL);
	set(c, "log-level", "error", NULL);
}

START_TEST(test_config_check)
{
	struct rn_config c, good;
	struct cr_error *err = NULL;
	char v[128];

	rn_config_init(&c);
	check_fails(&c, "no key");
	set(&c, "key", "/nonexistent/key", NULL);
	check_fails(&c, "no ring");
	set(&c, "ring", "/nonexistent/ring", NULL);
	check_fails(&c, "no listen address");
	set(&c, "listen", "127.0.0.1:1", NULL);
	check_fails(&c, "no data directory");

	valid_config(&good, 7000);
	ck_assert_msg(rn_config_check(&good, &err) == 0, "%s",
		      cr_error_msg(err));

	c = good;
	set(&c, "listen", "not an address", NULL);
	check_fails(&c, "--listen");
	c = good;
	set(&c, "metrics", "127.0.0.1:notaport", NULL);
	check_fails(&c, "--metrics");
	c = good;
	set(&c, "operator", "not-an-id", NULL);
	check_fails(&c, "--operator");
	/* The operator's key is no node key. */
	c = good;
	snprintf(v, sizeof(v), "%s/op", dir);
	set(&c, "key", v, NULL);
	check_fails(&c, "not a node key");
	/* A node key outside the ring. */
	make_key("other", CR_ID_NODE);
	c = good;
	snprintf(v, sizeof(v), "%s/other", dir);
	set(&c, "key", v, NULL);
	check_fails(&c, "not a member of ring");
}
END_TEST

struct http_get {
	int fd;
	char buf[65536];
	size_t len;
	int done;
};

static void on_http(evutil_socket_t fd, short what, void *arg)
{
	struct http_get *g = arg;
	ssize_t n;

	(void)what;
	n = read(fd, g->buf + g->len, sizeof(g->buf) - 1 - g->len);
	if (n > 0)
		g->len += (size_t)n;
	else if (n == 0 || errno != EAGAIN)
		g->done = 1;
	g->buf[g->len] = '\0';
}

/* GETs path from 127.0.0.1:port while running the node's loop. */
static void http_get(struct event_base *base, unsigned port, const char *path,
		     struct http_get *g)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct event *ev;
	uint64_t deadline = cr_now_ms() + 30000;
	char req[256];
	int len;

	memset(g, 0, sizeof(*g));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	g->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(g->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	len = snprintf(req, sizeof(req),
		       "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	ck_assert_int_eq(write(g->fd, req, (size_t)len), len);
	evutil_make_socket_nonblocking(g->fd);
	ev = event_new(base, g->fd, EV_READ | EV_PERSIST, on_http, g);
	ck_assert_int_eq(event_add(ev, NULL), 0);
	while (!g->done && cr_now_ms() < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ev);
	close(g->fd);
	ck_assert_msg(g->done, "no answer from the metrics endpoint");
}

START_TEST(test_node_metrics)
{
	struct event_base *base = event_base_new();
	struct rn_config c, other;
	struct rn_node *n;
	struct cr_error *err = NULL;
	struct http_get g;
	unsigned mport = 0;
	char v[128];

	/* A port found free can be taken by a test running beside this one
	 * before the node binds it: try other ports then. */
	n = NULL;
	for (int tries = 0; n == NULL && tries < 10; tries++) {
		if (tries > 0) {
			ck_assert_msg(strstr(cr_error_msg(err), "in use") != NULL,
				      "%s", cr_error_msg(err));
			err = cr_error_free(err);
		}
		mport = free_port();
		valid_config(&c, free_port());
		snprintf(v, sizeof(v), "127.0.0.1:%u", mport);
		set(&c, "metrics", v, NULL);
		n = rn_node_new(base, &c, &err);
	}
	ck_assert_msg(n != NULL, "%s", cr_error_msg(err));

	http_get(base, mport, "/metrics", &g);
	ck_assert_msg(strncmp(g.buf, "HTTP/1.", 7) == 0 &&
			      strstr(g.buf, " 200 ") != NULL,
		      "%s", g.buf);
	/* Prometheus text: HELP and TYPE lines, then the value. */
	ck_assert_ptr_nonnull(strstr(g.buf, "# TYPE carrier_node_sessions "
					    "gauge\n"));
	ck_assert_ptr_nonnull(strstr(g.buf, "\ncarrier_node_sessions 0\n"));
	ck_assert_ptr_nonnull(strstr(g.buf, "\ncarrier_node_routes 0\n"));
	ck_assert_ptr_nonnull(strstr(g.buf,
				     "\ncarrier_node_presence_records 0\n"));

	http_get(base, mport, "/other", &g);
	ck_assert_msg(strstr(g.buf, " 404 ") != NULL, "%s", g.buf);

	/* The key cannot change without a restart; the node keeps going. */
	other = c;
	make_key("other", CR_ID_NODE);
	snprintf(v, sizeof(v), "%s/other", dir);
	set(&other, "key", v, NULL);
	ck_assert_int_lt(rn_node_reload(n, &other, &err), 0);
	ck_assert_ptr_nonnull(err);
	cr_error_free(err);
	err = NULL;
	http_get(base, mport, "/metrics", &g);
	ck_assert_ptr_nonnull(strstr(g.buf, " 200 "));

	rn_node_free(n);
	event_base_free(base);
}
END_TEST

static Suite *node_suite(void)
{
	Suite *s = suite_create("node");
	TCase *tc = tcase_create("node");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_config_set);
	tcase_add_test(tc, test_config_check);
	tcase_add_test(tc, test_node_metrics);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(node_suite());
}
