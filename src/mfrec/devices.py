"""The one CPU/GPU switch: which MXNet contexts to train on, checked before any work starts."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from mfrec.errors import UserError

# Compute capabilities the mxnet-cu112 1.9.1 wheel ships machine code for.
MXNET_CU112_ARCHS: tuple[tuple[int, int], ...] = ((5, 0), (6, 0), (7, 0), (8, 0), (8, 6))

_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76


class UnsupportedGpuError(UserError):
    """A GPU this MXNet build has no code for."""


@dataclass(frozen=True)
class Devices:
    num_gpus: int

    @property
    def kind(self) -> str:
        return "gpu" if self.num_gpus else "cpu"

    def contexts(self) -> list:
        import mxnet as mx

        return [mx.gpu(i) for i in range(self.num_gpus)] if self.num_gpus else [mx.cpu()]


def runs_on(capability: tuple[int, int], archs=MXNET_CU112_ARCHS) -> bool:
    """A cubin for X.y runs on devices X.z with z >= y (same major); no PTX fallback is assumed."""
    major, minor = capability
    return any(a_major == major and a_minor <= minor for a_major, a_minor in archs)


def check_capabilities(capabilities: list[tuple[int, int]], archs=MXNET_CU112_ARCHS) -> None:
    unsupported = [(i, cap) for i, cap in enumerate(capabilities) if not runs_on(cap, archs)]
    if unsupported:
        found = ", ".join(f"GPU {i} has compute capability {cap[0]}.{cap[1]}" for i, cap in unsupported)
        built = ", ".join(f"{a}.{b}" for a, b in archs)
        raise UnsupportedGpuError(
            f"{found}; the installed MXNet (mxnet-cu112 1.9.1) has GPU code only for compute "
            f"capability {built} (e.g. ml.g4dn, ml.g5, ml.p3; not ml.p2's K80 nor H100). "
            "Use a supported instance type or the CPU image."
        )


def gpu_capabilities() -> list[tuple[int, int]]:
    """Compute capability of each visible GPU, read from the driver (libcuda); [] without one."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return []
    if cuda.cuInit(0) != 0:
        return []
    count = ctypes.c_int()
    if cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return []
    return [_capability(cuda, ordinal) for ordinal in range(count.value)]


def _capability(cuda, ordinal: int) -> tuple[int, int]:
    device, major, minor = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    cuda.cuDeviceGet(ctypes.byref(device), ordinal)
    cuda.cuDeviceGetAttribute(ctypes.byref(major), _CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device)
    cuda.cuDeviceGetAttribute(ctypes.byref(minor), _CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device)
    return (major.value, minor.value)


def detect_devices() -> Devices:
    """Every GPU present (after checking MXNet can run on it), else the CPU."""
    capabilities = gpu_capabilities()
    if not capabilities:
        return Devices(num_gpus=0)
    import mxnet as mx

    return choose_devices(capabilities, mx.context.num_gpus())


def choose_devices(capabilities: list[tuple[int, int]], mxnet_gpus: int) -> Devices:
    """mxnet_gpus is 0 for a CPU build of MXNet, which then trains on the CPU whatever GPUs exist."""
    if not capabilities or mxnet_gpus == 0:
        return Devices(num_gpus=0)
    check_capabilities(capabilities)
    return Devices(num_gpus=min(len(capabilities), mxnet_gpus))
