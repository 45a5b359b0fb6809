/*
 * `carrier sysinfo` (docs/fleet.md "Monitoring"): a stream whose meta is
 * "sysinfo" gets, for a vendor the agent allows anything (a port or the
 * shell), a fuller view of the device than its health record, as text
 * lines "KEY VALUE" (keys [a-z0-9_]+, values printable, no control
 * bytes), then the end of the stream:
 *   agent_version, hostname, kernel, machine, uptime_s, cpu_model, cpus,
 *   iface NAME up|down ADDR/PREFIX... (one a line),
 *   nat endpoint-independent|endpoint-dependent|unknown,
 *   transport udp|tcp,
 *   ring NODE_ID ADDR up|down observed ADDR last_pong_ms N (one a link).
 */
#ifndef DA_SYSINFO_H
#define DA_SYSINFO_H

#include <stddef.h>

enum { DA_SYSINFO_MAX = 16384, DA_SYSINFO_VALUE_MAX = 512 };

#define DA_SYSINFO_META "sysinfo"

struct da_sysinfo_buf {
	char text[DA_SYSINFO_MAX];
	size_t len;
};

/* Appends "KEY VALUE\n" (dropped when the buffer is full). */
void da_sysinfo_line(struct da_sysinfo_buf *b, const char *key,
		     const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The host's part: hostname, kernel, machine, uptime, CPU, interfaces. */
void da_sysinfo_host(struct da_sysinfo_buf *b);

#endif
