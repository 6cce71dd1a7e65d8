/* Strict INI parser for dwcp's configuration (format in config.h).
 *
 * Every key is one row of a table (section, name, kind, field offset,
 * range, flags); parsing, range checking, the "expected ..." text of an
 * error and dwcp_config_validate all read the same row, so a key's
 * accepted values are stated in exactly one place and the message can
 * never disagree with the check.
 *
 * The parser works on one line at a time, copied into a fixed stack
 * buffer, and allocates nothing; dwcp_config_load allocates the file
 * buffer once and frees it on its single exit path. Errors stop at the
 * first bad line: one precise message beats a list of knock-on ones.
 * Beyond config.h, a key set twice in one text is an error too, since
 * the first setting would otherwise be silently ignored.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/netaddr.h"

#define CFG_LINE_MAX   4096                /* characters, newline excluded */
#define CFG_FILE_MAX   (1024 * 1024)       /* bytes */
#define CFG_SHOW_MAX   80                  /* value characters quoted in a message */

enum section { SEC_SUPERVISOR, SEC_POOL, SEC_LINK, SEC_RUNTIME, SEC_SERVICES, SEC_CRYPTO,
	       SEC_MEM, SEC_COMPRESS, SEC_NET, SEC_PEERS, SEC_STREAM, SEC_RECV, SEC_GPU, SEC_SIMD,
	       SEC_PROF, SEC_RDMA, SEC_COUNT };

static const char *const section_names[SEC_COUNT] = {
	[SEC_SUPERVISOR] = "supervisor",
	[SEC_POOL] = "pool",
	[SEC_LINK] = "link",
	[SEC_RUNTIME] = "runtime",
	[SEC_SERVICES] = "services",
	[SEC_CRYPTO] = "crypto",
	[SEC_MEM] = "mem",
	[SEC_COMPRESS] = "compress",
	[SEC_NET] = "net",
	[SEC_PEERS] = "peers",
	[SEC_STREAM] = "stream",
	[SEC_RECV] = "recv",
	[SEC_GPU] = "gpu",
	[SEC_SIMD] = "simd",
	[SEC_PROF] = "prof",
	[SEC_RDMA] = "rdma",
};

static const char *const service_names[] = {
	"svc-net", "svc-rdma", "svc-gpu", "svc-simd", "svc-mem", "svc-prof",
};
#define N_SERVICE_NAMES (sizeof(service_names) / sizeof(service_names[0]))
_Static_assert(N_SERVICE_NAMES <= DWCP_CFG_MAX_SVCS, "every service fits in the enable list");

enum kind { K_U32, K_BOOL, K_BOOL_AUTO, K_INSTANCE, K_PATH, K_SERVICES, K_ADDR, K_WORD, K_CODEC, K_DEVARGS, K_CIDR, K_CIDR6, K_NEIGH };

#define F_BYTES    0x01   /* accepts K/M/G suffixes */
#define F_POW2     0x02
#define F_PAGE     0x04   /* a multiple of 4096: payload buffers stay page-aligned (DMA, O_DIRECT) */
#define F_EMPTY_OK 0x08   /* path may be "" */
#define F_ABSOLUTE 0x10   /* a non-empty path must start with '/' */
#define F_AUTO     0x20   /* K_U32 also accepts "auto", stored as 0 */
#define F_AUTO_MAX 0x40   /* K_U32 also accepts "auto", stored as DWCP_CFG_AUTO (0 is a value) */

struct key_desc {
	enum section section;
	enum kind kind;
	unsigned flags;
	const char *name;
	size_t off;           /* of the field in struct dwcp_config */
	uint32_t min, max;    /* K_U32 only */
};

#define OFF(f) offsetof(struct dwcp_config, f)

static const struct key_desc keys[] = {
	{ SEC_SUPERVISOR, K_INSTANCE, 0, "instance", OFF(instance), 0, 0 },
	{ SEC_SUPERVISOR, K_U32, 0, "hugepage_mb", OFF(hugepage_mb), 64, 65536 },
	{ SEC_SUPERVISOR, K_PATH, 0, "huge_dir", OFF(huge_dir), 0, 0 },
	{ SEC_SUPERVISOR, K_PATH, 0, "run_dir", OFF(run_dir), 0, 0 },
	{ SEC_SUPERVISOR, K_PATH, F_EMPTY_OK, "bin_dir", OFF(bin_dir), 0, 0 },
	{ SEC_SUPERVISOR, K_U32, 0, "heartbeat_ms", OFF(heartbeat_ms), 10, 10000 },
	/* lower bound 3 * heartbeat_ms: checked in dwcp_config_validate */
	{ SEC_SUPERVISOR, K_U32, 0, "heartbeat_timeout_ms", OFF(heartbeat_timeout_ms), 1, 600000 },
	{ SEC_SUPERVISOR, K_U32, 0, "init_timeout_ms", OFF(init_timeout_ms), 100, 600000 },
	{ SEC_SUPERVISOR, K_U32, 0, "restart_backoff_ms", OFF(backoff_ms), 1, 60000 },
	/* lower bound restart_backoff_ms: checked in dwcp_config_validate */
	{ SEC_SUPERVISOR, K_U32, 0, "restart_backoff_max_ms", OFF(backoff_max_ms), 1, 600000 },
	{ SEC_SUPERVISOR, K_BOOL, 0, "systemd_services", OFF(systemd_services), 0, 0 },
	{ SEC_SUPERVISOR, K_BOOL, 0, "hot_standby", OFF(hot_standby), 0, 0 },
	{ SEC_SUPERVISOR, K_U32, 0, "client_slots_per_pid", OFF(client_slots_per_pid), 1, 9 },
	{ SEC_POOL, K_U32, 0, "buffers", OFF(pool_buffers), 64, 1048576 },
	{ SEC_POOL, K_U32, F_BYTES | F_PAGE, "buf_size", OFF(pool_buf_size), 4096, 16777216 },
	{ SEC_LINK, K_U32, F_POW2, "depth", OFF(link_depth), 64, 1048576 },
	{ SEC_RUNTIME, K_U32, 0, "spin_us", OFF(spin_us), 0, 1000000 },
	{ SEC_RUNTIME, K_BOOL, 0, "poll_mode", OFF(poll_mode), 0, 0 },
	{ SEC_SERVICES, K_SERVICES, 0, "enable", OFF(services), 0, 0 },
	{ SEC_CRYPTO, K_PATH, F_EMPTY_OK | F_ABSOLUTE, "key_file", OFF(key_file), 0, 0 },
	{ SEC_CRYPTO, K_BOOL, 0, "insecure", OFF(crypto_insecure), 0, 0 },
	{ SEC_MEM, K_U32, F_AUTO_MAX, "delta_cache_mb", OFF(delta_cache_mb), 0, 65536 },
	{ SEC_MEM, K_U32, F_AUTO, "workers", OFF(mem_workers), 1, DWCP_CFG_MAX_MEM_WORKERS },
	{ SEC_SIMD, K_U32, F_AUTO, "workers", OFF(simd_workers), 1, DWCP_CFG_MAX_WORKERS },
	{ SEC_RDMA, K_U32, 0, "workers", OFF(rdma_workers), 1, DWCP_CFG_MAX_RDMA_WORKERS },
	{ SEC_COMPRESS, K_U32, 0, "zstd_level", OFF(zstd_level), 1, 19 },
	{ SEC_COMPRESS, K_U32, 0, "lz4_level", OFF(lz4_level), 1, 12 },
	{ SEC_NET, K_ADDR, F_EMPTY_OK, "listen", OFF(net_listen), 0, 0 },
	{ SEC_NET, K_U32, 0, "connections", OFF(net_connections), 1, 64 },
	{ SEC_NET, K_U32, F_AUTO, "workers", OFF(net_workers), 1, DWCP_CFG_MAX_NET_WORKERS },
	{ SEC_NET, K_BOOL_AUTO, 0, "zerocopy", OFF(net_zerocopy), 0, 0 },
	{ SEC_NET, K_U32, 0, "busy_poll_us", OFF(net_busy_poll_us), 0, 100000 },
	{ SEC_NET, K_U32, F_BYTES, "socket_buffer", OFF(net_sockbuf), 65536, 1u << 30 },
	{ SEC_NET, K_U32, 0, "resend_ms", OFF(net_resend_ms), 50, 600000 },
	{ SEC_NET, K_WORD, 0, "congestion", OFF(net_congestion), 0, 0 },
	{ SEC_NET, K_U32, 0, "handshake_ms", OFF(net_handshake_ms), 100, 60000 },
	{ SEC_NET, K_U32, 0, "max_unauthenticated", OFF(net_max_unauth), 1, 128 },
	/* tcp or dpdk: checked in validate_cross */
	{ SEC_NET, K_WORD, 0, "transport", OFF(net_transport), 0, 0 },
	{ SEC_NET, K_DEVARGS, F_EMPTY_OK, "port", OFF(net_port), 0, 0 },
	{ SEC_NET, K_CIDR, F_EMPTY_OK, "ip", OFF(net_ip), 0, 0 },
	{ SEC_NET, K_CIDR6, F_EMPTY_OK, "ip6", OFF(net_ip6), 0, 0 },
	{ SEC_NET, K_U32, 0, "fault_drop_ppm", OFF(net_fault_drop_ppm), 0, 500000 },
	{ SEC_NET, K_U32, 0, "mtu", OFF(net_mtu), 0, 9600 },
	{ SEC_NET, K_NEIGH, F_EMPTY_OK, "neighbours", OFF(net_neighbours), 0, 0 },
	{ SEC_STREAM, K_U32, F_BYTES | F_PAGE, "chunk_size", OFF(chunk_size), 4096, 262144 },
	{ SEC_STREAM, K_U32, 0, "window", OFF(window), 1, 65536 },
	{ SEC_STREAM, K_CODEC, 0, "codec", OFF(codec), 0, 0 },
	{ SEC_STREAM, K_BOOL, 0, "delta", OFF(delta), 0, 0 },
	{ SEC_STREAM, K_PATH, F_ABSOLUTE, "index_dir", OFF(index_dir), 0, 0 },
	{ SEC_RECV, K_PATH, F_ABSOLUTE, "dir", OFF(recv_dir), 0, 0 },
	{ SEC_GPU, K_BOOL, 0, "cpu_backend", OFF(gpu_cpu_backend), 0, 0 },
	{ SEC_GPU, K_U32, F_AUTO, "workers", OFF(gpu_workers), 1, DWCP_CFG_MAX_GPU_WORKERS },
	{ SEC_PROF, K_ADDR, F_EMPTY_OK, "listen", OFF(prof_listen), 0, 0 },
	{ SEC_PROF, K_U32, 0, "sample_hz", OFF(prof_sample_hz), 0, 1000 },
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

struct parser {
	struct dwcp_config *cfg;
	const char *origin;
	struct dwcp_err *err;
	unsigned line;
	int section;              /* enum section, -1 before the first header */
	unsigned seen[N_KEYS];    /* line that set each key, 0 = not set */
};

/* A slice of a larger string (a list item), not NUL-terminated. */
struct span {
	const char *p;
	size_t n;
};

/* ---- text helpers ---- */

static char *trim(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static void span_trim(struct span *sp)
{
	while (sp->n > 0 && isspace((unsigned char)sp->p[0])) {
		sp->p++;
		sp->n--;
	}
	while (sp->n > 0 && isspace((unsigned char)sp->p[sp->n - 1]))
		sp->n--;
}

/* A comment starts at '#' or ';' at the start of the line or after a
 * blank; a '#' inside a word (a path like /a#b) is kept. */
static char *strip_comment(char *s)
{
	for (char *p = s; *p != '\0'; p++) {
		if ((*p == '#' || *p == ';') && (p == s || isblank((unsigned char)p[-1]))) {
			*p = '\0';
			break;
		}
	}
	return s;
}

/* The small tokenizer for comma lists: cut the next item off *cursor
 * (NULL after the last one) without modifying the string. */
static int next_item(const char **cursor, struct span *item)
{
	const char *s = *cursor, *comma;

	if (s == NULL)
		return 0;
	comma = strchr(s, ',');
	item->p = s;
	item->n = comma != NULL ? (size_t)(comma - s) : strlen(s);
	*cursor = comma != NULL ? comma + 1 : NULL;
	span_trim(item);
	return 1;
}

static int span_is(const struct span *sp, const char *word)
{
	return strlen(word) == sp->n && memcmp(sp->p, word, sp->n) == 0;
}

/* ---- what each key accepts ---- */

static int u32_ok(const struct key_desc *k, uint64_t v)
{
	if ((k->flags & F_AUTO) && v == 0)
		return 1;
	if ((k->flags & F_AUTO_MAX) && v == DWCP_CFG_AUTO)
		return 1;
	if (v < k->min || v > k->max)
		return 0;
	if ((k->flags & F_POW2) && (v & (v - 1)) != 0)
		return 0;
	return !(k->flags & F_PAGE) || v % 4096 == 0;
}

static int instance_ok(const char *name)
{
	size_t n = strnlen(name, DWCP_NAME_MAX);

	if (n == 0 || n >= DWCP_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!isalnum(c) && c != '_' && c != '-')
			return 0;
	}
	return 1;
}

static int addr_ok(const struct key_desc *k, const char *a)
{
	char host[DWCP_ADDR_MAX];
	uint16_t port;

	if (!*a)
		return (k->flags & F_EMPTY_OK) != 0;
	return dwcp_addr_split(a, host, &port, NULL) == 0;
}

static int word_ok(const char *w)
{
	size_t n = strnlen(w, 16);

	if (n == 0 || n >= 16)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)w[i]) && !isdigit((unsigned char)w[i]) && w[i] != '_')
			return 0;
	return 1;
}

/* DPDK device arguments: "net_af_packet0,iface=veth0", "0000:3b:00.0". */
static int devargs_ok(const struct key_desc *k, const char *d)
{
	size_t n = strnlen(d, DWCP_CFG_DEVARGS_MAX);

	if (n == 0)
		return (k->flags & F_EMPTY_OK) != 0;
	if (n >= DWCP_CFG_DEVARGS_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)d[i]) && !strchr("_.,=:/-", d[i]))
			return 0;
	return 1;
}

static int cidr_ok(const struct key_desc *k, const char *v)
{
	uint32_t ip;
	unsigned prefix;

	if (!v[0])
		return (k->flags & F_EMPTY_OK) != 0;
	return strnlen(v, DWCP_CFG_CIDR_MAX) < DWCP_CFG_CIDR_MAX && dwcp_cidr_parse(v, &ip, &prefix) == 0;
}

static int cidr6_ok(const struct key_desc *k, const char *v)
{
	uint8_t ip[16];
	unsigned prefix;

	if (!v[0])
		return (k->flags & F_EMPTY_OK) != 0;
	return strnlen(v, DWCP_CFG_CIDR6_MAX) < DWCP_CFG_CIDR6_MAX && dwcp_cidr6_parse(v, ip, &prefix) == 0;
}

static int neigh_ok(const char *v, struct dwcp_err *err)
{
	struct dwcp_neigh_static e[DWCP_NEIGH_STATIC_MAX];

	return strnlen(v, DWCP_CFG_NEIGH_MAX) < DWCP_CFG_NEIGH_MAX && dwcp_neigh_list_parse(v, e, err) >= 0;
}

static int codec_parse(const char *s, uint32_t *out)
{
	static const char *const names[] = { [DWCP_CFG_CODEC_NONE] = "none",
					     [DWCP_CFG_CODEC_LZ4] = "lz4",
					     [DWCP_CFG_CODEC_ZSTD] = "zstd",
					     [DWCP_CFG_CODEC_AUTO] = "auto" };

	for (uint32_t i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = i;
			return 1;
		}
	return 0;
}

uint32_t dwcp_config_spin_default(unsigned cpus)
{
	/* Measured on 2 cores (a node pair sharing them, 1 GiB sends): a
	 * 50 us spin after every item cost 7 % more CPU and no speed, since
	 * a spinning service takes the core the next step needs; with cores
	 * to spare it saves the futex wake-up on every handoff. */
	return cpus >= DWCP_CFG_SPIN_MIN_CPUS ? 50u : 0u;
}

unsigned dwcp_config_workers(uint32_t setting, unsigned cpus)
{
	unsigned n = setting ? setting : cpus;

	return n < 1 ? 1 : n > DWCP_CFG_MAX_WORKERS ? DWCP_CFG_MAX_WORKERS : n;
}

/* A `workers` setting, or for auto one per @p per CPUs from 2 * @p per
 * up (one below), within 1..@p max. */
static unsigned workers_per_cpus(uint32_t setting, unsigned cpus, unsigned per, unsigned max)
{
	unsigned n = setting ? setting : cpus >= 2 * per ? cpus / per : 1;

	return n < 1 ? 1 : n > max ? max : n;
}

unsigned dwcp_config_net_workers(uint32_t setting, unsigned cpus)
{
	return workers_per_cpus(setting, cpus, DWCP_CFG_CPUS_PER_NET_WORKER, DWCP_CFG_MAX_NET_WORKERS);
}

unsigned dwcp_config_mem_workers(uint32_t setting, unsigned cpus)
{
	return workers_per_cpus(setting, cpus, DWCP_CFG_CPUS_PER_MEM_WORKER, DWCP_CFG_MAX_MEM_WORKERS);
}

unsigned dwcp_config_gpu_workers(uint32_t setting, unsigned gpus)
{
	unsigned n = setting ? setting : gpus;

	return n < 1 ? 1 : n > DWCP_CFG_MAX_GPU_WORKERS ? DWCP_CFG_MAX_GPU_WORKERS : n;
}

const char *dwcp_config_codec_name(uint32_t codec)
{
	return codec == DWCP_CFG_CODEC_ZSTD ? "zstd" : codec == DWCP_CFG_CODEC_LZ4 ? "lz4" :
	       codec == DWCP_CFG_CODEC_NONE ? "none" : codec == DWCP_CFG_CODEC_AUTO ? "auto" : "?";
}

const char *dwcp_config_peer(const struct dwcp_config *cfg, const char *name)
{
	for (unsigned i = 0; i < cfg->n_peers; i++)
		if (strcmp(cfg->peers[i].name, name) == 0)
			return cfg->peers[i].addr;
	return NULL;
}

static int path_ok(const struct key_desc *k, const char *path)
{
	size_t n = strnlen(path, DWCP_PATH_MAX);

	if (n > 0 && (k->flags & F_ABSOLUTE) && path[0] != '/')
		return 0;
	return n < DWCP_PATH_MAX && (n > 0 || (k->flags & F_EMPTY_OK));
}

static void expect_u32(const struct key_desc *k, char *buf, size_t len)
{
	const char *what = k->flags & F_POW2 ? "a power of two" :
			   k->flags & F_BYTES ? "a size in bytes" : "an integer";

	snprintf(buf, len, "%s%s in %u..%u%s%s", k->flags & (F_AUTO | F_AUTO_MAX) ? "auto or " : "", what, k->min,
		 k->max, k->flags & F_PAGE ? " that is a multiple of 4096" : "",
		 k->flags & F_BYTES ? " (suffix K, M or G for KiB, MiB, GiB)" : "");
}

static void expect_services(char *buf, size_t len)
{
	size_t used = (size_t)snprintf(buf, len, "a comma-separated list of");

	for (unsigned i = 0; i < N_SERVICE_NAMES && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, " %s", service_names[i]);
	if (used < len)
		snprintf(buf + used, len - used, ", each at most once (empty = none)");
}

/* The "expected ..." half of every message about key @p k. */
static void expect_text(const struct key_desc *k, char *buf, size_t len)
{
	switch (k->kind) {
	case K_U32:
		expect_u32(k, buf, len);
		break;
	case K_BOOL:
		snprintf(buf, len, "true, false, yes, no, on, off, 1 or 0");
		break;
	case K_BOOL_AUTO:
		snprintf(buf, len, "auto, true, false, yes, no, on, off, 1 or 0");
		break;
	case K_INSTANCE:
		snprintf(buf, len, "1..%d characters from A-Z a-z 0-9 _ -", DWCP_NAME_MAX - 1);
		break;
	case K_PATH:
		snprintf(buf, len, "%s path of %s..%d characters",
			 k->flags & F_ABSOLUTE ? "an absolute" : "a",
			 k->flags & F_EMPTY_OK ? "0" : "1", DWCP_PATH_MAX - 1);
		break;
	case K_SERVICES:
		expect_services(buf, len);
		break;
	case K_ADDR:
		snprintf(buf, len, "HOST:PORT (e.g. 0.0.0.0:7100, [::]:7100, nodeb:7100), port 1..65535%s",
			 k->flags & F_EMPTY_OK ? ", or empty for none" : "");
		break;
	case K_WORD:
		snprintf(buf, len, "1..15 characters from a-z 0-9 _");
		break;
	case K_CODEC:
		snprintf(buf, len, "auto, zstd, lz4 or none");
		break;
	case K_CIDR:
		snprintf(buf, len, "an IPv4 address and prefix length, A.B.C.D/N with N 1..32 (e.g. 10.0.0.1/24)%s",
			 k->flags & F_EMPTY_OK ? ", or empty for none" : "");
		break;
	case K_CIDR6:
		snprintf(buf, len, "an IPv6 address and prefix length, ADDR/N with N 1..128 (e.g. fd00:78::1/64)%s",
			 k->flags & F_EMPTY_OK ? ", or empty for none" : "");
		break;
	case K_NEIGH:
		snprintf(buf, len, "IP=MAC entries separated by commas, at most %d (e.g. 10.0.0.2=02:00:00:00:00:02), or empty for none",
			 DWCP_NEIGH_STATIC_MAX);
		break;
	case K_DEVARGS:
		snprintf(buf, len, "DPDK device arguments, 1..%d characters from A-Z a-z 0-9 _ . , = : / - "
			 "(e.g. net_af_packet0,iface=veth0 or a PCI address 0000:3b:00.0)%s",
			 DWCP_CFG_DEVARGS_MAX - 1, k->flags & F_EMPTY_OK ? ", or empty for none" : "");
		break;
	}
}

/* ---- error messages ---- */

/* "origin:line: [section] key = 'value': <detail>; expected ..." */
static int bad_value(const struct parser *ps, const struct key_desc *k, const char *value,
		     const char *detail)
{
	char expect[256];
	size_t n = strlen(value);

	expect_text(k, expect, sizeof(expect));
	return dwcp_err_set(ps->err, -EINVAL, "%s:%u: [%s] %s = '%.*s%s': %s%sexpected %s",
			    ps->origin, ps->line, section_names[k->section], k->name,
			    CFG_SHOW_MAX, value, n > CFG_SHOW_MAX ? "..." : "",
			    detail != NULL ? detail : "", detail != NULL ? "; " : "", expect);
}

static const char *current_section(const struct parser *ps)
{
	return ps->section < 0 ? "(no section)" : section_names[ps->section];
}

static void list_sections(char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < SEC_COUNT && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s[%s]", i ? " " : "",
					 section_names[i]);
}

static void list_keys(enum section sec, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < N_KEYS && used < len; i++) {
		if (keys[i].section == sec)
			used += (size_t)snprintf(buf + used, len - used, "%s%s",
						 used ? ", " : "", keys[i].name);
	}
}

/* ---- values ---- */

static unsigned suffix_shift(char c)
{
	return c == 'K' ? 10 : c == 'M' ? 20 : c == 'G' ? 30 : 0;
}

/* Decimal digits only (no sign, no blanks, no 0x), an optional K/M/G on
 * byte sizes, then the key's range and shape. */
static int parse_u32(const struct key_desc *k, const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if ((k->flags & F_AUTO) && strcmp(s, "auto") == 0) {
		*out = 0;
		return 1;
	}
	if ((k->flags & F_AUTO_MAX) && strcmp(s, "auto") == 0) {
		*out = DWCP_CFG_AUTO;
		return 1;
	}
	if ((k->flags & F_AUTO) && strcmp(s, "0") == 0)
		return 0;   /* 0 is how auto is stored, not a value to write */
	if (!isdigit((unsigned char)s[0]))
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return 0;
	if ((k->flags & F_BYTES) && end[0] != '\0' && end[1] == '\0') {
		unsigned shift = suffix_shift(end[0]);

		if (shift == 0 || v > (UINT64_MAX >> shift))
			return 0;
		v <<= shift;
		end++;
	}
	if (*end != '\0' || !u32_ok(k, v))
		return 0;
	if ((k->flags & F_AUTO_MAX) && v == DWCP_CFG_AUTO)
		return 0;   /* how auto is stored, not a value to write */
	*out = (uint32_t)v;
	return 1;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (unsigned i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(s, yes[i]) == 0 || strcmp(s, no[i]) == 0) {
			*out = strcmp(s, yes[i]) == 0;
			return 1;
		}
	}
	return 0;
}

static int find_service(const struct span *sp)
{
	for (unsigned i = 0; i < N_SERVICE_NAMES; i++) {
		if (span_is(sp, service_names[i]))
			return (int)i;
	}
	return -1;
}

/* Check one list item; on success mark it in *seen and return its index. */
static int check_service_item(const struct parser *ps, const struct key_desc *k,
			      const char *value, const struct span *item, unsigned *seen)
{
	char detail[96];
	int idx;

	if (item->n == 0)
		return bad_value(ps, k, value, "empty entry in the list");
	idx = find_service(item);
	if (idx < 0)
		snprintf(detail, sizeof(detail), "unknown service '%.*s'",
			 item->n > 40 ? 40 : (int)item->n, item->p);
	else if (*seen & (1u << idx))
		snprintf(detail, sizeof(detail), "%s listed twice", service_names[idx]);
	else {
		*seen |= 1u << idx;
		return idx;
	}
	return bad_value(ps, k, value, detail);
}

/* Build the list aside and commit it only when every item is good. */
static int parse_services(const struct parser *ps, const struct key_desc *k, const char *value)
{
	int order[DWCP_CFG_MAX_SVCS];
	unsigned n = 0, seen = 0;
	const char *cursor = value[0] != '\0' ? value : NULL;
	struct span item;

	while (next_item(&cursor, &item)) {
		int idx = check_service_item(ps, k, value, &item, &seen);

		if (idx < 0)
			return idx;
		order[n++] = idx;
	}
	for (unsigned i = 0; i < n; i++)
		snprintf(ps->cfg->services[i], DWCP_NAME_MAX, "%s", service_names[order[i]]);
	ps->cfg->n_services = n;
	return 0;
}

static int apply_value(const struct parser *ps, const struct key_desc *k, const char *value)
{
	void *field = (char *)ps->cfg + k->off;

	switch (k->kind) {
	case K_U32:
		return parse_u32(k, value, field) ? 0 : bad_value(ps, k, value, NULL);
	case K_BOOL:
		return parse_bool(value, field) ? 0 : bad_value(ps, k, value, NULL);
	case K_BOOL_AUTO: {
		bool b;

		if (strcmp(value, "auto") == 0)
			*(uint32_t *)field = DWCP_CFG_BOOL_AUTO;
		else if (parse_bool(value, &b))
			*(uint32_t *)field = b;
		else
			return bad_value(ps, k, value, NULL);
		return 0;
	}
	case K_INSTANCE:
		if (!instance_ok(value))
			return bad_value(ps, k, value, NULL);
		snprintf(field, DWCP_NAME_MAX, "%s", value);
		return 0;
	case K_PATH:
		if (!path_ok(k, value))
			return bad_value(ps, k, value, NULL);
		snprintf(field, DWCP_PATH_MAX, "%s", value);
		return 0;
	case K_SERVICES:
		return parse_services(ps, k, value);
	case K_ADDR:
		if (!addr_ok(k, value))
			return bad_value(ps, k, value, NULL);
		snprintf(field, DWCP_ADDR_MAX, "%s", value);
		return 0;
	case K_WORD:
		if (!word_ok(value))
			return bad_value(ps, k, value, NULL);
		snprintf(field, 16, "%s", value);
		return 0;
	case K_CODEC:
		return codec_parse(value, field) ? 0 : bad_value(ps, k, value, NULL);
	case K_DEVARGS:
		if (!devargs_ok(k, value))
			return bad_value(ps, k, value, NULL);
		snprintf(field, DWCP_CFG_DEVARGS_MAX, "%s", value);
		return 0;
	case K_CIDR:
		if (!cidr_ok(k, value))
			return bad_value(ps, k, value, NULL);
		snprintf(field, DWCP_CFG_CIDR_MAX, "%s", value);
		return 0;
	case K_CIDR6:
		if (!cidr6_ok(k, value))
			return bad_value(ps, k, value, NULL);
		snprintf(field, DWCP_CFG_CIDR6_MAX, "%s", value);
		return 0;
	case K_NEIGH: {
		struct dwcp_err why = { 0 };

		if (strlen(value) >= DWCP_CFG_NEIGH_MAX)
			return bad_value(ps, k, value, "too long");
		if (!neigh_ok(value, &why))
			return bad_value(ps, k, value, why.msg);
		snprintf(field, DWCP_CFG_NEIGH_MAX, "%s", value);
		return 0;
	}
	}
	return bad_value(ps, k, value, "internal: unhandled key kind");
}

/* ---- lines ---- */

static int parse_section(struct parser *ps, char *s)
{
	size_t n = strlen(s);
	char valid[128];
	char *name;

	if (n < 2 || s[n - 1] != ']')
		return dwcp_err_set(ps->err, -EINVAL,
				    "%s:%u: '%.*s': missing ']'; expected a section header like [pool]",
				    ps->origin, ps->line, CFG_SHOW_MAX, s);
	s[n - 1] = '\0';
	name = trim(s + 1);
	for (int i = 0; i < SEC_COUNT; i++) {
		if (strcmp(name, section_names[i]) == 0) {
			ps->section = i;
			return 0;
		}
	}
	list_sections(valid, sizeof(valid));
	return dwcp_err_set(ps->err, -EINVAL, "%s:%u: unknown section [%.*s]; expected one of %s",
			    ps->origin, ps->line, CFG_SHOW_MAX, name, valid);
}

static int find_key(enum section sec, const char *name)
{
	for (unsigned i = 0; i < N_KEYS; i++) {
		if (keys[i].section == sec && strcmp(keys[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

static int unknown_key(const struct parser *ps, const char *key)
{
	char valid[256];

	list_keys((enum section)ps->section, valid, sizeof(valid));
	return dwcp_err_set(ps->err, -EINVAL, "%s:%u: unknown key '%.*s' in [%s]; expected one of %s",
			    ps->origin, ps->line, CFG_SHOW_MAX, key, section_names[ps->section],
			    valid);
}

/* Split "key = value"; returns 0 with both trimmed, or an error. */
static int split_assignment(const struct parser *ps, char *s, char **key, char **value)
{
	char *eq = strchr(s, '=');

	if (eq == NULL)
		return dwcp_err_set(ps->err, -EINVAL,
				    "%s:%u: [%s] '%.*s': no '='; expected 'key = value', a [section] header or a comment",
				    ps->origin, ps->line, current_section(ps), CFG_SHOW_MAX, s);
	*eq = '\0';
	*key = trim(s);
	*value = trim(eq + 1);
	if (**key == '\0')
		return dwcp_err_set(ps->err, -EINVAL, "%s:%u: [%s] '= %.*s': missing the key before '='",
				    ps->origin, ps->line, current_section(ps), CFG_SHOW_MAX, *value);
	if (ps->section < 0)
		return dwcp_err_set(ps->err, -EINVAL,
				    "%s:%u: key '%.*s' is outside any section; expected a [section] header before it",
				    ps->origin, ps->line, CFG_SHOW_MAX, *key);
	return 0;
}

/* [peers] NAME = HOST:PORT: the names are the user's, so no key table. */
static int parse_peer(struct parser *ps, const char *name, const char *value)
{
	struct dwcp_config *cfg = ps->cfg;
	struct dwcp_err sub = { 0 };
	char host[DWCP_ADDR_MAX];
	uint16_t port;

	if (!instance_ok(name))
		return dwcp_err_set(ps->err, -EINVAL,
				    "%s:%u: [peers] '%.*s': a peer name is 1..%d characters from A-Z a-z 0-9 _ -",
				    ps->origin, ps->line, CFG_SHOW_MAX, name, DWCP_NAME_MAX - 1);
	if (dwcp_config_peer(cfg, name))
		return dwcp_err_set(ps->err, -EINVAL, "%s:%u: [peers] %s defined twice; expected each peer once",
				    ps->origin, ps->line, name);
	if (cfg->n_peers >= DWCP_CFG_MAX_PEERS)
		return dwcp_err_set(ps->err, -EINVAL, "%s:%u: [peers] %s: more than %d peers",
				    ps->origin, ps->line, name, DWCP_CFG_MAX_PEERS);
	if (dwcp_addr_split(value, host, &port, &sub))
		return dwcp_err_set(ps->err, -EINVAL, "%s:%u: [peers] %s: %s", ps->origin, ps->line,
				    name, sub.msg);
	snprintf(cfg->peers[cfg->n_peers].name, DWCP_NAME_MAX, "%s", name);
	snprintf(cfg->peers[cfg->n_peers].addr, DWCP_ADDR_MAX, "%s", value);
	cfg->n_peers++;
	return 0;
}

static int parse_assignment(struct parser *ps, char *s)
{
	char *key = NULL, *value = NULL;
	int rc = split_assignment(ps, s, &key, &value);
	int idx;

	if (rc < 0)
		return rc;
	if (ps->section == SEC_PEERS)
		return parse_peer(ps, key, value);
	idx = find_key((enum section)ps->section, key);
	if (idx < 0)
		return unknown_key(ps, key);
	if (ps->seen[idx] != 0)
		return dwcp_err_set(ps->err, -EINVAL,
				    "%s:%u: [%s] %s set a second time (first on line %u); expected each key once",
				    ps->origin, ps->line, section_names[ps->section], key, ps->seen[idx]);
	ps->seen[idx] = ps->line;
	return apply_value(ps, &keys[idx], value);
}

static int parse_line(struct parser *ps, char *line)
{
	char *s = trim(strip_comment(line));

	if (*s == '\0')
		return 0;
	if (*s == '[')
		return parse_section(ps, s);
	return parse_assignment(ps, s);
}

/* Copy the line at *pos into @p line and advance *pos (NULL at the end). */
static int next_line(const struct parser *ps, const char **pos, char *line)
{
	const char *s = *pos, *nl = strchr(s, '\n');
	size_t n = nl != NULL ? (size_t)(nl - s) : strlen(s);

	*pos = nl != NULL ? nl + 1 : NULL;
	if (n > CFG_LINE_MAX)
		return dwcp_err_set(ps->err, -EINVAL,
				    "%s:%u: [%s] line of %zu characters starting '%.40s...'; expected at most %d",
				    ps->origin, ps->line, current_section(ps), n, s, CFG_LINE_MAX);
	memcpy(line, s, n);
	line[n] = '\0';
	return 0;
}

void dwcp_config_defaults(struct dwcp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->instance, sizeof(cfg->instance), "dwcp");
	cfg->hugepage_mb = 512;
	snprintf(cfg->huge_dir, sizeof(cfg->huge_dir), "/dev/hugepages");
	snprintf(cfg->run_dir, sizeof(cfg->run_dir), "/run/dwcp");
	cfg->heartbeat_ms = 100;
	cfg->heartbeat_timeout_ms = 1000;
	cfg->init_timeout_ms = 10000;
	cfg->backoff_ms = 100;
	cfg->backoff_max_ms = 5000;
	cfg->client_slots_per_pid = 2;
	cfg->pool_buffers = 1024;
	cfg->pool_buf_size = 266240;
	cfg->link_depth = 1024;
	cfg->spin_us = dwcp_config_spin_default((unsigned)sysconf(_SC_NPROCESSORS_ONLN));
	cfg->poll_mode = false;
	cfg->delta_cache_mb = DWCP_CFG_AUTO;
	cfg->simd_workers = 0;   /* auto */
	cfg->rdma_workers = 1;
	cfg->prof_sample_hz = 19;
	cfg->zstd_level = 1;
	cfg->lz4_level = 1;
	for (unsigned i = 0; i < N_SERVICE_NAMES; i++)
		snprintf(cfg->services[i], DWCP_NAME_MAX, "%s", service_names[i]);
	cfg->n_services = N_SERVICE_NAMES;
	cfg->key_file[0] = '\0';   /* no encryption configured */
	snprintf(cfg->net_listen, sizeof(cfg->net_listen), "0.0.0.0:7100");
	cfg->net_connections = 4;
	cfg->net_workers = 0;   /* auto */
	cfg->mem_workers = 0;   /* auto */
	cfg->gpu_workers = 0;   /* auto */
	cfg->net_zerocopy = DWCP_CFG_BOOL_AUTO;
	cfg->net_busy_poll_us = 0;
	cfg->net_sockbuf = 16u << 20;
	cfg->net_resend_ms = 2000;
	cfg->net_handshake_ms = 5000;
	cfg->net_max_unauth = 32;
	snprintf(cfg->net_congestion, sizeof(cfg->net_congestion), "bbr");
	snprintf(cfg->net_transport, sizeof(cfg->net_transport), "tcp");
	cfg->chunk_size = 262144;
	cfg->window = 64;
	cfg->codec = DWCP_CFG_CODEC_AUTO;
	cfg->delta = true;
	snprintf(cfg->recv_dir, sizeof(cfg->recv_dir), "/var/lib/dwcp/recv");
	snprintf(cfg->index_dir, sizeof(cfg->index_dir), DWCP_CFG_INDEX_DIR);
}

int dwcp_config_parse(struct dwcp_config *cfg, const char *text, const char *origin,
		      struct dwcp_err *err)
{
	struct parser ps = {
		.cfg = cfg,
		.origin = origin != NULL ? origin : "<string>",
		.err = err,
		.section = -1,
	};
	char line[CFG_LINE_MAX + 1];
	const char *pos = text;

	while (pos != NULL) {
		int rc;

		ps.line++;
		rc = next_line(&ps, &pos, line);
		if (rc == 0)
			rc = parse_line(&ps, line);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- validation of a filled struct ---- */

static int field_ok(const struct dwcp_config *cfg, const struct key_desc *k)
{
	const void *field = (const char *)cfg + k->off;

	switch (k->kind) {
	case K_U32:
		return u32_ok(k, *(const uint32_t *)field);
	case K_INSTANCE:
		return instance_ok(field);
	case K_PATH:
		return path_ok(k, field);
	case K_ADDR:
		return addr_ok(k, field);
	case K_WORD:
		return word_ok(field);
	case K_CODEC:
		return *(const uint32_t *)field <= DWCP_CFG_CODEC_AUTO;
	case K_BOOL_AUTO:
		return *(const uint32_t *)field <= DWCP_CFG_BOOL_AUTO;
	case K_DEVARGS:
		return devargs_ok(k, field);
	case K_CIDR:
		return cidr_ok(k, field);
	case K_CIDR6:
		return cidr6_ok(k, field);
	case K_NEIGH:
		return neigh_ok(field, NULL);
	case K_BOOL:
	case K_SERVICES:   /* checked on their own: no single value to show */
		return 1;
	}
	return 0;
}

static int bad_field(const struct dwcp_config *cfg, const struct key_desc *k,
		     struct dwcp_err *err)
{
	const void *field = (const char *)cfg + k->off;
	char expect[256];

	expect_text(k, expect, sizeof(expect));
	if (k->kind == K_U32)
		return dwcp_err_set(err, -EINVAL, "[%s] %s = %u: expected %s",
				    section_names[k->section], k->name,
				    *(const uint32_t *)field, expect);
	return dwcp_err_set(err, -EINVAL, "[%s] %s = '%.*s': expected %s",
			    section_names[k->section], k->name, CFG_SHOW_MAX,
			    (const char *)field, expect);
}

static int validate_services(const struct dwcp_config *cfg, struct dwcp_err *err)
{
	unsigned seen = 0;

	if (cfg->n_services > DWCP_CFG_MAX_SVCS)
		return dwcp_err_set(err, -EINVAL, "[services] enable lists %u services; expected at most %d",
				    cfg->n_services, DWCP_CFG_MAX_SVCS);
	for (unsigned i = 0; i < cfg->n_services; i++) {
		struct span sp = { cfg->services[i], strnlen(cfg->services[i], DWCP_NAME_MAX) };
		int idx = find_service(&sp);

		if (idx < 0 || (seen & (1u << idx)))
			return dwcp_err_set(err, -EINVAL,
					    "[services] enable: '%.*s' is %s; expected each of svc-net svc-rdma svc-gpu svc-simd svc-mem svc-prof at most once",
					    (int)sp.n, sp.p, idx < 0 ? "not a dwcp service" : "listed twice");
		seen |= 1u << idx;
	}
	return 0;
}

/* Static neighbours serve the DPDK port, which reaches its own subnets only. */
static int validate_neighbours(const struct dwcp_config *cfg, struct dwcp_err *err)
{
	struct dwcp_neigh_static e[DWCP_NEIGH_STATIC_MAX];
	uint8_t own4[16], own6[16];
	uint32_t ip;
	unsigned prefix4 = 0, prefix6 = 0;
	bool has4, has6;
	int n;

	if (!cfg->net_neighbours[0])
		return 0;
	/* IPv4 as mapped IPv6: A.B.C.D/N is ::ffff:A.B.C.D/(96 + N) */
	has4 = cfg->net_ip[0] && dwcp_cidr_parse(cfg->net_ip, &ip, &prefix4) == 0;
	if (has4)
		dwcp_ip_map4(ip, own4);
	has6 = cfg->net_ip6[0] && dwcp_cidr6_parse(cfg->net_ip6, own6, &prefix6) == 0;
	if (strcmp(cfg->net_transport, "dpdk") || (!has4 && !has6))
		return dwcp_err_set(err, -EINVAL,
				    "[net] neighbours is for the DPDK port: set [net] transport = dpdk and [net] ip or ip6, or remove it");
	n = dwcp_neigh_list_parse(cfg->net_neighbours, e, err);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		bool v4 = dwcp_ip_is_map4(e[i].ip);
		const char *key = v4 ? "ip" : "ip6", *net = v4 ? cfg->net_ip : cfg->net_ip6;
		const uint8_t *own = v4 ? own4 : own6;
		char a[INET6_ADDRSTRLEN];

		inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? e[i].ip + 12 : e[i].ip, a, sizeof(a));
		if (!(v4 ? has4 : has6))
			return dwcp_err_set(err, -EINVAL, "[net] neighbours: %s needs [net] %s, which is not set", a, key);
		if (!memcmp(e[i].ip, own, 16))
			return dwcp_err_set(err, -EINVAL, "[net] neighbours: %s is this node's own address: remove that entry", a);
		if (!dwcp_ip6_same_prefix(e[i].ip, own, v4 ? 96 + prefix4 : prefix6))
			return dwcp_err_set(err, -EINVAL,
					    "[net] neighbours: %s is outside the subnet of [net] %s = %s: the port reaches peers in its own subnet only",
					    a, key, net);
	}
	return 0;
}

static int validate_cross(const struct dwcp_config *cfg, struct dwcp_err *err)
{
	if ((uint64_t)cfg->heartbeat_timeout_ms < 3ull * cfg->heartbeat_ms)
		return dwcp_err_set(err, -EINVAL,
				    "[supervisor] heartbeat_timeout_ms = %u: expected at least 3 * heartbeat_ms = %llu, so a service is declared dead only after three missed heartbeats",
				    cfg->heartbeat_timeout_ms, 3ull * cfg->heartbeat_ms);
	if (cfg->backoff_max_ms < cfg->backoff_ms)
		return dwcp_err_set(err, -EINVAL,
				    "[supervisor] restart_backoff_max_ms = %u: expected at least restart_backoff_ms = %u",
				    cfg->backoff_max_ms, cfg->backoff_ms);
	if (strcmp(cfg->net_transport, "tcp") && strcmp(cfg->net_transport, "dpdk"))
		return dwcp_err_set(err, -EINVAL, "[net] transport = '%s': expected tcp or dpdk",
				    cfg->net_transport);
	if (!strcmp(cfg->net_transport, "dpdk") && !cfg->net_port[0])
		return dwcp_err_set(err, -EINVAL,
				    "[net] transport = dpdk needs [net] port: the DPDK device to own, e.g. port = net_af_packet0,iface=veth0");
	if (!strcmp(cfg->net_transport, "dpdk") && !cfg->net_ip[0] && !cfg->net_ip6[0])
		return dwcp_err_set(err, -EINVAL,
				    "[net] transport = dpdk needs [net] ip: this node's IPv4 address on the port and its prefix, e.g. ip = 10.0.0.1/24 (an address the kernel does not use), or [net] ip6 for IPv6, e.g. ip6 = fd00:78::1/64");
	if (cfg->net_mtu && cfg->net_mtu < 1280)
		return dwcp_err_set(err, -EINVAL,
				    "[net] mtu = %u: expected 0 (the port's own MTU) or 1280..9600", cfg->net_mtu);
	return validate_neighbours(cfg, err);
}

int dwcp_config_validate(const struct dwcp_config *cfg, struct dwcp_err *err)
{
	int rc;

	for (unsigned i = 0; i < N_KEYS; i++) {
		if (!field_ok(cfg, &keys[i]))
			return bad_field(cfg, &keys[i], err);
	}
	rc = validate_services(cfg, err);
	return rc < 0 ? rc : validate_cross(cfg, err);
}

int dwcp_config_check_instance(const char *name, struct dwcp_err *err)
{
	if (name != NULL && instance_ok(name))
		return 0;
	return dwcp_err_set(err, -EINVAL,
			    "invalid instance name '%.*s': expected 1..%d characters from A-Z a-z 0-9 _ -",
			    CFG_SHOW_MAX, name != NULL ? name : "(null)", DWCP_NAME_MAX - 1);
}

/* ---- files ---- */

static int read_error(const char *path, struct dwcp_err *err)
{
	int e = errno;

	return dwcp_err_set(err, -e, "cannot read config file '%s': %s", path, strerror(e));
}

/* Read up to CFG_FILE_MAX + 1 bytes of @p fd into @p buf (so a larger
 * file is detected without trusting st_size); returns the byte count. */
static ssize_t read_all(int fd, char *buf, size_t cap)
{
	size_t got = 0;

	while (got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Fill @p buf (CFG_FILE_MAX + 2 bytes) with the NUL-terminated file. */
static int read_file(const char *path, char *buf, struct dwcp_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return read_error(path, err);
	n = read_all(fd, buf, CFG_FILE_MAX + 1);
	if (n < 0) {
		int rc = read_error(path, err);

		close(fd);
		return rc;
	}
	close(fd);
	if (n > CFG_FILE_MAX)
		return dwcp_err_set(err, -EFBIG, "config file '%s' is larger than %d bytes; expected a dwcp INI file",
				    path, CFG_FILE_MAX);
	buf[n] = '\0';
	if (strlen(buf) != (size_t)n)
		return dwcp_err_set(err, -EINVAL, "config file '%s' contains a NUL byte at offset %zu; expected text",
				    path, strlen(buf));
	return 0;
}

/* Validation messages carry no line; prefix them with the file. */
static int validate_file(const struct dwcp_config *cfg, const char *path, struct dwcp_err *err)
{
	struct dwcp_err inner;
	int rc = dwcp_config_validate(cfg, &inner);

	if (rc < 0)
		dwcp_err_set(err, rc, "%s: %s", path, inner.msg);
	return rc;
}

int dwcp_config_load(struct dwcp_config *cfg, const char *path, struct dwcp_err *err)
{
	char *buf;
	int rc;

	if (path == NULL)
		return dwcp_err_set(err, -EINVAL, "no config file path given");
	buf = malloc(CFG_FILE_MAX + 2);
	if (buf == NULL)
		return dwcp_err_set(err, -ENOMEM, "cannot read config file '%s': out of memory", path);
	rc = read_file(path, buf, err);
	if (rc == 0)
		rc = dwcp_config_parse(cfg, buf, path, err);
	free(buf);
	return rc < 0 ? rc : validate_file(cfg, path, err);
}
