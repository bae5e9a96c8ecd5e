#include "app/task_runner.h"

namespace ql {

TaskRunner::TaskRunner(QObject* parent) : QObject(parent)
{
    m_pool.setMaxThreadCount(1);
    m_pool.setObjectName(QStringLiteral("QuantLens heavy pool"));
}

TaskRunner::~TaskRunner()
{
    shutdown();
}

void TaskRunner::shutdown()
{
    m_pool.clear();
    m_pool.waitForDone();
}

JobSlot::JobSlot(TaskRunner* runner, QObject* parent) : QObject(parent), m_runner(runner) {}

void JobSlot::cancel()
{
    if (m_cancelCurrent)
        m_cancelCurrent();
    m_cancelCurrent = nullptr;
    if (m_running) {
        m_running = false;
        ++m_generation;  // whatever the old job returns is stale now
        emit idle();
    }
}

} // namespace ql
