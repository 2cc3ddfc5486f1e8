// Perplexity with the evaluation windows spread over the MPI ranks: each rank scores its run of
// whole window batches (the batches one process forms), rank 0 adds the per-batch sums of NLL, NLL^2
// and counts in batch order, exactly as eval::perplexity adds them, so the result is one process's
// bit for bit. A world of one calls eval::perplexity itself.
#pragma once
#include <vector>

#include "eval/perplexity.hpp"

namespace ptq::dist {

// On rank 0 the result; on the other ranks the same figures (rank 0 sends them back).
eval::PerplexityResult perplexity_on_ranks(model::Model& model, const std::vector<int>& tokens, const eval::PerplexityOptions& opt);

}  // namespace ptq::dist
