// The demo network engine: forward pass against hand-computed networks, activation fake
// quantization, training behaviour and independence of the thread count.

#include "core/base/random.h"
#include "core/nn/network.h"

#include <QtTest>

#include <omp.h>

#include <set>

using namespace ql;
using namespace ql::nn;

namespace {

Network handDense()
{
    auto net = buildNetwork({2}, {{LayerKind::Dense, "fc1", 2}, {LayerKind::ReLU, "", 0}, {LayerKind::Dense, "fc2", 1}});
    Network n = std::move(net).value();
    n.layers[0].weight.data = {1.0f, -1.0f, 0.5f, 2.0f};
    n.layers[0].bias.data = {0.1f, -0.2f};
    n.layers[2].weight.data = {2.0f, 0.5f};
    n.layers[2].bias.data = {1.0f};
    return n;
}

Network handConv()
{
    auto net = buildNetwork({1, 2, 2}, {{LayerKind::Conv2D, "conv", 1},
                                        {LayerKind::MaxPool2, "", 0},
                                        {LayerKind::Flatten, "", 0},
                                        {LayerKind::Dense, "fc", 2}});
    Network n = std::move(net).value();
    n.layers[0].weight.data = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    n.layers[0].bias.data = {0.5f};
    n.layers[3].weight.data = {1.0f, -1.0f};
    n.layers[3].bias.data = {0.0f, 0.25f};
    return n;
}

Network smallCnn(std::uint64_t seed)
{
    Network n = buildNetwork({1, 8, 8}, {{LayerKind::Conv2D, "conv1", 4},
                                         {LayerKind::ReLU, "", 0},
                                         {LayerKind::MaxPool2, "", 0},
                                         {LayerKind::Flatten, "", 0},
                                         {LayerKind::Dense, "fc", 3}})
                    .value();
    initParameters(n, seed);
    return n;
}

} // namespace

class TestNnEngine : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void shapesAreDerived()
    {
        const Network n = smallCnn(1);
        QCOMPARE(n.layers[0].outShape, (Shape{4, 8, 8}));
        QCOMPARE(n.layers[2].outShape, (Shape{4, 4, 4}));
        QCOMPARE(n.layers[3].outShape, (Shape{64}));
        QCOMPARE(n.layers[4].weight.shape, (Shape{3, 64}));
        QCOMPARE(n.parameterCount(), std::int64_t(4 * 9 + 4 + 3 * 64 + 3));
        QCOMPARE(n.weightedLayers().size(), std::size_t(2));
        QCOMPARE(n.findLayer("fc"), 4);
        QCOMPARE(n.findLayer("nope"), -1);
    }

    void badArchitecturesAreRejected()
    {
        QVERIFY(!buildNetwork({64}, {{LayerKind::Conv2D, "c", 4}}).has_value());
        QVERIFY(!buildNetwork({1, 3, 3}, {{LayerKind::MaxPool2, "", 0}}).has_value());
        QVERIFY(!buildNetwork({4}, {{LayerKind::Dense, "a", 2}, {LayerKind::Dense, "a", 2}}).has_value());
        QVERIFY(!buildNetwork({4}, {{LayerKind::Dense, "", 2}}).has_value());
    }

    void denseForwardMatchesHand()
    {
        const Network n = handDense();
        const float x[4] = {1.0f, 2.0f, -1.0f, 0.0f};
        auto y = forward(n, ConstMatrixMap(x, 2, 2));
        QVERIFY(y.has_value());
        // Sample 0: fc1 = [1 − 2 + 0.1, 0.5 + 4 − 0.2] = [−0.9, 4.3] → relu [0, 4.3] → 2·0 + 0.5·4.3 + 1 = 3.15.
        QCOMPARE((*y)(0, 0), 3.15f);
        // Sample 1: fc1 = [−1 + 0.1, −0.5 − 0.2] = [−0.9, −0.7] → relu 0 → 1.
        QCOMPARE((*y)(1, 0), 1.0f);
    }

    void convForwardMatchesHand()
    {
        // PyTorch convention (cross-correlation), kernel k[ky][kx] = 1..9 on [[1, 2], [3, 4]], zero padding:
        // (0,0) = 1·5 + 2·6 + 3·8 + 4·9 = 77, (0,1) = 67, (1,0) = 47, (1,1) = 37, plus bias 0.5.
        const Network n = handConv();
        std::vector<float> cols(4 * 9);
        const float img[4] = {1, 2, 3, 4};
        im2col3x3(img, 1, 2, 2, cols.data());
        const float k[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        const float expect[4] = {77, 67, 47, 37};
        for (int p = 0; p < 4; ++p) {
            float s = 0;
            for (int j = 0; j < 9; ++j)
                s += cols[std::size_t(p * 9 + j)] * k[j];
            QCOMPARE(s, expect[p]);
        }
        std::vector<RowMatrixF> rec;
        ForwardOptions fo;
        fo.recordInputs = &rec;
        auto y = forward(n, ConstMatrixMap(img, 1, 4), fo);
        QVERIFY(y.has_value());
        // max-pool → 77.5; fc = [77.5, −77.5 + 0.25].
        QCOMPARE((*y)(0, 0), 77.5f);
        QCOMPARE((*y)(0, 1), -77.25f);
        QCOMPARE(rec.size(), std::size_t(4));
        QCOMPARE(rec[0].cols(), Eigen::Index(4));
        QCOMPARE(rec[3](0, 0), 77.5f);  // the dense layer saw the pooled value
        QVERIFY(rec[1].size() == 0);
    }

    void softmaxAndArgmax()
    {
        RowMatrixF l(2, 3);
        l << 0.0f, std::log(2.0f), std::log(5.0f), 1000.0f, 1000.0f, -1000.0f;
        const RowMatrixF p = softmax(l);
        QVERIFY(std::fabs(p(0, 0) - 0.125f) < 1e-6f);
        QVERIFY(std::fabs(p(0, 2) - 0.625f) < 1e-6f);
        QVERIFY(std::fabs(p(1, 0) - 0.5f) < 1e-6f);  // no overflow
        const auto a = argmaxRows(l);
        QCOMPARE(a[0], 2);
        QCOMPARE(a[1], 0);  // first maximum wins
        QVERIFY(std::fabs(crossEntropy(l, {2, 0}) - 0.5 * (-std::log(0.625) - std::log(0.5))) < 1e-6);
    }

    void wrongInputWidthIsAnError()
    {
        const Network n = handDense();
        const float x[3] = {1, 2, 3};
        auto y = forward(n, ConstMatrixMap(x, 1, 3));
        QVERIFY(!y.has_value());
        QCOMPARE(y.error().code, ErrorCode::ShapeMismatch);
    }

    void staticActivationQuantization()
    {
        // [0, 2.55] on 8 bits asymmetric: scale 0.01, zero point 0.
        ActQuantLayer q;
        q.enabled = true;
        q.ranges = {{0.0f, 2.55f}};
        float x[4] = {1.234f, 3.0f, -1.0f, 0.005f};
        fakeQuantizeActivations(x, 1, 4, 4, q);
        QVERIFY(std::fabs(x[0] - 1.23f) < 1e-6f);
        QVERIFY(std::fabs(x[1] - 2.55f) < 1e-6f);  // clipped
        QCOMPARE(x[2], 0.0f);                       // clipped to lo (0)
        QCOMPARE(x[3], 0.0f);                       // 0.5 rounds half to even → 0
        // Per channel: two channels of two values each.
        ActQuantLayer c = q;
        c.perChannel = true;
        c.bits = 2;
        c.ranges = {{0.0f, 3.0f}, {0.0f, 30.0f}};
        float y[4] = {1.2f, 2.6f, 12.0f, 26.0f};
        fakeQuantizeActivations(y, 1, 4, 2, c);
        QCOMPARE(y[0], 1.0f);
        QCOMPARE(y[1], 3.0f);
        QCOMPARE(y[2], 10.0f);
        QCOMPARE(y[3], 30.0f);
    }

    void dynamicActivationQuantization()
    {
        // Per-sample min-max: row 0 spans [0, 3] → 2-bit scale 1; row 1 spans [0, 6] → scale 2.
        ActQuantLayer q;
        q.enabled = true;
        q.dynamic = true;
        q.bits = 2;
        float x[6] = {0.4f, 1.6f, 3.0f, 6.0f, 2.9f, 0.0f};
        fakeQuantizeActivations(x, 2, 3, 3, q);
        QCOMPARE(x[0], 0.0f);
        QCOMPARE(x[1], 2.0f);
        QCOMPARE(x[2], 3.0f);
        QCOMPARE(x[3], 6.0f);
        QCOMPARE(x[4], 2.0f);
        QCOMPARE(x[5], 0.0f);
    }

    void weightQuantizationFollowsThePlan()
    {
        const Network n = smallCnn(3);
        QuantPlan plan;
        plan.defaultSpec.bits = 2;
        plan.defaultSpec.granularity.kind = GranularityKind::Tensor;
        plan.skip = {"fc.*"};
        auto q = quantizeWeights(n, plan);
        QVERIFY(q.has_value());
        QVERIFY(q->layers[0].weight.data != n.layers[0].weight.data);
        QCOMPARE(q->layers[4].weight.data, n.layers[4].weight.data);  // skipped
        QCOMPARE(q->layers[0].bias.data, n.layers[0].bias.data);      // biases stay float
        std::set<float> levels(q->layers[0].weight.data.begin(), q->layers[0].weight.data.end());
        QVERIFY(levels.size() <= 4);
        auto only = quantizeWeights(n, plan, "conv1");
        QVERIFY(only.has_value());
        plan.defaultSpec.bits = 1;  // not an integer width
        auto bad = quantizeWeights(n, plan);
        QVERIFY(!bad.has_value());
        QVERIFY(QString::fromStdString(bad.error().toString()).contains(QLatin1String("conv1.weight")));
    }

    void trainingLearnsAndIsThreadIndependent()
    {
        // Three classes of 8×8 images: a bright top row, left column or centre.
        Rng rng(7);
        const int n = 96;
        RowMatrixF x = RowMatrixF::Zero(n, 64);
        std::vector<int> y(n);
        for (int i = 0; i < n; ++i) {
            y[std::size_t(i)] = i % 3;
            for (int p = 0; p < 64; ++p)
                x(i, p) = float(0.2 * rng.uniform());
            for (int k = 0; k < 8; ++k) {
                const int p = y[std::size_t(i)] == 0 ? k : y[std::size_t(i)] == 1 ? k * 8 : 27 + (k % 2) + 8 * (k / 4);
                x(i, p) += 1.0f;
            }
        }
        const ConstMatrixMap xm(x.data(), n, 64);
        TrainConfig cfg;
        cfg.epochs = 15;
        cfg.batchSize = 20;
        cfg.learningRate = 5e-3;
        const int before = omp_get_max_threads();
        std::vector<std::vector<float>> weights;
        for (int threads : {1, 2}) {
            omp_set_num_threads(threads);
            Network net = smallCnn(11);
            auto log = train(net, xm, y, cfg);
            QVERIFY(log.has_value());
            QCOMPARE(log->epochLoss.size(), std::size_t(15));
            QVERIFY(log->epochLoss.back() < 0.5 * log->epochLoss.front());
            QVERIFY(log->epochAccuracy.back() > 0.95);
            weights.push_back(net.layers[0].weight.data);
            weights.back().insert(weights.back().end(), net.layers[4].weight.data.begin(), net.layers[4].weight.data.end());
            // Forward: every logit identical with 1 and 2 threads.
            auto a = forward(net, xm);
            omp_set_num_threads(3 - threads);
            auto b = forward(net, xm);
            QVERIFY(a.has_value() && b.has_value());
            QVERIFY(*a == *b);
        }
        omp_set_num_threads(before);
        QVERIFY(weights[0] == weights[1]);
    }

    void trainingRejectsBadLabels()
    {
        Network net = smallCnn(1);
        RowMatrixF x = RowMatrixF::Zero(2, 64);
        auto r = train(net, ConstMatrixMap(x.data(), 2, 64), {0, 7}, TrainConfig{});
        QVERIFY(!r.has_value());
        auto r2 = train(net, ConstMatrixMap(x.data(), 2, 64), {0}, TrainConfig{});
        QVERIFY(!r2.has_value());
    }

    void cancellation()
    {
        Network net = smallCnn(1);
        RowMatrixF x = RowMatrixF::Zero(64, 64);
        TaskContext ctx;
        ctx.isCancelled = [] { return true; };
        auto r = forward(net, ConstMatrixMap(x.data(), 64, 64), {}, ctx);
        QVERIFY(!r.has_value());
        QCOMPARE(r.error().code, ErrorCode::Cancelled);
        auto t = train(net, ConstMatrixMap(x.data(), 64, 64), std::vector<int>(64, 0), TrainConfig{}, ctx);
        QVERIFY(!t.has_value());
        QCOMPARE(t.error().code, ErrorCode::Cancelled);
    }
};

QTEST_APPLESS_MAIN(TestNnEngine)
#include "tst_nn_engine.moc"
