/* fuzz-knockd-import.c — a knockd.conf through knockd_import.
 *
 * Input: the file's bytes, in a memfd opened by its /proc/self/fd path. The
 * configuration and the warnings go to memory streams. Checked: the result
 * is 0 or 2; warnings are text lines; when the import says it wrote a
 * configuration with a door (0), that configuration loads (config_load)
 * and its patterns compile (parse_new), as t/knockd-import.sh checks with
 * --check-config for the fixtures — unless a door's one-time sequence file
 * cannot be loaded and the import said so. A valid sequence file (mode
 * 0600, as logknock wants) is at /proc/self/fd/1000 for the inputs to name
 * (one_time_sequences = /proc/self/fd/1000). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "knockd_import.h"
#include "parse.h"

#define SEQ_FD 1000

static int in_fd = -1, yaml_fd = -1;
static char in_path[64], yaml_path[64];

static void make_sequence_file(void)
{
	static const char seqs[] = "# one-time sequences\n#000,8000\n 7000,8000:udp,9000\n 7001:tcp, 7002\n";
	int fd = memfd_create("sequences", MFD_CLOEXEC);
	FUZZ_CHECK(fd >= 0 && fchmod(fd, 0600) == 0);
	FUZZ_CHECK(write(fd, seqs, sizeof seqs - 1) == (ssize_t)(sizeof seqs - 1));
	FUZZ_CHECK(dup2(fd, SEQ_FD) == SEQ_FD);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (in_fd < 0) {
		in_fd = memfd_create("knockd.conf", MFD_CLOEXEC);
		yaml_fd = memfd_create("imported.yaml", MFD_CLOEXEC);
		FUZZ_CHECK(in_fd >= 0 && yaml_fd >= 0);
		snprintf(in_path, sizeof in_path, "/proc/self/fd/%d", in_fd);
		snprintf(yaml_path, sizeof yaml_path, "/proc/self/fd/%d", yaml_fd);
		make_sequence_file();
	}
	FUZZ_CHECK(ftruncate(in_fd, 0) == 0);
	FUZZ_CHECK(size == 0 || pwrite(in_fd, data, size, 0) == (ssize_t)size);

	char *out = NULL, *warn = NULL;
	size_t outlen = 0, warnlen = 0;
	FILE *fo = open_memstream(&out, &outlen), *fw = open_memstream(&warn, &warnlen);
	FUZZ_CHECK(fo && fw);
	int rc = knockd_import(in_path, fo, fw);
	fclose(fo);
	fclose(fw);
	FUZZ_CHECK(rc == 0 || rc == 2);
	FUZZ_CHECK(warnlen == 0 || warn[warnlen - 1] == '\n');
	FUZZ_CHECK(strlen(warn) == warnlen);
	FUZZ_CHECK(strlen(out) == outlen);
	if (rc == 0) {
		FUZZ_CHECK(outlen > 0);
		FUZZ_CHECK(ftruncate(yaml_fd, 0) == 0);
		FUZZ_CHECK(pwrite(yaml_fd, out, outlen, 0) == (ssize_t)outlen);
		struct config cfg;
		char err[512];
		if (config_load(yaml_path, &cfg, err, sizeof err) < 0) {
			/* A sequence file that is missing (or not 0600, ...) is
			 * for the admin to fix; the import warns of it. The
			 * error names the file, an absolute path. */
			if (strstr(err, ": one_time: /") && strstr(warn, ": one_time_sequences: /")) {
				free(out);
				free(warn);
				return 0;
			}
			fprintf(stderr, "imported configuration does not load: %s\n--- configuration:\n%s---\n", err,
				out);
			FUZZ_CHECK(!"the imported configuration loads");
		}
		FUZZ_CHECK(cfg.ndoors >= 1);
		struct parser *p = parse_new(&cfg, err, sizeof err);
		if (!p)
			fprintf(stderr, "parse_new: %s\n", err);
		FUZZ_CHECK(p != NULL);
		parse_free(p);
		config_free(&cfg);
	}
	free(out);
	free(warn);
	return 0;
}
