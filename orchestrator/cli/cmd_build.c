/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_build.c - `nestlab build qemu|linux|all` and `nestlab images`
 *
 * Not implemented yet (issues 3 and 4): both say so and fail, rather than pretend.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

int cmd_build(int argc, char **argv, nl_error_t *err)
{
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: nestlab build qemu|linux|all\n\n"
		       "Build the patched QEMU and Linux from source (patches/qemu, patches/linux), cached by\n"
		       "content under $NESTLAB_CACHE. Not implemented yet: tracked by issue 3.\n");
		return NL_EXIT_OK;
	}
	nl_error(err, 0, "build: not implemented yet (issue 3: patched QEMU and Linux from source)");
	return -NL_EXIT_SETUP;
}

int cmd_images(int argc, char **argv, nl_error_t *err)
{
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: nestlab images\n\n"
		       "Build the L1 and L2 images (images/l1, images/l2), cached by content under\n"
		       "$NESTLAB_CACHE. Not implemented yet: tracked by issue 4.\n");
		return NL_EXIT_OK;
	}
	nl_error(err, 0, "images: not implemented yet (issue 4: L1 and L2 images and the guest agent)");
	return -NL_EXIT_SETUP;
}
