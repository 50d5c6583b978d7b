#include "pack/node_tensors.h"

#include <fmt/format.h>

#include "core/error.h"
#include "model/tensor_class.h"

namespace banyan {

uint64_t NodeTensor::nbytes() const {
  uint64_t n = 0;
  for (const auto& r : ranges) n += r.nbytes;
  return n;
}

uint64_t NodeLayout::total_bytes() const {
  uint64_t n = 0;
  for (const auto& t : tensors) n += t.nbytes();
  return n;
}

std::string rename_expert(const std::string& name, int expert, int local) {
  const std::string from = fmt::format(".experts.{}.", expert);
  size_t pos = name.find(from);
  BANYAN_CHECK(pos != std::string::npos, "tensor '{}' does not name expert {}", name, expert);
  return name.substr(0, pos) + fmt::format(".experts.{}.", local) + name.substr(pos + from.size());
}

NodeLayout layout_node(const Checkpoint& ckpt, const ModelSpec& spec, const Plan& plan, int node_index) {
  BANYAN_CHECK(node_index >= 0 && size_t(node_index) < plan.nodes.size(), "plan has no node {}", node_index);
  BANYAN_CHECK(plan.num_experts == spec.num_experts, "plan is for {} experts per layer, the model has {}",
               plan.num_experts, spec.num_experts);
  BANYAN_CHECK(plan.moe_layers == spec.moe_layers(), "plan's MoE layers [{}] differ from the model's [{}]",
               fmt::join(plan.moe_layers, ","), fmt::join(spec.moe_layers(), ","));
  const PlanNode& node = plan.nodes[size_t(node_index)];
  const int64_t E = spec.num_experts;

  // local id of each global expert, per MoE layer (-1: not on this node).
  std::vector<std::vector<int>> local(plan.moe_layers.size(), std::vector<int>(size_t(E), -1));
  for (size_t l = 0; l < node.experts.size(); ++l)
    for (size_t i = 0; i < node.experts[l].size(); ++i) local[l][size_t(node.experts[l][i])] = int(i);
  // Which (layer, expert) pairs we saw, to prove every planned expert exists.
  std::vector<std::vector<int>> seen(plan.moe_layers.size(), std::vector<int>(size_t(E), 0));

  // Source order: file by file, by offset, so reads are sequential.
  std::vector<const TensorInfo*> order;
  for (const auto& f : ckpt.files())
    for (const auto& t : f->tensors()) order.push_back(&t);

  NodeLayout out;
  for (const TensorInfo* info : order) {
    const std::string& name = info->name;
    TensorClass c = classify_tensor(spec, name);
    auto moe_index = [&] {
      int li = plan.moe_index(c.layer);
      BANYAN_CHECK(li >= 0, "tensor '{}': layer {} is not an MoE layer in the plan", name, c.layer);
      return size_t(li);
    };
    auto slice_rows = [&](const std::string& new_name) {
      // Leading dimension is the expert dimension: take its slices in plan order.
      BANYAN_CHECK(!info->shape.empty() && info->shape[0] == E, "tensor '{}' has shape {}, expected [{}, ...]", name,
                   shape_str(info->shape), E);
      size_t li = moe_index();
      uint64_t row = info->nbytes() / uint64_t(E);
      NodeTensor t{new_name, info->dtype, info->shape, {}};
      t.shape[0] = int64_t(node.experts[li].size());
      for (int e : node.experts[li]) {
        t.ranges.push_back({name, uint64_t(e) * row, row});
        if (c.role == TensorRole::RoutedExpert) seen[li][size_t(e)] = 1;
      }
      out.tensors.push_back(std::move(t));
    };
    switch (c.role) {
      case TensorRole::Unused:
        out.dropped.push_back(name);
        break;
      case TensorRole::Router:
      case TensorRole::RouterBias:
        out.router_tensors.push_back(name);
        slice_rows(name);
        break;
      case TensorRole::RoutedExpert:
        if (c.fused) {
          slice_rows(name);
        } else {
          size_t li = moe_index();
          int l = local[li][size_t(c.expert)];
          if (l >= 0) {
            seen[li][size_t(c.expert)] = 1;
            out.tensors.push_back(
                {rename_expert(name, c.expert, l), info->dtype, info->shape, {{name, 0, info->nbytes()}}});
          }
        }
        break;
      default:
        out.tensors.push_back({name, info->dtype, info->shape, {{name, 0, info->nbytes()}}});
    }
  }
  for (size_t li = 0; li < node.experts.size(); ++li)
    for (int e : node.experts[li])
      BANYAN_CHECK(seen[li][size_t(e)], "checkpoint {} has no tensors for expert {} of layer {} (planned for {})",
                   ckpt.dir().string(), e, plan.moe_layers[li], node.name);
  return out;
}

}  // namespace banyan
