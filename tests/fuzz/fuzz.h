/*
 * The libFuzzer entry points a harness defines.  tests/fuzz/CMakeLists.txt
 * force-includes this header into every harness, so a harness needs no
 * prototype of its own (we build with -Wmissing-prototypes).
 *
 * LLVMFuzzerTestOneInput() must accept any input without crashing, leaking
 * or reading outside [data, data + size); it returns 0.  The optional
 * LLVMFuzzerInitialize() runs once before the first input.
 */
#ifndef CR_FUZZ_H
#define CR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
