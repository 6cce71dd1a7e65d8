/* [supervisor] client_slots_per_pid: the cap on client slots one process
 * may hold (svc-supervisor/control.c). Default 2, 1..9 (the node has 9
 * client slots), refused out of range with the key and the range named.
 * Apart from config_test.c so that keys added in parallel do not meet in
 * one file. */
#include <string.h>

#include <criterion/criterion.h>

#include "common/config.h"

static int parse(struct dwcp_config *c, const char *text, struct dwcp_err *e)
{
	memset(e, 0, sizeof(*e));
	dwcp_config_defaults(c);
	return dwcp_config_parse(c, text, "t.ini", e);
}

Test(config_sup, client_slots_per_pid_default_and_range)
{
	struct dwcp_config c;
	struct dwcp_err e;

	cr_assert_eq(parse(&c, "", &e), 0, "%s", e.msg);
	cr_assert_eq(c.client_slots_per_pid, 2u, "default %u", c.client_slots_per_pid);
	cr_assert_eq(parse(&c, "[supervisor]\nclient_slots_per_pid = 9\n", &e), 0, "%s", e.msg);
	cr_assert_eq(c.client_slots_per_pid, 9u);
	cr_assert_eq(parse(&c, "[supervisor]\nclient_slots_per_pid = 1\n", &e), 0, "%s", e.msg);
	cr_assert_eq(c.client_slots_per_pid, 1u);
	cr_assert_neq(parse(&c, "[supervisor]\nclient_slots_per_pid = 0\n", &e), 0);
	cr_assert(strstr(e.msg, "client_slots_per_pid") && strstr(e.msg, "1..9"), "%s", e.msg);
	cr_assert_neq(parse(&c, "[supervisor]\nclient_slots_per_pid = 10\n", &e), 0);
	cr_assert(strstr(e.msg, "1..9"), "%s", e.msg);
}
