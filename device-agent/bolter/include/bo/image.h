/*
 * Docker-like verbs on the Archon store (bolter pull/run/ps/images/stop/
 * rm/logs).  Only the `bolter` name has them; `bolter-oci` is runc's CLI.
 */
#ifndef BO_IMAGE_H
#define BO_IMAGE_H

enum { BO_IMAGE_NOT_MINE = -1000 };

/* Runs cmd when it is an image verb (argv[0] is cmd) and returns its exit
 * status; returns BO_IMAGE_NOT_MINE when the runtime CLI should handle it
 * (runc's commands, and `run`/`ps` in their runc form). */
int bo_image_command(const char *root, const char *cmd, int argc, char **argv);

#endif
