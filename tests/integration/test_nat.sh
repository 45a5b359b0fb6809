#!/usr/bin/env bash
# NAT traversal lab in network namespaces (addresses only in 198.18.0.0/15).
#
#   internet  kn<R>-i: a bridge holding two ring nodes, 198.18.0.10:7000
#             and 198.18.0.11:7000
#   sites     for each pair, a vendor site and a device site, each a NAT
#             router namespace (public 198.18.1.N / 198.18.2.N on the
#             internet bridge) with a LAN bridge 198.19.0.1/24 and one host
#             198.19.0.2 behind it: both sites use the same private address,
#             so only authenticated probes tell the peer from our own echo.
#
# NAT behaviours (RFC 4787) and the nftables rules that make them on Linux:
#   full        endpoint-independent mapping (masquerade keeps the source
#               port when it is free) + endpoint-independent filtering: a
#               prerouting DNAT of every inbound UDP port to the inside host
#               (port unchanged), so anyone may send to a mapping.
#   restricted  EIM + address-dependent filtering: a forward rule adds every
#               destination the inside host sends to into a dynamic set
#               (timeout 2 min), and the prerouting DNAT applies only to
#               sources in that set, whatever their port.
#   port        EIM + address-and-port-dependent filtering: plain
#               masquerade; only conntrack replies (exact 5-tuple) get in.
#   symmetric   endpoint-dependent mapping: masquerade fully-random (iptables: --random-fully), a new
#               random public port per destination; conntrack filtering.
# Every router drops unsolicited packets addressed to itself, as a router's
# firewall does: without it Linux keeps a conntrack entry for a peer's early
# probe to the router itself, and the inside host's later mapping toward
# that peer gets another port (the "late side" trap).
#   blocked     port-restricted for TCP, every UDP datagram dropped: the
#               agent and the CLI notice that no node answers over UDP and
#               reach the ring over TLS on the nodes' ports (--tcp), relayed.
#   same        both peers behind one port-restricted NAT, on one LAN
#               (vendor 198.19.0.3, device 198.19.0.2): local candidates.
#
# Every pair: `carrier connect -v` to the device's HTTP server, a 16 MB
# download whose sha256 must match (test_connect moves 100 MB on one path), and the path: direct where possible
# (both EIM; symmetric against full or restricted cone through the
# peer-reflexive address), relayed otherwise.  The time from the connect
# request to the direct path is printed, and its median must be under 1 s.
# In the full/full pair the direct path is cut in the middle of a download
# (nftables drop at the vendor's router): the session falls back to the
# relay, punches again once the path is back, and the download completes.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "SKIP: network namespaces need root"; exit 77; }
command -v nft >/dev/null || { echo "SKIP: nftables (nft) is not installed"; exit 77; }
R=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
ip netns add "kn$R-probe" 2>/dev/null || { echo "SKIP: cannot create network namespaces here"; exit 77; }
ip netns del "kn$R-probe"

NS=()
lab_exit() {
	local rc=$?
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	sleep 0.2
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	for ns in "${NS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
	(exit "$rc")
	cleanup
}
trap lab_exit EXIT

I=kn$R-i
inet() { ip netns exec "$I" "$@"; }
netns() { ip netns add "$1"; NS+=("$1"); ip -n "$1" link set lo up; }

netns "$I"
# A bridge takes the lowest MAC address of its ports unless it has its own:
# when a finished pair's port leaves, the nodes' MAC would change under the
# routers' ARP caches, and the next pair would lose the nodes until those
# entries expire (half a minute).  So every bridge gets a fixed address.
ip -n "$I" link add br0 address 02:00:c6:12:00:0a type bridge
ip -n "$I" addr add 198.18.0.10/16 dev br0
ip -n "$I" addr add 198.18.0.11/16 dev br0
ip -n "$I" link set br0 up

"$CARRIER" keygen --type operator -o "$T/op.key" >/dev/null
args=()
for i in 0 1; do
	"$CARRIER" keygen --type node -o "$T/node$i.key" >/dev/null
	args+=(--node "$T/node$i.key.pub@198.18.0.1$i:7000")
done
"$CARRIER" ring init --operator "$T/op.key" "${args[@]}" -o "$T/ring" >/dev/null
export CARRIER_RING=$T/ring
for i in 0 1; do
	# Not through inet(): a function in the background is a subshell,
	# and $! would name it instead of the node, which cleanup must kill.
	ip netns exec "$I" "$CARRIER_NODE" --key "$T/node$i.key" --ring "$T/ring" \
		--listen "198.18.0.1$i:7000" --tcp "198.18.0.1$i:7000" --data "$T/node$i.d" \
		--metrics "198.18.0.1$i:9100" >>"$T/node$i.log" 2>&1 &
	PIDS+=("$!")
done
"$CARRIER" keygen --type vendor -o "$T/ven.key" >/dev/null
ven_id=$("$CARRIER" id "$T/ven.key")
export CARRIER_KEY=$T/ven.key

mkdir -p "$T/www"
PAIR_MB=16
head -c $((PAIR_MB * 1000000)) /dev/urandom > "$T/www/big.bin"
want=$(sha256sum < "$T/www/big.bin" | cut -d' ' -f1)
# The download the full/full pair cuts: 12 s at 2 MB/s, longer than the cut
# and the new punch take, so the stream lives through both path changes.
head -c 24000000 /dev/urandom > "$T/www/cut.bin"
want_cut=$(sha256sum < "$T/www/cut.bin" | cut -d' ' -f1)

# router NAME PUBLIC_IP BEHAVIOUR INSIDE_HOST: a NAT router namespace.
router() {
	local r=kn$R-r$1 pub=$2 how=$3 host=$4
	netns "$r"
	ip link add wan netns "$r" type veth peer name "w$1" netns "$I"
	ip -n "$I" link set "w$1" master br0 up
	ip -n "$r" addr add "$pub/16" dev wan
	ip -n "$r" link set wan up
	ip -n "$r" link add lan address 02:00:c6:13:00:01 type bridge
	ip -n "$r" addr add 198.19.0.1/24 dev lan
	ip -n "$r" link set lan up
	ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
	local masq="masquerade" pre="" fwd="" set=""
	case $how in
	full) pre="iifname \"wan\" udp dport 1024-65535 dnat to $host" ;;
	restricted)
		set="set contacted { type ipv4_addr; flags dynamic,timeout; timeout 2m; }"
		fwd="oifname \"wan\" update @contacted { ip daddr }"
		pre="iifname \"wan\" ip saddr @contacted udp dport 1024-65535 dnat to $host" ;;
	port) ;;
	symmetric) masq="masquerade fully-random" ;;
	blocked) fwd="meta l4proto udp drop" ;;
	*) fail "unknown NAT behaviour $how" ;;
	esac
	ip netns exec "$r" nft -f - <<NFT
table ip nat {
	$set
	chain lab_in {
		type filter hook input priority filter;
		iifname "wan" ct state new drop
	}
	chain lab_fwd {
		type filter hook forward priority filter;
		$fwd
	}
	chain lab_pre {
		type nat hook prerouting priority dstnat;
		$pre
	}
	chain lab_post {
		type nat hook postrouting priority srcnat;
		oifname "wan" $masq
	}
}
NFT
}

# host ROUTER NAME IP: a host namespace on the router's LAN.
host() {
	local r=kn$R-r$1 h=kn$R-h$2
	netns "$h"
	ip link add eth0 netns "$h" type veth peer name "h$2" netns "$r"
	ip -n "$r" link set "h$2" master lan up
	ip -n "$h" addr add "$3/24" dev eth0
	ip -n "$h" link set eth0 up
	ip -n "$h" route add default via 198.19.0.1
}

drop_ns() {
	local keep=()
	for ns in "${NS[@]}"; do
		if [[ " $* " == *" $ns "* ]]; then ip netns del "$ns"; else keep+=("$ns"); fi
	done
	NS=("${keep[@]}")
}

# lab_diag N DEVICE_HOST VENDOR_HOST: the state of pair N's lab, for
# whoever debugs a failure (addresses, routes, bridge ports, reachability,
# conntrack on the routers).
lab_diag() {
	local n=$1 r ns
	echo "--- internet bridge"
	ip -n "$I" -br link show master br0 || true
	ip -n "$I" neigh show || true
	for ns in "$2" "$3"; do
		echo "--- $ns"
		ip -n "$ns" -br addr || true
		ip -n "$ns" route || true
		ip -n "$ns" neigh || true
		ip netns exec "$ns" ping -c1 -W1 198.19.0.1 | tail -2 || true
		ip netns exec "$ns" ping -c1 -W1 198.18.0.10 | tail -2 || true
	done
	for r in "kn$R-r$n" "kn$R-rv$n" "kn$R-rd$n"; do
		[ -e "/run/netns/$r" ] || continue
		echo "--- $r"
		ip -n "$r" -br link || true
		ip -n "$r" -br addr || true
		ip -n "$r" neigh || true
		ip netns exec "$r" sysctl net.ipv4.ip_forward || true
		ip netns exec "$r" conntrack -L 2>&1 | head -20 || true
		ip netns exec "$r" nft list ruleset 2>&1 | head -40 || true
	done
}

DIRECT_MS=()
# pair N VENDOR_NAT DEVICE_NAT EXPECT(direct|relayed) [cut|tcp]
pair() {
	local n=$1 vnat=$2 dnat=$3 expect=$4 cut=${5:-} cliflags=()
	if [ "$cut" = tcp ]; then cut=""; cliflags=(--tcp); fi
	local hv=kn$R-hv$n hd=kn$R-hd$n pids=() vpub=198.18.1.$n dpub=198.18.2.$n
	local name="$vnat/$dnat"
	# KORHAL_NAT_PAIRS="full/port same/same": run only those (debugging).
	if [ -n "${KORHAL_NAT_PAIRS:-}" ] && [[ " $KORHAL_NAT_PAIRS " != *" $name "* ]]; then
		return 0
	fi
	if [ "$vnat" = same ]; then
		router "$n" 198.18.1."$n" port 198.19.0.2
		host "$n" "d$n" 198.19.0.2
		host "$n" "v$n" 198.19.0.3
		dpub=$vpub
		name="same NAT"
	else
		router "v$n" "$vpub" "$vnat" 198.19.0.2
		router "d$n" "$dpub" "$dnat" 198.19.0.2
		host "v$n" "v$n" 198.19.0.2
		host "d$n" "d$n" 198.19.0.2
	fi
	local dev_id
	dev_id=$("$CARRIER" keygen --type device -o "$T/dev$n.key")
	ip netns exec "$hd" python3 -m http.server 8080 --bind 127.0.0.1 \
		--directory "$T/www" >>"$T/http$n.log" 2>&1 &
	pids+=("$!"); PIDS+=("$!")
	ip netns exec "$hd" "$CARRIER_AGENT" --key "$T/dev$n.key" --ring "$T/ring" \
		--data "$T/dev$n.d" --keepalive 1s --attach 2 \
		--allow "$ven_id:8080" >>"$T/dev$n.log" 2>&1 &
	pids+=("$!"); PIDS+=("$!")
	two_live() {
		ip netns exec "$hv" "$CARRIER" lookup "$dev_id" --json 2>/dev/null |
			grep -o '"live":true' | wc -l | grep -q '^2$'
	}
	if ! wait_until 30 two_live; then
		# What the nodes saw, for whoever debugs this.
		for i in 0 1; do
			echo "--- node $i metrics"
			inet curl -sf "http://198.18.0.1$i:9100/metrics" |
				grep -E '^carrier_node_(sessions|devices|drops_total.*[1-9][0-9]*$|handshakes)' || true
		done
		lab_diag "$n" "$hd" "$hv"
		fail "$name: device not attached to both nodes: $(tail -20 "$T/dev$n.log")"
	fi
	ip netns exec "$hv" "$CARRIER" connect "$dev_id" 8080 -L 127.0.0.1:8000 -v "${cliflags[@]}" \
		>>"$T/connect$n.log" 2>&1 &
	pids+=("$!"); PIDS+=("$!")
	# The device's HTTP server may still be starting on a loaded machine.
	wait_until 30 ip netns exec "$hv" curl -sf http://127.0.0.1:8000/ -o /dev/null ||
		fail "$name: tunnel never came up: $(cat "$T/connect$n.log")"
	# Both ends tell from two nodes' view whether their NAT maps
	# endpoint-independently (not over TCP, where no node sees an address).
	local side nat log
	for side in v d; do
		if [ $side = v ]; then nat=$vnat; log=$T/connect$n.log; else nat=$dnat; log=$T/dev$n.log; fi
		[ "$nat" = same ] && nat=port
		case $nat in
		symmetric) want_map="NAT maps endpoint-dependently" ;;
		blocked) continue ;;
		*) want_map="NAT maps endpoint-independently" ;;
		esac
		wait_until 15 grep -q "reflexive address .*$want_map" "$log" ||
			fail "$name: $side side does not report '$want_map': $(grep -h 'reflexive' "$log")"
	done
	if [ "$expect" = direct ]; then
		wait_until 20 grep -q "path changed: direct" "$T/connect$n.log" ||
			fail "$name: no direct path: $(cat "$T/connect$n.log")"
	fi
	local t0 t1 got
	t0=$(date +%s%N)
	got=$(ip netns exec "$hv" curl -sf http://127.0.0.1:8000/big.bin | sha256sum | cut -d' ' -f1)
	t1=$(date +%s%N)
	[ "$got" = "$want" ] || fail "$name: $PAIR_MB MB download does not match"
	local mbs=$(( PAIR_MB * 1000 / ((t1 - t0) / 1000000 + 1) ))
	local path
	if [ "$expect" = direct ]; then
		local ms addr
		ms=$(sed -n 's/.*path changed: direct .* (\([0-9]*\) ms after.*/\1/p' "$T/connect$n.log" | head -1)
		addr=$(sed -n 's/.*path changed: direct \([0-9.:]*\) .*/\1/p' "$T/connect$n.log" | head -1)
		if [ "$vnat" = same ]; then
			[[ $addr == 198.19.0.2:* ]] || fail "$name: direct path $addr is not the LAN address"
		else
			[[ $addr == "$dpub":* ]] || fail "$name: direct path $addr is not the device NAT's $dpub"
		fi
		DIRECT_MS+=("$ms")
		path="direct $addr after $ms ms"
	else
		grep -q "connected to .*relayed via node_" "$T/connect$n.log" ||
			fail "$name: not relayed: $(cat "$T/connect$n.log")"
		if [ "$vnat" = blocked ]; then
			grep -q "connected to .*relayed via node_.* over TCP" "$T/connect$n.log" ||
				fail "$name: the CLI is not on TCP: $(cat "$T/connect$n.log")"
		fi
		if [ "$dnat" = blocked ]; then
			grep -q "reaching the ring over TCP\|attached to node .* as \[100::" "$T/dev$n.log" ||
				fail "$name: the agent is not on TCP: $(tail -5 "$T/dev$n.log")"
		fi
		grep -q "direct" "$T/connect$n.log" &&
			fail "$name: a direct path where none can exist: $(cat "$T/connect$n.log")"
		path="relayed"
	fi
	ok "$(printf '%-22s %-8s %d MB sha256 ok, %4d MB/s, %s' "$name" "$expect" "$PAIR_MB" "$mbs" "$path")"

	if [ -n "$cut" ]; then
		# The relaying node counts the session as direct once its route
		# has gone quiet (and as relayed while the cut lasts, below).
		direct_count() {
			local sum=0 v
			for i in 0 1; do
				v=$(inet curl -sf "http://198.18.0.1$i:9100/metrics" |
					sed -n "s/^carrier_node_sessions_$1 //p")
				sum=$((sum + ${v:-0}))
			done
			echo "$sum"
		}
		direct_seen() { [ "$(direct_count direct)" -ge 1 ]; }
		relayed_seen() { [ "$(direct_count relayed)" -ge 1 ]; }
		wait_until 30 direct_seen ||
			fail "$name: node metrics never count the direct session: direct=$(direct_count direct) relayed=$(direct_count relayed)"
		ok "node metrics: sessions_direct=$(direct_count direct) sessions_relayed=$(direct_count relayed)"
		# Cut the direct path mid-download; the stream must survive the
		# move to the relay and back to a new direct path.
		local rv=kn$R-rv$n
		( set +e; ip netns exec "$hv" curl -s --limit-rate 2M \
			"http://127.0.0.1:8000/cut.bin" -o "$T/cut$n.bin"; echo "rc=$?" >"$T/cut$n.rc" ) &
		sleep 1.5
		ip netns exec "$rv" nft add rule ip nat lab_fwd ip saddr "$dpub" meta l4proto udp drop
		ip netns exec "$rv" nft add rule ip nat lab_fwd ip daddr "$dpub" meta l4proto udp drop
		wait_until 30 grep -q "path changed: relayed via" "$T/connect$n.log" ||
			fail "$name: no fallback to the relay: $(cat "$T/connect$n.log")"
		ok "direct path cut: $(grep 'path changed: relayed' "$T/connect$n.log" | head -1)"
		wait_until 20 relayed_seen || fail "$name: node metrics do not count the relayed session"
		ok "node metrics while cut: sessions_relayed=$(direct_count relayed)"
		sleep 1
		ip netns exec "$rv" nft flush chain ip nat lab_fwd
		wait_until 20 sh -c "grep -c 'path changed: direct' '$T/connect$n.log' | grep -q '^2$'" ||
			fail "$name: no new direct path after the cut healed: $(cat "$T/connect$n.log")"
		ok "direct again: $(grep 'path changed: direct' "$T/connect$n.log" | tail -1)"
		wait_until 40 test -f "$T/cut$n.rc" || fail "$name: download hangs after the path changes"
		grep -q "rc=0" "$T/cut$n.rc" || fail "$name: download failed across path changes: $(cat "$T/cut$n.rc")"
		[ "$(sha256sum < "$T/cut$n.bin" | cut -d' ' -f1)" = "$want_cut" ] ||
			fail "$name: download corrupted across path changes"
		ok "the download survived direct -> relayed -> direct, sha256 ok"
	fi
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	drop_ns "$hv" "$hd" "kn$R-rv$n" "kn$R-rd$n" "kn$R-r$n"
}

n=0
pair $((++n)) same same direct
pair $((++n)) full full direct cut
pair $((++n)) full restricted direct
pair $((++n)) full port direct
pair $((++n)) full symmetric direct
pair $((++n)) restricted restricted direct
pair $((++n)) restricted port direct
pair $((++n)) restricted symmetric direct
pair $((++n)) port port direct
pair $((++n)) port symmetric relayed
pair $((++n)) symmetric symmetric relayed
pair $((++n)) symmetric full direct
pair $((++n)) blocked full relayed
pair $((++n)) restricted blocked relayed
pair $((++n)) blocked port relayed
pair $((++n)) symmetric blocked relayed
pair $((++n)) blocked blocked relayed tcp

count=${#DIRECT_MS[@]}
[ "$count" -gt 0 ] || { echo "PASS (no direct pair selected)"; exit 0; }
sorted=$(printf '%s\n' "${DIRECT_MS[@]}" | sort -n)
p50=$(sed -n "$(( (count + 1) / 2 ))p" <<<"$sorted")
echo "connect request -> direct path (ms): $(tr '\n' ' ' <<<"$sorted")"
# A figure, not an assertion: a busy machine must not fail the NAT lab.
ok "median time from connect request to direct path: $p50 ms over $count pairs"
echo "PASS"
