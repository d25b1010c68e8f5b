// Signed records: a record carries its author's id and signature, so nobody
// can speak for another node (DESIGN.md invariant 5).
//
// The signature covers a domain tag, the author, the kind and the body, so a
// change to any byte of the record — or using a signature from one kind of
// record for another — makes verification fail.
#pragma once

#include "protocol/identity.h"
#include "protocol/messages.h"

namespace polder {

SignedRecord sign_record(const Identity& author, RecordKind kind, Bytes body);
// ok, or permission_denied naming the author when the signature is wrong.
Status verify_record(const SignedRecord& record);

// Signs `record` (whose node_id must be the author's id) as a SignedRecord.
Result<SignedRecord> sign_node_record(const Identity& author, const NodeRecord& record);
// Verifies and decodes; refuses a record whose node_id is not its author
// ("about another key").
Result<NodeRecord> open_node_record(const SignedRecord& record);

}  // namespace polder
