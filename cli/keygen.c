/* dwcp keygen PATH: make the AES-256 key file that [crypto] key_file names.
 *
 * A thin shell around dwcp_keyfile_write (common/keyfile.h), which owns
 * the format, the randomness and the 0600 create; this file only checks
 * the command line and maps the result to an exit status: 0 written,
 * 1 refused or failed (the message says why and what to do), 2 usage.
 * There is deliberately no --force: replacing a key that a peer still
 * holds breaks every transfer, so the operator removes the old one by hand.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "common/keyfile.h"

static void keygen_usage(FILE *f)
{
	fprintf(f,
		"usage: dwcp keygen PATH\n"
		"  write a new random AES-256 key to PATH (a new file, mode 0600); name it\n"
		"  in the config as [crypto] key_file = PATH and copy it to the peer\n");
}

int dwcp_cli_keygen(int argc, char **argv)
{
	struct dwcp_err err = { 0 };

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		keygen_usage(stdout);
		return 0;
	}
	/* A leading '-' is an option we do not have, not a file name: a
	 * file really named so is written as ./-name. */
	if (argc != 2 || argv[1][0] == '-' || argv[1][0] == '\0') {
		keygen_usage(stderr);
		return 2;
	}
	if (dwcp_keyfile_write(argv[1], &err) < 0) {
		fprintf(stderr, "dwcp keygen: %s\n", err.msg);
		return 1;
	}
	printf("wrote a new AES-256 key to %s (mode 0600)\n", argv[1]);
	return 0;
}
