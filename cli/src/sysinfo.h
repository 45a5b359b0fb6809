/*
 * `carrier sysinfo DEVICE [--json]`: the device's answer on a "sysinfo"
 * stream (device-agent/include/da/sysinfo.h), parsed here: lines "KEY
 * VALUE", keys [a-z0-9_]+ (at most 31 bytes), values printable (at most
 * 511 bytes), at most CL_SYSINFO_LINES lines; anything else is refused.
 * The bytes come from the device: the parser is fuzzed
 * (tests/fuzz/fuzz_sysinfo.c).
 */
#ifndef CL_SYSINFO_H
#define CL_SYSINFO_H

#include <stddef.h>

#include "cr/error.h"

enum { CL_SYSINFO_LINES = 128, CL_SYSINFO_KEY_MAX = 32,
       CL_SYSINFO_VALUE_MAX = 512, CL_SYSINFO_MAX = 16384 };

struct cl_sysinfo {
	struct {
		char key[CL_SYSINFO_KEY_MAX];
		char value[CL_SYSINFO_VALUE_MAX];
	} line[CL_SYSINFO_LINES];
	size_t n;
};

/* 0, or -1 with *err naming the line that is malformed. */
int cl_sysinfo_parse(const char *buf, size_t len, struct cl_sysinfo *out,
		     struct cr_error **err);

#endif
