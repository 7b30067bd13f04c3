"""On-device runtime for exported DVN models: LiteRT only, no TensorFlow.

Load an export's manifest, pick the level that fits the free memory with
BudgetPolicy, and serve classify() while TaskRuntime switches levels live.
"""

from dvn_runtime.manifest import (InputSpec, Manifest, ManifestError, ModelInfo, TaskInfo,
                                  load_manifest)
from dvn_runtime.model import LoadedModel, ModelLoadError, load_model
from dvn_runtime.policy import BudgetPolicy
from dvn_runtime.preprocess import ImageError, open_image, preprocess, to_input_tensor
from dvn_runtime.runtime import SwitchEvent, TaskRuntime, read_available_memory

__all__ = [
    "BudgetPolicy", "ImageError", "InputSpec", "LoadedModel", "Manifest", "ManifestError",
    "ModelInfo", "ModelLoadError", "SwitchEvent", "TaskInfo", "TaskRuntime", "load_manifest",
    "load_model", "open_image", "preprocess", "read_available_memory", "to_input_tensor",
]
