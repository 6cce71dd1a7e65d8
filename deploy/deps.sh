#!/usr/bin/env bash
# Install the Debian 12 packages dwcp needs to build, test and run.
#
# Usage: deploy/deps.sh [--force]
#
# Idempotent: when every package is already installed, apt is not touched
# at all (no network needed, e.g. in CI). --force runs `apt-get update` and
# `apt-get install` anyway. Must run as root when something is missing.
set -euo pipefail

PACKAGES=(
	build-essential pkg-config          # cc, make, ar
	libdpdk-dev dpdk                    # shared memory, rings, pools, EAL (DPDK 22.11)
	dpdk-dev                            # dpdk-testpmd: the reference of `dwcp bench net`
	libxdp-dev libbpf-dev               # the af_xdp driver the supervisor links for [net] port
	libev-dev                           # supervisor / CLI event loop
	liburcu-dev                         # RCU, lock-free hash tables
	libnuma-dev                         # NUMA placement
	libcriterion-dev                    # unit and integration tests
	libisal-dev libxxhash-dev           # CRC32C, XXH3
	liblz4-dev libzstd-dev              # compression
	libssl-dev libipsec-mb-dev          # AES-GCM
	libsystemd-dev                      # sd_notify
	libcjson-dev                        # JSON output
	libmicrohttpd-dev                   # svc-prof: Prometheus /metrics endpoint
	prometheus                          # promtool checks /metrics in the tests
	libelf-dev                          # svc-prof profile: symbols of sampled addresses
	systemd                             # systemd-analyze verifies deploy/systemd in the tests
	systemd-container                   # systemd-nspawn boots a systemd for the units test
	spin                                # model check of the handoff protocol
	clang-14 libclang-rt-14-dev         # libFuzzer targets (make fuzz)
	libibverbs-dev librdmacm-dev        # svc-rdma: verbs and rdma_cm
	iproute2 procps                     # ip/veth in integration tests, ps/pgrep
	xfsprogs                            # reflink of kept pages, tested on an XFS loop mount
)
pkgs=("${PACKAGES[@]}")

die() { echo "deps.sh: $*" >&2; exit 1; }

[ $# -le 1 ] || die "too many arguments (usage: deploy/deps.sh [--force])"
force=0
case "${1:-}" in
	"") ;;
	--force) force=1 ;;
	-h|--help) sed -n '2,8s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) die "unknown argument '$1' (usage: deploy/deps.sh [--force])" ;;
esac

{ command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; } ||
	die "dpkg-query/apt-get not found: dwcp is built on Debian 12 (bookworm) or a derivative"

missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ] && [ "$force" -eq 0 ]; then
	echo "deps: all ${#pkgs[@]} packages already installed"
	exit 0
fi

[ "$(id -u)" -eq 0 ] ||
	die "must run as root to install: ${missing[*]:-${pkgs[*]}} (try: sudo deploy/deps.sh)"

if [ "${#missing[@]}" -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
else
	echo "deps: --force: reinstalling/upgrading ${#pkgs[@]} packages"
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update </dev/null ||
	die "apt-get update failed: check /etc/apt/sources.list* and that a Debian mirror is reachable"
apt-get install -y --no-install-recommends "${pkgs[@]}" </dev/null ||
	die "apt-get install failed for: ${pkgs[*]} (see apt's message above)"

still=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || still+=("$p")
done
[ "${#still[@]}" -eq 0 ] || die "still not installed after apt-get: ${still[*]}"
echo "deps: all ${#pkgs[@]} packages installed"
