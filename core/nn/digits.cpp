#include "core/nn/digits.h"

#include <zlib.h>

#include <charconv>

namespace ql::nn {

namespace {

// digits.csv.gz decompresses to about 270 KB; refuse anything absurdly larger.
constexpr std::size_t kMaxCsvBytes = std::size_t(64) << 20;

Dataset subset(const Dataset& all, const std::vector<std::int64_t>& rows)
{
    Dataset d;
    d.inputs.resize(std::int64_t(rows.size()), all.inputs.cols());
    for (std::size_t i = 0; i < rows.size(); ++i) {
        d.inputs.row(std::int64_t(i)) = all.inputs.row(rows[i]);
        d.labels.push_back(all.labels[std::size_t(rows[i])]);
        d.sourceRows.push_back(all.sourceRows[std::size_t(rows[i])]);
    }
    return d;
}

} // namespace

Result<Dataset> parseDigitsCsv(const std::string& text, const std::string& name)
{
    std::vector<float> values;
    Dataset d;
    std::size_t pos = 0;
    std::int64_t line = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos)
            end = text.size();
        std::string_view ln(text.data() + pos, end - pos);
        pos = end + 1;
        ++line;
        if (!ln.empty() && ln.back() == '\r')
            ln.remove_suffix(1);
        if (ln.empty())
            continue;
        int field = 0;
        std::size_t p = 0;
        while (true) {
            const std::size_t comma = ln.find(',', p);
            const std::string_view tok = ln.substr(p, comma == std::string_view::npos ? ln.size() - p : comma - p);
            // Values are integers, possibly written as "3.0".
            double v = 0.0;
            const auto [ptr, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
            if (ec != std::errc() || ptr != tok.data() + tok.size() || v != double(std::int64_t(v)))
                return makeError(ErrorCode::Corrupt, "line " + std::to_string(line) + ", field " +
                                                         std::to_string(field + 1) + ": not an integer", name);
            if (field < 64) {
                if (v < 0 || v > 16)
                    return makeError(ErrorCode::Corrupt, "line " + std::to_string(line) + ": pixel outside 0..16", name);
                values.push_back(float(v / 16.0));
            } else if (field == 64) {
                if (v < 0 || v > 9)
                    return makeError(ErrorCode::Corrupt, "line " + std::to_string(line) + ": label outside 0..9", name);
                d.labels.push_back(int(v));
            }
            ++field;
            if (comma == std::string_view::npos)
                break;
            p = comma + 1;
        }
        if (field != 65)
            return makeError(ErrorCode::Corrupt,
                             "line " + std::to_string(line) + ": " + std::to_string(field) + " fields, expected 65", name);
        d.sourceRows.push_back(std::int64_t(d.labels.size()) - 1);
    }
    if (d.labels.empty())
        return makeError(ErrorCode::Corrupt, "no samples", name);
    d.inputs = ConstMatrixMap(values.data(), std::int64_t(d.labels.size()), 64);
    return d;
}

Result<Dataset> loadDigitsCsvGz(const std::string& path)
{
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f)
        return makeError(ErrorCode::Io, "cannot open", path);
    std::string text;
    char buf[65536];
    while (true) {
        const int got = gzread(f, buf, sizeof buf);
        if (got < 0) {
            gzclose(f);
            return makeError(ErrorCode::Corrupt, "not a valid gzip stream", path);
        }
        if (got == 0)
            break;
        text.append(buf, std::size_t(got));
        if (text.size() > kMaxCsvBytes) {
            gzclose(f);
            return makeError(ErrorCode::TooLarge, "decompressed data larger than 64 MiB", path);
        }
    }
    const int rc = gzclose(f);
    if (rc != Z_OK)
        return makeError(ErrorCode::Truncated, "gzip stream ends early or fails its checksum", path);
    return parseDigitsCsv(text, path);
}

DigitsSplit splitDigits(const Dataset& all)
{
    std::vector<std::int64_t> train, calib, test;
    for (std::int64_t i = 0; i < all.size(); ++i) {
        if (i % 5 == 0) {
            test.push_back(i);
            continue;
        }
        train.push_back(i);
        if (i % 5 == 1 && std::int64_t(calib.size()) < kDemoCalibrationSamples)
            calib.push_back(i);
    }
    return {subset(all, train), subset(all, calib), subset(all, test)};
}

} // namespace ql::nn
