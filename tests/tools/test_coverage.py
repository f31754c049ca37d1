"""Every tool of the catalog is driven end to end by some test (declared with `covers`)."""

import tests.tools.test_domain
import tests.tools.test_egress
import tests.tools.test_generated
import tests.tools.test_governance  # noqa: F401 - importing registers what they cover
from tests.tools.support import COVERED
from tools.toolset import FULL_SCHEMA, catalog


def test_every_tool_has_an_end_to_end_test() -> None:
    names = {t["name"] for t in catalog(FULL_SCHEMA)}
    assert names - COVERED == set(), "tools without an end-to-end test"
    assert COVERED - names == set(), "tests cover tools that do not exist"
