/*
 * The device's health figures (da/health.h): loads and memory parsed as
 * integers, refusals of malformed input, and da_health_read over a fake
 * /proc and /sys (and the real ones: the figures agree with what the
 * kernel says).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cr/health.h"
#include "da/health.h"

#include "../check_main.h"

START_TEST(test_loadavg)
{
	uint32_t l[3];
	struct cr_error *err = NULL;

	ck_assert_int_eq(da_health_parse_loadavg("0.52 0.58 12.59 1/234 5678\n",
						 l, &err), 0);
	ck_assert_uint_eq(l[0], 520);
	ck_assert_uint_eq(l[1], 580);
	ck_assert_uint_eq(l[2], 12590);
	ck_assert_int_eq(da_health_parse_loadavg("3 0.5 0.1234", l, &err), 0);
	ck_assert_uint_eq(l[0], 3000);
	ck_assert_uint_eq(l[1], 500);
	ck_assert_uint_eq(l[2], 123);
	/* Malformed: refused, with a message. */
	ck_assert_int_eq(da_health_parse_loadavg("0.52 0.58", l, &err), -1);
	ck_assert_ptr_nonnull(err);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "loadavg"));
	cr_error_free(err);
	err = NULL;
	ck_assert_int_eq(da_health_parse_loadavg("-1 0 0", l, &err), -1);
	cr_error_free(err);
	err = NULL;
	ck_assert_int_eq(da_health_parse_loadavg("1. 0 0", l, &err), -1);
	cr_error_free(err);
	err = NULL;
	ck_assert_int_eq(da_health_parse_loadavg("99999999999 0 0", l, &err),
			 -1);
	cr_error_free(err);
}
END_TEST

START_TEST(test_meminfo)
{
	uint64_t t, a;
	struct cr_error *err = NULL;

	ck_assert_int_eq(da_health_parse_meminfo(
				 "MemTotal:       16318900 kB\n"
				 "MemFree:         1000000 kB\n"
				 "MemAvailable:    8000000 kB\n",
				 &t, &a, &err), 0);
	ck_assert_uint_eq(t, 16318900ULL * 1024);
	ck_assert_uint_eq(a, 8000000ULL * 1024);
	/* An old kernel without MemAvailable: free + buffers + cached. */
	ck_assert_int_eq(da_health_parse_meminfo("MemTotal: 1000 kB\n"
						 "MemFree: 100 kB\n"
						 "Buffers: 20 kB\n"
						 "Cached: 3 kB\n",
						 &t, &a, &err), 0);
	ck_assert_uint_eq(a, 123ULL * 1024);
	ck_assert_int_eq(da_health_parse_meminfo("MemFree: 1 kB\n", &t, &a,
						 &err), -1);
	ck_assert_ptr_nonnull(err);
	cr_error_free(err);
}
END_TEST

START_TEST(test_apps)
{
	static struct cr_devhealth h;

	memset(&h, 0, sizeof(h));
	da_health_apps("{\"app\":\"web\",\"version\":\"2\",\"state\":"
		       "\"committed\",\"last_error\":\"\",\"running\":true}\n"
		       "not json\n"
		       "{\"app\":\"db\",\"version\":\"1\",\"state\":"
		       "\"rolled_back\",\"last_error\":\"health: bad\\nline\"}\n",
		       &h);
	ck_assert_uint_eq(h.n_apps, 2);
	ck_assert_str_eq(h.apps[0].app, "web");
	ck_assert_str_eq(h.apps[0].version, "2");
	ck_assert_str_eq(h.apps[0].state, "committed");
	ck_assert_str_eq(h.apps[1].state, "rolled_back");
	/* A control character would make the record malformed. */
	ck_assert_str_eq(h.apps[1].last_error, "health: bad line");
	da_health_apps(NULL, &h);
	ck_assert_uint_eq(h.n_apps, 0);
}
END_TEST

static void put(const char *dir, const char *name, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(test_read_fake)
{
	char tmp[] = "/tmp/check_health.XXXXXX", proc[600], sys[600], tz[700];
	struct da_health h;
	struct cr_error *err = NULL;

	ck_assert_ptr_nonnull(mkdtemp(tmp));
	snprintf(proc, sizeof(proc), "%s/proc", tmp);
	snprintf(sys, sizeof(sys), "%s/sys", tmp);
	snprintf(tz, sizeof(tz), "%s/class/thermal/thermal_zone0", sys);
	ck_assert_int_eq(mkdir(proc, 0700), 0);
	{
		char cmd[800];

		snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", tz);
		ck_assert_int_eq(system(cmd), 0);
	}
	put(proc, "uptime", "5000000.25 100.00\n");
	put(proc, "loadavg", "1.25 0.50 0.05 2/100 42\n");
	put(proc, "meminfo", "MemTotal: 2048 kB\nMemAvailable: 1024 kB\n");
	put(tz, "temp", "47500\n");
	ck_assert_int_eq(da_health_read(proc, sys, tmp, &h, &err), 0);
	ck_assert_uint_eq(h.uptime_s, 5000000);
	ck_assert_uint_eq(h.load1_milli, 1250);
	ck_assert_uint_eq(h.load15_milli, 50);
	ck_assert_uint_eq(h.mem_total, 2048 * 1024);
	ck_assert_uint_eq(h.mem_avail, 1024 * 1024);
	ck_assert_uint_gt(h.flash_free, 0);
	ck_assert_int_eq(h.has_temp, 1);
	ck_assert_int_eq(h.temp_milli_c, 47500);
	/* No thermal zone: no temperature, the rest still read. */
	{
		char cmd[800];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s/class'", sys);
		ck_assert_int_eq(system(cmd), 0);
	}
	ck_assert_int_eq(da_health_read(proc, sys, tmp, &h, &err), 0);
	ck_assert_int_eq(h.has_temp, 0);
	/* A broken loadavg: refused, naming it. */
	put(proc, "loadavg", "garbage\n");
	ck_assert_int_eq(da_health_read(proc, sys, tmp, &h, &err), -1);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "loadavg"));
	cr_error_free(err);
	{
		char cmd[800];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		ck_assert_int_eq(system(cmd), 0);
	}
}
END_TEST

/* The real kernel: the figures agree with /proc read here. */
START_TEST(test_read_real)
{
	struct da_health h;
	struct cr_error *err = NULL;
	FILE *f;
	double up = 0;

	ck_assert_int_eq(da_health_read("/proc", "/sys", "/tmp", &h, &err), 0);
	f = fopen("/proc/uptime", "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%lf", &up), 1);
	fclose(f);
	ck_assert_uint_le(h.uptime_s, (uint64_t)up);
	ck_assert_uint_ge(h.uptime_s + 5, (uint64_t)up);
	ck_assert_uint_gt(h.mem_total, 0);
	ck_assert_uint_le(h.mem_avail, h.mem_total);
}
END_TEST

/* The restart count and config fields of an app; eight apps with the
 * longest errors still make a record (the errors are cut, not it). */
START_TEST(test_apps_config)
{
	static struct cr_devhealth h;
	static char status[16384];
	char err120[121];
	struct cr_keypair kp;
	uint8_t out[1500];
	size_t n = 0;
	long len;

	memset(&h, 0, sizeof(h));
	da_health_apps("{\"app\":\"web\",\"version\":\"2\",\"state\":"
		       "\"committed\",\"restarts\":3,\"config_version\":70,"
		       "\"config_error\":\"config 80 reverted: health: x\"}\n",
		       &h);
	ck_assert_uint_eq(h.n_apps, 1);
	ck_assert_uint_eq(h.apps[0].restarts, 3);
	ck_assert_uint_eq(h.apps[0].config_version, 70);
	ck_assert_str_eq(h.apps[0].config_error,
			 "config 80 reverted: health: x");
	memset(err120, 'e', 120);
	err120[120] = '\0';
	for (int i = 0; i < 8; i++)
		n += (size_t)snprintf(status + n, sizeof(status) - n,
				      "{\"app\":\"app%d-with-a-long-name\","
				      "\"version\":\"1.2.3-build-4567\","
				      "\"state\":\"rolled_back\",\"last_error\":"
				      "\"%s\",\"config_version\":%d,"
				      "\"config_error\":\"%s\"}\n",
				      i, err120, i + 1, err120);
	ck_assert_int_eq(cr_keypair_generate(CR_ID_DEVICE, &kp), 0);
	len = da_health_record(&kp, "/tmp", status, 1, out, sizeof(out), NULL);
	ck_assert_int_gt(len, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("health");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_loadavg);
	tcase_add_test(tc, test_meminfo);
	tcase_add_test(tc, test_apps);
	tcase_add_test(tc, test_apps_config);
	tcase_add_test(tc, test_read_fake);
	tcase_add_test(tc, test_read_real);
	suite_add_tcase(s, tc);
	return cr_check_main(s);
}
