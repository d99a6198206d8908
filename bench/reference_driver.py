#!/usr/bin/python3
"""Runs the original Python package's own classes (ByolTrainer, BYOL, FitsFilelistDataset,
NLayerResnet / AstroMorphologyModel) on a bench_train data set, the way its pipeline does, and
prints one "RESULT key=value ..." line like bench_train's. Used by bench/compare_reference.

  /usr/bin/python3 bench/reference_driver.py --original CHECKOUT train|infer --data LIST
      [--network resnet|amm] [--images N] [--epochs E] [--threads T] [--batch B]

Needs Debian's python3-torch (1.13), python3-torchvision, python3-astropy, python3-loguru,
python3-tqdm and python3-pydantic. Shims for what differs from the versions the original targets:
torch 1.13 calls LRScheduler _LRScheduler, and TensorBoard's writer (not packaged) is replaced
by a no-op, as logging is not what is measured.
"""
import argparse
import os
import resource
import sys
import time
import types


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def install_shims(original):
    import torch
    import torch.optim.lr_scheduler as lrs

    if not hasattr(lrs, "LRScheduler"):
        lrs.LRScheduler = lrs._LRScheduler
    try:
        import torch.utils.tensorboard.writer  # noqa: F401
    except Exception:
        class SummaryWriter:
            def __init__(self, *a, **k):
                pass

            def add_scalar(self, *a, **k):
                pass

            def add_embedding(self, *a, **k):
                pass

            def close(self):
                pass

        for name in ("torch.utils.tensorboard", "torch.utils.tensorboard.writer"):
            mod = types.ModuleType(name)
            mod.SummaryWriter = SummaryWriter
            sys.modules[name] = mod
    # The package's __init__ pulls in its CLI (typer, sklearn, skimage, pandas); load the
    # subpackages we use without it.
    pkg = types.ModuleType("astromorph")
    pkg.__path__ = [os.path.join(original, "astromorph")]
    sys.modules["astromorph"] = pkg
    return torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["train", "infer"])
    ap.add_argument("--original", required=True, help="checkout of the original astromorph package")
    ap.add_argument("--data", required=True)
    ap.add_argument("--network", default="resnet", choices=["resnet", "amm"])
    ap.add_argument("--images", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--batch", type=int, default=16)
    a = ap.parse_args()

    torch = install_shims(os.path.abspath(a.original))
    from torch.utils.data import DataLoader
    from torchvision import transforms as T

    from astromorph.byol import ByolTrainer, MinMaxNorm
    from astromorph.datasets import FitsFilelistDataset
    from astromorph.models import DEFAULT_MODELS

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    threads = torch.get_num_threads()
    # As our datasets do: blank and '#' lines skipped, relative paths against the list's folder.
    base = os.path.dirname(os.path.abspath(a.data))
    with open(a.data) as f:
        files = [os.path.join(base, line.strip()) for line in f if line.strip() and not line.startswith("#")]
    if a.images > 0:
        files = files[: a.images]
    # As the pipeline: the ResNet takes 3 channels (stacksize 3), amm 1.
    name, stacksize, dim = ("n_layer_resnet", 3, 512) if a.network == "resnet" else ("amm", 1, 128)
    dataset = FitsFilelistDataset(files, stacksize=stacksize)
    torch.manual_seed(42)
    network = DEFAULT_MODELS[name](**({"last_layer": "layer4"} if a.network == "resnet" else {}))
    # pipeline_01_training's augmentation and normalisation.
    augmentation = torch.nn.Sequential(
        T.RandomApply([T.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.3),
        T.RandomGrayscale(p=0.2),
        T.RandomHorizontalFlip(),
        T.RandomRotation(degrees=(0, 360)),
        T.RandomApply([T.GaussianBlur((3, 3), (1.0, 2.0))], p=0.2),
    )
    learner = ByolTrainer(
        network=network,
        hidden_layer="avgpool",
        augmentation_function=augmentation,
        representation_size=dim,
        projection_size=256,
        projection_hidden_size=1024,
        use_momentum=True,
        device="cpu",
        learning_rate=5e-6,
        normalization_function=MinMaxNorm(),
    )
    rss0 = rss_mib()

    if a.mode == "train":
        rng = torch.Generator().manual_seed(42)
        train_ds, test_ds = torch.utils.data.random_split(dataset, [0.8, 0.2], generator=rng)
        train_data = DataLoader(train_ds, batch_size=1, shuffle=True, pin_memory=True)
        test_data = DataLoader(test_ds, batch_size=1, shuffle=True, pin_memory=True)
        train_s, epoch_s = [], []
        for epoch in range(1, a.epochs + 1):
            # train_model's loop, timed: train_epoch, then test (which leaves the model in eval
            # mode, as the original does).
            t0 = time.perf_counter()
            loss = learner.train_epoch(train_data, batch_size=a.batch)
            t1 = time.perf_counter()
            test = learner.test(test_data)
            t2 = time.perf_counter()
            train_s.append(t1 - t0)
            epoch_s.append(t2 - t0)
            print(
                f"epoch {epoch}: training {t1 - t0:.2f} s ({len(train_ds) / (t1 - t0):.2f} images/s), "
                f"test pass {t2 - t1:.2f} s, loss {float(loss) / len(train_ds):.4f} / "
                f"{float(test) / max(1, len(test_ds)):.4f}, peak RSS {rss_mib():.0f} MiB",
                flush=True,
            )
        steady = train_s[1:] if len(train_s) > 1 else train_s
        ep = epoch_s[1:] if len(epoch_s) > 1 else epoch_s
        ips = len(train_ds) / (sum(steady) / len(steady))
        print(
            f"RESULT side=original mode=train network={a.network} images={len(files)} ntrain={len(train_ds)} "
            f"epochs={a.epochs} threads={threads} ips={ips:.3f} epoch_s={sum(ep) / len(ep):.3f} "
            f"rss_mib={rss_mib():.0f} rss0_mib={rss0:.0f}"
        )
    else:
        # pipeline_02_inference: all inputs first, then one image at a time.
        t0 = time.perf_counter()
        images = dataset.get_all_items()
        t_load = time.perf_counter() - t0
        learner.eval()
        with torch.no_grad():
            learner(images[0].clone())  # warm-up, as the pipeline's dummy embedding
            t0 = time.perf_counter()
            embeddings = torch.empty((0, dim))
            for image in images:
                embeddings = torch.cat((embeddings, learner(image)), dim=0)
            dt = time.perf_counter() - t0
        ips = len(images) / dt
        print(f"inference: {ips:.2f} images/s, inputs loaded in {t_load:.2f} s, peak RSS {rss_mib():.0f} MiB")
        print(
            f"RESULT side=original mode=infer network={a.network} images={len(images)} threads={threads} "
            f"ips={ips:.3f} load_s={t_load:.3f} rss_mib={rss_mib():.0f} rss0_mib={rss0:.0f}"
        )


if __name__ == "__main__":
    main()
