/*
 * api_misuse.c - the C API under misuse: NULL for every pointer argument,
 * bad names, values, roles, descriptors and states. Every call must return
 * its documented error (or default), keep the detail text on the object,
 * and never crash; the caller's descriptor is never closed.
 *
 * usage: api_misuse   (writes a self-signed certificate to a temp dir)
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define R(x) ((long) (x))

static void silent(void *userdata, int level, const char *line)
{
    (void) userdata;
    (void) level;
    (void) line;
}

static void params_misuse(void)
{
    mtatls_params *p = NULL;
    char buf[8];
    size_t needed = 0;
    const char bad_utf8[] = {'m', (char) 0xff, 'y', 0};

    expect_int("params_new(NULL)", R(mtatls_params_new(NULL)), MTATLS_RESULT_NULL_PARAMETER);
    mtatls_params_free(NULL);
    expect_str("params_error(NULL)", mtatls_params_error(NULL), "");
    expect_int("params_set(NULL)", R(mtatls_params_set(NULL, "smtpd_tls_loglevel", "1")),
               MTATLS_RESULT_NULL_PARAMETER);
    if (mtatls_params_new(&p) != MTATLS_RESULT_OK) {
        expect_int("params_new", 1, 0);
        return;
    }
    expect_int("params_set(name NULL)", R(mtatls_params_set(p, NULL, "1")), MTATLS_RESULT_NULL_PARAMETER);
    expect_str("params_set(name NULL) text", mtatls_params_error(p), "parameter name is NULL");
    expect_int("params_set(value NULL)", R(mtatls_params_set(p, "smtpd_tls_loglevel", NULL)),
               MTATLS_RESULT_NULL_PARAMETER);
    expect_str("params_set(value NULL) text", mtatls_params_error(p), "value of smtpd_tls_loglevel is NULL");
    /* Unknown names are kept (a warning when a context is built); bad names are errors. */
    expect_int("params_set(unknown)", R(mtatls_params_set(p, "smtpd_tls_bogus", "1")), MTATLS_RESULT_OK);
    expect_int("params_set(bad name)", R(mtatls_params_set(p, "smtpd tls", "1")),
               MTATLS_RESULT_UNKNOWN_PARAMETER);
    expect_str("params_set(bad name) text", mtatls_params_error(p), "bad parameter name: \"smtpd tls\"");
    expect_int("params_set(bad value)", R(mtatls_params_set(p, "smtpd_tls_ciphers", "bogus")),
               MTATLS_RESULT_INVALID_VALUE);
    expect_str("params_set(bad value) text", mtatls_params_error(p),
               "smtpd_tls_ciphers = bogus: invalid cipher grade: \"bogus\"");
    expect_int("params_set(not UTF-8)", R(mtatls_params_set(p, "smtpd_tls_ciphers", bad_utf8)),
               MTATLS_RESULT_INVALID_ARGUMENT);
    expect_int("params_set(ok)", R(mtatls_params_set(p, "smtpd_tls_ciphers", "high")), MTATLS_RESULT_OK);
    expect_str("error cleared by a good call", mtatls_params_error(p), "");
    expect_int("load_file(NULL)", R(mtatls_params_load_file(p, NULL)), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("load_file(missing)", R(mtatls_params_load_file(p, "/nonexistent/main.cf")),
               MTATLS_RESULT_CONFIG_FILE);
    expect_contains("load_file(missing) text", mtatls_params_error(p), "/nonexistent/main.cf");
    expect_int("load_string(NULL)", R(mtatls_params_load_string(p, NULL, NULL)), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("load_string(bad line)", R(mtatls_params_load_string(p, "a = 1\nno equals sign\n", "test.cf")),
               MTATLS_RESULT_CONFIG_FILE);
    expect_str("load_string(bad line) text", mtatls_params_error(p),
               "test.cf, line 2: missing '=' after parameter name: \"no equals sign\"");
    expect_int("get(unknown)", R(mtatls_params_get(p, "bogus", buf, sizeof(buf), &needed)),
               MTATLS_RESULT_UNKNOWN_PARAMETER);
    expect_int("get(NULL buf, len>0)", R(mtatls_params_get(p, "smtpd_tls_ciphers", NULL, 5, &needed)),
               MTATLS_RESULT_NULL_PARAMETER);
    expect_int("get(NULL buf, len 0)", R(mtatls_params_get(p, "tls_eecdh_auto_curves", NULL, 0, &needed)),
               MTATLS_RESULT_OK);
    expect_int("get(NULL buf, len 0) needed", R(needed), (long) strlen("X25519 X448 prime256v1 secp521r1 secp384r1"));
    expect_int("get(truncated)", R(mtatls_params_get(p, "tls_eecdh_auto_curves", buf, sizeof(buf), NULL)),
               MTATLS_RESULT_OK);
    expect_str("get(truncated) text", buf, "X25519 ");
    expect_int("set_log_callback(NULL)", R(mtatls_params_set_log_callback(NULL, silent, NULL)),
               MTATLS_RESULT_NULL_PARAMETER);
    expect_int("self_signed(NULL cn)", R(mtatls_params_self_signed(p, NULL, "/tmp/x")), MTATLS_RESULT_NULL_PARAMETER);
    mtatls_params_free(p);
}

static void ctx_and_session_misuse(const char *dir)
{
    mtatls_params *p = NULL;
    mtatls_ctx *server = NULL, *client = NULL;
    mtatls_ctx *sentinel = (mtatls_ctx *) &sentinel;
    mtatls_ctx *untouched = sentinel;
    mtatls_session *s = NULL;
    char path[512], buf[64];
    unsigned char data[16];
    size_t n = 99;
    int sv[2], flags_before;

    expect_int("ctx_new(NULL params)", R(mtatls_ctx_new(NULL, "smtpd", &server)), MTATLS_RESULT_NULL_PARAMETER);
    mtatls_ctx_free(NULL);
    expect_int("received_header(NULL)", mtatls_ctx_received_header(NULL), 0);
    expect_int("wrappermode(NULL)", mtatls_ctx_wrappermode(NULL), 0);
    expect_int("tls_required(NULL)", mtatls_ctx_tls_required(NULL), 0);
    if (mtatls_params_new(&p) != MTATLS_RESULT_OK)
        return;
    mtatls_params_set_log_callback(p, silent, NULL);
    expect_int("ctx_new(NULL role)", R(mtatls_ctx_new(p, NULL, &server)), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("ctx_new(NULL out)", R(mtatls_ctx_new(p, "smtp", NULL)), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("ctx_new(bad role)", R(mtatls_ctx_new(p, "pop3", &untouched)), MTATLS_RESULT_INVALID_ARGUMENT);
    expect_int("ctx_new(bad role) leaves *out", untouched == sentinel, 1);
    expect_contains("ctx_new(bad role) text", mtatls_params_error(p), "pop3");
    expect_int("server without certificate", R(mtatls_ctx_new(p, "smtpd", &untouched)),
               MTATLS_RESULT_POLICY);
    snprintf(path, sizeof(path), "%s/self.pem", dir);
    expect_int("self_signed", R(mtatls_params_self_signed(p, "misuse.test", path)), MTATLS_RESULT_OK);
    mtatls_params_set(p, "smtpd_tls_security_level", "may");
    expect_int("ctx_new(server)", R(mtatls_ctx_new(p, "smtpd", &server)), MTATLS_RESULT_OK);
    expect_int("ctx_new(client)", R(mtatls_ctx_new(p, "smtp", &client)), MTATLS_RESULT_OK);
    expect_int("received_header default", mtatls_ctx_received_header(server), 0);
    expect_int("tls_required at may", mtatls_ctx_tls_required(server), 0);

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return;
    flags_before = fcntl(sv[0], F_GETFL);
    expect_int("session_new(NULL ctx)", R(mtatls_session_new(NULL, sv[0], "x[1.2.3.4]", &s)),
               MTATLS_RESULT_NULL_PARAMETER);
    expect_int("session_new(bad fd)", R(mtatls_session_new(server, -1, "x[1.2.3.4]", &s)),
               MTATLS_RESULT_INVALID_ARGUMENT);
    expect_int("session_new(NULL label)", R(mtatls_session_new(server, sv[0], NULL, &s)),
               MTATLS_RESULT_NULL_PARAMETER);
    expect_int("session_new(NULL out)", R(mtatls_session_new(server, sv[0], "x[1.2.3.4]", NULL)),
               MTATLS_RESULT_NULL_PARAMETER);
    expect_int("handshake(NULL)", R(mtatls_session_handshake(NULL, 1)), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("read(NULL)", R(mtatls_session_read(NULL, data, sizeof(data), 1, &n)), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("write(NULL)", R(mtatls_session_write(NULL, data, sizeof(data), 1, &n)),
               MTATLS_RESULT_NULL_PARAMETER);
    expect_int("stop(NULL)", R(mtatls_session_stop(NULL, 1)), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("get_facts(NULL)", mtatls_session_get_facts(NULL) == NULL, 1);
    strcpy(buf, "junk");
    expect_int("summary(NULL)", R(mtatls_session_summary(NULL, buf, sizeof(buf))), 0);
    expect_str("summary(NULL) writes empty string", buf, "");
    expect_int("received_comment(NULL)", R(mtatls_session_received_comment(NULL, NULL, 0)), 0);
    expect_str("session_error(NULL)", mtatls_session_error(NULL), "");
    expect_int("truncated(NULL)", mtatls_session_truncated(NULL), 0);
    expect_int("tlsrpt_result(NULL)", mtatls_session_tlsrpt_result(NULL), -1);
    strcpy(buf, "junk");
    expect_int("tlsrpt_reason(NULL)", R(mtatls_session_tlsrpt_reason(NULL, buf, sizeof(buf))), 0);
    expect_str("tlsrpt_reason(NULL) writes empty string", buf, "");
    expect_int("tlsrpt_additional_info(NULL)", R(mtatls_session_tlsrpt_additional_info(NULL, NULL, 0)), 0);
    expect_int("tlsrpt_receiving_mx(NULL)", R(mtatls_session_tlsrpt_receiving_mx(NULL, NULL, 0)), 0);
    expect_int("tlsrpt_receiving_ip(NULL)", R(mtatls_session_tlsrpt_receiving_ip(NULL, NULL, 0)), 0);
    expect_int("tlsrpt_sending_ip(NULL)", R(mtatls_session_tlsrpt_sending_ip(NULL, NULL, 0)), 0);
    expect_int("tlsrpt_policy_type(NULL)", mtatls_session_tlsrpt_policy_type(NULL), -1);
    expect_int("tlsrpt_policy_domain(NULL)", R(mtatls_session_tlsrpt_policy_domain(NULL, NULL, 0)), 0);
    expect_int("tlsrpt_policy_string_count(NULL)", R(mtatls_session_tlsrpt_policy_string_count(NULL)), 0);
    expect_int("tlsrpt_policy_string(NULL)", R(mtatls_session_tlsrpt_policy_string(NULL, 0, NULL, 0)), 0);
    expect_str("tlsrpt_result_name(204)", mtatls_tlsrpt_result_name(204), "certificate-expired");
    expect_str("tlsrpt_result_name(0)", mtatls_tlsrpt_result_name(0), "success");
    expect_str("tlsrpt_result_name(-1)", mtatls_tlsrpt_result_name(-1), "");
    mtatls_session_free(NULL);

    /* Per-session settings: NULL anywhere is refused, wrong role or value named. */
    expect_int("set_protocols(NULL)", R(mtatls_session_set_protocols(NULL, ">=TLSv1.2")), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("set_cipher_grade(NULL)", R(mtatls_session_set_cipher_grade(NULL, "high")), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("set_exclusions(NULL)", R(mtatls_session_set_exclusions(NULL, "RC4")), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("set_fingerprint_digest(NULL)", R(mtatls_session_set_fingerprint_digest(NULL, "sha256")), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("set_ca_file(NULL)", R(mtatls_session_set_ca_file(NULL, "/x")), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("set_ca_path(NULL)", R(mtatls_session_set_ca_path(NULL, "/x")), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("set_trust_anchor_file(NULL)", R(mtatls_session_set_trust_anchor_file(NULL, "/x")), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("set_chain_files(NULL)", R(mtatls_session_set_chain_files(NULL, "/x")), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("set_loglevel(NULL)", R(mtatls_session_set_loglevel(NULL, "1")), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("peer_certificate_count(NULL)", (int) mtatls_session_peer_certificate_count(NULL, 0), 0);
    expect_int("peer_certificate(NULL)", (int) mtatls_session_peer_certificate(NULL, 0, 0, MTATLS_CERT_FORMAT_PEM, (uint8_t *) buf, sizeof(buf)), 0);
    expect_int("session_new(server) for setters", R(mtatls_session_new(server, sv[0], "x[1.2.3.4]", &s)), MTATLS_RESULT_OK);
    expect_int("set_protocols(NULL text)", R(mtatls_session_set_protocols(s, NULL)), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("set_chain_files(NULL text)", R(mtatls_session_set_chain_files(s, NULL)), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("set_loglevel(NULL text)", R(mtatls_session_set_loglevel(s, NULL)), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("set_ca_file on a server", R(mtatls_session_set_ca_file(s, path)), MTATLS_RESULT_INVALID_ARGUMENT);
    expect_int("set_ca_path on a server", R(mtatls_session_set_ca_path(s, "/")), MTATLS_RESULT_INVALID_ARGUMENT);
    expect_int("set_loglevel(bad keyword)", R(mtatls_session_set_loglevel(s, "routine,loud")), MTATLS_RESULT_INVALID_VALUE);
    expect_contains("set_loglevel(bad keyword) text", mtatls_session_error(s), "unknown smtpd_tls_loglevel value \"loud\"");
    expect_int("set_chain_files(missing)", R(mtatls_session_set_chain_files(s, "/nonexistent/chain.pem")), MTATLS_RESULT_CERTIFICATE);
    expect_contains("set_chain_files(missing) text", mtatls_session_error(s), "/nonexistent/chain.pem");
    expect_int("set_exclusions(modifier)", R(mtatls_session_set_exclusions(s, "aNULL, !RC4")), MTATLS_RESULT_INVALID_VALUE);
    expect_contains("set_exclusions(modifier) text", mtatls_session_error(s), "invalid unary '!+-@' in cipher exclusion: !RC4");
    expect_int("set_cipher_grade(bogus)", R(mtatls_session_set_cipher_grade(s, "bogus")), MTATLS_RESULT_INVALID_VALUE);
    expect_contains("set_cipher_grade(bogus) text", mtatls_session_error(s), "invalid cipher grade: \"bogus\"");
    expect_int("set_protocols(nothing left)", R(mtatls_session_set_protocols(s, "!SSLv3, !TLSv1.2, !TLSv1.3, !TLSv1, !TLSv1.1")),
               MTATLS_RESULT_INVALID_VALUE);
    expect_int("peer_certificate before handshake", (int) mtatls_session_peer_certificate(s, 0, 0, MTATLS_CERT_FORMAT_DER, NULL, 0), 0);
    mtatls_session_free(s);
    s = NULL;
    expect_int("session_new(server)", R(mtatls_session_new(server, sv[0], "x[1.2.3.4]", &s)), MTATLS_RESULT_OK);
    expect_int("read before handshake", R(mtatls_session_read(s, data, sizeof(data), 1, &n)),
               MTATLS_RESULT_BAD_STATE);
    expect_contains("read before handshake text", mtatls_session_error(s), "the TLS session with x[1.2.3.4] has no completed handshake yet");
    expect_int("read(NULL nread)", R(mtatls_session_read(s, data, sizeof(data), 1, NULL)),
               MTATLS_RESULT_NULL_PARAMETER);
    expect_int("write(NULL buf)", R(mtatls_session_write(s, NULL, 3, 1, &n)), MTATLS_RESULT_NULL_PARAMETER);
    expect_int("facts before handshake", mtatls_session_get_facts(s) == NULL, 1);
    expect_int("summary before handshake", R(mtatls_session_summary(s, buf, sizeof(buf))), 0);
    expect_int("tlsrpt before handshake", mtatls_session_tlsrpt_result(s), -1);
    /* Non-blocking handshake with a silent peer: WANT_READ, not a hang. */
    expect_int("nonblocking handshake", R(mtatls_session_handshake(s, MTATLS_TIMEOUT_NONBLOCK)),
               MTATLS_RESULT_WANT_READ);
    /* A one-second timeout with a silent peer. */
    expect_int("handshake timeout", R(mtatls_session_handshake(s, 1)), MTATLS_RESULT_TIMEOUT);
    expect_str("handshake timeout text", mtatls_session_error(s),
               "SSL_accept error from x[1.2.3.4]: Connection timed out");
    /* A finished handshake's outcome is sticky, text included. */
    expect_int("handshake after failure", R(mtatls_session_handshake(s, 1)), MTATLS_RESULT_TIMEOUT);
    expect_str("handshake after failure text", mtatls_session_error(s),
               "SSL_accept error from x[1.2.3.4]: Connection timed out");
    mtatls_session_free(s);
    s = NULL;
    expect_int("fd still open after free", fcntl(sv[0], F_GETFD) != -1, 1);
    expect_int("fd flags restored", fcntl(sv[0], F_GETFL), flags_before);

    /* A client session at the default level (none) refuses to start TLS. */
    expect_int("session_new(client)", R(mtatls_session_new(client, sv[1], "x[1.2.3.4]:25", &s)), MTATLS_RESULT_OK);
    expect_int("client at level none", R(mtatls_session_handshake(s, 1)), MTATLS_RESULT_POLICY);
    expect_contains("client at level none text", mtatls_session_error(s), "smtp_tls_security_level");
    mtatls_session_free(s);
    expect_int("client fd still open", fcntl(sv[1], F_GETFD) != -1, 1);
    close(sv[0]);
    close(sv[1]);
    mtatls_ctx_free(server);
    mtatls_ctx_free(client);
    mtatls_params_free(p);
    unlink(path);
}

/* A panic inside the library is an error code, and poisons the object. */
static void forced_panic(void)
{
    mtatls_params *p = NULL;

    if (mtatls_params_new(&p) != MTATLS_RESULT_OK)
        return;
    expect_int("unknown name kept without the switch", R(mtatls_params_set(p, "mtatls_test_panic", "1")),
               MTATLS_RESULT_OK);
    setenv("MTATLS_TEST_PANIC", "1", 1);
    expect_int("forced panic", R(mtatls_params_set(p, "mtatls_test_panic", "1")), MTATLS_RESULT_PANIC);
    unsetenv("MTATLS_TEST_PANIC");
    expect_contains("poisoned text", mtatls_params_error(p), "internal error (panic)");
    expect_int("poisoned afterwards", R(mtatls_params_set(p, "smtpd_tls_loglevel", "1")), MTATLS_RESULT_PANIC);
    mtatls_params_free(p);
}

int main(void)
{
    char dir[] = "/tmp/mtatls-misuse-XXXXXX";

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    params_misuse();
    ctx_and_session_misuse(dir);
    forced_panic();
    expect_str("result_name", mtatls_result_name(MTATLS_RESULT_HANDSHAKE), "MTATLS_RESULT_HANDSHAKE");
    expect_str("result_name(unknown)", mtatls_result_name(9999), "MTATLS_RESULT_UNKNOWN");
    expect_contains("version", mtatls_version(), "mtatls " MTATLS_VERSION_STRING " (OpenSSL 3.");
    rmdir(dir);
    printf("api_misuse: %d failed checks\n", harness_failures);
    return harness_failures == 0 ? 0 : 1;
}
