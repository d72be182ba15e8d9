/*
 * harness.h - shared code of the C test harnesses: a client and a server
 * in one process over a socketpair(), each on its own thread, each doing
 * a short plain-text SMTP exchange up to STARTTLS before the handshake.
 */
#ifndef MTATLS_HARNESS_H
#define MTATLS_HARNESS_H

#include <stddef.h>

#include "mtatls.h"

#define HARNESS_MAX_PARAMS 16
#define HARNESS_LOG_SIZE 16384

/* Log lines captured from one side's callback. */
struct harness_log {
    char text[HARNESS_LOG_SIZE];
    size_t len;
};

/* One side's configuration and results. */
struct harness_side {
    /* "name=value" parameters; "DIR" in a value becomes the key directory. */
    const char *params[HARNESS_MAX_PARAMS];
    /* Client only, optional: security level, host/nexthop names, match
     * list ("@NAME" = the contents of KEYDIR/NAME). */
    const char *level;
    const char *host;
    const char *nexthop;
    const char *match;
    /* Results. */
    mtatls_result build_result;   /* mtatls_ctx_new */
    mtatls_result hs_result;      /* mtatls_session_handshake */
    char error[1024];             /* params or session error text */
    int tlsrpt_result;            /* mtatls_session_tlsrpt_result after the handshake */
    char tlsrpt_reason[256];      /* mtatls_session_tlsrpt_reason */
    char tlsrpt_mx[256];          /* mtatls_session_tlsrpt_receiving_mx */
    char summary[1024];
    char received[1024];
    mtatls_session_facts facts;   /* copied; strings point into fact_strings */
    char fact_strings[4096];
    int have_facts;
    int data_ok;                  /* an SMTP command/reply went through TLS */
    struct harness_log log;
};

/* Run a full client/server exchange. Returns 0 if the run itself worked
 * (whatever the TLS outcome), -1 on harness failure. */
int harness_run(const char *keydir, struct harness_side *server, struct harness_side *client);

/* Assertion helpers: print "not ok" lines and count failures. */
extern int harness_failures;
void expect_str(const char *what, const char *got, const char *want);
void expect_int(const char *what, long got, long want);
void expect_contains(const char *what, const char *hay, const char *needle);
void expect_line(const char *what, const struct harness_log *log, const char *line);

/* Contents of DIR/NAME with trailing white space removed (static buffer). */
const char *harness_read_file(const char *dir, const char *name);

#endif
