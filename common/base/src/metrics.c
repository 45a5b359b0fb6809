/*
 * Prometheus text lines (see cr/metrics.h).
 */
#include <event2/buffer.h>

#include "cr/metrics.h"

const char *cr_metric_type_name(enum cr_metric_type type)
{
	return type == CR_METRIC_GAUGE ? "gauge" : "counter";
}

void cr_metrics_family(struct evbuffer *b, enum cr_metric_type type,
		       const char *name, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
			    name, cr_metric_type_name(type));
}

static void metrics_one(struct evbuffer *b, enum cr_metric_type type,
			const char *name, const char *help, uint64_t val)
{
	cr_metrics_family(b, type, name, help);
	evbuffer_add_printf(b, "%s %llu\n", name, (unsigned long long)val);
}

void cr_metrics_counter(struct evbuffer *b, const char *name,
			const char *help, uint64_t val)
{
	metrics_one(b, CR_METRIC_COUNTER, name, help, val);
}

void cr_metrics_gauge(struct evbuffer *b, const char *name, const char *help,
		      uint64_t val)
{
	metrics_one(b, CR_METRIC_GAUGE, name, help, val);
}

void cr_metrics_write(struct evbuffer *b, const struct cr_metric *m,
		      size_t n)
{
	for (size_t i = 0; i < n; i++)
		metrics_one(b, m[i].type, m[i].name, m[i].help, m[i].val);
}

void cr_metrics_labelled(struct evbuffer *b, const char *name,
			 const char *label, const char *value, uint64_t val)
{
	evbuffer_add_printf(b, "%s{%s=\"%s\"} %llu\n", name, label, value,
			    (unsigned long long)val);
}
