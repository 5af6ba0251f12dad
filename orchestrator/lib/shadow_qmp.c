/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shadow_qmp.c - the replies of nestlab's intel-iommu QMP commands, for the shadow check
 *
 * x-query-vtd-mappings (patches/qemu/0004, 0006; qapi/misc-target.json VtdMappingsInfo) and
 * x-vtd-translate (patches/qemu/0005; VtdTranslation). A reply comes either as the "return" value that
 * qmp_execute() hands back, or as a whole line {"return": ...} / {"error": ...} read from a log; both are
 * taken. A reply is untrusted: every member is checked for its JSON type and range, members this code
 * does not know are ignored (a newer QEMU may add some), and a message names the member at fault, e.g.
 * "mappings[3].perm: expected one of none, ro, wo, rw".
 *
 * x-query-vtd-mappings stops at its max-entries and max-tables limits with a GenericError that names the
 * limit; such an error gets errnum E2BIG, so that the caller can say which scenario key raises it.
 */
#include <errno.h>
#include <string.h>

#include "shadow_internal.h"

/* a uint64 member of a JSON object, stored at @offset of a struct */
struct member_u64 {
	const char *key;
	size_t offset;
	bool optional;		/* added by a later patch of the series: 0 when absent */
};

#define U64(key, type, field) { key, offsetof(type, field), false }
#define U64_OPT(key, type, field) { key, offsetof(type, field), true }

bool shadow_vtd_limit_error(const char *msg)
{
	return msg && (strstr(msg, "raise 'max-entries'") || strstr(msg, "raise 'max-tables'"));
}

/*
 * unwrap() - the "return" object of @reply, or an error for {"error": ...} (errnum E2BIG for a limit of
 * x-query-vtd-mappings; the description is cut at 400 bytes) and for what is not an object
 */
static const json_t *unwrap(const json_t *reply, const char *command, nl_error_t *err)
{
	const json_t *ret, *error;

	if (!json_is_object(reply))
		return nl_error(err, 0, "%s: the reply is not a JSON object", command), NULL;
	error = json_object_get(reply, "error");
	if (error) {
		const char *cls = json_string_value(json_object_get(error, "class"));
		const char *desc = json_string_value(json_object_get(error, "desc"));

		nl_error(err, 0, "%s: %s: %.400s", command, cls ? cls : "error", desc ? desc : "(no description)");
		if (cls && !strcmp(cls, "GenericError") && shadow_vtd_limit_error(desc))
			(*err)->errnum = E2BIG;	/* set after: nl_error() would append strerror() */
		return NULL;
	}
	ret = json_object_get(reply, "return");
	if (!ret)
		return reply;
	if (!json_is_object(ret))
		return nl_error(err, 0, "%s: \"return\" is not a JSON object", command), NULL;
	return ret;
}

/* get_u64() - a non-negative integer member; @ctx is the member path for messages ("counters") */
static int get_u64(const json_t *obj, const char *ctx, const char *key, bool optional, uint64_t *v,
		   nl_error_t *err)
{
	const json_t *j = json_object_get(obj, key);

	if (!j && optional) {
		*v = 0;
		return 0;
	}
	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return nl_error(err, 0, "%s%s%s: %s", ctx, *ctx ? "." : "", key,
				j ? "expected a non-negative integer" : "missing");
	*v = (uint64_t)json_integer_value(j);
	return 0;
}

/* get_members() - every member of @table from @obj into @base */
static int get_members(const json_t *obj, const char *ctx, const struct member_u64 *table, size_t n, void *base,
		       nl_error_t *err)
{
	if (!json_is_object(obj))
		return nl_error(err, 0, "%s: %s", ctx, obj ? "expected a JSON object" : "missing");
	for (size_t i = 0; i < n; i++) {
		uint64_t v;

		if (get_u64(obj, ctx, table[i].key, table[i].optional, &v, err) < 0)
			return -1;
		memcpy((char *)base + table[i].offset, &v, sizeof(v));
	}
	return 0;
}

/* get_bool() - a boolean member */
static int get_bool(const json_t *obj, const char *key, bool *v, nl_error_t *err)
{
	const json_t *j = json_object_get(obj, key);

	if (!json_is_boolean(j))
		return nl_error(err, 0, "%s: %s", key, j ? "expected true or false" : "missing");
	*v = json_is_true(j);
	return 0;
}

/* get_string() - a string member, cut to fit @buf */
static int get_string(const json_t *obj, const char *key, char *buf, size_t size, nl_error_t *err)
{
	const json_t *j = json_object_get(obj, key);
	size_t len;

	if (!json_is_string(j))
		return nl_error(err, 0, "%s: %s", key, j ? "expected a string" : "missing");
	len = json_string_length(j);
	if (len >= size)
		len = size - 1;
	memcpy(buf, json_string_value(j), len);
	buf[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] < 0x20)
			buf[i] = '?';
	return 0;
}

/* parse_perm() - VtdAccess: "none", "ro", "wo", "rw" */
static int parse_perm(const json_t *j, const char *ctx, unsigned *perm, nl_error_t *err)
{
	static const char *const names[] = { "none", "ro", "wo", "rw" };
	const char *s = json_string_value(j);

	for (unsigned i = 0; s && i < ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i])) {
			*perm = i;	/* bit 0 read, bit 1 write, as SHADOW_PERM_* */
			return 0;
		}
	return nl_error(err, 0, "%s.perm: expected one of none, ro, wo, rw", ctx);
}

/* parse_mapping() - one VtdMapping {iova, size, translated-addr, perm} */
static int parse_mapping(const json_t *j, const char *ctx, struct shadow_extent *e, nl_error_t *err)
{
	if (!json_is_object(j))
		return nl_error(err, 0, "%s: expected a JSON object", ctx);
	if (get_u64(j, ctx, "iova", false, &e->iova, err) < 0 ||
	    get_u64(j, ctx, "size", false, &e->size_bytes, err) < 0 ||
	    get_u64(j, ctx, "translated-addr", false, &e->addr, err) < 0)
		return -1;
	return parse_perm(json_object_get(j, "perm"), ctx, &e->perm, err);
}

static const struct member_u64 as_counters[] = {
	U64("page-walks", struct shadow_vtd, as.page_walks),
	U64("map-notifications", struct shadow_vtd, as.map_notifications),
	U64("unmap-notifications", struct shadow_vtd, as.unmap_notifications),
	U64_OPT("dropped-map-notifications", struct shadow_vtd, as.dropped_map_notifications),
	U64("dmar-faults", struct shadow_vtd, as.dmar_faults),
};

static const struct member_u64 iommu_counters[] = {
	U64("map-notifications", struct shadow_vtd, iommu.map_notifications),
	U64_OPT("dropped-map-notifications", struct shadow_vtd, iommu.dropped_map_notifications),
	U64("dmar-faults", struct shadow_vtd, iommu.dmar_faults),
	U64("ir-faults", struct shadow_vtd, iommu.ir_faults),
	U64("fpd-faults", struct shadow_vtd, iommu.fpd_faults),
	U64("recorded-faults", struct shadow_vtd, iommu.recorded_faults),
};

static const struct member_u64 invalidation_counters[] = {
	U64("context-global", struct shadow_vtd, iommu.inv_context_global),
	U64("context-domain", struct shadow_vtd, iommu.inv_context_domain),
	U64("context-device", struct shadow_vtd, iommu.inv_context_device),
	U64("iotlb-global", struct shadow_vtd, iommu.inv_iotlb_global),
	U64("iotlb-domain", struct shadow_vtd, iommu.inv_iotlb_domain),
	U64("iotlb-page", struct shadow_vtd, iommu.inv_iotlb_page),
	U64("pasid-iotlb-pasid", struct shadow_vtd, iommu.inv_pasid_iotlb_pasid),
	U64("pasid-iotlb-page", struct shadow_vtd, iommu.inv_pasid_iotlb_page),
	U64("pasid-cache", struct shadow_vtd, iommu.inv_pasid_cache),
	U64("iec-global", struct shadow_vtd, iommu.inv_iec_global),
	U64("iec-index", struct shadow_vtd, iommu.inv_iec_index),
	U64("device-iotlb", struct shadow_vtd, iommu.inv_device_iotlb),
	U64("pasid-device-iotlb", struct shadow_vtd, iommu.inv_pasid_device_iotlb),
	U64("wait", struct shadow_vtd, iommu.inv_wait),
	U64("errors", struct shadow_vtd, iommu.inv_errors),
};

/* vtd_parse_header() - device, sid, source and the flags */
static int vtd_parse_header(struct shadow_vtd *v, const json_t *r, nl_error_t *err)
{
	const char *source;
	uint64_t sid;

	if (get_string(r, "device", v->device, sizeof(v->device), err) < 0 ||
	    get_u64(r, "", "sid", false, &sid, err) < 0 || get_bool(r, "dmar-enabled", &v->dmar_enabled, err) < 0 ||
	    get_bool(r, "bypass", &v->bypass, err) < 0 || get_bool(r, "map-notifier", &v->map_notifier, err) < 0)
		return -1;
	if (sid > 0xffff)
		return nl_error(err, 0, "sid: %llu is not a 16-bit requester ID", (unsigned long long)sid);
	v->sid = (unsigned)sid;
	source = json_string_value(json_object_get(r, "source"));
	if (!source || (strcmp(source, "shadow") && strcmp(source, "guest")))
		return nl_error(err, 0, "source: expected \"shadow\" or \"guest\"");
	v->guest = !strcmp(source, "guest");
	return 0;
}

/* vtd_parse_mappings() - "mappings" and "dropped-mapping" */
static int vtd_parse_mappings(struct shadow_vtd *v, const json_t *r, nl_error_t *err)
{
	const json_t *list = json_object_get(r, "mappings"), *dropped = json_object_get(r, "dropped-mapping");
	size_t n = json_array_size(list);

	if (!json_is_array(list))
		return nl_error(err, 0, "mappings: %s", list ? "expected an array" : "missing");
	if (n > SHADOW_EXTENTS_MAX)
		return nl_error(err, 0, "mappings: %zu entries, more than %u", n, SHADOW_EXTENTS_MAX);
	for (size_t i = 0; i < n; i++) {
		struct shadow_extent e = { .line = (unsigned)(i + 1) };
		char ctx[40];

		snprintf(ctx, sizeof(ctx), "mappings[%zu]", i);
		if (parse_mapping(json_array_get(list, i), ctx, &e, err) < 0 ||
		    shadow_map_push(&v->map, &e, "mappings", err) < 0)
			return -1;
	}
	if (dropped) {
		if (parse_mapping(dropped, "dropped-mapping", &v->dropped, err) < 0)
			return -1;
		v->has_dropped = true;
	}
	/* "mappings entry N" counts from 1, as the array's index + 1 */
	return shadow_map_finish(&v->map, "mappings entry", err);
}

int shadow_vtd_parse_json(struct shadow_vtd *v, const json_t *reply, nl_error_t *err)
{
	const json_t *r = unwrap(reply, "x-query-vtd-mappings", err);

	if (!r)
		return -1;
	if (vtd_parse_header(v, r, err) < 0 || vtd_parse_mappings(v, r, err) < 0 ||
	    get_members(json_object_get(r, "counters"), "counters", as_counters, ARRAY_SIZE(as_counters), v,
			err) < 0 ||
	    get_members(json_object_get(r, "iommu"), "iommu", iommu_counters, ARRAY_SIZE(iommu_counters), v,
			err) < 0 ||
	    get_members(json_object_get(json_object_get(r, "iommu"), "invalidations"), "iommu.invalidations",
			invalidation_counters, ARRAY_SIZE(invalidation_counters), v, err) < 0)
		return nl_error_wrap(err, "x-query-vtd-mappings reply");
	return 0;
}

/* load() - parse one JSON value from untrusted text */
static json_t *load(const char *text, size_t len, const char *command, nl_error_t *err)
{
	json_error_t jerr;
	json_t *j;

	if (len > SHADOW_TEXT_MAX_BYTES)
		return nl_error(err, EFBIG, "%s reply of %zu bytes is over the limit of %u bytes", command, len,
				SHADOW_TEXT_MAX_BYTES), NULL;
	j = json_loadb(text ? text : "", text ? len : 0, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		nl_error(err, 0, "%s reply: not JSON: line %d column %d: %s", command, jerr.line, jerr.column,
			 jerr.text);
	return j;
}

int shadow_vtd_parse_text(struct shadow_vtd *v, const char *text, size_t len, nl_error_t *err)
{
	json_t *j = load(text, len, "x-query-vtd-mappings", err);
	int rc;

	if (!j)
		return -1;
	rc = shadow_vtd_parse_json(v, j, err);
	json_decref(j);
	return rc;
}

void shadow_vtd_release(struct shadow_vtd *v)
{
	shadow_map_release(&v->map);
	memset(v, 0, sizeof(*v));
}

int shadow_translation_parse_json(struct shadow_translation *t, const json_t *reply, nl_error_t *err)
{
	const json_t *r = unwrap(reply, "x-vtd-translate", err);
	uint64_t reason;

	memset(t, 0, sizeof(*t));
	if (!r)
		return -1;
	if (get_u64(r, "", "iova", false, &t->iova, err) < 0 || get_bool(r, "write", &t->write, err) < 0 ||
	    get_bool(r, "bypass", &t->bypass, err) < 0 || get_bool(r, "success", &t->success, err) < 0 ||
	    parse_perm(json_object_get(r, "perm"), "reply", &t->perm, err) < 0)
		return nl_error_wrap(err, "x-vtd-translate reply");
	if (t->success) {
		if (get_u64(r, "", "translated-addr", false, &t->translated_addr, err) < 0 ||
		    get_u64(r, "", "addr-mask", false, &t->addr_mask, err) < 0)
			return nl_error_wrap(err, "x-vtd-translate reply");
		if (t->addr_mask & (t->addr_mask + 1))
			return nl_error(err, 0, "x-vtd-translate reply: addr-mask 0x%llx is not a page size - 1",
					(unsigned long long)t->addr_mask);
		return 0;
	}
	if (get_u64(r, "", "fault-reason", false, &reason, err) < 0 ||
	    get_string(r, "fault-description", t->fault_description, sizeof(t->fault_description), err) < 0 ||
	    get_bool(r, "fault-recorded", &t->fault_recorded, err) < 0)
		return nl_error_wrap(err, "x-vtd-translate reply");
	if (reason > 0xff)
		return nl_error(err, 0, "x-vtd-translate reply: fault-reason %llu is over 255",
				(unsigned long long)reason);
	t->fault_reason = (unsigned)reason;
	return 0;
}

int shadow_translation_parse_text(struct shadow_translation *t, const char *text, size_t len, nl_error_t *err)
{
	json_t *j = load(text, len, "x-vtd-translate", err);
	int rc;

	memset(t, 0, sizeof(*t));
	if (!j)
		return -1;
	rc = shadow_translation_parse_json(t, j, err);
	json_decref(j);
	return rc;
}
