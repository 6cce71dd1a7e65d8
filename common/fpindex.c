/* The sender's page index (fpindex.h): a checked, mmap'ed reader of
 * versions 1 and 2, and an append-then-rename writer of version 2. The
 * writer buffers entries (1 MiB, 52428 pages) so a send costs one write
 * per about 200 MiB of data read. */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "common/fpindex.h"
#include "common/paths.h"

#define WBUF (1u << 20)

/* A name part: [A-Za-z0-9._-], not empty, no '@' (our separator). */
static bool name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

int dwcp_fpindex_path(char *out, size_t n, const char *dir, const char *instance,
		      const char *stream, const char *peer)
{
	int k;

	if (!name_ok(instance) || !name_ok(stream))
		return -EINVAL;
	k = snprintf(out, n, "%s/%s@%s@%016llx.fpi", dir, instance, stream,
		     (unsigned long long)XXH3_64bits(peer, strlen(peer)));
	return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

void dwcp_fpindex_close(struct dwcp_fpindex *ix)
{
	if (ix->map)
		munmap((void *)ix->map, ix->map_len);
	*ix = (struct dwcp_fpindex){ 0 };
}

/* Entry bytes of a file version we read; 0 for any other. */
static unsigned entry_len(uint32_t version)
{
	switch (version) {
	case 1:
		return DWCP_FPINDEX_ENTRY_V1;
	case 2:
		return DWCP_FPINDEX_ENTRY_V2;
	}
	return 0;
}

static int check(struct dwcp_fpindex *ix, const struct dwcp_fpindex_hdr *h, size_t len,
		 struct dwcp_err *err)
{
	uint64_t size = le64toh(h->file_size), pages = le64toh(h->n_pages);
	const uint32_t version = le32toh(h->version);
	const unsigned elen = entry_len(version);
	static const uint8_t zero[sizeof(h->zero)];

	if (le64toh(h->magic) != DWCP_FPINDEX_MAGIC || !elen ||
	    le32toh(h->page_size) != DWCP_DIGEST_PAGE || memcmp(h->zero, zero, sizeof(zero)))
		return dwcp_err_set(err, -EBADMSG, "not a dwcp page index of version 1 or 2 (version %u)",
				    (unsigned)version);
	/* A checkpoint appends entries, then rewrites the header: a send
	 * killed between the two leaves entries past the header's count (of
	 * a checkpoint cut short), which are not read. Only in the current
	 * version: an older one's shorter entries must fill the file exactly,
	 * or a header whose version damage changed would pass. */
	if (pages != (size + DWCP_DIGEST_PAGE - 1) / DWCP_DIGEST_PAGE ||
	    pages > (len - DWCP_FPINDEX_HDR_LEN) / elen ||
	    (len != DWCP_FPINDEX_HDR_LEN + pages * elen && version != DWCP_FPINDEX_VERSION) ||
	    !h->digest)
		return dwcp_err_set(err, -EBADMSG,
				    "page index (version %u) of %zu bytes for %llu pages of a %llu-byte file: cut short or damaged",
				    (unsigned)version, len, (unsigned long long)pages,
				    (unsigned long long)size);
	ix->file_size = size;
	ix->n_pages = pages;
	ix->digest = le64toh(h->digest);
	ix->entry_len = elen;
	ix->has_keys = version >= 2;
	return 0;
}

int dwcp_fpindex_open(struct dwcp_fpindex *ix, const char *path, struct dwcp_err *err)
{
	struct stat st;
	void *m;
	int fd, rc;

	*ix = (struct dwcp_fpindex){ 0 };
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return dwcp_err_set(err, -errno, "opening page index %s: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < DWCP_FPINDEX_HDR_LEN) {
		close(fd);
		return dwcp_err_set(err, -EBADMSG, "page index %s: not a regular file of at least %u bytes",
				    path, DWCP_FPINDEX_HDR_LEN);
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	rc = m == MAP_FAILED ? -errno : 0;
	close(fd);
	if (rc)
		return dwcp_err_set(err, rc, "mapping page index %s: %s", path, strerror(-rc));
	ix->map = m;
	ix->map_len = (size_t)st.st_size;
	rc = check(ix, m, ix->map_len, err);
	if (rc)
		dwcp_fpindex_close(ix);
	return rc;
}

int dwcp_fpindex_begin(struct dwcp_fpindex_writer *w, const char *path, struct dwcp_err *err)
{
	static const uint8_t blank[DWCP_FPINDEX_HDR_LEN];
	int rc;

	*w = (struct dwcp_fpindex_writer){ .fd = -1 };
	if (snprintf(w->path, sizeof(w->path), "%s", path) >= (int)sizeof(w->path) ||
	    snprintf(w->tmp, sizeof(w->tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(w->tmp))
		return dwcp_err_set(err, -ENAMETOOLONG, "page index path too long: %s", path);
	rc = dwcp_mkdir_parents(path, 0700);
	if (rc)
		return dwcp_err_set(err, rc, "creating the directory of %s: %s (set [stream] index_dir to a writable directory)",
				    path, strerror(-rc));
	w->buf = malloc(WBUF);
	if (!w->buf)
		return dwcp_err_set(err, -ENOMEM, "out of memory");
	w->fd = mkostemp(w->tmp, O_CLOEXEC);
	/* The header goes in last: until then the file is no index. */
	if (w->fd < 0)
		w->tmp[0] = '\0';   /* nothing was created under that name */
	if (w->fd < 0 || write(w->fd, blank, sizeof(blank)) != (ssize_t)sizeof(blank)) {
		rc = -errno;
		dwcp_fpindex_abort(w);
		return dwcp_err_set(err, rc ? rc : -EIO, "creating page index %s: %s (set [stream] index_dir to a writable directory)",
				    path, strerror(rc ? -rc : EIO));
	}
	return 0;
}

static int flush(struct dwcp_fpindex_writer *w)
{
	size_t off = 0;

	while (off < w->fill) {
		ssize_t k = write(w->fd, w->buf + off, w->fill - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		off += (size_t)k;
	}
	w->fill = 0;
	return 0;
}

int dwcp_fpindex_add(struct dwcp_fpindex_writer *w, const uint8_t (*hashes)[DWCP_FPINDEX_ENTRY],
		     const uint32_t *keys, size_t n)
{
	if (!w->buf)
		return -EBADF;
	for (size_t i = 0; i < n; i++) {
		uint32_t key = htole32(keys[i]);

		if (w->fill + DWCP_FPINDEX_ENTRY_V2 > WBUF) {   /* 1 MiB is no multiple of 20 */
			int rc = flush(w);

			if (rc) {
				dwcp_fpindex_abort(w);
				return rc;
			}
		}
		memcpy(w->buf + w->fill, hashes[i], DWCP_FPINDEX_ENTRY);
		memcpy(w->buf + w->fill + DWCP_FPINDEX_ENTRY, &key, sizeof(key));
		w->fill += DWCP_FPINDEX_ENTRY_V2;
	}
	w->n_pages += n;
	return 0;
}

/* The header for @p n_pages entries (the writer may hold more: they are
 * cut off) of a @p file_size-byte file, then sync and rename to @p path. */
static int commit_as(struct dwcp_fpindex_writer *w, const char *path, uint64_t n_pages,
		     uint64_t file_size, uint64_t digest, struct dwcp_err *err)
{
	struct dwcp_fpindex_hdr h = {
		.magic = htole64(DWCP_FPINDEX_MAGIC), .version = htole32(DWCP_FPINDEX_VERSION),
		.page_size = htole32(DWCP_DIGEST_PAGE), .file_size = htole64(file_size),
		.digest = htole64(digest), .n_pages = htole64(n_pages),
	};
	const char *step = "writing";
	int rc;

	rc = flush(w);
	if (!rc && n_pages < w->n_pages &&
	    ftruncate(w->fd, (off_t)(DWCP_FPINDEX_HDR_LEN + n_pages * DWCP_FPINDEX_ENTRY_V2)))
		rc = -errno;
	if (!rc && pwrite(w->fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		rc = errno ? -errno : -EIO;
	if (!rc && fsync(w->fd)) {
		step = "syncing";
		rc = -errno;
	}
	if (!rc && rename(w->tmp, path)) {
		step = "renaming into place";
		rc = -errno;
	}
	if (!rc) {
		w->tmp[0] = '\0';
		step = "syncing the directory of";
		rc = dwcp_sync_parent(path);
	}
	if (rc)
		dwcp_err_set(err, rc, "page index %s: %s: %s", path, step, strerror(-rc));
	dwcp_fpindex_abort(w);
	return rc;
}

int dwcp_fpindex_commit(struct dwcp_fpindex_writer *w, uint64_t file_size, uint64_t digest,
			struct dwcp_err *err)
{
	int rc;

	if (!w->buf)
		return dwcp_err_set(err, -EBADF, "page index %s: writer not open", w->path);
	if (w->n_pages != (file_size + DWCP_DIGEST_PAGE - 1) / DWCP_DIGEST_PAGE || !digest) {
		rc = dwcp_err_set(err, -EINVAL, "page index %s: %llu pages for a %llu-byte file", w->path,
				  (unsigned long long)w->n_pages, (unsigned long long)file_size);
		dwcp_fpindex_abort(w);
		return rc;
	}
	return commit_as(w, w->path, w->n_pages, file_size, digest, err);
}

int dwcp_fpindex_commit_prefix(struct dwcp_fpindex_writer *w, const char *path, uint64_t n_pages,
			       uint64_t digest, struct dwcp_err *err)
{
	int rc;

	if (!w->buf)
		return dwcp_err_set(err, -EBADF, "page index %s: writer not open", w->path);
	if (n_pages > w->n_pages || !digest) {
		rc = dwcp_err_set(err, -EINVAL, "page index %s: a prefix of %llu pages of %llu", path,
				  (unsigned long long)n_pages, (unsigned long long)w->n_pages);
		dwcp_fpindex_abort(w);
		return rc;
	}
	return commit_as(w, path, n_pages, n_pages * DWCP_DIGEST_PAGE, digest, err);
}

/* Entries [from, to) of @p w (flushed) into @p fd at the same places. */
static int copy_entries(struct dwcp_fpindex_writer *w, int fd, uint64_t from, uint64_t to)
{
	const size_t per = WBUF / DWCP_FPINDEX_ENTRY_V2;
	int rc = flush(w);   /* empties buf: it is the scratch below */

	while (!rc && from < to) {
		const size_t n = (size_t)(to - from < per ? to - from : per) * DWCP_FPINDEX_ENTRY_V2;
		const off_t at = (off_t)(DWCP_FPINDEX_HDR_LEN + from * DWCP_FPINDEX_ENTRY_V2);

		if (pread(w->fd, w->buf, n, at) != (ssize_t)n || pwrite(fd, w->buf, n, at) != (ssize_t)n)
			rc = errno ? -errno : -EIO;
		from += n / DWCP_FPINDEX_ENTRY_V2;
	}
	return rc;
}

int dwcp_fpindex_checkpoint(struct dwcp_fpindex_writer *w, struct dwcp_fpindex_cp *cp,
			    const char *path, uint64_t n_pages, uint64_t digest, struct dwcp_err *err)
{
	struct dwcp_fpindex_hdr h = {
		.magic = htole64(DWCP_FPINDEX_MAGIC), .version = htole32(DWCP_FPINDEX_VERSION),
		.page_size = htole32(DWCP_DIGEST_PAGE), .file_size = htole64(n_pages * DWCP_DIGEST_PAGE),
		.digest = htole64(digest), .n_pages = htole64(n_pages),
	};
	char tmp[PATH_MAX + 16];
	const bool first = cp->fd < 0;
	int rc;

	if (cp->failed || !w->buf || n_pages > w->n_pages || n_pages < cp->n_pages || !digest)
		return dwcp_err_set(err, -EINVAL, "page index %s: no checkpoint of %llu pages", path,
				    (unsigned long long)n_pages);
	if (first) {
		snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
		cp->fd = mkostemp(tmp, O_CLOEXEC);
		cp->n_pages = 0;
		if (cp->fd < 0) {
			cp->failed = true;
			return dwcp_err_set(err, -errno, "page index %s: %s", path, strerror(errno));
		}
	}
	/* Not synced here: a sync stalled the send's one thread for 2-53 ms
	 * each (1 GiB on this VM: ~0.1 s in all); the caller syncs it in a
	 * thread of its own (after a crash before that, a header ahead of
	 * the entries makes the length disagree: no index). */
	rc = copy_entries(w, cp->fd, cp->n_pages, n_pages);
	if (!rc && pwrite(cp->fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		rc = errno ? -errno : -EIO;
	if (!rc && first && rename(tmp, path))
		rc = -errno;
	if (rc) {
		if (first)
			unlink(tmp);
		dwcp_fpindex_cp_close(cp);
		cp->failed = true;
		return dwcp_err_set(err, rc, "page index %s: checkpoint: %s", path, strerror(-rc));
	}
	cp->n_pages = n_pages;
	return 0;
}

void dwcp_fpindex_cp_close(struct dwcp_fpindex_cp *cp)
{
	if (cp->fd >= 0)
		close(cp->fd);
	cp->fd = -1;
}

void dwcp_fpindex_abort(struct dwcp_fpindex_writer *w)
{
	if (!w->buf)   /* never begun (zeroed), or closed already */
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp[0])
		unlink(w->tmp);
	free(w->buf);
	w->buf = NULL;
	w->tmp[0] = '\0';
	w->fd = -1;
}
