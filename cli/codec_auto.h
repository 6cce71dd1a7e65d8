/* `dwcp send`'s codec per chunk: the fixed codec the operator asked for,
 * or under `codec = auto` the one common/ops/codec_auto.h's rule picks
 * from what this sender measures as the stream runs:
 *
 *   compressor rate and ratio  every SAMPLE_EVERY-th chunk, its non-zero
 *                              pages are compressed here with each codec at
 *                              the node's levels and timed (averaged);
 *   link rate                  acknowledged wire bytes per second over
 *                              periods of at least 20 ms;
 *   what each codec delivers   data bytes per second, fitted over those
 *                              periods (struct dwcp_auto_fit); it overrules
 *                              the model, which assumes the compressors
 *                              have cores of their own. A codec the fit
 *                              does not know is tried (a trial: at least
 *                              six periods) when the choice moves to it,
 *                              or when the model says it might beat the
 *                              choice; at most once in 4 s each.
 *
 * The first chunks (PROBE_CHUNKS, at most 1/8 of the stream) go alone
 * and uncompressed, so their time is the link's: the only way to see what
 * the link carries when no compressor holds it back. A compressed period
 * tells only that the link carries at least that much (struct
 * dwcp_auto_link), so after every REPROBE_EVERY compressed chunks the
 * pipeline drains and another probe goes, and a link that got slower or
 * faster is seen. A probe over in less than a period is followed at once
 * by one twice as long (on a fast link the pipeline's latency would be
 * most of its time), within 1/8 of the stream. On a resend (the sender's
 * index holds a previous version) the budget is 1/8 of the chunks that
 * travelled without kept pages so far, and chunks go zstd until it allows
 * a probe: a delta resend moves a few MB, and 4 MiB of raw probe would be
 * most of them. A chunk of only zero pages gets no compress step when
 * HDE is in its program (HDE sends it as records) and is never a probe.
 * The summary says what was chosen, how often, and the rates behind the
 * last choice.
 *
 * Concurrency: one send_auto per `dwcp send`, used by its one thread.
 */
#ifndef DWCP_CLI_CODEC_AUTO_H
#define DWCP_CLI_CODEC_AUTO_H

#include <stdbool.h>
#include <stdint.h>

#include "ipc/shm.h"
#include "xfer.h"

struct send_auto;

/**
 * @param codec     enum dwcp_cfg_codec: the --codec option, else the node's
 * @param n_chunks  chunks in the stream (sizes the per-chunk record)
 * @param resend    the stream has a previous version whose unchanged pages
 *                  will not travel: probes are paid for by the chunks that do
 * @return the state, or NULL with errno = ENOMEM.
 */
struct send_auto *send_auto_create(const struct dwcp_shm *shm, unsigned codec, uint64_t n_chunks,
				   bool resend);

void send_auto_destroy(struct send_auto *a);

/**
 * The codec (enum dwcp_cfg_codec, never AUTO) for chunk @p seq, whose
 * @p len data bytes are @p data. @p hde: the chunk's program has the
 * delta step. @p kept: some of its pages do not travel (unchanged since
 * the last send): its wire size says nothing about the link or the
 * codecs, so it is neither a probe chunk nor counted in a period, and it
 * gets zstd (only its changed pages are compressed: cheap).
 */
unsigned send_auto_codec(struct send_auto *a, uint64_t seq, const void *data, uint32_t len,
			 bool hde, bool kept);

/**
 * True while new chunks must wait: a probe is in flight, or the pipeline
 * drains before one. Chunks sent again (a receiver lacked a delta base) do
 * not wait. @p inflight: chunks sent and not yet acknowledged (each
 * counted once, however many copies of it are on the way).
 */
bool send_auto_hold(struct send_auto *a, uint64_t inflight);

/** Chunk @p seq was acknowledged: @p data_len bytes, @p wire_len on the wire (one transmission). */
void send_auto_acked(struct send_auto *a, uint64_t seq, uint32_t data_len, uint32_t wire_len);

/** Put the choice and its reasons in @p sum (for xfer_print_summary). */
void send_auto_summary(const struct send_auto *a, struct xfer_summary *sum);

#endif
