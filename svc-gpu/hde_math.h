/* HDE page deltas (common/ops/hde.h, version 1 bodies; the XOR streams of
 * common/ops/delta.h), encode and decode, shared by the GPU kernel and the
 * host as lz4_math.h is: one source compiled as CUDA device code and as C,
 * so a host test holds it to svc-mem's CPU codec byte for byte.
 *
 * One thread does one chunk, page after page, as the LZ4 kernel does: a
 * GPU gets its parallelism from the hundreds of chunks in a batch. The
 * encoder makes the CPU encoder's choices exactly (ZERO for a page of
 * zeros; SAME where the base is equal and that is shorter than RAW; XOR
 * where its delta stream is smaller than the page; else RAW), so a body
 * made here and one made by svc-mem are the same bytes: a receiver cannot
 * tell them apart, and neither can the delta cache's statistics. Which
 * base a page has (the delta cache lookup by hash) stays the host's:
 * each page comes with its base's bytes, length and hash, or none.
 *
 * The decoder reads untrusted input: version, kinds, every length and
 * every varint are checked against both buffers, a SAME or XOR record
 * must name the base it is given (hash and length), and the body must end
 * exactly after the last record. Kept and moved pages (versions 2 and 3)
 * are the CPU's: those chunks carry the receiver's previous file, which
 * only `dwcp recv` can read.
 */
#ifndef DWCP_SVC_GPU_HDE_MATH_H
#define DWCP_SVC_GPU_HDE_MATH_H

#include <stddef.h>
#include <stdint.h>

#include "svc-gpu/gpu_hd.h"

/* The wire format's numbers (common/ops/hde.h, common/ops/delta.h; the
 * host test asserts they are the same). */
#define DWCP_GPU_HDE_VERSION   1u
#define DWCP_GPU_HDE_PAGE      4096u
#define DWCP_GPU_HDE_MAX_PAGES 64u
#define DWCP_GPU_HDE_ZERO      1u
#define DWCP_GPU_HDE_SAME      2u
#define DWCP_GPU_HDE_XOR       3u
#define DWCP_GPU_HDE_RAW       4u
#define DWCP_GPU_HDE_SAME_LEN  9u      /* kind + base */
#define DWCP_GPU_HDE_XOR_HDR   11u     /* kind + base + dlen */
#define DWCP_GPU_DELTA_VERSION 1u
#define DWCP_GPU_DELTA_MIN_GAP 4u
#define DWCP_GPU_VARINT_MAX    10u

/* A page's base: the cached version (data NULL: none), its length and
 * its XXH3-64, as struct dwcp_hde_base. */
struct dwcp_gpu_hde_base {
	const uint8_t *data;
	uint32_t len;
	uint64_t hash;
};

DWCP_GPU_HD uint32_t dwcp_gpu_hde_page_len(uint32_t len, uint32_t i)
{
	uint32_t off = i * DWCP_GPU_HDE_PAGE;

	return len - off < DWCP_GPU_HDE_PAGE ? len - off : DWCP_GPU_HDE_PAGE;
}

DWCP_GPU_HD int dwcp_gpu_hde_is_zero(const uint8_t *p, uint32_t n)
{
	uint8_t acc = 0;

	for (uint32_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

DWCP_GPU_HD int dwcp_gpu_hde_equal(const uint8_t *a, const uint8_t *b, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

DWCP_GPU_HD void dwcp_gpu_hde_put64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

DWCP_GPU_HD uint64_t dwcp_gpu_hde_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* ---- the XOR delta stream ------------------------------------------- */

/* LEB128 of @p v into @p p (room for DWCP_GPU_VARINT_MAX). @return bytes. */
DWCP_GPU_HD uint32_t dwcp_gpu_delta_put_varint(uint8_t *p, uint64_t v)
{
	uint32_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* A minimal varint at *@p pos, before @p end. @return 0, or -1 (cut,
 * too long, or a trailing zero group). */
DWCP_GPU_HD int dwcp_gpu_delta_get_varint(const uint8_t *p, uint64_t end, uint64_t *pos, uint64_t *v)
{
	uint64_t x = 0;

	for (uint32_t i = 0; i < DWCP_GPU_VARINT_MAX && *pos < end; i++) {
		uint8_t c = p[(*pos)++];

		if (i == DWCP_GPU_VARINT_MAX - 1 && c > 1)
			return -1;
		x |= (uint64_t)(c & 0x7f) << (7 * i);
		if (!(c & 0x80)) {
			if (i > 0 && c == 0)
				return -1;
			*v = x;
			return 0;
		}
	}
	return -1;
}

/* Equal bytes at the start of @p a and @p b (at most @p n). */
DWCP_GPU_HD uint64_t dwcp_gpu_delta_same(const uint8_t *a, const uint8_t *b, uint64_t n)
{
	uint64_t i = 0;

	while (i < n && a[i] == b[i])
		i++;
	return i;
}

/* The changed run at the start of @p a / @p b (a[0] != b[0]): it ends at
 * the first DWCP_GPU_DELTA_MIN_GAP equal bytes, or where equal bytes
 * reach the end (they become a record of their own), as delta.c's. */
DWCP_GPU_HD uint64_t dwcp_gpu_delta_changed(const uint8_t *a, const uint8_t *b, uint64_t n)
{
	uint64_t i = 0, eq = 0;

	for (; i < n; i++) {
		if (a[i] != b[i])
			eq = 0;
		else if (++eq == DWCP_GPU_DELTA_MIN_GAP)
			return i + 1 - DWCP_GPU_DELTA_MIN_GAP;
	}
	return n - eq;
}

/* The delta stream that turns @p old into @p cur (@p len bytes each) into
 * @p out. @return its length, or -1 when it needs more than @p cap. */
DWCP_GPU_HD int64_t dwcp_gpu_delta_encode(const uint8_t *old, const uint8_t *cur, uint64_t len,
					  uint8_t *out, uint64_t cap)
{
	uint8_t v[DWCP_GPU_VARINT_MAX];
	uint64_t w = 0, pos = 0;
	uint32_t k;

	if (cap < 1)
		return -1;
	out[w++] = DWCP_GPU_DELTA_VERSION;
	k = dwcp_gpu_delta_put_varint(v, len);
	if (cap - w < k)
		return -1;
	for (uint32_t i = 0; i < k; i++)
		out[w++] = v[i];
	while (pos < len) {
		uint64_t z = dwcp_gpu_delta_same(old + pos, cur + pos, len - pos);
		uint64_t l = dwcp_gpu_delta_changed(old + pos + z, cur + pos + z, len - pos - z);

		k = dwcp_gpu_delta_put_varint(v, z);
		if (cap - w < k)
			return -1;
		for (uint32_t i = 0; i < k; i++)
			out[w++] = v[i];
		k = dwcp_gpu_delta_put_varint(v, l);
		if (cap - w < k || cap - w - k < l)
			return -1;
		for (uint32_t i = 0; i < k; i++)
			out[w++] = v[i];
		for (uint64_t i = 0; i < l; i++)
			out[w++] = old[pos + z + i] ^ cur[pos + z + i];
		pos += z + l;
	}
	return (int64_t)w;
}

/* Apply the delta stream @p d (@p n bytes) to @p old, @p len bytes, into
 * @p out. @return 0, or -1 for a stream that is not exactly one for a
 * block of @p len bytes. */
DWCP_GPU_HD int dwcp_gpu_delta_apply(const uint8_t *old, const uint8_t *d, uint64_t n, uint64_t len,
				     uint8_t *out)
{
	uint64_t pos = 0, at = 0, v;

	if (n < 1 || d[pos++] != DWCP_GPU_DELTA_VERSION)
		return -1;
	if (dwcp_gpu_delta_get_varint(d, n, &pos, &v) || v != len)
		return -1;
	while (at < len) {
		uint64_t z, l;

		if (dwcp_gpu_delta_get_varint(d, n, &pos, &z) ||
		    dwcp_gpu_delta_get_varint(d, n, &pos, &l) || z + l < 1 || z > len - at ||
		    l > len - at - z || l > n - pos)
			return -1;
		for (uint64_t i = 0; i < z; i++, at++)
			out[at] = old[at];
		for (uint64_t i = 0; i < l; i++, at++)
			out[at] = old[at] ^ d[pos++];
	}
	return pos == n ? 0 : -1;
}

/* ---- HDE bodies --------------------------------------------------------- */

/* One page's record at @p out (room @p cap), as hde.c's encode_page.
 * @return its length, or -1 when it does not fit. */
DWCP_GPU_HD int64_t dwcp_gpu_hde_page(const uint8_t *page, uint32_t len,
				      const struct dwcp_gpu_hde_base *b, uint8_t *out, uint64_t cap)
{
	int usable = b && b->data && b->len == len;

	if (dwcp_gpu_hde_is_zero(page, len)) {
		if (cap < 1)
			return -1;
		out[0] = DWCP_GPU_HDE_ZERO;
		return 1;
	}
	/* SAME only where it is shorter than RAW (a last page of 8 bytes or
	 * fewer travels RAW). */
	if (usable && 1u + len > DWCP_GPU_HDE_SAME_LEN && dwcp_gpu_hde_equal(b->data, page, len)) {
		if (cap < DWCP_GPU_HDE_SAME_LEN)
			return -1;
		out[0] = DWCP_GPU_HDE_SAME;
		dwcp_gpu_hde_put64(out + 1, b->hash);
		return DWCP_GPU_HDE_SAME_LEN;
	}
	/* XOR where its stream fits in len - 11 bytes: smaller than RAW. */
	if (usable && len > DWCP_GPU_HDE_XOR_HDR && cap > DWCP_GPU_HDE_XOR_HDR) {
		uint64_t room = cap - DWCP_GPU_HDE_XOR_HDR, dcap = len - DWCP_GPU_HDE_XOR_HDR;
		int64_t d = dwcp_gpu_delta_encode(b->data, page, len, out + DWCP_GPU_HDE_XOR_HDR,
						  dcap < room ? dcap : room);

		if (d > 0) {
			out[0] = DWCP_GPU_HDE_XOR;
			dwcp_gpu_hde_put64(out + 1, b->hash);
			out[9] = (uint8_t)d;
			out[10] = (uint8_t)((uint64_t)d >> 8);
			return DWCP_GPU_HDE_XOR_HDR + d;
		}
	}
	if (cap < 1u + len)
		return -1;
	out[0] = DWCP_GPU_HDE_RAW;
	for (uint32_t i = 0; i < len; i++)
		out[1 + i] = page[i];
	return 1 + (int64_t)len;
}

/* The version 1 body of @p len bytes of @p data (at most 64 pages), @p
 * bases one per page (or NULL), into @p out (room @p cap; 1 + pages + len
 * always suffices). @return the body's length, or -1 (no room, too long). */
DWCP_GPU_HD int64_t dwcp_gpu_hde_encode(const uint8_t *data, uint32_t len,
					const struct dwcp_gpu_hde_base *bases, uint8_t *out,
					uint64_t cap)
{
	uint32_t pages = (len + DWCP_GPU_HDE_PAGE - 1) / DWCP_GPU_HDE_PAGE;
	uint64_t w = 0;

	if (pages > DWCP_GPU_HDE_MAX_PAGES || cap < 1)
		return -1;
	out[w++] = DWCP_GPU_HDE_VERSION;
	for (uint32_t i = 0; i < pages; i++) {
		int64_t r = dwcp_gpu_hde_page(data + (uint64_t)i * DWCP_GPU_HDE_PAGE,
					      dwcp_gpu_hde_page_len(len, i), bases ? &bases[i] : NULL,
					      out + w, cap - w);

		if (r < 0)
			return -1;
		w += (uint64_t)r;
	}
	return (int64_t)w;
}

/* Whether @p b is the base a SAME or XOR record names for a page of @p len bytes. */
DWCP_GPU_HD int dwcp_gpu_hde_base_ok(const struct dwcp_gpu_hde_base *b, uint64_t hash, uint32_t len)
{
	return b && b->data && b->len == len && b->hash == hash;
}

/* Decode the version 1 body @p body (@p n bytes) of a chunk of @p len
 * bytes into @p out, @p bases one per page (or NULL). @return 0; -1 for
 * a body that is not exactly one for @p len bytes or names a base it was
 * not given (out is then partly written: the caller drops it). */
DWCP_GPU_HD int dwcp_gpu_hde_decode(const uint8_t *body, uint64_t n, uint32_t len,
				    const struct dwcp_gpu_hde_base *bases, uint8_t *out)
{
	uint32_t pages = (len + DWCP_GPU_HDE_PAGE - 1) / DWCP_GPU_HDE_PAGE;
	uint64_t pos = 0;

	if (pages > DWCP_GPU_HDE_MAX_PAGES || n < 1 || body[pos++] != DWCP_GPU_HDE_VERSION)
		return -1;
	for (uint32_t i = 0; i < pages; i++) {
		const uint32_t plen = dwcp_gpu_hde_page_len(len, i);
		const struct dwcp_gpu_hde_base *b = bases ? &bases[i] : NULL;
		uint8_t *dst = out + (uint64_t)i * DWCP_GPU_HDE_PAGE;
		uint64_t hash, dlen;

		if (pos >= n)
			return -1;
		switch (body[pos++]) {
		case DWCP_GPU_HDE_ZERO:
			for (uint32_t k = 0; k < plen; k++)
				dst[k] = 0;
			break;
		case DWCP_GPU_HDE_SAME:
			if (n - pos < 8)
				return -1;
			hash = dwcp_gpu_hde_get64(body + pos);
			pos += 8;
			if (!dwcp_gpu_hde_base_ok(b, hash, plen))
				return -1;
			for (uint32_t k = 0; k < plen; k++)
				dst[k] = b->data[k];
			break;
		case DWCP_GPU_HDE_XOR:
			if (n - pos < 10)
				return -1;
			hash = dwcp_gpu_hde_get64(body + pos);
			dlen = (uint64_t)body[pos + 8] | (uint64_t)body[pos + 9] << 8;
			pos += 10;
			if (!dwcp_gpu_hde_base_ok(b, hash, plen) || dlen < 1 || dlen >= plen ||
			    dlen > n - pos || dwcp_gpu_delta_apply(b->data, body + pos, dlen, plen, dst))
				return -1;
			pos += dlen;
			break;
		case DWCP_GPU_HDE_RAW:
			if (n - pos < plen)
				return -1;
			for (uint32_t k = 0; k < plen; k++)
				dst[k] = body[pos + k];
			pos += plen;
			break;
		default:
			return -1;
		}
	}
	return pos == n ? 0 : -1;
}

#endif
