// The main window end to end on the offscreen platform: open a model, select a tensor, change
// bits and granularity through the spec editor's widgets, undo/redo, and check the data handed to
// each view (levels, clip range, histogram totals, error split); a malformed file leaves the app usable.

#include "../app/fixture_model.h"
#include "app/controllers/calibration_controller.h"
#include "app/controllers/compare_controller.h"
#include "app/controllers/summary_controller.h"
#include "app/controllers/tensor_controller.h"
#include "app/controllers/tradeoff_controller.h"
#include "app/main_window.h"
#include "app/models/compare_table_model.h"
#include "app/models/model_tree_model.h"
#include "app/models/tensor_filter_proxy.h"
#include "app/model_loader.h"
#include "core/calib/calibration.h"
#include "core/io/npy.h"
#include "core/io/safetensors.h"
#include "core/nn/demo.h"
#include "core/quant/format_traits.h"
#include "core/quant/quantize.h"
#include "widgets/channels_view.h"
#include "widgets/compare_view.h"
#include "widgets/distribution_view.h"
#include "widgets/error_view.h"
#include "widgets/heatmap_view.h"
#include "widgets/plot_widget.h"
#include "widgets/spec_editor.h"
#include "widgets/summary_view.h"
#include "widgets/tradeoff_view.h"

#include <QAbstractItemModelTester>
#include <QComboBox>
#include <QDir>
#include <QLabel>
#include <QFile>
#include <QLineEdit>
#include <QMenu>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QSignalSpy>
#include <QSlider>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeView>
#include <QUndoStack>

#include <cmath>

using namespace ql;

namespace {

/// Waits until the current tensor's analysis matches its plan spec.
bool waitForAnalysis(MainWindow& w, int timeoutMs = 15000)
{
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < timeoutMs) {
        auto a = w.tensorController()->analysis();
        const ResolvedSpec rs = w.tensorController()->currentSpec();
        if (a && rs.spec && a->spec == *rs.spec && !w.tensorController()->busy())
            return true;
        QTest::qWait(10);
    }
    return false;
}

/// The tree's layer-output error of a tensor (NaN when it shows none).
double treeLayerError(const MainWindow& w, std::size_t tensor)
{
    return w.treeModel()->indexOfTensor(tensor).siblingAtColumn(ModelTreeModel::LayerError).data(ModelTreeModel::ValueRole).toDouble();
}

/// Chooses an entry of the spec editor's calibration picker as a user does.
void pickCalibration(MainWindow& w, int index)
{
    QComboBox* combo = w.specEditor()->calibrationCombo();
    combo->setCurrentIndex(index);
    emit combo->activated(index);
}

/// ‖XWᵀ − XŴᵀ‖/‖XWᵀ‖ of a model tensor under its plan spec on the first `samples` of a set, straight from core.
double coreLayerError(MainWindow& w, std::size_t tensor, const calib::CalibrationSet& set, const std::string& layer,
                      std::int64_t samples)
{
    const Tensor x = *w.document()->model()->readTensor(tensor, TaskContext::none());
    const QuantResult r = *quantize(x.view(), *w.document()->specFor(tensor).spec, QuantOptions{}, TaskContext::none());
    const calib::CalibrationSet cut = set.firstSamples(samples);
    return *calib::layerOutputError(cut.find(layer)->samples.view(), x.view(), r.dequant.data());
}

bool openDemoAndWait(MainWindow& w)
{
    QSignalSpy opened(&w, &MainWindow::modelOpened);
    if (!w.openDemo())
        return false;
    return opened.wait(20000) && waitForAnalysis(w);
}

} // namespace

class TstMainWindow : public QObject {
    Q_OBJECT
private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QSettings(QStringLiteral("QuantLens"), QStringLiteral("QuantLens")).clear();
    }
    void init()
    {
        // Each case starts from the built-in default spec, not the last one a previous case saved.
        QSettings(QStringLiteral("QuantLens"), QStringLiteral("QuantLens")).clear();
    }

    void editorDrivesViews()
    {
        MainWindow w;
        w.show();
        QAbstractItemModelTester tester(w.treeModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        w.setModel(test::makeFixtureModel(), QStringLiteral("fixture.safetensors"));
        // The first rank-2 tensor is selected and analysed.
        QTRY_COMPARE(w.tensorController()->currentTensor(), 0);
        QVERIFY(waitForAnalysis(w));
        SpecEditor* ed = w.specEditor();
        // Default: INT 4-bit asymmetric per-channel min-max.
        QCOMPARE(ed->bitsSpin()->value(), 4);
        const DistributionData& d0 = w.distributionView()->data();
        QCOMPARE(d0.hist.total(), qint64(64 * 128));
        QCOMPARE(int(d0.levels.size()), 16);
        QVERIFY(d0.hasClip);

        // Bits 4 → 5 with the spin box's arrow key.
        ed->bitsSpin()->setFocus();
        QTest::keyClick(ed->bitsSpin(), Qt::Key_Up);
        QCOMPARE(ed->bitsSlider()->value(), 5);
        QVERIFY(waitForAnalysis(w));
        QCOMPARE(w.tensorController()->analysis()->spec.bits, 5);
        QCOMPARE(int(w.distributionView()->data().levels.size()), 32);
        QCOMPARE(w.document()->undoStack()->count(), 1);
        const auto plan = w.document()->plan();
        QCOMPARE(plan.specFor("layers.0.attn.q_proj.weight")->bits, 5);
        QCOMPARE(plan.specFor("layers.0.attn.k_proj.weight")->bits, 4);  // other tensors keep the default

        // Symmetric via the radio button: levels symmetric about zero, zero point 0.
        QTest::mouseClick(ed->symmetricRadio(), Qt::LeftButton);
        QVERIFY(waitForAnalysis(w));
        QCOMPARE(w.tensorController()->analysis()->spec.scheme, Scheme::Symmetric);
        {
            const auto& lv = w.distributionView()->data().levels;
            QCOMPARE(int(lv.size()), 31);  // restricted range: −15 … 15
            QCOMPARE(lv.front(), -lv.back());
            QCOMPARE(w.distributionView()->data().zeroPointCode, 0.0);
        }

        // Granularity → per group (keyboard on the combo), group size 32 typed into the spin box.
        ed->granularityCombo()->setFocus();
        QTest::keyClick(ed->granularityCombo(), Qt::Key_Down);
        QCOMPARE(ed->granularityCombo()->currentIndex(), 2);
        QVERIFY(waitForAnalysis(w));
        ed->groupSizeSpin()->setFocus();
        ed->groupSizeSpin()->selectAll();
        QTest::keyClicks(ed->groupSizeSpin(), QStringLiteral("32"));
        QTest::keyClick(ed->groupSizeSpin(), Qt::Key_Return);
        QVERIFY(waitForAnalysis(w));
        auto a = w.tensorController()->analysis();
        QCOMPARE(a->spec.granularity.kind, GranularityKind::Group);
        QCOMPARE(a->spec.granularity.groupSize, qint64(32));
        QCOMPARE(a->result->layout.segments, qint64(64 * 128 / 32));
        QCOMPARE(w.tensorController()->analysis()->result->scales.size(), std::size_t(256));

        // Error view data: split adds up, histogram holds every element.
        const ErrorData& e = w.errorView()->data();
        QVERIFY(std::fabs(e.mse - (e.clipMse + e.roundMse)) <= 1e-12 + 1e-9 * e.mse);
        QCOMPARE(e.histErr.total(), qint64(64 * 128));
        QVERIFY(e.landscape.has_value());
        QVERIFY(!w.errorView()->splitText().isEmpty());
        // Channels: 64 rows with SQNR; heatmap: 64 × 128 cells with a hover text.
        QCOMPARE(w.channelsView()->data().size(), 64);
        QCOMPARE(w.heatmapView()->data().rows, 64);
        QVERIFY(!w.heatmapView()->hoverText(10.5, 3.5).isEmpty());

        // Undo / redo through the Edit menu actions (Ctrl+Z, Ctrl+Shift+Z).
        const int steps = w.document()->undoStack()->count();
        QVERIFY(steps >= 4);
        QAction* undo = nullptr;
        QAction* redo = nullptr;
        for (QAction* act : w.findChildren<QAction*>()) {
            if (act->shortcut() == QKeySequence(QKeySequence::Undo))
                undo = act;
            if (act->shortcut() == QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z))
                redo = act;
        }
        QVERIFY(undo && redo);
        undo->trigger();  // group size 32 → 128
        QVERIFY(waitForAnalysis(w));
        QCOMPARE(w.tensorController()->analysis()->spec.granularity.groupSize, qint64(128));
        QCOMPARE(ed->groupSizeSpin()->value(), 128);
        for (int i = 1; i < steps; ++i)
            undo->trigger();
        QVERIFY(waitForAnalysis(w));
        QCOMPARE(w.tensorController()->analysis()->spec.bits, 4);
        QCOMPARE(ed->bitsSpin()->value(), 4);
        QCOMPARE(int(w.distributionView()->data().levels.size()), 16);
        QVERIFY(!w.document()->plan().specFor("layers.0.attn.q_proj.weight") ||
                w.document()->plan().overrides.empty());
        redo->trigger();
        QVERIFY(waitForAnalysis(w));
        QCOMPARE(w.tensorController()->analysis()->spec.bits, 5);

        // Select another tensor: the editor follows its spec; apply to the selection of two.
        w.selectTensor(2);
        QTRY_COMPARE(w.tensorController()->currentTensor(), 2);
        QVERIFY(waitForAnalysis(w));
        QCOMPARE(ed->bitsSpin()->value(), 4);
        QCOMPARE(w.tensorController()->currentData()->shape, (Shape{128, 64}));
    }

    void applyToMatchingAndFilter()
    {
        MainWindow w;
        w.show();
        w.setModel(test::makeFixtureModel(), QStringLiteral("fixture.safetensors"));
        QVERIFY(waitForAnalysis(w));
        SpecEditor* ed = w.specEditor();
        QTest::keyClicks(w.filterEdit(), QStringLiteral("*mlp*"));
        QCOMPARE(w.treeProxy()->pattern(), QStringLiteral("*mlp*"));
        ed->patternEdit()->setText(QStringLiteral("*mlp*"));
        ed->bitsSpin()->blockSignals(true);
        ed->bitsSpin()->setValue(3);
        ed->bitsSpin()->blockSignals(false);
        // Emit through the button: the editor's spec with 3 bits applies to all matching tensors.
        QuantSpec s = ed->spec();
        s.bits = 3;
        ed->setSpec(s);
        QTest::mouseClick(ed->applyMatchingButton(), Qt::LeftButton);
        const QuantPlan& plan = w.document()->plan();
        QCOMPARE(int(plan.overrides.size()), 1);
        QCOMPARE(plan.overrides.front().kind, PatternKind::Glob);
        QCOMPARE(plan.specFor("layers.1.mlp.up_proj.weight")->bits, 3);
        QCOMPARE(plan.specFor("layers.1.attn.q_proj.weight")->bits, 4);
        // Status bar counts by format.
        QTRY_VERIFY(w.statusSizesText().contains(QStringLiteral("int3")));
        // "Apply to all matching" is one undo step.
        w.document()->undoStack()->undo();
        QCOMPARE(int(w.document()->plan().overrides.size()), 0);
        QCOMPARE(w.document()->plan().specFor("layers.1.mlp.up_proj.weight")->bits, 4);
        // Background summary fills the SQNR column.
        QTRY_VERIFY_WITH_TIMEOUT(!w.summaryController()->isRunning() && w.summaryController()->done() == 6, 20000);
        QVERIFY(w.treeModel()->metrics(0) != nullptr);
        QVERIFY(w.treeModel()->metrics(0)->sqnrDb > 10.0);
    }

    void applyToSelectionOfTwo()
    {
        MainWindow w;
        w.show();
        w.setModel(test::makeFixtureModel(), QStringLiteral("fixture.safetensors"));
        QVERIFY(waitForAnalysis(w));
        w.treeView()->expandAll();
        // Tensor 0 is current and selected; Ctrl+click tensor 3 adds it (and makes it current).
        const QModelIndex second = w.treeProxy()->mapFromSource(w.treeModel()->indexOfTensor(3));
        QTest::mouseClick(w.treeView()->viewport(), Qt::LeftButton, Qt::ControlModifier,
                          w.treeView()->visualRect(second).center());
        QTRY_COMPARE(w.tensorController()->currentTensor(), 3);
        QCOMPARE(w.treeView()->selectionModel()->selectedRows().size(), 2);
        QVERIFY(w.specEditor()->findChild<QLabel*>(QStringLiteral("scope"))->text().contains(QStringLiteral("2 selected")));
        QVERIFY(waitForAnalysis(w));
        // An edit applies to the current tensor; "Apply to selection" then to both.
        SpecEditor* ed = w.specEditor();
        ed->bitsSpin()->setFocus();
        QTest::keyClick(ed->bitsSpin(), Qt::Key_Up);
        QCOMPARE(w.document()->plan().specFor("layers.1.attn.q_proj.weight")->bits, 5);
        QCOMPARE(w.document()->plan().specFor("layers.0.attn.q_proj.weight")->bits, 4);
        QTest::mouseClick(ed->applySelectionButton(), Qt::LeftButton);
        const QuantPlan& plan = w.document()->plan();
        QCOMPARE(plan.specFor("layers.0.attn.q_proj.weight")->bits, 5);
        QCOMPARE(plan.specFor("layers.1.attn.q_proj.weight")->bits, 5);
        QCOMPARE(plan.specFor("layers.0.attn.k_proj.weight")->bits, 4);
        QCOMPARE(w.document()->undoStack()->count(), 2);
        // The tree's spec column follows the plan for both rows.
        auto specText = [&](std::size_t t) {
            return w.treeModel()->indexOfTensor(t).siblingAtColumn(ModelTreeModel::Spec).data().toString();
        };
        QVERIFY(specText(0).startsWith(QStringLiteral("int5")));
        QVERIFY(specText(3).startsWith(QStringLiteral("int5")));
        QVERIFY(specText(1).startsWith(QStringLiteral("int4")));
        w.document()->undoStack()->undo();
        QCOMPARE(w.document()->plan().specFor("layers.0.attn.q_proj.weight")->bits, 4);
        QCOMPARE(w.document()->plan().specFor("layers.1.attn.q_proj.weight")->bits, 5);
    }

    void resetWithPatternOverride()
    {
        MainWindow w;
        w.show();
        w.setModel(test::makeFixtureModel(), QStringLiteral("fixture.safetensors"));
        QVERIFY(waitForAnalysis(w));
        SpecEditor* ed = w.specEditor();
        const QuantSpec def = w.document()->plan().defaultSpec;
        // A glob override puts every mlp tensor on 3 bits, another one the 1-D norm on 8 bits.
        QuantSpec three = ed->spec();
        three.bits = 3;
        ed->setSpec(three);
        ed->patternEdit()->setText(QStringLiteral("*mlp*"));
        QTest::mouseClick(ed->applyMatchingButton(), Qt::LeftButton);
        QuantSpec eight = ed->spec();
        eight.bits = 8;
        eight.granularity = Granularity{};
        ed->setSpec(eight);
        ed->patternEdit()->setText(QStringLiteral("norm*"));
        QTest::mouseClick(ed->applyMatchingButton(), Qt::LeftButton);
        QVERIFY(w.document()->specFor(5).spec.has_value());  // the override names the 1-D norm
        QCOMPARE(w.document()->undoStack()->count(), 2);

        // Reset the current mlp tensor: it gets the default again, the other mlp tensor keeps 3 bits.
        w.selectTensor(2);
        QTRY_COMPARE(w.tensorController()->currentTensor(), 2);
        QVERIFY(waitForAnalysis(w));
        QCOMPARE(ed->bitsSpin()->value(), 3);
        QTest::mouseClick(ed->resetButton(), Qt::LeftButton);
        QCOMPARE(w.document()->undoStack()->count(), 3);
        QCOMPARE(*w.document()->specFor(2).spec, def);
        QCOMPARE(w.document()->specFor(4).spec->bits, 3);
        QVERIFY(waitForAnalysis(w));
        QCOMPARE(w.tensorController()->analysis()->spec, def);
        QCOMPARE(ed->bitsSpin()->value(), def.bits);
        // The reset is undoable and redoable.
        w.document()->undoStack()->undo();
        QCOMPARE(w.document()->specFor(2).spec->bits, 3);
        w.document()->undoStack()->redo();
        QCOMPARE(*w.document()->specFor(2).spec, def);

        // A 1-D tensor back to its default treatment: kept as stored, although "norm*" matches it.
        w.selectTensor(5);
        QTRY_COMPARE(w.tensorController()->currentTensor(), 5);
        QTest::mouseClick(ed->resetButton(), Qt::LeftButton);
        QVERIFY(!w.document()->specFor(5).spec.has_value());
        QVERIFY(w.document()->specFor(5).skipped);
        // Editing it again lifts that: an edit always takes effect.
        QuantSpec four = def;
        four.granularity = Granularity{};
        emit ed->specEdited(four);
        QCOMPARE(*w.document()->specFor(5).spec, four);
    }

    void tradeoffCompareSummary()
    {
        MainWindow w;
        w.show();
        w.setModel(test::makeFixtureModel(), QStringLiteral("fixture.safetensors"));
        QVERIFY(waitForAnalysis(w));
        w.tabs()->setCurrentWidget(w.tradeoffView());
        QTRY_VERIFY_WITH_TIMEOUT(w.tradeoffView()->data().points.size() >= 14, 20000);
        QVERIFY(w.tradeoffView()->data().current.has_value());
        QVERIFY(!paretoFront(w.tradeoffView()->data().points).empty());
        w.tradeoffView()->scopeBox()->setCurrentIndex(1);
        QTRY_VERIFY_WITH_TIMEOUT(w.tradeoffView()->data().title.contains(QStringLiteral("whole model")), 20000);

        w.tabs()->setCurrentWidget(w.compareView());
        QTRY_VERIFY_WITH_TIMEOUT(!w.compareView()->data().entries.empty(), 20000);
        // Same x axis for every entry (the tensor's finite range).
        const auto& entries = w.compareView()->data().entries;
        for (const auto& e : entries)
            if (e.error.isEmpty())
                QCOMPARE(e.histX.lo, entries.front().histX.lo);
        // Change slot 0 to int8 through its combo.
        QComboBox* slot0 = w.compareView()->slotBox(0);
        const int int8 = slot0->findText(QStringLiteral("int8"), Qt::MatchStartsWith);
        QVERIFY(int8 > 0);
        slot0->setCurrentIndex(int8);
        emit slot0->activated(int8);
        QTRY_VERIFY_WITH_TIMEOUT(w.compareView()->data().entries.front().spec.bits == 8, 20000);

        w.tabs()->setCurrentWidget(w.summaryView());
        QTRY_VERIFY_WITH_TIMEOUT(!w.summaryController()->isRunning(), 20000);
        QTRY_COMPARE(int(w.summaryView()->data().layers.size()), 7);  // the kept norm is listed too
        QVERIFY(w.summaryView()->data().totalAfter < w.summaryView()->data().totalBefore);
    }

    void calibrationDemoSetFillsLayerError()
    {
        MainWindow w;
        w.show();
        QAbstractItemModelTester tester(w.treeModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        if (!openDemoAndWait(w))
            QSKIP("no bundled demo model in this tree");
        const auto demo = bundledDemoOf(w.document()->path().toStdString());
        QVERIFY(demo.has_value());
        SpecEditor* ed = w.specEditor();
        QComboBox* combo = ed->calibrationCombo();
        QCOMPARE(combo->count(), 3);
        QCOMPARE(combo->itemText(0), QStringLiteral("none"));
        QCOMPARE(combo->itemText(1), QStringLiteral("demo calibration set"));
        QCOMPARE(combo->itemText(2), QStringLiteral("Load file…"));
        QVERIFY(!ed->calibrationSamplesSpin()->isEnabled());
        const Model& model = *w.document()->model();
        const std::size_t fc1 = *model.find("fc1.weight"), fc2 = *model.find("fc2.weight"), fc3 = *model.find("fc3.weight");
        QTRY_VERIFY_WITH_TIMEOUT(!w.summaryController()->isRunning(), 20000);
        QVERIFY(std::isnan(treeLayerError(w, fc2)));  // no set, no layer-output error

        // The demo's own set: 64 samples per layer, bound to fc1..fc3.
        pickCalibration(w, 1);
        QTRY_VERIFY_WITH_TIMEOUT(w.document()->calibration() != nullptr, 20000);
        QCOMPARE(w.document()->calibration()->samples, qint64(64));
        QCOMPARE(int(w.document()->calibration()->bindings.size()), 3);
        QCOMPARE(combo->currentIndex(), 1);
        QVERIFY(ed->calibrationSamplesSpin()->isEnabled());
        QCOMPARE(ed->calibrationSamplesSpin()->maximum(), 64);
        QCOMPARE(ed->calibrationSamplesSpin()->value(), 64);
        QTRY_VERIFY_WITH_TIMEOUT(std::isfinite(treeLayerError(w, fc1)) && std::isfinite(treeLayerError(w, fc2)) &&
                                     std::isfinite(treeLayerError(w, fc3)),
                                 20000);
        const calib::CalibrationSet set = *calib::loadCalibrationSet(demo->calibrationPath);
        const double e64 = treeLayerError(w, fc2);
        QVERIFY(e64 > 0.0 && e64 < 1.0);
        QVERIFY(std::fabs(e64 - coreLayerError(w, fc2, set, "fc2", 64)) <= 1e-9 * e64);
        // The current tensor's metrics strip shows its own number.
        QTRY_VERIFY(waitForAnalysis(w) &&
                    w.tensorController()->analysis()->calibrationId == w.document()->calibration()->id);
        QVERIFY(std::isfinite(w.tensorController()->analysis()->layerError));
        QVERIFY(w.distributionView()->data().metricsText.contains(QStringLiteral("layer-output error")));

        // First 8 samples only, typed into the sample-count box: the numbers change.
        QSpinBox* samples = ed->calibrationSamplesSpin();
        samples->setFocus();
        samples->selectAll();
        QTest::keyClicks(samples, QStringLiteral("8"));
        QTest::keyClick(samples, Qt::Key_Return);
        QTRY_COMPARE_WITH_TIMEOUT(w.document()->calibration()->samples, qint64(8), 20000);
        const double want8 = coreLayerError(w, fc2, set, "fc2", 8);
        QVERIFY(std::fabs(want8 - e64) > 1e-6 * e64);
        QTRY_VERIFY_WITH_TIMEOUT(std::fabs(treeLayerError(w, fc2) - want8) <= 1e-9 * want8, 20000);
        QCOMPARE(samples->value(), 8);

        // Back to "none": the column empties.
        pickCalibration(w, 0);
        QVERIFY(!w.document()->calibration());
        QVERIFY(std::isnan(treeLayerError(w, fc2)));
        QVERIFY(!samples->isEnabled());
        QTRY_VERIFY_WITH_TIMEOUT(!w.summaryController()->isRunning(), 20000);
        QVERIFY(std::isnan(treeLayerError(w, fc1)));
    }

    void calibrationFileAndBadFile()
    {
        MainWindow w;
        w.show();
        if (!openDemoAndWait(w))
            QSKIP("no bundled demo model in this tree");
        const std::size_t fc1 = *w.document()->model()->find("fc1.weight");
        const std::size_t fc2 = *w.document()->model()->find("fc2.weight");
        // A folder of NAME.npy files holding only fc1's inputs; picking the file means its folder.
        QTemporaryDir dir;
        QVERIFY(QDir(dir.path()).mkdir(QStringLiteral("acts")));
        Tensor x({16, 64});
        Rng rng(3);
        for (auto& v : x.data)
            v = float(rng.uniform());
        QVERIFY(writeNpy(dir.filePath(QStringLiteral("acts/fc1.npy")).toStdString(), x.view()).has_value());
        w.loadCalibration(dir.filePath(QStringLiteral("acts/fc1.npy")));
        QTRY_VERIFY_WITH_TIMEOUT(w.document()->calibration() != nullptr, 20000);
        QCOMPARE(w.document()->calibration()->samples, qint64(16));
        QCOMPARE(w.specEditor()->calibrationCombo()->itemText(2), QStringLiteral("acts/"));
        QCOMPARE(w.specEditor()->calibrationCombo()->currentIndex(), 2);
        QTRY_VERIFY_WITH_TIMEOUT(std::isfinite(treeLayerError(w, fc1)), 20000);
        QTRY_VERIFY_WITH_TIMEOUT(!w.summaryController()->isRunning(), 20000);
        QVERIFY(std::isnan(treeLayerError(w, fc2)));  // the set has no samples for fc2
        const std::uint64_t id = w.document()->calibration()->id;

        // A set naming a layer the model lacks: a message naming it, the set in use stays.
        QVERIFY(QDir(dir.path()).mkdir(QStringLiteral("bad")));
        QVERIFY(writeNpy(dir.filePath(QStringLiteral("bad/nosuchlayer.npy")).toStdString(), x.view()).has_value());
        QSignalSpy messages(&w, &MainWindow::messageShown);
        w.loadCalibration(dir.filePath(QStringLiteral("bad")));
        QTRY_VERIFY_WITH_TIMEOUT(w.lastMessage().contains(QStringLiteral("nosuchlayer")), 20000);
        QVERIFY(!w.calibrationController()->isLoading());
        QCOMPARE(w.document()->calibration()->id, id);
        QCOMPARE(w.specEditor()->calibrationCombo()->currentIndex(), 2);
        // A file that is not a calibration set at all.
        const QString junk = dir.filePath(QStringLiteral("junk.safetensors"));
        {
            QFile f(junk);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("not a safetensors file");
        }
        w.loadCalibration(junk);
        QTRY_VERIFY_WITH_TIMEOUT(w.lastMessage().contains(QStringLiteral("junk.safetensors")) &&
                                     !w.calibrationController()->isLoading(),
                                 20000);
        QCOMPARE(w.document()->calibration()->id, id);
    }

    void tradeoffAccuracyForDemo()
    {
        MainWindow w;
        w.show();
        if (!openDemoAndWait(w))
            QSKIP("no bundled demo model in this tree");
        w.tradeoffView()->scopeBox()->setCurrentIndex(1);
        QSignalSpy finished(w.tradeoffController(), &TradeoffController::sweepFinished);
        w.tabs()->setCurrentWidget(w.tradeoffView());
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 60000);
        const TradeoffData& d = w.tradeoffView()->data();
        QVERIFY(d.title.contains(QStringLiteral("whole model")));
        QVERIFY(d.points.size() >= 14);
        QVERIFY(d.hasAccuracy());
        for (const auto& p : d.points)
            QVERIFY2(p.accuracy >= 0.0 && p.accuracy <= 1.0, qPrintable(p.label));
        // The int8 point is the demo's accuracy with every weight at int8 per channel, from core.
        const TradeoffPoint* int8 = nullptr;
        const TradeoffPoint* int2 = nullptr;
        for (const auto& p : d.points)
            if (p.family == QStringLiteral("INT asymmetric")) {
                if (p.label.startsWith(QStringLiteral("int8")))
                    int8 = &p;
                if (p.label.startsWith(QStringLiteral("int2")))
                    int2 = &p;
            }
        QVERIFY(int8 && int2);
        nn::DemoModel demo = *nn::loadDemoModel(nn::DemoKind::Mlp);
        QuantPlan plan;
        plan.defaultSpec = defaultSpec(Format::Int);
        plan.defaultSpec.bits = 8;
        plan.defaultSpec.granularity = w.document()->plan().defaultSpec.granularity;
        nn::EvalOptions eo;
        eo.sensitivity = false;
        const nn::EvalReport rep = *nn::evaluate(demo, plan, nn::ActQuantConfig{}, eo);
        QCOMPARE(int8->accuracy, rep.accuracy);
        QVERIFY(int8->accuracy > 0.9);
        QVERIFY(int2->accuracy < int8->accuracy);
        // The view plots accuracy on request.
        w.tradeoffView()->setMetric(TradeoffView::Metric::Accuracy);
        QCOMPARE(w.tradeoffView()->metric(), TradeoffView::Metric::Accuracy);
        QVERIFY(w.tradeoffView()->plot()->yAxis->label().contains(QStringLiteral("accuracy")));
        // A tensor-scope sweep has none (it quantizes one tensor, not the model).
        w.tradeoffView()->scopeBox()->setCurrentIndex(0);
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, 60000);
        QVERIFY(!w.tradeoffView()->data().hasAccuracy());
    }

    void tradeoffLayerErrorForDemoCalibration()
    {
        MainWindow w;
        w.show();
        if (!openDemoAndWait(w))
            QSKIP("no bundled demo model in this tree");
        const auto demo = bundledDemoOf(w.document()->path().toStdString());
        const std::size_t fc2 = *w.document()->model()->find("fc2.weight");
        w.selectTensor(static_cast<int>(fc2));
        QVERIFY(waitForAnalysis(w));
        QSignalSpy finished(w.tradeoffController(), &TradeoffController::sweepFinished);
        w.tabs()->setCurrentWidget(w.tradeoffView());
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 30000);
        // No calibration set: no layer-output error, and the chart stays on SQNR when asked for it.
        QVERIFY(!w.tradeoffView()->data().hasLayerError());
        w.tradeoffView()->setMetric(TradeoffView::Metric::LayerError);
        QCOMPARE(w.tradeoffView()->shownMetric(), TradeoffView::Metric::Sqnr);

        // The demo's own set: the tensor sweep reruns with the layer-output error of every point.
        pickCalibration(w, 1);
        QTRY_VERIFY_WITH_TIMEOUT(w.document()->calibration() != nullptr, 20000);
        QTRY_VERIFY_WITH_TIMEOUT(finished.count() >= 2 && !w.tradeoffController()->isSweeping() &&
                                     w.tradeoffView()->data().hasLayerError(),
                                 30000);
        QVERIFY(waitForAnalysis(w));
        const TradeoffData& d = w.tradeoffView()->data();
        QVERIFY(d.title.contains(QStringLiteral("layer-output error")));
        int withError = 0;
        const TradeoffPoint* int4 = nullptr;
        const TradeoffPoint* int2 = nullptr;
        for (const auto& p : d.points) {
            if (std::isfinite(p.layerError)) {
                ++withError;
                QVERIFY2(p.layerError >= 0.0 && p.layerError < 2.0, qPrintable(p.label));
            }
            if (p.family == QStringLiteral("INT asymmetric") && p.label.startsWith(QStringLiteral("int4")))
                int4 = &p;
            if (p.family == QStringLiteral("INT asymmetric") && p.label.startsWith(QStringLiteral("int2")))
                int2 = &p;
        }
        QCOMPARE(withError, int(d.points.size()));
        QVERIFY(int4 && int2);
        QVERIFY(int2->layerError > int4->layerError);
        // The int4 point is the plan's own spec on this tensor: the same number as the tree, the
        // marker and core's layer-output error on the first 64 samples.
        const calib::CalibrationSet set = *calib::loadCalibrationSet(demo->calibrationPath);
        const double expected = coreLayerError(w, fc2, set, "fc2", 64);
        QVERIFY(std::fabs(int4->layerError - expected) <= 1e-9 * expected);
        QVERIFY(d.current.has_value());
        QVERIFY(std::fabs(d.current->layerError - expected) <= 1e-9 * expected);
        // Plotted on request, on a log axis, with its Pareto front (error falls as bits rise).
        w.tradeoffView()->setMetric(TradeoffView::Metric::LayerError);
        QCOMPARE(w.tradeoffView()->shownMetric(), TradeoffView::Metric::LayerError);
        QVERIFY(w.tradeoffView()->plot()->yAxis->label().contains(QStringLiteral("layer-output error")));
        QCOMPARE(w.tradeoffView()->plot()->yAxis->scaleType(), QCPAxis::stLogarithmic);
        const std::vector<int> front = paretoFront(d.points, TradeoffMetric::LayerError);
        QVERIFY(front.size() >= 3);
        for (std::size_t k = 1; k < front.size(); ++k) {
            const auto& a = d.points[std::size_t(front[k - 1])];
            const auto& b = d.points[std::size_t(front[k])];
            QVERIFY(b.bitsPerWeight > a.bitsPerWeight);
            QVERIFY(b.layerError < a.layerError);
        }
    }

    void tradeoffMarksCurrentPlanInModelScope()
    {
        MainWindow w;
        w.show();
        if (!openDemoAndWait(w))
            QSKIP("no bundled demo model in this tree");
        // The plan: every weight at the sweep's own int4 asymmetric per-channel spec.
        QuantPlan plan = w.document()->plan();
        plan.defaultSpec = defaultSpec(Format::Int);
        plan.defaultSpec.bits = 4;
        plan.defaultSpec.scheme = Scheme::Asymmetric;
        plan.defaultSpec.granularity = Granularity{GranularityKind::Channel, 0, 128};
        w.document()->changePlan(plan, QStringLiteral("int4"));
        QVERIFY(waitForAnalysis(w));
        TradeoffController* tc = w.tradeoffController();
        QSignalSpy finished(tc, &TradeoffController::sweepFinished);
        QSignalSpy planReady(tc, &TradeoffController::planPointReady);
        w.tradeoffView()->scopeBox()->setCurrentIndex(1);
        w.tabs()->setCurrentWidget(w.tradeoffView());
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 60000);
        QTRY_VERIFY_WITH_TIMEOUT(planReady.count() >= 1 && !tc->isMeasuringPlan(), 30000);
        auto pointOf = [&](const char* bits) -> TradeoffPoint {
            for (const auto& p : w.tradeoffView()->data().points)
                if (p.family == QStringLiteral("INT asymmetric") && p.label.startsWith(QLatin1String(bits)))
                    return p;
            return {};
        };
        {
            const TradeoffData& d = w.tradeoffView()->data();
            QVERIFY(d.current.has_value());
            QCOMPARE(d.current->family, QStringLiteral("current plan"));
            QVERIFY(d.current->label.startsWith(QStringLiteral("int4")));
            // Measured as the sweep measures its points: it sits on the int4 point, accuracy included.
            const TradeoffPoint int4 = pointOf("int4");
            QCOMPARE(d.current->bitsPerWeight, int4.bitsPerWeight);
            QVERIFY(std::fabs(d.current->sqnrDb - int4.sqnrDb) < 1e-9 * std::fabs(int4.sqnrDb));
            QVERIFY(d.current->accuracy >= 0.0);
            QCOMPARE(d.current->accuracy, int4.accuracy);
            QVERIFY(!paretoFront(d.points).empty());
        }
        // An edit moves the marker to the int8 point; the sweep itself does not run again.
        const int pieces = tc->piecesStarted();
        plan.defaultSpec.bits = 8;
        w.document()->changePlan(plan, QStringLiteral("int8"));
        QTRY_VERIFY_WITH_TIMEOUT(planReady.count() >= 2 && !tc->isMeasuringPlan(), 30000);
        const TradeoffData& d = w.tradeoffView()->data();
        const TradeoffPoint int8 = pointOf("int8");
        QVERIFY(d.current->label.startsWith(QStringLiteral("int8")));
        QCOMPARE(d.current->bitsPerWeight, int8.bitsPerWeight);
        QVERIFY(std::fabs(d.current->sqnrDb - int8.sqnrDb) < 1e-9 * std::fabs(int8.sqnrDb));
        QCOMPARE(d.current->accuracy, int8.accuracy);
        QCOMPARE(finished.count(), 1);
        QCOMPARE(tc->piecesStarted(), pieces);
        QVERIFY(int(d.points.size()) >= 14);
    }

    void compareSlotFollowsCurrentSpec()
    {
        MainWindow w;
        w.show();
        w.setModel(test::makeFixtureModel(), QStringLiteral("fixture.safetensors"));
        QVERIFY(waitForAnalysis(w));
        w.tabs()->setCurrentWidget(w.compareView());
        QTRY_VERIFY_WITH_TIMEOUT(!w.compareView()->data().entries.empty(), 20000);
        // Slot 2 takes "current spec", named after the tensor's spec.
        QComboBox* slot2 = w.compareView()->slotBox(2);
        QCOMPARE(slot2->itemText(CompareController::kCurrentSpec), QStringLiteral("current spec (%1)")
                     .arg(QString::fromStdString(specShortName(*w.tensorController()->currentSpec().spec))));
        slot2->setCurrentIndex(CompareController::kCurrentSpec);
        emit slot2->activated(CompareController::kCurrentSpec);
        QTRY_VERIFY_WITH_TIMEOUT(w.compareView()->entryOf(2) &&
                                     w.compareView()->entryOf(2)->label.startsWith(QStringLiteral("current")),
                                 20000);
        QCOMPARE(w.compareView()->entryOf(2)->spec, *w.tensorController()->currentSpec().spec);
        QCOMPARE(w.compareView()->entryOf(2)->spec.bits, 4);
        // An edit in the spec editor: the slot follows, the presets stay.
        const QuantSpec slot0 = w.compareView()->entryOf(0)->spec;
        w.specEditor()->bitsSpin()->setFocus();
        QTest::keyClick(w.specEditor()->bitsSpin(), Qt::Key_Up);
        QVERIFY(waitForAnalysis(w));
        QTRY_VERIFY_WITH_TIMEOUT(w.compareView()->entryOf(2) && w.compareView()->entryOf(2)->spec.bits == 5, 20000);
        QCOMPARE(w.compareView()->entryOf(2)->spec, *w.tensorController()->currentSpec().spec);
        QCOMPARE(w.compareView()->entryOf(0)->spec, slot0);
        QVERIFY(slot2->itemText(CompareController::kCurrentSpec).contains(QStringLiteral("int5")));
        // The table: one row per slot in slot order, with its true bits per weight.
        const CompareEntry& e = *w.compareView()->entryOf(2);
        auto* table = w.compareView()->findChild<QTableView*>(QStringLiteral("compareTable"));
        QVERIFY(table && table->model());
        QAbstractItemModelTester tester(table->model(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        int row = -1;
        for (int r = 0; r < table->model()->rowCount(); ++r)
            if (table->model()->index(r, CompareTableModel::Spec).data().toString() == e.label)
                row = r;
        QCOMPARE(row, 2);
        QCOMPARE(table->model()->index(row, CompareTableModel::BitsPerWeight).data(CompareTableModel::SortKeyRole).toDouble(),
                 e.bitsPerWeight);
        QCOMPARE(e.bitsPerWeight, bitsPerWeight(e.spec, Shape{64, 128}));
    }

    void progressWhileOpeningAndMeasuring()
    {
        // A checkpoint in three shards: opening it reports progress, shown with Cancel.
        QTemporaryDir dir;
        std::vector<std::vector<float>> data(3, std::vector<float>(64 * 32));
        for (int s = 0; s < 3; ++s) {
            for (std::size_t i = 0; i < data[std::size_t(s)].size(); ++i)
                data[std::size_t(s)][i] = std::sin(float(i) * 0.1f + float(s));
            const std::string name = "layers." + std::to_string(s) + ".weight";
            const SafetensorsEntry e{name, DType::F32, Shape{64, 32}, data[std::size_t(s)].data(),
                                     data[std::size_t(s)].size() * sizeof(float)};
            const QString path = dir.filePath(QStringLiteral("m-%1-of-00003.safetensors").arg(s + 1, 5, 10, QLatin1Char('0')));
            QVERIFY(writeSafetensors(path.toStdString(), {e}).has_value());
        }
        MainWindow w;
        w.show();
        QSignalSpy opened(&w, &MainWindow::modelOpened);
        QSignalSpy openProgress(w.openSlot(), &JobSlot::progress);
        QList<int> shownWithCancel;  // progress-bar values set while Cancel was offered
        connect(w.progressBar(), &QProgressBar::valueChanged, this, [&](int v) {
            if (!w.cancelButton()->isHidden() && !w.progressBar()->isHidden())
                shownWithCancel << v;
        });
        int summaryShown = 0, summaryUpdates = 0;
        connect(w.summaryController(), &SummaryController::progressChanged, this, [&](int done, int total) {
            if (!w.summaryController()->isRunning() || w.openSlot()->isRunning() || w.tensorController()->busy())
                return;  // the bar follows the open or the current tensor first
            ++summaryUpdates;
            if (!w.progressBar()->isHidden() && !w.cancelButton()->isHidden() &&
                w.progressBar()->value() == int(1000LL * done / total))
                ++summaryShown;
        });
        w.openFile(dir.filePath(QStringLiteral("m-00001-of-00003.safetensors")));
        QVERIFY(!w.progressBar()->isHidden());
        QVERIFY(!w.cancelButton()->isHidden());
        QVERIFY(opened.wait(20000));
        QCOMPARE(int(w.document()->model()->tensors().size()), 3);
        QVERIFY(!openProgress.isEmpty());
        QCOMPARE(openProgress.last().at(0).toInt(), 1000);
        QVERIFY(shownWithCancel.contains(1000));
        // The summary pass over the tensors shows its share done in the same bar.
        QTRY_VERIFY_WITH_TIMEOUT(!w.summaryController()->isRunning() && !w.tensorController()->busy(), 20000);
        QVERIFY(summaryUpdates > 0);
        QCOMPARE(summaryShown, summaryUpdates);
        QTRY_VERIFY(w.progressBar()->isHidden());
        QVERIFY(w.cancelButton()->isHidden());
    }

    void modelSweepYieldsToCurrentTensor()
    {
        MainWindow w;
        w.show();
        w.setModel(test::makeFixtureModel(), QStringLiteral("fixture.safetensors"));
        QVERIFY(waitForAnalysis(w));
        TradeoffController* tc = w.tradeoffController();
        w.tradeoffView()->scopeBox()->setCurrentIndex(1);
        w.tabs()->setCurrentWidget(w.tradeoffView());
        QVERIFY(tc->isSweeping());
        // A spec edit on the current tensor while the whole-model sweep runs: its views are current
        // before the sweep is done, because the sweep runs one tensor per task and yields.
        bool sweepingWhenReady = false;
        connect(w.tensorController(), &TensorController::analysisReady, this,
                [&] { sweepingWhenReady = tc->isSweeping(); });
        w.specEditor()->bitsSpin()->setFocus();
        QTest::keyClick(w.specEditor()->bitsSpin(), Qt::Key_Up);
        QVERIFY(waitForAnalysis(w));
        QCOMPARE(w.tensorController()->analysis()->spec.bits, 5);
        QVERIFY(sweepingWhenReady);
        QTRY_VERIFY_WITH_TIMEOUT(!tc->isSweeping(), 30000);
        QCOMPARE(tc->piecesStarted(), 6);  // one task per rank-2 tensor of the fixture
        QVERIFY(w.tradeoffView()->data().points.size() >= 14);
        QVERIFY(!w.tradeoffView()->data().hasAccuracy());  // not a demo model
    }

    void openFilesAndMalformed()
    {
        QTemporaryDir dir;
        const QString good = dir.filePath(QStringLiteral("w.npy"));
        Tensor t({32, 48});
        for (std::int64_t i = 0; i < t.numel(); ++i)
            t.data[std::size_t(i)] = std::sin(float(i) * 0.37f);
        QVERIFY(writeNpy(good.toStdString(), t.view()).has_value());
        const QString bad = dir.filePath(QStringLiteral("bad.npy"));
        {
            QFile f(bad);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("\x93NUMPY\x01\x00garbage that is not a header");
        }
        MainWindow w;
        w.show();
        QSignalSpy opened(&w, &MainWindow::modelOpened);
        QSignalSpy failed(&w, &MainWindow::openFailed);
        w.openFile(bad);
        QTRY_COMPARE(failed.count(), 1);
        QVERIFY(failed.first().at(0).toString().contains(QStringLiteral("bad.npy")));
        QVERIFY(w.lastMessage().contains(QStringLiteral("bad.npy")));
        QVERIFY(!w.document()->hasModel());
        w.openFile(dir.filePath(QStringLiteral("missing.safetensors")));
        QTRY_COMPARE(failed.count(), 2);
        // Still usable: a good file opens and is analysed.
        w.openFile(good);
        QTRY_COMPARE(opened.count(), 1);
        QVERIFY(waitForAnalysis(w));
        QCOMPARE(w.distributionView()->data().hist.total(), qint64(32 * 48));
        // A truncated copy of a real file.
        QFile src(good);
        QVERIFY(src.open(QIODevice::ReadOnly));
        const QByteArray bytes = src.readAll();
        const QString trunc = dir.filePath(QStringLiteral("trunc.npy"));
        QFile dst(trunc);
        QVERIFY(dst.open(QIODevice::WriteOnly));
        dst.write(bytes.left(bytes.size() / 2));
        dst.close();
        w.openFile(trunc);
        QTRY_COMPARE(failed.count(), 3);
        QVERIFY(w.document()->hasModel());  // the previous model stays open
    }

    void plotContextMenuAndExport()
    {
        QTemporaryDir dir;
        MainWindow w;
        w.show();
        w.setModel(test::makeFixtureModel(), QStringLiteral("fixture.safetensors"));
        QVERIFY(waitForAnalysis(w));
        PlotWidget* p = w.distributionView()->plot();
        QMenu* menu = p->createContextMenu();
        QStringList texts;
        for (QAction* a : menu->actions())
            texts << a->text();
        QVERIFY(texts.contains(QStringLiteral("Reset view")));
        QVERIFY(texts.contains(QStringLiteral("Copy data as CSV")));
        delete menu;
        QVERIFY(p->csvData().startsWith(QStringLiteral("bin_lo,bin_hi,count")));
        for (const char* ext : {"png", "svg", "pdf"}) {
            const QString path = dir.filePath(QStringLiteral("plot.") + QLatin1String(ext));
            QVERIFY2(p->exportTo(path, 640, 400), ext);
            QVERIFY(QFileInfo(path).size() > 100);
        }
        // Zoom, then reset view returns to the home ranges.
        const QCPRange home = p->xAxis->range();
        p->xAxis->scaleRange(0.25);
        QVERIFY(p->xAxis->range().size() < home.size());
        p->resetView();
        QCOMPARE(p->xAxis->range().lower, home.lower);
    }

    void demoModelOpensWhenBundled()
    {
        MainWindow w;
        w.show();
        QSignalSpy opened(&w, &MainWindow::modelOpened);
        if (!w.openDemo())
            QSKIP("no bundled demo model in this tree");
        QTRY_COMPARE_WITH_TIMEOUT(opened.count(), 1, 20000);
        QVERIFY(w.document()->model()->tensors().size() >= 2);
        QVERIFY(waitForAnalysis(w));
    }
};

QTEST_MAIN(TstMainWindow)
#include "tst_main_window.moc"
