"Under torchrun: the teacher cache is filled once, by rank 0, and every process reads the same values"
import sys, torch, torch.distributed as dist
from mixed_ft.core import rank, world_size
from mixed_ft.train import init_distributed
from mixed_ft.distill import TeacherCache, Teacher

init_distributed()
calls = []
torch.manual_seed(0)
net = Teacher(torch.nn.Linear(4, 3))
class Counting:
    def __call__(self, b): calls.append(len(b['idx'])); return net(b)
X = torch.randn(32, 4)
loader = [{'x': X[i:i + 8], 'idx': torch.arange(i, i + 8)} for i in range(0, 32, 8)]
cache = TeacherCache(sys.argv[1], 'fp-teacher', 'fp-data', 32, 3).fill(Counting(), loader, progress=False)
got = cache.get(torch.arange(32).numpy(), torch.zeros(32, dtype=torch.long).numpy())
parts = [None] * world_size(); dist.all_gather_object(parts, (sum(calls), got))
if rank() == 0:
    assert parts[0][0] == 32 and all(p[0] == 0 for p in parts[1:]), [p[0] for p in parts]   # the teacher ran once, on rank 0
    assert all(torch.equal(p[1], parts[0][1]) for p in parts)                              # every process reads the same values
    assert torch.allclose(parts[0][1], net({'x': X}), atol=1e-2)
    print('cache ok')
from mixed_ft.train import finish_distributed; finish_distributed()
