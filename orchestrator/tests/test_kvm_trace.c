/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_kvm_trace.c - unit tests for kvm_trace.c: the summary of how L2's vCPU last left L1's KVM, read
 * from ftrace text as Linux 6.12 writes it, and the shell text that starts and saves the trace
 */
#include <stdlib.h>
#include <string.h>

#include "kvm_trace.h"
#include "test.h"

/* the end of a trace where L2 triple-faulted: SVM exit "shutdown", then KVM_EXIT_SHUTDOWN to QEMU */
static const char triple_fault_trace[] =
	"# tracer: nop\n"
	"#\n"
	" CPU 0/KVM-812     [001] d....    41.501000: kvm_entry: vcpu 0, rip 0xffffffff81a0c4b2\n"
	" CPU 0/KVM-812     [001] d....    41.502000: kvm_exit: vcpu 0 reason npf rip 0xffffffff81a0c4b2 "
	"info1 0x0000000100000004 info2 0x00000000fee000b0 intr_info 0x00000000 error_code 0x00000000\n"
	" CPU 0/KVM-812     [001] .....    41.502100: kvm_inj_exception: #GP (0x0)\n"
	" CPU 0/KVM-812     [001] d....    41.503000: kvm_exit: vcpu 0 reason shutdown rip 0xffffffff81000e10 "
	"info1 0x0000000000000000 info2 0x0000000000000000 intr_info 0x00000000 error_code 0x00000000\n"
	" CPU 0/KVM-812     [001] .....    41.503010: kvm_userspace_exit: reason KVM_EXIT_SHUTDOWN (8)\n";

static int test_summary_triple_fault(void)
{
	cleanup_free char *s = kvm_trace_summary(triple_fault_trace);

	CHECK_STR(s, "last exit of L2's vCPU: shutdown at rip 0xffffffff81000e10 (L1 time 41.503000 s), a triple "
		     "fault in L2; last exit to L2's QEMU: KVM_EXIT_SHUTDOWN; last exception KVM injected: #GP (0x0)");
	return TEST_PASS;
}

/* an I/O exit to QEMU last (a reset through port 0xcf9, say): no triple fault is claimed */
static int test_summary_io_exit(void)
{
	static const char trace[] =
		" CPU 0/KVM-812 [000] d.... 7.000001: kvm_exit: vcpu 0 reason io rip 0xffffffff8105f1a2 info1 "
		"0x0000000000cf9010 info2 0x0 intr_info 0x00000000 error_code 0x00000000\n"
		" CPU 0/KVM-812 [000] ..... 7.000002: kvm_pio: pio_write at 0xcf9 size 1 count 1 val 0x6\n"
		" CPU 0/KVM-812 [000] ..... 7.000003: kvm_userspace_exit: reason KVM_EXIT_IO (2)\n";
	cleanup_free char *s = kvm_trace_summary(trace);

	CHECK_STR(s, "last exit of L2's vCPU: io at rip 0xffffffff8105f1a2 (L1 time 7.000001 s); last exit to L2's "
		     "QEMU: KVM_EXIT_IO");
	return TEST_PASS;
}

/* no kvm event (empty buffer, header only, unrelated events): no summary */
static int test_summary_none(void)
{
	CHECK(!kvm_trace_summary(""));
	CHECK(!kvm_trace_summary("# tracer: nop\n#\n"));
	CHECK(!kvm_trace_summary(" qemu-1 [000] ..... 1.0: kvm_entry: vcpu 0, rip 0x1\n"));
	/* an event name inside another word is not the event */
	CHECK(!kvm_trace_summary(" x [000] ..... 1.0: my_kvm_exit: reason shutdown rip 0x1\n"));
	return TEST_PASS;
}

/* a line cut short (the ring buffer or a hostile L1): fields missing are "?", never a crash */
static int test_summary_truncated(void)
{
	cleanup_free char *a = kvm_trace_summary(" x [000] d.... 3.5: kvm_exit: vcpu 0 reason");
	cleanup_free char *b = kvm_trace_summary("kvm_exit: \n");
	cleanup_free char *c = kvm_trace_summary(" y: kvm_userspace_exit: reason KVM_EXIT_SHUTDOWN");

	CHECK_STR(a, "last exit of L2's vCPU: ? at rip ? (L1 time 3.5 s)");
	CHECK(!b);	/* no " kvm_exit: " with a space before it */
	CHECK_STR(c, "last exit to L2's QEMU: KVM_EXIT_SHUTDOWN");
	return TEST_PASS;
}

/* the scripts name the instance, the buffer size, the file and the line count */
static int test_scripts(void)
{
	cleanup_free char *start = kvm_trace_start_script();
	cleanup_free char *save = kvm_trace_save_script("/run/nestlab/t.txt", 123);

	CHECK_CONTAINS(start, KVM_TRACE_INSTANCE);
	CHECK_CONTAINS(start, "events/kvm/$e/enable");
	CHECK_CONTAINS(start, " kvm_exit ");
	CHECK_CONTAINS(start, "kvm-trace=on");
	CHECK_CONTAINS(save, "tail -n 123 $i/trace >/run/nestlab/t.txt");
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_summary_triple_fault),
	TEST_CASE(test_summary_io_exit),
	TEST_CASE(test_summary_none),
	TEST_CASE(test_summary_truncated),
	TEST_CASE(test_scripts),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
