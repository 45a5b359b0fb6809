/*
 * devsim: many simulated devices in one process, for integration tests and
 * benchmarks.  Each is a real da_agent (own key, own UDP socket, real
 * handshakes and signed presence) sharing one event loop.
 *
 *   devsim --ring RING --dir DIR -n N [--keepalive DUR] [--allow V:P]
 *          [--attach N] [--migrate-window DUR] [--presence-ttl DUR]
 *
 * Without --keepalive and --attach the agent's defaults apply (they
 * follow the ring: da_config_resolve).
 * Creates DIR/dev<i>.key on first use (kept across runs so identities are
 * stable), writes their identities to DIR/ids.txt, and runs until SIGTERM.
 * SIGUSR1 writes DIR/acked.txt: each device's identity and the highest
 * presence sequence its home nodes acknowledged (stored by a majority);
 * and DIR/traffic.txt: each device's identity and what it sent and
 * received over its hop sessions so far (datagrams, bytes; see
 * da_agent_traffic), for bench/ring-failover.sh's idle traffic.
 * DIR/ranks.txt, written at the start: each device's identity and the
 * indices of the ring's nodes, best ranked first (its home set is the
 * first R alive; cr_ring_rank), so that a test can kill a home set.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cr/log.h"
#include "cr/ring.h"
#include "cr/util.h"
#include "da/agent.h"

static void on_term(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

struct sim {
	struct da_agent **agents;
	uint64_t n;
	const char *dir;
};

static void on_usr1(evutil_socket_t sig, short what, void *arg)
{
	struct sim *sim = arg;
	char path[4096], tmp[4200], ids[CR_ID_STRMAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/acked.txt", sim->dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL)
		return;
	for (uint64_t i = 0; i < sim->n; i++)
		fprintf(f, "%s %llu\n",
			cr_id_format(da_agent_id(sim->agents[i]), ids),
			(unsigned long long)da_agent_acked_seq(sim->agents[i]));
	fclose(f);
	rename(tmp, path);

	snprintf(path, sizeof(path), "%s/traffic.txt", sim->dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL)
		return;
	for (uint64_t i = 0; i < sim->n; i++) {
		struct da_agent_traffic t;

		da_agent_traffic(sim->agents[i], &t);
		fprintf(f, "%s %llu %llu %llu %llu\n",
			cr_id_format(da_agent_id(sim->agents[i]), ids),
			(unsigned long long)t.tx_datagrams,
			(unsigned long long)t.tx_bytes,
			(unsigned long long)t.rx_datagrams,
			(unsigned long long)t.rx_bytes);
	}
	fclose(f);
	rename(tmp, path);
}

/* DIR/ranks.txt: each device's ranking of the ring's nodes. */
static int write_ranks(const char *ring_path, struct sim *sim)
{
	struct cr_error *err = NULL;
	struct cr_ring *r = NULL;
	char path[4096], ids[CR_ID_STRMAX];
	size_t *rank;
	FILE *f;

	if (cr_ring_load(ring_path, NULL, &r, &err) < 0) {
		fprintf(stderr, "devsim: %s\n", cr_error_msg(err));
		cr_error_free(err);
		return -1;
	}
	rank = calloc(r->n_nodes, sizeof(*rank));
	snprintf(path, sizeof(path), "%s/ranks.txt", sim->dir);
	f = fopen(path, "w");
	if (rank == NULL || f == NULL) {
		free(rank);
		if (f != NULL)
			fclose(f);
		cr_ring_free(r);
		return -1;
	}
	for (uint64_t i = 0; i < sim->n; i++) {
		const struct cr_id *id = da_agent_id(sim->agents[i]);
		size_t n = cr_ring_rank(r, id->hash, NULL, rank, r->n_nodes);

		fprintf(f, "%s", cr_id_format(id, ids));
		for (size_t j = 0; j < n; j++)
			fprintf(f, " %zu", rank[j]);
		fputc('\n', f);
	}
	fclose(f);
	free(rank);
	cr_ring_free(r);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ring", required_argument, NULL, 'r' },
		{ "dir", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'n' },
		{ "keepalive", required_argument, NULL, 'k' },
		{ "allow", required_argument, NULL, 'a' },
		{ "attach", required_argument, NULL, 't' },
		{ "migrate-window", required_argument, NULL, 'm' },
		{ "presence-ttl", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ring = NULL, *dir = NULL, *keepalive = NULL, *allow = NULL;
	const char *attach = NULL, *migrate = NULL, *ttl = NULL;
	struct da_agent **agents;
	struct event_base *base;
	struct event *ev_term, *ev_usr1;
	struct sim sim;
	uint64_t n = 0;
	char path[4096];
	FILE *ids;
	int c;

	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		switch (c) {
		case 'r': ring = optarg; break;
		case 'd': dir = optarg; break;
		case 'k': keepalive = optarg; break;
		case 'a': allow = optarg; break;
		case 't': attach = optarg; break;
		case 'm': migrate = optarg; break;
		case 'p': ttl = optarg; break;
		case 'n':
			if (cr_parse_u64(optarg, 1, 100000, &n) < 0)
				return 2;
			break;
		default:
			return 2;
		}
	}
	if (ring == NULL || dir == NULL || n == 0) {
		fprintf(stderr, "usage: devsim --ring RING --dir DIR -n N "
				"[--keepalive DUR] [--allow V:P] [--attach N] "
				"[--migrate-window DUR] [--presence-ttl DUR]\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	cr_log_init("devsim", CR_LOG_WARN, 0);
	mkdir(dir, 0700);
	base = event_base_new();
	agents = calloc(n, sizeof(*agents));
	snprintf(path, sizeof(path), "%s/ids.txt", dir);
	ids = fopen(path, "w");
	if (base == NULL || agents == NULL || ids == NULL)
		return 1;
	/* Caught from the start: SIGUSR1 would otherwise kill a devsim that
	 * is still creating its devices. */
	sim.agents = agents;
	sim.n = 0;
	sim.dir = dir;
	ev_usr1 = evsignal_new(base, SIGUSR1, on_usr1, &sim);
	event_add(ev_usr1, NULL);
	for (uint64_t i = 0; i < n; i++) {
		struct cr_error *err = NULL;
		struct da_config cfg;
		struct stat st;
		char ids_s[CR_ID_STRMAX];

		da_config_init(&cfg);
		snprintf(cfg.key_path, sizeof(cfg.key_path), "%s/dev%llu.key",
			 dir, (unsigned long long)i);
		snprintf(cfg.ring_path, sizeof(cfg.ring_path), "%s", ring);
		snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s/dev%llu.d", dir,
			 (unsigned long long)i);
		if ((keepalive != NULL &&
		     da_config_set(&cfg, "keepalive", keepalive, &err) < 0) ||
		    (allow != NULL && da_config_set(&cfg, "allow", allow, &err) < 0) ||
		    (attach != NULL &&
		     da_config_set(&cfg, "attach", attach, &err) < 0) ||
		    (migrate != NULL &&
		     da_config_set(&cfg, "migrate-window", migrate, &err) < 0) ||
		    (ttl != NULL &&
		     da_config_set(&cfg, "presence-ttl", ttl, &err) < 0)) {
			fprintf(stderr, "devsim: %s\n", cr_error_msg(err));
			return 2;
		}
		if (stat(cfg.key_path, &st) < 0) {
			struct cr_keypair kp;

			cr_keypair_generate(CR_ID_DEVICE, &kp);
			if (cr_keypair_save(&kp, cfg.key_path, &err) < 0) {
				fprintf(stderr, "devsim: %s\n", cr_error_msg(err));
				return 1;
			}
			cr_keypair_wipe(&kp);
		}
		agents[i] = da_agent_new(base, &cfg, &err);
		if (agents[i] == NULL) {
			fprintf(stderr, "devsim: device %llu: %s\n",
				(unsigned long long)i, cr_error_msg(err));
			return 1;
		}
		fprintf(ids, "%s\n",
			cr_id_format(da_agent_id(agents[i]), ids_s));
		sim.n = i + 1;
	}
	fclose(ids);
	if (write_ranks(ring, &sim) < 0)
		return 1;
	ev_term = evsignal_new(base, SIGTERM, on_term, base);
	event_add(ev_term, NULL);
	event_base_dispatch(base);
	event_free(ev_term);
	event_free(ev_usr1);
	for (uint64_t i = 0; i < n; i++)
		da_agent_free(agents[i]);
	free(agents);
	event_base_free(base);
	return 0;
}
