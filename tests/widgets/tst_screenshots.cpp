// Saves a screenshot of every view (light and dark palettes) under <build>/screenshots, on the
// demo model when this tree bundles it, else on a fixture model. Asserts that each capture has
// content; the pictures themselves are for people to look at.

#include "../app/fixture_model.h"
#include "app/controllers/calibration_controller.h"
#include "app/controllers/summary_controller.h"
#include "app/controllers/tensor_controller.h"
#include "app/controllers/tradeoff_controller.h"
#include "app/controllers/compare_controller.h"
#include "app/main_window.h"
#include "widgets/compare_view.h"
#include "widgets/summary_view.h"
#include "widgets/tradeoff_view.h"

#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QPalette>
#include <QSignalSpy>
#include <QSettings>
#include <QStandardPaths>
#include <QStyle>
#include <QStyleFactory>
#include <QTabWidget>
#include <QTest>

#include <cmath>

using namespace ql;

namespace {

QPalette darkPalette()
{
    QPalette p;
    p.setColor(QPalette::Window, QColor(37, 37, 40));
    p.setColor(QPalette::WindowText, QColor(225, 225, 225));
    p.setColor(QPalette::Base, QColor(25, 25, 28));
    p.setColor(QPalette::AlternateBase, QColor(42, 42, 46));
    p.setColor(QPalette::Text, QColor(225, 225, 225));
    p.setColor(QPalette::Button, QColor(45, 45, 50));
    p.setColor(QPalette::ButtonText, QColor(225, 225, 225));
    p.setColor(QPalette::Highlight, QColor(60, 110, 180));
    p.setColor(QPalette::HighlightedText, Qt::white);
    p.setColor(QPalette::ToolTipBase, QColor(45, 45, 50));
    p.setColor(QPalette::ToolTipText, QColor(225, 225, 225));
    p.setColor(QPalette::PlaceholderText, QColor(140, 140, 140));
    for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
        p.setColor(QPalette::Disabled, role, QColor(120, 120, 120));
    return p;
}

bool settle(MainWindow& w, int ms = 20000)
{
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < ms) {
        auto a = w.tensorController()->analysis();
        const ResolvedSpec rs = w.tensorController()->currentSpec();
        if (a && rs.spec && a->spec == *rs.spec && !w.tensorController()->busy())
            return true;
        QTest::qWait(20);
    }
    return false;
}

} // namespace

class TstScreenshots : public QObject {
    Q_OBJECT
private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QSettings(QStringLiteral("QuantLens"), QStringLiteral("QuantLens")).clear();
        QApplication::setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
    }

    void views_data()
    {
        QTest::addColumn<bool>("dark");
        QTest::newRow("light") << false;
        QTest::newRow("dark") << true;
    }

    void views()
    {
        QFETCH(bool, dark);
        QApplication::setPalette(dark ? darkPalette() : QApplication::style()->standardPalette());
        const QString outDir = QStringLiteral(QL_BINARY_DIR "/screenshots");
        QVERIFY(QDir().mkpath(outDir));
        MainWindow w;
        w.resize(1500, 900);
        w.show();
        QSignalSpy opened(&w, &MainWindow::modelOpened);
        if (w.openDemo())
            QTRY_COMPARE_WITH_TIMEOUT(opened.count(), 1, 20000);
        else
            w.setModel(test::makeFixtureModel(), QStringLiteral("fixture.safetensors"));
        QVERIFY(settle(w));
        // With the demo, its own calibration set: the tree's layer-output error column is filled.
        if (w.calibrationController()->chooseDemo())
            QTRY_VERIFY_WITH_TIMEOUT(w.document()->calibration() != nullptr, 20000);
        QVERIFY(settle(w));
        QTRY_VERIFY_WITH_TIMEOUT(!w.summaryController()->isRunning(), 30000);
        // The last Compare slot shows the current tensor's own spec next to the presets.
        w.compareView()->slotBox(3)->setCurrentIndex(CompareController::kCurrentSpec);
        emit w.compareView()->slotBox(3)->activated(CompareController::kCurrentSpec);
        QTabWidget* tabs = w.tabs();
        for (int i = 0; i < tabs->count(); ++i) {
            tabs->setCurrentIndex(i);
            QWidget* page = tabs->currentWidget();
            if (page == w.tradeoffView()) {
                QTRY_VERIFY_WITH_TIMEOUT(!w.tradeoffView()->data().points.empty() && !w.tradeoffController()->isSweeping(), 30000);
                // With a calibration set feeding the tensor: its layer-output error.
                if (w.tradeoffView()->data().hasLayerError())
                    w.tradeoffView()->setMetric(TradeoffView::Metric::LayerError);
            }
            if (page == w.compareView())
                QTRY_VERIFY_WITH_TIMEOUT(!w.compareView()->data().entries.empty(), 30000);
            if (page == w.summaryView())
                QTRY_VERIFY_WITH_TIMEOUT(!w.summaryView()->data().layers.empty(), 30000);
            QTest::qWait(150);  // queued replots
            const QImage img = w.grab().toImage();
            QVERIFY(!img.isNull());
            QString name = tabs->tabText(i).toLower().replace(QLatin1Char(' '), QLatin1Char('_'));
            name.remove(QLatin1Char('&'));
            const QString path = QStringLiteral("%1/%2_%3.png").arg(outDir, name, dark ? QStringLiteral("dark") : QStringLiteral("light"));
            QVERIFY2(img.save(path), qPrintable(path));
            // Not a blank capture: many distinct colours.
            QSet<QRgb> colours;
            for (int y = 0; y < img.height(); y += 7)
                for (int x = 0; x < img.width(); x += 7)
                    colours.insert(img.pixel(x, y));
            QVERIFY2(colours.size() > 20, qPrintable(path));
        }
        // The whole-model trade-off, against test accuracy when the model is the demo.
        tabs->setCurrentWidget(w.tradeoffView());
        QSignalSpy swept(w.tradeoffController(), &TradeoffController::sweepFinished);
        w.tradeoffView()->scopeBox()->setCurrentIndex(1);
        QTRY_COMPARE_WITH_TIMEOUT(swept.count(), 1, 60000);
        QTRY_VERIFY_WITH_TIMEOUT(!w.tradeoffController()->isMeasuringPlan(), 30000);
        w.tradeoffView()->setMetric(TradeoffView::Metric::Sqnr);
        QTest::qWait(150);
        const QString sqnrPath = QStringLiteral("%1/trade-off_model_sqnr_%2.png").arg(outDir, dark ? QStringLiteral("dark") : QStringLiteral("light"));
        QVERIFY2(w.grab().toImage().save(sqnrPath), qPrintable(sqnrPath));
        // With the demo's calibration set bound, every point has the mean layer-output error.
        if (w.document()->calibration()) {
            const TradeoffData& d = w.tradeoffView()->data();
            QVERIFY(d.hasLayerError());
            for (const auto& p : d.points)
                QVERIFY2(p.layerError > 0.0 && std::isfinite(p.layerError), qPrintable(p.label));
            QVERIFY(d.current && std::isfinite(d.current->layerError));
            w.tradeoffView()->setMetric(TradeoffView::Metric::LayerError);
            QCOMPARE(w.tradeoffView()->shownMetric(), TradeoffView::Metric::LayerError);
            QTest::qWait(150);
            const QString lePath = QStringLiteral("%1/trade-off_model_layer_error_%2.png").arg(outDir, dark ? QStringLiteral("dark") : QStringLiteral("light"));
            QVERIFY2(w.grab().toImage().save(lePath), qPrintable(lePath));
        }
        if (w.tradeoffView()->data().hasAccuracy())
            w.tradeoffView()->setMetric(TradeoffView::Metric::Accuracy);
        QTest::qWait(150);
        const QString path = QStringLiteral("%1/trade-off_model_%2.png").arg(outDir, dark ? QStringLiteral("dark") : QStringLiteral("light"));
        QVERIFY2(w.grab().toImage().save(path), qPrintable(path));
    }
};

QTEST_MAIN(TstScreenshots)
#include "tst_screenshots.moc"
