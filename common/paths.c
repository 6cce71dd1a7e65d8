/* common/paths.h */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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
