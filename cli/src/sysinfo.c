/* carrier sysinfo: see sysinfo.h. */
#include "sysinfo.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "commands.h"

int cl_sysinfo_parse(const char *buf, size_t len, struct cl_sysinfo *out,
		     struct cr_error **err)
{
	size_t off = 0;

	out->n = 0;
	if (len > CL_SYSINFO_MAX)
		return cr_error_set(err, EBADMSG,
				    "sysinfo: %zu bytes, more than %d", len,
				    CL_SYSINFO_MAX);
	while (off < len) {
		const char *line = buf + off, *nl, *sp;
		size_t ll, kl, vl;

		nl = memchr(line, '\n', len - off);
		if (nl == NULL)
			return cr_error_set(err, EBADMSG,
					    "sysinfo: line %zu does not end",
					    out->n + 1);
		ll = (size_t)(nl - line);
		off += ll + 1;
		sp = memchr(line, ' ', ll);
		kl = sp != NULL ? (size_t)(sp - line) : ll;
		vl = sp != NULL ? ll - kl - 1 : 0;
		if (out->n == CL_SYSINFO_LINES)
			return cr_error_set(err, EBADMSG,
					    "sysinfo: more than %d lines",
					    CL_SYSINFO_LINES);
		if (kl == 0 || kl >= CL_SYSINFO_KEY_MAX ||
		    vl >= CL_SYSINFO_VALUE_MAX)
			return cr_error_set(err, EBADMSG,
					    "sysinfo: line %zu is malformed",
					    out->n + 1);
		for (size_t i = 0; i < kl; i++)
			if (!((line[i] >= 'a' && line[i] <= 'z') ||
			      (line[i] >= '0' && line[i] <= '9') ||
			      line[i] == '_'))
				return cr_error_set(err, EBADMSG,
						    "sysinfo: line %zu: a key "
						    "is [a-z0-9_]",
						    out->n + 1);
		for (size_t i = 0; i < vl; i++)
			if ((unsigned char)sp[1 + i] < 0x20 ||
			    sp[1 + i] == 0x7f)
				return cr_error_set(err, EBADMSG,
						    "sysinfo: line %zu holds a "
						    "control byte",
						    out->n + 1);
		memcpy(out->line[out->n].key, line, kl);
		out->line[out->n].key[kl] = '\0';
		if (vl > 0)
			memcpy(out->line[out->n].value, sp + 1, vl);
		out->line[out->n].value[vl] = '\0';
		out->n++;
	}
	return 0;
}

static const char sysinfo_usage[] =
	"usage: carrier sysinfo DEVICE_ID [--json] [--relay] [--key KEY] "
	"[--ring RING]\n"
	"\n"
	"Asks the device, end to end, for a fresh view fuller than its health "
	"record:\n"
	"the agent's version, hostname, kernel, machine, uptime, CPU model and "
	"count,\n"
	"network interfaces with their addresses, its NAT type, the transport "
	"and each\n"
	"home link (node, address, up, the address the node sees, the last "
	"answer).\n"
	"The device answers the vendors it allows anything (a port or the "
	"shell).\n"
	"--json prints one object: the keys, with iface and ring as arrays.\n"
	"\n"
	"  --json               one JSON object\n"
	"  --relay              through a ring node only (no direct path)\n"
	"  --key KEY            the vendor key ($CARRIER_KEY, "
	"~/.config/carrier/key)\n"
	"  --ring RING          the ring ($CARRIER_RING, "
	"~/.config/carrier/ring)\n";

struct si_state {
	int fd;
	struct bufferevent *bev;
	struct event_base *base;
	struct evbuffer *got;
	int done;
};

static void si_on_read(struct bufferevent *bev, void *arg)
{
	struct si_state *st = arg;

	evbuffer_add_buffer(st->got, bufferevent_get_input(bev));
	if (evbuffer_get_length(st->got) > CL_SYSINFO_MAX) {
		st->done = -1;
		event_base_loopexit(st->base, NULL);
	}
}

static void si_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct si_state *st = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		st->done = 1;
		event_base_loopexit(st->base, NULL);
	}
}

static int si_start(struct event_base *base, void *arg)
{
	struct si_state *st = arg;

	if (base == NULL) {
		if (st->bev != NULL)
			bufferevent_free(st->bev);
		st->bev = NULL;
		st->fd = -1; /* closed with bev */
		return 0;
	}
	st->base = base;
	st->bev = bufferevent_socket_new(base, st->fd, BEV_OPT_CLOSE_ON_FREE);
	if (st->bev == NULL)
		return cl_fail(1, "cannot set up the events");
	bufferevent_setcb(st->bev, si_on_read, NULL, si_on_event, st);
	if (bufferevent_enable(st->bev, EV_READ) < 0)
		return cl_fail(1, "cannot set up the events");
	return 0;
}

static void si_json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void si_print(const struct cl_sysinfo *si, int json)
{
	static const char *const lists[] = { "iface", "ring" };

	if (!json) {
		for (size_t i = 0; i < si->n; i++)
			printf("%-14s %s\n", si->line[i].key,
			       si->line[i].value);
		return;
	}
	printf("{");
	for (size_t i = 0, first = 1; i < si->n; i++) {
		int listed = 0, dup = 0;

		for (size_t k = 0; k < 2; k++)
			listed |= strcmp(si->line[i].key, lists[k]) == 0;
		for (size_t j = 0; j < i; j++)
			dup |= strcmp(si->line[j].key, si->line[i].key) == 0;
		if (dup)
			continue;
		printf("%s", first ? "" : ",");
		first = 0;
		si_json_str(si->line[i].key);
		putchar(':');
		if (!listed) {
			si_json_str(si->line[i].value);
			continue;
		}
		printf("[");
		for (size_t j = i, n = 0; j < si->n; j++) {
			if (strcmp(si->line[j].key, si->line[i].key) != 0)
				continue;
			printf("%s", n++ ? "," : "");
			si_json_str(si->line[j].value);
		}
		printf("]");
	}
	for (size_t k = 0; k < 2; k++) {
		int seen = 0;

		for (size_t i = 0; i < si->n; i++)
			seen |= strcmp(si->line[i].key, lists[k]) == 0;
		if (!seen)
			printf("%s\"%s\":[]", si->n > 0 || k > 0 ? "," : "",
			       lists[k]);
	}
	printf("}\n");
}

int cl_cmd_sysinfo(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "relay", no_argument, NULL, 'R' },
		CL_VENDOR_LONG_OPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cl_vendor_opts vo = { NULL, NULL, NULL, 0, NULL };
	struct si_state st = { -1, NULL, NULL, NULL, 0 };
	struct cl_sysinfo *si = NULL;
	struct cr_error *err = NULL;
	int ch, rc, json = 0, relay = 0, sv[2];

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cl_vendor_opt(ch, optarg, &vo))
			continue;
		switch (ch) {
		case 'h':
			fputs(sysinfo_usage, stdout);
			return 0;
		case 'j':
			json = 1;
			break;
		case 'R':
			relay = 1;
			break;
		default:
			return cl_bad_option(argv);
		}
	}
	if (argc - optind != 1)
		return cl_fail(2, "usage: carrier sysinfo DEVICE_ID [--json]");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
		       sv) < 0)
		return cl_fail(1, "socketpair: %s", strerror(errno));
	st.fd = sv[1];
	st.got = evbuffer_new();
	si = calloc(1, sizeof(*si));
	if (st.got == NULL || si == NULL) {
		rc = cl_fail(1, "out of memory");
		close(sv[0]);
		goto out;
	}
	rc = cl_conn_service(argv[optind], &vo, relay, "sysinfo", sv[0],
			     si_start, &st);
	if (st.done == -1) {
		rc = cl_fail(1, "sysinfo: the device sent more than %d bytes",
			     CL_SYSINFO_MAX);
		goto out;
	}
	if (rc != 0 && st.done == 0)
		goto out;
	if (evbuffer_get_length(st.got) == 0) {
		rc = cl_fail(1, "sysinfo: %s answered nothing (does it allow "
				"this vendor?)",
			     argv[optind]);
		goto out;
	}
	if (cl_sysinfo_parse((const char *)evbuffer_pullup(st.got, -1),
			     evbuffer_get_length(st.got), si, &err) < 0) {
		rc = cl_fail(1, "%s", cr_error_msg(err));
		cr_error_free(err);
		goto out;
	}
	si_print(si, json);
	rc = 0;
out:
	if (st.fd >= 0)
		close(st.fd);
	if (st.got != NULL)
		evbuffer_free(st.got);
	free(si);
	return rc;
}
