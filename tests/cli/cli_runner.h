#pragma once
// Runs the real quantlens-cli executable (QL_CLI_PATH) as a user would, for the CLI test suites.

#include <QByteArray>
#include <QProcess>
#include <QStringList>

namespace ql::test {

struct CliRun {
    int code = -1;
    QByteArray out, err;
};

/// Starts quantlens-cli with `args`, waits up to two minutes, returns exit code, stdout and stderr.
inline CliRun runCli(const QStringList& args)
{
    QProcess p;
    p.start(QStringLiteral(QL_CLI_PATH), args);
    p.waitForFinished(120000);
    return CliRun{p.exitCode(), p.readAllStandardOutput(), p.readAllStandardError()};
}

} // namespace ql::test
