/* Logging: one line per event to stderr (journald picks it up under
 * systemd), prefixed with the program name and pid so lines from seven
 * processes interleave readably. The level threshold is per process and
 * set once at start-up (DWCP_LOG env or --verbose); it is the only
 * process-wide state here, kept in log.c, and it is not shared memory.
 */
#ifndef DWCP_COMMON_LOG_H
#define DWCP_COMMON_LOG_H

enum dwcp_log_level {
	DWCP_LOG_ERR = 0,
	DWCP_LOG_WARN = 1,
	DWCP_LOG_INFO = 2,
	DWCP_LOG_DEBUG = 3,
};

/** Set the program name printed on every line (call once, from main). */
void dwcp_log_init(const char *progname, enum dwcp_log_level level);
/** Parse "err|warn|info|debug"; returns -EINVAL on anything else. */
int dwcp_log_parse_level(const char *s, enum dwcp_log_level *out);
void dwcp_log(enum dwcp_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define DWCP_ERR(...)   dwcp_log(DWCP_LOG_ERR, __VA_ARGS__)
#define DWCP_WARN(...)  dwcp_log(DWCP_LOG_WARN, __VA_ARGS__)
#define DWCP_INFO(...)  dwcp_log(DWCP_LOG_INFO, __VA_ARGS__)
#define DWCP_DEBUG(...) dwcp_log(DWCP_LOG_DEBUG, __VA_ARGS__)

#endif
