#include "runtime/families/family.h"

#include "core/error.h"

namespace banyan::families {

const FamilyLoader& family_loader(Family family) {
  switch (family) {
    case Family::Qwen3Moe: return qwen3_moe_loader();
    case Family::Qwen2Moe: return qwen2_moe_loader();
    case Family::Mixtral: return mixtral_loader();
    case Family::Olmoe: return olmoe_loader();
    default:
      fail("the CPU engine does not run {} models yet (supported: qwen3_moe, qwen2_moe, mixtral, olmoe)",
           family_name(family));
  }
}

}  // namespace banyan::families
