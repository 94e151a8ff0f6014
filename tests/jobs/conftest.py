from tests.fixtures.postgres import migrated_postgres_url, postgres_url  # noqa: F401
from tests.fixtures.redis_keys import redis_prefix, redis_url  # noqa: F401
from tests.fixtures.s3_server import moto_server, s3_bucket  # noqa: F401
