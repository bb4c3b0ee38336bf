// Image references ("busybox", "user/app:1", "localhost:5000/team/app:v2"):
// validated, and written in one form everywhere.
#pragma once
#include <string>

namespace hvrun::image {

// A reference taken apart. Docker Hub names are in their familiar form:
// `domain` is empty for them ("docker.io/library/x" -> path "x").
struct Reference {
  std::string domain;  // "localhost:5000", "quay.io"; empty for Docker Hub
  std::string path;    // "team/app"
  std::string tag;     // "latest" when none was given
  // domain/path:tag, the form normalize_ref returns.
  std::string str() const { return (domain.empty() ? "" : domain + "/") + path + ":" + tag; }
};

// Throws "invalid reference format: 'X': why" for anything that is not a
// reference (digest references are not supported yet).
Reference parse_reference(const std::string& ref);

// "busybox" -> "busybox:latest", "docker.io/library/x:2" -> "x:2";
// parse_reference(ref).str().
std::string normalize_ref(const std::string& ref);

}  // namespace hvrun::image
