/* parse-diff.c — the parser of another revision (old_*, built by fuzz/parse-diff
 * from `git show REV:src/daemon/parse.c` (src/parse.c before
 * the split) with its symbols renamed) against this
 * tree's, line by line: the same verdict, the same reason and, for a knock,
 * the same fields, for six sets of prefixes (among them "", one starting
 * with a space, several) and both formats. Built with -DFUZZ it is a
 * libFuzzer target that aborts at the first difference; without, it reads
 * lines on stdin and counts them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "config.h"
#include "parse.h"
struct parser *old_parse_new(const struct config *cfg, char *err, size_t errlen);
enum parse_result old_parse_line(struct parser *p, enum source_format fmt, const char *line, size_t len,
				 int64_t ref_us, struct knock *out, const char **why);
static char *pf_sets[][4] = {
	{"KNOCK ", NULL}, {"KNOCK ", "DROP ", NULL}, {"", NULL}, {" K", "KNOCK", NULL}, {"IN=", "", NULL},
	{"[x] ", "Nov", NULL},
};
#define NSETS (sizeof pf_sets / sizeof pf_sets[0])
static struct parser *po[NSETS], *pn[NSETS];
static struct config cfg[NSETS];
static long ndiff, nknock, nbad, ntotal;
static void init(void)
{
	setenv("TZ", "Europe/Berlin", 1);
	char err[256];
	for (size_t i = 0; i < NSETS; i++) {
		size_t n = 0;
		while (pf_sets[i][n])
			n++;
		cfg[i].path = "x.yaml";
		cfg[i].prefixes = pf_sets[i];
		cfg[i].nprefixes = n;
		po[i] = old_parse_new(&cfg[i], err, sizeof err);
		pn[i] = parse_new(&cfg[i], err, sizeof err);
		if (!po[i] || !pn[i]) { fprintf(stderr, "%s\n", err); exit(1); }
	}
}
static void one(const char *l, size_t n)
{
	char *b = malloc(n ? n : 1);
	memcpy(b, l, n);
	for (size_t i = 0; i < NSETS; i++)
		for (int f = 0; f < 2; f++) {
			struct knock a, c;
			memset(&a, 0x55, sizeof a);
			memset(&c, 0x55, sizeof c);
			const char *wa, *wc;
			enum parse_result ra = old_parse_line(po[i], f, b, n, 1795704453000000LL, &a, &wa);
			enum parse_result rc = parse_line(pn[i], f, b, n, 1795704453000000LL, &c, &wc);
			ntotal++;
			int same = ra == rc && strcmp(wa, wc) == 0 && (ra != PARSE_KNOCK || memcmp(&a, &c, sizeof a) == 0);
			if (ra == PARSE_KNOCK) nknock++;
			if (ra == PARSE_BAD) nbad++;
			if (!same) {
				ndiff++;
				fprintf(stderr, "DIFF set %zu fmt %d: old %d (%s) new %d (%s): %.*s\n", i, f, ra, wa, rc, wc, (int)n, l);
#ifdef FUZZ
				abort();
#endif
			}
		}
	free(b);
}
#ifdef FUZZ
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static int done;
	if (!done) { init(); done = 1; }
	const char *s = (const char *)d, *e = s + n;
	while (s <= e) {
		const char *nl = memchr(s, '\n', (size_t)(e - s));
		if (!nl) nl = e;
		one(s, (size_t)(nl - s));
		s = nl + 1;
	}
	return 0;
}
#else
int main(int argc, char **argv)
{
	init();
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, stdin)) > 0) {
		if (line[n - 1] == '\n') n--;
		one(line, (size_t)n);
	}
	printf("%ld parses, %ld knocks, %ld bad, %ld differences\n", ntotal, nknock, nbad, ndiff);
	return ndiff != 0;
}
#endif
