/* Display names for the enums of the shared ABI. */
#include "ipc/buf_hdr.h"
#include "ipc/ctl_block.h"
#include "ipc/stats.h"

const char *dwcp_state_name(enum dwcp_state st)
{
	static const char *const n[] = {
		[DWCP_STATE_EMPTY] = "EMPTY", [DWCP_STATE_STARTING] = "STARTING",
		[DWCP_STATE_READY] = "READY", [DWCP_STATE_STANDBY] = "STANDBY",
		[DWCP_STATE_DRAINING] = "DRAINING", [DWCP_STATE_DEAD] = "DEAD",
		[DWCP_STATE_STOPPED] = "STOPPED",
	};

	return (unsigned)st < sizeof(n) / sizeof(n[0]) ? n[st] : "?";
}

const char *dwcp_stats_name(enum dwcp_stat_counter c)
{
	static const char *const n[DWCP_STAT_N] = {
		[DWCP_STAT_OPS] = "ops", [DWCP_STAT_BYTES] = "bytes",
		[DWCP_STAT_ERRORS] = "errors", [DWCP_STAT_DEQUEUED] = "dequeued",
		[DWCP_STAT_ENQUEUED] = "enqueued", [DWCP_STAT_LINK_FULL] = "link_full",
		[DWCP_STAT_SLEEPS] = "sleeps", [DWCP_STAT_WAKEUPS] = "wakeups",
		[DWCP_STAT_REDELIVERED] = "redelivered", [DWCP_STAT_TX_BYTES] = "tx_bytes",
		[DWCP_STAT_RX_BYTES] = "rx_bytes", [DWCP_STAT_RESENT] = "resent",
		[DWCP_STAT_REJECTED] = "rejected", [DWCP_STAT_RX_HELD] = "rx_held",
	};

	return (unsigned)c < DWCP_STAT_N ? n[c] : "?";
}

const char *dwcp_buf_status_name(unsigned status)
{
	static const char *const n[] = {
		[DWCP_BUF_OK] = "ok",
		[DWCP_BUF_EBADOP] = "no such op in that service",
		[DWCP_BUF_EBADLEN] = "length exceeds the buffer",
		[DWCP_BUF_EBADCRC] = "checksum mismatch",
		[DWCP_BUF_EAUTH] = "authentication failed (tampered, or the two nodes' keys differ)",
		[DWCP_BUF_EBADCHUNK] = "malformed chunk",
		[DWCP_BUF_ENOKEY] = "no key configured ([crypto] key_file)",
		[DWCP_BUF_ENOMEM] = "out of memory in a library",
		[DWCP_BUF_EBASE] = "delta base not held by the receiver",
		[DWCP_BUF_ENORECV] = "no `dwcp recv` for the stream at the receiver",
		[DWCP_BUF_ESINK] = "the receiver could not write the data",
		[DWCP_BUF_ESTALE] = "chunk of an older transfer",
		[DWCP_BUF_ENACK] = "refused by the receiver",
		[DWCP_BUF_ENOPEER] = "peer unreachable",
		[DWCP_BUF_EBUSY] = "receiver busy (stream or peer quota): resent later",
		[DWCP_BUF_EDIGEST] = "whole-stream digest mismatch: the receiver kept no file",
		[DWCP_BUF_EKEPT] = "the receiver's copy is not the version whose pages were kept",
	};

	return status < sizeof(n) / sizeof(n[0]) && n[status] ? n[status] : "unknown status";
}

const char *dwcp_op_name(unsigned op)
{
	static const char *const n[DWCP_OP_MAX] = {
		[DWCP_OP_NONE] = "none", [DWCP_OP_DELIVER] = "deliver",
		[DWCP_OP_CRC32C] = "crc32c", [DWCP_OP_BENCH_RAW_ECHO] = "bench-echo",
		[DWCP_OP_LZ4] = "lz4", [DWCP_OP_ZSTD] = "zstd", [DWCP_OP_SEAL] = "seal",
		[DWCP_OP_CHECKSUM] = "checksum", [DWCP_OP_VERIFY] = "verify", [DWCP_OP_OPEN] = "open",
		[DWCP_OP_DECOMPRESS] = "decompress", [DWCP_OP_DELTA] = "delta",
		[DWCP_OP_UNDELTA] = "undelta", [DWCP_OP_TRANSMIT] = "transmit", [DWCP_OP_ACK] = "ack",
		[DWCP_OP_NACK] = "nack", [DWCP_OP_RDMA_WRITE] = "rdma-write",
		[DWCP_OP_RDMA_RETURN] = "rdma-return", [DWCP_OP_RDMA_RX] = "rdma-rx",
		[DWCP_OP_UNLZ4] = "unlz4", [DWCP_OP_RELEASE] = "release",
	};

	return op < DWCP_OP_MAX && n[op] ? n[op] : "?";
}
