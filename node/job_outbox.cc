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

void encode_into(std::vector<JobMessage> messages, const std::function<Result<Bytes>(Payload)>& encode,
                 EncodedJobBundle& out) {
  if (messages.empty()) return;
  const std::size_t count = messages.size();
  if (count == 1) {
    auto bytes = encode(Payload(std::move(messages.front())));
    if (bytes) {
      out.envelopes.push_back(EncodedJobEnvelope{std::move(*bytes), 1});
    } else {
      out.refused.push_back(bytes.status());
    }
    return;
  }
  JobBatch batch{std::move(messages)};
  // The encoder takes its payload by value; keep the messages to split if it refuses.
  auto bytes = encode(Payload(batch));
  if (bytes) {
    out.envelopes.push_back(EncodedJobEnvelope{std::move(*bytes), count});
    return;
  }
  auto& all = batch.messages;
  std::vector<JobMessage> tail(std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(count / 2)),
                               std::make_move_iterator(all.end()));
  all.resize(count / 2);
  encode_into(std::move(all), encode, out);
  encode_into(std::move(tail), encode, out);
}

}  // namespace

EncodedJobBundle encode_bundle(std::vector<JobMessage> messages,
                               const std::function<Result<Bytes>(Payload)>& encode) {
  EncodedJobBundle out;
  encode_into(std::move(messages), encode, out);
  return out;
}

}  // namespace polder::node
