// Item models under QAbstractItemModelTester: the model tree (and its filter proxy), the channel
// table and the compare table; plan resolution and the tree's numbers.

#include "app/document.h"
#include "app/models/channel_table_model.h"
#include "app/models/compare_table_model.h"
#include "app/models/model_tree_model.h"
#include "app/models/tensor_filter_proxy.h"
#include "app/tensor_analysis.h"
#include "core/quant/quantize.h"
#include "fixture_model.h"

#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QTest>

#include <cmath>

using namespace ql;

namespace {

QModelIndex childNamed(const QAbstractItemModel& m, const QModelIndex& parent, const QString& name)
{
    for (int r = 0; r < m.rowCount(parent); ++r) {
        const QModelIndex i = m.index(r, 0, parent);
        if (i.data().toString() == name)
            return i;
    }
    return {};
}

int countTensors(const QAbstractItemModel& m, const QModelIndex& parent = {})
{
    int n = 0;
    for (int r = 0; r < m.rowCount(parent); ++r) {
        const QModelIndex i = m.index(r, 0, parent);
        if (i.data(ModelTreeModel::TensorIndexRole).toInt() >= 0)
            ++n;
        n += countTensors(m, i);
    }
    return n;
}

QuantPlan int4ChannelPlan()
{
    QuantPlan p;
    p.defaultSpec.bits = 4;
    p.defaultSpec.granularity = Granularity{GranularityKind::Channel, 0, 128};
    return p;
}

} // namespace

class TstItemModels : public QObject {
    Q_OBJECT
private slots:
    void treeStructure()
    {
        Document doc;
        ModelTreeModel tree(&doc);
        QAbstractItemModelTester tester(&tree, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(tree.rowCount(), 0);
        doc.setModel(test::makeFixtureModel(), QStringLiteral("fixture"), int4ChannelPlan());
        // Top level: layers, norm, embed.
        QCOMPARE(tree.rowCount(), 3);
        const QModelIndex layers = childNamed(tree, {}, QStringLiteral("layers"));
        QVERIFY(layers.isValid());
        QCOMPARE(tree.rowCount(layers), 2);
        const QModelIndex l0 = childNamed(tree, layers, QStringLiteral("0"));
        const QModelIndex attn = childNamed(tree, l0, QStringLiteral("attn"));
        const QModelIndex q = childNamed(tree, attn, QStringLiteral("q_proj"));
        QVERIFY(q.isValid());
        QCOMPARE(q.data(ModelTreeModel::TensorIndexRole).toInt(), -1);  // q_proj is a group ...
        const QModelIndex w = childNamed(tree, q, QStringLiteral("weight"));  // ... holding the tensor
        QVERIFY(w.isValid());
        QCOMPARE(w.data(ModelTreeModel::TensorIndexRole).toInt(), 0);
        QCOMPARE(w.data(ModelTreeModel::FullNameRole).toString(), QStringLiteral("layers.0.attn.q_proj.weight"));
        QCOMPARE(countTensors(tree), 7);
        QCOMPARE(tree.tensorsUnder(layers).size(), std::size_t(5));
        QCOMPARE(tree.indexOfTensor(0), w);

        // Columns: shape, params, size, spec.
        auto col = [&](const QModelIndex& i, int c) { return tree.index(i.row(), c, i.parent()); };
        QCOMPARE(col(w, ModelTreeModel::Shape).data().toString(), QStringLiteral("[64, 128]"));
        QCOMPARE(col(w, ModelTreeModel::Params).data(ModelTreeModel::SortKeyRole).toLongLong(), 64 * 128);
        QCOMPARE(col(layers, ModelTreeModel::Params).data(ModelTreeModel::ValueRole).toLongLong(),
                 3 * 64 * 128 + 2 * 128 * 64);
        QCOMPARE(col(w, ModelTreeModel::Spec).data().toString(),
                 QString::fromStdString(specShortName(*doc.specFor(0).spec)));
        const qint64 after = col(w, ModelTreeModel::Size).data(ModelTreeModel::SortKeyRole).toLongLong();
        QCOMPARE(after, qint64(std::ceil(bitsPerWeight(*doc.specFor(0).spec, {64, 128}) * 64 * 128 / 8.0)));
        const auto totals = tree.totals();
        QCOMPARE(totals.params, qint64(5 * 8192 + 64 + 4800));
        QCOMPARE(totals.bytesBefore, totals.params * 4);
        QVERIFY(totals.bitsPerWeight > 4.0 && totals.bitsPerWeight < 5.0);
        int counted = 0;
        for (const auto& [fmt, n] : totals.countByFormat)
            counted += n;
        QCOMPARE(counted, 7);
    }

    void planEditsAndMetrics()
    {
        Document doc;
        ModelTreeModel tree(&doc);
        QAbstractItemModelTester tester(&tree, QAbstractItemModelTester::FailureReportingMode::QtTest);
        doc.setModel(test::makeFixtureModel(), QStringLiteral("fixture"), int4ChannelPlan());
        QSignalSpy changed(&tree, &QAbstractItemModel::dataChanged);
        QuantPlan p = doc.plan();
        QuantSpec s8 = p.defaultSpec;
        s8.bits = 8;
        p.setSpec("layers.0.attn.q_proj.weight", s8);
        doc.changePlan(p, QStringLiteral("int8 q"));
        QVERIFY(changed.count() > 0);
        const QModelIndex w = tree.indexOfTensor(0);
        const QModelIndex specIdx = tree.index(w.row(), ModelTreeModel::Spec, w.parent());
        QCOMPARE(specIdx.data().toString(), QString::fromStdString(specShortName(s8)));
        QCOMPARE(doc.undoStack()->count(), 1);
        doc.undoStack()->undo();
        QCOMPARE(specIdx.data().toString().contains(QStringLiteral("int4")), true);
        doc.undoStack()->redo();
        QCOMPARE(specIdx.data().toString().contains(QStringLiteral("int8")), true);

        // Metrics: shown only while they belong to the current spec; groups aggregate.
        const QModelIndex sq = tree.index(w.row(), ModelTreeModel::Sqnr, w.parent());
        QVERIFY(std::isnan(sq.data(ModelTreeModel::SortKeyRole).toDouble()));
        TensorMetrics m;
        m.spec = *doc.specFor(0).spec;
        m.sqnrDb = 40.0;
        m.sumX2 = 1e4;
        m.sumErr2 = 1.0;
        tree.setMetrics(0, m);
        QCOMPARE(sq.data(ModelTreeModel::SortKeyRole).toDouble(), 40.0);
        QCOMPARE(sq.data().toString(), QStringLiteral("40.0 dB"));
        QVERIFY(sq.data(Qt::BackgroundRole).isValid());
        const QModelIndex layers = tree.index(0, 0);
        const QModelIndex layersSq = tree.index(layers.row(), ModelTreeModel::Sqnr, layers.parent());
        QCOMPARE(layersSq.data(ModelTreeModel::ValueRole).toDouble(), 40.0);
        doc.undoStack()->undo();  // spec changes → metrics stale
        QVERIFY(std::isnan(sq.data(ModelTreeModel::SortKeyRole).toDouble()));
    }

    void layerErrorFollowsCalibration()
    {
        Document doc;
        ModelTreeModel tree(&doc);
        QAbstractItemModelTester tester(&tree, QAbstractItemModelTester::FailureReportingMode::QtTest);
        doc.setModel(test::makeFixtureModel(), QStringLiteral("fixture"), int4ChannelPlan());
        // A set feeding q_proj of layer 0 ([64, 128] weight: 128 input features).
        Result<calib::CalibrationSet> set =
            calib::makeCalibrationSet({{"layers.0.attn.q_proj", Tensor({4, 128}, std::vector<float>(4 * 128, 0.5f))}}, "test");
        QVERIFY(set.has_value());
        auto bindings = calib::bindToModel(*set, *doc.model());
        QVERIFY(bindings.has_value());
        QSignalSpy changed(&tree, &QAbstractItemModel::dataChanged);
        const CalibrationPtr c1 = makeBoundCalibration(*set, *bindings, 0, QStringLiteral("a"));
        doc.setCalibration(c1);
        QVERIFY(changed.count() > 0);  // the column redraws
        QCOMPARE(doc.calibrationIdFor(0), c1->id);
        QCOMPARE(doc.calibrationIdFor(1), std::uint64_t(0));  // k_proj is not fed by the set

        const QModelIndex w = tree.indexOfTensor(0);
        const QModelIndex le = tree.index(w.row(), ModelTreeModel::LayerError, w.parent());
        TensorMetrics m;
        m.spec = *doc.specFor(0).spec;
        m.sqnrDb = 30.0;
        m.layerError = 0.0123;
        m.calibrationId = c1->id;
        tree.setMetrics(0, m);
        QVERIFY(tree.isCurrent(0));
        QCOMPARE(le.data(ModelTreeModel::ValueRole).toDouble(), 0.0123);
        QCOMPARE(le.data().toString(), QStringLiteral("1.23 %"));
        // Another cut of the set (new id): the old number is stale, no longer shown, SQNR stays.
        doc.setCalibration(makeBoundCalibration(*set, *bindings, 2, QStringLiteral("a")));
        QVERIFY(!tree.isCurrent(0));
        QVERIFY(std::isnan(le.data(ModelTreeModel::ValueRole).toDouble()));
        QVERIFY(le.data().toString().isEmpty());
        QCOMPARE(tree.index(w.row(), ModelTreeModel::Sqnr, w.parent()).data(ModelTreeModel::ValueRole).toDouble(), 30.0);
        // Tensors the set does not feed stay current across calibration changes.
        TensorMetrics k;
        k.spec = *doc.specFor(1).spec;
        tree.setMetrics(1, k);
        QVERIFY(tree.isCurrent(1));
        doc.setCalibration(nullptr);
        QVERIFY(tree.isCurrent(1));
        // A new model drops the calibration.
        doc.setCalibration(c1);
        doc.setModel(test::makeFixtureModel(), QStringLiteral("fixture"), int4ChannelPlan());
        QVERIFY(!doc.calibration());
    }

    void filterProxy()
    {
        Document doc;
        ModelTreeModel tree(&doc);
        doc.setModel(test::makeFixtureModel(), QStringLiteral("fixture"), int4ChannelPlan());
        TensorFilterProxy proxy;
        proxy.setSourceModel(&tree);
        QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(countTensors(proxy), 7);
        proxy.setPattern(QStringLiteral("*mlp*"), PatternKind::Glob);
        QCOMPARE(countTensors(proxy), 2);
        QCOMPARE(proxy.rowCount(), 1);  // only "layers" remains at the top
        proxy.setPattern(QStringLiteral("q_proj"), PatternKind::Glob);  // no wildcard: substring
        QCOMPARE(countTensors(proxy), 2);
        proxy.setPattern(QStringLiteral("layers\\.1\\..*|^embed"), PatternKind::Regex);
        QCOMPARE(countTensors(proxy), 3);
        proxy.setPattern(QStringLiteral("([unclosed"), PatternKind::Regex);
        QVERIFY(!proxy.patternValid());
        QCOMPARE(countTensors(proxy), 7);  // an invalid regex filters nothing
        proxy.setPattern(QString(), PatternKind::Glob);

        // Sorting by raw parameter counts, descending: "layers" (5 tensors) before "embed" and "norm".
        proxy.sort(ModelTreeModel::Params, Qt::DescendingOrder);
        QCOMPARE(proxy.index(0, 0).data().toString(), QStringLiteral("layers"));
        QCOMPARE(proxy.index(1, 0).data().toString(), QStringLiteral("embed"));
        QCOMPARE(proxy.index(2, 0).data().toString(), QStringLiteral("norm"));
        proxy.sort(ModelTreeModel::Params, Qt::AscendingOrder);
        QCOMPARE(proxy.index(0, 0).data().toString(), QStringLiteral("norm"));
    }

    void resolveSpecFallbacks()
    {
        QuantPlan plan;
        plan.defaultSpec.bits = 4;
        plan.defaultSpec.granularity = Granularity{GranularityKind::Group, 0, 128};
        TensorInfo info;
        info.name = "embed.weight";
        info.logicalShape = {100, 48};  // 48 is not a multiple of 128
        info.numel = 4800;
        const ResolvedSpec r = resolveSpec(plan, info);
        QVERIFY(r.spec.has_value());
        QVERIFY(r.fallback);
        QCOMPARE(r.spec->granularity.kind, GranularityKind::Channel);
        QVERIFY(!r.note.isEmpty());

        // Keras Dense [in, out]: the default's channel axis follows the tensor's output axis.
        plan.defaultSpec.granularity = Granularity{GranularityKind::Channel, 0, 128};
        info.name = "dense/kernel:0";
        info.logicalShape = {48, 10};
        info.channelAxis = 1;
        QCOMPARE(resolveSpec(plan, info).spec->granularity.axis, 1);
        // An explicit override keeps its own axis.
        QuantSpec own = plan.defaultSpec;
        plan.setSpec(info.name, own);
        QCOMPARE(resolveSpec(plan, info).spec->granularity.axis, 0);
        // Skips: a skip pattern gives way to an exact-name override only.
        plan.skip.push_back("dense/*");
        QVERIFY(resolveSpec(plan, info).spec.has_value());
        plan.clearSpec(info.name);
        QVERIFY(!resolveSpec(plan, info).spec.has_value());
        QVERIFY(resolveSpec(plan, info).skipped);
        plan.overrides.push_back(PlanOverride{PatternKind::Glob, "dense/*", own});
        QVERIFY(resolveSpec(plan, info).skipped);

        // Reset to default under patterns: the patterns stay, the tensor gets the default by name.
        plan.overrides.clear();
        plan.defaultSpec.bits = 4;
        QuantSpec six = plan.defaultSpec;
        six.bits = 6;
        plan.setSpec(info.name, six);
        resetToDefault(plan, info);  // skipped by "dense/*": the default spec is pinned by name
        QCOMPARE(plan.skip, std::vector<std::string>{"dense/*"});
        ResolvedSpec after = resolveSpec(plan, info);
        QVERIFY(after.spec.has_value());
        QCOMPARE(after.spec->bits, 4);
        QCOMPARE(after.spec->granularity.axis, 1);
        plan.skip.clear();
        plan.overrides.push_back(PlanOverride{PatternKind::Glob, "dense/*", six});
        resetToDefault(plan, info);  // a glob override: the same
        QCOMPARE(resolveSpec(plan, info).spec->bits, 4);
        QCOMPARE(int(plan.overrides.size()), 2);
        plan.overrides.erase(plan.overrides.begin());  // drop the glob: nothing left to pin against
        resetToDefault(plan, info);
        QVERIFY(plan.overrides.empty());
        QCOMPARE(resolveSpec(plan, info).spec->bits, 4);
        // A 1-D tensor under a skip pattern is already kept as stored: reset adds nothing.
        TensorInfo bias = info;
        bias.name = "dense/bias:0";
        bias.logicalShape = {10};
        plan.skip = {"dense/*"};
        plan.skipTensor(bias.name);
        resetToDefault(plan, bias);
        QCOMPARE(plan.skip, std::vector<std::string>{"dense/*"});
        QVERIFY(resolveSpec(plan, bias).skipped);
    }

    void channelTable()
    {
        Tensor t({8, 32});
        for (std::int64_t i = 0; i < t.numel(); ++i)
            t.data[std::size_t(i)] = float((i % 32) - 16) * 0.01f * float(1 + i / 32);
        QuantSpec s;
        s.bits = 4;
        s.granularity = Granularity{GranularityKind::Channel, 0, 128};
        Result<QuantResult> r = quantize(t.view(), s);
        QVERIFY(r.has_value());
        const ChannelData c = makeChannelData(t.view(), *r, 0);
        QCOMPARE(c.size(), 8);
        ChannelTableModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setChannels(c);
        QCOMPARE(model.rowCount(), 8);
        QCOMPARE(model.columnCount(), int(ChannelTableModel::ColumnCount));
        for (int ch = 0; ch < 8; ++ch) {
            QCOMPARE(model.index(ch, ChannelTableModel::Min).data(ChannelTableModel::SortKeyRole).toDouble(),
                     double(-0.16f * float(ch + 1)));
            QCOMPARE(model.index(ch, ChannelTableModel::ClipHi).data(ChannelTableModel::SortKeyRole).toDouble(),
                     double(r->ranges[std::size_t(ch)].hi));
            QVERIFY(model.index(ch, ChannelTableModel::Sqnr).data(ChannelTableModel::SortKeyRole).toDouble() > 10.0);
        }
        model.setChannels({});
        QCOMPARE(model.rowCount(), 0);
    }

    void compareTable()
    {
        CompareData d;
        CompareEntry a;
        a.label = QStringLiteral("int4 g128");
        a.metrics.sqnrDb = 20.5;
        a.metrics.mse = 1e-4;
        a.bitsPerWeight = 4.25;
        CompareEntry b;
        b.label = QStringLiteral("q4_k");
        b.error = QStringLiteral("does not fit");
        d.entries = {a, b};
        CompareTableModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setEntries(d);
        QCOMPARE(model.rowCount(), 2);
        QCOMPARE(model.index(0, CompareTableModel::Spec).data().toString(), QStringLiteral("int4 g128"));
        QCOMPARE(model.index(0, CompareTableModel::BitsPerWeight).data(CompareTableModel::SortKeyRole).toDouble(), 4.25);
        QCOMPARE(model.index(0, CompareTableModel::Sqnr).data().toString(), QStringLiteral("20.5 dB"));
        QCOMPARE(model.index(1, CompareTableModel::Sqnr).data().toString(), QStringLiteral("—"));
        QCOMPARE(model.index(1, CompareTableModel::Spec).data(Qt::ToolTipRole).toString(), QStringLiteral("does not fit"));
    }
};

QTEST_MAIN(TstItemModels)
#include "tst_item_models.moc"
