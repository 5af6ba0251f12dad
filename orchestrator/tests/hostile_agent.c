/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hostile_agent.c - a test-only L1 agent that attacks the host side: nestlab-agent-hostile
 *
 * Built only as build/tests/nestlab-agent-hostile, never part of an image: test_hostile puts it into
 * one run's L1 overlay (NESTLAB_TEST_L1_AGENT, docs/running.md) in place of /usr/local/sbin/nestlab-agent,
 * or runs it on a socketpair against the agent client. It speaks the real wire format (agent_proto.c)
 * and accepts the real agent's command line (systemd starts it the same way), then:
 *
 *   - floods L1's serial consoles (/dev/ttyS0 and ttyS1, L2's console port) with escape sequences, C1
 *     controls, invalid UTF-8 and lines without end, forever (--no-console: not);
 *   - on the first HELLO: garbage, a header announcing a payload above 1 MiB, a frame of an unknown
 *     version, a frame with a bad payload CRC, a RELAY holding garbage, an unsolicited READY with escape
 *     sequences, maximum-size LOG frames (1 MiB payload), then a valid READY for the HELLO;
 *   - floods LOG frames whenever it is idle (4000 bytes of text, every 100th of maximum size), up to
 *     --flood-bytes of text (default 64 MiB);
 *   - EXEC #1: an EXEC_RESULT with maximum-size stdout and stderr full of escape sequences;
 *     EXEC #2 and later even ones: never answered; later odd ones: an ERROR with escape sequences;
 *   - READ_FILE #1: a truncated answer (fewer bytes than asked, not at end of file); #2: data at another
 *     offset than asked; later ones: "huge": always as much as asked and never end of file;
 *   - anything else: no answer.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_proto.h"

#define HOSTILE_LOG_SMALL_BYTES 4000
#define HOSTILE_FLOOD_DEFAULT (64ull << 20)
#define HOSTILE_LOG_MAX_TEXT (AGENT_MAX_PAYLOAD - 200)	/* a LOG frame of almost exactly 1 MiB */

struct hostile {
	int fd;
	struct agent_decoder dec;
	uint64_t flood_left;
	bool hello_seen;
	unsigned execs, reads, logs;
};

/* nasty() - @len bytes of terminal attacks and invalid text, NUL-terminated, no NUL inside */
static char *nasty(size_t len, bool newlines)
{
	static const char pieces[][16] = { "\x1b[2J", "\x1b]0;owned\x07", "\xc2\x9b" "31m", "\x9b" "1m", "\xff\xfe",
					   "\x1b[?1049h", "\r", "\x07", "NLAG", "\x1b" "c" };
	char *s = malloc(len + 1);
	size_t n = 0, i = 0;

	if (!s)
		_exit(3);
	while (n < len) {
		const char *p = pieces[i++ % (sizeof(pieces) / sizeof(pieces[0]))];
		size_t k = strlen(p);

		if (newlines && i % 40 == 0)
			p = "\n", k = 1;
		if (k > len - n)
			k = len - n;
		memcpy(s + n, p, k);
		n += k;
		if (n < len)
			s[n++] = 'x';
	}
	s[len] = '\0';
	return s;
}

/* write_all() - the whole buffer (blocking: the host reads at its pace); exits when the host is gone */
static void write_all(struct hostile *h, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(h->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		p += n;
		len -= (size_t)n;
	}
}

static void send_msg(struct hostile *h, struct agent_msg *msg)
{
	struct strbuf sb = STRBUF_INIT;
	nl_error_t err = NULL;

	if (agent_msg_encode(msg, &sb, &err) == 0)
		write_all(h, sb.str, sb.len);
	nl_error_release(&err);
	strbuf_release(&sb);
}

/* send_log() - one LOG frame of @len bytes of text */
static void send_log(struct hostile *h, size_t len)
{
	static char *small, *big;
	struct agent_msg log = { .type = AGENT_MSG_LOG };

	if (!small) {
		small = nasty(HOSTILE_LOG_SMALL_BYTES, false);
		big = nasty(HOSTILE_LOG_MAX_TEXT, false);
	}
	log.u.log.source = "kmsg\x1b[31m";
	log.u.log.text = len > HOSTILE_LOG_SMALL_BYTES ? big : small;
	log.u.log.time_ms = 1;
	send_msg(h, &log);
	h->flood_left = h->flood_left > len ? h->flood_left - len : 0;
}

/* raw_frame() - a header with a valid CRC for the given fields, then @payload_len bytes of @fill */
static void raw_frame(struct hostile *h, uint8_t version, uint8_t type, uint32_t payload_len, size_t send_len,
		      bool bad_payload_crc)
{
	uint8_t hdr[AGENT_HEADER_BYTES];
	char *payload = calloc(1, send_len + 1);
	uint32_t crc;

	if (!payload)
		_exit(3);
	memset(payload, 'G', send_len);
	memcpy(hdr, AGENT_MAGIC, AGENT_MAGIC_LEN);
	hdr[4] = version;
	hdr[5] = type;
	hdr[6] = hdr[7] = 0;
	memcpy(hdr + 8, "\x07\x00\x00\x00", 4);
	hdr[12] = (uint8_t)payload_len;
	hdr[13] = (uint8_t)(payload_len >> 8);
	hdr[14] = (uint8_t)(payload_len >> 16);
	hdr[15] = (uint8_t)(payload_len >> 24);
	crc = agent_crc32c(0, payload, send_len) ^ (bad_payload_crc ? 1 : 0);
	memcpy(hdr + 16, &crc, 4);	/* little endian on the machines nestlab runs on */
	crc = agent_crc32c(0, hdr, 20);
	memcpy(hdr + 20, &crc, 4);
	write_all(h, hdr, sizeof(hdr));
	write_all(h, payload, send_len);
	free(payload);
}

/* noise() - everything a broken or malicious agent could send before its READY */
static void noise(struct hostile *h)
{
	static const char garbage[] = "\x00\x01NLA\x1b[2J garbage NLAG\x01\x02\x03 NLAGNLAG \xff\xfe";
	struct agent_msg relay = { .type = AGENT_MSG_RELAY, .request_id = 9 };
	struct agent_msg ready = { .type = AGENT_MSG_READY };

	write_all(h, garbage, sizeof(garbage));
	raw_frame(h, AGENT_PROTO_VERSION, AGENT_MSG_LOG, AGENT_MAX_PAYLOAD + 1, AGENT_MAX_PAYLOAD + 1, false); /* too large */
	write_all(h, garbage, sizeof(garbage));
	raw_frame(h, 9, AGENT_MSG_LOG, 64, 64, false);						/* version */
	raw_frame(h, AGENT_PROTO_VERSION, AGENT_MSG_LOG, 64, 64, true);				/* payload CRC */
	raw_frame(h, AGENT_PROTO_VERSION, 200, 16, 16, false);					/* type */
	relay.u.relay.frame = (struct agent_bytes){ (uint8_t *)"NLAG not a frame", 16 };
	send_msg(h, &relay);
	ready.u.ready.agent_version = "hostile\x1b]0;owned\x07";
	ready.u.ready.level = "l1\x1b[2J";
	ready.u.ready.hostname = "\x9b" "31mhost";
	ready.u.ready.boot_id = "0";
	send_msg(h, &ready);
	for (int i = 0; i < 4; i++)
		send_log(h, HOSTILE_LOG_MAX_TEXT);
}

static void reply_ready(struct hostile *h, uint32_t id)
{
	struct agent_msg ready = { .type = AGENT_MSG_READY, .request_id = id };

	ready.u.ready.agent_version = "hostile";
	ready.u.ready.level = "l1";
	ready.u.ready.hostname = "hostile-l1";
	ready.u.ready.boot_id = "00000000-0000-0000-0000-000000000000";
	ready.u.ready.has_relay = true;
	send_msg(h, &ready);
}

static void reply_exec(struct hostile *h, uint32_t id)
{
	struct agent_msg r = { .type = AGENT_MSG_EXEC_RESULT, .request_id = id };
	struct agent_msg e = { .type = AGENT_MSG_ERROR, .request_id = id };
	char *out;

	h->execs++;
	if (h->execs == 1) {
		out = nasty(AGENT_MAX_EXEC_OUTPUT, true);
		memcpy(out, "kvm=yes\ndriver=\x1b[2J\n", 20);
		r.u.exec_result.stdout_data = (struct agent_bytes){ (uint8_t *)out, AGENT_MAX_EXEC_OUTPUT };
		r.u.exec_result.stderr_data = (struct agent_bytes){ (uint8_t *)out, AGENT_MAX_EXEC_OUTPUT };
		r.u.exec_result.stdout_truncated = true;
		send_msg(h, &r);
		free(out);
	} else if (h->execs % 2 == 1) {
		e.u.error.code = AGENT_ERR_EXEC;
		e.u.error.errnum = 99999;
		e.u.error.message = "\x1b]0;owned\x07\x1b[2J no such \x9b" "31m command";
		send_msg(h, &e);
	}
	/* even ones: never answered */
}

static void reply_read(struct hostile *h, const struct agent_read_file *rf, uint32_t id)
{
	struct agent_msg d = { .type = AGENT_MSG_FILE_DATA, .request_id = id };
	size_t want = rf->max_bytes && rf->max_bytes < AGENT_MAX_DATA_BYTES ? rf->max_bytes : AGENT_MAX_DATA_BYTES;
	char *data;

	h->reads++;
	if (h->reads == 1)
		want = want > 10 ? want / 2 : 0;	/* truncated: short, and not at end of file */
	data = nasty(want, true);
	d.u.file_data.offset = h->reads == 2 ? rf->offset + 4096 : rf->offset;
	d.u.file_data.data = (struct agent_bytes){ (uint8_t *)data, want };
	d.u.file_data.eof = false;
	send_msg(h, &d);
	free(data);
}

static void handle(struct hostile *h, const struct agent_frame *frame)
{
	struct agent_msg msg = { 0 };
	nl_error_t err = NULL;

	if (agent_msg_decode(frame, &msg, &err) < 0) {
		nl_error_release(&err);
		return;
	}
	switch (msg.type) {
	case AGENT_MSG_HELLO:
		if (!h->hello_seen)
			noise(h);
		h->hello_seen = true;
		reply_ready(h, msg.request_id);
		break;
	case AGENT_MSG_EXEC:
		reply_exec(h, msg.request_id);
		break;
	case AGENT_MSG_READ_FILE:
		reply_read(h, &msg.u.read_file, msg.request_id);
		break;
	default:
		break;	/* PING, RELAY, ...: never answered */
	}
	agent_msg_release(&msg);
}

/* flood_console() - a child that writes to @tty until it fails (or forever) */
static void flood_console(const char *tty)
{
	pid_t pid = fork();
	char *text;
	int fd;

	if (pid != 0)
		return;
	fd = open(tty, O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		_exit(1);
	text = nasty(1 << 16, false);	/* 64 KiB without a newline, then one */
	for (;;) {
		if (write(fd, text, strlen(text)) < 0 || write(fd, "\r\n", 2) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: nestlab-agent-hostile [--level l1] (--port PATH|--fd N) [--relay PATH] "
			"[--flood-bytes N] [--no-console] ... (test only)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct hostile h = { .fd = -1, .flood_left = HOSTILE_FLOOD_DEFAULT };
	bool consoles = true, is_port = false;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			h.fd = open(argv[++i], O_RDWR | O_NOCTTY | O_CLOEXEC);
			is_port = true;
		}
		else if (!strcmp(argv[i], "--fd") && i + 1 < argc)
			h.fd = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--flood-bytes") && i + 1 < argc)
			h.flood_left = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--no-console"))
			consoles = false;
		else if (!strncmp(argv[i], "--", 2) && i + 1 < argc && strcmp(argv[i], "--help"))
			i++;	/* --level, --relay, --watch: accepted, ignored */
		else
			usage();
	}
	if (h.fd < 0)
		usage();
	if (consoles) {
		flood_console("/dev/ttyS0");
		flood_console("/dev/ttyS1");
	}
	agent_decoder_init(&h.dec);
	for (;;) {
		struct pollfd pfd = { .fd = h.fd, .events = POLLIN };
		bool flood = h.hello_seen && h.flood_left;
		char buf[65536];
		int r = poll(&pfd, 1, flood ? 0 : -1);
		ssize_t n;

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			send_log(&h, ++h.logs % 100 ? HOSTILE_LOG_SMALL_BYTES : HOSTILE_LOG_MAX_TEXT);
			continue;
		}
		n = read(h.fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!is_port)
				return 0;	/* the socketpair's other end is gone */
			sleep(1);	/* a virtio port reads end of file while the host side is not connected */
			continue;
		}
		agent_decoder_feed(&h.dec, buf, (size_t)n);
		for (;;) {
			struct agent_frame frame = { 0 };
			nl_error_t err = NULL;
			int rc = agent_decoder_next(&h.dec, &frame, &err);

			nl_error_release(&err);
			if (rc > 0)
				handle(&h, &frame);
			agent_frame_release(&frame);
			if (rc == 0)
				break;
		}
	}
}
