/* [mem] delta_cache_mb: auto (the default: what [supervisor] hugepage_mb
 * leaves, sized by the supervisor), 0 (no cache) or 1..65536 MiB. "auto"
 * must not read as 0, which is a setting of its own. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/config.h"

static int parse(struct dwcp_config *c, const char *text, struct dwcp_err *e)
{
	memset(e, 0, sizeof(*e));
	dwcp_config_defaults(c);
	return dwcp_config_parse(c, text, "t.ini", e);
}

Test(config_cache, default_is_auto_and_validates)
{
	struct dwcp_config c;
	struct dwcp_err e;

	cr_assert_eq(parse(&c, "", &e), 0, "%s", e.msg);
	cr_expect_eq(c.delta_cache_mb, DWCP_CFG_AUTO, "default is not auto: %u", c.delta_cache_mb);
	cr_assert_eq(dwcp_config_validate(&c, &e), 0, "the defaults do not validate: %s", e.msg);
	cr_assert_eq(parse(&c, "[mem]\ndelta_cache_mb = auto\n", &e), 0, "%s", e.msg);
	cr_expect_eq(c.delta_cache_mb, DWCP_CFG_AUTO);
	cr_assert_eq(dwcp_config_validate(&c, &e), 0, "%s", e.msg);
}

Test(config_cache, zero_is_no_cache_and_a_number_is_taken_as_it_is)
{
	struct dwcp_config c;
	struct dwcp_err e;

	cr_assert_eq(parse(&c, "[mem]\ndelta_cache_mb = 0\n", &e), 0, "%s", e.msg);
	cr_expect_eq(c.delta_cache_mb, 0u);
	cr_assert_eq(parse(&c, "[mem]\ndelta_cache_mb = 16\n", &e), 0, "%s", e.msg);
	cr_expect_eq(c.delta_cache_mb, 16u);
	cr_assert_eq(parse(&c, "[mem]\ndelta_cache_mb = 65536\n", &e), 0, "%s", e.msg);
	cr_expect_eq(c.delta_cache_mb, 65536u);
}

Test(config_cache, out_of_range_is_refused_naming_what_is_accepted)
{
	static const char *const bad[] = { "65537", "4294967295", "-1", "big", "", "Auto" };
	struct dwcp_config c;
	struct dwcp_err e;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[64];

		snprintf(text, sizeof(text), "[mem]\ndelta_cache_mb = %s\n", bad[i]);
		cr_expect_neq(parse(&c, text, &e), 0, "delta_cache_mb = '%s' accepted", bad[i]);
		cr_expect(strstr(e.msg, "[mem] delta_cache_mb") && strstr(e.msg, "auto or an integer in 0..65536"),
			  "delta_cache_mb = '%s': %s", bad[i], e.msg);
	}
}
