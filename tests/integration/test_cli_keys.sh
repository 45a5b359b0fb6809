#!/usr/bin/env bash
# What a new user tripped on with keys, rings and pins:
#  - a vendor command given another type of key is refused before any
#    datagram, in carrier-node's words for a wrong key type;
#  - `ring init -o EXISTING` refuses to overwrite a ring (says its epoch);
#    --force overwrites;
#  - `keygen -o DIR/key` creates the missing folders (0700);
#  - `carrier-agent --check` refuses what the start refuses (a 0644 key, a
#    node key);
#  - the operator is pinned per ring: two rings of two operators work from
#    one HOME, a ring whose operator changes is refused, the single pin
#    file of earlier versions is still honoured;
#  - a lookup on a ring that does not answer names the nodes tried.
. "$(dirname "$0")/lib.sh"

make_ring 1
start_node 0
vendor ven >/dev/null
export CARRIER_KEY=$T/ven.key
dev_id=$(device dev)

# --- 1. wrong key types ------------------------------------------------------
wait_until 10 "$CARRIER" ring status || fail "ring 1 never came up"
for t in operator node device; do
	case $t in operator) k=$T/op.key ;; node) k=${NODE_KEY[0]} ;; device) k=$T/dev.key ;; esac
	for cmd in "ring status" "lookup $dev_id" "ping $dev_id -c 1" "connect $dev_id 22"; do
		rc=0
		# shellcheck disable=SC2086 # cmd is split on purpose
		out=$("$CARRIER" $cmd --key "$k" 2>&1 </dev/null) || rc=$?
		[ "$rc" -eq 1 ] || fail "carrier $cmd with a $t key: exit $rc, not 1: $out"
		[[ "$t" = operator && "$out" == *"$k is an operator key, not a vendor key"* ]] ||
			[[ "$out" == *"$k is a $t key, not a vendor key"* ]] ||
			fail "carrier $cmd with a $t key: $out"
		[[ "$out" != *"nodes up"* && "$out" != *"answer"* ]] ||
			fail "carrier $cmd with a $t key talked to the ring: $out"
	done
done
# carrier-node says the same for its own wrong key (one function, one wording).
rc=0
out=$("$CARRIER_NODE" --key "$T/ven.key" --ring "$T/ring" --listen "127.0.0.1:$(free_port)" \
	--data "$T/wrong.d" --check 2>&1) || rc=$?
[ "$rc" -eq 1 ] && [[ "$out" == *"$T/ven.key is a vendor key, not a node key"* ]] ||
	fail "carrier-node with a vendor key: exit $rc: $out"
ok "vendor commands refuse operator, node and device keys before connecting"

# --- 2. ring init over an existing ring ---------------------------------------
"$CARRIER" keygen --type node -o "$T/extra1.key" >/dev/null
"$CARRIER" keygen --type node -o "$T/extra2.key" >/dev/null
cp "$T/ring" "$T/ring3"
"$CARRIER" ring add-node --operator "$T/op.key" --ring "$T/ring3" "$T/extra1.key.pub@127.0.0.1:1" >/dev/null
"$CARRIER" ring add-node --operator "$T/op.key" --ring "$T/ring3" "$T/extra2.key.pub@127.0.0.1:2" >/dev/null
cp "$T/ring3" "$T/ring3.before"
rc=0
out=$("$CARRIER" ring init --operator "$T/op.key" --node "${NODE_KEY[0]}.pub@${NODE_ADDR[0]}" \
	-o "$T/ring3" 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "ring init over an epoch-3 ring: exit $rc: $out"
[[ "$out" == *"already holds ring configuration epoch 3"* && "$out" == *--force* ]] ||
	fail "ring init over an existing ring said: $out"
cmp -s "$T/ring3" "$T/ring3.before" || fail "ring init changed the existing ring"
echo junk >"$T/notaring"
rc=0
out=$("$CARRIER" ring init --operator "$T/op.key" --node "${NODE_KEY[0]}.pub@${NODE_ADDR[0]}" \
	-o "$T/notaring" 2>&1) || rc=$?
[ "$rc" -eq 1 ] && [[ "$out" == *"not a ring configuration"* ]] || fail "ring init over junk: $rc $out"
[ "$(cat "$T/notaring")" = junk ] || fail "ring init overwrote a file that is no ring"
"$CARRIER" ring init --force --operator "$T/op.key" --node "${NODE_KEY[0]}.pub@${NODE_ADDR[0]}" \
	-o "$T/ring3" | grep -q "ring epoch 1 " || fail "ring init --force"
grep -q "epoch 1" "$T/ring3" || fail "ring init --force did not write epoch 1"
ok "ring init refuses to overwrite (says epoch 3); --force overwrites"

# --- 4. keygen into a folder that does not exist yet ------------------------
[ ! -e "$HOME/.config/carrier" ] || fail "test set-up: $HOME/.config/carrier exists"
"$CARRIER" keygen --type vendor -o "$HOME/.config/carrier/key" >/dev/null ||
	fail "keygen into a missing folder"
[ -f "$HOME/.config/carrier/key" ] && [ -f "$HOME/.config/carrier/key.pub" ] || fail "keygen wrote no key"
[ "$(stat -c %a "$HOME/.config/carrier")" = 700 ] || fail "folder mode $(stat -c %a "$HOME/.config/carrier")"
[ "$(stat -c %a "$HOME/.config/carrier/key")" = 600 ] || fail "key mode"
ok "keygen creates missing parent folders (0700)"

# --- 5. carrier-agent --check runs the start's validation ---------------------
cp "$T/dev.key" "$T/dev644.key" && chmod 0644 "$T/dev644.key"
for k in "$T/dev644.key" "${NODE_KEY[0]}"; do
	rc=0
	out=$("$CARRIER_AGENT" --key "$k" --ring "$T/ring" --data "$T/chk.d" --check 2>&1) || rc=$?
	[ "$rc" -eq 1 ] || fail "carrier-agent --check with $k: exit $rc: $out"
	[[ "$out" != *"configuration OK"* ]] || fail "--check passed $k"
	rc2=0
	out2=$(timeout 10 "$CARRIER_AGENT" --key "$k" --ring "$T/ring" --data "$T/chk.d" 2>&1) || rc2=$?
	[ "$rc2" -eq 1 ] || fail "carrier-agent with $k: exit $rc2: $out2"
	[ "${out%%$'\n'*}" = "${out2%%$'\n'*}" ] || fail "--check and the start disagree: '$out' / '$out2'"
done
[[ "$out" == *"is a node key, not a device key"* ]] || fail "--check node key: $out"
"$CARRIER_AGENT" --key "$T/dev.key" --ring "$T/ring" --data "$T/chk.d" --check | grep -qx "configuration OK" ||
	fail "--check with a good configuration"
[ ! -e "$T/chk.d" ] || fail "--check created the data folder"
ok "carrier-agent --check refuses a 0644 key and a node key, as the start does"

# --- 6. one operator pin per ring ----------------------------------------------
pins=$CARRIER_CONFIG_DIR/rings
ls "$pins"/ring-*.pin >/dev/null 2>&1 || fail "no per-ring pin for ring 1 in $pins"
# A second ring of a second operator, from the same HOME.
"$CARRIER" keygen --type operator -o "$T/op2.key" >/dev/null
"$CARRIER" keygen --type node -o "$T/b0.key" >/dev/null
B_ADDR=127.0.0.1:$(free_port)
mkdir -p "$T/b"
"$CARRIER" ring init --operator "$T/op2.key" --node "$T/b0.key.pub@$B_ADDR" -o "$T/b/ring" >/dev/null
"$CARRIER_NODE" --key "$T/b0.key" --ring "$T/b/ring" --listen "$B_ADDR" --data "$T/b0.d" >>"$T/b0.log" 2>&1 &
PIDS+=("$!")
op2=$("$CARRIER" id "$T/op2.key.pub")
wait_until 10 "$CARRIER" ring status --ring "$T/b/ring" || fail "ring 2 with its own operator refused"
out=$("$CARRIER" ring status --ring "$T/b/ring" 2>&1 >/dev/null)
[ -z "$out" ] || fail "second use of ring 2 said: $out"
"$CARRIER" ring status --ring "$T/ring" >/dev/null 2>&1 || fail "ring 1 refused after ring 2 was pinned"
[ "$(ls "$pins" | wc -l)" -eq 2 ] || fail "not two pins: $(ls "$pins")"
# First use says what it pinned, on stderr.
cp "$T/b/ring" "$T/b/ring.copy"
out=$("$CARRIER" ring status --ring "$T/b/ring.copy" 2>&1 >/dev/null)
[[ "$out" == *"pinned operator $op2 for ring $T/b/ring.copy in $pins/ring.copy-"*".pin"* ]] ||
	fail "first use of a ring did not say what it pinned: $out"
# The operator of a pinned ring changes: refused.
"$CARRIER" ring init --force --operator "$T/op.key" --node "$T/b0.key.pub@$B_ADDR" -o "$T/b/ring" >/dev/null
rc=0
out=$("$CARRIER" ring status --ring "$T/b/ring" 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "a ring whose operator changed: exit $rc: $out"
[[ "$out" == *"pins operator $op2"* ]] || fail "operator change message: $out"
ok "operators pinned per ring: two operators from one HOME; a changed operator is refused"

# The single pin file of earlier versions still counts for a ring not
# pinned per ring yet: its operator passes, another is refused until
# --operator names it.
op_b64=$(awk '{print $3}' "$T/op.key.pub")
cp "$(grep -l "$op_b64" "$pins"/ring-*.pin | head -1)" "$CARRIER_CONFIG_DIR/operator.pin"
rm -rf "$pins"
"$CARRIER" ring status --ring "$T/ring" >/dev/null 2>"$T/compat.err" ||
	fail "the old pin's own operator was refused: $(cat "$T/compat.err")"
grep -q "older single pin file" "$T/compat.err" || fail "compat pin: $(cat "$T/compat.err")"
"$CARRIER" ring init --force --operator "$T/op2.key" --node "$T/b0.key.pub@$B_ADDR" -o "$T/b/ring" >/dev/null
rc=0
out=$("$CARRIER" ring status --ring "$T/b/ring" 2>&1) || rc=$?
[ "$rc" -eq 1 ] && [[ "$out" == *"--operator $op2"* ]] || fail "another operator under the old pin: $rc $out"
"$CARRIER" ring status --ring "$T/b/ring" --operator "$op2" >/dev/null 2>&1 || fail "--operator did not pin ring 2"
"$CARRIER" ring status --ring "$T/b/ring" >/dev/null 2>&1 || fail "ring 2 not pinned by --operator"
ok "the single pin file of earlier versions is still honoured"

# --- 8. a ring that does not answer -------------------------------------------
"$CARRIER" keygen --type node -o "$T/dead.key" >/dev/null
dead=127.0.0.1:$(free_port)
"$CARRIER" ring init --operator "$T/op.key" --node "$T/dead.key.pub@$dead" -o "$T/deadring" >/dev/null
rc=0
out=$("$CARRIER" lookup "$dev_id" --ring "$T/deadring" 2>&1) || rc=$?
[ "$rc" -eq 3 ] || fail "lookup on a dead ring: exit $rc: $out"
[[ "$out" != *"()"* ]] || fail "empty () in: $out"
[[ "$out" == *"node $dead: no answer to the handshake"* ]] || fail "dead ring message: $out"
ok "an unreachable ring names the nodes tried and why"
