/* dwcp's INI configuration: one file per node instance, every key with a
 * built-in default that works on a laptop-class machine (no NIC, RDMA
 * device or GPU), so `dwcp-supervisor start` needs no file at all.
 *
 * Parsing is strict: an unknown section or key, a value out of range, or a
 * malformed line is an error that names the file, the line, the key, what
 * was wrong and what is accepted. A typo must never silently fall back to
 * a default.
 *
 * Format: `[section]` headers, `key = value` lines, `#` or `;` comments
 * (whole-line, or after whitespace), surrounding whitespace trimmed, keys
 * case-sensitive, booleans true/false/yes/no/on/off/1/0, sizes accept
 * K/M/G suffixes (powers of 1024) where the key says "bytes".
 */
#ifndef DWCP_COMMON_CONFIG_H
#define DWCP_COMMON_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/netaddr.h"

#define DWCP_NAME_MAX      32   /* instance and service names, incl. NUL */
#define DWCP_PATH_MAX      256
#define DWCP_CFG_MAX_SVCS  8
#define DWCP_CFG_MAX_PEERS 16
#define DWCP_CFG_DEVARGS_MAX 128   /* [net] port, NUL included */
#define DWCP_CFG_NEIGH_MAX   640   /* [net] neighbours: 16 "IP=MAC" entries and separators */
#define DWCP_CFG_CIDR_MAX    20
#define DWCP_CFG_CIDR6_MAX   44    /* [net] ip6: 39 characters of address, "/128", NUL */    /* [net] ip: "255.255.255.255/32", NUL included */

/* AUTO: per stream, from measured compressor and link rates (common/ops/codec_auto.h). */
enum dwcp_cfg_codec {
	DWCP_CFG_CODEC_NONE = 0, DWCP_CFG_CODEC_LZ4 = 1, DWCP_CFG_CODEC_ZSTD = 2, DWCP_CFG_CODEC_AUTO = 3
};

struct dwcp_cfg_peer {
	char name[DWCP_NAME_MAX];
	char addr[DWCP_ADDR_MAX];
};

struct dwcp_config {
	/* [supervisor] */
	char     instance[DWCP_NAME_MAX];    /* instance; default "dwcp"; [A-Za-z0-9_-]{1,31} */
	uint32_t hugepage_mb;         /* hugepage_mb; 64..65536; default 512 */
	char     huge_dir[DWCP_PATH_MAX];    /* huge_dir; default "/dev/hugepages" */
	char     run_dir[DWCP_PATH_MAX];     /* run_dir; default "/run/dwcp" (instance dir below it) */
	char     bin_dir[DWCP_PATH_MAX];     /* bin_dir; default "" = next to dwcp-supervisor */
	uint32_t heartbeat_ms;        /* heartbeat_ms; 10..10000; default 100 */
	uint32_t heartbeat_timeout_ms;/* heartbeat_timeout_ms; must be >= 3*heartbeat_ms, <= 600000; default 1000 */
	uint32_t init_timeout_ms;     /* init_timeout_ms; 100..600000; default 10000 */
	uint32_t backoff_ms;          /* restart_backoff_ms; 1..60000; default 100 */
	uint32_t backoff_max_ms;      /* restart_backoff_max_ms; >= backoff_ms, <= 600000; default 5000 */
	bool     systemd_services;    /* systemd_services; default false. true: the services are
	                               * dwcp-svc@ units; the supervisor waits for them to attach,
	                               * watches and reclaims, and leaves (re)starting to systemd */
	bool     hot_standby;         /* hot_standby; default false. true: a second process per
	                               * service attaches ahead of need and waits; when the
	                               * service dies it takes over at once, without the cold
	                               * start (DPDK attach) a restart costs */
	uint32_t client_slots_per_pid;/* client_slots_per_pid; 1..9; default 2: client slots one
	                               * process may hold, so that none can take them all */
	/* [pool] */
	uint32_t pool_buffers;        /* buffers; 64..1048576; default 1024 */
	uint32_t pool_buf_size;       /* buf_size (bytes); 4096..16777216, multiple of 4096; default 266240 (256 KiB chunk + 4 KiB headroom for expansion) */
	/* [link] */
	uint32_t link_depth;          /* depth; power of two, 64..1048576; default 1024 */
	/* [runtime] */
	uint32_t spin_us;             /* spin_us; 0..1000000; default dwcp_config_spin_default
	                               * (poll budget before sleeping) */
	bool     poll_mode;           /* poll_mode; default false (true = dedicated core, never sleeps) */
	/* [services] */
	char     services[DWCP_CFG_MAX_SVCS][DWCP_NAME_MAX]; /* enable = comma list; default all six */
	unsigned n_services;
	/* [crypto] */
	/* [mem] */
	uint32_t delta_cache_mb;      /* delta_cache_mb; 0..65536 or auto (DWCP_CFG_AUTO, the default:
	                               * sized from the node's free hugepage memory, svc-supervisor/node.c) */
	/* [compress] */
	uint32_t zstd_level;          /* zstd_level; 1..19; default 1 */
	uint32_t lz4_level;           /* lz4_level; 1..12 (3+ = LZ4 HC); default 1 */
	char     key_file[DWCP_PATH_MAX];    /* key_file; absolute path of the AES-256 key file
	                               * (`dwcp keygen`, common/keyfile.h); default "" = no
	                               * encryption configured. Absolute because the services
	                               * that read it need not share the supervisor's cwd */
	bool     crypto_insecure;     /* insecure; default false. Without a key a node listens on
	                               * loopback addresses only; true lets it listen anywhere
	                               * and accept unauthenticated, unencrypted peers */
	/* [net] (svc-net, the AMST kernel-TCP transport) */
	char     net_listen[DWCP_ADDR_MAX]; /* listen; HOST:PORT or "" = accept nothing; default
	                               * "0.0.0.0:7100"; `dwcp-supervisor start --listen` overrides */
	uint32_t net_connections;     /* connections; 1..64 per peer and svc-net worker; default 4 */
	uint32_t net_workers;         /* workers; auto | 1..DWCP_CFG_MAX_NET_WORKERS; default auto
	                               * (0): svc-net processes, each with its own connections
	                               * to every peer (dwcp_config_net_workers) */
	uint32_t net_zerocopy;        /* zerocopy; auto | true | false; default auto: MSG_ZEROCOPY
	                               * for chunk sends on a connection until the kernel reports
	                               * that it copied them anyway (loopback, a NIC without
	                               * scatter-gather), then copies; true: always; false: never */
	uint32_t net_busy_poll_us;    /* busy_poll_us; SO_BUSY_POLL, 0..100000; default 0 = off */
	uint32_t net_sockbuf;         /* socket_buffer (bytes); 64K..1G; default 16M */
	uint32_t net_resend_ms;       /* resend_ms; 50..600000; default 2000: resend a chunk not
	                               * acknowledged for this long */
	char     net_congestion[16];  /* congestion; default "bbr" (cubic, with a log line, if the
	                               * kernel lacks it) */
	uint32_t net_handshake_ms;    /* handshake_ms; 100..60000; default 5000: a connection that
	                               * has not authenticated by then is closed */
	uint32_t net_max_unauth;      /* max_unauthenticated; 1..128; default 32: connections still
	                               * in their handshake; beyond it the oldest is closed */
	char     net_transport[16];   /* transport; tcp (default) or dpdk: the supervisor owns
	                               * [net] port through a DPDK driver (docs/dpdk-port.md) */
	char     net_port[DWCP_CFG_DEVARGS_MAX]; /* port; DPDK devargs; "" = none (default) */
	char     net_ip[DWCP_CFG_CIDR_MAX];  /* ip; A.B.C.D/N: this node's address on the DPDK port
	                               * (datagrams go to UDP port = the port of listen); "" = none */
	char     net_ip6[DWCP_CFG_CIDR6_MAX]; /* ip6; ADDR/N: this node's IPv6 address on the DPDK
	                               * port, beside or instead of ip; "" = none */
	uint32_t net_fault_drop_ppm;  /* fault_drop_ppm; 0..500000; default 0. Fault injection for
	                               * tests: svc-net drops this many per million datagrams it
	                               * receives on the DPDK port, as a lossy path would */
	uint32_t net_mtu;             /* mtu; 0 (default: the port's own; for af_packet the
	                               * interface's) or 1280..9600: the supervisor sets the
	                               * port to it and sizes mbufs and af_packet frames to fit */
	char     net_neighbours[DWCP_CFG_NEIGH_MAX]; /* neighbours; "IP=MAC, ..." (common/netaddr.h):
	                               * static entries of the port's neighbour table, for peers
	                               * in [net] ip's subnet that answer no ARP; "" = none */
	/* [peers] NAME = HOST:PORT, any number up to DWCP_CFG_MAX_PEERS */
	struct dwcp_cfg_peer peers[DWCP_CFG_MAX_PEERS];
	unsigned n_peers;
	/* [stream] (defaults of `dwcp send`) */
	uint32_t chunk_size;          /* chunk_size (bytes); 4096..262144, multiple of 4096; default
	                               * 256K (per-chunk costs, and zstd's per-frame set-up, fall
	                               * with size; the HDE kept mask is 64 pages). `dwcp send` uses at most [pool] buf_size - 4096 (a chunk
	                               * plus header and worst-case growth must fit one buffer) */
	uint32_t window;              /* window; chunks in flight per send, 1..65536; default 64
	                               * (16 MiB of 256 KiB chunks: the receiver sees chunks out
	                               * of order by up to a window, and its delta cache must
	                               * still hold the bases the sender uses) */
	uint32_t codec;               /* codec; auto | zstd | lz4 | none; default auto */
	bool     delta;               /* delta; HDE against the previous version; default true */
	char     index_dir[DWCP_PATH_MAX]; /* index_dir; page indexes of sent streams and records
	                               * of received ones (unchanged pages never travel);
	                               * default DWCP_CFG_INDEX_DIR */
	uint32_t mem_workers;         /* [mem] workers; auto | 1..DWCP_CFG_MAX_MEM_WORKERS; default
	                               * auto (0): svc-mem processes, each with its part of the
	                               * delta cache (dwcp_config_mem_workers) */
	/* [simd] */
	uint32_t simd_workers;        /* workers; auto | 1..DWCP_CFG_MAX_WORKERS; default auto (0):
	                               * one svc-simd process per CPU this node may use, at most
	                               * DWCP_CFG_MAX_WORKERS (dwcp_config_workers) */
	/* [rdma] */
	uint32_t rdma_workers;        /* workers; 1..DWCP_CFG_MAX_RDMA_WORKERS; default 1: svc-rdma
	                               * processes, each with its own queue pair to every peer
	                               * (the first one alone listens) */
	/* [gpu] */
	uint32_t gpu_workers;         /* workers; auto | 1..DWCP_CFG_MAX_GPU_WORKERS; default auto
	                               * (0): one svc-gpu process per GPU, worker k on CUDA device
	                               * k (dwcp_config_gpu_workers) */
	bool     gpu_cpu_backend;     /* cpu_backend; default false. true: without a CUDA device
	                               * svc-gpu runs the chunk ops on the CPU (the same code as
	                               * svc-simd) and is READY, so routing between the two
	                               * engines works, and is tested, without a GPU */
	/* [prof] */
	char     prof_listen[DWCP_ADDR_MAX]; /* listen; HOST:PORT of svc-prof's Prometheus /metrics
	                               * endpoint, or "" = none; default "" (two nodes on one host
	                               * would fight over any fixed port; deploy/dwcp.ini.example
	                               * sets 127.0.0.1:9469) */
	uint32_t prof_sample_hz;      /* sample_hz; 0..1000, default 19: svc-prof's continuous
	                               * profile of every service (needs listen, where it is
	                               * served at /profile); 0 = none */
	/* [recv] */
	char     recv_dir[DWCP_PATH_MAX]; /* dir; where `dwcp recv` writes without --out;
	                               * default "/var/lib/dwcp/recv" */
};

#define DWCP_CFG_INDEX_DIR "/var/lib/dwcp/index"
/* Workers of one service: its own slot plus the further worker slots
 * (ipc/abi.h: DWCP_MAX_WORKERS; asserted where both are seen). */
#define DWCP_CFG_MAX_WORKERS 32
/* A true/false key set to "auto" (net_zerocopy): false 0, true 1. */
#define DWCP_CFG_BOOL_AUTO 2u
/* A size key set to "auto" where 0 is a size of its own (delta_cache_mb). */
#define DWCP_CFG_AUTO UINT32_MAX
#define DWCP_CFG_MAX_RDMA_WORKERS 16   /* one bit each in a peer's RDMA mask (ipc/peers.h) */
#define DWCP_CFG_MAX_NET_WORKERS 8     /* one byte each in a peer's connection count (ipc/peers.h) */
#define DWCP_CFG_MAX_MEM_WORKERS 8
#define DWCP_CFG_MAX_GPU_WORKERS 8
/* CPUs per svc-mem worker that auto gives (below twice that: one worker). */
#define DWCP_CFG_CPUS_PER_MEM_WORKER 8
/* CPUs per svc-net worker that auto gives (below twice that: one worker). */
#define DWCP_CFG_CPUS_PER_NET_WORKER 4

/**
 * Workers to run for a `workers` setting: @p setting itself, or for auto
 * (0) @p cpus (the CPUs this process may run on), capped at
 * DWCP_CFG_MAX_WORKERS.
 */
unsigned dwcp_config_workers(uint32_t setting, unsigned cpus);

/**
 * svc-net workers for [net] workers = @p setting on @p cpus CPUs: the
 * setting itself, or for auto one per DWCP_CFG_CPUS_PER_NET_WORKER CPUs
 * from 8 CPUs up (one below: a second process that reads sockets would
 * take the core a chunk's next step needs), at most
 * DWCP_CFG_MAX_NET_WORKERS. On a DPDK port each worker is one of the
 * port's consumers (ipc/port.h).
 */
unsigned dwcp_config_net_workers(uint32_t setting, unsigned cpus);

/**
 * svc-mem workers for [mem] workers = @p setting on @p cpus CPUs: the
 * setting, or for auto one per DWCP_CFG_CPUS_PER_MEM_WORKER CPUs from 16
 * up (its steps cost about half of svc-net's per byte), at most
 * DWCP_CFG_MAX_MEM_WORKERS.
 */
unsigned dwcp_config_mem_workers(uint32_t setting, unsigned cpus);

/**
 * svc-gpu workers for [gpu] workers = @p setting on a host with @p gpus
 * GPUs: the setting, or for auto one per GPU (one without a GPU: it says
 * why it is STANDBY), at most DWCP_CFG_MAX_GPU_WORKERS.
 */
unsigned dwcp_config_gpu_workers(uint32_t setting, unsigned gpus);

#define DWCP_CFG_SPIN_MIN_CPUS 8u

/** The built-in [runtime] spin_us on a host of @p cpus: 50 from DWCP_CFG_SPIN_MIN_CPUS up, else 0. */
uint32_t dwcp_config_spin_default(unsigned cpus);

/** "zstd", "lz4", "none". */
const char *dwcp_config_codec_name(uint32_t codec);

/** The address of peer @p name in @p cfg, or NULL. */
const char *dwcp_config_peer(const struct dwcp_config *cfg, const char *name);

/** Fill @p cfg with the built-in defaults. */
void dwcp_config_defaults(struct dwcp_config *cfg);

/**
 * Apply the INI text @p text on top of what @p cfg holds.
 * @param origin name used in messages (file path, or "<string>").
 * @return 0, or -EINVAL with @p err naming origin:line, the key and the
 *         accepted values. @p cfg may be partly updated on error.
 */
int dwcp_config_parse(struct dwcp_config *cfg, const char *text, const char *origin,
		      struct dwcp_err *err);

/**
 * Read @p path and apply it (dwcp_config_parse). Then validate.
 * @return 0; -ENOENT/-EACCES/... when the file cannot be read (message
 *         names the path and the errno text); -EINVAL as above.
 */
int dwcp_config_load(struct dwcp_config *cfg, const char *path, struct dwcp_err *err);

/**
 * Cross-field checks (heartbeat_timeout_ms >= 3*heartbeat_ms, backoff_max
 * >= backoff, instance name charset). dwcp_config_load calls it; call it
 * after changing fields by hand (e.g. from command-line overrides).
 */
int dwcp_config_validate(const struct dwcp_config *cfg, struct dwcp_err *err);

/** Check an instance name: [A-Za-z0-9_-], 1..31 characters. */
int dwcp_config_check_instance(const char *name, struct dwcp_err *err);

#endif
