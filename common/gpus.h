/* The GPUs this host has, as the supervisor counts them to size svc-gpu's
 * workers ([gpu] workers = auto: one per GPU). */
#ifndef DWCP_COMMON_GPUS_H
#define DWCP_COMMON_GPUS_H

/**
 * NVIDIA GPUs the driver lists (/proc/driver/nvidia/gpus, one directory
 * each); 0 without the driver. Read from /proc rather than asked of
 * libcuda: the supervisor loads no GPU driver into itself.
 */
unsigned dwcp_gpus_present(void);

#endif
