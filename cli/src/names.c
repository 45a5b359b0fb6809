/*
 * carrier name DEVICE_ID NAME, carrier name rm NAME, carrier names: the
 * vendor's own names for devices, in CONFIG_DIR/names (one "NAME ID" a
 * line), and cl_dev_parse, where every command taking a DEVICE_ID looks
 * a name up.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "commands.h"
#include "cr/identity.h"
#include "cr/map.h"

enum { NAME_MAX_LEN = 63, NAMES_MAX = 100000 };

struct name_ent {
	char name[NAME_MAX_LEN + 1];
	char id[CR_ID_STRMAX];
};

static void names_path(char *out, size_t cap)
{
	cl_default_path(NULL, "CARRIER_NAMES", "names", out, cap);
}

/* 1 for a name: 1-63 of [A-Za-z0-9._-], not starting with '-', and not
 * something that parses as an identity. */
static int name_valid(const char *s)
{
	struct cr_id id;
	struct cr_error *err = NULL;
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		      s[i] == '_' || s[i] == '-'))
			return 0;
	if (cr_id_parse(s, &id, &err) == 0)
		return 0;
	cr_error_free(err);
	return 1;
}

/* Reads the file (missing: none); *v is the caller's to free. */
static int names_load(struct name_ent **v, size_t *n, struct cr_error **err)
{
	char path[PATH_MAX], line[256];
	FILE *f;

	*v = NULL;
	*n = 0;
	names_path(path, sizeof(path));
	f = fopen(path, "r");
	if (f == NULL)
		return errno == ENOENT ?
			       0 :
			       cr_error_errno(err, errno, "reading %s", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		char name[128], id[128];
		struct name_ent *nv;

		if (line[0] == '#' ||
		    sscanf(line, "%127s %127s", name, id) != 2 ||
		    strlen(name) > NAME_MAX_LEN || strlen(id) >= CR_ID_STRMAX)
			continue;
		if (*n == NAMES_MAX)
			break;
		nv = realloc(*v, (*n + 1) * sizeof(**v));
		if (nv == NULL) {
			fclose(f);
			free(*v);
			*v = NULL;
			return cr_error_set(err, ENOMEM, "reading %s", path);
		}
		*v = nv;
		/* Both lengths were checked above. */
		memcpy(nv[*n].name, name, strlen(name) + 1);
		memcpy(nv[*n].id, id, strlen(id) + 1);
		(*n)++;
	}
	fclose(f);
	return 0;
}

/* Writes the file whole (a temporary renamed over it). */
static int names_save(const struct name_ent *v, size_t n,
		      struct cr_error **err)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8], *slash;
	FILE *f;

	names_path(path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s", path);
	slash = strrchr(tmp, '/');
	if (slash != NULL && slash != tmp) {
		*slash = '\0';
		/* CONFIG_DIR and its parent, as keygen makes them. */
		char *p2 = strrchr(tmp, '/');

		if (p2 != NULL && p2 != tmp) {
			*p2 = '\0';
			mkdir(tmp, 0700);
			*p2 = '/';
		}
		mkdir(tmp, 0700);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL)
		return cr_error_errno(err, errno, "writing %s", tmp);
	fputs("# carrier names: NAME DEVICE_ID (carrier name)\n", f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s %s\n", v[i].name, v[i].id);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		unlink(tmp);
		return cr_error_errno(err, errno, "writing %s", tmp);
	}
	fclose(f);
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		return cr_error_errno(err, errno, "renaming %s", tmp);
	}
	return 0;
}

struct cr_map *cl_names_by_id(void)
{
	struct cr_map *m = cr_map_new(CR_ID_HASHLEN);
	struct name_ent *v = NULL;
	size_t n = 0;

	if (m == NULL || names_load(&v, &n, NULL) < 0)
		return m;
	for (size_t i = 0; i < n; i++) {
		struct cr_id id;
		struct cr_error *err = NULL;
		char *name;

		if (cr_id_parse(v[i].id, &id, &err) < 0 ||
		    id.type != CR_ID_DEVICE ||
		    cr_map_get(m, id.hash) != NULL) {
			cr_error_free(err);
			continue;
		}
		name = strdup(v[i].name);
		if (name != NULL && cr_map_put(m, id.hash, name) < 0)
			free(name);
	}
	free(v);
	return m;
}

void cl_names_free(struct cr_map *m)
{
	size_t pos = 0;
	const void *k;
	void *val;

	while (m != NULL && cr_map_next(m, &pos, &k, &val))
		free(val);
	cr_map_free(m);
}

int cl_dev_parse(const char *s, struct cr_id *dev, struct cr_error **err)
{
	struct name_ent *v;
	struct cr_error *idlike = NULL;
	size_t n;
	int rc = -1;

	if (cr_id_parse(s, dev, err) == 0) {
		if (dev->type != CR_ID_DEVICE)
			return cr_error_set(err, 2,
					    "%s is not a device identity", s);
		return 0;
	}
	if (!name_valid(s))
		return cr_error_wrap(err, "'%s'", s);
	/* Something shaped like an identity (a prefix and a '_') that no
	 * name matches is a mistyped id: its parse error says what is wrong
	 * (a bad checksum, a wrong length) better than "unknown name". */
	if (strncmp(s, "dev_", 4) == 0 || strncmp(s, "ven_", 4) == 0 ||
	    strncmp(s, "node_", 5) == 0 || strncmp(s, "op_", 3) == 0)
		idlike = *err;
	else
		cr_error_free(*err);
	*err = NULL;
	if (names_load(&v, &n, err) < 0) {
		cr_error_free(idlike);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, s) == 0) {
			cr_error_free(idlike);
			rc = cr_id_parse_as(v[i].id, CR_ID_DEVICE, dev, err);
			if (rc < 0)
				cr_error_wrap(err, "name %s", s);
			free(v);
			return rc;
		}
	free(v);
	if (idlike != NULL) {
		*err = idlike;
		return cr_error_wrap(err, "'%s'", s);
	}
	return cr_error_set(err, 2,
			    "'%s' is neither a device id nor a known name "
			    "(carrier names lists them)",
			    s);
}

static int names_fail(struct cr_error *err, int code)
{
	int rc = cl_fail(code, "%s", cr_error_msg(err));

	cr_error_free(err);
	return rc;
}

static const char name_usage[] =
	"usage: carrier name DEVICE_ID NAME\n"
	"       carrier name rm NAME\n"
	"       carrier names\n"
	"Names a device for this vendor: every command that takes a "
	"DEVICE_ID (lookup,\nping, connect, shell, cp) takes the NAME too.  "
	"Names are 1-63 letters, digits,\n'.', '_' or '-', and live in "
	"~/.config/carrier/names (one \"NAME DEVICE_ID\" a\nline; "
	"$CARRIER_NAMES names another file).  Naming a name again moves it "
	"to the\nnew device.  carrier names lists them, \"NAME DEVICE_ID\" a "
	"line.";

int cl_cmd_name(int argc, char **argv)
{
	struct cr_error *err = NULL;
	struct name_ent *v;
	struct cr_id dev;
	size_t n, i;
	int rm;

	if (argc >= 2 && cl_is_help(argv[1])) {
		puts(name_usage);
		return 0;
	}
	rm = argc == 3 && strcmp(argv[1], "rm") == 0;
	if (argc != 3)
		return cl_fail(2, "usage: carrier name DEVICE_ID NAME | "
				  "carrier name rm NAME");
	if (!rm && cr_id_parse_as(argv[1], CR_ID_DEVICE, &dev, &err) < 0)
		return names_fail(err, 2);
	if (!name_valid(argv[2]))
		return cl_fail(2, "'%s' is not a name (1-63 letters, digits, "
				  "'.', '_', '-'; not an identity)",
			       argv[2]);
	if (names_load(&v, &n, &err) < 0)
		return names_fail(err, 1);
	for (i = 0; i < n; i++)
		if (strcmp(v[i].name, argv[2]) == 0)
			break;
	if (rm) {
		if (i == n) {
			free(v);
			return cl_fail(1, "no name '%s' (carrier names lists "
					  "them)",
				       argv[2]);
		}
		memmove(&v[i], &v[i + 1], (n - i - 1) * sizeof(*v));
		n--;
	} else {
		if (i == n) {
			struct name_ent *nv = realloc(v, (n + 1) * sizeof(*v));

			if (nv == NULL) {
				free(v);
				return cl_fail(1, "out of memory");
			}
			v = nv;
			n++;
		}
		snprintf(v[i].name, sizeof(v[i].name), "%s", argv[2]);
		cr_id_format(&dev, v[i].id);
	}
	if (names_save(v, n, &err) < 0) {
		free(v);
		return names_fail(err, 1);
	}
	free(v);
	return 0;
}

int cl_cmd_names(int argc, char **argv)
{
	struct cr_error *err = NULL;
	struct name_ent *v;
	size_t n;

	if (argc >= 2 && cl_is_help(argv[1])) {
		puts(name_usage);
		return 0;
	}
	if (argc != 1)
		return cl_fail(2, "usage: carrier names");
	if (names_load(&v, &n, &err) < 0)
		return names_fail(err, 1);
	for (size_t i = 0; i < n; i++)
		printf("%s %s\n", v[i].name, v[i].id);
	free(v);
	return 0;
}
