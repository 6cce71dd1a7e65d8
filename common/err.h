/* dwcp error carrier.
 *
 * Functions that can fail for a reason an operator must read return a
 * negative errno and fill a struct dwcp_err with the sentence to print:
 * what failed, why, and the command that fixes it. The message is
 * composed once, where the context is known; callers above only print it.
 */
#ifndef DWCP_COMMON_ERR_H
#define DWCP_COMMON_ERR_H

#include <stddef.h>

#define DWCP_ERR_MSG_MAX 512

struct dwcp_err {
	int code;                     /* negative errno, 0 when no error */
	char msg[DWCP_ERR_MSG_MAX];   /* NUL-terminated, no trailing newline */
};

/**
 * Record an error. Always returns @p code (a negative errno) so callers can
 * write `return dwcp_err_set(err, -EINVAL, "...")`.
 * @param err may be NULL (then only the code is returned).
 */
int dwcp_err_set(struct dwcp_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** Reset to "no error". @param err may be NULL. */
void dwcp_err_clear(struct dwcp_err *err);

#endif
