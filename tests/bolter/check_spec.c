/* bolter's config.json parser: fields land where they should, and every
 * bad field is refused with its name in the message. */
#include <check.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "bo/cgroup.h"
#include "bo/devfilter.h"
#include "bo/spec.h"
#include "bo/state.h"

#include "../check_main.h"

static const char good[] =
	"{\"ociVersion\": \"1.0.2\","
	" \"root\": {\"path\": \"rootfs\", \"readonly\": true},"
	" \"hostname\": \"h\","
	" \"process\": {\"args\": [\"sh\", \"-c\", \"true\"], \"cwd\": \"/\","
	"   \"env\": [\"A=1\"], \"user\": {\"uid\": 5, \"gid\": 6,"
	"   \"additionalGids\": [7, 8], \"umask\": 18},"
	"   \"capabilities\": {\"bounding\": [\"CAP_KILL\", \"CAP_SYS_ADMIN\"],"
	"     \"ambient\": [\"CAP_KILL\"]},"
	"   \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"soft\": 10, \"hard\": "
	"18446744073709551615}],"
	"   \"noNewPrivileges\": true, \"oomScoreAdj\": -5},"
	" \"mounts\": [{\"destination\": \"/proc\", \"type\": \"proc\","
	"   \"source\": \"proc\"},"
	"  {\"destination\": \"/d\", \"type\": \"bind\", \"source\": \"/tmp\","
	"   \"options\": [\"rbind\", \"ro\", \"nosuid\", \"rslave\"]},"
	"  {\"destination\": \"/t\", \"type\": \"tmpfs\", \"source\": \"t\","
	"   \"options\": [\"mode=755\", \"size=1k\", \"rw\"]}],"
	" \"hooks\": {\"poststop\": [{\"path\": \"/bin/x\", \"timeout\": 3}]},"
	" \"annotations\": {\"a\": \"b\"},"
	" \"linux\": {\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"mount\"},"
	"   {\"type\": \"uts\"}, {\"type\": \"network\", \"path\": \"/proc/1/ns/net\"}],"
	"   \"resources\": {\"memory\": {\"limit\": 1048576},"
	"     \"pids\": {\"limit\": 9}, \"cpu\": {\"shares\": 100, \"cpus\": \"0-1\"},"
	"     \"devices\": [{\"allow\": false, \"access\": \"rwm\"}]},"
	"   \"sysctl\": {\"net.ipv4.ip_forward\": \"1\"},"
	"   \"maskedPaths\": [\"/proc/kcore\"], \"readonlyPaths\": [\"/proc/sys\"],"
	"   \"rootfsPropagation\": \"rprivate\", \"cgroupsPath\": \"a/b\"}}";

START_TEST(test_good)
{
	struct cr_error *err = NULL;
	struct bo_spec *s = bo_spec_parse(good, strlen(good), &err);

	ck_assert_msg(s != NULL, "%s", cr_error_msg(err));
	ck_assert_str_eq(s->root_path, "rootfs");
	ck_assert_int_eq(s->root_readonly, 1);
	ck_assert_str_eq(s->process.args[2], "true");
	ck_assert_ptr_null(s->process.args[3]);
	ck_assert_uint_eq(s->process.uid, 5);
	ck_assert_uint_eq(s->process.n_gids, 2);
	ck_assert_uint_eq(s->process.umask, 18);
	ck_assert_uint_eq(s->process.caps[BO_CAP_BOUNDING],
			  (1ULL << 5) | (1ULL << 21));
	ck_assert_uint_eq(s->process.caps[BO_CAP_AMBIENT], 1ULL << 5);
	ck_assert_int_eq(s->process.rlimits[0].resource, RLIMIT_NOFILE);
	ck_assert(s->process.rlimits[0].hard == UINT64_MAX);
	ck_assert_int_eq(s->process.oom_score_adj, -5);
	ck_assert_uint_eq(s->n_mounts, 3);
	ck_assert_int_eq(s->mounts[1].bind, 2);
	ck_assert_uint_eq(s->mounts[1].flags, MS_RDONLY | MS_NOSUID);
	ck_assert_uint_eq(s->mounts[1].propagation, MS_SLAVE | MS_REC);
	ck_assert_str_eq(s->mounts[2].data, "mode=755,size=1k");
	ck_assert_uint_eq(s->n_hooks[BO_HOOK_POSTSTOP], 1);
	ck_assert_int_eq(s->hooks[BO_HOOK_POSTSTOP][0].timeout, 3);
	/* No "env": NULL, so that the hook inherits the runtime's. */
	ck_assert_ptr_null(s->hooks[BO_HOOK_POSTSTOP][0].env);
	ck_assert_ptr_nonnull(bo_spec_namespace(s, CLONE_NEWPID));
	ck_assert_str_eq(bo_spec_namespace(s, CLONE_NEWNET)->path,
			 "/proc/1/ns/net");
	ck_assert_ptr_null(bo_spec_namespace(s, CLONE_NEWUSER));
	ck_assert_int_eq(s->resources.memory_limit, 1048576);
	ck_assert_int_eq(s->resources.pids_limit, 9);
	ck_assert_str_eq(s->resources.cpus, "0-1");
	ck_assert_uint_eq(s->resources.n_devrules, 1);
	ck_assert_str_eq(s->sysctl[0].key, "net.ipv4.ip_forward");
	ck_assert_str_eq(s->masked_paths[0], "/proc/kcore");
	ck_assert_uint_eq(s->rootfs_propagation, MS_PRIVATE | MS_REC);
	ck_assert_str_eq(s->cgroups_path, "a/b");
	bo_spec_free(s);
}
END_TEST

/* Each case replaces one piece of the good document. */
static const struct {
	const char *from, *to, *field;
} bad_cases[] = {
	{ "\"1.0.2\"", "\"2.0\"", "ociVersion" },
	{ "\"args\": [\"sh\",", "\"args\": [1,", "process.args[0]" },
	{ "\"uid\": 5", "\"uid\": -5", "process.user.uid" },
	{ "\"CAP_KILL\", \"CAP_SYS_ADMIN\"", "7",
	  "process.capabilities.bounding[0]" },
	{ "RLIMIT_NOFILE", "RLIMIT_X", "process.rlimits[0].type" },
	{ "\"oomScoreAdj\": -5", "\"oomScoreAdj\": 5000", "process.oomScoreAdj" },
	{ "\"cwd\": \"/\"", "\"cwd\": \"rel\"", "process.cwd" },
	{ "\"destination\": \"/d\"", "\"destination\": \"d\"",
	  "mounts[1].destination" },
	{ "\"idmap\"", "\"idmap\"", NULL },
	{ "\"size=1k\"", "\"idmap\"",
	  "mounts[2].options: idmap and ridmap need a bind mount" },
	{ "\"size=1k\"", "\"idmap=uids=0-1-1;gids=0-1-1\"", "mounts[2].options[1]" },
	{ "\"rslave\"", "\"rslave\", \"idmap\"",
	  "mounts[1].options: idmap without uidMappings" },
	{ "\"rslave\"]", "\"rslave\"], \"uidMappings\": [{\"containerID\": 0, "
	  "\"hostID\": 1, \"size\": 1}]",
	  "mounts[1].uidMappings: uidMappings and gidMappings go together" },
	{ "\"type\": \"pid\"", "\"type\": \"clock\"", "linux.namespaces[0].type" },
	{ "{\"type\": \"uts\"},", "", "hostname" },
	{ "\"limit\": 1048576", "\"limit\": 1.5", "linux.resources.memory.limit" },
	{ "\"0-1\"", "\"zero\"", "linux.resources.cpu.cpus" },
	{ "\"rprivate\"", "\"sideways\"", "linux.rootfsPropagation" },
	{ "\"a/b\"", "\"../x\"", "linux.cgroupsPath" },
	{ "\"timeout\": 3", "\"timeout\": 0", "hooks.poststop[0].timeout" },
	{ "\"cgroupsPath\": \"a/b\"",
	  "\"cgroupsPath\": \"a/b\", \"timeOffsets\": {\"boottime\": {\"secs\": 1}}",
	  "linux.timeOffsets: needs a new time namespace" },
	{ "\"cgroupsPath\": \"a/b\"",
	  "\"cgroupsPath\": \"a/b\", \"timeOffsets\": {\"realtime\": {\"secs\": 1}}",
	  "linux.timeOffsets.realtime" },
	{ "\"cgroupsPath\": \"a/b\"",
	  "\"cgroupsPath\": \"a/b\", \"timeOffsets\": {\"monotonic\": "
	  "{\"nanosecs\": 1000000000}}",
	  "linux.timeOffsets.monotonic.nanosecs" },
	{ "\"cgroupsPath\": \"a/b\"",
	  "\"cgroupsPath\": \"a/b\", \"personality\": {\"domain\": \"LINUX64\"}",
	  "linux.personality.domain" },
	{ "\"/bin/x\"", "\"bin/x\"", "hooks.poststop[0].path" },
	{ "\"a\": \"b\"", "\"a\": 1", "annotations.a" },
	{ "\"readonly\": true", "\"readonly\": 1", "root.readonly" },
	/* sysctls only where the container has the namespace */
	{ "\"net.ipv4.ip_forward\"", "\"kernel.hostname\"",
	  "linux.sysctl.kernel.hostname" },
	{ "\"net.ipv4.ip_forward\"", "\"vm.swappiness\"",
	  "linux.sysctl.vm.swappiness" },
	{ "\"net.ipv4.ip_forward\"", "\"fs.mqueue.msg_max\"",
	  "linux.sysctl.fs.mqueue.msg_max: needs an ipc namespace" },
	{ "\"net.ipv4.ip_forward\"", "\"kernel.shmmax\"",
	  "linux.sysctl.kernel.shmmax: needs an ipc namespace" },
	{ ", {\"type\": \"network\", \"path\": \"/proc/1/ns/net\"}", "",
	  "linux.sysctl.net.ipv4.ip_forward: needs a network namespace" },
};

START_TEST(test_bad)
{
	char doc[8192], *at;
	struct cr_error *err = NULL;
	struct bo_spec *s;

	if (bad_cases[_i].field == NULL)
		return;
	at = strstr(good, bad_cases[_i].from);
	ck_assert_ptr_nonnull(at);
	snprintf(doc, sizeof(doc), "%.*s%s%s", (int)(at - good), good,
		 bad_cases[_i].to, at + strlen(bad_cases[_i].from));
	s = bo_spec_parse(doc, strlen(doc), &err);
	ck_assert_msg(s == NULL, "case %d accepted", _i);
	ck_assert_msg(strstr(cr_error_msg(err), bad_cases[_i].field) != NULL,
		      "case %d: '%s' does not name %s", _i, cr_error_msg(err),
		      bad_cases[_i].field);
	cr_error_free(err);
}
END_TEST

/* A capability name bolter does not know is skipped, as runc and crun
 * do, and the known ones of the same set still count. */
START_TEST(test_unknown_cap)
{
	char doc[8192], *at;
	const char *from = "\"CAP_KILL\", \"CAP_SYS_ADMIN\"";
	struct cr_error *err = NULL;
	struct bo_spec *s;

	at = strstr(good, from);
	ck_assert_ptr_nonnull(at);
	snprintf(doc, sizeof(doc), "%.*s\"CAP_NOPE\", \"CAP_KILL\"%s",
		 (int)(at - good), good, at + strlen(from));
	s = bo_spec_parse(doc, strlen(doc), &err);
	ck_assert_msg(s != NULL, "%s", err != NULL ? cr_error_msg(err) : "");
	ck_assert_uint_eq(s->process.caps[BO_CAP_BOUNDING], 1ULL << 5);
	bo_spec_free(s);
}
END_TEST

/* crun's keep-groups annotation, read at parse time ("1" only). */
START_TEST(test_keep_groups)
{
	static const char *const values[] = { "\"1\"", "\"0\"" };
	const char *from = "\"a\": \"b\"";
	char *at = strstr(good, from);

	ck_assert_ptr_nonnull(at);
	for (int v = 0; v < 2; v++) {
		char doc[8192];
		struct cr_error *err = NULL;
		struct bo_spec *s;

		snprintf(doc, sizeof(doc),
			 "%.*s\"run.oci.keep_original_groups\": %s%s",
			 (int)(at - good), good, values[v], at + strlen(from));
		s = bo_spec_parse(doc, strlen(doc), &err);
		ck_assert_msg(s != NULL, "%s", err != NULL ? cr_error_msg(err) : "");
		ck_assert_int_eq(s->keep_original_groups, v == 0);
		bo_spec_free(s);
	}
}
END_TEST

START_TEST(test_not_json)
{
	static const char *const docs[] = { "", "{", "[1]", "{} x", "null",
					    "{\"ociVersion\": \"1.0.0\"}" };
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct cr_error *err = NULL;

		ck_assert_ptr_null(bo_spec_parse(docs[i], strlen(docs[i]), &err));
		ck_assert_ptr_nonnull(err);
		cr_error_free(err);
	}
}
END_TEST

START_TEST(test_caps_and_ids)
{
	ck_assert_int_eq(bo_cap_from_name("CAP_SYS_ADMIN"), 21);
	ck_assert_str_eq(bo_cap_name(0), "CAP_CHOWN");
	ck_assert_int_eq(bo_cap_from_name("CAP_NOPE"), -1);
	ck_assert_int_eq(bo_state_check_id("abc-1.2_x", NULL), 0);
	ck_assert_int_eq(bo_state_check_id("../x", NULL), -1);
	ck_assert_int_eq(bo_state_check_id("a/b", NULL), -1);
	ck_assert_int_eq(bo_state_check_id("", NULL), -1);
}
END_TEST

START_TEST(test_systemd_path)
{
	char *p = bo_cgroup_path_from_systemd("system.slice:libpod:abc");

	ck_assert_str_eq(p, "/system.slice/libpod-abc.scope");
	free(p);
	p = bo_cgroup_path_from_systemd("/plain/path");
	ck_assert_str_eq(p, "/plain/path");
	free(p);
}
END_TEST

/* Runs the subset of eBPF the device filter emits on one access. */
static int devfilter_run(const struct bpf_insn *p, int len, uint32_t type,
			 uint32_t major, uint32_t minor, uint32_t access)
{
	uint32_t ctx[3] = { (access << 16) | type, major, minor };
	uint64_t r[11] = { 0 };

	for (int pc = 0; pc >= 0 && pc < len; pc++) {
		const struct bpf_insn *i = &p[pc];
		uint64_t *d = &r[i->dst_reg];

		switch (i->code) {
		case BPF_LDX | BPF_W | BPF_MEM:
			ck_assert_int_eq(i->src_reg, 1);
			*d = ctx[i->off / 4];
			break;
		case BPF_ALU | BPF_AND | BPF_K: *d = (uint32_t)(*d & (uint32_t)i->imm); break;
		case BPF_ALU | BPF_RSH | BPF_K: *d = (uint32_t)*d >> i->imm; break;
		case BPF_ALU | BPF_MOV | BPF_X: *d = (uint32_t)r[i->src_reg]; break;
		case BPF_ALU64 | BPF_MOV | BPF_K: *d = (uint64_t)(int64_t)i->imm; break;
		case BPF_JMP | BPF_JNE | BPF_K: if (*d != (uint64_t)(int64_t)i->imm) pc += i->off; break;
		case BPF_JMP | BPF_JEQ | BPF_K: if (*d == (uint64_t)(int64_t)i->imm) pc += i->off; break;
		case BPF_JMP | BPF_EXIT: return (int)r[0];
		default: ck_abort_msg("unexpected instruction 0x%x at %d", i->code, pc);
		}
	}
	ck_abort_msg("the program runs off its end");
	return -1;
}

START_TEST(test_devfilter)
{
	static const struct bo_devrule rules[] = {
		{ 0, 'a', -1, -1, "rwm" },     /* deny everything */
		{ 1, 'c', 10, 200, "r" },      /* then read 10:200 */
		{ 1, 'b', 8, -1, "rw" },       /* any sd disk, no mknod */
		{ 0, 'b', 8, 0, "w" },         /* but never write sda */
	};
	static const struct {
		uint32_t type, major, minor, access;
		int want;
	} cases[] = {
		{ BPF_DEVCG_DEV_CHAR, 10, 200, BPF_DEVCG_ACC_READ, 1 },
		{ BPF_DEVCG_DEV_CHAR, 10, 200, BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE, 0 },
		{ BPF_DEVCG_DEV_BLOCK, 10, 200, BPF_DEVCG_ACC_READ, 0 },
		{ BPF_DEVCG_DEV_CHAR, 10, 237, BPF_DEVCG_ACC_READ, 0 },
		{ BPF_DEVCG_DEV_BLOCK, 8, 16, BPF_DEVCG_ACC_WRITE, 1 },
		{ BPF_DEVCG_DEV_BLOCK, 8, 16, BPF_DEVCG_ACC_MKNOD, 0 },
		{ BPF_DEVCG_DEV_BLOCK, 8, 0, BPF_DEVCG_ACC_READ, 1 },
		{ BPF_DEVCG_DEV_BLOCK, 8, 0, BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE, 0 },
		{ BPF_DEVCG_DEV_CHAR, 1, 3, BPF_DEVCG_ACC_WRITE, 1 },   /* null */
		{ BPF_DEVCG_DEV_CHAR, 136, 7, BPF_DEVCG_ACC_READ, 1 },  /* pts */
		{ BPF_DEVCG_DEV_CHAR, 1, 1, BPF_DEVCG_ACC_READ, 0 },    /* mem */
	};
	struct bpf_insn prog[8 + 8 * 16];
	struct bo_devrule bad = { 1, 'c', 1, 1, "rx" };
	struct cr_error *err = NULL;
	int len = bo_devfilter_build(rules, 4, prog, 8 + 8 * 16, NULL);

	ck_assert_int_gt(len, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(devfilter_run(prog, len, cases[i].type,
					    cases[i].major, cases[i].minor,
					    cases[i].access) == cases[i].want,
			      "case %zu: want %d", i, cases[i].want);
	/* no rule at all matches: deny */
	len = bo_devfilter_build(rules + 1, 1, prog, 8 + 8 * 16, NULL);
	ck_assert_int_eq(devfilter_run(prog, len, BPF_DEVCG_DEV_CHAR, 4, 1,
				       BPF_DEVCG_ACC_READ), 0);
	ck_assert_int_eq(bo_devfilter_build(&bad, 1, prog, 8 + 8 * 16, &err), -1);
	ck_assert_str_eq(cr_error_msg(err), "linux.resources.devices: access "
					    "'rx' is not made of r, w and m");
	cr_error_free(err);
	ck_assert_int_eq(bo_devfilter_build(rules, 4, prog, 20, NULL), -1);
}
END_TEST

/* linux.resources.hugepageLimits: parsed; a page size that could not be
 * a hugetlb file name, or a missing limit, is refused by name. */
START_TEST(test_hugepages)
{
	static const char *const bad_docs[][2] = {
		{ "{\"hugepageLimits\": [{\"pageSize\": \"2MB/../x\", "
		  "\"limit\": 1}]}",
		  "hugepageLimits[0].pageSize" },
		{ "{\"hugepageLimits\": [{\"pageSize\": \"MB\", \"limit\": 1}]}",
		  "hugepageLimits[0].pageSize" },
		{ "{\"hugepageLimits\": [{\"pageSize\": \"2MB\"}]}",
		  "hugepageLimits[0].limit" },
		{ "{\"hugepageLimits\": [{\"pageSize\": \"2MB\", "
		  "\"limit\": -1}]}",
		  "hugepageLimits[0].limit" },
	};
	const char *doc = "{\"hugepageLimits\": [{\"pageSize\": \"2MB\", "
			  "\"limit\": 4194304}, {\"pageSize\": \"1GB\", "
			  "\"limit\": 0}]}";
	struct cr_error *err = NULL;
	struct bo_resources r;
	json_object *o = json_tokener_parse(doc);

	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(bo_spec_parse_resources(o, &r, &err), 0);
	ck_assert_uint_eq(r.n_hugepages, 2);
	ck_assert_str_eq(r.hugepages[0].page_size, "2MB");
	ck_assert_uint_eq(r.hugepages[0].limit, 4194304);
	ck_assert_str_eq(r.hugepages[1].page_size, "1GB");
	bo_resources_clear(&r);
	json_object_put(o);
	for (size_t i = 0; i < sizeof(bad_docs) / sizeof(bad_docs[0]); i++) {
		o = json_tokener_parse(bad_docs[i][0]);
		ck_assert_ptr_nonnull(o);
		ck_assert_int_eq(bo_spec_parse_resources(o, &r, &err), -1);
		ck_assert_msg(strstr(cr_error_msg(err), bad_docs[i][1]) != NULL,
			      "'%s' does not name %s", cr_error_msg(err),
			      bad_docs[i][1]);
		cr_error_free(err);
		err = NULL;
		bo_resources_clear(&r);
		json_object_put(o);
	}
}
END_TEST

/* The fields that were refused or ignored before: they land in the
 * records, and bad values are refused naming the field. */
START_TEST(test_fields)
{
	static const char proc[] =
		"{\"args\": [\"sh\"], \"cwd\": \"/\","
		" \"ioPriority\": {\"class\": \"IOPRIO_CLASS_BE\", \"priority\": 6},"
		" \"scheduler\": {\"policy\": \"SCHED_DEADLINE\", \"nice\": -3,"
		"   \"runtime\": 1, \"deadline\": 2, \"period\": 3,"
		"   \"flags\": [\"SCHED_FLAG_RESET_ON_FORK\","
		"     \"SCHED_FLAG_UTIL_CLAMP_MAX\"]},"
		" \"execCPUAffinity\": {\"initial\": \"7\", \"final\": \"\"}}";
	static const char res[] =
		"{\"memory\": {\"swappiness\": 0, \"disableOOMKiller\": true},"
		" \"cpu\": {\"realtimeRuntime\": -1, \"realtimePeriod\": 1000},"
		" \"blockIO\": {\"weight\": 10, \"leafWeight\": 1000,"
		"   \"weightDevice\": [{\"major\": 8, \"minor\": 0, \"weight\": 500,"
		"     \"leafWeight\": 300}],"
		"   \"throttleWriteIOPSDevice\": [{\"major\": 8, \"minor\": 16,"
		"     \"rate\": 300}]},"
		" \"network\": {\"classID\": 1048577, \"priorities\":"
		"   [{\"name\": \"eth0\", \"priority\": 500}]},"
		" \"rdma\": {\"mlx5_1\": {\"hcaHandles\": 3}}}";
	static const char *const bad_procs[][2] = {
		{ "\"ioPriority\": {\"class\": \"IOPRIO_CLASS_NONE\", "
		  "\"priority\": 0}",
		  "process.ioPriority.class" },
		{ "\"ioPriority\": {\"class\": \"IOPRIO_CLASS_RT\"}",
		  "process.ioPriority.priority: missing" },
		{ "\"ioPriority\": {\"class\": \"IOPRIO_CLASS_RT\", "
		  "\"priority\": 8}",
		  "process.ioPriority.priority" },
		{ "\"scheduler\": {\"nice\": 1}", "process.scheduler.policy" },
		{ "\"scheduler\": {\"policy\": \"SCHED_OTHER\", \"nice\": 20}",
		  "process.scheduler.nice" },
		{ "\"scheduler\": {\"policy\": \"SCHED_OTHER\", "
		  "\"flags\": [\"SCHED_FLAG_FAST\"]}",
		  "process.scheduler.flags[0]" },
		{ "\"execCPUAffinity\": {\"initial\": \"0-\"}",
		  "process.execCPUAffinity.initial" },
		{ "\"execCPUAffinity\": {\"final\": \"3-1\"}",
		  "process.execCPUAffinity.final" },
		{ "\"execCPUAffinity\": {\"final\": \"99999\"}",
		  "process.execCPUAffinity.final" },
	};
	static const char *const bad_res[][2] = {
		{ "{\"memory\": {\"swappiness\": 101}}",
		  "linux.resources.memory.swappiness" },
		{ "{\"memory\": {\"disableOOMKiller\": 1}}",
		  "linux.resources.memory.disableOOMKiller" },
		{ "{\"cpu\": {\"realtimeRuntime\": -2}}",
		  "linux.resources.cpu.realtimeRuntime" },
		{ "{\"blockIO\": {\"weight\": 9}}",
		  "linux.resources.blockIO.weight" },
		{ "{\"blockIO\": {\"leafWeight\": 1001}}",
		  "linux.resources.blockIO.leafWeight" },
		{ "{\"blockIO\": {\"weightDevice\": [{\"minor\": 0}]}}",
		  "linux.resources.blockIO.weightDevice[0]" },
		{ "{\"blockIO\": {\"throttleReadBpsDevice\": [{\"major\": 8, "
		  "\"minor\": 0}]}}",
		  "linux.resources.blockIO.throttleReadBpsDevice[0].rate" },
		{ "{\"network\": {\"classID\": -1}}",
		  "linux.resources.network.classID" },
		{ "{\"network\": {\"priorities\": [{\"name\": \"lo 5\\neth0\", "
		  "\"priority\": 1}]}}",
		  "linux.resources.network.priorities[0]" },
		{ "{\"rdma\": {\"mlx5_0\": 3}}", "linux.resources.rdma.mlx5_0" },
		{ "{\"rdma\": {\"a b\": {\"hcaHandles\": 1}}}",
		  "linux.resources.rdma.a b" },
	};
	struct cr_error *err = NULL;
	struct bo_process p;
	struct bo_resources r;
	json_object *o = json_tokener_parse(proc);
	unsigned char set[16];

	ck_assert_int_eq(bo_spec_parse_process(o, &p, &err), 0);
	ck_assert_int_eq(p.ioprio, 2 << 13 | 6);
	ck_assert_int_eq(p.has_sched, 1);
	ck_assert_uint_eq(p.sched.policy, 6);
	ck_assert_int_eq(p.sched.nice, -3);
	ck_assert_uint_eq(p.sched.flags, 0x01 | 0x40);
	ck_assert_uint_eq(p.sched.period, 3);
	ck_assert_str_eq(p.cpu_initial, "7");
	ck_assert_ptr_null(p.cpu_final); /* empty: not given */
	bo_process_clear(&p);
	json_object_put(o);
	for (size_t i = 0; i < sizeof(bad_procs) / sizeof(bad_procs[0]); i++) {
		char doc[512];

		snprintf(doc, sizeof(doc), "{\"args\": [\"sh\"], \"cwd\": \"/\", %s}",
			 bad_procs[i][0]);
		o = json_tokener_parse(doc);
		ck_assert_ptr_nonnull(o);
		ck_assert_int_eq(bo_spec_parse_process(o, &p, &err), -1);
		ck_assert_msg(strstr(cr_error_msg(err), bad_procs[i][1]) != NULL,
			      "'%s' does not name %s", cr_error_msg(err),
			      bad_procs[i][1]);
		cr_error_free(err);
		err = NULL;
		bo_process_clear(&p);
		json_object_put(o);
	}
	o = json_tokener_parse(res);
	memset(&r, 0, sizeof(r));
	ck_assert_msg(bo_spec_parse_resources(o, &r, &err) == 0, "%s",
		      cr_error_msg(err));
	ck_assert_int_eq(r.has_swappiness, 1);
	ck_assert_uint_eq(r.swappiness, 0);
	ck_assert_int_eq(r.disable_oom_killer, 1);
	ck_assert_int_eq(r.has_rt_runtime, 1);
	ck_assert_int_eq(r.rt_runtime, -1);
	ck_assert_uint_eq(r.rt_period, 1000);
	ck_assert_uint_eq(r.blkio_weight, 10);
	ck_assert_uint_eq(r.blkio_leaf_weight, 1000);
	ck_assert_uint_eq(r.n_weight_devices, 1);
	ck_assert_uint_eq(r.weight_devices[0].leaf_weight, 300);
	ck_assert_uint_eq(r.n_throttle[BO_THROTTLE_WRITE_IOPS], 1);
	ck_assert_int_eq(r.throttle[BO_THROTTLE_WRITE_IOPS][0].minor, 16);
	ck_assert_uint_eq(r.throttle[BO_THROTTLE_WRITE_IOPS][0].rate, 300);
	ck_assert_uint_eq(r.n_throttle[BO_THROTTLE_READ_BPS], 0);
	ck_assert_int_eq(r.has_classid, 1);
	ck_assert_uint_eq(r.net_classid, 1048577);
	ck_assert_str_eq(r.net_priorities[0].key, "eth0");
	ck_assert_str_eq(r.net_priorities[0].value, "500");
	ck_assert_uint_eq(r.n_rdma, 1);
	ck_assert_str_eq(r.rdma[0].device, "mlx5_1");
	ck_assert_int_eq(r.rdma[0].hca_handles, 3);
	ck_assert_int_eq(r.rdma[0].hca_objects, -1);
	bo_resources_clear(&r);
	json_object_put(o);
	/* swappiness -1 and its uint64 spelling: unset */
	o = json_tokener_parse("{\"memory\": {\"swappiness\": "
			       "18446744073709551615}}");
	ck_assert_int_eq(bo_spec_parse_resources(o, &r, &err), 0);
	ck_assert_int_eq(r.has_swappiness, 0);
	bo_resources_clear(&r);
	json_object_put(o);
	for (size_t i = 0; i < sizeof(bad_res) / sizeof(bad_res[0]); i++) {
		o = json_tokener_parse(bad_res[i][0]);
		ck_assert_ptr_nonnull(o);
		ck_assert_int_eq(bo_spec_parse_resources(o, &r, &err), -1);
		ck_assert_msg(strstr(cr_error_msg(err), bad_res[i][1]) != NULL,
			      "'%s' does not name %s", cr_error_msg(err),
			      bad_res[i][1]);
		cr_error_free(err);
		err = NULL;
		bo_resources_clear(&r);
		json_object_put(o);
	}
	{
		static const char doc[] =
			"{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"r\"},"
			" \"linux\": {\"namespaces\": [{\"type\": \"time\"}],"
			"  \"timeOffsets\": {\"monotonic\": {\"secs\": -7,"
			"   \"nanosecs\": 9}, \"boottime\": {\"secs\": 86400}},"
			"  \"personality\": {\"domain\": \"LINUX32\"}}}";
		struct bo_spec *sp = bo_spec_parse(doc, strlen(doc), &err);

		ck_assert_msg(sp != NULL, "%s", cr_error_msg(err));
		ck_assert_ptr_nonnull(bo_spec_namespace(sp, 0x80));
		ck_assert_int_eq(sp->has_time_offsets, 1);
		ck_assert_int_eq(sp->monotonic_secs, -7);
		ck_assert_uint_eq(sp->monotonic_nsecs, 9);
		ck_assert_int_eq(sp->boottime_secs, 86400);
		ck_assert_int_eq(sp->personality, 8);
		bo_spec_free(sp);
	}
	ck_assert_int_eq(bo_cpulist_parse("0-3,7", set, sizeof(set)), 0);
	ck_assert_uint_eq(set[0], 0x8f);
	ck_assert_int_eq(bo_cpulist_parse("127", set, sizeof(set)), 0);
	ck_assert_uint_eq(set[15], 0x80);
	ck_assert_int_eq(bo_cpulist_parse("128", set, sizeof(set)), -1);
	ck_assert_int_eq(bo_cpulist_parse("1,", set, sizeof(set)), -1);
	ck_assert_int_eq(bo_cpulist_parse("1,,2", set, sizeof(set)), -1);
	ck_assert_int_eq(bo_cpulist_parse(" 1", set, sizeof(set)), -1);
	ck_assert_int_eq(bo_cpulist_parse("", set, sizeof(set)), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("bo_spec");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_good);
	tcase_add_loop_test(tc, test_bad, 0,
			    (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	tcase_add_test(tc, test_not_json);
	tcase_add_test(tc, test_unknown_cap);
	tcase_add_test(tc, test_keep_groups);
	tcase_add_test(tc, test_caps_and_ids);
	tcase_add_test(tc, test_systemd_path);
	tcase_add_test(tc, test_devfilter);
	tcase_add_test(tc, test_hugepages);
	tcase_add_test(tc, test_fields);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(suite());
}
