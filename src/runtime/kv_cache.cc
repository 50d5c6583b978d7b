#include "runtime/kv_cache.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace banyan {

namespace {
class HostPageMemory final : public KvPageMemory {
 public:
  uint8_t* allocate_page(size_t bytes) override {
    storage_.emplace_back(new uint8_t[bytes]);
    return storage_.back().get();
  }
  void copy_page(uint8_t* dst, const uint8_t* src, size_t bytes) override { std::memcpy(dst, src, bytes); }

 private:
  std::vector<std::unique_ptr<uint8_t[]>> storage_;
};
}  // namespace

KvCache::KvCache(const ops::KvLayout& layout, size_t max_bytes, std::unique_ptr<KvPageMemory> memory)
    : layout_(layout), memory_(memory ? std::move(memory) : std::make_unique<HostPageMemory>()) {
  BANYAN_CHECK(layout.dtype == DType::F32 || layout.dtype == DType::BF16, "KV cache dtype must be F32 or BF16, not {}",
               dtype_name(layout.dtype));
  BANYAN_CHECK(layout.page_tokens > 0, "KV cache page size must be positive, not {}", layout.page_tokens);
  max_pages_ = std::max<size_t>(1, max_bytes / layout.page_bytes());
}

KvCache::~KvCache() = default;

KvCache::Seq& KvCache::get(SeqId seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) fail("KV cache: unknown sequence {}", seq);
  return it->second;
}
const KvCache::Seq& KvCache::get(SeqId seq) const {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) fail("KV cache: unknown sequence {}", seq);
  return it->second;
}

uint8_t* KvCache::alloc_page() {
  if (free_pages_.empty()) {
    if (allocated_pages_ >= max_pages_)
      fail("KV cache full: {} pages of {} bytes in use (budget {} bytes); free or trim sequences", pages_in_use_,
           page_bytes(), capacity_bytes());
    free_pages_.push_back(memory_->allocate_page(page_bytes()));
    ++allocated_pages_;
  }
  uint8_t* p = free_pages_.back();
  free_pages_.pop_back();
  refcount_[p] = 1;
  ++pages_in_use_;
  return p;
}

void KvCache::release_page(uint8_t* page) {
  auto it = refcount_.find(page);
  if (--it->second == 0) {
    refcount_.erase(it);
    free_pages_.push_back(page);
    --pages_in_use_;
  }
}

SeqId KvCache::create() {
  const SeqId id = next_id_++;
  seqs_[id] = Seq{};
  return id;
}

SeqId KvCache::fork(SeqId src) {
  Seq copy = get(src);
  const int64_t used_pages = (copy.length + layout_.page_tokens - 1) / layout_.page_tokens;
  // Pages reserved beyond the length hold nothing yet; the fork does not take them.
  copy.pages.resize(size_t(used_pages));
  copy.reserved = copy.length;
  for (uint8_t* p : copy.pages) ++refcount_[p];
  const SeqId id = next_id_++;
  seqs_[id] = std::move(copy);
  return id;
}

void KvCache::trim(SeqId seq, int64_t n_tokens) {
  Seq& s = get(seq);
  BANYAN_CHECK(n_tokens >= 0 && n_tokens <= s.length, "KV cache: cannot trim sequence {} of {} tokens to {}", seq,
               s.length, n_tokens);
  const size_t keep = size_t((n_tokens + layout_.page_tokens - 1) / layout_.page_tokens);
  while (s.pages.size() > keep) {
    release_page(s.pages.back());
    s.pages.pop_back();
  }
  s.length = n_tokens;
  s.reserved = n_tokens;
}

void KvCache::free(SeqId seq) {
  Seq& s = get(seq);
  for (uint8_t* p : s.pages) release_page(p);
  seqs_.erase(seq);
}

int64_t KvCache::length(SeqId seq) const { return get(seq).length; }

void KvCache::reserve(SeqId seq, int64_t n) {
  Seq& s = get(seq);
  if (n <= 0) return;
  const int64_t pt = layout_.page_tokens;
  const size_t old_pages = s.pages.size();
  uint8_t* cow_old = nullptr;  // for rollback
  size_t cow_index = 0;
  try {
    // The page holding position `length` may be shared (after fork/trim): copy it before writing.
    if (s.length % pt != 0) {
      cow_index = size_t(s.length / pt);
      uint8_t* page = s.pages[cow_index];
      if (refcount_.at(page) > 1) {
        uint8_t* fresh = alloc_page();
        memory_->copy_page(fresh, page, page_bytes());
        cow_old = page;
        s.pages[cow_index] = fresh;
      }
    }
    const size_t need = size_t((s.length + n + pt - 1) / pt);
    while (s.pages.size() < need) s.pages.push_back(alloc_page());
  } catch (...) {
    while (s.pages.size() > old_pages) {
      release_page(s.pages.back());
      s.pages.pop_back();
    }
    if (cow_old) {
      release_page(s.pages[cow_index]);
      s.pages[cow_index] = cow_old;
    }
    throw;
  }
  if (cow_old) release_page(cow_old);
  s.reserved = std::max(s.reserved, s.length + n);
}

void KvCache::commit(SeqId seq, int64_t n) {
  Seq& s = get(seq);
  BANYAN_CHECK(s.length + n <= s.reserved, "KV cache: commit of {} tokens beyond the reservation of sequence {}", n, seq);
  s.length += n;
}

const uint8_t* const* KvCache::pages(SeqId seq) const { return get(seq).pages.data(); }
int64_t KvCache::num_pages(SeqId seq) const { return int64_t(get(seq).pages.size()); }

uint8_t* KvCache::slot(SeqId seq, int64_t layer, int v, int64_t pos) {
  Seq& s = get(seq);
  return s.pages[size_t(pos / layout_.page_tokens)] + layout_.offset(layer, v, pos % layout_.page_tokens);
}

}  // namespace banyan
