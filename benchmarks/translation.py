"""Machine translation on Multi30k (en -> de) with the `translation` application: a Transformer teacher trained once with
the library, a smaller student of the same family, strategy sets x seeds; the best epoch is chosen on validation greedy
BLEU, the figures are test2016 BLEU and chrF (sacrebleu), greedy and beam.

  plain      label loss (smoothing 0.1) on the reference translations
  DA         + one noisy copy of every source (words dropped, masked, swapped; p = 0.1 each), the reference kept
  TA         + masked-token prediction on the encoder (15% of the source tokens, weight 0.3)
  word-KD    + the teacher's token distributions along the reference (top-8 cache, T = 1, alpha = 0.5)
  seq-KD     + the teacher's beam translations of the training sources as extra pairs (Kim & Rush, 2016)
  DA+TA+KD   all of it, with both KD forms
  plain-2x   plain trained twice the epochs: as many optimizer steps as DA and seq-KD take, whose extra rows double an
             epoch (a control, not one of the issue's sets: it says how much of their gain is the extra steps)
Small data: 5,000 training pairs (the teacher trained on the same 5,000): plain and DA+TA+KD.

    python benchmarks/translation.py --quick   # 3,000 pairs, one seed, small models: the JSON's structure in under 10 minutes
    python benchmarks/translation.py           # all 29,000 pairs, seeds 0, 1, 2 (see SETTINGS for sizes; in the background)

The teachers, their translations, the caches and every finished run are kept in benchmarks/.cache (or
$MIXED_FT_BENCH_CACHE), so a stopped run resumes and a rerun only redraws the report. Writes benchmarks/results/translation.json (or translation_quick.json),
translation.png (the full run copies it to nbs/images/translation_ablation.png for chapter 05h) and the translation
section of benchmarks/BENCHMARKS.md.
"""
import argparse, json, os, platform, shutil
from pathlib import Path

import torch

from bench_md import update_section

from mixed_ft.translation_app import Translation
from mixed_ft.experiment import ablate, summarize, ablation_table, plot_ablation

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get('MIXED_FT_DATA', ROOT.parent/'shared'/'data'))/'multi30k'
CACHE = Path(os.environ.get('MIXED_FT_BENCH_CACHE', ROOT/'benchmarks'/'.cache'))   # another folder: a run from scratch
SETTINGS = {  # quick: a smoke run of the pipeline; full: the figures the goals are about (on 2 CPU cores about 3 h 20 min with the plain-2x control)
    'quick': dict(n=3000, n_valid=100, seeds=(0,), epochs=2, batch=64, vocab=4000, lr=2e-3, kd_beam=2,   # beam 2 throughout: models this
                  student=dict(d_model=128, heads=4, enc_layers=2, dec_layers=2, ff=512, beam=2),     # young decode to the length limit
                  teacher=dict(d_model=192, heads=4, enc_layers=2, dec_layers=2, ff=768, epochs=3, lr=2e-3),
                  small_n=1000, small_epochs=4, small_teacher_epochs=4),
    'full': dict(n=None, n_valid=500, seeds=(0, 1, 2), epochs=2, batch=64, vocab=8000, lr=2e-3,
                 student=dict(d_model=128, heads=4, enc_layers=2, dec_layers=2, ff=512),
                 teacher=dict(d_model=256, heads=4, enc_layers=3, dec_layers=3, ff=1024, epochs=5, lr=1.5e-3),
                 small_n=5000, small_epochs=6, small_teacher_epochs=10)}
SETS = ('plain', 'DA', 'TA', 'word-KD', 'seq-KD', 'DA+TA+KD', 'plain-2x')


def flat(summary, runs):
    "Per set: beam BLEU (the headline), greedy BLEU and chrF, means over seeds and paired differences against plain"
    mean = lambda name, k: sum(r[k] for r in runs if r['set'] == name) / sum(r['set'] == name for r in runs)
    return {k: dict(test_bleu_mean=v['mean'], test_bleu_std=v['std'], seeds=v['scores'], ci95=v['ci95'], train_s_mean=v['seconds'],
                    diff_vs_plain=(v['diff']['mean'] if v.get('diff') else None), test_bleu_greedy_mean=mean(k, 'bleu'),
                    test_chrf_mean=mean(k, 'chrf_beam'), test_chrf_greedy_mean=mean(k, 'chrf')) for k, v in summary.items()}


def run_sets(app_for, sets, seeds, control=None):
    "The six sets: plain, DA, TA and DA+TA+KD (both KD forms) from one config, word-KD and seq-KD from a config each; plain-2x from `control`"
    both = ablate(app_for('both'), [s for s in sets if s in ('plain', 'DA', 'TA', 'DA+TA+KD')], seeds, out='')
    runs = list(both['runs'])
    for form in ('word', 'seq'):
        if f'{form}-KD' in sets: runs += [dict(r, set=f'{form}-KD') for r in ablate(app_for(form), ['KD'], seeds, out='')['runs']]
    if control is not None: runs += [dict(r, set='plain-2x') for r in ablate(control('both'), ['plain'], seeds, out='')['runs']]
    order = {s: i for i, s in enumerate(SETS)}
    runs.sort(key=lambda r: (order[r['set']], r['seed']))
    return runs, both['info']


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true')
    a = ap.parse_args()
    c = SETTINGS['quick' if a.quick else 'full']
    CACHE.mkdir(parents=True, exist_ok=True)
    def app_for(n, epochs, teacher_epochs):
        def make(kd):
            return Translation(Translation.config(
                data=dict(train=str(DATA/'train'), valid=str(DATA/'val'), test=str(DATA/'test'), n_train=n or 0, n_valid=c['n_valid'],
                          vocab_size=c['vocab'], batch_size=c['batch']),
                model=c['student'], teacher=dict(c['teacher'], epochs=teacher_epochs), strategies=dict(kd=kd, kd_beam=c.get('kd_beam', 4)),
                trainer=dict(epochs=epochs, lr=c['lr']), output=dict(work_dir=str(CACHE))))
        return make
    print(f"main setting: {c['n'] or 'all'} training pairs", flush=True)
    runs, info = run_sets(app_for(c['n'], c['epochs'], c['teacher']['epochs']), SETS, c['seeds'],
                          control=app_for(c['n'], 2 * c['epochs'], c['teacher']['epochs']))
    sm = summarize(runs, 'bleu_beam')
    print(f"small-data setting: {c['small_n']} training pairs", flush=True)
    s_runs, s_info = run_sets(app_for(c['small_n'], c['small_epochs'], c['small_teacher_epochs']), ('plain', 'DA+TA+KD'), c['seeds'])
    s_sm = summarize(s_runs, 'bleu_beam')
    sets, s_sets = flat(sm, runs), flat(s_sm, s_runs)
    vs_control = summarize(runs, 'bleu_beam', baseline='plain-2x')   # the steps DA and seq-KD take, on clean pairs; paired by seed
    for k in ('DA', 'seq-KD', 'DA+TA+KD'): sets[k]['diff_vs_plain_2x'] = (vs_control[k]['diff'] or {}).get('mean')
    t = info['teacher_scores']
    speedup = info['student_greedy_sent_per_s'] / info['teacher_beam_sent_per_s']
    plain, mixed = sets['plain']['test_bleu_mean'], sets['DA+TA+KD']['test_bleu_mean']
    goals = {'seq-KD >= plain + 2.5 BLEU (beam)': sets['seq-KD']['test_bleu_mean'] - plain >= 2.5,
             'DA+TA+KD >= plain + 3.5 BLEU': mixed - plain >= 3.5,
             'DA+TA+KD above every single set': all(mixed > sets[k]['test_bleu_mean'] for k in ('DA', 'TA', 'word-KD', 'seq-KD')),  # (plain-2x is a control)
             'student (greedy) within 3.0 BLEU of the teacher (beam)': t['bleu_beam'] - sets['DA+TA+KD']['test_bleu_greedy_mean'] <= 3.0,
             'student greedy >= 5x faster than teacher beam': speedup >= 5,
             'small data: DA+TA+KD >= plain + 4.0 BLEU': s_sets['DA+TA+KD']['test_bleu_mean'] - s_sets['plain']['test_bleu_mean'] >= 4.0}
    res = dict(machine=f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}", quick=a.quick,
               setup=dict(c, seeds=list(c['seeds']), **{k: info[k] for k in ('n_train', 'n_valid', 'n_test', 'vocab', 'student_params', 'teacher_params')}),
               teacher=dict(test_bleu=t['bleu_beam'], test_bleu_greedy=t['bleu'], test_chrf=t['chrf_beam'], train_s=info['teacher_s'],
                            seqkd_decode_s=info['seqkd_s'], cache_fill_s=info['cache_fill_s']),
               sets=sets, speedup_vs_teacher=speedup, student_greedy_sent_per_s=info['student_greedy_sent_per_s'],
               student_beam_sent_per_s=info['student_beam_sent_per_s'], teacher_beam_sent_per_s=info['teacher_beam_sent_per_s'], goals=goals,
               small_data=dict(n_train=c['small_n'], teacher_test_bleu=s_info['teacher_scores']['bleu_beam'], sets=s_sets),
               runs=runs, small_data_runs=s_runs, command='python benchmarks/translation.py' + (' --quick' if a.quick else ''))
    stem = 'translation_quick' if a.quick else 'translation'
    out = ROOT/'benchmarks'/'results'/f'{stem}.json'
    out.write_text(json.dumps(res, indent=2))
    plot_ablation(sm, 'test2016 BLEU (beam)', out.with_suffix('.png'), percent=False)
    if not a.quick: shutil.copy(out.with_suffix('.png'), ROOT/'nbs'/'images'/'translation_ablation.png')   # the tutorial shows it
    write_markdown(res, sm, info)
    print(json.dumps({k: res[k] for k in ('setup', 'teacher', 'sets', 'speedup_vs_teacher', 'goals', 'small_data')}, indent=2))


def write_markdown(res, sm, info):
    st, sd, t = res['setup'], res['small_data'], res['teacher']
    beam = st['student'].get('beam', 4)
    arch = lambda m: f"d={m['d_model']}, {m['enc_layers']}+{m['dec_layers']} layers, ff {m['ff']}"
    lines = [f"## Translation, Multi30k en→de (`benchmarks/translation.py{' --quick' if res['quick'] else ''}`)", "",
             f"Command: `{res['command']}` — {res['machine']}." + (" **Quick setting: a smoke run, one seed, small models — not the full-run figures the goals are about.**" if res['quick'] else ''), "",
             f"{st['n_train']:,} training pairs, a joint BPE of {st['vocab']:,} pieces; best epoch on validation greedy BLEU ({st['n_valid']:,} pairs), "
             f"figures on test2016 ({st['n_test']:,} pairs), sacrebleu BLEU and chrF on detokenized output; seeds {st['seeds']}; students {st['epochs']} epochs in batches of {st['batch']}. "
             f"Teacher: Transformer ({arch(st['teacher'])}; {st['teacher_params'] / 1e6:.1f}M parameters), trained {st['teacher']['epochs']} epochs "
             f"({t['train_s'] / 60:.0f} min): test BLEU {t['test_bleu']:.1f} (beam {beam}), {t['test_bleu_greedy']:.1f} greedy; chrF {t['test_chrf']:.1f}. "
             f"Student: Transformer ({arch(st['student'])}; {st['student_params'] / 1e6:.1f}M parameters). Decoding: student greedy "
             f"{res['student_greedy_sent_per_s']:,.0f} sentences/s, student beam {res['student_beam_sent_per_s']:,.0f}, teacher beam "
             f"{res['teacher_beam_sent_per_s']:,.0f}: {res['speedup_vs_teacher']:.1f}x.", "",
             ablation_table(sm, f'test BLEU (beam {beam})', info, percent=False), "",
             "| set | BLEU beam | BLEU greedy | chrF beam | chrF greedy |", "|---|---:|---:|---:|---:|"]
    for k, v in res['sets'].items():
        lines.append(f"| {k} | {v['test_bleu_mean']:.1f} | {v['test_bleu_greedy_mean']:.1f} | {v['test_chrf_mean']:.1f} | {v['test_chrf_greedy_mean']:.1f} |")
    d2 = {k: v['diff_vs_plain_2x'] for k, v in res['sets'].items() if v.get('diff_vs_plain_2x') is not None}
    if d2: lines += ["", "Optimizer steps: DA and seq-KD add a row per training pair, so at the same epochs they take 2x plain's steps and "
                         "DA+TA+KD 3x; plain-2x is plain at twice the epochs. Against plain-2x (paired by seed): "
                         + ', '.join(f"{k} {v:+.1f}" for k, v in d2.items()) + " BLEU (beam)."]
    lines += ["", "Goals: " + '; '.join(f"{k}: {'met' if v else 'missed'}" for k, v in res['goals'].items()) + '.', "",
              f"![test2016 BLEU per set](results/{'translation_quick' if res['quick'] else 'translation'}.png)", "",
              f"Small data: {sd['n_train']:,} training pairs (the teacher trained on them: test BLEU {sd['teacher_test_bleu']:.1f}); students {st['small_epochs']} epochs:", "",
              "| set | test BLEU (beam) | vs plain (paired by seed) |", "|---|---:|---:|"]
    for k, v in sd['sets'].items():
        d = v['diff_vs_plain']
        sd_txt = '' if v['test_bleu_std'] is None else f" ± {v['test_bleu_std']:.1f}"
        lines.append(f"| {k} | {v['test_bleu_mean']:.1f}{sd_txt} | {'—' if d is None else f'{d:+.1f}'} |")
    update_section('translation_quick' if res['quick'] else 'translation', '\n'.join(lines))


if __name__ == '__main__': main()
