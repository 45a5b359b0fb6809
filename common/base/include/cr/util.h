/*
 * Small helpers every program needs: clocks, bounded file reads, atomic
 * file writes, directories, hex.
 */
#ifndef CR_UTIL_H
#define CR_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "cr/error.h"

/* Monotonic milliseconds and microseconds; wall-clock Unix seconds. */
uint64_t cr_now_ms(void);
uint64_t cr_now_us(void);
uint64_t cr_now_unix(void);

/* Reads a whole file of at most max bytes into a NUL-terminated buffer the
 * caller frees. */
int cr_read_file(const char *path, size_t max, char **out, size_t *len,
		 struct cr_error **err);
/* The same from an open descriptor (a pipe, stdin) until its end; name
 * is for errors. */
int cr_read_fd(int fd, const char *name, size_t max, char **out,
	       size_t *len, struct cr_error **err);

/* Writes data to path atomically: temp file in the same directory, fsync,
 * rename, fsync of the directory. */
int cr_write_file_atomic(const char *path, const void *data, size_t len,
			 unsigned mode, struct cr_error **err);

/* mkdir -p with mode for created directories. */
int cr_mkdir_p(const char *path, unsigned mode, struct cr_error **err);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void cr_hex(const uint8_t *in, size_t n, char *out);
/* The value of one hex digit (either case), or -1. */
int cr_hex_digit(char c);
/* Parses exactly 2n hex digits (either case) at s into n bytes; 0, or -1
 * at the first character that is not one (a NUL included). */
int cr_unhex(const char *s, size_t n, uint8_t *out);

/* Parses an unsigned decimal in [min, max]; -1 on anything else. */
int cr_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Parses a duration: "250ms", "15s", "2m", "1h" or plain seconds. */
int cr_parse_duration_ms(const char *s, uint64_t *out_ms);

#endif
