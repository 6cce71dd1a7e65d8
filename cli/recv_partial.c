/* `dwcp recv`'s partial copy (recv_partial.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/paths.h"
#include "recv_partial.h"

#define SUFFIX ".dwcp-partial"

void recv_partial_init(struct recv_partial *p, const char *out_name, const char *index_dir,
		       const char *instance, const char *stream)
{
	*p = (struct recv_partial){ 0 };
	if ((size_t)snprintf(p->name, sizeof(p->name), ".%s" SUFFIX, out_name) >= sizeof(p->name) ||
	    recv_base_record_path(p->record, sizeof(p->record), index_dir, instance, stream, ".part"))
		p->name[0] = p->record[0] = '\0';
}

bool recv_partial_open(const struct recv_partial *p, struct recv_base *b, int dirfd)
{
	if (!p->name[0])
		return false;
	recv_base_open_recorded(b, dirfd, p->name, p->record);
	if (b->fd >= 0)
		return true;
	/* Stale (written since its record, or left by a receive killed while
	 * it rewrote it): of no use to anyone. */
	unlinkat(dirfd, p->name, 0);
	unlink(p->record);
	return false;
}

int recv_partial_keep(const struct recv_partial *p, struct recv_out *o, uint64_t valid,
		      uint64_t token)
{
	struct stat st;
	int rc;

	if (!p->name[0])
		return -ENAMETOOLONG;
	if (o->inplace) {
		/* The data is the output itself (a block device, or --inplace):
		 * synced, its prefix recorded. */
		rc = recv_out_keep(o);
		if (!rc && fsync(o->w.fd))
			rc = -errno;
		return rc ? rc : recv_base_write_prefix_record(p->record, o->w.fd, valid, token);
	}
	rc = recv_out_keep_as(o, p->name, valid, &st);
	if (!rc)
		rc = recv_base_write_record(p->record, &st, token);
	return rc;
}

/* The flush thread's half of a checkpoint: the prefix is on disk. */
static void record_prefix(void *arg, int fd, uint64_t valid, uint64_t token)
{
	const struct recv_partial *p = arg;

	/* Nothing to say when it fails: the previous checkpoint's record
	 * stands (its prefix is still there), or none, and the receive goes on. */
	(void)recv_base_write_prefix_record(p->record, fd, valid, token);
}

int recv_partial_checkpoint(struct recv_partial *p, struct recv_out *o, uint64_t valid,
			    uint64_t token)
{
	int rc;

	if (!p->name[0])
		return -ENAMETOOLONG;
	rc = o->inplace ? 0 : recv_out_name_as(o, p->name);   /* in place: its own copy */
	if (!rc)
		rc = recv_out_checkpoint(o, valid, record_prefix, p, token);
	if (!rc)
		p->checkpointed = true;
	return rc;
}

int recv_partial_withdraw(struct recv_partial *p)
{
	int rc;

	if (!p->checkpointed)
		return 0;
	rc = dwcp_unlink_durably(p->record);
	if (!rc)
		p->checkpointed = false;
	return rc;
}

bool recv_partial_open_inplace(const struct recv_partial *p, struct recv_base *b, int dirfd,
			       const char *out)
{
	if (!p->record[0])
		return false;
	recv_base_open_recorded(b, dirfd, out, p->record);
	/* Not the output's: left for recv_partial_open (a partial copy's), or
	 * for the next record to replace. */
	return b->fd >= 0;
}

void recv_partial_drop(const struct recv_partial *p, int dirfd, bool renamed)
{
	if (!p->name[0])
		return;
	unlink(p->record);
	if (!renamed)
		unlinkat(dirfd, p->name, 0);
}
