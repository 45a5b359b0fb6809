/*
 * carrier: the vendor and operator command line.  A table of subcommands,
 * each in its own file.
 */
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "commands.h"

static const char usage_text[] =
	"usage: carrier COMMAND [ARGS]\n"
	"\n"
	"Keys and identities:\n"
	"  keygen --type device|vendor|node|operator -o FILE\n"
	"                      write a key pair (FILE 0600, FILE.pub); print "
	"the identity\n"
	"  id FILE|FILE.pub    print the identity of a key\n"
	"\n"
	"Ring configuration (operators):\n"
	"  ring init --operator OP_KEY --node NODE.pub@HOST:PORT [--node ...] "
	"[--force] -o RING\n"
	"  ring init --operator A.key --operator B.key.pub ... --threshold K "
	"--node ... -o RING\n"
	"  ring add-node|remove-node --operator OP_KEY --ring RING "
	"NODE.pub@HOST:PORT [-o OUT]\n"
	"  ring set-operators --operator OP_KEY --ring RING --member KEY.pub "
	"... [--threshold K]\n"
	"  ring sign RING --operator OP_KEY [--ring CURRENT] [-o OUT]\n"
	"  ring status [--ring RING]\n"
	"\n"
	"Devices (vendors):\n"
	"  lookup DEVICE_ID [--json]     verified presence of a device\n"
	"  ping DEVICE_ID [-c N]         round-trip time and path\n"
	"  ping --batch FILE [--within DURATION]\n"
	"                      reach every device in FILE; times to reach\n"
	"  connect DEVICE_ID PORT [-L [ADDR:]LPORT] [-v] [--credential CRED]\n"
	"                      reach 127.0.0.1:PORT on the device; stdio "
	"without -L\n"
	"  shell DEVICE_ID [COMMAND...]  a pty on the device (allowed "
	"there: VENDOR_ID:shell)\n"
	"  sysinfo DEVICE_ID [--json]    a fresh, fuller view of the device "
	"(kernel, CPU,\n"
	"                      interfaces, NAT, path to the ring), end to "
	"end\n"
	"  cp FILE DEVICE_ID:PATH | cp DEVICE_ID:PATH FILE\n"
	"                      copy a file (sha256 checked, resumed when run "
	"again)\n"
	"  name DEVICE_ID NAME | name rm NAME | names\n"
	"                      the vendor's names for devices; every "
	"DEVICE_ID may be a NAME\n"
	"\n"
	"Fleet trust and releases (vendors, docs/fleet.md):\n"
	"  trust init --root ROOT_KEY [--root ...] [--root-threshold K]\n"
	"             --release KEY.pub [...] [--release-threshold K]\n"
	"             --rollout KEY.pub [...] [--rollout-threshold K]\n"
	"             [--expires DURATION] [--version N] [--previous OLD_TRUST] "
	"-o TRUST\n"
	"                      the vendor's trust root: root, release and "
	"rollout keys\n"
	"  trust sign TRUST --key ROOT_KEY [--previous OLD_TRUST]\n"
	"                      one more root signature (thresholds, rotation)\n"
	"  trust show TRUST [--json]\n"
	"  release APP:VERSION --image ORIGIN_URL NAME --counter N "
	"--arch ARCH[,ARCH...]\n"
	"          --key RELEASE_KEY -o RELEASE [--trust TRUST] [--port P]... "
	"[--health PROBE]\n"
	"          [--env K=V]... [-- ARGS...]\n"
	"                      a release of an Archon image, signed by a "
	"release key\n"
	"  release sign RELEASE --key RELEASE_KEY\n"
	"                      one more release signature (k of n)\n"
	"  release show RELEASE [--trust TRUST] [--json]\n"
	"  fleet credential DEVICE_ID --trust TRUST --key ROLLOUT_KEY "
	"[--expires D] -o CRED\n"
	"                      let a device reach its fleet peers' archon "
	"serve ports\n"
	"\n"
	"Fleet rollouts (vendors, docs/fleet.md \"Rollouts\"):\n"
	"  deploy RELEASE --trust TRUST --key ROLLOUT_KEY --to "
	"DEVICE_ID[,...]|tag:K=V\n"
	"         [--waves 1,10,50,100] [--max-failures 5%] "
	"[--health-window 60s] [--detach]\n"
	"                      deploy in waves that halt themselves past "
	"the threshold\n"
	"  rollback APP --trust TRUST --key ROLLOUT_KEY [--to VERSION] "
	"[--to-devices ...]\n"
	"                      back to the previous (retained) version\n"
	"  status [APP] [--json] [--follow]\n"
	"                      per device: app, version, state, online, last "
	"seen\n"
	"  watch [APP] [--json] online/offline and deployment events, a line "
	"each\n"
	"  config set DEVICE_ID[,...]|tag:K=V APP KEY=VALUE|KEY=@FILE... "
	"--key ROLLOUT_KEY\n"
	"         [--version N] [--expires D]\n"
	"                      sign an app's config and store it on the "
	"ring\n"
	"  exporter --listen HOST:PORT\n"
	"                      the fleet as Prometheus metrics on /metrics\n"
	"\n"
	"Vendor commands read --key FILE (a vendor key) and --ring FILE, "
	"defaulting to\n$CARRIER_KEY and $CARRIER_RING, then "
	"~/.config/carrier/key and\n~/.config/carrier/ring.  Each ring file's "
	"operator is pinned on first use in\n~/.config/carrier/rings/ (keyed "
	"by the ring file's path, as ssh pins per host;\nor give --operator "
	"OP_ID, or opset_HEX for a ring of several operators).\nA device is "
	"offline once its agent stopped or missed its keepalives.  Every\n"
	"command takes --help.\n"
	"\n"
	"Exit status: 0 success, 1 error, 2 usage, 3 device offline or "
	"unreachable,\n4 vendor not authorized by the device, 5 port not "
	"allowed by the device,\n6 connection lost.\n";

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "keygen", cl_cmd_keygen }, { "id", cl_cmd_id },
	{ "ring", cl_cmd_ring },     { "lookup", cl_cmd_lookup },
	{ "ping", cl_cmd_ping },     { "connect", cl_cmd_connect },
	{ "trust", cl_cmd_trust },   { "release", cl_cmd_release },
	{ "fleet", cl_cmd_fleet },
	{ "deploy", cl_cmd_deploy }, { "rollback", cl_cmd_rollback },
	{ "status", cl_cmd_status }, { "watch", cl_cmd_watch },
	{ "config", cl_cmd_config },
	{ "exporter", cl_cmd_exporter },
	{ "shell", cl_cmd_shell },   { "name", cl_cmd_name },
	{ "names", cl_cmd_names },   { "cp", cl_cmd_cp },
	{ "sysinfo", cl_cmd_sysinfo },
};

int main(int argc, char **argv)
{
	if (argc < 2)
		return cl_fail(2, "no command given (keygen, id, ring, lookup, "
				  "ping, connect, trust, release)");
	if (cl_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		puts("carrier " KORHAL_VERSION);
		return 0;
	}
	/* Vendor and operator secret keys live in this process: never in a
	 * core file.  RLIMIT_CORE alone is ignored when the kernel pipes
	 * cores to a handler (core(5)), so the process is made undumpable
	 * too. */
	if (setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 }) < 0 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return cl_fail(1, "cannot disable core dumps: %s",
			       strerror(errno));
	/* The subcommands report bad options themselves (cl_bad_option). */
	opterr = 0;
	if (sodium_init() < 0)
		return cl_fail(1, "libsodium failed to initialize");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	return cl_fail(2, "unknown command '%s'", argv[1]);
}
