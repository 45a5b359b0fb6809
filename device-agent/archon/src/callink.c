/*
 * archon link (cal.h): resolves the closure of executables the way the
 * target's loader would, refuses inconsistent closures, stores every file
 * as an object and writes the linked version.  Built with libelf only
 * (AR_WITH_LINK, host builds).
 */
#include <elf.h>
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
#include "elfcal.h"
#include "store-internal.h"

enum { IDX_INTERP = -2 };

/* One file of the closure. */
struct cal_file {
	char *path;	/* where it was found (host path) */
	char *soname;	/* DT_SONAME, else the name it was asked by */
	char **names;	/* names it was asked by (to match later asks) */
	size_t nnames;
	uint8_t *bytes; /* its content (after rewriting, for executables) */
	size_t size;
	char hex[AR_ID_HEX];
	struct ar_elf elf;
	/* Loaded by the executable being resolved: each executable is its
	 * own process, so only these answer to its names. */
	int in_scope;
};

struct cal_link {
	const struct ar_link_opts *o;
	char prefix[PATH_MAX];
	struct cal_file *bins;
	size_t nbins;
	struct cal_file interp;
	int have_interp;
	struct cal_file *libs;
	size_t nlibs, cap;
	int *dl; /* indexes of the dlopen libraries */
	size_t ndl;
};

static void file_clear(struct cal_file *f)
{
	free(f->path);
	free(f->soname);
	for (size_t i = 0; i < f->nnames; i++)
		free(f->names[i]);
	free(f->names);
	free(f->bytes);
	ar_elf_clear(&f->elf);
	memset(f, 0, sizeof(*f));
}

static void set_hex(struct cal_file *f)
{
	struct ar_id id;

	ar_id_of(f->bytes, f->size, &id);
	ar_id_hex(&id, f->hex);
}

/* Reads and parses path (at most 1 GiB).  1 when read, 0 when there is no
 * such file, -1 with *err. */
static int file_load(const char *path, struct cal_file *f, struct cr_error **err)
{
	CR_CLEANUP_CLOSE int fd = -1;
	struct stat sb;
	size_t got = 0;

	memset(f, 0, sizeof(*f));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return cr_error_errno(err, errno, "cannot open %s", path);
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))
		return cr_error_set(err, EINVAL, "%s is not a regular file", path);
	if (sb.st_size > AR_ELF_MAX_SIZE)
		return cr_error_set(err, EFBIG, "%s is larger than 1 GiB", path);
	f->size = (size_t)sb.st_size;
	f->bytes = malloc(f->size ? f->size : 1);
	f->path = strdup(path);
	if (f->bytes == NULL || f->path == NULL) {
		file_clear(f);
		return cr_error_set(err, ENOMEM, "out of memory");
	}
	while (got < f->size) {
		ssize_t r = read(fd, f->bytes + got, f->size - got);

		if (r <= 0) {
			file_clear(f);
			return cr_error_errno(err, r < 0 ? errno : EIO, "cannot read %s", path);
		}
		got += (size_t)r;
	}
	if (ar_elf_parse(f->bytes, f->size, &f->elf, err) < 0) {
		file_clear(f);
		return cr_error_wrap(err, "%s", path);
	}
	set_hex(f);
	return 1;
}

static int add_name(struct cal_file *f, const char *name, struct cr_error **err)
{
	char **nn;

	for (size_t i = 0; i < f->nnames; i++)
		if (strcmp(f->names[i], name) == 0)
			return 0;
	nn = realloc(f->names, (f->nnames + 1) * sizeof(*nn));
	if (nn == NULL || (nn[f->nnames] = strdup(name)) == NULL) {
		if (nn != NULL)
			f->names = nn;
		return cr_error_set(err, ENOMEM, "out of memory");
	}
	f->names = nn;
	f->nnames++;
	return 0;
}

static int same_target(const struct cal_file *a, const struct ar_elf *b)
{
	return a->elf.eclass == b->eclass && a->elf.machine == b->machine &&
	       a->elf.edata == b->edata;
}

/* 1 when name is one the file answers to (its soname or a name it was
 * asked by): the loader's check against what it has loaded. */
static int answers(const struct cal_file *f, const char *name)
{
	if (f->soname != NULL && strcmp(f->soname, name) == 0)
		return 1;
	for (size_t i = 0; i < f->nnames; i++)
		if (strcmp(f->names[i], name) == 0)
			return 1;
	return 0;
}

/* a b c into out; a path too long becomes "" (no such file). */
static void join(char *out, size_t cap, const char *a, const char *b,
		 const char *c)
{
	int n = snprintf(out, cap, "%s%s%s", a, b, c);

	if (n < 0 || (size_t)n >= cap)
		out[0] = '\0';
}

/* Expands $ORIGIN / ${ORIGIN} in a search path entry. */
static void expand_origin(const char *entry, const char *obj_path, char *out,
			  size_t cap)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(obj_path, '/');
	size_t used = 0;

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - obj_path) : 1,
		 slash ? obj_path : ".");
	out[0] = '\0';
	for (const char *p = entry; *p != '\0' && used + 1 < cap;) {
		if (strncmp(p, "$ORIGIN", 7) == 0 || strncmp(p, "${ORIGIN}", 9) == 0) {
			used += (size_t)snprintf(out + used, cap - used, "%s", dir);
			p += p[1] == '{' ? 9 : 7;
		} else {
			out[used++] = *p++;
			out[used] = '\0';
		}
		if (used >= cap)
			used = cap - 1;
	}
}

/* Tries one candidate; 1 when accepted into *f. */
static int try_candidate(struct cal_link *l, const char *path,
			 struct cal_file *f, char *skipped, size_t scap,
			 struct cr_error **err)
{
	int rc = file_load(path, f, err);

	if (rc <= 0)
		return rc;
	if (!same_target(&l->bins[0], &f->elf)) {
		char m[16];

		if (skipped[0] == '\0')
			snprintf(skipped, scap, " (skipped %s: %s)", path,
				 ar_elf_machine_name(f->elf.machine, m, sizeof(m)));
		file_clear(f);
		return 0;
	}
	return 1;
}

/* Searches a ':'-separated list of folders for name. */
static int search_list(struct cal_link *l, const char *list, int from_file,
		       const char *obj_path, const char *name,
		       struct cal_file *f, char *skipped, size_t scap,
		       struct cr_error **err)
{
	char buf[PATH_MAX], dir[PATH_MAX], path[PATH_MAX];
	char *save = NULL, *tok;
	int rc;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ":", &save); tok != NULL;
	     tok = strtok_r(NULL, ":", &save)) {
		if (strstr(tok, "ORIGIN") != NULL)
			expand_origin(tok, obj_path, dir, sizeof(dir));
		else if (from_file && tok[0] == '/')
			join(dir, sizeof(dir), l->o->sysroot ? l->o->sysroot : "", tok, "");
		else
			snprintf(dir, sizeof(dir), "%s", tok);
		join(path, sizeof(path), dir, "/", name);
		rc = try_candidate(l, path, f, skipped, scap, err);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The loader's default folders (Debian's multiarch ones first); "@"
 * stands for the target's triplet. */
static const char *const default_dirs[] = {
	"/lib/@", "/usr/lib/@", "/lib", "/usr/lib", "/lib64", "/usr/lib64",
};

static const char *triplet(unsigned machine, unsigned edata)
{
	switch (machine) {
	case EM_X86_64: return "x86_64-linux-gnu";
	case EM_AARCH64: return "aarch64-linux-gnu";
	case EM_ARM: return "arm-linux-gnueabihf";
	case EM_MIPS: return edata == ELFDATA2LSB ? "mipsel-linux-gnu" : "mips-linux-gnu";
	case EM_386: return "i386-linux-gnu";
	default: return "none";
	}
}

/*
 * The loader's answer to "load name" asked by req (an executable or a
 * library at req_path): an object it already has that answers to the
 * name, else the first file in -L folders, DT_RPATH (without DT_RUNPATH),
 * DT_RUNPATH, then the target's default folders.  Returns the library's
 * index, IDX_INTERP, or -1 with *err.
 */
static int resolve(struct cal_link *l, const char *name,
		   const struct ar_elf *req, const char *req_path,
		   struct cr_error **err)
{
	const char *sys = l->o->sysroot ? l->o->sysroot : "";
	char skipped[PATH_MAX + 64] = "", path[PATH_MAX], fmt[64];
	struct cal_file f;
	int rc = 0;

	if (l->have_interp && answers(&l->interp, name))
		return IDX_INTERP;
	for (size_t i = 0; i < l->nlibs; i++)
		if (l->libs[i].in_scope && answers(&l->libs[i], name))
			return (int)i;
	if (strchr(name, '/') != NULL) {
		join(path, sizeof(path), name[0] == '/' ? sys : "", name, "");
		rc = try_candidate(l, path, &f, skipped, sizeof(skipped), err);
	}
	for (size_t i = 0; rc == 0 && strchr(name, '/') == NULL && i < l->o->nlibdirs; i++)
		rc = search_list(l, l->o->libdirs[i], 0, req_path, name, &f, skipped,
				 sizeof(skipped), err);
	if (rc == 0 && strchr(name, '/') == NULL && req->rpath != NULL &&
	    req->runpath == NULL)
		rc = search_list(l, req->rpath, 1, req_path, name, &f, skipped,
				 sizeof(skipped), err);
	if (rc == 0 && strchr(name, '/') == NULL && req->runpath != NULL)
		rc = search_list(l, req->runpath, 1, req_path, name, &f, skipped,
				 sizeof(skipped), err);
	for (size_t i = 0; rc == 0 && strchr(name, '/') == NULL &&
			   i < sizeof(default_dirs) / sizeof(default_dirs[0]);
	     i++) {
		const char *at = strchr(default_dirs[i], '@');

		if (at != NULL)
			snprintf(fmt, sizeof(fmt), "%.*s%s", (int)(at - default_dirs[i]),
				 default_dirs[i], triplet(req->machine, req->edata));
		else
			snprintf(fmt, sizeof(fmt), "%s", default_dirs[i]);
		join(path, sizeof(path), sys, fmt, "/");
		strncat(path, name, sizeof(path) - strlen(path) - 1);
		rc = try_candidate(l, path, &f, skipped, sizeof(skipped), err);
	}
	if (rc < 0)
		return -1;
	if (rc == 0)
		return cr_error_set(err, ENOENT, "%s (needed by %s) not found%s", name,
				    req_path, skipped);
	if (add_name(&f, name, err) < 0) {
		file_clear(&f);
		return -1;
	}
	f.soname = strdup(f.elf.soname ? f.elf.soname
				       : (strrchr(name, '/') ? strrchr(name, '/') + 1 : name));
	if (f.soname == NULL) {
		file_clear(&f);
		return cr_error_set(err, ENOMEM, "out of memory");
	}
	/* Two files for one soname: the loader would map both and bind
	 * every symbol to whichever came first. */
	for (size_t i = 0; i < l->nlibs; i++)
		if (strcmp(l->libs[i].soname, f.soname) == 0) {
			if (strcmp(l->libs[i].hex, f.hex) == 0) {
				rc = add_name(&l->libs[i], name, err);
				l->libs[i].in_scope = 1;
				file_clear(&f);
				return rc < 0 ? -1 : (int)i;
			}
			cr_error_set(err, EINVAL,
				     "inconsistent closure: two files for soname %s: %s "
				     "and %s", f.soname, l->libs[i].path, f.path);
			file_clear(&f);
			return -1;
		}
	if (l->have_interp && l->interp.soname != NULL &&
	    strcmp(l->interp.soname, f.soname) == 0) {
		int same = strcmp(l->interp.hex, f.hex) == 0;

		if (!same)
			cr_error_set(err, EINVAL,
				     "inconsistent closure: two files for soname %s: %s "
				     "(the interpreter) and %s", f.soname, l->interp.path,
				     f.path);
		file_clear(&f);
		return same ? IDX_INTERP : -1;
	}
	if (l->nlibs == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 16;
		struct cal_file *nl = realloc(l->libs, nc * sizeof(*nl));

		if (nl == NULL) {
			file_clear(&f);
			return cr_error_set(err, ENOMEM, "out of memory");
		}
		l->libs = nl;
		l->cap = nc;
	}
	f.in_scope = 1;
	l->libs[l->nlibs] = f;
	return (int)l->nlibs++;
}

/* The executable's closure in the loader's breadth-first order (its
 * search scope): order[] gets library indexes (IDX_INTERP when it names
 * the interpreter itself). */
static int closure(struct cal_link *l, const struct cal_file *bin, int **order,
		   size_t *n, struct cr_error **err)
{
	int *q = NULL;
	size_t head = 0, cap = 0;

	*n = 0;
	for (size_t i = 0; i < bin->elf.nneeded; i++) {
		int idx = resolve(l, bin->elf.needed[i], &bin->elf, bin->path, err);
		int seen = 0;

		if (idx == -1)
			goto fail;
		for (size_t j = 0; j < *n; j++)
			seen |= q[j] == idx;
		if (seen)
			continue;
		if (*n == cap) {
			int *nq = realloc(q, (cap = cap ? cap * 2 : 16) * sizeof(*q));

			if (nq == NULL)
				goto oom;
			q = nq;
		}
		q[(*n)++] = idx;
	}
	for (head = 0; head < *n; head++) {
		if (q[head] == IDX_INTERP)
			continue;
		for (size_t i = 0; i < l->libs[q[head]].elf.nneeded; i++) {
			int idx = resolve(l, l->libs[q[head]].elf.needed[i],
					  &l->libs[q[head]].elf, l->libs[q[head]].path, err);
			int seen = 0;

			if (idx == -1)
				goto fail;
			if (idx == IDX_INTERP)
				continue; /* loaded first, found by soname */
			for (size_t j = 0; j < *n; j++)
				seen |= q[j] == idx;
			if (seen)
				continue;
			if (*n == cap) {
				int *nq = realloc(q, (cap *= 2) * sizeof(*q));

				if (nq == NULL)
					goto oom;
				q = nq;
			}
			q[(*n)++] = idx;
		}
	}
	*order = q;
	return 0;
oom:
	cr_error_set(err, ENOMEM, "out of memory");
fail:
	free(q);
	return -1;
}

static int write_file(const char *path, const void *buf, size_t len,
		      mode_t mode, struct cr_error **err)
{
	CR_CLEANUP_CLOSE int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	const uint8_t *p = buf;
	struct timespec ts[2] = { { 0, 0 }, { 0, 0 } };

	if (fd < 0)
		return cr_error_errno(err, errno, "cannot create %s", path);
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0)
			return cr_error_errno(err, errno, "cannot write %s", path);
		p += w;
		len -= (size_t)w;
	}
	/* Fixed times and modes: one application, one index id. */
	if (fchmod(fd, mode) < 0 || futimens(fd, ts) < 0)
		return cr_error_errno(err, errno, "cannot set the mode of %s", path);
	return 0;
}

static json_object *obj_entry(const char *key, const char *val, const char *hex,
			      size_t size)
{
	json_object *o = json_object_new_object();

	if (key != NULL)
		json_object_object_add(o, key, json_object_new_string(val));
	json_object_object_add(o, "hash", json_object_new_string(hex));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)size));
	return o;
}

static int cmp_soname(const void *a, const void *b)
{
	const struct cal_file *x = a, *y = b;

	return strcmp(x->soname, y->soname);
}

/* The folder of soname links a manifest's dlopen (or, in compat mode,
 * every library) lookups go through: named by the hash of its contents,
 * so the executable can name it before the manifest exists. */
static void libdir_name(json_object *list, char out[AR_ID_HEX + 2])
{
	const char *s = json_object_to_json_string_ext(list, JSON_C_TO_STRING_PLAIN);
	struct ar_id id;
	char hex[AR_ID_HEX];

	ar_id_of(s, strlen(s), &id);
	ar_id_hex(&id, hex);
	snprintf(out, AR_ID_HEX + 2, "%s.d", hex);
}

static const char *base(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static int rewrite_bin(struct cal_link *l, struct cal_file *bin,
		       const char *runpath, struct cr_error **err)
{
	int *order = NULL;
	size_t n = 0, nmap = bin->elf.nneeded;
	char **paths = NULL, **to = NULL, ipath[PATH_MAX];
	uint8_t *nb = NULL;
	size_t nlen = 0;
	int rc = -1;

	if (closure(l, bin, &order, &n, err) < 0)
		return cr_error_wrap(err, "%s", bin->path);
	paths = calloc(n + 1, sizeof(*paths));
	to = calloc(nmap + 1, sizeof(*to));
	if (paths == NULL || to == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const char *hex = order[i] == IDX_INTERP ? l->interp.hex
							 : l->libs[order[i]].hex;

		if (asprintf(&paths[i], "%s/%s", l->prefix, hex) < 0) {
			paths[i] = NULL;
			cr_error_set(err, ENOMEM, "out of memory");
			goto out;
		}
	}
	if (l->o->compat) {
		rc = 0;
		goto out;
	}
	for (size_t i = 0; i < nmap; i++) {
		int idx = resolve(l, bin->elf.needed[i], &bin->elf, bin->path, err);

		if (idx == -1)
			goto out;
		for (size_t j = 0; j < n; j++)
			if (order[j] == idx)
				to[i] = paths[j];
	}
	if ((size_t)snprintf(ipath, sizeof(ipath), "%s/%s", l->prefix, l->interp.hex) >=
	    sizeof(ipath)) {
		cr_error_set(err, ENAMETOOLONG, "the prefix is too long");
		goto out;
	}
	if (ar_elf_rewrite(bin->bytes, bin->size, ipath, paths, n, runpath,
			   bin->elf.needed, to, nmap, &nb, &nlen, err) < 0) {
		cr_error_wrap(err, "rewrite %s", bin->path);
		goto out;
	}
	free(bin->bytes);
	bin->bytes = nb;
	bin->size = nlen;
	set_hex(bin);
	rc = 0;
out:
	for (size_t i = 0; paths != NULL && i < n; i++)
		free(paths[i]);
	free(paths);
	free(to);
	free(order);
	return rc;
}

static int sign_manifest(const char *keyfile, const char *json, const char *path,
			 struct cr_error **err)
{
	struct cr_keypair kp;
	uint8_t sig[crypto_sign_BYTES];
	char pub[256], hex[2 * crypto_sign_BYTES + 1], *text = NULL;
	int rc;

	if (cr_keypair_load(keyfile, &kp, err) < 0)
		return -1;
	crypto_sign_detached(sig, NULL, (const uint8_t *)json, strlen(json), kp.sk);
	if (cr_pubkey_format(kp.type, kp.pk, pub, sizeof(pub)) < 0) {
		cr_keypair_wipe(&kp);
		return cr_error_set(err, EINVAL, "cannot format the public key");
	}
	cr_keypair_wipe(&kp);
	sodium_bin2hex(hex, sizeof(hex), sig, sizeof(sig));
	if (asprintf(&text, "%s\n%s\n", pub, hex) < 0)
		return cr_error_set(err, ENOMEM, "out of memory");
	rc = write_file(path, text, strlen(text), 0444, err);
	free(text);
	return rc;
}

/* Removes the staging folder (one level of files and o/). */
static void rm_stage(const char *dir)
{
	char p[PATH_MAX + 128];
	CR_CLEANUP_CLOSE int fd = -1;

	snprintf(p, sizeof(p), "%s/o", dir);
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		ar_store_clear_dir(fd);
	rmdir(p);
	fd >= 0 ? close(fd) : 0;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		ar_store_clear_dir(fd);
	rmdir(dir);
}

/* Writes the version's tree into dir: o/<hex> for every file, link.json,
 * link.sig.  *new_bytes, *new_objs: what the store did not hold. */
static int stage(struct ar_store *st, struct cal_link *l, const char *dir,
		 const char *json, uint64_t *new_bytes, size_t *new_objs,
		 struct cr_error **err)
{
	char p[PATH_MAX + 128];

	*new_bytes = 0;
	*new_objs = 0;
	snprintf(p, sizeof(p), "%s/o", dir);
	if (mkdir(p, 0755) < 0)
		return cr_error_errno(err, errno, "cannot create %s", p);
	for (size_t k = 0; k < l->nbins + l->nlibs + 1; k++) {
		const struct cal_file *f = k < l->nbins ? &l->bins[k]
				 : k < l->nbins + l->nlibs ? &l->libs[k - l->nbins]
							   : &l->interp;
		struct ar_content_rec rec;
		struct ar_id id;

		if (k == l->nbins + l->nlibs && !l->have_interp)
			continue;
		snprintf(p, sizeof(p), "%s/o/%s", dir, f->hex);
		if (access(p, F_OK) == 0)
			continue;
		if (write_file(p, f->bytes, f->size, 0555, err) < 0)
			return -1;
		if (ar_id_parse(f->hex, &id) == 0 &&
		    ar_store_content_get(st, &id, &rec) != 0) {
			*new_bytes += f->size;
			(*new_objs)++;
		}
	}
	snprintf(p, sizeof(p), "%s/link.json", dir);
	if (write_file(p, json, strlen(json), 0444, err) < 0)
		return -1;
	if (l->o->key != NULL) {
		snprintf(p, sizeof(p), "%s/link.sig", dir);
		if (sign_manifest(l->o->key, json, p, err) < 0)
			return -1;
	}
	return 0;
}

static json_object *build_manifest(struct cal_link *l, const char *mode,
				   json_object *dl, const char *libdir)
{
	json_object *m = json_object_new_object(), *a;
	char mb[16];

	json_object_object_add(m, "format", json_object_new_string("archon-link/1"));
	json_object_object_add(m, "app", json_object_new_string(l->o->name));
	json_object_object_add(m, "mode", json_object_new_string(mode));
	json_object_object_add(m, "machine",
			       json_object_new_string(ar_elf_machine_name(
				       l->bins[0].elf.machine, mb, sizeof(mb))));
	json_object_object_add(m, "class",
			       json_object_new_int(l->bins[0].elf.eclass == ELFCLASS64 ? 64 : 32));
	json_object_object_add(m, "prefix", json_object_new_string(l->prefix));
	json_object_object_add(m, "interp",
			       l->have_interp ? obj_entry("path", l->bins[0].elf.interp,
							  l->interp.hex, l->interp.size)
					      : NULL);
	a = json_object_new_array();
	for (size_t i = 0; i < l->nbins; i++)
		json_object_array_add(a, obj_entry("name", base(l->bins[i].path),
						   l->bins[i].hex, l->bins[i].size));
	json_object_object_add(m, "exe", a);
	a = json_object_new_array();
	for (size_t i = 0; i < l->nlibs; i++)
		json_object_array_add(a, obj_entry("soname", l->libs[i].soname,
						   l->libs[i].hex, l->libs[i].size));
	json_object_object_add(m, "libs", a);
	json_object_object_add(m, "dlopen", json_object_get(dl));
	json_object_object_add(m, "libdir",
			       libdir ? json_object_new_string(libdir) : NULL);
	return m;
}

int ar_link(struct ar_store *st, char **bins, size_t n,
	    const struct ar_link_opts *o, FILE *out, struct cr_error **err)
{
	struct cal_link l = { .o = o };
	json_object *dl = json_object_new_array(), *libdir_list = NULL, *m = NULL;
	char libdir[AR_ID_HEX + 2] = "", runpath[PATH_MAX], stagedir[PATH_MAX];
	const char *mode = o->compat ? "compat" : "rewritten";
	uint64_t new_bytes = 0;
	size_t new_objs = 0;
	int rc = -1, all_static = 1, staged = 0;

	if (o->prefix != NULL)
		snprintf(l.prefix, sizeof(l.prefix), "%s", o->prefix);
	else
		snprintf(l.prefix, sizeof(l.prefix), "%s/cal", st->dir);
	if (l.prefix[0] != '/' || strlen(l.prefix) > 512) {
		cr_error_set(err, EINVAL, "the prefix %s is not an absolute path of at most 512 bytes",
			     l.prefix);
		goto out;
	}
	l.bins = calloc(n, sizeof(*l.bins));
	if (l.bins == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++, l.nbins++) {
		char m1[16], m2[16];
		int r = file_load(bins[i], &l.bins[i], err);

		if (r == 0)
			cr_error_set(err, ENOENT, "%s: no such file", bins[i]);
		if (r <= 0)
			goto out;
		if (i > 0 && !same_target(&l.bins[0], &l.bins[i].elf)) {
			cr_error_set(err, EINVAL,
				     "inconsistent closure: mixed machines: %s is %s, %s is %s",
				     l.bins[0].path,
				     ar_elf_machine_name(l.bins[0].elf.machine, m1, sizeof(m1)),
				     l.bins[i].path,
				     ar_elf_machine_name(l.bins[i].elf.machine, m2, sizeof(m2)));
			l.nbins++;
			goto out;
		}
		if (l.bins[i].elf.interp != NULL || l.bins[i].elf.nneeded > 0)
			all_static = 0;
	}
	if (all_static) {
		mode = "static";
		if (o->ndlopen > 0) {
			cr_error_set(err, EINVAL, "static executables cannot dlopen from the store");
			goto out;
		}
	} else {
		const char *sys = o->sysroot ? o->sysroot : "";
		char ip[PATH_MAX];
		int r;

		for (size_t i = 0; i < n; i++)
			if (l.bins[i].elf.interp == NULL ||
			    strcmp(l.bins[i].elf.interp, l.bins[0].elf.interp ? l.bins[0].elf.interp : "") != 0) {
				cr_error_set(err, EINVAL,
					     "inconsistent closure: %s and %s have different "
					     "interpreters (or one is static)",
					     l.bins[0].path, l.bins[i].path);
				goto out;
			}
		snprintf(ip, sizeof(ip), "%s%s", sys, l.bins[0].elf.interp);
		r = file_load(ip, &l.interp, err);
		if (r == 0)
			cr_error_set(err, ENOENT, "the interpreter %s: no such file", ip);
		if (r <= 0)
			goto out;
		if (!same_target(&l.bins[0], &l.interp.elf)) {
			cr_error_set(err, EINVAL,
				     "inconsistent closure: mixed machines: %s and the "
				     "interpreter %s", l.bins[0].path, ip);
			goto out;
		}
		l.interp.soname = strdup(l.interp.elf.soname ? l.interp.elf.soname
							     : base(l.bins[0].elf.interp));
		l.have_interp = 1;
		if (l.interp.soname == NULL || add_name(&l.interp, l.bins[0].elf.interp, err) < 0)
			goto out;
	}
	/* The declared dlopen names, resolved from the first executable as
	 * its dlopen() would be (with what it has loaded), with their own
	 * dependencies. */
	if (!all_static) {
		int *order = NULL;
		size_t no;

		if (closure(&l, &l.bins[0], &order, &no, err) < 0) {
			cr_error_wrap(err, "%s", l.bins[0].path);
			goto out;
		}
		free(order);
	}
	for (size_t i = 0; i < o->ndlopen; i++) {
		int idx = resolve(&l, o->dlopen[i], &l.bins[0].elf, l.bins[0].path, err);
		int *ndl;
		struct cal_file pseudo = { 0 };

		if (idx == -1)
			goto out;
		if (idx == IDX_INTERP)
			continue;
		ndl = realloc(l.dl, (l.ndl + 1) * sizeof(*ndl));
		if (ndl == NULL) {
			cr_error_set(err, ENOMEM, "out of memory");
			goto out;
		}
		l.dl = ndl;
		l.dl[l.ndl++] = idx;
		json_object_array_add(dl, obj_entry("name", o->dlopen[i], l.libs[idx].hex,
						    l.libs[idx].size));
		/* Its closure joins the application's (consistency, storage). */
		pseudo.elf = l.libs[idx].elf;
		pseudo.path = l.libs[idx].path;
		{
			int *order = NULL;
			size_t no;

			if (closure(&l, &pseudo, &order, &no, err) < 0)
				goto out;
			free(order);
		}
	}
	if (o->ndlopen > 0 && !o->compat) {
		libdir_name(dl, libdir);
		if ((size_t)snprintf(runpath, sizeof(runpath), "%s/%s", l.prefix, libdir) >=
		    sizeof(runpath)) {
			cr_error_set(err, ENAMETOOLONG, "the prefix is too long");
			goto out;
		}
	}
	for (size_t i = 0; !all_static && i < n; i++) {
		for (size_t j = 0; j < l.nlibs; j++)
			l.libs[j].in_scope = 0;
		if (rewrite_bin(&l, &l.bins[i], libdir[0] ? runpath : NULL, err) < 0)
			goto out;
	}
	/* ld.so and libc.so.6 share a private ABI: one build only. */
	for (size_t i = 0; l.have_interp && i < l.nlibs; i++)
		if (l.interp.elf.glibc_build != NULL && l.libs[i].elf.glibc_build != NULL &&
		    strcmp(l.interp.elf.glibc_build, l.libs[i].elf.glibc_build) != 0) {
			cr_error_set(err, EINVAL,
				     "inconsistent closure: the interpreter %s and %s come "
				     "from different glibc builds: %s vs %s",
				     l.interp.path, l.libs[i].path, l.interp.elf.glibc_build,
				     l.libs[i].elf.glibc_build);
			goto out;
		}
	if (o->compat && !all_static) {
		libdir_list = json_object_new_array();
		for (size_t i = 0; i < l.nlibs; i++) {
			const struct cal_file *f = &l.libs[i];

			for (size_t j = 0; j < f->nnames; j++)
				if (strchr(f->names[j], '/') == NULL)
					json_object_array_add(libdir_list,
							      obj_entry("name", f->names[j],
									f->hex, f->size));
		}
		libdir_name(libdir_list, libdir);
	}
	if (l.nlibs > 0)
		qsort(l.libs, l.nlibs, sizeof(*l.libs), cmp_soname);
	m = build_manifest(&l, mode, dl, libdir[0] ? libdir : NULL);
	if (libdir_list != NULL)
		json_object_object_add(m, "libnames", json_object_get(libdir_list));
	snprintf(stagedir, sizeof(stagedir), "%s/link.XXXXXX", st->dir);
	if (mkdtemp(stagedir) == NULL) {
		cr_error_errno(err, errno, "cannot create a folder in %s", st->dir);
		goto out;
	}
	staged = 1;
	{
		char *json = NULL;
		const char *s = json_object_to_json_string_ext(
			m, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
				   JSON_C_TO_STRING_NOSLASHESCAPE);

		if (asprintf(&json, "%s\n", s) < 0) {
			cr_error_set(err, ENOMEM, "out of memory");
			goto out;
		}
		rc = stage(st, &l, stagedir, json, &new_bytes, &new_objs, err);
		free(json);
		if (rc < 0)
			goto out;
		rc = -1;
	}
	if (chmod(stagedir, 0755) < 0) {
		cr_error_errno(err, errno, "chmod %s", stagedir);
		goto out;
	}
	{
		struct timespec ts[2] = { { 0, 0 }, { 0, 0 } };
		char od[PATH_MAX + 8];

		snprintf(od, sizeof(od), "%s/o", stagedir);
		utimensat(AT_FDCWD, od, ts, 0);
		utimensat(AT_FDCWD, stagedir, ts, 0);
	}
	if (ar_import(st, stagedir, o->name, o->force, err) < 0 ||
	    ar_cal_materialize(st, o->name, err) < 0)
		goto out;
	if (out != NULL) {
		char hb[32];

		ar_human(new_bytes, hb, sizeof(hb));
		fprintf(out, "linked %s (%s): %zu executable%s, %zu librar%s%s; "
			"%zu new object%s (%s)\n", o->name, mode, n, n == 1 ? "" : "s",
			l.nlibs, l.nlibs == 1 ? "y" : "ies",
			l.have_interp ? " and the interpreter" : "", new_objs,
			new_objs == 1 ? "" : "s", hb);
		for (size_t i = 0; i < n; i++)
			fprintf(out, "  %s %s/%s\n", base(l.bins[i].path), l.prefix,
				l.bins[i].hex);
	}
	rc = 0;
out:
	if (staged)
		rm_stage(stagedir);
	json_object_put(m);
	json_object_put(dl);
	json_object_put(libdir_list);
	for (size_t i = 0; i < l.nbins; i++)
		file_clear(&l.bins[i]);
	for (size_t i = 0; i < l.nlibs; i++)
		file_clear(&l.libs[i]);
	if (l.have_interp || l.interp.path != NULL)
		file_clear(&l.interp);
	free(l.bins);
	free(l.libs);
	free(l.dl);
	return rc;
}
