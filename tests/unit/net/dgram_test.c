/* svc-net/dgram.c and dgram_rate.c: the DWCP datagram protocol.
 *
 * A deterministic simulated link (a PRNG, simulated time, no clock) with
 * a bottleneck rate and queue, loss, reordering, duplicates and a burst
 * outage carries hundreds of messages of random sizes and contents from a
 * sender to a receiver, with NACKs and ACKs coming back over the same
 * lossy link: every message arrives exactly once and byte-identical, and
 * no table grows past its bound. Bad headers are refused with the reason;
 * the rate controller slows down under loss and rising delay and speeds
 * up on a clean path. Assertions are about what the protocol guarantees,
 * never about how fast (simulated time only bounds a hang).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "svc-net/dgram.h"

#define MTU      1500u
#define MAX_MSG  266240u
#define US       1000ull
#define MS       1000000ull

/* ---- the link ---- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double uniform(void)
{
	return (double)(rng() >> 11) / 9007199254740992.0;
}

struct wire_dg {
	uint64_t at;
	uint16_t len;
	bool to_rx;                   /* DATA goes to the receiver, NACK/ACK back */
	uint8_t b[MTU];
};

struct link {
	double loss, reorder, dup;
	uint64_t outage_from, outage_to;  /* everything sent in between is lost */
	double bytes_per_ns;              /* bottleneck */
	uint64_t prop_ns;
	uint64_t free_at[2];              /* the bottleneck of each direction */
	struct wire_dg *q;
	unsigned n, cap;
	uint64_t sent, lost;
};

static void link_send(struct link *l, uint64_t now, bool to_rx, const uint8_t *b, size_t len)
{
	uint64_t *busy = &l->free_at[to_rx];
	uint64_t start = *busy > now ? *busy : now;
	unsigned copies = uniform() < l->dup ? 2 : 1;

	l->sent++;
	*busy = start + (uint64_t)((double)len / l->bytes_per_ns);
	if (uniform() < l->loss || (now >= l->outage_from && now < l->outage_to)) {
		l->lost++;
		return;
	}
	for (unsigned c = 0; c < copies; c++) {
		struct wire_dg *d;

		cr_assert_lt(l->n, l->cap, "the simulated link's queue overflowed");
		d = &l->q[l->n++];
		d->at = *busy + l->prop_ns + (uniform() < l->reorder ? (rng() % 200) * US : 0) + c * 5 * US;
		d->len = (uint16_t)len;
		d->to_rx = to_rx;
		memcpy(d->b, b, len);
	}
}

/* The earliest datagram due by @p now, removed into @p out. */
static bool link_take(struct link *l, uint64_t now, struct wire_dg *out)
{
	unsigned best = l->n;

	for (unsigned i = 0; i < l->n; i++)
		if (l->q[i].at <= now && (best == l->n || l->q[i].at < l->q[best].at))
			best = i;
	if (best == l->n)
		return false;
	*out = l->q[best];
	l->q[best] = l->q[--l->n];
	return true;
}

/* ---- the two ends ---- */

struct message {
	uint8_t *data;
	uint32_t len;
	unsigned delivered;
};

struct sim {
	struct link link;
	struct dwcp_dgram_tx tx;
	struct dwcp_dgram_rx rx;
	struct dwcp_dgram_rate rate;
	struct message *m;
	unsigned n_msgs, next_track, delivered;
	uint64_t now;
	unsigned max_rx_used, resends, nacks, full;
};

static void send_ctl(struct sim *s, uint8_t type, uint64_t msg, uint64_t ts,
		     const struct dwcp_dgram_range *r, unsigned n)
{
	uint8_t b[DWCP_DGRAM_HDR_LEN + 4 * DWCP_DGRAM_MAX_RANGES];
	struct dwcp_dgram_hdr h = { .type = type, .conn = 77, .msg = msg, .nfrags = (uint16_t)n,
				    .len = (uint16_t)(4 * n), .ts_ns = ts };

	dwcp_dgram_hdr_encode(b, &h);
	dwcp_dgram_ranges_encode(b + DWCP_DGRAM_HDR_LEN, r, n);
	link_send(&s->link, s->now, false, b, DWCP_DGRAM_HDR_LEN + 4 * n);
}

static void at_receiver(struct sim *s, const struct wire_dg *d)
{
	struct dwcp_dgram_hdr h;
	struct dwcp_err e = { 0 };
	uint8_t *dropped;
	int slot = -1, rc;
	unsigned used = 0;

	cr_assert_eq(dwcp_dgram_hdr_parse(d->b, d->len, MAX_MSG, &h, &e), 0, "%s", e.msg);
	cr_assert_eq(h.type, DWCP_DGRAM_DATA);
	rc = dwcp_dgram_rx_put(&s->rx, &h, d->b + DWCP_DGRAM_HDR_LEN, s->now, &slot, &dropped, &e);
	if (rc == DWCP_DGRAM_RX_NEED_DEST) {
		dwcp_dgram_rx_set_dest(&s->rx, slot, malloc(h.total));
		rc = dwcp_dgram_rx_put(&s->rx, &h, d->b + DWCP_DGRAM_HDR_LEN, s->now, &slot, &dropped, &e);
	}
	cr_assert_geq(rc, 0, "a fragment of our own sender refused: %s", e.msg);
	cr_assert_neq(rc, DWCP_DGRAM_RX_NEW_CONN);
	s->full += rc == DWCP_DGRAM_RX_FULL;
	for (unsigned i = 0; i < DWCP_DGRAM_SLOTS; i++)
		used += s->rx.slot[i].used;
	if (used > s->max_rx_used)
		s->max_rx_used = used;
	if (rc == DWCP_DGRAM_RX_COMPLETE) {
		struct message *m = &s->m[h.msg - 1];

		cr_assert_eq(s->rx.slot[slot].total, m->len);
		cr_assert_eq(memcmp(s->rx.slot[slot].dest, m->data, m->len), 0,
			     "message %llu arrived with other bytes", (unsigned long long)h.msg);
		m->delivered++;
		s->delivered++;
		free(s->rx.slot[slot].dest);
		dwcp_dgram_rx_release(&s->rx, slot);
	}
	if (rc == DWCP_DGRAM_RX_COMPLETE || rc == DWCP_DGRAM_RX_DONE_AGAIN)
		send_ctl(s, DWCP_DGRAM_ACK, h.msg, h.ts_ns, NULL, 0);
}

static void at_sender(struct sim *s, const struct wire_dg *d)
{
	struct dwcp_dgram_hdr h;
	struct dwcp_dgram_range r[DWCP_DGRAM_MAX_RANGES];
	struct dwcp_err e = { 0 };
	int n;

	cr_assert_eq(dwcp_dgram_hdr_parse(d->b, d->len, MAX_MSG, &h, &e), 0, "%s", e.msg);
	if (h.ts_ns && s->now > h.ts_ns)
		dwcp_dgram_rate_on_rtt(&s->rate, s->now - h.ts_ns, s->now);
	if (h.type == DWCP_DGRAM_ACK) {
		dwcp_dgram_tx_on_ack(&s->tx, h.msg);
		return;
	}
	n = dwcp_dgram_ranges_parse(d->b + DWCP_DGRAM_HDR_LEN, &h, r, &e);
	cr_assert_geq(n, 0, "%s", e.msg);
	s->nacks++;
	s->resends += dwcp_dgram_tx_on_nack(&s->tx, h.msg, r, (unsigned)n);
	dwcp_dgram_rate_on_loss(&s->rate, s->now);
}

static void sender_step(struct sim *s)
{
	uint8_t b[MTU];

	while (s->next_track < s->n_msgs) {
		int64_t msg = dwcp_dgram_tx_track(&s->tx, s->m[s->next_track].len, &s->m[s->next_track]);

		if (msg == -ENOBUFS)
			break;
		cr_assert_eq(msg, (int64_t)s->next_track + 1, "message numbers not in order");
		s->next_track++;
	}
	dwcp_dgram_tx_timers(&s->tx, s->now, s->rate.srtt_ns ? 4 * s->rate.srtt_ns : MS);
	for (unsigned k = 0; k < 64; k++) {
		struct dwcp_dgram_hdr h;
		struct message *m;
		void *cookie;

		if (!dwcp_dgram_rate_take(&s->rate, s->now, MTU))
			break;
		if (!dwcp_dgram_tx_next(&s->tx, s->now, &h, &cookie))
			break;
		m = cookie;
		dwcp_dgram_hdr_encode(b, &h);
		memcpy(b + DWCP_DGRAM_HDR_LEN, m->data + h.offset, h.len);
		link_send(&s->link, s->now, true, b, DWCP_DGRAM_HDR_LEN + h.len);
	}
}

static void run(struct sim *s, unsigned n_msgs, uint64_t seed)
{
	uint64_t guard = 60000 * MS;   /* simulated: a hang guard, not a speed check */
	struct wire_dg d;

	rng_state = seed;
	s->n_msgs = n_msgs;
	s->m = calloc(n_msgs, sizeof(*s->m));
	for (unsigned i = 0; i < n_msgs; i++) {
		uint32_t len = i % 50 == 7 ? MAX_MSG : 1 + (uint32_t)(rng() % 65536);

		s->m[i].len = len;
		s->m[i].data = malloc(len);
		for (uint32_t k = 0; k < len; k++)
			s->m[i].data[k] = (uint8_t)rng();
	}
	s->link.cap = 1u << 16;
	s->link.q = malloc(s->link.cap * sizeof(*s->link.q));
	s->link.bytes_per_ns = 1.0;   /* 1 GB/s */
	s->link.prop_ns = 20 * US;
	dwcp_dgram_tx_init(&s->tx, 77, dwcp_dgram_frag_payload(MTU, 4));
	dwcp_dgram_rx_init(&s->rx, MAX_MSG);
	dwcp_dgram_rate_init(&s->rate, 2e8, 1e6, 2e9, 0);
	while (s->delivered < n_msgs && s->now < guard) {
		uint64_t msg;
		struct dwcp_dgram_range r[DWCP_DGRAM_MAX_RANGES];
		unsigned k;

		while (link_take(&s->link, s->now, &d)) {
			if (d.to_rx)
				at_receiver(s, &d);
			else
				at_sender(s, &d);
		}
		while ((k = dwcp_dgram_rx_nack(&s->rx, s->now, 200 * US, &msg, r)) > 0)
			send_ctl(s, DWCP_DGRAM_NACK, msg, s->rx.newest_ts, r, k);
		sender_step(s);
		s->now += 10 * US;
	}
	cr_assert_eq(s->delivered, n_msgs, "%u of %u messages delivered in %llu ms simulated (%llu sent, %llu lost)",
		     s->delivered, n_msgs, (unsigned long long)(s->now / MS),
		     (unsigned long long)s->link.sent, (unsigned long long)s->link.lost);
	for (unsigned i = 0; i < n_msgs; i++) {
		cr_expect_eq(s->m[i].delivered, 1u, "message %u delivered %u times", i + 1, s->m[i].delivered);
		free(s->m[i].data);
	}
	cr_expect_leq(s->max_rx_used, DWCP_DGRAM_SLOTS);
	free(s->m);
	free(s->link.q);
	/* The sender's table is empty once everything is acknowledged... or
	 * the last ACKs are still on their way: never more than its slots. */
	for (unsigned i = 0; i < DWCP_DGRAM_SLOTS; i++)
		if (s->tx.slot[i].used)
			cr_expect_gt(s->tx.slot[i].msg, (uint64_t)n_msgs - DWCP_DGRAM_SLOTS);
}

static struct sim *new_sim(void)
{
	struct sim *s = calloc(1, sizeof(*s));

	cr_assert_not_null(s);
	return s;
}

Test(dgram, a_clean_link_delivers_everything_once)
{
	struct sim *s = new_sim();

	run(s, 400, 1);
	cr_expect_eq(s->link.lost, 0u);
	free(s);
}

Test(dgram, one_percent_loss_with_reordering_and_duplicates)
{
	struct sim *s = new_sim();

	s->link.loss = 0.01;
	s->link.reorder = 0.05;
	s->link.dup = 0.02;
	run(s, 400, 2);
	cr_expect_gt(s->link.lost, 0u);
	cr_expect_gt(s->resends, 0u, "losses and no resend");
	free(s);
}

Test(dgram, ten_percent_loss)
{
	struct sim *s = new_sim();

	s->link.loss = 0.10;
	s->link.reorder = 0.02;
	run(s, 300, 3);
	cr_expect_gt(s->nacks, 0u);
	free(s);
}

Test(dgram, a_burst_outage_of_fifty_milliseconds)
{
	struct sim *s = new_sim();

	s->link.outage_from = 5 * MS;
	s->link.outage_to = 55 * MS;
	run(s, 300, 4);
	cr_expect_gt(s->link.lost, 100u, "the outage lost nothing");
	free(s);
}

/* ---- headers ---- */

static void expect_bad(struct dwcp_dgram_hdr h, size_t body, const char *why)
{
	uint8_t b[DWCP_DGRAM_HDR_LEN + 2048] = { 0 };
	struct dwcp_dgram_hdr out;
	struct dwcp_err e = { 0 };

	dwcp_dgram_hdr_encode(b, &h);
	cr_expect_eq(dwcp_dgram_hdr_parse(b, DWCP_DGRAM_HDR_LEN + body, MAX_MSG, &out, &e), -EINVAL,
		     "accepted: %s", why);
	cr_expect(strstr(e.msg, why), "'%s' lacks '%s'", e.msg, why);
}

Test(dgram, bad_headers_are_refused_with_the_reason)
{
	struct dwcp_dgram_hdr ok = { .type = DWCP_DGRAM_DATA, .conn = 1, .msg = 1, .total = 3000,
				     .offset = 1460, .frag = 1, .nfrags = 3, .len = 1460 };
	uint8_t b[DWCP_DGRAM_HDR_LEN + 1460];
	struct dwcp_dgram_hdr h, out;
	struct dwcp_err e = { 0 };

	dwcp_dgram_hdr_encode(b, &ok);
	cr_assert_eq(dwcp_dgram_hdr_parse(b, sizeof(b), MAX_MSG, &out, &e), 0, "%s", e.msg);
	cr_expect_eq(out.offset, 1460u);
	cr_expect_eq(dwcp_dgram_hdr_parse(b, 20, MAX_MSG, &out, &e), -EINVAL);
	cr_expect(strstr(e.msg, "shorter than"), "%s", e.msg);
	b[0] ^= 1;
	cr_expect_eq(dwcp_dgram_hdr_parse(b, sizeof(b), MAX_MSG, &out, &e), -EINVAL);
	cr_expect(strstr(e.msg, "magic"), "%s", e.msg);
	b[0] ^= 1;
	b[2] = 9;
	cr_expect_eq(dwcp_dgram_hdr_parse(b, sizeof(b), MAX_MSG, &out, &e), -EINVAL);
	cr_expect(strstr(e.msg, "version"), "%s", e.msg);

	h = ok; expect_bad(h, 100, "follow");
	h = ok; h.type = 9; expect_bad(h, 1460, "not DATA, NACK, ACK or RESET");
	h = ok; h.frag = 3; expect_bad(h, 1460, "index below");
	h = ok; h.nfrags = 0; expect_bad(h, 1460, "index below");
	h = ok; h.nfrags = DWCP_DGRAM_MAX_FRAGS + 1; expect_bad(h, 1460, "index below");
	h = ok; h.total = MAX_MSG + 1; expect_bad(h, 1460, "expected 1..");
	h = ok; h.total = 0; expect_bad(h, 1460, "expected 1..");
	h = ok; h.offset = 2000; expect_bad(h, 1460, "outside the message");
	h = ok; h.offset = 1000; expect_bad(h, 1460, "equal fragments");
	h = ok; h.nfrags = 4; expect_bad(h, 1460, "equal fragments");
	h = ok; h.frag = 2; h.offset = 1400; h.len = 1600; expect_bad(h, 1600, "equal fragments");
	/* found by the fuzzer: a last fragment whose offset is below its index (size 0) */
	h = ok; h.frag = 2; h.offset = 1; h.len = 1999; expect_bad(h, 1999, "equal fragments");
	h = ok; h.total = 600; h.nfrags = 2; h.frag = 0; h.offset = 0; h.len = 300;
	expect_bad(h, 300, "at least");
	h = ok; h.msg = 0; expect_bad(h, 1460, "message 0");
	h = ok; h.conn = 0; expect_bad(h, 1460, "connection 0");
	h = (struct dwcp_dgram_hdr){ .type = DWCP_DGRAM_NACK, .conn = 1, .msg = 1, .nfrags = 2, .len = 4 };
	expect_bad(h, 4, "4 bytes each");
	h = (struct dwcp_dgram_hdr){ .type = DWCP_DGRAM_ACK, .conn = 1, .msg = 1, .len = 4 };
	expect_bad(h, 4, "expected none");
}

Test(dgram, a_fragment_that_disagrees_drops_its_message_and_a_new_connection_is_told)
{
	struct dwcp_dgram_rx rx;
	struct dwcp_dgram_hdr h = { .type = DWCP_DGRAM_DATA, .conn = 5, .msg = 1, .total = 3000,
				    .offset = 0, .frag = 0, .nfrags = 3, .len = 1460 };
	uint8_t payload[1460] = { 0 }, *dest = malloc(4000), *dropped;
	struct dwcp_err e = { 0 };
	int slot;

	dwcp_dgram_rx_init(&rx, MAX_MSG);
	cr_assert_eq(dwcp_dgram_rx_put(&rx, &h, payload, 0, &slot, &dropped, &e), DWCP_DGRAM_RX_NEED_DEST);
	dwcp_dgram_rx_set_dest(&rx, slot, dest);
	cr_assert_eq(dwcp_dgram_rx_put(&rx, &h, payload, 0, &slot, &dropped, &e), DWCP_DGRAM_RX_STORED);
	cr_expect_eq(dwcp_dgram_rx_put(&rx, &h, payload, 0, &slot, &dropped, &e), DWCP_DGRAM_RX_DUP);
	h.frag = 1;
	h.offset = 1460;
	h.total = 4000;
	h.nfrags = 3;
	cr_expect_eq(dwcp_dgram_rx_put(&rx, &h, payload, 0, &slot, &dropped, &e), -EINVAL);
	cr_expect_eq(dropped, dest, "the dropped message's buffer was not handed back");
	cr_expect_not(rx.slot[slot].used);
	h.conn = 6;
	cr_expect_eq(dwcp_dgram_rx_put(&rx, &h, payload, 0, &slot, &dropped, &e), DWCP_DGRAM_RX_NEW_CONN);
	/* Message 2 complete; a number a whole window later is refused, not
	 * taken for it (which would ACK a message never received). */
	h = (struct dwcp_dgram_hdr){ .type = DWCP_DGRAM_DATA, .conn = 5, .msg = 2, .total = 100,
				     .nfrags = 1, .len = 100 };
	cr_assert_eq(dwcp_dgram_rx_put(&rx, &h, payload, 0, &slot, &dropped, &e), DWCP_DGRAM_RX_NEED_DEST);
	dwcp_dgram_rx_set_dest(&rx, slot, dest);
	cr_assert_eq(dwcp_dgram_rx_put(&rx, &h, payload, 0, &slot, &dropped, &e), DWCP_DGRAM_RX_COMPLETE);
	dwcp_dgram_rx_release(&rx, slot);
	h.msg = 2 + DWCP_DGRAM_DONE_WIN;
	cr_expect_eq(dwcp_dgram_rx_put(&rx, &h, payload, 0, &slot, &dropped, &e), -EINVAL,
		     "a message a window ahead read as done");
	free(dest);
}

Test(dgram, fragmentation_covers_the_message_exactly)
{
	struct dwcp_dgram_plan pl;
	uint32_t per4 = dwcp_dgram_frag_payload(1500, 4), per6 = dwcp_dgram_frag_payload(9000, 6);

	cr_expect_eq(per4, 1500u - 20 - 8 - DWCP_DGRAM_HDR_LEN);
	cr_expect_eq(per6, 9000u - 40 - 8 - DWCP_DGRAM_HDR_LEN);
	for (uint32_t total = 1; total <= MAX_MSG; total += 4099) {
		uint64_t sum = 0;

		cr_assert_eq(dwcp_dgram_plan(&pl, total, per4), 0);
		for (uint16_t i = 0; i < pl.nfrags; i++) {
			uint32_t off, len;

			dwcp_dgram_frag(&pl, i, &off, &len);
			cr_assert_eq(off, sum);
			cr_assert(len > 0 && len <= per4);
			sum += len;
		}
		cr_assert_eq(sum, total);
	}
	cr_expect_eq(dwcp_dgram_plan(&pl, MAX_MSG * 4, DWCP_DGRAM_MIN_FRAG), -EMSGSIZE);
}

/* ---- the rate controller ---- */

Test(dgram, the_rate_rises_on_a_clean_path_and_falls_under_loss_and_delay)
{
	struct dwcp_dgram_rate r;
	uint64_t now = 0;
	double before;

	dwcp_dgram_rate_init(&r, 1e8, 1e6, 1e10, 0);
	for (unsigned i = 0; i < 200; i++, now += 100 * US)
		dwcp_dgram_rate_on_rtt(&r, 100 * US, now);
	cr_expect_gt(r.rate, 1e9, "no increase on a clean path: %.0f", r.rate);
	before = r.rate;
	dwcp_dgram_rate_on_loss(&r, now);
	cr_expect_leq(r.rate, before * 0.5 + 1, "a loss did not cut the rate");
	before = r.rate;
	dwcp_dgram_rate_on_loss(&r, now + 1 * US);
	cr_expect_eq(r.rate, before, "two cuts in one RTT");
	/* The delay climbs above base + headroom: the rate falls, RTT after RTT. */
	now += 10 * MS;
	before = r.rate;
	for (unsigned i = 0; i < 20; i++, now += 10 * MS)
		dwcp_dgram_rate_on_rtt(&r, (5000 + 500 * i) * US, now);
	cr_expect_lt(r.rate, before * 0.5, "rising delay and the rate holds: %.0f from %.0f", r.rate, before);
	cr_expect_geq(r.rate, r.min_rate);
}

Test(dgram, pacing_holds_the_rate)
{
	struct dwcp_dgram_rate r;
	uint64_t now = 0, sent = 0;

	dwcp_dgram_rate_init(&r, 1e8, 1e6, 1e10, 0);   /* 100 MB/s */
	for (; now < 1000 * MS; now += 10 * US)
		while (dwcp_dgram_rate_take(&r, now, 1500))
			sent += 1500;
	cr_expect_leq(sent, (uint64_t)(1e8 + r.burst), "%llu bytes in 1 s at 100 MB/s", (unsigned long long)sent);
	cr_expect_geq(sent, (uint64_t)(1e8 * 0.99));
	while (dwcp_dgram_rate_take(&r, now, 1500))
		;
	cr_expect_gt(dwcp_dgram_rate_next_ns(&r, now, 1500), now, "an empty bucket says go");
}
