/*
 * The device side of content-addressed linking (cal.h): STORE/cal, the
 * checks before exec, and the exec plan of `archon run`.  Needs no libelf:
 * the link manifest says everything.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cal.h"
#include "cr/cleanup.h"
#include "cr/identity.h"
#include "store-internal.h"

enum { CAL_MANIFEST_MAX = 16 << 20 };

static int open_cal(struct ar_store *st, struct cr_error **err)
{
	int fd;

	if (!st->readonly && mkdirat(st->dirfd, "cal", 0755) < 0 && errno != EEXIST)
		return cr_error_errno(err, errno, "cannot create %s/cal", st->dir);
	fd = openat(st->dirfd, "cal", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && st->readonly)
		return cr_error_set(err, EAGAIN, "%s/cal is not made yet", st->dir);
	if (fd < 0)
		return cr_error_errno(err, errno, "cannot open %s/cal", st->dir);
	return fd;
}

/* 1 when s is 64 lowercase hex digits. */
static int is_hex_id(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == AR_ID_HEX - 1;
}

/* Reads a whole file of the version (checked against its content id). */
static int read_entry(struct ar_store *st, const struct ar_entry *e, char **out,
		      struct cr_error **err)
{
	CR_CLEANUP_CLOSE int fd = -1;
	uint64_t size;
	size_t got = 0;
	struct ar_id id;
	char *buf;

	if (e->size > CAL_MANIFEST_MAX)
		return cr_error_set(err, EFBIG, "%s is too large", e->path);
	fd = ar_store_open_content(st, &e->content, &size);
	if (fd < 0)
		return cr_error_set(err, -fd, "%s: its object is missing", e->path);
	buf = malloc(e->size + 1);
	if (buf == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	while (got < e->size) {
		ssize_t r = read(fd, buf + got, e->size - got);

		if (r <= 0) {
			free(buf);
			return cr_error_errno(err, r < 0 ? errno : EIO, "cannot read %s",
					      e->path);
		}
		got += (size_t)r;
	}
	ar_id_of(buf, got, &id);
	if (!ar_id_equal(&id, &e->content)) {
		free(buf);
		return cr_error_set(err, EBADMSG, "%s does not match its content id",
				    e->path);
	}
	buf[got] = '\0';
	*out = buf;
	return 0;
}

static int load_version(struct ar_store *st, const char *name,
			struct ar_manifest **m, struct ar_index **idx,
			struct cr_error **err)
{
	if (ar_store_get_manifest(st, name, m, err) < 0)
		return -1;
	if (ar_store_get_index(st, &(*m)->index, idx, err) < 0) {
		*m = ar_manifest_free(*m);
		return -1;
	}
	return 0;
}

static int load_link_json(struct ar_store *st, const struct ar_index *idx,
			  const char *name, json_object **out, char **text,
			  struct cr_error **err)
{
	const struct ar_entry *e = ar_index_find(idx, "link.json");
	char *buf = NULL;

	if (e == NULL || e->type != AR_REG)
		return cr_error_set(err, EINVAL, "%s is not a linked application (no link.json)",
				    name);
	if (read_entry(st, e, &buf, err) < 0)
		return -1;
	*out = json_tokener_parse(buf);
	if (*out == NULL || !json_object_is_type(*out, json_type_object)) {
		json_object_put(*out);
		free(buf);
		return cr_error_set(err, EINVAL, "%s: link.json is not a JSON object", name);
	}
	if (text != NULL)
		*text = buf;
	else
		free(buf);
	return 0;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static json_object *jarr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

/* A name in a library folder: one path component. */
static int name_ok(const char *s)
{
	return s != NULL && s[0] != '\0' && strlen(s) <= 255 && strchr(s, '/') == NULL &&
	       strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Makes cal/<libdir>/ (name -> ../<hex> links) unless it is there. */
static int make_libdir(struct ar_store *st, int calfd, const char *libdir,
		       json_object *list, struct cr_error **err)
{
	char tmp[128];
	CR_CLEANUP_CLOSE int dfd = -1;
	struct stat sb;
	size_t n = list ? json_object_array_length(list) : 0;

	if (strlen(libdir) != AR_ID_HEX + 1 || strcmp(libdir + AR_ID_HEX - 1, ".d") != 0)
		return cr_error_set(err, EINVAL, "link.json: bad libdir '%s'", libdir);
	if (fstatat(calfd, libdir, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (st->readonly)
		return cr_error_set(err, EAGAIN, "%s/cal/%s is not made yet", st->dir, libdir);
	snprintf(tmp, sizeof(tmp), ".tmp.%ld.%s", (long)getpid(), libdir);
	if (mkdirat(calfd, tmp, 0755) < 0)
		return cr_error_errno(err, errno, "cannot create %s/cal/%s", st->dir, tmp);
	dfd = openat(calfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return cr_error_errno(err, errno, "cannot open %s/cal/%s", st->dir, tmp);
	for (size_t i = 0; i < n; i++) {
		json_object *x = json_object_array_get_idx(list, i);
		const char *nm = jstr(x, "name"), *hex = jstr(x, "hash");
		char target[AR_ID_HEX + 4];

		if (!name_ok(nm) || hex == NULL || !is_hex_id(hex)) {
			cr_error_set(err, EINVAL, "link.json: a bad library name or hash");
			goto fail;
		}
		snprintf(target, sizeof(target), "../%s", hex);
		if (symlinkat(target, dfd, nm) < 0 && errno != EEXIST) {
			cr_error_errno(err, errno, "cannot link %s", nm);
			goto fail;
		}
	}
	if (renameat(calfd, tmp, calfd, libdir) == 0)
		return 0;
	/* Made meanwhile by another run: keep that one. */
	n = fstatat(calfd, libdir, &sb, AT_SYMLINK_NOFOLLOW) == 0
		    ? 0
		    : (size_t)cr_error_errno(err, errno, "cannot make %s/cal/%s",
					     st->dir, libdir);
	ar_store_clear_dir(dfd);
	unlinkat(calfd, tmp, AT_REMOVEDIR);
	return n == 0 ? 0 : -1;
fail:
	ar_store_clear_dir(dfd);
	unlinkat(calfd, tmp, AT_REMOVEDIR);
	return -1;
}

int ar_cal_materialize(struct ar_store *st, const char *name,
		       struct cr_error **err)
{
	struct ar_manifest *m = NULL;
	struct ar_index *idx = NULL;
	json_object *lj = NULL;
	CR_CLEANUP_CLOSE int calfd = -1;
	int rc = -1;

	if (load_version(st, name, &m, &idx, err) < 0)
		return -1;
	calfd = open_cal(st, err);
	if (calfd < 0)
		goto out;
	for (size_t i = 0; i < idx->n; i++) {
		const struct ar_entry *e = &idx->e[i];
		struct ar_objkey k;
		char path[AR_OBJPATH_MAX];
		const char *hex;
		struct stat a, b;

		if (strncmp(e->path, "o/", 2) != 0)
			continue;
		hex = e->path + 2;
		if (e->type != AR_REG || !is_hex_id(hex)) {
			cr_error_set(err, EINVAL, "%s: %s is not an object", name, e->path);
			goto out;
		}
		ar_objkey_of(e, &k);
		ar_objkey_path(&k, path);
		if (fstatat(st->objfd, path, &a, AT_SYMLINK_NOFOLLOW) < 0) {
			cr_error_errno(err, errno, "%s: the object of %s is missing", name,
				       e->path);
			goto out;
		}
		if (fstatat(calfd, hex, &b, AT_SYMLINK_NOFOLLOW) == 0) {
			if (a.st_ino == b.st_ino && a.st_dev == b.st_dev)
				continue;
			if (!st->readonly)
				unlinkat(calfd, hex, 0); /* left by a removed version */
		}
		if (st->readonly) {
			cr_error_set(err, EAGAIN, "%s/cal/%s is not made yet", st->dir, hex);
			goto out;
		}
		if (linkat(st->objfd, path, calfd, hex, 0) < 0 && errno != EEXIST) {
			cr_error_errno(err, errno, "cannot link %s/cal/%s", st->dir, hex);
			goto out;
		}
	}
	if (load_link_json(st, idx, name, &lj, NULL, err) < 0)
		goto out;
	if (jstr(lj, "libdir") != NULL &&
	    make_libdir(st, calfd, jstr(lj, "libdir"),
			jarr(lj, "libnames") ? jarr(lj, "libnames") : jarr(lj, "dlopen"),
			err) < 0)
		goto out;
	rc = 0;
out:
	json_object_put(lj);
	ar_index_free(idx);
	ar_manifest_free(m);
	return rc;
}

void ar_cal_sweep(struct ar_store *st)
{
	CR_CLEANUP_CLOSE int calfd = -1;
	DIR *d;
	struct dirent *de;
	int fd;

	calfd = openat(st->dirfd, "cal", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (calfd < 0 || (fd = dup(calfd)) < 0)
		return;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat sb;

		if (de->d_name[0] == '.' ||
		    fstatat(calfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		/* Only the cal link is left: the store dropped the object. */
		if (S_ISREG(sb.st_mode) && sb.st_nlink == 1)
			unlinkat(calfd, de->d_name, 0);
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		struct stat sb;
		int dfd, dangling = 0;
		DIR *sd;
		struct dirent *se;

		if (de->d_name[0] == '.' ||
		    fstatat(calfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(sb.st_mode))
			continue;
		dfd = openat(calfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0)
			continue;
		sd = fdopendir(dup(dfd));
		while (sd != NULL && (se = readdir(sd)) != NULL)
			if (se->d_name[0] != '.' && fstatat(dfd, se->d_name, &sb, 0) < 0)
				dangling = 1;
		if (sd != NULL)
			closedir(sd);
		if (dangling) {
			ar_store_clear_dir(dfd);
			unlinkat(calfd, de->d_name, AT_REMOVEDIR);
		}
		close(dfd);
	}
	closedir(d);
}

/* Re-hashes the object cal/<hex>: 0 when it matches its name. */
static int check_object(int calfd, const char *hex)
{
	CR_CLEANUP_CLOSE int fd = openat(calfd, hex, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	crypto_generichash_state h;
	uint8_t buf[65536], out[AR_ID_LEN];
	struct ar_id want;
	ssize_t r;

	if (fd < 0)
		return -errno;
	if (ar_id_parse(hex, &want) < 0)
		return -EINVAL;
	crypto_generichash_init(&h, NULL, 0, AR_ID_LEN);
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		crypto_generichash_update(&h, buf, (size_t)r);
	if (r < 0)
		return -errno;
	crypto_generichash_final(&h, out, sizeof(out));
	return memcmp(out, want.b, AR_ID_LEN) == 0 ? 0 : -EBADMSG;
}

/* What a hash is in the manifest, for messages. */
static void role_of(json_object *lj, const char *hex, char *out, size_t cap)
{
	static const char *const lists[] = { "exe", "libs", "dlopen" };
	json_object *ip;

	snprintf(out, cap, "object");
	if (json_object_object_get_ex(lj, "interp", &ip) && ip != NULL &&
	    jstr(ip, "hash") != NULL && strcmp(jstr(ip, "hash"), hex) == 0) {
		snprintf(out, cap, "the interpreter %s", jstr(ip, "path") ? jstr(ip, "path") : "");
		return;
	}
	for (size_t l = 0; l < 3; l++) {
		json_object *a = jarr(lj, lists[l]);

		for (size_t i = 0; a != NULL && i < json_object_array_length(a); i++) {
			json_object *x = json_object_array_get_idx(a, i);
			const char *h = jstr(x, "hash"), *n = jstr(x, l == 1 ? "soname" : "name");

			if (h != NULL && strcmp(h, hex) == 0) {
				snprintf(out, cap, "%s %s", l == 0 ? "executable" : "library",
					 n ? n : "?");
				return;
			}
		}
	}
}

static int check_signature(struct ar_store *st, const struct ar_index *idx,
			   const struct ar_manifest *m, const char *text,
			   const char *keyfile, const char *name,
			   struct cr_error **err)
{
	const struct ar_entry *e = ar_index_find(idx, "link.sig");
	uint8_t want[CR_PKLEN], pk[CR_PKLEN], sig[crypto_sign_BYTES];
	enum cr_id_type t;
	char *sigtext = NULL, *nl;
	int rc = -1;

	if (keyfile == NULL)
		return 0;
	if (cr_pubkey_load(keyfile, &t, want, err) < 0)
		return -1;
	/* A version pulled from a publisher is signed as a whole. */
	if (m->is_signed && memcmp(m->pk, want, CR_PKLEN) == 0)
		return 0;
	if (e == NULL || e->type != AR_REG)
		return cr_error_set(err, EPERM, "%s: link.json is not signed (by %s or at all)",
				    name, keyfile);
	if (read_entry(st, e, &sigtext, err) < 0)
		return -1;
	nl = strchr(sigtext, '\n');
	if (nl == NULL || (*nl = '\0', cr_pubkey_parse(sigtext, &t, pk, err) < 0) ||
	    sodium_hex2bin(sig, sizeof(sig), nl + 1, strcspn(nl + 1, "\n"), NULL, NULL,
			   NULL) != 0) {
		if (err && *err == NULL)
			cr_error_set(err, EINVAL, "%s: link.sig is malformed", name);
		goto out;
	}
	if (memcmp(pk, want, CR_PKLEN) != 0) {
		cr_error_set(err, EPERM, "%s: link.json is signed by another key than %s",
			     name, keyfile);
		goto out;
	}
	if (crypto_sign_verify_detached(sig, (const uint8_t *)text, strlen(text), pk) != 0) {
		cr_error_set(err, EPERM, "%s: the signature of link.json does not verify",
			     name);
		goto out;
	}
	rc = 0;
out:
	free(sigtext);
	return rc;
}

static int push(struct ar_run_plan *p, const char *s, struct cr_error **err)
{
	char **na = realloc(p->argv, (p->argc + 2) * sizeof(*na));

	if (na == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	p->argv = na;
	na[p->argc] = strdup(s);
	if (na[p->argc] == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	na[++p->argc] = NULL;
	return 0;
}

void ar_run_plan_free(struct ar_run_plan *p)
{
	for (size_t i = 0; i < p->argc; i++)
		free(p->argv[i]);
	free(p->argv);
	free(p->path);
	memset(p, 0, sizeof(*p));
}

int ar_run_prepare(struct ar_store *st, const char *name,
		   const struct ar_run_opts *o, char **args, size_t nargs,
		   struct ar_run_plan *plan, struct cr_error **err)
{
	struct ar_manifest *m = NULL;
	struct ar_index *idx = NULL;
	json_object *lj = NULL, *exes, *ip = NULL;
	CR_CLEANUP_CLOSE int calfd = -1;
	char *text = NULL, cal[PATH_MAX], real_a[PATH_MAX], real_b[PATH_MAX];
	const char *mode, *prefix, *exe_hex = NULL, *exe_name = NULL;
	const char *key = o->publisher_key ? o->publisher_key : getenv("ARCHON_PUBLISHER_KEY");
	int rc = -1;

	memset(plan, 0, sizeof(*plan));
	if (key != NULL && key[0] == '\0')
		key = NULL;
	if (!ar_store_has(st, name)) {
		char url[2048];

		if (st->readonly)
			return cr_error_set(err, EAGAIN, "%s is not in the store", name);
		struct ar_pull_opts po = { .publisher_key = key };
		int r = ar_store_get_remote(st, url, sizeof(url), err);

		if (r == 0)
			cr_error_set(err, ENOENT, "%s is not in the store, and the store has "
						  "no origin to pull it from", name);
		if (r <= 0)
			return -1;
		if (key == NULL)
			return cr_error_set(err, EPERM, "%s is not in the store: give "
							"--publisher-key to pull it", name);
		if (ar_pull(st, url, name, &po, NULL, err) < 0)
			return -1;
	}
	if (ar_cal_materialize(st, name, err) < 0 ||
	    load_version(st, name, &m, &idx, err) < 0)
		return -1;
	if (load_link_json(st, idx, name, &lj, &text, err) < 0 ||
	    check_signature(st, idx, m, text, key, name, err) < 0)
		goto out;
	mode = jstr(lj, "mode");
	prefix = jstr(lj, "prefix");
	exes = jarr(lj, "exe");
	if (mode == NULL || prefix == NULL || exes == NULL ||
	    json_object_array_length(exes) == 0) {
		cr_error_set(err, EINVAL, "%s: link.json lacks mode, prefix or exe", name);
		goto out;
	}
	/* The executables name their libraries under prefix: it must be
	 * this store's cal/ (or a link to it). */
	snprintf(cal, sizeof(cal), "%s/cal", st->dir);
	if (realpath(cal, real_a) == NULL || realpath(prefix, real_b) == NULL ||
	    strcmp(real_a, real_b) != 0) {
		cr_error_set(err, EINVAL,
			     "%s was linked for the prefix %s, but this store's objects "
			     "are in %s (link with --prefix %s, or make %s a link to it)",
			     name, prefix, cal, cal, prefix);
		goto out;
	}
	calfd = open_cal(st, err);
	if (calfd < 0)
		goto out;
	/* Every object, before anything runs: a changed byte in a library
	 * is refused here, not found later. */
	for (size_t i = 0; !o->no_verify && i < idx->n; i++) {
		const char *p = idx->e[i].path;
		int r;

		if (strncmp(p, "o/", 2) != 0)
			continue;
		r = check_object(calfd, p + 2);
		if (r < 0) {
			char role[300];

			role_of(lj, p + 2, role, sizeof(role));
			cr_error_set(err, r == -EBADMSG ? EBADMSG : -r,
				     "%s: refusing to run: %s %s/%s %s", name, role,
				     cal, p + 2,
				     r == -EBADMSG ? "does not match its hash (changed on disk?)"
						   : "cannot be read");
			goto out;
		}
	}
	for (size_t i = 0; i < json_object_array_length(exes); i++) {
		json_object *x = json_object_array_get_idx(exes, i);

		if (o->exe == NULL || (jstr(x, "name") && strcmp(jstr(x, "name"), o->exe) == 0)) {
			exe_hex = jstr(x, "hash");
			exe_name = jstr(x, "name");
			break;
		}
	}
	if (exe_hex == NULL || exe_name == NULL || !is_hex_id(exe_hex)) {
		cr_error_set(err, ENOENT, "%s has no executable %s", name,
			     o->exe ? o->exe : "");
		goto out;
	}
	if (strcmp(mode, "compat") == 0) {
		const char *ihex = NULL, *libdir = jstr(lj, "libdir");
		char lp[PATH_MAX];

		if (json_object_object_get_ex(lj, "interp", &ip) && ip != NULL)
			ihex = jstr(ip, "hash");
		if (ihex == NULL || !is_hex_id(ihex) || libdir == NULL) {
			cr_error_set(err, EINVAL, "%s: compat mode without interp or libdir", name);
			goto out;
		}
		snprintf(lp, sizeof(lp), "%s/%s", prefix, libdir);
		if (asprintf(&plan->path, "%s/%s", prefix, ihex) < 0) {
			plan->path = NULL;
			goto oom;
		}
		if (push(plan, exe_name, err) < 0 || push(plan, "--library-path", err) < 0 ||
		    push(plan, lp, err) < 0 || push(plan, "--inhibit-cache", err) < 0 ||
		    push(plan, "--argv0", err) < 0 || push(plan, exe_name, err) < 0)
			goto out;
		snprintf(lp, sizeof(lp), "%s/%s", prefix, exe_hex);
		if (push(plan, lp, err) < 0)
			goto out;
	} else {
		if (asprintf(&plan->path, "%s/%s", prefix, exe_hex) < 0) {
			plan->path = NULL;
			goto oom;
		}
		if (push(plan, exe_name, err) < 0)
			goto out;
	}
	for (size_t i = 0; i < nargs; i++)
		if (push(plan, args[i], err) < 0)
			goto out;
	rc = 0;
	goto out;
oom:
	cr_error_set(err, ENOMEM, "out of memory");
out:
	if (rc < 0)
		ar_run_plan_free(plan);
	free(text);
	json_object_put(lj);
	ar_index_free(idx);
	ar_manifest_free(m);
	return rc;
}
