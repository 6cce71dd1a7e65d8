/* DWCP frames: what travels on one AMST TCP connection.
 *
 * A connection carries a stream of frames, each a 16-byte header and a
 * payload of `len` bytes:
 *
 *   offset  size  field
 *        0     4  magic    "DWFR" (0x52465744 little-endian)
 *        4     1  version  DWCP_FRAME_VERSION
 *        5     1  type     enum dwcp_frame_type
 *        6     1  flags    0 (none defined yet)
 *        7     1  reserved 0
 *        8     4  len      payload bytes
 *       12     4  hcrc     CRC32C of bytes 0..11
 *
 *   type   payload                                         len
 *   HELLO  struct dwcp_frame_hello                         == 80
 *   CHUNK  one chunk: ipc/chunk.h header + body            96 .. max_chunk
 *   ACK    struct dwcp_frame_ack (status 0)                == 40
 *   NACK   struct dwcp_frame_ack (status = the reason)     == 40
 *   BYE    the reason for closing, text without a NUL      0 .. 128
 *   AUTH   struct dwcp_frame_auth: a handshake proof       == 32
 *
 * A connection starts with the handshake of svc-net/auth.h (HELLO both
 * ways, then AUTH both ways when the nodes hold a key); the receiving end
 * takes no CHUNK, ACK or NACK before it.
 *
 * Every field is little-endian on the wire and converted by the encode and
 * decode functions here, so the structs below are both the wire layout
 * (asserted) and, once decoded, the host view. The header has its own CRC
 * because a header is trusted before its payload is read: a length taken
 * from a corrupt header would make the receiver read a wrong number of
 * bytes and lose the frame boundaries. The chunk carries its own CRC over
 * header and body (checked by the receiver's checksum step), so the frame
 * does not checksum payloads again.
 *
 * The decoder is a small state machine that never reads the socket
 * itself: it says where the next bytes must go (dwcp_frame_dec_iov), the
 * caller reads into exactly that memory and reports how much arrived
 * (dwcp_frame_dec_got). For a CHUNK it stops after the header and asks for
 * a destination (DWCP_FRAME_NEED_DEST): the caller hands it a buffer of
 * `len` bytes (a shared-memory pool buffer in svc-net) and the payload is
 * received straight into it, with no intermediate copy. While a payload is
 * read, the iovec also offers room for the next frame header, so a stream
 * of frames costs about one read call per frame. Bytes that arrive in any
 * pieces, one at a time included, give the same frames.
 *
 * Concurrency: a decoder belongs to one connection and one thread; the
 * encode functions are pure.
 */
#ifndef DWCP_SVC_NET_FRAME_H
#define DWCP_SVC_NET_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "common/err.h"
#include "ipc/chunk.h"

#define DWCP_FRAME_MAGIC          0x52465744u  /* bytes "DWFR" */
#define DWCP_FRAME_VERSION        2u   /* 2: HELLO with nonce, AUTH, ACK with MAC */
#define DWCP_FRAME_HDR_LEN        16u
#define DWCP_FRAME_HCRC_LEN       12u          /* header bytes the hcrc covers */
/* AMST protocol, in HELLO: what the chunks inside may be. A peer of
 * another version is refused at HELLO, with a message naming both, rather
 * than later chunk by chunk. 3: chunks up to 256 KiB of data, HDE version
 * 3 (MOVED pages, chunk flag MOVED). 4: chunk flag NOCACHE. */
#define DWCP_FRAME_PROTO_VERSION  4u
#define DWCP_FRAME_NAME_MAX       32u          /* instance name, NUL included */
#define DWCP_FRAME_SESSION_LEN    16u
/* A session chosen by a further svc-net worker (not a node's first)
 * starts with these bytes, the rest random. Nothing else on the wire
 * tells the workers apart, so nodes from before workers take such a
 * session as any other; a receiver publishes only a first worker's (or a
 * worker-less svc-net's) session for RDMA (ipc/peers.h). A random
 * session starts so with probability 2^-64. */
#define DWCP_FRAME_SESSION_WORKER     "dwcp-wk"   /* + '\0': 8 bytes */
#define DWCP_FRAME_SESSION_WORKER_LEN 8u
#define DWCP_FRAME_NONCE_LEN      16u
#define DWCP_FRAME_AUTH_LEN       32u          /* HMAC-SHA256 */
#define DWCP_FRAME_ACK_MAC_LEN    16u
#define DWCP_FRAME_BYE_MAX        128u
#define DWCP_FRAME_MAX_CONNS      64u
#define DWCP_FRAME_CHUNK_MAX_DEFAULT 266240u   /* 96-byte header + 256 KiB body + slack */

enum dwcp_frame_type {
	DWCP_FRAME_HELLO = 1,
	DWCP_FRAME_CHUNK = 2,
	DWCP_FRAME_ACK = 3,    /* status must be 0 */
	DWCP_FRAME_NACK = 4,   /* status must not be 0 */
	DWCP_FRAME_BYE = 5,
	DWCP_FRAME_AUTH = 6,   /* handshake proof (svc-net/auth.h) */
};

struct dwcp_frame_hdr {
	uint32_t magic;
	uint8_t  version;
	uint8_t  type;
	uint8_t  flags;
	uint8_t  reserved;
	uint32_t len;
	uint32_t hcrc;
};

_Static_assert(sizeof(struct dwcp_frame_hdr) == DWCP_FRAME_HDR_LEN, "frame header is wire format");
_Static_assert(offsetof(struct dwcp_frame_hdr, type) == 5, "type offset is wire format");
_Static_assert(offsetof(struct dwcp_frame_hdr, len) == 8, "len offset is wire format");
_Static_assert(offsetof(struct dwcp_frame_hdr, hcrc) == DWCP_FRAME_HCRC_LEN, "hcrc covers what precedes it");

#define DWCP_FRAME_HELLO_F_KEYED 0x1u   /* the sender holds a key and will prove it (AUTH) */

/* Sent first, by both ends: the connecting end says which connection of
 * which session this is, the accepting end answers with its own name and
 * the same index and session. Each end draws a fresh nonce per connection,
 * so a handshake proof (AUTH) is good for that connection only. */
struct dwcp_frame_hello {
	uint32_t proto_version;                   /* DWCP_FRAME_PROTO_VERSION */
	char     instance[DWCP_FRAME_NAME_MAX];   /* sender's instance, NUL-terminated inside */
	uint16_t conn_index;                      /* < n_conns */
	uint16_t n_conns;                         /* 1 .. DWCP_FRAME_MAX_CONNS */
	uint8_t  session[DWCP_FRAME_SESSION_LEN]; /* chosen by the connecting end */
	uint32_t flags;                           /* DWCP_FRAME_HELLO_F_* */
	uint32_t reserved;                        /* 0 */
	uint8_t  nonce[DWCP_FRAME_NONCE_LEN];     /* random, fresh per connection */
};

_Static_assert(sizeof(struct dwcp_frame_hello) == 80, "HELLO is wire format");
_Static_assert(offsetof(struct dwcp_frame_hello, instance) == 4, "HELLO instance offset");
_Static_assert(offsetof(struct dwcp_frame_hello, conn_index) == 36, "HELLO conn_index offset");
_Static_assert(offsetof(struct dwcp_frame_hello, session) == 40, "HELLO session offset");
_Static_assert(offsetof(struct dwcp_frame_hello, flags) == 56, "HELLO flags offset");
_Static_assert(offsetof(struct dwcp_frame_hello, nonce) == 64, "HELLO nonce offset");

/** Whether @p session was chosen by a further svc-net worker. */
static inline bool dwcp_frame_session_of_worker(const uint8_t session[DWCP_FRAME_SESSION_LEN])
{
	return memcmp(session, DWCP_FRAME_SESSION_WORKER, DWCP_FRAME_SESSION_WORKER_LEN) == 0;
}

/* Proof that the sender holds the key, bound to both HELLOs of this
 * connection (svc-net/auth.h). */
struct dwcp_frame_auth {
	uint8_t mac[DWCP_FRAME_AUTH_LEN];
};

_Static_assert(sizeof(struct dwcp_frame_auth) == 32, "AUTH is wire format");

struct dwcp_frame_ack {
	uint64_t stream;
	uint64_t seq;
	uint32_t status;    /* ACK: 0; NACK: the receiver's reason (a DWCP_BUF_* code, ipc/buf_hdr.h) */
	uint32_t xfer;      /* the chunk's transfer id (chunk.h): a sender ignores an answer
	                     * meant for an earlier transfer of the same stream */
	uint8_t  mac[DWCP_FRAME_ACK_MAC_LEN]; /* keyed nodes: the connection's answer MAC
	                     * (svc-net/auth.h), so nobody on the path forges "written";
	                     * zero between nodes without a key */
};

_Static_assert(sizeof(struct dwcp_frame_ack) == 40, "ACK is wire format");
_Static_assert(offsetof(struct dwcp_frame_ack, status) == 16, "ACK status offset");
_Static_assert(offsetof(struct dwcp_frame_ack, xfer) == 20, "ACK xfer offset");
_Static_assert(offsetof(struct dwcp_frame_ack, mac) == 24, "ACK mac offset");

/** A decoded frame, in host byte order. */
struct dwcp_frame {
	uint8_t  type;
	uint32_t len;          /* payload bytes */
	union {
		struct dwcp_frame_hello hello;
		struct dwcp_frame_ack ack;
		struct dwcp_frame_auth auth;
		char bye[DWCP_FRAME_BYE_MAX + 1];   /* NUL-terminated; non-printing bytes are '?' */
	} u;
	void *chunk;           /* CHUNK: the destination given to dwcp_frame_dec_set_dest */
};

/* Decoder states; private to frame.c, here only to size the struct. */
enum dwcp_frame_dec_state {
	DWCP_FRAME_DEC_HDR,
	DWCP_FRAME_DEC_NEED_DEST,
	DWCP_FRAME_DEC_PAYLOAD,
	DWCP_FRAME_DEC_READY,
	DWCP_FRAME_DEC_BROKEN,
};

/** Incremental decoder; the fields are private to frame.c. */
struct dwcp_frame_dec {
	uint32_t max_chunk;
	enum dwcp_frame_dec_state state;
	struct dwcp_frame_hdr hdr;                 /* the current frame's header, host order */
	uint32_t hdr_got;                          /* bytes in hdr_buf */
	uint32_t got;                              /* payload bytes in dst */
	uint8_t *dst;                              /* where the payload goes */
	void *owned;                               /* a CHUNK destination not yet handed back */
	uint8_t hdr_buf[DWCP_FRAME_HDR_LEN];
	union {
		struct dwcp_frame_hello hello;
		struct dwcp_frame_ack ack;
		struct dwcp_frame_auth auth;
		uint8_t bytes[DWCP_FRAME_BYE_MAX];
	} small;                                   /* payloads of all types but CHUNK */
};

/* dwcp_frame_dec_next results (errors are negative) */
#define DWCP_FRAME_NEED_BYTES 1   /* read into dwcp_frame_dec_iov, then dwcp_frame_dec_got */
#define DWCP_FRAME_NEED_DEST  2   /* a CHUNK of f->len bytes: call dwcp_frame_dec_set_dest */
#define DWCP_FRAME_READY      3   /* *f holds a whole frame */

/** Bytes of a whole frame with a payload of @p len bytes. */
static inline size_t dwcp_frame_size(uint32_t len)
{
	return DWCP_FRAME_HDR_LEN + (size_t)len;
}

/** Printable name of a frame type ("HELLO", ..., "type 9"); @p buf holds 16 bytes. */
const char *dwcp_frame_type_name(uint8_t type, char buf[16]);

/**
 * Write a frame header for a payload of @p len bytes into @p out.
 * @return DWCP_FRAME_HDR_LEN.
 */
size_t dwcp_frame_encode_hdr(void *out, enum dwcp_frame_type type, uint32_t len);

/** Encode a whole HELLO frame; @p out holds dwcp_frame_size(56) bytes. @return bytes written. */
size_t dwcp_frame_encode_hello(void *out, const struct dwcp_frame_hello *h);

/** Encode a whole ACK or NACK frame (@p type); @p out holds 56 bytes. @return bytes written. */
size_t dwcp_frame_encode_ack(void *out, enum dwcp_frame_type type, const struct dwcp_frame_ack *a);

/** Encode a whole AUTH frame; @p out holds dwcp_frame_size(32) bytes. @return bytes written. */
size_t dwcp_frame_encode_auth(void *out, const struct dwcp_frame_auth *a);

/**
 * Encode a whole BYE frame; the reason is cut at DWCP_FRAME_BYE_MAX bytes.
 * @p out holds dwcp_frame_size(DWCP_FRAME_BYE_MAX) bytes. @return bytes written.
 */
size_t dwcp_frame_encode_bye(void *out, const char *reason);

/**
 * Check a 16-byte header as it arrived (wire order) and decode it into
 * @p h: magic, hcrc, version, type, flags and reserved zero, and the
 * length allowed for the type (CHUNK: DWCP_CHUNK_HDR_LEN .. @p max_chunk).
 * @return 0, or -EBADMSG with the reason in @p err.
 */
int dwcp_frame_check_hdr(const void *wire, uint32_t max_chunk, struct dwcp_frame_hdr *h,
			 struct dwcp_err *err);

/** Start a decoder for a new connection; CHUNK payloads up to @p max_chunk bytes. */
void dwcp_frame_dec_init(struct dwcp_frame_dec *d, uint32_t max_chunk);

/**
 * Advance the decoder as far as the bytes it holds allow.
 * @return DWCP_FRAME_NEED_BYTES, DWCP_FRAME_NEED_DEST (f->type and f->len
 *   set), DWCP_FRAME_READY (*f is the frame; a CHUNK's f->chunk is the
 *   destination, now the caller's again; other payloads are copied into
 *   *f), or -EBADMSG with the reason in @p err. After -EBADMSG the stream
 *   has lost its frame boundaries: every later call fails too, and the
 *   connection must be closed (dwcp_frame_dec_reset returns a CHUNK
 *   destination still held).
 */
int dwcp_frame_dec_next(struct dwcp_frame_dec *d, struct dwcp_frame *f, struct dwcp_err *err);

/**
 * Where the next bytes must be read to, after NEED_BYTES: up to two
 * iovecs (the rest of the current part, then room for the next header).
 * The second may be filled only after the first is full (readv order).
 * @return the number of iovecs (0 when the decoder needs no bytes now).
 */
int dwcp_frame_dec_iov(struct dwcp_frame_dec *d, struct iovec iov[2]);

/** @p n bytes were read into the iovecs of the last dwcp_frame_dec_iov. */
void dwcp_frame_dec_got(struct dwcp_frame_dec *d, size_t n);

/** After NEED_DEST: receive the CHUNK payload into @p dest (f->len bytes). */
void dwcp_frame_dec_set_dest(struct dwcp_frame_dec *d, void *dest);

/**
 * Decode from memory: take bytes from @p buf until a frame is ready, a
 * destination is needed, the bytes run out or the stream is bad.
 * @param used set to the bytes of @p buf taken.
 * @return as dwcp_frame_dec_next (NEED_BYTES: all of @p buf was taken).
 */
int dwcp_frame_dec_feed(struct dwcp_frame_dec *d, const void *buf, size_t n, size_t *used,
			struct dwcp_frame *f, struct dwcp_err *err);

/**
 * Start over (a new connection). @return the CHUNK destination the decoder
 * was filling and had not handed back (the caller frees it), or NULL.
 */
void *dwcp_frame_dec_reset(struct dwcp_frame_dec *d);

#endif
