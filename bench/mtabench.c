/*
 * mtabench.c - A/B benchmark of mtatls (A) against libssl called directly
 * (B), in the same process and the same run, interleaved in short blocks
 * (A B, B A, A B ...) so that the drifting speed of a shared machine falls
 * on both.
 *
 * usage: mtabench [-k KEYDIR] [-r RUNS] [-t SECONDS] CASE
 *        mtabench [-k KEYDIR] cg CASE A|B|P N [step|bulk]  (callgrind workload;
 *                                                        P: B')
 *        mtabench list | version
 * Output lines (bench/run.sh turns them into BENCHMARKS.md):
 *   ROW|case|unit|A|B|A/B median|A/B min..max|target|met
 *   NEG|case|what was negotiated (checked equal for A and B)
 * Progress goes to stderr (MTABENCH_VERBOSE=1: every run).
 *
 * Drivers, the same for A and B:
 *   pair: the calling thread is the client, a server thread answers; each
 *         side blocks with a timeout (poll inside the library / B's loop),
 *         as a Postfix-style process does; connections one after another.
 *   step: one thread drives both ends of a connection with non-blocking
 *         calls (timeout 0) - for thread scaling (1 thread = 1 busy core)
 *         and for memory (one heap arena).
 * Per connection: socketpair, a session on each end, handshake, one
 * command and reply through TLS (the client reads the TLS 1.3 tickets with
 * the reply), close_notify, free, close. The plain-text SMTP dialogue
 * before STARTTLS is left out: it is the same bytes for A and B.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mtatls.h"
#include "bench.h"

static const char *keydir = "bench/out/keys";
static int verbose = 0;
/* A (the library) and B run on different OpenSSL releases (the library
 * built with its `vendored` feature, B on the system's libssl). */
static int cross_version = 0;
static int runs = 7;
static double run_secs = 0.4;

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mtabench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

char *key_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p)
        die("out of memory");
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double tmp[64];
    int i;
    for (i = 0; i < n; i++)
        tmp[i] = v[i];
    qsort(tmp, (size_t) n, sizeof(double), cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static double vmin(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

static double vmax(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

/* ------------------------------------------------------------------ */
/* Cases. */

enum kind { K_HS, K_RESUME, K_BULK, K_MEM, K_SCALE, K_INIT, K_FLOOR };

struct bcase {
    const char *name;
    const char *title;
    enum kind kind;
    struct bcfg cfg;
};

static struct bcase cases[] = {
    {"tls13-x25519-rsa", "TLS 1.3 full handshake, X25519 + RSA-2048", K_HS, {.server_chain = "rsa.pem"}},
    {"tls13-x25519-ecdsa", "TLS 1.3 full handshake, X25519 + ECDSA P-256", K_HS, {.server_chain = "ecdsa.pem"}},
    {"tls13-x25519-ed25519", "TLS 1.3 full handshake, X25519 + Ed25519", K_HS, {.server_chain = "ed25519.pem"}},
    {"tls13-p256-ecdsa", "TLS 1.3 full handshake, P-256 + ECDSA P-256", K_HS,
     {.server_chain = "ecdsa.pem", .eecdh = "prime256v1", .ffdhe = "", .groups = "prime256v1"}},
    {"tls13-mlkem-ecdsa", "TLS 1.3 full handshake, X25519MLKEM768 + ECDSA P-256 (A as Postfix 3.10)", K_HS,
     {.server_chain = "ecdsa.pem", .eecdh = "X25519MLKEM768", .ffdhe = "", .groups = "X25519MLKEM768",
      .release = "3.10"}},
    {"tls13-ffdhe2048-rsa", "TLS 1.3 full handshake, FFDHE2048 + RSA-2048", K_HS,
     {.server_chain = "rsa.pem", .eecdh = "", .ffdhe = "ffdhe2048", .groups = "ffdhe2048"}},
    {"tls12-ecdhe-rsa", "TLS 1.2 full handshake, ECDHE-RSA-AES256-GCM-SHA384 (X25519)", K_HS,
     {.server_chain = "rsa.pem", .client_max_tls12 = 1, .client_exclude = "aNULL", .b_exclude = ":!aNULL"}},
    {"tls12-dhe-rsa", "TLS 1.2 full handshake, DHE-RSA-AES256-GCM-SHA384 (DH file, 2048)", K_HS,
     {.server_chain = "rsa.pem", .server_dh = "dh2048.pem", .client_max_tls12 = 1,
      .client_exclude = "aNULL, kECDHE", .b_exclude = ":!aNULL:!kECDHE"}},
    {"tls13-resume", "TLS 1.3 resumed handshake (ticket, psk_dhe_ke X25519), RSA-2048 server", K_RESUME,
     {.server_chain = "rsa.pem", .resume = 1}},
    {"tls12-resume", "TLS 1.2 resumed handshake (ticket), ECDHE-RSA-AES256-GCM-SHA384", K_RESUME,
     {.server_chain = "rsa.pem", .client_max_tls12 = 1, .client_exclude = "aNULL", .b_exclude = ":!aNULL", .resume = 1}},
    {"bulk-aes256gcm", "bulk transfer, TLS_AES_256_GCM_SHA384, 16 KiB writes", K_BULK, {.server_chain = "rsa.pem"}},
    {"bulk-chacha20", "bulk transfer, TLS_CHACHA20_POLY1305_SHA256, 16 KiB writes", K_BULK,
     {.server_chain = "rsa.pem"}},
    {"mem", "memory per idle established session (TLS 1.3, X25519 + RSA-2048)", K_MEM, {.server_chain = "rsa.pem"}},
    {"scale-rsa", "threads sharing one context, X25519 + RSA-2048 (step driver)", K_SCALE,
     {.server_chain = "rsa.pem"}},
    {"scale-ecdsa", "threads sharing one context, X25519 + ECDSA P-256 (step driver)", K_SCALE,
     {.server_chain = "ecdsa.pem"}},
    {"floor-rsa", "floor: TLS 1.3 X25519 + RSA-2048, one thread driving both ends", K_FLOOR,
     {.server_chain = "rsa.pem"}},
    {"init", "context init from main.cf (RSA + ECDSA chain files, CAfile)", K_INIT, {.server_chain = "rsa.pem"}},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static struct bcase *find_case(const char *name)
{
    for (size_t i = 0; i < NCASES; i++)
        if (strcmp(cases[i].name, name) == 0)
            return &cases[i];
    die("unknown case %s (see: mtabench list)", name);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Output. */

static void fmt_value(char *buf, size_t len, double v, const char *unit)
{
    if (v < 0)
        snprintf(buf, len, "n/a");
    else if (strcmp(unit, "us") == 0)
        snprintf(buf, len, "%.1f", v);
    else if (strcmp(unit, "x") == 0)
        snprintf(buf, len, "%.2f", v);
    else
        snprintf(buf, len, "%.0f", v);
}

/* One table row; a, b < 0 print as n/a; ratios may be NULL.
 * met: 1 yes, 0 no, -1 no target. */
static void row(const char *name, const char *unit, double a, double b, const double *ratios, int n,
                const char *target, int met)
{
    char sa[64], sb[64], r[64] = "n/a", mm[64] = "";
    fmt_value(sa, sizeof(sa), a, unit);
    fmt_value(sb, sizeof(sb), b, unit);
    if (ratios && n > 0) {
        snprintf(r, sizeof(r), "%.3f", median(ratios, n));
        snprintf(mm, sizeof(mm), "%.3f..%.3f", vmin(ratios, n), vmax(ratios, n));
    }
    printf("ROW|%s|%s|%s|%s|%s|%s|%s|%s\n", name, unit, sa, sb, r, mm, target ? target : "",
           !target || met < 0 ? "" : met ? "yes" : "**no**");
    fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* I/O helpers shared by the drivers. */

static int read_line(const struct bimpl *im, void *s, int timeout, char *buf, size_t size)
{
    size_t got = 0;
    int tries = 0;

    while (got + 1 < size) {
        size_t n = 0;
        int r = im->read(s, buf + got, size - 1 - got, timeout, &n);
        if (r == RC_WANT_READ || r == RC_WANT_WRITE) {
            if (++tries > 1000)
                return -1;
            continue;
        }
        if (r != RC_OK || n == 0)
            return -1;
        got += n;
        if (memchr(buf, '\n', got))
            break;
    }
    buf[got] = 0;
    return (int) got;
}

static int write_all(const struct bimpl *im, void *s, int timeout, const void *buf, size_t len)
{
    int tries = 0, r;
    while ((r = im->write(s, buf, len, timeout)) == RC_WANT_READ || r == RC_WANT_WRITE)
        if (++tries > 1000)
            return -1;
    return r == RC_OK ? 0 : -1;
}

/* A and B: implementation, server context, client context. */
struct side {
    const struct bimpl *im;
    void *sctx, *cctx;
};

static void make_sides(const struct bcase *bc, struct side sd[2])
{
    struct bcfg cfg = bc->cfg;
    cfg.keydir = keydir;
    sd[0].im = &impl_a;
    sd[1].im = &impl_b;
    for (int i = 0; i < 2; i++) {
        sd[i].sctx = sd[i].im->ctx_new(&cfg, 1);
        sd[i].cctx = sd[i].im->ctx_new(&cfg, 0);
    }
}

static void free_sides(struct side sd[2])
{
    for (int i = 0; i < 2; i++) {
        sd[i].im->ctx_free(sd[i].sctx);
        sd[i].im->ctx_free(sd[i].cctx);
    }
}

/* ------------------------------------------------------------------ */
/* Pair driver: the calling thread is the client, one server thread
 * answers; each side blocks (with the timeout) as a Postfix-style process
 * does. Connections run one after the other: the client waits for the
 * server's "done" before the next one. */

struct pairsrv {
    struct side *sd;     /* [2]: A, B */
    int ctl[2], done[2];
    pthread_t thread;
    volatile long failures;
};

struct pmsg {
    int fd, which;
};

static void fail_note(struct pairsrv *ps, const struct bimpl *im, const char *side, void *s, const char *what)
{
    if (__atomic_fetch_add(&ps->failures, 1, __ATOMIC_RELAXED) < 3)
        fprintf(stderr, "mtabench: %s %s: %s failed: %s\n", im->name, side, what, s ? im->error(s) : "no session");
}

static void *pair_server(void *arg)
{
    struct pairsrv *ps = arg;
    static const char bye[] = "221 2.0.0 Bye\r\n";
    struct pmsg m;

    while (read(ps->ctl[0], &m, sizeof(m)) == (ssize_t) sizeof(m) && m.fd >= 0) {
        const struct side *sd = &ps->sd[m.which];
        void *s = sd->im->sess_new(sd->sctx, m.fd, 1);
        char line[256];

        if (!s)
            fail_note(ps, sd->im, "server", NULL, "session_new");
        else if (sd->im->handshake(s, IO_TIMEOUT) != RC_OK)
            fail_note(ps, sd->im, "server", s, "handshake");
        else if (read_line(sd->im, s, IO_TIMEOUT, line, sizeof(line)) < 0)
            fail_note(ps, sd->im, "server", s, "read");
        else if (write_all(sd->im, s, IO_TIMEOUT, bye, sizeof(bye) - 1) != 0)
            fail_note(ps, sd->im, "server", s, "write");
        else
            sd->im->stop(s, IO_TIMEOUT);
        if (s)
            sd->im->sess_free(s);
        close(m.fd);
        if (write(ps->done[1], "", 1) != 1)
            die("done pipe write failed");
    }
    return NULL;
}

static void pair_start(struct pairsrv *ps, struct side sd[2])
{
    memset(ps, 0, sizeof(*ps));
    ps->sd = sd;
    if (pipe(ps->ctl) < 0 || pipe(ps->done) < 0)
        die("pipe: %s", strerror(errno));
    if (pthread_create(&ps->thread, NULL, pair_server, ps) != 0)
        die("pthread_create failed");
}

static void pair_end(struct pairsrv *ps)
{
    struct pmsg m = {-1, 0};
    if (write(ps->ctl[1], &m, sizeof(m)) != (ssize_t) sizeof(m))
        die("control pipe write failed");
    pthread_join(ps->thread, NULL);
    close(ps->ctl[0]);
    close(ps->ctl[1]);
    close(ps->done[0]);
    close(ps->done[1]);
}

/* One connection with implementation `which`; optionally describe the
 * client's view. */
static void pair_conn(struct pairsrv *ps, int which, char *describe, size_t dlen)
{
    static const char quit[] = "QUIT\r\n";
    const struct side *sd = &ps->sd[which];
    const struct bimpl *ci = sd->im;
    struct pmsg m;
    int sv[2];
    void *c;
    char line[256], ack;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        die("socketpair: %s", strerror(errno));
    m.fd = sv[0];
    m.which = which;
    if (write(ps->ctl[1], &m, sizeof(m)) != (ssize_t) sizeof(m))
        die("control pipe write failed");
    c = ci->sess_new(sd->cctx, sv[1], 0);
    if (!c)
        fail_note(ps, ci, "client", NULL, "session_new");
    else if (ci->handshake(c, IO_TIMEOUT) != RC_OK)
        fail_note(ps, ci, "client", c, "handshake");
    else if (write_all(ci, c, IO_TIMEOUT, quit, sizeof(quit) - 1) != 0)
        fail_note(ps, ci, "client", c, "write");
    else if (read_line(ci, c, IO_TIMEOUT, line, sizeof(line)) < 0)
        fail_note(ps, ci, "client", c, "read");
    else {
        if (describe)
            ci->describe(c, describe, dlen);
        ci->stop(c, IO_TIMEOUT);
    }
    if (c)
        ci->sess_free(c);
    close(sv[1]);
    if (read(ps->done[0], &ack, 1) != 1)
        die("done pipe read failed");
    if (ps->failures)
        die("%ld failed connection(s) (%s): results would be meaningless", ps->failures, sd->im->name);
}

/* ------------------------------------------------------------------ */
/* Step driver: one thread drives both ends of a connection, non-blocking
 * (timeout 0: want-read / want-write results, no waiting). */

struct conn {
    int sv[2];
    void *s, *c;
};

/* Handshake and one exchange; the sessions stay open in *k. 0 on success. */
static int step_open(const struct bimpl *im, void *sctx, void *cctx, struct conn *k, const char *cmd,
                     const char *reply)
{
    int sd = 0, cd = 0, spins = 0;
    char line[256];

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, k->sv) < 0)
        die("socketpair: %s", strerror(errno));
    k->s = im->sess_new(sctx, k->sv[0], 1);
    k->c = im->sess_new(cctx, k->sv[1], 0);
    if (!k->s || !k->c)
        return -1;
    while (!(sd && cd)) {
        int r;
        if (!cd) {
            r = im->handshake(k->c, 0);
            if (r == RC_OK)
                cd = 1;
            else if (r == RC_ERR) {
                fprintf(stderr, "mtabench: %s client handshake: %s\n", im->name, im->error(k->c));
                return -1;
            }
        }
        if (!sd) {
            r = im->handshake(k->s, 0);
            if (r == RC_OK)
                sd = 1;
            else if (r == RC_ERR) {
                fprintf(stderr, "mtabench: %s server handshake: %s\n", im->name, im->error(k->s));
                return -1;
            }
        }
        if (++spins > 50)
            return -1;
    }
    if (write_all(im, k->c, 0, cmd, strlen(cmd)) != 0 || read_line(im, k->s, 0, line, sizeof(line)) < 0
        || write_all(im, k->s, 0, reply, strlen(reply)) != 0 || read_line(im, k->c, 0, line, sizeof(line)) < 0)
        return -1;
    return 0;
}

static void step_close(const struct bimpl *im, struct conn *k)
{
    im->stop(k->s, 0);
    im->stop(k->c, 0);
    im->sess_free(k->s);
    im->sess_free(k->c);
    close(k->sv[0]);
    close(k->sv[1]);
}

static void step_conn(const struct side *sd)
{
    struct conn k;
    if (step_open(sd->im, sd->sctx, sd->cctx, &k, "QUIT\r\n", "221 2.0.0 Bye\r\n") != 0)
        die("%s: a connection failed in the step driver", sd->im->name);
    step_close(sd->im, &k);
}

/* Worker threads for the scaling case: the main thread starts a block of
 * m connections in `active` threads with implementation `which`. */
struct workers {
    struct side *sd;
    pthread_barrier_t start, end;
    volatile int which, active, quit;
    volatile long m;
    long spin_m;
    double cpu[2];       /* thread CPU seconds of the last block, per worker */
    double cpu_t[4][64]; /* CPU seconds per handshake, per variant and block */
    int round[4];
    pthread_t t[2];
};

struct worker_arg {
    struct workers *w;
    int index;
};

static void spin(long m);

static void *worker_main(void *arg)
{
    struct worker_arg *wa = arg;
    struct workers *w = wa->w;
    for (;;) {
        pthread_barrier_wait(&w->start);
        if (w->quit)
            break;
        {
            struct timespec c0, c1;
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
            if (wa->index < w->active && w->which == 2)
                spin(w->m);
            else if (wa->index < w->active)
                for (long j = 0; j < w->m; j++)
                    step_conn(&w->sd[w->which]);
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
            w->cpu[wa->index] = (double) (c1.tv_sec - c0.tv_sec) + (double) (c1.tv_nsec - c0.tv_nsec) / 1e9;
        }
        pthread_barrier_wait(&w->end);
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Blocks: every run alternates short blocks of the variants (A, B, ...)
 * in the order 0 1 .. n-1, then n-1 .. 0, and so on, so that drifting
 * machine speed (a shared 2-core VM) falls on all of them alike. */

typedef double (*block_fn)(int variant, long m, void *arg); /* returns seconds */

static int rounds = 16; /* blocks of each variant per run */

/* One run: t[v][r] = seconds of the r-th block of variant v. */
static void run_blocks(block_fn f, void *arg, int nvar, long m, int run, double t[][64])
{
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < nvar; k++) {
            int v = (r + run) % 2 == 0 ? k : nvar - 1 - k;
            t[v][r] = f(v, m, arg);
        }
}

/* Median over a run's rounds of the rate of variant v (units per block
 * / block seconds), and of the ratio of two variants' rates, block by
 * block (blocks of one round are adjacent in time). */
static double run_rate(double t[][64], int v, double units)
{
    double x[64];
    for (int r = 0; r < rounds; r++)
        x[r] = units / t[v][r];
    return median(x, rounds);
}

static double run_ratio(double t[][64], int v, double uv, int w, double uw)
{
    double x[64];
    for (int r = 0; r < rounds; r++)
        x[r] = (uv / t[v][r]) / (uw / t[w][r]);
    return median(x, rounds);
}

/* Units per block so that a run takes about run_secs per variant. */
static long block_size(block_fn f, void *arg, int variant, long probe)
{
    double t, per_block = run_secs / rounds;
    long m;

    f(variant, probe / 2 > 0 ? probe / 2 : 1, arg); /* warm-up */
    t = f(variant, probe, arg) / (double) probe;
    m = (long) (per_block / t);
    return m < 1 ? 1 : m;
}

/* A/B series: rate_A, rate_B and A/B per run. */
struct series {
    double a[64], b[64], r[64];
};

static void ab_series(block_fn f, void *arg, double unit, long m, struct series *S)
{
    static double t[2][64];
    for (int i = 0; i < runs; i++) {
        run_blocks(f, arg, 2, m, i, t);
        S->a[i] = run_rate(t, 0, unit * (double) m);
        S->b[i] = run_rate(t, 1, unit * (double) m);
        S->r[i] = run_ratio(t, 0, 1, 1, 1);
        if (verbose)
            fprintf(stderr, "  run %d: A %.1f B %.1f A/B %.3f\n", i, S->a[i], S->b[i], S->r[i]);
    }
}

static void series_row(const char *name, const char *unit, const struct series *S, double ge)
{
    char t[32];
    snprintf(t, sizeof(t), ">= %.2f", ge);
    row(name, unit, median(S->a, runs), median(S->b, runs), S->r, runs, ge > 0 ? t : NULL,
        median(S->r, runs) >= ge);
}

/* Lower-is-better series (times): report time per unit. */
static void series_row_time(const char *name, const char *unit, const struct series *S)
{
    double a[64], b[64], r[64];
    for (int i = 0; i < runs; i++) {
        a[i] = 1e6 / S->a[i];
        b[i] = 1e6 / S->b[i];
        r[i] = a[i] / b[i];
    }
    row(name, unit, median(a, runs), median(b, runs), r, runs, NULL, -1);
}

/* ------------------------------------------------------------------ */
/* Cases. */

/* The length of the client's first flight (ClientHello): the same length
 * means the same options, cipher list, groups and extensions on the wire
 * (only random, session id and key share bytes differ). */
static long hello_len(const struct side *sd)
{
    unsigned char buf[4096];
    int sv[2];
    long n;
    void *c;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        die("socketpair: %s", strerror(errno));
    c = sd->im->sess_new(sd->cctx, sv[1], 0);
    if (!c || sd->im->handshake(c, 0) != RC_WANT_READ)
        die("%s: no ClientHello", sd->im->name);
    n = (long) read(sv[0], buf, sizeof(buf));
    sd->im->sess_free(c);
    close(sv[0]);
    close(sv[1]);
    return n;
}

/* One connection each way, to show (and check) that A and B negotiate the
 * same protocol, cipher, group and signature, and both trust the chain. */
static void check_same(const char *name, struct pairsrv *ps, int resumed)
{
    char na[256], nb[256];
    long ha, hb;

    if (resumed) { /* the first connections fill the caches */
        pair_conn(ps, 0, NULL, 0);
        pair_conn(ps, 1, NULL, 0);
    }
    pair_conn(ps, 0, na, sizeof(na));
    pair_conn(ps, 1, nb, sizeof(nb));
    if (strcmp(na, nb) != 0)
        die("%s: A and B negotiated different things:\n  A: %s\n  B: %s", name, na, nb);
    if (!strstr(na, " trusted"))
        die("%s: the client did not verify the server chain: %s", name, na);
    if (resumed && !strstr(na, " reused"))
        die("%s: the session was not resumed: %s", name, na);
    if (!resumed && strstr(na, " reused"))
        die("%s: a full handshake was expected: %s", name, na);
    ha = hello_len(&ps->sd[0]);
    hb = hello_len(&ps->sd[1]);
    if (ha != hb && !cross_version)
        die("%s: ClientHello of %ld bytes (A) and %ld bytes (B)", name, ha, hb);
    if (ha != hb) /* A and B on different OpenSSL releases: their defaults differ */
        printf("NEG|%s|%s, ClientHello %ld bytes (A), %ld bytes (B)\n", name, na, ha, hb);
    else
        printf("NEG|%s|%s, ClientHello %ld bytes\n", name, na, ha);
    fprintf(stderr, "mtabench: %s: A = B: %s\n", name, na);
}

static double hs_block(int which, long m, void *arg)
{
    struct pairsrv *ps = arg;
    double t0 = now();
    for (long j = 0; j < m; j++)
        pair_conn(ps, which, NULL, 0);
    return now() - t0;
}

static void hs_case(const char *title, const char *name, struct side sd[2], int resumed, double ge)
{
    struct pairsrv ps;
    struct series S;
    long m;

    pair_start(&ps, sd);
    check_same(name, &ps, resumed);
    hs_block(0, 10, &ps);
    m = block_size(hs_block, &ps, 1, 20);
    ab_series(hs_block, &ps, 1, m, &S);
    pair_end(&ps);
    series_row(title, "hs/s", &S, ge);
}

static void case_hs(const struct bcase *bc)
{
    struct side sd[2];
    if (bc->cfg.groups && !b_groups_supported(bc->cfg.groups)) {
        /* Visible in the table, not silently left out. */
        printf("ROW|%s|hs/s|n/a|n/a|n/a||>= 1.00|skipped: B's %s has no group %s\n", bc->title,
               b_openssl_version(), bc->cfg.groups);
        fprintf(stderr, "mtabench: %s: skipped (B's OpenSSL has no group %s)\n", bc->name, bc->cfg.groups);
        return;
    }
    make_sides(bc, sd);
    hs_case(bc->title, bc->name, sd, 0, 1.00);
    free_sides(sd);
}

/* Resumption: both sides resume; A's client uses the library's session
 * cache (a server id on each session), B's a Postfix-style cache (DER).
 * The first connection of each side fills the cache. Then A against B':
 * raw OpenSSL whose client keeps the SSL_SESSION object itself. */
static void case_resume(const struct bcase *bc)
{
    struct side sd[2];
    char title[256];
    int tls12 = strcmp(bc->name, "tls12-resume") == 0;

    make_sides(bc, sd);
    hs_case(bc->title, bc->name, sd, 1, tls12 ? 1.50 : 1.15);
    free_sides(sd);
    {
        struct bcase bp = *bc;
        bp.cfg.b_objects = 1;
        make_sides(&bp, sd);
    }
    snprintf(title, sizeof(title), "%s; B' = raw OpenSSL, client keeps SSL_SESSION objects", bc->title);
    hs_case(title, bc->name, sd, 1, 0.98);
    free_sides(sd);
}

/* Bulk: an A and a B connection stay open; blocks of 16 KiB records go
 * through one of them: one thread writes a record through the client
 * session and reads it through the server session (blocking calls with
 * the timeout, which never wait: the socket buffer holds a record). MiB/s
 * is the cost of encrypt + decrypt + the calls, without cross-core effects. */
struct bulk_arg {
    struct side *sd;
    struct conn k[2];
};

static double bulk_block(int which, long m, void *arg)
{
    struct bulk_arg *b = arg;
    const struct bimpl *im = b->sd[which].im;
    struct conn *k = &b->k[which];
    static char wbuf[16384], rbuf[16384];
    double t0 = now();

    for (long j = 0; j < m; j++) {
        size_t got = 0;
        if (im->write(k->c, wbuf, sizeof(wbuf), IO_TIMEOUT) != RC_OK)
            die("bulk: %s write: %s", im->name, im->error(k->c));
        while (got < sizeof(wbuf)) {
            size_t n = 0;
            if (im->read(k->s, rbuf, sizeof(rbuf), IO_TIMEOUT, &n) != RC_OK || n == 0)
                die("bulk: %s read: %s", im->name, im->error(k->s));
            got += n;
        }
    }
    return now() - t0;
}

static void case_bulk(const struct bcase *bc)
{
    struct side sd[2];
    struct series S;
    struct bulk_arg b;
    struct pairsrv ps;
    long m = 0;

    make_sides(bc, sd);
    pair_start(&ps, sd);
    check_same(bc->name, &ps, 0);
    pair_end(&ps);
    b.sd = sd;
    /* Fresh connections every run, opened A first in even runs and B
     * first in odd ones: where OpenSSL's record buffers land in the heap
     * moves the cost of a record by several per cent (cache/alias
     * effects, not instructions), and it should not favour one side. */
    for (int i = 0; i < runs; i++) {
        int save = runs;
        struct series one;
        for (int j = 0; j < 2; j++) {
            int w = (i + j) % 2;
            if (step_open(sd[w].im, sd[w].sctx, sd[w].cctx, &b.k[w], "DATA\r\n", "354 go ahead\r\n") != 0)
                die("bulk: %s connection failed", sd[w].im->name);
        }
        if (i == 0) {
            bulk_block(0, 512, &b);
            m = block_size(bulk_block, &b, 1, 512);
        }
        runs = 1;
        ab_series(bulk_block, &b, 16384.0 / 1048576.0, m, &one);
        runs = save;
        S.a[i] = one.a[0], S.b[i] = one.b[0], S.r[i] = one.r[0];
        if (verbose)
            fprintf(stderr, "  run %d (%s opened first): A %.1f B %.1f A/B %.3f\n", i, i % 2 ? "B" : "A", S.a[i],
                    S.b[i], S.r[i]);
        for (int w = 0; w < 2; w++)
            step_close(sd[w].im, &b.k[w]);
    }
    series_row(bc->title, "MiB/s", &S, 1.00);
    free_sides(sd);
}

#define MEM_SESSIONS 200

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks;
}

/* Bytes per idle established session: open MEM_SESSIONS connections
 * (handshake, EHLO / 250 through TLS), then free all server sessions,
 * then all client sessions, reading the heap in use before and after. */
static void mem_once(const struct side *sd, double *server, double *client)
{
    static struct conn k[MEM_SESSIONS];
    size_t h0, h1, h2;
    int i;

    for (i = 0; i < MEM_SESSIONS; i++)
        if (step_open(sd->im, sd->sctx, sd->cctx, &k[i], "EHLO client.test\r\n", "250 server.test\r\n") != 0)
            die("mem: %s connection %d failed", sd->im->name, i);
    h0 = heap_in_use();
    for (i = 0; i < MEM_SESSIONS; i++)
        sd->im->sess_free(k[i].s);
    h1 = heap_in_use();
    for (i = 0; i < MEM_SESSIONS; i++)
        sd->im->sess_free(k[i].c);
    h2 = heap_in_use();
    for (i = 0; i < MEM_SESSIONS; i++) {
        close(k[i].sv[0]);
        close(k[i].sv[1]);
    }
    *server = (double) (h0 - h1) / MEM_SESSIONS;
    *client = (double) (h1 - h2) / MEM_SESSIONS;
}

static void case_mem(const struct bcase *bc)
{
    struct side sd[2], nr, nra;
    struct bcfg cfg = bc->cfg;
    struct pairsrv ps;
    double as[64], bs[64], ac[64], bc_[64], rs[64], rc[64], ns[64], nc[64];
    double nas[64], nac[64], nrs[64], nrc[64];

    make_sides(bc, sd);
    cfg.keydir = keydir;
    cfg.no_release_buffers = 1;
    nr.im = &impl_b;
    nr.sctx = impl_b.ctx_new(&cfg, 1);
    nr.cctx = impl_b.ctx_new(&cfg, 0);
    nra.im = &impl_a;
    nra.sctx = impl_a.ctx_new(&cfg, 1);
    nra.cctx = impl_a.ctx_new(&cfg, 0);
    pair_start(&ps, sd);
    check_same(bc->name, &ps, 0);
    pair_end(&ps);
    for (int i = 0; i < runs; i++) {
        if (i % 2 == 0)
            mem_once(&sd[0], &as[i], &ac[i]);
        mem_once(&sd[1], &bs[i], &bc_[i]);
        mem_once(&nr, &ns[i], &nc[i]);
        mem_once(&nra, &nas[i], &nac[i]);
        if (i % 2 == 1)
            mem_once(&sd[0], &as[i], &ac[i]);
        rs[i] = as[i] / bs[i];
        rc[i] = ac[i] / bc_[i];
        nrs[i] = nas[i] / ns[i];
        nrc[i] = nac[i] / nc[i];
    }
    {
        double ma = median(as, runs), mb = median(bs, runs);
        char t[64];
        snprintf(t, sizeof(t), "<= B + 2048 (A - B = %+.0f)", ma - mb);
        row("idle server session, SSL_MODE_RELEASE_BUFFERS", "bytes", ma, mb, rs, runs, t, ma <= mb + 2048);
        snprintf(t, sizeof(t), "(A - B = %+.0f)", median(ac, runs) - median(bc_, runs));
        row("idle client session, SSL_MODE_RELEASE_BUFFERS", "bytes", median(ac, runs), median(bc_, runs), rc, runs,
            t, -1);
        ma = median(nas, runs);
        mb = median(ns, runs);
        snprintf(t, sizeof(t), "<= B + 2048 (A - B = %+.0f)", ma - mb);
        row("idle server session, without RELEASE_BUFFERS (A: mtatls_release_buffers = no)", "bytes", ma, mb,
            nrs, runs, t, ma <= mb + 2048);
        snprintf(t, sizeof(t), "(A - B = %+.0f)", median(nac, runs) - median(nc, runs));
        row("idle client session, without RELEASE_BUFFERS (A: mtatls_release_buffers = no)", "bytes",
            median(nac, runs), median(nc, runs), nrc, runs, t, -1);
    }
    free_sides(sd);
    impl_b.ctx_free(nr.sctx);
    impl_b.ctx_free(nr.cctx);
    impl_a.ctx_free(nra.sctx);
    impl_a.ctx_free(nra.cctx);
}

/* A plain CPU loop, the machine's own 1 -> 2 thread scaling at the time
 * of the run (other tenants, frequency): the reference for the ratio. */
static volatile unsigned long spin_sink;

static void spin(long m)
{
    unsigned long x = 88172645463325252UL;
    for (long j = 0; j < m * 200000; j++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    spin_sink = x;
}

/* Scaling: variants 0 A x 1 thread, 1 B x 1, 2 A x 2 threads, 3 B x 2,
 * 4 CPU loop x 1, 5 CPU loop x 2. */
static double scale_block(int variant, long m, void *arg)
{
    struct workers *w = arg;
    double t0 = now();
    w->which = variant >= 4 ? 2 : variant % 2;
    w->active = variant >= 4 ? variant - 3 : variant / 2 + 1;
    w->m = variant >= 4 ? w->spin_m : m;
    pthread_barrier_wait(&w->start);
    pthread_barrier_wait(&w->end);
    if (variant < 4) /* CPU seconds per handshake of this block */
        w->cpu_t[variant][w->round[variant]++ % 64] = (w->cpu[0] + (w->active > 1 ? w->cpu[1] : 0)) / (double) (m * w->active);
    return now() - t0;
}

static void case_scale(const struct bcase *bc)
{
    struct side sd[2];
    struct workers w;
    struct worker_arg wa[2];
    struct series one, two, sc, cpu;
    double ref[64];
    static double t[6][64];
    long m;
    char title[256];
    struct pairsrv ps;

    make_sides(bc, sd);
    pair_start(&ps, sd);
    check_same(bc->name, &ps, 0);
    pair_end(&ps);
    memset(&w, 0, sizeof(w));
    w.sd = sd;
    w.spin_m = 1;
    pthread_barrier_init(&w.start, NULL, 3);
    pthread_barrier_init(&w.end, NULL, 3);
    for (int i = 0; i < 2; i++) {
        wa[i].w = &w;
        wa[i].index = i;
        if (pthread_create(&w.t[i], NULL, worker_main, &wa[i]) != 0)
            die("pthread_create failed");
    }
    scale_block(0, 10, &w);
    scale_block(2, 10, &w);
    m = block_size(scale_block, &w, 1, 20);
    /* The CPU loop's blocks last as long as B's 1-thread blocks. */
    {
        double tb = scale_block(1, m, &w), ts = scale_block(4, 0, &w);
        w.spin_m = (long) (tb / ts + 0.5);
        w.spin_m = w.spin_m < 1 ? 1 : w.spin_m;
    }
    for (int i = 0; i < runs; i++) {
        memset(w.round, 0, sizeof(w.round));
        run_blocks(scale_block, &w, 6, m, i, t);
        /* CPU per handshake with 2 threads over 1 thread (>1: contention). */
        {
            double xa[64], xb[64];
            for (int r = 0; r < rounds; r++) {
                xa[r] = w.cpu_t[2][r] / w.cpu_t[0][r];
                xb[r] = w.cpu_t[3][r] / w.cpu_t[1][r];
            }
            cpu.a[i] = median(xa, rounds);
            cpu.b[i] = median(xb, rounds);
            cpu.r[i] = cpu.a[i] / cpu.b[i];
        }
        one.a[i] = run_rate(t, 0, m), one.b[i] = run_rate(t, 1, m), one.r[i] = run_ratio(t, 0, 1, 1, 1);
        two.a[i] = run_rate(t, 2, 2 * m), two.b[i] = run_rate(t, 3, 2 * m), two.r[i] = run_ratio(t, 2, 1, 3, 1);
        sc.a[i] = run_ratio(t, 2, 2, 0, 1), sc.b[i] = run_ratio(t, 3, 2, 1, 1);
        sc.r[i] = sc.a[i] / sc.b[i];
        ref[i] = run_ratio(t, 5, 2, 4, 1);
        if (verbose)
            fprintf(stderr, "  run %d: A1 %.1f B1 %.1f A2 %.1f B2 %.1f, scaling A %.2f B %.2f loop %.2f, cpu/hs 2T/1T A %.3f B %.3f\n", i,
                    one.a[i], one.b[i], two.a[i], two.b[i], sc.a[i], sc.b[i], ref[i], cpu.a[i], cpu.b[i]);
    }
    w.quit = 1;
    pthread_barrier_wait(&w.start);
    for (int i = 0; i < 2; i++)
        pthread_join(w.t[i], NULL);
    pthread_barrier_destroy(&w.start);
    pthread_barrier_destroy(&w.end);
    snprintf(title, sizeof(title), "%s: 1 thread", bc->title);
    series_row(title, "hs/s", &one, 0.97);
    snprintf(title, sizeof(title), "%s: 2 threads", bc->title);
    series_row(title, "hs/s", &two, 0.97);
    snprintf(title, sizeof(title), "%s: scaling, 2 threads / 1 thread (a plain CPU loop: %.2f)", bc->title,
             median(ref, runs));
    {
        /* MTABENCH_SCALE_TARGET: 1.85 for OpenSSL 3.6 (bench/run-openssl36.sh). */
        const char *t = getenv("MTABENCH_SCALE_TARGET");
        double ma = median(sc.a, runs), goal = t ? atof(t) : 1.80;
        char target[32];
        snprintf(target, sizeof(target), "A >= %.2f", goal);
        row(title, "x", ma, median(sc.b, runs), sc.r, runs, target, ma >= goal);
    }
    snprintf(title, sizeof(title), "%s: CPU time per handshake, 2 threads / 1 thread", bc->title);
    row(title, "x", median(cpu.a, runs), median(cpu.b, runs), cpu.r, runs, NULL, -1);
    free_sides(sd);
}

/* Floor: A with the step driver (one thread, both ends, socketpair,
 * non-blocking calls) against raw OpenSSL on an in-memory BIO pair (B's
 * contexts, one thread, both ends): what the socket transport, the API
 * and the library cost above OpenSSL's own work; and B with the step
 * driver against the same floor (the transport alone). */
struct floor_arg {
    struct side *sd;
    int b_step; /* variant 0 is B's step driver instead of A's */
};

static double floor_block(int which, long m, void *arg)
{
    struct floor_arg *fa = arg;
    const struct side *sd = &fa->sd[fa->b_step ? 1 : 0];
    double t0 = now();
    for (long j = 0; j < m; j++) {
        if (which == 0)
            step_conn(sd);
        else if (b_floor_conn(fa->sd[1].sctx, fa->sd[1].cctx) != 0)
            die("floor: a BIO-pair connection failed");
    }
    return now() - t0;
}

static void case_floor(const struct bcase *bc)
{
    struct side sd[2];
    struct floor_arg fa;
    struct series S;
    long m;

    make_sides(bc, sd);
    fa.sd = sd;
    for (fa.b_step = 0; fa.b_step < 2; fa.b_step++) {
        char title[256];
        floor_block(0, 5, &fa);
        floor_block(1, 5, &fa);
        m = block_size(floor_block, &fa, 1, 20);
        ab_series(floor_block, &fa, 1, m, &S);
        snprintf(title, sizeof(title),
                 "%s: %s (socketpair, non-blocking calls) / raw OpenSSL on an in-memory BIO pair (column B)",
                 bc->title, fa.b_step ? "B" : "A");
        series_row(title, "hs/s", &S, 0);
    }
    free_sides(sd);
}

struct init_arg {
    int server;
    const char *main_cf;
};

static double init_block(int which, long m, void *arg)
{
    struct init_arg *ia = arg;
    double t0 = now();
    for (long j = 0; j < m; j++)
        if (which == 0)
            a_init_from_main_cf(ia->main_cf, ia->server);
        else
            b_init_like_main_cf(keydir, ia->server);
    return now() - t0;
}

static void case_init(const struct bcase *bc)
{
    struct init_arg ia;
    (void) bc;
    ia.main_cf = key_path(keydir, "main.cf");
    for (ia.server = 1; ia.server >= 0; ia.server--) {
        struct series S;
        long m;
        init_block(0, 3, &ia);
        m = block_size(init_block, &ia, 1, 10);
        ab_series(init_block, &ia, 1, m, &S);
        series_row_time(ia.server ? "server context init from main.cf (RSA + ECDSA chain files, CAfile)"
                                  : "client context init from main.cf (CAfile; A: one SSL_CTX for may+encrypt, verify's at its first session)",
                        "us", &S);
    }
    free((void *) ia.main_cf);
}

/* ------------------------------------------------------------------ */

/* The callgrind workload: contexts, then n connections with the pair
 * driver (blocking calls) or, with mode "step", the step driver
 * (non-blocking calls, both ends in one thread). */
static void callgrind_workload(const char *name, const char *which, long n, const char *mode)
{
    const struct bcase *bc = find_case(name);
    struct bcfg cfg = bc->cfg;
    const struct bimpl *im = strcmp(which, "A") == 0 ? &impl_a : &impl_b;
    struct side sd[2];

    cfg.keydir = keydir;
    if (strcmp(which, "P") == 0) /* B' */
        cfg.b_objects = 1;
    sd[0].im = sd[1].im = im;
    sd[0].sctx = sd[1].sctx = im->ctx_new(&cfg, 1);
    sd[0].cctx = sd[1].cctx = im->ctx_new(&cfg, 0);
    if (mode && strcmp(mode, "step") == 0) {
        for (long j = 0; j < n; j++)
            step_conn(&sd[0]);
    } else if (mode && strcmp(mode, "bulk") == 0) {
        struct bulk_arg b;
        b.sd = sd;
        if (step_open(im, sd[0].sctx, sd[0].cctx, &b.k[0], "DATA\r\n", "354 go ahead\r\n") != 0)
            die("bulk: connection failed");
        bulk_block(0, n, &b);
        step_close(im, &b.k[0]);
    } else if (n > 0) {
        struct pairsrv ps;
        pair_start(&ps, sd);
        hs_block(0, n, &ps);
        pair_end(&ps);
    }
    im->ctx_free(sd[0].sctx);
    im->ctx_free(sd[0].cctx);
}

/* OPENSSL_CONF for the ChaCha20 case: TLS 1.3 cipher suites can only be
 * chosen through OpenSSL's configuration with the mtatls API (which has no
 * TLS 1.3 cipher-suite parameter, like Postfix 3.8); it applies to every
 * SSL_CTX of the process, so to A and B alike. */
static void use_chacha_config(void)
{
    static char path[] = "/tmp/mtabench-chacha-XXXXXX";
    int fd = mkstemp(path);
    FILE *fp;

    if (fd < 0 || !(fp = fdopen(fd, "w")))
        die("cannot write an OpenSSL configuration file");
    fprintf(fp, "openssl_conf = openssl_init\n[openssl_init]\nssl_conf = ssl_sect\n[ssl_sect]\n"
                "system_default = system_default_sect\n[system_default_sect]\n"
                "Ciphersuites = TLS_CHACHA20_POLY1305_SHA256\n");
    fclose(fp);
    setenv("OPENSSL_CONF", path, 1);
}

static void usage(void)
{
    fprintf(stderr, "usage: mtabench [-k KEYDIR] [-r RUNS] [-t SECONDS] CASE|list|version\n"
                    "       mtabench [-k KEYDIR] cg CASE A|B|P N [step|bulk]\n"
                    "       mtabench [-k KEYDIR] cg init A|B N [server|client]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int opt;
    const char *cmd;
    struct bcase *bc;

    while ((opt = getopt(argc, argv, "k:r:t:")) != -1) {
        switch (opt) {
        case 'k':
            keydir = optarg;
            break;
        case 'r':
            runs = atoi(optarg);
            if (runs < 1 || runs > 63)
                die("-r: 1..63");
            break;
        case 't':
            run_secs = atof(optarg);
            break;
        default:
            usage();
        }
    }
    if (optind >= argc)
        usage();
    cmd = argv[optind];
    signal(SIGPIPE, SIG_IGN);
    verbose = getenv("MTABENCH_VERBOSE") ? atoi(getenv("MTABENCH_VERBOSE")) : 0;
    cross_version = strstr(mtatls_version(), b_openssl_version()) == NULL;
    if (strcmp(cmd, "list") == 0) {
        for (size_t i = 0; i < NCASES; i++)
            printf("%s\t%s\n", cases[i].name, cases[i].title);
        return 0;
    }
    if (strcmp(cmd, "version") == 0) {
        printf("%s\n%s\n", mtatls_version(), b_openssl_version());
        return 0;
    }
    if (strcmp(cmd, "cg") == 0) {
        if (argc - optind != 4 && argc - optind != 5)
            usage();
        if (strcmp(argv[optind + 1], "init") == 0) {
            /* cg init A|B N [server]: N client (or server) context inits. */
            struct init_arg ia;
            ia.main_cf = key_path(keydir, "main.cf");
            ia.server = argc - optind == 5 && strcmp(argv[optind + 4], "server") == 0;
            init_block(strcmp(argv[optind + 2], "A") == 0 ? 0 : 1, atol(argv[optind + 3]), &ia);
            free((void *) ia.main_cf);
            return 0;
        }
        callgrind_workload(argv[optind + 1], argv[optind + 2], atol(argv[optind + 3]),
                           argc - optind == 5 ? argv[optind + 4] : NULL);
        return 0;
    }
    bc = find_case(cmd);
    if (bc->kind == K_MEM && !getenv("MTABENCH_TUNED")) {
        /* Exact heap accounting: no per-thread caches (mallinfo2 would
         * count chunks parked in tcache as in use). */
        setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0", 1);
        setenv("MTABENCH_TUNED", "1", 1);
        execv("/proc/self/exe", argv);
        die("execv: %s", strerror(errno));
    }
    if (strcmp(bc->name, "bulk-chacha20") == 0)
        use_chacha_config();
    fprintf(stderr, "mtabench: %s (%d runs)\n", bc->title, runs);
    switch (bc->kind) {
    case K_HS:
        case_hs(bc);
        break;
    case K_RESUME:
        case_resume(bc);
        break;
    case K_BULK:
        case_bulk(bc);
        break;
    case K_MEM:
        case_mem(bc);
        break;
    case K_SCALE:
        case_scale(bc);
        break;
    case K_INIT:
        case_init(bc);
        break;
    case K_FLOOR:
        case_floor(bc);
        break;
    }
    if (a_log_lines)
        printf("NOTE|A logged %ld line(s) during %s (see stderr)\n", a_log_lines, bc->name);
    if (strcmp(bc->name, "bulk-chacha20") == 0)
        unlink(getenv("OPENSSL_CONF"));
    return 0;
}
