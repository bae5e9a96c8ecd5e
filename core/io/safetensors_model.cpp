// safetensors reader: single files and sharded checkpoints (model.safetensors.index.json).

#include "core/io/io_util.h"
#include "core/io/model_impl.h"
#include "core/io/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <dirent.h>
#include <map>
#include <regex>
#include <set>
#include <unistd.h>

namespace ql::io_detail {

namespace {

constexpr std::size_t kMaxShards = 100000;
constexpr std::size_t kMaxIndexEntries = std::size_t(1) << 22;

std::string dirOf(const std::string& path)
{
    const auto slash = path.find_last_of('/');
    return slash == std::string::npos ? std::string(".") : (slash == 0 ? std::string("/") : path.substr(0, slash));
}

std::string baseOf(const std::string& path)
{
    const auto slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string joinPath(const std::string& dir, const std::string& name)
{
    return dir == "/" ? "/" + name : dir + "/" + name;
}

// Appends the tensors of one mapped safetensors file to the model.
Result<void> addShard(MappedModel& m, const MappedFilePtr& f)
{
    const std::size_t avail = std::size_t(std::min<std::uint64_t>(f->size(), 8 + kMaxSafetensorsHeader));
    auto h = parseSafetensorsHeader(f->data(), avail, f->size());
    if (!h)
        return std::move(h).error().within(f->path());
    const int fileIndex = static_cast<int>(m.m_files.size());
    m.m_files.push_back(f->path());
    m.m_maps.push_back(f);
    for (auto& st : h->tensors) {
        TensorInfo t;
        t.name = st.name;
        t.shape = st.shape;
        t.logicalShape = st.shape;
        t.dtype = st.dtype;
        t.storedTypeName = st.dtypeName;
        t.numel = numel(st.shape);
        t.bytes = static_cast<std::int64_t>(st.end - st.begin);
        t.storedBitsPerWeight = t.numel > 0 ? 8.0 * double(t.bytes) / double(t.numel)
                                            : (st.dtype ? 8.0 * double(dtypeSize(*st.dtype)) : 0.0);
        t.fileIndex = fileIndex;
        if (!st.dtype) {
            t.supported = false;
            t.note = "dtype " + st.dtypeName + " is not supported yet";
        }
        describeTensor(t, NameConvention::PyTorch);
        MappedSource src;
        src.offset = h->dataStart + st.begin;
        src.bytes = st.end - st.begin;
        src.dtype = st.dtype.value_or(DType::U8);
        m.m_tensors.push_back(std::move(t));
        m.m_sources.push_back(src);
    }
    if (fileIndex == 0)
        for (auto& kv : h->metadata)
            m.m_metadata.push_back(std::move(kv));
    return {};
}

Result<void> checkUniqueNames(const MappedModel& m)
{
    std::map<std::string, std::size_t> seen;
    for (std::size_t i = 0; i < m.m_tensors.size(); ++i) {
        auto [it, fresh] = seen.emplace(m.m_tensors[i].name, i);
        if (!fresh)
            return makeError(ErrorCode::Corrupt,
                             "tensor appears in two shards: " + m.m_files[std::size_t(m.m_tensors[it->second].fileIndex)] +
                                 " and " + m.m_files[std::size_t(m.m_tensors[i].fileIndex)],
                             tensorWhere(m.m_path, m.m_tensors[i].name));
    }
    return {};
}

struct IndexFile {
    std::vector<std::string> shards;                 ///< file names, sorted
    std::vector<std::pair<std::string, std::string>> weightMap;  ///< tensor → shard file name
    std::vector<std::pair<std::string, std::string>> metadata;
};

Result<IndexFile> parseIndex(const std::string& indexPath)
{
    auto file = MappedFile::open(indexPath);
    if (!file)
        return std::move(file).error();
    const MappedFilePtr& f = *file;
    if (f->size() == 0)
        return makeError(ErrorCode::Truncated, "index file is empty", indexPath);
    if (f->size() > kMaxSafetensorsHeader)
        return makeError(ErrorCode::TooLarge, "index file of " + humanBytes(f->size()) + " exceeds the limit", indexPath);
    const char* text = reinterpret_cast<const char*>(f->data());
    if (jsonNestingDepth(text, f->size()) > 64)
        return makeError(ErrorCode::Corrupt, "index JSON is nested too deeply", indexPath);
    const auto j = nlohmann::ordered_json::parse(text, text + f->size(), nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return makeError(ErrorCode::Corrupt, "index is not a well-formed JSON object", indexPath);
    const auto wm = j.find("weight_map");
    if (wm == j.end() || !wm->is_object())
        return makeError(ErrorCode::Corrupt, "index has no \"weight_map\" object", indexPath);
    if (wm->size() > kMaxIndexEntries)
        return makeError(ErrorCode::TooLarge, "index lists " + std::to_string(wm->size()) + " tensors", indexPath);
    IndexFile idx;
    std::set<std::string> shards;
    for (auto it = wm->begin(); it != wm->end(); ++it) {
        if (!it.value().is_string())
            return makeError(ErrorCode::Corrupt, "weight_map entry of '" + printableName(it.key()) + "' is not a file name",
                             indexPath);
        const std::string shard = it.value().get<std::string>();
        // Shards live next to the index: a path elsewhere is refused, not followed.
        if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..")
            return makeError(ErrorCode::Corrupt, "weight_map names '" + printableName(shard) +
                                                     "', which is not a file name next to the index",
                             indexPath);
        shards.insert(shard);
        idx.weightMap.emplace_back(it.key(), shard);
    }
    if (shards.size() > kMaxShards)
        return makeError(ErrorCode::TooLarge, std::to_string(shards.size()) + " shards exceed the limit", indexPath);
    idx.shards.assign(shards.begin(), shards.end());
    if (const auto meta = j.find("metadata"); meta != j.end() && meta->is_object())
        for (auto it = meta->begin(); it != meta->end(); ++it)
            idx.metadata.emplace_back(it.key(), it.value().is_string() ? it.value().get<std::string>() : it.value().dump());
    return idx;
}

} // namespace

Result<ModelPtr> openSafetensorsFile(const MappedFilePtr& file)
{
    auto m = std::make_shared<MappedModel>();
    m->m_format = FileFormat::Safetensors;
    m->m_path = file->path();
    QL_TRY(addShard(*m, file));
    return ModelPtr(std::move(m));
}

Result<ModelPtr> openSafetensorsIndex(const std::string& indexPath, const std::string& openedPath, TaskContext& ctx)
{
    auto idx = parseIndex(indexPath);
    if (!idx)
        return std::move(idx).error();
    if (idx->shards.empty())
        return makeError(ErrorCode::Corrupt, "index lists no tensors", indexPath);
    auto m = std::make_shared<MappedModel>();
    m->m_format = FileFormat::Safetensors;
    m->m_path = openedPath.empty() ? indexPath : openedPath;
    const std::string dir = dirOf(indexPath);
    const auto nShards = static_cast<std::int64_t>(idx->shards.size());
    for (std::int64_t i = 0; i < nShards; ++i) {
        // Each shard costs a header parse and a mapping: report and check cancel per shard.
        if (ctx.cancelled())
            return makeError(ErrorCode::Cancelled, "cancelled", indexPath);
        ctx.progress(i, nShards);
        auto f = MappedFile::open(joinPath(dir, idx->shards[std::size_t(i)]));
        if (!f)
            return std::move(f).error().within(indexPath + ": shard");
        QL_TRY(addShard(*m, *f));
    }
    QL_TRY(checkUniqueNames(*m));
    // Every tensor the index promises must be in the shard it names.
    std::map<std::string, std::size_t> where;
    for (std::size_t i = 0; i < m->m_tensors.size(); ++i)
        where.emplace(m->m_tensors[i].name, i);
    for (const auto& [name, shard] : idx->weightMap) {
        const auto it = where.find(name);
        if (it == where.end() || baseOf(m->m_files[std::size_t(m->m_tensors[it->second].fileIndex)]) != shard)
            return makeError(ErrorCode::Corrupt, "the index places it in " + shard + ", which does not hold it",
                             tensorWhere(indexPath, name));
    }
    std::vector<std::pair<std::string, std::string>> meta = std::move(idx->metadata);
    for (auto& kv : m->m_metadata)
        meta.push_back(std::move(kv));
    m->m_metadata = std::move(meta);
    return ModelPtr(std::move(m));
}

Result<ModelPtr> openSafetensorsAny(const std::string& path, const MappedFilePtr& file, TaskContext& ctx)
{
    const std::string dir = dirOf(path);
    const std::string base = baseOf(path);
    // An index next to the file that names it makes this a shard of a bigger checkpoint.
    if (DIR* d = ::opendir(dir.c_str())) {
        std::vector<std::string> indexes;
        while (const dirent* e = ::readdir(d)) {
            const std::string n = e->d_name;
            if (n.size() > 23 && n.compare(n.size() - 23, 23, ".safetensors.index.json") == 0)
                indexes.push_back(n);
        }
        ::closedir(d);
        std::sort(indexes.begin(), indexes.end());
        for (const auto& n : indexes) {
            auto idx = parseIndex(joinPath(dir, n));
            if (!idx)
                continue;  // an unrelated broken index does not stop this file from opening
            if (std::find(idx->shards.begin(), idx->shards.end(), base) != idx->shards.end())
                return openSafetensorsIndex(joinPath(dir, n), path, ctx);
        }
    }
    // No index: "name-00002-of-00005.safetensors" still finds its siblings.
    static const std::regex kShard(R"((.*)-(\d+)-of-(\d+)\.safetensors)");
    std::smatch mm;
    if (std::regex_match(base, mm, kShard)) {
        const std::string prefix = mm[1].str();
        const std::size_t width = mm[2].str().size();
        const std::string totalText = mm[3].str();
        const long total = totalText.size() <= 6 ? std::stol(totalText) : 0;
        if (total > 1 && std::size_t(total) <= kMaxShards) {
            std::vector<std::string> paths;
            for (long i = 1; i <= total; ++i) {
                std::string num = std::to_string(i);
                if (num.size() < width)
                    num.insert(0, width - num.size(), '0');
                const std::string p = joinPath(dir, prefix + "-" + num + "-of-" + totalText + ".safetensors");
                if (::access(p.c_str(), R_OK) != 0) {
                    paths.clear();
                    break;
                }
                paths.push_back(p);
            }
            if (!paths.empty()) {
                auto m = std::make_shared<MappedModel>();
                m->m_format = FileFormat::Safetensors;
                m->m_path = path;
                for (std::size_t i = 0; i < paths.size(); ++i) {
                    if (ctx.cancelled())
                        return makeError(ErrorCode::Cancelled, "cancelled", path);
                    ctx.progress(static_cast<std::int64_t>(i), static_cast<std::int64_t>(paths.size()));
                    const std::string& p = paths[i];
                    auto f = p == path ? Result<MappedFilePtr>(file) : MappedFile::open(p);
                    if (!f)
                        return std::move(f).error();
                    QL_TRY(addShard(*m, *f));
                }
                QL_TRY(checkUniqueNames(*m));
                return ModelPtr(std::move(m));
            }
        }
    }
    return openSafetensorsFile(file);
}

} // namespace ql::io_detail
