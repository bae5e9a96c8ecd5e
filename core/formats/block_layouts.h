#pragma once
// Byte layouts of the block formats, exactly as ggml (llama.cpp) stores them in GGUF files, plus the
// two FP4 block layouts (MXFP4, NVFP4). Every block is a trivially copyable struct with a
// static_assert on its size; fp16 fields are IEEE binary16 bit patterns, little-endian on disk.
//
// Element order inside a block (as ggml's dequantizers read it):
//  Q4_0/Q4_1/IQ4_NL/MXFP4: qs[j] low nibble = element j, high nibble = element j + 16.
//  Q5_0/Q5_1: as Q4_x for the low 4 bits; bit 4 of element j is bit j of the little-endian qh word.
//  Q2_K/Q3_K: each 128-element half uses 32 bytes of qs; element 32·k + l of the half sits in
//             bits 2k..2k+1 of byte l. Q3_K: bit 2 of element i is bit (i / 32) of hmask[i % 32].
//  Q4_K/Q5_K: each 64-element quarter uses 32 bytes: element l low nibble, element l + 32 high
//             nibble; Q5_K bit 4 of element 64·q + l (+32) is bit 2q (2q + 1) of qh[l].
//  Q6_K: each 128-element half uses 64 bytes of ql and 32 bytes of qh: ql[l] = e[l] | e[l+64] << 4,
//        ql[l+32] = e[l+32] | e[l+96] << 4 (low nibbles), qh[l] = high 2 bits of e[l], e[l+32],
//        e[l+64], e[l+96] at bit 0, 2, 4, 6.

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace ql {

inline constexpr int kQK4_0 = 32;
inline constexpr int kQK4_1 = 32;
inline constexpr int kQK5_0 = 32;
inline constexpr int kQK5_1 = 32;
inline constexpr int kQK8_0 = 32;
inline constexpr int kQKIq4Nl = 32;
inline constexpr int kQKK = 256;        ///< K-quant super-block
inline constexpr int kKScaleSize = 12;  ///< packed 6-bit scales of Q3_K/Q4_K/Q5_K
inline constexpr int kQKMxfp4 = 32;
inline constexpr int kQKNvfp4 = 16;

/// ggml type ids (gguf "type" field of a tensor).
namespace ggml_type {
inline constexpr int kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ2_K = 10,
                     kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kIQ4_NL = 20, kBF16 = 30, kMXFP4 = 39;
}

struct BlockQ4_0 {
    std::uint16_t d;               ///< scale (fp16); x = d · (q − 8)
    std::uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

struct BlockQ4_1 {
    std::uint16_t d;  ///< scale (fp16); x = d · q + m
    std::uint16_t m;  ///< minimum (fp16)
    std::uint8_t qs[kQK4_1 / 2];
};
static_assert(sizeof(BlockQ4_1) == 20);

struct BlockQ5_0 {
    std::uint16_t d;  ///< x = d · (q − 16)
    std::uint8_t qh[4];
    std::uint8_t qs[kQK5_0 / 2];
};
static_assert(sizeof(BlockQ5_0) == 22);

struct BlockQ5_1 {
    std::uint16_t d;  ///< x = d · q + m
    std::uint16_t m;
    std::uint8_t qh[4];
    std::uint8_t qs[kQK5_1 / 2];
};
static_assert(sizeof(BlockQ5_1) == 24);

struct BlockQ8_0 {
    std::uint16_t d;  ///< x = d · q
    std::int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

struct BlockIq4Nl {
    std::uint16_t d;  ///< x = d · kIq4NlValues[q]
    std::uint8_t qs[kQKIq4Nl / 2];
};
static_assert(sizeof(BlockIq4Nl) == 18);

struct BlockQ2K {
    std::uint8_t scales[kQKK / 16];  ///< per 16: low nibble scale, high nibble min
    std::uint8_t qs[kQKK / 4];       ///< 2-bit codes
    std::uint16_t d;                 ///< super-block scale of the scales (fp16)
    std::uint16_t dmin;              ///< super-block scale of the mins (fp16)
};
static_assert(sizeof(BlockQ2K) == 2 * 2 + kQKK / 16 + kQKK / 4);

struct BlockQ3K {
    std::uint8_t hmask[kQKK / 8];  ///< high bit of the 3-bit codes
    std::uint8_t qs[kQKK / 4];     ///< low 2 bits
    std::uint8_t scales[12];       ///< 16 signed 6-bit scales (+32), packed
    std::uint16_t d;               ///< super-block scale (fp16)
};
static_assert(sizeof(BlockQ3K) == 2 + kQKK / 4 + kQKK / 8 + 12);

struct BlockQ4K {
    std::uint16_t d;                     ///< super-block scale of the 6-bit scales (fp16)
    std::uint16_t dmin;                  ///< super-block scale of the 6-bit mins (fp16)
    std::uint8_t scales[kKScaleSize];   ///< 8 scales and 8 mins, 6 bits each
    std::uint8_t qs[kQKK / 2];
};
static_assert(sizeof(BlockQ4K) == 2 * 2 + kKScaleSize + kQKK / 2);

struct BlockQ5K {
    std::uint16_t d;
    std::uint16_t dmin;
    std::uint8_t scales[kKScaleSize];
    std::uint8_t qh[kQKK / 8];
    std::uint8_t qs[kQKK / 2];
};
static_assert(sizeof(BlockQ5K) == 2 * 2 + kKScaleSize + kQKK / 2 + kQKK / 8);

struct BlockQ6K {
    std::uint8_t ql[kQKK / 2];      ///< low 4 bits
    std::uint8_t qh[kQKK / 4];      ///< high 2 bits
    std::int8_t scales[kQKK / 16];  ///< 8-bit sub-block scales
    std::uint16_t d;                ///< super-block scale (fp16)
};
static_assert(sizeof(BlockQ6K) == 2 + kQKK / 16 + 3 * kQKK / 4);

/// MXFP4 (OCP Microscaling): an E8M0 shared exponent and 32 E2M1 elements; same layout as ggml's
/// block_mxfp4 (nibble = sign << 3 | magnitude code, ordered like Q4_0).
struct BlockMxfp4 {
    std::uint8_t e;  ///< scale 2^(e − 127)
    std::uint8_t qs[kQKMxfp4 / 2];
};
static_assert(sizeof(BlockMxfp4) == 17);

/// NVFP4: an FP8 E4M3 block scale and 16 E2M1 elements; element 2k in the low nibble of qs[k],
/// element 2k + 1 in the high nibble. The per-tensor fp32 scale is stored once per tensor.
struct BlockNvfp4 {
    std::uint8_t scale;  ///< FP8 E4M3
    std::uint8_t qs[kQKNvfp4 / 2];
};
static_assert(sizeof(BlockNvfp4) == 9);

static_assert(std::is_trivially_copyable_v<BlockQ4K> && std::is_trivially_copyable_v<BlockQ6K>);

/// The 16 non-linear levels of IQ4_NL (published in ggml, kvalues_iq4nl).
inline constexpr std::int8_t kIq4NlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                                  1,    13,   25,  38,  53,  69,  89,  113};

} // namespace ql
