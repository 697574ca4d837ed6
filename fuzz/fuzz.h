/* fuzz.h — small helpers shared by the fuzz targets (header only).
 * Every target defines LLVMFuzzerTestOneInput; built with
 * -fsanitize=fuzzer it runs under libFuzzer, linked with standalone.c it
 * replays files (t/fuzz-regressions.sh). */
#ifndef LOGKNOCK_FUZZ_H
#define LOGKNOCK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant the code promises is broken: report and abort, so that
 * libFuzzer saves the input (and the replay test fails). */
#define FUZZ_CHECK(cond)                                                                      \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                              \
		}                                                                             \
	} while (0)

#endif
