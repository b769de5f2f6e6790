"Trains the toy model for tests/test_distributed.py, in one process or under torchrun; rank 0 writes the results"
import json, sys
import torch
from torch.utils.data import DataLoader, DistributedSampler
from mixed_ft.core import is_main, world_size
from mixed_ft.train import Trainer, Checkpoint
from mixed_ft.distributed import full_state_dict
from toys import toy_data, toy_model

out, parallel, per_rank_batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
ds, valid = toy_data(256), toy_data(100, seed=1)
torch.manual_seed(0)
model = toy_model()
if world_size() == 1:  # the single-process reference draws the same order a DistributedSampler would
    train_dl = DataLoader(ds, batch_size=per_rank_batch, sampler=DistributedSampler(ds, num_replicas=1, rank=0, shuffle=True, seed=0))
else: train_dl = DataLoader(ds, batch_size=per_rank_batch, shuffle=True)
cbs = [Checkpoint(out + '_ckpt')] if parallel == 'ddp' else []
tr = Trainer(model, None, train_dl, DataLoader(valid, batch_size=16), epochs=3, lr=1e-2, seed=0, progress=False,
             parallel=parallel, callbacks=cbs)
tr.fit()
sd = full_state_dict(model)  # FSDP: gathered from the shards
if is_main():
    torch.save(sd, out + '.pt')
    json.dump(tr.history, open(out + '.json', 'w'))
from mixed_ft.train import finish_distributed; finish_distributed()
