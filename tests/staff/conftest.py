from tests.staff.fixtures import admin, console, viewer  # noqa: F401 - fixtures
