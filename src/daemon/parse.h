/* parse.h — one log line in, one knock out (or "not a knock").
 * The parser knows nothing of doors or of where a line came from. */
#ifndef LOGKNOCK_PARSE_H
#define LOGKNOCK_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "knock.h"

enum parse_result {
	PARSE_NONE = 0,		/* not a knock line: other prefix, other tag, noise */
	PARSE_KNOCK = 1,	/* *out is filled in */
	PARSE_BAD = -1,		/* looked like a knock line but a field is malformed or
				   out of range, or the protocol cannot knock; *why says which */
};

struct parser;

/* Compiles the built-in patterns for the configured prefixes and the user's
 * patterns (JIT). Returns NULL with err as "FILE:LINE:COL: message" for a
 * bad user pattern. */
struct parser *parse_new(const struct config *cfg, char *err, size_t errlen);
void parse_free(struct parser *p);

/* Parses one line (without its newline; need not be NUL-terminated).
 * ref_us is the reference time: the time a line without a timestamp gets,
 * and the point before which a year-less RFC 3164 stamp is placed (now, or
 * a replayed file's mtime). Does not allocate. */
enum parse_result parse_line(struct parser *p, enum source_format fmt, const char *line, size_t len,
			     int64_t ref_us, struct knock *out, const char **why);

/* A string that every line parse_line would not call plain "not a knock
 * line" contains (the one prefix), so that a reader may skip, unparsed, the
 * lines of a buffer without it; NULL when there is none (user patterns, an
 * empty prefix or several). */
const char *parse_needle(const struct parser *p, size_t *len);

#endif
