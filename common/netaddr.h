/* HOST:PORT addresses, as written in configs and on command lines:
 * "10.0.0.2:7100", "[fd00::2]:7100", "nodeb.example:7100". Parsing is
 * syntax only (no DNS): a config is checked where it is loaded, names are
 * resolved where they are used (dwcp_addr_resolve).
 */
#ifndef DWCP_COMMON_NETADDR_H
#define DWCP_COMMON_NETADDR_H

#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "common/err.h"

#define DWCP_ADDR_MAX 64   /* "HOST:PORT" incl. NUL */

/**
 * Split @p s into host (brackets of an IPv6 literal removed) and port.
 * @return 0, or -EINVAL naming what is wrong and the accepted forms.
 */
int dwcp_addr_split(const char *s, char host[DWCP_ADDR_MAX], uint16_t *port, struct dwcp_err *err);

/**
 * Resolve @p s (numeric, or a name via getaddrinfo) to its first address.
 * @return 0; -EINVAL for bad syntax; -EHOSTUNREACH when the name does not
 *         resolve (the message says why).
 */
int dwcp_addr_resolve(const char *s, struct sockaddr_storage *ss, socklen_t *len,
		      struct dwcp_err *err);

/** "10.0.0.2:7100" / "[fd00::2]:7100" of a socket address. */
void dwcp_addr_format(const struct sockaddr *sa, char out[DWCP_ADDR_MAX]);

/**
 * Parse "A.B.C.D/N" (N 1..32): @p ip in network byte order.
 * @return 0, or -EINVAL.
 */
int dwcp_cidr_parse(const char *s, uint32_t *ip, unsigned *prefix);

/**
 * Parse "fd00::1/64" (N 1..128): @p ip the 16 address bytes.
 * @return 0, or -EINVAL.
 */
int dwcp_cidr6_parse(const char *s, uint8_t ip[16], unsigned *prefix);

/** Whether @p a and @p b share their first @p prefix bits. */
int dwcp_ip6_same_prefix(const uint8_t a[16], const uint8_t b[16], unsigned prefix);

/** IPv4 address @p v4 (network order) as 16 bytes: ::ffff:a.b.c.d. */
static inline void dwcp_ip_map4(uint32_t v4, uint8_t out[16])
{
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, &v4, 4);
}

/** Whether 16-byte @p ip is an IPv4-mapped address (then its last 4 bytes are the IPv4 one). */
static inline int dwcp_ip_is_map4(const uint8_t ip[16])
{
	static const uint8_t prefix[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(ip, prefix, 12);
}

/* [net] neighbours: static neighbour entries for a DPDK port whose peers
 * answer no ARP (or should not be asked): "IP=MAC, IP=MAC, ...". */
#define DWCP_NEIGH_STATIC_MAX 16

struct dwcp_neigh_static {
	uint8_t ip[16];       /* IPv6, or IPv4 mapped (::ffff:a.b.c.d) */
	uint8_t mac[6];
};

/**
 * Parse "10.0.0.2=02:00:00:00:00:02, fd00::3=..." (IPv4 or IPv6; spaces
 * around the commas allowed; empty = none) into at most DWCP_NEIGH_STATIC_MAX
 * entries. A MAC must be unicast and not all zeros; an address appears
 * once. @return the number of entries, or -EINVAL with @p err naming the
 * entry and what is wrong (@p err may be NULL).
 */
int dwcp_neigh_list_parse(const char *s, struct dwcp_neigh_static out[DWCP_NEIGH_STATIC_MAX],
			  struct dwcp_err *err);

#define DWCP_PCI_ADDR_LEN 13   /* "DDDD:BB:DD.F" and its NUL */

/**
 * The PCI address a DPDK device string starts with ("0000:3b:00.0" or
 * "3b:00.0", then optionally ",key=value..."), as DPDK's PCI bus reads
 * it: hex, device < 32, function < 8. @p canon gets "DDDD:BB:DD.F" (the
 * name in /sys/bus/pci/devices). @return 0, or -EINVAL (not a PCI address).
 */
int dwcp_pci_addr_parse(const char *devargs, char canon[DWCP_PCI_ADDR_LEN]);

#endif
