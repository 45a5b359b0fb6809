/*
 * Prometheus metrics in the text exposition format (version 0.0.4), written
 * into an evbuffer: every program that serves /metrics writes its lines
 * here, so the format has one owner.
 *
 * A plain metric is three lines: "# HELP name help", "# TYPE name type" and
 * "name value"; one at a time (cr_metrics_counter, cr_metrics_gauge) or a
 * table of them (cr_metrics_write).  A labelled family writes the two
 * header lines once (cr_metrics_family) and then one line per label value
 * (cr_metrics_labelled).  Names, help texts and label values are the
 * caller's constants: nothing is escaped.
 */
#ifndef CR_METRICS_H
#define CR_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

enum cr_metric_type {
	CR_METRIC_COUNTER,
	CR_METRIC_GAUGE,
};

/* "counter" or "gauge". */
const char *cr_metric_type_name(enum cr_metric_type type);

/* One metric with its HELP and TYPE lines. */
void cr_metrics_counter(struct evbuffer *b, const char *name,
			const char *help, uint64_t val);
void cr_metrics_gauge(struct evbuffer *b, const char *name, const char *help,
		      uint64_t val);

/* One metric of a list written at once: a program's catalogue of metrics
 * reads as a table. */
struct cr_metric {
	enum cr_metric_type type;
	const char *name;
	const char *help;
	uint64_t val;
};

/* Each of the n metrics of m, in order, as by cr_metrics_counter() or
 * cr_metrics_gauge(). */
void cr_metrics_write(struct evbuffer *b, const struct cr_metric *m,
		      size_t n);

/* The HELP and TYPE lines of a labelled family. */
void cr_metrics_family(struct evbuffer *b, enum cr_metric_type type,
		       const char *name, const char *help);
/* One member of the family: name{label="value"} val. */
void cr_metrics_labelled(struct evbuffer *b, const char *name,
			 const char *label, const char *value, uint64_t val);

#endif
