/* The sender's page index of a stream (DESIGN §5, "delta that works at
 * any size"): the XXH3-128 of every 4 KiB page of the version a `dwcp
 * send` delivered, and that version's whole-file digest (common/digest.h).
 * The next send of the stream compares each page it reads with the entry
 * at the same page number: an equal page is "kept" (common/ops/hde.h: KEPT) and
 * does not travel, whatever the delta cache holds. Each entry also holds
 * the page's rolling weak key (common/ops/weaksum.h), so that a sender can
 * find a previous page that moved to an unaligned offset: it rolls the
 * weak sum over the new data, looks the key up, and confirms with the
 * XXH3-128.
 *
 * File format (little-endian), one file per instance, stream and peer:
 *
 *   bytes 0..63   header: magic "DWCPFPX1", version (2), page size
 *                 (4096), file size, whole-file digest (never 0), page
 *                 count (= ceil(file size / 4096)), zero padding
 *   then          page count x 20 bytes: XXH3-128 of page i, low half
 *                 then high half (the digest's own per-page input), then
 *                 the u32 weak key of page i (dwcp_weaksum_key; a last
 *                 page shorter than 4096 bytes is summed zero-padded)
 *
 * Version 1 (written before the weak keys) is the same with 16-byte
 * entries and no key; it is still read (has_keys false). The writer
 * always writes version 2.
 *
 * A reader trusts nothing: magic, version, page size, a page count that
 * matches the file size and the file's length (at the version's entry
 * size), and a non-zero digest are all checked; anything else is "no
 * index" (everything travels). The file is read through mmap, so a
 * 500 GiB image's 2.5 GiB index costs page cache, not heap.
 *
 * Written atomically: entries are appended to a temporary in the index
 * directory (mkstemp, mode 0600) while the pages are read, the header goes
 * in last, then fsync, rename over the index name, fsync of the directory.
 * A send that fails or is killed leaves the previous index in place (a
 * leftover temporary is named *.tmp.XXXXXX and never read).
 *
 * Concurrency: a reader or writer belongs to one thread. Two sends of one
 * stream to one peer at once are refused by the node's stream table, so
 * two writers of one index do not happen; if they did, the last rename wins
 * and each file is whole.
 */
#ifndef DWCP_COMMON_FPINDEX_H
#define DWCP_COMMON_FPINDEX_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/digest.h"
#include "common/err.h"

#define DWCP_FPINDEX_MAGIC   0x3158504650435744ull   /* "DWCPFPX1" */
#define DWCP_FPINDEX_VERSION 2u   /* what the writer writes */
#define DWCP_FPINDEX_HDR_LEN 64u
#define DWCP_FPINDEX_ENTRY   DWCP_DIGEST_PAGE_HASH   /* the strong hash of an entry */
#define DWCP_FPINDEX_KEY_LEN 4u
#define DWCP_FPINDEX_ENTRY_V1 DWCP_FPINDEX_ENTRY
#define DWCP_FPINDEX_ENTRY_V2 (DWCP_FPINDEX_ENTRY + DWCP_FPINDEX_KEY_LEN)

struct dwcp_fpindex_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t page_size;
	uint64_t file_size;
	uint64_t digest;
	uint64_t n_pages;
	uint8_t  zero[24];
};

_Static_assert(sizeof(struct dwcp_fpindex_hdr) == DWCP_FPINDEX_HDR_LEN, "fpindex header is a file format");

/** An index opened for reading. */
struct dwcp_fpindex {
	const uint8_t *map;        /* NULL: no index */
	size_t map_len;
	uint64_t file_size, digest, n_pages;
	unsigned entry_len;        /* bytes per page entry: 16 (version 1) or 20 */
	bool has_keys;             /* entries carry weak keys (version 2) */
};

/** An index being written. */
struct dwcp_fpindex_writer {
	int fd;                    /* -1: none */
	uint64_t n_pages;
	size_t fill;
	uint8_t *buf;              /* entries not yet written */
	char path[PATH_MAX];
	char tmp[PATH_MAX];
};

/**
 * The index file's path: @p dir / INSTANCE@STREAM@HEX.fpi, HEX the
 * XXH3-64 of @p peer (any string: an address is never put in a path).
 * @return 0, -EINVAL for an instance or stream name that is not a plain
 *         file name part, -ENAMETOOLONG.
 */
int dwcp_fpindex_path(char *out, size_t n, const char *dir, const char *instance,
		      const char *stream, const char *peer);

/**
 * Open @p path read-only and check it.
 * @return 0; -ENOENT when there is none; -EBADMSG (with the reason in
 *         @p err) when it is not a whole index; or what open/mmap failed
 *         with. On any failure @p ix is "no index" and may be closed.
 */
int dwcp_fpindex_open(struct dwcp_fpindex *ix, const char *path, struct dwcp_err *err);

/** The 16-byte strong hash of page @p page, or NULL beyond the index. */
static inline const uint8_t *dwcp_fpindex_page(const struct dwcp_fpindex *ix, uint64_t page)
{
	if (!ix->map || page >= ix->n_pages)
		return NULL;
	return ix->map + DWCP_FPINDEX_HDR_LEN + page * ix->entry_len;
}

/**
 * The weak key (common/ops/weaksum.h) of page @p page into @p key.
 * @return false (key untouched) beyond the index or when the index has
 *         no keys (a version 1 file).
 */
static inline bool dwcp_fpindex_key(const struct dwcp_fpindex *ix, uint64_t page, uint32_t *key)
{
	const uint8_t *e = dwcp_fpindex_page(ix, page);

	if (!e || !ix->has_keys)
		return false;
	e += DWCP_FPINDEX_ENTRY;   /* little-endian, at any alignment (20-byte stride) */
	*key = (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 24;
	return true;
}

/** Unmap; idempotent. */
void dwcp_fpindex_close(struct dwcp_fpindex *ix);

/**
 * Start writing the index at @p path (its directory is created, mode
 * 0700, where missing).
 * @return 0 or -errno with what failed in @p err.
 */
int dwcp_fpindex_begin(struct dwcp_fpindex_writer *w, const char *path, struct dwcp_err *err);

/**
 * Append @p n page entries: page i's XXH3-128 @p hashes[i] and its weak
 * key @p keys[i] (dwcp_weaksum_key of the page, zero-padded to 4096 bytes
 * when it is the file's short last page). Neither may be NULL when n > 0.
 * @return 0 or -errno (the writer is then aborted).
 */
int dwcp_fpindex_add(struct dwcp_fpindex_writer *w, const uint8_t (*hashes)[DWCP_FPINDEX_ENTRY],
		     const uint32_t *keys, size_t n);

/**
 * Finish: the header for a file of @p file_size bytes with whole-file
 * digest @p digest, fsync, rename into place, fsync the directory.
 * @return 0; -EINVAL when the entries added are not the file's page
 *         count; or -errno. The writer is closed either way.
 */
int dwcp_fpindex_commit(struct dwcp_fpindex_writer *w, uint64_t file_size, uint64_t digest,
			struct dwcp_err *err);

/**
 * Finish as the index of a prefix: the first @p n_pages entries added
 * (at most as many as were added) for a file of @p n_pages x 4096 bytes,
 * with @p digest, put at @p path instead of the writer's (an interrupted
 * send's resume index, cli/send_index.h). Synced and renamed as
 * dwcp_fpindex_commit. @return 0; -EINVAL (more pages than added, or
 * digest 0); or -errno. The writer is closed either way.
 */
int dwcp_fpindex_commit_prefix(struct dwcp_fpindex_writer *w, const char *path, uint64_t n_pages,
			       uint64_t digest, struct dwcp_err *err);

/**
 * A prefix index kept up to date while its writer goes on (an
 * interrupted send's resume index, checkpointed so that even a send
 * killed outright leaves one, cli/send_index.h).
 */
struct dwcp_fpindex_cp {
	int fd;                    /* -1: none yet (or given up) */
	uint64_t n_pages;          /* entries in it */
	bool failed;               /* no more checkpoints */
};

/**
 * Make the file at @p path the index of the first @p n_pages entries
 * added to @p w (no fewer than the last call's), as of a file of
 * @p n_pages x 4096 bytes with @p digest. The first call writes it whole
 * to a temporary and renames it into place; later calls append the new
 * entries, then rewrite the header. Nothing is synced here: the caller
 * syncs @p cp->fd and the directory where that does not hold up its
 * thread (cli/send_index.c), and until then a checkpoint outlives the
 * process, not a crash of its host. A crash before that sync completes
 * may leave a header that got ahead of the entries or behind them: the
 * length disagrees, and readers take it for no index.
 * @return 0 or -errno (then no more checkpoints).
 */
int dwcp_fpindex_checkpoint(struct dwcp_fpindex_writer *w, struct dwcp_fpindex_cp *cp,
			    const char *path, uint64_t n_pages, uint64_t digest, struct dwcp_err *err);

/** Close the checkpoint (its file stays where it is). Idempotent. */
void dwcp_fpindex_cp_close(struct dwcp_fpindex_cp *cp);

/** Drop the temporary; the previous index stays. Idempotent. */
void dwcp_fpindex_abort(struct dwcp_fpindex_writer *w);

#endif
