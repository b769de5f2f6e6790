"""The distilled student in use, against its teacher: latency at batch 1, throughput at batch 64, size on disk and
quality, for the teacher in PyTorch, the student in PyTorch (fp32), the student in ONNX (fp32) and in ONNX int8
(onnxruntime's dynamic quantization), on SST-2 (text classification) and CoNLL-2003 (NER).

    python benchmarks/deploy.py            # both tasks: 8,000 SST-2 and 5,000 CoNLL training sentences (about 30 min)
    python benchmarks/deploy.py --all      # all the training data, with sst2.py's and ner.py's settings (about 1.5 h)
    python benchmarks/deploy.py --quick    # small samples: a few minutes

Each task: the student is trained with DA+TA+KD through `mixed_ft.cli.train_from_config` (the benchmark's own config,
whose teacher and teacher cache are kept in benchmarks/.cache and shared with sst2.py / ner.py), exported to model/,
then `export_onnx(..., int8=True)`. Every row is timed on the same pre-tokenized sentences of the reported split:

- latency: `--n-latency` sentences drawn with a fixed seed, one at a time; p50 and p95 of the model call in ms;
- throughput: the whole reported split in length-sorted batches of 64, sentences per second, median of `--reps` passes;
- quality: the reported split scored from each model's own predictions (accuracy or entity F1, in percent);
- size: the weights file (the teacher's exported .pt, model.pt, model.onnx, model.int8.onnx).

PyTorch and onnxruntime get the same number of intra-op threads (`--threads`, default: every core). The rows run
interleaved (each repetition times every row before the next repetition), so a change of machine load hits all alike.
Writes benchmarks/results/deploy.json (deploy_all.json, deploy_quick.json) and its section of BENCHMARKS.md.
"""
import argparse, json, os, platform, random, statistics, sys, time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from bench_md import update_section

DATA = Path(os.environ.get('MIXED_FT_DATA', ROOT.parent/'shared'/'data'))
CACHE = Path(os.environ.get('MIXED_FT_BENCH_CACHE', ROOT/'benchmarks'/'.cache'))
SETTINGS = {   # all: sst2.py's and ner.py's full settings (their teachers take 45 and 14 min to fine-tune here);
               # full (the default): fewer labels, which change the quality columns but not the speed or size of either model
    'sst2': {'all': dict(n_train=0, epochs=2, teacher_epochs=3, batch=128), 'full': dict(n_train=8000, epochs=4, teacher_epochs=3, batch=32),
             'quick': dict(n_train=2000, epochs=1, teacher_epochs=2, batch=32)},
    'ner': {'all': dict(n_train=0, epochs=5, teacher_epochs=3, batch=32), 'full': dict(n_train=5000, epochs=5, teacher_epochs=3, batch=32),
            'quick': dict(n_train=1500, epochs=3, teacher_epochs=2, batch=32)}}


def config(task, c, out):
    from mixed_ft.app import get_app
    if task == 'sst2':
        data = dict(train=str(DATA/'sst2'/'train.tsv'), valid=str(DATA/'sst2'/'dev.tsv'), text=1, label=0, n_copies=1)
        app = 'text-classification'
    else:
        d = DATA/'conll2003'
        data = dict(train=str(d/'train.txt'), valid=str(d/'dev.txt'), test=str(d/'test.txt'), n_copies=1)
        app = 'ner'
    return get_app(app).config(data=dict(data, n_train=c['n_train'], batch_size=c['batch']), teacher=dict(epochs=c['teacher_epochs']),
                               strategies=dict(set='DA+TA+KD'), trainer=dict(epochs=c['epochs']),
                               output=dict(dir=str(out), work_dir=str(CACHE)))


def measure(task, setting, threads, reps, n_latency):
    from mixed_ft.cli import train_from_config
    from mixed_ft.app import get_app, teacher_scores
    from mixed_ft.export import load, export_onnx, OnnxModel
    from mixed_ft.kit import n_params
    c = SETTINGS[task][setting]
    run = CACHE/'deploy'/f"{task}_{setting}"
    cfg = config(task, c, run)
    from dataclasses import asdict
    same = lambda m: all(m['config'][k] == asdict(getattr(cfg, k)) for k in ('data', 'model', 'teacher', 'strategies', 'trainer'))
    if (run/'model'/'mixed_ft.json').exists() and same(json.loads((run/'model'/'mixed_ft.json').read_text())):
        print(f"{task}: the student in {run} is reused", flush=True)
        res = json.loads((run/'model'/'mixed_ft.json').read_text())['scores']
    else:
        t0 = time.perf_counter()
        res = train_from_config(cfg, progress=False, overwrite=True)
        print(f"{task}: student trained in {time.perf_counter() - t0:.0f} s", flush=True)
    onnx = export_onnx(run, int8=True)
    app = get_app(cfg.app)(cfg, progress=False)
    torch.set_num_threads(threads)
    split = app.report_split
    metric = app.metric
    # the teacher's rows: its own word pieces of the same sentences
    teacher = app.teacher().eval()
    t_quality = 100 * teacher_scores(app)[metric]
    t_file = CACHE/f"{app.kind}_teacher_{app.teacher_key()}.pt"
    ds = app.eval_dataset(split)
    batches = list(app.loader(ds, 64, shuffle=False))   # length-sorted batches of 64, as evaluation sorts them
    preds = {'student_torch': load(run, device='cpu'), 'student_onnx': load(run/'model'/'model.onnx'),
             'student_onnx_int8': load(run/'model'/'model.int8.onnx')}
    for p in preds.values():
        if isinstance(p.model, OnnxModel):   # the same threads as torch
            p.model = OnnxModel(p.model.path, threads=threads)
    s_inputs = preds['student_torch'].inputs   # model kwargs from parsed inputs
    items = list(ds.ids) if task == 'sst2' else [list(t) for t in app.data()[split].tokens]   # parsed as the predictor parses
    rng = random.Random(0); lat_idx = rng.sample(range(len(items)), min(n_latency, len(items)))
    t_keys, collate = tuple(app.teacher_inputs), app.loader(ds, 1, shuffle=False).collate_fn
    def t_call(b): teacher(**{k: b[k] for k in t_keys})
    t_b1 = [app.teacher_view(collate([ds[i]])) for i in lat_idx]   # the teacher's own word pieces of the same sentences
    t_b64 = [app.teacher_view(b) for b in batches]
    s_b1 = [s_inputs([items[i]]) for i in lat_idx]
    s_b64 = [{k: b[k] for k in s_b1[0]} for b in batches]
    rows = {}
    calls = {'teacher_torch': t_call, **{name: (lambda m: lambda x: m(**x))(p.model) for name, p in preds.items()}}
    lat = {k: [] for k in calls}; thr = {k: [] for k in calls}
    with torch.no_grad():
        for name, f in calls.items():   # warm-up
            for x in ((t_b1 if name == 'teacher_torch' else s_b1)[:5]): f(x)
        for r in range(reps):
            for name, f in calls.items():
                b1, b64 = (t_b1, t_b64) if name == 'teacher_torch' else (s_b1, s_b64)
                for x in b1:
                    t0 = time.perf_counter(); f(x); lat[name].append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                for x in b64: f(x)
                thr[name].append(len(ds) / (time.perf_counter() - t0))
            print(f"{task}: repetition {r + 1}/{reps} timed", flush=True)
    quality = {'teacher_torch': t_quality}
    for name, p in preds.items():
        quality[name] = 100 * float(score(task, app, p, split))
    mb = {'teacher_torch': t_file.stat().st_size / 2**20, 'student_torch': (run/'model'/'model.pt').stat().st_size / 2**20,
          'student_onnx': onnx['onnx']['mb'], 'student_onnx_int8': onnx['int8']['mb']}
    q = lambda xs, p: statistics.quantiles(xs, n=100)[p - 1]
    for name in calls:
        rows[name] = dict(latency_ms_p50=statistics.median(lat[name]), latency_ms_p95=q(lat[name], 95),
                          per_s_b64=statistics.median(thr[name]), mb=mb[name], quality=quality[name])
    return dict(metric=f"{split} {metric}", n=len(ds), n_latency=len(lat_idx), reported=100 * res[f'{split}_{metric}'],
                params=dict(teacher=n_params(teacher), student=n_params(preds['student_torch'].model)),
                onnx_check={k: {kk: v[kk] for kk in ('max_abs_diff', 'argmax_agree')} for k, v in onnx.items()},
                rows=rows,
                ratio=dict(int8_vs_torch_b1=rows['student_torch']['latency_ms_p50'] / rows['student_onnx_int8']['latency_ms_p50'],
                           onnx_vs_torch_b1=rows['student_torch']['latency_ms_p50'] / rows['student_onnx']['latency_ms_p50'],
                           int8_vs_teacher_b64=rows['student_onnx_int8']['per_s_b64'] / rows['teacher_torch']['per_s_b64'],
                           student_vs_teacher_b64=rows['student_torch']['per_s_b64'] / rows['teacher_torch']['per_s_b64']),
                quality_drop_int8=float(rows['student_torch']['quality'] - rows['student_onnx_int8']['quality']))


def score(task, app, p, split):
    "The reported split scored from the predictor's own predictions"
    d = app.cfg.data
    if task == 'sst2':
        from mixed_ft.text import read_examples
        path = d.test if split == 'test' else d.valid
        texts, ys, lm = read_examples(path, text=d.text, label=d.label, header=d.header, label_map=app.examples()['label_map'])
        names = {v: k for k, v in lm.items()}
        preds = [r['label'] for r in p.predict(texts)]
        return sum(a == names[y] for a, y in zip(preds, ys)) / len(ys)
    from seqeval.metrics import f1_score
    data = app.data()[split]
    preds = [r['tags'] for r in p.predict([list(t) for t in data.tokens])]
    return f1_score(data.tags, preds)


def write_markdown(res):
    lines = [f"## Deployment: the student in use (`{res['command']}`)", "",
             f"{res['machine']}; {res['threads']} intra-op threads for PyTorch and onnxruntime alike; batch-1 latency over "
             f"{res['sst2']['n_latency']} seeded sentences of the reported split per repetition, throughput over the whole split in "
             f"length-sorted batches of 64; medians over {res['reps']} interleaved repetitions. Students: DA+TA+KD, trained by "
             "`mixed-ft train` (the exported model/ folder); int8 is onnxruntime's dynamic quantization. Training data: "
             + "; ".join(f"{t}: {'all' if c['n_train'] == 0 else format(c['n_train'], ',')} labelled sentences, {c['epochs']} epochs"
                         for t, c in res['setting'].items())
             + " (the quality columns depend on it; the speed and size columns hardly: the same architectures).", ""]
    for task, title in (('sst2', 'SST-2'), ('ner', 'CoNLL-2003 NER')):
        if task not in res: continue
        r = res[task]
        lines += [f"**{title}** ({r['metric']}, {r['n']} sentences; teacher {r['params']['teacher'] / 1e6:.1f}M parameters, "
                  f"student {r['params']['student'] / 1e6:.2f}M):", "",
                  "| model | p50 ms (batch 1) | p95 ms (batch 1) | sentences/s (batch 64) | MB | quality (%) |", "|---|---:|---:|---:|---:|---:|"]
        for name, x in r['rows'].items():
            lines.append(f"| {name} | {x['latency_ms_p50']:.2f} | {x['latency_ms_p95']:.2f} | {x['per_s_b64']:,.0f} | {x['mb']:.1f} | {x['quality']:.2f} |")
        ra = r['ratio']
        lines += ["", f"int8 vs the student in PyTorch at batch 1: **{ra['int8_vs_torch_b1']:.2f}x** (goal ≥ 2x); ONNX fp32 {ra['onnx_vs_torch_b1']:.2f}x. "
                  f"int8 vs the teacher at batch 64: **{ra['int8_vs_teacher_b64']:.0f}x** (goal ≥ 50x on SST-2); the PyTorch student {ra['student_vs_teacher_b64']:.0f}x. "
                  f"Quality lost to int8: **{r['quality_drop_int8']:+.2f}** points (goal ≤ 0.5). "
                  f"ONNX fp32 against PyTorch on 256 seeded inputs: largest logit difference {r['onnx_check']['onnx']['max_abs_diff']:.1g}, "
                  f"argmax agrees on {100 * r['onnx_check']['onnx']['argmax_agree']:.0f}%.", ""]
    update_section('deploy', '\n'.join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='small samples (a few minutes)')
    ap.add_argument('--all', action='store_true', help="all the training data, with sst2.py's and ner.py's settings")
    ap.add_argument('--tasks', default='sst2,ner')
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--n-latency', type=int, default=200)
    a = ap.parse_args()
    from transformers.utils import logging; logging.set_verbosity_error(); logging.disable_progress_bar()
    import warnings; warnings.filterwarnings('ignore')
    res = dict(machine=f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}", quick=a.quick, threads=a.threads, reps=a.reps,
               command='python benchmarks/deploy.py' + (' --quick' if a.quick else ' --all' if a.all else ''))
    setting = 'quick' if a.quick else 'all' if a.all else 'full'
    res['setting'] = {t: SETTINGS[t][setting] for t in a.tasks.split(',')}
    for task in a.tasks.split(','): res[task] = measure(task, setting, a.threads, a.reps, a.n_latency)
    goals = {}
    if 'sst2' in res:
        goals['sst2 int8 >= 2x student torch at batch 1'] = res['sst2']['ratio']['int8_vs_torch_b1'] >= 2
        goals['sst2 int8 >= 50x teacher at batch 64'] = res['sst2']['ratio']['int8_vs_teacher_b64'] >= 50
    for t in ('sst2', 'ner'):
        if t in res:
            goals[f'{t} int8 loses <= 0.5 points'] = res[t]['quality_drop_int8'] <= 0.5
            goals[f'{t} predictor scores what train reported'] = abs(res[t]['rows']['student_torch']['quality'] - res[t]['reported']) < 1e-6
    res['goals'] = {k: bool(v) for k, v in goals.items()}
    out = ROOT/'benchmarks'/'results'/f"deploy{'_quick' if a.quick else '_all' if a.all else ''}.json"
    out.write_text(json.dumps(res, indent=2))
    if not a.quick: write_markdown(res)   # the table shows the latest full or --all run
    print(json.dumps({k: res[k] for k in ('goals',)} | {t: {'rows': res[t]['rows'], 'ratio': res[t]['ratio']} for t in ('sst2', 'ner') if t in res}, indent=2))


if __name__ == '__main__':
    main()
