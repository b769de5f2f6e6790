"""Named-entity recognition on CoNLL-2003 with the `ner` application: a MiniLM tagger as teacher, a character-aware
BiLSTM student, strategy sets x seeds; the best epoch is chosen on dev entity F1, the figures are test entity F1.

  plain      label loss on the labelled sentences
  DA         + one label-aware augmented copy of each (mention replacement, O-word masking/substitution, segment shuffles)
  TA         + part-of-speech tagging on the student's per-word states (weight 0.5)
  KD         + per-word distillation (T = 2, alpha = 0.5) from the teacher's positional cache
  DA+KD, DA+TA+KD
Small data: 1,000 labelled sentences (the teacher fine-tuned on the same 1,000): plain, DA+TA+KD on augmented copies,
and DA+TA+KD with other training sentences as unlabelled transfer data (tags ignored; the teacher labels them).

    python benchmarks/ner.py --quick   # 1,500 sentences, one seed: the JSON's structure in under 10 minutes
    python benchmarks/ner.py           # all 14,041 sentences, seeds 0, 1, 2 (about 2 h on 2 CPU cores: in the background)

The fine-tuned teachers, the caches and every finished run are kept in benchmarks/.cache, so a stopped run resumes
and a rerun only redraws the report. Writes benchmarks/results/ner.json (or ner_quick.json), ner.png (the full run
copies it to nbs/images/ner_ablation.png for chapter 05d) and the NER section of benchmarks/BENCHMARKS.md.
"""
import argparse, json, os, platform, shutil
from pathlib import Path

import torch

from bench_md import update_section

from mixed_ft.core import get_target
from mixed_ft.ner import read_conll
from mixed_ft.ner_app import NER
from mixed_ft.experiment import ablate, summarize, ablation_table, plot_ablation, ABLATION_SETS

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get('MIXED_FT_DATA', ROOT.parent/'shared'/'data'))/'conll2003'
CACHE = Path(os.environ.get('MIXED_FT_BENCH_CACHE', ROOT/'benchmarks'/'.cache'))   # another folder: a run from scratch
SETTINGS = {
    'quick': dict(n=1500, seeds=(0,), epochs=4, teacher_epochs=2, batch=32, n_copies=1, small_epochs=6, n_extra=500),
    'full': dict(n=None, seeds=(0, 1, 2), epochs=5, teacher_epochs=3, batch=32, n_copies=1, small_epochs=15, n_extra=3000)}


def flat(summary):
    "Per set, in percentages of entity F1"
    return {k: dict(test_f1_mean=100 * v['mean'], test_f1_std=None if v['std'] is None else 100 * v['std'],
                    seeds=[100 * x for x in v['scores']], ci95=None if v['ci95'] is None else [100 * x for x in v['ci95']],
                    train_s_mean=v['seconds'], diff_vs_plain=(100 * v['diff']['mean'] if v.get('diff') else None)) for k, v in summary.items()}


def teacher_agreement(a):
    "Fraction of the labelled training words whose cached teacher tag (argmax) is the gold tag: how much KD on them alone can add"
    c, agree, total = a.cache(), 0, 0
    for b in a.loaders({'KD'})[0]:
        y = get_target(b); m = y != -100
        agree += int((c.lookup(b).argmax(-1)[m] == y[m]).sum()); total += int(m.sum())
    return agree / total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true')
    a = ap.parse_args()
    from transformers.utils import logging; logging.set_verbosity_error()
    c = SETTINGS['quick' if a.quick else 'full']
    n_all = len(read_conll(DATA/'train.txt'))
    n = c['n'] or n_all
    CACHE.mkdir(parents=True, exist_ok=True)
    def app(n_train, epochs, teacher_epochs, **data):
        return NER(NER.config(data=dict(train=str(DATA/'train.txt'), valid=str(DATA/'dev.txt'), test=str(DATA/'test.txt'),
                                        n_train=0 if n_train == n_all else n_train, batch_size=c['batch'], n_copies=c['n_copies'], **data),
                              teacher=dict(epochs=teacher_epochs), trainer=dict(epochs=epochs), output=dict(work_dir=str(CACHE))))
    print(f"main setting: {n} labelled sentences", flush=True)
    main_app = app(n, c['epochs'], c['teacher_epochs'])
    big = ablate(main_app, ABLATION_SETS, c['seeds'], out='')
    agreement = teacher_agreement(main_app)
    # small data: the application's seeded sample of 1,000, and other training sentences as unlabelled transfer data
    blocks = (DATA/'train.txt').read_text().split('\n\n')
    sents = [s for s in blocks if s.strip() and not s.startswith('-DOCSTART-')]
    assert len(sents) == n_all
    extra = [sents[i] for i in app(1000, c['small_epochs'], c['teacher_epochs']).data()['rest']][:c['n_extra']]   # the sample's remainder
    unl = CACHE/f'conll_unlabelled_{len(extra)}.txt'; unl.write_text('\n\n'.join(extra) + '\n')
    print("small-data setting: 1,000 labelled sentences", flush=True)
    s_aug = ablate(app(1000, c['small_epochs'], c['teacher_epochs']), ('plain', 'DA+TA+KD'), c['seeds'], out='')
    s_unl = ablate(app(1000, c['small_epochs'], c['teacher_epochs'], unlabelled=str(unl)), ('DA+TA+KD',), c['seeds'], out='')
    small_runs = s_aug['runs'] + [dict(r, set='DA+TA+KD+unlabelled') for r in s_unl['runs']]
    small_summary = summarize(small_runs, 'entity_f1')
    info, sm = big['info'], big['summary']
    fills = CACHE/'ner_cache_fill_s.json'   # the fill is timed when the cache is made: a rerun reads the cache and keeps that time
    known = json.loads(fills.read_text()) if fills.exists() else {}
    key = main_app.cache().path.name
    if info['cache_fill_s'] is not None and key not in known: known[key] = info['cache_fill_s']; fills.write_text(json.dumps(known, indent=1))
    info['cache_fill_s'] = known.get(key, info['cache_fill_s'])
    teacher, plain, mixed = info['teacher_score'], sm['plain']['mean'], sm['DA+TA+KD']['mean']
    speedup = info['student_sent_per_s'] / info['teacher_sent_per_s']
    gap_closed = (mixed - plain) / (teacher - plain)
    sd_sets = flat(small_summary)
    goals = {'DA+TA+KD >= plain + 4.0 F1': mixed - plain >= 0.04,
             'DA+TA+KD above every single set': all(mixed > sm[k]['mean'] for k in ('DA', 'TA', 'KD')),
             'gap_closed >= 0.5': gap_closed >= 0.5, 'student >= 20x faster': speedup >= 20,
             'small data: DA+TA+KD >= plain + 10.0 F1 (augmented copies only)': sd_sets['DA+TA+KD']['test_f1_mean'] - sd_sets['plain']['test_f1_mean'] >= 10,
             'small data: DA+TA+KD >= plain + 10.0 F1 (with unlabelled sentences)': sd_sets['DA+TA+KD+unlabelled']['test_f1_mean'] - sd_sets['plain']['test_f1_mean'] >= 10}
    res = dict(machine=f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}", quick=a.quick,
               setup=dict(c, n_labelled=n, seeds=list(c['seeds']), **{k: info[k] for k in ('student_params', 'teacher_params', 'vocab', 'n_valid', 'n_test')}),
               teacher=dict(test_f1=100 * teacher, fine_tune_s=info['teacher_s'], cache_fill_s=info['cache_fill_s'], epochs=c['teacher_epochs'],
                            train_agreement=100 * agreement),
               sets=flat(sm), gap_closed=gap_closed, speedup_vs_teacher=speedup, goals=goals,
               student_sent_per_s=info['student_sent_per_s'], teacher_sent_per_s=info['teacher_sent_per_s'],
               small_data=dict(n_labelled=1000, teacher_test_f1=100 * s_aug['info']['teacher_score'], n_unlabelled=len(extra), sets=sd_sets),
               runs=big['runs'], small_data_runs=small_runs, command='python benchmarks/ner.py' + (' --quick' if a.quick else ''))
    stem = 'ner_quick' if a.quick else 'ner'
    out = ROOT/'benchmarks'/'results'/f'{stem}.json'
    out.write_text(json.dumps(res, indent=2))
    plot_ablation(sm, 'CoNLL-2003 test entity F1', out.with_suffix('.png'))
    if not a.quick: shutil.copy(out.with_suffix('.png'), ROOT/'nbs'/'images'/'ner_ablation.png')   # the tutorial shows it
    write_markdown(res, big)
    print(json.dumps({k: res[k] for k in ('setup', 'teacher', 'sets', 'gap_closed', 'speedup_vs_teacher', 'goals', 'small_data')}, indent=2))


def write_markdown(res, big):
    st, sd = res['setup'], res['small_data']
    pm = lambda r: f"{r['test_f1_mean']:.1f}" + (f" ± {r['test_f1_std']:.1f}" if r['test_f1_std'] is not None else '')
    lines = [f"## NER on CoNLL-2003 (`benchmarks/ner.py{' --quick' if res['quick'] else ''}`)", "",
             f"Command: `{res['command']}` — {res['machine']}." + (" **Quick setting: a smoke run, one seed — not the full-run figures the goals are about.**" if res['quick'] else ''), "",
             f"{st['n_labelled']:,} labelled training sentences; best epoch on dev ({st['n_valid']:,} sentences), entity F1 on test ({st['n_test']:,}); "
             f"seeds {st['seeds']}; students {st['epochs']} epochs in batches of {st['batch']}; transfer set = the sentences + {st['n_copies']} label-aware augmented copy each. "
             f"Teacher: MiniLM tagger ({st['teacher_params'] / 1e6:.1f}M parameters, uncased) fine-tuned {res['teacher']['epochs']} epoch(s) "
             f"({res['teacher']['fine_tune_s'] / 60:.0f} min): test F1 {res['teacher']['test_f1']:.1f}; its tag is the gold one on {res['teacher']['train_agreement']:.1f}% of the training words. Student: character-aware BiLSTM "
             f"({st['student_params'] / 1e6:.2f}M parameters), {res['speedup_vs_teacher']:.0f}x the teacher's speed "
             f"({res['student_sent_per_s']:,.0f} vs {res['teacher_sent_per_s']:,.0f} sentences/s, batches of 128 test sentences).", "",
             ablation_table(big['summary'], 'test entity F1', big['info']), "",
             f"Gap closed by DA+TA+KD: {res['gap_closed']:.0%}. Goals: " + '; '.join(f"{k}: {'met' if v else 'missed'}" for k, v in res['goals'].items()) + '.', "",
             f"![CoNLL-2003 test entity F1 per set](results/{'ner_quick' if res['quick'] else 'ner'}.png)", "",
             f"Small data: 1,000 labelled sentences (teacher fine-tuned on them, {res['teacher']['epochs']} epochs: test F1 {sd['teacher_test_f1']:.1f}); students {st['small_epochs']} epochs:", "",
             "| set | test entity F1 | vs plain (paired by seed) |", "|---|---:|---:|"]
    for k, v in sd['sets'].items():
        label = {'DA+TA+KD': 'DA+TA+KD, augmented copies only', 'DA+TA+KD+unlabelled': f"DA+TA+KD with {sd['n_unlabelled']:,} unlabelled training sentences"}.get(k, k)
        d = v['diff_vs_plain']
        lines.append(f"| {label} | {pm(v)} | {'—' if d is None else f'{d:+.1f}'} |")
    update_section('ner_quick' if res['quick'] else 'ner', '\n'.join(lines))


if __name__ == '__main__': main()
