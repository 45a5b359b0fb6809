#!/usr/bin/env bash
# docs/cli-conventions.md for carrier, carrier-node and carrier-agent:
# --help and -h (every subcommand too) on stdout with exit 0 and nothing on
# stderr; --version and -V print "PROG KORHAL_VERSION"; usage errors exit
# 2 with "Try 'PROG --help'." on stderr and nothing on stdout; runtime
# failures exit 1.
. "$(dirname "$0")/lib.sh"

version=$(sed -n 's/^project(korhal VERSION \([0-9.]*\) .*/\1/p' "$KORHAL_SRC/CMakeLists.txt")
[ -n "$version" ] || fail "no version in CMakeLists.txt"

# expect WANT_RC NAME PROG ARGS...: runs PROG with stdin from /dev/null;
# leaves OUT and ERR.
expect() {
	local want=$1 name=$2 rc=0; shift 2
	"$@" </dev/null >"$T/out" 2>"$T/err" || rc=$?
	OUT=$(cat "$T/out") ERR=$(cat "$T/err")
	[ "$rc" -eq "$want" ] || fail "$name: '$*' exit $rc, not $want; stdout: $OUT; stderr: $ERR"
}

help_ok() { # help_ok PROG ARGS...: the help of that (sub)command
	local flag
	for flag in --help -h; do
		expect 0 help "$@" "$flag"
		[[ "$OUT" == usage:* ]] || fail "'$* $flag': stdout is no usage: $OUT"
		[ -z "$ERR" ] || fail "'$* $flag' wrote to stderr: $ERR"
	done
}

usage_err() { # usage_err PROG_NAME PROG ARGS...
	local name=$1; shift
	expect 2 usage "$@"
	[ -z "$OUT" ] || fail "usage error '$*' wrote to stdout: $OUT"
	[[ "$ERR" == "$name: "* ]] || fail "usage error '$*': stderr does not start with '$name: ': $ERR"
	[ "$(tail -n 1 "$T/err")" = "Try '$name --help'." ] || fail "usage error '$*': no Try line: $ERR"
}

# --- carrier -------------------------------------------------------------------
help_ok "$CARRIER"
for sub in keygen id "ring" "ring init" "ring add-node" "ring remove-node" "ring status" \
	lookup ping connect trust "trust init" "trust sign" "trust show" release "release sign" fleet \
	"release show" "fleet credential" deploy rollback status watch; do
	# shellcheck disable=SC2086 # sub is split on purpose
	help_ok "$CARRIER" $sub
	# shellcheck disable=SC2086
	[ "$sub" = id ] || usage_err carrier "$CARRIER" $sub --no-such-option
done
usage_err carrier "$CARRIER"
usage_err carrier "$CARRIER" no-such-command
usage_err carrier "$CARRIER" ring no-such-command
usage_err carrier "$CARRIER" keygen --type device
usage_err carrier "$CARRIER" keygen --type nonsense -o "$T/x"
usage_err carrier "$CARRIER" id
usage_err carrier "$CARRIER" lookup not-an-id
usage_err carrier "$CARRIER" connect "$(device d)" 70000
usage_err carrier "$CARRIER" ring init --operator "$T/op.key" -o "$T/r"
usage_err carrier "$CARRIER" deploy r.release --waves 10,5,100 --to tag:a=b
usage_err carrier "$CARRIER" deploy r.release --to not-an-id
for flag in --version -V; do
	expect 0 version "$CARRIER" "$flag"
	[ "$OUT" = "carrier $version" ] || fail "carrier $flag: $OUT"
done
expect 1 runtime "$CARRIER" id "$T/missing.key"
[[ "$ERR" == "carrier: "* && "$ERR" != *Try* ]] || fail "runtime failure message: $ERR"
expect 1 runtime "$CARRIER" ring init --operator "$T/missing.key" --node "$T/d.key.pub@127.0.0.1:1" -o "$T/r"
ok "carrier: help, version, usage errors (2) and runtime failures (1)"

# --- carrier-node and carrier-agent -----------------------------------------------
make_ring 1
for prog in carrier-node carrier-agent; do
	bin=$CARRIER_NODE
	[ "$prog" = carrier-agent ] && bin=$CARRIER_AGENT
	help_ok "$bin"
	for flag in --version -V; do
		expect 0 version "$bin" "$flag"
		[ "$OUT" = "$prog $version" ] || fail "$prog $flag: $OUT"
	done
	usage_err "$prog" "$bin" --no-such-option
	usage_err "$prog" "$bin" stray-argument
	usage_err "$prog" "$bin" --log-level loud
	printf 'nonsense = 1\n' >"$T/bad.conf"
	usage_err "$prog" "$bin" --config "$T/bad.conf"
	expect 1 runtime "$bin" --key "$T/missing.key" --ring "$T/ring" --data "$T/x.d" \
		--listen "${NODE_ADDR[0]}" --check
	[[ "$ERR" == "$prog: "* && "$ERR" != *Try* ]] || fail "$prog runtime failure message: $ERR"
done
ok "carrier-node, carrier-agent: help, version, usage errors (2) and runtime failures (1)"
