/* `dwcp recv`'s base: its previous copy of the stream, from which the
 * pages a sender kept (common/ops/hde.h version 2: unchanged since the version
 * the sender's page index describes) or moved (version 3: found at another
 * offset of that version) are filled.
 *
 * The base is the file at the output path when the receive starts, opened
 * relative to the output's directory descriptor (cli/recv_out.h), never
 * following a symlink. It is used only when it provably IS the version the
 * sender means: after every completed receive a record (in [stream]
 * index_dir, one per instance and stream: INSTANCE@STREAM.rcv, written
 * atomically) keeps the output's dev, inode, size and mtime and the
 * whole-file digest that was verified for it. A kept chunk is accepted
 * only when its trailer names that digest and the open base still has
 * that identity (size and mtime re-checked per chunk: a file changed
 * behind the receiver's back is refused). Otherwise it is answered
 * DWCP_BUF_EBASE and the sender redoes it whole. The whole-file digest
 * still covers every kept byte, so a base changed between the check and
 * the copy fails the transfer loudly, never leaving a wrong file.
 *
 * Concurrency: one thread (the receive's).
 */
#ifndef DWCP_CLI_RECV_BASE_H
#define DWCP_CLI_RECV_BASE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common/ops/delta.h"
#include "common/ops/hde.h"
#include "file_read.h"
#include "recv_fd.h"

struct recv_base {
	int fd;                    /* the previous copy; -1 = none usable */
	uint64_t digest;           /* its verified whole-file digest (0 = none) */
	uint64_t valid;            /* the bytes its record vouches for: all of it, or a
	                            * prefix (a receive's checkpoint, cli/recv_partial.h) */
	struct stat st;            /* its identity as recorded */
	char record[PATH_MAX];     /* the record's path; "" = none can be kept */
	char why[160];             /* why there is no base, for the one message */
	bool no_clone;             /* the file system said it cannot share blocks: write */
	struct dwcp_delta_impl delta;   /* its is_zero finds the pages to leave as holes */
	struct file_read rd;       /* how fd is read: kept and moved pages (file_read.h) */
};

/**
 * Find the base of @p stream on @p instance: @p name in @p dirfd, checked
 * against the record under @p index_dir. Never fails: without a usable
 * base, kept chunks are refused (and @p b->why says why).
 */
void recv_base_open(struct recv_base *b, int dirfd, const char *name, const char *index_dir,
		    const char *instance, const char *stream);

/**
 * Make the file at @p fd (duplicated: the caller keeps its own) the base
 * of the version named @p digest: the data an interrupted transfer left
 * in the receive's temporary output, which a resumed transfer writes in
 * place (cli/recv.c). No record: nothing vouches for it after this
 * receive. @return 0 or -errno (then no base).
 */
int recv_base_adopt(struct recv_base *b, int fd, uint64_t digest);

/**
 * As recv_base_open, for the file @p name checked against the record at
 * @p record ("": none, no base): the partial copy an interrupted receive
 * kept (cli/recv_partial.h) is opened so.
 */
void recv_base_open_recorded(struct recv_base *b, int dirfd, const char *name, const char *record);

/**
 * The path of @p stream's record on @p instance: @p index_dir /
 * INSTANCE@STREAM then @p suffix (".rcv": the completed copy's).
 * @return 0, or -ENAMETOOLONG with @p out "".
 */
int recv_base_record_path(char *out, size_t n, const char *index_dir, const char *instance,
			  const char *stream, const char *suffix);

/** Whether kept pages of the version with digest @p digest can come from the base now. */
bool recv_base_usable(struct recv_base *b, uint64_t digest);

/**
 * Whether every page that a kept chunk at @p offset of @p len bytes
 * takes from the base (@p k: kept at the same offset, moved from
 * elsewhere) lies within what its record vouches for: a checkpoint of an
 * interrupted receive vouches for less than the sender may have had
 * acknowledged (cli/recv_partial.h), and the rest must travel.
 */
bool recv_base_holds(const struct recv_base *b, uint64_t offset, uint32_t len,
		     const struct dwcp_hde_kept *k);

/**
 * Fill the pages of @p mask of the chunk at @p offset (@p len bytes of
 * data at @p data) from the base. @return 0 or -errno (-ENODATA: the base
 * is shorter than it was).
 */
int recv_base_fill(struct recv_base *b, uint8_t *data, uint64_t offset, uint32_t len, uint64_t mask);

/**
 * Fill the moved pages of a chunk (@p len bytes at @p data): page i of
 * @p moved is the base's 4096 bytes at byte offset @p src[i] (common/ops/hde.h
 * version 3), or with DWCP_HDE_SRC_NEW the page at that offset of the
 * output @p out_fd, of which the first @p written bytes are written.
 * @return 0; -ERANGE for a page that is not whole in the chunk or a
 * source beyond the base or the bytes written (a corrupt chunk); or
 * -errno of the read.
 */
int recv_base_fill_moved(struct recv_base *b, uint8_t *data, uint32_t len, uint64_t moved,
			 const uint64_t *src, int out_fd, uint64_t written);

/**
 * Write @p len bytes of @p data at @p offset of the output @p w (chunks
 * come in order, so the file grows front to back); the pages of @p mask (kept, and already filled from the base)
 * are shared with the base by reflink (FICLONERANGE) where the file
 * system can, instead of written again: a new version of a large image
 * then costs the disk only its changed pages. Where it cannot (ext4,
 * another file system than the base's, a partial last page) they are
 * written like the rest; the first such refusal turns cloning off. Other
 * pages of zeros are left holes where they come in runs
 * (recv_fd_write_sparse: the output is a new file written front to back,
 * so they read as zeros; the file is sparse, as `cp --sparse`): the pages
 * of @p zeros (recv_zero_pages).
 * @p cloned (added to) counts the shared pages.
 * @return 0 or -errno (a write error, or a clone error that is not a
 *         refusal, e.g. ENOSPC).
 */
int recv_base_write(struct recv_base *b, struct recv_fd *w, const uint8_t *data, uint64_t offset,
		    uint32_t len, uint64_t mask, uint64_t zeros, uint64_t *cloned);

/**
 * After a completed receive: record @p st (the new output, fstat'ed
 * before it was named; a rename keeps it) and its verified @p digest.
 * @return 0 or -errno (then the next receive keeps nothing).
 */
int recv_base_record(const struct recv_base *b, const struct stat *st, uint64_t digest);

/** As recv_base_record, to the record at @p record. */
int recv_base_write_record(const char *record, const struct stat *st, uint64_t digest);

/**
 * Record, at @p record, that the first @p valid bytes of the file open at
 * @p fd (its dev, inode and birth time; it may be longer, and may still
 * be written beyond them) are the data of the version named @p digest:
 * what a receive's checkpoint vouches for (cli/recv_partial.h). Those
 * bytes must be on disk first, and must not change while the record
 * stands. @return 0 or -errno (-EINVAL: the file is shorter than @p valid).
 */
int recv_base_write_prefix_record(const char *record, int fd, uint64_t valid, uint64_t digest);

/**
 * Withdraw the record, durably (the record is removed and its directory
 * synced), before the previous copy is rewritten in place (`dwcp recv
 * --inplace`): a receive killed half way must never leave a record that
 * vouches for a half-written file. The open base stays usable for this
 * receive (its digest is kept in @p b). @return 0 or -errno (then nothing
 * may be written in place).
 */
int recv_base_forget(struct recv_base *b);

/**
 * Whether the @p n bytes at @p p are all zero (a page written as a hole):
 * common/ops/delta's test for this CPU, chosen by recv_base_open().
 */
bool recv_base_zero(const struct recv_base *b, const uint8_t *p, uint32_t n);

/**
 * The pages of the @p len bytes at @p data (at most 64 pages) that are
 * all zero, by @p is_zero: bit i for page i (a short last page: its
 * bytes); the pages of @p skip are not looked at (0: kept pages, which
 * are cloned or left as they are, whatever they hold). What
 * recv_base_write and recv_inplace_write leave holes; `dwcp recv
 * --threads 2` finds them on its second thread as chunks arrive.
 */
uint64_t recv_zero_pages(bool (*is_zero)(const void *, size_t), const uint8_t *data, uint32_t len,
			 uint64_t skip);

/**
 * The base was written by this receive itself (in place): take its
 * current size and mtime as its identity, so that only a change by
 * someone else fails recv_base_usable. @return 0 or -errno.
 */
int recv_base_rewritten(struct recv_base *b);

void recv_base_close(struct recv_base *b);

#endif
