#include "core/base/task_context.h"

#include <algorithm>
#include <omp.h>

namespace ql {

TaskContext& TaskContext::none()
{
    static thread_local TaskContext ctx;
    return ctx;
}

ProgressTracker::ProgressTracker(const TaskContext& ctx, std::int64_t total)
    : m_ctx(ctx), m_total(std::max<std::int64_t>(total, 1)), m_step(std::max<std::int64_t>(m_total / 100, 1))
{
    if (m_ctx.cancelled())
        m_cancelled = true;
}

void ProgressTracker::advance(std::int64_t n)
{
    m_done.fetch_add(n, std::memory_order_relaxed);
    if (omp_get_thread_num() == 0)
        poll();
}

bool ProgressTracker::stopRequested()
{
    if (omp_get_thread_num() == 0 && !m_cancelled.load(std::memory_order_relaxed) && m_ctx.cancelled())
        m_cancelled = true;
    return m_cancelled.load(std::memory_order_relaxed);
}

void ProgressTracker::poll()
{
    const std::int64_t done = m_done.load(std::memory_order_relaxed);
    if (done - m_lastReported.load(std::memory_order_relaxed) >= m_step) {
        m_lastReported = done;
        m_ctx.progress(std::min(done, m_total), m_total);
        if (m_ctx.cancelled())
            m_cancelled = true;
    }
}

void ProgressTracker::finish()
{
    m_ctx.progress(std::min(m_done.load(), m_total), m_total);
}

} // namespace ql
