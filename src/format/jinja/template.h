// A parsed Jinja2 template. Parsing happens once (errors, including unsupported features, surface here);
// rendering is const and may run concurrently from several threads.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "format/jinja/tagged_string.h"
#include "format/jinja/value.h"

namespace banyan::jinja {

struct TemplateOptions {
  bool trim_blocks = true;  // transformers' chat-template environment sets both
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
  // Guards against runaway templates (a render that exceeds them fails with banyan::Error); far above what any
  // chat template needs.
  uint64_t max_steps = 50'000'000;          // statements executed plus loop iterations
  size_t max_output_bytes = size_t{256} << 20;
};

using Variables = std::unordered_map<std::string, Value>;


class Template {
 public:
  // Throws banyan::Error "line L column C: ..." for syntax errors and unsupported constructs.
  explicit Template(const std::string& source, const TemplateOptions& options = {});
  ~Template();
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  // Renders with `variables` on top of the built-in globals (range, dict, namespace, raise_exception,
  // strftime_now). Throws TemplateRaisedError (interpreter.h) for raise_exception(), banyan::Error otherwise.
  std::string render(const Variables& variables) const;
  // The same, keeping which output bytes came from content-tagged input strings.
  TaggedString render_tagged(const Variables& variables) const;

 private:
  struct Parsed;
  std::unique_ptr<Parsed> parsed_;
};

}  // namespace banyan::jinja
