/* `dwcp recv`'s base (recv_base.h). The record is a fixed little struct,
 * written to a temporary, fsync'ed and renamed, so a reader sees the old
 * or the new one whole; anything else in its place (short, another magic)
 * is "no record". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/ops/hde.h"
#include "common/paths.h"
#include "recv_base.h"

#define REC_MAGIC 0x3143455250435744ull   /* "DWCPREC1": this very file */
#define REC_MAGIC_PREFIX 0x3150455250435744ull   /* "DWCPREP1": its first `size` bytes */
#define PAGE 4096u

struct rec {
	uint64_t magic;
	uint64_t dev, ino, size;   /* a prefix record: size = the prefix */
	int64_t mtime_s, mtime_ns; /* a prefix record: the file's birth time (0 = unknown) */
	uint64_t digest;
};

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* When @p fd's file was created, where the file system says ({0, 0}
 * where not): with dev and inode, what tells a prefix record's file from
 * a later one that got its freed inode (its mtime and size change as it
 * is written, so they cannot). */
static void birth(int fd, struct timespec *t)
{
	struct statx sx;

	*t = (struct timespec){ 0 };
	if (statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &sx) == 0 && (sx.stx_mask & STATX_BTIME))
		*t = (struct timespec){ .tv_sec = sx.stx_btime.tv_sec, .tv_nsec = sx.stx_btime.tv_nsec };
}

static int read_rec(const char *path, struct rec *r)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = pread(fd, r, sizeof(*r), 0);
	close(fd);
	return n == (ssize_t)sizeof(*r) && (r->magic == REC_MAGIC || r->magic == REC_MAGIC_PREFIX) &&
	       r->digest ? 0 : -EBADMSG;
}

static void no_base(struct recv_base *b, const char *why)
{
	file_read_close(&b->rd);
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	b->digest = 0;
	snprintf(b->why, sizeof(b->why), "%s", why);
}

int recv_base_record_path(char *out, size_t n, const char *index_dir, const char *instance,
			  const char *stream, const char *suffix)
{
	int k = snprintf(out, n, "%s/%s@%s%s", index_dir, instance, stream, suffix);

	if (k < 0 || (size_t)k >= n) {
		out[0] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}

void recv_base_open(struct recv_base *b, int dirfd, const char *name, const char *index_dir,
		    const char *instance, const char *stream)
{
	char record[PATH_MAX];

	recv_base_record_path(record, sizeof(record), index_dir, instance, stream, ".rcv");
	recv_base_open_recorded(b, dirfd, name, record);
}

void recv_base_open_recorded(struct recv_base *b, int dirfd, const char *name, const char *record)
{
	struct dwcp_cpu_features cpu;
	struct timespec born = { 0 };
	uint64_t bytes;
	struct rec r;
	struct stat st;

	*b = (struct recv_base){ .fd = -1, .rd = file_read_of(-1) };
	dwcp_cpu_detect(&cpu);
	dwcp_delta_select(&b->delta, &cpu);
	snprintf(b->record, sizeof(b->record), "%s", record);
	if (!b->record[0]) {
		no_base(b, "the record path is too long");
		return;
	}
	b->fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (b->fd < 0)
		return no_base(b, "no previous copy at the output path");
	if (fstat(b->fd, &st) || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
		return no_base(b, "the output path is not a regular file or a block device");
	if (read_rec(b->record, &r))
		return no_base(b, "no record of a completed receive of this stream");
	b->st = st;
	if (dwcp_file_bytes(b->fd, &st, &bytes))
		return no_base(b, "the block device's size cannot be read");
	if (r.magic == REC_MAGIC_PREFIX)
		birth(b->fd, &born);
	if ((uint64_t)st.st_dev != r.dev || (uint64_t)st.st_ino != r.ino ||
	    (r.magic == REC_MAGIC_PREFIX ?
	     bytes < r.size || born.tv_sec != r.mtime_s || born.tv_nsec != r.mtime_ns :
	     (uint64_t)st.st_size != r.size || st.st_mtim.tv_sec != r.mtime_s ||
	     st.st_mtim.tv_nsec != r.mtime_ns))
		return no_base(b, "the file at the output path is not the one the last receive wrote (changed or replaced since)");
	b->digest = r.digest;
	/* A whole record of a block device says size 0 (what fstat says):
	 * all of it, and the sender keeps no page past the previous
	 * stream's end. */
	b->valid = r.magic == REC_MAGIC_PREFIX ? r.size : bytes;
	b->rd = file_read_of(b->fd);
	if (file_read_direct(&b->rd))
		file_read_ahead(&b->rd);
}

int recv_base_adopt(struct recv_base *b, int fd, uint64_t digest)
{
	struct dwcp_cpu_features cpu;
	int e;

	*b = (struct recv_base){ .fd = -1, .rd = file_read_of(-1) };
	dwcp_cpu_detect(&cpu);
	dwcp_delta_select(&b->delta, &cpu);
	b->no_clone = true;   /* it is the output: nothing to share blocks with */
	b->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (b->fd < 0 || fstat(b->fd, &b->st)) {
		e = errno;
		no_base(b, "the interrupted transfer's data cannot be reopened");
		return -e;
	}
	b->digest = digest;
	if (dwcp_file_bytes(b->fd, &b->st, &b->valid)) {
		e = errno;
		no_base(b, "the block device's size cannot be read");
		return -e;
	}
	b->rd = file_read_of(b->fd);
	if (file_read_direct(&b->rd))
		file_read_ahead(&b->rd);
	return 0;
}

bool recv_base_usable(struct recv_base *b, uint64_t digest)
{
	struct stat st;

	if (b->fd < 0)
		return false;
	if (digest != b->digest) {
		snprintf(b->why, sizeof(b->why), "the sender keeps pages of another version (digest %016llx, this copy %016llx)",
			 (unsigned long long)digest, (unsigned long long)b->digest);
		return false;
	}
	if (fstat(b->fd, &st) || !same_file(&st, &b->st)) {
		no_base(b, "the previous copy changed during the receive");
		return false;
	}
	return true;
}

bool recv_base_holds(const struct recv_base *b, uint64_t offset, uint32_t len,
		     const struct dwcp_hde_kept *k)
{
	if (k->mask) {
		const uint64_t top = (uint64_t)(64 - __builtin_clzll(k->mask)) * PAGE;

		if (offset + (top < len ? top : len) > b->valid)
			return false;
	}
	for (unsigned i = 0; i < 64 && k->moved >> i; i++)
		if ((k->moved >> i & 1) && !(k->src[i] & DWCP_HDE_SRC_NEW) &&
		    (b->valid < PAGE || k->src[i] > b->valid - PAGE))
			return false;
	return true;
}

/* @p n bytes of @p fd at @p off into @p dst. @return 0 or -errno
 * (-ENODATA: the file is shorter than that). */
static int read_full(int fd, uint8_t *dst, uint32_t n, uint64_t off)
{
	uint32_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, dst + got, n - got, (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ENODATA;
		got += (uint32_t)r;
	}
	return 0;
}

/* @p n bytes of the base at @p off, cached or direct (file_read.h).
 * @return 0 or -errno (-ENODATA: the base is shorter than that). */
static int base_read(struct recv_base *b, uint8_t *dst, uint32_t n, uint64_t off)
{
	int rc = file_read_full(&b->rd, dst, n, off);

	return rc == -EIO ? -ENODATA : rc;
}

int recv_base_fill(struct recv_base *b, uint8_t *data, uint64_t offset, uint32_t len, uint64_t mask)
{
	for (unsigned i = 0; i * PAGE < len; i++) {
		uint32_t off = i * PAGE, n = len - off < PAGE ? len - off : PAGE;
		int rc;

		if (!(mask >> i & 1))
			continue;
		rc = base_read(b, data + off, n, offset + off);
		if (rc)
			return rc;
	}
	return 0;
}

/* The moved pages from page i of a chunk on whose sources are consecutive
 * pages of the same file (a file's blocks moved together): one read. */
static unsigned run_len(uint64_t moved, const uint64_t *src, unsigned i)
{
	unsigned n = 1;

	while (i + n < 64 && moved >> (i + n) & 1 && src[i + n] == src[i + n - 1] + PAGE)
		n++;
	return n;
}

int recv_base_fill_moved(struct recv_base *b, uint8_t *data, uint32_t len, uint64_t moved,
			 const uint64_t *src, int out_fd, uint64_t written)
{
	const uint64_t size = (uint64_t)b->st.st_size;

	for (unsigned i = 0; i < 64 && moved >> i; i++) {
		uint64_t at = src[i] & ~DWCP_HDE_SRC_NEW;

		if (!(moved >> i & 1))
			continue;
		if ((i + 1) * PAGE > len)
			return -ERANGE;
		/* A page of this version an earlier chunk carried lies in the
		 * output (chunks are written in order); one of the base lies
		 * where the sender read it from the index of this very version:
		 * beyond the end is a corrupt chunk, not a short read. */
		if (src[i] & DWCP_HDE_SRC_NEW ? at % PAGE || at > written || written - at < PAGE :
						size < PAGE || at > size - PAGE)
			return -ERANGE;
	}
	/* The pages lie anywhere in either file: the kernel is told of them
	 * all first, so that those it must read from the device are read at
	 * once rather than one after the other (a region of moved pages
	 * cost `dwcp recv --inplace` a wait of 30-50 us per page, everything
	 * else idle). Runs of consecutive sources are read as one. */
	for (unsigned i = 0, n; i < 64 && moved >> i; i += n) {
		uint64_t at = src[i] & ~DWCP_HDE_SRC_NEW;

		n = 1;
		if (!(moved >> i & 1))
			continue;
		n = run_len(moved, src, i);
		if (src[i] & DWCP_HDE_SRC_NEW)
			(void)posix_fadvise(out_fd, (off_t)at, (off_t)n * PAGE, POSIX_FADV_WILLNEED);
		else
			file_read_will_need(&b->rd, at, (size_t)n * PAGE);
	}
	for (unsigned i = 0, n; i < 64 && moved >> i; i += n) {
		uint64_t at = src[i] & ~DWCP_HDE_SRC_NEW;
		int rc;

		n = 1;
		if (!(moved >> i & 1))
			continue;
		n = run_len(moved, src, i);
		if (src[i] & DWCP_HDE_SRC_NEW) {
			rc = read_full(out_fd, data + i * PAGE, n * PAGE, at);
		} else {
			rc = file_read_scattered(&b->rd, data + i * PAGE, (size_t)n * PAGE, at);
			rc = rc == -EIO ? -ENODATA : rc;
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* Share @p n bytes at @p off of the base into @p fd at the same offset.
 * @return 0, 1 when the file system refuses (write them instead), -errno. */
static int clone_range(struct recv_base *b, int fd, uint64_t off, uint64_t n)
{
	struct file_clone_range r = { .src_fd = b->fd, .src_offset = off, .src_length = n,
				      .dest_offset = off };

	if (ioctl(fd, FICLONERANGE, &r) == 0)
		return 0;
	switch (errno) {
	case EOPNOTSUPP: case ENOTTY: case EXDEV: case EINVAL: case EBADF: case EPERM:
	case ETXTBSY:
		b->no_clone = true;
		return 1;
	default:
		return -errno;
	}
}

bool recv_base_zero(const struct recv_base *b, const uint8_t *p, uint32_t n)
{
	return b->delta.is_zero(p, n);
}

uint64_t recv_zero_pages(bool (*is_zero)(const void *, size_t), const uint8_t *data, uint32_t len,
			 uint64_t skip)
{
	uint64_t zeros = 0;

	for (uint32_t at = 0, i = 0; at < len && i < 64; at += PAGE, i++)
		if (!(skip >> i & 1) && is_zero(data + at, len - at < PAGE ? len - at : PAGE))
			zeros |= 1ull << i;
	return zeros;
}

/* Page @p at of a chunk of @p len bytes is kept and whole: it can be cloned. */
static bool clonable(uint64_t mask, uint32_t at, uint32_t len)
{
	return (mask >> (at / PAGE) & 1) && len - at >= PAGE;
}

int recv_base_write(struct recv_base *b, struct recv_fd *w, const uint8_t *data, uint64_t offset,
		    uint32_t len, uint64_t mask, uint64_t zeros, uint64_t *cloned)
{
	uint32_t at = 0;
	bool hole_at_end = false;
	int rc;

	while (at < len) {
		bool kept = clonable(mask, at, len);
		uint32_t end = at + (len - at < PAGE ? len - at : PAGE);

		/* A run of pages to clone, or of pages to write up to the next
		 * page to clone. */
		while (end < len && clonable(mask, end, len) == kept)
			end += len - end < PAGE ? len - end : PAGE;
		rc = kept && b->fd >= 0 && !b->no_clone ? clone_range(b, w->fd, offset + at, end - at) : 1;
		if (rc < 0)
			return rc;
		hole_at_end = false;
		if (rc == 0)
			*cloned += (end - at) / PAGE;
		else if (kept)
			rc = recv_fd_pwrite(w, data + at, end - at, offset + at);
		else
			/* Zero pages (a VM image has many) are left holes where
			 * they come in runs: the new file is written front to
			 * back, so they read as zeros. */
			rc = recv_fd_write_sparse(w, data + at, end - at, offset + at, zeros >> (at / PAGE),
						  &hole_at_end);
		if (rc < 0)
			return rc;
		at = end;
	}
	/* A hole at the end of the file is no size: give it one. */
	if (hole_at_end && (rc = recv_fd_flush(w)))
		return rc;
	if (hole_at_end && ftruncate(w->fd, (off_t)(offset + len)) < 0)
		return -errno;
	return 0;
}

int recv_base_record(const struct recv_base *b, const struct stat *st, uint64_t digest)
{
	return recv_base_write_record(b->record, st, digest);
}

static int write_rec(const char *record, const struct rec *r)
{
	char tmp[PATH_MAX + 16];
	int fd, rc = 0;

	if (!record[0])
		return -ENAMETOOLONG;
	/* dwcp send makes the index directory too, but a node that only
	 * receives makes it here. What fails shows when the record is created. */
	(void)dwcp_mkdir_parents(record, 0700);
	/* One name per record (one receive of a stream at a time, and its
	 * checkpoints never overlap its own writes of it): a process killed
	 * here leaves one file that the next write of the record reuses, not
	 * one per death. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", record);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, r, sizeof(*r)) != (ssize_t)sizeof(*r) || fsync(fd))
		rc = errno ? -errno : -EIO;
	close(fd);
	if (!rc && rename(tmp, record))
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

int recv_base_write_record(const char *record, const struct stat *st, uint64_t digest)
{
	const struct rec r = {
		.magic = REC_MAGIC, .dev = (uint64_t)st->st_dev, .ino = (uint64_t)st->st_ino,
		.size = (uint64_t)st->st_size, .mtime_s = st->st_mtim.tv_sec,
		.mtime_ns = st->st_mtim.tv_nsec, .digest = digest,
	};

	return write_rec(record, &r);
}

int recv_base_write_prefix_record(const char *record, int fd, uint64_t valid, uint64_t digest)
{
	struct timespec born;
	uint64_t bytes;
	struct stat st;

	if (fstat(fd, &st) || dwcp_file_bytes(fd, &st, &bytes))
		return -errno;
	if (bytes < valid)
		return -EINVAL;
	birth(fd, &born);
	const struct rec r = {
		.magic = REC_MAGIC_PREFIX, .dev = (uint64_t)st.st_dev, .ino = (uint64_t)st.st_ino,
		.size = valid, .mtime_s = born.tv_sec, .mtime_ns = born.tv_nsec, .digest = digest,
	};

	return write_rec(record, &r);
}

int recv_base_forget(struct recv_base *b)
{
	if (!b->record[0])
		return 0;   /* no record can exist */
	return dwcp_unlink_durably(b->record);
}

int recv_base_rewritten(struct recv_base *b)
{
	if (b->fd < 0)
		return 0;
	return fstat(b->fd, &b->st) ? -errno : 0;
}

void recv_base_close(struct recv_base *b)
{
	file_read_close(&b->rd);
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}
