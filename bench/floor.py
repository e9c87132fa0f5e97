"""The floor: the least any tool must spend on N pages, in a fresh process.

Fetch every page over loopback with one sync `httpx.Client` and parse each with selectolax
lexbor (`LexborHTMLParser(html).css_first('#root').text()`), nothing else. `--threads 1`
fetches and parses sequentially; `--threads K` runs fetch+parse of each page in a pool of K
threads sharing the client. Prints one JSON line with the in-process timings.
"""

from __future__ import annotations

import argparse
import json
import time

t_start = time.perf_counter()

import httpx  # noqa: E402
from selectolax.lexbor import LexborHTMLParser  # noqa: E402

t_imported = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("-n", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    urls = [f"{args.base_url}/p/{i}" for i in range(args.n)]
    fetch_s = parse_s = 0.0
    chars = 0
    size = 0
    t0 = time.perf_counter()
    with httpx.Client(limits=httpx.Limits(max_connections=max(4, args.threads))) as client:
        if args.threads <= 1:
            for url in urls:
                a = time.perf_counter()
                body = client.get(url).content
                b = time.perf_counter()
                text = LexborHTMLParser(body).css_first("#root").text()
                c = time.perf_counter()
                fetch_s += b - a
                parse_s += c - b
                chars += len(text)
                size += len(body)
        else:
            from concurrent.futures import ThreadPoolExecutor

            def one(url: str) -> tuple[int, int]:
                body = client.get(url).content
                return len(body), len(LexborHTMLParser(body).css_first("#root").text())

            with ThreadPoolExecutor(max_workers=args.threads) as pool:
                for n_bytes, n_chars in pool.map(one, urls):
                    size += n_bytes
                    chars += n_chars
    loop_s = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "pages": args.n,
                "threads": args.threads,
                "bytes": size,
                "text_chars": chars,
                "import_s": t_imported - t_start,
                "loop_s": loop_s,
                "fetch_s": fetch_s if args.threads <= 1 else None,
                "parse_s": parse_s if args.threads <= 1 else None,
            }
        )
    )


if __name__ == "__main__":
    main()
