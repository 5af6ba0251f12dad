/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * run_checks.c - checks b (IOMMU in use), c (shadow consistency), d (unmap) and e (faults, baseline)
 *
 * Every check saves what it read (QMP replies, debugfs files, dmesg) in the run directory under
 * checks/<check>-<view>.txt and names those files in its diagnostics.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frame_find.h"
#include "frame_gen.h"
#include "run_internal.h"
#include "shadow.h"

/* run_l0_nic_id() - the qdev id of the NIC in L0's QEMU: libvirt's alias, or the plan's id */
static const char *l0_nic_id(const struct run *r)
{
	if (r->plan->backend == SCN_BACKEND_QEMU)
		return "nic0";
	return r->plan->nic.mode == SCN_L0_LAB ? "hostdev0" : "net0";
}

/* save_json() - a QMP result as pretty JSON in checks/@name */
static void save_json(struct run *r, const char *name, json_t *j)
{
	cleanup_free char *text = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
	cleanup_free char *dir = run_path(r, "checks");
	cleanup_free char *rel = xasprintf("checks/%s", name);

	mkdir(dir, 0755);
	if (text)
		run_save(r, rel, text, strlen(text));
}

/* save_text() - checks/@name */
static void save_text(struct run *r, const char *name, const char *text)
{
	cleanup_free char *dir = run_path(r, "checks");
	cleanup_free char *rel = xasprintf("checks/%s", name);

	mkdir(dir, 0755);
	run_save(r, rel, text ? text : "", text ? strlen(text) : 0);
}

/*
 * l0_query() - x-query-vtd-mappings for the NIC on L0's QEMU (source "guest": L1's tables), within
 * l1.viommu's limits: past them QEMU answers with an error that names the limit (patches/qemu/0004)
 */
static int l0_query(struct run *r, const char *source, json_t **result, nl_error_t *err)
{
	const struct plan_viommu *v = &r->plan->l1.viommu;
	json_t *args = json_pack("{s:s, s:s, s:I, s:I}", "device", l0_nic_id(r), "source", source, "max-entries",
				 (json_int_t)v->query_max_entries, "max-tables", (json_int_t)v->query_max_tables);
	int ret = vm_qmp(r->vm, "x-query-vtd-mappings", args, result, err);

	json_decref(args);
	return ret < 0 ? nl_error_wrap(err, "L0 QEMU") : 0;
}

/* mapping_pages() - 4 KiB pages of a VtdMappingsInfo's mappings */
static uint64_t mapping_pages(json_t *info)
{
	json_t *m = json_object_get(info, "mappings");
	uint64_t pages = 0;
	size_t i;
	json_t *e;

	json_array_foreach(m, i, e)
		pages += (uint64_t)json_integer_value(json_object_get(e, "size")) >> 12;
	return pages;
}

int run_l0_mapped_pages(struct run *r, uint64_t *pages, nl_error_t *err)
{
	json_t *res = NULL;

	if (l0_query(r, "guest", &res, err) < 0)
		return -1;
	*pages = mapping_pages(res);
	json_decref(res);
	return 0;
}

/* ---- QEMU confinement (docs/running.md, "What runs as root") ---------------------------------------- */

/* seccomp_mode() - the "Seccomp:" value of a /proc/PID/status text (0 none, 1 strict, 2 filter), or -1 */
static int seccomp_mode(const char *status)
{
	const char *p = status ? strstr(status, "\nSeccomp:") : NULL;

	return p ? atoi(p + strlen("\nSeccomp:")) : -1;
}

int run_check_confinement(struct run *r, nl_error_t *err)
{
	pid_t l0_pid = vm_qemu_pid(r->vm);
	cleanup_free char *l0_path = xasprintf("/proc/%d/status", (int)l0_pid);
	cleanup_free char *l1_path = xasprintf("/proc/%ld/status", r->l2_qemu_pid);
	cleanup_free char *l0_status = l0_pid > 0 ? read_file_text(l0_path) : NULL;
	cleanup_free char *l1_status = NULL, *msg = NULL;
	uint64_t t0 = now_ms();
	size_t len = 0;
	int l0_mode = seccomp_mode(l0_status), l1_mode;

	if (agent_client_read_file(r->agent, 1, l1_path, 0, 30000, &l1_status, &len, err) < 0) {
		if ((*err)->errnum == EINTR)
			return -1;
		msg = xasprintf("L1's QEMU: cannot read %s: %s", l1_path, (*err)->msg);
		nl_error_release(err);
	}
	save_text(r, "confinement-l0-qemu-status.txt", l0_status);
	save_text(r, "confinement-l1-qemu-status.txt", l1_status);
	l1_mode = seccomp_mode(l1_status);
	if (!msg && (l0_mode != 2 || l1_mode != 2))
		msg = xasprintf("expected Seccomp: 2 (a filter, from -sandbox on) in /proc/PID/status; L0's QEMU (pid %d) "
				"has %d, L1's QEMU (pid %ld) has %d (-1: not readable); is QEMU built with seccomp "
				"(build_qemu.c) and does the plan pass -sandbox on?", (int)l0_pid, l0_mode,
				r->l2_qemu_pid, l1_mode);
	run_point(r, !msg, now_ms() - t0, msg, "checks/confinement-l0-qemu-status.txt",
		  "QEMU confined: seccomp filter on L0's QEMU (pid %d) and L1's QEMU (pid %ld)", (int)l0_pid,
		  r->l2_qemu_pid);
	return 0;
}

/* ---- b: IOMMU in use ---------------------------------------------------------------------------- */

int run_check_iommu_in_use(struct run *r, nl_error_t *err)
{
	const char *bdf = r->plan->nic.l2_bdf;
	cleanup_free char *out = NULL, *msg = NULL;
	uint64_t t0 = now_ms();
	bool dma, ir, nic_ir = true;
	int status;

	if (run_sh(r, 2, 30000, &out, &status, err,
		   "echo group_type=$(cat /sys/bus/pci/devices/%s/iommu_group/type 2>/dev/null);"
		   " echo driver=$(basename \"$(readlink /sys/bus/pci/devices/%s/driver)\");"
		   " dmesg | grep -E 'DMAR-IR|IRQ remapping|DMAR: Intel|DMAR: .*enabled' ;"
		   " echo '--- /proc/interrupts'; cat /proc/interrupts", bdf, bdf) < 0)
		return -1;
	save_text(r, "iommu-in-use-l2.txt", out);
	dma = strstr(out, "group_type=DMA") != NULL;
	ir = strstr(out, "Enabled IRQ remapping") != NULL;
	if (r->plan->driver == SCN_DRIVER_KERNEL && r->l2_ifname) {
		/* the NIC's vectors: "IR-PCI-MSIX-0000:00:02.0 ... eth0-TxRx-0" */
		cleanup_free char *pat = xasprintf("IR-PCI-MSI");
		const char *p = strstr(out, "--- /proc/interrupts");
		bool any = false, all_ir = true;

		for (const char *line = p; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
			size_t len = strcspn(line, "\n");
			cleanup_free char *l = xstrndup(line, len);

			if (!strstr(l, r->l2_ifname))
				continue;
			any = true;
			if (!strstr(l, pat))
				all_ir = false;
		}
		nic_ir = any && all_ir;
	}
	if (!dma || !ir || !nic_ir)
		msg = xasprintf("L2: %s%s%s", dma ? "" : "the NIC's IOMMU group is not of type DMA; ",
				ir ? "" : "interrupt remapping is not enabled (no \"Enabled IRQ remapping\" in dmesg); ",
				nic_ir ? "" : "the NIC's interrupts are not remapped (no IR-PCI-MSI vectors)");
	run_point(r, !msg, now_ms() - t0, msg, "checks/iommu-in-use-l2.txt",
		  "L2's IOMMU in use: NIC group type DMA, interrupt remapping on%s",
		  r->plan->driver == SCN_DRIVER_KERNEL ? ", NIC vectors IR-PCI-MSI" : "");
	return 0;
}

/* ---- e: faults and baseline ---------------------------------------------------------------------- */

/* count_lines() - lines of @text containing @needle */
static unsigned count_lines(const char *text, const char *needle)
{
	unsigned n = 0;

	for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

int run_check_faults(struct run *r, bool after_l2, nl_error_t *err)
{
	cleanup_free char *l1 = NULL, *l2 = NULL, *msg = NULL, *vfio = NULL;
	struct strbuf why = STRBUF_INIT;
	uint64_t t0 = now_ms();
	json_t *l0 = NULL;
	uint64_t l0_faults, l0_pages;
	unsigned l1_faults, l2_faults = 0;
	int status;

	if (l0_query(r, "guest", &l0, err) < 0)
		return -1;
	save_json(r, after_l2 ? "faults-l0-after.json" : "faults-l0.json", l0);
	l0_faults = (uint64_t)json_integer_value(json_object_get(json_object_get(l0, "counters"), "dmar-faults"));
	l0_pages = mapping_pages(l0);
	json_decref(l0);
	if (run_sh(r, 1, 30000, &l1, &status, err, "dmesg | grep -E 'DMAR: \\[DMA|DMAR: DRHD: handling fault' || true") < 0)
		return -1;
	save_text(r, after_l2 ? "faults-l1-after.txt" : "faults-l1.txt", l1);
	l1_faults = count_lines(l1, "DMAR: [DMA");
	if (!after_l2) {
		if (run_sh(r, 2, 30000, &l2, &status, err, "dmesg | grep -E 'DMAR: \\[DMA|DMAR: DRHD' || true") < 0)
			return -1;
		save_text(r, "faults-l2.txt", l2);
		l2_faults = count_lines(l2, "DMAR: [DMA");
	}
	if (l0_faults > r->expected_l0_faults)
		strbuf_printf(&why, "L0's intel-iommu counted %llu DMAR faults for the NIC (expected %u); ",
			      (unsigned long long)l0_faults, r->expected_l0_faults);
	if (l1_faults > r->expected_l1_faults)
		strbuf_printf(&why, "L1's kernel logged %u DMAR faults (expected %u, see checks/faults-l1.txt); ",
			      l1_faults, r->expected_l1_faults);
	if (l2_faults)
		strbuf_printf(&why, "L2's kernel logged %u DMAR faults (see checks/faults-l2.txt); ", l2_faults);
	if (after_l2) {
		if (run_sh(r, 1, 30000, &vfio, &status, err, "ls /sys/kernel/debug/vfio/type1/ 2>/dev/null; true") < 0)
			return -1;
		if (vfio && *vfio)
			strbuf_printf(&why, "L1 still has vfio type1 containers after L2 stopped: %s; ", vfio);
		if (r->l0_baseline_known && l0_pages != r->l0_baseline_pages)
			strbuf_printf(&why, "L0 sees %llu pages mapped for the NIC in L1's tables after L2 stopped, "
					    "%llu before it started; ", (unsigned long long)l0_pages,
				      (unsigned long long)r->l0_baseline_pages);
	}
	msg = why.len ? strbuf_detach(&why) : NULL;
	strbuf_release(&why);
	if (after_l2)
		run_point(r, !msg, now_ms() - t0, msg, "checks/faults-l0-after.json",
			  "after L2 stopped: no vfio container left in L1, L0's view back to its baseline (%llu pages), "
			  "no new DMAR faults", (unsigned long long)r->l0_baseline_pages);
	else
		run_point(r, !msg, now_ms() - t0, msg, "checks/faults-l0.json",
			  "no unexpected DMAR faults: L0 %llu, L1 %u, L2 %u (expected L0 %u, L1 %u)",
			  (unsigned long long)l0_faults, l1_faults, l2_faults, r->expected_l0_faults,
			  r->expected_l1_faults);
	return 0;
}

/* ---- c: shadow consistency ------------------------------------------------------------------------ */

/* the raw and parsed views at one point in time */
struct views {
	struct shadow_table l2_table, l1_table;
	struct shadow_vtd l1_guest, l1_shadow, l0_guest;
	struct shadow_vfio vfio;
	struct shadow_vfio_stats vfio_stats;
	struct shadow_ram_layout ram;
	bool have_l2_table, have_l1_table, have_l1_guest, have_l1_shadow, have_l0_guest, have_vfio, have_ram;
	struct shadow_translation probes[32];
	size_t n_probes;
};

static void views_release(struct views *v)
{
	shadow_table_release(&v->l2_table);
	shadow_table_release(&v->l1_table);
	shadow_vtd_release(&v->l1_guest);
	shadow_vtd_release(&v->l1_shadow);
	shadow_vtd_release(&v->l0_guest);
	shadow_vfio_release(&v->vfio);
	shadow_ram_layout_release(&v->ram);
}

/* problem() - note a view that could not be collected; it is left out and named in the diagnostics */
static void problem(struct run *r, struct strbuf *missing, const char *what, nl_error_t *err)
{
	/* x-query-vtd-mappings hit max-entries or max-tables (shadow_qmp.c): name the scenario keys */
	const char *hint = !*err || !shadow_vtd_limit_error((*err)->msg) ? ""
			   : strstr(what, "L0") ? " (hint: raise l1.viommu.max_mappings or max_tables in the scenario)"
						: " (hint: raise l2.viommu.max_mappings or max_tables in the scenario)";

	run_logf(r, "view %s not collected: %s%s", what, *err ? (*err)->msg : "?", hint);
	strbuf_printf(missing, "%s%s: %s%s", missing->len ? "; " : "", what, *err ? (*err)->msg : "?", hint);
	nl_error_release(err);
}

/* hmp_text() - the "return" string of a human-monitor-command reply line; caller frees */
static char *hmp_text(const char *reply)
{
	json_t *j = json_loads(reply, 0, NULL);
	const char *s = json_string_value(json_object_get(j, "return"));
	char *out = s ? xstrdup(s) : NULL;

	json_decref(j);
	return out;
}

/* l1_hmp() - an HMP command on L1's QEMU; the text, or NULL with @err set */
static char *l1_hmp(struct run *r, const char *cmdline, nl_error_t *err)
{
	cleanup_free char *cmd = xasprintf("{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"%s\"}}",
					   cmdline);
	cleanup_free char *reply = NULL;
	char *text;

	if (run_l1_qmp(r, cmd, &reply, err) < 0)
		return NULL;
	text = hmp_text(reply);
	if (!text)
		nl_error(err, 0, "L1 QEMU: %s: %s", cmdline, reply);
	return text;
}

/*
 * collect() - read every view into @v; files checks/<tag>-*.txt. Views that cannot be read are left out
 * and listed in @missing (the check says which it compared).
 */
static int collect(struct run *r, const char *tag, struct views *v, struct strbuf *missing, nl_error_t *err)
{
	const struct plan *plan = r->plan;
	cleanup_free char *l2_path = xasprintf(SHADOW_DEBUGFS_TABLE_FMT, plan->nic.l2_bdf);
	cleanup_free char *l1_path = xasprintf(SHADOW_DEBUGFS_TABLE_FMT, plan->nic.l1_bdf);
	cleanup_free char *text = NULL, *name = NULL, *dir = NULL;
	size_t len = 0;
	json_t *j = NULL;

#define SAVE(suffix, data)                                                   \
	do {                                                                 \
		free(name);                                                  \
		name = xasprintf("%s-%s", tag, suffix);                      \
		save_text(r, name, data);                                    \
	} while (0)

	/* L2's own table */
	if (agent_client_read_file(r->agent, 2, l2_path, 0, 60000, &text, &len, err) == 0) {
		SAVE("l2-table.txt", text);
		if (shadow_table_parse(&v->l2_table, text, len, err) == 0)
			v->have_l2_table = true;
		else
			problem(r, missing, "L2 debugfs table", err);
	} else {
		if ((*err)->errnum == EINTR)
			return -1;
		problem(r, missing, "L2 debugfs table", err);
	}
	free(text);
	text = NULL;

	/* L1 QEMU: its walk of L2's tables and its shadow, within l2.viommu's limits */
	for (int i = 0; i < 2; i++) {
		cleanup_free char *cmd = xasprintf("{\"execute\":\"x-query-vtd-mappings\",\"arguments\":{\"device\":\"nic0\","
						   "\"source\":\"%s\",\"max-entries\":%u,\"max-tables\":%u}}",
						   i ? "shadow" : "guest", plan->l2.viommu.query_max_entries,
						   plan->l2.viommu.query_max_tables);
		struct shadow_vtd *dst = i ? &v->l1_shadow : &v->l1_guest;

		if (run_l1_qmp(r, cmd, &text, err) == 0) {
			SAVE(i ? "l1-qemu-shadow.json" : "l1-qemu-guest.json", text);
			if (shadow_vtd_parse_text(dst, text, strlen(text), err) == 0)
				*(i ? &v->have_l1_shadow : &v->have_l1_guest) = true;
			else
				problem(r, missing, i ? "L1 QEMU shadow" : "L1 QEMU guest walk", err);
		} else {
			if ((*err)->errnum == EINTR)
				return -1;
			problem(r, missing, i ? "L1 QEMU shadow" : "L1 QEMU guest walk", err);
		}
		free(text);
		text = NULL;
	}

	/* L1's vfio container of L2's QEMU */
	if (run_sh(r, 1, 30000, &dir, NULL, err,
		   "for d in %s/*; do grep -qx 'pid %ld' $d/stats 2>/dev/null && echo $d; done | head -1",
		   SHADOW_DEBUGFS_VFIO_DIR, r->l2_qemu_pid) < 0)
		return -1;
	dir[strcspn(dir, "\n")] = '\0';
	if (*dir) {
		cleanup_free char *mp = xasprintf("%s/mappings", dir), *sp = xasprintf("%s/stats", dir);
		cleanup_free char *stats = NULL;
		size_t slen = 0;

		if (agent_client_read_file(r->agent, 1, mp, 0, 60000, &text, &len, err) == 0 &&
		    agent_client_read_file(r->agent, 1, sp, 0, 60000, &stats, &slen, err) == 0) {
			SAVE("l1-vfio-mappings.txt", text);
			SAVE("l1-vfio-stats.txt", stats);
			if (shadow_vfio_parse(&v->vfio, text, len, err) == 0 &&
			    shadow_vfio_stats_parse(&v->vfio_stats, stats, slen, err) == 0) {
				v->vfio.container_id = v->vfio_stats.id;
				v->have_vfio = true;
			} else {
				problem(r, missing, "L1 vfio type1", err);
			}
		} else {
			problem(r, missing, "L1 vfio type1", err);
		}
		free(text);
		text = NULL;
	} else {
		strbuf_printf(missing, "%sL1 vfio type1: no container of pid %ld under %s", missing->len ? "; " : "",
			      r->l2_qemu_pid, SHADOW_DEBUGFS_VFIO_DIR);
	}

	/* L1's table for the NIC */
	if (agent_client_read_file(r->agent, 1, l1_path, 0, 60000, &text, &len, err) == 0) {
		SAVE("l1-table.txt", text);
		if (shadow_table_parse(&v->l1_table, text, len, err) == 0)
			v->have_l1_table = true;
		else
			problem(r, missing, "L1 debugfs table", err);
	} else {
		problem(r, missing, "L1 debugfs table", err);
	}
	free(text);
	text = NULL;

	/* L2's RAM in L1 QEMU's address space, for vfio's vaddr column */
	{
		cleanup_free char *mtree = l1_hmp(r, "info mtree -f", err);
		cleanup_free char *rb = mtree ? l1_hmp(r, "info ramblock", err) : NULL;

		if (rb) {
			SAVE("l1-qemu-mtree.txt", mtree);
			SAVE("l1-qemu-ramblock.txt", rb);
			if (shadow_ram_layout_parse_hmp(&v->ram, mtree, strlen(mtree), rb, strlen(rb), err) == 0)
				v->have_ram = true;
			else
				problem(r, missing, "L2 RAM layout", err);
		} else {
			problem(r, missing, "L2 RAM layout", err);
		}
	}

	/* L0's walk of L1's tables for the NIC */
	if (l0_query(r, "guest", &j, err) == 0) {
		free(name);
		name = xasprintf("%s-l0-guest.json", tag);
		save_json(r, name, j);
		if (shadow_vtd_parse_json(&v->l0_guest, j, err) == 0)
			v->have_l0_guest = true;
		else
			problem(r, missing, "L0 intel-iommu walk", err);
		json_decref(j);
	} else {
		if ((*err)->errnum == EINTR)
			return -1;
		problem(r, missing, "L0 intel-iommu walk", err);
	}
#undef SAVE
	return 0;
}

/* probe() - x-vtd-translate of @iova for the NIC on L0's QEMU, into v->probes */
static int probe(struct run *r, struct views *v, uint64_t iova, bool write, nl_error_t *err)
{
	json_t *args = json_pack("{s:s, s:I, s:b, s:b}", "device", l0_nic_id(r), "iova", (json_int_t)iova,
				 "write", write, "record-fault", false);
	json_t *res = NULL;
	int ret;

	if (v->n_probes >= ARRAY_SIZE(v->probes)) {
		json_decref(args);
		return 0;
	}
	ret = vm_qmp(r->vm, "x-vtd-translate", args, &res, err);
	json_decref(args);
	if (ret < 0)
		return nl_error_wrap(err, "L0 QEMU x-vtd-translate 0x%llx", (unsigned long long)iova);
	ret = shadow_translation_parse_json(&v->probes[v->n_probes], res, err);
	json_decref(res);
	if (ret == 0)
		v->n_probes++;
	return ret;
}

/* views_of() - the struct shadow_views over what was collected */
static void views_of(const struct views *v, struct shadow_views *sv)
{
	*sv = (struct shadow_views){
		.l2_table = v->have_l2_table ? &v->l2_table : NULL,
		.l1_guest = v->have_l1_guest ? &v->l1_guest : NULL,
		.l1_shadow = v->have_l1_shadow ? &v->l1_shadow : NULL,
		.l1_vfio = v->have_vfio ? &v->vfio : NULL,
		.l1_vfio_stats = v->have_vfio ? &v->vfio_stats : NULL,
		.l1_table = v->have_l1_table ? &v->l1_table : NULL,
		.l0_guest = v->have_l0_guest ? &v->l0_guest : NULL,
		.l0_probes = v->n_probes ? v->probes : NULL,
		.l0_probe_count = v->n_probes,
		.l2_ram = v->have_ram ? &v->ram : NULL,
	};
}

/* reference_map() - the pages the L2 domain maps: L2's table, else L1 QEMU's walk of it */
static const struct shadow_map *reference_map(const struct views *v)
{
	if (v->have_l2_table && v->l2_table.found)
		return &v->l2_table.map;
	return v->have_l1_guest ? &v->l1_guest.map : NULL;
}

/* parse_xp() - bytes of HMP `xp /Nxb ADDR` output ("0000000012345000: 0x01 0x02 ...") into @buf */
static size_t parse_xp(const char *text, uint8_t *buf, size_t cap)
{
	size_t n = 0;

	for (const char *p = text; p && *p && n < cap;) {
		const char *colon = strchr(p, ':');
		const char *eol = strchr(p, '\n');

		if (!colon || (eol && colon > eol)) {
			p = eol ? eol + 1 : NULL;
			continue;
		}
		p = colon + 1;
		while (n < cap) {
			char *end;
			unsigned long b;

			while (*p == ' ')
				p++;
			if (strncmp(p, "0x", 2))
				break;
			b = strtoul(p, &end, 16);
			if (end == p || b > 0xff)
				break;
			buf[n++] = (uint8_t)b;
			p = end;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return n;
}

/*
 * l0_xp() - @len bytes at L1 guest-physical @addr as L0's QEMU reads them (HMP xp); the reply is kept as
 * checks/@save when @save is not NULL. Return: 0, or -1 (also when the reply has fewer bytes).
 */
static int l0_xp(struct run *r, uint64_t addr, uint8_t *buf, size_t len, const char *save, nl_error_t *err)
{
	cleanup_free char *hmp = xasprintf("xp /%zuxb 0x%llx", len, (unsigned long long)addr);
	json_t *args = json_pack("{s:s}", "command-line", hmp);
	json_t *res = NULL;
	int rc = vm_qmp(r->vm, "human-monitor-command", args, &res, err);
	const char *text;
	size_t n;

	json_decref(args);
	if (rc < 0)
		return nl_error_wrap(err, "L0 QEMU %s", hmp);
	text = json_string_value(res) ? json_string_value(res) : "";
	if (save)
		save_text(r, save, text);
	n = parse_xp(text, buf, len);
	json_decref(res);
	if (n != len)
		return nl_error(err, 0, "L0 QEMU %s: %zu of %zu bytes in the reply", hmp, n, len);
	return 0;
}

/*
 * frame_landed() - "the last received frame's bytes, read at that address and at the L2 buffer, equal
 * what the peer sent": find the peer's last L0->L2 frame in the pages of L2's domain (L1 QEMU pmemsave of
 * each L2 GPA), then read the same bytes at the L1 address through L0 (HMP xp) and compare both with
 * the frame the peer built. Appends to @why on failure, to @facts on success.
 */
static int frame_landed(struct run *r, struct views *v, struct strbuf *why, struct strbuf *facts, nl_error_t *err)
{
	const struct shadow_map *ref = reference_map(v);
	const struct plan_traffic *t = &r->plan->traffic;
	struct frame_spec spec = r->peer.tx;
	cleanup_strbuf struct strbuf cmd = STRBUF_INIT;
	cleanup_free char *pages = NULL, *out = NULL;
	cleanup_free uint64_t *iovas = NULL, *gpas = NULL;
	uint8_t expect[FRAME_GEN_MAX_LEN], at_l1[FRAME_GEN_MAX_LEN];
	struct frame_find hit;
	size_t n = 0, len = 0, elen;
	uint32_t index = 0;
	uint64_t iova = 0, gpa = 0, l1addr = 0;
	bool have_l1 = false;

	if (!ref || !ref->pages) {
		strbuf_puts(why, "frame bytes: no page in L2's domain to look in; ");
		return 0;
	}
	if (ref->pages > FRAME_FIND_PAGES_MAX) {
		strbuf_printf(why, "frame bytes: L2's domain maps %llu pages, more than nestlab searches (%u); ",
			      (unsigned long long)ref->pages, FRAME_FIND_PAGES_MAX);
		return 0;
	}
	iovas = xcalloc(ref->pages, sizeof(*iovas));
	gpas = xcalloc(ref->pages, sizeof(*gpas));
	strbuf_printf(&cmd, "rm -rf %s/pages; mkdir -p %s/pages && cd %s/pages && %s qmp %s", RUN_GUEST_DIR,
		      RUN_GUEST_DIR, RUN_GUEST_DIR, RUN_L1_AGENT, r->plan->l2_qmp_sock);
	for (size_t e = 0; e < ref->count && n < ref->pages; e++) {
		size_t first = n;

		for (uint64_t off = 0; off < ref->extents[e].size_bytes && n < ref->pages; off += SHADOW_PAGE_BYTES) {
			iovas[n] = ref->extents[e].iova + off;
			gpas[n] = ref->extents[e].addr + off;
			n++;
		}
		/* one pmemsave per extent (contiguous in L2's GPA space): the command line stays short */
		strbuf_printf(&cmd, " '{\"execute\":\"pmemsave\",\"arguments\":{\"val\":%llu,\"size\":%llu,"
				    "\"filename\":\"%s/pages/%06zu\"}}'", (unsigned long long)gpas[first],
			      (unsigned long long)(n - first) * SHADOW_PAGE_BYTES, RUN_GUEST_DIR, e);
	}
	strbuf_printf(&cmd, " >/dev/null && cat %s/pages/* > %s/pages.bin && echo ok", RUN_GUEST_DIR, RUN_GUEST_DIR);
	if (run_sh(r, 1, 120000, &out, NULL, err, "%s", cmd.str) < 0)
		return -1;
	{
		cleanup_free char *path = xasprintf("%s/pages.bin", RUN_GUEST_DIR);

		/* one byte more than asked for: a longer file is a length mismatch too */
		if (agent_client_read_file(r->agent, 1, path, n * SHADOW_PAGE_BYTES + 1, 120000, &pages, &len, err) < 0)
			return -1;
	}
	/* the last frames the peer sent, newest first; the dump's length is checked before it is read */
	if (!frame_find_last(&spec, t->frames, (const uint8_t *)pages, len, n, &hit, why)) {
		if (hit.len)	/* found, but its bytes differ: say where it is */
			strbuf_printf(why, "(frame %u is at L2 GPA 0x%llx, IOVA 0x%llx); ", hit.index,
				      (unsigned long long)(gpas[hit.offset / SHADOW_PAGE_BYTES] + hit.offset % SHADOW_PAGE_BYTES),
				      (unsigned long long)(iovas[hit.offset / SHADOW_PAGE_BYTES] + hit.offset % SHADOW_PAGE_BYTES));
		return 0;
	}
	index = hit.index;
	elen = hit.len;
	frame_gen_build(&spec, index, expect, sizeof(expect));
	iova = iovas[hit.offset / SHADOW_PAGE_BYTES] + hit.offset % SHADOW_PAGE_BYTES;
	gpa = gpas[hit.offset / SHADOW_PAGE_BYTES] + hit.offset % SHADOW_PAGE_BYTES;
	/* the L1 address: L1's table, else L0's walk */
	{
		const struct shadow_extent *x = NULL;

		if (v->have_l1_table)
			x = shadow_map_find(&v->l1_table.map, iova);
		if (!x && v->have_l0_guest)
			x = shadow_map_find(&v->l0_guest.map, iova);
		if (x) {
			l1addr = x->addr + (iova - x->iova);
			have_l1 = true;
		}
	}
	if (probe(r, v, iova & ~(SHADOW_PAGE_BYTES - 1), true, err) < 0)
		return -1;
	if (!have_l1) {
		strbuf_printf(why, "frame bytes: IOVA 0x%llx of frame %u has no L1 address in L1's table or L0's walk; ",
			      (unsigned long long)iova, index);
		return 0;
	}
	if (l0_xp(r, l1addr, at_l1, elen, "shadow-frame-l0-xp.txt", err) < 0) {
		if ((*err)->errnum == EINTR)
			return -1;
		strbuf_printf(why, "frame bytes: %s; ", (*err)->msg);
		nl_error_release(err);
		return 0;
	}
	if (memcmp(at_l1, expect, elen)) {
		size_t d = 0;

		while (d < elen && at_l1[d] == expect[d])
			d++;
		strbuf_printf(why, "frame bytes: at L1 address 0x%llx (IOVA 0x%llx, L2 GPA 0x%llx) L0 reads bytes that "
				   "differ from frame %u at byte %zu (checks/shadow-frame-l0-xp.txt); ",
			      (unsigned long long)l1addr, (unsigned long long)iova, (unsigned long long)gpa, index, d);
		return 0;
	}
	strbuf_printf(facts, "frame %u (%zu bytes) at IOVA 0x%llx = L2 GPA 0x%llx = L1 GPA 0x%llx, byte-exact at L2 "
			     "and through L0", index, elen, (unsigned long long)iova, (unsigned long long)gpa,
		      (unsigned long long)l1addr);
	return 0;
}

/* saved views of the shadow check, for the unmap check */
static struct views shadow_before;
static bool shadow_before_valid;

int run_check_shadow(struct run *r, nl_error_t *err)
{
	struct views *v = &shadow_before;
	cleanup_strbuf struct strbuf missing = STRBUF_INIT, why = STRBUF_INIT, facts = STRBUF_INIT;
	cleanup_strbuf struct strbuf diag = STRBUF_INIT, report = STRBUF_INIT;
	cleanup_shadow_result struct shadow_result res = { 0 };
	cleanup_free char *msg = NULL;
	struct shadow_views sv;
	uint64_t t0 = now_ms();
	bool ok;

	if (shadow_before_valid)
		views_release(v);
	memset(v, 0, sizeof(*v));
	shadow_before_valid = true;
	if (collect(r, "shadow", v, &missing, err) < 0)
		return -1;
	if (frame_landed(r, v, &why, &facts, err) < 0)
		return -1;
	/* probe a few more pages of the domain through L0 as the device would */
	{
		const struct shadow_map *ref = reference_map(v);

		for (size_t e = 0; ref && e < ref->count && v->n_probes < 8; e += 1 + ref->count / 8)
			if (probe(r, v, ref->extents[e].iova, false, err) < 0)
				return -1;
	}
	views_of(v, &sv);
	if (shadow_check(&sv, &res, err) < 0)
		return nl_error_wrap(err, "shadow check");
	shadow_format_report(&res, &report);
	if (missing.len)
		strbuf_printf(&report, "\nviews not collected: %s\n", missing.str);
	if (facts.len)
		strbuf_printf(&report, "\n%s\n", facts.str);
	run_save(r, "shadow.txt", report.str ? report.str : "", report.len);
	ok = shadow_result_ok(&res) && !why.len && !missing.len;
	if (!ok) {
		shadow_format_tap(&res, 5, "shadow.txt", &diag);
		msg = xasprintf("%s%s%s%s%s", diag.str ? diag.str : "", why.len ? " " : "", why.str ? why.str : "",
				missing.len ? " views not collected: " : "", missing.str ? missing.str : "");
	}
	run_point(r, ok, now_ms() - t0, msg, "shadow.txt",
		  "shadow consistency: %llu pages of L2's domain followed through L2, L1 QEMU (walk and shadow), "
		  "L1 vfio, L1's table and L0; %s", (unsigned long long)res.pages_checked,
		  facts.len ? facts.str : "frame bytes not verified");
	return 0;
}

/* l0_dmar_faults() - L0's DMAR fault counter for the NIC (x-query-vtd-mappings counters) */
static int l0_dmar_faults(struct run *r, uint64_t *faults, nl_error_t *err)
{
	json_t *res = NULL;

	if (l0_query(r, "guest", &res, err) < 0)
		return -1;
	*faults = (uint64_t)json_integer_value(json_object_get(json_object_get(res, "counters"), "dmar-faults"));
	json_decref(res);
	return 0;
}

/* l1_faults_at() - DMAR fault lines in L1's dmesg, and how many name @iova */
static int l1_faults_at(struct run *r, uint64_t iova, unsigned *total, unsigned *at, nl_error_t *err)
{
	cleanup_free char *out = NULL;
	cleanup_free char *needle = xasprintf("fault addr 0x%llx", (unsigned long long)iova);
	int status;

	if (run_sh(r, 1, 30000, &out, &status, err, "dmesg | grep -E 'DMAR: \\[DMA' || true") < 0)
		return -1;
	*total = count_lines(out, "DMAR: [DMA");
	*at = count_lines(out, needle);
	return 0;
}

/*
 * stale_dma() - vfio-user: L2's driver unmaps one receive buffer (@iova, which held L1 address @l1addr),
 * then points the NIC at that stale IOVA and the peer sends a frame: the DMA write must be blocked, seen
 * as a DMAR fault at @iova in L1 (L0's vIOMMU walks L1's tables, which no longer map it) and in L0's
 * counter, with the page at @l1addr unchanged. Appends to @why on failure, to @facts on success.
 */
static int stale_dma(struct run *r, uint64_t iova, bool have_l1addr, uint64_t l1addr, struct strbuf *why,
		     struct strbuf *facts, nl_error_t *err)
{
	static uint8_t before[4096], after[4096];
	cleanup_free char *cmd = xasprintf("%s --socket %s call dma-to --iova 0x%llx --via rx --timeout-ms 20000",
					   RUN_L2_VNIC, RUN_VNIC_SOCK, (unsigned long long)iova);
	cleanup_free char *out = NULL, *status = NULL;
	uint64_t f0 = 0, f1 = 0;
	unsigned l1_total0 = 0, l1_at0 = 0, l1_total1 = 0, l1_at1 = 0;
	const char *sl;
	int rc = -1;

	if (have_l1addr && l0_xp(r, l1addr, before, sizeof(before), "unmap-stale-page-before.txt", err) < 0)
		return -1;
	if (l0_dmar_faults(r, &f0, err) < 0 || l1_faults_at(r, iova, &l1_total0, &l1_at0, err) < 0)
		return -1;
	if (run_l2_bg(r, "dma-to", cmd, err) < 0 || run_loop_tick(r, 1000, err) < 0)
		return -1;
	if (peer_send_frames(&r->peer, r->plan->traffic.frames + 100, 1, err) < 0)
		return -1;
	if (run_l2_bg_wait(r, "dma-to", 30000, &out, &rc, err) < 0)
		return -1;
	if (run_loop_tick(r, 1000, err) < 0)	/* L1's fault handler logs asynchronously */
		return -1;
	if (l0_dmar_faults(r, &f1, err) < 0 || l1_faults_at(r, iova, &l1_total1, &l1_at1, err) < 0)
		return -1;
	if (have_l1addr && l0_xp(r, l1addr, after, sizeof(after), "unmap-stale-page-after.txt", err) < 0)
		return -1;
	sl = run_status_line(out);
	status = run_line_copy(sl);
	/* the faults this DMA caused are expected by check e; anything else is not */
	r->expected_l0_faults += (unsigned)(f1 - f0);
	r->expected_l1_faults += l1_total1 - l1_total0;
	if (rc != 0 || !sl || strncmp(sl, "ok ", 3) || run_status_value(sl, "completed") != 1)
		strbuf_printf(why, "the NIC did not process the descriptor pointed at the stale IOVA 0x%llx: %s; ",
			      (unsigned long long)iova, status);
	if (sl && !strstr(sl, "memory=unchanged"))
		strbuf_printf(why, "L2's driver saw the stale page change: %s; ", status);
	if (f1 == f0)
		strbuf_printf(why, "L0's intel-iommu counted no DMAR fault for the NIC (%llu before and after): the "
				   "write to stale IOVA 0x%llx was not blocked there; ", (unsigned long long)f0,
			      (unsigned long long)iova);
	if (l1_at1 <= l1_at0)
		strbuf_printf(why, "L1's kernel logged no DMAR fault at 0x%llx (checks/unmap-l1-dmesg.txt); ",
			      (unsigned long long)iova);
	if (have_l1addr && memcmp(before, after, sizeof(before)))
		strbuf_printf(why, "the page at L1 GPA 0x%llx that backed IOVA 0x%llx changed; ",
			      (unsigned long long)l1addr, (unsigned long long)iova);
	if (!why->len)
		strbuf_printf(facts, "the NIC's write to stale IOVA 0x%llx was blocked (L0 DMAR faults %llu -> %llu, "
				     "L1 logged it, %s unchanged)", (unsigned long long)iova, (unsigned long long)f0,
			      (unsigned long long)f1, have_l1addr ? "the old page" : "L2's copy of the page");
	{
		cleanup_error nl_error_t e2 = NULL;
		cleanup_free char *dm = NULL;

		if (run_sh(r, 1, 30000, &dm, NULL, &e2, "dmesg | grep -E 'DMAR' || true") == 0)
			save_text(r, "unmap-l1-dmesg.txt", dm);
	}
	return 0;
}

/* vfio_unmap_one() - vfio-user: unmap the first receive buffer of L2's driver; its IOVA in *@iova */
static int vfio_unmap_one(struct run *r, uint64_t *iova, nl_error_t *err)
{
	cleanup_free char *maps = NULL, *out = NULL;
	const char *p;
	int status;

	if (run_sh(r, 2, 30000, &maps, &status, err, "%s --socket %s call maps", RUN_L2_VNIC, RUN_VNIC_SOCK) < 0)
		return -1;
	save_text(r, "unmap-l2-driver-maps.txt", maps);
	for (p = maps; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		size_t n = strcspn(p, "\n");
		const char *ip = memmem(p, n, "iova=0x", 7);

		if (!strncmp(p, "map ", 4) && memmem(p, n, "role=rx-buf", 11) && ip) {
			*iova = strtoull(ip + 5, NULL, 16);
			break;
		}
	}
	if (!p || !*p)
		return nl_error(err, 0, "L2's driver lists no mapped receive buffer (checks/unmap-l2-driver-maps.txt)");
	if (run_sh(r, 2, 30000, &out, &status, err, "%s --socket %s call unmap --iova 0x%llx", RUN_L2_VNIC,
		   RUN_VNIC_SOCK, (unsigned long long)*iova) < 0)
		return -1;
	if (status != 0)
		return nl_error(err, 0, "L2's driver could not unmap 0x%llx: %s", (unsigned long long)*iova, out);
	run_logf(r, "L2: nestlab-vfio-nic unmapped receive buffer 0x%llx: %s", (unsigned long long)*iova, out);
	return 0;
}

/* ---- d: after unmap --------------------------------------------------------------------------------- */

int run_check_unmap(struct run *r, nl_error_t *err)
{
	struct views after = { 0 };
	cleanup_strbuf struct strbuf missing = STRBUF_INIT, diag = STRBUF_INIT, report = STRBUF_INIT;
	cleanup_shadow_result struct shadow_result res = { 0 };
	cleanup_free struct shadow_range *ranges = NULL;
	cleanup_strbuf struct strbuf why = STRBUF_INIT, facts = STRBUF_INIT;
	cleanup_free char *msg = NULL, *out = NULL;
	const struct shadow_map *before, *now;
	struct shadow_views sv;
	size_t n = 0, faulted = 0, probed = 0;
	uint64_t stale = 0, unmapped_pages = 0;
	uint64_t t0 = now_ms();
	int status, ret = -1;

	before = shadow_before_valid ? reference_map(&shadow_before) : NULL;
	if (!before || !before->pages) {
		run_point(r, false, 0, "no mappings were seen in L2's domain before the unmap (the shadow check "
				       "collects them)", "shadow.txt", "after unmap: unmapped IOVAs are gone at every level");
		return 0;
	}
	/*
	 * the workload releases buffers: the kernel driver all of them on link down; the VFIO driver one
	 * receive buffer, whose stale IOVA the NIC is then told to write to
	 */
	if (r->plan->driver == SCN_DRIVER_KERNEL)
		ret = run_sh(r, 2, 60000, &out, &status, err, "ip link set %s down && sleep 1 && echo down", r->l2_ifname);
	else if (r->plan->driver == SCN_DRIVER_DPDK)	/* testpmd quits: its vfio container goes, all of it */
		ret = run_sh(r, 2, 60000, &out, &status, err, "/bin/nestlab-testpmd stop");
	else
		ret = vfio_unmap_one(r, &stale, err);
	if (ret < 0)
		return -1;
	run_logf(r, "L2: buffers released (%s)", r->plan->driver == SCN_DRIVER_KERNEL ? "link down"
						  : r->plan->driver == SCN_DRIVER_DPDK ? "testpmd quit" : "one receive buffer");
	if (collect(r, "unmap", &after, &missing, err) < 0)
		goto out;
	now = reference_map(&after);
	/* unmapped: IOVA ranges the domain held before and does not hold now (by extents, capped) */
	if (shadow_map_unmapped(before, now, &ranges, &n, &unmapped_pages, err) < 0) {
		nl_error_wrap(err, "L2's domain before and after the unmap (checks/shadow-* and checks/unmap-*)");
		run_point(r, false, now_ms() - t0, (*err)->msg, "unmap.txt",
			  "after unmap: unmapped IOVAs are gone at every level");
		nl_error_release(err);
		ret = 0;
		goto out;
	}
	run_logf(r, "after unmap: %zu IOVA range(s), %llu page(s) unmapped in L2's domain", n,
		 (unsigned long long)unmapped_pages);
	/* a DMA to a stale IOVA, translated by L0 exactly as the device's would be, must fault */
	for (size_t i = 0; i < n && after.n_probes < 8; i += 1 + n / 8) {
		if (probe(r, &after, ranges[i].iova, true, err) < 0)
			goto out;
		probed++;
		if (!after.probes[after.n_probes - 1].success)
			faulted++;
	}
	if (r->plan->driver == SCN_DRIVER_VFIO_USER && n) {
		const struct shadow_extent *x = shadow_before.have_l1_table ? shadow_map_find(&shadow_before.l1_table.map, stale)
									    : NULL;

		if (stale_dma(r, stale, x != NULL, x ? x->addr + (stale - x->iova) : 0, &why, &facts, err) < 0)
			goto out;
	}
	views_of(&after, &sv);
	if (!n) {
		msg = xasprintf("L2's domain still maps every page it mapped before (%llu); nothing was unmapped",
				(unsigned long long)before->pages);
	} else if (shadow_check_unmapped(&sv, ranges, n, &res, err) < 0) {
		goto out;
	} else {
		shadow_format_report(&res, &report);
		if (missing.len)
			strbuf_printf(&report, "\nviews not collected: %s\n", missing.str);
		if (facts.len)
			strbuf_printf(&report, "\n%s\n", facts.str);
		run_save(r, "unmap.txt", report.str ? report.str : "", report.len);
		if (!shadow_result_ok(&res) || missing.len || faulted != probed || why.len) {
			shadow_format_tap(&res, 5, "unmap.txt", &diag);
			msg = xasprintf("%s%s%s%s%s", diag.str ? diag.str : "",
					faulted != probed ? " a stale IOVA still translates at L0 (x-vtd-translate);" : "",
					why.len ? " " : "", why.str ? why.str : "",
					missing.len ? " views not collected: " : "");
			if (missing.len) {
				char *m = xasprintf("%s%s", msg, missing.str);

				free(msg);
				msg = m;
			}
		}
	}
	run_point(r, !msg, now_ms() - t0, msg, "unmap.txt",
		  "after unmap: %llu unmapped pages looked for in L1 QEMU's shadow, L1 vfio, L1's table and L0; "
		  "%zu/%zu translations of stale IOVAs for a DMA write fault at L0%s%s", (unsigned long long)res.pages_checked,
		  faulted, probed, facts.len ? "; " : "", facts.len ? facts.str : "");
	ret = 0;
out:
	views_release(&after);
	views_release(&shadow_before);
	shadow_before_valid = false;
	return ret;
}
