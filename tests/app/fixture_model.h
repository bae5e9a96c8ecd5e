#pragma once
// An in-memory Model with a few named, seeded tensors (test fixture for app and widget tests).

#include "core/base/random.h"
#include "core/io/model.h"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

namespace ql::test {

class FixtureModel final : public Model {
public:
    struct Entry {
        std::string name;
        Shape shape;
        std::vector<std::string> layerPath;
        int channelAxis = 0;
    };

    explicit FixtureModel(const std::vector<Entry>& entries, std::uint64_t seed = 7)
    {
        m_files.push_back(m_path);
        for (std::size_t i = 0; i < entries.size(); ++i) {
            const Entry& e = entries[i];
            TensorInfo info;
            info.name = e.name;
            info.shape = e.shape;
            info.logicalShape = e.shape;
            info.dtype = DType::F32;
            info.storedTypeName = "F32";
            info.storedBitsPerWeight = 32.0;
            info.numel = numel(e.shape);
            info.bytes = info.numel * 4;
            info.layerPath = e.layerPath;
            info.channelAxis = e.channelAxis;
            info.role = e.shape.size() >= 2 ? TensorRole::Weight : TensorRole::Norm;
            m_infos.push_back(info);
            // Channel-varying scale so per-channel beats per-tensor.
            Tensor t(e.shape);
            Rng rng(seed + i);
            const std::int64_t rows = e.shape.empty() ? 1 : e.shape[0];
            const std::int64_t cols = info.numel / std::max<std::int64_t>(rows, 1);
            for (std::int64_t r = 0; r < rows; ++r)
                for (std::int64_t c = 0; c < cols; ++c)
                    t.data[std::size_t(r * cols + c)] = float(rng.normal() * (0.01 + 0.002 * double(r % 17)));
            m_data.push_back(std::move(t));
        }
    }
    FileFormat format() const override { return FileFormat::Safetensors; }
    const std::string& path() const override { return m_path; }
    const std::vector<std::string>& files() const override { return m_files; }
    const std::vector<TensorInfo>& tensors() const override { return m_infos; }
    const std::vector<std::pair<std::string, std::string>>& metadata() const override { return m_meta; }
    Result<Tensor> readTensor(std::size_t index, TaskContext&) const override
    {
        if (index >= m_data.size())
            return makeError(ErrorCode::NotFound, "no such tensor");
        return m_data[index];
    }

private:
    std::string m_path = "fixture.safetensors";
    std::vector<std::string> m_files;
    std::vector<TensorInfo> m_infos;
    std::vector<Tensor> m_data;
    std::vector<std::pair<std::string, std::string>> m_meta;
};

/// A small transformer-like model: 2 layers with q/k/mlp tensors, a norm and an embedding.
inline ModelPtr makeFixtureModel()
{
    return std::make_shared<FixtureModel>(std::vector<FixtureModel::Entry>{
        {"layers.0.attn.q_proj.weight", {64, 128}, {"layers", "0", "attn", "q_proj"}, 0},
        {"layers.0.attn.k_proj.weight", {64, 128}, {"layers", "0", "attn", "k_proj"}, 0},
        {"layers.0.mlp.up_proj.weight", {128, 64}, {"layers", "0", "mlp", "up_proj"}, 0},
        {"layers.1.attn.q_proj.weight", {64, 128}, {"layers", "1", "attn", "q_proj"}, 0},
        {"layers.1.mlp.up_proj.weight", {128, 64}, {"layers", "1", "mlp", "up_proj"}, 0},
        {"norm.weight", {64}, {"norm"}, 0},
        {"embed.weight", {100, 48}, {"embed"}, 0},
    });
}

} // namespace ql::test
