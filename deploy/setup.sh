#!/usr/bin/env bash
# Set up and start a dwcp node on a fresh Debian 12 machine, as root:
# install the packages (deploy/deps.sh), build (make), reserve 2 MiB
# hugepages (deploy/hugepages.sh), make the default key (/etc/dwcp/dwcp.key),
# start the supervisor of the default instance, print its status, and run
# the main job: a transfer between it and a second local node
# (deploy/demo.sh), which prints both sides' summaries.
#
# Usage: deploy/setup.sh [--no-run]
#   --no-run   stop after the build and the hugepages; start nothing
#
# Safe to run again: when the supervisor of the default instance already
# runs, it says so and prints the status.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "setup.sh: $*" >&2; exit 1; }

run=1
case "${1:-}" in
	"") ;;
	--no-run) run=0 ;;
	-h|--help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) die "unknown argument '$1' (usage: deploy/setup.sh [--no-run])" ;;
esac
[ $# -le 1 ] || die "too many arguments (usage: deploy/setup.sh [--no-run])"

[ "$(id -u)" -eq 0 ] ||
	die "must run as root (installs packages, reserves hugepages, starts DPDK processes): sudo ./deploy/setup.sh"
{ command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; } ||
	die "apt-get not found: dwcp is set up on Debian 12 (bookworm) or a derivative; elsewhere install the packages listed in deploy/deps.sh by hand and run make"

echo "== packages"
./deploy/deps.sh || die "installing packages failed (see above)"

echo "== build"
make -j"$(nproc)" || die "the build failed (see the compiler's message above)"

echo "== hugepages"
./deploy/hugepages.sh || die "hugepages are not ready (see above)"

if [ "$run" -eq 0 ]; then
	echo "built; start a node with: build/bin/dwcp-supervisor start"
	exit 0
fi

for b in dwcp-supervisor dwcpctl; do
	[ -x "build/bin/$b" ] || die "build/bin/$b is missing although make succeeded: run make and look for errors"
done

echo "== key"
if [ ! -e /etc/dwcp/dwcp.key ]; then
	mkdir -p /etc/dwcp
	build/bin/dwcp keygen /etc/dwcp/dwcp.key || die "cannot write /etc/dwcp/dwcp.key (above)"
else
	echo "keeping /etc/dwcp/dwcp.key (copy the same file to every peer)"
fi

echo "== node"
if timeout 10 build/bin/dwcpctl status >/dev/null 2>&1 </dev/null; then
	echo "a dwcp supervisor for the default instance is already running:"
	build/bin/dwcpctl status </dev/null ||
		die "build/bin/dwcpctl status failed (see above); stop the node with build/bin/dwcp-supervisor stop"
else
	# dwcp-supervisor daemonizes, returns once the services are up, and
	# prints their status.
	build/bin/dwcp-supervisor start </dev/null ||
		die "build/bin/dwcp-supervisor start failed (its message is above)"
fi

echo "== transfer"
./deploy/demo.sh || die "the demo transfer failed (see above)"
echo "node running: build/bin/dwcpctl status, build/bin/dwcp-supervisor stop"
