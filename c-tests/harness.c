/*
 * harness.c - see harness.h.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

int harness_failures = 0;

#define IO_TIMEOUT 10

static void log_cb(void *userdata, int level, const char *line)
{
    struct harness_log *log = userdata;
    size_t n = strlen(line);
    const char *prefix = level == MTATLS_LOG_WARNING ? "warning: " : "";
    size_t p = strlen(prefix);

    if (log->len + p + n + 2 >= sizeof(log->text))
        return;
    memcpy(log->text + log->len, prefix, p);
    memcpy(log->text + log->len + p, line, n);
    log->len += p + n;
    log->text[log->len++] = '\n';
    log->text[log->len] = 0;
}

/* Read one CRLF line from a plain socket (bounded). */
static int plain_line(int fd, char *buf, size_t size)
{
    size_t n = 0;

    while (n + 1 < size) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r <= 0)
            return -1;
        buf[n++] = c;
        if (c == '\n')
            break;
    }
    buf[n] = 0;
    return (int) n;
}

static int plain_write(int fd, const char *s)
{
    size_t len = strlen(s);
    return write(fd, s, len) == (ssize_t) len ? 0 : -1;
}

/* Read one line through TLS (bounded). */
static int tls_line(mtatls_session *s, char *buf, size_t size)
{
    size_t n = 0;

    while (n + 1 < size) {
        size_t got = 0;
        if (mtatls_session_read(s, (unsigned char *) buf + n, 1, IO_TIMEOUT, &got) != MTATLS_RESULT_OK
            || got == 0)
            return -1;
        n++;
        if (buf[n - 1] == '\n')
            break;
    }
    buf[n] = 0;
    return (int) n;
}

static int tls_write(mtatls_session *s, const char *text)
{
    size_t n = 0;
    return mtatls_session_write(s, (const unsigned char *) text, strlen(text), IO_TIMEOUT, &n) == MTATLS_RESULT_OK
        && n == strlen(text) ? 0 : -1;
}

struct run {
    const char *keydir;
    struct harness_side *side;
    int fd;
    int is_server;
};

static void copy_facts(struct harness_side *side, const mtatls_session_facts *f)
{
    char *p = side->fact_strings;
    char *end = side->fact_strings + sizeof(side->fact_strings);
    const char **fields[] = {
        &side->facts.protocol, &side->facts.cipher_name, &side->facts.kex_name, &side->facts.kex_curve,
        &side->facts.clnt_sig_name, &side->facts.clnt_sig_curve, &side->facts.clnt_sig_dgst,
        &side->facts.srvr_sig_name, &side->facts.srvr_sig_curve, &side->facts.srvr_sig_dgst,
        &side->facts.peer_cn, &side->facts.issuer_cn, &side->facts.peer_cert_fprint,
        &side->facts.peer_pkey_fprint, &side->facts.peer_sni, &side->facts.peer_label,
    };
    size_t i;

    side->facts = *f;
    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        size_t n = strlen(*fields[i]) + 1;
        if (p + n > end) {
            *fields[i] = "";
            continue;
        }
        memcpy(p, *fields[i], n);
        *fields[i] = p;
        p += n;
    }
    side->have_facts = 1;
}

static mtatls_params *make_params(struct run *r)
{
    struct harness_side *side = r->side;
    mtatls_params *params = NULL;
    size_t i;

    if (mtatls_params_new(&params) != MTATLS_RESULT_OK)
        return NULL;
    mtatls_params_set_log_callback(params, log_cb, &side->log);
    for (i = 0; i < HARNESS_MAX_PARAMS && side->params[i]; i++) {
        char name[128], value[1024];
        const char *eq = strchr(side->params[i], '=');
        const char *v, *dir;
        size_t o = 0;

        if (!eq || (size_t) (eq - side->params[i]) >= sizeof(name)) {
            fprintf(stderr, "harness: bad parameter %s\n", side->params[i]);
            continue;
        }
        memcpy(name, side->params[i], (size_t) (eq - side->params[i]));
        name[eq - side->params[i]] = 0;
        /* Replace every "DIR" in the value with the key directory. */
        for (v = eq + 1; *v && o + 1 < sizeof(value);) {
            if (strncmp(v, "DIR", 3) == 0 && o + strlen(r->keydir) + 1 < sizeof(value)) {
                for (dir = r->keydir; *dir;)
                    value[o++] = *dir++;
                v += 3;
            } else {
                value[o++] = *v++;
            }
        }
        value[o] = 0;
        if (mtatls_params_set(params, name, value) != MTATLS_RESULT_OK)
            fprintf(stderr, "harness: %s\n", mtatls_params_error(params));
    }
    return params;
}

/* Apply the optional per-session client settings. */
static int configure_client(struct run *r, mtatls_session *s)
{
    struct harness_side *side = r->side;
    char match[4096];

    if (side->level && mtatls_session_set_level(s, side->level) != MTATLS_RESULT_OK)
        return -1;
    if ((side->host || side->nexthop)
        && mtatls_session_set_peer_names(s, side->host ? side->host : "", side->nexthop ? side->nexthop : "")
            != MTATLS_RESULT_OK)
        return -1;
    if (side->match) {
        if (side->match[0] == '@')
            snprintf(match, sizeof(match), "%s", harness_read_file(r->keydir, side->match + 1));
        else
            snprintf(match, sizeof(match), "%s", side->match);
        if (mtatls_session_set_match(s, match) != MTATLS_RESULT_OK)
            return -1;
    }
    return 0;
}

static void *side_main(void *arg)
{
    struct run *r = arg;
    struct harness_side *side = r->side;
    mtatls_params *params = make_params(r);
    mtatls_ctx *ctx = NULL;
    mtatls_session *s = NULL;
    char line[512];
    const mtatls_session_facts *f;

    side->build_result = MTATLS_RESULT_NULL_PARAMETER;
    side->hs_result = MTATLS_RESULT_BAD_STATE;
    if (!params)
        goto out;
    side->build_result = mtatls_ctx_new(params, r->is_server ? "smtpd" : "smtp", &ctx);
    if (side->build_result != MTATLS_RESULT_OK) {
        snprintf(side->error, sizeof(side->error), "%s", mtatls_params_error(params));
        shutdown(r->fd, SHUT_RDWR);
        goto out;
    }
    /* Plain SMTP up to STARTTLS. */
    if (r->is_server) {
        if (plain_write(r->fd, "220 server.test ESMTP mtatls-harness\r\n") < 0
            || plain_line(r->fd, line, sizeof(line)) < 0 || strncmp(line, "EHLO ", 5) != 0
            || plain_write(r->fd, "250-server.test\r\n250 STARTTLS\r\n") < 0
            || plain_line(r->fd, line, sizeof(line)) < 0 || strcmp(line, "STARTTLS\r\n") != 0
            || plain_write(r->fd, "220 2.0.0 Ready to start TLS\r\n") < 0)
            goto out;
    } else {
        if (plain_line(r->fd, line, sizeof(line)) < 0 || strncmp(line, "220 ", 4) != 0
            || plain_write(r->fd, "EHLO client.test\r\n") < 0
            || plain_line(r->fd, line, sizeof(line)) < 0
            || plain_line(r->fd, line, sizeof(line)) < 0 || strcmp(line, "250 STARTTLS\r\n") != 0
            || plain_write(r->fd, "STARTTLS\r\n") < 0
            || plain_line(r->fd, line, sizeof(line)) < 0 || strncmp(line, "220 ", 4) != 0)
            goto out;
    }
    if (mtatls_session_new(ctx, r->fd, r->is_server ? "localhost[127.0.0.1]" : "localhost[127.0.0.1]:25", &s)
        != MTATLS_RESULT_OK)
        goto out;
    if (!r->is_server && configure_client(r, s) != 0)
        goto out;
    side->hs_result = mtatls_session_handshake(s, IO_TIMEOUT);
    side->tlsrpt_result = mtatls_session_tlsrpt_result(s);
    mtatls_session_tlsrpt_reason(s, side->tlsrpt_reason, sizeof(side->tlsrpt_reason));
    mtatls_session_tlsrpt_receiving_mx(s, side->tlsrpt_mx, sizeof(side->tlsrpt_mx));
    if (side->hs_result == MTATLS_RESULT_NOT_VERIFIED)
        snprintf(side->error, sizeof(side->error), "%s", mtatls_session_error(s));
    else if (side->hs_result != MTATLS_RESULT_OK) {
        snprintf(side->error, sizeof(side->error), "%s", mtatls_session_error(s));
        /* Let the other side see the failure at once. */
        shutdown(r->fd, SHUT_RDWR);
        goto out;
    }
    mtatls_session_summary(s, side->summary, sizeof(side->summary));
    mtatls_session_received_comment(s, side->received, sizeof(side->received));
    f = mtatls_session_get_facts(s);
    if (f)
        copy_facts(side, f);
    /* One SMTP exchange through TLS, then an orderly close. */
    if (r->is_server) {
        if (tls_line(s, line, sizeof(line)) > 0 && strcmp(line, "EHLO client.test\r\n") == 0
            && tls_write(s, "250 server.test\r\n") == 0 && tls_line(s, line, sizeof(line)) > 0
            && strcmp(line, "QUIT\r\n") == 0 && tls_write(s, "221 2.0.0 Bye\r\n") == 0)
            side->data_ok = 1;
    } else {
        if (tls_write(s, "EHLO client.test\r\n") == 0 && tls_line(s, line, sizeof(line)) > 0
            && strcmp(line, "250 server.test\r\n") == 0 && tls_write(s, "QUIT\r\n") == 0
            && tls_line(s, line, sizeof(line)) > 0 && strncmp(line, "221 ", 4) == 0)
            side->data_ok = 1;
    }
    mtatls_session_stop(s, IO_TIMEOUT);
out:
    mtatls_session_free(s);
    mtatls_ctx_free(ctx);
    mtatls_params_free(params);
    return NULL;
}

int harness_run(const char *keydir, struct harness_side *server, struct harness_side *client)
{
    int sv[2];
    pthread_t ts, tc;
    struct run rs, rc;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        perror("socketpair");
        return -1;
    }
    rs.keydir = keydir;
    rs.side = server;
    rs.fd = sv[0];
    rs.is_server = 1;
    rc.keydir = keydir;
    rc.side = client;
    rc.fd = sv[1];
    rc.is_server = 0;
    if (pthread_create(&ts, NULL, side_main, &rs) != 0 || pthread_create(&tc, NULL, side_main, &rc) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        return -1;
    }
    pthread_join(ts, NULL);
    pthread_join(tc, NULL);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

void expect_str(const char *what, const char *got, const char *want)
{
    if (got == NULL)
        got = "(null)";
    if (strcmp(got, want) != 0) {
        harness_failures++;
        printf("not ok: %s\n   got: \"%s\"\n  want: \"%s\"\n", what, got, want);
    }
}

void expect_int(const char *what, long got, long want)
{
    if (got != want) {
        harness_failures++;
        printf("not ok: %s: got %ld, want %ld\n", what, got, want);
    }
}

void expect_contains(const char *what, const char *hay, const char *needle)
{
    if (hay == NULL || strstr(hay, needle) == NULL) {
        harness_failures++;
        printf("not ok: %s\n  text: \"%s\"\n  lacks: \"%s\"\n", what, hay ? hay : "(null)", needle);
    }
}

void expect_line(const char *what, const struct harness_log *log, const char *line)
{
    const char *p = log->text;
    size_t n = strlen(line);

    while ((p = strstr(p, line)) != NULL) {
        if ((p == log->text || p[-1] == '\n') && p[n] == '\n')
            return;
        p += 1;
    }
    harness_failures++;
    printf("not ok: %s: no log line\n  \"%s\"\n  log:\n%s\n", what, line, log->text);
}

const char *harness_read_file(const char *dir, const char *name)
{
    static char buf[4096];
    char path[1024];
    FILE *fp;
    size_t n;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((fp = fopen(path, "r")) == NULL) {
        snprintf(buf, sizeof(buf), "(cannot open %s)", path);
        return buf;
    }
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\r'))
        n--;
    buf[n] = 0;
    return buf;
}
