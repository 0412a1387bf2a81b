from sqlalchemy import text

from zenmail.directory import tenants


def test_both_backends_migrate_and_store(ctx, database):
    tenants.add(ctx, "acme", "1G")
    with database.transaction() as s:
        assert s.execute(text("select count(*) from tenants")).scalar() == 1
    assert database.is_initialised()
