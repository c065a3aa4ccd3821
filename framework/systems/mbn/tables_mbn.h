#pragma once
// MBN's tables (Deng et al., multi-branch recurrent network), for report/tables.cpp:
//   mbn_table1  DuRB-M ablation (TV / GAP / Fusion), experiment "mbn_table1", rows = variants
//               none, TV, GAP, Fusion, MBN (experiments/mbn/table1/, ablations/mbn_table1*.toml);
//               every row is compared with MBN per image.
//   mbn_table2  R-MBN's recurrence order, experiment "mbn_table2", variants "B->H->R", ...; the
//               paper's numbers are averages over the tasks, so ours are the mean of the parts
//               multitask/blur, haze, rain (and jpeg for the four-factor orders).
//   mbn_table3  the four tasks, experiment "mbn": variants MBN and R-MBN (and the paper's
//               dedicated methods and cascade, paper side only); Input = MBN runs' identity.
//   mbn_table4  mixed degradations, experiment "mbn_table4": rows R-MBN, R-MBN*, Suganuma et al.
//               (paper only), columns the 16 test sets multitask_test/<R|B|H|J|R+B|...|random>.
// Every cell is scored with the reference scripts' convention (eval.metric "mbn").
#include "report/paper_table.h"

namespace dmgn::report {

// Fills `spec` for mbn_table<n> (n = 1..4).
void mbn_table_spec(TableSpec& spec, int n);

}  // namespace dmgn::report
