// Daemon: admission by invitation (node/invitations.h, issue 8). Kept apart
// from daemon.cc: loading the node's own invitation at start, taking
// invitations from peers and from `polder invite`, redeeming them when the
// invitee is heard from, forgetting unused ones at their expiry, and
// pushing what is held to members.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "node/daemon.h"
#include "node/job_auth.h"
#include "protocol/invitation.h"

namespace polder::node {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kMetaInvitationPrefix = "invitation/";  // + invitee hex: [redeemed byte][SignedRecord]
constexpr auto kExpiryCheckEvery = 1s;
constexpr std::uintmax_t kInvitationFileMaxBytes = 1 << 20;
constexpr std::int64_t kRotationValidUs = 7LL * 24 * 3600 * 1'000'000;  // restart within a week

std::string wall_text(std::int64_t us) {
  std::time_t t = static_cast<std::time_t>(us / 1'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<SignedRecord> read_invitation_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("invitation " + path + ": cannot be read");
  std::string text;
  text.resize(kInvitationFileMaxBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kInvitationFileMaxBytes) return invalid_argument("invitation " + path + ": over 1 MiB");
  auto record = parse_invitation_file_text(text);
  if (!record) return Status(record.status().code(), path + ": " + record.status().message());
  return record;
}

void add_unique(std::vector<NodeId>& to, const NodeId& key) {
  if (std::find(to.begin(), to.end(), key) == to.end()) to.push_back(key);
}

}  // namespace

bool Daemon::is_member(const NodeId& key) const {
  return key == id() || founding_members_.contains(key) || (invitations_ && invitations_->find(key) != nullptr);
}

// The node's own invitation (from --invitation FILE, or stored by an earlier
// run) names its inviter, where to dial it, and the federation's founding
// members and founders: this node admits them and dials the inviter.
Status Daemon::load_own_invitation(const std::string& invitation_file) {
  const std::string own_key = std::string(kMetaInvitationPrefix) + id().hex();
  std::optional<SignedRecord> own;
  if (!invitation_file.empty()) {
    auto record = read_invitation_file(invitation_file);
    if (!record) return record.status();
    auto invitation = open_invitation(*record);
    if (!invitation) return Status(invitation.status().code(), invitation_file + ": " + invitation.status().message());
    if (invitation->invitee != id()) {
      return invalid_argument(invitation_file + " invites key " + invitation->invitee.short_hex() +
                              ", not this node's key " + id().short_hex() + " (check key_file)");
    }
    const std::int64_t now = clock_->wall_us();
    if (now >= invitation->expires_at_us) {
      return failed_precondition(invitation_file + " expired at " + wall_text(invitation->expires_at_us) +
                                 "; ask a member's operator for a new one (polder invite)");
    }
    if (invitation->inviter_address.empty()) return invalid_argument(invitation_file + " names no inviter address");
    auto bytes = encode_signed_record(*record);
    if (!bytes) return bytes.status();
    Bytes value{1};  // our own: redeemed by joining
    value.insert(value.end(), bytes->begin(), bytes->end());
    POLDER_RETURN_IF_ERROR(storage_->put(Column::kMeta, own_key, value, Durability::kSync));
    spdlog::info("joining with invitation {} from {} (operator {}), valid until {}", invitation_file,
                 record->author.short_hex(), invitation->operator_name, wall_text(invitation->expires_at_us));
    own = std::move(*record);
  } else {
    auto stored = storage_->get(Column::kMeta, own_key);
    if (!stored) return stored.status();
    if (stored->has_value() && !(*stored)->empty()) {
      auto record = decode_signed_record(std::span<const std::uint8_t>(**stored).subspan(1));
      if (!record) return data_loss("storage: this node's stored invitation is corrupt: " + record.status().message());
      own = std::move(*record);
    }
  }
  if (own) {
    auto invitation = open_invitation(*own);
    if (!invitation) return Status(invitation.status().code(), "own invitation: " + invitation.status().message());
    for (const auto& k : invitation->members) {
      if (k != id()) add_unique(config_.members, k);
    }
    for (const auto& k : invitation->founders) add_unique(config_.founders, k);
    if (!invitation->replaces) {
      add_unique(config_.members, own->author);
      bool seeded = std::any_of(config_.seeds.begin(), config_.seeds.end(),
                                [&](const PeerDecl& s) { return s.key == own->author; });
      if (!seeded) config_.seeds.push_back(PeerDecl{own->author, invitation->inviter_address});
    }
  }
  founding_members_ = std::set<NodeId>(config_.members.begin(), config_.members.end());
  // A rotated node's old key signed its invitation: it counts as the inviter
  // (is_member) without being admitted or dialled.
  if (own) {
    if (auto invitation = open_invitation(*own); invitation && invitation->replaces) {
      founding_members_.insert(*invitation->replaces);
    }
  }
  return Status::ok();
}

// Stored invitations are checked again (the founders and revocations may
// have changed), in issue order so that an inviter is admitted before the
// keys it invited. A redeemed one is restored through an admission this
// node signs; an unredeemed one that expired meanwhile is dropped.
Status Daemon::load_invitations() {
  invitations_ = std::make_unique<InvitationList>(
      config_.founders, [this](const NodeId& k) { return is_member(k); },
      [this](const NodeId& k) { return revocations_->revoked(k); });
  auto meta = storage_->load_all(Column::kMeta);
  if (!meta) return meta.status();
  struct Stored {
    std::string key;
    bool redeemed;
    SignedRecord record;
    std::int64_t issued_at_us;
  };
  std::vector<Stored> stored;
  for (const auto& [column_key, bytes] : *meta) {
    const std::string& key = column_key.second;
    if (key.rfind(kMetaInvitationPrefix, 0) != 0) continue;
    if (bytes.empty()) return data_loss("storage: stored invitation " + key + " is empty");
    auto record = decode_signed_record(std::span<const std::uint8_t>(bytes).subspan(1));
    if (!record) return data_loss("storage: stored invitation " + key + " is corrupt: " + record.status().message());
    auto body = decode_invitation(record->body);
    std::int64_t issued = body ? body->issued_at_us : 0;
    stored.push_back({key, bytes[0] != 0, std::move(*record), issued});
  }
  std::sort(stored.begin(), stored.end(), [](const Stored& a, const Stored& b) { return a.issued_at_us < b.issued_at_us; });
  const std::int64_t now = clock_->wall_us();
  for (const auto& s : stored) {
    Result<InvitationList::Outcome> taken = invalid_argument("unreadable");
    if (s.redeemed) {
      auto admission = sign_admission(identity_, s.record);
      if (!admission) return admission.status();
      taken = invitations_->accept(*admission, now);
    } else {
      taken = invitations_->accept(s.record, now);
    }
    if (!taken) {
      spdlog::warn("stored invitation {} is no longer honoured: {}", s.key, taken.status().message());
      (void)storage_->erase(Column::kMeta, s.key, Durability::kSync);
    }
  }
  if (invitations_->size() > 0) spdlog::info("invitations: {} key(s) admitted by invitation", invitations_->size());
  return Status::ok();
}

Status Daemon::store_invitation(const NodeId& invitee) {
  const auto* entry = invitations_->find(invitee);
  if (!entry) return not_found("no invitation of " + invitee.short_hex());
  auto bytes = encode_signed_record(entry->record);
  if (!bytes) return bytes.status();
  Bytes value{static_cast<std::uint8_t>(entry->redeemed ? 1 : 0)};
  value.insert(value.end(), bytes->begin(), bytes->end());
  return storage_->put(Column::kMeta, std::string(kMetaInvitationPrefix) + invitee.hex(), value, Durability::kSync);
}

// What a member is sent about one held invitation: the invitation itself
// while it waits for its invitee, an admission signed by this node once
// redeemed (so it is honoured after the expiry too).
std::optional<SignedRecord> Daemon::invitation_to_send(const NodeId& invitee) const {
  const auto* entry = invitations_->find(invitee);
  if (!entry) return std::nullopt;
  if (!entry->redeemed) return entry->record;
  // A redeemed entry never changes (InvitationList keeps it), so its
  // admission is signed once, not at every push.
  if (auto cached = admissions_.find(invitee); cached != admissions_.end()) return cached->second;
  auto admission = sign_admission(identity_, entry->record);
  if (!admission) return std::nullopt;
  admissions_.emplace(invitee, *admission);
  return *admission;
}

// Persist, then send, then apply (STYLE.md 15).
Status Daemon::take_invitation(const NodeId& from, const SignedRecord& record) {
  auto taken = invitations_->accept(record, clock_->wall_us());
  if (!taken) return taken.status();
  if (*taken == InvitationList::Outcome::kKnown) return Status::ok();
  SignedRecord inner = record;
  if (record.kind == kAdmissionKind) {
    auto opened = open_admission(record);
    if (!opened) return opened.status();  // accept() opened it: cannot happen
    inner = std::move(*opened);
  }
  auto invitation = open_invitation(inner);
  if (!invitation) return invitation.status();
  const NodeId invitee = invitation->invitee;
  if (Status stored = store_invitation(invitee); !stored.is_ok()) {
    if (*taken == InvitationList::Outcome::kNew) invitations_->forget(invitee);
    return Status(stored.code(), "invitation of " + invitee.short_hex() + " not stored: " + stored.message());
  }
  if (auto out_record = invitation_to_send(invitee)) {
    if (auto out = codec_.encode(envelope(*out_record, 0))) {
      for (const auto& m : gossip_->members()) {
        if (m.is_self || m.id == from || m.id == invitee || m.state != gossip::MemberState::kAlive) continue;
        (void)transport_->send_to_peer(m.id, *out);
      }
    }
  }
  transport_->allow_peer(invitee);
  if (*taken == InvitationList::Outcome::kNew) {
    spdlog::info("admitted key {} (operator {}) invited by {}{}", invitee.short_hex(), invitation->operator_name,
                 inner.author.short_hex(),
                 invitations_->pending(invitee) ? ", to be used before " + wall_text(invitation->expires_at_us)
                                                : " (joined)");
  }
  if (!invitations_->pending(invitee) && invitation->replaces) retire_rotated_key(*invitation);
  return Status::ok();
}

void Daemon::retire_rotated_key(const Invitation& rotation) {
  if (!rotation.replaces || *rotation.replaces == id()) return;
  cut_off(*rotation.replaces);
  spdlog::info("key {} rotated to {}: the old key is retired", rotation.replaces->short_hex(),
               rotation.invitee.short_hex());
}

// The invitee spoke (an authenticated message): its invitation is redeemed here.
void Daemon::redeem_invitation(const NodeId& invitee) {
  if (!invitations_->redeem(invitee, clock_->wall_us())) return;
  if (Status s = store_invitation(invitee); !s.is_ok()) {
    spdlog::error("invitation of {} redeemed but not stored: {}", invitee.short_hex(), s.message());
  }
  const auto* entry = invitations_->find(invitee);
  spdlog::info("key {} (operator {}) joined: invitation by {} redeemed", invitee.short_hex(),
               entry ? entry->invitation.operator_name : "?", entry ? entry->record.author.short_hex() : "?");
  if (entry && entry->invitation.replaces) retire_rotated_key(entry->invitation);
}

void Daemon::expire_invitations(Instant now) {
  if (now - invitations_expired_at_ < kExpiryCheckEvery) return;
  invitations_expired_at_ = now;
  for (const auto& key : invitations_->expire(clock_->wall_us())) {
    (void)storage_->erase(Column::kMeta, std::string(kMetaInvitationPrefix) + key.hex(), Durability::kSync);
    if (!founding_members_.contains(key)) transport_->disallow_peer(key);
    spdlog::warn("invitation of key {} expired unused: the key is refused again", key.short_hex());
  }
}

void Daemon::push_invitations(const NodeId& to) {
  if (to == id() || revocations_->revoked(to)) return;
  for (const auto* entry : invitations_->entries()) {
    if (entry->invitation.invitee == to && entry->redeemed) continue;
    auto record = invitation_to_send(entry->invitation.invitee);
    if (!record) continue;
    if (auto out = codec_.encode(envelope(*record, 0))) (void)transport_->send_to_peer(to, *out);
  }
}

// `polder invite`: an admin of this node asks for an invitation of a key
// (the request is an invitation signed by the CLI's key); this node, a
// member, signs the real one with its own key and takes it.
Result<SignedRecord> Daemon::issue_invitation(const NodeId& client, const SignedRecord& request) {
  if (!client_is_admin(config_, client)) {
    return permission_denied("only an admin key of this node ([client] admin_keys) may invite");
  }
  if (request.author != client) return invalid_argument("the invitation request is not signed by the asking key");
  auto asked = open_invitation(request);
  if (!asked) return asked.status();
  if (asked->invitee == id()) return rotate_key(client);  // `polder rotate-key` names the node itself
  if (revocations_->revoked(asked->invitee)) return permission_denied("key " + asked->invitee.short_hex() + " is revoked");
  if (is_member(asked->invitee)) {
    return failed_precondition("key " + asked->invitee.short_hex() + " is already a member");
  }
  const std::int64_t now = clock_->wall_us();
  if (asked->expires_at_us <= now) return invalid_argument("the invitation would expire before it is issued");
  Invitation invitation;
  invitation.invitee = asked->invitee;
  invitation.operator_name = asked->operator_name;
  invitation.issued_at_us = now;
  invitation.expires_at_us = asked->expires_at_us;
  invitation.inviter_address = config_.advertise.empty() ? config_.listen : config_.advertise;
  for (const auto& k : founding_members_) invitation.members.push_back(k);
  if (invitation.members.size() > Invitation::kListMax) invitation.members.resize(Invitation::kListMax);
  invitation.founders = config_.founders;
  auto signed_record = sign_invitation(identity_, invitation);
  if (!signed_record) return signed_record.status();
  POLDER_RETURN_IF_ERROR(take_invitation(id(), *signed_record));
  return signed_record;
}

// `polder rotate-key`: a new key pair for this node, signed in by the
// current key (an invitation with `replaces`), spread to every member now;
// the node switches to it at its next start (finish_key_rotation).
Result<SignedRecord> Daemon::rotate_key(const NodeId& client) {
  if (!client_is_admin(config_, client)) {
    return permission_denied("only an admin key of this node ([client] admin_keys) may rotate its key");
  }
  const std::string next_path = config_.key_file + ".next";
  if (std::filesystem::exists(next_path)) {
    return failed_precondition("a key rotation is already pending (" + next_path +
                               "): restart polderd to finish it");
  }
  Identity next = Identity::generate();
  const std::int64_t now = clock_->wall_us();
  Invitation rotation;
  rotation.invitee = next.id();
  rotation.operator_name = config_.operator_name;
  rotation.issued_at_us = now;
  rotation.expires_at_us = now + kRotationValidUs;
  rotation.inviter_address = config_.advertise.empty() ? config_.listen : config_.advertise;
  for (const auto& k : founding_members_) {
    if (rotation.members.size() < Invitation::kListMax && k != id()) rotation.members.push_back(k);
  }
  rotation.founders = config_.founders;
  rotation.replaces = id();
  auto record = sign_invitation(identity_, rotation);
  if (!record) return record.status();
  POLDER_RETURN_IF_ERROR(take_invitation(id(), *record));
  if (Status saved = next.save(next_path); !saved.is_ok()) {
    return Status(saved.code(), "the rotation is spread but the new key was not saved: " + saved.message());
  }
  spdlog::warn("key rotation: new key {} signed in by {} and spread to the members; restart polderd to switch "
               "(before {})", next.id().short_hex(), id().short_hex(), wall_text(rotation.expires_at_us));
  return record;
}

// At start: when `<key_file>.next` exists and this data dir holds the
// rotation that signs it in, switch to it. The old key file is kept as
// `<key_file>.retired-<old id>`, the rotation record as the key history
// (kMeta key_history/<old id>), and the data dir passes to the new key.
Status finish_key_rotation(const NodeConfig& config, Storage& storage, Identity& identity) {
  const std::string next_path = config.key_file + ".next";
  if (!std::filesystem::exists(next_path)) return Status::ok();
  auto next = Identity::load(next_path);
  if (!next) return Status(next.status().code(), "pending key rotation: " + next.status().message());
  const std::string record_key = std::string(kMetaInvitationPrefix) + next->id().hex();
  auto stored = storage.get(Column::kMeta, record_key);
  if (!stored) return stored.status();
  if (!stored->has_value() || (*stored)->empty()) {
    return failed_precondition(next_path + " exists but this data dir holds no rotation to it; remove it to go on");
  }
  Bytes value = **stored;
  auto record = decode_signed_record(std::span<const std::uint8_t>(value).subspan(1));
  if (!record) return data_loss("storage: the pending rotation is corrupt: " + record.status().message());
  auto rotation = open_invitation(*record);
  if (!rotation || !rotation->replaces || *rotation->replaces != identity.id()) {
    return failed_precondition(next_path + " is not signed in by this node's current key; remove it to go on");
  }
  value[0] = 1;  // our own: redeemed by switching
  WriteBatch batch;
  batch.put(Column::kMeta, record_key, value);
  batch.put(Column::kMeta, "key_history/" + identity.id().hex(), std::span<const std::uint8_t>(value).subspan(1));
  batch.put(Column::kMeta, "node_id", next->id().span());
  const std::string retired = config.key_file + ".retired-" + identity.id().hex().substr(0, 12);
  std::error_code ec;
  std::filesystem::rename(config.key_file, retired, ec);
  if (ec) return internal_error("key rotation: cannot move " + config.key_file + " aside: " + ec.message());
  std::filesystem::rename(next_path, config.key_file, ec);
  if (ec) {
    std::filesystem::rename(retired, config.key_file);
    return internal_error("key rotation: cannot install the new key: " + ec.message());
  }
  if (Status s = storage.write(batch, Durability::kSync); !s.is_ok()) {
    std::filesystem::rename(config.key_file, next_path);
    std::filesystem::rename(retired, config.key_file);
    return Status(s.code(), "key rotation not recorded: " + s.message());
  }
  spdlog::warn("key rotation finished: this node is now {} (was {}, kept as {}); update node_key in the CLI's "
               "client.toml to {}", next->id().short_hex(), identity.id().short_hex(), retired, next->id().hex());
  identity = std::move(*next);
  return Status::ok();
}

}  // namespace polder::node
