# dwcp — one non-recursive Makefile. Every binary links DPDK the same way
# (same libraries, same order), because DPDK's per-process tables (mempool
# ops, drivers) must be registered in the same order in every process that
# shares the hugepage memory (DESIGN §3 invariant 2).

BUILD    ?= build
CC       ?= cc
SAN      ?=
PKGS     := libdpdk libibverbs liburcu libisal libxxhash liblz4 libzstd libcrypto libsystemd libcjson numa libmicrohttpd libelf

# libev ships no pkg-config file on Debian 12; fall back to -lev.
EV_CFLAGS := $(shell pkg-config --cflags libev 2>/dev/null)
EV_LIBS   := $(shell pkg-config --libs libev 2>/dev/null || echo -lev)

# DPDK linked statically, and only what dwcp calls (EAL, memzones, rings):
# a shared librte_eal loads every PMD plugin of Debian's build (~130
# shared objects) in every process at rte_eal_init, 0.13 CPU-s per
# `dwcp send`/`recv` and per service start, for drivers dwcp never uses
# (--no-pci, no vdevs). A static EAL loads no plugin directory.
# The ring mempool driver is in every binary (whole archive: its
# constructors register the ops), so that every process's mempool ops
# table is the same (checked at attach, ipc/eal.c) and a secondary can
# take and give back the port's mbufs.
DPDK_LIBS  := -Wl,--whole-archive -l:librte_mempool_ring.a -Wl,--no-whole-archive \
              -l:librte_mbuf.a -l:librte_mempool.a -l:librte_eal.a -l:librte_ring.a \
              -l:librte_telemetry.a -l:librte_kvargs.a -lbsd
# The supervisor alone owns a DPDK port ([net] transport = dpdk): ethdev,
# the vdev drivers for veths and host interfaces (docs/dpdk-port.md), and
# the PCI bus with the PMDs of the NICs a hypervisor host is likely to
# have bound to vfio-pci (Intel e1000/igb, ixgbe, i40e, ice, iavf; virtio).
PORT_PMDS  := -l:librte_net_af_packet.a -l:librte_net_af_xdp.a -l:librte_bus_vdev.a \
              -l:librte_bus_pci.a -l:librte_net_e1000.a -l:librte_net_ixgbe.a \
              -l:librte_net_i40e.a -l:librte_net_ice.a -l:librte_net_iavf.a -l:librte_net_virtio.a
PORT_LIBS  := -Wl,--whole-archive $(PORT_PMDS) -Wl,--no-whole-archive -l:librte_common_iavf.a \
              -l:librte_ethdev.a -l:librte_net.a -l:librte_meter.a -l:librte_hash.a -l:librte_pci.a \
              -l:librte_timer.a -l:librte_rcu.a -l:librte_security.a -l:librte_cryptodev.a -lxdp -lbpf -lelf -lz
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(DPDK_LIBS) $(shell pkg-config --libs $(filter-out libdpdk,$(PKGS)))
CRIT_CFLAGS := $(shell pkg-config --cflags criterion)
CRIT_LIBS   := $(shell pkg-config --libs criterion)

# DPDK's pkg-config asks for -march=corei7; we build for the machine
# baseline and dispatch wider SIMD at run time (common/cpu.h).
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -fno-strict-aliasing \
            -I. $(filter-out -march=%,$(PKG_CFLAGS)) -march=x86-64-v2 -mrtm \
            $(EV_CFLAGS) -MMD -MP $(SAN)
LDFLAGS  += $(SAN)
LDLIBS   := $(PKG_LIBS) -lIPSec_MB $(EV_LIBS) -ldl -lpthread -lm

ifneq ($(SAN),)
BUILD := build/asan
endif

common_SRCS := $(wildcard common/*.c common/ops/*.c)
ipc_SRCS    := $(wildcard ipc/*.c)
engine_SRCS := $(wildcard engine/*.c)
LIB_COMMON  := $(BUILD)/lib/libdwcp_common.a
LIB_IPC     := $(BUILD)/lib/libdwcp_ipc.a
LIB_ENGINE  := $(BUILD)/lib/libdwcp_engine.a
LIBS        := $(LIB_ENGINE) $(LIB_IPC) $(LIB_COMMON)

SERVICES    := svc-net svc-rdma svc-gpu svc-simd svc-mem svc-prof
BINS        := $(BUILD)/bin/dwcp-supervisor $(BUILD)/bin/dwcpctl $(BUILD)/bin/dwcp \
               $(addprefix $(BUILD)/bin/,$(SERVICES)) $(BUILD)/bin/dwcp-bench-gpu

sup_SRCS    := $(filter-out svc-supervisor/dwcpctl.c svc-supervisor/tune.c svc-supervisor/doctor.c svc-supervisor/doctor_rdma.c,$(wildcard svc-supervisor/*.c))
ctl_SRCS    := svc-supervisor/dwcpctl.c svc-supervisor/ctl_cli.c svc-supervisor/tune.c \
               svc-supervisor/doctor.c svc-supervisor/doctor_rdma.c svc-supervisor/sup_config.c
cli_SRCS    := $(wildcard cli/*.c bench/*.c)

UNIT_SRCS   := $(wildcard tests/unit/*/*_test.c)
UNIT_BINS   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
INTEG_SRCS  := $(wildcard tests/integration/*_test.c)
INTEG_BINS  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(INTEG_SRCS))
# Helper binaries the integration tests start (e.g. a service built with
# another ABI version).
TESTBIN_SRCS := $(wildcard tests/bin/*.c)
TESTBINS    := $(patsubst tests/bin/%.c,$(BUILD)/tests/bin/%,$(TESTBIN_SRCS))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

.PHONY: all test unit integration model test-asan check clean bench
all: $(BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# SIMD variants: a file named *_avx2.c is built for AVX2 and only called
# after run-time dispatch (common/cpu.h) has seen the CPU has it.
$(BUILD)/obj/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -mavx2 -mbmi -mbmi2 -mfma -c $< -o $@

$(LIB_COMMON): $(call obj,$(common_SRCS))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(LIB_IPC): $(call obj,$(ipc_SRCS))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
# The chunk engine: the chunk ops every engine service runs on the CPU.
$(LIB_ENGINE): $(call obj,$(engine_SRCS))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/bin/dwcp-supervisor: $(call obj,$(sup_SRCS)) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(PORT_LIBS) $(LDLIBS)
$(BUILD)/bin/dwcpctl: $(call obj,$(ctl_SRCS)) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BUILD)/bin/dwcp: $(call obj,$(cli_SRCS)) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

define svc_rule
$(BUILD)/bin/$(1): $(call obj,$(wildcard $(1)/*.c)) $(LIBS)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) $$^ -o $$@ $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call svc_rule,$(s))))
$(BUILD)/bin/svc-rdma: LDLIBS += -lrdmacm

# svc-gpu's CUDA engine, when nvcc is there (/usr/local/cuda on our
# machines): sm_90 code plus PTX for later GPUs; the CUDA runtime linked
# statically, libcuda loaded from the driver at run time. Without nvcc
# svc-gpu links gpu_nocuda.c's weak stand-ins and says why it has no GPU.
CUDA_HOME ?= /usr/local/cuda
NVCC      ?= $(firstword $(wildcard $(CUDA_HOME)/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
ifneq ($(NVCC),)
CUDA_SRCS  := $(wildcard svc-gpu/kernels/*.cu)
CUDA_OBJS  := $(patsubst %.cu,$(BUILD)/obj/%.cu.o,$(CUDA_SRCS))
NVCCFLAGS  := -O2 -g -std=c++17 -I. -Xcompiler -Wall,-Wextra,-Werror \
	      -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
$(BUILD)/obj/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/bin/svc-gpu: $(CUDA_OBJS)
$(BUILD)/bin/svc-gpu: LDLIBS += -L$(CUDA_HOME)/lib64 -l:libcudart_static.a -lrt -lstdc++
GPU_TEST_OBJS := $(CUDA_OBJS)
GPU_TEST_LIBS := -L$(CUDA_HOME)/lib64 -l:libcudart_static.a -lrt -lstdc++
else
GPU_TEST_OBJS := $(BUILD)/obj/svc-gpu/gpu_nocuda.o
endif
# dwcp bench gpu's binary: the CUDA engine too (or the stand-ins: it says so).
$(BUILD)/bin/dwcp-bench-gpu: bench/gpu/bench_gpu.c $(BUILD)/obj/bench/bench_data.o $(GPU_TEST_OBJS) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(filter-out %.h,$^) -o $@ $(LDLIBS) $(GPU_TEST_LIBS)
-include $(BUILD)/bin/dwcp-bench-gpu.d
# The engine's known-answer tests: the CUDA engine, or the stand-ins that skip.
$(BUILD)/tests/unit/gpu/engine_test: $(GPU_TEST_OBJS)
$(BUILD)/tests/unit/gpu/engine_test: LDFLAGS += $(GPU_TEST_OBJS)
$(BUILD)/tests/unit/gpu/engine_test: LDLIBS += $(GPU_TEST_LIBS)
$(BUILD)/tests/unit/gpu/ops_test: $(GPU_TEST_OBJS)
$(BUILD)/tests/unit/gpu/ops_test: LDFLAGS += $(GPU_TEST_OBJS)
$(BUILD)/tests/unit/gpu/ops_test: LDLIBS += $(GPU_TEST_LIBS)
# svc-gpu's chunk side of its GPU path, held to the CPU engine's format.
$(BUILD)/tests/unit/gpu/gpu_chunk_test: $(BUILD)/obj/svc-gpu/gpu_chunk.o
$(BUILD)/tests/unit/gpu/gpu_chunk_test: LDFLAGS += $(BUILD)/obj/svc-gpu/gpu_chunk.o

# Shared helpers of the test suites (starting nodes, reading /proc, ...).
testlib_SRCS := $(wildcard tests/lib/*.c)
LIB_TEST    := $(BUILD)/lib/libdwcp_testlib.a
$(LIB_TEST): $(call obj,$(testlib_SRCS)) | $(LIBS)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/tests/%: tests/%.c $(LIB_TEST) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CRIT_CFLAGS) $(LDFLAGS) $< $(LIB_TEST) $(LIBS) -o $@ $(CRIT_LIBS) $(LDLIBS)
# frame.c is svc-net's, outside the libraries above; the rule links $(LDFLAGS) before them.
$(BUILD)/tests/unit/net/frame_test: $(BUILD)/obj/svc-net/frame.o
$(BUILD)/tests/unit/net/frame_test: LDFLAGS += $(BUILD)/obj/svc-net/frame.o
$(BUILD)/tests/unit/net/udp_test: $(BUILD)/obj/svc-net/udp.o
$(BUILD)/tests/unit/net/udp_test: LDFLAGS += $(BUILD)/obj/svc-net/udp.o
$(BUILD)/tests/unit/net/port_steer_test: $(BUILD)/obj/svc-net/udp.o
$(BUILD)/tests/unit/net/port_steer_test: LDFLAGS += $(BUILD)/obj/svc-net/udp.o
$(BUILD)/tests/unit/net/neigh_test: $(BUILD)/obj/svc-net/neigh.o
$(BUILD)/tests/unit/net/neigh_test: LDFLAGS += $(BUILD)/obj/svc-net/neigh.o
$(BUILD)/tests/unit/rdma/rc_auth_test: $(BUILD)/obj/svc-rdma/rc_auth.o
$(BUILD)/tests/unit/rdma/rc_auth_test: LDFLAGS += $(BUILD)/obj/svc-rdma/rc_auth.o
# The delta cache's logic is svc-mem's (its layout is ipc/dcache.h).
$(BUILD)/tests/unit/mem/dcache_test: $(BUILD)/obj/svc-mem/dcache.o
$(BUILD)/tests/unit/mem/dcache_test: LDFLAGS += $(BUILD)/obj/svc-mem/dcache.o
DGRAM_OBJS := $(BUILD)/obj/svc-net/dgram.o $(BUILD)/obj/svc-net/dgram_rate.o
$(BUILD)/tests/unit/net/dgram_test: $(DGRAM_OBJS)
$(BUILD)/tests/unit/net/dgram_test: LDFLAGS += $(DGRAM_OBJS)
# The trust tests speak the protocol themselves: svc-net's frames and proofs.
$(BUILD)/tests/integration/auth_test: $(BUILD)/obj/svc-net/frame.o $(BUILD)/obj/svc-net/auth.o
$(BUILD)/tests/integration/auth_test: LDFLAGS += $(BUILD)/obj/svc-net/frame.o $(BUILD)/obj/svc-net/auth.o
# recv_out.c is the dwcp command's, outside the libraries too.
RECV_FD_OBJS := $(BUILD)/obj/cli/recv_fd.o $(BUILD)/obj/cli/io_async.o $(BUILD)/obj/cli/file_read.o $(BUILD)/obj/cli/job_queue.o
$(BUILD)/tests/unit/cli/recv_out_test: $(BUILD)/obj/cli/recv_out.o $(RECV_FD_OBJS)
$(BUILD)/tests/unit/cli/recv_out_test: LDFLAGS += $(BUILD)/obj/cli/recv_out.o $(RECV_FD_OBJS)
$(BUILD)/tests/unit/cli/recv_fd_test: $(RECV_FD_OBJS)
$(BUILD)/tests/unit/cli/recv_fd_test: LDFLAGS += $(RECV_FD_OBJS)
$(BUILD)/tests/unit/cli/io_async_test: $(BUILD)/obj/cli/io_async.o
$(BUILD)/tests/unit/cli/io_async_test: LDFLAGS += $(BUILD)/obj/cli/io_async.o
$(BUILD)/tests/unit/cli/job_queue_test: $(BUILD)/obj/cli/job_queue.o
$(BUILD)/tests/unit/cli/job_queue_test: LDFLAGS += $(BUILD)/obj/cli/job_queue.o
$(BUILD)/tests/unit/cli/recv_base_test: $(BUILD)/obj/cli/recv_base.o $(RECV_FD_OBJS)
$(BUILD)/tests/unit/cli/recv_base_test: LDFLAGS += $(BUILD)/obj/cli/recv_base.o $(RECV_FD_OBJS)
$(BUILD)/tests/unit/cli/file_read_test: $(BUILD)/obj/cli/file_read.o $(BUILD)/obj/cli/io_async.o
$(BUILD)/tests/unit/cli/file_read_test: LDFLAGS += $(BUILD)/obj/cli/file_read.o $(BUILD)/obj/cli/io_async.o
$(BUILD)/tests/unit/cli/send_moves_test: $(BUILD)/obj/cli/send_moves.o
$(BUILD)/tests/unit/cli/send_moves_test: LDFLAGS += $(BUILD)/obj/cli/send_moves.o
$(BUILD)/tests/unit/cli/recv_inplace_test: $(BUILD)/obj/cli/recv_inplace.o $(BUILD)/obj/cli/recv_base.o $(RECV_FD_OBJS)
$(BUILD)/tests/unit/cli/recv_inplace_test: LDFLAGS += $(BUILD)/obj/cli/recv_inplace.o $(BUILD)/obj/cli/recv_base.o $(RECV_FD_OBJS)

$(BUILD)/tests/unit/cli/bench_compare_test: $(BUILD)/obj/bench/history.o
$(BUILD)/tests/unit/cli/bench_compare_test: LDFLAGS += $(BUILD)/obj/bench/history.o
# svc-prof's profiler, outside the libraries as well.
PROF_OBJS := $(BUILD)/obj/svc-prof/flame.o $(BUILD)/obj/svc-prof/symbols.o $(BUILD)/obj/svc-prof/sampler.o
$(BUILD)/tests/unit/prof/profile_test: $(PROF_OBJS)
$(BUILD)/tests/unit/prof/profile_test: LDFLAGS += $(PROF_OBJS)

# A service built with another ABI version, for the attach-refusal test.
$(BUILD)/tests/bin/svc-abi-mismatch: $(wildcard svc-prof/*.c) $(wildcard ipc/*.c) $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DDWCP_ABI_VERSION_OVERRIDE=9999 $(LDFLAGS) $(filter-out %.h,$^) -o $@ $(LDLIBS)

# Helper programs the integration tests run (consumers of a node's port, ...).
$(BUILD)/tests/bin/%: tests/bin/%.c $(LIBS) $(BUILD)/obj/svc-net/udp.o $(BUILD)/obj/svc-net/dgram.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(BUILD)/obj/svc-net/udp.o $(BUILD)/obj/svc-net/dgram.o $(LIBS) -o $@ $(LDLIBS)

unit: $(UNIT_BINS)
	@tests/run-unit.sh $(BUILD) $(UNIT_BINS)

# svc-rdma's verbs tests run inside a Soft-RoCE guest (tests/rdma/vm.sh):
# plain programs linking only what the guest's initramfs carries.
RDMA_TESTS  := $(BUILD)/tests/rdma/rc_loop
$(BUILD)/tests/rdma/rc_loop: tests/rdma/rc_loop.c $(call obj,svc-rdma/rc.c svc-rdma/rc_auth.c) $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(filter-out %.h,$^) -o $@ -libverbs -lrdmacm -lcrypto -lpthread
.PHONY: rdma
rdma: all $(RDMA_TESTS)
	@tests/rdma/vm.sh $(BUILD)

integration: all $(INTEG_BINS) $(BUILD)/tests/bin/svc-abi-mismatch $(TESTBINS)
	@tests/run-integration.sh $(BUILD) $(INTEG_BINS)

# Chaos (tests/chaos/): a 1 GiB transfer between two nodes while their
# services are killed and hung at random, CHAOS_EVENTS times (a long run:
# CHAOS_EVENTS=500 make chaos). The hang guard grows with the count.
CHAOS_SRCS  := $(wildcard tests/chaos/*_test.c)
CHAOS_BINS  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(CHAOS_SRCS))
CHAOS_EVENTS ?= 50
.PHONY: chaos
chaos: all $(CHAOS_BINS)
	@CHAOS_EVENTS=$(CHAOS_EVENTS) tests/run-criterion.sh chaos $(BUILD) $$((900 + 10 * $(CHAOS_EVENTS))) 1 $(CHAOS_BINS)

model:
	@tests/model/run.sh $(BUILD)

test: unit integration model

test-asan:
	$(MAKE) SAN="-fsanitize=address,undefined -fno-omit-frame-pointer" unit

check:
	@tests/check-style.sh

bench: all
	$(BUILD)/bin/dwcp bench handoff

clean:
	rm -rf build

# Test programs and helpers are compiled straight from their source: their
# .d files sit beside them (a header change must rebuild them too), which
# adds the headers to their prerequisites: recipes that link $^ filter
# them out.
-include $(shell find $(BUILD)/obj $(BUILD)/tests -name '*.d' 2>/dev/null)

# Fuzzing (tests/fuzz/): libFuzzer targets over the parsers that take bytes
# from a peer, a client or a file. Built apart from everything above, with
# clang and its sanitizers (the project's own cc build does not change),
# from the few sources each target needs. `make fuzz` builds them, replays
# the committed corpus and the regressions, then fuzzes each target for
# FUZZ_SECONDS (tests/fuzz/run.sh); `make fuzz-corpus` rewrites the seeds
# from the real encoders (tests/fuzz/gen_corpus.c).
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 30
FUZZ_BUILD   := build/fuzz
FUZZ_NAMES   := frame chunk hde config ctl_msg udp dgram
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
# -Wno-unknown-attributes: gcc-only attributes (optimize) in common/ops.
FUZZ_CFLAGS  := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wno-unknown-attributes -fno-strict-aliasing -fno-omit-frame-pointer \
                -I. $(filter-out -march=%,$(PKG_CFLAGS)) -march=x86-64-v2 $(FUZZ_SAN) -MMD -MP
FUZZ_LIBS    := $(shell pkg-config --libs libisal libxxhash)
fuzz_lib_SRCS := common/err.c common/cpu.c common/config.c common/netaddr.c \
                common/ops/crc32c.c common/ops/delta.c common/ops/delta_scan.c \
                common/ops/delta_avx2.c common/ops/xxh3.c common/ops/xxh3_avx2.c \
                ipc/abi.c ipc/chunk.c common/ops/hde.c ipc/ctl_msg.c svc-net/frame.c svc-net/udp.c \
                svc-net/dgram.c svc-net/dgram_rate.c ipc/port_steer.c
FUZZ_LIB     := $(FUZZ_BUILD)/libdwcp_fuzz.a
FUZZ_BINS    := $(patsubst %,$(FUZZ_BUILD)/%_fuzz,$(FUZZ_NAMES))
.PHONY: fuzz fuzz-build fuzz-corpus

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(FUZZ_BUILD)/obj/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -mavx2 -mbmi -mbmi2 -mfma -c $< -o $@
$(FUZZ_LIB): $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(fuzz_lib_SRCS))
	$(AR) rcs $@ $^
$(FUZZ_BUILD)/%_fuzz: tests/fuzz/%_fuzz.c tests/fuzz/fuzz_util.h $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_LIB) -o $@ $(FUZZ_LIBS)
$(FUZZ_BUILD)/gen_corpus: tests/fuzz/gen_corpus.c $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $< $(FUZZ_LIB) -o $@ $(FUZZ_LIBS)

fuzz-build: $(FUZZ_BINS)
fuzz:
	@FUZZ_CC=$(FUZZ_CC) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_NAMES)
fuzz-corpus: $(FUZZ_BUILD)/gen_corpus
	rm -rf $(addprefix tests/fuzz/corpus/,$(FUZZ_NAMES))
	$(FUZZ_BUILD)/gen_corpus tests/fuzz/corpus

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)

# Probe programs behind docs/dpdk-port.md (issue 10); not part of all or the tests.
dpdk-port-probe:
	$(MAKE) -C tools/dpdk-port-probe OUT=$(abspath $(BUILD))/tools/dpdk-port-probe
.PHONY: dpdk-port-probe
