/* CPU features for run-time SIMD dispatch. Read once with cpuid; the
 * result is a plain value the caller keeps (no global). */
#ifndef DWCP_COMMON_CPU_H
#define DWCP_COMMON_CPU_H

#include <stdbool.h>

struct dwcp_cpu_features {
	bool sse42, avx2, avx512f, avx512bw, aesni, vaes, vpclmulqdq, sha;
};

void dwcp_cpu_detect(struct dwcp_cpu_features *f);

/** CPUs this process may run on (its affinity mask; else the online
 * count; at least 1): what `workers = auto` sizes itself to. */
unsigned dwcp_cpu_usable(void);
/** "avx2 sse4.2 aes ..." into @p buf; returns @p buf. */
const char *dwcp_cpu_describe(const struct dwcp_cpu_features *f, char *buf, unsigned len);

#endif
