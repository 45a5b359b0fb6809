/*
 * The device's own figures for health records (da/health.h).  Everything is
 * parsed as integers: "0.52" is 520 thousandths, read digit by digit, so
 * that the agent needs no floating point on devices without an FPU.
 */
#include "da/health.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include <json-c/json.h>

#include "cr/deploy.h"
#include "cr/health.h"

/* "12.345" -> 12345 (thousandths; further digits dropped); *end past it. */
static int health_milli(const char *s, const char **end, uint32_t *out)
{
	uint64_t v = 0;
	int digits = 0, frac = 0;

	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (uint64_t)(*s++ - '0');
		if (++digits > 9)
			return -1;
	}
	if (digits == 0)
		return -1;
	v *= 1000;
	if (*s == '.') {
		uint64_t scale = 100;

		s++;
		while (*s >= '0' && *s <= '9') {
			if (scale > 0)
				v += (uint64_t)(*s - '0') * scale;
			scale /= 10;
			s++;
			frac++;
		}
		if (frac == 0)
			return -1;
	}
	if (v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	*end = s;
	return 0;
}

int da_health_parse_loadavg(const char *s, uint32_t out[3],
			    struct cr_error **err)
{
	for (int i = 0; i < 3; i++) {
		while (*s == ' ')
			s++;
		if (health_milli(s, &s, &out[i]) < 0 ||
		    (*s != ' ' && *s != '\n' && *s != '\0'))
			return cr_error_set(err, EINVAL,
					    "loadavg: not three loads: '%.40s'",
					    s);
	}
	return 0;
}

/* The value in kB of the line "KEY: N kB" in s, -1 when absent. */
static int64_t health_meminfo_kb(const char *s, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = s; p != NULL && *p != '\0';) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
			char *e;
			unsigned long long v;

			errno = 0;
			v = strtoull(p + klen + 1, &e, 10);
			if (errno != 0 || e == p + klen + 1 ||
			    v > (unsigned long long)INT64_MAX / 1024)
				return -1;
			return (int64_t)v;
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return -1;
}

int da_health_parse_meminfo(const char *s, uint64_t *total, uint64_t *avail,
			    struct cr_error **err)
{
	int64_t t = health_meminfo_kb(s, "MemTotal");
	int64_t a = health_meminfo_kb(s, "MemAvailable");

	if (a < 0) {
		int64_t f = health_meminfo_kb(s, "MemFree");
		int64_t b = health_meminfo_kb(s, "Buffers");
		int64_t c = health_meminfo_kb(s, "Cached");

		if (f >= 0 && b >= 0 && c >= 0)
			a = f + b + c;
	}
	if (t < 0 || a < 0)
		return cr_error_set(err, EINVAL,
				    "meminfo: no MemTotal or MemAvailable");
	*total = (uint64_t)t * 1024;
	*avail = (uint64_t)a * 1024;
	return 0;
}

/* The first len-1 bytes of the file dir/name into buf. */
static int health_slurp(const char *dir, const char *name, char *buf,
			size_t len, struct cr_error **err)
{
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (f == NULL)
		return cr_error_errno(err, errno, "cannot open %s", path);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return 0;
}

int da_health_read(const char *proc, const char *sys, const char *data_dir,
		   struct da_health *out, struct cr_error **err)
{
	char buf[4096];
	uint32_t load[3];
	struct statvfs vfs;

	memset(out, 0, sizeof(*out));
	if (health_slurp(proc, "uptime", buf, sizeof(buf), err) < 0)
		return -1;
	/* Whole seconds: thousandths in a uint32 would wrap after 49 days. */
	out->uptime_s = strtoull(buf, NULL, 10);
	if (health_slurp(proc, "loadavg", buf, sizeof(buf), err) < 0 ||
	    da_health_parse_loadavg(buf, load, err) < 0)
		return -1;
	out->load1_milli = load[0];
	out->load5_milli = load[1];
	out->load15_milli = load[2];
	if (health_slurp(proc, "meminfo", buf, sizeof(buf), err) < 0 ||
	    da_health_parse_meminfo(buf, &out->mem_total, &out->mem_avail,
				    err) < 0)
		return -1;
	if (statvfs(data_dir, &vfs) < 0)
		return cr_error_errno(err, errno, "cannot statvfs %s",
					  data_dir);
	out->flash_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	{
		char dir[512];
		struct cr_error *e = NULL;

		snprintf(dir, sizeof(dir), "%s/class/thermal/thermal_zone0",
			 sys);
		if (health_slurp(dir, "temp", buf, sizeof(buf), &e) == 0) {
			char *tend;
			long t = strtol(buf, &tend, 10);

			if (tend != buf && t > -300000 && t < 300000) {
				out->has_temp = 1;
				out->temp_milli_c = (int32_t)t;
			}
		}
		cr_error_free(e);
	}
	return 0;
}

static void health_field(struct json_object *o, const char *key, char *dst,
			 size_t cap)
{
	struct json_object *v;
	const char *s = "";

	if (json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		s = json_object_get_string(v);
	/* Control characters would make the record malformed. */
	snprintf(dst, cap, "%s", s);
	for (char *p = dst; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

static uint64_t health_u64(struct json_object *o, const char *key)
{
	struct json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return 0;
	n = json_object_get_int64(v);
	return n > 0 ? (uint64_t)n : 0;
}

void da_health_apps(const char *status, struct cr_devhealth *h)
{
	h->n_apps = 0;
	for (const char *line = status; line != NULL && *line != '\0';) {
		const char *nl = strchr(line, '\n');
		size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
		struct json_tokener *tok = json_tokener_new();
		struct json_object *o = NULL;

		if (tok != NULL)
			o = json_tokener_parse_ex(tok, line, (int)len);
		json_tokener_free(tok);
		if (o != NULL && json_object_is_type(o, json_type_object) &&
		    h->n_apps < CR_HEALTH_APPS) {
			struct cr_devhealth_app *a = &h->apps[h->n_apps++];

			health_field(o, "app", a->app, sizeof(a->app));
			health_field(o, "version", a->version,
				     sizeof(a->version));
			health_field(o, "state", a->state, sizeof(a->state));
			health_field(o, "last_error", a->last_error,
				     sizeof(a->last_error));
			health_field(o, "config_error", a->config_error,
				     sizeof(a->config_error));
			a->restarts = (uint32_t)health_u64(o, "restarts");
			a->config_version = health_u64(o, "config_version");
		}
		json_object_put(o);
		line = nl != NULL ? nl + 1 : NULL;
	}
}

long da_health_record(const struct cr_keypair *kp, const char *data_dir,
		      const char *status, uint64_t seq, uint8_t *out,
		      size_t cap, struct cr_error **err)
{
	struct da_health d;
	struct cr_devhealth h;
	uint8_t blob[CR_HEALTH_MAX];
	size_t len;
	long n;

	if (da_health_read("/proc", "/sys", data_dir, &d, err) < 0)
		return -1;
	memset(&h, 0, sizeof(h));
	h.seq = seq;
	h.uptime_s = d.uptime_s;
	h.load_milli[0] = d.load1_milli;
	h.load_milli[1] = d.load5_milli;
	h.load_milli[2] = d.load15_milli;
	h.mem_total = d.mem_total;
	h.mem_avail = d.mem_avail;
	h.flash_free = d.flash_free;
	h.has_temp = d.has_temp;
	h.temp_milli_c = d.temp_milli_c;
	da_health_apps(status, &h);
	/* Many apps with long errors overflow the one-piece record: the
	 * errors are cut (to 40 bytes, then out) rather than the record. */
	for (size_t cut = CR_HEALTH_ERR_MAX; ; cut = cut > 40 ? 40 : 0) {
		struct cr_error *e = NULL;

		for (size_t i = 0; i < h.n_apps; i++) {
			h.apps[i].last_error[cut > 0 ? cut - 1 : 0] = '\0';
			h.apps[i].config_error[cut > 0 ? cut - 1 : 0] = '\0';
		}
		if (cr_devhealth_make(kp, &h, blob, sizeof(blob), &len, &e) ==
		    0)
			break;
		if (cut == 0 || e == NULL || e->code != E2BIG) {
			if (err != NULL)
				*err = e;
			else
				cr_error_free(e);
			return -1;
		}
		cr_error_free(e);
	}
	n = cr_fleet_put_pack(CR_REC_HEALTH, blob, len, 0, out, cap);
	if (n < 0)
		return cr_error_set(err, E2BIG, "health record too large");
	return n;
}
