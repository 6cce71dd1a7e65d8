/* Small file-system helpers shared by the commands and the libraries. */
#ifndef DWCP_COMMON_PATHS_H
#define DWCP_COMMON_PATHS_H

#include <sys/types.h>

/**
 * mkdir -p of the directory part of @p path (everything before its last
 * '/'), each missing directory made with @p mode; existing ones are left
 * as they are. @return 0 or -errno of the mkdir that failed.
 */
int dwcp_mkdir_parents(const char *path, mode_t mode);

/**
 * Read at most @p len - 1 bytes of the small file @p path (a /proc or
 * /sys entry) into @p buf, NUL-terminated, through short reads and EINTR.
 * @return the bytes read, or -errno.
 */
ssize_t dwcp_read_small(const char *path, char *buf, size_t len);

#endif
