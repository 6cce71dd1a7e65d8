/* Chunk header check tests (ipc/chunk.h dwcp_chunk_check): the lengths a
 * receiver acts on. After every step is undone `dwcp recv` writes orig_len
 * bytes from the body, so a chunk whose declared lengths disagree with
 * what it carries must be refused before any step runs; otherwise the
 * receiver writes whatever its buffer held before (another stream's data).
 * The headers the real steps leave behind (read, delta, compress, seal)
 * must still pass. The fuzz target tests/fuzz/chunk_fuzz.c checks the
 * same rules on arbitrary headers; its first crash is
 * tests/fuzz/regress/chunk/inner-len-not-orig-len. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ipc/chunk.h"

#define BODY 512u
#define MAX  65536u

static union {
	struct dwcp_chunk_hdr h;
	uint8_t bytes[DWCP_CHUNK_HDR_LEN + BODY];
} buf;

static struct dwcp_chunk_hdr *plain(uint32_t body)
{
	dwcp_chunk_init(&buf.h, 7, 1, 4096, body);
	memset(dwcp_chunk_body(&buf.h), 'x', body);
	return &buf.h;
}

static int check(const struct dwcp_chunk_hdr *c, struct dwcp_err *err)
{
	return dwcp_chunk_check(c, DWCP_CHUNK_HDR_LEN + c->body_len, MAX, err);
}

Test(chunk_check, headers_the_steps_write_pass)
{
	struct dwcp_err err = { 0 };
	struct dwcp_chunk_hdr *c = plain(BODY);

	cr_assert_eq(check(c, &err), 0, "read from file: %s", err.msg);
	c->flags = DWCP_CHUNK_F_SEALED | DWCP_CHUNK_F_LAST;
	cr_assert_eq(check(c, &err), 0, "sealed: %s", err.msg);
	/* compressed (not a delta): the body is smaller, inner_len is the data */
	c->codec = 1;
	c->orig_len = c->inner_len = 8192;
	cr_assert_eq(check(c, &err), 0, "lz4: %s", err.msg);
	/* a delta, then compressed: inner_len is the HDE body, orig_len the data */
	c->flags |= DWCP_CHUNK_F_DELTA;
	c->base_hash = 42;
	c->inner_len = 700;
	cr_assert_eq(check(c, &err), 0, "delta + zstd: %s", err.msg);
	/* a delta, not compressed: body = inner = the HDE body */
	c->codec = 0;
	c->inner_len = BODY;
	cr_assert_eq(check(c, &err), 0, "delta: %s", err.msg);
}

Test(chunk_check, plain_chunk_declaring_more_data_than_its_body_is_refused)
{
	struct dwcp_err err = { 0 };
	struct dwcp_chunk_hdr *c = plain(BODY);

	c->orig_len = c->inner_len = MAX;   /* would write 64 KiB from a 512-byte body */
	cr_assert_eq(check(c, &err), -EBADMSG);
	cr_assert(strstr(err.msg, "65536 data bytes") != NULL, "message: %s", err.msg);
	c->orig_len = c->inner_len = BODY - 1;
	cr_assert_eq(check(c, &err), -EBADMSG, "a shorter orig_len is refused too");
}

Test(chunk_check, compressed_non_delta_whose_inner_len_is_not_the_data_is_refused)
{
	struct dwcp_err err = { 0 };
	struct dwcp_chunk_hdr *c = plain(BODY);

	c->codec = 2;
	c->orig_len = 8192;
	c->inner_len = 4096;   /* decompresses to 4 KiB, then 8 KiB would be written */
	cr_assert_eq(check(c, &err), -EBADMSG);
	cr_assert(strstr(err.msg, "inner 4096") != NULL, "message: %s", err.msg);
}
