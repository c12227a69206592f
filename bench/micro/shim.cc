/* SPDX-License-Identifier: Apache-2.0
 * The C++ side of the micro-benchmark shim (see shim.h): Google Benchmark's State and
 * registration behind a C API, and main().  Nothing else in bench/micro is C++. */
#include "shim.h"

#include <cstdarg>
#include <cstdio>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

namespace {

bool g_failed;                   // a check failed: exit 1

benchmark::State &
S(struct wb_state *st)
{
	return *reinterpret_cast<benchmark::State *>(st);
}

const benchmark::State &
S(const struct wb_state *st)
{
	return *reinterpret_cast<const benchmark::State *>(st);
}

benchmark::internal::Benchmark *
B(struct wb_bench *b)
{
	return reinterpret_cast<benchmark::internal::Benchmark *>(b);
}

std::string
vformat(const char *fmt, va_list ap)
{
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	return buf;
}

} // namespace

extern "C" {

struct wb_bench *
wb_register(const char *name, wb_fn fn)
{
	auto *b = benchmark::RegisterBenchmark(name, [fn](benchmark::State &st) {
		fn(reinterpret_cast<struct wb_state *>(&st));
	});
	return reinterpret_cast<struct wb_bench *>(b);
}

void
wb_args(struct wb_bench *b, const int64_t *args, int nargs)
{
	B(b)->Args(std::vector<int64_t>(args, args + nargs));
}

void
wb_arg_names(struct wb_bench *b, const char *const *names, int n)
{
	B(b)->ArgNames(std::vector<std::string>(names, names + n));
}

void
wb_min_time(struct wb_bench *b, double seconds)
{
	if (seconds > 0)
		B(b)->MinTime(seconds);
}

void
wb_min_warmup(struct wb_bench *b, double seconds)
{
	if (seconds > 0)
		B(b)->MinWarmUpTime(seconds);
}

void
wb_iterations_fixed(struct wb_bench *b, int64_t n)
{
	B(b)->Iterations(n);
}

void
wb_unit(struct wb_bench *b, int unit)
{
	static const benchmark::TimeUnit u[] = { benchmark::kNanosecond, benchmark::kMicrosecond,
						 benchmark::kMillisecond };
	B(b)->Unit(u[unit < 0 || unit > 2 ? 0 : unit]);
}

void
wb_real_time(struct wb_bench *b)
{
	B(b)->UseRealTime();
}

int
wb_keep_running(struct wb_state *st)
{
	return S(st).KeepRunning();
}

int64_t
wb_range(const struct wb_state *st, int i)
{
	return S(st).range(static_cast<size_t>(i));
}

int64_t
wb_iterations(const struct wb_state *st)
{
	return static_cast<int64_t>(S(st).iterations());
}

void
wb_set_items(struct wb_state *st, int64_t items)
{
	S(st).SetItemsProcessed(items);
}

void
wb_set_bytes(struct wb_state *st, int64_t bytes)
{
	S(st).SetBytesProcessed(bytes);
}

void
wb_counter(struct wb_state *st, const char *name, double v)
{
	S(st).counters[name] = benchmark::Counter(v);
}

void
wb_counter_rate(struct wb_state *st, const char *name, double v)
{
	S(st).counters[name] = benchmark::Counter(v, benchmark::Counter::kIsRate);
}

void
wb_pause(struct wb_state *st)
{
	S(st).PauseTiming();
}

void
wb_resume(struct wb_state *st)
{
	S(st).ResumeTiming();
}

void
wb_label(struct wb_state *st, const char *label)
{
	S(st).SetLabel(label);
}

void
wb_skip(struct wb_state *st, const char *why)
{
	std::string m = std::string("skipped: ") + why;
	S(st).SkipWithError(m.c_str());
}

void
wb_fail(struct wb_state *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	std::string m = "CHECK FAILED: " + vformat(fmt, ap);
	va_end(ap);
	fprintf(stderr, "micro-bench: %s\n", m.c_str());
	g_failed = true;
	if (!S(st).error_occurred())
		S(st).SkipWithError(m.c_str());
}

void
wb_fail_run(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	std::string m = vformat(fmt, ap);
	va_end(ap);
	fprintf(stderr, "micro-bench: CHECK FAILED: %s\n", m.c_str());
	g_failed = true;
}

} // extern "C"

int
main(int argc, char **argv)
{
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 2;
	wb_register_all();
	benchmark::RunSpecifiedBenchmarks();
	wb_finish_all();
	benchmark::Shutdown();
	if (g_failed)
		fprintf(stderr, "micro-bench: FAILED (a benchmark's check did not hold)\n");
	return g_failed ? 1 : 0;
}
