"""Micro-bench of encryption at rest (hospital_shared.field_crypto): the cost per value of
sealing (a fresh nonce under the current data key, drawn and wrapped every DATA_KEY_USES
values), opening, re-wrapping after a key rotation and the phone search hash, for the values
the services seal: an 11-digit phone, a typical call feedback (60 Chinese characters) and the
longest one the API takes (4,000).

    uv run python bench/crypto_micro.py [--out bench/crypto_results.json]

Each figure is the median of 7 rounds of N operations (µs per value), so that this shared
machine's drift shows as spread rather than as the result; min and max are kept too.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import cryptography

from hospital_shared.field_crypto import FieldCipher

OLD = "bench-old:" + base64.b64encode(b"o" * 32).decode()
NEW = "bench-new:" + base64.b64encode(b"n" * 32).decode()
VALUES = {
    "phone (11 digits)": "13800138000",
    "feedback (60 chars)": "护士态度很好，伤口恢复正常，夜间偶有疼痛，希望复诊时多讲解用药注意事项。"
    * 2,
    "objection (4000 chars)": "出院带药数量与医嘱不符" * 400,
}
ROUNDS = 7


def per_op_us(op: Callable[[], object], n: int) -> dict[str, float]:
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(n):
            op()
        rounds.append((time.perf_counter() - start) / n * 1e6)
    return {
        "median_us": round(statistics.median(rounds), 2),
        "min_us": round(min(rounds), 2),
        "max_us": round(max(rounds), 2),
    }


def measure(n: int) -> dict[str, Any]:
    old = FieldCipher.from_settings(OLD, "", "bench-hash-key")
    rotated = FieldCipher.from_settings(NEW, OLD, "bench-hash-key")
    results: dict[str, Any] = {}
    for name, text in VALUES.items():
        sealed = old.seal(text)
        assert sealed is not None
        results[name] = {
            "plain_bytes": len(text.encode()),
            "sealed_chars": len(sealed),
            "seal": per_op_us(partial(old.seal, text), n),
            "open": per_op_us(partial(old.open, sealed), n),
            "rewrap_after_rotation": per_op_us(partial(rotated.rewrap, sealed), n),
        }
    results["phone search hash (HMAC-SHA256)"] = per_op_us(
        lambda: old.search_hash("+8613800138000"), n
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=Path("bench/crypto_results.json"))
    args = parser.parse_args()
    report = {
        "what": "µs per value, median of 7 rounds (min, max)",
        "n_per_round": args.n,
        "python": platform.python_version(),
        "cryptography": cryptography.__version__,
        "machine": platform.machine(),
        # This machine is shared: at a load of 25 on 2 cores every figure is several times
        # what an idle core gives; the HMAC line (about 1 µs idle) is the yardstick.
        "load_average_1_5_15": [round(x, 1) for x in os.getloadavg()],
        "results": measure(args.n),
    }
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
