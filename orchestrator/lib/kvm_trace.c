/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvm_trace.c - L1's KVM trace of L2's vCPU: the scripts that start and save it, and the summary of how
 * L2 last left KVM (see kvm_trace.h)
 *
 * The lines are ftrace's text output of the kvm events of Linux 6.12 (arch/x86/kvm/trace.h):
 *	CPU 0/KVM-812 [001] d.... 41.5: kvm_exit: vcpu 0 reason shutdown rip 0xffffffff8100 info1 0x0 ...
 *	CPU 0/KVM-812 [001] ..... 41.5: kvm_userspace_exit: reason KVM_EXIT_SHUTDOWN (8)
 *	CPU 0/KVM-812 [001] ..... 41.4: kvm_inj_exception: #PF (0x2)
 * An SVM exit reason "shutdown" (SVM_EXIT_SHUTDOWN, AMD APM vol. 2, 15.13) is a triple fault in L2.
 */
#include <stdlib.h>
#include <string.h>

#include "kvm_trace.h"
#include "util.h"

/*
 * the events kept: each exit and entry of L2's vCPU, what KVM injected, emulated or handed to L2's QEMU
 * (not all of events/kvm: the rest, LAPIC and halt-polling details, would fill the buffer faster)
 */
static const char kvm_trace_events[] = "kvm_entry kvm_exit kvm_inj_exception kvm_inj_virq kvm_page_fault "
				       "kvm_emulate_insn kvm_mmio kvm_pio kvm_msr kvm_userspace_exit";

char *kvm_trace_start_script(void)
{
	return xasprintf("t=/sys/kernel/tracing; [ -d $t/instances ] || mount -t tracefs nodev $t 2>/dev/null;"
			 " i=%s; if mkdir -p $i 2>/dev/null && [ -f $i/events/kvm/kvm_exit/enable ]"
			 " && echo %u >$i/buffer_size_kb; then"
			 " for e in %s; do [ -f $i/events/kvm/$e/enable ] && echo 1 >$i/events/kvm/$e/enable; done;"
			 " echo 1 >$i/tracing_on && echo kvm-trace=on; else echo kvm-trace=off; fi",
			 KVM_TRACE_INSTANCE, KVM_TRACE_BUFFER_KB, kvm_trace_events);
}

char *kvm_trace_save_script(const char *path, unsigned lines)
{
	return xasprintf("i=%s; [ -d $i ] && echo 0 >$i/tracing_on && tail -n %u $i/trace >%s", KVM_TRACE_INSTANCE,
			 lines, path);
}

/* last_event() - the text after "@event: " on the last line of @trace that has it, up to the line's end */
static char *last_event(const char *trace, const char *event, char **stamp)
{
	cleanup_free char *tag = xasprintf(" %s: ", event);
	const char *found = NULL, *line_start = NULL;

	for (const char *line = trace; line && *line;) {
		size_t n = strcspn(line, "\n");
		const char *hit = memmem(line, n, tag, strlen(tag));

		if (hit) {
			found = hit;
			line_start = line;
		}
		line += n + (line[n] == '\n');
	}
	if (!found)
		return NULL;
	if (stamp) {
		/* "... 41.512345: kvm_exit: ": the word before the event name, without its colon */
		const char *end = found;
		const char *begin = end;

		while (begin > line_start && begin[-1] != ' ')
			begin--;
		*stamp = end > begin && end[-1] == ':' ? xstrndup(begin, (size_t)(end - 1 - begin)) : NULL;
	}
	found += strlen(tag);
	return xstrndup(found, strcspn(found, "\n"));
}

/* word_after() - the text after @key in @text up to @stop (or the end); NULL when @key is missing */
static char *word_after(const char *text, const char *key, const char *stop)
{
	const char *p = strstr(text, key);
	const char *end;

	if (!p)
		return NULL;
	p += strlen(key);
	end = stop ? strstr(p, stop) : NULL;
	return end ? xstrndup(p, (size_t)(end - p)) : xstrndup(p, strcspn(p, " "));
}

char *kvm_trace_summary(const char *trace)
{
	cleanup_free char *stamp = NULL;
	cleanup_free char *exit_line = last_event(trace, "kvm_exit", &stamp);
	cleanup_free char *user_line = last_event(trace, "kvm_userspace_exit", NULL);
	cleanup_free char *exc_line = last_event(trace, "kvm_inj_exception", NULL);
	struct strbuf sb = STRBUF_INIT;

	if (!exit_line && !user_line && !exc_line)
		return NULL;
	if (exit_line) {
		cleanup_free char *reason = word_after(exit_line, " reason ", " rip ");
		cleanup_free char *rip = word_after(exit_line, " rip ", NULL);

		strbuf_printf(&sb, "last exit of L2's vCPU: %s at rip %s", reason ? reason : "?", rip ? rip : "?");
		if (stamp)
			strbuf_printf(&sb, " (L1 time %s s)", stamp);
		if (reason && !strcmp(reason, "shutdown"))
			strbuf_puts(&sb, ", a triple fault in L2");
	}
	if (user_line) {
		cleanup_free char *reason = word_after(user_line, "reason ", " (");

		strbuf_printf(&sb, "%slast exit to L2's QEMU: %s", sb.len ? "; " : "", reason ? reason : user_line);
	}
	if (exc_line)
		strbuf_printf(&sb, "%slast exception KVM injected: %s", sb.len ? "; " : "", exc_line);
	return strbuf_detach(&sb);
}
