/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pcap.c - append frames to a classic pcap file (LINKTYPE_ETHERNET, microsecond timestamps), readable
 * by tcpdump -r and Wireshark; the format is the libpcap file format (IETF draft-ietf-opsawg-pcap)
 */
#include <errno.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "vnic.h"

struct pcap_file_header {
	uint32_t magic;			/* 0xa1b2c3d4: microsecond timestamps, host byte order */
	uint16_t version_major, version_minor;
	int32_t thiszone;
	uint32_t sigfigs, snaplen, linktype;
};

struct pcap_record_header {
	uint32_t ts_sec, ts_usec, incl_len, orig_len;
};

/**
 * pcap_open() - open @path for appending; a new or empty file gets the file header
 * @path:	file
 * @err:	error
 *
 * Return: the stream, or NULL
 */
FILE *pcap_open(const char *path, nl_error_t *err)
{
	static const struct pcap_file_header hdr = { 0xa1b2c3d4u, 2, 4, 0, 0, 65535, 1 };
	FILE *f = fopen(path, "ae");
	struct stat st;

	if (!f) {
		nl_error(err, errno, "open pcap file %s", path);
		return NULL;
	}
	if (fstat(fileno(f), &st) == 0 && st.st_size == 0)
		fwrite(&hdr, sizeof(hdr), 1, f);
	return f;
}

void pcap_write(FILE *f, const uint8_t *frame, size_t len)
{
	struct pcap_record_header rec;
	struct timeval tv;

	gettimeofday(&tv, NULL);
	rec.ts_sec = (uint32_t)tv.tv_sec;
	rec.ts_usec = (uint32_t)tv.tv_usec;
	rec.incl_len = rec.orig_len = (uint32_t)len;
	fwrite(&rec, sizeof(rec), 1, f);
	fwrite(frame, 1, len, f);
}
