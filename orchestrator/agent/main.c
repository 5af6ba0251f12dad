/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main.c - nestlab-agent: options, start-up and the epoll loop
 *
 *	nestlab-agent --level l1 --port /dev/virtio-ports/org.nestlab.agent.0 --relay /run/nestlab/l2.sock
 *	nestlab-agent --level l2 --port /dev/virtio-ports/org.nestlab.agent.0 --watch kmsg=/dev/kmsg
 *	nestlab-agent --level l2 --fd 3			(tests: a socketpair end)
 *	nestlab-agent qmp /run/nestlab/l2-qmp.sock '{"execute":"query-status"}'	(qmp.c)
 *
 * One thread, one epoll set (the shape of passt.c's loop): every fd is registered with a typed reference
 * (agent.h, EV_REF) and deadlines (command timeouts, reconnects, polled watches) set the epoll_wait
 * timeout. SIGCHLD and SIGTERM arrive through a signalfd. The agent sends READY as soon as it runs and
 * again in reply to every HELLO. It is built with `gcc -static` for the guests (see the Makefile).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent.h"

struct options {
	const char *level;
	const char *port_path;		/* path, or "-" for stdin/stdout */
	int port_fd;			/* --fd, or -1 */
	const char *relay_path;
	int relay_fd;			/* --relay-fd, or -1 */
};

static const char usage_text[] =
	"usage: nestlab-agent --level l1|l2 (--port PATH|- | --fd N) [--relay PATH | --relay-fd N]\n"
	"                     [--watch NAME=PATH]...\n"
	"       nestlab-agent qmp [--timeout MS] SOCKET JSON-COMMAND...\n"
	"  --level l1|l2      which guest this is (reported in READY; only l1 may relay)\n"
	"  --port PATH        channel to the host: virtio-serial port, serial line, pty or unix socket;\n"
	"                     \"-\" uses stdin and stdout\n"
	"  --fd N             channel to the host on inherited fd N (tests)\n"
	"  --relay PATH       channel to the L2 agent (unix socket of L2's QEMU chardev, or a device)\n"
	"  --relay-fd N       channel to the L2 agent on inherited fd N (tests)\n"
	"  --watch NAME=PATH  stream lines of PATH as LOG frames with source NAME (e.g. kmsg=/dev/kmsg)\n"
	"  --version          print the version\n"
	"  qmp                run each JSON-COMMAND on the QMP socket SOCKET (L1's QEMU, which runs L2) and\n"
	"                     print each reply as one line; exit 0 all \"return\", 1 an \"error\", 2 failure\n"
	"                     (see nestlab-agent qmp --help)\n";

/**
 * agent_diag() - report something about the agent itself: stderr (the guest console) and, when the
 * host port is up, a LOG frame with source "agent"
 * @a:		agent
 * @fmt:	message
 */
void agent_diag(struct agent *a, const char *fmt, ...)
{
	struct agent_msg msg = { .type = AGENT_MSG_LOG };
	cleanup_free char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	fprintf(stderr, "nestlab-agent[%s]: %s\n", a->level, text);
	if (!channel_usable(&a->channels[CHANNEL_PORT]))
		return;
	msg.u.log.source = "agent";
	msg.u.log.text = text;
	msg.u.log.time_ms = clock_boottime_ms();
	agent_send(a, &msg);
}

/* agent_epoll_set() - epoll_ctl with a typed reference; returns 0 or -1 with errno set */
int agent_epoll_set(struct agent *a, int op, int fd, uint32_t events, uint64_t ref)
{
	struct epoll_event ev = { .events = events, .data.u64 = ref };

	return epoll_ctl(a->epfd, op, fd, &ev);
}

static int parse_fd(const char *opt, const char *s, int *fd, nl_error_t *err)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < 0 || v > INT_MAX)
		return nl_error(err, 0, "%s %s: expected a file descriptor number", opt, s);
	*fd = (int)v;
	return 0;
}

/*
 * parse_options() - command line into @o and the watches of @a
 * Return: 0, 1 when --help or --version was handled, or -1 with @err set
 */
static int parse_options(int argc, char **argv, struct options *o, struct agent *a, nl_error_t *err)
{
	static const struct option longopts[] = {
		{ "level", required_argument, NULL, 'l' },  { "port", required_argument, NULL, 'p' },
		{ "fd", required_argument, NULL, 'f' },	    { "relay", required_argument, NULL, 'r' },
		{ "relay-fd", required_argument, NULL, 'R' }, { "watch", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },	    { "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': o->level = optarg; break;
		case 'p': o->port_path = optarg; break;
		case 'f': if (parse_fd("--fd", optarg, &o->port_fd, err) < 0) return -1; break;
		case 'r': o->relay_path = optarg; break;
		case 'R': if (parse_fd("--relay-fd", optarg, &o->relay_fd, err) < 0) return -1; break;
		case 'w': if (watch_add(a, optarg, err) < 0) return -1; break;
		case 'h': fputs(usage_text, stdout); return 1;
		case 'V': printf("nestlab-agent %s (protocol %d)\n", NESTLAB_VERSION, AGENT_PROTO_VERSION);
			  return 1;
		default: return nl_error(err, 0, "see nestlab-agent --help");
		}
	}
	if (optind < argc)
		return nl_error(err, 0, "unexpected argument %s: see nestlab-agent --help", argv[optind]);
	if (!o->level || (strcmp(o->level, "l1") && strcmp(o->level, "l2")))
		return nl_error(err, 0, "--level l1 or --level l2 is required");
	if (!o->port_path == (o->port_fd < 0))
		return nl_error(err, 0, "give exactly one of --port PATH and --fd N");
	if (o->relay_path && o->relay_fd >= 0)
		return nl_error(err, 0, "give at most one of --relay PATH and --relay-fd N");
	if ((o->relay_path || o->relay_fd >= 0) && strcmp(o->level, "l1"))
		return nl_error(err, 0, "only the l1 agent relays (relays nest one level deep)");
	return 0;
}

/* ensure_std_fds() - fds 0-2 open (init may start us without them), so pipes never land on them */
static void ensure_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
			return;
	}
}

/* agent_setup() - signals, epoll, channels, the first READY, watches; returns 0 or -1 with @err set */
static int agent_setup(struct agent *a, const struct options *o, nl_error_t *err)
{
	cleanup_error nl_error_t soft = NULL;
	sigset_t mask;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return nl_error(err, errno, "block signals");
	a->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (a->sigfd < 0 || a->epfd < 0)
		return nl_error(err, errno, "signalfd/epoll");
	if (agent_epoll_set(a, EPOLL_CTL_ADD, a->sigfd, EPOLLIN, EV_REF(EV_SIGNAL, 0)) < 0)
		return nl_error(err, errno, "epoll add signalfd");
	if (o->port_fd >= 0 && channel_open_fds(a, &a->channels[CHANNEL_PORT], o->port_fd, o->port_fd,
						err) < 0)
		return -1;
	if (o->port_path && !strcmp(o->port_path, "-") &&
	    channel_open_fds(a, &a->channels[CHANNEL_PORT], STDIN_FILENO, STDOUT_FILENO, err) < 0)
		return -1;
	if (o->port_path && strcmp(o->port_path, "-") &&
	    channel_open_path(a, &a->channels[CHANNEL_PORT], o->port_path, &soft) < 0)
		fprintf(stderr, "nestlab-agent[%s]: %s; retrying every %d ms\n", a->level, soft->msg,
			AGENT_RETRY_MS);
	nl_error_release(&soft);
	if (o->relay_fd >= 0 && channel_open_fds(a, &a->channels[CHANNEL_RELAY], o->relay_fd,
						 o->relay_fd, err) < 0)
		return -1;
	if (o->relay_path && channel_open_path(a, &a->channels[CHANNEL_RELAY], o->relay_path, &soft) < 0)
		fprintf(stderr, "nestlab-agent[%s]: %s; retrying every %d ms\n", a->level, soft->msg,
			AGENT_RETRY_MS);
	agent_send_ready(a, 0);
	watch_start_all(a);
	return 0;
}

/* handle_signals() - SIGCHLD reaps, SIGTERM and SIGINT stop the agent, SIGHUP is ignored */
static void handle_signals(struct agent *a)
{
	struct signalfd_siginfo si;

	while (read(a->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			exec_reap(a);
		else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			a->quit = true;
	}
}

static void handle_event(struct agent *a, const struct epoll_event *ev)
{
	size_t index = EV_INDEX(ev->data.u64);
	enum ev_kind kind = EV_KIND(ev->data.u64);

	switch (kind) {
	case EV_CHANNEL_IN:
	case EV_CHANNEL_OUT:
		if (index < CHANNEL_COUNT)
			channel_handle_event(a, &a->channels[index], ev->events, kind == EV_CHANNEL_OUT);
		break;
	case EV_SIGNAL:
		handle_signals(a);
		break;
	case EV_JOB_STDIN:
	case EV_JOB_STDOUT:
	case EV_JOB_STDERR:
		exec_handle_event(a, index, kind, ev->events);
		break;
	case EV_WATCH:
		watch_handle_event(a, index);
		break;
	}
}

/* next_timeout() - epoll_wait timeout in ms until the nearest deadline, -1 for none */
static int next_timeout(const struct agent *a, uint64_t now)
{
	uint64_t next = exec_next_deadline(a);

	for (int i = 0; i < CHANNEL_COUNT; i++) {
		uint64_t t = channel_next_deadline(&a->channels[i]);

		if (t < next)
			next = t;
	}
	for (size_t i = 0; i < a->n_watches; i++) {
		if (a->watches[i].polled && a->watches[i].fd >= 0 && a->next_watch_poll_ms < next)
			next = a->next_watch_poll_ms;
	}
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : next - now > INT_MAX ? INT_MAX : (int)(next - now);
}

/* agent_run() - the loop: wait, handle events, run what is due; until SIGTERM or the port closes */
static void agent_run(struct agent *a)
{
	struct epoll_event events[32];

	while (!a->quit) {
		int n = epoll_wait(a->epfd, events, ARRAY_SIZE(events), next_timeout(a, now_ms()));
		uint64_t now;

		if (n < 0 && errno != EINTR) {
			agent_diag(a, "epoll_wait: %s", strerror(errno));
			return;
		}
		for (int i = 0; i < n && !a->quit; i++)
			handle_event(a, &events[i]);
		now = now_ms();
		exec_tick(a, now);
		for (int i = 0; i < CHANNEL_COUNT; i++)
			channel_tick(a, &a->channels[i], now);
		watch_tick(a, now);
	}
}

int main(int argc, char **argv)
{
	struct options o = { .port_fd = -1, .relay_fd = -1 };
	struct agent a = { .level = "?", .epfd = -1, .sigfd = -1 };
	cleanup_error nl_error_t err = NULL;
	int rc;

	if (argc > 1 && !strcmp(argv[1], "qmp"))
		return qmp_main(argc - 1, argv + 1);
	channel_init(&a.channels[CHANNEL_PORT], CHANNEL_PORT, "port");
	channel_init(&a.channels[CHANNEL_RELAY], CHANNEL_RELAY, "relay");
	rc = parse_options(argc, argv, &o, &a, &err);
	if (rc != 0) {
		if (rc < 0)
			fprintf(stderr, "nestlab-agent: %s\n", err->msg);
		watch_release_all(&a);
		return rc < 0 ? 2 : 0;
	}
	a.level = o.level;
	a.send_flags = strcmp(o.level, "l2") ? 0 : AGENT_FLAG_INNER;
	if (!o.port_path || strcmp(o.port_path, "-"))
		ensure_std_fds();
	if (agent_setup(&a, &o, &err) < 0) {
		fprintf(stderr, "nestlab-agent[%s]: %s\n", a.level, err->msg);
		return 1;
	}
	agent_run(&a);
	exec_kill_all(&a);
	watch_release_all(&a);
	for (int i = 0; i < CHANNEL_COUNT; i++)
		channel_release(&a, &a.channels[i]);
	return 0;
}
