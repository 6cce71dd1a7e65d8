/* The HDE delta codec (format in delta.h) and the choice of scan code path.
 *
 * The encoder alternates two scans: the equal run, the vector scan of the
 * chosen code path (on an unchanged or slightly changed block nearly all
 * bytes go through it), and the changed run, a word-at-a-time scan that
 * stops at DWCP_DELTA_MIN_GAP equal bytes; every changed byte is output
 * anyway, so that scan is never the bottleneck. Every write is checked
 * against the capacity, so a wrong bound can cost -ENOSPC but never an
 * overrun.
 *
 * The decoder reads the stream twice: once to check all of it (header,
 * every varint, that the records cover exactly the block and that nothing
 * follows), and once to apply it. The second pass uses the same parser and
 * checks, so the check pass is what makes "on error, out is untouched" true
 * even when out is the old block itself.
 */
#include <errno.h>

#include "common/ops/delta.h"
#include "common/ops/delta_pvt.h"

#define VARINT_MAX 10u   /* 64 bits in 7-bit groups */

/* ---- varints -------------------------------------------------------- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

struct reader {
	const uint8_t *p;
	size_t len, pos;
};

/* Minimal LEB128 of at most 64 bits; anything else is -EBADMSG. */
static int get_varint(struct reader *r, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned shift = 0; shift < 7 * VARINT_MAX; shift += 7) {
		uint8_t b;

		if (r->pos >= r->len)
			return -EBADMSG;             /* truncated */
		b = r->p[r->pos++];
		if (shift == 63 && b > 1)
			return -EBADMSG;             /* more than 64 bits */
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			if (b == 0 && shift != 0)
				return -EBADMSG;     /* not minimal */
			*v = x;
			return 0;
		}
	}
	return -EBADMSG;
}

/* ---- encoder -------------------------------------------------------- */

/* Exact test for "some byte of v is zero" (the classic haszero trick). */
static inline bool has_zero_byte(uint64_t v)
{
	return ((v - 0x0101010101010101ull) & ~v & 0x8080808080808080ull) != 0;
}

/*
 * Length of the changed run at the start of a/b (a[0] != b[0]): it ends at
 * the first DWCP_DELTA_MIN_GAP equal bytes, or where equal bytes reach the
 * end of the block (those become a record of their own). Words with no
 * equal byte are skipped whole.
 */
static size_t changed_len(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i = 0, eq = 0;   /* eq: equal bytes just before i */

	while (i < n) {
		if (eq == 0 && i + 8 <= n &&
		    !has_zero_byte(dwcp_delta_load64(a + i) ^ dwcp_delta_load64(b + i))) {
			i += 8;
			continue;
		}
		if (a[i] != b[i])
			eq = 0;
		else if (++eq == DWCP_DELTA_MIN_GAP)
			return i + 1 - DWCP_DELTA_MIN_GAP;
		i++;
	}
	return n - eq;
}

struct writer {
	uint8_t *p;
	size_t cap, pos;
};

static int emit_varint(struct writer *w, uint64_t v)
{
	uint8_t tmp[VARINT_MAX];
	size_t n = put_varint(tmp, v);

	if (w->cap - w->pos < n)
		return -ENOSPC;
	memcpy(w->p + w->pos, tmp, n);
	w->pos += n;
	return 0;
}

static int emit_record(const struct dwcp_delta_impl *impl, struct writer *w, size_t z,
		       size_t l, const uint8_t *a, const uint8_t *b)
{
	if (emit_varint(w, z) < 0 || emit_varint(w, l) < 0 || w->cap - w->pos < l)
		return -ENOSPC;
	impl->xor_buf(w->p + w->pos, a, b, l);
	w->pos += l;
	return 0;
}

ssize_t dwcp_delta_encode(const struct dwcp_delta_impl *impl, const void *old_blk,
			  const void *new_blk, size_t len, void *out, size_t cap)
{
	const uint8_t *a = old_blk, *b = new_blk;
	struct writer w = { out, cap, 0 };
	size_t pos = 0;

	if (cap < 1)
		return -ENOSPC;
	w.p[w.pos++] = DWCP_DELTA_VERSION;
	if (emit_varint(&w, len) < 0)
		return -ENOSPC;
	while (pos < len) {
		size_t z = impl->same_len(a + pos, b + pos, len - pos);
		size_t l = changed_len(a + pos + z, b + pos + z, len - pos - z);

		if (emit_record(impl, &w, z, l, a + pos + z, b + pos + z) < 0)
			return -ENOSPC;
		pos += z + l;
	}
	return (ssize_t)w.pos;
}

/* ---- decoder -------------------------------------------------------- */

/* Version and block length; the length must be the caller's @p len. */
static int read_header(struct reader *r, size_t len)
{
	uint64_t n;

	if (r->len < 1 || r->p[0] != DWCP_DELTA_VERSION)
		return -EBADMSG;
	r->pos = 1;
	if (get_varint(r, &n) < 0 || n != len)
		return -EBADMSG;
	return 0;
}

/* One record within the @p left bytes of the block not yet covered. */
static int read_record(struct reader *r, size_t left, size_t *z, size_t *l,
		       const uint8_t **lit)
{
	uint64_t vz, vl;

	if (get_varint(r, &vz) < 0 || get_varint(r, &vl) < 0)
		return -EBADMSG;
	if (vz > left || vl > left - vz || vz + vl == 0)
		return -EBADMSG;
	if (vl > r->len - r->pos)
		return -EBADMSG;   /* literal bytes truncated */
	*z = (size_t)vz;
	*l = (size_t)vl;
	*lit = r->p + r->pos;
	r->pos += *l;
	return 0;
}

/* Walk the whole stream; with @p impl non-NULL also write the block. */
static int walk(const struct dwcp_delta_impl *impl, const uint8_t *old, size_t len,
		const uint8_t *delta, size_t delta_len, uint8_t *out)
{
	struct reader r = { delta, delta_len, 0 };
	size_t pos = 0, z, l;
	const uint8_t *lit;

	if (read_header(&r, len) < 0)
		return -EBADMSG;
	while (pos < len) {
		if (read_record(&r, len - pos, &z, &l, &lit) < 0)
			return -EBADMSG;
		if (impl) {
			if (out != old)
				memcpy(out + pos, old + pos, z);
			impl->xor_buf(out + pos + z, old + pos + z, lit, l);
		}
		pos += z + l;
	}
	return r.pos == r.len ? 0 : -EBADMSG;   /* nothing may follow */
}

int dwcp_delta_decode(const struct dwcp_delta_impl *impl, const void *old_blk, size_t len,
		      const void *delta, size_t delta_len, void *out)
{
	if (walk(NULL, old_blk, len, delta, delta_len, out) < 0)
		return -EBADMSG;
	return walk(impl, old_blk, len, delta, delta_len, out);
}

/* ---- code path choice ----------------------------------------------- */

int dwcp_delta_select_variant(struct dwcp_delta_impl *impl, enum dwcp_delta_variant v,
			      const struct dwcp_cpu_features *cpu)
{
	switch (v) {
	case DWCP_DELTA_SCALAR:
		*impl = (struct dwcp_delta_impl){ dwcp_delta_is_zero_scalar, dwcp_delta_xor_scalar,
						  dwcp_delta_same_len_scalar, "scalar" };
		return 0;
	case DWCP_DELTA_SSE42:
		if (!cpu->sse42)
			return -ENOTSUP;
		*impl = (struct dwcp_delta_impl){ dwcp_delta_is_zero_sse42, dwcp_delta_xor_sse42,
						  dwcp_delta_same_len_sse42, "sse4.2" };
		return 0;
	case DWCP_DELTA_AVX2:
		if (!cpu->avx2)
			return -ENOTSUP;
		*impl = (struct dwcp_delta_impl){ dwcp_delta_is_zero_avx2, dwcp_delta_xor_avx2,
						  dwcp_delta_same_len_avx2, "avx2" };
		return 0;
	}
	return -EINVAL;
}

void dwcp_delta_select(struct dwcp_delta_impl *impl, const struct dwcp_cpu_features *cpu)
{
	if (dwcp_delta_select_variant(impl, DWCP_DELTA_AVX2, cpu) == 0)
		return;
	if (dwcp_delta_select_variant(impl, DWCP_DELTA_SSE42, cpu) == 0)
		return;
	dwcp_delta_select_variant(impl, DWCP_DELTA_SCALAR, cpu);
}
