#pragma once
// TaskRunner: the one place background work starts. It owns a QThreadPool with a single thread
// (one heavy task at a time, because each task brings its own OpenMP team) and adapts Qt-free
// ql::TaskContext (cancel, progress) to QPromise.
//
// JobSlot: one per purpose (the tensor views, the trade-off sweep ...). Each start() gets a new
// generation number, cancels the previous job, and delivers only the result of the newest job.

#include "core/base/task_context.h"

#include <QFuture>
#include <QFutureWatcher>
#include <QObject>
#include <QPromise>
#include <QThreadPool>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <functional>
#include <memory>

namespace ql {

class TaskRunner : public QObject {
    Q_OBJECT
public:
    explicit TaskRunner(QObject* parent = nullptr);
    ~TaskRunner() override;

    /// Runs fn(ctx) on the heavy pool. The context's isCancelled follows QFuture::cancel(), progress
    /// goes to QFuture progress in 0..1000. `fn` must capture snapshots only (no widgets).
    template <typename R>
    QFuture<R> run(std::function<R(TaskContext&)> fn)
    {
        return QtConcurrent::run(&m_pool, [fn = std::move(fn)](QPromise<R>& promise) {
            promise.setProgressRange(0, 1000);
            if (promise.isCanceled())
                return;
            TaskContext ctx;
            ctx.isCancelled = [&promise] { return promise.isCanceled(); };
            ctx.reportProgress = [&promise](std::int64_t done, std::int64_t total) {
                promise.setProgressValue(static_cast<int>(1000 * done / std::max<std::int64_t>(total, 1)));
            };
            promise.addResult(fn(ctx));
        });
    }

    QThreadPool* pool() { return &m_pool; }
    /// Cancels queued and running work and waits for it (used on shutdown).
    void shutdown();

private:
    QThreadPool m_pool;
};

/// Tracks the newest job of one purpose. Results of older generations and cancelled jobs are
/// dropped; `finished` is emitted on the GUI thread only for the current generation.
class JobSlot : public QObject {
    Q_OBJECT
public:
    explicit JobSlot(TaskRunner* runner, QObject* parent = nullptr);

    /// Starts a job, cancelling the previous one. `deliver` runs on the GUI thread with the result
    /// if this job is still the newest when it ends. Returns the generation number.
    template <typename R>
    quint64 start(std::function<R(TaskContext&)> fn, std::function<void(R)> deliver)
    {
        cancel();
        const quint64 gen = ++m_generation;
        auto* watcher = new QFutureWatcher<R>(this);
        m_cancelCurrent = [watcher] { watcher->future().cancel(); };
        connect(watcher, &QFutureWatcher<R>::progressValueChanged, this, [this, gen](int v) {
            if (gen == m_generation)
                emit progress(v);
        });
        connect(watcher, &QFutureWatcher<R>::finished, this, [this, watcher, gen, deliver = std::move(deliver)] {
            watcher->deleteLater();
            const bool current = gen == m_generation;
            if (current) {
                m_running = false;
                m_cancelCurrent = nullptr;
            }
            if (!current || watcher->future().isCanceled() || watcher->future().resultCount() == 0) {
                ++m_dropped;
                emit dropped(gen);
                if (current)
                    emit idle();
                return;
            }
            deliver(watcher->future().result());
            emit delivered(gen);
            emit idle();
        });
        m_running = true;
        watcher->setFuture(m_runner->run<R>(std::move(fn)));
        emit started(gen);
        return gen;
    }

    /// Cancels the current job (its result will be dropped).
    void cancel();
    bool isRunning() const { return m_running; }
    quint64 generation() const { return m_generation; }
    int droppedCount() const { return m_dropped; }

signals:
    void started(quint64 generation);
    void progress(int permille);
    void delivered(quint64 generation);
    void dropped(quint64 generation);
    /// No job of this slot is running any more (delivered, dropped or cancelled).
    void idle();

private:
    TaskRunner* m_runner;
    quint64 m_generation = 0;
    bool m_running = false;
    int m_dropped = 0;
    std::function<void()> m_cancelCurrent;
};

} // namespace ql
