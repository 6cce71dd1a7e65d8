/* How `dwcp send` reads its file, and `dwcp recv` the kept pages of its
 * previous copy: what the page cache holds from there, the rest by direct
 * I/O in large windows.
 *
 * Why: a VM image being sent is seldom in the page cache, and reading it
 * through the cache cost the sender 1.0-1.5 CPU-seconds per GB on the
 * 2-core VM (readahead, folio allocation, LRU insertion, and reclaiming
 * the cache to make room: more than all the rest of `dwcp send`), where
 * direct reads of 4 MiB and the copy into the chunk buffer cost 0.04-0.05
 * and ran faster (1.2-1.5 against 0.6-0.8 GB/s). Data that is cached
 * (a file just written, or read by a send a moment ago) is cheapest to
 * copy from the cache, so each read first asks the kernel whether the
 * cache holds it (cachestat(2), which reads nothing; a read with
 * RWF_NOWAIT would start readahead of what is missing) and only what it
 * lacks comes by direct I/O. Reading a large image this way also leaves
 * the host's page cache to its VMs. The receiver's previous copy is the
 * same case: a resend reads every kept page of it, usually days after it
 * was written.
 *
 * A window is read from a page-aligned offset into an aligned buffer
 * (the chunk's data lies 96 bytes into its buffer, so it is copied from
 * there); sequential chunks are served from it until it runs out. A file
 * system without direct I/O (statx STATX_DIOALIGN says nothing), a
 * kernel without cachestat (before 6.5) and a file whose direct read is
 * refused (EINVAL) are read through the cache, as before.
 *
 * Concurrency: one thread per struct (its read-ahead helper is its own).
 * Changes to the file are the caller's to detect (dwcp send compares
 * fstat after each read): a window read before a change (read ahead, it
 * may be read before the caller asked for it) is served only until that
 * check sees it. A file
 * rewritten in place while it is read (dwcp recv --inplace) may only be
 * read where it was not rewritten since the window was read.
 */
#ifndef DWCP_CLI_FILE_READ_H
#define DWCP_CLI_FILE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct file_read {
	int fd;                    /* the file, buffered; the caller's */
	int direct;                /* the same file, O_DIRECT; -1 = none */
	bool cache_unknown;        /* no cachestat(2) here: read buffered */
	uint8_t *win;              /* FILE_READ_WIN bytes, page-aligned */
	uint64_t win_off;          /* the window holds the file's win_len */
	size_t win_len;            /* bytes at win_off */
	uint64_t direct_bytes;     /* read with direct I/O, for the summary */
	uint64_t ahead_bytes;      /* of those, read ahead (file_read_ahead) */
	struct file_read_ahead *ahead;   /* the next window, being read; NULL = off */
};

/* The direct window: one read of this many bytes serves 16 chunks of 256 KiB. */
#define FILE_READ_WIN (4u << 20)

/** @p fd as the file, read through the page cache (file_read_direct adds direct I/O). */
static inline struct file_read file_read_of(int fd)
{
	return (struct file_read){ .fd = fd, .direct = -1 };
}

/**
 * A second descriptor of @p fd's file, opened @p flags | O_DIRECT (through
 * /proc/self/fd, which works for an unnamed O_TMPFILE too, so the two
 * never share file status flags), where its file system offers direct
 * I/O with alignments that divide 4096 (statx STATX_DIOALIGN); its memory
 * alignment into @p mem_align. @return the descriptor, or -1 (none).
 */
int file_direct_reopen(int fd, int flags, uint32_t *mem_align);

/**
 * A buffer of @p n bytes for direct I/O (a window, a bounce buffer),
 * page-aligned; one of a multiple of 2 MiB is aligned to 2 MiB and
 * advised MADV_HUGEPAGE, so that the kernel backs it with huge pages
 * where transparent huge pages are on (or on madvise, as Debian's
 * kernels are). Why: a direct read or write of 4 MiB from 4 KiB pages is
 * up to 1,024 segments (as many as the pages lie scattered in physical
 * memory), and a device takes a bounded number per request (the 2-core
 * VM's virtio disk 254), so the block layer split them: a 1 GiB send
 * wrote in 3,182 requests of 657 KiB on average (block_rq_issue), from
 * huge pages in 371 of 2.8 MiB (as from 4 KiB pages that happened to lie
 * together, once, right after boot). A
 * 1 GiB send ran in 1.22-1.40 s against 1.50-2.01, an atomic resend
 * (1 GiB read, 1 GiB written) in 1.70-1.84 s against 2.87-3.32. And
 * the buffer's first use takes two page faults per 4 MiB, not 1,024
 * (10-20 ms of CPU per run and side, whatever the file's size). Free
 * with free(). @return NULL: no memory.
 */
void *file_io_buf(size_t n);

/**
 * Open a direct view of @p r's file where its file system offers one
 * (alignments that divide 4096). Without one, reads stay buffered: not
 * an error. @return true when direct reads are on.
 */
bool file_read_direct(struct file_read *r);

/**
 * Read ahead: once a direct window is read at the offset where the last
 * one ended, or less than a window further on (a sequential reader: dwcp
 * send; dwcp recv reading the kept pages of its previous copy, which skips
 * the changed ones), the next one is read by a helper thread
 * (cli/io_async.h) while the caller uses this one, so that the device
 * reads while the caller compresses and sends, or writes. Costs a second
 * window and a thread. Without them (no memory, no thread, no direct
 * view): not an error, windows are read as they are needed.
 * @return true when reading ahead is on.
 */
bool file_read_ahead(struct file_read *r);

/** CPU seconds of the read-ahead thread so far (0: none), for the summary. */
double file_read_ahead_cpu_s(const struct file_read *r);

/** Close the direct view and free the window; @p r->fd stays open. */
void file_read_close(struct file_read *r);

/**
 * Read exactly @p n bytes at @p off of the file into @p dst.
 * @return 0; -EIO when the file ends first (it shrank); -errno.
 */
int file_read_full(struct file_read *r, uint8_t *dst, size_t n, uint64_t off);

/**
 * As file_read_full, for bytes out of the reader's sequence (the source of
 * a moved page, anywhere in the file): from the window where it holds
 * them, else through the page cache, leaving the window and the read
 * ahead as they are. Read as a window, each such page cost a 4 MiB direct
 * read and threw away the window (and the read ahead) that the sequential
 * reads then had to read again: an in-place resend of a 1 GiB image with
 * 3,764 moved pages read 1.5 GiB of its previous copy, in 388 windows,
 * each a wait of its main thread.
 */
int file_read_scattered(struct file_read *r, uint8_t *dst, size_t n, uint64_t off);

/**
 * Tell the kernel that @p n bytes at @p off will be read out of sequence
 * soon (file_read_scattered), so that it starts reading what the page
 * cache lacks now: several such reads then wait for the device together,
 * not one after the other. Nothing for bytes the window holds.
 */
void file_read_will_need(struct file_read *r, uint64_t off, size_t n);

#endif
