"""PyTorch training scripts of the well-known tutorial kinds, ported by changing the imports only.

Each script is written once, against a namespace that is either PyTorch (``torch``, ``torch.nn``,
``torch.nn.functional``, ``torch.optim``, ``torch.utils.data``) or chainrule (``autograd``, ``nn``,
``nn.functional``, ``nn.optim``, ``nn.data``), and run in both from the same initial weights (PyTorch's,
loaded through ``load_state_dict``) on the same data. Losses, learning rates, gradient norms,
predictions and final weights must agree to float32 rounding: a port that runs but trains differently
fails here.
"""

import copy
import math
from types import SimpleNamespace

import numpy as np
import pytest

import autograd
import nn
import nn.functional as F
from nn import optim
from nn.data import DataLoader, TensorDataset, load_digits, make_spiral

RTOL, ATOL = 1e-4, 1e-5


@pytest.fixture
def libs():
    """(PyTorch, chainrule) as the same set of names a script uses."""
    torch = pytest.importorskip("torch", reason="PyTorch is an optional reference: `make torch`")
    torch.manual_seed(0)
    theirs = SimpleNamespace(
        name="torch", tensor=torch.tensor, cat=torch.cat, max=torch.max, no_grad=torch.no_grad,
        Function=torch.autograd.Function,
        nn=torch.nn, F=torch.nn.functional, optim=torch.optim, clip_grad_norm_=torch.nn.utils.clip_grad_norm_,
        DataLoader=torch.utils.data.DataLoader, TensorDataset=torch.utils.data.TensorDataset,
        save=torch.save, load=torch.load,
    )
    return theirs, OURS


OURS = SimpleNamespace(
    name="chainrule", tensor=autograd.tensor, cat=autograd.cat, max=autograd.max, no_grad=autograd.no_grad,
    Function=autograd.Function, nn=nn, F=F, optim=optim, clip_grad_norm_=nn.utils.clip_grad_norm_,
    DataLoader=DataLoader, TensorDataset=TensorDataset, save=nn.save, load=nn.load,
)


def _same_start(torch_model, our_model):
    our_model.load_state_dict(torch_model.state_dict())  # PyTorch's tensors load as they are


def _close(theirs, ours, what):
    np.testing.assert_allclose(np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64),
                               rtol=RTOL, atol=ATOL, err_msg=what)


def _close_states(theirs, ours, atol=ATOL):
    assert list(ours) == list(theirs)
    for key in theirs:
        assert ours[key].shape == tuple(theirs[key].shape) and ours[key].dtype == np.asarray(theirs[key]).dtype, key
        np.testing.assert_allclose(ours[key], np.asarray(theirs[key]), rtol=RTOL, atol=atol, err_msg=key)


# --- 1. the CIFAR-10 tutorial's Net: conv 5x5 -> relu -> pool, twice, view, three Linear layers ------------


def cifar_net(lib):
    nn, F = lib.nn, lib.F

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = x.view(-1, 16 * 5 * 5)
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            return self.fc3(x)

    return Net


def train_cifar_net(lib, net, X, y, path):
    loader = lib.DataLoader(lib.TensorDataset(lib.tensor(X), lib.tensor(y)), batch_size=8, shuffle=False,
                            num_workers=0)
    criterion = lib.nn.CrossEntropyLoss()
    optimizer = lib.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    losses = []
    for _epoch in range(2):
        net.train()
        for inputs, labels in loader:
            optimizer.zero_grad()
            loss = criterion(net(inputs), labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    lib.save(net.state_dict(), path)
    reloaded = cifar_net(lib)()
    reloaded.load_state_dict(lib.load(path, weights_only=True))
    reloaded.eval()
    correct, total, predictions = 0, 0, []
    with lib.no_grad():
        for images, labels in loader:
            _, predicted = lib.max(reloaded(images), 1)  # the tutorial's torch.max(outputs, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
            predictions += predicted.tolist()
    return losses, correct, total, predictions, reloaded.state_dict()


def test_the_cifar_tutorial_net_trains_saves_and_evaluates_as_in_pytorch(libs, tmp_path):
    theirs, ours = libs
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((24, 3, 32, 32)).astype(np.float32), rng.integers(0, 10, 24)
    torch_net, our_net = cifar_net(theirs)(), cifar_net(ours)()
    _same_start(torch_net, our_net)
    expected = train_cifar_net(theirs, torch_net, X, y, tmp_path / "net.pth")
    got = train_cifar_net(ours, our_net, X, y, tmp_path / "net.npz")
    _close(expected[0], got[0], "losses")
    assert got[1:4] == expected[1:4]  # correct, total, every prediction
    assert isinstance(got[1], int)
    _close_states(expected[4], got[4])


# --- 2. an MLP on the digits: BatchNorm1d, Dropout, Adam with weight decay, StepLR, early stopping ----------


def digits_mlp(lib, p):
    nn = lib.nn

    class MLP(nn.Module):
        def __init__(self, hidden=32):
            super().__init__()
            self.net = nn.Sequential(
                nn.Flatten(), nn.Linear(64, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(p),
                nn.Linear(hidden, 10),
            )

        def forward(self, x):
            return self.net(x)

    return MLP()


def evaluate(lib, model, loader, criterion):
    model.eval()
    total_loss, correct, n = 0.0, 0, 0
    with lib.no_grad():
        for xb, yb in loader:
            out = model(xb)
            total_loss += criterion(out, yb).item() * xb.size(0)
            correct += (out.argmax(dim=1) == yb).sum().item()
            n += xb.size(0)
    return total_loss / n, correct / n


def train_digits_mlp(lib, model, X, y, epochs=8, patience=2):
    n_val = len(X) // 4
    train = lib.DataLoader(lib.TensorDataset(lib.tensor(X[n_val:]), lib.tensor(y[n_val:])), batch_size=64)
    val = lib.DataLoader(lib.TensorDataset(lib.tensor(X[:n_val]), lib.tensor(y[:n_val])), batch_size=128)
    criterion = lib.nn.CrossEntropyLoss()
    optimizer = lib.optim.Adam(model.parameters(), lr=3e-2, weight_decay=1e-4)
    scheduler = lib.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    best_val, best_state, bad_epochs, history = float("inf"), None, 0, []
    for _epoch in range(epochs):
        model.train()
        for xb, yb in train:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
        scheduler.step()
        val_loss, val_acc = evaluate(lib, model, val, criterion)
        history.append((loss.item(), val_loss, val_acc, scheduler.get_last_lr()[0]))
        if val_loss < best_val - 1e-3:
            best_val, bad_epochs, best_state = val_loss, 0, copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
            if bad_epochs >= patience:
                break
    model.load_state_dict(best_state)
    return history, model.state_dict()


def test_a_digits_mlp_with_batchnorm_adam_and_steplr_trains_and_stops_as_in_pytorch(libs):
    theirs, ours = libs
    X, y = load_digits(split="train")
    X, y = X[:400], y[:400]
    torch_model, our_model = digits_mlp(theirs, p=0.0), digits_mlp(ours, p=0.0)  # p > 0 draws different masks
    _same_start(torch_model, our_model)
    expected, torch_state = train_digits_mlp(theirs, torch_model, X, y)
    got, our_state = train_digits_mlp(ours, our_model, X, y)
    assert len(got) == len(expected)  # early stopping fired at the same epoch
    _close(expected, got, "train loss, val loss, val accuracy, lr per epoch")
    # Adam divides by sqrt(v): a bias under BatchNorm has a gradient of rounding noise, so it moves by noise
    _close_states(torch_state, our_state, atol=1e-3)


def test_dropout_in_the_ported_mlp_is_on_in_train_and_off_in_eval():
    model = digits_mlp(OURS, p=0.5)
    x = autograd.tensor(load_digits(split="test")[0][:64])
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())
    model.train()
    assert not np.array_equal(model(x).numpy(), model(x).numpy())


# --- 3. custom autograd Functions, AdamW with decay groups, LambdaLR warm-up, gradient clipping ------------


def custom_net(lib):
    nn = lib.nn

    class MyReLU(lib.Function):
        @staticmethod
        def forward(ctx, input):  # noqa: A002 (the tutorial's name)
            ctx.save_for_backward(input)
            return input.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors  # noqa: A001
            return grad_output.masked_fill(input < 0, 0)  # grad_input[input < 0] = 0 in the tutorial

    class Legendre3(lib.Function):
        @staticmethod
        def forward(ctx, input):  # noqa: A002
            ctx.save_for_backward(input)
            return 0.5 * (5 * input**3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors  # noqa: A001
            return grad_output * 1.5 * (5 * input**2 - 1)

    class ScaledTanh(lib.Function):
        @staticmethod
        def forward(ctx, x, scale):
            y = x.tanh()
            ctx.save_for_backward(y)
            ctx.scale = scale
            return y * scale

        @staticmethod
        def backward(ctx, grad_output):
            (y,) = ctx.saved_tensors
            return grad_output * ctx.scale * (1 - y * y), None

    class CustomNet(nn.Module):
        def __init__(self, d_in=2, d_hidden=16, d_out=3):
            super().__init__()
            self.W1 = nn.Parameter(lib.tensor(np.zeros((d_in, d_hidden), np.float32)))
            self.b1 = nn.Parameter(lib.tensor(np.zeros(d_hidden, np.float32)))
            self.lin = nn.Linear(d_hidden, d_hidden)
            self.head = nn.Linear(d_hidden, d_out)
            self.register_buffer("scale", lib.tensor(0.5))

        def forward(self, x):
            h = MyReLU.apply(x @ self.W1 + self.b1)
            h = ScaledTanh.apply(self.lin(h), 2.0)
            return self.head(Legendre3.apply(h * self.scale))

    return CustomNet()


def train_custom_net(lib, model, X, y, steps=12, warmup=4):
    X, y = lib.tensor(X), lib.tensor(y)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name.endswith("bias") or p.ndim == 1 else decay).append(p)
    optimizer = lib.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=3e-2)
    scheduler = lib.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lambda step: min(1.0, (step + 1) / warmup))
    record = []
    for _step in range(steps):
        optimizer.zero_grad()
        loss = lib.F.cross_entropy(model(X), y)
        loss.backward()
        total_norm = lib.clip_grad_norm_(model.parameters(), max_norm=0.1)
        optimizer.step()
        scheduler.step()
        record.append((loss.item(), float(total_norm), scheduler.get_last_lr()[0], optimizer.param_groups[1]["lr"]))
    return record


def test_custom_functions_with_adamw_groups_warmup_and_clipping_train_as_in_pytorch(libs):
    theirs, ours = libs
    X, y = make_spiral(30, 3, seed=0)
    torch_model, our_model = custom_net(theirs), custom_net(ours)
    theirs.nn.init.normal_(torch_model.W1, std=1 / math.sqrt(2))
    _same_start(torch_model, our_model)
    expected = train_custom_net(theirs, torch_model, X.astype(np.float32), y)
    got = train_custom_net(ours, our_model, X.astype(np.float32), y)
    _close(expected, got, "loss, clipped-from norm, lr of each group per step")
    assert min(norm for _, norm, _, _ in got) > 0.1  # the clipping bit at every step


# --- 4. residual blocks in a ModuleList, Embedding, cat, one_hot, nesterov SGD, cosine schedule --------------


def residual_mlp(lib):
    nn = lib.nn

    class Block(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.norm = nn.LayerNorm(dim)
            self.fc1, self.fc2 = nn.Linear(dim, dim * 2), nn.Linear(dim * 2, dim)
            self.act = nn.GELU()

        def forward(self, x):
            return x + self.fc2(self.act(self.fc1(self.norm(x))))

    class ResMLP(nn.Module):
        def __init__(self, d_in=64, dim=16, n_blocks=2, n_classes=10):
            super().__init__()
            self.stem = nn.Linear(d_in, dim)
            self.emb = nn.Embedding(3, 4)
            self.blocks = nn.ModuleList([Block(dim) for _ in range(n_blocks)])
            self.head = nn.Linear(dim + 4, n_classes)

        def forward(self, x, tag):
            h = self.stem(x.view(x.size(0), -1))
            for block in self.blocks:
                h = block(h)
            return self.head(lib.cat([h, self.emb(tag)], dim=1))

    return ResMLP()


def train_residual_mlp(lib, model, X, y, steps=8):
    X, y, tag = lib.tensor(X), lib.tensor(y), lib.tensor(y % 3)

    def init_weights(m):
        if isinstance(m, lib.nn.Linear):
            lib.nn.init.zeros_(m.bias)

    model.apply(init_weights)
    model.emb.weight.requires_grad = False
    opt = lib.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05, momentum=0.9, nesterov=True,
                        weight_decay=5e-4)
    sched = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    losses = []
    for step in range(steps):
        model.train()
        idx = lib.tensor(np.arange(step * 32, step * 32 + 32) % X.shape[0])
        logits = model(X[idx], tag[idx])
        probs = lib.F.softmax(logits, dim=-1)
        target = lib.F.one_hot(y[idx], num_classes=10).float()
        loss = lib.F.cross_entropy(logits, y[idx]) + 0.1 * lib.F.mse_loss(probs, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())

    @lib.no_grad()
    def accuracy():
        model.eval()
        return (model(X, tag).argmax(dim=1) == y).float().mean().item()

    features = model.stem(X.view(X.size(0), -1)).detach().cpu().numpy()
    return losses, accuracy(), features, model.emb.weight.grad is None


def test_a_residual_mlp_with_module_list_embedding_and_cosine_schedule_trains_as_in_pytorch(libs):
    theirs, ours = libs
    X, y = load_digits(split="train")
    X, y = X[:200], y[:200]
    torch_model, our_model = residual_mlp(theirs), residual_mlp(ours)
    _same_start(torch_model, our_model)
    expected = train_residual_mlp(theirs, torch_model, X, y)
    got = train_residual_mlp(ours, our_model, X, y)
    _close(expected[0], got[0], "losses")
    _close(expected[1], got[1], "accuracy")
    assert got[2].dtype == np.float32 and got[2].shape == expected[2].shape == (200, 16)
    _close(expected[2], got[2], "features")
    assert got[3] and expected[3]  # the frozen embedding got no gradient


# --- 5. the VAE example: BCE on sigmoid outputs summed, a KL term, Adam with a LinearLR warm-up -------------


def digits_vae(lib):
    nn, F = lib.nn, lib.F

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(64, 32)
            self.fc21, self.fc22 = nn.Linear(32, 4), nn.Linear(32, 4)
            self.fc3, self.fc4 = nn.Linear(4, 32), nn.Linear(32, 64)

        def encode(self, x):
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar, eps):
            std = (0.5 * logvar).exp()
            return mu + eps * std  # eps = torch.randn_like(std) in the example: drawn once here, for both

        def decode(self, z):
            return self.fc4(F.relu(self.fc3(z))).sigmoid()

        def forward(self, x, eps):
            mu, logvar = self.encode(x.view(-1, 64))
            return self.decode(self.reparameterize(mu, logvar, eps)), mu, logvar

    return VAE()


def train_digits_vae(lib, model, X, noise, steps=6):
    optimizer = lib.optim.Adam(model.parameters(), lr=1e-2)
    warmup = lib.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.2, total_iters=3)
    record = []
    for step in range(steps):
        x = lib.tensor(X[step * 32:(step + 1) * 32])
        recon, mu, logvar = model(x, lib.tensor(noise[step]))
        bce = lib.F.binary_cross_entropy(recon, x.view(-1, 64), reduction="sum")
        kld = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum()
        loss = bce + kld
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        warmup.step()
        record.append((bce.item(), kld.item(), optimizer.param_groups[0]["lr"]))
    return record


def test_the_vae_example_with_bce_kl_and_a_linear_warmup_trains_as_in_pytorch(libs):
    theirs, ours = libs
    X = load_digits(split="train")[0][:192]
    noise = np.random.default_rng(1).standard_normal((6, 32, 4)).astype(np.float32)
    torch_model, our_model = digits_vae(theirs), digits_vae(ours)
    _same_start(torch_model, our_model)
    expected = train_digits_vae(theirs, torch_model, X, noise)
    got = train_digits_vae(ours, our_model, X, noise)
    _close(expected, got, "reconstruction BCE, KL divergence, lr per step")
    _close_states(torch_model.state_dict(), our_model.state_dict())
