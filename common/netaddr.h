/* HOST:PORT addresses, as written in configs and on command lines:
 * "10.0.0.2:7100", "[fd00::2]:7100", "nodeb.example:7100". Parsing is
 * syntax only (no DNS): a config is checked where it is loaded, names are
 * resolved where they are used (dwcp_addr_resolve).
 */
#ifndef DWCP_COMMON_NETADDR_H
#define DWCP_COMMON_NETADDR_H

#include <stdint.h>
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

#define DWCP_PCI_ADDR_LEN 13   /* "DDDD:BB:DD.F" and its NUL */

/**
 * The PCI address a DPDK device string starts with ("0000:3b:00.0" or
 * "3b:00.0", then optionally ",key=value..."), as DPDK's PCI bus reads
 * it: hex, device < 32, function < 8. @p canon gets "DDDD:BB:DD.F" (the
 * name in /sys/bus/pci/devices). @return 0, or -EINVAL (not a PCI address).
 */
int dwcp_pci_addr_parse(const char *devargs, char canon[DWCP_PCI_ADDR_LEN]);

#endif
