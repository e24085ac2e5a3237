// Asio, Asio-SSL and Beast compiled once for the whole project (BOOST_ASIO_SEPARATE_COMPILATION):
// every other translation unit only sees declarations, which keeps 2-core builds fast.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
