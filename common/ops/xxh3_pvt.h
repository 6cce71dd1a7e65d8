/* Entry points of the xxh3 code paths, seen only by common/ops/xxh3*.c and
 * their tests; everyone else goes through struct dwcp_xxh3_impl. */
#ifndef DWCP_COMMON_OPS_XXH3_PVT_H
#define DWCP_COMMON_OPS_XXH3_PVT_H

#include <stddef.h>
#include <stdint.h>

#include "common/ops/xxh3.h"

uint64_t dwcp_xxh3_64_avx2(const void *buf, size_t len, uint64_t seed);
struct dwcp_xxh3_128 dwcp_xxh3_128_avx2(const void *buf, size_t len, uint64_t seed);

#endif
