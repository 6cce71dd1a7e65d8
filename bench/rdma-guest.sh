#!/bin/sh
# Run inside the Soft-RoCE guest for bench/rdma.sh: svc-rdma's RC core
# (tests/rdma/rc_loop bench) and perftest's ib_write_bw / ib_write_lat on
# the same device (rxe0), 64 KiB messages, in this one boot.
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
exit 0
