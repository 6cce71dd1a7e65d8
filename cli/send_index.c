/* `dwcp send`'s page index (send_index.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "send_index.h"

#define PROG "dwcp send"

const char *send_index_dir(const struct dwcp_node_conf *nc)
{
	return nc->index_dir[0] ? nc->index_dir : DWCP_CFG_INDEX_DIR;
}

void send_index_open(struct send_index *x, const struct dwcp_node_conf *nc, const char *instance,
		     const char *stream, const char *peer, bool keep, bool quiet)
{
	struct dwcp_err err = { 0 };
	int rc;

	*x = (struct send_index){ .keep = keep };
	x->w.fd = -1;
	if (dwcp_fpindex_path(x->path, sizeof(x->path), send_index_dir(nc), instance, stream, peer)) {
		if (!quiet)
			fprintf(stderr, PROG ": [stream] index_dir %s too long for a page index: every page travels\n",
				send_index_dir(nc));
		x->keep = false;
		return;
	}
	rc = dwcp_fpindex_open(&x->old, x->path, &err);
	if (rc && rc != -ENOENT && !quiet)
		fprintf(stderr, PROG ": %s; every page travels this time\n", err.msg);
	if (rc)
		x->keep = false;
	rc = dwcp_fpindex_begin(&x->w, x->path, &err);
	if (rc && !quiet)
		fprintf(stderr, PROG ": %s: the next send of this stream will move every page again\n",
			err.msg);
	x->writing = rc == 0;
}

uint64_t send_index_pages(struct send_index *x, uint64_t offset, unsigned n,
			  const uint8_t (*hashes)[DWCP_DIGEST_PAGE_HASH])
{
	uint64_t mask;

	if (x->writing && dwcp_fpindex_add(&x->w, hashes, n))
		x->writing = false;   /* the writer aborted itself; reported at commit */
	mask = send_index_kept(x, offset, n, hashes);
	x->kept_pages += (unsigned)__builtin_popcountll(mask);
	return mask;
}

uint64_t send_index_kept(const struct send_index *x, uint64_t offset, unsigned n,
			 const uint8_t (*hashes)[DWCP_DIGEST_PAGE_HASH])
{
	const uint64_t first = offset / DWCP_DIGEST_PAGE;
	uint64_t mask = 0;

	if (!x->keep || offset % DWCP_DIGEST_PAGE || n > 64)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *old = dwcp_fpindex_page(&x->old, first + i);

		if (old && !memcmp(old, hashes[i], DWCP_DIGEST_PAGE_HASH))
			mask |= 1ull << i;
	}
	return mask;
}

int send_index_commit(struct send_index *x, uint64_t size, uint64_t digest, bool quiet)
{
	struct dwcp_err err = { 0 };
	int rc;

	if (!x->writing) {
		if (!quiet)
			fprintf(stderr, PROG ": the page index %s was not written: the next send of this stream will move every page again\n",
				x->path);
		return -EIO;
	}
	x->writing = false;
	rc = dwcp_fpindex_commit(&x->w, size, digest, &err);
	if (rc && !quiet)
		fprintf(stderr, PROG ": %s: the next send of this stream will move every page again\n",
			err.msg);
	return rc;
}

void send_index_close(struct send_index *x)
{
	dwcp_fpindex_close(&x->old);
	dwcp_fpindex_abort(&x->w);
	x->writing = false;
}
