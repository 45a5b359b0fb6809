/* carrier lookup DEVICE_ID [--json]: the device's verified presence. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "commands.h"
#include "cr/util.h"

static void lookup_time(uint64_t unix_s, char *out, size_t cap)
{
	time_t t = (time_t)unix_s;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *lookup_node_addr(const struct cr_ring *ring,
				    const uint8_t pk[CR_PKLEN])
{
	int i = cr_ring_find(ring, pk);

	return i >= 0 ? ring->nodes[i].addr : "not in this ring";
}

static void lookup_print(const struct cr_ring *ring, const struct cr_presence *p,
			 const struct cl_lookup_info *info)
{
	char ids[CR_ID_STRMAX], t1[32], t2[32];
	uint64_t now = cr_now_unix();

	lookup_time(p->issued_unix, t1, sizeof(t1));
	lookup_time(p->expires_unix, t2, sizeof(t2));
	printf("device    %s\n", cr_id_format(&p->id, ids));
	if (info->n_attached_here > 0)
		printf("status    online\n");
	else if (info->n_gone > 0)
		printf("status    offline, last seen %.1f s ago\n",
		       (double)info->gone_last_seen_ms / 1000.0);
	else
		printf("status    offline (no home node holds a session with "
		       "it; last seen: unknown, its record was signed %llu s "
		       "ago)\n",
		       (unsigned long long)(now > p->issued_unix ?
						    now - p->issued_unix :
						    0));
	printf("sequence  %llu\n", (unsigned long long)p->seq);
	printf("signed    %s (%llu s ago)\n", t1,
	       (unsigned long long)(now > p->issued_unix ? now - p->issued_unix :
							   0));
	printf("expires   %s\n", t2);
	for (size_t i = 0; i < p->n_addrs; i++)
		printf("address   %s\n", p->addrs[i]);
	for (size_t i = 0; i < p->n_attached; i++) {
		struct cr_id nid;
		int live = -1;

		cr_id_from_pk(CR_ID_NODE, p->attached[i], &nid);
		for (size_t j = 0; j < info->n_attached_here; j++)
			if (memcmp(ring->nodes[info->attached_idx[j]].pk,
				   p->attached[i], CR_PKLEN) == 0)
				live = (int)j;
		if (live >= 0)
			printf("attached  %s %s, last seen %.1f s ago\n",
			       cr_id_format(&nid, ids),
			       lookup_node_addr(ring, p->attached[i]),
			       (double)info->last_seen_ms[live] / 1000.0);
		else
			printf("attached  %s %s (not confirmed now)\n",
			       cr_id_format(&nid, ids),
			       lookup_node_addr(ring, p->attached[i]));
	}
	printf("verified  signature by the device key; %zu home node%s "
	       "answered\n",
	       info->n_answered, info->n_answered == 1 ? "" : "s");
}

static void lookup_json(const struct cr_ring *ring, const struct cr_presence *p,
			const struct cl_lookup_info *info)
{
	char ids[CR_ID_STRMAX], hex[2 * CR_PKLEN + 1];

	cr_hex(p->device_pk, CR_PKLEN, hex);
	printf("{\"device\":\"%s\",\"public_key\":\"%s\",\"online\":%s,",
	       cr_id_format(&p->id, ids), hex,
	       info->n_attached_here > 0 ? "true" : "false");
	/* When a node heard the offline device last; null when none holds
	 * its session (or it is online: see each attached node). */
	if (info->n_attached_here == 0 && info->n_gone > 0)
		printf("\"last_seen_ms_ago\":%llu,",
		       (unsigned long long)info->gone_last_seen_ms);
	else
		printf("\"last_seen_ms_ago\":null,");
	printf("\"seq\":%llu,\"issued_unix\":%llu,\"expires_unix\":%llu,"
	       "\"addresses\":[",
	       (unsigned long long)p->seq, (unsigned long long)p->issued_unix,
	       (unsigned long long)p->expires_unix);
	/* Addresses are validated HOST:PORT strings: no escaping needed. */
	for (size_t i = 0; i < p->n_addrs; i++)
		printf("%s\"%s\"", i ? "," : "", p->addrs[i]);
	printf("],\"attached\":[");
	for (size_t i = 0; i < p->n_attached; i++) {
		struct cr_id nid;
		long long seen = -1;

		cr_id_from_pk(CR_ID_NODE, p->attached[i], &nid);
		for (size_t j = 0; j < info->n_attached_here; j++)
			if (memcmp(ring->nodes[info->attached_idx[j]].pk,
				   p->attached[i], CR_PKLEN) == 0)
				seen = (long long)info->last_seen_ms[j];
		printf("%s{\"node\":\"%s\",\"address\":\"%s\",\"live\":%s,"
		       "\"last_seen_ms\":%lld}",
		       i ? "," : "", cr_id_format(&nid, ids),
		       lookup_node_addr(ring, p->attached[i]),
		       seen >= 0 ? "true" : "false", seen);
	}
	printf("],\"answered\":%zu,\"holders\":%zu,\"rejected\":%zu,"
	       "\"stale\":%zu}\n",
	       info->n_answered, info->n_newest, info->n_rejected,
	       info->n_stale);
}

int cl_cmd_lookup(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		CL_VENDOR_LONG_OPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cl_vendor_opts vo = { NULL, NULL, NULL, 0, NULL };
	struct cr_error *err = NULL;
	struct cl_lookup_info info;
	struct event_base *base;
	struct cl_client *c;
	struct cr_presence p;
	struct cr_id dev;
	int json = 0, ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cl_vendor_opt(ch, optarg, &vo))
			continue;
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'h':
			puts("usage: carrier lookup DEVICE_ID [--json] [--key "
			     "FILE] [--ring FILE]\nAsks the device's home nodes "
			     "for its presence record, verifies the device's\n"
			     "signature and prints the newest: addresses, "
			     "attached nodes, last seen.\n"
			     "status is online while a home node holds a live "
			     "session with the device;\noffline once the agent "
			     "stopped (it says goodbye to its nodes) or missed "
			     "three\nof its keepalives, with when it was last "
			     "seen.  --json has \"online\" and\n"
			     "\"last_seen_ms_ago\" (for an offline device "
			     "a node still remembers).\n"
			     "Exit status 0 when the ring knows the device "
			     "(online or offline), 3 when\nit is unknown, its "
			     "record expired or no home node answered.");
			return 0;
		default:
			return cl_bad_option(argv);
		}
	}
	if (optind + 1 != argc)
		return cl_fail(2, "usage: carrier lookup DEVICE_ID [--json]");
	if (cl_dev_parse(argv[optind], &dev, &err) < 0) {
		rc = cl_fail(2, "%s", cr_error_msg(err));
		cr_error_free(err);
		return rc;
	}
	base = event_base_new();
	c = cl_client_open(base, &vo, &err);
	if (c == NULL) {
		rc = cl_fail(1, "%s", cr_error_msg(err));
		goto out;
	}
	if (cl_lookup(c, &dev, &p, &info, &err) < 0) {
		rc = cl_fail(err != NULL && err->code == CL_EXIT_OFFLINE ?
				     CL_EXIT_OFFLINE :
				     CL_EXIT_ERROR,
			     "%s", cr_error_msg(err));
		goto out;
	}
	if (json)
		lookup_json(cl_ring(c), &p, &info);
	else
		lookup_print(cl_ring(c), &p, &info);
	rc = 0;
out:
	cr_error_free(err);
	cl_client_free(c);
	event_base_free(base);
	return rc;
}
