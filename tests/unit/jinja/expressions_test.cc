// Expressions, operators, tests, methods and Python-compatible printing; expected values worked out by hand from
// Python's semantics.
#include <gtest/gtest.h>

#include "core/error.h"
#include "format/jinja/interpreter.h"
#include "test_helpers.h"

namespace banyan::jinja {
namespace {

using testing::render;

TEST(JinjaExpressions, Arithmetic) {
  EXPECT_EQ(render("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }}"),
            "7 9 3 -4 2 -2");
  EXPECT_EQ(render("{{ 7 / 2 }} {{ 6 / 3 }} {{ 2 ** 10 }} {{ 2 ** 3 ** 2 }} {{ 2 ** -1 }}"), "3.5 2.0 1024 64 0.5");
  EXPECT_EQ(render("{{ 0.1 + 0.2 }} {{ 1e3 }} {{ 1e-5 }} {{ 1e16 }} {{ 123456789012345.6 }} {{ -0.0 }}"),
            "0.30000000000000004 1000.0 1e-05 1e+16 123456789012345.6 -0.0");
  EXPECT_EQ(render("{{ 'ab' * 2 }} {{ [1] * 3 }} {{ 'a' + 'b' }} {{ [1] + [2] }} {{ 1 ~ 'x' ~ none }}"),
            "abab [1, 1, 1] ab [1, 2] 1xNone");
  EXPECT_EQ(render("{{ -1 | abs }} {{ true + 1 }} {{ 1_000 }} {{ 0x1f }}"), "1 2 1000 31");
}

TEST(JinjaExpressions, ComparisonsAndLogic) {
  EXPECT_EQ(render("{{ 1 == 1.0 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }}"),
            "True True False True True");
  EXPECT_EQ(render("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }}"),
            "True True True True");
  EXPECT_EQ(render("{{ 0 or 'x' }} {{ 1 and 'y' }} {{ '' and 'z' }}| {{ not 0 }} {{ not x is defined }}"),
            "x y | True True");
  EXPECT_EQ(render("{{ 'yes' if 1 > 0 else 'no' }} {{ 'yes' if 0 else 'no' }} [{{ 'a' if false }}]"), "yes no []");
}

TEST(JinjaExpressions, LiteralsAndPrinting) {
  EXPECT_EQ(render("{{ true }} {{ False }} {{ none }} {{ [1, 'a', none, true, 1.5] }}"),
            "True False None [1, 'a', None, True, 1.5]");
  EXPECT_EQ(render("{{ {'a': 1, 'b': [2]} }} {{ (1,) }} {{ (1, 2) }} {{ () }}"), "{'a': 1, 'b': [2]} (1,) (1, 2) ()");
  EXPECT_EQ(render(R"({{ "it's" }} {{ ["it's", 'say "hi"', 'both \' "'] }})"),
            R"(it's ["it's", 'say "hi"', 'both \' "'])");
  EXPECT_EQ(render(R"({{ ['a\nb\\c'] }})"), R"(['a\nb\\c'])");
  EXPECT_EQ(render(R"({{ 'tab\there' }}|{{ '\u00e9\x41' }}|{{ 'a' 'b' }})"), "tab\there|éA|ab");
}

TEST(JinjaExpressions, SubscriptsAndSlices) {
  const std::string v = R"({"s": "hello", "l": [0, 1, 2, 3, 4], "d": {"k": {"x": 7}}})";
  EXPECT_EQ(render("{{ s[0] }}{{ s[-1] }} {{ l[1:3] }} {{ l[::2] }} {{ l[::-1] }} {{ s[::-1] }} {{ l[-2:] }}", v),
            "ho [1, 2] [0, 2, 4] [4, 3, 2, 1, 0] olleh [3, 4]");
  EXPECT_EQ(render("{{ d.k.x }} {{ d['k']['x'] }} {{ l.0 }} [{{ l[10] }}] [{{ d.missing }}]", v), "7 7 0 [] []");
  EXPECT_EQ(render("{{ 'héllo'[1:3] }} {{ 'héllo' | length }}"), "él 5");
}

TEST(JinjaExpressions, Tests) {
  EXPECT_EQ(render("{{ x is defined }} {{ y is undefined }} {{ none is none }} {{ 'a' is string }} {{ 1 is number }}",
                   R"({"x": 1})"),
            "True True True True True");
  EXPECT_EQ(render("{{ 1 is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ {} is mapping }} {{ [] is sequence }}"),
            "True True True True True");
  EXPECT_EQ(render("{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 1 is eq 1 }}"),
            "True True True False True");
  EXPECT_EQ(render("{{ false is false }} {{ 0 is false }} {{ true is true }} {{ 'ab' is lower }} {{ 'AB' is upper }}"),
            "True False True True True");
  EXPECT_EQ(render("{{ 2.5 is even }} {{ 3.0 is odd }} {{ 0.5 is odd }} {{ missing in {'a': 1} }}"), "False True False False");
  EXPECT_EQ(render("{{ x is not none }} {{ range is callable }} {{ 2 is in [1, 2] }} {{ 'a' is iterable }}",
                   R"({"x": null})"),
            "False True True True");
}

TEST(JinjaExpressions, StringMethods) {
  EXPECT_EQ(render("[{{ '  a b  '.strip() }}][{{ 'xxaxx'.strip('x') }}][{{ '\\n\\na'.lstrip('\\n') }}][{{ 'a  '.rstrip() }}]"),
            "[a b][a][a][a]");
  EXPECT_EQ(render("{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a-b-c'.rsplit('-', 1) }}"),
            "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b c'] ['a-b', 'c']");
  EXPECT_EQ(render("{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} {{ 'abc'.upper() }} {{ 'ABC'.lower() }}"),
            "True True ABC abc");
  EXPECT_EQ(render("{{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }} {{ 'aaa'.replace('a', 'b', 2) }}"),
            "Hello World Hello bba");
  EXPECT_EQ(render("{{ 'héllo'.find('l') }} {{ 'abc'.find('z') }} {{ 'banana'.count('an') }} {{ '-'.join(['a', 'b']) }}"),
            "2 -1 2 a-b");
  EXPECT_EQ(render("{{ '{} and {}'.format(1, 'two') }} {{ '{0}{0}'.format('x') }} {{ '{name}!'.format(name='N') }}"),
            "1 and two xx N!");
  EXPECT_EQ(render("{{ '%s=%d' % ('a', 3) }} {{ '%.2f' % 3.14159 }} {{ '%05.1f|%-4s|' % (2.25, 'ab') }}"),
            "a=3 3.14 002.2|ab  |");
  EXPECT_EQ(render("{{ 'line1\\nline2'.splitlines() }} {{ '12'.isdigit() }} {{ 'ab'.isalpha() }}"),
            "['line1', 'line2'] True True");
}

TEST(JinjaExpressions, DictAndListMethods) {
  const std::string v = R"({"d": {"a": 1, "b": 2}, "l": [3, 4, 3]})";
  EXPECT_EQ(render("{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 0) }} {{ d.keys() }} {{ d.values() }}", v),
            "1 None 0 ['a', 'b'] [1, 2]");
  EXPECT_EQ(render("{{ d.items() | list }} {{ l.index(4) }} {{ l.count(3) }}", v), "[('a', 1), ('b', 2)] 1 2");
  // The immutable sandbox transformers uses refuses mutation.
  EXPECT_THROW(render("{{ l.append(1) }}", v), Error);
  EXPECT_THROW(render("{{ d.update({'c': 3}) }}", v), Error);
}

TEST(JinjaExpressions, UndefinedSemantics) {
  EXPECT_EQ(render("[{{ missing }}]"), "[]");
  EXPECT_EQ(render("[{{ d.missing }}][{{ none.attr }}]", R"({"d": {}})"), "[][]");
  EXPECT_EQ(render("{{ missing | default('dflt') }} {{ '' | default('e', true) }} {{ 0 | d('z', boolean=true) }}"),
            "dflt e z");
  EXPECT_EQ(render("{{ missing | length }} {{ missing | list }} [{{ missing ~ 'x' }}]"), "0 [] [x]");
  EXPECT_THROW(render("{{ missing.attr }}"), Error);
  EXPECT_THROW(render("{{ missing + 1 }}"), Error);
  EXPECT_THROW(render("{{ missing() }}"), Error);
  EXPECT_THROW(render("{{ missing | tojson }}"), Error);
}

TEST(JinjaExpressions, RuntimeErrors) {
  EXPECT_THROW(render("{{ 'a' + 1 }}"), Error);
  EXPECT_THROW(render("{{ 1 / 0 }}"), Error);
  EXPECT_THROW(render("{{ 0.0 ** -1 }}"), Error);
  EXPECT_THROW(render("{{ missing | int }}"), Error);  // int(Undefined) raises in jinja2
  EXPECT_THROW(render("{{ 3 | indent }}"), Error);    // indent needs a string
  EXPECT_THROW(render("{{ 1 < 'a' }}"), Error);
  EXPECT_THROW(render("{% for x in 5 %}{% endfor %}"), Error);
  EXPECT_THROW(render("{% set x = 1 %}{% set x.attr = 2 %}"), Error);
  try {
    render("{{ raise_exception('Bad roles: ' ~ 3) }}");
    FAIL() << "expected raise_exception to throw";
  } catch (const TemplateRaisedError& e) {
    EXPECT_STREQ(e.what(), "Bad roles: 3");
  }
  try {
    render("ok\n{% if true %}\n{{ 'a' + 1 }}\n{% endif %}");
    FAIL() << "expected a render error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
  }
}

TEST(JinjaExpressions, Globals) {
  EXPECT_EQ(render("{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(3, 0, -1) | list }}"),
            "[0, 1, 2] [1, 3, 5] [3, 2, 1]");
  EXPECT_EQ(render("{{ dict(a=1, b='x') }} {{ namespace(v=2).v }} {{ namespace(v=2) }}"),
            "{'a': 1, 'b': 'x'} 2 <Namespace {'v': 2}>");
  EXPECT_EQ(render("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}"), "<Namespace {'me': <Namespace {...}>}>");
  const std::string year = render("{{ strftime_now('%Y') }}");
  ASSERT_EQ(year.size(), 4u);
  EXPECT_GE(std::stoi(year), 2024);
}

}  // namespace
}  // namespace banyan::jinja
