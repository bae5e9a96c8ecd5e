#pragma once
// Shared benchmark helpers: wall-clock timing, the machine's measured memory bandwidth, output.

#include <cstdint>
#include <functional>
#include <string>

namespace ql::bench {

/// Seconds since an arbitrary epoch (steady clock).
double now();

/// Runs fn() `reps` times after one warm-up and returns the best (minimum) time in seconds.
double bestOf(int reps, const std::function<void()>& fn);
/// The best time of fn over at least `reps` runs and at least `seconds` of running (after one
/// warm-up run): on a shared machine a neighbour's burst can cover a few consecutive short runs.
double bestOfFor(int reps, double seconds, const std::function<void()>& fn);

/// Read-only memory bandwidth in bytes/s: a parallel sum over a 512 MiB buffer (all threads),
/// best of several runs. This is the denominator of every "× bandwidth" ratio.
double measureReadBandwidth();
/// Copy bandwidth in bytes/s (read + write counted as bytes copied, i.e. the read side).
double measureCopyBandwidth();

/// Peak resident set size of this process in bytes (from /proc/self/status VmHWM).
std::int64_t peakRssBytes();
/// Current resident set size in bytes.
std::int64_t currentRssBytes();

/// Human-readable bytes/s ("28.4 GB/s").
std::string gbps(double bytesPerSecond);

/// Writes a sharded safetensors checkpoint with Llama-7B shapes (32 layers, hidden 4096, intermediate
/// 11008, vocab 32000, F16, about 13.5 GB) into `dir` as sparse files: real headers and index, the data
/// regions are holes, so it costs no disk. Returns the total data bytes; exits with a message if it
/// cannot write.
std::uint64_t writeSparseLlama7b(const std::string& dir, int nShards);

} // namespace ql::bench
