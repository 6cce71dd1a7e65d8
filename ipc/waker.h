/* Waker threads: a service with I/O of its own (svc-net's sockets,
 * svc-rdma's rdma_cm and completion channels) runs a thread blocked in
 * epoll_wait on those fds, which records what fired (the service's
 * on_event) and wakes the service's loop: it raises the loop's pending
 * flag (svc_runtime.h: pending) and notifies the slot's futex word, so no
 * event is lost between the loop's last look and its sleep.
 */
#ifndef DWCP_IPC_WAKER_H
#define DWCP_IPC_WAKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ipc/shm.h"

/* epoll data of the fd that tells a waker thread to return */
#define DWCP_WAKER_STOP_ID UINT64_MAX

struct dwcp_waker {
	int epfd;                        /* the set it waits on (the service's) */
	/* Record @p events of the fd added with epoll data @p id, for the
	 * loop to take (atomics: it runs on the waker thread). */
	void (*on_event)(void *arg, uint64_t id, uint32_t events);
	void *arg;
	uint32_t *pending;               /* the loop's "do not sleep" flag */
	const struct dwcp_shm *shm;
	unsigned slot;                   /* the service's slot: its futex word is woken */
	pthread_t th;
	bool running;
};

/** Start the thread of @p w (its fields set). @return 0 or -errno. */
int dwcp_waker_start(struct dwcp_waker *w);

/**
 * End the thread of @p w if it runs: an always readable fd tagged
 * DWCP_WAKER_STOP_ID joins its set, and the thread returns when it sees
 * it (cancelled instead if the fd cannot be made).
 */
void dwcp_waker_end(struct dwcp_waker *w);

#endif
