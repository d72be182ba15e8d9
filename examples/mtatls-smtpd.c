/*
 * mtatls-smtpd - a small STARTTLS SMTP server on the mtatls C API, logging
 * TLS the way Postfix's smtpd(8) does.
 *
 * usage: mtatls-smtpd [-c main.cf] [-o name=value]... [-n count] [addr:]port
 *
 * Listens on addr (default 127.0.0.1) and port (0: any free port), prints
 * "mtatls-smtpd: listening on ADDR:PORT" to stderr, then serves one
 * connection after another until `count` are done or SIGTERM/SIGINT.
 * Each accepted message goes to stdout behind a Postfix-style Received:
 * header, followed by an empty line. Without a configured certificate a
 * self-signed one for "localhost" is made at start.
 *
 * When the parameters turn TLS off (smtpd_tls_security_level = none) the
 * server runs as plain SMTP without STARTTLS. A client that fails a
 * required certificate check (smtpd_tls_security_level = encrypt and
 * smtpd_tls_req_ccert = yes) is treated as Postfix's smtpd does: logged
 * as "NOQUEUE: abort: TLS from ...", its next command answered with
 * "421 4.7.1 HOSTNAME Error: <reason>", and disconnected.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "smtp_io.h"

#define PROG "mtatls-smtpd"
#define DEFAULT_ADDR "127.0.0.1"
#define COMMAND_TIMEOUT 300        /* seconds, as Postfix smtpd_timeout */
#define STOP_TIMEOUT 30            /* seconds for the TLS close_notify */
#define MESSAGE_SIZE_MAX 10240000  /* as announced with SIZE */
#define RCPT_MAX 100
#define ERROR_LIMIT 20             /* as Postfix smtpd_hard_error_limit */
#define ABORT_READ_TIMEOUT 30      /* seconds for the command answered by 421 */

/* Set by SIGTERM/SIGINT: stop serving. */
static volatile sig_atomic_t stop_signal = 0;

/* Parameter defaults, before -c and -o. */
static const char *const smtpd_defaults[] = {
    "smtpd_tls_security_level=may",
    "smtpd_tls_loglevel=1",
    "smtpd_tls_received_header=yes",
    NULL,
};

/* The command line. */
struct smtpd_opts {
    struct param_args params;
    long count;           /* -n: connections to serve; 0 = no limit */
    char addr[LABEL_ADDR_MAX];
    char port[8];
};

/* What stays the same for all connections. */
struct server {
    mtatls_ctx *ctx;           /* NULL: TLS is off, plain SMTP only */
    int listen_fd;
    char hostname[LABEL_HOST_MAX];
    unsigned long last_id;   /* message counter */
};

/* A message being received. */
struct message {
    char *data;
    size_t len, cap;
    int too_big;
    int no_memory;
};

/* One client connection. */
struct client {
    struct server *server;
    struct smtp_conn conn;
    mtatls_session *tls;
    char name[LABEL_HOST_MAX];
    char addr[LABEL_ADDR_MAX];
    char label[LABEL_MAX];
    const char *last_cmd;       /* for "lost connection after X" */
    char helo[LABEL_HOST_MAX];  /* "" until HELO/EHLO */
    int esmtp;
    int in_mail;
    size_t nrcpt;
    char rcpt[SMTP_LINE_MAX];   /* the first recipient */
    int errors;
    int quit;
    int tls_abort;              /* 421 after a failed client certificate check */
};

/* ---- Command line ---- */

static void usage(void)
{
    (void) fprintf(stderr, "usage: %s [-c main.cf] [-o name=value]... [-n count] [addr:]port\n",
                   PROG);
}

/* Whether `s` is a port number 0..65535. */
static int port_ok(const char *s)
{
    char *end;
    long v;

    if (!isdigit((unsigned char) s[0]))
        return 0;
    errno = 0;
    v = strtol(s, &end, 10);
    return errno == 0 && *end == 0 && v >= 0 && v <= 65535;
}

/* Whether `s` is an IPv4 or IPv6 address. */
static int addr_ok(const char *s)
{
    unsigned char bytes[16];

    return inet_pton(AF_INET, s, bytes) == 1 || inet_pton(AF_INET6, s, bytes) == 1;
}

/* Split "[addr:]port" or "[v6addr]:port". */
static int split_listen(const char *arg, struct smtpd_opts *opts)
{
    const char *colon = strrchr(arg, ':'), *addr = arg, *port = colon ? colon + 1 : arg;
    size_t alen = colon ? (size_t) (colon - arg) : 0;

    if (colon != NULL && arg[0] == '[') {
        if (alen < 2 || arg[alen - 1] != ']')
            return -1;
        addr = arg + 1;
        alen -= 2;
    }
    if (colon == NULL) {
        addr = DEFAULT_ADDR;
        alen = strlen(DEFAULT_ADDR);
    }
    if (alen == 0 || alen >= sizeof(opts->addr) || !port_ok(port)
        || strlen(port) >= sizeof(opts->port))
        return -1;
    memcpy(opts->addr, addr, alen);
    opts->addr[alen] = 0;
    strcpy(opts->port, port);
    return addr_ok(opts->addr) ? 0 : -1;
}

static int parse_args(int argc, char **argv, struct smtpd_opts *opts)
{
    char *end;
    int ch;

    memset(opts, 0, sizeof(*opts));
    while ((ch = getopt(argc, argv, "c:o:n:")) != -1) {
        switch (ch) {
        case 'c':
        case 'o':
            if (param_args_add(&opts->params, PROG, ch, optarg) < 0)
                return -1;
            break;
        case 'n':
            errno = 0;
            opts->count = strtol(optarg, &end, 10);
            if (errno != 0 || *end != 0 || end == optarg || opts->count < 1) {
                msg_info(PROG, "bad -n count \"%s\"", optarg);
                return -1;
            }
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
    if (split_listen(argv[optind], opts) < 0) {
        msg_info(PROG, "bad listen address \"%s\": expected [addr:]port", argv[optind]);
        return -1;
    }
    return 0;
}

/* ---- Setup ---- */

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

/* SIGTERM/SIGINT end the server (a second one kills it at once). */
static int catch_stop_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESETHAND;   /* no SA_RESTART: waits see EINTR */
    if (sigemptyset(&sa.sa_mask) < 0 || sigaction(SIGTERM, &sa, NULL) < 0
        || sigaction(SIGINT, &sa, NULL) < 0)
        return -1;
    return ignore_sigpipe();
}

/* Remove the temporary certificate file and its directory. */
static void remove_temp(const char *dir, const char *path)
{
    if (unlink(path) < 0 && errno != ENOENT)
        msg_info(PROG, "warning: remove %s: %s", path, strerror(errno));
    if (rmdir(dir) < 0)
        msg_info(PROG, "warning: remove %s: %s", dir, strerror(errno));
}

/* Build the server context; without a configured certificate, with a
 * self-signed one made in a private temporary directory. When the
 * parameters turn TLS off, s->ctx stays NULL: plain SMTP. */
static int build_context(mtatls_params *params, struct server *s)
{
    const char *tmp = getenv("TMPDIR");
    char dir[512], path[600];
    int made = 0, ok;
    mtatls_result r;

    if (!param_is_set(params, "smtpd_tls_chain_files") && !param_is_set(params, "smtpd_tls_cert_file")) {
        if (snprintf(dir, sizeof(dir), "%s/mtatls-smtpd.XXXXXX", tmp && *tmp ? tmp : "/tmp")
            >= (int) sizeof(dir)) {
            msg_info(PROG, "TMPDIR is too long");
            return -1;
        }
        if (mkdtemp(dir) == NULL) {
            msg_info(PROG, "cannot make a temporary directory %s: %s", dir, strerror(errno));
            return -1;
        }
        snprintf(path, sizeof(path), "%s/localhost.pem", dir);
        made = 1;
        if (mtatls_params_self_signed(params, "localhost", path) != MTATLS_RESULT_OK) {
            msg_info(PROG, "%s", mtatls_params_error(params));
            remove_temp(dir, path);
            return -1;
        }
    }
    r = mtatls_ctx_new(params, "smtpd", &s->ctx);
    ok = r == MTATLS_RESULT_OK || r == MTATLS_RESULT_POLICY;
    if (r == MTATLS_RESULT_POLICY) {
        /* E.g. smtpd_tls_security_level = none: serve without STARTTLS. */
        msg_info(PROG, "warning: %s", mtatls_params_error(params));
        s->ctx = NULL;
    } else if (!ok) {
        msg_info(PROG, "%s", mtatls_params_error(params));
    }
    /* The context has loaded the key and certificate: the file can go. */
    if (made)
        remove_temp(dir, path);
    return ok ? 0 : -1;
}

/* Print "listening on ADDR:PORT" with the port actually bound. */
static int announce(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char addr[LABEL_ADDR_MAX];
    unsigned port;

    if (getsockname(fd, (struct sockaddr *) &ss, &len) < 0
        || sockaddr_text((struct sockaddr *) &ss, len, addr, sizeof(addr), &port) < 0)
        return -1;
    if (strchr(addr, ':'))
        msg_info(PROG, "listening on [%s]:%u", addr, port);
    else
        msg_info(PROG, "listening on %s:%u", addr, port);
    return 0;
}

static int open_listener(const struct smtpd_opts *opts)
{
    struct addrinfo hints, *res = NULL;
    int fd = -1, on = 1, err, flags;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    if ((err = getaddrinfo(opts->addr, opts->port, &hints, &res)) != 0) {
        msg_info(PROG, "bad listen address %s: %s", opts->addr, gai_strerror(err));
        return -1;
    }
    if ((fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol)) < 0
        || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0
        || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 16) < 0
        || (flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0
        || announce(fd) < 0) {
        msg_info(PROG, "cannot listen on %s port %s: %s", opts->addr, opts->port, strerror(errno));
        if (fd >= 0)
            (void) close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static void local_hostname(char *buf, size_t size)
{
    if (gethostname(buf, size) < 0 || buf[0] == 0)
        snprintf(buf, size, "localhost");
    buf[size - 1] = 0;
}

/* ---- Replies and logging ---- */

/* Log a failed read or write after the last command. */
static void report_io(struct client *c, int status)
{
    if (status == SMTP_IO_EOF)
        msg_info(PROG, "lost connection after %s from %s", c->last_cmd, c->label);
    else if (status == SMTP_IO_TIMEOUT)
        msg_info(PROG, "timeout after %s from %s", c->last_cmd, c->label);
    else
        msg_info(PROG, "error after %s from %s: %s", c->last_cmd, c->label,
                 smtp_conn_error(&c->conn));
}

/* Send one reply line. Returns 0, or -1 (logged): drop the client. */
static int reply(struct client *c, const char *fmt, ...) SMTP_PRINTF(2, 3);

static int reply(struct client *c, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = smtp_vprintf(&c->conn, fmt, ap);
    va_end(ap);
    if (r < 0) {
        report_io(c, r);
        return -1;
    }
    return 0;
}

/* An error reply that counts toward ERROR_LIMIT. */
static int reject(struct client *c, const char *text)
{
    c->errors++;
    return reply(c, "%s", text);
}

/* Replace what should not go into a header with '?', as Postfix does. */
static void make_printable(char *s)
{
    for (; *s; s++)
        if (!isprint((unsigned char) *s))
            *s = '?';
}

/* ---- TLS ---- */

/* Create the session (before "220 Ready", so a failure can be told). */
static int new_session(struct client *c)
{
    mtatls_result r = mtatls_session_new(c->server->ctx, c->conn.fd, c->label, &c->tls);

    if (r != MTATLS_RESULT_OK) {
        msg_info(PROG, "cannot start TLS with %s: %s", c->label, mtatls_result_name(r));
        c->tls = NULL;
        return -1;
    }
    return 0;
}

/* The client failed the required certificate check; as Postfix's smtpd:
 * log, answer the next command (read through TLS) with 421, and let the
 * caller disconnect. */
static void abort_unverified(struct client *c)
{
    char error[SMTP_LINE_MAX], prefix[LABEL_MAX + 16], line[SMTP_LINE_MAX];
    const char *reason = error;
    int n;

    /* "TLS from LABEL: <reason>"; copied, as the next session call
     * replaces the text. */
    snprintf(error, sizeof(error), "%s", mtatls_session_error(c->tls));
    snprintf(prefix, sizeof(prefix), "TLS from %s: ", c->label);
    if (strncasecmp(error, prefix, strlen(prefix)) == 0)   /* the label is lower-cased */
        reason = error + strlen(prefix);
    msg_info(PROG, "NOQUEUE: abort: %s", error);
    c->tls_abort = 1;
    c->conn.timeout = ABORT_READ_TIMEOUT;
    n = smtp_read_line(&c->conn, line, sizeof(line));
    if (n < 0 && n != SMTP_IO_TOO_LONG) {
        report_io(c, n);
        return;
    }
    (void) reply(c, "421 4.7.1 %s Error: %s", c->server->hostname, reason);
}

/* Switch the connection to TLS and run the handshake; on failure the
 * library has logged Postfix's "SSL_accept error" lines. */
static int handshake(struct client *c)
{
    size_t dropped = smtp_conn_start_tls(&c->conn, c->tls);
    mtatls_result r;

    if (dropped > 0)
        msg_info(PROG, "%s: discarding %zu bytes of plaintext sent before the TLS handshake",
                 c->label, dropped);
    /* A signal interrupted the wait: go on, unless it asks us to stop. */
    while ((r = mtatls_session_handshake(c->tls, MTATLS_TIMEOUT_DEFAULT))
           == MTATLS_RESULT_INTERRUPTED && !stop_signal)
        continue;
    if (r == MTATLS_RESULT_NOT_VERIFIED && mtatls_session_get_facts(c->tls) != NULL) {
        abort_unverified(c);
        return -1;
    }
    if (r != MTATLS_RESULT_OK || mtatls_session_get_facts(c->tls) == NULL) {
        msg_info(PROG, "lost connection after %s from %s", c->last_cmd, c->label);
        return -1;
    }
    return 0;
}

/* ---- SMTP commands: 0 = next command, -1 = drop the client ---- */

static void reset_transaction(struct client *c)
{
    c->in_mail = 0;
    c->nrcpt = 0;
    c->rcpt[0] = 0;
}

/* Copy the first word of `args` into c->helo; -1 if there is none. */
static int take_helo(struct client *c, const char *args)
{
    size_t len = strcspn(args, " \t");

    if (len == 0)
        return -1;
    if (len >= sizeof(c->helo))
        len = sizeof(c->helo) - 1;
    memcpy(c->helo, args, len);
    c->helo[len] = 0;
    make_printable(c->helo);
    reset_transaction(c);
    return 0;
}

static int cmd_helo(struct client *c, const char *args)
{
    if (take_helo(c, args) < 0)
        return reject(c, "501 Syntax: HELO hostname");
    c->esmtp = 0;
    return reply(c, "250 %s", c->server->hostname);
}

static int cmd_ehlo(struct client *c, const char *args)
{
    int offer_tls = c->tls == NULL && c->server->ctx != NULL;

    if (take_helo(c, args) < 0)
        return reject(c, "501 Syntax: EHLO hostname");
    c->esmtp = 1;
    if (reply(c, "250-%s", c->server->hostname) < 0 || reply(c, "250-PIPELINING") < 0
        || reply(c, "250-SIZE %d", MESSAGE_SIZE_MAX) < 0
        || (offer_tls && reply(c, "250-STARTTLS") < 0))
        return -1;
    return reply(c, "250 8BITMIME");
}

static int cmd_starttls(struct client *c, const char *args)
{
    if (*args)
        return reject(c, "501 5.5.4 Syntax: STARTTLS");
    if (c->tls != NULL)
        return reject(c, "554 5.5.1 Error: TLS already active");
    if (c->server->ctx == NULL)
        return reject(c, "502 5.5.1 Error: command not implemented");
    if (new_session(c) < 0)
        return reply(c, "454 4.3.0 Try again later");
    if (reply(c, "220 2.0.0 Ready to start TLS") < 0 || handshake(c) < 0)
        return -1;
    /* RFC 3207: forget everything learned before TLS. */
    c->helo[0] = 0;
    reset_transaction(c);
    return 0;
}

/* Parse "FROM:<addr> ..." / "TO:<addr> ..." (brackets optional). */
static int parse_path(const char *args, const char *prefix, char *out, size_t size)
{
    size_t plen = strlen(prefix), len;
    const char *p, *end;

    if (strncasecmp(args, prefix, plen) != 0)
        return -1;
    for (p = args + plen; *p == ' '; p++)
        continue;
    if (*p == '<') {
        if ((end = strchr(++p, '>')) == NULL)
            return -1;
    } else {
        end = p + strcspn(p, " ");
    }
    len = (size_t) (end - p);
    if (len >= size)
        return -1;
    memcpy(out, p, len);
    out[len] = 0;
    make_printable(out);
    return 0;
}

static int cmd_mail(struct client *c, const char *args)
{
    char sender[SMTP_LINE_MAX];

    if (c->tls == NULL && mtatls_ctx_tls_required(c->server->ctx))
        return reject(c, "530 5.7.0 Must issue a STARTTLS command first");
    if (c->helo[0] == 0)
        return reject(c, "503 5.5.1 Error: send HELO/EHLO first");
    if (c->in_mail)
        return reject(c, "503 5.5.1 Error: nested MAIL command");
    if (parse_path(args, "FROM:", sender, sizeof(sender)) < 0)
        return reject(c, "501 5.5.4 Syntax: MAIL FROM:<address>");
    c->in_mail = 1;
    return reply(c, "250 2.1.0 Ok");
}

static int cmd_rcpt(struct client *c, const char *args)
{
    char rcpt[SMTP_LINE_MAX];

    if (!c->in_mail)
        return reject(c, "503 5.5.1 Error: need MAIL command");
    if (parse_path(args, "TO:", rcpt, sizeof(rcpt)) < 0 || rcpt[0] == 0)
        return reject(c, "501 5.5.4 Syntax: RCPT TO:<address>");
    if (c->nrcpt >= RCPT_MAX)
        return reject(c, "452 4.5.3 Error: too many recipients");
    if (c->nrcpt++ == 0)
        strcpy(c->rcpt, rcpt);
    return reply(c, "250 2.1.5 Ok");
}

/* Append `len` bytes to the message, unless it is already too big. */
static void message_append(struct message *m, const char *data, size_t len)
{
    if (m->too_big || m->no_memory)
        return;
    if (m->len + len > MESSAGE_SIZE_MAX) {
        m->too_big = 1;
        return;
    }
    if (m->len + len > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8192;
        char *p;
        while (cap < m->len + len)
            cap *= 2;
        if ((p = realloc(m->data, cap)) == NULL) {
            m->no_memory = 1;
            return;
        }
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->len, data, len);
    m->len += len;
}

/* Read the message up to the lone ".", undoing dot-stuffing. */
static int read_message(struct client *c, struct message *m)
{
    char line[SMTP_LINE_MAX];
    int at_line_start = 1;

    for (;;) {
        int complete = 0, n = smtp_read_chunk(&c->conn, line, sizeof(line), &complete);
        const char *text = line;

        if (n < 0) {
            report_io(c, n);
            return -1;
        }
        if (at_line_start && line[0] == '.') {
            if (complete && n == 1)
                return 0;
            text++;
            n--;
        }
        message_append(m, text, (size_t) n);
        if (complete)
            message_append(m, "\n", 1);
        at_line_start = complete;
    }
}

/* RFC 2822 date as Postfix writes it: "Sat,  1 Nov 2026 23:20:01 +0000 (UTC)". */
static void mail_date(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;

    if (localtime_r(&now, &tm) == NULL || strftime(buf, size, "%a, %e %b %Y %H:%M:%S %z (%Z)", &tm) == 0)
        snprintf(buf, size, "unknown date");
}

/* The TLS comment lines for the Received: header, if any (malloc'd). */
static char *tls_comment(struct client *c)
{
    size_t len;
    char *text;

    if (c->tls == NULL || !mtatls_ctx_received_header(c->server->ctx))
        return NULL;
    if ((len = mtatls_session_received_comment(c->tls, NULL, 0)) == 0 || (text = malloc(len + 1)) == NULL)
        return NULL;
    (void) mtatls_session_received_comment(c->tls, text, len + 1);
    return text;
}

/* Write the Received: header, as Postfix's smtpd formats it. */
static void write_received(struct client *c, unsigned long id, FILE *out)
{
    const char *proto = c->esmtp ? (c->tls ? "ESMTPS" : "ESMTP") : (c->tls ? "SMTPS" : "SMTP");
    char date[64], *comment = tls_comment(c);

    mail_date(date, sizeof(date));
    fprintf(out, "Received: from %s (%s [%s%s])\n", c->helo, c->name,
            strchr(c->addr, ':') ? "IPv6:" : "", c->addr);
    if (comment != NULL)
        fprintf(out, "%s\n", comment);
    free(comment);
    if (c->nrcpt == 1)
        fprintf(out, "\tby %s (%s) with %s id %lu\n\tfor <%s>; %s\n", c->server->hostname, PROG,
                proto, id, c->rcpt, date);
    else
        fprintf(out, "\tby %s (%s) with %s id %lu;\n\t%s\n", c->server->hostname, PROG, proto,
                id, date);
}

/* Header, message and an empty separator line to stdout. */
static int write_message(struct client *c, unsigned long id, const struct message *m)
{
    write_received(c, id, stdout);
    if (m->len > 0 && fwrite(m->data, 1, m->len, stdout) != m->len)
        return -1;
    if (fputc('\n', stdout) == EOF || fflush(stdout) == EOF || ferror(stdout))
        return -1;
    return 0;
}

static int cmd_data(struct client *c, const char *args)
{
    struct message m;
    int r;

    if (*args)
        return reject(c, "501 5.5.4 Syntax: DATA");
    if (c->nrcpt == 0)
        return reject(c, "503 5.5.1 Error: need RCPT command");
    if (reply(c, "354 End data with <CR><LF>.<CR><LF>") < 0)
        return -1;
    memset(&m, 0, sizeof(m));
    c->last_cmd = "END-OF-MESSAGE";
    if (read_message(c, &m) < 0)
        r = -1;
    else if (m.too_big)
        r = reject(c, "552 5.3.4 Error: message file too big");
    else if (m.no_memory)
        r = reply(c, "451 4.3.0 Error: insufficient system storage");
    else if (write_message(c, ++c->server->last_id, &m) < 0)
        r = reply(c, "451 4.3.0 Error: queue file write error");
    else
        r = reply(c, "250 2.0.0 Ok: queued as %lu", c->server->last_id);
    free(m.data);
    reset_transaction(c);
    return r;
}

static int cmd_rset(struct client *c, const char *args)
{
    (void) args;
    reset_transaction(c);
    return reply(c, "250 2.0.0 Ok");
}

static int cmd_noop(struct client *c, const char *args)
{
    (void) args;
    return reply(c, "250 2.0.0 Ok");
}

static int cmd_quit(struct client *c, const char *args)
{
    (void) args;
    c->quit = 1;
    return reply(c, "221 2.0.0 Bye");
}

struct command {
    const char *verb;
    int (*handle)(struct client *c, const char *args);
};

static const struct command commands[] = {
    {"EHLO", cmd_ehlo}, {"HELO", cmd_helo}, {"STARTTLS", cmd_starttls},
    {"MAIL", cmd_mail}, {"RCPT", cmd_rcpt}, {"DATA", cmd_data},
    {"RSET", cmd_rset}, {"NOOP", cmd_noop}, {"QUIT", cmd_quit},
    {NULL, NULL},
};

/* Run one command line. */
static int dispatch(struct client *c, const char *line)
{
    size_t vlen = strcspn(line, " ");
    const char *args = line + vlen;
    const struct command *cmd;

    while (*args == ' ')
        args++;
    for (cmd = commands; cmd->verb != NULL; cmd++) {
        if (strlen(cmd->verb) == vlen && strncasecmp(line, cmd->verb, vlen) == 0) {
            c->last_cmd = cmd->verb;
            return cmd->handle(c, args);
        }
    }
    c->last_cmd = "UNKNOWN";
    if (vlen == 0)
        return reject(c, "500 5.5.2 Error: bad syntax");
    return reject(c, "502 5.5.2 Error: command not recognized");
}

static void command_loop(struct client *c)
{
    char line[SMTP_LINE_MAX];

    while (!c->quit) {
        int n;

        if (c->errors >= ERROR_LIMIT) {
            msg_info(PROG, "too many errors after %s from %s", c->last_cmd, c->label);
            (void) reply(c, "421 4.7.0 %s Error: too many errors", c->server->hostname);
            return;
        }
        n = smtp_read_line(&c->conn, line, sizeof(line));
        if (n == SMTP_IO_TOO_LONG) {
            if (reject(c, "500 5.5.0 Error: line too long") < 0)
                return;
            continue;
        }
        if (n < 0) {
            report_io(c, n);
            return;
        }
        if (dispatch(c, line) < 0)
            return;
    }
}

/* Wrapper mode handshake (if any), then the banner. */
static int greet(struct client *c)
{
    if (mtatls_ctx_wrappermode(c->server->ctx) && (new_session(c) < 0 || handshake(c) < 0))
        return -1;
    return reply(c, "220 %s ESMTP mtatls", c->server->hostname);
}

static void serve_client(struct server *s, int fd, const struct sockaddr *sa, socklen_t len)
{
    struct client c;

    memset(&c, 0, sizeof(c));
    c.server = s;
    c.last_cmd = "CONNECT";
    if (label_for_client(sa, len, c.name, sizeof(c.name), c.addr, sizeof(c.addr), c.label,
                         sizeof(c.label)) < 0)
        snprintf(c.label, sizeof(c.label), "unknown[unknown]");
    msg_info(PROG, "connect from %s", c.label);
    if (smtp_conn_init(&c.conn, fd, COMMAND_TIMEOUT) < 0) {
        report_io(&c, SMTP_IO_ERROR);
    } else {
        c.conn.stop = &stop_signal;
        if (greet(&c) == 0)
            command_loop(&c);
    }
    if (c.tls != NULL && (c.quit || c.tls_abort)) {
        mtatls_result r;
        while ((r = mtatls_session_stop(c.tls, STOP_TIMEOUT)) == MTATLS_RESULT_INTERRUPTED
               && !stop_signal)
            continue;
        if (r != MTATLS_RESULT_OK)
            msg_info(PROG, "TLS shutdown with %s: %s", c.label, mtatls_session_error(c.tls));
    }
    mtatls_session_free(c.tls);
    msg_info(PROG, "disconnect from %s", c.label);
}

/* ---- Main loop ---- */

/* Wait for and accept one connection; -1 on a signal or error. */
static int accept_client(struct server *s, const sigset_t *waitmask, struct sockaddr_storage *ss,
                         socklen_t *len)
{
    for (;;) {
        fd_set readable;
        int fd;

        if (stop_signal)
            return -1;
        FD_ZERO(&readable);
        FD_SET(s->listen_fd, &readable);
        if (pselect(s->listen_fd + 1, &readable, NULL, NULL, NULL, waitmask) < 0) {
            if (errno == EINTR)
                continue;
            msg_info(PROG, "select: %s", strerror(errno));
            return -1;
        }
        *len = sizeof(*ss);
        if ((fd = accept(s->listen_fd, (struct sockaddr *) ss, len)) >= 0)
            return fd;
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED) {
            msg_info(PROG, "accept: %s", strerror(errno));
            return -1;
        }
    }
}

/* Serve `count` connections (0: until a signal). Returns the exit status. */
static int serve(struct server *s, long count)
{
    sigset_t stops, orig;
    long done;
    int status = 0;

    if (sigemptyset(&stops) < 0 || sigaddset(&stops, SIGTERM) < 0 || sigaddset(&stops, SIGINT) < 0
        || sigprocmask(SIG_BLOCK, &stops, &orig) < 0) {
        msg_info(PROG, "sigprocmask: %s", strerror(errno));
        return 1;
    }
    /* Signals are blocked except while waiting (pselect) or serving. */
    for (done = 0; count == 0 || done < count; done++) {
        struct sockaddr_storage ss;
        socklen_t len;
        int fd = accept_client(s, &orig, &ss, &len);

        if (fd < 0) {
            status = stop_signal ? 0 : 1;
            break;
        }
        (void) sigprocmask(SIG_SETMASK, &orig, NULL);
        serve_client(s, fd, (struct sockaddr *) &ss, len);
        if (close(fd) < 0)
            msg_info(PROG, "close: %s", strerror(errno));
        (void) sigprocmask(SIG_BLOCK, &stops, NULL);
    }
    if (stop_signal)
        msg_info(PROG, "terminating on signal %d", (int) stop_signal);
    (void) sigprocmask(SIG_SETMASK, &orig, NULL);
    return status;
}

int main(int argc, char **argv)
{
    struct smtpd_opts opts;
    struct server server;
    mtatls_params *params;
    int status = 1;

    memset(&server, 0, sizeof(server));
    server.listen_fd = -1;
    if (parse_args(argc, argv, &opts) < 0)
        return 2;
    if ((params = param_args_build(&opts.params, PROG, smtpd_defaults)) == NULL)
        return 2;
    if (catch_stop_signals() < 0) {
        msg_info(PROG, "sigaction: %s", strerror(errno));
        goto out;
    }
    local_hostname(server.hostname, sizeof(server.hostname));
    if (build_context(params, &server) < 0 || (server.listen_fd = open_listener(&opts)) < 0)
        goto out;
    status = serve(&server, opts.count);
out:
    if (server.listen_fd >= 0 && close(server.listen_fd) < 0)
        msg_info(PROG, "close: %s", strerror(errno));
    mtatls_ctx_free(server.ctx);
    mtatls_params_free(params);
    return status;
}
