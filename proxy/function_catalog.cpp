#include "proxy/function_catalog.hpp"

namespace pgscale {

const char* const kFunctionCatalogSql = "SELECT lower(p.proname), p.provolatile FROM pg_catalog.pg_proc p";

namespace {

std::optional<classifier::Volatility> volatility_of(const std::string& v) {
  if (v == "i") return classifier::Volatility::immutable;
  if (v == "s") return classifier::Volatility::stable;
  if (v == "v") return classifier::Volatility::volatile_;
  return std::nullopt;
}

}  // namespace

std::shared_ptr<const classifier::MapFunctionCatalog> build_function_catalog(const PqResult& rows,
                                                                             std::string& error) {
  if (!rows.ok()) {
    error = rows.error;
    return nullptr;
  }
  auto catalog = std::make_shared<classifier::MapFunctionCatalog>();
  for (const auto& row : rows.rows) {
    if (row.size() != 2 || !row[0] || !row[1]) {
      error = "function catalog: unexpected row shape";
      return nullptr;
    }
    auto v = volatility_of(*row[1]);
    if (!v) {
      error = "function catalog: unknown provolatile '" + *row[1] + "' for " + *row[0];
      return nullptr;
    }
    catalog->add(*row[0], *v);
  }
  return catalog;
}

boost::asio::awaitable<std::shared_ptr<const classifier::MapFunctionCatalog>> fetch_function_catalog(
    PqConn& conn, PqDeadline deadline, std::string& error) {
  auto rows = co_await conn.query(kFunctionCatalogSql, deadline);
  co_return build_function_catalog(rows, error);
}

}  // namespace pgscale
