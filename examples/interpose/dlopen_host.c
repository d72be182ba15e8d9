/*
 * dlopen_host.c - load mtatls at run time with dlopen(3), by the path in
 * $MTATLS_LIBRARY or by its SONAME (from the library path), and call it through dlsym(3): how a
 * host makes TLS an optional plug-in, or picks one of several builds.
 *
 *   cc -std=c99 -I include dlopen_host.c -o dlopen_host -ldl
 *   MTATLS_LIBRARY=target/debug/libmtatls.so ./dlopen_host
 */
#define _POSIX_C_SOURCE 200809L

#include <mtatls.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

/* The SONAME this header belongs to (0.x: libmtatls.so.0.MINOR). */
#define STR_(x) #x
#define STR(x) STR_(x)
#define MTATLS_SONAME "libmtatls.so.0." STR(MTATLS_VERSION_MINOR)

int main(void)
{
    const char *path = getenv("MTATLS_LIBRARY");
    void *lib = dlopen(path ? path : MTATLS_SONAME, RTLD_NOW | RTLD_LOCAL);
    const char *(*version)(void);
    const char *(*result_name)(uint32_t);

    if (lib == NULL) {
        printf("no mtatls: %s\n", dlerror());
        return 1;
    }
    /* POSIX: a function pointer comes from dlsym through a cast of the
       object pointer's storage. */
    *(void **) &version = dlsym(lib, "mtatls_version");
    *(void **) &result_name = dlsym(lib, "mtatls_result_name");
    if (version == NULL || result_name == NULL) {
        printf("not mtatls: %s\n", dlerror());
        dlclose(lib);
        return 1;
    }
    printf("dlopen: %s\n", version());
    printf("result %d is %s\n", MTATLS_RESULT_NOT_VERIFIED, result_name(MTATLS_RESULT_NOT_VERIFIED));
    dlclose(lib);
    return 0;
}
