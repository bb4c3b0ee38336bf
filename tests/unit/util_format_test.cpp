#include "util/format.hpp"

#include <gtest/gtest.h>

#include "util/error.hpp"

using hvrun::Template;
using nlohmann::json;

namespace {

const json kObj = {{"Id", "abc123"},
                   {"Name", "web"},
                   {"State", {{"Status", "running"}, {"Pid", 42}, {"Running", true}}},
                   {"Args", {"-c", "echo hi"}},
                   {"Labels", {{"b", "2"}, {"a", "1"}}},
                   {"Ports", json::object({{"80/tcp", "8080"}})},
                   {"Nothing", nullptr}};

std::string render(const std::string& f, const json& obj = kObj) { return Template::parse(f).render(obj); }

std::string error_of(const std::string& f) {
  try {
    Template::parse(f);
  } catch (const hvrun::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Format, FieldPathsReadNestedValuesAndLiteralTextIsKept) {
  EXPECT_EQ(render("{{.Name}}"), "web");
  EXPECT_EQ(render("id={{.Id}} status={{.State.Status}} pid={{.State.Pid}}"), "id=abc123 status=running pid=42");
  EXPECT_EQ(render("{{ .State.Running }}"), "true");
}

TEST(Format, ValuesPrintAsGoPrintsThem) {
  EXPECT_EQ(render("{{.Args}}"), "[-c echo hi]");
  EXPECT_EQ(render("{{.Labels}}"), "map[a:1 b:2]");
  EXPECT_EQ(render("{{.Nothing}}"), "<no value>");
  EXPECT_EQ(render("{{.Missing.Deeper}}"), "<no value>");
}

TEST(Format, JsonFunctionPrintsCompactJson) {
  EXPECT_EQ(render("{{json .Args}}"), R"(["-c","echo hi"])");
  EXPECT_EQ(render("{{json .State.Status}}"), R"("running")");
  EXPECT_EQ(json::parse(render("{{json .}}")), kObj);
}

TEST(Format, UpperLowerJoinAndIndex) {
  EXPECT_EQ(render("{{upper .Name}}"), "WEB");
  EXPECT_EQ(render("{{lower .State.Status}}"), "running");
  EXPECT_EQ(render(R"({{join .Args ","}})"), "-c,echo hi");
  EXPECT_EQ(render(R"({{index .Ports "80/tcp"}})"), "8080");
  EXPECT_EQ(render(R"({{index .Args "1"}})"), "echo hi");
}

// Docker's {{(index .NetworkSettings.Networks "n").IPAddress}}: a field of
// what the parentheses give.
TEST(Format, AFieldOfAParenthesisedIndexOrPathIsRead) {
  const json nets = {{"Networks", {{"vn-b", {{"IPAddress", "10.94.0.2"}, {"Aliases", {"x"}}}}, {"a(b)", {{"IPAddress", "1.2.3.4"}}}}}};
  EXPECT_EQ(render(R"({{(index .Networks "vn-b").IPAddress}})", nets), "10.94.0.2");
  EXPECT_EQ(render(R"({{ (index .Networks "vn-b").Aliases }})", nets), "[x]");
  EXPECT_EQ(render(R"x({{(index .Networks "a(b)").IPAddress}})x", nets), "1.2.3.4") << "a ) inside a string";
  EXPECT_EQ(render(R"({{(index .Networks "nosuch").IPAddress}})", nets), "<no value>");
  EXPECT_EQ(render(R"x({{(index .Networks "vn-b")}})x", nets), "map[Aliases:[x] IPAddress:10.94.0.2]");
  EXPECT_EQ(render("{{(.State).Status}}"), "running");
  EXPECT_NE(error_of(R"({{(index .Networks "n").IPAddress}}x{{(upper .Name).X}})").find("has no fields"), std::string::npos);
  EXPECT_NE(error_of(R"({{(index .Networks "n".IPAddress}})").find("unclosed ("), std::string::npos);
  EXPECT_NE(error_of(R"x({{(index .Networks "n") IPAddress}})x").find("expected a field path"), std::string::npos);
  EXPECT_NE(error_of(R"({{((.State)).Status}})").find("nested parentheses"), std::string::npos);
  EXPECT_NE(error_of(R"x({{(range .Networks)}}{{end}})x").find("{{range}} cannot be in ( )"), std::string::npos);
}

// Docker's {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}: the
// body per element (object values in key order), . the element; if and
// else by Go's truth.
TEST(Format, RangeAndIfRunTheirBodiesAsGoTemplatesDo) {
  const json c = {{"Networks", {{"b", {{"IPAddress", "10.2.0.5"}}}, {"a", {{"IPAddress", "10.1.0.5"}}}}},
                  {"Names", {"web", "www"}},
                  {"Empty", json::array()},
                  {"On", true},
                  {"Zero", 0},
                  {"Name", "n"}};
  EXPECT_EQ(render("{{range .Networks}}{{.IPAddress}} {{end}}", c), "10.1.0.5 10.2.0.5 ");
  EXPECT_EQ(render("{{range .Names}}[{{.}}]{{end}}", c), "[web][www]");
  EXPECT_EQ(render("{{range .Empty}}x{{else}}none{{end}}", c), "none");
  EXPECT_EQ(render("{{range .Missing}}x{{end}}.", c), ".");
  EXPECT_EQ(render("{{if .On}}yes{{else}}no{{end}} {{if .Zero}}yes{{else}}no{{end}} {{if .Empty}}x{{end}}", c),
            "yes no ");
  EXPECT_EQ(render("{{if .Name}}{{range .Names}}{{upper .}},{{end}}{{end}}", c), "WEB,WWW,");
  EXPECT_EQ(render("{{range .Networks}}  {{- .IPAddress}},{{end}}", c), "10.1.0.5,10.2.0.5,");
  // Fields are the object's only outside a range's body.
  auto t = Template::parse("{{.Name}} {{range .Networks}}{{.IPAddress}}{{end}} {{if .On}}{{.Zero}}{{end}}");
  EXPECT_EQ(t.fields(), (std::vector<std::string>{"Name", "Networks", "On", "Zero"}));
  EXPECT_NE(error_of("{{range .Names}}x").find("{{range}} without its {{end}}"), std::string::npos);
  EXPECT_NE(error_of("x{{end}}").find("{{end}} without a range or if"), std::string::npos);
  EXPECT_NE(error_of("{{else}}").find("{{else}} outside a range or if"), std::string::npos);
  EXPECT_NE(error_of("{{if .On}}a{{else}}b{{else}}c{{end}}").find("a second {{else}}"), std::string::npos);
  EXPECT_NE(error_of("{{range $k, $v := .Networks}}{{end}}").find("takes one field path"), std::string::npos);
}

TEST(Format, TabAndNewlineEscapesInTheFormatBecomeRealOnes) {
  EXPECT_EQ(render(R"({{.Id}}\t{{.Name}}\n)"), "abc123\tweb\n");
}

TEST(Format, DashTrimsWhiteSpaceBesideTheAction) {
  EXPECT_EQ(render("a   {{- .Name -}}   b"), "aweb" "b");
}

TEST(Format, BadTemplatesAreOneLineErrorsThatSayWhy) {
  EXPECT_NE(error_of("{{.Name").find("unclosed action"), std::string::npos);
  EXPECT_NE(error_of("{{nosuch .Name}}").find("function \"nosuch\" not defined"), std::string::npos);
  EXPECT_NE(error_of("{{with .Args}}x{{end}}").find("not supported"), std::string::npos);
  EXPECT_NE(error_of("{{Name}}"), "");
  EXPECT_NE(error_of("{{.Na-me}}").find("bad field path"), std::string::npos);
  EXPECT_NE(error_of("{{join .Args}}").find("wrong number of arguments"), std::string::npos);
  EXPECT_NE(error_of("{{json}}"), "");
  EXPECT_NE(error_of("{{}}"), "");
  EXPECT_EQ(error_of("{{.Name}}\n").find('\n'), std::string::npos) << "one line";
  EXPECT_EQ(error_of("{{.Name}} plain"), "");
}

TEST(Format, UpperOfANonStringIsAnErrorAtRenderTime) {
  auto t = Template::parse("{{upper .State.Pid}}");
  EXPECT_THROW(t.render(kObj), hvrun::Error);
}

TEST(Format, TablePrefixGivesAHeaderRowAndAlignedColumns) {
  auto t = Template::parse(R"(table {{.ID}}\t{{.Names}}\t{{.Status}})");
  EXPECT_TRUE(t.table());
  std::vector<json> objs = {{{"ID", "0123456789ab"}, {"Names", "a"}, {"Status", "Up"}},
                            {{"ID", "ba9876543210"}, {"Names", "longer_name_here"}, {"Status", "Exited (0)"}}};
  std::string out = hvrun::format_objects(t, objs, {{"ID", "CONTAINER ID"}});
  // Column width: the widest cell plus 3 (at least 10); the last column is not padded.
  EXPECT_EQ(out, "CONTAINER ID" + std::string(3, ' ') + "NAMES" + std::string(14, ' ') + "STATUS\n" +
                     "0123456789ab" + std::string(3, ' ') + "a" + std::string(18, ' ') + "Up\n" +
                     "ba9876543210" + std::string(3, ' ') + "longer_name_here" + std::string(3, ' ') + "Exited (0)\n");
}

TEST(Format, WithoutTablePrefixEachObjectIsOneLine) {
  auto t = Template::parse("{{.Name}}");
  EXPECT_FALSE(t.table());
  EXPECT_EQ(hvrun::format_objects(t, {{{"Name", "a"}}, {{"Name", "b"}}}), "a\nb\n");
}

TEST(Format, FieldsListsTheTopLevelFieldsRead) {
  EXPECT_EQ(Template::parse("{{.A}} {{json .B.C}} x").fields(), (std::vector<std::string>{"A", "B"}));
}

TEST(Format, CheckFieldsRefusesAFieldOutsideTheKnownSet) {
  auto t = Template::parse("{{.ID}} {{.Bogus}}");
  EXPECT_THROW(hvrun::check_fields(t, "{{.ID}} {{.Bogus}}", {"ID", "Names"}), hvrun::Error);
  EXPECT_NO_THROW(hvrun::check_fields(Template::parse("{{.ID}}"), "{{.ID}}", {"ID", "Names"}));
}
