/* Leveled logging: see cr/log.h. */
#include "cr/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static struct {
	const char *progname;
	enum cr_log_level level;
	int use_syslog;
} log_state = { "korhal", CR_LOG_INFO, 0 };

void cr_log_init(const char *progname, enum cr_log_level level, int use_syslog)
{
	log_state.progname = progname;
	log_state.level = level;
	log_state.use_syslog = use_syslog;
	if (use_syslog)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void cr_log_set_level(enum cr_log_level level)
{
	log_state.level = level;
}

enum cr_log_level cr_log_get_level(void)
{
	return log_state.level;
}

int cr_log_level_parse(const char *s, enum cr_log_level *out)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	for (int i = 0; i < 4; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum cr_log_level)i;
			return 0;
		}
	}
	return -1;
}

static void log_emit(enum cr_log_level level, int errnum, const char *fmt,
		     va_list ap) __attribute__((format(printf, 3, 0)));

static void log_emit(enum cr_log_level level, int errnum, const char *fmt,
		     va_list ap)
{
	static const char *const tags[] = { "error", "warn", "info", "debug" };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char msg[1024];
	size_t len;

	if (level > log_state.level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (errnum != 0) {
		len = strlen(msg);
		snprintf(msg + len, sizeof(msg) - len, ": %s", strerror(errnum));
	}
	if (log_state.use_syslog) {
		syslog(prio[level], "%s", msg);
	} else {
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ %s[%s]: %s\n", when,
			ts.tv_nsec / 1000000, log_state.progname, tags[level],
			msg);
	}
}

#define LOG_BODY(level, errnum)                 \
	do {                                    \
		va_list ap;                     \
		va_start(ap, fmt);              \
		log_emit(level, errnum, fmt, ap); \
		va_end(ap);                     \
	} while (0)

void cr_log_warn(const char *fmt, ...)
{
	int e = errno;
	LOG_BODY(CR_LOG_WARN, e);
}

void cr_log_warnx(const char *fmt, ...)
{
	LOG_BODY(CR_LOG_WARN, 0);
}

void cr_log_info(const char *fmt, ...)
{
	LOG_BODY(CR_LOG_INFO, 0);
}

void cr_log_debug(const char *fmt, ...)
{
	LOG_BODY(CR_LOG_DEBUG, 0);
}

void cr_fatal(const char *fmt, ...)
{
	int e = errno;
	LOG_BODY(CR_LOG_ERROR, e);
	exit(1);
}

void cr_fatalx(const char *fmt, ...)
{
	LOG_BODY(CR_LOG_ERROR, 0);
	exit(1);
}

void cr_log_ratelimit_init(struct cr_log_ratelimit *rl, uint32_t burst,
			   uint32_t per_sec)
{
	memset(rl, 0, sizeof(*rl));
	rl->burst = burst;
	rl->tokens = burst;
	rl->per_sec = per_sec;
}

int cr_log_ratelimit_ok(struct cr_log_ratelimit *rl, uint64_t now_ms)
{
	uint64_t add = (now_ms - rl->last_ms) * rl->per_sec / 1000;

	if (add > 0) {
		uint64_t t = rl->tokens + add;
		rl->tokens = t > rl->burst ? rl->burst : (uint32_t)t;
		rl->last_ms = now_ms;
	}
	if (rl->tokens == 0) {
		rl->suppressed++;
		return 0;
	}
	rl->tokens--;
	return 1;
}
