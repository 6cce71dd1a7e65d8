/* Code paths of the weak checksum, seen only by common/ops/weaksum*.c and
 * their tests; everyone else goes through struct dwcp_weaksum_impl. */
#ifndef DWCP_COMMON_OPS_WEAKSUM_PVT_H
#define DWCP_COMMON_OPS_WEAKSUM_PVT_H

#include <stdint.h>

#include "common/ops/weaksum.h"

void dwcp_weaksum_page_scalar(const uint8_t *p, struct dwcp_weaksum *s);
/** Only after the CPU was seen to have AVX2. */
void dwcp_weaksum_page_avx2(const uint8_t *p, struct dwcp_weaksum *s);

#endif
