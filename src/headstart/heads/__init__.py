"""New classifier heads and generic classifier replacement."""
from .classifier import HEADS, ClassifierHead, build_head
from .replace import find_classifier, replace_classifier

__all__ = ["HEADS", "ClassifierHead", "build_head", "find_classifier", "replace_classifier"]
