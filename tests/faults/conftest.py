from tests.fixtures.s3_server import moto_server  # noqa: F401
