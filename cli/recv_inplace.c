/* `dwcp recv --inplace` (recv_inplace.h). A chunk is cut into runs of
 * pages of one kind (kept, zeros, data), each run one system call. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recv_inplace.h"

#define PAGE 4096u

enum kind { KEPT, ZEROS, DATA };

static enum kind kind_of(uint32_t at, uint64_t mask, uint64_t zeros)
{
	if (mask >> (at / PAGE) & 1)
		return KEPT;
	return zeros >> (at / PAGE) & 1 ? ZEROS : DATA;
}

/* Where the run of pages of kind @p k that starts at @p at ends. */
static uint32_t run_end(uint32_t at, uint32_t len, uint64_t mask, uint64_t zeros, enum kind k)
{
	uint32_t end = at + (len - at < PAGE ? len - at : PAGE);

	while (end < len && kind_of(end, mask, zeros) == k)
		end += len - end < PAGE ? len - end : PAGE;
	return end;
}

void recv_inplace_begin(struct recv_inplace *ip, uint64_t size)
{
	*ip = (struct recv_inplace){ .size = size };
}

/* Before the first change: the record must no longer vouch for the file. */
static int about_to_change(struct recv_inplace *ip, struct recv_base *b)
{
	int rc;

	if (ip->rewriting)
		return 0;
	rc = recv_base_forget(b);
	if (!rc)
		ip->rewriting = true;
	return rc;
}

/* Zeros at [off, off + n): a hole where the file has bytes now, nothing
 * beyond its end (it reads as zeros once the file grows past it). */
static int zero_run(struct recv_inplace *ip, struct recv_fd *w, const uint8_t *zeros, uint64_t off,
		    uint32_t n)
{
	uint64_t inside = off >= ip->size ? 0 : ip->size - off < n ? ip->size - off : n;

	if (!inside)
		return 0;
	if (!ip->no_punch &&
	    fallocate(w->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)inside) == 0)
		return 0;
	if (!ip->no_punch && errno != EOPNOTSUPP)
		return -errno;
	ip->no_punch = true;
	return recv_fd_pwrite(w, zeros, (size_t)inside, off);
}

int recv_inplace_write(struct recv_inplace *ip, struct recv_base *b, struct recv_fd *w,
		       const uint8_t *data, uint64_t offset, uint32_t len, uint64_t mask, uint64_t zeros)
{
	uint32_t at = 0;
	bool changed = false;
	int rc;

	if (ip->fixed && (offset > ip->size || len > ip->size - offset))
		return -EFBIG;
	while (at < len) {
		enum kind k = kind_of(at, mask, zeros);
		uint32_t end = run_end(at, len, mask, zeros, k);

		/* While writes go direct, a short run of zeros is written with
		 * the pages around it: one long write from the bounce buffer,
		 * not a punched hole between two short writes (recv_fd.h). */
		if (k == ZEROS && recv_fd_writes_zeros(w, end - at))
			k = DATA;
		while (k == DATA && w->direct >= 0 && end < len) {
			enum kind nk = kind_of(end, mask, zeros);
			uint32_t next;

			if (nk == KEPT)
				break;
			next = run_end(end, len, mask, zeros, nk);
			if (nk == ZEROS && !recv_fd_writes_zeros(w, next - end))
				break;
			end = next;
		}
		if (k != KEPT) {
			rc = about_to_change(ip, b);
			if (!rc)
				rc = k == ZEROS ? zero_run(ip, w, data + at, offset + at, end - at) :
						  recv_fd_pwrite(w, data + at, end - at, offset + at);
			if (rc)
				return rc;
			if (k == DATA && offset + end > ip->size)
				ip->size = offset + end;
			ip->written_pages += (end - at + PAGE - 1) / PAGE;
			changed = true;
		}
		at = end;
	}
	if (!changed)
		return 0;
	/* The file's new identity (size, mtime) is taken once its bytes are
	 * in it, not while they wait in the bounce buffer. */
	rc = recv_fd_flush(w);
	return rc ? rc : recv_base_rewritten(b);
}

int recv_inplace_end(struct recv_inplace *ip, struct recv_base *b, struct recv_fd *w, uint64_t size)
{
	int rc;

	if (size == ip->size || ip->fixed)
		return 0;
	rc = about_to_change(ip, b);
	if (rc)
		return rc;
	rc = recv_fd_flush(w);
	if (rc)
		return rc;
	if (ftruncate(w->fd, (off_t)size))
		return -errno;
	ip->size = size;
	return recv_base_rewritten(b);
}
