/* dwcp: the user's command for data-path work on a node (send, recv,
 * bench, keygen). Subcommands dispatch to their own files. */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "bench/history.h"
#include "cli_internal.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dwcp COMMAND ...\n"
		"commands:\n"
		"  send --stream NAME --file PATH --to PEER [--instance NAME] [--json] ...\n"
		"        send a file to another node (dwcp send --help)\n"
		"  recv --stream NAME [--out PATH] [--instance NAME] [--json] ...\n"
		"        wait for a stream on this node and write it (dwcp recv --help)\n"
		"  bench handoff [--instance NAME] [--count N] [--size BYTES] [--window N]\n"
		"        descriptors client -> svc-simd (crc32c) -> client, beside raw rte_ring SPSC\n"
		"        between the same two processes; poll-then-sleep and dedicated-poll modes\n"
		"  bench ops [--size BYTES] [--ms N] [--no-avx512]\n"
		"        GB/s of each data-path op on one buffer (checksums, delta scans,\n"
		"        LZ4/zstd, AES-256-GCM with both backends), beside references\n"
		"  bench transfer [--size MiB] [--connections N] [--workers [N]] [--sampling] [--json]\n"
		"                 [--keep] [--history FILE] [--label L]\n"
		"        dwcp send -> recv between two local nodes (zstd-1 and codec auto),\n"
		"        beside the same ops in one thread and raw TCP; --workers: a row per\n"
		"        [simd] workers = 1, 2, 4 .. N (default N: the CPUs); then the bytes of a\n"
		"        delta send on the default delta cache against zstd -1; --sampling: what the\n"
		"        continuous profile costs (off vs [prof] sample_hz = 1000, scaled to the\n"
		"        built-in rate); --json: one object, also appended to the bench history\n"
		"        (--history FILE, --label L)\n"
		"  bench compare [--history FILE] [--all] LABEL_A LABEL_B\n"
		"        the figures of the runs labelled B beside those labelled A: which moved\n"
		"        beyond the run-to-run noise of each side\n"
		"  bench net [--seconds S] [--size BYTES] [--xfer-mib N] [--mtu M] [--net-workers N]\n"
		"        frames per second through a node's DPDK port ([net] transport = dpdk) over\n"
		"        a veth pair, and a dwcp send of N MiB (default 1024; 0: none) over the\n"
		"        ports at MTU 1500 and M (default 9000), beside dpdk-testpmd and kernel\n"
		"        TCP on the same veth\n"
		"  bench gpu [--seconds S] [--chunk-kib N]\n"
		"        svc-gpu's engine per op (CRC32C, AES-256-GCM seal, LZ4) and for the pipeline,\n"
		"        GB/s of input end to end, beside one CPU core and the PCIe copy rate, same run\n"
		"  bench rdma [CHUNKS]\n"
		"        svc-rdma's RC transport (64 KiB chunks by RDMA WRITE WITH IMMEDIATE into lent\n"
		"        buffers) beside ib_write_bw and ib_write_lat on the same device, in a\n"
		"        Soft-RoCE guest where the host has none (bench/rdma.sh)\n"
		"  bench recovery [--count N]\n"
		"        crash restart and upgrade pause per service, blackout under load,\n"
		"        beside a bare secondary rte_eal_init of the same node\n"
		"  keygen PATH\n"
		"        write a new random AES-256 key file (mode 0600) for [crypto] key_file\n");
}

int main(int argc, char **argv)
{
	dwcp_log_init("dwcp", DWCP_LOG_INFO);
	if (argc >= 3 && strcmp(argv[1], "bench") == 0 && strcmp(argv[2], "handoff") == 0)
		return dwcp_cli_bench_handoff(argc - 2, argv + 2);
	if (argc >= 3 && strcmp(argv[1], "bench") == 0 && strcmp(argv[2], "ops") == 0)
		return dwcp_cli_bench_ops(argc - 2, argv + 2);
	if (argc >= 3 && strcmp(argv[1], "bench") == 0 && strcmp(argv[2], "transfer") == 0)
		return dwcp_cli_bench_transfer(argc - 2, argv + 2);
	if (argc >= 3 && strcmp(argv[1], "bench") == 0 && strcmp(argv[2], "compare") == 0)
		return dwcp_cli_bench_compare(argc - 2, argv + 2);
	if (argc >= 3 && strcmp(argv[1], "bench") == 0 && strcmp(argv[2], "net") == 0)
		return dwcp_cli_bench_net(argc - 2, argv + 2);
	if (argc >= 3 && strcmp(argv[1], "bench") == 0 && strcmp(argv[2], "rdma") == 0)
		return dwcp_cli_bench_rdma(argc - 2, argv + 2);
	if (argc >= 3 && strcmp(argv[1], "bench") == 0 && strcmp(argv[2], "gpu") == 0)
		return dwcp_cli_bench_gpu(argc - 2, argv + 2);
	if (argc >= 3 && strcmp(argv[1], "bench") == 0 && strcmp(argv[2], "recovery") == 0)
		return dwcp_cli_bench_recovery(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "send") == 0)
		return dwcp_cli_send(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "recv") == 0)
		return dwcp_cli_recv(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
		return dwcp_cli_keygen(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
