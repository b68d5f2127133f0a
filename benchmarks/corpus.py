"""Recorded chat streams, translated frame by frame: µs per frame for each vendor's shape.

The workload of ``run.py`` is one vendor's layout (OpenAI's, with DeepSeek's reasoning field);
servers write their deltas in other shapes (Groq's ``{"reasoning", "channel"}``, xAI's
``{"reasoning_content"}``, GLM's ``{"role", "reasoning_content"}``), and a shape the decoder's
shortcut does not read is parsed and walked field by field on every frame. This prints what each
recorded stream of ``tests/fixtures/corpus/chat`` (from ``shared/corpus``) costs toward a client,
fastest of ``--repeats`` runs of ``--streams`` translators each (CPU time).

    python benchmarks/corpus.py                          # chat -> messages
    python benchmarks/corpus.py --client responses
    python benchmarks/corpus.py --package /tmp/old       # another checkout's asgi_translate, to compare
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent / "tests" / "fixtures" / "corpus" / "chat"


def frames_of(path: Path) -> list[bytes]:
    raw = path.read_bytes().replace(b"\r\n", b"\n")
    return [frame + b"\n\n" for frame in raw.split(b"\n\n") if frame]


def per_frame(frames: list[bytes], client: str, streams: int, repeats: int) -> float:
    """µs per frame, fastest of ``repeats`` runs of ``streams`` whole streams, one frame per feed."""
    import ours

    best = float("inf")
    for _ in range(repeats):
        translators = [ours.translator("chat", client) for _ in range(streams)]
        gc.collect()
        start = time.process_time_ns()
        for translator in translators:
            for frame in frames:
                translator.feed(frame)
            translator.finish()
        best = min(best, (time.process_time_ns() - start) / streams / len(frames) / 1000)
    return best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--client", default="messages", choices=["messages", "responses"])
    p.add_argument("--streams", type=int, default=50)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--package", help="a directory holding another asgi_translate to measure")
    opts = p.parse_args()
    sys.path[:0] = [*([opts.package] if opts.package else []), str(HERE), str(HERE.parent)]
    import asgi_translate

    print(f"chat -> {opts.client}, asgi_translate from {Path(asgi_translate.__file__).parent}")
    print("\n| recorded stream | frames | µs per frame |\n|---|---|---|")
    for path in sorted(CORPUS.glob("*-stream.sse")):
        frames = frames_of(path)
        print(f"| {path.name} | {len(frames)} | {per_frame(frames, opts.client, opts.streams, opts.repeats):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
