/*
 * The device's own figures for health records (issue 15, item 2; docs/fleet.md
 * "Monitoring"): uptime, load, memory, flash free of the data folder and a
 * temperature where the kernel exposes one.  Integers only: devices without
 * a floating-point unit read them at no cost (load and temperature in
 * thousandths).  They travel in a device-signed record (cr/health.h),
 * a FleetPut of kind 5.
 */
#ifndef DA_HEALTH_H
#define DA_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "cr/error.h"

struct da_health {
	uint64_t uptime_s;
	uint32_t load1_milli, load5_milli, load15_milli;
	uint64_t mem_total, mem_avail; /* bytes */
	uint64_t flash_free;           /* bytes free to the agent in its data dir */
	int has_temp;
	int32_t temp_milli_c;          /* valid when has_temp */
};

/* "0.52 0.58 0.59 1/234 5678" (/proc/loadavg) -> the three loads in
 * thousandths.  -1 with err on anything else. */
int da_health_parse_loadavg(const char *s, uint32_t out[3],
			    struct cr_error **err);

/* The MemTotal and MemAvailable lines of /proc/meminfo (kB) -> bytes.
 * MemAvailable absent (kernels before 3.14): MemFree + Buffers + Cached. */
int da_health_parse_meminfo(const char *s, uint64_t *total, uint64_t *avail,
			    struct cr_error **err);

/* Reads the figures from /proc, statvfs(data_dir) and the first thermal
 * zone under /sys/class/thermal (proc and sys: their roots, "/proc" and
 * "/sys" but for tests). */
int da_health_read(const char *proc, const char *sys, const char *data_dir,
		   struct da_health *out, struct cr_error **err);

struct cr_keypair;
struct cr_devhealth;

/* The apps of da_apps_status()'s lines (one JSON object each: "app",
 * "version", "state", "last_error") into h's app entries, at most
 * CR_HEALTH_APPS, texts cut to their fields; lines that are not such an
 * object are skipped.  NULL: none. */
void da_health_apps(const char *status, struct cr_devhealth *h);

/* A FleetPut (kind 5, one piece) of a health record of this device,
 * signed by kp, with sequence seq and the apps of status (as above, may
 * be NULL): its length in out, or -1 with err. */
long da_health_record(const struct cr_keypair *kp, const char *data_dir,
		      const char *status, uint64_t seq, uint8_t *out,
		      size_t cap, struct cr_error **err);

#endif
