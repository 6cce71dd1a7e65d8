/* `dwcp recv`'s partial copy of a stream: what a receive that ended part
 * way had written, kept so that the next one resumes from it (rsync's
 * --partial, for a `dwcp recv` stopped by a signal, its node's death or
 * its --timeout, not only for a sender that stopped: cli/recv.c resumes
 * that one within the same receive).
 *
 * A receive that fails after writing a prefix of the stream in the atomic
 * mode keeps that prefix: synced, named ".NAME.dwcp-partial" beside the
 * output, and recorded (INSTANCE@STREAM.part in [stream] index_dir: its
 * identity and the resume token of the transfer that wrote it,
 * dwcp_digest_resume_token), as the completed copy's record is. The next
 * receive of the stream opens it as its resume base when the record still
 * describes it (else removes it as stale) and writes the new transfer in
 * place over it; the commit renames it over the output. Pages the sender
 * kept by that token (its resume index, cli/send_index.h) are left as
 * they are; the whole-file digest checks them with the rest.
 *
 * An output written in place (a block device at --out, or `dwcp recv
 * --inplace`) is its own partial copy: what a failure or a checkpoint
 * keeps is its prefix, recorded against the output itself (as a prefix
 * record: it holds older data past it), and the next receive (in place
 * too) resumes there.
 *
 * Checkpoints: a receive killed outright (SIGKILL, the OOM killer, a
 * crash of its host) runs no failure path, so while it writes, every
 * 1/8 of what it has written (64 MiB to 1 GiB: a geometric series, as
 * the receiver does not know the size) the data is named as the partial
 * copy and, once its prefix is synced (in the flush thread,
 * recv_out_checkpoint), recorded as a prefix record: dev, inode and
 * birth time, and the first N bytes, which this transfer never writes
 * again (chunks are written once, in order). The next receive truncates the copy to them
 * and resumes; pages the sender had acknowledged beyond them are refused
 * (recv_base_holds) and travel. A failure this process sees replaces the
 * prefix record by the whole one above.
 *
 * Crash safety: the record is written after the data and the name are
 * synced, and withdrawn (durably) before a byte it vouches for changes,
 * so a receive killed at any instruction leaves no record vouching for a
 * changed file. A partial copy nobody resumes stays until the stream's
 * next receive (a completed one removes it).
 *
 * Concurrency: one thread (the receive's), after the stream is registered
 * (so that two receives of one stream never touch it at once); but a
 * checkpoint's record is written by the output's flush thread, which
 * recv_out_settle waits for before the receive's thread keeps, drops or
 * withdraws anything.
 */
#ifndef DWCP_CLI_RECV_PARTIAL_H
#define DWCP_CLI_RECV_PARTIAL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "recv_base.h"
#include "recv_out.h"

struct recv_partial {
	char name[NAME_MAX + 1];   /* in the output's directory; "" = none possible */
	char record[PATH_MAX];     /* "" = none possible */
	bool checkpointed;         /* a checkpoint may have written the record */
};

/** The partial copy's name and record for output @p out_name of @p stream on @p instance. */
void recv_partial_init(struct recv_partial *p, const char *out_name, const char *index_dir,
		       const char *instance, const char *stream);

/**
 * Open the partial copy in @p dirfd as base @p b when its record
 * vouches for it; a partial copy it does not vouch for is removed, with
 * its record. @return true when @p b is usable (its digest the token).
 */
bool recv_partial_open(const struct recv_partial *p, struct recv_base *b, int dirfd);

/**
 * As recv_partial_open, where the output @p out in @p dirfd is written in
 * place (a block device, or `dwcp recv --inplace`): the data an
 * interrupted receive left is in the output itself, and the record
 * vouches for its prefix. A record that does not is left as it is (it
 * may be a partial copy's: recv_partial_open judges it).
 */
bool recv_partial_open_inplace(const struct recv_partial *p, struct recv_base *b, int dirfd,
			       const char *out);

/**
 * Keep the first @p valid bytes of @p o as the partial copy of the
 * transfer named @p token (in place: they stay where they are, synced
 * and recorded). @return 0 or -errno (then nothing is kept).
 */
int recv_partial_keep(const struct recv_partial *p, struct recv_out *o, uint64_t valid,
		      uint64_t token);

/**
 * Checkpoint: name the data of @p o the partial copy (if it is not yet)
 * and, once those of its first @p valid bytes that reached the file are
 * synced (recv_out_checkpoint), record them as the data of the transfer
 * named @p token. The syncs and the record are the flush thread's.
 * @return 0 or -errno (then no record is written by this call).
 */
int recv_partial_checkpoint(struct recv_partial *p, struct recv_out *o, uint64_t valid,
			    uint64_t token);

/**
 * Withdraw, durably, what checkpoints recorded (after recv_out_settle):
 * before a byte they vouch for changes. @return 0 or -errno.
 */
int recv_partial_withdraw(struct recv_partial *p);

/**
 * The stream was received whole: remove the record and, unless @p renamed
 * (it became the output), the partial copy in @p dirfd.
 */
void recv_partial_drop(const struct recv_partial *p, int dirfd, bool renamed);

#endif
