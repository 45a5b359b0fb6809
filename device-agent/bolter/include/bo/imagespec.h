/*
 * The config.json of a container of an image: what `bolter run IMAGE` and
 * the agent's apps run.  From the image's OCI config: Entrypoint + Cmd (or
 * the given args), Env, WorkingDir, a numeric User; the host's network (a
 * device's apps serve on it); new pid, ipc, uts and mount namespaces; the
 * usual mounts, masked and read-only paths; the cgroup PARENT/NAME.  The
 * one place both build it, so an app runs as `bolter run` runs it.
 */
#ifndef BO_IMAGESPEC_H
#define BO_IMAGESPEC_H

#include <stddef.h>

#include "cr/error.h"

struct bo_imagespec {
	const char *name;	   /* hostname and cgroup leaf */
	const char *cgroup_parent; /* NULL: "bolter" */
	const char *rootfs;	   /* root.path; NULL: "rootfs" */
	int readonly_root;
	int terminal;
	/* With replace_entrypoint the args replace Entrypoint + Cmd (a
	 * release's "-- ARGS"); without, they replace Cmd only, as
	 * `docker run IMAGE ARGS` does.  n_args == 0 keeps the image's. */
	char *const *args;
	size_t n_args;
	int replace_entrypoint;
	char *const *env; /* "K=V", added to the image's, same K replaced */
	size_t n_env;
	/* Archon's cal/ folder (an absolute path), bind-mounted read-only at
	 * the same path so linked executables find their objects; NULL:
	 * none. */
	const char *objects_dir;
};

/*
 * Builds the config.json text into *json (the caller frees it) from the
 * image's OCI config JSON (img_config; NULL or "" for an image without
 * one, as a folder import).  -1 with *err when there is no command to run
 * ("the image names no command ...") or the image's user is not numeric.
 * Error codes: EINVAL for no command, an img_config that is not a JSON
 * object or an env entry without '='; ENOTSUP for a user name.  Never
 * prints.
 */
int bo_imagespec_build(const char *img_config, const struct bo_imagespec *o,
		       char **json, struct cr_error **err);

#endif
