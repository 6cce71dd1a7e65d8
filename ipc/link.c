/* The slow half of the link: futex wakeups and resets. The fast path is
 * inline in link.h. */
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <rte_pause.h>

#include "common/timeutil.h"
#include "ipc/link.h"

/* Shared (not FUTEX_PRIVATE) futexes: the word lives in a hugetlbfs
 * mapping shared between processes. */
static long futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

int dwcp_link_notify(const struct dwcp_shm *shm, unsigned dst)
{
	struct dwcp_slot *s = &shm->ctl->slots[dst];

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&s->sleeping, __ATOMIC_RELAXED))
		return 0;
	__atomic_fetch_add(&s->wake_seq, 1, __ATOMIC_RELEASE);
	futex(&s->wake_seq, FUTEX_WAKE, 1, NULL);
	return 1;
}

int dwcp_link_wait(const struct dwcp_shm *shm, unsigned slot, uint64_t timeout_ns,
		   int (*has_input)(void *arg), void *arg)
{
	struct dwcp_slot *s = &shm->ctl->slots[slot];
	uint32_t seq = __atomic_load_n(&s->wake_seq, __ATOMIC_ACQUIRE);
	struct timespec ts = {
		.tv_sec = (time_t)(timeout_ns / 1000000000ull),
		.tv_nsec = (long)(timeout_ns % 1000000000ull),
	};
	int slept = 0;

	__atomic_store_n(&s->sleeping, 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!has_input(arg)) {
		/* EAGAIN (seq moved), EINTR and ETIMEDOUT all just return. */
		futex(&s->wake_seq, FUTEX_WAIT, seq, &ts);
		slept = 1;
	}
	__atomic_store_n(&s->sleeping, 0, __ATOMIC_RELAXED);
	return slept;
}

int dwcp_link_wait_spin(const struct dwcp_shm *shm, unsigned slot, uint64_t timeout_ns,
			uint64_t spin_ns, int (*has_input)(void *arg), void *arg)
{
	const uint64_t t0 = spin_ns ? dwcp_now_ns() : 0;
	uint64_t spent = 0;

	if (spin_ns > timeout_ns)
		spin_ns = timeout_ns;
	while (spent < spin_ns) {
		if (has_input(arg))
			return 0;
		rte_pause();
		spent = dwcp_now_ns() - t0;
	}
	return dwcp_link_wait(shm, slot, spent < timeout_ns ? timeout_ns - spent : 0, has_input, arg);
}

/* Modelled in tests/model/handoff.pml (died: reset) and tests/model/proto.pml (reclaim). */
void dwcp_link_reset_producer(const struct dwcp_shm *shm, unsigned src, unsigned dst)
{
	struct rte_ring *r = dwcp_shm_link(shm, src, dst);

	__atomic_store_n(&r->prod.head, __atomic_load_n(&r->prod.tail, __ATOMIC_ACQUIRE),
			 __ATOMIC_RELEASE);
}

/* Modelled in tests/model/handoff.pml (died: reset), tests/model/proto.pml (reclaim)
 * and tests/model/clientdeath.pml (client: discard_stale_inputs). */
void dwcp_link_reset_consumer(const struct dwcp_shm *shm, unsigned src, unsigned dst)
{
	struct rte_ring *r = dwcp_shm_link(shm, src, dst);

	__atomic_store_n(&r->cons.head, __atomic_load_n(&r->cons.tail, __ATOMIC_ACQUIRE),
			 __ATOMIC_RELEASE);
}
