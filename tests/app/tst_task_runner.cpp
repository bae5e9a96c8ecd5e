// TaskRunner and JobSlot: results delivered on the GUI thread, one heavy thread, cancellation
// mid-run, and stale results of older generations dropped.

#include "app/task_runner.h"

#include <QSignalSpy>
#include <QTest>
#include <QThread>

#include <atomic>
#include <chrono>
#include <thread>

using namespace ql;

class TstTaskRunner : public QObject {
    Q_OBJECT
private slots:
    void singleHeavyThread()
    {
        TaskRunner runner;
        QCOMPARE(runner.pool()->maxThreadCount(), 1);
    }

    void deliversOnGuiThread()
    {
        TaskRunner runner;
        JobSlot slot(&runner);
        QSignalSpy delivered(&slot, &JobSlot::delivered);
        int got = 0;
        QThread* deliveredOn = nullptr;
        QThread* ranOn = nullptr;
        slot.start<int>(
            [&ranOn](TaskContext&) {
                ranOn = QThread::currentThread();
                return 42;
            },
            [&](int v) {
                got = v;
                deliveredOn = QThread::currentThread();
            });
        QVERIFY(slot.isRunning());
        QTRY_COMPARE(delivered.count(), 1);
        QCOMPARE(got, 42);
        QCOMPARE(deliveredOn, QThread::currentThread());
        QVERIFY(ranOn != QThread::currentThread());
        QVERIFY(!slot.isRunning());
    }

    void progressReported()
    {
        TaskRunner runner;
        JobSlot slot(&runner);
        QSignalSpy progress(&slot, &JobSlot::progress);
        QSignalSpy delivered(&slot, &JobSlot::delivered);
        slot.start<int>(
            [](TaskContext& ctx) {
                for (int i = 1; i <= 4; ++i) {
                    ctx.progress(i, 4);
                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
                }
                return 1;
            },
            [](int) {});
        QTRY_COMPARE(delivered.count(), 1);
        QVERIFY(progress.count() >= 1);
        QCOMPARE(progress.last().at(0).toInt(), 1000);
    }

    void cancelMidRun()
    {
        TaskRunner runner;
        JobSlot slot(&runner);
        QSignalSpy delivered(&slot, &JobSlot::delivered);
        QSignalSpy dropped(&slot, &JobSlot::dropped);
        std::atomic<bool> started{false}, sawCancel{false};
        bool deliveredCalled = false;
        slot.start<int>(
            [&](TaskContext& ctx) {
                started = true;
                const auto t0 = std::chrono::steady_clock::now();
                while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10)) {
                    if (ctx.cancelled()) {
                        sawCancel = true;
                        return -1;
                    }
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                }
                return 7;
            },
            [&](int) { deliveredCalled = true; });
        QTRY_VERIFY(started.load());
        QElapsedTimer timer;
        timer.start();
        slot.cancel();
        QVERIFY(!slot.isRunning());
        QTRY_VERIFY(sawCancel.load());
        QVERIFY2(timer.elapsed() < 2000, "the job should notice the cancel within a poll");
        QTRY_COMPARE(dropped.count(), 1);
        QCOMPARE(delivered.count(), 0);
        QVERIFY(!deliveredCalled);
    }

    void staleResultsDropped()
    {
        TaskRunner runner;
        JobSlot slot(&runner);
        QSignalSpy delivered(&slot, &JobSlot::delivered);
        QSignalSpy dropped(&slot, &JobSlot::dropped);
        std::vector<int> got;
        // Generation 1 ignores cancellation and finishes late; generations 2 and 3 follow at once.
        const quint64 g1 = slot.start<int>(
            [](TaskContext&) {
                std::this_thread::sleep_for(std::chrono::milliseconds(150));
                return 1;
            },
            [&](int v) { got.push_back(v); });
        const quint64 g2 = slot.start<int>([](TaskContext&) { return 2; }, [&](int v) { got.push_back(v); });
        const quint64 g3 = slot.start<int>([](TaskContext&) { return 3; }, [&](int v) { got.push_back(v); });
        QVERIFY(g1 < g2 && g2 < g3);
        QCOMPARE(slot.generation(), g3);
        QTRY_COMPARE(delivered.count(), 1);
        QTRY_COMPARE(dropped.count(), 2);
        QCOMPARE(got, std::vector<int>{3});
        QCOMPARE(delivered.first().at(0).toULongLong(), g3);
        // Nothing else arrives later.
        QTest::qWait(200);
        QCOMPARE(got.size(), std::size_t(1));
    }

    void twoSlotsIndependent()
    {
        TaskRunner runner;
        JobSlot a(&runner), b(&runner);
        int ra = 0, rb = 0;
        a.start<int>([](TaskContext&) { return 10; }, [&](int v) { ra = v; });
        b.start<int>([](TaskContext&) { return 20; }, [&](int v) { rb = v; });
        QTRY_COMPARE(ra, 10);
        QTRY_COMPARE(rb, 20);
    }

    void shutdownWithQueuedWork()
    {
        auto* runner = new TaskRunner;
        JobSlot slot(runner);
        for (int i = 0; i < 5; ++i)
            slot.start<int>(
                [](TaskContext&) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(20));
                    return 0;
                },
                [](int) {});
        runner->shutdown();
        delete runner;  // must not hang or crash
    }
};

QTEST_MAIN(TstTaskRunner)
#include "tst_task_runner.moc"
