#include "builder/expand.hpp"

#include <gtest/gtest.h>

#include "util/error.hpp"

using namespace hvrun::builder;

namespace {

const Vars kVars = {{"A", "apple"}, {"E", ""}, {"SP", "x  y"}, {"P", "/usr/local/bin"}, {"F", "file.tar.gz"}};

std::string ex(const std::string& s, char escape = '\\') { return expand(s, kVars, escape); }

std::string error_of(const std::string& s) {
  try {
    ex(s);
  } catch (const hvrun::Error& e) {
    return e.what();
  }
  return "";
}

using Words = std::vector<std::string>;

}  // namespace

TEST(BuilderExpand, DollarNameAndBracesExpandAndUnsetIsEmpty) {
  EXPECT_EQ(ex("$A"), "apple");
  EXPECT_EQ(ex("${A}s"), "apples");
  EXPECT_EQ(ex("$As"), "");  // the name is "As"
  EXPECT_EQ(ex("x${NOPE}y$NOPE"), "xy");
  EXPECT_EQ(ex("a$"), "a$");
  EXPECT_EQ(ex("$ a $/"), "$ a $/");
  EXPECT_EQ(ex("$A.$A"), "apple.apple");
}

TEST(BuilderExpand, ColonDashAndColonPlusTreatEmptyAsUnset) {
  EXPECT_EQ(ex("${A:-d}"), "apple");
  EXPECT_EQ(ex("${E:-d}"), "d");
  EXPECT_EQ(ex("${NOPE:-d}"), "d");
  EXPECT_EQ(ex("${A:+w}"), "w");
  EXPECT_EQ(ex("${E:+w}"), "");
  EXPECT_EQ(ex("${NOPE:+w}"), "");
}

TEST(BuilderExpand, DashAndPlusWithoutColonOnlyLookAtUnset) {
  EXPECT_EQ(ex("${E-d}"), "");
  EXPECT_EQ(ex("${NOPE-d}"), "d");
  EXPECT_EQ(ex("${E+w}"), "w");
  EXPECT_EQ(ex("${NOPE+w}"), "");
}

TEST(BuilderExpand, WordOfAModifierIsExpandedInTurn) {
  EXPECT_EQ(ex("${NOPE:-$A}"), "apple");
  EXPECT_EQ(ex("${NOPE:-${E:-x}-y}"), "x-y");
  EXPECT_EQ(ex("${A:+\"$A pie\"}"), "apple pie");
}

TEST(BuilderExpand, QuestionMarkModifierIsAnErrorWhenUnset) {
  EXPECT_EQ(ex("${A:?}"), "apple");
  EXPECT_EQ(error_of("${NOPE?must be set}"), "failed to process \"${NOPE?must be set}\": NOPE: must be set");
  EXPECT_EQ(error_of("${E:?}"), "failed to process \"${E:?}\": E: is not allowed to be empty");
}

TEST(BuilderExpand, PrefixSuffixAndReplacePatterns) {
  EXPECT_EQ(ex("${F%.*}"), "file.tar");
  EXPECT_EQ(ex("${F%%.*}"), "file");
  EXPECT_EQ(ex("${F#*.}"), "tar.gz");
  EXPECT_EQ(ex("${F##*.}"), "gz");
  EXPECT_EQ(ex("${P/\\/usr/}"), "/local/bin");
  EXPECT_EQ(ex("${P//\\//:}"), ":usr:local:bin");
  EXPECT_EQ(ex("${A/p?/P}"), "aPle");
}

// Fuzzing (builder_expand, 2026-12-07) found ${Q#**...*} patterns taking
// seconds: every star tried every split. Many stars now cost no more than
// one, with the same answers.
TEST(BuilderExpand, APatternOfManyStarsMatchesWithoutBacktrackingForever) {
  const std::string stars(120, '*');
  EXPECT_EQ(ex("${F#" + stars + "}"), "file.tar.gz");   // shortest: the stars take nothing
  EXPECT_EQ(ex("${F##" + stars + "}"), "");             // longest: everything
  EXPECT_EQ(ex("${F%" + stars + "z}"), "file.tar.g");
  EXPECT_EQ(ex("${F#" + stars + "." + stars + "x}"), "file.tar.gz");  // no match: unchanged
  EXPECT_EQ(ex("${F##*" + stars + ".}"), "gz");
  EXPECT_EQ(ex("${F/" + stars + "t?r/X}"), "X.gz");
  EXPECT_EQ(ex("${P#*/*/}"), "local/bin");
  EXPECT_EQ(ex("${P%/*b?n}"), "/usr/local");
}

TEST(BuilderExpand, SingleQuotesKeepEverythingDoubleQuotesExpand) {
  EXPECT_EQ(ex("'$A \\n \"x\"'"), "$A \\n \"x\"");
  EXPECT_EQ(ex("\"$A 'q' \\$A \\\" \\n\""), "apple 'q' $A \" \\n");
  EXPECT_EQ(ex("a\"b c\"d"), "ab cd");
}

TEST(BuilderExpand, EscapeCharacterTakesTheNextCharacterLiterally) {
  EXPECT_EQ(ex("\\$A"), "$A");
  EXPECT_EQ(ex("\\\\$A"), "\\apple");
  EXPECT_EQ(ex("a\\ b\\\"c\\'"), "a b\"c'");
  EXPECT_EQ(ex("end\\"), "end");  // a trailing escape is dropped
  // With the backtick escape a backslash is an ordinary character.
  EXPECT_EQ(ex("c:\\dir\\$A `$A", '`'), "c:\\dir\\apple $A");
}

TEST(BuilderExpand, UnterminatedQuotesAndBracesAreErrors) {
  EXPECT_EQ(error_of("'abc"),
            "failed to process \"'abc\": unexpected end of statement while looking for matching single-quote");
  EXPECT_EQ(error_of("\"abc"),
            "failed to process \"\"abc\": unexpected end of statement while looking for matching double-quote");
  EXPECT_EQ(error_of("${A"), "failed to process \"${A\": syntax error: missing '}'");
  EXPECT_EQ(error_of("${A:-x"), "failed to process \"${A:-x\": syntax error: missing '}' in ${}");
  EXPECT_EQ(error_of("${}"), "failed to process \"${}\": syntax error: bad substitution");
  EXPECT_EQ(error_of("${A:=x}"), "failed to process \"${A:=x}\": unsupported modifier (:=) in substitution");
}

TEST(BuilderExpand, WordsSplitAtUnquotedSpaceAndKeepQuotedSpace) {
  Vars v = {{"D", "/dst"}};
  EXPECT_EQ(expand_words("COPY \"a b\" c $D/", v), (Words{"COPY", "a b", "c", "/dst/"}));
  EXPECT_EQ(expand_words("  a\\ b   'c  d'  ", v), (Words{"a b", "c  d"}));
  // As Docker: an unquoted value splits, a quoted one does not, "" is dropped.
  EXPECT_EQ(expand_words("$SP \"$SP\" \"\"", kVars), (Words{"x", "y", "x  y"}));
  // expand() keeps the spaces between words.
  EXPECT_EQ(ex("a   $SP"), "a   x  y");
}

TEST(BuilderExpand, KeyValuePairsAreExpandedAndUnquoted) {
  auto kv = parse_key_values("k=v k2=\"v 2\" k3=${A} 'k 4'=x e=", kVars, '\\', true, false);
  ASSERT_EQ(kv.size(), 5u);
  EXPECT_EQ(kv[0].key, "k");
  EXPECT_EQ(kv[0].value, "v");
  EXPECT_EQ(kv[1].value, "v 2");
  EXPECT_EQ(kv[2].value, "apple");
  EXPECT_EQ(kv[3].key, "k 4");
  EXPECT_EQ(kv[4].value, "");
  EXPECT_TRUE(kv[4].value_set);
}

TEST(BuilderExpand, LegacyEnvFormTakesTheRestOfTheLineAsTheValue) {
  auto kv = parse_key_values("PATH $P:/bin   and \"more  here\"  ", kVars, '\\', true, false);
  ASSERT_EQ(kv.size(), 1u);
  EXPECT_EQ(kv[0].key, "PATH");
  EXPECT_EQ(kv[0].value, "/usr/local/bin:/bin   and more  here");
  EXPECT_THROW(parse_key_values("ALONE", kVars, '\\', true, false), hvrun::Error);
}

TEST(BuilderExpand, WithoutLegacyAWordWithoutEqualsIsAnError) {
  EXPECT_THROW(parse_key_values("a=1 b", kVars, '\\', false, false), hvrun::Error);
  EXPECT_THROW(parse_key_values("=1", kVars, '\\', true, false), hvrun::Error);
}

TEST(BuilderExpand, ArgNamesWithoutDefaultHaveNoValue) {
  auto kv = parse_key_values("NAME VER=${A:-1} EMPTY=", kVars, '\\', false, true);
  ASSERT_EQ(kv.size(), 3u);
  EXPECT_EQ(kv[0].key, "NAME");
  EXPECT_FALSE(kv[0].value_set);
  EXPECT_EQ(kv[1].value, "apple");
  EXPECT_TRUE(kv[1].value_set);
  EXPECT_TRUE(kv[2].value_set);
  EXPECT_EQ(kv[2].value, "");
}

TEST(BuilderExpand, SplitQuotedWordsKeepsQuotesAndEscapes) {
  EXPECT_EQ(split_quoted_words("a=\"x y\" b='1 2' c=d\\ e"), (Words{"a=\"x y\"", "b='1 2'", "c=d\\ e"}));
}

TEST(BuilderExpand, ReferencedVarsNamesEveryFormButNotSingleQuotedOnes) {
  EXPECT_EQ(referenced_vars("$A ${B} ${C:-$D} \"$E\" '$F' \\$G $1 $$ ${H%x} $A"),
            (Words{"A", "B", "C", "D", "E", "H"}));
  EXPECT_EQ(referenced_vars("echo \"it's $X\""), (Words{"X"}));
  EXPECT_EQ(referenced_vars("`$A $B", '`'), (Words{"B"}));
  // Shell text the lexer would refuse still yields its names.
  EXPECT_EQ(referenced_vars("echo $(cat ${FILE}) 'unterminated"), (Words{"FILE"}));
}
