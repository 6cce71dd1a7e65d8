/* Asserting helpers of the transfer tests that run a node pair and check
 * what an operator checks: a transfer arrives bit-identical, a service's
 * figure in status, every pool buffer free afterwards. Header-only, since
 * they assert with Criterion: include it after <criterion/criterion.h>. */
#ifndef DWCP_TESTS_XFER_ASSERT_H
#define DWCP_TESTS_XFER_ASSERT_H

#include <string.h>

#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

/* `dwcp recv` of @p stream into @p out on B, then `dwcp send` of @p src from A. */
static inline void xa_start_transfer(const struct dwcp_xfer_pair *pair, struct dwcp_xfer_proc *snd,
				     struct dwcp_xfer_proc *rcv, const char *stream, const char *src,
				     const char *out, const char *const *send_extra)
{
	int rc;

	dwcp_xfer_proc_free(snd);
	dwcp_xfer_proc_free(rcv);
	rc = dwcp_xfer_recv_start(rcv, NULL, pair->b.instance, stream, out, 300);
	cr_assert_eq(rc, 0, "cannot start dwcp recv: %s", strerror(-rc));
	rc = dwcp_xfer_send_start(snd, pair->a.instance, stream, src, pair->addr_b, 60, send_extra);
	cr_assert_eq(rc, 0, "cannot start dwcp send: %s", strerror(-rc));
}

/* Both commands exit 0 and @p out is bit-identical to @p src. */
static inline void xa_finish_transfer(const struct dwcp_xfer_pair *pair, struct dwcp_xfer_proc *snd,
				      struct dwcp_xfer_proc *rcv, const char *src, const char *out)
{
	char h_src[65], h_out[65];
	int rs = dwcp_xfer_wait(snd, 300000u);
	int rr = dwcp_xfer_wait(rcv, rs == 0 ? 60000u : 300000u);

	if (rs != 0 || rr != 0) {
		dwcp_xfer_print(snd);
		dwcp_xfer_print(rcv);
		dwcp_xfer_pair_dump(pair, "transfer failed");
	}
	cr_assert_eq(rs, 0, "dwcp send exited %d: %s", rs, snd->err);
	cr_assert_eq(rr, 0, "dwcp recv exited %d: %s", rr, rcv->err);
	cr_assert_eq(dwcp_xfer_sha256(src, h_src), 0, "cannot read %s", src);
	cr_assert_eq(dwcp_xfer_sha256(out, h_out), 0, "no file at the sink: %s", out);
	cr_assert_str_eq(h_out, h_src, "%s differs from %s", out, src);
}

/* A number of service (or worker) @p svc in @p inst's status. */
static inline double xa_num(const char *inst, const char *svc, const char *field)
{
	cJSON *st = dwcp_test_status(inst, NULL);
	double v;

	cr_assert_not_null(st, "%s does not answer status", inst);
	v = dwcp_test_svc_num(st, svc, field);
	cJSON_Delete(st);
	return v;
}

/* Every pool buffer of both nodes free again (within 30 s): nothing leaked. */
static inline void xa_expect_pools_full(const struct dwcp_xfer_pair *pair)
{
	long fa = dwcp_test_wait_pool_full(pair->a.instance, 30000);
	long fb = dwcp_test_wait_pool_full(pair->b.instance, 30000);
	cJSON *st = dwcp_test_status(pair->a.instance, NULL);
	long na = dwcp_test_pool_buffers(st);

	cJSON_Delete(st);
	cr_expect_eq(fa, na, "sender: %ld of %ld buffers free: leaked", fa, na);
	cr_expect_eq(fb, na, "receiver: %ld of %ld buffers free: leaked", fb, na);
}

#endif
