/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * frame_gen.c - deterministic test frames (format in frame_gen.h and docs/vfio-nic.md)
 *
 * Randomness is splitmix64 (Steele, Lea, Flood: "Fast splittable pseudorandom number generators",
 * OOPSLA 2014; the constants of Vigna's reference splitmix64.c), chosen because it is a few lines in any
 * language: a peer written in Python or C gets the same bytes.
 *
 *	base   = splitmix64(seed) ^ index       (one step from state = seed: every bit of the seed counts)
 *	length = size_min + next(base ^ FRAME_GEN_SIZE_SALT) % (size_max - size_min + 1)   (if max > min)
 *	random payload: state = base; every 8 payload bytes are next(state) in little-endian byte order,
 *	the last word cut short
 *
 * where next(state) advances state by 0x9e3779b97f4a7c15 and returns the mixed value.
 */
#include <string.h>

#include "frame_gen.h"

#define FRAME_GEN_SIZE_SALT 0xd1b54a32d192ed03ull

/* splitmix64_next() - advance *@state and return the next 64-bit output */
static uint64_t splitmix64_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* frame_base() - the state both streams of frame @index start from: the mixed 64-bit seed, then the index */
static uint64_t frame_base(uint64_t seed, uint32_t index)
{
	uint64_t state = seed;

	return splitmix64_next(&state) ^ index;
}

bool frame_gen_spec_valid(const struct frame_spec *spec)
{
	return spec->size_min >= FRAME_GEN_HDR_LEN && spec->size_max >= spec->size_min &&
	       spec->size_max <= FRAME_GEN_MAX_LEN && (unsigned)spec->payload <= FRAME_PAYLOAD_PATTERN;
}

/**
 * frame_gen_length() - length of one frame
 * @spec:	sizes; an invalid spec yields size_min clamped to the header length
 * @index:	frame number
 *
 * Return: bytes, without FCS
 */
size_t frame_gen_length(const struct frame_spec *spec, uint32_t index)
{
	uint64_t state = frame_base(spec->seed, index) ^ FRAME_GEN_SIZE_SALT;
	size_t min = spec->size_min < FRAME_GEN_HDR_LEN ? FRAME_GEN_HDR_LEN : spec->size_min;

	if (spec->size_max <= min)
		return min;
	return min + (size_t)(splitmix64_next(&state) % (uint64_t)(spec->size_max - min + 1));
}

/* fill_payload() - bytes FRAME_GEN_HDR_LEN..@len of frame @index */
static void fill_payload(const struct frame_spec *spec, uint32_t index, uint8_t *buf, size_t len)
{
	uint64_t state = frame_base(spec->seed, index);
	size_t off = FRAME_GEN_HDR_LEN;

	switch (spec->payload) {
	case FRAME_PAYLOAD_ZERO:
		memset(buf + off, 0, len - off);
		break;
	case FRAME_PAYLOAD_PATTERN:
		for (; off < len; off++)
			buf[off] = (uint8_t)(off + index);
		break;
	case FRAME_PAYLOAD_RANDOM:
	default:
		while (off < len) {
			uint64_t word = splitmix64_next(&state);

			for (int i = 0; i < 8 && off < len; i++, off++)
				buf[off] = (uint8_t)(word >> (8 * i));
		}
		break;
	}
}

/**
 * frame_gen_build() - write one frame
 * @spec:	addresses, seed, sizes, payload kind
 * @index:	frame number
 * @buf:	output
 * @cap:	bytes available at @buf
 *
 * Return: the frame length, or 0 if @cap is too small or @spec is invalid
 */
size_t frame_gen_build(const struct frame_spec *spec, uint32_t index, uint8_t *buf, size_t cap)
{
	size_t len;

	if (!frame_gen_spec_valid(spec))
		return 0;
	len = frame_gen_length(spec, index);
	if (len > cap)
		return 0;
	memcpy(buf, spec->dst, 6);
	memcpy(buf + 6, spec->src, 6);
	put_be16(buf + 12, FRAME_GEN_ETHERTYPE);
	frame_gen_id(spec->seed, index, buf + FRAME_GEN_ID_OFFSET);
	put_be16(buf + 30, (uint16_t)len);
	buf[32] = (uint8_t)spec->payload;
	buf[33] = FRAME_GEN_VERSION;
	fill_payload(spec, index, buf, len);
	return len;
}

void frame_gen_id(uint64_t seed, uint32_t index, uint8_t id[FRAME_GEN_ID_LEN])
{
	put_be32(id, FRAME_GEN_MAGIC);
	put_be64(id + 4, seed);
	put_be32(id + 12, index);
}

/**
 * frame_gen_verify() - compare a received frame with the one that was meant to be sent
 * @spec:	what sender and receiver agreed on
 * @index:	which frame it should be (e.g. from frame_gen_parse())
 * @buf:	received bytes
 * @len:	received length
 *
 * Return: -1 when the bytes and the length are exactly right; otherwise the first offset where they
 * differ, which is the shorter length when one frame is a prefix of the other. An invalid @spec gives 0.
 */
long frame_gen_verify(const struct frame_spec *spec, uint32_t index, const uint8_t *buf, size_t len)
{
	uint8_t expected[FRAME_GEN_MAX_LEN];
	size_t expected_len = frame_gen_build(spec, index, expected, sizeof(expected));
	size_t n = len < expected_len ? len : expected_len;

	if (!expected_len)
		return 0;
	for (size_t off = 0; off < n; off++) {
		if (buf[off] != expected[off])
			return (long)off;
	}
	return len == expected_len ? -1 : (long)n;
}

/**
 * frame_gen_parse() - read the frame_gen header
 * @buf:	frame
 * @len:	its length
 * @hdr:	filled on success
 *
 * Return: 0, or -1 when the frame is too short, has another ethertype or magic, or an unknown version
 */
int frame_gen_parse(const uint8_t *buf, size_t len, struct frame_header *hdr)
{
	if (len < FRAME_GEN_HDR_LEN || get_be16(buf + 12) != FRAME_GEN_ETHERTYPE ||
	    get_be32(buf + 14) != FRAME_GEN_MAGIC || buf[33] != FRAME_GEN_VERSION)
		return -1;
	hdr->seed = get_be64(buf + 18);
	hdr->index = get_be32(buf + 26);
	hdr->length = get_be16(buf + 30);
	hdr->payload = buf[32];
	hdr->version = buf[33];
	return 0;
}

/**
 * frame_gen_self_spec() - the spec under which a received frame claims to have been built
 * @buf:	frame
 * @len:	its length
 * @spec:	filled: the frame's MACs, its header's seed and payload kind, and size_min = size_max = @len
 * @index:	filled with the header's index
 *
 * A receiver that knows nothing about the sender checks the payload this way; one that knows the seed,
 * the addresses or the size range overrides those fields before calling frame_gen_verify().
 *
 * Return: 0, or -1 if @buf is not a frame_gen frame or its length is out of range
 */
int frame_gen_self_spec(const uint8_t *buf, size_t len, struct frame_spec *spec, uint32_t *index)
{
	struct frame_header hdr;

	if (frame_gen_parse(buf, len, &hdr) < 0 || len > FRAME_GEN_MAX_LEN ||
	    hdr.payload > FRAME_PAYLOAD_PATTERN)
		return -1;
	memcpy(spec->dst, buf, 6);
	memcpy(spec->src, buf + 6, 6);
	spec->seed = hdr.seed;
	spec->size_min = spec->size_max = (uint16_t)len;
	spec->payload = (enum frame_payload)hdr.payload;
	*index = hdr.index;
	return 0;
}

/**
 * frame_gen_crc32() - CRC-32 of IEEE 802.3 (reflected polynomial 0xedb88320, init and final xor ~0),
 * the value zlib's and Python's crc32() give, so peers can compare digests without sharing code
 * @buf:	bytes
 * @len:	count
 *
 * Return: the CRC
 */
uint32_t frame_gen_crc32(const uint8_t *buf, size_t len)
{
	static uint32_t table[256];
	uint32_t crc = 0xffffffffu;

	if (!table[1]) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	}
	for (size_t i = 0; i < len; i++)
		crc = table[(crc ^ buf[i]) & 0xff] ^ (crc >> 8);
	return crc ^ 0xffffffffu;
}

static const char *const payload_names[] = {
	[FRAME_PAYLOAD_RANDOM] = "random",
	[FRAME_PAYLOAD_ZERO] = "zero",
	[FRAME_PAYLOAD_PATTERN] = "pattern",
};

int frame_payload_parse(const char *name, enum frame_payload *payload)
{
	for (size_t i = 0; i < sizeof(payload_names) / sizeof(payload_names[0]); i++) {
		if (!strcmp(name, payload_names[i])) {
			*payload = (enum frame_payload)i;
			return 0;
		}
	}
	return -1;
}

const char *frame_payload_name(enum frame_payload payload)
{
	return (unsigned)payload <= FRAME_PAYLOAD_PATTERN ? payload_names[payload] : "unknown";
}
