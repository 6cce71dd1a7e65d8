#!/usr/bin/env bash
# RDMA tests on a real verbs device where the host has none: boot Debian's
# own kernel under QEMU with a busybox initramfs, create Soft-RoCE (rxe0 on
# a dummy netdev) inside, and run the project's verbs test binaries there.
# Works under TCG (no KVM needed); ~90 s once the kernel is cached.
# (How this was found to work, and its pitfalls: shared/notes/rdma-vm.md.)
#
#   tests/rdma/vm.sh BUILD_DIR        e.g. build, or build/asan
#
# Runs tests/rdma/guest.sh in the guest: BUILD_DIR/tests/rdma/rc_loop, then
# a whole node from BUILD_DIR/bin; every "PASS name" / "FAIL name" line is
# a test. Appends "rdma P F S" to
# BUILD_DIR/test-summary.txt. When the VM cannot run here (no package
# mirror, no kernel package, QEMU fails to boot) it prints
# "skipped: no RDMA device (why)" and counts one skipped test.
#
# Environment: DWCP_RDMA_WORK (scratch and kernel cache, default
# /var/tmp/dwcp-rdma-vm), DWCP_RDMA_TIMEOUT (QEMU wall-clock limit, s,
# default 600), DWCP_RDMA_ACCEL (auto|kvm|tcg), DWCP_RDMA_GUEST (the script
# the guest runs, default tests/rdma/guest.sh; bench/rdma.sh gives its own,
# whose "BENCH name value" lines are printed too), DWCP_RDMA_GUEST_ENV
# ("NAME=VALUE ..." for the guest script's environment, through the kernel
# command line), DWCP_RDMA_SUMMARY (the summary file, default
# BUILD_DIR/test-summary.txt).
set -uo pipefail
build=${1:?usage: tests/rdma/vm.sh BUILD_DIR}
work=${DWCP_RDMA_WORK:-/var/tmp/dwcp-rdma-vm}
timeout_s=${DWCP_RDMA_TIMEOUT:-600}
accel=${DWCP_RDMA_ACCEL:-auto}
summary=${DWCP_RDMA_SUMMARY:-$build/test-summary.txt}
guest=${DWCP_RDMA_GUEST:-$(dirname "$0")/guest.sh}
tests=("$build/tests/rdma/rc_loop")
node_bins=(dwcp-supervisor dwcpctl dwcp svc-net svc-rdma svc-gpu svc-simd svc-mem svc-prof)

log() { echo "rdma-vm: $*" >&2; }
record() { echo "rdma $1 $2 $3" >>"$summary"; }
skip() {
	echo "skipped: no RDMA device ($*)"
	record 0 0 1
	exit 0
}

[ "$(id -u)" -eq 0 ] || skip "the VM harness needs root (packages, the kernel's modules)"
for t in "${tests[@]}" "${node_bins[@]/#/$build/bin/}"; do
	[ -x "$t" ] || { log "$t is not built (make rdma builds it)"; record 0 1 0; exit 1; }
done
mkdir -p "$work" || skip "cannot create $work"

# ---- host packages: QEMU and the userspace the guest runs
pkgs=(qemu-system-x86 busybox-static rdma-core ibverbs-providers librdmacm1 ibverbs-utils perftest
      iproute2 kmod cpio)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}"; } >"$work/apt.log" 2>&1 || skip "cannot install ${missing[*]} (see $work/apt.log)"
fi

# ---- the guest kernel: Debian's, unpacked (never installed on the host)
kern="$work/kern"
if [ ! -f "$kern/.done" ]; then
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
	[ -n "$kpkg" ] || skip "no linux-image-amd64 in the package lists (apt-get update?)"
	rm -rf "$work/debs" "$kern" && mkdir -p "$work/debs"
	(cd "$work/debs" && apt-get download "$kpkg" >"$work/kernel.log" 2>&1) ||
		{ apt-get update -qq >/dev/null 2>&1; (cd "$work/debs" && apt-get download "$kpkg" >"$work/kernel.log" 2>&1); } ||
		skip "cannot download $kpkg (see $work/kernel.log)"
	dpkg -x "$work"/debs/linux-image-*.deb "$kern" || skip "cannot unpack $kpkg"
	kv=$(ls "$kern/lib/modules")
	depmod -b "$kern" "$kv" || skip "depmod failed for $kv"   # the .deb ships no modules.dep
	touch "$kern/.done"
fi
kv=$(ls "$kern/lib/modules")
vmlinuz="$kern/boot/vmlinuz-$kv"

# ---- the initramfs: busybox, iproute2's ip and rdma, the verbs provider, our tests
root="$work/root"
rm -rf "$root" && mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib,usr/lib64,usr/local/bin,etc,proc,sys,dev,tmp,run,root}
ln -s usr/bin "$root/bin"; ln -s usr/sbin "$root/sbin"; ln -s usr/lib "$root/lib"; ln -s usr/lib64 "$root/lib64"
mkdir -p "$root/var/tmp" && ln -s ../run "$root/var/run"   # DPDK keeps its runtime files in /var/run/dpdk

put() {   # a host file at its own path under /usr in the guest (merged /usr)
	local f=$1 d
	d=$(readlink -f "$(dirname "$f")")/$(basename "$f")
	d="/usr${d#/usr}"
	[ -e "$root$d" ] && return 0
	mkdir -p "$root$(dirname "$d")" && cp -L "$f" "$root$d"
}
put_elf() {   # an executable or library, at @2 (or its own path), and what ldd says it needs
	local f=$1 dst=${2:-} lib
	if [ -n "$dst" ]; then mkdir -p "$root$(dirname "$dst")" && cp -L "$f" "$root$dst"; else put "$f"; fi
	for lib in $(ldd "$f" 2>/dev/null | awk '$2=="=>" && $3 ~ /^\//{print $3} $1 ~ /^\//{print $1}'); do
		put "$lib"
	done
}
cp /bin/busybox "$root/usr/bin/busybox"
put_elf "$(readlink -f "$(command -v ip)")" /usr/bin/ip   # busybox's ip lacks what rdma needs
for b in rdma ibv_devices ib_write_bw ib_write_lat; do
	p=$(command -v "$b") && put_elf "$p"
done
# providers are dlopen()ed: ldd does not see them; glibc dlopen()s libgcc_s for pthread_cancel
put_elf /usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav34.so
mkdir -p "$root/etc/libibverbs.d" && cp /etc/libibverbs.d/rxe.driver "$root/etc/libibverbs.d/"
put /usr/lib/x86_64-linux-gnu/libgcc_s.so.1
for t in "${tests[@]}"; do put_elf "$t" "/usr/local/bin/$(basename "$t")"; done
for b in "${node_bins[@]}"; do put_elf "$build/bin/$b" "/opt/dwcp/bin/$b"; done
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"

# Modules in dependency order, resolved on the host. crc32_generic: rxe
# asks the crypto API for "crc32" when a link is added, and nothing loads it.
: >"$root/etc/insmod.list"
for m in crc32_generic rdma_rxe rdma_ucm dummy; do
	modprobe -d "$kern" -S "$kv" --show-depends "$m" 2>/dev/null | awk '$1=="insmod"{print $2}' |
	while read -r ko; do
		rel=${ko#"$kern"}
		grep -qxF "$rel" "$root/etc/insmod.list" || echo "$rel" >>"$root/etc/insmod.list"
		mkdir -p "$root/usr$(dirname "$rel")" && cp "$ko" "$root/usr$rel"
	done
done
[ -s "$root/etc/insmod.list" ] || skip "kernel $kv has no rdma_rxe module"

cp "$guest" "$root/test.sh"
cp "$(dirname "$0")/nodes.sh" "$root/nodes.sh"   # the guests' two-node helpers
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
export PATH=/usr/local/bin:/opt/dwcp/bin:/usr/bin:/usr/sbin HOME=/root
ulimit -l unlimited
finish() { echo "DWCP_RDMA_VM_EXIT=$1"; sync; poweroff -f; echo o > /proc/sysrq-trigger; sleep 10; }
for ko in $(cat /etc/insmod.list); do insmod "$ko" || { echo "insmod $ko failed"; finish 3; }; done
ip link set lo up
ip link show dummy0 >/dev/null 2>&1 || ip link add dummy0 type dummy
ip addr add 10.0.0.1/24 dev dummy0; ip link set dummy0 up
rdma link add rxe0 type rxe netdev dummy0 || { dmesg | tail -20; finish 5; }
echo "DWCP_RDMA_VM_READY"
cd /root; sh /test.sh; finish $?
EOF
chmod +x "$root/init" "$root/test.sh"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initramfs.gz" || skip "cannot build the initramfs"

# ---- boot. KVM only on a host that really has VMX/SVM (a PVM host's
# /dev/kvm cannot boot a stock kernel); else TCG, with the TSC trusted so
# that timings inside are sane.
if [ "$accel" = auto ]; then
	if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo && [ ! -d /sys/module/kvm_pvm ]; then accel=kvm; else accel=tcg; fi
fi
if [ "$accel" = kvm ]; then qacc=(-enable-kvm -cpu host,-arch-capabilities); append=""
else qacc=(-accel tcg,thread=multi -cpu max); append="tsc=reliable"; fi
log "booting kernel $kv ($accel)"
timeout "$timeout_s" qemu-system-x86_64 "${qacc[@]}" -machine q35 -smp 2 -m 2048 -kernel "$vmlinuz" \
	-initrd "$work/initramfs.gz" -append "console=ttyS0 panic=-1 loglevel=4 rdinit=/init $append ${DWCP_RDMA_GUEST_ENV:-}" \
	-display none -serial stdio -monitor none -no-reboot -nic none </dev/null 2>&1 |
	tr -d '\r' >"$work/guest.log"
qrc=${PIPESTATUS[0]}
grep -E '^(PASS|FAIL|BENCH) |^device |^rc_loop' "$work/guest.log"
grep -q DWCP_RDMA_VM_READY "$work/guest.log" ||
	skip "the guest did not bring rxe0 up (QEMU exit $qrc; see $work/guest.log)"
pass=$(grep -c '^PASS ' "$work/guest.log")
fail=$(grep -c '^FAIL ' "$work/guest.log")
rc=$(sed -n 's/^DWCP_RDMA_VM_EXIT=\([0-9]*\).*/\1/p' "$work/guest.log" | tail -n1)
if [ -z "$rc" ] || [ "$rc" != 0 ] && [ "$fail" -eq 0 ]; then
	log "the tests did not finish (exit ${rc:-none}, QEMU $qrc): see $work/guest.log"
	tail -20 "$work/guest.log" >&2
	fail=$((fail + 1))
fi
record "$pass" "$fail" 0
echo "rdma: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
