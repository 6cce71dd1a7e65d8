/* dwcp_chunk_check (ipc/chunk.c) on kept chunks (DWCP_CHUNK_F_KEPT):
 * exactly the shapes chunk.h documents pass, nothing looser. */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ipc/chunk.h"

#define MAXD 262144u

static struct dwcp_chunk_hdr kept(uint32_t orig_len, uint64_t offset)
{
	struct dwcp_chunk_hdr c;

	dwcp_chunk_init(&c, 1, 2, offset, orig_len);
	c.flags = DWCP_CHUNK_F_KEPT;
	c.body_len = c.inner_len = orig_len + DWCP_CHUNK_KEPT_TRAILER;
	return c;
}

static int check(const struct dwcp_chunk_hdr *c)
{
	struct dwcp_err err = { 0 };

	return dwcp_chunk_check(c, DWCP_CHUNK_HDR_LEN + c->body_len, MAXD + 4096, &err);
}

Test(chunk_kept, documented_shapes_pass)
{
	struct dwcp_chunk_hdr c = kept(65536, 65536 * 3);

	cr_assert_eq(check(&c), 0, "data + trailer");
	c.flags |= DWCP_CHUNK_F_LAST;
	c.digest = 99;
	cr_assert_eq(check(&c), 0, "the last chunk may be kept");
	c = kept(5000, 4096);
	cr_assert_eq(check(&c), 0, "a short last page");
	/* After DELTA: an HDE body of any length, compressed and sealed too. */
	c.flags |= DWCP_CHUNK_F_DELTA | DWCP_CHUNK_F_SEALED;
	c.body_len = 40;
	c.inner_len = 50;
	c.codec = 1;
	c.base_hash = 1234;
	cr_assert_eq(check(&c), 0, "HDE version 2 body");
}

Test(chunk_kept, anything_looser_is_refused)
{
	struct dwcp_chunk_hdr c;

	c = kept(65536, 65536);
	c.body_len = c.inner_len = 65536;
	cr_assert_eq(check(&c), -EBADMSG, "no trailer");
	c = kept(65536, 65536);
	c.body_len = c.inner_len = 65536 + 17;
	cr_assert_eq(check(&c), -EBADMSG, "trailer too long");
	c = kept(65536, 65536);
	c.inner_len = 3;
	cr_assert_eq(check(&c), -EBADMSG, "inner length differs");
	c = kept(65536, 65536);
	c.codec = 1;
	cr_assert_eq(check(&c), -EBADMSG, "compressed but no delta");
	c = kept(65536, 65536);
	c.flags |= DWCP_CHUNK_F_SEALED;
	cr_assert_eq(check(&c), -EBADMSG, "sealed but no delta");
	c = kept(65536, 100);
	cr_assert_eq(check(&c), -EBADMSG, "misaligned offset");
	c = kept(0, 0);
	cr_assert_eq(check(&c), -EBADMSG, "no data");
	c = kept(MAXD + 4096, 0);
	cr_assert_eq(check(&c), -EBADMSG, "65 pages: beyond a 64-bit mask");
	c = kept(4096, 0);
	c.flags |= DWCP_CHUNK_F_ABORT;
	cr_assert_eq(check(&c), -EBADMSG, "an abort keeps nothing");
	c = kept(4096, 0);
	c.flags = DWCP_CHUNK_F_KEPT | 0x40;
	cr_assert_eq(check(&c), -EBADMSG, "unknown flag");
}
