#include "proxy/classifier_functions.hpp"

#include <string_view>
#include <unordered_map>

namespace pgscale::classifier {
namespace {

using Map = std::unordered_map<std::string_view, FunctionKind>;

const Map& kinds() {
  static const Map m = {
      {"nextval", FunctionKind::sequence},
      {"setval", FunctionKind::sequence},
      // currval/lastval only read, but their value lives in the session that called nextval.
      {"currval", FunctionKind::sequence},
      {"lastval", FunctionKind::sequence},
      {"pg_advisory_lock", FunctionKind::advisory_session},
      {"pg_advisory_lock_shared", FunctionKind::advisory_session},
      {"pg_try_advisory_lock", FunctionKind::advisory_session},
      {"pg_try_advisory_lock_shared", FunctionKind::advisory_session},
      {"pg_advisory_xact_lock", FunctionKind::advisory_xact},
      {"pg_advisory_xact_lock_shared", FunctionKind::advisory_xact},
      {"pg_try_advisory_xact_lock", FunctionKind::advisory_xact},
      {"pg_try_advisory_xact_lock_shared", FunctionKind::advisory_xact},
      {"pg_advisory_unlock", FunctionKind::advisory_unlock},
      {"pg_advisory_unlock_shared", FunctionKind::advisory_unlock},
      {"pg_advisory_unlock_all", FunctionKind::advisory_unlock},
      {"pg_notify", FunctionKind::notify},
      {"set_config", FunctionKind::set_config},
      // Assign an xid or read the WAL insert position: errors during recovery.
      {"txid_current", FunctionKind::primary_only},
      {"pg_current_xact_id", FunctionKind::primary_only},
      {"txid_current_if_assigned", FunctionKind::primary_only},
      {"pg_current_xact_id_if_assigned", FunctionKind::primary_only},
      {"pg_current_wal_lsn", FunctionKind::primary_only},
      {"pg_current_wal_insert_lsn", FunctionKind::primary_only},
      {"pg_current_wal_flush_lsn", FunctionKind::primary_only},
      {"pg_switch_wal", FunctionKind::primary_only},
      {"pg_create_restore_point", FunctionKind::primary_only},
      {"pg_walfile_name", FunctionKind::primary_only},
      {"pg_walfile_name_offset", FunctionKind::primary_only},
      {"pg_export_snapshot", FunctionKind::primary_only},
      {"pg_create_physical_replication_slot", FunctionKind::primary_only},
      {"pg_create_logical_replication_slot", FunctionKind::primary_only},
      {"pg_drop_replication_slot", FunctionKind::primary_only},
      {"pg_logical_emit_message", FunctionKind::primary_only},
      {"pg_promote", FunctionKind::primary_only},
      {"lo_create", FunctionKind::primary_only},
      {"lo_creat", FunctionKind::primary_only},
      {"lo_unlink", FunctionKind::primary_only},
      {"lo_import", FunctionKind::primary_only},
      {"lo_put", FunctionKind::primary_only},
      {"lo_from_bytea", FunctionKind::primary_only},
  };
  return m;
}

using VolMap = std::unordered_map<std::string_view, Volatility>;

void add_all(VolMap& m, std::initializer_list<std::string_view> names, Volatility v) {
  for (auto n : names) m.emplace(n, v);
}

const VolMap& volatilities() {
  static const VolMap m = [] {
    VolMap v;
    constexpr auto I = Volatility::immutable;
    constexpr auto S = Volatility::stable;
    constexpr auto V = Volatility::volatile_;
    // Aggregates and window functions (immutable per row set).
    add_all(v, {"count", "sum", "avg", "min", "max", "array_agg", "string_agg", "json_agg",
                "jsonb_agg", "json_object_agg", "jsonb_object_agg", "bool_and", "bool_or",
                "every", "bit_and", "bit_or", "stddev", "stddev_pop", "stddev_samp", "variance",
                "var_pop", "var_samp", "percentile_cont", "percentile_disc", "mode", "corr",
                "covar_pop", "covar_samp", "regr_slope", "regr_intercept", "row_number", "rank",
                "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead", "first_value",
                "last_value", "nth_value", "grouping", "xmlagg", "range_agg"},
            I);
    // Strings, maths, arrays, json, conversions.
    add_all(v, {"lower", "upper", "length", "char_length", "character_length", "octet_length",
                "bit_length", "substr", "substring", "trim", "btrim", "ltrim", "rtrim", "replace",
                "split_part", "position", "strpos", "left", "right", "lpad", "rpad", "repeat",
                "reverse", "initcap", "ascii", "chr", "md5", "sha256", "sha512", "encode",
                "decode", "regexp_replace", "regexp_match", "regexp_matches", "regexp_split_to_array",
                "regexp_split_to_table", "starts_with", "translate", "quote_ident", "quote_literal",
                "quote_nullable", "abs", "ceil", "ceiling", "floor", "round", "trunc", "mod",
                "power", "pow", "sqrt", "cbrt", "exp", "ln", "log", "log10", "sign", "pi",
                "degrees", "radians", "sin", "cos", "tan", "greatest", "least", "div", "gcd", "lcm",
                "width_bucket", "array_length", "array_upper", "array_lower", "array_ndims",
                "array_dims", "array_position", "array_positions", "array_append",
                "array_prepend", "array_cat", "array_remove", "array_replace", "cardinality",
                "unnest", "generate_series", "generate_subscripts", "array_to_json", "row_to_json",
                "json_build_object", "jsonb_build_object", "json_build_array", "jsonb_build_array",
                "json_extract_path", "json_extract_path_text", "jsonb_extract_path",
                "jsonb_extract_path_text", "json_array_length", "jsonb_array_length",
                "json_array_elements", "jsonb_array_elements", "json_array_elements_text",
                "jsonb_array_elements_text", "json_each", "jsonb_each", "json_each_text",
                "jsonb_each_text", "json_object_keys", "jsonb_object_keys", "jsonb_set",
                "jsonb_insert", "jsonb_strip_nulls", "jsonb_pretty", "json_typeof", "jsonb_typeof",
                "jsonb_path_exists", "jsonb_path_query", "jsonb_path_match", "md5", "abbrev",
                "host", "masklen", "family", "date_part", "extract", "isfinite", "make_date",
                "make_time", "make_interval", "justify_days", "justify_hours", "justify_interval",
                "tsvector_to_array", "numnonnulls", "num_nulls", "num_nonnulls", "int4", "int8",
                "float8", "numeric", "text", "bool", "uuid", "pg_column_size", "convert_from",
                "convert_to", "to_hex", "format", "concat", "concat_ws"},
            I);
    // Depend on the snapshot, the session's settings or the catalog, but not volatile.
    add_all(v, {"now", "transaction_timestamp", "statement_timestamp", "current_setting",
                "current_database", "current_schema", "current_schemas", "current_user",
                "session_user", "version", "to_char", "to_date", "to_timestamp", "to_number",
                "date_trunc", "age", "timezone", "array_to_string", "string_to_array",
                "to_json", "to_jsonb", "json_agg_strict", "pg_backend_pid", "inet_server_port",
                "inet_server_addr", "inet_client_addr", "inet_client_port", "pg_is_in_recovery",
                "pg_postmaster_start_time", "pg_conf_load_time", "pg_last_wal_receive_lsn",
                "pg_last_wal_replay_lsn", "pg_last_xact_replay_timestamp", "pg_wal_lsn_diff",
                "pg_relation_size", "pg_total_relation_size", "pg_table_size", "pg_indexes_size",
                "pg_database_size", "pg_size_pretty", "pg_size_bytes", "has_table_privilege",
                "has_schema_privilege", "has_database_privilege", "has_column_privilege",
                "has_function_privilege", "pg_has_role", "pg_get_viewdef", "pg_get_indexdef",
                "pg_get_constraintdef", "pg_get_functiondef", "pg_get_expr", "pg_get_userbyid",
                "pg_get_serial_sequence", "format_type", "obj_description", "col_description",
                "shobj_description", "pg_table_is_visible", "pg_type_is_visible",
                "pg_function_is_visible", "pg_encoding_to_char", "pg_typeof", "pg_get_keywords",
                "pg_client_encoding", "txid_current_snapshot", "pg_current_snapshot",
                "pg_snapshot_xmin", "to_regclass", "to_regproc", "to_regtype", "pg_my_temp_schema",
                "pg_is_other_temp_schema", "pg_stat_get_numscans", "pg_tablespace_location",
                "plainto_tsquery", "to_tsvector", "to_tsquery", "websearch_to_tsquery",
                "phraseto_tsquery", "ts_rank", "ts_headline", "pg_stat_get_activity"},
            S);
    add_all(v, {"random", "setseed", "clock_timestamp", "timeofday", "gen_random_uuid",
                "uuid_generate_v4", "pg_sleep", "pg_sleep_for", "pg_sleep_until", "pg_cancel_backend",
                "pg_terminate_backend", "pg_reload_conf", "pg_rotate_logfile", "pg_stat_reset",
                "pg_read_file", "pg_ls_dir", "dblink", "dblink_exec", "pg_stat_statements_reset",
                "random_normal", "pg_wal_replay_pause", "pg_wal_replay_resume"},
            V);
    return v;
  }();
  return m;
}

}  // namespace

FunctionKind function_kind(std::string_view name) {
  const auto& m = kinds();
  auto it = m.find(name);
  return it == m.end() ? FunctionKind::ordinary : it->second;
}

Volatility builtin_volatility(std::string_view name) {
  const auto& m = volatilities();
  auto it = m.find(name);
  return it == m.end() ? Volatility::unknown : it->second;
}

}  // namespace pgscale::classifier
