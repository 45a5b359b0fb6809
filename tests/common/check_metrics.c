/*
 * The Prometheus text lines (common/base/src/metrics.c): the exact bytes a
 * scraper reads from carrier-node's /metrics.
 */
#include <check.h>
#include <event2/buffer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../check_main.h"
#include "cr/metrics.h"

/* The buffer's bytes as a string (freed by the caller); empties b. */
static char *drain(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(evbuffer_remove(b, s, n), (int)n);
	s[n] = '\0';
	return s;
}

START_TEST(test_counter_gauge)
{
	struct evbuffer *b = evbuffer_new();
	char *s;

	cr_metrics_counter(b, "x_total", "Things done.", UINT64_MAX);
	s = drain(b);
	ck_assert_str_eq(s, "# HELP x_total Things done.\n"
			    "# TYPE x_total counter\n"
			    "x_total 18446744073709551615\n");
	free(s);
	cr_metrics_gauge(b, "x_now", "Things held (0: none).", 0);
	s = drain(b);
	ck_assert_str_eq(s, "# HELP x_now Things held (0: none).\n"
			    "# TYPE x_now gauge\n"
			    "x_now 0\n");
	free(s);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_family)
{
	struct evbuffer *b = evbuffer_new();
	char *s;

	cr_metrics_family(b, CR_METRIC_COUNTER, "y_drops_total",
			  "Drops, by reason.");
	cr_metrics_labelled(b, "y_drops_total", "reason", "replay", 3);
	cr_metrics_labelled(b, "y_drops_total", "reason", "too_big", 0);
	s = drain(b);
	ck_assert_str_eq(s, "# HELP y_drops_total Drops, by reason.\n"
			    "# TYPE y_drops_total counter\n"
			    "y_drops_total{reason=\"replay\"} 3\n"
			    "y_drops_total{reason=\"too_big\"} 0\n");
	free(s);
	cr_metrics_family(b, CR_METRIC_GAUGE, "y_open", "Open, by kind.");
	s = drain(b);
	ck_assert_str_eq(s, "# HELP y_open Open, by kind.\n"
			    "# TYPE y_open gauge\n");
	free(s);
	ck_assert_str_eq(cr_metric_type_name(CR_METRIC_COUNTER), "counter");
	ck_assert_str_eq(cr_metric_type_name(CR_METRIC_GAUGE), "gauge");
	evbuffer_free(b);
}
END_TEST

START_TEST(test_table)
{
	struct evbuffer *b = evbuffer_new();
	const struct cr_metric m[] = {
		{ CR_METRIC_GAUGE, "z_bytes", "Bytes held.", 42 },
		{ CR_METRIC_COUNTER, "z_hits_total", "Hits.", 7 },
	};
	char *s;

	cr_metrics_write(b, m, 2);
	s = drain(b);
	ck_assert_str_eq(s, "# HELP z_bytes Bytes held.\n"
			    "# TYPE z_bytes gauge\n"
			    "z_bytes 42\n"
			    "# HELP z_hits_total Hits.\n"
			    "# TYPE z_hits_total counter\n"
			    "z_hits_total 7\n");
	free(s);
	cr_metrics_write(b, m, 0);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	evbuffer_free(b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_counter_gauge);
	tcase_add_test(tc, test_family);
	tcase_add_test(tc, test_table);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(suite());
}
