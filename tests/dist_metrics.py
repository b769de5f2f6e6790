"Under torchrun: evaluation streams each process's shard and sums the counts; a process with no example at all still takes part"
import torch
from torch.utils.data import DataLoader, TensorDataset
from mixed_ft.core import is_main
from mixed_ft.metrics import Accuracy, MacroF1, Loss
from mixed_ft.train import Trainer, finish_distributed
from toys import toy_data, toy_model

torch.manual_seed(0)
m = toy_model()
tr = Trainer(m, None, DataLoader(toy_data(64), batch_size=8), epochs=1, progress=False)
for n in (101, 1):   # an odd split (51 + 50), and a split in which rank 1 gets nothing
    ds = toy_data(n, seed=2)
    got = tr.evaluate(DataLoader(ds, batch_size=16))
    x, y = ds.tensors
    with torch.no_grad(): logits = m(x)
    want = {}
    for metric in (Loss(), Accuracy(), MacroF1()):
        metric.update(logits, y); want.update(metric.compute())
    assert all(abs(got[k] - want[k]) < 1e-6 for k in want), (n, got, want)
if is_main(): print('metrics ok')
finish_distributed()
