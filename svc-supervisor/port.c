/* The node's DPDK port ([net] transport = dpdk), owned by the supervisor
 * (ipc/port.h says why and how consumers use it).
 *
 * Open: probe the device from [net] port (a vdev; a PCI NIC was probed by
 * EAL at init, allowed alone with -a), as many queue pairs as there are
 * svc-net workers (if the device has them; RSS spreads flows over them on
 * a NIC, the kernel's packet fanout on af_packet), an mbuf pool in the
 * node's hugepages, the rings and the state page; then one thread of the
 * supervisor per queue (port_queue.c) bursts: RX steered to the
 * consumers' rings (dwcp_port_steer: each datagram connection to the
 * worker that holds it), the TX rings of its consumers onto the wire.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_memzone.h>
#include <rte_ring.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/timeutil.h"
#include "ipc/port.h"
#include "port_pvt.h"
#include "sup_internal.h"

#define PORT_MBUFS_MIN  8191u   /* 2^n - 1: the ring mempool's best size */
#define PORT_MBUF_CACHE 256u
#define PORT_RING       4096u   /* RX (all queues, all consumers) and TX each, for one of each */
#define PORT_RX_RING_MIN 128u
#define PORT_TX_RING_MIN 512u
#define PORT_DESC       1024u

static unsigned pow2_at_least(unsigned v)
{
	unsigned r = 1;

	while (r < v)
		r <<= 1;
	return r;
}

/* Ring sizes for @p nq queues and @p nc consumers: all of them together
 * hold what one RX and one TX ring of PORT_RING held, so the pool's
 * mbufs cover them however many workers there are. */
static unsigned rx_ring_size(unsigned nq, unsigned nc)
{
	unsigned r = PORT_RING / (nq * nc);

	return pow2_at_least(r < PORT_RX_RING_MIN ? PORT_RX_RING_MIN : r);
}

static unsigned tx_ring_size(unsigned nc)
{
	unsigned r = PORT_RING / nc;

	return pow2_at_least(r < PORT_TX_RING_MIN ? PORT_TX_RING_MIN : r);
}

/* Every ring full and a burst in each thread's and consumer's hands. */
static unsigned port_mbufs(unsigned nq, unsigned nc)
{
	unsigned need = nq * nc * rx_ring_size(nq, nc) + nc * tx_ring_size(nc);

	return need <= PORT_MBUFS_MIN + 1u ? PORT_MBUFS_MIN : pow2_at_least(need) - 1u;
}

bool sup_port_pci(const struct dwcp_config *cfg)
{
	char canon[DWCP_PCI_ADDR_LEN];

	return !strcmp(cfg->net_transport, "dpdk") && dwcp_pci_addr_parse(cfg->net_port, canon) == 0;
}

/* "net_af_packet0,iface=veth0" -> "net_af_packet0". */
static void dev_name(const char *devargs, char *out, size_t n)
{
	snprintf(out, n, "%.*s", (int)strcspn(devargs, ","), devargs);
}

static int configure(struct sup_port *p, const char *name, uint32_t mtu, struct dwcp_err *err)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info info;
	uint16_t now = 0;
	int sock = rte_eth_dev_socket_id(p->id), rc;

	if (sock < 0)
		sock = (int)SOCKET_ID_ANY;
	rc = rte_eth_dev_info_get(p->id, &info);
	if (rc == 0 && !p->af_packet && (mtu < info.min_mtu || mtu > info.max_mtu))
		return dwcp_err_set(err, -EINVAL, "DPDK port %s (%s): MTU %u is outside what it takes, %u..%u: set [net] mtu",
				    name, info.driver_name, mtu, info.min_mtu, info.max_mtu);
	/* af_packet in 22.11 says 1518 bytes is its longest frame whatever
	 * its frame size, so ethdev refuses any larger MTU: its interface's
	 * MTU was set before the probe (iface_mtu) and the PMD moves frames of
	 * up to its frame size. Other drivers take the MTU through ethdev; one
	 * without the op keeps what it has. */
	if (!p->af_packet)
		conf.rxmode.mtu = mtu;
	p->multi_seg = rc == 0 && (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS);
	if (p->multi_seg)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	/* A queue pair per consumer where the device has them; which queue a
	 * frame arrives on does not matter for where it goes (the threads
	 * steer), only for how many threads share the work. */
	p->nq = p->nc;
	if (rc == 0 && p->nq > info.max_rx_queues)
		p->nq = info.max_rx_queues;
	if (rc == 0 && p->nq > info.max_tx_queues)
		p->nq = info.max_tx_queues;
	if (p->nq < 1)
		p->nq = 1;
	if (rc == 0 && p->nq > 1 && info.flow_type_rss_offloads) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
		p->rss = true;
	}
	if (rc == 0)
		rc = rte_eth_dev_configure(p->id, (uint16_t)p->nq, (uint16_t)p->nq, &conf);
	if (rc == 0 && !p->af_packet) {
		rc = rte_eth_dev_set_mtu(p->id, (uint16_t)mtu);
		if (rc == -ENOTSUP && rte_eth_dev_get_mtu(p->id, &now) == 0 && now == mtu)
			rc = 0;
	}
	for (uint16_t q = 0; rc == 0 && q < p->nq; q++) {
		rc = rte_eth_rx_queue_setup(p->id, q, PORT_DESC, (unsigned)sock, NULL, p->pool);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(p->id, q, PORT_DESC, (unsigned)sock, NULL);
	}
	if (rc == 0)
		rc = rte_eth_dev_start(p->id);
	if (rc)
		return dwcp_err_set(err, rc < 0 ? rc : -EIO,
				    "DPDK port %s: cannot set it up (MTU %u, %u queue pairs): %s", name, mtu, p->nq,
				    rte_strerror(rc < 0 ? -rc : rc));
	p->started = true;
	p->tx_cleanup = rte_eth_tx_done_cleanup(p->id, 0, 0) >= 0;
	/* IPv6 neighbour solicitations come to a multicast group: a NIC that
	 * filters multicast must let them in (af_packet takes all it sees). */
	if (p->want_multicast && !p->af_packet && rte_eth_allmulticast_enable(p->id))
		DWCP_WARN("DPDK port %s: cannot receive all multicast; IPv6 peers may not find this node's MAC (set [net] neighbours on them)",
			  name);
	snprintf(p->shm->driver, sizeof(p->shm->driver), "%s", info.driver_name ? info.driver_name : "?");
	return 0;
}

/* af_packet's frame for @p mtu: the frame, its tpacket header, a multiple of 1 KiB. */
static uint32_t frame_size(uint32_t mtu)
{
	return (mtu + 128u + 1023u) & ~1023u;
}

/* Every frame of @p mtu fits one mbuf (svc-net reads single segments);
 * af_packet also wants the room for its whole frame. */
static uint16_t data_room(uint32_t mtu)
{
	uint32_t room = RTE_PKTMBUF_HEADROOM + frame_size(mtu);

	return (uint16_t)(mtu <= 1500 || room < RTE_MBUF_DEFAULT_BUF_SIZE ? RTE_MBUF_DEFAULT_BUF_SIZE : room);
}

/* Only reachable through a bug: the owner's reference keeps every count
 * above 0 (ipc/port.h). Runs where the mbuf was freed. */
static void ext_free_unexpected(void *addr, void *opaque)
{
	(void)opaque;
	DWCP_ERR("DPDK port: an attached chunk buffer (%p) lost its owner's reference", addr);
}

/* Zero-copy TX (ipc/port.h), when [net] zerocopy and the driver allow it. */
static void offer_ext(struct sup *s, struct sup_port *p)
{
	struct dwcp_err err = { 0 };

	if (!s->cfg.net_zerocopy)
		snprintf(p->ext_why, sizeof(p->ext_why), "[net] zerocopy = false");
	else if (!p->multi_seg)
		snprintf(p->ext_why, sizeof(p->ext_why), "driver %s sends no chained mbufs", p->shm->driver);
	else if (!p->af_packet && !p->tx_cleanup)
		snprintf(p->ext_why, sizeof(p->ext_why), "driver %s gives no sent mbufs back on request",
			 p->shm->driver);
	else if (dwcp_port_ext_create(&s->shm, p->af_packet, ext_free_unexpected, &err))
		snprintf(p->ext_why, sizeof(p->ext_why), "%.150s", err.msg);
	else
		p->ext = dwcp_port_ext_lookup();
	p->extpool = p->ext ? rte_mempool_lookup(DWCP_PORT_EXTPOOL) : NULL;
	if (!p->ext)
		DWCP_INFO("DPDK port: chunk fragments are copied into mbufs (%s)", p->ext_why);
}

/* The pool (sized for as many queues as consumers: the device may give
 * fewer, known only once it is probed) and the state page. */
static int make_shared(struct sup_port *p, const char *name, uint32_t mtu, struct dwcp_err *err)
{
	p->mbufs = port_mbufs(p->nc, p->nc);
	p->pool = rte_pktmbuf_pool_create(DWCP_PORT_POOL, p->mbufs, PORT_MBUF_CACHE, 0, data_room(mtu),
					  (int)SOCKET_ID_ANY);
	p->mz = rte_memzone_reserve(DWCP_PORT_MZ, sizeof(*p->shm), SOCKET_ID_ANY, 0);
	if (!p->pool || !p->mz)
		return dwcp_err_set(err, -ENOMEM,
				    "DPDK port %s: no hugepage memory for its %u mbufs of %u bytes (%s): raise [supervisor] hugepage_mb by %u",
				    name, p->mbufs, data_room(mtu), rte_strerror(rte_errno),
				    (p->mbufs * (data_room(mtu) + 256u) >> 20) + 4u);
	p->shm = p->mz->addr;
	memset(p->shm, 0, sizeof(*p->shm));
	return 0;
}

/* RX ring (q, k) for every queue and consumer, TX ring k for every consumer. */
static int make_rings(struct sup_port *p, const char *name, struct dwcp_err *err)
{
	char rn[RTE_RING_NAMESIZE];

	for (unsigned q = 0; q < p->nq; q++) {
		p->qs[q].p = p;
		p->qs[q].q = q;
		for (unsigned k = 0; k < p->nc; k++) {
			snprintf(rn, sizeof(rn), DWCP_PORT_RX_FMT, q, k);
			p->qs[q].rx[k] = rte_ring_create(rn, rx_ring_size(p->nq, p->nc), SOCKET_ID_ANY,
							 RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (!p->qs[q].rx[k])
				goto fail;
		}
	}
	for (unsigned k = 0; k < p->nc; k++) {
		snprintf(rn, sizeof(rn), DWCP_PORT_TX_FMT, k);
		p->tx[k] = rte_ring_create(rn, tx_ring_size(p->nc), SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!p->tx[k])
			goto fail;
	}
	return 0;
fail:
	return dwcp_err_set(err, -ENOMEM, "DPDK port %s: no hugepage memory for ring %s (%s): raise [supervisor] hugepage_mb",
			    name, rn, rte_strerror(rte_errno));
}

/* The devargs to probe with. af_packet's kernel ring holds 512 frames by
 * default, which a port thread that sleeps up to SLEEP_MAX_NS, on a host
 * whose cores the other services share, overruns at ~100 MB/s (measured:
 * 2 % of the frames of a transfer lost on a veth, none with 4096); and its
 * 2048-byte frames cannot hold a jumbo frame: past 1500 the frames grow
 * to fit @p mtu, and their count shrinks to keep the ring's bytes. It
 * opens one socket (a queue pair) per @p nq, which the kernel's packet
 * fanout spreads flows over. */
static const char *probe_args(const char *cfg, const char *name, uint32_t mtu, unsigned nq, char *buf,
			      size_t len)
{
	uint32_t framesz = frame_size(mtu);
	int n;

	if (strncmp(name, "net_af_packet", 13))
		return cfg;
	n = snprintf(buf, len, "%s", cfg);
	if (!strstr(cfg, "qpairs=") && nq > 1)
		n += snprintf(buf + n, len - (size_t)n, ",qpairs=%u", nq);
	if (!strstr(cfg, "framecnt="))
		n += snprintf(buf + n, len - (size_t)n, ",framecnt=%u", mtu > 1500 ? 1024u : 4096u);
	if (mtu > 1500 && !strstr(cfg, "framesz="))
		n += snprintf(buf + n, len - (size_t)n, ",framesz=%u,blocksz=%u", framesz, framesz * 4u);
	return buf;
}

/* The MTU the port is to have: [net] mtu, or for af_packet the
 * interface's own (which the PMD takes as is), else 1500. */
static uint32_t wanted_mtu(const struct dwcp_config *cfg)
{
	const char *at = strstr(cfg->net_port, "iface=");
	char path[128];
	unsigned mtu = 0;
	FILE *f;

	if (cfg->net_mtu)
		return cfg->net_mtu;
	if (!at || strncmp(cfg->net_port, "net_af_packet", 13))
		return 1500;
	snprintf(path, sizeof(path), "/sys/class/net/%.*s/mtu", (int)strcspn(at + 6, ","), at + 6);
	f = fopen(path, "re");
	if (!f || fscanf(f, "%u", &mtu) != 1 || mtu < 1280 || mtu > 9600)
		mtu = 1500;
	if (f)
		fclose(f);
	return mtu;
}

uint64_t sup_port_hugepage_bytes(const struct sup *s)
{
	const struct dwcp_config *cfg = &s->cfg;
	unsigned nc = sup_workers_wanted(s, DWCP_SLOT_NET);
	/* Its mbufs (with their headers), the attach pool's, the rings and
	 * the state page, in MiB with 8 to spare (DPDK's own headers). */
	uint64_t mbufs = (uint64_t)port_mbufs(nc, nc) * (data_room(wanted_mtu(cfg)) + 256u) +
			 (uint64_t)8191u * 256u + 4u * PORT_RING * sizeof(void *) + 64u * 1024u * nc * nc;

	return strcmp(cfg->net_transport, "dpdk") ? 0 : ((mbufs >> 20) + 8u) << 20;
}

/* Give interface @p ifname MTU @p mtu; @p old gets what it had.
 * @return 0 or -errno. */
static int set_if_mtu(const char *ifname, uint32_t mtu, uint32_t *old)
{
	struct ifreq ifr = { 0 };
	int fd, rc = 0;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || ioctl(fd, SIOCGIFMTU, &ifr)) {
		rc = -errno;
	} else {
		*old = (uint32_t)ifr.ifr_mtu;
		ifr.ifr_mtu = (int)mtu;
		if (*old != mtu && ioctl(fd, SIOCSIFMTU, &ifr))
			rc = -errno;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* af_packet: the interface's MTU, which the kernel holds every frame to.
 * What it had is given back when the node stops (sup_port_close). */
static int iface_mtu(struct sup_port *p, const char *devargs, uint32_t mtu, struct dwcp_err *err)
{
	const char *at = strstr(devargs, "iface=");
	uint32_t old = 0;
	int rc;

	if (!at)
		return 0;
	snprintf(p->iface, sizeof(p->iface), "%.*s", (int)strcspn(at + 6, ","), at + 6);
	rc = set_if_mtu(p->iface, mtu, &old);
	if (rc)
		return dwcp_err_set(err, rc, "[net] mtu = %u: cannot give interface %s that MTU: %s (ip link set %s mtu %u)",
				    mtu, p->iface, strerror(-rc), p->iface, mtu);
	if (old != mtu)
		p->iface_old_mtu = old;
	return 0;
}

int sup_port_open(struct sup *s, struct dwcp_err *err)
{
	struct sup_port *p;
	struct rte_ether_addr mac;
	struct rte_eth_link link = { 0 };
	char name[DWCP_CFG_DEVARGS_MAX], devargs[DWCP_CFG_DEVARGS_MAX + 80], host[DWCP_ADDR_MAX];
	struct dwcp_err aerr = { 0 };
	uint32_t want = wanted_mtu(&s->cfg);
	uint16_t mtu = 0, steer_port = 0;
	int rc;

	if (strcmp(s->cfg.net_transport, "dpdk"))
		return 0;
	dev_name(s->cfg.net_port, name, sizeof(name));
	if (strncmp(name, "net_", 4) && !sup_port_pci(&s->cfg))
		return dwcp_err_set(err, -EINVAL,
				    "[net] port = %s: name a DPDK vdev (net_af_packet0,iface=IFACE or net_af_xdp0,iface=IFACE) or a PCI NIC bound to vfio-pci by its address (0000:3b:00.0; README: binding a NIC)",
				    s->cfg.net_port);
	p = calloc(1, sizeof(*p));
	if (!p)
		return dwcp_err_set(err, -ENOMEM, "out of memory");
	s->port = p;
	p->spin_ns = (uint64_t)s->cfg.spin_us * 1000u;
	p->want_multicast = s->cfg.net_ip6[0] != '\0';
	p->poll_mode = s->cfg.poll_mode;
	p->region = &s->shm;
	p->nc = sup_workers_wanted(s, DWCP_SLOT_NET);
	if (p->nc > DWCP_PORT_MAX_CONSUMERS)
		p->nc = DWCP_PORT_MAX_CONSUMERS;
	/* Datagrams come to the port of [net] listen (7100 without one); worker
	 * k's own connections leave from the ports after it. */
	if (!s->cfg.net_listen[0] || dwcp_addr_split(s->cfg.net_listen, host, &steer_port, &aerr) || !steer_port)
		steer_port = 7100;
	if ((unsigned)steer_port + p->nc > 65535u)
		return dwcp_err_set(err, -EINVAL,
				    "[net] listen = %s: with %u svc-net workers on a DPDK port the %u UDP ports after it are used too: choose a lower port",
				    s->cfg.net_listen, p->nc, p->nc);
	rc = make_shared(p, name, want, err);
	if (rc)
		return rc;
	if (sup_port_pci(&s->cfg)) {
		/* EAL probed it at init, the only PCI device it was allowed (-a):
		 * the only ethdev there is, whatever spelling of the address. */
		uint16_t id, n = 0;

		RTE_ETH_FOREACH_DEV(id) {
			p->id = id;
			n++;
		}
		if (n != 1)
			return dwcp_err_set(err, -ENODEV,
					    "[net] port = %s: DPDK found no NIC there: bind it to vfio-pci first (dpdk-devbind.py -b vfio-pci %s; README: binding a NIC), and check `dpdk-devbind.py --status`",
					    s->cfg.net_port, name);
	} else {
		p->af_packet = !strncmp(name, "net_af_packet", 13);
		if (p->af_packet && s->cfg.net_mtu) {
			rc = iface_mtu(p, s->cfg.net_port, want, err);
			if (rc)
				return rc;
		}
		rc = rte_dev_probe(probe_args(s->cfg.net_port, name, want, p->nc, devargs, sizeof(devargs)));
		if (rc == 0)
			rc = rte_eth_dev_get_port_by_name(name, &p->id);
		if (rc)
			return dwcp_err_set(err, rc < 0 ? rc : -ENODEV,
					    "[net] port = %s: DPDK cannot open it (%s): is the interface there and up (ip link), and is this the right driver?",
					    s->cfg.net_port, rte_strerror(rc < 0 ? -rc : rc));
	}
	rc = configure(p, name, want, err);
	if (rc == 0)
		rc = make_rings(p, name, err);
	if (rc)
		return rc;
	rte_eth_macaddr_get(p->id, &mac);
	rte_eth_dev_get_mtu(p->id, &mtu);
	if (p->af_packet)
		mtu = (uint16_t)want;   /* its interface's, which ethdev does not report */
	rte_eth_link_get_nowait(p->id, &link);
	memcpy(p->shm->mac, mac.addr_bytes, sizeof(p->shm->mac));
	p->shm->mtu = mtu;
	p->shm->port_id = p->id;
	p->shm->link_up = link.link_status;
	p->shm->n_queues = (uint16_t)p->nq;
	p->shm->n_consumers = (uint16_t)p->nc;
	p->shm->steer_port = steer_port;
	offer_ext(s, p);
	for (unsigned q = 0; q < p->nq; q++) {
		if (pthread_create(&p->qs[q].thread, NULL, sup_port_queue_main, &p->qs[q]))
			return dwcp_err_set(err, -EAGAIN, "cannot start the thread of port queue %u", q);
		p->qs[q].running = true;
	}
	__atomic_store_n(&p->shm->magic, DWCP_PORT_MAGIC, __ATOMIC_RELEASE);
	DWCP_INFO("DPDK port %s (%s) up: port %u, mac %02x:%02x:%02x:%02x:%02x:%02x, mtu %u, link %s, %u queue pair%s%s for %u svc-net worker%s (UDP port %u), zero-copy TX %s",
		  name, p->shm->driver, p->id, mac.addr_bytes[0], mac.addr_bytes[1], mac.addr_bytes[2],
		  mac.addr_bytes[3], mac.addr_bytes[4], mac.addr_bytes[5], mtu,
		  link.link_status ? "up" : "down", p->nq, p->nq > 1 ? "s" : "",
		  p->nq > 1 ? (p->rss ? " (RSS)" : " (spread by the driver)") : "", p->nc, p->nc > 1 ? "s" : "",
		  steer_port, p->ext ? "on" : "off");
	return 0;
}

void sup_port_process_died(struct sup *s, pid_t pid)
{
	struct sup_port *p = s->port;
	uint32_t dead = (uint32_t)pid;

	/* Only a consumer that died holding its claim can have left a ring
	 * operation half done; one that stopped cleanly released it. The
	 * reset is asked for before the claim is dropped, so the next
	 * consumer (which the supervisor starts only after this) waits for it. */
	if (!p || !p->qs[0].running || !pid)
		return;
	for (unsigned k = 0; k < p->nc; k++) {
		struct dwcp_port_consumer *c = &p->shm->c[k];
		uint32_t was = dead;

		if (__atomic_load_n(&c->pid, __ATOMIC_ACQUIRE) != dead)
			continue;
		__atomic_fetch_add(&c->reset_req, 1, __ATOMIC_RELEASE);
		__atomic_compare_exchange_n(&c->pid, &was, 0, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
		sup_port_wake_all(p);
	}
}

void sup_port_close(struct sup *s)
{
	struct sup_port *p = s->port;

	if (!p)
		return;
	__atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
	if (p->shm)
		sup_port_wake_all(p);
	for (unsigned q = 0; q < p->nq; q++)
		if (p->qs[q].running)
			pthread_join(p->qs[q].thread, NULL);
	if (p->started) {
		rte_eth_dev_stop(p->id);
		rte_eth_dev_close(p->id);   /* af_packet/af_xdp: closes the kernel socket */
	}
	if (p->iface_old_mtu) {
		uint32_t was;

		if (set_if_mtu(p->iface, p->iface_old_mtu, &was))
			DWCP_WARN("DPDK port: cannot give interface %s its MTU %u back (ip link set %s mtu %u)",
				  p->iface, p->iface_old_mtu, p->iface, p->iface_old_mtu);
		else
			DWCP_INFO("DPDK port: interface %s has its MTU %u again", p->iface, p->iface_old_mtu);
	}
	free(p);
	s->port = NULL;
}

/* The queues' counters together. */
struct port_sums {
	uint64_t rx_frames, tx_frames, tx_refused, sleeps, rx_ring_full;
};

static struct port_sums port_sums(const struct sup_port *p)
{
	struct port_sums t = { 0 };

	for (unsigned q = 0; q < p->nq; q++) {
		t.rx_frames += __atomic_load_n(&p->shm->q[q].rx_frames, __ATOMIC_RELAXED);
		t.tx_frames += __atomic_load_n(&p->shm->q[q].tx_frames, __ATOMIC_RELAXED);
		t.tx_refused += __atomic_load_n(&p->shm->q[q].tx_refused, __ATOMIC_RELAXED);
		t.sleeps += __atomic_load_n(&p->shm->q[q].sleeps, __ATOMIC_RELAXED);
	}
	for (unsigned k = 0; k < p->nc; k++)
		t.rx_ring_full += __atomic_load_n(&p->shm->c[k].rx_ring_full, __ATOMIC_RELAXED);
	return t;
}

void sup_port_sample(struct sup *s)
{
	struct sup_port *p = s->port;
	uint64_t now = dwcp_now_ns(), rx, tx;
	struct port_sums t;

	if (!p || !p->shm)
		return;
	t = port_sums(p);
	rx = t.rx_frames;
	tx = t.tx_frames;
	if (p->prev_ns && now > p->prev_ns) {
		p->rx_pps = (rx - p->prev_rx) / ((now - p->prev_ns) / 1e9);
		p->tx_pps = (tx - p->prev_tx) / ((now - p->prev_ns) / 1e9);
	}
	p->prev_rx = rx;
	p->prev_tx = tx;
	p->prev_ns = now;
}

void sup_port_json(struct sup *s, cJSON *root)
{
	struct sup_port *p = s->port;
	struct rte_eth_stats st = { 0 };
	struct rte_eth_link link = { 0 };
	const struct dwcp_port_shm *h;
	struct port_sums t;
	char mac[18];
	cJSON *o, *cs;

	if (!p || !p->shm || !p->qs[0].running)
		return;
	h = p->shm;
	t = port_sums(p);
	rte_eth_stats_get(p->id, &st);
	rte_eth_link_get_nowait(p->id, &link);
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", h->mac[0], h->mac[1], h->mac[2],
		 h->mac[3], h->mac[4], h->mac[5]);
	o = cJSON_AddObjectToObject(root, "port");
	cJSON_AddStringToObject(o, "devargs", s->cfg.net_port);
	cJSON_AddStringToObject(o, "driver", h->driver);
	cJSON_AddNumberToObject(o, "port_id", h->port_id);
	cJSON_AddStringToObject(o, "mac", mac);
	cJSON_AddNumberToObject(o, "mtu", h->mtu);
	cJSON_AddBoolToObject(o, "link_up", link.link_status);
	cJSON_AddNumberToObject(o, "queues", p->nq);
	cJSON_AddBoolToObject(o, "rss", p->rss);
	cJSON_AddNumberToObject(o, "udp_port", h->steer_port);
	cJSON_AddBoolToObject(o, "zero_copy_tx", p->ext != NULL);
	if (!p->ext)
		cJSON_AddStringToObject(o, "zero_copy_tx_off", p->ext_why);
	cJSON_AddNumberToObject(o, "rx_frames", t.rx_frames);
	cJSON_AddNumberToObject(o, "tx_frames", t.tx_frames);
	cJSON_AddNumberToObject(o, "rx_pps", p->rx_pps);
	cJSON_AddNumberToObject(o, "tx_pps", p->tx_pps);
	cJSON_AddNumberToObject(o, "rx_missed", st.imissed);
	cJSON_AddNumberToObject(o, "rx_errors", st.ierrors);
	cJSON_AddNumberToObject(o, "tx_errors", st.oerrors);
	cJSON_AddNumberToObject(o, "rx_ring_full", t.rx_ring_full);
	cJSON_AddNumberToObject(o, "tx_refused", t.tx_refused);
	cJSON_AddNumberToObject(o, "mbufs", p->mbufs);
	cJSON_AddNumberToObject(o, "mbufs_in_use", rte_mempool_in_use_count(p->pool));
	cJSON_AddNumberToObject(o, "sleeps", t.sleeps);
	/* What each queue's thread moved: how RSS (or the kernel's fanout) spreads flows. */
	cs = cJSON_AddArrayToObject(o, "queue_frames");
	for (unsigned q = 0; cs && q < p->nq; q++) {
		cJSON *c = cJSON_CreateObject();

		if (!c)
			break;
		cJSON_AddNumberToObject(c, "rx", __atomic_load_n(&h->q[q].rx_frames, __ATOMIC_RELAXED));
		cJSON_AddNumberToObject(c, "tx", __atomic_load_n(&h->q[q].tx_frames, __ATOMIC_RELAXED));
		cJSON_AddItemToArray(cs, c);
	}
	/* Which worker gets what: RSS and steering at work, or not. */
	cs = cJSON_AddArrayToObject(o, "consumers");
	for (unsigned k = 0; cs && k < p->nc; k++) {
		cJSON *c = cJSON_CreateObject();

		if (!c)
			break;
		cJSON_AddNumberToObject(c, "worker", k);
		cJSON_AddNumberToObject(c, "pid", __atomic_load_n(&h->c[k].pid, __ATOMIC_RELAXED));
		cJSON_AddNumberToObject(c, "rx_frames", __atomic_load_n(&h->c[k].rx_frames, __ATOMIC_RELAXED));
		cJSON_AddNumberToObject(c, "tx_frames", __atomic_load_n(&h->c[k].tx_frames, __ATOMIC_RELAXED));
		cJSON_AddNumberToObject(c, "rx_ring_full", __atomic_load_n(&h->c[k].rx_ring_full, __ATOMIC_RELAXED));
		cJSON_AddItemToArray(cs, c);
	}
	cJSON_AddNumberToObject(o, "dgram_frags_tx", h->dg_frags_tx);
	cJSON_AddNumberToObject(o, "dgram_frags_rx", h->dg_frags_rx);
	cJSON_AddNumberToObject(o, "dgram_frags_resent", h->dg_frags_resent);
	cJSON_AddNumberToObject(o, "dgram_nacks_tx", h->dg_nacks_tx);
	cJSON_AddNumberToObject(o, "dgram_nacks_rx", h->dg_nacks_rx);
	cJSON_AddNumberToObject(o, "dgram_bad_rx", h->dg_bad_rx);
	cJSON_AddNumberToObject(o, "dgram_tx_ring_full", h->dg_tx_ring_full);
	cJSON_AddNumberToObject(o, "dgram_fault_drops", h->dg_fault_drops);
	cJSON_AddNumberToObject(o, "dgram_probes", h->dg_probes);
	cJSON_AddNumberToObject(o, "dgram_rx_nobuf", h->dg_rx_nobuf);
	cJSON_AddNumberToObject(o, "dgram_frags_zero_copy", h->dg_frags_zc);
	cJSON_AddNumberToObject(o, "neighbour_requests_tx", h->neigh_requests_tx);
	if (p->extpool) {
		cJSON_AddNumberToObject(o, "attach_mbufs_in_use", rte_mempool_in_use_count(p->extpool));
		cJSON_AddNumberToObject(o, "attach_buffers_held", dwcp_port_ext_held(p->ext));
	}
}
