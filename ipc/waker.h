/* Waker threads: a service with I/O of its own (svc-net's sockets,
 * svc-rdma's rdma_cm and completion channels) runs a thread blocked in
 * epoll_wait on those fds, which records what fired and wakes the
 * service's loop (svc_runtime.h: pending). This is how such a thread ends.
 */
#ifndef DWCP_IPC_WAKER_H
#define DWCP_IPC_WAKER_H

#include <pthread.h>
#include <stdint.h>

/* epoll data of the fd that tells a waker thread to return */
#define DWCP_WAKER_STOP_ID UINT64_MAX

/**
 * End waker thread @p th, blocked in epoll_wait on @p epfd: an always
 * readable fd tagged DWCP_WAKER_STOP_ID joins its set, and the thread
 * returns when it sees it (cancelled instead if the fd cannot be made).
 */
void dwcp_waker_stop(int epfd, pthread_t th);

#endif
