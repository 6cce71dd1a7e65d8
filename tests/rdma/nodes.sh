# Sourced in the Soft-RoCE guest (as /nodes.sh) by tests/rdma/guest.sh and
# bench/rdma-guest.sh: small dwcp nodes on hugetlbfs, and two keyed ones
# (vma on 10.0.0.1:7101 sends to vmb on 10.0.0.1:7102, both on rxe0).

# node_ini NAME: the config of a small node (a 2 GiB guest holds two) on stdout
node_ini() {
	cat <<EOF2
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
EOF2
}

# start_pair: vma and vmb, one key, each listening on rxe0's address;
# $PAIR_INI (if set) is added to both configs
start_pair() {
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
${PAIR_INI:-}
EOF2
		DWCP_LOG=${DWCP_NODE_LOG:-info} timeout 120 dwcp-supervisor --config /tmp/vm$n.ini start >/tmp/start-$n.log 2>&1 ||
			cat /tmp/start-$n.log
	done
}

# rdma_pid NODE [WORKER]: the pid of its svc-rdma (or of worker svc-rdma.WORKER)
rdma_pid() {
	w=svc-rdma; [ -n "${2:-}" ] && w=svc-rdma.$2
	dwcpctl --instance "$1" status 2>/dev/null | awk -v w="$w" '$1 == w { print $3 }'
}
# svc_ops NODE LABEL: the steps that process did (dwcpctl status --json)
svc_ops() {
	dwcpctl --instance "$1" status --json 2>/dev/null | tr -d ' \t\n' | sed 's/{"name":/\n&/g' |
		grep "^{\"name\":\"$2\"," | grep -o '"ops":[0-9]*' | head -1 | sed 's/.*://'
}
# rdma_sent: the chunks vma's svc-rdma wrote to vmb so far
rdma_sent() { dwcpctl --instance vma status 2>/dev/null | sed -n 's/^peer 10.0.0.1:7102 .* \([0-9]*\) chunks by rdma.*/\1/p'; }
# wait_rdma_up TENTHS: until vma's peer vmb says "transport rdma", at most TENTHS x 0.1 s
wait_rdma_up() {
	i=0
	while [ $i -lt "$1" ] && ! dwcpctl --instance vma status 2>/dev/null | grep -q '^peer 10.0.0.1:7102 .*transport rdma'; do
		sleep 0.1; i=$((i + 1))
	done
}
