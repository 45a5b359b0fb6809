#!/usr/bin/env bash
# Archon on a real update workload, beside casync, OSTree and a tar.gz layer.
#
#   bench/archon/run.sh            (KORHAL_BUILD=DIR picks the build, default ./build)
#
# The workload comes from Debian's archive only: the bookworm packages of
# bench/archon/packages.txt (versions and sha256 pinned) unpacked as an image,
# in three versions that differ by OpenSSL: v0 = 3.0.17 (bookworm-updates),
# v1 = 3.0.20 (bookworm point release), v2 = 3.0.22 (bookworm-security,
# the update measured).  In one run it measures, for v1 -> v2: the bytes a
# device downloads with archon pull (counted by nginx on 127.0.0.1), with
# casync (new chunks + index, its default 64 KiB average), with OSTree's
# static delta, and as a .tar.gz of the changed files; the disk used by three
# checked-out versions; chunking MB/s (one core, CPU time) and import MB/s
# beside casync make and ostree commit; pull time.  Writes
# bench/results/archon.{txt,json}.  Work folder: $ARCHON_BENCH_DIR
# (default /tmp/archon-bench; the downloaded .debs are kept there).
#
# The image is "slim" as Debian's container images are (their dpkg
# path-exclude rules: no /usr/share/doc except copyright files, no man,
# info, groff, lintian or locale files); ARCHON_BENCH_DOCS=1 keeps them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$root/scripts/deps.sh"
build=${KORHAL_BUILD:-$root/build}
W=${ARCHON_BENCH_DIR:-/tmp/archon-bench}
pkgs=$root/bench/archon/packages.txt

korhal_install_packages casync ostree zstd nginx-light curl python3 cmake
if [ ! -x "$build/device-agent/archon/archon" ] || [ ! -x "$build/bench/ar_chunkbench" ] ||
	[ ! -x "$build/cli/carrier" ]; then
	cmake -S "$root" -B "$build" >/dev/null
	cmake --build "$build" -j2 --target archon ar_chunkbench carrier
fi
ARCHON=$build/device-agent/archon/archon

NGINX_PID=
cleanup() { [ -z "$NGINX_PID" ] || kill "$NGINX_PID" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# --- the workload -------------------------------------------------------------
mkdir -p "$W/debs"
echo "== downloading $(grep -vc '^#' "$pkgs") pinned packages from Debian's archive"
while read -r role pkg ver sha; do
	case $role in '#'* | '') continue ;; esac
	f=$W/debs/$pkg-$ver.deb
	if [ ! -f "$f" ]; then
		(cd "$W/debs" && rm -f ./*.tmp && apt-get -q download "$pkg=$ver" >/dev/null)
		mv "$(ls -t "$W/debs"/"${pkg}"_*.deb | head -n 1)" "$f"
	fi
	echo "$sha  $f" | sha256sum -c --quiet - || { echo "sha256 mismatch: $f" >&2; exit 1; }
done <"$pkgs"

rm -rf "$W/trees" "$W/run"
mkdir -p "$W/trees" "$W/run"
for v in v0 v1 v2; do
	mkdir -p "$W/trees/$v"
	while read -r role pkg ver sha; do
		case $role in base | "$v") dpkg-deb -x "$W/debs/$pkg-$ver.deb" "$W/trees/$v" ;; esac
	done < <(grep -v '^#' "$pkgs")
done
if [ "${ARCHON_BENCH_DOCS:-0}" != 1 ]; then
	for v in v0 v1 v2; do
		t=$W/trees/$v/usr/share
		find "$t/doc" -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || true
		find "$t/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
		rm -rf "$t/man" "$t/info" "$t/groff" "$t/lintian" "$t/linda" "$t/locale"
	done
	flavour="slim (no docs, man pages or locales, as Debian's container images)"
else
	flavour="with docs and man pages"
fi
size_v1=$(du -sb --apparent-size "$W/trees/v1" | cut -f1)
files_v1=$(find "$W/trees/v1" -type f | wc -l)
# The files v2 changes or adds, relative to v1.
(cd "$W/trees/v2" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$W/run/v2.sums"
(cd "$W/trees/v1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$W/run/v1.sums"
comm -13 <(sort "$W/run/v1.sums") <(sort "$W/run/v2.sums") | cut -c67- >"$W/run/changed"
changed_n=$(wc -l <"$W/run/changed")
changed_bytes=$(cd "$W/trees/v2" && tr '\n' '\0' <"$W/run/changed" | xargs -0 stat -c %s | awk '{s+=$1} END {print s}')
echo "== image: $files_v1 files, $size_v1 bytes; the update changes $changed_n files, $changed_bytes bytes"

secs() { python3 -c "import sys; print('%.2f' % (float(sys.argv[1]) / 1e9))" "$1"; }
timeit() { # VAR CMD...: runs CMD (output to the log), VAR = nanoseconds
	local var=$1 t0
	shift
	t0=$(date +%s%N)
	"$@" >>"$W/run/log" 2>&1
	printf -v "$var" '%d' $(($(date +%s%N) - t0))
}
mbps() { python3 -c "import sys; print('%.0f' % (float(sys.argv[1]) / (float(sys.argv[2]) / 1e9) / 1e6))" "$1" "$2"; }

# --- chunking speed -------------------------------------------------------------
mapfile -t v1files < <(find "$W/trees/v1" -type f -size +0)
chunk_line=$("$build/bench/ar_chunkbench" "${v1files[@]}")
chunk_mbps=$(sed -n 's/.*chunk_MBps \([0-9]*\).*/\1/p' <<<"$chunk_line")
chunk_hash_mbps=$(sed -n 's/.*chunk_hash_MBps \([0-9]*\).*/\1/p' <<<"$chunk_line")
echo "== chunking: $chunk_line"

# --- archon ---------------------------------------------------------------------
P=$W/run/archon-pub D=$W/run/archon-dev WWW=$W/run/www
for v in v0 v1 v2; do
	timeit t "$ARCHON" --store "$P" import "$W/trees/$v" "image:$v"
	[ "$v" = v1 ] && import_ns=$t
done
# Signed, as a real origin is: devices refuse unsigned manifests.
"$build/cli/carrier" keygen --type vendor -o "$W/run/vendor.key" >/dev/null
export ARCHON_PUBLISHER_KEY=$W/run/vendor.key.pub
for v in v0 v1 v2; do
	timeit t "$ARCHON" --store "$P" publish "image:$v" --to "$WWW" --bases 2 --key "$W/run/vendor.key"
	[ "$v" = v2 ] && publish_ns=$t
done
"$ARCHON" --store "$P" diff image:v1 image:v2 | tee -a "$W/run/log"

port=$(free_port)
cat >"$W/run/nginx.conf" <<CONF
daemon off;
user root;
worker_processes 1;
pid $W/run/nginx.pid;
error_log $W/run/nginx-error.log;
events { worker_connections 64; }
http {
	log_format bytes '\$request_uri \$status \$body_bytes_sent';
	access_log $W/run/access.log bytes;
	server { listen 127.0.0.1:$port; root $WWW; }
}
CONF
nginx -c "$W/run/nginx.conf" &
NGINX_PID=$!
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/refs/image/v1" && break; sleep 0.1; done
URL=http://127.0.0.1:$port
served() { awk '{s+=$3} END {print s+0}' "$W/run/access.log"; }
: >"$W/run/access.log"
timeit pull1_ns "$ARCHON" --store "$D" pull "$URL" image:v1
pull1_bytes=$(served)
: >"$W/run/access.log"
timeit pull2_ns "$ARCHON" --store "$D" pull "$URL" image:v2
archon_bytes=$(served)
archon_reqs=$(wc -l <"$W/run/access.log")
grep -A4 'image:v2' "$W/run/log" | tail -n 5 || true
"$ARCHON" --store "$D" pull "$URL" image:v0 >>"$W/run/log"
"$ARCHON" --store "$D" verify >>"$W/run/log"
for v in v0 v1 v2; do "$ARCHON" --store "$D" checkout "image:$v" "$W/run/co-$v"; done
three_disk=$(du -sbc "$W/run/co-v0" "$W/run/co-v1" "$W/run/co-v2" | tail -n 1 | cut -f1)
three_separate=$(for v in v0 v1 v2; do du -sb "$W/run/co-$v" | cut -f1; done | awk '{s+=$1} END {print s}')
distinct=$(find "$W/trees" -type f -exec sha256sum {} + | sort -u -k1,1 | cut -c67- |
	tr '\n' '\0' | xargs -0 stat -c %s | awk '{s+=$1} END {print s}')
linked=$(find "$W/run/co-v0" "$W/run/co-v1" "$W/run/co-v2" -type f -printf '%i %s\n' | sort -u |
	awk '{s+=$2} END {print s}')

# --- casync ---------------------------------------------------------------------
C=$W/run/casync
mkdir -p "$C"
timeit casync_v1_ns casync make --store="$C/store" "$C/v1.caidx" "$W/trees/v1"
find "$C/store" -type f -printf '%P\n' | sort >"$C/after-v1"
casync make --store="$C/store" "$C/v2.caidx" "$W/trees/v2" >>"$W/run/log" 2>&1
casync_chunks=$(cd "$C/store" && find . -type f -printf '%P\n' | sort | comm -13 "$C/after-v1" - |
	xargs -r stat -c %s | awk '{s+=$1} END {print s+0}')
casync_bytes=$((casync_chunks + $(stat -c %s "$C/v2.caidx")))

# --- OSTree ---------------------------------------------------------------------
O=$W/run/ostree
ostree --repo="$O" init --mode=archive
timeit ostree_v1_ns ostree --repo="$O" commit -b image --tree=dir="$W/trees/v1" --no-xattrs
r1=$(ostree --repo="$O" rev-parse image)
ostree --repo="$O" commit -b image --tree=dir="$W/trees/v2" --no-xattrs >>"$W/run/log"
r2=$(ostree --repo="$O" rev-parse image)
ostree --repo="$O" static-delta generate --from="$r1" --to="$r2" >>"$W/run/log" 2>&1
ostree_bytes=$(find "$O/deltas" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')

# --- the changed files as a .tar.gz layer ----------------------------------------
tar -C "$W/trees/v2" -czf "$W/run/changed.tar.gz" -T "$W/run/changed"
targz_bytes=$(stat -c %s "$W/run/changed.tar.gz")

# --- report ---------------------------------------------------------------------
ratio=$(python3 -c "import sys; print('%.3f' % (int(sys.argv[1]) / int(sys.argv[2])))" "$archon_bytes" "$casync_bytes")
verdict() { python3 -c "import sys; print('met' if eval(sys.argv[1]) else 'NOT met')" "$1"; }
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
mkdir -p "$root/bench/results"
{
	echo "Archon benchmark, $stamp"
	echo "machine: $cpu, $(nproc) cores, $(awk '/MemTotal/ {printf "%d MB", $2/1024}' /proc/meminfo), Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "workload: $(grep -c '^base' "$pkgs") bookworm packages + libssl3/openssl, $flavour; v1 = OpenSSL 3.0.20, v2 = 3.0.22"
	echo "image v1: $files_v1 files, $size_v1 bytes; v1 -> v2 changes $changed_n files, $changed_bytes bytes"
	echo
	echo "download for the update v1 -> v2 (bytes):"
	printf '  %-34s %12s\n' "archon pull (deltas + chunks)" "$archon_bytes" \
		"casync (64 KiB chunks + caidx)" "$casync_bytes" \
		"OSTree static delta" "$ostree_bytes" \
		"tar.gz of the changed files" "$targz_bytes"
	echo "  archon / casync = $ratio (target <= 0.15: $(verdict "$archon_bytes <= 0.15 * $casync_bytes"))"
	echo "  archon requests: $archon_reqs; first pull of v1: $pull1_bytes bytes"
	echo
	echo "disk for three checked-out versions (v0, v1, v2):"
	echo "  hard-linked checkouts (du): $three_disk bytes; as separate copies: $three_separate"
	echo "  regular files, each inode once: $linked bytes; distinct file contents: $distinct bytes ($(verdict "$linked <= $distinct"))"
	echo
	echo "speed (this machine, shared):"
	echo "  chunking, one core (CPU time): $chunk_mbps MB/s; with BLAKE2b ids: $chunk_hash_mbps MB/s (target >= 1000: $(verdict "$chunk_mbps >= 1000"))"
	echo "  import v1: archon $(mbps "$size_v1" "$import_ns") MB/s ($(secs "$import_ns") s), casync make $(mbps "$size_v1" "$casync_v1_ns") MB/s ($(secs "$casync_v1_ns") s), ostree commit $(mbps "$size_v1" "$ostree_v1_ns") MB/s ($(secs "$ostree_v1_ns") s)"
	echo "  archon publish v2 (chunks zstd -19, deltas from 2 versions): $(secs "$publish_ns") s"
	echo "  archon pull over HTTP on 127.0.0.1: v1 $(secs "$pull1_ns") s, v2 $(secs "$pull2_ns") s"
} | tee "$root/bench/results/archon.txt"
python3 - "$root/bench/results/archon.json" <<PY
import json, sys
json.dump({
  "when": "$stamp", "cpu": "$cpu", "cores": $(nproc), "loadavg": "$(cut -d' ' -f1-3 /proc/loadavg)",
  "image": "$flavour", "image_files": $files_v1, "image_bytes": $size_v1,
  "changed_files": $changed_n, "changed_bytes": $changed_bytes,
  "download_bytes": {"archon": $archon_bytes, "casync": $casync_bytes,
                     "ostree_static_delta": $ostree_bytes, "targz_changed": $targz_bytes},
  "archon_over_casync": $ratio,
  "three_versions": {"du_hardlinked": $three_disk, "separate": $three_separate,
                     "inodes_once": $linked, "distinct_files": $distinct},
  "chunk_MBps": $chunk_mbps, "chunk_hash_MBps": $chunk_hash_mbps,
  "import_s": {"archon": $(secs "$import_ns"), "casync": $(secs "$casync_v1_ns"), "ostree": $(secs "$ostree_v1_ns")},
  "pull_s": {"v1": $(secs "$pull1_ns"), "v2": $(secs "$pull2_ns")},
  "publish_v2_s": $(secs "$publish_ns"),
}, open(sys.argv[1], "w"), indent=1)
PY
