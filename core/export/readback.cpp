// Reading exported files back: the stored codes, scales, zero points, tables or blocks of a tensor
// are read through the ordinary model readers and dequantized with the stored parameters.

#include "core/export/export_detail.h"

#include "core/io/model.h"
#include "core/quant/format_traits.h"
#include "core/quant/layout.h"

#include <hdf5.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <mutex>

namespace ql {

namespace {

std::optional<std::string> metadataValue(const Model& m, const std::string& key)
{
    for (const auto& [k, v] : m.metadata())
        if (k == key)
            return v;
    return std::nullopt;
}

// The "quantlens" attribute of an HDF5 group, read with the HDF5 API (the model reader keeps
// attributes as display text only).
std::optional<std::string> hdf5GroupAttribute(const std::string& file, const std::string& group,
                                              const char* attrName = "quantlens")
{
    static std::mutex mutex;
    std::lock_guard lock(mutex);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return std::nullopt;
    std::optional<std::string> out;
    hid_t a = H5Aopen_by_name(f, group.c_str(), attrName, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        hid_t t = H5Aget_type(a);
        const std::size_t size = H5Tget_size(t);
        if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) <= 0 && size < (64u << 20)) {
            std::string buf(size, '\0');
            hid_t mem = H5Tcopy(H5T_C_S1);
            H5Tset_size(mem, size);
            H5Tset_cset(mem, H5Tget_cset(t));
            if (H5Aread(a, mem, buf.data()) >= 0)
                out = std::string(buf.c_str(), strnlen(buf.c_str(), size));
            H5Tclose(mem);
        }
        H5Tclose(t);
        H5Aclose(a);
    }
    H5Fclose(f);
    return out;
}

Result<Tensor> readPart(const Model& m, const std::string& name)
{
    auto idx = m.find(name);
    if (!idx)
        return makeError(ErrorCode::Corrupt, "missing stored array '" + name + "'", m.path());
    return m.readTensor(*idx);
}

} // namespace

std::vector<std::string> exportedTensorNames(const Model& exported)
{
    std::vector<std::string> out;
    auto list = exported.format() == FileFormat::Hdf5 ? hdf5GroupAttribute(exported.path(), "/", "quantlens.tensors")
                                                       : metadataValue(exported, "quantlens.tensors");
    if (list) {
        try {
            for (const auto& n : nlohmann::json::parse(*list))
                out.push_back(n.get<std::string>());
            return out;
        } catch (const nlohmann::json::exception&) {
            out.clear();
        }
    }
    if (exported.format() == FileFormat::Hdf5) {
        // Groups are the tensors: the dataset paths minus their last component, first occurrence.
        for (const auto& t : exported.tensors()) {
            const auto slash = t.name.rfind('/');
            const std::string g = slash == std::string::npos ? t.name : t.name.substr(0, slash);
            if (out.empty() || out.back() != g)
                out.push_back(g);
        }
        return out;
    }
    for (const auto& t : exported.tensors())
        out.push_back(t.name);
    return out;
}

Result<Tensor> readExportedTensor(const Model& m, const std::string& name)
{
    const bool h5 = m.format() == FileFormat::Hdf5;
    std::optional<std::string> metaText =
        h5 ? hdf5GroupAttribute(m.path(), name) : metadataValue(m, "quantlens.tensor." + name);
    if (!metaText) {
        if (h5)
            return makeError(ErrorCode::NotFound, "no exported tensor '" + name + "'", m.path());
        auto idx = m.find(name);
        if (!idx)
            return makeError(ErrorCode::NotFound, "no tensor '" + name + "'", m.path());
        return m.readTensor(*idx);
    }
    nlohmann::json meta;
    try {
        meta = nlohmann::json::parse(*metaText);
    } catch (const nlohmann::json::exception&) {
        return makeError(ErrorCode::Corrupt, "bad QuantLens metadata of tensor '" + name + "'", m.path());
    }
    const std::string where = m.path() + ": tensor '" + name + "'";
    try {
        const std::string scheme = meta.at("scheme").get<std::string>();
        const Shape shape = meta.at("shape").get<Shape>();
        const std::int64_t n = numel(shape);
        auto part = [&](const char* stSuffix, const char* h5Name) {
            return readPart(m, h5 ? name + "/" + h5Name : name + stSuffix);
        };
        if (scheme == "copy" || scheme == "float") {
            auto t = part("", "data");
            if (!t)
                return t.error();
            t->shape = shape;
            return t;
        }
        auto specR = specFromJson(meta.at("spec"));
        if (!specR)
            return specR.error().within(where);
        const QuantSpec spec = *specR;
        Tensor out(shape);
        if (scheme == "blocks") {
            const FormatTraits* tr = findFormatTraits(spec.format);
            if (!tr || !tr->decodeBlocks || tr->blockSize <= 0)
                return makeError(ErrorCode::Unsupported, "no block decoder for this format", where);
            auto b = part(".qweight", "blocks");
            if (!b)
                return b.error();
            const std::int64_t nBlocks = n / tr->blockSize;
            if (std::int64_t(b->data.size()) != nBlocks * tr->blockBytes)
                return makeError(ErrorCode::Corrupt, "block data has the wrong size", where);
            std::vector<std::uint8_t> bytes(b->data.size());
            for (std::size_t i = 0; i < bytes.size(); ++i)
                bytes[i] = static_cast<std::uint8_t>(b->data[i]);
            tr->decodeBlocks(bytes.data(), nBlocks, out.data.data());
            return out;
        }
        const int bits = meta.at("bits").get<int>();
        const bool isSigned = meta.at("signed").get<bool>();
        const bool packed = meta.value("packed", false);
        auto layoutR = makeLayout(shape, spec.granularity);
        if (!layoutR)
            return layoutR.error().within(where);
        const SegmentLayout& L = *layoutR;
        auto q = part(".qweight", "codes");
        if (!q)
            return q.error();
        std::vector<std::int32_t> codes(static_cast<std::size_t>(n));
        if (packed) {
            if (q->data.size() != packedBytes(n, bits))
                return makeError(ErrorCode::Corrupt, "packed codes have the wrong size", where);
            std::vector<std::uint8_t> bytes(q->data.size());
            for (std::size_t i = 0; i < bytes.size(); ++i)
                bytes[i] = static_cast<std::uint8_t>(q->data[i]);
            unpackCodes(bytes.data(), n, bits, isSigned, codes.data());
        } else {
            if (std::int64_t(q->data.size()) != n)
                return makeError(ErrorCode::Corrupt, "codes have the wrong size", where);
            for (std::int64_t i = 0; i < n; ++i)
                codes[std::size_t(i)] = static_cast<std::int32_t>(q->data[std::size_t(i)]);
        }
        auto forEach = [&](auto&& fn) {
            for (std::int64_t s = 0; s < L.segments; ++s) {
                const std::int64_t base = L.runBase(s);
                for (std::int64_t r = 0; r < L.nRuns; ++r)
                    for (std::int64_t k = 0; k < L.runLength; ++k)
                        fn(s, base + r * L.runStride + k);
            }
        };
        if (scheme == "affine") {
            auto sc = part(".scales", "scales");
            if (!sc)
                return sc.error();
            if (std::int64_t(sc->data.size()) != L.segments)
                return makeError(ErrorCode::Corrupt, "scales have the wrong size", where);
            std::vector<float> zp(std::size_t(L.segments), 0.0f);
            if (spec.scheme == Scheme::Asymmetric) {
                auto z = part(".zeros", "zero_points");
                if (!z)
                    return z.error();
                if (std::int64_t(z->data.size()) != L.segments)
                    return makeError(ErrorCode::Corrupt, "zero points have the wrong size", where);
                zp = z->data;
            }
            // Same expression as the integer quantizer: x̂ = scale · (q − zero_point) in float.
            forEach([&](std::int64_t s, std::int64_t i) {
                out.data[std::size_t(i)] = sc->data[std::size_t(s)] * (float(codes[std::size_t(i)]) - zp[std::size_t(s)]);
            });
            return out;
        }
        if (scheme == "lut") {
            auto lut = part(".lut", "lut");
            if (!lut)
                return lut.error();
            const std::int64_t size = std::int64_t(1) << bits;
            if (std::int64_t(lut->data.size()) != L.segments * size)
                return makeError(ErrorCode::Corrupt, "code table has the wrong size", where);
            const std::uint32_t mask = std::uint32_t(size - 1);
            forEach([&](std::int64_t s, std::int64_t i) {
                const std::uint32_t u = std::uint32_t(codes[std::size_t(i)]) & mask;
                out.data[std::size_t(i)] = lut->data[std::size_t(s * size + u)];
            });
            return out;
        }
        return makeError(ErrorCode::Unsupported, "unknown storage scheme '" + scheme + "'", where);
    } catch (const nlohmann::json::exception& e) {
        return makeError(ErrorCode::Corrupt, std::string("bad QuantLens metadata: ") + e.what(), where);
    }
}

} // namespace ql
