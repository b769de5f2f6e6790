"""The article's worked example, measured: SST-2, a MiniLM teacher, a BiLSTM student, strategy sets x seeds.

Strategy sets (the student is the BiLSTM of the text chapter, embeddings initialised from the teacher's word pieces):
  plain      label loss on the labelled sentences
  DA         label loss on the transfer set (originals + 2 augmented copies: masking + n-gram sampling)
  TA         label loss + masked-token auxiliary task (weight 0.3)
  KD         label loss + distillation (T = 2, alpha = 0.5) from the cached teacher, on the originals
  DA+KD      the transfer set, label loss + distillation
  DA+TA+KD   the transfer set, label loss + masked-token task + distillation
Dev accuracy with the final weights (no selection on dev); mean and std over seeds; paired differences vs plain.
Small-data setting: 500 labelled sentences (the teacher is fine-tuned on the same 500): plain, DA+TA+KD on the
augmented copies only, and DA+TA+KD with other SST-2 training sentences as unlabelled transfer data (label -100).

    python benchmarks/sst2.py --quick   # 2,000 labelled sentences, 1 seed, 5 epochs: the JSON's structure in < 10 min
    python benchmarks/sst2.py           # all 67,349 training sentences, 3 seeds (hours on 2 CPU cores: run it in the background)

Writes benchmarks/results/sst2.json (or sst2_quick.json) and the SST-2 section of benchmarks/BENCHMARKS.md.
"""
import argparse, json, os, platform, random, statistics, time
from pathlib import Path

import torch

from bench_md import update_section

from mixed_ft.core import LabelLoss, MixedObjective, set_seed
from mixed_ft.train import Trainer
from mixed_ft.text import (read_examples, Vocab, TextDataset, text_loader, BiLSTMClassifier, HFClassifier, TeacherView,
                           minilm_path, teacher_embeddings, transfer_set)
from mixed_ft.tasks import MaskedTokenTask
from mixed_ft.distill import KD, Teacher, TeacherCache, kd_weights, data_fingerprint
from mixed_ft.experiment import run_grid, summarize, ablation_table

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get('MIXED_FT_DATA', ROOT.parent/'shared'/'data'))
CACHE = ROOT/'benchmarks'/'.cache'
SETS = ('plain', 'DA', 'TA', 'KD', 'DA+KD', 'DA+TA+KD')


def fine_tune_teacher(ds, epochs, tag):
    "MiniLM + head fine-tuned on `ds` (reused from benchmarks/.cache when an earlier run saved it)"
    from mixed_ft.core import export_model, load_model_weights
    set_seed(0)
    m = HFClassifier(minilm_path(), 2)
    path = CACHE/f'sst2_teacher_{tag}.pt'
    t0 = time.perf_counter()
    if path.exists(): load_model_weights(m, path)
    else:
        Trainer(m, None, TeacherView(text_loader(ds, 32)), epochs=epochs, lr=1e-4 if len(ds) < 5000 else 3e-5, warmup=0.1, seed=0, progress=False).fit()
        CACHE.mkdir(exist_ok=True); export_model(m, path)
    return m.eval(), time.perf_counter() - t0


def teacher_acc(teacher, dev_ds):
    dl = text_loader(dev_ds, 128, shuffle=False)
    return sum((teacher(b).argmax(-1) == b['y']).sum().item() for b in dl) / len(dev_ds)


def sentences_per_s(model, batches):
    model.eval(); n = sum(len(b['y']) for b in batches); best = 1e9
    with torch.no_grad():
        for _ in range(3):
            t0 = time.perf_counter()
            for b in batches: model(input_ids=b['input_ids'], attention_mask=b['attention_mask'])
            best = min(best, time.perf_counter() - t0)
    return n / best


def experiment(texts, labels, dev_t, dev_y, tok, sets, seeds, epochs, teacher_epochs, tag, unlabelled=()):
    "Teacher, cached transfer set, and the grid of students; returns (summary, runs, info)"
    vocab = Vocab.build(list(texts) + list(unlabelled))
    lab_ds = TextDataset(texts, labels, vocab, teacher_tokenizer=tok)
    dev_ds = TextDataset(dev_t, dev_y, vocab, teacher_tokenizer=tok)
    tmodel, ft_s = fine_tune_teacher(lab_ds, teacher_epochs, tag)
    teacher = Teacher(tmodel, inputs={'input_ids': '_t_input_ids', 'attention_mask': '_t_attention_mask'})
    all_t = list(texts) + list(unlabelled); all_y = list(labels) + [-100] * len(unlabelled)
    ts = transfer_set(all_t, all_y, n_copies=2, seed=0)
    tr_ds = TextDataset(ts['texts'], ts['labels'], vocab, teacher_tokenizer=tok, ids=ts['ids'], aug_ids=ts['aug_ids'])
    orig_ds = TextDataset(texts, labels, vocab, teacher_tokenizer=tok)   # ids 0..n-1, aug 0: the cache's originals
    t0 = time.perf_counter()
    cache = TeacherCache(CACHE/f'sst2_cache_{tag}_{teacher.fingerprint()}', teacher.fingerprint(),
                         data_fingerprint(*ts['fingerprint_parts']), len(all_t), 2, n_aug=3)
    cache.fill(teacher, text_loader(tr_ds, 128, shuffle=False), progress=False)
    fill_s = time.perf_counter() - t0
    emb, _ = teacher_embeddings(vocab, tok, tmodel.encoder.embeddings.word_embeddings.weight.detach())
    models = {}
    def train(name, seed):
        parts = set(name.split('+'))
        set_seed(seed)
        s = BiLSTMClassifier(len(vocab), 2, emb_dim=emb.shape[1], hidden=128, dropout=0.3).init_embeddings(emb)
        strategies, weights = [LabelLoss()], {}
        if 'TA' in parts: strategies.append(MaskedTokenTask(len(vocab), s.feat_dim, vocab.spec(), p=0.15)); weights['mlm'] = 0.3
        if 'KD' in parts: strategies.append(KD(cache, 'kl', temperature=2.)); weights.update(kd_weights(0.5))
        ds = tr_ds if 'DA' in parts or unlabelled else orig_ds
        tr = Trainer(s, MixedObjective(strategies, weights), text_loader(ds, 32), text_loader(dev_ds, 256, shuffle=False),
                     epochs=epochs, lr=2e-3, warmup=0.05, seed=seed, progress=False)
        tr.fit()
        models[name] = s
        print(f"  {tag} {name} seed {seed}: dev {tr.history[-1]['valid_accuracy']:.4f}", flush=True)
        return {'dev_acc': tr.history[-1]['valid_accuracy']}
    runs = run_grid(sets, seeds, train, progress=False)
    summary = summarize(runs, 'dev_acc', 'plain' if 'plain' in sets else None)
    batches = list(text_loader(dev_ds, 128, shuffle=False))
    student_speed = sentences_per_s(next(iter(models.values())), batches)
    teacher_speed = sentences_per_s(tmodel, list(TeacherView(batches)))
    info = dict(teacher_dev_acc=teacher_acc(teacher, dev_ds), teacher_fine_tune_s=ft_s, cache_fill_s=fill_s,
                student_params=sum(p.numel() for p in next(iter(models.values())).parameters()),
                teacher_params=sum(p.numel() for p in tmodel.parameters()), student_sent_per_s=student_speed,
                teacher_sent_per_s=teacher_speed, n_labelled=len(texts), n_unlabelled=len(unlabelled), n_dev=len(dev_t), vocab=len(vocab))
    return summary, runs, info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true')
    a = ap.parse_args()
    from transformers import AutoTokenizer
    from transformers.utils import logging; logging.set_verbosity_error()
    texts, labels, lm = read_examples(DATA/'sst2'/'train.tsv', text=1, label=0)
    dev_t, dev_y, _ = read_examples(DATA/'sst2'/'dev.tsv', text=1, label=0, label_map=lm)
    tok = AutoTokenizer.from_pretrained(minilm_path())
    order = random.Random(0).sample(range(len(texts)), len(texts))
    n, seeds, epochs, t_epochs = (2000, (0,), 5, 2) if a.quick else (len(texts), (0, 1, 2), 10, 2)
    main_idx = order[:n]
    print(f"main setting: {n} labelled sentences", flush=True)
    summary, runs, info = experiment([texts[i] for i in main_idx], [labels[i] for i in main_idx], dev_t, dev_y, tok, SETS, seeds,
                                     epochs, t_epochs, f'main{n}')
    small = order[:500]; extra = order[500:500 + (2000 if a.quick else 20000)]
    print("small-data setting: 500 labelled sentences", flush=True)
    s_aug, s_runs, s_info = experiment([texts[i] for i in small], [labels[i] for i in small], dev_t, dev_y, tok, ('plain', 'DA+TA+KD'),
                                       seeds, epochs * 2, 3, 'small500')
    s_unl, u_runs, u_info = experiment([texts[i] for i in small], [labels[i] for i in small], dev_t, dev_y, tok, ('DA+TA+KD',),
                                       seeds, epochs * 2, 3, f'small500u{len(extra)}', unlabelled=[texts[i] for i in extra])
    flat = lambda sm: {k: dict(dev_acc_mean=v['mean'], dev_acc_std=v['std'], seeds=v['scores'], ci95=v['ci95'],
                               diff_vs_plain=(v['diff']['mean'] if v.get('diff') else None)) for k, v in sm.items()}
    res = dict(machine=f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}", quick=a.quick,
               setup=dict(n_labelled=n, seeds=list(seeds), epochs=epochs, **{k: info[k] for k in ('student_params', 'teacher_params', 'vocab', 'n_dev')}),
               teacher=dict(dev_acc=info['teacher_dev_acc'], fine_tune_s=info['teacher_fine_tune_s']),
               sets=flat(summary), speedup_vs_teacher=info['student_sent_per_s'] / info['teacher_sent_per_s'],
               student_sent_per_s=info['student_sent_per_s'], teacher_sent_per_s=info['teacher_sent_per_s'],
               small_data=dict(n_labelled=500, teacher_dev_acc=s_info['teacher_dev_acc'],
                               sets={**flat(s_aug), 'DA+TA+KD+unlabelled': flat(s_unl)['DA+TA+KD']},
                               n_unlabelled=len(extra)),
               command='python benchmarks/sst2.py' + (' --quick' if a.quick else ''))
    out = ROOT/'benchmarks'/'results'/('sst2_quick.json' if a.quick else 'sst2.json')
    out.write_text(json.dumps(res, indent=2))
    write_markdown(res, summary)
    print(json.dumps(res, indent=2))


def write_markdown(res, summary):
    st, sd = res['setup'], res['small_data']
    pm = lambda r: f"{100 * r['dev_acc_mean']:.1f}" + (f" ± {100 * r['dev_acc_std']:.1f}" if r['dev_acc_std'] is not None else '')
    lines = ["## SST-2, the article's worked example (`benchmarks/sst2.py`)", "",
             f"Command: `{res['command']}` — {res['machine']}." + (" **Quick setting: a smoke run of the pipeline, one seed — not the full-run figures the goals are about.**" if res['quick'] else ''), "",
             f"{st['n_labelled']:,} labelled training sentences, dev set ({st['n_dev']} sentences), seeds {st['seeds']}, {st['epochs']} epochs. "
             f"Teacher: MiniLM ({st['teacher_params'] / 1e6:.1f}M parameters) fine-tuned on the labelled sentences, dev accuracy {100 * res['teacher']['dev_acc']:.1f}%. "
             f"Student: BiLSTM ({st['student_params'] / 1e6:.2f}M parameters), {res['speedup_vs_teacher']:.0f}x the teacher's inference speed "
             f"({res['student_sent_per_s']:,.0f} vs {res['teacher_sent_per_s']:,.0f} sentences/s).", "",
             ablation_table(summary, 'dev accuracy'), "",
             f"Small data: 500 labelled sentences (teacher fine-tuned on them: {100 * sd['teacher_dev_acc']:.1f}%):", "",
             "| set | dev accuracy (%) |", "|---|---:|"]
    for k, v in sd['sets'].items():
        label = {'DA+TA+KD': 'DA+TA+KD, augmented copies only', 'DA+TA+KD+unlabelled': f"DA+TA+KD with {sd['n_unlabelled']:,} unlabelled SST-2 sentences as transfer data"}.get(k, k)
        lines.append(f"| {label} | {pm(v)} |")
    update_section('sst2', '\n'.join(lines))


if __name__ == '__main__': main()
