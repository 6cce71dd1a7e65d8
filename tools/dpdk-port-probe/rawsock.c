/*
 * rawsock — the far end of the veth for port_probe: sends or counts frames
 * with an AF_PACKET socket (run inside the namespace with `ip netns exec`).
 *   rawsock send IFACE COUNT SIZE
 *   rawsock recv IFACE SECONDS
 */
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_ll sll;
	unsigned char buf[9216];
	int fd;

	if (argc < 4)
		return fprintf(stderr, "usage: rawsock send IFACE COUNT SIZE | recv IFACE SECONDS\n"), 2;
	fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0)
		return perror("socket"), 1;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)if_nametoindex(argv[2]);
	if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return perror(argv[2]), 1;
	if (!strcmp(argv[1], "send") && argc >= 5) {
		long n = atol(argv[3]), ok = 0;
		int size = atoi(argv[4]);

		memset(buf, 0xff, 6);
		memset(buf + 6, 0x02, 6);
		buf[12] = 0x88;
		buf[13] = 0xb5;
		memset(buf + 14, 'R', sizeof(buf) - 14);
		for (long i = 0; i < n; i++)
			ok += send(fd, buf, (size_t)size, 0) == size;
		printf("rawsock: sent %ld of %ld frames of %d B\n", ok, n, size);
	} else {
		long n = 0, bytes = 0, ext = 0;
		time_t end = time(NULL) + atoi(argv[3]);
		struct pollfd p = { .fd = fd, .events = POLLIN };

		while (time(NULL) < end) {
			if (poll(&p, 1, 200) <= 0)
				continue;
			ssize_t k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

			if (k > 14 && buf[12] == 0x88 && buf[13] == 0xb5) {
				n++;
				bytes += k;
				ext += buf[14] == 'E';
			}
		}
		printf("rawsock: received %ld probe frames (%ld B, %ld with memzone payload)\n", n, bytes, ext);
	}
	return 0;
}
