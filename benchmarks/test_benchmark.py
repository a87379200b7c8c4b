"""The farore benchmark: ``pytest benchmarks/ --model MODEL [--prompt-strategy S] ...``.

Every option, fixture and hook lives in the farore pytest plugin (farore.pytest_plugin); the
exit status is the gate, not the count of failed cases.
"""

from farore.suite import test_case  # noqa: F401  (collected here, one test per case)
