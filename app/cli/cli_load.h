#pragma once
// How the CLI gets a float32 tensor out of a file.

#include "core/base/result.h"
#include "core/base/tensor.h"

#include <optional>
#include <string>

namespace ql::cli {

/// Loads tensor `name` (or the only/first tensor when no name is given) from `path` as float32.
Result<Tensor> loadTensor(const std::string& path, const std::optional<std::string>& name);

} // namespace ql::cli
