/*
 * A device's idle memory (issue 16, bench/device-idle.sh): what a busy
 * stretch used and an idle loop no longer needs stops counting.
 */
#ifndef DA_MEMTRIM_H
#define DA_MEMTRIM_H

/*
 * Returns what the heap freed in its middle to the kernel (glibc gives
 * back only its top by itself).  The program's code and read-only pages
 * are left mapped: they are clean pages of the file, which the kernel
 * reclaims under memory pressure by itself, and unmapping them by hand
 * would only move them out of the RSS figure while every wake-up faulted
 * them back in.
 */
void da_mem_trim(void);

#endif
