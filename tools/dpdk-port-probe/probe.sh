#!/bin/bash
# Runs the port ownership experiments of docs/dpdk-port.md as root.
#   probe.sh af_packet|af_xdp|memif
# veth pp0 (root ns, DPDK side) <-> pp1 (namespace dwcp_probe, raw socket side).
set -u
B=${B:-../../build/tools/dpdk-port-probe}
P=probe_$$
KIND=${1:-af_packet}
NS=dwcp_probe
cleanup() { [ -n "${PRI:-}" ] && kill "$PRI" 2>/dev/null; wait 2>/dev/null
	ip link del pp0 2>/dev/null; ip netns del $NS 2>/dev/null; rm -f /dev/hugepages/${P}* /var/run/dpdk/$P -r; }
trap cleanup EXIT
# run CMD...: its output without EAL chatter, then its exit status (139 = SIGSEGV)
run() { local o; o=$("$@" 2>&1); local rc=$?; echo "$o" | grep -v '^EAL'; echo "[$1 $2 exit $rc]"; }
ip netns add $NS; ip link add pp0 type veth peer name pp1; ip link set pp1 netns $NS
ip link set pp0 up; ip -n $NS link set pp1 up; ip link set pp0 promisc on
case $KIND in
af_packet) DEV="net_af_packet0,iface=pp0" ;;
af_xdp)    DEV="net_af_xdp0,iface=pp0,start_queue=0,queue_count=1" ;;
memif)     DEV="net_memif0,role=server,socket=/run/$P.memif" ;;
esac
echo "== primary probes $DEV"
$B/port_probe primary $P "$DEV" > /tmp/$P.pri 2>&1 & PRI=$!
sleep 3; cat /tmp/$P.pri | head -5
echo "== 1. secondary rx while 2000 frames come from the namespace"
run $B/port_probe rx $P 4 & S=$!
sleep 2; ip netns exec $NS $B/rawsock send pp1 2000 64; wait $S
echo "== 1. secondary tx 1000 x 1500 B, namespace counts"
ip netns exec $NS $B/rawsock recv pp1 4 & R=$!
sleep 1; run $B/port_probe tx $P 1000 1500; wait $R
echo "== 2. secondary holding mbufs, kill -9 mid-bursts"
$B/port_probe rx $P 30 hold > /tmp/$P.hold 2>&1 & S=$!
sleep 2; ip netns exec $NS $B/rawsock send pp1 3000 64 & sleep 0.5; kill -9 $S; wait $S 2>/dev/null; echo "[held rx exit $?]"; grep -v '^EAL' /tmp/$P.hold
sleep 1.5; echo "primary after kill -9:"; tail -1 /tmp/$P.pri
echo "== 2. new secondary after the kill"
run $B/port_probe rx $P 4 & S=$!
sleep 2; ip netns exec $NS $B/rawsock send pp1 2000 64; wait $S
sleep 1.5; echo "primary:"; tail -1 /tmp/$P.pri
echo "== 3. secondary hotplugs a second af_packet vdev itself"
ip link add pq0 type veth peer name pq1; ip link set pq0 up; ip link set pq1 up
run $B/port_probe hotplug $P "net_af_packet1,iface=pq0"
sleep 1.5; echo "primary after the secondary exited:"; tail -2 /tmp/$P.pri
echo "fds of primary on sockets:"; ls -l /proc/$PRI/fd | grep -c socket
ip link del pq0 2>/dev/null
echo "== 4. zero-copy tx of a memzone (extbuf) 500 x 1024 B"
ip netns exec $NS $B/rawsock recv pp1 4 & R=$!
sleep 1; run $B/port_probe tx $P 500 1024 ext; wait $R
sleep 1.5; echo "primary:"; tail -1 /tmp/$P.pri
