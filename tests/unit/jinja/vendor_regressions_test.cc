// Behaviour that the vendors' real chat templates exercised (tools/fixtures/vendor_templates/), reproduced with
// minimal templates; expected text is what jinja2 3.1.6 gives for the same template and variables.
#include <gtest/gtest.h>

#include "core/error.h"
#include "test_helpers.h"

namespace banyan::jinja {
namespace {

using testing::render;

// The message of the error a render raises ("line N: " prefix removed), or "" when it renders.
std::string error_of(const std::string& source, const std::string& vars = "{}") {
  try {
    render(source, vars);
  } catch (const Error& e) {
    std::string m = e.what();
    if (m.rfind("line ", 0) == 0) m = m.substr(m.find(": ") + 2);
    return m;
  }
  return "";
}

// Qwen3's template reads messages[0].role; with no messages jinja2 says "list object has no element 0" (no quotes:
// an element lookup, unlike an attribute lookup's "'list object' has no attribute 'x'").
TEST(VendorRegressions, MissingElementMessagesAreJinja2s) {
  EXPECT_EQ(error_of("{{ messages[0].role }}", R"({"messages": []})"), "list object has no element 0");
  EXPECT_EQ(error_of("{{ m[-3].x }}", R"({"m": [1]})"), "list object has no element -3");
  EXPECT_EQ(error_of("{{ m[True].x }}", R"({"m": [1]})"), "list object has no element True");
  EXPECT_EQ(error_of("{{ s[9].x }}", R"({"s": "ab"})"), "str object has no element 9");
  EXPECT_EQ(error_of("{{ d[5].x }}", R"({"d": {}})"), "dict object has no element 5");
  EXPECT_EQ(error_of("{{ d[none].x }}", R"({"d": {}})"), "dict object has no element None");
  // String keys are looked up as attributes too, and say so.
  EXPECT_EQ(error_of("{{ d['k'].x }}", R"({"d": {}})"), "'dict object' has no attribute 'k'");
  EXPECT_EQ(error_of("{{ m['a'].x }}", R"({"m": [1]})"), "'list object' has no attribute 'a'");
  // Printing a missing element is still the empty string, as with jinja2's default Undefined.
  EXPECT_EQ(render("[{{ m[5] }}]", R"({"m": [1]})"), "[]");
}

}  // namespace
}  // namespace banyan::jinja
