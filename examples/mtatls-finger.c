/*
 * mtatls-finger - probe an SMTP or LMTP server's TLS the way Postfix's
 * posttls-finger(1) does, through the mtatls C API.
 *
 * usage: mtatls-finger [options] destination [match ...]
 *
 * The options are posttls-finger's, with its syntax and defaults; each
 * TLS option maps to one per-session call of the library, so a single
 * context serves every setting:
 *   -a family     address preference: ipv4, ipv6 or any (default any)
 *   -c            no SMTP chat lines ("Connected to", "> ...", "< ...")
 *   -h lookup     host lookup: dns or native (both use the system resolver)
 *   -o name=value a parameter (repeatable; `myhostname` is the EHLO name)
 *   -S            LMTP (LHLO) instead of SMTP; default port 24
 *   -t seconds    connect timeout (default 30)
 *   -T seconds    timeout of each SMTP reply and of the TLS handshake
 *                 (default 30)
 *   -v            accepted (more verbose: nothing more here)
 *   -A file       trust anchors (repeatable)   mtatls_session_set_trust_anchor_file
 *   -C            print the server's certificate chain (stdout)
 *   -d digest     fingerprint digest           mtatls_session_set_fingerprint_digest
 *   -f            accepted (no DNS lookups here; see -D)
 *   -F CAfile     CA file                      mtatls_session_set_ca_file
 *   -g grade      cipher grade (default medium) mtatls_session_set_cipher_grade
 *   -H files      chain files (repeatable)     mtatls_session_set_chain_files
 *   -k certfile   client certificate (smtp_tls_cert_file; with -K)
 *   -K keyfile    client key (smtp_tls_key_file; with -k)
 *   -l level      security level (default may) mtatls_session_set_level
 *   -L logopts    log types (default routine,certmatch) mtatls_session_set_loglevel
 *   -m count      most reconnections with -r (default 5)
 *   -M level      insecure MX level: may, encrypt or dane (checked; no DNS)
 *   -p protocols  TLS protocols (default >=TLSv1) mtatls_session_set_protocols
 *   -P CApath     CA directory                 mtatls_session_set_ca_path
 *   -r delay      reconnect after delay seconds, resuming the TLS session
 *   -s name       SNI name                     mtatls_session_set_servername
 *   -w            TLS wrapper mode (SMTPS)
 * Not supported (a usage error): -R (SRV lookups), -X (tlsproxy), -x (raw
 * public keys).
 * Options of this program only:
 *   -D u:s:m:hex  a TLSA record for levels dane and dane-only (repeatable;
 *                 posttls-finger gets these from DNS)
 *   -b domain     TLSA base domain (default: the destination host)
 *   -Z file       keep TLS sessions in this file (the library's session
 *                 cache callbacks), so that a later run resumes them
 *   -Q socket     TLSRPT (RFC 8460): after each TLS handshake (established,
 *                 not verified or failed) report its outcome, as the
 *                 library classifies it (mtatls_session_tlsrpt_*), through
 *                 libtlsrpt to the collector at this socket (tlsrpt-collectd),
 *                 and log Postfix's "TLSRPT: status=..." line (also
 *                 starttls-not-supported when the server offers no STARTTLS
 *                 at a level above may, as Postfix's smtp); needs -q and
 *                 a build with -DMTATLS_FINGER_TLSRPT linked with libtlsrpt
 *                 (posttls-finger has no such option; Postfix's smtp with
 *                 smtp_tlsrpt_enable = yes reports the same way)
 *   -q domain:record  the next-hop domain the TLSRPT report is for (also the
 *                 session's next hop for match strategies) and its TLSRPT
 *                 policy record ("v=TLSRPTv1; rua=..."), which Postfix's smtp
 *                 finds in DNS at _smtp._tls.domain
 *
 * Parameters: $MAIL_CONFIG/main.cf when MAIL_CONFIG is set (as
 * posttls-finger reads its main.cf), then -o. The destination is host,
 * host:port, [host]:port or [address]:port; no MX lookups are done (a bare
 * name is the host). The match arguments replace the level's match list:
 * fingerprints at level fingerprint, else names and strategies.
 *
 * Output as posttls-finger's: log lines on stderr, the chain (-C) on
 * stdout. Unlike posttls-finger, the exit status says what was found: 0
 * when TLS was established and the level's requirement met (with -r: on
 * every connection); 1 otherwise (an unverified server is reported with
 * "Server certificate not verified: ..."); 2 on usage errors.
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

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "smtp_io.h"

#ifdef MTATLS_FINGER_TLSRPT
#include <tlsrpt.h>
#endif

#define PROG "mtatls-finger"
#define TLSA_MAX 32          /* most -D records */
#define TLSA_DATA_MAX 8192   /* bytes of one record's association data */
#define ADDRS_MAX 16         /* addresses of one host tried */
#define MEMCACHE_MAX 16      /* sessions kept in memory for -r */

/* One -D usage:selector:mtype:hexdata record, decoded. */
struct tlsa_arg {
    unsigned char usage, selector, mtype;
    unsigned char *data;   /* malloc'd */
    size_t len;
};

/* The command line. */
struct finger_opts {
    struct param_args params;
    char main_cf[4096];       /* $MAIL_CONFIG/main.cf */
    int family;               /* -a: preferred address family, or AF_UNSPEC */
    int nochat;               /* -c */
    int lmtp;                 /* -S */
    int conn_timeout;         /* -t */
    int smtp_timeout;         /* -T */
    int print_chain;          /* -C */
    int wrapper;              /* -w */
    int reconnect;            /* -r delay, or -1 */
    int max_reconnect;        /* -m */
    const char *helo;         /* -o myhostname=, or NULL */
    const char *level;        /* -l */
    const char *digest;       /* -d, or NULL */
    const char *cafile, *capath;   /* -F, -P */
    const char *grade;        /* -g, or NULL */
    const char *protocols;    /* -p, or NULL */
    const char *logopts;      /* -L */
    const char *servername;   /* -s, or NULL */
    const char *certfile, *keyfile;   /* -k, -K */
    char *anchors, *chains;   /* -A, -H (joined with ", ") */
    const char *tlsa_base;    /* -b, or NULL */
    const char *cache_file;   /* -Z, or NULL */
    const char *tlsrpt_socket;   /* -Q, or NULL */
    char tlsrpt_domain[LABEL_HOST_MAX];   /* -q domain, or "" */
    const char *tlsrpt_record;   /* -q record, or NULL */
    struct tlsa_arg tlsa[TLSA_MAX];   /* -D */
    size_t ntlsa;
    char *match;              /* the match arguments joined with ", ", or NULL */
    const char *dest;         /* as given */
    char host[LABEL_HOST_MAX];
    char port[32];
};

/* Sessions kept in memory between the connections of -r (posttls-finger's
 * in-memory cache), with its counters. */
struct memcache {
    struct {
        char *key;
        unsigned char *der;
        size_t len;
        uint64_t expires;
    } entry[MEMCACHE_MAX];
    size_t count;    /* entries */
    size_t hits;     /* lookups that found one */
};

/* One run: connections, one context. */
struct finger {
    struct smtp_conn conn;
    mtatls_ctx *ctx;
    mtatls_session *tls;
    const struct finger_opts *opts;
    struct memcache *memcache;
    int pass;                 /* 1 for the first connection */
    char helo[LABEL_HOST_MAX];
    char label[LABEL_MAX];
    char ehlo_reply[sizeof(((struct smtp_reply *) 0)->text)];   /* before STARTTLS */
};

/* What start_tls found. */
enum tls_outcome {
    TLS_FAILED = -1,      /* no TLS: stop talking */
    TLS_VERIFIED = 0,     /* established, the level's requirement met */
    TLS_NOT_VERIFIED = 1  /* established, peer not authenticated */
};

static void usage(void)
{
    (void) fprintf(stderr,
                   "usage: %s [-cCSvw] [-a family] [-h lookup] [-o name=value] [-t conn_tmout]\n"
                   "\t[-T smtp_tmout] [-A trust-anchor-file] [-d digest] [-F CAfile] [-g grade]\n"
                   "\t[-H chain-files] [-k certfile] [-K keyfile] [-l level] [-L logopts]\n"
                   "\t[-m count] [-M insecure_mx_level] [-p protocols] [-P CApath] [-r delay]\n"
                   "\t[-s servername] [-D usage:selector:mtype:hexdata] [-b tlsa-base-domain]\n"
                   "\t[-Z cache-file] [-Q tlsrpt-socket -q domain:record] destination [match ...]\n",
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

/* Split "host", "host:port", "[host]", "[host]:port" (also "inet:" first,
 * as posttls-finger takes for LMTP). */
static int split_dest(const char *dest, const char *default_port, char *host, size_t hsize,
                      char *port, size_t psize)
{
    const char *colon, *end;

    if (strncmp(dest, "inet:", 5) == 0)
        dest += 5;
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
        return copy_text(port, psize, default_port, strlen(default_port));
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

/* A whole non-negative decimal number; -1 otherwise. */
static int parse_count(const char *text)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != 0 || v < 0 || v > 86400)
        return -1;
    return (int) v;
}

static void free_opts(struct finger_opts *opts)
{
    while (opts->ntlsa > 0)
        free(opts->tlsa[--opts->ntlsa].data);
    free(opts->match);
    free(opts->anchors);
    free(opts->chains);
    opts->match = opts->anchors = opts->chains = NULL;
    param_args_free(&opts->params);
}

/* -o: "myhostname=NAME" is the EHLO name (as posttls-finger's
 * var_myhostname); everything else is a library parameter. */
static int option_o(struct finger_opts *opts, const char *arg)
{
    if (strncmp(arg, "myhostname=", 11) == 0) {
        if (!helo_ok(arg + 11)) {
            msg_info(PROG, "bad myhostname \"%s\"", arg + 11);
            return -1;
        }
        opts->helo = arg + 11;
        return 0;
    }
    return param_args_add(&opts->params, PROG, 'o', arg);
}

/* Options that take a number. */
static int option_number(int ch, const char *arg, int *out)
{
    if ((*out = parse_count(arg)) < 0) {
        msg_info(PROG, "bad '-%c' option value: %s", ch, arg);
        return -1;
    }
    return 0;
}

/* One option letter; 0 or -1 (message printed). */
static int option(struct finger_opts *opts, int ch, const char *arg)
{
    switch (ch) {
    case 'a':
        if (strcasecmp(arg, "ipv4") == 0)
            opts->family = AF_INET;
        else if (strcasecmp(arg, "ipv6") == 0)
            opts->family = AF_INET6;
        else if (strcasecmp(arg, "any") == 0)
            opts->family = AF_UNSPEC;
        else {
            msg_info(PROG, "bad '-a' option value: %s", arg);
            return -1;
        }
        return 0;
    case 'c':
        opts->nochat = 1;
        return 0;
    case 'h':
        if (strcasecmp(arg, "dns") != 0 && strcasecmp(arg, "native") != 0
            && strcasecmp(arg, "dns, native") != 0 && strcasecmp(arg, "native, dns") != 0) {
            msg_info(PROG, "bad '-h' option value: %s", arg);
            return -1;
        }
        return 0;
    case 'o':
        return option_o(opts, arg);
    case 'S':
        opts->lmtp = 1;
        return 0;
    case 't':
        return option_number(ch, arg, &opts->conn_timeout);
    case 'T':
        return option_number(ch, arg, &opts->smtp_timeout);
    case 'v':
        return 0;
    case 'A':
        return append_list(&opts->anchors, arg);
    case 'C':
        opts->print_chain = 1;
        return 0;
    case 'd':
        opts->digest = arg;
        return 0;
    case 'f':
        return 0;
    case 'F':
        opts->cafile = arg;
        return 0;
    case 'g':
        opts->grade = arg;
        return 0;
    case 'H':
        return append_list(&opts->chains, arg);
    case 'k':
        opts->certfile = arg;
        if (opts->keyfile == NULL)
            opts->keyfile = arg;
        return 0;
    case 'K':
        opts->keyfile = arg;
        if (opts->certfile == NULL)
            opts->certfile = arg;
        return 0;
    case 'l':
        opts->level = arg;
        return 0;
    case 'L':
        opts->logopts = arg;
        return 0;
    case 'm':
        return option_number(ch, arg, &opts->max_reconnect);
    case 'M':
        if (strcasecmp(arg, "may") != 0 && strcasecmp(arg, "encrypt") != 0
            && strcasecmp(arg, "dane") != 0) {
            msg_info(PROG, "bad '-M' option value: %s", arg);
            return -1;
        }
        return 0;
    case 'p':
        opts->protocols = arg;
        return 0;
    case 'P':
        opts->capath = arg;
        return 0;
    case 'r':
        return option_number(ch, arg, &opts->reconnect);
    case 's':
        opts->servername = arg;
        return 0;
    case 'w':
        opts->wrapper = 1;
        return 0;
    case 'R':
        msg_info(PROG, "-R: SRV lookups are not supported");
        return -1;
    case 'X':
        msg_info(PROG, "-X: tlsproxy mode is not supported");
        return -1;
    case 'x':
        msg_info(PROG, "-x: raw public keys are not supported");
        return -1;
    case 'b':
        opts->tlsa_base = arg;
        return 0;
    case 'Z':
        opts->cache_file = arg;
        return 0;
    case 'Q':
#ifdef MTATLS_FINGER_TLSRPT
        opts->tlsrpt_socket = arg;
        return 0;
#else
        msg_info(PROG, "-Q: built without libtlsrpt (compile with -DMTATLS_FINGER_TLSRPT -ltlsrpt)");
        return -1;
#endif
    case 'q': {
        const char *colon = strchr(arg, ':');

        if (colon == NULL || colon == arg || colon[1] == 0
            || copy_text(opts->tlsrpt_domain, sizeof(opts->tlsrpt_domain), arg,
                         (size_t) (colon - arg)) < 0) {
            msg_info(PROG, "bad -q \"%s\": expected domain:record", arg);
            return -1;
        }
        opts->tlsrpt_record = colon + 1;
        return 0;
    }
    case 'D':
        if (opts->ntlsa >= TLSA_MAX) {
            msg_info(PROG, "too many -D records (at most %d)", TLSA_MAX);
            return -1;
        }
        if (parse_tlsa(arg, &opts->tlsa[opts->ntlsa]) < 0) {
            msg_info(PROG, "bad -D record \"%s\": expected usage:selector:mtype:hexdata", arg);
            return -1;
        }
        opts->ntlsa++;
        return 0;
    default:
        usage();
        return -1;
    }
}

/* Returns 0, or -1 on a usage error (message printed; free_opts). */
static int parse_args(int argc, char **argv, struct finger_opts *opts)
{
    const char *config = getenv("MAIL_CONFIG");
    int ch, i;

    memset(opts, 0, sizeof(*opts));
    opts->family = AF_UNSPEC;
    opts->conn_timeout = 30;
    opts->smtp_timeout = 30;
    opts->reconnect = -1;
    opts->max_reconnect = 5;
    opts->level = "may";
    opts->logopts = "routine,certmatch";
    if (config != NULL && *config != 0) {
        if (snprintf(opts->main_cf, sizeof(opts->main_cf), "%s/main.cf", config)
            >= (int) sizeof(opts->main_cf)) {
            msg_info(PROG, "MAIL_CONFIG too long");
            return -1;
        }
        if (param_args_add(&opts->params, PROG, 'c', opts->main_cf) < 0)
            return -1;
    }
    while ((ch = getopt(argc, argv, "a:ch:o:RSt:T:vA:Cd:fF:g:H:k:K:l:L:m:M:p:P:r:s:wxXb:D:Z:Q:q:"))
           != -1)
        if (option(opts, ch, optarg) < 0)
            return -1;
    if (opts->chains != NULL && opts->certfile != NULL) {
        msg_info(PROG, "When the '-H' option is used, neither the '-k', nor the '-K' options may be used");
        return -1;
    }
    if (opts->tlsrpt_socket != NULL && opts->tlsrpt_record == NULL) {
        msg_info(PROG, "-Q needs -q domain:record");
        return -1;
    }
    if (opts->wrapper && strcasecmp(opts->level, "none") == 0) {
        msg_info(PROG, "SSL wrapper mode requires that TLS not be disabled");
        return -1;
    }
    if (optind >= argc) {
        usage();
        return -1;
    }
    opts->dest = argv[optind];
    if (strncmp(opts->dest, "unix:", 5) == 0) {
        msg_info(PROG, "unix: destinations are not supported");
        return -1;
    }
    if (split_dest(opts->dest, opts->lmtp ? "24" : "25", opts->host, sizeof(opts->host),
                   opts->port, sizeof(opts->port)) < 0) {
        msg_info(PROG, "bad destination \"%s\": expected host, host:port or [host]:port",
                 opts->dest);
        return -1;
    }
    for (i = optind + 1; i < argc; i++)
        if (append_list(&opts->match, argv[i]) < 0)
            return -1;
    return 0;
}

/* ---- Connecting ---- */

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

/* Connect to one address within `seconds` (0: the system's own limit);
 * fd or -1 with errno. */
static int connect_one(const struct addrinfo *ai, int seconds)
{
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol), flags, saved;

    if (fd < 0)
        return -1;
    if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        goto fail;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS || finish_connect(fd, seconds > 0 ? seconds : 75) < 0)
        goto fail;
    return fd;
fail:
    saved = errno;
    (void) close(fd);
    errno = saved;
    return -1;
}

/* Connect to the destination's host, the preferred family's addresses
 * first; fills f->label. fd or -1 (message printed). */
static int connect_dest(struct finger *f)
{
    const struct finger_opts *o = f->opts;
    struct addrinfo hints, *res = NULL, *ai, *order[ADDRS_MAX];
    size_t n = 0, i;
    int fd = -1, err, round;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((err = getaddrinfo(o->host, o->port, &hints, &res)) != 0) {
        msg_info(PROG, "Destination address lookup failed: %s: %s", o->host, gai_strerror(err));
        return -1;
    }
    /* With -a, that family's addresses first. */
    for (round = 0; round < 2; round++)
        for (ai = res; ai != NULL && n < ADDRS_MAX; ai = ai->ai_next) {
            int preferred = o->family == AF_UNSPEC || ai->ai_family == o->family;
            if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
                && preferred == (round == 0))
                order[n++] = ai;
        }
    for (i = 0; i < n && fd < 0; i++) {
        if (label_for_server(o->host, order[i]->ai_addr, order[i]->ai_addrlen, f->label,
                             sizeof(f->label)) < 0)
            continue;
        if ((fd = connect_one(order[i], o->conn_timeout)) < 0)
            msg_info(PROG, "Failed to establish session to %s: connect to %s: %s", o->dest,
                     f->label, strerror(errno));
    }
    freeaddrinfo(res);
    if (n == 0)
        msg_info(PROG, "Destination address lookup failed: %s: no IPv4 or IPv6 address",
                 o->host);
    return fd;
}

/* ---- SMTP ---- */

/* Report a failed read or write while `what` (posttls-finger's words). */
static void report_io(struct finger *f, int status, const char *what)
{
    if (status == SMTP_IO_EOF)
        msg_info(PROG, "lost connection while %s", what);
    else if (status == SMTP_IO_TIMEOUT)
        msg_info(PROG, "timeout while %s", what);
    else
        msg_info(PROG, "error talking to %s while %s: %s", f->label, what,
                 smtp_conn_error(&f->conn));
}

/* Print each line of `reply` as "< line", posttls-finger's chat. */
static void show_reply(struct finger *f, const struct smtp_reply *reply, int verbose)
{
    const char *line = reply->text;

    if (!verbose || f->opts->nochat)
        return;
    while (*line) {
        const char *eol = strchr(line, '\n');
        int len = eol ? (int) (eol - line) : (int) strlen(line);

        msg_info(PROG, "< %.*s", len, line);
        line += len;
        if (*line == '\n')
            line++;
    }
}

/* Send `line` (shown as "> line" when `verbose`), read the reply (shown
 * likewise). The reply code, or -1 (message printed). */
static int command(struct finger *f, int verbose, const char *line, const char *what,
                   struct smtp_reply *reply)
{
    int r;

    if (verbose && !f->opts->nochat)
        msg_info(PROG, "> %s", line);
    if ((r = smtp_printf(&f->conn, "%s", line)) < 0) {
        report_io(f, r, what);
        return -1;
    }
    if ((r = smtp_read_reply(&f->conn, reply)) < 0) {
        report_io(f, r, what);
        return -1;
    }
    show_reply(f, reply, verbose);
    return r;
}

/* The first line's text after the code, for messages. */
static void first_line(const struct smtp_reply *reply, char *out, size_t size)
{
    const char *text = strlen(reply->text) > 4 ? reply->text + 4 : "";
    size_t len = strcspn(text, "\n");

    snprintf(out, size, "%.*s", (int) (len < size ? len : size - 1), text);
}

static int greeting(struct finger *f)
{
    struct smtp_reply reply;
    char text[512];
    int r = smtp_read_reply(&f->conn, &reply);

    if (r < 0) {
        report_io(f, r, "reading server greeting");
        return -1;
    }
    show_reply(f, &reply, 1);
    if (r / 100 != 2) {
        first_line(&reply, text, sizeof(text));
        msg_info(PROG, "SMTP service not available: %d %s", r, text);
        return -1;
    }
    return 0;
}

/* EHLO or LHLO; chat shown on the first connection only. */
static int ehlo(struct finger *f, struct smtp_reply *reply)
{
    const char *verb = f->opts->lmtp ? "LHLO" : "EHLO";
    char line[SMTP_LINE_MAX], what[32], text[512];
    int r;

    snprintf(line, sizeof(line), "%s %s", verb, f->helo);
    snprintf(what, sizeof(what), "sending %s", verb);
    if ((r = command(f, f->pass == 1, line, what, reply)) < 0)
        return -1;
    if (r / 100 != 2) {
        first_line(reply, text, sizeof(text));
        msg_info(PROG, "%s rejected: %d %s", verb, r, text);
        return -1;
    }
    return 0;
}

/* ---- TLS ---- */

/* The log types of connections after the first (posttls-finger's -r): no
 * certificate-match detail, and always the summary and cache lines. */
static void later_logopts(const char *logopts, char *out, size_t size)
{
    static const char *const dropped[] = {"certmatch", "peercert", "verbose", "untrusted", NULL};
    char words[1024], *word, *save = NULL;
    size_t i;

    snprintf(out, size, "summary,cache");
    snprintf(words, sizeof(words), "%s", logopts);
    for (word = strtok_r(words, ", \t", &save); word != NULL; word = strtok_r(NULL, ", \t", &save)) {
        const char *add = word;

        for (i = 0; dropped[i] != NULL; i++)
            if (strcasecmp(word, dropped[i]) == 0)
                add = NULL;
        /* Numeric levels 2 and up include "verbose": keep the rest. */
        if (strcmp(word, "2") == 0 || strcasecmp(word, "debug") == 0)
            add = "ssl-debug";
        else if (strcmp(word, "3") == 0 || strcasecmp(word, "ssl-expert") == 0)
            add = "ssl-debug,ssl-handshake-packet-dump,forward-secrecy";
        else if ((word[0] >= '4' && word[0] <= '9' && word[1] == 0)
                 || strcasecmp(word, "ssl-developer") == 0)
            add = "ssl-debug,ssl-session-packet-dump,forward-secrecy";
        if (add != NULL && strlen(out) + strlen(add) + 2 < size) {
            strcat(out, ",");
            strcat(out, add);
        }
    }
}

/* Report the library's error for the setting it refused (a warning, as
 * Postfix logs a TLS setting it cannot use); -1. */
static int session_failed(struct finger *f)
{
    msg_info(PROG, "warning: %s", mtatls_session_error(f->tls));
    return -1;
}

/* Give the new session what the command line says: the peer, then each
 * TLS option through its per-session call. */
static int configure_session(struct finger *f)
{
    const struct finger_opts *o = f->opts;
    char logopts[1024];
    size_t i;

    if (f->pass == 1)
        snprintf(logopts, sizeof(logopts), "%s", o->logopts);
    else
        later_logopts(o->logopts, logopts, sizeof(logopts));
    if (mtatls_session_set_level(f->tls, o->level) != MTATLS_RESULT_OK
        || mtatls_session_set_peer_names(f->tls, o->host,
                                         o->tlsrpt_domain[0] ? o->tlsrpt_domain : o->host)
           != MTATLS_RESULT_OK
        || mtatls_session_set_loglevel(f->tls, logopts) != MTATLS_RESULT_OK
        || (o->match != NULL && mtatls_session_set_match(f->tls, o->match) != MTATLS_RESULT_OK)
        || (o->protocols != NULL
            && mtatls_session_set_protocols(f->tls, o->protocols) != MTATLS_RESULT_OK)
        || (o->grade != NULL
            && mtatls_session_set_cipher_grade(f->tls, o->grade) != MTATLS_RESULT_OK)
        || (o->digest != NULL
            && mtatls_session_set_fingerprint_digest(f->tls, o->digest) != MTATLS_RESULT_OK)
        || (o->cafile != NULL && mtatls_session_set_ca_file(f->tls, o->cafile) != MTATLS_RESULT_OK)
        || (o->capath != NULL && mtatls_session_set_ca_path(f->tls, o->capath) != MTATLS_RESULT_OK)
        || (o->anchors != NULL
            && mtatls_session_set_trust_anchor_file(f->tls, o->anchors) != MTATLS_RESULT_OK)
        || (o->chains != NULL
            && mtatls_session_set_chain_files(f->tls, o->chains) != MTATLS_RESULT_OK)
        || (o->servername != NULL
            && mtatls_session_set_servername(f->tls, o->servername) != MTATLS_RESULT_OK)
        || (o->tlsa_base != NULL
            && mtatls_session_set_tlsa_base(f->tls, o->tlsa_base) != MTATLS_RESULT_OK))
        return session_failed(f);
    if (o->cache_file != NULL || f->memcache != NULL) {
        /* The session cache key, as Postfix's serverid: [host]:port. */
        char serverid[LABEL_HOST_MAX + 40];

        snprintf(serverid, sizeof(serverid), "[%s]:%s", o->host, o->port);
        if (mtatls_session_set_serverid(f->tls, serverid) != MTATLS_RESULT_OK)
            return session_failed(f);
    }
    for (i = 0; i < o->ntlsa; i++) {
        const struct tlsa_arg *t = &o->tlsa[i];
        if (mtatls_session_add_tlsa(f->tls, t->usage, t->selector, t->mtype, t->data, t->len)
            != MTATLS_RESULT_OK)
            return session_failed(f);
    }
    return 0;
}

#ifdef MTATLS_FINGER_TLSRPT
/* The host and address of a "host[addr]:port" label (for the report of a
 * connection without TLS, where the library has no session). */
static void label_parts(const char *label, char *host, size_t hsize, char *addr, size_t asize)
{
    const char *open = strchr(label, '['), *close = strrchr(label, ']');

    host[0] = addr[0] = 0;
    if (open == NULL || close == NULL || close < open)
        return;
    (void) copy_text(host, hsize, label, (size_t) (open - label));
    (void) copy_text(addr, asize, open + 1, (size_t) (close - open - 1));
}

/* The numeric local address of `fd` (Postfix's sending-mta-ip), or "". */
static void local_addr(int fd, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    buf[0] = 0;
    if (getsockname(fd, (struct sockaddr *) &ss, &len) < 0
        || getnameinfo((struct sockaddr *) &ss, len, buf, (socklen_t) size, NULL, 0, NI_NUMERICHOST) != 0)
        buf[0] = 0;
}

/* -Q: report through libtlsrpt, as Postfix's smtp does (one delivery
 * request, one policy, at most one failure), after logging Postfix's
 * "TLSRPT: status=..." line: the finished handshake's result as the
 * library classified it, or (`f->tls` NULL) starttls-not-supported. */
static void tlsrpt_report(struct finger *f)
{
    const struct finger_opts *o = f->opts;
    const mtatls_session *s = f->tls;
    int result = s ? mtatls_session_tlsrpt_result(s) : TLSRPT_STARTTLS_NOT_SUPPORTED, err = 0;
    /* Without a session: a DANE level with -D records is a tlsa policy. */
    int dane = s == NULL && o->ntlsa > 0
               && (strcasecmp(o->level, "dane") == 0 || strcasecmp(o->level, "dane-only") == 0);
    char reason[256], info[256], mx[LABEL_HOST_MAX], rip[64], sip[64], pdomain[LABEL_HOST_MAX];
    char pstring[TLSA_DATA_MAX * 2 + 32], type[64], helo[sizeof(f->ehlo_reply) * 2];
    const char *domain = o->tlsrpt_domain[0] ? o->tlsrpt_domain : o->host, *p;
    struct tlsrpt_connection_t *con = NULL;
    struct tlsrpt_dr_t *dr = NULL;
    size_t i, j, n, k;

    if (result < 0)
        return;
    reason[0] = info[0] = 0;
    if (s != NULL) {
        mtatls_session_tlsrpt_receiving_mx(s, mx, sizeof(mx));
        mtatls_session_tlsrpt_receiving_ip(s, rip, sizeof(rip));
        mtatls_session_tlsrpt_sending_ip(s, sip, sizeof(sip));
        mtatls_session_tlsrpt_reason(s, reason, sizeof(reason));
        mtatls_session_tlsrpt_additional_info(s, info, sizeof(info));
        mtatls_session_tlsrpt_policy_domain(s, pdomain, sizeof(pdomain));
    } else {
        label_parts(f->label, mx, sizeof(mx), rip, sizeof(rip));
        local_addr(f->conn.fd, sip, sizeof(sip));
        snprintf(pdomain, sizeof(pdomain), "%s", dane ? (o->tlsa_base ? o->tlsa_base : o->host) : domain);
    }
    /* The EHLO reply before STARTTLS, lines joined with CRLF (Postfix's). */
    for (p = f->ehlo_reply, k = 0; *p && k + 2 < sizeof(helo); p++) {
        if (*p == '\n') {
            if (p[1] == 0)
                break;
            helo[k++] = '\r';
        }
        helo[k++] = *p;
    }
    helo[k] = 0;
    if (result == 0) {
        msg_info(PROG, "TLSRPT: status=success, domain=%s, receiving_mx=%s[%s]", domain, mx, rip);
    } else {
        /* Postfix's log names the type with underscores. */
        snprintf(type, sizeof(type), "%s", mtatls_tlsrpt_result_name(result));
        for (i = 0; type[i]; i++)
            if (type[i] == '-')
                type[i] = '_';
        msg_info(PROG, "TLSRPT: status=failure, domain=%s, receiving_mx=%s[%s], failure_type=%s%s%s",
                 domain, mx, rip, type, reason[0] ? ", failure_reason=" : "", reason);
    }
    if ((err = tlsrpt_open(&con, o->tlsrpt_socket)) == 0) {
        err = tlsrpt_init_delivery_request(&dr, con, domain, o->tlsrpt_record);
        if (err == 0)
            err = tlsrpt_init_policy(dr, s ? (tlsrpt_policy_type_t) mtatls_session_tlsrpt_policy_type(s)
                                     : dane ? TLSRPT_POLICY_TLSA : TLSRPT_NO_POLICY_FOUND,
                                     pdomain);
        n = s ? mtatls_session_tlsrpt_policy_string_count(s) : dane ? o->ntlsa : 0;
        for (i = 0; err == 0 && i < n; i++) {
            if (s != NULL) {
                mtatls_session_tlsrpt_policy_string(s, i, pstring, sizeof(pstring));
            } else {
                /* The records Postfix lists: DANE usages, no private type. */
                const struct tlsa_arg *t = &o->tlsa[i];

                if (t->usage < 2 || t->mtype == 255)
                    continue;
                k = (size_t) snprintf(pstring, sizeof(pstring), "%u %u %u ", t->usage, t->selector,
                                      t->mtype);
                for (j = 0; j < t->len && k + 3 < sizeof(pstring); j++, k += 2)
                    snprintf(pstring + k, 3, "%02X", t->data[j]);
            }
            err = tlsrpt_add_policy_string(dr, pstring);
        }
        if (err == 0 && result != 0)
            err = tlsrpt_add_delivery_request_failure(
                dr, (tlsrpt_failure_t) result, sip[0] ? sip : NULL, mx, helo[0] ? helo : NULL, rip,
                info[0] ? info : NULL, reason[0] ? reason : NULL);
        if (err == 0)
            err = tlsrpt_finish_policy(dr, result == 0 ? TLSRPT_FINAL_SUCCESS : TLSRPT_FINAL_FAILURE);
        if (err == 0)
            err = tlsrpt_finish_delivery_request(&dr);
        else if (dr != NULL)
            (void) tlsrpt_cancel_delivery_request(&dr);
        (void) tlsrpt_close(&con);
    }
    if (err != 0)
        msg_info(PROG, "warning: Could not report TLS handshake result to tlsrpt library: %s (error %d)",
                 tlsrpt_strerror(err), err);
}
#endif

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
    while ((r = mtatls_session_handshake(f->tls, f->opts->smtp_timeout))
           == MTATLS_RESULT_INTERRUPTED)
        continue;
#ifdef MTATLS_FINGER_TLSRPT
    if (f->opts->tlsrpt_socket != NULL)
        tlsrpt_report(f);
#endif
    /* The library has logged Postfix's lines for a failed handshake. */
    if (r != MTATLS_RESULT_OK && r != MTATLS_RESULT_NOT_VERIFIED)
        return TLS_FAILED;
    if (mtatls_session_get_facts(f->tls) == NULL) {
        msg_info(PROG, "TLS handshake with %s left no session facts", f->label);
        return TLS_FAILED;
    }
    if (r == MTATLS_RESULT_NOT_VERIFIED) {
        /* "Server certificate not verified: ..." (this program's own line) */
        msg_info(PROG, "%s", mtatls_session_error(f->tls));
        return TLS_NOT_VERIFIED;
    }
    return TLS_VERIFIED;
}

/* Hex digest of `data` with colons, as Postfix prints fingerprints. */
static void print_digest(const char *what, const EVP_MD *md, const unsigned char *data,
                         size_t len)
{
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;

    if (md == NULL || !EVP_Digest(data, len, out, &n, md, NULL)) {
        printf("   %s digest=(unavailable)\n", what);
        return;
    }
    printf("   %s digest=", what);
    for (i = 0; i < n; i++)
        printf("%s%02X", i ? ":" : "", out[i]);
    printf("\n");
}

/* -C: the server's chain as sent, in posttls-finger's form: subject,
 * issuer, certificate and public-key digests, then the PEM text (from
 * the library's export). */
static void print_chain(struct finger *f, const char *digest)
{
    const EVP_MD *md = EVP_get_digestbyname(digest);
    size_t count = mtatls_session_peer_certificate_count(f->tls, 0), i;

    if (count == 0)
        return;
    printf("\n---\nCertificate chain\n");
    for (i = 0; i < count; i++) {
        size_t der_len = mtatls_session_peer_certificate(f->tls, 0, i, MTATLS_CERT_FORMAT_DER, NULL, 0);
        size_t pem_len = mtatls_session_peer_certificate(f->tls, 0, i, MTATLS_CERT_FORMAT_PEM, NULL, 0);
        unsigned char *der = malloc(der_len + 1), *spki = NULL;
        char *pem = malloc(pem_len + 1), name[1024];
        const unsigned char *p = der;
        X509 *cert = NULL;
        int spki_len;

        if (der == NULL || pem == NULL
            || mtatls_session_peer_certificate(f->tls, 0, i, MTATLS_CERT_FORMAT_DER, der, der_len) != der_len
            || mtatls_session_peer_certificate(f->tls, 0, i, MTATLS_CERT_FORMAT_PEM, (uint8_t *) pem, pem_len + 1) != pem_len
            || (cert = d2i_X509(NULL, &p, (long) der_len)) == NULL) {
            msg_info(PROG, "cannot read certificate %zu of %s", i, f->label);
            free(der);
            free(pem);
            return;
        }
        printf("%2zu subject: %s\n", i, X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof(name)));
        printf("    issuer: %s\n", X509_NAME_oneline(X509_get_issuer_name(cert), name, sizeof(name)));
        print_digest("cert", md, der, der_len);
        spki_len = i2d_PUBKEY(X509_get0_pubkey(cert), &spki);
        if (spki_len > 0)
            print_digest("pkey", md, spki, (size_t) spki_len);
        fputs(pem, stdout);
        OPENSSL_free(spki);
        X509_free(cert);
        free(der);
        free(pem);
    }
}

/* The fingerprint digest in effect: -d, else smtp_tls_fingerprint_digest. */
static void digest_name(mtatls_params *params, const char *opt, char *out, size_t size)
{
    if (opt != NULL)
        snprintf(out, size, "%s", opt);
    else if (mtatls_params_get(params, "smtp_tls_fingerprint_digest", out, size, NULL)
             != MTATLS_RESULT_OK)
        snprintf(out, size, "sha256");
}

/* ---- One connection ---- */

/* Send QUIT (shown) and read the reply. */
static void quit(struct finger *f)
{
    struct smtp_reply reply;

    (void) command(f, 1, "QUIT", "sending QUIT command", &reply);
}

/* The dialogue: greeting, EHLO, STARTTLS, handshake, EHLO again (first
 * connection), QUIT. 0 when TLS was established and the level's
 * requirement met. */
static int chat(struct finger *f, const char *digest)
{
    struct smtp_reply reply;
    enum tls_outcome tls = TLS_FAILED;
    int offers_tls = 0;
    char text[512];

    if (!f->opts->wrapper) {
        if (greeting(f) < 0 || ehlo(f, &reply) < 0)
            return -1;
        offers_tls = smtp_reply_has(&reply, "STARTTLS");
        snprintf(f->ehlo_reply, sizeof(f->ehlo_reply), "%s", reply.text);
    }
#ifdef MTATLS_FINGER_TLSRPT
    /* STARTTLS not offered where the level requires TLS (Postfix's smtp
     * reports this itself; `dane` without TLSA records is `may`). */
    if (f->opts->tlsrpt_socket != NULL && !f->opts->wrapper && !offers_tls
        && strcasecmp(f->opts->level, "none") != 0 && strcasecmp(f->opts->level, "may") != 0
        && !(strcasecmp(f->opts->level, "dane") == 0 && f->opts->ntlsa == 0))
        tlsrpt_report(f);
#endif
    if ((f->opts->wrapper || offers_tls) && strcasecmp(f->opts->level, "none") != 0) {
        int r;

        if (!f->opts->wrapper) {
            if ((r = command(f, f->pass == 1, "STARTTLS", "sending STARTTLS", &reply)) < 0)
                return -1;
            if (r / 100 != 2) {
                first_line(&reply, text, sizeof(text));
                msg_info(PROG, "STARTTLS rejected: %d %s", r, text);
                return -1;
            }
        }
        if ((tls = start_tls(f)) == TLS_FAILED)
            return -1;
        if (f->opts->wrapper && greeting(f) < 0)
            return -1;
        if (f->pass == 1) {
            if (ehlo(f, &reply) < 0)
                return -1;
            if (mtatls_session_peer_certificate_count(f->tls, 0) == 0)
                msg_info(PROG, "Server is anonymous");
            else if (f->opts->print_chain)
                print_chain(f, digest);
        }
    }
    quit(f);
    if (f->tls != NULL) {
        mtatls_result r;

        while ((r = mtatls_session_stop(f->tls, f->opts->smtp_timeout)) == MTATLS_RESULT_INTERRUPTED)
            continue;
    }
    return tls == TLS_VERIFIED ? 0 : -1;
}

/* The EHLO name: -o myhostname, else the local host name. */
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

/* Connect and probe once; 0 as `chat`. */
static int probe(struct finger *f, const char *digest)
{
    int fd = connect_dest(f), status = -1;

    if (fd < 0)
        return -1;
    if (f->pass == 1 && !f->opts->nochat)
        msg_info(PROG, "Connected to %s", f->label);
    if (smtp_conn_init(&f->conn, fd, f->opts->smtp_timeout) < 0)
        msg_info(PROG, "%s: %s", f->label, smtp_conn_error(&f->conn));
    else
        status = chat(f, digest);
    /* Free the session before closing its socket. */
    mtatls_session_free(f->tls);
    f->tls = NULL;
    if (close(fd) < 0)
        msg_info(PROG, "close: %s", strerror(errno));
    return status;
}

/* ---- Session caches ---- */

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

static size_t file_cache_get(void *userdata, const char *key, uint8_t *buf, size_t len)
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

static void file_cache_put(void *userdata, const char *key, const uint8_t *der, size_t len,
                           uint64_t expires)
{
    cache_rewrite((const char *) userdata, key, der, len, expires);
}

static void file_cache_remove(void *userdata, const char *key)
{
    cache_rewrite((const char *) userdata, key, NULL, 0, 0);
}

/* -r without -Z: sessions in memory, counted as posttls-finger counts them. */
static int memcache_find(struct memcache *c, const char *key)
{
    size_t i;

    for (i = 0; i < MEMCACHE_MAX; i++)
        if (c->entry[i].key != NULL && strcmp(c->entry[i].key, key) == 0)
            return (int) i;
    return -1;
}

static void memcache_drop(struct memcache *c, int i)
{
    free(c->entry[i].key);
    free(c->entry[i].der);
    memset(&c->entry[i], 0, sizeof(c->entry[i]));
    c->count--;
}

static size_t memcache_get(void *userdata, const char *key, uint8_t *buf, size_t len)
{
    struct memcache *c = userdata;
    int i = memcache_find(c, key);

    if (i < 0)
        return 0;
    if (c->entry[i].expires <= (uint64_t) time(NULL)) {
        memcache_drop(c, i);
        return 0;
    }
    /* The library calls again with room when `len` is short: count once. */
    if (len >= c->entry[i].len) {
        memcpy(buf, c->entry[i].der, c->entry[i].len);
        c->hits++;
    }
    return c->entry[i].len;
}

static void memcache_remove(void *userdata, const char *key)
{
    struct memcache *c = userdata;
    int i = memcache_find(c, key);

    if (i >= 0)
        memcache_drop(c, i);
}

static void memcache_put(void *userdata, const char *key, const uint8_t *der, size_t len,
                         uint64_t expires)
{
    struct memcache *c = userdata;
    size_t i;

    memcache_remove(c, key);
    for (i = 0; i < MEMCACHE_MAX; i++)
        if (c->entry[i].key == NULL)
            break;
    if (i == MEMCACHE_MAX || (c->entry[i].key = strdup(key)) == NULL)
        return;
    if ((c->entry[i].der = malloc(len ? len : 1)) == NULL) {
        free(c->entry[i].key);
        c->entry[i].key = NULL;
        return;
    }
    memcpy(c->entry[i].der, der, len);
    c->entry[i].len = len;
    c->entry[i].expires = expires;
    c->count++;
}

static void memcache_free(struct memcache *c)
{
    size_t i;

    for (i = 0; i < MEMCACHE_MAX; i++)
        if (c->entry[i].key != NULL)
            memcache_drop(c, (int) i);
}

/* Whether the -L types (of later connections: with "cache") log cache lines. */
static int reconnect_done(struct finger *f, int *remaining)
{
    const struct memcache *c = f->memcache;

    if (c != NULL && c->count == 0) {
        msg_info(PROG, "Server declined session caching. Done reconnecting.");
        return 1;
    }
    if (c != NULL && c->hits > 0) {
        msg_info(PROG, "Found a previously used server.  Done reconnecting.");
        return 1;
    }
    if ((*remaining)-- <= 0) {
        msg_info(PROG, "Maximum reconnect count reached.");
        return 1;
    }
    return 0;
}

/* First connection, then with -r the reconnections (posttls-finger's
 * loop); 0 when every connection met the level's requirement. */
static int run(struct finger *f, const char *digest)
{
    int status = 0, remaining = f->opts->max_reconnect;

    for (f->pass = 1;; f->pass++) {
        if (probe(f, digest) < 0)
            status = 1;
        if (f->opts->reconnect <= 0 || reconnect_done(f, &remaining))
            break;
        msg_info(PROG, "Reconnecting after %d seconds", f->opts->reconnect);
        sleep((unsigned) f->opts->reconnect);
    }
    return status;
}

int main(int argc, char **argv)
{
    struct finger_opts opts;
    struct finger f;
    struct memcache memcache;
    mtatls_params *params = NULL;
    char digest[64];
    int status = 2;

    memset(&f, 0, sizeof(f));
    memset(&memcache, 0, sizeof(memcache));
    f.opts = &opts;
    if (parse_args(argc, argv, &opts) < 0
        || (opts.certfile != NULL
            && (param_args_set(&opts.params, PROG, "smtp_tls_cert_file", opts.certfile) < 0
                || param_args_set(&opts.params, PROG, "smtp_tls_key_file", opts.keyfile) < 0))
        || (params = param_args_build(&opts.params, PROG, (const char *const[]) {NULL})) == NULL)
        goto out;
    status = 1;
    if (ignore_sigpipe() < 0) {
        msg_info(PROG, "sigaction: %s", strerror(errno));
        goto out;
    }
    if (opts.cache_file != NULL) {
        if (mtatls_params_set_session_cache(params, file_cache_get, file_cache_put,
                                            file_cache_remove, (void *) opts.cache_file)
            != MTATLS_RESULT_OK) {
            msg_info(PROG, "%s", mtatls_params_error(params));
            goto out;
        }
    } else if (opts.reconnect > 0) {
        f.memcache = &memcache;
        /* "memory": posttls-finger's name of its in-process cache. */
        if (mtatls_params_set_session_cache(params, memcache_get, memcache_put, memcache_remove,
                                            &memcache)
            != MTATLS_RESULT_OK
            || mtatls_params_set_session_cache_name(params, "memory") != MTATLS_RESULT_OK) {
            msg_info(PROG, "%s", mtatls_params_error(params));
            goto out;
        }
    }
    /* The context's own level only matters for its profiles: sessions set theirs. */
    if (mtatls_params_set(params, "smtp_tls_security_level", "may") != MTATLS_RESULT_OK
        || mtatls_ctx_new(params, "smtp", &f.ctx) != MTATLS_RESULT_OK) {
        msg_info(PROG, "%s", mtatls_params_error(params));
        goto out;
    }
    digest_name(params, opts.digest, digest, sizeof(digest));
    pick_helo(&f, opts.helo);
    status = run(&f, digest);
    fflush(stdout);
out:
    mtatls_ctx_free(f.ctx);
    mtatls_params_free(params);
    memcache_free(&memcache);
    free_opts(&opts);
    return status;
}
