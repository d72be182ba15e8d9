# C side of mtatls: test harnesses and example programs built against the
# library cargo builds, `make demo` (the README's main command) and
# `make install PREFIX=...` (no tool beyond cargo, cc and make).
# `cargo test` builds the same programs itself (tests/common, the cc crate).
CC ?= cc
CFLAGS ?= -std=c99 -Wall -Wextra -Werror -pedantic -O1 -g
PROFILE ?= debug
# Cargo's output directory: CARGO_TARGET_DIR when set, as cargo itself does.
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
LIBDIR ?= $(TARGET_DIR)/$(PROFILE)
OUT ?= $(LIBDIR)/c
LIBS = -L$(LIBDIR) -Wl,-rpath,$(abspath $(LIBDIR)) -lmtatls -lpthread

# Version and SONAME (0.x: no ABI stability across minor versions, so the
# SONAME carries major.minor; build.rs sets the same one).
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(word 1,$(subst ., ,$(VERSION)))
MINOR := $(word 2,$(subst ., ,$(VERSION)))
SONAME := libmtatls.so.$(if $(filter 0,$(MAJOR)),0.$(MINOR),$(MAJOR))

HARNESSES = $(OUT)/handshake_cases $(OUT)/api_misuse $(OUT)/sessions $(OUT)/threads $(OUT)/failclosed $(OUT)/policies
EXAMPLES = $(OUT)/mtatls-smtpd $(OUT)/mtatls-finger $(OUT)/mtatls-fsreport $(OUT)/quickstart

PREFIX ?= /usr/local
DESTDIR ?=
INSTALL_LIB = $(DESTDIR)$(PREFIX)/lib
INSTALL_INC = $(DESTDIR)$(PREFIX)/include

.PHONY: all c-build lib demo test install clean prereqs
all: lib c-build

lib:
	cargo build $(if $(filter release,$(PROFILE)),--release,)

c-build: $(HARNESSES) $(EXAMPLES)

$(OUT):
	mkdir -p $@

# The loader looks for the SONAME: give the build tree that name too.
$(LIBDIR)/$(SONAME): $(LIBDIR)/libmtatls.so
	ln -sf libmtatls.so $@

$(OUT)/%: c-tests/%.c c-tests/harness.c c-tests/harness.h include/mtatls.h $(LIBDIR)/$(SONAME) | $(OUT)
	$(CC) $(CFLAGS) -Iinclude -o $@ $< c-tests/harness.c $(LIBS)

$(OUT)/quickstart: examples/quickstart.c include/mtatls.h $(LIBDIR)/$(SONAME) | $(OUT)
	$(CC) $(CFLAGS) -Iinclude -o $@ $< $(LIBS)

# The finger prints certificates with OpenSSL calls of its own.
$(OUT)/mtatls-finger: LIBS += -lcrypto

$(OUT)/mtatls-%: examples/mtatls-%.c examples/smtp_io.c examples/smtp_io.h include/mtatls.h $(LIBDIR)/$(SONAME) | $(OUT)
	$(CC) $(CFLAGS) -Iinclude -o $@ $< examples/smtp_io.c $(LIBS)

# The README's main command: build, then a loopback STARTTLS session between
# the example server and client, printing both sides' lines.
# A C compiler, pkg-config and libssl-dev: checked, and installed with
# apt-get when missing and run as root.
prereqs:
	@sh scripts/prereqs.sh

demo: prereqs
	cargo build --release
	$(MAKE) --no-print-directory c-build PROFILE=release
	sh examples/demo.sh $(TARGET_DIR)/release/c

test: prereqs
	cargo test

# Install the release build: shared library (with SONAME links), static
# library, header and pkg-config file, the same tree as `cargo cinstall`.
install:
	cargo build --release
	sh scripts/install.sh "$(TARGET_DIR)/release" "$(DESTDIR)" "$(PREFIX)" "$(VERSION)" "$(SONAME)"

clean:
	cargo clean
