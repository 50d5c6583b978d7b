// Lexing, whitespace control and statements, against outputs worked out by hand from jinja2's documented rules.
#include <gtest/gtest.h>

#include "core/error.h"
#include "test_helpers.h"

namespace banyan::jinja {
namespace {

using testing::render;

TEST(JinjaSyntax, PlainTextAndNewlines) {
  EXPECT_EQ(render("hello"), "hello");
  EXPECT_EQ(render("a\r\nb\rc\n"), "a\nb\nc");  // newlines normalised, one trailing newline dropped
  EXPECT_EQ(render("a\n\n"), "a\n");
  EXPECT_EQ(render(""), "");
}

TEST(JinjaSyntax, WhitespaceControl) {
  EXPECT_EQ(render("a  {{- 'b' -}}  c"), "abc");
  EXPECT_EQ(render("a\n  {%- if true %}b{% endif -%}\n  c"), "abc");
  // trim_blocks removes the newline after a block tag, lstrip_blocks the indentation before it.
  EXPECT_EQ(render("{% if true %}\n  x\n  {% endif %}\nend"), "  x\nend");
  // `+` keeps what lstrip/trim would remove.
  EXPECT_EQ(render("  {%+ if true +%}\nx{% endif %}"), "  \nx");
  // Expressions are not affected by trim/lstrip blocks.
  EXPECT_EQ(render("  {{ 'x' }}\ny"), "  x\ny");
  // lstrip only applies when the tag starts the line.
  EXPECT_EQ(render("a {% if true %}b{% endif %}"), "a b");
  EXPECT_EQ(render("{# comment #}\nx"), "x");
  EXPECT_EQ(render("a {#- c -#} b"), "ab");
}

TEST(JinjaSyntax, Raw) {
  EXPECT_EQ(render("{% raw %}{{ not evaluated }}{% endraw %}"), "{{ not evaluated }}");
  EXPECT_EQ(render("{% raw %}\nX{% endraw %}\nY"), "\nXY");  // raw's opening tag keeps its newline
  EXPECT_EQ(render("{%- raw -%}  {% x %}  {%- endraw %}"), "{% x %}");
}

TEST(JinjaSyntax, IfElifElse) {
  const std::string t = "{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %}";
  EXPECT_EQ(render(t, R"({"n": 1})"), "one");
  EXPECT_EQ(render(t, R"({"n": 2})"), "two");
  EXPECT_EQ(render(t, R"({"n": 5})"), "many");
}

TEST(JinjaSyntax, ForLoopVariables) {
  EXPECT_EQ(render("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
                   "{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}",
                   R"({"xs": ["a", "b"]})"),
            "1021TrueFalse2|2110FalseTrue2|");
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }},{% endfor %}"), "-2,1-3,2-,");
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}{{ loop.cycle('a', 'b') }}{% endfor %}"), "aba");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for x in range(6) if x is odd %}{{ x }}/{{ loop.length }} {% endfor %}"), "1/3 3/3 5/3 ");
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", R"({"d": {"b": 1, "a": 2}})"),
            "b=1;a=2;");
  EXPECT_EQ(render("{% for k in d %}{{ k }}{% endfor %}", R"({"d": {"x": 1, "y": 2}})"), "xy");
  EXPECT_EQ(render("{% for c in 'héllo' %}[{{ c }}]{% endfor %}"), "[h][é][l][l][o]");
  EXPECT_EQ(render("{% for x in missing %}x{% else %}none{% endfor %}"), "none");  // undefined iterates as empty
}

TEST(JinjaSyntax, BreakContinue) {
  EXPECT_EQ(render("{% for x in range(10) %}{% if x == 4 %}{% break %}{% endif %}"
                   "{% if x is even %}{% continue %}{% endif %}{{ x }}{% endfor %}"),
            "13");
}

TEST(JinjaSyntax, Scoping) {
  // A set inside a loop does not leak out, and each iteration starts from the outer value (jinja2 semantics).
  EXPECT_EQ(render("{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}"), "12121");
  // namespace() attributes survive the loop.
  EXPECT_EQ(render("{% set ns = namespace(total=0) %}{% for i in [1, 2, 3] %}{% set ns.total = ns.total + i %}"
                   "{% endfor %}{{ ns.total }}"),
            "6");
  // if does not open a scope.
  EXPECT_EQ(render("{% if true %}{% set y = 'in' %}{% endif %}{{ y }}"), "in");
  EXPECT_EQ(render("{% set a, b = [1, 2] %}{{ b }}{{ a }}"), "21");
  EXPECT_EQ(render("{% with z = 5 %}{{ z }}{% endwith %}[{{ z }}]"), "5[]");
}

TEST(JinjaSyntax, SetBlockAndFilterBlock) {
  EXPECT_EQ(render("{% set s %}Hello {{ 'W' }}{% endset %}[{{ s }}]"), "[Hello W]");
  EXPECT_EQ(render("{% set s | upper %}abc{% endset %}{{ s }}"), "ABC");
  EXPECT_EQ(render("{% filter upper %}abc{{ 'd' }}{% endfilter %}"), "ABCD");
  EXPECT_EQ(render("{% filter replace('a', 'b') | upper %}aXa{% endfilter %}"), "BXB");
}

TEST(JinjaSyntax, MacrosAndCall) {
  EXPECT_EQ(render("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}"
                   "{{ greet('A') }} {{ greet('B', '?') }} {{ greet(punct='.', name='C') }}"),
            "Hi A! Hi B? Hi C.");
  EXPECT_EQ(render("{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}"
                   "{% call wrap('b') %}bold{% endcall %}"),
            "<b>bold</b>");
  EXPECT_EQ(render("{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}"
                   "{% call(item) each([1, 2]) %}({{ item }}){% endcall %}"),
            "(1)(2)");
  // Macros see variables of the scope they were defined in.
  EXPECT_EQ(render("{% set g = 'G' %}{% macro m() %}{{ g }}{% endmacro %}{{ m() }}"), "G");
  EXPECT_EQ(render("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}"), "321");
}

TEST(JinjaSyntax, GenerationTagRendersBody) {
  EXPECT_EQ(render("a{% generation %}b{% endgeneration %}c"), "abc");
}

TEST(JinjaSyntax, ParseErrorsCarryLineAndColumn) {
  try {
    Template("line one\n{{ 1 + }}");
    FAIL() << "expected a parse error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 2 column 8"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Template("{% if x %}no end"), Error);
  EXPECT_THROW(Template("{{ x | no_such_filter }}"), Error);
  EXPECT_THROW(Template("{{ x is no_such_test }}"), Error);
  EXPECT_THROW(Template("{{ x.zzz_method() }}"), Error);
  EXPECT_THROW(Template("{% include 'other.html' %}"), Error);
  EXPECT_THROW(Template("{% extends 'base' %}"), Error);
  EXPECT_THROW(Template("{% for x in xs recursive %}{% endfor %}"), Error);
  EXPECT_THROW(Template("{% break %}"), Error);
  EXPECT_THROW(Template("{{ 'unterminated }}"), Error);
  EXPECT_THROW(Template("{{ (1 }}"), Error);
}

}  // namespace
}  // namespace banyan::jinja
