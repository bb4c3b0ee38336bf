// --format: a small subset of Go's text/template, as Docker's CLI uses it,
// rendered over JSON objects:
//   {{.Field.Sub}}    a path into the object ({{.}} is the whole object)
//   {{json .X}}       X as compact JSON
//   {{upper .X}} {{lower .X}} {{join .X ", "}} {{index .X "key"}}
//   {{- and -}}       trim the white space before / after the action
//   literal text; the two-character escapes \t and \n in the format text
//   "table " prefix   a header row, then one row per object, columns aligned
// Values print as Go prints them: strings bare, arrays as [a b], objects as
// map[k:v], null or a missing field as <no value>.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hvrun {

class Template {
 public:
  // Throws Error("invalid --format template \"...\": why") on bad syntax or
  // an unknown function.
  static Template parse(const std::string& format);

  // True when the format began with "table".
  bool table() const { return table_; }
  // The top-level field names the template reads ({{.ID}} -> "ID").
  std::vector<std::string> fields() const;

  // The template applied to one object (no newline added). Throws Error when
  // a function is given a value it cannot take.
  std::string render(const nlohmann::json& obj) const;
  // The header row of a table: each {{.X}} replaced by headers[X], or X in
  // upper case when headers has no entry.
  std::string header(const std::map<std::string, std::string>& headers) const;

  struct Node {
    std::string text;               // literal text (when func and args are empty)
    std::string func;               // "", "json", "upper", "lower", "join", "index"
    std::vector<std::string> path;  // the field path argument (empty: "."), when action
    std::vector<std::string> strings;  // string literal arguments
    bool action = false;
    // (index .Path "key").Field: the path taken from index's result
    std::vector<std::string> after;
  };

 private:
  bool table_ = false;
  std::vector<Node> nodes_;
};

// Refuses a template that reads a top-level field not in `known` (for output
// with a fixed set of fields, like ps and images): throws Error naming the
// field and the known ones.
void check_fields(const Template& t, const std::string& format, const std::vector<std::string>& known);

// Lines of tab-separated cells aligned into columns the way Docker's table
// output is (Go tabwriter: minwidth 10, padding 3; the last cell is not padded).
std::string align_columns(const std::vector<std::string>& lines);

// Prints objects through a --format template, Docker's way: a table gets a
// header row and aligned columns; otherwise one line per object.
std::string format_objects(const Template& t, const std::vector<nlohmann::json>& objs,
                           const std::map<std::string, std::string>& headers = {});

}  // namespace hvrun
