/* Small helpers: see cr/util.h. */
#include "cr/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cr/cleanup.h"

uint64_t cr_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t cr_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t cr_now_unix(void)
{
	return (uint64_t)time(NULL);
}

int cr_read_fd(int fd, const char *name, size_t max, char **out,
	       size_t *len, struct cr_error **err)
{
	char *buf = malloc(max + 1);
	size_t got = 0;

	if (buf == NULL)
		return cr_error_errno(err, ENOMEM, "reading %s", name);
	for (;;) {
		ssize_t n = read(fd, buf + got, max + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(buf);
			return cr_error_errno(err, e, "reading %s", name);
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > max) {
			free(buf);
			return cr_error_set(err, EFBIG,
					    "%s is too large (at most %zu bytes)",
					    name, max);
		}
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

int cr_read_file(const char *path, size_t max, char **out, size_t *len,
		 struct cr_error **err)
{
	CR_CLEANUP_CLOSE int fd = -1;
	struct stat st;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cr_error_errno(err, errno, "cannot open %s", path);
	if (fstat(fd, &st) < 0)
		return cr_error_errno(err, errno, "cannot stat %s", path);
	if (!S_ISREG(st.st_mode))
		return cr_error_set(err, EINVAL, "%s is not a regular file",
				    path);
	if ((uint64_t)st.st_size > max)
		return cr_error_set(err, EFBIG,
				    "%s is too large (%lld bytes, at most %zu)",
				    path, (long long)st.st_size, max);
	return cr_read_fd(fd, path, max, out, len, err);
}

int cr_write_file_atomic(const char *path, const void *data, size_t len,
			 unsigned mode, struct cr_error **err)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const uint8_t *p = data;
	int fd, dfd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
			     (long)getpid()) >= sizeof(tmp))
		return cr_error_set(err, ENAMETOOLONG, "path too long: %s",
				    path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return cr_error_errno(err, errno, "cannot create %s", tmp);
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			unlink(tmp);
			return cr_error_errno(err, e, "writing %s", tmp);
		}
		p += n;
		len -= (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return cr_error_errno(err, e, "syncing %s", tmp);
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return cr_error_errno(err, e, "renaming %s to %s", tmp, path);
	}
	snprintf(dir, sizeof(dir), "%s", path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int cr_mkdir_p(const char *path, unsigned mode, struct cr_error **err)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return cr_error_set(err, EINVAL, "bad directory path '%s'",
				    path);
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return cr_error_errno(err, errno, "cannot create %s",
					      buf);
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return cr_error_errno(err, errno, "cannot create %s", buf);
	return 0;
}

void cr_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int cr_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cr_unhex(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = cr_hex_digit(s[2 * i]), lo;

		if (hi < 0)
			return -1;
		lo = cr_hex_digit(s[2 * i + 1]);
		if (lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int cr_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int cr_parse_duration_ms(const char *s, uint64_t *out_ms)
{
	char num[32];
	size_t n = strspn(s, "0123456789");
	const char *unit = s + n;
	uint64_t v, mul;

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	if (cr_parse_u64(num, 0, UINT32_MAX, &v) < 0)
		return -1;
	if (strcmp(unit, "ms") == 0)
		mul = 1;
	else if (strcmp(unit, "s") == 0 || *unit == '\0')
		mul = 1000;
	else if (strcmp(unit, "m") == 0)
		mul = 60000;
	else if (strcmp(unit, "h") == 0)
		mul = 3600000;
	else
		return -1;
	*out_ms = v * mul;
	return 0;
}
