"Under torchrun: length-bucketed text batches are split between processes, and evaluation covers every example"
import torch
from mixed_ft.core import is_main
from mixed_ft.train import Trainer
from mixed_ft.text import Vocab, TextDataset, text_loader, BiLSTMClassifier
texts = ['a good film', 'a bad film', 'good fun', 'bad acting', 'very good indeed', 'not good', 'fine'] * 15
labels = [1, 0, 1, 0, 1, 0, 1] * 15
voc = Vocab.build(texts); torch.manual_seed(0)
m = BiLSTMClassifier(len(voc), 2, emb_dim=8, hidden=8)
tr = Trainer(m, None, text_loader(TextDataset(texts, labels, voc), 8), text_loader(TextDataset(texts, labels, voc), 16, shuffle=False), epochs=2, progress=False)
_, y = tr.predict(tr.valid_dl)
assert len(y) == len(texts), (len(y), len(texts))   # every example evaluated once, across both processes
if is_main(): print("text ok")
from mixed_ft.train import finish_distributed; finish_distributed()
