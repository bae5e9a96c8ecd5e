#include "core/nn/network.h"

#include "core/base/random.h"
#include "core/quant/int_grid.h"
#include "core/quant/quantize.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

namespace ql::nn {

namespace {

using MatMap = Eigen::Map<RowMatrixF>;
using ConstMatMap = Eigen::Map<const RowMatrixF>;

// Samples per forward chunk and per gradient chunk. Fixed, so results never depend on threads.
constexpr std::int64_t kForwardChunk = 16;
constexpr std::int64_t kTrainChunk = 8;

ConstMatMap weightMatrix(const Layer& l)
{
    return ConstMatMap(l.weight.data.data(), l.weight.shape[0], l.weight.numel() / l.weight.shape[0]);
}

// Output of layer `l` for the n rows of `in`.
void layerForward(const Layer& l, const RowMatrixF& in, RowMatrixF& out, std::vector<float>& cols)
{
    const std::int64_t n = in.rows();
    out.resize(n, l.outFeatures());
    switch (l.kind) {
    case LayerKind::Dense: {
        out.noalias() = in * weightMatrix(l).transpose();
        out.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(l.bias.data.data(), l.bias.numel());
        break;
    }
    case LayerKind::Conv2D: {
        const std::int64_t c = l.inShape[0], h = l.inShape[1], w = l.inShape[2], hw = h * w;
        const std::int64_t outC = l.outShape[0];
        cols.resize(std::size_t(hw * c * 9));
        ConstMatMap colsM(cols.data(), hw, c * 9);
        const auto wm = weightMatrix(l);
        for (std::int64_t i = 0; i < n; ++i) {
            im2col3x3(in.row(i).data(), c, h, w, cols.data());
            MatMap y(out.row(i).data(), outC, hw);
            y.noalias() = wm * colsM.transpose();
            for (std::int64_t o = 0; o < outC; ++o)
                y.row(o).array() += l.bias.data[std::size_t(o)];
        }
        break;
    }
    case LayerKind::ReLU: out = in.cwiseMax(0.0f); break;
    case LayerKind::MaxPool2: {
        const std::int64_t c = l.inShape[0], h = l.inShape[1], w = l.inShape[2];
        const std::int64_t oh = h / 2, ow = w / 2;
        for (std::int64_t i = 0; i < n; ++i) {
            const float* s = in.row(i).data();
            float* d = out.row(i).data();
            for (std::int64_t ch = 0; ch < c; ++ch)
                for (std::int64_t y = 0; y < oh; ++y)
                    for (std::int64_t x = 0; x < ow; ++x) {
                        const float* p = s + ch * h * w + 2 * y * w + 2 * x;
                        d[(ch * oh + y) * ow + x] = std::max(std::max(p[0], p[1]), std::max(p[w], p[w + 1]));
                    }
        }
        break;
    }
    case LayerKind::Flatten: out = in; break;
    }
}

// Gradient buffers of one chunk (weights and biases of every layer; empty for unweighted ones).
struct Grads {
    std::vector<std::vector<float>> w, b;
    double loss = 0.0;
    std::int64_t correct = 0;

    void init(const Network& net)
    {
        w.resize(net.layers.size());
        b.resize(net.layers.size());
        for (std::size_t l = 0; l < net.layers.size(); ++l) {
            w[l].assign(net.layers[l].weight.data.size(), 0.0f);
            b[l].assign(net.layers[l].bias.data.size(), 0.0f);
        }
        loss = 0.0;
        correct = 0;
    }
};

// Forward and backward of one chunk; adds the summed (not averaged) gradients to g.
void chunkGradients(const Network& net, const ConstMatMap& x, const std::vector<int>& labels,
                    const std::vector<std::int64_t>& idx, Grads& g)
{
    const std::int64_t n = std::int64_t(idx.size());
    const std::size_t nl = net.layers.size();
    std::vector<RowMatrixF> acts(nl + 1);
    acts[0].resize(n, x.cols());
    for (std::int64_t i = 0; i < n; ++i)
        acts[0].row(i) = x.row(idx[std::size_t(i)]);
    std::vector<float> cols;
    for (std::size_t l = 0; l < nl; ++l)
        layerForward(net.layers[l], acts[l], acts[l + 1], cols);

    // dLoss/dlogits of softmax cross-entropy: p − onehot.
    RowMatrixF grad = softmax(acts[nl]);
    for (std::int64_t i = 0; i < n; ++i) {
        const int y = labels[std::size_t(idx[std::size_t(i)])];
        g.loss -= std::log(std::max(double(grad(i, y)), 1e-30));
        Eigen::Index best = 0;
        acts[nl].row(i).maxCoeff(&best);
        g.correct += best == y ? 1 : 0;
        grad(i, y) -= 1.0f;
    }
    RowMatrixF gin;
    for (std::size_t li = nl; li-- > 0;) {
        const Layer& l = net.layers[li];
        const RowMatrixF& in = acts[li];
        switch (l.kind) {
        case LayerKind::Dense: {
            MatMap dw(g.w[li].data(), l.weight.shape[0], l.weight.shape[1]);
            dw.noalias() += grad.transpose() * in;
            // Bias sums in a fixed scalar order: Eigen's vectorised partial reductions into an
            // unaligned destination split work by the heap address, which changes the rounding.
            for (Eigen::Index i = 0; i < n; ++i)
                for (Eigen::Index o = 0; o < grad.cols(); ++o)
                    g.b[li][std::size_t(o)] += grad(i, o);
            if (li > 0)
                gin.noalias() = grad * weightMatrix(l);
            break;
        }
        case LayerKind::Conv2D: {
            const std::int64_t c = l.inShape[0], h = l.inShape[1], w = l.inShape[2], hw = h * w;
            const std::int64_t outC = l.outShape[0];
            MatMap dw(g.w[li].data(), outC, c * 9);
            cols.resize(std::size_t(hw * c * 9));
            ConstMatMap colsM(cols.data(), hw, c * 9);
            RowMatrixF dcols(hw, c * 9);
            if (li > 0)
                gin.setZero(n, l.inFeatures());
            const auto wm = weightMatrix(l);
            for (std::int64_t i = 0; i < n; ++i) {
                ConstMatMap gy(grad.row(i).data(), outC, hw);
                im2col3x3(in.row(i).data(), c, h, w, cols.data());
                dw.noalias() += gy * colsM;
                for (std::int64_t o = 0; o < outC; ++o) {
                    float sum = 0.0f;
                    for (std::int64_t p = 0; p < hw; ++p)
                        sum += gy(o, p);
                    g.b[li][std::size_t(o)] += sum;
                }
                if (li == 0)
                    continue;
                dcols.noalias() = gy.transpose() * wm;
                // col2im: scatter-add each column entry back to the input pixel it came from.
                float* dx = gin.row(i).data();
                for (std::int64_t y = 0; y < h; ++y)
                    for (std::int64_t xx = 0; xx < w; ++xx) {
                        const float* row = dcols.row(y * w + xx).data();
                        for (std::int64_t ch = 0; ch < c; ++ch)
                            for (int ky = 0; ky < 3; ++ky) {
                                const std::int64_t sy = y + ky - 1;
                                if (sy < 0 || sy >= h)
                                    continue;
                                for (int kx = 0; kx < 3; ++kx) {
                                    const std::int64_t sx = xx + kx - 1;
                                    if (sx >= 0 && sx < w)
                                        dx[(ch * h + sy) * w + sx] += row[ch * 9 + ky * 3 + kx];
                                }
                            }
                    }
            }
            break;
        }
        case LayerKind::ReLU: gin = (in.array() > 0.0f).select(grad, 0.0f); break;
        case LayerKind::MaxPool2: {
            const std::int64_t c = l.inShape[0], h = l.inShape[1], w = l.inShape[2];
            const std::int64_t oh = h / 2, ow = w / 2;
            gin.setZero(n, l.inFeatures());
            for (std::int64_t i = 0; i < n; ++i) {
                const float* s = in.row(i).data();
                for (std::int64_t ch = 0; ch < c; ++ch)
                    for (std::int64_t y = 0; y < oh; ++y)
                        for (std::int64_t xx = 0; xx < ow; ++xx) {
                            // The first maximum of the window (row-major) takes the gradient.
                            const std::int64_t base = ch * h * w + 2 * y * w + 2 * xx;
                            const std::int64_t cand[4] = {base, base + 1, base + w, base + w + 1};
                            std::int64_t best = cand[0];
                            for (int k = 1; k < 4; ++k)
                                if (s[cand[k]] > s[best])
                                    best = cand[k];
                            gin(i, best) += grad(i, (ch * oh + y) * ow + xx);
                        }
            }
            break;
        }
        case LayerKind::Flatten: gin = grad; break;
        }
        if (li > 0)
            grad.swap(gin);
    }
}

} // namespace

const char* layerKindName(LayerKind k)
{
    switch (k) {
    case LayerKind::Dense: return "dense";
    case LayerKind::Conv2D: return "conv2d";
    case LayerKind::ReLU: return "relu";
    case LayerKind::MaxPool2: return "maxpool2";
    case LayerKind::Flatten: return "flatten";
    }
    return "?";
}

std::vector<std::size_t> Network::weightedLayers() const
{
    std::vector<std::size_t> r;
    for (std::size_t i = 0; i < layers.size(); ++i)
        if (layers[i].weighted())
            r.push_back(i);
    return r;
}

int Network::findLayer(const std::string& name) const
{
    for (std::size_t i = 0; i < layers.size(); ++i)
        if (layers[i].weighted() && layers[i].name == name)
            return int(i);
    return -1;
}

std::int64_t Network::parameterCount() const
{
    std::int64_t n = 0;
    for (const auto& l : layers)
        n += l.weight.numel() + l.bias.numel();
    return n;
}

Result<Network> buildNetwork(const Shape& inputShape, const std::vector<LayerDef>& defs)
{
    Network net;
    net.inputShape = inputShape;
    if (inputShape.empty() || !checkedNumel(inputShape))
        return makeError(ErrorCode::InvalidArgument, "invalid network input shape " + shapeToString(inputShape));
    Shape cur = inputShape;
    std::set<std::string> names;
    for (const auto& d : defs) {
        Layer l;
        l.kind = d.kind;
        l.name = d.name;
        l.inShape = cur;
        switch (d.kind) {
        case LayerKind::Dense: {
            if (cur.size() != 1)
                return makeError(ErrorCode::InvalidArgument, "dense layer needs a flat input (add a flatten layer)", d.name);
            if (d.outputs <= 0)
                return makeError(ErrorCode::InvalidArgument, "dense layer needs a positive output count", d.name);
            l.weight = Tensor(Shape{d.outputs, cur[0]});
            l.bias = Tensor(Shape{d.outputs});
            cur = {d.outputs};
            break;
        }
        case LayerKind::Conv2D:
            if (cur.size() != 3)
                return makeError(ErrorCode::InvalidArgument, "conv2d layer needs a [C, H, W] input", d.name);
            if (d.outputs <= 0)
                return makeError(ErrorCode::InvalidArgument, "conv2d layer needs a positive channel count", d.name);
            l.weight = Tensor(Shape{d.outputs, cur[0], 3, 3});
            l.bias = Tensor(Shape{d.outputs});
            cur = {d.outputs, cur[1], cur[2]};
            break;
        case LayerKind::ReLU: break;
        case LayerKind::MaxPool2:
            if (cur.size() != 3 || cur[1] % 2 != 0 || cur[2] % 2 != 0)
                return makeError(ErrorCode::InvalidArgument, "maxpool2 needs a [C, H, W] input with even H and W");
            cur = {cur[0], cur[1] / 2, cur[2] / 2};
            break;
        case LayerKind::Flatten: cur = {numel(cur)}; break;
        }
        if (l.weighted()) {
            if (l.name.empty() || !names.insert(l.name).second)
                return makeError(ErrorCode::InvalidArgument, "weighted layers need unique names", l.name);
        }
        l.outShape = cur;
        net.layers.push_back(std::move(l));
    }
    return net;
}

Result<void> setParameters(Network& net, const std::function<Result<Tensor>(const std::string&)>& lookup)
{
    for (auto& l : net.layers) {
        if (!l.weighted())
            continue;
        for (Tensor* t : {&l.weight, &l.bias}) {
            const std::string name = l.name + (t == &l.weight ? ".weight" : ".bias");
            auto v = lookup(name);
            if (!v)
                return std::move(v).error().within("tensor '" + name + "'");
            if (v->shape != t->shape)
                return makeError(ErrorCode::ShapeMismatch,
                                 "shape " + shapeToString(v->shape) + ", expected " + shapeToString(t->shape),
                                 "tensor '" + name + "'");
            for (float f : v->data)
                if (!std::isfinite(f))
                    return makeError(ErrorCode::NonFinite, "non-finite parameter", "tensor '" + name + "'");
            t->data = std::move(v->data);
        }
    }
    return {};
}

void fakeQuantizeActivations(float* x, std::int64_t n, std::int64_t features, std::int64_t channels,
                             const ActQuantLayer& q)
{
    if (!q.enabled || channels <= 0)
        return;
    const IntGrid grid{q.bits, q.scheme, Rounding::HalfEven};
    const std::int64_t run = features / channels;
    auto apply = [&](float* v, std::int64_t m, const IntParams& p) {
        for (std::int64_t k = 0; k < m; ++k)
            if (std::isfinite(v[k]))
                v[k] = dequantizeOne(quantizeOne(v[k], p, Rounding::HalfEven), p);
    };
    if (!q.dynamic) {
        std::vector<IntParams> params;
        for (const auto& r : q.ranges)
            params.push_back(intParams(r.lo, r.hi, grid));
        if (params.empty())
            return;
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t c = 0; c < channels; ++c)
                apply(x + i * features + c * run, run, params[q.perChannel ? std::min<std::size_t>(std::size_t(c), params.size() - 1) : 0]);
        return;
    }
    for (std::int64_t i = 0; i < n; ++i) {
        float* row = x + i * features;
        const std::int64_t segs = q.perChannel ? channels : 1;
        const std::int64_t len = features / segs;
        for (std::int64_t s = 0; s < segs; ++s) {
            const FiniteRange fr = finiteRange(row + s * len, len);
            apply(row + s * len, len, intParams(fr.lo, fr.hi, grid));
        }
    }
}

Result<RowMatrixF> forward(const Network& net, const ConstMatrixMap& x, const ForwardOptions& options, TaskContext& ctx)
{
    if (x.cols() != net.inputFeatures())
        return makeError(ErrorCode::ShapeMismatch,
                         "input has " + std::to_string(x.cols()) + " features, the network expects " +
                             std::to_string(net.inputFeatures()));
    const std::int64_t n = x.rows();
    RowMatrixF logits(n, net.outputFeatures());
    if (options.recordInputs) {
        options.recordInputs->assign(net.layers.size(), RowMatrixF());
        for (std::size_t l = 0; l < net.layers.size(); ++l)
            if (net.layers[l].weighted())
                (*options.recordInputs)[l].resize(n, net.layers[l].inFeatures());
    }
    const std::int64_t chunks = (n + kForwardChunk - 1) / kForwardChunk;
    // Multiply-adds per sample: below ~30 M in total a parallel region costs more than it saves
    // (measured on the demo: a 360-sample CNN pass is ~3 ms on one core).
    std::int64_t macs = 0;
    for (const auto& l : net.layers)
        if (l.weighted())
            macs += l.weight.numel() * (l.kind == LayerKind::Conv2D ? l.outShape[1] * l.outShape[2] : 1);
    const bool parallel = double(macs) * double(n) > 3e7;
    ProgressTracker progress(ctx, n);
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
    for (std::int64_t ch = 0; ch < chunks; ++ch) {
        if (progress.stopRequested())
            continue;
        const std::int64_t r0 = ch * kForwardChunk, m = std::min(kForwardChunk, n - r0);
        RowMatrixF a = x.middleRows(r0, m), b;
        std::vector<float> cols;
        for (std::size_t l = 0; l < net.layers.size(); ++l) {
            const Layer& layer = net.layers[l];
            if (layer.weighted()) {
                if (options.recordInputs)
                    (*options.recordInputs)[l].middleRows(r0, m) = a;
                if (options.actQuant && l < options.actQuant->size() && (*options.actQuant)[l].enabled) {
                    const std::int64_t channels = layer.inShape.size() == 3 ? layer.inShape[0] : layer.inFeatures();
                    fakeQuantizeActivations(a.data(), m, layer.inFeatures(), channels, (*options.actQuant)[l]);
                }
            }
            layerForward(layer, a, b, cols);
            a.swap(b);
        }
        logits.middleRows(r0, m) = a;
        progress.advance(m);
    }
    progress.finish();
    if (progress.stopRequested())
        return makeError(ErrorCode::Cancelled, "cancelled");
    return logits;
}

RowMatrixF softmax(const RowMatrixF& logits)
{
    RowMatrixF p(logits.rows(), logits.cols());
    for (Eigen::Index i = 0; i < logits.rows(); ++i) {
        const double mx = logits.row(i).maxCoeff();
        double sum = 0.0;
        for (Eigen::Index j = 0; j < logits.cols(); ++j)
            sum += std::exp(double(logits(i, j)) - mx);
        for (Eigen::Index j = 0; j < logits.cols(); ++j)
            p(i, j) = float(std::exp(double(logits(i, j)) - mx) / sum);
    }
    return p;
}

std::vector<int> argmaxRows(const RowMatrixF& m)
{
    std::vector<int> r(std::size_t(m.rows()));
    for (Eigen::Index i = 0; i < m.rows(); ++i) {
        Eigen::Index best = 0;
        m.row(i).maxCoeff(&best);
        r[std::size_t(i)] = int(best);
    }
    return r;
}

double crossEntropy(const RowMatrixF& logits, const std::vector<int>& labels)
{
    const RowMatrixF p = softmax(logits);
    double s = 0.0;
    for (Eigen::Index i = 0; i < p.rows(); ++i)
        s -= std::log(std::max(double(p(i, labels[std::size_t(i)])), 1e-30));
    return p.rows() > 0 ? s / double(p.rows()) : 0.0;
}

Result<Network> quantizeWeights(const Network& net, const QuantPlan& plan, const std::string& only, TaskContext& ctx)
{
    Network q = net;
    QuantOptions opt;
    opt.keepCodes = false;
    opt.keepDequant = true;
    for (auto& l : q.layers) {
        if (!l.weighted() || (!only.empty() && l.name != only))
            continue;
        const std::string name = l.name + ".weight";
        const auto spec = plan.specFor(name);
        if (!spec || spec->format == Format::F32)
            continue;
        auto r = quantize(l.weight.view(), *spec, opt, ctx);
        if (!r)
            return std::move(r).error().within("tensor '" + name + "'");
        l.weight.data = std::move(r->dequant);
    }
    return q;
}

void im2col3x3(const float* sample, std::int64_t c, std::int64_t h, std::int64_t w, float* cols)
{
    const std::int64_t width = c * 9;
    for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) {
            float* row = cols + (y * w + x) * width;
            for (std::int64_t ch = 0; ch < c; ++ch)
                for (int ky = 0; ky < 3; ++ky)
                    for (int kx = 0; kx < 3; ++kx) {
                        const std::int64_t sy = y + ky - 1, sx = x + kx - 1;
                        row[ch * 9 + ky * 3 + kx] =
                            (sy >= 0 && sy < h && sx >= 0 && sx < w) ? sample[(ch * h + sy) * w + sx] : 0.0f;
                    }
        }
}

void initParameters(Network& net, std::uint64_t seed)
{
    Rng rng(seed);
    for (auto& l : net.layers) {
        if (!l.weighted())
            continue;
        const double fanIn = double(l.weight.numel() / l.weight.shape[0]);
        const double sd = std::sqrt(2.0 / fanIn);
        for (float& v : l.weight.data)
            v = float(rng.normal() * sd);
        std::fill(l.bias.data.begin(), l.bias.data.end(), 0.0f);
    }
}

Result<TrainLog> train(Network& net, const ConstMatrixMap& x, const std::vector<int>& labels, const TrainConfig& config,
                       TaskContext& ctx)
{
    const std::int64_t n = x.rows();
    if (x.cols() != net.inputFeatures())
        return makeError(ErrorCode::ShapeMismatch, "training inputs have " + std::to_string(x.cols()) +
                                                       " features, the network expects " +
                                                       std::to_string(net.inputFeatures()));
    if (std::int64_t(labels.size()) != n || n == 0)
        return makeError(ErrorCode::ShapeMismatch, "training set needs one label per sample");
    for (int y : labels)
        if (y < 0 || y >= net.outputFeatures())
            return makeError(ErrorCode::InvalidArgument, "label " + std::to_string(y) + " out of range");
    if (config.batchSize <= 0 || config.epochs < 0)
        return makeError(ErrorCode::InvalidArgument, "batch size and epochs must be positive");

    const std::size_t nl = net.layers.size();
    Grads total;
    total.init(net);
    std::vector<std::vector<float>> mw = total.w, vw = total.w, mb = total.b, vb = total.b;
    const std::int64_t maxChunks = (config.batchSize + kTrainChunk - 1) / kTrainChunk;
    std::vector<Grads> chunkGrads(static_cast<std::size_t>(maxChunks));
    for (auto& g : chunkGrads)
        g.init(net);

    TrainLog log;
    std::int64_t step = 0;
    std::vector<std::int64_t> order(static_cast<std::size_t>(n));
    for (int epoch = 0; epoch < config.epochs; ++epoch) {
        if (ctx.cancelled())
            return makeError(ErrorCode::Cancelled, "cancelled");
        std::iota(order.begin(), order.end(), std::int64_t(0));
        Rng rng(config.seed + std::uint64_t(epoch) + 1);
        for (std::int64_t i = n - 1; i > 0; --i) {
            const auto j = std::int64_t(rng.next() % std::uint64_t(i + 1));
            std::swap(order[std::size_t(i)], order[std::size_t(j)]);
        }
        double epochLoss = 0.0;
        std::int64_t epochCorrect = 0;
        for (std::int64_t b0 = 0; b0 < n; b0 += config.batchSize) {
            const std::int64_t bn = std::min<std::int64_t>(config.batchSize, n - b0);
            const std::int64_t chunks = (bn + kTrainChunk - 1) / kTrainChunk;
            // A minibatch is ~1 ms of work: too little to share between threads (the team's barriers
            // cost more than they save on a loaded machine). Chunks keep the summation order fixed;
            // callers parallelise over whole trainings instead (writeDemoResources).
            for (std::int64_t c = 0; c < chunks; ++c) {
                Grads& g = chunkGrads[std::size_t(c)];
                for (auto& v : g.w)
                    std::fill(v.begin(), v.end(), 0.0f);
                for (auto& v : g.b)
                    std::fill(v.begin(), v.end(), 0.0f);
                g.loss = 0.0;
                g.correct = 0;
                const std::int64_t s0 = b0 + c * kTrainChunk, sn = std::min(kTrainChunk, b0 + bn - s0);
                const std::vector<std::int64_t> idx(order.begin() + s0, order.begin() + s0 + sn);
                chunkGradients(net, x, labels, idx, g);
            }
            // Combine chunks in index order (fixed), then one Adam step on the mean gradient.
            ++step;
            const double bc1 = 1.0 - std::pow(config.beta1, double(step));
            const double bc2 = 1.0 - std::pow(config.beta2, double(step));
            const float inv = 1.0f / float(bn);
            for (std::int64_t c = 0; c < chunks; ++c) {
                epochLoss += chunkGrads[std::size_t(c)].loss;
                epochCorrect += chunkGrads[std::size_t(c)].correct;
            }
            for (std::size_t l = 0; l < nl; ++l) {
                Layer& layer = net.layers[l];
                if (!layer.weighted())
                    continue;
                for (int isBias = 0; isBias < 2; ++isBias) {
                    std::vector<float>& p = isBias ? layer.bias.data : layer.weight.data;
                    std::vector<float>& m = isBias ? mb[l] : mw[l];
                    std::vector<float>& v = isBias ? vb[l] : vw[l];
                    for (std::size_t k = 0; k < p.size(); ++k) {
                        float gsum = 0.0f;
                        for (std::int64_t c = 0; c < chunks; ++c)
                            gsum += isBias ? chunkGrads[std::size_t(c)].b[l][k] : chunkGrads[std::size_t(c)].w[l][k];
                        double gk = double(gsum * inv);
                        if (!isBias)
                            gk += config.weightDecay * double(p[k]);
                        m[k] = float(config.beta1 * m[k] + (1.0 - config.beta1) * gk);
                        v[k] = float(config.beta2 * v[k] + (1.0 - config.beta2) * gk * gk);
                        const double mh = double(m[k]) / bc1, vh = double(v[k]) / bc2;
                        p[k] = float(double(p[k]) - config.learningRate * mh / (std::sqrt(vh) + config.epsilon));
                    }
                }
            }
        }
        log.epochLoss.push_back(epochLoss / double(n));
        log.epochAccuracy.push_back(double(epochCorrect) / double(n));
        ctx.progress(epoch + 1, config.epochs);
    }
    return log;
}

} // namespace ql::nn
