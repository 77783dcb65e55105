"""gRPC servicers: they translate between protobuf messages and the domain, nothing more."""
