"""The descriptor set reflection serves (``reflection.py``) is the generated code's,
with the protos' comments."""

from __future__ import annotations

from google.protobuf import descriptor_pb2

from rating.v1 import (
    account_service_pb2,
    catalog_service_pb2,
    columns_pb2,
    rating_service_pb2,
    reservation_pb2,
    usage_pb2,
)
from rating_server import reflection


def test_the_served_descriptor_set_is_the_generated_code_with_its_comments() -> None:
    generated = {
        module.DESCRIPTOR.name: module.DESCRIPTOR
        for module in (
            account_service_pb2,
            catalog_service_pb2,
            columns_pb2,
            rating_service_pb2,
            reservation_pb2,
            usage_pb2,
        )
    }
    served = {file.name: file for file in reflection.rating_files()}
    assert set(generated) < set(served)
    for name, descriptor in generated.items():
        file = served[name]
        assert file.source_code_info.location, name
        file.ClearField("source_code_info")
        assert file == descriptor_pb2.FileDescriptorProto.FromString(descriptor.serialized_pb)
