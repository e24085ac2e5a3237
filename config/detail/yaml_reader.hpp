#pragma once
// PRIVATE to config/: the only header that names yaml-cpp types. Helpers that read one YAML node
// into one struct field and record, instead of throwing, every problem with its path.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/error.hpp"

namespace pgscale::config::detail {

struct Position {
  int line = 0;  // 1-based
  int column = 0;
};

// Collects errors and the source position of every path that was read, so that validation
// errors found later (on plain structs) can still point at a line.
class Reader {
 public:
  void error(const YAML::Node& at, const std::string& path, std::string message);
  void error_at(Position pos, const std::string& path, std::string message);
  void remember(const YAML::Node& node, const std::string& path);

  std::vector<ConfigError>& errors() { return errors_; }
  // Position of `path`, or of its nearest recorded ancestor ("shards[0].buckets[2]" falls back to
  // "shards[0].buckets"); line 0 when nothing is known.
  Position position_of(const std::string& path) const;

 private:
  std::vector<ConfigError> errors_;
  std::map<std::string, Position> positions_;
};

bool present(const YAML::Node& n);  // defined and not null: `key:` with no value keeps the default
Position position(const YAML::Node& n);

// A YAML mapping being read. Every key the schema knows is asked for with get(); the destructor
// reports the keys nobody asked for, so a typo is an error instead of a silently ignored key.
class MapScope {
 public:
  MapScope(Reader& reader, const YAML::Node& node, std::string path);
  ~MapScope();
  MapScope(const MapScope&) = delete;
  MapScope& operator=(const MapScope&) = delete;

  YAML::Node get(std::string_view key);  // undefined/null node when absent
  std::string path_of(std::string_view key) const;
  Reader& reader() { return reader_; }

 private:
  struct Entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
    bool used = false;
  };
  Reader& reader_;
  std::string path_;
  std::vector<Entry> entries_;
  std::vector<std::string> known_;
};

// Field readers: when the key is present and well-formed, store into `out`; otherwise record an
// error and leave `out` (its default) untouched. All return true when a value was stored.
bool read_string(MapScope& m, std::string_view key, std::string& out);
bool read_bool(MapScope& m, std::string_view key, bool& out);
std::optional<int64_t> read_int(MapScope& m, std::string_view key, int64_t min, int64_t max);
bool read_duration(MapScope& m, std::string_view key, Millis& out);
// Like read_duration/size, but `off` (or `none`) clears the limit.
bool read_optional_duration(MapScope& m, std::string_view key, std::optional<Millis>& out);
bool read_optional_size(MapScope& m, std::string_view key, std::optional<uint64_t>& out);
bool read_string_list(MapScope& m, std::string_view key, std::vector<std::string>& out);

template <class T>
bool read_uint(MapScope& m, std::string_view key, T& out, int64_t min, int64_t max) {
  auto v = read_int(m, key, min, max);
  if (v) out = static_cast<T>(*v);
  return v.has_value();
}

// Reads a scalar through `parse`; on failure reports "must be one of <choices>".
template <class E, class Parse>
bool read_enum(MapScope& m, std::string_view key, E& out, Parse parse, std::string_view choices) {
  YAML::Node n = m.get(key);
  if (!present(n)) return false;
  const std::string path = m.path_of(key);
  if (!n.IsScalar()) {
    m.reader().error(n, path, "must be one of " + std::string(choices));
    return false;
  }
  if (auto v = parse(n.Scalar())) {
    out = *v;
    return true;
  }
  m.reader().error(n, path,
                   "must be one of " + std::string(choices) + " (got '" + n.Scalar() + "')");
  return false;
}

// Calls fn(item, item_path) for each element of a sequence; reports a non-sequence.
void for_each_item(Reader& r, const YAML::Node& seq, const std::string& path,
                   const std::function<void(const YAML::Node&, const std::string&)>& fn);

}  // namespace pgscale::config::detail
