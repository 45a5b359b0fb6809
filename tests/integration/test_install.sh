#!/usr/bin/env bash
# The install rules: an install into a prefix (as `cmake --install BUILD
# --prefix P`) and one with DESTDIR (as a distribution package builds it,
# prefix /usr) give every program, which runs; man pages that groff formats
# without a warning and that document every long option the programs'
# --help lists; systemd units that name the installed programs and pass
# `systemd-analyze verify` (which also finds the man pages they name); bash
# completion that loads and completes; and an install_manifest.txt that
# uninstalls everything.
#
# Drift: when a program gains an option, its --help lists it, and this test
# fails until the man page (docs/man/) and the bash completion
# (deploy/completion/) name it too.  What is compared is listed in HELPS and
# COMPLETE below; NOT_IN_MAN and NOT_COMPLETED hold deliberate exceptions.
. "$(dirname "$0")/lib.sh"
: "${KORHAL_SRC:?run through ctest}" "${ARCHON:?}" "${BOLTER:?}"

# The build tree ctest runs in: the binaries are BUILD/cli/carrier and so on.
BUILD=${KORHAL_BUILD:-$(dirname "$(dirname "$CARRIER")")}
if [ ! -f "$BUILD/CMakeCache.txt" ] || [ ! -f "$BUILD/cmake_install.cmake" ]; then
	fail "no build tree at $BUILD (set KORHAL_BUILD)"
fi

# `cmake --install BUILD --prefix P` runs BUILD/cmake_install.cmake with
# CMAKE_INSTALL_PREFIX=P, and that script writes BUILD/install_manifest.txt,
# outside this test's folder (and over the manifest of the user's own
# install).  So the test runs a copy of the script that writes the manifest
# here; everything else it does is what `cmake --install` does.
sed "s#\"$BUILD/\${CMAKE_INSTALL_MANIFEST}\"#\"\${KORHAL_MANIFEST_DIR}/\${CMAKE_INSTALL_MANIFEST}\"#" \
	"$BUILD/cmake_install.cmake" >"$T/cmake_install.cmake"
grep -q 'KORHAL_MANIFEST_DIR' "$T/cmake_install.cmake" ||
	fail "cmake_install.cmake no longer writes BUILD/install_manifest.txt as expected"
install_to() { # install_to PREFIX MANIFEST_DIR [DESTDIR]
	mkdir -p "$2"
	DESTDIR=${3:-} cmake -DCMAKE_INSTALL_PREFIX="$1" -DKORHAL_MANIFEST_DIR="$2" \
		-P "$T/cmake_install.cmake" >"$2/install.log" 2>&1 ||
		fail "install into ${3:-}$1: $(tail -5 "$2/install.log")"
}

P=$T/prefix
install_to "$P" "$T/m-prefix"
ok "installed into $P"

# ---- programs -------------------------------------------------------------
PROGS=(carrier carrier-node carrier-agent archon bolter bolter-oci)
for p in "${PROGS[@]}"; do
	[ -x "$P/bin/$p" ] || fail "bin/$p is not installed"
	out=$("$P/bin/$p" --help 2>"$T/help.err") || fail "$p --help: exit $?: $(cat "$T/help.err")"
	grep -q "^usage: " <<<"$out" || fail "$p --help prints no usage: $out"
done
[ "$(readlink "$P/bin/bolter-oci")" = bolter ] || fail "bin/bolter-oci is not a symlink to bolter"
ok "programs installed, each runs --help: ${PROGS[*]}"

# ---- man pages ------------------------------------------------------------
MAN=$P/share/man
PAGES=(man1/carrier.1 man8/carrier-node.8 man8/carrier-agent.8 man1/archon.1
	man8/bolter.8 man8/bolter-oci.8)
for m in "${PAGES[@]}"; do
	[ -f "$MAN/$m" ] || fail "$m is not installed"
	# -ww: every warning; -z: no output.  From MAN, where .so finds its page.
	(cd "$MAN" && groff -man -Tutf8 -ww -z "$m") >"$T/groff.log" 2>&1 ||
		fail "groff $m: $(cat "$T/groff.log")"
	[ ! -s "$T/groff.log" ] || fail "groff warns on $m: $(cat "$T/groff.log")"
	n=$(basename "$m"); n=${n%.*}
	want=$MAN/$m
	if so=$(sed -n '1s/^\.so //p' "$want") && [ -n "$so" ]; then want=$MAN/$so; fi
	[ "$(MANPATH=$MAN man -w "$n" 2>/dev/null)" = "$want" ] ||
		fail "man does not find $n under $MAN"
done
out=$(cd "$MAN" && groff -man -Tutf8 man8/bolter-oci.8 2>&1)
grep -q "runc's command line" <<<"$out" || fail "bolter-oci(8) does not show bolter(8)"
ok "man pages installed, found by man, formatted without warnings: ${PAGES[*]}"

# Every long option a help lists is in its man page.  HELPS: "PAGE PROG ARGS...":
# the help output of PROG ARGS (exit 0) against PAGE.
HELPS=(
	"man1/carrier.1 carrier --help"
	"man1/carrier.1 carrier keygen --help"
	"man1/carrier.1 carrier ring --help"
	"man1/carrier.1 carrier lookup --help"
	"man1/carrier.1 carrier ping --help"
	"man1/carrier.1 carrier connect --help"
	"man1/carrier.1 carrier shell --help"
	"man1/carrier.1 carrier sysinfo --help"
	"man1/carrier.1 carrier cp --help"
	"man1/carrier.1 carrier trust --help"
	"man1/carrier.1 carrier release --help"
	"man1/carrier.1 carrier fleet --help"
	"man1/carrier.1 carrier deploy --help"
	"man1/carrier.1 carrier rollback --help"
	"man1/carrier.1 carrier status --help"
	"man1/carrier.1 carrier watch --help"
	"man1/carrier.1 carrier config --help"
	"man8/carrier-node.8 carrier-node --help"
	"man8/carrier-agent.8 carrier-agent --help"
	"man8/carrier-agent.8 carrier-agent install --help"
	"man8/carrier-agent.8 carrier-agent apps --help"
	"man8/carrier-agent.8 carrier-agent config --help"
	"man1/archon.1 archon --help"
	"man8/bolter.8 bolter --help"
	"man8/bolter.8 bolter-oci --help"
)
# Options a help lists that its man page need not name: "PROG --option".
NOT_IN_MAN=()
long_options() { grep -oE -- '--[a-z][a-z0-9-]*[a-z0-9]' | sort -u; }
# The page's text with roff's escapes undone: \- is -, fonts go.
man_text() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' "$MAN/$1"; }
missing=()
for h in "${HELPS[@]}"; do
	read -r page prog args <<<"$h"
	# shellcheck disable=SC2086 # ARGS are words
	out=$("$P/bin/$prog" $args 2>"$T/help.err") || fail "$prog $args: exit $?: $(cat "$T/help.err")"
	man_text "$page" >"$T/page.txt"
	while read -r opt; do
		[ -n "$opt" ] || continue
		[[ " ${NOT_IN_MAN[*]} " != *" $prog $opt "* ]] || continue
		grep -qE -- "(^|[^a-z0-9-])$opt([^a-z0-9-]|\$)" "$T/page.txt" ||
			missing+=("$page lacks $opt (from '$prog $args')")
	done < <(long_options <<<"$out")
done
[ ${#missing[@]} -eq 0 ] || fail "man pages behind --help: $(printf '\n  %s' "${missing[@]}")"
ok "every long option the programs' help lists is in their man page"

# ---- systemd units ----------------------------------------------------------
UNITS=$P/lib/systemd/system
for u in carrier-node carrier-agent; do
	f=$UNITS/$u.service
	[ -f "$f" ] || fail "$u.service is not installed"
	! grep -nE '@[A-Z_]+@' "$f" || fail "$u.service has placeholders left"
	for key in ExecStartPre ExecStart; do
		grep -q "^$key=$P/bin/$u --config /etc/carrier/" "$f" ||
			fail "$u.service: $key does not name $P/bin/$u: $(grep "^$key=" "$f")"
	done
	grep -q "^Documentation=man:$u(8) file:$P/share/doc/korhal/README.md\$" "$f" ||
		fail "$u.service: Documentation= is $(grep '^Documentation=' "$f")"
	[ -f "$P/share/doc/korhal/README.md" ] || fail "the README the units name is not installed"
done
ok "the units name $P/bin and the installed docs"

verify_skipped=
printf '[Service]\nExecStart=/bin/true\n' >"$T/probe.service"
if ! command -v systemd-analyze >/dev/null; then
	verify_skipped="systemd-analyze is not installed"
elif ! systemd-analyze verify --man=no "$T/probe.service" >"$T/probe.log" 2>&1; then
	verify_skipped="systemd-analyze verify cannot run here: $(head -3 "$T/probe.log")"
else
	for u in carrier-node carrier-agent; do
		# verify checks that the programs exist and, through man, that
		# the pages Documentation= names do.
		MANPATH=$MAN systemd-analyze verify "$UNITS/$u.service" >"$T/verify.log" 2>&1 ||
			fail "systemd-analyze verify $u.service: $(cat "$T/verify.log")"
	done
	ok "the installed units pass systemd-analyze verify (programs and man pages found)"
fi

# ---- bash completion -------------------------------------------------------
COMP=$P/share/bash-completion/completions
for c in carrier carrier-agent archon bolter bolter-oci; do
	[ -f "$COMP/$c" ] || fail "completion for $c is not installed"
	bash -n "$COMP/$c" || fail "completion for $c: bash -n fails"
done
# complete PROG WORD... : what bash completion offers for the last WORD, the
# completion loaded as bash-completion loads it (the file named PROG).
complete_words() {
	local prog=$1
	shift
	bash --norc --noprofile -c '
		. "$1/$2" || exit 1
		spec=$(complete -p "$2") || exit 1
		fn=${spec#*-F }; fn=${fn%% *}
		shift 2
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		"$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}"' _ "$COMP" "$prog" "$prog" "$@"
}
expect_completion() { # expect_completion WANT PROG WORD...
	local want=$1 got
	shift
	got=$(complete_words "$@") || fail "completion for $1 does not load"
	grep -qx -- "$want" <<<"$got" || fail "'$*' completes to '$(tr '\n' ' ' <<<"$got")', not $want"
}
expect_completion ring carrier ri
expect_completion init carrier ring in
expect_completion operator carrier keygen --type op
expect_completion pull archon pu
expect_completion --no-ring archon pull --no
expect_completion checkout archon --store "$T/store" ch
expect_completion create bolter cr
expect_completion images bolter im
expect_completion install carrier-agent --data /var/lib/carrier-agent ins
expect_completion --health-window carrier-agent install --hea
expect_completion --console-socket bolter-oci create --cons
[ -z "$(complete_words bolter-oci im)" ] || fail "bolter-oci completes bolter's image commands"
ok "completion loads and completes subcommands and options"

# Every long option a help lists is offered by the completion of some
# command.  COMPLETE: "PROG SUBCOMMAND-PATHS" (comma-separated, empty: none),
# against the helps of PROG in HELPS.
COMPLETE=(
	"carrier ,keygen,id,ring init,ring add-node,ring set-operators,ring sign,ring status,lookup,ping,connect,shell,sysinfo,cp,trust init,trust sign,trust show,release web:1,release sign,release show,fleet credential,deploy,rollback,status,watch,config set,config get"
	"carrier-node -"
	"carrier-agent ,install,apps,config"
	"archon ,import,publish,pull,serve,checkout,diff,ls,show,du,gc,verify,link,run"
	"bolter ,create,start,run,state,kill,delete,list,exec,ps,pause,resume,update,events,checkpoint,restore,features,pull,images,stop,rm,logs"
	"bolter-oci ,create,start,run,state,kill,delete,list,exec,ps,pause,resume,update,events,checkpoint,restore,features"
)
# Options a help lists that completion need not offer: "PROG --option".
# bolter-oci --help is bolter's, whose image commands (run --name, --rm) bolter-oci lacks.
# carrier-agent --help names `carrier keygen --type device`, its config --help
# `carrier config set --out FILE`.
NOT_COMPLETED=("bolter-oci --name" "bolter-oci --rm" "carrier-agent --type" "carrier-agent --out")
missing=()
for c in "${COMPLETE[@]}"; do
	read -r prog paths <<<"$c"
	[ "$paths" != - ] || continue # no completion for the daemons
	offered=$T/offered.txt
	: >"$offered"
	IFS=, read -r -a subs <<<"$paths"
	for s in "${subs[@]}" ""; do
		# shellcheck disable=SC2086 # the path is words
		complete_words "$prog" $s - >>"$offered"
	done
	for h in "${HELPS[@]}"; do
		read -r page hprog args <<<"$h"
		[ "$hprog" = "$prog" ] || continue
		# shellcheck disable=SC2086
		while read -r opt; do
			[ -n "$opt" ] || continue
			[[ " ${NOT_COMPLETED[*]} " != *" $prog $opt "* ]] || continue
			grep -qx -- "$opt" "$offered" || missing+=("$prog completion lacks $opt (from '$prog $args')")
		done < <("$P/bin/$prog" $args 2>/dev/null | long_options)
	done
done
[ ${#missing[@]} -eq 0 ] || fail "completion behind --help: $(printf '\n  %s' "${missing[@]}")"
ok "completion offers every long option of carrier, archon, bolter and bolter-oci's help"

# ---- uninstall with the manifest -------------------------------------------
M=$T/m-prefix/install_manifest.txt
grep -qx "$UNITS/carrier-node.service" "$M" || fail "the manifest does not list the units"
grep -qx "$P/bin/bolter-oci" "$M" || fail "the manifest does not list bin/bolter-oci"
xargs rm -f -- <"$M"
left=$(find "$P" ! -type d)
[ -z "$left" ] || fail "files the manifest does not list: $left"
ok "install_manifest.txt removes every installed file"

# ---- DESTDIR: a package build for /usr ---------------------------------------
D=$T/dest
install_to /usr "$T/m-dest" "$D"
for p in "${PROGS[@]}"; do [ -x "$D/usr/bin/$p" ] || fail "DESTDIR: usr/bin/$p missing"; done
for u in carrier-node carrier-agent; do
	f=$D/usr/lib/systemd/system/$u.service
	grep -q "^ExecStart=/usr/bin/$u " "$f" || fail "DESTDIR: $u.service: $(grep '^ExecStart=' "$f")"
	grep -q "^Documentation=man:$u(8) file:/usr/share/doc/korhal/README.md\$" "$f" ||
		fail "DESTDIR: $u.service: $(grep '^Documentation=' "$f")"
done
[ -f "$D/usr/share/man/man8/carrier-node.8" ] || fail "DESTDIR: no carrier-node(8)"
[ -f "$D/usr/share/bash-completion/completions/carrier" ] || fail "DESTDIR: no completion"
! grep -q "^$D" "$T/m-dest/install_manifest.txt" || fail "DESTDIR is in the manifest"
grep -qx /usr/bin/carrier "$T/m-dest/install_manifest.txt" || fail "DESTDIR: manifest lacks /usr/bin/carrier"
ok "DESTDIR install for /usr: units name /usr/bin and /usr/share/doc/korhal"

if [ -n "$verify_skipped" ]; then
	echo "SKIP: $verify_skipped; everything else passed"
	exit 77
fi
