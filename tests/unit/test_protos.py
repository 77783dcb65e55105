"""The protos as other languages see them: the per-language options of every file."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
#: The generated module of every .proto file of rating.v1 (a file added is in it).
MODULES = tuple(
    importlib.import_module(f"rating.v1.{path.stem}_pb2")
    for path in sorted((ROOT / "protos/rating/v1").glob("*.proto"))
)
#: The options every rating.v1 file sets, as buf's and googleapis' conventions have them.
OPTIONS = {
    "csharp_namespace": "Rating.V1",
    "go_package": "example.com/rating/gen/go/rating/v1;ratingv1",
    "java_multiple_files": True,
    "java_package": "com.example.rating.v1",
    "objc_class_prefix": "RXX",
    "php_namespace": "Rating\\V1",
    "ruby_package": "Rating::V1",
}


def file_options(module: object) -> descriptor_pb2.FileOptions:
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)  # type: ignore[attr-defined]
    return proto.options


@pytest.mark.parametrize("module", MODULES, ids=[m.__name__ for m in MODULES])
def test_every_proto_file_sets_the_per_language_options(module: object) -> None:
    options = file_options(module)
    assert {name: getattr(options, name) for name in OPTIONS} == OPTIONS
    stem = Path(module.DESCRIPTOR.name).stem  # type: ignore[attr-defined]
    assert options.java_outer_classname == stem.title().replace("_", "") + "Proto"


def test_every_rating_v1_file_is_checked() -> None:
    assert len(MODULES) >= 6
    assert {module.DESCRIPTOR.package for module in MODULES} == {"rating.v1"}  # type: ignore[attr-defined]
