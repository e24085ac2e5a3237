#pragma once
// Umbrella include of the whole codec.
#include "protocol/auth.hpp"
#include "protocol/copy.hpp"
#include "protocol/data.hpp"
#include "protocol/error.hpp"
#include "protocol/extended_query.hpp"
#include "protocol/frame.hpp"
#include "protocol/response.hpp"
#include "protocol/simple_query.hpp"
#include "protocol/startup.hpp"
#include "protocol/wire.hpp"
