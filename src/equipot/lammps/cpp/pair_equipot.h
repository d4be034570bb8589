// pair_style equipot: an equipot potential, exported with `equipot export --lammps`,
// run by AOTInductor inside LAMMPS. See docs/lammps.md.
//
// Message passing across MPI ranks uses ghost atoms: LAMMPS communicates atoms out to
// num_layers x cutoff (+ skin), the graph holds local and ghost atoms with edges
// r < cutoff from a full neighbour list that includes ghost atoms, and only the atomic
// energies of local atoms are counted. Forces on ghost atoms (derivatives of the local
// energy) are summed back to their owners by LAMMPS (newton_pair on).

#ifndef LMP_PAIR_EQUIPOT_H
#define LMP_PAIR_EQUIPOT_H

#include "pair.h"

#include <memory>
#include <string>
#include <vector>

namespace at {
class Tensor;
}
namespace torch::inductor {
class AOTIModelPackageLoader;
}

namespace LAMMPS_NS {

class PairEquipot : public Pair {
 public:
  PairEquipot(class LAMMPS *);
  ~PairEquipot() override;
  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;

 private:
  void allocate();
  void load_model(const std::string &path);
  void assemble_graph(const std::vector<int> &seeds, double cutoff_squared);
  std::vector<std::vector<int>> local_chunks();
  void run_program(int eflag, int vflag);
  void tally(const at::Tensor &atomic_energies, const at::Tensor &edge_gradients, int eflag, int vflag);

  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> program;
  std::vector<std::string> model_species;    // species in the model's index order
  std::vector<int> type_species;             // LAMMPS type (1..ntypes) -> model species index
  double model_cutoff = 0.0;                 // Å
  int model_layers = 0;
  int chunk_atoms = 0;                       // 'chunk N': local atoms per program call (0: all at once)
  bool single_precision = false;             // float32 export (else float64)
  std::string model_device = "cpu";          // where the program runs: "cpu" or "cuda:<index>"

  // the graph of the current step: local atoms, the ghosts within num_layers hops of
  // them, then 2 padding atoms
  std::vector<int> graph_atoms;              // graph index -> LAMMPS atom index
  std::vector<int> graph_index;              // LAMMPS atom index -> graph index (-1: not in the graph)
  std::vector<int> hops;                     // LAMMPS atom index -> edges from the nearest local atom
  std::vector<double> edge_vectors;          // [n_edges * 3], sender minus receiver, Å
  std::vector<int64_t> senders, receivers;   // [n_edges]
  std::vector<int64_t> species;              // [n_atoms]
  std::vector<double> local_weights;         // [n_atoms]: 1 for the atoms whose energy counts, else 0
  int n_seeds = 0;                           // those atoms: the first n_seeds of the graph
};

}    // namespace LAMMPS_NS

#endif
