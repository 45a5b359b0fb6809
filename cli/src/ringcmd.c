/* carrier ring init | add-node | remove-node | status. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client.h"
#include "cr/ringsync.h"
#include "commands.h"
#include "cp/hop.h"
#include "cr/addr.h"
#include "cr/ring.h"
#include "cr/util.h"

enum {
	RING_MAX_ARGS_NODES = 1024,
	/* cr_error code of a usage error: exit 2 (errno values such as
	 * ENOENT, which is 2 too, are runtime failures: exit 1). */
	RING_EUSAGE = 1000,
};

static const char ring_usage[] =
	"usage: carrier ring init --operator OP_KEY --node NODE.pub@HOST:PORT "
	"[--node ...]\n"
	"                         [--replicas R] [--force] -o RING\n"
	"       carrier ring add-node --operator OP_KEY --ring RING "
	"NODE.pub@HOST:PORT\n"
	"       carrier ring remove-node --operator OP_KEY --ring RING "
	"NODE.pub[@HOST:PORT]\n"
	"       carrier ring status [--ring RING]\n"
	"\n"
	"init writes epoch 1 signed by the operator key; it refuses to "
	"overwrite an\nexisting RING (whose epoch nodes would then refuse to "
	"go back from) unless\n--force is given.  add-node and remove-node\n"
	"write the next epoch back to RING.  Nodes, agents and "
	"the CLI accept only\nhigher epochs signed by the operator they "
	"pinned.  status asks every node\nwhether it is up and which epoch "
	"it runs.\n";

/* NODE.pub@HOST:PORT (the address may be omitted when want_addr is 0). */
static int ring_parse_node(const char *arg, int want_addr,
			   struct cr_ring_node *n, struct cr_error **err)
{
	char path[PATH_MAX];
	const char *at = strrchr(arg, '@');
	enum cr_id_type t;
	struct cr_addr a;
	size_t plen = at != NULL ? (size_t)(at - arg) : strlen(arg);

	memset(n, 0, sizeof(*n));
	if (at == NULL && want_addr)
		return cr_error_set(err, RING_EUSAGE,
				    "'%s' should be NODE.pub@HOST:PORT", arg);
	if (plen >= sizeof(path))
		return cr_error_set(err, RING_EUSAGE, "path too long in '%s'", arg);
	memcpy(path, arg, plen);
	path[plen] = '\0';
	if (cr_pubkey_load(path, &t, n->pk, err) < 0)
		return -1;
	if (t != CR_ID_NODE)
		return cr_error_set(err, 1, "%s is a %s key, not a node key",
				    path, cr_id_type_name(t));
	cr_id_from_pk(CR_ID_NODE, n->pk, &n->id);
	n->weight = 1;
	if (at != NULL) {
		if (cr_addr_parse(at + 1, &a, err) < 0)
			return cr_error_wrap(err, "node address '%s'", at + 1);
		if (strlen(at + 1) >= sizeof(n->addr))
			return cr_error_set(err, RING_EUSAGE, "address too long");
		snprintf(n->addr, sizeof(n->addr), "%s", at + 1);
	}
	return 0;
}

static int ring_load_operator(const char *path, struct cr_keypair *op,
			      struct cr_error **err)
{
	if (path == NULL)
		return cr_error_set(err, RING_EUSAGE, "give the operator key with "
					    "--operator OP_KEY");
	return cr_keypair_load_as(path, CR_ID_OPERATOR, op, err);
}

static int ring_report(struct cr_error *err)
{
	int code = err != NULL && err->code == RING_EUSAGE ? 2 : 1;
	int rc = cl_fail(code, "%s", cr_error_msg(err));

	cr_error_free(err);
	return rc;
}

/*
 * ring init over an existing file: an operator who re-runs init over the
 * ring the nodes run rolls it back to epoch 1, and every node that saw the
 * higher epoch then refuses the operator's next ones.  Says what the file
 * holds; returns 1 (refused) or 0 (no such file).
 */
static int ring_refuse_existing(const char *path)
{
	struct cr_error *err = NULL;
	struct cr_ring *old = NULL;
	struct stat st;
	char ids[CR_ID_STRMAX];
	struct cr_id oid;

	if (lstat(path, &st) < 0)
		return 0;
	if (cr_ring_load(path, NULL, &old, &err) < 0) {
		cl_fail(1, "%s exists (not a ring configuration: %s); refusing "
			   "to overwrite it: give --force to replace it",
			path, cr_error_msg(err));
		cr_error_free(err);
		return 1;
	}
	cr_id_from_pk(CR_ID_OPERATOR, old->operator_pk, &oid);
	cl_fail(1, "%s already holds ring configuration epoch %llu (%zu "
		   "nodes, operator %s); refusing to overwrite it: nodes that "
		   "saw it would refuse a new epoch 1.  Change it with 'carrier "
		   "ring add-node' or 'remove-node', or give --force to start "
		   "a new ring",
		path, (unsigned long long)old->epoch, old->n_nodes,
		cr_id_format(&oid, ids));
	cr_ring_free(old);
	return 1;
}

static int ring_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "operator", required_argument, NULL, 'p' },
		{ "node", required_argument, NULL, 'n' },
		{ "replicas", required_argument, NULL, 'r' },
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cr_ring_node *nodes = NULL;
	struct cr_error *err = NULL;
	struct cr_ring *ring = NULL;
	struct cr_keypair op;
	const char *op_path = NULL, *out = NULL;
	uint64_t replicas = CR_RING_DEFAULT_REPLICAS;
	size_t n = 0;
	char ids[CR_ID_STRMAX];
	int c, rc = 1, force = 0;

	nodes = calloc(RING_MAX_ARGS_NODES, sizeof(*nodes));
	if (nodes == NULL)
		return cl_fail(1, "out of memory");
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			free(nodes);
			fputs(ring_usage, stdout);
			return 0;
		case 'f':
			force = 1;
			break;
		case 'p':
			op_path = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'r':
			if (cr_parse_u64(optarg, 1, 64, &replicas) < 0) {
				free(nodes);
				return cl_fail(2, "--replicas: '%s' is not 1-64",
					       optarg);
			}
			break;
		case 'n':
			if (n == RING_MAX_ARGS_NODES) {
				free(nodes);
				return cl_fail(2, "too many nodes");
			}
			if (ring_parse_node(optarg, 1, &nodes[n], &err) < 0) {
				free(nodes);
				return ring_report(err);
			}
			n++;
			break;
		default:
			free(nodes);
			return cl_bad_option(argv);
		}
	}
	if (out == NULL || n == 0 || optind != argc) {
		free(nodes);
		return cl_fail(2, "usage: carrier ring init --operator OP_KEY "
				  "--node NODE.pub@HOST:PORT [--node ...] -o "
				  "RING");
	}
	if (!force && ring_refuse_existing(out) != 0) {
		free(nodes);
		return 1;
	}
	if (ring_load_operator(op_path, &op, &err) < 0) {
		free(nodes);
		return ring_report(err);
	}
	if (cr_ring_build(&op, 1, (uint32_t)replicas, nodes, n, &ring, &err) < 0 ||
	    cr_ring_save(ring, out, &err) < 0) {
		rc = ring_report(err);
		goto out;
	}
	{
		struct cr_id oid;
		cr_id_from_pk(CR_ID_OPERATOR, op.pk, &oid);
		printf("ring epoch 1 with %zu nodes, signed by %s, written to "
		       "%s\n",
		       n, cr_id_format(&oid, ids), out);
	}
	rc = 0;
out:
	cr_keypair_wipe(&op);
	cr_ring_free(ring);
	free(nodes);
	return rc;
}

static int ring_change(int argc, char **argv, int add)
{
	static const struct option opts[] = {
		{ "operator", required_argument, NULL, 'p' },
		{ "ring", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *op_path = NULL, *ring_path = NULL;
	struct cr_error *err = NULL;
	struct cr_ring *old = NULL, *ring = NULL;
	struct cr_ring_node *nodes = NULL, node;
	struct cr_keypair op;
	size_t n = 0;
	char ids[CR_ID_STRMAX];
	int c, rc = 1, found;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'p') {
			op_path = optarg;
		} else if (c == 'r') {
			ring_path = optarg;
		} else if (c == 'h') {
			fputs(ring_usage, stdout);
			return 0;
		} else {
			return cl_bad_option(argv);
		}
	}
	if (ring_path == NULL || optind + 1 != argc)
		return cl_fail(2, "usage: carrier ring %s --operator OP_KEY "
				  "--ring RING NODE.pub@HOST:PORT",
			       add ? "add-node" : "remove-node");
	if (ring_parse_node(argv[optind], add, &node, &err) < 0)
		return ring_report(err);
	if (ring_load_operator(op_path, &op, &err) < 0)
		return ring_report(err);
	/* Only the operator's own configuration may be extended. */
	if (cr_ring_load(ring_path, op.pk, &old, &err) < 0) {
		rc = ring_report(err);
		goto out;
	}
	nodes = calloc(old->n_nodes + 1, sizeof(*nodes));
	if (nodes == NULL) {
		rc = cl_fail(1, "out of memory");
		goto out;
	}
	found = cr_ring_find(old, node.pk) >= 0;
	if (add && found) {
		rc = cl_fail(1, "node %s is already in the ring",
			     cr_id_format(&node.id, ids));
		goto out;
	}
	if (!add && !found) {
		rc = cl_fail(1, "node %s is not in the ring",
			     cr_id_format(&node.id, ids));
		goto out;
	}
	for (size_t i = 0; i < old->n_nodes; i++)
		if (add || memcmp(old->nodes[i].pk, node.pk, CR_PKLEN) != 0)
			nodes[n++] = old->nodes[i];
	if (add)
		nodes[n++] = node;
	if (n == 0) {
		rc = cl_fail(1, "refusing to remove the last node of the ring");
		goto out;
	}
	if (cr_ring_build(&op, old->epoch + 1, old->replicas, nodes, n, &ring,
			  &err) < 0 ||
	    cr_ring_save(ring, ring_path, &err) < 0) {
		rc = ring_report(err);
		goto out;
	}
	printf("ring epoch %llu: %s node %s; %zu nodes\n",
	       (unsigned long long)ring->epoch, add ? "added" : "removed",
	       cr_id_format(&node.id, ids), n);
	rc = 0;
out:
	cr_keypair_wipe(&op);
	cr_ring_free(old);
	cr_ring_free(ring);
	free(nodes);
	return rc;
}

static int ring_status(int argc, char **argv)
{
	static const struct option opts[] = {
		CL_VENDOR_LONG_OPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cl_vendor_opts vo = { NULL, NULL, NULL, 0, NULL };
	char ring_path[PATH_MAX], ids[CR_ID_STRMAX];
	struct cr_error *err = NULL;
	struct event_base *base;
	struct cl_client *c;
	const struct cr_ring *ring;
	size_t up = 0;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(ring_usage, stdout);
			return 0;
		}
		if (!cl_vendor_opt(ch, optarg, &vo))
			return cl_bad_option(argv);
	}
	if (optind != argc)
		return cl_fail(2, "usage: carrier ring status [--ring RING]");
	cl_default_path(vo.ring, "CARRIER_RING", "ring", ring_path,
			sizeof(ring_path));
	base = event_base_new();
	c = cl_client_open(base, &vo, &err);
	if (c == NULL) {
		event_base_free(base);
		return ring_report(err);
	}
	ring = cl_ring(c);
	{
		struct cr_id oid;
		cr_id_from_pk(CR_ID_OPERATOR, ring->operator_pk, &oid);
		printf("ring %s: epoch %llu, operator %s, %zu nodes, home sets "
		       "of %u\n",
		       ring_path, (unsigned long long)ring->epoch,
		       cr_id_format(&oid, ids), ring->n_nodes, ring->replicas);
	}
	for (size_t i = 0; i < ring->n_nodes; i++) {
		Carrier__Hop req = CARRIER__HOP__INIT, *rep;
		Carrier__Ping ping = CARRIER__PING__INIT;
		uint64_t t0 = cr_now_us();
		struct cr_error *e = NULL;

		ping.nonce = t0;
		req.msg_case = CARRIER__HOP__MSG_PING;
		req.ping = &ping;
		rep = cl_request(c, i, &req, 1500, &e);
		cr_id_format(&ring->nodes[i].id, ids);
		if (rep != NULL && rep->msg_case == CARRIER__HOP__MSG_PONG) {
			uint64_t ep = rep->pong->ring_epoch;
			size_t seen = 0;
			char view[64] = "";

			/* The node's own failure detector, when it runs our
			 * epoch (bit i is node i of its configuration). */
			if (rep->pong->alive.len > 0 && ep == ring->epoch) {
				for (size_t j = 0; j < ring->n_nodes; j++)
					seen += cr_alive_get(
						rep->pong->alive.data,
						rep->pong->alive.len, j);
				snprintf(view, sizeof(view),
					 "  sees %zu/%zu alive", seen,
					 ring->n_nodes);
			}
			printf("  %-60s %-22s up    rtt %.2f ms  epoch %llu%s%s\n",
			       ids, ring->nodes[i].addr,
			       (double)(cr_now_us() - t0) / 1000.0,
			       (unsigned long long)ep,
			       ep < ring->epoch ? " (behind)" :
			       ep > ring->epoch ? " (ahead)" : "", view);
			up++;
		} else {
			printf("  %-60s %-22s DOWN\n", ids, ring->nodes[i].addr);
		}
		cp_hop_free(rep);
		cr_error_free(e);
	}
	printf("%zu of %zu nodes up\n", up, ring->n_nodes);
	ch = up == ring->n_nodes ? 0 : 1;
	cl_client_free(c); /* frees ring */
	event_base_free(base);
	return ch;
}

int cl_cmd_ring(int argc, char **argv)
{
	if (argc >= 2 && cl_is_help(argv[1])) {
		fputs(ring_usage, stdout);
		return 0;
	}
	if (argc < 2)
		return cl_fail(2, "usage: carrier ring init|add-node|remove-node|"
				  "status ...");
	if (strcmp(argv[1], "init") == 0)
		return ring_init(argc - 1, argv + 1);
	if (strcmp(argv[1], "add-node") == 0)
		return ring_change(argc - 1, argv + 1, 1);
	if (strcmp(argv[1], "remove-node") == 0)
		return ring_change(argc - 1, argv + 1, 0);
	if (strcmp(argv[1], "status") == 0)
		return ring_status(argc - 1, argv + 1);
	return cl_fail(2, "unknown ring command '%s' (init, add-node, "
			  "remove-node, status)",
		       argv[1]);
}
