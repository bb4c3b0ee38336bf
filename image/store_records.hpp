// The store's own files (internal to image/): repositories.json (tags),
// images/<id>/image.json (records) and the garbage rules. Callers hold the
// store lock: shared to read, exclusive to write.
#pragma once
#include <map>
#include <set>
#include <string>

#include "image/record.hpp"
#include "image/store.hpp"

namespace hvrun::image {

// "name:tag" -> image id. Names stored before normalisation took the
// familiar form (docker.io/library/x:2) are read as they are now written.
std::map<std::string, std::string> load_repos(const Store& s);
void save_repos(const Store& s, const std::map<std::string, std::string>& repos);
// images/<id>/image.json with its tags filled in from `repos`.
ImageRecord load_record(const Store& s, const std::string& id, const std::map<std::string, std::string>& repos);
// The layers that some image record still uses.
std::set<std::string> used_layers(const Store& s);
// Moves a path into tmp (atomic) and deletes it there.
void discard(const Store& s, const std::string& path);
// With the exclusive lock held: after a crash, drops staging left behind and
// layers no image uses (a commit killed between moving layers in and writing
// the image record).
void tidy(const Store& s);

}  // namespace hvrun::image
