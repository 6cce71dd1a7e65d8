/* Small file-system helpers shared by the commands and the libraries. */
#ifndef DWCP_COMMON_PATHS_H
#define DWCP_COMMON_PATHS_H

#include <stdint.h>
#include <sys/stat.h>
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

/**
 * The bytes in the file open at @p fd, whose fstat is @p st: its size, or
 * for a block device (fstat says 0) the device's (BLKGETSIZE64).
 * @return 0 or -errno.
 */
int dwcp_file_bytes(int fd, const struct stat *st, uint64_t *bytes);

/**
 * fsync the directory that holds @p path (what a rename or an unlink
 * there changed then outlives a power loss). @return 0 or -errno
 * (-ENOENT: no such directory).
 */
int dwcp_sync_parent(const char *path);

/**
 * Remove @p path (absent is fine) and sync its directory, so that the
 * removal outlives a power loss as the writes that follow it do: a
 * record that must stop vouching for a file before the file changes.
 * @return 0 or -errno.
 */
int dwcp_unlink_durably(const char *path);

#endif
