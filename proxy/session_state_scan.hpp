#pragma once
// Internal to analyze_effects(): the scan that decides, without the parser, that a SQL string
// cannot change session state. Exposed for tests.
#include <cstddef>
#include <string_view>

namespace pgscale::proxy::detail {

enum class ScanVerdict : unsigned char {
  none,         // no statement of the string can change session state
  maybe,        // parse it
  too_complex,  // would be parsed, but may nest deeper than the parser and walk can afford
};

// Follows PostgreSQL's lexer far enough to skip comments, '...' literals, "..." identifiers and
// $tag$...$tag$ bodies, and looks for the words a state-changing statement must contain: a
// statement-leading SET, RESET, DISCARD, DEALLOCATE, PREPARE, DECLARE, LISTEN, UNLISTEN, CLOSE,
// DROP, DO or CALL; TEMP/TEMPORARY after CREATE/GLOBAL/LOCAL/INTO/REPLACE; pg_temp*,
// set_config and the session advisory-lock functions anywhere. Anything it is unsure about (backslashes in literals, unterminated
// quotes) answers `maybe`.
ScanVerdict scan_for_effects(std::string_view sql);

// Upper bound of the parse tree's nesting (operator characters, brackets and the keywords that
// nest when chained), counted over the raw text, literals included.
std::size_t nesting_bound(std::string_view sql);
inline constexpr std::size_t kMaxNesting = 4000;

}  // namespace pgscale::proxy::detail
