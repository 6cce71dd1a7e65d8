#!/usr/bin/env bash
# The main job on built-in defaults, between two nodes on this machine:
# the default node (instance "dwcp", listening on 0.0.0.0:7100) sends a
# 64 MiB VM-like image (zero, text and random 4 KiB pages) to a second node
# (instance "dwcp-peer", --listen 127.0.0.1:7101) as stream "demo", then
# sends it again after changing a few bytes in 5% of its pages, so only
# HDE deltas travel. Both copies are checked with sha256sum. Both sides
# print their summaries. The peer node is stopped at the end; the default
# node keeps running.
#
# Usage: deploy/demo.sh [SIZE_MiB]     (run by deploy/setup.sh; needs the default node up)
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "demo.sh: $*" >&2; exit 1; }
mib=${1:-64}
case "$mib" in ''|*[!0-9]*) die "SIZE_MiB must be a number, got '$mib'" ;; esac
B=build/bin
work=$(mktemp -d /var/tmp/dwcp-demo.XXXXXX)
peer_up=0
cleanup() {
	[ "$peer_up" -eq 0 ] || $B/dwcp-supervisor --instance dwcp-peer stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

timeout 10 $B/dwcpctl status >/dev/null 2>&1 </dev/null ||
	die "the default node is not running: build/bin/dwcp-supervisor start"

echo "== peer node (instance dwcp-peer, listening on 127.0.0.1:7101)"
if ! timeout 10 $B/dwcpctl --instance dwcp-peer status >/dev/null 2>&1 </dev/null; then
	$B/dwcp-supervisor --instance dwcp-peer start --listen 127.0.0.1:7101 >/dev/null </dev/null ||
		die "starting the peer node failed (its message is above)"
fi
peer_up=1

echo "== a ${mib} MiB image: zero, text and random 4 KiB pages"
pages=$((mib * 256))
text=$(printf 'dwcp moves VM memory between hosts. %.0s' $(seq 1 120) | head -c 4096)
: > "$work/image"
for ((i = 0; i < pages; i += 3)); do   # one zero, one text, one random page
	head -c 4096 /dev/zero
	printf '%s' "$text"
	head -c 4096 /dev/urandom
done > "$work/image"
truncate -s $((mib << 20)) "$work/image"

send_once() {   # $1: file, $2: label
	# One output for both sends: the receiver's previous copy of the stream
	# is where pages the sender found unchanged come from (they do not travel).
	local out="$work/received"
	$B/dwcp recv --instance dwcp-peer --stream demo --out "$out" --timeout 120 --no-progress \
		> "$work/recv.$2.log" 2>&1 &
	local rpid=$!
	sleep 0.2
	echo "-- sender (dwcp send --stream demo --file $1 --to 127.0.0.1:7101)"
	$B/dwcp send --stream demo --file "$1" --to 127.0.0.1:7101 || { kill $rpid 2>/dev/null; die "the send failed (above)"; }
	wait $rpid || { cat "$work/recv.$2.log"; die "the receive failed (above)"; }
	echo "-- receiver (dwcp recv --instance dwcp-peer --stream demo)"
	grep -v '^dwcp recv: waiting' "$work/recv.$2.log"
	local a b
	a=$(sha256sum < "$1" | cut -d' ' -f1)
	b=$(sha256sum < "$out" | cut -d' ' -f1)
	[ "$a" = "$b" ] || die "sha256 differs: sent $a, received $b"
	echo "-- sha256 identical: $a"
}

echo "== first send: the whole image"
send_once "$work/image" first

echo "== second send: 8 bytes changed in 5% of the pages (HDE: only deltas travel)"
cp "$work/image" "$work/image2"
for ((p = 7; p < pages; p += 20)); do
	printf 'CHANGED!' | dd of="$work/image2" bs=1 seek=$((p * 4096 + (p % 4000))) conv=notrunc status=none
done
send_once "$work/image2" second
