/*
 * carrier's failure and usage-error reporting, shared by every subcommand
 * (outside main.c so the unit tests link it with the commands).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

int cl_fail(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("carrier: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	/* docs/cli-conventions.md: every usage error says where help is. */
	if (code == 2)
		fputs("Try 'carrier --help'.\n", stderr);
	return code;
}

int cl_bad_option(char **argv)
{
	/* getopt_long ran with opterr = 0: it said nothing itself (it would
	 * have named the subcommand, argv[0], as the program). */
	const char *opt = optind > 0 ? argv[optind - 1] : "?";

	return cl_fail(2, "unknown option or missing argument in '%s'", opt);
}

int cl_is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}
