// Config files of the node daemon (polderd.toml) and of the CLI (client.toml).
//
// Loading validates everything an operator can get wrong before the daemon
// touches a socket or the disk: unknown keys, wrong types, out-of-range
// numbers, malformed addresses and keys. Every error names the file, the full
// dotted key and the line, e.g.
//   polderd.toml:7: network.listen: "tcp//x" is not a ZeroMQ TCP address (expected tcp://HOST:PORT)
// and all problems in a file are reported at once (up to a bound), in line
// order, one per line of the Status message.
//
// Nothing here throws: toml++ exceptions are caught at this boundary and
// returned as a Status (STYLE.md habit 4). All functions are thread-safe
// (they share no state).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/ids.h"
#include "protocol/status.h"

namespace polder::node {

// One [[resources.gpus]] entry: `count` GPUs of model `type` offered by the node.
struct GpuDecl {
  std::string type;         // non-empty, [A-Za-z0-9_-], e.g. "H100"
  std::uint32_t count = 0;  // 1..1024

  bool operator==(const GpuDecl&) const = default;
};

// One [[network.seeds]] entry: a peer contacted at start-up. Seeds are
// federation members too (load adds their keys to NodeConfig::members).
struct PeerDecl {
  NodeId key;
  std::string address;  // tcp://HOST:PORT, HOST not a wildcard

  bool operator==(const PeerDecl&) const = default;
};

// Everything polderd.toml says, validated. Paths (data_dir, key_file) are
// resolved against the config file's directory by the loader, so a loaded
// config never depends on the daemon's working directory.
struct NodeConfig {
  std::string config_path;  // the file it came from (as given to the loader)

  // [node]
  std::string name;                  // required, 1..64 chars of [A-Za-z0-9._-]
  std::string data_dir;              // required
  std::string key_file = "node.key";
  std::string region = "default";
  std::string operator_name = "default";  // TOML key: operator

  // [network]
  std::string listen;         // required, tcp://HOST:PORT (see validate_tcp_endpoint)
  std::string client_listen;  // required, same syntax; must not share a port with listen
  std::string advertise;      // address peers should dial; defaults to listen; not a wildcard
  std::string http_listen;    // HOST:PORT of /metrics, /healthz and the dashboard; "" = off
  std::vector<PeerDecl> seeds;                 // [[network.seeds]]
  std::uint64_t max_message_bytes = 1 << 20;   // 1 KiB .. 64 MiB
  int send_hwm = 1000;                         // ZeroMQ high-water mark per peer, 1..1000000
  int reconnect_ivl_ms = 100;                  // 10..60000

  // [federation]
  std::vector<NodeId> members;  // peer allowlist; after loading includes every seed key, no duplicates
  // Keys of the founding operators (their CLI keys): a revocation signed by
  // one of them is honoured (node/revocations.h). Empty: only a key's own.
  std::vector<NodeId> founders;

  // [client]
  std::vector<NodeId> authorized_keys;  // CLI keys allowed on client_listen (no duplicates); includes admin_keys
  // CLI keys that may read and cancel every job (the operator's); other
  // authorized keys see and cancel only the jobs they submitted. After
  // loading, every admin key is in authorized_keys too.
  std::vector<NodeId> admin_keys;

  // [resources]
  std::uint32_t cpus = 1;                     // >= 1
  std::uint64_t memory_bytes = 1ULL << 30;    // TOML key "memory": size string ("16G") or integer bytes, >= 1
  std::vector<GpuDecl> gpus;                  // [[resources.gpus]]

  // [gossip]: a profile, then optional overrides of its parameters
  // (gossip/config.h); validated again by the gossip core at start.
  std::string gossip_profile = "lan";           // lan | wan
  std::optional<int> gossip_probe_interval_ms;  // 10..60000
  std::optional<int> gossip_probe_timeout_ms;   // 1..60000
  std::optional<int> gossip_suspicion_mult;     // 1..100
  std::optional<int> gossip_interval_ms;        // 10..60000
  std::optional<int> gossip_fanout;             // 1..32
  std::optional<int> gossip_retransmit_mult;    // 1..20
  std::optional<int> gossip_push_pull_interval_s;  // 1..86400
  std::optional<int> gossip_dead_reap_after_s;     // 1..604800

  // [jobs]
  std::uint64_t jobs_default_max_time_s = 3600;      // max_time of a job that names none, 1..7776000
  std::uint64_t jobs_log_cap_bytes = 16ULL << 20;    // TOML key jobs.log_cap: stdout+stderr kept per attempt
  int jobs_replicas = 3;                             // replica set size of new jobs, 1..7 (odd is best)
  int jobs_reservation_ttl_ms = 10'000;              // an unconfirmed reservation expires after this, 100..300000
  int jobs_lease_ms = 6'000;                         // executor lease on a running attempt, 1000..600000
  // A job no node can start now waits at its driver, which retries its
  // placement after queued_retry_ms, doubling up to queued_retry_max_ms;
  // work offers (node/jobs.h) wake it as soon as capacity frees.
  int jobs_queued_retry_ms = 1'000;                  // 10..600000
  int jobs_queued_retry_max_ms = 15'000;             // queued_retry_ms..600000
  int jobs_offer_interval_ms = 1'000;                // work offers per peer at most this often, 0 (off)..60000
  int jobs_offer_jobs_max = 8;                       // jobs one work offer places, 1..1000
  // Admission backpressure: while the oldest job accepted here is still
  // being placed (not yet running, not waiting for capacity held by
  // running jobs) after this long, submits here are refused with a
  // retryable error; 0 = never.
  int jobs_admission_lag_ms = 5'000;                 // 0 (off)..600000
  std::string jobs_work_dir;                         // where attempts run; default: <data_dir>/work
  // Operator labels whose jobs this node executes (the origin's operator,
  // from its signed gossip record); empty = every operator's.
  std::vector<std::string> jobs_accept_operators;
  // Unprivileged user the job processes run as when polderd runs as root
  // ("" = polderd's own user). Must exist when the config is loaded.
  std::string jobs_run_as_user;

  // [limits]: per-key rate limits (node/rate_limit.h); 0 = unlimited
  std::uint64_t limits_peer_messages_per_s = 50'000;     // 0..10000000
  std::uint64_t limits_peer_bytes_per_s = 256ULL << 20;   // TOML key limits.peer_bytes_per_s: size, 0..64G
  std::uint64_t limits_client_messages_per_s = 10'000;   // 0..10000000
  std::uint64_t limits_client_bytes_per_s = 64ULL << 20;  // size, 0..64G
  std::uint64_t limits_client_jobs_max = 10'000;  // unfinished jobs per CLI key submitted here; 0 = unlimited
  std::uint64_t limits_peer_jobs_max = 100'000;   // unfinished jobs one member may have this node hold for it; 0 = unlimited
  int limits_ban_s = 30;  // a key that keeps flooding is cut off this long; 0 = throttle only (0..86400)

  // [log]
  std::string log_level = "info";  // TOML key log.level: trace|debug|info|warn|error|off
  bool log_json = false;           // TOML key log.json

  bool operator==(const NodeConfig&) const = default;
};

// Reads and validates a polderd.toml. Errors: kNotFound (no such file, the
// message names the path), kPermissionDenied (unreadable), kResourceExhausted
// (file over 1 MiB), kInvalidArgument (syntax or validation; names key + line).
Result<NodeConfig> load_node_config(const std::string& path);
// Validates TOML text as if read from `path_for_messages`: that path prefixes
// every message, becomes config_path, and its directory resolves relative paths.
Result<NodeConfig> parse_node_config(std::string_view toml_text, const std::string& path_for_messages);
// Every key polderd.toml accepts, as "section.key", from the parser's own
// table (the operator guide's reference is checked against it by a test).
std::vector<std::string> node_config_keys();

// What the CLI `polder` needs to reach one node: client.toml, top-level keys only.
struct ClientConfig {
  std::string node_address;          // required, tcp://HOST:PORT (the node's client_listen), not a wildcard
  NodeId node_key;                   // required, 64 hex: the node's public key
  std::string key_file = "cli.key";  // resolved against the config file's directory
  int timeout_ms = 5000;             // 100..600000

  bool operator==(const ClientConfig&) const = default;
};

// As load_node_config / parse_node_config, for client.toml.
Result<ClientConfig> load_client_config(const std::string& path);
Result<ClientConfig> parse_client_config(std::string_view toml_text, const std::string& path_for_messages);

// Shared helpers (the CLI and job specs use them too).

// A byte count: digits with an optional binary suffix K, M, G or T (either
// case; 2^10 .. 2^40) and, with a suffix, an optional fraction, rounded down
// to whole bytes: "8G", "512M", "1.5G", "100K", "42", "1T". Rejects "", "-1",
// "8X", "G", "1.5" (fraction of a byte), and values over 2^64-1.
Result<std::uint64_t> parse_size_bytes(std::string_view text);

// Checks a ZeroMQ TCP endpoint tcp://HOST:PORT: HOST an IPv4 address,
// "localhost", "*" (bind to all interfaces) or a DNS hostname; PORT 1..65535.
// The message quotes the endpoint and says what is wrong.
Status validate_tcp_endpoint(std::string_view endpoint);

// The commented polderd.toml that `polderd init` writes: a short comment above
// each key, writing paths as given (relative ones stay relative). For any
// config the loader returned, parsing the text with the same path gives an
// equal config.
std::string render_node_config(const NodeConfig& cfg);
// The commented client.toml; round-trips like render_node_config.
std::string render_client_config(const ClientConfig& cfg);

}  // namespace polder::node
