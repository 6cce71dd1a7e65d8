/* Folded stacks and the SVG flame graph (profile.h), in the format of
 * Brendan Gregg's FlameGraph tools: one "root;...;leaf COUNT" line per
 * distinct stack, so the folded file also feeds flamegraph.pl, speedscope
 * or inferno. The SVG is self-contained (no script): a box per frame,
 * width = its share of the samples, callers below callees, the name and
 * the share in each box's tooltip.
 */
#define _GNU_SOURCE
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"

#define FRAME_NAME 160

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "name;frame;...;frame" of one sample, root first. */
static char *stack_of(const struct dwcp_prof_sample *x, struct dwcp_prof_symbols *S, const char *name)
{
	bool kernel[DWCP_PROF_MAX_DEPTH];
	bool in_kernel = false;
	size_t cap = 64 + (size_t)x->n * 48, len;
	char *s = malloc(cap), frame[FRAME_NAME];

	if (!s)
		return NULL;
	len = (size_t)snprintf(s, cap, "%s", name);
	/* Markers precede their frames, leaf first. */
	for (uint32_t i = 0; i < x->n; i++) {
		if (x->ip[i] == (uint64_t)PERF_CONTEXT_KERNEL)
			in_kernel = true;
		else if (x->ip[i] == (uint64_t)PERF_CONTEXT_USER)
			in_kernel = false;
		kernel[i] = in_kernel;
	}
	for (uint32_t i = x->n; i-- > 0;) {
		if (x->ip[i] >= (uint64_t)PERF_CONTEXT_MAX)
			continue;   /* a marker */
		dwcp_prof_symbolize(S, x->pid, x->ip[i], kernel[i], frame, sizeof(frame));
		for (char *c = frame; *c; c++)
			if (*c == ';' || *c == ' ' || *c == '\n')
				*c = '_';
		size_t fl = strlen(frame);

		if (len + fl + 2 > cap) {
			char *t = realloc(s, cap = (len + fl + 2) * 2);

			if (!t) {
				free(s);
				return NULL;
			}
			s = t;
		}
		s[len++] = ';';
		memcpy(s + len, frame, fl + 1);
		len += fl;
	}
	return s;
}

char *dwcp_prof_fold(const struct dwcp_prof_samples *s, struct dwcp_prof_symbols *S,
		     const char *(*name_of)(uint32_t pid, void *arg), void *arg)
{
	char **v = calloc(s->n ? s->n : 1, sizeof(*v)), *out = NULL;
	size_t len = 0, cap = 0;
	bool oom = !v;

	for (size_t i = 0; !oom && i < s->n; i++)
		oom = !(v[i] = stack_of(&s->v[i], S, name_of(s->v[i].pid, arg)));
	if (!oom)
		qsort(v, s->n, sizeof(*v), cmp_str);
	for (size_t i = 0; !oom && i < s->n;) {
		size_t j = i;

		while (j < s->n && !strcmp(v[j], v[i]))
			j++;
		size_t need = strlen(v[i]) + 24;

		if (len + need > cap) {
			char *t = realloc(out, cap = (len + need) * 2);

			if (!t) {
				oom = true;
				break;
			}
			out = t;
		}
		len += (size_t)snprintf(out + len, cap - len, "%s %zu\n", v[i], j - i);
		i = j;
	}
	for (size_t i = 0; v && i < s->n; i++)
		free(v[i]);
	free(v);
	if (oom) {
		free(out);
		return NULL;
	}
	return out ? out : strdup("");
}

/* ---- the SVG ---------------------------------------------------------- */

struct node {
	char *name;
	uint64_t count;
	struct node *child, *next;
};

static struct node *child_named(struct node *p, const char *name, size_t n)
{
	struct node **pp = &p->child;

	for (; *pp; pp = &(*pp)->next)
		if (strlen((*pp)->name) == n && !memcmp((*pp)->name, name, n))
			return *pp;
	*pp = calloc(1, sizeof(**pp));
	if (!*pp || !((*pp)->name = strndup(name, n))) {
		free(*pp);
		*pp = NULL;
	}
	return *pp;
}

static void free_tree(struct node *n)
{
	while (n) {
		struct node *next = n->next;

		free_tree(n->child);
		free(n->name);
		free(n);
		n = next;
	}
}

static unsigned depth_of(const struct node *n)
{
	unsigned d = 0;

	for (const struct node *c = n->child; c; c = c->next) {
		unsigned k = depth_of(c);

		d = k > d ? k : d;
	}
	return d + 1;
}

static void xml_text(FILE *f, const char *s, size_t max)
{
	for (size_t i = 0; s[i] && i < max; i++) {
		switch (s[i]) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(s[i], f);
		}
	}
}

#define W      1200.0
#define ROW    16.0
#define MARGIN 10.0

/* Warm colours, the hue from the name, so a function keeps its colour. */
static void colour(const char *name, char *out, size_t n)
{
	unsigned h = 2166136261u;

	for (const char *c = name; *c; c++)
		h = (h ^ (unsigned char)*c) * 16777619u;
	if (strstr(name, "_[k]"))
		snprintf(out, n, "rgb(%u,%u,%u)", 200 + h % 55, 120 + (h >> 8) % 60, 40);
	else
		snprintf(out, n, "rgb(%u,%u,%u)", 205 + h % 50, 80 + (h >> 8) % 130, (h >> 16) % 55);
}

static void emit(FILE *f, const struct node *n, double x, unsigned depth, double top, uint64_t total)
{
	double w = (W - 2 * MARGIN) * (double)n->count / (double)total;
	double y = top - ROW * (depth + 1);
	char fill[32];

	if (w < 0.1)
		return;
	colour(n->name, fill, sizeof(fill));
	fprintf(f, "<g><title>");
	xml_text(f, n->name, 4096);
	fprintf(f, " (%llu samples, %.2f%%)</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" rx=\"2\"/>",
		(unsigned long long)n->count, 100.0 * (double)n->count / (double)total, x, y, w,
		ROW - 1, fill);
	if (w > 30) {
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", x + 3, y + ROW - 4);
		xml_text(f, n->name, (size_t)(w / 7));
		fprintf(f, "</text>");
	}
	fprintf(f, "</g>\n");
	for (const struct node *c = n->child; c; c = c->next) {
		emit(f, c, x, depth + 1, top, total);
		x += (W - 2 * MARGIN) * (double)c->count / (double)total;
	}
}

int dwcp_prof_flame_svg(const char *folded, const char *title, FILE *f)
{
	struct node root = { .name = "all" };
	double height;
	unsigned depth;

	for (const char *line = folded; *line;) {
		const char *eol = strchr(line, '\n'), *sp;
		unsigned long long count;
		struct node *n = &root;

		if (!eol)
			eol = line + strlen(line);
		sp = eol;
		while (sp > line && sp[-1] != ' ')
			sp--;
		count = strtoull(sp, NULL, 10);
		if (sp > line && count) {
			root.count += count;
			for (const char *a = line; n && a < sp - 1;) {
				const char *b = memchr(a, ';', (size_t)(sp - 1 - a));

				if (!b)
					b = sp - 1;
				n = child_named(n, a, (size_t)(b - a));
				if (n)
					n->count += count;
				a = b + 1;
			}
		}
		line = *eol ? eol + 1 : eol;
	}
	depth = depth_of(&root);
	height = ROW * depth + 3 * ROW + 2 * MARGIN;
	fprintf(f, "<?xml version=\"1.0\" standalone=\"no\"?>\n"
		   "<svg version=\"1.1\" width=\"%.0f\" height=\"%.0f\" xmlns=\"http://www.w3.org/2000/svg\" "
		   "font-family=\"Verdana\" font-size=\"12\">\n"
		   "<rect x=\"0\" y=\"0\" width=\"100%%\" height=\"100%%\" fill=\"#f8f8f0\"/>\n"
		   "<text x=\"%.0f\" y=\"24\" text-anchor=\"middle\" font-size=\"17\">",
		W, height, W / 2);
	xml_text(f, title, 4096);
	fprintf(f, "</text>\n");
	if (root.count)
		emit(f, &root, MARGIN, 0, height - MARGIN, root.count);
	else
		fprintf(f, "<text x=\"%.0f\" y=\"60\" text-anchor=\"middle\">no samples</text>\n", W / 2);
	fprintf(f, "</svg>\n");
	free_tree(root.child);
	return ferror(f) ? -1 : 0;
}
