/* Config parser tests. The contract is strictness: every malformed or
 * out-of-range input is refused with -EINVAL and a message that lets an
 * operator fix the file without reading code (origin:line, the key, the
 * value and what is accepted), and nothing silently falls back to a
 * default. So each bad-input class has its own test, and each test prints
 * the message it looked at when it fails. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/config.h"

static int parse(struct dwcp_config *c, const char *text, struct dwcp_err *e)
{
	dwcp_config_defaults(c);
	dwcp_err_clear(e);
	return dwcp_config_parse(c, text, "t.ini", e);
}

/* @p text must fail on @p line with every string in @p needles in the
 * message (NULL-terminated). */
static void expect_bad(const char *text, unsigned line, const char *const *needles)
{
	struct dwcp_config c;
	struct dwcp_err e;
	char where[32];
	int rc = parse(&c, text, &e);

	snprintf(where, sizeof(where), "t.ini:%u:", line);
	cr_assert_eq(rc, -EINVAL, "rc %d for text '%s' (msg '%s')", rc, text, e.msg);
	cr_assert_eq(e.code, -EINVAL, "err.code %d", e.code);
	cr_assert(strncmp(e.msg, where, strlen(where)) == 0, "message lacks '%s': '%s'", where,
		  e.msg);
	for (; *needles != NULL; needles++)
		cr_assert(strstr(e.msg, *needles) != NULL, "message lacks '%s': '%s'", *needles,
			  e.msg);
}

#define EXPECT_BAD(text, line, ...) \
	expect_bad((text), (line), (const char *const[]){ __VA_ARGS__, NULL })

static void expect_ok(struct dwcp_config *c, const char *text)
{
	struct dwcp_err e;
	int rc = parse(c, text, &e);

	cr_assert_eq(rc, 0, "rc %d for '%s': %s", rc, text, e.msg);
}

/* Write @p len bytes to a fresh temp file; @p path (64 bytes) receives
 * its name. */
static void write_temp(char *path, const void *data, size_t len)
{
	int fd;

	snprintf(path, 64, "/tmp/dwcp_cfg_test_XXXXXX");
	fd = mkstemp(path);
	cr_assert(fd >= 0, "mkstemp: %s", strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len, "short write to %s", path);
	close(fd);
}

/* ---- defaults and good input ---- */

Test(config, defaults)
{
	struct dwcp_config c;
	struct dwcp_err e;
	static const char *const all[] = {
		"svc-net", "svc-rdma", "svc-gpu", "svc-simd", "svc-mem", "svc-prof",
	};

	memset(&c, 0x5A, sizeof(c));
	dwcp_config_defaults(&c);
	cr_assert_str_eq(c.instance, "dwcp");
	cr_assert_eq(c.hugepage_mb, 512u, "hugepage_mb %u", c.hugepage_mb);
	cr_assert_str_eq(c.huge_dir, "/dev/hugepages");
	cr_assert_str_eq(c.run_dir, "/run/dwcp");
	cr_assert_str_eq(c.bin_dir, "");
	cr_assert_eq(c.heartbeat_ms, 100u, "heartbeat_ms %u", c.heartbeat_ms);
	cr_assert_eq(c.heartbeat_timeout_ms, 1000u, "heartbeat_timeout_ms %u",
		     c.heartbeat_timeout_ms);
	cr_assert_eq(c.init_timeout_ms, 10000u, "init_timeout_ms %u", c.init_timeout_ms);
	cr_assert_eq(c.backoff_ms, 100u, "backoff_ms %u", c.backoff_ms);
	cr_assert_eq(c.backoff_max_ms, 5000u, "backoff_max_ms %u", c.backoff_max_ms);
	cr_assert_eq(c.pool_buffers, 1024u, "pool_buffers %u", c.pool_buffers);
	cr_assert_eq(c.pool_buf_size, 266240u, "pool_buf_size %u", c.pool_buf_size);
	cr_assert_eq(c.link_depth, 1024u, "link_depth %u", c.link_depth);
	cr_assert_eq(c.spin_us, dwcp_config_spin_default((unsigned)sysconf(_SC_NPROCESSORS_ONLN)),
		     "spin_us %u", c.spin_us);
	cr_assert_eq(dwcp_config_spin_default(2), 0u, "a 2-core host spins");
	cr_assert_eq(dwcp_config_spin_default(16), 50u, "a 16-core host does not spin");
	cr_assert_eq(c.poll_mode, false);
	cr_assert_eq(c.n_services, 6u, "n_services %u", c.n_services);
	for (unsigned i = 0; i < 6; i++)
		cr_assert_str_eq(c.services[i], all[i]);
	cr_assert_str_eq(c.key_file, "");
	cr_assert_eq(dwcp_config_validate(&c, &e), 0, "defaults invalid: %s", e.msg);
}

Test(config, empty_text_keeps_defaults)
{
	struct dwcp_config c, d;

	expect_ok(&c, "");
	dwcp_config_defaults(&d);
	cr_assert(memcmp(&c, &d, sizeof(c)) == 0, "empty text changed the config");
}

Test(config, every_key_parsed)
{
	struct dwcp_config c;

	expect_ok(&c,
		  "[supervisor]\n"
		  "instance = nodeB_2-x\n"
		  "hugepage_mb = 2048\n"
		  "huge_dir = /mnt/huge\n"
		  "run_dir = /tmp/run\n"
		  "bin_dir = /opt/dwcp/bin\n"
		  "heartbeat_ms = 20\n"
		  "heartbeat_timeout_ms = 90\n"
		  "init_timeout_ms = 100\n"
		  "restart_backoff_ms = 7\n"
		  "restart_backoff_max_ms = 600000\n"
		  "[pool]\n"
		  "buffers = 1048576\n"
		  "buf_size = 8192\n"
		  "[link]\n"
		  "depth = 64\n"
		  "[runtime]\n"
		  "spin_us = 0\n"
		  "poll_mode = yes\n"
		  "[services]\n"
		  "enable = svc-simd, svc-net\n"
		  "[crypto]\n"
		  "key_file = /etc/dwcp/node.key\n");
	cr_assert_str_eq(c.instance, "nodeB_2-x");
	cr_assert_eq(c.hugepage_mb, 2048u, "hugepage_mb %u", c.hugepage_mb);
	cr_assert_str_eq(c.huge_dir, "/mnt/huge");
	cr_assert_str_eq(c.run_dir, "/tmp/run");
	cr_assert_str_eq(c.bin_dir, "/opt/dwcp/bin");
	cr_assert_eq(c.heartbeat_ms, 20u, "heartbeat_ms %u", c.heartbeat_ms);
	cr_assert_eq(c.heartbeat_timeout_ms, 90u, "heartbeat_timeout_ms %u", c.heartbeat_timeout_ms);
	cr_assert_eq(c.init_timeout_ms, 100u, "init_timeout_ms %u", c.init_timeout_ms);
	cr_assert_eq(c.backoff_ms, 7u, "backoff_ms %u", c.backoff_ms);
	cr_assert_eq(c.backoff_max_ms, 600000u, "backoff_max_ms %u", c.backoff_max_ms);
	cr_assert_eq(c.pool_buffers, 1048576u, "pool_buffers %u", c.pool_buffers);
	cr_assert_eq(c.pool_buf_size, 8192u, "pool_buf_size %u", c.pool_buf_size);
	cr_assert_eq(c.link_depth, 64u, "link_depth %u", c.link_depth);
	cr_assert_eq(c.spin_us, 0u, "spin_us %u", c.spin_us);
	cr_assert_eq(c.poll_mode, true);
	cr_assert_eq(c.n_services, 2u, "n_services %u", c.n_services);
	cr_assert_str_eq(c.services[0], "svc-simd");
	cr_assert_str_eq(c.services[1], "svc-net");
	cr_assert_str_eq(c.key_file, "/etc/dwcp/node.key");
}

Test(config, booleans)
{
	static const char *const t[] = { "true", "yes", "on", "1" };
	static const char *const f[] = { "false", "no", "off", "0" };
	struct dwcp_config c;
	char text[64];

	for (int i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), "[runtime]\npoll_mode = %s\n", t[i]);
		expect_ok(&c, text);
		cr_assert_eq(c.poll_mode, true, "'%s' parsed as false", t[i]);
		c.poll_mode = true;
		snprintf(text, sizeof(text), "[runtime]\npoll_mode = %s\n", f[i]);
		cr_assert_eq(dwcp_config_parse(&c, text, "t.ini", NULL), 0, "'%s' rejected", f[i]);
		cr_assert_eq(c.poll_mode, false, "'%s' parsed as true", f[i]);
	}
}

Test(config, size_suffixes)
{
	struct dwcp_config c;

	expect_ok(&c, "[pool]\nbuf_size = 64K\n");
	cr_assert_eq(c.pool_buf_size, 65536u, "64K -> %u", c.pool_buf_size);
	expect_ok(&c, "[pool]\nbuf_size = 16M\n");
	cr_assert_eq(c.pool_buf_size, 16777216u, "16M -> %u", c.pool_buf_size);
	expect_ok(&c, "[pool]\nbuf_size = 4096\n");
	cr_assert_eq(c.pool_buf_size, 4096u, "4096 -> %u", c.pool_buf_size);
}

Test(config, comments_and_whitespace)
{
	struct dwcp_config c;

	expect_ok(&c,
		  "# whole-line comment\n"
		  "; another\n"
		  "   # indented comment\n"
		  "\n"
		  "\t[ pool ]   # after a header\r\n"
		  "  buffers\t=\t128   ; trailing\r\n"
		  "\n"
		  "[supervisor]\n"
		  "huge_dir = /mnt/huge#1 # a '#' inside a word is kept\n"
		  "[services]\n"
		  "enable =   svc-net ,svc-gpu  \n"
		  "   \n");
	cr_assert_eq(c.pool_buffers, 128u, "buffers %u", c.pool_buffers);
	cr_assert_str_eq(c.huge_dir, "/mnt/huge#1");
	cr_assert_eq(c.n_services, 2u, "n_services %u", c.n_services);
	cr_assert_str_eq(c.services[0], "svc-net");
	cr_assert_str_eq(c.services[1], "svc-gpu");
}

Test(config, empty_service_list_runs_none)
{
	struct dwcp_config c;
	struct dwcp_err e;

	expect_ok(&c, "[services]\nenable =\n");
	cr_assert_eq(c.n_services, 0u, "n_services %u", c.n_services);
	cr_assert_eq(dwcp_config_validate(&c, &e), 0, "%s", e.msg);
}

Test(config, later_parse_layers_on_top)
{
	struct dwcp_config c;

	expect_ok(&c, "[pool]\nbuffers = 128\n");
	cr_assert_eq(dwcp_config_parse(&c, "[link]\ndepth = 2048\n", "b.ini", NULL), 0);
	cr_assert_eq(c.pool_buffers, 128u, "first layer lost: %u", c.pool_buffers);
	cr_assert_eq(c.link_depth, 2048u, "depth %u", c.link_depth);
}

Test(config, longest_line_accepted)
{
	static char text[8192];
	struct dwcp_config c;

	memset(text, 'x', 4096);
	text[0] = '#';
	text[4096] = '\n';
	text[4097] = '\0';
	expect_ok(&c, text);
}

/* ---- each class of bad input ---- */

Test(config, bad_not_a_number)
{
	EXPECT_BAD("[pool]\nbuffers = abc\n", 2, "[pool] buffers", "'abc'", "64..1048576");
	EXPECT_BAD("[pool]\nbuffers = 128x\n", 2, "buffers", "'128x'");
	EXPECT_BAD("[pool]\nbuffers = 0x100\n", 2, "buffers", "'0x100'");
	EXPECT_BAD("[pool]\nbuffers = -128\n", 2, "buffers", "'-128'");
	EXPECT_BAD("[pool]\nbuffers = +128\n", 2, "buffers", "'+128'");
	EXPECT_BAD("[pool]\nbuffers = 1 28\n", 2, "buffers", "'1 28'");
	EXPECT_BAD("[pool]\nbuffers =\n", 2, "buffers", "''");
	EXPECT_BAD("[pool]\nbuf_size = 4k\n", 2, "buf_size", "'4k'", "K, M or G");
	EXPECT_BAD("[pool]\nbuf_size = 4KB\n", 2, "buf_size", "'4KB'");
}

Test(config, bad_out_of_range)
{
	EXPECT_BAD("[pool]\nbuffers = 63\n", 2, "[pool] buffers", "'63'", "64..1048576");
	EXPECT_BAD("[pool]\nbuffers = 1048577\n", 2, "buffers", "'1048577'");
	EXPECT_BAD("[supervisor]\nhugepage_mb = 99999999999999999999999\n", 2, "hugepage_mb",
		   "64..65536");
	EXPECT_BAD("[supervisor]\nheartbeat_ms = 4294967306\n", 2, "heartbeat_ms", "10..10000");
	EXPECT_BAD("[supervisor]\ninit_timeout_ms = 99\n", 2, "init_timeout_ms", "100..600000");
	EXPECT_BAD("[supervisor]\nrestart_backoff_ms = 0\n", 2, "restart_backoff_ms", "1..60000");
	EXPECT_BAD("[runtime]\nspin_us = 1000001\n", 2, "spin_us", "0..1000000");
	EXPECT_BAD("[pool]\nbuf_size = 1G\n", 2, "buf_size", "'1G'", "4096..16777216");
	EXPECT_BAD("[pool]\nbuf_size = 17179869184G\n", 2, "buf_size");
	EXPECT_BAD("[pool]\nbuf_size = 4100\n", 2, "buf_size", "'4100'", "multiple of 4096");
}

Test(config, bad_link_depth_not_power_of_two)
{
	EXPECT_BAD("[link]\ndepth = 1000\n", 2, "[link] depth", "'1000'", "power of two",
		   "64..1048576");
	EXPECT_BAD("[link]\ndepth = 32\n", 2, "depth", "'32'");
	EXPECT_BAD("[link]\ndepth = 2097152\n", 2, "depth", "'2097152'");
}

Test(config, bad_bool)
{
	EXPECT_BAD("[runtime]\npoll_mode = maybe\n", 2, "[runtime] poll_mode", "'maybe'",
		   "true, false, yes, no, on, off, 1 or 0");
	EXPECT_BAD("[runtime]\npoll_mode = TRUE\n", 2, "poll_mode", "'TRUE'");
	EXPECT_BAD("[runtime]\npoll_mode = 2\n", 2, "poll_mode", "'2'");
}

Test(config, bad_unknown_key_lists_valid_keys)
{
	EXPECT_BAD("[pool]\n\nbuffer = 128\n", 3, "buffer", "[pool]", "buffers, buf_size");
	EXPECT_BAD("[supervisor]\nInstance = x\n", 2, "Instance", "instance, hugepage_mb",
		   "restart_backoff_max_ms");
}

Test(config, bad_unknown_section)
{
	EXPECT_BAD("# c\n[pools]\nbuffers = 128\n", 2, "[pools]", "[supervisor]", "[pool]",
		   "[services]", "[crypto]");
	EXPECT_BAD("[]\n", 1, "[]");
}

Test(config, bad_line_without_equals)
{
	EXPECT_BAD("[pool]\nbuffers 4096\n", 2, "[pool]", "'buffers 4096'", "key = value");
	EXPECT_BAD("[pool]\n= 4096\n", 2, "[pool]", "missing the key");
}

Test(config, bad_key_outside_section)
{
	EXPECT_BAD("\nbuffers = 128\n", 2, "'buffers'", "outside any section");
}

Test(config, bad_missing_bracket)
{
	EXPECT_BAD("[supervisor]\ninstance = a\n[pool\nbuffers = 128\n", 3, "'[pool'", "']'");
	EXPECT_BAD("[pool] x\n", 1, "'[pool] x'", "']'");
}

Test(config, bad_too_long_line)
{
	static char text[8192];
	size_t n;

	n = (size_t)snprintf(text, sizeof(text), "[supervisor]\nhuge_dir = /");
	memset(text + n, 'a', 5000);
	text[n + 5000] = '\0';
	EXPECT_BAD(text, 2, "[supervisor]", "huge_dir = /aaa", "at most 4096");

	memset(text, 'x', 4097);   /* a 4097-character comment is still too long */
	text[0] = '#';
	text[4097] = '\0';
	EXPECT_BAD(text, 1, "4097 characters");
}

Test(config, bad_duplicate_service)
{
	EXPECT_BAD("[services]\nenable = svc-net, svc-gpu, svc-net\n", 2, "[services] enable",
		   "svc-net listed twice");
}

Test(config, bad_service_name)
{
	EXPECT_BAD("[services]\nenable = svc-net, svc-foo\n", 2, "[services] enable",
		   "unknown service 'svc-foo'", "svc-rdma", "svc-prof");
	EXPECT_BAD("[services]\nenable = svc-net,,svc-gpu\n", 2, "enable", "empty entry");
	EXPECT_BAD("[services]\nenable = svc-net,\n", 2, "enable", "empty entry");
	EXPECT_BAD("[services]\nenable = SVC-NET\n", 2, "enable", "'SVC-NET'");
}

Test(config, bad_service_list_leaves_previous_list)
{
	struct dwcp_config c;

	dwcp_config_defaults(&c);
	cr_assert_eq(dwcp_config_parse(&c, "[services]\nenable = svc-gpu, nope\n", "t.ini", NULL),
		     -EINVAL);
	cr_assert_eq(c.n_services, 6u, "half-parsed list committed: n_services %u", c.n_services);
	cr_assert_str_eq(c.services[0], "svc-net");
}

Test(config, bad_instance_name)
{
	EXPECT_BAD("[supervisor]\ninstance = node B\n", 2, "[supervisor] instance", "'node B'",
		   "A-Z a-z 0-9 _ -");
	EXPECT_BAD("[supervisor]\ninstance =\n", 2, "instance", "''");
	EXPECT_BAD("[supervisor]\ninstance = a/b\n", 2, "instance", "'a/b'");
	EXPECT_BAD("[supervisor]\ninstance = abcdefghijabcdefghijabcdefghij12\n", 2, "instance",
		   "1..31");
}

Test(config, bad_path)
{
	static char text[512];
	size_t n = (size_t)snprintf(text, sizeof(text), "[supervisor]\nrun_dir = /");

	memset(text + n, 'r', 255);
	text[n + 255] = '\0';
	EXPECT_BAD(text, 2, "[supervisor] run_dir", "1..255");
	EXPECT_BAD("[supervisor]\nhuge_dir =\n", 2, "huge_dir", "''");
}

/* The key file is read by the services, whose working directory need not
 * be the supervisor's: only an absolute path means the same file to all. */
Test(config, key_file)
{
	struct dwcp_config c;
	struct dwcp_err e;
	static char text[512];
	size_t n;

	expect_ok(&c, "[crypto]\nkey_file =\n");
	cr_assert_str_eq(c.key_file, "");
	expect_ok(&c, "[crypto]\nkey_file = /a#b/k.key # comment\n");
	cr_assert_str_eq(c.key_file, "/a#b/k.key");
	EXPECT_BAD("[crypto]\nkey_file = node.key\n", 2, "[crypto] key_file = 'node.key'",
		   "an absolute path of 0..255 characters");
	EXPECT_BAD("[crypto]\nkey_file = ./node.key\n", 2, "key_file", "absolute");
	EXPECT_BAD("[crypto]\nkey = /k\n", 2, "'key'", "[crypto]", "key_file");
	n = (size_t)snprintf(text, sizeof(text), "[crypto]\nkey_file = /");
	memset(text + n, 'k', 255);
	text[n + 255] = '\0';
	EXPECT_BAD(text, 2, "[crypto] key_file", "0..255");

	dwcp_config_defaults(&c);
	snprintf(c.key_file, sizeof(c.key_file), "rel/k.key");
	cr_assert_eq(dwcp_config_validate(&c, &e), -EINVAL);
	cr_assert(strstr(e.msg, "[crypto] key_file = 'rel/k.key'"), "message: '%s'", e.msg);
}

Test(config, bad_duplicate_key)
{
	EXPECT_BAD("[pool]\nbuffers = 128\n[link]\n[pool]\nbuffers = 256\n", 5, "buffers",
		   "first on line 2");
}

Test(config, error_line_counts_comments_and_blanks)
{
	EXPECT_BAD("# a\n\n; b\n[pool]\n\n  # c\nbuffers = 1\n", 7, "buffers", "'1'");
}

/* ---- instance check ---- */

Test(config, check_instance)
{
	struct dwcp_err e;

	cr_assert_eq(dwcp_config_check_instance("nodeB", &e), 0);
	cr_assert_eq(dwcp_config_check_instance("a", &e), 0);
	cr_assert_eq(dwcp_config_check_instance("A_b-9abcdefghijabcdefghijabcdef", &e), 0,
		     "31 characters refused: %s", e.msg);
	cr_assert_eq(dwcp_config_check_instance("", &e), -EINVAL);
	cr_assert_eq(dwcp_config_check_instance(NULL, &e), -EINVAL);
	cr_assert_eq(dwcp_config_check_instance("A_b-9abcdefghijabcdefghijabcdefg", &e), -EINVAL,
		     "32 characters accepted");
	cr_assert_eq(dwcp_config_check_instance("x.y", &e), -EINVAL);
	cr_assert(strstr(e.msg, "'x.y'") != NULL && strstr(e.msg, "A-Z a-z 0-9 _ -") != NULL,
		  "message: '%s'", e.msg);
}

/* ---- cross-field validation ---- */

Test(config, validate_heartbeat_timeout_vs_period)
{
	struct dwcp_config c;
	struct dwcp_err e;

	dwcp_config_defaults(&c);
	c.heartbeat_ms = 100;
	c.heartbeat_timeout_ms = 300;
	cr_assert_eq(dwcp_config_validate(&c, &e), 0, "exactly 3x refused: %s", e.msg);
	c.heartbeat_timeout_ms = 299;
	cr_assert_eq(dwcp_config_validate(&c, &e), -EINVAL);
	cr_assert(strstr(e.msg, "heartbeat_timeout_ms = 299") && strstr(e.msg, "300"),
		  "message: '%s'", e.msg);
}

Test(config, validate_backoff_max_vs_backoff)
{
	struct dwcp_config c;
	struct dwcp_err e;

	dwcp_config_defaults(&c);
	c.backoff_ms = 500;
	c.backoff_max_ms = 499;
	cr_assert_eq(dwcp_config_validate(&c, &e), -EINVAL);
	cr_assert(strstr(e.msg, "restart_backoff_max_ms = 499") && strstr(e.msg, "500"),
		  "message: '%s'", e.msg);
	c.backoff_max_ms = 500;
	cr_assert_eq(dwcp_config_validate(&c, &e), 0, "equal refused: %s", e.msg);
}

Test(config, validate_fields_set_by_hand)
{
	struct dwcp_config c;
	struct dwcp_err e;

	dwcp_config_defaults(&c);
	c.link_depth = 1000;
	cr_assert_eq(dwcp_config_validate(&c, &e), -EINVAL);
	cr_assert(strstr(e.msg, "[link] depth = 1000") && strstr(e.msg, "power of two"),
		  "message: '%s'", e.msg);

	dwcp_config_defaults(&c);
	snprintf(c.instance, sizeof(c.instance), "bad name");
	cr_assert_eq(dwcp_config_validate(&c, &e), -EINVAL);
	cr_assert(strstr(e.msg, "instance") && strstr(e.msg, "'bad name'"), "message: '%s'", e.msg);

	dwcp_config_defaults(&c);
	snprintf(c.services[3], DWCP_NAME_MAX, "svc-net");
	cr_assert_eq(dwcp_config_validate(&c, &e), -EINVAL);
	cr_assert(strstr(e.msg, "'svc-net' is listed twice"), "message: '%s'", e.msg);

	dwcp_config_defaults(&c);
	c.n_services = DWCP_CFG_MAX_SVCS + 1;
	cr_assert_eq(dwcp_config_validate(&c, &e), -EINVAL, "n_services %u accepted",
		     c.n_services);
}

/* ---- files ---- */

Test(config, load_good_file)
{
	static const char text[] = "[pool]\nbuffers = 256\n[link]\ndepth = 4096\n";
	struct dwcp_config c;
	struct dwcp_err e;
	char path[64];
	int rc;

	write_temp(path, text, sizeof(text) - 1);
	dwcp_config_defaults(&c);
	rc = dwcp_config_load(&c, path, &e);
	unlink(path);
	cr_assert_eq(rc, 0, "rc %d: %s", rc, e.msg);
	cr_assert_eq(c.pool_buffers, 256u, "buffers %u", c.pool_buffers);
	cr_assert_eq(c.link_depth, 4096u, "depth %u", c.link_depth);
}

Test(config, load_missing_file)
{
	struct dwcp_config c;
	struct dwcp_err e;
	int rc;

	dwcp_config_defaults(&c);
	rc = dwcp_config_load(&c, "/nonexistent/dwcp/node.ini", &e);
	cr_assert_eq(rc, -ENOENT, "rc %d: %s", rc, e.msg);
	cr_assert(strstr(e.msg, "/nonexistent/dwcp/node.ini") != NULL, "message: '%s'", e.msg);
	cr_assert(strstr(e.msg, strerror(ENOENT)) != NULL, "no errno text: '%s'", e.msg);
}

Test(config, load_directory)
{
	struct dwcp_config c;
	struct dwcp_err e;
	int rc;

	dwcp_config_defaults(&c);
	rc = dwcp_config_load(&c, "/tmp", &e);
	cr_assert_eq(rc, -EISDIR, "rc %d: %s", rc, e.msg);
	cr_assert(strstr(e.msg, "'/tmp'") != NULL, "message: '%s'", e.msg);
}

Test(config, load_error_names_file_and_line)
{
	static const char text[] = "[pool]\nbuffers = 128\nbuf_size = lots\n";
	struct dwcp_config c;
	struct dwcp_err e;
	char path[64], where[160];
	int rc;

	write_temp(path, text, sizeof(text) - 1);
	dwcp_config_defaults(&c);
	rc = dwcp_config_load(&c, path, &e);
	unlink(path);
	snprintf(where, sizeof(where), "%s:3: [pool] buf_size = 'lots'", path);
	cr_assert_eq(rc, -EINVAL, "rc %d", rc);
	cr_assert(strstr(e.msg, where) != NULL, "message lacks '%s': '%s'", where, e.msg);
}

Test(config, load_runs_cross_field_validation)
{
	static const char text[] = "[supervisor]\nheartbeat_ms = 100\nheartbeat_timeout_ms = 200\n";
	struct dwcp_config c;
	struct dwcp_err e;
	char path[64];
	int rc;

	write_temp(path, text, sizeof(text) - 1);
	dwcp_config_defaults(&c);
	rc = dwcp_config_load(&c, path, &e);
	unlink(path);
	cr_assert_eq(rc, -EINVAL, "rc %d: %s", rc, e.msg);
	cr_assert(strstr(e.msg, path) && strstr(e.msg, "heartbeat_timeout_ms = 200") &&
		  strstr(e.msg, "300"), "message: '%s'", e.msg);
}

Test(config, load_too_large_file)
{
	static char big[(1 << 20) + 1];
	struct dwcp_config c;
	struct dwcp_err e;
	char path[64];
	int rc;

	memset(big, ' ', sizeof(big));
	for (size_t i = 0; i < sizeof(big); i += 64) {   /* valid comment lines */
		big[i] = '#';
		if (i + 63 < sizeof(big))
			big[i + 63] = '\n';
	}
	write_temp(path, big, sizeof(big));
	dwcp_config_defaults(&c);
	rc = dwcp_config_load(&c, path, &e);
	unlink(path);
	cr_assert_eq(rc, -EFBIG, "rc %d: %s", rc, e.msg);
	cr_assert(strstr(e.msg, path) != NULL, "message: '%s'", e.msg);

	write_temp(path, big, sizeof(big) - 1);   /* exactly 1 MiB is fine */
	rc = dwcp_config_load(&c, path, &e);
	unlink(path);
	cr_assert_eq(rc, 0, "1 MiB file refused: %d %s", rc, e.msg);
}

Test(config, load_nul_byte)
{
	static const char text[] = "[pool]\nbuffers = 128\0\n";
	struct dwcp_config c;
	struct dwcp_err e;
	char path[64];
	int rc;

	write_temp(path, text, sizeof(text) - 1);
	dwcp_config_defaults(&c);
	rc = dwcp_config_load(&c, path, &e);
	unlink(path);
	cr_assert_eq(rc, -EINVAL, "rc %d: %s", rc, e.msg);
	cr_assert(strstr(e.msg, "NUL byte at offset 20") != NULL, "message: '%s'", e.msg);
}
