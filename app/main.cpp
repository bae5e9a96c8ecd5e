// quantlens: the desktop explorer. Usage: quantlens [MODEL_FILE]
// With no file the bundled demo model opens (when this build has one).

#include "app/main_window.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QTimer>

int main(int argc, char* argv[])
{
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("QuantLens"));
    QApplication::setOrganizationName(QStringLiteral("QuantLens"));
    QApplication::setApplicationVersion(QStringLiteral(QL_VERSION));
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/quantlens.svg")));
    QApplication::setDesktopFileName(QStringLiteral("quantlens"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Quantization explorer for neural-network weights"));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument(QStringLiteral("file"),
                                 QStringLiteral("Model to open (.safetensors, .gguf, .h5, .npy, .npz); default: the demo model"));
    parser.process(app);

    ql::MainWindow window;
    window.show();
    const QStringList args = parser.positionalArguments();
    QTimer::singleShot(0, &window, [&window, args] {
        if (!args.isEmpty())
            window.openFile(args.first());
        else
            window.openDemo();
    });
    return app.exec();
}
