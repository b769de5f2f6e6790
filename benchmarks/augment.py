"""Augmentation throughput, side by side in one run on the same machine.

Text: SST-2 training sentences through swap + delete + insert + mask, strings in and strings out:
  mixed_ft (one batched call on token-id tensors, including the string <-> id conversion)
  vs nlpaug's RandomWordAug (swap, delete, substitute-with-[MASK]; it has no random insertion)
  vs a plain per-sentence Python loop doing all four.
Images: 512 RGB 224x224 float32 images through random resized crop + horizontal flip (p=0.5) + Gaussian noise:
  mixed_ft's fused Compose on the batch tensor vs the article-style per-image OpenCV/NumPy loop vs an
  albumentations Compose called per image.

    python benchmarks/augment.py            # 5 repetitions, median
    python benchmarks/augment.py --quick    # 3 repetitions, under 3 minutes
    python benchmarks/augment.py --cuda     # adds images/s on a GPU

Every figure is measured twice: on a quiet machine, and while one competing CPU-bound process runs (a PyTorch
matrix-multiply loop with its default threads: another training job on the same machine). Contended figures
are reported beside the quiet ones (`contended.*`, with `vs_uncontended`).

Writes benchmarks/results/augment.json and the augmentation section of benchmarks/BENCHMARKS.md.
"""
import argparse, contextlib, json, os, platform, random, statistics, subprocess, sys, time
from pathlib import Path

import numpy as np
import torch

from bench_md import update_section

from mixed_ft.augment import Compose, RandomResizedCrop, HFlip, GaussianNoise, cv2_pipeline
from mixed_ft.augment_text import TextCompose, TokenSwap, TokenDelete, TokenInsert, TokenMask, augment_strings

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get('MIXED_FT_DATA', ROOT.parent/'shared'/'data'))
P = 0.1  # per-word probability of each text op


COMPETITOR = "import torch\na = torch.rand(512, 512)\nwhile True: a @ a"


@contextlib.contextmanager
def busy_machine():
    "One competing CPU-bound process (PyTorch matmuls on its default threads) for the duration of the block"
    p = subprocess.Popen([sys.executable, '-c', COMPETITOR])
    time.sleep(2.)  # let it start and spin up its threads
    try: yield
    finally: p.kill(); p.wait()


def median_rate(fns:dict, n:int, reps:int) -> dict:
    "Items per second for each function: the median over `reps` interleaved repetitions"
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            t0 = time.perf_counter(); f(); times[k].append(time.perf_counter() - t0)
    return {k: n / statistics.median(v) for k, v in times.items()}


def python_loop(sentences, rng:random.Random):
    "Swap, delete, insert and mask, one sentence at a time in plain Python"
    out = []
    for s in sentences:
        w = s.split()
        i = 0
        while i < len(w) - 1:
            if rng.random() < P: w[i], w[i + 1] = w[i + 1], w[i]; i += 2
            else: i += 1
        kept = [x for x in w if rng.random() >= P] or w
        ins = []
        for x in kept:
            if rng.random() < P: ins.append(rng.choice(kept))
            ins.append(x)
        out.append(' '.join('[MASK]' if rng.random() < P else x for x in ins))
    return out


def bench_text(n:int, reps:int) -> dict:
    path = DATA/'sst2'/'train.tsv'
    if not path.exists(): sys.exit(f"SST-2 not found at {path}: set MIXED_FT_DATA to the folder that holds sst2/train.tsv")
    lines = path.read_text().splitlines()[1:n + 1]
    sents = [l.split('\t')[1] for l in lines]
    import nlpaug.augmenter.word as naw
    nl = [naw.RandomWordAug(action='swap', aug_p=P), naw.RandomWordAug(action='delete', aug_p=P),
          naw.RandomWordAug(action='substitute', aug_p=P, target_words=['[MASK]'])]
    def nlpaug_run():
        out = sents
        for a in nl: out = a.augment(out)
        return out
    pipe = TextCompose([TokenSwap(P), TokenDelete(P), TokenInsert(P), TokenMask(P)])
    g = torch.Generator().manual_seed(0)
    rng = random.Random(0)
    ours = augment_strings(sents, pipe, g)
    assert len(ours) == len(sents) and sum('[MASK]' in s for s in ours) > 0.3 * len(sents)
    # the form the trainer sees: padded token ids, in length buckets of about 1,250 sentences
    from mixed_ft.augment_text import TokenSpec, _encode_words
    order = sorted(range(len(sents)), key=lambda i: len(sents[i].split()))
    chunks = [[sents[i] for i in order[k:k + 1250]] for k in range(0, len(order), 1250)]
    id_batches = [dict(zip(('input_ids', 'attention_mask'), _encode_words([c.split() for c in ch])[:2])) for ch in chunks]
    spec = TokenSpec(pad_id=0, mask_id=1)
    rates = median_rate({'mixed_ft': lambda: augment_strings(sents, pipe, g), 'nlpaug': nlpaug_run,
                         'python': lambda: python_loop(sents, rng),
                         'mixed_ft_ids': lambda: [pipe(b, spec, g) for b in id_batches]}, len(sents), reps)
    return {'sentences': len(sents), 'mean_words': float(np.mean([len(s.split()) for s in sents])),
            'mixed_ft_per_s': rates['mixed_ft'], 'nlpaug_per_s': rates['nlpaug'], 'python_per_s': rates['python'],
            'mixed_ft_ids_per_s': rates['mixed_ft_ids'],
            'ratio_vs_nlpaug': rates['mixed_ft'] / rates['nlpaug'], 'ratio_vs_python': rates['mixed_ft'] / rates['python'],
            'note': 'nlpaug RandomWordAug has no random insertion: its pipeline runs three of the four ops'}


def bench_images(n:int, reps:int, cuda:bool) -> dict:
    import albumentations as A
    rng = np.random.default_rng(0)
    imgs = rng.random((n, 224, 224, 3), dtype=np.float32)
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous()
    ops = [RandomResizedCrop(), HFlip(p=0.5), GaussianNoise(0.05)]
    pipe, pipe_inplace = Compose(ops), Compose(ops, inplace=True)
    xi = x.clone()
    alb = A.Compose([A.RandomResizedCrop(size=(224, 224), scale=(0.08, 1.), ratio=(3/4, 4/3)), A.HorizontalFlip(p=0.5),
                     A.GaussNoise(std_range=(0.05, 0.05), p=1.)])
    g = torch.Generator().manual_seed(0)
    rates = median_rate({'mixed_ft': lambda: pipe_inplace(xi, g), 'mixed_ft_new_batch': lambda: pipe(x, g), 'cv2_loop': lambda: [cv2_pipeline(im, rng) for im in imgs],
                         'albumentations': lambda: [alb(image=im)['image'] for im in imgs]}, n, reps)
    res = {'images': n, 'size': [224, 224], 'torch_threads': torch.get_num_threads(),
           'mixed_ft_per_s': rates['mixed_ft'], 'mixed_ft_new_batch_per_s': rates['mixed_ft_new_batch'],
           'note': 'mixed_ft_per_s writes into the input batch (Compose(inplace=True), as for a DataLoader batch); '
                   'mixed_ft_new_batch_per_s allocates a new 300 MB output batch per call, whose first-touch page faults it pays',
           'cv2_loop_per_s': rates['cv2_loop'], 'albumentations_per_s': rates['albumentations'],
           'ratio_vs_cv2_loop': rates['mixed_ft'] / rates['cv2_loop'], 'ratio_vs_albumentations': rates['mixed_ft'] / rates['albumentations']}
    if cuda and torch.cuda.is_available():
        xg = x.cuda(); pipe(xg); torch.cuda.synchronize()
        def gpu():
            pipe(xg); torch.cuda.synchronize()
        res['cuda_per_s'] = median_rate({'g': gpu}, n, max(reps, 10))['g']
        res['cuda_ratio_vs_albumentations'] = res['cuda_per_s'] / rates['albumentations']
        res['cuda_device'] = torch.cuda.get_device_name()
    return res


def write_markdown(res:dict, cmd:str):
    t, im = res['text'], res['image']
    rows = [
        "## Augmentation throughput (`benchmarks/augment.py`)", "",
        f"Command: `{cmd}` — {res['machine']}, median of {res['reps']} interleaved repetitions.", "",
        f"Text: {t['sentences']:,} SST-2 training sentences (mean {t['mean_words']:.1f} words), swap + delete + insert + mask (p = {P} each), strings in, strings out.", "",
        "| implementation | sentences/s | ratio |", "|---|---:|---:|",
        f"| mixed_ft, strings in and out (batched on ids inside) | {t['mixed_ft_per_s']:,.0f} | {t['ratio_vs_nlpaug']:.1f}x nlpaug |",
        f"| mixed_ft on padded token-id batches (what the trainer sees) | {t['mixed_ft_ids_per_s']:,.0f} | {t['mixed_ft_ids_per_s']/t['nlpaug_per_s']:.1f}x nlpaug |",
        f"| nlpaug RandomWordAug (swap, delete, substitute; no insertion) | {t['nlpaug_per_s']:,.0f} | 1.0x |",
        f"| plain Python loop, all four ops | {t['python_per_s']:,.0f} | {t['python_per_s']/t['nlpaug_per_s']:.1f}x nlpaug |", "",
        f"Images: {im['images']} RGB 224x224 float32, random resized crop + horizontal flip + Gaussian noise (sigma 0.05), {im['torch_threads']} torch threads.", "",
        "| implementation | images/s | ratio |", "|---|---:|---:|",
        f"| mixed_ft fused Compose, written into the input batch | {im['mixed_ft_per_s']:,.0f} | {im['ratio_vs_cv2_loop']:.1f}x cv2 loop, {im['ratio_vs_albumentations']:.1f}x albumentations |",
        f"| mixed_ft fused Compose, new output batch | {im['mixed_ft_new_batch_per_s']:,.0f} | {im['mixed_ft_new_batch_per_s']/im['cv2_loop_per_s']:.1f}x cv2 loop, {im['mixed_ft_new_batch_per_s']/im['albumentations_per_s']:.1f}x albumentations |",
        f"| the article's per-image OpenCV/NumPy loop | {im['cv2_loop_per_s']:,.0f} | 1.0x |",
        f"| albumentations Compose, per image | {im['albumentations_per_s']:,.0f} | {im['albumentations_per_s']/im['cv2_loop_per_s']:.1f}x cv2 loop |",
    ]
    tc, ic = t['contended'], im['contended']
    rows += ["", "With one competing CPU-bound process (a PyTorch matmul loop on its default threads), same run:", "",
             "| implementation | per s, contended | vs quiet machine | ratio |", "|---|---:|---:|---:|",
             f"| mixed_ft text, strings in and out | {tc['mixed_ft_per_s']:,.0f} | {tc['vs_uncontended']:.2f}x | {tc['ratio_vs_nlpaug']:.1f}x nlpaug |",
             f"| mixed_ft text, token-id batches | {tc['mixed_ft_ids_per_s']:,.0f} | {tc['ids_vs_uncontended']:.2f}x | {tc['mixed_ft_ids_per_s']/tc['nlpaug_per_s']:.1f}x nlpaug |",
             f"| nlpaug | {tc['nlpaug_per_s']:,.0f} | {tc['nlpaug_per_s']/t['nlpaug_per_s']:.2f}x | 1.0x |",
             f"| mixed_ft images, fused Compose | {ic['mixed_ft_per_s']:,.0f} | {ic['vs_uncontended']:.2f}x | {ic['ratio_vs_cv2_loop']:.1f}x cv2 loop, {ic['ratio_vs_albumentations']:.1f}x albumentations |",
             f"| cv2 loop | {ic['cv2_loop_per_s']:,.0f} | {ic['cv2_loop_per_s']/im['cv2_loop_per_s']:.2f}x | 1.0x |",
             f"| albumentations | {ic['albumentations_per_s']:,.0f} | {ic['albumentations_per_s']/im['albumentations_per_s']:.2f}x | |", "",
             "Text ops run on one intra-op thread below `SMALL_WORK` elements (`threads_for`, chapter `01_augment`): for token-id "
             "batches, thread start-up and barrier waits cost more than the work, and on a busy machine a thread spinning at a barrier "
             "for a descheduled sibling cost 3-6x. Image batches are shared out among worker threads that each run torch on one "
             "intra-op thread (`for_each_image`): no barrier per op, so a descheduled worker delays only its own images. Each crop is "
             "resized with its channels as the batch, (C, 1, h, w), which the one-thread bilinear kernel runs 2-3x faster than "
             "(1, C, h, w); before these two changes the contended figures were 1.25x nlpaug (text) and 0.12x the cv2 loop (images)."]
    if 'cuda_per_s' in im:
        rows.append(f"| mixed_ft on {im['cuda_device']} | {im['cuda_per_s']:,.0f} | {im['cuda_ratio_vs_albumentations']:.0f}x albumentations |")
    else:
        rows += ["", "GPU: not measured in this run (no CUDA device); `python benchmarks/augment.py --cuda` on a GPU machine adds the row."]
    update_section('augment', '\n'.join(rows))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='3 repetitions instead of 5')
    ap.add_argument('--cuda', action='store_true', help='also measure the image pipeline on a GPU')
    ap.add_argument('--sentences', type=int, default=10_000)
    ap.add_argument('--images', type=int, default=512)
    a = ap.parse_args()
    reps = 3 if a.quick else 5
    res = {'reps': reps, 'machine': f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
           'text': bench_text(a.sentences, reps), 'image': bench_images(a.images, reps, a.cuda)}
    with busy_machine():
        busy = {'text': bench_text(a.sentences, reps), 'image': bench_images(a.images, reps, False)}
    t, bt = res['text'], busy['text']
    t['contended'] = dict(mixed_ft_per_s=bt['mixed_ft_per_s'], nlpaug_per_s=bt['nlpaug_per_s'], python_per_s=bt['python_per_s'],
                          mixed_ft_ids_per_s=bt['mixed_ft_ids_per_s'], ratio_vs_nlpaug=bt['ratio_vs_nlpaug'],
                          vs_uncontended=bt['mixed_ft_per_s'] / t['mixed_ft_per_s'], ids_vs_uncontended=bt['mixed_ft_ids_per_s'] / t['mixed_ft_ids_per_s'])
    im, bi = res['image'], busy['image']
    im['contended'] = dict(mixed_ft_per_s=bi['mixed_ft_per_s'], cv2_loop_per_s=bi['cv2_loop_per_s'], albumentations_per_s=bi['albumentations_per_s'],
                           ratio_vs_cv2_loop=bi['ratio_vs_cv2_loop'], ratio_vs_albumentations=bi['ratio_vs_albumentations'],
                           vs_uncontended=bi['mixed_ft_per_s'] / im['mixed_ft_per_s'])
    res['competitor'] = COMPETITOR
    cmd = 'python benchmarks/augment.py' + (' --quick' if a.quick else '') + (' --cuda' if a.cuda else '')
    res['command'] = cmd
    out = ROOT/'benchmarks'/'results'/'augment.json'
    out.write_text(json.dumps(res, indent=2))
    write_markdown(res, cmd)
    print(json.dumps(res, indent=2))


if __name__ == '__main__': main()
