#pragma once
// Function volatility from the primary's pg_proc, for the classifier (classifier.hpp): user-defined
// functions route correctly without configuration (volatile → primary unless read-safe).
// The Monitor fetches it at start, after a reload and on demand (Monitor::refresh_function_catalog).
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "proxy/classifier.hpp"
#include "proxy/pq_conn.hpp"

namespace pgscale {

// Every function, aggregate and procedure in every schema, by lower-case unqualified name (the
// classifier's key); overloads collapse to the most volatile (MapFunctionCatalog::add).
extern const char* const kFunctionCatalogSql;

// Builds the catalog from the rows of kFunctionCatalogSql; nullptr and `error` on a malformed row.
std::shared_ptr<const classifier::MapFunctionCatalog> build_function_catalog(const PqResult& rows,
                                                                             std::string& error);

// Runs kFunctionCatalogSql on a connected PqConn.
boost::asio::awaitable<std::shared_ptr<const classifier::MapFunctionCatalog>> fetch_function_catalog(
    PqConn& conn, PqDeadline deadline, std::string& error);

}  // namespace pgscale
