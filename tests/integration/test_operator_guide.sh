#!/usr/bin/env bash
# The README's operator guide, step by step, on loopback: three "machines"
# (directories with their own etc/ and data, nodes on their own ports), an
# operator workstation; keys, ring init, the ring distributed, node.conf
# from deploy/systemd/node.conf.example checked and started; a device
# attached; a fourth node added (epoch 2, reload by SIGHUP); one retired
# (epoch 3); a node upgraded by restart with its state kept; the metrics
# and log lines the guide names.  The guide's commands are checked to be
# in the README, so the two cannot drift apart.
. "$(dirname "$0")/lib.sh"
: "${KORHAL_SRC:?run through ctest}"
README=$KORHAL_SRC/README.md
guide=$(sed -n '/^## Operator guide/,/^## carrier-agent/p' "$README")
[ -n "$guide" ] || fail "README has no operator guide"
in_guide() { grep -qF -- "$1" <<<"$guide" || fail "the guide no longer says: $1"; }

WS=$T/ws
mkdir -p "$WS"
declare -A PORT MPORT NPID

# ---- 1. Keys ---------------------------------------------------------------
in_guide 'carrier keygen --type operator -o op.key'
in_guide 'carrier keygen --type node -o /etc/carrier/node.key'
(cd "$WS" && "$CARRIER" keygen --type operator -o op.key >/dev/null)
ven=$("$CARRIER" keygen --type vendor -o "$WS/vendor.key")
export CARRIER_KEY=$WS/vendor.key
machine() { # machine H: a node key on "machine" H, its .pub on the workstation
	mkdir -p "$T/$1/etc" "$T/$1/var"
	"$CARRIER" keygen --type node -o "$T/$1/etc/node.key" >/dev/null
	cp "$T/$1/etc/node.key.pub" "$WS/node-$1.key.pub"
	PORT[$1]=$(free_port)
	MPORT[$1]=$(free_port)
}
for h in a b c; do machine $h; done

# ---- 2. Ring init ----------------------------------------------------------
in_guide 'carrier ring init --operator op.key \'
(cd "$WS" && "$CARRIER" ring init --operator op.key \
	--node "node-a.key.pub@127.0.0.1:${PORT[a]}" \
	--node "node-b.key.pub@127.0.0.1:${PORT[b]}" \
	--node "node-c.key.pub@127.0.0.1:${PORT[c]}" -o ring >/dev/null)
grep -q '^# epoch 1,' "$WS/ring" || fail "ring init did not write epoch 1"

# ---- 3. Distribute, 4. check and start -------------------------------------
distribute() { for h in "$@"; do cp "$WS/ring" "$T/$h/etc/ring"; done; }
node_conf() { # the example config with this machine's paths and ports
	sed -e "s#/etc/carrier#$T/$1/etc#g" -e "s#/var/lib/carrier#$T/$1/var#" \
		-e "s#0.0.0.0:7000#127.0.0.1:${PORT[$1]}#" \
		-e "s#127.0.0.1:9100#127.0.0.1:${MPORT[$1]}#" \
		"$KORHAL_SRC/deploy/systemd/node.conf.example" >"$T/$1/etc/node.conf"
}
start() { # what the unit's ExecStartPre and ExecStart run
	local out
	out=$("$CARRIER_NODE" --config "$T/$1/etc/node.conf" --check 2>&1) ||
		fail "node $1 --check: $out"
	[ "$out" = "configuration OK" ] || fail "node $1 --check said: $out"
	"$CARRIER_NODE" --config "$T/$1/etc/node.conf" >>"$T/node-$1.log" 2>&1 &
	NPID[$1]=$!
	PIDS+=("$!")
}
metric() { # metric H NAME: the value, empty when the node does not answer
	curl -sf "http://127.0.0.1:${MPORT[$1]}/metrics" 2>/dev/null |
		awk -v m="$2" '$1 == m { print $2 }'
}
epoch_is() { [ "$(metric "$1" carrier_node_ring_epoch)" = "$2" ]; }
in_guide 'carrier-node --config /etc/carrier/node.conf --check    # configuration OK'
distribute a b c
for h in a b c; do node_conf $h; start $h; done
for h in a b c; do wait_until 10 epoch_is $h 1 || fail "node $h not serving epoch 1"; done
in_guide 'carrier ring status --ring ring      # every node: up, rtt, the epoch it runs'
status() { "$CARRIER" ring status --ring "$WS/ring" 2>&1; }
all_up() { # all_up N EPOCH: ring status shows N nodes, all up at EPOCH
	local out
	out=$(status) || return 1
	[ "$(grep -cE " up .* epoch $2( |$)" <<<"$out")" = "$1" ]
}
wait_until 10 all_up 3 1 || fail "ring status: $(status)"
ok "three nodes up at epoch 1: $(status | tail -1)"

# A device on the ring.
dev=$("$CARRIER" keygen --type device -o "$T/dev.key")
mkdir -p "$T/dev"
cp "$WS/ring" "$T/dev/ring"
"$CARRIER_AGENT" --key "$T/dev.key" --ring "$T/dev/ring" --data "$T/dev/var" \
	--keepalive 1s --allow "$ven:8080" >>"$T/agent.log" 2>&1 &
agent=$!
PIDS+=("$agent")
export CARRIER_RING=$WS/ring
wait_until 15 online "$dev" || fail "device never attached"
ok "device $dev attached"

# ---- Adding a fourth node --------------------------------------------------
in_guide 'carrier ring add-node --operator op.key --ring ring node-d.key.pub@192.0.2.4:7000   # epoch 2'
in_guide 'systemctl reload carrier-node     # SIGHUP: re-reads the ring'
machine d
(cd "$WS" && "$CARRIER" ring add-node --operator op.key --ring ring \
	"node-d.key.pub@127.0.0.1:${PORT[d]}" >/dev/null)
distribute a b c d
for h in a b c; do kill -HUP "${NPID[$h]}"; done
node_conf d
start d
for h in a b c d; do wait_until 10 epoch_is $h 2 || fail "node $h not at epoch 2"; done
wait_until 10 all_up 4 2 || fail "ring status after add-node: $(status)"
grep -q 'configuration reloaded (ring epoch 2)' "$T/node-a.log" || fail "no reload logged"
ok "fourth node added: $(status | tail -1)"

# ---- Retiring a node -------------------------------------------------------
in_guide 'carrier ring remove-node --operator op.key --ring ring node-b.key.pub   # epoch 3'
in_guide 'ssh root@node-b systemctl disable --now carrier-node'
(cd "$WS" && "$CARRIER" ring remove-node --operator op.key --ring ring node-b.key.pub >/dev/null)
distribute a c d
for h in a c d; do kill -HUP "${NPID[$h]}"; done
for h in a c d; do wait_until 10 epoch_is $h 3 || fail "node $h not at epoch 3"; done
kill -TERM "${NPID[b]}"
wait "${NPID[b]}" || fail "node b did not stop cleanly"
cp "$WS/ring" "$T/dev/ring"
kill -HUP "$agent"
wait_until 10 all_up 3 3 || fail "ring status after remove-node: $(status)"
status | grep -q "$(cut -c1-20 "$WS/node-b.key.pub")" && fail "node b still listed"
wait_until 20 online "$dev" || fail "device lost after node b retired"
ok "node b retired, device still online"

# ---- Upgrading: restart one node, its state survives -----------------------
in_guide 'State
(`node.mdb`: presence records, the operator pin) survives restarts.'
records=$(metric a carrier_node_presence_records)
kill -TERM "${NPID[a]}"
wait "${NPID[a]}" || fail "node a did not stop cleanly"
start a
wait_until 10 epoch_is a 3 || fail "node a did not come back"
[ "$(metric a carrier_node_presence_records)" = "$records" ] ||
	fail "node a had $records records, has $(metric a carrier_node_presence_records) after restart"
wait_until 10 all_up 3 3 || fail "ring status after restart: $(status)"
# The device notices the restart by its keepalives and re-attaches.
wait_until 20 sh -c '"$0" ping "$1" -c 1 >"$2" 2>&1' "$CARRIER" "$dev" "$T/ping.out" ||
	fail "ping after upgrade: $(cat "$T/ping.out")"
ok "node a restarted with its $records records; device answers ping"

# ---- Metrics and logs ------------------------------------------------------
names=$(sed -n '/^\*\*Metrics and logs/,/^$/p' <<<"$guide" | grep -o 'carrier_node_[a-z_]*' | sort -u)
[ "$(wc -l <<<"$names")" -ge 8 ] || fail "the guide names too few metrics: $names"
m=$(curl -sf "http://127.0.0.1:${MPORT[a]}/metrics")
for n in $names; do
	grep -q "^$n[ {]" <<<"$m" || fail "metric $n named by the guide is not served"
done
grep -q 'listening on' "$T/node-a.log" || fail "no start line in the log"
grep -q "device $dev attached" "$T/node-a.log" "$T/node-c.log" "$T/node-d.log" ||
	fail "no attach line logged at info"
ok "the $(wc -l <<<"$names") metrics the guide names are served; logs as described"
