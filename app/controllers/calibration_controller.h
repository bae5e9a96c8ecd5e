#pragma once
// CalibrationController: the calibration set picker. It offers "none", the demo's own set (when the
// open model is a bundled demo) and a file the user loaded, loads and binds the chosen set to the
// model on the task runner, cuts it to the chosen sample count, and hands the result to the
// Document, whose consumers (tensor analysis, background summary, tree) compute and show the
// layer-output error from it.

#include "app/bound_calibration.h"
#include "app/document.h"
#include "app/task_runner.h"

#include <QObject>
#include <QStringList>

#include <memory>

namespace ql {

class CalibrationController : public QObject {
    Q_OBJECT
public:
    enum class Source { None, Demo, File };

    CalibrationController(Document* doc, TaskRunner* runner, QObject* parent = nullptr);

    /// Entries of the picker in order: "none", "demo calibration set" (bundled demo models only),
    /// the name of the last file loaded (once there is one).
    QStringList sourceNames() const;
    /// Index into sourceNames() of the active set.
    int currentIndex() const;
    Source source() const { return m_source; }
    /// Activates an entry of sourceNames(); a set not in memory yet loads in the background.
    void choose(int index);
    /// The demo's own set, if the model is a bundled demo (false otherwise).
    bool chooseDemo();
    /// Loads a calibration set (safetensors, .npz, .h5, or a folder of NAME.npy files; a .npy
    /// file stands for its folder) in the background and binds it to the model.
    void loadFile(const QString& path);

    /// Uses the first n samples of the set (≤ 0 or more than there are: all).
    void setSampleCount(int n);
    /// Samples in use and available (0 when no set is active).
    int sampleCount() const;
    int availableSamples() const;
    bool hasDemoSet() const { return !m_demoPath.isEmpty(); }
    bool isLoading() const { return m_slot->isRunning(); }
    JobSlot* slot() const { return m_slot; }
    void cancel();

signals:
    /// The entries, the active one or the sample range changed: the picker should redraw.
    void sourcesChanged();
    /// A set is bound (description: source, samples, layers).
    void calibrationReady(const QString& description);
    void failed(const QString& message);

private:
    /// A set in memory at its full sample count, with its bindings to the model.
    struct Held {
        std::shared_ptr<const calib::CalibrationSet> full;
        std::vector<calib::LayerBinding> bindings;
    };
    struct Loaded {
        Held held;
        CalibrationPtr bound;  ///< cut to the sample count
    };
    void onModelChanged();
    Held* held(Source source);
    void load(Source source, const QString& path);
    /// Cuts a held set to the sample count in the background and makes it the active one.
    void bind(Source source, const Held& held);
    void activate(Source source, const CalibrationPtr& bound);
    QString nameOf(Source source) const;

    Document* m_doc;
    JobSlot* m_slot;
    QString m_demoPath;  ///< the demo's *_calibration.safetensors, empty for other models
    QString m_filePath;  ///< the last user file loaded
    Source m_source = Source::None;
    Held m_demoSet, m_fileSet;  ///< empty until loaded
    int m_samples = 0;  ///< requested count, 0 = all
};

} // namespace ql
