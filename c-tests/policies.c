/*
 * policies.c - per-session policy from C: threads sharing ONE client
 * context and ONE server context, each session with its own protocols,
 * cipher grade, exclusions, fingerprint digest, CA file, trust-anchor file
 * or the halfdane level (as Postfix's TLS policy table sets them per
 * delivery), all at once; then the peer's certificates exported as PEM and
 * DER. Meant to run under helgrind and drd as well: a session's settings
 * never touch what the other threads share.
 *
 * usage: policies KEYDIR [ROUNDS]   (default 3 rounds of every policy)
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static const char *keydir;
static mtatls_ctx *server_ctx, *client_ctx;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

static void quiet(void *userdata, int level, const char *line)
{
    (void) userdata;
    (void) level;
    (void) line;
}

static const char *key_path(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", keydir, name);
    return buf;
}

/* One policy: how the client session is set up, what must come out. */
struct policy {
    const char *name;
    const char *level, *protocols, *grade, *exclusions, *digest, *match;
    const char *ca_file, *ta_file;     /* names in KEYDIR */
    const char *host;                  /* peer names (host = nexthop) */
    int tlsa;                          /* add a DANE-EE(3) SPKI SHA-256 record */
    /* Expected. */
    mtatls_result want;
    const char *protocol;              /* facts->protocol */
    mtatls_trust trust;
    const char *cipher_prefix;         /* facts->cipher_name starts with */
    const char *cipher_lacks;          /* and does not contain (or NULL) */
};

static const struct policy policies[] = {
    {"tls12-only", "may", "TLSv1.2", NULL, "aNULL", NULL, NULL, NULL, NULL, NULL, 0,
     MTATLS_RESULT_OK, "TLSv1.2", MTATLS_TRUST_UNTRUSTED, "ECDHE-ECDSA-", NULL},
    {"tls12-anonymous", "may", "TLSv1.2", NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0,
     MTATLS_RESULT_OK, "TLSv1.2", MTATLS_TRUST_ANONYMOUS, "ADH-", NULL},
    {"tls13-only", "may", ">=TLSv1.3", NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0,
     MTATLS_RESULT_OK, "TLSv1.3", MTATLS_TRUST_UNTRUSTED, "TLS_", NULL},
    {"grade-high-no-aesgcm-tls12", "encrypt", "TLSv1.2", "high", "aNULL, AESGCM", NULL, NULL, NULL, NULL, NULL, 0,
     MTATLS_RESULT_OK, "TLSv1.2", MTATLS_TRUST_UNTRUSTED, "ECDHE-ECDSA-", "GCM"},
    {"fingerprint-sha1", "fingerprint", NULL, NULL, NULL, "sha1", "@ecdsa.sha1", NULL, NULL, NULL, 0,
     MTATLS_RESULT_OK, "TLSv1.3", MTATLS_TRUST_VERIFIED, "TLS_", NULL},
    {"fingerprint-sha1-wrong", "fingerprint", NULL, NULL, NULL, "sha1", "@ecdsa.sha256", NULL, NULL, NULL, 0,
     MTATLS_RESULT_NOT_VERIFIED, "TLSv1.3", MTATLS_TRUST_UNTRUSTED, "TLS_", NULL},
    {"ca-file-verify", "verify", NULL, NULL, NULL, NULL, NULL, "ecdsa.crt", NULL, "server.test", 0,
     MTATLS_RESULT_OK, "TLSv1.3", MTATLS_TRUST_VERIFIED, "TLS_", NULL},
    {"ca-file-other", "verify", NULL, NULL, NULL, NULL, NULL, "rsa.crt", NULL, "server.test", 0,
     MTATLS_RESULT_NOT_VERIFIED, "TLSv1.3", MTATLS_TRUST_UNTRUSTED, "TLS_", NULL},
    {"trust-anchor-secure", "secure", NULL, NULL, NULL, NULL, "server.test", NULL, "ecdsa.crt", "server.test", 0,
     MTATLS_RESULT_OK, "TLSv1.3", MTATLS_TRUST_VERIFIED, "TLS_", NULL},
    {"halfdane", "halfdane", NULL, NULL, NULL, NULL, NULL, NULL, NULL, "server.test", 1,
     MTATLS_RESULT_OK, "TLSv1.3", MTATLS_TRUST_TRUSTED, "TLS_", NULL},
    {"dane", "dane", NULL, NULL, NULL, NULL, NULL, NULL, NULL, "server.test", 1,
     MTATLS_RESULT_OK, "TLSv1.3", MTATLS_TRUST_VERIFIED, "TLS_", NULL},
};

#define NPOLICIES (sizeof(policies) / sizeof(policies[0]))

static void fail(const struct policy *p, const char *what, const char *detail)
{
    pthread_mutex_lock(&report_lock);
    harness_failures++;
    printf("not ok: %s: %s%s%s\n", p->name, what, detail ? ": " : "", detail ? detail : "");
    pthread_mutex_unlock(&report_lock);
}

static int set_client(const struct policy *p, mtatls_session *c)
{
    char path[1024], match[1024];
    mtatls_result r = MTATLS_RESULT_OK;
    unsigned char spki[32];
    FILE *fp;

    if (p->level && r == MTATLS_RESULT_OK)
        r = mtatls_session_set_level(c, p->level);
    if (p->protocols && r == MTATLS_RESULT_OK)
        r = mtatls_session_set_protocols(c, p->protocols);
    if (p->grade && r == MTATLS_RESULT_OK)
        r = mtatls_session_set_cipher_grade(c, p->grade);
    if (p->exclusions && r == MTATLS_RESULT_OK)
        r = mtatls_session_set_exclusions(c, p->exclusions);
    if (p->digest && r == MTATLS_RESULT_OK)
        r = mtatls_session_set_fingerprint_digest(c, p->digest);
    if (p->match && r == MTATLS_RESULT_OK) {
        if (p->match[0] == '@') {
            /* harness_read_file answers in a static buffer. */
            pthread_mutex_lock(&report_lock);
            snprintf(match, sizeof(match), "%s", harness_read_file(keydir, p->match + 1));
            pthread_mutex_unlock(&report_lock);
        } else
            snprintf(match, sizeof(match), "%s", p->match);
        r = mtatls_session_set_match(c, match);
    }
    if (p->ca_file && r == MTATLS_RESULT_OK)
        r = mtatls_session_set_ca_file(c, key_path(p->ca_file, path, sizeof(path)));
    if (p->ta_file && r == MTATLS_RESULT_OK)
        r = mtatls_session_set_trust_anchor_file(c, key_path(p->ta_file, path, sizeof(path)));
    if (p->host && r == MTATLS_RESULT_OK)
        r = mtatls_session_set_peer_names(c, p->host, p->host);
    if (p->tlsa && r == MTATLS_RESULT_OK) {
        /* DANE-EE(3) SPKI(1) SHA-256(1) of the server's ECDSA key. */
        if ((fp = fopen(key_path("ecdsa.spki-sha256.bin", path, sizeof(path)), "rb")) == NULL
            || fread(spki, 1, sizeof(spki), fp) != sizeof(spki)) {
            if (fp)
                fclose(fp);
            fail(p, "reading the SPKI digest", path);
            return -1;
        }
        fclose(fp);
        r = mtatls_session_add_tlsa(c, 3, 1, 1, spki, sizeof(spki));
    }
    if (r != MTATLS_RESULT_OK) {
        fail(p, mtatls_result_name(r), mtatls_session_error(c));
        return -1;
    }
    return 0;
}

static int want(mtatls_result r, short *events)
{
    if (r == MTATLS_RESULT_WANT_READ)
        *events = POLLIN;
    else if (r == MTATLS_RESULT_WANT_WRITE)
        *events = POLLOUT;
    else
        return 1;
    return 0;
}

/* The peer's chain exported as DER and PEM: each form is consistent. */
static void check_export(const struct policy *p, mtatls_session *c)
{
    size_t n = mtatls_session_peer_certificate_count(c, false), der_len, pem_len;
    unsigned char *der;
    char *pem;

    if (p->trust == MTATLS_TRUST_ANONYMOUS) {
        if (n != 0)
            fail(p, "certificates of an anonymous peer", NULL);
        return;
    }
    if (n < 1) {
        fail(p, "no peer certificate to export", NULL);
        return;
    }
    der_len = mtatls_session_peer_certificate(c, false, 0, MTATLS_CERT_FORMAT_DER, NULL, 0);
    pem_len = mtatls_session_peer_certificate(c, false, 0, MTATLS_CERT_FORMAT_PEM, NULL, 0);
    if (der_len < 100 || pem_len < der_len) {
        fail(p, "certificate sizes", NULL);
        return;
    }
    der = malloc(der_len);
    pem = malloc(pem_len + 1);
    if (mtatls_session_peer_certificate(c, false, 0, MTATLS_CERT_FORMAT_DER, der, der_len) != der_len
        || der[0] != 0x30)
        fail(p, "DER export", NULL);
    if (mtatls_session_peer_certificate(c, false, 0, MTATLS_CERT_FORMAT_PEM, (unsigned char *) pem, pem_len + 1)
            != pem_len
        || strncmp(pem, "-----BEGIN CERTIFICATE-----\n", 28) != 0 || strlen(pem) != pem_len)
        fail(p, "PEM export", NULL);
    if (mtatls_session_peer_certificate(c, false, n, MTATLS_CERT_FORMAT_DER, der, der_len) != 0
        || mtatls_session_peer_certificate(c, false, 0, 7, der, der_len) != 0)
        fail(p, "a bad index or format gives 0", NULL);
    /* Verified levels built a chain ending at the trust anchor. */
    if (p->trust == MTATLS_TRUST_VERIFIED && p->ca_file
        && mtatls_session_peer_certificate_count(c, true) < 1)
        fail(p, "no verified chain", NULL);
    /* An untrusted peer's chain is never reported as verified. */
    if (p->trust == MTATLS_TRUST_UNTRUSTED && mtatls_session_peer_certificate_count(c, true) != 0)
        fail(p, "a verified chain for an untrusted peer", NULL);
    free(der);
    free(pem);
}

static void run(const struct policy *p)
{
    int sv[2], rounds, s_done = 0, c_done = 0;
    short se = POLLIN, ce = POLLOUT;
    mtatls_session *s = NULL, *c = NULL;
    mtatls_result sr = MTATLS_RESULT_BAD_STATE, cr = MTATLS_RESULT_BAD_STATE;
    const mtatls_session_facts *f;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return;
    if (mtatls_session_new(server_ctx, sv[0], "client[127.0.0.1]", &s) != MTATLS_RESULT_OK
        || mtatls_session_new(client_ctx, sv[1], "server.test[127.0.0.1]:25", &c) != MTATLS_RESULT_OK
        || set_client(p, c) < 0)
        goto out;
    for (rounds = 0; rounds < 400 && (!s_done || !c_done); rounds++) {
        struct pollfd pfd[2];
        if (!s_done && want(sr = mtatls_session_handshake(s, MTATLS_TIMEOUT_NONBLOCK), &se))
            s_done = 1;
        if (!c_done && want(cr = mtatls_session_handshake(c, MTATLS_TIMEOUT_NONBLOCK), &ce))
            c_done = 1;
        pfd[0].fd = sv[0];
        pfd[0].events = s_done ? 0 : se;
        pfd[1].fd = sv[1];
        pfd[1].events = c_done ? 0 : ce;
        if (!s_done || !c_done)
            poll(pfd, 2, 2000);
    }
    if (cr != p->want) {
        fail(p, "client result", mtatls_result_name(cr));
        printf("   %s: %s\n", p->name, mtatls_session_error(c));
        goto out;
    }
    if ((f = mtatls_session_get_facts(c)) == NULL) {
        fail(p, "no facts", NULL);
        goto out;
    }
    if (strcmp(f->protocol, p->protocol) != 0)
        fail(p, "protocol", f->protocol);
    if (f->trust != p->trust)
        fail(p, "trust", f->trust == MTATLS_TRUST_VERIFIED ? "Verified"
                             : f->trust == MTATLS_TRUST_TRUSTED ? "Trusted" : "Untrusted/Anonymous");
    if (strncmp(f->cipher_name, p->cipher_prefix, strlen(p->cipher_prefix)) != 0
        || (p->cipher_lacks && strstr(f->cipher_name, p->cipher_lacks)))
        fail(p, "cipher", f->cipher_name);
    if (p->digest && strlen(f->peer_cert_fprint) != 59) /* SHA-1: 20 bytes in colon hex */
        fail(p, "fingerprint digest", f->peer_cert_fprint);
    check_export(p, c);
out:
    mtatls_session_free(s);
    mtatls_session_free(c);
    close(sv[0]);
    close(sv[1]);
}

static int rounds_each = 3;

static void *worker(void *arg)
{
    const struct policy *p = arg;
    int i;

    for (i = 0; i < rounds_each; i++)
        run(p);
    return NULL;
}

static mtatls_ctx *make_ctx(const char *role)
{
    mtatls_params *p = NULL;
    mtatls_ctx *ctx = NULL;
    char chain[1024];

    if (mtatls_params_new(&p) != MTATLS_RESULT_OK)
        return NULL;
    mtatls_params_set_log_callback(p, quiet, NULL);
    mtatls_params_set(p, "smtpd_tls_security_level", "may");
    mtatls_params_set(p, "smtpd_tls_chain_files", key_path("ecdsa.pem", chain, sizeof(chain)));
    mtatls_params_set(p, "smtp_tls_security_level", "may");
    /* The context's own CA file trusts neither server certificate. */
    mtatls_params_set(p, "smtp_tls_CAfile", key_path("client.crt", chain, sizeof(chain)));
    if (mtatls_ctx_new(p, role, &ctx) != MTATLS_RESULT_OK)
        printf("ctx %s: %s\n", role, mtatls_params_error(p));
    mtatls_params_free(p);
    return ctx;
}

int main(int argc, char **argv)
{
    pthread_t tids[NPOLICIES];
    size_t i;

    if (argc < 2) {
        fprintf(stderr, "usage: %s KEYDIR [ROUNDS]\n", argv[0]);
        return 2;
    }
    keydir = argv[1];
    if (argc > 2)
        rounds_each = atoi(argv[2]);
    server_ctx = make_ctx("smtpd");
    client_ctx = make_ctx("smtp");
    if (!server_ctx || !client_ctx)
        return 1;
    for (i = 0; i < NPOLICIES; i++)
        if (pthread_create(&tids[i], NULL, worker, (void *) &policies[i]) != 0)
            return 1;
    for (i = 0; i < NPOLICIES; i++)
        pthread_join(tids[i], NULL);
    /* A setting after the handshake changed nothing and says so. */
    mtatls_ctx_free(server_ctx);
    mtatls_ctx_free(client_ctx);
    printf("policies: %d policies x %d rounds, %d failed checks\n", (int) NPOLICIES, rounds_each,
           harness_failures);
    return harness_failures == 0 ? 0 : 1;
}
