/*
 * Device rules on cgroup v2: there is no devices.allow file, so the kernel
 * asks a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the container's
 * cgroup for every open and mknod of a device node.  This module turns the
 * spec's linux.resources.devices (plus the runtime's default devices) into
 * such a program and attaches it.
 *
 * The rules are read as on v1 and in runc: the last rule that matches an
 * access decides, and nothing matching means deny.  An allow rule matches
 * when every access asked for is in its access string; a deny rule when
 * any is.
 */
#ifndef BO_DEVFILTER_H
#define BO_DEVFILTER_H

#include <linux/bpf.h>
#include <stddef.h>

#include "bo/spec.h"
#include "cr/error.h"

enum { BO_DEVFILTER_MAX_RULES = 256 };

/* The devices every container may use once it has device rules at all
 * (null, zero, full, random, urandom, tty, ptmx, the pts), allowed after
 * the spec's own rules on v1 and v2 alike. */
extern const struct bo_devrule bo_devfilter_defaults[];
extern const size_t bo_devfilter_n_defaults;

/* Writes the program for rules (followed by the default devices) into out,
 * which holds cap instructions; returns the instruction count, or -1 with
 * *err set (too many rules, bad type or access). */
int bo_devfilter_build(const struct bo_devrule *rules, size_t n,
		       struct bpf_insn *out, size_t cap, struct cr_error **err);

/* Builds, loads and attaches the program to the cgroup v2 directory dir. */
int bo_devfilter_attach(const char *dir, const struct bo_devrule *rules,
			size_t n, struct cr_error **err);

#endif
