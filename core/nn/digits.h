#pragma once
// The 8×8 handwritten digits set (UCI "Optical Recognition of Handwritten Digits", as shipped by
// scikit-learn as digits.csv.gz) and the fixed train / calibration / test split of the demo models.

#include "core/base/result.h"
#include "core/base/tensor.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ql::nn {

/// Samples as rows of 64 float32 pixels (row-major 8×8), scaled to [0, 1] (count / 16), plus labels.
struct Dataset {
    RowMatrixF inputs;            ///< [n, 64]
    std::vector<int> labels;      ///< digit 0..9 per row
    std::vector<std::int64_t> sourceRows;  ///< row index in digits.csv.gz

    std::int64_t size() const { return inputs.rows(); }
    ConstMatrixMap matrix() const { return ConstMatrixMap(inputs.data(), inputs.rows(), inputs.cols()); }
};

/// Parses digits.csv.gz (gzip CSV, one sample per line: 64 pixel counts 0..16, then the label 0..9).
/// Errors (Io, Corrupt) name the file and the line.
Result<Dataset> loadDigitsCsvGz(const std::string& path);
/// Parses the same CSV from text already in memory (`name` for errors).
Result<Dataset> parseDigitsCsv(const std::string& text, const std::string& name);

/// The fixed split of the demo: sample i (0-based row of the CSV) is
///  - test        if i % 5 == 0            (360 samples of 1797),
///  - calibration if i % 5 == 1, the first 256 such rows (a subset of the training rows),
///  - train       otherwise, i.e. every row with i % 5 != 0 (1437 samples).
struct DigitsSplit {
    Dataset train, calibration, test;
};
inline constexpr std::int64_t kDemoCalibrationSamples = 256;
DigitsSplit splitDigits(const Dataset& all);

} // namespace ql::nn
