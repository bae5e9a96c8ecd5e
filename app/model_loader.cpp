#include "app/model_loader.h"

#include "core/io/npy.h"
#include "core/nn/demo.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>

namespace ql {

namespace {

class SingleTensorModel final : public Model {
public:
    SingleTensorModel(std::string path, std::string name, Tensor t) : m_path(std::move(path)), m_tensor(std::move(t))
    {
        m_files.push_back(m_path);
        TensorInfo info;
        info.name = std::move(name);
        info.shape = m_tensor.shape;
        info.logicalShape = m_tensor.shape;
        info.dtype = DType::F32;
        info.storedTypeName = "float32";
        info.storedBitsPerWeight = 32.0;
        info.numel = m_tensor.numel();
        info.bytes = info.numel * 4;
        info.role = m_tensor.shape.size() >= 2 ? TensorRole::Weight : TensorRole::Other;
        m_infos.push_back(std::move(info));
    }
    FileFormat format() const override { return FileFormat::Npy; }
    const std::string& path() const override { return m_path; }
    const std::vector<std::string>& files() const override { return m_files; }
    const std::vector<TensorInfo>& tensors() const override { return m_infos; }
    const std::vector<std::pair<std::string, std::string>>& metadata() const override { return m_meta; }
    Result<Tensor> readTensor(std::size_t index, TaskContext&) const override
    {
        if (index != 0)
            return makeError(ErrorCode::NotFound, "no tensor with index " + std::to_string(index), m_path);
        return m_tensor;
    }

private:
    std::string m_path;
    Tensor m_tensor;
    std::vector<std::string> m_files;
    std::vector<TensorInfo> m_infos;
    std::vector<std::pair<std::string, std::string>> m_meta;
};

} // namespace

ModelPtr makeSingleTensorModel(const std::string& path, const std::string& name, Tensor tensor)
{
    return std::make_shared<SingleTensorModel>(path, name, std::move(tensor));
}

Result<ModelPtr> loadModelFile(const std::string& path, TaskContext& ctx)
{
    // Sharded checkpoints report per shard; every open reports its start and its end, so the
    // status bar shows the open as running and then done whatever the format.
    ctx.progress(0, 1);
    Result<ModelPtr> m = openModel(path, ctx);
    if (m)
        ctx.progress(1, 1);
    return m;
}

Result<std::string> demoModelPath()
{
    Result<std::string> dir = nn::findDemoResources();
    if (!dir)
        return std::move(dir).error();
    const std::string p = (std::filesystem::path(*dir) / "mlp.safetensors").string();
    std::error_code ec;
    if (!std::filesystem::exists(p, ec))
        return makeError(ErrorCode::NotFound, "the demo folder has no mlp.safetensors", *dir);
    return p;
}

std::optional<BundledDemo> bundledDemoOf(const std::string& modelPath)
{
    if (modelPath.empty())
        return std::nullopt;
    Result<std::string> dir = nn::findDemoResources();
    if (!dir)
        return std::nullopt;
    for (nn::DemoKind kind : {nn::DemoKind::Mlp, nn::DemoKind::Cnn}) {
        const std::string name = nn::demoKindName(kind);
        const std::filesystem::path weights = std::filesystem::path(*dir) / (name + ".safetensors");
        std::error_code ec;
        if (!std::filesystem::equivalent(weights, modelPath, ec) || ec)
            continue;
        const std::filesystem::path calib = std::filesystem::path(*dir) / (name + "_calibration.safetensors");
        if (!std::filesystem::exists(calib, ec))
            return std::nullopt;
        return BundledDemo{kind, *dir, calib.string()};
    }
    return std::nullopt;
}

std::int64_t modelParameterCount(const Model& m)
{
    std::int64_t n = 0;
    for (const auto& t : m.tensors())
        n += t.numel;
    return n;
}

std::int64_t modelStoredBytes(const Model& m)
{
    std::int64_t n = 0;
    for (const auto& t : m.tensors())
        n += t.bytes;
    return n;
}

const char* modelFileFilter()
{
    return "Models (*.safetensors *.json *.gguf *.h5 *.hdf5 *.keras *.npy *.npz);;"
           "safetensors (*.safetensors *.safetensors.index.json *.json);;GGUF (*.gguf);;"
           "Keras / HDF5 (*.h5 *.hdf5 *.keras);;NumPy (*.npy *.npz);;All files (*)";
}

} // namespace ql
