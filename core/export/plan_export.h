#pragma once
// The plan in other tools' words: a llama.cpp --tensor-type-file, a GPTQModel `dynamic` override map
// and an llm-compressor recipe. Mappings and limits are documented in docs/config.md.

#include "core/base/result.h"
#include "core/base/tensor.h"
#include "core/quant/plan.h"

#include <string>
#include <vector>

namespace ql {

enum class PlanTool : std::uint8_t {
    LlamaCpp,      ///< llama-quantize --tensor-type-file: "pattern=type" tokens
    GptqModel,     ///< a Python file defining `dynamic` and `quantize_config` for GPTQModel
    LlmCompressor, ///< a YAML recipe with a QuantizationModifier
};

/// "llama.cpp", "gptqmodel", "llm-compressor".
const char* planToolName(PlanTool t);
/// Parses "llama.cpp"/"llamacpp", "gptqmodel", "llm-compressor"/"llmcompressor".
Result<PlanTool> planToolFromName(const std::string& name);

/// One tensor the plan is resolved against.
struct PlanTensor {
    std::string name;
    Shape shape;  ///< logical (row-major) shape
};

/// The plan resolved tensor by tensor against `tensors` (in their order) and written in the tool's
/// words. Everything that does not translate is said in the file (comments; for llama.cpp, whose
/// file has no comment syntax, no-op entries "#quantlens-note:...=f32" that match no tensor), never
/// dropped silently. Pure function: the same inputs give the same text.
std::string exportPlanForTool(const QuantPlan& plan, const std::vector<PlanTensor>& tensors, PlanTool tool);

} // namespace ql
