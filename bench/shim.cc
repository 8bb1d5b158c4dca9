// Google Benchmark behind the C API of bench.h.
#include "bench.h"

#include <benchmark/benchmark.h>

#include <string>

struct mxbb_state {
  benchmark::State *st;
};

extern "C" void mxbb_register(const char *name, mxbb_fn fn, void *arg, int manual_time) {
  auto *b = benchmark::RegisterBenchmark(name, [fn, arg](benchmark::State &st) {
    mxbb_state s{&st};
    fn(&s, arg);
  });
  if (manual_time) b->UseManualTime();
  b->Unit(benchmark::kMicrosecond);
}

extern "C" int mxbb_keep_running(mxbb_state *s) { return s->st->KeepRunning() ? 1 : 0; }
extern "C" int64_t mxbb_iterations(mxbb_state *s) { return (int64_t)s->st->iterations(); }
extern "C" void mxbb_set_iteration_time(mxbb_state *s, double seconds) { s->st->SetIterationTime(seconds); }
extern "C" void mxbb_set_bytes_processed(mxbb_state *s, int64_t bytes) { s->st->SetBytesProcessed(bytes); }
extern "C" void mxbb_set_items_processed(mxbb_state *s, int64_t items) { s->st->SetItemsProcessed(items); }
extern "C" void mxbb_counter(mxbb_state *s, const char *name, double value, int is_rate) {
  s->st->counters[name] = benchmark::Counter(value, is_rate ? benchmark::Counter::kIsRate : benchmark::Counter::kDefaults);
}
extern "C" void mxbb_skip(mxbb_state *s, const char *reason) { s->st->SkipWithError(reason); }
extern "C" void mxbb_set_label(mxbb_state *s, const char *label) { s->st->SetLabel(label); }
extern "C" void mxbb_pause(mxbb_state *s) { s->st->PauseTiming(); }
extern "C" void mxbb_resume(mxbb_state *s) { s->st->ResumeTiming(); }
extern "C" void mxbb_add_context(const char *key, const char *value) { benchmark::AddCustomContext(key, value); }

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
