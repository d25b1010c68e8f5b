// Status and Result<T>: how expected failures travel in Polder.
//
// Errors are values (STYLE.md habit 4). A Status is either ok or carries a
// code and a message a person can act on. Result<T> holds a T or a non-ok
// Status. Neither throws. Both are cheap to move and safe to copy.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace polder {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,   // bad input from a peer, a client, a file or a user
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,  // refused: unknown key, bad signature, bad file mode
  kUnavailable,       // peer gone, timeout, locked resource
  kResourceExhausted, // over a limit: size, queue, disk
  kFailedPrecondition,// state does not allow it (schema too new, ...)
  kDataLoss,          // corrupt stored data
  kInternal,
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }

  bool is_ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: message" — for logs and CLI output.
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status permission_denied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
inline Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status resource_exhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status failed_precondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status data_loss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// A T or the reason there is none. Construct from a T or from a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).is_ok() && "Result built from an ok Status has no value");
  }

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }

  const T& value() const& { assert(is_ok()); return std::get<T>(v_); }
  T& value() & { assert(is_ok()); return std::get<T>(v_); }
  T&& value() && { assert(is_ok()); return std::get<T>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  // The error; an ok Status when a value is held.
  Status status() const { return is_ok() ? Status() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace polder

// Return early from the enclosing function when `expr` gives a non-ok Status.
#define POLDER_RETURN_IF_ERROR(expr)            \
  do {                                          \
    ::polder::Status polder_status_ = (expr);   \
    if (!polder_status_.is_ok()) return polder_status_; \
  } while (0)
