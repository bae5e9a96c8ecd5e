#pragma once
// Qt-free cancellation and progress for long core computations.

#include <atomic>
#include <cstdint>
#include <functional>

namespace ql {

/// Two optional callbacks handed to long-running core functions.
/// Both are only ever invoked on the thread that called the core function (the OpenMP
/// master thread), so adapters (QPromise, a CLI progress line) need no locking.
struct TaskContext {
    std::function<bool()> isCancelled;                                      ///< true: stop soon
    std::function<void(std::int64_t done, std::int64_t total)> reportProgress;  ///< units are the callee's

    bool cancelled() const { return isCancelled && isCancelled(); }
    void progress(std::int64_t done, std::int64_t total) const
    {
        if (reportProgress)
            reportProgress(done, total);
    }
    /// A context that never cancels and reports nothing.
    static TaskContext& none();
};

/// Shared progress/cancel state for one parallel computation.
/// Worker threads call advance() and stopRequested(); only the calling (master) thread touches the
/// TaskContext callbacks, at most about every 1% of the work.
class ProgressTracker {
public:
    ProgressTracker(const TaskContext& ctx, std::int64_t total);

    /// Adds `n` units of finished work. Thread-safe.
    void advance(std::int64_t n);
    /// True once cancellation was observed. Thread-safe; polls the callback on the master thread.
    bool stopRequested();
    /// Reports the final state (call after the parallel region).
    void finish();

private:
    void poll();

    const TaskContext& m_ctx;
    std::int64_t m_total;
    std::int64_t m_step;
    std::atomic<std::int64_t> m_done{0};
    std::atomic<std::int64_t> m_lastReported{0};
    std::atomic<bool> m_cancelled{false};
};

} // namespace ql
