#!/usr/bin/env python3
"""Trains the `digits` sample's classifier and writes what the job ships.

The data is scikit-learn's copy of the UCI optical handwritten digits (1 797 images of 8x8
pixels, values 0-16, from 43 writers), which the package ships, so no download is needed:

    python3 -m venv /tmp/digits-venv
    /tmp/digits-venv/bin/pip install numpy scikit-learn
    /tmp/digits-venv/bin/python examples/jobs/digits/train.py

A multilayer perceptron 64-128-128-10 with ReLU, trained in float32 with Adam on a fixed split
(seeded shuffle, 1 437 images to train, 360 held out) from a fixed seed, so a rerun writes the
same files. Writes, next to this script:

- `weights.bin`: the layers in order, each as its weights (inputs x outputs, row-major) then
  its biases, little-endian f32; the job embeds it (`include_bytes!`);
- `test-images.bin`: the 360 held-out images as records of 65 bytes (the label, then the 64
  pixels), the input format of the job.
"""

import pathlib

import numpy as np
from sklearn.datasets import load_digits

LAYERS = [64, 128, 128, 10]
SEED = 20261203
EPOCHS = 300
BATCH = 64
RATE = 1e-3


def forward(params, x):
    """Activations of every layer; the last one is the logits."""
    acts = [x]
    for i, (w, b) in enumerate(params):
        z = acts[-1] @ w + b
        acts.append(z if i == len(params) - 1 else np.maximum(z, 0))
    return acts


def train(x, y, rng):
    params = []
    for n_in, n_out in zip(LAYERS, LAYERS[1:]):
        w = rng.normal(0, np.sqrt(2 / n_in), (n_in, n_out)).astype(np.float32)
        params.append((w, np.zeros(n_out, np.float32)))
    m = [(np.zeros_like(w), np.zeros_like(b)) for w, b in params]
    v = [(np.zeros_like(w), np.zeros_like(b)) for w, b in params]
    step = 0
    for _ in range(EPOCHS):
        order = rng.permutation(len(x))
        for start in range(0, len(x), BATCH):
            idx = order[start : start + BATCH]
            acts = forward(params, x[idx])
            # softmax cross-entropy gradient
            logits = acts[-1] - acts[-1].max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(idx)), y[idx]] -= 1
            grad = p / len(idx)
            step += 1
            for i in reversed(range(len(params))):
                w, b = params[i]
                gw, gb = acts[i].T @ grad, grad.sum(axis=0)
                if i > 0:
                    grad = (grad @ w.T) * (acts[i] > 0)
                new = []
                for j, (param, g) in enumerate(((w, gw), (b, gb))):
                    mj = m[i][j] * 0.9 + g * 0.1
                    vj = v[i][j] * 0.999 + g * g * 0.001
                    m[i] = (mj, m[i][1]) if j == 0 else (m[i][0], mj)
                    v[i] = (vj, v[i][1]) if j == 0 else (v[i][0], vj)
                    mhat, vhat = mj / (1 - 0.9**step), vj / (1 - 0.999**step)
                    new.append((param - RATE * mhat / (np.sqrt(vhat) + 1e-8)).astype(np.float32))
                params[i] = tuple(new)
    return params


def main():
    here = pathlib.Path(__file__).resolve().parent
    digits = load_digits()
    pixels, labels = digits.data.astype(np.uint8), digits.target.astype(np.uint8)
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(pixels))
    train_idx, test_idx = order[:1437], order[1437:]
    x = pixels.astype(np.float32) / 16
    params = train(x[train_idx], labels[train_idx], rng)
    for name, idx in (("train", train_idx), ("test", test_idx)):
        guess = forward(params, x[idx])[-1].argmax(axis=1)
        print(f"{name} accuracy {np.mean(guess == labels[idx]):.4f} ({len(idx)} images)")
    with open(here / "weights.bin", "wb") as f:
        for w, b in params:
            f.write(w.astype("<f4").tobytes())
            f.write(b.astype("<f4").tobytes())
    records = np.concatenate([labels[test_idx, None], pixels[test_idx]], axis=1)
    (here / "test-images.bin").write_bytes(records.astype(np.uint8).tobytes())
    print(f"wrote weights.bin ({sum(w.size + b.size for w, b in params) * 4} bytes)")
    print(f"wrote test-images.bin ({records.size} bytes)")


if __name__ == "__main__":
    main()
