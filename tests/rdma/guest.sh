#!/bin/sh
# Run inside the Soft-RoCE guest by tests/rdma/vm.sh (busybox sh; rxe0 on
# dummy0 at 10.0.0.1). Every "PASS name" / "FAIL name" line is a test.

# node_ini NAME: the config of a small node (a 2 GiB guest holds two) on stdout
node_ini() {
	cat <<EOF
[supervisor]
instance = $1
hugepage_mb = 256
bin_dir = /opt/dwcp/bin
[pool]
buffers = 256
[mem]
delta_cache_mb = 16
[simd]
workers = 1
EOF
}

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

# 3. two keyed nodes in the guest, a transfer between them (over svc-net's
#    TCP today; the RDMA path will be checked the same way)
dwcp keygen /tmp/node.key >/dev/null
for n in a b; do
	port=7101; [ $n = b ] && port=7102
	node_ini vm$n > /tmp/vm$n.ini
	cat >> /tmp/vm$n.ini <<EOF2
[crypto]
key_file = /tmp/node.key
[net]
listen = 10.0.0.1:$port
[stream]
index_dir = /tmp/index-$n
EOF2
	timeout 120 dwcp-supervisor --config /tmp/vm$n.ini start >/tmp/start-$n.log 2>&1 || cat /tmp/start-$n.log
done
head -c 16777216 /dev/urandom > /tmp/src.img
timeout 300 dwcp recv --instance vmb --stream vm1 --out /tmp/out.img --timeout 240 >/tmp/recv.json 2>&1 &
rpid=$!
sleep 1
timeout 300 dwcp send --instance vma --stream vm1 --file /tmp/src.img --to 10.0.0.1:7102 --timeout 240 >/tmp/send.json 2>&1
src=$?
wait $rpid
rrc=$?
if [ $src -eq 0 ] && [ $rrc -eq 0 ] && cmp -s /tmp/src.img /tmp/out.img; then
	echo "PASS two_nodes_in_the_guest_move_a_file_bit_identical: 16 MiB"
else
	echo "FAIL two_nodes_in_the_guest_move_a_file_bit_identical: send $src, recv $rrc"
	cat /tmp/send.json /tmp/recv.json; tail -20 /run/dwcp/vma/supervisor.log /run/dwcp/vmb/supervisor.log
fi
for n in a b; do dwcp-supervisor --instance vm$n stop >/dev/null 2>&1; done
exit 0
