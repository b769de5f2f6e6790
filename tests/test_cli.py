"The installed `mixed-ft` command, run as a user would: help, errors without tracebacks, a short demo, train and resume"
import json, subprocess
from pathlib import Path

import torch
from conftest import mixed_ft_cmd
from mixed_ft.threads import thread_policy


def run(args, env, cwd=None, timeout=300):
    return subprocess.run(mixed_ft_cmd() + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_help_lists_subcommands(cli_env):
    r = run(['--help'], cli_env)
    assert r.returncode == 0
    assert 'demo' in r.stdout and 'train' in r.stdout
    r = run(['train', '--help'], cli_env)
    assert r.returncode == 0 and 'TOML file describing the run' in r.stdout  # help text from docments


def test_bad_argument_and_bad_config_get_messages(cli_env, tmp_path):
    r = run(['demo', '--epochs', 'ten'], cli_env)
    assert r.returncode == 2 and "invalid int value: 'ten'" in r.stderr and 'Traceback' not in r.stderr
    r = run(['demo', '--bogus'], cli_env)
    assert r.returncode == 2 and 'unrecognized arguments: --bogus' in r.stderr
    cfg = tmp_path/'run.toml'
    cfg.write_text('[trainer]\nepoch = 3\n')
    r = run(['train', str(cfg)], cli_env)
    assert r.returncode == 1 and "unknown key 'epoch' in [trainer]. Did you mean 'epochs'?" in r.stderr
    assert 'Traceback' not in r.stderr
    cfg.write_text('[trainer\nepochs = 3\n')
    r = run(['train', str(cfg)], cli_env)
    assert r.returncode == 1 and 'is not valid TOML' in r.stderr
    cfg.write_text('[strategies]\nset = "KD"\n[teacher]\npath = "nowhere/teacher.pt"\n[trainer]\nepochs = 1\n')
    r = run(['train', str(cfg)], cli_env)
    assert r.returncode == 1 and f'No weights at {tmp_path}/nowhere/teacher.pt' in r.stderr   # relative to the config's folder


def test_demo_short_run_prints_table_and_writes_results(cli_env, tmp_path):
    r = run(['demo', '--epochs', '2', '--seeds', '0,1', '--out', str(tmp_path/'demo'), '--no-progress'], cli_env)
    assert r.returncode == 0, r.stderr
    for name in ('plain', 'DA', 'TA', 'KD', 'DA+TA+KD'):   # the demo's sets: the digits application's ablation
        assert f'| {name} |' in r.stdout
    res = json.loads((tmp_path/'demo'/'ablation.json').read_text())
    assert res['info']['seeds'] == [0, 1] and res['info']['epochs'] == 2 and res['info']['app'] == 'digits'
    assert all(r['seeds'] == [0, 1] for r in res['summary'].values())
    assert (tmp_path/'demo'/'histories.png').stat().st_size > 10_000


def test_train_distills_from_the_demo_teacher(cli_env, tmp_path):
    "The teacher the demo trained and kept is used by `train`; a teacher of another width is refused with the fix"
    r = run(['demo', '--epochs', '1', '--seeds', '0', '--out', str(tmp_path/'demo'), '--no-progress'], cli_env)
    assert r.returncode == 0, r.stderr
    teacher, = (tmp_path/'demo'/'work').glob('digits_teacher_*.pt')
    cfg = tmp_path/'kd.toml'
    text = (f'[data]\nn_train = 96\n[strategies]\nset = "DA+KD"\n[teacher]\npath = "{teacher}"\n'
            f'[trainer]\nepochs = 2\n[output]\ndir = "{tmp_path}/kd"\n')
    cfg.write_text(text.replace('[teacher]\n', '[teacher]\nwidth = 16\n'))
    r = run(['train', str(cfg), '--no-progress'], cli_env)
    assert r.returncode == 1 and 'do not fit a DigitsCNN of width 16' in r.stderr
    cfg.write_text(text)
    r = run(['train', str(cfg), '--no-progress'], cli_env)
    assert r.returncode == 0, r.stderr
    hist = json.loads((tmp_path/'kd'/'history.json').read_text())
    steps = [h for h in hist if 'loss/kd' in h]
    assert len(steps) == 2 * 3 and all(h['w/kd'] == 0.5 and h['w/ce'] == 0.5 for h in steps)


def tiny_llama(folder):
    "A tiny untrained Llama teacher saved as a Hugging Face folder, text files and a cat/dog task file, written to `folder`"
    import random
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    words = 'the a cat dog sat ran on mat log and then it was very good review sentiment negative positive'.split()
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(['<unk>', '<eos>'] + words)}, unk_token='<unk>'))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token='<unk>', eos_token='<eos>', pad_token='<eos>')
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(words) + 2, hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4,
                                 num_key_value_heads=2, max_position_embeddings=64)).save_pretrained(folder/'teacher')
    tok.save_pretrained(folder/'teacher')
    rng = random.Random(0)
    sents = ['the cat sat on the mat', 'a dog ran on a log', 'then it was very good']
    for split, n in (('train', 200), ('valid', 30)): (folder/f'{split}.txt').write_text('\n'.join(rng.choice(sents) for _ in range(n)))
    for split, n in (('task_train', 128), ('task_valid', 32)):   # label 1 for a cat, 0 for a dog
        rows = [(f"the {a} {rng.choice(['sat', 'ran'])} on a mat", int(a == 'cat')) for a in (rng.choice(['cat', 'dog']) for _ in range(n))]
        (folder/f'{split}.tsv').write_text('sentence\tlabel\n' + ''.join(f'{t}\t{l}\n' for t, l in rows))
    return len(words) + 2


def test_train_a_causal_lm_from_a_config(cli_env, tmp_path):
    "`app = \"causal-lm\"`: a tiny Llama teacher saved as a Hugging Face folder, text files, DA+KD, progress bars on"
    n_tokens = tiny_llama(tmp_path)
    (tmp_path/'run.toml').write_text('app = "causal-lm"\n[data]\ntrain = "train.txt"\nvalid = "valid.txt"\nblock = 16\nbatch_size = 16\n'
                                     '[model]\nkeep = 2\n[teacher]\npath = "teacher"\n[strategies]\nset = "DA+KD"\n[trainer]\nepochs = 3\nlr = 3e-3\n'
                                     '[output]\ndir = "runs/lm"\n')
    r = run(['train', 'run.toml'], cli_env, cwd=tmp_path)
    assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert res['valid_perplexity'] < n_tokens / 2, res       # guessing among the tokens would score n_tokens (the tiny teacher is untrained)
    hist = json.loads((tmp_path/'runs'/'lm'/'history.json').read_text())
    assert any('loss/kd' in h for h in hist) and (tmp_path/'runs'/'lm'/'model'/'model.safetensors').exists()
    r = run(['predict', 'runs/lm', 'valid.txt', '--perplexity', '--no-progress'], cli_env, cwd=tmp_path)   # the reported perplexity, from the export
    assert r.returncode == 0 and abs(json.loads(r.stdout)['perplexity'] - res['valid_perplexity']) < 1e-4 * res['valid_perplexity'], r.stderr[-2000:]
    (tmp_path/'prompts.txt').write_text('the cat\na dog ran\n')
    r = run(['predict', 'runs/lm', 'prompts.txt', '--max-new-tokens', '4', '--no-progress'], cli_env, cwd=tmp_path)
    recs = [json.loads(l) for l in r.stdout.splitlines()]
    assert r.returncode == 0 and [x['prompt'] for x in recs] == ['the cat', 'a dog ran'] and all(x['continuation'].strip() for x in recs), r.stderr[-2000:]
    r = run(['train', '--example', 'causal-lm'], cli_env)
    assert r.returncode == 0 and 'app = "causal-lm"' in r.stdout and 'kd_loss = "kl"' in r.stdout


def test_ablate_a_causal_lm_by_perplexity(cli_env, tmp_path):
    "`mixed-ft ablate` with app = \"causal-lm\": perplexities shown as they are, TA with its task's accuracy, KD from a top-k cache"
    n_tokens = tiny_llama(tmp_path)
    (tmp_path/'grid.toml').write_text('app = "causal-lm"\n[data]\ntrain = "train.txt"\nvalid = "valid.txt"\nblock = 16\nbatch_size = 16\n'
                                      'task_train = "task_train.tsv"\ntask_valid = "task_valid.tsv"\ntask_prompt = "review {text} sentiment"\n'
                                      '[model]\nkeep = 2\n[teacher]\npath = "teacher"\n[strategies]\ntopk = 8\n[trainer]\nepochs = 3\nlr = 3e-3\n'
                                      '[output]\nwork_dir = "work"\n[ablate]\nsets = ["plain", "TA", "KD"]\nseeds = [0, 1]\nout = "grid"\n')
    r = run(['ablate', 'grid.toml'], cli_env, cwd=tmp_path)
    assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr[-3000:]
    res = json.loads((tmp_path/'grid'/'ablation.json').read_text())
    assert res['metric'] == 'valid perplexity' and [(x['set'], x['seed']) for x in res['runs']] == [(s, k) for s in ('plain', 'TA', 'KD') for k in (0, 1)]
    sm = res['summary']
    for name, v in sm.items():   # the table prints each perplexity as it is (not as a percentage), to one decimal
        assert 1 < v['mean'] < n_tokens / 2 and f"| {name} | {v['mean']:.1f} ± {v['std']:.1f} |" in r.stdout, (name, v)
        runs = [x for x in res['runs'] if x['set'] == name]
        assert abs(v['mean'] - sum(x['perplexity'] for x in runs) / 2) < 1e-9
    assert sm['TA']['diff'] is not None and abs(sm['TA']['diff']['mean'] - (sm['TA']['mean'] - sm['plain']['mean'])) < 1e-9
    acc = {name: sum(x['task_accuracy'] for x in res['runs'] if x['set'] == name) / 2 for name in sm}
    assert acc['TA'] >= 0.95 and acc['TA'] > acc['plain'], acc           # only TA trains on the task; every set is scored on it
    assert 'task_accuracy' in res['info']['teacher_scores'] and res['info']['n_task_train'] == 128
    assert len(list((tmp_path/'work').glob('lm_cache_*_8'))) == 1 and (tmp_path/'grid'/'ablation.png').stat().st_size > 10_000


def test_train_translation_from_a_config(cli_env, tmp_path):
    "`app = \"translation\"` on a 200-pair Multi30k sample: DA+TA+KD with both KD forms, progress bars on; the export translates"
    import os, tomllib, sacrebleu
    from mixed_ft.translation import read_parallel
    from mixed_ft.translation_app import load_translator, translate_texts
    data = Path(os.environ.get('MIXED_FT_DATA', Path(__file__).resolve().parents[2]/'shared'/'data'))/'multi30k'
    if (data/'train.en').exists():
        src, tgt = read_parallel(data/'train.en', data/'train.de'); vsrc, vtgt = read_parallel(data/'val.en', data/'val.de')
    else:   # without the shared data: a toy corpus of the same shape
        src = vsrc = [f'a man number {i} walks' for i in range(240)]; tgt = vtgt = [f'ein mann nummer {i} geht' for i in range(240)]
    for name, s, t in (('train', src[:200], tgt[:200]), ('val', vsrc[:30], vtgt[:30])):
        (tmp_path/f'{name}.en').write_text('\n'.join(s) + '\n'); (tmp_path/f'{name}.de').write_text('\n'.join(t) + '\n')
    (tmp_path/'run.toml').write_text('app = "translation"\n[data]\ntrain = "train"\nvalid = "val"\nvocab_size = 400\nbatch_size = 32\n'
                                     '[model]\nd_model = 32\nheads = 2\nenc_layers = 1\ndec_layers = 1\nff = 64\nbeam = 2\n'
                                     '[teacher]\nd_model = 32\nheads = 2\nenc_layers = 1\ndec_layers = 1\nff = 64\nepochs = 1\n'
                                     '[strategies]\nset = "DA+TA+KD"\n[trainer]\nepochs = 2\nthreads = 1\n[output]\ndir = "runs/mt"\n')
    # one thread, set in the config: the evaluation and predict (which follows the run's [trainer] threads) compute alike;
    # on automatic threads they may differ in the last bits, and an untrained model's near-ties then decode differently
    r = run(['train', 'run.toml'], cli_env, cwd=tmp_path)
    assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert {'valid_bleu', 'valid_chrf', 'valid_bleu_beam', 'valid_chrf_beam'} <= set(res) and 0 <= res['valid_bleu_beam'] <= 100, res
    hist = json.loads((tmp_path/'runs'/'mt'/'history.json').read_text())
    assert {'loss/ce', 'loss/mlm', 'loss/kd'} <= set(hist[0])
    model, vocab = load_translator(tmp_path/'runs'/'mt')   # the exported model is the one scored: its greedy BLEU on val is the reported one
    with thread_policy(model, 'cpu', 1, 'the check'):
        assert abs(sacrebleu.corpus_bleu(translate_texts(vsrc[:30], model, vocab, beam=1), [vtgt[:30]]).score - res['valid_bleu']) < 1e-6
    r = run(['predict', 'runs/mt', 'val.en', '--format', 'text', '--no-progress'], cli_env, cwd=tmp_path)   # beam 2, the run's
    assert r.returncode == 0, r.stderr[-2000:]
    assert '1 intra-op thread for prediction (set explicitly)' in r.stderr, r.stderr[-2000:]   # the run's [trainer] threads
    lines = r.stdout.split('\n')[:-1]   # one line per sentence; not splitlines(): an untrained model's output may hold \x1e or \x85
    assert len(lines) == 30, len(lines)
    assert abs(sacrebleu.corpus_bleu(lines, [vtgt[:30]]).score - res['valid_bleu_beam']) < 1e-6
    (tmp_path/'val.de').write_text('\n'.join(vtgt[:29]) + '\n')   # one line short
    r = run(['train', 'run.toml', '--overwrite'], cli_env, cwd=tmp_path)
    assert r.returncode == 1 and 'has 30 sentences and' in r.stderr and 'has 29' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]
    r = run(['train', '--example', 'translation'], cli_env)
    assert r.returncode == 0 and tomllib.loads(r.stdout)['strategies']['kd'] == 'both'


def test_ablate_budgets_equal_steps_and_converge(cli_env, tmp_path):
    "`[ablate] budget = \"steps\"`: every set the same optimizer steps, though DA's transfer set holds 3x the rows; `--budget converge`: early stopping stops"
    import random
    rng = random.Random(0)
    rows = [(f"the {rng.choice(['film', 'story', 'cast'])} was {w} {rng.choice(['today', 'again', 'here'])}", int(w in ('good', 'great', 'fine')))
            for w in (rng.choice(['good', 'great', 'fine', 'bad', 'dull', 'poor']) for _ in range(96))]
    (tmp_path/'train.tsv').write_text('label\tsentence\n' + ''.join(f'{y}\t{t}\n' for t, y in rows))
    (tmp_path/'dev.tsv').write_text('label\tsentence\n' + ''.join(f'{y}\t{t}\n' for t, y in rows[:32]))
    (tmp_path/'grid.toml').write_text('app = "text-classification"\n[data]\ntrain = "train.tsv"\nvalid = "dev.tsv"\nbatch_size = 16\nn_copies = 2\n'
                                      '[teacher]\nepochs = 1\n[trainer]\nlr = 3e-3\n'
                                      '[ablate]\nsets = ["plain", "DA", "DA+TA+KD"]\nseeds = [0]\nbudget = "steps"\nsteps = 15\n'
                                      'patience = 1\neval_every = 3\nmax_steps = 300\nout = "grid"\n')
    r = run(['ablate', 'grid.toml'], cli_env, cwd=tmp_path)   # progress bars on
    assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr[-3000:]
    runs = json.loads((tmp_path/'grid'/'ablation.json').read_text())['runs']
    assert [(x['set'], x['steps'], x['examples']) for x in runs] == [(s, 15, 15 * 16) for s in ('plain', 'DA', 'DA+TA+KD')]
    assert '| optimizer steps | examples seen |' in r.stdout and (tmp_path/'grid'/'frontier.png').exists()
    r = run(['ablate', 'grid.toml', '--budget', 'converge', '--out', 'conv', '--no-progress'], cli_env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    runs = json.loads((tmp_path/'conv'/'ablation.json').read_text())['runs']
    for x in runs:   # stopped one evaluation (3 steps) after its best, long before the cap
        assert x['steps'] == x['best_step'] + 3 and x['steps'] < 300, x
