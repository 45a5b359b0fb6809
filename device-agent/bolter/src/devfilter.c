/* cgroup v2 device rules as an eBPF program: see bo/devfilter.h. */
#include "bo/devfilter.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cr/cleanup.h"

const struct bo_devrule bo_devfilter_defaults[] = {
	{ 1, 'c', 1, 3, "rwm" },  { 1, 'c', 1, 5, "rwm" },
	{ 1, 'c', 1, 7, "rwm" },  { 1, 'c', 1, 8, "rwm" },
	{ 1, 'c', 1, 9, "rwm" },  { 1, 'c', 5, 0, "rwm" },
	{ 1, 'c', 5, 2, "rwm" },  { 1, 'c', 136, -1, "rwm" },
};
const size_t bo_devfilter_n_defaults =
	sizeof(bo_devfilter_defaults) / sizeof(bo_devfilter_defaults[0]);

/* Registers of the program: r1 the context, r2 the device type, r3 the
 * access asked for, r4 the major, r5 the minor. */
enum { R0, R1, R2, R3, R4, R5 };

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src,
			    int16_t off, int32_t imm)
{
	struct bpf_insn i;

	memset(&i, 0, sizeof(i));
	i.code = code;
	i.dst_reg = dst & 0xf;
	i.src_reg = src & 0xf;
	i.off = off;
	i.imm = imm;
	return i;
}

static int devrule_access(const char *s, int32_t *mask)
{
	*mask = 0;
	for (; *s != '\0'; s++) {
		switch (*s) {
		case 'm': *mask |= BPF_DEVCG_ACC_MKNOD; break;
		case 'r': *mask |= BPF_DEVCG_ACC_READ; break;
		case 'w': *mask |= BPF_DEVCG_ACC_WRITE; break;
		default: return -1;
		}
	}
	return 0;
}

/* One rule's instructions into out (at least 8 free); jumps lead past the
 * rule when it does not match.  Returns the count. */
static int devrule_emit(const struct bo_devrule *d, struct bpf_insn *out,
			struct cr_error **err)
{
	struct bpf_insn body[8];
	int n = 0;
	int32_t mask, type;

	if (d->major > INT32_MAX || d->minor > INT32_MAX)
		return cr_error_set(err, EINVAL,
				    "linux.resources.devices: device number "
				    "%lld:%lld out of range",
				    (long long)d->major, (long long)d->minor);
	if (devrule_access(d->access[0] != '\0' ? d->access : "rwm", &mask) < 0)
		return cr_error_set(err, EINVAL,
				    "linux.resources.devices: access '%s' is "
				    "not made of r, w and m",
				    d->access);
	switch (d->type) {
	case 'a': type = 0; break;
	case 'c': type = BPF_DEVCG_DEV_CHAR; break;
	case 'b': type = BPF_DEVCG_DEV_BLOCK; break;
	default:
		return cr_error_set(err, EINVAL,
				    "linux.resources.devices: type '%c' is not "
				    "a, b or c",
				    d->type);
	}
	/* Each test is a placeholder jump; its offset is set below, when the
	 * rule's length is known. */
	if (type != 0)
		body[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, R2, 0, 0, type);
	if (d->type != 'a' && d->major >= 0)
		body[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, R4, 0, 0,
				 (int32_t)d->major);
	if (d->type != 'a' && d->minor >= 0)
		body[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, R5, 0, 0,
				 (int32_t)d->minor);
	if (d->allow) {
		/* every access asked for is allowed: (r3 & ~mask) == 0 */
		body[n++] = insn(BPF_ALU | BPF_MOV | BPF_X, R0, R3, 0, 0);
		body[n++] = insn(BPF_ALU | BPF_AND | BPF_K, R0, 0, 0,
				 ~mask & 7);
		body[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, R0, 0, 0, 0);
	} else {
		/* any access asked for is denied: (r3 & mask) != 0 */
		body[n++] = insn(BPF_ALU | BPF_MOV | BPF_X, R0, R3, 0, 0);
		body[n++] = insn(BPF_ALU | BPF_AND | BPF_K, R0, 0, 0, mask);
		body[n++] = insn(BPF_JMP | BPF_JEQ | BPF_K, R0, 0, 0, 0);
	}
	body[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, d->allow ? 1 : 0);
	body[n++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	/* A failed test jumps to the instruction after the rule. */
	for (int i = 0; i < n; i++)
		if (BPF_CLASS(body[i].code) == BPF_JMP &&
		    BPF_OP(body[i].code) != BPF_EXIT)
			body[i].off = (int16_t)(n - 1 - i);
	memcpy(out, body, (size_t)n * sizeof(body[0]));
	return n;
}

int bo_devfilter_build(const struct bo_devrule *rules, size_t n,
		       struct bpf_insn *out, size_t cap, struct cr_error **err)
{
	size_t total = n + bo_devfilter_n_defaults, len = 0;

	if (n > BO_DEVFILTER_MAX_RULES)
		return cr_error_set(err, EINVAL,
				    "linux.resources.devices: more than %d "
				    "rules",
				    BO_DEVFILTER_MAX_RULES);
	if (cap < 8 + 8 * total)
		return cr_error_set(err, ENOSPC,
				    "device filter: no room for %zu rules",
				    total);
	/* r2 = type, r3 = access, r4 = major, r5 = minor */
	out[len++] = insn(BPF_LDX | BPF_W | BPF_MEM, R2, R1, 0, 0);
	out[len++] = insn(BPF_ALU | BPF_AND | BPF_K, R2, 0, 0, 0xffff);
	out[len++] = insn(BPF_LDX | BPF_W | BPF_MEM, R3, R1, 0, 0);
	out[len++] = insn(BPF_ALU | BPF_RSH | BPF_K, R3, 0, 0, 16);
	out[len++] = insn(BPF_LDX | BPF_W | BPF_MEM, R4, R1, 4, 0);
	out[len++] = insn(BPF_LDX | BPF_W | BPF_MEM, R5, R1, 8, 0);
	/* The last rule decides: test the rules from the last one back.  The
	 * defaults come after the spec's rules. */
	for (size_t i = total; i-- > 0;) {
		const struct bo_devrule *d =
			i >= n ? &bo_devfilter_defaults[i - n] : &rules[i];
		int k = devrule_emit(d, out + len, err);

		if (k < 0)
			return -1;
		len += (size_t)k;
	}
	out[len++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, 0);
	out[len++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	return (int)len;
}

int bo_devfilter_attach(const char *dir, const struct bo_devrule *rules,
			size_t n, struct cr_error **err)
{
	struct bpf_insn prog[8 + 8 * (BO_DEVFILTER_MAX_RULES + 8)];
	char log[4096] = "";
	union bpf_attr attr;
	CR_CLEANUP_CLOSE int cg = -1;
	CR_CLEANUP_CLOSE int fd = -1;
	int len = bo_devfilter_build(rules, n, prog,
				     sizeof(prog) / sizeof(prog[0]), err);

	if (len < 0)
		return -1;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	attr.insns = (uint64_t)(uintptr_t)prog;
	attr.insn_cnt = (uint32_t)len;
	attr.license = (uint64_t)(uintptr_t)"Apache-2.0";
	attr.log_buf = (uint64_t)(uintptr_t)log;
	attr.log_size = sizeof(log);
	attr.log_level = 1;
	fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	if (fd < 0 && errno == ENOSPC) {
		/* the verifier's log did not fit; load without it */
		attr.log_buf = 0;
		attr.log_size = 0;
		attr.log_level = 0;
		fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	}
	if (fd < 0) {
		int e = errno;

		log[sizeof(log) - 1] = '\0';
		log[strcspn(log, "\n")] = '\0';
		return cr_error_errno(err, e,
				      "linux.resources.devices: cannot load the "
				      "cgroup v2 device program%s%s",
				      log[0] != '\0' ? ": " : "", log);
	}
	cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0)
		return cr_error_errno(err, errno, "cgroup: opening %s", dir);
	memset(&attr, 0, sizeof(attr));
	attr.target_fd = (uint32_t)cg;
	attr.attach_bpf_fd = (uint32_t)fd;
	attr.attach_type = BPF_CGROUP_DEVICE;
	attr.attach_flags = BPF_F_ALLOW_MULTI;
	if (syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr)) < 0)
		return cr_error_errno(err, errno,
				      "linux.resources.devices: cannot attach "
				      "the device program to %s",
				      dir);
	return 0;
}
