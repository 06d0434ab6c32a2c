"""The CPU/GPU switch: which compute capabilities the mxnet-cu112 wheel runs on, and this machine."""

from __future__ import annotations

import mxnet as mx
import pytest

from mfrec.devices import (
    MXNET_CU112_ARCHS,
    Devices,
    UnsupportedGpuError,
    check_capabilities,
    choose_devices,
    detect_devices,
    gpu_capabilities,
    runs_on,
)
from mfrec.errors import UserError


@pytest.mark.parametrize(
    ("capability", "instance"),
    [((5, 0), "M60"), ((5, 2), "M60 (g3)"), ((6, 0), "P100"), ((6, 1), "P4"), ((7, 0), "V100 (p3)"),
     ((7, 5), "T4 (g4dn) on the 7.0 cubin"), ((8, 0), "A100 (p4d)"), ((8, 6), "A10G (g5)"),
     ((8, 9), "L4 (g6) on the 8.6 cubin")],
)
def test_runs_on_supported_capabilities(capability, instance):
    assert runs_on(capability), instance


@pytest.mark.parametrize(
    ("capability", "instance"),
    [((3, 7), "K80 (p2)"), ((3, 5), "K40"), ((9, 0), "H100 (p5)"), ((10, 0), "B200"), ((4, 9), "made up")],
)
def test_does_not_run_on_other_capabilities(capability, instance):
    assert not runs_on(capability), instance


def test_a_cubin_does_not_run_on_an_older_minor_version():
    assert runs_on((8, 6), archs=((8, 6),))
    assert not runs_on((8, 0), archs=((8, 6),))
    assert not runs_on((7, 5), archs=((8, 0),))


def test_supported_capabilities_pass_the_check():
    check_capabilities([(7, 5), (7, 5), (8, 6)])
    check_capabilities([])


def test_unsupported_gpu_message_names_gpu_capability_and_supported_list():
    with pytest.raises(UnsupportedGpuError) as caught:
        check_capabilities([(8, 6), (3, 7)])
    message = str(caught.value)
    assert "GPU 1 has compute capability 3.7" in message
    assert "GPU 0" not in message
    assert "5.0, 6.0, 7.0, 8.0, 8.6" in message
    assert "CPU image" in message
    assert isinstance(caught.value, UserError)


def test_every_unsupported_gpu_is_named():
    with pytest.raises(UnsupportedGpuError) as caught:
        check_capabilities([(9, 0), (9, 0)])
    assert "GPU 0 has compute capability 9.0" in str(caught.value)
    assert "GPU 1 has compute capability 9.0" in str(caught.value)


def test_the_wheel_architectures():
    assert MXNET_CU112_ARCHS == ((5, 0), (6, 0), (7, 0), (8, 0), (8, 6))


def test_choose_devices_uses_every_gpu_mxnet_can_use():
    assert choose_devices([(7, 5)] * 4, mxnet_gpus=4) == Devices(num_gpus=4)
    assert choose_devices([(7, 5)] * 4, mxnet_gpus=2) == Devices(num_gpus=2)


def test_choose_devices_without_gpus_is_the_cpu():
    assert choose_devices([], mxnet_gpus=0) == Devices(num_gpus=0)


def test_a_cpu_build_of_mxnet_trains_on_the_cpu_even_next_to_an_unsupported_gpu():
    assert choose_devices([(3, 7)], mxnet_gpus=0) == Devices(num_gpus=0)


def test_a_gpu_build_refuses_an_unsupported_gpu():
    with pytest.raises(UnsupportedGpuError, match="GPU 0 has compute capability 9.0"):
        choose_devices([(9, 0)], mxnet_gpus=1)


def test_gpu_devices_give_one_context_per_gpu():
    devices = Devices(num_gpus=3)
    assert devices.kind == "gpu"
    assert devices.contexts() == [mx.gpu(0), mx.gpu(1), mx.gpu(2)]


def test_this_machine_has_no_gpu_and_trains_on_the_cpu():
    assert gpu_capabilities() == []
    devices = detect_devices()
    assert devices == Devices(num_gpus=0)
    assert devices.kind == "cpu"
    assert devices.contexts() == [mx.cpu()]
