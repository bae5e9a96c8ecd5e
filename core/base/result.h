#pragma once
// Value-or-error return type of every fallible core function.
// Member names follow std::expected so a later switch is mechanical.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace ql {

/// Error categories. Tests assert on these, so keep the meaning of each stable.
enum class ErrorCode {
    InvalidArgument,  ///< a caller-supplied value is out of its domain (bad flag, bad name)
    InvalidSpec,      ///< a quantization spec that cannot apply (bits, group size, axis, percentile)
    Io,               ///< the OS refused: missing file, permission, read/write/rename failure
    Truncated,        ///< a file ends before a length it declared
    Corrupt,          ///< a file contradicts itself: bad magic, lying lengths, overlapping offsets, bad JSON
    Unsupported,      ///< well-formed, but uses a feature or dtype we do not handle (yet)
    TooLarge,         ///< a count, length or allocation beyond the sane limits we enforce
    ShapeMismatch,    ///< shapes or sizes that do not fit together
    NonFinite,        ///< NaN or Inf where only finite values are accepted
    NotFound,         ///< a named tensor, layer or key does not exist
    Cancelled,        ///< the task context asked us to stop
    Internal,         ///< a bug: should never be seen
};

/// Stable short name of an error category ("corrupt", "truncated", ...).
const char* errorCodeName(ErrorCode code);

struct Error {
    ErrorCode code = ErrorCode::Internal;
    std::string message;  ///< what went wrong, in words a user understands
    std::string context;  ///< where: file name, tensor name, JSON path ... (may be empty)

    /// "context: message" (or just the message without context).
    std::string toString() const;
    /// Returns a copy with `where` prepended to the context ("file.gguf: tensor 'x'").
    Error within(const std::string& where) const;
};

inline Error makeError(ErrorCode code, std::string message, std::string context = {})
{
    return Error{code, std::move(message), std::move(context)};
}

template <typename T>
class [[nodiscard]] Result {
public:
    using value_type = T;
    using error_type = Error;

    Result(const T& v) : m_v(std::in_place_index<0>, v) {}
    Result(T&& v) : m_v(std::in_place_index<0>, std::move(v)) {}
    Result(const Error& e) : m_v(std::in_place_index<1>, e) {}
    Result(Error&& e) : m_v(std::in_place_index<1>, std::move(e)) {}
    template <typename U>
        requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::remove_cvref_t<U>, Result> &&
                 !std::is_same_v<std::remove_cvref_t<U>, Error> && !std::is_same_v<std::remove_cvref_t<U>, T>)
    Result(U&& v) : m_v(std::in_place_index<0>, T(std::forward<U>(v)))
    {
    }

    bool has_value() const noexcept { return m_v.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & { assert(has_value()); return std::get<0>(m_v); }
    const T& value() const& { assert(has_value()); return std::get<0>(m_v); }
    T&& value() && { assert(has_value()); return std::get<0>(std::move(m_v)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const& { assert(!has_value()); return std::get<1>(m_v); }
    Error&& error() && { assert(!has_value()); return std::get<1>(std::move(m_v)); }

    template <typename U>
    T value_or(U&& fallback) const&
    {
        return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
    }

private:
    std::variant<T, Error> m_v;
};

template <>
class [[nodiscard]] Result<void> {
public:
    using value_type = void;
    Result() = default;
    Result(const Error& e) : m_error(e), m_failed(true) {}
    Result(Error&& e) : m_error(std::move(e)), m_failed(true) {}

    bool has_value() const noexcept { return !m_failed; }
    explicit operator bool() const noexcept { return has_value(); }
    void value() const { assert(has_value()); }
    const Error& error() const& { assert(!has_value()); return m_error; }
    Error&& error() && { assert(!has_value()); return std::move(m_error); }

private:
    Error m_error;
    bool m_failed = false;
};

/// Propagates an error from an expression returning Result<...>.
#define QL_TRY(expr)                                                                                                   \
    do {                                                                                                               \
        auto&& ql_try_result_ = (expr);                                                                                \
        if (!ql_try_result_)                                                                                           \
            return std::move(ql_try_result_).error();                                                                  \
    } while (false)

#ifndef NDEBUG
#define QL_ASSERT(cond) assert(cond)
#else
#define QL_ASSERT(cond) ((void)0)
#endif

} // namespace ql
