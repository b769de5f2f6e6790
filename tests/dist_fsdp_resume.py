"Under torchrun with FSDP2: a run stopped mid-epoch and resumed from its sharded checkpoint ends where an unbroken run does"
import json, sys
from pathlib import Path
import torch
from torch.utils.data import DataLoader
from mixed_ft.core import Callback, is_main
from mixed_ft.train import Trainer, Checkpoint, KeepBest, finish_distributed
from mixed_ft.distributed import full_state_dict
from toys import toy_data, toy_model

out = Path(sys.argv[1])
ds, valid = toy_data(256), toy_data(100, seed=1)   # 256 examples, 16 per process and step: 8 steps per epoch


class Crash(Callback):
    "Fail at a step, as a killed run would (after the checkpoint of step 10, before the one of step 15)"
    def __init__(self, at): self.at = at
    def after_step(self, tr):
        if tr.step == self.at: raise RuntimeError('crash')


def run(*cbs, resume=None):
    torch.manual_seed(0)
    tr = Trainer(toy_model(), None, DataLoader(ds, batch_size=16, shuffle=True), DataLoader(valid, batch_size=16), epochs=3, lr=1e-2,
                 seed=0, progress=False, parallel='fsdp', callbacks=[KeepBest('valid_loss', 'max'), *cbs])
    # KeepBest keeps the *worst* epoch (the first): in the resumed run those weights exist only in the checkpoint's shards
    try: tr.fit(resume_from=resume)
    except RuntimeError as e:
        if str(e) != 'crash': raise
    return tr, full_state_dict(tr.model)   # gathered from the shards


ref, ref_w = run()
broken, _ = run(Checkpoint(out/'ckpt', monitor='valid_loss', mode='min', every_steps=5), Crash(13))
ck = out/'ckpt'
step_saved = torch.load(ck/'last.dcp'/'trainer.pt', weights_only=True)['step']
resumed, res_w = run(Checkpoint(out/'ckpt2', monitor=None), resume=ck)
if is_main():
    diff = max((ref_w[k] - res_w[k]).abs().max().item() for k in ref_w)
    loss = lambda h: [round(r['loss'], 6) for r in h if 'loss' in r]
    json.dump(dict(step_saved=step_saved, diff=diff, resumed_from=str(resumed.resumed_from), steps=resumed.step,
                   best_step=[c for c in resumed.callbacks if isinstance(c, KeepBest)][0].best_step,
                   same_history=loss(ref.history) == loss(resumed.history), n_loss=len(loss(resumed.history)),
                   files=sorted(p.name for p in ck.iterdir()), prev=sorted(p.name for p in (ck/'last.prev.dcp').iterdir()),
                   best=torch.load(ck/'best.dcp'/'trainer.pt', weights_only=True)['step']), open(out/'fsdp_resume.json', 'w'))
finish_distributed()
