"""What the mix buys per unit of compute and per label: equal optimizer steps, training to convergence, learning curves.

    python benchmarks/budget.py text-classification [--quick]   # SST-2, MiniLM teacher, BiLSTM student
    python benchmarks/budget.py ner [--quick]                   # CoNLL-2003, MiniLM tagger teacher, char-aware BiLSTM student
    python benchmarks/budget.py translation [--quick]           # Multi30k en->de, Transformer teacher and student

Three protocols, in this order, each with sets plain, DA, TA, KD, DA+KD, DA+TA+KD and 3 seeds (paired differences):

1. converge (full data): each run stops on the application's validation metric ([ablate] budget = "converge":
   `patience` evaluations without improvement, every set evaluated at the same steps, every `eval_every` steps, at
   most `max_steps`); the best evaluation's scores are reported, with the steps it took. gap_closed = (DA+TA+KD - plain) /
   (teacher - plain).
2. equal_steps (full data): every run takes exactly `steps` optimizer steps at the same batch size (budget = "steps"),
   `steps` = the most steps plain needed to reach its best evaluation in (1), rounded up to an evaluation. The
   learning-rate schedule spans those steps; a set with more rows sees fewer passes over them. When `steps` is (1)'s
   cap, a run of (1) that went to the cap without stopping is this protocol's run of its set and seed, step for step: it
   is read back (marked same_as in the runs log and counted once in the compute), not trained again.
3. curve: the converge protocol at smaller labelled sets ([ablate] n_train; the full-data point is (1), read back),
   with the KD sets run once more with training rows the sample left out as unlabelled transfer data
   (rest_unlabelled; not for translation, whose transfer data are the labelled pairs). On SST-2 and CoNLL (and with --quick)
   the curve has plain, KD and DA+TA+KD only: all six sets would not fit the 3 hours. label_efficiency = how many
   times fewer labels a set needs to match plain (linear in log N between sizes; a lower bound when it beats plain
   already at the smallest size). CoNLL's curve fine-tunes every size's teacher for at least the full-data teacher's
   optimizer steps ([teacher] min_steps = 1,317): at 3 epochs, 500 sentences gave the teacher 48 steps and a test F1
   of 42.0, below the plain student's 52.6, so KD had nothing to teach (at 1,328 steps: 74.1). (At full data 3 epochs are those steps: the
   teacher and the runs keep their keys, and the full-data point is read back.)

Costs: optimizer steps, examples seen and student seconds per run (evaluations included); the teacher's one-off cost
(training or fine-tuning, cache fill, sequence-KD decoding) apart. Selection never sees the reported split: SST-2 has
no labelled test split, so its 872 dev sentences are split in two seeded halves, one to select on and one to report. CoNLL selects on
the first 1,000 of its 3,250 dev sentences, evaluated every 200 steps (cheaper evaluations: all 3,250 every 100 steps
made the full run about 5-6 hours), and reports on the whole test split.

Every finished run of a full benchmark is kept in benchmarks/results/budget_<app>_runs.jsonl (committed: a stopped run
resumes where it was, in a fresh checkout too, and a rerun only redraws the report); --quick keeps its runs in
benchmarks/.cache/runs.jsonl. Teachers and teacher caches live in benchmarks/.cache (a fresh checkout retrains the
teacher: its config is part of each KD run's key, its weights are not). Keys hold the data and teacher paths, so
the log is read back by a checkout in the same place. Writes benchmarks/results/budget_<app>.json (or
budget_<app>_quick.json), budget_<app>_curve.png and budget_<app>_frontier.png (equal steps), the learning curve's
ablation folder benchmarks/results/budget_<app>/ (ablation.md per size, curve.png, frontier.png) and a section of
benchmarks/BENCHMARKS.md.
"""
import argparse, json, math, os, platform, random, shutil, time
from pathlib import Path

import torch

from bench_md import update_section

from mixed_ft.app import ABLATION_SETS
from mixed_ft.experiment import ablate, ablation_table, cost_table, curve_table, plot_frontier

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get('MIXED_FT_DATA', ROOT.parent/'shared'/'data'))
CACHE = Path(os.environ.get('MIXED_FT_BENCH_CACHE', ROOT/'benchmarks'/'.cache'))
RESULTS = ROOT/'benchmarks'/'results'
GOALS = {'text-classification': 2.0, 'ner': 3.0, 'translation': 2.0}   # DA+TA+KD - plain at equal steps, full data

# per application: full and quick settings. n: the "full data" labelled size (0: all); sizes: the curve's smaller ones
QUICK_CURVE = ['plain', 'KD', 'DA+TA+KD']   # the learning curve's sets where all six would not fit the time (SST-2, CoNLL, --quick)
SETTINGS = {   # eval_every, min_steps and max_steps in optimizer steps, the same at every labelled-set size
    'text-classification': {
        'full': dict(n=0, sizes=[500, 2000, 8000], seeds=[0, 1, 2], batch=64, teacher_epochs=2, patience=5, eval_every=100,
                     max_steps=5000, min_steps=300, rest=20000, curve_sets=QUICK_CURVE),
        'quick': dict(n=2000, sizes=[250], seeds=[0], batch=32, teacher_epochs=1, patience=2, eval_every=30,
                      max_steps=300, min_steps=90, rest=1000, curve_sets=QUICK_CURVE)},
    'ner': {
        'full': dict(n=0, sizes=[500, 2000], seeds=[0, 1, 2], batch=32, teacher_epochs=3, patience=3, eval_every=200,
                     max_steps=8000, min_steps=600, rest=3000, n_dev=1000, curve_sets=QUICK_CURVE,
                     curve_teacher_min_steps=1317),   # the full-data teacher's steps (3 epochs of 439 batches): 3 epochs of 500 sentences are 48
        'quick': dict(n=500, sizes=[150], seeds=[0], batch=32, teacher_epochs=3, patience=2, eval_every=30,
                      max_steps=240, min_steps=90, rest=500, n_dev=600, curve_sets=QUICK_CURVE)},
    'translation': {
        'full': dict(n=0, sizes=[5000], seeds=[0, 1, 2], batch=64, patience=4, eval_every=150, max_steps=6000, min_steps=600, rest=0,
                     n_valid=500, vocab=8000, lr=2e-3, kd_beam=4,
                     student=dict(d_model=128, heads=4, enc_layers=2, dec_layers=2, ff=512),
                     # the teacher trains for at least the students' max_steps (14 epochs of 454 batches: 6,356 steps): at 5
                     # epochs (2,270 steps, 34.7 test BLEU) plain's first converge run passed it (35.8 at 6,000 steps)
                     teacher=dict(d_model=256, heads=4, enc_layers=3, dec_layers=3, ff=1024, epochs=14, lr=1.5e-3)),
        'quick': dict(n=1500, sizes=[500], seeds=[0], batch=64, patience=2, eval_every=30, max_steps=300, min_steps=90, rest=0,
                      curve_sets=QUICK_CURVE,
                      n_valid=100, vocab=4000, lr=2e-3, kd_beam=2,
                      student=dict(d_model=128, heads=4, enc_layers=2, dec_layers=2, ff=512, beam=2),
                      teacher=dict(d_model=192, heads=4, enc_layers=2, dec_layers=2, ff=768, epochs=13, lr=2e-3))},   # 312 steps >= max_steps
}


def sst2_dev_halves() -> tuple[Path, Path]:
    "SST-2's dev sentences in two seeded halves (written once to the cache): one to select on, one to report"
    a, b = CACHE/'sst2_dev_select.tsv', CACHE/'sst2_dev_report.tsv'
    if not (a.exists() and b.exists()):
        head, *rows = (DATA/'sst2'/'dev.tsv').read_text().splitlines()
        idx = list(range(len(rows))); random.Random(0).shuffle(idx)
        half = len(rows) // 2
        for path, part in ((a, sorted(idx[:half])), (b, sorted(idx[half:]))):
            path.write_text('\n'.join([head] + [rows[i] for i in part]) + '\n')
    return a, b


def conll_dev(n:int|None) -> Path:
    "CoNLL-2003's dev file, or its first `n` sentences written once to the cache: cheaper evaluations"
    dev = DATA/'conll2003'/'dev.txt'
    if not n: return dev
    out = CACHE/f'conll_dev_{n}.txt'
    if not out.exists():
        blocks = [b for b in dev.read_text().split('\n\n') if b.strip() and not b.startswith('-DOCSTART-')]
        out.write_text('\n\n'.join(blocks[:n]) + '\n')
    return out


def make_app(name:str, c:dict, ablate_cfg:dict, teacher_min_steps:int=0):
    "The application on its data set, with the benchmark's sizes, an [ablate] section and, where given, [teacher] min_steps"
    common = dict(output=dict(work_dir=str(CACHE)), ablate=dict(sets=list(ABLATION_SETS), seeds=c['seeds'], **ablate_cfg))
    if name == 'text-classification':
        from mixed_ft.text_classification import TextClassification
        sel, rep = sst2_dev_halves()
        return TextClassification(TextClassification.config(
            data=dict(train=str(DATA/'sst2'/'train.tsv'), valid=str(sel), test=str(rep), text=1, label=0, n_train=c['n'],
                      batch_size=c['batch']),
            teacher=dict(epochs=c['teacher_epochs'], **({'min_steps': teacher_min_steps} if teacher_min_steps else {})), **common))
    if name == 'ner':
        from mixed_ft.ner_app import NER
        d = DATA/'conll2003'
        return NER(NER.config(data=dict(train=str(d/'train.txt'), valid=str(conll_dev(c.get('n_dev'))), test=str(d/'test.txt'), n_train=c['n'],
                                        batch_size=c['batch']),
                              teacher=dict(epochs=c['teacher_epochs'], **({'min_steps': teacher_min_steps} if teacher_min_steps else {})), **common))
    if name == 'translation':
        from mixed_ft.translation_app import Translation
        d = DATA/'multi30k'
        return Translation(Translation.config(
            data=dict(train=str(d/'train'), valid=str(d/'val'), test=str(d/'test'), n_train=c['n'], n_valid=c['n_valid'],
                      vocab_size=c['vocab'], batch_size=c['batch']),
            model=c['student'], teacher=c['teacher'], strategies=dict(kd_beam=c['kd_beam']), trainer=dict(lr=c['lr']), **common))
    raise SystemExit(f"unknown application {name!r}: use one of {', '.join(SETTINGS)}")


def pct(x, percent):
    return None if x is None else (100 * x if percent else x)


def bench_args(doc:str, apps, quick_help:str):
    "The command line of budget.py and tune.py: an application and --quick (transformers' warnings silenced)"
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('app', choices=list(apps))
    ap.add_argument('--quick', action='store_true', help=quick_help)
    a = ap.parse_args()
    from transformers.utils import logging; logging.set_verbosity_error()
    return a


def main():
    a = bench_args(__doc__, SETTINGS, 'a smoke run of the protocol: smaller data, one seed (< 15 min)')
    c = SETTINGS[a.app]['quick' if a.quick else 'full']
    CACHE.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    log = None if a.quick else RESULTS/f'budget_{a.app}_runs.jsonl'   # None: the work folder's runs.jsonl
    conv_cfg = dict(budget='converge', patience=c['patience'], max_steps=c['max_steps'], min_steps=c['min_steps'], eval_every=c['eval_every'])

    print(f"[1/3] converge on the full data ({c['n'] or 'all'} labelled examples)", flush=True)
    app = make_app(a.app, c, conv_cfg)
    conv = ablate(app, out='', log=log)
    P, metric = app.percent, conv['metric']
    every = conv['budget']['eval_every']
    plain_best = max(r['best_step'] for r in conv['runs'] if r['set'] == 'plain')
    steps = math.ceil(plain_best / every) * every

    print(f"[2/3] equal steps: {steps} optimizer steps for every set", flush=True)
    eq = ablate(make_app(a.app, c, dict(budget='steps', steps=steps, eval_every=every)), out='', log=log)

    print(f"[3/3] learning curve at {c['sizes']} and the full data, converged" +
          (f", KD sets also with {c['rest']:,} unlabelled rows" if c['rest'] else ''), flush=True)
    curve = ablate(make_app(a.app, c, dict(conv_cfg, n_train=[*c['sizes'], c['n']], rest_unlabelled=c['rest']), c.get('curve_teacher_min_steps', 0)),
                   sets=c.get('curve_sets', list(ABLATION_SETS)), out=RESULTS/f"budget_{a.app}{'_quick' if a.quick else ''}", log=log)

    teacher = pct(conv['info']['teacher_score'], P)
    cs = conv['summary']
    t_sc = conv['info']['teacher_score']   # no gap to close when the teacher is no better than plain
    better = t_sc is not None and (t_sc > cs['plain']['mean'] if conv['higher'] else t_sc < cs['plain']['mean'])
    gap = (cs['DA+TA+KD']['mean'] - cs['plain']['mean']) / (t_sc - cs['plain']['mean']) if better else None
    eqs = {}
    for s, r in eq['summary'].items():
        d = r.get('diff')
        eqs[s] = dict(mean=pct(r['mean'], P), std=pct(r['std'], P), seeds=[pct(x, P) for x in r['scores']],
                      diff_vs_plain=pct(d['mean'], P) if d else None,
                      ci_low=pct(d['ci95'][0], P) if d and d['ci95'] else None, ci_high=pct(d['ci95'][1], P) if d and d['ci95'] else None,
                      steps_mean=r.get('steps_mean'), examples_mean=r.get('examples_mean'), train_s_mean=r['seconds'])
    cv = curve['curve']
    mix = eqs['DA+TA+KD']
    eff = curve['label_efficiency']
    best_eff = max((e['ratio'] for k, e in eff.items() if k.startswith('DA+TA+KD') and e['ratio'] is not None), default=None)
    goals = {f"equal steps: DA+TA+KD >= plain + {GOALS[a.app]}": mix['diff_vs_plain'] is not None and mix['diff_vs_plain'] >= GOALS[a.app],
             'equal steps: paired 95% CI above 0': mix['ci_low'] is not None and mix['ci_low'] > 0,
             'equal steps: DA+TA+KD on the cost frontier': 'DA+TA+KD' in eq['frontier'],
             'label efficiency >= 4x': best_eff is not None and best_eff >= 4}
    if a.app != 'translation': goals['converge: gap_closed >= 0.5'] = gap is not None and gap >= 0.5
    info = conv['info']
    full_n = cv['n'][-1]   # the curve's full-data point is (1)'s runs, read back: count them once
    reused = sum('same_as' in r for r in eq['runs'])   # converge runs that went to the cap: the same runs, counted once
    runs = conv['runs'] + [r for r in eq['runs'] if 'same_as' not in r] + [r for r in curve['runs'] if r['n_train'] != full_n] + curve['runs_unlabelled']
    teachers = [info['teacher_cost_s'] or 0.] + [g['info'].get('teacher_cost_s') or 0. for n, g in curve['grids'].items() if n != full_n]
    compute = dict(runs=len(runs), student_s=sum(r['seconds'] for r in runs), teachers_s=sum(teachers))
    res = dict(
        app=a.app, quick=a.quick, metric=metric, percent_scale=True,
        machine=f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}",
        setup=dict(n_labelled=info.get('n_labelled', info.get('n_train')), seeds=c['seeds'], batch=c['batch'], eval_every=every,
                   patience=c['patience'], min_steps=c['min_steps'], max_steps=c['max_steps'], sizes=c['sizes'], rest_unlabelled=c['rest'],
                   curve_sets=c.get('curve_sets', list(ABLATION_SETS))),
        equal_steps=dict(steps=steps, sets=eqs, frontier=eq['frontier'], runs_read_back_from_converge=reused),
        converge=dict(teacher=teacher, gap_closed=gap,
                      sets={s: dict(mean=pct(r['mean'], P), std=pct(r['std'], P), seeds=[pct(x, P) for x in r['scores']],
                                    diff_vs_plain=pct(r['diff']['mean'], P) if r.get('diff') else None,
                                    steps_mean=r.get('steps_mean'), best_step_mean=r.get('best_step_mean'), train_s_mean=r['seconds'])
                            for s, r in cs.items()},
                      frontier=conv['frontier']),
        curve=dict(n_train=cv['n'], unlabelled=cv['unlabelled'], sets={s: [pct(x, P) for x in v] for s, v in cv['sets'].items()},
                   **({'sets_unlabelled': {s: [pct(x, P) for x in v] for s, v in cv['sets_unlabelled'].items()}} if cv.get('sets_unlabelled') else {}),
                   teachers={n: dict(epochs=g['info'].get('teacher_epochs'), score=pct(g['info'].get('teacher_score'), P), cost_s=g['info'].get('teacher_cost_s'))
                             for n, g in curve['grids'].items() if g['info'].get('teacher_score') is not None}),   # each labelled-set size's own teacher
        label_efficiency=eff,
        frontier=eq['frontier'],
        costs=dict(teacher_one_off_s=info['teacher_cost_s'], **{k: info[k] for k in ('teacher_s', 'cache_fill_s', 'seqkd_s') if info.get(k) is not None},
                   student_per_s={k: v for k, v in info.items() if k.endswith('_per_s')},
                   total=dict(compute, all_s=compute['student_s'] + compute['teachers_s'])),   # every run and teacher of the benchmark, in whichever session it ran
        goals=goals, wall_s=time.perf_counter() - t0,
        command=f"python benchmarks/budget.py {a.app}" + (' --quick' if a.quick else ''))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"budget_{a.app}{'_quick' if a.quick else ''}"
    (RESULTS/f'{stem}.json').write_text(json.dumps(res, indent=2))
    plot_frontier(eq['summary'], eq['info']['teacher_cost_s'], metric, RESULTS/f'{stem}_frontier.png', P, eq['higher'])
    shutil.copy(RESULTS/stem/'curve.png', RESULTS/f'{stem}_curve.png')   # beside the JSON, where BENCHMARKS.md and the docs link them
    write_markdown(res, conv, eq, curve, stem)
    print(json.dumps({k: res[k] for k in ('equal_steps', 'converge', 'curve', 'label_efficiency', 'frontier', 'goals')}, indent=2))


def write_markdown(res, conv, eq, curve, stem):
    f = lambda x: '—' if x is None else f"{x:.1f}"
    st, es, tot = res['setup'], res['equal_steps'], res['costs']['total']
    title = {'text-classification': 'SST-2', 'ner': 'CoNLL-2003', 'translation': 'Multi30k'}[res['app']]
    lines = [f"## Budgets on {title} (`{res['command']}`)", "",
             f"Command: `{res['command']}` — {res['machine']}. Compute: {tot['runs']} student runs, {tot['student_s'] / 3600:.2f} h, and the "
             f"teachers (full data and each smaller labelled set), {tot['teachers_s'] / 60:.0f} min: {tot['all_s'] / 3600:.2f} h in all "
             f"(the last invocation, {res['wall_s'] / 60:.0f} min, read back the runs banked before it)." +
             (" **Quick setting: a smoke run of the protocol, one seed, small data — not the figures the goals are about.**" if res['quick'] else ''), "",
             f"Protocols: **converge** — each run stops {st['patience']} evaluations after its best on the validation split "
             f"(every {st['eval_every']} steps for every set, not before step {st['min_steps']}, at most {st['max_steps']} steps), best evaluation reported; "
             f"**equal steps** — every set exactly {es['steps']} optimizer steps (plain's steps to its best evaluation under converge" +
             (f"; {es['runs_read_back_from_converge']} of these runs are converge runs that went to that cap without stopping, the same runs" if es.get('runs_read_back_from_converge') else '') + "), "
             f"batches of {st['batch']}; **curve** — converge at each labelled-set size. Scores: {res['metric']} (0–100), seeds {st['seeds']}.", "",
             f"### Equal optimizer steps ({es['steps']} steps)", "",
             ablation_table(eq['summary'], res['metric'], eq['info'], conv['percent']), "",
             cost_table(eq['summary'], eq['info']['teacher_cost_s'], eq['higher']), "",
             f"### Trained to convergence (teacher {f(res['converge']['teacher'])}; gap closed by DA+TA+KD: "
             f"{'—' if res['converge']['gap_closed'] is None else format(res['converge']['gap_closed'], '.0%')})", "",
             ablation_table(conv['summary'], res['metric'], conv['info'], conv['percent']), "",
             cost_table(conv['summary'], conv['info']['teacher_cost_s'], conv['higher']), "",
             "### Learning curve (converged; labels saved = how many times fewer labels than plain for plain's score)", "",
             curve_table(curve), "",
             *([("Each size's teacher (trained on that size's labels only): " +
                 '; '.join(f"{int(n):,} labels" + (f", {t['epochs']} epochs" if t['epochs'] else '') + f": {f(t['score'])}"
                           for n, t in res['curve']['teachers'].items()) + '.'), '']
               if res['curve'].get('teachers') else []),
             f"![learning curve](results/{stem}_curve.png) ![cost frontier at equal steps](results/{stem}_frontier.png)", "",
             "Goals: " + '; '.join(f"{k}: {'met' if v else 'missed'}" for k, v in res['goals'].items()) + '.']
    update_section(stem, '\n'.join(lines))


if __name__ == '__main__': main()
