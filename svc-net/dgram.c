/* The DWCP datagram protocol: header, fragmentation, reassembly, NACKs
 * and the sender's state (dgram.h; the rate controller is dgram_rate.c). */
#include <errno.h>
#include <string.h>

#include "dgram.h"

/* ---- wire ---------------------------------------------------------- */

static void le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void le32(uint8_t *p, uint32_t v) { le16(p, (uint16_t)v); le16(p + 2, (uint16_t)(v >> 16)); }
static void le64(uint8_t *p, uint64_t v) { le32(p, (uint32_t)v); le32(p + 4, (uint32_t)(v >> 32)); }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

void dwcp_dgram_hdr_encode(uint8_t *o, const struct dwcp_dgram_hdr *h)
{
	le16(o, DWCP_DGRAM_MAGIC);
	o[2] = DWCP_DGRAM_VERSION;
	o[3] = h->type;
	le32(o + 4, h->conn);
	le64(o + 8, h->msg);
	le32(o + 16, h->total);
	le32(o + 20, h->offset);
	le16(o + 24, h->frag);
	le16(o + 26, h->nfrags);
	le16(o + 28, h->len);
	le16(o + 30, h->flags);
	le64(o + 32, h->ts_ns);
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

/* A DATA fragment's fields agree with each other and with one fragment
 * size for the whole message. */
static int check_data(const struct dwcp_dgram_hdr *h, uint32_t max_msg, struct dwcp_err *err)
{
	uint64_t per;

	if (!h->total || h->total > max_msg)
		return dwcp_err_set(err, -EINVAL, "message of %u bytes: expected 1..%u", h->total, max_msg);
	if (!h->nfrags || h->nfrags > DWCP_DGRAM_MAX_FRAGS || h->frag >= h->nfrags)
		return dwcp_err_set(err, -EINVAL, "fragment %u of %u: expected an index below a count of 1..%u",
				    h->frag, h->nfrags, DWCP_DGRAM_MAX_FRAGS);
	if (!h->len || (uint64_t)h->offset + h->len > h->total)
		return dwcp_err_set(err, -EINVAL, "fragment of %u bytes at %u: outside the message's %u",
				    h->len, h->offset, h->total);
	if (h->frag + 1u < h->nfrags)
		per = h->len;   /* every fragment but the last is full */
	else if (h->frag)
		per = h->offset / h->frag;
	else
		per = h->total;
	if (!per || (uint64_t)h->frag * per != h->offset || ceil_div(h->total, per) != h->nfrags ||
	    (h->frag + 1u == h->nfrags && (uint64_t)h->offset + h->len != h->total) ||
	    (h->nfrags > 1 && per < DWCP_DGRAM_MIN_FRAG))
		return dwcp_err_set(err, -EINVAL,
				    "fragment %u of %u (%u bytes at %u) does not split a %u-byte message into equal fragments of at least %u bytes",
				    h->frag, h->nfrags, h->len, h->offset, h->total, DWCP_DGRAM_MIN_FRAG);
	return 0;
}

int dwcp_dgram_hdr_parse(const uint8_t *p, size_t n, uint32_t max_msg, struct dwcp_dgram_hdr *h,
			 struct dwcp_err *err)
{
	if (n < DWCP_DGRAM_HDR_LEN)
		return dwcp_err_set(err, -EINVAL, "datagram of %zu bytes: shorter than the %u-byte header",
				    n, DWCP_DGRAM_HDR_LEN);
	h->magic = rd16(p);
	h->version = p[2];
	h->type = p[3];
	h->conn = rd32(p + 4);
	h->msg = rd64(p + 8);
	h->total = rd32(p + 16);
	h->offset = rd32(p + 20);
	h->frag = rd16(p + 24);
	h->nfrags = rd16(p + 26);
	h->len = rd16(p + 28);
	h->flags = rd16(p + 30);
	h->ts_ns = rd64(p + 32);
	if (h->magic != DWCP_DGRAM_MAGIC)
		return dwcp_err_set(err, -EINVAL, "magic 0x%04x: not a DWCP datagram", h->magic);
	if (h->version != DWCP_DGRAM_VERSION)
		return dwcp_err_set(err, -EINVAL, "version %u: this end speaks %u", h->version, DWCP_DGRAM_VERSION);
	if (h->len != n - DWCP_DGRAM_HDR_LEN)
		return dwcp_err_set(err, -EINVAL, "header says %u bytes follow, the datagram has %zu",
				    h->len, n - DWCP_DGRAM_HDR_LEN);
	if ((h->flags & ~(DWCP_DGRAM_F_OPENER | DWCP_DGRAM_F_CHUNK)) ||
	    (h->flags & DWCP_DGRAM_F_CHUNK && h->type != DWCP_DGRAM_DATA))
		return dwcp_err_set(err, -EINVAL, "flags 0x%x on a type %u datagram: unknown, or CHUNK not on DATA",
				    h->flags, h->type);
	if (!h->conn || (!h->msg && h->type != DWCP_DGRAM_RESET))
		return dwcp_err_set(err, -EINVAL, "connection %u, message %llu: expected both not 0",
				    h->conn, (unsigned long long)h->msg);
	switch (h->type) {
	case DWCP_DGRAM_DATA:
		return check_data(h, max_msg, err);
	case DWCP_DGRAM_NACK:
		if (!h->nfrags || h->nfrags > DWCP_DGRAM_MAX_RANGES || h->len != 4u * h->nfrags)
			return dwcp_err_set(err, -EINVAL, "NACK of %u ranges in %u bytes: expected 1..%u, 4 bytes each",
					    h->nfrags, h->len, DWCP_DGRAM_MAX_RANGES);
		return 0;
	case DWCP_DGRAM_ACK:
	case DWCP_DGRAM_RESET:
		if (h->len)
			return dwcp_err_set(err, -EINVAL, "%s with %u bytes of body: expected none",
					    h->type == DWCP_DGRAM_ACK ? "ACK" : "RESET", h->len);
		return 0;
	default:
		return dwcp_err_set(err, -EINVAL, "type %u: not DATA, NACK, ACK or RESET", h->type);
	}
}

size_t dwcp_dgram_ranges_encode(uint8_t *out, const struct dwcp_dgram_range *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		le16(out + 4 * i, r[i].first);
		le16(out + 4 * i + 2, r[i].count);
	}
	return 4u * n;
}

int dwcp_dgram_ranges_parse(const uint8_t *body, const struct dwcp_dgram_hdr *h,
			    struct dwcp_dgram_range *out, struct dwcp_err *err)
{
	for (unsigned i = 0; i < h->nfrags; i++) {
		out[i].first = rd16(body + 4 * i);
		out[i].count = rd16(body + 4 * i + 2);
		if (!out[i].count || (uint32_t)out[i].first + out[i].count > DWCP_DGRAM_MAX_FRAGS)
			return dwcp_err_set(err, -EINVAL, "NACK range %u+%u: outside 0..%u", out[i].first,
					    out[i].count, DWCP_DGRAM_MAX_FRAGS);
	}
	return h->nfrags;
}

/* ---- fragmentation ---------------------------------------------------- */

uint32_t dwcp_dgram_frag_payload(uint32_t mtu, int ip_version)
{
	uint32_t hdrs = (ip_version == 6 ? 40u : 20u) + 8u + DWCP_DGRAM_HDR_LEN;

	return mtu > hdrs ? mtu - hdrs : 0;
}

int dwcp_dgram_plan(struct dwcp_dgram_plan *pl, uint32_t total, uint32_t per)
{
	uint64_t n;

	if (!total || !per)
		return -EINVAL;
	if (per > total)
		per = total;
	n = ceil_div(total, per);
	if (n > DWCP_DGRAM_MAX_FRAGS || (n > 1 && per < DWCP_DGRAM_MIN_FRAG))
		return -EMSGSIZE;
	pl->total = total;
	pl->per = per;
	pl->nfrags = (uint16_t)n;
	return 0;
}

/* ---- bitmaps ------------------------------------------------------ */

static bool bit(const uint64_t *m, unsigned i) { return m[i / 64] >> (i % 64) & 1; }
static void set_bit(uint64_t *m, unsigned i) { m[i / 64] |= 1ull << (i % 64); }
static void clr_bit(uint64_t *m, unsigned i) { m[i / 64] &= ~(1ull << (i % 64)); }

/* ---- receiver ----------------------------------------------------- */

void dwcp_dgram_rx_init(struct dwcp_dgram_rx *rx, uint32_t max_msg)
{
	memset(rx, 0, sizeof(*rx));
	rx->max_msg = max_msg;
	rx->done_low = 1;
}

/* The window's bits stand for done_low .. done_low + WIN - 1 only: a
 * number beyond it must not read another message's bit (and be ACKed). */
static bool is_done(const struct dwcp_dgram_rx *rx, uint64_t msg)
{
	return msg < rx->done_low ||
	       (msg - rx->done_low < DWCP_DGRAM_DONE_WIN &&
		bit(rx->done, (unsigned)(msg % DWCP_DGRAM_DONE_WIN)));
}

static void mark_done(struct dwcp_dgram_rx *rx, uint64_t msg)
{
	set_bit(rx->done, (unsigned)(msg % DWCP_DGRAM_DONE_WIN));
	while (bit(rx->done, (unsigned)(rx->done_low % DWCP_DGRAM_DONE_WIN))) {
		clr_bit(rx->done, (unsigned)(rx->done_low % DWCP_DGRAM_DONE_WIN));
		rx->done_low++;
	}
}

static int find_rx(const struct dwcp_dgram_rx *rx, uint64_t msg)
{
	for (int i = 0; i < (int)DWCP_DGRAM_SLOTS; i++)
		if (rx->slot[i].used && rx->slot[i].msg == msg)
			return i;
	return -1;
}

static void drop_slot(struct dwcp_dgram_rx *rx, int i, uint8_t **dropped)
{
	if (dropped)
		*dropped = rx->slot[i].dest;
	memset(&rx->slot[i], 0, sizeof(rx->slot[i]));
}

int dwcp_dgram_rx_put(struct dwcp_dgram_rx *rx, const struct dwcp_dgram_hdr *h,
		      const uint8_t *payload, uint64_t now_ns, int *slot, uint8_t **dropped_dest,
		      struct dwcp_err *err)
{
	struct dwcp_dgram_rx_slot *s;
	uint32_t per = h->frag + 1u < h->nfrags ? h->len : h->frag ? h->offset / h->frag : h->total;
	int i;

	*dropped_dest = NULL;
	if (rx->conn && h->conn != rx->conn)
		return DWCP_DGRAM_RX_NEW_CONN;
	rx->conn = h->conn;
	if (h->ts_ns > rx->newest_ts) {
		rx->newest_ts = h->ts_ns;
		rx->newest_at = now_ns;
	}
	if (is_done(rx, h->msg))
		return DWCP_DGRAM_RX_DONE_AGAIN;
	if (h->msg >= rx->done_low + DWCP_DGRAM_DONE_WIN)
		return dwcp_err_set(err, -EINVAL, "message %llu: more than %u ahead of the oldest unfinished (%llu)",
				    (unsigned long long)h->msg, DWCP_DGRAM_DONE_WIN,
				    (unsigned long long)rx->done_low);
	i = find_rx(rx, h->msg);
	if (i < 0) {
		for (i = 0; i < (int)DWCP_DGRAM_SLOTS && rx->slot[i].used; i++)
			;
		if (i == (int)DWCP_DGRAM_SLOTS)
			return DWCP_DGRAM_RX_FULL;
		s = &rx->slot[i];
		memset(s, 0, sizeof(*s));
		s->used = true;
		s->msg = h->msg;
		s->total = h->total;
		s->per = per;
		s->nfrags = h->nfrags;
	}
	s = &rx->slot[i];
	*slot = i;
	if (s->total != h->total || s->nfrags != h->nfrags || s->per != per) {
		drop_slot(rx, i, dropped_dest);
		return dwcp_err_set(err, -EINVAL,
				    "fragment %u of message %llu says %u bytes in %u fragments of %u; its others said %u in %u of %u: message dropped",
				    h->frag, (unsigned long long)h->msg, h->total, h->nfrags, per, s->total,
				    s->nfrags, s->per);
	}
	if (!s->dest)
		return DWCP_DGRAM_RX_NEED_DEST;
	s->last_ns = now_ns;
	if (bit(s->have, h->frag))
		return DWCP_DGRAM_RX_DUP;
	memcpy(s->dest + h->offset, payload, h->len);
	set_bit(s->have, h->frag);
	if (h->frag >= s->top)
		s->top = (uint16_t)(h->frag + 1u);
	if (++s->got < s->nfrags)
		return DWCP_DGRAM_RX_STORED;
	mark_done(rx, s->msg);
	return DWCP_DGRAM_RX_COMPLETE;
}

uint64_t dwcp_dgram_rx_echo(const struct dwcp_dgram_rx *rx, uint64_t now_ns)
{
	if (!rx->newest_ts)
		return 0;
	return rx->newest_ts + (now_ns > rx->newest_at ? now_ns - rx->newest_at : 0);
}

void dwcp_dgram_rx_set_dest(struct dwcp_dgram_rx *rx, int slot, uint8_t *dest)
{
	rx->slot[slot].dest = dest;
}

void dwcp_dgram_rx_release(struct dwcp_dgram_rx *rx, int slot)
{
	memset(&rx->slot[slot], 0, sizeof(rx->slot[slot]));
}

unsigned dwcp_dgram_rx_reset(struct dwcp_dgram_rx *rx, uint32_t conn, uint8_t **dests)
{
	unsigned n = 0;

	for (unsigned i = 0; i < DWCP_DGRAM_SLOTS; i++)
		if (rx->slot[i].used && rx->slot[i].dest)
			dests[n++] = rx->slot[i].dest;
	dwcp_dgram_rx_init(rx, rx->max_msg);
	rx->conn = conn;
	return n;
}

unsigned dwcp_dgram_rx_nack(struct dwcp_dgram_rx *rx, uint64_t now_ns, uint64_t reorder_ns,
			    uint64_t *msg, struct dwcp_dgram_range *out)
{
	for (unsigned i = 0; i < DWCP_DGRAM_SLOTS; i++) {
		struct dwcp_dgram_rx_slot *s = &rx->slot[i];
		unsigned n = 0;

		if (!s->used || !s->dest || s->got == s->nfrags || now_ns < s->last_ns + reorder_ns ||
		    now_ns < s->nack_ns)
			continue;
		for (unsigned f = 0; f < s->top && n < DWCP_DGRAM_MAX_RANGES; f++) {
			if (bit(s->have, f))
				continue;
			if (n && out[n - 1].first + out[n - 1].count == f)
				out[n - 1].count++;
			else
				out[n++] = (struct dwcp_dgram_range){ (uint16_t)f, 1 };
		}
		s->nack_ns = now_ns + reorder_ns;
		if (!n)
			continue;   /* no hole below the top: only the tail is missing */
		*msg = s->msg;
		return n;
	}
	return 0;
}

/* ---- sender ------------------------------------------------------- */

void dwcp_dgram_tx_init(struct dwcp_dgram_tx *tx, uint32_t conn, uint32_t per)
{
	memset(tx, 0, sizeof(*tx));
	tx->conn = conn;
	tx->per = per;
	tx->next_msg = 1;
}

int64_t dwcp_dgram_tx_track(struct dwcp_dgram_tx *tx, uint32_t total, void *cookie)
{
	struct dwcp_dgram_tx_slot *s = NULL;

	for (unsigned i = 0; i < DWCP_DGRAM_SLOTS && !s; i++)
		if (!tx->slot[i].used)
			s = &tx->slot[i];
	if (!s)
		return -ENOBUFS;
	memset(s, 0, sizeof(*s));
	if (dwcp_dgram_plan(&s->plan, total, tx->per))
		return -EMSGSIZE;
	s->used = true;
	s->msg = tx->next_msg++;
	s->cookie = cookie;
	s->pending = s->plan.nfrags;
	for (unsigned f = 0; f < s->plan.nfrags; f++)
		set_bit(s->need, f);
	return (int64_t)s->msg;
}

static struct dwcp_dgram_tx_slot *find_tx(struct dwcp_dgram_tx *tx, uint64_t msg)
{
	for (unsigned i = 0; i < DWCP_DGRAM_SLOTS; i++)
		if (tx->slot[i].used && tx->slot[i].msg == msg)
			return &tx->slot[i];
	return NULL;
}

int dwcp_dgram_tx_next(struct dwcp_dgram_tx *tx, uint64_t now_ns, struct dwcp_dgram_hdr *h,
		       void **cookie)
{
	for (unsigned k = 0; k < DWCP_DGRAM_SLOTS; k++) {
		struct dwcp_dgram_tx_slot *s = &tx->slot[(tx->rr + k) % DWCP_DGRAM_SLOTS];
		uint32_t off, len;
		unsigned f;

		if (!s->used || !s->pending)
			continue;
		for (f = s->cursor; f < s->plan.nfrags && !bit(s->need, f); f++)
			;
		if (f == s->plan.nfrags)
			for (f = 0; !bit(s->need, f); f++)
				;
		clr_bit(s->need, f);
		s->pending--;
		s->cursor = (uint16_t)(f + 1);
		s->sent_ns = now_ns;
		dwcp_dgram_frag(&s->plan, (uint16_t)f, &off, &len);
		memset(h, 0, sizeof(*h));
		h->type = DWCP_DGRAM_DATA;
		h->conn = tx->conn;
		h->msg = s->msg;
		h->total = s->plan.total;
		h->offset = off;
		h->frag = (uint16_t)f;
		h->nfrags = s->plan.nfrags;
		h->len = (uint16_t)len;
		h->ts_ns = now_ns;
		*cookie = s->cookie;
		/* Oldest first while it has fragments: messages complete in order. */
		if (!s->pending)
			tx->rr = (unsigned)(s - tx->slot + 1) % DWCP_DGRAM_SLOTS;
		return 1;
	}
	return 0;
}

unsigned dwcp_dgram_tx_on_nack(struct dwcp_dgram_tx *tx, uint64_t msg,
			       const struct dwcp_dgram_range *r, unsigned n)
{
	struct dwcp_dgram_tx_slot *s = find_tx(tx, msg);
	unsigned marked = 0;

	if (!s)
		return 0;
	for (unsigned i = 0; i < n; i++)
		for (uint32_t f = r[i].first; f < (uint32_t)r[i].first + r[i].count && f < s->plan.nfrags; f++) {
			if (bit(s->need, f))
				continue;
			set_bit(s->need, f);
			s->pending++;
			marked++;
			if (f < s->cursor)
				s->cursor = (uint16_t)f;
		}
	s->sent_ns = 0;
	return marked;
}

bool dwcp_dgram_tx_pending(const struct dwcp_dgram_tx *tx)
{
	for (unsigned i = 0; i < DWCP_DGRAM_SLOTS; i++)
		if (tx->slot[i].used && tx->slot[i].pending)
			return true;
	return false;
}

bool dwcp_dgram_tx_has(const struct dwcp_dgram_tx *tx, uint64_t msg)
{
	for (unsigned i = 0; i < DWCP_DGRAM_SLOTS; i++)
		if (tx->slot[i].used && tx->slot[i].msg == msg)
			return true;
	return false;
}

uint64_t dwcp_dgram_tx_low(const struct dwcp_dgram_tx *tx)
{
	uint64_t low = tx->next_msg;

	for (unsigned i = 0; i < DWCP_DGRAM_SLOTS; i++)
		if (tx->slot[i].used && tx->slot[i].msg < low)
			low = tx->slot[i].msg;
	return low;
}

void *dwcp_dgram_tx_on_ack(struct dwcp_dgram_tx *tx, uint64_t msg)
{
	struct dwcp_dgram_tx_slot *s = find_tx(tx, msg);
	void *c;

	if (!s)
		return NULL;
	c = s->cookie;
	memset(s, 0, sizeof(*s));
	return c;
}

unsigned dwcp_dgram_tx_timers(struct dwcp_dgram_tx *tx, uint64_t now_ns, uint64_t rto_ns)
{
	unsigned n = 0;

	for (unsigned i = 0; i < DWCP_DGRAM_SLOTS; i++) {
		struct dwcp_dgram_tx_slot *s = &tx->slot[i];
		unsigned last;

		if (!s->used || s->pending || now_ns < s->sent_ns + rto_ns)
			continue;
		last = s->plan.nfrags - 1u;
		set_bit(s->need, last);
		s->pending = 1;
		s->cursor = (uint16_t)last;
		s->sent_ns = now_ns;
		n++;
	}
	return n;
}
