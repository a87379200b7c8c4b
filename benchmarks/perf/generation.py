"""Generation speed on the embedded model: what batching and the response cache buy.

    python benchmarks/perf/generation.py [--prompts 8] [--max-new-tokens 64] [--batch-size N] [--skip-full-run]

Prints (measured, never estimated):

1. throughput, greedy, on the first N prompts of the built-in benchmark: one prompt at a time
   vs one batch of N (tokens/s each, their ratio, and whether the answers are identical);
2. the full built-in benchmark, ``pytest benchmarks/ --model embedded``, run twice: cold
   (``--refresh``: every answer generated) and warm (every answer replayed from the cache);
   wall time of each and their ratio; ``--batch-size`` is passed on (default: the plugin's).

Not a test: it takes minutes, and its numbers depend on the machine. The full runs write their
reports under a temporary directory and refresh this machine's cache entries for the embedded
model (``$FARORE_HOME/cache``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from farore.backends import GenerationSettings, resolve_backend
from farore.cases import load_cases
from farore.prompts import load_strategy
from farore.resources import default_cases_dir

BENCHMARKS = Path(__file__).resolve().parents[1]


def throughput(prompts: int, max_new_tokens: int) -> None:
    strategy = load_strategy("enhanced")
    conversations = [strategy.messages(case.prompt) for case in load_cases(default_cases_dir())[:prompts]]
    backend = resolve_backend("embedded", batch_size=len(conversations))
    settings = GenerationSettings(max_new_tokens=max_new_tokens)
    backend.generate(conversations[:1], GenerationSettings(max_new_tokens=4))  # load and warm up, untimed

    started = time.perf_counter()
    sequential = [backend.generate([conversation], settings)[0] for conversation in conversations]
    sequential_s = time.perf_counter() - started
    started = time.perf_counter()
    batched = backend.generate(conversations, settings)
    batched_s = time.perf_counter() - started

    def rate(answers, seconds: float) -> tuple[float, int]:
        tokens = sum(a.completion_tokens or 0 for a in answers)
        return tokens / seconds, tokens

    sequential_rate, sequential_tokens = rate(sequential, sequential_s)
    batched_rate, batched_tokens = rate(batched, batched_s)
    identical = [a.text for a in sequential] == [a.text for a in batched]
    print(f"throughput: embedded model, {len(conversations)} benchmark prompts, greedy, max_new_tokens {max_new_tokens}")
    print(f"  one at a time : {sequential_rate:6.1f} tok/s ({sequential_tokens} tokens in {sequential_s:.1f} s)")
    print(f"  one batch of {len(conversations)}: {batched_rate:6.1f} tok/s ({batched_tokens} tokens in {batched_s:.1f} s)")
    print(f"  ratio         : {batched_rate / sequential_rate:.2f}x; answers identical: {'yes' if identical else 'NO'}")


def benchmark_run(report_dir: Path, *extra: str) -> tuple[float, dict]:
    command = [sys.executable, "-m", "pytest", str(BENCHMARKS), "--model", "embedded", "-q", "-p", "no:cacheprovider"]
    started = time.perf_counter()
    subprocess.run([*command, "--report-dir", str(report_dir), *extra], stdout=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - started
    return elapsed, json.loads((report_dir / "report.json").read_text())["summary"]


def full_runs(batch_size: int | None) -> None:
    extra = ["--batch-size", str(batch_size)] if batch_size else []
    with tempfile.TemporaryDirectory(prefix="farore-perf-") as scratch:
        cold_s, cold = benchmark_run(Path(scratch) / "cold", "--refresh", *extra)
        warm_s, warm = benchmark_run(Path(scratch) / "warm", *extra)
    cases = sum(c["cases"] for c in cold["categories"])
    command = " ".join(["pytest benchmarks/ --model embedded", *extra])
    print(f"full benchmark: {command} ({cases} cases, max_new_tokens 256), wall time")
    print(f"  cold (--refresh): {cold_s:6.1f} s ({cold['cached_answers']} answers from the cache, overall {cold['overall']:.1%})")
    print(f"  warm (cache)    : {warm_s:6.1f} s ({warm['cached_answers']} answers from the cache, overall {warm['overall']:.1%})")
    print(f"  ratio           : {cold_s / warm_s:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=8, help="prompts for the throughput comparison (one batch)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="answer length for the throughput comparison")
    parser.add_argument("--batch-size", type=int, help="--batch-size for the full runs (default: the plugin's)")
    parser.add_argument("--skip-full-run", action="store_true", help="only the throughput comparison")
    args = parser.parse_args()
    throughput(args.prompts, args.max_new_tokens)
    if not args.skip_full_run:
        full_runs(args.batch_size)


if __name__ == "__main__":
    main()
