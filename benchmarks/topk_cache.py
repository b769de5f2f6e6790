"""How far a top-k teacher cache is from full-logit distillation, for three ways of filling in the classes it drops.

A teacher over a 49,152-word vocabulary (SmolLM2's size) is cached with the library's `TeacherCache(topk=k)`; the
distillation loss and its gradient with respect to the student's logits are compared with the same loss on the full
teacher logits. Targets:
  renormalised  the k stored classes as the whole distribution, -inf elsewhere (the cache before this release)
  uniform       the rest mass spread evenly over the other classes
  rest bucket   the rest mass spread like the student's own distribution there, capped at the k-th probability
                (what TopK.logits does: at T = 1 every loss equals its (k+1)-class version)
Teachers: Zipf-like rows (p ~ rank^-1.2, the shape of a language model's next-token distribution) and Gaussian logits
(std 2.5, a flatter tail). Students: unrelated ("random": another draw of the same kind) or close to the teacher
(its logits plus N(0, 0.5^2) noise, as a pruned model during recovery). 32 rows each, seed 0. Quality only: nothing is
timed, so the figures do not depend on the machine's load.

    python benchmarks/topk_cache.py           # k in {20, 100, 500}, T in {1, 2}
    python benchmarks/topk_cache.py --quick   # k = 100, T = 1

Writes benchmarks/results/topk_cache.json and the top-k section of benchmarks/BENCHMARKS.md.
"""
import argparse, json, math, platform, tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench_md import update_section
from mixed_ft.distill import TeacherCache, kd_kl, kd_reverse_kl, kd_jsd

ROOT = Path(__file__).resolve().parents[1]
V, N = 49152, 32
LOSSES = {'kl': kd_kl, 'reverse_kl': kd_reverse_kl, 'jsd': kd_jsd}

def teacher(kind, g):
    if kind == 'zipf':
        ranks = torch.stack([torch.randperm(V, generator=g) for _ in range(N)]) + 1
        return -1.2 * ranks.float().log() + 0.1 * torch.randn(N, V, generator=g)
    return 2.5 * torch.randn(N, V, generator=g)

def student(kind, t, g, close):
    return t + 0.5 * torch.randn(N, V, generator=g) if close else teacher(kind, g)

def targets(t, k, s, d):
    "The three filled-in teacher logits for student logits s, from a real top-k cache of t"
    cache = TeacherCache(d, 'teacher', f'k{k}', N, V, topk=k)
    cache.put(np.arange(N), np.zeros(N, dtype=np.int64), t)
    top = cache.get(np.arange(N), np.zeros(N, dtype=np.int64))
    renorm = torch.full((N, V), float('-inf')).scatter_(1, top.indices, top.values)
    uniform = (top.log_rest[:, None] - math.log(V - k)).expand(N, V).scatter(1, top.indices, top.values)
    return {'renormalised': renorm, 'uniform': uniform, 'rest bucket': top.logits(s)}, float(top.log_rest.exp().mean())

def compare(t, s, tgt, T):
    "loss ratios against the full-logit loss, and the cosine between the forward-KL gradients"
    out = {}
    for name, f in LOSSES.items():
        full = float(f(s, t, T=T))
        out[f'{name}_ratio'] = float(f(s, tgt, T=T)) / full
    g_full = torch.func.grad(lambda x: kd_kl(x, t, T))(s)
    g = torch.func.grad(lambda x: kd_kl(x, tgt, T))(s)
    out['kl_grad_cos'] = float(F.cosine_similarity(g.flatten(), g_full.flatten(), 0))
    out['kl_grad_norm_ratio'] = float(g.norm() / g_full.norm())
    return out

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--quick', action='store_true')
    a = ap.parse_args()
    ks, Ts = ((100,), (1.,)) if a.quick else ((20, 100, 500), (1., 2.))
    rows = []
    for kind in ('zipf', 'gaussian'):
        for close in (False, True):
            g = torch.Generator().manual_seed(0)
            t = teacher(kind, g); s = student(kind, t, g, close)
            for k in ks:
                with tempfile.TemporaryDirectory() as d:
                    tg, rest = targets(t, k, s, d)
                for T in Ts:
                    for method, tgt in tg.items():
                        r = compare(t, s, tgt, T)
                        rows.append(dict(teacher=kind, student='close' if close else 'random', k=k, T=T, rest_mass=rest, method=method, **r))
                        print(f"{kind:8s} {rows[-1]['student']:6s} k={k:3d} T={T:.0f} rest {rest:.2f} {method:12s} "
                              f"KL x{r['kl_ratio']:.3f}  rev x{r['reverse_kl_ratio']:.3g}  JSD x{r['jsd_ratio']:.3f}  cos {r['kl_grad_cos']:.3f}  |g| x{r['kl_grad_norm_ratio']:.2f}")
    res = dict(quick=a.quick, vocab=V, rows_per_setting=N, torch=torch.__version__, machine=platform.machine(), results=rows)
    out = ROOT/'benchmarks'/'results'/('topk_cache_quick.json' if a.quick else 'topk_cache.json')
    out.write_text(json.dumps(res, indent=1))
    if a.quick: return
    lines = ["## Top-k teacher cache against full-logit distillation (`benchmarks/topk_cache.py`)", "",
             f"Command: `python benchmarks/topk_cache.py` — quality only (nothing timed), vocabulary {V:,}, {N} rows per setting, seed 0.",
             "Each cell: forward-KL value as a multiple of the full-logit KL / cosine between the two KL gradients / "
             "gradient norm as a multiple of the full one (x1 / 1 / x1 is exact). Reverse KL of the renormalised targets "
             "is infinite in every setting.", "",
             "| teacher | student | k | T | rest mass | renormalised | uniform | rest bucket (ours) | ours: reverse KL, JSD |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for kind in ('zipf', 'gaussian'):
        for st in ('random', 'close'):
            for k in ks:
                for T in Ts:
                    sel = {r['method']: r for r in rows if (r['teacher'], r['student'], r['k'], r['T']) == (kind, st, k, T)}
                    cell = lambda m: f"x{sel[m]['kl_ratio']:.2f} / {sel[m]['kl_grad_cos']:.3f} / x{sel[m]['kl_grad_norm_ratio']:.2f}"
                    ours = sel['rest bucket']
                    lines.append(f"| {kind} | {st} | {k} | {T:.0f} | {sel['rest bucket']['rest_mass']:.2f} | {cell('renormalised')} | "
                                 f"{cell('uniform')} | **{cell('rest bucket')}** | x{ours['reverse_kl_ratio']:.2f}, x{ours['jsd_ratio']:.2f} |")
    update_section('topk', '\n'.join(lines))
    print(f"wrote {out} and the top-k section of BENCHMARKS.md")

if __name__ == '__main__': main()
