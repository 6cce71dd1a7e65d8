/* dwcp error carrier.
 *
 * The message is formatted straight into the caller's fixed buffer with
 * vsnprintf, so an over-long message is cut at DWCP_ERR_MSG_MAX - 1 bytes
 * and never overruns; nothing is allocated, so an error path cannot fail
 * or leak. A trailing newline is dropped because the printer adds its own.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"

/* Drop trailing newlines so every message prints as exactly one line. */
static void strip_newlines(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

int dwcp_err_set(struct dwcp_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	if (vsnprintf(err->msg, sizeof(err->msg), fmt, ap) < 0)
		snprintf(err->msg, sizeof(err->msg), "(unformattable error message)");
	va_end(ap);
	strip_newlines(err->msg);
	return code;
}

void dwcp_err_clear(struct dwcp_err *err)
{
	if (err == NULL)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}
