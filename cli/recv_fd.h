/* How `dwcp recv` puts bytes into its output: direct I/O where the file
 * system offers it, the page cache where it does not.
 *
 * Why: on a 2-core VM a buffered write of a GiB into ext4 cost 1.4-1.5
 * CPU-seconds (folio allocation, buffer heads, delayed allocation, the
 * copy into the page cache, then writeback), a third of everything a
 * whole transfer spends, and it made `dwcp recv` one thread's worth of
 * ceiling for the whole node on a large host. The same bytes written
 * O_DIRECT cost 0.16-0.19 CPU-seconds and arrived sooner (0.71-0.89
 * against 0.47-0.51 GB/s, fsync included). The receiver never reads
 * back what it wrote but for a moved page now and then, so the page
 * cache buys it nothing.
 *
 * Direct I/O has rules the page cache does not: offset, length and
 * memory aligned to what the file system says (statx STATX_DIOALIGN, a
 * file system that says nothing gets no direct I/O). A run of whole
 * pages at a page offset meets the first two; the chunk's data lies 96
 * bytes into its buffer, so it is copied into an aligned bounce buffer
 * first (a user-space copy is a small part of what the page cache
 * costs). A file's short last page goes through the page cache. A file
 * system that refuses a direct write (EINVAL) turns direct I/O off for
 * the rest of the receive; the bytes are written buffered instead.
 *
 * The buffered descriptor stays the file's: reads, clones, truncation,
 * sync and naming use it. The direct one is a second open of the same
 * file (through /proc/self/fd, which works for an unnamed O_TMPFILE
 * too), so the two never share file status flags.
 *
 * Concurrency: one thread per struct (its writer thread is its own).
 */
#ifndef DWCP_CLI_RECV_FD_H
#define DWCP_CLI_RECV_FD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct recv_fd {
	int fd;                    /* the file, buffered; -1 = none */
	int direct;                /* the same file, O_DIRECT; -1 = none */
	uint32_t align;            /* offset and length multiple for direct */
	uint32_t mem_align;        /* memory alignment for direct */
	uint8_t *bounce;           /* RECV_FD_BOUNCE bytes at mem_align, being filled */
	struct recv_fd_async *async;   /* the writer thread, its queue and the bounces
	                                * no write holds; NULL = none yet */
	bool no_async;             /* it could not start: write inline */
	bool direct_refused;       /* the file system refused a direct write: none from now on */
	uint64_t pend_off;         /* the bounce holds pend_len bytes of the */
	size_t pend_len;           /* file at pend_off, not yet written */
	uint64_t direct_bytes;     /* written direct, for the summary */
};

/* The bounce buffer: runs of whole pages gather in it, and are written
 * together once it is full or a run does not continue the last: by a
 * writer thread (a cli/job_queue.h queue, up to three full bounces deep)
 * while the receive goes on into another one, so that the device writes
 * while recv receives, and on a resend reads its previous copy (where the
 * two alternated, an atomic resend of a 1 GiB image on ext4 spent its
 * time waiting for one, then the other). */
#define RECV_FD_BOUNCE (4u << 20)

/* Full bounces wait for the writer in a queue this deep: a write that
 * takes long (a device's latency spikes: one 4 MiB direct write in 256
 * took 41 ms on a VM, the median 1.3) no longer stops the receive while
 * the bounces after it fill. With one write waited for at a time, `dwcp
 * recv` spent 0.57-0.63 s of a 1.4 s 1 GiB receive waiting for it. So up
 * to (RECV_FD_QUEUE + 1) bounces of what was written have not landed yet
 * (recv_fd_landed): a checkpoint vouches for that much less. */
#define RECV_FD_QUEUE 3u

/** @p fd as the output, buffered only (recv_fd_direct adds direct I/O). */
static inline struct recv_fd recv_fd_of(int fd)
{
	return (struct recv_fd){ .fd = fd, .direct = -1 };
}

/**
 * Open a direct view of @p w's file where its file system offers one
 * (its alignment a divisor of 4096). Without one, or when it cannot be
 * opened, the writes stay buffered: not an error.
 * @return true when direct writes are on.
 */
bool recv_fd_direct(struct recv_fd *w);

/** Close the direct view and free the bounce buffer; @p w->fd stays. */
void recv_fd_direct_close(struct recv_fd *w);

/**
 * Write all @p n bytes at @p p to offset @p off of the file, through
 * short writes and EINTR. With direct I/O on, the whole pages of a long
 * run are only copied into the bounce buffer; they reach the file at
 * the next recv_fd_flush, or when a later write needs the room or does
 * not continue them. An error of such a deferred write is returned by
 * the next call that waits for it (a later recv_fd_pwrite or
 * recv_fd_flush). @return 0 or -errno.
 */
int recv_fd_pwrite(struct recv_fd *w, const uint8_t *p, size_t n, uint64_t off);

/* Zero pages in runs shorter than this are written as zeros rather than
 * left holes, where writes go direct: the run around them stays one long
 * direct write from the bounce buffer. Leaving each a hole cut a VM image
 * whose zero pages lie between its data pages into short runs, each a
 * buffered write and an extent of its own (the bench's page-by-page
 * image, 2-core VM: ~87,000 extents per GiB, the receive capped by ext4's
 * delayed allocation under the inode lock at 0.5-0.7 GB/s). A file
 * system's free space, and a disk's unused tail, come in longer runs:
 * they stay holes. */
#define RECV_FD_HOLE_MIN (64u << 10)

/** Whether a run of @p n bytes of zero pages is written, not left a hole. */
static inline bool recv_fd_writes_zeros(const struct recv_fd *w, uint64_t n)
{
	return w->direct >= 0 && n < RECV_FD_HOLE_MIN;
}

/**
 * Write the @p n bytes at @p p to offset @p off of a file written front
 * to back (whose bytes past what was written read as zeros): whole pages
 * of zeros (bit i of @p zeros: the page at @p p + 4096 i, at most 64) are
 * left holes, but for runs shorter than
 * RECV_FD_HOLE_MIN while direct I/O is on, which are written.
 * @p hole_at_end: set to whether its last bytes were left a hole (then
 * the file may be shorter than @p off + @p n: the caller gives it its
 * size). @return 0 or -errno, as recv_fd_pwrite.
 */
int recv_fd_write_sparse(struct recv_fd *w, const uint8_t *p, size_t n, uint64_t off,
			 uint64_t zeros, bool *hole_at_end);

/**
 * Write what the bounce buffer holds, and wait for the writer's write in
 * flight. Needed before anything reads, truncates or syncs the file.
 * @return 0 or -errno (of either).
 */
int recv_fd_flush(struct recv_fd *w);

/**
 * Of the first @p upto bytes, which were written front to back: how many
 * have reached the file (none of them still in the bounce buffer or in
 * the writer's write in flight), so that a sync now covers them.
 */
uint64_t recv_fd_landed(const struct recv_fd *w, uint64_t upto);

/** CPU seconds of the writer thread so far (0: none), for the summary. */
double recv_fd_writer_cpu_s(const struct recv_fd *w);

/**
 * Forget what the bounce buffer holds (the file is being truncated to
 * 0); a write in flight is waited for, so it cannot land after the
 * truncation.
 */
void recv_fd_drop(struct recv_fd *w);

#endif
