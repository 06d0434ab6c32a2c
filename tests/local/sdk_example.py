"""examples/sagemaker_sdk.py loaded as a module (examples/ is not a package)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from .helpers import REPO

EXAMPLE = REPO / "examples" / "sagemaker_sdk.py"


def load_example() -> ModuleType:
    if "sagemaker_sdk_example" not in sys.modules:
        spec = importlib.util.spec_from_file_location("sagemaker_sdk_example", EXAMPLE)
        module = importlib.util.module_from_spec(spec)
        sys.modules["sagemaker_sdk_example"] = module  # before exec: dataclasses look it up
        spec.loader.exec_module(module)
    return sys.modules["sagemaker_sdk_example"]
