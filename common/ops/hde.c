/* The HDE chunk codec (format in hde.h).
 *
 * The encoder writes each record through one bounds-checked writer, so a
 * wrong capacity costs -ENOSPC, never an overrun. An XOR record is tried
 * only when a base of the page's length exists and the page differs from
 * it, with the delta encoder's capacity set so that the record comes out
 * smaller than a RAW one; -ENOSPC from it just means RAW.
 *
 * The decoder parses the whole body first (every length against what is
 * left, nothing after the last record), so nothing is written for a body
 * that is structurally wrong, and each record's apply reads only the
 * slices the parser vouched for.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "common/ops/hde.h"

void dwcp_hde_codec_init(struct dwcp_hde_codec *x, const struct dwcp_cpu_features *cpu)
{
	dwcp_delta_select(&x->delta, cpu);
	dwcp_xxh3_select(&x->xxh3, cpu);
}

void dwcp_hde_page_hashes(const struct dwcp_hde_codec *x, const void *data, uint32_t len,
			  uint64_t hashes[DWCP_HDE_MAX_PAGES])
{
	const uint8_t *d = data;
	unsigned n = dwcp_hde_pages(len);

	for (unsigned i = 0; i < n && i < DWCP_HDE_MAX_PAGES; i++)
		hashes[i] = x->xxh3.h64(d + (size_t)i * DWCP_HDE_PAGE, dwcp_hde_page_len(len, i), 0);
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

size_t dwcp_hde_kept_len(const struct dwcp_hde_kept *k)
{
	return k->moved ? DWCP_HDE_KEPT_TRAILER + 8u + 8u * (unsigned)__builtin_popcountll(k->moved) :
			  DWCP_HDE_KEPT_TRAILER;
}

void dwcp_hde_kept_put(uint8_t *p, const struct dwcp_hde_kept *k)
{
	if (k->moved) {
		for (unsigned i = 0; i < DWCP_HDE_MAX_PAGES; i++)
			if (k->moved >> i & 1) {
				put_u64(p, k->src[i]);
				p += 8;
			}
		put_u64(p, k->moved);
		p += 8;
	}
	put_u64(p, k->digest);
	put_u64(p + 8, k->mask);
}

int dwcp_hde_kept_get(const uint8_t *p, size_t len, bool moved, unsigned n_pages,
		      struct dwcp_hde_kept *k, size_t *tlen)
{
	const uint64_t pages = n_pages >= 64 ? ~0ull : (1ull << n_pages) - 1;
	const uint8_t *end = p + len, *s;

	memset(k, 0, offsetof(struct dwcp_hde_kept, src));
	if (len < DWCP_HDE_KEPT_TRAILER || n_pages > DWCP_HDE_MAX_PAGES)
		return -EBADMSG;
	k->digest = get_u64(end - 16);
	k->mask = get_u64(end - 8);
	*tlen = DWCP_HDE_KEPT_TRAILER;
	if (moved) {
		if (len < DWCP_HDE_KEPT_TRAILER + 8u)
			return -EBADMSG;
		k->moved = get_u64(end - 24);
		*tlen = dwcp_hde_kept_len(k);
		if (!k->moved || *tlen > len)
			return -EBADMSG;
		s = end - *tlen;
		for (unsigned i = 0; i < DWCP_HDE_MAX_PAGES; i++)
			if (k->moved >> i & 1) {
				k->src[i] = get_u64(s);
				s += 8;
			}
	}
	if (!k->digest || !(k->mask | k->moved) || k->mask & k->moved || (k->mask | k->moved) & ~pages)
		return -EBADMSG;
	return 0;
}

/* ---- encoder ---------------------------------------------------------- */

struct writer {
	uint8_t *p;
	size_t cap, pos;
};

static int put_rec(struct writer *w, uint8_t kind, uint64_t base, bool has_base, const void *tail,
		   size_t tail_len)
{
	size_t need = 1 + (has_base ? 8 : 0) + tail_len;

	if (w->cap - w->pos < need)
		return -ENOSPC;
	w->p[w->pos++] = kind;
	if (has_base) {
		put_u64(w->p + w->pos, base);
		w->pos += 8;
	}
	if (tail_len)
		memcpy(w->p + w->pos, tail, tail_len);
	w->pos += tail_len;
	return 0;
}

/* Try an XOR record of @p page against @p b; 1 when it would not be
 * smaller than RAW (or does not fit: the caller then writes RAW, which
 * fails -ENOSPC itself if there is no room), 0 when written. */
static int put_xor(const struct dwcp_hde_codec *x, struct writer *w, const uint8_t *page,
		   uint32_t len, const struct dwcp_hde_base *b)
{
	size_t room, dcap;
	ssize_t d;

	if (len <= DWCP_HDE_XOR_HDR || w->cap - w->pos <= DWCP_HDE_XOR_HDR)
		return 1;
	/* Smaller than RAW: 11 + dlen < 1 + len, i.e. dlen <= len - 11. */
	room = w->cap - w->pos - DWCP_HDE_XOR_HDR;
	dcap = len - DWCP_HDE_XOR_HDR;
	d = dwcp_delta_encode(&x->delta, b->data, page, len, w->p + w->pos + DWCP_HDE_XOR_HDR,
			      dcap < room ? dcap : room);
	if (d <= 0)
		return 1;
	w->p[w->pos] = DWCP_HDE_XOR;
	put_u64(w->p + w->pos + 1, b->hash);
	w->p[w->pos + 9] = (uint8_t)d;
	w->p[w->pos + 10] = (uint8_t)((size_t)d >> 8);
	w->pos += DWCP_HDE_XOR_HDR + (size_t)d;
	return 0;
}

/* One page's record; *@p kind receives what was written. */
static int encode_page(const struct dwcp_hde_codec *x, struct writer *w, const uint8_t *page,
		       uint32_t len, const struct dwcp_hde_base *b, uint8_t *kind)
{
	bool usable = b && b->data && b->len == len;
	int rc;

	if (x->delta.is_zero(page, len)) {
		*kind = DWCP_HDE_ZERO;
		return put_rec(w, DWCP_HDE_ZERO, 0, false, NULL, 0);
	}
	/* SAME only where it is shorter than RAW: a last page of 8 bytes or
	 * fewer travels RAW, which keeps every body within DWCP_HDE_BOUND and
	 * needs no base at the receiver. */
	if (usable && 1u + len > DWCP_HDE_SAME_LEN && !memcmp(b->data, page, len)) {
		*kind = DWCP_HDE_SAME;
		return put_rec(w, DWCP_HDE_SAME, b->hash, true, NULL, 0);
	}
	if (usable) {
		rc = put_xor(x, w, page, len, b);
		if (rc <= 0) {
			*kind = DWCP_HDE_XOR;
			return rc;
		}
	}
	*kind = DWCP_HDE_RAW;
	return put_rec(w, DWCP_HDE_RAW, 0, false, page, len);
}

/* XXH3 of the bases of the records that have one, as LE bytes; 0 if none. */
static uint64_t bases_hash(const struct dwcp_hde_codec *x, const uint64_t *bases, unsigned n)
{
	uint8_t buf[8 * DWCP_HDE_MAX_PAGES];

	for (unsigned i = 0; i < n; i++)
		put_u64(buf + 8 * i, bases[i]);
	return n ? x->xxh3.h64(buf, 8u * n, 0) : 0;
}

ssize_t dwcp_hde_encode(const struct dwcp_hde_codec *x, const void *data, uint32_t len,
			const struct dwcp_hde_base *bases, void *out, size_t cap,
			struct dwcp_hde_summary *sum)
{
	return dwcp_hde_encode_kept(x, data, len, bases, NULL, out, cap, sum);
}

ssize_t dwcp_hde_encode_kept(const struct dwcp_hde_codec *x, const void *data, uint32_t len,
			     const struct dwcp_hde_base *bases, const struct dwcp_hde_kept *kept,
			     void *out, size_t cap, struct dwcp_hde_summary *sum)
{
	struct writer w = { .p = out, .cap = cap, .pos = 0 };
	struct dwcp_hde_summary s = { .n_pages = dwcp_hde_pages(len) };
	const uint64_t mask = kept ? kept->mask : 0, moved = kept ? kept->moved : 0;
	const uint64_t pages = s.n_pages >= 64 ? ~0ull : (1ull << s.n_pages) - 1;
	uint64_t used[DWCP_HDE_MAX_PAGES];
	unsigned n_used = 0;

	if (len > DWCP_HDE_MAX_DATA || (mask | moved) & ~pages || mask & moved ||
	    ((mask | moved) && !kept->digest) ||
	    (len % DWCP_HDE_PAGE && moved >> (s.n_pages - 1) & 1))
		return -EINVAL;
	if (cap < 1)
		return -ENOSPC;
	w.p[w.pos++] = moved ? DWCP_HDE_VERSION_KEPT_MOVED :
		       mask  ? DWCP_HDE_VERSION_KEPT : DWCP_HDE_VERSION;
	for (unsigned i = 0; i < s.n_pages; i++) {
		const uint8_t *page = (const uint8_t *)data + (size_t)i * DWCP_HDE_PAGE;
		int rc;

		if ((mask | moved) >> i & 1) {
			s.kind[i] = mask >> i & 1 ? DWCP_HDE_KEPT : DWCP_HDE_MOVED;
			rc = put_rec(&w, s.kind[i], 0, false, NULL, 0);
		} else {
			rc = encode_page(x, &w, page, dwcp_hde_page_len(len, i), bases ? &bases[i] : NULL,
					 &s.kind[i]);
		}
		if (rc)
			return rc;
		if (s.kind[i] == DWCP_HDE_SAME || s.kind[i] == DWCP_HDE_XOR)
			used[n_used++] = bases[i].hash;
	}
	if (mask | moved) {
		if (w.cap - w.pos < dwcp_hde_kept_len(kept))
			return -ENOSPC;
		dwcp_hde_kept_put(w.p + w.pos, kept);
		w.pos += dwcp_hde_kept_len(kept);
	}
	s.base_hash = bases_hash(x, used, n_used);
	if (sum)
		*sum = s;
	return (ssize_t)w.pos;
}

/* ---- decoder ---------------------------------------------------------- */

/* Parse the record at *@p pos; advances it. @return 0 or -EBADMSG. */
static int parse_rec(const uint8_t *b, size_t len, size_t *pos, uint32_t page_len, unsigned version,
		     struct dwcp_hde_rec *r)
{
	size_t left = len - *pos;

	if (left < 1)
		return -EBADMSG;
	*r = (struct dwcp_hde_rec){ .kind = b[*pos], .page_len = page_len };
	left--;
	(*pos)++;
	switch (r->kind) {
	case DWCP_HDE_ZERO:
		return 0;
	case DWCP_HDE_KEPT:
		return version >= DWCP_HDE_VERSION_KEPT ? 0 : -EBADMSG;
	case DWCP_HDE_MOVED:
		return version == DWCP_HDE_VERSION_KEPT_MOVED && page_len == DWCP_HDE_PAGE ? 0 : -EBADMSG;
	case DWCP_HDE_SAME:
	case DWCP_HDE_XOR:
		if (left < 8)
			return -EBADMSG;
		r->base = get_u64(b + *pos);
		*pos += 8;
		left -= 8;
		if (r->kind == DWCP_HDE_SAME)
			return 0;
		if (left < 2)
			return -EBADMSG;
		r->payload_len = (uint32_t)b[*pos] | (uint32_t)b[*pos + 1] << 8;
		*pos += 2;
		left -= 2;
		if (!r->payload_len || r->payload_len >= page_len || r->payload_len > left)
			return -EBADMSG;
		break;
	case DWCP_HDE_RAW:
		if (left < page_len)
			return -EBADMSG;
		r->payload_len = page_len;
		break;
	default:
		return -EBADMSG;
	}
	r->payload = b + *pos;
	*pos += r->payload_len;
	return 0;
}

int dwcp_hde_parse(const void *body, size_t body_len, uint32_t orig_len,
		   struct dwcp_hde_rec recs[DWCP_HDE_MAX_PAGES])
{
	const uint8_t *b = body;
	unsigned n = dwcp_hde_pages(orig_len);
	uint64_t mask = 0, moved = 0;
	struct dwcp_hde_kept k;
	size_t pos = 1, end = body_len, tlen;

	if (orig_len > DWCP_HDE_MAX_DATA || body_len < 1 || b[0] < DWCP_HDE_VERSION ||
	    b[0] > DWCP_HDE_VERSION_KEPT_MOVED)
		return -EBADMSG;
	k.mask = k.moved = 0;
	if (b[0] != DWCP_HDE_VERSION) {
		/* The records end where the trailer starts. */
		if (dwcp_hde_kept_get(b + 1, body_len - 1, b[0] == DWCP_HDE_VERSION_KEPT_MOVED, n, &k,
				      &tlen))
			return -EBADMSG;
		end = body_len - tlen;
	}
	for (unsigned i = 0; i < n; i++) {
		if (parse_rec(b, end, &pos, dwcp_hde_page_len(orig_len, i), b[0], &recs[i]))
			return -EBADMSG;
		if (recs[i].kind == DWCP_HDE_KEPT)
			mask |= 1ull << i;
		if (recs[i].kind == DWCP_HDE_MOVED)
			moved |= 1ull << i;
	}
	return pos == end && mask == k.mask && moved == k.moved ? (int)n : -EBADMSG;
}

int dwcp_hde_kept_of(const void *body, size_t body_len, unsigned n_pages, struct dwcp_hde_kept *k)
{
	const uint8_t *b = body;
	size_t tlen;

	if (body_len < 1 || (b[0] != DWCP_HDE_VERSION_KEPT && b[0] != DWCP_HDE_VERSION_KEPT_MOVED))
		return 0;
	return dwcp_hde_kept_get(b + 1, body_len - 1, b[0] == DWCP_HDE_VERSION_KEPT_MOVED, n_pages, k,
				 &tlen) ? 0 : 1;
}

static bool has_base(const struct dwcp_hde_rec *r)
{
	return r->kind == DWCP_HDE_SAME || r->kind == DWCP_HDE_XOR;
}

uint64_t dwcp_hde_base_hash(const struct dwcp_hde_codec *x, const struct dwcp_hde_rec *recs,
			    unsigned n)
{
	uint64_t used[DWCP_HDE_MAX_PAGES];
	unsigned k = 0;

	for (unsigned i = 0; i < n && i < DWCP_HDE_MAX_PAGES; i++)
		if (has_base(&recs[i]))
			used[k++] = recs[i].base;
	return bases_hash(x, used, k);
}

static bool base_ok(const struct dwcp_hde_rec *r, const struct dwcp_hde_base *b)
{
	return b && b->data && b->len == r->page_len && b->hash == r->base;
}

int dwcp_hde_apply(const struct dwcp_hde_codec *x, const struct dwcp_hde_rec *r,
		   const struct dwcp_hde_base *base, void *out)
{
	if (has_base(r) && !base_ok(r, base))
		return -ENODATA;
	switch (r->kind) {
	case DWCP_HDE_ZERO:
	case DWCP_HDE_KEPT:
	case DWCP_HDE_MOVED:
		memset(out, 0, r->page_len);
		return 0;
	case DWCP_HDE_SAME:
		memcpy(out, base->data, r->page_len);
		return 0;
	case DWCP_HDE_XOR:
		return dwcp_delta_decode(&x->delta, base->data, r->page_len, r->payload,
					 r->payload_len, out) ? -EBADMSG : 0;
	case DWCP_HDE_RAW:
		memcpy(out, r->payload, r->page_len);
		return 0;
	default:
		return -EBADMSG;
	}
}

int dwcp_hde_decode(const struct dwcp_hde_codec *x, const void *body, size_t body_len,
		    uint32_t orig_len, uint64_t base_hash, const struct dwcp_hde_base *bases,
		    void *out)
{
	struct dwcp_hde_rec recs[DWCP_HDE_MAX_PAGES];
	int n = dwcp_hde_parse(body, body_len, orig_len, recs);

	if (n < 0)
		return n;
	if (dwcp_hde_base_hash(x, recs, (unsigned)n) != base_hash)
		return -EBADMSG;
	for (int i = 0; i < n; i++)
		if (has_base(&recs[i]) && !base_ok(&recs[i], bases ? &bases[i] : NULL))
			return -ENODATA;
	for (int i = 0; i < n; i++) {
		int rc = dwcp_hde_apply(x, &recs[i], bases ? &bases[i] : NULL,
					(uint8_t *)out + (size_t)i * DWCP_HDE_PAGE);

		if (rc)
			return rc;
	}
	return 0;
}
