/* HOST:PORT parsing and resolution (netaddr.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/netaddr.h"

#define ADDR_FORMS "HOST:PORT, e.g. 10.0.0.2:7100, [fd00::2]:7100 or nodeb:7100, port 1..65535"

static int bad(struct dwcp_err *err, const char *s, const char *why)
{
	return dwcp_err_set(err, -EINVAL, "bad peer address '%.*s': %s; expected " ADDR_FORMS, 80,
			    s, why);
}

int dwcp_addr_split(const char *s, char host[DWCP_ADDR_MAX], uint16_t *port, struct dwcp_err *err)
{
	const char *colon, *h = s;
	size_t hn;
	char *end;
	unsigned long p;

	if (!s || !*s)
		return bad(err, s ? s : "", "empty");
	if (strlen(s) >= DWCP_ADDR_MAX)
		return bad(err, s, "too long");
	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return bad(err, s, "an IPv6 literal needs the form [ADDR]:PORT");
		h = s + 1;
		hn = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return bad(err, s, "no ':PORT'");
		if (memchr(s, ':', (size_t)(colon - s)))
			return bad(err, s, "an IPv6 address must be in brackets");
		hn = (size_t)(colon - s);
	}
	if (hn == 0)
		return bad(err, s, "no host before ':'");
	for (size_t i = 0; i < hn; i++)
		if (h[i] == ' ' || h[i] == '/' || (unsigned char)h[i] < 0x21)
			return bad(err, s, "the host has a character hosts do not have");
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno || p == 0 || p > 65535 || colon[1] == '-' ||
	    colon[1] == '+')
		return bad(err, s, "the port is not a number in 1..65535");
	memcpy(host, h, hn);
	host[hn] = '\0';
	*port = (uint16_t)p;
	return 0;
}

int dwcp_addr_resolve(const char *s, struct sockaddr_storage *ss, socklen_t *len,
		      struct dwcp_err *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char host[DWCP_ADDR_MAX], port[8];
	uint16_t p;
	int rc = dwcp_addr_split(s, host, &p, err);

	if (rc)
		return rc;
	snprintf(port, sizeof(port), "%u", p);
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc || !res)
		return dwcp_err_set(err, -EHOSTUNREACH, "peer address '%s': cannot resolve '%s': %s", s,
				    host, rc ? gai_strerror(rc) : "no address");
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

void dwcp_addr_format(const struct sockaddr *sa, char out[DWCP_ADDR_MAX])
{
	char h[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)sa;

		inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof(h));
		snprintf(out, DWCP_ADDR_MAX, "[%s]:%u", h, ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const void *)sa;

		inet_ntop(AF_INET, &a->sin_addr, h, sizeof(h));
		snprintf(out, DWCP_ADDR_MAX, "%s:%u", h, ntohs(a->sin_port));
	}
}

/* "ADDR/N" of family @p af, N 1..@p max_prefix: @p ip gets the address bytes. */
static int cidr_parse(int af, const char *s, void *ip, unsigned max_prefix, unsigned *prefix)
{
	char a[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	char *end;
	unsigned long n;

	if (!slash || (size_t)(slash - s) >= sizeof(a) || slash[1] < '0' || slash[1] > '9')
		return -EINVAL;
	memcpy(a, s, (size_t)(slash - s));
	a[slash - s] = '\0';
	errno = 0;
	n = strtoul(slash + 1, &end, 10);
	if (*end || errno || n < 1 || n > max_prefix || inet_pton(af, a, ip) != 1)
		return -EINVAL;
	*prefix = (unsigned)n;
	return 0;
}

int dwcp_cidr_parse(const char *s, uint32_t *ip, unsigned *prefix)
{
	struct in_addr in;
	int rc = cidr_parse(AF_INET, s, &in, 32, prefix);

	if (rc == 0)
		*ip = in.s_addr;
	return rc;
}

int dwcp_cidr6_parse(const char *s, uint8_t ip[16], unsigned *prefix)
{
	return cidr_parse(AF_INET6, s, ip, 128, prefix);
}

int dwcp_ip6_same_prefix(const uint8_t a[16], const uint8_t b[16], unsigned prefix)
{
	unsigned whole = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, whole))
		return 0;
	return !rest || !((a[whole] ^ b[whole]) & (0xff00u >> rest));
}

int dwcp_pci_addr_parse(const char *devargs, char canon[DWCP_PCI_ADDR_LEN])
{
	size_t n = strcspn(devargs, ",");
	unsigned dom = 0, bus, dev, fn;
	int used = 0;
	char buf[16];

	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, devargs, n);
	buf[n] = '\0';
	if (!(sscanf(buf, "%4x:%2x:%2x.%1x%n", &dom, &bus, &dev, &fn, &used) == 4 && (size_t)used == n)) {
		used = 0;
		dom = 0;
		if (!(sscanf(buf, "%2x:%2x.%1x%n", &bus, &dev, &fn, &used) == 3 && (size_t)used == n))
			return -EINVAL;
	}
	/* sscanf's %x takes a sign and skips blanks: insist on hex digits only */
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdefABCDEF:.", buf[i]))
			return -EINVAL;
	if (dev >= 32 || fn >= 8)
		return -EINVAL;
	snprintf(canon, DWCP_PCI_ADDR_LEN, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return 0;
}

/* "aa:bb:cc:dd:ee:ff", hex, exactly. */
static int mac_parse(const char *s, size_t n, uint8_t mac[6])
{
	if (n != 17)
		return -EINVAL;
	for (unsigned i = 0; i < 6; i++) {
		const char *p = s + 3 * i;

		if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) || (i < 5 && p[2] != ':'))
			return -EINVAL;
		mac[i] = (uint8_t)strtoul((char[3]){ p[0], p[1], '\0' }, NULL, 16);
	}
	return 0;
}

int dwcp_neigh_list_parse(const char *s, struct dwcp_neigh_static out[DWCP_NEIGH_STATIC_MAX],
			  struct dwcp_err *err)
{
	static const uint8_t zero[6];
	int n = 0;

	while (*s) {
		size_t len, iplen;
		const char *eq;
		char ip[INET6_ADDRSTRLEN];
		uint32_t v4;
		struct dwcp_neigh_static e;

		s += strspn(s, " \t");
		len = strcspn(s, ",");
		while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		eq = memchr(s, '=', len);
		iplen = eq ? (size_t)(eq - s) : 0;
		if (!eq || !iplen || iplen >= sizeof(ip))
			return dwcp_err_set(err, -EINVAL, "'%.*s': expected IP=MAC, e.g. 10.0.0.2=02:00:00:00:00:02",
					    (int)len, s);
		memcpy(ip, s, iplen);
		ip[iplen] = '\0';
		if (inet_pton(AF_INET, ip, &v4) == 1)
			dwcp_ip_map4(v4, e.ip);
		else if (inet_pton(AF_INET6, ip, e.ip) != 1) {
			return dwcp_err_set(err, -EINVAL, "'%.*s': %s is not an IPv4 or IPv6 address", (int)len, s, ip);
		}
		if (mac_parse(eq + 1, len - iplen - 1, e.mac))
			return dwcp_err_set(err, -EINVAL, "'%.*s': the MAC is not six hex bytes with colons (aa:bb:cc:dd:ee:ff)",
					    (int)len, s);
		if ((e.mac[0] & 1) || !memcmp(e.mac, zero, 6))
			return dwcp_err_set(err, -EINVAL, "'%.*s': a neighbour's MAC must be unicast and not all zeros",
					    (int)len, s);
		for (int i = 0; i < n; i++)
			if (!memcmp(out[i].ip, e.ip, 16))
				return dwcp_err_set(err, -EINVAL, "'%.*s': %s has an entry already", (int)len, s, ip);
		if (n == DWCP_NEIGH_STATIC_MAX)
			return dwcp_err_set(err, -EINVAL, "more than %d entries", DWCP_NEIGH_STATIC_MAX);
		out[n++] = e;
		s += len;
		s += strspn(s, " \t");
		if (*s == ',') {
			s++;
			s += strspn(s, " \t");
			if (!*s)
				return dwcp_err_set(err, -EINVAL, "a comma with no entry after it");
		} else if (*s) {
			return dwcp_err_set(err, -EINVAL, "'%s': expected a comma between entries", s);
		}
	}
	return n;
}
