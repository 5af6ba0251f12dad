/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * frame_gen.h - deterministic test frames: every byte follows from (spec, index), so that the side that
 * receives a frame can rebuild it and compare byte for byte
 *
 * Shared by the userspace vfio driver in L2 (nestlab-vfio-nic) and the orchestrator's traffic peer in L0.
 * Pure code: no I/O, no allocation. The format is written down in docs/vfio-nic.md ("Frame format") so
 * that a peer in another language can produce and check the same bytes.
 *
 *	offset  size  field (multi-byte fields big endian, as on the wire)
 *	0       6     destination MAC
 *	6       6     source MAC
 *	12      2     ethertype 0x88b5 (IEEE 802 local experimental ethertype 1)
 *	14      4     magic "NLFG"
 *	18      8     seed (the whole 64-bit traffic.seed)
 *	26      4     index
 *	30      2     frame length in bytes (without FCS)
 *	32      1     payload kind (0 random, 1 zero, 2 pattern)
 *	33      1     format version (2)
 *	34      ...   payload up to the frame length
 *
 * Lengths and payload bytes come from splitmix64 streams seeded with (splitmix64(seed) ^ index), see
 * frame_gen.c. The payload does not depend on the size range, so a receiver can check a frame from its
 * header alone (frame_gen_parse() then frame_gen_verify() with a spec of that single length).
 */
#ifndef NESTLAB_FRAME_GEN_H
#define NESTLAB_FRAME_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_GEN_ETHERTYPE 0x88b5
#define FRAME_GEN_MAGIC 0x4e4c4647u	/* "NLFG" */
#define FRAME_GEN_VERSION 2
#define FRAME_GEN_ETH_HLEN 14
#define FRAME_GEN_HDR_LEN 34		/* Ethernet header + frame_gen header: the shortest frame */
#define FRAME_GEN_MAX_LEN 16384
/* magic, seed and index: the bytes at this offset that identify a frame, e.g. in a dump of guest memory */
#define FRAME_GEN_ID_OFFSET 14
#define FRAME_GEN_ID_LEN 16
/* the range one untagged Ethernet frame without FCS can have on the NICs nestlab drives */
#define FRAME_GEN_ETH_MIN 60
#define FRAME_GEN_ETH_MAX 1514

enum frame_payload {
	FRAME_PAYLOAD_RANDOM = 0,	/* splitmix64 bytes */
	FRAME_PAYLOAD_ZERO = 1,		/* all zero */
	FRAME_PAYLOAD_PATTERN = 2,	/* byte at frame offset o is (o + index) & 0xff */
};

/* what a sender and a receiver agree on */
struct frame_spec {
	uint8_t dst[6];
	uint8_t src[6];
	uint64_t seed;
	uint16_t size_min;		/* FRAME_GEN_HDR_LEN..FRAME_GEN_MAX_LEN */
	uint16_t size_max;		/* size_min..FRAME_GEN_MAX_LEN */
	enum frame_payload payload;
};

/* the frame_gen header of a received frame */
struct frame_header {
	uint64_t seed;
	uint32_t index;
	uint16_t length;
	uint8_t payload;
	uint8_t version;
};

/* frame_gen_spec_valid() - sizes in range and ordered, payload kind known */
bool frame_gen_spec_valid(const struct frame_spec *spec);
/* frame_gen_length() - length in bytes of frame @index of @spec */
size_t frame_gen_length(const struct frame_spec *spec, uint32_t index);
/* frame_gen_build() - write frame @index into @buf; returns its length, or 0 if @cap is too small */
size_t frame_gen_build(const struct frame_spec *spec, uint32_t index, uint8_t *buf, size_t cap);
/* frame_gen_verify() - -1 if @buf is exactly frame @index of @spec, else the first differing offset */
long frame_gen_verify(const struct frame_spec *spec, uint32_t index, const uint8_t *buf, size_t len);
/* frame_gen_id() - the FRAME_GEN_ID_LEN bytes frame @index of @seed carries at FRAME_GEN_ID_OFFSET */
void frame_gen_id(uint64_t seed, uint32_t index, uint8_t id[FRAME_GEN_ID_LEN]);
/* frame_gen_parse() - read the header of a frame_gen frame; returns 0, or -1 if it is not one */
int frame_gen_parse(const uint8_t *buf, size_t len, struct frame_header *hdr);
/* frame_gen_self_spec() - the spec a frame claims (its MACs, header seed, kind, own length) */
int frame_gen_self_spec(const uint8_t *buf, size_t len, struct frame_spec *spec, uint32_t *index);

/* frame_gen_crc32() - IEEE 802.3 CRC-32 as zlib computes it ("123456789" -> 0xcbf43926) */
uint32_t frame_gen_crc32(const uint8_t *buf, size_t len);

/* frame_payload_parse() - "random", "zero" or "pattern"; returns 0 or -1 */
int frame_payload_parse(const char *name, enum frame_payload *payload);
const char *frame_payload_name(enum frame_payload payload);

#endif /* NESTLAB_FRAME_GEN_H */
