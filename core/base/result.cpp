#include "core/base/result.h"

namespace ql {

const char* errorCodeName(ErrorCode code)
{
    switch (code) {
    case ErrorCode::InvalidArgument: return "invalid-argument";
    case ErrorCode::InvalidSpec: return "invalid-spec";
    case ErrorCode::Io: return "io";
    case ErrorCode::Truncated: return "truncated";
    case ErrorCode::Corrupt: return "corrupt";
    case ErrorCode::Unsupported: return "unsupported";
    case ErrorCode::TooLarge: return "too-large";
    case ErrorCode::ShapeMismatch: return "shape-mismatch";
    case ErrorCode::NonFinite: return "non-finite";
    case ErrorCode::NotFound: return "not-found";
    case ErrorCode::Cancelled: return "cancelled";
    case ErrorCode::Internal: return "internal";
    }
    return "internal";
}

std::string Error::toString() const
{
    return context.empty() ? message : context + ": " + message;
}

Error Error::within(const std::string& where) const
{
    Error e = *this;
    e.context = context.empty() ? where : where + ": " + context;
    return e;
}

} // namespace ql
