# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 9. What convnets see: gradients with respect to the image
#
# Training moves the weights along the gradient of the loss. Nothing stops us from asking the
# same engine for the gradient with respect to the *input* instead, with the weights held fixed.
# That one question, "how would this number change if the pixels changed?", is behind a family of
# pictures from the lecture's "ConvNets are everywhere" slides:
#
# * **saliency maps**: which pixels the class score is most sensitive to;
# * **class model visualisation**: an image built from scratch to maximise one class score;
# * **fooling images**: the smallest change that makes the network change its mind;
# * **inceptionism** ("deep dream"): an image pushed to excite one layer ever more;
# * **texture synthesis**: an image whose feature statistics (Gram matrices) match a target's.
#
# All of them are a few lines with `autograd.grad(output, image)` and a loop. We first train the
# small CNN of `nn.models` on the 8x8 digits, then look at it through each method.

# %%
# %matplotlib inline
import os

import matplotlib.pyplot as plt
import numpy as np
from threadpoolctl import threadpool_limits  # installed with scikit-learn, which load_digits uses

import autograd
import nn
import nn.functional as F
from nn.data import CIFAR10_CLASSES, DataLoader, TensorDataset, load_cifar10, load_digits
from nn.models import cnn
from nn.train import fit

autograd.manual_seed(0)  # parameter initialisation and dropout draw from autograd.generator()
rng = np.random.default_rng(0)  # everything else this notebook draws at random
# Every method below multiplies many small matrices, one image at a time. Several BLAS threads
# gain little on such products and, on a busy machine, wait on each other (texture synthesis ran
# 10x slower with them on our 2-core machine under load), so this notebook uses one.
threadpool_limits(limits=1, user_api="blas")

X_train, y_train = load_digits("train")
X_test, y_test = load_digits("test")
model = cnn(in_channels=1, classes=10, image_size=8, width=16)
history = fit(
    model,
    DataLoader(TensorDataset(X_train, y_train), batch_size=64, shuffle=True, seed=0),
    nn.optim.Adam(model.parameters(), lr=0.01),
    epochs=6,
    test_loader=DataLoader(TensorDataset(X_test, y_test), batch_size=360),
    progress=False,
)
model.eval()  # from here on BatchNorm uses its running averages: each image is scored on its own
print(model)
print(f"test accuracy after {len(history)} epochs: {history['test_acc'][-1]:.3f}")

# %% [markdown]
# ## The one tool: the gradient of a score with respect to the pixels
#
# `score_gradient` runs the images through the model with `requires_grad=True` on the input and
# returns, for each image, the gradient of the score of one chosen class with respect to its
# pixels. The network's weights also require gradients, but
# `autograd.grad` only returns the ones we ask for and leaves every `.grad` untouched. Since the
# model is in evaluation mode the images do not interact, so summing the chosen scores over the
# batch gives each image its own gradient in a single backward pass.

# %%
def score_gradient(net, images, classes):
    """Scores (N, classes) of the images and d score[n, classes[n]] / d images[n], shape (N, C, H, W)."""
    x = autograd.tensor(images, requires_grad=True)
    scores = net(x)
    (gradient,) = autograd.grad(scores[np.arange(len(images)), classes].sum(), x)
    return scores.detach().numpy(), gradient.numpy()


def predict(net, images):
    with autograd.no_grad():
        return net(autograd.tensor(images)).numpy().argmax(axis=1)


# %% [markdown]
# ## Saliency maps (Simonyan, Vedaldi and Zisserman, 2014)
#
# Near an image I0 the class score is close to its first-order Taylor expansion,
# S_c(I) ≈ S_c(I0) + w^T (I - I0) with w = dS_c/dI at I0. The magnitude of w says how much each
# pixel matters to the score: a pixel with a large |w| changes the verdict quickly, one with w = 0
# does not matter at all. The saliency map is M_ij = max over channels c of |w_c,i,j| (the digits
# have one channel; colour images have three). We take the gradient of the score of the *true*
# class.
#
# A raw gradient is a local, jumpy thing: a ReLU network is piecewise linear, so its gradient
# jumps whenever a small change of the image switches some unit on or off. Two cheap refinements make the maps easier to
# read. *SmoothGrad* (Smilkov et al., 2017) averages |w| over copies of the image with a little
# Gaussian noise added (σ = 0.15 here, 50 copies), which keeps what is stable and washes out the
# flicker. *Gradient times input*, |w ⊙ I|, weighs each pixel's sensitivity by how much ink is
# actually there: it answers "which of the present strokes carry the score?".
#
# On 8x8 digits every pixel is close to a stroke, so the raw maps spread over the whole frame and
# light up blank pixels too, though less than inked ones. The map drops the sign of w, which says
# which way a pixel pushes: for the 0, the largest |w| lies on the inner edge of its ring and is
# negative, so more ink there, closing the hole, lowers the score of 0 fastest (the cell prints
# that row). Gradient times input keeps only the inked pixels, and there the strokes that carry the
# class stand out.

# %%
def saliency(net, images, classes):
    """|d score / d pixel|, the maximum over channels: (N, H, W)."""
    return np.abs(score_gradient(net, images, classes)[1]).max(axis=1)


def smooth_saliency(net, images, classes, copies=50, sigma=0.15):
    """SmoothGrad: the saliency map averaged over noisy copies of each image."""
    noisy = [images + sigma * rng.standard_normal(images.shape).astype(np.float32) for _ in range(copies)]
    return np.mean([saliency(net, x, classes) for x in noisy], axis=0)


shown = [np.flatnonzero(y_test == digit)[0] for digit in range(10)]  # the first test image of each digit
images, classes = X_test[shown], y_test[shown]
rows = {
    "|dS/dI|": saliency(model, images, classes),
    "SmoothGrad": smooth_saliency(model, images, classes),
    "|dS/dI * I|": np.abs(score_gradient(model, images, classes)[1] * images).max(axis=1),
}
fig, axes = plt.subplots(4, 10, figsize=(13, 5.6))
for k in range(10):
    axes[0, k].imshow(images[k, 0], cmap="gray_r")
    axes[0, k].set_title(f"digit {classes[k]}", fontsize=9)
    for row, maps in enumerate(rows.values(), start=1):
        axes[row, k].imshow(maps[k], cmap="hot")
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
for row, name in enumerate(rows, start=1):
    axes[row, 0].set_ylabel(name, fontsize=9)
plt.show()

w_zero = score_gradient(model, images[:1], classes[:1])[1][0, 0]  # dS_0/dI for the 0, signed
i, j = np.unravel_index(np.abs(w_zero).argmax(), w_zero.shape)
ink = images[0, 0]
print(f"the 0: largest |dS/dI| at row {i}, column {j} (from 0): dS/dI = {w_zero[i, j]:+.2f}")
with np.printoptions(precision=2, suppress=True):
    print(f"row {i}, ink:  ", ink[i])
    print(f"row {i}, dS/dI:", w_zero[i])
print(f"mean |dS/dI|: {np.abs(w_zero)[ink > 0.3].mean():.2f} on inked pixels (> 0.3),"
      f" {np.abs(w_zero)[ink <= 0.3].mean():.2f} on the others")

# %% [markdown]
# ## Class model visualisation
#
# Instead of explaining an existing image, build one: find the image I that maximises
# S_c(I) - λ ||I||^2, the score of class c with an L2 penalty that keeps the pixel values small,
# by gradient *ascent* on I, starting from a blank image. Two further habits make the result look
# like an image rather than noise: before each step the image is shifted by up to one pixel in
# each direction and shifted back after it (jitter: the gradient must work wherever the pattern
# sits, so single-pixel artefacts average out), and pixels stay in the range [0, 1] of the data.
# The score is the raw class score, not the softmax probability: the probability can also rise by
# pushing the *other* scores down, which draws less of the class itself. (Simonyan et al. work on
# mean-subtracted images, so their penalty pulls towards the average image; the digits' background
# is 0, so a blank start and a pull towards 0 play that part here. For photographs we start from,
# and pull towards, mid gray.)

# %%
def class_models(net, shape, steps=600, lr=0.02, weight_decay=0.05, background=0.0):
    """One image per class maximising score_c(I) - weight_decay ||I - background||^2, by jittered ascent."""
    classes = np.arange(10)
    images = np.full((10, *shape), background, dtype=np.float32)
    for _ in range(steps):
        dy, dx = rng.integers(-1, 2, size=2)
        shifted = np.roll(images, (dy, dx), axis=(2, 3))
        _, gradient = score_gradient(net, shifted, classes)
        ascent = gradient - 2 * weight_decay * (shifted - background)  # d/dI (score - λ ||I - b||^2)
        shifted = np.clip(shifted + lr * ascent, 0.0, 1.0)
        images = np.roll(shifted, (-dy, -dx), axis=(2, 3))
    return images


dreamed = class_models(model, shape=(1, 8, 8))
guesses = predict(model, dreamed)
fig, axes = plt.subplots(1, 10, figsize=(13, 1.8))
for c, ax in enumerate(axes):
    ax.imshow(dreamed[c, 0], cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(f"class {c}\n(predicted {guesses[c]})", fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Fooling images
#
# How far must an image move before the network changes its answer? Take a test 3 that the network
# classifies correctly and push it towards 8 with small steps along the gradient of
# S_8(I) - S_3(I), each step scaled to the same small length ε:
#
# I ← clip(I + ε g / ||g||, 0, 1),   g = d(S_8 - S_3)/dI,
#
# until the prediction flips. The total change δ = I - I0 is what it took. For a sense of scale we
# compare its length ||δ|| with the distance from the 3 to the nearest real 8 of the training set.
# The steps only weigh the 8 against the 3, so other classes may rise on the way; the result's
# title names its two most likely classes.
# On photographs of hundreds of thousands of pixels the change that fools a network is invisible;
# an 8x8 digit has only 64 pixels to spread it over, so here it is visible, and it concentrates on
# the left side, where an 8 closes its loops and a 3 stays open.

# %%
def fool(net, image, source, target, step=0.02, max_steps=2000):
    """Smallest-step path from `image` (predicted `source`) to a prediction of `target`."""
    start = image[None]
    current = start.copy()
    for steps in range(1, max_steps + 1):
        x = autograd.tensor(current, requires_grad=True)
        scores = net(x)
        (g,) = autograd.grad(scores[0, target] - scores[0, source], x)
        g = g.numpy()
        current = np.clip(current + step * g / np.linalg.norm(g), 0.0, 1.0)
        if predict(net, current)[0] == target:
            return current[0], steps
    raise RuntimeError(f"no flip from {source} to {target} in {max_steps} steps")


threes = np.flatnonzero((y_test == 3) & (predict(model, X_test) == 3))
original = X_test[threes[0]]
fooled, steps = fool(model, original, source=3, target=8)
delta = fooled - original
with autograd.no_grad():
    probs = F.softmax(model(autograd.tensor(np.stack([original, fooled]))), axis=1).numpy()
nearest_eight = np.linalg.norm((X_train[y_train == 8] - original).reshape(-1, 64), axis=1).min()
print(f"{steps} steps of 0.02: ||delta|| = {np.linalg.norm(delta):.2f}, largest pixel change "
      f"{np.abs(delta).max():.2f}; ||image|| = {np.linalg.norm(original):.2f}, nearest training 8: {nearest_eight:.2f}")

limit = np.abs(delta).max()
fig, axes = plt.subplots(1, 3, figsize=(8, 3))
axes[0].imshow(original[0], cmap="gray_r", vmin=0, vmax=1)
axes[0].set_title(f"original: 3 ({probs[0, 3]:.0%})", fontsize=10)
axes[1].imshow(delta[0], cmap="RdBu_r", vmin=-limit, vmax=limit)
axes[1].set_title(f"change δ (red: more ink)\n||δ|| = {np.linalg.norm(delta):.2f}, scale ±{limit:.2f}", fontsize=10)
axes[2].imshow(fooled[0], cmap="gray_r", vmin=0, vmax=1)
first, second = np.argsort(probs[1])[::-1][:2]
axes[2].set_title(f"result: {first} ({probs[1, first]:.0%}), {second} ({probs[1, second]:.0%})\n"
                  f"3 ({probs[1, 3]:.0%})", fontsize=10)
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Inceptionism
#
# Pick a layer and make it fire harder: maximise the sum of squares of its output,
# L(I) = ||a_l(I)||^2, by gradient ascent on the image, starting from a real picture. Whatever that
# layer already sees a little of gets drawn in more strongly, so a shallow layer exaggerates the
# simple patterns it detects (edges, stroke ends) and a deeper one the combinations of strokes it
# has learned. The convolutional part of the network does not care about the image's size (only the
# final linear layer does), so we dream on 24x24 canvases: nine faint test digits, and gray noise.
# Each step is divided by the mean absolute gradient (a fixed step size whatever the layer's scale)
# and jittered as before.
#
# The first block, whose 3x3 filters see 3x3 pixels, turns noise into a fine pixel-level pattern
# and on the digits mostly darkens and closes the strokes. The second block sees 5x5 pixels and
# draws short stroke pieces, on the noise and between the digits alike.

# %%
def amplify(layers, image, steps=40, lr=0.01):
    """Gradient ascent on ||layers(image)||^2 from `image` (C, H, W), with normalised, jittered steps."""
    current = image[None].copy()
    for _ in range(steps):
        dy, dx = rng.integers(-1, 2, size=2)
        x = autograd.tensor(np.roll(current, (dy, dx), axis=(2, 3)), requires_grad=True)
        (g,) = autograd.grad((layers(x) ** 2).sum(), x)
        g = np.roll(g.numpy(), (-dy, -dx), axis=(2, 3))
        current = np.clip(current + lr * g / (np.abs(g).mean() + 1e-8), 0.0, 1.0)
    return current[0]


tiles = X_test[:9, 0].reshape(3, 3, 8, 8).transpose(0, 2, 1, 3).reshape(1, 24, 24)  # 3x3 digits
starts = {"faint digits": 0.3 + 0.4 * tiles, "gray noise": rng.uniform(0.4, 0.6, (1, 24, 24)).astype(np.float32)}
depths = {"block 1 (conv-BN-ReLU)": model[:3], "block 2 (conv-BN-ReLU)": model[:6]}

fig, axes = plt.subplots(2, 3, figsize=(10, 7))
for row, (start_name, canvas) in enumerate(starts.items()):
    axes[row, 0].imshow(canvas[0], cmap="gray_r", vmin=0, vmax=1)
    axes[row, 0].set_title(f"start: {start_name}", fontsize=10)
    for col, (depth_name, layers) in enumerate(depths.items(), start=1):
        axes[row, col].imshow(amplify(layers, canvas)[0], cmap="gray_r", vmin=0, vmax=1)
        axes[row, col].set_title(f"amplifying {depth_name}", fontsize=10)
for ax in axes.flat:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Texture synthesis with Gram matrices (the core of Gatys, Ecker and Bethge's style transfer)
#
# A layer's output for one image is a stack of C feature maps, F_l of shape (C, H W) once each map
# is flattened. Its Gram matrix G_l = F_l F_l^T / (H W) holds, for every pair of channels, how
# strongly they fire *together*, averaged over all positions: it forgets where things are and
# keeps which local patterns occur and co-occur. That is what a texture is. To synthesise one,
# start from noise and minimise
#
# L(I) = Σ_l ||G_l(I) - G_l(target)||^2 / ||G_l(target)||^2
#
# over the pixels of I with Adam: the image is an `nn.Parameter`, and the optimizer moves it
# instead of the weights. Dividing each layer's term by the size of its target Gram matrix gives
# every layer the same say, whatever the scale of its activations. Gatys et al. used a trained VGG
# network; a CNN with *random* weights and a few layers of growing receptive field already
# captures simple textures (Ustyuzhaninov et al., 2017), so we need no big trained model. The
# image itself counts as layer 0: its 3x3 Gram matrix holds the colour statistics. The target is
# a 32x32 pattern drawn with NumPy: blue diagonal stripes on orange, with a white dot in every
# other cell of a checkerboard.

# %%
def procedural_texture(size=32):
    rows, cols = np.mgrid[:size, :size]
    stripes = (rows + cols) % 8 < 4
    dots = ((rows % 8 - 3.5) ** 2 + (cols % 8 - 3.5) ** 2 < 4) & ((rows // 8 + cols // 8) % 2 == 0)
    image = np.where(stripes, 1.0, 0.0)[None] * np.array([0.1, 0.3, 0.9])[:, None, None]
    image += np.where(stripes, 0.0, 1.0)[None] * np.array([0.95, 0.55, 0.1])[:, None, None]
    image[:, dots] = 1.0
    return image.astype(np.float32)


autograd.manual_seed(1)
features = nn.Sequential(  # random weights, never trained
    nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
    nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
    nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
    nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
)
features.requires_grad_(False)
taps = (1, 3, 6, 9)  # the ReLU outputs whose Gram matrices are matched


def gram(maps):
    """G = F F^T / (H W) for the (1, C, H, W) feature maps of one image: (C, C)."""
    flat = maps.reshape(maps.shape[1], -1)
    return flat @ flat.T / flat.shape[1]


def gram_matrices(image):
    """The Gram matrices of the image itself (its colours) and of each tapped layer."""
    grams, x = [gram(image)], image
    for i, layer in enumerate(features):
        x = layer(x)
        if i in taps:
            grams.append(gram(x))
    return grams


target = procedural_texture()
with autograd.no_grad():
    target_grams = [g.numpy() for g in gram_matrices(autograd.tensor(target[None]))]

start = rng.uniform(0.3, 0.7, size=(1, 3, 32, 32)).astype(np.float32)
image = nn.Parameter(start.copy())
optimizer = nn.optim.Adam([image], lr=0.05)
losses = []
for _ in range(400):
    loss = sum(((g - t) ** 2).sum() / float((t**2).sum()) for g, t in zip(gram_matrices(image), target_grams))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with autograd.no_grad():
        image.clamp_(0.0, 1.0)  # keep the pixels in [0, 1]
    losses.append(loss.item())
print(f"Gram loss: {losses[0]:.3f} at the start, {losses[-1]:.5f} after {len(losses)} Adam steps")

fig, axes = plt.subplots(1, 4, figsize=(13, 3.3), gridspec_kw={"width_ratios": [1, 1, 1, 1.3]})
for ax, picture, title in zip(axes, (target, start[0], image.numpy()[0]), ("target", "start: noise", "result")):
    ax.imshow(picture.transpose(1, 2, 0))
    ax.set_title(title)
    ax.axis("off")
axes[3].semilogy(losses)
axes[3].set_xlabel("Adam step")
axes[3].set_title("Gram loss")
plt.show()

# %% [markdown]
# The result has the target's colours and its diagonal stripes, at the right angle and about the
# right width, with whitish blobs where the dots were; but nothing sits where it sat in the target,
# and the stripes break and wander. The Gram matrices average over positions, so any arrangement
# with the same local statistics is an equally good answer, and a random network's statistics
# miss the long-range regularity (a trained, deeper network does better).
#
# ## CIFAR-10 (optional)
#
# With `CIFAR10_DIR` pointing to the unpacked official archive, the next cell trains the same kind
# of CNN on a 2,000-image subset for two epochs (a few minutes on a laptop) and draws saliency maps
# and class model visualisations for colour images; saliency takes the largest gradient magnitude
# over the three colour channels. Without it, the cell only says how to enable it.

# %%
cifar_dir = os.environ.get("CIFAR10_DIR")
if not cifar_dir:
    print("CIFAR10_DIR is not set, so the CIFAR-10 part is skipped. To run it, unpack the official archive "
          "(cifar-10-python.tar.gz or cifar-10-binary.tar.gz) and start Jupyter with CIFAR10_DIR=/path/to/it.")
else:
    Xc_train, yc_train, Xc_test, yc_test = load_cifar10(cifar_dir)
    autograd.manual_seed(0)
    cifar_model = cnn(in_channels=3, classes=10, image_size=32, width=8)
    cifar_history = fit(
        cifar_model,
        DataLoader(TensorDataset(Xc_train[:2000], yc_train[:2000]), batch_size=64, shuffle=True, seed=0),
        nn.optim.Adam(cifar_model.parameters(), lr=0.003),
        epochs=2,
        test_loader=DataLoader(TensorDataset(Xc_test[:1000], yc_test[:1000]), batch_size=250),
    )
    cifar_model.eval()
    print(f"test accuracy on 1,000 images: {cifar_history['test_acc'][-1]:.3f} (chance: 0.1)")
    cifar_maps = saliency(cifar_model, Xc_test[:8], yc_test[:8])
    cifar_dreams = class_models(cifar_model, shape=(3, 32, 32), steps=200, lr=0.05, background=0.5)
    fig, axes = plt.subplots(3, 10, figsize=(14, 4.6))
    for k in range(8):
        axes[0, k].imshow(Xc_test[k].transpose(1, 2, 0))
        axes[0, k].set_title(CIFAR10_CLASSES[yc_test[k]], fontsize=8)
        axes[1, k].imshow(cifar_maps[k], cmap="hot")
    for c in range(10):
        axes[2, c].imshow(cifar_dreams[c].transpose(1, 2, 0))
        axes[2, c].set_title(CIFAR10_CLASSES[c], fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    plt.show()
