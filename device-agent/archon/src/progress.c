/*
 * The progress line (progress.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "cr/util.h"
#include "progress.h"
#include "store-internal.h"

enum { REDRAW_TTY_MS = 200, REDRAW_FILE_MS = 1000 };

static void draw(struct ar_progress *p, uint64_t now)
{
	char done[32], total[32], rate[32], eta[32] = "";
	uint64_t ms = now - p->t0;
	uint64_t bps = ms > 0 ? p->done * 1000 / ms : 0;

	ar_human(p->done, done, sizeof(done));
	ar_human(bps, rate, sizeof(rate));
	if (p->total > 0) {
		ar_human(p->total, total, sizeof(total));
		if (bps > 0 && p->total > p->done) {
			uint64_t s = (p->total - p->done) / bps;

			snprintf(eta, sizeof(eta), ", %" PRIu64 ":%02" PRIu64 " left",
				 s / 60, s % 60);
		}
		fprintf(stderr, "%s%s: %s of %s (%" PRIu64 "%%), %s/s%s%s",
			p->tty ? "\r" : "", p->phase, done, total,
			p->done * 100 / p->total, rate, eta,
			p->tty ? "\033[K" : "\n");
	} else {
		fprintf(stderr, "%s%s: %s, %s/s%s", p->tty ? "\r" : "", p->phase,
			done, rate, p->tty ? "\033[K" : "\n");
	}
	fflush(stderr);
	p->last = now;
	p->drawn = p->tty;
}

void ar_progress_start(struct ar_progress *p, int on, const char *phase,
		       uint64_t total)
{
	p->on = on;
	p->tty = on && isatty(STDERR_FILENO);
	p->phase = phase;
	p->done = 0;
	p->total = total;
	p->t0 = p->last = cr_now_ms();
	p->drawn = 0;
}

void ar_progress_add(struct ar_progress *p, uint64_t bytes)
{
	uint64_t now;

	p->done += bytes;
	if (!p->on)
		return;
	now = cr_now_ms();
	if (now - p->last >= (p->tty ? REDRAW_TTY_MS : REDRAW_FILE_MS))
		draw(p, now);
}

void ar_progress_end(struct ar_progress *p)
{
	if (!p->on)
		return;
	draw(p, cr_now_ms());
	if (p->tty)
		fputc('\n', stderr);
	p->drawn = 0;
}
