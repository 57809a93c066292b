"""The data map: which subprocessors touch what, and which customers (the controllers) live where.

A data map is a folder: ``subprocessors.toml`` and one or more ``customers*.jsonl`` / ``customers*.csv``.
"""

from runtime.datamap.index import DataMap
from runtime.datamap.live import LiveDataMap, MapSource
from runtime.datamap.load import (
    CustomerCheck,
    DataMapError,
    load_customers,
    load_datamap,
    load_subprocessor_map,
    load_subprocessors,
)
from runtime.datamap.models import AccessGrant, Customer, Subprocessor, SubprocessorKind
from runtime.datamap.vocabulary import Unknown, UnknownNames, Vocabulary

__all__ = [
    "AccessGrant",
    "Customer",
    "CustomerCheck",
    "DataMap",
    "DataMapError",
    "LiveDataMap",
    "MapSource",
    "Subprocessor",
    "SubprocessorKind",
    "Unknown",
    "UnknownNames",
    "Vocabulary",
    "load_customers",
    "load_datamap",
    "load_subprocessor_map",
    "load_subprocessors",
]
