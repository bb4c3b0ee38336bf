// What hvrun serve reads from a client before it touches the engine
// (api/docker_convert.hpp, api/http.hpp): a request target, a create body
// and a filters value. The input's first line is the target, the rest the
// body (and the filters). Whatever the bytes, each reader returns or throws
// ApiError (the client's 400); any other exception (a JSON type error the
// readers did not catch) is a defect: the server would answer 500 instead
// of naming the field.
#include <cstdint>
#include <string>

#include "api/docker_convert.hpp"
#include "api/http.hpp"
#include "tests/fuzz/fuzz_util.hpp"

using namespace hvrun;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in = fuzz::as_string(data, size);
  const size_t nl = in.find('\n');
  const std::string target = in.substr(0, nl), body = nl == std::string::npos ? "" : in.substr(nl + 1);
  api::Request r;
  api::parse_target(target, r);
  try {
    std::vector<std::string> warnings;
    engine::RunOptions o = api::run_options_of(api::parse_body(body), r.param("name"), warnings);
    if (o.image.empty()) fuzz::invariant_failed("a create without an Image was accepted");
  } catch (const api::ApiError& e) {
    if (e.status != 400) fuzz::invariant_failed("a bad body gave status " + std::to_string(e.status));
  } catch (const std::exception& e) {
    fuzz::invariant_failed(std::string("run_options_of threw a non-API error: ") + e.what());
  }
  try {
    api::parse_filters(body);
  } catch (const api::ApiError&) {
  } catch (const std::exception& e) {
    fuzz::invariant_failed(std::string("parse_filters threw a non-API error: ") + e.what());
  }
  return 0;
}
