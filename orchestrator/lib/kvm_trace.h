/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvm_trace.h - what L1's KVM recorded about L2's vCPU, for a run whose L2 vanished
 *
 * Before L2's QEMU starts, L1 enables KVM's tracepoints (events/kvm, arch/x86/kvm/trace.h) in a tracefs
 * instance of its own, so that an L2 that resets or crashes leaves its last exits behind: the run reads the
 * buffer back into RUN/l1-kvm-trace.txt and names the way L2 left (kvm_trace_summary()) in its message.
 */
#ifndef NESTLAB_KVM_TRACE_H
#define NESTLAB_KVM_TRACE_H

/* L1's tracefs instance for the run (tracefs instances: a mkdir makes a separate ring buffer) */
#define KVM_TRACE_INSTANCE "/sys/kernel/tracing/instances/nestlab-kvm"
/* per-CPU ring buffer, KiB: the last seconds of L2's exits at the rates seen here */
#define KVM_TRACE_BUFFER_KB 2048

/*
 * kvm_trace_start_script() - the shell text L1 runs to start the trace (tracefs offers nothing but file
 * writes); prints "kvm-trace=on" or "kvm-trace=off"; caller frees
 */
char *kvm_trace_start_script(void);
/*
 * kvm_trace_save_script() - the shell text that stops the trace and writes its last @lines lines to
 * @path in L1; caller frees
 */
char *kvm_trace_save_script(const char *path, unsigned lines);
/*
 * kvm_trace_summary() - one line on how L2's vCPU last left KVM, from the text of a kvm trace: the last
 * kvm_exit (reason and rip; "shutdown" is a triple fault of L2), the last exit to L2's QEMU
 * (kvm_userspace_exit) and the last exception KVM injected; NULL when @trace holds none of them.
 * Caller frees.
 */
char *kvm_trace_summary(const char *trace);

#endif /* NESTLAB_KVM_TRACE_H */
