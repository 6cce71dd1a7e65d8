#!/usr/bin/env bash
# Reserve 2 MiB hugepages for dwcp and mount hugetlbfs at /dev/hugepages.
#
# Usage: deploy/hugepages.sh [N]      (N = free 2 MiB pages wanted, default 1024)
#
# Makes sure at least N 2 MiB hugepages are free (not used by anyone). It
# only ever raises vm.nr_hugepages (to pages in use + N), never lowers it,
# so pages other processes hold are left alone. Idempotent: run it as often
# as you like. To keep the reservation across reboots install
# deploy/hugepages.conf as /etc/sysctl.d/80-dwcp-hugepages.conf.
set -euo pipefail

SYSFS=/sys/kernel/mm/hugepages/hugepages-2048kB
MNT=/dev/hugepages

die() { echo "hugepages.sh: $*" >&2; exit 1; }

want=${1:-1024}
[ $# -le 1 ] || die "too many arguments (usage: deploy/hugepages.sh [N])"
case "$want" in
	''|*[!0-9]*) die "N must be a number of 2 MiB pages, got '$want' (usage: deploy/hugepages.sh [N])" ;;
esac
want=$((10#$want))

[ -d "$SYSFS" ] || die "this kernel has no 2 MiB hugepage support ($SYSFS missing)"

# Free pages nobody has claimed yet: HugePages_Free counts pages already
# reserved by a mapping (HugePages_Rsvd) as free, so subtract those.
usable() { echo $(( $(cat "$SYSFS/free_hugepages") - $(cat "$SYSFS/resv_hugepages") )); }

total=$(cat "$SYSFS/nr_hugepages")
free_now=$(usable)
changed=""
if [ "$free_now" -lt "$want" ]; then
	[ "$(id -u)" -eq 0 ] ||
		die "only $free_now of $want 2 MiB hugepages are free and raising the reservation needs root: run sudo deploy/hugepages.sh $want"
	in_use=$((total - free_now))
	target=$((in_use + want))
	if ! echo "$target" > "$SYSFS/nr_hugepages" 2>/dev/null; then
		die "cannot write $SYSFS/nr_hugepages (read-only /sys, e.g. in a container?): reserve hugepages on the host (sysctl vm.nr_hugepages=$target)"
	fi
	changed=" (nr_hugepages $total -> $(cat "$SYSFS/nr_hugepages"))"
fi

if ! awk -v m="$MNT" '$2 == m && $3 == "hugetlbfs" { found = 1 } END { exit !found }' /proc/mounts; then
	[ "$(id -u)" -eq 0 ] || die "hugetlbfs is not mounted at $MNT and mounting needs root: run sudo deploy/hugepages.sh $want"
	mkdir -p "$MNT"
	mount -t hugetlbfs -o pagesize=2M nodev "$MNT" ||
		die "cannot mount hugetlbfs at $MNT: mount -t hugetlbfs -o pagesize=2M nodev $MNT"
	changed="$changed (mounted hugetlbfs at $MNT)"
fi

free_now=$(usable)
if [ "$free_now" -lt "$want" ]; then
	echo "only $free_now of $want 2 MiB hugepages could be reserved (memory fragmented?): free memory or reboot, then run deploy/hugepages.sh $want" >&2
	exit 1
fi
echo "hugepages: $free_now free of $(cat "$SYSFS/nr_hugepages") reserved 2 MiB pages (wanted $want), hugetlbfs at $MNT$changed"
