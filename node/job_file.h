// Job specs from the submitter's side: `polder submit -f job.toml` and the
// flag syntaxes of `polder submit` (--max-time 1h, --input NAME@SITE:SIZE).
//
// Errors are InvalidArgument and name the file, line and key (for files) or
// the flag value, and say what would be accepted. Nothing throws.
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/messages.h"
#include "protocol/status.h"

namespace polder::node {

// "90s", "30m", "1h", "2d", or plain seconds ("600"). > 0.
Result<std::uint64_t> parse_duration_s(std::string_view text);

// "NAME@SITE:SIZE", e.g. "imagenet@dc-berlin:40G".
Result<DataInput> parse_input(std::string_view text);

// A job.toml (format in docs/submitter-guide.md). `path` prefixes errors.
Result<JobSpec> parse_job_file(std::string_view toml_text, const std::string& path);
Result<JobSpec> load_job_file(const std::string& path);

}  // namespace polder::node
