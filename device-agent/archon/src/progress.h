/*
 * A progress line on standard error for long commands (pull, publish):
 * phase, bytes done of the total, rate and time left.  On a terminal the
 * line is redrawn in place; forced (--progress) onto a file or pipe, a line
 * at most every second.  Sizes use ar_human, the one formatter for sizes
 * people read.
 */
#ifndef AR_PROGRESS_H
#define AR_PROGRESS_H

#include <stdint.h>

struct ar_progress {
	int on;	     /* draw at all */
	int tty;     /* redraw in place */
	const char *phase;
	uint64_t done, total; /* bytes */
	uint64_t t0, last;    /* ms */
	int drawn;   /* a line is on the terminal */
};

/* Starts a phase of total bytes (0: unknown). */
void ar_progress_start(struct ar_progress *p, int on, const char *phase,
		       uint64_t total);
void ar_progress_add(struct ar_progress *p, uint64_t bytes);
/* Draws the final state of the phase and ends its line. */
void ar_progress_end(struct ar_progress *p);

#endif
