/* fuzz-config.c — a YAML configuration through config_load (libyaml), and
 * on success through parse_new (the prefixes and user patterns, PCRE2).
 *
 * Input: the file's bytes, written to a memfd that config_load opens by its
 * /proc/self/fd path. Checked: an error is "PATH:LINE:COL: message"; a
 * loaded configuration stays within the documented limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "apply_proto.h"
#include "config.h"
#include "fuzz.h"
#include "parse.h"

static int memfd = -1;
static char path[64];

static void check_loaded(const struct config *cfg)
{
	FUZZ_CHECK(cfg->path && strcmp(cfg->path, path) == 0);
	FUZZ_CHECK(cfg->state_dir != NULL);
	FUZZ_CHECK(cfg->nprefixes <= 16);
	FUZZ_CHECK(cfg->nprefixes > 0 || cfg->npatterns > 0);
	FUZZ_CHECK(cfg->ndoors >= 1 && cfg->ndoors <= 256);
	for (size_t i = 0; i < cfg->nprefixes; i++)
		FUZZ_CHECK(cfg->prefixes[i] && strlen(cfg->prefixes[i]) <= 64);
	for (size_t i = 0; i < cfg->ndoors; i++) {
		const struct door_conf *d = &cfg->doors[i];
		FUZZ_CHECK(apply_door_name_valid(d->name));
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(cfg->doors[j].name, d->name) != 0);
		if (d->kind == DOOR_SEQUENCE)
			FUZZ_CHECK(d->nseq >= 1 && d->nseq <= 32 && d->seq);
		else if (d->kind == DOOR_ONE_TIME)
			FUZZ_CHECK(d->one_time != NULL);
		else
			FUZZ_CHECK(d->code.key_path && d->code.lo < d->code.hi && d->code.knocks >= 1 &&
				   d->code.knocks <= 16 && d->code.step_us >= 1000000 && d->code.tolerance <= 5);
		FUZZ_CHECK(d->nopen >= 1 && d->nopen <= 32 && d->open);
		FUZZ_CHECK(d->window_us > 0 && d->window_us <= INT64_C(3600000000));
		FUZZ_CHECK(d->dedup_us >= 0 && d->dedup_us <= d->window_us);
		/* The applier protocol carries at most 31536000 seconds. */
		FUZZ_CHECK(d->duration_us > 0 && d->duration_us <= INT64_C(31536000000000));
		FUZZ_CHECK((d->flags_set & d->flags_clear) == 0);
	}
	if (cfg->applier.backend == BACKEND_COMMAND)
		FUZZ_CHECK(cfg->applier.open_argv && cfg->applier.open_argv[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (memfd < 0) {
		memfd = memfd_create("fuzz-config.yaml", MFD_CLOEXEC);
		FUZZ_CHECK(memfd >= 0);
		snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
	}
	FUZZ_CHECK(ftruncate(memfd, 0) == 0);
	FUZZ_CHECK(size == 0 || pwrite(memfd, data, size, 0) == (ssize_t)size);

	struct config cfg;
	char err[512];
	memset(err, 'x', sizeof err);
	if (config_load(path, &cfg, err, sizeof err) < 0) {
		FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
		FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':');
		FUZZ_CHECK(strlen(err) > strlen(path) + 1);
		/* a failed load leaves nothing to free */
		FUZZ_CHECK(cfg.path == NULL && cfg.ndoors == 0 && cfg.doors == NULL);
		config_free(&cfg);
		return 0;
	}
	check_loaded(&cfg);
	struct parser *p = parse_new(&cfg, err, sizeof err);
	if (!p)
		FUZZ_CHECK(err[0] != '\0');
	parse_free(p);
	config_free(&cfg);
	return 0;
}
