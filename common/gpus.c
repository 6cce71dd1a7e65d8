/* The GPUs this host has (gpus.h). */
#include <dirent.h>

#include "common/gpus.h"

unsigned dwcp_gpus_present(void)
{
	DIR *d = opendir("/proc/driver/nvidia/gpus");
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}
