// --format: a small subset of Go's text/template, as Docker's CLI uses it,
// rendered over JSON objects:
//   {{.Field.Sub}}    a path into the object ({{.}} is the whole object)
//   {{json .X}}       X as compact JSON
//   {{upper .X}} {{lower .X}} {{join .X ", "}} {{index .X "key"}}
//   {{(index .X "key").Y}}  a field of what the parentheses give
//   {{range .X}}...{{else}}...{{end}}  the body once per element of an
//                     array or value of an object (in key order), with . that
//                     element; else when there is none
//   {{if .X}}...{{else}}...{{end}}     when X is not false, 0, null, "" or empty
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
    // "range", "if", "else" or "end" (path: range's or if's argument);
    // else_at/end_at: where a range's or if's else and end are.
    std::string block;
    size_t else_at = 0, end_at = 0;
    bool in_range = false;  // inside a range's body: paths are the element's
  };

 private:
  bool table_ = false;
  std::vector<Node> nodes_;
  std::string render(size_t from, size_t to, const nlohmann::json& dot) const;
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
