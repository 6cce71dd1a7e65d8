/* dwcpctl doctor: RDMA ports from sysfs (doctor_rdma.h). */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor_rdma.h"

/* The first line of @p path (newline cut) into @p out; false if unreadable. */
static bool read_line(const char *path, char *out, size_t n)
{
	FILE *f = fopen(path, "re");
	bool ok;

	out[0] = '\0';
	if (!f)
		return false;
	/* An unused GID's type reads as an error: an empty line. */
	ok = fgets(out, (int)n, f) != NULL;
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	return ok && out[0];
}

/* "0000:0000:0000:0000:0000:ffff:0a00:0001": an IPv4-mapped GID. IPv6
 * ones not link-local (fe80:) also route. */
static bool gid_from_ip(const char *gid)
{
	if (!strncmp(gid, "0000:0000:0000:0000:0000:ffff:", 30))
		return strcmp(gid + 30, "0000:0000") != 0;
	return strncmp(gid, "fe80:", 5) != 0 && strcmp(gid, "0000:0000:0000:0000:0000:0000:0000:0000") != 0;
}

static void find_gid(const char *pdir, struct sup_rdma_port *p)
{
	char path[1024], gid[64], type[32];

	p->gid_v2 = -1;
	/* The GID table holds a few dozen entries at most; stop at a gap past the first 256. */
	for (int i = 0; i < 256; i++) {
		snprintf(path, sizeof(path), "%s/gids/%d", pdir, i);
		if (!read_line(path, gid, sizeof(gid)))
			break;
		snprintf(path, sizeof(path), "%s/gid_attrs/types/%d", pdir, i);
		if (!read_line(path, type, sizeof(type)) || strcmp(type, "RoCE v2") || !gid_from_ip(gid))
			continue;
		p->gid_v2 = i;
		snprintf(p->gid, sizeof(p->gid), "%s", gid);
		snprintf(path, sizeof(path), "%s/gid_attrs/ndevs/%d", pdir, i);
		read_line(path, p->netdev, sizeof(p->netdev));
		return;
	}
}

/* One port: state ("4: ACTIVE"), link layer, LID, and a routable GID. */
static void read_port(const char *pdir, struct sup_rdma_port *p)
{
	char path[1024], ll[32];
	const char *colon;

	snprintf(path, sizeof(path), "%s/state", pdir);
	read_line(path, p->state, sizeof(p->state));
	colon = strstr(p->state, ": ");
	if (colon)
		memmove(p->state, colon + 2, strlen(colon + 2) + 1);
	p->active = !strcmp(p->state, "ACTIVE");
	snprintf(path, sizeof(path), "%s/link_layer", pdir);
	read_line(path, ll, sizeof(ll));
	p->roce = !strcmp(ll, "Ethernet");
	snprintf(path, sizeof(path), "%s/lid", pdir);
	read_line(path, p->lid, sizeof(p->lid));
	p->gid_v2 = -1;
	if (p->roce)
		find_gid(pdir, p);
}

static unsigned dev_ports(const char *root, const char *dev, struct sup_rdma_port *out, unsigned max)
{
	char pdirs[512], pdir[768];
	struct dirent *e;
	unsigned n = 0;
	DIR *d;

	snprintf(pdirs, sizeof(pdirs), "%s/%s/ports", root, dev);
	d = opendir(pdirs);
	while (d && n < max && (e = readdir(d)) != NULL) {
		struct sup_rdma_port *p = &out[n];

		if (e->d_name[0] == '.')
			continue;
		memset(p, 0, sizeof(*p));
		snprintf(p->dev, sizeof(p->dev), "%s", dev);
		p->port = (unsigned)strtoul(e->d_name, NULL, 10);
		snprintf(pdir, sizeof(pdir), "%s/%s", pdirs, e->d_name);
		read_port(pdir, p);
		n++;
	}
	if (d)
		closedir(d);
	return n;
}

unsigned sup_rdma_ports(const char *root, struct sup_rdma_port *out, unsigned max)
{
	DIR *d = opendir(root);
	struct dirent *e;
	unsigned n = 0;

	while (d && n < max && (e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n += dev_ports(root, e->d_name, out + n, max - n);
	if (d)
		closedir(d);
	return n;
}

bool sup_rdma_port_usable(const struct sup_rdma_port *p, char *why, unsigned n)
{
	if (!p->active) {
		snprintf(why, n, "port %s (not ACTIVE: is its netdev up? `rdma link show`)",
			 p->state[0] ? p->state : "state unknown");
		return false;
	}
	if (p->roce && p->gid_v2 < 0) {
		snprintf(why, n, "no RoCE v2 GID from an IP address: give the port's netdev an address "
			 "(`ip addr add ADDR/PREFIX dev NETDEV`); without one a QP cannot reach RTR");
		return false;
	}
	if (!p->roce && (!p->lid[0] || !strcmp(p->lid, "0x0"))) {
		snprintf(why, n, "InfiniBand port without a LID: no subnet manager (run opensm)");
		return false;
	}
	why[0] = '\0';
	return true;
}
