# mxblas build. `make` builds the libraries, tests, benchmarks, examples and
# the mxblas tool; `make test` installs what the tests need and runs them;
# `make demo` runs the demo. CUDA objects are built when nvcc is found
# (override with CUDA=0 or CUDA=1).

PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
DESTDIR ?=
BUILD   ?= build

CC  ?= cc
CXX ?= c++
ifeq ($(origin CC),default)
CC := gcc
endif
ifeq ($(origin CXX),default)
CXX := g++
endif

NVCC ?= $(shell command -v nvcc 2>/dev/null || ( [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc ))
ifeq ($(NVCC),)
CUDA ?= 0
else
CUDA ?= 1
endif
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))

# Hopper (wgmma needs the "a" target) plus PTX so the library loads on other
# GPUs. Add sm_100a for Blackwell builds: make CUDA_GENCODE="... -gencode=arch=compute_100a,code=sm_100a"
CUDA_GENCODE ?= -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_80,code=compute_80
CUDA_ARCHS_STR ?= sm_90a+compute_80

SANITIZE ?= 0
OPT ?= -O2

VERSION_MAJOR := $(shell sed -n 's/^\#define MXB_VERSION_MAJOR \([0-9]*\)/\1/p' include/mxblas.h)
VERSION := $(shell sed -n 's/^\#define MXB_VERSION_MAJOR \([0-9]*\)/\1/p;s/^\#define MXB_VERSION_MINOR \([0-9]*\)/\1/p;s/^\#define MXB_VERSION_PATCH \([0-9]*\)/\1/p' include/mxblas.h | paste -sd.)
SONAME := libmxblas.so.$(VERSION_MAJOR)

WARN     := -Wall -Wextra -Werror
# Numerics: IEEE binary32, no contraction, no fast-math (NUMERICS 0).
FPFLAGS  := -ffp-contract=off -fno-fast-math
CPPFLAGS += -Iinclude -Isrc
CFLAGS   += -std=c11 $(OPT) -g $(WARN) $(FPFLAGS) -fexcess-precision=standard -fPIC -D_GNU_SOURCE
CXXFLAGS += -std=c++17 $(OPT) -g $(WARN) $(FPFLAGS) -fPIC
LIBFLAGS := -fvisibility=hidden -DMXB_BUILDING_LIBRARY
LDLIBS   := -lm -lpthread

ifeq ($(SANITIZE),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CXXFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif
ifeq ($(SANITIZE),thread)
CFLAGS   += -fsanitize=thread -fno-omit-frame-pointer
CXXFLAGS += -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=thread
endif

ifeq ($(CUDA),1)
CUDA_VERSION_STR := $(shell $(NVCC) --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
CPPFLAGS += -DMXB_WITH_CUDA -I$(CUDA_HOME)/include
CUDA_LIBDIR := $(CUDA_HOME)/lib64
CUDA_LDLIBS := -L$(CUDA_LIBDIR) -Wl,-rpath,$(CUDA_LIBDIR) -lcublasLt -lcurand -lcudart -lstdc++
# -fmad=false: no contraction in device code either; kernels that want an
# FMA write __fmaf_rn explicitly.
NVCCFLAGS ?= -O3 -std=c++17 -fmad=false -lineinfo $(CUDA_GENCODE) \
  -Xcompiler -fPIC,-fvisibility=hidden,-ffp-contract=off,-Wall,-Wextra \
  --expt-relaxed-constexpr -Xptxas -warn-spills
endif

# The optional NCCL component (include/mxblas_nccl.h, docs/DISTRIBUTED.md):
# built with CUDA wherever nccl.h is found (NCCL_HOME; else the
# nvidia-nccl-cu13 Python package; else /usr), or NCCL=0 / NCCL=1 to decide.
ifeq ($(CUDA),1)
ifndef NCCL_HOME
NCCL_HOME := $(firstword $(shell python3 -c "import nvidia.nccl as n; print(n.__path__[0])" 2>/dev/null) \
                         $(if $(wildcard /usr/include/nccl.h),/usr))
endif
NCCL ?= $(if $(wildcard $(NCCL_HOME)/include/nccl.h),1,0)
else
NCCL := 0
endif
ifeq ($(NCCL),1)
ifneq ($(CUDA),1)
$(error NCCL=1 needs the CUDA backend (CUDA=1 and nvcc))
endif
ifeq ($(wildcard $(NCCL_HOME)/include/nccl.h),)
$(error NCCL=1 but there is no $(NCCL_HOME)/include/nccl.h: set NCCL_HOME or pip install nvidia-nccl-cu13)
endif
CPPFLAGS += -DMXB_WITH_NCCL $(if $(filter /usr,$(NCCL_HOME)),,-I$(NCCL_HOME)/include)
NCCL_LDLIBS := $(if $(filter /usr,$(NCCL_HOME)),,-L$(NCCL_HOME)/lib -Wl,-rpath,$(NCCL_HOME)/lib) -l:libnccl.so.2
CUDA_LDLIBS += $(NCCL_LDLIBS)
NCCL_REPORT := built (NCCL from $(NCCL_HOME))
else ifneq ($(CUDA),1)
NCCL_REPORT := not built (the CUDA backend is not built)
else
NCCL_REPORT := not built (no nccl.h found: pip install nvidia-nccl-cu13 or set NCCL_HOME; NCCL=0 to stop looking)
endif

# ---------------------------------------------------------------- sources
LIB_C   := $(wildcard src/core/*.c src/cpu/*.c) $(if $(filter 1,$(NCCL)),$(wildcard src/nccl/*.c),)
LIB_CU  := $(if $(filter 1,$(CUDA)),$(wildcard src/cuda/*.cu),) $(if $(filter 1,$(NCCL)),$(wildcard src/nccl/*.cu),)
LIB_OBJ := $(LIB_C:%.c=$(BUILD)/%.o) $(LIB_CU:%.cu=$(BUILD)/%.o)

TEST_C   := $(wildcard tests/*.c)
TEST_OBJ := $(TEST_C:%.c=$(BUILD)/%.o)
BENCH_C  := $(wildcard bench/*.c)
BENCH_CC := $(wildcard bench/*.cc)
BENCH_OBJ:= $(BENCH_C:%.c=$(BUILD)/%.o) $(BENCH_CC:%.cc=$(BUILD)/%.o)
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
TOOL_C   := $(wildcard tools/*.c)
TOOL_OBJ := $(TOOL_C:%.c=$(BUILD)/%.o)
# File readers: linked into the tool and the tests (tests call them).
TOOLIO_C := $(wildcard tools/io/*.c)
TOOLIO_OBJ := $(TOOLIO_C:%.c=$(BUILD)/%.o)
FUZZ_C   := $(wildcard tests/fuzz/*.c)

STATIC := $(BUILD)/libmxblas.a
SHARED := $(BUILD)/libmxblas.so
TESTBIN := $(BUILD)/tests/mxblas_tests
BENCHBIN := $(BUILD)/bench/mxblas_bench
TOOLBIN := $(BUILD)/mxblas
DISTBIN := $(BUILD)/tests/mxblas_dist_tests

DEPFLAGS = -MMD -MP

.PHONY: test-dist
.PHONY: all lib test test-unit test-layers test-examples test-tools test-python test-python-installed test-sanitize test-tsan bench demo \
        fuzz fuzz-readers fuzz-api \
        install uninstall clean deps deps-bench check-gpu
all: lib $(TESTBIN) $(BENCHBIN) $(EXAMPLES) $(if $(TOOL_C),$(TOOLBIN)) $(if $(filter 1,$(NCCL)),$(DISTBIN))
lib: $(STATIC) $(SHARED)

# The CPU backend at -O3: quantize executes 10% (MXFP8) to 26% (NVFP4) fewer
# instructions than at -O2 (docs/PERFORMANCE.md), with the same bits (no
# fast-math, no contraction: each element's arithmetic is IEEE's either way).
# A command-line OPT (the sanitizer builds') still wins.
$(BUILD)/src/cpu/%.o: OPT = -O3
# The activations with FMA instructions, called where the CPU has them
# (src/cpu/activation_fma.c); other targets have fmaf as an instruction.
ifeq ($(shell uname -m),x86_64)
$(BUILD)/src/cpu/activation_fma.o: CFLAGS += -mfma
endif

$(BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LIBFLAGS) -DMXB_CUDA_ARCHS='"$(CUDA_ARCHS_STR)"' \
	  -DMXB_CUDA_VERSION_STR='"$(CUDA_VERSION_STR)"' $(DEPFLAGS) -c $< -o $@

$(BUILD)/src/%.o: src/%.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(CPPFLAGS) -DMXB_BUILDING_LIBRARY $(NVCCFLAGS) -MMD -MP -c $< -o $@

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(SHARED): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "mxblas: NCCL component $(NCCL_REPORT)"
	$(CC) -shared -Wl,-soname,$(SONAME) $(LDFLAGS) -o $(BUILD)/libmxblas.so.$(VERSION) $^ $(CUDA_LDLIBS) $(LDLIBS)
	ln -sf libmxblas.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

# Tests, benchmarks, tools and examples link the static library so tests can
# reach internal symbols; the Python binding and install use the shared one.
$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-missing-field-initializers $(DEPFLAGS) -c $< -o $@

$(TESTBIN): $(TEST_OBJ) $(TOOLIO_OBJ) $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(TOOLIO_OBJ) $(STATIC) -lcriterion $(CUDA_LDLIBS) $(LDLIBS)

# The multi-process NCCL test (NCCL=1): one process per GPU (docs/DISTRIBUTED.md).
$(DISTBIN): tests/dist/dist_tests.c tests/shard_cases.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(STATIC) $(CUDA_LDLIBS) $(LDLIBS)

test-dist: $(DISTBIN)
	$(DISTBIN) $(RANKS)

$(BUILD)/bench/%.o: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/bench/%.o: bench/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) $(DEPFLAGS) -c $< -o $@

$(BENCHBIN): $(BENCH_OBJ) $(STATIC)
	$(CXX) $(LDFLAGS) -o $@ $(BENCH_OBJ) $(STATIC) -lbenchmark $(CUDA_LDLIBS) $(LDLIBS)

$(BUILD)/tools/%.o: tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(TOOLBIN): $(TOOL_OBJ) $(TOOLIO_OBJ) $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(TOOLIO_OBJ) $(STATIC) $(CUDA_LDLIBS) $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(STATIC) $(CUDA_LDLIBS) $(LDLIBS)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------- deps
# Criterion (tests) and Google Benchmark (bench) come from Debian packages;
# numpy for the Python binding's tests from PyPI.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
deps:
	@if ! printf '#include <criterion/criterion.h>\n' | $(CC) -E -x c - >/dev/null 2>&1; then \
	  echo "installing Criterion (libcriterion-dev)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libcriterion-dev >/dev/null; fi
	@if ! printf '#include <benchmark/benchmark.h>\n' | $(CXX) -E -x c++ - >/dev/null 2>&1; then \
	  echo "installing Google Benchmark (libbenchmark-dev)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libbenchmark-dev >/dev/null; fi
	@python3 -c 'import numpy' 2>/dev/null || python3 -m pip install -q numpy 2>/dev/null || \
	  echo "note: numpy unavailable; the Python binding tests will be skipped"

# ---------------------------------------------------------------- test
test: deps
	$(MAKE) all
	$(MAKE) test-unit test-examples test-tools test-python test-python-installed test-layers

test-unit: $(TESTBIN)
	$(TESTBIN) --jobs=2

# One-way layers: nothing under src/cpu or src/cuda calls a public entry point.
test-layers:
	bash tests/check_layers.sh

test-examples: $(EXAMPLES)
	@set -e; for e in $(EXAMPLES); do echo "== $$e"; $$e; done

test-tools: $(TOOLBIN)
	@if [ -f tests/tools_test.sh ]; then bash tests/tools_test.sh $(TOOLBIN); fi

PY_TESTS := $(wildcard python/test_*.py)
test-python: $(SHARED)
	@set -e; for t in $(PY_TESTS); do MXBLAS_LIB=$(abspath $(SHARED)) MXBLAS_TOOL=$(abspath $(TOOLBIN)) \
	  PYTHONPATH=python python3 $$t; done

# The same tests against the package as `pip install .` installs it: a venv in
# $(BUILD)/python-venv (with the system's site packages, for numpy and the
# build backend), the package built there by setup.py's `make` in $(BUILD) (up
# to date: nothing is compiled twice), and the tests run from a copy outside the
# source tree, so that `import mxblas` is the installed module with its bundled
# library. Without setuptools >= 61 (and wheel, before setuptools 70.1), pip
# fetches them (build isolation).
PYVENV := $(BUILD)/python-venv
PY_BACKEND_OK := import setuptools, importlib.util as u; assert int(setuptools.__version__.split(".")[0]) >= 61; \
  assert u.find_spec("setuptools.command.bdist_wheel") or u.find_spec("wheel")
test-python-installed: $(SHARED) $(TOOLBIN)
	@if ! python3 -c 'import numpy' 2>/dev/null; then echo "numpy unavailable: skipping the installed-package tests"; \
	else set -e; rm -rf $(PYVENV); python3 -m venv --system-site-packages --without-pip $(PYVENV); \
	  iso=$$($(PYVENV)/bin/python -c '$(PY_BACKEND_OK)' 2>/dev/null && echo --no-build-isolation || true); \
	  MXBLAS_CUDA=$(CUDA) MXBLAS_BUILD_DIR=$(abspath $(BUILD)) python3 -m pip --python $(PYVENV)/bin/python \
	    install -q --no-deps $$iso .; \
	  mkdir -p $(PYVENV)/tests; cp $(PY_TESTS) $(PYVENV)/tests/; cd $(PYVENV)/tests; \
	  env -u MXBLAS_LIB -u MXBLAS_LIBRARY ../bin/python -c 'import mxblas, os; \
	    assert mxblas.library_path() == os.path.join(os.path.dirname(mxblas.__file__), "libmxblas.so"), \
	    mxblas.library_path(); print("installed:", mxblas.__file__, "with", mxblas.library_path())'; \
	  for t in $(notdir $(PY_TESTS)); do env -u MXBLAS_LIB -u MXBLAS_LIBRARY MXBLAS_TOOL=$(abspath $(TOOLBIN)) \
	    ../bin/python $$t; done; fi

# CPU-only build under AddressSanitizer and UBSan, in its own folder.
test-sanitize: deps
	$(MAKE) BUILD=$(BUILD)-asan CUDA=0 SANITIZE=1 OPT=-O1 $(BUILD)-asan/tests/mxblas_tests
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(BUILD)-asan/tests/mxblas_tests --jobs=2

# One context shared by 8 threads (the work of tests/test_threads.c) and 4
# callers of the CPU thread pool at once (tests/pool_work.h), CPU-only,
# under ThreadSanitizer: any report fails it. A plain program, since the
# Criterion runner does not start under TSan.
$(BUILD)/tests/tsan_shared_context: tests/tsan/shared_context.c tests/threads_work.h tests/pool_work.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(STATIC) $(LDLIBS)
test-tsan:
	$(MAKE) BUILD=$(BUILD)-tsan CUDA=0 SANITIZE=thread OPT=-O1 $(BUILD)-tsan/tests/tsan_shared_context
	TSAN_OPTIONS=halt_on_error=1 $(BUILD)-tsan/tests/tsan_shared_context

bench: deps $(BENCHBIN)
	$(BENCHBIN)

# libFuzzer targets (not part of `make test`), FUZZ_TIME seconds each:
#   make fuzz FUZZ_TIME=60       both
#   make fuzz-readers            the tool's file readers
#   make fuzz-api                the public C API (CPU backend; the library's
#                                sources compiled in), including the check that
#                                finite input decodes to finite output
#                                (FUZZ_CHECK_FINITE=0 leaves it out).
FUZZ_TIME ?= 60
FUZZ_CHECK_FINITE ?= 1
LIB_CPU_C := $(wildcard src/core/*.c src/cpu/*.c)
FUZZ_API := $(BUILD)/fuzz/fuzz_api$(if $(filter 0,$(FUZZ_CHECK_FINITE)),_nofinite)
$(BUILD)/fuzz/fuzz_readers: tests/fuzz/fuzz_readers.c $(TOOLIO_C) $(wildcard tools/io/*.h)
	@mkdir -p $(dir $@)
	clang -std=c11 -g -O1 -D_GNU_SOURCE -Itools/io -fsanitize=fuzzer,address,undefined -o $@ \
	  tests/fuzz/fuzz_readers.c $(TOOLIO_C)
# UBSan findings abort (-fno-sanitize-recover) so that libFuzzer keeps the input.
$(FUZZ_API): tests/fuzz/fuzz_api.c $(LIB_CPU_C) $(wildcard src/*/*.h) include/mxblas.h
	@mkdir -p $(dir $@)
	clang -std=c11 -g -O1 -D_GNU_SOURCE $(WARN) $(FPFLAGS) -Iinclude -Isrc -DFUZZ_CHECK_FINITE=$(FUZZ_CHECK_FINITE) \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o $@ tests/fuzz/fuzz_api.c $(LIB_CPU_C) -lm
fuzz-readers: $(BUILD)/fuzz/fuzz_readers
	@mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/fuzz_readers -max_total_time=$(FUZZ_TIME) -max_len=4096 $(BUILD)/fuzz/corpus tests/fuzz/seeds
fuzz-api: $(FUZZ_API)
	@mkdir -p $(BUILD)/fuzz/api-corpus
	$(FUZZ_API) -max_total_time=$(FUZZ_TIME) -max_len=2048 -timeout=20 -artifact_prefix=$(BUILD)/fuzz/ \
	  $(BUILD)/fuzz/api-corpus tests/fuzz/api-seeds
fuzz: fuzz-readers fuzz-api

# make demo: `mxblas demo`, the table of recipes. A GPU counts as present when
# `nvidia-smi -L` lists one; with a GPU and nvcc the CUDA build runs it there.
# Otherwise (no GPU, no nvcc, or CUDA=0) only the CPU library and the tool are
# built, in parallel, in $(BUILD)-cpu ($(BUILD) when CUDA=0 is given), so
# no GPU kernel is compiled for a machine that cannot run it. CUDA=1 on the
# command line forces the CUDA build.
NPROC    := $(shell nproc 2>/dev/null || echo 2)
DEMO_GPU := $(shell nvidia-smi -L 2>/dev/null | grep -q '^GPU' && echo 1)
DEMO_CUDA := $(if $(filter command line,$(origin CUDA)),$(CUDA),$(if $(DEMO_GPU),$(CUDA),0))
DEMO_BUILD := $(if $(filter 1,$(DEMO_CUDA)),$(BUILD),$(if $(filter 1,$(CUDA)),$(BUILD)-cpu,$(BUILD)))
demo:
	@$(MAKE) --no-print-directory CUDA=$(DEMO_CUDA) BUILD=$(DEMO_BUILD) -j$(NPROC) $(DEMO_BUILD)/mxblas
	$(DEMO_BUILD)/mxblas demo

# ---------------------------------------------------------------- install
install: lib $(TOOLBIN)
	install -d $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(BINDIR)
	install -m 644 include/mxblas.h $(if $(filter 1,$(NCCL)),include/mxblas_nccl.h) $(DESTDIR)$(INCDIR)/
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(BUILD)/libmxblas.so.$(VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libmxblas.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libmxblas.so
	install -m 755 $(TOOLBIN) $(DESTDIR)$(BINDIR)/mxblas
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@PRIVATE@|$(if $(filter 1,$(CUDA)),-L$(CUDA_LIBDIR) -lcublasLt -lcurand -lcudart -lstdc++ $(NCCL_LDLIBS) ,)-lm -lpthread|' \
	    mxblas.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/mxblas.pc

uninstall:
	rm -f $(DESTDIR)$(INCDIR)/mxblas.h $(DESTDIR)$(INCDIR)/mxblas_nccl.h $(DESTDIR)$(LIBDIR)/libmxblas.* $(DESTDIR)$(LIBDIR)/pkgconfig/mxblas.pc \
	      $(DESTDIR)$(BINDIR)/mxblas

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan $(BUILD)-cpu
