/*
 * linux.seccomp (config-linux.md "Seccomp") compiled with libseccomp.
 * Compiling validates every field and names the bad one; loading happens
 * later, as the last step before the container's program runs.
 */
#ifndef BO_SECCOMP_H
#define BO_SECCOMP_H

#include <json-c/json.h>

#include "cr/error.h"

struct bo_seccomp;

/* Builds a filter from the linux.seccomp object; NULL with *err on a bad
 * field. */
struct bo_seccomp *bo_seccomp_compile(json_object *obj, struct cr_error **err);

/* Loads the filter into the calling thread (and process with TSYNC). */
int bo_seccomp_load(struct bo_seccomp *sc, struct cr_error **err);

/* Whether a rule uses SCMP_ACT_NOTIFY (then listenerPath is set). */
int bo_seccomp_notifies(const struct bo_seccomp *sc);

/* After bo_seccomp_load of a notifying filter: the notify fd, which the
 * caller closes, or -1 with *err. */
int bo_seccomp_notify_fd(struct bo_seccomp *sc, struct cr_error **err);

struct bo_seccomp *bo_seccomp_free(struct bo_seccomp *sc);

/* For `features`: adds "enabled", "actions", "operators", "archs" to o. */
void bo_seccomp_features(json_object *o);

#endif
