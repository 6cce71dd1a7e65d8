/* Reads of a large file: the page cache where it holds the data, direct
 * I/O windows for the rest (file_read.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "file_read.h"

#define PAGE 4096u

int file_direct_reopen(int fd, int flags, uint32_t *mem_align)
{
	struct statx sx;
	char proc[64];

	if (fd < 0 || statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) ||
	    !(sx.stx_mask & STATX_DIOALIGN) || !sx.stx_dio_offset_align ||
	    PAGE % sx.stx_dio_offset_align || !sx.stx_dio_mem_align || sx.stx_dio_mem_align > PAGE)
		return -1;
	*mem_align = sx.stx_dio_mem_align;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return open(proc, flags | O_DIRECT | O_CLOEXEC);
}

bool file_read_direct(struct file_read *r)
{
	uint32_t mem_align;
	int fd;

	if (r->direct >= 0)
		return true;
	fd = file_direct_reopen(r->fd, O_RDONLY, &mem_align);
	if (fd < 0)
		return false;
	r->win = aligned_alloc(PAGE, FILE_READ_WIN);
	if (!r->win) {
		close(fd);
		return false;
	}
	r->direct = fd;
	r->win_len = 0;
	return true;
}

void file_read_close(struct file_read *r)
{
	if (r->direct >= 0)
		close(r->direct);
	free(r->win);
	r->direct = -1;
	r->win = NULL;
	r->win_len = 0;
}

/* Read the window that starts at the page holding @p at. @return 1; 0
 * when the file system refused (direct reads now off); -EIO when the
 * file ends before @p at; -errno. */
static int fill_window(struct file_read *r, uint64_t at)
{
	uint64_t start = at - at % PAGE;
	ssize_t k;

	r->win_len = 0;
	do
		k = pread(r->direct, r->win, FILE_READ_WIN, (off_t)start);
	while (k < 0 && errno == EINTR);
	if (k < 0 && errno == EINVAL) {
		file_read_close(r);
		return 0;
	}
	if (k < 0)
		return -errno;
	if ((uint64_t)k <= at - start)
		return -EIO;
	r->win_off = start;
	r->win_len = (size_t)k;
	r->direct_bytes += (uint64_t)k;
	return 1;
}

/* cachestat(2), Linux 6.5: how much of a range of a file the page cache
 * holds, asked without reading anything (a read with RWF_NOWAIT would
 * start readahead of what is missing, and the direct read then reads it
 * a second time). The distribution's headers predate it. */
#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif
struct cache_range {
	uint64_t off, len;
};
struct cache_stat {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

/* Whether the page cache holds every page of [@p at, + @p n). Where the
 * kernel cannot say, everything counts as cached: read as before. */
static bool cached(struct file_read *r, uint64_t at, size_t n)
{
	struct cache_range range = { .off = at - at % PAGE, .len = at % PAGE + n };
	struct cache_stat cs;

	if (r->cache_unknown)
		return true;
	if (syscall(__NR_cachestat, r->fd, &range, &cs, 0)) {
		r->cache_unknown = true;   /* ENOSYS: older kernel */
		return true;
	}
	return cs.nr_cache >= (range.len + PAGE - 1) / PAGE;
}

int file_read_full(struct file_read *r, uint8_t *dst, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		uint64_t at = off + got;
		size_t want = n - got;
		ssize_t k;

		if (r->win_len && at >= r->win_off && at < r->win_off + r->win_len) {
			k = (ssize_t)(r->win_off + r->win_len - at < want ? r->win_off + r->win_len - at :
									  want);
			memcpy(dst + got, r->win + (at - r->win_off), (size_t)k);
			got += (size_t)k;
			continue;
		}
		if (r->direct >= 0 && !cached(r, at, want)) {
			int rc = fill_window(r, at);

			if (rc < 0)
				return rc;
			continue;       /* from the window, or (refused) buffered */
		}
		k = pread(r->fd, dst + got, want, (off_t)at);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		got += (size_t)k;
	}
	return 0;
}
