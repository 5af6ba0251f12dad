/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_interrupt_slow.c - (make check-slow) the teardown budget and kill -9 cases of test_interrupt.c
 *
 * The same file, built with TEST_INTERRUPT_SLOW: its other cases run in make check. What each case
 * checks is described at the top of test_interrupt.c.
 */
#define TEST_INTERRUPT_SLOW 1
#include "../test_interrupt.c"
