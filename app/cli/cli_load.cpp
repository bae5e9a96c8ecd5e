#include "app/cli/cli_load.h"

#include "core/io/model.h"

namespace ql::cli {

Result<Tensor> loadTensor(const std::string& path, const std::optional<std::string>& name)
{
    auto model = openModel(path);
    if (!model)
        return std::move(model).error();
    const Model& m = **model;
    const auto& ts = m.tensors();
    if (ts.empty())
        return makeError(ErrorCode::NotFound, "the file holds no tensors", path);
    std::size_t index = 0;
    if (name) {
        const auto found = m.find(*name);
        if (!found) {
            std::string some;
            for (std::size_t i = 0; i < ts.size() && i < 5; ++i)
            {
                if (i)
                    some += ", ";
                some += ts[i].name;
            }
            if (ts.size() > 5)
                some += ", ... (" + std::to_string(ts.size()) + " tensors; see quantlens-cli inspect)";
            return makeError(ErrorCode::NotFound, "no tensor named '" + *name + "'; it has " + some, path);
        }
        index = *found;
    } else if (ts.size() > 1) {
        std::string some;
        for (std::size_t i = 0; i < ts.size() && i < 5; ++i)
        {
            if (i)
                some += ", ";
            some += ts[i].name;
        }
        if (ts.size() > 5)
            some += ", ...";
        return makeError(ErrorCode::InvalidArgument,
                         "the file holds " + std::to_string(ts.size()) + " tensors; choose one with --tensor NAME (" +
                             some + ")",
                         path);
    }
    return m.readTensor(index);
}

} // namespace ql::cli
