/* What a hung service was doing when the supervisor gave up on it.
 *
 * A missed heartbeat ends in SIGKILL, and with it every trace of where
 * the service was stuck. Before the kill the supervisor reads, for each
 * of the process's threads, its state, the system call it is in and the
 * top of its kernel stack from /proc, and logs them with the kill: a
 * service stalled inside a driver (a verbs call on rxe, a CUDA ioctl)
 * names the driver's function; one spinning in user space shows state R
 * and "running". */
#ifndef DWCP_SUP_HANG_REPORT_H
#define DWCP_SUP_HANG_REPORT_H

#include <stddef.h>
#include <sys/types.h>

/* Threads described at most; a service has a handful. */
#define SUP_HANG_MAX_THREADS 8

/* Describe the threads of process @p pid under @p proc_root ("/proc")
 * into @p out (always NUL-terminated, cut at @p n), one
 * "tid comm state in-syscall kernel-frames" clause per thread, "; "
 * between them. @return the number of threads described, or a negative
 * errno when the process's task directory cannot be read. */
int sup_hang_describe(const char *proc_root, pid_t pid, char *out, size_t n);

#endif
