/* Weak checksum dispatch and the scalar code path (weaksum.h).
 *
 * The scalar sum uses b = sum over k of (x[0] + ... + x[k]): each byte x[i]
 * is in W - i of those prefix sums, so b needs one add per byte and no
 * multiply. The result is exact without any reduction: a full page gives
 * a <= 255 * 4096 and b <= 255 * 4096 * 4097 / 2 < 2^31.
 */
#include "common/ops/weaksum_pvt.h"

void dwcp_weaksum_page_scalar(const uint8_t *p, struct dwcp_weaksum *s)
{
	uint32_t a = 0, b = 0;

	for (unsigned i = 0; i < DWCP_WEAKSUM_WINDOW; i++) {
		a += p[i];
		b += a;
	}
	*s = (struct dwcp_weaksum){ .a = a, .b = b };
}

void dwcp_weaksum_select(struct dwcp_weaksum_impl *impl, const struct dwcp_cpu_features *cpu)
{
	if (cpu->avx2)
		*impl = (struct dwcp_weaksum_impl){ dwcp_weaksum_page_avx2, "avx2" };
	else
		*impl = (struct dwcp_weaksum_impl){ dwcp_weaksum_page_scalar, "scalar" };
}
