/* Reads of a large file: the page cache where it holds the data, direct
 * I/O windows for the rest (file_read.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "file_read.h"
#include "io_async.h"

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

void *file_io_buf(size_t n)
{
	const size_t huge = 2u << 20;
	void *p;

	if (n < huge || n % huge)
		return aligned_alloc(PAGE, n);
	p = aligned_alloc(huge, n);
	/* Advice only: without transparent huge pages the buffer is as before. */
	if (p)
		(void)madvise(p, n, MADV_HUGEPAGE);
	return p;
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
	r->win = file_io_buf(FILE_READ_WIN);
	if (!r->win) {
		close(fd);
		return false;
	}
	r->direct = fd;
	r->win_len = 0;
	return true;
}

/* One direct read of a window: run on the helper thread, touching only
 * itself. */
struct read_job {
	int fd;
	uint8_t *buf;
	uint64_t off;
	ssize_t got;                /* out: bytes read, or -errno */
};

struct file_read_ahead {
	struct io_async a;
	struct read_job job;
	uint8_t *buf;               /* FILE_READ_WIN bytes: the next window */
};

static int job_read(struct read_job *j)
{
	ssize_t k;

	do
		k = pread(j->fd, j->buf, FILE_READ_WIN, (off_t)j->off);
	while (k < 0 && errno == EINTR);
	j->got = k < 0 ? -errno : k;
	return 0;
}

static int job_run(void *arg)
{
	return job_read(arg);
}

bool file_read_ahead(struct file_read *r)
{
	struct file_read_ahead *ra;

	if (r->ahead)
		return true;
	if (r->direct < 0)
		return false;
	ra = calloc(1, sizeof(*ra));
	if (!ra)
		return false;
	ra->buf = file_io_buf(FILE_READ_WIN);
	if (!ra->buf || io_async_start(&ra->a)) {
		free(ra->buf);
		free(ra);
		return false;
	}
	r->ahead = ra;
	return true;
}

double file_read_ahead_cpu_s(const struct file_read *r)
{
	return r->ahead ? io_async_cpu_s(&r->ahead->a) : 0;
}

static void ahead_stop(struct file_read *r)
{
	if (!r->ahead)
		return;
	io_async_stop(&r->ahead->a);
	free(r->ahead->buf);
	free(r->ahead);
	r->ahead = NULL;
}

void file_read_close(struct file_read *r)
{
	ahead_stop(r);
	if (r->direct >= 0)
		close(r->direct);
	free(r->win);
	r->direct = -1;
	r->win = NULL;
	r->win_len = 0;
}

/* The window read ahead, if it holds @p at: swapped in. @return its
 * bytes, or 0 when it does not hold @p at (none, another offset, or its
 * read failed: the caller reads again, and reports what that gets). */
static ssize_t take_ahead(struct file_read *r, uint64_t at)
{
	struct file_read_ahead *ra = r->ahead;
	uint8_t *t;

	if (!ra || !io_async_busy(&ra->a))
		return 0;
	io_async_wait(&ra->a);
	if (ra->job.got <= 0 || at < ra->job.off || at - ra->job.off >= (uint64_t)ra->job.got)
		return 0;
	t = r->win;
	r->win = ra->buf;
	ra->buf = t;
	r->win_off = ra->job.off;
	return ra->job.got;
}

/* Read the window that starts at the page holding @p at (or take the one
 * read ahead), and read the next one ahead. @return 1; 0 when the file
 * system refused (direct reads now off); -EIO when the file ends before
 * @p at; -errno. */
static int fill_window(struct file_read *r, uint64_t at)
{
	uint64_t start = at - at % PAGE, end = r->win_off + r->win_len;
	/* A sequential reader: this window starts where the last ended, or
	 * a little further on (dwcp recv reads only the kept pages of its
	 * previous copy, and skips the changed ones). */
	bool sequential = start == 0 || (r->win_len && start >= end && start - end < FILE_READ_WIN);
	ssize_t k;

	k = take_ahead(r, at);
	if (k > 0) {
		sequential = true;
		r->ahead_bytes += (uint64_t)k;
	} else {
		r->win_len = 0;
		do
			k = pread(r->direct, r->win, FILE_READ_WIN, (off_t)start);
		while (k < 0 && errno == EINTR);
		k = k < 0 ? -errno : k;
		if (k == -EINVAL) {
			file_read_close(r);
			return 0;
		}
		if (k < 0)
			return (int)k;
		if ((uint64_t)k <= at - start)
			return -EIO;
		r->win_off = start;
	}
	r->win_len = (size_t)k;
	r->direct_bytes += (uint64_t)k;
	/* The next window, while the caller uses this one: not past the end
	 * (a short read is the end), not for a reader that jumps about. */
	if (r->ahead && sequential && k == FILE_READ_WIN) {
		r->ahead->job = (struct read_job){ .fd = r->direct, .buf = r->ahead->buf,
						   .off = r->win_off + FILE_READ_WIN };
		io_async_submit(&r->ahead->a, job_run, &r->ahead->job);
	}
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

/* What the window holds of @p want bytes at @p at, copied to @p dst.
 * @return the bytes copied: 0 when it does not hold @p at. */
static size_t from_window(const struct file_read *r, uint8_t *dst, uint64_t at, size_t want)
{
	size_t k;

	if (!r->win_len || at < r->win_off || at >= r->win_off + r->win_len)
		return 0;
	k = r->win_off + r->win_len - at < want ? (size_t)(r->win_off + r->win_len - at) : want;
	memcpy(dst, r->win + (at - r->win_off), k);
	return k;
}

/* file_read_full, or with @p scattered file_read_scattered. */
static int read_exactly(struct file_read *r, uint8_t *dst, size_t n, uint64_t off, bool scattered)
{
	size_t got = 0;

	while (got < n) {
		uint64_t at = off + got;
		size_t want = n - got;
		ssize_t k;

		if ((k = (ssize_t)from_window(r, dst + got, at, want))) {
			got += (size_t)k;
			continue;
		}
		if (!scattered && r->direct >= 0 && !cached(r, at, want)) {
			int rc = fill_window(r, at);

			if (rc < 0)
				return rc;
			continue;       /* from the window, or (refused) buffered */
		}
		/* Up to the window, if it lies ahead: the rest comes from it. */
		if (scattered && r->win_len && at < r->win_off && r->win_off - at < want)
			want = (size_t)(r->win_off - at);
		k = pread(r->fd, dst + got, want, (off_t)at);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		got += (size_t)k;
	}
	return 0;
}

int file_read_full(struct file_read *r, uint8_t *dst, size_t n, uint64_t off)
{
	return read_exactly(r, dst, n, off, false);
}

int file_read_scattered(struct file_read *r, uint8_t *dst, size_t n, uint64_t off)
{
	return read_exactly(r, dst, n, off, true);
}

void file_read_will_need(struct file_read *r, uint64_t off, size_t n)
{
	if (r->win_len && off >= r->win_off && n <= r->win_off + r->win_len - off)
		return;    /* read already */
	/* Asynchronous: the kernel starts the reads and returns. Only a
	 * hint: an error just leaves the reads to file_read_scattered. */
	(void)posix_fadvise(r->fd, (off_t)off, (off_t)n, POSIX_FADV_WILLNEED);
}
