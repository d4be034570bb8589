// pair_style equipot: see pair_equipot.h and docs/lammps.md.

#include "pair_equipot.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

using namespace LAMMPS_NS;

namespace {

const char *const EXPORT_FORMAT = "equipot-lammps-1";    // equipot.lammps.export.LAMMPS_EXPORT_FORMAT
const char *const PROGRAM_NAME = "lammps";               // equipot.lammps.program.PROGRAM_NAME

std::vector<std::string> split_words(const std::string &text)
{
  std::istringstream stream(text);
  std::vector<std::string> words;
  for (std::string word; stream >> word;) words.push_back(word);
  return words;
}

std::string joined(const std::vector<std::string> &words)
{
  std::string text;
  for (const auto &word : words) text += (text.empty() ? "" : " ") + word;
  return text;
}

}    // namespace

PairEquipot::PairEquipot(LAMMPS *lmp) : Pair(lmp)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  ghostneigh = 1;                  // neighbour lists of ghost atoms: edges between ghosts
  no_virial_fdotr_compute = 1;     // the virial is assembled from edge gradients
  centroidstressflag = CENTROID_NOTAVAIL;
}

PairEquipot::~PairEquipot()
{
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
    memory->destroy(cutghost);
  }
}

void PairEquipot::allocate()
{
  allocated = 1;
  int n = atom->ntypes;
  memory->create(setflag, n + 1, n + 1, "pair:setflag");
  memory->create(cutsq, n + 1, n + 1, "pair:cutsq");
  memory->create(cutghost, n + 1, n + 1, "pair:cutghost");
  for (int i = 1; i <= n; i++)
    for (int j = i; j <= n; j++) setflag[i][j] = 0;
}

// pair_style equipot MODEL.pt2 [threads N] [chunk N]
void PairEquipot::settings(int narg, char **arg)
{
  if (narg < 1 || narg % 2 == 0)
    error->all(FLERR, "pair_style equipot takes the exported model and optional keywords: "
                      "pair_style equipot model.pt2 [threads 1] [chunk 0]");
  int threads = 0;
  for (int k = 1; k < narg; k += 2) {
    int value = utils::inumeric(FLERR, arg[k + 1], false, lmp);
    if (strcmp(arg[k], "threads") == 0) {
      if (value < 1) error->all(FLERR, "pair_style equipot: threads must be at least 1, got {}", value);
      threads = value;
    } else if (strcmp(arg[k], "chunk") == 0) {
      if (value < 0) error->all(FLERR, "pair_style equipot: chunk must be 0 (off) or a number of atoms, got {}", value);
      chunk_atoms = value;
    } else {
      error->all(FLERR, "pair_style equipot: unknown keyword '{}'; the keywords are 'threads N' and 'chunk N'", arg[k]);
    }
  }
  load_model(arg[0]);
  if (threads == 0) {    // the environment, else 1
    const char *variable = std::getenv("EQUIPOT_LAMMPS_THREADS");
    threads = variable ? std::atoi(variable) : 1;
    if (threads < 1) threads = 1;
  }
  at::set_num_threads(threads);
}

void PairEquipot::load_model(const std::string &path)
{
  if (!std::ifstream(path).good())
    error->all(FLERR, "pair_style equipot: model file {} does not exist or cannot be read; "
                      "write it with `equipot export MODEL.pt --lammps -o {}`", path, path);
  std::unordered_map<std::string, std::string> metadata;
  try {    // the metadata first: no machine code of the file runs before it is checked
    metadata = torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(path, PROGRAM_NAME);
  } catch (const std::exception &exception) {
    error->all(FLERR, "pair_style equipot: {} is not a LAMMPS export of equipot ({}); "
                      "write one with `equipot export MODEL.pt --lammps`",
               path, utils::split_lines(exception.what())[0]);
  }
  if (metadata["format"] != EXPORT_FORMAT)
    error->all(FLERR, "pair_style equipot: {} has format '{}', this plugin reads '{}'; export the model "
                      "again with `equipot export MODEL.pt --lammps` and rebuild with `equipot lammps`",
               path, metadata["format"], EXPORT_FORMAT);
  model_species = split_words(metadata["species"]);
  model_cutoff = std::stod(metadata["cutoff"]);
  model_layers = std::stoi(metadata["num_layers"]);
  single_precision = metadata["dtype"] == "float32";
  model_device = metadata["device"];
  if (model_device != "cpu" && !at::hasCUDA())
    error->all(FLERR, "pair_style equipot: {} was compiled for {}, but this PyTorch has no CUDA; export it "
                      "with --device cpu, or build the plugin against a CUDA PyTorch", path, metadata["device"]);
  int device_index = -1;
  if (model_device == "cuda") {    // one GPU per rank, round robin within a node
    const char *local_rank = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    if (!local_rank) local_rank = std::getenv("MPI_LOCALRANKID");
    int rank = local_rank ? std::atoi(local_rank) : comm->me;
    device_index = rank % std::max<int>(1, at::getNumGPUs());
    model_device = "cuda:" + std::to_string(device_index);
  }
  try {
    program = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path, PROGRAM_NAME, false, 1, device_index);
  } catch (const std::exception &exception) {
    error->all(FLERR, "pair_style equipot: loading {} failed ({})", path, utils::split_lines(exception.what())[0]);
  }
  if (comm->me == 0)
    utils::logmesg(lmp, "pair_style equipot: {} ({}, {}), species {}, cutoff {} A, {} layers: ghost atoms to {} A\n",
                   path, metadata["dtype"], metadata["device"], joined(model_species), model_cutoff, model_layers,
                   model_layers * model_cutoff);
}

// pair_coeff * * Element1 Element2 ... (one element per LAMMPS type)
void PairEquipot::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  int ntypes = atom->ntypes;
  if (narg != 2 + ntypes || strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_coeff for equipot is 'pair_coeff * * ' followed by one element per atom type "
                      "({} types here), e.g. 'pair_coeff * * {}'", ntypes, model_species.empty() ? "Cu" : model_species[0]);
  type_species.assign(ntypes + 1, -1);
  for (int type = 1; type <= ntypes; type++) {
    std::string element = arg[1 + type];
    auto found = std::find(model_species.begin(), model_species.end(), element);
    if (found == model_species.end())
      error->all(FLERR, "pair_coeff: element '{}' (type {}) is not in the model, which knows {}; NULL is not "
                        "supported: every type needs an element of the model", element, type, joined(model_species));
    type_species[type] = static_cast<int>(found - model_species.begin());
  }
  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++) setflag[i][j] = 1;
}

void PairEquipot::init_style()
{
  if (!program) error->all(FLERR, "pair_style equipot: no model loaded");
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "pair_style equipot needs 'units metal' (eV, Å, ps: the model's units), not 'units {}'",
               update->unit_style);
  if (force->newton_pair == 0)
    error->all(FLERR, "pair_style equipot needs 'newton on' (the default): forces on ghost atoms are summed "
                      "back to the ranks that own them");
  neighbor->add_request(this, NeighConst::REQ_FULL | NeighConst::REQ_GHOST);
  // ghost atoms out to num_layers x cutoff: every neighbour of every atom within
  // (num_layers - 1) x cutoff of a local atom is present, so local energies are exact
  double ghost_cutoff = model_layers * model_cutoff + neighbor->skin;
  comm->cutghostuser = std::max(comm->cutghostuser, ghost_cutoff);
}

double PairEquipot::init_one(int i, int j)
{
  if (setflag[i][j] == 0) error->all(FLERR, "pair_coeff * * <elements> is missing for pair_style equipot");
  cutghost[i][j] = cutghost[j][i] = model_cutoff;    // neighbour lists of ghost atoms to the cutoff
  return model_cutoff;
}

// Splits the local atoms into spatial blocks of about chunk_atoms atoms (one block when
// chunking is off): each block is one program call, with the atoms around it as ghosts,
// so the memory of a call is bounded whatever the number of atoms per rank.
std::vector<std::vector<int>> PairEquipot::local_chunks()
{
  int nlocal = atom->nlocal;
  std::vector<std::vector<int>> chunks;
  if (chunk_atoms == 0 || nlocal <= chunk_atoms) {
    chunks.emplace_back(nlocal);
    for (int i = 0; i < nlocal; i++) chunks[0][i] = i;
    return chunks;
  }
  double **x = atom->x;
  double lo[3] = {x[0][0], x[0][1], x[0][2]}, hi[3] = {x[0][0], x[0][1], x[0][2]};
  for (int i = 0; i < nlocal; i++)
    for (int k = 0; k < 3; k++) lo[k] = std::min(lo[k], x[i][k]), hi[k] = std::max(hi[k], x[i][k]);
  // blocks close to cubes: edge = (volume per block)^(1/3), bins per direction rounded
  double n_blocks = static_cast<double>(nlocal) / chunk_atoms;
  double extent[3], volume = 1.0;
  for (int k = 0; k < 3; k++) volume *= (extent[k] = std::max(hi[k] - lo[k], 1.0));
  double edge = std::cbrt(volume / n_blocks);
  int bins[3];
  for (int k = 0; k < 3; k++) bins[k] = std::max(1, static_cast<int>(std::lround(extent[k] / edge)));
  chunks.resize(static_cast<size_t>(bins[0]) * bins[1] * bins[2]);
  for (int i = 0; i < nlocal; i++) {
    int bin = 0;
    for (int k = 0; k < 3; k++) {
      double span = hi[k] - lo[k];
      int b = span > 0.0 ? static_cast<int>((x[i][k] - lo[k]) / span * bins[k]) : 0;
      bin = bin * bins[k] + std::min(std::max(b, 0), bins[k] - 1);
    }
    chunks[bin].push_back(i);
  }
  chunks.erase(std::remove_if(chunks.begin(), chunks.end(), [](const std::vector<int> &c) { return c.empty(); }),
               chunks.end());
  return chunks;
}

void PairEquipot::assemble_graph(const std::vector<int> &seeds, double cutoff_squared)
{
  double **x = atom->x;
  int *type = atom->type;
  int nall = atom->nlocal + atom->nghost;
  if (static_cast<int>(hops.size()) != nall) {
    hops.assign(nall, -1);
    graph_index.assign(nall, -1);
  } else {
    for (int i : graph_atoms) hops[i] = graph_index[i] = -1;    // reset what the last call touched
  }
  graph_atoms.clear();
  for (int i : seeds) {
    hops[i] = 0;
    graph_index[i] = static_cast<int>(graph_atoms.size());
    graph_atoms.push_back(i);
  }
  n_seeds = static_cast<int>(seeds.size());
  edge_vectors.clear();
  senders.clear();
  receivers.clear();
  // Breadth first from the seeds (the atoms whose energy counts). Their energy under an
  // L-layer model needs the incoming edges of atoms up to L - 1 hops away and the atoms
  // up to L hops away; LAMMPS's ghosts reach further (num_layers x cutoff + skin, in
  // box-aligned slabs), and the rest of them would only cost time.
  for (size_t next = 0; next < graph_atoms.size(); next++) {
    int i = graph_atoms[next];
    if (hops[i] >= model_layers) continue;    // a sender only
    const int *neighbors = list->firstneigh[i];
    for (int jj = 0; jj < list->numneigh[i]; jj++) {
      int j = neighbors[jj] & NEIGHMASK;
      double dx = x[j][0] - x[i][0], dy = x[j][1] - x[i][1], dz = x[j][2] - x[i][2];
      if (dx * dx + dy * dy + dz * dz >= cutoff_squared) continue;
      if (hops[j] < 0) {
        hops[j] = hops[i] + 1;
        graph_index[j] = static_cast<int>(graph_atoms.size());
        graph_atoms.push_back(j);
      }
      edge_vectors.insert(edge_vectors.end(), {dx, dy, dz});
      senders.push_back(graph_index[j]);
      receivers.push_back(static_cast<int64_t>(next));
    }
  }
  int n_graph = static_cast<int>(graph_atoms.size());
  species.resize(n_graph + 2);
  local_weights.resize(n_graph + 2);
  for (int g = 0; g < n_graph; g++) {
    species[g] = type_species[type[graph_atoms[g]]];
    local_weights[g] = g < n_seeds ? 1.0 : 0.0;
  }
  // two padding atoms (ghost weight) joined by two edges: the compiled program needs at
  // least two atoms and two edges, and a rank may own none
  species[n_graph] = species[n_graph + 1] = 0;
  local_weights[n_graph] = local_weights[n_graph + 1] = 0.0;
  double half = 0.5 * model_cutoff;
  edge_vectors.insert(edge_vectors.end(), {half, 0.0, 0.0, -half, 0.0, 0.0});
  senders.insert(senders.end(), {n_graph, n_graph + 1});
  receivers.insert(receivers.end(), {n_graph + 1, n_graph});
}

void PairEquipot::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  for (const auto &seeds : local_chunks()) {
    assemble_graph(seeds, model_cutoff * model_cutoff);
    run_program(eflag, vflag);
  }
}

void PairEquipot::run_program(int eflag, int vflag)
{
  int64_t n_edges = static_cast<int64_t>(senders.size());
  int64_t n_atoms = static_cast<int64_t>(species.size());
  auto as_model = at::TensorOptions().device(c10::Device(model_device));
  auto model_dtype = single_precision ? at::kFloat : at::kDouble;
  std::vector<at::Tensor> inputs = {
      at::from_blob(edge_vectors.data(), {n_edges, 3}, at::kDouble).to(as_model.dtype(model_dtype)),
      at::from_blob(senders.data(), {n_edges}, at::kLong).to(as_model.dtype(at::kLong)),
      at::from_blob(receivers.data(), {n_edges}, at::kLong).to(as_model.dtype(at::kLong)),
      at::from_blob(species.data(), {n_atoms}, at::kLong).to(as_model.dtype(at::kLong)),
      at::from_blob(local_weights.data(), {n_atoms}, at::kDouble).to(as_model.dtype(model_dtype)),
  };
  std::vector<at::Tensor> outputs;
  try {
    outputs = program->run(inputs);
  } catch (const std::exception &exception) {
    error->one(FLERR, "pair_style equipot: the model failed on {} atoms and {} edges ({})", n_atoms, n_edges,
               utils::split_lines(exception.what())[0]);
  }
  tally(outputs[0], outputs[1], eflag, vflag);
}

void PairEquipot::tally(const at::Tensor &atomic_energies, const at::Tensor &edge_gradients, int, int)
{
  at::Tensor energies = atomic_energies.to(at::kCPU, at::kDouble).contiguous();
  at::Tensor gradients = edge_gradients.to(at::kCPU, at::kDouble).contiguous();
  const double *energy = energies.data_ptr<double>();
  const double *gradient = gradients.data_ptr<double>();
  if (eflag_either) {
    for (int g = 0; g < n_seeds; g++) {
      if (eflag_global) eng_vdwl += energy[g];
      if (eflag_atom) eatom[graph_atoms[g]] += energy[g];
    }
  }
  double **f = atom->f;
  size_t n_real_edges = senders.size() - 2;    // without the padding
  for (size_t e = 0; e < n_real_edges; e++) {
    // r_e = x_sender - x_receiver, so dE/dx_sender = g and dE/dx_receiver = -g
    const double *g = gradient + 3 * e;
    int s = graph_atoms[senders[e]], r = graph_atoms[receivers[e]];
    for (int k = 0; k < 3; k++) {
      f[r][k] += g[k];
      f[s][k] -= g[k];
    }
    if (vflag_either) {    // W = sum_atoms x (x) f = -sum_edges r_e (x) g_e, symmetrized
      const double *v = edge_vectors.data() + 3 * e;
      double w[6] = {-v[0] * g[0],
                     -v[1] * g[1],
                     -v[2] * g[2],
                     -0.5 * (v[0] * g[1] + v[1] * g[0]),
                     -0.5 * (v[0] * g[2] + v[2] * g[0]),
                     -0.5 * (v[1] * g[2] + v[2] * g[1])};
      for (int k = 0; k < 6; k++) {
        if (vflag_global) virial[k] += w[k];
        if (vflag_atom) {
          vatom[s][k] += 0.5 * w[k];
          vatom[r][k] += 0.5 * w[k];
        }
      }
    }
  }
}
