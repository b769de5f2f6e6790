"""The article's worked example, measured: SST-2, a MiniLM teacher, a BiLSTM student, strategy sets x seeds.

The pipeline is the text-classification application (mixed_ft.text_classification) run by mixed_ft.experiment.ablate
(also `mixed-ft ablate` with app = "text-classification"):
  plain      label loss on the labelled sentences
  DA         label loss on the transfer set (the sentences + augmented copies: masking + n-gram sampling)
  TA         label loss + masked-token auxiliary task (weight 0.3)
  KD         label loss + distillation (T = 2, alpha = 0.5) from the cached teacher, on the labelled sentences
  DA+KD      the transfer set, label loss + distillation
  DA+TA+KD   the transfer set, label loss + masked-token task + distillation
Dev accuracy with the final weights (no selection on dev); mean and std over seeds; paired differences vs plain.
The student's embeddings start from the pretrained MiniLM's word pieces; the teacher is MiniLM fine-tuned for
`teacher_epochs` epochs on the labelled sentences. gap_closed = (DA+TA+KD - plain) / (teacher - plain).
Small-data setting: 500 labelled sentences (the teacher is fine-tuned on the same 500): plain, DA+TA+KD on the
augmented copies only, and DA+TA+KD with other SST-2 training sentences as unlabelled transfer data (label -100).

    python benchmarks/sst2.py --quick   # 2,000 labelled sentences, 1 seed, 5 epochs: the JSON's structure in < 10 min
    python benchmarks/sst2.py           # all 67,349 training sentences, 3 seeds (~1.5 h on 2 CPU cores: run it in the background)

The full run's budget on 2 CPU cores: the teacher is fine-tuned for 3 epochs (48 sentences/s), the transfer set holds
one augmented copy per sentence, students train 2 epochs in batches of 128. The fine-tuned teachers, the teacher
caches and every finished student run are kept in benchmarks/.cache, so a run that is stopped picks up where it was,
and a rerun only redraws the report.

Writes benchmarks/results/sst2.json (or sst2_quick.json), sst2.png (copied to nbs/images/sst2_ablation.png for the
tutorial), and the SST-2 section of benchmarks/BENCHMARKS.md.
"""
import argparse, json, os, platform, shutil
from pathlib import Path

import torch

from bench_md import update_section

from mixed_ft.text import read_examples
from mixed_ft.text_classification import TextClassification
from mixed_ft.experiment import ablate, summarize, ablation_table, plot_ablation, ABLATION_SETS

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get('MIXED_FT_DATA', ROOT.parent/'shared'/'data'))
CACHE = ROOT/'benchmarks'/'.cache'
SETTINGS = {  # quick: a smoke run of the pipeline; full: the figures the goals are about, sized for 2 CPU cores
    'quick': dict(n=2000, seeds=(0,), epochs=5, teacher_epochs=2, batch=32, n_copies=2,
                  small_epochs=10, n_extra=2000, extra_epochs=10),
    'full': dict(n=None, seeds=(0, 1, 2), epochs=2, teacher_epochs=3, batch=128, n_copies=1,
                 small_epochs=20, n_extra=20000, extra_epochs=4)}


def flat(summary):
    "The per-set figures under stable keys"
    return {k: dict(dev_acc_mean=v['mean'], dev_acc_std=v['std'], seeds=v['scores'], ci95=v['ci95'], train_s_mean=v['seconds'],
                    diff_vs_plain=(v['diff']['mean'] if v.get('diff') else None)) for k, v in summary.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true')
    a = ap.parse_args()
    from transformers.utils import logging; logging.set_verbosity_error()
    c = SETTINGS['quick' if a.quick else 'full']
    texts = read_examples(DATA/'sst2'/'train.tsv', text=1, label=0)[0]
    n = c['n'] or len(texts)
    CACHE.mkdir(parents=True, exist_ok=True)
    def app(n_train, epochs, teacher_epochs, **data):
        return TextClassification(TextClassification.config(
            data=dict(train=str(DATA/'sst2'/'train.tsv'), valid=str(DATA/'sst2'/'dev.tsv'), text=1, label=0, n_train=0 if n_train == len(texts) else n_train,
                      batch_size=c['batch'], n_copies=c['n_copies'], **data),
            teacher=dict(epochs=teacher_epochs), trainer=dict(epochs=epochs), output=dict(work_dir=str(CACHE))))
    print(f"main setting: {n} labelled sentences", flush=True)
    big = ablate(app(n, c['epochs'], c['teacher_epochs']), ABLATION_SETS, c['seeds'], out='')
    # small data: the application's seeded sample of 500, and other training sentences as unlabelled transfer data
    extra = [texts[i] for i in app(500, c['small_epochs'], 3).examples()['rest']][:c['n_extra']]   # the sample's remainder
    unl = CACHE/f'sst2_unlabelled_{len(extra)}.txt'; unl.write_text('\n'.join(extra) + '\n')
    print("small-data setting: 500 labelled sentences", flush=True)
    s_aug = ablate(app(500, c['small_epochs'], 3), ('plain', 'DA+TA+KD'), c['seeds'], out='')
    s_unl = ablate(app(500, c['extra_epochs'], 3, unlabelled=str(unl)), ('DA+TA+KD',), c['seeds'], out='')
    small_runs = s_aug['runs'] + [dict(r, set='DA+TA+KD+unlabelled') for r in s_unl['runs']]
    small_summary = summarize(small_runs, 'accuracy')   # both variants paired with the same plain runs
    info, sm = big['info'], big['summary']
    teacher, plain, mixed = info['teacher_score'], sm['plain']['mean'], sm['DA+TA+KD']['mean']
    speedup = info['student_sent_per_s'] / info['teacher_sent_per_s']
    gap_closed = (mixed - plain) / (teacher - plain)
    goals = {'gap_closed >= 0.60': gap_closed >= 0.60, 'DA+TA+KD >= plain + 4.0': mixed - plain >= 0.04,
             'DA+TA+KD above every single set': all(mixed > sm[k]['mean'] for k in ('DA', 'TA', 'KD')),
             'within 3.0 of the teacher': teacher - mixed <= 0.03, 'at >= 20x its speed': speedup >= 20}
    res = dict(machine=f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}", quick=a.quick,
               setup=dict(c, n_labelled=n, seeds=list(c['seeds']), **{k: info[k] for k in ('student_params', 'teacher_params', 'vocab', 'n_valid')}),
               teacher=dict(dev_acc=teacher, fine_tune_s=info['teacher_s'], cache_fill_s=info['cache_fill_s']),
               teacher_epochs=c['teacher_epochs'], gap_closed=gap_closed, goals=goals,
               sets=flat(sm), speedup_vs_teacher=speedup,
               student_sent_per_s=info['student_sent_per_s'], teacher_sent_per_s=info['teacher_sent_per_s'],
               small_data=dict(n_labelled=500, teacher_dev_acc=s_aug['info']['teacher_score'], n_unlabelled=len(extra),
                               sets=flat(small_summary), diff_vs_plain={k: v['diff']['mean'] for k, v in small_summary.items() if v.get('diff')}),
               summary=big['summary'], runs=big['runs'], small_data_runs=small_runs,
               command='python benchmarks/sst2.py' + (' --quick' if a.quick else ''))
    stem = 'sst2_quick' if a.quick else 'sst2'
    out = ROOT/'benchmarks'/'results'/f'{stem}.json'
    out.write_text(json.dumps(res, indent=2))
    plot_ablation(big['summary'], 'SST-2 dev accuracy', out.with_suffix('.png'))
    if not a.quick: shutil.copy(out.with_suffix('.png'), ROOT/'nbs'/'images'/'sst2_ablation.png')   # the tutorial shows it
    write_markdown(res, big['summary'])
    print(json.dumps({k: res[k] for k in ('setup', 'teacher', 'sets', 'speedup_vs_teacher', 'gap_closed', 'goals', 'small_data')}, indent=2))


def write_markdown(res, summary):
    st, sd = res['setup'], res['small_data']
    pm = lambda r: f"{100 * r['dev_acc_mean']:.1f}" + (f" ± {100 * r['dev_acc_std']:.1f}" if r['dev_acc_std'] is not None else '')
    lines = [f"## SST-2, the article's worked example (`benchmarks/sst2.py{' --quick' if res['quick'] else ''}`)", "",
             f"Command: `{res['command']}` — {res['machine']}." + (" **Quick setting: a smoke run of the pipeline, one seed — not the full-run figures the goals are about.**" if res['quick'] else ''), "",
             f"{st['n_labelled']:,} labelled training sentences, dev set ({st['n_valid']} sentences), seeds {st['seeds']}, students {st['epochs']} epochs in batches of {st['batch']}, "
             f"transfer set = the sentences + {st['n_copies']} augmented cop{'y' if st['n_copies'] == 1 else 'ies'} each. "
             f"Teacher: MiniLM ({st['teacher_params'] / 1e6:.1f}M parameters) fine-tuned on the labelled sentences ({st['teacher_epochs']} epoch{'s' if st['teacher_epochs'] > 1 else ''}, "
             f"{res['teacher']['fine_tune_s'] / 60:.0f} min), dev accuracy {100 * res['teacher']['dev_acc']:.1f}%. "
             f"Student: BiLSTM ({st['student_params'] / 1e6:.2f}M parameters), {res['speedup_vs_teacher']:.0f}x the teacher's inference speed "
             f"({res['student_sent_per_s']:,.0f} vs {res['teacher_sent_per_s']:,.0f} sentences/s, batches of 256 dev sentences).", "",
             ablation_table(summary, 'dev accuracy'), "",
             f"Gap closed by DA+TA+KD: {res['gap_closed']:.0%} of the teacher's lead over plain. Goals: "
             + '; '.join(f"{k}: {'met' if v else 'missed'}" for k, v in res['goals'].items()) + '.', "",
             f"![SST-2 dev accuracy per set: seeds, mean and 95% CI](results/{'sst2_quick' if res['quick'] else 'sst2'}.png)", "",
             f"Small data: 500 labelled sentences (the teacher fine-tuned on them, 3 epochs: {100 * sd['teacher_dev_acc']:.1f}%); students "
             f"{st['small_epochs']} epochs, or {st['extra_epochs']} with the unlabelled sentences:", "",
             "| set | dev accuracy (%) | vs plain (paired by seed) |", "|---|---:|---:|"]
    for k, v in sd['sets'].items():
        label = {'DA+TA+KD': 'DA+TA+KD, augmented copies only', 'DA+TA+KD+unlabelled': f"DA+TA+KD with {sd['n_unlabelled']:,} unlabelled SST-2 sentences as transfer data"}.get(k, k)
        d = sd['diff_vs_plain'].get(k)
        lines.append(f"| {label} | {pm(v)} | {'—' if d is None else f'{100 * d:+.1f}'} |")
    update_section('sst2_quick' if res['quick'] else 'sst2', '\n'.join(lines))   # a smoke run never replaces the full figures


if __name__ == '__main__': main()
