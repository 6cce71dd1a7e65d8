/* Waker threads (waker.h). */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ipc/link.h"
#include "ipc/waker.h"

static void *waker_main(void *arg)
{
	struct dwcp_waker *w = arg;
	struct epoll_event ev[64];

	for (;;) {
		int k = epoll_wait(w->epfd, ev, 64, -1);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		for (int i = 0; i < k; i++) {
			if (ev[i].data.u64 == DWCP_WAKER_STOP_ID)
				return NULL;
			w->on_event(w->arg, ev[i].data.u64, ev[i].events);
		}
		__atomic_store_n(w->pending, 1, __ATOMIC_SEQ_CST);
		dwcp_link_notify(w->shm, w->slot);
	}
}

int dwcp_waker_start(struct dwcp_waker *w)
{
	int rc = pthread_create(&w->th, NULL, waker_main, w);

	if (rc)
		return -rc;
	w->running = true;
	return 0;
}

void dwcp_waker_end(struct dwcp_waker *w)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = DWCP_WAKER_STOP_ID };
	int efd;

	if (!w->running)
		return;
	efd = eventfd(1, EFD_CLOEXEC);
	if (efd >= 0 && epoll_ctl(w->epfd, EPOLL_CTL_ADD, efd, &ev) == 0)
		pthread_join(w->th, NULL);
	else
		pthread_cancel(w->th);
	if (efd >= 0)
		close(efd);
	w->running = false;
}
