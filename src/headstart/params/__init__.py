"""Layer groups, freezing, discriminative param groups and the parameter report."""
from .freezing import freeze_all, set_trainable, trainable_group_names
from .groups import generic_layer_groups
from .param_groups import discriminative_param_groups, layer_lr_scales
from .report import ParamReport, parameter_report

__all__ = ["freeze_all", "set_trainable", "trainable_group_names", "generic_layer_groups",
           "discriminative_param_groups", "layer_lr_scales", "ParamReport", "parameter_report"]
