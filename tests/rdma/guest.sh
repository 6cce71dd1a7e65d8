#!/bin/sh
# Run inside the Soft-RoCE guest by tests/rdma/vm.sh (busybox sh; rxe0 on
# dummy0 at 10.0.0.1). Every "PASS name" / "FAIL name" line is a test.

# 1. svc-rdma's RC transport core against rxe0
echo 256 > /proc/sys/vm/nr_hugepages
timeout 300 rc_loop 10.0.0.1 7471

# 2. a whole node (supervisor and services as DPDK processes on
#    hugetlbfs): svc-rdma registers the node's buffer pool on rxe0
mkdir -p /dev/hugepages /run/dwcp
mount -t hugetlbfs nodev /dev/hugepages
cat > /tmp/vm.ini <<EOF
[supervisor]
instance = vmnode
hugepage_mb = 256
bin_dir = /opt/dwcp/bin
[pool]
buffers = 256
[mem]
delta_cache_mb = 16
[simd]
workers = 1
EOF
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
exit 0
