// libFuzzer target: tokenizer.json loading must either succeed or throw banyan::Error, never crash; a loaded
// tokenizer must encode (whole and with a content span) and decode a fixed multilingual sample without crashing.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

#include "core/error.h"
#include "format/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  try {
    banyan::Tokenizer t = banyan::Tokenizer::from_json(input);
    for (std::string_view text : {"Hello, world!  123\r\n", "<|im_end|> <s> caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80", ""}) {
      auto ids = t.encode(text, true);
      // The chat path: special tokens stay plain inside a content span (here the text's second half).
      size_t mid = text.size() / 2;
      while (mid > 0 && (static_cast<unsigned char>(text[mid]) & 0xC0) == 0x80) --mid;
      const std::pair<size_t, size_t> content[] = {{mid, text.size()}};
      (void)t.encode_spans(text, content, false);
      (void)t.decode(ids, false);
      (void)t.decode(ids, true);
      banyan::StreamingDecoder stream(t);
      for (auto id : ids) (void)stream.push(id);
      (void)stream.finish();
    }
  } catch (const banyan::Error&) {
  }
  return 0;
}
