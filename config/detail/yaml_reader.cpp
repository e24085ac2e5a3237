#include "config/detail/yaml_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "config/units.hpp"

namespace pgscale::config::detail {
namespace {

// Edit distance, for "did you mean" on unknown keys; keys are short, so O(n*m) is fine.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string describe_type(const YAML::Node& n) {
  if (n.IsMap()) return "a mapping";
  if (n.IsSequence()) return "a list";
  return "'" + n.Scalar() + "'";
}

}  // namespace

bool present(const YAML::Node& n) { return n.IsDefined() && !n.IsNull(); }

Position position(const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  if (m.is_null()) return {};
  return {m.line + 1, m.column + 1};
}

void Reader::error(const YAML::Node& at, const std::string& path, std::string message) {
  error_at(position(at), path, std::move(message));
}

void Reader::error_at(Position pos, const std::string& path, std::string message) {
  errors_.push_back(ConfigError{path, std::move(message), pos.line, pos.column});
}

void Reader::remember(const YAML::Node& node, const std::string& path) {
  const Position p = position(node);
  if (p.line > 0) positions_.emplace(path, p);
}

Position Reader::position_of(const std::string& path) const {
  std::string p = path;
  while (!p.empty()) {
    if (auto it = positions_.find(p); it != positions_.end()) return it->second;
    const size_t cut = p.find_last_of(".[");
    if (cut == std::string::npos) break;
    p.resize(cut);
  }
  return {};
}

MapScope::MapScope(Reader& reader, const YAML::Node& node, std::string path)
    : reader_(reader), path_(std::move(path)) {
  if (!present(node)) return;
  reader_.remember(node, path_);
  if (!node.IsMap()) {
    reader_.error(node, path_.empty() ? std::string() : path_,
                  (path_.empty() ? "the document " : "") + std::string("must be a mapping (got ") +
                      describe_type(node) + ")");
    return;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) {
      reader_.error(it->first, path_, "keys must be plain strings");
      continue;
    }
    const std::string key = it->first.Scalar();
    const bool dup = std::any_of(entries_.begin(), entries_.end(),
                                 [&](const Entry& e) { return e.key == key; });
    if (dup) {
      reader_.error(it->first, path_of(key), "duplicate key");
      continue;
    }
    entries_.push_back(Entry{key, it->first, it->second});
  }
}

MapScope::~MapScope() {
  for (const Entry& e : entries_) {
    if (e.used) continue;
    std::string msg = "unknown key";
    std::string_view best;
    size_t best_distance = 3;  // suggest only close spellings
    for (const std::string& k : known_) {
      const size_t d = edit_distance(e.key, k);
      if (d < best_distance) {
        best_distance = d;
        best = k;
      }
    }
    if (!best.empty()) msg += " (did you mean '" + std::string(best) + "'?)";
    reader_.error(e.key_node, path_of(e.key), std::move(msg));
  }
}

YAML::Node MapScope::get(std::string_view key) {
  known_.emplace_back(key);
  for (Entry& e : entries_) {
    if (e.key != key) continue;
    e.used = true;
    reader_.remember(e.value.IsNull() ? e.key_node : e.value, path_of(key));
    return e.value;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::string MapScope::path_of(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

bool read_string(MapScope& m, std::string_view key, std::string& out) {
  YAML::Node n = m.get(key);
  if (!present(n)) return false;
  if (!n.IsScalar()) {
    m.reader().error(n, m.path_of(key), "must be a string (got " + describe_type(n) + ")");
    return false;
  }
  out = n.Scalar();
  return true;
}

bool read_bool(MapScope& m, std::string_view key, bool& out) {
  YAML::Node n = m.get(key);
  if (!present(n)) return false;
  bool v = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
    m.reader().error(n, m.path_of(key), "must be true or false (got " + describe_type(n) + ")");
    return false;
  }
  out = v;
  return true;
}

std::optional<int64_t> read_int(MapScope& m, std::string_view key, int64_t min, int64_t max) {
  YAML::Node n = m.get(key);
  if (!present(n)) return std::nullopt;
  const std::string path = m.path_of(key);
  const std::string range = std::to_string(min) + ".." + std::to_string(max);
  if (!n.IsScalar()) {
    m.reader().error(n, path, "must be an integer (got " + describe_type(n) + ")");
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || end != s.c_str() + s.size() || s.front() == ' ') {
    m.reader().error(n, path, "must be an integer (got '" + s + "')");
    return std::nullopt;
  }
  if (errno == ERANGE || v < min || v > max) {
    m.reader().error(n, path, "must be " + range + " (got " + s + ")");
    return std::nullopt;
  }
  return static_cast<int64_t>(v);
}

bool read_duration(MapScope& m, std::string_view key, Millis& out) {
  YAML::Node n = m.get(key);
  if (!present(n)) return false;
  std::string why = "must be a duration such as 500ms, 5s, 10min, 1h";
  std::optional<Millis> v;
  if (n.IsScalar()) v = parse_duration(n.Scalar(), &why);
  if (!v) {
    m.reader().error(n, m.path_of(key), why + (n.IsScalar() ? " (got '" + n.Scalar() + "')" : ""));
    return false;
  }
  out = *v;
  return true;
}

static bool is_off(const YAML::Node& n) {
  return n.IsScalar() && (n.Scalar() == "off" || n.Scalar() == "none");
}

bool read_optional_duration(MapScope& m, std::string_view key, std::optional<Millis>& out) {
  YAML::Node n = m.get(key);
  if (!present(n)) return false;
  if (is_off(n)) {
    out.reset();
    return true;
  }
  std::string why = "must be a duration such as 500ms, 5s, 10min, 1h, or off";
  std::optional<Millis> v;
  if (n.IsScalar()) v = parse_duration(n.Scalar(), &why);
  if (!v) {
    m.reader().error(n, m.path_of(key), why + (n.IsScalar() ? " (got '" + n.Scalar() + "')" : ""));
    return false;
  }
  out = *v;
  return true;
}

bool read_optional_size(MapScope& m, std::string_view key, std::optional<uint64_t>& out) {
  YAML::Node n = m.get(key);
  if (!present(n)) return false;
  if (is_off(n)) {
    out.reset();
    return true;
  }
  std::string why = "must be a size such as 1048576, 512kB, 16MB, 1GB, or off";
  std::optional<uint64_t> v;
  if (n.IsScalar()) v = parse_size(n.Scalar(), &why);
  if (!v) {
    m.reader().error(n, m.path_of(key), why + (n.IsScalar() ? " (got '" + n.Scalar() + "')" : ""));
    return false;
  }
  out = *v;
  return true;
}

bool read_string_list(MapScope& m, std::string_view key, std::vector<std::string>& out) {
  YAML::Node n = m.get(key);
  if (!present(n)) return false;
  std::vector<std::string> items;
  bool ok = true;
  for_each_item(m.reader(), n, m.path_of(key), [&](const YAML::Node& item, const std::string& p) {
    if (!item.IsScalar()) {
      m.reader().error(item, p, "must be a string (got " + describe_type(item) + ")");
      ok = false;
      return;
    }
    items.push_back(item.Scalar());
  });
  if (ok && n.IsSequence()) out = std::move(items);
  return ok && n.IsSequence();
}

void for_each_item(Reader& r, const YAML::Node& seq, const std::string& path,
                   const std::function<void(const YAML::Node&, const std::string&)>& fn) {
  if (!present(seq)) return;
  if (!seq.IsSequence()) {
    r.error(seq, path, "must be a list (got " + describe_type(seq) + ")");
    return;
  }
  for (size_t i = 0; i < seq.size(); ++i) {
    const std::string item_path = path + "[" + std::to_string(i) + "]";
    r.remember(seq[i], item_path);
    fn(seq[i], item_path);
  }
}

}  // namespace pgscale::config::detail
