#include "systems/systems.h"

#include "systems/dcp/register.h"
#include "systems/dmgn/register.h"
#include "systems/errnet/register.h"
#include "systems/gcanet/register.h"
#include "systems/ibcln/register.h"
#include "systems/location_sirr/register.h"
#include "systems/mbn/register.h"
#include "systems/physics_gan/register.h"
#include "systems/prenet/register.h"

namespace dmgn::systems {

// One line per system, in the order tables list them (`dmgn report systems`).
void register_systems() {
  register_dmgn();
  register_location_sirr();
  register_physics_gan();
  register_mbn();
  register_errnet();
  register_ibcln();
  register_prenet();
  register_gcanet();
  register_dcp();
}

}  // namespace dmgn::systems
