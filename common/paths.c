/* common/paths.h */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"

int dwcp_mkdir_parents(const char *path, mode_t mode)
{
	char p[PATH_MAX];
	char *slash;

	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	slash = strrchr(p, '/');
	if (!slash || slash == p)
		return 0;
	*slash = '\0';
	for (char *q = p + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(p, mode) && errno != EEXIST)
			return -errno;
		*q = '/';
	}
	return mkdir(p, mode) && errno != EEXIST ? -errno : 0;
}

ssize_t dwcp_read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return -errno;
	while (got + 1 < len) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (len)
		buf[got] = '\0';
	return (ssize_t)got;
}

int dwcp_file_bytes(int fd, const struct stat *st, uint64_t *bytes)
{
	*bytes = (uint64_t)st->st_size;
	return S_ISBLK(st->st_mode) && ioctl(fd, BLKGETSIZE64, bytes) ? -errno : 0;
}

int dwcp_sync_parent(const char *path)
{
	char d[PATH_MAX];
	char *slash;
	int fd, rc = 0;

	if (snprintf(d, sizeof(d), "%s", path) >= (int)sizeof(d))
		return -ENAMETOOLONG;
	slash = strrchr(d, '/');
	if (slash && slash != d)
		*slash = '\0';
	else
		snprintf(d, sizeof(d), "%s", slash ? "/" : ".");
	fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		rc = -errno;
	close(fd);
	return rc;
}

int dwcp_unlink_durably(const char *path)
{
	int rc;

	if (unlink(path) && errno != ENOENT)
		return -errno;
	rc = dwcp_sync_parent(path);
	return rc == -ENOENT ? 0 : rc;   /* no directory: nothing was in it */
}
