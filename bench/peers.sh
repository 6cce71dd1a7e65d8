#!/usr/bin/env bash
# dwcp against the tools a user would pick, on the same file, on the same
# machine, in the same run. The file is an ext4 image of real files (copied
# from /usr), not synthetic pages, so that compression and delta meet what
# they meet in a VM disk. Full send: `dwcp send` between two throw-away
# nodes on loopback, on built-in defaults (only ports, key, index_dir and
# run directory are set), against `scp -c aes128-gcm@openssh.com` to a
# throw-away sshd and `zstd -1 | openssl enc -aes-256-ctr | nc`. Resend
# after a small upgrade of the image (~2 % of its files rewritten the way a
# package manager does, new file then rename, and a few files added): a
# second `dwcp send` to the same stream and --out against
# `rsync --inplace --no-whole-file -z` onto the first copy, twice: with
# `dwcp recv --inplace` (the same trade as rsync's: only changed pages are
# written into the file, which is not atomic) onto a copy of the first
# version sent beforehand to a stream of its own (untimed), and with the
# default atomic `dwcp recv` (a new file from the previous copy, renamed
# over --out), which is also set beside rsync's own default,
# `rsync --no-whole-file -z` (a new file from the basis, renamed over it),
# onto the nc pipe's copy of the first version: the same trade.
#
# For every run: wall seconds (from starting the sender until both ends have
# exited), CPU seconds of every process involved at both ends (dwcp: both
# supervisors and all their service processes, read from /proc/PID/stat
# before and after, plus dwcp send and dwcp recv; the tools: both ends of
# each pipeline, and sshd with everything it forked for the connection),
# bytes on the wire where known, and cmp of the received file against what
# was sent (a difference fails the run, exit status 1).
#
# Usage (root; after ./deploy/setup.sh --no-run):
#   bench/peers.sh [--size-mb N] [--repeat N] [--json] [--keep] [--work-dir DIR]
#     --size-mb N     image size in MiB (default 1024; at least 64)
#     --repeat N      run the whole sequence N times (1..9, default 1); the
#                     table shows each row's run of median wall time
#     --json          print one JSON object instead of the table: every run,
#                     and the ratios of the runs of median wall time
#     --keep          keep the temporary directory (images, logs) for a look
#     --work-dir DIR  where the temporary directory goes (default /var/tmp;
#                     needs ~7x the image size free)
# Missing tools are installed with apt-get (openssh-server, openssh-client,
# rsync, netcat-openbsd, zstd, openssl, e2fsprogs, time); note that
# installing openssh-server also enables the system's own sshd. The
# system's sshd configuration is never touched: the bench runs its own sshd
# on a free loopback port with its own host key and authorized key.
#
# Figures on a shared machine are noisy: compare the ratios, not the MB/s.
# dwcp's --out is fsync'd before dwcp reports, the tools' outputs are not
# (their figures do not include writing the file back to disk).
set -euo pipefail

die() { echo "peers.sh: $*" >&2; exit 1; }
say() { echo "peers.sh: $*" >&2; }

size_mb=1024 json=0 keep=0 work_parent=/var/tmp repeat=1
while [ $# -gt 0 ]; do
	case $1 in
	--size-mb) [ $# -ge 2 ] || die "--size-mb needs a number"; size_mb=$2; shift 2 ;;
	--json) json=1; shift ;;
	--repeat) [ $# -ge 2 ] || die "--repeat needs a number"; repeat=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--work-dir)
		[ $# -ge 2 ] || die "--work-dir needs a directory"
		work_parent=$(cd "$2" 2>/dev/null && pwd) || die "--work-dir $2: no such directory"
		shift 2 ;;
	-h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) die "unknown argument '$1' (see bench/peers.sh --help)" ;;
	esac
done
case $size_mb in ''|*[!0-9]*) die "--size-mb must be a whole number of MiB, got '$size_mb'" ;; esac
[ "$size_mb" -ge 64 ] || die "--size-mb must be at least 64 (an ext4 image of real files)"
case $repeat in [1-9]) ;; *) die "--repeat must be 1..9, got '$repeat'" ;; esac
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || die "must run as root (loop-mounts the image, runs its own sshd and dwcp nodes): sudo bench/peers.sh"
B=build/bin
for b in dwcp dwcp-supervisor dwcpctl; do
	[ -x "$B/$b" ] || die "$B/$b is missing: build first (make -j\$(nproc) all, or ./deploy/setup.sh --no-run)"
done

# ---- tools -----------------------------------------------------------------
need=()
want() { # want PACKAGE COMMAND...: queue PACKAGE when a command is missing
	local pkg=$1 c
	shift
	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then need+=("$pkg"); return; fi
	done
}
want openssh-server /usr/sbin/sshd
want openssh-client ssh scp ssh-keygen
want rsync rsync
want zstd zstd
want openssl openssl
want e2fsprogs mkfs.ext4
want time /usr/bin/time
# Only the OpenBSD netcat has the -q0/-d/-l HOST PORT used below.
if ! nc -h 2>&1 | grep -q OpenBSD; then need+=(netcat-openbsd); fi
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]} (apt-get update, then apt-get install)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2 || die "apt-get update failed (above): install ${need[*]} by hand"
	apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 ||
		die "apt-get install ${need[*]} failed (above)"
fi

# ---- temporary state and its cleanup ---------------------------------------
work=$(mktemp -d "$work_parent/dwcp-peers.XXXXXX") || die "cannot make a directory in $work_parent"
mnt=$work/mnt run=$work/run
inst_a=peers$$a inst_b=peers$$b
nodes_up=() bg_pids=() sshd_pid="" made_privsep=0
mkdir -p "$mnt" "$run"

tree_pids() { # tree_pids PID: PID and all its descendants, one a line
	local c
	echo "$1"
	# shellcheck disable=SC2013 # pids, one word each
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree_pids "$c"; done
}
kill_tree() { # kill_tree PID: a process this script started, with its children
	local p
	for p in $(tree_pids "$1" | tac); do kill "$p" 2>/dev/null || true; done
	wait "$1" 2>/dev/null || true
}
cleanup() {
	local p i
	set +e
	for p in "${bg_pids[@]}"; do kill_tree "$p"; done
	[ -z "$sshd_pid" ] || kill_tree "$sshd_pid"
	[ "$made_privsep" -eq 0 ] || rmdir /run/sshd 2>/dev/null
	mountpoint -q "$mnt" && { umount "$mnt" || umount -l "$mnt"; }
	for i in "${nodes_up[@]}"; do
		$B/dwcp-supervisor --instance "$i" --run-dir "$run" stop >/dev/null 2>&1
	done
	if [ "$keep" -eq 1 ]; then
		say "--keep: files left in $work (remove with rm -r $work)"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- small helpers -----------------------------------------------------------
hz=$(getconf CLK_TCK)
port_used() { # port_used PORT: anything on this TCP port (any state)?
	awk -v p="$(printf '%04X' "$1")" 'FNR > 1 { split($2, a, ":"); if (a[2] == p) f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}
taken_ports=" "
free_port() { # free_port: a loopback TCP port nobody uses (and not handed out before)
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 40000))
		case $taken_ports in *" $p "*) continue ;; esac
		port_used "$p" && continue
		taken_ports+="$p "
		echo "$p"
		return 0
	done
	die "no free TCP port found in 20000-59999"
}
listening() { # listening PORT
	awk -v p="$(printf '%04X' "$1")" 'FNR > 1 && $4 == "0A" { split($2, a, ":"); if (a[2] == p) f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}
wait_until() { # wait_until SECONDS WHAT CMD...: poll CMD (a hang guard, not a measurement)
	local end=$((SECONDS + $1)) what=$2
	shift 2
	until "$@"; do
		[ $SECONDS -lt $end ] || die "gave up waiting for $what"
		sleep 0.05
	done
}
ticks() { # ticks PID: utime+stime+cutime+cstime (cutime: children it reaped)
	local s f
	s=$(cat /proc/"$1"/stat 2>/dev/null) || { echo 0; return; }
	read -r -a f <<<"${s##*) }"   # f[0] is field 3 (state)
	echo $((f[11] + f[12] + f[13] + f[14]))
}
declare -A snap
snapshot() { # snapshot ROOT_PID...: remember the ticks of each process in the trees
	local p
	snap=()
	for p in $(for r in "$@"; do tree_pids "$r"; done); do snap[$p]=$(ticks "$p"); done
}
since_snapshot() { # since_snapshot ROOT_PID...: CPU seconds spent in the trees since snapshot
	local p t=0
	for p in $(for r in "$@"; do tree_pids "$r"; done); do
		t=$((t + $(ticks "$p") - ${snap[$p]:-0}))
	done
	awk -v t="$t" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }'
}
timed_cpu() { # timed_cpu FILE: user+sys seconds /usr/bin/time wrote (its last line)
	tail -n 1 "$1" | awk '{ printf "%.2f", $2 + $3 }'
}
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a + b }'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
guard=$((300 + size_mb))   # hang guard, seconds: far above any real run

# ---- 1. the images ------------------------------------------------------------
img1=$work/image-v1.ext4 img2=$work/image-v2.ext4
build_image() {
	local fs_bytes used target round=0 list=$work/files.list
	truncate -s "${size_mb}M" "$img1"
	# Inode tables and journal written now, so that mounting the upgraded copy
	# later does not zero them in the background (a change no upgrade makes).
	mkfs.ext4 -q -E lazy_itable_init=0,lazy_journal_init=0 "$img1"
	mount -o loop "$img1" "$mnt"
	fs_bytes=$(df -B1 --output=size "$mnt" | tail -n 1)
	target=$((fs_bytes * 70 / 100))
	# Files from /usr in directory order, each costing its 4 KiB blocks, until
	# ~70 % full; again into another folder if /usr is smaller than that.
	while used=$(df -B1 --output=used "$mnt" | tail -n 1); [ "$used" -lt "$target" ]; do
		round=$((round + 1))
		[ $round -le 8 ] || die "/usr holds too little to fill ${size_mb} MiB to 70 %"
		find /usr -xdev -type f -size +0 ! -name "*$'\n'*" -printf '%s %P\n' |
			awk -v budget=$((target - used)) '{ n = int(($1 + 4095) / 4096) * 4096; sub(/^[0-9]+ /, "")
				if (c + n <= budget) { c += n; print } }' > "$list"
		[ -s "$list" ] || break
		mkdir -p "$mnt/r$round"
		{ tar -C /usr --ignore-failed-read -cf - -T "$list" 2>/dev/null || true; } |
			tar -C "$mnt/r$round" -xf -
	done
	files_v1=$(find "$mnt" -type f | wc -l)
	used_v1=$(df -B1 --output=used "$mnt" | tail -n 1)
	umount "$mnt"
}
upgrade_image() {
	local i=0 f
	cp --sparse=always "$img1" "$img2"
	mount -o loop "$img2" "$mnt"
	rewritten=0 rewritten_bytes=0 added=0 added_bytes=0
	# ~2 % of the files (every 50th), replaced as dpkg does: a new file beside
	# the old one, renamed over it (new blocks, the old ones freed).
	while IFS= read -r f; do
		i=$((i + 1))
		[ $((i % 50)) -eq 0 ] || continue
		{ printf 'upgraded by bench/peers.sh, version 2\n'; cat "$f"; } > "$f.dpkg-new"
		mv "$f.dpkg-new" "$f"
		rewritten=$((rewritten + 1))
		rewritten_bytes=$((rewritten_bytes + $(stat -c %s "$f")))
	done < <(find "$mnt" -type f -name '*' | LC_ALL=C sort)
	mkdir -p "$mnt/added"
	while IFS= read -r f; do
		cp "$f" "$mnt/added/$(basename "$f").$added"
		added=$((added + 1))
		added_bytes=$((added_bytes + $(stat -c %s "$f")))
	done < <(find /usr/bin -maxdepth 1 -type f -size +16k -size -256k | LC_ALL=C sort | head -n 10)
	umount "$mnt"
}
say "building a ${size_mb} MiB ext4 image of files from /usr (~70 % full) in $work"
build_image
upgrade_image
image_bytes=$(stat -c %s "$img1")
# Every tool starts from the same page cache: both images read in once.
cat "$img1" "$img2" > /dev/null
say "image: $files_v1 files, $used_v1 bytes used; upgrade: $rewritten files rewritten ($rewritten_bytes bytes), $added added ($added_bytes bytes)"

# ---- results ------------------------------------------------------------------
# One line per run (tab separated): phase tool wall cpu wire identical
# cpu_sender cpu_receiver repetition.
results=()
failed=0
record() { # record PHASE TOOL WALL CPU_SENDER CPU_RECEIVER WIRE RECEIVED SENT
	local ident=yes
	if ! cmp -s "$7" "$8"; then
		say "MISMATCH: $2 ($1) wrote a file that differs from what was sent ($7 vs $8)"
		failed=1 ident=NO
	fi
	results+=("$1"$'\t'"$2"$'\t'"$3"$'\t'"$(add "$4" "$5")"$'\t'"$6"$'\t'"$ident"$'\t'"$4"$'\t'"$5"$'\t'"$rep")
}

# ---- 2. dwcp -------------------------------------------------------------------------
key=$work/dwcp.key
$B/dwcp keygen "$key" >/dev/null || die "dwcp keygen $key failed (above)"
port_a=$(free_port) port_b=$(free_port)
start_node() { # start_node INSTANCE PORT: built-in defaults but ports, key, index dir
	local cfg=$work/$1.ini
	printf '[net]\nlisten = 127.0.0.1:%s\n[crypto]\nkey_file = %s\n[stream]\nindex_dir = %s\n' \
		"$2" "$key" "$work/index" > "$cfg"
	nodes_up+=("$1")
	$B/dwcp-supervisor --instance "$1" --run-dir "$run" --config "$cfg" start >/dev/null </dev/null ||
		die "dwcp-supervisor --instance $1 start failed (above; log: $run/$1/supervisor.log)"
}
say "starting dwcp nodes $inst_a (127.0.0.1:$port_a) and $inst_b (127.0.0.1:$port_b)"
start_node "$inst_b" "$port_b"
start_node "$inst_a" "$port_a"
sup_pids() { cat "$run/$inst_a/supervisor.pid" "$run/$inst_b/supervisor.pid"; }
recv_listed() { $B/dwcpctl --instance "$inst_b" --run-dir "$run" status 2>/dev/null | grep -q "^stream $1: recv"; }
dwcp_out=$work/dwcp.out dwcp_in_out=$work/dwcp-inplace.out

# dwcp_send PHASE FILE [TOOL]: one send of FILE. TOOL dwcp (the default): to
# stream peersREP at --out dwcp_out (a stream of its own per repetition, so
# that each full send is one); dwcp-inplace: to stream peersiREP at --out
# dwcp_in_out, received with `dwcp recv --inplace`; seed: as dwcp-inplace
# but not recorded (the first version that the in-place resend starts from).
dwcp_send() {
	local phase=$1 file=$2 tool=${3:-dwcp} t0 t1 rpid rc=0 cpu_a cpu_b wire
	local stream=peers$rep out=$dwcp_out f=$work/$1$rep extra=()
	if [ "$tool" != dwcp ]; then
		stream=peersi$rep out=$dwcp_in_out f=$work/$1-$tool$rep extra=(--inplace)
	fi
	# shellcheck disable=SC2046 # a list of pids
	snapshot $(sup_pids)
	timeout "$guard" /usr/bin/time -f '%e %U %S' -o "$f.recv.time" \
		$B/dwcp recv --instance "$inst_b" --run-dir "$run" --stream "$stream" --out "$out" \
		--json --no-progress --timeout 120 "${extra[@]}" > "$f.recv.json" 2> "$f.recv.err" &
	rpid=$!
	bg_pids+=("$rpid")
	# A send that starts before the receiver registered the stream is refused.
	wait_until 30 "dwcp recv to register stream $stream on $inst_b" recv_listed "$stream"
	t0=$EPOCHREALTIME
	timeout "$guard" /usr/bin/time -f '%e %U %S' -o "$f.send.time" \
		$B/dwcp send --instance "$inst_a" --run-dir "$run" --stream "$stream" --file "$file" \
		--to "127.0.0.1:$port_b" --json --no-progress --timeout 120 \
		> "$f.send.json" 2> "$f.send.err" || rc=$?
	wait "$rpid" || rc=$((rc ? rc : $?))
	t1=$EPOCHREALTIME
	bg_pids=()
	if [ "$rc" -ne 0 ]; then
		cat "$f.send.err" "$f.recv.err" >&2
		die "dwcp send/recv ($phase, $tool) failed, status $rc (their messages above)"
	fi
	if [ "$tool" = dwcp-inplace ] && ! grep -q '"inplace": true' "$f.recv.json"; then
		cat "$f.recv.err" >&2
		die "dwcp recv --inplace ($phase) fell back to the atomic path (its message above)"
	fi
	[ "$tool" != seed ] || return 0
	# Sender: node A and dwcp send; receiver: node B and dwcp recv.
	cpu_a=$(add "$(since_snapshot "$(cat "$run/$inst_a/supervisor.pid")")" "$(timed_cpu "$f.send.time")")
	cpu_b=$(add "$(since_snapshot "$(cat "$run/$inst_b/supervisor.pid")")" "$(timed_cpu "$f.recv.time")")
	wire=$(sed -n 's/.*"bytes_wire": *\([0-9]*\).*/\1/p' "$f.send.json")
	record "$phase" "$tool" "$(elapsed "$t0" "$t1")" "$cpu_a" "$cpu_b" "${wire:--}" "$out" "$file"
}

# ---- 3. the tools ----------------------------------------------------------------------------
ssh_dir=$work/ssh ssh_port=$(free_port)
mkdir -m 700 "$ssh_dir"
ssh-keygen -q -t ed25519 -N '' -f "$ssh_dir/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$ssh_dir/id"
cp "$ssh_dir/id.pub" "$ssh_dir/authorized_keys"
sftp=internal-sftp
[ -x /usr/lib/openssh/sftp-server ] && sftp=/usr/lib/openssh/sftp-server
cat > "$ssh_dir/sshd_config" <<EOF
ListenAddress 127.0.0.1:$ssh_port
HostKey $ssh_dir/host_key
AuthorizedKeysFile $ssh_dir/authorized_keys
PidFile none
PermitRootLogin prohibit-password
PasswordAuthentication no
# The key files live under --work-dir (/var/tmp: mode 1777, which
# StrictModes refuses).
StrictModes no
KbdInteractiveAuthentication no
UsePAM no
Subsystem sftp $sftp
EOF
cat > "$ssh_dir/ssh_config" <<EOF
Host 127.0.0.1
	User root
	IdentityFile $ssh_dir/id
	IdentitiesOnly yes
	StrictHostKeyChecking no
	UserKnownHostsFile /dev/null
	BatchMode yes
	LogLevel ERROR
EOF
if [ ! -d /run/sshd ]; then   # sshd's privilege separation directory
	mkdir -m 755 /run/sshd
	made_privsep=1
fi
/usr/sbin/sshd -D -e -f "$ssh_dir/sshd_config" 2> "$ssh_dir/sshd.log" &
sshd_pid=$!
wait_until 30 "the bench's sshd on 127.0.0.1:$ssh_port (log: $ssh_dir/sshd.log)" listening "$ssh_port"
ssh_cmd="ssh -F $ssh_dir/ssh_config -p $ssh_port -c aes128-gcm@openssh.com"
sshd_idle() { [ -z "$(cat /proc/"$sshd_pid"/task/*/children 2>/dev/null)" ]; }
# An empty session, both ends: what scp and rsync pay per connection before
# any data (key exchange, and root's shell startup files, which run the
# remote command; reported beside the table, not subtracted).
snapshot "$sshd_pid"
# shellcheck disable=SC2086 # a command line
/usr/bin/time -f '%e %U %S' -o "$work/ssh.time" $ssh_cmd 127.0.0.1 true </dev/null ||
	die "ssh to the bench's own sshd failed (log: $ssh_dir/sshd.log)"
wait_until 30 "sshd to reap its connection process" sshd_idle
ssh_session_cpu=$(add "$(timed_cpu "$work/ssh.time")" "$(since_snapshot "$sshd_pid")")

scp_out=$work/scp.out nc_out=$work/nc.out
scp_send() { # the full send with scp to the bench's sshd
	local t0 t1 f=$work/scp$rep
	snapshot "$sshd_pid"
	t0=$EPOCHREALTIME
	timeout "$guard" /usr/bin/time -f '%e %U %S' -o "$f.time" \
		scp -q -F "$ssh_dir/ssh_config" -P "$ssh_port" -c aes128-gcm@openssh.com "$img1" "127.0.0.1:$scp_out" ||
		die "scp failed (above; sshd log: $ssh_dir/sshd.log)"
	# sshd's connection process has reaped the scp server; wait until sshd
	# has reaped that process, so its CPU is in sshd's cutime.
	wait_until 30 "sshd to reap its connection process" sshd_idle
	t1=$EPOCHREALTIME
	record full scp "$(elapsed "$t0" "$t1")" "$(timed_cpu "$f.time")" "$(since_snapshot "$sshd_pid")" \
		"$image_bytes" "$scp_out" "$img1"
}

nc_send() { # the full send with zstd -1 | openssl enc | nc into nc | openssl enc -d | zstd -d
	local t0 t1 rpid wire port pass=peers-$$-$RANDOM f=$work/nc$rep
	port=$(free_port)
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout "$guard" /usr/bin/time -f '%e %U %S' -o "$f.recv.time" bash -c \
		'nc -d -l 127.0.0.1 "$1" | openssl enc -d -aes-256-ctr -pass "pass:$2" -pbkdf2 | zstd -d -q > "$3"' \
		_ "$port" "$pass" "$nc_out" 2> "$f.recv.err" &
	rpid=$!
	bg_pids+=("$rpid")
	wait_until 30 "nc to listen on 127.0.0.1:$port" listening "$port"
	t0=$EPOCHREALTIME
	# shellcheck disable=SC2016
	timeout "$guard" /usr/bin/time -f '%e %U %S' -o "$f.send.time" bash -c \
		'set -o pipefail; zstd -1 -q -c "$1" | openssl enc -aes-256-ctr -pass "pass:$2" -pbkdf2 | nc -q0 127.0.0.1 "$3"' \
		_ "$img1" "$pass" "$port" 2> "$f.send.err" ||
		die "the zstd | openssl | nc sender failed: $(cat "$f.send.err")"
	wait "$rpid" || die "the nc | openssl | zstd receiver failed: $(cat "$f.recv.err")"
	t1=$EPOCHREALTIME
	bg_pids=()
	# What nc carried, counted outside the timed run (same bytes, the salt aside).
	wire=$(zstd -1 -q -c "$img1" | openssl enc -aes-256-ctr -pass "pass:$pass" -pbkdf2 | wc -c)
	record full "zstd|openssl|nc" "$(elapsed "$t0" "$t1")" "$(timed_cpu "$f.send.time")" \
		"$(timed_cpu "$f.recv.time")" "$wire" "$nc_out" "$img1"
}

# rsync_send [atomic]: the resend, rsync of the upgraded image onto scp's copy of
# the first (--inplace); with "atomic", rsync's default (a new file beside it,
# then renamed, as dwcp recv's default) onto the nc pipe's copy of the first
rsync_send() {
	local t0 t1 sent rcvd f=$work/rsync${1:-}$rep tool=rsync dest=$scp_out inplace=--inplace
	if [ "${1:-}" = atomic ]; then tool=rsync-atomic dest=$nc_out inplace=""; fi
	snapshot "$sshd_pid"
	t0=$EPOCHREALTIME
	# shellcheck disable=SC2086 # $inplace: one option or none
	timeout "$guard" /usr/bin/time -f '%e %U %S' -o "$f.time" \
		rsync $inplace --no-whole-file -z --stats -e "$ssh_cmd" "$img2" "127.0.0.1:$dest" \
		> "$f.stats" 2> "$f.err" || die "rsync failed: $(cat "$f.err")"
	wait_until 30 "sshd to reap its connection process" sshd_idle
	t1=$EPOCHREALTIME
	# Both directions: the receiver's block checksums travel too.
	sent=$(sed -n 's/^Total bytes sent: *\([0-9,]*\).*/\1/p' "$f.stats" | tr -d ,)
	rcvd=$(sed -n 's/^Total bytes received: *\([0-9,]*\).*/\1/p' "$f.stats" | tr -d ,)
	record resend "$tool" "$(elapsed "$t0" "$t1")" "$(timed_cpu "$f.time")" "$(since_snapshot "$sshd_pid")" \
		"$((sent + rcvd))" "$dest" "$img2"
}

# ---- 4. the runs, in the same order each repetition --------------------------------------
for rep in $(seq 1 "$repeat"); do
	say "run $rep of $repeat: full send: dwcp"
	dwcp_send full "$img1"
	say "run $rep of $repeat: the first version to a second stream, for the in-place resend (not timed)"
	dwcp_send seed "$img1" seed
	say "run $rep of $repeat: full send: scp"
	scp_send
	say "run $rep of $repeat: full send: zstd -1 | openssl enc -aes-256-ctr | nc"
	nc_send
	say "run $rep of $repeat: resend after the upgrade: dwcp (same stream, same --out)"
	dwcp_send resend "$img2"
	say "run $rep of $repeat: resend after the upgrade: dwcp recv --inplace (the second stream)"
	dwcp_send resend "$img2" dwcp-inplace
	say "run $rep of $repeat: resend after the upgrade: rsync --inplace --no-whole-file -z onto the scp copy"
	rsync_send
	say "run $rep of $repeat: resend after the upgrade: rsync --no-whole-file -z (a new file, renamed) onto the nc copy"
	rsync_send atomic
	[ "$rep" -eq "$repeat" ] || rm -f "$dwcp_out" "$dwcp_in_out" "$scp_out" "$nc_out"
done

# ---- 5. report --------------------------------------------------------------------------------
# median_row PHASE TOOL: of that tool's runs, the one of median wall time
# (the lower of the two middle ones for an even count)
median_row() {
	local r rows=()
	for r in "${results[@]}"; do
		case $r in "$1"$'\t'"$2"$'\t'*) rows+=("$r") ;; esac
	done
	printf '%s\n' "${rows[@]}" | sort -t $'\t' -k3,3g | sed -n "$(((${#rows[@]} + 1) / 2))p"
}
# field PHASE TOOL N: field N (3 wall, 4 cpu, 5 wire, 6 identical, 9 repetition)
# of the median run
field() { median_row "$1" "$2" | cut -f "$3"; }
runs=("full dwcp" "full scp" "full zstd|openssl|nc" "resend dwcp" "resend dwcp-inplace" "resend rsync" "resend rsync-atomic")
metrics() { # metrics WALL CPU: MB/s and CPU-s/GB of the image
	awk -v w="$1" -v c="$2" -v n="$image_bytes" 'BEGIN { printf "%.1f %.2f", n / 1e6 / w, c / (n / 1e9) }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "-" && b != "-") printf "%.3f", a / b; else printf "null" }'; }
label() {
	case $1 in
	dwcp) [ "$2" = full ] && echo "dwcp send (defaults)" || echo "dwcp send (delta resend, atomic)" ;;
	dwcp-inplace) echo "dwcp send + recv --inplace" ;;
	scp) echo "scp -c aes128-gcm" ;;
	"zstd|openssl|nc") echo "zstd -1 | openssl aes-256-ctr | nc" ;;
	rsync) echo "rsync --inplace --no-whole-file -z" ;;
	rsync-atomic) echo "rsync --no-whole-file -z (new file)" ;;
	esac
}
# PHASE TOOL OURS: OURS (dwcp or dwcp-inplace) against TOOL; each resend
# first against the rsync that makes the same trade (in place; a new file
# renamed over the old), then the atomic one against rsync --inplace.
pairs=("full scp dwcp" "full zstd|openssl|nc dwcp" "resend rsync dwcp-inplace" "resend rsync-atomic dwcp" "resend rsync dwcp")

if [ "$json" -eq 1 ]; then
	printf '{"size_mb": %s, "image_bytes": %s, "files": %s, "used_bytes": %s, ' \
		"$size_mb" "$image_bytes" "$files_v1" "$used_v1"
	printf '"upgrade": {"files_rewritten": %s, "bytes_rewritten": %s, "files_added": %s, "bytes_added": %s}, ' \
		"$rewritten" "$rewritten_bytes" "$added" "$added_bytes"
	printf '"runs": ['
	sep=""
	for r in "${results[@]}"; do
		IFS=$'\t' read -r phase tool wall cpu wire ident cpu_s cpu_r n <<<"$r"
		read -r mbs cpugb <<<"$(metrics "$wall" "$cpu")"
		printf '%s{"repetition": %s, "phase": "%s", "tool": "%s", "command": "%s", "wall_s": %s, "mb_per_s": %s, "cpu_s": %s, "cpu_s_sender": %s, "cpu_s_receiver": %s, "cpu_s_per_gb": %s, "wire_bytes": %s, "identical": %s}' \
			"$sep" "$n" "$phase" "$tool" "$(label "$tool" "$phase")" "$wall" "$mbs" "$cpu" "$cpu_s" "$cpu_r" "$cpugb" \
			"$([ "$wire" = - ] && echo null || echo "$wire")" "$([ "$ident" = yes ] && echo true || echo false)"
		sep=", "
	done
	printf '], "ratios": ['
	sep=""
	for p in "${pairs[@]}"; do
		read -r phase tool ours <<<"$p"
		printf '%s{"phase": "%s", "dwcp": "%s", "vs": "%s", "wall": %s, "mb_per_s": %s, "cpu_per_gb": %s, "wire_bytes": %s}' \
			"$sep" "$phase" "$ours" "$tool" \
			"$(ratio "$(field "$phase" "$ours" 3)" "$(field "$phase" "$tool" 3)")" \
			"$(ratio "$(field "$phase" "$tool" 3)" "$(field "$phase" "$ours" 3)")" \
			"$(ratio "$(field "$phase" "$ours" 4)" "$(field "$phase" "$tool" 4)")" \
			"$(ratio "$(field "$phase" "$ours" 5)" "$(field "$phase" "$tool" 5)")"
		sep=", "
	done
	printf '], "ssh_empty_session_cpu_s": %s, "identical": %s}\n' "$ssh_session_cpu" "$([ "$failed" -eq 0 ] && echo true || echo false)"
else
	printf '\nbench/peers.sh: %s MiB ext4 image, %s files from /usr (%s MB used); upgrade: %s files rewritten, %s added\n' \
		"$size_mb" "$files_v1" "$((used_v1 / 1000000))" "$rewritten" "$added"
	[ "$repeat" -eq 1 ] || printf 'each row: of %s runs, the one of median wall time (all runs: --json)\n' "$repeat"
	printf '%-7s %-36s %7s %7s %15s %8s %13s %9s\n' run tool "wall s" "MB/s" "CPU s (snd+rcv)" "CPU-s/GB" "wire bytes" identical
	for p in "${runs[@]}"; do
		read -r phase tool <<<"$p"
		IFS=$'\t' read -r phase tool wall cpu wire ident cpu_s cpu_r n <<<"$(median_row "$phase" "$tool")"
		read -r mbs cpugb <<<"$(metrics "$wall" "$cpu")"
		printf '%-7s %-36s %7.2f %7s %15s %8s %13s %9s\n' "$phase" "$(label "$tool" "$phase")" "$wall" "$mbs" \
			"$cpu ($cpu_s+$cpu_r)" "$cpugb" "$wire" "$ident"
	done
	printf '\nratios dwcp / tool (wall and CPU-s/GB and wire: < 1 is dwcp better; MB/s: > 1 is dwcp better)\n'
	printf '%-7s %-48s %7s %7s %15s %8s %13s\n' run "dwcp vs" wall "MB/s" "" "CPU-s/GB" wire
	for p in "${pairs[@]}"; do
		read -r phase tool ours <<<"$p"
		printf '%-7s %-48s %7s %7s %15s %8s %13s\n' "$phase" \
			"$([ "$ours" = dwcp ] || echo "--inplace vs ")$(label "$tool" "$phase")" \
			"$(ratio "$(field "$phase" "$ours" 3)" "$(field "$phase" "$tool" 3)")" \
			"$(ratio "$(field "$phase" "$tool" 3)" "$(field "$phase" "$ours" 3)")" "" \
			"$(ratio "$(field "$phase" "$ours" 4)" "$(field "$phase" "$tool" 4)")" \
			"$(ratio "$(field "$phase" "$ours" 5)" "$(field "$phase" "$tool" 5)")"
	done
	for phase in full resend; do
		printf 'dwcp %s: codec %s, pages found unchanged (never sent) %s, found moved (never sent) %s\n' "$phase" \
			"$(sed -n 's/.*"codec": *"\([^"]*\)".*/\1/p' "$work/$phase$(field "$phase" dwcp 9).send.json")" \
			"$(sed -n 's/.*"kept_pages": *\([0-9]*\).*/\1/p' "$work/$phase$(field "$phase" dwcp 9).send.json")" \
			"$(sed -n 's/.*"moved_pages": *\([0-9]*\).*/\1/p' "$work/$phase$(field "$phase" dwcp 9).send.json")"
	done
	printf '(CPU: both ends, every process: dwcp nodes + send/recv; sshd and its children + client; both pipelines.\n'
	printf ' Wire: dwcp bytes_wire; scp the file size; nc what it carried; rsync bytes sent + received.\n'
	printf ' dwcp fsyncs --out before it reports; the tools do not.\n'
	printf ' An empty ssh session (ssh HOST true) costs %s CPU-s here, included in the scp and rsync rows.)\n' \
		"$ssh_session_cpu"
fi
[ "$failed" -eq 0 ] || die "a received file differs from the one sent (MISMATCH above)"
