#!/usr/bin/env bash
# Monitoring traffic (issue 15's bench; docs/fleet.md "Monitoring"): what a
# device's health records cost per day at the default --health-interval
# (5 min), against an MQTT client publishing the same fields every minute.
# A 3-node loopback ring and N simulated devices (tests/tools/fleetsim.c,
# each signing a real health record with its own key: the same HealthBody
# the agent sends, with a device's figures) give the record's size on the
# wire (UDP payload: session header, record, AEAD tag) and what the nodes
# keep per record (LMDB pages of their fleet table over its entries).  MQTT's side is computed from the protocol (MQTT
# 3.1.1 PUBLISH, QoS 0, over TLS 1.3 and TCP/IPv4) for the same fields as
# JSON: mosquitto_pub is used for the payload only if installed.  Not a
# test: nothing here is asserted.
#
#   bench/monitor.sh [N]     (default 200; KORHAL_BUILD, default ./build)
#
# Writes bench/results/monitor-DATE.txt.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${KORHAL_BUILD:-$root/build}
n=${1:-200}
for t in ring-node/carrier-node cli/carrier tests/integration/fleetsim device-agent/archon/archon; do
	[ -x "$build/$t" ] || { echo "monitor: $build/$t missing: build first" >&2; exit 1; }
done
export CARRIER_NODE=$build/ring-node/carrier-node CARRIER_AGENT=$build/device-agent/carrier-agent
export CARRIER=$build/cli/carrier FLEETSIM=$build/tests/integration/fleetsim
export ARCHON=$build/device-agent/archon/archon KORHAL_SRC=$root
out=$root/bench/results/monitor-$(date -u +%Y%m%d-%H%M%S).txt
. "$root/tests/integration/lib.sh"
. "$root/tests/integration/rollout_lib.sh"
SIM_N=$n
NODE_FLAGS="--presence-new-per-addr 0"
# What the nodes keep per health record: the LMDB pages of their "fleet"
# table (in this ring it holds only the health records) over its entries,
# summed over the nodes (each record is kept by the device's home nodes).
fleet_stat() {
	local f pages=0 entries=0 b l o e
	for f in "$T"/node*.d/node.mdb; do
		read -r b l o e < <(mdb_stat -n -s fleet "$f" | awk '
			/Branch pages/ {b=$3} /Leaf pages/ {l=$3} /Overflow pages/ {o=$3}
			/Entries/ {e=$2} END {print b+0, l+0, o+0, e+0}')
		pages=$((pages + b + l + o))
		entries=$((entries + e))
	done
	echo "$pages $entries"
}
rss_kib() {
	local p sum=0 v
	for p in "${NODE_PID[@]}"; do
		v=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$p/status")
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

rollout_setup
start_sim sim
wait_until 300 all_attached "$n" || fail "the $n simulated devices did not attach"
sleep 3
kill -USR1 "$SIM_PID"; sleep 1
read -r _ healths _ health_bytes <"$T/sim/health.txt"
read -r fleet_pages fleet_entries < <(fleet_stat)
psize=$(getconf PAGESIZE)
[ "$healths" -gt 0 ] || fail "no health record sent"
rec=$((health_bytes / healths))
ip_udp=28
per_day_korhal=$(( (rec + ip_udp) * 86400 / 300 ))

# MQTT: the same fields as JSON, a topic naming the device.
topic="fleet/dev_$(printf 'a%.0s' $(seq 1 58))/health"
payload='{"seq":1733390000000,"uptime_s":1123500,"load1":0.52,"load5":0.58,"load15":0.59,"mem_total":16710254592,"mem_avail":8123456512,"flash_free":21583712256,"temp_c":47.5}'
rem=$((2 + ${#topic} + ${#payload}))
if [ "$rem" -lt 128 ]; then rl=1; else rl=2; fi
publish=$((1 + rl + rem))
tls=22   # TLS 1.3 record: 5 header + 1 inner type + 16 tag
tcp_ip=40
ack=40   # the broker's TCP ACK (one per publish unless piggybacked)
mqtt_pkt=$((publish + tls + tcp_ip))
per_day_mqtt=$(( (mqtt_pkt + ack) * 1440 ))
have_mosq=no; command -v mosquitto_pub >/dev/null && have_mosq=yes
{
	echo "# bench/monitor.sh, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "# machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "devices: $n simulated, 3 nodes on loopback; health records sent: $healths"
	echo "korhal health record on the wire: $rec bytes UDP payload (+ $ip_udp IPv4/UDP) = $((rec + ip_udp)) bytes, signed by the device, no reply"
	echo "korhal at the default --health-interval 5m: 288 a day = $per_day_korhal bytes a device a day ($((per_day_korhal / 1024)) KiB)"
	echo "MQTT 3.1.1 PUBLISH QoS 0 of the same fields as JSON (${#payload} bytes, topic ${#topic}): $publish bytes,"
	echo "  over TLS 1.3 + TCP/IPv4: $mqtt_pkt bytes, + $ack the broker's ACK; every minute: $per_day_mqtt bytes a device a day ($((per_day_mqtt / 1024)) KiB)"
	echo "  (computed from the protocol; mosquitto_pub installed: $have_mosq; unsigned, MQTT keepalives not counted, nor Korhal's: both keep a NAT path open either way)"
	echo "ratio MQTT/minute : korhal/5 min = $(( per_day_mqtt * 10 / per_day_korhal / 10 )).$(( per_day_mqtt * 10 / per_day_korhal % 10 ))"
	echo "same rate (korhal every minute): $(( (rec + ip_udp) * 1440 )) bytes a device a day"
	if [ "$fleet_entries" -gt 0 ]; then
		echo "node storage: $fleet_entries health records held on 3 nodes in $fleet_pages LMDB pages of $psize bytes:" \
			"$((fleet_pages * psize / fleet_entries)) bytes a record held, $((fleet_pages * psize / n)) bytes a device over the ring" \
			"(the record itself: $rec bytes with its session framing); nodes' resident memory now $(rss_kib) KiB for $n devices"
	fi
} | tee "$out"
