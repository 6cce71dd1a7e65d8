/*
 * port_probe — answers "who may own a DPDK port" on this machine (issue 10).
 * Not part of the product or the tests: built by `make dpdk-port-probe`.
 *
 *   port_probe primary PREFIX DEVARGS      probe DEVARGS at EAL init, configure 1 rxq/1 txq,
 *                                          start; print pool and port counters every second
 *   port_probe rx PREFIX SECONDS [hold]    secondary: rx_burst on port 0; "hold" never frees
 *                                          the mbufs (a svc-net killed mid-burst holds them)
 *   port_probe tx PREFIX COUNT SIZE [ext]  secondary: tx_burst COUNT frames; "ext" sends
 *                                          memzone memory attached with rte_pktmbuf_attach_extbuf
 *   port_probe hotplug PREFIX DEVARGS      secondary: rte_dev_probe(DEVARGS) itself
 *   PROBE_RX=1 port_probe primary ...      the primary bursts rx on port 0 itself
 *   PROBE_EXT=N port_probe primary ...     the primary also sends N memzone frames (extbuf)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_memzone.h>
#include <rte_cycles.h>

#define POOL "probe_pool"
#define NB_MBUF 4095
#define BURST 32

static volatile sig_atomic_t stop;

static void on_sig(int s)
{
	(void)s;
	stop = 1;
}

static int eal(const char *prog, const char *prefix, int primary, const char *vdev)
{
	char fp[128], vd[256];
	char *argv[16];
	int argc = 0;

	snprintf(fp, sizeof(fp), "--file-prefix=%s", prefix);
	argv[argc++] = (char *)prog;
	argv[argc++] = "-l0";
	argv[argc++] = fp;
	argv[argc++] = primary ? "--proc-type=primary" : "--proc-type=secondary";
	argv[argc++] = "--no-pci";
	argv[argc++] = "--no-telemetry";
	argv[argc++] = "--single-file-segments";
	if (primary) {
		argv[argc++] = "-m64";
		if (vdev) {
			snprintf(vd, sizeof(vd), "--vdev=%s", vdev);
			argv[argc++] = vd;
		}
	}
	argv[argc] = NULL;
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "EAL init: %s\n", rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

static int port_up(uint16_t port, struct rte_mempool *mp)
{
	struct rte_eth_conf conf;
	int rc;

	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_configure(port, 1, 1, &conf);
	if (rc == 0)
		rc = rte_eth_rx_queue_setup(port, 0, 512, rte_socket_id(), NULL, mp);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(port, 0, 512, rte_socket_id(), NULL);
	if (rc == 0)
		rc = rte_eth_dev_start(port);
	if (rc == 0)
		rte_eth_promiscuous_enable(port);
	if (rc)
		fprintf(stderr, "port %u up: %s\n", port, rte_strerror(-rc));
	return rc;
}

static void report(const char *who, uint16_t port, struct rte_mempool *mp)
{
	struct rte_eth_stats st;

	memset(&st, 0, sizeof(st));
	rte_eth_stats_get(port, &st);
	printf("%s: pool avail %u in-use %u | port %u ipackets %lu opackets %lu imissed %lu ierrors %lu oerrors %lu\n",
	       who, rte_mempool_avail_count(mp), rte_mempool_in_use_count(mp), port,
	       st.ipackets, st.opackets, st.imissed, st.ierrors, st.oerrors);
	fflush(stdout);
}

static int do_tx(uint16_t port, struct rte_mempool *mp, long count, int size, int ext);
static int do_rx(uint16_t port, struct rte_mempool *mp, int seconds, int hold);

static int primary(const char *prog, const char *prefix, const char *devargs)
{
	struct rte_mempool *mp;
	uint16_t port;

	if (eal(prog, prefix, 1, devargs))
		return 1;
	/* cache 0: mbufs held in a dead process's per-lcore cache would look like a leak */
	mp = rte_pktmbuf_pool_create(POOL, NB_MBUF, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (!mp) {
		fprintf(stderr, "pool: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	printf("primary: %u ports\n", rte_eth_dev_count_avail());
	RTE_ETH_FOREACH_DEV(port) {
		char name[RTE_ETH_NAME_MAX_LEN];

		rte_eth_dev_get_name_by_port(port, name);
		printf("primary: port %u = %s\n", port, name);
		if (port_up(port, mp))
			return 1;
	}
	if (getenv("PROBE_EXT")) {
		/* zero-copy question: if the PMD kept a pointer to the memzone instead of
		 * copying, the peer would see the 'X' written right after tx_burst returns */
		sleep(2);
		do_tx(0, mp, atol(getenv("PROBE_EXT")), 1024, 1);
		memset((char *)rte_memzone_lookup("probe_payload")->addr + 14, 'X', 1000);
	}
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	while (!stop) {
		RTE_ETH_FOREACH_DEV(port)
			report("primary", port, mp);
		if (getenv("PROBE_RX")) /* the primary bursts itself: does the PMD move packets at all? */
			do_rx(0, mp, 1, 0);
		else
			sleep(1);
	}
	RTE_ETH_FOREACH_DEV(port) {
		rte_eth_dev_stop(port);
		rte_eth_dev_close(port);
	}
	rte_eal_cleanup();
	return 0;
}

static int secondary(const char *prog, const char *prefix, struct rte_mempool **mp)
{
	if (eal(prog, prefix, 0, NULL))
		return -1;
	*mp = rte_mempool_lookup(POOL);
	if (!*mp) {
		fprintf(stderr, "secondary: pool %s not found\n", POOL);
		return -1;
	}
	printf("secondary: %u ports, pool found, avail %u\n", rte_eth_dev_count_avail(),
	       rte_mempool_avail_count(*mp));
	fflush(stdout);
	return 0;
}

static int do_rx(uint16_t port, struct rte_mempool *mp, int seconds, int hold)
{
	struct rte_mbuf *b[BURST];
	uint64_t n = 0, held = 0, end = rte_get_timer_cycles() + (uint64_t)seconds * rte_get_timer_hz();

	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	while (!stop && rte_get_timer_cycles() < end) {
		uint16_t k = rte_eth_rx_burst(port, 0, b, BURST);

		n += k;
		if (hold)
			held += k; /* a crashing process never frees what it received */
		else
			rte_pktmbuf_free_bulk(b, k);
		if (k == 0)
			usleep(100);
	}
	printf("secondary rx: %lu packets, %lu mbufs held\n", n, held);
	report("secondary", port, mp);
	return 0;
}

/* the memzone outlives every mbuf pointing into it: nothing to free */
static void ext_noop(void *addr, void *opaque)
{
	(void)addr;
	(void)opaque;
}

static int do_tx(uint16_t port, struct rte_mempool *mp, long count, int size, int ext)
{
	const struct rte_memzone *mz = NULL;
	struct rte_mbuf_ext_shared_info *shinfo = NULL;
	long sent = 0, tries = 0;

	if (ext) {
		/* the payload lives in a memzone (as a dwcp chunk does); the mbuf only points to it */
		mz = rte_memzone_lookup("probe_payload");
		if (!mz)
			mz = rte_memzone_reserve("probe_payload", 4096, rte_socket_id(), 0);
		if (!mz) {
			fprintf(stderr, "memzone: %s\n", rte_strerror(rte_errno));
			return 1;
		}
		memset(mz->addr, 0xff, 12);          /* broadcast dst */
		memset((char *)mz->addr + 12, 0x88, 2); /* ethertype 0x88b5-ish */
		((char *)mz->addr)[13] = (char)0xb5;
		memset((char *)mz->addr + 14, 'E', 4096 - 14 - sizeof(*shinfo));
		shinfo = (struct rte_mbuf_ext_shared_info *)((char *)mz->addr + 4096 - sizeof(*shinfo));
		shinfo->free_cb = ext_noop;
	}
	while (sent < count && tries < count * 100) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
		char *p;

		tries++;
		if (!m)
			break;
		if (ext) {

			shinfo->free_cb = ext_noop;
			shinfo->fcb_opaque = NULL;
			rte_mbuf_ext_refcnt_set(shinfo, 1);
			rte_pktmbuf_attach_extbuf(m, mz->addr, mz->iova, (uint16_t)size, shinfo);
			m->data_off = 0;
			m->data_len = m->pkt_len = (uint32_t)size;
		} else {
			p = rte_pktmbuf_append(m, (uint16_t)size);
			memset(p, 0xff, 12);
			p[12] = (char)0x88;
			p[13] = (char)0xb5;
			memset(p + 14, 'D', (size_t)size - 14);
		}
		if (rte_eth_tx_burst(port, 0, &m, 1) == 1)
			sent++;
		else
			rte_pktmbuf_free(m);
	}
	printf("secondary tx: %ld of %ld frames of %d B sent (%s)\n", sent, count, size,
	       ext ? "extbuf from memzone" : "copied into mbuf");
	report("secondary", port, mp);
	return 0;
}

static int do_hotplug(const char *devargs, struct rte_mempool *mp)
{
	uint16_t port;
	int rc = rte_dev_probe(devargs);

	printf("secondary hotplug rte_dev_probe(%s) = %d (%s)\n", devargs, rc,
	       rc ? rte_strerror(-rc) : "ok");
	RTE_ETH_FOREACH_DEV(port) {
		char name[RTE_ETH_NAME_MAX_LEN];

		rte_eth_dev_get_name_by_port(port, name);
		printf("secondary: port %u = %s\n", port, name);
	}
	if (rc == 0) {
		if (rte_eth_dev_get_port_by_name(strchr(devargs, ',') ?
						 strndup(devargs, (size_t)(strchr(devargs, ',') - devargs)) : devargs, &port) == 0) {
			rc = port_up(port, mp);
			printf("secondary configure+start of hotplugged port %u = %d\n", port, rc);
			if (rc == 0)
				do_rx(port, mp, 3, 0);
		}
	}
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	struct rte_mempool *mp;
	int rc = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && !strcmp(argv[1], "primary"))
		return primary(argv[0], argv[2], argv[3]);
	if (argc < 3 || secondary(argv[0], argv[2], &mp))
		goto usage;
	if (!strcmp(argv[1], "rx") && argc >= 4)
		rc = do_rx(0, mp, atoi(argv[3]), argc > 4 && !strcmp(argv[4], "hold"));
	else if (!strcmp(argv[1], "tx") && argc >= 5)
		rc = do_tx(0, mp, atol(argv[3]), atoi(argv[4]), argc > 5 && !strcmp(argv[5], "ext"));
	else if (!strcmp(argv[1], "hotplug") && argc >= 4)
		rc = do_hotplug(argv[3], mp);
	else
		goto usage;
	rte_eal_cleanup();
	return rc;
usage:
	fprintf(stderr, "usage: port_probe primary PREFIX DEVARGS | rx PREFIX SECONDS [hold] | tx PREFIX COUNT SIZE [ext] | hotplug PREFIX DEVARGS\n");
	return 2;
}
