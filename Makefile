# C side of mtatls: test harnesses and example programs, built against the
# library cargo builds. `cargo test` runs `make c-build` itself;
# `make demo` is the README's main command.
CC ?= cc
CFLAGS ?= -std=c99 -Wall -Wextra -Werror -pedantic -O1 -g
PROFILE ?= debug
TARGET_DIR ?= target
LIBDIR ?= $(TARGET_DIR)/$(PROFILE)
OUT ?= $(LIBDIR)/c
LIBS = -L$(LIBDIR) -Wl,-rpath,$(abspath $(LIBDIR)) -lmtatls -lpthread

HARNESSES = $(OUT)/handshake_cases $(OUT)/api_misuse $(OUT)/sessions
EXAMPLES = $(OUT)/mtatls-smtpd $(OUT)/mtatls-finger

.PHONY: all c-build lib demo test clean
all: lib c-build

lib:
	cargo build $(if $(filter release,$(PROFILE)),--release,)

c-build: $(HARNESSES) $(EXAMPLES)

$(OUT):
	mkdir -p $@

$(OUT)/%: c-tests/%.c c-tests/harness.c c-tests/harness.h include/mtatls.h $(LIBDIR)/libmtatls.so | $(OUT)
	$(CC) $(CFLAGS) -Iinclude -o $@ $< c-tests/harness.c $(LIBS)

$(OUT)/mtatls-%: examples/mtatls-%.c examples/smtp_io.c examples/smtp_io.h include/mtatls.h $(LIBDIR)/libmtatls.so | $(OUT)
	$(CC) $(CFLAGS) -Iinclude -o $@ $< examples/smtp_io.c $(LIBS)

# The README's main command: build, then a loopback STARTTLS session between
# the example server and client, printing both sides' lines.
demo:
	cargo build --release
	$(MAKE) --no-print-directory c-build PROFILE=release
	sh examples/demo.sh $(TARGET_DIR)/release/c

test:
	cargo test

clean:
	cargo clean
