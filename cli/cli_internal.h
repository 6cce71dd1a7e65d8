/* Subcommands of the dwcp command. */
#ifndef DWCP_CLI_INTERNAL_H
#define DWCP_CLI_INTERNAL_H

int dwcp_cli_bench_handoff(int argc, char **argv);
/* bench/ops.c: function-level timing of the data-path ops (no services). */
int dwcp_cli_bench_ops(int argc, char **argv);
/* bench/transfer.c: send -> recv between two local nodes beside its references. */
int dwcp_cli_bench_transfer(int argc, char **argv);
/* bench/recovery.c: crash restart, upgrade pause and blackout per service beside a bare EAL init. */
int dwcp_cli_bench_recovery(int argc, char **argv);
/* bench/net.c */
int dwcp_cli_bench_net(int argc, char **argv);
int dwcp_cli_bench_rdma(int argc, char **argv);
int dwcp_cli_bench_gpu(int argc, char **argv);
/* cli/keygen.c: `dwcp keygen PATH`, a new AES-256 key file; argv[0] is
 * "keygen". Returns the exit status (0, 1 failed, 2 usage). */
int dwcp_cli_keygen(int argc, char **argv);

/* cli/send.c, cli/recv.c: the transfer commands; argv[0] is the command. */
int dwcp_cli_send(int argc, char **argv);
int dwcp_cli_recv(int argc, char **argv);

#endif
