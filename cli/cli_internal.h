/* Subcommands of the dwcp command. */
#ifndef DWCP_CLI_INTERNAL_H
#define DWCP_CLI_INTERNAL_H

int dwcp_cli_bench_handoff(int argc, char **argv);
/* bench/ops.c: function-level timing of the data-path ops (no services). */
int dwcp_cli_bench_ops(int argc, char **argv);

#endif
