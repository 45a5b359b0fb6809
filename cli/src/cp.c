/*
 * carrier cp FILE DEVICE_ID:PATH | DEVICE_ID:PATH FILE: files both ways
 * through the shell service (so the device's VENDOR_ID:shell permission
 * covers it, and the device logs each step with the vendor id).  The
 * receiving side writes PATH.carrier-part; a re-run continues from the
 * part's length once its sha256 matches the same prefix of the source;
 * the part becomes PATH only when the whole file's sha256 matches.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "commands.h"
#include "cr/util.h"

#define CP_PART ".carrier-part"

struct cp_progress {
	const char *label;
	uint64_t done, total;
	uint64_t last_ms;
	int on;
};

static void cp_bar(struct cp_progress *p, int final)
{
	uint64_t now = cr_now_ms();
	unsigned pct;

	if (!p->on || (!final && now - p->last_ms < 100))
		return;
	p->last_ms = now;
	pct = p->total ? (unsigned)(p->done * 100 / p->total) : 100;
	fprintf(stderr, "\r%-30.30s %8.1f / %.1f MB %3u%%%s", p->label,
		(double)p->done / 1e6, (double)p->total / 1e6, pct,
		final ? "\n" : "");
}

static void cp_on_progress(void *arg, uint64_t n)
{
	struct cp_progress *p = arg;

	p->done += n;
	cp_bar(p, 0);
}

/* sha256 of the first len bytes of fd, as hex. */
static int cp_hash(int fd, uint64_t len, char hex[65])
{
	crypto_hash_sha256_state st;
	unsigned char buf[65536], h[32];
	uint64_t off = 0;

	crypto_hash_sha256_init(&st);
	while (off < len) {
		size_t want = len - off < sizeof(buf) ? (size_t)(len - off) :
							  sizeof(buf);
		ssize_t r = pread(fd, buf, want, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		crypto_hash_sha256_update(&st, buf, (size_t)r);
		off += (uint64_t)r;
	}
	crypto_hash_sha256_final(&st, h);
	sodium_bin2hex(hex, 65, h, sizeof(h));
	return 0;
}

/* Appends s single-quoted for sh. */
static void cp_quote(char *out, size_t cap, const char *s)
{
	size_t n = 0;

	out[n++] = '\'';
	for (; *s && n + 6 < cap; s++) {
		if (*s == '\'') {
			memcpy(out + n, "'\\''", 4);
			n += 4;
		} else {
			out[n++] = *s;
		}
	}
	out[n++] = '\'';
	out[n] = '\0';
}

/* cl_remote_run, once more after a second when no route came up (a
 * device that just came back: its nodes may still hold the old route);
 * nothing ran on the device then. */
static int cp_run(const char *dev, const struct cl_vendor_opts *vo,
		  int relay, const char *cmd, int in_fd, int out_fd,
		  struct cp_progress *pg, int *status)
{
	int rc = cl_remote_run(dev, vo, relay, cmd, in_fd, out_fd,
			       pg != NULL ? cp_on_progress : NULL, pg, status);

	if (rc == CL_EXIT_OFFLINE) {
		sleep(1);
		rc = cl_remote_run(dev, vo, relay, cmd, in_fd, out_fd,
				   pg != NULL ? cp_on_progress : NULL, pg,
				   status);
	}
	return rc;
}

/* Runs cmd with its stdout captured into out (NUL-terminated). */
static int cp_capture(const char *dev, const struct cl_vendor_opts *vo,
		      int relay, const char *cmd, char *out, size_t cap,
		      int *status)
{
	FILE *f = tmpfile();
	size_t n;
	int rc;

	if (f == NULL)
		return cl_fail(1, "tmpfile: %s", strerror(errno));
	rc = cp_run(dev, vo, relay, cmd, -1, fileno(f), NULL, status);
	rewind(f);
	n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	fclose(f);
	return rc;
}

static int cp_upload(const char *dev, const struct cl_vendor_opts *vo,
		     int relay, const char *file, const char *path)
{
	char q[PATH_MAX * 4 + 8], cmd[PATH_MAX * 8 + 256], out[256];
	char lhash[65], rhash[65];
	struct cp_progress pg = { file, 0, 0, 0, isatty(STDERR_FILENO) };
	uint64_t have = 0, off = 0;
	struct stat sb;
	int fd, rc, status;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		rc = cl_fail(1, "%s: %s", file,
			     fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return rc;
	}
	cp_quote(q, sizeof(q), path);
	/* The part already there: its length and the hash of it. */
	snprintf(cmd, sizeof(cmd),
		 "p=%s" CP_PART "; n=0; [ -f \"$p\" ] && n=$(wc -c < \"$p\"); "
		 "echo $n; head -c $n \"$p\" 2>/dev/null | sha256sum",
		 q);
	rc = cp_capture(dev, vo, relay, cmd, out, sizeof(out), &status);
	if (rc != 0 || status != 0)
		goto remote_fail;
	if (sscanf(out, "%" SCNu64 " %64s", &have, rhash) == 2 &&
	    have > 0 && have <= (uint64_t)sb.st_size &&
	    cp_hash(fd, have, lhash) == 0 && strcmp(lhash, rhash) == 0)
		off = have;
	if (off > 0)
		fprintf(stderr, "carrier: resuming %s at %" PRIu64 " bytes\n",
			path, off);
	if (lseek(fd, (off_t)off, SEEK_SET) < 0) {
		close(fd);
		return cl_fail(1, "%s: %s", file, strerror(errno));
	}
	if (cp_hash(fd, (uint64_t)sb.st_size, lhash) < 0) {
		close(fd);
		return cl_fail(1, "%s: cannot read it", file);
	}
	/* The data, then in the same session the check and the rename. */
	snprintf(cmd, sizeof(cmd),
		 "f=%s; p=\"$f\"" CP_PART "; cat %s \"$p\" || exit 8; "
		 "h=$(sha256sum < \"$p\"); "
		 "[ \"${h%%%% *}\" = %s ] || { rm -f \"$p\"; "
		 "echo \"sha256 mismatch: $h\" >&2; exit 9; }; mv -f \"$p\" \"$f\"",
		 q, off ? ">>" : ">", lhash);
	pg.total = (uint64_t)sb.st_size;
	pg.done = off;
	rc = cp_run(dev, vo, relay, cmd, fd, -1, &pg, &status);
	cp_bar(&pg, 1);
	close(fd);
	if (rc != 0)
		return rc;
	if (status == 9)
		return cl_fail(1, "%s: the copy on the device does not match "
				  "(sha256); removed, run again",
			       path);
	if (status != 0)
		return cl_fail(1, "%s: the device could not write it (exit %d)",
			       path, status);
	fprintf(stderr, "carrier: %s -> %s:%s, sha256 %s\n", file, dev, path,
		lhash);
	return 0;
remote_fail:
	close(fd);
	if (rc != 0)
		return rc;
	return cl_fail(1, "%s: the device could not look at it (exit %d)",
		       path, status);
}

static int cp_download(const char *dev, const struct cl_vendor_opts *vo,
		       int relay, const char *path, const char *file)
{
	char q[PATH_MAX * 4 + 8], cmd[PATH_MAX * 8 + 256], out[256];
	char part[PATH_MAX + 32], lhash[65], rhash[65], whole[65];
	struct cp_progress pg = { path, 0, 0, 0, isatty(STDERR_FILENO) };
	uint64_t size = 0, have, off = 0;
	struct stat sb;
	int fd, rc, status;

	snprintf(part, sizeof(part), "%s" CP_PART, file);
	fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		rc = cl_fail(1, "%s: %s", part, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	have = (uint64_t)sb.st_size;
	cp_quote(q, sizeof(q), path);
	snprintf(cmd, sizeof(cmd),
		 "f=%s; [ -f \"$f\" ] || { echo \"$f: no such file\" >&2; "
		 "exit 2; }; wc -c < \"$f\"; head -c %" PRIu64
		 " \"$f\" | sha256sum; sha256sum < \"$f\"",
		 q, have);
	rc = cp_capture(dev, vo, relay, cmd, out, sizeof(out), &status);
	if (rc != 0 || status != 0 ||
	    sscanf(out, "%" SCNu64 " %64s %*s %64s", &size, rhash, whole) != 3) {
		close(fd);
		if (rc != 0)
			return rc;
		return cl_fail(1, "%s: cannot read it on the device", path);
	}
	if (have > 0 && have <= size && cp_hash(fd, have, lhash) == 0 &&
	    strcmp(lhash, rhash) == 0)
		off = have;
	if (off > 0)
		fprintf(stderr, "carrier: resuming %s at %" PRIu64 " bytes\n",
			file, off);
	if (ftruncate(fd, (off_t)off) < 0 ||
	    lseek(fd, (off_t)off, SEEK_SET) < 0) {
		close(fd);
		return cl_fail(1, "%s: %s", part, strerror(errno));
	}
	snprintf(cmd, sizeof(cmd), "tail -c +%" PRIu64 " %s", off + 1, q);
	pg.total = size;
	pg.done = off;
	rc = cp_run(dev, vo, relay, cmd, -1, fd, &pg, &status);
	cp_bar(&pg, 1);
	if (rc != 0 || status != 0) {
		close(fd);
		return rc != 0 ? rc :
				 cl_fail(1, "%s: the device could not read it "
					    "(exit %d)",
					 path, status);
	}
	/* Checked against the hash taken when the copy started: a file
	 * changed on the device meanwhile does not pass. */
	if (fstat(fd, &sb) < 0 || cp_hash(fd, (uint64_t)sb.st_size, lhash) < 0 ||
	    strcmp(lhash, whole) != 0) {
		close(fd);
		unlink(part);
		return cl_fail(1, "%s: the copy does not match the device's "
				  "(sha256); removed, run again",
			       file);
	}
	close(fd);
	if (rename(part, file) < 0)
		return cl_fail(1, "renaming %s: %s", part, strerror(errno));
	fprintf(stderr, "carrier: %s:%s -> %s, sha256 %s\n", dev, path, file,
		lhash);
	return 0;
}

/* DEVICE:PATH splits at the first ':' when what precedes it names a
 * device (an id or a name); a local path with ':' is then ./a:b. */
static int cp_remote(const char *s, char *dev, size_t cap, const char **path)
{
	const char *c = strchr(s, ':');
	struct cr_id id;
	struct cr_error *err = NULL;

	if (c == NULL || c == s || (size_t)(c - s) >= cap || c[1] == '\0')
		return 0;
	memcpy(dev, s, (size_t)(c - s));
	dev[c - s] = '\0';
	if (cl_dev_parse(dev, &id, &err) < 0) {
		cr_error_free(err);
		return 0;
	}
	*path = c + 1;
	return 1;
}

int cl_cmd_cp(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "relay", no_argument, NULL, 'R' },
		CL_VENDOR_LONG_OPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cl_vendor_opts vo = { NULL, NULL, NULL, 0, NULL };
	char dev[256];
	const char *path;
	int ch, relay = 0;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cl_vendor_opt(ch, optarg, &vo))
			continue;
		switch (ch) {
		case 'R':
			relay = 1;
			break;
		case 'h':
			puts("usage: carrier cp FILE DEVICE_ID:PATH\n"
			     "       carrier cp DEVICE_ID:PATH FILE\n"
			     "Copies a file to or from the device through the "
			     "shell service: the device's\nallow list must "
			     "give this vendor VENDOR_ID:shell, and logs each "
			     "step with the\nvendor id.  The receiving side "
			     "writes PATH.carrier-part and renames it to\nPATH "
			     "only when its sha256 matches the source's; a "
			     "copy run again after an\ninterruption continues "
			     "from the part's length when its sha256 matches "
			     "the\nsame prefix of the source.  A progress bar "
			     "is drawn when stderr is a\nterminal.  DEVICE_ID "
			     "may be a name (carrier name).  Needs sh, wc, "
			     "head,\ntail, cat, mv and sha256sum on the "
			     "device (busybox has them).\nExit status: 0 "
			     "copied and verified; 1 failed; 3 offline, 4 not "
			     "authorized,\n5 shell not allowed, 6 lost (run "
			     "again to resume).");
			return 0;
		default:
			return cl_bad_option(argv);
		}
	}
	if (optind + 2 != argc)
		return cl_fail(2, "usage: carrier cp FILE DEVICE_ID:PATH | "
				  "carrier cp DEVICE_ID:PATH FILE");
	if (cp_remote(argv[optind + 1], dev, sizeof(dev), &path))
		return cp_upload(dev, &vo, relay, argv[optind], path);
	if (cp_remote(argv[optind], dev, sizeof(dev), &path))
		return cp_download(dev, &vo, relay, path, argv[optind + 1]);
	return cl_fail(2, "carrier cp: one side must be DEVICE_ID:PATH (a "
			  "device id or name, ':', a path on the device)");
}
