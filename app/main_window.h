#pragma once
// The main window: model tree (left dock), views of the current tensor (centre tabs), spec editor
// (right dock), status bar with sizes and background progress. Features live in controllers;
// this class wires them to widgets and owns menus, settings and file opening.

#include "app/document.h"
#include "app/task_runner.h"

#include <QMainWindow>

#include <array>
#include <memory>

class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTabWidget;
class QTreeView;
class QMenu;

namespace ql {

class DistributionView;
class ErrorView;
class ChannelsView;
class HeatmapView;
class TradeoffView;
class CompareView;
class SummaryView;
class SpecEditor;
class ModelTreeModel;
class TensorFilterProxy;
class TensorController;
class SummaryController;
class TradeoffController;
class CompareController;
class ExportController;
class CalibrationController;
class ChannelTableModel;
class CompareTableModel;
struct TensorAnalysis;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    /// Opens a model file in the background; errors appear as a non-modal message.
    void openFile(const QString& path);
    /// Installs an already opened model (the bundled demo, a test fixture).
    void setModel(ModelPtr model, const QString& path);
    /// Opens the bundled demo model if this build has one; false otherwise.
    bool openDemo();

    // For tests and the screenshot tool.
    Document* document() { return m_doc; }
    TaskRunner* runner() { return m_runner; }
    ModelTreeModel* treeModel() const { return m_tree; }
    TensorFilterProxy* treeProxy() const { return m_proxy; }
    QTreeView* treeView() const { return m_treeView; }
    QLineEdit* filterEdit() const { return m_filter; }
    SpecEditor* specEditor() const { return m_editor; }
    TensorController* tensorController() const { return m_tensorCtl; }
    SummaryController* summaryController() const { return m_summaryCtl; }
    TradeoffController* tradeoffController() const { return m_tradeoffCtl; }
    CompareController* compareController() const { return m_compareCtl; }
    ExportController* exportController() const { return m_exportCtl; }
    CalibrationController* calibrationController() const { return m_calibCtl; }
    /// Loads a calibration set file (or a folder of .npy files) in the background, as the
    /// picker's "Load file…" does after its dialog; errors appear as a non-modal message.
    void loadCalibration(const QString& path);
    QTabWidget* tabs() const { return m_tabs; }
    /// The status bar's progress bar and Cancel button (shown while any background job runs).
    QProgressBar* progressBar() const { return m_progress; }
    QPushButton* cancelButton() const { return m_cancel; }
    JobSlot* openSlot() const { return m_openSlot; }
    DistributionView* distributionView() const { return m_dist; }
    ErrorView* errorView() const { return m_error; }
    ChannelsView* channelsView() const { return m_channels; }
    HeatmapView* heatmapView() const { return m_heatmap; }
    TradeoffView* tradeoffView() const { return m_tradeoff; }
    CompareView* compareView() const { return m_compare; }
    SummaryView* summaryView() const { return m_summary; }
    QString lastMessage() const { return m_lastMessage; }
    QString statusSizesText() const;
    /// Selects a tensor in the tree (makes it current).
    void selectTensor(int tensorIndex);

signals:
    void modelOpened(const QString& path);
    void openFailed(const QString& message);
    /// A message for the user (errors are shown non-modally in the status area).
    void messageShown(const QString& text);

protected:
    void closeEvent(QCloseEvent* event) override;
    void showEvent(QShowEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void buildMenus();
    void buildDocks();
    void buildStatusBar();
    void showMessage(const QString& text, bool error);
    void onCurrentChanged();
    void onAnalysis(const std::shared_ptr<const TensorAnalysis>& a);
    void refreshStatus();
    void refreshEditorScope();
    void refreshCalibrationPicker();
    std::vector<std::size_t> selectedTensors() const;
    void addRecentFile(const QString& path);
    void rebuildRecentMenu();
    void readSettings();
    void writeSettings();
    void showAbout();
    void updateBusy();
    /// Background jobs that show in the status bar, in the order the progress bar prefers them.
    enum class Job { Open, Tensor, Export, Calibration, Summary, Sweep, Count };
    void setJobProgress(Job job, int permille);

    Document* m_doc;
    TaskRunner* m_runner;
    JobSlot* m_openSlot;
    ModelTreeModel* m_tree;
    TensorFilterProxy* m_proxy;
    TensorController* m_tensorCtl;
    SummaryController* m_summaryCtl = nullptr;
    TradeoffController* m_tradeoffCtl = nullptr;
    CompareController* m_compareCtl = nullptr;
    ExportController* m_exportCtl = nullptr;
    CalibrationController* m_calibCtl = nullptr;
    ChannelTableModel* m_channelModel = nullptr;
    CompareTableModel* m_compareModel = nullptr;

    QTreeView* m_treeView;
    QLineEdit* m_filter;
    QComboBox* m_filterKind;
    SpecEditor* m_editor;
    QTabWidget* m_tabs;
    DistributionView* m_dist;
    ErrorView* m_error = nullptr;
    ChannelsView* m_channels = nullptr;
    HeatmapView* m_heatmap = nullptr;
    TradeoffView* m_tradeoff = nullptr;
    CompareView* m_compare = nullptr;
    SummaryView* m_summary = nullptr;
    QLabel* m_sizes;
    QLabel* m_message;
    QProgressBar* m_progress;
    std::array<int, static_cast<std::size_t>(Job::Count)> m_jobPermille{};
    QPushButton* m_cancel;
    QMenu* m_recentMenu = nullptr;
    QString m_lastMessage;
    QString m_pendingPath;
    bool m_layoutRestored = false;
};

} // namespace ql
