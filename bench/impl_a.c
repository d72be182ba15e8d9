/*
 * impl_a.c - A: the same work through the mtatls C API.
 *
 * Server: smtpd_tls_security_level = may, smtpd_tls_chain_files = the
 * case's chain file, optional smtpd_tls_dh1024_param_file. Client:
 * smtp_tls_security_level = may with smtp_tls_CAfile = the root (so the
 * library verifies the chain as B does), optional smtp_tls_protocols and
 * smtp_tls_exclude_ciphers; with resumption, every client session gets
 * the server id "[server.test]:25" (mtatls_session_set_serverid), so the
 * library's in-memory session cache is used. Both: the case's tls_eecdh_auto_curves /
 * tls_ffdhe_auto_groups, *_tls_loglevel = 0 and a log callback that only
 * counts lines (there should be none).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtatls.h"
#include "bench.h"

volatile long a_log_lines = 0;

static void a_log(void *userdata, int level, const char *line)
{
    (void) userdata;
    if (__atomic_fetch_add(&a_log_lines, 1, __ATOMIC_RELAXED) < 5)
        fprintf(stderr, "mtabench: A log line (%d): %s\n", level, line);
}

static void set(mtatls_params *p, const char *name, const char *value)
{
    if (mtatls_params_set(p, name, value) != MTATLS_RESULT_OK)
        die("A: %s", mtatls_params_error(p));
}

struct actx {
    mtatls_ctx *ctx;
    int resume;
};

static void *a_ctx_new(const struct bcfg *cfg, int server)
{
    struct actx *a = calloc(1, sizeof(*a));
    mtatls_params *p = NULL;
    mtatls_ctx *ctx = NULL;
    char value[1024];

    if (mtatls_params_new(&p) != MTATLS_RESULT_OK)
        die("A: mtatls_params_new failed");
    mtatls_params_set_log_callback(p, a_log, NULL);
    if (cfg->release)
        set(p, "mtatls_postfix_release", cfg->release);
    if (cfg->eecdh)
        set(p, "tls_eecdh_auto_curves", cfg->eecdh);
    if (cfg->ffdhe)
        set(p, "tls_ffdhe_auto_groups", cfg->ffdhe);
    if (server) {
        char files[512], *save = NULL, *f;
        size_t o = 0;

        set(p, "smtpd_tls_security_level", "may");
        set(p, "smtpd_tls_loglevel", "0");
        snprintf(files, sizeof(files), "%s", cfg->server_chain);
        value[0] = 0;
        for (f = strtok_r(files, ", ", &save); f; f = strtok_r(NULL, ", ", &save)) {
            char *path = key_path(cfg->keydir, f);
            o += (size_t) snprintf(value + o, sizeof(value) - o, "%s%s", o ? ", " : "", path);
            free(path);
        }
        set(p, "smtpd_tls_chain_files", value);
        if (cfg->server_dh) {
            char *path = key_path(cfg->keydir, cfg->server_dh);
            set(p, "smtpd_tls_dh1024_param_file", path);
            free(path);
        }
    } else {
        char *ca = key_path(cfg->keydir, "root.pem");
        set(p, "smtp_tls_security_level", "may");
        set(p, "smtp_tls_loglevel", "0");
        set(p, "smtp_tls_CAfile", ca);
        free(ca);
        if (cfg->client_max_tls12)
            set(p, "smtp_tls_protocols", "<=TLSv1.2");
        if (cfg->client_exclude)
            set(p, "smtp_tls_exclude_ciphers", cfg->client_exclude);
    }
    if (cfg->no_release_buffers)
        set(p, "mtatls_release_buffers", "no");
    if (mtatls_ctx_new(p, server ? "smtpd" : "smtp", &ctx) != MTATLS_RESULT_OK)
        die("A: mtatls_ctx_new: %s", mtatls_params_error(p));
    mtatls_params_free(p);
    if (!a)
        die("out of memory");
    a->ctx = ctx;
    a->resume = !server && cfg->resume;
    return a;
}

static void a_ctx_free(void *p)
{
    struct actx *a = p;
    if (a)
        mtatls_ctx_free(a->ctx);
    free(a);
}

static void *a_sess_new(void *p, int fd, int server)
{
    struct actx *a = p;
    mtatls_session *s = NULL;
    if (mtatls_session_new(a->ctx, fd, server ? "client.test[127.0.0.1]" : "server.test[127.0.0.1]:25", &s)
        != MTATLS_RESULT_OK)
        return NULL;
    if (a->resume && mtatls_session_set_serverid(s, "[server.test]:25") != MTATLS_RESULT_OK)
        die("A: mtatls_session_set_serverid: %s", mtatls_session_error(s));
    return s;
}

static int rc(mtatls_result r)
{
    switch (r) {
    case MTATLS_RESULT_OK:
        return RC_OK;
    case MTATLS_RESULT_WANT_READ:
        return RC_WANT_READ;
    case MTATLS_RESULT_WANT_WRITE:
        return RC_WANT_WRITE;
    default:
        return RC_ERR;
    }
}

static int a_handshake(void *s, int timeout)
{
    return rc(mtatls_session_handshake(s, timeout));
}

static int a_read(void *s, void *buf, size_t len, int timeout, size_t *got)
{
    *got = 0;
    return rc(mtatls_session_read(s, buf, len, timeout, got));
}

static int a_write(void *s, const void *buf, size_t len, int timeout)
{
    size_t n = 0;
    return rc(mtatls_session_write(s, buf, len, timeout, &n));
}

static int a_stop(void *s, int timeout)
{
    return rc(mtatls_session_stop(s, timeout));
}

static void a_sess_free(void *s)
{
    mtatls_session_free(s);
}

static void a_describe(void *s, char *buf, size_t len)
{
    const mtatls_session_facts *f = mtatls_session_get_facts(s);
    char kex[64];

    if (!f) {
        snprintf(buf, len, "(no facts)");
        return;
    }
    if (strcmp(f->kex_name, "ECDHE") == 0)
        snprintf(kex, sizeof(kex), "%s", f->kex_curve);
    else if (strcmp(f->kex_name, "DHE") == 0)
        snprintf(kex, sizeof(kex), "DH%d", f->kex_bits);
    else
        snprintf(kex, sizeof(kex), "%s", *f->kex_name ? f->kex_name : "-");
    /* A resumed session has no handshake signature (the library reports
     * the certificate's key type; B has nothing to show). */
    snprintf(buf, len, "%s %s %s %s %s %s %s", f->protocol, f->cipher_name, kex,
             f->reused ? "(resumed)" : *f->srvr_sig_name ? f->srvr_sig_name : "-",
             !f->reused && *f->srvr_sig_dgst ? f->srvr_sig_dgst : "-",
             (f->peer_status & MTATLS_CERT_TRUSTED) ? "trusted" : "untrusted", f->reused ? "reused" : "new");
}

static const char *a_error(void *s)
{
    return mtatls_session_error(s);
}

const struct bimpl impl_a = {
    "A", a_ctx_new, a_ctx_free, a_sess_new, a_handshake, a_read, a_write, a_stop, a_sess_free, a_describe, a_error,
};

/* Context init from main.cf: parameters, file, context, free. */
int a_init_from_main_cf(const char *main_cf, int server)
{
    mtatls_params *p = NULL;
    mtatls_ctx *ctx = NULL;

    if (mtatls_params_new(&p) != MTATLS_RESULT_OK)
        return -1;
    mtatls_params_set_log_callback(p, a_log, NULL);
    if (mtatls_params_load_file(p, main_cf) != MTATLS_RESULT_OK
        || mtatls_ctx_new(p, server ? "smtpd" : "smtp", &ctx) != MTATLS_RESULT_OK)
        die("A: %s: %s", main_cf, mtatls_params_error(p));
    mtatls_ctx_free(ctx);
    mtatls_params_free(p);
    return 0;
}
