#include "app/main_window.h"

#include "app/controllers/calibration_controller.h"
#include "app/controllers/compare_controller.h"
#include "app/controllers/export_controller.h"
#include "app/controllers/summary_controller.h"
#include "app/controllers/tensor_controller.h"
#include "app/controllers/tradeoff_controller.h"
#include "app/models/channel_table_model.h"
#include "app/models/compare_table_model.h"
#include "app/model_loader.h"
#include "app/models/model_tree_model.h"
#include "app/models/tensor_filter_proxy.h"
#include "app/tensor_analysis.h"
#include "core/quant/format_traits.h"
#include "widgets/channels_view.h"
#include "widgets/compare_view.h"
#include "widgets/distribution_view.h"
#include "widgets/error_view.h"
#include "widgets/heatmap_view.h"
#include "widgets/summary_view.h"
#include "widgets/tradeoff_view.h"
#include "widgets/qcp.h"
#include "widgets/spec_editor.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QTreeView>
#include <QUndoStack>
#include <QVBoxLayout>

#include <Eigen/Core>
#include <H5public.h>
#include <nlohmann/json.hpp>

namespace ql {

namespace {
constexpr int kMaxRecent = 8;
const char* kOrg = "QuantLens";
}

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent), m_doc(new Document(this)), m_runner(new TaskRunner(this))
{
    setWindowTitle(tr("QuantLens"));
    setWindowIcon(QIcon(QStringLiteral(":/icons/quantlens.svg")));
    setAcceptDrops(true);
    m_openSlot = new JobSlot(m_runner, this);
    m_tree = new ModelTreeModel(m_doc, this);
    m_proxy = new TensorFilterProxy(this);
    m_proxy->setSourceModel(m_tree);
    m_tensorCtl = new TensorController(m_doc, m_runner, this);
    m_calibCtl = new CalibrationController(m_doc, m_runner, this);

    m_tabs = new QTabWidget(this);
    m_tabs->setObjectName(QStringLiteral("views"));
    m_tabs->setDocumentMode(true);
    m_dist = new DistributionView(this);
    m_error = new ErrorView(this);
    m_channels = new ChannelsView(this);
    m_heatmap = new HeatmapView(this);
    m_tradeoff = new TradeoffView(this);
    m_compare = new CompareView(this);
    m_summary = new SummaryView(this);
    m_tabs->addTab(m_dist, tr("Distribution"));
    m_tabs->addTab(m_error, tr("Error"));
    m_tabs->addTab(m_channels, tr("Channels"));
    m_tabs->addTab(m_heatmap, tr("Heatmap"));
    m_tabs->addTab(m_tradeoff, tr("Trade-off"));
    m_tabs->addTab(m_compare, tr("Compare"));
    m_tabs->addTab(m_summary, tr("Model summary"));
    setCentralWidget(m_tabs);

    m_channelModel = new ChannelTableModel(this);
    m_channels->setTableModel(m_channelModel);
    m_compareModel = new CompareTableModel(this);
    m_compare->setTableModel(m_compareModel);
    m_summaryCtl = new SummaryController(m_doc, m_tree, m_runner, this);
    m_summaryCtl->setTensorController(m_tensorCtl);
    m_tradeoffCtl = new TradeoffController(m_doc, m_tensorCtl, m_runner, this);
    m_compareCtl = new CompareController(m_tensorCtl, m_runner, this);
    m_compare->setPresets(m_compareCtl->presetNames(), m_compareCtl->chosen());
    connect(m_compare, &CompareView::presetsChosen, m_compareCtl, &CompareController::setChosen);
    connect(m_compareCtl, &CompareController::currentSpecNameChanged, m_compare, &CompareView::setCurrentSpecName);
    connect(m_compareCtl, &CompareController::dataReady, this, [this](const CompareData& d) {
        m_compare->setData(d);
        m_compareModel->setEntries(d);
    });
    connect(m_tradeoffCtl, &TradeoffController::dataReady, m_tradeoff, &TradeoffView::setData);
    connect(m_tradeoffCtl, &TradeoffController::statusChanged, m_tradeoff, &TradeoffView::setStatusText);
    connect(m_tradeoff, &TradeoffView::scopeChanged, this, [this](int scope) {
        m_tradeoffCtl->setScope(scope == 1 ? TradeoffController::Scope::Model : TradeoffController::Scope::Tensor);
    });
    connect(m_tabs, &QTabWidget::currentChanged, this, [this] {
        m_tradeoffCtl->setActive(m_tabs->currentWidget() == m_tradeoff);
        m_compareCtl->setActive(m_tabs->currentWidget() == m_compare);
        if (m_tabs->currentWidget() == m_summary)
            m_summary->setData(m_summaryCtl->summary());
    });
    connect(m_summaryCtl, &SummaryController::progressChanged, this, [this](int done, int total) {
        setJobProgress(Job::Summary, total > 0 ? static_cast<int>(1000LL * done / total) : 0);
        if (m_summaryCtl->isRunning())
            m_message->setText(tr("⟳ measuring tensors %1/%2").arg(done).arg(total));
        else if (total > 0)
            m_message->setText(tr("all %1 tensors measured").arg(total));
        if (m_tabs->currentWidget() == m_summary && (done % 8 == 0 || done == total))
            m_summary->setData(m_summaryCtl->summary());
    });
    connect(m_summaryCtl, &SummaryController::finished, this, [this] {
        updateBusy();
        if (!m_summaryCtl->isRunning() && m_summaryCtl->total() > 0)
            m_message->setText(tr("all %1 quantized tensors measured").arg(m_summaryCtl->total()));
        refreshStatus();
        if (m_tabs->currentWidget() == m_summary)
            m_summary->setData(m_summaryCtl->summary());
    });
    connect(m_summary, &SummaryView::layerClicked, this, [this](int t) { selectTensor(t); });

    buildDocks();
    buildStatusBar();
    buildMenus();

    connect(m_tensorCtl, &TensorController::analysisReady, this, &MainWindow::onAnalysis);
    connect(m_tensorCtl, &TensorController::analysisCleared, this, [this](const QString& reason) {
        m_dist->clear();
        m_error->clear();
        m_channels->clear();
        m_channelModel->setChannels({});
        m_heatmap->clear();
        if (!reason.isEmpty())
            showMessage(reason, false);
    });
    connect(m_tensorCtl, &TensorController::failed, this, [this](const QString& m) { showMessage(m, true); });
    connect(m_tensorCtl, &TensorController::busyChanged, this, &MainWindow::updateBusy);
    connect(m_tensorCtl->analysisSlot(), &JobSlot::progress, this, [this](int v) { setJobProgress(Job::Tensor, v); });
    connect(m_openSlot, &JobSlot::progress, this, [this](int v) { setJobProgress(Job::Open, v); });
    connect(m_openSlot, &JobSlot::idle, this, &MainWindow::updateBusy);
    connect(m_tradeoffCtl, &TradeoffController::planPointReady, this, &MainWindow::updateBusy);
    connect(m_tradeoffCtl, &TradeoffController::progressChanged, this, [this](int v) { setJobProgress(Job::Sweep, v); });
    connect(m_tradeoffCtl, &TradeoffController::sweepFinished, this, &MainWindow::updateBusy);
    m_exportCtl = new ExportController(m_doc, m_runner, this);
    connect(m_exportCtl->slot(), &JobSlot::started, this, &MainWindow::updateBusy);
    connect(m_exportCtl->slot(), &JobSlot::idle, this, &MainWindow::updateBusy);
    connect(m_exportCtl->slot(), &JobSlot::progress, this, [this](int v) { setJobProgress(Job::Export, v); });
    connect(m_exportCtl, &ExportController::exportFinished, this,
            [this](bool ok, const QString& summary) { showMessage(summary, !ok); });
    connect(m_doc, &Document::planChanged, this, [this] {
        refreshStatus();
        refreshEditorScope();
    });
    connect(m_doc, &Document::modelChanged, this, [this] {
        const QString name = m_doc->hasModel() ? QFileInfo(m_doc->path()).fileName() : QString();
        setWindowTitle(name.isEmpty() ? tr("QuantLens") : tr("%1 — QuantLens").arg(name));
        refreshStatus();
        m_treeView->expandToDepth(0);
        for (int c = 0; c < ModelTreeModel::ColumnCount; ++c)
            m_treeView->resizeColumnToContents(c);
        // Select the first tensor so the views show something real right away.
        if (m_doc->hasModel() && !m_doc->model()->tensors().empty()) {
            int first = 0;
            const auto& ts = m_doc->model()->tensors();
            for (std::size_t i = 0; i < ts.size(); ++i)
                if (ts[i].supported && ts[i].logicalShape.size() >= 2) {
                    first = static_cast<int>(i);
                    break;
                }
            selectTensor(first);
        }
    });

    readSettings();
    refreshStatus();
}

void MainWindow::showEvent(QShowEvent* event)
{
    QMainWindow::showEvent(event);
    if (!m_layoutRestored) {
        m_layoutRestored = true;
        // First run (no saved layout): a tree wide enough for its numbers.
        if (QSettings(QString::fromLatin1(kOrg), QString::fromLatin1(kOrg)).value(QStringLiteral("windowState")).isNull()) {
            const auto docks = findChildren<QDockWidget*>();
            for (QDockWidget* d : docks)
                if (d->objectName() == QLatin1String("modelDock"))
                    resizeDocks({d}, {width() * 30 / 100}, Qt::Horizontal);
        }
    }
}

MainWindow::~MainWindow()
{
    m_runner->shutdown();
}

void MainWindow::buildDocks()
{
    // Model tree.
    auto* treeHost = new QWidget(this);
    m_filter = new QLineEdit(treeHost);
    m_filter->setObjectName(QStringLiteral("filter"));
    m_filter->setPlaceholderText(tr("filter: *mlp*"));
    m_filter->setClearButtonEnabled(true);
    m_filterKind = new QComboBox(treeHost);
    m_filterKind->addItem(tr("glob"), static_cast<int>(PatternKind::Glob));
    m_filterKind->addItem(tr("regex"), static_cast<int>(PatternKind::Regex));
    m_treeView = new QTreeView(treeHost);
    m_treeView->setObjectName(QStringLiteral("modelTree"));
    m_treeView->setModel(m_proxy);
    m_treeView->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_treeView->setSortingEnabled(true);
    m_treeView->sortByColumn(-1, Qt::AscendingOrder);
    m_treeView->setUniformRowHeights(true);
    m_treeView->setAlternatingRowColors(true);
    m_treeView->header()->setStretchLastSection(false);
    // What is tuned and what it costs first, so a narrow dock shows the spec, SQNR and layer-output
    // error; the descriptive columns follow (every section can be dragged elsewhere).
    {
        QHeaderView* h = m_treeView->header();
        int to = 1;
        for (int c : {ModelTreeModel::Spec, ModelTreeModel::Sqnr, ModelTreeModel::LayerError, ModelTreeModel::Size})
            h->moveSection(h->visualIndex(c), to++);
    }
    auto* filterRow = new QHBoxLayout;
    filterRow->addWidget(m_filter, 1);
    filterRow->addWidget(m_filterKind);
    auto* tl = new QVBoxLayout(treeHost);
    tl->setContentsMargins(2, 2, 2, 2);
    tl->addLayout(filterRow);
    tl->addWidget(m_treeView, 1);
    auto* treeDock = new QDockWidget(tr("Model"), this);
    treeDock->setObjectName(QStringLiteral("modelDock"));
    treeDock->setWidget(treeHost);
    addDockWidget(Qt::LeftDockWidgetArea, treeDock);

    auto applyFilter = [this] {
        m_proxy->setPattern(m_filter->text(), static_cast<PatternKind>(m_filterKind->currentData().toInt()));
        m_filter->setStyleSheet(m_proxy->patternValid() ? QString() : QStringLiteral("color: #d04040"));
        if (!m_filter->text().isEmpty())
            m_treeView->expandAll();
    };
    connect(m_filter, &QLineEdit::textChanged, this, applyFilter);
    connect(m_filterKind, &QComboBox::currentIndexChanged, this, applyFilter);
    connect(m_treeView->selectionModel(), &QItemSelectionModel::currentChanged, this, &MainWindow::onCurrentChanged);
    connect(m_treeView->selectionModel(), &QItemSelectionModel::selectionChanged, this, &MainWindow::refreshEditorScope);

    // Spec editor.
    m_editor = new SpecEditor(this);
    auto* specDock = new QDockWidget(tr("Spec"), this);
    specDock->setObjectName(QStringLiteral("specDock"));
    specDock->setWidget(m_editor);
    addDockWidget(Qt::RightDockWidgetArea, specDock);

    connect(m_editor, &SpecEditor::specEdited, this, [this](const QuantSpec& spec) {
        QuantPlan plan = m_doc->plan();
        const int t = m_tensorCtl->currentTensor();
        if (t >= 0 && m_doc->hasModel()) {
            const std::string& name = m_doc->model()->tensors()[static_cast<std::size_t>(t)].name;
            plan.setSpec(name, spec);
            m_doc->changePlan(plan, tr("Set %1 to %2").arg(QString::fromStdString(name), QString::fromStdString(specShortName(spec))));
        } else {
            plan.defaultSpec = spec;
            m_doc->changePlan(plan, tr("Set default spec to %1").arg(QString::fromStdString(specShortName(spec))));
        }
        QSettings(QString::fromLatin1(kOrg), QString::fromLatin1(kOrg))
            .setValue(QStringLiteral("lastSpec"), QString::fromStdString(specToJson(spec).dump()));
    });
    connect(m_editor, &SpecEditor::applyToSelectionRequested, this, [this](const QuantSpec& spec) {
        if (!m_doc->hasModel())
            return;
        const auto sel = selectedTensors();
        if (sel.empty())
            return;
        QuantPlan plan = m_doc->plan();
        for (std::size_t t : sel)
            plan.setSpec(m_doc->model()->tensors()[t].name, spec);
        m_doc->changePlan(plan, tr("Apply %1 to %2 tensors").arg(QString::fromStdString(specShortName(spec))).arg(sel.size()));
    });
    connect(m_editor, &SpecEditor::applyToMatchingRequested, this,
            [this](const QuantSpec& spec, PatternKind kind, const QString& pattern) {
                if (auto ok = validatePattern(kind, pattern.toStdString()); !ok) {
                    showMessage(tr("Invalid pattern: %1").arg(QString::fromStdString(ok.error().message)), true);
                    return;
                }
                QuantPlan plan = m_doc->plan();
                plan.overrides.push_back(PlanOverride{kind, pattern.toStdString(), spec});
                m_doc->changePlan(plan, tr("Apply %1 to all matching %2").arg(QString::fromStdString(specShortName(spec)), pattern));
            });
    // Calibration set picker.
    connect(m_editor, &SpecEditor::calibrationChosen, m_calibCtl, &CalibrationController::choose);
    connect(m_editor, &SpecEditor::calibrationSamplesChanged, m_calibCtl, &CalibrationController::setSampleCount);
    connect(m_editor, &SpecEditor::loadCalibrationRequested, this, [this] {
        QSettings s(QString::fromLatin1(kOrg), QString::fromLatin1(kOrg));
        const QString dir = s.value(QStringLiteral("lastCalibrationDir"), s.value(QStringLiteral("lastDir"))).toString();
        const QString path = QFileDialog::getOpenFileName(
            this, tr("Load calibration set"), dir,
            tr("Calibration sets (*.safetensors *.npz *.h5 *.hdf5 *.npy);;safetensors (*.safetensors);;"
               "NumPy archive (*.npz);;HDF5 (*.h5 *.hdf5);;Folder of NAME.npy files (pick any) (*.npy)"));
        if (path.isEmpty()) {
            refreshCalibrationPicker();  // the picker goes back to the set in use
            return;
        }
        s.setValue(QStringLiteral("lastCalibrationDir"), QFileInfo(path).absolutePath());
        loadCalibration(path);
    });
    connect(m_calibCtl, &CalibrationController::sourcesChanged, this, &MainWindow::refreshCalibrationPicker);
    connect(m_calibCtl, &CalibrationController::calibrationReady, this,
            [this](const QString& description) { showMessage(tr("Calibration: %1").arg(description), false); });
    connect(m_calibCtl, &CalibrationController::failed, this, [this](const QString& m) { showMessage(m, true); });
    connect(m_calibCtl->slot(), &JobSlot::started, this, &MainWindow::updateBusy);
    connect(m_calibCtl->slot(), &JobSlot::idle, this, &MainWindow::updateBusy);
    connect(m_calibCtl->slot(), &JobSlot::progress, this, [this](int v) { setJobProgress(Job::Calibration, v); });
    refreshCalibrationPicker();

    connect(m_editor, &SpecEditor::resetToDefaultRequested, this, [this] {
        if (!m_doc->hasModel())
            return;
        QuantPlan plan = m_doc->plan();
        auto sel = selectedTensors();
        if (sel.empty() && m_tensorCtl->currentTensor() >= 0)
            sel.push_back(static_cast<std::size_t>(m_tensorCtl->currentTensor()));
        // A glob or regex override that also matches other tensors stays; these tensors get the
        // default pinned by name (see resetToDefault).
        for (std::size_t t : sel)
            resetToDefault(plan, m_doc->model()->tensors()[t]);
        m_doc->changePlan(plan, tr("Reset %1 tensors to the default spec").arg(sel.size()));
    });
}

void MainWindow::loadCalibration(const QString& path)
{
    showMessage(tr("Loading calibration set %1…").arg(QFileInfo(path).fileName()), false);
    m_calibCtl->loadFile(path);
}

void MainWindow::refreshCalibrationPicker()
{
    m_editor->setCalibrationSources(m_calibCtl->sourceNames(), m_calibCtl->currentIndex());
    m_editor->setCalibrationSamples(m_calibCtl->sampleCount(), m_calibCtl->availableSamples());
}

void MainWindow::buildStatusBar()
{
    m_sizes = new QLabel(this);
    m_sizes->setObjectName(QStringLiteral("sizes"));
    m_message = new QLabel(this);
    m_message->setObjectName(QStringLiteral("message"));
    m_message->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_progress = new QProgressBar(this);
    m_progress->setObjectName(QStringLiteral("progress"));
    m_progress->setRange(0, 1000);
    m_progress->setMaximumWidth(160);
    m_progress->setTextVisible(false);
    m_progress->setVisible(false);
    m_cancel = new QPushButton(tr("Cancel"), this);
    m_cancel->setObjectName(QStringLiteral("cancel"));
    m_cancel->setVisible(false);
    connect(m_cancel, &QPushButton::clicked, this, [this] {
        m_tensorCtl->cancel();
        m_openSlot->cancel();
        m_summaryCtl->cancel();
        m_exportCtl->cancel();
        m_calibCtl->cancel();
        m_tradeoffCtl->cancel();
        updateBusy();
    });
    statusBar()->addWidget(m_sizes, 1);
    statusBar()->addWidget(m_message, 1);
    statusBar()->addPermanentWidget(m_progress);
    statusBar()->addPermanentWidget(m_cancel);
}

void MainWindow::buildMenus()
{
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* open = file->addAction(tr("&Open…"), this, [this] {
        QSettings s(QString::fromLatin1(kOrg), QString::fromLatin1(kOrg));
        const QString dir = s.value(QStringLiteral("lastDir")).toString();
        const QString path = QFileDialog::getOpenFileName(this, tr("Open model"), dir, QString::fromLatin1(modelFileFilter()));
        if (!path.isEmpty())
            openFile(path);
    });
    open->setShortcut(QKeySequence::Open);
    file->addAction(tr("Open &demo model"), this, [this] { openDemo(); });
    m_recentMenu = file->addMenu(tr("Open &recent"));
    file->addSeparator();
    file->addAction(tr("&Import Config…"), this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Import config"), QString(),
                                                          tr("QuantLens config (*.json)"));
        if (path.isEmpty())
            return;
        QStringList warnings;
        const QString err = m_exportCtl->importConfig(path, &warnings);
        if (!err.isEmpty())
            showMessage(err, true);
        else
            showMessage(warnings.isEmpty() ? tr("Imported %1").arg(QFileInfo(path).fileName())
                                           : warnings.join(QStringLiteral("; ")),
                        !warnings.isEmpty());
    });
    file->addAction(tr("&Export Config…"), this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Export config"), QString(),
                                                          tr("QuantLens config (*.json)"));
        if (path.isEmpty())
            return;
        const QString err = m_exportCtl->exportConfig(path);
        showMessage(err.isEmpty() ? tr("Wrote %1").arg(QFileInfo(path).fileName()) : err, !err.isEmpty());
    });
    file->addAction(tr("Export &quantized weights…"), this, [this] {
        QString filter;
        const QString path = QFileDialog::getSaveFileName(
            this, tr("Export quantized weights"), QString(),
            tr("Quantized safetensors (*.safetensors);;Fake-quant safetensors (*.safetensors);;GGUF (*.gguf);;HDF5 (*.h5)"),
            &filter);
        if (path.isEmpty())
            return;
        showMessage(tr("Exporting %1…").arg(QFileInfo(path).fileName()), false);
        m_exportCtl->exportWeights(path, filter.startsWith(QStringLiteral("Fake")));
    });
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);
    quit->setMenuRole(QAction::QuitRole);

    QMenu* edit = menuBar()->addMenu(tr("&Edit"));
    QAction* undo = m_doc->undoStack()->createUndoAction(this, tr("&Undo"));
    undo->setShortcut(QKeySequence::Undo);
    QAction* redo = m_doc->undoStack()->createRedoAction(this, tr("&Redo"));
    redo->setShortcuts({QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z), QKeySequence::Redo});
    edit->addAction(undo);
    edit->addAction(redo);

    QMenu* view = menuBar()->addMenu(tr("&View"));
    for (QDockWidget* d : findChildren<QDockWidget*>())
        view->addAction(d->toggleViewAction());
    view->addSeparator();
    QAction* logCounts = view->addAction(tr("&Log counts in histograms"));
    logCounts->setCheckable(true);
    connect(logCounts, &QAction::toggled, m_dist, &DistributionView::setLogScale);
    connect(logCounts, &QAction::toggled, m_error, &ErrorView::setLogScale);
    view->addSeparator();
    for (int i = 0; i < m_tabs->count(); ++i) {
        QAction* a = view->addAction(m_tabs->tabText(i), this, [this, i] { m_tabs->setCurrentIndex(i); });
        a->setShortcut(QKeySequence(Qt::ALT | static_cast<Qt::Key>(Qt::Key_1 + i)));
    }

    QMenu* model = menuBar()->addMenu(tr("&Model"));
    model->addAction(tr("Select &all tensors"), this, [this] { m_treeView->selectAll(); });
    model->addAction(tr("&Expand all"), m_treeView, &QTreeView::expandAll);
    model->addAction(tr("&Collapse all"), m_treeView, &QTreeView::collapseAll);

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About QuantLens"), this, &MainWindow::showAbout);
    help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
    rebuildRecentMenu();
}

void MainWindow::showAbout()
{
    const QString text =
        tr("<h3>QuantLens %1</h3><p>A desktop quantization explorer for neural-network weights.</p>"
           "<table><tr><td>Qt</td><td>%2 (built with %3)</td></tr>"
           "<tr><td>Eigen</td><td>%4.%5.%6</td></tr>"
           "<tr><td>HDF5</td><td>%7</td></tr>"
           "<tr><td>OpenMP</td><td>%8</td></tr>"
           "<tr><td>QCustomPlot</td><td>%9</td></tr></table>")
            .arg(QStringLiteral(QL_VERSION))
            .arg(QString::fromLatin1(qVersion()), QStringLiteral(QT_VERSION_STR))
            .arg(EIGEN_WORLD_VERSION)
            .arg(EIGEN_MAJOR_VERSION)
            .arg(EIGEN_MINOR_VERSION)
            .arg(QStringLiteral("%1.%2.%3").arg(H5_VERS_MAJOR).arg(H5_VERS_MINOR).arg(H5_VERS_RELEASE))
#ifdef _OPENMP
            .arg(QStringLiteral("%1 (spec date %2)").arg(_OPENMP >= 201811 ? QStringLiteral("5.0") : _OPENMP >= 201511 ? QStringLiteral("4.5") : QStringLiteral("4.0")).arg(_OPENMP))
#else
            .arg(tr("not enabled"))
#endif
            .arg(QString::fromLatin1(QCUSTOMPLOT_VERSION_STR));
    auto* box = new QMessageBox(QMessageBox::Information, tr("About QuantLens"), text, QMessageBox::Ok, this);
    box->setObjectName(QStringLiteral("aboutBox"));
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->setIconPixmap(QIcon(QStringLiteral(":/icons/quantlens.svg")).pixmap(64, 64));
    box->open();
}

void MainWindow::showMessage(const QString& text, bool error)
{
    m_lastMessage = text;
    m_message->setText(error ? QStringLiteral("⚠ ") + text : text);
    m_message->setToolTip(text);
    m_message->setStyleSheet(error ? QStringLiteral("color: #d04040") : QString());
    emit messageShown(text);
}

void MainWindow::openFile(const QString& path)
{
    showMessage(tr("Opening %1…").arg(QFileInfo(path).fileName()), false);
    const std::string p = path.toStdString();
    using LoadResult = Result<ModelPtr>;
    m_openSlot->start<LoadResult>([p](TaskContext& ctx) { return loadModelFile(p, ctx); },
                                  [this, path](LoadResult r) {
                                      if (!r) {
                                          const QString msg = tr("Could not open %1: %2")
                                                                  .arg(QFileInfo(path).fileName(),
                                                                       QString::fromStdString(r.error().toString()));
                                          showMessage(msg, true);
                                          emit openFailed(msg);
                                          return;
                                      }
                                      setModel(*r, path);
                                      addRecentFile(path);
                                  });
    updateBusy();
}

void MainWindow::setModel(ModelPtr model, const QString& path)
{
    QuantPlan plan = m_doc->plan();
    plan.overrides.clear();
    plan.skip.clear();
    m_doc->setModel(std::move(model), path, plan);
    showMessage(tr("Opened %1: %2 tensors, %3 parameters")
                    .arg(QFileInfo(path).fileName())
                    .arg(m_doc->model()->tensors().size())
                    .arg(QLocale().toString(qint64(modelParameterCount(*m_doc->model())))),
                false);
    emit modelOpened(path);
}

bool MainWindow::openDemo()
{
    Result<std::string> p = demoModelPath();
    if (!p) {
        showMessage(tr("No bundled demo model: %1").arg(QString::fromStdString(p.error().toString())), true);
        return false;
    }
    openFile(QString::fromStdString(*p));
    return true;
}

void MainWindow::selectTensor(int tensorIndex)
{
    const QModelIndex src = m_tree->indexOfTensor(static_cast<std::size_t>(tensorIndex));
    QModelIndex idx = m_proxy->mapFromSource(src);
    if (!idx.isValid()) {
        m_filter->clear();
        idx = m_proxy->mapFromSource(src);
    }
    if (!idx.isValid())
        return;
    m_treeView->scrollTo(idx);
    m_treeView->selectionModel()->setCurrentIndex(idx, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
}

std::vector<std::size_t> MainWindow::selectedTensors() const
{
    std::vector<std::size_t> out;
    std::vector<bool> seen(m_doc->hasModel() ? m_doc->model()->tensors().size() : 0, false);
    for (const QModelIndex& pi : m_treeView->selectionModel()->selectedRows(0)) {
        for (std::size_t t : m_tree->tensorsUnder(m_proxy->mapToSource(pi)))
            if (t < seen.size() && !seen[t]) {
                seen[t] = true;
                out.push_back(t);
            }
    }
    return out;
}

void MainWindow::onCurrentChanged()
{
    const QModelIndex cur = m_proxy->mapToSource(m_treeView->selectionModel()->currentIndex());
    const int t = cur.isValid() ? cur.data(ModelTreeModel::TensorIndexRole).toInt() : -1;
    m_tensorCtl->setCurrentTensor(t);
    refreshEditorScope();
}

void MainWindow::refreshEditorScope()
{
    const int t = m_tensorCtl->currentTensor();
    const auto sel = selectedTensors();
    if (t >= 0 && m_doc->hasModel()) {
        const TensorInfo& info = m_doc->model()->tensors()[static_cast<std::size_t>(t)];
        const ResolvedSpec rs = m_doc->specFor(static_cast<std::size_t>(t));
        m_editor->setTensorShape(info.logicalShape);
        // A spec that did not fit is shown as chosen (with the note), not as its fallback.
        const std::optional<QuantSpec> chosen = rs.fallback ? m_doc->plan().specFor(info.name) : rs.spec;
        if (chosen)
            m_editor->setSpec(*chosen);
        QString scope = QString::fromStdString(info.name);
        if (sel.size() > 1)
            scope += tr("  (%1 selected)").arg(sel.size());
        if (!rs.note.isEmpty())
            scope += QStringLiteral("\n") + rs.note;
        m_editor->setScopeText(scope);
    } else {
        m_editor->setTensorShape({});
        m_editor->setSpec(m_doc->plan().defaultSpec);
        m_editor->setScopeText(tr("Default spec (every tensor without an override)"));
    }
}

void MainWindow::onAnalysis(const std::shared_ptr<const TensorAnalysis>& a)
{
    // The analysis measured the current tensor under its spec: the tree's SQNR column takes it.
    const int t = m_tensorCtl->currentTensor();
    const ResolvedSpec rs = m_tensorCtl->currentSpec();
    if (t >= 0 && a->result && rs.spec && *rs.spec == a->spec) {
        TensorMetrics m;
        m.spec = a->spec;
        m.sqnrDb = a->result->metrics.sqnrDb;
        m.sumX2 = a->result->metrics.sumX2;
        m.sumErr2 = a->result->metrics.sumErr2;
        m.mse = a->result->metrics.mse;
        m.layerError = a->layerError;
        m.calibrationId = a->calibrationId;
        m_tree->setMetrics(static_cast<std::size_t>(t), m);
    }
    m_dist->setData(a->distribution);
    m_error->setData(a->error);
    m_channels->setData(a->channels);
    m_channelModel->setChannels(a->channels);
    m_heatmap->setData(a->heatmap);
}

QString MainWindow::statusSizesText() const
{
    return m_sizes->text();
}

void MainWindow::refreshStatus()
{
    if (!m_doc->hasModel()) {
        m_sizes->setText(tr("No model open — File › Open or drop a file here"));
        return;
    }
    const auto t = m_tree->totals();
    QStringList counts;
    for (const auto& [fmt, n] : t.countByFormat)
        counts << QStringLiteral("%1 %2").arg(n).arg(fmt);
    m_sizes->setText(tr("model: %1 → %2 · %3 bits/weight · %4")
                         .arg(formatBytes(t.bytesBefore), formatBytes(t.bytesAfter))
                         .arg(t.bitsPerWeight, 0, 'f', 2)
                         .arg(counts.join(QStringLiteral(", "))));
}

void MainWindow::setJobProgress(Job job, int permille)
{
    m_jobPermille[static_cast<std::size_t>(job)] = permille;
    updateBusy();
}

void MainWindow::updateBusy()
{
    const std::array<bool, static_cast<std::size_t>(Job::Count)> running{
        m_openSlot->isRunning(),
        m_tensorCtl->busy(),
        m_exportCtl && m_exportCtl->isRunning(),
        m_calibCtl && m_calibCtl->isLoading(),
        m_summaryCtl && m_summaryCtl->isRunning(),
        m_tradeoffCtl && (m_tradeoffCtl->isSweeping() || m_tradeoffCtl->isMeasuringPlan()),
    };
    // One bar for every job: it follows the first running one (opening a file before the current
    // tensor, before the longer passes); Cancel stops them all.
    int shown = -1;
    for (std::size_t j = 0; j < running.size() && shown < 0; ++j)
        if (running[j])
            shown = static_cast<int>(j);
    const bool busy = shown >= 0;
    m_progress->setVisible(busy);
    m_cancel->setVisible(busy);
    if (!busy) {
        m_jobPermille.fill(0);
        m_progress->setValue(0);
        return;
    }
    m_progress->setValue(m_jobPermille[static_cast<std::size_t>(shown)]);
}

void MainWindow::addRecentFile(const QString& path)
{
    QSettings s(QString::fromLatin1(kOrg), QString::fromLatin1(kOrg));
    QStringList recent = s.value(QStringLiteral("recentFiles")).toStringList();
    const QString abs = QFileInfo(path).absoluteFilePath();
    recent.removeAll(abs);
    recent.prepend(abs);
    while (recent.size() > kMaxRecent)
        recent.removeLast();
    s.setValue(QStringLiteral("recentFiles"), recent);
    s.setValue(QStringLiteral("lastDir"), QFileInfo(abs).absolutePath());
    rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu()
{
    if (!m_recentMenu)
        return;
    m_recentMenu->clear();
    QSettings s(QString::fromLatin1(kOrg), QString::fromLatin1(kOrg));
    const QStringList recent = s.value(QStringLiteral("recentFiles")).toStringList();
    for (const QString& p : recent)
        m_recentMenu->addAction(QFileInfo(p).fileName(), this, [this, p] { openFile(p); })->setToolTip(p);
    m_recentMenu->setEnabled(!recent.isEmpty());
}

void MainWindow::readSettings()
{
    QSettings s(QString::fromLatin1(kOrg), QString::fromLatin1(kOrg));
    if (!restoreGeometry(s.value(QStringLiteral("geometry")).toByteArray()))
        resize(1400, 860);
    restoreState(s.value(QStringLiteral("windowState")).toByteArray());
    QuantPlan plan;
    plan.defaultSpec.bits = 4;
    plan.defaultSpec.granularity = Granularity{GranularityKind::Channel, 0, 128};
    const QString last = s.value(QStringLiteral("lastSpec")).toString();
    if (!last.isEmpty()) {
        try {
            const nlohmann::json j = nlohmann::json::parse(last.toStdString());
            if (auto spec = specFromJson(j); spec && findFormatTraits(spec->format))
                plan.defaultSpec = *spec;
        } catch (const std::exception&) {
            // A corrupt settings value: keep the built-in default.
        }
    }
    m_doc->setPlanDirect(plan);
    refreshEditorScope();
}

void MainWindow::writeSettings()
{
    QSettings s(QString::fromLatin1(kOrg), QString::fromLatin1(kOrg));
    s.setValue(QStringLiteral("geometry"), saveGeometry());
    s.setValue(QStringLiteral("windowState"), saveState());
}

void MainWindow::closeEvent(QCloseEvent* event)
{
    writeSettings();
    m_tensorCtl->cancel();
    m_summaryCtl->cancel();
    m_calibCtl->cancel();
    m_runner->shutdown();
    event->accept();
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event)
{
    if (event->mimeData()->hasUrls())
        event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event)
{
    const auto urls = event->mimeData()->urls();
    if (!urls.isEmpty() && urls.first().isLocalFile()) {
        openFile(urls.first().toLocalFile());
        event->acceptProposedAction();
    }
}

} // namespace ql
