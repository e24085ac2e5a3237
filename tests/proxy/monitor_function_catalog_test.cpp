// build_function_catalog: pg_proc rows -> the classifier's FunctionCatalog.
#include <catch2/catch.hpp>

#include "proxy/function_catalog.hpp"

using pgscale::PqResult;
using pgscale::build_function_catalog;
using pgscale::classifier::Volatility;

namespace {
PqResult rows(std::vector<std::pair<std::string, std::string>> r) {
  PqResult out;
  out.columns = {"lower", "provolatile"};
  for (auto& [name, v] : r) out.rows.push_back({name, v});
  return out;
}
}  // namespace

TEST_CASE("function catalog: volatility by name, overloads keep the most volatile", "[catalog]") {
  std::string error;
  auto c = build_function_catalog(
      rows({{"now", "s"}, {"lower", "i"}, {"nextval", "v"}, {"f", "i"}, {"f", "v"}, {"f", "s"}, {"g", "s"}, {"g", "i"}}),
      error);
  REQUIRE(c != nullptr);
  CHECK(error.empty());
  CHECK(c->volatility("now") == Volatility::stable);
  CHECK(c->volatility("lower") == Volatility::immutable);
  CHECK(c->volatility("nextval") == Volatility::volatile_);
  CHECK(c->volatility("f") == Volatility::volatile_);
  CHECK(c->volatility("g") == Volatility::stable);
  CHECK(c->volatility("missing") == Volatility::unknown);
  CHECK(c->size() == 5);
}

TEST_CASE("function catalog: malformed rows and failed queries give no catalog", "[catalog]") {
  std::string error;
  CHECK(build_function_catalog(rows({{"f", "x"}}), error) == nullptr);
  CHECK(error.find("provolatile") != std::string::npos);
  PqResult nulls;
  nulls.rows.push_back({std::nullopt, std::string("v")});
  error.clear();
  CHECK(build_function_catalog(nulls, error) == nullptr);
  CHECK_FALSE(error.empty());
  PqResult failed;
  failed.error = "permission denied";
  error.clear();
  CHECK(build_function_catalog(failed, error) == nullptr);
  CHECK(error == "permission denied");
}
