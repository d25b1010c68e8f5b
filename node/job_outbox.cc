#include "node/job_outbox.h"

#include <cassert>
#include <map>

namespace polder::node {

std::vector<JobBundle> bundle_by_peer(std::vector<std::pair<NodeId, JobMessage>> outbox, std::size_t bundle_max) {
  assert(bundle_max >= 1);
  std::map<NodeId, std::vector<JobBundle>> by_peer;
  for (auto& [to, m] : outbox) {
    auto& bundles = by_peer[to];
    if (bundles.empty() || bundles.back().messages.size() >= bundle_max) bundles.push_back(JobBundle{to, {}});
    bundles.back().messages.push_back(std::move(m));
  }
  std::vector<JobBundle> out;
  for (auto& [to, bundles] : by_peer) {
    for (auto& b : bundles) out.push_back(std::move(b));
  }
  return out;
}

namespace {

void encode_into(std::vector<JobMessage> messages, const Codec& codec, const std::function<Envelope(Payload)>& wrap,
                 EncodedJobBundle& out) {
  if (messages.empty()) return;
  const std::size_t count = messages.size();
  Envelope e = count == 1 ? wrap(std::move(messages.front())) : wrap(JobBatch{std::move(messages)});
  auto bytes = codec.encode(e);
  if (bytes) {
    out.envelopes.push_back(EncodedJobEnvelope{std::move(*bytes), count});
    return;
  }
  if (count == 1) {
    out.refused.push_back(bytes.status());
    return;
  }
  // The messages are still in the envelope that did not encode: split them from there.
  auto& all = std::get<JobBatch>(e.payload).messages;
  std::vector<JobMessage> tail(std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(count / 2)),
                               std::make_move_iterator(all.end()));
  all.resize(count / 2);
  encode_into(std::move(all), codec, wrap, out);
  encode_into(std::move(tail), codec, wrap, out);
}

}  // namespace

EncodedJobBundle encode_bundle(std::vector<JobMessage> messages, const Codec& codec,
                               const std::function<Envelope(Payload)>& wrap) {
  EncodedJobBundle out;
  encode_into(std::move(messages), codec, wrap, out);
  return out;
}

}  // namespace polder::node
