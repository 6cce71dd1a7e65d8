/* What a hung service was doing (hang_report.h). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/paths.h"
#include "hang_report.h"

/* Kernel frames shown per thread, after the scheduler's own. */
#define FRAMES 4

/* The frames of /proc/.../stack ("[<0>] name+0x1a/0x50" lines) that say
 * where the thread waits: the scheduler's frames skipped, the system
 * call's entry left out, offsets cut; "a<-b<-c" into @p out. */
static void kernel_frames(char *stack, char *out, size_t n)
{
	size_t len = 0;
	unsigned shown = 0;

	out[0] = '\0';
	for (char *line = stack, *next; *line && shown < FRAMES; line = next) {
		char *name;
		size_t k;

		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		name = strchr(line, ']');
		if (!name)
			continue;
		name++;
		while (*name == ' ')
			name++;
		k = strcspn(name, "+ \t");
		name[k] = '\0';   /* the offset is not wanted */
		if (!k || !strncmp(name, "do_syscall", 10) || !strncmp(name, "entry_SYSCALL", 13))
			break;
		if (strstr(name, "schedule"))
			continue;
		len += (size_t)snprintf(out + len, len < n ? n - len : 0, "%s%s", shown ? "<-" : "", name);
		shown++;
		if (len >= n)
			break;
	}
}

/* One thread's clause: "tid comm state syscall N in frames". */
static void describe_thread(const char *task_dir, long tid, char *out, size_t n)
{
	char path[300], stat[512], sc[32], stack[4096], frames[192] = "", comm[32] = "?";
	char state = '?';
	char *open_p, *close_p;

	snprintf(path, sizeof(path), "%s/%ld/stat", task_dir, tid);
	if (dwcp_read_small(path, stat, sizeof(stat)) > 0 && (open_p = strchr(stat, '(')) &&
	    (close_p = strrchr(stat, ')')) && close_p > open_p) {
		snprintf(comm, sizeof(comm), "%.*s", (int)(close_p - open_p - 1), open_p + 1);
		if (close_p[1] == ' ' && close_p[2])
			state = close_p[2];
	}
	/* "running", "-1 sp pc" (blocked, not in a call), or "N args.. sp pc" */
	snprintf(path, sizeof(path), "%s/%ld/syscall", task_dir, tid);
	if (dwcp_read_small(path, sc, sizeof(sc)) > 0)
		sc[strcspn(sc, " \n")] = '\0';
	else
		snprintf(sc, sizeof(sc), "?");
	snprintf(path, sizeof(path), "%s/%ld/stack", task_dir, tid);
	if (dwcp_read_small(path, stack, sizeof(stack)) > 0)
		kernel_frames(stack, frames, sizeof(frames));
	if (!frames[0]) {
		/* No stack to read (not root, or a kernel without it): wchan's
		 * one name is the next best. */
		snprintf(path, sizeof(path), "%s/%ld/wchan", task_dir, tid);
		if (dwcp_read_small(path, frames, sizeof(frames)) <= 0 || !strcmp(frames, "0"))
			frames[0] = '\0';
	}
	if (!strcmp(sc, "running") || !strcmp(sc, "-1") || !strcmp(sc, "?"))
		snprintf(out, n, "%ld %s %c %s%s%s", tid, comm, state, !strcmp(sc, "-1") ? "not in a call" : sc,
			 frames[0] ? " in " : "", frames);
	else
		snprintf(out, n, "%ld %s %c syscall %s%s%s", tid, comm, state, sc, frames[0] ? " in " : "", frames);
}

static long tid_of(const struct dirent *e)
{
	return strtol(e->d_name, NULL, 10);
}

static int by_number(const struct dirent **a, const struct dirent **b)
{
	long x = tid_of(*a), y = tid_of(*b);

	return x < y ? -1 : x > y;
}

static int numeric(const struct dirent *e)
{
	return isdigit((unsigned char)e->d_name[0]);
}

int sup_hang_describe(const char *proc_root, pid_t pid, char *out, size_t n)
{
	char task_dir[256], one[384];
	struct dirent **tids;
	size_t len = 0;
	int count, shown = 0;

	if (!n)
		return -EINVAL;
	out[0] = '\0';
	snprintf(task_dir, sizeof(task_dir), "%s/%d/task", proc_root, (int)pid);
	count = scandir(task_dir, &tids, numeric, by_number);
	if (count < 0)
		return -errno;
	for (int i = 0; i < count; i++) {
		if (shown < SUP_HANG_MAX_THREADS && len < n) {
			describe_thread(task_dir, tid_of(tids[i]), one, sizeof(one));
			len += (size_t)snprintf(out + len, n - len, "%s%s", shown ? "; " : "", one);
			shown++;
		}
		free(tids[i]);
	}
	free(tids);
	if (count > shown && len < n)
		snprintf(out + len, n - len, "; %d more threads", count - shown);
	return shown;
}
