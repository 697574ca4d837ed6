/* knockd_import.h — migration from knockd: a knockd.conf in, an equivalent
 * logknockd YAML configuration out.
 *
 * knockd runs a shell command line per door (through /bin/sh -c); logknock
 * runs ONE applier for all doors with argument vectors and no shell. The
 * import carries over what maps safely and names everything else on WARN,
 * one line each, as "FILE:LINE: message". */
#ifndef LOGKNOCK_KNOCKD_IMPORT_H
#define LOGKNOCK_KNOCKD_IMPORT_H

#include <stdio.h>

/* Longest line of a knockd.conf accepted, without its newline. */
#define KNOCKD_IMPORT_LINE_MAX 4096

/* Reads the knockd.conf at PATH and writes a logknockd configuration to OUT;
 * warnings and errors go to WARN. Returns 0 when it wrote a configuration
 * with at least one door (even with warnings), 2 when PATH cannot be read,
 * is malformed beyond use (a line longer than KNOCKD_IMPORT_LINE_MAX, a NUL
 * byte) or has no door that could be carried over (the configuration,
 * with every door commented out, is still written in that last case). */
int knockd_import(const char *path, FILE *out, FILE *warn);

#endif
