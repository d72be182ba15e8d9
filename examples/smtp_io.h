/*
 * smtp_io.h - helpers shared by the example programs mtatls-finger and
 * mtatls-smtpd: command-line parameters, logging, line-oriented SMTP I/O
 * over a plain socket or an mtatls session, and Postfix-style peer labels.
 */
#ifndef MTATLS_SMTP_IO_H
#define MTATLS_SMTP_IO_H

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>

#include "mtatls.h"

#if defined(__GNUC__)
#define SMTP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SMTP_PRINTF(f, a)
#endif

/* Longest SMTP line we accept, CRLF and NUL included. */
#define SMTP_LINE_MAX 2048

/* Most -c or -o options on one command line. */
#define PARAM_ARGS_MAX 64

/* Room for "host[addr]:port" labels and their parts. */
#define LABEL_HOST_MAX 256
#define LABEL_ADDR_MAX 64
#define LABEL_MAX (LABEL_HOST_MAX + LABEL_ADDR_MAX + 16)

/* ---- Parameters from the command line and logging ---- */

/* Parameter sources, applied as: defaults, then -c files, then the
 * overrides (-o and settings made by param_args_set) in their order. */
struct param_args {
    const char *files[PARAM_ARGS_MAX];     /* -c main.cf */
    size_t nfiles;
    const char *overrides[PARAM_ARGS_MAX]; /* -o name=value */
    size_t noverrides;
    char *owned[PARAM_ARGS_MAX];           /* overrides made by param_args_set */
    size_t nowned;
};

/* Record option `opt` ('c' or 'o') with argument `arg`. Returns 0, or
 * -1 after printing why to stderr (a usage error). */
int param_args_add(struct param_args *args, const char *prog, int opt, const char *arg);

/* Add the override "name=value" (copied). Returns 0, or -1 after
 * printing why to stderr. Release the copies with param_args_free. */
int param_args_set(struct param_args *args, const char *prog, const char *name,
                   const char *value);

/* Free what param_args_set allocated. */
void param_args_free(struct param_args *args);

/* New parameters: log callback for `prog`, then `defaults` (a NULL-ended
 * list of "name=value"), the -c files and the -o overrides. Returns NULL
 * after printing the error to stderr (the caller exits 2). */
mtatls_params *param_args_build(const struct param_args *args, const char *prog,
                                const char *const *defaults);

/* Whether parameter `name` has a non-empty value. */
int param_is_set(mtatls_params *params, const char *name);

/* The log callback: `userdata` is the program name (a static string). */
void log_to_stderr(void *userdata, int level, const char *line);

/* "prog: text" on stderr. */
void msg_info(const char *prog, const char *fmt, ...) SMTP_PRINTF(2, 3);

/* Ignore SIGPIPE: a peer that goes away must not kill the process. */
int ignore_sigpipe(void);

/* ---- SMTP lines over a socket, plain or TLS ---- */

/* What a failed read or write reports (negative). */
enum smtp_io_status {
    SMTP_IO_EOF = -1,      /* the peer closed the connection */
    SMTP_IO_TIMEOUT = -2,  /* no progress within the timeout */
    SMTP_IO_ERROR = -3,    /* system or TLS error; see smtp_conn_error */
    SMTP_IO_TOO_LONG = -4  /* line longer than the buffer (consumed) */
};

/* One connection: plain until smtp_conn_start_tls. */
struct smtp_conn {
    int fd;
    mtatls_session *tls;                    /* NULL while plain */
    int timeout;                            /* seconds per line */
    volatile sig_atomic_t *stop;            /* abort reads when set; or NULL */
    char buf[4096];                         /* bytes read but not yet used */
    size_t start, end;
    char error[512];                        /* text of the last failure */
};

/* Set up `conn` on connected socket `fd` (made non-blocking). */
int smtp_conn_init(struct smtp_conn *conn, int fd, int timeout_seconds);

/* From now on talk through `tls`. Plain input already buffered is
 * discarded (it was not protected by TLS); returns how many bytes. */
size_t smtp_conn_start_tls(struct smtp_conn *conn, mtatls_session *tls);

/* Text of the last failure. */
const char *smtp_conn_error(const struct smtp_conn *conn);

/* Read at most size-1 bytes of one line into `buf` (NUL-terminated).
 * Returns the length, or a negative smtp_io_status. `*complete` is 1 when
 * the line ended (its CRLF or LF is removed), 0 when the buffer filled
 * first: the next call continues the same line. */
int smtp_read_chunk(struct smtp_conn *conn, char *buf, size_t size, int *complete);

/* Read one whole line without its CRLF. A line that does not fit is
 * consumed to its end and SMTP_IO_TOO_LONG is returned. */
int smtp_read_line(struct smtp_conn *conn, char *buf, size_t size);

/* A server reply, possibly multi-line. */
struct smtp_reply {
    int code;            /* of the last line */
    char text[8192];     /* all lines, '\n'-separated (truncated if long) */
};

/* Read one reply. Returns its code, or a negative smtp_io_status
 * (SMTP_IO_ERROR also for a malformed reply). */
int smtp_read_reply(struct smtp_conn *conn, struct smtp_reply *reply);

/* Whether an EHLO reply announces `keyword` (e.g. "STARTTLS"). */
int smtp_reply_has(const struct smtp_reply *reply, const char *keyword);

/* Write `len` bytes. Returns 0 or a negative smtp_io_status. */
int smtp_write(struct smtp_conn *conn, const char *data, size_t len);

/* Write one formatted line and CRLF. Returns 0 or negative. */
int smtp_printf(struct smtp_conn *conn, const char *fmt, ...) SMTP_PRINTF(2, 3);
int smtp_vprintf(struct smtp_conn *conn, const char *fmt, va_list ap) SMTP_PRINTF(2, 0);

/* ---- Peer labels ---- */

/* Numeric address and port of `sa`; IPv4-mapped IPv6 shown as IPv4.
 * Returns 0, or -1 if the address family is not IP. */
int sockaddr_text(const struct sockaddr *sa, socklen_t len, char *addr, size_t addr_size,
                  unsigned *port);

/* Client label "host[addr]:port" for destination host `host` (a name or
 * an IP literal, without brackets) connected at `sa`. */
int label_for_server(const char *host, const struct sockaddr *sa, socklen_t len, char *label,
                     size_t size);

/* Server side: the name of the client at `sa` by forward-confirmed
 * reverse lookup ("unknown" if none), its address, and the label
 * "name[addr]". Returns 0, or -1 for a non-IP address. */
int label_for_client(const struct sockaddr *sa, socklen_t len, char *name, size_t name_size,
                     char *addr, size_t addr_size, char *label, size_t label_size);

#endif
