#!/bin/sh
# Run inside the Soft-RoCE guest by tests/rdma/vm.sh (busybox sh; rxe0 on
# dummy0 at 10.0.0.1). Every "PASS name" / "FAIL name" line is a test.

. /nodes.sh

# 1. svc-rdma's RC transport core against rxe0
echo 320 > /proc/sys/vm/nr_hugepages
timeout 300 rc_loop 10.0.0.1 7471

# 2. a whole node (supervisor and services as DPDK processes on
#    hugetlbfs): svc-rdma registers the node's buffer pool on rxe0
mkdir -p /dev/hugepages /run/dwcp
mount -t hugetlbfs nodev /dev/hugepages
node_ini vmnode > /tmp/vm.ini
out=$(timeout 120 dwcp-supervisor --config /tmp/vm.ini start 2>&1)
rc=$?
i=0
reason=""
while [ $rc -eq 0 ] && [ $i -lt 60 ]; do
	reason=$(dwcpctl --instance vmnode status 2>/dev/null | grep '^svc-rdma')
	case "$reason" in *registered*|*"no RDMA"*|*cannot*|*"no type 2"*) break ;; esac
	sleep 1
	i=$((i + 1))
done
case "$reason" in
*registered*) echo "PASS node_registers_its_pool_on_the_rdma_device: $(echo "$reason" | sed 's/  */ /g')" ;;
*) echo "FAIL node_registers_its_pool_on_the_rdma_device: start exit $rc ($out); svc-rdma: $reason"
   cat /run/dwcp/vmnode/supervisor.log 2>/dev/null | tail -30 ;;
esac
dwcp-supervisor --instance vmnode stop >/dev/null 2>&1

# 3. two keyed nodes in the guest: chunks go by RDMA (svc-rdma to svc-rdma
#    over rxe0), svc-net carries the handshake and the ACKs
export DWCP_NODE_LOG=debug   # the supervisors' logs, shown when a case fails
start_pair

# transfer NAME MiB [KILL_NODE [WORKER]]: send NAME from vma to vmb; with
# KILL_NODE, kill -9 that node's svc-rdma (or its worker svc-rdma.WORKER)
# once chunks are moving by RDMA
transfer() {
	head -c $(($2 * 1048576)) /dev/urandom > /tmp/src-$1.img
	timeout 300 dwcp recv --instance vmb --stream $1 --out /tmp/out-$1.img --timeout 240 --json >/tmp/recv-$1.json 2>&1 &
	rpid=$!
	sleep 1
	timeout 300 dwcp send --instance vma --stream $1 --file /tmp/src-$1.img --to 10.0.0.1:7102 --timeout 240 --json >/tmp/send-$1.json 2>&1 &
	spid=$!
	killed=""
	if [ -n "${3:-}" ]; then
		before=$(rdma_sent); i=0
		while [ $i -lt 600 ] && kill -0 $spid 2>/dev/null; do
			now=$(rdma_sent)
			if [ -n "$now" ] && [ "$now" -ge $((${before:-0} + 64)) ]; then
				pid=$(rdma_pid $3 ${4:-})
				[ -n "$pid" ] && kill -9 "$pid" && killed="svc-rdma${4:+.$4} of $3 (pid $pid) killed after $((now - ${before:-0})) chunks by RDMA"
				break
			fi
			sleep 0.1
			i=$((i + 1))
		done
	fi
	wait $spid; src=$?
	wait $rpid; rrc=$?
	if [ $src -eq 0 ] && [ $rrc -eq 0 ] && cmp -s /tmp/src-$1.img /tmp/out-$1.img; then
		result=ok
	else
		result="send $src, recv $rrc, files differ or missing"
	fi
	rm -f /tmp/out-$1.img /tmp/src-$1.img
}

# a: the first send; svc-rdma connects once svc-net has the peer
transfer vm1 16
if [ "$result" = ok ]; then
	echo "PASS two_nodes_in_the_guest_move_a_file_bit_identical: 16 MiB, $(grep -o '"transport": "[a-z]*", "rdma_chunks": [0-9]*' /tmp/send-vm1.json)"
else
	echo "FAIL two_nodes_in_the_guest_move_a_file_bit_identical: $result"
	cat /tmp/send-vm1.json /tmp/recv-vm1.json; tail -20 /run/dwcp/vma/supervisor.log /run/dwcp/vmb/supervisor.log
fi

# b: the peer's transport is RDMA: status says so, a send's chunks take it
wait_rdma_up 100
transfer vm2 256   # the largest two copies of a file the 2 GiB guest's /tmp holds
peer=$(dwcpctl --instance vma status 2>/dev/null | grep '^peer 10.0.0.1:7102')
inpeer=$(dwcpctl --instance vmb status 2>/dev/null | grep '^peer .*(in)')
if [ "$result" = ok ] && grep -q '"transport": "rdma"' /tmp/send-vm2.json &&
   echo "$peer" | grep -q 'transport rdma' && echo "$inpeer" | grep -q 'transport rdma'; then
	echo "PASS a_transfer_between_rdma_nodes_goes_by_rdma: 256 MiB bit-identical, $(grep -o '"rdma_chunks": [0-9]*' /tmp/send-vm2.json), $(grep -o '"chunks": [0-9]*' /tmp/send-vm2.json | head -1)"
else
	echo "FAIL a_transfer_between_rdma_nodes_goes_by_rdma: $result; sender's peer: $peer; receiver's: $inpeer"
	cat /tmp/send-vm2.json /tmp/recv-vm2.json; tail -30 /run/dwcp/vma/supervisor.log /run/dwcp/vmb/supervisor.log
fi

# c, d: svc-rdma killed mid-transfer, at the receiver (its lent buffers
# die with its queue pairs) and at the sender (the chunks it was writing
# go back to svc-net): nothing lost, the file bit-identical, and RDMA
# comes back for the next transfer
for side in vmb vma; do
	transfer vm3$side 48 $side
	if [ "$result" = ok ] && [ -n "$killed" ]; then
		echo "PASS svc_rdma_killed_mid_transfer_loses_nothing_$side: 48 MiB bit-identical; $killed; $(grep -o '"resent": [0-9]*' /tmp/send-vm3$side.json)"
	else
		echo "FAIL svc_rdma_killed_mid_transfer_loses_nothing_$side: ${result}; ${killed:-nothing killed (no chunk moved by RDMA)}"
		cat /tmp/send-vm3$side.json /tmp/recv-vm3$side.json; tail -30 /run/dwcp/vma/supervisor.log /run/dwcp/vmb/supervisor.log
	fi
done
wait_rdma_up 200
transfer vm4 16
if [ "$result" = ok ] && grep -q '"transport": "rdma"' /tmp/send-vm4.json; then
	echo "PASS rdma_comes_back_after_svc_rdma_restarts: 16 MiB bit-identical, $(grep -o '"rdma_chunks": [0-9]*' /tmp/send-vm4.json)"
else
	echo "FAIL rdma_comes_back_after_svc_rdma_restarts: $result; $(dwcpctl --instance vma status 2>/dev/null | grep '^peer\|^svc-rdma')"
	grep -h 'rdma' /run/dwcp/vma/supervisor.log /run/dwcp/vmb/supervisor.log | tail -30
fi
# every teardown above (a killed peer's connections) was quick: svc-rdma
# restarted once on each node, for the kill, never for a missed heartbeat
ra=$(dwcpctl --instance vma status 2>/dev/null | awk '$1 == "svc-rdma" { print $5 }')
rb=$(dwcpctl --instance vmb status 2>/dev/null | awk '$1 == "svc-rdma" { print $5 }')
hung=$(grep -h 'svc-rdma.*no heartbeat' /run/dwcp/vma/supervisor.log /run/dwcp/vmb/supervisor.log)
if [ "$ra" = 1 ] && [ "$rb" = 1 ] && [ -z "$hung" ]; then
	echo "PASS svc_rdma_restarts_only_when_killed: one restart on each node"
else
	echo "FAIL svc_rdma_restarts_only_when_killed: restarts vma $ra, vmb $rb; $hung"
	# What each node's svc-rdma and supervisor said before the hang or
	# the extra restart: the cause has been seen only in CI so far.
	for n in vma vmb; do
		echo "---- $n: supervisor log, svc-rdma and restarts (last 60) ----"
		grep -hE 'svc-rdma|no heartbeat|restart|reclaimed' /run/dwcp/$n/supervisor.log | tail -60
	done
fi

# e: the receiver's svc-rdma upgraded mid-transfer (the new generation
# attaches while the old one drains, then takes the listening port over)
head -c $((32 * 1048576)) /dev/urandom > /tmp/src-vm5.img
timeout 300 dwcp recv --instance vmb --stream vm5 --out /tmp/out-vm5.img --timeout 240 --json >/tmp/recv-vm5.json 2>&1 &
rpid=$!
sleep 1
timeout 300 dwcp send --instance vma --stream vm5 --file /tmp/src-vm5.img --to 10.0.0.1:7102 --timeout 240 --json >/tmp/send-vm5.json 2>&1 &
spid=$!
before=$(rdma_sent); i=0
while [ $i -lt 600 ] && [ "$(rdma_sent)" -lt $((${before:-0} + 32)) ] && kill -0 $spid 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
up=$(timeout 60 dwcpctl --instance vmb upgrade svc-rdma --binary /opt/dwcp/bin/svc-rdma 2>&1); urc=$?
wait $spid; src=$?
wait $rpid; rrc=$?
if [ $src -eq 0 ] && [ $rrc -eq 0 ] && cmp -s /tmp/src-vm5.img /tmp/out-vm5.img && [ $urc -eq 0 ]; then
	i=0
	while [ $i -lt 200 ] && ! dwcpctl --instance vmb status 2>/dev/null | grep -q '^peer .*(in): transport rdma'; do
		sleep 0.1; i=$((i + 1))
	done
	transfer vm6 16
	if [ "$result" = ok ] && grep -q '"transport": "rdma"' /tmp/send-vm6.json; then
		echo "PASS svc_rdma_upgraded_mid_transfer: 32 MiB bit-identical, then 16 MiB by RDMA again ($(grep -o '"rdma_chunks": [0-9]*' /tmp/send-vm6.json))"
	else
		echo "FAIL svc_rdma_upgraded_mid_transfer: the next transfer: $result, $(grep -o '"transport": "[a-z]*"' /tmp/send-vm6.json)"
		grep -h 'rdma' /run/dwcp/vma/supervisor.log /run/dwcp/vmb/supervisor.log | tail -20
	fi
else
	echo "FAIL svc_rdma_upgraded_mid_transfer: send $src, recv $rrc, upgrade $urc ($up)"
	cat /tmp/send-vm5.json /tmp/recv-vm5.json; grep -h 'rdma' /run/dwcp/vmb/supervisor.log | tail -20
fi
rm -f /tmp/src-vm5.img /tmp/out-vm5.img
for n in a b; do dwcp-supervisor --instance vm$n stop >/dev/null 2>&1; done

# f: two svc-rdma workers a node: a queue pair each to the peer, chunks
# spread over both; one of them killed mid-transfer loses nothing
export PAIR_INI="[rdma]
workers = 2"
start_pair
transfer vm7 8   # connects svc-net, then both workers
i=0
while [ $i -lt 200 ] && ! dwcpctl --instance vma status --json 2>/dev/null | tr -d ' \t\n' | grep -q '"rdma_workers":2'; do
	sleep 0.1; i=$((i + 1))
done
o0=$(svc_ops vma svc-rdma); o1=$(svc_ops vma svc-rdma.1)
transfer vm8 32
n0=$(( $(svc_ops vma svc-rdma) - ${o0:-0} )); n1=$(( $(svc_ops vma svc-rdma.1) - ${o1:-0} ))
if [ "$result" = ok ] && grep -q '"transport": "rdma"' /tmp/send-vm8.json && [ "$n0" -gt 0 ] && [ "$n1" -gt 0 ]; then
	echo "PASS two_rdma_workers_share_a_peer: 32 MiB bit-identical, chunks written by svc-rdma $n0, by svc-rdma.1 $n1"
else
	echo "FAIL two_rdma_workers_share_a_peer: $result; $(grep -o '"transport": "[a-z]*", "rdma_chunks": [0-9]*' /tmp/send-vm8.json); svc-rdma $n0, svc-rdma.1 $n1 steps"
	dwcpctl --instance vma status; grep -h 'rdma' /run/dwcp/vma/supervisor.log | tail -20
fi
transfer vm9 32 vma 1
if [ "$result" = ok ] && [ -n "$killed" ]; then
	echo "PASS an_rdma_worker_killed_mid_transfer_loses_nothing: 32 MiB bit-identical; $killed; $(grep -o '"resent": [0-9]*' /tmp/send-vm9.json)"
else
	echo "FAIL an_rdma_worker_killed_mid_transfer_loses_nothing: ${result}; ${killed:-nothing killed}"
	cat /tmp/send-vm9.json; tail -30 /run/dwcp/vma/supervisor.log
fi
for n in a b; do dwcp-supervisor --instance vm$n stop >/dev/null 2>&1; done

# g: two svc-net workers a node: RDMA carries the first worker's chunks
# (its session is the one the peer table names), TCP the other's, and the
# receiver's svc-rdma hands landed chunks to the worker that has the
# sender's first session
export PAIR_INI="[net]
workers = 2"
start_pair
transfer vm10 8   # connects both workers, then svc-rdma
wait_rdma_up 200
transfer vm11 32
nr=$(grep -o '"rdma_chunks": [0-9]*' /tmp/send-vm11.json | sed 's/.*: //')
o1=$(svc_ops vma svc-net.1)
if [ "$result" = ok ] && [ "${nr:-0}" -gt 0 ] && [ "${nr:-0}" -lt 128 ] && [ "${o1:-0}" -gt 0 ]; then
	echo "PASS two_net_workers_share_a_peer_with_rdma: 32 MiB bit-identical, $nr of 128 chunks by RDMA (svc-net's), the rest by svc-net.1 over TCP"
else
	echo "FAIL two_net_workers_share_a_peer_with_rdma: $result; rdma chunks ${nr:-none} of 128, svc-net.1 steps ${o1:-none}"
	dwcpctl --instance vma status; dwcpctl --instance vmb status; grep -h 'rdma\|net' /run/dwcp/vmb/supervisor.log | tail -20
fi
# the receiver's first svc-net worker killed: the connections it had come
# back on either worker, and RDMA carries the next transfer still (a worker
# that no longer has the session passes landed chunks to the other)
pid=$(dwcpctl --instance vmb status 2>/dev/null | awk '$1 == "svc-net" { print $3 }')
[ -n "$pid" ] && kill -9 "$pid"
i=0
while [ $i -lt 300 ] && ! dwcpctl --instance vmb status 2>/dev/null |
	awk -v old="$pid" '$1 == "svc-net" && $2 == "READY" && $3 != old { ok = 1 } END { exit !ok }'; do
	sleep 0.1; i=$((i + 1))
done
transfer vm12 8   # the sender reconnects
wait_rdma_up 200
transfer vm13 32
nr=$(grep -o '"rdma_chunks": [0-9]*' /tmp/send-vm13.json | sed 's/.*: //')
if [ -n "$pid" ] && [ "$result" = ok ] && [ "${nr:-0}" -gt 0 ]; then
	echo "PASS rdma_goes_on_after_a_receiving_net_worker_is_killed: 32 MiB bit-identical, $nr of 128 chunks by RDMA"
else
	echo "FAIL rdma_goes_on_after_a_receiving_net_worker_is_killed: pid ${pid:-none}, $result; rdma chunks ${nr:-none}"
	dwcpctl --instance vmb status; grep -h 'rdma\|net' /run/dwcp/vmb/supervisor.log | tail -20
fi
for n in a b; do dwcp-supervisor --instance vm$n stop >/dev/null 2>&1; done
exit 0
