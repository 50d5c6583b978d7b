// What one node's bundle holds, tensor by tensor: each output tensor is a list of byte ranges of source tensors,
// so writing it is a straight copy from the source mmap (no tensor is ever materialised in memory).
//
// Per source tensor (classified with model/tensor_class.h):
//  trunk, shared experts, dense MLP        copied whole, same name (byte-identical)
//  router [E, hidden] (+ its bias [E])     rows of the node's experts, in plan order
//  selection bias [E]                      entries of the node's experts, in plan order
//  routed expert e (per-expert modules)    kept iff e is in the node's list; renamed "experts.<local>." where
//                                          local = e's position in plan order
//  fused expert stack [E, ...]             slices of the leading expert dimension, in plan order
//  unused (DeepSeek-V3 MTP layers)         dropped: transformers does not load them, and they hold full experts
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "format/safetensors.h"
#include "model/model_spec.h"
#include "plan/plan_file.h"

namespace banyan {

struct SourceRange {
  std::string tensor;  // source tensor name
  uint64_t offset = 0;  // bytes from the start of the tensor
  uint64_t nbytes = 0;
};

struct NodeTensor {
  std::string name;
  DType dtype = DType::BF16;
  Shape shape;
  std::vector<SourceRange> ranges;  // concatenated in order
  uint64_t nbytes() const;
};

struct NodeLayout {
  std::vector<NodeTensor> tensors;           // bundle tensors, in source order
  std::vector<std::string> router_tensors;   // full router matrices and selection biases, for router-full
  std::vector<std::string> dropped;          // source tensors left out (unused)
  uint64_t total_bytes() const;
};

// Checks the plan against the model (expert count, MoE layers) and lays out node `node`'s tensors. Errors name
// the tensor; every planned expert must be present in the checkpoint.
NodeLayout layout_node(const Checkpoint& ckpt, const ModelSpec& spec, const Plan& plan, int node);

// "…experts.<e>.…" with the expert index replaced by `local` (the first ".experts.<digits>." occurrence).
std::string rename_expert(const std::string& name, int expert, int local);

}  // namespace banyan
