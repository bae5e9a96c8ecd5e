#pragma once
// TradeoffController: the background error-vs-bits sweep of the current tensor (or the whole
// model), restarted when the tensor or the model changes, and the current choice. A sweep runs as
// a chain of small tasks (a few specs, or one tensor, or one accuracy evaluation each) that yield
// between them, so the current tensor's views never wait behind a whole sweep. For a bundled demo
// model, each whole-model point also gets the demo's test accuracy under that point's specs.
//
// The current choice is marked: in tensor scope the spec the current tensor's analysis used, in
// whole-model scope the current plan, measured like the sweep's points (same tensors, subsample and
// pooling) by its own short chain of tasks that reruns on every plan edit without redoing the sweep.
// With a calibration set that feeds the current tensor, tensor-scope points carry the layer-output
// error as well.

#include "app/document.h"
#include "app/model_loader.h"
#include "app/task_runner.h"
#include "app/controllers/sweep.h"
#include "widgets/plot_data.h"

#include <QObject>

#include <memory>
#include <optional>

namespace ql {

class TensorController;

class TradeoffController : public QObject {
    Q_OBJECT
public:
    enum class Scope { Tensor, Model };

    TradeoffController(Document* doc, TensorController* tensors, TaskRunner* runner, QObject* parent = nullptr);

    void setScope(Scope s);
    Scope scope() const { return m_scope; }
    /// Only sweeps while active (the Trade-off tab is visible); a pending sweep starts on activation.
    void setActive(bool active);
    const TradeoffData& data() const { return m_data; }
    JobSlot* slot() const { return m_slot; }
    void setMaxElements(std::int64_t n) { m_maxElements = n; }
    /// True from the start of a sweep until its last piece (accuracy included) is in.
    bool isSweeping() const { return m_sweeping; }
    /// Tasks the current sweep has started so far (tests check the sweep runs in pieces).
    int piecesStarted() const { return m_pieces; }
    /// True while the current plan's whole-model point is being measured.
    bool isMeasuringPlan() const { return m_planMeasuring; }
    JobSlot* planSlot() const { return m_planSlot; }
    /// Stops the sweep and the plan point where they are; they run again on the next scope,
    /// tensor or model change (or plan edit, for the plan point).
    void cancel();

signals:
    void dataReady(const ql::TradeoffData& data);
    void statusChanged(const QString& text);
    /// The sweep is complete (every point, and test accuracy where there is one).
    void sweepFinished();
    /// The current plan's whole-model point is complete (accuracy included for a demo model).
    void planPointReady();
    /// Progress of the running sweep in 0..1000 (pieces done of the pieces it will run).
    void progressChanged(int permille);

private:
    using Step = void (TradeoffController::*)();
    void invalidate();
    void start();
    void updateCurrent();
    void stepTensor();
    void stepModel();
    void stepAccuracy();
    /// (Re)measures the current plan's point in whole-model scope.
    void startPlan();
    void stepPlan();
    void stepPlanAccuracy();
    /// Runs `step` after the event loop had a turn, unless the plan point restarted meanwhile.
    void yieldPlanThen(Step step);
    /// Loads the bundled demo (its test set) on `slot` once, then runs `step` through `yield`.
    bool needDemo(JobSlot* slot, void (TradeoffController::*yield)(Step), Step step);
    /// Runs `step` after the event loop had a turn: queued work of the current tensor goes first.
    void yieldThen(Step step);
    void finish(const QString& status);
    /// Starts one piece of the sweep on the slot.
    template <typename R>
    void startPiece(std::function<R(TaskContext&)> fn, std::function<void(R)> deliver)
    {
        ++m_pieces;
        m_slot->start<R>(std::move(fn), std::move(deliver));
    }

    Document* m_doc;
    TensorController* m_tensors;
    JobSlot* m_slot;
    Scope m_scope = Scope::Tensor;
    bool m_active = false;
    bool m_stale = true;
    bool m_sweeping = false;
    quint64 m_run = 0;  ///< bumped by every start and invalidation; pending steps of older runs stop
    int m_pieces = 0;
    TradeoffData m_data;
    std::int64_t m_maxElements = std::int64_t(1) << 18;
    std::int64_t m_modelElements = std::int64_t(1) << 16;

    // The running sweep's inputs and position.
    std::shared_ptr<const Tensor> m_tensorData;
    std::vector<SweepSpec> m_specs;
    std::size_t m_nextSpec = 0;
    AnalysisCalibration m_calibration;  ///< empty unless the bound set feeds the current tensor
    ModelPtr m_model;
    Granularity m_granularity;
    std::optional<ModelSweep> m_modelSweep;
    std::size_t m_nextTensor = 0;
    std::size_t m_nextPoint = 0;
    std::optional<BundledDemo> m_demoFiles;          ///< the open model is this bundled demo
    std::shared_ptr<const nn::DemoModel> m_demo;     ///< loaded on the first accuracy piece

    // The current plan's whole-model point: its own slot, so a plan edit restarts only this.
    JobSlot* m_planSlot;
    quint64 m_planRun = 0;
    bool m_planStale = true;
    bool m_planMeasuring = false;
    std::vector<ResolvedSpec> m_planSpecs;  ///< per model tensor, snapshotted when the pass starts
    std::size_t m_nextPlanTensor = 0;
    PooledPoint m_planPooled;
};

} // namespace ql
