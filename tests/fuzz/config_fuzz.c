/* Fuzz target: the INI configuration parser (common/config.c), on text as
 * an operator (or a careless tool) may write it.
 *
 * Input: the text. Most inputs go to dwcp_config_parse (the
 * parse-from-memory entry point the file path also ends in), then
 * dwcp_config_validate. One in 64 is written to a memfd and read back
 * through dwcp_config_load instead (the file path: size limit, NUL
 * bytes, parse and validation together). The file path costs a 1 MiB
 * buffer per run, some 20 parses, so the choice is a hash of the whole
 * input, not a byte of it: the mutants of a file-path input would keep
 * such a byte, crowd the corpus and slow every run down.
 *
 * Checked: no read or write outside the text or the config (ASan); the
 * result is 0 or a negative errno with a message that names the origin
 * (the file and line an operator must fix); every string field of the
 * config stays NUL-terminated inside its array and the list counts inside
 * their arrays; every peer parsed is found again by name; and a parse
 * succeeds or fails the same way, with the same config, every time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/config.h"
#include "tests/fuzz/fuzz_util.h"

#define ORIGIN "fuzz.ini"

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

static void check_config(const struct dwcp_config *c)
{
	FUZZ_ASSERT(TERMINATED(c->instance) && TERMINATED(c->huge_dir) && TERMINATED(c->run_dir) &&
		    TERMINATED(c->bin_dir) && TERMINATED(c->key_file) &&
		    TERMINATED(c->net_listen) && TERMINATED(c->net_congestion) &&
		    TERMINATED(c->recv_dir), "a string field is not terminated");
	FUZZ_ASSERT(c->n_services <= DWCP_CFG_MAX_SVCS && c->n_peers <= DWCP_CFG_MAX_PEERS,
		    "%u services, %u peers", c->n_services, c->n_peers);
	for (unsigned i = 0; i < c->n_services; i++)
		FUZZ_ASSERT(TERMINATED(c->services[i]), "service %u not terminated", i);
	for (unsigned i = 0; i < c->n_peers; i++) {
		FUZZ_ASSERT(TERMINATED(c->peers[i].name) && TERMINATED(c->peers[i].addr),
			    "peer %u not terminated", i);
		FUZZ_ASSERT(dwcp_config_peer(c, c->peers[i].name) != NULL, "peer '%s' not found",
			    c->peers[i].name);
	}
}

static void check_err(int rc, const struct dwcp_err *err)
{
	if (rc == 0)
		return;
	FUZZ_ASSERT(rc < 0 && rc >= -4095 && err->code == rc, "rc %d, err.code %d", rc, err->code);
	FUZZ_ASSERT(TERMINATED(err->msg) && strncmp(err->msg, ORIGIN, strlen(ORIGIN)) == 0,
		    "message does not name '%s': '%s'", ORIGIN, err->msg);
}

static int parse(const char *text, struct dwcp_config *c, struct dwcp_err *err)
{
	dwcp_config_defaults(c);
	memset(err, 0, sizeof(*err));
	return dwcp_config_parse(c, text, ORIGIN, err);
}

static void via_memory(const uint8_t *p, size_t n)
{
	char *text = malloc(n + 1);
	struct dwcp_config c, c2;
	struct dwcp_err err, err2;
	int rc, rc2;

	FUZZ_ASSERT(text != NULL, "out of memory");
	memcpy(text, p, n);
	text[n] = '\0';
	rc = parse(text, &c, &err);
	check_err(rc, &err);
	check_config(&c);
	rc2 = parse(text, &c2, &err2);
	FUZZ_ASSERT(rc2 == rc && !memcmp(&c, &c2, sizeof(c)) && !strcmp(err.msg, err2.msg),
		    "the same text parsed twice differs (%d / %d)", rc, rc2);
	if (rc == 0) {
		memset(&err, 0, sizeof(err));
		rc = dwcp_config_validate(&c, &err);
		FUZZ_ASSERT(rc == 0 || (rc == -EINVAL && err.msg[0]), "validate: %d", rc);
	}
	free(text);
}

/* dwcp_config_load names the file in its messages: a memfd's path. */
static void via_file(const uint8_t *p, size_t n)
{
	int fd = memfd_create("fuzz.ini", MFD_CLOEXEC);
	struct dwcp_config c;
	struct dwcp_err err = { 0 };
	char path[64];
	int rc;

	FUZZ_ASSERT(fd >= 0, "memfd_create: %s", strerror(errno));
	FUZZ_ASSERT(write(fd, p, n) == (ssize_t)n, "write to memfd: %s", strerror(errno));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	dwcp_config_defaults(&c);
	rc = dwcp_config_load(&c, path, &err);
	close(fd);
	FUZZ_ASSERT(rc <= 0 && (rc == 0 || (err.code == rc && strstr(err.msg, path))),
		    "load: %d '%s'", rc, err.msg);
	check_config(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t h = 2166136261u;   /* FNV-1a */

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	if (h % 64 == 0)
		via_file(data, size);
	else
		via_memory(data, size);
	return 0;
}
