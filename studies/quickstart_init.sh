#!/usr/bin/env bash
# Issue #11 part 5: which CP factor starts at zero, how the others are drawn, lambda and which factor
# it acts on, and CP vs flattening LoRA at an equal parameter budget -- on the offline quickstart at the
# recipe's full 300 steps, 5 seeds (train.seed = init and data order). One thread per run, two runs at
# a time (a 2-core machine: ~40 min). Summary: studies/quickstart_init.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=1
SEEDS=train.seed=0,1,2,3,4
COMMON="eval.num_visualize=0 output.root=runs/study_init"
sweep() { name=$1; shift; $PY tools/sweep.py tasks/quickstart.py --parallel 2 --set $COMMON output.name=$name "$@"; }

# CP rank 4 on every conv (1,540 adapter parameters): zero factor x lambda on U (the paper's factor)
sweep cp   --sweep adapter.init_cp_zero=V,U adapter.lam=0,0.01,0.1 $SEEDS
# U = 0 with the regulariser moved to V (the factor that is non-zero at init under U = 0); the first
# conv has 3 input channels, so its V (3 x 4) cannot have orthonormal columns: it gets lam = 0
sweep cpV  --sweep adapter.init_cp_zero=U adapter.lam=0.1 $SEEDS --set "adapter.regularize_conv=['V']" \
    "adapter.overrides={'features.0.0': {'lam': 0.0}}"
# other draws for the non-zero factors
sweep cpn  --sweep adapter.init_cp_zero=U,V adapter.init_cp=normal adapter.lam=0 $SEEDS
# flattening LoRA rank 1 (1,531 parameters): PEFT's init and N(0, 1/fan_in)
sweep lora --sweep adapter.init_lora=kaiming_uniform,normal $SEEDS --set adapter.method=lora adapter.rank=1 adapter.alpha=1

$PY tools/compare.py runs/study_init/cp__* runs/study_init/cpV__* runs/study_init/cpn__* runs/study_init/lora__* \
    --metrics top1 --out runs/study_init/report
$PY -m lava_vision.analysis.seeds runs/study_init/report/comparison.csv --metric top1
