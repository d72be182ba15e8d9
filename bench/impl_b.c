/*
 * impl_b.c - B: libssl called directly, configured the way mtatls
 * configures OpenSSL for the same Postfix parameters (src/context.rs):
 *
 *   security level 0; OpenSSL's default options kept, plus SSL_OP_ALL |
 *   SSL_OP_NO_RENEGOTIATION; mode RELEASE_BUFFERS | ACCEPT_MOVING_WRITE_BUFFER;
 *   protocols TLSv1..TLSv1.3 (client <= TLSv1.2 where the case says so);
 *   the Postfix 3.8 medium cipher list (client: plus ":!EXCL");
 *   the case's group list; server: DH auto or the DH file, cert + chain
 *   with SSL_CTX_use_cert_and_key, session id context "smtpd", session
 *   timeout 2 x 3600 s, session tickets through a ticket-key callback with
 *   tls_session_ticket_cipher (aes-256-cbc) and HMAC-SHA256 as Postfix
 *   does; verify depth 10, verify mode NONE; client: the CAfile, the chain
 *   result read with SSL_get_verify_result; with resumption, a session
 *   cache as Postfix's client keeps it (DER sessions under "serverid&digest
 *   of the settings", looked up and d2i'd per connection, saved from the
 *   new-session callback); B' (cfg->b_objects): the same cache holding the
 *   SSL_SESSION object (the new-session callback's reference) and offering
 *   each connection an SSL_SESSION_dup copy of it (no decoding).
 *
 * I/O as mtatls does it: the descriptor is made non-blocking for the life
 * of the session (flags restored afterwards); each call loops on the
 * OpenSSL operation, poll()ing for readiness within a deadline (timeout 0:
 * return want-read/want-write at once).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "bench.h"

/* Server: one ticket key (Postfix rotates it every cache timeout). */
struct ticket_key {
    unsigned char name[16], aes[32], hmac[32];
    time_t expires;
};

/* Client: a one-entry session store (the benchmark has one server): DER
 * (B) or the SSL_SESSION object (B'). */
struct bcache {
    pthread_mutex_t lock;
    char key[256];
    unsigned char *der;
    size_t len;
    int objects;
    SSL_SESSION *obj;
};

struct bctx {
    SSL_CTX *ctx;
    int server;
    char cipher_list[512];
    pthread_mutex_t tlock;
    struct ticket_key tkey;
    struct bcache *cache;
};

struct bsess {
    SSL *ssl;
    int fd;
    int saved_flags;
    struct bctx *ctx;
    char key[256];
    char error[256];
};

const char *b_openssl_version(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}

int b_groups_supported(const char *groups)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    int ok = ctx && SSL_CTX_set1_groups_list(ctx, groups) == 1;
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

/* Key, leaf and chain from a Postfix chain file; 0 on success. */
static int use_chain_file(SSL_CTX *ctx, const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    EVP_PKEY *key = NULL;
    X509 *leaf = NULL, *x;
    STACK_OF(X509) *chain = sk_X509_new_null();
    int ok = 0;

    if (bio && chain && (key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) != NULL
        && (leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
            sk_X509_push(chain, x);
        ERR_clear_error(); /* the end of the file */
        ok = SSL_CTX_use_cert_and_key(ctx, leaf, key, chain, 0) == 1;
    }
    X509_free(leaf);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
    BIO_free(bio);
    return ok ? 0 : -1;
}

/* Postfix's ticket callback: tls_session_ticket_cipher and HMAC-SHA256
 * with the context's current key (made now, renewed once expired). */
static int b_ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *cctx,
                       EVP_MAC_CTX *hctx, int enc)
{
    struct bctx *c = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    const EVP_CIPHER *cipher = EVP_get_cipherbyname("aes-256-cbc");
    struct ticket_key key;
    time_t now = time(NULL);
    OSSL_PARAM params[3];

    if (!cipher)
        return -1;
    pthread_mutex_lock(&c->tlock);
    if (enc && c->tkey.expires <= now) {
        if (RAND_bytes((unsigned char *) &c->tkey, 80) != 1) {
            pthread_mutex_unlock(&c->tlock);
            return -1;
        }
        c->tkey.expires = now + 3600;
    }
    key = c->tkey;
    pthread_mutex_unlock(&c->tlock);
    if (enc) {
        memcpy(name, key.name, 16);
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(cipher)) != 1
            || EVP_EncryptInit_ex(cctx, cipher, NULL, key.aes, iv) != 1)
            return -1;
    } else {
        if (memcmp(name, key.name, 16) != 0 || key.expires + 3600 <= now)
            return 0;
        if (EVP_DecryptInit_ex(cctx, cipher, NULL, key.aes, iv) != 1)
            return -1;
    }
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac, sizeof(key.hmac));
    params[2] = OSSL_PARAM_construct_end();
    return EVP_MAC_CTX_set_params(hctx, params) == 1 ? 1 : -1;
}

/* Client cache: keep a new resumable session, DER-encoded. */
static int b_new_session(SSL *ssl, SSL_SESSION *session)
{
    struct bsess *s = SSL_get_app_data(ssl);
    struct bcache *cache = s ? s->ctx->cache : NULL;
    unsigned char *der = NULL, *p;
    int len;

    if (!cache || !s->key[0] || SSL_SESSION_is_resumable(session) != 1)
        return 0;
    if (cache->objects) { /* B': keep the object (this reference) */
        SSL_SESSION *old;
        pthread_mutex_lock(&cache->lock);
        old = cache->obj;
        cache->obj = session;
        snprintf(cache->key, sizeof(cache->key), "%s", s->key);
        pthread_mutex_unlock(&cache->lock);
        SSL_SESSION_free(old);
        return 1; /* the session is kept */
    }
    if ((len = i2d_SSL_SESSION(session, NULL)) <= 0 || !(der = malloc((size_t) len)))
        return 0;
    p = der;
    i2d_SSL_SESSION(session, &p);
    pthread_mutex_lock(&cache->lock);
    free(cache->der);
    cache->der = der;
    cache->len = (size_t) len;
    snprintf(cache->key, sizeof(cache->key), "%s", s->key);
    pthread_mutex_unlock(&cache->lock);
    return 0; /* the session is not kept */
}

static SSL_CTX *b_ssl_ctx(const struct bcfg *cfg, int server)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    char list[512];

    if (!ctx)
        die("B: SSL_CTX_new failed");
    SSL_CTX_set_security_level(ctx, 0);
    /* OpenSSL's defaults (no compression, middlebox compatibility) stay. */
    SSL_CTX_set_options(ctx, SSL_OP_ALL | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, (cfg->no_release_buffers ? 0 : SSL_MODE_RELEASE_BUFFERS)
                              | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION)
        || !SSL_CTX_set_max_proto_version(ctx, !server && cfg->client_max_tls12 ? TLS1_2_VERSION : TLS1_3_VERSION))
        die("B: cannot set protocol versions");
    snprintf(list, sizeof(list), "%s%s", MEDIUM_CIPHERS, !server && cfg->b_exclude ? cfg->b_exclude : "");
    if (!SSL_CTX_set_cipher_list(ctx, list))
        die("B: cannot set cipher list %s", list);
    if (!SSL_CTX_set1_groups_list(ctx, cfg->groups ? cfg->groups : DEFAULT_GROUPS))
        die("B: cannot set groups %s", cfg->groups ? cfg->groups : DEFAULT_GROUPS);
    if (server) {
        char files[512], *save = NULL, *f;

        if (cfg->server_dh) {
            char *path = key_path(cfg->keydir, cfg->server_dh);
            BIO *bio = BIO_new_file(path, "r");
            EVP_PKEY *dh = bio ? PEM_read_bio_Parameters(bio, NULL) : NULL;
            if (!dh || SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1)
                die("B: cannot use DH parameters %s", path);
            BIO_free(bio);
            free(path);
        } else {
            SSL_CTX_set_dh_auto(ctx, 1);
        }
        snprintf(files, sizeof(files), "%s", cfg->server_chain);
        for (f = strtok_r(files, ", ", &save); f; f = strtok_r(NULL, ", ", &save)) {
            char *path = key_path(cfg->keydir, f);
            if (use_chain_file(ctx, path) != 0)
                die("B: cannot load chain file %s", path);
            free(path);
        }
        SSL_CTX_set_verify_depth(ctx, 10);
        SSL_CTX_set_session_id_context(ctx, (const unsigned char *) "smtpd", 5);
        SSL_CTX_set_timeout(ctx, 7200);
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, b_ticket_cb);
        /* One TLS 1.3 ticket per full handshake, as Postfix's smtpd. */
        SSL_CTX_set_num_tickets(ctx, 1);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        char *ca = key_path(cfg->keydir, "root.pem");
        if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
            die("B: cannot load CAfile %s", ca);
        free(ca);
        SSL_CTX_set_verify_depth(ctx, 10);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        if (cfg->resume) {
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
            SSL_CTX_sess_set_new_cb(ctx, b_new_session);
        } else {
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        }
    }
    return ctx;
}

static void *b_ctx_new(const struct bcfg *cfg, int server)
{
    struct bctx *c = calloc(1, sizeof(*c));
    if (!c)
        die("out of memory");
    c->ctx = b_ssl_ctx(cfg, server);
    c->server = server;
    pthread_mutex_init(&c->tlock, NULL);
    SSL_CTX_set_app_data(c->ctx, c);
    snprintf(c->cipher_list, sizeof(c->cipher_list), "%s%s", MEDIUM_CIPHERS,
             !server && cfg->b_exclude ? cfg->b_exclude : "");
    if (!server && cfg->resume) {
        if (!(c->cache = calloc(1, sizeof(*c->cache))))
            die("out of memory");
        pthread_mutex_init(&c->cache->lock, NULL);
        c->cache->objects = cfg->b_objects;
    }
    return c;
}

static void b_ctx_free(void *p)
{
    struct bctx *c = p;
    if (!c)
        return;
    SSL_CTX_free(c->ctx);
    if (c->cache) {
        free(c->cache->der);
        SSL_SESSION_free(c->cache->obj);
        free(c->cache);
    }
    free(c);
}

/* Client cache: the key of a session, as Postfix's serverid digest: the
 * server id and a SHA-256 of the settings a reused session must share. */
static void b_cache_key(struct bsess *s, const char *serverid)
{
    unsigned char md[32];
    char text[1024];
    size_t n = (size_t) snprintf(text, sizeof(text), "%s%c%s%cmay", OpenSSL_version(OPENSSL_VERSION), 0,
                                 s->ctx->cipher_list, 0);
    size_t o = (size_t) snprintf(s->key, sizeof(s->key), "%s&", serverid);

    SHA256((unsigned char *) text, n, md);
    for (int i = 0; i < 32 && o + 2 < sizeof(s->key); i++, o += 2) {
        s->key[o] = "0123456789ABCDEF"[md[i] >> 4];
        s->key[o + 1] = "0123456789ABCDEF"[md[i] & 15];
    }
    s->key[o] = 0;
}

/* Client cache: offer the stored session for this key, if any. */
static void b_cache_load(struct bsess *s)
{
    struct bcache *cache = s->ctx->cache;
    SSL_SESSION *session = NULL;

    pthread_mutex_lock(&cache->lock);
    if (cache->obj && strcmp(cache->key, s->key) == 0) {
        /* B': a copy per connection. A TLS 1.3 client with a client cache
         * mode removes the session it resumed from the cache at the end
         * of the handshake (tickets are meant for one use), which marks
         * that object not resumable: a shared object would resume once. */
        session = SSL_SESSION_dup(cache->obj);
    } else if (cache->der && strcmp(cache->key, s->key) == 0) {
        const unsigned char *p = cache->der;
        session = d2i_SSL_SESSION(NULL, &p, (long) cache->len);
    }
    pthread_mutex_unlock(&cache->lock);
    if (session) {
        SSL_set_session(s->ssl, session);
        SSL_SESSION_free(session);
    }
}

static void *b_sess_new(void *ctx, int fd, int server)
{
    struct bctx *c = ctx;
    struct bsess *s = malloc(sizeof(*s));
    int flags = fcntl(fd, F_GETFL);

    if (!s || flags < 0)
        return NULL;
    s->ssl = SSL_new(c->ctx);
    if (!s->ssl) {
        free(s);
        return NULL;
    }
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    s->fd = fd;
    s->saved_flags = flags;
    s->ctx = c;
    s->error[0] = 0;
    s->key[0] = 0;
    SSL_set_app_data(s->ssl, s);
    if (SSL_set_fd(s->ssl, fd) != 1) {
        SSL_free(s->ssl);
        free(s);
        return NULL;
    }
    if (server) {
        SSL_set_accept_state(s->ssl);
    } else {
        if (c->cache) {
            b_cache_key(s, "[server.test]:25");
            b_cache_load(s);
        }
        SSL_set_connect_state(s->ssl);
    }
    return s;
}

static void b_sess_free(void *p)
{
    struct bsess *s = p;
    if (!s)
        return;
    SSL_free(s->ssl);
    if (s->saved_flags >= 0)
        fcntl(s->fd, F_SETFL, s->saved_flags);
    ERR_clear_error();
    free(s);
}

enum { OP_HANDSHAKE, OP_READ, OP_WRITE, OP_SHUTDOWN };

static long ms_left(const struct timespec *end)
{
    struct timespec now;
    long ms;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (end->tv_sec - now.tv_sec) * 1000 + (end->tv_nsec - now.tv_nsec) / 1000000;
    return ms;
}

/* Run one OpenSSL operation to completion within the deadline. */
static int b_drive(struct bsess *s, int op, void *buf, size_t len, size_t *n, int timeout)
{
    struct timespec end;

    if (timeout > 0) {
        clock_gettime(CLOCK_MONOTONIC, &end);
        end.tv_sec += timeout;
    }
    for (;;) {
        int r, e;
        errno = 0;
        switch (op) {
        case OP_HANDSHAKE:
            r = SSL_do_handshake(s->ssl);
            break;
        case OP_READ:
            r = SSL_read_ex(s->ssl, buf, len, n);
            break;
        case OP_WRITE:
            r = SSL_write_ex(s->ssl, buf, len, n);
            break;
        default:
            r = SSL_shutdown(s->ssl);
            if (r == 0) /* close_notify sent: a fast shutdown is done */
                r = 1;
            break;
        }
        if (r > 0)
            return RC_OK;
        e = SSL_get_error(s->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            struct pollfd pfd;
            long ms;

            if (timeout == 0)
                return e == SSL_ERROR_WANT_READ ? RC_WANT_READ : RC_WANT_WRITE;
            pfd.fd = s->fd;
            pfd.events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
            for (;;) {
                int pr;
                ms = ms_left(&end);
                if (ms <= 0) {
                    snprintf(s->error, sizeof(s->error), "timeout");
                    return RC_ERR;
                }
                pr = poll(&pfd, 1, (int) ms);
                if (pr > 0)
                    break;
                if (pr < 0 && errno != EINTR) {
                    snprintf(s->error, sizeof(s->error), "poll: %s", strerror(errno));
                    return RC_ERR;
                }
            }
            continue;
        }
        if (op == OP_READ && e == SSL_ERROR_ZERO_RETURN) {
            *n = 0;
            return RC_OK;
        }
        if (op == OP_SHUTDOWN) {
            ERR_clear_error();
            return RC_OK; /* a peer that is gone does not make stop fail */
        }
        snprintf(s->error, sizeof(s->error), "SSL error %d errno %d: %s", e, errno,
                 ERR_reason_error_string(ERR_peek_error()) ? ERR_reason_error_string(ERR_peek_error()) : "-");
        ERR_clear_error();
        return RC_ERR;
    }
}

static int b_handshake(void *p, int timeout)
{
    struct bsess *s = p;
    int r = b_drive(s, OP_HANDSHAKE, NULL, 0, NULL, timeout);

    /* The client reads the chain verification result as mtatls does; a
     * careful caller refuses a bad chain where its policy asks for one,
     * here it only has to be available (level may). */
    if (r == RC_OK && !s->ctx->server) {
        volatile long v = SSL_get_verify_result(s->ssl);
        (void) v;
    }
    return r;
}

static int b_read(void *p, void *buf, size_t len, int timeout, size_t *got)
{
    *got = 0;
    return b_drive(p, OP_READ, buf, len, got, timeout);
}

static int b_write(void *p, const void *buf, size_t len, int timeout)
{
    size_t n = 0;
    return b_drive(p, OP_WRITE, (void *) buf, len, &n, timeout);
}

static int b_stop(void *p, int timeout)
{
    struct bsess *s = p;
    int r = b_drive(s, OP_SHUTDOWN, NULL, 0, NULL, timeout);
    if (r == RC_OK && s->saved_flags >= 0) {
        fcntl(s->fd, F_SETFL, s->saved_flags);
        s->saved_flags = -1;
    }
    return r;
}

static void b_describe(void *p, char *buf, size_t len)
{
    struct bsess *s = p;
    SSL *ssl = s->ssl;
    EVP_PKEY *tmp = NULL;
    char kex[64] = "-";
    const char *sig = "-", *dgst = "-";
    int nid = 0;
    X509 *peer = SSL_get0_peer_certificate(ssl);

    if (SSL_get_peer_tmp_key(ssl, &tmp) > 0 && tmp) {
        switch (EVP_PKEY_get_base_id(tmp)) {
        case EVP_PKEY_X25519:
            snprintf(kex, sizeof(kex), "X25519");
            break;
        case EVP_PKEY_X448:
            snprintf(kex, sizeof(kex), "X448");
            break;
        case EVP_PKEY_EC: {
            char g[64];
            size_t gl = 0;
            if (EVP_PKEY_get_group_name(tmp, g, sizeof(g), &gl) == 1)
                snprintf(kex, sizeof(kex), "%s", g);
            break;
        }
        case EVP_PKEY_DH:
        case EVP_PKEY_DHX:
            snprintf(kex, sizeof(kex), "DH%d", EVP_PKEY_get_bits(tmp));
            break;
        default:
            break;
        }
        EVP_PKEY_free(tmp);
    } else if (SSL_version(ssl) == TLS1_3_VERSION) {
        /* A KEM group (X25519MLKEM768): the client gets no key of the
         * server's, only a ciphertext; name the negotiated group. */
        int group = SSL_get_negotiated_group(ssl);
        const char *name = group ? SSL_group_to_name(ssl, group) : NULL;
        if (name)
            snprintf(kex, sizeof(kex), "%s", name);
    }
    if (SSL_get_peer_signature_type_nid(ssl, &nid) == 1) {
        switch (nid) {
        case EVP_PKEY_RSA_PSS:
            sig = "RSA-PSS";
            break;
        case EVP_PKEY_RSA:
            sig = "RSA";
            break;
        case EVP_PKEY_EC:
            sig = "ECDSA";
            break;
        case EVP_PKEY_ED25519:
            sig = "ED25519";
            break;
        default:
            sig = OBJ_nid2sn(nid);
        }
    } else if (SSL_session_reused(ssl)) {
        sig = "(resumed)";
    }
    if (SSL_get_peer_signature_nid(ssl, &nid) == 1 && nid != NID_undef)
        dgst = OBJ_nid2sn(nid);
    snprintf(buf, len, "%s %s %s %s %s %s %s", SSL_get_version(ssl), SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)),
             kex, sig, dgst,
             peer && SSL_get_verify_result(ssl) == X509_V_OK ? "trusted" : "untrusted",
             SSL_session_reused(ssl) ? "reused" : "new");
}

static const char *b_error(void *p)
{
    return p ? ((struct bsess *) p)->error : "";
}

const struct bimpl impl_b = {
    "B", b_ctx_new, b_ctx_free, b_sess_new, b_handshake, b_read, b_write, b_stop, b_sess_free, b_describe, b_error,
};

/* Context init as a C program would do what main.cf says: server with the
 * RSA and ECDSA chain files and the CAfile; client with the CAfile. */
int b_init_like_main_cf(const char *keydir, int server)
{
    struct bcfg cfg;
    SSL_CTX *ctx;

    memset(&cfg, 0, sizeof(cfg));
    cfg.keydir = keydir;
    cfg.server_chain = "rsa.pem, ecdsa.pem";
    ctx = b_ssl_ctx(&cfg, server);
    if (server) {
        char *ca = key_path(keydir, "root.pem");
        if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
            die("B: cannot load CAfile %s", ca);
        free(ca);
    }
    SSL_CTX_free(ctx);
    return 0;
}

/* Floor: one connection of raw OpenSSL on an in-memory BIO pair, one
 * thread driving both ends, with B's contexts (same keys, groups, cipher
 * list, CAfile): handshake, one command and reply, close_notify both
 * ways, free. No socket, no poll, no descriptor flags. 0 on success. */
int b_floor_conn(void *sctx, void *cctx)
{
    static const char cmd[] = "QUIT\r\n", reply[] = "221 2.0.0 Bye\r\n";
    struct bctx *sc = sctx, *cc = cctx;
    SSL *s = SSL_new(sc->ctx), *c = SSL_new(cc->ctx);
    BIO *sb = NULL, *cb = NULL;
    char buf[256];
    int ok = -1, sd = 0, cd = 0;

    if (!s || !c || BIO_new_bio_pair(&sb, 0, &cb, 0) != 1)
        goto out;
    SSL_set_bio(s, sb, sb);
    SSL_set_bio(c, cb, cb);
    SSL_set_accept_state(s);
    SSL_set_connect_state(c);
    for (int i = 0; i < 50 && !(sd && cd); i++) {
        int r;
        if (!cd) {
            r = SSL_do_handshake(c);
            if (r == 1)
                cd = 1;
            else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
                goto out;
        }
        if (!sd) {
            r = SSL_do_handshake(s);
            if (r == 1)
                sd = 1;
            else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
                goto out;
        }
    }
    if (!(sd && cd) || SSL_get_verify_result(c) != X509_V_OK)
        goto out;
    if (SSL_write(c, cmd, sizeof(cmd) - 1) != (int) sizeof(cmd) - 1 || SSL_read(s, buf, sizeof(buf)) <= 0
        || SSL_write(s, reply, sizeof(reply) - 1) != (int) sizeof(reply) - 1 || SSL_read(c, buf, sizeof(buf)) <= 0)
        goto out;
    SSL_shutdown(c);
    SSL_shutdown(s);
    SSL_shutdown(c);
    ok = 0;
out:
    SSL_free(s);
    SSL_free(c);
    return ok;
}
