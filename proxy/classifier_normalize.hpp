// Literal-stripping normaliser: the cache key of a statement, computed without the parser.
//
// A hand-written scanner that follows PostgreSQL 15's lexer (scan.l) closely enough to find every
// literal: '...' with '' doubling, E'...' (backslash escapes), B'/X'/N'/U&'...', $tag$...$tag$,
// numbers; it copies quoted identifiers verbatim, skips -- and nested /* */ comments (a comment
// mentioning "pgscale" is kept verbatim, so hints stay significant), and collapses whitespace.
// Literals become a control byte that can never appear in valid SQL text, so two keys are equal
// only if the statements have the same tokens apart from constants.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "proxy/classifier.hpp"

namespace pgscale::classifier {

enum class NormalizeStatus : unsigned char {
  ok,             // key is usable for the cache
  not_cacheable,  // scanned to the end (hint valid) but the key must not be used
  unterminated,   // unterminated quote/comment: a parse error; hint may be incomplete
};

struct NormalizeResult {
  NormalizeStatus status = NormalizeStatus::ok;
  std::optional<Hint> hint;  // from any comment: /* pgscale: primary */, -- pgscale: replica
  // Upper bound on how deeply the parse tree can nest: operators, '(' '[' '::', AND/OR/NOT/IS/
  // AT/COLLATE/CASE (left-deep chains of these nest one level each). Lists (commas) do not count.
  std::size_t nesting_tokens = 0;
};

// Writes the key into `key` (cleared first; capacity is reused across calls).
NormalizeResult normalize(std::string_view sql, std::string& key);

// The hint carried by one comment's text, if any ("pgscale: primary", "pgscale=replica", any case).
std::optional<Hint> parse_hint_comment(std::string_view comment);

}  // namespace pgscale::classifier
