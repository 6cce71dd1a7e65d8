#!/bin/sh
# Run inside the Soft-RoCE guest for bench/rdma.sh: svc-rdma's RC core
# (tests/rdma/rc_loop bench) and perftest's ib_write_bw / ib_write_lat on
# the same device (rxe0), 64 KiB messages, in this one boot; then two whole
# nodes: one `dwcp send` by RDMA, the same by TCP (the sender's svc-rdma
# drained), same file, same boot.
. /nodes.sh
n=${N:-2048}
echo 256 > /proc/sys/vm/nr_hugepages
timeout 300 rc_loop 10.0.0.1 7471 bench $n
# perftest: server in the background, client against it (TCP side channel on lo)
ib_write_bw -d rxe0 -x 1 -F -s 65536 -n $n >/tmp/bw.srv 2>&1 &
sleep 2
timeout 300 ib_write_bw -d rxe0 -x 1 -F -s 65536 -n $n 127.0.0.1 >/tmp/bw.cli 2>&1
wait
awk '$1 == 65536 && NF >= 5 { print "BENCH ib_write_bw_MBps", $4; exit }' /tmp/bw.cli
ib_write_lat -d rxe0 -x 1 -F -s 65536 -n 500 >/tmp/lat.srv 2>&1 &
sleep 2
timeout 300 ib_write_lat -d rxe0 -x 1 -F -s 65536 -n 500 127.0.0.1 >/tmp/lat.cli 2>&1
wait
awk '$1 == 65536 && NF >= 5 { print "BENCH ib_write_lat_us", $5; exit }' /tmp/lat.cli

# whole nodes: MB/s of `dwcp send` (its own time), by RDMA, then by TCP
mb=${NODE_MB:-64}
echo 320 > /proc/sys/vm/nr_hugepages
mkdir -p /dev/hugepages /run/dwcp
mount -t hugetlbfs nodev /dev/hugepages
start_pair
head -c $((mb * 1048576)) /dev/urandom > /tmp/src.img
# send_node STREAM: one send of /tmp/src.img from vma to vmb; sets mbps ("?"
# when it failed or the copy differs) and transport (what the summary said)
send_node() {
	timeout 300 dwcp recv --instance vmb --stream $1 --out /tmp/out.img --timeout 240 >/dev/null 2>&1 &
	sleep 1
	timeout 300 dwcp send --instance vma --stream $1 --file /tmp/src.img --to 10.0.0.1:7102 --timeout 240 --json >/tmp/s.json 2>&1
	wait
	mbps="?"
	cmp -s /tmp/src.img /tmp/out.img &&
		mbps=$(sed -n 's/.*"bytes_in": \([0-9]*\).*"seconds": \([0-9.]*\).*/\1 \2/p' /tmp/s.json | awk '{ printf "%.1f", $1 / $2 / 1e6 }')
	transport=$(sed -n 's/.*"transport": "\([a-z]*\)".*/\1/p' /tmp/s.json)
	rm -f /tmp/out.img
}
send_node warm   # connects svc-net, then svc-rdma
wait_rdma_up 200
send_node byrdma
echo "BENCH node_rdma_MBps ${mbps:-?} ${transport:-?}"
dwcpctl --instance vma drain svc-rdma >/dev/null 2>&1
send_node bytcp
echo "BENCH node_tcp_MBps ${mbps:-?} ${transport:-?}"
for n in a b; do dwcp-supervisor --instance vm$n stop >/dev/null 2>&1; done
exit 0
