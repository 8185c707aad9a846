"""Streaming display and marker parsing on huge model replies (run by hand; figures in docs/reliability.md).

    python bench/stream.py [--sizes 100000,1000000,5000000]

Feeds each reply to DisplayStream in 24-character chunks (the scripted provider's size; real SDKs send fewer,
bigger chunks) and parses it, printing seconds and characters scanned per character of reply.
"""

from __future__ import annotations

import argparse
import time

from rfpilot.core.engine.markers import parse_reply
from rfpilot.core.engine.streaming import DisplayStream


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000,5000000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    for size in sizes:
        text = ("A sentence of prose, [not a tag] and some `code`.\n" * (size // 50 + 1))[:size]
        text += '\n[QUESTIONS]\n[{"text": "Does it drop on the office network?"}]\n[/QUESTIONS]'
        stream = DisplayStream()
        start = time.perf_counter()
        for at in range(0, len(text), 24):
            stream.feed(text[at : at + 24])
        streamed = time.perf_counter() - start
        start = time.perf_counter()
        parse_reply(text)
        parsed = time.perf_counter() - start
        print(f"{size:>10,} chars: stream {streamed:6.2f} s ({stream.scanned / len(text):.1f} scanned/char), "
              f"parse {parsed:5.2f} s")


if __name__ == "__main__":
    main()
