// Filters, with expected outputs worked out by hand from jinja2's and Python's documented behaviour.
#include <gtest/gtest.h>

#include "core/error.h"
#include "test_helpers.h"

namespace banyan::jinja {
namespace {

using testing::render;

TEST(JinjaFilters, TojsonMatchesTransformers) {
  // transformers' tojson is json.dumps(ensure_ascii=False): Python separators, key order kept, floats as repr.
  const std::string v = R"({"x": {"b": 1, "a": [1.0, 0.5, 1e-05, true, null, "é\"\n"]}})";
  EXPECT_EQ(render("{{ x | tojson }}", v), R"({"b": 1, "a": [1.0, 0.5, 1e-05, true, null, "é\"\n"]})");
  EXPECT_EQ(render("{{ x | tojson(indent=2) }}", v),
            "{\n  \"b\": 1,\n  \"a\": [\n    1.0,\n    0.5,\n    1e-05,\n    true,\n    null,\n    \"é\\\"\\n\"\n  ]\n}");
  EXPECT_EQ(render("{{ x | tojson(separators=(',', ':'), sort_keys=true) }}", v),
            R"({"a":[1.0,0.5,1e-05,true,null,"é\"\n"],"b":1})");
  EXPECT_EQ(render("{{ 'é' | tojson(ensure_ascii=true) }} {{ [] | tojson(indent=2) }} {{ {} | tojson }}"),
            R"("\u00e9" [] {})");
  EXPECT_EQ(render("{{ '\x01<>&' | tojson }}"), R"("\u0001<>&")");
}

TEST(JinjaFilters, StringFilters) {
  EXPECT_EQ(render("[{{ '  x  ' | trim }}][{{ 'xxyxx' | trim('x') }}] {{ 'ab' | upper }} {{ 'AB' | lower }}"),
            "[x][y] AB ab");
  EXPECT_EQ(render("{{ 'hello wORLD-foo' | title }} {{ 'hello' | capitalize }} {{ 'aXbX' | replace('X', '-') }}"),
            "Hello World-Foo Hello a-b-");
  EXPECT_EQ(render("{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(1, blank=true) }}"),
            "a\n  b\n\n  c|  a\n  b|a\n \n b");
  EXPECT_EQ(render("{{ 'abc' | reverse }} {{ 'a b  c' | wordcount }} {{ 'ab' | center(6) }}| {{ '<a&\"' | e }}"),
            "cba 3   ab  | &lt;a&amp;&#34;");
  EXPECT_EQ(render("{{ 3 | string }}{{ none | string }} {{ '%s-%s' | format(1, 2) }}"), "3None 1-2");
}

TEST(JinjaFilters, Numbers) {
  EXPECT_EQ(render("{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '0x1A' | int(base=16) }}"),
            "42 4 7 3 26");
  EXPECT_EQ(render("{{ '2.5' | float }} {{ 'x' | float }} {{ 3 | float }}"), "2.5 0.0 3.0");
  EXPECT_EQ(render("{{ 2.5 | round }} {{ 3.5 | round }} {{ 2.675 | round(2) }} {{ 2.1 | round(0, 'ceil') }} {{ 7 | round }}"),
            "2.0 4.0 2.67 3.0 7");
  EXPECT_EQ(render("{{ -3 | abs }} {{ [1, 2, 3] | sum }} {{ [3, 1, 2] | max }} {{ [3, 1, 2] | min }}"), "3 6 3 1");
}

TEST(JinjaFilters, Sequences) {
  const std::string v = R"({"users": [{"name": "b", "age": 3, "on": true}, {"name": "a", "age": 1, "on": false},
                                       {"name": "c", "age": 2}]})";
  EXPECT_EQ(render("{{ users | map(attribute='name') | join(', ') }}", v), "b, a, c");
  EXPECT_EQ(render("{{ users | selectattr('on') | map(attribute='name') | list }}", v), "['b']");
  EXPECT_EQ(render("{{ users | rejectattr('on') | map(attribute='name') | list }}", v), "['a', 'c']");
  EXPECT_EQ(render("{{ users | selectattr('on', 'defined') | map(attribute='name') | list }}", v), "['b', 'a']");
  EXPECT_EQ(render("{{ users | selectattr('age', 'gt', 1) | map(attribute='name') | list }}", v), "['b', 'c']");
  EXPECT_EQ(render("{{ users | sort(attribute='age') | map(attribute='name') | join }}", v), "acb");
  EXPECT_EQ(render("{{ users | map(attribute='missing', default='-') | join }}", v), "---");
  EXPECT_EQ(render("{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('odd') | list }}"),
            "[1, 3] [2, 4]");
  EXPECT_EQ(render("{{ ['a', 'B'] | map('upper') | list }} {{ [1, 2] | map('string') | join('+') }}"),
            "['A', 'B'] 1+2");
  EXPECT_EQ(render("{{ [3, 1, 2] | first }} {{ [3, 1, 2] | last }} {{ [3, 1, 2] | length }} {{ [3, 1, 2] | count }}"),
            "3 2 3 3");
  EXPECT_EQ(render("{{ ['b', 'A', 'a'] | unique | list }} {{ ['b', 'A', 'c'] | sort }} {{ [1, 2] | reverse | list }}"),
            "['b', 'A'] ['A', 'b', 'c'] [2, 1]");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2} | items | list }} {{ {'b': 1, 'a': 2} | dictsort }}"),
            "[('b', 1), ('a', 2)] [('a', 2), ('b', 1)]");
  EXPECT_EQ(render("{{ [1, 2, 3] | batch(2) | list }} {{ 'ab' | list }}"), "[[1, 2], [3]] ['a', 'b']");
}

}  // namespace
}  // namespace banyan::jinja
