#include "app/cli/cli_load.h"

#include "core/io/npy.h"

namespace ql::cli {

Result<Tensor> loadTensor(const std::string& path, const std::optional<std::string>& name)
{
    if (name)
        return makeError(ErrorCode::InvalidArgument, ".npy files hold one tensor; --tensor does not apply", path);
    return readNpy(path);
}

} // namespace ql::cli
