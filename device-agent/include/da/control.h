/*
 * The agent's local control socket, DATA/control.sock (AF_UNIX stream,
 * mode 0600: root's, or the agent user's), and the carrier-agent
 * subcommands that use it:
 *
 *   carrier-agent --data DIR install RELEASE [--health-window D] [--no-wait]
 *   carrier-agent --data DIR apps [--json]
 *
 * The protocol is lines: a request line ("install WINDOW_MS WAIT" followed
 * by the release file's bytes up to the end of the client's half of the
 * stream, or "apps"), then answer lines.  Reads are bounded.
 */
#ifndef DA_CONTROL_H
#define DA_CONTROL_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "cr/error.h"
#include "da/apps.h"

enum {
	DA_CONTROL_LINE_MAX = 128,
	DA_CONTROL_BODY_MAX = 256 * 1024,
};

enum da_control_cmd { DA_CONTROL_INSTALL, DA_CONTROL_APPS, DA_CONTROL_CONFIG };

struct da_control_req {
	enum da_control_cmd cmd;
	uint64_t window_ms; /* install: 0 for the agent's default */
	int wait;	    /* install: answer when the switch ends */
};

/* Parses a request line (without its newline); -1 with *err when it is
 * none. */
int da_control_parse(const char *line, size_t len, struct da_control_req *req,
		     struct cr_error **err);

struct da_control;
/* Listens on path (an old socket there is replaced). */
struct da_control *da_control_new(struct event_base *base, const char *path,
				  struct da_apps *apps, struct cr_error **err);
struct da_control *da_control_free(struct da_control *c);

/*
 * carrier-agent's subcommands: when argv is `[--data DIR] install|apps
 * ...`, runs it and returns the exit status; otherwise returns -1 and the
 * daemon starts.
 */
int da_control_main(int argc, char **argv);

#endif
