/* dwcpctl tune: the kernel network settings dwcp recommends for
 * multi-stream bulk TCP, and the check of a host against them.
 *
 * The table of settings (tune.c) is the one source: `dwcpctl tune
 * --check` compares /proc/sys with it, `dwcpctl tune --print-conf` prints
 * it as a sysctl.d file, and deploy/sysctl.d/90-dwcp-net.conf is that
 * output, compared by `make check`. An installed dwcpctl cannot read the
 * deploy/ file, which is why the table lives in the binary.
 *
 * This header is internal to dwcpctl; it exists so that the pure parts
 * (normalizing, comparing, reading below a chosen /proc/sys root, the
 * JSON) can be unit-tested (tests/unit/supervisor/tune_test.c).
 * Concurrency: single-threaded command-line code; no shared state.
 */
#ifndef DWCP_SUP_TUNE_H
#define DWCP_SUP_TUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#define SUP_TUNE_VALUE_MAX 128    /* a sysctl value, normalized, incl. NUL */
#define SUP_TUNE_TEXT_MAX  384    /* a fix command or a note, incl. NUL */
#define SUP_TUNE_PROC_ROOT "/proc/sys"

/* How a current value is held against the recommended one. */
enum sup_tune_cmp {
	SUP_TUNE_EXACT,       /* equal after whitespace normalization */
	SUP_TUNE_AT_LEAST,    /* one integer, at least the recommended (limits: a
	                       * site that raised one further is not told to lower it) */
};

enum sup_tune_state { SUP_TUNE_OK, SUP_TUNE_CHANGE, SUP_TUNE_UNAVAILABLE };

struct sup_tune_setting {
	const char *name;          /* sysctl name with dots, e.g. net.core.rmem_max */
	const char *value;         /* recommended, fields separated by one space */
	enum sup_tune_cmp cmp;
	const char *why;           /* one line, the comment above it in the .conf */
};

/* One setting checked on this host. */
struct sup_tune_result {
	const struct sup_tune_setting *s;
	enum sup_tune_state state;
	char current[SUP_TUNE_VALUE_MAX];   /* normalized; "unavailable" when unreadable */
	char fix[SUP_TUNE_TEXT_MAX];        /* shell command that sets it; "" when OK/unavailable */
	char note[SUP_TUNE_TEXT_MAX];       /* more to know (why unavailable, bbr loaded?); or "" */
};

extern const struct sup_tune_setting sup_tune_settings[];
extern const size_t sup_tune_n_settings;

/** Copy @p in to @p out (@p len bytes) with leading and trailing
 *  whitespace dropped and each inner run of whitespace made one space;
 *  truncated to fit, always NUL-terminated. */
void sup_tune_normalize(const char *in, char *out, size_t len);

/** Whether @p current (any whitespace) satisfies @p s. */
bool sup_tune_value_ok(const struct sup_tune_setting *s, const char *current);

/**
 * Read sysctl @p name (dots) below @p proc_root ("/proc/sys" on a host;
 * a test directory in tests), normalized into @p out.
 * @return 0, or -errno from open/read (-ENOENT when the kernel or this
 *         network namespace has no such setting), -EINVAL for a name that
 *         does not fit a path.
 */
int sup_tune_read(const char *proc_root, const char *name, char *out, size_t len);

/** Check one setting below @p proc_root into @p r (every field set). */
void sup_tune_check_one(const char *proc_root, const struct sup_tune_setting *s,
			struct sup_tune_result *r);

/** [{"name","current","recommended","compare","ok","status","fix","note"}]
 *  for @p n results; NULL when out of memory. The caller owns it. */
cJSON *sup_tune_json(const struct sup_tune_result *r, size_t n);

/**
 * Check every setting below @p proc_root and print the table (or the JSON
 * array) to @p out.
 * @return the exit status: 0 when none needs a change (unavailable ones
 *         are listed, not counted), 1 when one does or on out of memory.
 */
int sup_tune_run(const char *proc_root, bool json, FILE *out);

/** Print the table as a sysctl.d file (deploy/sysctl.d/90-dwcp-net.conf). */
void sup_tune_print_conf(FILE *out);

#endif
