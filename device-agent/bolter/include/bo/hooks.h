/*
 * OCI hooks (config.md "POSIX-platform Hooks"): each runs as a child of the
 * calling process, in that process's namespaces, with the container state
 * JSON on stdin; a non-zero exit or an expired timeout is an error.
 */
#ifndef BO_HOOKS_H
#define BO_HOOKS_H

#include "bo/spec.h"
#include "cr/error.h"

/* The field name of a hook kind ("createRuntime"). */
const char *bo_hook_kind_name(enum bo_hook_kind kind);

/* Runs the hooks of one kind in order and stops at the first failure. */
int bo_hooks_run(const struct bo_spec *spec, enum bo_hook_kind kind,
		 const char *state_json, struct cr_error **err);

#endif
