/*
 * The device side of `carrier sysinfo` (da/sysinfo.h): a fuller view of
 * the device than its health record, made when a vendor asks.
 */
#include "da/sysinfo.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cr/util.h"

/* One "KEY VALUE" line; control bytes in VALUE become spaces (the
 * vendor's parser refuses them). */
void da_sysinfo_line(struct da_sysinfo_buf *b, const char *key,
		     const char *fmt, ...)
{
	char value[DA_SYSINFO_VALUE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	for (char *c = value; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
	n = snprintf(b->text + b->len, sizeof(b->text) - b->len, "%s %s\n",
		     key, value);
	if (n > 0 && (size_t)n < sizeof(b->text) - b->len)
		b->len += (size_t)n;
}

/* The CPU's model name and the count of online CPUs. */
static void sysinfo_cpu(struct da_sysinfo_buf *b)
{
	char *s = NULL, model[256] = "unknown";
	size_t len;

	if (cr_read_file("/proc/cpuinfo", 1 << 20, &s, &len, NULL) == 0) {
		const char *keys[] = { "model name", "Model", "Hardware",
				       "cpu model", "Processor" };

		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			const char *p = strstr(s, keys[k]);

			if (p == NULL || (p = strchr(p, ':')) == NULL)
				continue;
			p++;
			while (*p == ' ' || *p == '\t')
				p++;
			snprintf(model, sizeof(model), "%.*s",
				 (int)strcspn(p, "\n"), p);
			break;
		}
		free(s);
	}
	da_sysinfo_line(b, "cpu_model", "%s", model);
	da_sysinfo_line(b, "cpus", "%ld", sysconf(_SC_NPROCESSORS_ONLN));
}

/* Every interface with its addresses: "NAME up|down ADDR/PREFIX...". */
static void sysinfo_ifaces(struct da_sysinfo_buf *b)
{
	struct ifaddrs *all = NULL;
	char names[32][IF_NAMESIZE + 1];
	size_t n = 0;

	if (getifaddrs(&all) < 0)
		return;
	for (struct ifaddrs *i = all; i != NULL && n < 32; i = i->ifa_next) {
		int seen = 0;

		for (size_t k = 0; k < n; k++)
			seen |= strcmp(names[k], i->ifa_name) == 0;
		if (!seen)
			snprintf(names[n++], sizeof(names[0]), "%s",
				 i->ifa_name);
	}
	for (size_t k = 0; k < n; k++) {
		char line[DA_SYSINFO_VALUE_MAX];
		size_t len = 0;
		int up = 0;

		for (struct ifaddrs *i = all; i != NULL; i = i->ifa_next) {
			char addr[INET6_ADDRSTRLEN];
			const void *src;
			int prefix = 0;

			if (strcmp(i->ifa_name, names[k]) != 0)
				continue;
			up |= (i->ifa_flags & IFF_UP) != 0;
			if (i->ifa_addr == NULL ||
			    (i->ifa_addr->sa_family != AF_INET &&
			     i->ifa_addr->sa_family != AF_INET6))
				continue;
			src = i->ifa_addr->sa_family == AF_INET ?
				      (const void *)&((struct sockaddr_in *)
							      i->ifa_addr)
					      ->sin_addr :
				      (const void *)&((struct sockaddr_in6 *)
							      i->ifa_addr)
					      ->sin6_addr;
			if (inet_ntop(i->ifa_addr->sa_family, src, addr,
				      sizeof(addr)) == NULL)
				continue;
			if (i->ifa_netmask != NULL) {
				const uint8_t *m =
					i->ifa_addr->sa_family == AF_INET ?
						(const uint8_t *)&(
							(struct sockaddr_in *)
								i->ifa_netmask)
							->sin_addr :
						(const uint8_t *)&(
							(struct sockaddr_in6 *)
								i->ifa_netmask)
							->sin6_addr;
				size_t mb = i->ifa_addr->sa_family == AF_INET ?
						    4 :
						    16;

				for (size_t j = 0; j < mb; j++)
					prefix += __builtin_popcount(m[j]);
			}
			if (len < sizeof(line))
				len += (size_t)snprintf(line + len,
							sizeof(line) - len,
							" %s/%d", addr, prefix);
		}
		line[len < sizeof(line) ? len : sizeof(line) - 1] = '\0';
		da_sysinfo_line(b, "iface", "%s %s%s", names[k],
				up ? "up" : "down", line);
	}
	freeifaddrs(all);
}

void da_sysinfo_host(struct da_sysinfo_buf *b)
{
	struct utsname u;
	char *s = NULL;
	size_t len;

	if (uname(&u) == 0) {
		da_sysinfo_line(b, "hostname", "%s", u.nodename);
		da_sysinfo_line(b, "kernel", "%s %s %s", u.sysname, u.release,
				u.version);
		da_sysinfo_line(b, "machine", "%s", u.machine);
	}
	if (cr_read_file("/proc/uptime", 256, &s, &len, NULL) == 0) {
		da_sysinfo_line(b, "uptime_s", "%lu", strtoul(s, NULL, 10));
		free(s);
	}
	sysinfo_cpu(b);
	sysinfo_ifaces(b);
}
