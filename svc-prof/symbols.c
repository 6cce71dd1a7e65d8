/* Names for sampled addresses (profile.h): the kernel's from
 * /proc/kallsyms, a process's from its /proc/PID/maps and the ELF symbol
 * tables (.symtab, else .dynsym) of the files mapped there, read with
 * libelf. A file's table is read once per profile, whichever process
 * maps it. An address no symbol covers is named by its file
 * ("[libzstd.so.1.5.4]": Debian strips the library's internal names), so
 * the time a stripped library takes still adds up in one place.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profile.h"

struct sym {
	uint64_t addr, size;
	char *name;
};

struct symtab {
	char *path;
	struct sym *v;
	size_t n;
	struct {                 /* PT_LOAD segments: file offset -> vaddr */
		uint64_t off, vaddr, filesz;
	} seg[16];
	unsigned n_seg;
};

struct map {
	uint64_t start, end, off;
	size_t tab;              /* 1 + its file's index in tabs (which may move); 0: none */
};

struct proc_maps {
	uint32_t pid;
	struct map *v;
	size_t n;
};

struct arena {
	struct arena *next;
	char mem[];
};

struct dwcp_prof_symbols {
	struct symtab *tabs;
	size_t n_tabs;
	struct symtab kernel;        /* names in the arenas, not malloc'd one by one */
	struct arena *arenas;
	size_t arena_used, arena_cap;
	struct proc_maps *procs;
	size_t n_procs;
};

static int by_addr(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return (x->addr > y->addr) - (x->addr < y->addr);
}

static void add_sym(struct symtab *t, size_t *cap, uint64_t addr, uint64_t size, const char *name)
{
	if (t->n == *cap) {
		size_t c = *cap ? *cap * 2 : 1024;
		struct sym *v = realloc(t->v, c * sizeof(*v));

		if (!v)
			return;
		t->v = v;
		*cap = c;
	}
	t->v[t->n].name = strdup(name);
	if (!t->v[t->n].name)
		return;
	t->v[t->n].addr = addr;
	t->v[t->n].size = size;
	t->n++;
}

static void read_elf(struct symtab *t)
{
	int fd = open(t->path, O_RDONLY | O_CLOEXEC);
	Elf *e;
	Elf_Scn *scn = NULL, *dyn = NULL, *full = NULL;
	size_t cap = 0, nph = 0;

	if (fd < 0)
		return;
	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e)
		goto out;
	if (!elf_getphdrnum(e, &nph))
		for (size_t i = 0; i < nph && t->n_seg < 16; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD)
				t->seg[t->n_seg++] = (typeof(t->seg[0])){ ph.p_offset, ph.p_vaddr, ph.p_filesz };
		}
	while ((scn = elf_nextscn(e, scn)) != NULL) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB)
			full = scn;
		else if (sh.sh_type == SHT_DYNSYM)
			dyn = scn;
	}
	scn = full ? full : dyn;
	if (scn) {
		GElf_Shdr sh;
		Elf_Data *d = elf_getdata(scn, NULL);

		gelf_getshdr(scn, &sh);
		for (size_t i = 0; d && sh.sh_entsize && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const char *nm;

			/* Hand-written assembly (ipsec-mb's AES-GCM) exports its
			 * functions untyped and sizeless. */
			if (!gelf_getsym(d, (int)i, &s) || !s.st_value || s.st_shndx == SHN_UNDEF ||
			    (GELF_ST_TYPE(s.st_info) != STT_FUNC && GELF_ST_TYPE(s.st_info) != STT_NOTYPE))
				continue;
			nm = elf_strptr(e, sh.sh_link, s.st_name);
			if (nm && *nm)
				add_sym(t, &cap, s.st_value, s.st_size, nm);
		}
	}
	elf_end(e);
out:
	close(fd);
	qsort(t->v, t->n, sizeof(t->v[0]), by_addr);
}

static const char *lookup(const struct symtab *t, uint64_t addr, bool sized)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (t->v[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	const struct sym *s = &t->v[lo - 1];

	/* Kernel symbols and sizeless ELF ones (assembly) end where the next
	 * symbol starts, as perf reads them; a sized one covers its size. */
	if (!sized || !s->size)
		return s->name;
	return addr < s->addr + s->size ? s->name : NULL;
}

static struct symtab *tab_of(struct dwcp_prof_symbols *S, const char *path)
{
	struct symtab *v;

	for (size_t i = 0; i < S->n_tabs; i++)
		if (!strcmp(S->tabs[i].path, path))
			return &S->tabs[i];
	v = realloc(S->tabs, (S->n_tabs + 1) * sizeof(*v));
	if (!v)
		return NULL;
	S->tabs = v;
	v = &S->tabs[S->n_tabs];
	*v = (struct symtab){ .path = strdup(path) };
	if (!v->path)
		return NULL;
	read_elf(v);
	return &S->tabs[S->n_tabs++];
}

static struct proc_maps *maps_of(struct dwcp_prof_symbols *S, uint32_t pid)
{
	char path[64], line[1024];
	struct proc_maps *pm, *v;
	FILE *f;
	size_t cap = 0;

	for (size_t i = 0; i < S->n_procs; i++)
		if (S->procs[i].pid == pid)
			return &S->procs[i];
	v = realloc(S->procs, (S->n_procs + 1) * sizeof(*v));
	if (!v)
		return NULL;
	S->procs = v;
	pm = &S->procs[S->n_procs++];
	*pm = (struct proc_maps){ .pid = pid };
	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long start, end, off;
		char perms[8], file[768] = "";

		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %767[^\n]", &start, &end, perms, &off, file) < 4 ||
		    perms[2] != 'x' || file[0] != '/')
			continue;
		if (pm->n == cap) {
			struct map *m = realloc(pm->v, (cap ? cap * 2 : 64) * sizeof(*m));

			if (!m)
				break;
			pm->v = m;
			cap = cap ? cap * 2 : 64;
		}
		/* A binary replaced since it started (an upgrade, a rebuild) is
		 * still readable through the mapping itself. */
		size_t fl = strlen(file);

		if (fl > 10 && !strcmp(file + fl - 10, " (deleted)"))
			snprintf(file, sizeof(file), "/proc/%u/map_files/%llx-%llx", pid, start, end);
		struct symtab *t = tab_of(S, file);

		pm->v[pm->n++] = (struct map){ start, end, off, t ? (size_t)(t - S->tabs) + 1 : 0 };
	}
	if (f)
		fclose(f);
	return pm;
}

/* /proc/kallsyms, text symbols only: ~200k lines, parsed by hand (sscanf
 * took 90 ms) with the names in one arena. */
static void read_kallsyms(struct dwcp_prof_symbols *S)
{
	FILE *f = fopen("/proc/kallsyms", "re");
	char line[512];
	size_t cap = 0;

	/* Large reads: each read(2) of /proc costs a syscall, and there are
	 * megabytes of it. */
	if (f)
		setvbuf(f, NULL, _IOFBF, 1u << 20);
	while (f && fgets(line, sizeof(line), f)) {
		char *p = line, *name, *end;
		uint64_t a = strtoull(p, &end, 16);

		if (end == p || *end != ' ' || !a || (end[1] != 't' && end[1] != 'T') || end[2] != ' ')
			continue;
		name = end + 3;
		end = name + strcspn(name, " \t\n");
		*end = '\0';
		if (S->kernel.n == cap) {
			size_t c = cap ? cap * 2 : 65536;
			struct sym *v = realloc(S->kernel.v, c * sizeof(*v));

			if (!v)
				break;
			S->kernel.v = v;
			cap = c;
		}
		size_t len = (size_t)(end - name) + 1;

		if (S->arena_used + len > S->arena_cap) {
			/* A new block: names already handed out stay where they are. */
			struct arena *b = malloc(sizeof(*b) + (1u << 20));

			if (!b)
				break;
			b->next = S->arenas;
			S->arenas = b;
			S->arena_used = 0;
			S->arena_cap = 1u << 20;
		}
		char *dst = S->arenas->mem + S->arena_used;

		memcpy(dst, name, len);
		S->arena_used += len;
		S->kernel.v[S->kernel.n++] = (struct sym){ a, 0, dst };
	}
	if (f)
		fclose(f);
	qsort(S->kernel.v, S->kernel.n, sizeof(S->kernel.v[0]), by_addr);
}

struct dwcp_prof_symbols *dwcp_prof_symbols_new(void)
{
	struct dwcp_prof_symbols *S = calloc(1, sizeof(*S));

	if (S)
		read_kallsyms(S);
	return S;
}

/* Drop what was read of processes and files (binaries replaced by an
 * upgrade, processes gone); the kernel's table stays. */
void dwcp_prof_symbols_forget_user(struct dwcp_prof_symbols *S)
{
	for (size_t i = 0; i < S->n_tabs; i++) {
		for (size_t k = 0; k < S->tabs[i].n; k++)
			free(S->tabs[i].v[k].name);
		free(S->tabs[i].v);
		free(S->tabs[i].path);
	}
	for (size_t i = 0; i < S->n_procs; i++)
		free(S->procs[i].v);
	free(S->tabs);
	free(S->procs);
	S->tabs = NULL, S->procs = NULL;
	S->n_tabs = S->n_procs = 0;
}

void dwcp_prof_symbols_prepare(struct dwcp_prof_symbols *S, uint32_t pid)
{
	maps_of(S, pid);
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

void dwcp_prof_symbolize(struct dwcp_prof_symbols *S, uint32_t pid, uint64_t ip, bool kernel,
			 char *out, size_t n)
{
	struct proc_maps *pm;

	if (kernel) {
		const char *nm = lookup(&S->kernel, ip, false);

		snprintf(out, n, "%s_[k]", nm ? nm : "[kernel]");
		return;
	}
	pm = maps_of(S, pid);
	for (size_t i = 0; pm && i < pm->n; i++) {
		const struct map *m = &pm->v[i];
		const struct symtab *t;
		uint64_t off;
		const char *nm = NULL;

		if (ip < m->start || ip >= m->end || !m->tab)
			continue;
		t = &S->tabs[m->tab - 1];
		off = ip - m->start + m->off;
		for (unsigned k = 0; k < t->n_seg; k++)
			if (off >= t->seg[k].off && off < t->seg[k].off + t->seg[k].filesz) {
				nm = lookup(t, off - t->seg[k].off + t->seg[k].vaddr, true);
				break;
			}
		if (nm)
			snprintf(out, n, "%s", nm);
		else
			snprintf(out, n, "[%s]", base_name(t->path));
		return;
	}
	snprintf(out, n, "[unknown]");
}

void dwcp_prof_symbols_free(struct dwcp_prof_symbols *S)
{
	if (!S)
		return;
	dwcp_prof_symbols_forget_user(S);
	free(S->kernel.v);
	while (S->arenas) {
		struct arena *b = S->arenas;

		S->arenas = b->next;
		free(b);
	}
	free(S);
}
