"""One run on several processes: ``torchrun --nproc-per-node 2 -m okddip_edu train`` on the
CPU (``gloo``) computes what one process computes with the same global batch; the shards
are the single-process batches, image for image; a batch that does not divide evenly is
refused in one line; the DDP loop resumes exactly and only rank 0 writes.

The two-process run uses lr 0.01: at the smoke preset's lr 0.05 this tiny network is
chaotic enough that float-rounding differences (the global batch's sums taken in another
order) grow about threefold per step; in float64 the two paths agree to 1e-15 there too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.distributed as dist

from okddip_edu import data, ddp, engine
from okddip_edu.checkpoint import load_checkpoint
from okddip_edu.config import preset

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--preset", "smoke", "--device", "cpu", "--lr", "0.01", "--no-channels-last"]

pytestmark = pytest.mark.usefixtures("one_thread")


def smoke(**overrides):
    return preset("smoke", device="cpu", lr=0.01, channels_last=False, **overrides)


def without_time(history: pd.DataFrame) -> pd.DataFrame:
    return history.drop(columns="epoch_time")


# Two processes, end to end ---------------------------------------------------------------
@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory, cifar10_5k_path):
    """``torchrun --standalone --nproc-per-node 2 -m okddip_edu train ...``: (dir, stdout)."""
    out = tmp_path_factory.mktemp("ddp") / "run"
    env = {**os.environ, "OKDDIP_CIFAR10_5K": str(cifar10_5k_path), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           "2", "-m", "okddip_edu", "train", *FLAGS, "--quiet", "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc.stdout


@pytest.fixture(scope="module")
def single_process_run(cifar10_5k_path, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OKDDIP_CIFAR10_5K", str(cifar10_5k_path))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return engine.fit(smoke(), tmp_path_factory.mktemp("single") / "run", progress=False)
        finally:
            torch.set_num_threads(threads)


def test_two_processes_match_one_process_with_the_same_global_batch(two_process_run,
                                                                    single_process_run):
    out, stdout = two_process_run
    single = single_process_run
    pd.testing.assert_frame_equal(without_time(pd.read_csv(out / "history.csv")),
                                  without_time(single.history), rtol=1e-4, atol=1e-5)
    state = load_checkpoint(out / "checkpoint.pt")
    for name, module in (("model", single.model), ("method", single.method)):
        for key, value in module.state_dict().items():
            torch.testing.assert_close(state[name][key], value, rtol=1e-4, atol=1e-5,
                                       msg=f"{name}.{key}")


def test_only_rank_0_writes_and_prints(two_process_run):
    out, stdout = two_process_run
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "config.json",
                                                     "final.json", "history.csv"]
    assert stdout.count("training okddip on resnet8") == 1
    assert stdout.count("run directory:") == 1
    final = json.loads((out / "final.json").read_text())
    assert final["processes"] == 2 and final["device"].startswith("2 x cpu")


# The DDP loop in this process (a group of one) -------------------------------------------
@pytest.fixture(scope="module")
def group_of_one():
    """A ``gloo`` process group of this process alone: the DDP loop without launching."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def toy():
    return data.load(smoke(dataset="synthetic", train_subset=128))


def test_a_group_of_one_is_the_single_process_fit_bit_for_bit(group_of_one, toy):
    cfg = smoke(dataset="synthetic", train_subset=128)
    one = ddp.fit(cfg, splits=toy, progress=False)
    plain = engine.fit(cfg, splits=toy, progress=False)
    pd.testing.assert_frame_equal(without_time(one.history), without_time(plain.history),
                                  check_exact=True)
    assert dist.is_initialized()  # fit leaves a group it did not make


def test_interrupted_ddp_run_resumes_exactly(group_of_one, toy, tmp_path):
    cfg = smoke(dataset="synthetic", train_subset=128, epochs=3)
    whole = ddp.fit(cfg, tmp_path / "whole", splits=toy, progress=False)

    def stop_after_epoch_1(row, history):
        if row["epoch"] == 1:
            raise KeyboardInterrupt

    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        ddp.fit(cfg, out, splits=toy, progress=False, on_epoch_end=stop_after_epoch_1)
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1
    resumed = ddp.fit(cfg, out, resume=True, splits=toy, progress=False)
    pd.testing.assert_frame_equal(without_time(resumed.history), without_time(whole.history),
                                  check_exact=True)
    assert (out / "final.json").exists()


def test_a_single_process_checkpoint_resumes_under_ddp(group_of_one, toy, tmp_path):
    cfg = smoke(dataset="synthetic", train_subset=128)
    engine.fit(cfg.replace(epochs=1), tmp_path / "run", splits=toy, progress=False)
    resumed = ddp.fit(cfg, tmp_path / "run", resume=True, splits=toy, progress=False)
    whole = engine.fit(cfg, splits=toy, progress=False)
    pd.testing.assert_frame_equal(without_time(resumed.history), without_time(whole.history),
                                  check_exact=True)


# Shards, refusals, BatchNorm -------------------------------------------------------------
@pytest.mark.parametrize("world, batch, n, drop_last", [(2, 64, 256, True), (3, 66, 205, False),
                                                        (4, 64, 200, False)])
def test_the_shards_are_the_single_process_batches(world, batch, n, drop_last):
    toy = data.synthetic(train=n, val=16)
    def loader():
        dl = data.DeviceLoader(toy.train_x, toy.train_y, batch, toy.mean, toy.std, train=True,
                               seed=3, drop_last=drop_last, channels_last=True)
        dl.set_epoch(5)
        return dl
    whole = list(loader())
    shards = [list(ddp.ShardedLoader(loader(), r, world)) for r in range(world)]
    assert all(len(s) == len(whole) for s in shards)
    for i, (x, y) in enumerate(whole):
        assert all(s[i][2] == len(y) for s in shards)  # every rank knows the global batch
        assert torch.equal(torch.cat([s[i][0] for s in shards]), x)  # same crops and flips
        assert torch.equal(torch.cat([s[i][1] for s in shards]), y)
        assert shards[0][i][0].is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("batch, world, n, drop_last, words", [
    (130, 4, 1000, True, "batch_size=130 is not valid with 4 processes"),
    (64, 4, 963, False, "the last partial batch holds 3 images"),  # 15 x 64 + 3
])
def test_uneven_batches_are_refused_in_one_line(batch, world, n, drop_last, words):
    with pytest.raises(ValueError, match=words) as err:
        ddp.check_shardable(batch, world, n, drop_last)
    assert "\n" not in str(err.value)


def test_batches_that_divide_are_accepted():
    ddp.check_shardable(128, 4, 50_000, drop_last=False)  # CIFAR: 390 x 128 + 80
    ddp.check_shardable(64, 4, 963, drop_last=True)  # the partial batch is dropped


def test_cpu_sync_batchnorm_takes_over_the_layers_own_tensors():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                                torch.nn.Sequential(torch.nn.BatchNorm1d(4)))
    params = [id(p) for p in model.parameters()]
    keys = list(model.state_dict())
    synced = ddp.convert(model, torch.device("cpu"))
    assert isinstance(synced[1], ddp.SyncBatchNorm) and isinstance(synced[2][0], ddp.SyncBatchNorm)
    assert [id(p) for p in synced.parameters()] == params  # nothing re-initialised
    assert list(synced.state_dict()) == keys  # checkpoints move between the two
    x = torch.randn(8, 4, 5, 5)
    ref = torch.nn.BatchNorm2d(4)
    torch.testing.assert_close(synced[1](x), ref(x))  # no group: plain BatchNorm
