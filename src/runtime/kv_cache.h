// Paged KV cache: fixed-size pages from a pool with a byte budget; each sequence owns a page table.
// Pages are reference counted, so fork() shares every page of the source (cheap prefix sharing) and a write into
// a shared page copies it first (copy-on-write). Only the last, partly filled page is ever written, so sharing a
// full page is free forever.
#pragma once
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "runtime/ops/kv_layout.h"

namespace banyan {

using SeqId = int64_t;

// Where pages live: host memory by default; a device backend supplies device memory (pages are then device
// addresses that the host never dereferences, and copy-on-write copies through the device).
class KvPageMemory {
 public:
  virtual ~KvPageMemory() = default;
  virtual uint8_t* allocate_page(size_t bytes) = 0;  // freed with the KvPageMemory; throws banyan::Error when out
  virtual void copy_page(uint8_t* dst, const uint8_t* src, size_t bytes) = 0;
};

class KvCache {
 public:
  // max_bytes: budget for pages (rounded down to whole pages, at least one). memory: nullptr = host pages.
  KvCache(const ops::KvLayout& layout, size_t max_bytes, std::unique_ptr<KvPageMemory> memory = nullptr);
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  const ops::KvLayout& layout() const { return layout_; }

  SeqId create();
  SeqId fork(SeqId src);                 // shares src's pages; both may then grow independently
  void trim(SeqId seq, int64_t n_tokens);  // keeps the first n_tokens (≤ length)
  void free(SeqId seq);
  int64_t length(SeqId seq) const;
  bool exists(SeqId seq) const { return seqs_.count(seq) != 0; }

  // Makes room for positions [length, length + n): allocates pages and un-shares the page that will be written.
  // Throws banyan::Error when the budget is exhausted (the sequence is left as it was).
  void reserve(SeqId seq, int64_t n);
  // Marks n reserved positions as written (length += n).
  void commit(SeqId seq, int64_t n);

  // The sequence's page table (valid until the next reserve/trim/free/fork of any sequence).
  const uint8_t* const* pages(SeqId seq) const;
  int64_t num_pages(SeqId seq) const;  // entries in the page table
  // Address of K (v=0) or V (v=1) for `pos` of `layer`; pos must be reserved.
  uint8_t* slot(SeqId seq, int64_t layer, int v, int64_t pos);

  size_t page_bytes() const { return layout_.page_bytes(); }
  size_t pages_in_use() const { return pages_in_use_; }
  size_t bytes_in_use() const { return pages_in_use_ * page_bytes(); }
  size_t capacity_bytes() const { return max_pages_ * page_bytes(); }

 private:
  struct Seq {
    std::vector<uint8_t*> pages;
    int64_t length = 0;
    int64_t reserved = 0;  // positions with a private page behind them, ≥ length
  };
  Seq& get(SeqId seq);
  const Seq& get(SeqId seq) const;
  uint8_t* alloc_page();
  void release_page(uint8_t* page);

  ops::KvLayout layout_;
  size_t max_pages_ = 0;
  size_t pages_in_use_ = 0;
  std::unique_ptr<KvPageMemory> memory_;            // every page ever allocated
  size_t allocated_pages_ = 0;
  std::vector<uint8_t*> free_pages_;
  std::unordered_map<const uint8_t*, int32_t> refcount_;
  std::unordered_map<SeqId, Seq> seqs_;
  SeqId next_id_ = 1;
};

}  // namespace banyan
