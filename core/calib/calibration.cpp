#include "core/calib/calibration.h"

#include "core/quant/range.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>

namespace ql::calib {

namespace {

// Largest calibration tensor we accept (1 GiB of float32).
constexpr std::int64_t kMaxCalibElements = std::int64_t(1) << 28;

std::string layerContext(const std::string& layer) { return "calibration layer '" + layer + "'"; }

Result<void> checkLayer(const CalibrationLayer& l)
{
    if (l.layer.empty())
        return makeError(ErrorCode::InvalidArgument, "a calibration tensor has an empty name");
    if (l.samples.shape.size() < 2)
        return makeError(ErrorCode::ShapeMismatch,
                         "shape " + shapeToString(l.samples.shape) + ": expected [samples, features] or [samples, C, H, W]",
                         layerContext(l.layer));
    auto n = checkedNumel(l.samples.shape);
    if (!n)
        return std::move(n).error().within(layerContext(l.layer));
    if (*n > kMaxCalibElements)
        return makeError(ErrorCode::TooLarge, "more than 2^28 values", layerContext(l.layer));
    if (l.samples.shape[0] <= 0 || *n == 0)
        return makeError(ErrorCode::ShapeMismatch, "no samples", layerContext(l.layer));
    if (std::int64_t(l.samples.data.size()) != *n)
        return makeError(ErrorCode::Internal, "data size does not match the shape", layerContext(l.layer));
    for (std::size_t i = 0; i < l.samples.data.size(); ++i)
        if (!std::isfinite(l.samples.data[i])) {
            const std::int64_t per = *n / l.samples.shape[0];
            return makeError(ErrorCode::NonFinite,
                             std::string(std::isnan(l.samples.data[i]) ? "NaN" : "Inf") + " in sample " +
                                 std::to_string(std::int64_t(i) / per) + " (a calibration set must be finite)",
                             layerContext(l.layer));
        }
    return {};
}

Shape sampleShape(const Shape& s) { return Shape(s.begin() + 1, s.end()); }

} // namespace

const CalibrationLayer* CalibrationSet::find(const std::string& layer) const
{
    for (const auto& l : layers)
        if (l.layer == layer)
            return &l;
    return nullptr;
}

CalibrationSet CalibrationSet::firstSamples(std::int64_t n) const
{
    CalibrationSet r;
    r.source = source;
    for (const auto& l : layers) {
        if (n <= 0 || n >= l.sampleCount()) {
            r.layers.push_back(l);
            continue;
        }
        CalibrationLayer c;
        c.layer = l.layer;
        c.samples.shape = l.samples.shape;
        c.samples.shape[0] = n;
        c.samples.data.assign(l.samples.data.begin(), l.samples.data.begin() + n * l.features());
        r.layers.push_back(std::move(c));
    }
    return r;
}

Result<CalibrationSet> makeCalibrationSet(std::vector<CalibrationLayer> layers, const std::string& source)
{
    CalibrationSet set;
    set.source = source;
    for (auto& l : layers) {
        if (auto ok = checkLayer(l); !ok)
            return std::move(ok).error().within(source);
        if (set.find(l.layer))
            return makeError(ErrorCode::InvalidArgument, "layer listed twice", layerContext(l.layer)).within(source);
        set.layers.push_back(std::move(l));
    }
    if (set.layers.empty())
        return makeError(ErrorCode::NotFound, "the calibration set holds no tensors", source);
    return set;
}

Result<CalibrationSet> loadCalibrationSet(const std::string& path, TaskContext& ctx)
{
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        // A folder of .npy files: one layer per file, named after the file (without ".npy").
        std::vector<std::filesystem::path> files;
        for (const auto& e : std::filesystem::directory_iterator(path, ec))
            if (e.path().extension() == ".npy")
                files.push_back(e.path());
        if (ec)
            return makeError(ErrorCode::Io, "cannot list the folder: " + ec.message(), path);
        std::sort(files.begin(), files.end());
        std::vector<CalibrationLayer> layers;
        for (const auto& f : files) {
            const std::string layer = f.stem().string();
            auto m = openModel(f.string(), ctx);
            if (!m)
                return std::move(m).error().within(layerContext(layer));
            if ((*m)->tensors().size() != 1)
                return makeError(ErrorCode::Corrupt, "expected one array per .npy file", layerContext(layer)).within(path);
            if ((*m)->tensors()[0].numel > kMaxCalibElements)
                return makeError(ErrorCode::TooLarge, "more than 2^28 values", layerContext(layer)).within(path);
            auto t = (*m)->readTensor(0, ctx);
            if (!t)
                return std::move(t).error().within(layerContext(layer));
            layers.push_back({layer, std::move(*t)});
        }
        if (layers.empty())
            return makeError(ErrorCode::NotFound, "the folder holds no .npy files", path);
        return makeCalibrationSet(std::move(layers), path);
    }
    auto model = openModel(path, ctx);
    if (!model)
        return std::move(model).error();
    std::vector<CalibrationLayer> layers;
    const auto& infos = (*model)->tensors();
    for (std::size_t i = 0; i < infos.size(); ++i) {
        const TensorInfo& info = infos[i];
        if (info.numel > kMaxCalibElements)
            return makeError(ErrorCode::TooLarge, "more than 2^28 values", layerContext(info.name)).within(path);
        if (!info.supported)
            return makeError(ErrorCode::Unsupported, info.note.empty() ? "cannot be decoded" : info.note,
                             layerContext(info.name))
                .within(path);
        auto t = (*model)->readTensor(i, ctx);
        if (!t)
            return std::move(t).error().within(layerContext(info.name));
        layers.push_back({info.name, std::move(*t)});
    }
    return makeCalibrationSet(std::move(layers), path);
}

Result<void> checkAgainstNetwork(const CalibrationSet& set, const nn::Network& net, bool requireAll)
{
    std::string valid;
    for (std::size_t li : net.weightedLayers())
        valid += (valid.empty() ? "" : ", ") + net.layers[li].name;
    for (const auto& l : set.layers) {
        const int li = net.findLayer(l.layer);
        if (li < 0)
            return makeError(ErrorCode::NotFound, "no layer of the model has this name (layers: " + valid + ")",
                             layerContext(l.layer))
                .within(set.source);
        const Shape want = net.layers[std::size_t(li)].inShape;
        const Shape got = sampleShape(l.samples.shape);
        if (got != want)
            return makeError(ErrorCode::ShapeMismatch,
                             "samples of shape " + shapeToString(got) + ", but the layer takes inputs of shape " +
                                 shapeToString(want) + " (" + std::to_string(numel(want)) + " features)",
                             layerContext(l.layer))
                .within(set.source);
    }
    if (requireAll)
        for (std::size_t li : net.weightedLayers())
            if (!set.find(net.layers[li].name))
                return makeError(ErrorCode::NotFound, "the calibration set has no samples for this layer",
                                 layerContext(net.layers[li].name))
                    .within(set.source);
    return {};
}

Result<std::vector<LayerBinding>> bindToModel(const CalibrationSet& set, const Model& model)
{
    std::vector<LayerBinding> out;
    const auto& infos = model.tensors();
    for (std::size_t ci = 0; ci < set.layers.size(); ++ci) {
        const CalibrationLayer& l = set.layers[ci];
        std::optional<std::size_t> idx;
        for (const std::string& cand : {l.layer + ".weight", l.layer, l.layer + "/kernel", l.layer + "/kernel:0"})
            if ((idx = model.find(cand)))
                break;
        if (!idx) {
            std::vector<std::size_t> under;
            for (std::size_t i = 0; i < infos.size(); ++i)
                if (infos[i].role == TensorRole::Weight &&
                    (infos[i].name.rfind(l.layer + ".", 0) == 0 || infos[i].name.rfind(l.layer + "/", 0) == 0))
                    under.push_back(i);
            if (under.size() == 1)
                idx = under[0];
        }
        if (!idx)
            return makeError(ErrorCode::NotFound,
                             "no weight tensor of the model matches this layer (tried '" + l.layer + ".weight', '" +
                                 l.layer + "', '" + l.layer + "/kernel')",
                             layerContext(l.layer))
                .within(set.source);
        const TensorInfo& info = infos[*idx];
        const Shape& ws = info.logicalShape;
        LayerBinding b{ci, *idx, info.name, false};
        const Shape ss = sampleShape(l.samples.shape);
        if (ss.size() == 1) {
            if (ws.size() != 2)
                return makeError(ErrorCode::ShapeMismatch,
                                 "samples are [samples, features] but weight '" + info.name + "' has shape " +
                                     shapeToString(ws),
                                 layerContext(l.layer))
                    .within(set.source);
            b.inOutLayout = info.channelAxis == 1;
            const std::int64_t in = b.inOutLayout ? ws[0] : ws[1];
            if (in != ss[0])
                return makeError(ErrorCode::ShapeMismatch,
                                 std::to_string(ss[0]) + " features per sample, but weight '" + info.name + "' " +
                                     shapeToString(ws) + " takes " + std::to_string(in) + " inputs",
                                 layerContext(l.layer))
                    .within(set.source);
        } else if (ss.size() == 3) {
            if (ws.size() != 4 || ws[1] != ss[0])
                return makeError(ErrorCode::ShapeMismatch,
                                 "samples are [samples, " + std::to_string(ss[0]) +
                                     ", H, W] but weight '" + info.name + "' has shape " + shapeToString(ws) +
                                     " (expected [out, " + std::to_string(ss[0]) + ", kh, kw])",
                                 layerContext(l.layer))
                    .within(set.source);
        } else {
            return makeError(ErrorCode::ShapeMismatch,
                             "samples of shape " + shapeToString(l.samples.shape) +
                                 ": expected [samples, features] or [samples, C, H, W]",
                             layerContext(l.layer))
                .within(set.source);
        }
        out.push_back(b);
    }
    return out;
}

std::string observerName(const Observer& o)
{
    switch (o.kind) {
    case ObserverKind::MinMax: return "minmax";
    case ObserverKind::Ema: return "ema";
    case ObserverKind::Percentile: {
        char buf[64];
        std::snprintf(buf, sizeof buf, "percentile:%g", o.percentile);
        return buf;
    }
    case ObserverKind::Mse: return "mse";
    case ObserverKind::Kl: return "kl";
    }
    return "?";
}

Result<Observer> parseObserver(const std::string& s)
{
    Observer o;
    if (s == "minmax")
        o.kind = ObserverKind::MinMax;
    else if (s == "ema")
        o.kind = ObserverKind::Ema;
    else if (s == "mse")
        o.kind = ObserverKind::Mse;
    else if (s == "kl" || s == "entropy")
        o.kind = ObserverKind::Kl;
    else if (s == "percentile")
        o.kind = ObserverKind::Percentile;
    else if (s.rfind("percentile:", 0) == 0) {
        o.kind = ObserverKind::Percentile;
        const std::string num = s.substr(11);
        double p = 0.0;
        const auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), p);
        if (ec != std::errc() || ptr != num.data() + num.size() || !(p > 0.0 && p <= 100.0))
            return makeError(ErrorCode::InvalidArgument, "percentile must be a number in (0, 100]: '" + num + "'");
        o.percentile = p;
    } else {
        return makeError(ErrorCode::InvalidArgument,
                         "unknown observer '" + s + "' (minmax, ema, percentile:P, mse, kl)");
    }
    return o;
}

LayerRanges observeLayer(const CalibrationLayer& layer, const ObserverOptions& options)
{
    LayerRanges r;
    r.layer = layer.layer;
    r.samples = layer.sampleCount();
    r.channels = layer.channels();
    const std::int64_t s = r.samples, f = layer.features();
    const std::int64_t segs = options.perChannel ? r.channels : 1;
    const std::int64_t run = options.perChannel ? f / r.channels : f;  // contiguous values per sample and segment
    const float* x = layer.samples.data.data();
    const FiniteRange all = finiteRange(x, s * f);
    r.minMax = {all.lo, all.hi};
    r.ranges.resize(std::size_t(segs));
    const IntGrid grid{options.bits, options.scheme, Rounding::HalfEven};
    RangeMethod method;
    switch (options.observer.kind) {
    case ObserverKind::Percentile:
        method.kind = RangeKind::Percentile;
        method.percentile = options.observer.percentile;
        break;
    case ObserverKind::Mse: method.kind = RangeKind::Mse; break;
    case ObserverKind::Kl: method.kind = RangeKind::Kl; break;
    default: break;
    }
#pragma omp parallel for schedule(dynamic, 1) if (segs > 1 && s * f > (1 << 18))
    for (std::int64_t c = 0; c < segs; ++c) {
        const std::int64_t off = options.perChannel ? c * run : 0;
        if (options.observer.kind == ObserverKind::Ema) {
            float lo = 0.0f, hi = 0.0f;
            const double k = options.observer.emaConstant;
            for (std::int64_t i = 0; i < s; ++i) {
                const FiniteRange fr = finiteRange(x + i * f + off, run);
                if (i == 0) {
                    lo = fr.lo;
                    hi = fr.hi;
                } else {
                    lo = float(double(lo) + k * (double(fr.lo) - double(lo)));
                    hi = float(double(hi) + k * (double(fr.hi) - double(hi)));
                }
            }
            r.ranges[std::size_t(c)] = {lo, hi};
            continue;
        }
        std::vector<float> buf(std::size_t(s * run));
        for (std::int64_t i = 0; i < s; ++i)
            std::copy(x + i * f + off, x + i * f + off + run, buf.begin() + i * run);
        if (options.observer.kind == ObserverKind::MinMax) {
            const FiniteRange fr = finiteRange(buf.data(), std::int64_t(buf.size()));
            r.ranges[std::size_t(c)] = {fr.lo, fr.hi};
            continue;
        }
        std::vector<float> work(buf.size());
        r.ranges[std::size_t(c)] = chooseRange(buf.data(), std::int64_t(buf.size()), method, grid, work.data());
    }
    return r;
}

Result<std::vector<LayerRanges>> observeRanges(const CalibrationSet& set, const ObserverOptions& options, TaskContext& ctx)
{
    if (options.bits < 2 || options.bits > 16)
        return makeError(ErrorCode::InvalidSpec, "activation bits must be 2..16");
    std::vector<LayerRanges> out;
    for (std::size_t i = 0; i < set.layers.size(); ++i) {
        if (ctx.cancelled())
            return makeError(ErrorCode::Cancelled, "cancelled");
        out.push_back(observeLayer(set.layers[i], options));
        ctx.progress(std::int64_t(i + 1), std::int64_t(set.layers.size()));
    }
    return out;
}

Result<double> layerOutputError(const TensorView& x, const TensorView& w, const float* wHat, bool inOutLayout)
{
    if (x.rank() < 2 || x.shape[0] <= 0)
        return makeError(ErrorCode::ShapeMismatch, "inputs must be [samples, features] or [samples, C, H, W]");
    const std::int64_t s = x.shape[0];
    std::int64_t out = 0, k = 0;  // W as [out, k]
    bool conv = false;
    if (x.rank() == 2) {
        if (w.rank() != 2)
            return makeError(ErrorCode::ShapeMismatch, "dense inputs need a rank-2 weight, got " + shapeToString(w.shape));
        out = inOutLayout ? w.shape[1] : w.shape[0];
        k = inOutLayout ? w.shape[0] : w.shape[1];
        if (k != x.shape[1])
            return makeError(ErrorCode::ShapeMismatch, "inputs have " + std::to_string(x.shape[1]) +
                                                           " features, weight " + shapeToString(w.shape) + " takes " +
                                                           std::to_string(k));
    } else if (x.rank() == 4) {
        if (w.rank() != 4 || w.shape[1] != x.shape[1])
            return makeError(ErrorCode::ShapeMismatch, "conv inputs " + shapeToString(x.shape) +
                                                           " need a weight [out, " + std::to_string(x.shape[1]) +
                                                           ", 3, 3], got " + shapeToString(w.shape));
        if (w.shape[2] != 3 || w.shape[3] != 3)
            return makeError(ErrorCode::Unsupported, "only 3×3 kernels are supported for the layer-output error");
        out = w.shape[0];
        k = w.shape[1] * 9;
        conv = true;
    } else {
        return makeError(ErrorCode::ShapeMismatch, "inputs must be [samples, features] or [samples, C, H, W]");
    }
    // D = W − Ŵ as [out, k]; ‖X Wᵀ − X Ŵᵀ‖ = ‖X Dᵀ‖.
    RowMatrixF wm(out, k), dm(out, k);
    for (std::int64_t o = 0; o < out; ++o)
        for (std::int64_t j = 0; j < k; ++j) {
            const std::int64_t idx = inOutLayout ? j * out + o : o * k + j;
            wm(o, j) = w.data[idx];
            dm(o, j) = w.data[idx] - wHat[idx];
        }
    const std::int64_t feat = x.numel() / s;
    constexpr std::int64_t kChunk = 16;
    const std::int64_t chunks = (s + kChunk - 1) / kChunk;
    std::vector<double> num(std::size_t(chunks), 0.0), den(std::size_t(chunks), 0.0);
    const bool parallel = double(s) * double(feat) * double(out) * (conv ? 9.0 : 1.0) > 3e7;
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
    for (std::int64_t c = 0; c < chunks; ++c) {
        const std::int64_t r0 = c * kChunk, m = std::min(kChunk, s - r0);
        RowMatrixF xs;
        if (conv) {
            const std::int64_t ch = x.shape[1], h = x.shape[2], ww = x.shape[3];
            xs.resize(m * h * ww, k);
            for (std::int64_t i = 0; i < m; ++i)
                nn::im2col3x3(x.data + (r0 + i) * feat, ch, h, ww, xs.data() + i * h * ww * k);
        } else {
            xs = ConstMatrixMap(x.data + r0 * feat, m, feat);
        }
        const RowMatrixF y = xs * wm.transpose();
        const RowMatrixF e = xs * dm.transpose();
        double a = 0.0, b = 0.0;
        for (Eigen::Index i = 0; i < y.size(); ++i) {
            a += double(e.data()[i]) * double(e.data()[i]);
            b += double(y.data()[i]) * double(y.data()[i]);
        }
        num[std::size_t(c)] = a;
        den[std::size_t(c)] = b;
    }
    double a = 0.0, b = 0.0;
    for (std::int64_t c = 0; c < chunks; ++c) {
        a += num[std::size_t(c)];
        b += den[std::size_t(c)];
    }
    if (b == 0.0)
        return a == 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
    return std::sqrt(a / b);
}

} // namespace ql::calib
