/* `dwcp send`: reading a chunk and giving it its program (send_pvt.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/timeutil.h"
#include "ipc/chunk.h"
#include "ipc/dcache.h"
#include "common/ops/hde.h"
#include "ipc/route.h"
#include "common/paths.h"
#include "send_pvt.h"

/* The program of chunk @p seq (its data read into @p ch); @p raw leaves out the delta step. */
static unsigned make_prog(const struct sender *s, bool raw, uint64_t seq, struct dwcp_chunk_hdr *ch,
			  uint16_t *prog)
{
	const struct dwcp_shm *shm = &s->c.at.shm;
	const struct dwcp_node_conf *nc = &shm->node->conf;
	bool hde = !raw && !s->o.no_delta && nc->delta;
	unsigned codec = send_auto_codec(s->codec, seq, dwcp_chunk_body(ch), ch->orig_len, hde,
					 hde && (ch->flags & DWCP_CHUNK_F_KEPT));
	unsigned n = 0;

	if (hde)
		prog[n++] = send_step(shm, DWCP_OP_DELTA);
	if (codec == DWCP_CFG_CODEC_ZSTD)
		prog[n++] = send_step(shm, DWCP_OP_ZSTD);
	else if (codec == DWCP_CFG_CODEC_LZ4)
		prog[n++] = send_step(shm, DWCP_OP_LZ4);
	if (s->seal)
		prog[n++] = send_step(shm, DWCP_OP_SEAL);
	prog[n++] = send_step(shm, DWCP_OP_CHECKSUM);
	prog[n++] = send_step(shm, DWCP_OP_TRANSMIT);
	return n;
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Whether the file is no longer the one opened (checked after each read,
 * so a chunk read from a changed file never leaves). Timestamps have the
 * file system's granularity: a change within the same tick as the open
 * that keeps the size is beyond what stat can see. */
static bool file_changed(const struct sender *s)
{
	struct stat st;

	uint64_t dev_size;

	if (fstat(s->fd, &st))
		return true;
	/* A block device has no size or times that writes change: only a
	 * resize shows (send a snapshot of one in use). */
	if (S_ISBLK(st.st_mode))
		return dwcp_file_bytes(s->fd, &st, &dev_size) || dev_size != s->size;
	return st.st_size != s->st0.st_size || st.st_ino != s->st0.st_ino ||
	       st.st_dev != s->st0.st_dev || !same_time(&st.st_mtim, &s->st0.st_mtim) ||
	       !same_time(&st.st_ctim, &s->st0.st_ctim);
}

/* The file's 4096 bytes at @p off, zeros past its end, into @p p (a page
 * beside a chunk, for send_moves_find). @return false when unreadable. */
static bool read_around(const struct sender *s, uint8_t *p, uint64_t off)
{
	ssize_t r = pread(s->fd, p, DWCP_HDE_PAGE, (off_t)off);

	if (r < 0)
		return false;
	memset(p + r, 0, DWCP_HDE_PAGE - (size_t)r);
	return true;
}

/* Pages of @p ch found unchanged in the page index (@p mask) do not
 * travel, nor do pages found at other offsets of the previous version
 * (send_moves_find): the chunk says KEPT (and MOVED) and carries the
 * trailer (ipc/chunk.h) that svc-mem's DELTA turns into KEPT and MOVED
 * records. Only where DELTA runs (never in a raw redo, nor with --no-delta
 * or [stream] delta = false); a chunk with no such page goes as before.
 * Its kept and moved pages are counted per chunk (kept_n, moved_n). */
static void mark_kept(struct sender *s, struct dwcp_chunk_hdr *ch, bool raw, uint64_t mask,
		      const uint8_t (*ph)[DWCP_DIGEST_PAGE_HASH])
{
	struct dwcp_hde_kept k = { .mask = mask, .digest = send_index_digest_at(&s->index, ch->offset) };

	if (raw || !k.digest || s->o.no_delta || !s->c.at.shm.node->conf.delta ||
	    ch->orig_len > DWCP_HDE_MAX_DATA || ch->offset % DWCP_HDE_PAGE)
		return;
	/* Resuming, the pages past the interrupted send's prefix were never
	 * sent, not changed: looking for them in the prefix cost 65 % of the
	 * rerun's main thread (1 GiB image, 0.4 GiB prefix) and finds only
	 * what a full send would not either. */
	if (s->moves && s->index.keep &&
	    !(s->index.resumed_bytes && ch->offset >= s->index.resumed_bytes)) {
		const uint64_t cand = send_moves_candidates(s->moves, ch->orig_len, mask, ph);
		const unsigned last = (ch->orig_len + DWCP_HDE_PAGE - 1) / DWCP_HDE_PAGE - 1;
		uint8_t before[DWCP_HDE_PAGE], after[DWCP_HDE_PAGE];
		bool b = cand & 1 && ch->offset >= DWCP_HDE_PAGE &&
			 read_around(s, before, ch->offset - DWCP_HDE_PAGE);
		bool a = cand >> last & 1 && ch->offset + ch->orig_len < s->size &&
			 read_around(s, after, ch->offset + ch->orig_len);

		k.moved = send_moves_find(s->moves, dwcp_chunk_body(ch), ch->orig_len, ch->offset,
					  b ? before : NULL, a ? after : NULL, cand, ph, k.src);
	}
	if (!(k.mask | k.moved))
		return;
	dwcp_hde_kept_put(dwcp_chunk_body(ch) + ch->orig_len, &k);
	s->kept_n[ch->seq] = (uint8_t)__builtin_popcountll(k.mask);
	s->moved_n[ch->seq] = (uint8_t)__builtin_popcountll(k.moved);
	ch->flags |= DWCP_CHUNK_F_KEPT | (k.moved ? DWCP_CHUNK_F_MOVED : 0);
	ch->body_len = ch->inner_len = ch->orig_len + (uint32_t)dwcp_hde_kept_len(&k);
}

void send_read_chunk(void *job, void *sender)
{
	struct sender *s = sender;

	send_read_chunk_with(s, &s->rd, job);
}

void send_read_chunk_with(struct sender *s, struct file_read *rd, struct read_job *j)
{
	const uint64_t off = j->seq * s->chunk_size;
	/* Only the chunk's body: its header is the send's thread's to write
	 * (dwcp_chunk_init), once it takes the chunk back. */
	uint8_t *body = dwcp_chunk_body(dwcp_client_data(&s->c, j->idx));
	const unsigned np = (j->len + DWCP_DIGEST_PAGE - 1) / DWCP_DIGEST_PAGE;

	j->rc = file_read_full(rd, body, j->len, off);
	if (!j->rc && file_changed(s))
		j->rc = -ESTALE;
	if (j->rc || np > DWCP_HDE_MAX_PAGES)
		return;
	/* A first read feeds the digest and the index; a redo without
	 * cache bases looks its pages up again; a raw redo needs nothing. */
	if (j->first || (j->nobase && !j->raw))
		dwcp_digest_page_hashes(&s->digest.xxh3, body, j->len, j->ph);
	if (j->first && j->keys)
		send_index_page_keys(&s->index, body, j->len, np, j->key);
}

int send_make_chunk(struct sender *s, const struct read_job *j)
{
	const uint64_t seq = j->seq, off = seq * s->chunk_size;
	const uint32_t len = j->len;
	const unsigned np = (len + DWCP_DIGEST_PAGE - 1) / DWCP_DIGEST_PAGE;
	const uint8_t (*ph)[DWCP_DIGEST_PAGE_HASH] = (const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])j->ph;
	struct dwcp_chunk_hdr *ch = dwcp_client_data(&s->c, j->idx);
	uint16_t prog[DWCP_PROG_MAX];
	struct dwcp_buf_hdr *h;

	if (np > DWCP_HDE_MAX_PAGES)   /* chunk_size is at most 256 KiB */
		return -EINVAL;
	dwcp_chunk_init(ch, s->id, seq, off, len);
	ch->xfer = s->xfer;
	s->kept_n[seq] = s->moved_n[seq] = 0;   /* until mark_kept says otherwise */
	if (j->first && seq == s->digest_next) {
		/* First reads come in order; a raw redo re-reads what was taken
		 * and keeps nothing. */
		uint64_t mask;

		dwcp_digest_add_hashes(&s->digest, ph, np);
		if (++s->digest_next == s->n_chunks)
			s->digest_final = dwcp_digest_final(&s->digest);
		mask = send_index_pages(&s->index, off, np, ph, j->keys ? j->key : NULL);
		mark_kept(s, ch, j->raw, mask, ph);
		send_moves_note(s->moves, off / DWCP_DIGEST_PAGE, np, mask, ph);
	} else if (j->nobase && !j->raw && len <= DWCP_HDE_MAX_DATA) {
		mark_kept(s, ch, false, send_index_kept(&s->index, off, np, ph), ph);
	}
	if (j->nobase && !j->raw)
		ch->flags |= DWCP_CHUNK_F_NOBASE;
	if (!dwcp_dcache_admits(s->id, seq, s->cache_share))
		ch->flags |= DWCP_CHUNK_F_NOCACHE;
	if (seq + 1 == s->n_chunks) {
		ch->flags |= DWCP_CHUNK_F_LAST;
		ch->digest = s->digest_final;
	}
	h = dwcp_client_hdr(&s->c, j->idx);
	dwcp_client_set_prog(&s->c, j->idx, prog, make_prog(s, j->raw, seq, ch, prog));
	dwcp_route_step(&s->c.at.shm, h);   /* the first engine may be down right now */
	h->stream = s->id;
	h->seq = seq;
	h->len = DWCP_CHUNK_HDR_LEN + ch->body_len;
	h->result = 0;
	h->wire_len = 0;
	h->t_submit_ns = dwcp_now_ns();
	return 0;
}
