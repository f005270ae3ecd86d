"""Load test of `aluqa serve`: many users at once on the page's JSON endpoint and on `/v1/chat/completions`.

Starts `aluqa serve` (the real default model and index unless --index is
given) on a free port of 127.0.0.1, waits until it answers, asks every
question once, one at a time (the reference answers), then lets N users (one
`gradio_client.Client` each, in threads) ask Q questions each at the same
time through `/answer`; then the same through `/v1/chat/completions` (one
`openai.OpenAI` client per user). `--routes answer-http` adds the page's
`/answer` over Gradio's plain HTTP API (`urllib`, as `curl` asks it), and
`v1-answer` the one-request `POST /v1/answer` (`urllib`): the
clients share the server's cores, and `gradio_client` spends more of them
per answer than the server's own route does. Reports, per route, errors, the share of
answers identical to the reference, latency percentiles and throughput, and
whether both routes gave the same answers; stops the server it started.

    PYTHONPATH=. python -m bench.load                      # 16 users x 25 questions
    PYTHONPATH=. python -m bench.load --users 4 --questions 5 --json /tmp/load.json

Bounded: loopback only, at most 64 users x 100 questions, and the whole run
stops after --deadline seconds (default 900), each request after 120 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
MAX_USERS, MAX_QUESTIONS = 64, 100
REQUEST_TIMEOUT = 120.0

# 25 questions: direct, paraphrased, traditional, English, unanswerable, and
# inputs that get an error reply (empty, only a number). Each user asks them
# all, starting at a different one, so different questions run at once.
QUESTIONS = (
    "2022年百色市铝产业总产值是多少？",
    "魏桥创业集团三年关停热电厂，停运了多少台机组？",
    "魏桥创业集团关停热电厂、停运机组的总装机容量是多少？",
    "张伟表示滨州铝产业经过多年发展趟出了几条路子？",
    "山东省铝业协会副会长兼秘书长、山东宏桥新型材料有限公司副总经理是谁？",
    "广元市铝产业联盟成立大会上，省经信厅冶金建材处处长是谁？",
    "2020年滨州铝原料就地转化为中高端铝制品的比例达到多少？",
    "魏桥轻量化基地项目总投资多少？",
    "滨州市高端铝产业集群被科技部授予什么称号？",
    "百色电解铝产量约占全国的多少？",
    "把配套产业也算上，百色铝行业2022年一共创造了多少产值？",
    "南海铝加工产业联盟去南宁参加产业转移对接会，是谁带的队？",
    "魏桥生产氧化铝用的是哪种工艺？",
    "广元铝产业联盟希望在西南地区建成一个什么样的基地来推动技术进步？",
    "2016年濱州市鋁行業協會新增了多少家會員？",
    "濱州市鋁產業鏈高質量發展推進會議是哪一天召開的？",
    "魏橋創業集團三年關停了幾個熱電廠？",
    "In which country did Weiqiao Pioneering Group develop a high-grade bauxite mine "
    "with 2.2 billion tonnes of reserves?",
    "By what percentage did Guangyuan's aluminium industry output value grow year on year?",
    "广元经开区正在加快建设的铝产业基地年产能是多少万吨？",
    "百色市2021年铝产业总产值是多少？",
    "魏桥创业集团2022年的营业收入是多少？",
    "What was the average LME aluminium price in 2023?",
    "",
    "2022",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_server(port: int, index: Path | None, log_path: Path, startup_timeout: float) -> subprocess.Popen:
    """Start `aluqa serve` on HOST:port and wait until the page answers."""
    command = [sys.executable, "-m", "qa", "serve", "--host", HOST, "--port", str(port)]
    if index is not None:
        command += ["--index", str(index)]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)}
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
                              start_new_session=True)
    server.log = log
    deadline = time.monotonic() + startup_timeout
    url = f"http://{HOST}:{port}/"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            stop_server(server)
            raise RuntimeError(f"aluqa serve exited with {server.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.5)
    stop_server(server)
    raise RuntimeError(f"aluqa serve did not answer within {startup_timeout:.0f} s; see {log_path}")


def stop_server(server: subprocess.Popen) -> None:
    """Stop the server this script started (its own process group), politely first."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=15)
    server.log.close()


def canonical(reply) -> str:
    """One comparable form of a reply (JSON with sorted keys)."""
    return json.dumps(reply, ensure_ascii=False, sort_keys=True)


def _across_routes(reference: dict[str, str]) -> dict[str, str]:
    """The replies as both routes can give them: without the page's keys for translating an error message
    (`error_code`, `error_params`), which the protocol's error object has no place for."""
    def common(text: str) -> str:
        reply = json.loads(text)
        if isinstance(reply, dict):
            reply = {key: value for key, value in reply.items() if key not in ("error_code", "error_params")}
        return canonical(reply)

    return {question: common(text) for question, text in reference.items()}


def ask(client, question: str) -> tuple[float, object]:
    """One question through the page's `/answer` (gradio_client)."""
    started = time.perf_counter()
    reply = client.submit(question, api_name="/answer").result(timeout=REQUEST_TIMEOUT)
    return time.perf_counter() - started, reply


def ask_v1(client, question: str) -> tuple[float, object]:
    """One question through `/v1/chat/completions` (the openai SDK): the answer's JSON, or the refusal."""
    import openai

    started = time.perf_counter()
    try:
        completion = client.chat.completions.create(model="aluqa", messages=[{"role": "user", "content": question}],
                                                    timeout=REQUEST_TIMEOUT)
        reply = completion.model_extra["aluqa"]
    except openai.BadRequestError as error:
        # An unaskable question: the protocol's 400 is its reply, in the page API's error shape.
        message = error.body.get("message") if isinstance(error.body, dict) else str(error)
        reply = {"question": question, "found": False, "error": message}
    return time.perf_counter() - started, reply


def ask_http(base: str, question: str) -> tuple[float, object]:
    """One question through the page's `/answer` over Gradio's plain HTTP API, as `curl` asks it:
    POST `/gradio_api/call/answer`, then read the event stream until the `complete` event."""
    started = time.perf_counter()
    request = urllib.request.Request(f"{base}gradio_api/call/answer", method="POST",
                                     data=json.dumps({"data": [question]}).encode("utf-8"),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
        event_id = json.loads(response.read())["event_id"]
    event = ""
    with urllib.request.urlopen(f"{base}gradio_api/call/answer/{event_id}", timeout=REQUEST_TIMEOUT) as stream:
        for raw in stream:
            line = raw.decode("utf-8").rstrip("\n")
            if line.startswith("event:"):
                event = line.partition(":")[2].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                data = json.loads(line.partition(":")[2])
                if event == "error":
                    raise RuntimeError(f"the server answered with an error event: {data}")
                return time.perf_counter() - started, data[0]
    raise RuntimeError("the event stream ended without a complete event")


def ask_v1_answer(base: str, question: str) -> tuple[float, object]:
    """One question through `POST /v1/answer` (one plain HTTP request, as `curl` asks it): the answer's JSON,
    or the refusal in the page API's error shape."""
    started = time.perf_counter()
    request = urllib.request.Request(f"{base}v1/answer", method="POST",
                                     data=json.dumps({"question": question}).encode("utf-8"),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
            reply = json.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code != 400:
            raise
        reply = {"question": question, "found": False, "error": json.loads(error.read())["error"]["message"]}
    return time.perf_counter() - started, reply


def _page_client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def _v1_client(url: str):
    from openai import OpenAI

    return OpenAI(base_url=f"{url}v1", api_key="unused", max_retries=0)


ROUTES = {"answer": (_page_client, ask), "answer-http": (lambda url: url, ask_http), "v1": (_v1_client, ask_v1),
          "v1-answer": (lambda url: url, ask_v1_answer)}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * share / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def measure(route: str, url: str, users: int, asked: list[str], stop_at: float) -> dict:
    """One route: every question once, one at a time (the reference), then `users` users at once."""
    make_client, ask_one = ROUTES[route]
    reference_client = make_client(url)
    reference, sequential = {}, []
    for question in dict.fromkeys(asked):
        seconds, reply = ask_one(reference_client, question)
        reference[question] = canonical(reply)
        sequential.append(seconds)

    clients = [make_client(url) for _ in range(users)]
    latencies: list[float] = []
    errors: list[str] = []
    differing: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(users)

    def user(number: int) -> None:
        client = clients[number]
        order = asked[number % len(asked):] + asked[:number % len(asked)]
        barrier.wait(timeout=60)
        for question in order:
            if time.monotonic() > stop_at:
                with lock:
                    errors.append(f"user {number}: deadline reached before {question!r}")
                return
            try:
                seconds, reply = ask_one(client, question)
            except Exception as error:  # noqa: BLE001 - every failure is counted and reported
                with lock:
                    errors.append(f"user {number}: {question!r}: {type(error).__name__}: {error}")
                continue
            with lock:
                latencies.append(seconds)
                if canonical(reply) != reference[question]:
                    differing.append(question)

    wall_start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=users) as pool:
        list(pool.map(user, range(users)))
    wall = time.perf_counter() - wall_start
    answered = len(latencies)
    return {
        "requests": users * len(asked),
        "answered": answered,
        "errors": len(errors),
        "error_examples": errors[:5],
        "identical_to_one_at_a_time": answered - len(differing),
        "identical_share": round((answered - len(differing)) / answered, 4) if answered else 0.0,
        "differing_questions": sorted(set(differing)),
        "latency_p50_s": round(percentile(latencies, 50), 3),
        "latency_p95_s": round(percentile(latencies, 95), 3),
        "latency_max_s": round(max(latencies), 3) if latencies else None,
        "throughput_rps": round(answered / wall, 2) if wall else None,
        "wall_s": round(wall, 1),
        "one_at_a_time_p50_s": round(statistics.median(sequential), 3),
        "one_at_a_time_p95_s": round(percentile(sequential, 95), 3),
        "reference": reference,
    }


def run(users: int, questions: int, index: Path | None, deadline_s: float, startup_timeout: float,
        routes: tuple[str, ...] = ("answer",)) -> dict:
    """Start the server, measure each route in turn on it, stop it. Figures per route, plus the run's."""
    asked = [QUESTIONS[i % len(QUESTIONS)] for i in range(questions)]
    load_at_start = os.getloadavg()[0]  # other work on the machine skews the figures
    port = free_port()
    log_path = Path(tempfile.mkdtemp(prefix="aluqa-load-")) / "serve.log"
    started = time.perf_counter()
    server = start_server(port, index, log_path, startup_timeout)
    startup = time.perf_counter() - started
    stop_at = time.monotonic() + deadline_s
    url = f"http://{HOST}:{port}/"
    try:
        by_route = {route: measure(route, url, users, asked, stop_at) for route in routes}
    finally:
        stop_server(server)
    first = by_route[routes[0]]
    figures = {"users": users, "questions_per_user": len(asked),
               **{key: value for key, value in first.items() if key != "reference"}}
    if len(routes) > 1:
        figures["routes"] = {route: {key: value for key, value in measured.items() if key != "reference"}
                             for route, measured in by_route.items()}
        # The same answer whichever route asked it (the /v1 reply is the answer's JSON, `aluqa ask --json`).
        figures["routes_agree"] = all(_across_routes(measured["reference"]) == _across_routes(first["reference"])
                                      for measured in by_route.values())
    figures.update({"server_startup_s": round(startup, 1), "cpus": os.cpu_count(),
                    "load_average_1m_at_start": round(load_at_start, 2), "server_log": str(log_path)})
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=16, help="concurrent users (default 16)")
    parser.add_argument("--questions", type=int, default=25, help="questions per user (default 25)")
    parser.add_argument("--index", type=Path, default=None, help="index folder (default: the index of seeds/)")
    parser.add_argument("--deadline", type=float, default=900.0, help="stop asking after this many seconds")
    parser.add_argument("--startup-timeout", type=float, default=600.0,
                        help="seconds to wait for the server (the first run builds the model and index)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--routes", default="answer,v1",
                        help="routes measured in turn on the same server: answer (the page's /answer with "
                             "gradio_client), answer-http (the same over plain HTTP, as curl asks it), "
                             "v1 (/v1/chat/completions), v1-answer (POST /v1/answer); default answer and v1")
    args = parser.parse_args(argv)
    routes = tuple(route.strip() for route in args.routes.split(",") if route.strip())
    if not routes or any(route not in ROUTES for route in routes):
        parser.error(f"--routes must name some of: {', '.join(ROUTES)}")
    if not (1 <= args.users <= MAX_USERS and 1 <= args.questions <= MAX_QUESTIONS):
        parser.error(f"--users must be 1..{MAX_USERS} and --questions 1..{MAX_QUESTIONS}")
    figures = run(args.users, args.questions, args.index, args.deadline, args.startup_timeout, routes)
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    measured = figures.get("routes", {routes[0]: figures})
    clean = all(route["errors"] == 0 and route["identical_share"] == 1.0 for route in measured.values())
    return 0 if clean and figures.get("routes_agree", True) else 1


if __name__ == "__main__":
    sys.exit(main())
