/* Direct or buffered writes of dwcp recv's output (recv_fd.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_read.h"
#include "recv_fd.h"

/* Direct writes go in whole pages only: the runs recv writes are pages,
 * and a page never has a direct and a buffered writer at once. */
#define DIRECT_UNIT 4096u

/* A run shorter than this goes through the page cache: each direct write
 * is a synchronous trip to the device and an extent of its own, so short
 * runs (pages between holes) cost more CPU direct than buffered
 * (measured, 2-core VM: 16 KiB writes 1.6 CPU-s per GB direct against
 * 0.5 buffered; 256 KiB 0.23 direct, buffered 0.23 with free memory and
 * up to 1.5 once the page cache must be reclaimed to make room). */
#define DIRECT_MIN (128u << 10)

bool recv_fd_direct(struct recv_fd *w)
{
	uint32_t mem_align;
	int fd;

	if (w->direct >= 0)
		return true;
	fd = file_direct_reopen(w->fd, O_WRONLY, &mem_align);
	if (fd < 0)
		return false;
	w->bounce = aligned_alloc(DIRECT_UNIT, RECV_FD_BOUNCE);
	if (!w->bounce) {
		close(fd);
		return false;
	}
	w->direct = fd;
	w->align = DIRECT_UNIT;
	w->mem_align = mem_align;
	return true;
}

/* Direct I/O off for the rest of the receive; the bounce stays (its
 * bytes are still to be written, buffered now). */
static void direct_off(struct recv_fd *w)
{
	if (w->direct >= 0)
		close(w->direct);
	w->direct = -1;
}

void recv_fd_direct_close(struct recv_fd *w)
{
	direct_off(w);
	free(w->bounce);
	w->bounce = NULL;
	w->pend_len = 0;
}

/* pwrite(2) all @p n bytes, through short writes and EINTR: direct while
 * offset, length and memory allow it, else buffered. */
static int write_all(struct recv_fd *w, const uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		bool direct = w->direct >= 0 && off % w->align == 0 && n % w->align == 0 &&
			      (uintptr_t)p % w->mem_align == 0;
		ssize_t got = pwrite(direct ? w->direct : w->fd, p, n, (off_t)off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && direct && errno == EINVAL) {
			direct_off(w);          /* the file system's refusal: buffered from now on */
			continue;
		}
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		if (direct)
			w->direct_bytes += (uint64_t)got;
		p += got;
		n -= (size_t)got;
		off += (uint64_t)got;
	}
	return 0;
}

int recv_fd_flush(struct recv_fd *w)
{
	size_t n = w->pend_len;

	w->pend_len = 0;
	return n ? write_all(w, w->bounce, n, w->pend_off) : 0;
}

int recv_fd_pwrite(struct recv_fd *w, const uint8_t *p, size_t n, uint64_t off)
{
	size_t whole = w->direct >= 0 && off % w->align == 0 && n >= DIRECT_MIN ?
		       n - n % w->align : 0;
	int rc;

	/* Whole pages join the bounce, which is written when it is full or
	 * the next run does not continue it: fewer, larger direct writes
	 * (each costs a trip to the device, on a VM an exit to the host). */
	while (whole) {
		size_t k;

		if (w->pend_len && (w->pend_off + w->pend_len != off || w->pend_len == RECV_FD_BOUNCE) &&
		    (rc = recv_fd_flush(w)))
			return rc;
		if (!w->pend_len)
			w->pend_off = off;
		k = RECV_FD_BOUNCE - w->pend_len < whole ? RECV_FD_BOUNCE - w->pend_len : whole;
		memcpy(w->bounce + w->pend_len, p, k);
		w->pend_len += k;
		p += k;
		n -= k;
		off += k;
		whole -= k;
	}
	return n ? write_all(w, p, n, off) : 0;
}
