/*
 * archon import: a folder, an OCI image layout, an OCI or Docker archive,
 * or a registry image (registry.c) becomes a version in the store.
 *
 * Layers are read with our tar reader (tar.h: plain, gzip or zstd) but
 * never extracted: each entry goes into the in-memory tree (tree.h, which
 * applies whiteouts and the safety rules) and each regular file's bytes
 * stream straight into a file object.  Only the outer tar of an
 * oci-archive or docker-archive is unpacked, into the store's tmp/ folder,
 * through extract_plain() below, which writes regular files and folders
 * only, each path resolved without following links.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cr/cleanup.h"
#include "cr/util.h"
#include "import-internal.h"
#include "oci.h"
#include "tar.h"

int ar_importer_init(struct ar_importer *imp, struct ar_store *st,
		     struct cr_error **err)
{
	memset(imp, 0, sizeof(*imp));
	imp->st = st;
	if (ar_tree_init(&imp->tree, err) < 0)
		return -1;
	return ar_store_begin(st, err);
}

void ar_importer_clear(struct ar_importer *imp)
{
	ar_tree_clear(&imp->tree);
	free(imp->config);
	imp->config = NULL;
	ar_store_abort(imp->st);
}

/* Streams fd into a new file object for e. */
static int store_fd(struct ar_store *st, int fd, struct ar_entry *e,
		    struct cr_error **err)
{
	struct ar_writer w;
	uint8_t *buf = malloc(1 << 17);

	if (buf == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	if (ar_writer_start(st, &w, err) < 0) {
		free(buf);
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 17);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cr_error_errno(err, errno, "reading %s", e->path);
			goto fail;
		}
		if (n == 0)
			break;
		if (ar_writer_write(&w, buf, (size_t)n, err) < 0)
			goto fail;
	}
	free(buf);
	return ar_writer_finish(&w, e, NULL, err);
fail:
	free(buf);
	ar_writer_discard(&w);
	return -1;
}

static int walk(struct ar_importer *imp, int dfd, const char *rel,
		struct cr_error **err)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int ret = 0;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return cr_error_errno(err, errno, "cannot list %s", rel);
	}
	while (ret == 0 && (de = readdir(d)) != NULL) {
		struct ar_entry e = { 0 };
		struct stat sb;
		char path[AR_PATH_MAX + 1];
		int n;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n = rel[0] ? snprintf(path, sizeof(path), "%s/%s", rel, de->d_name)
			   : snprintf(path, sizeof(path), "%s", de->d_name);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			ret = cr_error_set(err, ENAMETOOLONG, "path too long in %s",
					   rel);
			break;
		}
		if (fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = cr_error_errno(err, errno, "stat %s", path);
			break;
		}
		e.mode = sb.st_mode & 07777;
		e.uid = sb.st_uid;
		e.gid = sb.st_gid;
		e.mtime = sb.st_mtime;
		if (S_ISSOCK(sb.st_mode))
			continue;
		e.path = strdup(path);
		if (e.path == NULL) {
			ret = cr_error_set(err, ENOMEM, "out of memory");
			break;
		}
		if (S_ISDIR(sb.st_mode)) {
			CR_CLEANUP_CLOSE int sub = -1;

			e.type = AR_DIR;
			ret = ar_tree_put(&imp->tree, &e, err);
			if (ret < 0)
				break;
			sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY |
							      O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				ret = cr_error_errno(err, errno, "open %s", path);
				break;
			}
			ret = walk(imp, sub, path, err);
			continue;
		}
		if (S_ISREG(sb.st_mode)) {
			CR_CLEANUP_CLOSE int f = -1;

			e.type = AR_REG;
			f = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (f < 0)
				ret = cr_error_errno(err, errno, "open %s", path);
			else
				ret = store_fd(imp->st, f, &e, err);
		} else if (S_ISLNK(sb.st_mode)) {
			char target[AR_PATH_MAX + 1];
			ssize_t tl = readlinkat(dfd, de->d_name, target,
						sizeof(target) - 1);

			e.type = AR_SYMLINK;
			if (tl <= 0) {
				ret = cr_error_errno(err, errno, "readlink %s", path);
			} else {
				target[tl] = '\0';
				e.target = strdup(target);
				if (e.target == NULL)
					ret = cr_error_set(err, ENOMEM, "out of memory");
			}
		} else {
			e.type = S_ISCHR(sb.st_mode)   ? AR_CHR
				 : S_ISBLK(sb.st_mode) ? AR_BLK
						       : AR_FIFO;
			e.rdev = sb.st_rdev;
		}
		if (ret == 0)
			ret = ar_tree_put(&imp->tree, &e, err);
		free(e.path);
		free(e.target);
		free(e.chunks);
	}
	closedir(d);
	return ret;
}

int ar_import_dir(struct ar_importer *imp, const char *dir,
		  struct cr_error **err)
{
	CR_CLEANUP_CLOSE int fd = -1;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cr_error_errno(err, errno, "cannot open folder %s", dir);
	return walk(imp, fd, "", err);
}

/* Reads one layer (tar, possibly gzip or zstd compressed) into the tree. */
int ar_apply_layer(struct ar_importer *imp, struct ar_tar *a,
		   struct cr_error **err)
{
	struct ar_tar_entry ae;
	uint8_t *buf = malloc(1 << 17);
	int rc = 0, ret = 0;

	if (buf == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	imp->tree.cur_layer++;
	while (ret == 0 && (rc = ar_tar_next(a, &ae, err)) > 0) {
		char path[AR_PATH_MAX + 1];
		const char *base, *hl;
		struct ar_entry e = { 0 };

		if (ar_tree_norm(ae.path, path, sizeof(path), err) < 0) {
			ret = -1;
			break;
		}
		if (path[0] == '\0')
			continue; /* the root itself */
		base = strrchr(path, '/');
		base = base ? base + 1 : path;
		if (strncmp(base, ".wh.", 4) == 0) {
			char dir[AR_PATH_MAX + 1], victim[AR_PATH_MAX + 1];
			size_t dlen = (size_t)(base - path);

			memcpy(dir, path, dlen);
			dir[dlen > 0 ? dlen - 1 : 0] = '\0';
			if (strcmp(base, ".wh..wh..opq") == 0) {
				ar_tree_opaque(&imp->tree, dir);
			} else {
				/* path without the ".wh." of its last name */
				memcpy(victim, path, dlen);
				memcpy(victim + dlen, base + 4, strlen(base + 4) + 1);
				ar_tree_remove(&imp->tree, victim);
			}
			continue;
		}
		e.mode = ae.mode & 07777;
		e.uid = ae.uid;
		e.gid = ae.gid;
		e.mtime = ae.mtime;
		hl = ae.type == AR_TAR_HARDLINK ? ae.link : NULL;
		if (hl != NULL) {
			char tpath[AR_PATH_MAX + 1];
			const struct ar_entry *t;

			if (ar_tree_norm(hl, tpath, sizeof(tpath), err) < 0) {
				ret = cr_error_wrap(err, "hard link %s", path);
				break;
			}
			t = ar_tree_get(&imp->tree, tpath);
			if (t == NULL || t->type != AR_REG) {
				ret = cr_error_set(err, EPERM,
						   "hard link '%s' points at '%s', not a file of the image",
						   path, hl);
				break;
			}
			e = *t; /* a hard link shares the inode's metadata */
			e.target = NULL;
			e.chunks = malloc((t->nchunks ? t->nchunks : 1) *
					  sizeof(*e.chunks));
			if (e.chunks == NULL) {
				ret = cr_error_set(err, ENOMEM, "out of memory");
				break;
			}
			memcpy(e.chunks, t->chunks, t->nchunks * sizeof(*e.chunks));
			e.path = strdup(path);
		} else {
			e.path = strdup(path);
			switch (ae.type) {
			case AR_TAR_DIR:
				e.type = AR_DIR;
				break;
			case AR_TAR_SYMLINK:
				e.type = AR_SYMLINK;
				e.target = strdup(ae.link);
				break;
			case AR_TAR_CHR:
			case AR_TAR_BLK:
				e.type = ae.type == AR_TAR_CHR ? AR_CHR : AR_BLK;
				e.rdev = makedev(ae.devmajor, ae.devminor);
				break;
			case AR_TAR_FIFO:
				e.type = AR_FIFO;
				break;
			case AR_TAR_REG:
				e.type = AR_REG;
				break;
			default:
				free(e.path);
				continue; /* sockets and the like */
			}
		}
		if (e.path == NULL) {
			ret = cr_error_set(err, ENOMEM, "out of memory");
			break;
		}
		if (e.type == AR_SYMLINK &&
		    (e.target == NULL || e.target[0] == '\0')) {
			ret = cr_error_set(err, EBADMSG, "symlink %s without a target",
					   path);
		} else if (hl == NULL && e.type == AR_REG) {
			struct ar_writer w;

			ret = ar_writer_start(imp->st, &w, err);
			while (ret == 0) {
				ssize_t n = ar_tar_read(a, buf, 1 << 17, err);

				if (n < 0) {
					ret = cr_error_wrap(err, "%s", path);
					ar_writer_discard(&w);
					break;
				}
				if (n == 0) {
					ret = ar_writer_finish(&w, &e, NULL, err);
					break;
				}
				ret = ar_writer_write(&w, buf, (size_t)n, err);
				if (ret < 0)
					ar_writer_discard(&w);
			}
		}
		if (ret == 0)
			ret = ar_tree_put(&imp->tree, &e, err);
		free(e.path);
		free(e.target);
		free(e.chunks);
	}
	if (ret == 0 && rc < 0)
		ret = -1;
	free(buf);
	return ret;
}

int ar_apply_layer_file(struct ar_importer *imp, const char *path,
			struct cr_error **err)
{
	CR_CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct ar_tar *a;
	int ret;

	if (fd < 0)
		return cr_error_errno(err, errno, "layer %s", path);
	if (ar_tar_open_fd(&a, fd, err) < 0)
		return cr_error_wrap(err, "layer %s", path);
	ret = ar_apply_layer(imp, a, err);
	if (ret < 0)
		cr_error_wrap(err, "layer %s", path);
	ar_tar_free(a);
	return ret;
}

/* Joins a and b with '/' into out; -1 with *err when it does not fit. */
static int join(char *out, size_t cap, const char *a, const char *b,
		struct cr_error **err)
{
	int n = snprintf(out, cap, "%s/%s", a, b);

	if (n < 0 || (size_t)n >= cap)
		return cr_error_set(err, ENAMETOOLONG, "path too long: %s/%s", a, b);
	return 0;
}

/* Checks that the file at path has the sha256 digest. */
static int check_digest(const char *path, const char *digest,
			struct cr_error **err)
{
	crypto_hash_sha256_state s;
	uint8_t h[32], buf[65536];
	char hex[65];
	CR_CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return cr_error_errno(err, errno, "blob %s", digest);
	crypto_hash_sha256_init(&s);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cr_error_errno(err, errno, "reading blob %s", digest);
		if (n == 0)
			break;
		crypto_hash_sha256_update(&s, buf, (unsigned long long)n);
	}
	crypto_hash_sha256_final(&s, h);
	cr_hex(h, 32, hex);
	if (strcmp(hex, digest + 7) != 0)
		return cr_error_set(err, EBADMSG, "blob %s does not match its digest",
				    digest);
	return 0;
}

/* The path of a verified blob of an OCI layout. */
static int blob_path(const char *layout, const char *digest, char *out,
		     size_t cap, struct cr_error **err)
{
	if (!ar_oci_digest_valid(digest))
		return cr_error_set(err, EBADMSG, "bad digest '%s'", digest);
	char rel[80];

	snprintf(rel, sizeof(rel), "blobs/sha256/%s", digest + 7);
	if (join(out, cap, layout, rel, err) < 0)
		return -1;
	return check_digest(out, digest, err);
}

int ar_import_manifest_blobs(struct ar_importer *imp,
			     const struct ar_oci_manifest *om,
			     const char *layout, struct cr_error **err)
{
	char path[PATH_MAX];
	size_t len;

	if (blob_path(layout, om->config.digest, path, sizeof(path), err) < 0 ||
	    cr_read_file(path, AR_CONFIG_MAX, &imp->config, &len, err) < 0)
		return cr_error_wrap(err, "image config");
	imp->config_len = len;
	for (unsigned i = 0; i < om->nlayers; i++) {
		if (blob_path(layout, om->layers[i].digest, path, sizeof(path),
			      err) < 0 ||
		    ar_apply_layer_file(imp, path, err) < 0)
			return -1;
	}
	return 0;
}

static int import_oci_layout(struct ar_importer *imp, const char *layout,
			     const char *tag, struct cr_error **err)
{
	char path[PATH_MAX];
	CR_CLEANUP_FREE char *json = NULL;
	struct ar_oci_desc d;
	struct ar_oci_manifest *om;
	size_t len;
	int ret;

	if (join(path, sizeof(path), layout, "index.json", err) < 0)
		return -1;
	if (cr_read_file(path, AR_OCI_JSON_MAX, &json, &len, err) < 0)
		return cr_error_wrap(err, "OCI layout");
	if (ar_oci_pick(json, len, tag, ar_oci_host_platform(), &d, err) < 0)
		return cr_error_wrap(err, "%s", path);
	/* An index may point at a further index (one per platform). */
	for (int depth = 0; depth < 4; depth++) {
		free(json);
		json = NULL;
		if (blob_path(layout, d.digest, path, sizeof(path), err) < 0 ||
		    cr_read_file(path, AR_OCI_JSON_MAX, &json, &len, err) < 0)
			return -1;
		if (!ar_oci_is_index(d.media))
			break;
		if (ar_oci_pick(json, len, NULL, ar_oci_host_platform(), &d,
				err) < 0)
			return cr_error_wrap(err, "image index %s", d.digest);
	}
	om = malloc(sizeof(*om));
	if (om == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	ret = ar_oci_manifest_parse(json, len, om, err);
	if (ret == 0)
		ret = ar_import_manifest_blobs(imp, om, layout, err);
	free(om);
	return ret;
}

/* Unpacks the regular files and folders of an outer archive (tar, gzip or
 * zstd) into dirfd: paths normalized (no absolute, no ".."), each
 * component opened without following links, files created exclusively. */
static int extract_plain(const char *file, int dirfd, struct cr_error **err)
{
	CR_CLEANUP_CLOSE int afd = open(file, O_RDONLY | O_CLOEXEC);
	struct ar_tar *a = NULL;
	struct ar_tar_entry ae;
	uint8_t *buf = NULL;
	int rc = 0, ret = 0;

	if (afd < 0)
		return cr_error_errno(err, errno, "%s", file);
	if (ar_tar_open_fd(&a, afd, err) < 0)
		return cr_error_wrap(err, "%s", file);
	buf = malloc(1 << 17);
	if (buf == NULL) {
		ret = cr_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	while (ret == 0 && (rc = ar_tar_next(a, &ae, err)) > 0) {
		char path[AR_PATH_MAX + 1], *p, *slash;
		int fd, out;

		if (ae.type != AR_TAR_REG && ae.type != AR_TAR_DIR)
			continue;
		if (ar_tree_norm(ae.path, path, sizeof(path), err) < 0) {
			ret = -1;
			break;
		}
		if (path[0] == '\0')
			continue;
		fd = dup(dirfd);
		p = path;
		while (fd >= 0 && (slash = strchr(p, '/')) != NULL) {
			int next;

			*slash = '\0';
			if (mkdirat(fd, p, 0700) < 0 && errno != EEXIST) {
				close(fd);
				fd = -1;
				break;
			}
			next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						     O_CLOEXEC);
			close(fd);
			fd = next;
			*slash = '/';
			p = slash + 1;
		}
		if (fd < 0) {
			ret = cr_error_errno(err, errno, "%s: unpacking %s", file, path);
			break;
		}
		if (ae.type == AR_TAR_DIR) {
			if (mkdirat(fd, p, 0700) < 0 && errno != EEXIST)
				ret = cr_error_errno(err, errno, "mkdir %s", path);
			close(fd);
			continue;
		}
		out = openat(fd, p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
					    O_CLOEXEC, 0600);
		close(fd);
		if (out < 0) {
			ret = cr_error_errno(err, errno, "%s: creating %s", file, path);
			break;
		}
		for (;;) {
			ssize_t n = ar_tar_read(a, buf, 1 << 17, err);

			if (n < 0) {
				ret = cr_error_wrap(err, "%s", file);
				break;
			}
			if (n == 0)
				break;
			if (write(out, buf, (size_t)n) != n) {
				ret = cr_error_errno(err, errno, "writing %s", path);
				break;
			}
		}
		close(out);
	}
	if (ret == 0 && rc < 0)
		ret = cr_error_wrap(err, "%s", file);
out:
	ar_tar_free(a);
	free(buf);
	return ret;
}

/* rm -rf of a folder inside dfd, without following links. */
static void remove_tree(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *de;

	if (fd < 0) {
		unlinkat(dfd, name, 0);
		return;
	}
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(fd, de->d_name, 0) < 0 &&
		    (errno == EISDIR || errno == EPERM))
			remove_tree(fd, de->d_name);
	}
	closedir(d);
	unlinkat(dfd, name, AT_REMOVEDIR);
}

static int import_archive(struct ar_importer *imp, const char *file,
			  int docker, struct cr_error **err)
{
	char dir[PATH_MAX], name[64];
	CR_CLEANUP_CLOSE int fd = -1;
	int ret;

	snprintf(name, sizeof(name), "unpack.%ld", (long)getpid());
	remove_tree(imp->st->tmpfd, name);
	if (mkdirat(imp->st->tmpfd, name, 0700) < 0)
		return cr_error_errno(err, errno, "cannot create tmp/%s", name);
	fd = openat(imp->st->tmpfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(dir, sizeof(dir), "%s/tmp/%s", imp->st->dir, name);
	ret = fd < 0 ? cr_error_errno(err, errno, "open %s", dir)
		     : extract_plain(file, fd, err);
	if (ret == 0 && !docker) {
		ret = import_oci_layout(imp, dir, NULL, err);
	} else if (ret == 0) {
		char path[PATH_MAX], cfg[AR_OCI_DOCKER_PATH_MAX];
		char (*layers)[AR_OCI_DOCKER_PATH_MAX] =
			malloc(AR_OCI_MAX_LAYERS * sizeof(*layers));
		CR_CLEANUP_FREE char *json = NULL;
		unsigned n = 0;
		size_t len;

		ret = join(path, sizeof(path), dir, "manifest.json", err);
		ret = ret < 0 ? ret : layers == NULL ? cr_error_set(err, ENOMEM, "out of memory")
		      : cr_read_file(path, AR_OCI_JSON_MAX, &json, &len, err);
		if (ret == 0)
			ret = ar_oci_docker_parse(json, len, cfg, layers, &n, err);
		if (ret == 0) {
			char norm[AR_PATH_MAX + 1];

			ret = ar_tree_norm(cfg, norm, sizeof(norm), err);
			if (ret == 0)
				ret = join(path, sizeof(path), dir, norm, err);
			if (ret == 0)
				ret = cr_read_file(path, AR_CONFIG_MAX, &imp->config,
						   &len, err);
			imp->config_len = len;
		}
		for (unsigned i = 0; ret == 0 && i < n; i++) {
			char norm[AR_PATH_MAX + 1];

			ret = ar_tree_norm(layers[i], norm, sizeof(norm), err);
			if (ret == 0)
				ret = join(path, sizeof(path), dir, norm, err);
			if (ret == 0)
				ret = ar_apply_layer_file(imp, path, err);
		}
		free(layers);
	}
	remove_tree(imp->st->tmpfd, name);
	return ret;
}

int ar_importer_commit(struct ar_importer *imp, const char *name,
		       struct cr_error **err)
{
	struct ar_store *st = imp->st;
	struct ar_index *idx;
	struct ar_manifest m = { 0 };
	uint8_t *ibuf = NULL, *mbuf = NULL;
	size_t ilen, mlen;
	int ret = -1;

	idx = ar_index_new(st->cmin, st->cavg, st->cmax);
	if (idx == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	if (ar_tree_to_index(&imp->tree, idx, err) < 0 ||
	    ar_index_encode(idx, &ibuf, &ilen, err) < 0)
		goto out;
	m.name = (char *)(uintptr_t)name;
	m.index_size = ilen;
	m.created = cr_now_unix();
	m.config = imp->config ? imp->config : (char *)(uintptr_t)"";
	m.config_len = imp->config ? strlen(imp->config) : 0;
	if (ar_store_put_index(st, ibuf, ilen, &m.index, err) < 0 ||
	    ar_manifest_encode(&m, NULL, &mbuf, &mlen, err) < 0 ||
	    ar_store_put_ref(st, name, mbuf, mlen, err) < 0 ||
	    ar_store_commit(st, err) < 0)
		goto out;
	ret = 0;
out:
	free(ibuf);
	free(mbuf);
	ar_index_free(idx);
	return ret;
}

int ar_import(struct ar_store *st, const char *source, const char *name,
	      int force, struct cr_error **err)
{
	struct ar_importer imp;
	struct ar_manifest *held = NULL;
	int ret;

	if (!ar_name_valid(name))
		return cr_error_set(err, EINVAL,
				    "'%s' is not a valid name (want REPO:TAG)", name);
	/* A tag names one version: replacing it silently would lose it. */
	if (!force && ar_store_get_manifest(st, name, &held, NULL) == 0) {
		ar_manifest_free(held);
		return cr_error_set(err, EEXIST,
				    "%s already exists in the store: import --force "
				    "replaces it, or give another tag", name);
	}
	ar_manifest_free(held);
	if (ar_importer_init(&imp, st, err) < 0)
		return -1;
	if (strncmp(source, "oci:", 4) == 0) {
		char path[PATH_MAX];
		const char *tag = NULL, *colon;
		struct stat sb;

		snprintf(path, sizeof(path), "%s", source + 4);
		/* oci:PATH[:TAG]; PATH itself may hold a colon. */
		colon = strrchr(path, ':');
		if (colon != NULL && stat(path, &sb) < 0) {
			path[colon - path] = '\0';
			tag = source + 4 + (colon - path) + 1;
		}
		ret = import_oci_layout(&imp, path, tag, err);
	} else if (strncmp(source, "oci-archive:", 12) == 0) {
		ret = import_archive(&imp, source + 12, 0, err);
	} else if (strncmp(source, "docker-archive:", 15) == 0) {
		ret = import_archive(&imp, source + 15, 1, err);
	} else if (strncmp(source, "docker://", 9) == 0) {
		ret = ar_import_registry(&imp, source + 9, err);
	} else {
		ret = ar_import_dir(&imp, source, err);
	}
	if (ret == 0)
		ret = ar_importer_commit(&imp, name, err);
	ar_importer_clear(&imp);
	return ret < 0 ? cr_error_wrap(err, "import %s", source) : 0;
}
