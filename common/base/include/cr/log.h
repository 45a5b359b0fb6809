/*
 * Leveled logging to stderr or syslog, in the manner of OpenBSD's log.c.
 *
 * The logger's settings are the one piece of process-wide state outside
 * main(): every module logs, and threading a logger through every call would
 * buy nothing.  Messages a peer can trigger must go through
 * cr_log_ratelimited() so a hostile peer cannot flood the log.
 */
#ifndef CR_LOG_H
#define CR_LOG_H

#include <stdint.h>

enum cr_log_level {
	CR_LOG_ERROR = 0,
	CR_LOG_WARN = 1,
	CR_LOG_INFO = 2,
	CR_LOG_DEBUG = 3,
};

/* progname is borrowed for the life of the process. */
void cr_log_init(const char *progname, enum cr_log_level level, int use_syslog);
void cr_log_set_level(enum cr_log_level level);
enum cr_log_level cr_log_get_level(void);
/* Parses "error", "warn", "info" or "debug"; returns -1 if unknown. */
int cr_log_level_parse(const char *s, enum cr_log_level *out);

void cr_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cr_log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cr_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cr_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void cr_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
_Noreturn void cr_fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/*
 * A token bucket for messages a peer can trigger: allows `burst` messages,
 * refilled at `per_sec`.  cr_log_ratelimit_ok() returns 1 when the message
 * may be logged.  now_ms is the caller's monotonic clock.
 */
struct cr_log_ratelimit {
	uint64_t last_ms;
	uint32_t tokens;
	uint32_t burst;
	uint32_t per_sec;
	uint32_t suppressed;
};
void cr_log_ratelimit_init(struct cr_log_ratelimit *rl, uint32_t burst,
			   uint32_t per_sec);
int cr_log_ratelimit_ok(struct cr_log_ratelimit *rl, uint64_t now_ms);

#endif
