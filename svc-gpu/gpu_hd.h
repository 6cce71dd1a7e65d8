/* DWCP_GPU_HD: a function the math headers (crc32c_math.h, gcm_math.h,
 * lz4_math.h) compile both as CUDA device code and as C, so the host tests
 * run the very source a kernel runs. */
#ifndef DWCP_SVC_GPU_GPU_HD_H
#define DWCP_SVC_GPU_GPU_HD_H

#ifdef __CUDACC__
#define DWCP_GPU_HD __host__ __device__ static inline
#else
#define DWCP_GPU_HD static inline
#endif

#endif
