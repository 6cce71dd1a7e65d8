/* The CRC32C load client (crcload.h). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/ops/crc32c.h"
#include "ipc/client.h"
#include "tests/lib/crcload.h"

#define BURST 32u

static size_t block_size(uint64_t n_max)
{
	return sizeof(struct dwcp_crcload) + (size_t)((n_max + 63) / 64) * sizeof(uint64_t);
}

struct dwcp_crcload *dwcp_crcload_map(uint64_t n_max)
{
	struct dwcp_crcload *l = mmap(NULL, block_size(n_max), PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (l == MAP_FAILED)
		return NULL;
	l->n_max = n_max;
	return l;
}

void dwcp_crcload_unmap(struct dwcp_crcload *l)
{
	if (l)
		munmap(l, block_size(l->n_max));
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void bump(uint64_t *p)
{
	__atomic_fetch_add(p, 1, __ATOMIC_RELAXED);
}

/* Payload and descriptor of sequence number @p seq; @return its CRC32C. */
static uint32_t fill(struct dwcp_crcload *l, struct dwcp_client *c, uint32_t idx, uint64_t seq)
{
	const uint16_t step = dwcp_prog_step(l->step_slot, DWCP_OP_CRC32C);
	struct dwcp_buf_hdr *h = dwcp_client_hdr(c, idx);
	uint64_t s = seq * 0x9e3779b97f4a7c15ull + 1, *d = dwcp_client_data(c, idx);
	uint32_t len = 64 + (uint32_t)(xorshift(&s) % 449);

	for (uint32_t i = 0; i < (len + 7) / 8; i++)
		d[i] = xorshift(&s);
	h->stream = l->stream;
	h->seq = seq;
	h->len = len;
	dwcp_client_set_prog(c, idx, &step, 1);
	return dwcp_crc32c(0, d, len);
}

static void record_bad(struct dwcp_crcload *l, const struct dwcp_buf_hdr *h, const char *what,
		       uint64_t *counter)
{
	bump(counter);
	if (l->have_bad)
		return;
	l->bad_hdr = *h;
	snprintf(l->bad_what, sizeof(l->bad_what), "%s", what);
	__atomic_store_n(&l->have_bad, 1, __ATOMIC_RELEASE);
}

/* One delivered buffer: check it, mark it, free it. @return 1 if it was
 * one of ours (our stream, a sequence number we can have sent). */
static int check(struct dwcp_crcload *l, struct dwcp_client *c, uint32_t idx,
		 const uint32_t *expect)
{
	const struct dwcp_buf_hdr *h = dwcp_client_hdr(c, idx);
	uint64_t seq = h->seq, bit;
	int ours = seq < l->target && h->stream == l->stream;

	if (h->redeliveries)
		bump(&l->redelivered);
	if (seq >= l->target) {
		record_bad(l, h, "sequence number out of range", &l->bad_seq);
	} else if (h->stream != l->stream) {
		record_bad(l, h, "wrong stream", &l->bad_stream);
	} else if (h->status != DWCP_BUF_OK) {
		record_bad(l, h, "status not OK", &l->bad_status);
	} else if (h->result != expect[seq]) {
		record_bad(l, h, "wrong CRC result", &l->wrong_crc);
	} else if (dwcp_crc32c(0, dwcp_client_data(c, idx), h->len) != expect[seq]) {
		record_bad(l, h, "payload changed", &l->wrong_payload);
	} else {
		bit = 1ull << (seq % 64);
		if (__atomic_fetch_or(&l->done[seq / 64], bit, __ATOMIC_RELAXED) & bit)
			record_bad(l, h, "delivered twice", &l->duplicates);
		else
			bump(&l->completed);
	}
	dwcp_client_free(c, idx);
	return ours;
}

__attribute__((noreturn))
static void client_fail(struct dwcp_crcload *l, const char *fmt, const char *msg)
{
	snprintf(l->err, sizeof(l->err), fmt, msg);
	__atomic_store_n(&l->phase, DWCP_CRCLOAD_FAILED, __ATOMIC_RELEASE);
	_exit(2);
}

/* Allocate, fill and submit up to the window; @return buffers submitted. */
static unsigned top_up(struct dwcp_crcload *l, struct dwcp_client *c, uint32_t *pend,
		       unsigned *n_pend, uint64_t *next, uint32_t *expect)
{
	uint64_t limit = __atomic_load_n(&l->allowance, __ATOMIC_ACQUIRE);
	unsigned k;

	if (limit > l->target)
		limit = l->target;
	while (l->in_flight < DWCP_CRCLOAD_WINDOW && *next < limit) {
		uint64_t room = DWCP_CRCLOAD_WINDOW - l->in_flight, left = limit - *next;
		unsigned want = (unsigned)(room < BURST ? room : BURST), got;

		if (want > left)
			want = (unsigned)left;
		got = dwcp_client_alloc(c, pend + *n_pend, want);
		if (!got)
			break;
		for (unsigned i = 0; i < got; i++) {
			expect[*next] = fill(l, c, pend[*n_pend + i], *next);
			(*next)++;
		}
		*n_pend += got;
		l->in_flight += got;
	}
	k = *n_pend ? dwcp_client_submit(c, pend, *n_pend) : 0;
	memmove(pend, pend + k, (*n_pend - k) * sizeof(pend[0]));
	*n_pend -= k;
	l->submitted += k;
	return k;
}

void dwcp_crcload_client_main(struct dwcp_crcload *l, const char *instance, const char *label)
{
	struct dwcp_client c;
	struct dwcp_err err = { 0 };
	uint32_t pend[DWCP_CRCLOAD_WINDOW], got[64];
	uint32_t *expect = malloc(l->n_max * sizeof(uint32_t));
	unsigned n_pend = 0, idle_turns = 0;
	uint64_t next = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (!expect || l->target > l->n_max)
		client_fail(l, "%s", !expect ? "out of memory" : "target beyond n_max");
	if (dwcp_client_open(&c, instance, NULL, label, label, &err))
		client_fail(l, "dwcp_client_open: %s", err.msg);
	__atomic_store_n(&l->phase, DWCP_CRCLOAD_RUNNING, __ATOMIC_RELEASE);
	while (ld(&l->completed) < l->target) {
		unsigned sent = top_up(l, &c, pend, &n_pend, &next, expect);
		unsigned n = dwcp_client_poll(&c, got, 64);

		for (unsigned i = 0; i < n; i++)
			l->in_flight -= (uint64_t)check(l, &c, got[i], expect);
		if (n || sent) {
			idle_turns = 0;
			continue;
		}
		if (++idle_turns % 64 == 0 && dwcp_attach_supervisor_gone(&c.at))
			client_fail(l, "%s", "the supervisor died");
		dwcp_client_wait(&c, 10 * 1000 * 1000);
	}
	__atomic_store_n(&l->phase, DWCP_CRCLOAD_DONE, __ATOMIC_RELEASE);
	_exit(0);
}

uint64_t dwcp_crcload_count_done(const struct dwcp_crcload *l)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < (l->n_max + 63) / 64; i++)
		n += (uint64_t)__builtin_popcountll(ld(&l->done[i]));
	return n;
}

void dwcp_crcload_dump(const struct dwcp_crcload *l, const char *why)
{
	unsigned shown = 0;

	fprintf(stderr, "==== client: %s\n", why);
	if (!l)
		return;
	fprintf(stderr, "phase %d%s%s; submitted %lu, completed %lu (bitmap %lu) of %lu, in flight %lu\n",
		l->phase, l->err[0] ? ": " : "", l->err, ld(&l->submitted), ld(&l->completed),
		dwcp_crcload_count_done(l), l->target, ld(&l->in_flight));
	fprintf(stderr, "wrong crc %lu, wrong payload %lu, bad status %lu, bad seq %lu, bad stream %lu, duplicates %lu, redelivered %lu\n",
		ld(&l->wrong_crc), ld(&l->wrong_payload), ld(&l->bad_status), ld(&l->bad_seq),
		ld(&l->bad_stream), ld(&l->duplicates), ld(&l->redelivered));
	if (__atomic_load_n(&l->have_bad, __ATOMIC_ACQUIRE)) {
		const struct dwcp_buf_hdr *h = &l->bad_hdr;

		fprintf(stderr, "first bad descriptor (%s): owner %#lx stream %#lx seq %lu len %u status %u prog_len %u pc %u prog[0] %#x prog[1] %#x result %#lx redeliveries %u\n",
			l->bad_what, h->owner, h->stream, h->seq, h->len, h->status, h->prog_len,
			h->pc, h->prog[0], h->prog[1], h->result, h->redeliveries);
	}
	fprintf(stderr, "first missing sequence numbers among those submitted:");
	for (uint64_t s = 0; s < ld(&l->submitted) && s < l->n_max && shown < 20; s++)
		if (!(ld(&l->done[s / 64]) & (1ull << (s % 64)))) {
			fprintf(stderr, " %lu", s);
			shown++;
		}
	fprintf(stderr, "%s\n", shown ? "" : " none");
}
