"""Searching the mix with `mixed-ft tune` on SST-2 and CoNLL-2003: a study of 30 trials with pruning, each at the same
step budget, then the best config, the default DA+TA+KD and plain retrained with 3 seeds and scored once on the
reported split, with paired differences.

    python benchmarks/tune.py text-classification [--quick]   # SST-2: BiLSTM student, MiniLM teacher
    python benchmarks/tune.py ner [--quick]                   # CoNLL-2003: char-aware BiLSTM tagger, MiniLM teacher

Per trial: [ablate] budget = "steps", `steps` optimizer steps: the equal-steps budget of benchmarks/budget.py (its
budget_<app>.json, when the full run exists), else the figure in SETTINGS; evaluated every `eval_every` steps (what the
median pruner compares). The study: TPE seeded 0, median pruner, SQLite in benchmarks/results/tune_<app>.db (committed,
so a stopped study resumes in a fresh checkout; --quick: benchmarks/.cache/tune_<app>_quick.db). The final runs go to
budget.py's runs log (benchmarks/results/budget_<app>_runs.jsonl; --quick: benchmarks/.cache/runs.jsonl): the default
and plain arms are budget.py's equal-steps DA+TA+KD and plain runs (same config, seeds and steps: the same run key), read
back when budget.py made them. Selection sees only the validation data (SST-2: the seeded select half of dev; the other
half is reported, as in budget.py). Teachers and caches are budget.py's, kept in benchmarks/.cache. Writes benchmarks/results/tune_<app>[_quick].json, the tune folder
benchmarks/results/tune_<app>[_quick]/ (tune.md, tune.json, best.toml, history.png, importances.png) and a section of
benchmarks/BENCHMARKS.md. Scores and differences in the JSON are in percent (0-100).
"""
import json, os, platform, time
from pathlib import Path

import optuna, torch

from bench_md import update_section
from budget import CACHE, RESULTS, SETTINGS as BUDGET, bench_args, make_app
from mixed_ft.tune import counted, final_markdown, tune

GOALS = {'text-classification': dict(vs_default=1.0, vs_plain=3.0), 'ner': dict(vs_plain=4.0)}
# the data, seeds, batch and teacher are budget.py's (so are its cached teachers); here: the study's fallback budget and trials
SETTINGS = {
    'text-classification': {'full': dict(steps=1500, eval_every=150, trials=30), 'quick': dict(steps=150, eval_every=30, trials=8)},
    'ner': {'full': dict(steps=2000, eval_every=200, trials=30), 'quick': dict(steps=240, eval_every=30, trials=8)},
}


def pct(x): return None if x is None else 100 * x


def main():
    a = bench_args(__doc__, SETTINGS, 'a smoke run: smaller data, 8 trials, one final seed (< 15 min)')
    mode = 'quick' if a.quick else 'full'
    c = {**BUDGET[a.app][mode], **SETTINGS[a.app][mode]}
    stem = f"tune_{a.app}{'_quick' if a.quick else ''}"
    published = RESULTS/f'budget_{a.app}.json'
    steps = json.loads(published.read_text())['equal_steps']['steps'] if published.exists() and not a.quick else c['steps']
    CACHE.mkdir(parents=True, exist_ok=True)
    app = make_app(a.app, c, dict(budget='steps', steps=steps, eval_every=min(c['eval_every'], steps)))
    t = app.cfg.tune
    t.trials, t.seed, t.pruner, t.final_seeds = c['trials'], 0, 'median', c['seeds']
    db = (CACHE if a.quick else RESULTS)/f'{stem}.db'
    t.out, t.storage = str(RESULTS/stem), f"sqlite:///{db}"
    t0 = time.perf_counter()
    res = tune(app, resume=db.exists(), log=None if a.quick else RESULTS/f'budget_{a.app}_runs.jsonl')
    st = optuna.load_study(study_name=res['study'], storage=t.storage)   # the trials' own times, over every invocation of the study
    study_s = sum((x.datetime_complete - x.datetime_start).total_seconds() for x in counted(st))
    f = res['final']
    ci = lambda d: dict(mean=pct(d['mean']), ci_low=pct(d['ci95'][0]) if d.get('ci95') else None,
                        ci_high=pct(d['ci95'][1]) if d.get('ci95') else None) if d else None
    diff = {k: ci(v) for k, v in f['diff'].items()}
    g = GOALS[a.app]
    goals = {}
    if 'vs_default' in g:
        d = diff['tuned_vs_default']
        goals[f"tuned >= default DA+TA+KD + {g['vs_default']}"] = d is not None and d['mean'] >= g['vs_default']
        goals['tuned vs default: paired 95% CI above 0'] = d is not None and d['ci_low'] is not None and d['ci_low'] > 0
    d = diff['tuned_vs_plain']
    goals[f"tuned >= plain + {g['vs_plain']}"] = d is not None and d['mean'] >= g['vs_plain']
    goals['tuned vs plain: paired 95% CI above 0'] = d is not None and d['ci_low'] is not None and d['ci_low'] > 0
    out = dict(app=a.app, quick=a.quick, machine=f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}",
               metric=f"{res['metric']} (selection), {f['metric']} (final)",
               trials=res['n_trials'], pruned=res['pruned'], failed=res['failed'], retried=res.get('retried', 0),
               best=dict(number=res['best']['number'], set=res['best']['set'], params=res['best']['params'], valid=pct(res['best']['value'])),
               importances=res.get('importances', {}),
               final=dict(seeds=f['seeds'], sets={k: dict(mean=pct(v['mean']), std=pct(v['std']), seeds=[pct(x) for x in v['scores']], set=v['set'])
                                                  for k, v in f['sets'].items()}, diff=diff),
               budget=res['budget'], wall_s=time.perf_counter() - t0, study_s=study_s, goals=goals,
               command=f"python benchmarks/tune.py {a.app}" + (' --quick' if a.quick else ''))
    (RESULTS/f'{stem}.json').write_text(json.dumps(out, indent=2))
    write_markdown(out, f, stem)
    print(json.dumps({k: out[k] for k in ('trials', 'pruned', 'best', 'final', 'goals')}, indent=2))


def write_markdown(out, f, stem):
    title = {'text-classification': 'SST-2', 'ner': 'CoNLL-2003'}[out['app']]
    b = out['best']
    lines = [f"## Tuning the mix on {title} (`{out['command']}`)", "",
             f"Command: `{out['command']}` — {out['machine']}. The study's {out['trials']} trials took {out['study_s'] / 60:.0f} min of training "
             f"over all the invocations it took (a trial killed mid-run not counted; any one-off preparation "
             f"inside the first trial included); this invocation {out['wall_s'] / 60:.0f} min (trials and runs read back cost nothing)." +
             (" **Quick setting: a smoke run, small data, one seed.**" if out['quick'] else ''), "",
             f"Study: {out['trials']} trials ({out['pruned']} pruned, {out['failed']} failed"
             + (f"; {out['retried']} more killed mid-run when a session ended, and run again" if out.get('retried') else '') +
             "), TPE seeded 0, median pruner; every trial "
             f"{out['budget'].get('max_steps')} optimizer steps, evaluated every {out['budget'].get('eval_every')}. Selected on validation "
             f"only: trial {b['number']}, {b['set']}, {', '.join(f'{k} = {v:.3g}' if isinstance(v, float) else f'{k} = {v}' for k, v in b['params'].items())}: "
             f"validation {b['valid']:.2f}. Trials, best.toml and plots: `benchmarks/results/{stem}/`.", "",
             final_markdown(f, True), "",
             "Importances (fANOVA): " + (', '.join(f"{k} {v:.2f}" for k, v in out['importances'].items()) or '—') + '.', "",
             "Goals: " + '; '.join(f"{k}: {'met' if v else 'missed'}" for k, v in out['goals'].items()) + '.']
    update_section(stem, '\n'.join(lines))


if __name__ == '__main__': main()
