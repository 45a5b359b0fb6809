#!/usr/bin/env bash
# The embedded packages (deploy/openwrt, deploy/buildroot, deploy/yocto),
# validated offline: their build systems download toolchains, so what can
# be checked here is (docs/packaging.md):
#  - shellcheck on every init script and on the OpenWrt test.sh;
#  - the SysV scripts (Buildroot S50carrier-agent, Yocto's) for real: start,
#    status, reload, stop of the built carrier-agent against a one-node ring,
#    under busybox's ash with busybox's start-stop-daemon, paths rewritten
#    into $T;
#  - the procd script: procd cannot run here, so it runs under busybox ash
#    with a stub /lib/functions/procd.sh (and a small UCI reader) written in
#    $T, which record what it asks procd for; the configuration it writes
#    from the UCI defaults passes `carrier-agent --check`;
#  - systemd-analyze verify on the units, failing on any message;
#  - kconfiglib (python3-kconfiglib) on both Config.in files, failing on any
#    warning;
#  - the hashes and license checksums recomputed from the tree
#    (deploy/embedded-hashes.sh check);
#  - the variables each format requires;
#  - the CMake side: a configure with the packages' own options (no unused
#    variable, no tests), a DESTDIR install with no host path in it.
# KORHAL_LONG=1 adds a musl build (musl-gcc) of what builds with musl.
# shellcheck disable=SC2016,SC2015 # literal $DAEMON in patterns; A && B || fail
. "$(dirname "$0")/lib.sh"

SRC=${KORHAL_SRC:?}
D=$SRC/deploy
BR=$D/buildroot/package/korhal
OW=$D/openwrt/korhal
YO=$D/yocto/meta-korhal
YR=$YO/recipes-connectivity/korhal
BUILD=$(cd "$(dirname "$CARRIER_AGENT")/.." && pwd)
command -v busybox >/dev/null || fail "busybox (busybox-static) is missing"
command -v shellcheck >/dev/null || fail "shellcheck is missing"
BUSYBOX=$(command -v busybox)

# --- 1. shellcheck --------------------------------------------------------
# The procd script names its dialect in a directive (dash for OpenWrt ash:
# ShellCheck 0.9 knows no busybox shell, see the research note).
for f in "$BR/S50carrier-agent" "$YR/files/carrier-agent.init" \
	"$OW/files/carrier-agent.init" "$OW/test.sh" "$D/embedded-hashes.sh"; do
	shellcheck "$f" >"$T/shellcheck.log" 2>&1 ||
		fail "shellcheck $f: $(cat "$T/shellcheck.log")"
done
ok "shellcheck: init scripts, OpenWrt test.sh, embedded-hashes.sh"

# OpenWrt's test.sh, as its CI runs it (PACKAGE VERSION-RELEASE), against
# the built programs under busybox ash
mkdir -p "$T/owbin"
ln -s "$CARRIER_AGENT" "$T/owbin/carrier-agent"
ln -s "${ARCHON:?}" "$T/owbin/archon"
for a in grep; do ln -s "$BUSYBOX" "$T/owbin/$a"; done
V=$(sed -n 's/^PKG_VERSION:=//p' "$OW/Makefile")
PR=$(sed -n 's/^PKG_RELEASE:=//p' "$OW/Makefile")
env -i PATH="$T/owbin" "$BUSYBOX" ash "$OW/test.sh" korhal "$V-r$PR" >"$T/owtest.log" 2>&1 ||
	fail "OpenWrt test.sh korhal $V-r$PR: $(cat "$T/owtest.log")"
env -i PATH="$T/owbin" "$BUSYBOX" ash "$OW/test.sh" korhal 9.9.9 >/dev/null 2>&1 &&
	fail "OpenWrt test.sh passes a wrong version"
ok "OpenWrt test.sh: passes for korhal $V-r$PR, fails for another version"

# --- 2. Buildroot's rules for an S-script (utils/check-package) -------------
s=$BR/S50carrier-agent
grep -qx 'DAEMON="carrier-agent"' "$s" || fail "$s: DAEMON=\"carrier-agent\" (no path)"
grep -qx 'PIDFILE="/var/run/$DAEMON.pid"' "$s" || fail "$s: PIDFILE=\"/var/run/\$DAEMON.pid\""
[[ $(basename "$s") =~ ^S[0-9][0-9]carrier-agent$ ]] || fail "$s: not S<NN>\$DAEMON"
if grep -nE '^ +' "$s" "$BR/Config.in" "$BR/korhal.mk"; then
	fail "Buildroot files indent with tabs"
fi
for f in "$BR"/*; do
	if git -C "$SRC" ls-files -s "$f" 2>/dev/null | grep -q '^100755'; then
		fail "$f is executable in git (check-package wants it not)"
	fi
done
grep -q -- '-x "/usr/bin/$DAEMON"' "$s" || fail "$s: start-stop-daemon without -x"
ok "Buildroot S-script conventions"

# --- 3. the SysV scripts for real, under busybox ------------------------------
make_ring 1
start_node 0
ID=$("$CARRIER" keygen --type device -o "$T/dev.key")
"$CARRIER" keygen --type vendor -o "$T/ven.key" >/dev/null
export CARRIER_KEY=$T/ven.key
mkdir -p "$T/bb"
for a in sh start-stop-daemon sleep rm cat mkdir; do ln -s "$BUSYBOX" "$T/bb/$a"; done

seq_of() { # seq_of: the seq of the device's presence, empty when offline
	"$CARRIER" lookup "$ID" --json 2>/dev/null |
		sed -n 's/.*"online":true.*"seq":\([0-9]*\).*/\1/p'
}

# republished: a presence newer than SEQ1; offline: the nodes say so.
republished() { local s; s=$(seq_of); [ -n "$s" ] && [ "$s" -gt "$SEQ1" ]; }
offline() { ! online "$ID"; }
# alive PID: runs and is not a zombie (the daemon's parent is whatever
# reaps orphans here, which may take its time)
alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat"; }
# The init script's stop waits until start-stop-daemon no longer matches the
# process, which it stops doing once the exiting process has let go of its
# executable, a moment before it is gone (longer under ASan's exit checks).
gone() { ! alive "$1"; }

# sysv NAME SCRIPT: start, status, reload, stop of the agent through SCRIPT.
sysv() {
	local name=$1 script=$2 R=$T/$1 pid pid2 seq1 out
	mkdir -p "$R/usr/bin" "$R/var/run" "$R/etc/default" "$R/etc/carrier"
	ln -s "$CARRIER_AGENT" "$R/usr/bin/carrier-agent"
	sed -e "s#/usr/bin/#$R/usr/bin/#g" -e "s#/var/run/#$R/var/run/#g" \
		-e "s#/etc/default/#$R/etc/default/#g" "$script" >"$R/init"
	grep -q '"/usr/bin/\|"/var/run/\|"/etc/default/' "$R/init" &&
		fail "$name: a path the test did not rewrite"
	# no --syslog: the test's agent must not write to the host's syslog
	# (start-stop-daemon -b sends its stderr to /dev/null)
	echo "CARRIER_AGENT_ARGS=\"--config $R/etc/carrier/agent.conf\"" \
		>"$R/etc/default/carrier-agent"
	printf 'key = %s\nring = %s\ndata = %s\ntag = site=a\n' \
		"$T/dev.key" "$T/ring" "$R/state" >"$R/etc/carrier/agent.conf"
	initd() { env -i PATH="$T/bb" HOME="$HOME" "$BUSYBOX" ash "$R/init" "$@"; }

	initd status >"$R/status0.log" && fail "$name: status 0 before start"
	initd start >"$R/start.log" 2>&1 || fail "$name start: $(cat "$R/start.log")"
	# whatever the script did, the agent it started is cleaned up
	for pid in $(pgrep -f "$R/etc/carrier/agent.conf"); do PIDS+=("$pid"); done
	grep -qx 'Starting carrier-agent: OK' "$R/start.log" || fail "$name start: $(cat "$R/start.log")"
	[ -s "$R/var/run/carrier-agent.pid" ] || fail "$name start: no pidfile"
	pid=$(cat "$R/var/run/carrier-agent.pid")
	[ "$(readlink "/proc/$pid/exe")" = "$(readlink -f "$CARRIER_AGENT")" ] ||
		fail "$name: the pidfile's $pid is not carrier-agent"
	wait_until 20 online "$ID" || fail "$name: the agent did not attach"
	out=$(initd status) || fail "$name status: $out"
	[ "$out" = "carrier-agent is running" ] || fail "$name status: $out"
	# a second start finds it running and starts nothing
	initd start >/dev/null 2>&1 || true
	[ "$(pgrep -c -f "$R/etc/carrier/agent.conf")" = 1 ] || fail "$name: two agents"

	# reload: SIGHUP re-reads the file; a new tag republishes the presence
	# (a new seq) from the same process
	wait_until 10 test -n "$(seq_of)" || fail "$name: no presence"
	seq1=$(seq_of)
	sed -i 's/site=a/site=b/' "$R/etc/carrier/agent.conf"
	sleep 1.1 # seq counts seconds: the republished one is newer
	initd reload >"$R/reload.log" 2>&1 || fail "$name reload: $(cat "$R/reload.log")"
	SEQ1=$seq1
	wait_until 10 republished || fail "$name reload: the presence was not republished"
	pid2=$(cat "$R/var/run/carrier-agent.pid")
	[ "$pid2" = "$pid" ] && kill -0 "$pid" || fail "$name reload: the agent restarted or died"

	initd stop >"$R/stop.log" 2>&1 || fail "$name stop: $(cat "$R/stop.log")"
	wait_until 10 gone "$pid" || fail "$name stop: $pid still runs"
	[ -e "$R/var/run/carrier-agent.pid" ] && fail "$name stop: the pidfile stays"
	# SIGTERM: it told its node the device goes offline
	wait_until 5 offline || fail "$name stop: the device still shows online"
	initd status >/dev/null && fail "$name: status 0 after stop"

	# a broken configuration fails the start, with no daemon left
	echo "keepalive = soon" >>"$R/etc/carrier/agent.conf"
	initd start >"$R/bad.log" 2>&1 && fail "$name: started with a bad configuration"
	grep -q FAIL "$R/bad.log" || fail "$name: a bad start says $(cat "$R/bad.log")"
	[ -e "$R/var/run/carrier-agent.pid" ] && fail "$name: a bad start left a pidfile"
	ok "$name: busybox ash + start-stop-daemon: start, status, reload (SIGHUP), stop, bad config"
}
sysv buildroot "$BR/S50carrier-agent"
sysv yocto "$YR/files/carrier-agent.init"

# --- 4. the procd script, with a stub procd ----------------------------------
P=$T/openwrt
mkdir -p "$P/lib/functions" "$P/etc/config" "$P/usr/bin" "$P/var/etc"
cp "$OW/files/carrier.config" "$P/etc/config/carrier"
ln -s "$CARRIER_AGENT" "$P/usr/bin/carrier-agent"
# The stub of OpenWrt's /lib/functions.sh (UCI) and procd.sh: only what the
# script uses, each call recorded in $P/procd.log.  UCI: named sections,
# 'option' and 'list' lines, quotes stripped.
cat >"$P/lib/functions/procd.sh" <<'STUB'
uci_flat() {
	awk '
	/^[ \t]*#/ || NF == 0 { next }
	{ v = $0; sub(/^[ \t]*[a-z]+[ \t]+[^ \t]+[ \t]*/, "", v); gsub(/^'\''|'\''$/, "", v) }
	$1 == "config" { s = $3; gsub(/'\''/, "", s); next }
	$1 == "option" || $1 == "list" { print s "." $2 "=" v }
	' "$UCI_DIR/$1"
}
config_load() { uci_flat "$1" >"$STUB_DIR/uci.flat"; echo "config_load $1" >>"$STUB_DIR/procd.log"; }
config_get() {
	_v=$(sed -n "s/^$2\.$3=//p" "$STUB_DIR/uci.flat" | head -n 1)
	eval "$1=\${_v:-\$4}"
}
config_get_bool() {
	config_get "$@"
	eval "_v=\$$1"
	case "$_v" in 1|on|true|yes|enabled) _v=1 ;; *) _v=0 ;; esac
	eval "$1=\$_v"
}
config_list_foreach() {
	_s=$1 _o=$2 _f=$3
	shift 3
	sed -n "s/^$_s\.$_o=//p" "$STUB_DIR/uci.flat" | while IFS= read -r _v; do
		"$_f" "$_v" "$@"
	done
}
procd_open_instance() { echo "open_instance $*" >>"$STUB_DIR/procd.log"; }
procd_set_param() { echo "set_param $*" >>"$STUB_DIR/procd.log"; }
procd_append_param() { echo "append_param $*" >>"$STUB_DIR/procd.log"; }
procd_close_instance() { echo "close_instance" >>"$STUB_DIR/procd.log"; }
procd_add_reload_trigger() { echo "reload_trigger $*" >>"$STUB_DIR/procd.log"; }
procd_send_signal() { echo "send_signal $*" >>"$STUB_DIR/procd.log"; }
logger() { cat >>"$STUB_DIR/logger.log"; }
stop() { echo "stop" >>"$STUB_DIR/procd.log"; }
STUB
# rc.common, as far as a USE_PROCD script needs: source it, run the action.
cat >"$P/rc.common" <<'RC'
. "$STUB_DIR/lib/functions/procd.sh"
. "$1"
[ "$USE_PROCD" = 1 ] && [ -n "$START" ] && [ -n "$STOP" ] || { echo "no USE_PROCD/START/STOP"; exit 1; }
case "$2" in
start) start_service ;;
reload) reload_service ;;
triggers) service_triggers ;;
esac
RC
sed -e "s#/usr/bin/#$P/usr/bin/#g" -e "s#/var/etc/#$P/var/etc/#g" \
	"$OW/files/carrier-agent.init" >"$P/init"
procd() { env -i PATH="$T/bb" STUB_DIR="$P" UCI_DIR="$P/etc/config" \
	"$BUSYBOX" ash "$P/rc.common" "$P/init" "$1" >>"$P/run.log" 2>&1; }
"$BUSYBOX" ash -n "$OW/files/carrier-agent.init" || fail "procd script: ash -n"
mkdir -p "$P/home"
# disabled by default: nothing started
procd start || fail "procd start (disabled): $(cat "$P/run.log")"
grep -q open_instance "$P/procd.log" && fail "procd: started while enabled is 0"
# enabled, the test's key and ring, two allow entries and a tag
sed -i -e "s#option enabled '0'#option enabled '1'#" \
	-e "s#'/etc/carrier/device.key'#'$T/dev.key'#" -e "s#'/etc/carrier/ring'#'$T/ring'#" \
	-e "s#'/srv/carrier-agent'#'$P/state'#" "$P/etc/config/carrier"
VEN=$("$CARRIER" id "$T/ven.key")
printf "\tlist allow '%s:22'\n\tlist tag 'site=lab'\n" "$VEN" >>"$P/etc/config/carrier"
: >"$P/procd.log"
procd start || fail "procd start: $(cat "$P/run.log")"
C=$P/var/etc/carrier-agent.conf
expect_log() { grep -qxF "$1" "$P/procd.log" || fail "procd: no '$1' in: $(cat "$P/procd.log")"; }
expect_log "open_instance agent"
expect_log "set_param command $P/usr/bin/carrier-agent --config $C --syslog"
grep -qx 'set_param respawn [0-9]* [0-9]* [0-9]*' "$P/procd.log" || fail "procd: no respawn"
expect_log "close_instance"
[ "$(stat -c %a "$C")" = 600 ] || fail "procd: $C is not 0600"
grep -qx "allow = $VEN:22" "$C" && grep -qx "tag = site=lab" "$C" &&
	grep -qx "keepalive = 15s" "$C" && grep -qx "log-level = info" "$C" ||
	fail "procd: the configuration from UCI: $(cat "$C")"
"$CARRIER_AGENT" --config "$C" --check >"$P/check.log" 2>&1 ||
	fail "procd: the generated configuration fails --check: $(cat "$P/check.log")"
procd triggers || fail "procd triggers"
expect_log "reload_trigger carrier"
# reload: the file rewritten, then SIGHUP to the instance (no restart)
sed -i "s#option keepalive '15s'#option keepalive '20s'#" "$P/etc/config/carrier"
procd reload || fail "procd reload: $(cat "$P/run.log")"
expect_log "send_signal carrier-agent agent HUP"
grep -qx "keepalive = 20s" "$C" || fail "procd reload: not rewritten: $(cat "$C")"
# a bad key is logged, not respawned
sed -i "s#'$T/dev.key'#'$T/none.key'#" "$P/etc/config/carrier"
: >"$P/procd.log"
procd start && fail "procd: started with a missing key"
grep -q open_instance "$P/procd.log" && fail "procd: an instance with a missing key"
grep -q "none.key" "$P/logger.log" || fail "procd: the missing key was not logged"
ok "procd script (stub procd.sh): UCI -> configuration, command, respawn, reload by SIGHUP"

# --- 5. systemd units -------------------------------------------------------
# systemd-analyze verify exits 0 on an ignored bad line: any output fails.
# The binary must exist (a link in $T) and the man page named in
# Documentation= is looked up in the tree's docs/man.
if command -v systemd-analyze >/dev/null; then
	U=$T/units
	mkdir -p "$U/bin" "$T/man/man8"
	ln -s "$CARRIER_AGENT" "$U/bin/carrier-agent"
	ln -s "$SRC/docs/man/carrier-agent.8" "$T/man/man8/carrier-agent.8"
	for unit in "$BR/carrier-agent.service" "$YR/files/carrier-agent.service"; do
		mkdir -p "$U/u"
		sed "s#/usr/bin/#$U/bin/#g" "$unit" >"$U/u/carrier-agent.service"
		MANPATH=$T/man systemd-analyze verify "$U/u/carrier-agent.service" >"$U/verify.log" 2>&1 ||
			fail "systemd-analyze verify $unit: $(cat "$U/verify.log")"
		[ -s "$U/verify.log" ] && fail "systemd-analyze verify $unit: $(cat "$U/verify.log")"
	done
	ok "systemd-analyze verify: the Buildroot and Yocto units, no message"
else
	fail "systemd-analyze is missing (Debian: systemd)"
fi

# --- 6. Config.in with kconfiglib -------------------------------------------
PY=""
for p in python3 /usr/bin/python3; do
	if "$p" -c 'import kconfiglib' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || fail "kconfiglib is missing (Debian: python3-kconfiglib)"
"$PY" - "$D" "$T/kconfig" <<'PY' || fail "Config.in (kconfiglib)"
import os, re, sys, kconfiglib
deploy, tmp = sys.argv[1], sys.argv[2]
os.makedirs(tmp, exist_ok=True)

def parse(top):
    k = kconfiglib.Kconfig(top, warn_to_stderr=False)
    return k

def check(name, entry, external_prefix, stub_type, pkg_sym):
    # First pass: which symbols come from the build system (not defined here).
    k = parse(entry)
    # (MODULES is kconfiglib's own)
    undefined = sorted(n for n, s in k.syms.items() if not s.nodes and n != "MODULES")
    foreign = [s for s in undefined if not re.match(external_prefix, s)]
    if foreign:
        sys.exit(f"{name}: symbols neither defined nor from the build system: {foreign}")
    # Second pass: those stubbed (as the build system defines them), then
    # no warning at all.
    stub = os.path.join(tmp, name + ".stubs")
    with open(stub, "w") as f:
        for s in undefined:
            f.write(f"config {s}\n\t{stub_type.get(s, 'bool')}\n\tdefault y\n\n")
    top = os.path.join(tmp, name + ".top")
    with open(top, "w") as f:
        f.write(f'mainmenu "{name}"\nsource "{stub}"\nsource "{entry}"\n')
    k = parse(top)
    if k.warnings:
        sys.exit(f"{name}: " + "\n".join(k.warnings))
    return k

# Buildroot, through the BR2_EXTERNAL tree's Config.in.
os.environ["BR2_EXTERNAL_KORHAL_PATH"] = os.path.join(deploy, "buildroot")
k = check("buildroot", os.path.join(deploy, "buildroot", "Config.in"), r"BR2_", {}, "BR2_PACKAGE_KORHAL")
s = k.syms["BR2_PACKAGE_KORHAL"]
assert s.type == kconfiglib.BOOL and s.nodes[0].help, "BR2_PACKAGE_KORHAL: bool with help"
s.set_value(2)
for dep in ("BR2_PACKAGE_LIBSODIUM", "BR2_PACKAGE_LIBEVENT", "BR2_PACKAGE_LMDB"):
    # a select makes it y even when the stub's default were off
    assert s in [x for x in kconfiglib.expr_items(k.syms[dep].rev_dep)], f"korhal does not select {dep}"
for opt in ("BR2_PACKAGE_KORHAL_TLS", "BR2_PACKAGE_KORHAL_BOLTER"):
    o = k.syms[opt]
    assert o.type == kconfiglib.BOOL and o.str_value == "y", f"{opt}: bool, default y"
    s.set_value(0)
    assert o.str_value == "n" and not o.visibility, f"{opt} without korhal"
    s.set_value(2)
tls = k.syms["BR2_PACKAGE_KORHAL_TLS"]
assert tls.str_value == "y" and k.syms["BR2_PACKAGE_OPENSSL"].str_value == "y"
# help text: tab + 2 spaces, at most 72 columns (Buildroot's check-package)
for line in open(os.path.join(deploy, "buildroot", "package", "korhal", "Config.in")):
    line = line.rstrip("\n")
    if line.startswith("\t  ") and len(line.expandtabs(8)) > 80:
        sys.exit(f"buildroot Config.in: help line over 72 columns: {line!r}")

# OpenWrt: the package's Config.in under PACKAGE_korhal.
k = check("openwrt", os.path.join(deploy, "openwrt", "korhal", "Config.in"),
          r"PACKAGE_korhal$", {"PACKAGE_korhal": "tristate"}, "PACKAGE_korhal")
for opt in ("KORHAL_TLS", "KORHAL_BOLTER"):
    assert k.syms[opt].type == kconfiglib.BOOL and k.syms[opt].nodes[0].help, opt
print("kconfiglib: buildroot and openwrt Config.in parse with no warning")
PY
ok "kconfiglib: Config.in of Buildroot (BR2_EXTERNAL) and OpenWrt"

# --- 7. hashes and license checksums from the tree --------------------------
bash "$D/embedded-hashes.sh" check >"$T/hashes.log" 2>&1 ||
	fail "hashes: $(cat "$T/hashes.log")"
ok "hashes and license checksums match the tree"

# --- 8. required variables of each format -----------------------------------
need() { # need FILE REGEX...: each REGEX matches a line of FILE
	local f=$1; shift
	for re in "$@"; do grep -qE -e "$re" "$f" || fail "$f: nothing matches $re"; done
}
need "$OW/Makefile" '^include \$\(TOPDIR\)/rules\.mk$' '^PKG_NAME:=korhal$' \
	'^PKG_VERSION:=[0-9]+\.[0-9]+\.[0-9]+$' '^PKG_RELEASE:=[0-9]+$' '^PKG_SOURCE:=' \
	'^PKG_SOURCE_URL:=https://' '^PKG_HASH:=[0-9a-f]{64}$' '^PKG_LICENSE:=Apache-2\.0$' \
	'^PKG_LICENSE_FILES:=LICENSE$' '^PKG_MAINTAINER:=' '^include \$\(INCLUDE_DIR\)/package\.mk$' \
	'^include \$\(INCLUDE_DIR\)/cmake\.mk$' '^define Package/korhal$' '^  DEPENDS:=' \
	'^define Package/korhal/install$' '^define Package/korhal/conffiles$' \
	'^/etc/config/carrier$' 'files/carrier-agent\.init \$\(1\)/etc/init\.d/carrier-agent$' \
	'files/carrier\.config \$\(1\)/etc/config/carrier$' '^\$\(eval \$\(call BuildPackage,korhal\)\)$' \
	'^PKG_INSTALL:=1$' '-DCR_TESTS=OFF' '-DCR_DEVICE_TLS=\$\(if \$\(CONFIG_KORHAL_TLS\),ON,OFF\)'
need "$OW/files/carrier-agent.init" '^#!/bin/sh /etc/rc\.common$' '^USE_PROCD=1$' '^START=[0-9]+$' \
	'^STOP=[0-9]+$' '^start_service\(\) \{$' 'procd_set_param respawn' 'procd_add_reload_trigger carrier'
need "$BR/korhal.mk" '^#{80}$' '^KORHAL_VERSION = ' '^KORHAL_SITE = https://' \
	'^KORHAL_LICENSE = Apache-2\.0$' '^KORHAL_LICENSE_FILES = LICENSE$' '^KORHAL_DEPENDENCIES = ' \
	'^KORHAL_CONF_OPTS = ' '^define KORHAL_INSTALL_INIT_SYSV$' '^define KORHAL_INSTALL_INIT_SYSTEMD$' \
	'S50carrier-agent \\$' '/usr/lib/systemd/system/carrier-agent\.service$' \
	'^\$\(eval \$\(cmake-package\)\)$' '-DCR_TESTS=OFF'
need "$D/buildroot/external.desc" '^name: KORHAL$'
need "$D/buildroot/external.mk" 'BR2_EXTERNAL_KORHAL_PATH\)/package/\*/\*\.mk'
need "$YO/conf/layer.conf" '^BBPATH \.= ":\$\{LAYERDIR\}"$' '^BBFILE_COLLECTIONS \+= "korhal"$' \
	'^BBFILE_PATTERN_korhal = ' '^BBFILE_PRIORITY_korhal = "[0-9]+"$' '^LAYERSERIES_COMPAT_korhal = "[a-z ]+"$' \
	'^LAYERDEPENDS_korhal = '
bb=$(ls "$YR"/korhal_*.bb)
need "$bb" '^SUMMARY = ' '^HOMEPAGE = ' '^LICENSE = "Apache-2\.0"$' \
	'^LIC_FILES_CHKSUM = "file://LICENSE;md5=[0-9a-f]{32}"$' '^SRC_URI = ' \
	'^SRC_URI\[sha256sum\] = "[0-9a-f]{64}"$' '^inherit cmake pkgconfig systemd update-rc\.d$' \
	'^PACKAGECONFIG \?\?= ' '^PACKAGECONFIG\[tls\] = "-DCR_DEVICE_TLS=ON -DCR_TLS_BACKEND=openssl,-DCR_DEVICE_TLS=OFF,openssl"$' \
	'^PACKAGECONFIG\[bolter\] = "-DCR_BOLTER=ON,-DCR_BOLTER=OFF' '^SYSTEMD_SERVICE:\$\{PN\} = "carrier-agent\.service"$' \
	'^INITSCRIPT_NAME = "carrier-agent"$' '^INITSCRIPT_PARAMS = ' 'file://carrier-agent\.init' \
	'file://carrier-agent\.service' '\$\{UNPACKDIR\}/carrier-agent\.service' '-DCR_TESTS=OFF'
# no '_' override syntax (pre-honister) left in the recipe
grep -nE '(do_install|FILES|RDEPENDS|CONFFILES|SYSTEMD_SERVICE)_\$\{PN\}|_append|_prepend' "$bb" &&
	fail "$bb: old '_' override syntax"
# the three agree on the version and the CMake options of the two features
v=$(sed -n 's/^PKG_VERSION:=//p' "$OW/Makefile")
[ "$(sed -n 's/^KORHAL_VERSION = //p' "$BR/korhal.mk")" = "$v" ] && [ "$bb" = "$YR/korhal_$v.bb" ] ||
	fail "the packages disagree on the version"
ok "required variables: OpenWrt Makefile and init, Buildroot .mk and external tree, Yocto layer and recipe"

# --- 9. CMake as the packages call it ----------------------------------------
# A configure with the packages' options (each one used, no tests), then a
# DESTDIR install of this build: under the prefix only, no host path.
grep -q '^include(GNUInstallDirs)' "$SRC/CMakeLists.txt" || fail "CMake: no GNUInstallDirs"
if grep -rnE 'install\([^)]*DESTINATION +/' --include=CMakeLists.txt "$SRC" | grep -v "^$BUILD"; then
	fail "CMake: an install with an absolute DESTINATION (ignores the prefix)"
fi
cmake -S "$SRC" -B "$T/cfg" -DCR_DEVICE_ONLY=ON -DCR_TESTS=OFF -DCR_TEST_MODES=OFF \
	-DCR_WERROR=OFF -DCR_DEVICE_TLS=OFF -DCR_BOLTER=OFF -DCMAKE_INSTALL_PREFIX=/usr \
	>"$T/cfg.log" 2>&1 || fail "configure with the packages' options: $(tail -20 "$T/cfg.log")"
grep -q "Manually-specified variables were not used" "$T/cfg.log" &&
	fail "configure: an option of the packages is unknown: $(cat "$T/cfg.log")"
grep -q 'add_test' "$T/cfg/CTestTestfile.cmake" 2>/dev/null && fail "configure: tests with CR_TESTS=OFF"
grep -q 'file(INSTALL' "$T/cfg/device-agent/bolter/cmake_install.cmake" &&
	fail "configure: bolter installed with CR_BOLTER=OFF"
cmake -S "$SRC" -B "$T/cfg" -UCR_TESTS -DBUILD_TESTING=OFF >"$T/cfg2.log" 2>&1 ||
	fail "configure with BUILD_TESTING=OFF: $(tail -20 "$T/cfg2.log")"
grep -qx 'CR_TESTS:BOOL=OFF' "$T/cfg/CMakeCache.txt" || fail "BUILD_TESTING=OFF leaves the tests on"
DESTDIR=$T/dest cmake --install "$BUILD" --prefix /usr >"$T/install.log" 2>&1 ||
	fail "DESTDIR install: $(tail "$T/install.log")"
[ -x "$T/dest/usr/bin/carrier-agent" ] || fail "DESTDIR install: no /usr/bin/carrier-agent"
if find "$T/dest" -mindepth 1 -maxdepth 1 ! -name usr | grep .; then
	fail "DESTDIR install: files outside the prefix"
fi
grep -qx 'ExecStart=/usr/bin/carrier-agent --config /etc/carrier/agent.conf --syslog' \
	"$T/dest/usr/lib/systemd/system/carrier-agent.service" || fail "the installed unit's paths"
# no build or source path in what is installed (binaries without their
# debug sections, which the packages strip)
find "$T/dest" -type f >"$T/installed.txt"
while IFS= read -r f; do
	if file -b "$f" | grep -q '^ELF'; then
		readelf -d "$f" | grep -E 'R(UN)?PATH' && fail "$f: an RPATH"
		# a sanitizer build names its source files in its reports' data;
		# the packages never build one
		[ "$KORHAL_ASAN" = 1 ] && continue
		objcopy --strip-debug "$f" "$T/stripped" && f2=$T/stripped
	else
		f2=$f
	fi
	if grep -aqF -e "$BUILD" -e "$SRC" "$f2"; then
		fail "DESTDIR install: $f names a host path ($BUILD or $SRC)"
	fi
done <"$T/installed.txt"
ok "CMake: GNUInstallDirs, the packages' options, tests off, DESTDIR install without host paths"

# --- 10. musl (KORHAL_LONG=1) ------------------------------------------------
if [ -n "${KORHAL_LONG:-}" ]; then
	command -v musl-gcc >/dev/null || fail "musl-gcc is missing (Debian: musl-tools)"
	M=$T/musl
	# musl's libc headers first; the libraries' headers from Debian
	# (the host's OpenSSL headers for cr_tls: Debian's mbedTLS may be absent)
	CC=musl-gcc cmake -S "$SRC" -B "$M" -DCR_DEVICE_ONLY=ON -DCR_TESTS=OFF -DCR_WERROR=OFF \
		-DCR_TLS_BACKEND=openssl \
		-DCMAKE_BUILD_TYPE=Release -DLMDB_LIBRARY=/usr/lib/x86_64-linux-gnu/liblmdb.a \
		"-DCMAKE_C_FLAGS=-idirafter /usr/include -idirafter /usr/include/x86_64-linux-gnu" \
		>"$T/musl-cfg.log" 2>&1 || fail "musl configure: $(tail "$T/musl-cfg.log")"
	# our own libraries, one by one
	built=() failed=()
	for lib in cr_base cr_crypto cp_proto cr_hop cr_records ar_format cr_fleet cr_link cr_e2e \
		cr_tls ar_store bo_runtime da_agent; do
		if nice make -C "$M" -j2 "$lib" >"$T/musl-$lib.log" 2>&1; then built+=("$lib"); else failed+=("$lib"); fi
	done
	echo "musl: built ${built[*]}"
	echo "musl: failed ${failed[*]:-none}"
	# these build with musl today: a regression fails the test
	for lib in cr_base cr_crypto cp_proto cr_hop cr_records ar_format cr_fleet cr_link cr_e2e \
		cr_tls ar_store bo_runtime da_agent; do
		[[ " ${built[*]} " == *" $lib "* ]] || fail "musl: $lib no longer builds: $(grep -m5 error: "$T/musl-$lib.log")"
	done
	# the link: Debian's static libraries are built for glibc (fortified
	# __*_chk calls, __isoc99_sscanf, ...), which musl does not have
	for a in libsodium libevent libssl libcrypto libprotobuf-c libzstd libjson-c liblmdb \
		libseccomp; do
		f=/usr/lib/x86_64-linux-gnu/$a.a
		[ -f "$f" ] || continue
		echo "musl: $a.a needs from glibc: $(nm -u "$f" 2>/dev/null | awk '{print $NF}' |
			grep -E '^__[a-z_0-9]*_chk$|^__isoc99_|^getcontext$|^gnu_dev_' | sort -u | tr '\n' ' ')"
	done
	ok "musl: our libraries that build with musl-gcc still do (docs/packaging.md)"
fi
