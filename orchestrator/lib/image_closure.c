/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * image_closure.c - the shared-library closure of ELF programs inside an unpacked root (Debian .debs
 * extracted with dpkg -x), for the L2 initramfs that carries DPDK's testpmd
 *
 * What the dynamic loader would open is read from each file's program headers and dynamic section (ELF
 * gABI, "Program Header" and "Dynamic Section"; System V AMD64 psABI): PT_INTERP names the loader,
 * DT_NEEDED the libraries, DT_RUNPATH (or the older DT_RPATH when there is no DT_RUNPATH) where to look
 * first, with $ORIGIN the object's directory. Then come the system directories of Debian's x86-64
 * glibc, in ld.so's order (`ld.so --help`, "Shared library search path"). A soname that is already
 * resolved is not looked up again, as ld.so reuses a loaded object.
 *
 * Every path is resolved inside the root, never on the host: an absolute symlink target
 * (lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/...) is taken relative to the root, and every
 * symlink met on the way (a file's or a directory's) becomes an entry of its own, so that the same
 * names work in the initramfs. The files are untrusted input: a malformed ELF is an error, never a crash.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"

#define CLOSURE_MAX_SYMLINKS 40		/* ld.so and the kernel give up after as many (ELOOP) */
#define CLOSURE_MAX_ENTRIES 4096

/* Debian's ld.so searches these after RUNPATH (no /etc/ld.so.cache in the initramfs) */
static const char *const system_dirs[] = {
	"lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib", "usr/lib",
};

/* ---- ELF --------------------------------------------------------------------------------------- */

/* elf_string() - the NUL-terminated string at @off of the string table [@tab, @tab + @tab_len) */
static const char *elf_string(const uint8_t *buf, uint64_t tab, uint64_t tab_len, uint64_t off)
{
	const char *s = (const char *)buf + tab + off;

	if (off >= tab_len || !memchr(s, '\0', tab_len - off))
		return NULL;
	return s;
}

/* vaddr_to_offset() - the file offset of virtual address @vaddr, through the PT_LOAD segments */
static bool vaddr_to_offset(const Elf64_Phdr *ph, size_t n, uint64_t vaddr, uint64_t *off)
{
	for (size_t i = 0; i < n; i++)
		if (ph[i].p_type == PT_LOAD && vaddr >= ph[i].p_vaddr && vaddr - ph[i].p_vaddr < ph[i].p_filesz) {
			*off = vaddr - ph[i].p_vaddr + ph[i].p_offset;
			return true;
		}
	return false;
}

/* dynamic_section() - DT_NEEDED, DT_RUNPATH and DT_RPATH of the PT_DYNAMIC segment @dyn_ph */
static int dynamic_section(const uint8_t *buf, size_t len, const Elf64_Phdr *ph, size_t n, const Elf64_Phdr *dyn_ph,
			   struct image_elf_deps *out, nl_error_t *err)
{
	size_t count = dyn_ph->p_filesz / sizeof(Elf64_Dyn);
	uint64_t strtab = 0, strsz = 0, tab_off;
	bool have_tab = false, have_sz = false;
	Elf64_Dyn d;

	if (dyn_ph->p_offset > len || dyn_ph->p_filesz > len - dyn_ph->p_offset)
		return nl_error(err, EINVAL, "PT_DYNAMIC lies outside the file");
	for (size_t i = 0; i < count; i++) {
		memcpy(&d, buf + dyn_ph->p_offset + i * sizeof(d), sizeof(d));
		if (d.d_tag == DT_NULL)
			break;
		if (d.d_tag == DT_STRTAB)
			strtab = d.d_un.d_ptr, have_tab = true;
		else if (d.d_tag == DT_STRSZ)
			strsz = d.d_un.d_val, have_sz = true;
	}
	if (!have_tab || !have_sz)
		return nl_error(err, EINVAL, "dynamic section without DT_STRTAB or DT_STRSZ");
	if (!vaddr_to_offset(ph, n, strtab, &tab_off) || tab_off > len || strsz > len - tab_off)
		return nl_error(err, EINVAL, "DT_STRTAB 0x%llx lies outside the file", (unsigned long long)strtab);
	for (size_t i = 0; i < count; i++) {
		const char *s;

		memcpy(&d, buf + dyn_ph->p_offset + i * sizeof(d), sizeof(d));
		if (d.d_tag == DT_NULL)
			break;
		if (d.d_tag != DT_NEEDED && d.d_tag != DT_RUNPATH && d.d_tag != DT_RPATH)
			continue;
		s = elf_string(buf, tab_off, strsz, d.d_un.d_val);
		if (!s || !*s || (d.d_tag == DT_NEEDED && strchr(s, '/')))
			return nl_error(err, EINVAL, "dynamic entry %lld: bad string at %llu", (long long)d.d_tag,
					(unsigned long long)d.d_un.d_val);
		if (d.d_tag == DT_NEEDED) {
			strv_push(&out->needed, s);
		} else {
			char **which = d.d_tag == DT_RUNPATH ? &out->runpath : &out->rpath;

			free(*which);
			*which = xstrdup(s);
		}
	}
	return 0;
}

int image_closure_elf_parse(const void *data, size_t len, struct image_elf_deps *out, nl_error_t *err)
{
	const uint8_t *buf = data;
	const Elf64_Phdr *dyn_ph = NULL;
	cleanup_free Elf64_Phdr *ph = NULL;
	Elf64_Ehdr eh;

	*out = (struct image_elf_deps){ .needed = xcalloc(1, sizeof(char *)) };
	if (len < sizeof(eh) || memcmp(buf, ELFMAG, SELFMAG))
		return nl_error(err, EINVAL, "not an ELF file");
	memcpy(&eh, buf, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
		return nl_error(err, EINVAL, "not an x86-64 ELF (64-bit, little endian)");
	if (eh.e_phnum && (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > len ||
			   (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff))
		return nl_error(err, EINVAL, "program headers lie outside the file");
	ph = xcalloc(eh.e_phnum ? eh.e_phnum : 1, sizeof(*ph));
	if (eh.e_phnum)
		memcpy(ph, buf + eh.e_phoff, (size_t)eh.e_phnum * sizeof(*ph));
	for (size_t i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_DYNAMIC) {
			dyn_ph = &ph[i];
		} else if (ph[i].p_type == PT_INTERP) {
			const char *s = (const char *)buf + ph[i].p_offset;

			if (ph[i].p_offset > len || ph[i].p_filesz > len - ph[i].p_offset || ph[i].p_filesz < 2 ||
			    s[ph[i].p_filesz - 1] != '\0' || strlen(s) != ph[i].p_filesz - 1 || s[0] != '/')
				return nl_error(err, EINVAL, "bad PT_INTERP");
			free(out->interp);
			out->interp = xstrdup(s);
		}
	}
	if (dyn_ph && dynamic_section(buf, len, ph, eh.e_phnum, dyn_ph, out, err) < 0)
		return -1;
	return 0;
}

void image_closure_elf_release(struct image_elf_deps *deps)
{
	strv_free(deps->needed);
	free(deps->interp);
	free(deps->runpath);
	free(deps->rpath);
	*deps = (struct image_elf_deps){ 0 };
}

/* elf_deps_of() - parse the file @path (mapped read-only) */
static int elf_deps_of(const char *path, struct image_elf_deps *out, nl_error_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	void *map;
	int ret;

	*out = (struct image_elf_deps){ 0 };
	if (fd < 0 || fstat(fd, &st) < 0)
		return nl_error(err, errno, "open %s", path);
	if (st.st_size == 0)
		return nl_error(err, EINVAL, "%s: empty file", path);
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return nl_error(err, errno, "map %s", path);
	ret = image_closure_elf_parse(map, (size_t)st.st_size, out, err);
	munmap(map, (size_t)st.st_size);
	if (ret < 0)
		return nl_error_wrap(err, "%s", path);
	return 0;
}

/* ---- paths inside the root ---------------------------------------------------------------------- */

/*
 * normalize() - @path as components without "", "." and ".." (which stops at the root), joined by '/';
 * "" for the root itself
 */
static char *normalize(const char *path)
{
	cleanup_free char *copy = xstrdup(path);
	cleanup_strv char **comps = xcalloc(1, sizeof(char *));
	struct strbuf sb = STRBUF_INIT;
	size_t n = 0;

	for (char *save = NULL, *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			if (n) {
				free(comps[--n]);
				comps[n] = NULL;
			}
			continue;
		}
		strv_push(&comps, c);
		n++;
	}
	strbuf_puts(&sb, "");
	for (size_t i = 0; i < n; i++)
		strbuf_printf(&sb, "%s%s", i ? "/" : "", comps[i]);
	return strbuf_detach(&sb);
}

/* has_word() - @strv holds @s */
static bool has_word(char *const *strv, const char *s)
{
	for (size_t i = 0; strv && strv[i]; i++)
		if (!strcmp(strv[i], s))
			return true;
	return false;
}

/* closure_find() - the entry named @rel, or NULL */
static struct image_closure_entry *closure_find(const struct image_closure *cl, const char *rel)
{
	for (size_t i = 0; i < cl->count; i++)
		if (!strcmp(cl->entries[i].rel, rel))
			return &cl->entries[i];
	return NULL;
}

/* closure_add() - a file (@target NULL) or symlink entry, once */
static int closure_add(struct image_closure *cl, const char *rel, const char *target, unsigned mode, nl_error_t *err)
{
	struct image_closure_entry *e;

	if (closure_find(cl, rel))
		return 0;
	if (cl->count >= CLOSURE_MAX_ENTRIES)
		return nl_error(err, E2BIG, "more than %d files in the closure", CLOSURE_MAX_ENTRIES);
	cl->entries = xrealloc(cl->entries, (cl->count + 1) * sizeof(*cl->entries));
	e = &cl->entries[cl->count++];
	*e = (struct image_closure_entry){ .rel = xstrdup(rel), .link_target = target ? xstrdup(target) : NULL,
					   .mode = mode };
	return 0;
}

/**
 * resolve() - follow @rel inside @root to a regular file, recording every symlink met on the way
 * @root:	the unpacked root (host path)
 * @rel:	path relative to it (a leading '/' is the root)
 * @links:	"name\ntarget" of each symlink met (appended; the caller commits them on success)
 * @file:	the regular file's path relative to @root (caller frees)
 * @mode:	its mode bits
 * @err:	ENOENT when a component does not exist (the caller may look elsewhere), ELOOP, not a file
 *
 * Return: 0 or -1.
 */
static int resolve(const char *root, const char *rel, char ***links, char **file, unsigned *mode, nl_error_t *err)
{
	cleanup_free char *cur = normalize(rel);
	unsigned hops = 0;

restart:
	for (size_t end = 0;;) {
		cleanup_free char *prefix = NULL, *host = NULL;
		size_t next = end + strcspn(cur + end, "/");
		struct stat st;

		prefix = xstrndup(cur, next);
		host = xasprintf("%s/%s", root, prefix);
		if (!*prefix || lstat(host, &st) < 0)
			return nl_error(err, *prefix ? errno : EISDIR, "%s: %s", rel, *prefix ? "not found" : "the root");
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t n = readlink(host, target, sizeof(target) - 1);
			cleanup_free char *dir = xstrdup(prefix);
			char *slash = strrchr(dir, '/');
			char *joined;

			if (n <= 0)
				return nl_error(err, errno ? errno : EINVAL, "readlink %s", host);
			target[n] = '\0';
			if (++hops > CLOSURE_MAX_SYMLINKS)
				return nl_error(err, ELOOP, "%s: too many symbolic links", rel);
			strv_pushf(links, "%s\n%s", prefix, target);
			if (slash)
				*slash = '\0';
			joined = xasprintf("%s/%s%s", target[0] == '/' || !slash ? "" : dir, target, cur + next);
			free(cur);
			cur = normalize(joined);
			free(joined);
			goto restart;
		}
		if (!cur[next]) {
			if (!S_ISREG(st.st_mode))
				return nl_error(err, EINVAL, "%s: not a regular file", rel);
			*file = xstrdup(cur);
			*mode = st.st_mode & 0111 ? 0755 : 0644;
			return 0;
		}
		if (!S_ISDIR(st.st_mode))
			return nl_error(err, ENOTDIR, "%s: %s is not a directory", rel, prefix);
		end = next + 1;
	}
}

/* commit() - record the symlinks @links and the file @file with @mode */
static int commit(struct image_closure *cl, char **links, const char *file, unsigned mode, nl_error_t *err)
{
	for (size_t i = 0; links && links[i]; i++) {
		char *nl = strchr(links[i], '\n');

		*nl = '\0';
		if (closure_add(cl, links[i], nl + 1, 0777, err) < 0)
			return -1;
	}
	return closure_add(cl, file, NULL, mode, err);
}

/* ---- the closure ---------------------------------------------------------------------------------- */

/* search_dirs() - where ld.so looks for the DT_NEEDED of @deps, an object in directory @origin */
static char **search_dirs(const struct image_elf_deps *deps, const char *origin)
{
	char **dirs = xcalloc(1, sizeof(char *));
	const char *path = deps->runpath ? deps->runpath : deps->rpath;
	cleanup_free char *copy = path ? xstrdup(path) : NULL;

	for (char *save = NULL, *d = copy ? strtok_r(copy, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save)) {
		const char *rest = NULL;

		if (!strncmp(d, "$ORIGIN", 7))
			rest = d + 7;
		else if (!strncmp(d, "${ORIGIN}", 9))
			rest = d + 9;
		if (rest)
			strv_pushf(&dirs, "%s%s", origin, rest);
		else if (d[0] == '/')
			strv_push(&dirs, d);
		/* relative RUNPATH entries are relative to the process's cwd: not resolvable here, skipped */
	}
	for (size_t i = 0; i < ARRAY_SIZE(system_dirs); i++)
		strv_pushf(&dirs, "/%s", system_dirs[i]);
	return dirs;
}

/**
 * find_needed() - resolve DT_NEEDED @soname of @who in @dirs; commit it and queue the file
 * @cl, @root:	closure and root
 * @who:	the object that needs it (for the message)
 * @soname:	the library name
 * @dirs:	search directories (absolute, inside the root)
 * @queue:	files still to scan
 * @found:	"soname\nfile" of every resolved soname
 * @err:	the library is in none of @dirs
 */
static int find_needed(struct image_closure *cl, const char *root, const char *who, const char *soname, char **dirs,
		       char ***queue, char ***found, nl_error_t *err)
{
	size_t len = strlen(soname);

	for (size_t i = 0; *found && (*found)[i]; i++)
		if (!strncmp((*found)[i], soname, len) && (*found)[i][len] == '\n')
			return 0;	/* loaded already: ld.so reuses it */
	for (size_t i = 0; dirs[i]; i++) {
		cleanup_free char *cand = xasprintf("%s/%s", dirs[i], soname);
		cleanup_strv char **links = xcalloc(1, sizeof(char *));
		cleanup_free char *file = NULL;
		cleanup_error nl_error_t miss = NULL;
		unsigned mode;

		if (resolve(root, cand, &links, &file, &mode, &miss) < 0) {
			if (miss->errnum == ENOENT || miss->errnum == ENOTDIR)
				continue;
			*err = miss;
			miss = NULL;
			return -1;
		}
		if (commit(cl, links, file, mode, err) < 0)
			return -1;
		strv_pushf(found, "%s\n%s", soname, file);
		strv_push(queue, file);
		return 0;
	}
	{
		struct strbuf where = STRBUF_INIT;
		int ret;

		for (size_t i = 0; dirs[i]; i++)
			strbuf_printf(&where, "%s%s", i ? " " : "", dirs[i]);
		ret = nl_error(err, ENOENT, "/%s needs %s, which is in none of %s", who, soname, where.str);
		strbuf_release(&where);
		return ret;
	}
}

int image_closure_compute(const char *root, char *const *roots, struct image_closure *out, nl_error_t *err)
{
	cleanup_strv char **queue = xcalloc(1, sizeof(char *));
	cleanup_strv char **found = xcalloc(1, sizeof(char *));
	cleanup_strv char **scanned = xcalloc(1, sizeof(char *));

	*out = (struct image_closure){ 0 };
	for (size_t i = 0; roots && roots[i]; i++) {
		cleanup_strv char **links = xcalloc(1, sizeof(char *));
		cleanup_free char *file = NULL;
		unsigned mode;

		if (resolve(root, roots[i], &links, &file, &mode, err) < 0 || commit(out, links, file, mode, err) < 0)
			goto fail;
		strv_push(&queue, file);
	}
	/* breadth first, in the order ld.so loads: an object's DT_NEEDED before theirs */
	for (size_t q = 0; queue[q]; q++) {
		struct image_elf_deps deps;
		cleanup_free char *host = xasprintf("%s/%s", root, queue[q]);
		cleanup_free char *origin = NULL;
		cleanup_strv char **dirs = NULL;
		int ret = 0;

		if (has_word(scanned, queue[q]))
			continue;
		strv_push(&scanned, queue[q]);
		if (elf_deps_of(host, &deps, err) < 0)
			goto fail;
		origin = xasprintf("/%s", queue[q]);
		*strrchr(origin, '/') = '\0';
		dirs = search_dirs(&deps, origin);
		if (deps.interp) {
			cleanup_strv char **links = xcalloc(1, sizeof(char *));
			cleanup_free char *file = NULL;
			unsigned mode;

			ret = resolve(root, deps.interp, &links, &file, &mode, err);
			if (ret < 0)
				nl_error_wrap(err, "%s: its loader", queue[q]);
			else if ((ret = commit(out, links, file, mode, err)) == 0)
				strv_push(&queue, file);
		}
		for (size_t i = 0; ret == 0 && deps.needed[i]; i++)
			ret = find_needed(out, root, queue[q], deps.needed[i], dirs, &queue, &found, err);
		image_closure_elf_release(&deps);
		if (ret < 0)
			goto fail;
	}
	qsort(out->entries, out->count, sizeof(*out->entries), image_closure_entry_cmp);
	return 0;
fail:
	image_closure_release(out);
	return -1;
}

int image_closure_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct image_closure_entry *)a)->rel, ((const struct image_closure_entry *)b)->rel);
}

void image_closure_release(struct image_closure *cl)
{
	for (size_t i = 0; i < cl->count; i++) {
		free(cl->entries[i].rel);
		free(cl->entries[i].link_target);
	}
	free(cl->entries);
	*cl = (struct image_closure){ 0 };
}
