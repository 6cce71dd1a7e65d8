/* Ending a waker thread (waker.h). */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ipc/waker.h"

void dwcp_waker_stop(int epfd, pthread_t th)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = DWCP_WAKER_STOP_ID };
	int efd = eventfd(1, EFD_CLOEXEC);

	if (efd >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, efd, &ev) == 0)
		pthread_join(th, NULL);
	else
		pthread_cancel(th);
	if (efd >= 0)
		close(efd);
}
