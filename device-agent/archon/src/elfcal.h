/*
 * Reading and rewriting the dynamic-linking parts of an ELF executable,
 * for content-addressed linking (archon link, docs/linking.md).  Only the
 * loader's view is used: the ELF header, the program headers, PT_INTERP,
 * PT_DYNAMIC and what it points to (the string table, .gnu.version_r);
 * section headers are only updated when present.  Every file is untrusted
 * input: each offset and count is checked against the buffer before use.
 */
#ifndef AR_ELFCAL_H
#define AR_ELFCAL_H

#include <stddef.h>
#include <stdint.h>

#include "cr/error.h"

enum {
	AR_ELF_MAX_SIZE = 1 << 30,    /* a larger file is refused */
	AR_ELF_MAX_NEEDED = 1024,     /* DT_NEEDED entries of one file */
	AR_ELF_MAX_PHDRS = 256,
	AR_ELF_MAX_DYN = 4096,	      /* entries of PT_DYNAMIC */
	AR_ELF_MAX_VERNEED = 1024,
	AR_ELF_MAX_ALIGN = 2 << 20,   /* the largest PT_LOAD alignment accepted */
	AR_ELF_NAME_MAX = 4096,
};

/* What the loader reads from one file.  Strings are owned by the struct. */
struct ar_elf {
	unsigned eclass;  /* ELFCLASS32 or ELFCLASS64 */
	unsigned edata;	  /* ELFDATA2LSB or ELFDATA2MSB */
	unsigned machine; /* e_machine */
	unsigned etype;	  /* ET_EXEC or ET_DYN */
	char *interp;	  /* PT_INTERP, or NULL */
	char *soname;	  /* DT_SONAME, or NULL */
	char *rpath, *runpath; /* DT_RPATH, DT_RUNPATH, or NULL */
	char **needed;	  /* DT_NEEDED, in order */
	size_t nneeded;
	int has_dynamic;
	/* The glibc build this file comes from ("(Debian GLIBC 2.36-9)
	 * stable release version 2.36"), from the banner ld.so and libc.so.6
	 * carry; NULL when there is none. */
	char *glibc_build;
};

/* Parses buf (len bytes).  0, or -1 with *err saying what is wrong. */
int ar_elf_parse(const uint8_t *buf, size_t len, struct ar_elf *out,
		 struct cr_error **err);
void ar_elf_clear(struct ar_elf *e);

/* "x86_64", "aarch64", "arm", "mips", ...; "em-N" for others (buf). */
const char *ar_elf_machine_name(unsigned machine, char *buf, size_t cap);

/*
 * Rewrites an executable in one pass: PT_INTERP becomes interp (when the
 * file has one), the DT_NEEDED list becomes needed[0..n) (paths), DT_RPATH
 * and DT_RUNPATH are dropped (runpath, when not NULL, becomes the new
 * DT_RUNPATH), DF_1_NODEFLIB is set, and each .gnu.version_r entry whose
 * file is from[i] is renamed to to[i].  The new program header table,
 * interpreter, string table (the old one plus the new names) and dynamic
 * section go into one new read-write PT_LOAD appended at the end, placed
 * so that its file offset and address differ by what the first PT_LOAD's
 * do: the header table is found both by kernels that take AT_PHDR from
 * the first PT_LOAD and by those that look for the segment holding it.
 * Nothing else moves.  *out (caller frees) gets the new file.
 */
int ar_elf_rewrite(const uint8_t *buf, size_t len, const char *interp,
		   char *const *needed, size_t n, const char *runpath,
		   char *const *from, char *const *to, size_t nmap,
		   uint8_t **out, size_t *outlen, struct cr_error **err);

#endif
