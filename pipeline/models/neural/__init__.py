"""CTGAN and TVAE of our own (Xu et al., NeurIPS 2019), in torch.

`modes` (one vectorised EM for every numeric column's modes), `encoding` (mode-specific
normalisation and one-hot blocks, back to columns), `segments` (every block's softmax in one
pass), `conditions` (the conditional vector and training-by-sampling), `monitor` (a cheap
fidelity probe and early stopping), `synthesizer` (what both models share: the epoch loop,
threads and device, weights as arrays), `ctgan` and `tvae` (the networks and their steps).
"""
