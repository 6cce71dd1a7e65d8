/* Receiver-side reordering (reorder.h): a ring of window slots, slot
 * `head` holding sequence number `next` and slot head + d (mod window)
 * holding next + d. A sequence number has a slot only while
 * 0 <= seq - next < window, so a slot is never claimed by two live
 * sequence numbers and a duplicate is recognised by the sequence number
 * alone (behind next: released already; in range with its slot taken:
 * held already). The slot is found from the distance to next rather than
 * from seq % window because seq % window jumps at the 2^64 wrap unless
 * window is a power of two, which would let two live numbers share a
 * slot. */
#include <errno.h>
#include <stdlib.h>

#include "common/reorder.h"

/* seq - next at or above this is behind next (serial-number order). */
#define REORDER_BEHIND (UINT64_C(1) << 63)

struct dwcp_reorder {
	uint32_t window;
	uint32_t head;              /* slot of st.next */
	struct dwcp_reorder_stats st;
	void *slot[];               /* NULL: empty */
};

struct dwcp_reorder *dwcp_reorder_create(uint32_t window, uint64_t first_seq)
{
	struct dwcp_reorder *r;

	if (window == 0 || window > DWCP_REORDER_WINDOW_MAX) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r) + (size_t)window * sizeof(r->slot[0]));
	if (r == NULL)
		return NULL;
	r->window = window;
	r->st.next = first_seq;
	return r;
}

void dwcp_reorder_destroy(struct dwcp_reorder *r, void (*free_item)(void *ctx, void *item),
			  void *ctx)
{
	if (r == NULL)
		return;
	for (uint32_t i = 0; i < r->window && free_item != NULL; i++)
		if (r->slot[i] != NULL)
			free_item(ctx, r->slot[i]);
	free(r);
}

int dwcp_reorder_put(struct dwcp_reorder *r, uint64_t seq, void *item)
{
	uint64_t d = seq - r->st.next;   /* wraps on purpose */
	uint32_t i;

	if (item == NULL)
		return -EINVAL;
	if (d >= REORDER_BEHIND) {
		r->st.duplicates++;
		return -EALREADY;
	}
	if (d >= r->window) {
		r->st.too_far++;
		return -ENOBUFS;
	}
	/* head < window and d < window <= 2^20: the sum cannot overflow */
	i = r->head + (uint32_t)d;
	if (i >= r->window)
		i -= r->window;
	if (r->slot[i] != NULL) {
		r->st.duplicates++;
		return -EALREADY;
	}
	r->slot[i] = item;
	r->st.held++;
	return 0;
}

void *dwcp_reorder_pop(struct dwcp_reorder *r, uint64_t *seq)
{
	void *item = r->slot[r->head];

	if (item == NULL)
		return NULL;
	r->slot[r->head] = NULL;
	if (seq != NULL)
		*seq = r->st.next;
	if (++r->head == r->window)
		r->head = 0;
	r->st.next++;
	r->st.held--;
	r->st.released++;
	return item;
}

void dwcp_reorder_stats(const struct dwcp_reorder *r, struct dwcp_reorder_stats *out)
{
	*out = r->st;
}
