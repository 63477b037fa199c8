"""The dashboard's own cost: the page's weight and time to first render, and how fast the admin
API answers (docs/performance.md, "Dashboard").

Starts the real gateway (``localrouter serve``) on a copy of ``configs/demo.yaml`` on a free
loopback port, sends some traffic through it, then:

- times each admin API call the pages make (sequential, keep-alive, N calls each: median, p95,
  max), and the two that compile (a strategy edit's preview, explain on edited files);
- loads the page in headless Chromium (Debian's, driven by Playwright): the bytes transferred
  for the page and every file it loads, the first contentful paint of the sign-in page, and the
  time from pressing "Sign in" to the Home page's charts drawn.

    .venv/bin/python bench/dashboard_bench.py [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
ADMIN_KEY = "lr-eN2fWr4w7fJDVYN13YsRz8bu7bhmCyNiKUbAHv6rYPs"  # configs/demo.yaml's demo admin
DEMO_KEY = "lr-sZ2uI4TNR_tpdMDX-EiEieiVgSx_8Jt6j3-cYZWYFUs"
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "Hello there"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    text = (ROOT / "configs" / "demo.yaml").read_text().replace("port: 3625", f"port: {port}")
    config = workdir / "routers.yaml"
    config.write_text(text)
    exe = Path(sys.executable).parent / "localrouter"
    proc = subprocess.Popen(
        [str(exe), "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=workdir,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("the gateway did not start")


def timed(client: httpx.Client, method: str, path: str, body: object, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.request(method, path, json=body)
        out.append((time.perf_counter() - t) * 1000)
        if r.status_code >= 400:
            raise SystemExit(f"{method} {path}: {r.status_code} {r.text[:200]}")
    return out


def row(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"| {name} | {statistics.median(ms):.2f} | {p95:.2f} | {ms[-1]:.2f} | {len(ms)} |"


def admin_api(url: str, n: int) -> None:
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
        for _ in range(5):  # warm: first imports, first reads
            c.get("/admin/api/config")
        print("| call | median ms | p95 ms | max ms | calls |\n|---|---|---|---|---|")
        gets = [
            "/admin/api/config",
            "/admin/api/clients",
            "/admin/api/strategies",
            "/admin/api/providers",
            "/admin/api/mcp",
            "/v1/usage?range=1h",
            "/v1/usage?range=24h&by=client",
        ]
        for path in gets:
            print(row(f"GET {path}", timed(c, "GET", path, None, n)))
        ask = {"strategy": "smart", "request": CHAT}
        print(row("POST /admin/api/explain", timed(c, "POST", "/admin/api/explain", ask, n)))
        edit = {"order": ["highest_quality"]}
        k = max(10, n // 10)
        path = "/admin/api/strategies/smart/edit"
        print(row(f"POST {path} (compiles)", timed(c, "POST", path, edit, k)))
        files = c.post(path, json=edit).json()["files"]
        on_edit = {**ask, "files": files}
        print(row("POST /admin/api/explain on edited files (compiles)",
                  timed(c, "POST", "/admin/api/explain", on_edit, k)))  # fmt: skip


async def page(url: str, runs: int) -> None:
    from playwright.async_api import async_playwright

    chromium = os.environ.get("LOCALROUTER_CHROMIUM") or shutil.which("chromium") or ""
    args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update"]  # fmt: skip
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=args)
        fcps, homes, firsts, sizes = [], [], [], {}
        for _ in range(runs):
            context = await browser.new_context(viewport={"width": 1280, "height": 860})
            pg = await context.new_page()
            client = await context.new_cdp_session(pg)
            await client.send("Network.enable")
            got: dict[str, int] = {}
            urls: dict[str, str] = {}

            def on_response(event: dict[str, object], urls: dict[str, str] = urls) -> None:
                urls[str(event["requestId"])] = str(event["response"]["url"])  # type: ignore[index]

            def on_done(event: dict[str, object], urls: dict[str, str] = urls,
                        got: dict[str, int] = got) -> None:  # fmt: skip
                rid = str(event["requestId"])
                got[urls.get(rid, rid)] = int(event["encodedDataLength"])  # type: ignore[arg-type]

            client.on("Network.responseReceived", on_response)
            client.on("Network.loadingFinished", on_done)
            await pg.goto(url + "/")
            await pg.wait_for_selector("#admin-key")
            fcp = await pg.evaluate(
                "performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1"
            )
            fcps.append(float(fcp))
            first = sum(n for u, n in got.items() if "/admin/api/" not in u)
            await pg.fill("#admin-key", ADMIN_KEY)
            t = time.perf_counter()
            await pg.press("#admin-key", "Enter")
            await pg.wait_for_selector(".uplot canvas", timeout=15000)
            homes.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.5)  # the last responses' loadingFinished events
            sizes = {u: n for u, n in got.items() if "/admin/api/" not in u and "/v1/" not in u}
            firsts.append(first)
            await context.close()
        await browser.close()
    total = sum(sizes.values())
    print(f"\npage files to Home ({len(sizes)}), bytes transferred (gzip, headers included):")
    for u, n in sorted(sizes.items(), key=lambda kv: -kv[1]):
        print(f"  {n:>8}  {u.replace(url, '')}")
    print(f"  {total:>8}  total (the sign-in page alone: {statistics.median(firsts):.0f})")
    print(f"first contentful paint of the sign-in page: median {statistics.median(fcps):.0f} ms "
          f"(runs: {', '.join(f'{x:.0f}' for x in fcps)})")  # fmt: skip
    print(f"sign-in to Home's charts drawn: median {statistics.median(homes):.0f} ms "
          f"(runs: {', '.join(f'{x:.0f}' for x in homes)})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--page-runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start(Path(tmp))
        try:
            with httpx.Client(base_url=url, timeout=30) as c:
                for _ in range(200):
                    c.post("/v1/chat/completions", json=CHAT,
                           headers={"authorization": f"Bearer {DEMO_KEY}"})  # fmt: skip
            admin_api(url, args.calls)
            asyncio.run(page(url, args.page_runs))
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
