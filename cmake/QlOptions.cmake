# Shared compile options. Every target links ql_options (core) or ql_qt_options (Qt targets).
add_library(ql_options INTERFACE)
target_compile_options(ql_options INTERFACE -Wall -Wextra -Wpedantic)
if(QL_WERROR)
    # GCC 12 reports false positives that stay visible but are not fatal: (maybe-)uninitialized
    # inside its own AVX-512 intrinsics when Eigen is built with -march=native, and array-bounds /
    # restrict inside libstdc++'s inlined copies (GCC bugs 105329, 105651).
    target_compile_options(ql_options INTERFACE -Werror -Wno-error=maybe-uninitialized -Wno-error=uninitialized
        -Wno-error=array-bounds -Wno-error=restrict -Wno-error=stringop-overflow -Wno-error=stringop-overread)
endif()
if(QL_NATIVE)
    target_compile_options(ql_options INTERFACE -march=native)
endif()
if(QL_SANITIZE)
    target_compile_options(ql_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    target_link_options(ql_options INTERFACE -fsanitize=address,undefined)
endif()

add_library(ql_qt_options INTERFACE)
target_link_libraries(ql_qt_options INTERFACE ql_options)
target_compile_definitions(ql_qt_options INTERFACE
    QT_NO_CAST_FROM_ASCII QT_NO_CAST_TO_ASCII QT_NO_FOREACH QT_USE_QSTRINGBUILDER)
