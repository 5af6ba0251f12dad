/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * serve.c - how commands reach the driver: one-shot (one command per process), `serve` (a long-running
 * process that keeps the device, its rings and its mappings between commands, reading one command per
 * line from stdin or from clients of a unix socket) and `call` (a client of that socket for one command,
 * convenient from the guest agent's EXEC)
 *
 * Every reply ends with one status line, `ok cmd=NAME ...` or `error cmd=NAME msg=...`; a socket client
 * reads until that line. A line from a client is untrusted: it is length-limited and parsed strictly.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vnic.h"

#define SERVE_LINE_MAX 4096

/* print_message() - @msg on one line: newlines become blanks, other control characters '?' */
static void print_message(FILE *out, const char *msg)
{
	for (const char *p = msg; *p; p++)
		fputc(*p == '\n' ? ' ' : ((unsigned char)*p < 0x20 || *p == 0x7f) ? '?' : *p, out);
}

/**
 * serve_status_line() - the last line of every reply
 * @out:	stream
 * @cmd:	command name
 * @rc:		0 for ok
 * @summary:	key=value pairs for ok
 * @err:	the error for a failure (may be NULL)
 */
void serve_status_line(FILE *out, const char *cmd, int rc, const struct strbuf *summary, nl_error_t err)
{
	if (rc == 0) {
		fprintf(out, "ok cmd=%s%s%s\n", cmd, summary->len ? " " : "", summary->len ? summary->str : "");
	} else {
		fprintf(out, "error cmd=%s msg=", cmd);
		print_message(out, err && err->msg ? err->msg : "failed");
		fputc('\n', out);
	}
	fflush(out);
}

/* safe_name() - @word if it looks like a command name, else "?" (it is echoed into the status line) */
static const char *safe_name(const char *word)
{
	if (!word || !*word || strlen(word) > 32)
		return "?";
	for (const char *p = word; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || *p == '-'))
			return "?";
	}
	return word;
}

/* dispatch() - run a parsed command and print its status line; returns 0 for ok, 1 for error */
static int dispatch(struct nic *nic, const struct vnic_cmd *cmd, FILE *out)
{
	cleanup_strbuf struct strbuf summary = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	int rc = 0;

	switch (cmd->id) {
	case VNIC_CMD_HELP: {
		cleanup_free char *help = vnic_cmd_help();

		fputs(help, out);
		break;
	}
	case VNIC_CMD_QUIT:
		break;
	case VNIC_CMD_UDP_SEND:
		rc = udp_send(cmd, out, &summary, &err);
		break;
	case VNIC_CMD_UDP_RECV:
		rc = udp_recv(cmd, out, &summary, &err);
		break;
	case VNIC_CMD_PKT_UP:
		rc = pkt_up(cmd, &summary, &err);
		break;
	case VNIC_CMD_PKT_TX:
		rc = pkt_tx(cmd, out, &summary, &err);
		break;
	case VNIC_CMD_PKT_RX:
		/* nic is NULL for a one-shot command without the device; in serve mode it is open */
		rc = pkt_rx(cmd, nic == NULL, out, &summary, &err);
		break;
	case VNIC_CMD_PKT_WAIT:
		rc = pkt_wait(cmd, out, &summary, &err);
		break;
	default:
		rc = nic ? cmd_run(nic, cmd, out, &summary, &err) : nl_error(&err, 0, "no device open");
		break;
	}
	serve_status_line(out, vnic_cmd_name(cmd->id), rc, &summary, err);
	return rc < 0;
}

/**
 * serve_one_shot() - run one command in this process: open the device if the command needs it, run,
 * reset and close
 * @cfg:	device options
 * @argc:	words of the command
 * @argv:	the command and its options
 *
 * Return: exit status: 0 ok, 1 the command failed, 2 the command line was wrong
 */
int serve_one_shot(const struct nic_config *cfg, int argc, char **argv)
{
	cleanup_strbuf struct strbuf none = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	struct nic nic = { 0 };
	struct vnic_cmd cmd;
	int rc;

	if (vnic_cmd_parse(argc, argv, &cmd, &err) < 0) {
		serve_status_line(stdout, safe_name(argv[0]), -1, &none, err);
		vnic_cmd_release(&cmd);
		return 2;
	}
	if (vnic_cmd_needs_device(cmd.id) && nic_open(&nic, cfg, &err) < 0) {
		serve_status_line(stdout, vnic_cmd_name(cmd.id), -1, &none, err);
		nic_close(&nic);
		vnic_cmd_release(&cmd);
		return 1;
	}
	rc = dispatch(vnic_cmd_needs_device(cmd.id) ? &nic : NULL, &cmd, stdout);
	nic_close(&nic);
	vnic_cmd_release(&cmd);
	return rc;
}

/* serve_line() - one protocol line: parse, run, reply; returns true when it was `quit` */
static bool serve_line(struct nic *nic, const char *line, size_t len, FILE *out)
{
	cleanup_strbuf struct strbuf none = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	cleanup_strv char **words = NULL;
	struct vnic_cmd cmd;
	bool quit;
	int n;

	if (len > SERVE_LINE_MAX) {
		nl_error(&err, 0, "command line longer than %d bytes", SERVE_LINE_MAX);
		serve_status_line(out, "?", -1, &none, err);
		return false;
	}
	n = vnic_split_line(line, &words, &err);
	if (n == 0)
		return false;
	if (n < 0 || vnic_cmd_parse(n, words, &cmd, &err) < 0) {
		serve_status_line(out, safe_name(n > 0 ? words[0] : NULL), -1, &none, err);
		if (n > 0)
			vnic_cmd_release(&cmd);
		return false;
	}
	dispatch(nic, &cmd, out);
	quit = cmd.id == VNIC_CMD_QUIT;
	vnic_cmd_release(&cmd);
	return quit;
}

/* serve_stream() - lines from @in until end of file, `quit` or a signal; returns true after quit */
static bool serve_stream(struct nic *nic, FILE *in, FILE *out)
{
	cleanup_free char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	while (!vnic_stop) {
		errno = 0;
		len = getline(&line, &cap, in);
		if (len < 0) {
			if (errno == EINTR && !vnic_stop) {
				clearerr(in);
				continue;
			}
			return false;
		}
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (serve_line(nic, line, (size_t)len, out))
			return true;
	}
	return false;
}

/* listen_unix() - a unix stream socket at @path (a stale socket file is replaced), mode 0600 */
static int listen_unix(const char *path, nl_error_t *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	cleanup_close int fd = -1;
	struct stat st;
	int ret;

	if (snprintf_checked(sa.sun_path, sizeof(sa.sun_path), "%s", path) < 0)
		return nl_error(err, ENAMETOOLONG, "socket path %s", path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return nl_error(err, EEXIST, "%s exists and is not a socket", path);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return nl_error(err, errno, "socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return nl_error(err, errno, "bind %s", path);
	chmod(path, 0600);
	if (listen(fd, 4) < 0)
		return nl_error(err, errno, "listen %s", path);
	ret = fd;
	fd = -1;
	return ret;
}

/* serve_socket() - clients one after another, each a stream of command lines */
static int serve_socket(struct nic *nic, const char *path, nl_error_t *err)
{
	cleanup_close int lfd = listen_unix(path, err);
	bool quit = false;

	if (lfd < 0)
		return -1;
	while (!quit && !vnic_stop) {
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		cleanup_file FILE *in = NULL;
		cleanup_file FILE *out = NULL;

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			unlink(path);
			return nl_error(err, errno, "accept on %s", path);
		}
		in = fdopen(cfd, "r");
		out = fdopen(dup(cfd), "w");
		if (!in || !out) {
			if (!in)
				close(cfd);
			continue;
		}
		quit = serve_stream(nic, in, out);
	}
	unlink(path);
	return 0;
}

/**
 * serve_run() - open the device once, then answer commands until quit, end of input or SIGTERM
 * @cfg:	device options
 * @opts:	socket path, or NULL for stdin/stdout
 *
 * The first line on stdout is `ready ...` once the device is up (or the `error` line why it is not);
 * with a socket, the socket appears only after that, so a client that can connect knows it is ready.
 *
 * Return: exit status
 */
int serve_run(const struct nic_config *cfg, const struct serve_options *opts)
{
	cleanup_strbuf struct strbuf none = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	struct nic nic = { 0 };
	char mac[18];
	int rc = 0;

	if (nic_open(&nic, cfg, &err) < 0) {
		serve_status_line(stdout, "serve", -1, &none, err);
		nic_close(&nic);
		return 1;
	}
	vnic_format_mac(nic.mac, mac);
	printf("ready bdf=%s model=%s mac=%s link=%s maps=%zu socket=%s pid=%d\n", nic.vfio.bdf, nic.ops->model, mac,
	       nic.link_up ? "up" : "down", dma_mapped_count(&nic.pool), opts->socket_path ? opts->socket_path : "-",
	       (int)getpid());
	fflush(stdout);
	if (opts->socket_path) {
		if (serve_socket(&nic, opts->socket_path, &err) < 0) {
			serve_status_line(stdout, "serve", -1, &none, err);
			rc = 1;
		}
	} else {
		serve_stream(&nic, stdin, stdout);
	}
	nic_close(&nic);
	return rc;
}

/* connect_unix() - connect to @path, retrying for @wait_ms while it does not exist or refuses */
static int connect_unix(const char *path, uint32_t wait_ms, nl_error_t *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t deadline = now_ms() + wait_ms;

	if (snprintf_checked(sa.sun_path, sizeof(sa.sun_path), "%s", path) < 0)
		return nl_error(err, ENAMETOOLONG, "socket path %s", path);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		if (fd < 0)
			return nl_error(err, errno, "socket");
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		if ((errno != ENOENT && errno != ECONNREFUSED) || now_ms() >= deadline || vnic_stop)
			return nl_error(err, errno, "connect %s (is `nestlab-vfio-nic serve --socket` running?)", path);
		nanosleep(&ts, NULL);
	}
}

/**
 * serve_call() - send one command to a serve socket and copy its reply to stdout
 * @opts:	socket path, how long to wait for it
 * @argc:	words
 * @argv:	the command and its options (no word may contain a blank: they travel as one line)
 *
 * Return: exit status: 0 for an ok reply, 1 otherwise
 */
int serve_call(const struct serve_options *opts, int argc, char **argv)
{
	cleanup_strbuf struct strbuf line = STRBUF_INIT;
	cleanup_strbuf struct strbuf none = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	cleanup_file FILE *in = NULL;
	cleanup_free char *reply = NULL;
	const char *name = safe_name(argc ? argv[0] : NULL);
	size_t cap = 0;
	int fd;

	for (int i = 0; i < argc; i++) {
		if (strpbrk(argv[i], " \t\r\n")) {
			nl_error(&err, 0, "call: argument '%s' contains a blank or newline", argv[i]);
			serve_status_line(stdout, name, -1, &none, err);
			return 1;
		}
		strbuf_printf(&line, "%s%s", i ? " " : "", argv[i]);
	}
	strbuf_puts(&line, "\n");
	if (!opts->socket_path)
		nl_error(&err, 0, "call needs --socket PATH");
	fd = opts->socket_path ? connect_unix(opts->socket_path, opts->wait_ms, &err) : -1;
	if (fd < 0 || write(fd, line.str, line.len) != (ssize_t)line.len || !(in = fdopen(fd, "r"))) {
		if (!err)
			nl_error(&err, errno, "send to %s", opts->socket_path);
		if (fd >= 0 && !in)
			close(fd);
		serve_status_line(stdout, name, -1, &none, err);
		return 1;
	}
	while (getline(&reply, &cap, in) >= 0) {
		fputs(reply, stdout);
		if (!strncmp(reply, "ok ", 3))
			return 0;
		if (!strncmp(reply, "error ", 6))
			return 1;
	}
	nl_error(&err, 0, "%s closed the connection before the status line", opts->socket_path);
	serve_status_line(stdout, name, -1, &none, err);
	return 1;
}
