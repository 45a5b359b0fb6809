/*
 * The `carrier` subcommands.  Each takes argc/argv starting at its own
 * name and returns the process exit status (client.h: cl_exit).
 */
#ifndef CL_COMMANDS_H
#define CL_COMMANDS_H

#include <stdint.h>

int cl_cmd_keygen(int argc, char **argv);
int cl_cmd_id(int argc, char **argv);
int cl_cmd_ring(int argc, char **argv);
int cl_cmd_lookup(int argc, char **argv);
int cl_cmd_ping(int argc, char **argv);
int cl_cmd_connect(int argc, char **argv);
/* fleet.c: carrier trust init|sign|show, carrier release [sign|show]. */
int cl_cmd_trust(int argc, char **argv);
int cl_cmd_release(int argc, char **argv);
int cl_cmd_fleet(int argc, char **argv);
/* deploy.c: carrier deploy, rollback, status, watch (fleet rollouts). */
int cl_cmd_deploy(int argc, char **argv);
int cl_cmd_rollback(int argc, char **argv);
int cl_cmd_status(int argc, char **argv);
int cl_cmd_watch(int argc, char **argv);
/* deploy.c: carrier config set (fleet configuration). */
int cl_cmd_config(int argc, char **argv);
int cl_cmd_exporter(int argc, char **argv);

struct cl_vendor_opts;
/* carrier ping --batch FILE [--within DURATION] [--since UNIX_MS]
 * (batch.c): 0 when every device answered. */
int cl_ping_batch(const struct cl_vendor_opts *vo, const char *path,
		  uint64_t within_ms, uint64_t since_ms);

/* Prints "carrier: MSG" to stderr and returns code; for code 2 (a usage
 * error) also "Try 'carrier --help'." (docs/cli-conventions.md). */
int cl_fail(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A usage error for the option getopt_long just refused ('?'): exit 2. */
int cl_bad_option(char **argv);
/* 1 for --help or -h. */
int cl_is_help(const char *arg);

#endif
