"Under torchrun with Compile(): DDP still averages the gradients, so every process ends on the same weights"
import torch, torch.distributed as dist
from torch.utils.data import DataLoader
from mixed_ft.core import rank, world_size
from mixed_ft.train import Trainer, Compile, finish_distributed
from toys import toy_data, toy_model

torch.manual_seed(0)
m = toy_model()
tr = Trainer(m, None, DataLoader(toy_data(256), batch_size=16, shuffle=True), epochs=2, lr=1e-2, seed=0, progress=False,
             callbacks=[Compile(backend='eager')])
tr.fit()
assert hasattr(tr.forward_model, '_orig_mod') and isinstance(tr.forward_model._orig_mod, torch.nn.parallel.DistributedDataParallel)
w = torch.cat([p.detach().flatten() for p in m.parameters()])
parts = [None] * world_size(); dist.all_gather_object(parts, w)
if rank() == 0:
    diff = max((p - parts[0]).abs().max().item() for p in parts)
    assert diff == 0., diff
    print('compile ok')
finish_distributed()
