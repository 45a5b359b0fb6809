/* carrier ring init | add-node | remove-node | set-operators | sign |
 * status. */
#include <errno.h>
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
	"       carrier ring init --operator A.key --operator B.key.pub "
	"[--operator ...]\n"
	"                         --threshold K --node ... -o RING\n"
	"       carrier ring add-node --operator OP_KEY --ring RING "
	"NODE.pub@HOST:PORT [-o OUT]\n"
	"       carrier ring remove-node --operator OP_KEY --ring RING "
	"NODE.pub[@HOST:PORT] [-o OUT]\n"
	"       carrier ring set-operators --operator OP_KEY --ring RING "
	"--member KEY.pub\n"
	"                         [--member ...] [--threshold K] [-o OUT]\n"
	"       carrier ring sign RING --operator OP_KEY [--ring CURRENT] "
	"[-o OUT]\n"
	"       carrier ring status [--ring RING]\n"
	"\n"
	"init writes epoch 1 signed by the operator key; it refuses to "
	"overwrite an\nexisting RING (whose epoch nodes would then refuse to "
	"go back from) unless\n--force is given.  add-node and remove-node\n"
	"write the next epoch back to RING (or to OUT).  Nodes, agents and "
	"the CLI accept only\nhigher epochs signed by the operator they "
	"pinned.  status asks every node\nwhether it is up and which epoch "
	"it runs.\n"
	"\n"
	"A ring of several operators (companies): init takes each one's "
	"--operator key,\nits secret key for the one who signs now, FILE.pub "
	"for the others, and\n--threshold K (default: a majority).  Every "
	"epoch then needs K of their\nsignatures: add-node, remove-node and "
	"set-operators write a draft signed by\none, which passes from "
	"operator to operator with 'carrier ring sign' until K\nhave signed; "
	"no program runs a draft.  set-operators changes the set (a key\n"
	"rotated, a company joining or leaving): K of the old set and K of "
	"the new\none sign it, and devices pinned to the old set follow the "
	"handover without\nbeing reflashed.  Pins are by the set and K "
	"(opset_..., as status prints it).\n"
	"\n"
	"Each device's record is held by its home set of R nodes.  By "
	"default R is a\nmajority of the ring's nodes (at least 3, at most "
	"16: 4 of 6, 5 of 9), kept\na majority by add-node and remove-node, "
	"so that whichever half of the ring\ndies at once a node holding "
	"each record survives and brings its device back\nat once.  "
	"--replicas R fixes R instead.\n";

/* The next epoch's home-set size: the majority rule again when the ring
 * was made by it, else the ring's number as it is (a ring from before the
 * rule, or one given --replicas, keeps its R). */
static uint32_t ring_next_replicas(const struct cr_ring *old)
{
	return old->replicas_majority ? CR_RING_REPLICAS_MAJORITY
				      : old->replicas;
}

/* Home sets of R, and where R comes from, for what init and status print. */
static const char *ring_replicas_why(const struct cr_ring *r)
{
	return r->replicas_majority ? " (a majority of the nodes)" : "";
}

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

/*
 * One --operator of ring init or set-operators: a secret key (it signs) or
 * a FILE.pub (it names an operator who signs later).  *is_secret says
 * which.
 */
static int ring_load_any_operator(const char *path, struct cr_keypair *kp,
				  int *is_secret, struct cr_error **err)
{
	size_t len = strlen(path);
	enum cr_id_type t;

	memset(kp, 0, sizeof(*kp));
	*is_secret = !(len > 4 && strcmp(path + len - 4, ".pub") == 0);
	if (*is_secret)
		return cr_keypair_load_as(path, CR_ID_OPERATOR, kp, err);
	if (cr_pubkey_load(path, &t, kp->pk, err) < 0)
		return -1;
	if (t != CR_ID_OPERATOR)
		return cr_error_set(err, 1, "%s is a %s key, not an operator "
					    "key",
				    path, cr_id_type_name(t));
	kp->type = CR_ID_OPERATOR;
	return 0;
}

/* Adds pk to set; refuses a key given twice or too many keys. */
static int ring_set_add(struct cr_ring_opset *set, const uint8_t *pk,
			const char *path, struct cr_error **err)
{
	if (cr_ring_opset_find(set, pk, NULL))
		return cr_error_set(err, RING_EUSAGE,
				    "operator %s is given twice", path);
	if (set->n == CR_RING_OPERATORS_MAX)
		return cr_error_set(err, RING_EUSAGE,
				    "a ring has at most %d operators",
				    (int)CR_RING_OPERATORS_MAX);
	memcpy(set->pks[set->n++], pk, CR_PKLEN);
	return 0;
}

/* Parses --threshold K against n keys (0: a majority of them). */
static int ring_threshold(const char *arg, uint64_t *k)
{
	return cr_parse_u64(arg, 1, CR_RING_OPERATORS_MAX, k);
}

/* Who signed, in a line: "signed by 2 of the 3 operators (2 needed)". */
static void ring_print_signed(const struct cr_ring *r, const char *path)
{
	/* One operator: nothing to say unless a handover left it a draft. */
	if (r->ops.n == 1 && r->ops.threshold == 1 && r->complete)
		return;
	if (r->complete)
		printf("%s: signed by %zu of its %zu operators (%u needed): "
		       "complete, publish it\n",
		       path, r->n_signed, r->ops.n, r->ops.threshold);
	else
		printf("%s: a DRAFT signed by %zu of its %zu operators (%u "
		       "needed%s); pass it on: carrier ring sign %s "
		       "--operator KEY\n",
		       path, r->n_signed, r->ops.n, r->ops.threshold,
		       r->n_signed >= r->ops.threshold
			       ? ", and K of the old operators on the handover"
			       : "",
		       path);
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

/*
 * Loads the --operator keys of init: fills set (in the order given) and
 * keys (the secret ones, which sign); *n_keys of them.
 */
static int ring_load_set(char **paths, size_t n_paths, uint64_t threshold,
			 struct cr_ring_opset *set, struct cr_keypair *keys,
			 size_t *n_keys, struct cr_error **err)
{
	memset(set, 0, sizeof(*set));
	*n_keys = 0;
	for (size_t i = 0; i < n_paths; i++) {
		struct cr_keypair kp;
		int secret;

		if (ring_load_any_operator(paths[i], &kp, &secret, err) < 0)
			return -1;
		if (ring_set_add(set, kp.pk, paths[i], err) < 0) {
			cr_keypair_wipe(&kp);
			return -1;
		}
		if (secret)
			keys[(*n_keys)++] = kp;
		cr_keypair_wipe(&kp);
	}
	/* Default: a majority, so that no minority of the companies can
	 * change the ring. */
	set->threshold = threshold != 0 ? (uint32_t)threshold
					: (uint32_t)(set->n / 2 + 1);
	if (set->threshold > set->n)
		return cr_error_set(err, RING_EUSAGE,
				    "--threshold %u is more than the %zu "
				    "operators given",
				    set->threshold, set->n);
	return 0;
}

/* Has every secret key in keys[1..] sign r too (r is replaced). */
static int ring_sign_more(struct cr_ring **r, const struct cr_keypair *keys,
			  size_t n_keys, struct cr_error **err)
{
	for (size_t i = 1; i < n_keys; i++) {
		struct cr_ring *next = NULL;

		if (cr_ring_sign(*r, &keys[i], &next, err) < 0)
			return -1;
		cr_ring_free(*r);
		*r = next;
	}
	return 0;
}

static int ring_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "operator", required_argument, NULL, 'p' },
		{ "threshold", required_argument, NULL, 'k' },
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
	struct cr_keypair keys[CR_RING_OPERATORS_MAX];
	struct cr_ring_opset set;
	char *op_paths[CR_RING_OPERATORS_MAX];
	const char *out = NULL;
	uint64_t replicas = CR_RING_REPLICAS_MAJORITY, threshold = 0;
	size_t n = 0, n_ops = 0, n_keys = 0;
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
			if (n_ops == CR_RING_OPERATORS_MAX) {
				free(nodes);
				return cl_fail(2, "a ring has at most %d "
						  "operators",
					       (int)CR_RING_OPERATORS_MAX);
			}
			op_paths[n_ops++] = optarg;
			break;
		case 'k':
			if (ring_threshold(optarg, &threshold) < 0) {
				free(nodes);
				return cl_fail(2, "--threshold: '%s' is not "
						  "1-%d",
					       optarg,
					       (int)CR_RING_OPERATORS_MAX);
			}
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
	if (n_ops == 0) {
		free(nodes);
		return cl_fail(2, "give the operator key with --operator "
				  "OP_KEY");
	}
	if (!force && ring_refuse_existing(out) != 0) {
		free(nodes);
		return 1;
	}
	if (ring_load_set(op_paths, n_ops, threshold, &set, keys, &n_keys,
			  &err) < 0) {
		rc = ring_report(err);
		goto out;
	}
	if (n_keys == 0) {
		rc = cl_fail(2, "one --operator must be a secret key (the one "
				"who signs epoch 1); the others may be "
				"FILE.pub");
		goto out;
	}
	if (cr_ring_build_set(&keys[0], &set, NULL, 1, (uint32_t)replicas,
			      nodes, n, &ring, &err) < 0 ||
	    ring_sign_more(&ring, keys, n_keys, &err) < 0 ||
	    cr_ring_save(ring, out, &err) < 0) {
		rc = ring_report(err);
		goto out;
	}
	if (set.n == 1 && set.threshold == 1) {
		struct cr_id oid;
		cr_id_from_pk(CR_ID_OPERATOR, keys[0].pk, &oid);
		printf("ring epoch 1 with %zu nodes, signed by %s, written to "
		       "%s\n",
		       n, cr_id_format(&oid, ids), out);
	} else {
		char sid[CR_RING_SETID_STRMAX];

		printf("ring epoch 1 with %zu nodes, operators %u of %zu "
		       "(%s), written to %s\n",
		       n, set.threshold, set.n,
		       cr_ring_setid_format(ring->set_hash, sid), out);
		ring_print_signed(ring, out);
	}
	rc = 0;
out:
	for (size_t i = 0; i < n_keys; i++)
		cr_keypair_wipe(&keys[i]);
	cr_ring_free(ring);
	free(nodes);
	return rc;
}

/*
 * Loads the current configuration for a change: complete (a draft must be
 * finished with `ring sign` first) and with op among its operators.
 */
static int ring_load_current(const char *ring_path,
			     const struct cr_keypair *op, struct cr_ring **out,
			     struct cr_error **err)
{
	struct cr_ring *r = NULL;
	char ids[CR_ID_STRMAX];
	struct cr_id oid;

	if (cr_ring_load_draft(ring_path, &r, err) < 0)
		return -1;
	if (!r->complete) {
		cr_error_set(err, 1,
			     "%s is a draft of epoch %llu signed by %zu of "
			     "the %u operators needed; finish it with "
			     "'carrier ring sign' first",
			     ring_path, (unsigned long long)r->epoch,
			     r->n_signed, r->ops.threshold);
		cr_ring_free(r);
		return -1;
	}
	/* Only the operators' own configuration may be extended. */
	if (!cr_ring_opset_find(&r->ops, op->pk, NULL)) {
		cr_id_from_pk(CR_ID_OPERATOR, op->pk, &oid);
		cr_error_set(err, EKEYREJECTED,
			     "%s: %s is not an operator of this ring",
			     ring_path, cr_id_format(&oid, ids));
		cr_ring_free(r);
		return -1;
	}
	*out = r;
	return 0;
}

static int ring_change(int argc, char **argv, int add)
{
	static const struct option opts[] = {
		{ "operator", required_argument, NULL, 'p' },
		{ "ring", required_argument, NULL, 'r' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *op_path = NULL, *ring_path = NULL, *out_path = NULL;
	struct cr_error *err = NULL;
	struct cr_ring *old = NULL, *ring = NULL;
	struct cr_ring_node *nodes = NULL, node;
	struct cr_keypair op;
	size_t n = 0;
	char ids[CR_ID_STRMAX];
	int c, rc = 1, found;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		if (c == 'p') {
			op_path = optarg;
		} else if (c == 'r') {
			ring_path = optarg;
		} else if (c == 'o') {
			out_path = optarg;
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
	if (out_path == NULL)
		out_path = ring_path;
	if (ring_parse_node(argv[optind], add, &node, &err) < 0)
		return ring_report(err);
	if (ring_load_operator(op_path, &op, &err) < 0)
		return ring_report(err);
	if (ring_load_current(ring_path, &op, &old, &err) < 0) {
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
	if (cr_ring_build_set(&op, &old->ops, old, old->epoch + 1,
			      ring_next_replicas(old), nodes, n, &ring,
			      &err) < 0 ||
	    cr_ring_save(ring, out_path, &err) < 0) {
		rc = ring_report(err);
		goto out;
	}
	printf("ring epoch %llu: %s node %s; %zu nodes\n",
	       (unsigned long long)ring->epoch, add ? "added" : "removed",
	       cr_id_format(&node.id, ids), n);
	ring_print_signed(ring, out_path);
	rc = 0;
out:
	cr_keypair_wipe(&op);
	cr_ring_free(old);
	cr_ring_free(ring);
	free(nodes);
	return rc;
}

/* carrier ring set-operators: the next epoch with another operator set. */
static int ring_set_operators(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "operator", required_argument, NULL, 'p' },
		{ "ring", required_argument, NULL, 'r' },
		{ "member", required_argument, NULL, 'm' },
		{ "threshold", required_argument, NULL, 'k' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *op_path = NULL, *ring_path = NULL, *out_path = NULL;
	char *members[CR_RING_OPERATORS_MAX];
	struct cr_keypair keys[CR_RING_OPERATORS_MAX], op;
	struct cr_error *err = NULL;
	struct cr_ring *old = NULL, *ring = NULL;
	struct cr_ring_opset set;
	uint64_t threshold = 0;
	size_t n_members = 0, n_keys = 0;
	char sid[CR_RING_SETID_STRMAX];
	int c, rc = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			op_path = optarg;
			break;
		case 'r':
			ring_path = optarg;
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'm':
			if (n_members == CR_RING_OPERATORS_MAX)
				return cl_fail(2, "a ring has at most %d "
						  "operators",
					       (int)CR_RING_OPERATORS_MAX);
			members[n_members++] = optarg;
			break;
		case 'k':
			if (ring_threshold(optarg, &threshold) < 0)
				return cl_fail(2, "--threshold: '%s' is not "
						  "1-%d",
					       optarg,
					       (int)CR_RING_OPERATORS_MAX);
			break;
		case 'h':
			fputs(ring_usage, stdout);
			return 0;
		default:
			return cl_bad_option(argv);
		}
	}
	if (ring_path == NULL || n_members == 0 || optind != argc)
		return cl_fail(2, "usage: carrier ring set-operators --operator "
				  "OP_KEY --ring RING --member KEY.pub "
				  "[--member ...] [--threshold K] [-o OUT]");
	if (out_path == NULL)
		out_path = ring_path;
	if (ring_load_set(members, n_members, threshold, &set, keys, &n_keys,
			  &err) < 0) {
		rc = ring_report(err);
		goto out;
	}
	if (ring_load_operator(op_path, &op, &err) < 0) {
		rc = ring_report(err);
		goto out;
	}
	if (ring_load_current(ring_path, &op, &old, &err) < 0) {
		rc = ring_report(err);
		goto out_op;
	}
	if (cr_ring_build_set(&op, &set, old, old->epoch + 1,
			      ring_next_replicas(old), old->nodes, old->n_nodes,
			      &ring, &err) < 0 ||
	    cr_ring_save(ring, out_path, &err) < 0) {
		rc = ring_report(err);
		goto out_op;
	}
	printf("ring epoch %llu: operators %u of %zu (%s), handed over from "
	       "%u of %zu\n",
	       (unsigned long long)ring->epoch, set.threshold, set.n,
	       cr_ring_setid_format(ring->set_hash, sid),
	       old->ops.threshold, old->ops.n);
	ring_print_signed(ring, out_path);
	rc = 0;
out_op:
	cr_keypair_wipe(&op);
out:
	for (size_t i = 0; i < n_keys; i++)
		cr_keypair_wipe(&keys[i]);
	cr_ring_free(old);
	cr_ring_free(ring);
	return rc;
}

/*
 * What a signer agrees to: the nodes and operators that change from the
 * configuration it runs (--ring CURRENT), which must lead to this one.
 */
static int ring_sign_compare(const struct cr_ring *cur,
			     const struct cr_ring *r, struct cr_error **err)
{
	char ids[CR_ID_STRMAX];
	int reach = memcmp(cur->set_hash, r->set_hash,
			   CR_RING_SETHASH_LEN) == 0;

	if (r->epoch <= cur->epoch)
		return cr_error_set(err, ESTALE,
				    "the draft is epoch %llu, not newer than "
				    "the current epoch %llu",
				    (unsigned long long)r->epoch,
				    (unsigned long long)cur->epoch);
	for (size_t i = 0; i < r->n_handovers && !reach; i++)
		reach = memcmp(r->handovers[i].from, cur->set_hash,
			       CR_RING_SETHASH_LEN) == 0;
	if (!reach)
		return cr_error_set(err, EKEYREJECTED,
				    "the draft is not of this ring's "
				    "operators, nor handed over from them");
	for (size_t i = 0; i < r->n_nodes; i++)
		if (cr_ring_find(cur, r->nodes[i].pk) < 0)
			printf("  adds node %s %s\n",
			       cr_id_format(&r->nodes[i].id, ids),
			       r->nodes[i].addr);
	for (size_t i = 0; i < cur->n_nodes; i++)
		if (cr_ring_find(r, cur->nodes[i].pk) < 0)
			printf("  removes node %s %s\n",
			       cr_id_format(&cur->nodes[i].id, ids),
			       cur->nodes[i].addr);
	if (memcmp(cur->set_hash, r->set_hash, CR_RING_SETHASH_LEN) != 0)
		printf("  changes the operators from %u of %zu to %u of %zu\n",
		       cur->ops.threshold, cur->ops.n, r->ops.threshold,
		       r->ops.n);
	return 0;
}

/* carrier ring sign DRAFT --operator KEY: one more signature. */
static int ring_sign(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "operator", required_argument, NULL, 'p' },
		{ "ring", required_argument, NULL, 'r' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *op_path = NULL, *cur_path = NULL, *out_path = NULL, *path;
	struct cr_error *err = NULL;
	struct cr_ring *draft = NULL, *ring = NULL, *cur = NULL;
	struct cr_keypair op;
	int c, rc = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		if (c == 'p') {
			op_path = optarg;
		} else if (c == 'r') {
			cur_path = optarg;
		} else if (c == 'o') {
			out_path = optarg;
		} else if (c == 'h') {
			fputs(ring_usage, stdout);
			return 0;
		} else {
			return cl_bad_option(argv);
		}
	}
	if (optind + 1 != argc)
		return cl_fail(2, "usage: carrier ring sign RING --operator "
				  "OP_KEY [--ring CURRENT] [-o OUT]");
	path = argv[optind];
	if (out_path == NULL)
		out_path = path;
	if (ring_load_operator(op_path, &op, &err) < 0)
		return ring_report(err);
	if (cr_ring_load_draft(path, &draft, &err) < 0 ||
	    (cur_path != NULL && cr_ring_load(cur_path, NULL, &cur, &err) < 0)) {
		rc = ring_report(err);
		goto out;
	}
	printf("%s: epoch %llu, %zu nodes\n", path,
	       (unsigned long long)draft->epoch, draft->n_nodes);
	if (cur != NULL && ring_sign_compare(cur, draft, &err) < 0) {
		rc = ring_report(err);
		goto out;
	}
	if (cr_ring_sign(draft, &op, &ring, &err) < 0 ||
	    cr_ring_save(ring, out_path, &err) < 0) {
		rc = ring_report(err);
		goto out;
	}
	if (ring->ops.n == 1 && ring->ops.threshold == 1 && ring->complete)
		printf("%s: signed: complete, publish it\n", out_path);
	else
		ring_print_signed(ring, out_path);
	rc = 0;
out:
	cr_keypair_wipe(&op);
	cr_ring_free(draft);
	cr_ring_free(cur);
	cr_ring_free(ring);
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
	if (ring->ops.n == 1 && ring->ops.threshold == 1) {
		struct cr_id oid;
		cr_id_from_pk(CR_ID_OPERATOR, ring->operator_pk, &oid);
		printf("ring %s: epoch %llu, operator %s, %zu nodes, home sets "
		       "of %u%s\n",
		       ring_path, (unsigned long long)ring->epoch,
		       cr_id_format(&oid, ids), ring->n_nodes, ring->replicas,
		       ring_replicas_why(ring));
	} else {
		char sid[CR_RING_SETID_STRMAX];

		printf("ring %s: epoch %llu, operators %u of %zu (%s), %zu "
		       "nodes, home sets of %u%s\n",
		       ring_path, (unsigned long long)ring->epoch,
		       ring->ops.threshold, ring->ops.n,
		       cr_ring_setid_format(ring->set_hash, sid),
		       ring->n_nodes, ring->replicas, ring_replicas_why(ring));
		for (size_t i = 0; i < ring->ops.n; i++) {
			struct cr_id oid;

			cr_id_from_pk(CR_ID_OPERATOR, ring->ops.pks[i], &oid);
			printf("  operator %s%s\n", cr_id_format(&oid, ids),
			       ring->signed_by[i] ? " (signed)" : "");
		}
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
				  "set-operators|sign|status ...");
	if (strcmp(argv[1], "init") == 0)
		return ring_init(argc - 1, argv + 1);
	if (strcmp(argv[1], "add-node") == 0)
		return ring_change(argc - 1, argv + 1, 1);
	if (strcmp(argv[1], "remove-node") == 0)
		return ring_change(argc - 1, argv + 1, 0);
	if (strcmp(argv[1], "status") == 0)
		return ring_status(argc - 1, argv + 1);
	if (strcmp(argv[1], "sign") == 0)
		return ring_sign(argc - 1, argv + 1);
	if (strcmp(argv[1], "set-operators") == 0)
		return ring_set_operators(argc - 1, argv + 1);
	return cl_fail(2, "unknown ring command '%s' (init, add-node, "
			  "remove-node, set-operators, sign, status)",
		       argv[1]);
}
