/* Subcommands of the dwcp command. */
#ifndef DWCP_CLI_INTERNAL_H
#define DWCP_CLI_INTERNAL_H

int dwcp_cli_bench_handoff(int argc, char **argv);
/* bench/ops.c: function-level timing of the data-path ops (no services). */
int dwcp_cli_bench_ops(int argc, char **argv);
/* cli/keygen.c: `dwcp keygen PATH`, a new AES-256 key file; argv[0] is
 * "keygen". Returns the exit status (0, 1 failed, 2 usage). */
int dwcp_cli_keygen(int argc, char **argv);

#endif
