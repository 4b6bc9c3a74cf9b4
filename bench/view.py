"""Figures for `linctl view` (a separate script from figures.py):

A. update latency: from a `linctl train-step` saving the state file (its mtime) to the open page in
   headless Chromium having drawn the new state (Date.now() after its render); median of 20; target <= 0.3 s.
B. the server's memory with a 784-256-10 network open in the page: peak resident set of the server process,
   beside a plain Python that imports the same web stack and numpy; and the bytes of the page's data.
C. start-up: from starting `linctl view` to the first byte of its page, against `linctl --help` plus
   `python -c "import torch"`; median of 5; target <= 1.5x.

    python bench/view.py [--quick]     (needs the view extra, selenium, chromium and chromedriver)
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def linctl(*args: str) -> list[str]:
    return [sys.executable, "-m", "linctl", *args]


def run(*args: str) -> None:
    subprocess.run(linctl(*args), check=True, capture_output=True)


def start(state: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(linctl("view", "--json", "--state", str(state)), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())["url"]


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,1400"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)


def rendered(driver, head: int, timeout: float = 10.0) -> float:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        shown = driver.execute_script("return [document.body.dataset.head, document.body.dataset.renderedAt]")
        if shown[0] == str(head):
            return int(shown[1]) / 1000
        time.sleep(0.005)
    raise TimeoutError(f"the page did not show entry {head} within {timeout} s")


def figure_a(work: Path, driver, repeats: int) -> dict:
    state = work / "a.safetensors"
    run(
        "inspect",
        "2",
        "3",
        "1",
        "--seed",
        "2",
        "--activation",
        "tanh",
        "--activation",
        "sigmoid",
        "--state",
        str(state),
    )
    run("train-step", "--lr", "0.1", "--state", str(state))
    proc, url = start(state)
    try:
        driver.get(url)
        head = 2
        rendered(driver, head)
        latencies = []
        for _ in range(repeats):
            run("train-step", "--state", str(state))
            saved = state.stat().st_mtime_ns / 1e9
            head += 1
            latencies.append(rendered(driver, head) - saved)
    finally:
        proc.terminate()
        proc.wait(10)
    median = statistics.median(latencies)
    return {
        "figure": "A update latency (s)",
        "linctl": round(median, 3),
        "max": round(max(latencies), 3),
        "target": "<= 0.3",
        "pass": median <= 0.3,
    }


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def figure_b(work: Path, driver) -> dict:
    state = work / "b.safetensors"
    run(
        "inspect",
        "784",
        "256",
        "10",
        "--seed",
        "0",
        "--activation",
        "relu",
        "--activation",
        "none",
        "--state",
        str(state),
    )
    run(
        "train-step", "--x", ",".join(["0.5"] * 784), "--t", ",".join(["0"] * 10), "--lr", "0.01", "--state", str(state)
    )
    proc, url = start(state)
    try:
        driver.get(url)
        rendered(driver, 2)
        size = len(urllib.request.urlopen(url.replace("/?", "/api/state?")).read())
        server = peak_kib(proc.pid) / 1024
    finally:
        proc.terminate()
        proc.wait(10)
    script = "import numpy, safetensors.numpy, starlette.applications, uvicorn, watchfiles, orjson, resource;"
    script += "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    plain = int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True).stdout) / 1024
    return {
        "figure": "B server memory, 784-256-10 open (MiB)",
        "linctl": round(server, 1),
        "reference": round(plain, 1),
        "ratio": round(server / plain, 2),
        "page data bytes": size,
        "state bytes": state.stat().st_size,
    }


def first_byte(state: Path) -> float:
    began = time.perf_counter()
    proc, url = start(state)
    try:
        with urllib.request.urlopen(url) as response:
            response.read(1)
        return time.perf_counter() - began
    finally:
        proc.terminate()
        proc.wait(10)


def wall(cmd: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - began


def figure_c(work: Path, repeats: int) -> dict:
    state = work / "c.safetensors"
    run("inspect", "2", "3", "1", "--seed", "0", "--state", str(state))
    view, help_, torch_ = [], [], []
    for _ in range(repeats):
        view.append(first_byte(state))
        help_.append(wall(linctl("--help")))
        torch_.append(wall([sys.executable, "-c", "import torch"]))
    a, b, c = statistics.median(view), statistics.median(help_), statistics.median(torch_)
    return {
        "figure": "C start-up to first byte (s)",
        "linctl": round(a, 3),
        "reference": round(b + c, 3),
        "--help": round(b, 3),
        "import torch": round(c, 3),
        "ratio": round(a / (b + c), 2),
        "target": "<= 1.5x",
        "pass": a <= 1.5 * (b + c),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 updates and 3 start-ups instead of 20 and 5")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "linctl")], check=False)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        driver = browser()
        try:
            rows = [figure_a(work, driver, 5 if args.quick else 20), figure_b(work, driver)]
        finally:
            driver.quit()
        rows.append(figure_c(work, 3 if args.quick else 5))
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
