#include "core/nn/demo.h"

#include "core/base/dtype.h"
#include "core/io/model.h"
#include "core/io/safetensors.h"
#include "core/quant/quantize.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>

namespace ql::nn {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kExampleCalibrationSamples = 64;

bool hasDemoFiles(const fs::path& dir)
{
    std::error_code ec;
    return fs::is_regular_file(dir / "digits.csv.gz", ec);
}

Result<ModelPtr> openIn(const std::string& dir, const std::string& file, TaskContext& ctx)
{
    return openModel((fs::path(dir) / file).string(), ctx);
}

Result<Tensor> readNamed(const Model& m, const std::string& name, TaskContext& ctx)
{
    const auto idx = m.find(name);
    if (!idx)
        return makeError(ErrorCode::NotFound, "no tensor '" + name + "'", m.path());
    auto t = m.readTensor(*idx, ctx);
    if (!t)
        return std::move(t).error();
    return t;
}

Result<Dataset> readDataset(const std::string& dir, const std::string& file, TaskContext& ctx)
{
    auto m = openIn(dir, file, ctx);
    if (!m)
        return std::move(m).error();
    auto in = readNamed(**m, "inputs", ctx);
    if (!in)
        return std::move(in).error();
    auto lab = readNamed(**m, "labels", ctx);
    if (!lab)
        return std::move(lab).error();
    if (in->shape.size() != 2 || in->shape[1] != 64 || lab->shape.size() != 1 || lab->shape[0] != in->shape[0])
        return makeError(ErrorCode::ShapeMismatch,
                         "expected inputs [n, 64] and labels [n], got " + shapeToString(in->shape) + " and " +
                             shapeToString(lab->shape),
                         (**m).path());
    Dataset d;
    d.inputs = ConstMatrixMap(in->data.data(), in->shape[0], 64);
    for (std::int64_t i = 0; i < in->shape[0]; ++i) {
        const float y = lab->data[std::size_t(i)];
        if (!(y >= 0.0f && y <= 9.0f) || y != std::floor(y))
            return makeError(ErrorCode::Corrupt, "label of sample " + std::to_string(i) + " is not a digit", (**m).path());
        d.labels.push_back(int(y));
        d.sourceRows.push_back(i);
    }
    if (!d.inputs.allFinite())
        return makeError(ErrorCode::NonFinite, "non-finite input pixels", (**m).path());
    return d;
}

Result<void> writeDataset(const std::string& path, const Dataset& d, const std::map<std::string, std::string>& meta)
{
    std::vector<std::uint16_t> half(std::size_t(d.inputs.size()));
    for (Eigen::Index i = 0; i < d.inputs.size(); ++i)
        half[std::size_t(i)] = floatToHalf(d.inputs.data()[i]);
    std::vector<std::int64_t> labels(d.labels.begin(), d.labels.end());
    std::vector<SafetensorsEntry> e{
        {"inputs", DType::F16, Shape{d.size(), 64}, half.data(), half.size() * 2},
        {"labels", DType::I64, Shape{d.size()}, labels.data(), labels.size() * 8},
    };
    return writeSafetensors(path, e, meta);
}

Result<void> writeNetwork(const std::string& path, const Network& net, const std::map<std::string, std::string>& meta)
{
    std::vector<SafetensorsEntry> e;
    for (const auto& l : net.layers) {
        if (!l.weighted())
            continue;
        e.push_back({l.name + ".weight", DType::F32, l.weight.shape, l.weight.data.data(), l.weight.data.size() * 4});
        e.push_back({l.name + ".bias", DType::F32, l.bias.shape, l.bias.data.data(), l.bias.data.size() * 4});
    }
    return writeSafetensors(path, e, meta);
}

Result<void> writeCalibration(const std::string& path, const calib::CalibrationSet& set,
                              const std::map<std::string, std::string>& meta)
{
    std::vector<SafetensorsEntry> e;
    for (const auto& l : set.layers)
        e.push_back({l.layer, DType::F32, l.samples.shape, l.samples.data.data(), l.samples.data.size() * 4});
    return writeSafetensors(path, e, meta);
}

std::string architectureText(DemoKind k)
{
    return k == DemoKind::Mlp ? "input[64] fc1(dense 128) relu fc2(dense 64) relu fc3(dense 10)"
                              : "input[1,8,8] conv1(conv3x3 8) relu maxpool2 conv2(conv3x3 16) relu maxpool2 flatten "
                                "fc(dense 10)";
}

double meanKlDivergence(const RowMatrixF& p, const RowMatrixF& q)
{
    double total = 0.0;
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
        double s = 0.0;
        for (Eigen::Index j = 0; j < p.cols(); ++j) {
            const double a = p(i, j), b = std::max(double(q(i, j)), 1e-12);
            if (a > 0.0)
                s += a * std::log(a / b);
        }
        total += std::max(s, 0.0);
    }
    return p.rows() > 0 ? total / double(p.rows()) : 0.0;
}

double fractionEqual(const std::vector<int>& a, const std::vector<int>& b)
{
    std::int64_t n = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        n += a[i] == b[i] ? 1 : 0;
    return a.empty() ? 0.0 : double(n) / double(a.size());
}

} // namespace

const char* demoKindName(DemoKind k) { return k == DemoKind::Mlp ? "mlp" : "cnn"; }

Result<DemoKind> demoKindFromName(const std::string& s)
{
    if (s == "mlp")
        return DemoKind::Mlp;
    if (s == "cnn")
        return DemoKind::Cnn;
    return makeError(ErrorCode::InvalidArgument, "unknown demo model '" + s + "' (mlp or cnn)");
}

Result<std::string> findDemoResources()
{
    std::vector<fs::path> tried;
    if (const char* env = std::getenv("QUANTLENS_RESOURCES"); env && *env) {
        tried.push_back(fs::path(env) / "demo");
        tried.push_back(fs::path(env));
    }
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec)
        tried.push_back(exe.parent_path() / ".." / "share" / "quantlens" / "demo");
#ifdef QL_SOURCE_DIR
    tried.push_back(fs::path(QL_SOURCE_DIR) / "resources" / "demo");
#endif
    std::string list;
    for (const auto& p : tried) {
        if (hasDemoFiles(p))
            return fs::weakly_canonical(p, ec).string();
        list += (list.empty() ? "" : ", ") + p.string();
    }
    return makeError(ErrorCode::NotFound,
                     "demo resources (digits.csv.gz) not found; tried " + list + " (set QUANTLENS_RESOURCES)");
}

Network demoArchitecture(DemoKind kind)
{
    Result<Network> r = kind == DemoKind::Mlp
                            ? buildNetwork({64}, {{LayerKind::Dense, "fc1", 128},
                                                  {LayerKind::ReLU, "", 0},
                                                  {LayerKind::Dense, "fc2", 64},
                                                  {LayerKind::ReLU, "", 0},
                                                  {LayerKind::Dense, "fc3", 10}})
                            : buildNetwork({1, 8, 8}, {{LayerKind::Conv2D, "conv1", 8},
                                                       {LayerKind::ReLU, "", 0},
                                                       {LayerKind::MaxPool2, "", 0},
                                                       {LayerKind::Conv2D, "conv2", 16},
                                                       {LayerKind::ReLU, "", 0},
                                                       {LayerKind::MaxPool2, "", 0},
                                                       {LayerKind::Flatten, "", 0},
                                                       {LayerKind::Dense, "fc", 10}});
    QL_ASSERT(r.has_value());
    return std::move(r).value();
}

TrainConfig demoTrainConfig(DemoKind kind)
{
    TrainConfig c;
    if (kind == DemoKind::Mlp) {
        c.seed = 20240601;
        c.epochs = 40;
        c.batchSize = 32;
        c.learningRate = 2e-3;
    } else {
        c.seed = 20240602;
        c.epochs = 40;
        c.batchSize = 32;
        c.learningRate = 4e-3;
    }
    return c;
}

Result<Network> trainDemoModel(DemoKind kind, const Dataset& train, TaskContext& ctx)
{
    Network net = demoArchitecture(kind);
    const TrainConfig cfg = demoTrainConfig(kind);
    initParameters(net, cfg.seed);
    auto log = nn::train(net, train.matrix(), train.labels, cfg, ctx);
    if (!log)
        return std::move(log).error();
    return net;
}

Result<double> accuracy(const Network& net, const Dataset& data, TaskContext& ctx)
{
    auto logits = forward(net, data.matrix(), {}, ctx);
    if (!logits)
        return std::move(logits).error();
    const auto pred = argmaxRows(*logits);
    return fractionEqual(pred, data.labels);
}

Result<calib::CalibrationSet> recordCalibrationSet(const Network& net, const Dataset& inputs, std::int64_t samples,
                                                   TaskContext& ctx)
{
    const std::int64_t n = samples > 0 ? std::min(samples, inputs.size()) : inputs.size();
    std::vector<RowMatrixF> rec;
    ForwardOptions fo;
    fo.recordInputs = &rec;
    auto logits = forward(net, ConstMatrixMap(inputs.inputs.data(), n, inputs.inputs.cols()), fo, ctx);
    if (!logits)
        return std::move(logits).error();
    std::vector<calib::CalibrationLayer> layers;
    for (std::size_t li : net.weightedLayers()) {
        const Layer& l = net.layers[li];
        Shape shape{n};
        shape.insert(shape.end(), l.inShape.begin(), l.inShape.end());
        layers.push_back({l.name, Tensor(shape, std::vector<float>(rec[li].data(), rec[li].data() + rec[li].size()))});
    }
    return calib::makeCalibrationSet(std::move(layers), "bundled calibration inputs (" + std::to_string(n) + " samples)");
}

Result<DemoTrainSummary> writeDemoResources(const std::string& dir, TaskContext& ctx)
{
    auto all = loadDigitsCsvGz((fs::path(dir) / "digits.csv.gz").string());
    if (!all)
        return std::move(all).error();
    const DigitsSplit split = splitDigits(*all);
    DemoTrainSummary summary;
    const std::map<std::string, std::string> dataMeta{
        {"source", "digits.csv.gz (UCI Optical Recognition of Handwritten Digits, as shipped by scikit-learn)"},
        {"scaling", "pixel count / 16"}};
    auto calMeta = dataMeta;
    calMeta["split"] = "rows i of digits.csv.gz with i % 5 == 1, first 256";
    auto testMeta = dataMeta;
    testMeta["split"] = "rows i of digits.csv.gz with i % 5 == 0";
    const std::string calPath = (fs::path(dir) / "digits_calibration.safetensors").string();
    const std::string testPath = (fs::path(dir) / "digits_test.safetensors").string();
    QL_TRY(writeDataset(calPath, split.calibration, calMeta));
    QL_TRY(writeDataset(testPath, split.test, testMeta));
    summary.filesWritten = {calPath, testPath};
    // The two trainings are independent and single-threaded: run them side by side.
    const DemoKind kinds[2] = {DemoKind::Mlp, DemoKind::Cnn};
    std::vector<Result<Network>> nets(2, makeError(ErrorCode::Internal, "not trained"));
#pragma omp parallel for num_threads(2) schedule(static, 1)
    for (int k = 0; k < 2; ++k)
        nets[std::size_t(k)] = trainDemoModel(kinds[k], split.train, TaskContext::none());
    for (DemoKind kind : kinds) {
        if (ctx.cancelled())
            return makeError(ErrorCode::Cancelled, "cancelled");
        auto& net = nets[kind == DemoKind::Mlp ? 0 : 1];
        if (!net)
            return std::move(net).error();
        auto acc = accuracy(*net, split.test, ctx);
        if (!acc)
            return std::move(acc).error();
        (kind == DemoKind::Mlp ? summary.mlpTestAccuracy : summary.cnnTestAccuracy) = *acc;
        const TrainConfig cfg = demoTrainConfig(kind);
        char accText[32];
        std::snprintf(accText, sizeof accText, "%.4f", *acc);
        const std::map<std::string, std::string> meta{
            {"architecture", architectureText(kind)},
            {"layout", "pytorch: dense [out, in], conv [out, in, kh, kw]"},
            {"trainer", "quantlens-cli train-demo: Adam, lr " + std::to_string(cfg.learningRate) + ", batch " +
                            std::to_string(cfg.batchSize) + ", epochs " + std::to_string(cfg.epochs) + ", seed " +
                            std::to_string(cfg.seed)},
            {"input", "digits 8x8, pixel count / 16, row-major"},
            {"test_accuracy", accText}};
        const std::string base = demoKindName(kind);
        const std::string wPath = (fs::path(dir) / (base + ".safetensors")).string();
        QL_TRY(writeNetwork(wPath, *net, meta));
        auto cal = recordCalibrationSet(*net, split.calibration, kExampleCalibrationSamples, ctx);
        if (!cal)
            return std::move(cal).error();
        const std::string cPath = (fs::path(dir) / (base + "_calibration.safetensors")).string();
        QL_TRY(writeCalibration(cPath, *cal,
                                {{"layout", "one tensor per layer: the inputs it sees, [samples, features] or "
                                            "[samples, C, H, W]"},
                                 {"samples", "first 64 rows of digits_calibration.safetensors"}}));
        summary.filesWritten.push_back(wPath);
        summary.filesWritten.push_back(cPath);
    }
    return summary;
}

Result<DemoModel> loadDemoModel(DemoKind kind, const std::string& dir, TaskContext& ctx)
{
    DemoModel m;
    m.kind = kind;
    if (dir.empty()) {
        auto found = findDemoResources();
        if (!found)
            return std::move(found).error();
        m.directory = *found;
    } else {
        m.directory = dir;
    }
    m.net = demoArchitecture(kind);
    auto weights = openIn(m.directory, std::string(demoKindName(kind)) + ".safetensors", ctx);
    if (!weights)
        return std::move(weights).error();
    const Model& wm = **weights;
    auto ok = setParameters(m.net, [&](const std::string& name) { return readNamed(wm, name, ctx); });
    if (!ok)
        return std::move(ok).error().within(wm.path());
    auto cal = readDataset(m.directory, "digits_calibration.safetensors", ctx);
    if (!cal)
        return std::move(cal).error();
    auto test = readDataset(m.directory, "digits_test.safetensors", ctx);
    if (!test)
        return std::move(test).error();
    m.calibration = std::move(*cal);
    m.test = std::move(*test);
    return m;
}

Result<EvalReport> evaluate(const DemoModel& model, const QuantPlan& plan, const ActQuantConfig& act,
                            const EvalOptions& options, TaskContext& ctx)
{
    const Network& net = model.net;
    EvalReport rep;
    rep.model = demoKindName(model.kind);
    rep.testSamples = model.test.size();
    if (act.enabled && (act.bits < 2 || act.bits > 16))
        return makeError(ErrorCode::InvalidSpec, "activation bits must be 2..16");

    // Calibration activations (float network): used for static ranges and the layer-output error.
    calib::CalibrationSet calSet;
    if (options.calibration) {
        QL_TRY(calib::checkAgainstNetwork(*options.calibration, net));
        calSet = options.calibration->firstSamples(act.calibrationSamples);
    } else {
        auto rec = recordCalibrationSet(net, model.calibration, act.calibrationSamples, ctx);
        if (!rec)
            return std::move(rec).error();
        calSet = std::move(*rec);
    }
    rep.calibrationSamples = calSet.layers.empty() ? 0 : calSet.layers.front().sampleCount();

    ActQuantConfigs actCfg;
    if (act.enabled) {
        actCfg.resize(net.layers.size());
        calib::ObserverOptions oo{act.observer, act.bits, act.scheme, act.perChannel};
        for (std::size_t li : net.weightedLayers()) {
            ActQuantLayer& a = actCfg[li];
            a.enabled = true;
            a.bits = act.bits;
            a.scheme = act.scheme;
            a.perChannel = act.perChannel;
            a.dynamic = act.dynamic;
            if (!act.dynamic) {
                if (ctx.cancelled())
                    return makeError(ErrorCode::Cancelled, "cancelled");
                a.ranges = calib::observeLayer(*calSet.find(net.layers[li].name), oo).ranges;
            }
        }
    }

    auto floatLogits = forward(net, model.test.matrix(), {}, ctx);
    if (!floatLogits)
        return std::move(floatLogits).error();
    const auto floatPred = argmaxRows(*floatLogits);
    const RowMatrixF floatProb = softmax(*floatLogits);
    rep.floatAccuracy = fractionEqual(floatPred, model.test.labels);

    // Quantize each weight once; the full model, the per-layer rows and the sensitivity runs share it.
    QuantOptions qo;
    qo.keepCodes = false;
    Network qnet = net;
    std::vector<std::optional<QuantResult>> qres(net.layers.size());
    for (std::size_t li : net.weightedLayers()) {
        const std::string name = net.layers[li].name + ".weight";
        const auto spec = plan.specFor(name);
        if (!spec || spec->format == Format::F32)
            continue;
        auto r = quantize(net.layers[li].weight.view(), *spec, qo, ctx);
        if (!r)
            return std::move(r).error().within("tensor '" + name + "'");
        qnet.layers[li].weight.data = r->dequant;
        qres[li] = std::move(*r);
    }
    ForwardOptions fo;
    fo.actQuant = act.enabled ? &actCfg : nullptr;
    auto qLogits = forward(qnet, model.test.matrix(), fo, ctx);
    if (!qLogits)
        return std::move(qLogits).error();
    const auto qPred = argmaxRows(*qLogits);
    rep.accuracy = fractionEqual(qPred, model.test.labels);
    rep.agreement = fractionEqual(qPred, floatPred);
    rep.meanKl = meanKlDivergence(floatProb, softmax(*qLogits));

    for (std::size_t li : net.weightedLayers()) {
        const Layer& l = net.layers[li];
        LayerEval le;
        le.layer = l.name;
        le.weightName = l.name + ".weight";
        le.kind = layerKindName(l.kind);
        le.weightShape = l.weight.shape;
        le.quantized = qres[li].has_value();
        le.spec = le.quantized ? specShortName(qres[li]->spec) : "f32";
        if (act.enabled && !act.dynamic)
            le.actRanges = actCfg[li].ranges;
        if (le.quantized) {
            const QuantResult& r = *qres[li];
            le.bitsPerWeight = r.bitsPerWeight;
            le.weightSqnrDb = r.metrics.sqnrDb;
            const calib::CalibrationLayer* cl = calSet.find(l.name);
            auto err = calib::layerOutputError(cl->samples.view(), l.weight.view(), r.dequant.data());
            if (!err)
                return std::move(err).error().within(l.name);
            le.outputError = *err;
        } else {
            le.weightSqnrDb = std::numeric_limits<double>::infinity();
        }
        le.accuracy = rep.floatAccuracy;
        if (options.sensitivity && (le.quantized || act.enabled)) {
            Network one = net;
            if (le.quantized)
                one.layers[li].weight.data = qres[li]->dequant;
            ActQuantConfigs oneAct;
            if (act.enabled) {
                oneAct.resize(net.layers.size());
                oneAct[li] = actCfg[li];
            }
            ForwardOptions fo1;
            fo1.actQuant = act.enabled ? &oneAct : nullptr;
            auto lg = forward(one, model.test.matrix(), fo1, ctx);
            if (!lg)
                return std::move(lg).error();
            const auto pred = argmaxRows(*lg);
            le.accuracy = fractionEqual(pred, model.test.labels);
            le.agreement = fractionEqual(pred, floatPred);
        }
        le.accuracyDrop = rep.floatAccuracy - le.accuracy;
        rep.layers.push_back(std::move(le));
    }
    return rep;
}

} // namespace ql::nn
