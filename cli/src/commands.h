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
struct event_base;
/* connect.c: an end-to-end session to the device DEV_ARG names, one
 * stream asking for SERVICE (e.g. "shell") bridged to fd (taken), then
 * start(base, arg) adds the caller's events, which stop the loop
 * themselves; start(NULL, arg) at the end frees them (before the
 * loop).  Returns the connection's exit status: 0 when the caller
 * stopped the loop, else why it failed (refused, offline, lost). */
int cl_conn_service(const char *dev_arg, const struct cl_vendor_opts *vo,
		    int relay_only, const char *service, int fd,
		    int (*start)(struct event_base *base, void *arg),
		    void *arg);
/* sysinfo.c: carrier sysinfo DEVICE_ID [--json]. */
int cl_cmd_sysinfo(int argc, char **argv);
/* names.c: carrier name DEVICE_ID NAME | name rm NAME, carrier names. */
int cl_cmd_name(int argc, char **argv);
int cl_cmd_names(int argc, char **argv);
struct cr_id;
struct cr_error;
/* A DEVICE_ID argument: a device identity, or a name from
 * CONFIG_DIR/names.  Error code 2 (a usage error) when it is neither. */
int cl_dev_parse(const char *s, struct cr_id *dev, struct cr_error **err);
/* The inventory (CONFIG_DIR/names): device hash -> its name (a string the
 * map owns; cl_names_free).  Empty when there is none. */
struct cr_map;
struct cr_map *cl_names_by_id(void);
void cl_names_free(struct cr_map *m);
/* shell.c: carrier shell DEVICE_ID [COMMAND...]. */
int cl_cmd_shell(int argc, char **argv);
/* shell.c: runs cmd on the device without a pty (the shell service),
 * in_fd (-1: none) as its stdin, its stdout to out_fd, its stderr to
 * ours; progress(parg, n) counts the bytes either way.  Returns 0 with
 * *status the remote exit status, or the connection's failure. */
int cl_remote_run(const char *dev, const struct cl_vendor_opts *vo,
		  int relay, const char *cmd, int in_fd, int out_fd,
		  void (*progress)(void *arg, uint64_t n), void *parg,
		  int *status);
/* cp.c: carrier cp FILE DEVICE_ID:PATH | DEVICE_ID:PATH FILE. */
int cl_cmd_cp(int argc, char **argv);
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
