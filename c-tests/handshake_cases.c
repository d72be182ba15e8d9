/*
 * handshake_cases.c - client and server in one process over a
 * socketpair(), plain SMTP up to STARTTLS, then the TLS handshake through
 * the mtatls C API. Each case asserts the exact Postfix summary lines,
 * the Received: comment, both sides' session facts, and for failures the
 * Postfix error lines with the OpenSSL reason.
 *
 * usage: handshake_cases KEYDIR [CASE-NAME]   (KEYDIR from make-keys.sh)
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>

#include "harness.h"

#define SERVER_LABEL "localhost[127.0.0.1]"
#define CLIENT_LABEL "localhost[127.0.0.1]:25"
#define T13_AES256 "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
#define RSA_SIG " server-signature RSA-PSS (2048 bits) server-digest SHA256"
#define ECDSA_SIG " server-signature ECDSA (prime256v1) server-digest SHA256"
#define NO_CCERT "\t(No client certificate requested)"

struct expected_facts {
    const char *protocol;
    const char *cipher;
    const char *kex_name;
    const char *kex_curve;
    int kex_bits;
    const char *srvr_sig_name;
    const char *srvr_sig_curve;
    int srvr_sig_bits;
    const char *srvr_sig_dgst;
    int forward_secret;
    const char *server_cert; /* key file stem whose fingerprints the client must see */
};

struct tcase {
    const char *name;
    const char *server[HARNESS_MAX_PARAMS];
    const char *client[HARNESS_MAX_PARAMS];
    int ok; /* handshake expected to succeed */
    const char *server_summary;
    const char *client_summary;
    const char *received;
    struct expected_facts facts;
    /* Failure cases: log lines and error text each side must show. */
    const char *server_log_line;
    const char *server_log_line2;
    const char *server_error;
    const char *client_log_line;
    const char *client_error;
    /* Client verification cases (optional): level, match list, expected
     * handshake result and status bits. */
    const char *client_level;
    const char *client_match;
    long client_result;
    unsigned client_status;
};

#define VERIFIED_STATUS (MTATLS_CERT_PRESENT | MTATLS_CERT_TRUSTED | MTATLS_CERT_MATCHED | MTATLS_CERT_SECURED)
#define NO_CLIENT_CHECK NULL, NULL, MTATLS_RESULT_OK, 0
#define SRV_BASE "smtpd_tls_security_level=may", "smtpd_tls_loglevel=1", "smtpd_tls_received_header=yes"
#define CLI_BASE "smtp_tls_security_level=may", "smtp_tls_loglevel=1"

static const struct tcase cases[] = {
    {"tls13-x25519-rsa",
     {SRV_BASE, "smtpd_tls_chain_files=DIR/rsa.pem"},
     {CLI_BASE},
     1,
     "Anonymous TLS connection established from " SERVER_LABEL ": " T13_AES256 " key-exchange X25519" RSA_SIG,
     "Untrusted TLS connection established to " CLIENT_LABEL ": " T13_AES256 " key-exchange X25519" RSA_SIG,
     "\t(using " T13_AES256 "\n\t key-exchange X25519" RSA_SIG ")\n" NO_CCERT,
     {"TLSv1.3", "TLS_AES_256_GCM_SHA384", "X25519", "", 0, "RSA-PSS", "", 2048, "SHA256", 1, "rsa"},
     NULL, NULL, NULL, NULL, NULL, NO_CLIENT_CHECK},
    {"tls13-p256-rsa",
     {SRV_BASE, "smtpd_tls_chain_files=DIR/rsa.pem"},
     {CLI_BASE, "tls_eecdh_auto_curves=P-256"},
     1,
     "Anonymous TLS connection established from " SERVER_LABEL ": " T13_AES256 " key-exchange ECDHE (prime256v1)" RSA_SIG,
     "Untrusted TLS connection established to " CLIENT_LABEL ": " T13_AES256 " key-exchange ECDHE (prime256v1)" RSA_SIG,
     "\t(using " T13_AES256 "\n\t key-exchange ECDHE (prime256v1)" RSA_SIG ")\n" NO_CCERT,
     {"TLSv1.3", "TLS_AES_256_GCM_SHA384", "ECDHE", "prime256v1", 0, "RSA-PSS", "", 2048, "SHA256", 1, "rsa"},
     NULL, NULL, NULL, NULL, NULL, NO_CLIENT_CHECK},
    {"tls13-x448-rsa",
     {SRV_BASE, "smtpd_tls_chain_files=DIR/rsa.pem"},
     {CLI_BASE, "tls_eecdh_auto_curves=X448", "tls_ffdhe_auto_groups="},
     1,
     "Anonymous TLS connection established from " SERVER_LABEL ": " T13_AES256 " key-exchange X448" RSA_SIG,
     "Untrusted TLS connection established to " CLIENT_LABEL ": " T13_AES256 " key-exchange X448" RSA_SIG,
     "\t(using " T13_AES256 "\n\t key-exchange X448" RSA_SIG ")\n" NO_CCERT,
     {"TLSv1.3", "TLS_AES_256_GCM_SHA384", "X448", "", 0, "RSA-PSS", "", 2048, "SHA256", 1, "rsa"},
     NULL, NULL, NULL, NULL, NULL, NO_CLIENT_CHECK},
    {"tls13-ffdhe2048-rsa",
     {SRV_BASE, "smtpd_tls_chain_files=DIR/rsa.pem"},
     {CLI_BASE, "tls_eecdh_auto_curves=", "tls_ffdhe_auto_groups=ffdhe2048"},
     1,
     "Anonymous TLS connection established from " SERVER_LABEL ": " T13_AES256 " key-exchange DHE (2048 bits)" RSA_SIG,
     "Untrusted TLS connection established to " CLIENT_LABEL ": " T13_AES256 " key-exchange DHE (2048 bits)" RSA_SIG,
     "\t(using " T13_AES256 "\n\t key-exchange DHE (2048 bits)" RSA_SIG ")\n" NO_CCERT,
     {"TLSv1.3", "TLS_AES_256_GCM_SHA384", "DHE", "", 2048, "RSA-PSS", "", 2048, "SHA256", 1, "rsa"},
     NULL, NULL, NULL, NULL, NULL, NO_CLIENT_CHECK},
    {"tls13-ecdsa",
     {SRV_BASE, "smtpd_tls_chain_files=DIR/ecdsa.pem"},
     {CLI_BASE},
     1,
     "Anonymous TLS connection established from " SERVER_LABEL ": " T13_AES256 " key-exchange X25519" ECDSA_SIG,
     "Untrusted TLS connection established to " CLIENT_LABEL ": " T13_AES256 " key-exchange X25519" ECDSA_SIG,
     "\t(using " T13_AES256 "\n\t key-exchange X25519" ECDSA_SIG ")\n" NO_CCERT,
     {"TLSv1.3", "TLS_AES_256_GCM_SHA384", "X25519", "", 0, "ECDSA", "prime256v1", 256, "SHA256", 1, "ecdsa"},
     NULL, NULL, NULL, NULL, NULL, NO_CLIENT_CHECK},
    {"tls13-ed25519",
     {SRV_BASE, "smtpd_tls_chain_files=DIR/ed25519.pem"},
     {CLI_BASE},
     1,
     "Anonymous TLS connection established from " SERVER_LABEL ": " T13_AES256 " key-exchange X25519 server-signature ED25519",
     "Untrusted TLS connection established to " CLIENT_LABEL ": " T13_AES256 " key-exchange X25519 server-signature ED25519",
     "\t(using " T13_AES256 "\n\t key-exchange X25519 server-signature ED25519)\n" NO_CCERT,
     {"TLSv1.3", "TLS_AES_256_GCM_SHA384", "X25519", "", 0, "ED25519", "", 0, "", 1, "ed25519"},
     NULL, NULL, NULL, NULL, NULL, NO_CLIENT_CHECK},
    {"tls13-rsa-and-ecdsa",
     {SRV_BASE, "smtpd_tls_chain_files=DIR/rsa.pem, DIR/ecdsa.pem"},
     {CLI_BASE},
     1,
     "Anonymous TLS connection established from " SERVER_LABEL ": " T13_AES256 " key-exchange X25519" ECDSA_SIG,
     "Untrusted TLS connection established to " CLIENT_LABEL ": " T13_AES256 " key-exchange X25519" ECDSA_SIG,
     "\t(using " T13_AES256 "\n\t key-exchange X25519" ECDSA_SIG ")\n" NO_CCERT,
     {"TLSv1.3", "TLS_AES_256_GCM_SHA384", "X25519", "", 0, "ECDSA", "prime256v1", 256, "SHA256", 1, "ecdsa"},
     NULL, NULL, NULL, NULL, NULL, NO_CLIENT_CHECK},
    {"tls13-rsa-ecdsa-ed25519",
     {SRV_BASE, "smtpd_tls_chain_files=DIR/rsa.pem DIR/ecdsa.pem DIR/ed25519.pem"},
     {CLI_BASE},
     1,
     "Anonymous TLS connection established from " SERVER_LABEL ": " T13_AES256 " key-exchange X25519" ECDSA_SIG,
     "Untrusted TLS connection established to " CLIENT_LABEL ": " T13_AES256 " key-exchange X25519" ECDSA_SIG,
     "\t(using " T13_AES256 "\n\t key-exchange X25519" ECDSA_SIG ")\n" NO_CCERT,
     {"TLSv1.3", "TLS_AES_256_GCM_SHA384", "X25519", "", 0, "ECDSA", "prime256v1", 256, "SHA256", 1, "ecdsa"},
     NULL, NULL, NULL, NULL, NULL, NO_CLIENT_CHECK},
    {"tls13-legacy-cert-key-files",
     {SRV_BASE, "smtpd_tls_cert_file=DIR/rsa.crt", "smtpd_tls_key_file=DIR/rsa.key",
      "smtpd_tls_eccert_file=DIR/ecdsa.pem"},
     {CLI_BASE},
     1,
     "Anonymous TLS connection established from " SERVER_LABEL ": " T13_AES256 " key-exchange X25519" ECDSA_SIG,
     "Untrusted TLS connection established to " CLIENT_LABEL ": " T13_AES256 " key-exchange X25519" ECDSA_SIG,
     "\t(using " T13_AES256 "\n\t key-exchange X25519" ECDSA_SIG ")\n" NO_CCERT,
     {"TLSv1.3", "TLS_AES_256_GCM_SHA384", "X25519", "", 0, "ECDSA", "prime256v1", 256, "SHA256", 1, "ecdsa"},
     NULL, NULL, NULL, NULL, NULL, NO_CLIENT_CHECK},
    {"tls13-client-certificate",
     {SRV_BASE, "smtpd_tls_chain_files=DIR/rsa.pem", "smtpd_tls_ask_ccert=yes", "smtpd_tls_CAfile=DIR/client.crt"},
     {CLI_BASE, "smtp_tls_chain_files=DIR/client.pem"},
     1,
     "Trusted TLS connection established from " SERVER_LABEL ": " T13_AES256 " key-exchange X25519" RSA_SIG
     " client-signature RSA-PSS (2048 bits) client-digest SHA256",
     "Untrusted TLS connection established to " CLIENT_LABEL ": " T13_AES256 " key-exchange X25519" RSA_SIG
     " client-signature RSA-PSS (2048 bits) client-digest SHA256",
     "\t(using " T13_AES256 "\n\t key-exchange X25519" RSA_SIG
     "\n\t client-signature RSA-PSS (2048 bits) client-digest SHA256)\n"
     "\t(Client CN \"client.test\", Issuer \"client.test\" (verified OK))",
     {"TLSv1.3", "TLS_AES_256_GCM_SHA384", "X25519", "", 0, "RSA-PSS", "", 2048, "SHA256", 1, "rsa"},
     NULL, NULL, NULL, NULL, NULL, NO_CLIENT_CHECK},
    {"tls13-client-certificate-asked-not-sent",
     {SRV_BASE, "smtpd_tls_chain_files=DIR/rsa.pem", "smtpd_tls_ask_ccert=yes", "smtpd_tls_CAfile=DIR/client.crt"},
     {CLI_BASE},
     1,
     "Anonymous TLS connection established from " SERVER_LABEL ": " T13_AES256 " key-exchange X25519" RSA_SIG,
     "Untrusted TLS connection established to " CLIENT_LABEL ": " T13_AES256 " key-exchange X25519" RSA_SIG,
     "\t(using " T13_AES256 "\n\t key-exchange X25519" RSA_SIG ")\n\t(Client did not present a certificate)",
     {"TLSv1.3", "TLS_AES_256_GCM_SHA384", "X25519", "", 0, "RSA-PSS", "", 2048, "SHA256", 1, "rsa"},
     NULL, NULL, NULL, NULL, NULL, NO_CLIENT_CHECK},
    {"tls12-ecdhe-rsa",
     {SRV_BASE, "smtpd_tls_chain_files=DIR/rsa.pem", "smtpd_tls_protocols=<=TLSv1.2"},
     {CLI_BASE, "smtp_tls_exclude_ciphers=aNULL"},
     1,
     "Anonymous TLS connection established from " SERVER_LABEL ": TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
     "Untrusted TLS connection established to " CLIENT_LABEL ": TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
     "\t(using TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits))\n" NO_CCERT,
     {"TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", "X25519", "", 0, "RSA-PSS", "", 2048, "SHA256", 1, "rsa"},
     NULL, NULL, NULL, NULL, NULL, NO_CLIENT_CHECK},
    {"tls12-dhe-rsa-dh-file",
     {SRV_BASE, "smtpd_tls_chain_files=DIR/rsa.pem", "smtpd_tls_protocols=>=TLSv1.2,<=TLSv1.2",
      "smtpd_tls_dh1024_param_file=DIR/dh3072.pem"},
     {CLI_BASE, "smtp_tls_exclude_ciphers=aNULL, kECDHE"},
     1,
     "Anonymous TLS connection established from " SERVER_LABEL ": TLSv1.2 with cipher DHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
     "Untrusted TLS connection established to " CLIENT_LABEL ": TLSv1.2 with cipher DHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
     "\t(using TLSv1.2 with cipher DHE-RSA-AES256-GCM-SHA384 (256/256 bits))\n" NO_CCERT,
     {"TLSv1.2", "DHE-RSA-AES256-GCM-SHA384", "DHE", "", 3072, "RSA-PSS", "", 2048, "SHA256", 1, "rsa"},
     NULL, NULL, NULL, NULL, NULL, NO_CLIENT_CHECK},
    {"tls12-anonymous-default-grade",
     {SRV_BASE, "smtpd_tls_chain_files=DIR/rsa.pem", "smtpd_tls_protocols=TLSv1.2"},
     {CLI_BASE},
     1,
     "Anonymous TLS connection established from " SERVER_LABEL ": TLSv1.2 with cipher ADH-AES256-GCM-SHA384 (256/256 bits)",
     "Anonymous TLS connection established to " CLIENT_LABEL ": TLSv1.2 with cipher ADH-AES256-GCM-SHA384 (256/256 bits)",
     "\t(using TLSv1.2 with cipher ADH-AES256-GCM-SHA384 (256/256 bits))\n" NO_CCERT,
     {"TLSv1.2", "ADH-AES256-GCM-SHA384", "DHE", "", 3072, "", "", 0, "", 1, NULL},
     NULL, NULL, NULL, NULL, NULL, NO_CLIENT_CHECK},
    {"tls13-secure-verified",
     {SRV_BASE, "smtpd_tls_chain_files=DIR/rsa.pem"},
     {CLI_BASE, "smtp_tls_CAfile=DIR/rsa.crt"},
     1,
     "Anonymous TLS connection established from " SERVER_LABEL ": " T13_AES256 " key-exchange X25519" RSA_SIG,
     "Verified TLS connection established to " CLIENT_LABEL ": " T13_AES256 " key-exchange X25519" RSA_SIG,
     "\t(using " T13_AES256 "\n\t key-exchange X25519" RSA_SIG ")\n" NO_CCERT,
     {"TLSv1.3", "TLS_AES_256_GCM_SHA384", "X25519", "", 0, "RSA-PSS", "", 2048, "SHA256", 1, "rsa"},
     NULL, NULL, NULL, NULL, NULL, "secure", "server.test", MTATLS_RESULT_OK, VERIFIED_STATUS},
    {"tls13-secure-wrong-name",
     {SRV_BASE, "smtpd_tls_chain_files=DIR/rsa.pem"},
     {CLI_BASE, "smtp_tls_CAfile=DIR/rsa.crt"},
     1,
     "Anonymous TLS connection established from " SERVER_LABEL ": " T13_AES256 " key-exchange X25519" RSA_SIG,
     "Untrusted TLS connection established to " CLIENT_LABEL ": " T13_AES256 " key-exchange X25519" RSA_SIG,
     "\t(using " T13_AES256 "\n\t key-exchange X25519" RSA_SIG ")\n" NO_CCERT,
     {"TLSv1.3", "TLS_AES_256_GCM_SHA384", "X25519", "", 0, "RSA-PSS", "", 2048, "SHA256", 1, "rsa"},
     NULL, NULL, NULL,
     "server certificate verification failed for " CLIENT_LABEL ": num=62:hostname mismatch",
     "Server certificate not verified: server certificate verification failed for " CLIENT_LABEL
     ": num=62:hostname mismatch",
     "secure", "mx.other.test", MTATLS_RESULT_NOT_VERIFIED, MTATLS_CERT_PRESENT},
    {"tls13-fingerprint",
     {SRV_BASE, "smtpd_tls_chain_files=DIR/rsa.pem"},
     {CLI_BASE},
     1,
     "Anonymous TLS connection established from " SERVER_LABEL ": " T13_AES256 " key-exchange X25519" RSA_SIG,
     "Verified TLS connection established to " CLIENT_LABEL ": " T13_AES256 " key-exchange X25519" RSA_SIG,
     "\t(using " T13_AES256 "\n\t key-exchange X25519" RSA_SIG ")\n" NO_CCERT,
     {"TLSv1.3", "TLS_AES_256_GCM_SHA384", "X25519", "", 0, "RSA-PSS", "", 2048, "SHA256", 1, "rsa"},
     NULL, NULL, NULL, NULL, NULL, "fingerprint", "@rsa.spki-sha256", MTATLS_RESULT_OK, VERIFIED_STATUS},
    {"tls13-fingerprint-mismatch",
     {SRV_BASE, "smtpd_tls_chain_files=DIR/rsa.pem"},
     {CLI_BASE},
     1,
     "Anonymous TLS connection established from " SERVER_LABEL ": " T13_AES256 " key-exchange X25519" RSA_SIG,
     "Untrusted TLS connection established to " CLIENT_LABEL ": " T13_AES256 " key-exchange X25519" RSA_SIG,
     "\t(using " T13_AES256 "\n\t key-exchange X25519" RSA_SIG ")\n" NO_CCERT,
     {"TLSv1.3", "TLS_AES_256_GCM_SHA384", "X25519", "", 0, "RSA-PSS", "", 2048, "SHA256", 1, "rsa"},
     NULL, NULL, NULL,
     "server certificate verification failed for " CLIENT_LABEL ": num=65:no matching DANE TLSA records",
     "num=65:no matching DANE TLSA records",
     "fingerprint", "@ecdsa.sha256", MTATLS_RESULT_NOT_VERIFIED, MTATLS_CERT_PRESENT},
    {"no-shared-cipher",
     {SRV_BASE, "smtpd_tls_chain_files=DIR/rsa.pem", "smtpd_tls_protocols=<=TLSv1.2",
      "smtpd_tls_exclude_ciphers=AES256"},
     {CLI_BASE, "smtp_tls_exclude_ciphers=AES128, CHACHA20, CAMELLIA, ARIA"},
     0, NULL, NULL, NULL, {NULL, NULL, NULL, NULL, 0, NULL, NULL, 0, NULL, 0, NULL},
     "SSL_accept error from " SERVER_LABEL ": -1",
     "warning: TLS library problem: error:0A0000C1:SSL routines::no shared cipher:",
     "SSL_accept error from " SERVER_LABEL ": -1: error:0A0000C1:SSL routines::no shared cipher",
     "SSL_connect error to " CLIENT_LABEL ": -1",
     "sslv3 alert handshake failure", NO_CLIENT_CHECK},
    {"protocol-mismatch",
     {SRV_BASE, "smtpd_tls_chain_files=DIR/rsa.pem", "smtpd_tls_protocols=>=TLSv1.3"},
     {CLI_BASE, "smtp_tls_protocols=<=TLSv1.2"},
     0, NULL, NULL, NULL, {NULL, NULL, NULL, NULL, 0, NULL, NULL, 0, NULL, 0, NULL},
     "SSL_accept error from " SERVER_LABEL ": -1",
     "warning: TLS library problem: error:0A000102:SSL routines::unsupported protocol:",
     "unsupported protocol",
     "SSL_connect error to " CLIENT_LABEL ": -1",
     "tlsv1 alert protocol version", NO_CLIENT_CHECK},
};

/* Does some line of the log start with `prefix`? */
static void expect_line_prefix(const char *what, const struct harness_log *log, const char *prefix)
{
    const char *p = log->text;
    size_t n = strlen(prefix);

    for (;;) {
        if (strncmp(p, prefix, n) == 0)
            return;
        p = strchr(p, '\n');
        if (p == NULL)
            break;
        p++;
    }
    harness_failures++;
    printf("not ok: %s: no log line starting with\n  \"%s\"\n  log:\n%s\n", what, prefix, log->text);
}

static void check_facts(const char *side_name, const struct tcase *c, const struct harness_side *side,
                        const char *keydir, int am_client)
{
    const struct expected_facts *e = &c->facts;
    const mtatls_session_facts *f = &side->facts;
    char what[256];

#define CHK_S(field, want) \
    (snprintf(what, sizeof(what), "%s %s facts." #field, c->name, side_name), expect_str(what, f->field, want))
#define CHK_I(field, want) \
    (snprintf(what, sizeof(what), "%s %s facts." #field, c->name, side_name), expect_int(what, f->field, want))
    snprintf(what, sizeof(what), "%s %s has facts", c->name, side_name);
    expect_int(what, side->have_facts, 1);
    if (!side->have_facts)
        return;
    CHK_S(protocol, e->protocol);
    CHK_S(cipher_name, e->cipher);
    CHK_S(kex_curve, e->kex_curve);
    CHK_S(srvr_sig_name, e->srvr_sig_name);
    CHK_S(srvr_sig_curve, e->srvr_sig_curve);
    CHK_I(srvr_sig_bits, e->srvr_sig_bits);
    CHK_S(srvr_sig_dgst, e->srvr_sig_dgst);
    CHK_I(forward_secret, e->forward_secret);
    CHK_I(am_server, !am_client);
    CHK_I(cipher_usebits, 256);
    if (am_client) {
        /* The client sees the server's ephemeral key exactly. */
        CHK_S(kex_name, e->kex_name);
        CHK_I(kex_bits, e->kex_bits);
        CHK_S(peer_label, "localhost[127.0.0.1]:25");
        if (e->server_cert) {
            char name[64];
            unsigned status = c->client_status ? c->client_status : MTATLS_CERT_PRESENT;
            CHK_I(peer_status, (long) status);
            CHK_I(trust, status == VERIFIED_STATUS ? MTATLS_TRUST_VERIFIED : MTATLS_TRUST_UNTRUSTED);
            CHK_S(peer_cn, "server.test");
            CHK_S(issuer_cn, "server.test");
            snprintf(name, sizeof(name), "%s.sha256", e->server_cert);
            CHK_S(peer_cert_fprint, harness_read_file(keydir, name));
            snprintf(name, sizeof(name), "%s.spki-sha256", e->server_cert);
            CHK_S(peer_pkey_fprint, harness_read_file(keydir, name));
        } else {
            CHK_I(peer_status, 0);
            CHK_I(trust, MTATLS_TRUST_ANONYMOUS);
            CHK_S(peer_cert_fprint, "");
        }
    } else {
        /*
         * The server names the same key exchange: in TLS 1.3 from the
         * client's key share, in TLS 1.2 from the group it chose (the DH
         * group's size for DHE).
         */
        CHK_S(kex_name, e->kex_name);
        CHK_I(kex_bits, e->kex_bits);
    }
#undef CHK_S
#undef CHK_I
}

static void run_case(const char *keydir, const struct tcase *c)
{
    struct harness_side server, client;
    char what[1400];
    int before = harness_failures;
    size_t i;

    memset(&server, 0, sizeof(server));
    memset(&client, 0, sizeof(client));
    for (i = 0; i < HARNESS_MAX_PARAMS; i++) {
        server.params[i] = c->server[i];
        client.params[i] = c->client[i];
    }
    client.level = c->client_level;
    client.match = c->client_match;
    if (harness_run(keydir, &server, &client) != 0) {
        harness_failures++;
        printf("not ok: %s: harness failure\n", c->name);
        return;
    }
    snprintf(what, sizeof(what), "%s server context (%s)", c->name, server.error);
    expect_int(what, server.build_result, MTATLS_RESULT_OK);
    snprintf(what, sizeof(what), "%s client context (%s)", c->name, client.error);
    expect_int(what, client.build_result, MTATLS_RESULT_OK);
    if (c->ok) {
        snprintf(what, sizeof(what), "%s server handshake (%s)", c->name, server.error);
        expect_int(what, server.hs_result, MTATLS_RESULT_OK);
        snprintf(what, sizeof(what), "%s client handshake (%s)", c->name, client.error);
        expect_int(what, client.hs_result, c->client_result);
        if (c->client_log_line) {
            snprintf(what, sizeof(what), "%s client log", c->name);
            expect_line(what, &client.log, c->client_log_line);
            snprintf(what, sizeof(what), "%s client error", c->name);
            expect_contains(what, client.error, c->client_error);
        }
        snprintf(what, sizeof(what), "%s server summary", c->name);
        expect_str(what, server.summary, c->server_summary);
        expect_line(what, &server.log, c->server_summary);
        snprintf(what, sizeof(what), "%s client summary", c->name);
        expect_str(what, client.summary, c->client_summary);
        expect_line(what, &client.log, c->client_summary);
        snprintf(what, sizeof(what), "%s Received: comment", c->name);
        expect_str(what, server.received, c->received);
        snprintf(what, sizeof(what), "%s Received: comment (client: none)", c->name);
        expect_str(what, client.received, "");
        check_facts("server", c, &server, keydir, 0);
        check_facts("client", c, &client, keydir, 1);
        /* TLSRPT: nothing for a server; success, or (both unverified
         * cases: no trusted chain) certificate-not-trusted, no reason. */
        snprintf(what, sizeof(what), "%s TLSRPT result (server: none)", c->name);
        expect_int(what, server.tlsrpt_result, -1);
        snprintf(what, sizeof(what), "%s TLSRPT result (client)", c->name);
        expect_int(what, client.tlsrpt_result,
                   c->client_result == MTATLS_RESULT_OK ? MTATLS_TLSRPT_SUCCESS
                                                        : MTATLS_TLSRPT_CERTIFICATE_NOT_TRUSTED);
        snprintf(what, sizeof(what), "%s TLSRPT reason (client)", c->name);
        expect_str(what, client.tlsrpt_reason, "");
        snprintf(what, sizeof(what), "%s TLSRPT receiving MX (client)", c->name);
        expect_str(what, client.tlsrpt_mx, "localhost");
        snprintf(what, sizeof(what), "%s SMTP through TLS (server)", c->name);
        expect_int(what, server.data_ok, 1);
        snprintf(what, sizeof(what), "%s SMTP through TLS (client)", c->name);
        expect_int(what, client.data_ok, 1);
    } else {
        snprintf(what, sizeof(what), "%s server handshake fails", c->name);
        expect_int(what, server.hs_result, MTATLS_RESULT_HANDSHAKE);
        snprintf(what, sizeof(what), "%s client handshake fails", c->name);
        expect_int(what, client.hs_result, MTATLS_RESULT_HANDSHAKE);
        snprintf(what, sizeof(what), "%s TLSRPT of the failed handshake", c->name);
        expect_int(what, client.tlsrpt_result, MTATLS_TLSRPT_VALIDATION_FAILURE);
        expect_str(what, client.tlsrpt_reason, "tls-handshake-failure");
        expect_int(what, server.tlsrpt_result, -1);
        snprintf(what, sizeof(what), "%s server log", c->name);
        expect_line(what, &server.log, c->server_log_line);
        expect_line_prefix(what, &server.log, c->server_log_line2);
        snprintf(what, sizeof(what), "%s server error", c->name);
        expect_contains(what, server.error, c->server_error);
        snprintf(what, sizeof(what), "%s client log", c->name);
        expect_line(what, &client.log, c->client_log_line);
        snprintf(what, sizeof(what), "%s client error", c->name);
        expect_contains(what, client.error, c->client_error);
        snprintf(what, sizeof(what), "%s no summary", c->name);
        expect_str(what, server.summary, "");
    }
    printf("%s %s\n", harness_failures == before ? "ok" : "FAILED", c->name);
}

int main(int argc, char **argv)
{
    size_t i;
    int ran = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s KEYDIR [CASE]\n", argv[0]);
        return 2;
    }
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (argc > 2 && strcmp(argv[2], cases[i].name) != 0)
            continue;
        run_case(argv[1], &cases[i]);
        ran++;
    }
    if (ran == 0) {
        fprintf(stderr, "no such case\n");
        return 2;
    }
    printf("%d cases, %d failed checks\n", ran, harness_failures);
    return harness_failures == 0 ? 0 : 1;
}
