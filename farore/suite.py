"""The benchmark as a pytest test: one parametrized case per run (see farore.pytest_plugin).

``benchmarks/test_benchmark.py`` re-exports this test, and ``farore eval`` runs this file, so
both run the same code.
"""


import pytest


def test_case(farore_outcome):
    if not farore_outcome.passed:
        pytest.fail(farore_outcome.failure_message(), pytrace=False)
