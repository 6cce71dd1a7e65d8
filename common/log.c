/* Logging to stderr, one write(2) per line.
 *
 * Seven processes share one stderr (a terminal or journald's pipe). POSIX
 * keeps a single write(2) of up to PIPE_BUF bytes to a pipe atomic, so
 * each line is formatted whole into a stack buffer (prefix, message,
 * newline) and written with one call; stdio's buffering could split it.
 * A line longer than the buffer is cut and marked with "...".
 *
 * The program name and level threshold are the only process-wide mutable
 * state in dwcp: written once by dwcp_log_init from main before threads
 * start, then only read. The pid is fetched on every line so that a child
 * forked after init prints its own.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

#define LOG_LINE_MAX  1024
#define LOG_NAME_MAX  32

static char log_progname[LOG_NAME_MAX] = "dwcp";
static enum dwcp_log_level log_level = DWCP_LOG_INFO;

static const char *const level_names[] = {
	[DWCP_LOG_ERR] = "err",
	[DWCP_LOG_WARN] = "warn",
	[DWCP_LOG_INFO] = "info",
	[DWCP_LOG_DEBUG] = "debug",
};

int dwcp_log_parse_level(const char *s, enum dwcp_log_level *out)
{
	if (s == NULL)
		return -EINVAL;
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			if (out != NULL)
				*out = (enum dwcp_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* DWCP_LOG in the environment wins over the level main() asked for, so an
 * operator can turn on debug output of one service without a rebuild. */
void dwcp_log_init(const char *progname, enum dwcp_log_level level)
{
	const char *env = getenv("DWCP_LOG");
	enum dwcp_log_level from_env;

	if (progname != NULL && progname[0] != '\0') {
		const char *slash = strrchr(progname, '/');

		snprintf(log_progname, sizeof(log_progname), "%s",
			 slash != NULL && slash[1] != '\0' ? slash + 1 : progname);
	}
	log_level = level;
	if (env == NULL || env[0] == '\0')
		return;
	if (dwcp_log_parse_level(env, &from_env) == 0)
		log_level = from_env;
	else
		dwcp_log(DWCP_LOG_WARN, "DWCP_LOG='%s' ignored: expected err, warn, info or debug",
			 env);
}

/* Write all of @p len bytes; a signal may interrupt the write. */
static void write_line(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* Make @p line (holding @p len bytes, possibly truncated) end in exactly
 * one newline; returns the new length. */
static size_t finish_line(char *line, size_t len, int truncated)
{
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (truncated && len >= 3)
		memcpy(line + len - 3, "...", 3);
	line[len++] = '\n';
	return len;
}

void dwcp_log(enum dwcp_log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	const size_t room = sizeof(line) - 1;   /* keep one byte for '\n' */
	int saved_errno = errno;                /* callers may log, then read errno */
	va_list ap;
	int pre, msg;
	size_t len;

	if (level > log_level)
		return;
	if ((unsigned)level >= sizeof(level_names) / sizeof(level_names[0]))
		level = DWCP_LOG_DEBUG;
	pre = snprintf(line, room, "%s[%ld]: %s: ", log_progname, (long)getpid(),
		       level_names[level]);
	if (pre < 0 || (size_t)pre >= room)
		pre = 0;
	va_start(ap, fmt);
	msg = vsnprintf(line + pre, room - (size_t)pre, fmt, ap);
	va_end(ap);
	if (msg < 0)
		msg = 0;
	len = (size_t)pre + (size_t)msg;
	if (len >= room)
		len = room - 1;
	len = finish_line(line, len, (size_t)pre + (size_t)msg >= room);
	write_line(line, len);
	errno = saved_errno;
}
