#!/usr/bin/env bash
# Boot a real systemd in a throw-away container and run a dwcp node from
# the units in deploy/systemd (driven by systemd_boot_test.c).
#
# The container is `systemd-nspawn -D / --volatile=yes --boot`: the host's
# /usr (so this Debian's own systemd and every library the binaries need)
# under an empty tmpfs root, private network, its own /run and its own
# hugetlbfs mount on the host's page pool. This build's binaries are bound
# at /usr/local/bin (where the units expect them), the units at
# /etc/systemd/system. Commands run inside through nsenter into the
# container's PID 1.
#
# usage: systemd_boot.sh BIN_DIR UNITS_DIR WORK_DIR [MACHINE_NAME]
# exit: 0 all checks passed; 77 cannot boot a systemd here (the reason on
# stdout); anything else a failed check (what failed on stdout).
set -u
BIN=$1 UNITS=$2 WORK=$3
NAME=${4:-dwcpboot$$}
log() { echo "systemd_boot: $*"; }
skip() { echo "skipped: $*"; exit 77; }
fail() { echo "FAILED: $*"; dump; exit 1; }

[ "$(id -u)" = 0 ] || skip "not root"
command -v systemd-nspawn >/dev/null || skip "no systemd-nspawn (apt-get install systemd-container)"
[ -x /usr/lib/systemd/systemd ] || skip "no systemd on this host to boot (apt-get install systemd)"

mkdir -p "$WORK/etc-systemd"
cp "$UNITS"/* "$WORK/etc-systemd/"

NSPAWN_PID=
cleanup() {
	[ -n "$NSPAWN_PID" ] && kill -9 "$NSPAWN_PID" 2>/dev/null
	[ -n "$NSPAWN_PID" ] && wait "$NSPAWN_PID" 2>/dev/null
}
trap cleanup EXIT

# /sys/module: DPDK's EAL looks for the vfio module there and refuses to
# start when /sys/module is missing (nspawn leaves it out). The host's
# own units that cannot run in a container without a network are masked
# so the boot does not wait for them.
systemd-nspawn --register=no --keep-unit -q -D / --volatile=yes --boot --private-network \
	-M "$NAME" --bind-ro="$BIN":/usr/local/bin --bind="$WORK/etc-systemd":/etc/systemd/system \
	--bind-ro=/sys/module \
	-- systemd.firstboot=off systemd.mask=systemd-networkd-wait-online.service \
	> "$WORK/console.log" 2>&1 &
NSPAWN_PID=$!

init_pid() { pgrep -P "$NSPAWN_PID" | head -1; }
IN() { nsenter -t "$(init_pid)" -a -- "$@"; }
dump() {
	echo "--- console (tail)"; tail -20 "$WORK/console.log"
	echo "--- dwcp units"; IN systemctl --no-pager list-units 'dwcp*' 2>&1 | head -20
	echo "--- journal (tail)"; IN journalctl --no-pager -n 40 2>&1 | tail -40
}

# Booted: PID 1 of the container answers and reached its default target
# (degraded is fine: units of the host's packages that cannot run here).
for i in $(seq 1 600); do
	kill -0 "$NSPAWN_PID" 2>/dev/null || { tail -20 "$WORK/console.log"; skip "systemd-nspawn exited while booting (console above)"; }
	p=$(init_pid)
	if [ -n "$p" ]; then
		st=$(IN systemctl is-system-running 2>/dev/null)
		case "$st" in running|degraded) break ;; esac
	fi
	sleep 0.1
done
case "${st:-}" in running|degraded) log "container booted ($st)" ;; *) tail -20 "$WORK/console.log"; skip "the container's systemd did not finish booting in 60 s (state '${st:-none}')" ;; esac

# The node, as an operator enables it.
IN systemctl daemon-reload || fail "daemon-reload"
IN systemctl enable dwcp-supervisor@dwcp.service >/dev/null 2>&1 || fail "enable dwcp-supervisor@dwcp"
IN systemctl start dwcp.target || fail "systemctl start dwcp.target"
IN systemctl is-active --quiet dwcp-supervisor@dwcp.service || fail "dwcp-supervisor@dwcp is not active"

# dwcpctl status's table: SERVICE STATE PID GEN ... (a row per service and worker).
status() { IN /usr/local/bin/dwcpctl status 2>/dev/null; }
svc_field() { # NAME COLUMN (2 state, 3 pid, 4 generation)
	status | awk -v n="$1" -v c="$2" '$1 == n { print $c; exit }'
}
svc_pids() { # every service but $1, as name=pid
	status | awk -v x="$1" '$1 ~ /^svc-/ && $1 != x { printf "%s=%s ", $1, $3 }'
}
all_up() {
	status | awk 'BEGIN { n = 0; bad = 0 }
		$1 ~ /^svc-/ { n++; if (($2 != "READY" && $2 != "STANDBY") || $3 == 0) bad = 1 }
		END { exit (n >= 6 && !bad) ? 0 : 1 }'
}
wait_up() {
	for i in $(seq 1 600); do all_up && return 0; sleep 0.1; done
	return 1
}
wait_up || fail "the services did not all come up under systemd"
log "node up under systemd: $(status | awk '$1 ~ /^svc-/ { printf "%s %s, ", $1, $2 }')"

# The watchdog is armed (WatchdogSec in the unit) and the supervisor pets it.
wd=$(IN systemctl show -p WatchdogUSec --value dwcp-supervisor@dwcp.service)
[ "$wd" = 10s ] || fail "supervisor watchdog is '$wd', expected 10s"
log "watchdog armed: $wd"

# kill -9 of a service: restarted (the supervisor does it in this mode);
# the others keep their pids.
before=$(svc_pids svc-simd)
simd=$(svc_field svc-simd 3); gen=$(svc_field svc-simd 4)
IN kill -9 "$simd" || fail "kill -9 svc-simd ($simd)"
for i in $(seq 1 600); do
	g=$(svc_field svc-simd 4); s=$(svc_field svc-simd 2)
	[ -n "$g" ] && [ "$g" -gt "$gen" ] && [ "$s" = READY ] && break
	sleep 0.1
done
[ "${g:-0}" -gt "$gen" ] && [ "${s:-}" = READY ] || fail "svc-simd not restarted after kill -9 (generation ${g:-?}, state ${s:-?})"
after=$(svc_pids svc-simd)
[ "$before" = "$after" ] || fail "other services disturbed: before [$before] after [$after]"
log "svc-simd killed and restarted (generation $gen -> $g); the others untouched"

# kill -9 of the supervisor itself: systemd restarts the unit (Restart=on-failure).
sup=$(IN systemctl show -p MainPID --value dwcp-supervisor@dwcp.service)
IN kill -9 "$sup" || fail "kill -9 supervisor ($sup)"
for i in $(seq 1 600); do
	new=$(IN systemctl show -p MainPID --value dwcp-supervisor@dwcp.service)
	[ -n "$new" ] && [ "$new" != 0 ] && [ "$new" != "$sup" ] && all_up && break
	sleep 0.1
done
[ -n "${new:-}" ] && [ "$new" != "$sup" ] && all_up || fail "systemd did not bring the supervisor back after kill -9 (MainPID ${new:-?})"
log "supervisor killed; systemd restarted it (pid $sup -> $new) and the node is up"

# Upgrade of one service in place (the same binary as a new version).
IN /usr/local/bin/dwcpctl upgrade svc-mem --binary /usr/local/bin/svc-mem > "$WORK/upgrade.log" 2>&1 || { cat "$WORK/upgrade.log"; fail "dwcpctl upgrade svc-mem"; }
wait_up || fail "not all up after the upgrade"
log "svc-mem upgraded: $(tail -1 "$WORK/upgrade.log")"

# Stop: nothing left behind.
IN systemctl stop dwcp.target dwcp-supervisor@dwcp.service || fail "systemctl stop"
for i in $(seq 1 300); do IN systemctl is-active --quiet dwcp-supervisor@dwcp.service || break; sleep 0.1; done
IN systemctl is-active --quiet dwcp-supervisor@dwcp.service && fail "supervisor still active after stop"
left=$(IN sh -c 'ls /dev/hugepages/ 2>/dev/null | grep "^dwcpmap_"; ls /run/dwcp/dwcp/ctl.sock /run/dwcp/dwcp/supervisor.pid /var/run/dpdk/dwcp 2>/dev/null')
[ -z "$left" ] || fail "left after stop: $left"
procs=$(IN pgrep -c -f '/usr/local/bin/(dwcp-supervisor|svc-)' 2>/dev/null || true)
[ "${procs:-0}" = 0 ] || fail "$procs dwcp processes left after stop"
log "stopped: no hugepage files, runtime files or processes left"
IN systemctl poweroff >/dev/null 2>&1
for i in $(seq 1 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
exit 0
