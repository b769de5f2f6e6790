"""What auxiliary tasks buy, measured on real data.

SST-2 with 500 labelled training examples (a fixed random sample of train.tsv), the BiLSTM student from the text
chapter, scored on the full dev set (872 sentences) with the final weights (no model selection on dev):
  plain                   label loss only
  + mlm                   + masked-token prediction on the student's own inputs (p = 0.15, weight 0.5)
  + mlm + uncertainty     the same two terms, weighted by learned log-variances (Kendall et al., 2018)
and the digits demo (300 labelled images, 6k-parameter CNN): plain vs + rotation prediction (weight 0.5), test accuracy.
Three seeds each; mean and standard deviation.

    python benchmarks/tasks.py            # 3 seeds (a few minutes on 2 cores)
    python benchmarks/tasks.py --quick    # 1 seed, fewer epochs

Writes benchmarks/results/tasks.json and the task section of benchmarks/BENCHMARKS.md.
"""
import argparse, json, os, platform, random, statistics, time
from pathlib import Path

import torch

from bench_md import update_section
from torch.utils.data import DataLoader

from mixed_ft.core import LabelLoss, MixedObjective, set_seed
from mixed_ft.train import Trainer
from mixed_ft.text import read_examples, Vocab, TextDataset, text_loader, BiLSTMClassifier
from mixed_ft.tasks import MaskedTokenTask, UncertaintyWeighting, RotationTask
from mixed_ft.demo import digits_splits, DigitsCNN, train_digits

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get('MIXED_FT_DATA', ROOT.parent/'shared'/'data'))


def sst2_sets(vocab, student):
    mlm = lambda: MaskedTokenTask(len(vocab), student.feat_dim, vocab.spec(), p=0.15)
    return {'plain': MixedObjective([LabelLoss()]),
            'mlm': MixedObjective([LabelLoss(), mlm()], weights={'mlm': 0.5}),
            'mlm_uncertainty': MixedObjective([LabelLoss(), mlm()], weighting=UncertaintyWeighting(['ce', 'mlm']))}


def bench_sst2(seeds, epochs, n_train=500):
    texts, labels, lm = read_examples(DATA/'sst2'/'train.tsv', text=1, label=0)
    dev_t, dev_y, _ = read_examples(DATA/'sst2'/'dev.tsv', text=1, label=0, label_map=lm)
    pick = random.Random(0).sample(range(len(texts)), n_train)
    tr_t, tr_y = [texts[i] for i in pick], [labels[i] for i in pick]
    vocab = Vocab.build(tr_t)
    res = {}
    for name in ('plain', 'mlm', 'mlm_uncertainty'):
        accs, secs = [], []
        for seed in seeds:
            set_seed(seed)
            student = BiLSTMClassifier(len(vocab), 2, emb_dim=128, hidden=128, dropout=0.3)
            obj = sst2_sets(vocab, student)[name]
            t0 = time.perf_counter()
            tr = Trainer(student, obj, text_loader(TextDataset(tr_t, tr_y, vocab), 32),
                         text_loader(TextDataset(dev_t, dev_y, vocab), 256, shuffle=False),
                         epochs=epochs, lr=2e-3, warmup=0.05, seed=seed, progress=False)
            tr.fit()
            accs.append(tr.history[-1]['valid_accuracy']); secs.append(time.perf_counter() - t0)
            print(f"sst2_500 {name} seed {seed}: dev acc {accs[-1]:.4f} ({secs[-1]:.0f}s)", flush=True)
        res[name] = dict(dev_acc_mean=statistics.mean(accs), dev_acc_std=statistics.stdev(accs) if len(accs) > 1 else 0.,
                         seeds=accs, seconds_per_run=statistics.mean(secs))
    return res, dict(n_train=n_train, vocab=len(vocab), n_dev=len(dev_t), epochs=epochs, student_params=sum(p.numel() for p in student.parameters()))


def bench_digits(seeds, epochs):
    data = digits_splits(0, 300)
    test_dl = DataLoader(data[2], batch_size=512)
    res = {}
    for name in ('plain', 'rotation'):
        accs = []
        for seed in seeds:
            torch.manual_seed(seed); m = DigitsCNN(8)
            strategies, weights = ([LabelLoss()], {}) if name == 'plain' else ([LabelLoss(), RotationTask(m.feat_dim)], {'rot': 0.5})
            tr = train_digits(m, strategies, weights, data, epochs, seed=seed, progress=False)
            accs.append(tr.evaluate(test_dl)['accuracy'])
            print(f"digits {name} seed {seed}: test acc {accs[-1]:.4f}", flush=True)
        res[name] = dict(test_acc_mean=statistics.mean(accs), test_acc_std=statistics.stdev(accs) if len(accs) > 1 else 0., seeds=accs)
    return res


def write_markdown(res, cmd):
    s, d = res['sst2_500'], res['digits_rotation']
    pm = lambda r, k: f"{100*r[k+'_mean']:.1f} ± {100*r[k+'_std']:.1f}"
    lines = ["## Auxiliary tasks (`benchmarks/tasks.py`)", "",
             f"Command: `{cmd}` — {res['machine']}; seeds {res['seeds']}; mean ± std; final weights, no selection on the evaluation set.", "",
             f"SST-2, {res['sst2_config']['n_train']} labelled training examples (fixed random sample), BiLSTM student "
             f"({res['sst2_config']['student_params']:,} parameters, {res['sst2_config']['epochs']} epochs), dev accuracy (%) on {res['sst2_config']['n_dev']} sentences:", "",
             "| set | dev accuracy | per seed | seconds per run |", "|---|---:|---|---:|"]
    for k, label in (('plain', 'plain'), ('mlm', '+ masked-token task (weight 0.5)'), ('mlm_uncertainty', '+ masked-token task, uncertainty weighting')):
        lines.append(f"| {label} | {pm(s[k], 'dev_acc')} | {', '.join(f'{100*a:.1f}' for a in s[k]['seeds'])} | {s[k]['seconds_per_run']:.0f} |")
    lines += ["", "Digits (300 labelled images, 6k-parameter CNN, 80 epochs), test accuracy (%) on 360 images:", "",
              "| set | test accuracy | per seed |", "|---|---:|---|"]
    for k, label in (('plain', 'plain'), ('rotation', '+ rotation prediction (weight 0.5)')):
        lines.append(f"| {label} | {pm(d[k], 'test_acc')} | {', '.join(f'{100*a:.1f}' for a in d[k]['seeds'])} |")
    update_section('tasks', '\n'.join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='one seed and fewer epochs')
    a = ap.parse_args()
    if not (DATA/'sst2'/'train.tsv').exists(): raise SystemExit(f"SST-2 not found under {DATA}: set MIXED_FT_DATA")
    seeds = (0,) if a.quick else (0, 1, 2)
    sst2, cfg = bench_sst2(seeds, 10 if a.quick else 20)
    res = dict(machine=f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}", seeds=list(seeds),
               sst2_500=sst2, sst2_config=cfg, digits_rotation=bench_digits(seeds, 40 if a.quick else 80))
    cmd = 'python benchmarks/tasks.py' + (' --quick' if a.quick else '')
    res['command'] = cmd
    (ROOT/'benchmarks'/'results'/'tasks.json').write_text(json.dumps(res, indent=2))
    write_markdown(res, cmd)
    print(json.dumps({k: v for k, v in res.items() if k in ('sst2_500', 'digits_rotation')}, indent=2))


if __name__ == '__main__': main()
