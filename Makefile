# modelswarm: hand-written Makefile; libraries found with pkg-config.
#
#   make              build ./modelswarm (installs missing build packages)
#   make check        build, install test packages if missing, run all tests
#   make demo         create, seed and fetch a generated repo on loopback,
#                     then run its tiny model in transformers.js through
#                     the daemon's Hugging Face endpoint
#   make install      PREFIX=/usr/local DESTDIR=
#   DEVELOPER=1       warnings are errors
#   SANITIZE=address,undefined
#   OPT=-O0           no optimisation (and then no _FORTIFY_SOURCE)

PREFIX ?= /usr/local
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man

CC ?= cc
CXX ?= c++
PKG_CONFIG ?= pkg-config
PROVE ?= prove
PKGS = libtorrent-rasterbar libuv libcurl jansson libsodium libcrypto libmicrohttpd

OPT ?= -O2 -g
CFLAGS ?= $(OPT)
CXXFLAGS ?= $(OPT)
# evaluated when a recipe runs, i.e. after build-deps has installed them
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS))

MS_CFLAGS = -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -MMD -MP
MS_CXXFLAGS = -std=c++17 -Iinclude -MMD -MP
ifdef DEVELOPER
MS_CFLAGS += -Wall -Wextra -Werror -Wstrict-prototypes -Wvla -Wwrite-strings \
	-Wmissing-prototypes -Wold-style-definition -Wno-unused-parameter
MS_CXXFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter
endif
ifdef SANITIZE
SAN = -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
MS_CFLAGS += $(SAN)
MS_CXXFLAGS += $(SAN)
LDFLAGS += $(SAN)
endif

# Hardening, as Debian builds its packages (dpkg-buildflags): a canary on
# the stack, a position-independent executable, read-only relocations
# bound at start, and glibc's checked string and memory functions.
# _FORTIFY_SOURCE needs optimisation (-O0 or no -O: left out) and is left
# to the sanitizers when SANITIZE is set (they check more, and exactly).
HARDEN = -fstack-protector-strong -fPIE
MS_CFLAGS += $(HARDEN)
MS_CXXFLAGS += $(HARDEN)
MS_LDFLAGS = -pie -Wl,-z,relro,-z,now
fortify = $(if $(SANITIZE),,$(if $(filter-out -O0,$(filter -O%,$(1))), \
	-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2))
MS_CFLAGS += $(call fortify,$(CFLAGS))
MS_CXXFLAGS += $(call fortify,$(CXXFLAGS))

LIB_C = src/error.c src/util.c src/tree.c src/config.c src/progress.c \
	src/engine.c src/torrent.c src/sign.c src/index.c src/hash.c src/manifest.c src/trust.c src/http.c \
	src/store.c src/webseed.c src/rpc.c src/httpd.c src/metrics.c src/hfapi.c src/hfapi-stream.c \
	src/webseed-direct.c src/webseed-mirror.c \
	src/mirrors.c src/release.c src/getjob.c src/getjob-report.c src/seedbox.c \
	src/seedbox-records.c src/seedbox-subs.c src/seedbox-rpc.c src/publish.c src/upstream.c \
	src/seedbox-bridge.c src/dht.c src/dht-lookup.c src/seedbox-dht.c
LIB_CXX = src/shim/common.cpp src/shim/session.cpp src/shim/torrent.cpp \
	src/shim/alerts.cpp src/shim/metainfo.cpp src/shim/create.cpp \
	src/shim/dormant.cpp src/shim/disk-order.cpp src/shim/disk-pieces.cpp \
	src/shim/digests.cpp src/shim/dht.cpp src/shim/tails.cpp
CMD_C = src/main.c src/cmd/common.c src/cmd/create.c src/cmd/seed.c \
	src/cmd/seeding.c src/cmd/fetch.c src/cmd/keygen.c src/cmd/publish.c \
	src/cmd/trust.c src/cmd/verify.c src/cmd/get.c src/cmd/daemon.c \
	src/cmd/mirror.c src/cmd/publish-dht.c
UNIT = tests/unit/test-shim tests/unit/test-engine tests/unit/test-release tests/unit/test-sign \
	tests/unit/test-hash tests/unit/test-manifest tests/unit/test-metrics tests/unit/test-trust \
	tests/unit/test-store tests/unit/test-http

LIB_OBJ = $(LIB_C:src/%.c=build/%.o) $(LIB_CXX:src/%.cpp=build/%.o)
CMD_OBJ = $(CMD_C:src/%.c=build/%.o)
# the self-tests of the shim's internals, for test-shim only
SELFTEST_OBJ = build/shim/selftest.o
ALL_OBJ = $(LIB_OBJ) $(CMD_OBJ) $(UNIT:tests/unit/%=build/unit/%.o) $(SELFTEST_OBJ)

all: modelswarm

modelswarm: $(CMD_OBJ) build/libms.a
	$(CXX) $(LDFLAGS) $(MS_LDFLAGS) -o $@ $(CMD_OBJ) build/libms.a $(PKG_LIBS) -lpthread

build/libms.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

# rebuild everything when the compiler or flags change (e.g. SANITIZE=)
FLAGS_ID = $(CC) $(CXX) $(CFLAGS) $(CXXFLAGS) $(MS_CFLAGS) $(MS_CXXFLAGS) $(LDFLAGS) \
	$(MS_LDFLAGS)
build/.flags: FORCE
	@mkdir -p build
	@echo '$(FLAGS_ID)' | cmp -s - $@ || echo '$(FLAGS_ID)' >$@

$(ALL_OBJ): build/.flags

build/%.o: src/%.c | build-deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(MS_CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

build/%.o: src/%.cpp | build-deps
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(MS_CXXFLAGS) $(PKG_CFLAGS) -c -o $@ $<

build/unit/%.o: tests/unit/%.c | build-deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(MS_CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

tests/unit/%: build/unit/%.o build/libms.a
	$(CXX) $(LDFLAGS) $(MS_LDFLAGS) -o $@ $< build/libms.a $(PKG_LIBS) -lpthread

# the self-tests before libms.a, whose shim they reach into
tests/unit/test-shim: build/unit/test-shim.o $(SELFTEST_OBJ) build/libms.a
	$(CXX) $(LDFLAGS) $(MS_LDFLAGS) -o $@ $< $(SELFTEST_OBJ) build/libms.a $(PKG_LIBS) -lpthread

# Install the Debian packages that are missing (build: libraries and
# compilers; test: the real programs the tests drive).
deps:
	@sh tools/deps.sh build test

build-deps:
	@$(PKG_CONFIG) --exists $(PKGS) 2>/dev/null || sh tools/deps.sh build

test-deps:
	@sh tools/deps.sh test

check: all $(UNIT) test-deps
	$(PROVE) -j2 --timer $(UNIT) tests/t/t[0-9]*.sh

test: check

demo: all
	@sh tools/deps.sh node
	@sh tools/demo.sh

# libFuzzer target for the parsers of untrusted input (needs clang)
FUZZ_SRC = src/manifest.c src/sign.c src/error.c src/util.c tests/fuzz/fuzz-parsers.c
build/fuzz-parsers: $(FUZZ_SRC) | build-deps
	@mkdir -p build
	clang -g -O1 -std=c11 -D_GNU_SOURCE -Iinclude \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		$(shell $(PKG_CONFIG) --cflags jansson libsodium) -o $@ $(FUZZ_SRC) \
		$(shell $(PKG_CONFIG) --libs jansson libsodium)

fuzz: build/fuzz-parsers

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8
	install -m 755 modelswarm $(DESTDIR)$(BINDIR)/modelswarm
	install -m 644 man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 man/*.8 $(DESTDIR)$(MANDIR)/man8/

clean:
	rm -rf build modelswarm $(UNIT) tests/trash.*

FORCE:

.PHONY: FORCE fuzz all deps build-deps test-deps check test demo install clean

-include $(ALL_OBJ:.o=.d)
