/* err and log tests: an error message must survive any length without
 * overrunning the carrier, and the logger must emit exactly one
 * prefixed, newline-terminated line per event (so a single write(2)
 * keeps lines of several processes apart) and honour the threshold and
 * the DWCP_LOG override. stderr is redirected to a temporary file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/err.h"
#include "common/log.h"

Test(err, set_returns_code_and_formats)
{
	struct dwcp_err e;
	int rc = dwcp_err_set(&e, -ENOENT, "no file '%s' (%d)", "x.ini", 42);

	cr_assert_eq(rc, -ENOENT, "returned %d", rc);
	cr_assert_eq(e.code, -ENOENT, "code %d", e.code);
	cr_assert_str_eq(e.msg, "no file 'x.ini' (42)");
}

Test(err, null_carrier_only_returns_code)
{
	int rc = dwcp_err_set(NULL, -EINVAL, "ignored %d", 1);

	cr_assert_eq(rc, -EINVAL, "returned %d", rc);
	dwcp_err_clear(NULL);
}

Test(err, huge_message_is_truncated_in_bounds)
{
	struct {
		struct dwcp_err e;
		unsigned char guard[64];
	} w;
	static char huge[20000];

	memset(huge, 'x', sizeof(huge) - 1);
	memset(w.guard, 0xA5, sizeof(w.guard));
	dwcp_err_set(&w.e, -E2BIG, "start %s end", huge);
	cr_assert_eq(strlen(w.e.msg), DWCP_ERR_MSG_MAX - 1u, "length %zu", strlen(w.e.msg));
	cr_assert(strncmp(w.e.msg, "start xxx", 9) == 0, "msg starts '%.20s'", w.e.msg);
	for (size_t i = 0; i < sizeof(w.guard); i++)
		cr_assert_eq(w.guard[i], 0xA5, "guard byte %zu overwritten: 0x%02X", i, w.guard[i]);
}

Test(err, trailing_newline_dropped_and_clear)
{
	struct dwcp_err e;

	dwcp_err_set(&e, -EIO, "line\n");
	cr_assert_str_eq(e.msg, "line");
	dwcp_err_clear(&e);
	cr_assert_eq(e.code, 0, "code %d after clear", e.code);
	cr_assert_str_eq(e.msg, "");
}

Test(log, parse_level_accepts_the_four_names)
{
	static const char *const names[] = { "err", "warn", "info", "debug" };

	for (int i = 0; i < 4; i++) {
		enum dwcp_log_level l = (enum dwcp_log_level)99;
		int rc = dwcp_log_parse_level(names[i], &l);

		cr_assert_eq(rc, 0, "'%s' rejected: %d", names[i], rc);
		cr_assert_eq((int)l, i, "'%s' parsed as %d", names[i], (int)l);
	}
}

Test(log, parse_level_rejects_anything_else)
{
	static const char *const bad[] = { "", "ERR", "warning", "debug ", "3", "inf" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum dwcp_log_level l = DWCP_LOG_WARN;
		int rc = dwcp_log_parse_level(bad[i], &l);

		cr_assert_eq(rc, -EINVAL, "'%s' gave %d", bad[i], rc);
		cr_assert_eq(l, DWCP_LOG_WARN, "'%s' changed the output to %d", bad[i], (int)l);
	}
	cr_assert_eq(dwcp_log_parse_level(NULL, NULL), -EINVAL);
}

/* Run @p emit with stderr sent to a temp file; return what it wrote. */
static void capture_stderr(void (*emit)(void), char *out, size_t cap)
{
	char path[] = "/tmp/dwcp_log_test_XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	ssize_t n;

	cr_assert(fd >= 0 && saved >= 0, "mkstemp/dup: %s", strerror(errno));
	unlink(path);
	dup2(fd, STDERR_FILENO);
	emit();
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, out, cap - 1, 0);
	close(fd);
	cr_assert(n >= 0, "pread: %s", strerror(errno));
	out[n] = '\0';
}

static void emit_levels(void)
{
	unsetenv("DWCP_LOG");
	dwcp_log_init("/usr/lib/dwcp/svc-net", DWCP_LOG_INFO);
	DWCP_INFO("hello %d", 42);
	DWCP_DEBUG("hidden");
	DWCP_ERR("bad\n");
}

Test(log, prefix_threshold_and_one_line_each)
{
	char got[4096], want[256];
	long pid = (long)getpid();

	capture_stderr(emit_levels, got, sizeof(got));
	snprintf(want, sizeof(want), "svc-net[%ld]: info: hello 42\nsvc-net[%ld]: err: bad\n",
		 pid, pid);
	cr_assert_str_eq(got, want);
}

static void emit_env_override(void)
{
	setenv("DWCP_LOG", "debug", 1);
	dwcp_log_init("t", DWCP_LOG_ERR);
	DWCP_DEBUG("shown");
	unsetenv("DWCP_LOG");
}

Test(log, env_overrides_level)
{
	char got[4096];

	capture_stderr(emit_env_override, got, sizeof(got));
	cr_assert(strstr(got, ": debug: shown\n") != NULL, "stderr was '%s'", got);
}

static void emit_long(void)
{
	static char huge[5000];

	memset(huge, 'y', sizeof(huge) - 1);
	unsetenv("DWCP_LOG");
	dwcp_log_init("t", DWCP_LOG_INFO);
	DWCP_WARN("%s", huge);
}

Test(log, long_line_is_cut_to_one_line)
{
	char got[8192];
	size_t n;

	capture_stderr(emit_long, got, sizeof(got));
	n = strlen(got);
	cr_assert(n > 100 && n < 2048, "wrote %zu bytes", n);
	cr_assert(strchr(got, '\n') == got + n - 1, "not exactly one line: '%.60s'", got);
	cr_assert(strstr(got, "...\n") == got + n - 4, "no truncation mark: '%s'", got + n - 10);
}
