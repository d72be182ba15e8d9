/*
 * mtatls-finger - probe an SMTP server's STARTTLS like Postfix's
 * posttls-finger(1), through the mtatls C API.
 *
 * usage: mtatls-finger [options] host[:port] [match ...]
 *
 * Connects, reads the greeting, sends EHLO, STARTTLS, runs the TLS
 * handshake (the library logs Postfix's "... TLS connection established
 * to ..." line and, by default, the certificate-match lines), sends EHLO
 * again through TLS and QUIT. With -w the TLS handshake comes right after
 * connect (SMTPS). Lines go to stderr.
 *
 * Options (letters as posttls-finger's where they exist; the settings of
 * these letters are applied after -c files and -o overrides):
 *   -c main.cf     read parameters from a main.cf file (repeatable)
 *   -o name=value  set a parameter (repeatable)
 *   -h name        EHLO name (default: the local host name)
 *   -w             TLS wrapper mode (SMTPS)
 *   -l level       security level of the session (mtatls_session_set_level);
 *                  default smtp_tls_security_level (here: may)
 *   -F CAfile      smtp_tls_CAfile            -P CApath   smtp_tls_CApath
 *   -A file        smtp_tls_trust_anchor_file (repeatable)
 *   -d digest      smtp_tls_fingerprint_digest
 *   -L logopts     smtp_tls_loglevel (default: routine,certmatch)
 *   -p protocols   smtp_tls_protocols and smtp_tls_mandatory_protocols
 *   -g grade       smtp_tls_ciphers and smtp_tls_mandatory_ciphers
 *   -H files       smtp_tls_chain_files: client key+certificate (repeatable)
 *   -s servername  smtp_tls_servername (SNI), ignored with a warning if the
 *                  library does not know that parameter
 *   -t u:s:m:hex   a TLSA record for levels dane/dane-only (repeatable;
 *                  posttls-finger gets these from DNS)
 *   -b domain      TLSA base domain (default: the destination host)
 *   -Z file        keep TLS sessions in this file (the library's external
 *                  session cache callbacks), so that a later run resumes
 *                  them; posttls-finger has no such option (its -r
 *                  reconnects within one process)
 * The match arguments (joined with ", ") replace the level's match list:
 * fingerprints at level fingerprint, else names and strategies. The
 * destination host (without brackets) is both the host name and the
 * next-hop domain of the match strategies.
 *
 * Exit status: 0 when TLS was established and the level's authentication
 * requirement was met; 1 otherwise (a peer that failed authentication
 * still gets QUIT through TLS); 2 on usage errors.
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
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "smtp_io.h"

#define PROG "mtatls-finger"
#define DEFAULT_PORT "25"
#define CONNECT_TIMEOUT 30   /* seconds, as posttls-finger -t */
#define COMMAND_TIMEOUT 30   /* seconds per reply, as posttls-finger -T */
#define TLSA_MAX 32          /* most -t records */
#define TLSA_DATA_MAX 8192   /* bytes of one record's association data */

/* Parameter defaults, before -c and -o. */
static const char *const finger_defaults[] = {
    "smtp_tls_security_level=may",
    "smtp_tls_loglevel=routine,certmatch",   /* posttls-finger's -L default */
    NULL,
};

/* One -t usage:selector:mtype:hexdata record, decoded. */
struct tlsa_arg {
    unsigned char usage, selector, mtype;
    unsigned char *data;   /* malloc'd */
    size_t len;
};

/* The command line. */
struct finger_opts {
    struct param_args params;
    const char *helo;    /* -h name, or NULL for the local host name */
    int wrapper;         /* -w: TLS on connect (SMTPS) */
    const char *level;   /* -l, or NULL for smtp_tls_security_level */
    const char *servername;   /* -s, or NULL */
    const char *tlsa_base;    /* -b, or NULL */
    const char *cache_file;   /* -Z, or NULL */
    struct tlsa_arg tlsa[TLSA_MAX];   /* -t */
    size_t ntlsa;
    char *match;         /* the match arguments joined with ", ", or NULL */
    char host[LABEL_HOST_MAX];   /* from host[:port] */
    char port[32];
};

/* One probe. */
struct finger {
    struct smtp_conn conn;
    mtatls_ctx *ctx;
    mtatls_session *tls;
    const struct finger_opts *opts;
    char helo[LABEL_HOST_MAX];
    char label[LABEL_MAX];
};

/* What start_tls found. */
enum tls_outcome {
    TLS_FAILED = -1,      /* no TLS: stop talking */
    TLS_VERIFIED = 0,     /* established, the level's requirement met */
    TLS_NOT_VERIFIED = 1  /* established, peer not authenticated: QUIT */
};

static void usage(void)
{
    (void) fprintf(stderr,
                   "usage: %s [-w] [-h helo] [-c main.cf] [-o name=value] [-l level]\n"
                   "\t[-F CAfile] [-P CApath] [-A trust-anchor-file] [-d digest] [-L logopts]\n"
                   "\t[-p protocols] [-g grade] [-H chain-files] [-s servername]\n"
                   "\t[-t usage:selector:mtype:hexdata] [-b tlsa-base-domain] [-Z cache-file]\n"
                   "\thost[:port] [match ...]\n",
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

/* Append `item` to the malloc'd list `*list`, separated by ", ".
 * Returns 0, or -1 when out of memory (message printed). */
static int append_list(char **list, const char *item)
{
    size_t old = *list ? strlen(*list) : 0, len = old + strlen(item) + 3;
    char *p = realloc(*list, len);

    if (p == NULL) {
        msg_info(PROG, "out of memory");
        return -1;
    }
    snprintf(p + old, len - old, "%s%s", old ? ", " : "", item);
    *list = p;
    return 0;
}

static int hex_value(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* A number 0..255 ending at ':'; advances *p past the ':'. */
static int tlsa_field(const char **p, unsigned char *out)
{
    char *end;
    long v;

    if (!isdigit((unsigned char) **p))
        return -1;
    errno = 0;
    v = strtol(*p, &end, 10);
    if (errno != 0 || *end != ':' || v < 0 || v > 255)
        return -1;
    *out = (unsigned char) v;
    *p = end + 1;
    return 0;
}

/* Decode "usage:selector:mtype:hexdata" (colons inside hexdata, as in
 * fingerprints, are skipped). The library checks the values' ranges. */
static int parse_tlsa(const char *arg, struct tlsa_arg *t)
{
    const char *p = arg;
    unsigned char *data;
    size_t len = 0;
    int hi = -1;

    if (tlsa_field(&p, &t->usage) < 0 || tlsa_field(&p, &t->selector) < 0
        || tlsa_field(&p, &t->mtype) < 0 || *p == 0 || strlen(p) > 3 * TLSA_DATA_MAX)
        return -1;
    if ((data = malloc(strlen(p) / 2 + 1)) == NULL)
        return -1;
    for (; *p; p++) {
        int v = hex_value((unsigned char) *p);
        if (*p == ':' && hi < 0)
            continue;
        if (v < 0)
            goto bad;
        if (hi < 0) {
            hi = v;
        } else {
            data[len++] = (unsigned char) (hi << 4 | v);
            hi = -1;
        }
    }
    if (hi >= 0 || len == 0 || len > TLSA_DATA_MAX)
        goto bad;
    t->data = data;
    t->len = len;
    return 0;
bad:
    free(data);
    return -1;
}

/* Whether the library accepts `level` as a client security level. */
static int level_ok(const char *level)
{
    mtatls_params *scratch = NULL;
    int ok;

    if (mtatls_params_new(&scratch) != MTATLS_RESULT_OK)
        return 0;
    ok = mtatls_params_set(scratch, "smtp_tls_security_level", level) == MTATLS_RESULT_OK;
    if (!ok)
        msg_info(PROG, "bad -l level: %s", mtatls_params_error(scratch));
    mtatls_params_free(scratch);
    return ok;
}

static void free_opts(struct finger_opts *opts)
{
    while (opts->ntlsa > 0)
        free(opts->tlsa[--opts->ntlsa].data);
    free(opts->match);
    opts->match = NULL;
    param_args_free(&opts->params);
}

/* Settings of the option letters that stand for parameters. */
struct letter_params {
    const char *cafile, *capath, *digest, *logopts, *protocols, *grade;
    char *anchors, *chains;   /* lists built from repeated -A / -H */
};

/* Turn the letters into overrides after the -o ones. */
static int apply_letters(struct finger_opts *opts, const struct letter_params *lp)
{
    struct param_args *a = &opts->params;

    return (lp->cafile && param_args_set(a, PROG, "smtp_tls_CAfile", lp->cafile) < 0)
        || (lp->capath && param_args_set(a, PROG, "smtp_tls_CApath", lp->capath) < 0)
        || (lp->anchors && param_args_set(a, PROG, "smtp_tls_trust_anchor_file", lp->anchors) < 0)
        || (lp->digest && param_args_set(a, PROG, "smtp_tls_fingerprint_digest", lp->digest) < 0)
        || (lp->logopts && param_args_set(a, PROG, "smtp_tls_loglevel", lp->logopts) < 0)
        || (lp->protocols && (param_args_set(a, PROG, "smtp_tls_protocols", lp->protocols) < 0
                              || param_args_set(a, PROG, "smtp_tls_mandatory_protocols",
                                                lp->protocols) < 0))
        || (lp->grade && (param_args_set(a, PROG, "smtp_tls_ciphers", lp->grade) < 0
                          || param_args_set(a, PROG, "smtp_tls_mandatory_ciphers", lp->grade) < 0))
        || (lp->chains && param_args_set(a, PROG, "smtp_tls_chain_files", lp->chains) < 0)
        ? -1 : 0;
}

/* The getopt loop; 0 or -1 (message printed). */
static int parse_letters(int argc, char **argv, struct finger_opts *opts, struct letter_params *lp)
{
    int ch;

    while ((ch = getopt(argc, argv, "A:b:c:d:F:g:h:H:l:L:o:p:P:s:t:wZ:")) != -1) {
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
        case 'l':
            if (!level_ok(optarg))
                return -1;
            opts->level = optarg;
            break;
        case 'A':
            if (append_list(&lp->anchors, optarg) < 0)
                return -1;
            break;
        case 'H':
            if (append_list(&lp->chains, optarg) < 0)
                return -1;
            break;
        case 'F':
            lp->cafile = optarg;
            break;
        case 'P':
            lp->capath = optarg;
            break;
        case 'd':
            lp->digest = optarg;
            break;
        case 'L':
            lp->logopts = optarg;
            break;
        case 'p':
            lp->protocols = optarg;
            break;
        case 'g':
            lp->grade = optarg;
            break;
        case 's':
            opts->servername = optarg;
            break;
        case 'b':
            opts->tlsa_base = optarg;
            break;
        case 'Z':
            opts->cache_file = optarg;
            break;
        case 't':
            if (opts->ntlsa >= TLSA_MAX) {
                msg_info(PROG, "too many -t records (at most %d)", TLSA_MAX);
                return -1;
            }
            if (parse_tlsa(optarg, &opts->tlsa[opts->ntlsa]) < 0) {
                msg_info(PROG, "bad -t record \"%s\": expected usage:selector:mtype:hexdata",
                         optarg);
                return -1;
            }
            opts->ntlsa++;
            break;
        default:
            usage();
            return -1;
        }
    }
    return 0;
}

/* Returns 0, or -1 on a usage error (message printed; free_opts). */
static int parse_args(int argc, char **argv, struct finger_opts *opts)
{
    struct letter_params lp;
    int i, r;

    memset(opts, 0, sizeof(*opts));
    memset(&lp, 0, sizeof(lp));
    r = parse_letters(argc, argv, opts, &lp);
    if (r == 0)
        r = apply_letters(opts, &lp);
    free(lp.anchors);
    free(lp.chains);
    if (r < 0)
        return -1;
    if (optind >= argc) {
        usage();
        return -1;
    }
    if (split_dest(argv[optind], opts->host, sizeof(opts->host), opts->port, sizeof(opts->port)) < 0) {
        msg_info(PROG, "bad destination \"%s\": expected host:port", argv[optind]);
        return -1;
    }
    for (i = optind + 1; i < argc; i++)
        if (append_list(&opts->match, argv[i]) < 0)
            return -1;
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

/* Give the new session what the command line says about the peer. */
static int configure_session(struct finger *f)
{
    const struct finger_opts *o = f->opts;
    size_t i;

    if ((o->level != NULL && mtatls_session_set_level(f->tls, o->level) != MTATLS_RESULT_OK)
        || mtatls_session_set_peer_names(f->tls, o->host, o->host) != MTATLS_RESULT_OK
        || (o->match != NULL && mtatls_session_set_match(f->tls, o->match) != MTATLS_RESULT_OK)
        || (o->tlsa_base != NULL
            && mtatls_session_set_tlsa_base(f->tls, o->tlsa_base) != MTATLS_RESULT_OK)) {
        msg_info(PROG, "%s", mtatls_session_error(f->tls));
        return -1;
    }
    if (o->cache_file != NULL) {
        /* The session cache key, as Postfix's serverid: [host]:port. */
        char serverid[LABEL_HOST_MAX + 40];

        snprintf(serverid, sizeof(serverid), "[%s]:%s", o->host, o->port);
        if (mtatls_session_set_serverid(f->tls, serverid) != MTATLS_RESULT_OK) {
            msg_info(PROG, "%s", mtatls_session_error(f->tls));
            return -1;
        }
    }
    for (i = 0; i < o->ntlsa; i++) {
        const struct tlsa_arg *t = &o->tlsa[i];
        if (mtatls_session_add_tlsa(f->tls, t->usage, t->selector, t->mtype, t->data, t->len)
            != MTATLS_RESULT_OK) {
            msg_info(PROG, "%s", mtatls_session_error(f->tls));
            return -1;
        }
    }
    return 0;
}

/* Start the TLS session and run the handshake. */
static enum tls_outcome start_tls(struct finger *f)
{
    mtatls_result r = mtatls_session_new(f->ctx, f->conn.fd, f->label, &f->tls);

    if (r != MTATLS_RESULT_OK) {
        msg_info(PROG, "cannot start TLS with %s: %s", f->label, mtatls_result_name(r));
        f->tls = NULL;
        return TLS_FAILED;
    }
    (void) smtp_conn_start_tls(&f->conn, f->tls);
    if (configure_session(f) < 0)
        return TLS_FAILED;
    /* A signal interrupted the wait: nothing is lost, go on. */
    while ((r = mtatls_session_handshake(f->tls, MTATLS_TIMEOUT_DEFAULT))
           == MTATLS_RESULT_INTERRUPTED)
        continue;
    if (r != MTATLS_RESULT_OK && r != MTATLS_RESULT_NOT_VERIFIED) {
        msg_info(PROG, "TLS handshake failed: %s", mtatls_session_error(f->tls));
        return TLS_FAILED;
    }
    if (mtatls_session_get_facts(f->tls) == NULL) {
        msg_info(PROG, "TLS handshake with %s left no session facts", f->label);
        return TLS_FAILED;
    }
    if (r == MTATLS_RESULT_NOT_VERIFIED) {
        /* "Server certificate not verified: ..." */
        msg_info(PROG, "%s", mtatls_session_error(f->tls));
        return TLS_NOT_VERIFIED;
    }
    return TLS_VERIFIED;
}

/* Send QUIT and close the TLS session, if any. */
static int quit(struct finger *f)
{
    struct smtp_reply reply;
    mtatls_result r;

    if (command(f, "QUIT", "sending QUIT", 221, &reply) < 0)
        return -1;
    if (f->tls == NULL)
        return 0;
    while ((r = mtatls_session_stop(f->tls, COMMAND_TIMEOUT)) == MTATLS_RESULT_INTERRUPTED)
        continue;
    if (r != MTATLS_RESULT_OK)
        msg_info(PROG, "TLS shutdown with %s: %s", f->label, mtatls_session_error(f->tls));
    return 0;
}

/* The SMTP dialogue; 0 when TLS was established and the peer met the
 * level's authentication requirement. With `no_tls` (level none) the
 * dialogue is EHLO and QUIT only. */
static int chat(struct finger *f, int wrapper, int no_tls)
{
    struct smtp_reply reply;
    enum tls_outcome tls = TLS_FAILED;

    if (wrapper && (tls = start_tls(f)) == TLS_FAILED)
        return -1;
    if (command(f, NULL, "receiving the initial server greeting", 220, &reply) < 0)
        return -1;
    /* An unauthenticated peer gets only QUIT. */
    if (tls != TLS_NOT_VERIFIED) {
        if (ehlo(f, &reply) < 0)
            return -1;
        if (no_tls) {
            msg_info(PROG, "not using STARTTLS with %s: security level none", f->label);
            (void) quit(f);
            return -1;
        }
        if (!wrapper) {
            if (!smtp_reply_has(&reply, "STARTTLS")) {
                msg_info(PROG, "host %s offers no STARTTLS", f->label);
                (void) quit(f);
                return -1;
            }
            if (command(f, "STARTTLS", "sending STARTTLS", 220, &reply) < 0
                || (tls = start_tls(f)) == TLS_FAILED)
                return -1;
            if (tls == TLS_VERIFIED && ehlo(f, &reply) < 0)
                return -1;
        }
    }
    if (quit(f) < 0)
        return -1;
    return tls == TLS_VERIFIED ? 0 : -1;
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
static int probe(struct finger *f, int no_tls)
{
    const struct finger_opts *opts = f->opts;
    int fd = connect_dest(f, opts->host, opts->port), status = 1;

    if (fd < 0)
        return 1;
    if (smtp_conn_init(&f->conn, fd, COMMAND_TIMEOUT) < 0)
        msg_info(PROG, "%s: %s", f->label, smtp_conn_error(&f->conn));
    else if (chat(f, opts->wrapper, no_tls) == 0)
        status = 0;
    /* Free the session before closing its socket. */
    mtatls_session_free(f->tls);
    f->tls = NULL;
    if (close(fd) < 0)
        msg_info(PROG, "close: %s", strerror(errno));
    return status;
}

/* -s: smtp_tls_servername, if the library has it. 0, or -1 (printed). */
static int set_servername(mtatls_params *params, const char *name)
{
    mtatls_result r = mtatls_params_set(params, "smtp_tls_servername", name);

    if (r == MTATLS_RESULT_UNKNOWN_PARAMETER) {
        msg_info(PROG, "warning: -s %s ignored: %s", name, mtatls_params_error(params));
        return 0;
    }
    if (r != MTATLS_RESULT_OK) {
        msg_info(PROG, "%s", mtatls_params_error(params));
        return -1;
    }
    return 0;
}

/*
 * -Z: an external session cache in a file, through the library's
 * callbacks. One entry per line, "EXPIRES HEX-DER KEY" (KEY to the end of
 * the line); put and remove rewrite the file through a temporary one and
 * rename(2). Enough for one probe at a time; errors only lose the cache.
 */
#define CACHE_LINE_MAX 65536

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Copy the file's lines to `out` except those for `key` and expired ones. */
static void cache_copy_others(FILE *in, FILE *out, const char *key)
{
    char line[CACHE_LINE_MAX];

    while (in != NULL && fgets(line, sizeof(line), in) != NULL) {
        char *sp = strchr(line, ' ');
        char *k = sp ? strchr(sp + 1, ' ') : NULL;

        line[strcspn(line, "\n")] = 0;
        if (k == NULL || strtoull(line, NULL, 10) <= (unsigned long long) time(NULL)
            || strcmp(k + 1, key) == 0)
            continue;
        fprintf(out, "%s\n", line);
    }
}

/* Replace the file by its other entries plus, unless `der` is NULL, a new one. */
static void cache_rewrite(const char *path, const char *key, const uint8_t *der, size_t len,
                          uint64_t expires)
{
    char tmp[4096];
    FILE *in, *out;
    size_t i;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int) sizeof(tmp)
        || (out = fopen(tmp, "w")) == NULL)
        return;
    in = fopen(path, "r");
    cache_copy_others(in, out, key);
    if (in != NULL)
        fclose(in);
    if (der != NULL && 2 * len + 64 + strlen(key) < CACHE_LINE_MAX && strchr(key, '\n') == NULL) {
        fprintf(out, "%llu ", (unsigned long long) expires);
        for (i = 0; i < len; i++)
            fprintf(out, "%02x", der[i]);
        fprintf(out, " %s\n", key);
    }
    if (fclose(out) != 0 || rename(tmp, path) != 0)
        msg_info(PROG, "warning: session cache %s not updated: %s", path, strerror(errno));
}

static size_t cache_get(void *userdata, const char *key, uint8_t *buf, size_t len)
{
    char line[CACHE_LINE_MAX];
    FILE *in = fopen((const char *) userdata, "r");
    size_t found = 0;

    while (in != NULL && found == 0 && fgets(line, sizeof(line), in) != NULL) {
        char *hex = strchr(line, ' '), *k = hex ? strchr(hex + 1, ' ') : NULL;
        size_t i, n;

        line[strcspn(line, "\n")] = 0;
        if (k == NULL || strcmp(k + 1, key) != 0
            || strtoull(line, NULL, 10) <= (unsigned long long) time(NULL))
            continue;
        n = (size_t) (k - hex - 1) / 2;
        for (i = 0; i < n && i < len; i++) {
            int hi = hexval(hex[1 + 2 * i]), lo = hexval(hex[2 + 2 * i]);

            if (hi < 0 || lo < 0)
                break;
            buf[i] = (uint8_t) (hi << 4 | lo);
        }
        found = i == n || i == len ? n : 0;
    }
    if (in != NULL)
        fclose(in);
    return found;
}

static void cache_put(void *userdata, const char *key, const uint8_t *der, size_t len,
                      uint64_t expires)
{
    cache_rewrite((const char *) userdata, key, der, len, expires);
}

static void cache_remove(void *userdata, const char *key)
{
    cache_rewrite((const char *) userdata, key, NULL, 0, 0);
}

/* Whether the session level will be "none": -l none, or no -l and
 * smtp_tls_security_level = none. */
static int level_is_none(mtatls_params *params, const char *level)
{
    char value[32];

    if (level != NULL)
        return strcasecmp(level, "none") == 0;
    return mtatls_params_get(params, "smtp_tls_security_level", value, sizeof(value), NULL)
        == MTATLS_RESULT_OK && strcasecmp(value, "none") == 0;
}

int main(int argc, char **argv)
{
    struct finger_opts opts;
    struct finger f;
    mtatls_params *params = NULL;
    mtatls_result r;
    int status = 2, no_tls;

    memset(&f, 0, sizeof(f));
    f.opts = &opts;
    if (parse_args(argc, argv, &opts) < 0
        || (params = param_args_build(&opts.params, PROG, finger_defaults)) == NULL
        || (opts.servername != NULL && set_servername(params, opts.servername) < 0))
        goto out;
    status = 1;
    if ((no_tls = level_is_none(params, opts.level)) && opts.wrapper) {
        msg_info(PROG, "security level none: no TLS wrapper mode");
        goto out;
    }
    if (ignore_sigpipe() < 0) {
        msg_info(PROG, "sigaction: %s", strerror(errno));
        goto out;
    }
    if (opts.cache_file != NULL
        && mtatls_params_set_session_cache(params, cache_get, cache_put, cache_remove,
                                           (void *) opts.cache_file) != MTATLS_RESULT_OK) {
        msg_info(PROG, "%s", mtatls_params_error(params));
        goto out;
    }
    if ((r = mtatls_ctx_new(params, "smtp", &f.ctx)) != MTATLS_RESULT_OK) {
        msg_info(PROG, "%s", mtatls_params_error(params));
        goto out;
    }
    pick_helo(&f, opts.helo);
    status = probe(&f, no_tls);
out:
    mtatls_ctx_free(f.ctx);
    mtatls_params_free(params);
    free_opts(&opts);
    return status;
}
