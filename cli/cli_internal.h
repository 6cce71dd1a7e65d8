/* Subcommands of the dwcp command. */
#ifndef DWCP_CLI_INTERNAL_H
#define DWCP_CLI_INTERNAL_H

int dwcp_cli_bench_handoff(int argc, char **argv);

#endif
