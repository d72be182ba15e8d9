/*
 * weak_host.c - a program that uses mtatls only if it is there: every
 * mtatls function is a weak reference, the program is NOT linked with
 * -lmtatls, and it runs in the clear unless the library is brought in at
 * run time:
 *
 *   cc -std=c99 -I include weak_host.c -o weak_host
 *   ./weak_host                                   # "mtatls not loaded"
 *   LD_PRELOAD=target/debug/libmtatls.so ./weak_host
 */
#include <mtatls.h>

#include <stdio.h>

#pragma weak mtatls_version
#pragma weak mtatls_params_new
#pragma weak mtatls_params_set
#pragma weak mtatls_params_error
#pragma weak mtatls_params_free

int main(void)
{
    mtatls_params *p = NULL;

    if (mtatls_version == NULL) {
        printf("mtatls not loaded: plain text only\n");
        return 0;
    }
    printf("loaded: %s\n", mtatls_version());
    if (mtatls_params_new(&p) != MTATLS_RESULT_OK)
        return 1;
    if (mtatls_params_set(p, "smtpd_tls_security_level", "sometimes") != MTATLS_RESULT_OK)
        printf("%s\n", mtatls_params_error(p));
    mtatls_params_free(p);
    return 0;
}
