/*
 * A device's idle memory (issue 16, bench/device-idle.sh): what a busy
 * stretch used and an idle loop no longer needs stops counting.
 */
#ifndef DA_MEMTRIM_H
#define DA_MEMTRIM_H

/*
 * Returns what the heap freed in its middle to the kernel (glibc gives
 * back only its top by itself) and unmaps the pages of the program's
 * segments that are never written (its code, its read-only data): what
 * only the start or a switch used stops counting, and what runs next is
 * mapped again at its first use, from the page cache (a minor fault;
 * nothing is lost, these pages are the file's).  For a static device
 * binary that is most of its resident memory.
 */
void da_mem_trim(void);

#endif
