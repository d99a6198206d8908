# Everyday targets; the build itself is CMake's (build/ and build-sanitize/).
JOBS ?= 2
BUILD ?= build
CTEST_ARGS ?= --output-on-failure

.PHONY: all deps test-deps build install test test-sanitize demo bench fixtures fuzz clean
all: build

deps:
	@scripts/install-deps

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

test-deps:
	@scripts/install-deps --test

test: test-deps build
	cd $(BUILD) && ctest $(CTEST_ARGS) -j 1

test-sanitize: deps
	@cmake -S . -B build-sanitize -DAM_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build build-sanitize -j $(JOBS)
	cd build-sanitize && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp UBSAN_OPTIONS=print_stacktrace=1 \
	  AM_SANITIZE=1 ctest $(CTEST_ARGS) -j 1

demo: deps build
	@scripts/demo

bench: deps build
	@scripts/bench

fixtures:
	/usr/bin/python3 tools/make_fixtures.py

fuzz: deps
	@JOBS=$(JOBS) scripts/fuzz

clean:
	rm -rf build build-sanitize build-fuzz
