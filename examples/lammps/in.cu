# fcc copper with an equipot model: NVT at 300 K (docs/lammps.md).
#
#   equipot export model.pt --lammps -o model.pt2      # once per model (float32 for speed: --dtype float32)
#   lmp -in in.cu -var plugin $(equipot lammps) -var model model.pt2
#   mpirun -np 4 lmp -in in.cu -var plugin $(equipot lammps) -var model model.pt2
#
# LD_LIBRARY_PATH must hold $VIRTUAL_ENV/lib (the mpich wheel's libmpi) for the PyPI lmp.

variable        cells index 6           # 6x6x6 conventional cells: 864 atoms
variable        steps index 1000
variable        model index model.pt2

units           metal
atom_style      atomic
boundary        p p p
lattice         fcc 3.61
region          box block 0 ${cells} 0 ${cells} 0 ${cells}
create_box      1 box
create_atoms    1 box
mass            1 63.546

plugin          load ${plugin}
pair_style      equipot ${model}        # keywords: threads N (torch threads per rank, default 1), chunk N (atoms per call)
pair_coeff      * * Cu                  # one element of the model per atom type

neighbor        1.0 bin
velocity        all create 300.0 4928459 mom yes rot yes dist gaussian loop geom
fix             thermostat all nvt temp 300.0 300.0 0.1
timestep        0.002                   # ps
thermo          10
thermo_style    custom step temp pe ke etotal press vol
run             ${steps}
