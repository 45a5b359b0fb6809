/* The idle process's memory given back (da/memtrim.h). */
#include "da/memtrim.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

void da_mem_trim(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}
