"""The pytest plugin: options, fixtures and hooks, each small.

* options (``--model``, ``--prompt-strategy``, ``--cases``, ``--samples``, ...) in one group;
* ``pytest_generate_tests`` parametrizes ``farore_case`` with the loaded cases (id = case id);
* after collection the backend is checked once (the preflight), so a server that is down or a
  model that is missing is one error, also under pytest-xdist, never one failure per case;
* answers come from the response cache (farore.cache) when they can (``--no-cache``, ``--refresh``);
* the ``farore_outcome`` fixture answers and scores a case (answers are generated in batches
  for the whole selection before the first case, with a progress bar);
* each outcome travels in the test report's ``user_properties``, so the controller sees every
  worker's results under pytest-xdist and computes the gate and the report once;
* ``pytest_sessionfinish`` writes the report and sets the exit status from the gate;
  ``pytest_terminal_summary`` prints the table.
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import pytest

from farore.backends import DEFAULT_BATCH_SIZE, DEFAULT_TIMEOUT_S, BackendError, GenerationSettings, resolve_backend
from farore.cache import CacheError, ResponseCache
from farore.cases import Case, CaseFileError, load_cases
from farore.gate import summarize
from farore.prompts import UnknownStrategyError, load_strategy
from farore.report import Report, RunInfo, build_report, render_table, write_report
from farore.resources import default_cases_dir
from farore.runner import CaseOutcome, Runner, SampleOutcome
from farore.scoring import SCORING_MODES

OUTCOME_PROPERTY = "farore_outcome"
PREFLIGHT_ERROR_KEY = "farore_preflight_error"
BACKEND_INFO_KEY = "farore_backend"
#: What a backend, a prompt strategy or the cache raise when this run cannot go ahead at all.
PREFLIGHT_ERRORS = (BackendError, UnknownStrategyError, CacheError)
_STATE = pytest.StashKey["BenchmarkState"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("farore", "farore benchmark")
    group.addoption("--model", default="embedded", help="embedded (default), a checkpoint dir or hf:PATH, NAME:TAG or ollama:NAME, openai:URL#MODEL, scripted:FILE")
    group.addoption("--prompt-strategy", default="enhanced", help="system prompt strategy: none, baseline, enhanced, or a strategy YAML file")
    group.addoption("--cases", action="append", default=None, help="case file or directory (repeatable; default: the built-in benchmark)")
    group.addoption("--samples", type=int, default=1, help="answers per case; more than 1 samples with seeded temperature")
    group.addoption("--scoring", choices=SCORING_MODES, default="whole-term", help="whole-term (default) or legacy (the original script's substring scoring)")
    group.addoption("--report-dir", default=None, help="where report.json and report.md go (default: reports/MODEL-STRATEGY)")
    group.addoption("--max-new-tokens", type=int, default=256, help="answer length limit in tokens")
    group.addoption("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    group.addoption("--top-p", type=float, default=1.0)
    group.addoption("--seed", type=int, default=0, help="base seed; sample i uses seed + i")
    group.addoption(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help=f"prompts per generation batch for local models (default {DEFAULT_BATCH_SIZE})",
    )
    group.addoption("--concurrency", type=int, default=1, help="requests in flight at once to a served model (Ollama, OpenAI-compatible)")
    group.addoption("--ollama-host", default=None, help="Ollama server (default: $OLLAMA_HOST, else http://127.0.0.1:11434)")
    group.addoption("--request-timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds one request to a served model may take")
    group.addoption("--no-cache", action="store_true", help="neither replay nor store answers in the response cache")
    group.addoption("--refresh", action="store_true", help="generate every answer anew and overwrite its cache entry")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def default_report_dir(model: str, strategy: str) -> Path:
    """Where a run's report goes unless --report-dir says otherwise: reports/MODEL-STRATEGY."""
    return Path("reports") / f"{_slug(model)}-{_slug(strategy)}"


class BenchmarkState:
    """What one pytest session knows about the benchmark run."""

    def __init__(self, config: pytest.Config):
        self.config = config
        option = config.option
        self.case_paths = [Path(p) for p in option.cases] if option.cases else [default_cases_dir()]
        self.settings = GenerationSettings(
            max_new_tokens=option.max_new_tokens,
            temperature=option.temperature,
            top_p=option.top_p,
            seed=option.seed,
        )
        self.started = time.time()
        self.outcomes: dict[str, CaseOutcome] = {}
        self.report: Report | None = None
        self.report_paths: tuple[Path, ...] = ()
        self._cases: list[Case] | None = None
        self._runner: Runner | None = None
        #: What the report says about the backend; under xdist the controller learns it from a worker.
        self.backend_info: dict[str, str | None] = {"backend": "unknown"}
        #: Why the backend cannot serve this run (a worker's preflight; shown once by the controller).
        self.preflight_error: str | None = None

    @property
    def cases(self) -> list[Case]:
        if self._cases is None:
            try:
                self._cases = load_cases(self.case_paths)
            except CaseFileError as error:
                pytest.exit(f"farore: {error}", returncode=pytest.ExitCode.USAGE_ERROR)
        return self._cases

    def _build_runner(self) -> Runner:
        """Resolve and check the backend (the one preflight), open the cache, make the runner."""
        option = self.config.option
        strategy = load_strategy(option.prompt_strategy)
        backend = resolve_backend(
            option.model, batch_size=option.batch_size, ollama_host=option.ollama_host, timeout_s=option.request_timeout
        )
        backend.check()
        identity = backend.identity()
        self.backend_info = {"backend": backend.kind, "backend_identity": identity, "system_prompt": strategy.system}
        cache = None if option.no_cache else ResponseCache(identity, backend.model, refresh=option.refresh)
        return Runner(
            backend,
            strategy,
            self.settings,
            samples=option.samples,
            scoring=option.scoring,
            cache=cache,
            concurrency=option.concurrency,
        )

    @property
    def runner(self) -> Runner:
        if self._runner is None:
            try:
                self._runner = self._build_runner()
            except PREFLIGHT_ERRORS as error:
                pytest.exit(f"farore: {error}", returncode=pytest.ExitCode.USAGE_ERROR)
        return self._runner

    def report_dir(self) -> Path:
        option = self.config.option
        if option.report_dir:
            return Path(option.report_dir)
        return default_report_dir(option.model, option.prompt_strategy)

    def run_info(self) -> RunInfo:
        option = self.config.option
        return RunInfo(
            model=option.model,
            **self.backend_info,
            prompt_strategy=option.prompt_strategy,
            scoring=option.scoring,
            samples=option.samples,
            settings=dataclasses.asdict(self.settings),
            cases_source=[str(p) for p in self.case_paths],
            started=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
            wall_time_s=round(time.time() - self.started, 3),
        )

    # Hooks: registered as a plugin object in pytest_configure, so they share this state.

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Named case files are checked before collection, so a bad one is one clean error."""
        if self.config.option.cases:
            try:
                self._cases = load_cases(self.case_paths)
            except CaseFileError as error:
                raise pytest.UsageError(f"farore: {error}") from None

    @pytest.hookimpl(trylast=True)  # after -k / -m have deselected
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
        """The preflight, once, before the first case: a backend that cannot serve is one error.

        Outside xdist that is pytest.exit. An xdist worker cannot exit on its own (the controller
        would report it as crashed), so it deselects the benchmark's cases and leaves the message
        in its workeroutput for the controller to show once.
        """
        benchmark = [item for item in items if _case_of(item) is not None]
        if not benchmark or config.option.collectonly or self._runner is not None:
            return
        try:
            self._runner = self._build_runner()
        except PREFLIGHT_ERRORS as error:
            if not _is_worker(config):
                pytest.exit(f"farore: {error}", returncode=pytest.ExitCode.USAGE_ERROR)
            config.workeroutput[PREFLIGHT_ERROR_KEY] = self.preflight_error = f"farore: {error}"
            items[:] = [item for item in items if _case_of(item) is None]
            config.hook.pytest_deselected(items=benchmark)
            return
        if _is_worker(config):
            config.workeroutput[BACKEND_INFO_KEY] = self.backend_info

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        """xdist controller: a finished worker tells what it served, or why it could not."""
        output = getattr(node, "workeroutput", {})
        self.preflight_error = output.get(PREFLIGHT_ERROR_KEY) or self.preflight_error
        self.backend_info = output.get(BACKEND_INFO_KEY) or self.backend_info

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == OUTCOME_PROPERTY:
                outcome = _outcome_from_dict(value)
                self.outcomes[outcome.case_id] = outcome

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if _is_worker(self.config):
            return
        if self.preflight_error and not self.outcomes:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            return
        if not self.outcomes:
            return
        order = {case.id: index for index, case in enumerate(self.cases)}
        outcomes = sorted(self.outcomes.values(), key=lambda o: order.get(o.case_id, len(order)))
        summary = summarize(outcomes)
        self.report = build_report(self.run_info(), self.cases, outcomes, summary)
        self.report_paths = write_report(self.report, self.report_dir())
        if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            session.exitstatus = pytest.ExitCode.OK if summary.gate.passed else pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.preflight_error and not _is_worker(self.config) and self.report is None:
            terminalreporter.write_sep("=", "farore benchmark")
            terminalreporter.write_line(self.preflight_error, red=True, bold=True)
            return
        if self.report is None:
            return
        terminalreporter.write_sep("=", "farore benchmark")
        terminalreporter.write_line(render_table(self.report))
        for path in self.report_paths:
            terminalreporter.write_line(f"report: {path}")


def pytest_configure(config: pytest.Config) -> None:
    state = BenchmarkState(config)
    config.stash[_STATE] = state
    config.pluginmanager.register(state, "farore-benchmark")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "farore_case" in metafunc.fixturenames:
        cases = metafunc.config.stash[_STATE].cases
        metafunc.parametrize("farore_case", cases, ids=[case.id for case in cases])


def _case_of(item: pytest.Item) -> Case | None:
    return getattr(getattr(item, "callspec", None), "params", {}).get("farore_case")


def _selected_cases(session: pytest.Session) -> list[Case]:
    return [case for case in map(_case_of, session.items) if case is not None]


@pytest.fixture(scope="session")
def farore_runner(request: pytest.FixtureRequest) -> Runner:
    """The session's runner; outside xdist it answers the whole selection up front, in batches."""
    state: BenchmarkState = request.config.stash[_STATE]
    runner = state.runner
    if not _is_worker(request.config):
        capture = request.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled():
            runner.ensure(_selected_cases(request.session))
    return runner


@pytest.fixture
def farore_outcome(farore_case: Case, farore_runner: Runner, request: pytest.FixtureRequest) -> CaseOutcome:
    outcome = farore_runner.outcome(farore_case)
    request.node.user_properties.append((OUTCOME_PROPERTY, dataclasses.asdict(outcome)))
    return outcome


def _outcome_from_dict(data: dict) -> CaseOutcome:
    samples = tuple(
        SampleOutcome(**{**s, **{k: tuple(s[k]) for k in ("found", "missing", "anti_keywords")}}) for s in data["samples"]
    )
    return CaseOutcome(data["case_id"], data["category"], data["threshold"], samples)


