/* Deterministic data for the benchmarks: one PRNG and one text-like filler,
 * so `bench ops` and `bench transfer` measure on the same kinds of pages. */
#ifndef DWCP_BENCH_DATA_H
#define DWCP_BENCH_DATA_H

#include <stddef.h>
#include <stdint.h>

/** xorshift64; @p s must not be 0. */
uint64_t bench_rand(uint64_t *s);

/** Words from a small vocabulary (what zstd meets in a guest's text pages). */
void bench_fill_text(uint8_t *p, size_t n, uint64_t *s);

/** "VM-like" bytes: of each three 4 KiB pages one zero, one text-like, one random. */
void bench_fill_vm_like(uint8_t *p, size_t n);

#endif
