/*
 * mtatls-finger - probe an SMTP server's STARTTLS like Postfix's
 * posttls-finger(1), through the mtatls C API.
 *
 * usage: mtatls-finger [-w] [-h helo] [-c main.cf] [-o name=value]... host[:port]
 *
 * Connects, reads the greeting, sends EHLO, STARTTLS, runs the TLS
 * handshake (the library logs Postfix's "... TLS connection established
 * to ..." line), sends EHLO again through TLS and QUIT. With -w the TLS
 * handshake comes right after connect (SMTPS). Lines go to stderr; exit
 * status 0 when TLS was established, 1 on failure, 2 on usage errors.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smtp_io.h"

#define PROG "mtatls-finger"
#define DEFAULT_PORT "25"
#define CONNECT_TIMEOUT 30   /* seconds, as posttls-finger -t */
#define COMMAND_TIMEOUT 30   /* seconds per reply, as posttls-finger -T */

/* Parameter defaults, before -c and -o. */
static const char *const finger_defaults[] = {
    "smtp_tls_security_level=may",
    "smtp_tls_loglevel=1",
    NULL,
};

/* The command line. */
struct finger_opts {
    struct param_args params;
    const char *helo;    /* -h name, or NULL for the local host name */
    int wrapper;         /* -w: TLS on connect (SMTPS) */
    char host[LABEL_HOST_MAX];   /* from host[:port] */
    char port[32];
};

/* One probe. */
struct finger {
    struct smtp_conn conn;
    mtatls_ctx *ctx;
    mtatls_session *tls;
    char helo[LABEL_HOST_MAX];
    char label[LABEL_MAX];
};

static void usage(void)
{
    (void) fprintf(stderr,
                   "usage: %s [-w] [-h helo] [-c main.cf] [-o name=value]... host[:port]\n",
                   PROG);
}

/* Copy `len` bytes of `src` as a string; -1 if empty or too long. */
static int copy_text(char *dst, size_t size, const char *src, size_t len)
{
    if (len == 0 || len >= size)
        return -1;
    memcpy(dst, src, len);
    dst[len] = 0;
    return 0;
}

/* Split "host:port", "[host]:port", "[v6addr]:port" or "host". */
static int split_dest(const char *dest, char *host, size_t hsize, char *port, size_t psize)
{
    const char *colon, *end;

    if (dest[0] == '[') {
        if ((end = strchr(dest, ']')) == NULL || (end[1] != 0 && end[1] != ':'))
            return -1;
        if (copy_text(host, hsize, dest + 1, (size_t) (end - dest - 1)) < 0)
            return -1;
        colon = end[1] == ':' ? end + 1 : NULL;
    } else {
        colon = strchr(dest, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL)
            colon = NULL;   /* a bare IPv6 address */
        if (copy_text(host, hsize, dest, colon ? (size_t) (colon - dest) : strlen(dest)) < 0)
            return -1;
    }
    if (colon == NULL)
        return copy_text(port, psize, DEFAULT_PORT, strlen(DEFAULT_PORT));
    return copy_text(port, psize, colon + 1, strlen(colon + 1));
}

/* Whether `name` can follow EHLO: one word of printable characters. */
static int helo_ok(const char *name)
{
    size_t len = strlen(name), i;

    for (i = 0; i < len; i++)
        if (!isgraph((unsigned char) name[i]))
            return 0;
    return len > 0 && len < LABEL_HOST_MAX;
}

/* Returns 0, or -1 on a usage error (message printed). */
static int parse_args(int argc, char **argv, struct finger_opts *opts)
{
    int ch;

    memset(opts, 0, sizeof(*opts));
    while ((ch = getopt(argc, argv, "c:o:h:w")) != -1) {
        switch (ch) {
        case 'c':
        case 'o':
            if (param_args_add(&opts->params, PROG, ch, optarg) < 0)
                return -1;
            break;
        case 'h':
            if (!helo_ok(optarg)) {
                msg_info(PROG, "bad -h name \"%s\"", optarg);
                return -1;
            }
            opts->helo = optarg;
            break;
        case 'w':
            opts->wrapper = 1;
            break;
        default:
            usage();
            return -1;
        }
    }
    if (optind != argc - 1) {
        usage();
        return -1;
    }
    if (split_dest(argv[optind], opts->host, sizeof(opts->host), opts->port, sizeof(opts->port)) < 0) {
        msg_info(PROG, "bad destination \"%s\": expected host:port", argv[optind]);
        return -1;
    }
    return 0;
}

/* Wait for a non-blocking connect() in progress; 0 or -1 with errno. */
static int finish_connect(int fd, int seconds)
{
    struct pollfd pfd;
    int err = 0, n;
    socklen_t len = sizeof(err);

    pfd.fd = fd;
    pfd.events = POLLOUT;
    pfd.revents = 0;
    while ((n = poll(&pfd, 1, seconds * 1000)) < 0 && errno == EINTR)
        continue;
    if (n < 0)
        return -1;
    if (n == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -1;
    errno = err;
    return err == 0 ? 0 : -1;
}

/* Connect to one address within CONNECT_TIMEOUT; fd or -1 with errno. */
static int connect_one(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol), flags, saved;

    if (fd < 0)
        return -1;
    if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        goto fail;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS || finish_connect(fd, CONNECT_TIMEOUT) < 0)
        goto fail;
    return fd;
fail:
    saved = errno;
    (void) close(fd);
    errno = saved;
    return -1;
}

/* Connect to host:port, trying each address; fills f->label. fd or -1. */
static int connect_dest(struct finger *f, const char *host, const char *port)
{
    struct addrinfo hints, *res = NULL, *ai;
    int fd = -1, err, tried = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((err = getaddrinfo(host, port, &hints, &res)) != 0) {
        msg_info(PROG, "%s:%s: host or service not found: %s", host, port, gai_strerror(err));
        return -1;
    }
    for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        if (label_for_server(host, ai->ai_addr, ai->ai_addrlen, f->label, sizeof(f->label)) < 0)
            continue;
        tried++;
        if ((fd = connect_one(ai)) < 0)
            msg_info(PROG, "connect to %s: %s", f->label, strerror(errno));
    }
    freeaddrinfo(res);
    if (!tried)
        msg_info(PROG, "%s:%s: no IPv4 or IPv6 address", host, port);
    return fd;
}

/* Report a failed read or write while `stage`. */
static void report_io(struct finger *f, int status, const char *stage)
{
    if (status == SMTP_IO_EOF)
        msg_info(PROG, "lost connection with %s while %s", f->label, stage);
    else if (status == SMTP_IO_TIMEOUT)
        msg_info(PROG, "conversation with %s timed out while %s", f->label, stage);
    else
        msg_info(PROG, "error talking to %s while %s: %s", f->label, stage,
                 smtp_conn_error(&f->conn));
}

/* Send `line` (none for the greeting), read the reply, expect `want`. */
static int command(struct finger *f, const char *line, const char *stage, int want,
                   struct smtp_reply *reply)
{
    int r;

    if (line != NULL && (r = smtp_printf(&f->conn, "%s", line)) < 0) {
        report_io(f, r, stage);
        return -1;
    }
    if ((r = smtp_read_reply(&f->conn, reply)) < 0) {
        report_io(f, r, stage);
        return -1;
    }
    if (r != want) {
        const char *eol = strchr(reply->text, '\n');
        int len = eol ? (int) (eol - reply->text) : (int) strlen(reply->text);
        msg_info(PROG, "host %s said: %.*s (while %s)", f->label, len, reply->text, stage);
        return -1;
    }
    return 0;
}

static int ehlo(struct finger *f, struct smtp_reply *reply)
{
    char line[SMTP_LINE_MAX];

    snprintf(line, sizeof(line), "EHLO %s", f->helo);
    return command(f, line, "performing the EHLO handshake", 250, reply);
}

/* Start the TLS session and run the handshake. */
static int start_tls(struct finger *f)
{
    mtatls_result r = mtatls_session_new(f->ctx, f->conn.fd, f->label, &f->tls);

    if (r != MTATLS_RESULT_OK) {
        msg_info(PROG, "cannot start TLS with %s: %s", f->label, mtatls_result_name(r));
        return -1;
    }
    (void) smtp_conn_start_tls(&f->conn, f->tls);
    if ((r = mtatls_session_handshake(f->tls, MTATLS_TIMEOUT_DEFAULT)) != MTATLS_RESULT_OK) {
        msg_info(PROG, "TLS handshake failed: %s", mtatls_session_error(f->tls));
        return -1;
    }
    if (mtatls_session_get_facts(f->tls) == NULL) {
        msg_info(PROG, "TLS handshake with %s left no session facts", f->label);
        return -1;
    }
    return 0;
}

/* The SMTP dialogue; 0 when TLS was established and all went well. */
static int chat(struct finger *f, int wrapper)
{
    struct smtp_reply reply;

    if (wrapper && start_tls(f) < 0)
        return -1;
    if (command(f, NULL, "receiving the initial server greeting", 220, &reply) < 0
        || ehlo(f, &reply) < 0)
        return -1;
    if (!wrapper) {
        if (!smtp_reply_has(&reply, "STARTTLS")) {
            msg_info(PROG, "host %s offers no STARTTLS", f->label);
            return -1;
        }
        if (command(f, "STARTTLS", "sending STARTTLS", 220, &reply) < 0 || start_tls(f) < 0
            || ehlo(f, &reply) < 0)
            return -1;
    }
    if (command(f, "QUIT", "sending QUIT", 221, &reply) < 0)
        return -1;
    if (mtatls_session_stop(f->tls, COMMAND_TIMEOUT) != MTATLS_RESULT_OK)
        msg_info(PROG, "TLS shutdown with %s: %s", f->label, mtatls_session_error(f->tls));
    return 0;
}

/* The EHLO name: -h, else the local host name, else "localhost". */
static void pick_helo(struct finger *f, const char *helo)
{
    if (helo != NULL) {
        snprintf(f->helo, sizeof(f->helo), "%s", helo);
        return;
    }
    if (gethostname(f->helo, sizeof(f->helo)) < 0 || f->helo[0] == 0)
        snprintf(f->helo, sizeof(f->helo), "localhost");
    f->helo[sizeof(f->helo) - 1] = 0;
}

/* Connect and probe; the exit status. */
static int probe(struct finger *f, const struct finger_opts *opts)
{
    int fd = connect_dest(f, opts->host, opts->port), status = 1;

    if (fd < 0)
        return 1;
    if (smtp_conn_init(&f->conn, fd, COMMAND_TIMEOUT) < 0)
        msg_info(PROG, "%s: %s", f->label, smtp_conn_error(&f->conn));
    else if (chat(f, opts->wrapper) == 0)
        status = 0;
    /* Free the session before closing its socket. */
    mtatls_session_free(f->tls);
    f->tls = NULL;
    if (close(fd) < 0)
        msg_info(PROG, "close: %s", strerror(errno));
    return status;
}

int main(int argc, char **argv)
{
    struct finger_opts opts;
    struct finger f;
    mtatls_params *params;
    int status;

    memset(&f, 0, sizeof(f));
    if (parse_args(argc, argv, &opts) < 0)
        return 2;
    if ((params = param_args_build(&opts.params, PROG, finger_defaults)) == NULL)
        return 2;
    if (ignore_sigpipe() < 0) {
        msg_info(PROG, "sigaction: %s", strerror(errno));
        mtatls_params_free(params);
        return 1;
    }
    if (mtatls_ctx_new(params, "smtp", &f.ctx) != MTATLS_RESULT_OK) {
        msg_info(PROG, "%s", mtatls_params_error(params));
        mtatls_params_free(params);
        return 1;
    }
    pick_helo(&f, opts.helo);
    status = probe(&f, &opts);
    mtatls_ctx_free(f.ctx);
    mtatls_params_free(params);
    return status;
}
