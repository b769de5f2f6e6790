"""The training loop against its limit and its peers: step time of the same work in a bare PyTorch loop, mixed_ft's
Trainer, the Hugging Face Trainer and PyTorch Lightning, on a quiet machine and beside one competing CPU-bound process;
and `mixed-ft demo`'s wall time in both conditions.

Every loop trains the same freshly initialised model (seed 0) on the same list of pre-made batches, with the fused AdamW
(the HF Trainer's default optimizer, and mixed_ft's) at the same learning rate, and weight decay 0.01 on the weight
matrices only (two parameter groups, as mixed_ft and the HF Trainer both make them), for the same number of optimizer steps, and nothing else to do: no evaluation, no saving.
  bare       forward, cross-entropy, backward, step, zero_grad: the limit (on the thread count mixed_ft picks)
  mixed_ft   mixed_ft.Trainer(model, None, ...): LabelLoss, its default callbacks, progress bar on, evaluation off
  hf         transformers.Trainer with its default logging (progress bar on, a log every 500 steps), no evaluation, no
             saving; gradient clipping off (max_grad_norm=0) so that it computes what the others compute
  lightning  lightning.Trainer with its default logger and progress bar (the loss logged every step, prog_bar=True), no
             checkpointing
and, for the thread policy's evidence, the bare loop on one thread and on torch's own setting (`threads` in the JSON).
The peers run on torch's own thread setting, as a user would run them; mixed_ft on its thread policy (chapter 00e_threads),
and the bare loop on the thread count that policy picks at that moment, so that mixed_ft_vs_bare measures the loop itself.

Step time is measured the same way for every loop: the batches sit in a dataset that notes the time each one is fetched;
the interval between two fetches is one whole step of that loop (forward, backward, optimizer, scheduler, callbacks,
logging, progress bar). A run's figure is the median interval after the first two; a loop's figure is the median over
repetitions, run interleaved (the loops' order rotates each repetition). Each run's steps and final loss are recorded.

Workloads: the demo's digits student CNN at batch 32 (6,218 parameters: overhead-bound), the SST-2 BiLSTM student at batch 128
(SST-2 from ../shared/data), and the packaged MiniLM (22M parameters) fine-tuned at batch 32 (texts cut to 64 tokens).
The competing process is one Python busy loop (one core of two).

    python benchmarks/loop.py --quick   # 3 repetitions, fewer steps, the short demo: about 15 minutes
    python benchmarks/loop.py           # 5 repetitions and the full demo: about 45 minutes

Needs the bench extra (pip install -e ".[bench]": transformers, accelerate, lightning). Run it on a machine with nothing
else running. Writes benchmarks/results/loop[_quick].json and its section of benchmarks/BENCHMARKS.md.
"""
import argparse, json, os, platform, statistics, subprocess, sys, tempfile, time, warnings
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from bench_md import update_section
from mixed_ft.app import get_app
from mixed_ft.threads import pick_threads
from mixed_ft.train import Trainer, param_groups

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get('MIXED_FT_DATA', ROOT.parent/'shared'/'data'))
LOOPS = ('bare', 'mixed_ft', 'hf', 'lightning')
STEPS = {'full': dict(digits=300, bilstm=40, minilm=20), 'quick': dict(digits=150, bilstm=20, minilm=10)}
TORCH_THREADS = torch.get_num_threads()   # torch's own choice, which the peers run on


class Timed(Dataset):
    "Pre-made batches; the time each is fetched is noted (batch_size=None: the loader hands them out as they are)"
    def __init__(self, batches): self.batches, self.t = batches, []
    def __len__(self): return len(self.batches)
    def __getitem__(self, i): self.t.append(time.perf_counter()); return self.batches[i]
    def step_ms(self) -> float:
        d = [b - a for a, b in zip(self.t, self.t[1:])][2:]
        return 1000 * statistics.median(d)

def loader(ds): return DataLoader(ds, batch_size=None, shuffle=False)
def logits(model, b): return model(**{k: v for k, v in b.items() if k != 'labels'})['logits']


# ---- the workloads: a model factory, the batches, the learning rate
def digits(n):
    from mixed_ft.demo import DigitsCNN, digits_splits
    x, y = digits_splits(0)[0].tensors
    g = torch.Generator().manual_seed(0)
    batches = []
    while len(batches) < n:
        p = torch.randperm(len(y), generator=g)
        batches += [{'x': x[p[i:i + 32]], 'labels': y[p[i:i + 32]]} for i in range(0, len(y) - 31, 32)]
    return (lambda: DigitsCNN(8)), batches[:n], 1e-2   # the demo's student: 6,218 parameters

def sst2(kind, batch, n, max_len):
    cls = get_app('text-classification')
    app = cls(cls.config(data=dict(train=str(DATA/'sst2'/'train.tsv'), valid=str(DATA/'sst2'/'dev.tsv'), text=1, label=0, batch_size=batch,
                                   max_len=max_len, n_train=batch * n), model=dict(kind=kind)), progress=False)
    torch.manual_seed(0)
    batches = [dict(input_ids=b['input_ids'], attention_mask=b['attention_mask'], labels=b['y']) for b in app.loaders(set())[0]][:n]
    assert len(batches) == n, (len(batches), n)
    student = app.student   # built once per run, from the same seed
    def make():
        torch.manual_seed(0); return student()
    return make, batches, (1e-3 if kind == 'bilstm' else 5e-5)

def workloads(a):
    s = STEPS['quick' if a.quick else 'full']
    return {'digits': lambda: digits(s['digits']), 'bilstm': lambda: sst2('bilstm', 128, s['bilstm'], 128),
            'minilm': lambda: sst2('hf', 32, s['minilm'], 64)}


# ---- the four loops: each returns (timed dataset, final loss, optimizer steps, threads)
def run_bare(make, batches, lr, threads=None):
    torch.manual_seed(0); model = make().train()
    n = threads or pick_threads(model, 'cpu')[0]   # by default the count mixed_ft would pick now: the limit at the same threads
    torch.set_num_threads(n)
    opt = torch.optim.AdamW(param_groups([model], 0.01), lr=lr, fused=True)
    ds, steps = Timed(batches), 0
    for b in loader(ds):
        loss = F.cross_entropy(logits(model, b), b['labels'])
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True); steps += 1
    return ds, loss.item(), steps, n

def run_mixed_ft(make, batches, lr):
    torch.manual_seed(0); ds = Timed(batches)
    tr = Trainer(make(), None, loader(ds), epochs=1, lr=lr, weight_decay=0.01, lr_schedule='constant', seed=0, device='cpu')
    tr.fit()
    return ds, tr.history[-1]['loss'], tr.step, tr.n_threads

def run_hf(make, batches, lr):
    from transformers import Trainer as HFTrainer, TrainingArguments
    torch.manual_seed(0); ds = Timed(batches)
    class Fixed(HFTrainer):   # the same pre-made batches as every other loop
        def get_train_dataloader(self): return loader(ds)
    with tempfile.TemporaryDirectory() as d:
        args = TrainingArguments(output_dir=d, max_steps=len(batches), per_device_train_batch_size=len(batches[0]['labels']),
                                 learning_rate=lr, weight_decay=0.01, lr_scheduler_type='constant', max_grad_norm=0.,
                                 save_strategy='no', eval_strategy='no', report_to='none', use_cpu=True, seed=0,
                                 dataloader_num_workers=0)
        tr = Fixed(model=make(), args=args, train_dataset=ds,
                   compute_loss_func=lambda out, labels, num_items_in_batch=None: F.cross_entropy(out['logits'], labels))
        out = tr.train()
    return ds, tr.state.log_history[-1].get('train_loss', out.training_loss), tr.state.global_step, torch.get_num_threads()

def run_lightning(make, batches, lr):
    import lightning as L
    torch.manual_seed(0); ds = Timed(batches)
    class Lit(L.LightningModule):
        def __init__(self, model): super().__init__(); self.model = model
        def training_step(self, b, i):
            loss = F.cross_entropy(logits(self.model, b), b['labels'])
            self.log('loss', loss, prog_bar=True); self.last = loss.detach()
            return loss
        def configure_optimizers(self): return torch.optim.AdamW(param_groups([self.model], 0.01), lr=lr, fused=True)
    with tempfile.TemporaryDirectory() as d:
        lit = Lit(make())
        tr = L.Trainer(max_steps=len(batches), accelerator='cpu', devices=1, enable_checkpointing=False, default_root_dir=d,
                       enable_model_summary=False)
        tr.fit(lit, loader(ds))
    return ds, float(lit.last), tr.global_step, torch.get_num_threads()

RUNNERS = dict(bare=run_bare, mixed_ft=run_mixed_ft, hf=run_hf, lightning=run_lightning,
               bare_1_thread=lambda *a: run_bare(*a, threads=1), bare_all_threads=lambda *a: run_bare(*a, threads=TORCH_THREADS))
MEASURED = LOOPS + ('bare_1_thread', 'bare_all_threads')   # the last two: the thread policy's evidence


@contextmanager
def competitor(on:bool):
    "One CPU-bound process (a Python busy loop) for the duration of the block"
    if not on: yield; return
    p = subprocess.Popen([sys.executable, '-c', 'while True: pass'])
    time.sleep(1.)   # running before the first measurement
    try: yield
    finally: p.kill(); p.wait()

def measure(a, contended:bool) -> dict:
    res = {}
    for name, build in workloads(a).items():
        make, batches, lr = build()
        runs = {l: [] for l in MEASURED}
        with competitor(contended):
            for rep in range(a.reps):
                for loop in MEASURED[rep % len(MEASURED):] + MEASURED[:rep % len(MEASURED)]:   # interleaved, the order rotated
                    torch.set_num_threads(TORCH_THREADS)
                    ds, loss, steps, threads = RUNNERS[loop](make, batches, lr)
                    runs[loop].append(dict(step_ms=ds.step_ms(), loss=loss, steps=steps, threads=threads))
                    print(f"{'contended' if contended else 'quiet':9s} {name:6s} {loop:9s} rep {rep}: {runs[loop][-1]['step_ms']:8.2f} ms/step "
                          f"({steps} steps, {threads} thread{'s' * (threads > 1)}, final loss {loss:.4f})", flush=True)
        torch.set_num_threads(TORCH_THREADS)
        res[name] = {l: dict(step_ms=statistics.median(r['step_ms'] for r in rs), runs=rs) for l, rs in runs.items()}
    return res

def demo_seconds(args, contended:bool, keep:str|None=None) -> float:
    "Wall time of `mixed-ft demo ARGS` in a fresh folder (kept at `keep` if given, which must not hold a finished demo)"
    with tempfile.TemporaryDirectory() as d, competitor(contended):
        t0 = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent/'mixed-ft'), 'demo', '--out', keep or d, *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--reps', type=int, default=None, help='interleaved repetitions (default 5, --quick 3)')
    ap.add_argument('--no-demo', action='store_true', help='skip the demo timings')
    ap.add_argument('--demo-out', default=None, help="keep the quiet demo's folder here (its ablation.md is the README's table)")
    a = ap.parse_args()
    a.reps = a.reps or (3 if a.quick else 5)
    warnings.filterwarnings('ignore')
    from transformers.utils import logging; logging.set_verbosity_error()
    t0 = time.perf_counter()
    res = dict(quick=a.quick, reps=a.reps, machine=f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
               torch_threads=TORCH_THREADS, steps=STEPS['quick' if a.quick else 'full'],
               quiet=measure(a, False), contended=measure(a, True))
    res['threads'] = {c: {w: {'one': r['bare_1_thread']['step_ms'], 'torch_default': r['bare_all_threads']['step_ms']}
                          for w, r in res[c].items()} for c in ('quiet', 'contended')}
    res['ratio'] = {w: dict(mixed_ft_vs_bare=r['mixed_ft']['step_ms'] / r['bare']['step_ms'],
                            hf_vs_mixed_ft=r['hf']['step_ms'] / r['mixed_ft']['step_ms'],
                            lightning_vs_mixed_ft=r['lightning']['step_ms'] / r['mixed_ft']['step_ms'])
                    for w, r in res['quiet'].items()}
    res['ratio_contended'] = {w: dict(mixed_ft_vs_bare=r['mixed_ft']['step_ms'] / r['bare']['step_ms'],
                                      hf_vs_mixed_ft=r['hf']['step_ms'] / r['mixed_ft']['step_ms'],
                                      lightning_vs_mixed_ft=r['lightning']['step_ms'] / r['mixed_ft']['step_ms'])
                              for w, r in res['contended'].items()}
    if not a.no_demo:
        args = ['--epochs', '5', '--seeds', '0'] if a.quick else []
        before = [*args, '--threads', str(TORCH_THREADS)]   # every loop on torch's threads: the demo before the thread policy
        res['demo'] = dict(args=' '.join(args) or '(defaults)', quiet_s=demo_seconds(args, False, a.demo_out), contended_s=demo_seconds(args, True),
                           before_policy=dict(args=' '.join(before), quiet_s=demo_seconds(before, False)))
        short = ['--epochs', '5', '--seeds', '0', '--threads', str(TORCH_THREADS)]   # the slow one only at the issue's short size
        res['demo']['before_policy']['short_contended_s'] = demo_seconds(short, True)
        res['demo']['short_contended_s'] = demo_seconds(['--epochs', '5', '--seeds', '0'], True) if a.quick else None
        res['demo']['contended_vs_quiet'] = res['demo']['contended_s'] / res['demo']['quiet_s']
    g, rd = res['ratio'], res.get('demo')
    res['goals'] = {f'{w}: mixed_ft <= 1.05x bare': g[w]['mixed_ft_vs_bare'] <= 1.05 for w in g}
    for w in ('digits', 'bilstm'):
        res['goals'][f'{w}: hf and lightning >= 1.1x mixed_ft'] = min(g[w]['hf_vs_mixed_ft'], g[w]['lightning_vs_mixed_ft']) >= 1.1
    res['goals']['minilm: hf and lightning >= 1x mixed_ft'] = min(g['minilm']['hf_vs_mixed_ft'], g['minilm']['lightning_vs_mixed_ft']) >= 1.
    if rd:
        res['goals']['demo contended <= 2.5x quiet'] = rd['contended_vs_quiet'] <= 2.5
        res['goals']['demo quiet no slower than before the policy'] = rd['quiet_s'] <= rd['before_policy']['quiet_s'] * 1.05
    res['wall_s'] = time.perf_counter() - t0
    res['command'] = 'python benchmarks/loop.py' + (' --quick' if a.quick else '') + (f' --reps {a.reps}' if a.reps != (3 if a.quick else 5) else '')
    stem = 'loop_quick' if a.quick else 'loop'
    (ROOT/'benchmarks'/'results'/f'{stem}.json').write_text(json.dumps(res, indent=1))
    write_markdown(res, stem)
    print(json.dumps({k: res[k] for k in ('ratio', 'ratio_contended', 'goals')}, indent=1))


def write_markdown(res, stem):
    lines = [f"## The training loop against its limit and its peers{' (--quick)' if res['quick'] else ''}", "",
             f"`{res['command']}` ({res['machine']}; torch's own setting: {res['torch_threads']} threads; median of "
             f"{res['reps']} interleaved repetitions; steps per run {res['steps']}). Step time in ms (threads used); "
             "ratios against mixed_ft. The peers run on torch's thread setting as a user would run them, mixed_ft on "
             "its thread policy, the bare loop on the policy's choice.", "",
             "| workload | condition | bare | mixed_ft | Hugging Face Trainer | Lightning | mixed_ft / bare | HF / mixed_ft | Lightning / mixed_ft |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for cond in ('quiet', 'contended'):
        for w, r in res[cond].items():
            cell = lambda l: f"{r[l]['step_ms']:.1f} ({r[l]['runs'][0]['threads']})"
            q = lambda l: r[l]['step_ms']
            lines.append(f"| {w} | {cond} | {cell('bare')} | {cell('mixed_ft')} | {cell('hf')} | {cell('lightning')} | "
                         f"{q('mixed_ft') / q('bare'):.3f}x | {q('hf') / q('mixed_ft'):.2f}x | {q('lightning') / q('mixed_ft'):.2f}x |")
    lines += ["", f"The thread policy's evidence: the bare loop on 1 thread against torch's {res['torch_threads']} (ms per step; "
              "below 1x, one thread is faster)", "", "| workload | quiet: 1 thread | quiet: default | 1 / default | contended: 1 thread | contended: default | 1 / default |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for w in res['threads']['quiet']:
        q, c = res['threads']['quiet'][w], res['threads']['contended'][w]
        lines.append(f"| {w} | {q['one']:.1f} | {q['torch_default']:.1f} | {q['one'] / q['torch_default']:.2f}x | "
                     f"{c['one']:.1f} | {c['torch_default']:.1f} | {c['one'] / c['torch_default']:.2f}x |")
    d = res.get('demo')
    if d:
        lines += ["", f"`mixed-ft demo {d['args']}`: {d['quiet_s']:.0f} s quiet, {d['contended_s']:.0f} s beside one busy process "
                  f"({d['contended_vs_quiet']:.2f}x). Before the thread policy (`--threads {res['torch_threads']}`: every loop on "
                  f"torch's threads): {d['before_policy']['quiet_s']:.0f} s quiet; at `--epochs 5 --seeds 0` beside one busy "
                  f"process {d['before_policy']['short_contended_s']:.0f} s"
                  + (f" against {d['short_contended_s']:.0f} s with the policy." if d.get('short_contended_s') else ".")]
    lines += ["", "Goals: " + ', '.join(f"{k}: {'met' if v else 'missed'}" for k, v in res['goals'].items()) + "."]
    update_section(stem, '\n'.join(lines))


if __name__ == '__main__': main()
