#include "node/vote_filter.h"

#include <variant>

#include "consensus/wire.h"

namespace polder::node {

bool consensus_votes_allowed(std::span<const std::uint8_t> bytes,
                             const std::function<bool(const consensus::InstanceKey&)>& may_vote) {
  auto messages = consensus::decode_messages(bytes);
  if (!messages) return true;
  for (const auto& message : *messages) {
    if (!message) continue;
    if (!std::holds_alternative<consensus::Prepare>(*message) && !std::holds_alternative<consensus::Accept>(*message)) {
      continue;
    }
    if (!may_vote(consensus::message_key(*message))) return false;
  }
  return true;
}

}  // namespace polder::node
