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

} // namespace ql::bench
