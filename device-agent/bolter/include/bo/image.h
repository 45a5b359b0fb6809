/*
 * Docker-like verbs on the Archon store: bolter pull, run IMAGE, ps [-a],
 * images, rmi, stop, rm, logs [-f].  Only the `bolter` name has them; `bolter-oci`
 * is runc's CLI alone.
 *
 * Images live in Archon's store and are reached through the `archon` CLI
 * ($ARCHON, else `archon` next to bolter, else in PATH), so bolter links
 * none of Archon's libraries.  A container is a folder under the data
 * directory ($BOLTER_DATA, default /var/lib/bolter): lower/ (an Archon
 * checkout, hard links into the store, never written), upper/ and work/
 * (the writable layer), rootfs/ (overlayfs of the two; a copy of lower/
 * where overlayfs is missing), config.json built from the image's OCI
 * config, log (stdout and stderr of a detached container) and image (its
 * name).  The runtime state is the runtime's, under --root.
 */
#ifndef BO_IMAGE_H
#define BO_IMAGE_H

enum { BO_IMAGE_NOT_MINE = -1000 };

/* Runs cmd when it is an image verb (argv[0] is cmd) and returns its exit
 * status; returns BO_IMAGE_NOT_MINE when the runtime CLI should handle it
 * (runc's commands, and `run`/`ps` in their runc form: `run` with
 * --bundle or with a config.json in the current folder and no --name,
 * `ps ID`).  Exit statuses follow docs/cli-conventions.md: 2 for a usage
 * error, 1 for a failure. */
int bo_image_command(const char *root, const char *self, const char *cmd,
		     int argc, char **argv);

#endif
