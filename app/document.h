#pragma once
// Document: the open model, its QuantPlan, the undo stack of plan edits and the calibration set
// bound to the model (if any).

#include "app/bound_calibration.h"
#include "core/io/model.h"
#include "core/quant/plan.h"

#include <QObject>
#include <QString>
#include <QUndoStack>

#include <optional>

namespace ql {

/// The spec a tensor gets under a plan, after fitting it to the tensor's shape.
struct ResolvedSpec {
    std::optional<QuantSpec> spec;  ///< nullopt: skipped (kept as stored) or not decodable
    bool skipped = false;
    bool fallback = false;          ///< the plan's spec did not fit this shape; `spec` is the fallback
    QString note;                   ///< why a fallback or skip happened
};

/// Resolves a plan for one tensor. The default spec's channel axis follows the tensor's own
/// output-channel axis (Keras Dense → 1); a spec that does not fit the shape (group size not
/// dividing, axis out of range) falls back to per-channel, then per-tensor, with a note.
ResolvedSpec resolveSpec(const QuantPlan& plan, const TensorInfo& info);

/// Gives a tensor the treatment it gets with no override: drops its exact override and exact skip
/// and, when a glob or regex override or a skip pattern would still apply to it, pins what the
/// default gives this tensor (the default spec with its channel axis, or kept as stored for a 1-D
/// tensor) by name; the patterns stay for the other tensors they match.
void resetToDefault(QuantPlan& plan, const TensorInfo& info);

class Document : public QObject {
    Q_OBJECT
public:
    explicit Document(QObject* parent = nullptr);

    /// Replaces the model (and plan); clears the undo stack.
    void setModel(ModelPtr model, const QString& path, const QuantPlan& plan);
    void close();
    const ModelPtr& model() const { return m_model; }
    bool hasModel() const { return static_cast<bool>(m_model); }
    QString path() const { return m_path; }

    const QuantPlan& plan() const { return m_plan; }
    /// Pushes a plan change on the undo stack (no-op if unchanged).
    void changePlan(const QuantPlan& next, const QString& text);
    /// Sets the plan without an undo entry (used by the undo commands).
    void setPlanDirect(const QuantPlan& plan);

    QUndoStack* undoStack() { return &m_undo; }
    ResolvedSpec specFor(std::size_t tensorIndex) const;

    /// The calibration set bound to the model (null: none). Cleared when the model changes.
    const CalibrationPtr& calibration() const { return m_calibration; }
    void setCalibration(CalibrationPtr calibration);
    /// Id of the calibration that feeds a tensor, 0 when none does (measurements record it).
    std::uint64_t calibrationIdFor(std::size_t tensorIndex) const;

signals:
    void modelChanged();
    void planChanged();
    void calibrationChanged();

private:
    ModelPtr m_model;
    QString m_path;
    QuantPlan m_plan;
    CalibrationPtr m_calibration;
    QUndoStack m_undo;
};

} // namespace ql
