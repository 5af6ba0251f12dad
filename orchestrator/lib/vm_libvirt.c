/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_libvirt.c - backend "libvirt": L1 as a transient libvirt domain (l0.backend: libvirt, the default)
 *
 * Connection: plan->connect, by default libvirt's embedded QEMU driver "qemu:///embed?root=ROOT", ROOT in
 * the run's private directory (runstate.h; libvirt docs "Embedded driver"): the driver runs inside
 * nestlab, no daemon. For it nestlab first
 * writes ROOT/etc/qemu.conf with the settings that work on this machine class (libvirt 9.0, bookworm):
 * QEMU runs as root, no dynamic ownership, no security driver, no cgroups, no namespaces, and QEMU's
 * stdio to a file (else libvirt wants virtlogd). seccomp_sandbox = 1: libvirt 9.0 then starts QEMU with
 * "-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny" (PLAN_QEMU_SANDBOX)
 * when QEMU reports the sandbox option, which the seccomp build (build_qemu.c) does; that filter is the
 * one confinement L0's QEMU keeps while it runs as root (docs/running.md). Debian's libvirt looks the
 * user "libvirt-qemu" up before it reads qemu.conf; when it is missing and nestlab runs as root, nestlab
 * creates it (useradd -r), the way libvirt-daemon-system's postinst would, and says so on stderr.
 *
 * Event loop: libvirt needs an event implementation registered before the first connection, and the
 * embedded driver needs it to run (monitor I/O, process events). nestlab registers libvirt's default
 * implementation (virEventRegisterDefaultImpl) once per process and runs virEventRunDefaultImpl() in one
 * dedicated thread that blocks every signal (signals stay with the supervisor loop's signalfd). The
 * thread lives until the process exits. This is simpler than mapping libvirt's fd/timeout callbacks
 * onto loop.h, and libvirt's API is thread-safe; everything else of nestlab stays single-threaded.
 *
 * Domain: virDomainCreateXML(plan_l1_domain_xml()) makes a transient domain (written to
 * RUN/l1-domain.xml first). A transient domain of the embedded driver outlives nestlab, and the embedded
 * driver refuses VIR_DOMAIN_START_AUTODESTROY ("not supported for embedded drivers yet"), so every exit
 * path destroys it: vm_stop(), vm_free(), vm_teardown_all() and its atexit() hook. Other URIs get
 * AUTODESTROY as well, so a daemon destroys the domain if nestlab dies.
 *
 * QMP: virDomainQemuMonitorCommand() (libvirt-qemu.h) sends the command as JSON to L0's QEMU monitor; the
 * reply is parsed like qmp.h does, and both are kept in RUN/qmp-l0.log.
 *
 * Deadlines: libvirt's calls that wait on QEMU's monitor (virDomainQemuMonitorCommand, virDomainResume)
 * take no timeout, and the embedded driver waits for a reply without one: a QEMU that stops answering (a
 * guest that keeps it busy under its global lock, a SIGSTOP) would block nestlab for ever. So such a call
 * runs on a short-lived worker thread (signals blocked, like the event loop's) while the caller waits on
 * a condition variable until vm->qmp_timeout_ms. Past the deadline nestlab kills L0's QEMU (SIGKILL:
 * libvirt's call cannot be cancelled, and it returns once the monitor's socket closes), waits a little
 * for the worker, and reports the timeout. A worker that still has not returned is abandoned: it frees
 * its own state when libvirt lets it go. The other option, a second QMP socket on <qemu:commandline>
 * for qmp.h's client, would leave virDomainResume unbounded and talk behind libvirt's back.
 *
 * Logs: libvirt's own warnings and errors go to RUN/libvirt.log (LIBVIRT_LOG_OUTPUTS, unless the user set
 * it), QEMU's stderr to ROOT/log/qemu/NAME.log (embedded; /var/log/libvirt/qemu/NAME.log for
 * qemu:///system). Limits: one embedded root per process (libvirt's rule), so one run per process.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "proc.h"
#include "rundir.h"
#include "vm.h"

#define EMBED_URI_PREFIX "qemu:///embed"
#define QEMU_USER "libvirt-qemu"
#define DOMAIN_LOG_TAIL_LINES 12
#define PID_GONE_TIMEOUT_MS 5000
#define CALL_AFTER_KILL_MS 5000		/* how long to wait for L0's QEMU to go once it was killed */

/* ROOT/etc/qemu.conf for libvirt 9.0's (bookworm) embedded driver */
static const char qemu_conf[] =
	"# written by nestlab (orchestrator/lib/vm_libvirt.c) for libvirt's embedded QEMU driver\n"
	"user = \"root\"\n"
	"group = \"root\"\n"
	"dynamic_ownership = 0\n"
	"security_driver = \"none\"\n"
	"cgroup_controllers = [ ]\n"
	"namespaces = [ ]\n"
	"stdio_handler = \"file\"\n"
	"seccomp_sandbox = 1\n";

struct vm_libvirt {
	virConnectPtr conn;
	virDomainPtr dom;
	char *uri;
	char *root;		/* embedded driver root, or NULL for other URIs */
	char *domain_name;
	char *domain_log;	/* QEMU's stderr as libvirt keeps it */
	char *xml_path;		/* RUN/l1-domain.xml */
	pid_t pid;		/* L0's QEMU, from libvirt's pid file; -1 when unknown */
	FILE *transcript;	/* RUN/qmp-l0.log */
	uint64_t start_ms;
};

/* ---- libvirt process-wide set-up: error handler, logging, event loop thread -------------------- */

static pthread_once_t libvirt_once = PTHREAD_ONCE_INIT;
static char *libvirt_log_path;		/* set before libvirt_once runs */
static int libvirt_init_errnum;
static char libvirt_init_msg[256];

/* libvirt_quiet() - libvirt's default handler prints every error on stderr: nestlab reports them itself */
static void libvirt_quiet(void *opaque UNUSED, virErrorPtr error UNUSED)
{
}

/* libvirt_error_message() - the calling thread's last libvirt error */
static const char *libvirt_error_message(void)
{
	const char *msg = virGetLastErrorMessage();

	return msg ? msg : "unknown libvirt error";
}

/* libvirt_event_thread() - runs libvirt's default event loop for the life of the process */
static void *libvirt_event_thread(void *arg UNUSED)
{
	for (;;) {
		if (virEventRunDefaultImpl() < 0)
			vm_sleep_ms(10);	/* keep going: libvirt logs the cause */
	}
	return NULL;
}

/* libvirt_init_once() - logging to the run directory, quiet errors, default event loop and its thread */
static void libvirt_init_once(void)
{
	sigset_t all, old;
	pthread_t thread;
	int rc;

	if (libvirt_log_path) {
		cleanup_free char *outputs = xasprintf("3:file:%s", libvirt_log_path);

		setenv("LIBVIRT_LOG_OUTPUTS", outputs, 0);
	}
	if (virInitialize() < 0) {
		libvirt_init_errnum = EIO;
		snprintf(libvirt_init_msg, sizeof(libvirt_init_msg), "virInitialize: %s", libvirt_error_message());
		return;
	}
	virSetErrorFunc(NULL, libvirt_quiet);
	if (virEventRegisterDefaultImpl() < 0) {
		libvirt_init_errnum = EIO;
		snprintf(libvirt_init_msg, sizeof(libvirt_init_msg), "virEventRegisterDefaultImpl: %s",
			 libvirt_error_message());
		return;
	}
	/* the thread inherits a mask with every signal blocked: SIGINT and friends stay with the main loop */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&thread, NULL, libvirt_event_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		libvirt_init_errnum = rc;
		snprintf(libvirt_init_msg, sizeof(libvirt_init_msg), "start the libvirt event loop thread");
		return;
	}
	pthread_detach(thread);
}

/* libvirt_init() - the process-wide set-up, once; @run_dir holds libvirt.log */
static int libvirt_init(const char *run_dir, nl_error_t *err)
{
	if (!libvirt_log_path)
		libvirt_log_path = xasprintf("%s/libvirt.log", run_dir);
	pthread_once(&libvirt_once, libvirt_init_once);
	if (libvirt_init_errnum)
		return nl_error(err, libvirt_init_errnum, "libvirt: %s", libvirt_init_msg);
	return 0;
}

/* ---- the embedded driver's root ----------------------------------------------------------------- */

/* uri_unescape() - %XX sequences of a URI component decoded */
static char *uri_unescape(const char *s, size_t len)
{
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char hex[3] = { s[i + 1], s[i + 2], '\0' };
			char c = (char)strtol(hex, NULL, 16);

			strbuf_add(&sb, &c, 1);
			i += 2;
		} else {
			strbuf_add(&sb, &s[i], 1);
		}
	}
	return sb.str ? strbuf_detach(&sb) : xstrdup("");
}

/* embedded_root() - the root= of a qemu:///embed URI, or NULL for any other URI */
static char *embedded_root(const char *uri)
{
	const char *query, *root;

	if (strncmp(uri, EMBED_URI_PREFIX, strlen(EMBED_URI_PREFIX)) != 0)
		return NULL;
	query = strchr(uri, '?');
	for (root = query; root; root = strchr(root + 1, '&')) {
		if (!strncmp(root + 1, "root=", 5)) {
			const char *value = root + 6, *end = strchr(value, '&');

			return uri_unescape(value, end ? (size_t)(end - value) : strlen(value));
		}
	}
	return NULL;
}

/*
 * ensure_qemu_user() - Debian's libvirt resolves its built-in QEMU user "libvirt-qemu" before reading
 * qemu.conf ("Failed to parse user 'libvirt-qemu'"): create it as a system user when it is missing
 */
static int ensure_qemu_user(nl_error_t *err)
{
	cleanup_strv char **argv = NULL;
	cleanup_free char *output = NULL;

	if (getpwnam(QEMU_USER))
		return 0;
	if (geteuid() != 0)
		return nl_error(err, ENOENT, "Debian's libvirt needs the system user '" QEMU_USER "' even when "
				"qemu.conf says user = \"root\": as root, run 'useradd -r -M -s /usr/sbin/nologin "
				QEMU_USER "' (or install libvirt-daemon-system), or run nestlab as root");
	fprintf(stderr, "nestlab: creating the system user " QEMU_USER " (Debian's libvirt looks it up before it "
			"reads qemu.conf; libvirt-daemon-system would create it)\n");
	strv_push(&argv, "useradd");
	strv_push(&argv, "--system");
	strv_push(&argv, "--no-create-home");
	strv_push(&argv, "--home-dir");
	strv_push(&argv, "/var/lib/libvirt");
	strv_push(&argv, "--shell");
	strv_push(&argv, "/usr/sbin/nologin");
	if (getgrnam(QEMU_USER)) {
		strv_push(&argv, "--gid");
		strv_push(&argv, QEMU_USER);
	}
	strv_push(&argv, QEMU_USER);
	if (proc_run(argv, 30000, &output, err) < 0)
		return nl_error_wrap(err, "create the user " QEMU_USER " (useradd said: %s)", output ? output : "");
	return 0;
}

/* prepare_embedded_root() - ROOT/etc/qemu.conf and the QEMU user */
static int prepare_embedded_root(const char *root, nl_error_t *err)
{
	cleanup_free char *etc = xasprintf("%s/etc", root);

	if (root[0] != '/')
		return nl_error(err, EINVAL, "the embedded driver's root %s must be an absolute path", root);
	if (fs_mkdir_p(etc, err) < 0 || rundir_write_file(etc, "qemu.conf", qemu_conf, err) < 0)
		return nl_error_wrap(err, "prepare libvirt's embedded root %s", root);
	return ensure_qemu_user(err);
}

/* ---- transcript and pid ------------------------------------------------------------------------- */

/* transcript() - "SECONDS.MS l0 ARROW TEXT" in RUN/qmp-l0.log, as qmp.h writes it */
static void transcript(struct vm_libvirt *lv, const char *arrow, const char *text)
{
	uint64_t t = now_ms() - lv->start_ms;

	if (!lv->transcript)
		return;
	fprintf(lv->transcript, "%llu.%03llu l0 %s %s\n", (unsigned long long)(t / 1000),
		(unsigned long long)(t % 1000), arrow, text);
	fflush(lv->transcript);
}

/* read_pid() - L0 QEMU's pid from libvirt's pid file (ROOT/run/qemu/NAME.pid, /run/libvirt/qemu/...) */
static pid_t read_pid(const struct vm_libvirt *lv)
{
	cleanup_free char *path = lv->root ? xasprintf("%s/run/qemu/%s.pid", lv->root, lv->domain_name)
					   : xasprintf("/run/libvirt/qemu/%s.pid", lv->domain_name);
	cleanup_free char *text = read_file_text(path);
	long pid = text ? strtol(text, NULL, 10) : -1;

	return pid > 0 ? (pid_t)pid : -1;
}

/* wait_pid_gone() - wait until L0's QEMU no longer exists (libvirt normally waits already) */
static bool wait_pid_gone(pid_t pid, unsigned timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;

	while (vm_pid_alive(pid)) {
		if (now_ms() >= deadline)
			return false;
		vm_sleep_ms(20);
	}
	return true;
}

/* ---- libvirt calls with a deadline --------------------------------------------------------------- */

enum libvirt_call_kind { CALL_MONITOR_COMMAND, CALL_RESUME };

/* one call on a worker thread; shared with the caller under @lock until one of them lets go */
struct libvirt_call {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;		/* the worker returned from libvirt */
	bool abandoned;		/* the caller gave up: the worker frees the call */
	enum libvirt_call_kind kind;
	virDomainPtr dom;	/* a reference of its own (virDomainRef) */
	char *command;		/* CALL_MONITOR_COMMAND: the JSON text */
	char *reply;		/* its reply */
	int rc;			/* libvirt's return value */
	char message[512];	/* libvirt's error, taken on the worker thread (errors are per thread) */
};

static void libvirt_call_free(struct libvirt_call *c)
{
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	virDomainFree(c->dom);
	free(c->command);
	free(c->reply);
	free(c);
}

/* libvirt_call_thread() - make the call, hand the result over or, when abandoned, free it */
static void *libvirt_call_thread(void *arg)
{
	struct libvirt_call *c = arg;
	bool abandoned;

	if (c->kind == CALL_MONITOR_COMMAND)
		c->rc = virDomainQemuMonitorCommand(c->dom, c->command, &c->reply, 0);
	else
		c->rc = virDomainResume(c->dom);
	if (c->rc < 0)
		snprintf(c->message, sizeof(c->message), "%s", libvirt_error_message());
	pthread_mutex_lock(&c->lock);
	c->done = true;
	abandoned = c->abandoned;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	if (abandoned)
		libvirt_call_free(c);
	return NULL;
}

/* libvirt_call_wait() - wait until the worker is done or @deadline_ms (now_ms() clock); true when done */
static bool libvirt_call_wait(struct libvirt_call *c, uint64_t deadline_ms)
{
	bool done;

	pthread_mutex_lock(&c->lock);
	while (!c->done) {
		uint64_t now = now_ms();
		struct timespec ts;

		if (now >= deadline_ms)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)((deadline_ms - now) / 1000);
		ts.tv_nsec += (long)((deadline_ms - now) % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&c->cond, &c->lock, &ts);
	}
	done = c->done;
	if (!done)
		c->abandoned = true;
	pthread_mutex_unlock(&c->lock);
	return done;
}

/*
 * libvirt_call() - run @c on a worker thread and wait at most vm->qmp_timeout_ms. Return: 0 when libvirt
 * returned in time (then c->rc, c->reply and c->message hold its result and the caller frees @c), or -1
 * with @err set (ETIMEDOUT): L0's QEMU was killed, and @c belongs to the worker or was freed. @what names
 * the call for the message.
 */
static int libvirt_call(struct vm *vm, struct libvirt_call *c, const char *what, nl_error_t *err)
{
	struct vm_libvirt *lv = vm->priv;
	int timeout_ms = vm->qmp_timeout_ms > 0 ? vm->qmp_timeout_ms : VM_QMP_TIMEOUT_MS_DEFAULT;
	pthread_condattr_t attr;
	sigset_t all, old;
	pthread_t thread;
	uint64_t gone_deadline;
	bool gone;
	int rc;

	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &attr);
	pthread_condattr_destroy(&attr);
	virDomainRef(lv->dom);
	c->dom = lv->dom;
	/* like the event loop thread: every signal blocked, they stay with the supervisor loop */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&thread, NULL, libvirt_call_thread, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		libvirt_call_free(c);
		return nl_error(err, rc, "%s: start a thread for the libvirt call", what);
	}
	pthread_detach(thread);
	if (libvirt_call_wait(c, now_ms() + (uint64_t)timeout_ms))
		return 0;
	/* c is the worker's now: only the pid and the message below are used */
	transcript(lv, "!!", "no reply in time: killing L0's QEMU");
	if (lv->pid > 0 && vm_pid_alive(lv->pid))
		(void)kill(lv->pid, SIGKILL);
	gone_deadline = now_ms() + CALL_AFTER_KILL_MS;
	while (vm_pid_alive(lv->pid) && now_ms() < gone_deadline)
		vm_sleep_ms(20);
	gone = !vm_pid_alive(lv->pid);
	nl_error(err, 0, "%s: L0's QEMU (pid %d) did not answer within %d ms; nestlab killed it%s, since a libvirt "
		 "call cannot be cancelled. A guest may keep QEMU busy, or QEMU is stopped (SIGSTOP) or hung; see %s",
		 what, (int)lv->pid, timeout_ms, gone ? "" : " (it is still there)", lv->domain_log);
	(*err)->errnum = ETIMEDOUT;
	return -1;
}

/* ---- ops ---------------------------------------------------------------------------------------- */

static void libvirt_release(struct vm *vm);

/* libvirt_create_error() - a failed virDomainCreateXML: libvirt's message, QEMU's log, the XML */
static int libvirt_create_error(struct vm_libvirt *lv, nl_error_t *err)
{
	cleanup_free char *tail = vm_file_tail(lv->domain_log, DOMAIN_LOG_TAIL_LINES);

	return nl_error(err, EIO, "create the domain %s on %s: %s%s%s\nsee %s and %s", lv->domain_name, lv->uri,
			libvirt_error_message(), tail ? "\nQEMU's log ends with:\n" : "", tail ? tail : "",
			lv->domain_log, lv->xml_path);
}

/*
 * libvirt_start() - prepare the embedded root, start the event loop, connect, write RUN/l1-domain.xml and
 * create the transient domain (paused when asked); the error names QEMU's log and the XML
 */
static int libvirt_start(struct vm *vm, const struct plan *plan, nl_error_t *err)
{
	cleanup_free char *xml = NULL;
	struct vm_libvirt *lv;
	unsigned flags = 0;

	libvirt_release(vm);
	lv = vm->priv = xzalloc(sizeof(*lv));
	lv->pid = -1;
	lv->start_ms = now_ms();
	lv->uri = xstrdup(plan->connect);
	lv->root = embedded_root(plan->connect);
	lv->domain_name = xstrdup(plan->domain_name);
	lv->domain_log = lv->root ? xasprintf("%s/log/qemu/%s.log", lv->root, lv->domain_name)
				  : xasprintf("/var/log/libvirt/qemu/%s.log", lv->domain_name);
	lv->xml_path = xasprintf("%s/l1-domain.xml", plan->run_dir);
	free(vm->log_hint);
	vm->log_hint = xstrdup(lv->domain_log);
	{
		cleanup_free char *path = xasprintf("%s/qmp-l0.log", plan->run_dir);

		lv->transcript = fopen(path, "ae");
	}

	if (lv->root && prepare_embedded_root(lv->root, err) < 0)
		return -1;
	if (libvirt_init(plan->run_dir, err) < 0)
		return -1;
	lv->conn = virConnectOpen(lv->uri);
	if (!lv->conn)
		return nl_error(err, EIO, "connect to %s: %s%s", lv->uri, libvirt_error_message(),
				lv->root ? " (the embedded driver needs Debian's libvirt-daemon-driver-qemu: make deps)"
					 : "");
	xml = plan_l1_domain_xml(plan);
	if (rundir_write_file(plan->run_dir, "l1-domain.xml", xml, err) < 0)
		return -1;
	if (vm->start_paused)
		flags |= VIR_DOMAIN_START_PAUSED;
	if (!lv->root)
		flags |= VIR_DOMAIN_START_AUTODESTROY;	/* the embedded driver refuses it */
	lv->dom = virDomainCreateXML(lv->conn, xml, flags);
	if (!lv->dom)
		return libvirt_create_error(lv, err);
	lv->pid = read_pid(lv);
	return 0;
}

/*
 * libvirt_qmp() - {"execute": CMD, "arguments": ARGS} through virDomainQemuMonitorCommand(); libvirt returns
 * QEMU's reply verbatim, error replies included, which become "QMP CMD: CLASS: DESC"
 */
static int libvirt_qmp(struct vm *vm, const char *cmd, json_t *args, json_t **result, nl_error_t *err)
{
	struct vm_libvirt *lv = vm->priv;
	json_t *msg = json_object(), *reply, *error, *ret;
	cleanup_free char *text = NULL;
	char *reply_text = NULL;
	json_error_t jerr;
	int rc;

	json_object_set_new(msg, "execute", json_string(cmd));
	if (args)
		json_object_set(msg, "arguments", args);
	text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (!text)
		return nl_error(err, EINVAL, "QMP %s: arguments cannot be encoded as JSON", cmd);
	transcript(lv, "->", text);
	{
		struct libvirt_call *c = xzalloc(sizeof(*c));
		cleanup_free char *what = xasprintf("QMP %s through libvirt", cmd);

		c->kind = CALL_MONITOR_COMMAND;
		c->command = xstrdup(text);
		if (libvirt_call(vm, c, what, err) < 0)
			return -1;
		if (c->rc < 0) {
			transcript(lv, "!!", c->message);
			nl_error(err, EIO, "%s: %s", what, c->message);
			libvirt_call_free(c);
			return -1;
		}
		reply_text = c->reply;
		c->reply = NULL;
		libvirt_call_free(c);
	}
	transcript(lv, "<-", reply_text ? reply_text : "(no reply)");
	reply = reply_text ? json_loads(reply_text, 0, &jerr) : NULL;
	free(reply_text);
	if (!json_is_object(reply)) {
		json_decref(reply);
		return nl_error(err, EPROTO, "QMP %s: libvirt passed on a reply that is not a JSON object", cmd);
	}
	error = json_object_get(reply, "error");
	ret = json_object_get(reply, "return");
	if (error) {
		const char *class = json_string_value(json_object_get(error, "class"));
		const char *desc = json_string_value(json_object_get(error, "desc"));

		rc = nl_error(err, EIO, "QMP %s: %s: %s", cmd, class ? class : "Error", desc ? desc : "(no description)");
	} else if (!ret) {
		rc = nl_error(err, EPROTO, "QMP %s: the reply has neither \"return\" nor \"error\"", cmd);
	} else {
		if (result)
			*result = json_incref(ret);
		rc = 0;
	}
	json_decref(reply);
	return rc;
}

/* libvirt_resume() - virDomainResume() ("cont" on the monitor), within vm->qmp_timeout_ms */
static int libvirt_resume(struct vm *vm, nl_error_t *err)
{
	struct vm_libvirt *lv = vm->priv;
	struct libvirt_call *c = xzalloc(sizeof(*c));
	cleanup_free char *what = xasprintf("virDomainResume %s", lv->domain_name);
	int rc;

	c->kind = CALL_RESUME;
	if (libvirt_call(vm, c, what, err) < 0)
		return -1;
	rc = c->rc < 0 ? nl_error(err, EIO, "%s: %s", what, c->message) : 0;
	libvirt_call_free(c);
	return rc;
}

/*
 * libvirt_destroy() - destroy the domain (libvirt sends SIGTERM, then SIGKILL after its own grace) and
 * wait until QEMU is gone; a domain that already vanished (QEMU crashed, stopped before) is fine
 */
static void libvirt_destroy(struct vm *vm)
{
	struct vm_libvirt *lv = vm->priv;

	if (!lv || !lv->dom)
		return;
	if (virDomainIsActive(lv->dom) == 1)
		(void)virDomainDestroy(lv->dom);
	virDomainFree(lv->dom);
	lv->dom = NULL;
	if (lv->pid > 0)
		(void)wait_pid_gone(lv->pid, PID_GONE_TIMEOUT_MS);
}

/*
 * libvirt_stop() - virDomainDestroyFlags(GRACEFUL): SIGTERM only, which QEMU answers by quitting; libvirt
 * waits for it on its own clock (about 10 s), so @grace_ms only chooses between graceful (> 0) and
 * immediate (0). If QEMU does not go, the forced destroy follows.
 */
static int libvirt_stop(struct vm *vm, unsigned grace_ms, nl_error_t *err)
{
	struct vm_libvirt *lv = vm->priv;
	pid_t pid;

	if (!lv || !lv->dom)
		return 0;
	pid = lv->pid;
	if (grace_ms > 0 && virDomainIsActive(lv->dom) == 1)
		(void)virDomainDestroyFlags(lv->dom, VIR_DOMAIN_DESTROY_GRACEFUL);
	libvirt_destroy(vm);
	if (pid > 0 && vm_pid_alive(pid))
		return nl_error(err, EBUSY, "QEMU (pid %d) of domain %s is still running after destroy; kill it "
				"by hand (kill -9 %d)", (int)pid, lv->domain_name, (int)pid);
	return 0;
}

static void libvirt_release(struct vm *vm)
{
	struct vm_libvirt *lv = vm->priv;

	if (!lv)
		return;
	libvirt_destroy(vm);
	if (lv->conn)
		virConnectClose(lv->conn);
	if (lv->transcript)
		fclose(lv->transcript);
	free(lv->uri);
	free(lv->root);
	free(lv->domain_name);
	free(lv->domain_log);
	free(lv->xml_path);
	free(lv);
	vm->priv = NULL;
}

static bool libvirt_running(struct vm *vm)
{
	struct vm_libvirt *lv = vm->priv;

	return lv && lv->dom && virDomainIsActive(lv->dom) == 1;
}

static pid_t libvirt_qemu_pid(struct vm *vm)
{
	struct vm_libvirt *lv = vm->priv;

	return lv && lv->dom && vm_pid_alive(lv->pid) ? lv->pid : -1;
}

const struct vm_backend_ops vm_libvirt_ops = {
	.name = "libvirt",
	.start = libvirt_start,
	.qmp = libvirt_qmp,
	.resume = libvirt_resume,
	.stop = libvirt_stop,
	.destroy = libvirt_destroy,
	.release = libvirt_release,
	.running = libvirt_running,
	.qemu_pid = libvirt_qemu_pid,
};
