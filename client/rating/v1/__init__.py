"""rating.v1, generated from protos/rating/v1 by ``make proto``. Do not edit the *_pb2* files."""
