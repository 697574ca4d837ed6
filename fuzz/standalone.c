/* standalone.c — main() for the fuzz targets without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on each file named on the command line
 * (t/fuzz-regressions.sh replays fuzz/regressions/ and fuzz/seeds/ so). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int main(int argc, char **argv)
{
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			rc = 1;
			continue;
		}
		size_t cap = 4096, n = 0;
		unsigned char *buf = malloc(cap);
		size_t r;
		while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
			n += r;
			if (n == cap) {
				unsigned char *nb = realloc(buf, cap * 2);
				if (!nb) {
					free(buf);
					buf = NULL;
					break;
				}
				buf = nb;
				cap *= 2;
			}
		}
		int bad = ferror(f);
		fclose(f);
		if (!buf || bad) {
			fprintf(stderr, "%s: cannot read\n", argv[i]);
			free(buf);
			rc = 1;
			continue;
		}
		/* An exact-size copy, so that ASan sees reads past the input. */
		unsigned char *exact = malloc(n ? n : 1);
		if (!exact) {
			free(buf);
			return 1;
		}
		memcpy(exact, buf, n);
		free(buf);
		LLVMFuzzerTestOneInput(exact, n);
		free(exact);
	}
	return rc;
}
