/* The node part of the region: the transport's configuration (a snapshot
 * the supervisor writes once, before anything attaches) and the stream
 * table through which `dwcp send` / `dwcp recv` tell svc-net about their
 * streams.
 *
 * A stream is named by the user ("vm42"); its id is the XXH3-64 of the
 * name, so both nodes derive the same id without talking, and the HDE
 * delta cache keys pages by it across runs.
 *
 * Stream table entries. A client claims a free or stale entry with one CAS
 * of `claim` (its slot and generation), writes the fields, then publishes
 * them with a release store of `ready`. An entry is live while the slot's
 * current generation is the one in `claim` and the supervisor shows that
 * generation attached; so a client that dies without unregistering leaves
 * an entry that every reader already treats as free, and the next
 * registrant takes it over with the same CAS. Readers copy an entry and
 * re-check `claim` afterwards (seqlock style): a copy torn by a takeover is
 * discarded.
 *
 *   field                 | writer                 | readers
 *   claim, ready, fields  | the registering client | svc-net, dwcpctl
 *   net_error, net_state  | svc-net                | the client (progress line)
 */
#ifndef DWCP_IPC_STREAMS_H
#define DWCP_IPC_STREAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/err.h"
#include "common/netaddr.h"
#include "ipc/peers.h"
#include "ipc/shm.h"

#define DWCP_MAX_STREAMS      64
#define DWCP_STREAM_NAME_MAX  48

/* What services and clients need of the config beyond the control block. */
struct dwcp_node_conf {                  /* writer: supervisor, once */
	char     listen[DWCP_ADDR_MAX];
	uint32_t connections;
	uint32_t zerocopy;
	uint32_t busy_poll_us;
	uint32_t sockbuf;
	uint32_t resend_ms;
	uint32_t chunk_size;
	uint32_t window;
	uint32_t codec;                  /* enum dwcp_cfg_codec */
	uint32_t delta;
	uint32_t n_peers;
	char     congestion[16];
	char     recv_dir[DWCP_PATH_MAX];
	struct dwcp_cfg_peer peers[DWCP_CFG_MAX_PEERS];
	uint32_t gpu_cpu_backend;        /* [gpu] cpu_backend */
	uint32_t insecure;               /* [crypto] insecure */
	uint32_t handshake_ms;           /* [net] handshake_ms */
	uint32_t max_unauth;             /* [net] max_unauthenticated */
	/* Added in the page's padding, so no ABI bump: a supervisor built
	 * before it leaves it zero, and `dwcp send`/`recv` read "" as the
	 * built-in default. */
	char     index_dir[DWCP_PATH_MAX]; /* [stream] index_dir */
	char     prof_listen[DWCP_ADDR_MAX]; /* [prof] listen; "" (also from an older
	                                    * supervisor): no metrics endpoint */
	uint32_t prof_sample_hz;           /* [prof] sample_hz; 0: no continuous profile */
	uint32_t dgram;                    /* [net] transport = dpdk: svc-net sends datagrams on
	                                    * the node's port (ipc/port.h); 0 (also from an older
	                                    * supervisor): TCP */
	char     dgram_ip[DWCP_CFG_CIDR_MAX]; /* [net] ip */
	uint32_t fault_drop_ppm;           /* [net] fault_drop_ppm */
	char     dgram_ip6[DWCP_CFG_CIDR6_MAX]; /* [net] ip6 ("" also from an older supervisor) */
	uint32_t n_neigh;                  /* [net] neighbours, parsed (0 also from an older supervisor) */
	struct dwcp_neigh_static neigh[DWCP_NEIGH_STATIC_MAX];
};

enum dwcp_stream_role { DWCP_STREAM_SEND = 1, DWCP_STREAM_RECV = 2 };

struct dwcp_stream_ent {
	uint64_t claim;                  /* 0 = never used; else slot << 32 | gen, with 1 << 63
	                                  * while registered (given back: the bit clears) */
	uint32_t ready;                  /* 0 while the fields below are written, then a value
	                                  * other than before (streams.c copy_whole) */
	uint32_t role;                   /* enum dwcp_stream_role */
	uint64_t id;
	uint32_t xfer;                   /* the transfer's id (send: chosen; recv: the one it
	                                  * writes, 0 until its first chunk; svc-net reads only
	                                  * a sender's, dwcp_streams_gone_xfer a gone receiver's) */
	uint32_t slot, gen;              /* the client's; DELIVER steps go there */
	char     name[DWCP_STREAM_NAME_MAX];
	char     peer[DWCP_ADDR_MAX];    /* send: HOST:PORT of the receiver */
	/* writer: svc-net */
	int32_t  net_error;              /* errno of the last failure to reach the peer; 0 = fine */
	uint64_t net_error_ns;           /* CLOCK_MONOTONIC of it */
	/* writer: the recv client */
	uint64_t next_seq;               /* the sequence number it writes next: svc-net always
	                                  * admits that chunk, whatever the stream's quota */
	uint8_t  pad[256 - 168];
};

_Static_assert(sizeof(struct dwcp_stream_ent) == 256, "stream entry size is ABI");

/* A transfer this node received completely. A `dwcp recv` records it
 * before it exits, because the sender may still be missing the ACKs of
 * the last chunks (lost with a svc-net that died after they were written):
 * its resends then reach a node where nobody receives the stream any
 * more, and svc-net answers them from here — ACK when the chunk is part of
 * the finished transfer — instead of "no receiver" forever.
 *
 * A ring of DWCP_DONE_MAX; a writer claims a place with an atomic add on
 * done_next, zeroes xfer, writes the fields, then publishes with a release
 * store of xfer. Readers copy and re-check xfer (a reused place is
 * discarded). */
#define DWCP_DONE_MAX 64

struct dwcp_stream_done {
	uint32_t xfer;                   /* 0 = empty / being written */
	uint32_t pad;
	uint64_t id;                     /* stream id */
	uint64_t chunks;                 /* sequence numbers 0 .. chunks - 1 */
	uint64_t done_ns;                /* CLOCK_MONOTONIC */
};

struct dwcp_node_part {
	struct dwcp_node_conf conf;
	uint8_t pad[4096 - sizeof(struct dwcp_node_conf)];
	struct dwcp_stream_ent streams[DWCP_MAX_STREAMS];
	uint64_t done_next;              /* writers: recv clients (atomic add) */
	uint64_t auth_failures;          /* writer: svc-net (atomic add): handshakes refused for a
	                                  * key mismatch or a bad proof; `dwcp recv` names it */
	uint64_t pad2[6];
	struct dwcp_stream_done done[DWCP_DONE_MAX];
	struct dwcp_peer_ent peers[DWCP_MAX_PEERS];   /* writer: svc-net (ipc/peers.h) */
};

_Static_assert(sizeof(struct dwcp_node_conf) <= 4096, "net conf fits its page");

/** The stream id of @p name. */
uint64_t dwcp_stream_id(const char *name);

/** Check a stream name: 1..47 characters from A-Z a-z 0-9 . _ - */
int dwcp_stream_check_name(const char *name, struct dwcp_err *err);

/** Copy the config's part for services and clients into @p nc (supervisor, before attach). */
void dwcp_node_conf_fill(struct dwcp_node_conf *nc, const struct dwcp_config *cfg);

/**
 * Register the stream @p name in @p role for the client (@p slot, @p gen).
 * @return the entry index; -EBUSY when a live client already has this
 *         stream in this role (message names its pid); -ENOSPC when the
 *         table is full.
 */
int dwcp_streams_register(const struct dwcp_shm *shm, enum dwcp_stream_role role, const char *name,
			  uint32_t xfer, const char *peer, unsigned slot, uint32_t gen,
			  struct dwcp_err *err);

/** Give entry @p i back (only its registrant, @p slot @p gen): free, its fields still read. */
void dwcp_streams_unregister(const struct dwcp_shm *shm, int i, unsigned slot, uint32_t gen);

/**
 * A consistent copy of the live entry for (@p role, @p id).
 * @return its index, or -ENOENT.
 */
int dwcp_streams_find(const struct dwcp_shm *shm, enum dwcp_stream_role role, uint64_t id,
		      struct dwcp_stream_ent *out);

/**
 * `dwcp recv`, before it registers: the transfer of stream @p id that an
 * earlier receiver of it, now gone (killed, or exited), was writing and
 * had written chunks of; the latest such. A new receiver cannot take that
 * transfer over: its sender goes on past chunks the gone one acknowledged.
 * @return its id, or 0 when none is known (its entry was reused since).
 */
uint32_t dwcp_streams_gone_xfer(const struct dwcp_shm *shm, uint64_t id);

/** `dwcp recv`: transfer @p xfer of stream @p id, @p chunks chunks, is written. */
void dwcp_streams_record_done(const struct dwcp_shm *shm, uint64_t id, uint32_t xfer,
			      uint64_t chunks);

/** svc-net: whether chunk @p seq of (@p id, @p xfer) belongs to a finished transfer. */
bool dwcp_streams_is_done(const struct dwcp_shm *shm, uint64_t id, uint32_t xfer, uint64_t seq);

/**
 * Whether entry @p i is still held by the client that took it with
 * @p claim (a dwcp_stream_ent.claim as read then), and that client lives:
 * false once it gave the entry back, died, or another took the entry.
 */
bool dwcp_streams_claim_live(const struct dwcp_shm *shm, int i, uint64_t claim);

/** svc-net: record (0 = clear) the last error reaching entry @p i's peer. */
void dwcp_streams_set_net_error(const struct dwcp_shm *shm, int i, int err_no);

#endif
