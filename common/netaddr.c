/* HOST:PORT parsing and resolution (netaddr.h). */
#include <arpa/inet.h>
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

int dwcp_cidr_parse(const char *s, uint32_t *ip, unsigned *prefix)
{
	char a[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	struct in_addr in;
	char *end;
	unsigned long n;

	if (!slash || (size_t)(slash - s) >= sizeof(a) || slash[1] < '0' || slash[1] > '9')
		return -EINVAL;
	memcpy(a, s, (size_t)(slash - s));
	a[slash - s] = '\0';
	errno = 0;
	n = strtoul(slash + 1, &end, 10);
	if (*end || errno || n < 1 || n > 32 || inet_pton(AF_INET, a, &in) != 1)
		return -EINVAL;
	*ip = in.s_addr;
	*prefix = (unsigned)n;
	return 0;
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
