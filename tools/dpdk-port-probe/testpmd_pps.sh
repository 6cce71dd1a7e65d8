#!/bin/bash
# pps reference: dpdk-testpmd txonly on an af_packet vdev in namespace tp_ns (veth tp1)
# Each testpmd needs a main and a forwarding lcore: both use cores 0-1 (2 cores here: rough figures).
# -> veth -> dpdk-testpmd rxonly on an af_packet vdev in the root namespace (veth tp0).
#   testpmd_pps.sh FRAME_BYTES [SECONDS]     (TESTPMD= path to dpdk-testpmd)
TP=${TESTPMD:-dpdk-testpmd}; SZ=${1:-64}; T=${2:-8}
trap 'ip link del tp0 2>/dev/null; ip netns del tp_ns 2>/dev/null; rm -rf /var/run/dpdk/tp_[rt]x_$$ /dev/hugepages/tp_[rt]x_$$*' EXIT
ip netns add tp_ns; ip link add tp0 type veth peer name tp1; ip link set tp1 netns tp_ns
ip link set tp0 up; ip -n tp_ns link set tp1 up
ip link set tp0 mtu 9000; ip -n tp_ns link set tp1 mtu 9000
timeout $((T+4)) $TP -l 0-1 --file-prefix=tp_rx_$$ --no-pci -m 128 --vdev=net_af_packet0,iface=tp0 -- \
	--forward-mode=rxonly --stats-period=2 --total-num-mbufs=16384 --port-topology=loop > /tmp/tp_rx_$$ 2>&1 &
sleep 2
timeout $T ip netns exec tp_ns $TP -l 0-1 --file-prefix=tp_tx_$$ --no-pci -m 128 --vdev=net_af_packet1,iface=tp1 -- \
	--forward-mode=txonly --txpkts=$SZ --stats-period=2 --total-num-mbufs=16384 --port-topology=loop > /tmp/tp_tx_$$ 2>&1
wait
echo "tx side (frames of $SZ B):"; grep -E "Tx-pps" /tmp/tp_tx_$$ | tail -2
echo "rx side:"; grep -E "Rx-pps" /tmp/tp_rx_$$ | tail -2
grep -iE "error|fail" /tmp/tp_rx_$$ /tmp/tp_tx_$$ | head -5
