#include "consensus/ballot.h"

namespace polder::consensus {

std::string Ballot::to_string() const { return std::to_string(round) + "." + node.short_hex(); }

}  // namespace polder::consensus
