/* Config: the transfer sections ([net], [peers], [stream], [recv]) and the
 * HOST:PORT syntax they share with the command line (common/netaddr.h).
 * Same contract as config_test.c: bad input is refused with the line, the
 * key and what is accepted. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/config.h"
#include "common/netaddr.h"

static int parse(struct dwcp_config *c, const char *text, struct dwcp_err *e)
{
	dwcp_config_defaults(c);
	dwcp_err_clear(e);
	return dwcp_config_parse(c, text, "t.ini", e);
}

static void expect_bad(const char *text, const char *needle)
{
	struct dwcp_config c;
	struct dwcp_err e;
	int rc = parse(&c, text, &e);

	cr_assert_eq(rc, -EINVAL, "accepted '%s'", text);
	cr_assert(strstr(e.msg, needle), "message for '%s' lacks '%s': %s", text, needle, e.msg);
}

Test(config_net, defaults_are_usable)
{
	struct dwcp_config c;
	struct dwcp_err e = { 0 };

	dwcp_config_defaults(&c);
	cr_assert_str_eq(c.net_listen, "0.0.0.0:7100");
	cr_assert_eq(c.net_connections, 4);
	cr_assert_eq(c.net_sockbuf, 16u << 20);
	cr_assert_str_eq(c.net_congestion, "bbr");
	cr_assert_eq(c.chunk_size, 262144);
	cr_assert_eq(c.codec, DWCP_CFG_CODEC_AUTO);
	cr_assert_eq(c.net_zerocopy, DWCP_CFG_BOOL_AUTO, "zerocopy is not auto by default");
	cr_assert(c.delta);
	cr_assert_eq(c.n_peers, 0);
	cr_assert_eq(dwcp_config_validate(&c, &e), 0, "%s", e.msg);
}

Test(config_net, all_keys_parse)
{
	struct dwcp_config c;
	struct dwcp_err e;
	int rc = parse(&c,
		       "[net]\nlisten = [::1]:9000\nconnections = 8\nzerocopy = off\n"
		       "busy_poll_us = 50\nsocket_buffer = 4M\nresend_ms = 500\ncongestion = cubic\n"
		       "[peers]\nnodeb = 10.0.0.2:7100\nnode-c = hostc.example:7200\n"
		       "[stream]\nchunk_size = 32K\nwindow = 64\ncodec = lz4\ndelta = no\n"
		       "[recv]\ndir = /srv/dwcp\n",
		       &e);

	cr_assert_eq(rc, 0, "%s", e.msg);
	cr_assert_str_eq(c.net_listen, "[::1]:9000");
	cr_assert_eq(c.net_connections, 8);
	cr_assert_eq(c.net_zerocopy, 0u);
	cr_assert_eq(c.net_busy_poll_us, 50);
	cr_assert_eq(c.net_sockbuf, 4u << 20);
	cr_assert_eq(c.net_resend_ms, 500);
	cr_assert_str_eq(c.net_congestion, "cubic");
	cr_assert_eq(c.n_peers, 2);
	cr_assert_str_eq(dwcp_config_peer(&c, "nodeb"), "10.0.0.2:7100");
	cr_assert_str_eq(dwcp_config_peer(&c, "node-c"), "hostc.example:7200");
	cr_assert_null(dwcp_config_peer(&c, "noded"));
	cr_assert_eq(c.chunk_size, 32768);
	cr_assert_eq(c.window, 64);
	cr_assert_eq(c.codec, DWCP_CFG_CODEC_LZ4);
	cr_assert(!c.delta);
	cr_assert_str_eq(c.recv_dir, "/srv/dwcp");
	cr_assert_eq(dwcp_config_validate(&c, &e), 0, "%s", e.msg);
}

Test(config_net, empty_listen_means_none)
{
	struct dwcp_config c;
	struct dwcp_err e;

	cr_assert_eq(parse(&c, "[net]\nlisten =\n", &e), 0, "%s", e.msg);
	cr_assert_str_eq(c.net_listen, "");
}

Test(config_net, bad_values_are_refused_with_the_accepted_forms)
{
	expect_bad("[net]\nlisten = 0.0.0.0\n", "HOST:PORT");
	expect_bad("[net]\nlisten = 0.0.0.0:0\n", "HOST:PORT");
	expect_bad("[net]\nlisten = 0.0.0.0:65536\n", "HOST:PORT");
	expect_bad("[net]\nlisten = ::1:7100\n", "HOST:PORT");
	expect_bad("[net]\nconnections = 0\n", "1..64");
	expect_bad("[net]\nconnections = 65\n", "1..64");
	expect_bad("[net]\ncongestion = BBR!\n", "a-z 0-9");
	expect_bad("[net]\nsocket_buffer = 1K\n", "65536");
	expect_bad("[stream]\nchunk_size = 5000\n", "multiple of 4096");
	expect_bad("[stream]\nchunk_size = 512K\n", "4096..262144");
	expect_bad("[stream]\ncodec = gzip\n", "zstd, lz4 or none");
	expect_bad("[stream]\nwindow = 0\n", "1..65536");
	expect_bad("[recv]\ndir = relative/path\n", "absolute");
	expect_bad("[peers]\nnodeb = nowhere\n", "no ':PORT'");
	expect_bad("[peers]\nnodeb = 10.0.0.2:7100\nnodeb = 10.0.0.3:7100\n", "defined twice");
	expect_bad("[peers]\nnode b = 10.0.0.2:7100\n", "peer name");
	expect_bad("[net]\nframe_size = 9000\n", "unknown key");
	expect_bad("[net]\nzerocopy = sometimes\n", "auto, true, false");
}

/* [net] zerocopy: auto (stop where the kernel copies anyway), or always
 * (true, as before auto existed), or never. */
Test(config_net, zerocopy_is_auto_true_or_false)
{
	static const struct { const char *v; uint32_t want; } cases[] = {
		{ "auto", DWCP_CFG_BOOL_AUTO }, { "true", 1 }, { "on", 1 }, { "1", 1 },
		{ "false", 0 }, { "no", 0 }, { "0", 0 },
	};
	struct dwcp_config c;
	struct dwcp_err e = { 0 };

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[64];

		snprintf(text, sizeof(text), "[net]\nzerocopy = %s\n", cases[i].v);
		dwcp_config_defaults(&c);
		cr_assert_eq(dwcp_config_parse(&c, text, "t.ini", &e), 0, "%s: %s", cases[i].v, e.msg);
		cr_expect_eq(c.net_zerocopy, cases[i].want, "zerocopy = %s", cases[i].v);
		cr_expect_eq(dwcp_config_validate(&c, &e), 0, "%s", e.msg);
	}
}

Test(netaddr, split_accepts_the_documented_forms)
{
	char host[DWCP_ADDR_MAX];
	uint16_t port;

	cr_assert_eq(dwcp_addr_split("10.0.0.2:7100", host, &port, NULL), 0);
	cr_assert_str_eq(host, "10.0.0.2");
	cr_assert_eq(port, 7100);
	cr_assert_eq(dwcp_addr_split("[fd00::2]:1", host, &port, NULL), 0);
	cr_assert_str_eq(host, "fd00::2");
	cr_assert_eq(port, 1);
	cr_assert_eq(dwcp_addr_split("nodeb.example:65535", host, &port, NULL), 0);
	cr_assert_eq(port, 65535);
}

Test(netaddr, split_refuses_garbage)
{
	static const char *const bad[] = {
		"", ":", ":7100", "host:", "host:abc", "host:-1", "host:+5", "host:70000", "::::",
		"[::1]7100", "[::1", "a b:7100", "1.2.3.4:99999",
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx:1",
	};
	char host[DWCP_ADDR_MAX];
	uint16_t port;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dwcp_err e = { 0 };

		cr_assert_eq(dwcp_addr_split(bad[i], host, &port, &e), -EINVAL, "accepted '%s'", bad[i]);
		cr_assert(strstr(e.msg, "bad peer address"), "message: %s", e.msg);
	}
}

Test(netaddr, resolve_and_format_round_trip)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char out[DWCP_ADDR_MAX];
	struct dwcp_err e = { 0 };

	cr_assert_eq(dwcp_addr_resolve("127.0.0.1:7101", &ss, &len, &e), 0, "%s", e.msg);
	dwcp_addr_format((struct sockaddr *)&ss, out);
	cr_assert_str_eq(out, "127.0.0.1:7101");
	cr_assert_eq(dwcp_addr_resolve("[::1]:80", &ss, &len, &e), 0, "%s", e.msg);
	dwcp_addr_format((struct sockaddr *)&ss, out);
	cr_assert_str_eq(out, "[::1]:80");
	cr_assert_eq(dwcp_addr_resolve("no-such-host.invalid:80", &ss, &len, &e), -EHOSTUNREACH);
	cr_assert(strstr(e.msg, "cannot resolve"), "%s", e.msg);
}

/* [prof] listen: no endpoint unless asked (two nodes on a host would
 * fight over any fixed port), HOST:PORT checked like [net] listen. */
Test(config_net, prof_listen_is_off_by_default_and_checked)
{
	struct dwcp_config c;
	struct dwcp_err e = { 0 };

	cr_assert_eq(parse(&c, "", &e), 0, "%s", e.msg);
	cr_expect_str_eq(c.prof_listen, "");
	cr_assert_eq(parse(&c, "[prof]\nlisten = 127.0.0.1:9469\n", &e), 0, "%s", e.msg);
	cr_expect_str_eq(c.prof_listen, "127.0.0.1:9469");
	expect_bad("[prof]\nlisten = localhost\n", "HOST:PORT");
	expect_bad("[prof]\nport = 9469\n", "port");
}

/* [net] transport and port: the DPDK port the supervisor owns. */
Test(config_net, transport_dpdk_needs_a_port_and_devargs_are_checked)
{
	struct dwcp_config c;
	struct dwcp_err e;

	dwcp_config_defaults(&c);
	cr_expect_str_eq(c.net_transport, "tcp");
	cr_expect_str_eq(c.net_port, "");
	cr_assert_eq(parse(&c, "[net]\ntransport = dpdk\nport = net_af_packet0,iface=veth0\n", &e), 0, "%s", e.msg);
	cr_assert_eq(dwcp_config_validate(&c, &e), -EINVAL);
	cr_expect(strstr(e.msg, "needs [net] ip"), "%s", e.msg);
	cr_assert_eq(parse(&c, "[net]\ntransport = dpdk\nport = net_af_packet0,iface=veth0\nip = 10.0.0.1/24\n", &e), 0,
		     "%s", e.msg);
	cr_assert_eq(dwcp_config_validate(&c, &e), 0, "%s", e.msg);
	cr_expect_str_eq(c.net_ip, "10.0.0.1/24");
	expect_bad("[net]\nip = 10.0.0.1\n", "A.B.C.D/N");
	expect_bad("[net]\nip = 10.0.0.300/24\n", "A.B.C.D/N");
	expect_bad("[net]\nip = 10.0.0.1/33\n", "A.B.C.D/N");
	cr_expect_str_eq(c.net_port, "net_af_packet0,iface=veth0");
	cr_assert_eq(parse(&c, "[net]\nport = 0000:3b:00.0\n", &e), 0, "%s", e.msg);
	cr_assert_eq(parse(&c, "[net]\ntransport = dpdk\n", &e), 0, "%s", e.msg);
	cr_assert_eq(dwcp_config_validate(&c, &e), -EINVAL);
	cr_expect(strstr(e.msg, "needs [net] port"), "%s", e.msg);
	cr_assert_eq(parse(&c, "[net]\ntransport = rdma\n", &e), 0, "%s", e.msg);
	cr_assert_eq(dwcp_config_validate(&c, &e), -EINVAL);
	cr_expect(strstr(e.msg, "expected tcp or dpdk"), "%s", e.msg);
	expect_bad("[net]\nport = net_af_packet0,iface=veth0;reboot\n", "DPDK device arguments");
	expect_bad("[net]\nport = a b\n", "DPDK device arguments");
}

Test(netaddr, pci_addresses_as_dpdk_reads_them)
{
	static const struct { const char *in, *canon; } ok[] = {
		{ "0000:3b:00.0", "0000:3b:00.0" }, { "3b:00.0", "0000:3b:00.0" },
		{ "0000:AF:1f.7,rxq_cqe_comp_en=1", "0000:af:1f.7" }, { "0001:00:02.1", "0001:00:02.1" },
	};
	static const char *const bad[] = { "net_af_packet0,iface=veth0", "eth0", "3b:00", "3b:20.0",
					   "3b:00.8", "0000:3b:00.0x", "-3b:00.0", " 3b:00.0", "", "3b:00.0.0" };
	char canon[DWCP_PCI_ADDR_LEN];

	for (unsigned i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(dwcp_pci_addr_parse(ok[i].in, canon), 0, "%s refused", ok[i].in);
		cr_expect_str_eq(canon, ok[i].canon, "%s", ok[i].in);
	}
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(dwcp_pci_addr_parse(bad[i], canon), -EINVAL, "'%s' taken for a PCI address", bad[i]);
}

Test(config_net, mtu_is_the_ports_own_by_default_and_checked)
{
	static const char base[] = "[net]\ntransport = dpdk\nport = net_af_packet0,iface=veth0\nip = 10.0.0.1/24\n";
	struct dwcp_config c;
	struct dwcp_err e;
	char text[256];

	dwcp_config_defaults(&c);
	cr_expect_eq(c.net_mtu, 0);
	snprintf(text, sizeof(text), "%smtu = 9000\n", base);
	cr_assert_eq(parse(&c, text, &e), 0, "%s", e.msg);
	cr_expect_eq(c.net_mtu, 9000);
	cr_expect_eq(dwcp_config_validate(&c, &e), 0, "%s", e.msg);
	snprintf(text, sizeof(text), "%smtu = 1000\n", base);
	cr_assert_eq(parse(&c, text, &e), 0, "%s", e.msg);
	cr_expect_eq(dwcp_config_validate(&c, &e), -EINVAL);
	cr_expect(strstr(e.msg, "1280..9600"), "%s", e.msg);
	expect_bad("[net]\nmtu = 9601\n", "mtu");
	expect_bad("[net]\nmtu = jumbo\n", "mtu");
}

Test(netaddr, static_neighbour_lists)
{
	struct dwcp_neigh_static e[DWCP_NEIGH_STATIC_MAX];
	struct dwcp_err err;
	char many[1024] = "";
	static const char *const bad[][2] = {
		{ "10.0.0.2", "expected IP=MAC" },
		{ "=02:00:00:00:00:02", "expected IP=MAC" },
		{ "10.0.0.256=02:00:00:00:00:02", "not an IPv4 or IPv6 address" },
		{ "fd00::2::3=02:00:00:00:00:02", "not an IPv4 or IPv6 address" },
		{ "10.0.0.2=02:00:00:00:00", "six hex bytes" },
		{ "10.0.0.2=02-00-00-00-00-02", "six hex bytes" },
		{ "10.0.0.2=0g:00:00:00:00:02", "six hex bytes" },
		{ "10.0.0.2=01:00:5e:00:00:01", "unicast" },
		{ "10.0.0.2=00:00:00:00:00:00", "unicast" },
		{ "10.0.0.2=02:00:00:00:00:02, 10.0.0.2=02:00:00:00:00:03", "has an entry already" },
		{ "10.0.0.2=02:00:00:00:00:02,", "no entry after it" },
		{ "10.0.0.2=02:00:00:00:00:02 10.0.0.3=02:00:00:00:00:03", "six hex bytes" },
	};

	cr_assert_eq(dwcp_neigh_list_parse("", e, &err), 0);
	cr_assert_eq(dwcp_neigh_list_parse(" 10.0.0.2=02:00:00:00:00:2a ,10.0.0.3=AA:bb:cc:dd:ee:f0", e, &err), 2,
		     "%s", err.msg);
	cr_assert(dwcp_ip_is_map4(e[0].ip));
	cr_assert_eq(memcmp(e[0].ip + 12, (uint8_t[4]){ 10, 0, 0, 2 }, 4), 0);
	cr_assert_eq(e[0].mac[5], 0x2a);
	cr_assert_eq(e[1].mac[0], 0xaa);
	cr_assert_eq(e[1].mac[5], 0xf0);
	cr_assert_eq(dwcp_neigh_list_parse("fd00:78::2=02:00:00:00:00:02", e, &err), 1, "%s", err.msg);
	cr_assert(!dwcp_ip_is_map4(e[0].ip));
	cr_assert_eq(e[0].ip[0], 0xfd);
	cr_assert_eq(e[0].ip[15], 2);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dwcp_err_clear(&err);
		cr_expect_eq(dwcp_neigh_list_parse(bad[i][0], e, &err), -EINVAL, "'%s' accepted", bad[i][0]);
		cr_expect(strstr(err.msg, bad[i][1]), "'%s': message lacks '%s': %s", bad[i][0], bad[i][1], err.msg);
	}
	for (unsigned i = 0; i <= DWCP_NEIGH_STATIC_MAX; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s10.0.0.%u=02:00:00:00:00:%02x",
			 i ? "," : "", i + 2, i + 2);
	cr_expect_eq(dwcp_neigh_list_parse(many, e, &err), -EINVAL);
	cr_expect(strstr(err.msg, "more than 16"), "%s", err.msg);
}

/* A DPDK port's [net] lines @p lines parse; validation passes (@p needle
 * NULL) or is refused with a message holding @p needle. */
static void expect_port(const char *lines, const char *needle)
{
	struct dwcp_config c;
	struct dwcp_err e;
	char text[512];

	snprintf(text, sizeof(text), "[net]\ntransport = dpdk\nport = net_af_packet0,iface=v0\n%s", lines);
	cr_assert_eq(parse(&c, text, &e), 0, "%s: %s", lines, e.msg);
	if (!needle) {
		cr_expect_eq(dwcp_config_validate(&c, &e), 0, "%s: %s", lines, e.msg);
		return;
	}
	cr_expect_eq(dwcp_config_validate(&c, &e), -EINVAL, "accepted: %s", lines);
	cr_expect(strstr(e.msg, needle), "%s: message lacks '%s': %s", lines, needle, e.msg);
}

Test(config_net, neighbours_belong_to_the_ports_subnets)
{
	struct dwcp_config c;
	struct dwcp_err e;

	expect_port("ip = 10.9.0.1/24\nneighbours = 10.9.0.2=02:00:00:00:00:02, 10.9.0.3=02:00:00:00:00:03\n", NULL);
	expect_port("ip = 10.9.0.1/24\nneighbours = 10.9.1.2=02:00:00:00:00:02\n", "outside the subnet of [net] ip");
	expect_port("ip = 10.9.0.1/24\nneighbours = 10.9.0.1=02:00:00:00:00:02\n", "own address");
	expect_port("ip6 = fd00:78::1/64\nneighbours = fd00:78::2=02:00:00:00:00:02\n", NULL);
	expect_port("ip6 = fd00:78::1/64\nneighbours = fd00:79::2=02:00:00:00:00:02\n",
		    "outside the subnet of [net] ip6");
	expect_port("ip6 = fd00:78::1/64\nneighbours = fd00:78::1=02:00:00:00:00:02\n", "own address");
	/* an IPv4 neighbour needs [net] ip */
	expect_port("ip6 = fd00:78::1/64\nneighbours = 10.9.0.2=02:00:00:00:00:02\n", "needs [net] ip, which is not set");
	expect_port("ip = 10.9.0.1/24\nip6 = fd00:78::1/120\n"
		    "neighbours = 10.9.0.2=02:00:00:00:00:02, fd00:78::ff=02:00:00:00:00:03\n", NULL);
	cr_assert_eq(parse(&c, "[net]\nneighbours = 10.9.0.2=02:00:00:00:00:02\n", &e), 0, "%s", e.msg);
	cr_assert_eq(dwcp_config_validate(&c, &e), -EINVAL);
	cr_expect(strstr(e.msg, "transport = dpdk"), "%s", e.msg);
	expect_bad("[net]\nneighbours = 10.9.0.2=ff:ff:ff:ff:ff:ff\n", "unicast");
}

Test(config_net, ip6_alone_is_enough_and_is_checked)
{
	struct dwcp_config c;
	struct dwcp_err e;

	expect_port("ip6 = fd00:78::1/64\n", NULL);
	cr_assert_eq(parse(&c, "[net]\nip6 = fd00:78::1/64\n", &e), 0, "%s", e.msg);
	cr_expect_str_eq(c.net_ip6, "fd00:78::1/64");
	expect_port("", "needs [net] ip");
	expect_bad("[net]\nip6 = fd00::1\n", "ADDR/N");
	expect_bad("[net]\nip6 = fd00::1/129\n", "ADDR/N");
	expect_bad("[net]\nip6 = 10.0.0.1/24\n", "ADDR/N");
}

Test(netaddr, ipv6_prefixes)
{
	uint8_t a[16], b[16];
	unsigned p;

	cr_assert_eq(dwcp_cidr6_parse("fd00:78::1/64", a, &p), 0);
	cr_expect_eq(p, 64);
	inet_pton(AF_INET6, "fd00:78::ffff:2", b);
	cr_expect(dwcp_ip6_same_prefix(a, b, 64));
	cr_expect(!dwcp_ip6_same_prefix(a, b, 127));
	inet_pton(AF_INET6, "fd00:79::1", b);
	cr_expect(!dwcp_ip6_same_prefix(a, b, 64));
	cr_expect(dwcp_ip6_same_prefix(a, b, 31));
	cr_expect(!dwcp_ip6_same_prefix(a, b, 32));
	cr_expect(dwcp_ip6_same_prefix(a, a, 128));
}
