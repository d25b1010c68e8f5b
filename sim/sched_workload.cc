#include "sim/sched_workload.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <span>
#include <sstream>

#include "protocol/rng.h"

namespace polder::sim {

namespace {

constexpr std::string_view kTraceMagic = "polder-sched-trace";
constexpr int kTraceVersion = 1;
constexpr std::size_t kNameLengthMax = 64;
constexpr std::uint64_t kTraceBytesMax = std::uint64_t{1} << 31;  // 2 GiB
constexpr double kRunSMax = 90.0 * 24 * 3600;                      // JobLimits::run_time_s_max
constexpr std::uint64_t kInputBytesMax = std::uint64_t{1} << 56;   // JobLimits::input_size_bytes_max

// Box-Muller over the project's Rng: std::normal_distribution differs
// between standard libraries, and a workload must be the same everywhere.
double standard_normal(Rng& rng) {
  const double u1 = 1.0 - rng.unit();  // (0, 1]: log is finite
  const double u2 = rng.unit();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

double lognormal(Rng& rng, double median, double sigma) { return median * std::exp(sigma * standard_normal(rng)); }

std::uint32_t draw_gpus(Rng& rng) {
  double u = rng.unit();
  for (const auto& d : kGpuDemandMix) {
    if (u < d.share) return d.gpus;
    u -= d.share;
  }
  return kGpuDemandMix[std::size(kGpuDemandMix) - 1].gpus;  // rounding of the shares
}

// Cumulative Zipf weights over a seeded permutation of the sites, so the
// most popular site is not always site-0.
std::vector<std::pair<double, std::uint32_t>> zipf_table(std::uint32_t n, double exponent, Rng& rng) {
  std::vector<std::uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  for (std::uint32_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.uniform(i)]);  // Fisher-Yates
  std::vector<std::pair<double, std::uint32_t>> cumulative;
  double sum = 0;
  for (std::uint32_t rank = 0; rank < n; ++rank) {
    sum += 1.0 / std::pow(rank + 1.0, exponent);
    cumulative.emplace_back(sum, order[rank]);
  }
  for (auto& c : cumulative) c.first /= sum;
  return cumulative;
}

std::uint32_t draw_zipf(const std::vector<std::pair<double, std::uint32_t>>& table, Rng& rng) {
  const double u = rng.unit();
  auto it = std::lower_bound(table.begin(), table.end(), u, [](const auto& e, double v) { return e.first < v; });
  return it == table.end() ? table.back().second : it->second;
}

void generate_sites(const SchedWorkloadOptions& o, Rng& rng, SchedWorkload& w) {
  const std::uint32_t n = o.sites;
  for (std::uint32_t i = 0; i < n; ++i) w.sites.push_back(SchedSite{"site-" + std::to_string(i), 8u << rng.uniform(7)});
  w.links.assign(std::size_t{n} * n, SchedLink{std::numeric_limits<double>::infinity(), 0.0});
  const double log_ratio = std::log(o.bandwidth_gbps_max / o.bandwidth_gbps_min);
  for (std::uint32_t a = 0; a < n; ++a) {
    for (std::uint32_t b = a + 1; b < n; ++b) {
      SchedLink l;
      l.bandwidth_bps = 1e9 * o.bandwidth_gbps_min * std::exp(log_ratio * rng.unit());
      l.rtt_ms = o.rtt_ms_min + (o.rtt_ms_max - o.rtt_ms_min) * rng.unit();
      w.links[a * n + b] = l;
      w.links[b * n + a] = l;
    }
  }
}

// Offered load over the arrival window [first, last arrival]: the share of
// the GPUs that would be busy in it if every job started when it arrived,
// counting only the part of each run inside the window. With run times this
// heavy-tailed (sigma 2.6, a week at the cap) a trace of a few days never
// reaches the steady state, so sum(gpus * run_s) / (capacity * span) would
// promise a load the window never sees; this definition is the load the
// schedulers actually face. It grows with the rate, so bisection finds it.
double window_load(std::span<const SchedJob> jobs, std::span<const double> unit_times, double rate_per_s,
                   double gpus_total) {
  const double window_s = unit_times.back() / rate_per_s;
  double gpu_s = 0;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    gpu_s += jobs[i].gpus * std::min(jobs[i].run_s, window_s - unit_times[i] / rate_per_s);
  }
  return gpu_s / (gpus_total * window_s);
}

Status set_arrivals(double load, double gpus_total, Rng& rng, std::vector<SchedJob>& jobs) {
  std::vector<double> unit_times;  // Poisson process of rate 1
  double t = 0;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    unit_times.push_back(t);
    t += -std::log(1.0 - rng.unit());
  }
  if (jobs.size() < 2) return Status::ok();
  double low = 1e-12, high = 1e6;
  if (window_load(jobs, unit_times, high, gpus_total) < load) {
    return invalid_argument("too few jobs to offer a load of " + std::to_string(load) + " to " +
                            std::to_string(static_cast<std::uint64_t>(gpus_total)) +
                            " GPUs even if all arrived at once; raise --jobs or lower --load or --sites");
  }
  for (int i = 0; i < 200; ++i) {  // bisection on a log scale; 200 halvings reach double precision
    const double mid = std::sqrt(low * high);
    (window_load(jobs, unit_times, mid, gpus_total) < load ? low : high) = mid;
  }
  for (std::size_t i = 0; i < jobs.size(); ++i) jobs[i].arrival_s = unit_times[i] / high;
  return Status::ok();
}

}  // namespace

std::uint64_t SchedWorkload::gpus_total() const {
  std::uint64_t total = 0;
  for (const auto& s : sites) total += s.gpus;
  return total;
}

std::uint32_t SchedWorkload::gpus_largest_site() const {
  std::uint32_t largest = 0;
  for (const auto& s : sites) largest = std::max(largest, s.gpus);
  return largest;
}

double SchedWorkload::offered_load() const {
  if (jobs.size() < 2 || gpus_total() == 0) return 0;
  const double start_s = jobs.front().arrival_s, end_s = jobs.back().arrival_s;
  if (end_s <= start_s) return 0;
  double gpu_s = 0;
  for (const auto& j : jobs) gpu_s += j.gpus * std::min(j.run_s, end_s - j.arrival_s);
  return gpu_s / (static_cast<double>(gpus_total()) * (end_s - start_s));
}

double SchedWorkload::offered_load_steady() const {
  if (jobs.size() < 2 || gpus_total() == 0) return 0;
  double gpu_s = 0;
  for (const auto& j : jobs) gpu_s += j.gpus * j.run_s;
  const double span_s = jobs.back().arrival_s - jobs.front().arrival_s;
  return span_s > 0 ? gpu_s / (static_cast<double>(gpus_total()) * span_s) : 0;
}

Status validate_sched_workload_options(const SchedWorkloadOptions& o) {
  if (o.sites < 2 || o.sites > kSchedSitesMax) {
    return invalid_argument("--sites must be in [2, " + std::to_string(kSchedSitesMax) + "], got " + std::to_string(o.sites));
  }
  if (o.jobs < 1 || o.jobs > kSchedJobsMax) {
    return invalid_argument("--jobs must be in [1, " + std::to_string(kSchedJobsMax) + "], got " + std::to_string(o.jobs));
  }
  if (!(o.load > 0 && o.load <= 10)) return invalid_argument("--load must be in (0, 10], got " + std::to_string(o.load));
  auto positive = [](double v) { return std::isfinite(v) && v > 0; };
  if (!positive(o.run_s_median) || !positive(o.run_s_max) || o.run_s_max > kRunSMax || !(o.run_sigma >= 0)) {
    return invalid_argument("run time: median and max must be > 0 (max at most 90 days), sigma >= 0");
  }
  if (!positive(o.input_bytes_median) || !(o.input_sigma >= 0) || !(o.zipf_exponent >= 0)) {
    return invalid_argument("input: median must be > 0, sigma and Zipf exponent >= 0");
  }
  if (!positive(o.bandwidth_gbps_min) || o.bandwidth_gbps_max < o.bandwidth_gbps_min || !(o.rtt_ms_min >= 0) ||
      o.rtt_ms_max < o.rtt_ms_min) {
    return invalid_argument("links: bandwidth must be > 0 and min <= max; RTT >= 0 and min <= max");
  }
  return Status::ok();
}

Result<SchedWorkload> generate_sched_workload(const SchedWorkloadOptions& o) {
  POLDER_RETURN_IF_ERROR(validate_sched_workload_options(o));
  Rng root(o.seed);
  Rng site_rng = root.fork(), job_rng = root.fork(), arrival_rng = root.fork();
  SchedWorkload w;
  generate_sites(o, site_rng, w);
  const auto zipf = zipf_table(o.sites, o.zipf_exponent, site_rng);
  const std::uint32_t largest = w.gpus_largest_site();
  while (w.jobs.size() < o.jobs) {  // each round draws a job; rejections are rare (1% ask 64 GPUs)
    SchedJob j;
    j.gpus = draw_gpus(job_rng);
    j.run_s = std::clamp(lognormal(job_rng, o.run_s_median, o.run_sigma), 1.0, o.run_s_max);
    j.input_site = draw_zipf(zipf, job_rng);
    j.input_bytes = static_cast<std::uint64_t>(
        std::min(lognormal(job_rng, o.input_bytes_median, o.input_sigma), static_cast<double>(kInputBytesMax)));
    j.origin = static_cast<std::uint32_t>(job_rng.uniform(o.sites));
    if (j.gpus > largest) {
      ++w.jobs_rejected_too_big;
      if (w.jobs_rejected_too_big > std::uint64_t{o.jobs} * 100) {
        return invalid_argument("no site is large enough for almost any job; raise --sites");
      }
      continue;
    }
    j.id = static_cast<std::uint32_t>(w.jobs.size());
    w.jobs.push_back(j);
  }
  POLDER_RETURN_IF_ERROR(set_arrivals(o.load, static_cast<double>(w.gpus_total()), arrival_rng, w.jobs));
  return w;
}

// ---- validation of a workload from anywhere (a trace file is input) ----

namespace {

Status check_name(const std::string& name) {
  if (name.empty() || name.size() > kNameLengthMax) {
    return invalid_argument("site name '" + name + "' must have 1 to " + std::to_string(kNameLengthMax) + " characters");
  }
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return invalid_argument("site name '" + name + "' may only hold letters, digits, '-', '_' and '.'");
    }
  }
  return Status::ok();
}

Status check_links(const SchedWorkload& w) {
  const std::size_t n = w.sites.size();
  if (w.links.size() != n * n) return invalid_argument("links: expected " + std::to_string(n * n) + " entries");
  for (std::uint32_t a = 0; a < n; ++a) {
    for (std::uint32_t b = a + 1; b < n; ++b) {
      const SchedLink& l = w.link(a, b);
      const std::string pair = w.sites[a].name + " - " + w.sites[b].name;
      if (!(std::isfinite(l.bandwidth_bps) && l.bandwidth_bps > 0)) return invalid_argument("link " + pair + ": no bandwidth (every pair of sites needs a link line)");
      if (!(std::isfinite(l.rtt_ms) && l.rtt_ms >= 0)) return invalid_argument("link " + pair + ": bad RTT");
      const SchedLink& r = w.link(b, a);
      if (r.bandwidth_bps != l.bandwidth_bps || r.rtt_ms != l.rtt_ms) return invalid_argument("link " + pair + " is not symmetric");
    }
  }
  return Status::ok();
}

Status check_job(const SchedWorkload& w, const SchedJob& j, std::uint32_t largest, double previous_arrival_s) {
  const std::string who = "job " + std::to_string(j.id);
  if (!(std::isfinite(j.arrival_s) && j.arrival_s >= 0)) return invalid_argument(who + ": arrival_s must be >= 0");
  if (j.arrival_s < previous_arrival_s) return invalid_argument(who + ": arrivals must be in time order");
  if (j.origin >= w.sites.size() || j.input_site >= w.sites.size()) return invalid_argument(who + ": unknown site");
  if (j.gpus == 0) return invalid_argument(who + ": gpus must be >= 1");
  if (j.gpus > largest) {
    return invalid_argument(who + ": asks for " + std::to_string(j.gpus) + " GPUs, the largest site has " +
                            std::to_string(largest) + " (such jobs are rejected, not queued forever)");
  }
  if (!(std::isfinite(j.run_s) && j.run_s >= 1 && j.run_s <= kRunSMax)) return invalid_argument(who + ": run_s must be in [1, 90 days]");
  if (j.input_bytes > kInputBytesMax) return invalid_argument(who + ": input_bytes over 2^56");
  return Status::ok();
}

}  // namespace

Status validate_sched_workload(const SchedWorkload& w) {
  if (w.sites.size() < 2 || w.sites.size() > kSchedSitesMax) {
    return invalid_argument("a workload needs 2 to " + std::to_string(kSchedSitesMax) + " sites, has " + std::to_string(w.sites.size()));
  }
  std::map<std::string, int> names;
  for (const auto& s : w.sites) {
    POLDER_RETURN_IF_ERROR(check_name(s.name));
    if (++names[s.name] > 1) return invalid_argument("site '" + s.name + "' is declared twice");
    if (s.gpus == 0 || s.gpus > kSchedGpusPerSiteMax) {
      return invalid_argument("site '" + s.name + "': gpus must be in [1, " + std::to_string(kSchedGpusPerSiteMax) + "]");
    }
  }
  POLDER_RETURN_IF_ERROR(check_links(w));
  if (w.jobs.empty() || w.jobs.size() > kSchedJobsMax) return invalid_argument("a workload needs 1 to " + std::to_string(kSchedJobsMax) + " jobs");
  const std::uint32_t largest = w.gpus_largest_site();
  double previous_s = 0;
  for (std::uint32_t i = 0; i < w.jobs.size(); ++i) {
    if (w.jobs[i].id != i) return invalid_argument("job ids must be 0.. in order");
    POLDER_RETURN_IF_ERROR(check_job(w, w.jobs[i], largest, previous_s));
    previous_s = w.jobs[i].arrival_s;
  }
  return Status::ok();
}

// ---- the text form ----

std::string format_sched_trace(const SchedWorkload& w) {
  std::string out;
  out += std::string(kTraceMagic) + " " + std::to_string(kTraceVersion) + "\n";
  out += "# site NAME GPUS | link SITE_A SITE_B BANDWIDTH_BPS RTT_MS | job ARRIVAL_S ORIGIN GPUS RUN_S INPUT_SITE INPUT_BYTES\n";
  char buf[512];
  for (const auto& s : w.sites) out += "site " + s.name + " " + std::to_string(s.gpus) + "\n";
  for (std::uint32_t a = 0; a < w.sites.size(); ++a) {
    for (std::uint32_t b = a + 1; b < w.sites.size(); ++b) {
      const SchedLink& l = w.link(a, b);
      std::snprintf(buf, sizeof buf, "link %s %s %.17g %.17g\n", w.sites[a].name.c_str(), w.sites[b].name.c_str(),
                    l.bandwidth_bps, l.rtt_ms);
      out += buf;
    }
  }
  for (const auto& j : w.jobs) {
    std::snprintf(buf, sizeof buf, "job %.17g %s %u %.17g %s %llu\n", j.arrival_s, w.sites[j.origin].name.c_str(), j.gpus,
                  j.run_s, w.sites[j.input_site].name.c_str(), static_cast<unsigned long long>(j.input_bytes));
    out += buf;
  }
  return out;
}

namespace {

std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < line.size() && words.size() <= 16) {  // bounded: no record has more than 7 words
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

template <typename T>
bool parse_number(std::string_view s, T& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

class TraceParser {
 public:
  explicit TraceParser(std::string_view source) : source_(source) {}

  Status line(std::size_t number, std::string_view text) {
    number_ = number;
    const auto words = split_words(text);
    if (words.empty() || words[0].front() == '#') return Status::ok();
    if (!header_seen_) return header(words);
    if (words[0] == "site") return site(words);
    if (words[0] == "link") return link(words);
    if (words[0] == "job") return job(words);
    return error("unknown record '" + std::string(words[0]) + "' (expected site, link or job)");
  }

  Result<SchedWorkload> finish() {
    if (!header_seen_) return error_at_end("empty trace: the first line must be '" + std::string(kTraceMagic) + " 1'");
    Status valid = validate_sched_workload(w_);
    if (!valid.is_ok()) return error_at_end(valid.message());
    return std::move(w_);
  }

 private:
  Status error(const std::string& message) const {
    return invalid_argument(std::string(source_) + " line " + std::to_string(number_) + ": " + message);
  }
  Status error_at_end(const std::string& message) const { return invalid_argument(std::string(source_) + ": " + message); }

  Status header(const std::vector<std::string_view>& words) {
    int version = 0;
    if (words.size() != 2 || words[0] != kTraceMagic || !parse_number(words[1], version)) {
      return error("not a scheduler trace: the first line must be '" + std::string(kTraceMagic) + " 1'");
    }
    if (version != kTraceVersion) return error("trace version " + std::to_string(version) + " is not supported (this build reads 1)");
    header_seen_ = true;
    return Status::ok();
  }

  Status site(const std::vector<std::string_view>& words) {
    if (!w_.jobs.empty() || links_seen_) return error("site lines must come before link and job lines");
    std::uint32_t gpus = 0;
    if (words.size() != 3 || !parse_number(words[2], gpus)) return error("expected 'site NAME GPUS'");
    if (w_.sites.size() >= kSchedSitesMax) return error("more than " + std::to_string(kSchedSitesMax) + " sites");
    SchedSite s{std::string(words[1]), gpus};
    Status name = check_name(s.name);
    if (!name.is_ok()) return error(name.message());
    if (gpus == 0 || gpus > kSchedGpusPerSiteMax) return error("gpus must be in [1, " + std::to_string(kSchedGpusPerSiteMax) + "]");
    if (!index_.emplace(s.name, static_cast<std::uint32_t>(w_.sites.size())).second) return error("site '" + s.name + "' declared twice");
    w_.sites.push_back(std::move(s));
    return Status::ok();
  }

  Result<std::uint32_t> site_index(std::string_view name) const {
    auto it = index_.find(std::string(name));
    if (it == index_.end()) return error("unknown site '" + std::string(name) + "' (declare it with a site line first)");
    return it->second;
  }

  Status link(const std::vector<std::string_view>& words) {
    if (!w_.jobs.empty()) return error("link lines must come before job lines");
    if (!links_seen_) {
      const std::size_t n = w_.sites.size();
      w_.links.assign(n * n, SchedLink{std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()});
      for (std::size_t i = 0; i < n; ++i) w_.links[i * n + i] = SchedLink{std::numeric_limits<double>::infinity(), 0.0};
      links_seen_ = true;
    }
    SchedLink l;
    if (words.size() != 5 || !parse_number(words[3], l.bandwidth_bps) || !parse_number(words[4], l.rtt_ms)) {
      return error("expected 'link SITE_A SITE_B BANDWIDTH_BPS RTT_MS'");
    }
    auto a = site_index(words[1]);
    if (!a) return a.status();
    auto b = site_index(words[2]);
    if (!b) return b.status();
    if (*a == *b) return error("a link joins two different sites");
    if (!(std::isfinite(l.bandwidth_bps) && l.bandwidth_bps > 0)) return error("bandwidth_bps must be > 0");
    if (!(std::isfinite(l.rtt_ms) && l.rtt_ms >= 0 && l.rtt_ms <= 60'000)) return error("rtt_ms must be in [0, 60000]");
    const std::size_t n = w_.sites.size();
    w_.links[*a * n + *b] = l;
    w_.links[*b * n + *a] = l;
    return Status::ok();
  }

  Status job(const std::vector<std::string_view>& words) {
    if (!links_seen_) return error("job lines come after the site and link lines");
    if (w_.jobs.size() >= kSchedJobsMax) return error("more than " + std::to_string(kSchedJobsMax) + " jobs");
    SchedJob j;
    if (words.size() != 7 || !parse_number(words[1], j.arrival_s) || !parse_number(words[3], j.gpus) ||
        !parse_number(words[4], j.run_s) || !parse_number(words[6], j.input_bytes)) {
      return error("expected 'job ARRIVAL_S ORIGIN GPUS RUN_S INPUT_SITE INPUT_BYTES'");
    }
    auto origin = site_index(words[2]);
    if (!origin) return origin.status();
    auto input = site_index(words[5]);
    if (!input) return input.status();
    j.origin = *origin;
    j.input_site = *input;
    j.id = static_cast<std::uint32_t>(w_.jobs.size());
    Status valid = check_job(w_, j, w_.gpus_largest_site(), w_.jobs.empty() ? 0.0 : w_.jobs.back().arrival_s);
    if (!valid.is_ok()) return error(valid.message());
    w_.jobs.push_back(j);
    return Status::ok();
  }

  std::string_view source_;
  std::size_t number_ = 0;
  bool header_seen_ = false;
  bool links_seen_ = false;
  SchedWorkload w_;
  std::map<std::string, std::uint32_t> index_;
};

}  // namespace

Result<SchedWorkload> parse_sched_trace(std::string_view text, std::string_view source) {
  TraceParser parser(source);
  std::size_t number = 0;
  while (!text.empty()) {  // bounded by the text's length
    const std::size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    POLDER_RETURN_IF_ERROR(parser.line(++number, line));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return parser.finish();
}

Result<SchedWorkload> read_sched_trace_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid_argument("cannot open trace file '" + path + "'");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  if (text.size() > kTraceBytesMax) return invalid_argument("trace file '" + path + "' is over 2 GiB");
  return parse_sched_trace(text, path);
}

Status write_sched_trace_file(const std::string& path, const SchedWorkload& w) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return invalid_argument("cannot create trace file '" + path + "'");
  out << format_sched_trace(w);
  out.flush();
  if (!out) return unavailable("writing trace file '" + path + "' failed");
  return Status::ok();
}

}  // namespace polder::sim
