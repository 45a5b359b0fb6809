/* The idle process's memory given back (da/memtrim.h). */
#include "da/memtrim.h"

#include <link.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* The program's PT_LOAD segments without PF_W (code, read-only data; the
 * relocated ones are in a writable segment until PT_GNU_RELRO protects
 * them, so they are not among these): their whole pages are unmapped.
 * The first object dl_iterate_phdr() shows is the program itself; the
 * shared libraries of a host build are left alone. */
static int memtrim_ro(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t pg = *(const uintptr_t *)arg;

	(void)size;
	for (size_t i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo, hi;

		if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W))
			continue;
		lo = (info->dlpi_addr + ph->p_vaddr + pg - 1) & ~(pg - 1);
		hi = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz) & ~(pg - 1);
		if (hi > lo)
			madvise((void *)lo, hi - lo, MADV_DONTNEED);
	}
	return 1;
}

void da_mem_trim(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	uintptr_t upg;

#ifdef __GLIBC__
	malloc_trim(0);
#endif
	if (pg <= 0)
		return;
	upg = (uintptr_t)pg;
	dl_iterate_phdr(memtrim_ro, &upg);
}
